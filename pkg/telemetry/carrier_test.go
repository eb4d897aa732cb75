package telemetry

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"
)

func testSpanContext() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
}

func TestInjectExtractRoundTrip(t *testing.T) {
	setup(t, DefaultConfig("flockd-test")) // installs the global propagator

	member, err := baggage.NewMember("tenant_id", "acme")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatal(err)
	}
	sc := testSpanContext()
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bag)

	// nats.Header has this underlying type.
	h := map[string][]string{"Nats-Msg-Id": {"42"}}
	Inject(ctx, h)
	if got, want := h["traceparent"], []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}; !slices.Equal(got, want) {
		t.Fatalf("Inject: traceparent = %q, want %q", got, want)
	}
	if got := h["baggage"]; !slices.Equal(got, []string{"tenant_id=acme"}) {
		t.Fatalf("Inject: baggage = %q, want [tenant_id=acme]", got)
	}
	if got := h["Nats-Msg-Id"]; !slices.Equal(got, []string{"42"}) {
		t.Fatalf("Inject clobbered an unrelated header: %q", got)
	}

	out := Extract(context.Background(), h)
	got := trace.SpanContextFromContext(out)
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
		t.Fatalf("Extract() span context = %+v, want remote copy of %+v", got, sc)
	}
	if v := baggage.FromContext(out).Member("tenant_id").Value(); v != "acme" {
		t.Fatalf("Extract() baggage tenant_id = %q, want acme", v)
	}
}

func TestExtractWithoutHeaders(t *testing.T) {
	setup(t, DefaultConfig("flockd-test"))
	for _, h := range []map[string][]string{nil, {}, {"traceparent": {"garbage"}}} {
		if sc := trace.SpanContextFromContext(Extract(context.Background(), h)); sc.IsValid() {
			t.Errorf("Extract(%v) = valid span context %v, want none", h, sc)
		}
	}
}

func TestHeaderCarrier(t *testing.T) {
	h := HeaderCarrier{}
	h.Set("traceparent", "a")
	h.Set("traceparent", "b")
	if got := h.Get("traceparent"); got != "b" {
		t.Errorf("Get after two Sets = %q, want b", got)
	}
	if got := h.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q, want empty", got)
	}
	// A header that went through net/http arrives in canonical form.
	canon := HeaderCarrier{"Traceparent": {"c"}}
	if got := canon.Get("traceparent"); got != "c" {
		t.Errorf("Get(traceparent) on canonical key = %q, want c", got)
	}
	keys := HeaderCarrier{"a": {"1"}, "b": {"2"}}.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("Keys() = %q, want [a b]", keys)
	}
	if got := HeaderCarrier(nil).Get("traceparent"); got != "" {
		t.Errorf("nil carrier Get = %q, want empty", got)
	}
}
