package bridge

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
)

// testLog logs warnings and errors of the code under test to stderr.
func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// connect opens an in-process connection to srv, closed at cleanup.
func connect(t testing.TB, srv *natsembed.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatalf("connect to embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newBridge returns a Bridge on its own connection to srv.
func newBridge(t testing.TB, srv *natsembed.Server, cfg Config) *Bridge {
	t.Helper()
	if cfg.GatewayID == "" {
		cfg.GatewayID = "gw1"
	}
	b, err := New(connect(t, srv), cfg, testLog())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// checkFor polls fn until it returns nil or timeout passes.
func checkFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// collector records the messages a Handler receives.
type collector struct {
	mu   sync.Mutex
	msgs []*Message
}

func (c *collector) handle(m *Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

func (c *collector) all() []*Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *collector) topics() []string {
	var out []string
	for _, m := range c.all() {
		out = append(out, m.Topic)
	}
	return out
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// settle waits until every message the server sent to s before now has
// been handled, and ends s: flush the connections (the server has routed
// every earlier publish), then drain s (its handler has run for all of
// them).
func settle(t testing.TB, s *Subscription, conns ...*nats.Conn) {
	t.Helper()
	for _, nc := range append(conns, s.b.nc, s.b.liveConn()) {
		if err := nc.Flush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	if err := s.drain(timer.C); err != nil {
		t.Fatalf("drain: %v", err)
	}
	s.b.untrack(s)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startServer starts a real embedded NATS server with JetStream.
func startServer(t testing.TB) *natsembed.Server { return natstest.Start(t) }
