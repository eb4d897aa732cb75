package jwtauth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// reportCPU reports the process CPU time per operation since cpu0 and the
// rate two fully available cores would sustain at that cost: on a shared
// machine the wall-clock rate understates what the code can do.
func reportCPU(b *testing.B, cpu0 time.Duration, rateUnit string) {
	cpu1, ok := processCPU()
	if !ok || b.N == 0 {
		return
	}
	per := float64(cpu1-cpu0) / float64(b.N)
	b.ReportMetric(per/1e3, "cpu-µs/op")
	b.ReportMetric(2e9/per, rateUnit)
}

// BenchmarkAuthenticate measures CONNECT authentications per second
// against a keycache.Cache over embedded NATS, on all cores
// (b.RunParallel):
//
//   - verify: the token cache is off, so every CONNECT checks a signature;
//   - cached: 1000 distinct tokens presented again and again (a reconnect
//     storm), so the signature check is skipped and only the claims,
//     revocations and device state are checked.
//
// Run: go test -run '^$' -bench Authenticate -benchtime 2s ./pkg/auth/jwtauth
func BenchmarkAuthenticate(b *testing.B) {
	ks := newCacheSource(b, fixture(b))
	for _, alg := range []tenant.Algorithm{tenant.ES256, tenant.EdDSA, tenant.RS256} {
		kid := map[tenant.Algorithm]string{tenant.ES256: "pk_es", tenant.EdDSA: "pk_ed", tenant.RS256: "pk_rs"}[alg]
		tokens := make([][]byte, 1000)
		for i := range tokens {
			c := claims("dev-1")
			c.ID = fmt.Sprintf("jti-%d", i)
			tokens[i] = []byte(sign(b, alg, kid, c))
		}
		for _, mode := range []struct {
			name  string
			cache int
		}{{"verify", -1}, {"cached", 0}} {
			b.Run(fmt.Sprintf("%s/%s", mode.name, alg), func(b *testing.B) {
				v := newVerifier(b, ks, jwtauth.Config{CacheSize: mode.cache})
				var next atomic.Uint64
				b.ReportAllocs()
				cpu0, _ := processCPU()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						tok := tokens[next.Add(1)%uint64(len(tokens))]
						if _, err := v.Authenticate(context.Background(), auth.Request{ClientID: "dev-1", Password: tok}); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
				reportCPU(b, cpu0, "connects/s@2cpu")
			})
		}
	}
}

// BenchmarkSignature measures the bare signature check of each algorithm
// on all cores, the floor under BenchmarkAuthenticate/verify: the
// difference is parsing and the configuration look-ups.
//
// Run: go test -run '^$' -bench Signature -benchtime 2s ./pkg/auth/jwtauth
func BenchmarkSignature(b *testing.B) {
	s := keysForTest(b)
	for _, alg := range []tenant.Algorithm{tenant.ES256, tenant.EdDSA, tenant.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			tok := sign(b, alg, "pk_x", claims("dev-1"))
			i := strings.LastIndexByte(tok, '.')
			sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
			if err != nil {
				b.Fatal(err)
			}
			m := jwt.GetSigningMethod(string(alg))
			pub := s.of(alg).Public()
			cpu0, _ := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := m.Verify(tok[:i], sig, pub); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
			reportCPU(b, cpu0, "verifies/s@2cpu")
		})
	}
}
