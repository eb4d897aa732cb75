package listener

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
)

// Handler serves one connection handed over by a Listener or a
// WebSocketHandler. ServeConn runs in its own goroutine and owns c: it should
// close c before returning (the listener closes it afterwards regardless).
// ctx is cancelled when the listener shuts down or Serve's context is done,
// which is the handler's cue to say goodbye to its client and return.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c net.Conn)

// ServeConn calls f(ctx, c).
func (f HandlerFunc) ServeConn(ctx context.Context, c net.Conn) { f(ctx, c) }

// Conn is the net.Conn handed to a Handler by a plain (tcp, ws) listener.
// RemoteAddr reports the client named by a PROXY protocol header when the
// listener reads one. Connections from TLS kinds are *TLSConn, which adds the
// negotiated TLS state.
type Conn struct {
	net.Conn
	ep *endpoint

	// Detach state: set is the listener's connection set when c may be
	// detached (plain TCP; Conn is then the key it is tracked under);
	// detached is set by Detach on the handler's goroutine and read by the
	// same goroutine after ServeConn returns.
	set      *connSet
	detached bool
}

// endpoint is what a Conn reports of the listener that accepted it, shared
// by all its connections.
type endpoint struct {
	name string
	kind Kind
}

// Detach lets the handler keep serving a plain TCP connection after
// ServeConn returns, so that an idle connection need not hold a goroutine
// (the gateway parks it in an epoll set). It must be called from ServeConn.
// It returns the TCP socket under c, for the handler's system calls, and
// false for connections with a TLS, WebSocket or PROXY protocol layer,
// which may buffer input the socket no longer shows and stay attached, and
// once the listener is shutting down.
//
// A detached connection is the handler's alone: the listener no longer
// tracks it (a tracking entry would cost each of a gateway's many idle
// connections about 100 bytes), so Shutdown neither waits for it nor
// closes it, and the handler ends and closes it, when Serve's context ends
// too. The listener's count of open connections (Stats) still includes it
// until it is closed.
func (c *Conn) Detach() (*net.TCPConn, bool) {
	if c.set == nil || c.detached {
		return nil, false
	}
	cc, ok := c.Conn.(*countedConn)
	if !ok {
		return nil, false
	}
	tc, ok := cc.Conn.(*net.TCPConn)
	if !ok || !c.set.release(c.Conn) {
		return nil, false
	}
	c.detached = true
	return tc, true
}

// ListenerName returns the Config.Name of the listener that accepted c.
func (c *Conn) ListenerName() string { return c.ep.name }

// Kind returns the transport that carried c.
func (c *Conn) Kind() Kind { return c.ep.kind }

// NetConn returns the connection c wraps (as (*tls.Conn).NetConn does),
// for a caller that needs the socket underneath, such as a check whether
// the peer has closed it.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// TLSConn is the net.Conn handed to a Handler by a tls or wss listener. Its
// ConnectionState method has the signature of (*tls.Conn).ConnectionState, so
// handlers can find it with one type assertion on
// interface{ ConnectionState() tls.ConnectionState } for either type.
type TLSConn struct {
	Conn
	state tls.ConnectionState
}

// ConnectionState returns the state of the completed TLS handshake, including
// the verified client certificate chain under mutual TLS.
func (c *TLSConn) ConnectionState() tls.ConnectionState { return c.state }

// Compile-time interface guards.
var (
	_ net.Conn                                           = (*Conn)(nil)
	_ net.Conn                                           = (*TLSConn)(nil)
	_ interface{ ConnectionState() tls.ConnectionState } = (*TLSConn)(nil)
	_ interface{ ListenerName() string }                 = (*TLSConn)(nil)
)

// wrap builds the Conn or TLSConn a handler receives. set, when not nil,
// lets a handler detach a plain TCP connection c, which set tracks (see
// Conn.Detach).
func wrap(c net.Conn, ep *endpoint, state *tls.ConnectionState, set *connSet) net.Conn {
	base := Conn{Conn: c, ep: ep}
	if state != nil {
		return &TLSConn{Conn: base, state: *state}
	}
	if set != nil && ep.kind == KindTCP {
		base.set = set
	}
	return &base
}

// detached reports whether the handler detached c (Conn.Detach).
func detached(c net.Conn) bool {
	bc, ok := c.(*Conn)
	return ok && bc.detached
}

// connSet tracks the connections a listener or WebSocket handler is serving,
// so shutdown can notify, wait for and, at its deadline, close them. It is
// safe for concurrent use.
type connSet struct {
	mu      sync.Mutex
	conns   map[net.Conn]tracked // guarded by mu
	closing bool                 // guarded by mu; once true, add fails
	// drained is closed once closing is true and conns is empty.
	drained chan struct{}
}

func newConnSet() *connSet {
	return &connSet{conns: make(map[net.Conn]tracked), drained: make(chan struct{})}
}

// tracked is how a connSet notifies and force-closes one connection.
type tracked struct {
	cancel     context.CancelFunc // cancels the handler's context; nil when the handler has a shared one
	forceClose func() error       // closes at once, without any goodbye; nil for c.Close
}

// add tracks c, whose handler context is cancelled by cancel (nil: one its
// owner cancels) and which forceClose closes at once (nil: c.Close). It
// reports false when the set is shutting down; the caller must then close c
// itself.
func (s *connSet) add(c net.Conn, cancel context.CancelFunc, forceClose func() error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = tracked{cancel: cancel, forceClose: forceClose}
	return true
}

// release stops tracking c, which must have been added, for good: its
// handler detached it (Conn.Detach). It reports false when the set is
// shutting down: the handler's context is cancelled already, and the
// connection stays tracked until it ends.
func (s *connSet) release(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok || s.closing {
		return false
	}
	delete(s.conns, c)
	return true
}

// remove stops tracking c. Removing c again, or a c never added, does
// nothing.
func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 {
		close(s.drained)
	}
}

// len returns the number of tracked connections.
func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// shutdown refuses further connections and cancels the context of every
// tracked one. It is idempotent.
func (s *connSet) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	for _, t := range s.conns {
		if t.cancel != nil {
			t.cancel()
		}
	}
	if len(s.conns) == 0 {
		close(s.drained)
	}
}

// closeAll shuts the set down and closes every tracked connection.
func (s *connSet) closeAll() {
	s.shutdown()
	s.mu.Lock()
	closers := make([]func() error, 0, len(s.conns))
	for c, t := range s.conns {
		if t.forceClose == nil {
			t.forceClose = c.Close
		}
		closers = append(closers, t.forceClose)
	}
	s.mu.Unlock()
	for _, forceClose := range closers {
		_ = forceClose()
	}
}

// wait shuts the set down and blocks until every tracked connection is
// removed or ctx is done.
func (s *connSet) wait(ctx context.Context) error {
	s.shutdown()
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
