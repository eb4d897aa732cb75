package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flockmq/flockmq/internal/bench"
	"github.com/flockmq/flockmq/pkg/mqtt"
)

func init() {
	register(command{
		name:    "bench",
		summary: "measure FlockMQ against Mosquitto and the NATS server's MQTT listener; \"bench storm\": a JWT reconnect storm",
		run:     runBench,
	})
}

func runBench(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "storm":
			return runStorm(ctx, args[1:])
		case "storm-worker":
			return bench.RunStormWorker(ctx, os.Stdin, os.Stdout)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	target := fs.String("target", "", "measure one running broker at this loopback host:port instead of starting the peers")
	pid := fs.Int("pid", 0, "with --target: the broker's process id (needed by the idle scenario)")
	peers := fs.String("peers", "flockmq,mosquitto,nats", "brokers to start and compare, FlockMQ first")
	scenarios := fs.String("scenarios", "fanin,fanout,latency,idle,connect", "scenarios to run: fanin, fanout, latency, idle, connect")
	flockd := fs.String("flockd", "", "flockd binary (default: next to flockctl, then PATH)")
	var o bench.Options
	qos := fs.Int("qos", 0, "QoS for fanin, fanout and latency (0, 1 or 2)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "publishing time per scenario")
	fs.IntVar(&o.PayloadSize, "payload", 64, "payload bytes")
	fs.IntVar(&o.Publishers, "publishers", 8, "fan-in publishers")
	fs.IntVar(&o.Subscribers, "subscribers", 100, "fan-out subscribers")
	fs.IntVar(&o.Rate, "rate", 5000, "latency scenario messages per second")
	fs.IntVar(&o.Conns, "conns", 5000, "idle and connect scenario connections")
	fs.IntVar(&o.Parallel, "parallel", 64, "connect scenario dials in parallel")
	fs.IntVar(&o.Window, "window", 256, "QoS 1/2 messages in flight per publisher")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *qos < 0 || *qos > 2 {
		return fmt.Errorf("--qos %d: want 0, 1 or 2: %w", *qos, errUsage)
	}
	o.QoS = mqtt.QoS(*qos)
	var scs []bench.Scenario
	for name := range strings.SplitSeq(*scenarios, ",") {
		sc, ok := bench.ScenarioByName(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("--scenarios: unknown scenario %q: %w", name, errUsage)
		}
		scs = append(scs, sc)
	}
	var results []bench.Result
	if *target != "" {
		for _, sc := range scs {
			r, err := sc.Run(ctx, bench.Target{Name: *target, Addr: *target, PID: *pid}, o)
			if err != nil {
				return fmt.Errorf("%s: %w", sc.Name, err)
			}
			results = append(results, r)
		}
	} else {
		cfg := bench.CompareConfig{Peers: strings.Split(*peers, ",")}
		for _, p := range cfg.Peers {
			var err error
			switch p {
			case "flockmq":
				cfg.Flockd, err = findFlockd(*flockd)
			case "mosquitto":
				cfg.Mosquitto, err = bench.FindBinary("mosquitto")
			case "nats":
				cfg.NATS, err = bench.FindBinary("nats-server")
			}
			if err != nil {
				return fmt.Errorf("peer %s: %w (scripts/bench.sh installs the peers)", p, err)
			}
		}
		dir, err := os.MkdirTemp("", "flockmq-bench-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
		results, err = bench.Compare(ctx, cfg, scs, o, os.Stderr)
		if err != nil {
			return err
		}
	}
	bench.PrintTable(os.Stdout, results)
	return nil
}

func findFlockd(flagValue string) (string, error) {
	if flagValue != "" {
		// The broker runs in its own scratch directory: resolve relative paths now.
		return filepath.Abs(flagValue)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "flockd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return bench.FindBinary("flockd")
}
