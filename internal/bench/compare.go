package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// Scenario is a named measurement.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, t Target, o Options) (Result, error)
}

// Scenarios lists every scenario by the name used on the command line.
var Scenarios = []Scenario{
	{"fanin", FanIn},
	{"fanout", FanOut},
	{"latency", Latency},
	{"idle", Idle},
	{"connect", Connect},
}

// ScenarioByName finds a scenario.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// CompareConfig says which brokers to start and where their binaries are.
type CompareConfig struct {
	Peers     []string // among "flockmq", "mosquitto", "nats"; flockmq first
	Flockd    string   // path to the flockd binary
	Mosquitto string   // path to mosquitto
	NATS      string   // path to nats-server
	Dir       string   // scratch directory for configs, data and logs
}

// Compare starts each broker afresh for each scenario, runs it, stops it,
// and returns the results in order (flockmq first within a scenario). Progress
// goes to progress.
func Compare(ctx context.Context, cfg CompareConfig, scenarios []Scenario, o Options, progress io.Writer) ([]Result, error) {
	starters := map[string]func(context.Context, string, string) (*Broker, error){
		"flockmq": StartFlockd, "mosquitto": StartMosquitto, "nats": StartNATS,
	}
	bins := map[string]string{"flockmq": cfg.Flockd, "mosquitto": cfg.Mosquitto, "nats": cfg.NATS}
	var results []Result
	for _, sc := range scenarios {
		for _, peer := range cfg.Peers {
			startFn, ok := starters[peer]
			if !ok {
				return results, fmt.Errorf("bench: unknown peer %q (want flockmq, mosquitto or nats)", peer)
			}
			dir, err := os.MkdirTemp(cfg.Dir, peer+"-"+sc.Name+"-*")
			if err != nil {
				return results, err
			}
			b, err := startFn(ctx, bins[peer], dir)
			if err != nil {
				return results, err
			}
			fmt.Fprintf(progress, "running %s against %s (%s, pid %d)\n", sc.Name, peer, b.Addr, b.PID)
			r, err := sc.Run(ctx, b.Target, o)
			b.Stop()
			if err != nil {
				r.Note = "failed: " + strings.TrimPrefix(err.Error(), "bench: ")
				fmt.Fprintf(progress, "  %s\n", r.Note)
			} else {
				os.RemoveAll(dir)
			}
			results = append(results, r)
		}
	}
	return results, nil
}
