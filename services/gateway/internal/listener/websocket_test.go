package listener

import (
	"bytes"
	"context"
	"crypto/tls"

	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsURL returns the ws:// (or wss://) URL of l at path.
func wsURL(l *Listener, scheme, path string) string {
	return scheme + "://" + l.Addr().String() + path
}

func dialWS(tb testing.TB, url string, opts *websocket.DialOptions) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts == nil {
		opts = &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
	}
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("websocket dial %s: %v (HTTP %d)", url, err, status)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return c
}

// readPacket reads one MQTT control packet (fixed header, remaining length,
// body) from r. It is enough of a reader to prove that packets are not
// aligned with WebSocket messages.
func readPacket(r io.Reader) ([]byte, error) {
	head := make([]byte, 1, 5)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	length, mult := 0, 1
	for i := 0; ; i++ {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		head = append(head, b[0])
		length += int(b[0]&0x7f) * mult
		if b[0]&0x80 == 0 {
			break
		}
		if i == 3 {
			return nil, errors.New("malformed remaining length")
		}
		mult *= 128
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// packetEcho reads MQTT packets and writes each back with one Write.
var packetEcho = HandlerFunc(func(_ context.Context, c net.Conn) {
	defer c.Close()
	for {
		p, err := readPacket(c)
		if err != nil {
			return
		}
		if _, err := c.Write(p); err != nil {
			return
		}
	}
})

var (
	pingreq = []byte{0xC0, 0x00}
	publish = []byte{0x30, 0x09, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'y', '!'} // QoS 0 PUBLISH a/b "hey!"
)

func TestWebSocketHandsOverConn(t *testing.T) {
	rec := &logRecorder{}
	got := make(chan string, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		lc, ok := c.(*Conn)
		if !ok {
			got <- fmt.Sprintf("%T", c)
			return
		}
		got <- fmt.Sprintf("%s %s %s", lc.ListenerName(), lc.Kind(), c.RemoteAddr())
		packetEcho(ctx, c)
	})
	l := startListener(t, Config{Name: "ws", Kind: KindWS}, slog.New(rec), h)
	c := dialWS(t, wsURL(l, "ws", "/mqtt"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
		t.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || !bytes.Equal(msg, pingreq) {
		t.Errorf("Read() = %v, %x, %v, want a binary PINGREQ", typ, msg, err)
	}
	if s := <-got; !strings.HasPrefix(s, "ws ws 127.0.0.1:") {
		t.Errorf("handler saw %q, want listener ws, kind ws, a loopback address", s)
	}
	want := fmt.Sprintf("listener ws accepting MQTT over WebSocket on %s/mqtt", l.Addr())
	if rec.count(want) != 1 {
		t.Errorf("logs = %q, want %q", rec.all(), want)
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	l := startListener(t, Config{Name: "ws", Kind: KindWS}, nil, packetEcho)
	tests := []struct {
		offered []string
		want    string
	}{
		{[]string{"mqtt"}, "mqtt"},             // [MQTT-6.0.0-4]
		{[]string{"mqttv3.1"}, "mqttv3.1"},     // MQTT 3.1 clients
		{[]string{"mqttv3.1", "mqtt"}, "mqtt"}, // "mqtt" is preferred [MQTT-6.0.0-4]
		{[]string{"chat", "MQTT"}, "MQTT"},     // matched case-insensitively
		{nil, ""},                              // still served
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.offered, ","), func(t *testing.T) {
			c := dialWS(t, wsURL(l, "ws", "/mqtt"), &websocket.DialOptions{Subprotocols: tt.offered})
			if got := c.Subprotocol(); got != tt.want {
				t.Errorf("Subprotocol() = %q, want %q", got, tt.want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.Read(ctx); err != nil || !bytes.Equal(msg, pingreq) {
				t.Errorf("echo = %x, %v", msg, err)
			}
		})
	}
}

// [MQTT-6.0.0-2] A packet may span WebSocket messages and a message may hold
// several packets.
func TestWebSocketPacketsAreNotAlignedWithMessages(t *testing.T) {
	l := startListener(t, Config{Name: "ws", Kind: KindWS}, nil, packetEcho)
	c := dialWS(t, wsURL(l, "ws", "/mqtt"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stream := append(append(append([]byte{}, pingreq...), publish...), pingreq...)
	messages := [][]byte{
		stream[:1],   // half a PINGREQ
		stream[1:5],  // the rest of it and the start of the PUBLISH
		stream[5:13], // the rest of the PUBLISH
		stream[13:],  // a whole PINGREQ
	}
	for _, m := range messages {
		if err := c.Write(ctx, websocket.MessageBinary, m); err != nil {
			t.Fatal(err)
		}
	}
	// The server read three packets and wrote each with one Write: three
	// binary messages [MQTT-6.0.0-1].
	for i, want := range [][]byte{pingreq, publish, pingreq} {
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageBinary || !bytes.Equal(msg, want) {
			t.Errorf("message %d = %v %x, %v, want binary %x", i, typ, msg, err, want)
		}
	}

	// Two whole packets in one message.
	if err := c.Write(ctx, websocket.MessageBinary, append(append([]byte{}, publish...), pingreq...)); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{publish, pingreq} {
		if _, msg, err := c.Read(ctx); err != nil || !bytes.Equal(msg, want) {
			t.Errorf("message %d = %x, %v, want %x", i, msg, err, want)
		}
	}
}

// [MQTT-6.0.0-1] A text frame closes the connection.
func TestWebSocketTextMessageClosesConnection(t *testing.T) {
	readErr := make(chan error, 1)
	h := HandlerFunc(func(_ context.Context, c net.Conn) {
		defer c.Close()
		_, err := readPacket(c)
		readErr <- err
	})
	l := startListener(t, Config{Name: "ws", Kind: KindWS}, nil, h)
	c := dialWS(t, wsURL(l, "ws", "/mqtt"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte("\xc0\x00")); err != nil {
		t.Fatal(err)
	}
	// Reading answers the server's close frame, completing the handshake.
	_, _, err := c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusUnsupportedData {
		t.Errorf("close status = %v (%v), want %v", got, err, websocket.StatusUnsupportedData)
	}
	if err := <-readErr; err == nil {
		t.Error("handler read a packet from a text message, want an error")
	}
}

func TestWebSocketOtherPathsAndPlainRequests(t *testing.T) {
	l := startListener(t, Config{Name: "ws", Kind: KindWS, WebSocket: WebSocketConfig{Path: "/broker"}}, nil, packetEcho)
	tests := []struct {
		path       string
		wantStatus int
	}{
		{"/", http.StatusNotFound},
		{"/mqtt", http.StatusNotFound},
		{"/healthz", http.StatusNotFound},
		{"/broker/x", http.StatusNotFound},
		{"/broker", http.StatusUpgradeRequired}, // a plain GET at the WebSocket path
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tt := range tests {
		resp, err := client.Get("http://" + l.Addr().String() + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
		}
	}
	dialWS(t, wsURL(l, "ws", "/broker"), nil)
}

func TestWebSocketAllowedOrigins(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string
		wantOK  bool
	}{
		{"no origin header", []string{"example.com"}, "", true},
		{"listed origin", []string{"example.com"}, "https://example.com", true},
		{"wildcard origin", []string{"*.example.com"}, "https://app.example.com", true},
		{"scheme pattern", []string{"https://example.com"}, "http://example.com", false},
		{"unlisted origin", []string{"example.com"}, "https://evil.test", false},
		{"empty list allows all", nil, "https://anything.test", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Name: "ws", Kind: KindWS, WebSocket: WebSocketConfig{AllowedOrigins: tt.allowed}}
			l := startListener(t, cfg, nil, packetEcho)
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL(l, "ws", "/mqtt"),
				&websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPHeader: hdr})
			if err == nil {
				c.CloseNow()
			}
			if (err == nil) != tt.wantOK {
				t.Fatalf("dial with Origin %q: %v, want success %v", tt.origin, err, tt.wantOK)
			}
			if !tt.wantOK && (resp == nil || resp.StatusCode != http.StatusForbidden) {
				t.Errorf("refused dial response = %v, want 403", resp)
			}
			if st := l.Stats(); !tt.wantOK && st.Failed != 1 {
				t.Errorf("Stats() = %+v, want 1 failed upgrade", st)
			}
		})
	}
}

func TestSecureWebSocket(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile := serverTLS(t, ca, t.TempDir(), "server")
	got := make(chan string, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		tc, ok := c.(*TLSConn)
		if !ok {
			got <- fmt.Sprintf("%T", c)
			return
		}
		got <- fmt.Sprintf("%s %s %v", tc.ListenerName(), tc.Kind(), tc.ConnectionState().HandshakeComplete)
		packetEcho(ctx, c)
	})
	rec := &logRecorder{}
	l := startListener(t, Config{Name: "wss", Kind: KindWSS, CertFile: certFile, KeyFile: keyFile}, slog.New(rec), h)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(ca)}}
	c := dialWS(t, wsURL(l, "wss", "/mqtt"), &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: client})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, publish); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || !bytes.Equal(msg, publish) {
		t.Errorf("echo = %x, %v", msg, err)
	}
	if s, want := <-got, "wss wss true"; s != want {
		t.Errorf("handler saw %q, want %q", s, want)
	}
	if want := "listener wss accepting MQTT over secure WebSocket on " + l.Addr().String() + "/mqtt"; rec.count(want) != 1 {
		t.Errorf("logs = %q, want %q", rec.all(), want)
	}
}

