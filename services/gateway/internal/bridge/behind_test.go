package bridge

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestDurableBackPressureAcrossGateways: a subscriber on one gateway whose
// handler is slower than its tenant's durable publishers on another
// gateway holds those publishers back too, so NATS never has to drop
// messages for it, and every message arrives, in order. Another tenant's
// publishers are not held.
func TestDurableBackPressureAcrossGateways(t *testing.T) {
	srv := startServer(t)
	const mark = 500
	pub := newBridge(t, srv, Config{GatewayID: "pub", MaxPendingPublishes: 256})
	sub := newBridge(t, srv, Config{GatewayID: "sub", SubscriberBacklog: mark})
	const n = 4000
	var got atomic.Int64
	var order atomic.Bool
	s, err := sub.Subscribe("acme", "bp/#", "", func(m *Message) {
		if m.Payload[0] != byte(got.Load()) {
			order.Store(true)
		}
		got.Add(1)
		time.Sleep(50 * time.Microsecond) // a slow client's pace
	})
	if err != nil {
		t.Fatal(err)
	}
	const limit = mark + 256 + 2*behindEvery + 1000
	for _, ns := range s.subs {
		if err := ns.SetPendingLimits(limit, -1); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := pub.PublishAsync(ctxT(t), &Message{Tenant: "acme", Topic: "bp/1", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 60*time.Second, func() error {
		if d := s.Dropped(); d > 0 {
			t.Fatalf("NATS dropped %d messages after %d of %d arrived", d, got.Load(), n)
		}
		if got.Load() < n {
			return fmt.Errorf("received %d of %d", got.Load(), n)
		}
		return nil
	})
	if order.Load() {
		t.Error("messages arrived out of order")
	}
	if pub.tenant("acme").held.Load() == 0 {
		t.Error("no durable publish on the other gateway was held back")
	}
	if pub.tenant("other").holding() {
		t.Error("another tenant's publishers are held")
	}
	// Caught up: the publishing gateway is told and holds no more.
	checkFor(t, 10*time.Second, func() error {
		if pub.tenant("acme").holding() {
			return fmt.Errorf("the publishing gateway still holds the tenant")
		}
		return nil
	})
}

// TestPeerBacklogExpires: a peer that said it is behind and then went
// silent (it died) holds the tenant's publishers for behindExpiry at most;
// malformed notices change nothing.
func TestPeerBacklogExpires(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	nc := connect(t, srv)
	for _, bad := range []string{"gone", "gone 2", "gone  1", ""} {
		if err := nc.Publish(behindRoot+"acme", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish(behindRoot+"acme", []byte("g1 1")); err != nil { // its own: ignored
		t.Fatal(err)
	}
	if err := nc.Publish(behindRoot+"acme", []byte("gone 1")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ts := b.tenant("acme")
	checkFor(t, 10*time.Second, func() error {
		if !ts.holding() {
			return fmt.Errorf("the peer's notice was not taken")
		}
		return nil
	})
	if b.tenant("other").holding() {
		t.Error("a notice for acme holds another tenant")
	}
	// No renewal: the hold ends by itself.
	checkFor(t, 10*time.Second, func() error {
		if ts.holding() {
			return fmt.Errorf("still holding")
		}
		return nil
	})
	// A "0" ends a hold at once.
	if err := nc.Publish(behindRoot+"acme", []byte("gone 1")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if !ts.holding() {
			return fmt.Errorf("the second notice was not taken")
		}
		return nil
	})
	if err := nc.Publish(behindRoot+"acme", []byte("gone 0")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if ts.holding() {
			return fmt.Errorf("still holding after the peer caught up")
		}
		return nil
	})
}
