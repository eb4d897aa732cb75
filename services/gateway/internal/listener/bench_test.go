package listener

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkAcceptTCP measures connections per second through Serve: each
// client dials, the handler closes the connection at once, the client reads
// the EOF.
func BenchmarkAcceptTCP(b *testing.B) {
	closeAtOnce := HandlerFunc(func(_ context.Context, c net.Conn) { c.Close() })
	l := startListener(b, Config{Name: "bench", Kind: KindTCP}, nil, closeAtOnce)
	addr := l.Addr().String()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 1)
		for pb.Next() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Read(buf); err != io.EOF {
				b.Errorf("read = %v, want EOF", err)
			}
			c.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}
