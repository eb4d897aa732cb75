package session_test

import (
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// [MQTT-3.1.3-9] A will is due after its delay, or when the session ends,
// whichever is first; WillDueAt covers the first case only.
func TestWillDueAt(t *testing.T) {
	d := time.UnixMilli(1_767_225_600_000)
	for _, tc := range []struct {
		name      string
		st        session.State
		wantOK    bool
		wantDue   time.Duration // after d
		takeable  time.Duration // WillTakeableAt is false just before d+takeable, true from it
		neverTake bool
	}{
		{name: "delay before the end", st: session.State{ExpiryInterval: 60, Will: &session.Will{Delay: 10}},
			wantOK: true, wantDue: 10 * time.Second, takeable: 10 * time.Second},
		{name: "never expires", st: session.State{ExpiryInterval: session.NeverExpire, Will: &session.Will{Delay: 10}},
			wantOK: true, wantDue: 10 * time.Second, takeable: 10 * time.Second},
		{name: "no delay", st: session.State{ExpiryInterval: 60, Will: &session.Will{}},
			wantOK: true, takeable: 0},
		{name: "ends with the delay", st: session.State{ExpiryInterval: 10, Will: &session.Will{Delay: 10}},
			takeable: 10 * time.Second},
		{name: "ends first", st: session.State{ExpiryInterval: 5, Will: &session.Will{Delay: 10}},
			takeable: 5 * time.Second},
		{name: "no will", st: session.State{ExpiryInterval: 60}, neverTake: true},
		{name: "connected", st: session.State{Connected: true, ExpiryInterval: 60, Will: &session.Will{Delay: 10}}, neverTake: true},
	} {
		st := tc.st
		if !st.Connected {
			st.DisconnectedAt = d
		}
		due, ok := st.WillDueAt()
		if ok != tc.wantOK || (ok && !due.Equal(d.Add(tc.wantDue))) {
			t.Errorf("%s: WillDueAt() = %v, %v; want d+%v, %v", tc.name, due.Sub(d), ok, tc.wantDue, tc.wantOK)
		}
		if tc.neverTake {
			if st.WillTakeableAt(d.Add(1000 * time.Hour)) {
				t.Errorf("%s: WillTakeableAt(later) = true, want false", tc.name)
			}
			continue
		}
		if st.WillTakeableAt(d.Add(tc.takeable-time.Millisecond)) || !st.WillTakeableAt(d.Add(tc.takeable)) {
			t.Errorf("%s: WillTakeableAt is not true exactly from d+%v", tc.name, tc.takeable)
		}
	}
}
