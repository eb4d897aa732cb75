package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// maxUpgradeHeaderBytes bounds the HTTP headers of a WebSocket upgrade
// request; browsers send well under 8 KiB.
const maxUpgradeHeaderBytes = 64 << 10

// ErrClosed is returned by Serve once the listener has stopped accepting
// because of Close, Shutdown or the end of Serve's context.
var ErrClosed = errors.New("listener: closed")

// Listener owns one listening socket and hands each connection it accepts to
// a Handler, as a net.Conn. Create it with Listen, run it with Serve, stop it
// with Shutdown (graceful) or Close (immediate). Its methods are safe for
// concurrent use.
//
// Lifecycle: Listen binds the socket. Serve accepts until its context is done
// or Shutdown/Close is called, then returns ErrClosed; connection goroutines
// may still be running then. Shutdown stops accepting, cancels every
// handler's context, and waits for the handlers to return.
type Listener struct {
	cfg   Config // with defaults applied
	ep    endpoint
	log   *slog.Logger
	gate  *gate
	certs *certStore // nil unless the kind is tls or wss
	conns *connSet

	mu          sync.Mutex
	serving     bool               // guarded by mu: Serve was called
	stopped     bool               // guarded by mu: accepting has stopped for good
	cancelServe context.CancelFunc // guarded by mu: cancels Serve's handler contexts
	httpSrv     *http.Server       // guarded by mu: set by Serve for ws and wss

	failed     atomic.Uint64 // connections dropped before reaching the handler
	connErrLog throttle
}

// Stats are a listener's counters since Listen, for metrics and tests.
type Stats struct {
	// Open is the number of connections accepted and not yet closed: what
	// MaxConns limits. It includes connections still in their handshakes.
	Open int64
	// Accepted counts connections let through the rate and connection limits.
	Accepted uint64
	// Refused counts connections closed as soon as they were accepted: at
	// MaxConns, or from a peer outside ProxyTrustedNetworks.
	Refused uint64
	// Failed counts accepted connections dropped before reaching the
	// handler: a missing or invalid PROXY header, a failed TLS handshake
	// (kind tls), a refused WebSocket upgrade (kinds ws and wss). For kind
	// wss, TLS handshake failures happen inside the HTTP server and are only
	// logged, at debug level.
	Failed uint64
	// AcceptErrors counts failed accept calls (EMFILE and the like).
	AcceptErrors uint64
}

// Stats returns the listener's counters. It is cheap: a few atomic loads.
func (l *Listener) Stats() Stats {
	return Stats{
		Open:         l.gate.open.Load(),
		Accepted:     l.gate.accepted.Load(),
		Refused:      l.gate.refused.Load(),
		Failed:       l.failed.Load(),
		AcceptErrors: l.gate.acceptErrors.Load(),
	}
}

// Listen validates cfg, loads its TLS files if any, and binds the socket.
// Connections queue in the kernel until Serve accepts them. log may be nil.
func Listen(cfg Config, log *slog.Logger) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("listener", cfg.Name)

	l := &Listener{cfg: cfg, ep: endpoint{name: cfg.Name, kind: cfg.Kind}, log: log, conns: newConnSet()}
	if cfg.Kind.secure() {
		certs, err := newCertStore(cfg, log)
		if err != nil {
			return nil, err
		}
		l.certs = certs
	}
	var lc net.ListenConfig
	sock, err := lc.Listen(context.Background(), "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", cfg.Name, err)
	}
	l.gate = newGate(sock, cfg, log)
	l.gate.onHeaderError = func(c net.Conn, err error) {
		l.logConnError(c, "its PROXY protocol header was missing or invalid", err)
	}
	return l, nil
}

// Addr returns the address the socket is bound to; with port 0 in
// Config.Addr it tells the port the kernel picked.
func (l *Listener) Addr() net.Addr { return l.gate.Addr() }

// Name returns Config.Name.
func (l *Listener) Name() string { return l.cfg.Name }

// Serve accepts connections until ctx is done or Shutdown or Close is called,
// and then returns ErrClosed. It may be called once. Each connection is served
// by h in its own goroutine, after the PROXY header (if configured) and the TLS
// handshake or WebSocket upgrade have succeeded; connections that fail them
// are closed without reaching h. The context h receives is cancelled when ctx
// is done or the listener shuts down. Serve does not wait for the handlers:
// Shutdown does.
func (l *Listener) Serve(ctx context.Context, h Handler) error {
	serveCtx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	switch {
	case l.serving:
		l.mu.Unlock()
		cancel()
		return fmt.Errorf("listener %s: Serve called twice", l.cfg.Name)
	case l.stopped:
		l.mu.Unlock()
		cancel()
		return ErrClosed
	}
	l.serving = true
	l.cancelServe = cancel
	var srv *http.Server
	if l.cfg.Kind.websocket() {
		ws := newWebSocketHandler(serveCtx, cancel, l.cfg.Name, l.cfg.Kind, l.cfg.WebSocket, l.log, h, l.conns)
		ws.failed = &l.failed
		srv = &http.Server{
			Handler:           webSocketMux{path: l.cfg.WebSocket.Path, ws: ws},
			ReadHeaderTimeout: l.cfg.HandshakeTimeout,
			IdleTimeout:       l.cfg.HandshakeTimeout,
			MaxHeaderBytes:    maxUpgradeHeaderBytes,
			ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(serveCtx) },
		}
		l.httpSrv = srv
	}
	l.mu.Unlock()

	stop := context.AfterFunc(ctx, l.stopAccepting)
	defer stop()

	where := l.Addr().String()
	if l.cfg.Kind.websocket() {
		where += l.cfg.WebSocket.Path
	}
	l.log.Info(fmt.Sprintf("listener %s accepting %s on %s", l.cfg.Name, l.cfg.Kind.describe(), where),
		"addr", l.Addr().String(), "kind", string(l.cfg.Kind))

	var err error
	if srv != nil {
		var nl net.Listener = l.gate
		if l.certs != nil {
			nl = tls.NewListener(nl, l.certs.serverConfig())
		}
		err = srv.Serve(nl)
	} else {
		err = l.acceptLoop(serveCtx, h)
	}
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped || errors.Is(err, http.ErrServerClosed) {
		return ErrClosed
	}
	// The gate retries every accept error until it is closed, so this is
	// unexpected; stop accepting so that Shutdown still works.
	l.stopAccepting()
	return fmt.Errorf("listener %s: serve: %w", l.cfg.Name, err)
}

