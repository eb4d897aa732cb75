package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/mqtt/mqtttest"
)

// fixtures returns the shared fixtures plus the 3.1.1 fixtures of packets
// whose layout 3.1 shares, run as 3.1.
func fixtures() []mqtttest.Fixture {
	all := append([]mqtttest.Fixture(nil), mqtttest.Fixtures...)
	for _, f := range mqtttest.Fixtures {
		if t := f.Packet.Type(); f.Version == mqtt.V311 && t != mqtt.CONNECT && t != mqtt.CONNACK {
			f.Name = "v3 " + f.Name
			f.Version = mqtt.V31
			all = append(all, f)
		}
	}
	return all
}

func TestDecodeFixtures(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.Name, func(t *testing.T) {
			raw := append(bytes.Clone(f.Raw), 0xC0, 0x00) // a following PINGREQ must not be consumed
			got, n, err := mqtt.Decode(raw, f.Version, 0)
			if err != nil {
				t.Fatalf("Decode(% X) error: %v", f.Raw, err)
			}
			if n != len(f.Raw) {
				t.Errorf("Decode used %d bytes, want %d", n, len(f.Raw))
			}
			if !reflect.DeepEqual(got, f.Packet) {
				t.Errorf("Decode(% X) =\n  %v\nwant\n  %v", f.Raw, got, f.Packet)
			}
		})
	}
}

func TestAppendFixtures(t *testing.T) {
	for _, f := range fixtures() {
		if f.DecodeOnly {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := mqtt.Append(bytes.Clone(prefix), f.Packet, f.Version)
			if err != nil {
				t.Fatalf("Append(%v) error: %v", f.Packet, err)
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("Append overwrote dst: % X", got)
			}
			if got = got[len(prefix):]; !bytes.Equal(got, f.Raw) {
				t.Errorf("Append(%v) =\n  % X\nwant\n  % X", f.Packet, got, f.Raw)
			}
		})
	}
}

// TestReadPacketFixtures reads all fixtures of a version as one stream,
// through whole, one-byte, and buffered one-byte readers.
func TestReadPacketFixtures(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":          func(r io.Reader) io.Reader { return r },
		"one byte":       iotest.OneByteReader,
		"bufio one byte": func(r io.Reader) io.Reader { return bufio.NewReaderSize(iotest.OneByteReader(r), 16) },
		"half":           iotest.HalfReader,
	}
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		var stream []byte
		var want []mqtt.Packet
		for _, f := range fixtures() {
			if f.Version == v && f.Packet.Type() != mqtt.CONNECT {
				stream = append(stream, f.Raw...)
				want = append(want, f.Packet)
			}
		}
		for name, wrap := range readers {
			t.Run(fmt.Sprintf("%v/%s", v, name), func(t *testing.T) {
				r := mqtt.NewReader(wrap(bytes.NewReader(stream)), 0)
				r.SetVersion(v)
				for i, w := range want {
					got, err := r.ReadPacket()
					if err != nil {
						t.Fatalf("packet %d (%v): ReadPacket error: %v", i, w, err)
					}
					if !reflect.DeepEqual(got, w) {
						t.Fatalf("packet %d: ReadPacket =\n  %v\nwant\n  %v", i, got, w)
					}
				}
				if p, err := r.ReadPacket(); err != io.EOF {
					t.Errorf("ReadPacket at end = %v, %v; want io.EOF", p, err)
				}
			})
		}
	}
}

// TestReadPacketSetsVersion: a CONNECT teaches the Reader its version.
func TestReadPacketSetsVersion(t *testing.T) {
	for _, f := range mqtttest.Fixtures {
		c, ok := f.Packet.(*mqtt.Connect)
		if !ok {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			r := mqtt.NewReader(bytes.NewReader(f.Raw), 0)
			if _, err := r.ReadPacket(); err != nil {
				t.Fatalf("ReadPacket error: %v", err)
			}
			if r.Version() != c.Version {
				t.Errorf("Version() = %v, want %v", r.Version(), c.Version)
			}
		})
	}
}

// TestRoundTrip encodes every fixture packet, decodes it and compares.
// Together with fixtures() it covers every packet type in every version.
func TestRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range fixtures() {
		seen[fmt.Sprint(f.Version, f.Packet.Type())] = true
		b, err := mqtt.Append(nil, f.Packet, f.Version)
		if err != nil {
			t.Errorf("%s: Append error: %v", f.Name, err)
			continue
		}
		got, n, err := mqtt.Decode(b, f.Version, 0)
		if err != nil || n != len(b) {
			t.Errorf("%s: Decode(Append(p)) = %d bytes, %v", f.Name, n, err)
			continue
		}
		if !reflect.DeepEqual(got, f.Packet) {
			t.Errorf("%s: round trip =\n  %v\nwant\n  %v", f.Name, got, f.Packet)
		}
	}
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		for pt := mqtt.CONNECT; pt <= mqtt.AUTH; pt++ {
			if pt == mqtt.AUTH && v != mqtt.V5 {
				continue
			}
			if !seen[fmt.Sprint(v, pt)] {
				t.Errorf("no fixture for %v in MQTT %v", pt, v)
			}
		}
	}
}

