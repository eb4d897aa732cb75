package limits

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// unlimited never refuses, so the benchmarks measure the allowed path.
var unlimited = tenant.Quotas{MaxMessagesPerSecond: 1 << 50, MaxBytesPerSecond: 1 << 60}

func benchLimits(b *testing.B) *Limits {
	var ov overrides
	ov.Set("acme", unlimited)
	return newLimits(b, Config{}, Deps{Overrides: ov.Get})
}

// BenchmarkAllowPublish is the per-PUBLISH check on one tenant, from all
// cores at once (the worst case: every publisher of one tenant contending).
func BenchmarkAllowPublish(b *testing.B) {
	tn := benchLimits(b).For("acme")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tn.AllowPublish("c1", 128) != mqtt.Success {
				b.Error("refused")
			}
		}
	})
}

// BenchmarkAllowPublishTenants spreads the same load over 64 tenants.
func BenchmarkAllowPublishTenants(b *testing.B) {
	var ov overrides
	l := newLimits(b, Config{}, Deps{Overrides: ov.Get})
	ts := make([]*Tenant, 64)
	for i := range ts {
		id := "t-" + strconv.Itoa(i)
		ov.Set(id, unlimited)
		ts[i] = l.For(id)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tn := ts[next.Add(1)%int64(len(ts))]
		for pb.Next() {
			if tn.AllowPublish("c1", 128) != mqtt.Success {
				b.Error("refused")
			}
		}
	})
}

// BenchmarkAllowPublishRefused is the cost of a refusal whose log line is
// suppressed, as during a flood.
func BenchmarkAllowPublishRefused(b *testing.B) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 1})
	l := newLimits(b, Config{}, Deps{Overrides: ov.Get})
	tn := l.For("acme")
	tn.AllowPublish("c1", 1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tn.AllowPublish("c1", 1)
		}
	})
}

// BenchmarkFor is the tenant lookup of an existing tenant.
func BenchmarkFor(b *testing.B) {
	l := benchLimits(b)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "t-" + strconv.Itoa(i)
		l.For(ids[i])
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		for pb.Next() {
			i++
			if l.For(ids[i%len(ids)]) == nil {
				b.Error("nil tenant")
			}
		}
	})
}

// BenchmarkRateLimiter is golang.org/x/time/rate doing the same two
// checks (messages and bytes), for comparison with the GCRA buckets: its
// mutex makes it several times slower under parallel load.
func BenchmarkRateLimiter(b *testing.B) {
	msgs := rate.NewLimiter(rate.Limit(1<<40), 1<<30)
	bytes := rate.NewLimiter(rate.Limit(1<<50), 1<<40)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			if !msgs.AllowN(now, 1) || !bytes.AllowN(now, 128) {
				b.Error("refused")
			}
		}
	})
}

// BenchmarkNewTenant is the first use of a tenant; its B/op is what a
// Tenant costs in memory.
func BenchmarkNewTenant(b *testing.B) {
	l := benchLimits(b)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "t-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.For(ids[i])
	}
}
