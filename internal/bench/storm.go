package bench

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// Storm kill modes (StormConfig.Kill).
const (
	KillAll  = "all"  // SIGKILL every gateway, then restart them
	KillOne  = "one"  // SIGKILL the first gateway, then restart it
	KillDrop = "drop" // no kill: every device closes its connection at once
)

// MaxConnsPerProcess bounds the connections the storm puts on one gateway
// or one worker process, below the machine's 20 000 file descriptors.
const MaxConnsPerProcess = 18000

// StormConfig configures Storm. Zero fields mean the default in their
// comment.
type StormConfig struct {
	// Flockd runs flockd: the binary, then any leading arguments (a test
	// binary re-executing itself passes a marker argument). Required.
	Flockd []string
	// Worker runs a storm worker (`flockctl bench storm-worker`), which
	// calls RunStormWorker. Required.
	Worker []string
	// Env is added to the environment of every child process.
	Env []string
	// Dir holds the processes' data and logs. Required.
	Dir string

	Devices  int    // devices; 100 000
	Gateways int    // gateway processes; one per 15 000 devices, at least 2
	Workers  int    // worker processes; one per 15 000 devices, at least 1
	Kill     string // KillAll (default), KillOne or KillDrop
	// Parallel bounds each worker's handshakes in flight in the connect
	// phase (the storm has no bound); 256.
	Parallel int
	// KeepAlive is the devices' MQTT keepalive in seconds; 60.
	KeepAlive uint16
	// RetryMin and RetryMax bound a device's jittered exponential backoff
	// after a refused or failed attempt; 200ms and 10s.
	RetryMin, RetryMax time.Duration
	// AttemptTimeout bounds one dial and CONNECT/CONNACK exchange; 10s.
	AttemptTimeout time.Duration
	// PhaseTimeout bounds each phase; 5m.
	PhaseTimeout time.Duration
	// LogLevel is the flockd processes' log level; warn.
	LogLevel string
	// MaxConnRate, when positive, caps each gateway's accepted connections
	// per second (its listener's max_conn_rate); 0 leaves them unlimited.
	MaxConnRate float64
	// Storms is how many storms follow the connect phase, one after the
	// other; 1. Every phase presents tokens the gateways have not seen.
	Storms int
	// ProfileSeconds, when positive, has the gateways serve /debug/pprof
	// and records a CPU profile of each for that many seconds from the
	// start of the first storm (gateway-<n>.pprof in Dir), and one of each
	// worker over its whole run (worker-<n>.pprof).
	ProfileSeconds int
	// Progress receives a line per step and per few seconds; nil discards.
	Progress io.Writer
}

