package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/services/gateway"
	"github.com/flockmq/flockmq/services/gateway/internal/listener"
)

// errCrashed is what a crashed gateway's store calls return.
var errCrashed = errors.New("the gateway process is gone")

// crashable is the session store as one gateway sees it: once crash is
// called, every call fails, as none can come from a dead process. The
// store itself, shared with the other gateways, is real and unchanged.
type crashable struct {
	session.Store
	down atomic.Bool
}

func (c *crashable) crash() { c.down.Store(true) }

func (c *crashable) err() error {
	if c.down.Load() {
		return errCrashed
	}
	return nil
}

func (c *crashable) Claim(ctx context.Context, k session.Key, owner string, pl byte, clean bool, now time.Time) (session.Claimed, error) {
	if err := c.err(); err != nil {
		return session.Claimed{}, err
	}
	return c.Store.Claim(ctx, k, owner, pl, clean, now)
}

func (c *crashable) Load(ctx context.Context, k session.Key) (*session.State, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.Load(ctx, k)
}

func (c *crashable) PutSubscriptions(ctx context.Context, k session.Key, e uint64, subs []session.Subscription) error {
	return cmpErr(c.err(), func() error { return c.Store.PutSubscriptions(ctx, k, e, subs) })
}

func (c *crashable) DeleteSubscriptions(ctx context.Context, k session.Key, e uint64, filters []string) error {
	return cmpErr(c.err(), func() error { return c.Store.DeleteSubscriptions(ctx, k, e, filters) })
}

func (c *crashable) SetWill(ctx context.Context, k session.Key, e uint64, w *session.Will) error {
	return cmpErr(c.err(), func() error { return c.Store.SetWill(ctx, k, e, w) })
}

func (c *crashable) PutInflight(ctx context.Context, k session.Key, e uint64, f session.Inflight) error {
	return cmpErr(c.err(), func() error { return c.Store.PutInflight(ctx, k, e, f) })
}

func (c *crashable) DeleteInflight(ctx context.Context, k session.Key, e uint64, d session.Direction, id uint16) error {
	return cmpErr(c.err(), func() error { return c.Store.DeleteInflight(ctx, k, e, d, id) })
}

func (c *crashable) SetLastSeq(ctx context.Context, k session.Key, e uint64, seq uint64) error {
	return cmpErr(c.err(), func() error { return c.Store.SetLastSeq(ctx, k, e, seq) })
}

func (c *crashable) SetExpiry(ctx context.Context, k session.Key, e uint64, x uint32) error {
	return cmpErr(c.err(), func() error { return c.Store.SetExpiry(ctx, k, e, x) })
}

func (c *crashable) Disconnect(ctx context.Context, k session.Key, e uint64, now time.Time) error {
	return cmpErr(c.err(), func() error { return c.Store.Disconnect(ctx, k, e, now) })
}

func (c *crashable) Delete(ctx context.Context, k session.Key, e uint64) error {
	return cmpErr(c.err(), func() error { return c.Store.Delete(ctx, k, e) })
}

func (c *crashable) Expired(ctx context.Context, now time.Time, limit int) ([]*session.State, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.Expired(ctx, now, limit)
}

func (c *crashable) DueWills(ctx context.Context, now time.Time, limit int) ([]*session.State, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.DueWills(ctx, now, limit)
}

func (c *crashable) TakeWill(ctx context.Context, k session.Key, e uint64, now time.Time) (*session.Will, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.TakeWill(ctx, k, e, now)
}

func (c *crashable) Owned(ctx context.Context, owner, cursor string, limit int) ([]*session.State, string, error) {
	if err := c.err(); err != nil {
		return nil, "", err
	}
	return c.Store.Owned(ctx, owner, cursor, limit)
}

func (c *crashable) Orphan(ctx context.Context, k session.Key, owner string, e uint64, at time.Time, take bool) (*session.State, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.Orphan(ctx, k, owner, e, at, take)
}

func cmpErr(err error, f func() error) error {
	if err != nil {
		return err
	}
	return f()
}

// member is one gateway of a sweeper test cluster.
type member struct {
	*testGateway
	store *crashable
}

