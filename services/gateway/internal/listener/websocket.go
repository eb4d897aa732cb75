package listener

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// subprotocols are the WebSocket subprotocols offered to clients, in order of
// preference. "mqtt" is the registered name [MQTT-6.0.0-4]; "mqttv3.1" is
// what MQTT 3.1 clients such as old Paho JavaScript releases ask for.
func subprotocols() []string { return []string{"mqtt", "mqttv3.1"} }

// WebSocketHandler is an http.Handler that upgrades requests to WebSocket and
// hands each one to a Handler as a net.Conn (a *Conn, or a *TLSConn when the
// request came over TLS). It negotiates subprotocol "mqtt" [MQTT-6.0.0-4], or
// "mqttv3.1" for MQTT 3.1 clients that offer only that, and also serves
// clients that offer none. Reads return the payload of binary messages as one
// byte stream, so a packet may span messages and a message may hold several
// packets [MQTT-6.0.0-2]; each Write sends one binary message
// [MQTT-6.0.0-1]; a text message closes the connection with status 1003
// [MQTT-6.0.0-1].
//
// A Listener of kind ws or wss builds its own. Use NewWebSocketHandler to
// mount one on an existing http.ServeMux instead; that server's own settings
// (TLS, timeouts) then apply, and the listener-level limits (MaxConns,
// MaxConnRate, PROXY protocol) do not. It is safe for concurrent use.
type WebSocketHandler struct {
	name    string
	kind    Kind // "" when mounted: ws or wss follows the request
	log     *slog.Logger
	handler Handler
	opts    *websocket.AcceptOptions

	base       context.Context // parent of every handler context
	cancelBase context.CancelFunc
	conns      *connSet

	failed     *atomic.Uint64 // counts refused upgrades; shared with a Listener
	refusedLog throttle
}

var _ http.Handler = (*WebSocketHandler)(nil)

// NewWebSocketHandler returns a WebSocketHandler that serves upgraded
// connections with h, labelled with the listener name name. cfg.Path is
// ignored: mount the handler where it should answer. Call Shutdown or Close
// when the server it is mounted on stops, to notify and wait for the
// connections it handed over.
func NewWebSocketHandler(name string, cfg WebSocketConfig, log *slog.Logger, h Handler) (*WebSocketHandler, error) {
	if name == "" {
		return nil, fmt.Errorf("listener: name: required")
	}
	if err := validateOrigins(cfg.AllowedOrigins); err != nil {
		return nil, fmt.Errorf("listener %s: websocket.allowed_origins: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return newWebSocketHandler(ctx, cancel, name, "", cfg, log.With("listener", name), h, newConnSet()), nil
}

func newWebSocketHandler(base context.Context, cancel context.CancelFunc, name string, kind Kind,
	cfg WebSocketConfig, log *slog.Logger, h Handler, conns *connSet) *WebSocketHandler {
	opts := &websocket.AcceptOptions{
		Subprotocols:    subprotocols(),
		CompressionMode: websocket.CompressionDisabled,
	}
	if len(cfg.AllowedOrigins) == 0 {
		// Empty means every origin, as documented on WebSocketConfig.
		opts.InsecureSkipVerify = true
	} else {
		opts.OriginPatterns = cfg.AllowedOrigins
	}
	return &WebSocketHandler{
		name: name, kind: kind, log: log, handler: h, opts: opts,
		base: base, cancelBase: cancel, conns: conns, failed: new(atomic.Uint64),
	}
}

// ServeHTTP upgrades the request and serves the connection until the Handler
// returns. Requests that are not valid WebSocket upgrades, or come from an
// origin that is not allowed, get an HTTP error.
func (w *WebSocketHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	// A client that offers no subprotocol is still served, for old or
	// hand-written clients: [MQTT-6.0.0-3] binds the client, not the server.
	// One that offers "mqtt" gets "mqtt" back [MQTT-6.0.0-4].
	ws, err := websocket.Accept(rw, r, w.opts)
	if err != nil {
		// Accept has written the HTTP error response.
		w.failed.Add(1)
		if ok, suppressed := w.refusedLog.allow(time.Now()); ok {
			w.log.Info(fmt.Sprintf("listener %s refused a WebSocket upgrade from %s", w.name, r.RemoteAddr),
				"remote_addr", r.RemoteAddr, "err", err, "suppressed", suppressed)
		}
		return
	}
	kind := w.kind
	if kind == "" {
		kind = KindWS
		if r.TLS != nil {
			kind = KindWSS
		}
	}
	// The net.Conn lives until closed, not until the request context ends;
	// shutdown reaches the handler through ctx below, so it can still send a
	// goodbye.
	nc := websocket.NetConn(context.WithoutCancel(r.Context()), ws, websocket.MessageBinary)
	c := wrap(nc, &endpoint{name: w.name, kind: kind}, r.TLS, nil)

	ctx, cancel := context.WithCancel(w.base)
	defer cancel()
	if !w.conns.add(c, cancel, func() error { return ws.CloseNow() }) {
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer w.conns.remove(c)
	defer func() { _ = ws.CloseNow() }()
	_ = serve(ctx, w.log, w.name, c, w.handler) // WebSocket connections cannot be detached
}

// Shutdown stops handing over new connections, cancels the context of every
// connection handed over, and waits for their handlers to return until ctx is
// done; then it closes the remaining connections and returns ctx.Err().
func (w *WebSocketHandler) Shutdown(ctx context.Context) error {
	w.cancelBase()
	if err := w.conns.wait(ctx); err != nil {
		w.conns.closeAll()
		return err
	}
	return nil
}

// Close cancels every handler's context and closes every connection at once,
// without waiting for the handlers to return.
func (w *WebSocketHandler) Close() error {
	w.cancelBase()
	w.conns.closeAll()
	return nil
}

// webSocketMux is the handler of a ws listener's HTTP server: the
// WebSocket handler at exactly path, a plain 404 everywhere else.
type webSocketMux struct {
	path string
	ws   *WebSocketHandler
}

func (m webSocketMux) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != m.path {
		http.NotFound(rw, r)
		return
	}
	m.ws.ServeHTTP(rw, r)
}