func (c StormConfig) withDefaults() StormConfig {
	if c.Devices <= 0 {
		c.Devices = 100000
	}
	per := (c.Devices + 14999) / 15000
	if c.Gateways <= 0 {
		c.Gateways = max(2, per)
	}
	if c.Workers <= 0 {
		c.Workers = per
	}
	if c.Kill == "" {
		c.Kill = KillAll
	}
	if c.Parallel <= 0 {
		c.Parallel = 256
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 200 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 10 * time.Second
	}
	if c.PhaseTimeout <= 0 {
		c.PhaseTimeout = 5 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Storms <= 0 {
		c.Storms = 1
	}
	return c
}

func (c StormConfig) validate() error {
	switch {
	case len(c.Flockd) == 0 || len(c.Worker) == 0 || c.Dir == "":
		return errors.New("bench: storm: the flockd and worker commands and a directory are required")
	case c.Kill != KillAll && c.Kill != KillOne && c.Kill != KillDrop:
		return fmt.Errorf("bench: storm: kill %q: want all, one or drop", c.Kill)
	case (c.Devices+c.Gateways-1)/c.Gateways > MaxConnsPerProcess:
		return fmt.Errorf("bench: storm: %d devices on %d gateways is over %d connections per gateway", c.Devices, c.Gateways, MaxConnsPerProcess)
	case (c.Devices+c.Workers-1)/c.Workers > MaxConnsPerProcess:
		return fmt.Errorf("bench: storm: %d devices in %d workers is over %d connections per worker", c.Devices, c.Workers, MaxConnsPerProcess)
	case c.RetryMin > c.RetryMax:
		return errors.New("bench: storm: the minimum retry delay is above the maximum")
	}
	// Each connection is a file on both sides; leave room for the rest.
	per := max((c.Devices+c.Gateways-1)/c.Gateways, (c.Devices+c.Workers-1)/c.Workers)
	if limit, err := fdLimit(); err == nil && uint64(per)+200 > limit {
		return fmt.Errorf("bench: storm: %d connections per process need more than this machine's %d open files per process: raise it (ulimit -Hn) or add gateways and workers", per, limit)
	}
	return nil
}

// StormPhase is what every device saw in one phase, all workers together.
type StormPhase struct {
	Name        string
	Expected    int              // devices that had to (re)connect
	Done        int              // of them, (re)connected
	Connected   int              // devices connected at the end
	Unexpected  int              // connections lost that nobody took away
	Lost        map[string]int64 // those losses by how and when they ended
	LostDevices []string         // a few of those devices, to look up in logs
	Elapsed     time.Duration    // phase start (command or kill) to the last CONNACK
	Rate        float64          // Done per second of Elapsed
	Attempts    int64
	Refusals    map[string]int64 // failed attempts by reason
	P50, P99    time.Duration    // CONNACK latency: dial start to CONNACK, successful attempts
	Max         time.Duration
	TimedOut    bool
	// Connacks counts the successful attempts (CONNACK 0x00).
	Connacks int
	// GatewayCPU is the CPU time the gateway processes used during the
	// phase (from /proc/<pid>/stat, 10 ms resolution; a gateway restarted
	// in the phase counts from its start); WorkerCPU that of the worker
	// processes. Divided by Connacks, they are each side's cost of a
	// CONNECT, which does not depend on what else shares the machine.
	GatewayCPU, WorkerCPU time.Duration
	// Resigned counts tokens the workers signed during the phase for
	// attempts after failed ones, so that no attempt presents a token a
	// gateway may have verified and cached already.
	Resigned int64
	// ListenDrops counts the connection attempts the kernel dropped during
	// the phase because a listening socket's accept queue was full
	// (TcpExt ListenDrops, for the whole network namespace, so other
	// processes' drops count too); -1 when unknown. Each costs its client
	// a SYN retransmission after 1 s, then 3 s.
	ListenDrops int64
}

// GatewayCPUPerConnect is the gateways' CPU time per successful CONNECT;
// 0 when unknown.
func (p StormPhase) GatewayCPUPerConnect() time.Duration {
	if p.Connacks == 0 {
		return 0
	}
	return p.GatewayCPU / time.Duration(p.Connacks)
}

// WorkerCPUPerConnect is the workers' CPU time per successful CONNECT.
func (p StormPhase) WorkerCPUPerConnect() time.Duration {
	if p.Connacks == 0 {
		return 0
	}
	return p.WorkerCPU / time.Duration(p.Connacks)
}

// StormReport is the result of Storm.
type StormReport struct {
	Devices, Gateways, Workers int
	Kill                       string
	MaxConnRate                float64
	SetupDevices               time.Duration // registering the devices through the API
	SignRate                   float64       // tokens signed per second, per worker process
	Connect, Storm             StormPhase
	// Storms holds every storm when there were several; Storm is the
	// first.
	Storms []StormPhase
	// Profiles lists the CPU profiles written (ProfileSeconds).
	Profiles []string
	// Killed is how long the killed gateways took to exit after SIGKILL
	// (the kernel closing their connections); Restart is how long until
	// they listened again, from the kill.
	Killed, Restart time.Duration
	// ControlPlaneRequests counts the control plane's API requests during
	// the connect phase and during the storm (its HTTP server metrics).
	ControlPlaneRequestsConnect, ControlPlaneRequestsStorm int64
	// RSS of the gateways (sum and largest) after each phase, and of the
	// process holding the control plane and NATS.
	GatewayRSSConnect, GatewayRSSStorm       int64
	MaxGatewayRSSConnect, MaxGatewayRSSStorm int64
	ControlPlaneRSS                          int64
}

// stormRun is the state of one Storm. Only Storm's goroutine uses it; the
// goroutines reading the workers' output only send on events.
type stormRun struct {
	cfg      StormConfig
	cp       *proc
	cpHTTP   string
	adminKey string // the operator key of the control plane's admin API
	gateways []*proc
	gwAddrs  []string
	workers  []*stormWorkerProc
	events   chan stormEvent
	procs    []*proc      // every process started, for cleanup
	early    []stormEvent // events received before waitAll asked for their kind
	pprof    []string     // the gateways' HTTP addresses serving /debug/pprof; nil unless profiling
}

// stormWorkerProc is a worker process and its command pipe.
type stormWorkerProc struct {
	*proc
	in  io.WriteCloser
	enc *json.Encoder
}

// Storm measures a reconnect storm of JWT-authenticated devices against
// FlockMQ: one flockd with the control plane and NATS, cfg.Gateways gateway
// processes sharing that NATS, and cfg.Workers worker processes playing the
// devices. It signs a tenant up, raises its quotas, registers an Ed25519
// tenant issuer key and the devices, then connects every device (the
// connect phase), and then kills the gateways with SIGKILL and restarts
// them, or drops every connection, so that every device reconnects at once
// (the storm). It counts the control plane's API requests in both phases:
// token verification is local to the gateways, so there should be none.
// Every process it starts is stopped before it returns.
func Storm(ctx context.Context, cfg StormConfig) (StormReport, error) {
	cfg = cfg.withDefaults()
	rep := StormReport{Devices: cfg.Devices, Gateways: cfg.Gateways, Workers: cfg.Workers, Kill: cfg.Kill, MaxConnRate: cfg.MaxConnRate}
	if err := cfg.validate(); err != nil {
		return rep, err
	}
	r := &stormRun{cfg: cfg, events: make(chan stormEvent, 1024)}
	defer r.cleanup()
	if err := r.run(ctx, &rep); err != nil {
		return rep, fmt.Errorf("%w (logs in %s)", err, cfg.Dir)
	}
	return rep, nil
}

func (r *stormRun) progress(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// cleanup stops every process: workers first, then gateways, then the
// control plane.
func (r *stormRun) cleanup() {
	var workers, gateways []*proc
	for _, w := range r.workers {
		w.in.Close()
		workers = append(workers, w.proc)
	}
	for _, p := range r.procs {
		if p != r.cp && !slices.Contains(workers, p) {
			gateways = append(gateways, p)
		}
	}
	stopAll := func(ps []*proc) {
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(p.stop)
		}
		wg.Wait()
	}
	stopAll(workers)
	stopAll(gateways)
	if r.cp != nil {
		r.cp.stop()
	}
}

// flockd describes a flockd process named name, with args after the
// configured command.
func (r *stormRun) flockd(name string, args ...string) *proc {
	return &proc{name: name, argv: append(slices.Clone(r.cfg.Flockd), args...), env: r.cfg.Env, dir: r.cfg.Dir}
}

func (r *stormRun) run(ctx context.Context, rep *StormReport) error {
	if err := r.startServers(ctx); err != nil {
		return err
	}
	seed, kid, err := r.setupTenant(ctx, rep)
	if err != nil {
		return err
	}
	if err := r.startWorkers(ctx, seed, kid); err != nil {
		return err
	}
	// Workers sign their devices' tokens before they report ready.
	ready, err := r.waitAll(ctx, "ready", r.cfg.PhaseTimeout)
	if err != nil {
		return err
	}
	var signed int
	var signTime time.Duration
	for _, e := range ready {
		signed += e.Signed
		signTime += time.Duration(e.SignNanos)
	}
	if signTime > 0 {
		rep.SignRate = float64(signed) / signTime.Seconds()
	}
	r.progress("%d tokens signed with EdDSA (%.0f per second per worker)", signed, rep.SignRate)
	if err := r.connectPhase(ctx, rep); err != nil {
		return err
	}
	profiles := r.startProfiles(ctx)
	for i := range r.cfg.Storms {
		p, err := r.stormPhase(ctx, rep)
		if err != nil {
			return err
		}
		if r.cfg.Storms > 1 {
			p.Name = fmt.Sprintf("storm %d", i+1)
		}
		if i == 0 {
			rep.Storm = p
		}
		rep.Storms = append(rep.Storms, p)
	}
	rep.Profiles = append(rep.Profiles, profiles()...)
	r.broadcast(stormCommand{Cmd: "stop"})
	for w, wp := range r.workers {
		select {
		case <-wp.done:
		case <-time.After(15 * time.Second):
		}
		if r.cfg.ProfileSeconds > 0 {
			rep.Profiles = append(rep.Profiles, filepath.Join(r.cfg.Dir, fmt.Sprintf("worker-%d.pprof", w)))
		}
	}
	return nil
}

// startProfiles starts recording a CPU profile of every gateway, when
// profiling, and returns a function that waits for them and returns the
// files written.
func (r *stormRun) startProfiles(ctx context.Context) func() []string {
	if r.cfg.ProfileSeconds <= 0 {
		return func() []string { return nil }
	}
	files := make([]string, len(r.pprof))
	errs := make([]error, len(r.pprof))
	var wg sync.WaitGroup
	for g, addr := range r.pprof {
		files[g] = filepath.Join(r.cfg.Dir, fmt.Sprintf("gateway-%d.pprof", g))
		wg.Go(func() { errs[g] = fetchProfile(ctx, addr, r.cfg.ProfileSeconds, files[g]) })
	}
	r.progress("recording a %ds CPU profile of each gateway", r.cfg.ProfileSeconds)
	return func() []string {
		wg.Wait()
		var ok []string
		for g, err := range errs {
			if err != nil {
				r.progress("gateway %d's CPU profile failed: %v", g, err)
				continue
			}
			ok = append(ok, files[g])
		}
		return ok
	}
}

// fetchProfile saves a CPU profile of seconds from the pprof endpoint at
// addr to file.
func fetchProfile(ctx context.Context, addr string, seconds int, file string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: storm: CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: storm: CPU profile from %s: %s", addr, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("bench: storm: CPU profile from %s: %w", addr, err)
	}
	return f.Close()
}