// crash stops the gateway the way a killed process stops: it never
// writes to the session store again, its NATS connection (and with it
// its heartbeat) is gone, and so are its clients' TCP connections. No
// shutdown path runs.
func (m *member) crash(clients ...*client) {
	m.store.crash()
	m.nc.Close()
	for _, c := range clients {
		_ = c.nc.Close()
	}
}

// sweepCluster runs gateways against one NATS server and one session
// store, each with presence heartbeats every 100ms and, unless told
// otherwise, a sweeper that finds a gateway dead after 1.5s (15 missed
// heartbeats: a loaded test machine must not make a live gateway look
// dead).
type sweepCluster struct {
	tb    testing.TB
	ns    *natsembed.Server
	store session.Store
}

func newSweepCluster(tb testing.TB, store session.Store) *sweepCluster {
	return &sweepCluster{tb: tb, ns: natstest.Start(tb), store: store}
}

// start runs gateway id; without sweeper it has heartbeats but no sweeper.
// mutate adjusts its configuration.
func (sc *sweepCluster) start(id string, sweeper bool, mutate ...func(*gateway.Config)) *member {
	tb := sc.tb
	tb.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(sc.ns.NATS()))
	if err != nil {
		tb.Fatalf("connect to NATS: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, err := presence.NewReporter(js, presence.Config{GatewayID: id, Heartbeat: 100 * time.Millisecond}, log)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = rep.Run(ctx) })
	rd, err := presence.NewReader(js, presence.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	store := &crashable{Store: sc.store}
	deps := gateway.Deps{NATS: nc, Sessions: store, Auth: auth.Anonymous{Tenant: "acme"}, Logger: log, Presence: rep}
	if sweeper {
		deps.Heartbeats = rd
	}
	cfg := gateway.Config{
		GatewayID:           id,
		Listeners:           []listener.Config{{Name: "mqtt", Kind: listener.KindTCP, Addr: "127.0.0.1:0"}},
		ExpirySweepInterval: 100 * time.Millisecond,
		Sweeper:             gateway.SweeperConfig{DeadAfter: 1500 * time.Millisecond, CheckInterval: 100 * time.Millisecond, WillRate: 1000},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := gateway.New(cfg, deps)
	if err != nil {
		tb.Fatalf("gateway.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		err := srv.Shutdown(sctx)
		if err != nil && !store.down.Load() { // a crashed gateway's shutdown fails, as it should
			tb.Errorf("Shutdown of %s: %v", id, err)
		}
		cancel()
		wg.Wait()
		if tb.Failed() {
			tb.Logf("log of %s:\n%s", id, logs.String())
		}
	})
	return &member{testGateway: &testGateway{srv: srv, addr: srv.Addr("mqtt").String(), logs: logs, nc: nc}, store: store}
}

// willOf returns a CONNECT option: a QoS 1 will on wills/<id>, with the
// v5 will delay and session expiry given (ignored by the MQTT 3 encoder).
func willOf(id string, delay, expiry uint32) func(*mqtt.Connect) {
	return func(c *mqtt.Connect) {
		c.Will = &mqtt.Will{Topic: "wills/" + id, Payload: []byte(id + " is gone"), QoS: 1}
		c.Will.Properties.WillDelay = delay
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = expiry, expiry != 0
	}
}

// collectWills reads PUBLISHes on sub until every topic of want arrived,
// and fails on a topic outside want or one arriving twice.
func collectWills(tb testing.TB, sub *client, want ...string) {
	tb.Helper()
	got := map[string]int{}
	for len(got) < len(want) {
		p := sub.expectPublish()
		if !slices.Contains(want, p.Topic) {
			tb.Fatalf("will on %q published; want only %q", p.Topic, want)
		}
		if got[p.Topic]++; got[p.Topic] > 1 {
			tb.Fatalf("will on %q published twice", p.Topic)
		}
	}
}

// expectNothing fails when sub receives anything within a short while.
func expectNothing(tb testing.TB, sub *client) {
	tb.Helper()
	if p, err := sub.readErr(500 * time.Millisecond); err == nil {
		tb.Fatalf("unexpected packet %v", p)
	}
}

// TestCrashedGatewayWills: gateway gw1 crashes with clients holding wills
// and persistent sessions. One of the surviving gateways disconnects the
// sessions on its behalf and publishes each will once, when due; a client
// that came back through another gateway first gets no will published,
// nor does one that comes back while its will waits for its delay; clients
// that come back later do not get their wills published again.
func TestCrashedGatewayWills(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) session.Store
	}{
		{"memstore", func(*testing.T) session.Store { return memstore.New() }},
		{"redis", func(t *testing.T) session.Store {
			return redisstore.New(redistest.Start(t).Client(t), redisstore.Options{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testCrashedGatewayWills(t, tc.store(t)) })
	}
}

func testCrashedGatewayWills(t *testing.T, store session.Store) {
	sc := newSweepCluster(t, store)
	victim := sc.start("gw1", true)
	gw2 := sc.start("gw2", true)
	gw3 := sc.start("gw3", true)
	watcher := connectClient(t, gw2.testGateway, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})

	// [MQTT-3.1.2-8] wills due when the connection is lost;
	// [MQTT-3.1.3-9] a will delay, or the session's end if sooner.
	clients := []*client{
		connectClient(t, victim.testGateway, mqtt.V5, "zero", true, willOf("zero", 0, 0)),
		connectClient(t, victim.testGateway, mqtt.V311, "v311", true, willOf("v311", 0, 0)),
		connectClient(t, victim.testGateway, mqtt.V5, "short-delay", false, willOf("short-delay", 1, 3600)),
		connectClient(t, victim.testGateway, mqtt.V5, "long-delay", false, willOf("long-delay", 3600, 3600)),
		connectClient(t, victim.testGateway, mqtt.V5, "expires", false, willOf("expires", 3600, 2)),
		connectClient(t, victim.testGateway, mqtt.V5, "returns", false, willOf("returns", 60, 3600)),
		connectClient(t, victim.testGateway, mqtt.V5, "returns-now", false, willOf("returns-now", 0, 3600)),
		connectClient(t, victim.testGateway, mqtt.V5, "delayed", false, willOf("delayed", 5, 3600)),
		connectClient(t, victim.testGateway, mqtt.V5, "delayed-returns", false, willOf("delayed-returns", 4, 3600)),
		connectClient(t, victim.testGateway, mqtt.V5, "no-will", false, func(c *mqtt.Connect) {
			c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 3600, true
		}),
	}
	checkFor(t, 10*time.Second, func() error {
		return logContains(victim.testGateway, "the heartbeat of gateway gw1 is visible")
	})
	victim.crash(clients...)

	// "returns" comes back before the grace ends, resuming its session:
	// its delayed will stays unsent, and the sweeper leaves it alone.
	// "returns-now" too, but its will had no delay: its new gateway
	// publishes it, as the old connection is lost, and the sweeper does
	// not publish it again.
	connectClient(t, gw3.testGateway, mqtt.V5, "returns", false, willOf("returns", 60, 3600))
	connectClient(t, gw3.testGateway, mqtt.V5, "returns-now", false)

	checkFor(t, 10*time.Second, func() error {
		for _, g := range []*member{gw2, gw3} {
			if logContains(g.testGateway, "the sessions of crashed gateway gw1 are disconnected: 8 sessions disconnected") == nil {
				return errors.Join(
					logContains(g.testGateway, "gateway gw1 stopped sending heartbeats"),
					logContains(g.testGateway, "disconnecting its 8 sessions and publishing their 7 wills at up to 1000/s"),
					logContains(g.testGateway, "wills to publish when their delay ends"))
			}
		}
		return errors.New("no surviving gateway logged the sweep of gw1")
	})
	// "delayed-returns" comes back after the sweep, before its will delay
	// of 4s ends: the will waiting for it is dropped.
	connectClient(t, gw2.testGateway, mqtt.V5, "delayed-returns", false)
	// Wills due at once, at the session's end (2s) and after a delay (5s,
	// after the dropped one's 4s).
	collectWills(t, watcher, "wills/returns-now", "wills/zero", "wills/v311", "wills/short-delay", "wills/expires", "wills/delayed")

	ctx := t.Context()
	for _, id := range []string{"long-delay", "no-will"} {
		st, err := store.Load(ctx, session.Key{Tenant: "acme", ClientID: id})
		if err != nil || st.Connected || st.Owner != "gw1" {
			t.Fatalf("session %s after the sweep: %+v, %v; want kept, disconnected", id, st, err)
		}
		if (st.Will != nil) != (id == "long-delay") {
			t.Fatalf("session %s after the sweep: will %+v", id, st.Will)
		}
	}
	if st, err := store.Load(ctx, session.Key{Tenant: "acme", ClientID: "returns"}); err != nil || !st.Connected || st.Owner != "gw3" {
		t.Fatalf("session of the returned client: %+v, %v; want connected through gw3", st, err)
	}

	// Exactly once: clients coming back do not bring their wills back.
	connectClient(t, gw2.testGateway, mqtt.V5, "zero", true)
	connectClient(t, gw2.testGateway, mqtt.V5, "short-delay", false)
	connectClient(t, gw3.testGateway, mqtt.V5, "long-delay", false)
	expectNothing(t, watcher)
}

// TestRestartedGatewaySweepsItsPreviousLife: a gateway that crashed and
// restarts under the same id, faster than any other gateway would call it
// dead, disconnects the sessions its previous run left connected and
// publishes their wills; sessions taken over meanwhile are left alone.
func TestRestartedGatewaySweepsItsPreviousLife(t *testing.T) {
	sc := newSweepCluster(t, memstore.New())
	old := sc.start("gw1", true)
	gw2 := sc.start("gw2", false)
	watcher := connectClient(t, gw2.testGateway, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})
	a := connectClient(t, old.testGateway, mqtt.V5, "a", true, willOf("a", 0, 0))
	b := connectClient(t, old.testGateway, mqtt.V311, "b", false, willOf("b", 0, 0))
	moved := connectClient(t, old.testGateway, mqtt.V5, "moved", false, willOf("moved", 60, 3600))
	old.crash(a, b, moved)
	connectClient(t, gw2.testGateway, mqtt.V5, "moved", false, willOf("moved", 60, 3600))

	restarted := sc.start("gw1", true, func(c *gateway.Config) { c.Sweeper.WillRate = 10 })
	collectWills(t, watcher, "wills/a", "wills/b")
	checkFor(t, 5*time.Second, func() error {
		return logContains(restarted.testGateway, "gateway gw1 did not stop cleanly last time: 2 of its sessions are still marked connected; disconnecting them and publishing their 2 wills")
	})
	// The restarted gateway serves the returning client as usual.
	connectClient(t, restarted.testGateway, mqtt.V311, "b", false)
	expectNothing(t, watcher)
}

// TestSweeperConfigValidate: negative settings are refused by key.
func TestSweeperConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  gateway.SweeperConfig
		want string
	}{
		{gateway.SweeperConfig{DeadAfter: -1}, "sweeper.dead_after"},
		{gateway.SweeperConfig{CheckInterval: -1}, "sweeper.check_interval"},
		{gateway.SweeperConfig{WillRate: -1}, "sweeper.will_rate"},
		{gateway.SweeperConfig{LockTTL: -1}, "sweeper.lock_ttl"},
		{gateway.SweeperConfig{PageSize: -1}, "sweeper.page_size"},
	} {
		err := gateway.Config{GatewayID: "gw", Sweeper: tc.cfg}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	if err := (gateway.Config{GatewayID: "gw"}).Validate(); err != nil {
		t.Errorf("Validate of the zero sweeper config = %v", err)
	}
}

