package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// stormJob is the first line a storm worker reads on its standard input:
// which devices it plays, where they connect and how they sign their tokens.
type stormJob struct {
	Worker   int           `json:"worker"`
	Gateways []string      `json:"gateways"` // MQTT addresses; device i connects to Gateways[i % len]
	First    int           `json:"first"`    // first device index of this worker
	Count    int           `json:"count"`    // devices of this worker
	Prefix   string        `json:"prefix"`   // device id = Prefix + zero-padded index
	KID      string        `json:"kid"`      // the tenant issuer key's id
	Seed     []byte        `json:"seed"`     // its Ed25519 private key seed
	Audience string        `json:"audience"`
	TokenTTL time.Duration `json:"token_ttl"`
	// KeepAlive is the MQTT keepalive in seconds; devices send PINGREQ
	// after half of it without traffic. 0 disables it.
	KeepAlive      uint16        `json:"keepalive"`
	Parallel       int           `json:"parallel"` // connect phase: handshakes in flight
	RetryMin       time.Duration `json:"retry_min"`
	RetryMax       time.Duration `json:"retry_max"`
	AttemptTimeout time.Duration `json:"attempt_timeout"`
	PhaseTimeout   time.Duration `json:"phase_timeout"`
	// Storms is how many storm phases follow the connect phase; each phase
	// has its own pre-signed token per device, so that no CONNECT of the
	// run presents a token the gateway has seen (and may have cached). 0
	// means 1.
	Storms int `json:"storms"`
	// CPUProfile, when set, is the file the worker writes a CPU profile of
	// itself to, from its first phase to its end.
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// stormCommand is a later line on the worker's standard input.
type stormCommand struct {
	Cmd string `json:"cmd"` // "connect", "storm" or "stop"
	// Expect lists the gateways (indices into stormJob.Gateways) whose
	// devices are about to lose their connections ("storm").
	Expect []int `json:"expect,omitempty"`
	// Drop asks the devices to close their own connections at once
	// ("storm" without a gateway kill).
	Drop bool `json:"drop,omitempty"`
}

// stormEvent is one line a worker writes on its standard output.
type stormEvent struct {
	Event     string       `json:"event"` // "ready", "armed", "progress", "done", "error"
	Worker    int          `json:"worker"`
	Signed    int          `json:"signed,omitempty"`
	SignNanos int64        `json:"sign_nanos,omitempty"`
	Connected int          `json:"connected,omitempty"`
	Phase     *workerPhase `json:"phase,omitempty"`
	Error     string       `json:"error,omitempty"`
}

// workerPhase is what one worker saw in one phase.
type workerPhase struct {
	Name       string `json:"name"`
	StartNanos int64  `json:"start_nanos"` // when the worker began the phase
	LastNanos  int64  `json:"last_nanos"`  // the phase's last successful CONNACK
	Expected   int    `json:"expected"`    // devices that had to (re)connect
	Done       int    `json:"done"`        // of them, (re)connected
	Connected  int    `json:"connected"`   // devices connected at the end
	Unexpected int    `json:"unexpected"`  // devices that lost a connection nobody took away
	// Lost counts those losses by how the connection ended and after how
	// long; LostDevices names a few of the devices, to look up in logs.
	Lost        map[string]int64 `json:"lost,omitempty"`
	LostDevices []string         `json:"lost_devices,omitempty"`
	Attempts    int64            `json:"attempts"`
	Refusals    map[string]int64 `json:"refusals"`
	Latency     []int64          `json:"latency_us"` // per successful attempt: dial start to CONNACK
	TimedOut    bool             `json:"timed_out"`
	// CPUNanos is the worker process's CPU time (user and system) from the
	// start of the phase to its end: the load generator's own cost.
	CPUNanos int64 `json:"cpu_nanos"`
	// Resigned counts tokens signed during the phase, for retries: an
	// attempt after a failed one presents a fresh token.
	Resigned int64 `json:"resigned,omitempty"`
	cpuStart int64 // the process's CPU time at the start; not sent
}

// device is one simulated device of a worker.
type device struct {
	id      string
	addr    string
	gateway int
	// connects holds an encoded CONNECT per phase (the connect phase, then
	// each storm), each with its own token.
	connects [][]byte
	// retry is an encoded CONNECT with a token signed after a failed
	// attempt; nil when none. Owned by the device's goroutine.
	retry []byte

	// Guarded by stormWorker.mu.
	nc      net.Conn
	pending bool // must (re)connect before the phase is done
}

// stormWorker plays a slice of the devices of a storm.
type stormWorker struct {
	job     stormJob
	out     *json.Encoder
	outMu   sync.Mutex
	devices []*device

	key       ed25519.PrivateKey            // signs the devices' tokens
	sources   []*sourcePicker               // per gateway: the local addresses to dial from
	sem       atomic.Pointer[chan struct{}] // connect phase: bounds handshakes in flight
	connected atomic.Int64
	set       atomic.Int32 // index into device.connects of the current phase
	resigned  atomic.Int64 // tokens signed for retries in the current phase
	// labels is a context carrying the pprof label phase=<name> of the
	// current phase, which each device's goroutine takes on before an
	// attempt, so that a CPU profile can be split by phase
	// (go tool pprof -tagfocus phase=connect).
	labels atomic.Pointer[context.Context]

	mu     sync.Mutex // guards phase, phases and the devices' nc and pending
	phase  *workerPhase
	phases int           // phases started
	wake   chan struct{} // closed and replaced on each phase start: starts waiting devices
}

// RunStormWorker is the storm worker process (`flockctl bench storm-worker`):
// it reads a job and then commands as JSON lines from in, and writes events
// as JSON lines to out, until in ends, a "stop" command arrives or ctx ends.
// Its devices are goroutines holding one connection each: each connects
// with its own token, waits for its connection to end, reconnects at once
// and, on a refusal or a failed dial, retries after a jittered exponential
// backoff, as real devices do.
func RunStormWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return fmt.Errorf("bench: storm worker: no job on standard input: %v", sc.Err())
	}
	var job stormJob
	if err := json.Unmarshal(sc.Bytes(), &job); err != nil {
		return fmt.Errorf("bench: storm worker: decode job: %w", err)
	}
	// The worker holds thousands of goroutines, whose stacks each
	// collection scans: collect less often (it allocates per dial).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	w := &stormWorker{job: job, out: json.NewEncoder(out), wake: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := w.prepare(); err != nil {
		w.emit(stormEvent{Event: "error", Error: err.Error()})
		return err
	}
	if job.CPUProfile != "" {
		stop, err := startCPUProfile(job.CPUProfile)
		if err != nil {
			w.emit(stormEvent{Event: "error", Error: err.Error()})
			return err
		}
		defer stop()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, d := range w.devices {
		wg.Go(func() { w.run(ctx, d) })
	}
	wg.Go(func() { w.monitor(ctx) })

	cmds := make(chan stormCommand)
	go func() {
		defer close(cmds)
		for sc.Scan() {
			var c stormCommand
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				w.emit(stormEvent{Event: "error", Error: "bench: storm worker: decode command: " + err.Error()})
				continue
			}
			select {
			case cmds <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-cmds:
			if !ok || c.Cmd == "stop" {
				return nil
			}
			switch c.Cmd {
			case "connect":
				sem := make(chan struct{}, max(1, job.Parallel))
				w.sem.Store(&sem)
				if !w.startPhase("connect", nil, false) {
					w.emit(stormEvent{Event: "error", Error: "bench: storm worker: a second connect phase"})
				}
			case "storm":
				w.sem.Store(nil)
				if !w.startPhase("storm", c.Expect, c.Drop) {
					w.emit(stormEvent{Event: "error", Error: fmt.Sprintf("bench: storm worker: more storms than the %d the job signed tokens for", max(1, job.Storms))})
					continue
				}
				w.emit(stormEvent{Event: "armed"})
				if c.Drop {
					w.dropAll()
				}
			default:
				w.emit(stormEvent{Event: "error", Error: fmt.Sprintf("bench: storm worker: unknown command %q", c.Cmd)})
			}
		}
	}
}

