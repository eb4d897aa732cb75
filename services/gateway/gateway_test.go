package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/services/gateway"
)

var versions = []struct {
	name string
	v    mqtt.Version
}{{"v311", mqtt.V311}, {"v5", mqtt.V5}}

func TestPublishSubscribeQoS(t *testing.T) {
	g := startGateway(t)
	for _, ver := range versions {
		for qos := mqtt.QoS(0); qos <= 2; qos++ {
			t.Run(ver.name+"/qos"+string('0'+byte(qos)), func(t *testing.T) {
				topic := "q/" + ver.name + "/" + string('0'+byte(qos))
				sub := connectClient(t, g, ver.v, "sub-"+ver.name, true)
				// [MQTT-3.8.4-8] granted QoS is the requested one (all supported).
				sa := sub.subscribe(1, mqtt.Subscription{Filter: topic, QoS: qos})
				if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != mqtt.ReasonCode(qos) {
					t.Fatalf("SUBACK codes %v, want [%d]", sa.ReasonCodes, qos)
				}
				pub := connectClient(t, g, ver.v, "pub-"+ver.name, true)
				pub.publish(&mqtt.Publish{Topic: topic, QoS: qos, PacketID: 7, Payload: []byte("hello")})
				got := sub.expectPublish()
				if got.Topic != topic || string(got.Payload) != "hello" || got.QoS != qos {
					t.Fatalf("got %v, want %q hello at QoS %d", got, topic, qos)
				}
				if got.Retain {
					t.Fatalf("live message has retain set [MQTT-3.3.1-12]")
				}
			})
		}
	}
}

func TestQoSDowngradedToSubscription(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "d/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "d/x", QoS: 2, PacketID: 1, Payload: []byte("x")})
	// [MQTT-3.8.4-8] delivered at the minimum of published and granted QoS.
	if got := sub.expectPublish(); got.QoS != 1 {
		t.Fatalf("QoS %d, want 1", got.QoS)
	}
}

func TestRetainedMessages(t *testing.T) {
	g := startGateway(t)
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "r/1", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("first")})
	pub.publish(&mqtt.Publish{Topic: "r/1", QoS: 1, PacketID: 2, Retain: true, Payload: []byte("second")})

	// [MQTT-3.3.1-5] [MQTT-3.3.1-6] the latest retained message, retain set.
	sub := connectClient(t, g, mqtt.V5, "sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "r/+", QoS: 1})
	got := sub.expectPublish()
	if string(got.Payload) != "second" || !got.Retain {
		t.Fatalf("got %v, want retained \"second\"", got)
	}

	// [MQTT-3.3.1-10] an empty retained payload deletes it.
	pub.publish(&mqtt.Publish{Topic: "r/1", QoS: 1, PacketID: 3, Retain: true})
	sub.expectPublish() // the empty message itself is delivered normally
	sub2 := connectClient(t, g, mqtt.V311, "sub2", true)
	sub2.subscribe(1, mqtt.Subscription{Filter: "r/+", QoS: 1})
	pub.publish(&mqtt.Publish{Topic: "r/1", QoS: 1, PacketID: 4, Payload: []byte("live")})
	if got := sub2.expectPublish(); string(got.Payload) != "live" || got.Retain {
		t.Fatalf("got %v, want only the live message", got)
	}

	// Retain handling 2: no retained messages on subscribe [MQTT-3.3.1-11].
	pub.publish(&mqtt.Publish{Topic: "r/2", QoS: 0, Retain: true, Payload: []byte("kept")})
	pub.ping()
	sub3 := connectClient(t, g, mqtt.V5, "sub3", true)
	sub3.subscribe(1, mqtt.Subscription{Filter: "r/2", QoS: 0, RetainHandling: mqtt.DoNotSendRetainedOnSubscribe})
	pub.publish(&mqtt.Publish{Topic: "r/2", QoS: 0, Payload: []byte("after")})
	if got := sub3.expectPublish(); string(got.Payload) != "after" {
		t.Fatalf("got %q, want \"after\" (no retained message)", got.Payload)
	}
}

