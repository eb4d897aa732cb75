package conn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"
)

// Parking idle connections (docs/adr/0008-idle-connections.md).
//
// A connection served with Start runs its read loop on a goroutine only
// while it has input. When nothing is buffered and nothing has come for
// parkLinger, the loop parks: it registers the socket with the Poller for
// one wake-up (EPOLLONESHOT), files its read deadline with the poller,
// marks the connection parked and lets its goroutine end. Three things wake
// a parked connection: input or a hang-up on the socket (the poller), the
// keepalive deadline (the poller's deadline wheel, deadline.go) and Kill.
// Whichever clears the parked flag first starts the goroutine that goes on
// reading; the others only count a wake-up. The parking goroutine reads the
// wake-up count before it arms and checks it, and the kill flag, after it
// sets the flag, so a wake-up between the two is never lost: it takes the
// flag back and reads on itself.
//
// Only plain TCP connections park: TLS, WebSocket and PROXY protocol
// layers may hold input their socket no longer shows, so those keep a
// goroutine blocked in the read, as Serve does.

// Start serves the connection like Serve, parking it between bursts of
// input when Env.Poller is set. It returns once the connection has parked
// for the first time or has ended; Env.Ended is called once the connection
// has ended (Done is closed), on the goroutine that ended it: Start's
// caller's or one started when the connection woke. tc is the TCP socket
// under the connection's net.Conn, which must add no buffering of its own.
// A connection that cannot park is served to its end before Start returns.
// Nothing watches a context: the caller ends the connection with Kill.
func (c *Conn) Start(tc *net.TCPConn) {
	canPark := c.env.Poller != nil && c.attachSocket(tc)
	defer c.recoverParked()
	c.takeReader()
	if reason, err := c.handshakeAside(); reason != CloseNone {
		c.end(reason, err)
		return
	}
	c.afterHandshake()
	c.proceed(canPark, false)
}

// proceed runs the read loop until the connection parks or ends.
func (c *Conn) proceed(park, woke bool) {
	reason, detail, parked := c.loop(park, woke)
	if !parked {
		c.end(reason, detail)
	}
}

// end finishes a connection served with Start.
func (c *Conn) end(reason CloseReason, detail error) {
	if k := CloseReason(c.killed.Load()); k != CloseNone {
		reason, detail = k, nil
	}
	c.finish(reason, detail)
	if c.env.Ended != nil {
		c.env.Ended(c, reason)
	}
}

// unpark is the goroutine a wake-up starts for a parked connection.
func (c *Conn) unpark() {
	defer c.recoverParked()
	c.takeReader()
	c.proceed(true, true)
}

// recoverParked turns a panic of a connection served with Start into a log
// line and a closed connection, as the listener does for the goroutines it
// runs, so one bad connection cannot take the process down.
func (c *Conn) recoverParked() {
	p := recover()
	if p == nil {
		return
	}
	c.logger().Error(fmt.Sprintf("the connection from %s panicked and was closed", c.remote()),
		"err", fmt.Errorf("panic: %v", p), "stack", string(debug.Stack()))
	if c.env.Poller != nil {
		c.env.Poller.remove(c)
	}
	_ = c.nc.Close()
	c.ended.fire()
	if c.env.Ended != nil {
		c.env.Ended(c, CloseConnectionLost)
	}
}

// parkLinger is how long a connection waits for input on its goroutine
// before it parks. A busy client (a publisher waiting for its PUBACKs, a
// subscriber acknowledging a stream) sends again within it, and would
// otherwise pay a park and a wake-up (two system calls and a goroutine)
// per packet; an idle one parks a moment later.
const parkLinger = 50 * time.Millisecond

// linger waits up to parkLinger (or to the keepalive deadline, if sooner)
// for input, on the calling goroutine, then sets the keepalive deadline
// (readBy) for the reads that follow. It returns nil when input is
// buffered or none came; the caller then reads or parks, after checking
// for a Kill, which interrupts the wait.
func (c *Conn) linger() error {
	until := time.Now().Add(parkLinger)
	if c.keepAlive > 0 && c.readBy < until.UnixNano() {
		until = time.Unix(0, c.readBy)
	}
	_ = c.nc.SetReadDeadline(until)
	// Kill expires the deadline after recording its reason: checking
	// after setting ours never misses one.
	if c.killed.Load() != 0 {
		return nil
	}
	err := c.in.wait()
	if c.keepAlive > 0 {
		_ = c.nc.SetReadDeadline(time.Unix(0, c.readBy))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// park hands the connection to the poller and reports true: the calling
// goroutine must then return without touching the connection. It reports
// false when the connection must go on reading on the calling goroutine: a
// wake-up came while parking, or the socket could not be registered (the
// caller then stops parking). A parked connection holds no reader and no
// PUBLISH state: they go back to their pools.
func (c *Conn) park() (parked bool, err error) {
	c.releasePubs()
	c.releaseReader()
	seq := c.wakes.Load()
	if err := c.env.Poller.arm(c); err != nil {
		c.takeReader()
		return false, err
	}
	if c.keepAlive > 0 {
		c.env.Poller.schedule(c)
	}
	c.parked.Store(true)
	if (c.wakes.Load() != seq || c.killed.Load() != 0) && c.parked.CompareAndSwap(true, false) {
		c.takeReader()
		return false, nil
	}
	return true, nil
}

// wake starts a goroutine to go on reading if the connection is parked,
// and counts the wake-up either way. The poller (input, deadlines) and
// Kill call it.
func (c *Conn) wake() {
	c.wakes.Add(1)
	if c.parked.CompareAndSwap(true, false) {
		go c.unpark()
	}
}

// unregister takes the connection out of the poller; finish calls it
// before closing the socket.
func (c *Conn) unregister() {
	if c.env.Poller != nil {
		c.env.Poller.remove(c)
	}
}
