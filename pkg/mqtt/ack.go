package mqtt

import "fmt"

// ackShape describes PUBACK, PUBREC, PUBREL and PUBCOMP, which share one
// layout: packet identifier, then in v5 an optional reason code and
// optional properties.
type ackShape struct {
	t     PacketType
	flags byte
	codes *codeSet
	rule  string // the rule that lists the allowed reason codes
}

var (
	pubackShape  = ackShape{PUBACK, 0, &pubackCodes, "MQTT-3.4.2-1"}
	pubrecShape  = ackShape{PUBREC, 0, &pubackCodes, "MQTT-3.5.2-1"}
	pubrelShape  = ackShape{PUBREL, 0b0010, &pubrelCodes, "MQTT-3.6.2-1"}
	pubcompShape = ackShape{PUBCOMP, 0, &pubrelCodes, "MQTT-3.7.2-1"}
)

func (s *ackShape) decode(d *dec, v Version, id *uint16, rc *ReasonCode, props *Properties) error {
	var err error
	if *id, err = d.u16("packet identifier"); err != nil {
		return err
	}
	if *id == 0 {
		return protocolErr(s.t, "", "packet identifier is 0 (section 2.2.1)")
	}
	*rc = Success
	if v < V5 || d.left() == 0 {
		// Before v5 the packet is exactly the packet identifier; in v5 a
		// remaining length of 2 means Success without properties.
		return d.done()
	}
	code, _ := d.u8("reason code")
	*rc = ReasonCode(code)
	if !s.codes.has(*rc) {
		return malformed(s.t, s.rule, fmt.Sprintf("0x%02X is not a %s reason code", code, s.t))
	}
	if d.left() == 0 {
		return nil
	}
	if err := props.decode(d, kPuback); err != nil {
		return err
	}
	return d.done()
}

// encode writes the shortest form the spec allows: without reason code
// and properties for Success and none, without properties when there are
// none. Before v5 only the packet identifier is written.
func (s *ackShape) encode(dst []byte, v Version, id uint16, rc ReasonCode, props *Properties) ([]byte, error) {
	if id == 0 {
		return dst, protocolErr(s.t, "", "packet identifier is 0 (section 2.2.1)")
	}
	b0 := byte(s.t)<<4 | s.flags
	if v < V5 {
		return append(dst, b0, 2, byte(id>>8), byte(id)), nil
	}
	if !s.codes.has(rc) {
		return dst, protocolErr(s.t, s.rule, fmt.Sprintf("0x%02X is not a %s reason code", byte(rc), s.t))
	}
	m, err := props.check(kPuback, s.t)
	if err != nil {
		return dst, err
	}
	if m == 0 {
		if rc == Success {
			return append(dst, b0, 2, byte(id>>8), byte(id)), nil
		}
		return append(dst, b0, 3, byte(id>>8), byte(id), byte(rc)), nil
	}
	ps := props.size(m)
	n := 3 + varintLen(ps) + ps
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, s.t, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, s.t, s.flags, n)
	dst = append(dst, byte(id>>8), byte(id), byte(rc))
	return props.appendProps(dst, m, ps), nil
}

func (p *Puback) decode(d *dec, _ byte, v Version) error {
	return pubackShape.decode(d, v, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// encode ignores ReasonCode and Properties before v5.
func (p *Puback) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(PUBACK)
	}
	return pubackShape.encode(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}

func (p *Pubrec) decode(d *dec, _ byte, v Version) error {
	return pubrecShape.decode(d, v, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// encode ignores ReasonCode and Properties before v5.
func (p *Pubrec) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(PUBREC)
	}
	return pubrecShape.encode(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}

func (p *Pubrel) decode(d *dec, _ byte, v Version) error {
	return pubrelShape.decode(d, v, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// encode ignores ReasonCode and Properties before v5.
func (p *Pubrel) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(PUBREL)
	}
	return pubrelShape.encode(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}

func (p *Pubcomp) decode(d *dec, _ byte, v Version) error {
	return pubcompShape.decode(d, v, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// encode ignores ReasonCode and Properties before v5.
func (p *Pubcomp) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(PUBCOMP)
	}
	return pubcompShape.encode(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}
