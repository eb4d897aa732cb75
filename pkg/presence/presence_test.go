package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
)

// newJS starts an embedded NATS server and returns a JetStream context on
// a connection to it.
func newJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// startReporter runs a reporter until the test ends, or until the returned
// stop function is called.
func startReporter(t testing.TB, js jetstream.JetStream, cfg Config) (*Reporter, func()) {
	t.Helper()
	r, err := NewReporter(js, cfg, nil)
	if err != nil {
		t.Fatalf("NewReporter: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	// Wait for the heartbeat, so Run has opened the bucket.
	kv := bucketOf(t, js)
	checkFor(t, 10*time.Second, func() error {
		_, err := kv.Get(context.Background(), GatewayKey(cfg.GatewayID))
		return err
	})
	return r, stop
}

func bucketOf(t testing.TB, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := openBucket(context.Background(), js, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func newReader(t testing.TB, js jetstream.JetStream, now func() time.Time) *Reader {
	t.Helper()
	r, err := NewReader(js, Config{Now: now})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return r
}

// checkFor polls f until it returns nil or the timeout passes.
func checkFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("condition not met after %v: %v", timeout, err)
}

// waitStatus polls the reader until the device's status satisfies ok.
func waitStatus(t testing.TB, rd *Reader, tid, did string, ok func(Status) error) Status {
	t.Helper()
	var st Status
	checkFor(t, 10*time.Second, func() error {
		var err error
		st, err = rd.Get(context.Background(), tid, did)
		if err != nil {
			return err
		}
		return ok(st)
	})
	return st
}

func isConnected(want bool) func(Status) error {
	return func(st Status) error {
		if st.Connected != want {
			return fmt.Errorf("Connected = %v, want %v (%+v)", st.Connected, want, st)
		}
		return nil
	}
}

func TestConnectDisconnectRoundTrip(t *testing.T) {
	js := newJS(t)
	rep, _ := startReporter(t, js, Config{GatewayID: "gw-1"})
	rd := newReader(t, js, nil)
	ctx := context.Background()

	if _, err := rd.Get(ctx, "t-acme", "sensor-7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before any connection: err = %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "sensor-7", RemoteAddr: "10.0.0.7:50000", Protocol: 5, ConnectedAt: at}); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, rd, "t-acme", "sensor-7", isConnected(true))
	if st.ClientID != "sensor-7" || st.Gateway != "gw-1" || st.RemoteAddr != "10.0.0.7:50000" || st.Protocol != 5 || !st.ConnectedAt.Equal(at) {
		t.Errorf("connected status = %+v", st)
	}
	if st.TenantID != "t-acme" || st.DeviceID != "sensor-7" || len(st.Connections) != 1 || st.UpdatedAt.IsZero() {
		t.Errorf("connected status = %+v", st)
	}

	off := at.Add(time.Minute)
	if err := rep.Disconnected(ctx, "t-acme", "sensor-7", "", "keepalive of 60s expired", off); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, rd, "t-acme", "sensor-7", isConnected(false))
	if st.LastDisconnectReason != "keepalive of 60s expired" || st.DisconnectedAt == nil || !st.DisconnectedAt.Equal(off) {
		t.Errorf("disconnected status = %+v", st)
	}
	// The last connection's details stay.
	if st.Gateway != "gw-1" || st.ClientID != "sensor-7" || len(st.Connections) != 0 {
		t.Errorf("disconnected status = %+v", st)
	}
	n, err := rd.Counts(ctx, "t-acme")
	if err != nil || n != 0 {
		t.Errorf("Counts = %d, %v; want 0", n, err)
	}
}

func TestSeveralConnectionsPerDevice(t *testing.T) {
	js := newJS(t)
	rep, _ := startReporter(t, js, Config{GatewayID: "gw-1"})
	rd := newReader(t, js, nil)
	ctx := context.Background()
	t0 := time.Now().UTC()
	must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 4, ConnectedAt: t0}))
	must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", ClientID: "d1:backup", Protocol: 5, ConnectedAt: t0.Add(time.Second)}))
	waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if len(st.Connections) != 2 || st.ClientID != "d1:backup" {
			return fmt.Errorf("status = %+v, want two connections, newest d1:backup", st)
		}
		return nil
	})
	must(t, rep.Disconnected(ctx, "t-acme", "d1", "d1:backup", "the client disconnected", time.Time{}))
	st := waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if !st.Connected || len(st.Connections) != 1 || st.ClientID != "d1" {
			return fmt.Errorf("status = %+v, want connected through d1 only", st)
		}
		return nil
	})
	if st.LastDisconnectReason != "the client disconnected" {
		t.Errorf("LastDisconnectReason = %q", st.LastDisconnectReason)
	}

	// A take-over on the same gateway: the new connection is reported
	// before the old one ends, and the device stays connected.
	must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 5, ConnectedAt: t0.Add(2 * time.Second)}))
	must(t, rep.Disconnected(ctx, "t-acme", "d1", "d1", "session taken over", time.Time{}))
	waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if !st.Connected || st.LastDisconnectReason != "session taken over" || st.Protocol != 5 {
			return fmt.Errorf("status = %+v, want connected after a take-over", st)
		}
		return nil
	})
}