func TestWill(t *testing.T) {
	g := startGateway(t)
	watcher := connectClient(t, g, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})

	// A normal DISCONNECT deletes the will [MQTT-3.1.2-10].
	polite := connectClient(t, g, mqtt.V5, "polite", true, func(c *mqtt.Connect) {
		c.Will = &mqtt.Will{Topic: "wills/polite", Payload: []byte("gone"), QoS: 1}
	})
	polite.send(&mqtt.Disconnect{})
	polite.expectClosed()

	// Losing the connection publishes it [MQTT-3.1.2-8].
	rude := connectClient(t, g, mqtt.V311, "rude", true, func(c *mqtt.Connect) {
		c.Will = &mqtt.Will{Topic: "wills/rude", Payload: []byte("lost"), QoS: 1}
	})
	rude.nc.Close()
	got := watcher.expectPublish()
	if got.Topic != "wills/rude" || string(got.Payload) != "lost" {
		t.Fatalf("got %v, want the will of rude", got)
	}

	// DISCONNECT 0x04 publishes it too.
	asks := connectClient(t, g, mqtt.V5, "asks", true, func(c *mqtt.Connect) {
		c.Will = &mqtt.Will{Topic: "wills/asks", Payload: []byte("please"), QoS: 1,
			Properties: mqtt.Properties{ContentType: "text/plain"}}
	})
	asks.send(&mqtt.Disconnect{ReasonCode: mqtt.DisconnectWithWill})
	got = watcher.expectPublish()
	if got.Topic != "wills/asks" || got.Properties.ContentType != "text/plain" {
		t.Fatalf("got %v, want the will of asks with its content type", got)
	}
}

func TestWillOnKeepAliveExpiry(t *testing.T) {
	g := startGateway(t)
	watcher := connectClient(t, g, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "ka/#", QoS: 0})
	quiet := connectClient(t, g, mqtt.V5, "quiet", true, func(c *mqtt.Connect) {
		c.KeepAlive = 1
		c.Will = &mqtt.Will{Topic: "ka/quiet", Payload: []byte("timeout")}
	})
	// [MQTT-3.1.2-24] nothing within 1.5× keepalive: DISCONNECT 0x8D, close.
	pkts := quiet.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.KeepAliveTimeout {
		t.Fatalf("got %v, want DISCONNECT 0x8D", pkts)
	}
	if got := watcher.expectPublish(); got.Topic != "ka/quiet" {
		t.Fatalf("got %v, want the will", got)
	}
	checkFor(t, 5*time.Second, func() error { return logContains(g, "client quiet disconnected: keepalive of 1s expired") })
}

func TestPersistentSessionGetsMessagesPublishedWhileOffline(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			g := startGateway(t)
			expiry := func(c *mqtt.Connect) {
				c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 3600, true
			}
			sub := connectClient(t, g, ver.v, "durable", false, expiry)
			sub.subscribe(1, mqtt.Subscription{Filter: "p/#", QoS: 1})
			sub.send(&mqtt.Disconnect{})
			sub.expectClosed()

			pub := connectClient(t, g, ver.v, "pub", true)
			for i := range 5 {
				pub.publish(&mqtt.Publish{Topic: "p/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
			}
			sub = dial(t, g.addr, ver.v)
			cp := &mqtt.Connect{ClientID: "durable", KeepAlive: 60}
			expiry(cp)
			ack := sub.connect(cp)
			if !ack.SessionPresent {
				t.Fatalf("session present = false, want true [MQTT-3.2.2-3]")
			}
			for i := range 5 {
				got := sub.expectPublish()
				if string(got.Payload) != string(rune('0'+i)) {
					t.Fatalf("message %d: payload %q, want %q", i, got.Payload, string(rune('0'+i)))
				}
			}
			// Live messages still flow after the replay.
			pub.publish(&mqtt.Publish{Topic: "p/y", QoS: 1, PacketID: 9, Payload: []byte("live")})
			if got := sub.expectPublish(); string(got.Payload) != "live" {
				t.Fatalf("got %q, want live", got.Payload)
			}
		})
	}
}

