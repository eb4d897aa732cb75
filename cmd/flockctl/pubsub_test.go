package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
)

const mosquittoPath = "/usr/sbin/mosquitto"

// startMosquitto runs a Mosquitto broker on a free loopback port with the
// extra configuration lines and returns its mqtt:// URL.
func startMosquitto(t testing.TB, extra ...string) string {
	t.Helper()
	bin := mosquittoPath
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("mosquitto")
		if lerr != nil {
			t.Skip("mosquitto not installed (scripts/test.sh installs it)")
		}
		bin = p
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	lines := append([]string{
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"persistence false",
		"log_dest stderr",
		// Run as the test's user (when that is root, Mosquitto would
		// otherwise switch to user mosquitto, who cannot read t.TempDir).
		"user " + currentUser(),
	}, extra...)
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = &syncWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "mqtt://" + addr
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", cmd.Stderr.(*syncWriter).String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %s", addr, cmd.Stderr.(*syncWriter).String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// subscriber is a running `flockctl sub`.
type subscriber struct {
	out  syncWriter
	done chan error
}

// startSub runs sub with args and returns once its subscriptions are
// acknowledged.
func startSub(t *testing.T, args ...string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	s := &subscriber{out: syncWriter{w: new(bytes.Buffer)}, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() { s.done <- sub(ctx, args, &s.out, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Error("sub did not stop")
		}
	})
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("sub ended before subscribing: %v", err)
	}
	return s
}

// wait returns sub's output once it exits.
func (s *subscriber) wait(t *testing.T) string {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("sub: %v (output %q)", err, s.out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("sub did not exit; output so far %q", s.out.String())
	}
	return s.out.String()
}

func runPubT(t *testing.T, stdin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub(ctx, args, strings.NewReader(stdin), new(bytes.Buffer)); err != nil {
		t.Fatalf("pub %q: %v", args, err)
	}
}

func decodeLines(t *testing.T, out string) []jsonMessage {
	t.Helper()
	var msgs []jsonMessage
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m jsonMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestPubSubQoS(t *testing.T) {
	url := startMosquitto(t, "allow_anonymous true")
	for qos := range 3 {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			q := fmt.Sprint(qos)
			s := startSub(t, "--url", url, "--client-id", "sub-"+q, "-t", "q/"+q, "-q", q, "--count", "1", "-o", "json")
			runPubT(t, "", "--url", url, "--client-id", "pub-"+q, "-t", "q/"+q, "-q", q, "-m", "hello "+q)
			msgs := decodeLines(t, s.wait(t))
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.Topic != "q/"+q || m.QoS != byte(qos) || m.Retain || m.Payload == nil || *m.Payload != "hello "+q {
				t.Errorf("message = %+v", m)
			}
		})
	}
}

func TestPubSubRetainedAndCount(t *testing.T) {
	url := startMosquitto(t, "allow_anonymous true")
	runPubT(t, "", "--url", url, "-t", "r/state", "-r", "-q", "1", "-m", "on")
	s := startSub(t, "--url", url, "-t", "r/state", "-t", "r/events/#", "--count", "3")
	runPubT(t, "", "--url", url, "-t", "r/events/x", "--count", "2", "--interval", "10ms", "-q", "1", "-m", "tick")
	got := s.wait(t)
	want := "r/state  on\nr/events/x  tick\nr/events/x  tick\n"
	if got != want {
		t.Errorf("sub output = %q, want %q", got, want)
	}

	// The retained message is flagged as such in JSON.
	s = startSub(t, "--url", url, "-t", "r/state", "--count", "1", "-o", "json")
	msgs := decodeLines(t, s.wait(t))
	if len(msgs) != 1 || !msgs[0].Retain || *msgs[0].Payload != "on" {
		t.Errorf("retained message = %+v", msgs)
	}
}

