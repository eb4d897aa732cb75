package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestHTTPMiddleware(t *testing.T) {
	cfg := DefaultConfig("flockd-test")
	cfg.TraceSampleRatio = 1
	tel := setup(t, cfg)

	var span trace.Span
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tenants/{tenant}", func(w http.ResponseWriter, r *http.Request) {
		span = trace.SpanFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	h := HTTPMiddleware("flockd.control")(mux)

	req := httptest.NewRequest(http.MethodGet, "/v1/tenants/acme", nil)
	parent := testSpanContext()
	Propagator().Inject(trace.ContextWithSpanContext(context.Background(), parent), propagation.HeaderCarrier(req.Header))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204", rec.Code)
	}
	if span == nil {
		t.Fatal("handler did not run")
	}
	seen := span.SpanContext()
	if !seen.IsValid() || seen.TraceID() != parent.TraceID() || seen.SpanID() == parent.SpanID() {
		t.Fatalf("handler span = %+v, want a new span in trace %s", seen, parent.TraceID())
	}
	ro, ok := span.(sdktrace.ReadOnlySpan)
	if !ok {
		t.Fatalf("span is %T, want an SDK span", span)
	}
	if got, want := ro.Name(), "GET /v1/tenants/{tenant}"; got != want {
		t.Errorf("span name = %q, want %q", got, want)
	}
	if got, want := ro.Parent().SpanID(), parent.SpanID(); got != want {
		t.Errorf("span parent = %s, want %s", got, want)
	}

	// An unrouted request gets the middleware's name, not its raw path.
	var unrouted trace.Span
	h = HTTPMiddleware("flockd.control")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unrouted = trace.SpanFromContext(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/anything/x1", nil))
	if ro, ok := unrouted.(sdktrace.ReadOnlySpan); !ok || ro.Name() != "flockd.control POST" {
		t.Errorf("unrouted span = %v, want name %q", unrouted, "flockd.control POST")
	}

	if body := scrape(t, tel.MetricsHandler()); !strings.Contains(body, "http_server_request_duration_seconds") {
		t.Errorf("metrics lack http_server_request_duration_seconds from otelhttp:\n%s", body)
	}
}
