package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/limits"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

var connIDs atomic.Uint64

// storeOp is a session store write queued with the outbound packets, run
// by the writer before it writes them.
type storeOp func(ctx context.Context) error

// outFlight is one outbound QoS 1/2 message awaiting its acknowledgement.
type outFlight struct {
	seq   uint64
	qos   byte
	state session.InflightState
}

// pendingMsg is an outbound QoS 1/2 message waiting for an in-flight slot.
type pendingMsg struct {
	m *bridge.Message
	d router.Delivery
}

// Conn is one client connection. Create it with New and run it with Serve
// or Start. A gateway holds many mostly idle connections, so the struct is
// kept small: state most connections never use is made on first use (nil
// maps, pubState, the resume and token state), and small fields are grouped
// to save padding.
type Conn struct {
	env *Env
	nc  net.Conn
	id  uint64

	killed atomic.Int32 // CloseReason set by Kill; 0 until then
	fd     int32        // the socket, for the poller (park.go)
	dead   signal       // fired by the first Kill
	ended  signal       // fired once the connection has ended (Done)

	// Parking (park.go). parked and wakes are shared with the poller, the
	// keepalive deadlines and Kill; the rest belongs to the goroutine running
	// the read loop (one at a time).
	parked atomic.Bool   // the connection waits in the poller with no goroutine
	wakes  atomic.Uint32 // wake-ups counted (park)
	tc     *net.TCPConn  // the socket under nc, for non-blocking reads; nil when not parking
	readBy int64         // UnixNano of the read deadline while keepalive is on
	slot   int64         // the poller's deadline slot holding the connection; 0 none; guarded by the Poller's mu

	// ps is the reader's reusable state for inbound PUBLISH packets; nil
	// until the first one, and given back to a pool while parked.
	ps *pubState
	// stalled is how long the reader waited for full subscriber queues
	// since it last read from the socket (see stallFor).
	stalled time.Duration

	// Set by the handshake, read-only afterwards.
	key            session.Key
	epoch          uint64
	keepAlive      time.Duration // read deadline interval; 0 none
	expiry         uint32
	maxOutPacket   uint32 // client's Maximum Packet Size; 0 no limit
	receiveMax     uint16 // outbound in-flight bound
	version        mqtt.Version
	persistent     bool
	requestProblem bool
	connacked      bool // CONNACK sent: the server may send DISCONNECT
	presenceOn     bool // Presence.Connected was called
	polled         bool // the socket is in the poller's set (owned by the read loop's goroutine)
	will           *session.Will
	quota          *limits.Tenant // the tenant's quotas; nil when there are none
	releaseConn    func()         // gives back the connection quota; nil when none was taken

	// The authenticated identity, replaced by a re-authentication (serving
	// goroutine) and read by Identity from any goroutine, both under
	// authMu. Its tenant is key.Tenant and its expiry expiresAt, so they
	// are not kept twice. authMu, a leaf lock, also guards tokenTimer, which
	// ends the connection at expiresAt (UnixNano of the identity's
	// ExpiresAt, 0 when it does not expire); a re-authentication moves it.
	authMu       sync.Mutex
	device       string
	credentialID string
	tokenID      string
	tokenTimer   *time.Timer
	expiresAt    atomic.Int64

	// Owned by the serving goroutine. The maps are nil until their first
	// entry (see setMap): most connections never use most of them.
	rds    *readState // in and reader; pooled while parked (lazyreader.go)
	reader *mqtt.Reader
	in     *lazyReader // the socket reader under reader; owned by the serving goroutine
	subsMu sync.Mutex  // guards subs: written by the serving goroutine, read by the resume goroutine and deliveries
	subs   map[string]*router.Sub

	wg sync.WaitGroup // writer and resume goroutines

	mu         sync.Mutex               // guards everything below; a leaf lock; maps are nil until their first entry
	d          atomic.Pointer[delivery] // made on first use (dl); its fields are guarded by mu too
	writing    bool                     // a writer goroutine is running (started on demand, exits when idle)
	stopping   bool                     // no more packets are queued; the writer drains and exits
	groupOp    bool                     // a write of groupSeqs is queued
	severe     bool                     // counted in its tenant's severe backlogs (publish.go)
	at         int32                    // index in the poller's deadline slot (with slot); here to fill the padding; guarded by the Poller's mu
	out        []byte                   // encoded packets for the writer (a pooled buffer; nil when empty)
	full       [][]byte                 // filled chunks queued before out (spaceLocked)
	queued     int                      // bytes in full and out
	ops        []storeOp                // store writes for the writer
	outAliases *outAliases              // server-to-client topic aliases (alias.go); nil when not used
}

