package telemetry

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"time"
)

// Defaults applied by [Config.withDefaults] and [DefaultConfig].
const (
	DefaultTraceSampleRatio = 0.01
	DefaultMetricInterval   = 30 * time.Second
)

// Config selects where traces and metrics go. The zero value exports
// nothing over OTLP and serves no Prometheus endpoint; [DefaultConfig] is
// what flockd starts from.
type Config struct {
	// ServiceName is the service.name resource attribute, e.g. "flockd".
	ServiceName string `json:"service_name"`
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string `json:"service_version,omitempty"`
	// InstanceID is the service.instance.id resource attribute (host name,
	// pod name). Empty leaves it unset.
	InstanceID string `json:"instance_id,omitempty"`

	// OTLPEndpoint is the base URL of an OTLP/HTTP collector, e.g.
	// "http://otel-collector:4318". Traces go to <endpoint>/v1/traces and
	// metrics to <endpoint>/v1/metrics. Empty disables OTLP export. Only the
	// http and https schemes are accepted; OTLP/gRPC is not supported.
	OTLPEndpoint string `json:"otlp_endpoint,omitempty"`
	// OTLPInsecure sends OTLP over plain HTTP even when the endpoint says
	// https. An http:// endpoint is always plain HTTP.
	OTLPInsecure bool `json:"otlp_insecure,omitempty"`

	// Prometheus serves the metrics in Prometheus text format through
	// [Telemetry.MetricsHandler].
	Prometheus bool `json:"prometheus"`

	// TraceSampleRatio is the fraction of new root traces sampled, in [0, 1].
	// Child spans follow their parent's decision. Zero means the default
	// (0.01); to record no traces, leave OTLPEndpoint empty.
	TraceSampleRatio float64 `json:"trace_sample_ratio,omitempty"`

	// MetricInterval is how often metrics are pushed over OTLP. Zero means
	// 30s. Prometheus scrapes are pulled and ignore it.
	MetricInterval time.Duration `json:"metric_interval,omitempty"`
}

// DefaultConfig returns the configuration flockd starts from: Prometheus
// on, no OTLP export, 1% parent-based trace sampling.
func DefaultConfig(serviceName string) Config {
	return Config{
		ServiceName:      serviceName,
		Prometheus:       true,
		TraceSampleRatio: DefaultTraceSampleRatio,
		MetricInterval:   DefaultMetricInterval,
	}
}

// Validate reports the first invalid field, naming it by its JSON key.
func (c Config) Validate() error {
	if c.ServiceName == "" {
		return errors.New("telemetry: service_name: must not be empty")
	}
	if c.OTLPEndpoint != "" {
		u, err := url.Parse(c.OTLPEndpoint)
		if err != nil {
			return fmt.Errorf("telemetry: otlp_endpoint: %w", err)
		}
		switch u.Scheme {
		case "http", "https":
		case "grpc":
			return fmt.Errorf("telemetry: otlp_endpoint: %q: OTLP/gRPC is not supported, use an OTLP/HTTP endpoint such as http://host:4318", c.OTLPEndpoint)
		default:
			return fmt.Errorf("telemetry: otlp_endpoint: %q: scheme must be http or https", c.OTLPEndpoint)
		}
		if u.Host == "" {
			return fmt.Errorf("telemetry: otlp_endpoint: %q: missing host", c.OTLPEndpoint)
		}
	}
	if math.IsNaN(c.TraceSampleRatio) || c.TraceSampleRatio < 0 || c.TraceSampleRatio > 1 {
		return fmt.Errorf("telemetry: trace_sample_ratio: %v is outside [0, 1]", c.TraceSampleRatio)
	}
	if c.MetricInterval < 0 {
		return fmt.Errorf("telemetry: metric_interval: %v is negative", c.MetricInterval)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.TraceSampleRatio == 0 {
		c.TraceSampleRatio = DefaultTraceSampleRatio
	}
	if c.MetricInterval == 0 {
		c.MetricInterval = DefaultMetricInterval
	}
	return c
}