func TestUnacknowledgedMessageResentWithDup(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "slow", false, func(c *mqtt.Connect) { c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 600, true })
	sub.subscribe(1, mqtt.Subscription{Filter: "dup/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "dup/1", QoS: 1, PacketID: 1, Payload: []byte("once")})
	first := sub.read().(*mqtt.Publish) // not acknowledged
	sub.nc.Close()

	sub = dial(t, g.addr, mqtt.V5)
	if ack := sub.connect(&mqtt.Connect{ClientID: "slow", Properties: mqtt.Properties{SessionExpiry: 600, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	// [MQTT-4.4.0-1] resent with its original packet identifier and DUP set.
	again := sub.expectPublish()
	if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "once" {
		t.Fatalf("got %v, want DUP resend of packet %d", again, first.PacketID)
	}
}

func TestSessionTakeover(t *testing.T) {
	g := startGateway(t)
	first := connectClient(t, g, mqtt.V5, "same", true)
	second := connectClient(t, g, mqtt.V5, "same", true)
	// [MQTT-3.1.4-3] the existing connection is closed, with 0x8E in v5.
	pkts := first.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.SessionTakenOver {
		t.Fatalf("got %v, want DISCONNECT 0x8E", pkts)
	}
	second.ping()
}

func TestBadInput(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) {
		c.ConnectTimeout = 300 * time.Millisecond
		c.MaxPacketSize = 1024
	})
	t.Run("malformed v5", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "bad5", true)
		c.write([]byte{0x30, 0x02, 0x00, 0x05}) // topic length beyond the packet
		pkts := c.expectClosed()
		if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.MalformedPacket {
			t.Fatalf("got %v, want DISCONNECT 0x81", pkts)
		}
		checkFor(t, 5*time.Second, func() error {
			return logContains(g, "client bad5 sent a malformed packet")
		})
	})
	t.Run("malformed v311", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V311, "bad4", true)
		c.write([]byte{0x30, 0x02, 0x00, 0x05})
		if pkts := c.expectClosed(); len(pkts) != 0 {
			t.Fatalf("got %v, want a plain close", pkts)
		}
	})
	t.Run("second CONNECT", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "twice", true)
		c.send(&mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, ClientID: "twice"})
		// [MQTT-3.1.0-2] a second CONNECT is a protocol error.
		pkts := c.expectClosed()
		if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ProtocolError {
			t.Fatalf("got %v, want DISCONNECT 0x82", pkts)
		}
	})
	t.Run("PUBLISH before CONNECT", func(t *testing.T) {
		c := dial(t, g.addr, mqtt.V311)
		c.send(&mqtt.Publish{Topic: "x", Payload: []byte("x")})
		// [MQTT-3.1.0-1] the first packet must be CONNECT.
		if pkts := c.expectClosed(); len(pkts) != 0 {
			t.Fatalf("got %v, want a plain close", pkts)
		}
	})
	t.Run("no CONNECT", func(t *testing.T) {
		c := dial(t, g.addr, mqtt.V311)
		if pkts := c.expectClosed(); len(pkts) != 0 {
			t.Fatalf("got %v, want a plain close", pkts)
		}
	})
	t.Run("oversize packet", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "big", true)
		c.send(&mqtt.Publish{Topic: "big", Payload: bytes.Repeat([]byte("x"), 2000)})
		pkts := c.expectClosed()
		if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.PacketTooLarge {
			t.Fatalf("got %v, want DISCONNECT 0x95", pkts)
		}
	})
	t.Run("empty client id without clean session", func(t *testing.T) {
		c := dial(t, g.addr, mqtt.V311)
		// [MQTT-3.1.3-8] refused with return code 0x02.
		if ack := c.connect(&mqtt.Connect{}); ack.ReasonCode != mqtt.ClientIDNotValid {
			t.Fatalf("CONNACK %v, want client identifier not valid", ack.ReasonCode)
		}
	})
	t.Run("topic alias above maximum", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "alias", true)
		c.send(&mqtt.Publish{Topic: "a", Properties: mqtt.Properties{TopicAlias: 1000}})
		pkts := c.expectClosed()
		if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.TopicAliasInvalid {
			t.Fatalf("got %v, want DISCONNECT 0x94", pkts)
		}
	})
}

func TestAssignedClientID(t *testing.T) {
	g := startGateway(t)
	c := dial(t, g.addr, mqtt.V5)
	ack := c.connect(&mqtt.Connect{CleanStart: true})
	// [MQTT-3.2.2-16] the server assigns an identifier and says which.
	if ack.ReasonCode != mqtt.Success || !strings.HasPrefix(ack.Properties.AssignedClientID, "auto-") {
		t.Fatalf("CONNACK %v, want success with an assigned client id", ack)
	}
}

func TestOverlappingSubscriptionsDeliverOnce(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "overlap", true)
	sub.send(&mqtt.Subscribe{PacketID: 1, Properties: mqtt.Properties{SubscriptionIDs: []uint32{1}},
		Subscriptions: []mqtt.Subscription{{Filter: "o/+", QoS: 0}}})
	sub.expectType(mqtt.SUBACK)
	sub.send(&mqtt.Subscribe{PacketID: 2, Properties: mqtt.Properties{SubscriptionIDs: []uint32{2}},
		Subscriptions: []mqtt.Subscription{{Filter: "o/#", QoS: 1}}})
	sub.expectType(mqtt.SUBACK)
	other := connectClient(t, g, mqtt.V5, "other", true)
	other.subscribe(1, mqtt.Subscription{Filter: "o/a", QoS: 0})

	pub := connectClient(t, g, mqtt.V5, "pub", true)
	pub.publish(&mqtt.Publish{Topic: "o/a", QoS: 1, PacketID: 1, Payload: []byte("one")})
	pub.publish(&mqtt.Publish{Topic: "o/a", QoS: 1, PacketID: 2, Payload: []byte("two")})
	// [MQTT-3.3.4-2] once per client, at the largest granted QoS, with every
	// matching subscription identifier [MQTT-3.3.4-3].
	got := sub.expectPublish()
	if string(got.Payload) != "one" || got.QoS != 1 || len(got.Properties.SubscriptionIDs) != 2 {
		t.Fatalf("got %v, want \"one\" at QoS 1 with two subscription ids", got)
	}
	if got := sub.expectPublish(); string(got.Payload) != "two" {
		t.Fatalf("got %q, want \"two\" (a duplicate of \"one\"?)", got.Payload)
	}
	for _, want := range []string{"one", "two"} {
		if got := other.expectPublish(); string(got.Payload) != want {
			t.Fatalf("other got %q, want %q", got.Payload, want)
		}
	}
}

