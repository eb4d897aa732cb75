//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/flockmq/flockmq/internal/flockd"
	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/testutil/redistest"
)

// buildFlockd builds the flockd binary into a temporary directory.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestWillsOfKilledGateway: two flockd gateways share NATS and Redis; the
// one running as a separate process is killed with SIGKILL while clients
// with wills are connected to it. The other gateway notices its heartbeats
// stopped, disconnects its sessions and publishes every will once
// [MQTT-3.1.2-8]; a client that comes back does not get its will again.
func TestWillsOfKilledGateway(t *testing.T) {
	bin := buildFlockd(t)
	rs := redistest.Start(t)
	ns, err := natsembed.Start(natsembed.Config{Port: 0, Host: "127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	common := []string{"gateway", "--nats-url", ns.ClientURL(), "--redis-addr", rs.Addr(),
		"--anonymous-tenant", "acme", "--ws-addr", "", "--http-addr", "", "--log-level", "debug"}

	// The survivor, in this process, finds a gateway dead after 1s (and
	// three of its 5s heartbeats).
	cfgFile := filepath.Join(t.TempDir(), "flockd.yaml")
	if err := os.WriteFile(cfgFile, []byte("gateway:\n  sweeper:\n    dead_after: 1s\n    check_interval: 200ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	live, err := flockd.Start(ctx, append(common, "--gateway-id", "gw-live", "--mqtt-addr", "127.0.0.1:0", "--config", cfgFile),
		flockd.Options{Stdout: io.Discard, Stderr: logs, Getenv: func(string) string { return "" }})
	if err != nil {
		cancel()
		t.Fatalf("flockd.Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- live.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("flockd Run: %v", err)
		}
		if t.Failed() {
			t.Logf("log of gw-live:\n%s", logs.String())
		}
	})

	// The victim, a process of its own.
	port := freePort(t)
	victimLogs := &syncBuffer{}
	victim := exec.Command(bin, append(common, "--gateway-id", "gw-victim", "--mqtt-addr", fmt.Sprintf("127.0.0.1:%d", port))...)
	victim.Stdout, victim.Stderr = io.Discard, victimLogs
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = victim.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = victim.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("log of gw-victim:\n%s", victimLogs.String())
		}
	})
	victimURL := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	checkFor(t, 30*time.Second, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})

	wills := newCollector()
	sub := v3Client(t, "tcp://"+live.MQTTAddr().String(), "watcher", true, func(o *pahov3.ClientOptions) {
		o.SetDefaultPublishHandler(wills.v3)
	})
	waitToken(t, sub.Subscribe("wills/#", 1, nil))

	ids := []string{"dev-1", "dev-2", "dev-3", "dev-persistent"}
	for _, id := range ids {
		v3Client(t, victimURL, id, id != "dev-persistent", func(o *pahov3.ClientOptions) {
			o.SetWill("wills/"+id, id+" is gone", 1, false)
		})
	}
	// Let the victim's presence record the connections, then kill it.
	checkFor(t, 10*time.Second, func() error {
		if !strings.Contains(victimLogs.String(), "client dev-persistent of tenant acme connected") {
			return fmt.Errorf("dev-persistent not connected yet")
		}
		return nil
	})
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited

	got := map[string]int{}
	deadline := time.After(60 * time.Second)
	for len(got) < len(ids) {
		select {
		case m := <-wills.ch:
			got[m.topic]++
			if got[m.topic] > 1 {
				t.Fatalf("will on %s published twice", m.topic)
			}
			if !strings.HasPrefix(m.topic, "wills/dev-") || m.payload != strings.TrimPrefix(m.topic, "wills/")+" is gone" {
				t.Fatalf("unexpected message %+v", m)
			}
		case <-deadline:
			t.Fatalf("wills received after 60s: %v, want one of each of %v", got, ids)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "gateway gw-victim stopped sending heartbeats") {
			return fmt.Errorf("gw-live did not log the sweep")
		}
		return nil
	})

	// The persistent client comes back: its session resumes and no will
	// is published again.
	v3Client(t, "tcp://"+live.MQTTAddr().String(), "dev-persistent", false)
	select {
	case m := <-wills.ch:
		t.Fatalf("unexpected message after the client came back: %+v", m)
	case <-time.After(time.Second):
	}
}
