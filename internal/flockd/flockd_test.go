package flockd

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/services/gateway"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseDefaults(t *testing.T) {
	c, err := parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != "all" || c.MQTTAddr != ":1883" || c.WSAddr != ":8083" || c.AnonymousTenant != "dev" {
		t.Fatalf("parse() = %+v, want role all on :1883/:8083 with anonymous tenant dev", c)
	}
}

func TestParsePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flockd.yaml")
	if err := os.WriteFile(file, []byte("mqtt_addr: \":1000\"\nws_addr: \":2000\"\nlog_level: debug\ngateway:\n  max_inflight: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse([]string{"--config", file, "--ws-addr", ":3000"},
		env(map[string]string{"FLOCKD_MQTT_ADDR": ":4000", "FLOCKD_ANONYMOUS_TENANT": "acme"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// flags over environment over file over defaults.
	if c.WSAddr != ":3000" || c.MQTTAddr != ":4000" || c.LogLevel != "debug" || c.Gateway.MaxInflight != 7 || c.AnonymousTenant != "acme" {
		t.Fatalf("parse() = %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"mqtt_adr": ":1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badNested := filepath.Join(dir, "nested.yaml")
	if err := os.WriteFile(badNested, []byte("gateway:\n  max_infligt: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"--config", bad}, `"mqtt_adr"`},
		{"unknown nested key", []string{"--config", badNested}, `"max_infligt"`},
		{"unknown role", []string{"broker"}, `unknown role "broker"`},
		{"gateway without nats", []string{"gateway", "--anonymous-tenant", "x"}, "--nats-url"},
		{"bad log format", []string{"--log-format", "xml"}, "log_format"},
		{"bad level", []string{"--log-level", "loud"}, "log_level"},
		{"no listener", []string{"--mqtt-addr", "", "--ws-addr", ""}, "no listener"},
		{"stray argument", []string{"all", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args, env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse(%v) = %v, want an error containing %s", tt.args, err, tt.want)
			}
		})
	}
}

func TestGatewayRoleHasNoAnonymousDefault(t *testing.T) {
	c, err := parse([]string{"gateway", "--nats-url", "nats://127.0.0.1:4222"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AnonymousTenant != "" {
		t.Fatalf("gateway role: anonymous tenant %q, want none", c.AnonymousTenant)
	}
}

func TestConsoleLogFormat(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(Config{LogFormat: "text", LogLevel: "info"}, &buf)
	log.With("tenant_id", "acme").Info("client sensor-7 connected", "remote_addr", "10.1.2.3:5411", "note", "two words")
	log.Debug("hidden")
	line := buf.String()
	if !strings.Contains(line, "INFO  client sensor-7 connected tenant_id=acme remote_addr=10.1.2.3:5411 note=\"two words\"\n") {
		t.Fatalf("log line %q", line)
	}
	if strings.Contains(line, "hidden") {
		t.Fatal("debug line written at info level")
	}
	var js bytes.Buffer
	newLogger(Config{LogFormat: "json", LogLevel: "info"}, &js).Info("x", "k", 1)
	if !strings.HasPrefix(js.String(), "{") {
		t.Fatalf("json log %q", js.String())
	}
}

func TestStartAllInOne(t *testing.T) {
	var out, logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inst, err := Start(ctx, []string{"--mqtt-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		Options{Stdout: &out, Stderr: &logs, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	banner := out.String()
	for _, want := range []string{"MQTT over TCP", "mosquitto_sub -h localhost -p", "ws://localhost:", "ANONYMOUS ACCESS IS ON", `tenant "dev"`, "embedded NATS with JetStream, data in ", "Control plane API    http://localhost:"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	nc, err := net.DialTimeout("tcp", inst.MQTTAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial MQTT listener: %v", err)
	}
	nc.Close()
	// The control plane answers on the HTTP listener, next to /healthz.
	for _, path := range []string{"/healthz", "/metrics", "/v1/tenant"} {
		resp, err := http.Get("http://" + inst.HTTPAddr().String() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if want := map[string]int{"/healthz": 200, "/metrics": 200, "/v1/tenant": 401}[path]; resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestStartGatewayRoleWithExternalNATSAndRedis(t *testing.T) {
	ns, err := natsembed.Start(natsembed.Config{Port: 0, DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	rs := redistest.Start(t)
	var out, logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inst, err := Start(ctx, []string{"gateway", "--nats-url", ns.ClientURL(), "--redis-addr", rs.Addr(),
		"--mqtt-addr", "127.0.0.1:0", "--ws-addr", "", "--http-addr", "", "--anonymous-tenant", "acme", "--gateway-id", "edge-1"},
		Options{Stdout: &out, Stderr: &logs, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	for _, want := range []string{"role gateway, gateway id edge-1", "external NATS at nats://", "Redis at " + rs.Addr()} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	if inst.WSAddr() != nil {
		t.Errorf("WebSocket listener running although --ws-addr is empty")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestConfigFileDurations(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("gateway:\n  connect_timeout: 300ms\n  write_timeout: 5000000000\n  listeners:\n    - name: extra\n      kind: tcp\n      addr: 127.0.0.1:0\n      proxy_protocol: true\n      proxy_header_timeout: 2s\n"), 0o600)
	c, err := parse([]string{"--config", good}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.ConnectTimeout != 300*time.Millisecond || c.Gateway.WriteTimeout != 5*time.Second ||
		c.Gateway.Listeners[0].ProxyHeaderTimeout != 2*time.Second {
		t.Errorf("durations = %v, %v, %v; want 300ms, 5s, 2s", c.Gateway.ConnectTimeout, c.Gateway.WriteTimeout, c.Gateway.Listeners[0].ProxyHeaderTimeout)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("gateway:\n  connect_timeout: 3 parsecs\n"), 0o600)
	if _, err := parse([]string{"--config", bad}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "gateway.connect_timeout") {
		t.Errorf("parse with a bad duration = %v, want an error naming gateway.connect_timeout", err)
	}
}

// TestConfigFileSweeper: the sweeper of crashed gateways' sessions is
// configured under gateway.sweeper, its durations as Go durations.
func TestConfigFileSweeper(t *testing.T) {
	f := filepath.Join(t.TempDir(), "sweeper.yaml")
	os.WriteFile(f, []byte("gateway:\n  sweeper:\n    dead_after: 45s\n    check_interval: 2s\n    lock_ttl: 1m\n    will_rate: 200\n    page_size: 50\n"), 0o600)
	c, err := parse([]string{"--config", f}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.SweeperConfig{DeadAfter: 45 * time.Second, CheckInterval: 2 * time.Second, LockTTL: time.Minute, WillRate: 200, PageSize: 50}
	if c.Gateway.Sweeper != want {
		t.Errorf("gateway.sweeper = %+v, want %+v", c.Gateway.Sweeper, want)
	}
}

// TestGatewaySectionCheckedAtStart: an invalid gateway setting fails
// flockd's start-up before anything runs, naming its key.
func TestGatewaySectionCheckedAtStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("gateway:\n  sweeper:\n    will_rate: -5\n"), 0o600)
	_, err := parse([]string{"--config", bad}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sweeper.will_rate") {
		t.Fatalf("parse = %v, want an error naming sweeper.will_rate", err)
	}
}
