package bridge

import (
	"fmt"
	"testing"
	"time"
)

// TestPublishAsyncOrder publishes without waiting and then waits the
// futures in order: the sequences follow the calls and the subscriber
// sees the messages in that order.
func TestPublishAsyncOrder(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var c collector
	if _, err := b.Subscribe("acme", "a/#", "", c.handle); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	futs := make([]*PubFuture, 0, n)
	for i := range n {
		f, err := b.PublishAsync(ctxT(t), &Message{Tenant: "acme", Topic: "a/1", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatalf("PublishAsync %d: %v", i, err)
		}
		futs = append(futs, f)
	}
	for i, f := range futs {
		seq, err := f.Wait(ctxT(t))
		if err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("message %d stored as sequence %d, want %d", i, seq, i+1)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if c.len() < n {
			return fmt.Errorf("received %d of %d", c.len(), n)
		}
		return nil
	})
	for i, m := range c.all() {
		if string(m.Payload) != fmt.Sprint(i) || m.Seq != uint64(i+1) {
			t.Fatalf("message %d: payload %s seq %d: out of order", i, m.Payload, m.Seq)
		}
	}
	if _, err := b.PublishAsync(ctxT(t), &Message{Tenant: "acme", Topic: "a/1"}); err == nil {
		t.Error("PublishAsync of a QoS 0 message succeeded, want an error")
	}
}
