package mqtt

import (
	"bytes"
	"errors"
	"testing"
)

func TestVarint(t *testing.T) {
	tests := []struct {
		v   int
		enc []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7F}},
		{128, []byte{0x80, 0x01}},
		{16_383, []byte{0xFF, 0x7F}},
		{16_384, []byte{0x80, 0x80, 0x01}},
		{2_097_151, []byte{0xFF, 0xFF, 0x7F}},
		{2_097_152, []byte{0x80, 0x80, 0x80, 0x01}},
		{maxVarint, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	}
	for _, tt := range tests {
		if got := appendVarint(nil, tt.v); !bytes.Equal(got, tt.enc) {
			t.Errorf("appendVarint(%d) = % X, want % X", tt.v, got, tt.enc)
		}
		if got := varintLen(tt.v); got != len(tt.enc) {
			t.Errorf("varintLen(%d) = %d, want %d", tt.v, got, len(tt.enc))
		}
		v, n, err := decodeVarint(append(bytes.Clone(tt.enc), 0xAA))
		if err != nil || int(v) != tt.v || n != len(tt.enc) {
			t.Errorf("decodeVarint(% X) = %d, %d, %v; want %d, %d", tt.enc, v, n, err, tt.v, len(tt.enc))
		}
	}
}

func TestVarintRejects(t *testing.T) {
	// A fifth byte is never allowed [MQTT-1.5.5-1].
	_, _, err := decodeVarint([]byte{0x80, 0x80, 0x80, 0x80, 0x01})
	var e *Error
	if !errors.As(err, &e) || e.Code != MalformedPacket || e.Rule != "MQTT-1.5.5-1" {
		t.Errorf("decodeVarint(five bytes) error = %v, want malformed packet [MQTT-1.5.5-1]", err)
	}
	// Non-minimal encodings decode.
	if v, n, err := decodeVarint([]byte{0x81, 0x80, 0x00}); err != nil || v != 1 || n != 3 {
		t.Errorf("decodeVarint(81 80 00) = %d, %d, %v; want 1, 3, nil", v, n, err)
	}
	for _, b := range [][]byte{nil, {0x80}, {0xFF, 0xFF, 0xFF}} {
		if _, _, err := decodeVarint(b); err != errIncomplete {
			t.Errorf("decodeVarint(% X) error = %v, want errIncomplete", b, err)
		}
	}
}

// TestPropertyTable: every property is allowed on at least one packet and
// has a name and a key.
func TestPropertyTable(t *testing.T) {
	n := 0
	for id, info := range propInfo {
		if info.allowed == 0 {
			continue
		}
		n++
		if info.name == "" || info.key == "" {
			t.Errorf("property 0x%02X has no name or key", id)
		}
	}
	if n != 27 {
		t.Errorf("%d properties, want the 27 of MQTT 5.0", n)
	}
}
