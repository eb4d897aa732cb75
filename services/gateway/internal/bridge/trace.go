package bridge

import (
	"context"
	"net/http"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceContext carries a publisher's span across NATS in the W3C
// traceparent/tracestate headers, so a trace continues from the publishing
// gateway to every delivering one. It is used whatever global propagator
// the process set, so that gateways always understand each other.
var traceContext propagation.TraceContext

// traceHeader returns the NATS headers carrying ctx's span, or nil when ctx
// has none (the common, header-free case).
func traceHeader(ctx context.Context) nats.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := nats.Header{}
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	return h
}

// traceOf returns the publisher's span carried by a message's headers, as
// a remote span context; the zero value when there is none.
func traceOf(h nats.Header) trace.SpanContext {
	if len(h) == 0 || http.Header(h).Get("Traceparent") == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.HeaderCarrier(h)))
}
