package session_test

import (
	"fmt"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// A sweeper decides from a loaded state whether a disconnected session has
// expired. [MQTT-3.1.2-23]
func ExampleState_ExpiredAt() {
	off := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := &session.State{ExpiryInterval: 60, DisconnectedAt: off}

	deadline, ok := st.ExpiresAt()
	fmt.Println(deadline.Format(time.TimeOnly), ok)
	fmt.Println(st.ExpiredAt(off.Add(59*time.Second)), st.ExpiredAt(off.Add(60*time.Second)))

	st.ExpiryInterval = session.NeverExpire
	_, ok = st.ExpiresAt()
	fmt.Println(ok, st.ExpiredAt(off.Add(100*365*24*time.Hour)))

	st.Connected = true
	st.ExpiryInterval = 0
	fmt.Println(st.ExpiredAt(off.Add(time.Hour)))
	// Output:
	// 12:01:00 true
	// false true
	// false false
	// false
}