func ruleOf(err error) string {
	var e *mqtt.Error
	if errors.As(err, &e) {
		return e.Rule
	}
	return ""
}

func TestMalformed(t *testing.T) {
	for _, m := range mqtttest.Malformations {
		t.Run(m.Name, func(t *testing.T) {
			_, _, err := mqtt.Decode(m.Raw, m.Version, m.MaxPacketSize)
			if !errors.Is(err, m.Code) {
				t.Errorf("Decode(% X) error = %v, want %v", m.Raw, err, m.Code)
			}
			if got := ruleOf(err); got != m.Rule {
				t.Errorf("Decode(% X) rule = %q, want %q", m.Raw, got, m.Rule)
			}
			var rc mqtt.ReasonCode
			if !errors.As(err, &rc) || rc != m.Code {
				t.Errorf("errors.As(err, &ReasonCode) = %v, want %v", rc, m.Code)
			}

			r := mqtt.NewReader(iotest.OneByteReader(bytes.NewReader(m.Raw)), m.MaxPacketSize)
			r.SetVersion(m.Version)
			_, err = r.ReadPacket()
			if !errors.Is(err, m.Code) {
				t.Errorf("ReadPacket(% X) error = %v, want %v", m.Raw, err, m.Code)
			}
			if got := ruleOf(err); got != m.Rule {
				t.Errorf("ReadPacket(% X) rule = %q, want %q", m.Raw, got, m.Rule)
			}
		})
	}
}

func TestAppendRejects(t *testing.T) {
	for _, u := range mqtttest.Unencodables {
		t.Run(u.Name, func(t *testing.T) {
			dst := []byte{1, 2, 3}
			got, err := mqtt.Append(dst, u.Packet, u.Version)
			if !errors.Is(err, u.Code) {
				t.Errorf("Append(%v) error = %v, want %v", u.Packet, err, u.Code)
			}
			if r := ruleOf(err); r != u.Rule {
				t.Errorf("Append(%v) rule = %q, want %q", u.Packet, r, u.Rule)
			}
			if !bytes.Equal(got, dst) {
				t.Errorf("Append changed dst on error: % X", got)
			}
		})
	}
}

func TestAppendUnknownVersionAndPacket(t *testing.T) {
	if _, err := mqtt.Append(nil, &mqtt.Pingreq{}, 6); !errors.Is(err, mqtt.UnsupportedProtocolVersion) {
		t.Errorf("Append for level 6 error = %v, want %v", err, mqtt.UnsupportedProtocolVersion)
	}
	if _, err := mqtt.Append(nil, foreignPacket{}, mqtt.V5); !errors.Is(err, mqtt.ErrUnknownPacket) {
		t.Errorf("Append(foreign packet) error = %v, want ErrUnknownPacket", err)
	}
	if _, err := mqtt.Append(nil, (*mqtt.Publish)(nil), mqtt.V5); err == nil {
		t.Error("Append((*Publish)(nil)) succeeded")
	}
}

type foreignPacket struct{}

func (foreignPacket) Type() mqtt.PacketType { return mqtt.PINGREQ }

// TestConnectUnsupportedVersion: the caller learns the level it must
// answer in, from the partial CONNECT returned with the error.
func TestConnectUnsupportedVersion(t *testing.T) {
	raw := []byte{0x10, 13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}
	r := mqtt.NewReader(bytes.NewReader(raw), 0)
	p, err := r.ReadPacket()
	if !errors.Is(err, mqtt.UnsupportedProtocolVersion) { // [MQTT-3.1.2-2]
		t.Fatalf("ReadPacket error = %v, want %v", err, mqtt.UnsupportedProtocolVersion)
	}
	c, ok := p.(*mqtt.Connect)
	if !ok || c.Version != 6 || c.ProtocolName != "MQTT" {
		t.Fatalf("ReadPacket packet = %#v, want the partial CONNECT with level 6", p)
	}
	if r.Version() != 0 {
		t.Errorf("Version() = %v after an unsupported level, want unknown", r.Version())
	}
	p, _, err = mqtt.Decode(raw, 0, 0)
	if c, ok := p.(*mqtt.Connect); !ok || c.Version != 6 || !errors.Is(err, mqtt.UnsupportedProtocolVersion) {
		t.Errorf("Decode = %v, %v; want the partial CONNECT and %v", p, err, mqtt.UnsupportedProtocolVersion)
	}
}

