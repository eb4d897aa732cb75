package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

func TestCountRequests(t *testing.T) {
	metrics := `# HELP http_server_request_duration_seconds Duration of HTTP server requests.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_request_method="POST",http_response_status_code="201",le="0.005"} 3
http_server_request_duration_seconds_sum{http_request_method="POST",http_response_status_code="201"} 0.01
http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="201"} 3
http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200"} 12
http_server_request_body_size_bytes_count{http_request_method="POST"} 3
`
	n, err := countRequests(strings.NewReader(metrics))
	if err != nil || n != 15 {
		t.Errorf("countRequests = %d, %v; want 15", n, err)
	}
	if _, err := countRequests(strings.NewReader("go_goroutines 12\n")); err == nil {
		t.Error("countRequests without any request metric succeeded; want an error (the metric was renamed?)")
	}
}

func TestMergePhases(t *testing.T) {
	start := time.Unix(100, 0)
	events := []stormEvent{
		{Phase: &workerPhase{Expected: 2, Done: 2, Connected: 3, Attempts: 4, Refusals: map[string]int64{"a": 2},
			Latency: []int64{1000, 3000}, LastNanos: start.Add(2 * time.Second).UnixNano(), CPUNanos: 3e6, Resigned: 2}},
		{Phase: &workerPhase{Expected: 2, Done: 1, Connected: 2, Unexpected: 1, Attempts: 2, Refusals: map[string]int64{"a": 1, "b": 1},
			Latency: []int64{2000}, LastNanos: start.Add(time.Second).UnixNano(), TimedOut: true, CPUNanos: 1e6}},
	}
	got := mergePhases("storm", start, events)
	want := StormPhase{Name: "storm", Expected: 4, Done: 3, Connected: 5, Unexpected: 1, Attempts: 6, Elapsed: 2 * time.Second, Rate: 1.5,
		P50: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 3 * time.Millisecond, TimedOut: true,
		Connacks: 3, WorkerCPU: 4 * time.Millisecond, Resigned: 2}
	refusals := got.Refusals
	got.Refusals = nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mergePhases =\n %+v\nwant\n %+v", got, want)
	}
	if refusals["a"] != 3 || refusals["b"] != 1 {
		t.Errorf("mergePhases refusals = %v, want a:3 b:1", refusals)
	}
}

func TestStormBackoff(t *testing.T) {
	w := &stormWorker{job: stormJob{RetryMin: 100 * time.Millisecond, RetryMax: time.Second}}
	for _, tc := range []struct {
		n        int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{40, 500 * time.Millisecond, time.Second},
	} {
		for range 50 {
			if d := w.backoff(tc.n); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.n, d, tc.min, tc.max)
			}
		}
	}
}

