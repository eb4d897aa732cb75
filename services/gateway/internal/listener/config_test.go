package listener

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tcp := Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:1883"}
	tlsCfg := Config{Name: "mqtts", Kind: KindTLS, Addr: ":8883", CertFile: "c.pem", KeyFile: "k.pem"}
	ws := Config{Name: "ws", Kind: KindWS, Addr: ":8083"}
	with := func(c Config, f func(*Config)) Config { f(&c); return c }

	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid, else the exact error
	}{
		{"tcp", tcp, ""},
		{"tls", tlsCfg, ""},
		{"ws", ws, ""},
		{"wss with mTLS", Config{Name: "wss", Kind: KindWSS, Addr: ":8084", CertFile: "c", KeyFile: "k", ClientCAFile: "ca", ClientCertOptional: true}, ""},
		{"all limits", with(tcp, func(c *Config) {
			c.MaxConnRate, c.MaxConnBurst, c.MaxConns = 500, 1000, 20000
			c.ProxyProtocol, c.ProxyProtocolOptional, c.ProxyHeaderTimeout = true, true, time.Second
			c.ProxyTrustedNetworks = []string{"10.0.0.0/8", "fd00::/8"}
		}), ""},
		{"no name", with(tcp, func(c *Config) { c.Name = "" }), "listener (unnamed): name: required"},
		{"no kind", with(tcp, func(c *Config) { c.Kind = "" }), "listener mqtt: kind: required (one of tcp, tls, ws, wss)"},
		{"bad kind", with(tcp, func(c *Config) { c.Kind = "quic" }), `listener mqtt: kind: "quic" is not one of tcp, tls, ws, wss`},
		{"no addr", with(tcp, func(c *Config) { c.Addr = "" }), "listener mqtt: addr: required"},
		{"addr without port", with(tcp, func(c *Config) { c.Addr = "localhost" }), `listener mqtt: addr: "localhost" is not host:port: address localhost: missing port in address`},
		{"addr empty port", with(tcp, func(c *Config) { c.Addr = "localhost:" }), `listener mqtt: addr: "localhost:" has no port`},
		{"tls without cert", with(tlsCfg, func(c *Config) { c.CertFile = "" }), "listener mqtts: cert_file: required for kind tls"},
		{"wss without key", Config{Name: "wss", Kind: KindWSS, Addr: ":1", CertFile: "c"}, "listener wss: key_file: required for kind wss"},
		{"bad tls version", with(tlsCfg, func(c *Config) { c.TLSMinVersion = "1.1" }), `listener mqtts: tls_min_version: "1.1" is not 1.2 or 1.3`},
		{"optional client cert without CA", with(tlsCfg, func(c *Config) { c.ClientCertOptional = true }), "listener mqtts: client_cert_optional: needs client_ca_file"},
		{"cert on tcp", with(tcp, func(c *Config) { c.CertFile = "c" }), "listener mqtt: cert_file: only valid for kinds tls and wss, not tcp"},
		{"client CA on ws", with(ws, func(c *Config) { c.ClientCAFile = "ca" }), "listener ws: client_ca_file: only valid for kinds tls and wss, not ws"},
		{"negative reload interval", with(tlsCfg, func(c *Config) { c.CertReloadInterval = -1 }), "listener mqtts: cert_reload_interval: must not be negative"},
		{"negative handshake timeout", with(tcp, func(c *Config) { c.HandshakeTimeout = -1 }), "listener mqtt: handshake_timeout: must not be negative"},
		{"relative ws path", with(ws, func(c *Config) { c.WebSocket.Path = "mqtt" }), `listener ws: websocket.path: "mqtt" must start with /`},
		{"bad origin", with(ws, func(c *Config) { c.WebSocket.AllowedOrigins = []string{"[a-"} }), `listener ws: websocket.allowed_origins: pattern "[a-": syntax error in pattern`},
		{"empty origin", with(ws, func(c *Config) { c.WebSocket.AllowedOrigins = []string{""} }), "listener ws: websocket.allowed_origins: empty pattern"},
		{"ws path on tcp", with(tcp, func(c *Config) { c.WebSocket.Path = "/mqtt" }), "listener mqtt: websocket: only valid for kinds ws and wss, not tcp"},
		{"proxy optional without proxy", with(tcp, func(c *Config) { c.ProxyProtocolOptional = true }), "listener mqtt: proxy_protocol: must be true when other proxy_* fields are set"},
		{"negative proxy timeout", with(tcp, func(c *Config) { c.ProxyProtocol, c.ProxyHeaderTimeout = true, -time.Second }), "listener mqtt: proxy_header_timeout: must not be negative"},
		{"bad trusted network", with(tcp, func(c *Config) { c.ProxyProtocol, c.ProxyTrustedNetworks = true, []string{"10.0.0.1"} }), `listener mqtt: proxy_trusted_networks: "10.0.0.1" is not a CIDR prefix such as 10.0.0.0/8`},
		{"negative rate", with(tcp, func(c *Config) { c.MaxConnRate = -1 }), "listener mqtt: max_conn_rate: -1 is not a finite number of connections per second >= 0"},
		{"NaN rate", with(tcp, func(c *Config) { c.MaxConnRate = math.NaN() }), "listener mqtt: max_conn_rate: NaN is not a finite number of connections per second >= 0"},
		{"burst without rate", with(tcp, func(c *Config) { c.MaxConnBurst = 5 }), "listener mqtt: max_conn_burst: needs max_conn_rate"},
		{"negative burst", with(tcp, func(c *Config) { c.MaxConnBurst = -5 }), "listener mqtt: max_conn_burst: must not be negative"},
		{"negative max conns", with(tcp, func(c *Config) { c.MaxConns = -1 }), "listener mqtt: max_conns: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Name: "ws", Kind: KindWS, Addr: ":8083", MaxConnRate: 2.5}.withDefaults()
	if c.WebSocket.Path != DefaultPath || c.ProxyHeaderTimeout != DefaultProxyHeaderTimeout ||
		c.HandshakeTimeout != DefaultHandshakeTimeout || c.CertReloadInterval != DefaultCertReloadInterval ||
		c.MaxConnBurst != 3 {
		t.Errorf("withDefaults() = %+v, want every default and a burst of 3", c)
	}
}

func TestListenRejectsInvalidConfig(t *testing.T) {
	_, err := Listen(Config{Name: "mqtts", Kind: KindTLS, Addr: "127.0.0.1:0"}, nil)
	if err == nil || !strings.Contains(err.Error(), "cert_file: required") {
		t.Errorf("Listen() = %v, want the Validate error", err)
	}
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Listen(Config{Name: "again", Kind: KindTCP, Addr: l.Addr().String()}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "listener again: ") {
		t.Errorf("Listen() on a bound port = %v, want an error naming the listener", err)
	}
}