// TestConnectErrorKeepsVersion: a v5 CONNECT with a bad property still
// tells the caller to answer in v5.
func TestConnectErrorKeepsVersion(t *testing.T) {
	raw := []byte{0x10, 17, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 3, 0x21, 0x00, 0x00, 0x00, 0x01, 'c'}
	r := mqtt.NewReader(bytes.NewReader(raw), 0)
	p, err := r.ReadPacket()
	if !errors.Is(err, mqtt.ProtocolError) {
		t.Fatalf("ReadPacket error = %v, want %v", err, mqtt.ProtocolError)
	}
	if c, ok := p.(*mqtt.Connect); !ok || c.Version != mqtt.V5 {
		t.Errorf("ReadPacket packet = %v, want the partial v5 CONNECT", p)
	}
	if r.Version() != mqtt.V5 {
		t.Errorf("Version() = %v, want 5.0", r.Version())
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReaderRefusesLargeBeforeReading: a declared length above the limit
// fails right after the fixed header, before any allocation or body read.
func TestReaderRefusesLargeBeforeReading(t *testing.T) {
	hostile := io.MultiReader(bytes.NewReader([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}), neverEnding{})
	cr := &countingReader{r: hostile}
	r := mqtt.NewReader(iotest.OneByteReader(cr), 1024)
	r.SetVersion(mqtt.V311)
	_, err := r.ReadPacket()
	if !errors.Is(err, mqtt.PacketTooLarge) {
		t.Fatalf("ReadPacket error = %v, want %v", err, mqtt.PacketTooLarge)
	}
	if cr.n != 5 {
		t.Errorf("ReadPacket read %d bytes, want only the 5-byte fixed header", cr.n)
	}
	r2 := mqtt.NewReader(bytes.NewReader(mqtttest.Fixtures[4].Raw), 8)
	r2.SetVersion(mqtt.V311)
	if _, err := r2.ReadPacket(); !errors.Is(err, mqtt.PacketTooLarge) {
		t.Errorf("ReadPacket of 18 bytes with maximum 8: error = %v, want %v", err, mqtt.PacketTooLarge)
	}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReadPacketTruncated: a stream that ends inside a packet gives
// io.ErrUnexpectedEOF, and Decode of a prefix asks for more bytes.
func TestReadPacketTruncated(t *testing.T) {
	for _, f := range mqtttest.Fixtures {
		for cut := 1; cut < len(f.Raw); cut++ {
			r := mqtt.NewReader(bytes.NewReader(f.Raw[:cut]), 0)
			r.SetVersion(f.Version)
			if _, err := r.ReadPacket(); err != io.ErrUnexpectedEOF {
				t.Errorf("%s cut at %d: ReadPacket error = %v, want io.ErrUnexpectedEOF", f.Name, cut, err)
			}
			if _, _, err := mqtt.Decode(f.Raw[:cut], f.Version, 0); err != io.ErrUnexpectedEOF {
				t.Errorf("%s cut at %d: Decode error = %v, want io.ErrUnexpectedEOF", f.Name, cut, err)
			}
		}
	}
}

func TestReadPacketReuse(t *testing.T) {
	var stream []byte
	var want []mqtt.Packet
	for _, f := range mqtttest.Fixtures {
		if f.Version == mqtt.V5 && f.Packet.Type() != mqtt.CONNECT {
			stream = append(stream, f.Raw...)
			want = append(want, f.Packet)
		}
	}
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(stream)), 0)
	r.SetVersion(mqtt.V5)
	var pub mqtt.Publish
	for i, w := range want {
		got, err := r.ReadPacketReuse(&pub)
		if err != nil {
			t.Fatalf("packet %d: ReadPacketReuse error: %v", i, err)
		}
		if w.Type() == mqtt.PUBLISH && got != &pub {
			t.Errorf("packet %d: ReadPacketReuse returned %p, want the caller's %p", i, got, &pub)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("packet %d: ReadPacketReuse =\n  %v\nwant\n  %v", i, got, w)
		}
	}
}

func TestPublishClone(t *testing.T) {
	raw := bytes.Clone(mqtttest.Fixtures[0].Raw) // any fixture will do; use the v5 PUBLISH below
	for _, f := range mqtttest.Fixtures {
		if f.Name == "PUBLISH v5 QoS 1 with properties" {
			raw = bytes.Clone(f.Raw)
		}
	}
	p, _, err := mqtt.Decode(raw, mqtt.V5, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := p.(*mqtt.Publish).Clone()
	want := p.(*mqtt.Publish).String()
	clear(raw) // the clone must not alias the buffer
	if got := c.String(); got != want {
		t.Errorf("Clone after the buffer changed = %s, want %s", got, want)
	}
}

func TestConnackCodeMapping(t *testing.T) {
	tests := []struct {
		rc   mqtt.ReasonCode
		want byte
	}{
		{mqtt.Success, 0},
		{mqtt.UnsupportedProtocolVersion, 1},
		{mqtt.ClientIDNotValid, 2},
		{mqtt.ServerUnavailable, 3},
		{mqtt.ServerBusy, 3},
		{mqtt.QuotaExceeded, 3},
		{mqtt.BadUsernameOrPassword, 4},
		{mqtt.NotAuthorized, 5},
		{mqtt.BadAuthenticationMethod, 5},
		{mqtt.Banned, 5},
	}
	for _, tt := range tests {
		got, ok := mqtt.ConnackReturnCode(tt.rc)
		if !ok || got != tt.want {
			t.Errorf("ConnackReturnCode(%v) = %d, %v; want %d", tt.rc, got, ok, tt.want)
		}
		b, err := mqtt.Append(nil, &mqtt.Connack{ReasonCode: tt.rc}, mqtt.V311)
		if err != nil || !bytes.Equal(b, []byte{0x20, 2, 0, tt.want}) {
			t.Errorf("Append(CONNACK %v, 3.1.1) = % X, %v; want 20 02 00 %02X", tt.rc, b, err, tt.want)
		}
	}
	for code, want := range []mqtt.ReasonCode{0x00, 0x84, 0x85, 0x88, 0x86, 0x87} {
		if got, ok := mqtt.ConnackReasonCode(byte(code)); !ok || got != want {
			t.Errorf("ConnackReasonCode(%d) = %v, %v; want %v", code, got, ok, want)
		}
	}
	if _, ok := mqtt.ConnackReasonCode(6); ok {
		t.Error("ConnackReasonCode(6) ok, want reserved")
	}
	if _, ok := mqtt.ConnackReturnCode(mqtt.GrantedQoS1); ok {
		t.Error("ConnackReturnCode(0x01) ok, want not a CONNACK code")
	}
}

// TestSubackV4Failure: every v5 failure becomes 0x80 before v5.
func TestSubackV4Failure(t *testing.T) {
	s := &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{mqtt.GrantedQoS2, mqtt.NotAuthorized, mqtt.QuotaExceeded}}
	got, err := mqtt.Append(nil, s, mqtt.V311)
	want := []byte{0x90, 5, 0x00, 0x01, 0x02, 0x80, 0x80}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Append(%v, 3.1.1) = % X, %v; want % X", s, got, err, want)
	}
}