func TestWebSocketBehindProxyProtocol(t *testing.T) {
	l := startListener(t, Config{Name: "ws", Kind: KindWS, ProxyProtocol: true}, nil, tellAddr)
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.50").To4(), Port: 50000}
	dst := &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4(), Port: 8083}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(proxyHeader(t, 2, src, dst)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}}
	c := dialWS(t, wsURL(l, "ws", "/mqtt"), &websocket.DialOptions{
		Subprotocols: []string{"mqtt"}, HTTPClient: &http.Client{Transport: transport},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != src.String()+"\n" {
		t.Errorf("handler reported %q, %v, want %s", msg, err, src)
	}

	// Without the header the connection never reaches HTTP.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if c2, _, err := websocket.Dial(ctx2, wsURL(l, "ws", "/mqtt"), nil); err == nil {
		c2.CloseNow()
		t.Error("dial without a PROXY header succeeded, want it refused")
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st := l.Stats(); st.Failed != 1 {
			return fmt.Errorf("Stats() = %+v, want 1 failed", st)
		}
		return nil
	})
}

func TestWebSocketMaxConns(t *testing.T) {
	rec := &logRecorder{}
	l := startListener(t, Config{Name: "ws", Kind: KindWS, MaxConns: 1}, slog.New(rec), packetEcho)
	dialWS(t, wsURL(l, "ws", "/mqtt"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, _, err := websocket.Dial(ctx, wsURL(l, "ws", "/mqtt"), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}); err == nil {
		c.CloseNow()
		t.Fatal("second dial succeeded at a limit of 1")
	}
	if rec.count("listener ws refused a connection from 127.0.0.1:") != 1 {
		t.Errorf("logs = %q, want one refusal", rec.all())
	}
}

func TestWebSocketShutdownNotifiesHandlers(t *testing.T) {
	started := make(chan struct{}, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		defer c.Close()
		started <- struct{}{}
		<-ctx.Done()
		_, _ = c.Write([]byte{0xE0, 0x00}) // DISCONNECT, the goodbye a handler sends
	})
	l, err := Listen(Config{Name: "ws", Kind: KindWS, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), h) }()
	c := dialWS(t, wsURL(l, "ws", "/mqtt"), nil)
	<-started
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- l.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, msg, err := c.Read(ctx); err != nil || !bytes.Equal(msg, []byte{0xE0, 0x00}) {
		t.Errorf("read %x, %v, want the handler's goodbye", msg, err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("read after the goodbye = %v, want a normal close", err)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve() = %v, want ErrClosed", err)
	}
}

