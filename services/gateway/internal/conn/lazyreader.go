package conn

import (
	"io"
	"sync"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// readBufSize is the size of the pooled read buffers.
const readBufSize = 4096

// readBufs recycles read buffers between bursts of input.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// lazyReader buffers reads from a connection like bufio.Reader, but holds a
// buffer only while it has unread bytes: an idle connection waits for its
// next packet in a one-byte read and holds no buffer. With hundreds of
// thousands of mostly idle connections per gateway, that is 4 KiB less per
// connection. The cost is one more read call after each idle period.
//
// A lazyReader is used by one goroutine (the connection's reader).
type lazyReader struct {
	r   io.Reader
	buf *[]byte // pooled buffer backing b; nil when nothing is buffered
	b   []byte  // unread bytes
	one [1]byte
}

func newLazyReader(r io.Reader) *lazyReader { return &lazyReader{r: r} }

// readState is the read loop's reader: the socket reader and the packet
// decoder over it. A parked connection gives it back to readStates, since
// it holds no input between packets, so an idle connection holds neither,
// nor the decoder's PUBLISH body buffer.
type readState struct {
	lr lazyReader
	rd *mqtt.Reader
}

var readStates = sync.Pool{New: func() any {
	rs := new(readState)
	rs.rd = mqtt.NewReader(&rs.lr, 0)
	return rs
}}

// takeReader sets c.in and c.reader from a pooled readState reading nc.
func (c *Conn) takeReader() {
	rs := readStates.Get().(*readState)
	rs.lr.r = c.nc
	rs.rd.SetMaxPacketSize(c.env.Limits.MaxPacketSize)
	rs.rd.SetVersion(c.version)
	c.rds, c.in, c.reader = rs, &rs.lr, rs.rd
}

// releaseReader gives c's readState back to the pool; it must hold no
// unread input.
func (c *Conn) releaseReader() {
	if c.rds == nil || c.in.buffered() > 0 {
		return
	}
	c.rds.lr = lazyReader{}
	readStates.Put(c.rds)
	c.rds, c.in, c.reader = nil, nil, nil
}

// fill reads what input has arrived into a pooled buffer, waiting for
// some. The decoder calls it inside a packet, whose rest is on its way.
func (l *lazyReader) fill() error {
	bp := readBufs.Get().(*[]byte)
	n, err := l.r.Read(*bp)
	if n == 0 {
		readBufs.Put(bp)
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	l.buf, l.b = bp, (*bp)[:n]
	return nil // an error after data comes back on the next read
}

// fillFirst waits for the first byte of a packet without a buffer, then
// reads what else has arrived into a pooled buffer: an idle connection
// waiting here holds no buffer. It must be called only between packets:
// it then waits for a second byte, which every packet has. (Inside a
// packet the next byte may be its last, and nothing may follow it.)
func (l *lazyReader) fillFirst() error {
	n, err := l.r.Read(l.one[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	bp := readBufs.Get().(*[]byte)
	buf := *bp
	buf[0] = l.one[0]
	m := 0
	if err == nil {
		// An MQTT packet is at least two bytes, so more input is on its way:
		// this read does not wait for a packet that never comes.
		m, err = l.r.Read(buf[1:])
	}
	l.buf, l.b = bp, buf[:1+m]
	if err != nil && len(l.b) > 0 {
		// Hand out the bytes first; the error comes back on the next read.
		return nil
	}
	return err
}

func (l *lazyReader) release() {
	if l.buf != nil && len(l.b) == 0 {
		readBufs.Put(l.buf)
		l.buf, l.b = nil, nil
	}
}

// ReadByte implements io.ByteReader (pkg/mqtt reads fixed headers with it).
func (l *lazyReader) ReadByte() (byte, error) {
	if len(l.b) == 0 {
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	c := l.b[0]
	l.b = l.b[1:]
	l.release()
	return c, nil
}

// Read implements io.Reader.
func (l *lazyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(l.b) == 0 {
		if len(p) >= readBufSize {
			return l.r.Read(p) // large reads go straight to the connection
		}
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, l.b)
	l.b = l.b[n:]
	l.release()
	return n, nil
}

// wait blocks until input is buffered, or returns the read's error. It is
// called between packets.
func (l *lazyReader) wait() error {
	if len(l.b) > 0 {
		return nil
	}
	return l.fillFirst()
}

// peek returns the next byte if one is buffered, else 0.
func (l *lazyReader) peek() byte {
	if len(l.b) == 0 {
		return 0
	}
	return l.b[0]
}

// buffered reports how many bytes can be read without waiting.
func (l *lazyReader) buffered() int { return len(l.b) }
