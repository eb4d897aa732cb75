package conn

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// wrapped hides the socket behind NetConn, as the gateway's listeners do.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// waitClosed polls peerClosed until it reports the peer gone.
func waitClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !peerClosed(nc) {
		if time.Now().After(deadline) {
			t.Fatal("peerClosed never saw the peer's close")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPeerClosed(t *testing.T) {
	client, server := tcpPair(t)
	if peerClosed(server) || peerClosed(wrapped{server}) {
		t.Fatal("an open, quiet connection reported closed")
	}
	if _, err := client.Write([]byte{0xC0, 0}); err != nil {
		t.Fatal(err)
	}
	client.Close()
	// Unread input counts as alive: it is read first.
	time.Sleep(10 * time.Millisecond)
	if peerClosed(server) {
		t.Fatal("a connection with unread input reported closed")
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, wrapped{server})
	if peerClosed(wrapped{wrapped{nil}}) {
		t.Error("a connection without a socket reported closed")
	}
}

// staleConn replays a CONNECT the client sent before it gave up, over a
// socket it has since closed.
type staleConn struct {
	net.Conn
	in *bytes.Reader
}

func (s *staleConn) Read(b []byte) (int, error) {
	if s.in.Len() > 0 {
		return s.in.Read(b)
	}
	return s.Conn.Read(b)
}

func (s *staleConn) NetConn() net.Conn { return s.Conn }

// TestStaleConnectTakesNothingOver: a CONNECT read from a connection its
// client already closed (an attempt it gave up on, read late from a full
// accept queue) does not take the session over from the client's live
// connection.
func TestStaleConnectTakesNothingOver(t *testing.T) {
	var env *Env
	g := startPipeGateway(t, func(e *Env) { env = e })
	live := dialPipe(t, g, mqtt.V5, "dev")

	client, server := tcpPair(t)
	client.Close()
	waitClosed(t, server)
	connect, err := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, ClientID: "dev", CleanStart: true, KeepAlive: 30}, mqtt.V5)
	if err != nil {
		t.Fatal(err)
	}
	stale := New(env, &staleConn{Conn: server, in: bytes.NewReader(connect)})
	if reason := stale.Serve(context.Background()); reason != CloseConnectionLost {
		t.Fatalf("stale CONNECT ended with %v, want connection lost", reason)
	}
	live.send(&mqtt.Pingreq{})
	if p, err := live.read(); err != nil || p.Type() != mqtt.PINGRESP {
		t.Fatalf("live connection after the stale CONNECT: %v, %v; want PINGRESP (not taken over)", p, err)
	}
	if c := env.Registry.Lookup(session.Key{Tenant: "acme", ClientID: "dev"}); c == nil || c == stale {
		t.Fatalf("registry holds %v, want the live connection", c)
	}
}
