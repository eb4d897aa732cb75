package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// controlPlaneRequests sums the control plane's HTTP request counts from
// its /metrics (the API's HTTP server instrumentation; /metrics and
// /healthz themselves are not counted).
func (r *stormRun) controlPlaneRequests(ctx context.Context) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.cpHTTP+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: storm: read the control plane's metrics: %w", err)
	}
	defer resp.Body.Close()
	return countRequests(resp.Body)
}

// countRequests sums the http_server_request_duration_seconds_count
// samples of a Prometheus text exposition.
func countRequests(body io.Reader) (int64, error) {
	var n float64
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "http_server_request_duration_seconds_count") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("bench: storm: metrics line %q: %w", line, err)
		}
		n += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, errors.New("bench: storm: the control plane's metrics count no HTTP request")
	}
	return int64(n), nil
}

// gatewayRSS sums the gateways' resident memory and finds the largest.
func (r *stormRun) gatewayRSS() (sum, largest int64) {
	for _, g := range r.gateways {
		n, err := rss(g.pid())
		if err != nil {
			continue
		}
		sum += n
		largest = max(largest, n)
	}
	return sum, largest
}

// mergePhases adds up the workers' view of one phase that began at start.
func mergePhases(name string, start time.Time, events []stormEvent) StormPhase {
	ph := StormPhase{Name: name, Refusals: map[string]int64{}}
	var lat []int64
	var last int64
	for _, e := range events {
		p := e.Phase
		if p == nil {
			continue
		}
		ph.Expected += p.Expected
		ph.Done += p.Done
		ph.Connected += p.Connected
		ph.Unexpected += p.Unexpected
		ph.Attempts += p.Attempts
		ph.WorkerCPU += time.Duration(p.CPUNanos)
		ph.Resigned += p.Resigned
		ph.TimedOut = ph.TimedOut || p.TimedOut
		for k, v := range p.Refusals {
			ph.Refusals[k] += v
		}
		for k, v := range p.Lost {
			if ph.Lost == nil {
				ph.Lost = map[string]int64{}
			}
			ph.Lost[k] += v
		}
		ph.LostDevices = append(ph.LostDevices, p.LostDevices...)
		lat = append(lat, p.Latency...)
		last = max(last, p.LastNanos)
	}
	if last > 0 {
		ph.Elapsed = time.Unix(0, last).Sub(start)
	}
	if ph.Elapsed > 0 {
		ph.Rate = float64(ph.Done) / ph.Elapsed.Seconds()
	}
	ph.Connacks = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(q float64) time.Duration {
			return time.Duration(lat[min(len(lat)-1, int(q*float64(len(lat))))]) * time.Microsecond
		}
		ph.P50, ph.P99, ph.Max = pct(0.50), pct(0.99), time.Duration(lat[len(lat)-1])*time.Microsecond
	}
	return ph
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// PrintStorm writes the report as a table.
func PrintStorm(w io.Writer, rep StormReport) {
	fmt.Fprintf(w, "Reconnect storm: FlockMQ only (Mosquitto and the NATS server's MQTT listener have no per-tenant JWT verification to compare).\n")
	fmt.Fprintf(w, "%d devices with Ed25519 tenant-issuer JWTs, %d gateway processes, %d worker processes; storm: %s.\n",
		rep.Devices, rep.Gateways, rep.Workers, killText(rep.Kill))
	if rep.MaxConnRate > 0 {
		fmt.Fprintf(w, "Each gateway accepts at most %.0f connections/s (listener max_conn_rate).\n", rep.MaxConnRate)
	}
	fmt.Fprintf(w, "Setup: %d devices registered in %s; tokens signed at %.0f/s per worker.\n\n", rep.Devices, rep.SetupDevices.Round(time.Millisecond), rep.SignRate)
	tw := newTable(w)
	fmt.Fprintln(tw, "phase\tdevices\ttime to all\tconnects/s\tCONNACK p50\tp99\tmax\tattempts\tgateway CPU/CONNECT\tworker CPU/CONNECT\tcontrol-plane requests\tgateway RSS (sum / largest)")
	type row struct {
		p        StormPhase
		requests int64
		rss, big int64
	}
	rows := []row{{rep.Connect, rep.ControlPlaneRequestsConnect, rep.GatewayRSSConnect, rep.MaxGatewayRSSConnect}}
	storms := rep.Storms
	if len(storms) == 0 {
		storms = []StormPhase{rep.Storm}
	}
	for i, p := range storms {
		x := row{p: p}
		if i == len(storms)-1 {
			// Requests are counted over every storm, memory after the last.
			x.requests, x.rss, x.big = rep.ControlPlaneRequestsStorm, rep.GatewayRSSStorm, rep.MaxGatewayRSSStorm
		}
		rows = append(rows, x)
	}
	for _, x := range rows {
		p := x.p
		mem := "-" // measured after the last storm only
		if x.rss > 0 {
			mem = human(x.rss) + " / " + human(x.big)
		}
		fmt.Fprintf(tw, "%s\t%d / %d\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", p.Name, p.Done, p.Expected,
			p.Elapsed.Round(time.Millisecond), p.Rate, ms(p.P50), ms(p.P99), ms(p.Max), p.Attempts,
			us(p.GatewayCPUPerConnect()), us(p.WorkerCPUPerConnect()), x.requests, mem)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nCPU per CONNECT: the processes' CPU time (/proc/<pid>/stat, user and system) over the phase, divided by its successful CONNECTs.\n")
	if c := rep.Connect.GatewayCPUPerConnect(); c > 0 {
		fmt.Fprintf(w, "At the connect phase's %s, one core of a gateway verifies and accepts about %.0f CONNECTs/s, whatever else runs on the machine.\n",
			us(c), float64(time.Second)/float64(c))
	}
	fmt.Fprintf(w, "Every phase presents tokens no gateway has seen (one signed per device and phase, and a fresh one after a failed attempt).\n")
	if rep.Restart > 0 {
		fmt.Fprintf(w, "\nThe killed gateways exited %s after SIGKILL and listened again %s after it.\n",
			rep.Killed.Round(time.Millisecond), rep.Restart.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "Control plane + NATS process RSS at the end: %s.\n", human(rep.ControlPlaneRSS))
	for _, f := range rep.Profiles {
		fmt.Fprintf(w, "CPU profile: go tool pprof -top %s\n", f)
	}
	for _, p := range append([]StormPhase{rep.Connect}, storms...) {
		if p.Resigned > 0 {
			fmt.Fprintf(w, "%s: %d tokens signed for retries.\n", p.Name, p.Resigned)
		}
		if p.ListenDrops > 0 {
			fmt.Fprintf(w, "%s: the kernel dropped %d connection attempts from full accept queues (TcpExt ListenDrops, any process); "+
				"each client retried its SYN after 1 s (then 3 s), which bounds the phase's time more than the gateways' CPU.\n", p.Name, p.ListenDrops)
		}
		if p.Unexpected > 0 {
			fmt.Fprintf(w, "%s: %d connections were lost that the storm did not take away (devices such as %s):\n",
				p.Name, p.Unexpected, strings.Join(p.LostDevices[:min(3, len(p.LostDevices))], ", "))
			printCounts(w, p.Lost)
		}
		if p.TimedOut {
			fmt.Fprintf(w, "%s: TIMED OUT with %d of %d devices back.\n", p.Name, p.Done, p.Expected)
		}
		if len(p.Refusals) == 0 {
			fmt.Fprintf(w, "%s: no refused or failed attempt.\n", p.Name)
			continue
		}
		fmt.Fprintf(w, "%s: failed attempts by reason:\n", p.Name)
		printCounts(w, p.Refusals)
	}
}

// printCounts lists counts by reason, largest first.
func printCounts(w io.Writer, counts map[string]int64) {
	reasons := make([]string, 0, len(counts))
	for k := range counts {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if c := counts[b] - counts[a]; c != 0 {
			return int(c)
		}
		return strings.Compare(a, b)
	})
	for _, k := range reasons {
		fmt.Fprintf(w, "  %8d  %s\n", counts[k], k)
	}
}

// us formats a CPU time per CONNECT; "-" when unknown.
func us(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func killText(k string) string {
	switch k {
	case KillOne:
		return "SIGKILL one gateway and restart it"
	case KillDrop:
		return "every device drops its connection at once"
	}
	return "SIGKILL every gateway and restart them"
}