// TestSweepStopsWhenGatewayRestarts: gw2 is slowly sweeping crashed gw1
// when gw1 restarts under the same id. gw2 stops at its next page, never
// touching a session of the new run; the new run finishes the previous
// run's sessions; every will is published once.
func TestSweepStopsWhenGatewayRestarts(t *testing.T) {
	store := memstore.New()
	sc := newSweepCluster(t, store)
	old := sc.start("gw1", true)
	gw2 := sc.start("gw2", true, func(c *gateway.Config) {
		c.Sweeper.WillRate, c.Sweeper.PageSize = 2, 2
	})
	watcher := connectClient(t, gw2.testGateway, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})
	var clients []*client
	var topics []string
	for i := range 10 {
		id := fmt.Sprintf("old-%d", i)
		clients = append(clients, connectClient(t, old.testGateway, mqtt.V5, id, true, willOf(id, 0, 0)))
		topics = append(topics, "wills/"+id)
	}
	checkFor(t, 10*time.Second, func() error {
		return logContains(old.testGateway, "the heartbeat of gateway gw1 is visible")
	})
	old.crash(clients...)
	checkFor(t, 10*time.Second, func() error {
		return logContains(gw2.testGateway, "gateway gw1 stopped sending heartbeats")
	})

	restarted := sc.start("gw1", true, func(c *gateway.Config) { c.Sweeper.WillRate = 10 })
	fresh := connectClient(t, restarted.testGateway, mqtt.V5, "fresh", false, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 3600, true
	})
	collectWills(t, watcher, topics...)
	checkFor(t, 10*time.Second, func() error {
		return logContains(gw2.testGateway, "lost the sweep lock of crashed gateway gw1")
	})
	st, err := store.Load(t.Context(), session.Key{Tenant: "acme", ClientID: "fresh"})
	if err != nil || !st.Connected || st.Owner != "gw1" {
		t.Fatalf("session of the new run's client: %+v, %v; want connected through gw1", st, err)
	}
	fresh.ping() // still served
	expectNothing(t, watcher)
}

