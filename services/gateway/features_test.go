package gateway_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/services/gateway"
)

func TestSharedSubscription(t *testing.T) {
	g := startGateway(t)
	a := connectClient(t, g, mqtt.V5, "member-a", true)
	b := connectClient(t, g, mqtt.V5, "member-b", true)
	a.subscribe(1, mqtt.Subscription{Filter: "$share/workers/jobs/#", QoS: 1})
	b.subscribe(1, mqtt.Subscription{Filter: "$share/workers/jobs/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	for i := range 4 {
		pub.publish(&mqtt.Publish{Topic: "jobs/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// [MQTT-4.8.2-3] each message to one member: round-robin, two each.
	got := map[string]bool{}
	for _, c := range []*client{a, b} {
		for range 2 {
			got[string(c.expectPublish().Payload)] = true
		}
	}
	if len(got) != 4 {
		t.Fatalf("members got %v, want four distinct messages", got)
	}
}

func TestNoLocalOnSharedSubscriptionIsProtocolError(t *testing.T) {
	g := startGateway(t)
	c := connectClient(t, g, mqtt.V5, "c", true)
	// The encoder refuses this packet, so it is written by hand: packet id
	// 1, no properties, "$share/g/t" with No Local (0x04).
	c.write(append([]byte{0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0a}, append([]byte("$share/g/t"), 0x04)...))
	// [MQTT-3.8.3-4]
	pkts := c.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ProtocolError {
		t.Fatalf("got %v, want DISCONNECT 0x82", pkts)
	}
}

func TestSubscribeInvalidFilter(t *testing.T) {
	g := startGateway(t)
	for _, ver := range versions {
		c := connectClient(t, g, ver.v, "c-"+ver.name, true)
		sa := c.subscribe(1, mqtt.Subscription{Filter: "a/#/b"}, mqtt.Subscription{Filter: "ok/+", QoS: 1})
		// v5: 0x8F; 3.1.1: 0x80 (the encoder maps every failure to it).
		if len(sa.ReasonCodes) != 2 || !sa.ReasonCodes[0].IsFailure() || sa.ReasonCodes[1] != mqtt.GrantedQoS1 {
			t.Fatalf("%s: SUBACK %v, want [failure, granted QoS 1]", ver.name, sa.ReasonCodes)
		}
	}
}

func TestUnsubscribe(t *testing.T) {
	g := startGateway(t)
	c := connectClient(t, g, mqtt.V5, "c", true)
	c.subscribe(1, mqtt.Subscription{Filter: "u/a"}, mqtt.Subscription{Filter: "u/b"})
	c.send(&mqtt.Unsubscribe{PacketID: 2, Filters: []string{"u/a", "u/none"}})
	ua := c.expectType(mqtt.UNSUBACK).(*mqtt.Unsuback)
	// [MQTT-3.11.3-1] one reason code per filter.
	if len(ua.ReasonCodes) != 2 || ua.ReasonCodes[0] != mqtt.Success || ua.ReasonCodes[1] != mqtt.NoSubscriptionExisted {
		t.Fatalf("UNSUBACK %v, want [success, no subscription existed]", ua.ReasonCodes)
	}
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "u/a", Payload: []byte("gone")})
	pub.publish(&mqtt.Publish{Topic: "u/b", Payload: []byte("kept")})
	if got := c.expectPublish(); string(got.Payload) != "kept" {
		t.Fatalf("got %q, want only the message of the remaining subscription", got.Payload)
	}
}

func TestTopicAliasFromClient(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "alias/#"})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "alias/long/topic", Properties: mqtt.Properties{TopicAlias: 3}, Payload: []byte("1")})
	pub.publish(&mqtt.Publish{Properties: mqtt.Properties{TopicAlias: 3}, Payload: []byte("2")})
	for _, want := range []string{"1", "2"} {
		got := sub.expectPublish()
		if got.Topic != "alias/long/topic" || string(got.Payload) != want {
			t.Fatalf("got %v, want %q on alias/long/topic", got, want)
		}
	}
	// An alias never set is a protocol error.
	pub.send(&mqtt.Publish{Properties: mqtt.Properties{TopicAlias: 4}, Payload: []byte("3")})
	pkts := pub.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ProtocolError {
		t.Fatalf("got %v, want DISCONNECT 0x82", pkts)
	}
}

