package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/services/controlplane"
)

// startControlPlane runs a real control plane over an embedded NATS server
// and points flockctl's config at a fresh directory.
func startControlPlane(t *testing.T) string {
	t.Helper()
	ns := natstest.Start(t)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cp, err := controlplane.New(controlplane.Config{
		SignupRateLimit: controlplane.RateLimit{Rate: 1000, Burst: 1000},
	}, controlplane.Deps{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(envAPIURL, "")
	t.Setenv(envAPIKey, "")
	return srv.URL
}

// flockctl runs one command line and returns its standard output.
func flockctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx := context.Background()
	var err error
	switch args[0] {
	case "signup":
		err = signupCmd(ctx, args[1:], &out)
	case "login":
		err = loginCmd(ctx, args[1:], &out)
	case "devices":
		err = devicesCmd(ctx, args[1:], strings.NewReader(""), &out)
	case "credentials":
		err = credentialsCmd(ctx, args[1:], &out)
	case "tenant":
		err = tenantCmd(ctx, args[1:], &out)
	default:
		t.Fatalf("flockctl test helper: no command %q", args[0])
	}
	return out.String(), err
}

func mustFlockctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := flockctl(t, args...)
	if err != nil {
		t.Fatalf("flockctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestSignupSavesLogin(t *testing.T) {
	url := startControlPlane(t)
	out := mustFlockctl(t, "signup", "--url", url, "--name", "Acme")
	if !strings.Contains(out, "API key:  fmq_") || !strings.Contains(out, "shown only this once") {
		t.Errorf("signup output:\n%s", out)
	}
	p := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "flockmq", "config.json")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("config not saved: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", st.Mode().Perm())
	}
	var cfg cliConfig
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.URL != url || !strings.HasPrefix(cfg.APIKey, "fmq_") {
		t.Fatalf("saved config = %+v, %v", cfg, err)
	}
	// Later commands use the saved login.
	mustFlockctl(t, "devices", "create", "d1")
	out = mustFlockctl(t, "tenant")
	if !strings.Contains(out, "(Acme)") || !strings.Contains(out, "devices") || !strings.Contains(out, "100000") {
		t.Errorf("tenant:\n%s", out)
	}

	// -o json for scripts.
	out = mustFlockctl(t, "signup", "--url", url, "--name", "Beta", "--save=false", "-o", "json")
	var resp struct {
		Tenant struct{ ID string }  `json:"tenant"`
		APIKey struct{ Key string } `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.APIKey.Key == "" {
		t.Fatalf("signup -o json = %q, %v", out, err)
	}
	// --save=false left the first login in place.
	b, _ = os.ReadFile(p)
	if strings.Contains(string(b), resp.APIKey.Key) {
		t.Error("--save=false saved the key")
	}

	// login checks and saves another key; the environment overrides it.
	out = mustFlockctl(t, "login", "--url", url, "--api-key", resp.APIKey.Key)
	if !strings.Contains(out, resp.Tenant.ID) {
		t.Errorf("login output: %s", out)
	}
	if out := mustFlockctl(t, "devices", "list"); strings.Contains(out, "d1") {
		t.Errorf("after login as Beta, devices list shows Acme's device:\n%s", out)
	}
	t.Setenv(envAPIKey, cfg.APIKey)
	if out := mustFlockctl(t, "devices", "list"); !strings.Contains(out, "d1") {
		t.Errorf("with FLOCK_API_KEY of Acme, devices list:\n%s", out)
	}
}

func TestLoginAndSignupErrors(t *testing.T) {
	url := startControlPlane(t)
	for _, args := range [][]string{
		{"login"},
		{"login", "--url", url},
		{"login", "--url", url, "--api-key", "nope"},
		{"signup", "--url", url},
		{"signup", "--name", "x"},
		{"signup", "--url", url, "--name", "x", "-o", "yaml"},
	} {
		if _, err := flockctl(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("flockctl %v = %v, want a usage error", args, err)
		}
	}
	_, err := flockctl(t, "login", "--url", url, "--api-key", "fmq_0123456789abcdef_"+strings.Repeat("a", 52))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("login with an unknown key = %v, want the 401", err)
	}
	_, err = flockctl(t, "devices", "list")
	if err == nil || !strings.Contains(err.Error(), "flockctl login") {
		t.Errorf("devices list without login = %v, want a hint to log in", err)
	}
}