// listenTimeout bounds the wait for a gateway to listen: flockd waits up to
// 20 seconds for its key cache first, on a machine the storm keeps busy.
const listenTimeout = 90 * time.Second

// startServers starts the control plane with NATS, then the gateways.
func (r *stormRun) startServers(ctx context.Context) error {
	cfg := r.cfg
	ports := make([]int, 3+2*cfg.Gateways)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	lo := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	r.adminKey = "storm-admin-" + rand.Text()
	r.cpHTTP = lo(ports[1])
	natsURL := "nats://" + lo(ports[2])

	r.cp = r.flockd("controlplane", "all", "--mqtt-addr", lo(ports[0]), "--ws-addr", "", "--http-addr", r.cpHTTP,
		"--nats-addr", lo(ports[2]), "--admin-key", r.adminKey, "--anonymous-tenant", "",
		"--data-dir", filepath.Join(cfg.Dir, "data"), "--gateway-id", "storm-cp", "--log-level", cfg.LogLevel)
	if err := r.startProc(r.cp); err != nil {
		return err
	}
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	r.progress("control plane and NATS up (pid %d, API http://%s, NATS %s)", r.cp.pid(), r.cpHTTP, natsURL)
	for g := range cfg.Gateways {
		addr := lo(ports[3+g])
		httpAddr := ""
		if cfg.ProfileSeconds > 0 {
			httpAddr = lo(ports[3+cfg.Gateways+g])
			r.pprof = append(r.pprof, httpAddr)
		}
		args := []string{"gateway", "--nats-url", natsURL, "--mqtt-addr", addr, "--ws-addr", "",
			"--http-addr", httpAddr, "--gateway-id", fmt.Sprintf("storm-gw-%d", g), "--log-level", cfg.LogLevel}
		if httpAddr != "" {
			args = append(args, "--pprof")
		}
		if cfg.MaxConnRate > 0 {
			// The listener comes from a configuration file instead of
			// --mqtt-addr, to carry the rate.
			file, err := r.gatewayConfig(g, addr)
			if err != nil {
				return err
			}
			args = append(args, "--config", file)
			args[4] = ""
		}
		p := r.flockd(fmt.Sprintf("gateway-%d", g), args...)
		if err := r.startProc(p); err != nil {
			return err
		}
		r.gateways = append(r.gateways, p)
		r.gwAddrs = append(r.gwAddrs, addr)
	}
	for g, p := range r.gateways {
		if err := waitListening(ctx, p, r.gwAddrs[g], listenTimeout); err != nil {
			return err
		}
	}
	r.progress("%d gateways up on %s", cfg.Gateways, strings.Join(r.gwAddrs, ", "))
	return nil
}

