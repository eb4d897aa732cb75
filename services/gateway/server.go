package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/conn"
	"github.com/flockmq/flockmq/services/gateway/internal/limits"
	"github.com/flockmq/flockmq/services/gateway/internal/listener"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// ErrServerClosed is returned by Run and Start after Shutdown.
var ErrServerClosed = errors.New("gateway: server closed")

// Deps are the gateway's collaborators. NATS, Sessions and Auth are
// required; Logger and Clock default to a discarding logger and time.Now.
type Deps struct {
	NATS     *nats.Conn
	Sessions session.Store
	// Auth verifies every CONNECT. When it implements
	// auth.Reauthenticator, MQTT 5 re-authentication (AUTH 0x19) goes
	// through it; otherwise through Authenticate, and the new identity
	// must name the same tenant and device.
	Auth   auth.Authenticator
	Logger *slog.Logger
	Clock  func() time.Time
	// Limits enforces per-tenant quotas (build it with NewLimits and run
	// its Run); nil means no quotas. When set, each tenant's durable and
	// retained streams also follow its MaxQueuedMessages and MaxRetained.
	Limits *Limits
	// Presence is told of every connection that succeeds and of its end;
	// nil means no presence reporting.
	Presence Presence
	// Heartbeats, when set, runs the sweeper (Config.Sweeper): the
	// sessions that crashed gateways left connected in the store are
	// disconnected on their behalf and their wills published.
	// *presence.Reader implements it. nil means no sweeper: such sessions
	// stay connected until their clients come back.
	Heartbeats Heartbeats
}

// Presence receives device presence from the gateway: Connected after
// every successful CONNACK (tenant and device from the authenticated
// identity), Disconnected when that connection ends, with the reason as a
// sentence ("keepalive of 1m0s expired", "client sent DISCONNECT"). The
// gateway calls both on the connection's goroutine, so they must not
// block; *presence.Reporter, which queues, implements it.
type Presence interface {
	Connected(ctx context.Context, s presence.Status) error
	Disconnected(ctx context.Context, tenantID, deviceID, clientID, reason string, at time.Time) error
}

var _ Presence = (*presence.Reporter)(nil)

// Limits enforces per-tenant quotas; see NewLimits.
type Limits = limits.Limits

// LimitsConfig configures Limits (Config.Limits).
type LimitsConfig = limits.Config

// LimitsDeps are the collaborators of Limits: NATS for cluster-wide
// connection counts, Overrides for the tenants' quota overrides.
type LimitsDeps = limits.Deps

// NewLimits returns the per-tenant quota enforcer to pass as Deps.Limits.
// Run its Run(ctx) for connection counts across gateways, and call its
// Invalidate(tenantID) (or Server.ApplyLimits) when a tenant's quotas
// change. Set cfg.GatewayID to the gateway's id so its usage reports are
// recognisable.
func NewLimits(cfg LimitsConfig, deps LimitsDeps) (*Limits, error) {
	l, err := limits.New(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return l, nil
}

// Server is one gateway. It is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	br  *bridge.Bridge
	env *conn.Env
	swp *sweeper // nil without Deps.Heartbeats

	kick *bridge.Subscription

	mu        sync.Mutex // guards the fields below
	sessions  map[session.Key]*conn.Conn
	conns     map[*conn.Conn]context.Context // every connection served, with the context ServeConn got (nil: none to watch)
	watches   map[context.Context]*ctxWatch  // the contexts of conns, watched once each (watch)
	listeners []*listener.Listener
	closed    bool
	started   bool

	wg           sync.WaitGroup // connections served by ServeConn
	bg           sync.WaitGroup // listener and sweeper goroutines
	bgCancel     context.CancelFunc
	shutdownOnce sync.Once
	shutdownErr  error
}

// New returns a Server; Start or Run opens its listeners.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	switch {
	case deps.NATS == nil:
		return nil, errors.New("gateway: Deps.NATS is required")
	case deps.Sessions == nil:
		return nil, errors.New("gateway: Deps.Sessions is required")
	case deps.Auth == nil:
		return nil, errors.New("gateway: Deps.Auth is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := deps.Clock
	if clock == nil {
		clock = time.Now
	}
	// The gateway's parts log with the gateway id and their own component
	// name; the gateway's own lines (and its connections') say "gateway".
	base := log.With("gateway_id", cfg.GatewayID)
	log = base.With("component", "gateway")
	if deps.Limits != nil {
		cfg.Bridge.TenantLimits = quotaStreamLimits(deps.Limits, cfg.Bridge.TenantLimits)
	}
	br, err := bridge.New(deps.NATS, cfg.Bridge, base)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	rt := router.New(br, base)
	if !cfg.DisableLocalDelivery {
		if err := br.DeliverLocally(rt.DeliverLocal); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		br:       br,
		sessions: make(map[session.Key]*conn.Conn),
		conns:    make(map[*conn.Conn]context.Context),
		watches:  make(map[context.Context]*ctxWatch),
	}
	s.env = &conn.Env{
		GatewayID: cfg.GatewayID,
		Bridge:    br,
		Router:    rt,
		Sessions:  deps.Sessions,
		Auth:      deps.Auth,
		Registry:  (*registry)(s),
		Wills:     conn.NewWills(br, deps.Sessions, log, clock),
		Log:       log,
		Clock:     clock,
		Quotas:    deps.Limits,
		Presence:  deps.Presence,
		Cooldowns: new(conn.Cooldowns),
		Limits: conn.Limits{
			MaxPacketSize:     cfg.MaxPacketSize,
			ReceiveMaximum:    cfg.ReceiveMaximum,
			MaxInflight:       cfg.MaxInflight,
			MaxQueuedBytes:    cfg.MaxQueuedBytes,
			MaxPending:        cfg.MaxPending,
			TopicAliasMaximum: cfg.TopicAliasMaximum,
			OutTopicAliases:   !cfg.DisableServerTopicAliases,
			KeepAliveMin:      cfg.KeepAliveMin,
			KeepAliveMax:      cfg.KeepAliveMax,
			ServerKeepAlive:   cfg.ServerKeepAlive,
			ConnectTimeout:    cfg.ConnectTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			SessionExpiryMax:  cfg.SessionExpiryMax,
			RetainAvailable:   !cfg.DisableRetain,
			WildcardAvailable: !cfg.DisableWildcardSubs,
			SubIDsAvailable:   !cfg.DisableSubIDs,
			SharedAvailable:   !cfg.DisableSharedSubs,
			ServerReference:   cfg.ServerReference,
		},
	}
	s.env.Ended = s.detachedEnded
	if cfg.DisableParking {
		log.Info("idle connections keep a goroutine each: parking is turned off (gateway.disable_parking)")
	} else if p, err := conn.NewPoller(); err != nil {
		log.Info("idle connections keep a goroutine each: they cannot be parked on this system", "err", err)
	} else {
		s.env.Poller = p
	}
	if deps.Heartbeats != nil && !cfg.Sweeper.Disable {
		s.swp = newSweeper(cfg.Sweeper, cfg.GatewayID, deps.Heartbeats, deps.Sessions, s.env.Wills, log, clock)
	}
	s.kick, err = br.OnKick(s.onKick)
	if err != nil {
		_ = br.Close()
		if s.env.Poller != nil {
			_ = s.env.Poller.Close()
		}
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return s, nil
}

// quotaStreamLimits returns a bridge.Config.TenantLimits under which a
// tenant's streams follow its quotas (MaxQueuedMessages, MaxRetained), with
// next's values, when it has any, taking precedence.
func quotaStreamLimits(l *Limits, next func(string) (bridge.Limits, bool)) func(string) (bridge.Limits, bool) {
	return func(tenantID string) (bridge.Limits, bool) {
		q := l.For(tenantID).Quotas()
		bl := bridge.Limits{MaxQueuedMessages: q.MaxQueuedMessages, MaxRetained: q.MaxRetained}
		if next != nil {
			if o, ok := next(tenantID); ok {
				if o.MaxQueuedMessages != 0 {
					bl.MaxQueuedMessages = o.MaxQueuedMessages
				}
				if o.MaxRetained != 0 {
					bl.MaxRetained = o.MaxRetained
				}
				bl.MaxQueuedBytes, bl.MaxQueueAge = o.MaxQueuedBytes, o.MaxQueueAge
			}
		}
		return bl, true
	}
}

// ApplyLimits makes a change of the tenant's quotas take effect: the
// quota checks use the new values from the next check on (Limits.Invalidate)
// and the tenant's streams get the new queue and retained limits. Call it
// when quotas.<tenant id> changes; without Deps.Limits it only reapplies
// the stream limits.
func (s *Server) ApplyLimits(ctx context.Context, tenantID string) error {
	if s.env.Quotas != nil {
		s.env.Quotas.Invalidate(tenantID)
	}
	if err := s.br.ApplyLimits(ctx, tenantID); err != nil {
		return fmt.Errorf("gateway: apply the limits of tenant %s: %w", tenantID, err)
	}
	return nil
}

// registry implements conn.Registry over the Server's session map.
type registry Server

func (r *registry) Swap(key session.Key, c *conn.Conn) *conn.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.sessions[key]
	r.sessions[key] = c
	return old
}

