package gateway

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/conn"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {1204, "1,204"},
		{20000, "20,000"}, {1234567, "1,234,567"}, {-1204, "-1,204"},
	} {
		if got := count(tc.n); got != tc.want {
			t.Errorf("count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestSweepStatsString(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    sweepStats
		want string
	}{
		{"plain", sweepStats{orphaned: 1204, published: 1100}, "1,204 sessions disconnected, 1,100 wills published"},
		{"all", sweepStats{orphaned: 5, published: 2, delayed: 1, returned: 3, failed: 1},
			"5 sessions disconnected, 2 wills published, 1 wills to publish when their delay ends, 3 clients had reconnected meanwhile, 1 sessions failed (see the warnings above)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPacer: waits are spaced by the rate across goroutines, in a bubble
// whose clock only moves when every goroutine waits.
func TestPacer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pacer{every: 100 * time.Millisecond}
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := p.wait(t.Context()); err != nil {
					t.Errorf("wait = %v", err)
				}
				mu.Lock()
				at = append(at, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(at)
		want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
		if !slices.Equal(at, want) {
			t.Fatalf("waits ended at %v, want %v", at, want)
		}
		// After a quiet spell the next event goes at once; no burst is saved up.
		time.Sleep(time.Second)
		before := time.Now()
		for range 2 {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(before); d != 100*time.Millisecond {
			t.Fatalf("two waits after a pause took %v, want 100ms", d)
		}
		// The next slot is 100ms away: a cancelled wait ends at once.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := p.wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait with a cancelled context = %v, want context.Canceled", err)
		}
	})
}

// newTestSweeper returns a sweeper for gateway gw-live over store, whose
// wills go to a real NATS server; nothing reads the heartbeats.
func newTestSweeper(t testing.TB, store session.Store) *sweeper {
	t.Helper()
	ns := natstest.Start(t)
	nc, err := nats.Connect("", nats.InProcessServer(ns.NATS()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	log := slog.New(slog.DiscardHandler)
	br, err := bridge.New(nc, bridge.Config{GatewayID: "gw-live"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = br.Close() })
	return newSweeper(SweeperConfig{WillRate: 1_000_000}, "gw-live", nil, store, conn.NewWills(br, store, log, time.Now), log, time.Now)
}

// TestSweeperOrphan walks one listed session of a dead gateway through
// orphan and checks what it did: which wills are published now, later or
// by the expiry sweeper, and that a client back meanwhile is left alone
// [MQTT-3.1.2-8] [MQTT-3.1.3-9] [MQTT-3.1.2-23].
func TestSweeperOrphan(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name        string
		delay       uint32 // will delay; 0 when noWill is set means no will
		noWill      bool
		expiry      uint32
		lost        time.Duration // how long ago the connection was lost
		returns     bool          // the client reconnects between listing and orphan
		want        sweepStats
		wantSession string // "deleted", "connected", "no will", "will kept"
	}{
		{name: "will due, expiry 0", expiry: 0, lost: time.Second,
			want: sweepStats{orphaned: 1, published: 1}, wantSession: "deleted"},
		{name: "will due, session kept", expiry: 3600, lost: time.Second,
			want: sweepStats{orphaned: 1, published: 1}, wantSession: "no will"},
		{name: "will after its delay", delay: 60, expiry: 3600, lost: time.Second,
			want: sweepStats{orphaned: 1, delayed: 1}, wantSession: "will kept"},
		{name: "will delay past since the crash", delay: 60, expiry: 3600, lost: 2 * time.Minute,
			want: sweepStats{orphaned: 1, published: 1}, wantSession: "no will"},
		{name: "session ends before the will delay", delay: 60, expiry: 10, lost: time.Second,
			want: sweepStats{orphaned: 1}, wantSession: "will kept"},
		{name: "session expired since the crash", delay: 60, expiry: 10, lost: time.Minute,
			want: sweepStats{orphaned: 1, published: 1}, wantSession: "deleted"},
		{name: "no will", noWill: true, expiry: 3600, lost: time.Second,
			want: sweepStats{orphaned: 1}, wantSession: "no will"},
		{name: "client back first", expiry: 3600, lost: time.Second, returns: true,
			want: sweepStats{returned: 1}, wantSession: "connected"},
		{name: "client back first, delayed will", delay: 60, expiry: 3600, lost: time.Second, returns: true,
			want: sweepStats{returned: 1}, wantSession: "connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := memstore.New()
			w := newTestSweeper(t, store)
			ctx := t.Context()
			k := session.Key{Tenant: "acme", ClientID: "c"}
			c, err := store.Claim(ctx, k, "gw-dead", 5, false, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.SetExpiry(ctx, k, c.Epoch, tc.expiry); err != nil {
				t.Fatal(err)
			}
			if !tc.noWill {
				if err := store.SetWill(ctx, k, c.Epoch, &session.Will{Topic: "wills/c", Delay: tc.delay}); err != nil {
					t.Fatal(err)
				}
			}
			listed, _, err := store.Owned(ctx, "gw-dead", "", 10)
			if err != nil || len(listed) != 1 {
				t.Fatalf("Owned = %d sessions, %v", len(listed), err)
			}
			if tc.returns {
				if _, err := store.Claim(ctx, k, "gw-other", 5, false, now); err != nil {
					t.Fatal(err)
				}
			}
			var st sweepStats
			w.orphan(ctx, listed[0], "gw-dead", now.Add(-tc.lost), &st)
			if st != tc.want {
				t.Errorf("orphan did %+v, want %+v", st, tc.want)
			}
			got, err := store.Load(ctx, k)
			var state string
			switch {
			case errors.Is(err, session.ErrNotFound):
				state = "deleted"
			case err != nil:
				t.Fatal(err)
			case got.Connected:
				state = "connected"
			case got.Will == nil:
				state = "no will"
			default:
				state = "will kept"
			}
			if state != tc.wantSession {
				t.Errorf("session after orphan: %s, want %s", state, tc.wantSession)
			}
			// A will left for its delay is the store's to list when due.
			due, err := store.DueWills(ctx, now.Add(1000*time.Hour), 10)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(due); n != tc.want.delayed {
				t.Errorf("the store lists %d delayed wills, want %d", n, tc.want.delayed)
			}
		})
	}
}

// BenchmarkSweeperOrphan measures the sweeper's ceiling, unpaced: one op is
// a crashed gateway's session listed, its QoS 1 will taken and published
// to JetStream, and the session orphaned and ended (expiry 0). It bounds
// what Config.Sweeper.WillRate can ask for.
//
//	go test ./services/gateway -run '^$' -bench SweeperOrphan -benchtime 2000x
func BenchmarkSweeperOrphan(b *testing.B) {
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
			store := tc.store(b)
			w := newTestSweeper(b, store)
			ctx := b.Context()
			for i := range b.N {
				k := session.Key{Tenant: "acme", ClientID: "dev-" + strconv.Itoa(i)}
				c, err := store.Claim(ctx, k, "gw-dead", 4, true, time.Now())
				if err == nil {
					err = store.SetWill(ctx, k, c.Epoch, &session.Will{Topic: "wills/" + k.ClientID, Payload: []byte("gone"), QoS: 1})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			var st sweepStats
			at := time.Now()
			b.ResetTimer()
			if err := w.each(ctx, "gw-dead", func(page []*session.State) bool {
				for _, s := range page {
					w.orphan(ctx, s, "gw-dead", at, &st)
				}
				return true
			}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if st.published != b.N || st.orphaned != b.N {
				b.Fatalf("swept %+v, want %d wills published", st, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "wills/s")
		})
	}
}