// connectPhase connects every device.
func (r *stormRun) connectPhase(ctx context.Context, rep *StormReport) error {
	before, err := r.controlPlaneRequests(ctx)
	if err != nil {
		return err
	}
	cpu, drops := r.gatewayCPU(nil), listenDropsSince(-1)
	start := time.Now()
	r.broadcast(stormCommand{Cmd: "connect"})
	phases, err := r.waitAll(ctx, "done", r.cfg.PhaseTimeout+30*time.Second)
	if err != nil {
		return err
	}
	rep.Connect = mergePhases("connect", start, phases)
	rep.Connect.GatewayCPU, rep.Connect.ListenDrops = r.gatewayCPU(cpu).sum, listenDropsSince(drops)
	after, err := r.controlPlaneRequests(ctx)
	if err != nil {
		return err
	}
	rep.ControlPlaneRequestsConnect = after - before
	rep.GatewayRSSConnect, rep.MaxGatewayRSSConnect = r.gatewayRSS()
	r.progress("connect phase: %d of %d devices connected in %s (%.0f/s); gateway CPU %s per CONNECT", rep.Connect.Done, rep.Connect.Expected,
		rep.Connect.Elapsed.Round(time.Millisecond), rep.Connect.Rate, us(rep.Connect.GatewayCPUPerConnect()))
	if rep.Connect.TimedOut {
		return fmt.Errorf("bench: storm: only %d of %d devices connected within %s", rep.Connect.Done, rep.Connect.Expected, r.cfg.PhaseTimeout)
	}
	return nil
}