func TestCoalescingBurst(t *testing.T) {
	js := newJS(t)
	rep, _ := startReporter(t, js, Config{GatewayID: "gw-1"})
	rd := newReader(t, js, nil)
	ctx := context.Background()
	const updates = 10000
	const devices = 10
	var wg sync.WaitGroup
	for w := range devices {
		wg.Go(func() {
			did := fmt.Sprintf("dev-%d", w)
			for i := range updates / devices / 2 {
				if err := rep.Connected(ctx, Status{TenantID: "t-burst", DeviceID: did, Protocol: 4, RemoteAddr: fmt.Sprintf("10.0.0.1:%d", i)}); err != nil {
					t.Error(err)
					return
				}
				if err := rep.Disconnected(ctx, "t-burst", did, "", fmt.Sprintf("round %d ended", i), time.Time{}); err != nil {
					t.Error(err)
					return
				}
			}
			// Even devices end connected, odd ones disconnected.
			if w%2 == 0 {
				if err := rep.Connected(ctx, Status{TenantID: "t-burst", DeviceID: did, Protocol: 5, RemoteAddr: "10.0.0.1:9"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	last := fmt.Sprintf("round %d ended", updates/devices/2-1)
	for w := range devices {
		did := fmt.Sprintf("dev-%d", w)
		waitStatus(t, rd, "t-burst", did, func(st Status) error {
			if st.Connected != (w%2 == 0) || st.LastDisconnectReason != last {
				return fmt.Errorf("%s: status = %+v", did, st)
			}
			if st.Connected && (st.RemoteAddr != "10.0.0.1:9" || st.Protocol != 5) {
				return fmt.Errorf("%s: status = %+v, want the last connection", did, st)
			}
			lastAddr := fmt.Sprintf("10.0.0.1:%d", updates/devices/2-1)
			if !st.Connected && (st.RemoteAddr != lastAddr || st.Gateway != "gw-1" || st.ClientID != did) {
				return fmt.Errorf("%s: status = %+v, want the last connection's details kept", did, st)
			}
			return nil
		})
	}
	checkFor(t, 10*time.Second, func() error {
		if n, err := rd.Counts(ctx, "t-burst"); err != nil || n != devices/2 {
			return fmt.Errorf("Counts = %d, %v; want %d", n, err, devices/2)
		}
		return nil
	})
	rep.mu.Lock()
	writes := rep.writes
	rep.mu.Unlock()
	if writes >= updates {
		t.Errorf("%d writes for %d updates: the queue did not coalesce", writes, updates)
	}
	t.Logf("%d updates written in %d writes", updates+devices/2, writes)
}

func TestTwoGateways(t *testing.T) {
	js := newJS(t)
	a, _ := startReporter(t, js, Config{GatewayID: "gw-a"})
	b, _ := startReporter(t, js, Config{GatewayID: "gw-b"})
	rd := newReader(t, js, nil)
	ctx := context.Background()
	t0 := time.Now().UTC()

	// One device, one connection on each gateway.
	must(t, a.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 5, ConnectedAt: t0}))
	must(t, b.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", ClientID: "d1:2", Protocol: 5, ConnectedAt: t0.Add(time.Millisecond)}))
	waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if len(st.Connections) != 2 {
			return fmt.Errorf("status = %+v, want a connection on each gateway", st)
		}
		return nil
	})
	must(t, b.Disconnected(ctx, "t-acme", "d1", "d1:2", "the client disconnected", time.Time{}))
	waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if !st.Connected || len(st.Connections) != 1 || st.Gateway != "gw-a" {
			return fmt.Errorf("status = %+v, want still connected on gw-a", st)
		}
		return nil
	})

	// A take-over of client d1 from gw-a to gw-b, where gw-a reports the
	// old connection's end only after gw-b reported the new one.
	must(t, b.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 4, ConnectedAt: t0.Add(time.Second)}))
	waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if st.Gateway != "gw-b" || len(st.Connections) != 1 {
			return fmt.Errorf("status = %+v, want the connection on gw-b only", st)
		}
		return nil
	})
	must(t, a.Disconnected(ctx, "t-acme", "d1", "d1", "session taken over", time.Time{}))
	st := waitStatus(t, rd, "t-acme", "d1", func(st Status) error {
		if st.LastDisconnectReason != "session taken over" {
			return fmt.Errorf("status = %+v, want the take-over recorded", st)
		}
		return nil
	})
	if !st.Connected || st.Gateway != "gw-b" || st.Protocol != 4 {
		t.Errorf("after the take-over: status = %+v, want connected on gw-b", st)
	}
}

