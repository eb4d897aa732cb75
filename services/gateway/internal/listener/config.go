package listener

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path"
	"strings"
	"time"
)

// Kind is the transport a listener speaks.
type Kind string

// The kinds of listener.
const (
	KindTCP Kind = "tcp" // plain TCP
	KindTLS Kind = "tls" // TLS over TCP
	KindWS  Kind = "ws"  // WebSocket over HTTP
	KindWSS Kind = "wss" // WebSocket over HTTPS
)

// secure reports whether the kind terminates TLS.
func (k Kind) secure() bool { return k == KindTLS || k == KindWSS }

// websocket reports whether the kind carries WebSocket.
func (k Kind) websocket() bool { return k == KindWS || k == KindWSS }

// describe names what the kind carries, for log lines.
func (k Kind) describe() string {
	switch k {
	case KindTLS:
		return "MQTT over TLS"
	case KindWS:
		return "MQTT over WebSocket"
	case KindWSS:
		return "MQTT over secure WebSocket"
	default:
		return "MQTT over TCP"
	}
}

// Defaults applied to zero Config fields.
const (
	DefaultPath               = "/mqtt"
	DefaultProxyHeaderTimeout = 5 * time.Second
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultCertReloadInterval = 5 * time.Second
)

// Config describes one listening socket. The zero value of every optional field
// means the documented default. Config is plain data; call Validate before use
// (Listen does).
type Config struct {
	// Name identifies the listener in logs and on every connection it hands
	// over (Conn.ListenerName), e.g. "mqtt", "mqtts", "ws". Required.
	Name string `json:"name"`
	// Kind is the transport: tcp, tls, ws or wss. Required.
	Kind Kind `json:"kind"`
	// Addr is the host:port to listen on, e.g. "127.0.0.1:1883" or ":8083".
	// Port 0 picks a free port (see Listener.Addr). Required.
	Addr string `json:"addr"`

	// CertFile and KeyFile hold the PEM certificate chain and private key for
	// kinds tls and wss. Both are re-read when their contents change, at most
	// once per CertReloadInterval, checked lazily on incoming handshakes;
	// connections already established keep the certificate they negotiated.
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// ClientCAFile, when set, enables mutual TLS: clients must present a
	// certificate signed by one of the PEM CAs in the file, unless
	// ClientCertOptional is true, in which case a certificate is verified only
	// if one is presented. Reloaded like CertFile.
	ClientCAFile       string `json:"client_ca_file"`
	ClientCertOptional bool   `json:"client_cert_optional"`
	// TLSMinVersion is "1.2" (the default) or "1.3".
	TLSMinVersion string `json:"tls_min_version"`
	// CertReloadInterval bounds how often the certificate files are checked
	// for changes. Default DefaultCertReloadInterval.
	CertReloadInterval time.Duration `json:"cert_reload_interval"`
	// HandshakeTimeout bounds the TLS handshake and, for WebSocket kinds, the
	// HTTP upgrade request. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration `json:"handshake_timeout"`

	// WebSocket configures kinds ws and wss.
	WebSocket WebSocketConfig `json:"websocket"`

	// ProxyProtocol makes the listener read a PROXY protocol v1 or v2 header
	// (sent by a load balancer such as HAProxy or an AWS NLB) before anything
	// else; RemoteAddr then reports the client the header names. A connection
	// without a valid header is closed, unless ProxyProtocolOptional is set.
	ProxyProtocol         bool `json:"proxy_protocol"`
	ProxyProtocolOptional bool `json:"proxy_protocol_optional"`
	// ProxyHeaderTimeout bounds the wait for the PROXY header, so a silent
	// peer cannot pin a goroutine. Default DefaultProxyHeaderTimeout.
	ProxyHeaderTimeout time.Duration `json:"proxy_header_timeout"`
	// ProxyTrustedNetworks, when not empty, lists the CIDR prefixes of the
	// load balancers allowed to send PROXY headers. Connections from other
	// peers are closed at once, or, with ProxyProtocolOptional, served with
	// their socket address and no header parsing, so they cannot spoof one.
	ProxyTrustedNetworks []string `json:"proxy_trusted_networks"`

	// MaxConnRate caps accepted connections per second with a token bucket of
	// MaxConnBurst tokens (default: MaxConnRate rounded up). Connections beyond
	// the rate wait in the kernel's accept queue, which paces reconnect storms.
	// 0 means unlimited.
	MaxConnRate  float64 `json:"max_conn_rate"`
	MaxConnBurst int     `json:"max_conn_burst"`
	// MaxConns caps the connections open at once on this listener; beyond it a
	// new connection is closed as soon as it is accepted, before any PROXY
	// header is read (so the refusal is logged with the peer's socket
	// address). 0 means unlimited.
	MaxConns int `json:"max_conns"`
}