// stormPhase kills and restarts the gateways (or has every device drop its
// connection) and waits until every device is back.
func (r *stormRun) stormPhase(ctx context.Context, rep *StormReport) (StormPhase, error) {
	before, err := r.controlPlaneRequests(ctx)
	if err != nil {
		return StormPhase{}, err
	}
	var victims []int
	switch r.cfg.Kill {
	case KillAll:
		for g := range r.gateways {
			victims = append(victims, g)
		}
	case KillOne:
		victims = []int{0}
	}
	cpu, drops := r.gatewayCPU(nil), listenDropsSince(-1)
	start := time.Now() // the drop starts with the command; a kill resets it
	r.broadcast(stormCommand{Cmd: "storm", Expect: victims, Drop: r.cfg.Kill == KillDrop})
	if _, err := r.waitAll(ctx, "armed", 30*time.Second); err != nil {
		return StormPhase{}, err
	}
	if len(victims) > 0 {
		start = time.Now()
		var wg sync.WaitGroup
		for _, g := range victims {
			wg.Go(r.gateways[g].kill)
		}
		wg.Wait()
		rep.Killed = time.Since(start)
		r.progress("killed %d gateway(s) with SIGKILL in %s; restarting", len(victims), rep.Killed.Round(time.Millisecond))
		restarted := make(chan error, len(victims))
		for _, g := range victims {
			old := r.gateways[g]
			p := &proc{name: old.name, argv: old.argv, env: old.env, dir: old.dir}
			if err := r.startProc(p); err != nil {
				return StormPhase{}, err
			}
			r.gateways[g] = p
			go func() { restarted <- waitListening(ctx, p, r.gwAddrs[g], listenTimeout) }()
		}
		for range victims {
			if err := <-restarted; err != nil {
				return StormPhase{}, err
			}
		}
		rep.Restart = time.Since(start)
		r.progress("restarted gateways listen again %s after the kill", rep.Restart.Round(time.Millisecond))
	}
	phases, err := r.waitAll(ctx, "done", r.cfg.PhaseTimeout+30*time.Second)
	if err != nil {
		return StormPhase{}, err
	}
	ph := mergePhases("storm", start, phases)
	ph.GatewayCPU, ph.ListenDrops = r.gatewayCPU(cpu).sum, listenDropsSince(drops)
	after, err := r.controlPlaneRequests(ctx)
	if err != nil {
		return StormPhase{}, err
	}
	rep.ControlPlaneRequestsStorm += after - before
	rep.GatewayRSSStorm, rep.MaxGatewayRSSStorm = r.gatewayRSS()
	rep.ControlPlaneRSS, _ = rss(r.cp.pid())
	r.progress("storm: %d of %d devices reconnected in %s (%.0f/s); gateway CPU %s per CONNECT", ph.Done, ph.Expected,
		ph.Elapsed.Round(time.Millisecond), ph.Rate, us(ph.GatewayCPUPerConnect()))
	return ph, nil
}

