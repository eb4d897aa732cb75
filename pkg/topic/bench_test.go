package topic

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchTree is built once: a tree of a million realistic subscriptions.
var benchTree = sync.OnceValue(func() *Tree[uint32] {
	var tr Tree[uint32]
	for i := range 1_000_000 {
		tr.Add(scaleFilter(i), uint32(i))
	}
	return &tr
})

// benchNames are topic names of the shapes the scale filters match, and of
// some that match nothing.
func benchNames() []string {
	names := make([]string, 0, 1024)
	for i := range 1024 {
		id := (i * 7919) % 1_000_000
		switch i % 4 {
		case 0:
			names = append(names, fmt.Sprintf("devices/%07d/sensor/telemetry/temp", id))
		case 1:
			names = append(names, fmt.Sprintf("tenant/acme/device/%07d/status", id))
		case 2:
			names = append(names, fmt.Sprintf("fleet/%d/north/alerts", id%1000))
		default:
			names = append(names, fmt.Sprintf("devices/%07d/unknown", 2_000_000+id))
		}
	}
	return names
}

func BenchmarkTreeMatch1M(b *testing.B) {
	tr := benchTree()
	names := benchNames()
	dst := make([]uint32, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dst = tr.Match(names[i%len(names)], dst[:0])
	}
}

func BenchmarkTreeMatch1MParallel(b *testing.B) {
	tr := benchTree()
	names := benchNames()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]uint32, 0, 64)
		for i := 0; pb.Next(); i++ {
			dst = tr.Match(names[i%len(names)], dst[:0])
		}
	})
}

func BenchmarkTreeMatchFilters1M(b *testing.B) {
	tr := benchTree()
	names := benchNames()
	dst := make([]string, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dst = tr.MatchFilters(names[i%len(names)], dst[:0])
	}
}

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Match("devices/+/+/telemetry/#", "devices/0000042/sensor/telemetry/temp")
	}
}

// BenchmarkTreeAddRemove1M adds a million subscriptions, then removes them,
// and reports the rates and the heap the tree holds per subscription. The
// filter strings are allocated beforehand, as a caller's would be, so B/sub
// is the tree's own cost on top of them; filter-B/sub is their mean length.
func BenchmarkTreeAddRemove1M(b *testing.B) {
	const n = 1_000_000
	filters := make([]string, n)
	filterBytes := 0
	for i := range filters {
		filters[i] = scaleFilter(i)
		filterBytes += len(filters[i])
	}
	var addNs, removeNs, perSub float64
	for b.Loop() {
		runtime.GC()
		var before, full, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var tr Tree[uint32]
		start := nanotime()
		for i, f := range filters {
			tr.Add(f, uint32(i))
		}
		addNs += float64(nanotime()-start) / n
		runtime.GC()
		runtime.ReadMemStats(&full)
		start = nanotime()
		for i, f := range filters {
			tr.Remove(f, uint32(i))
		}
		removeNs += float64(nanotime()-start) / n
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tr.Len() != 0 || tr.nodes != 0 {
			b.Fatalf("emptied tree has Len %d and %d nodes", tr.Len(), tr.nodes)
		}
		perSub += (float64(full.HeapAlloc) - float64(before.HeapAlloc)) / n
		if left := int64(after.HeapAlloc) - int64(before.HeapAlloc); left > 1<<20 {
			b.Fatalf("emptied tree still holds %d heap bytes", left)
		}
		runtime.KeepAlive(&tr)
	}
	b.ReportMetric(addNs/float64(b.N), "ns/add")
	b.ReportMetric(removeNs/float64(b.N), "ns/remove")
	b.ReportMetric(perSub/float64(b.N), "B/sub")
	b.ReportMetric(float64(filterBytes)/n, "filter-B/sub")
}

func nanotime() int64 { return time.Now().UnixNano() }

// BenchmarkTreeMatch1MWithWriter matches in parallel while one goroutine
// keeps adding and removing subscriptions, and reports the writer's rate.
func BenchmarkTreeMatch1MWithWriter(b *testing.B) {
	tr := benchTree()
	names := benchNames()
	stop := make(chan struct{})
	var writes int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := fmt.Sprintf("devices/%07d/+/telemetry/#", 2_000_000+i%10_000)
			tr.Add(f, uint32(i))
			tr.Remove(f, uint32(i))
			writes += 2
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]uint32, 0, 64)
		for i := 0; pb.Next(); i++ {
			dst = tr.Match(names[i%len(names)], dst[:0])
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(writes)/time.Since(start).Seconds(), "writes/s")
}
