package keycache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// Config configures a Cache. The zero value watches tenant.ConfigBucket.
type Config struct {
	// Bucket is the key-value bucket to watch; "" means "FLOCK_CONFIG".
	Bucket string `json:"bucket"`
	// MaxBackoff bounds the wait between attempts to open the bucket or
	// restart a failed watch; 0 means 5s.
	MaxBackoff time.Duration `json:"max_backoff"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.MaxBackoff < 0 {
		return errors.New("keycache: max_backoff must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = tenant.ConfigBucket
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	return c
}

// Deps are what a Cache needs from its host.
type Deps struct {
	// JetStream is the client of the NATS system holding the bucket;
	// required.
	JetStream jetstream.JetStream
	// Log receives the cache's log lines; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrClosed is returned by WaitReady and Start after Close.
var ErrClosed = errors.New("keycache: closed")

// deviceRef names a device.
type deviceRef struct{ tid, did string }

// revocationRef names a revocation as its KV key does.
type revocationRef struct {
	tid  string
	kind tenant.RevocationKind
	id   string // device id, key id or tenant.TokenRevocationID(jti)
}

// Every cached entry remembers the KV revision it came from, to recognise
// a value seen again after a re-watch, and the watch generation that last
// saw it, to sweep entries a fresh snapshot no longer has.
type (
	tenantEntry struct {
		t        tenant.Tenant
		rev, gen uint64
	}
	deviceEntry struct {
		d        tenant.Device
		rev, gen uint64
	}
	keyEntry struct {
		k        *jwtauth.Key
		rev, gen uint64
	}
	revocationEntry struct {
		r        tenant.Revocation
		rev, gen uint64
	}
	quotasEntry struct {
		q        tenant.Quotas
		rev, gen uint64
	}
)

// Cache is an in-memory, watched copy of the configuration bucket. Its
// lookups are safe for concurrent use and never block on the network.
//
// Locks: mu guards the cached state, subsMu the subscribers; the two are
// never held together, and callbacks run with neither held.
type Cache struct {
	cfg Config
	js  jetstream.JetStream
	log *slog.Logger
	now func() time.Time

	mu          sync.RWMutex
	tenants     map[string]tenantEntry            // guarded by mu
	devices     map[deviceRef]deviceEntry         // guarded by mu
	keys        map[string]keyEntry               // guarded by mu
	deviceKeys  map[string][]*jwtauth.Key         // guarded by mu; by device id, across tenants; slices are replaced, never mutated
	revocations map[revocationRef]revocationEntry // guarded by mu
	quotas      map[string]quotasEntry            // guarded by mu
	interned    map[string]string                 // guarded by mu; tenant ids shared by device records

	subsMu sync.Mutex
	subs   []func(auth.Revocation) // guarded by subsMu

	ready     chan struct{} // closed once the first snapshot is loaded
	readyOnce sync.Once
	done      chan struct{} // closed by Close

	// Owned by the watcher goroutine (Run).
	gen uint64

	startMu   sync.Mutex
	started   bool               // guarded by startMu
	cancel    context.CancelFunc // guarded by startMu; stops Start's goroutine
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var (
	_ jwtauth.KeySource       = (*Cache)(nil)
	_ jwtauth.DeviceKeyFinder = (*Cache)(nil)
)

// New returns a Cache; it does nothing until Start or Run.
func New(cfg Config, deps Deps) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JetStream == nil {
		return nil, errors.New("keycache: no JetStream client")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	return &Cache{
		cfg:         cfg,
		js:          deps.JetStream,
		log:         log.With("component", "keycache", "bucket", cfg.Bucket),
		now:         now,
		tenants:     make(map[string]tenantEntry),
		devices:     make(map[deviceRef]deviceEntry),
		keys:        make(map[string]keyEntry),
		deviceKeys:  make(map[string][]*jwtauth.Key),
		revocations: make(map[revocationRef]revocationEntry),
		quotas:      make(map[string]quotasEntry),
		interned:    make(map[string]string),
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
	}, nil
}

// Start runs the watcher in a goroutine the Cache owns until ctx ends or
// Close is called. It does not wait for the initial values: see WaitReady.
func (c *Cache) Start(ctx context.Context) error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	if c.started {
		return errors.New("keycache: already started")
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(ctx)
	c.wg.Go(func() {
		if err := c.run(ctx); err != nil {
			c.log.Error("the configuration watcher stopped; authentication now uses the last known configuration", "err", err)
		}
	})
	return nil
}

// Run watches the bucket until ctx ends or Close is called, and returns
// nil then. It returns an error when the NATS connection is closed for
// good, ErrClosed when the Cache was closed before. Use either Run or
// Start, once.
func (c *Cache) Run(ctx context.Context) error {
	c.startMu.Lock()
	select {
	case <-c.done:
		c.startMu.Unlock()
		return ErrClosed
	default:
	}
	if c.started {
		c.startMu.Unlock()
		return errors.New("keycache: already started")
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(ctx)
	c.startMu.Unlock()
	c.wg.Add(1)
	defer c.wg.Done()
	return c.run(ctx)
}

// Close stops the watcher and waits for it. Lookups keep answering from
// the last known state. It is idempotent.
func (c *Cache) Close() {
	c.closeOnce.Do(func() { close(c.done) })
	c.startMu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	c.startMu.Unlock()
	c.wg.Wait()
}

// Ready is closed once the bucket's values at start-up are loaded.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// WaitReady blocks until the initial values are loaded, ctx ends (its
// error is returned) or the Cache is closed (ErrClosed).
func (c *Cache) WaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("keycache: wait for the initial configuration: %w", ctx.Err())
	case <-c.done:
		return ErrClosed
	}
}

// OnRevoke registers f to be called for every revocation event (see the
// package documentation). f runs on the watcher goroutine and must return
// quickly.
func (c *Cache) OnRevoke(f func(auth.Revocation)) {
	c.subsMu.Lock()
	c.subs = append(c.subs, f)
	c.subsMu.Unlock()
}

func (c *Cache) notify(events []auth.Revocation) {
	if len(events) == 0 {
		return
	}
	c.subsMu.Lock()
	subs := c.subs
	c.subsMu.Unlock()
	for _, ev := range events {
		c.log.Info("credentials revoked: live sessions they cover will be disconnected",
			"tenant_id", ev.Tenant, "device_id", ev.Device, "key_id", ev.CredentialID, "token_id", ev.TokenID)
		for _, f := range subs {
			f(ev)
		}
	}
}

// Key implements jwtauth.KeySource. The pointer stays the same while the
// record is unchanged.
func (c *Cache) Key(kid string) (*jwtauth.Key, bool) {
	c.mu.RLock()
	e, ok := c.keys[kid]
	c.mu.RUnlock()
	return e.k, ok
}

// Tenant implements jwtauth.KeySource.
func (c *Cache) Tenant(tid string) (tenant.Tenant, bool) {
	c.mu.RLock()
	e, ok := c.tenants[tid]
	c.mu.RUnlock()
	return e.t, ok
}

// Device implements jwtauth.KeySource.
func (c *Cache) Device(tid, did string) (tenant.Device, bool) {
	c.mu.RLock()
	e, ok := c.devices[deviceRef{tid, did}]
	c.mu.RUnlock()
	return e.d, ok
}

// Revocation implements jwtauth.KeySource.
func (c *Cache) Revocation(tid string, kind tenant.RevocationKind, id string) (tenant.Revocation, bool) {
	c.mu.RLock()
	e, ok := c.revocations[revocationRef{tid, kind, id}]
	c.mu.RUnlock()
	return e.r, ok
}

// DeviceKeys implements jwtauth.DeviceKeyFinder: the device keys
// registered for device id did in any tenant. The caller must not modify
// the returned slice.
func (c *Cache) DeviceKeys(did string) []*jwtauth.Key {
	c.mu.RLock()
	ks := c.deviceKeys[did]
	c.mu.RUnlock()
	return ks
}

// Quotas returns the tenant's quota overrides (quotas.<tid>); ok is false
// when it has none. Apply them with Quotas.WithDefaults.
func (c *Cache) Quotas(tid string) (q tenant.Quotas, ok bool) {
	c.mu.RLock()
	e, ok := c.quotas[tid]
	c.mu.RUnlock()
	return e.q, ok
}

// Stats counts the cached entries.
type Stats struct {
	Tenants, Devices, Keys, Revocations, Quotas int
}

// Stats returns the number of cached entries of each kind.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Stats{
		Tenants:     len(c.tenants),
		Devices:     len(c.devices),
		Keys:        len(c.keys),
		Revocations: len(c.revocations),
		Quotas:      len(c.quotas),
	}
}
