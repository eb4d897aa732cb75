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
// memory per session, then sweeps them all through Expired and Delete.
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
	before := usedMemory(t, c)

	const workers = 32
	t0 := time.UnixMilli(1_767_225_600_000)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				k := session.Key{Tenant: fmt.Sprintf("tenant-%d", i%100), ClientID: fmt.Sprintf("device-%08d", i)}
				cl, err := s.Claim(ctx, k, "gw-1", 5, false, t0)
				if err == nil {
					err = s.SetExpiry(ctx, k, cl.Epoch, 3600)
				}
				if err == nil {
					err = s.PutSubscriptions(ctx, k, cl.Epoch, []session.Subscription{{Filter: "devices/" + k.ClientID + "/cmd/#", QoS: 1}})
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
	t.Logf("%d sessions: claim+set expiry+subscribe+disconnect in %v (%.0f sessions/s, %.0f writes/s with %d workers)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), 4*float64(n)/took.Seconds(), workers)
	t.Logf("redis used_memory grew %d bytes: %.0f bytes per disconnected session (hash + expiry index entry)",
		after-before, float64(after-before)/float64(n))

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
