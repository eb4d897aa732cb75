package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/conn"
)

// Heartbeats tells the sweeper which gateways are alive and elects one
// sweeper per dead gateway; *presence.Reader implements it.
type Heartbeats interface {
	Gateways(ctx context.Context) ([]presence.Gateway, error)
	ClaimSweep(ctx context.Context, dead presence.Gateway, holder string, ttl time.Duration) (*presence.Sweep, error)
	TakeSweep(ctx context.Context, id, holder string) (*presence.Sweep, error)
}

var _ Heartbeats = (*presence.Reader)(nil)

// Defaults for zero SweeperConfig fields.
const (
	DefaultSweeperDeadAfter     = 30 * time.Second
	DefaultSweeperCheckInterval = 5 * time.Second
	DefaultSweeperWillRate      = 500
	DefaultSweeperLockTTL       = 30 * time.Second
	DefaultSweeperPageSize      = 100
)

// SweeperConfig configures the sweeper that disconnects the sessions of
// crashed gateways (see Deps.Heartbeats). The zero value means the
// documented defaults.
type SweeperConfig struct {
	// Disable turns the sweeper off even when Deps.Heartbeats is set.
	Disable bool `json:"disable"`
	// DeadAfter is how long a gateway's heartbeat may be missing before
	// its sessions are disconnected on its behalf; at least three of the
	// dead gateway's heartbeat intervals are always allowed. Default 30s.
	DeadAfter time.Duration `json:"dead_after"`
	// CheckInterval is how often the heartbeats are read. Default 5s.
	CheckInterval time.Duration `json:"check_interval"`
	// WillRate bounds the wills per second this gateway publishes for
	// sessions of dead gateways, and for delayed wills whose gateway's
	// timer is gone (conn.Wills.Sweep), so that thousands of wills of one
	// crash or stop do not arrive at once. Default 500.
	WillRate int `json:"will_rate"`
	// LockTTL is how long the sweep lock of a dead gateway outlives its
	// holder: another gateway takes the sweep over after it. The holder
	// refreshes the lock every third of it. Default 30s.
	LockTTL time.Duration `json:"lock_ttl"`
	// PageSize is how many sessions are read from the store at a time.
	// Default 100.
	PageSize int `json:"page_size"`
}

// Validate reports the first invalid field, by its configuration key.
func (c SweeperConfig) Validate() error {
	switch {
	case c.DeadAfter < 0:
		return errors.New("gateway: sweeper.dead_after must not be negative")
	case c.CheckInterval < 0:
		return errors.New("gateway: sweeper.check_interval must not be negative")
	case c.WillRate < 0:
		return errors.New("gateway: sweeper.will_rate must not be negative")
	case c.LockTTL < 0:
		return errors.New("gateway: sweeper.lock_ttl must not be negative")
	case c.PageSize < 0:
		return errors.New("gateway: sweeper.page_size must not be negative")
	}
	return nil
}

func (c SweeperConfig) withDefaults() SweeperConfig {
	if c.DeadAfter == 0 {
		c.DeadAfter = DefaultSweeperDeadAfter
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultSweeperCheckInterval
	}
	if c.WillRate == 0 {
		c.WillRate = DefaultSweeperWillRate
	}
	if c.LockTTL == 0 {
		c.LockTTL = DefaultSweeperLockTTL
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultSweeperPageSize
	}
	return c
}