// pubState is the read loop's reusable state for the PUBLISH packets of
// its client: the packet it decodes into, and the Message and publisher
// state (NATS subject, batch) of QoS 0 publishes. A parked connection gives it back to
// pubStates, so an idle connection holds none.
type pubState struct {
	// pub receives the PUBLISH packets the reader decodes.
	pub mqtt.Publish
	// msg0 carries each QoS 0 publish of the client to the bridge.
	msg0 bridge.Message
	// publisher is the reader's state across its QoS 0 publishes: the
	// NATS subject of the last one and the batch not yet sent
	// (flushPublishes).
	publisher bridge.Publisher
}

var pubStates = sync.Pool{New: func() any { return new(pubState) }}

// pubs returns the read loop's pubState, taking one from the pool if
// needed.
func (c *Conn) pubs() *pubState {
	if c.ps == nil {
		c.ps = pubStates.Get().(*pubState)
	}
	return c.ps
}

// releasePubs gives the pubState back to the pool (parking), after
// sending what it batched.
func (c *Conn) releasePubs() {
	if c.ps != nil {
		c.flushPublishes()
		*c.ps = pubState{}
		pubStates.Put(c.ps)
		c.ps = nil
	}
}

// New returns a connection over nc.
func New(env *Env, nc net.Conn) *Conn {
	return &Conn{env: env, nc: nc, id: connIDs.Add(1)}
}

// remote returns the client's address ("" when unknown). It is not kept:
// it is needed a few times in a connection's life.
func (c *Conn) remote() string {
	if a := c.nc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// logger returns the gateway's logger with the connection's attributes
// (conn_id, remote_addr, and tenant_id and client_id once known). It is
// built for each line rather than kept: a connection logs a few lines in
// its life, and a kept logger would hold a copy of the handler's state for
// every idle connection.
func (c *Conn) logger() *slog.Logger {
	if c.key.Tenant == "" {
		return c.env.Log.With("conn_id", c.id, "remote_addr", c.remote())
	}
	return c.env.Log.With("conn_id", c.id, "remote_addr", c.remote(), "tenant_id", c.key.Tenant, "client_id", c.key.ClientID)
}

// setMap sets m[k] = v, making the map on its first entry.
func setMap[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	(*m)[k] = v
}

// roomLocked returns the channel signalled when the pending list shrinks,
// making it for its first waiter. Callers hold c.mu.
func (c *Conn) roomLocked() chan struct{} {
	if c.dl().room == nil {
		c.dl().room = make(chan struct{}, 1)
	}
	return c.dl().room
}

// NetConn returns the connection New was given.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Key returns the session key (valid once connected).
func (c *Conn) Key() session.Key { return c.key }

// Epoch returns the session epoch this connection holds.
func (c *Conn) Epoch() uint64 { return c.epoch }

// Identity returns the authenticated identity.
func (c *Conn) Identity() auth.Identity {
	c.authMu.Lock()
	id := auth.Identity{Tenant: c.key.Tenant, Device: c.device, CredentialID: c.credentialID, TokenID: c.tokenID}
	c.authMu.Unlock()
	if at := c.expiresAt.Load(); at != 0 {
		id.ExpiresAt = time.Unix(0, at)
	}
	return id
}

// setIdentity replaces the authenticated identity of the session c.key,
// whose tenant it names; watchToken records its expiry.
func (c *Conn) setIdentity(id auth.Identity) {
	c.authMu.Lock()
	c.device, c.credentialID, c.tokenID = id.Device, id.CredentialID, id.TokenID
	c.authMu.Unlock()
}

// Kill ends the connection from another goroutine with reason: the read
// loop stops, sends an MQTT 5 DISCONNECT with the reason's code and closes
// the socket. The first reason wins.
func (c *Conn) Kill(reason CloseReason) {
	if c.killed.CompareAndSwap(0, int32(reason)) {
		c.dead.fire()
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
		c.wake()
	}
}

// Done returns a channel closed once the connection has ended: the socket
// is closed and the session released. A connection whose Serve was never
// called has not ended.
func (c *Conn) Done() <-chan struct{} { return c.ended.done() }

// Serve runs the connection until it ends and returns why. It closes nc.
// ctx ending shuts the connection down (CloseServerShutdown); a caller
// that ends its connections itself, as the gateway's Shutdown does, passes
// a context that is never done and saves watching it.
func (c *Conn) Serve(ctx context.Context) CloseReason {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.Kill(CloseServerShutdown) })
		defer stop()
	}
	reason, detail := c.run()
	if k := CloseReason(c.killed.Load()); k != CloseNone {
		reason, detail = k, nil
	}
	c.finish(reason, detail)
	return reason
}

