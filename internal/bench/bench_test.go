package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:1883", true},
		{"127.5.5.5:1883", true},
		{"[::1]:1883", true},
		{"localhost:1883", true},
		{"10.0.0.1:1883", false},
		{"192.168.1.2:1883", false},
		{"example.com:1883", false},
		{"nonsense", false},
	} {
		err := checkLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// startMosquitto runs a real Mosquitto for the client tests.
func startMosquitto(t *testing.T) *Broker {
	t.Helper()
	bin, err := FindBinary("mosquitto")
	if err != nil {
		t.Skip("mosquitto not installed (scripts/test.sh installs it)")
	}
	b, err := StartMosquitto(context.Background(), bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

// TestScenariosAgainstMosquitto drives each scenario briefly against a real
// broker: every QoS 1 message must arrive, and each result must carry data.
func TestScenariosAgainstMosquitto(t *testing.T) {
	b := startMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := Options{Duration: 200 * time.Millisecond, QoS: 1, Publishers: 2, Subscribers: 3, Rate: 500, Conns: 50, Parallel: 8, Drain: 2 * time.Second}
	for _, sc := range Scenarios {
		r, err := sc.Run(ctx, b.Target, o)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		switch sc.Name {
		case "fanin", "latency":
			if r.Sent == 0 || r.Received != r.Sent {
				t.Errorf("%s at QoS 1: sent %d, received %d; want all delivered", sc.Name, r.Sent, r.Received)
			}
		case "fanout":
			if r.Sent == 0 || r.Received != r.Sent*3 {
				t.Errorf("fanout at QoS 1: sent %d to 3 subscribers, received %d", r.Sent, r.Received)
			}
		case "idle", "connect":
			if r.Received != 50 {
				t.Errorf("%s: opened %d connections, want 50", sc.Name, r.Received)
			}
		}
		if sc.Name == "latency" && (r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99) {
			t.Errorf("latency percentiles out of order: p50 %v p99 %v max %v", r.P50, r.P99, r.Max)
		}
	}
}

func TestPrintTableRatios(t *testing.T) {
	var sb strings.Builder
	PrintTable(&sb, []Result{
		{Scenario: "fan-in 8→1 QoS 0", Target: "flockmq", Rate: 2000},
		{Scenario: "fan-in 8→1 QoS 0", Target: "mosquitto", Rate: 1000},
		{Scenario: "idle 10 connections", Target: "flockmq", BytesPer: 1024},
		{Scenario: "idle 10 connections", Target: "nats", BytesPer: 4096},
	})
	out := sb.String()
	for _, want := range []string{"2000 msg/s", "2.00×", "1.0 KiB per connection", "4.00×"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