func (r *registry) Lookup(key session.Key) *conn.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[key]
}

func (r *registry) Remove(key session.Key, c *conn.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[key] == c {
		delete(r.sessions, key)
	}
}

// onKick closes the local connection of a session another gateway took over.
func (s *Server) onKick(k bridge.Kick) {
	s.mu.Lock()
	c := s.sessions[session.Key{Tenant: k.Tenant, ClientID: k.ClientID}]
	s.mu.Unlock()
	if c != nil && c.Epoch() < k.Epoch {
		c.Kill(conn.CloseTakenOver)
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// Start opens the configured listeners and starts serving them, and starts
// the session expiry sweeper and, with Deps.Heartbeats, the sweeper of
// crashed gateways' sessions. It returns once the sockets are bound.
// Before it opens them it lists the sessions the store still says are
// connected through this gateway's id: an earlier run that crashed left
// them, and the sweeper disconnects them.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrServerClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("gateway: Start called twice")
	}
	s.started = true
	s.mu.Unlock()

	var previous []orphanRef
	var own *presence.Sweep
	started := s.env.Clock()
	if s.swp != nil {
		var err error
		previous, own, err = s.swp.previousLife(ctx, func(k session.Key, epoch uint64) bool {
			c := (*registry)(s).Lookup(k)
			return c != nil && c.Epoch() == epoch
		})
		if err != nil {
			s.log.Warn("could not list the sessions an earlier run of this gateway left connected", "err", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // Shutdown ran meanwhile
		return ErrServerClosed
	}
	var ls []*listener.Listener
	for _, lc := range s.cfg.Listeners {
		l, err := listener.Listen(lc, s.log)
		if err != nil {
			for _, o := range ls {
				_ = o.Close()
			}
			return fmt.Errorf("gateway: %w", err)
		}
		ls = append(ls, l)
	}
	s.listeners = ls
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgCancel = cancel
	for _, l := range ls {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			err := l.Serve(bgCtx, listener.HandlerFunc(s.ServeConn))
			if err != nil && !errors.Is(err, listener.ErrClosed) {
				s.log.Error(fmt.Sprintf("listener %s stopped", l.Name()), "err", err)
			}
		}()
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.env.Wills.RunSweeper(bgCtx, s.cfg.ExpirySweepInterval)
	}()
	if s.env.Poller != nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.env.Poller.Run() // until shutdown closes it
		}()
	}
	if s.swp != nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.swp.run(bgCtx, previous, own, started)
		}()
	}
	return nil
}

// Addr returns the bound address of the listener named name, or nil.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.Name() == name {
			return l.Addr()
		}
	}
	return nil
}

// Run starts the server, serves until ctx ends, then shuts down within
// ShutdownTimeout. It returns nil after a shutdown caused by ctx.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// ServeConn serves one client connection until it ends, and closes nc. It
// is the listeners' handler and may be called directly (tests, custom
// transports). ctx ending shuts the connection down like Shutdown does.
// A plain TCP connection a listener lets go (listener.Conn.Detach) is
// parked while idle, with no goroutine (docs/adr/0008-idle-connections.md):
// ServeConn then returns once it first parks, and Shutdown still waits for
// its end.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	c := conn.New(s.env, nc)
	serveCtx := context.Background()
	watched := s.watchLocked(ctx)
	if watched == nil && ctx.Done() != nil {
		serveCtx = ctx // a context watch cannot share: the connection watches it
	}
	s.conns[c] = watched
	s.wg.Add(1)
	s.mu.Unlock()
	if d, ok := nc.(detacher); ok && s.env.Poller != nil && serveCtx.Done() == nil {
		// A plain TCP connection from a listener: it can do without a
		// goroutine while idle. ServeConn returns once it is parked.
		if tc, ok := d.Detach(); ok {
			c.Start(tc) // s.detachedEnded runs at its end
			return
		}
	}
	defer s.forget(c, watched)
	c.Serve(serveCtx)
}

