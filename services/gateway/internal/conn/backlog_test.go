package conn

import (
	"strconv"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// TestBacklogHoldsPublishers: a fast QoS 1 publisher and subscribers that
// take one message at a time (Receive Maximum 1) and far fewer than the
// publisher sends: the publisher is held back while a subscriber's pending
// list is past half its bound, so no subscriber overflows it and is
// disconnected, and every message reaches every subscriber, in order
// (back-pressure, never loss, for QoS 1). The publisher's window (16) is
// what may still arrive after the hold starts, so it stays well under
// the pending bound (256).
func TestBacklogHoldsPublishers(t *testing.T) {
	g := startPipeGateway(t, func(e *Env) { e.Limits.MaxPending = 256 })
	const subs, n = 4, 1500
	waits := make([]func() []string, subs)
	for i := range subs {
		s := dialPipeRM(t, g, "slow-"+strconv.Itoa(i), 1)
		s.subscribe("b/#", 1)
		waits[i] = s.collect(n)
	}
	pub := dialPipe(t, g, mqtt.V5, "fast")
	acks, _ := pub.publishAll("b/1", 1, n, 16, 0)
	if len(acks) != n {
		t.Fatalf("publisher got %d acknowledgements for %d publishes", len(acks), n)
	}
	for i, wait := range waits {
		got := wait()
		if len(got) != n {
			t.Fatalf("subscriber %d got %d of %d messages", i, len(got), n)
		}
		for j, p := range got {
			if p != strconv.Itoa(j) {
				t.Fatalf("subscriber %d: message %d is %q, want every message in order", i, j, p)
			}
		}
	}
}

// dialPipeRM is dialPipe for an MQTT 5 client with a Receive Maximum.
func dialPipeRM(tb testing.TB, g *pipeGateway, clientID string, rm uint16) *pipeClient {
	tb.Helper()
	c := dialRaw(tb, g, mqtt.V5)
	c.send(&mqtt.Connect{Version: mqtt.V5, ProtocolName: "MQTT", ClientID: clientID, CleanStart: true, KeepAlive: 60,
		Properties: mqtt.Properties{ReceiveMaximum: rm}})
	if p, err := c.read(); err != nil || p.(*mqtt.Connack).ReasonCode != mqtt.Success {
		tb.Fatalf("CONNACK %v, %v", p, err)
	}
	return c
}
