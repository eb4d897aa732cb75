package bridge

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// equalMessage compares every field, treating nil and empty slices alike.
func equalMessage(a, b *Message) bool {
	return a.Tenant == b.Tenant && a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) &&
		a.QoS == b.QoS && a.Retain == b.Retain && a.Origin == b.Origin &&
		a.PublishedAt.Equal(b.PublishedAt) && a.MessageExpiry == b.MessageExpiry &&
		a.ExpirySet == b.ExpirySet && a.PayloadFormat == b.PayloadFormat &&
		a.ContentType == b.ContentType && a.ResponseTopic == b.ResponseTopic &&
		bytes.Equal(a.CorrelationData, b.CorrelationData) &&
		slices.Equal(a.UserProperties, b.UserProperties) && a.Seq == b.Seq
}

var envelopeCases = []struct {
	name string
	m    Message
}{
	{"empty", Message{}},
	{"qos0 minimal", Message{Topic: "a/b", Payload: []byte("x")}},
	{"qos2 retained", Message{Topic: "a", QoS: 2, Retain: true, Origin: "client-1"}},
	{"all properties", Message{
		Topic: "sensors/é/t", Payload: bytes.Repeat([]byte{0xff}, 300), QoS: 1, Retain: true,
		Origin: "dev", PublishedAt: time.Unix(1_700_000_000, 123456789), MessageExpiry: 3600, ExpirySet: true,
		PayloadFormat: 1, ContentType: "application/json", ResponseTopic: "reply/dev",
		CorrelationData: []byte{0, 1, 2}, UserProperties: []mqtt.UserProperty{{Key: "a", Value: "1"}, {Key: "", Value: ""}, {Key: "a", Value: "2"}},
	}},
	{"expiry zero set", Message{Topic: "t", ExpirySet: true}},
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, tt := range envelopeCases {
		enc := EncodeMessage(nil, &tt.m)
		if len(enc) != EncodedLen(&tt.m) {
			t.Errorf("%s: EncodedLen = %d, encoded %d bytes", tt.name, EncodedLen(&tt.m), len(enc))
		}
		if enc[0] != envelopeVersion {
			t.Errorf("%s: first byte = %d, want the version", tt.name, enc[0])
		}
		var got Message
		if err := DecodeMessage(enc, &got); err != nil {
			t.Fatalf("%s: DecodeMessage: %v", tt.name, err)
		}
		if !equalMessage(&got, &tt.m) {
			t.Errorf("%s: DecodeMessage(EncodeMessage(m)) = %+v, want %+v", tt.name, got, tt.m)
		}
		// Decoding into a used Message leaves nothing of the old one.
		stale := envelopeCases[3].m
		if err := DecodeMessage(enc, &stale); err != nil || !equalMessage(&stale, &tt.m) {
			t.Errorf("%s: decode into a used Message = %+v, %v", tt.name, stale, err)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := EncodeMessage(nil, &envelopeCases[3].m)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:5]},
		{"bad version", append([]byte{9}, good[1:]...)},
		{"qos 3", append([]byte{1, 3}, good[2:]...)},
		{"truncated expiry", good[:fixedHeaderLen+2]},
		{"truncated topic", good[:fixedHeaderLen+6]},
		{"huge property count", append(append([]byte{}, good[:fixedHeaderLen]...), 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tt := range tests {
		var m Message
		if err := DecodeMessage(tt.b, &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeMessage = %v, want ErrMalformed", tt.name, err)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	enc := EncodeMessage(nil, &envelopeCases[3].m)
	var m Message
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeMessage(enc, &m); err != nil {
			t.Fatal(err)
		}
	})
	// One string for all string fields; the user properties reuse m's slice.
	if allocs > 1 {
		t.Errorf("DecodeMessage allocates %.0f times, want at most 1", allocs)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, tt := range envelopeCases {
		f.Add(EncodeMessage(nil, &tt.m))
	}
	f.Add([]byte{1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := DecodeMessage(b, &m); err != nil {
			return
		}
		// What decodes re-encodes to an envelope that decodes the same.
		enc := EncodeMessage(nil, &m)
		var again Message
		if err := DecodeMessage(enc, &again); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if !equalMessage(&m, &again) {
			t.Fatalf("round trip changed the message: %+v != %+v", m, again)
		}
	})
}

func BenchmarkEncodeMessage(b *testing.B) {
	m := envelopeCases[3].m
	m.Payload = bytes.Repeat([]byte("x"), 64)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodeMessage(buf[:0], &m)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeMessage(b *testing.B) {
	for _, tc := range []struct {
		name string
		m    Message
	}{{"minimal", Message{Topic: "sensors/1/temp", Origin: "dev-1", QoS: 1, Payload: bytes.Repeat([]byte("x"), 64)}}, {"all", envelopeCases[3].m}} {
		b.Run(tc.name, func(b *testing.B) {
			enc := EncodeMessage(nil, &tc.m)
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if err := DecodeMessage(enc, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
