package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/time/rate"
)

// Accept-error backoff, as net/http does it: start small, double, cap.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// gate is the net.Listener every kind accepts from. Around the TCP socket it
// applies, in order: the accept rate (waiting for a token before accepting),
// accept-error backoff, the connection limit (closing at once), and the PROXY
// protocol policy (wrapping trusted peers in a *proxyproto.Conn whose header
// is read lazily, by the connection's own goroutine, never by the accept loop).
//
// Accept is called from one goroutine at a time (Serve's loop or
// http.Server.Serve); Close and the counters are safe for concurrent use.
type gate struct {
	inner net.Listener
	name  string
	log   *slog.Logger

	limiter  *rate.Limiter // nil when the rate is unlimited
	maxConns int64         // 0 when unlimited
	open     atomic.Int64  // connections accepted and not yet closed

	accepted, refused, acceptErrors atomic.Uint64 // see Stats

	proxy        bool // wrap connections for PROXY protocol
	proxyPolicy  proxyproto.Policy
	proxyTimeout time.Duration
	trusted      []netip.Prefix // empty: trust every peer

	// onHeaderError is told about each connection dropped for a missing or
	// invalid PROXY header. Set before Serve.
	onHeaderError func(c net.Conn, err error)

	// now and sleep are the clock; tests replace them before Serve.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	ctx    context.Context // done once Close is called
	cancel context.CancelFunc

	acceptErrLog throttle
	refusedLog   throttle
}

func newGate(inner net.Listener, cfg Config, log *slog.Logger) *gate {
	g := &gate{
		inner:        inner,
		name:         cfg.Name,
		log:          log,
		maxConns:     int64(cfg.MaxConns),
		proxy:        cfg.ProxyProtocol,
		proxyPolicy:  proxyproto.REQUIRE,
		proxyTimeout: cfg.ProxyHeaderTimeout,
		now:          time.Now,
		sleep:        sleepCtx,
	}
	if cfg.ProxyProtocolOptional {
		g.proxyPolicy = proxyproto.USE
	}
	g.trusted, _ = parsePrefixes(cfg.ProxyTrustedNetworks) // validated by Config.Validate
	if cfg.MaxConnRate > 0 {
		g.limiter = rate.NewLimiter(rate.Limit(cfg.MaxConnRate), cfg.MaxConnBurst)
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

// Accept returns the next connection that passes the gate. It returns an
// error only once the gate is closed; other accept errors (EMFILE, ENFILE,
// ECONNABORTED, ...) are logged at most once a second and retried with
// backoff.
func (g *gate) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		if err := g.waitForToken(); err != nil {
			return nil, fmt.Errorf("listener %s: %w", g.name, net.ErrClosed)
		}
		c, err := g.inner.Accept()
		if err != nil {
			if g.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			g.acceptErrors.Add(1)
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			if ok, suppressed := g.acceptErrLog.allow(g.now()); ok {
				g.log.Warn(fmt.Sprintf("listener %s failed to accept a connection and retries in %s", g.name, backoff),
					"err", err, "suppressed", suppressed)
			}
			if err := g.sleep(g.ctx, backoff); err != nil {
				return nil, fmt.Errorf("listener %s: %w", g.name, net.ErrClosed)
			}
			continue
		}
		backoff = 0

		if g.maxConns > 0 && g.open.Load() >= g.maxConns {
			g.refused.Add(1)
			if ok, suppressed := g.refusedLog.allow(g.now()); ok {
				g.log.Warn(fmt.Sprintf("listener %s refused a connection from %s at the connection limit of %d",
					g.name, c.RemoteAddr(), g.maxConns),
					"remote_addr", c.RemoteAddr().String(), "limit", g.maxConns, "suppressed", suppressed)
			}
			_ = c.Close()
			continue
		}
		g.open.Add(1)
		cc := &countedConn{Conn: c, open: &g.open}

		if !g.proxy {
			g.accepted.Add(1)
			return cc, nil
		}
		if !g.isTrusted(c.RemoteAddr()) {
			if g.proxyPolicy == proxyproto.USE {
				// Optional PROXY protocol: serve the peer as itself and never
				// parse a header it might send to spoof its address.
				g.accepted.Add(1)
				return cc, nil
			}
			g.refused.Add(1)
			g.log.Debug(fmt.Sprintf("listener %s closed a connection from %s, which is not a trusted PROXY protocol source",
				g.name, c.RemoteAddr()), "remote_addr", c.RemoteAddr().String())
			_ = cc.Close()
			continue
		}
		g.accepted.Add(1)
		pc := proxyproto.NewConn(cc,
			proxyproto.WithPolicy(g.proxyPolicy),
			proxyproto.SetReadHeaderTimeout(g.proxyTimeout),
		)
		return &proxyConn{Conn: pc, pc: pc, onError: g.onHeaderError}, nil
	}
}

// waitForToken blocks until the accept rate allows one more connection.
func (g *gate) waitForToken() error {
	if g.limiter == nil {
		return g.ctx.Err()
	}
	now := g.now()
	r := g.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		return g.sleep(g.ctx, d)
	}
	return g.ctx.Err()
}

func (g *gate) isTrusted(addr net.Addr) bool {
	if len(g.trusted) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range g.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Close stops accepting; connections already accepted stay open.
func (g *gate) Close() error {
	g.cancel()
	return g.inner.Close()
}

// Addr returns the socket's address.
func (g *gate) Addr() net.Addr { return g.inner.Addr() }

// proxyConn is a connection that starts with a PROXY protocol header. The
// header is read on the first Read (or checkHeader), by whichever goroutine
// serves the connection; a missing or invalid one is reported once through
// onError and fails every Read and Write.
type proxyConn struct {
	net.Conn // pc, exposing only the net.Conn methods
	pc       *proxyproto.Conn
	onError  func(c net.Conn, err error)
	once     sync.Once
	err      error // set by once
}

// checkHeader reads and checks the header, within the header timeout, if
// that has not happened yet.
func (c *proxyConn) checkHeader() error {
	c.once.Do(func() {
		// A zero-length Read makes the library read and check the header
		// and return its error, as its Conn.Read documents.
		if _, err := c.pc.Read(nil); err != nil {
			c.err = fmt.Errorf("read PROXY header: %w", err)
			c.onError(c.pc.Raw(), c.err)
		}
	})
	return c.err
}

// NetConn returns the TCP connection under the PROXY protocol header.
func (c *proxyConn) NetConn() net.Conn { return c.pc.Raw() }

func (c *proxyConn) Read(b []byte) (int, error) {
	if err := c.checkHeader(); err != nil {
		return 0, err
	}
	return c.pc.Read(b)
}

func (c *proxyConn) Write(b []byte) (int, error) {
	if err := c.checkHeader(); err != nil {
		return 0, err
	}
	return c.pc.Write(b)
}

// countedConn releases its slot in the connection limit on first Close.
type countedConn struct {
	net.Conn
	open   *atomic.Int64
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}

// throttle lets a repeated log line through at most once a second and counts
// the ones it held back. It is safe for concurrent use.
type throttle struct {
	mu         sync.Mutex
	next       time.Time // guarded by mu
	suppressed int       // guarded by mu
}

// allow reports whether to log now, and how many lines were held back since
// the last one logged.
func (t *throttle) allow(now time.Time) (ok bool, suppressed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.next) {
		t.suppressed++
		return false, 0
	}
	t.next = now.Add(time.Second)
	suppressed, t.suppressed = t.suppressed, 0
	return true, suppressed
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
