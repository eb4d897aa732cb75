package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	collmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// setup runs Setup and shuts the providers down when the test ends.
func setup(t testing.TB, cfg Config) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Setup() = %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return tel
}

func scrape(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200; body %q", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func TestSetupPrometheus(t *testing.T) {
	cfg := DefaultConfig("flockd-test")
	cfg.ServiceVersion = "v0.0.1-test"
	cfg.InstanceID = "node-7"
	tel := setup(t, cfg)

	if otel.GetMeterProvider() != tel.MeterProvider() {
		t.Fatal("Setup did not install its MeterProvider as the global")
	}
	if otel.GetTracerProvider() != tel.TracerProvider() {
		t.Fatal("Setup did not install its TracerProvider as the global")
	}

	counter, err := otel.Meter("github.com/flockmq/flockmq/pkg/telemetry/test").Int64Counter(
		"flockmq.test.messages.published", metric.WithUnit("{message}"), metric.WithDescription("Messages published in the test."))
	if err != nil {
		t.Fatalf("Int64Counter() = %v", err)
	}
	counter.Add(context.Background(), 3, metric.WithAttributes(attribute.String("tenant_id", "acme")))
	counter.Add(context.Background(), 4, metric.WithAttributes(attribute.String("tenant_id", "acme")))

	body := scrape(t, tel.MetricsHandler())
	want := `flockmq_test_messages_published_total{otel_scope_name="github.com/flockmq/flockmq/pkg/telemetry/test",otel_scope_schema_url="",otel_scope_version="",tenant_id="acme"} 7`
	if !strings.Contains(body, "tenant_id=\"acme\"") || !strings.Contains(body, "flockmq_test_messages_published_total{") {
		t.Fatalf("metrics output lacks the counter with tenant_id:\n%s", body)
	}
	if !strings.Contains(body, want) {
		t.Errorf("metrics output lacks %q:\n%s", want, body)
	}
	for _, attr := range []string{"go_goroutines ", `service_name="flockd-test"`, `service_version="v0.0.1-test"`, `service_instance_id="node-7"`} {
		if !strings.Contains(body, attr) {
			t.Errorf("target_info lacks %s:\n%s", attr, body)
		}
	}
}

func TestMetricsHandlerPrometheusOff(t *testing.T) {
	cfg := DefaultConfig("flockd-test")
	cfg.Prometheus = false
	tel := setup(t, cfg)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /metrics with Prometheus off = %d, want 404", rec.Code)
	}
}

func TestSetupRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig("flockd-test")
	cfg.TraceSampleRatio = 2
	_, err := Setup(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "telemetry: trace_sample_ratio:") {
		t.Fatalf("Setup(ratio 2) = %v, want trace_sample_ratio error", err)
	}
}

func TestSamplingParentBased(t *testing.T) {
	cfg := DefaultConfig("flockd-test")
	cfg.TraceSampleRatio = 0.000001 // effectively never sample a new root
	tel := setup(t, cfg)
	tr := tel.TracerProvider().Tracer("test")

	// A sampled remote parent is followed even though the ratio is tiny.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	_, child := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "child")
	defer child.End()
	if !child.SpanContext().IsSampled() {
		t.Error("child of a sampled parent was not sampled")
	}

	// An unsampled remote parent is followed too.
	unsampled := parent.WithTraceFlags(0)
	_, child2 := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), unsampled), "child2")
	defer child2.End()
	if child2.SpanContext().IsSampled() {
		t.Error("child of an unsampled parent was sampled")
	}

	// New roots are sampled at the ratio; at 1e-6 the chance that more than
	// five of 100 are sampled is negligible.
	sampledRoots := 0
	for range 100 {
		_, root := tr.Start(context.Background(), "root")
		if root.SpanContext().IsSampled() {
			sampledRoots++
		}
		root.End()
	}
	if sampledRoots > 5 {
		t.Errorf("%d of 100 roots sampled at ratio 1e-6, want about 0", sampledRoots)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	tel, err := Setup(context.Background(), DefaultConfig("flockd-test"), nil)
	if err != nil {
		t.Fatalf("Setup() = %v", err)
	}
	for i := range 3 {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown() call %d = %v, want nil", i+1, err)
		}
	}
}

// otlpServer records OTLP/HTTP export requests.
type otlpServer struct {
	mu      sync.Mutex
	traces  []*colltracepb.ExportTraceServiceRequest
	metrics []*collmetricpb.ExportMetricsServiceRequest
	errs    []string
}

func (s *otlpServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		s.errs = append(s.errs, r.URL.Path+": content type "+ct)
	}
	var resp proto.Message
	switch r.URL.Path {
	case "/otlp/v1/traces":
		req := &colltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			s.errs = append(s.errs, "traces: "+err.Error())
		}
		s.traces = append(s.traces, req)
		resp = &colltracepb.ExportTraceServiceResponse{}
	case "/otlp/v1/metrics":
		req := &collmetricpb.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			s.errs = append(s.errs, "metrics: "+err.Error())
		}
		s.metrics = append(s.metrics, req)
		resp = &collmetricpb.ExportMetricsServiceResponse{}
	default:
		s.errs = append(s.errs, "unexpected path "+r.URL.Path)
		http.NotFound(w, r)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

func TestOTLPHTTPExport(t *testing.T) {
	rec := &otlpServer{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)

	cfg := DefaultConfig("flockd-test")
	cfg.Prometheus = false
	cfg.OTLPEndpoint = srv.URL + "/otlp"
	cfg.TraceSampleRatio = 1
	cfg.MetricInterval = time.Hour // only the Shutdown flush exports
	tel, err := Setup(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Setup() = %v", err)
	}

	_, span := otel.Tracer("test").Start(context.Background(), "bridge.publish")
	span.End()
	c, err := otel.Meter("test").Int64Counter("flockmq.test.connections")
	if err != nil {
		t.Fatalf("Int64Counter() = %v", err)
	}
	c.Add(context.Background(), 1, metric.WithAttributes(attribute.String("tenant_id", "acme")))

	// Shutdown flushes both exporters synchronously.
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) > 0 {
		t.Fatalf("collector saw bad requests: %v", rec.errs)
	}
	var spanNames []string
	for _, req := range rec.traces {
		for _, rs := range req.ResourceSpans {
			if !hasAttr(rs.Resource.GetAttributes(), "service.name", "flockd-test") {
				t.Errorf("trace resource lacks service.name=flockd-test: %v", rs.Resource)
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					spanNames = append(spanNames, sp.Name)
				}
			}
		}
	}
	if len(spanNames) != 1 || spanNames[0] != "bridge.publish" {
		t.Errorf("exported spans = %v, want [bridge.publish]", spanNames)
	}
	found := false
	for _, req := range rec.metrics {
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name != "flockmq.test.connections" {
						continue
					}
					for _, dp := range m.GetSum().GetDataPoints() {
						if dp.GetAsInt() == 1 && hasAttr(dp.Attributes, "tenant_id", "acme") {
							found = true
						}
					}
				}
			}
		}
	}
	if !found {
		t.Errorf("exported metrics lack flockmq.test.connections=1{tenant_id=acme}; got %d requests", len(rec.metrics))
	}
}

func hasAttr(attrs []*commonpb.KeyValue, key, value string) bool {
	for _, kv := range attrs {
		if kv.Key == key && kv.Value.GetStringValue() == value {
			return true
		}
	}
	return false
}
