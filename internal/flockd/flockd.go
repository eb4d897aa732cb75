// Package flockd wires the flockd binary: configuration (flags, FLOCKD_*
// environment variables, a strict JSON or YAML file), logging, and the
// components of each role. The all role runs everything in one process: an
// embedded NATS server with JetStream, in-memory sessions (or Redis) and the
// MQTT gateway; the gateway role runs the gateway against an external NATS.
//
// A role is a list of Components run together: the first to fail stops the
// others. The control plane plugs in as one more Component.
package flockd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"

	"github.com/flockmq/flockmq/internal/gctune"
	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/auth/keycache"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/pkg/telemetry"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane"
	"github.com/flockmq/flockmq/services/gateway"
)

// Component is one long-running part of a role. Run blocks until ctx ends
// (then it shuts down and returns nil) or it fails.
type Component interface {
	Name() string
	Run(ctx context.Context) error
}

// Options are the process-level inputs of Start.
type Options struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Authenticator, when set, replaces the anonymous authenticator (the
	// lead wires JWT verification here).
	Authenticator auth.Authenticator
	// Extra components run beside the role's own (the control plane).
	Extra []Component
}

// Instance is a started flockd.
type Instance struct {
	cfg        Config
	log        *slog.Logger
	gw         *gateway.Server // nil in the controlplane role
	http       net.Addr        // nil without an HTTP listener
	components []Component
	cleanups   []func()
}

// Run runs flockd with args (without the program name) until ctx ends.
func Run(ctx context.Context, args []string) error {
	inst, err := Start(ctx, args, Options{})
	if err != nil {
		return err
	}
	// The collector's setting is the process's: only the binary's own
	// instance tunes it, never one of several started in a test process.
	if t := gctune.New(inst.cfg.GC, inst.log); t != nil {
		inst.components = append(inst.components, runComponent{"gctune", func(ctx context.Context) error {
			t.Run(ctx)
			return nil
		}})
	}
	return inst.Run(ctx)
}

// Start parses args, starts the role's parts and prints where to connect.
// Run the returned Instance to serve.
func Start(ctx context.Context, args []string, opts Options) (_ *Instance, err error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	cfg, err := parse(args, opts.Getenv, opts.Stderr)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg, opts.Stderr)
	inst := &Instance{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			inst.cleanup()
		}
	}()
	b := banner{role: cfg.Role, gatewayID: cfg.GatewayID}

	tcfg := cfg.Telemetry
	if tcfg.InstanceID == "" {
		tcfg.InstanceID = cfg.GatewayID
	}
	tel, err := telemetry.Setup(ctx, tcfg, log)
	if err != nil {
		return nil, fmt.Errorf("flockd: %w", err)
	}
	inst.cleanups = append(inst.cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	})

	nc, err := inst.connectNATS(cfg, &b)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("flockd: JetStream: %w", err)
	}

	// The HTTP listener carries the control-plane API (when this process
	// runs it), /metrics and /healthz.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", tel.MetricsHandler())
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}

	// The control plane first: it creates the configuration bucket that
	// gateways watch.
	if cfg.hasControlPlane() {
		cpcfg := cfg.ControlPlane
		cpcfg.Addr = cfg.HTTPAddr
		if cfg.AdminKey != "" {
			cpcfg.AdminKey = cfg.AdminKey
		}
		cp, err := controlplane.New(cpcfg, controlplane.Deps{NATS: nc, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("flockd: control plane: %w", err)
		}
		mux.Handle("/", telemetry.HTTPMiddleware("flockd.controlplane")(cp.Handler()))
		inst.cleanups = append(inst.cleanups, func() { _ = cp.Shutdown(context.Background()) })
		b.controlPlane = true
	}

	if cfg.hasGateway() {
		if err := inst.startGateway(ctx, cfg, nc, js, opts, &b); err != nil {
			return nil, err
		}
	}

	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("flockd: http_addr %s: %w", cfg.HTTPAddr, err)
		}
		inst.http = ln.Addr()
		b.http = ln.Addr()
		inst.components = append(inst.components, &httpComponent{ln: ln, srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}})
	}
	inst.components = append(inst.components, opts.Extra...)
	b.mqtt, b.ws = inst.MQTTAddr(), inst.WSAddr()
	b.print(opts.Stdout, log)
	return inst, nil
}

