package mqtt

import "fmt"

// Connect flag bits (MQTT 5.0 section 3.1.2.3).
const (
	flagReserved   = 0x01
	flagCleanStart = 0x02
	flagWill       = 0x04
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
)

// protocolName returns the protocol name written in CONNECT for v.
func protocolName(v Version) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

func (c *Connect) decode(d *dec, _ byte, _ Version) error {
	name, err := d.str("protocol name")
	if err != nil {
		return err
	}
	level, err := d.u8("protocol level")
	if err != nil {
		return err
	}
	c.ProtocolName, c.Version = name, Version(level)
	switch {
	case name == "MQTT" && (c.Version == V311 || c.Version == V5), name == "MQIsdp" && c.Version == V31:
	case name == "MQTT" || name == "MQIsdp":
		return newErr(UnsupportedProtocolVersion, CONNECT, "MQTT-3.1.2-2",
			fmt.Sprintf("protocol level %d is not supported with protocol name %q", level, name))
	default:
		return newErr(UnsupportedProtocolVersion, CONNECT, "MQTT-3.1.2-1",
			fmt.Sprintf("protocol name %q is neither \"MQTT\" nor \"MQIsdp\"", name))
	}
	v := c.Version
	flags, err := d.u8("connect flags")
	if err != nil {
		return err
	}
	if flags&flagReserved != 0 {
		return malformed(CONNECT, "MQTT-3.1.2-3", "the reserved connect flag is 1")
	}
	c.CleanStart = flags&flagCleanStart != 0
	c.UsernameSet = flags&flagUsername != 0
	c.PasswordSet = flags&flagPassword != 0
	willFlag := flags&flagWill != 0
	willQoS := QoS(flags >> 3 & 3)
	willRetain := flags&flagWillRetain != 0
	switch {
	case !willFlag && willQoS != 0:
		return malformed(CONNECT, "MQTT-3.1.2-13", fmt.Sprintf("Will QoS is %d but the Will Flag is 0", willQoS))
	case !willFlag && willRetain:
		return malformed(CONNECT, "MQTT-3.1.2-15", "Will Retain is 1 but the Will Flag is 0")
	case willQoS == 3:
		return malformed(CONNECT, "MQTT-3.1.2-14", "Will QoS is 3")
	case v == V311 && c.PasswordSet && !c.UsernameSet:
		return malformed(CONNECT, "MQTT-3.1.2-22", "Password Flag is 1 but the User Name Flag is 0")
	}
	if c.KeepAlive, err = d.u16("keep alive"); err != nil {
		return err
	}
	if v == V5 {
		if err := c.Properties.decode(d, kConnect); err != nil {
			return err
		}
	}
	// The Client Identifier comes first in the payload [MQTT-3.1.3-3].
	if c.ClientID, err = d.str("client identifier"); err != nil {
		return err
	}
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if v == V5 {
			if err := w.Properties.decode(d, kWill); err != nil {
				return err
			}
		}
		if w.Topic, err = d.str("will topic"); err != nil {
			return err
		}
		if err := checkTopicName(w.Topic, CONNECT, "will topic"); err != nil {
			return err
		}
		if w.Payload, err = d.binary("will payload"); err != nil {
			return err
		}
		c.Will = w
	}
	if c.UsernameSet {
		if c.Username, err = d.str("user name"); err != nil {
			return err
		}
	}
	if c.PasswordSet {
		if c.Password, err = d.binary("password"); err != nil {
			return err
		}
	}
	return d.done()
}