// listenDropsSince returns the kernel's listen drops so far when before is
// negative, else those since before; -1 when unknown.
func listenDropsSince(before int64) int64 {
	n, err := listenDrops()
	if err != nil {
		return -1
	}
	if before < 0 {
		return n
	}
	return n - before
}

// cpuSample is the CPU time of each gateway process at one moment.
type cpuSample struct {
	pids []int
	cpu  []time.Duration
	sum  time.Duration // since the previous sample, when there was one
}

// gatewayCPU samples the gateways' CPU time; with a previous sample, sum
// is the time used since (all of it for a process started since).
func (r *stormRun) gatewayCPU(prev *cpuSample) *cpuSample {
	s := &cpuSample{pids: make([]int, len(r.gateways)), cpu: make([]time.Duration, len(r.gateways))}
	for g, p := range r.gateways {
		pid := p.pid()
		t, err := procCPU(pid)
		if err != nil {
			continue // an exited process: it counts nothing
		}
		s.pids[g], s.cpu[g] = pid, t
		if prev == nil {
			continue
		}
		if g < len(prev.pids) && prev.pids[g] == pid {
			t -= prev.cpu[g]
		}
		s.sum += t
	}
	return s
}

// gatewayConfig writes gateway g's configuration file: its MQTT listener
// with the connection rate cap.
func (r *stormRun) gatewayConfig(g int, addr string) (string, error) {
	doc := map[string]any{"gateway": map[string]any{"listeners": []map[string]any{{
		"name": "mqtt", "kind": "tcp", "addr": addr, "max_conn_rate": r.cfg.MaxConnRate,
	}}}}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	file := filepath.Join(r.cfg.Dir, fmt.Sprintf("gateway-%d.json", g))
	return file, os.WriteFile(file, b, 0o644)
}

// startProc starts p and remembers it for cleanup.
func (r *stormRun) startProc(p *proc) error {
	if err := p.start(nil, nil); err != nil {
		return err
	}
	r.procs = append(r.procs, p)
	return nil
}