// detacher is a connection a listener lets its handler keep after
// ServeConn returns (listener.Conn.Detach).
type detacher interface {
	Detach() (*net.TCPConn, bool)
}

var _ detacher = (*listener.Conn)(nil)

// detachedEnded is Env.Ended: a connection served with Start has ended.
func (s *Server) detachedEnded(c *conn.Conn, _ conn.CloseReason) {
	s.mu.Lock()
	watched := s.conns[c]
	s.mu.Unlock()
	s.forget(c, watched)
}

// forget unregisters an ended connection.
func (s *Server) forget(c *conn.Conn, watched context.Context) {
	s.mu.Lock()
	delete(s.conns, c)
	s.unwatchLocked(watched)
	s.mu.Unlock()
	s.wg.Done()
}

// ctxWatch is one context.AfterFunc shared by every connection served
// under the same context (a listener's), instead of one per connection.
type ctxWatch struct {
	stop func() bool
	n    int // connections served under the context
}

// watchLocked arranges for the connections served under ctx to be shut
// down when ctx ends, and returns ctx, or nil when there is nothing to
// watch (ctx is never done) or ctx cannot be shared as a map key (it is
// not a pointer). Callers hold s.mu.
func (s *Server) watchLocked(ctx context.Context) context.Context {
	if ctx.Done() == nil || reflect.TypeOf(ctx).Kind() != reflect.Pointer {
		return nil
	}
	w := s.watches[ctx]
	if w == nil {
		w = &ctxWatch{stop: context.AfterFunc(ctx, func() { s.killUnder(ctx) })}
		s.watches[ctx] = w
	}
	w.n++
	return ctx
}

// unwatchLocked undoes one watchLocked that returned ctx. Callers hold s.mu.
func (s *Server) unwatchLocked(ctx context.Context) {
	if ctx == nil {
		return
	}
	if w := s.watches[ctx]; w != nil {
		if w.n--; w.n == 0 {
			w.stop()
			delete(s.watches, ctx)
		}
	}
}

// killUnder shuts down the connections served under ctx, which has ended.
func (s *Server) killUnder(ctx context.Context) {
	s.mu.Lock()
	var victims []*conn.Conn
	for c, cc := range s.conns {
		if cc == ctx {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		c.Kill(conn.CloseServerShutdown)
	}
}

// Revoke disconnects every connection whose identity r covers, with MQTT 5
// reason 0x98 (administrative action), and reports how many it closed.
// Their presence records say "credentials revoked".
func (s *Server) Revoke(r auth.Revocation) int {
	s.mu.Lock()
	var victims []*conn.Conn
	for _, c := range s.sessions {
		if r.Covers(c.Identity()) {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		c.Kill(conn.CloseRevoked)
	}
	return len(victims)
}

// connsLocked lists the connections being served. Callers hold s.mu.
func (s *Server) connsLocked() []*conn.Conn {
	conns := make([]*conn.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// Connections reports the number of connections being served.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting, disconnects every client (MQTT 5 clients get
// DISCONNECT 0x8B, or 0x9C with the server reference; wills are published
// as for any abnormal close [MQTT-3.1.2-8]), waits for the connections until
// ctx ends, and releases the bridge. It is idempotent; later calls return
// the first result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	conns := s.connsLocked()
	cancel := s.bgCancel
	s.mu.Unlock()
	s.log.Info(fmt.Sprintf("gateway %s is shutting down: disconnecting %d clients", s.cfg.GatewayID, len(conns)))
	for _, c := range conns {
		c.Kill(conn.CloseServerShutdown)
	}
	var errs []error
	for _, l := range ls {
		if err := l.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("gateway: shutdown: %w", ctx.Err()))
		// Close what is still open, a client that stopped reading first
		// among them: the listeners do so for the connections they
		// track, not for the ones the gateway detached from them.
		s.mu.Lock()
		left := s.connsLocked()
		s.mu.Unlock()
		for _, c := range left {
			_ = c.NetConn().Close()
		}
	}
	if cancel != nil {
		cancel()
	}
	if s.env.Poller != nil {
		_ = s.env.Poller.Close()
	}
	s.bg.Wait()
	s.env.Wills.Close()
	if s.kick != nil {
		_ = s.kick.Unsubscribe()
	}
	if err := s.br.Close(); err != nil {
		errs = append(errs, fmt.Errorf("gateway: %w", err))
	}
	return errors.Join(errs...)
}
