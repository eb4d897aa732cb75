package mqtt

import (
	"errors"
	"strings"
)

// Error describes why a packet could not be decoded or encoded. It wraps
// Code, so errors.Is(err, mqtt.MalformedPacket) and errors.As(err, &rc) with
// a ReasonCode rc both work on any error this package returns for a bad
// packet; errors.As(err, &e) with e *Error also gives the spec rule.
type Error struct {
	Code   ReasonCode // the reason code to answer with (MalformedPacket, ProtocolError, ...)
	Packet PacketType // the packet being decoded or encoded; 0 when not yet known
	Rule   string     // the normative statement broken, e.g. "MQTT-3.3.1-4"; may be empty
	Reason string     // what was wrong, for people
}

// Error implements error, e.g.
// "mqtt: malformed packet (0x81): PUBLISH: QoS 3 is not allowed [MQTT-3.3.1-4]".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code.Error())
	b.WriteString(": ")
	if e.Packet != 0 {
		b.WriteString(e.Packet.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Rule != "" {
		b.WriteString(" [")
		b.WriteString(e.Rule)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns Code.
func (e *Error) Unwrap() error { return e.Code }

// ErrUnknownPacket is returned by Append for a Packet implementation that
// is not one of this package's packet types.
var ErrUnknownPacket = errors.New("mqtt: unknown packet implementation")

func newErr(code ReasonCode, t PacketType, rule, reason string) *Error {
	return &Error{Code: code, Packet: t, Rule: rule, Reason: reason}
}

func malformed(t PacketType, rule, reason string) *Error {
	return newErr(MalformedPacket, t, rule, reason)
}

func protocolErr(t PacketType, rule, reason string) *Error {
	return newErr(ProtocolError, t, rule, reason)
}
