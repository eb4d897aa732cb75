package gateway_test

import (
	"bufio"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// BenchmarkPublishDeliver measures one publisher to one subscriber through
// one gateway, embedded NATS and JetStream included: go test -run '^$'
// -bench PublishDeliver -benchtime 2000x ./services/gateway/. The
// persistent case records the subscriber's stream position as it goes
// (its filter takes two NATS subscriptions, so each record waits for
// both: ADR 0002).
func BenchmarkPublishDeliver(b *testing.B) {
	for _, tc := range []struct {
		name       string
		qos        mqtt.QoS
		persistent bool
	}{{"qos0", 0, false}, {"qos1", 1, false}, {"qos1-persistent", 1, true}} {
		qos := tc.qos
		b.Run(tc.name, func(b *testing.B) {
			g := startGateway(b)
			sub := connectClient(b, g, mqtt.V5, "bench-sub", !tc.persistent, func(c *mqtt.Connect) {
				if tc.persistent {
					c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true
				}
			})
			sub.subscribe(1, mqtt.Subscription{Filter: "bench/#", QoS: qos})
			pub := connectClient(b, g, mqtt.V5, "bench-pub", true)
			payload := make([]byte, 128)
			acks := make(chan error, 1)
			go func() {
				// Drain the publisher's PUBACKs.
				for range b.N * int(qos) {
					if _, err := pub.readErr(30e9); err != nil {
						acks <- err
						return
					}
				}
				acks <- nil
			}()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			go func() {
				w := bufio.NewWriterSize(pub.nc, 64<<10)
				var buf []byte
				for i := range b.N {
					buf, _ = mqtt.Append(buf[:0], &mqtt.Publish{Topic: "bench/t", QoS: qos, PacketID: uint16(i%65535 + 1), Payload: payload}, mqtt.V5)
					w.Write(buf)
				}
				w.Flush()
			}()
			for range b.N {
				p, err := sub.readErr(30e9)
				if err != nil {
					b.Fatalf("subscriber: %v", err)
				}
				if pp, ok := p.(*mqtt.Publish); ok && pp.QoS == 1 {
					ack, _ := mqtt.Append(nil, &mqtt.Puback{PacketID: pp.PacketID}, mqtt.V5)
					sub.nc.Write(ack)
				}
			}
			if err := <-acks; err != nil {
				b.Fatalf("publisher: %v", err)
			}
		})
	}
}