func TestDeadGateway(t *testing.T) {
	js := newJS(t)
	rep, _ := startReporter(t, js, Config{GatewayID: "gw-dead", Heartbeat: 2 * time.Second})
	ctx := context.Background()
	must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 5}))
	live := newReader(t, js, nil)
	waitStatus(t, live, "t-acme", "d1", isConnected(true))

	// A reader whose clock is past three heartbeats from the last one.
	later := newReader(t, js, func() time.Time { return time.Now().Add(7 * time.Second) })
	st, err := later.Get(ctx, "t-acme", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Connected || st.LastDisconnectReason != "gateway gw-dead stopped responding" || st.DisconnectedAt == nil || len(st.Connections) != 0 {
		t.Errorf("status seen 7s later = %+v, want disconnected because the gateway stopped responding", st)
	}
	if n, err := later.Counts(ctx, "t-acme"); err != nil || n != 0 {
		t.Errorf("Counts seen 7s later = %d, %v; want 0", n, err)
	}
	if n, err := live.Counts(ctx, "t-acme"); err != nil || n != 1 {
		t.Errorf("Counts now = %d, %v; want 1", n, err)
	}
}

func TestGatewayRestartForgetsOldConnections(t *testing.T) {
	js := newJS(t)
	rd := newReader(t, js, nil)
	ctx := context.Background()

	// A gateway that crashed: its connection stays in the bucket and its
	// heartbeat disappears with the crash.
	old, stop := startReporter(t, js, Config{GatewayID: "gw-1"})
	must(t, old.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 5}))
	waitStatus(t, rd, "t-acme", "d1", isConnected(true))
	stop() // deletes the heartbeat, as a crash makes it stale
	st := waitStatus(t, rd, "t-acme", "d1", isConnected(false))
	if st.LastDisconnectReason != "gateway gw-1 stopped responding" {
		t.Errorf("after the gateway stopped: status = %+v", st)
	}
	// It comes back under the same id: its new heartbeat does not revive
	// the old instance's connection.
	startReporter(t, js, Config{GatewayID: "gw-1"})
	if st, err := rd.Get(ctx, "t-acme", "d1"); err != nil || st.Connected {
		t.Errorf("after the restart: status = %+v, %v; want disconnected", st, err)
	}
}

func TestGatewayRemovesDeadGatewaysConnections(t *testing.T) {
	js := newJS(t)
	rd := newReader(t, js, nil)
	ctx := context.Background()
	a, stopA := startReporter(t, js, Config{GatewayID: "gw-a"})
	must(t, a.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 5}))
	waitStatus(t, rd, "t-acme", "d1", isConnected(true))
	stopA()
	b, _ := startReporter(t, js, Config{GatewayID: "gw-b"})
	must(t, b.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", ClientID: "d1:x", Protocol: 5}))
	must(t, b.Disconnected(ctx, "t-acme", "d1", "d1:x", "the client disconnected", time.Time{}))
	// gw-b's write drops gw-a's stale connection from the stored record.
	kv := bucketOf(t, js)
	checkFor(t, 10*time.Second, func() error {
		st, err := rd.Get(ctx, "t-acme", "d1")
		if err != nil {
			return err
		}
		if st.LastDisconnectReason != "the client disconnected" {
			return fmt.Errorf("status = %+v", st)
		}
		e, err := kv.Get(ctx, DeviceKey("t-acme", "d1"))
		if err != nil {
			return err
		}
		if strings.Contains(string(e.Value()), `"gw-a"`) && strings.Contains(string(e.Value()), `"connections"`) {
			return fmt.Errorf("stored record still lists gw-a's connection: %s", e.Value())
		}
		return nil
	})
}

