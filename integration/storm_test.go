//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flockmq/flockmq/internal/bench"
	"github.com/flockmq/flockmq/internal/flockd"
)

// stormExecEnv, set to 1, makes the test binary run as one of the storm's
// child processes (flockd or a storm worker, named by its first argument)
// instead of running tests: the storm kills gateways with SIGKILL, so they
// must be processes of their own, and re-executing the test binary avoids
// building flockd and flockctl here.
const stormExecEnv = "FLOCK_STORM_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(stormExecEnv) == "1" && len(os.Args) > 1 {
		os.Exit(stormChild(os.Args[1], os.Args[2:]))
	}
	os.Exit(m.Run())
}

// stormChild runs flockd or a storm worker until SIGTERM and returns the
// exit code.
func stormChild(role string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch role {
	case "flockd":
		err = flockd.Run(ctx, args)
	case "storm-worker":
		err = bench.RunStormWorker(ctx, os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown storm role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestReconnectStormVerifiesLocally connects 3,000 devices with tokens
// signed by a tenant issuer key over two gateway processes, kills one
// gateway with SIGKILL and restarts it, and checks that every device
// connected, that every device of the killed gateway reconnected, and that
// the control plane served no request meanwhile: gateways verify tokens
// against their local copy of the tenants' keys and devices. The timings
// are logged, never asserted.
func TestReconnectStormVerifiesLocally(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, dir)
		}
	})
	const devices, gateways = 3000, 2
	cfg := bench.StormConfig{
		Flockd:   []string{exe, "flockd"},
		Worker:   []string{exe, "storm-worker"},
		Env:      []string{stormExecEnv + "=1"},
		Dir:      dir,
		Devices:  devices,
		Gateways: gateways,
		Workers:  2,
		Kill:     bench.KillOne,
		Parallel: 64,
		RetryMin: 50 * time.Millisecond,
		RetryMax: 2 * time.Second,
		// Generous: the processes run with the race detector on 2 cores.
		AttemptTimeout: 30 * time.Second,
		PhaseTimeout:   2 * time.Minute,
		Progress:       testLogWriter{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Storm stops every process it started before it returns, also on
	// failure; if this test binary dies, the kernel kills them
	// (parent-death signal).
	rep, err := bench.Storm(ctx, cfg)
	if err != nil {
		t.Fatalf("Storm: %v", err)
	}
	var out strings.Builder
	bench.PrintStorm(&out, rep)
	t.Logf("report:\n%s", out.String())

	if c := rep.Connect; c.Done != devices || c.Connected != devices || c.TimedOut {
		t.Errorf("connect phase: %d of %d devices connected (%d at the end, timed out %v), want all", c.Done, c.Expected, c.Connected, c.TimedOut)
	}
	// Devices are spread over the gateways by index: the first gateway,
	// the one killed, holds every second device.
	s := rep.Storm
	if killed := s.Expected - s.Unexpected; killed != devices/gateways {
		t.Errorf("storm: %d devices lost their connection to the killed gateway, want %d", killed, devices/gateways)
	}
	if s.Done != s.Expected || s.Connected != devices || s.TimedOut {
		t.Errorf("storm: %d of %d devices reconnected, %d of %d connected at the end (timed out %v), want all", s.Done, s.Expected, s.Connected, devices, s.TimedOut)
	}
	// A device whose token is good is never told otherwise (0x04 bad user
	// name or password, 0x05 not authorized), not even by a gateway still
	// loading its keys: that one answers 0x03 server unavailable, which
	// devices retry.
	for _, p := range []bench.StormPhase{rep.Connect, s} {
		for reason, n := range p.Refusals {
			if strings.HasPrefix(reason, "CONNACK 0x04") || strings.HasPrefix(reason, "CONNACK 0x05") {
				t.Errorf("%s: %d attempts refused with %s, want none: every token is valid", p.Name, n, reason)
			}
		}
	}
	if s.Unexpected > 0 {
		t.Logf("storm: %d connections of devices were lost besides those of the killed gateway (and came back)", s.Unexpected)
	}
	if rep.ControlPlaneRequestsConnect != 0 || rep.ControlPlaneRequestsStorm != 0 {
		t.Errorf("the control plane served %d requests while devices connected and %d during the storm, want none: verification must stay on the gateways",
			rep.ControlPlaneRequestsConnect, rep.ControlPlaneRequestsStorm)
	}
}

// testLogWriter writes each progress line to the test log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// logTails logs the end of every process log of a failed storm.
func logTails(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		if len(b) > 4096 {
			b = b[len(b)-4096:]
		}
		t.Logf("%s:\n%s", filepath.Base(l), b)
	}
}
