package gateway_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// BenchmarkQuietTenantLatency measures one tenant's publish-to-delivery
// latency alone and next to a noisy tenant whose publishers flood as fast as
// they can (and are cut off at their quota, then reconnect and flood again):
//
//	go test -run '^$' -bench QuietTenantLatency -benchtime 2000x ./services/gateway/
//
// It reports p50 and p99 in microseconds; compare the two sub-benchmarks.
func BenchmarkQuietTenantLatency(b *testing.B) {
	for _, noisy := range []bool{false, true} {
		name := "alone"
		if noisy {
			name = "beside-noisy-tenant"
		}
		b.Run(name, func(b *testing.B) {
			g := startQuotaGateway(b, map[string]tenant.Quotas{
				"noisy": {MaxMessagesPerSecond: 20000, MaxBytesPerSecond: 1 << 30},
				"quiet": {MaxMessagesPerSecond: 1 << 30, MaxBytesPerSecond: 1 << 30},
			})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			if noisy {
				sink := connectClient(b, g, mqtt.V5, "noisy-sink", true, withUsername("noisy"))
				sink.subscribe(1, mqtt.Subscription{Filter: "flood/#"})
				wg.Go(func() { drain(ctx, sink.nc) })
				for i := range 4 {
					wg.Go(func() { flood(ctx, g.addr, "noisy-"+strconv.Itoa(i)) })
				}
			}
			sub := connectClient(b, g, mqtt.V5, "quiet-sub", true, withUsername("quiet"))
			sub.subscribe(1, mqtt.Subscription{Filter: "q/t", QoS: 1})
			pub := connectClient(b, g, mqtt.V5, "quiet-pub", true, withUsername("quiet"))
			lat := make([]time.Duration, 0, b.N)
			payload := make([]byte, 16)
			b.ResetTimer()
			for i := range b.N {
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				pub.send(&mqtt.Publish{Topic: "q/t", QoS: 1, PacketID: uint16(i%65535 + 1), Payload: payload})
				for {
					p := sub.read()
					m, ok := p.(*mqtt.Publish)
					if !ok {
						continue
					}
					lat = append(lat, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(m.Payload)))))
					sub.send(&mqtt.Puback{PacketID: m.PacketID})
					break
				}
				pub.expectType(mqtt.PUBACK)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// flood publishes QoS 0 messages as fast as it can as a client of tenant
// "noisy", reconnecting whenever the gateway cuts it off, until ctx ends.
func flood(ctx context.Context, addr, clientID string) {
	payload := make([]byte, 256)
	for ctx.Err() == nil {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { nc.Close() })
		w := bufio.NewWriterSize(nc, 64<<10)
		buf, _ := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, CleanStart: true, ClientID: clientID,
			Username: "noisy", UsernameSet: true}, mqtt.V5)
		w.Write(buf)
		go drain(ctx, nc)
		for err == nil && ctx.Err() == nil {
			buf, _ = mqtt.Append(buf[:0], &mqtt.Publish{Topic: "flood/" + clientID, Payload: payload}, mqtt.V5)
			_, err = w.Write(buf)
		}
		stop()
		nc.Close()
	}
}

// drain reads and discards until the connection closes.
func drain(ctx context.Context, nc net.Conn) {
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}