func TestMessageExpiryCountedDown(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "exp"})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "exp", Payload: []byte("x"), QoS: 1, PacketID: 1,
		Properties: mqtt.Properties{MessageExpiry: 100, MessageExpirySet: true, PayloadFormat: 1}})
	got := sub.expectPublish()
	// [MQTT-3.3.2-6] the interval left, at most the one sent.
	if !got.Properties.MessageExpirySet || got.Properties.MessageExpiry == 0 || got.Properties.MessageExpiry > 100 {
		t.Fatalf("message expiry %d (set %v), want 1..100", got.Properties.MessageExpiry, got.Properties.MessageExpirySet)
	}
	// [MQTT-3.3.2-4] the payload format indicator is forwarded.
	if got.Properties.PayloadFormat != 1 {
		t.Fatalf("payload format %d, want 1", got.Properties.PayloadFormat)
	}
}

func TestClientMaximumPacketSize(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "small", true, func(c *mqtt.Connect) { c.Properties.MaximumPacketSize = 128 })
	sub.subscribe(1, mqtt.Subscription{Filter: "size", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "size", QoS: 1, PacketID: 1, Payload: bytes.Repeat([]byte("x"), 500)})
	pub.publish(&mqtt.Publish{Topic: "size", QoS: 1, PacketID: 2, Payload: []byte("fits")})
	// [MQTT-3.1.2-25] the packet too large for the client is dropped.
	if got := sub.expectPublish(); string(got.Payload) != "fits" {
		t.Fatalf("got %d bytes, want only the message that fits", len(got.Payload))
	}
}

func TestQoS2InboundDuplicateNotRepublished(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V311, "sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "q2", QoS: 1})
	pub := connectClient(t, g, mqtt.V311, "pub", true)
	p := &mqtt.Publish{Topic: "q2", QoS: 2, PacketID: 5, Payload: []byte("once")}
	pub.send(p)
	pub.expectType(mqtt.PUBREC)
	p.Dup = true
	pub.send(p) // resent before PUBREL
	pub.expectType(mqtt.PUBREC)
	pub.send(&mqtt.Pubrel{PacketID: 5})
	pub.expectType(mqtt.PUBCOMP)
	pub.publish(&mqtt.Publish{Topic: "q2", QoS: 2, PacketID: 6, Payload: []byte("next")})
	// [MQTT-4.3.3-10] no duplicate delivered onwards.
	for _, want := range []string{"once", "next"} {
		if got := sub.expectPublish(); string(got.Payload) != want {
			t.Fatalf("got %q, want %q", got.Payload, want)
		}
	}
	// PUBREL for an unknown packet id still gets PUBCOMP.
	pub.send(&mqtt.Pubrel{PacketID: 77})
	pub.expectType(mqtt.PUBCOMP)
}

func TestClientReceiveMaximum(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "rm", true, func(c *mqtt.Connect) { c.Properties.ReceiveMaximum = 1 })
	sub.subscribe(1, mqtt.Subscription{Filter: "rm", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	for i := range 4 {
		pub.publish(&mqtt.Publish{Topic: "rm", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// [MQTT-3.3.4-9] one in flight at a time: each arrives after the
	// previous acknowledgement, all in order.
	for i := range 4 {
		if got := sub.expectPublish(); string(got.Payload) != fmt.Sprint(i) {
			t.Fatalf("got %q, want %d", got.Payload, i)
		}
	}
}

func TestSessionExpirySweepPublishesWill(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) { c.ExpirySweepInterval = 50 * time.Millisecond })
	watcher := connectClient(t, g, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "sw/#"})
	// Will delay longer than the session: the will goes when the session
	// ends [MQTT-3.1.3-9].
	c := connectClient(t, g, mqtt.V5, "brief", true, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 1, true
		c.Will = &mqtt.Will{Topic: "sw/brief", Payload: []byte("expired"), Properties: mqtt.Properties{WillDelay: 60}}
	})
	c.nc.Close()
	if got := watcher.expectPublish(); got.Topic != "sw/brief" {
		t.Fatalf("got %v, want the will", got)
	}
	checkFor(t, 5*time.Second, func() error { return logContains(g, "session of client brief of tenant acme expired") })
}

func TestWillDelay(t *testing.T) {
	g := startGateway(t)
	watcher := connectClient(t, g, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wd/#"})
	c := connectClient(t, g, mqtt.V5, "delayed", true, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 60, true
		c.Will = &mqtt.Will{Topic: "wd/delayed", Payload: []byte("late"), Properties: mqtt.Properties{WillDelay: 1}}
	})
	c.nc.Close()
	if got := watcher.expectPublish(); got.Topic != "wd/delayed" {
		t.Fatalf("got %v, want the delayed will", got)
	}
}

