package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintTable writes results grouped by scenario, with each target's ratio
// to the first target (FlockMQ in a comparison run).
func PrintTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\ttarget\tresult\tflockmq ÷ target\tnote")
	base := map[string]Result{}
	for _, r := range results {
		if _, ok := base[r.Scenario]; !ok {
			base[r.Scenario] = r
		}
	}
	for _, r := range results {
		b := base[r.Scenario]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Target, r.summary(), ratio(b, r), r.Note)
	}
	tw.Flush()
}

func (r Result) summary() string {
	switch {
	case strings.HasPrefix(r.Scenario, "latency"):
		return fmt.Sprintf("p50 %s  p99 %s  p99.9 %s  max %s", ms(r.P50), ms(r.P99), ms(r.P999), ms(r.Max))
	case strings.HasPrefix(r.Scenario, "idle"):
		return fmt.Sprintf("%s per connection", human(int64(r.BytesPer)))
	case strings.HasPrefix(r.Scenario, "connect"):
		return fmt.Sprintf("%.0f connections/s", r.Rate)
	case strings.HasPrefix(r.Scenario, "fan-out"):
		return fmt.Sprintf("%.0f deliveries/s", r.Rate)
	}
	return fmt.Sprintf("%.0f msg/s", r.Rate)
}

// ratio is the first target's value relative to r's, oriented so that
// above 1 means the first target is better.
func ratio(base, r Result) string {
	if base.Target == r.Target {
		return "—"
	}
	var x float64
	switch {
	case strings.HasPrefix(r.Scenario, "latency"):
		if base.P99 == 0 {
			return "n/a"
		}
		x = float64(r.P99) / float64(base.P99) // lower latency is better
		return fmt.Sprintf("%.2f× (p99)", x)
	case strings.HasPrefix(r.Scenario, "idle"):
		if base.BytesPer <= 0 {
			return "n/a"
		}
		x = r.BytesPer / base.BytesPer // less memory is better
	default:
		if r.Rate == 0 {
			return "n/a"
		}
		x = base.Rate / r.Rate
	}
	return fmt.Sprintf("%.2f×", x)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }
