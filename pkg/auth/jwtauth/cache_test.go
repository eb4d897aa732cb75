package jwtauth

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func hashOf(i int) tokenHash { return sha256.Sum256(fmt.Appendf(nil, "token-%d", i)) }

// TestTokenCacheBounded checks the cache never holds more than its size
// and keeps the tokens in use.
func TestTokenCacheBounded(t *testing.T) {
	const size = 320 // 10 per generation per shard
	c := newTokenCache(size)
	hot := hashOf(-1)
	c.put(hot, &verified{sub: "hot"})
	for i := range 10 * size {
		c.put(hashOf(i), &verified{})
		if _, ok := c.get(hot); !ok {
			t.Fatalf("after %d insertions the token in use was evicted", i+1)
		}
		if n := c.len(); n > size {
			t.Fatalf("after %d insertions the cache holds %d entries, more than %d", i+1, n, size)
		}
	}
	if _, ok := c.get(hashOf(0)); ok {
		t.Error("the first, idle token is still cached after 10 times the cache size of insertions")
	}
	v, ok := c.get(hashOf(10*size - 1))
	if !ok || v == nil {
		t.Error("the latest token is not cached")
	}
	c.remove(hot)
	if _, ok := c.get(hot); ok {
		t.Error("a removed token is still cached")
	}
	if newTokenCache(0) != nil || newTokenCache(-1) != nil {
		t.Error("newTokenCache(<= 0) is not nil (disabled)")
	}
}

// BenchmarkTokenCacheMemory reports the heap a full cache holds per
// remembered token (device id and jti as the control plane issues them).
//
// Run: go test -run '^$' -bench TokenCacheMemory -benchtime 1x ./pkg/auth/jwtauth
func BenchmarkTokenCacheMemory(b *testing.B) {
	const n = 100_000
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range b.N {
		before := heap()
		c := newTokenCache(n)
		exp := time.Now().Add(time.Hour)
		for i := range n {
			c.put(hashOf(i), &verified{
				sub: fmt.Sprintf("device-%06d", i),
				jti: fmt.Sprintf("%026d", i),
				exp: exp, iat: exp.Add(-time.Hour),
			})
		}
		entries := c.len()
		after := heap()
		runtime.KeepAlive(c)
		b.ReportMetric(float64(after-before)/float64(entries), "bytes/token")
		b.ReportMetric(float64(entries), "tokens")
	}
}
