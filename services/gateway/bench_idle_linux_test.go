package gateway_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/gateway"
)

var (
	idleConns       = flag.Int("idle.conns", 2000, "BenchmarkIdleConnections: connections held per iteration")
	idleHeapProfile = flag.String("idle.heapprofile", "", "BenchmarkIdleConnections: write a heap profile (every allocation sampled) taken while the connections are held to this file")
)

// BenchmarkIdleConnections reports what one idle MQTT connection costs the
// gateway process: live heap, goroutine stacks and goroutines per
// connection, and the growth of the resident set (which also holds the
// garbage collector's headroom). The gateway runs as flockd runs it, with
// quotas and presence reporting, against a real embedded NATS server; the
// clients are raw sockets made with system calls, so the process's Go
// memory is the server side's alone. Run it with
//
//	go test -run '^$' -bench IdleConnections -benchtime 1x ./services/gateway/
//
// (-idle.conns=15000 for the scale, -idle.heapprofile=h.pb.gz for
// where the heap goes).
func BenchmarkIdleConnections(b *testing.B) {
	if *idleHeapProfile != "" {
		runtime.MemProfileRate = 1
	}
	g := startGatewaysDeps(b, 1, memstore.New(), func(d *gateway.Deps) {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
		js, err := jetstream.New(d.NATS)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := presence.NewReporter(js, presence.Config{GatewayID: "gw1"}, d.Logger)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = rep.Run(ctx) })
		b.Cleanup(func() { cancel(); wg.Wait() })
		d.Presence = rep
		lim, err := gateway.NewLimits(gateway.LimitsConfig{GatewayID: "gw1"}, gateway.LimitsDeps{
			Logger:    d.Logger,
			Overrides: func(string) (tenant.Quotas, bool) { return tenant.Quotas{MaxConnections: 1 << 20}, true },
		})
		if err != nil {
			b.Fatal(err)
		}
		d.Limits = lim
	})[0]
	addr, err := net.ResolveTCPAddr("tcp", g.addr)
	if err != nil {
		b.Fatal(err)
	}
	n := *idleConns
	var last idleCost
	for b.Loop() {
		last = measureIdle(b, g, addr, n)
	}
	b.ReportMetric(last.heap, "heap-B/conn")
	b.ReportMetric(last.stack, "stack-B/conn")
	b.ReportMetric(last.heap+last.stack, "go-B/conn")
	b.ReportMetric(last.rss, "rss-B/conn")
	b.ReportMetric(last.goroutines, "goroutines/conn")
}

// idleCost is the growth per connection of one measurement.
type idleCost struct{ heap, stack, rss, goroutines float64 }

// measureIdle opens n idle connections, measures the growth and closes them.
func measureIdle(tb testing.TB, g *testGateway, addr *net.TCPAddr, n int) idleCost {
	tb.Helper()
	before := settledMemory(tb)
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
		checkFor(tb, 30*time.Second, func() error {
			if got := g.srv.Connections(); got != 0 {
				return fmt.Errorf("%d connections still served", got)
			}
			return nil
		})
	}()
	for i := range n {
		fds = append(fds, rawConnect(tb, addr, "idle-"+strconv.Itoa(i)))
	}
	checkFor(tb, 30*time.Second, func() error {
		if got := g.srv.Connections(); got != n {
			return fmt.Errorf("%d connections served, want %d", got, n)
		}
		return nil
	})
	after := settledMemory(tb)
	if *idleHeapProfile != "" {
		f, err := os.Create(*idleHeapProfile)
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			tb.Fatal(err)
		}
		_ = f.Close()
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	return idleCost{
		heap:       per(after.HeapAlloc, before.HeapAlloc),
		stack:      per(after.StackInuse, before.StackInuse),
		rss:        per(after.rss, before.rss),
		goroutines: per(after.goroutines, before.goroutines),
	}
}

type memory struct {
	runtime.MemStats
	rss, goroutines uint64
}

// settledMemory waits for the goroutine count to stop changing (handshake
// goroutines and writers ending), collects garbage and reads the memory
// statistics.
func settledMemory(tb testing.TB) memory {
	tb.Helper()
	prev := -1
	checkFor(tb, 30*time.Second, func() error {
		cur := runtime.NumGoroutine()
		if cur != prev {
			prev = cur
			return fmt.Errorf("%d goroutines, still changing", cur)
		}
		return nil
	})
	runtime.GC()
	runtime.GC()
	var m memory
	runtime.ReadMemStats(&m.MemStats)
	m.goroutines = uint64(runtime.NumGoroutine())
	m.rss = readRSS(tb)
	return m
}

// readRSS returns the process's resident set size.
func readRSS(tb testing.TB) uint64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// rawConnect opens a blocking socket with system calls (no Go runtime
// state per client), sends an MQTT 3.1.1 CONNECT and reads the CONNACK.
func rawConnect(tb testing.TB, addr *net.TCPAddr, clientID string) int {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		_ = syscall.Close(fd)
		tb.Fatalf("connect: %v", err)
	}
	pkt, err := mqtt.Append(nil, &mqtt.Connect{Version: mqtt.V311, ProtocolName: "MQTT", ClientID: clientID, CleanStart: true, KeepAlive: 300}, mqtt.V311)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := syscall.Write(fd, pkt); err != nil {
		tb.Fatalf("write CONNECT: %v", err)
	}
	var ack [4]byte
	for got := 0; got < len(ack); {
		m, err := syscall.Read(fd, ack[got:])
		if err != nil || m == 0 {
			tb.Fatalf("read CONNACK: %d bytes, %v", got, err)
		}
		got += m
	}
	if ack != [4]byte{0x20, 0x02, 0x00, 0x00} {
		tb.Fatalf("CONNACK % x, want 20 02 00 00", ack)
	}
	return fd
}