// sweeper disconnects the sessions that crashed gateways left connected in
// the store, and publishes their wills. It is the "orphan" half of a
// session's end; the expiry half is conn.Wills.RunSweeper.
//
// Every gateway runs one. It reads the gateways' heartbeats every
// CheckInterval; for a gateway dead for DeadAfter it claims the sweep lock
// (one gateway wins per dead instance), pages through the sessions the
// store still lists as connected through the dead gateway, and orphans
// each with the time of the dead gateway's last heartbeat: the moment the
// connections were lost as far as anyone can tell. Then, for each session:
//
//   - expired already (expiry interval 0, or the interval has passed since
//     the crash): it is deleted, and its will published [MQTT-3.1.2-23];
//   - a will whose delay has passed: the will is cleared and published
//     [MQTT-3.1.2-8];
//   - a will due later, before the session expires: it stays stored, and
//     the store lists it as due from the crash plus its delay, so the
//     will sweeper of any gateway (conn.Wills.Sweep) publishes it then,
//     unless the client came back [MQTT-3.1.3-9];
//   - a will due after the session expires, or no will: nothing more; the
//     expiry sweeper ends the session (and publishes the will) on time.
//
// Sessions with a will are taken one at a time at WillRate, so the wills of
// a crash are paced; sessions without one are orphaned at store speed.
// Every step is fenced by an epoch (the one the session was listed with
// until Orphan, the one Orphan returns after), so a will is published
// once: a client that reconnects claims a new epoch, which fails the
// sweeper's next step, and what its new gateway finds (a connected session
// whose will is already taken, or a disconnected session) tells it there is
// no lost connection's will left to publish.
//
// A gateway that restarts under the same id sees its own previous life's
// sessions: before its listeners open, Server.Start takes the gateway's own
// sweep lock and lists the sessions still connected through its id (none
// can be the new instance's yet), and the sweeper orphans them like a dead
// gateway's, from the start time. A gateway that was sweeping the previous
// run loses the lock at its next refresh, which comes after listing a page
// and before touching it, so it never touches a session of the new run;
// the own lock is released once the new run's heartbeat is seen, so other
// gateways cannot mistake the old heartbeat for the new run's. (A gateway
// that crashes before that is swept after LockTTL.)
//
// Goroutines: run, started by Server.Start and waited for by
// Server.Shutdown. The sweeper keeps no will in memory: a delayed will is
// the store's, so one whose delay ends after this gateway stopped too is
// still published on time by another.
type sweeper struct {
	cfg   SweeperConfig
	self  string
	hb    Heartbeats
	store session.Store
	wills *conn.Wills
	log   *slog.Logger
	clock func() time.Time
	pace  *pacer

	swept map[string]string // gateway id → instance swept or found swept; owned by run
}

// newSweeper returns the sweeper of gateway self. Its pacer also paces
// the delayed wills that wills' sweep publishes, so both kinds of a
// crash's wills share WillRate.
func newSweeper(cfg SweeperConfig, self string, hb Heartbeats, store session.Store, wills *conn.Wills, log *slog.Logger, clock func() time.Time) *sweeper {
	cfg = cfg.withDefaults()
	w := &sweeper{
		cfg:   cfg,
		self:  self,
		hb:    hb,
		store: store,
		wills: wills,
		log:   log,
		clock: clock,
		pace:  &pacer{every: time.Second / time.Duration(cfg.WillRate)},
		swept: make(map[string]string),
	}
	wills.SetPacer(w.pace.wait)
	return w
}

// orphanRef is a session the sweeper is to orphan.
type orphanRef struct {
	key     session.Key
	epoch   uint64
	hasWill bool
}

// previousLife lists the sessions still connected through this gateway's
// own id. Called before the listeners open, they belong to an earlier
// instance that crashed, except those of connections this instance
// already serves (current reports whether it holds key with epoch), which
// only ServeConn before Start can make. Only the keys are kept.
//
// It first takes this gateway's own sweep lock, so that a gateway still
// sweeping the previous run (it was down long enough to be called dead)
// stops before this run accepts a connection: that sweeper refreshes the
// lock after listing each page of sessions and before touching them, so no
// page it acts on can hold a session of this run. run holds the lock
// (nil if it could not be taken) until this run's heartbeat is seen.
func (w *sweeper) previousLife(ctx context.Context, current func(session.Key, uint64) bool) ([]orphanRef, *presence.Sweep, error) {
	own, err := w.hb.TakeSweep(ctx, w.self, w.self)
	if err != nil {
		w.log.Warn("could not take this gateway's own sweep lock; a gateway sweeping its previous run may carry on for a while", "err", err)
	}
	var refs []orphanRef
	err = w.each(ctx, w.self, func(page []*session.State) bool {
		for _, st := range page {
			if !current(st.Key, st.Epoch) {
				refs = append(refs, orphanRef{st.Key, st.Epoch, st.Will != nil})
			}
		}
		return true
	})
	return refs, own, err
}

