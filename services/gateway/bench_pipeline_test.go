package gateway_test

import (
	"bufio"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// BenchmarkPublishDeliverFanIn measures QoS 1 fan-in through one gateway:
// publishers, each keeping a window of unacknowledged messages within the
// server's Receive Maximum (as flockctl bench does), to one QoS 1
// subscriber; b.N messages in all. go test -run '^$' -bench
// PublishDeliverFanIn -benchtime 20000x ./services/gateway/
func BenchmarkPublishDeliverFanIn(b *testing.B) {
	for _, pubs := range []int{1, 8} {
		b.Run(fmt.Sprintf("pubs%d", pubs), func(b *testing.B) {
			const window = 256
			g := startGateway(b)
			sub := connectClient(b, g, mqtt.V5, "bench-sub", true)
			sub.subscribe(1, mqtt.Subscription{Filter: "bench/#", QoS: 1})
			clients := make([]*client, pubs)
			for i := range clients {
				clients[i] = connectClient(b, g, mqtt.V5, "bench-pub-"+strconv.Itoa(i), true)
			}
			payload := make([]byte, 128)
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 2*pubs)
			for i, pub := range clients {
				n := b.N / pubs
				if i < b.N%pubs {
					n++
				}
				sem := make(chan struct{}, window)
				wg.Go(func() {
					// Drain the PUBACKs, freeing the window.
					for range n {
						p, err := pub.readErr(30 * time.Second)
						if err != nil {
							errs <- fmt.Errorf("publisher %d: %w", i, err)
							return
						}
						if a, ok := p.(*mqtt.Puback); !ok || a.ReasonCode != mqtt.Success {
							errs <- fmt.Errorf("publisher %d: got %v, want a PUBACK", i, p)
							return
						}
						<-sem
					}
				})
				wg.Go(func() {
					w := bufio.NewWriterSize(pub.nc, 64<<10)
					var buf []byte
					topic := "bench/" + strconv.Itoa(i)
					for j := range n {
						select {
						case sem <- struct{}{}:
						default:
							w.Flush() // the window is full: let the gateway see what is buffered
							sem <- struct{}{}
						}
						buf, _ = mqtt.Append(buf[:0], &mqtt.Publish{Topic: topic, QoS: 1, PacketID: uint16(j%65535 + 1), Payload: payload}, mqtt.V5)
						w.Write(buf)
					}
					w.Flush()
				})
			}
			for i := range b.N {
				p, err := sub.readErr(30 * time.Second)
				if err != nil {
					b.Fatalf("subscriber after %d messages: %v", i, err)
				}
				if pp, ok := p.(*mqtt.Publish); ok && pp.QoS == 1 {
					ack, _ := mqtt.Append(nil, &mqtt.Puback{PacketID: pp.PacketID}, mqtt.V5)
					sub.nc.Write(ack)
				}
			}
			elapsed := time.Since(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
		})
	}
}
