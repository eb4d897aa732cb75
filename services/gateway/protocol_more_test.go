package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/services/gateway"
)

// aliasReader resolves the server-to-client topic aliases of one network
// connection as a client must, failing on any misuse.
type aliasReader struct {
	tb      testing.TB
	max     uint16
	aliases map[uint16]string
	used    int // PUBLISH packets that carried an alias
	short   int // PUBLISH packets that carried an alias and no topic
}

func (a *aliasReader) resolve(p *mqtt.Publish) string {
	a.tb.Helper()
	n := p.Properties.TopicAlias
	if n == 0 {
		if p.Topic == "" {
			a.tb.Fatalf("PUBLISH with neither topic nor alias")
		}
		return p.Topic
	}
	a.used++
	if a.max == 0 || n > a.max {
		// [MQTT-3.1.2-26] [MQTT-3.1.2-27] [MQTT-3.3.2-11]
		a.tb.Fatalf("alias %d sent to a client whose maximum is %d", n, a.max)
	}
	if p.Topic != "" {
		a.aliases[n] = p.Topic
		return p.Topic
	}
	a.short++
	t, ok := a.aliases[n]
	if !ok {
		// [MQTT-3.3.2-7] a mapping never set on this connection.
		a.tb.Fatalf("alias %d used before it was set on this connection", n)
	}
	return t
}

func TestTopicAliasToClient(t *testing.T) {
	g := startGateway(t)
	const max = 2
	withMax := func(c *mqtt.Connect) { c.Properties.TopicAliasMaximum = max }
	sub := connectClient(t, g, mqtt.V5, "alias-sub", false, withMax, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true
	})
	sub.subscribe(1, mqtt.Subscription{Filter: "al/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "alias-pub", true)
	topics := []string{"al/a", "al/a", "al/b", "al/a", "al/c", "al/c", "al/b", "al/a"}
	ar := &aliasReader{tb: t, max: max, aliases: map[uint16]string{}}
	for i, tp := range topics {
		pub.publish(&mqtt.Publish{Topic: tp, QoS: mqtt.QoS(i % 2), PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		p := sub.expectPublish()
		if got := ar.resolve(p); got != tp || string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: topic %q payload %q, want %q %q", i, got, p.Payload, tp, fmt.Sprint(i))
		}
	}
	// Every message carried an alias; with two aliases, least recently
	// used replaced first, three of them went without their topic name:
	// the 2nd (al/a), 4th (al/a) and 6th (al/c).
	if ar.used != len(topics) || ar.short != 3 {
		t.Fatalf("%d of %d messages carried an alias, %d without a topic; want all, 3", ar.used, len(topics), ar.short)
	}

	// A new network connection starts with no mapping [MQTT-3.3.2-7]: the
	// first message on a topic aliased before carries its name again.
	sub.send(&mqtt.Disconnect{})
	sub.expectClosed()
	sub = dial(t, g.addr, mqtt.V5)
	if ack := sub.connect(&mqtt.Connect{ClientID: "alias-sub", KeepAlive: 60, Properties: mqtt.Properties{
		TopicAliasMaximum: max, SessionExpiry: 300, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	pub.publish(&mqtt.Publish{Topic: "al/a", QoS: 1, PacketID: 100, Payload: []byte("again")})
	p := sub.expectPublish()
	if p.Topic != "al/a" || p.Properties.TopicAlias == 0 || p.Properties.TopicAlias > max {
		t.Fatalf("after reconnect: topic %q alias %d, want the topic with a fresh alias", p.Topic, p.Properties.TopicAlias)
	}
}

func TestTopicAliasToClientOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     uint16
		disable bool
	}{
		{"client maximum 0", 0, false},        // [MQTT-3.1.2-27]
		{"disabled by the operator", 8, true}, // disable_server_topic_aliases
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, func(c *gateway.Config) { c.DisableServerTopicAliases = tc.disable })
			sub := connectClient(t, g, mqtt.V5, "plain-sub", true, func(c *mqtt.Connect) { c.Properties.TopicAliasMaximum = tc.max })
			sub.subscribe(1, mqtt.Subscription{Filter: "pl/#"})
			pub := connectClient(t, g, mqtt.V5, "plain-pub", true)
			for i := range 3 {
				pub.publish(&mqtt.Publish{Topic: "pl/x", Payload: []byte(fmt.Sprint(i))})
				if p := sub.expectPublish(); p.Topic != "pl/x" || p.Properties.TopicAlias != 0 {
					t.Fatalf("message %d: topic %q alias %d, want the full topic and no alias", i, p.Topic, p.Properties.TopicAlias)
				}
			}
		})
	}
}