// encode writes the protocol name and level for v; c.ProtocolName and
// c.Version are not consulted. A user name is written when UsernameSet is
// true or Username is not empty, a password when PasswordSet is true or
// Password is not nil.
func (c *Connect) encode(dst []byte, v Version) ([]byte, error) {
	if c == nil {
		return dst, errNilPacket(CONNECT)
	}
	hasUser := c.UsernameSet || c.Username != ""
	hasPass := c.PasswordSet || c.Password != nil
	if v == V311 && hasPass && !hasUser {
		return dst, malformed(CONNECT, "MQTT-3.1.2-22", "a password needs a user name in MQTT 3.1.1")
	}
	for _, s := range [...]struct{ what, v string }{{"client identifier", c.ClientID}, {"user name", c.Username}} {
		if err := checkEncString(s.v, CONNECT, s.what); err != nil {
			return dst, err
		}
	}
	if err := checkEncBinary(c.Password, CONNECT, "password"); err != nil {
		return dst, err
	}
	name := protocolName(v)
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(c.ClientID)
	var m, wm uint64
	var ps, wps int
	var err error
	if v == V5 {
		if m, err = c.Properties.check(kConnect, CONNECT); err != nil {
			return dst, err
		}
		ps = c.Properties.size(m)
		n += varintLen(ps) + ps
	}
	flags := byte(0)
	if c.CleanStart {
		flags |= flagCleanStart
	}
	if w := c.Will; w != nil {
		if w.QoS > 2 {
			return dst, malformed(CONNECT, "MQTT-3.1.2-14", fmt.Sprintf("Will QoS is %d", w.QoS))
		}
		if err := checkEncString(w.Topic, CONNECT, "will topic"); err != nil {
			return dst, err
		}
		if err := checkTopicName(w.Topic, CONNECT, "will topic"); err != nil {
			return dst, err
		}
		if err := checkEncBinary(w.Payload, CONNECT, "will payload"); err != nil {
			return dst, err
		}
		flags |= flagWill | byte(w.QoS)<<3
		if w.Retain {
			flags |= flagWillRetain
		}
		n += 2 + len(w.Topic) + 2 + len(w.Payload)
		if v == V5 {
			if wm, err = w.Properties.check(kWill, CONNECT); err != nil {
				return dst, err
			}
			wps = w.Properties.size(wm)
			n += varintLen(wps) + wps
		}
	}
	if hasUser {
		flags |= flagUsername
		n += 2 + len(c.Username)
	}
	if hasPass {
		flags |= flagPassword
		n += 2 + len(c.Password)
	}
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, CONNECT, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, CONNECT, 0, n)
	dst = appendString(dst, name)
	dst = append(dst, byte(v), flags)
	dst = appendUint16(dst, c.KeepAlive)
	if v == V5 {
		dst = c.Properties.appendProps(dst, m, ps)
	}
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		if v == V5 {
			dst = w.Properties.appendProps(dst, wm, wps)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if hasUser {
		dst = appendString(dst, c.Username)
	}
	if hasPass {
		dst = appendBinary(dst, c.Password)
	}
	return dst, nil
}

func errNilPacket(t PacketType) error {
	return newErr(ImplementationSpecificError, t, "", "nil packet")
}

func (c *Connack) decode(d *dec, _ byte, v Version) error {
	flags, err := d.u8("acknowledge flags")
	if err != nil {
		return err
	}
	code, err := d.u8("reason code")
	if err != nil {
		return err
	}
	if v < V5 {
		// MQTT 3.1 has no Session Present flag: the byte is unused there.
		if v == V311 {
			if flags&0xFE != 0 {
				return malformed(CONNACK, "", "reserved acknowledge flags are set (section 3.2.2.1)")
			}
			c.SessionPresent = flags&1 != 0
		}
		rc, ok := ConnackReasonCode(code)
		if !ok {
			return malformed(CONNACK, "", fmt.Sprintf("return code %d is reserved", code))
		}
		c.ReasonCode = rc
		if c.SessionPresent && code != 0 {
			return protocolErr(CONNACK, "MQTT-3.2.2-4", "Session Present is 1 with a non-zero return code")
		}
		return d.done()
	}
	if flags&0xFE != 0 {
		return malformed(CONNACK, "MQTT-3.2.2-1", "reserved acknowledge flags are set")
	}
	c.SessionPresent = flags&1 != 0
	c.ReasonCode = ReasonCode(code)
	if !connackCodes.has(c.ReasonCode) {
		return malformed(CONNACK, "MQTT-3.2.2-8", fmt.Sprintf("0x%02X is not a CONNACK reason code", code))
	}
	if c.SessionPresent && c.ReasonCode.IsFailure() {
		return protocolErr(CONNACK, "MQTT-3.2.2-6", "Session Present is 1 with a failure reason code")
	}
	if err := c.Properties.decode(d, kConnack); err != nil {
		return err
	}
	return d.done()
}

// encode maps the reason code to a 3.1.1 return code before v5 (see
// ConnackReturnCode); MQTT 3.1 has no Session Present flag, so it is not
// written there.
func (c *Connack) encode(dst []byte, v Version) ([]byte, error) {
	if c == nil {
		return dst, errNilPacket(CONNACK)
	}
	if c.SessionPresent && c.ReasonCode.IsFailure() {
		return dst, protocolErr(CONNACK, "MQTT-3.2.2-6", "Session Present with a failure reason code")
	}
	flags := byte(0)
	if c.SessionPresent && v != V31 {
		flags = 1
	}
	if v < V5 {
		code, ok := ConnackReturnCode(c.ReasonCode)
		if !ok {
			return dst, protocolErr(CONNACK, "", fmt.Sprintf("0x%02X is not a CONNACK reason code", byte(c.ReasonCode)))
		}
		return append(dst, byte(CONNACK)<<4, 2, flags, code), nil
	}
	if !connackCodes.has(c.ReasonCode) {
		return dst, protocolErr(CONNACK, "MQTT-3.2.2-8", fmt.Sprintf("0x%02X is not a CONNACK reason code", byte(c.ReasonCode)))
	}
	m, err := c.Properties.check(kConnack, CONNACK)
	if err != nil {
		return dst, err
	}
	ps := c.Properties.size(m)
	n := 2 + varintLen(ps) + ps
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, CONNACK, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, CONNACK, 0, n)
	dst = append(dst, flags, byte(c.ReasonCode))
	return c.Properties.appendProps(dst, m, ps), nil
}
