package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/mqtt/mqtttest"
)

var update = flag.Bool("update", false, "rewrite the checked-in fuzz seed corpus in testdata/fuzz")

// fuzzVersion maps a fuzzer byte to a version, including unknown (0).
func fuzzVersion(b byte) mqtt.Version {
	return [...]mqtt.Version{0, mqtt.V31, mqtt.V311, mqtt.V5}[b%4]
}

func versionByte(v mqtt.Version) byte {
	switch v {
	case mqtt.V31:
		return 1
	case mqtt.V311:
		return 2
	case mqtt.V5:
		return 3
	}
	return 0
}

// seed is one input of the seed corpus.
type seed struct {
	name string
	raw  []byte
	v    byte
}

func seeds() []seed {
	var s []seed
	for _, f := range mqtttest.Fixtures {
		s = append(s, seed{"fixture " + f.Name, f.Raw, versionByte(f.Version)})
	}
	for _, m := range mqtttest.Malformations {
		s = append(s, seed{"malformed " + m.Name, m.Raw, versionByte(m.Version)})
	}
	// A whole 3.1.1 session and a whole v5 session as streams.
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		var stream []byte
		for _, f := range mqtttest.Fixtures {
			if f.Version == v && !f.DecodeOnly {
				stream = append(stream, f.Raw...)
			}
		}
		s = append(s, seed{"stream " + v.String(), stream, versionByte(v)})
	}
	return s
}

// checkErr fails unless err is a short read or carries a reason code.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var rc mqtt.ReasonCode
	if err != io.ErrUnexpectedEOF && !errors.As(err, &rc) {
		t.Fatalf("error %v (%T) carries no reason code", err, err)
	}
}

// checkReencode checks that a decoded packet re-encodes and decodes to an
// equal packet, and that describing it does not panic.
func checkReencode(t *testing.T, p mqtt.Packet, v mqtt.Version) {
	t.Helper()
	_ = p.(fmt.Stringer).String()
	if c, ok := p.(*mqtt.Connect); ok {
		v = c.Version
	}
	enc, err := mqtt.Append(nil, p, v)
	if err != nil {
		t.Fatalf("decoded %v does not re-encode for %v: %v", p, v, err)
	}
	q, n, err := mqtt.Decode(enc, v, 0)
	if err != nil || n != len(enc) {
		t.Fatalf("re-encoded % X does not decode: %d bytes, %v", enc, n, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("re-encoded packet differs:\n  %v\n  %v", p, q)
	}
}

// FuzzDecode: Decode never panics, every error carries a reason code, and
// every decoded packet re-encodes to an equal packet.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s.raw, s.v)
	}
	f.Fuzz(func(t *testing.T, b []byte, vb byte) {
		v := fuzzVersion(vb)
		p, n, err := mqtt.Decode(b, v, 0)
		if err != nil {
			checkErr(t, err)
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("Decode used %d of %d bytes", n, len(b))
		}
		checkReencode(t, p, v)
	})
}

// FuzzReadPacket: reading a stream through whole, one-byte and buffered
// readers, with and without a reused Publish, gives what Decode gives
// packet by packet.
func FuzzReadPacket(f *testing.F) {
	for _, s := range seeds() {
		for mode := range byte(4) {
			f.Add(s.raw, s.v, mode)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, vb, mode byte) {
		v := fuzzVersion(vb)
		var src io.Reader = bytes.NewReader(b)
		switch mode % 4 {
		case 1, 3:
			src = iotest.OneByteReader(src)
		case 2:
			src = bufio.NewReaderSize(iotest.OneByteReader(src), 16)
		}
		r := mqtt.NewReader(src, 4096)
		r.SetVersion(v)
		var pub mqtt.Publish
		for off := 0; ; {
			before := r.Version()
			var p mqtt.Packet
			var err error
			if mode%4 == 3 {
				p, err = r.ReadPacketReuse(&pub)
			} else {
				p, err = r.ReadPacket()
			}
			if err == io.EOF {
				if off != len(b) {
					t.Fatalf("io.EOF at offset %d of %d", off, len(b))
				}
				return
			}
			q, n, derr := mqtt.Decode(b[off:], before, 4096)
			if fmt.Sprint(err) != fmt.Sprint(derr) {
				t.Fatalf("at offset %d: ReadPacket error %v, Decode error %v", off, err, derr)
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("at offset %d: ReadPacket = %v, Decode = %v", off, p, q)
			}
			if err != nil {
				checkErr(t, err)
				return
			}
			checkReencode(t, p, before)
			off += n
		}
	})
}

// TestFuzzCorpus keeps testdata/fuzz in step with the fixtures: it fails
// when a seed file is missing or stale, and -update rewrites them.
func TestFuzzCorpus(t *testing.T) {
	want := map[string]string{}
	for _, s := range seeds() {
		name := corpusName(s.name)
		want[filepath.Join("FuzzDecode", name)] = fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%s)\n",
			strconv.Quote(string(s.raw)), strconv.QuoteRune(rune(s.v)))
		want[filepath.Join("FuzzReadPacket", name+"-split")] = fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%s)\nbyte('\\x01')\n",
			strconv.Quote(string(s.raw)), strconv.QuoteRune(rune(s.v)))
	}
	for path, content := range want {
		full := filepath.Join("testdata", "fuzz", path)
		if *update {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil || string(got) != content {
			t.Errorf("seed %s is missing or stale (%v); run go test -run TestFuzzCorpus -update", full, err)
		}
	}
}

func corpusName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return "seed-" + b.String()
}

// FuzzAppend: whatever Append accepts, Decode accepts and returns as
// written, so the encoder never puts a packet on the wire that a strict
// receiver would refuse.
func FuzzAppend(f *testing.F) {
	f.Add("sensors/t1", []byte("21.5"), byte(1), false, false, uint16(7), byte(3), uint16(0), "json", "k", "v", uint32(0))
	f.Add("", []byte{}, byte(0), false, true, uint16(0), byte(3), uint16(3), "", "", "", uint32(5))
	f.Add("a/+", []byte(nil), byte(3), true, false, uint16(0), byte(2), uint16(0), "\x00", "\xed\xa0\x80", "", uint32(1<<28))
	f.Fuzz(func(t *testing.T, topic string, payload []byte, qos byte, dup, retain bool, id uint16, vb byte,
		alias uint16, contentType, key, value string, subID uint32) {
		v := fuzzVersion(vb)
		p := &mqtt.Publish{
			Dup: dup, QoS: mqtt.QoS(qos), Retain: retain, Topic: topic, PacketID: id, Payload: payload,
			Properties: mqtt.Properties{TopicAlias: alias, ContentType: contentType},
		}
		if key != "" || value != "" {
			p.Properties.UserProperties = []mqtt.UserProperty{{Key: key, Value: value}}
		}
		if subID != 0 {
			p.Properties.SubscriptionIDs = []uint32{subID}
		}
		b, err := mqtt.Append(nil, p, v)
		if err != nil {
			checkErr(t, err)
			return
		}
		got, n, err := mqtt.Decode(b, v, 0)
		if err != nil || n != len(b) {
			t.Fatalf("Append(%v, %v) = % X, which does not decode: %d bytes, %v", p, v, b, n, err)
		}
		want := *p
		if len(want.Payload) == 0 {
			want.Payload = nil
		}
		if want.QoS == 0 {
			want.PacketID = 0
		}
		if v != mqtt.V5 {
			want.Properties = mqtt.Properties{}
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("Append then Decode =\n  %v\nwant\n  %v", got, &want)
		}
	})
}
