package bridge

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

var benchPayload = bytes.Repeat([]byte("p"), 64)

func BenchmarkPublishQoS0(b *testing.B) {
	srv := startServer(b)
	br := newBridge(b, srv, Config{})
	m := &Message{Tenant: "acme", Topic: "sensors/1/temp", Origin: "dev-1", Payload: benchPayload}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := br.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := br.nc.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkPublishQoS1 measures durable publishes, each waiting for its own
// JetStream acknowledgement, from 64 concurrent publishers.
func BenchmarkPublishQoS1(b *testing.B) {
	for _, publishers := range []int{1, 64} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			srv := startServer(b)
			br := newBridge(b, srv, Config{})
			ctx := context.Background()
			if _, err := br.Publish(ctx, &Message{Tenant: "acme", Topic: "warm", QoS: 1}); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Go(func() {
					m := &Message{Tenant: "acme", Topic: fmt.Sprintf("sensors/%d/temp", p), Origin: "dev", QoS: 1, Payload: benchPayload}
					for next.Add(1) <= int64(b.N) {
						if _, err := br.Publish(ctx, m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkEndToEnd measures the latency from Publish on one gateway to the
// handler on another, one message at a time.
func BenchmarkEndToEnd(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			srv := startServer(b)
			pub, sub := newBridge(b, srv, Config{GatewayID: "pub"}), newBridge(b, srv, Config{GatewayID: "sub"})
			got := make(chan struct{}, 1)
			if _, err := sub.Subscribe("acme", "sensors/+/temp", "", func(*Message) { got <- struct{}{} }); err != nil {
				b.Fatal(err)
			}
			m := &Message{Tenant: "acme", Topic: "sensors/1/temp", Origin: "dev-1", QoS: qos, Payload: benchPayload}
			ctx := context.Background()
			lat := make([]time.Duration, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if _, err := pub.Publish(ctx, m); err != nil {
					b.Fatal(err)
				}
				if qos == 0 {
					pub.nc.Flush() // push the buffered publish out now
				}
				<-got
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkRetained reads the retained messages of a tenant holding 10,000.
func BenchmarkRetained(b *testing.B) {
	srv := startServer(b)
	br := newBridge(b, srv, Config{})
	ctx := context.Background()
	const n = 10_000
	loadRetained(b, br, "acme", n, benchPayload)
	for _, tc := range []struct {
		filter string
		want   int
	}{{"#", n}, {"dev/+/state", n}, {"dev/42/#", 1}, {"dev/42/state", 1}, {"dev/42/+", 1}} {
		b.Run(tc.filter, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				if err := br.Retained(ctx, "acme", tc.filter, func(*Message) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				if got != tc.want {
					b.Fatalf("Retained(%q) returned %d messages, want %d", tc.filter, got, tc.want)
				}
			}
			b.ReportMetric(float64(tc.want)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// loadRetained stores n retained messages dev/<i>/state quickly, with
// pipelined JetStream publishes.
func loadRetained(tb testing.TB, br *Bridge, tenant string, n int, payload []byte) {
	tb.Helper()
	ctx := context.Background()
	if err := br.ensureRetained(ctx, tenant); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		m := &Message{Tenant: tenant, Topic: fmt.Sprintf("dev/%d/state", i), QoS: 1, Retain: true, Payload: payload}
		subj := string(appendSubject(nil, retainedRoot, tenant, "", m.Topic))
		if _, err := br.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: EncodeMessage(nil, m)}); err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case <-br.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		tb.Fatal("retained messages not stored in time")
	}
}

// TestRetainedMany checks a read matching more retained messages than one
// multi_last direct get returns (1024) falls back to batches, which also
// end early on batchBytes, and returns each exactly once.
func TestRetainedMany(t *testing.T) {
	srv := startServer(t)
	br := newBridge(t, srv, Config{})
	const n = 2000
	loadRetained(t, br, "acme", n, bytes.Repeat([]byte("r"), 2*batchBytes/n+1))
	seen := make(map[string]bool, n)
	err := br.Retained(ctxT(t), "acme", "dev/+/state", func(m *Message) error {
		if seen[m.Topic] {
			t.Errorf("topic %s delivered twice", m.Topic)
		}
		seen[m.Topic] = true
		return nil
	})
	if err != nil || len(seen) != n {
		t.Errorf("Retained over %d messages returned %d, %v", n, len(seen), err)
	}
}

// BenchmarkReplay replays from the start of a stream of 20,000 durable
// messages spread over 100 devices.
func BenchmarkReplay(b *testing.B) {
	srv := startServer(b)
	br := newBridge(b, srv, Config{})
	ctx := context.Background()
	const n, devices = 20_000, 100
	if err := br.ensureQueue(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		m := &Message{Tenant: "acme", Topic: fmt.Sprintf("dev/%d/cmd", i%devices), QoS: 1, Payload: benchPayload}
		subj := string(appendSubject(nil, durableRoot, "acme", "", m.Topic))
		if _, err := br.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: EncodeMessage(nil, m)}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-br.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		b.Fatal("durable messages not stored in time")
	}
	for _, tc := range []struct {
		name    string
		filters []string
		want    int
	}{{"all", []string{"#"}, n}, {"one device", []string{"dev/7/#"}, n / devices}, {"two devices", []string{"dev/7/cmd", "dev/8/+"}, 2 * n / devices}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				res, err := br.ReplayFrom(ctx, "acme", tc.filters, 0, func(*Message) error { got++; return nil })
				if err != nil || got != tc.want || res.Last != n {
					b.Fatalf("ReplayFrom(%q) = %d messages, %+v, %v; want %d", tc.filters, got, res, err, tc.want)
				}
			}
			b.ReportMetric(float64(tc.want)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