// prepare builds the devices and signs their tokens: one per device and
// phase, each with its own jti, encoded into the phase's CONNECT packet
// ahead of time so that a phase costs the worker a dial, a write and a
// read per device.
func (w *stormWorker) prepare() error {
	j := w.job
	if len(j.Gateways) == 0 || j.Count <= 0 {
		return errors.New("bench: storm worker: the job has no gateways or no devices")
	}
	for _, g := range j.Gateways {
		if err := checkLoopback(g); err != nil {
			return err
		}
	}
	if len(j.Seed) != ed25519.SeedSize {
		return errors.New("bench: storm worker: the job's key seed is not an Ed25519 seed")
	}
	w.key = ed25519.NewKeyFromSeed(j.Seed)
	w.sources = make([]*sourcePicker, len(j.Gateways))
	for g, addr := range j.Gateways {
		w.sources[g] = newSourcePicker(j.Worker, addr)
	}
	sets := 1 + max(1, j.Storms)
	start := time.Now()
	w.devices = make([]*device, j.Count)
	for k := range w.devices {
		i := j.First + k
		g := i % len(j.Gateways)
		d := &device{id: DeviceID(j.Prefix, i), addr: j.Gateways[g], gateway: g, connects: make([][]byte, sets)}
		for s := range d.connects {
			pkt, err := w.encodeConnect(d.id, start)
			if err != nil {
				return err
			}
			d.connects[s] = pkt
		}
		w.devices[k] = d
	}
	w.emit(stormEvent{Event: "ready", Signed: j.Count * sets, SignNanos: int64(time.Since(start))})
	return nil
}

