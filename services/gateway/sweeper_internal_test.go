package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
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
