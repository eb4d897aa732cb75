package telemetry

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig("flockd")
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // substring; empty means valid
	}{
		{name: "default", mutate: func(*Config) {}},
		{name: "otlp http", mutate: func(c *Config) { c.OTLPEndpoint = "http://collector:4318" }},
		{name: "otlp https with path", mutate: func(c *Config) { c.OTLPEndpoint = "https://collector.example/otlp" }},
		{name: "ratio zero means default", mutate: func(c *Config) { c.TraceSampleRatio = 0 }},
		{name: "ratio one", mutate: func(c *Config) { c.TraceSampleRatio = 1 }},
		{name: "no service name", mutate: func(c *Config) { c.ServiceName = "" }, wantErr: "telemetry: service_name:"},
		{name: "grpc scheme", mutate: func(c *Config) { c.OTLPEndpoint = "grpc://collector:4317" }, wantErr: "telemetry: otlp_endpoint:"},
		{name: "no scheme", mutate: func(c *Config) { c.OTLPEndpoint = "collector:4318" }, wantErr: "telemetry: otlp_endpoint:"},
		{name: "no host", mutate: func(c *Config) { c.OTLPEndpoint = "http://" }, wantErr: "telemetry: otlp_endpoint:"},
		{name: "bad url", mutate: func(c *Config) { c.OTLPEndpoint = "http://a b/%zz" }, wantErr: "telemetry: otlp_endpoint:"},
		{name: "ratio negative", mutate: func(c *Config) { c.TraceSampleRatio = -0.1 }, wantErr: "telemetry: trace_sample_ratio:"},
		{name: "ratio above one", mutate: func(c *Config) { c.TraceSampleRatio = 1.5 }, wantErr: "telemetry: trace_sample_ratio:"},
		{name: "ratio NaN", mutate: func(c *Config) { c.TraceSampleRatio = math.NaN() }, wantErr: "telemetry: trace_sample_ratio:"},
		{name: "negative interval", mutate: func(c *Config) { c.MetricInterval = -time.Second }, wantErr: "telemetry: metric_interval:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigWithDefaults(t *testing.T) {
	got := Config{ServiceName: "flockd"}.withDefaults()
	if got.TraceSampleRatio != DefaultTraceSampleRatio || got.MetricInterval != DefaultMetricInterval {
		t.Fatalf("withDefaults() = ratio %v interval %v, want %v %v",
			got.TraceSampleRatio, got.MetricInterval, DefaultTraceSampleRatio, DefaultMetricInterval)
	}
	kept := Config{ServiceName: "flockd", TraceSampleRatio: 0.5, MetricInterval: time.Second}.withDefaults()
	if kept.TraceSampleRatio != 0.5 || kept.MetricInterval != time.Second {
		t.Fatalf("withDefaults() overwrote set fields: %+v", kept)
	}
}