// encodeConnect signs a fresh token for device id, issued at iat, and
// returns the MQTT 3.1.1 CONNECT carrying it.
func (w *stormWorker) encodeConnect(id string, iat time.Time) ([]byte, error) {
	j := w.job
	tok, err := jwtauth.Sign(tenant.EdDSA, w.key, j.KID, jwtauth.Claims{
		Subject: id, Audience: []string{j.Audience}, IssuedAt: iat, ExpiresAt: iat.Add(j.TokenTTL), ID: rand.Text(),
	})
	if err != nil {
		return nil, fmt.Errorf("bench: storm worker: sign the token of %s: %w", id, err)
	}
	pkt, err := mqtt.Append(nil, &mqtt.Connect{
		ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, KeepAlive: j.KeepAlive, ClientID: id,
		Username: id, UsernameSet: true, Password: []byte(tok), PasswordSet: true,
	}, mqtt.V311)
	if err != nil {
		return nil, fmt.Errorf("bench: storm worker: encode the CONNECT of %s: %w", id, err)
	}
	return pkt, nil
}

// DeviceID is the id of storm device i.
func DeviceID(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

func (w *stormWorker) emit(e stormEvent) {
	e.Worker = w.job.Worker
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_ = w.out.Encode(e)
}

// startPhase begins counting a new phase. Devices of the gateways in expect
// (every device in the connect phase or with drop) must (re)connect before
// the phase is done. It reports false when the devices have no tokens left
// for another phase.
func (w *stormWorker) startPhase(name string, expect []int, drop bool) bool {
	on := map[int]bool{}
	for _, g := range expect {
		on[g] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.phases >= len(w.devices[0].connects) {
		return false
	}
	w.set.Store(int32(w.phases))
	labels := pprof.WithLabels(context.Background(), pprof.Labels("phase", fmt.Sprintf("%s-%d", name, w.phases)))
	w.labels.Store(&labels)
	w.phases++
	w.resigned.Store(0)
	p := &workerPhase{Name: name, StartNanos: time.Now().UnixNano(), Refusals: map[string]int64{}, cpuStart: processCPU()}
	for _, d := range w.devices {
		d.pending = name == "connect" || drop || on[d.gateway]
		if d.pending {
			p.Expected++
		}
	}
	w.phase = p
	close(w.wake)
	w.wake = make(chan struct{})
	return true
}

// dropAll closes every device's connection from the client side.
func (w *stormWorker) dropAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.devices {
		if d.nc != nil {
			d.nc.Close()
		}
	}
}

// monitor reports progress, and the phase's result once every pending
// device is back (or the phase timed out).
func (w *stormWorker) monitor(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.mu.Lock()
		p := w.phase
		if p == nil {
			w.mu.Unlock()
			continue
		}
		p.Connected = int(w.connected.Load())
		timedOut := w.job.PhaseTimeout > 0 && time.Since(time.Unix(0, p.StartNanos)) > w.job.PhaseTimeout
		if (p.Done >= p.Expected && p.Connected == len(w.devices)) || timedOut {
			p.TimedOut = p.Done < p.Expected || p.Connected < len(w.devices)
			p.CPUNanos = processCPU() - p.cpuStart
			p.Resigned = w.resigned.Load()
			w.phase = nil
			w.mu.Unlock()
			w.emit(stormEvent{Event: "done", Phase: p})
			continue
		}
		w.mu.Unlock()
		if time.Since(lastProgress) >= 2*time.Second {
			lastProgress = time.Now()
			w.emit(stormEvent{Event: "progress", Connected: int(w.connected.Load())})
		}
	}
}

