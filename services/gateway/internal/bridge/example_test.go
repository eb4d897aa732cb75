package bridge_test

import (
	"fmt"
	"time"

	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

func ExampleEncodeMessage() {
	m := &bridge.Message{
		Topic:       "sensors/7/temp",
		Payload:     []byte("21.5"),
		QoS:         1,
		Origin:      "sensor-7",
		PublishedAt: time.Unix(1_700_000_000, 0),
	}
	env := bridge.EncodeMessage(nil, m)
	var got bridge.Message
	if err := bridge.DecodeMessage(env, &got); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("version %d, %d bytes: %s %q from %s at QoS %d\n", env[0], len(env), got.Topic, got.Payload, got.Origin, got.QoS)
	// Output: version 1, 39 bytes: sensors/7/temp "21.5" from sensor-7 at QoS 1
}
