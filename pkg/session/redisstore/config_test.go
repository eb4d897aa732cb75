package redisstore

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; empty means valid
	}{
		{"single", Config{Addrs: []string{"localhost:6379"}, DB: 3}, ""},
		{"sentinel", Config{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 1}, ""},
		{"cluster seeds", Config{Addrs: []string{"n1:6379", "n2:6379"}}, ""},
		{"cluster endpoint", Config{Addrs: []string{"cfg.example:6379"}, Cluster: true, TLS: true}, ""},
		{"ipv6", Config{Addrs: []string{"[::1]:6379"}}, ""},
		{"no addrs", Config{}, "addrs: at least one"},
		{"no port", Config{Addrs: []string{"localhost"}}, `addrs[0]: "localhost" is not host:port`},
		{"empty host", Config{Addrs: []string{"a:1", ":6379"}}, `addrs[1]`},
		{"negative db", Config{Addrs: []string{"a:1"}, DB: -1}, "db: -1 is negative"},
		{"cluster db", Config{Addrs: []string{"a:1", "b:1"}, DB: 2}, "db: Redis Cluster has only database 0"},
		{"cluster and sentinel", Config{Addrs: []string{"a:1"}, Cluster: true, MasterName: "m"}, "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			case err != nil && !strings.HasPrefix(err.Error(), "redisstore: config: "):
				t.Fatalf("Validate() = %v, want the redisstore: config: prefix", err)
			}
		})
	}
}

func TestConfigLogValueHidesPassword(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("redis", "config", Config{Addrs: []string{"a:1"}, Username: "u", Password: "hunter2"})
	if out := buf.String(); strings.Contains(out, "hunter2") || !strings.Contains(out, "config.password=REDACTED") || !strings.Contains(out, "config.username=u") {
		t.Fatalf("log line = %q, want the password redacted and the rest kept", out)
	}
}
