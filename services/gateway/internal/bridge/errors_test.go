package bridge

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockmq/flockmq/internal/natsembed"
)

func TestPublishStorageFull(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), MaxStore: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b := newBridge(t, srv, Config{MaxQueuedBytes: -1})
	m := &Message{Tenant: "acme", Topic: "big", QoS: 1, Payload: bytes.Repeat([]byte("x"), 64<<10)}
	var pubErr error
	for range 64 { // 4 MiB into a 1 MiB store
		if _, pubErr = b.Publish(ctxT(t), m); pubErr != nil {
			break
		}
	}
	if !errors.Is(pubErr, ErrQueueFull) {
		t.Errorf("Publish beyond JetStream's storage: %v, want ErrQueueFull", pubErr)
	}
}

func TestPublishTooLarge(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	big := bytes.Repeat([]byte("x"), 9<<20) // the embedded server allows 8 MiB
	for _, qos := range []byte{0, 1} {
		if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "big", QoS: qos, Payload: big}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Publish QoS %d of 9 MiB: %v, want ErrTooLarge", qos, err)
		}
	}
}

func TestPublishUnavailable(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b := newBridge(t, srv, Config{PublishTimeout: 200 * time.Millisecond})
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "x", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "x", QoS: 1}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Publish with NATS down: %v, want ErrUnavailable", err)
	}
	if _, err := b.LastSeq(ctxT(t), "acme"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("LastSeq with NATS down: %v, want ErrUnavailable", err)
	}
}

func TestApplyLimits(t *testing.T) {
	srv := startServer(t)
	var limit atomic.Int64
	limit.Store(1)
	b := newBridge(t, srv, Config{TenantLimits: func(string) (Limits, bool) {
		return Limits{MaxRetained: limit.Load()}, true
	}})
	ctx := ctxT(t)
	if err := b.SetRetained(ctx, &Message{Tenant: "acme", Topic: "a", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetRetained(ctx, &Message{Tenant: "acme", Topic: "b", Payload: []byte("1")}); !errors.Is(err, ErrRetainedFull) {
		t.Fatalf("SetRetained beyond a limit of 1: %v, want ErrRetainedFull", err)
	}
	limit.Store(2)
	if err := b.ApplyLimits(ctx, "acme"); err != nil {
		t.Fatalf("ApplyLimits: %v", err)
	}
	if err := b.SetRetained(ctx, &Message{Tenant: "acme", Topic: "b", Payload: []byte("1")}); err != nil {
		t.Errorf("SetRetained after raising the limit: %v", err)
	}
}