// connectNATS connects to the external NATS, or starts the embedded one.
func (i *Instance) connectNATS(cfg Config, b *banner) (*nats.Conn, error) {
	name := nats.Name("flockd " + cfg.Role + " " + cfg.GatewayID)
	errs := nats.ErrorHandler(i.natsError)
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(cfg.NATSURL, name, errs, nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("flockd: connect to NATS at %s: %w", cfg.NATSURL, err)
		}
		i.cleanups = append(i.cleanups, nc.Close)
		b.nats = "external NATS at " + cfg.NATSURL
		return nc, nil
	}
	ncfg := natsembed.Config{Port: -1, DataDir: cfg.DataDir, ServerName: cfg.GatewayID}
	if cfg.NATSAddr != "" {
		host, port, err := net.SplitHostPort(cfg.NATSAddr)
		if err != nil {
			return nil, fmt.Errorf("flockd: nats_addr %q: %w", cfg.NATSAddr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("flockd: nats_addr %q: port: %w", cfg.NATSAddr, err)
		}
		ncfg.Host, ncfg.Port = host, p
	}
	ns, err := natsembed.Start(ncfg, i.log)
	if err != nil {
		return nil, fmt.Errorf("flockd: start embedded NATS: %w", err)
	}
	i.cleanups = append(i.cleanups, ns.Shutdown)
	nc, err := nats.Connect("", nats.InProcessServer(ns), name, errs)
	if err != nil {
		return nil, fmt.Errorf("flockd: connect to embedded NATS: %w", err)
	}
	i.cleanups = append(i.cleanups, nc.Close)
	b.nats = "embedded NATS with JetStream, data in " + ns.StoreDir()
	if u := ns.ClientURL(); u != "" {
		b.nats += "; other flockd processes can join with --nats-url " + u
	}
	return nc, nil
}

// natsError logs what NATS reports asynchronously on a connection, most
// often a subscription whose handler fell so far behind that NATS dropped
// messages for it.
func (i *Instance) natsError(nc *nats.Conn, sub *nats.Subscription, err error) {
	if sub == nil {
		i.log.Warn("NATS reported an error on this process's connection", "connection", nc.Opts.Name, "err", err)
		return
	}
	if errors.Is(err, nats.ErrSlowConsumer) {
		dropped, _ := sub.Dropped()
		i.log.Warn(fmt.Sprintf("this process fell behind the messages of NATS subject %s: NATS dropped %d of them so far (slow consumer); QoS 0 messages among them are lost, QoS 1 and 2 ones stay in the tenant's stream", sub.Subject, dropped),
			"connection", nc.Opts.Name, "subject", sub.Subject, "dropped", dropped)
		return
	}
	i.log.Warn(fmt.Sprintf("NATS reported an error on subject %s", sub.Subject), "connection", nc.Opts.Name, "subject", sub.Subject, "err", err)
}

