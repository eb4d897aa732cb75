package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors returned by the Bridge. Callers classify with errors.Is.
var (
	// ErrQueueFull: a limit refused the message: the tenant's retained
	// limit, or JetStream's storage is exhausted. The tenant's queue
	// limits never refuse a message (the oldest ones are discarded, see
	// ReplayResult.Missed). MQTT 5 reason 0x97 quota exceeded.
	ErrQueueFull = errors.New("bridge: queue full")
	// ErrRetainedFull: the tenant's retained-message limit refused a new
	// retained topic. It wraps ErrQueueFull.
	ErrRetainedFull = fmt.Errorf("%w: retained message limit reached", ErrQueueFull)
	// ErrUnavailable: NATS or JetStream did not answer in time or the
	// connection is down; the operation may be retried.
	ErrUnavailable = errors.New("bridge: messaging backbone unavailable")
	// ErrNotFound: the message (or, for Kick, the gateway) does not exist,
	// for example because the tenant's limits aged it out.
	ErrNotFound = errors.New("bridge: not found")
	// ErrInvalidTenant: a tenant id is not a NATS-safe token.
	ErrInvalidTenant = errors.New("bridge: invalid tenant id")
	// ErrTooLarge: the message exceeds the NATS server's max_payload.
	ErrTooLarge = errors.New("bridge: message too large for the messaging backbone")
	// ErrClosed: the Bridge was closed.
	ErrClosed = errors.New("bridge: closed")
)

// Defaults for the zero values of Config.
const (
	DefaultMaxQueuedMessages = 1_000_000
	DefaultMaxQueuedBytes    = 1 << 30
	DefaultMaxQueueAge       = 7 * 24 * time.Hour
	DefaultMaxRetained       = 100_000
	DefaultPublishTimeout    = 5 * time.Second
	DefaultMaxPending        = 4096
)

// Limits are one tenant's JetStream limits. In Config and in the result of
// Config.TenantLimits, 0 means the default and a negative value means no
// limit.
type Limits struct {
	// MaxQueuedMessages, MaxQueuedBytes and MaxQueueAge bound the tenant's
	// durable stream; beyond them the oldest messages are discarded.
	MaxQueuedMessages int64         `json:"max_queued_messages"`
	MaxQueuedBytes    int64         `json:"max_queued_bytes"`
	MaxQueueAge       time.Duration `json:"max_queue_age"`
	// MaxRetained bounds the number of retained topics.
	MaxRetained int64 `json:"max_retained"`
}