// TestDelayedWillOutlivesItsGateway: a delayed will is the session
// store's, not the memory of the gateway that scheduled it. Whether that
// gateway shuts down, or dies once the connection is lost, before the will
// delay ends, another gateway publishes the will about when the delay ends
// (never before), once [MQTT-3.1.3-9] [MQTT-3.1.2-8].
func TestDelayedWillOutlivesItsGateway(t *testing.T) {
	for _, st := range []struct {
		name  string
		store func(t *testing.T) session.Store
	}{
		{"memstore", func(*testing.T) session.Store { return memstore.New() }},
		{"redis", func(t *testing.T) session.Store {
			return redisstore.New(redistest.Start(t).Client(t), redisstore.Options{})
		}},
	} {
		for _, stop := range []string{"shutdown", "killed"} {
			t.Run(st.name+"/"+stop, func(t *testing.T) {
				t.Parallel()
				testDelayedWillOutlivesItsGateway(t, st.store(t), stop)
			})
		}
	}
}

func testDelayedWillOutlivesItsGateway(t *testing.T, store session.Store, stop string) {
	const delay = 2 * time.Second
	sc := newSweepCluster(t, store)
	holder := sc.start("gw-a", false)
	other := sc.start("gw-b", false)
	watcher := connectClient(t, other.testGateway, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})
	dev := connectClient(t, holder.testGateway, mqtt.V5, "dev", false, willOf("dev", uint32(delay/time.Second), 3600))
	k := session.Key{Tenant: "acme", ClientID: "dev"}

	lost := time.Now()
	switch stop {
	case "shutdown":
		// The connection ends with the shutdown (DISCONNECT 0x8B): the
		// will is due after its delay, by when gw-a is gone.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := holder.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown of gw-a: %v", err)
		}
	case "killed":
		// The connection is lost and gw-a records it; then gw-a dies,
		// its timer for the will with it.
		_ = dev.nc.Close()
		checkFor(t, 5*time.Second, func() error {
			s, err := store.Load(t.Context(), k)
			if err != nil {
				return err
			}
			if s.Connected {
				return errors.New("the session is still connected")
			}
			return nil
		})
		holder.crash()
	}
	if s, err := store.Load(t.Context(), k); err != nil || s.Connected || s.Will == nil {
		t.Fatalf("session once gw-a is gone: %+v, %v; want disconnected, with its will stored", s, err)
	}

	p := watcher.expectPublish()
	took := time.Since(lost)
	if p.Topic != "wills/dev" || string(p.Payload) != "dev is gone" {
		t.Fatalf("watcher got %q %q, want the will of dev", p.Topic, p.Payload)
	}
	// DisconnectedAt is kept in milliseconds: allow for one.
	if took < delay-time.Millisecond {
		t.Fatalf("the will arrived %v after the connection was lost, before its delay of %v", took, delay)
	}
	t.Logf("the will arrived %v after the connection was lost (delay %v)", took.Round(time.Millisecond), delay)
	// The line is written once the publish is through: poll for it.
	checkFor(t, 5*time.Second, func() error {
		return logContains(other.testGateway, "published the will of client dev of tenant acme")
	})
	expectNothing(t, watcher)
	if s, err := store.Load(t.Context(), k); err != nil || s.Connected || s.Will != nil {
		t.Fatalf("session after its will: %+v, %v; want kept, disconnected, without its will", s, err)
	}
}

