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
		got, err := b.Stored(ctxT(t), tt.tenant, tt.topic, tt.id, tt.since)
		if err != nil {
			t.Fatalf("%s: Stored: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: Stored = %v, want %v", tt.name, got, tt.want)
		}
	}
}