// WebSocketConfig configures a WebSocket listener or handler.
type WebSocketConfig struct {
	// Path is the HTTP path that upgrades to WebSocket. Other paths answer a
	// plain 404. Default DefaultPath. Unused by NewWebSocketHandler, whose
	// caller mounts it where it wants.
	Path string `json:"path"`
	// AllowedOrigins lists the browser origins allowed to connect, as
	// case-insensitive path.Match patterns on the origin's host
	// ("*.example.com") or on scheme://host when the pattern holds "://".
	// Requests without an Origin header (non-browser clients) and same-origin
	// requests are always allowed. Empty allows every origin.
	AllowedOrigins []string `json:"allowed_origins"`
}

// Validate reports the first problem with c. Its errors name the listener and
// the field: "listener mqtts: cert_file: required for kind tls".
func (c Config) Validate() error {
	fail := func(field, format string, args ...any) error {
		name := c.Name
		if name == "" {
			name = "(unnamed)"
		}
		return fmt.Errorf("listener %s: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return fail("name", "required")
	}
	switch c.Kind {
	case KindTCP, KindTLS, KindWS, KindWSS:
	case "":
		return fail("kind", "required (one of tcp, tls, ws, wss)")
	default:
		return fail("kind", "%q is not one of tcp, tls, ws, wss", c.Kind)
	}
	if c.Addr == "" {
		return fail("addr", "required")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		return fail("addr", "%q is not host:port: %v", c.Addr, err)
	} else if port == "" {
		return fail("addr", "%q has no port", c.Addr)
	}

	if c.Kind.secure() {
		if c.CertFile == "" {
			return fail("cert_file", "required for kind %s", c.Kind)
		}
		if c.KeyFile == "" {
			return fail("key_file", "required for kind %s", c.Kind)
		}
		switch c.TLSMinVersion {
		case "", "1.2", "1.3":
		default:
			return fail("tls_min_version", "%q is not 1.2 or 1.3", c.TLSMinVersion)
		}
		if c.ClientCertOptional && c.ClientCAFile == "" {
			return fail("client_cert_optional", "needs client_ca_file")
		}
	} else {
		for _, f := range []struct{ name, value string }{
			{"cert_file", c.CertFile}, {"key_file", c.KeyFile},
			{"client_ca_file", c.ClientCAFile}, {"tls_min_version", c.TLSMinVersion},
		} {
			if f.value != "" {
				return fail(f.name, "only valid for kinds tls and wss, not %s", c.Kind)
			}
		}
	}
	if c.CertReloadInterval < 0 {
		return fail("cert_reload_interval", "must not be negative")
	}
	if c.HandshakeTimeout < 0 {
		return fail("handshake_timeout", "must not be negative")
	}

	if c.Kind.websocket() {
		if c.WebSocket.Path != "" && !strings.HasPrefix(c.WebSocket.Path, "/") {
			return fail("websocket.path", "%q must start with /", c.WebSocket.Path)
		}
		if err := validateOrigins(c.WebSocket.AllowedOrigins); err != nil {
			return fail("websocket.allowed_origins", "%v", err)
		}
	} else if c.WebSocket.Path != "" || len(c.WebSocket.AllowedOrigins) > 0 {
		return fail("websocket", "only valid for kinds ws and wss, not %s", c.Kind)
	}

	if !c.ProxyProtocol && (c.ProxyProtocolOptional || c.ProxyHeaderTimeout != 0 || len(c.ProxyTrustedNetworks) > 0) {
		return fail("proxy_protocol", "must be true when other proxy_* fields are set")
	}
	if c.ProxyHeaderTimeout < 0 {
		return fail("proxy_header_timeout", "must not be negative")
	}
	if _, err := parsePrefixes(c.ProxyTrustedNetworks); err != nil {
		return fail("proxy_trusted_networks", "%v", err)
	}

	if math.IsNaN(c.MaxConnRate) || math.IsInf(c.MaxConnRate, 0) || c.MaxConnRate < 0 {
		return fail("max_conn_rate", "%v is not a finite number of connections per second >= 0", c.MaxConnRate)
	}
	if c.MaxConnBurst < 0 {
		return fail("max_conn_burst", "must not be negative")
	}
	if c.MaxConnBurst > 0 && c.MaxConnRate == 0 {
		return fail("max_conn_burst", "needs max_conn_rate")
	}
	if c.MaxConns < 0 {
		return fail("max_conns", "must not be negative")
	}
	return nil
}

// withDefaults returns c with zero optional fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Kind.websocket() && c.WebSocket.Path == "" {
		c.WebSocket.Path = DefaultPath
	}
	if c.ProxyHeaderTimeout == 0 {
		c.ProxyHeaderTimeout = DefaultProxyHeaderTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.CertReloadInterval == 0 {
		c.CertReloadInterval = DefaultCertReloadInterval
	}
	if c.MaxConnRate > 0 && c.MaxConnBurst == 0 {
		c.MaxConnBurst = int(math.Ceil(c.MaxConnRate))
	}
	return c
}

func validateOrigins(patterns []string) error {
	for _, p := range patterns {
		if p == "" {
			return errors.New("empty pattern")
		}
		if _, err := path.Match(strings.ToLower(p), ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

func parsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
