// Package listener turns sockets into net.Conn values for the gateway's
// connection handler. It speaks TCP, TLS, WebSocket and secure WebSocket,
// optionally behind a PROXY protocol load balancer, and knows nothing of the
// protocol carried inside.
//
// # Pipeline
//
// Every kind accepts from the same gate around the TCP socket. In order:
//
//  1. Accept rate: with Config.MaxConnRate set, the gate takes a token from a
//     token bucket before each accept, so a reconnect storm waits in the
//     kernel's accept queue instead of arriving all at once.
//  2. Accept errors (EMFILE and the like) are logged at most once a second
//     and retried with backoff from 5ms to 1s, never in a hot loop.
//  3. Connection limit: with Config.MaxConns set, a connection beyond it is
//     closed as soon as it is accepted.
//  4. PROXY protocol (opt-in): the v1 or v2 header is read by the
//     connection's own goroutine, within Config.ProxyHeaderTimeout, so a silent
//     peer never blocks the accept loop. RemoteAddr then reports the client.
//  5. TLS (kinds tls and wss): the handshake, within Config.HandshakeTimeout,
//     with the certificate reloaded from disk when its files change.
//  6. WebSocket (kinds ws and wss): an HTTP server upgrades requests at
//     Config.WebSocket.Path with subprotocol "mqtt" and presents the binary
//     message stream as a net.Conn.
//
// Only then does the Handler get the connection: a *Conn, or a *TLSConn that
// also carries the tls.ConnectionState (and so the client certificate under
// mutual TLS). Both report ListenerName and Kind.
//
// # Lifecycle and concurrency
//
// Listen binds, Serve accepts (one call per Listener), Shutdown stops
// accepting, cancels the handlers' context (Serve's, shared by all of them)
// and waits for the handlers, Close drops everything at once. Each
// connection runs in its own goroutine, tracked from the moment it is
// accepted until its handler returns, or, for a plain TCP connection the
// handler detached (Conn.Detach: the gateway parks idle connections in an
// epoll set rather than keep a goroutine each), until the handler releases
// it; Shutdown and Close call the stop function it gave instead of
// cancelling a context.
//
// Locks: Listener.mu, connSet.mu and certStore.mu are never held together,
// and none is held while calling a handler, closing a socket or calling the
// HTTP server, so there is no lock order to keep. certStore.mu only
// serialises certificate reloads.
//
// Listener.Stats returns counters (open, accepted, refused, failed
// handshakes, accept errors) for the service's metrics.
//
// A WebSocketHandler from NewWebSocketHandler can be mounted on an existing
// HTTP server instead, for a binary that serves several things on one port.
package listener