// startGateway builds the session store, authentication and the gateway.
func (i *Instance) startGateway(ctx context.Context, cfg Config, nc *nats.Conn, js jetstream.JetStream, opts Options, b *banner) error {
	log := i.log
	var store session.Store
	if cfg.RedisAddr != "" {
		client := redisstore.NewClient(redisstore.Config{Addrs: []string{cfg.RedisAddr}})
		i.cleanups = append(i.cleanups, func() { _ = client.Close() })
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		perr := client.Ping(pctx).Err()
		cancel()
		if perr != nil {
			return fmt.Errorf("flockd: connect to Redis at %s: %w", cfg.RedisAddr, perr)
		}
		store = redisstore.New(client, redisstore.Options{})
		b.sessions = "Redis at " + cfg.RedisAddr
	} else {
		store = memstore.New()
		b.sessions = "in memory (lost when flockd stops)"
	}

	// Authentication: JWTs verified against a local mirror of the tenants'
	// keys, never a network call per CONNECT.
	var cache *keycache.Cache
	authn := opts.Authenticator
	if authn == nil {
		var err error
		cache, err = keycache.New(keycache.Config{}, keycache.Deps{JetStream: js, Log: log})
		if err != nil {
			return fmt.Errorf("flockd: key cache: %w", err)
		}
		if err := cache.Start(ctx); err != nil {
			return fmt.Errorf("flockd: key cache: %w", err)
		}
		i.cleanups = append(i.cleanups, cache.Close)
		wctx, cancel := context.WithTimeout(ctx, keyCacheWait(ctx, js))
		werr := cache.WaitReady(wctx)
		cancel()
		if werr != nil {
			log.Warn("the tenant key cache is not ready yet (is a control plane running?); devices with tokens are told to retry (server unavailable) until it is", "err", werr)
		}
		// A client without a client id gets its device id [MQTT-3.1.3-6].
		verifier, err := jwtauth.New(jwtauth.Config{Audience: cfg.ControlPlane.Audience, AllowEmptyClientID: true}, jwtauth.Deps{Keys: cache})
		if err != nil {
			return fmt.Errorf("flockd: token verifier: %w", err)
		}
		authn = authChain{jwt: verifier, anonymous: cfg.AnonymousTenant, ready: cache.Ready()}
		b.anonymous = cfg.AnonymousTenant
	}

	gcfg := cfg.Gateway
	gcfg.GatewayID = cfg.GatewayID
	if cfg.MQTTAddr != "" {
		gcfg.Listeners = append(gcfg.Listeners, gateway.ListenerConfig{Name: "mqtt", Kind: gateway.ListenerTCP, Addr: cfg.MQTTAddr})
	}
	if cfg.WSAddr != "" {
		gcfg.Listeners = append(gcfg.Listeners, gateway.ListenerConfig{Name: "ws", Kind: gateway.ListenerWS, Addr: cfg.WSAddr})
	}
	// Quotas: the tenant's overrides from the control plane's bucket, the
	// anonymous tenant's from the configuration.
	anonQuotas := cfg.AnonymousQuotas.WithDefaults(anonymousQuotaDefaults)
	ld := gateway.LimitsDeps{NATS: nc, Logger: log, Meter: otel.GetMeterProvider()}
	ld.Overrides = func(tid string) (tenant.Quotas, bool) {
		if tid == cfg.AnonymousTenant && tid != "" {
			return anonQuotas, true
		}
		if cache != nil {
			return cache.Quotas(tid)
		}
		return tenant.Quotas{}, false
	}
	lcfg := gcfg.Limits
	lcfg.GatewayID = cfg.GatewayID
	lim, err := gateway.NewLimits(lcfg, ld)
	if err != nil {
		return fmt.Errorf("flockd: quotas: %w", err)
	}
	i.components = append(i.components, runComponent{"quotas", lim.Run})

	// Presence: who is connected where, for the control plane's device status.
	rep, err := presence.NewReporter(js, presence.Config{GatewayID: cfg.GatewayID}, log)
	if err != nil {
		return fmt.Errorf("flockd: presence: %w", err)
	}
	i.components = append(i.components, runComponent{"presence", rep.Run})

	// The sweeper reads the heartbeats to disconnect the sessions of
	// crashed gateways.
	beats, err := presence.NewReader(js, presence.Config{})
	if err != nil {
		return fmt.Errorf("flockd: presence: %w", err)
	}
	gw, err := gateway.New(gcfg, gateway.Deps{NATS: nc, Sessions: store, Auth: authn, Logger: log, Limits: lim, Presence: rep, Heartbeats: beats})
	if err != nil {
		return err
	}
	if cache != nil {
		// Revoking a device, key or token ends the live sessions it covers.
		cache.OnRevoke(func(r auth.Revocation) { gw.Revoke(r) })
	}
	if err := gw.Start(ctx); err != nil {
		return err
	}
	i.gw = gw
	i.components = append(i.components, gatewayComponent{gw})
	return nil
}

// keyCacheWait is how long a starting gateway waits for its key cache
// before it opens its listeners. When the configuration bucket exists it
// waits for the whole of it, up to 20 seconds: a gateway restarted into a
// reconnect storm that listened earlier could only turn its devices away
// (with "server unavailable", see authChain), at a cost in CPU that slows
// the load itself several times over; its devices are better refused by
// the kernel meanwhile. The bound stays below the default Kubernetes
// liveness window (3 probes 10 s apart), since /healthz is served only once
// Start returns; a larger configuration finishes loading while the gateway
// listens. Without the bucket (no control plane has run yet) it waits 3
// seconds, so anonymous clients get in.
func keyCacheWait(ctx context.Context, js jetstream.JetStream) time.Duration {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := js.KeyValue(lctx, tenant.ConfigBucket); err != nil {
		return 3 * time.Second
	}
	return 20 * time.Second
}

// MQTTAddr returns the bound address of the MQTT over TCP listener, or nil.
func (i *Instance) MQTTAddr() net.Addr {
	if i.gw == nil {
		return nil
	}
	return i.gw.Addr("mqtt")
}

