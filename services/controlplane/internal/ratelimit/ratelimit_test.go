package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
)

func TestWindowFor(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		burst int
		want  Window
	}{
		{50, 100, Window{2 * time.Second, 100}},
		{10.0 / 3600, 5, Window{30 * time.Minute, 5}},
		{0.001, 3, Window{3000 * time.Second, 3}},
		{100000, 100000, Window{time.Second, 100000}},
		{1000, 10, Window{time.Second, 1000}}, // a window is at least a second
		{2.5, 0, Window{time.Second, 3}},
		{0, 10, Window{}},
	} {
		if got := WindowFor(tt.rate, tt.burst); got != tt.want {
			t.Errorf("WindowFor(%v, %d) = %+v, want %+v", tt.rate, tt.burst, got, tt.want)
		}
	}
}

func TestToken(t *testing.T) {
	for in, want := range map[string]string{"t-acme": "t-acme", "0123abcd": "0123abcd"} {
		if got := token(in); got != want {
			t.Errorf("token(%q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"", "a.b", "a*", "10.0.0.1", strings.Repeat("a", 129)} {
		got := token(in)
		if !strings.HasPrefix(got, "~") || strings.ContainsAny(got, ".*> ") || got == token(in+"x") {
			t.Errorf("token(%q) = %q, want a distinct ~hex token", in, got)
		}
	}
}

// connect opens a connection of its own to ns.
func connect(t testing.TB, ns *natsembed.Server) jetstream.JetStream {
	t.Helper()
	_, js := natstest.JetStream(t, ns)
	return js
}

// instance is one control plane's counter, on its own NATS connection.
func instance(t testing.TB, ns *natsembed.Server, cfg Config, now func() time.Time) (*Counter, jetstream.JetStream) {
	t.Helper()
	js := connect(t, ns)
	c, err := Open(context.Background(), js, cfg, now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c, js
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func key(id string, limit int64) Key {
	return Key{Scope: "key", ID: id, Window: Window{time.Minute, limit}}
}
func tenantKey(id string, limit int64) Key {
	return Key{Scope: "tenant", ID: id, Window: Window{time.Minute, limit}}
}

// TestLimitHoldsAcrossInstances: two counters on two connections share
// each window's count; other ids and the next window start afresh.
func TestLimitHoldsAcrossInstances(t *testing.T) {
	ns := natstest.Start(t)
	clk := newClock(time.Date(2026, 11, 25, 10, 0, 10, 0, time.UTC))
	a, _ := instance(t, ns, Config{MaxPeriod: time.Minute}, clk.now)
	b, _ := instance(t, ns, Config{MaxPeriod: time.Minute}, clk.now)
	ctx := context.Background()
	for i := range 5 {
		c := a
		if i%2 == 1 {
			c = b
		}
		if d, err := c.Take(ctx, key("k1", 5)); err != nil || !d.Allowed {
			t.Fatalf("request %d = %+v, %v; want allowed", i, d, err)
		}
	}
	d, err := b.Take(ctx, key("k1", 5))
	if err != nil || d.Allowed || d.Scope != "key" || d.RetryAfter != 50*time.Second {
		t.Fatalf("sixth request = %+v, %v; want refused by key, retry after 50s", d, err)
	}
	if d, err := a.Take(ctx, key("k2", 5)); err != nil || !d.Allowed {
		t.Errorf("another key = %+v, %v; want allowed", d, err)
	}
	// The tenant's limit refuses although the key's allows.
	for range 2 {
		if _, err := a.Take(ctx, key("k3", 10), tenantKey("t-a", 2)); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := b.Take(ctx, key("k3", 10), tenantKey("t-a", 2)); err != nil || d.Allowed || d.Scope != "tenant" {
		t.Errorf("third request of the tenant = %+v, %v; want refused by tenant", d, err)
	}
	// Zero windows are not counted.
	if d, err := a.Take(ctx, Key{Scope: "key", ID: "k1"}); err != nil || !d.Allowed {
		t.Errorf("a zero window = %+v, %v; want allowed", d, err)
	}
	clk.add(time.Minute)
	if d, err := b.Take(ctx, key("k1", 5)); err != nil || !d.Allowed {
		t.Errorf("first request of the next window = %+v, %v; want allowed", d, err)
	}
}

// TestConcurrentTakesCountExactly: concurrent requests through two
// instances admit exactly the limit (the server adds atomically).
func TestConcurrentTakesCountExactly(t *testing.T) {
	ns := natstest.Start(t)
	clk := newClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	a, _ := instance(t, ns, Config{MaxPeriod: time.Minute}, clk.now)
	b, _ := instance(t, ns, Config{MaxPeriod: time.Minute}, clk.now)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			d, err := c.Take(context.Background(), key("hot", 25))
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Errorf("%d of 60 concurrent requests allowed, want 25", n)
	}
}

// TestOpenRaisesTheAgeLimitOnly: an instance with longer windows makes the
// stream keep counters longer; one with shorter windows leaves it.
func TestOpenRaisesTheAgeLimitOnly(t *testing.T) {
	ns := natstest.Start(t)
	_, js := instance(t, ns, Config{MaxPeriod: 10 * time.Second}, nil)
	maxAge := func() time.Duration {
		t.Helper()
		s, err := js.Stream(context.Background(), DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.MaxAge
	}
	if got := maxAge(); got != 20*time.Second {
		t.Fatalf("MaxAge = %s, want 20s", got)
	}
	instance(t, ns, Config{MaxPeriod: time.Second}, nil)
	if got := maxAge(); got != 20*time.Second {
		t.Errorf("after an instance with 1s windows MaxAge = %s, want 20s", got)
	}
	instance(t, ns, Config{MaxPeriod: time.Minute}, nil)
	if got := maxAge(); got != 2*time.Minute {
		t.Errorf("after an instance with 1m windows MaxAge = %s, want 2m", got)
	}
}

// TestTakeFailsWithoutNATS: with no stream to count in, or no connection,
// Take returns an error for the caller to fail open on; a lost stream is
// created again.
func TestTakeFailsWithoutNATS(t *testing.T) {
	ns := natstest.Start(t)
	c, js := instance(t, ns, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, DefaultStream); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Take(ctx, key("k1", 5)); err == nil {
		t.Error("Take without the stream succeeded")
	}
	// The failed Take created the stream again: counting resumes.
	if d, err := c.Take(ctx, key("k1", 5)); err != nil || !d.Allowed {
		t.Errorf("Take after the stream was lost and recreated = %+v, %v", d, err)
	}
	js.Conn().Close()
	if _, err := c.Take(ctx, key("k1", 5)); err == nil {
		t.Error("Take on a closed connection succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{{Stream: "a.b"}, {Replicas: 7}, {MaxPeriod: 2 * time.Hour}, {MaxPeriod: -1}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", cfg)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate(zero) = %v", err)
	}
}

// TestOpenRefusesAStreamThatCannotCount: a stream without message counters
// (as an older NATS server would create it) is ErrUnsupported.
func TestOpenRefusesAStreamThatCannotCount(t *testing.T) {
	js := connect(t, natstest.Start(t))
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DefaultStream, Subjects: []string{"flockrate." + DefaultStream + ".>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, js, Config{}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Open over a stream without counters = %v, want ErrUnsupported", err)
	}
}

// BenchmarkTake: the shared stage of one authenticated request (an API key
// and a tenant counted in one round trip) over 100 keys of 10 tenants:
// "serial" is the latency one request adds, "parallel" (4 goroutines per
// CPU) the throughput of one instance.
func BenchmarkTake(b *testing.B) {
	ns := natstest.Start(b)
	c, _ := instance(b, ns, Config{}, nil)
	w := Window{Period: time.Second, Limit: 1 << 40}
	var n atomic.Int64
	take := func(b *testing.B) {
		i := n.Add(1)
		k := Key{Scope: "key", ID: fmt.Sprintf("k%d", i%100), Window: w}
		t := Key{Scope: "tenant", ID: fmt.Sprintf("t%d", i%10), Window: w}
		if _, err := c.Take(context.Background(), k, t); err != nil {
			b.Error(err) // not Fatal: it may run on a RunParallel goroutine
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			take(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				take(b)
			}
		})
	})
}
