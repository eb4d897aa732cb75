package mqtttest

import (
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// Encode encodes the packets for v into one byte stream, as a client or
// server would write them, and fails tb if one cannot be encoded.
func Encode(tb testing.TB, v mqtt.Version, packets ...mqtt.Packet) []byte {
	tb.Helper()
	var b []byte
	for _, p := range packets {
		var err error
		if b, err = mqtt.Append(b, p, v); err != nil {
			tb.Fatalf("mqtttest: encode %v for MQTT %v: %v", p, v, err)
		}
	}
	return b
}