// record adds one attempt's outcome to the current phase.
func (w *stormWorker) record(d *device, nc net.Conn, began time.Time, refusal string) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.phase
	if refusal != "" {
		if p != nil {
			p.Attempts++
			p.Refusals[refusal]++
		}
		return
	}
	d.nc = nc
	w.connected.Add(1)
	if p == nil {
		return
	}
	p.Attempts++
	p.Latency = append(p.Latency, now.Sub(began).Microseconds())
	p.LastNanos = now.UnixNano()
	if d.pending {
		d.pending = false
		p.Done++
	}
}

// lost notes that d's connection ended after it had been held for held.
func (w *stormWorker) lost(d *device, byUs bool, why error, held time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d.nc = nil
	w.connected.Add(-1)
	if p := w.phase; p != nil && !d.pending && !byUs {
		// Nobody took this connection away in this phase.
		p.Unexpected++
		d.pending = true
		p.Expected++
		if p.Lost == nil {
			p.Lost = map[string]int64{}
		}
		p.Lost[lossReason(why, held)]++
		if len(p.LostDevices) < 5 {
			p.LostDevices = append(p.LostDevices, d.id)
		}
	}
}

// lossReason names how a held connection ended, and roughly when.
func lossReason(err error, held time.Duration) string {
	how := "ended: " + classify("read", err)
	switch {
	case errors.Is(err, io.EOF):
		how = "closed by the gateway"
	case errors.Is(err, syscall.ECONNRESET):
		how = "reset by the gateway"
	}
	switch {
	case held < time.Second:
		return how + " within 1s"
	case held < 10*time.Second:
		return how + " within 10s"
	}
	return how + " after 10s or more"
}