// waitReady polls the control plane's readiness endpoint.
func (r *stormRun) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.cpHTTP+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if r.cp.exited() {
			return fmt.Errorf("bench: storm: flockd (control plane) exited at start; see %s.log", r.cp.name)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: storm: the control plane at %s was not ready within 60s", r.cpHTTP)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListening polls until addr accepts TCP connections.
func waitListening(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() {
			return fmt.Errorf("bench: storm: %s exited at start; see %s.log", p.name, p.name)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: storm: %s did not listen on %s within %s", p.name, addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setupTenant signs a tenant up, lifts its connection quota, registers an
// Ed25519 issuer key and the devices, and waits until every gateway accepts
// the last device's token (its key cache has caught up). It returns the
// key's seed and id.
func (r *stormRun) setupTenant(ctx context.Context, rep *StormReport) ([]byte, string, error) {
	cfg := r.cfg
	api := "http://" + r.cpHTTP
	su, err := apiv1.Created(apiv1.New(api, "", nil).SignupWithResponse(ctx, apiv1.SignupRequest{Name: "storm"}))
	if err != nil {
		return nil, "", fmt.Errorf("bench: storm: sign up: %w", err)
	}
	tid := su.Tenant.ID
	tc := apiv1.New(api, su.APIKey.Key, nil)
	// The connection quota leaves room for the counts a killed gateway
	// reported before it died, which other gateways keep for a few seconds.
	admin := apiv1.New(api, r.adminKey, nil)
	if _, err := apiv1.OK(admin.AdminPutTenantQuotasWithResponse(ctx, tid, apiv1.QuotasInput{MaxConnections: int64(2 * cfg.Devices), MaxDevices: int64(cfg.Devices)})); err != nil {
		return nil, "", fmt.Errorf("bench: storm: raise the quotas of tenant %s: %w", tid, err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	pem, err := jwtauth.MarshalPublicKeyPEM(pub)
	if err != nil {
		return nil, "", err
	}
	list, err := apiv1.Created(tc.AddIssuerKeysWithResponse(ctx, apiv1.AddIssuerKeysRequest{PublicKeyPEM: pem}))
	keys := list.Items
	if err != nil || len(keys) != 1 {
		return nil, "", fmt.Errorf("bench: storm: register the issuer key: %v (%d keys)", err, len(keys))
	}
	kid := keys[0].ID
	r.progress("tenant %s signed up; issuer key %s (%s)", tid, kid, keys[0].Algorithm)

	start := time.Now()
	const chunk = 10000
	for first := 0; first < cfg.Devices; first += chunk {
		n := min(chunk, cfg.Devices-first)
		reqs := make([]apiv1.CreateDeviceRequest, n)
		for k := range reqs {
			reqs[k].ID = DeviceID(stormPrefix, first+k)
		}
		res, err := apiv1.Created(tc.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: reqs}))
		if err != nil {
			return nil, "", fmt.Errorf("bench: storm: register devices %d to %d: %w", first, first+n-1, err)
		}
		if res.Created != n {
			return nil, "", fmt.Errorf("bench: storm: registered %d of devices %d to %d (%d failed)", res.Created, first, first+n-1, res.Failed)
		}
	}
	rep.SetupDevices = time.Since(start)
	r.progress("%d devices registered in %s", cfg.Devices, rep.SetupDevices.Round(time.Millisecond))

	// Every gateway must know the last device before the clock starts.
	last := DeviceID(stormPrefix, cfg.Devices-1)
	now := time.Now()
	tok, err := jwtauth.Sign(tenant.EdDSA, priv, kid, jwtauth.Claims{Subject: last, Audience: []string{stormAudience}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		return nil, "", err
	}
	for g, addr := range r.gwAddrs {
		if err := probe(ctx, addr, last, tok, 2*time.Minute); err != nil {
			return nil, "", fmt.Errorf("bench: storm: gateway %d: %w", g, err)
		}
	}
	r.progress("every gateway's key cache holds the tenant's devices")
	return priv.Seed(), kid, nil
}

const (
	stormPrefix   = "storm-"
	stormAudience = "flockmq"
)

// probe connects as device id until the gateway accepts it, then
// disconnects.
func probe(ctx context.Context, addr, id, token string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	connect, err := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, ClientID: id,
		Username: id, UsernameSet: true, Password: []byte(token), PasswordSet: true}, mqtt.V311)
	if err != nil {
		return err
	}
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		last = func() error {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return err
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write(connect); err != nil {
				return err
			}
			rd := mqtt.NewReader(nc, 64)
			rd.SetVersion(mqtt.V311)
			p, err := rd.ReadPacket()
			if err != nil {
				return err
			}
			if ack, ok := p.(*mqtt.Connack); !ok || ack.ReasonCode.IsFailure() {
				return fmt.Errorf("device %s refused: %v", id, p)
			}
			nc.Write(disconnectPacket)
			return nil
		}()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the key cache did not accept device %s within %s: %v", id, timeout, last)
}

// startWorkers starts the worker processes and sends each its job.
func (r *stormRun) startWorkers(ctx context.Context, seed []byte, kid string) error {
	cfg := r.cfg
	per := (cfg.Devices + cfg.Workers - 1) / cfg.Workers
	for w := range cfg.Workers {
		first := w * per
		n := min(per, cfg.Devices-first)
		if n <= 0 {
			break
		}
		// A device's goroutine grows its stack to dial and the collector
		// shrinks it while the connection is held, so every reconnect grew
		// it again (an eighth of a worker's CPU); keep the stacks grown.
		env := append([]string{"GODEBUG=gcshrinkstackoff=1"}, r.cfg.Env...)
		p := &proc{name: fmt.Sprintf("worker-%d", w), argv: r.cfg.Worker, env: env, dir: r.cfg.Dir}
		stdinR, stdinW, err := os.Pipe()
		if err != nil {
			return err
		}
		stdoutR, stdoutW, err := os.Pipe()
		if err != nil {
			stdinR.Close()
			stdinW.Close()
			return err
		}
		err = p.start(stdinR, stdoutW)
		// The child holds its own copies of its ends.
		stdinR.Close()
		stdoutW.Close()
		if err != nil {
			stdinW.Close()
			stdoutR.Close()
			return err
		}
		r.procs = append(r.procs, p)
		wp := &stormWorkerProc{proc: p, in: stdinW, enc: json.NewEncoder(stdinW)}
		r.workers = append(r.workers, wp)
		go r.readEvents(w, stdoutR)
		job := stormJob{
			Worker: w, Gateways: r.gwAddrs, First: first, Count: n, Prefix: stormPrefix, KID: kid, Seed: seed,
			Audience: stormAudience, TokenTTL: 2*cfg.PhaseTimeout + time.Hour, KeepAlive: cfg.KeepAlive,
			Parallel: cfg.Parallel, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax,
			AttemptTimeout: cfg.AttemptTimeout, PhaseTimeout: cfg.PhaseTimeout, Storms: cfg.Storms,
		}
		if cfg.ProfileSeconds > 0 {
			job.CPUProfile = filepath.Join(cfg.Dir, fmt.Sprintf("worker-%d.pprof", w))
		}
		if err := wp.enc.Encode(job); err != nil {
			return fmt.Errorf("bench: storm: send worker %d its job: %w", w, err)
		}
	}
	return nil
}

// readEvents forwards a worker's events; its end is an "exit" event.
func (r *stormRun) readEvents(w int, out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e stormEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = stormEvent{Event: "error", Error: "bench: storm: worker " + strconv.Itoa(w) + " wrote " + strconv.Quote(sc.Text())}
		}
		e.Worker = w
		r.events <- e
	}
	r.events <- stormEvent{Event: "exit", Worker: w}
}