// run is the handshake and the read loop; it returns why they ended.
func (c *Conn) run() (CloseReason, error) {
	c.takeReader()
	if reason, err := c.handshakeAside(); reason != CloseNone {
		return reason, err
	}
	c.afterHandshake()
	reason, err, _ := c.loop(false, false)
	return reason, err
}

// afterHandshake replaces the CONNECT timeout with the keepalive deadline.
func (c *Conn) afterHandshake() {
	if c.keepAlive == 0 {
		_ = c.nc.SetReadDeadline(time.Time{}) // lift the CONNECT timeout
		return
	}
	c.extendDeadline(true)
}

// extendDeadline moves the read deadline to one and a half times the
// keepalive from now [MQTT-3.1.2-24]. With set false it only records it
// in readBy: a parked connection's linger sets the socket's deadline.
func (c *Conn) extendDeadline(set bool) {
	t := time.Now().Add(c.keepAlive * 3 / 2)
	c.readBy = t.UnixNano()
	if set {
		_ = c.nc.SetReadDeadline(t)
	}
}

// loop reads and handles packets until the connection ends, and returns
// why. With park set, it parks the connection instead of waiting for
// input (park.go) and then reports parked; woke says the connection was
// parked, so input is likely waiting.
func (c *Conn) loop(park, woke bool) (reason CloseReason, err error, parked bool) {
	lingered := woke // waited parkLinger for input since the last packet
	for {
		// Kill expires the deadline after recording its reason: checking
		// after setting a new deadline never misses a Kill.
		if k := CloseReason(c.killed.Load()); k != CloseNone {
			return k, nil, false
		}
		if c.in.buffered() == 0 {
			// Every packet received so far is handled: the QoS 0 messages
			// batched for NATS go now, before a wait of unknown length.
			c.flushPublishes()
			c.stalled = 0
			switch {
			case !park:
				// Wait for input here, a few frames deep, rather than
				// inside the decoder: an idle connection then waits on a
				// small stack.
				if err := c.in.wait(); err != nil {
					reason, err := c.readError(err)
					return reason, err, false
				}
			case !lingered:
				// A busy client sends again soon: wait a little here
				// rather than park and wake for every packet.
				lingered = true
				if err := c.linger(); err != nil {
					reason, err := c.readError(err)
					return reason, err, false
				}
				continue // with input buffered, or to park
			default:
				ready, err := c.in.fillNow(c.tc)
				if err != nil {
					reason, err := c.readError(err)
					return reason, err, false
				}
				if !ready {
					if c.keepAlive > 0 && time.Now().UnixNano() >= c.readBy {
						return CloseKeepAliveExpired, nil, false
					}
					parked, err := c.park()
					if parked {
						return CloseNone, nil, true
					}
					if err != nil {
						c.logger().Warn("could not park an idle connection; it keeps a goroutine", "err", err)
						park = false
					}
					continue
				}
			}
		}
		// A PUBLISH is decoded into c.ps.pub, in the Reader's buffer, and
		// is valid until the next read: publish clones what it keeps.
		var reuse *mqtt.Publish
		if c.in.peek()>>4 == byte(mqtt.PUBLISH) {
			reuse = &c.pubs().pub
		}
		p, err := c.reader.ReadPacketReuse(reuse)
		if err != nil {
			reason, err := c.readError(err)
			return reason, err, false
		}
		if reason, err := c.handle(p); reason != CloseNone {
			return reason, err, false
		}
		lingered = false
		if c.keepAlive > 0 && c.in.buffered() == 0 {
			// Reset only when the next read may wait for the network:
			// packets already buffered arrived in time.
			c.extendDeadline(!park)
		}
	}
}

