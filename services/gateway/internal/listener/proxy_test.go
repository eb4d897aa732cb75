package listener

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyHeader builds a PROXY header of version v claiming src connected to dst.
func proxyHeader(tb testing.TB, v byte, src, dst *net.TCPAddr) []byte {
	tb.Helper()
	proto := proxyproto.TCPv4
	if src.IP.To4() == nil {
		proto = proxyproto.TCPv6
	}
	h := &proxyproto.Header{
		Version: v, Command: proxyproto.PROXY, TransportProtocol: proto,
		SourceAddr: src, DestinationAddr: dst,
	}
	b, err := h.Format()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestProxyProtocolReportsTheClientAddress(t *testing.T) {
	tests := []struct {
		name     string
		version  byte
		src, dst *net.TCPAddr
	}{
		{"v1 IPv4", 1, &net.TCPAddr{IP: net.ParseIP("203.0.113.7").To4(), Port: 40001}, &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4(), Port: 1883}},
		{"v1 IPv6", 1, &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 40002}, &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1883}},
		{"v2 IPv4", 2, &net.TCPAddr{IP: net.ParseIP("198.51.100.9").To4(), Port: 40003}, &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4(), Port: 1883}},
		{"v2 IPv6", 2, &net.TCPAddr{IP: net.ParseIP("2001:db8::9"), Port: 40004}, &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1883}},
	}
	for _, optional := range []bool{false, true} {
		cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyProtocolOptional: optional}
		l := startListener(t, cfg, nil, tellAddr)
		for _, tt := range tests {
			name := tt.name
			if optional {
				name += " optional"
			}
			t.Run(name, func(t *testing.T) {
				c := dial(t, l.Addr())
				if _, err := c.Write(proxyHeader(t, tt.version, tt.src, tt.dst)); err != nil {
					t.Fatal(err)
				}
				if got := readLine(t, c); got != tt.src.String() {
					t.Errorf("RemoteAddr() = %s, want %s", got, tt.src)
				}
			})
		}
	}
}

func TestProxyProtocolHeaderThenDataArriveTogether(t *testing.T) {
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true}, nil, echo)
	c := dial(t, l.Addr())
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.7").To4(), Port: 5}
	dst := &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4(), Port: 1883}
	// The header and the first bytes of the stream in one segment: nothing
	// after the header may be lost.
	payload := append(proxyHeader(t, 2, src, dst), "\x10\x0chello"...)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "\x10\x0chello" {
		t.Errorf("echo = %q, %v, want the bytes after the header", buf, err)
	}
}

func TestProxyProtocolRejectsBadOrMissingHeaders(t *testing.T) {
	tests := []struct {
		name     string
		optional bool
		send     string
	}{
		{"garbage", false, "GARBAGE GARBAGE GARBAGE\r\n"},
		{"invalid v1", false, "PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n"},
		{"invalid v1 optional", true, "PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n"},
		{"truncated v2", false, "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01"},
		{"no header", false, "\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02id"}, // a bare MQTT CONNECT
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyProtocolOptional: tt.optional}
			reached := make(chan struct{}, 1)
			l := startListener(t, cfg, slog.New(rec), HandlerFunc(func(_ context.Context, c net.Conn) {
				reached <- struct{}{}
				c.Close()
			}))
			c := dial(t, l.Addr())
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.name == "truncated v2" {
				c.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, c)
			select {
			case <-reached:
				t.Error("the handler got a connection with a bad PROXY header")
			default:
			}
			if st := l.Stats(); st.Failed != 1 || st.Accepted != 1 {
				t.Errorf("Stats() = %+v, want 1 accepted and 1 failed", st)
			}
			if rec.count("its PROXY protocol header was missing or invalid") != 1 {
				t.Errorf("logs = %q, want one line about the header", rec.all())
			}
		})
	}
}

// echoAddrAfterData reads 8 bytes, then writes the remote address, a space,
// the bytes and a newline.
var echoAddrAfterData = HandlerFunc(func(_ context.Context, c net.Conn) {
	defer c.Close()
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	_, _ = io.WriteString(c, c.RemoteAddr().String()+" "+string(buf)+"\n")
})

func TestProxyProtocolHeaderTimeout(t *testing.T) {
	cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyHeaderTimeout: 50 * time.Millisecond}
	l := startListener(t, cfg, nil, tellAddr)
	c := dial(t, l.Addr()) // and say nothing
	expectClosed(t, c)
}

func TestProxyProtocolOptionalWithoutHeader(t *testing.T) {
	cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyProtocolOptional: true}
	l := startListener(t, cfg, nil, echoAddrAfterData)
	c := dial(t, l.Addr())
	if _, err := io.WriteString(c, "\x10\x0e\x00\x04MQTT"); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, c); got != c.LocalAddr().String()+" \x10\x0e\x00\x04MQTT" {
		t.Errorf("handler saw %q, want the socket address and the data", got)
	}
}

func TestProxyProtocolTrustedNetworks(t *testing.T) {
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.7").To4(), Port: 9}
	dst := &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4(), Port: 1883}

	t.Run("required, untrusted peer closed", func(t *testing.T) {
		cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyTrustedNetworks: []string{"10.0.0.0/8"}}
		l := startListener(t, cfg, nil, tellAddr)
		c := dial(t, l.Addr())
		_, _ = c.Write(proxyHeader(t, 1, src, dst))
		expectClosed(t, c)
	})
	t.Run("required, trusted peer", func(t *testing.T) {
		cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyTrustedNetworks: []string{"10.0.0.0/8", "127.0.0.0/8"}}
		l := startListener(t, cfg, nil, tellAddr)
		c := dial(t, l.Addr())
		_, _ = c.Write(proxyHeader(t, 1, src, dst))
		if got := readLine(t, c); got != src.String() {
			t.Errorf("RemoteAddr() = %s, want %s", got, src)
		}
	})
	t.Run("optional, untrusted peer cannot spoof", func(t *testing.T) {
		cfg := Config{Name: "mqtt", Kind: KindTCP, ProxyProtocol: true, ProxyProtocolOptional: true,
			ProxyTrustedNetworks: []string{"10.0.0.0/8"}}
		l := startListener(t, cfg, nil, tellAddr)
		c := dial(t, l.Addr())
		_, _ = c.Write(proxyHeader(t, 1, src, dst))
		if got := readLine(t, c); got != c.LocalAddr().String() {
			t.Errorf("RemoteAddr() = %s, want the socket address %s", got, c.LocalAddr())
		}
	})
}

func TestProxyProtocolBeforeTLS(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile := serverTLS(t, ca, t.TempDir(), "server")
	cfg := Config{Name: "mqtts", Kind: KindTLS, CertFile: certFile, KeyFile: keyFile, ProxyProtocol: true}
	l := startListener(t, cfg, nil, tellAddr)
	raw := dial(t, l.Addr())
	src := &net.TCPAddr{IP: net.ParseIP("2001:db8::42"), Port: 61000}
	dst := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 8883}
	if _, err := raw.Write(proxyHeader(t, 2, src, dst)); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, clientTLS(ca))
	if got := readLine(t, c); got != src.String() {
		t.Errorf("RemoteAddr() over TLS = %s, want %s", got, src)
	}
}