func TestPubSubBinaryPayloadAndProperties(t *testing.T) {
	url := startMosquitto(t, "allow_anonymous true")
	file := filepath.Join(t.TempDir(), "blob")
	blob := []byte{0x00, 0xff, 0x10, 0x80}
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	text := startSub(t, "--url", url, "-t", "bin/#", "--count", "1")
	js := startSub(t, "--url", url, "-t", "bin/#", "--count", "1", "-o", "json")
	runPubT(t, "", "--url", url, "-t", "bin/blob", "-f", file, "-q", "1",
		"--content-type", "application/octet-stream", "--user-property", "site=lab", "--user-property", "k=v=w")

	if got, want := text.wait(t), "bin/blob  <4 bytes, not UTF-8> 00ff1080\n"; got != want {
		t.Errorf("text output = %q, want %q", got, want)
	}
	msgs := decodeLines(t, js.wait(t))
	if len(msgs) != 1 {
		t.Fatalf("got %d JSON messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Payload != nil || !bytes.Equal(m.PayloadBase64, blob) {
		t.Errorf("payload = %v / %x, want base64 of %x", m.Payload, m.PayloadBase64, blob)
	}
	if m.Properties == nil || m.Properties.ContentType != "application/octet-stream" ||
		fmt.Sprint(m.Properties.UserProperties) != "[{site lab} {k v=w}]" {
		t.Errorf("properties = %+v", m.Properties)
	}
}

func TestPubStdin(t *testing.T) {
	url := startMosquitto(t, "allow_anonymous true")
	s := startSub(t, "--url", url, "-t", "lines", "--count", "3", "-q", "2")
	runPubT(t, "first\r\nsecond\n\nlast", "--url", url, "-t", "lines", "--stdin", "-q", "2")
	if got, want := s.wait(t), "lines  first\nlines  second\nlines  \n"; got != want {
		// An empty line is an empty message.
		t.Errorf("sub output = %q, want %q", got, want)
	}
}

func TestTokenIsThePassword(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	// A token whose "sub" claim names the device (signature not checked
	// by Mosquitto, and not by flockctl).
	token := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZW5zb3ItNyJ9.c2ln"
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, "sensor-7", token).CombinedOutput(); err != nil {
		t.Skipf("mosquitto_passwd not usable (%v: %s); it comes with mosquitto", err, out)
	}
	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	url := startMosquitto(t, "allow_anonymous false", "password_file "+pw)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envDeviceToken, token)
	t.Setenv(envMQTTURL, url)
	// The device id comes from the token's "sub" and the token from the
	// environment.
	s := startSub(t, "-t", "dev/#", "--client-id", "sensor-7:sub", "--count", "1")
	runPubT(t, "", "--device", "sensor-7", "--token-file", tokenFile, "-t", "dev/temp", "-m", "21.5")
	if got := s.wait(t); got != "dev/temp  21.5\n" {
		t.Errorf("sub output = %q", got)
	}

	// A wrong token is refused, in words.
	ctx := context.Background()
	err := pub(ctx, []string{"--token", "wrong", "--device", "sensor-7", "-t", "x", "-m", "y"}, nil, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "the server refused the connection: ") || errors.Is(err, errUsage) {
		t.Fatalf("pub with a wrong token: err = %v, want a refusal", err)
	}
	t.Logf("refusal reads: %v", err)
	if !strings.Contains(err.Error(), "(0x86) — is the token expired?") && !strings.Contains(err.Error(), "(0x87)") {
		t.Errorf("refusal = %q, want the reason code in words", err)
	}
}

func TestRefusedConnection(t *testing.T) {
	url := startMosquitto(t, "allow_anonymous false")
	t.Setenv(envDeviceToken, "")
	err := sub(context.Background(), []string{"--url", url, "-t", "#"}, new(bytes.Buffer), nil)
	if err == nil || errors.Is(err, errUsage) {
		t.Fatalf("anonymous sub against a broker refusing anonymous clients: err = %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "the server refused the connection: ") || !strings.Contains(msg, "no token was given") {
		t.Errorf("err = %q, want the refusal in words and a hint", msg)
	}
}

func TestUnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = pub(context.Background(), []string{"--url", "mqtt://" + addr, "-t", "a", "-m", "b"}, nil, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the server at mqtt://"+addr) {
		t.Errorf("err = %v, want cannot reach", err)
	}
}