// handshakeAside runs the handshake on another goroutine, a worker of the
// handshake pool, and waits for it. Verifying a token, claiming the session
// and writing the first log lines take a deep stack (8 KiB), which a
// goroutine keeps once grown; the connection's goroutine, which then waits
// for packets for as long as the client stays connected, never goes that
// deep and keeps a small one. That is most of a mostly idle connection's
// memory; a pool worker has grown its stack already, so a CONNECT costs a
// hand-off rather than a goroutine and two stack copies.
func (c *Conn) handshakeAside() (CloseReason, error) {
	// Wait for the CONNECT's first bytes here, on the small stack, so that
	// a client slow to send it holds no pool worker (handshake_pool.go).
	// The deadline bounds the whole CONNECT; the handshake reads the rest.
	_ = c.nc.SetReadDeadline(time.Now().Add(c.env.Limits.ConnectTimeout))
	if k := CloseReason(c.killed.Load()); k != CloseNone {
		return k, nil
	}
	if err := c.in.wait(); err != nil {
		switch k := CloseReason(c.killed.Load()); {
		case k != CloseNone:
			return k, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return CloseConnectTimeout, nil
		case errors.Is(err, io.EOF):
			return CloseConnectionLost, nil
		}
		return CloseConnectionLost, err
	}
	j := newHandshakeJob(c)
	handshakes.run(j)
	j.done.Wait()
	return j.reason, j.err
}

// readError classifies an error of ReadPacket.
func (c *Conn) readError(err error) (CloseReason, error) {
	if k := CloseReason(c.killed.Load()); k != CloseNone {
		return k, nil
	}
	var rc mqtt.ReasonCode
	if errors.As(err, &rc) {
		return reasonFor(rc), err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return CloseKeepAliveExpired, nil
	}
	if errors.Is(err, io.EOF) {
		return CloseConnectionLost, nil
	}
	return CloseConnectionLost, err
}

// handle processes one packet after CONNECT.
func (c *Conn) handle(p mqtt.Packet) (CloseReason, error) {
	if pub, ok := p.(*mqtt.Publish); !ok || pub.QoS > 0 {
		// Only QoS 0 publishes join a batch: anything else comes after it.
		c.flushPublishes()
	}
	switch p := p.(type) {
	case *mqtt.Publish:
		return c.handlePublish(p)
	case *mqtt.Puback:
		c.ackOut(p.PacketID, session.AwaitPuback, false)
	case *mqtt.Pubrec:
		c.ackOut(p.PacketID, session.AwaitPubrec, p.ReasonCode.IsFailure())
	case *mqtt.Pubcomp:
		c.ackOut(p.PacketID, session.AwaitPubcomp, false)
	case *mqtt.Pubrel:
		return c.handlePubrel(p)
	case *mqtt.Subscribe:
		return c.handleSubscribe(p)
	case *mqtt.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *mqtt.Pingreq:
		c.sendControl(&mqtt.Pingresp{})
	case *mqtt.Disconnect:
		return c.handleDisconnect(p)
	case *mqtt.Connect:
		// [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
		return CloseProtocolError, errors.New("second CONNECT on the connection")
	case *mqtt.Auth:
		return c.handleAuth(p)
	default:
		return CloseProtocolError, fmt.Errorf("unexpected %s packet from a client", p.Type())
	}
	return CloseNone, nil
}

