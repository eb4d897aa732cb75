package mqtt

// maxVarint is the largest value a Variable Byte Integer can hold
// (four bytes of seven bits), MQTT 5.0 section 1.5.5.
const maxVarint = 268_435_455

// errIncomplete reports that a buffer ended inside a Variable Byte Integer.
var errIncomplete = &Error{Code: MalformedPacket, Reason: "variable byte integer is cut short"}

// decodeVarint decodes a Variable Byte Integer from the start of b. It
// accepts non-minimal encodings but never more than four bytes. It returns
// errIncomplete when b ends before the last byte.
func decodeVarint(b []byte) (v uint32, n int, err error) {
	var shift uint
	for i := range 4 {
		if i >= len(b) {
			return 0, 0, errIncomplete
		}
		c := b[i]
		v |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	// A continuation bit on the fourth byte announces a fifth [MQTT-1.5.5-1].
	return 0, 0, malformed(0, "MQTT-1.5.5-1", "variable byte integer longer than four bytes")
}

// varintLen reports how many bytes appendVarint uses for v (v <= maxVarint).
func varintLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	default:
		return 4
	}
}

// appendVarint appends the minimal encoding of v (v <= maxVarint).
func appendVarint(dst []byte, v int) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}
