package mqtt

import "fmt"

var packetNames = [...]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the packet type's name as the spec writes it, e.g. "PUBLISH".
func (t PacketType) String() string {
	if int(t) < len(packetNames) {
		return packetNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// String returns the version as people know it: "3.1", "3.1.1" or "5.0".
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	case 0:
		return "unknown"
	}
	return fmt.Sprintf("level %d", byte(v))
}

// valid reports whether the codec supports v.
func (v Version) valid() bool { return v == V31 || v == V311 || v == V5 }

// header is a decoded fixed header.
type header struct {
	typ   PacketType
	flags byte // low nibble of the first byte
	rl    int  // remaining length
	n     int  // bytes used by the fixed header
}

// checkHeader validates the packet type and flags of the first byte
// against v before anything else is read or allocated.
func checkHeader(t PacketType, flags byte, v Version) error {
	switch t {
	case 0:
		return malformed(0, "", "packet type 0 is reserved")
	case PUBLISH:
		// The flags carry DUP, QoS and RETAIN; publish.go checks them.
		return nil
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if flags == 0b0010 || (v == V31 && flags == 0b1010) {
			// MQTT 3.1 allowed DUP on retransmitted PUBREL, SUBSCRIBE and UNSUBSCRIBE.
			return nil
		}
		return malformed(t, "MQTT-2.1.3-1", fmt.Sprintf("fixed header flags are 0b%04b, must be 0b0010", flags))
	case AUTH:
		if v != 0 && v < V5 {
			return malformed(t, "", "AUTH exists only in MQTT 5.0")
		}
	}
	if flags != 0 {
		return malformed(t, "MQTT-2.1.3-1", fmt.Sprintf("fixed header flags are 0b%04b, must be 0b0000", flags))
	}
	return nil
}

// publishFlags returns the low nibble of a PUBLISH fixed header: DUP, QoS, RETAIN.
func publishFlags(p *Publish) byte {
	f := byte(p.QoS) << 1
	if p.Dup {
		f |= 0b1000
	}
	if p.Retain {
		f |= 0b0001
	}
	return f
}

// appendHeader appends a fixed header for a body of rl bytes.
func appendHeader(dst []byte, t PacketType, flags byte, rl int) []byte {
	dst = append(dst, byte(t)<<4|flags)
	return appendVarint(dst, rl)
}
