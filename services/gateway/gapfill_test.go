package gateway_test

import (
	"strconv"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/services/gateway"
)

// TestCleanSessionGetsQoS1MessagesNATSDropped: a clean-session subscriber
// that stays connected gets every QoS 1 message of a burst once, in order
// [MQTT-4.6.0-5], although NATS drops most of the republished copies for
// the gateway's subscription (its buffer holds two messages here): the
// gateway reads them back from the tenant's stream.
func TestCleanSessionGetsQoS1MessagesNATSDropped(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) { c.Bridge.SubscriberPendingLimit = 2 })
	sub := connectClient(t, g, mqtt.V5, "gf-sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "gf/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "gf-pub", true)
	const burst = 300
	next := 0
	for round := 0; ; round++ {
		// Every PUBLISH of the burst in one write, then their PUBACKs.
		var b []byte
		for i := range burst {
			var err error
			b, err = mqtt.Append(b, &mqtt.Publish{Topic: "gf/1", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(strconv.Itoa(next + i))}, mqtt.V5)
			if err != nil {
				t.Fatal(err)
			}
		}
		pub.write(b)
		for range burst {
			pub.expectType(mqtt.PUBACK)
		}
		for i := range burst {
			if p := sub.expectPublish(); string(p.Payload) != strconv.Itoa(next+i) || p.QoS != 1 {
				t.Fatalf("message %d: got %q at QoS %d, want %d at QoS 1", next+i, p.Payload, p.QoS, next+i)
			}
		}
		next += burst
		if logContains(g, "were read back from the tenant's stream") == nil {
			break
		}
		if round == 9 {
			t.Fatalf("NATS dropped nothing in %d bursts of %d: the test provokes no gap", round+1, burst)
		}
	}
	// No copy follows: the next packet answers the PINGREQ.
	sub.ping()
	if err := logContains(g, "could not all be read back"); err == nil {
		t.Error("the gateway failed to recover some dropped messages")
	}
}