func TestNoLocal(t *testing.T) {
	g := startGateway(t)
	c := connectClient(t, g, mqtt.V5, "self", true)
	c.subscribe(1, mqtt.Subscription{Filter: "nl/#", QoS: 0, NoLocal: true})
	other := connectClient(t, g, mqtt.V5, "other", true)
	c.publish(&mqtt.Publish{Topic: "nl/mine", Payload: []byte("mine")})
	other.publish(&mqtt.Publish{Topic: "nl/mine", Payload: []byte("theirs")})
	// [MQTT-3.8.3-3] its own message is not sent back; the next one is.
	if got := c.expectPublish(); string(got.Payload) != "theirs" {
		t.Fatalf("got %q, want \"theirs\"", got.Payload)
	}
}

func TestShutdownDisconnectsV5Clients(t *testing.T) {
	g := startGateway(t)
	watcher := connectClient(t, g, mqtt.V311, "watcher", true, func(c *mqtt.Connect) {
		c.Will = &mqtt.Will{Topic: "bye/watcher", Payload: []byte("x")}
	})
	c := connectClient(t, g, mqtt.V5, "five", true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	pkts := c.expectClosed()
	if len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ServerShuttingDown {
		t.Fatalf("got %v, want DISCONNECT 0x8B", pkts)
	}
	watcher.expectClosed()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", g.addr, time.Second); err == nil {
		t.Fatalf("listener still accepting after Shutdown")
	}
}

func TestResentMessagesNotReplayedAgain(t *testing.T) {
	g := startGateway(t)
	expiry := mqtt.Properties{SessionExpiry: 600, SessionExpirySet: true}
	sub := connectClient(t, g, mqtt.V5, "again", false, func(c *mqtt.Connect) { c.Properties = expiry })
	sub.subscribe(1, mqtt.Subscription{Filter: "again/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "pub", true)
	for i := range 2 {
		pub.publish(&mqtt.Publish{Topic: "again/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		sub.read() // received, never acknowledged
	}
	sub.nc.Close()

	sub = dial(t, g.addr, mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "again", KeepAlive: 60, Properties: expiry})
	pub.publish(&mqtt.Publish{Topic: "again/x", QoS: 1, PacketID: 3, Payload: []byte("marker")})
	// The two in-flight messages come back with DUP [MQTT-4.4.0-1], each
	// once, then the new message; nothing is replayed twice.
	var got []string
	for range 3 {
		p := sub.expectPublish()
		got = append(got, fmt.Sprintf("%s dup=%v", p.Payload, p.Dup))
	}
	if want := []string{"0 dup=true", "1 dup=true", "marker dup=false"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestAssignedClientIDIsTheDevice: a client that sends no client id but
// credentials naming a device gets the device id as its client id.
func TestAssignedClientIDIsTheDevice(t *testing.T) {
	g := startGatewaysDeps(t, 1, memstore.New(), func(d *gateway.Deps) {
		d.Auth = auth.AuthenticatorFunc(func(_ context.Context, req auth.Request) (auth.Identity, error) {
			if req.ClientID != "" {
				return auth.Identity{}, auth.ErrNotAuthorized
			}
			return auth.Identity{Tenant: "acme", Device: "sensor-7"}, nil
		})
	})[0]
	c := dial(t, g.addr, mqtt.V5)
	ack := c.connect(&mqtt.Connect{CleanStart: true, Password: []byte("token"), PasswordSet: true})
	// [MQTT-3.2.2-16] the assigned identifier is sent back.
	if ack.ReasonCode != mqtt.Success || ack.Properties.AssignedClientID != "sensor-7" {
		t.Fatalf("CONNACK %v, want success with assigned client id sensor-7", ack)
	}
}