func (c *Conn) handleDisconnect(p *mqtt.Disconnect) (CloseReason, error) {
	if c.version == mqtt.V5 && p.Properties.SessionExpirySet {
		if c.expiry == 0 && p.Properties.SessionExpiry != 0 {
			// [MQTT-3.14.2-2] cannot turn a non-persistent session persistent.
			return CloseProtocolError, errors.New("DISCONNECT sets a session expiry on a session that had none")
		}
		e := min(p.Properties.SessionExpiry, c.env.Limits.SessionExpiryMax)
		if p.Properties.SessionExpiry == session.NeverExpire && c.env.Limits.SessionExpiryMax == session.NeverExpire {
			e = session.NeverExpire
		}
		if c.quota != nil {
			e = c.quota.SessionExpiry(c.key.ClientID, e)
		}
		c.dl().expiryChange = &e
	}
	switch {
	case p.ReasonCode == mqtt.DisconnectWithWill:
		return CloseClientDisconnectWill, nil
	case p.ReasonCode.IsFailure():
		return CloseClientError, fmt.Errorf("client reported %s", p.ReasonCode)
	}
	return CloseClientDisconnect, nil
}

// sendControl queues a packet of the read loop (acks, SUBACK, PINGRESP).
// A client whose queue is far over its bound is disconnected.
func (c *Conn) sendControl(p mqtt.Packet) {
	b, err := mqtt.Append(nil, p, c.version)
	if err != nil {
		c.logger().Error("could not encode a packet for the client", "packet", p.Type().String(), "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queued > 2*c.env.Limits.MaxQueuedBytes {
		c.Kill(CloseSlowClient)
		return
	}
	c.enqueueLocked(b)
}

// enqueueLocked queues encoded bytes and wakes the writer.
func (c *Conn) enqueueLocked(b []byte) {
	if c.stopping {
		return
	}
	c.spaceLocked(len(b))
	c.out = append(c.out, b...)
	c.queued += len(b)
	c.wakeLocked()
}

// spaceLocked makes sure c.out, the buffer packets are encoded straight
// into (the writer writes it as it is), can take n more bytes without
// growing. A small pooled buffer serves a connection that sends now and
// then; once a packet does not fit, the buffer joins c.full and a pooled
// chunk of outChunk bytes takes its place, so a queue that grows under
// load is a list of chunks that are never copied or reallocated (growing
// one buffer by append allocated, copied and then dropped buffers of up to
// max_queued_bytes, about 2.6 GB in 5 s of QoS 0 fan-in).
func (c *Conn) spaceLocked(n int) {
	if c.out == nil {
		c.out = (*writeBufs.Get().(*[]byte))[:0]
	}
	if cap(c.out)-len(c.out) >= n {
		return
	}
	if len(c.out) > 0 {
		c.full = append(c.full, c.out)
	} else {
		putWriteBuf(c.out)
	}
	if n > outChunk {
		c.out = make([]byte, 0, n)
		return
	}
	c.out = (*chunkBufs.Get().(*[]byte))[:0]
}

// wakeLocked makes sure a writer goroutine will drain the queue. The writer
// runs only while there is something to write and exits when the queue is
// empty, so an idle connection holds one goroutine (its reader), not two:
// that halves the stack memory of the many idle connections a gateway
// holds. Callers hold c.mu.
func (c *Conn) wakeLocked() {
	if c.writing {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.writeLoop()
}

// addOpLocked queues a store write for the writer (persistent sessions only).
func (c *Conn) addOpLocked(op storeOp) {
	if !c.persistent || c.stopping {
		return
	}
	c.ops = append(c.ops, op)
	c.wakeLocked()
}

// writeLoop is the writer goroutine: it writes what is queued, one write
// per buffer, at most maxTake chunks per turn, and exits once the queue
// and the store writes are empty (wakeLocked starts it again). The buffers
// it takes are the ones the packets were encoded into, so nothing is
// copied on the way to the socket.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		q, full, ops := c.out, c.full, c.ops
		if len(q) == 0 && len(full) == 0 && len(ops) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.ops = nil
		if len(full) > maxTake {
			// A long queue is written a few chunks at a time, so queued
			// says how far the client is behind and the stalled
			// publishers go on as it catches up (stallLocked).
			q, full = nil, full[:maxTake:maxTake]
			c.full = c.full[maxTake:]
			for _, b := range full {
				c.queued -= len(b)
			}
		} else {
			c.out, c.full, c.queued = nil, nil, 0
		}
		c.releaseStallLocked() // progress: stalled publishers look again
		c.mu.Unlock()
		for _, op := range ops {
			if err := op(context.Background()); err != nil {
				if errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound) {
					c.Kill(CloseTakenOver)
				} else {
					c.logger().Warn("could not record session state", "tenant_id", c.key.Tenant, "client_id", c.key.ClientID, "err", err)
				}
			}
		}
		if q == nil && full == nil {
			continue
		}
		var err error
		if len(q) > 0 || len(full) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.env.Limits.WriteTimeout))
			for _, b := range full {
				if _, err = c.nc.Write(b); err != nil {
					break
				}
			}
			if err == nil && len(q) > 0 {
				_, err = c.nc.Write(q)
			}
		}
		for _, b := range full {
			putWriteBuf(b)
		}
		if q != nil {
			putWriteBuf(q)
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.Kill(CloseSlowClient) // it did not take the bytes within WriteTimeout
			} else {
				c.Kill(CloseWriteFailed)
			}
			c.mu.Lock()
			c.stopping = true
			c.writing = false
			c.out, c.full, c.ops, c.queued = nil, nil, nil, 0
			c.releaseStallLocked()
			c.mu.Unlock()
			return
		}
		c.pumpAfterWrite()
	}
}