// broadcast sends a command to every worker.
func (r *stormRun) broadcast(c stormCommand) {
	for _, w := range r.workers {
		_ = w.enc.Encode(c)
	}
}

// waitAll waits for one event of kind from every worker, printing progress
// meanwhile.
func (r *stormRun) waitAll(ctx context.Context, kind string, timeout time.Duration) ([]stormEvent, error) {
	got := make([]stormEvent, 0, len(r.workers))
	seen := map[int]bool{}
	connected := map[int]int{}
	// Events of a later step that came early (a fast worker's "done" while
	// others are still arming) wait in r.early.
	take := func(e stormEvent) {
		if !seen[e.Worker] {
			seen[e.Worker] = true
			got = append(got, e)
		}
	}
	early := r.early[:0]
	for _, e := range r.early {
		if e.Event == kind {
			take(e)
		} else {
			early = append(early, e)
		}
	}
	r.early = early
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for len(got) < len(r.workers) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("bench: storm: %d of %d workers reported %q within %s", len(got), len(r.workers), kind, timeout)
		case <-tick.C:
			total := 0
			for _, n := range connected {
				total += n
			}
			r.progress("  %d devices connected", total)
		case e := <-r.events:
			switch e.Event {
			case "exit":
				return nil, fmt.Errorf("bench: storm: worker %d exited; see worker-%d.log", e.Worker, e.Worker)
			case "error":
				return nil, fmt.Errorf("bench: storm: worker %d: %s", e.Worker, e.Error)
			case "progress":
				connected[e.Worker] = e.Connected
			case kind:
				take(e)
			default:
				r.early = append(r.early, e)
			}
		}
	}
	return got, nil
}
