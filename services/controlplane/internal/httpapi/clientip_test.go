package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	a := &API{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct client", "203.0.113.5:4000", "", "203.0.113.5"},
		{"direct client lies in XFF", "203.0.113.5:4000", "1.1.1.1", "203.0.113.5"},
		{"through the proxy", "10.0.0.2:4000", "198.51.100.7", "198.51.100.7"},
		{"spoofed entry left of the real one", "10.0.0.2:4000", "1.1.1.1, 198.51.100.7", "198.51.100.7"},
		{"two trusted hops", "10.0.0.2:4000", "198.51.100.7, 10.0.0.9", "198.51.100.7"},
		{"garbled header", "10.0.0.2:4000", "not-an-ip", "10.0.0.2"},
		{"proxy without header", "10.0.0.2:4000", "", "10.0.0.2"},
		{"ipv6 client", "10.0.0.2:4000", "2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := a.clientIP(r); got != tt.want {
			t.Errorf("%s: clientIP = %q, want %q", tt.name, got, tt.want)
		}
	}
}