func TestTenantIsolation(t *testing.T) {
	js := newJS(t)
	rep, _ := startReporter(t, js, Config{GatewayID: "gw-1"})
	rd := newReader(t, js, nil)
	ctx := context.Background()
	// The same device id in two tenants, one tenant id a prefix of the other.
	must(t, rep.Connected(ctx, Status{TenantID: "t-a", DeviceID: "d1", Protocol: 5, RemoteAddr: "10.0.0.1:1"}))
	must(t, rep.Connected(ctx, Status{TenantID: "t-ab", DeviceID: "d1", Protocol: 4, RemoteAddr: "10.0.0.2:2"}))
	must(t, rep.Connected(ctx, Status{TenantID: "t-ab", DeviceID: "d2", Protocol: 4}))
	waitStatus(t, rd, "t-ab", "d2", isConnected(true))
	waitStatus(t, rd, "t-a", "d1", isConnected(true))
	must(t, rep.Disconnected(ctx, "t-a", "d1", "d1", "the client disconnected", time.Time{}))
	waitStatus(t, rd, "t-a", "d1", isConnected(false))

	st := waitStatus(t, rd, "t-ab", "d1", isConnected(true))
	if st.TenantID != "t-ab" || st.RemoteAddr != "10.0.0.2:2" {
		t.Errorf("t-ab/d1 = %+v", st)
	}
	if DeviceKey("t-a", "d1") == DeviceKey("t-ab", "d1") {
		t.Error("two tenants share a key")
	}
	if _, err := rd.Get(ctx, "t-a", "d2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("t-a/d2: err = %v, want ErrNotFound (d2 belongs to t-ab)", err)
	}
	for tid, want := range map[string]int{"t-a": 0, "t-ab": 2, "t-other": 0} {
		if n, err := rd.Counts(ctx, tid); err != nil || n != want {
			t.Errorf("Counts(%s) = %d, %v; want %d", tid, n, err, want)
		}
	}
	got, err := rd.List(ctx, "t-ab", []string{"d1", "d2", "d3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["d1"].Connected || !got["d2"].Connected {
		t.Errorf("List(t-ab) = %+v, want d1 and d2 connected", got)
	}
}

func TestQueueOverflowResynchronises(t *testing.T) {
	js := newJS(t)
	rep, err := NewReporter(js, Config{GatewayID: "gw-1", QueueSize: 3, Workers: 1}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Before Run, nothing drains: 20 devices overflow a queue of 3.
	for i := range 20 {
		must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: fmt.Sprintf("d%d", i), Protocol: 5}))
	}
	rep.mu.Lock()
	queued, dropped := len(rep.queue), rep.dropped
	rep.mu.Unlock()
	if queued != 3 || dropped != 17 {
		t.Fatalf("queued %d, dropped %d; want 3 and 17", queued, dropped)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	rd := newReader(t, js, nil)
	checkFor(t, 10*time.Second, func() error {
		if n, err := rd.Counts(ctx, "t-acme"); err != nil || n != 20 {
			return fmt.Errorf("Counts = %d, %v; want 20", n, err)
		}
		return nil
	})
}

