package mqtt_test

import (
	"bytes"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/mqtt/mqtttest"
)

// publish64 is a QoS 1 PUBLISH of exactly 64 bytes in 3.1.1.
var publish64 = &mqtt.Publish{
	QoS: 1, PacketID: 42,
	Topic:   "sensors/device-0042/temperature",     // 31 bytes
	Payload: []byte(`{"t":21.5,"unit":"C","n":7}`), // 27 bytes
}

var benchPackets = []struct {
	name string
	v    mqtt.Version
	p    mqtt.Packet
}{
	{"publish-qos0-v4", mqtt.V311, &mqtt.Publish{Topic: publish64.Topic, Payload: publish64.Payload}},
	{"publish-qos1-v4", mqtt.V311, publish64},
	{"publish-qos0-v5", mqtt.V5, &mqtt.Publish{Topic: publish64.Topic, Payload: publish64.Payload}},
	{"publish-qos1-v5", mqtt.V5, &mqtt.Publish{
		QoS: 1, PacketID: 42, Topic: publish64.Topic, Payload: publish64.Payload,
		Properties: mqtt.Properties{MessageExpiry: 60, MessageExpirySet: true, TopicAlias: 4},
	}},
	{"puback-v4", mqtt.V311, &mqtt.Puback{PacketID: 42}},
	{"connect-v4", mqtt.V311, &mqtt.Connect{
		CleanStart: true, KeepAlive: 60, ClientID: "device-0042",
		Username: "tenant-acme", Password: bytes.Repeat([]byte("j"), 143),
	}},
	{"connect-v5", mqtt.V5, &mqtt.Connect{
		CleanStart: true, KeepAlive: 60, ClientID: "device-0042",
		Username: "tenant-acme", Password: bytes.Repeat([]byte("j"), 143),
		Properties: mqtt.Properties{SessionExpiry: 3600, SessionExpirySet: true, ReceiveMaximum: 32},
	}},
	{"subscribe-v4", mqtt.V311, &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "sensors/+/temperature", QoS: 1}}}},
	{"subscribe-v5", mqtt.V5, &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "sensors/+/temperature", QoS: 1, NoLocal: true}}}},
}

func BenchmarkDecode(b *testing.B) {
	for _, bp := range benchPackets {
		raw := mqtttest.Encode(b, bp.v, bp.p)
		b.Run(bp.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := mqtt.Decode(raw, bp.v, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadPacket(b *testing.B) {
	for _, bp := range benchPackets {
		raw := mqtttest.Encode(b, bp.v, bp.p)
		b.Run(bp.name, func(b *testing.B) {
			br := bytes.NewReader(raw)
			r := mqtt.NewReader(br, 0)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				br.Reset(raw)
				r.SetVersion(bp.v)
				if _, err := r.ReadPacket(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadPacketReuse(b *testing.B) {
	for _, bp := range benchPackets[:4] {
		raw := mqtttest.Encode(b, bp.v, bp.p)
		b.Run(bp.name, func(b *testing.B) {
			br := bytes.NewReader(raw)
			r := mqtt.NewReader(br, 0)
			r.SetVersion(bp.v)
			var pub mqtt.Publish
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				br.Reset(raw)
				if _, err := r.ReadPacketReuse(&pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, bp := range benchPackets {
		b.Run(bp.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			var err error
			for b.Loop() {
				if buf, err = mqtt.Append(buf[:0], bp.p, bp.v); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// TestAllocs pins the allocation counts the gateway depends on.
func TestAllocs(t *testing.T) {
	raw := mqtttest.Encode(t, mqtt.V311, publish64)
	if len(raw) != 64 {
		t.Fatalf("publish64 is %d bytes, want 64", len(raw))
	}
	puback := mqtttest.Encode(t, mqtt.V311, &mqtt.Puback{PacketID: 1})
	br := bytes.NewReader(raw)
	r := mqtt.NewReader(br, 0)
	r.SetVersion(mqtt.V311)
	var pub mqtt.Publish
	buf := make([]byte, 0, 512)
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		{"Decode 64-byte QoS 1 PUBLISH", 1, func() { _, _, _ = mqtt.Decode(raw, mqtt.V311, 0) }},
		{"ReadPacket 64-byte QoS 1 PUBLISH", 1, func() { br.Reset(raw); _, _ = r.ReadPacket() }},
		{"ReadPacketReuse 64-byte QoS 1 PUBLISH", 0, func() { br.Reset(raw); _, _ = r.ReadPacketReuse(&pub) }},
		{"ReadPacket PUBACK", 1, func() { br.Reset(puback); _, _ = r.ReadPacket() }},
	}
	for _, bp := range benchPackets {
		if bp.p.Type() == mqtt.PUBLISH || bp.p.Type() == mqtt.PUBACK {
			tests = append(tests, struct {
				name string
				max  float64
				f    func()
			}{"Append " + bp.name, 0, func() { buf, _ = mqtt.Append(buf[:0], bp.p, bp.v) }})
		}
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
		}
	}
}