// TestQoS2OutOfOrderCompletionNotReplayed: a subscriber completes the
// second of two QoS 2 messages while it holds the first, then its
// connection drops. The session's stream position stays below the first
// message, so before the fix the resume replayed the completed second one
// as a new message, delivering it twice. Now its entry is kept until the
// position passes it: the resume resends PUBLISH (DUP) for the first and
// PUBREL for the second, and nothing else [MQTT-4.3.3-10] [MQTT-4.4.0-1].
func TestQoS2OutOfOrderCompletionNotReplayed(t *testing.T) {
	g := startGateway(t)
	persist := func(c *mqtt.Connect) { c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true }
	sub := connectClient(t, g, mqtt.V5, "holder", false, persist)
	sub.subscribe(1, mqtt.Subscription{Filter: "ooo", QoS: 2})
	pub := connectClient(t, g, mqtt.V5, "ooo-pub", true)
	pub.publish(&mqtt.Publish{Topic: "ooo", QoS: 2, PacketID: 1, Payload: []byte("first")})
	pub.publish(&mqtt.Publish{Topic: "ooo", QoS: 2, PacketID: 2, Payload: []byte("second")})
	first := sub.expectType(mqtt.PUBLISH).(*mqtt.Publish)
	second := sub.expectType(mqtt.PUBLISH).(*mqtt.Publish)
	if string(first.Payload) != "first" || string(second.Payload) != "second" {
		t.Fatalf("got %q then %q", first.Payload, second.Payload)
	}
	// Complete the second flow, hold the first.
	sub.send(&mqtt.Pubrec{PacketID: second.PacketID})
	sub.expectType(mqtt.PUBREL)
	sub.send(&mqtt.Pubcomp{PacketID: second.PacketID})
	sub.ping()
	_ = sub.nc.Close() // the network drops, no DISCONNECT

	sub = dial(t, g.addr, mqtt.V5)
	// Whether or not the gateway saw the old connection end yet, the
	// session is resumed (a takeover, if need be).
	if ack := sub.connect(&mqtt.Connect{ClientID: "holder", KeepAlive: 60, Properties: mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	p := sub.expectType(mqtt.PUBLISH).(*mqtt.Publish)
	if !p.Dup || p.PacketID != first.PacketID || string(p.Payload) != "first" {
		t.Fatalf("got %+v, want the first message again with DUP and id %d", p, first.PacketID)
	}
	if rel := sub.expectType(mqtt.PUBREL).(*mqtt.Pubrel); rel.PacketID != second.PacketID {
		t.Fatalf("PUBREL %d, want %d (the completed second message)", rel.PacketID, second.PacketID)
	}
	sub.send(&mqtt.Pubcomp{PacketID: second.PacketID})
	sub.send(&mqtt.Pubrec{PacketID: first.PacketID})
	sub.expectType(mqtt.PUBREL)
	sub.send(&mqtt.Pubcomp{PacketID: first.PacketID})
	sub.ping() // no PUBLISH of "second" came before the PINGRESP
	if p, err := sub.readErr(300 * time.Millisecond); err == nil {
		t.Fatalf("unexpected packet %v after the resume", p)
	}
}

// gateStore is a session store whose writes of inbound AwaitPubrel
// entries wait while its gate is closed, until the next Claim opens it (so
// the stuck write then fails, fenced by the new owner, as a dead gateway's
// would). A gateway that recorded nothing before its durable publish is
// stuck there with the message stored and its PUBREC not sent: the moment
// a crash was worst for exactly-once. The gateway now records the flow
// before publishing and writes no AwaitPubrel for it, so it is not stuck.
type gateStore struct {
	session.Store
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (s *gateStore) PutInflight(ctx context.Context, key session.Key, epoch uint64, f session.Inflight) error {
	if f.Direction == session.Inbound && f.State == session.AwaitPubrel {
		s.mu.Lock()
		g := s.gate
		s.mu.Unlock()
		if g != nil {
			select {
			case <-g:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return s.Store.PutInflight(ctx, key, epoch, f)
}

func (s *gateStore) Claim(ctx context.Context, key session.Key, owner string, level byte, clean bool, now time.Time) (session.Claimed, error) {
	cl, err := s.Store.Claim(ctx, key, owner, level, clean, now)
	s.open()
	return cl, err
}

func (s *gateStore) close() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *gateStore) open() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// TestQoS2ResentAfterGatewayLossNotRepublished: gateway 1 stores a QoS 2
// message in the stream, and its PUBREC never reaches the client (the
// gateway dies, or the network). The client resumes on gateway 2 and
// resends the PUBLISH with DUP; gateway 2 finds the first copy in the
// stream by the deduplication id recorded before the first publish, so it
// does not publish it again (whether or not JetStream's duplicate window
// has passed) and the subscriber gets the message once [MQTT-4.3.3-10]. A
// client that did get the PUBREC sends PUBREL instead, and gets PUBCOMP.
func TestQoS2ResentAfterGatewayLossNotRepublished(t *testing.T) {
	store := &gateStore{Store: memstore.New()}
	gws := startGatewaysWith(t, 2, store)
	t.Cleanup(store.open) // before the gateways shut down
	sub := connectClient(t, gws[1], mqtt.V5, "once-sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "once/#", QoS: 2})
	props := mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}
	for _, tc := range []struct {
		name   string
		resend bool // the client resends the PUBLISH (it saw no PUBREC); else only PUBREL
	}{
		{"PUBREC lost, PUBLISH resent", true},
		{"PUBREC received, PUBREL resent", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "once-pub-" + fmt.Sprint(tc.resend)
			pub := connectClient(t, gws[0], mqtt.V5, id, false, func(c *mqtt.Connect) { c.Properties = props })
			if tc.resend {
				store.close()
			}
			p := &mqtt.Publish{Topic: "once/x", QoS: 2, PacketID: 9, Payload: []byte(id)}
			pub.send(p)
			if got := sub.expectPublish(); string(got.Payload) != id {
				t.Fatalf("got %q", got.Payload)
			}
			if !tc.resend {
				pub.expectType(mqtt.PUBREC)
			}
			_ = pub.nc.Close() // gone without a word

			pub2 := dial(t, gws[1].addr, mqtt.V5)
			if ack := pub2.connect(&mqtt.Connect{ClientID: id, KeepAlive: 60, Properties: props}); !ack.SessionPresent {
				t.Fatalf("CONNACK %v, want the session present", ack)
			}
			if tc.resend {
				p.Dup = true // [MQTT-4.4.0-1] resent with DUP and the same id
				pub2.send(p)
				if rec := pub2.expectType(mqtt.PUBREC).(*mqtt.Pubrec); rec.ReasonCode != mqtt.Success {
					t.Fatalf("PUBREC %v", rec)
				}
				// Gateway 2 found the first copy in the stream and did not
				// publish again: no duplicate, even after JetStream's
				// duplicate window.
				checkFor(t, 10*time.Second, func() error {
					return logContains(gws[1], "QoS 2 message 9 resent by client "+id+" was stored before its gateway was lost: not publishing it again")
				})
			}
			pub2.send(&mqtt.Pubrel{PacketID: 9})
			// [MQTT-4.3.3-11] the flow is known on gateway 2: PUBCOMP, not 0x92.
			if comp := pub2.expectType(mqtt.PUBCOMP).(*mqtt.Pubcomp); comp.ReasonCode != mqtt.Success {
				t.Fatalf("PUBCOMP %v, want success", comp)
			}
			// A new message with the same id (no DUP) is a new message;
			// arriving after it proves no second copy came before.
			pub2.publish(&mqtt.Publish{Topic: "once/x", QoS: 2, PacketID: 9, Payload: []byte("next")})
			if got := sub.expectPublish(); string(got.Payload) != "next" {
				t.Fatalf("got %q, want the next message (no second copy of the first)", got.Payload)
			}
		})
	}
}

// TestSharedSubscriptionBacklogToOneMember: both members of a shared QoS 1
// group have persistent sessions and are offline while four messages are
// published. The first member back gets all four (MQTT 5.0 section 4.8.2:
// the server may keep the group's messages and deliver them later); the
// second gets none of them again [MQTT-4.8.2-3]. Live messages then go
// round-robin as before.
func TestSharedSubscriptionBacklogToOneMember(t *testing.T) {
	g := startGateway(t)
	persist := func(c *mqtt.Connect) { c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true }
	for _, id := range []string{"member-a", "member-b"} {
		m := connectClient(t, g, mqtt.V5, id, false, persist)
		m.subscribe(1, mqtt.Subscription{Filter: "$share/wk/jobs/#", QoS: 1})
		m.send(&mqtt.Disconnect{})
		m.expectClosed()
	}
	pub := connectClient(t, g, mqtt.V5, "jobs-pub", true)
	for i := range 4 {
		pub.publish(&mqtt.Publish{Topic: "jobs/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	pub.publish(&mqtt.Publish{Topic: "other/x", QoS: 1, PacketID: 9, Payload: []byte("not for the group")})

	a := dial(t, g.addr, mqtt.V5)
	if ack := a.connect(&mqtt.Connect{ClientID: "member-a", KeepAlive: 60, Properties: mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	for i := range 4 {
		if p := a.expectPublish(); string(p.Payload) != fmt.Sprint(i) || p.Topic != "jobs/x" {
			t.Fatalf("member a, message %d: got %q on %q", i, p.Payload, p.Topic)
		}
	}
	b := dial(t, g.addr, mqtt.V5)
	if ack := b.connect(&mqtt.Connect{ClientID: "member-b", KeepAlive: 60, Properties: mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	// b's drain finds the group's position past the backlog.
	checkFor(t, 10*time.Second, func() error { return logContains(g, "client member-b of tenant acme connected") })
	b.ping()
	if p, err := b.readErr(300 * time.Millisecond); err == nil {
		t.Fatalf("member b got %v, already delivered to member a", p)
	}
	if p, err := a.readErr(100 * time.Millisecond); err == nil {
		t.Fatalf("member a got %v more", p)
	}
	// Live: one member each.
	for i := range 2 {
		pub.publish(&mqtt.Publish{Topic: "jobs/y", QoS: 1, PacketID: uint16(20 + i), Payload: []byte("live")})
	}
	a.expectPublish()
	b.expectPublish()
}

// TestSharedSubscriptionBacklogAcrossGateways: two members resume at the
// same time on two gateways sharing Redis; the group's replay lock and
// position give each offline message to exactly one of them.
func TestSharedSubscriptionBacklogAcrossGateways(t *testing.T) {
	rs := redistest.Start(t)
	gws := startGatewaysWith(t, 2, redisstore.New(rs.Client(t), redisstore.Options{}))
	props := mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}
	ids := []string{"x-member-0", "x-member-1"}
	for i, id := range ids {
		m := connectClient(t, gws[i], mqtt.V5, id, false, func(c *mqtt.Connect) { c.Properties = props })
		m.subscribe(1, mqtt.Subscription{Filter: "$share/grp/work/+", QoS: 2})
		m.send(&mqtt.Disconnect{})
		m.expectClosed()
	}
	pub := connectClient(t, gws[0], mqtt.V5, "work-pub", true)
	const n = 20
	for i := range n {
		pub.publish(&mqtt.Publish{Topic: "work/item", QoS: 2, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// Both come back at once, each on its own gateway.
	var members []*client
	for i, id := range ids {
		m := dial(t, gws[i].addr, mqtt.V5)
		m.send(&mqtt.Connect{ClientID: id, KeepAlive: 60, Properties: props, Version: mqtt.V5, ProtocolName: "MQTT"})
		members = append(members, m)
	}
	for i, m := range members {
		if ack := m.expectType(mqtt.CONNACK).(*mqtt.Connack); !ack.SessionPresent {
			t.Fatalf("member %d: CONNACK %v, want the session present", i, ack)
		}
	}
	type event struct {
		m int
		p mqtt.Packet
	}
	events := make(chan event, 64)
	for i, m := range members {
		go func() {
			for {
				pk, err := m.readErr(20 * time.Second)
				if err != nil {
					return
				}
				events <- event{i, pk}
			}
		}()
	}
	got := map[string]int{}
	total, pongs := 0, 0
	for pongs < len(members) {
		var ev event
		select {
		case ev = <-events:
		case <-time.After(15 * time.Second):
			t.Fatalf("after %d deliveries (%v), nothing more", total, got)
		}
		switch p := ev.p.(type) {
		case *mqtt.Publish:
			members[ev.m].send(&mqtt.Pubrec{PacketID: p.PacketID})
			got[string(p.Payload)]++
			total++
			if total == n {
				// Everything arrived: anything before the PINGRESPs is extra.
				for _, m := range members {
					m.send(&mqtt.Pingreq{})
				}
			}
		case *mqtt.Pubrel:
			members[ev.m].send(&mqtt.Pubcomp{PacketID: p.PacketID})
		case *mqtt.Pingresp:
			pongs++
		default:
			t.Fatalf("member %d got %v", ev.m, p)
		}
	}
	if len(got) != n || total != n {
		t.Fatalf("members got %d deliveries of %d distinct messages, want %d once each: %v", total, len(got), n, got)
	}
}

// BenchmarkQoS2PublishPersistent measures inbound QoS 2 publishes of a
// persistent session (PUBLISH, PUBREC, PUBREL, PUBCOMP, pipelined by the
// client), with the session store in memory and in Redis: each message
// costs an in-flight write that the read loop waits for (AwaitStore,
// before its durable publish) and a delete. go test -run '^$' -bench
// QoS2PublishPersistent -benchtime 2000x ./services/gateway/
func BenchmarkQoS2PublishPersistent(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) session.Store
	}{
		{"memstore", func(*testing.B) session.Store { return memstore.New() }},
		{"redis", func(b *testing.B) session.Store {
			return redisstore.New(redistest.Start(b).Client(b), redisstore.Options{})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			g := startGatewaysWith(b, 1, tc.store(b))[0]
			pub := connectClient(b, g, mqtt.V5, "bench-q2", false, func(c *mqtt.Connect) {
				c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true
			})
			payload := make([]byte, 128)
			// At most 64 flows open: a packet identifier is reused only
			// after its PUBCOMP.
			free := make(chan uint16, 64)
			for id := range uint16(64) {
				free <- id + 1
			}
			done := make(chan error, 1)
			go func() {
				// Answer each PUBREC with PUBREL; free the id at PUBCOMP.
				for n := 0; n < b.N; {
					p, err := pub.readErr(30 * time.Second)
					if err != nil {
						done <- err
						return
					}
					switch p := p.(type) {
					case *mqtt.Pubrec:
						buf, _ := mqtt.Append(nil, &mqtt.Pubrel{PacketID: p.PacketID}, mqtt.V5)
						if _, err := pub.nc.Write(buf); err != nil {
							done <- err
							return
						}
					case *mqtt.Pubcomp:
						n++
						free <- p.PacketID
					}
				}
				done <- nil
			}()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			var buf []byte
			for range b.N {
				buf, _ = mqtt.Append(buf[:0], &mqtt.Publish{Topic: "bench/q2", QoS: 2, PacketID: <-free, Payload: payload}, mqtt.V5)
				if _, err := pub.nc.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatalf("publisher: %v", err)
			}
		})
	}
}

// TestSharedSubscriptionBacklogToNewMember: the only member of a group is
// offline while messages are published; a new member that subscribes to
// the group (a clean session) drains them, once.
func TestSharedSubscriptionBacklogToNewMember(t *testing.T) {
	g := startGateway(t)
	old := connectClient(t, g, mqtt.V5, "old-member", false, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true
	})
	old.subscribe(1, mqtt.Subscription{Filter: "$share/q/orders/#", QoS: 1})
	old.send(&mqtt.Disconnect{})
	old.expectClosed()
	pub := connectClient(t, g, mqtt.V5, "orders-pub", true)
	for i := range 3 {
		pub.publish(&mqtt.Publish{Topic: "orders/new", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	fresh := connectClient(t, g, mqtt.V5, "new-member", true)
	fresh.subscribe(1, mqtt.Subscription{Filter: "$share/q/orders/#", QoS: 1})
	for i := range 3 {
		if p := fresh.expectPublish(); string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, p.Payload)
		}
	}
	// The old member comes back: the group's position is past the backlog.
	old = dial(t, g.addr, mqtt.V5)
	if ack := old.connect(&mqtt.Connect{ClientID: "old-member", KeepAlive: 60, Properties: mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	old.ping()
	if p, err := old.readErr(300 * time.Millisecond); err == nil {
		t.Fatalf("old member got %v, already delivered to the new member", p)
	}
}

// TestQoS2RetainedResentAfterGatewayLoss: a retained QoS 2 message reached
// the durable stream but not the retained one (its gateway died between
// the two writes: here the retained copy is purged to stand for that), and
// its client resends it with DUP to another gateway. That gateway does
// not publish it again but stores it as retained [MQTT-3.3.1-5]; a
// retained message set by someone else in the meantime is left in place.
func TestQoS2RetainedResentAfterGatewayLoss(t *testing.T) {
	gws := startGateways(t, 2)
	js, err := jetstream.New(gws[0].nc)
	if err != nil {
		t.Fatal(err)
	}
	props := mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}
	for _, tc := range []struct {
		name  string
		newer bool // another client retains a message on the topic before the resend
	}{
		{"retained again", false},
		{"newer retained message kept", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, topic := "ret-pub-"+fmt.Sprint(tc.newer), "ret/"+fmt.Sprint(tc.newer)
			pub := connectClient(t, gws[0], mqtt.V5, id, false, func(c *mqtt.Connect) { c.Properties = props })
			p := &mqtt.Publish{Topic: topic, QoS: 2, Retain: true, PacketID: 7, Payload: []byte("first")}
			pub.send(p)
			pub.expectType(mqtt.PUBREC)
			_ = pub.nc.Close()
			st, err := js.Stream(context.Background(), "FLOCK_RET_ACME")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Purge(context.Background(), jetstream.WithPurgeSubject("flockret.acme.>")); err != nil {
				t.Fatal(err)
			}
			if tc.newer {
				other := connectClient(t, gws[1], mqtt.V5, "ret-other", true)
				other.publish(&mqtt.Publish{Topic: topic, QoS: 1, Retain: true, PacketID: 1, Payload: []byte("newer")})
			}

			pub2 := dial(t, gws[1].addr, mqtt.V5)
			if ack := pub2.connect(&mqtt.Connect{ClientID: id, KeepAlive: 60, Properties: props}); !ack.SessionPresent {
				t.Fatalf("CONNACK %v, want the session present", ack)
			}
			p.Dup = true
			pub2.send(p)
			pub2.expectType(mqtt.PUBREC)
			pub2.send(&mqtt.Pubrel{PacketID: 7})
			pub2.expectType(mqtt.PUBCOMP)

			want := "first"
			if tc.newer {
				want = "newer"
			}
			sub := connectClient(t, gws[0], mqtt.V5, "ret-sub-"+fmt.Sprint(tc.newer), true)
			sub.subscribe(1, mqtt.Subscription{Filter: topic, QoS: 1})
			if got := sub.expectPublish(); !got.Retain || string(got.Payload) != want {
				t.Fatalf("retained message %q (retain %v), want %q", got.Payload, got.Retain, want)
			}
		})
	}
}
