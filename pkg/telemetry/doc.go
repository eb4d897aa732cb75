// Package telemetry builds FlockMQ's OpenTelemetry tracer and meter
// providers and the small adapters the services need at their edges.
//
// # Setup
//
// Each binary calls [Setup] once in main with a [Config] and defers
// [Telemetry.Shutdown]. Setup installs the providers and the W3C
// tracecontext+baggage propagator as the OpenTelemetry globals, so the rest
// of the code base uses only the OpenTelemetry API
// (otel.Tracer, otel.Meter); the SDK and the exporters are imported only
// here and in cmd/*/main.go.
//
// Traces are sampled parent-based: a span whose caller sampled it is
// recorded, and new root traces are sampled at Config.TraceSampleRatio
// (1% by default). Traces and metrics are pushed over OTLP/HTTP when
// Config.OTLPEndpoint is set ("http://otel-collector:4318"); metrics are
// also served in Prometheus text format when Config.Prometheus is on.
//
// # Scraping /metrics
//
// Mount [Telemetry.MetricsHandler] on the admin listener:
//
//	mux.Handle("GET /metrics", tel.MetricsHandler())
//
// and point Prometheus at it:
//
//	scrape_configs:
//	  - job_name: flockd
//	    static_configs:
//	      - targets: ["flockd-0:9090"]
//
// The exposition carries a target_info series with the resource
// attributes (service_name, service_version, service_instance_id) and an
// otel_scope_name label naming the instrumenting package.
//
// # Metric naming
//
// Which metrics exist is each service's business; they follow one
// convention so dashboards can be written against all of them:
//
//   - Names are flockmq.<component>.<thing>, lower case, dot-separated,
//     e.g. flockmq.gateway.connections, flockmq.bridge.messages.published,
//     flockmq.session.store.latency. The Prometheus exporter turns dots into
//     underscores and appends the unit and _total suffixes, so
//     flockmq.bridge.messages.published with unit {message} is scraped as
//     flockmq_bridge_messages_published_total.
//   - Units are UCUM strings passed with metric.WithUnit: "s" for
//     durations (record seconds as float64 histograms), "By" for sizes,
//     "{connection}", "{message}", "{session}" for counts.
//   - The only attribute a metric may carry is tenant_id (plus a small
//     fixed enum such as a reason or an MQTT packet type where a metric
//     needs one). Never a client id, device id, topic, connection id or
//     remote address: those are unbounded and belong in traces and logs.
//
// # Edges
//
// Tracing happens at the edges. [HTTPMiddleware] wraps the control-plane
// HTTP handlers. [Inject] and [Extract] carry the trace context through
// NATS message headers, which the bridge passes as their underlying
// map[string][]string; [HeaderCarrier] is the propagation carrier over
// such a map. [LogHandler] wraps a slog.Handler so log lines written with
// a span's context carry trace_id and span_id.
package telemetry
