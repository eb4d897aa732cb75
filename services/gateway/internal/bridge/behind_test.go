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
	h := newSlowSubscriber(t, sub, mark)
	h.publishAll(t, pub)
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

// slowSubscriber is the subscriber of the back-pressure tests. Its first
// message waits until NATS has buffered more than twice the backlog mark
// behind it (or the publisher is done), so the backlog builds up whatever
// the machine's speed; it takes the next ones at once until the
// subscription has looked at its backlog, then one every 50 µs. NATS may
// buffer slowLimit messages for it: fewer than the test publishes, so
// without back-pressure NATS drops some.
type slowSubscriber struct {
	b        *Bridge
	s        *Subscription
	mark     int
	got      atomic.Int64
	disorder atomic.Bool
	done     atomic.Bool // the publisher has published everything
}

const (
	slowMessages = 6000
	slowLimit    = 3000
)

func newSlowSubscriber(t *testing.T, b *Bridge, mark int) *slowSubscriber {
	t.Helper()
	h := &slowSubscriber{b: b, mark: mark}
	subscribed := make(chan struct{})
	s, err := b.Subscribe("acme", "bp/#", "", func(m *Message) {
		<-subscribed
		if m.Payload[0] != byte(h.got.Load()) {
			h.disorder.Store(true)
		}
		switch got := h.got.Add(1); {
		case got == 1:
			for !h.done.Load() && h.pending() <= 2*h.mark {
				time.Sleep(time.Millisecond)
			}
		case got <= behindEvery:
			// Up to the subscription's first look at its backlog at
			// once, so it sees it while the publisher still publishes.
		default:
			time.Sleep(50 * time.Microsecond) // a slow client's pace
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	for _, ns := range s.subs {
		if err := ns.SetPendingLimits(slowLimit, -1); err != nil {
			t.Fatal(err)
		}
	}
	close(subscribed)
	return h
}

// pending is how many messages NATS holds for the subscriber.
func (h *slowSubscriber) pending() int {
	n := 0
	for _, ns := range h.s.subs {
		if p, _, err := ns.Pending(); err == nil {
			n += p
		}
	}
	return n
}

// publishAll publishes slowMessages durable messages through pub and
// checks that all of them reach the subscriber, in order, none dropped.
func (h *slowSubscriber) publishAll(t *testing.T, pub *Bridge) {
	t.Helper()
	for i := range slowMessages {
		if _, err := pub.PublishAsync(ctxT(t), &Message{Tenant: "acme", Topic: "bp/1", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	h.done.Store(true)
	checkFor(t, 60*time.Second, func() error {
		if d := h.s.Dropped(); d > 0 {
			t.Fatalf("NATS dropped %d messages after %d of %d arrived", d, h.got.Load(), slowMessages)
		}
		if h.got.Load() < slowMessages {
			return fmt.Errorf("received %d of %d", h.got.Load(), slowMessages)
		}
		return nil
	})
	if h.disorder.Load() {
		t.Error("messages arrived out of order")
	}
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
