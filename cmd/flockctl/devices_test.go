package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/services/controlplane"
)

func TestDevicesCommands(t *testing.T) {
	url := startControlPlane(t)
	mustFlockctl(t, "signup", "--url", url, "--name", "Acme")

	out := mustFlockctl(t, "devices", "create", "sensor-7", "--tag", "site=berlin", "--meta", "fw=1.2")
	if !strings.Contains(out, "sensor-7") || !strings.Contains(out, "site=berlin") {
		t.Errorf("devices create:\n%s", out)
	}
	if _, err := flockctl(t, "devices", "create", "sensor-7"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate create = %v", err)
	}
	out = mustFlockctl(t, "devices", "get", "sensor-7", "-o", "json")
	var d struct {
		ID   string            `json:"id"`
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.ID != "sensor-7" || d.Tags["site"] != "berlin" {
		t.Fatalf("devices get -o json = %q, %v", out, err)
	}
	out = mustFlockctl(t, "devices", "update", "sensor-7", "--disable", "--tag", "site=paris")
	if !strings.Contains(out, "yes") || !strings.Contains(out, "site=paris") {
		t.Errorf("devices update:\n%s", out)
	}

	csvPath := filepath.Join(t.TempDir(), "fleet.csv")
	var b strings.Builder
	b.WriteString("id,tag:site,meta:serial\n")
	for i := range 30 {
		fmt.Fprintf(&b, "meter-%02d,hamburg,SN-%d\n", i, i)
	}
	b.WriteString("bad id,x,y\n")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := flockctl(t, "devices", "import", csvPath)
	if err == nil || !strings.Contains(out, "Imported 30 of 31") || !strings.Contains(out, "32") || !strings.Contains(out, "bad id") {
		t.Errorf("devices import = %v\n%s\nwant 30 of 31 and line 32 reported", err, out)
	}

	out = mustFlockctl(t, "devices", "list", "--tag", "site=hamburg", "--limit", "10", "--all", "-o", "json")
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 30 {
		t.Fatalf("devices list --all = %d items, %v", len(list.Items), err)
	}
	out = mustFlockctl(t, "devices", "list", "--limit", "5")
	if !strings.Contains(out, "More devices follow") || strings.Count(out, "\n") != 7 {
		t.Errorf("devices list --limit 5:\n%s", out)
	}
	mustFlockctl(t, "devices", "delete", "sensor-7")
	if _, err := flockctl(t, "devices", "get", "sensor-7"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("get after delete = %v, want 404", err)
	}
	for _, args := range [][]string{
		{"devices", "create"},
		{"devices", "get", "a", "b"},
		{"devices", "update", "a"},
		{"devices", "update", "a", "--disable", "--enable"},
		{"devices", "frobnicate"},
		{"devices", "list", "-o", "xml"},
		{"devices", "create", "x", "--tag", "novalue"},
	} {
		if _, err := flockctl(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("flockctl %v = %v, want a usage error", args, err)
		}
	}
}

// startControlPlaneJS is startControlPlane that also returns a JetStream
// context on the same NATS server, for writing presence as a gateway does.
func startControlPlaneJS(t *testing.T) (string, jetstream.JetStream) {
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
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, js
}

// waitFlockctl runs a command until its output contains want.
func waitFlockctl(t *testing.T, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := mustFlockctl(t, args...)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("flockctl %s never printed %q; last output:\n%s", strings.Join(args, " "), want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDevicesStatusCommand(t *testing.T) {
	url, js := startControlPlaneJS(t)
	mustFlockctl(t, "signup", "--url", url, "--name", "Acme")
	mustFlockctl(t, "devices", "create", "sensor-7")
	mustFlockctl(t, "devices", "create", "idle-1")
	var ten struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustFlockctl(t, "tenant", "-o", "json")), &ten); err != nil || ten.ID == "" {
		t.Fatalf("tenant -o json: %v", err)
	}

	if out := mustFlockctl(t, "devices", "status", "idle-1"); out != "idle-1  never connected\n" {
		t.Errorf("status of a device never seen = %q", out)
	}

	rep, err := presence.NewReporter(js, presence.Config{GatewayID: "gw-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	since := time.Now().Add(-12*time.Minute - 5*time.Second).Truncate(time.Second)
	if err := rep.Connected(ctx, presence.Status{TenantID: ten.ID, DeviceID: "sensor-7", RemoteAddr: "10.1.2.3:5411", Protocol: 5, ConnectedAt: since}); err != nil {
		t.Fatal(err)
	}
	out := waitFlockctl(t, " connected ", "devices", "status", "sensor-7")
	want := "sensor-7  connected  since " + since.UTC().Format("2006-01-02 15:04:05") + " UTC (12m ago) on gateway gw-1 from 10.1.2.3:5411, MQTT 5\n"
	if out != want {
		t.Errorf("status of a connected device:\n got %q\nwant %q", out, want)
	}
	var st apiv1.DeviceStatus
	if err := json.Unmarshal([]byte(mustFlockctl(t, "devices", "status", "sensor-7", "-o", "json")), &st); err != nil ||
		!st.Connected || len(st.Connections) != 1 || st.Connections[0].Gateway != "gw-1" {
		t.Errorf("status -o json = %+v, %v", st, err)
	}
	out = mustFlockctl(t, "devices", "list", "--status")
	if !strings.Contains(out, "STATUS") || !strings.Contains(out, "never connected") || !strings.Contains(out, "gw-1") {
		t.Errorf("devices list --status:\n%s", out)
	}

	if err := rep.Disconnected(ctx, ten.ID, "sensor-7", "", "keepalive of 60s expired", time.Time{}); err != nil {
		t.Fatal(err)
	}
	out = waitFlockctl(t, "disconnected", "devices", "status", "sensor-7")
	if !strings.HasPrefix(out, "sensor-7  disconnected  since ") || !strings.HasSuffix(out, "(last reason: keepalive of 60s expired)\n") {
		t.Errorf("status of a disconnected device = %q", out)
	}

	if _, err := flockctl(t, "devices", "status", "nobody"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("status of a missing device = %v, want 404", err)
	}
	if _, err := flockctl(t, "devices", "status"); !errors.Is(err, errUsage) {
		t.Errorf("status without an id = %v, want a usage error", err)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 15, 4, 0, time.UTC)
	for _, tc := range []struct {
		name string
		d    time.Duration
		want string
	}{
		{"future", -time.Minute, "just now"},
		{"instant", 0, "just now"},
		{"seconds", 45 * time.Second, "45s ago"},
		{"minutes", 12*time.Minute + 59*time.Second, "12m ago"},
		{"hours", 3*time.Hour + 5*time.Minute, "3h05m ago"},
		{"days", 100 * time.Hour, "4d ago"},
	} {
		if got := ago(now, now.Add(-tc.d)); got != tc.want {
			t.Errorf("%s: ago(now, now-%v) = %q, want %q", tc.name, tc.d, got, tc.want)
		}
	}
}

func TestPrintStatusSeveralConnections(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 15, 4, 0, time.UTC)
	st := apiv1.DeviceStatus{DeviceID: "sensor-7", Connected: true, Connections: []apiv1.DeviceConnection{
		{ClientID: "sensor-7", Gateway: "gw-1", RemoteAddr: "10.1.2.3:5411", Protocol: 4, ConnectedAt: now.Add(-time.Hour)},
		{ClientID: "sensor-7:aux", Gateway: "gw-2", Protocol: 5, ConnectedAt: now.Add(-12 * time.Minute)},
	}}
	var b strings.Builder
	if err := printStatus(&b, st, now); err != nil {
		t.Fatal(err)
	}
	want := "sensor-7  connected  since 2026-11-25 10:03:04 UTC (12m ago) as sensor-7:aux on gateway gw-2, MQTT 5\n" +
		"  also sensor-7 since 2026-11-25 09:15:04 UTC (1h00m ago) on gateway gw-1 from 10.1.2.3:5411, MQTT 3.1.1\n"
	if b.String() != want {
		t.Errorf("printStatus:\n got %q\nwant %q", b.String(), want)
	}
}
