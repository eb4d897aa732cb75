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
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
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
	gw         *gateway.Server
	components []Component
	cleanups   []func()
}

// Run runs flockd with args (without the program name) until ctx ends.
func Run(ctx context.Context, args []string) error {
	inst, err := Start(ctx, args, Options{})
	if err != nil {
		return err
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

	// NATS: embedded or external.
	var nc *nats.Conn
	var natsDesc string
	if cfg.NATSURL != "" {
		nc, err = nats.Connect(cfg.NATSURL, nats.Name("flockd "+cfg.GatewayID), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("flockd: connect to NATS at %s: %w", cfg.NATSURL, err)
		}
		natsDesc = "external NATS at " + cfg.NATSURL
	} else {
		ns, err := natsembed.Start(natsembed.Config{Port: -1, DataDir: cfg.DataDir, ServerName: cfg.GatewayID}, log)
		if err != nil {
			return nil, fmt.Errorf("flockd: start embedded NATS: %w", err)
		}
		inst.cleanups = append(inst.cleanups, ns.Shutdown)
		nc, err = nats.Connect("", nats.InProcessServer(ns.NATS()), nats.Name("flockd "+cfg.GatewayID))
		if err != nil {
			return nil, fmt.Errorf("flockd: connect to embedded NATS: %w", err)
		}
		natsDesc = "embedded NATS with JetStream, data in " + ns.StoreDir()
	}
	inst.cleanups = append(inst.cleanups, nc.Close)

	// Sessions: Redis or memory.
	var store session.Store
	var storeDesc string
	if cfg.RedisAddr != "" {
		client := redisstore.NewClient(redisstore.Config{Addrs: []string{cfg.RedisAddr}})
		inst.cleanups = append(inst.cleanups, func() { _ = client.Close() })
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		perr := client.Ping(pctx).Err()
		cancel()
		if perr != nil {
			return nil, fmt.Errorf("flockd: connect to Redis at %s: %w", cfg.RedisAddr, perr)
		}
		store = redisstore.New(client, redisstore.Options{})
		storeDesc = "Redis at " + cfg.RedisAddr
	} else {
		store = memstore.New()
		storeDesc = "in memory (lost when flockd stops)"
	}

	// Authentication.
	authn := opts.Authenticator
	if authn == nil {
		if cfg.AnonymousTenant == "" {
			return nil, errors.New("flockd: no way to authenticate clients: set --anonymous-tenant for development")
		}
		authn = auth.Anonymous{Tenant: cfg.AnonymousTenant}
	}

	gcfg := cfg.Gateway
	gcfg.GatewayID = cfg.GatewayID
	if cfg.MQTTAddr != "" {
		gcfg.Listeners = append(gcfg.Listeners, gateway.ListenerConfig{Name: "mqtt", Kind: gateway.ListenerTCP, Addr: cfg.MQTTAddr})
	}
	if cfg.WSAddr != "" {
		gcfg.Listeners = append(gcfg.Listeners, gateway.ListenerConfig{Name: "ws", Kind: gateway.ListenerWS, Addr: cfg.WSAddr})
	}
	gw, err := gateway.New(gcfg, gateway.Deps{NATS: nc, Sessions: store, Auth: authn, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := gw.Start(ctx); err != nil {
		return nil, err
	}
	inst.gw = gw
	inst.components = append([]Component{gatewayComponent{gw}}, opts.Extra...)
	inst.printBanner(opts.Stdout, natsDesc, storeDesc, opts.Authenticator == nil)
	return inst, nil
}

// MQTTAddr returns the bound address of the MQTT over TCP listener, or nil.
func (i *Instance) MQTTAddr() net.Addr { return i.gw.Addr("mqtt") }

// WSAddr returns the bound address of the WebSocket listener, or nil.
func (i *Instance) WSAddr() net.Addr { return i.gw.Addr("ws") }

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

// printBanner says in plain words what runs where and how to connect.
func (i *Instance) printBanner(w io.Writer, natsDesc, storeDesc string, anonymous bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nFlockMQ is running (role %s, gateway %s).\n\n", i.cfg.Role, i.cfg.GatewayID)
	if a := i.MQTTAddr(); a != nil {
		port := a.(*net.TCPAddr).Port
		fmt.Fprintf(&b, "  MQTT over TCP        %s\n", a)
		fmt.Fprintf(&b, "      try: mosquitto_sub -h localhost -p %d -t 'demo/#' -v\n", port)
		fmt.Fprintf(&b, "           mosquitto_pub -h localhost -p %d -t demo/hello -m 'hi'\n", port)
	}
	if a := i.WSAddr(); a != nil {
		fmt.Fprintf(&b, "  MQTT over WebSocket  ws://localhost:%d/mqtt\n", a.(*net.TCPAddr).Port)
	}
	fmt.Fprintf(&b, "  Messaging            %s\n", natsDesc)
	fmt.Fprintf(&b, "  Sessions             %s\n", storeDesc)
	if anonymous {
		fmt.Fprintf(&b, "\n  !!! ANONYMOUS ACCESS IS ON: any client can connect without credentials, as tenant %q. !!!\n", i.cfg.AnonymousTenant)
		b.WriteString("  !!! Do not expose this instance to a network you do not trust. !!!\n")
	}
	b.WriteString("\nStop with Ctrl-C.\n\n")
	_, _ = io.WriteString(w, b.String())
	if anonymous {
		i.log.Warn(fmt.Sprintf("anonymous access is on: clients without credentials connect as tenant %s", i.cfg.AnonymousTenant))
	}
}