// WSAddr returns the bound address of the WebSocket listener, or nil.
func (i *Instance) WSAddr() net.Addr {
	if i.gw == nil {
		return nil
	}
	return i.gw.Addr("ws")
}

// HTTPAddr returns the bound address of the HTTP listener (control-plane
// API, /metrics, /healthz), or nil.
func (i *Instance) HTTPAddr() net.Addr { return i.http }

// Gateway returns the gateway server.
func (i *Instance) Gateway() *gateway.Server { return i.gw }

// Run runs every component until ctx ends or one fails, then stops them all
// and releases NATS and the session store.
func (i *Instance) Run(ctx context.Context) error {
	defer i.cleanup()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(i.components))
	for k, c := range i.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				errs[k] = fmt.Errorf("%s: %w", c.Name(), err)
				cancel()
			}
		}()
	}
	wg.Wait()
	i.log.Info("flockd stopped")
	return errors.Join(errs...)
}

func (i *Instance) cleanup() {
	for k := len(i.cleanups) - 1; k >= 0; k-- {
		i.cleanups[k]()
	}
	i.cleanups = nil
}

// gatewayComponent runs an already started gateway until ctx ends.
type gatewayComponent struct{ gw *gateway.Server }

func (gatewayComponent) Name() string { return "gateway" }

func (g gatewayComponent) Run(ctx context.Context) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), gateway.DefaultShutdownTimeout)
	defer cancel()
	return g.gw.Shutdown(sctx)
}

// banner says in plain words what runs where and how to connect.
type banner struct {
	role, gatewayID string
	nats, sessions  string
	mqtt, ws, http  net.Addr
	controlPlane    bool
	anonymous       string // anonymous tenant, "" when off
}

func (b banner) print(w io.Writer, log *slog.Logger) {
	var s strings.Builder
	fmt.Fprintf(&s, "\nFlockMQ is running (role %s, gateway id %s).\n\n", b.role, b.gatewayID)
	if b.mqtt != nil {
		port := b.mqtt.(*net.TCPAddr).Port
		fmt.Fprintf(&s, "  MQTT over TCP        %s\n", b.mqtt)
		fmt.Fprintf(&s, "      try: mosquitto_sub -h localhost -p %d -t 'demo/#' -v\n", port)
		fmt.Fprintf(&s, "           mosquitto_pub -h localhost -p %d -t demo/hello -m 'hi'\n", port)
	}
	if b.ws != nil {
		fmt.Fprintf(&s, "  MQTT over WebSocket  ws://localhost:%d/mqtt\n", b.ws.(*net.TCPAddr).Port)
	}
	if b.http != nil {
		port := b.http.(*net.TCPAddr).Port
		if b.controlPlane {
			fmt.Fprintf(&s, "  Control plane API    http://localhost:%d/v1  (sign up: flockctl signup --url http://localhost:%d --name acme)\n", port, port)
		}
		fmt.Fprintf(&s, "  Metrics and health   http://localhost:%d/metrics, /healthz\n", port)
	}
	if b.nats != "" {
		fmt.Fprintf(&s, "  Messaging            %s\n", b.nats)
	}
	if b.sessions != "" {
		fmt.Fprintf(&s, "  Sessions             %s\n", b.sessions)
	}
	if b.anonymous != "" {
		fmt.Fprintf(&s, "\n  !!! ANONYMOUS ACCESS IS ON: any client without credentials connects as tenant %q. !!!\n", b.anonymous)
		s.WriteString("  !!! Clients presenting a token are still verified. Turn it off with --anonymous-tenant \"\". !!!\n")
		s.WriteString("  !!! Do not expose this instance to a network you do not trust. !!!\n")
	}
	s.WriteString("\nStop with Ctrl-C.\n\n")
	_, _ = io.WriteString(w, s.String())
	if b.anonymous != "" {
		log.Warn(fmt.Sprintf("anonymous access is on: clients without credentials connect as tenant %s", b.anonymous))
	}
}

// runComponent adapts a Run method to Component.
type runComponent struct {
	name string
	run  func(ctx context.Context) error
}

func (r runComponent) Name() string { return r.name }
func (r runComponent) Run(ctx context.Context) error {
	err := r.run(ctx)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // stopped while still starting up: not a failure
	}
	return err
}

// httpComponent serves the HTTP listener until ctx ends.
type httpComponent struct {
	ln  net.Listener
	srv *http.Server
}

func (*httpComponent) Name() string { return "http" }

func (h *httpComponent) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(h.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.srv.Shutdown(sctx)
	<-errc
	return err
}