// TestDelayedWillOutlivesItsSweeper: crashed gw1's client had a will delay
// longer than it takes gw2 to find the crash. gw2 disconnects the session
// on gw1's behalf and leaves the will for its delay; then gw2 shuts down
// too. gw3, which sweeps no crashed gateway, publishes the will when the
// delay ends, once.
func TestDelayedWillOutlivesItsSweeper(t *testing.T) {
	t.Parallel()
	sc := newSweepCluster(t, memstore.New())
	victim := sc.start("gw1", true)
	sweeper := sc.start("gw2", true)
	last := sc.start("gw3", false)
	watcher := connectClient(t, last.testGateway, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})
	dev := connectClient(t, victim.testGateway, mqtt.V5, "dev", false, willOf("dev", 6, 3600))
	checkFor(t, 10*time.Second, func() error {
		return logContains(victim.testGateway, "the heartbeat of gateway gw1 is visible")
	})
	victim.crash(dev)
	checkFor(t, 10*time.Second, func() error {
		return logContains(sweeper.testGateway, "the sessions of crashed gateway gw1 are disconnected: 1 sessions disconnected, 0 wills published, 1 wills to publish when their delay ends")
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sweeper.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown of gw2: %v", err)
	}
	collectWills(t, watcher, "wills/dev")
	checkFor(t, 5*time.Second, func() error {
		return logContains(last.testGateway, "published the will of client dev of tenant acme")
	})
	expectNothing(t, watcher)
}