func TestServerKeepAliveOverride(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) { c.ServerKeepAlive = 30 })
	c := dial(t, g.addr, mqtt.V5)
	ack := c.connect(&mqtt.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 600})
	// [MQTT-3.2.2-21] the client must use the server's value.
	if !ack.Properties.ServerKeepAliveSet || ack.Properties.ServerKeepAlive != 30 {
		t.Fatalf("CONNACK %v, want Server Keep Alive 30", ack)
	}
}

func TestSessionExpiryClamped(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) { c.SessionExpiryMax = 100 })
	c := dial(t, g.addr, mqtt.V5)
	ack := c.connect(&mqtt.Connect{ClientID: "long", Properties: mqtt.Properties{SessionExpiry: 5000, SessionExpirySet: true}})
	if !ack.Properties.SessionExpirySet || ack.Properties.SessionExpiry != 100 {
		t.Fatalf("CONNACK %v, want session expiry 100", ack)
	}
}

func TestRetainDisabled(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) { c.DisableRetain = true })
	c := dial(t, g.addr, mqtt.V5)
	ack := c.connect(&mqtt.Connect{ClientID: "r", CleanStart: true})
	if !ack.Properties.RetainAvailableSet || ack.Properties.RetainAvailable != 0 {
		t.Fatalf("CONNACK %v, want Retain Available 0", ack)
	}
	c.send(&mqtt.Publish{Topic: "r", Retain: true, Payload: []byte("x")})
	pkts := c.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.RetainNotSupported {
		t.Fatalf("got %v, want DISCONNECT 0x9A", pkts)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  gateway.Config
		want string // substring of the error; "" for valid
	}{
		{"zero with id", gateway.Config{GatewayID: "gw"}, ""},
		{"no id", gateway.Config{}, "gateway_id"},
		{"bad id", gateway.Config{GatewayID: "g w"}, "gateway_id"},
		{"small packets", gateway.Config{GatewayID: "gw", MaxPacketSize: 10}, "max_packet_size"},
		{"keepalive bounds", gateway.Config{GatewayID: "gw", KeepAliveMin: 60, KeepAliveMax: 30}, "keepalive_min"},
		{"negative timeout", gateway.Config{GatewayID: "gw", ConnectTimeout: -1}, "connect_timeout"},
		{"bad limits", gateway.Config{GatewayID: "gw", Limits: gateway.LimitsConfig{ReportInterval: time.Millisecond}}, "limits: report_interval"},
		{"bad listener", gateway.Config{GatewayID: "gw", Listeners: []gateway.ListenerConfig{{Name: "x"}}}, "listeners[0]"},
		{"duplicate listener", gateway.Config{GatewayID: "gw", Listeners: []gateway.ListenerConfig{
			{Name: "x", Kind: gateway.ListenerTCP, Addr: ":0"}, {Name: "x", Kind: gateway.ListenerTCP, Addr: ":0"}}}, "used twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	g := startGateway(t)
	victim := connectClient(t, g, mqtt.V5, "victim", true)
	bystander := connectClient(t, g, mqtt.V5, "bystander", true)
	if n := g.srv.Revoke(auth.Revocation{Tenant: "acme", Device: "victim"}); n != 1 {
		t.Fatalf("Revoke closed %d connections, want 1", n)
	}
	pkts := victim.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.AdministrativeAction {
		t.Fatalf("got %v, want DISCONNECT 0x98", pkts)
	}
	bystander.ping()
}

func TestSlowClientIsDisconnected(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) {
		c.MaxQueuedBytes = 64 << 10
		c.WriteTimeout = 200 * time.Millisecond
	})
	slow := connectClient(t, g, mqtt.V5, "slow", true)
	slow.subscribe(1, mqtt.Subscription{Filter: "flood"})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	payload := bytes.Repeat([]byte("x"), 32<<10)
	// The slow client reads nothing more: its socket buffers fill, a write
	// times out, and the gateway disconnects it with a reason.
	for i := 0; logContains(g, "client slow disconnected: client too slow") != nil; i++ {
		if i > 20000 {
			t.Fatal("slow client still connected after 20000 messages")
		}
		pub.send(&mqtt.Publish{Topic: "flood", Payload: payload})
		if i%100 == 0 {
			pub.ping()
		}
	}
	if !strings.Contains(g.logs.String(), "dropped") {
		t.Fatalf("no dropped QoS 0 messages were counted:\n%s", g.logs.String())
	}
}