func TestStormConfigValidate(t *testing.T) {
	base := StormConfig{Flockd: []string{"flockd"}, Worker: []string{"w"}, Dir: t.TempDir()}
	for _, tc := range []struct {
		name string
		edit func(*StormConfig)
		ok   bool
	}{
		{"defaults", func(*StormConfig) {}, true},
		{"100k on 7 gateways and 7 workers", func(c *StormConfig) { c.Devices = 100000 }, true},
		{"too many per gateway", func(c *StormConfig) { c.Devices, c.Gateways = 40000, 2 }, false},
		{"too many per worker", func(c *StormConfig) { c.Devices, c.Workers = 40000, 2 }, false},
		{"unknown kill", func(c *StormConfig) { c.Kill = "some" }, false},
		{"no flockd", func(c *StormConfig) { c.Flockd = nil }, false},
		{"retry bounds reversed", func(c *StormConfig) { c.RetryMin, c.RetryMax = time.Second, time.Millisecond }, false},
	} {
		c := base
		tc.edit(&c)
		err := c.withDefaults().validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestStormWorkerAgainstMosquitto runs a worker in-process against a real
// broker: every device connects, then drops its connection and comes back;
// devices pointed at a closed port are refused and retried.
func TestStormWorkerAgainstMosquitto(t *testing.T) {
	b := startMosquitto(t)
	const n = 40
	job := stormJob{
		Gateways: []string{b.Addr}, Count: n, Prefix: "dev-", KID: "ik_test", Seed: make([]byte, ed25519.SeedSize),
		Audience: "flockmq", TokenTTL: time.Hour, KeepAlive: 2, Parallel: 8,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, AttemptTimeout: 5 * time.Second, PhaseTimeout: 30 * time.Second,
		Storms: 2,
	}
	w := startWorker(t, job)
	if e := w.next(t, "ready"); e.Signed != 3*n {
		t.Fatalf("ready: signed %d tokens, want %d (one per device for the connect phase and for each of 2 storms)", e.Signed, 3*n)
	}
	w.send(t, stormCommand{Cmd: "connect"})
	p := w.next(t, "done").Phase
	if p.Expected != n || p.Done != n || p.Connected != n || p.TimedOut || len(p.Latency) != n {
		t.Fatalf("connect phase = %+v, want all %d devices connected once", p, n)
	}
	if p.CPUNanos <= 0 {
		t.Errorf("connect phase CPU = %d ns, want the worker's CPU time over the phase", p.CPUNanos)
	}
	for storm := range 2 {
		w.send(t, stormCommand{Cmd: "storm", Drop: true})
		w.next(t, "armed")
		p = w.next(t, "done").Phase
		if p.Expected != n || p.Done != n || p.Connected != n || p.Unexpected != 0 || p.TimedOut {
			t.Fatalf("storm %d = %+v, want all %d devices back and none lost otherwise", storm+1, p, n)
		}
	}
	// Every phase has its own tokens: a third storm has none left.
	w.send(t, stormCommand{Cmd: "storm", Drop: true})
	if e := w.next(t, "error"); !strings.Contains(e.Error, "more storms") {
		t.Errorf("third storm of a two-storm job: error %q, want more storms than tokens signed", e.Error)
	}
	w.send(t, stormCommand{Cmd: "stop"})

	// A gateway that is down: every attempt is refused and counted.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	job.Gateways, job.Count, job.PhaseTimeout = []string{closed}, 2, 500*time.Millisecond
	w = startWorker(t, job)
	w.next(t, "ready")
	w.send(t, stormCommand{Cmd: "connect"})
	p = w.next(t, "done").Phase
	if !p.TimedOut || p.Done != 0 || p.Refusals["connection refused (gateway down)"] == 0 {
		t.Fatalf("phase against a closed port = %+v, want refusals and a timeout", p)
	}
	if p.Resigned != 0 {
		t.Errorf("phase against a closed port re-signed %d tokens, want none: a failed dial sends no token", p.Resigned)
	}
	w.send(t, stormCommand{Cmd: "stop"})

	// A server that reads each CONNECT and closes without a CONNACK: every
	// retry presents a token it has not seen.
	tokens := make(chan string, 1000)
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if p, err := mqtt.NewReader(c, 0).ReadPacket(); err == nil {
				if cp, ok := p.(*mqtt.Connect); ok {
					select {
					case tokens <- string(cp.Password):
					default:
					}
				}
			}
			c.Close()
		}
	}()
	job.Gateways = []string{l.Addr().String()}
	w = startWorker(t, job)
	w.next(t, "ready")
	w.send(t, stormCommand{Cmd: "connect"})
	p = w.next(t, "done").Phase
	w.send(t, stormCommand{Cmd: "stop"})
	if !p.TimedOut || p.Done != 0 || p.Resigned == 0 {
		t.Fatalf("phase against a server closing every connection = %+v, want re-signed tokens and a timeout", p)
	}
	seen := map[string]bool{}
	for n := len(tokens); n > 0; n-- {
		tok := <-tokens
		if seen[tok] {
			t.Fatalf("a token was presented twice (of %d CONNECTs)", len(seen)+1)
		}
		seen[tok] = true
	}
	if len(seen) < 2 {
		t.Errorf("the server saw %d CONNECTs, want retries", len(seen))
	}
}

// workerPipe drives an in-process storm worker.
type workerPipe struct {
	in     *io.PipeWriter
	events chan stormEvent
}

func startWorker(t *testing.T, job stormJob) *workerPipe {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunStormWorker(ctx, inR, outW); outW.Close() }()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("RunStormWorker: %v", err)
		}
	})
	w := &workerPipe{in: inW, events: make(chan stormEvent, 100)}
	go func() {
		defer close(w.events)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e stormEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = stormEvent{Event: "error", Error: err.Error()}
			}
			w.events <- e
		}
	}()
	b, _ := json.Marshal(job)
	go inW.Write(append(b, '\n'))
	return w
}

func (w *workerPipe) send(t *testing.T, c stormCommand) {
	t.Helper()
	b, _ := json.Marshal(c)
	go w.in.Write(append(b, '\n'))
}

// next returns the next event of kind, skipping progress reports.
func (w *workerPipe) next(t *testing.T, kind string) stormEvent {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				t.Fatalf("the worker ended before %q", kind)
			}
			switch e.Event {
			case kind:
				return e
			case "progress":
			default:
				t.Fatalf("worker event %+v, want %q", e, kind)
			}
		case <-timeout:
			t.Fatalf("no %q event within 30s", kind)
		}
	}
}

// TestWaitAllKeepsEarlyEvents checks that an event of a later step (a fast
// worker's "done" while another is still arming) is kept for the wait that
// asks for it.
func TestWaitAllKeepsEarlyEvents(t *testing.T) {
	r := &stormRun{cfg: StormConfig{Progress: io.Discard}, workers: make([]*stormWorkerProc, 2), events: make(chan stormEvent, 10)}
	for _, e := range []stormEvent{
		{Event: "armed", Worker: 0}, {Event: "progress", Worker: 0, Connected: 5},
		{Event: "done", Worker: 0}, {Event: "armed", Worker: 1}, {Event: "done", Worker: 1},
	} {
		r.events <- e
	}
	ctx := context.Background()
	if got, err := r.waitAll(ctx, "armed", 5*time.Second); err != nil || len(got) != 2 {
		t.Fatalf("waitAll(armed) = %v, %v; want both workers", got, err)
	}
	got, err := r.waitAll(ctx, "done", 5*time.Second)
	if err != nil || len(got) != 2 || got[0].Worker != 0 || got[1].Worker != 1 {
		t.Fatalf("waitAll(done) = %v, %v; want worker 0's early event, then worker 1's", got, err)
	}
	r.events <- stormEvent{Event: "exit", Worker: 1}
	if _, err := r.waitAll(ctx, "done", 5*time.Second); err == nil {
		t.Error("waitAll after a worker exited succeeded; want an error")
	}
}