// run is one device's life: connect, hold the connection, reconnect.
func (w *stormWorker) run(ctx context.Context, d *device) {
	// Wait for the first phase.
	w.mu.Lock()
	wake := w.wake
	started := w.phase != nil
	w.mu.Unlock()
	if !started {
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
	failures := 0
	for ctx.Err() == nil {
		if l := w.labels.Load(); l != nil {
			pprof.SetGoroutineLabels(*l)
		}
		nc, refusal, sent := w.attempt(ctx, d)
		if refusal != "" {
			if ctx.Err() != nil {
				return
			}
			w.record(d, nil, time.Time{}, refusal)
			if sent {
				// The next attempt presents a token no gateway has
				// seen: this one may have been verified before the
				// refusal. A failed dial sent no token.
				pkt, err := w.encodeConnect(d.id, time.Now())
				if err != nil {
					w.emit(stormEvent{Event: "error", Error: err.Error()})
					return
				}
				d.retry = pkt
				w.resigned.Add(1)
			}
			failures++
			if !sleepCtx(ctx, w.backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		held := time.Now()
		dropped, why := w.hold(ctx, d, nc)
		w.lost(d, dropped, why, time.Since(held))
	}
}

// backoff is the wait before retry n (from 1): exponential from RetryMin
// up to RetryMax, with half of it random so that devices refused together
// do not come back together.
func (w *stormWorker) backoff(n int) time.Duration {
	d := w.job.RetryMin
	for i := 1; i < n && d < w.job.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.job.RetryMax)
	if d <= 0 {
		return 0
	}
	return d/2 + mrand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt dials and completes the CONNECT/CONNACK exchange. On failure it
// returns the refusal's reason instead of a connection, and whether the
// CONNECT (its token) may have reached the gateway.
func (w *stormWorker) attempt(ctx context.Context, d *device) (nc net.Conn, refusal string, sent bool) {
	if sem := w.sem.Load(); sem != nil {
		select {
		case *sem <- struct{}{}:
			defer func() { <-*sem }()
		case <-ctx.Done():
			return nil, "stopped", false
		}
	}
	pkt := d.retry
	if pkt == nil {
		pkt = d.connects[w.set.Load()]
	}
	began := time.Now()
	deadline := began.Add(w.job.AttemptTimeout)
	dl := w.sources[d.gateway].dialer()
	dl.Deadline = deadline
	nc, err := dl.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, classify("dial", err), false
	}
	nc.SetDeadline(deadline)
	if _, err := nc.Write(pkt); err != nil {
		nc.Close()
		return nil, classify("CONNECT", err), true
	}
	if refusal := readConnack(nc); refusal != "" {
		nc.Close()
		return nil, refusal, true
	}
	nc.SetDeadline(time.Time{})
	d.retry = nil
	w.record(d, nc, began, "")
	return nc, "", true
}

// readConnack reads the answer to an MQTT 3.1.1 CONNECT and returns ""
// when it is a CONNACK accepting the connection, else why not. A 3.1.1
// CONNACK is four bytes [MQTT-3.2.1]; anything else goes through the
// decoder to be named.
func readConnack(nc net.Conn) string {
	var b [4]byte
	if _, err := io.ReadFull(nc, b[:2]); err != nil {
		return classify("CONNACK", err)
	}
	n := 2
	if b[0] == 0x20 && b[1] == 0x02 {
		if _, err := io.ReadFull(nc, b[2:]); err != nil {
			return classify("CONNACK", err)
		}
		if b[3] == 0 {
			return ""
		}
		n = 4
	}
	r := mqtt.NewReader(io.MultiReader(bytes.NewReader(b[:n]), nc), 64)
	r.SetVersion(mqtt.V311)
	p, err := r.ReadPacket()
	if err != nil {
		return classify("CONNACK", err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok {
		return fmt.Sprintf("answered with %s", p.Type())
	}
	return fmt.Sprintf("CONNACK 0x%02X %s", v311ReturnCode(ack.ReasonCode), ack.ReasonCode)
}

// v311ReturnCode is the MQTT 3.1.1 CONNACK return code the decoder mapped
// to rc [MQTT-3.2.2-4].
func v311ReturnCode(rc mqtt.ReasonCode) int {
	switch rc {
	case mqtt.UnsupportedProtocolVersion:
		return 1
	case mqtt.ClientIDNotValid:
		return 2
	case mqtt.ServerUnavailable:
		return 3
	case mqtt.BadUsernameOrPassword:
		return 4
	case mqtt.NotAuthorized:
		return 5
	}
	return int(rc)
}

// classify names a failed step for the refusal table.
func classify(step string, err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (gateway down)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset during " + step
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout during " + step
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed before CONNACK"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	case errors.Is(err, syscall.EMFILE):
		return "out of file descriptors"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return step + ": " + s
}

// hold keeps d's connection until it ends, sending PINGREQ after half the
// keepalive without traffic. It reports whether the device closed it
// itself (a drop command or the end of the run).
func (w *stormWorker) hold(ctx context.Context, d *device, nc net.Conn) (byUs bool, why error) {
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer nc.Close()
	var buf [64]byte
	half := time.Duration(w.job.KeepAlive) * time.Second / 2
	if half > 0 {
		// Spread the first ping over the interval.
		nc.SetReadDeadline(time.Now().Add(half/2 + mrand.N(half/2+1)))
	}
	for {
		_, err := nc.Read(buf[:])
		switch {
		case err == nil:
		case half > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			if _, err := nc.Write(pingreq); err != nil {
				return ctx.Err() != nil, err
			}
		case errors.Is(err, net.ErrClosed):
			return true, err
		default:
			return ctx.Err() != nil, err
		}
		if half > 0 {
			nc.SetReadDeadline(time.Now().Add(half))
		}
	}
}

// pingreq is an MQTT PINGREQ [MQTT-3.12].
var pingreq = []byte{0xC0, 0x00}
