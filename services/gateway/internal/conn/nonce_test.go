package conn

import (
	"testing"
	"time"
)

// TestNonceTime: a nonce carries the second it was made in, is never 0,
// and a nonce without a plausible time (a random one, as older gateways
// made) is recognised as such.
func TestNonceTime(t *testing.T) {
	now := time.Unix(1_790_000_000, 500)
	seen := map[uint64]bool{}
	for range 100 {
		n := newNonce(now)
		if n == 0 {
			t.Fatal("newNonce returned 0")
		}
		seen[n] = true
		at, ok := nonceTime(n, now.Add(time.Minute))
		if !ok || !at.Equal(time.Unix(now.Unix(), 0)) {
			t.Fatalf("nonceTime(%x) = %v, %v; want %v", n, at, ok, time.Unix(now.Unix(), 0))
		}
	}
	if len(seen) < 90 {
		t.Errorf("%d distinct nonces in 100 made in one second", len(seen))
	}
	for _, n := range []uint64{1, 0xffff_ffff_ffff_ffff, 12345678901234567} {
		if at, ok := nonceTime(n, now); ok {
			t.Errorf("nonceTime(%x) = %v, want no time", n, at)
		}
	}
}