// Config configures a Bridge. The zero value, with GatewayID set, is valid
// and means the documented defaults.
type Config struct {
	// GatewayID names this gateway process; it must be unique among the
	// gateways sharing a NATS system and be a NATS-safe token
	// ([A-Za-z0-9_-]+). Required.
	GatewayID string `json:"gateway_id"`
	// Replicas is the replica count of the streams the Bridge creates;
	// 0 means 1 (single node).
	Replicas int `json:"replicas"`
	// The per-tenant default limits (see Limits).
	MaxQueuedMessages int64         `json:"max_queued_messages"`
	MaxQueuedBytes    int64         `json:"max_queued_bytes"`
	MaxQueueAge       time.Duration `json:"max_queue_age"`
	MaxRetained       int64         `json:"max_retained"`
	// TenantLimits, when set, overrides the defaults for one tenant: it
	// returns the tenant's limits and true, or false for the defaults. Zero
	// fields of the returned Limits fall back to the defaults. It is called
	// when this process first uses a tenant's streams and by ApplyLimits.
	TenantLimits func(tenant string) (Limits, bool) `json:"-"`
	// PublishTimeout bounds the wait for JetStream's acknowledgement of a
	// durable publish; 0 means 5s.
	PublishTimeout time.Duration `json:"publish_timeout"`
	// MaxPendingPublishes bounds the durable publishes awaiting their
	// acknowledgement; further publishers wait. 0 means 4096.
	MaxPendingPublishes int `json:"max_pending_publishes"`
	// SubscriberBacklog is how many messages NATS may have buffered for one
	// subscription of a tenant, not yet taken by its handler, before the
	// tenant's durable publishes through this Bridge, and through the other
	// gateways' once they are told (behind.go), wait for it (see
	// PublishAsync); 0 means 8192.
	SubscriberBacklog int `json:"subscriber_backlog"`
	// SubscriberPendingLimit is how many messages NATS may buffer for one
	// subscription, not yet taken by its handler, before it drops further
	// ones; 0 means NATS's default (524,288 messages; 64 MiB in any case).
	// A plain subscription reads the QoS 1/2 messages dropped back from
	// the tenant's stream (gapfill.go); QoS 0 ones, and those of a shared
	// subscription, are lost. It must be 0 or at least 2, since NATS counts
	// the message the handler is taking.
	SubscriberPendingLimit int `json:"subscriber_pending_limit"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.GatewayID == "" {
		return errors.New("bridge: gateway_id is required")
	}
	for i := 0; i < len(c.GatewayID); i++ {
		ch := c.GatewayID[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return fmt.Errorf("bridge: gateway_id %q: only letters, digits, '-' and '_' are allowed", c.GatewayID)
		}
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("bridge: replicas: %d is not between 1 and 5", c.Replicas)
	}
	if c.PublishTimeout < 0 {
		return errors.New("bridge: publish_timeout must not be negative")
	}
	if c.MaxPendingPublishes < 0 {
		return errors.New("bridge: max_pending_publishes must not be negative")
	}
	if c.SubscriberBacklog < 0 {
		return errors.New("bridge: subscriber_backlog must not be negative")
	}
	if c.SubscriberPendingLimit < 0 || c.SubscriberPendingLimit == 1 {
		return fmt.Errorf("bridge: subscriber_pending_limit: %d is neither 0 (NATS's default) nor at least 2", c.SubscriberPendingLimit)
	}
	return nil
}

// limits returns the effective limits of tenant: overrides, then defaults.
func (c Config) limits(tenant string) Limits {
	l := Limits{
		MaxQueuedMessages: c.MaxQueuedMessages,
		MaxQueuedBytes:    c.MaxQueuedBytes,
		MaxQueueAge:       c.MaxQueueAge,
		MaxRetained:       c.MaxRetained,
	}
	if c.TenantLimits != nil {
		if o, ok := c.TenantLimits(tenant); ok {
			if o.MaxQueuedMessages != 0 {
				l.MaxQueuedMessages = o.MaxQueuedMessages
			}
			if o.MaxQueuedBytes != 0 {
				l.MaxQueuedBytes = o.MaxQueuedBytes
			}
			if o.MaxQueueAge != 0 {
				l.MaxQueueAge = o.MaxQueueAge
			}
			if o.MaxRetained != 0 {
				l.MaxRetained = o.MaxRetained
			}
		}
	}
	l.MaxQueuedMessages = orDefault(l.MaxQueuedMessages, DefaultMaxQueuedMessages)
	l.MaxQueuedBytes = orDefault(l.MaxQueuedBytes, DefaultMaxQueuedBytes)
	l.MaxRetained = orDefault(l.MaxRetained, DefaultMaxRetained)
	switch {
	case l.MaxQueueAge == 0:
		l.MaxQueueAge = DefaultMaxQueueAge
	case l.MaxQueueAge < 0:
		l.MaxQueueAge = 0 // JetStream: no age limit
	}
	return l
}

// orDefault maps 0 to def and negative values to -1 (JetStream's "no limit").
func orDefault(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// ValidTenant reports whether tenant is a valid tenant id:
// [a-z0-9][a-z0-9-]*, at most 64 bytes.
func ValidTenant(tenant string) bool {
	if tenant == "" || len(tenant) > 64 || tenant[0] == '-' {
		return false
	}
	for i := 0; i < len(tenant); i++ {
		c := tenant[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func checkTenant(tenant string) error {
	if !ValidTenant(tenant) {
		return fmt.Errorf("%w: %q", ErrInvalidTenant, tenant)
	}
	return nil
}

// Subject prefixes (see the package documentation).
const (
	liveRoot     = "flock."
	durableRoot  = "flockjs."
	retainedRoot = "flockret."
	gatewayRoot  = "flockgw."
	directGetAPI = "$JS.API.DIRECT.GET."
)

// queueStream and retainedStream name the tenant's streams.
func queueStream(tenant string) string    { return "FLOCK_" + strings.ToUpper(tenant) }
func retainedStream(tenant string) string { return "FLOCK_RET_" + strings.ToUpper(tenant) }

// Bridge connects one gateway to NATS. It is safe for concurrent use.
type Bridge struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	acks *acker // durable publishes and their acknowledgements
	cfg  Config
	log  *slog.Logger

	// live and local are set by DeliverLocally: live is a connection
	// without echo for QoS 0 publishes and plain subscriptions, local
	// receives this Bridge's own QoS 0 publishes.
	live  *nats.Conn
	local LocalHandler

	closed atomic.Bool

	// streams maps a tenant to its *tenantStreams; entries are never removed.
	streams sync.Map

	mu   sync.Mutex             // guards subs
	subs map[*Subscription]bool // live subscriptions, drained by Close

	peersSub *nats.Subscription // the other gateways' backlog notices (behind.go)
}

// tenantStreams records which of a tenant's streams this process has
// created (or found) with the current limits.
type tenantStreams struct {
	mu       sync.Mutex // serialises creation
	queue    atomic.Bool
	retained atomic.Bool
	// behind counts the tenant's NATS subscriptions on this gateway whose
	// handlers fell behind (see backlogWatch); durable publishes wait
	// while it is not zero.
	behind atomic.Int32
	held   atomic.Int64 // durable publishes that waited (holding)
	// peers and peersUntil: the other gateways' backlogs (behind.go).
	peers      peersBehind
	peersUntil atomic.Int64 // UnixNano until which a peer is behind
	// state coalesces reads of the durable stream's state (freshState).
	state stateReads
}

// New returns a Bridge using nc, which stays owned by the caller.
func New(nc *nats.Conn, cfg Config, log *slog.Logger) (*Bridge, error) {
	if nc == nil {
		return nil, errors.New("bridge: nil NATS connection")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.SubscriberBacklog == 0 {
		cfg.SubscriberBacklog = defaultSubscriberBacklog
	}
	if cfg.MaxPendingPublishes == 0 {
		cfg.MaxPendingPublishes = DefaultMaxPending
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bridge: open JetStream context: %w", err)
	}
	acks, err := newAcker(nc, cfg.GatewayID, cfg.MaxPendingPublishes, cfg.PublishTimeout)
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		nc:   nc,
		js:   js,
		acks: acks,
		cfg:  cfg,
		log:  log.With("component", "bridge"), // the gateway's logger names the gateway
		subs: make(map[*Subscription]bool),
	}
	if b.peersSub, err = b.watchPeers(); err != nil {
		_ = acks.close(nil)
		return nil, err
	}
	return b, nil
}

// Close drains the Bridge's subscriptions, letting handlers finish the
// messages already received, and waits (at most PublishTimeout) for them
// and for durable publishes awaiting acknowledgement. Later calls on the
// Bridge return ErrClosed. Close is idempotent; the NATS connection stays
// open.
func (b *Bridge) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.mu.Lock()
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = nil
	b.mu.Unlock()

	timer := time.NewTimer(b.cfg.PublishTimeout)
	defer timer.Stop()
	var errs []error
	for _, s := range subs {
		if err := s.drain(timer.C); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.acks.close(timer.C); err != nil {
		errs = append(errs, err)
	}
	if err := b.peersSub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		errs = append(errs, fmt.Errorf("bridge: close: %w", err))
	}
	if b.live != nil {
		if err := b.live.FlushTimeout(b.cfg.PublishTimeout); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("bridge: close: flush QoS 0 publishes: %w", err))
		}
		b.live.Close()
	}
	return errors.Join(errs...)
}

// LocalHandler receives the QoS 0 messages published through the Bridge
// itself (see DeliverLocally). m and everything it refers to are valid
// only during the call: a handler that keeps the message keeps m.Clone().
type LocalHandler func(m *Message)

// DeliverLocally makes the Bridge hand its own QoS 0 publishes to h, in the
// publisher's goroutine, instead of receiving them back from NATS: they
// still go to NATS for every other gateway, over a second connection
// opened without echo (nats.NoEcho), on which the Bridge also makes its
// plain subscriptions. Messages published by this process then cross NATS
// only when another gateway wants them (docs/adr/0006). Queue
// subscriptions (MQTT shared subscriptions) stay on the main connection,
// so NATS still picks the member of a group across all gateways, local
// members included. Durable (QoS 1/2) messages are unchanged: the stream
// republishes them to every gateway, this one included.
//
// Call it once, before the first Subscribe. The second connection uses
// the main connection's options (servers, credentials, TLS, in-process
// server) and is closed by Close.
func (b *Bridge) DeliverLocally(h LocalHandler) error {
	if h == nil {
		return errors.New("bridge: deliver locally: nil handler")
	}
	if b.live != nil {
		return errors.New("bridge: deliver locally: already set")
	}
	if b.closed.Load() {
		return ErrClosed
	}
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n > 0 {
		return errors.New("bridge: deliver locally: must be set before the first Subscribe")
	}
	opts := b.nc.Opts
	opts.NoEcho = true
	if opts.Name != "" {
		opts.Name += " (live)"
	}
	live, err := opts.Connect()
	if err != nil {
		return fmt.Errorf("bridge: open the live NATS connection: %w", classify(err))
	}
	b.live, b.local = live, h
	return nil
}

// liveConn is the connection of QoS 0 publishes and plain subscriptions.
func (b *Bridge) liveConn() *nats.Conn {
	if b.live != nil {
		return b.live
	}
	return b.nc
}

func (b *Bridge) track(s *Subscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		return ErrClosed
	}
	b.subs[s] = true
	return nil
}

func (b *Bridge) untrack(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs != nil {
		delete(b.subs, s)
	}
}

func (b *Bridge) tenant(tenant string) *tenantStreams {
	if v, ok := b.streams.Load(tenant); ok {
		return v.(*tenantStreams)
	}
	v, _ := b.streams.LoadOrStore(tenant, &tenantStreams{})
	return v.(*tenantStreams)
}

// ensureQueue creates (or updates to the current limits) the tenant's
// durable stream, once per process unless forget is called.
func (b *Bridge) ensureQueue(ctx context.Context, tenant string) error {
	ts := b.tenant(tenant)
	if ts.queue.Load() {
		return nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.queue.Load() {
		return nil
	}
	l := b.cfg.limits(tenant)
	cfg := jetstream.StreamConfig{
		Name:        queueStream(tenant),
		Description: "FlockMQ durable (QoS 1/2) messages of tenant " + tenant,
		Subjects:    []string{durableRoot + tenant + ".>"},
		Retention:   jetstream.LimitsPolicy,
		MaxMsgs:     l.MaxQueuedMessages,
		MaxBytes:    l.MaxQueuedBytes,
		MaxAge:      l.MaxQueueAge,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		AllowDirect: true,
		RePublish: &jetstream.RePublish{
			Source:      durableRoot + tenant + ".>",
			Destination: liveRoot + tenant + ".q.>",
		},
	}
	if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bridge: create stream %s: %w", cfg.Name, classify(err))
	}
	ts.queue.Store(true)
	b.log.Debug("durable stream ready", "tenant_id", tenant, "stream", cfg.Name)
	return nil
}

// ensureRetained creates (or updates) the tenant's retained stream.
func (b *Bridge) ensureRetained(ctx context.Context, tenant string) error {
	ts := b.tenant(tenant)
	if ts.retained.Load() {
		return nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.retained.Load() {
		return nil
	}
	l := b.cfg.limits(tenant)
	cfg := jetstream.StreamConfig{
		Name:              retainedStream(tenant),
		Description:       "FlockMQ retained messages of tenant " + tenant,
		Subjects:          []string{retainedRoot + tenant + ".>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgs:           l.MaxRetained,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardNew,
		Storage:           jetstream.FileStorage,
		Replicas:          b.cfg.Replicas,
		AllowDirect:       true,
		AllowMsgTTL:       true,
	}
	if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bridge: create stream %s: %w", cfg.Name, classify(err))
	}
	ts.retained.Store(true)
	b.log.Debug("retained stream ready", "tenant_id", tenant, "stream", cfg.Name)
	return nil
}

// ApplyLimits applies the tenant's current limits (Config defaults and
// TenantLimits) to its streams now. Without it a process applies them when
// it first uses the tenant; call it when the control plane changes them.
func (b *Bridge) ApplyLimits(ctx context.Context, tenant string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := checkTenant(tenant); err != nil {
		return err
	}
	b.forget(tenant, false)
	b.forget(tenant, true)
	return errors.Join(b.ensureQueue(ctx, tenant), b.ensureRetained(ctx, tenant))
}

// forget makes the next use of the tenant's streams check them again (after
// someone deleted a stream behind this process's back).
func (b *Bridge) forget(tenant string, retained bool) {
	ts := b.tenant(tenant)
	if retained {
		ts.retained.Store(false)
	} else {
		ts.queue.Store(false)
	}
}

// JetStream API error codes that mean a limit was hit.
const (
	errCodeInsufficientResources = 10023
	errCodeMemoryExceeded        = 10028
	errCodeStorageExceeded       = 10047
	errCodeStoreFailed           = 10077
)

// classify maps NATS and JetStream errors to the Bridge's sentinels,
// keeping the original in the chain.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeInsufficientResources, errCodeMemoryExceeded, errCodeStorageExceeded:
			return fmt.Errorf("%w: %w", ErrQueueFull, err)
		case errCodeStoreFailed:
			if strings.Contains(apiErr.Description, "maximum") {
				return fmt.Errorf("%w: %w", ErrQueueFull, err)
			}
		}
		return err
	}
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrStaleConnection),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