func TestWebSocketHandlerMountedOnAMux(t *testing.T) {
	got := make(chan string, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		got <- fmt.Sprintf("%s %s", c.(*Conn).ListenerName(), c.(*Conn).Kind())
		packetEcho(ctx, c)
	})
	ws, err := NewWebSocketHandler("shared", WebSocketConfig{}, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mqtt", ws)
	mux.HandleFunc("/api", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "api") })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := dialWS(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/mqtt", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || !bytes.Equal(msg, pingreq) {
		t.Errorf("echo = %x, %v", msg, err)
	}
	if s := <-got; s != "shared ws" {
		t.Errorf("handler saw %q, want \"shared ws\"", s)
	}
	resp, err := http.Get(srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "api" {
		t.Errorf("GET /api = %q, want the mux's other handler", body)
	}

	// Close drops the connection; Shutdown then has nothing to wait for.
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("read after Close succeeded, want the connection closed")
	}
	if err := ws.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	if _, err := NewWebSocketHandler("bad", WebSocketConfig{AllowedOrigins: []string{"[x"}}, nil, h); err == nil {
		t.Error("NewWebSocketHandler accepted a malformed origin pattern")
	}
}

func TestSecureWebSocketMutualTLSAndReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := serverTLS(t, ca, dir, "cert-a")
	caFile := writeFile(t, dir, "clients.pem", ca.pem)
	clientCert, clientKey := ca.issue(t, "browser-1", true)
	pair, err := tls.X509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	clientConf := clientTLS(ca)
	clientConf.Certificates = []tls.Certificate{pair}

	peer := make(chan string, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		st := c.(*TLSConn).ConnectionState()
		if len(st.PeerCertificates) > 0 {
			peer <- st.PeerCertificates[0].Subject.CommonName
		}
		packetEcho(ctx, c)
	})
	cfg := Config{Name: "wss", Kind: KindWSS, CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile,
		CertReloadInterval: 10 * time.Millisecond}
	l := startListener(t, cfg, nil, h)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientConf}}
	old := dialWS(t, wsURL(l, "wss", "/mqtt"), &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: client})
	if cn := <-peer; cn != "browser-1" {
		t.Errorf("handler saw client certificate %q, want browser-1", cn)
	}

	serverTLS(t, ca, dir, "cert-b")
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := tls.Dial("tcp", l.Addr().String(), clientConf)
		if err != nil {
			return err
		}
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "cert-b" {
			return fmt.Errorf("new connection saw %q, want cert-b", cn)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := old.Read(ctx); err != nil || !bytes.Equal(msg, pingreq) {
		t.Errorf("old connection echo after the reload = %x, %v", msg, err)
	}
}