// lateSweepers is a session store whose DueWills finds nothing, as when
// no will sweeper has got to a due will yet.
type lateSweepers struct{ session.Store }

func (lateSweepers) DueWills(context.Context, time.Time, int) ([]*session.State, error) {
	return nil, nil
}

// TestResumeAfterWillDelay: a client that resumes its session after its
// will delay ended, before any sweeper published the will, gets the will
// published then, once; one that resumes before the delay ended does not
// [MQTT-3.1.3-9].
func TestResumeAfterWillDelay(t *testing.T) {
	store := memstore.New()
	g := startGatewaysWith(t, 1, lateSweepers{store})[0]
	watcher := connectClient(t, g, mqtt.V5, "watcher", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "wills/#", QoS: 1})
	ctx := t.Context()
	for _, tc := range []struct {
		client    string
		lost      time.Duration // how long ago the connection was lost
		published bool
	}{
		{"back-late", 10 * time.Second, true},
		{"back-in-time", time.Second, false},
	} {
		k := session.Key{Tenant: "acme", ClientID: tc.client}
		cl, err := store.Claim(ctx, k, "gw-gone", 5, true, time.Now())
		if err == nil {
			err = store.SetExpiry(ctx, k, cl.Epoch, 3600)
		}
		if err == nil {
			err = store.SetWill(ctx, k, cl.Epoch, &session.Will{Topic: "wills/" + tc.client, Payload: []byte("gone"), QoS: 1, Delay: 5})
		}
		if err == nil {
			err = store.Disconnect(ctx, k, cl.Epoch, time.Now().Add(-tc.lost))
		}
		if err != nil {
			t.Fatal(err)
		}
		connectClient(t, g, mqtt.V5, tc.client, false)
		if tc.published {
			if got := watcher.expectPublish(); got.Topic != "wills/"+tc.client {
				t.Fatalf("%s: got %v, want its will", tc.client, got)
			}
		}
		if st, err := store.Load(ctx, k); err != nil || !st.Connected || st.Will != nil {
			t.Fatalf("%s: session after the resume: %+v, %v; want connected without the old will", tc.client, st, err)
		}
	}
	expectNothing(t, watcher)
}