// TestPrepareSignsDistinctTokens checks that a worker's CONNECT packets
// are distinct per device and phase: no CONNECT of a run presents a token
// a gateway has verified before.
func TestPrepareSignsDistinctTokens(t *testing.T) {
	w := &stormWorker{job: stormJob{
		Gateways: []string{"127.0.0.1:1", "127.0.0.1:2"}, First: 10, Count: 5, Prefix: "dev-", KID: "ik_test",
		Seed: make([]byte, ed25519.SeedSize), Audience: "flockmq", TokenTTL: time.Hour, Storms: 3,
	}, out: json.NewEncoder(io.Discard)}
	if err := w.prepare(); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	seen := map[string]string{}
	for _, d := range w.devices {
		if len(d.connects) != 4 {
			t.Fatalf("device %s has %d CONNECTs, want 4 (connect phase and 3 storms)", d.id, len(d.connects))
		}
		for s, pkt := range d.connects {
			name := fmt.Sprintf("%s phase %d", d.id, s)
			if prev, ok := seen[string(pkt)]; ok {
				t.Errorf("%s has the CONNECT of %s", name, prev)
			}
			seen[string(pkt)] = name
			r := mqtt.NewReader(bytes.NewReader(pkt), 0)
			p, err := r.ReadPacket()
			if err != nil {
				t.Fatalf("%s: decode CONNECT: %v", name, err)
			}
			c, ok := p.(*mqtt.Connect)
			if !ok || c.ClientID != d.id || c.Username != d.id || len(c.Password) == 0 {
				t.Errorf("%s: CONNECT = %+v, want client id and username %s and a token", name, p, d.id)
			}
		}
	}
	// Device i goes to gateway i mod the number of gateways.
	if d := w.devices[1]; d.id != "dev-000011" || d.gateway != 1 || d.addr != "127.0.0.1:2" {
		t.Errorf("devices[1] = %s on gateway %d (%s), want dev-000011 on gateway 1 (127.0.0.1:2)", d.id, d.gateway, d.addr)
	}
}

func TestReadConnack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer []byte
		want   string
	}{
		{"accepted", []byte{0x20, 0x02, 0x00, 0x00}, ""},
		{"session present", []byte{0x20, 0x02, 0x01, 0x00}, ""},
		// [MQTT-3.2.2-4]: return code 4 is bad user name or password.
		{"bad password", []byte{0x20, 0x02, 0x00, 0x04}, "CONNACK 0x04 "},
		{"not authorized", []byte{0x20, 0x02, 0x00, 0x05}, "CONNACK 0x05 "},
		{"another packet", []byte{0xD0, 0x00}, "answered with PINGRESP"},
		{"closed", nil, "closed before CONNACK"},
		{"closed mid-CONNACK", []byte{0x20, 0x02, 0x00}, "closed before CONNACK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				server.Write(tc.answer)
				server.Close()
			}()
			got := readConnack(client)
			if tc.want == "" && got != "" || !strings.HasPrefix(got, tc.want) {
				t.Errorf("readConnack(% x) = %q, want %q…", tc.answer, got, tc.want)
			}
		})
	}
}

func TestPrintStormCPUPerConnect(t *testing.T) {
	rep := StormReport{
		Devices: 1000, Gateways: 1, Workers: 1, Kill: KillDrop,
		Connect: StormPhase{Name: "connect", Expected: 1000, Done: 1000, Connacks: 1000, GatewayCPU: 85 * time.Millisecond, WorkerCPU: 50 * time.Millisecond},
		Storms: []StormPhase{
			{Name: "storm 1", Expected: 1000, Done: 1000, Connacks: 1000, GatewayCPU: 120 * time.Millisecond, ListenDrops: 40},
			{Name: "storm 2", Expected: 1000, Done: 1000, Connacks: 500, GatewayCPU: 60 * time.Millisecond},
		},
		GatewayRSSStorm: 10 << 20, MaxGatewayRSSStorm: 10 << 20,
	}
	var b strings.Builder
	PrintStorm(&b, rep)
	out := b.String()
	for _, want := range []string{
		"85.0 µs", "50.0 µs", "120.0 µs", "about 11765 CONNECTs/s",
		"storm 1: the kernel dropped 40 connection attempts",
		"10.0 MiB / 10.0 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("PrintStorm output lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Count(out, "storm 1 "); lines != 1 {
		t.Errorf("PrintStorm printed %d rows for storm 1, want 1:\n%s", lines, out)
	}
}
