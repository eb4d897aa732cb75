package bridge

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// exercise runs every operation of a Bridge once on its own connection and
// closes both.
func exercise(t *testing.T, srvConn func() *nats.Conn) {
	t.Helper()
	nc := srvConn()
	defer nc.Close()
	b, err := New(nc, Config{GatewayID: "leak"}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	var c collector
	if _, err := b.Subscribe("acme", "#", "", c.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("acme", "a/+", "grp", c.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := b.OnKick(func(Kick) {}); err != nil {
		t.Fatal(err)
	}
	for qos := range byte(3) {
		if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: "a/b", QoS: qos}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetRetained(ctx, &Message{Tenant: "acme", Topic: "a/b", Payload: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Retained(ctx, "acme", "#", func(*Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Replay(ctx, "acme", []string{"#"}, 0, func(*Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Kick(ctx, "leak", Kick{Tenant: "acme", ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNoGoroutineLeak checks that a closed Bridge, with its connection
// closed, leaves no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	srv := startServer(t)
	dial := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	exercise(t, dial) // creates the streams, whose server goroutines stay
	settled := func(base int) func() error {
		return func() error {
			if n := runtime.NumGoroutine(); n > base {
				return fmt.Errorf("%d goroutines, want at most %d", n, base)
			}
			return nil
		}
	}
	// Let the first round's connection wind down, then take the baseline.
	var base int
	checkFor(t, 10*time.Second, func() error {
		before := runtime.NumGoroutine()
		time.Sleep(20 * time.Millisecond)
		if base = runtime.NumGoroutine(); base != before {
			return fmt.Errorf("goroutine count still moving: %d then %d", before, base)
		}
		return nil
	})
	exercise(t, dial)
	checkFor(t, 10*time.Second, settled(base))
}
