package conn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Poller parks idle connections: instead of a goroutine blocked in a read
// per connection, one goroutine (Run) waits on an epoll set for the
// sockets of all parked connections and starts a goroutine for a
// connection only when it has input to read (see park.go). Create it with
// NewPoller, run Run on a goroutine of its own, and Close it once every
// connection that used it has ended. Its methods are safe for concurrent
// use.
type Poller struct {
	epfd      int
	stopR     int // read end of the pipe Close writes to; in the epoll set
	stopW     int
	closeOnce sync.Once
	runDone   chan struct{}
	mu        sync.Mutex
	conns     []*Conn // guarded by mu: registered connections, indexed by socket (sockets are small, dense numbers)
	running   bool    // guarded by mu: Run has started
	closed    bool    // guarded by mu: Close has been called
	deadlines         // guarded by mu: the keepalive deadlines of parked connections
}

// NewPoller returns a Poller backed by a new epoll instance.
func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("conn: create the epoll set: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("conn: create the poller's pipe: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(pipe[0])
		_ = syscall.Close(pipe[1])
		return nil, fmt.Errorf("conn: watch the poller's pipe: %w", err)
	}
	return &Poller{
		epfd: epfd, stopR: pipe[0], stopW: pipe[1], runDone: make(chan struct{}),
		deadlines: newDeadlines(time.Now()),
	}, nil
}

// Run waits for events and wakes the connections they are for, and wakes
// the parked connections whose keepalive deadline has passed, until Close.
// Call it once.
func (p *Poller) Run() {
	p.mu.Lock()
	if p.closed || p.running {
		p.mu.Unlock()
		return
	}
	p.running = true
	p.mu.Unlock()
	defer close(p.runDone)
	events := make([]syscall.EpollEvent, 128)
	var due []*Conn
	for {
		n, err := syscall.EpollWait(p.epfd, events, deadlineTick)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return // EBADF and the like: the set is gone
		}
		p.mu.Lock()
		due = p.expire(time.Now(), due[:0])
		p.mu.Unlock()
		for i, c := range due {
			c.wake()
			due[i] = nil
		}
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == p.stopR {
				return
			}
			p.mu.Lock()
			c := p.lookupLocked(ev.Fd)
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
	}
}

// Close stops Run, waits for it to return and releases the epoll set. The
// connections still registered are not woken: end them first.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		running := p.running
		p.mu.Unlock()
		if running {
			_, _ = syscall.Write(p.stopW, []byte{1})
			<-p.runDone
		}
		_ = syscall.Close(p.epfd)
		_ = syscall.Close(p.stopR)
		_ = syscall.Close(p.stopW)
	})
	return nil
}

// pollEvents are the events a parked connection waits for, once: input,
// the peer's close, errors.
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// arm (re)registers c's socket for one wake-up. The kernel checks for
// input already waiting when it registers, so input that arrived since the
// last read wakes c at once.
func (p *Poller) arm(c *Conn) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: c.fd}
	if c.polled {
		if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
			return fmt.Errorf("conn: re-arm socket %d in the epoll set: %w", c.fd, err)
		}
		return nil
	}
	p.mu.Lock()
	if int(c.fd) >= len(p.conns) {
		p.conns = slices.Grow(p.conns, int(c.fd)+1-len(p.conns))[:max(int(c.fd)+1, cap(p.conns))]
	}
	p.conns[c.fd] = c
	p.mu.Unlock()
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
		p.mu.Lock()
		p.conns[c.fd] = nil
		p.mu.Unlock()
		return fmt.Errorf("conn: add socket %d to the epoll set: %w", c.fd, err)
	}
	c.polled = true
	return nil
}

// lookupLocked returns the connection registered for socket fd, or nil.
func (p *Poller) lookupLocked(fd int32) *Conn {
	if fd < 0 || int(fd) >= len(p.conns) {
		return nil
	}
	return p.conns[fd]
}

// schedule wakes c, once parked, when its read deadline passes.
func (p *Poller) schedule(c *Conn) {
	p.mu.Lock()
	p.deadlines.add(c, c.readBy)
	p.mu.Unlock()
}

// remove unregisters c's socket, before it is closed (a closed descriptor
// leaves the set by itself, but its number may be reused at once), and
// forgets its deadline.
func (p *Poller) remove(c *Conn) {
	p.mu.Lock()
	p.deadlines.remove(c)
	p.mu.Unlock()
	if !c.polled {
		return
	}
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
	p.mu.Lock()
	if p.lookupLocked(c.fd) == c {
		p.conns[c.fd] = nil
	}
	p.mu.Unlock()
	c.polled = false
}

// attachSocket records the socket of tc for parking. It reports false when
// its descriptor cannot be had.
func (c *Conn) attachSocket(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil || fd < 0 {
		return false
	}
	c.tc, c.fd = tc, int32(fd)
	return true
}

// fillNow reads what input is waiting into a pooled buffer without
// waiting for more: it reports false, and holds no buffer, when there is
// none. The read still fails at once when the read deadline has passed
// (the keepalive) or Kill expired it.
func (l *lazyReader) fillNow(tc *net.TCPConn) (bool, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false, err
	}
	bp := readBufs.Get().(*[]byte)
	buf := *bp
	n := 0
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), buf)
			if rerr != syscall.EINTR {
				return true // never wait: the poller does
			}
		}
	})
	if err == nil {
		err = rerr
	}
	if n > 0 {
		l.buf, l.b = bp, buf[:n]
		return true, nil // an error after data comes back on the next read
	}
	readBufs.Put(bp)
	switch {
	case err == syscall.EAGAIN:
		return false, nil
	case err == nil:
		return false, io.EOF
	}
	return false, err
}
