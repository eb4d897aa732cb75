package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry owns the process's tracer and meter providers. Build one with
// [Setup] in main and call [Telemetry.Shutdown] on the way out.
type Telemetry struct {
	log     *slog.Logger
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	metrics http.Handler

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds one TracerProvider and one MeterProvider from cfg, installs
// them and the W3C tracecontext+baggage propagator as the OpenTelemetry
// globals, and returns a handle to serve /metrics and shut them down.
//
// Setup does not contact the OTLP endpoint; export errors surface later
// through the OpenTelemetry error handler, which Setup points at log. The
// standard OTEL_EXPORTER_OTLP_* environment variables other than the
// endpoint (headers, timeout, compression, certificates) still apply.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()

	attrs := []attribute.KeyValue{
		semconv.ServiceName(cfg.ServiceName),
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	if cfg.InstanceID != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(cfg.InstanceID))
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.TraceSampleRatio))),
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	t := &Telemetry{log: log}
	// Exporters built so far; shut down if a later step fails.
	var built []func(context.Context) error
	fail := func(err error) (*Telemetry, error) {
		for _, shutdown := range built {
			_ = shutdown(ctx)
		}
		return nil, err
	}

	if cfg.OTLPEndpoint != "" {
		traceURL, metricURL, err := otlpURLs(cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		topts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(traceURL)}
		mopts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(metricURL)}
		if cfg.OTLPInsecure {
			topts = append(topts, otlptracehttp.WithInsecure())
			mopts = append(mopts, otlpmetrichttp.WithInsecure())
		}
		texp, err := otlptracehttp.New(ctx, topts...)
		if err != nil {
			return fail(fmt.Errorf("telemetry: otlp trace exporter: %w", err))
		}
		built = append(built, texp.Shutdown)
		mexp, err := otlpmetrichttp.New(ctx, mopts...)
		if err != nil {
			return fail(fmt.Errorf("telemetry: otlp metric exporter: %w", err))
		}
		built = append(built, mexp.Shutdown)
		tpOpts = append(tpOpts, sdktrace.WithBatcher(texp))
		mpOpts = append(mpOpts, sdkmetric.WithReader(
			sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(cfg.MetricInterval))))
	}

	if cfg.Prometheus {
		// A private registry, so nothing registered on the client_golang
		// default registry leaks into /metrics, plus the Go runtime and
		// process collectors every Prometheus target is expected to have.
		reg := prometheus.NewRegistry()
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return fail(fmt.Errorf("telemetry: register go collector: %w", err))
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return fail(fmt.Errorf("telemetry: register process collector: %w", err))
		}
		pexp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return fail(fmt.Errorf("telemetry: prometheus exporter: %w", err))
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(pexp))
		t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      promLogger{log},
			ErrorHandling: promhttp.ContinueOnError,
		})
	}

	t.tp = sdktrace.NewTracerProvider(tpOpts...)
	t.mp = sdkmetric.NewMeterProvider(mpOpts...)

	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	otel.SetTextMapPropagator(Propagator())
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("OpenTelemetry could not export or record telemetry.", "err", err)
	}))

	log.Info("Telemetry is set up.",
		"service_name", cfg.ServiceName,
		"otlp_endpoint", cfg.OTLPEndpoint,
		"prometheus", cfg.Prometheus,
		"trace_sample_ratio", cfg.TraceSampleRatio)
	return t, nil
}

// otlpURLs turns a collector base URL into the two signal URLs.
func otlpURLs(endpoint string) (traces, metrics string, err error) {
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("telemetry: otlp_endpoint: %w", err)
	}
	return base.JoinPath("v1", "traces").String(), base.JoinPath("v1", "metrics").String(), nil
}

// Propagator returns the propagator Setup installs globally: W3C
// tracecontext and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// TracerProvider returns the SDK tracer provider, typed as the API interface.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the SDK meter provider, typed as the API interface.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// MetricsHandler serves the Prometheus text exposition of every metric
// recorded through the MeterProvider. With Prometheus off in the Config it
// answers 404 Not Found.
func (t *Telemetry) MetricsHandler() http.Handler {
	if t.metrics == nil {
		return http.NotFoundHandler()
	}
	return t.metrics
}

// Shutdown flushes pending spans and metrics to the exporters and stops the
// providers. It is safe to call more than once; later calls return the
// first call's result. The OTel globals keep pointing at the stopped
// providers, which then record nothing. Flushing to an unreachable OTLP
// collector waits until ctx ends, so pass a context with a deadline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if err := t.tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: shut down tracer provider: %w", err))
		}
		if err := t.mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: shut down meter provider: %w", err))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// promLogger routes promhttp's scrape errors to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Warn("Prometheus could not serve a metrics scrape.", "err", fmt.Sprint(v...))
}
