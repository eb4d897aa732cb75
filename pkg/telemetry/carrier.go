package telemetry

import (
	"context"
	"net/textproto"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts a multi-valued header map shaped like nats.Header to
// a propagation.TextMapCarrier. Keys are used exactly as given, as NATS
// header keys are case-sensitive; the W3C propagators write lower-case keys
// ("traceparent", "tracestate", "baggage"). Get falls back to the canonical
// MIME form so headers that passed through an HTTP hop ("Traceparent") are
// still found. For an http.Header use propagation.HeaderCarrier, which
// canonicalizes keys as net/http expects.
//
// Set on a nil map panics, as writing to any nil map does; pass a map
// made with make when injecting.
type HeaderCarrier map[string][]string

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value for key, or "".
func (h HeaderCarrier) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	if v := h[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces every value for key with value.
func (h HeaderCarrier) Set(key, value string) {
	h[key] = []string{value}
}

// Keys lists the keys present in the map.
func (h HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the span context and baggage carried by ctx into h using
// the global propagator. Call it before publishing a NATS message with h as
// its headers.
func Inject(ctx context.Context, h map[string][]string) {
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier(h))
}

// Extract returns ctx extended with the remote span context and baggage
// found in h using the global propagator. Call it when consuming a NATS
// message, then start the consumer span from the returned context.
func Extract(ctx context.Context, h map[string][]string) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier(h))
}