func TestBadIDsRefused(t *testing.T) {
	js := newJS(t)
	rep, err := NewReporter(js, Config{GatewayID: "gw-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := newReader(t, js, nil)
	ctx := context.Background()
	tests := []struct {
		name string
		s    Status
	}{
		{"empty tenant", Status{DeviceID: "d1", Protocol: 5}},
		{"upper-case tenant", Status{TenantID: "T-ACME", DeviceID: "d1", Protocol: 5}},
		{"tenant with a dot", Status{TenantID: "t.acme", DeviceID: "d1", Protocol: 5}},
		{"device with a dot", Status{TenantID: "t-acme", DeviceID: "d.1", Protocol: 5}},
		{"device with a wildcard", Status{TenantID: "t-acme", DeviceID: "*", Protocol: 5}},
		{"empty device", Status{TenantID: "t-acme", Protocol: 5}},
		{"client id of another device", Status{TenantID: "t-acme", DeviceID: "d1", ClientID: "d2", Protocol: 5}},
	}
	for _, tt := range tests {
		if err := rep.Connected(ctx, tt.s); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%s: Connected(%+v) = %v, want ErrInvalidID", tt.name, tt.s, err)
		}
		if _, err := rd.Get(ctx, tt.s.TenantID, tt.s.DeviceID); tt.s.ClientID == "" && !errors.Is(err, ErrInvalidID) {
			t.Errorf("%s: Get = %v, want ErrInvalidID", tt.name, err)
		}
	}
	if err := rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "d1", Protocol: 6}); err == nil {
		t.Error("Connected with protocol level 6 succeeded")
	}
	if err := rep.Disconnected(ctx, "t-acme", "d1", "d2:x", "bye", time.Time{}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Disconnected with another device's client id = %v, want ErrInvalidID", err)
	}
	if _, err := rd.List(ctx, "t-acme", []string{"ok", "not ok"}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("List with a bad device id = %v, want ErrInvalidID", err)
	}
	if _, err := rd.Counts(ctx, "t.>"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Counts(t.>) = %v, want ErrInvalidID", err)
	}
	for _, gw := range []string{"", "gw.1", "gw>", strings.Repeat("g", 65)} {
		if _, err := NewReporter(js, Config{GatewayID: gw}, nil); !errors.Is(err, ErrInvalidID) {
			t.Errorf("NewReporter(gateway %q) = %v, want ErrInvalidID", gw, err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReporter measures Connected+Disconnected pairs through a running
// reporter, including the time to write the final state of every device.
func BenchmarkReporter(b *testing.B) {
	js := newJS(b)
	rep, _ := startReporter(b, js, Config{GatewayID: "gw-bench"})
	ctx := context.Background()
	const devices = 1000
	dids := make([]string, devices)
	for i := range dids {
		dids[i] = fmt.Sprintf("dev-%d", i)
	}
	b.ResetTimer()
	for i := range b.N {
		did := dids[i%devices]
		if err := rep.Connected(ctx, Status{TenantID: "t-bench", DeviceID: did, Protocol: 5}); err != nil {
			b.Fatal(err)
		}
		if err := rep.Disconnected(ctx, "t-bench", did, "", "the client disconnected", time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	checkFor(b, time.Minute, func() error {
		rep.mu.Lock()
		defer rep.mu.Unlock()
		if len(rep.queue) > 0 || len(rep.inflight) > 0 {
			return fmt.Errorf("%d devices still queued", len(rep.queue))
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkReporterHotPath measures what a connection pays on the MQTT
// path: a Connected and a Disconnected call from many goroutines, with no
// writer running (the queue coalesces per device, so it stays bounded).
func BenchmarkReporterHotPath(b *testing.B) {
	rep, err := NewReporter(newJS(b), Config{GatewayID: "gw-bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const devices = 1000
	dids := make([]string, devices)
	for i := range dids {
		dids[i] = fmt.Sprintf("dev-%d", i)
	}
	var next sync.Mutex
	n := 0
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		i := n
		n++
		next.Unlock()
		for pb.Next() {
			did := dids[i%devices]
			i += 7
			if err := rep.Connected(ctx, Status{TenantID: "t-bench", DeviceID: did, Protocol: 5}); err != nil {
				b.Error(err)
				return
			}
			if err := rep.Disconnected(ctx, "t-bench", did, "", "the client disconnected", time.Time{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// TestWritePacing: device writes are paced at MaxWritesPerSecond (default
// DefaultMaxWritesPerSecond, bursts of a tenth of a second's worth), or
// not at all when it is negative.
func TestWritePacing(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	for _, c := range []struct {
		max         int
		limit       float64
		burst       int
		unpacedWant bool
	}{
		{0, DefaultMaxWritesPerSecond, DefaultMaxWritesPerSecond / 10, false},
		{50, 50, 5, false},
		{5, 5, 1, false},
		{-1, 0, 0, true},
	} {
		r, err := NewReporter(js, Config{GatewayID: "gw-1", MaxWritesPerSecond: c.max}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.unpacedWant {
			if r.pace != nil {
				t.Errorf("max_writes_per_second %d: paced at %v, want no pacing", c.max, r.pace.Limit())
			}
			continue
		}
		if r.pace == nil || float64(r.pace.Limit()) != c.limit || r.pace.Burst() != c.burst {
			t.Errorf("max_writes_per_second %d: pace %v, want %v/s in bursts of %d", c.max, r.pace, c.limit, c.burst)
		}
	}
}
