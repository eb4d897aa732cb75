package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// willGateway is the will side of one gateway: its own NATS connection
// and bridge, over a session store shared with the others.
func willGateway(tb testing.TB, ns *natsembed.Server, id string, store session.Store) (*Wills, *bridge.Bridge) {
	tb.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		tb.Fatalf("connect to NATS: %v", err)
	}
	tb.Cleanup(nc.Close)
	log := slog.New(slog.DiscardHandler)
	br, err := bridge.New(nc, bridge.Config{GatewayID: id, PublishTimeout: 5 * time.Second}, log)
	if err != nil {
		tb.Fatalf("bridge.New: %v", err)
	}
	tb.Cleanup(func() { _ = br.Close() })
	w := NewWills(br, store, log, time.Now)
	tb.Cleanup(w.Close)
	return w, br
}

// disconnectWithWill leaves a session of acme disconnected at at with a
// QoS 1 will on wills/<id> after delay seconds, and returns its epoch.
func disconnectWithWill(tb testing.TB, store session.Store, id string, delay uint32, at time.Time) uint64 {
	tb.Helper()
	ctx := tb.Context()
	k := session.Key{Tenant: "acme", ClientID: id}
	c, err := store.Claim(ctx, k, "gw-gone", 5, true, at)
	if err == nil {
		err = store.SetExpiry(ctx, k, c.Epoch, 3600)
	}
	if err == nil {
		err = store.SetWill(ctx, k, c.Epoch, &session.Will{Topic: "wills/" + id, Payload: []byte(id), QoS: 1, Delay: delay})
	}
	if err == nil {
		err = store.Disconnect(ctx, k, c.Epoch, at)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c.Epoch
}

// publishedWills returns the durable messages of acme on wills/# by
// topic, each with the times it was published.
func publishedWills(tb testing.TB, br *bridge.Bridge) map[string][]time.Time {
	tb.Helper()
	got := map[string][]time.Time{}
	_, err := br.Replay(tb.Context(), "acme", []string{"wills/#"}, 0, func(m *bridge.Message) error {
		got[m.Topic] = append(got[m.Topic], m.PublishedAt)
		return nil
	})
	if err != nil {
		tb.Fatalf("Replay: %v", err)
	}
	return got
}

// TestWillsPublishDelayedWillOnce: due delayed wills are raced for by the
// timer of the gateway that disconnected the sessions and by the sweepers
// of two others; each will is published exactly once, and no session keeps
// it [MQTT-3.1.3-9].
func TestWillsPublishDelayedWillOnce(t *testing.T) {
	ns := natstest.Start(t)
	store := memstore.New()
	holder, br := willGateway(t, ns, "gw-a", store)
	sweepers := []*Wills{}
	for _, id := range []string{"gw-b", "gw-c"} {
		w, _ := willGateway(t, ns, id, store)
		sweepers = append(sweepers, w)
	}
	const n = 30
	lost := time.Now().Add(-10 * time.Second)
	for i := range n {
		id := fmt.Sprintf("dev-%d", i)
		epoch := disconnectWithWill(t, store, id, 5, lost)
		holder.Schedule(session.Key{Tenant: "acme", ClientID: id}, epoch, 0)
	}
	var wg sync.WaitGroup
	for _, w := range sweepers {
		wg.Go(func() {
			for {
				more, err := w.Sweep(t.Context(), 7)
				if err != nil {
					t.Errorf("Sweep: %v", err)
					return
				}
				if !more {
					return
				}
			}
		})
	}
	wg.Wait()
	holder.Close() // waits for the timers that ran
	// Whatever the timers left, a last sweep finds.
	if more, err := sweepers[0].Sweep(t.Context(), 100); err != nil || more {
		t.Fatalf("last Sweep = %v, %v; want nothing more", more, err)
	}

	got := publishedWills(t, br)
	for i := range n {
		topic := fmt.Sprintf("wills/dev-%d", i)
		if len(got[topic]) != 1 {
			t.Errorf("will on %s published %d times, want once", topic, len(got[topic]))
		}
		st, err := store.Load(t.Context(), session.Key{Tenant: "acme", ClientID: fmt.Sprintf("dev-%d", i)})
		if err != nil || st.Will != nil || st.Connected {
			t.Errorf("session dev-%d after its will: %+v, %v; want kept, without its will", i, st, err)
		}
	}
	if len(got) != n {
		t.Errorf("%d will topics published, want %d", len(got), n)
	}
}

// TestWillsTimerWaitsForStoredDueTime: a timer that runs before the due
// time the store recorded takes nothing and runs again for the rest; the
// will is published no earlier than due, and a sweep before then leaves
// it alone [MQTT-3.1.3-9].
func TestWillsTimerWaitsForStoredDueTime(t *testing.T) {
	ns := natstest.Start(t)
	store := memstore.New()
	w, br := willGateway(t, ns, "gw-a", store)
	// Due one second from the (millisecond) disconnect time.
	lost := time.Now().Truncate(time.Millisecond)
	due := lost.Add(time.Second)
	epoch := disconnectWithWill(t, store, "early", 1, lost)
	k := session.Key{Tenant: "acme", ClientID: "early"}
	w.Schedule(k, epoch, 0)
	if more, err := w.Sweep(t.Context(), 10); err != nil || more {
		t.Fatalf("Sweep before the due time = %v, %v", more, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := publishedWills(t, br)["wills/early"]
		if len(got) == 1 {
			if got[0].Before(due) {
				t.Fatalf("will published at %v, before its due time %v", got[0], due)
			}
			break
		}
		if len(got) > 1 || time.Now().After(deadline) {
			t.Fatalf("will published %d times; want once, after its delay", len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := store.Load(t.Context(), k); err != nil || st.Will != nil {
		t.Fatalf("session after its will: %+v, %v; want it without its will", st, err)
	}
}

// TestWillsTimerSparesResumedSession: a client that came back before its
// will delay ended (through any gateway) keeps its will unpublished: the
// timer's take is fenced by the new epoch [MQTT-3.1.3-9].
func TestWillsTimerSparesResumedSession(t *testing.T) {
	ns := natstest.Start(t)
	store := memstore.New()
	w, br := willGateway(t, ns, "gw-a", store)
	epoch := disconnectWithWill(t, store, "back", 5, time.Now().Add(-10*time.Second))
	k := session.Key{Tenant: "acme", ClientID: "back"}
	if _, err := store.Claim(t.Context(), k, "gw-b", 5, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.fire(k, epoch)
	if more, err := w.Sweep(t.Context(), 10); err != nil || more {
		t.Fatalf("Sweep = %v, %v", more, err)
	}
	if got := publishedWills(t, br); len(got) != 0 {
		t.Fatalf("published %v, want nothing", got)
	}
	if st, err := store.Load(t.Context(), k); err != nil || st.Will == nil || !st.Connected {
		t.Fatalf("resumed session: %+v, %v; want connected, its will kept for the new connection to decide", st, err)
	}
}

// TestWillsSweepIsPaced: the pacer runs before each delayed will the
// sweep takes, and a pacer that gives up ends the sweep.
func TestWillsSweepIsPaced(t *testing.T) {
	ns := natstest.Start(t)
	store := memstore.New()
	w, br := willGateway(t, ns, "gw-a", store)
	lost := time.Now().Add(-10 * time.Second)
	for i := range 3 {
		disconnectWithWill(t, store, fmt.Sprintf("p-%d", i), 1, lost)
	}
	stop := errors.New("pacer gave up")
	var calls atomic.Int32
	w.SetPacer(func(ctx context.Context) error {
		if calls.Add(1) == 3 {
			return stop
		}
		return ctx.Err()
	})
	if _, err := w.Sweep(t.Context(), 10); !errors.Is(err, stop) {
		t.Fatalf("Sweep with a pacer that gives up at the third will = %v, want its error", err)
	}
	if got := publishedWills(t, br); len(got) != 2 {
		t.Fatalf("published %d wills, want the 2 the pacer let through", len(got))
	}
	w.SetPacer(func(ctx context.Context) error { calls.Add(1); return ctx.Err() })
	if more, err := w.Sweep(t.Context(), 10); err != nil || more {
		t.Fatalf("Sweep = %v, %v", more, err)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("pacer called %d times, want 4 (one per will taken or tried)", n)
	}
	if got := publishedWills(t, br); len(got) != 3 {
		t.Fatalf("published %d wills, want 3", len(got))
	}
}