// writeBufs and chunkBufs recycle the output buffers between bursts, so an
// idle connection holds none: writeBufs the small ones a connection starts
// with, chunkBufs the outChunk-sized ones a busy queue is made of (see
// spaceLocked). Other buffers (one packet larger than a chunk) are left to
// the garbage collector.
var (
	writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, smallOut); return &b }}
	chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, outChunk); return &b }}
)

const (
	smallOut = 4 << 10
	outChunk = 64 << 10
	maxTake  = 4 // chunks the writer takes at a time
)

func putWriteBuf(b []byte) {
	b = b[:0]
	switch cap(b) {
	case smallOut:
		writeBufs.Put(&b)
	case outChunk:
		chunkBufs.Put(&b)
	}
}

// pumpAfterWrite moves pending messages into the queue the write emptied.
func (c *Conn) pumpAfterWrite() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pumpLocked()
}

// finish ends the connection: DISCONNECT, will, session, socket.
func (c *Conn) finish(reason CloseReason, detail error) {
	c.flushPublishes() // the messages accepted before the end, ahead of any will
	c.logClose(reason, detail)
	c.stopTokenTimer()
	if d := c.d.Load(); d != nil && d.rs != nil {
		d.rs.cancel()
		<-d.rs.done
	}
	c.stopDrains()
	connected := c.epoch != 0
	if connected {
		c.subsMu.Lock()
		for _, s := range c.subs {
			c.env.Router.Remove(c.key.Tenant, s)
		}
		c.subsMu.Unlock()
	}
	// Answer the publishes already handed to JetStream first, so no PUBACK
	// follows the DISCONNECT.
	c.waitPipeline(0)
	// The cooldown is recorded before the client can learn of the end of its
	// connection (DISCONNECT, close), so its immediate reconnect meets it.
	if reason == CloseRateTooHigh && c.env.Cooldowns != nil {
		now := c.env.now()
		c.env.Cooldowns.add(c.key, now.Add(RateCooldown), now)
	}
	// MQTT 5: tell the client why, when the server ends the connection.
	if code, ok := reason.Code(); ok && c.version == mqtt.V5 && c.connacked {
		d := &mqtt.Disconnect{ReasonCode: code}
		if reason == CloseServerShutdown && c.env.Limits.ServerReference != "" {
			d.ReasonCode = mqtt.UseAnotherServer
			d.Properties.ServerReference = c.env.Limits.ServerReference
		}
		if b, err := mqtt.Append(nil, d, c.version); err == nil {
			c.mu.Lock()
			c.enqueueLocked(b)
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	c.stopping = true
	c.clearSevereLocked()
	if len(c.out) > 0 || len(c.full) > 0 || len(c.ops) > 0 {
		c.wakeLocked() // drain what is left (the DISCONNECT above, store writes)
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.unregister()
	_ = c.nc.Close()

	if connected {
		c.endSession(reason)
		c.env.Registry.Remove(c.key, c)
	}
	if c.releaseConn != nil {
		c.releaseConn()
	}
	c.reportDisconnected(reason)
	c.ended.fire()
}

// endSession publishes the will if due and marks the session disconnected.
func (c *Conn) endSession(reason CloseReason) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, epoch := c.key, c.epoch
	expiry := c.expiry
	if d := c.d.Load(); d != nil && d.expiryChange != nil {
		expiry = *d.expiryChange
		if err := c.env.Sessions.SetExpiry(ctx, key, epoch, expiry); err != nil && !fenced(err) {
			c.logger().Warn("could not change the session expiry", "tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
		}
	}
	if c.persistent {
		c.mu.Lock()
		var seq uint64
		if d := c.d.Load(); d != nil {
			seq = d.lastSeq
		}
		c.mu.Unlock()
		if seq > 0 {
			_ = c.env.Sessions.SetLastSeq(ctx, key, epoch, seq)
		}
	}
	if c.will != nil {
		switch {
		case !reason.sendsWill():
			// [MQTT-3.1.2-10] a normal DISCONNECT deletes the will.
			if expiry > 0 {
				_ = c.env.Sessions.SetWill(ctx, key, epoch, nil)
			}
		case c.will.Delay == 0 || expiry == 0:
			if c.persistent {
				_ = c.env.Sessions.SetWill(ctx, key, epoch, nil)
			}
			if err := c.env.Wills.Publish(ctx, key.Tenant, key.ClientID, c.will); err != nil {
				c.logger().Warn("could not publish the will", "tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
			}
		case expiry == session.NeverExpire || c.will.Delay < expiry:
			c.env.Wills.Schedule(key, epoch, time.Duration(c.will.Delay)*time.Second)
		default:
			// The session ends first: the sweeper publishes the stored will
			// when it expires [MQTT-3.1.3-9].
		}
	}
	if err := c.env.Sessions.Disconnect(ctx, key, epoch, c.env.now()); err != nil && !fenced(err) {
		c.logger().Warn("could not mark the session disconnected", "tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
	}
}

func fenced(err error) bool {
	return errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound)
}

// logClose writes the one line that says how the connection ended.
func (c *Conn) logClose(reason CloseReason, detail error) {
	who := "client " + c.key.ClientID
	if c.key.ClientID == "" {
		who = "a client"
	}
	attrs := []any{"reason", reason.String()}
	if detail != nil {
		attrs = append(attrs, "err", detail)
	}
	c.mu.Lock()
	var dropped uint64
	if d := c.d.Load(); d != nil {
		dropped = d.dropped
	}
	c.mu.Unlock()
	if dropped > 0 {
		attrs = append(attrs, "dropped_qos0", dropped)
	}
	switch reason {
	case CloseMalformedPacket, CloseProtocolError, ClosePacketTooLarge, CloseTopicAliasInvalid, CloseReceiveMaximumExceeded:
		msg := fmt.Sprintf("%s sent a %s", who, reason)
		if detail != nil {
			msg += ": " + detail.Error()
		}
		if code, ok := reason.Code(); ok && c.version == mqtt.V5 && c.connacked {
			msg += fmt.Sprintf("; disconnecting with reason 0x%02X", byte(code))
		} else {
			msg += "; closing the connection"
		}
		c.logger().Warn(msg, attrs...)
	case CloseConnectTimeout, CloseHandshakeRefused:
		c.logger().Info(fmt.Sprintf("%s: %s", who, reason), attrs...)
	case CloseTokenExpired, CloseReauthFailed, CloseRevoked:
		c.logger().Info(fmt.Sprintf("%s of tenant %s disconnected: %s", who, c.key.Tenant, c.closeSentence(reason)), attrs...)
	default:
		c.logger().Info(fmt.Sprintf("%s disconnected: %s", who, c.closeSentence(reason)), attrs...)
	}
}

// closeSentence says why the connection ended, as used in the log line
// and reported to Presence.
func (c *Conn) closeSentence(reason CloseReason) string {
	switch reason {
	case CloseKeepAliveExpired:
		return fmt.Sprintf("keepalive of %s expired", c.keepAlive)
	case CloseTokenExpired:
		if at := c.expiresAt.Load(); at != 0 {
			return "its token expired at " + time.Unix(0, at).UTC().Format(time.RFC3339)
		}
		return "its token expired"
	}
	return reason.String()
}
