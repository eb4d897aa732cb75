package limits

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/metric"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// Defaults applied to zero Config fields.
const (
	DefaultUsageBucket    = "FLOCK_USAGE"
	DefaultReportInterval = 2 * time.Second
	DefaultOverridesTTL   = time.Second
	DefaultLogInterval    = 10 * time.Second
)

// minReportInterval keeps the usage bucket's TTL (three intervals) above
// the smallest age JetStream accepts.
const minReportInterval = 50 * time.Millisecond

// Config configures Limits. It is plain data; the zero value means the
// documented defaults. New calls Validate.
type Config struct {
	// Defaults are the platform's quotas. A zero field means the value in
	// tenant.DefaultQuotas.
	Defaults tenant.Quotas `json:"defaults"`
	// UsageBucket is the JetStream key-value bucket gateways share their
	// connection counts through; default DefaultUsageBucket. It is created
	// (memory storage, history 1, TTL of three ReportIntervals) when
	// missing.
	UsageBucket string `json:"usage_bucket"`
	// ReportInterval is how often this gateway publishes its per-tenant
	// connection counts; default DefaultReportInterval, at least 50ms. A
	// count not refreshed for three intervals is dropped, so a dead
	// gateway's connections stop counting after about that long.
	ReportInterval time.Duration `json:"report_interval"`
	// GatewayID names this gateway in usage keys (conns.<tenant>.<gateway>).
	// Letters, digits, '-' and '_' only. Empty means a random id
	// ("gw-" and 12 hex digits) chosen by New.
	GatewayID string `json:"gateway_id"`
	// OverridesTTL is how long a tenant's looked-up quotas are reused
	// before Deps.Overrides is asked again; default DefaultOverridesTTL.
	// Limits.Invalidate applies a change at once.
	OverridesTTL time.Duration `json:"overrides_ttl"`
	// LogInterval is the least time between two log lines about the same
	// tenant and limit; events in between are counted and the count is
	// reported on the next line. Default DefaultLogInterval.
	LogInterval time.Duration `json:"log_interval"`
	// MaxThrottle is how long a publish over its tenant's message or byte
	// rate may be held back before the client is disconnected with 0x96
	// instead (ThrottlePublish). While a publish is held back its
	// connection is not read, so TCP slows the client down and the
	// tenant's flood costs the gateway no more than its rate. Default
	// DefaultMaxThrottle; negative disables throttling, so every publish
	// over the rate is refused at once.
	MaxThrottle time.Duration `json:"max_throttle"`
}

// DefaultMaxThrottle is the default Config.MaxThrottle.
const DefaultMaxThrottle = 500 * time.Millisecond

// Validate reports the first invalid field, named by its JSON path.
func (c Config) Validate() error {
	if err := c.Defaults.Validate(); err != nil {
		return fmt.Errorf("limits: defaults.%w", err)
	}
	if c.UsageBucket != "" && !validToken(c.UsageBucket) {
		return fmt.Errorf("limits: usage_bucket: %q may hold only letters, digits, '-' and '_'", c.UsageBucket)
	}
	if c.ReportInterval < 0 || (c.ReportInterval > 0 && c.ReportInterval < minReportInterval) {
		return fmt.Errorf("limits: report_interval: %s is below the minimum of %s", c.ReportInterval, minReportInterval)
	}
	if c.GatewayID != "" && (!validToken(c.GatewayID) || len(c.GatewayID) > 64) {
		return fmt.Errorf("limits: gateway_id: %q must be 1 to 64 letters, digits, '-' or '_'", c.GatewayID)
	}
	if c.OverridesTTL < 0 {
		return errors.New("limits: overrides_ttl: must not be negative")
	}
	if c.LogInterval < 0 {
		return errors.New("limits: log_interval: must not be negative")
	}
	return nil
}

// withDefaults returns c with every zero field set to its default, except
// GatewayID, which New fills.
func (c Config) withDefaults() Config {
	c.Defaults = c.Defaults.WithDefaults(tenant.DefaultQuotas)
	if c.UsageBucket == "" {
		c.UsageBucket = DefaultUsageBucket
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = DefaultReportInterval
	}
	if c.OverridesTTL == 0 {
		c.OverridesTTL = DefaultOverridesTTL
	}
	if c.LogInterval == 0 {
		c.LogInterval = DefaultLogInterval
	}
	switch {
	case c.MaxThrottle == 0:
		c.MaxThrottle = DefaultMaxThrottle
	case c.MaxThrottle < 0:
		c.MaxThrottle = 0
	}
	return c
}

// validToken reports whether s is a non-empty run of [A-Za-z0-9_-], safe
// as one token of a NATS subject or KV key.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Deps are the collaborators of Limits. Every field is optional.
type Deps struct {
	// NATS, when set, makes connection limits cluster-wide: Run shares
	// this gateway's counts through the usage bucket and sums the other
	// gateways'. Without it each gateway counts only its own connections.
	NATS *nats.Conn
	// Overrides returns a tenant's quota overrides (zero fields mean the
	// platform default) and whether the tenant has any. It is called on
	// the first use of a tenant, once per OverridesTTL while the tenant is
	// in use, and by Invalidate; it must be safe for concurrent use and
	// cheap (an in-memory lookup, such as the gateway's key cache). Nil
	// means no tenant has overrides.
	Overrides func(tenantID string) (tenant.Quotas, bool)
	// Logger receives the log lines about limits hit; nil discards them.
	Logger *slog.Logger
	// Meter provides the counters; nil means a no-op provider.
	Meter metric.MeterProvider
	// Clock tells the time for token buckets, override expiry, log rate
	// limiting and usage staleness; nil means time.Now.
	Clock func() time.Time
}
