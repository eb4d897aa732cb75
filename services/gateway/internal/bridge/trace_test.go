package bridge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func TestTracePropagation(t *testing.T) {
	srv := startServer(t)
	pub, sub := newBridge(t, srv, Config{GatewayID: "pub"}), newBridge(t, srv, Config{GatewayID: "sub"})
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	traced := trace.ContextWithSpanContext(ctxT(t), span)
	check := func(what string, m *Message, want bool) {
		t.Helper()
		switch {
		case want && (m.Trace.TraceID() != span.TraceID() || m.Trace.SpanID() != span.SpanID() || !m.Trace.IsRemote()):
			t.Errorf("%s: Trace = %v, want the publisher's span as remote", what, m.Trace)
		case !want && m.Trace.IsValid():
			t.Errorf("%s: Trace = %v, want none", what, m.Trace)
		}
	}
	var c collector
	if _, err := sub.Subscribe("acme", "tr/#", "", c.handle); err != nil {
		t.Fatal(err)
	}
	for i, ctx := range []context.Context{traced, traced, ctxT(t), ctxT(t)} {
		if _, err := pub.Publish(ctx, &Message{Tenant: "acme", Topic: fmt.Sprintf("tr/%d", i), QoS: byte(i % 2)}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if c.len() < 4 {
			return fmt.Errorf("received %d of 4", c.len())
		}
		return nil
	})
	for _, m := range c.all() {
		check("live "+m.Topic, m, m.Topic == "tr/0" || m.Topic == "tr/1")
	}
	replayed := 0
	if _, err := pub.Replay(ctxT(t), "acme", []string{"tr/#"}, 0, func(m *Message) error {
		replayed++
		check("replayed "+m.Topic, m, m.Topic == "tr/1")
		return nil
	}); err != nil || replayed != 2 {
		t.Fatalf("Replay: %d messages, %v; want 2", replayed, err)
	}
	m, err := pub.Fetch(ctxT(t), "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	check("fetched", m, true)
	if err := pub.SetRetained(traced, &Message{Tenant: "acme", Topic: "tr/r", Payload: []byte("x"), ExpirySet: true, MessageExpiry: 60}); err != nil {
		t.Fatal(err)
	}
	retained := 0
	if err := pub.Retained(ctxT(t), "acme", "tr/r", func(m *Message) error { retained++; check("retained", m, true); return nil }); err != nil || retained != 1 {
		t.Fatalf("Retained: %d messages, %v; want 1", retained, err)
	}
}
