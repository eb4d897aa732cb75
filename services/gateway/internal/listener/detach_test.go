package listener

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// detachingEcho detaches each connection it can and echoes on a goroutine
// of its own after ServeConn has returned, until the client closes or stop
// is closed. Connections it cannot detach are echoed in ServeConn, and
// reported.
type detachingEcho struct {
	wg       sync.WaitGroup
	refused  chan Kind     // kinds of the connections Detach refused
	detached chan bool     // one per detached connection, after ServeConn returned
	stop     chan struct{} // closing it closes the detached connections
}

func newDetachingEcho() *detachingEcho {
	return &detachingEcho{refused: make(chan Kind, 4), detached: make(chan bool, 4), stop: make(chan struct{})}
}

func (d *detachingEcho) ServeConn(ctx context.Context, c net.Conn) {
	lc, ok := c.(interface {
		Detach() (*net.TCPConn, bool)
		Kind() Kind
	})
	if !ok {
		d.refused <- ""
		echo(ctx, c)
		return
	}
	tc, ok := lc.Detach()
	if !ok {
		d.refused <- lc.Kind()
		echo(ctx, c)
		return
	}
	d.wg.Go(func() {
		d.detached <- tc != nil
		defer c.Close()
		go func() {
			<-d.stop
			_ = c.Close()
		}()
		_, _ = io.Copy(c, c)
	})
}

func TestDetachedConnectionOutlivesServeConn(t *testing.T) {
	h := newDetachingEcho()
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP}, nil, h)
	c := dial(t, l.Addr())
	if r := roundTrip(t, c, "hello"); r != "hello" {
		t.Fatalf("echo = %q, want hello", r)
	}
	if !<-h.detached {
		t.Fatal("Detach returned no TCP socket")
	}
	// ServeConn has returned, and the listener still counts the
	// connection as open.
	if r := roundTrip(t, c, "again"); r != "again" {
		t.Fatalf("echo = %q, want again", r)
	}
	if st := l.Stats(); st.Open != 1 {
		t.Fatalf("Stats().Open = %d, want 1", st.Open)
	}
	// The detached connection is the handler's: Shutdown neither waits
	// for it nor closes it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if r := roundTrip(t, c, "still"); r != "still" {
		t.Fatalf("echo after Shutdown = %q, want still", r)
	}
	close(h.stop) // the handler ends it
	expectClosed(t, c)
	h.wg.Wait()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st := l.Stats(); st.Open != 0 {
			return fmt.Errorf("Stats().Open = %d, want 0", st.Open)
		}
		return nil
	})
}

func TestDetachRefusedWithProxyProtocol(t *testing.T) {
	h := newDetachingEcho()
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true}, nil, h)
	c := dial(t, l.Addr())
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.7").To4(), Port: 5}
	dst := &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4(), Port: 1883}
	// The PROXY layer may hold bytes after the header that the socket no
	// longer shows: such a connection stays with its goroutine.
	if _, err := c.Write(proxyHeader(t, 2, src, dst)); err != nil {
		t.Fatal(err)
	}
	if r := roundTrip(t, c, "hello"); r != "hello" {
		t.Fatalf("echo = %q, want hello", r)
	}
	if k := <-h.refused; k != KindTCP {
		t.Fatalf("refused kind %q, want tcp", k)
	}
}

func TestDetachRefusedWithTLS(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile := serverTLS(t, ca, t.TempDir(), "server-a")
	h := newDetachingEcho()
	l := startListener(t, Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile}, nil, h)
	c := dialTLS(t, l.Addr(), clientTLS(ca))
	if r := roundTrip(t, c, "hello"); r != "hello" {
		t.Fatalf("echo = %q, want hello", r)
	}
	if k := <-h.refused; k != KindTLS {
		t.Fatalf("refused kind %q, want tls", k)
	}
}
