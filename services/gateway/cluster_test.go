package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/services/gateway"
)

func TestMessagesCrossGateways(t *testing.T) {
	gws := startGateways(t, 2)
	sub := connectClient(t, gws[1], mqtt.V5, "sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "x/#", QoS: 2})
	pub := connectClient(t, gws[0], mqtt.V311, "pub", true)
	for qos := mqtt.QoS(0); qos <= 2; qos++ {
		pub.publish(&mqtt.Publish{Topic: "x/y", QoS: qos, PacketID: 1, Payload: []byte(fmt.Sprint(qos))})
		if got := sub.expectPublish(); string(got.Payload) != fmt.Sprint(qos) || got.QoS != qos {
			t.Fatalf("got %v, want QoS %d", got, qos)
		}
	}
}

func TestTakeoverAcrossGateways(t *testing.T) {
	gws := startGateways(t, 2)
	first := connectClient(t, gws[0], mqtt.V5, "roamer", false, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true
	})
	first.subscribe(1, mqtt.Subscription{Filter: "roam/#", QoS: 1})

	second := dial(t, gws[1].addr, mqtt.V5)
	ack := second.connect(&mqtt.Connect{ClientID: "roamer", KeepAlive: 60,
		Properties: mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}})
	if ack.ReasonCode != mqtt.Success || !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want success with the session present", ack)
	}
	// [MQTT-3.1.4-3] the other gateway closed the old connection with 0x8E.
	pkts := first.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.SessionTakenOver {
		t.Fatalf("old connection got %v, want DISCONNECT 0x8E", pkts)
	}
	// The subscription moved with the session.
	pub := connectClient(t, gws[0], mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "roam/here", QoS: 1, PacketID: 1, Payload: []byte("found you")})
	if got := second.expectPublish(); string(got.Payload) != "found you" {
		t.Fatalf("got %q", got.Payload)
	}
}

func TestPersistentSessionMovesBetweenGatewaysWithRedis(t *testing.T) {
	rs := redistest.Start(t)
	gws := startGatewaysWith(t, 2, redisstore.New(rs.Client(t), redisstore.Options{}))
	expiry := mqtt.Properties{SessionExpiry: 600, SessionExpirySet: true}
	sub := connectClient(t, gws[0], mqtt.V5, "traveller", false, func(c *mqtt.Connect) { c.Properties = expiry })
	sub.subscribe(1, mqtt.Subscription{Filter: "trip/#", QoS: 1})
	sub.send(&mqtt.Disconnect{})
	sub.expectClosed()

	pub := connectClient(t, gws[0], mqtt.V311, "pub", true)
	for i := range 3 {
		pub.publish(&mqtt.Publish{Topic: "trip/leg", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// The client comes back through the other gateway: the session (in
	// Redis) and the stream position travel with it.
	sub = dial(t, gws[1].addr, mqtt.V5)
	if ack := sub.connect(&mqtt.Connect{ClientID: "traveller", KeepAlive: 60, Properties: expiry}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	for i := range 3 {
		if got := sub.expectPublish(); string(got.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, got.Payload)
		}
	}
}

// TestWillOfConnectionOnDeadGateway: the session store says client
// "orphan" is connected on gateway gw-dead, which no longer answers. When
// the client connects again, the new gateway publishes the will of that
// lost connection [MQTT-3.1.2-8]; a delayed will of a resumed session stays
// unsent.
func TestWillOfConnectionOnDeadGateway(t *testing.T) {
	store := memstore.New()
	g := startGatewaysWith(t, 1, store)[0]
	sub := connectClient(t, g, mqtt.V5, "watcher", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})

	ctx := context.Background()
	for _, tc := range []struct {
		client    string
		delay     uint32
		clean     bool
		published bool
	}{
		{"orphan", 0, false, true},
		{"orphan-delayed", 60, false, false},
		{"orphan-delayed-clean", 60, true, true},
	} {
		key := session.Key{Tenant: "acme", ClientID: tc.client}
		cl, err := store.Claim(ctx, key, "gw-dead", 5, true, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetExpiry(ctx, key, cl.Epoch, 3600); err != nil {
			t.Fatal(err)
		}
		will := &session.Will{Topic: "wills/" + tc.client, Payload: []byte("gone"), QoS: 1, Delay: tc.delay}
		if err := store.SetWill(ctx, key, cl.Epoch, will); err != nil {
			t.Fatal(err)
		}
		connectClient(t, g, mqtt.V5, tc.client, tc.clean)
		if tc.published {
			if got := sub.expectPublish(); got.Topic != "wills/"+tc.client || string(got.Payload) != "gone" {
				t.Fatalf("%s: got %v, want its will", tc.client, got)
			}
		}
	}
	// Nothing else arrived: the delayed will of the resumed session stayed unsent.
	if p, err := sub.readErr(300 * time.Millisecond); err == nil {
		t.Fatalf("unexpected packet %v", p)
	}
}

// TestQoS0DeliveredOnceEverywhere: a QoS 0 publish reaches subscribers on
// the publisher's gateway (in process) and on another gateway (through
// NATS) exactly once each, in order, with local delivery on or off
// (docs/adr/0006); a v3.1.1 and a v5 subscriber on one gateway each get
// their own encoding of the shared packet.
func TestQoS0DeliveredOnceEverywhere(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disable_local_delivery=%v", disable), func(t *testing.T) {
			gws := startGateways(t, 2, func(c *gateway.Config) { c.DisableLocalDelivery = disable })
			here5 := connectClient(t, gws[0], mqtt.V5, "here5", true)
			here5.subscribe(1, mqtt.Subscription{Filter: "x/#"}, mqtt.Subscription{Filter: "x/+"})
			here4 := connectClient(t, gws[0], mqtt.V311, "here4", true)
			here4.subscribe(1, mqtt.Subscription{Filter: "x/#"})
			there := connectClient(t, gws[1], mqtt.V5, "there", true)
			there.subscribe(1, mqtt.Subscription{Filter: "x/#"})
			pub := connectClient(t, gws[0], mqtt.V5, "pub", true)
			const n = 50
			for i := range n {
				pub.publish(&mqtt.Publish{Topic: "x/y", Payload: []byte(fmt.Sprint(i))})
			}
			pub.publish(&mqtt.Publish{Topic: "x/end", Payload: []byte("end")})
			for _, c := range []*client{here5, here4, there} {
				for i := range n {
					if got := c.expectPublish(); string(got.Payload) != fmt.Sprint(i) || got.Topic != "x/y" {
						t.Fatalf("message %d = %v, want payload %d on x/y, each once and in order", i, got, i)
					}
				}
				if got := c.expectPublish(); string(got.Payload) != "end" {
					t.Fatalf("got %v, want the end marker (no duplicate)", got)
				}
			}
		})
	}
}
