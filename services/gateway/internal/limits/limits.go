package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// instrumentationName names the meter the counters come from.
const instrumentationName = "github.com/flockmq/flockmq/services/gateway/internal/limits"

// Limits enforces every tenant's quotas on one gateway. Create it with New,
// run Run for cluster-wide connection counting, and look tenants up with
// For. All methods are safe for concurrent use.
type Limits struct {
	cfg       Config // with defaults; read-only after New
	gatewayID string
	overrides func(string) (tenant.Quotas, bool)
	log       *slog.Logger
	clock     func() time.Time // Deps.Clock; nil for the real clock
	epoch     time.Time        // clock reading at New; hot-path times are nanoseconds since it
	nc        *nats.Conn

	exceeded metric.Int64Counter
	conns    metric.Int64ObservableGauge
	gaugeReg metric.Registration // unregistered when Run returns

	// tenants maps a tenant id to its *Tenant. Entries are never removed:
	// a connection keeps its *Tenant for its whole life, and all of them
	// must share one (see doc.go, "Memory").
	tenants *tenantMap

	// remote holds the other gateways' connection counts; written by the
	// Run goroutine, read when a Tenant is created. Never taken on the
	// publish path.
	remoteMu    sync.Mutex
	remote      map[string]map[string]remoteCount // tenant id → gateway id → count
	remoteRates map[string]map[string]remoteRate  // tenant id → gateway id → rates (rates.go)

	running atomic.Bool // Run has been called

	lastRates int64 // Limits clock of the last rates report; owned by the Run goroutine

	// Rate limits for Run's warnings about NATS, like those of limit hits.
	bucketWarn, reportWarn event
}

// New returns Limits for cfg and deps. It fails only on an invalid
// Config or when the metric instruments cannot be created.
func New(cfg Config, deps Deps) (*Limits, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Limits{
		cfg:         cfg,
		gatewayID:   cfg.GatewayID,
		overrides:   deps.Overrides,
		log:         deps.Logger,
		clock:       deps.Clock,
		nc:          deps.NATS,
		remote:      make(map[string]map[string]remoteCount),
		remoteRates: make(map[string]map[string]remoteRate),
		tenants:     newTenantMap(),
	}
	if l.gatewayID == "" {
		var b [6]byte
		rand.Read(b[:])
		l.gatewayID = "gw-" + hex.EncodeToString(b[:])
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("component", "limits")
	if l.clock != nil {
		l.epoch = l.clock()
	} else {
		l.epoch = time.Now()
	}
	l.bucketWarn.last.Store(l.nanotime() - int64(cfg.LogInterval))
	l.reportWarn.last.Store(l.nanotime() - int64(cfg.LogInterval))
	mp := deps.Meter
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	if err := l.instruments(mp.Meter(instrumentationName)); err != nil {
		return nil, err
	}
	return l, nil
}

// instruments creates the counters and gauges on m.
func (l *Limits) instruments(m metric.Meter) error {
	var err error
	l.exceeded, err = m.Int64Counter("flockmq.gateway.limit.exceeded",
		metric.WithUnit("{event}"),
		metric.WithDescription("Requests refused or reduced because a tenant hit one of its limits, by tenant_id and limit."))
	if err != nil {
		return fmt.Errorf("limits: create counter: %w", err)
	}
	l.conns, err = m.Int64ObservableGauge("flockmq.gateway.limit.connections",
		metric.WithUnit("{connection}"),
		metric.WithDescription("Connections each tenant holds on this gateway, by tenant_id."))
	if err != nil {
		return fmt.Errorf("limits: create gauge: %w", err)
	}
	l.gaugeReg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		l.tenants.rangeAll(func(t *Tenant) bool {
			if n := t.conns.Load(); n > 0 || t.observed.Load() {
				t.observed.Store(n > 0)
				o.ObserveInt64(l.conns, n, t.gaugeOpts...)
			}
			return true
		})
		return nil
	}, l.conns)
	if err != nil {
		return fmt.Errorf("limits: register gauge callback: %w", err)
	}
	return nil
}

// GatewayID is the id this gateway reports its usage under: Config.GatewayID
// or the random one New chose.
func (l *Limits) GatewayID() string { return l.gatewayID }

// Defaults are the platform quotas: Config.Defaults with tenant.DefaultQuotas
// filling its zero fields.
func (l *Limits) Defaults() tenant.Quotas { return l.cfg.Defaults }

// For returns the tenant's limit state, creating it on first use. The
// result is the same *Tenant for the life of l, so a connection may keep
// it. Once the tenant exists, For read-locks one of 256 shards of the
// tenant map and does not allocate. The tenant id is not validated here
// (authentication did that); an id that is not a valid tenant id is
// counted locally but never reported to other gateways.
func (l *Limits) For(tenantID string) *Tenant {
	if t, ok := l.tenants.load(tenantID); ok {
		return t
	}
	// Built outside any lock; when two callers race, one Tenant is kept.
	return l.tenants.loadOrStore(tenantID, l.newTenant(tenantID))
}

// Invalidate makes the tenant's next check use freshly looked-up
// overrides: call it when quotas.<tenant id> changes. It is a no-op for a
// tenant For has never returned.
func (l *Limits) Invalidate(tenantID string) {
	if t, ok := l.tenants.load(tenantID); ok {
		t.refresh(l.nanotime())
	}
}

// nanotime is the clock in nanoseconds since New. The real clock reads
// only the monotonic time, which costs about half of time.Now.
func (l *Limits) nanotime() int64 {
	if l.clock == nil {
		return int64(time.Since(l.epoch))
	}
	return int64(l.clock().Sub(l.epoch))
}

// quotasFor returns the tenant's effective quotas: its overrides on top of
// the platform defaults, or the defaults alone when it has none. Invalid
// overrides (a negative field) are ignored too, and reported as err.
func (l *Limits) quotasFor(tenantID string) (q tenant.Quotas, err error) {
	if l.overrides == nil {
		return l.cfg.Defaults, nil
	}
	o, ok := l.overrides(tenantID)
	if !ok {
		return l.cfg.Defaults, nil
	}
	if err := o.Validate(); err != nil {
		return l.cfg.Defaults, err
	}
	return o.WithDefaults(l.cfg.Defaults), nil
}
