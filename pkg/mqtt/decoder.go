package mqtt

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// dec is a cursor over one packet's body (the bytes after the fixed
// header). Strings and byte slices it returns alias b: the packet owns its
// buffer, and nothing decoded from it is copied.
type dec struct {
	b []byte
	i int
	t PacketType // for error messages
}

func (d *dec) short(what string) error {
	return malformed(d.t, "", "packet ends before the "+what)
}

func (d *dec) left() int { return len(d.b) - d.i }

func (d *dec) u8(what string) (byte, error) {
	if d.i >= len(d.b) {
		return 0, d.short(what)
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

func (d *dec) u16(what string) (uint16, error) {
	if d.left() < 2 {
		return 0, d.short(what)
	}
	v := uint16(d.b[d.i])<<8 | uint16(d.b[d.i+1])
	d.i += 2
	return v, nil
}

func (d *dec) u32(what string) (uint32, error) {
	if d.left() < 4 {
		return 0, d.short(what)
	}
	b := d.b[d.i:]
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	d.i += 4
	return v, nil
}

func (d *dec) varint(what string) (uint32, error) {
	v, n, err := decodeVarint(d.b[d.i:])
	if err == errIncomplete {
		return 0, d.short(what)
	}
	if err != nil {
		e := *err.(*Error)
		e.Packet = d.t
		e.Reason = what + ": " + e.Reason
		return 0, &e
	}
	d.i += n
	return v, nil
}

// binary reads Binary Data: a two-byte length and that many bytes. An empty
// value is a non-nil empty slice, so presence survives a round trip.
func (d *dec) binary(what string) ([]byte, error) {
	n, err := d.u16(what + " length")
	if err != nil {
		return nil, err
	}
	if d.left() < int(n) {
		return nil, d.short(what)
	}
	s := d.b[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return s, nil
}

// str reads a UTF-8 Encoded String and checks it [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func (d *dec) str(what string) (string, error) {
	b, err := d.binary(what)
	if err != nil {
		return "", err
	}
	if err := checkUTF8(b, d.t, what); err != nil {
		return "", err
	}
	return aliasString(b), nil
}

// done fails when bytes remain after the last field: the remaining length
// must match the contents exactly.
func (d *dec) done() error {
	if d.i != len(d.b) {
		return malformed(d.t, "", "unexpected bytes after the last field")
	}
	return nil
}

// aliasString returns b as a string without copying. The packet owns its
// buffer and never changes it, so the string stays immutable.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// checkUTF8 checks that b is well-formed UTF-8 without surrogates
// [MQTT-1.5.4-1] and without U+0000 [MQTT-1.5.4-2]. Both are Malformed
// Packets when received.
func checkUTF8(b []byte, t PacketType, what string) error {
	for i, c := range b {
		if c == 0 {
			return malformed(t, "MQTT-1.5.4-2", what+" contains U+0000")
		}
		if c >= utf8.RuneSelf {
			rest := b[i:]
			if !utf8.Valid(rest) {
				// Go's decoder rejects encoded surrogates (U+D800..U+DFFF) too.
				return malformed(t, "MQTT-1.5.4-1", what+" is not well-formed UTF-8")
			}
			if bytes.IndexByte(rest, 0) >= 0 {
				return malformed(t, "MQTT-1.5.4-2", what+" contains U+0000")
			}
			return nil
		}
	}
	return nil
}

// checkTopicName is the cheap codec-level check of a PUBLISH or Will topic
// name: UTF-8 as any string, and no wildcard characters [MQTT-3.3.2-2].
// pkg/topic applies the full topic rules.
func checkTopicName(s string, t PacketType, what string) error {
	wild := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' || c == '#' {
			wild = true
		} else if c == 0 || c >= utf8.RuneSelf {
			if err := checkUTF8(stringBytes(s[i:]), t, what); err != nil {
				return err
			}
			wild = wild || strings.ContainsAny(s[i:], "+#")
			break
		}
	}
	if wild {
		return newErr(TopicNameInvalid, t, "MQTT-3.3.2-2", what+" contains a wildcard character")
	}
	return nil
}

// checkString is checkUTF8 for a string.
func checkString(s string, t PacketType, what string) error {
	return checkUTF8(stringBytes(s), t, what)
}

// stringBytes returns the bytes of s without copying; they must not be modified.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