// each calls fn with every session connected through owner, a page at a
// time, until fn returns false.
func (w *sweeper) each(ctx context.Context, owner string, fn func([]*session.State) bool) error {
	cursor := ""
	for {
		page, next, err := w.store.Owned(ctx, owner, cursor, w.cfg.PageSize)
		if err != nil {
			return fmt.Errorf("gateway: list the sessions of gateway %s: %w", owner, err)
		}
		if len(page) > 0 && !fn(page) {
			return nil
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// run sweeps the previous life's sessions, then checks the heartbeats every
// CheckInterval until ctx ends.
func (w *sweeper) run(ctx context.Context, previous []orphanRef, own *presence.Sweep, started time.Time) {
	refreshed := time.Now()
	keepOwn := func() {
		if own != nil && time.Since(refreshed) > w.cfg.LockTTL/3 {
			if err := own.Refresh(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("could not refresh this gateway's own sweep lock", "err", err)
			}
			refreshed = time.Now()
		}
	}
	if len(previous) > 0 {
		wills := 0
		for _, r := range previous {
			if r.hasWill {
				wills++
			}
		}
		w.log.Warn(fmt.Sprintf("gateway %s did not stop cleanly last time: %s of its sessions are still marked connected; disconnecting them and publishing their %s wills at up to %d/s",
			w.self, count(len(previous)), count(wills), w.cfg.WillRate))
		var st sweepStats
		for _, r := range previous {
			if ctx.Err() != nil {
				return
			}
			keepOwn()
			s, err := w.store.Load(ctx, r.key)
			switch {
			case err != nil:
				w.count(ctx, &st, r.key, w.self, err)
			case s.Epoch != r.epoch || !s.Connected || s.Owner != w.self:
				st.returned++
			default:
				w.orphan(ctx, s, w.self, started, &st)
			}
		}
		w.log.Info(fmt.Sprintf("the sessions gateway %s held before its restart are disconnected: %s", w.self, st))
	}
	t := time.NewTicker(w.cfg.CheckInterval)
	defer t.Stop()
	for {
		if own != nil {
			// Other gateways may sweep this id again once its heartbeat
			// shows this run alive: they can no longer mistake the
			// previous run's stale heartbeat for this run's.
			if w.selfAlive(ctx) {
				if err := own.Finish(ctx); err != nil && ctx.Err() == nil {
					w.log.Warn("could not release this gateway's own sweep lock", "err", err)
				} else {
					w.log.Debug(fmt.Sprintf("the heartbeat of gateway %s is visible: should it crash, another gateway will disconnect its sessions", w.self))
				}
				own = nil
			} else {
				keepOwn()
			}
		}
		w.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// selfAlive reports whether the heartbeats show this gateway alive.
func (w *sweeper) selfAlive(ctx context.Context) bool {
	gws, err := w.hb.Gateways(ctx)
	if err != nil {
		return false
	}
	for _, g := range gws {
		if g.ID == w.self {
			return g.Alive(w.clock(), w.cfg.DeadAfter)
		}
	}
	return false
}

// check reads the heartbeats once and sweeps every gateway found dead.
func (w *sweeper) check(ctx context.Context) {
	gws, err := w.hb.Gateways(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("could not read the gateway heartbeats to look for crashed gateways", "err", err)
		}
		return
	}
	now := w.clock()
	for _, g := range gws {
		if ctx.Err() != nil {
			return
		}
		if g.ID == w.self || g.Alive(now, w.cfg.DeadAfter) || w.swept[g.ID] == g.Instance {
			continue
		}
		w.sweepDead(ctx, g)
	}
}

// sweepDead orphans the sessions of dead gateway g if this gateway wins
// its sweep lock.
func (w *sweeper) sweepDead(ctx context.Context, g presence.Gateway) {
	lock, err := w.hb.ClaimSweep(ctx, g, w.self, w.cfg.LockTTL)
	switch {
	case errors.Is(err, presence.ErrSweepDone):
		w.swept[g.ID] = g.Instance
		return
	case errors.Is(err, presence.ErrSweepHeld):
		return
	case err != nil:
		if ctx.Err() == nil {
			w.log.Warn(fmt.Sprintf("could not claim the sweep of crashed gateway %s", g.ID), "err", err)
		}
		return
	}
	// Count first, for an operator's estimate; the count is bounded
	// memory too, a page at a time.
	sessions, wills := 0, 0
	if err := w.each(ctx, g.ID, func(page []*session.State) bool {
		for _, st := range page {
			sessions++
			if st.Will != nil {
				wills++
			}
		}
		return true
	}); err != nil {
		w.log.Warn(fmt.Sprintf("could not list the sessions of crashed gateway %s", g.ID), "err", err)
		return
	}
	ago := w.clock().Sub(g.LastSeen).Round(time.Second)
	if sessions == 0 {
		w.log.Info(fmt.Sprintf("gateway %s stopped sending heartbeats %s ago; it left no session connected", g.ID, ago))
	} else {
		w.log.Warn(fmt.Sprintf("gateway %s stopped sending heartbeats %s ago; disconnecting its %s sessions and publishing their %s wills at up to %d/s",
			g.ID, ago, count(sessions), count(wills), w.cfg.WillRate))
	}
	var st sweepStats
	var refreshed time.Time
	lost := false
	refresh := func() bool {
		if err := lock.Refresh(ctx); err != nil {
			w.log.Warn(fmt.Sprintf("lost the sweep lock of crashed gateway %s: it restarted, or another gateway carries on", g.ID), "err", err)
			lost = true
			return false
		}
		refreshed = time.Now()
		return true
	}
	err = w.each(ctx, g.ID, func(page []*session.State) bool {
		// Refreshed after the page was listed: a restarted gateway takes
		// its lock before it accepts connections, so a page listed before
		// a successful refresh holds none of its new sessions.
		if !refresh() {
			return false
		}
		for _, s := range page {
			if time.Since(refreshed) > w.cfg.LockTTL/3 && !refresh() {
				return false
			}
			w.orphan(ctx, s, g.ID, g.LastSeen, &st)
			if ctx.Err() != nil {
				return false
			}
		}
		return true
	})
	if lost {
		return
	}
	if err != nil || ctx.Err() != nil {
		if ctx.Err() == nil {
			w.log.Warn(fmt.Sprintf("the sweep of crashed gateway %s stopped; it will be resumed", g.ID), "err", err)
		}
		return
	}
	if err := lock.Finish(ctx); err != nil {
		w.log.Warn(fmt.Sprintf("lost the sweep lock of crashed gateway %s before recording it swept: it restarted, or another gateway carries on", g.ID), "err", err)
		return
	}
	w.swept[g.ID] = g.Instance
	if sessions > 0 {
		w.log.Info(fmt.Sprintf("the sessions of crashed gateway %s are disconnected: %s", g.ID, st))
	}
}

// sweepStats counts what a sweep did.
type sweepStats struct {
	orphaned, published, delayed, returned, failed int
}

func (s sweepStats) String() string {
	out := fmt.Sprintf("%s sessions disconnected, %s wills published", count(s.orphaned), count(s.published))
	if s.delayed > 0 {
		out += fmt.Sprintf(", %s wills to publish when their delay ends", count(s.delayed))
	}
	if s.returned > 0 {
		out += fmt.Sprintf(", %s clients had reconnected meanwhile", count(s.returned))
	}
	if s.failed > 0 {
		out += fmt.Sprintf(", %s sessions failed (see the warnings above)", count(s.failed))
	}
	return out
}

// orphan disconnects one session, listed as connected through owner, on
// owner's behalf at at, and settles its will.
//
// Orphan is fenced by the epoch the session was listed with, so exactly
// one caller succeeds: this sweeper or another (a gateway restarting under
// the dead id sweeps its own previous run), and never both. A will
// already due (its delay, or the session's expiry, has passed since at) is
// taken in the same step. If the client came back through another gateway
// first, Orphan fails, and that gateway found the lost connection and
// published the will itself [MQTT-3.1.2-8]; a client that comes back
// afterwards finds the session disconnected and its will gone. A will due
// later stays stored; the store lists it when its delay ends, and the will
// sweeper of whichever gateway takes it first publishes it.
func (w *sweeper) orphan(ctx context.Context, s *session.State, owner string, at time.Time, st *sweepStats) {
	if s.Will != nil && w.pace.wait(ctx) != nil {
		return
	}
	now := w.clock()
	take := s.Will != nil && willDue(s, at, now)
	o, err := w.store.Orphan(ctx, s.Key, owner, s.Epoch, at, take)
	if err != nil {
		w.count(ctx, st, s.Key, owner, err)
		return
	}
	st.orphaned++
	if take {
		if o.Will != nil && w.publish(ctx, o.Key, o.Will) {
			st.published++
		}
		o.Will = nil // taken: no longer stored
	}
	if o.ExpiredAt(now) {
		// The session ended with the connection, or expired since the
		// crash [MQTT-3.1.2-23]; a will still stored is due.
		if w.end(ctx, o) {
			st.published++
		}
		return
	}
	if _, ok := o.WillDueAt(); ok {
		st.delayed++ // due later, before the session ends [MQTT-3.1.3-9]
	}
	// Otherwise there is no will left, or the session ends first and the
	// expiry sweeper publishes the will then.
}

// willDue reports whether the will of s, whose connection was lost at at,
// is due at now: its delay has passed, or the session has ended
// [MQTT-3.1.3-9].
func willDue(s *session.State, at, now time.Time) bool {
	due := at.Add(time.Duration(s.Will.Delay) * time.Second)
	if s.ExpiryInterval != session.NeverExpire {
		if end := at.Add(time.Duration(s.ExpiryInterval) * time.Second); end.Before(due) {
			due = end
		}
	}
	return !due.After(now)
}

// count records a session the sweeper could not take: one whose client
// came back (or that ended) meanwhile, or a store error.
func (w *sweeper) count(ctx context.Context, st *sweepStats, key session.Key, owner string, err error) {
	if errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound) {
		st.returned++
		return
	}
	st.failed++
	if ctx.Err() == nil {
		w.log.Warn(fmt.Sprintf("could not disconnect the session of client %s left by gateway %s", key.ClientID, owner),
			"tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
	}
}

// end deletes an expired orphaned session and publishes a will it still
// stores. Only the caller whose Delete succeeds publishes: the will
// sweeper of any gateway may race for the session (Delete) or its will
// (TakeWill gives the session a new epoch, which fails this Delete).
func (w *sweeper) end(ctx context.Context, o *session.State) bool {
	if err := w.store.Delete(ctx, o.Key, o.Epoch); err != nil {
		if !errors.Is(err, session.ErrFenced) && !errors.Is(err, session.ErrNotFound) {
			w.log.Warn("could not end the session of a crashed gateway's client", "tenant_id", o.Tenant, "client_id", o.ClientID, "err", err)
		}
		return false
	}
	return o.Will != nil && w.publish(ctx, o.Key, o.Will)
}

func (w *sweeper) publish(ctx context.Context, key session.Key, will *session.Will) bool {
	if err := w.wills.Publish(ctx, key.Tenant, key.ClientID, will); err != nil {
		w.log.Warn("could not publish the will of a crashed gateway's client", "tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
		return false
	}
	return true
}

// pacer spaces events at least every apart, across goroutines.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time // guarded by mu: when the next event may happen
}

// wait blocks until the next slot, or until ctx ends (then it returns
// ctx's error).
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	p.next = later(p.next, now)
	at := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// count writes n with thousands separators: 1,204.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
