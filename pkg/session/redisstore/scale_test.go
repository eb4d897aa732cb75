package redisstore_test

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
)

var scale = flag.Int("session.scale", 0, "run TestScale with this many sessions (e.g. 100000)")

// TestScale claims -session.scale sessions in a private redis-server, gives
// each an expiry and one subscription, disconnects them, reports Redis
// memory per session, does the same for as many sessions that also have a
// delayed will, takes those wills through DueWills and TakeWill, then
// sweeps every session through Expired and Delete.
//
//	go test ./pkg/session/redisstore -run TestScale -session.scale=100000 -v
func TestScale(t *testing.T) {
	n := *scale
	if n <= 0 {
		t.Skip("requires the -session.scale=N flag: a long scale run, not part of the suite")
	}
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := t.Context()
	s := redisstore.New(c, redisstore.Options{})
	t0 := time.UnixMilli(1_767_225_600_000)

	// fill claims, sets up and disconnects sessions from..from+n-1, each
	// with a will of delay seconds when delay is above 0.
	fill := func(from int, delay uint32) {
		t.Helper()
		const workers = 32
		before := usedMemory(t, c)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := from + w; i < from+n; i += workers {
					k := session.Key{Tenant: fmt.Sprintf("tenant-%d", i%100), ClientID: fmt.Sprintf("device-%08d", i)}
					cl, err := s.Claim(ctx, k, "gw-1", 5, false, t0)
					if err == nil {
						err = s.SetExpiry(ctx, k, cl.Epoch, 3600)
					}
					if err == nil {
						err = s.PutSubscriptions(ctx, k, cl.Epoch, []session.Subscription{{Filter: "devices/" + k.ClientID + "/cmd/#", QoS: 1}})
					}
					if err == nil && delay > 0 {
						err = s.SetWill(ctx, k, cl.Epoch, &session.Will{Topic: "devices/" + k.ClientID + "/gone", QoS: 1, Delay: delay})
					}
					if err == nil {
						err = s.Disconnect(ctx, k, cl.Epoch, t0)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		after := usedMemory(t, c)
		what, writes := "claim+set expiry+subscribe+disconnect", 4
		if delay > 0 {
			what, writes = "claim+set expiry+subscribe+set a delayed will+disconnect", 5
		}
		t.Logf("%d sessions: %s in %v (%.0f sessions/s, %.0f writes/s with %d workers)",
			n, what, took.Round(time.Millisecond), float64(n)/took.Seconds(), float64(writes*n)/took.Seconds(), workers)
		what = "hash + expiry index entry"
		if delay > 0 {
			what = "hash with the will + expiry and will index entries"
		}
		t.Logf("redis used_memory grew %d bytes: %.0f bytes per disconnected session (%s)",
			after-before, float64(after-before)/float64(n), what)
	}
	fill(0, 0)
	fill(n, 60)

	start := time.Now()
	taken := 0
	due := t0.Add(time.Minute)
	for {
		batch, err := s.DueWills(ctx, due, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, st := range batch {
			if w, err := s.TakeWill(ctx, st.Key, st.Epoch, due); err != nil || w == nil {
				t.Fatalf("TakeWill = %v, %v; want the will", w, err)
			}
		}
		taken += len(batch)
	}
	took := time.Since(start)
	if taken != n {
		t.Fatalf("took %d wills, want %d", taken, n)
	}
	t.Logf("took %d due wills (DueWills in batches of 1000, TakeWill one by one) in %v", taken, took.Round(time.Millisecond))

	n *= 2
	start = time.Now()
	swept := 0
	now := t0.Add(2 * time.Hour)
	for {
		batch, err := s.Expired(ctx, now, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, st := range batch {
			if err := s.Delete(ctx, st.Key, st.Epoch); err != nil {
				t.Fatal(err)
			}
		}
		swept += len(batch)
	}
	took = time.Since(start)
	if swept != n {
		t.Fatalf("swept %d sessions, want %d", swept, n)
	}
	t.Logf("swept %d expired sessions (Expired in batches of 1000, Delete one by one) in %v", swept, took.Round(time.Millisecond))
	if keys := c.DBSize(ctx).Val(); keys != 0 {
		t.Fatalf("%d keys left after the sweep, want 0", keys)
	}
}

func usedMemory(t testing.TB, c redis.UniversalClient) int64 {
	t.Helper()
	info, err := c.Info(t.Context(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("INFO memory has no used_memory: %q", info)
	return 0
}
