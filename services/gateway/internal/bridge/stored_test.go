package bridge

import (
	"fmt"
	"testing"
	"time"
)

// TestStored: a durable message is found by its deduplication id on its
// topic from a moment before it was stored, whatever JetStream's duplicate
// window says; another id, another topic, another tenant or a moment after
// it are not.
func TestStored(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	before := time.Now().Add(-time.Second)
	// Other messages on the topic, before and after, are read past.
	for i := range 5 {
		if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "q2/x", QoS: 2, Payload: []byte("other"), MsgID: fmt.Sprintf("other/%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "q2/x", QoS: 2, Payload: []byte("it"), MsgID: "dev-1/abc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "q2/x", QoS: 1, Payload: []byte("later")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		tenant, topic string
		id            string
		since         time.Time
		want          bool
	}{
		{"stored", "acme", "q2/x", "dev-1/abc", before, true},
		{"another id", "acme", "q2/x", "dev-1/abd", before, false},
		{"another topic", "acme", "q2/y", "dev-1/abc", before, false},
		{"another tenant", "other", "q2/x", "dev-1/abc", before, false},
		{"looked for after it", "acme", "q2/x", "dev-1/abc", time.Now().Add(time.Minute), false},
		{"looked for too long before it", "acme", "q2/x", "dev-1/abc", before.Add(-storedSpan - time.Minute), false},
	}
	for _, tt := range tests {
		got, at, err := b.Stored(ctxT(t), tt.tenant, tt.topic, tt.id, tt.since)
		if err != nil {
			t.Fatalf("%s: Stored: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: Stored = %v, want %v", tt.name, got, tt.want)
		}
		if got && (at.Before(before) || at.After(time.Now())) {
			t.Errorf("%s: stored at %v, want between %v and now", tt.name, at, before)
		}
	}
}

// TestRetainedSince: a retained message stored after a moment is reported
// as newer than it; before it, or no retained message at all, is not.
func TestRetainedSince(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	before := time.Now().Add(-time.Second)
	if newer, err := b.RetainedSince(ctxT(t), "acme", "r/1", before); err != nil || newer {
		t.Fatalf("RetainedSince with no retained stream = %v, %v; want false", newer, err)
	}
	if err := b.SetRetained(ctxT(t), &Message{Tenant: "acme", Topic: "r/1", Retain: true, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		topic string
		since time.Time
		want  bool
	}{
		{"r/1", before, true},
		{"r/1", time.Now().Add(time.Minute), false},
		{"r/2", before, false},
	} {
		newer, err := b.RetainedSince(ctxT(t), "acme", tt.topic, tt.since)
		if err != nil {
			t.Fatalf("RetainedSince(%s): %v", tt.topic, err)
		}
		if newer != tt.want {
			t.Errorf("RetainedSince(%s, %v) = %v, want %v", tt.topic, tt.since.Sub(before), newer, tt.want)
		}
	}
}