func TestPubSubUsageErrors(t *testing.T) {
	t.Setenv(envMQTTURL, "")
	t.Setenv(envDeviceToken, "")
	tests := []struct {
		name string
		cmd  string
		args []string
	}{
		{"pub without topic", "pub", []string{"-m", "x"}},
		{"pub without message", "pub", []string{"-t", "a"}},
		{"pub with two sources", "pub", []string{"-t", "a", "-m", "x", "--stdin"}},
		{"pub to a wildcard topic", "pub", []string{"-t", "a/+", "-m", "x"}}, // [MQTT-3.3.2-2]
		{"pub with QoS 3", "pub", []string{"-t", "a", "-m", "x", "-q", "3"}},
		{"pub with count 0", "pub", []string{"-t", "a", "-m", "x", "--count", "0"}},
		{"pub count with stdin", "pub", []string{"-t", "a", "--stdin", "--count", "2"}},
		{"pub bad user property", "pub", []string{"-t", "a", "-m", "x", "--user-property", "novalue"}},
		{"pub bad URL scheme", "pub", []string{"--url", "http://127.0.0.1:1883", "-t", "a", "-m", "x"}},
		{"pub URL without host", "pub", []string{"--url", "mqtt://", "-t", "a", "-m", "x"}},
		{"pub URL bad port", "pub", []string{"--url", "mqtt://127.0.0.1:99999", "-t", "a", "-m", "x"}},
		{"pub token and token file", "pub", []string{"--token", "a", "--token-file", "b", "-t", "a", "-m", "x"}},
		{"pub unknown flag", "pub", []string{"--nope", "-t", "a", "-m", "x"}},
		{"pub extra argument", "pub", []string{"-t", "a", "-m", "x", "extra"}},
		{"sub without topic", "sub", []string{"-q", "1"}},
		{"sub bad filter", "sub", []string{"-t", "a/#/b"}}, // [MQTT-4.7.1-2]
		{"sub bad QoS", "sub", []string{"-t", "a", "-q", "-1"}},
		{"sub bad format", "sub", []string{"-t", "a", "-o", "yaml"}},
		{"sub bad URL", "sub", []string{"--url", "ftp://x", "-t", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.cmd == "pub" {
				err = pub(context.Background(), tt.args, strings.NewReader(""), new(bytes.Buffer))
			} else {
				err = sub(context.Background(), tt.args, new(bytes.Buffer), nil)
			}
			if !errors.Is(err, errUsage) {
				t.Errorf("%s %q = %v, want a usage error", tt.cmd, tt.args, err)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in               string
		scheme, host, ws string
	}{
		{"", "mqtt", "127.0.0.1:1883", ""},
		{"mqtt://broker", "mqtt", "broker:1883", ""},
		{"tcp://broker:2000", "mqtt", "broker:2000", ""},
		{"mqtts://broker", "mqtts", "broker:8883", ""},
		{"ws://broker", "ws", "broker:80", "ws://broker:80/mqtt"},
		{"wss://broker/custom?x=1", "wss", "broker:443", "wss://broker:443/custom?x=1"},
		{"ws://[::1]:8080/mqtt", "ws", "[::1]:8080", "ws://[::1]:8080/mqtt"},
	}
	for _, tt := range tests {
		e, err := parseEndpoint(tt.in)
		if err != nil || e.scheme != tt.scheme || e.host != tt.host || e.url != tt.ws {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want %s %s %q", tt.in, e, err, tt.scheme, tt.host, tt.ws)
		}
	}
}

func TestTokenSubject(t *testing.T) {
	tests := []struct{ token, want string }{
		{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZW5zb3ItNyJ9.c2ln", "sensor-7"},
		{"not-a-jwt", ""},
		{"a.!!!.c", ""},
		{"a.eyJleHAiOjF9.c", ""},
	}
	for _, tt := range tests {
		if got := tokenSubject(tt.token); got != tt.want {
			t.Errorf("tokenSubject(%q) = %q, want %q", tt.token, got, tt.want)
		}
	}
}

func TestRefusalText(t *testing.T) {
	tests := []struct {
		code      byte
		reason    string
		withToken bool
		want      string
	}{
		{0x86, "", true, "the server refused the connection: bad user name or password (0x86) — is the token expired?"},
		{0x86, "", false, "the server refused the connection: bad user name or password (0x86) — no token was given: pass --token or --token-file, or set FLOCK_DEVICE_TOKEN"},
		{0x85, "", true, `the server refused the connection: client identifier not valid (0x85) — the client id must be the device id or start with "<device id>:"`},
		{0x8A, "device banned", true, `the server refused the connection: banned (0x8A), saying "device banned"`},
	}
	for _, tt := range tests {
		ca := &paho.Connack{ReasonCode: tt.code, Properties: &paho.ConnackProperties{ReasonString: tt.reason}}
		if got := refused(ca, tt.withToken).Error(); got != tt.want {
			t.Errorf("refused(0x%02X, %q, %v) = %q, want %q", tt.code, tt.reason, tt.withToken, got, tt.want)
		}
	}
}

// wsBridge serves MQTT over WebSocket at /mqtt by relaying each connection
// to the broker's TCP listener (Mosquitto here is built without a usable
// WebSocket listener), and returns its ws:// URL.
func wsBridge(t *testing.T, brokerURL string) string {
	t.Helper()
	brokerAddr := strings.TrimPrefix(brokerURL, "mqtt://")
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mqtt" {
			http.NotFound(w, r)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return
		}
		if ws.Subprotocol() != "mqtt" {
			ws.Close(websocket.StatusPolicyViolation, "mqtt subprotocol required")
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		client := websocket.NetConn(ctx, ws, websocket.MessageBinary)
		defer client.Close()
		broker, err := net.Dial("tcp", brokerAddr)
		if err != nil {
			return
		}
		defer broker.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(broker, client)
			broker.Close()
		}()
		io.Copy(client, broker)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return "ws://" + strings.TrimPrefix(srv.URL, "http://")
}

func TestPubSubOverWebSocket(t *testing.T) {
	ws := wsBridge(t, startMosquitto(t, "allow_anonymous true"))
	s := startSub(t, "--url", ws, "-t", "over/ws", "--count", "1", "-q", "1")
	runPubT(t, "", "--url", ws+"/mqtt", "-t", "over/ws", "-m", "framed", "-q", "1")
	if got := s.wait(t); got != "over/ws  framed\n" {
		t.Errorf("sub output = %q", got)
	}
}

// tlsBridge serves MQTT over TLS with a fresh self-signed certificate for
// 127.0.0.1, relaying each connection to the broker's TCP listener. It
// returns the mqtts:// URL and the path of the certificate in PEM.
func tlsBridge(t *testing.T, brokerURL string) (url, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "flockctl test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	brokerAddr := strings.TrimPrefix(brokerURL, "mqtt://")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				b, err := net.Dial("tcp", brokerAddr)
				if err != nil {
					return
				}
				defer b.Close()
				wg.Go(func() { io.Copy(b, c); b.Close() })
				io.Copy(c, b)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "mqtts://" + l.Addr().String(), caFile
}

func TestPubSubOverTLS(t *testing.T) {
	url, ca := tlsBridge(t, startMosquitto(t, "allow_anonymous true"))
	s := startSub(t, "--url", url, "--ca-file", ca, "-t", "over/tls", "--count", "2")
	runPubT(t, "", "--url", url, "--ca-file", ca, "-t", "over/tls", "-m", "verified")
	runPubT(t, "", "--url", url, "--insecure", "-t", "over/tls", "-m", "unverified")
	if got := s.wait(t); got != "over/tls  verified\nover/tls  unverified\n" {
		t.Errorf("sub output = %q", got)
	}
	// Without the CA, the self-signed certificate is refused.
	err := pub(context.Background(), []string{"--url", url, "-t", "over/tls", "-m", "x"}, nil, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the server at "+url) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("pub without the CA: err = %v, want a certificate error", err)
	}
}

func TestSubCountStopsUnderLoad(t *testing.T) {
	url := startMosquitto(t, "allow_anonymous true")
	s := startSub(t, "--url", url, "-t", "flood", "--count", "1", "-q", "1")
	runPubT(t, "", "--url", url, "-t", "flood", "--count", "500", "-q", "1", "-m", "x")
	if got := s.wait(t); got != "flood  x\n" {
		t.Errorf("sub output = %q, want one message", got)
	}
}

func TestPubReportsServerDisconnect(t *testing.T) {
	// Mosquitto ends the connection of a client that sends a packet over
	// its maximum size with DISCONNECT 0x95 [MQTT-3.2.2-15].
	url := startMosquitto(t, "allow_anonymous true", "max_packet_size 200")
	// Mosquitto closes the socket with our oversize packet still unread, so
	// the kernel may answer with a reset (or our next write may hit a broken
	// pipe) before the DISCONNECT is read. That
	// race is the peer's; try a few times and require the worded reason to
	// be shown whenever the DISCONNECT does arrive.
	var err error
	for range 10 {
		err = pub(context.Background(), []string{"--url", url, "-t", "big", "-q", "1", "-m", strings.Repeat("x", 400)}, nil, new(bytes.Buffer))
		if err == nil || strings.Contains(err.Error(), "(0x95)") {
			break // otherwise a reset or broken pipe overtook the DISCONNECT
		}
	}
	if err == nil || !strings.Contains(err.Error(), "the server ended the connection: packet too large (0x95)") {
		t.Errorf("pub of an oversize message: err = %v, want the server's reason in words", err)
	}
}
