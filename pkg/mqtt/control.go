package mqtt

import "fmt"

func (*Pingreq) decode(d *dec, _ byte, _ Version) error { return d.done() }

func (p *Pingreq) encode(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGREQ)<<4, 0), nil
}

func (*Pingresp) decode(d *dec, _ byte, _ Version) error { return d.done() }

func (p *Pingresp) encode(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGRESP)<<4, 0), nil
}

// reasonShape describes DISCONNECT and AUTH: in v5 an optional reason code
// followed by optional properties.
type reasonShape struct {
	t     PacketType
	kind  propKind
	codes *codeSet
	rule  string
}

var (
	disconnectShape = reasonShape{DISCONNECT, kDisconnect, &disconnectCodes, "MQTT-3.14.2-1"}
	authShape       = reasonShape{AUTH, kAuth, &authCodes, "MQTT-3.15.2-1"}
)

func (s *reasonShape) decode(d *dec, rc *ReasonCode, props *Properties) error {
	*rc = Success
	if d.left() == 0 {
		return nil // a remaining length of 0 means Success without properties
	}
	code, _ := d.u8("reason code")
	*rc = ReasonCode(code)
	if !s.codes.has(*rc) {
		return malformed(s.t, s.rule, fmt.Sprintf("0x%02X is not a %s reason code", code, s.t))
	}
	if d.left() == 0 {
		return nil
	}
	if err := props.decode(d, s.kind); err != nil {
		return err
	}
	return d.done()
}

func (s *reasonShape) encode(dst []byte, rc ReasonCode, props *Properties) ([]byte, error) {
	if !s.codes.has(rc) {
		return dst, protocolErr(s.t, s.rule, fmt.Sprintf("0x%02X is not a %s reason code", byte(rc), s.t))
	}
	m, err := props.check(s.kind, s.t)
	if err != nil {
		return dst, err
	}
	b0 := byte(s.t) << 4
	if m == 0 {
		if rc == Success {
			return append(dst, b0, 0), nil
		}
		return append(dst, b0, 1, byte(rc)), nil
	}
	ps := props.size(m)
	n := 1 + varintLen(ps) + ps
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, s.t, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, s.t, 0, n)
	dst = append(dst, byte(rc))
	return props.appendProps(dst, m, ps), nil
}

func (p *Disconnect) decode(d *dec, _ byte, v Version) error {
	if v < V5 {
		return d.done()
	}
	return disconnectShape.decode(d, &p.ReasonCode, &p.Properties)
}

// encode writes an empty DISCONNECT before v5.
func (p *Disconnect) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(DISCONNECT)
	}
	if v < V5 {
		return append(dst, byte(DISCONNECT)<<4, 0), nil
	}
	return disconnectShape.encode(dst, p.ReasonCode, &p.Properties)
}

func (p *Auth) decode(d *dec, _ byte, v Version) error {
	if v < V5 {
		return malformed(AUTH, "", "AUTH exists only in MQTT 5.0")
	}
	return authShape.decode(d, &p.ReasonCode, &p.Properties)
}

// encode fails before v5: AUTH does not exist there.
func (p *Auth) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(AUTH)
	}
	if v < V5 {
		return dst, protocolErr(AUTH, "", "AUTH exists only in MQTT 5.0")
	}
	return authShape.encode(dst, p.ReasonCode, &p.Properties)
}