// TestPreV5DropsV5Fields: properties and reason codes do not exist before
// v5 and are not written.
func TestPreV5DropsV5Fields(t *testing.T) {
	tests := []struct {
		p    mqtt.Packet
		want []byte
	}{
		{&mqtt.Publish{Topic: "t", Properties: mqtt.Properties{TopicAlias: 1}}, []byte{0x30, 3, 0x00, 0x01, 't'}},
		{&mqtt.Puback{PacketID: 1, ReasonCode: mqtt.NotAuthorized}, []byte{0x40, 2, 0x00, 0x01}},
		{&mqtt.Unsuback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{0x11}}, []byte{0xB0, 2, 0x00, 0x01}},
		{&mqtt.Disconnect{ReasonCode: mqtt.ServerShuttingDown}, []byte{0xE0, 0}},
		{&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a", QoS: 1, NoLocal: true}}}, []byte{0x82, 6, 0x00, 0x01, 0x00, 0x01, 'a', 0x01}},
	}
	for _, tt := range tests {
		got, err := mqtt.Append(nil, tt.p, mqtt.V311)
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("Append(%v, 3.1.1) = % X, %v; want % X", tt.p, got, err, tt.want)
		}
	}
}

// TestReadPacketReuseLarge: a PUBLISH above the reuse limit gets a buffer
// of its own, and the next small one still decodes into the caller's
// packet.
func TestReadPacketReuseLarge(t *testing.T) {
	big := &mqtt.Publish{Topic: "big", Payload: bytes.Repeat([]byte("x"), 10_000)}
	small := &mqtt.Publish{QoS: 1, PacketID: 3, Topic: "small", Payload: []byte("y")}
	stream := mqtttest.Encode(t, mqtt.V5, big, small)
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(stream)), 0)
	r.SetVersion(mqtt.V5)
	var pub mqtt.Publish
	for i, want := range []*mqtt.Publish{big, small} {
		got, err := r.ReadPacketReuse(&pub)
		if err != nil {
			t.Fatalf("packet %d: ReadPacketReuse error: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("packet %d: ReadPacketReuse = %v, want %v", i, got, want)
		}
	}
}
