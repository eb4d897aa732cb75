package keycache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth/keycache"
	"github.com/flockmq/flockmq/pkg/tenant"
)

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemoryPerDevice loads 100k devices (10 tenants of 10k) through
// a real bucket and reports the heap the Cache retains per device: the
// heap with the loaded cache minus the heap once it is dropped, so the
// embedded NATS server's own memory cancels out. "tagged" devices carry two
// tags and one metadata entry.
//
// Run: go test -run '^$' -bench MemoryPerDevice -benchtime 1x ./pkg/auth/keycache
func BenchmarkMemoryPerDevice(b *testing.B) {
	for _, tagged := range []bool{false, true} {
		b.Run(fmt.Sprintf("tagged=%v", tagged), func(b *testing.B) {
			const tenants, perTenant = 10, 10_000
			srv := natstest.Start(b)
			_, js := connect(b, srv.ClientURL())
			createBucket(b, js)
			ctx := context.Background()
			for ti := range tenants {
				tid := fmt.Sprintf("t-%08d", ti)
				for di := range perTenant {
					d := device(tid, fmt.Sprintf("device-%06d", di))
					if tagged {
						d.Tags = map[string]string{"site": "plant-3", "model": "th-200"}
						d.Metadata = map[string]string{"firmware": "1.4.2"}
					}
					v, err := json.Marshal(d)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := js.PublishAsync("$KV."+tenant.ConfigBucket+"."+tenant.DeviceKey(tid, d.ID), v); err != nil {
						b.Fatal(err)
					}
					if di%1000 == 999 {
						awaitPublished(b, js)
					}
				}
			}
			awaitPublished(b, js)
			b.ResetTimer()
			for range b.N {
				c, err := keycache.New(keycache.Config{}, keycache.Deps{JetStream: js})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := c.Start(ctx); err != nil {
					b.Fatal(err)
				}
				waitReadyWithin(b, c, time.Minute)
				load := time.Since(start)
				if n := c.Stats().Devices; n != tenants*perTenant {
					b.Fatalf("cached %d devices, want %d", n, tenants*perTenant)
				}
				c.Close()
				with := heapInUse()
				runtime.KeepAlive(c)
				c = nil
				without := heapInUse()
				b.ReportMetric(float64(with-without)/float64(tenants*perTenant), "bytes/device")
				b.ReportMetric(load.Seconds(), "load-s")
			}
		})
	}
}

func awaitPublished(b *testing.B, js jetstream.JetStream) {
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing the devices did not complete within a minute")
	}
}

func waitReadyWithin(t testing.TB, c *keycache.Cache, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}