// acceptLoop runs the tcp and tls kinds.
func (l *Listener) acceptLoop(ctx context.Context, h Handler) error {
	var tlsConfig *tls.Config
	if l.certs != nil {
		tlsConfig = l.certs.serverConfig()
	}
	for {
		c, err := l.gate.Accept()
		if err != nil {
			return err
		}
		// Every handler gets Serve's context itself, which Shutdown and
		// Close cancel: a context per connection would cost each of a
		// gateway's many idle connections a few hundred bytes.
		if !l.conns.add(c, nil, nil) {
			_ = c.Close()
			return ErrClosed
		}
		go l.serveConn(ctx, c, tlsConfig, h)
	}
}

// serveConn completes the PROXY header and TLS handshake of c, then runs h.
// A connection h detached (Conn.Detach) is left to h to close and release.
func (l *Listener) serveConn(ctx context.Context, c net.Conn, tlsConfig *tls.Config, h Handler) {
	if pc, ok := c.(*proxyConn); ok {
		if err := pc.checkHeader(); err != nil {
			_ = c.Close()
			l.conns.remove(c)
			return // logged by the gate's onHeaderError
		}
	}
	hc := c
	var state *tls.ConnectionState
	if tlsConfig != nil {
		tc := tls.Server(c, tlsConfig)
		hctx, hcancel := context.WithTimeout(ctx, l.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			l.logConnError(c, "the TLS handshake failed", err)
			_ = c.Close()
			l.conns.remove(c)
			return
		}
		st := tc.ConnectionState()
		hc, state = tc, &st
	}
	var set *connSet
	if hc == c {
		set = l.conns // no TLS layer: the handler may detach it
	}
	wc := wrap(hc, &l.ep, state, set)
	if serve(ctx, l.log, l.cfg.Name, wc, h) {
		return
	}
	_ = c.Close()
	l.conns.remove(c)
}

// logConnError logs, at most once a second, why a connection was dropped
// before it reached the handler.
func (l *Listener) logConnError(c net.Conn, why string, err error) {
	l.failed.Add(1)
	if ok, suppressed := l.connErrLog.allow(l.gate.now()); ok {
		l.log.Info(fmt.Sprintf("listener %s dropped a connection from %s because %s", l.cfg.Name, c.RemoteAddr(), why),
			"remote_addr", c.RemoteAddr().String(), "err", err, "suppressed", suppressed)
	}
}

// serve runs h on c, turning a panic into a log line and a closed connection
// so one bad connection cannot take the process down. It closes c unless h
// detached it, and reports whether h did (and returned normally).
func serve(ctx context.Context, log *slog.Logger, name string, c net.Conn, h Handler) (keep bool) {
	defer func() {
		if p := recover(); p != nil {
			keep = false
			log.Error(fmt.Sprintf("listener %s: the handler of the connection from %s panicked", name, c.RemoteAddr()),
				"remote_addr", c.RemoteAddr().String(), "err", fmt.Errorf("panic: %v", p), "stack", string(debug.Stack()))
		}
		if !keep {
			_ = c.Close()
		}
	}()
	h.ServeConn(ctx, c)
	return detached(c)
}

// stopAccepting closes the socket for good. Connections already accepted are
// untouched. It is idempotent.
func (l *Listener) stopAccepting() {
	l.mu.Lock()
	already := l.stopped
	l.stopped = true
	l.mu.Unlock()
	if !already {
		_ = l.gate.Close()
	}
}

// Shutdown stops accepting, cancels the context of every connection's
// handler, and waits for the handlers to return until ctx is done. At ctx's
// end it closes the connections still open and returns ctx.Err(). It is
// idempotent and may be called before, during or after Serve.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.stopAccepting()
	l.conns.shutdown()
	l.mu.Lock()
	srv, cancel := l.httpSrv, l.cancelServe
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if srv != nil {
		// Waits for upgrades in progress; upgraded connections are tracked
		// by l.conns, not by the HTTP server.
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
	if err := l.conns.wait(ctx); err != nil {
		l.conns.closeAll()
		return fmt.Errorf("listener %s: shutdown: %w", l.cfg.Name, err)
	}
	return nil
}

// Close stops accepting and closes every connection at once, without waiting
// for the handlers to return. It is idempotent.
func (l *Listener) Close() error {
	l.stopAccepting()
	l.mu.Lock()
	srv, cancel := l.httpSrv, l.cancelServe
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if srv != nil {
		_ = srv.Close()
	}
	l.conns.closeAll()
	return nil
}
