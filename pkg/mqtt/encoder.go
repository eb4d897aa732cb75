package mqtt

import "strconv"

func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString appends a UTF-8 Encoded String; its length was checked.
func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendBinary appends Binary Data; its length was checked.
func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// checkEncString checks a string before encoding: at most 65535 bytes,
// well-formed UTF-8 without U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func checkEncString(s string, t PacketType, what string) error {
	if len(s) > 0xFFFF {
		return malformed(t, "", what+" is "+strconv.Itoa(len(s))+" bytes, more than 65535")
	}
	return checkString(s, t, what)
}

// checkEncBinary checks that Binary Data fits its two-byte length.
func checkEncBinary(b []byte, t PacketType, what string) error {
	if len(b) > 0xFFFF {
		return malformed(t, "", what+" is "+strconv.Itoa(len(b))+" bytes, more than 65535")
	}
	return nil
}
