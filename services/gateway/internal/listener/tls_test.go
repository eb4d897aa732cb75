package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func dialTLS(tb testing.TB, addr net.Addr, conf *tls.Config) *tls.Conn {
	tb.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr.String(), conf)
	if err != nil {
		tb.Fatalf("TLS dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestTLSHandsOverConnectionState(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile := serverTLS(t, ca, t.TempDir(), "server-a")
	rec := &logRecorder{}
	got := make(chan string, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		tc, ok := c.(*TLSConn)
		if !ok {
			got <- fmt.Sprintf("conn is %T, want *TLSConn", c)
			return
		}
		st := tc.ConnectionState()
		got <- fmt.Sprintf("%s %s %v %v", tc.ListenerName(), tc.Kind(), st.HandshakeComplete, st.Version >= tls.VersionTLS12)
		echo(ctx, c)
	})
	l := startListener(t, Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile}, slog.New(rec), h)
	c := dialTLS(t, l.Addr(), clientTLS(ca))
	if r := roundTrip(t, c, "hello"); r != "hello" {
		t.Errorf("echo = %q", r)
	}
	if s, want := <-got, "mqtts tls true true"; s != want {
		t.Errorf("handler saw %q, want %q", s, want)
	}
	for _, want := range []string{
		"listener mqtts loaded its TLS certificate from " + certFile + " (expires ",
		"listener mqtts accepting MQTT over TLS on " + l.Addr().String(),
	} {
		if rec.count(want) != 1 {
			t.Errorf("logs = %q, want %q", rec.all(), want)
		}
	}
}

func TestTLSRefusesVersionsBelowMinimum(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile := serverTLS(t, ca, t.TempDir(), "server")
	tests := []struct {
		name      string
		min       string
		clientMax uint16
		wantOK    bool
	}{
		{"1.1 against default", "", tls.VersionTLS11, false},
		{"1.2 against default", "", tls.VersionTLS12, true},
		{"1.2 against 1.3", "1.3", tls.VersionTLS12, false},
		{"1.3 against 1.3", "1.3", tls.VersionTLS13, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile, TLSMinVersion: tt.min}
			l := startListener(t, cfg, nil, echo)
			conf := clientTLS(ca)
			conf.MinVersion, conf.MaxVersion = tls.VersionTLS10, tt.clientMax
			c, err := tls.Dial("tcp", l.Addr().String(), conf)
			if err == nil {
				c.Close()
			}
			if (err == nil) != tt.wantOK {
				t.Errorf("handshake error = %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func TestTLSCertificateReloadKeepsExistingConnections(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := serverTLS(t, ca, dir, "cert-a")
	rec := &logRecorder{}
	cfg := Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile, CertReloadInterval: 10 * time.Millisecond}
	l := startListener(t, cfg, slog.New(rec), echo)

	old := dialTLS(t, l.Addr(), clientTLS(ca))
	if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "cert-a" {
		t.Fatalf("first connection saw %q, want cert-a", cn)
	}
	roundTrip(t, old, "before")

	serverTLS(t, ca, dir, "cert-b") // replaces both files

	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := tls.Dial("tcp", l.Addr().String(), clientTLS(ca))
		if err != nil {
			return err
		}
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "cert-b" {
			return fmt.Errorf("new connection saw %q, want cert-b", cn)
		}
		return nil
	})
	if got := roundTrip(t, old, "after"); got != "after" {
		t.Errorf("old connection echo = %q, want after", got)
	}
	if !strings.Contains(rec.all(), "listener mqtts reloaded its TLS certificate from "+certFile+" (expires ") {
		t.Errorf("logs = %q, want a reload line", rec.all())
	}
}

func TestTLSBadReloadKeepsCurrentCertificate(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := serverTLS(t, ca, dir, "cert-a")
	rec := &logRecorder{}
	clock := &fakeClock{t: time.Now()}
	cfg := Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile}
	l := startListener(t, cfg, slog.New(rec), echo, func(l *Listener) { l.certs.now = clock.now })

	// A certificate whose key is not written yet: the pair does not match.
	newCert, _ := ca.issue(t, "cert-b", false)
	writeFile(t, dir, "server.crt", newCert)

	for i := range 3 {
		clock.advance(time.Hour) // past the reload interval: the next handshake checks the files
		c := dialTLS(t, l.Addr(), clientTLS(ca))
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "cert-a" {
			t.Errorf("handshake %d during a bad reload saw %q, want cert-a", i, cn)
		}
	}
	if n := rec.count("listener mqtts kept its current TLS certificate because reloading failed"); n != 1 {
		t.Errorf("logged the reload failure %d times, want once for the same failure: %q", n, rec.all())
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := serverTLS(t, ca, dir, "server")
	caFile := writeFile(t, dir, "clients.pem", ca.pem)
	clientCert, clientKey := ca.issue(t, "device-7", true)
	pair, err := tls.X509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	peer := HandlerFunc(func(_ context.Context, c net.Conn) {
		defer c.Close()
		st := c.(interface{ ConnectionState() tls.ConnectionState }).ConnectionState()
		name := "none"
		if len(st.PeerCertificates) > 0 {
			name = st.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintln(c, name)
	})
	tests := []struct {
		name       string
		optional   bool
		clientCert bool
		want       string // the handler's answer, or "" for a failed handshake
	}{
		{"required, with cert", false, true, "device-7"},
		{"required, without cert", false, false, ""},
		{"optional, with cert", true, true, "device-7"},
		{"optional, without cert", true, false, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile,
				ClientCAFile: caFile, ClientCertOptional: tt.optional}
			l := startListener(t, cfg, nil, peer)
			conf := clientTLS(ca)
			if tt.clientCert {
				conf.Certificates = []tls.Certificate{pair}
			}
			c, err := tls.Dial("tcp", l.Addr().String(), conf)
			if err != nil {
				if tt.want != "" {
					t.Fatalf("dial: %v", err)
				}
				return
			}
			defer c.Close()
			// With TLS 1.3 a refused client certificate surfaces on the
			// first read, not in Dial.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			got := strings.TrimSpace(string(buf[:n]))
			if tt.want == "" {
				if err == nil {
					t.Errorf("read %q, want the handshake refused", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("handler saw client certificate %q (err %v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestListenFailsOnBadTLSFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := serverTLS(t, ca, dir, "server")
	garbage := writeFile(t, dir, "garbage.pem", []byte("not a certificate"))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing cert", Config{CertFile: dir + "/nope.crt", KeyFile: keyFile}, "listener mqtts: cert_file: open"},
		{"missing key", Config{CertFile: certFile, KeyFile: dir + "/nope.key"}, "listener mqtts: key_file: open"},
		{"garbage cert", Config{CertFile: garbage, KeyFile: keyFile}, "listener mqtts: cert_file " + garbage},
		{"garbage CA", Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: garbage}, "listener mqtts: client_ca_file " + garbage + ": no PEM certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Name, cfg.Kind, cfg.Addr = "mqtts", KindTLS, "127.0.0.1:0"
			l, err := Listen(cfg, nil)
			if err == nil {
				l.Close()
				t.Fatalf("Listen() succeeded, want an error starting %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Listen() = %q, want it to start %q", err, tt.want)
			}
		})
	}
}
