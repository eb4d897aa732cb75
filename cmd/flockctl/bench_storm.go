package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/flockmq/flockmq/internal/bench"
)

// runStorm is `flockctl bench storm`: a reconnect storm of devices with
// JWTs against flockd processes started on loopback (see bench.Storm).
func runStorm(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench storm", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: flockctl bench storm [flags]\n\n"+
			"Starts flockd (control plane and NATS) and gateway processes on 127.0.0.1, registers a tenant's devices,\n"+
			"connects them all with tokens signed by a tenant issuer key, kills the gateways with SIGKILL (or drops\n"+
			"every connection) and measures how every device reconnects at once. FlockMQ only: the peers have no JWTs.\n"+
			"Each gateway and worker process holds at most %d connections (the machine allows 20 000 open files).\n\nFlags:\n", bench.MaxConnsPerProcess)
		fs.PrintDefaults()
	}
	var cfg bench.StormConfig
	flockd := fs.String("flockd", "", "flockd binary (default: next to flockctl, then PATH)")
	fs.IntVar(&cfg.Devices, "devices", 100000, "devices")
	fs.IntVar(&cfg.Gateways, "gateways", 0, "gateway processes (default: one per 15 000 devices, at least 2)")
	fs.IntVar(&cfg.Workers, "workers", 0, "worker processes playing the devices (default: one per 15 000 devices)")
	fs.StringVar(&cfg.Kill, "kill", bench.KillAll, "the storm: all (SIGKILL every gateway and restart), one (the first gateway only) or drop (devices close their connections)")
	fs.IntVar(&cfg.Parallel, "parallel", 256, "connect phase: handshakes in flight per worker (the storm has no bound)")
	keepAlive := fs.Uint("keepalive", 60, "devices' MQTT keepalive in seconds")
	fs.DurationVar(&cfg.RetryMin, "retry-min", 200*time.Millisecond, "first retry delay after a refused attempt (doubles up to --retry-max, half of it random)")
	fs.DurationVar(&cfg.RetryMax, "retry-max", 10*time.Second, "longest retry delay")
	fs.DurationVar(&cfg.AttemptTimeout, "attempt-timeout", 10*time.Second, "bound of one dial and CONNECT/CONNACK exchange")
	fs.DurationVar(&cfg.PhaseTimeout, "phase-timeout", 5*time.Minute, "bound of each phase")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "log level of the flockd processes (their logs are in the scratch directory; see --keep)")
	fs.Float64Var(&cfg.MaxConnRate, "max-conn-rate", 0, "cap each gateway's accepted connections per second (its listener's max_conn_rate; 0: no cap)")
	fs.IntVar(&cfg.Storms, "storms", 1, "storms one after the other (each with tokens the gateways have not seen)")
	fs.IntVar(&cfg.ProfileSeconds, "profile-seconds", 0, "record a CPU profile of each gateway for this many seconds from the first storm, and of each worker over its run; implies --keep")
	keep := fs.Bool("keep", false, "keep the scratch directory (data and logs) after a successful run")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *keepAlive > 65535 {
		return fmt.Errorf("--keepalive %d: at most 65535: %w", *keepAlive, errUsage)
	}
	cfg.KeepAlive = uint16(*keepAlive)
	bin, err := findFlockd(*flockd)
	if err != nil {
		return fmt.Errorf("flockd: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Flockd = []string{bin}
	cfg.Worker = []string{self, "bench", "storm-worker"}
	cfg.Dir, err = os.MkdirTemp("", "flockmq-storm-*")
	if err != nil {
		return err
	}
	cfg.Progress = os.Stderr
	rep, err := bench.Storm(ctx, cfg)
	if err != nil {
		os.Remove(cfg.Dir) // only when empty: a failed run keeps its logs
		return err
	}
	if !*keep && cfg.ProfileSeconds <= 0 {
		os.RemoveAll(cfg.Dir)
	} else {
		fmt.Fprintf(os.Stderr, "data and logs kept in %s\n", cfg.Dir)
	}
	bench.PrintStorm(os.Stdout, rep)
	return nil
}
