package mqtt

import (
	"fmt"
	"strings"
	"unsafe"
)

// Subscription option bits (MQTT 5.0 section 3.8.3.1).
const (
	optQoS               = 0b0000_0011
	optNoLocal           = 0b0000_0100
	optRetainAsPublished = 0b0000_1000
	optRetainHandling    = 0b0011_0000
)

// countStrings counts the length-prefixed strings left in d, each followed
// by extra bytes, without checking them; it bounds a slice allocation.
func countStrings(d *dec, extra int) int {
	n := 0
	for i := d.i; i+2 <= len(d.b); n++ {
		i += 2 + (int(d.b[i])<<8 | int(d.b[i+1])) + extra
		if i > len(d.b) {
			break
		}
	}
	return n
}

// decodePacketID reads a packet identifier, which is never 0: SUBSCRIBE
// and UNSUBSCRIBE need one [MQTT-2.2.1-3], and their acknowledgements
// repeat it.
func decodePacketID(d *dec, t PacketType) (uint16, error) {
	id, err := d.u16("packet identifier")
	if err == nil && id == 0 {
		err = protocolErr(t, idRule(t), "packet identifier is 0")
	}
	return id, err
}

// idRule is the rule a zero packet identifier breaks in t.
func idRule(t PacketType) string {
	if t == SUBSCRIBE || t == UNSUBSCRIBE || t == PUBLISH {
		return "MQTT-2.2.1-3"
	}
	return ""
}

func (s *Subscribe) decode(d *dec, _ byte, v Version) error {
	var err error
	if s.PacketID, err = decodePacketID(d, SUBSCRIBE); err != nil {
		return err
	}
	if v == V5 {
		if err := s.Properties.decode(d, kSubscribe); err != nil {
			return err
		}
	}
	if d.left() == 0 {
		return protocolErr(SUBSCRIBE, "MQTT-3.8.3-3", "no topic filter")
	}
	s.Subscriptions = make([]Subscription, 0, countStrings(d, 1))
	for d.left() > 0 {
		var sub Subscription
		if sub.Filter, err = d.str("topic filter"); err != nil {
			return err
		}
		opts, err := d.u8("subscription options")
		if err != nil {
			return err
		}
		sub.QoS = QoS(opts & optQoS)
		if v < V5 {
			// 3.1.1 numbers this rule MQTT-3-8.3-4 (sic).
			if opts&^optQoS != 0 {
				return malformed(SUBSCRIBE, "MQTT-3-8.3-4", "reserved bits of the requested QoS byte are set")
			}
			if sub.QoS == 3 {
				return malformed(SUBSCRIBE, "MQTT-3-8.3-4", "requested QoS is 3")
			}
		} else {
			if opts&0b1100_0000 != 0 {
				return malformed(SUBSCRIBE, "MQTT-3.8.3-5", "reserved bits of the subscription options are set")
			}
			if sub.QoS == 3 {
				return malformed(SUBSCRIBE, "", "maximum QoS is 3 (section 3.8.3.1)")
			}
			sub.NoLocal = opts&optNoLocal != 0
			sub.RetainAsPublished = opts&optRetainAsPublished != 0
			sub.RetainHandling = RetainHandling(opts & optRetainHandling >> 4)
			if sub.RetainHandling == 3 {
				return protocolErr(SUBSCRIBE, "", "Retain Handling is 3 (section 3.8.3.1)")
			}
			if sub.NoLocal && strings.HasPrefix(sub.Filter, "$share/") {
				return protocolErr(SUBSCRIBE, "MQTT-3.8.3-4", "No Local on a shared subscription")
			}
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	return nil
}

// encode writes only the QoS of each subscription before v5.
func (s *Subscribe) encode(dst []byte, v Version) ([]byte, error) {
	if s == nil {
		return dst, errNilPacket(SUBSCRIBE)
	}
	if s.PacketID == 0 {
		return dst, protocolErr(SUBSCRIBE, "MQTT-2.2.1-3", "packet identifier is 0")
	}
	if len(s.Subscriptions) == 0 {
		return dst, protocolErr(SUBSCRIBE, "MQTT-3.8.3-3", "no topic filter")
	}
	n := 2
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		if err := checkEncString(sub.Filter, SUBSCRIBE, "topic filter"); err != nil {
			return dst, err
		}
		switch {
		case sub.QoS > 2:
			return dst, malformed(SUBSCRIBE, "", fmt.Sprintf("maximum QoS is %d", sub.QoS))
		case v == V5 && sub.RetainHandling > 2:
			return dst, protocolErr(SUBSCRIBE, "", fmt.Sprintf("Retain Handling is %d", sub.RetainHandling))
		case v == V5 && sub.NoLocal && strings.HasPrefix(sub.Filter, "$share/"):
			return dst, protocolErr(SUBSCRIBE, "MQTT-3.8.3-4", "No Local on a shared subscription")
		}
		n += 3 + len(sub.Filter)
	}
	var m uint64
	var ps int
	if v == V5 {
		var err error
		if m, err = s.Properties.check(kSubscribe, SUBSCRIBE); err != nil {
			return dst, err
		}
		ps = s.Properties.size(m)
		n += varintLen(ps) + ps
	}
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, SUBSCRIBE, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, SUBSCRIBE, 0b0010, n)
	dst = appendUint16(dst, s.PacketID)
	if v == V5 {
		dst = s.Properties.appendProps(dst, m, ps)
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		dst = appendString(dst, sub.Filter)
		opts := byte(sub.QoS)
		if v == V5 {
			if sub.NoLocal {
				opts |= optNoLocal
			}
			if sub.RetainAsPublished {
				opts |= optRetainAsPublished
			}
			opts |= byte(sub.RetainHandling) << 4
		}
		dst = append(dst, opts)
	}
	return dst, nil
}

// aliasCodes returns the reason codes at the end of d without copying.
func aliasCodes(d *dec) []ReasonCode {
	b := d.b[d.i:len(d.b):len(d.b)]
	d.i = len(d.b)
	return unsafe.Slice((*ReasonCode)(unsafe.Pointer(&b[0])), len(b))
}

func (s *Suback) decode(d *dec, _ byte, v Version) error {
	var err error
	if s.PacketID, err = decodePacketID(d, SUBACK); err != nil {
		return err
	}
	if v == V5 {
		if err := s.Properties.decode(d, kSuback); err != nil {
			return err
		}
	}
	if d.left() == 0 {
		return protocolErr(SUBACK, "", "no reason code (section 3.9.3)")
	}
	s.ReasonCodes = aliasCodes(d)
	for _, rc := range s.ReasonCodes {
		switch {
		case v == V5 && !subackCodes.has(rc):
			return malformed(SUBACK, "MQTT-3.9.3-2", fmt.Sprintf("0x%02X is not a SUBACK reason code", byte(rc)))
		case v < V5 && rc > GrantedQoS2 && rc != UnspecifiedError:
			return malformed(SUBACK, "MQTT-3.9.3-2", fmt.Sprintf("return code 0x%02X is reserved", byte(rc)))
		}
	}
	return nil
}

// encode maps every failure to 0x80 before v5.
func (s *Suback) encode(dst []byte, v Version) ([]byte, error) {
	if s == nil {
		return dst, errNilPacket(SUBACK)
	}
	if s.PacketID == 0 {
		return dst, protocolErr(SUBACK, "", "packet identifier is 0")
	}
	if len(s.ReasonCodes) == 0 {
		return dst, protocolErr(SUBACK, "", "no reason code (section 3.9.3)")
	}
	for _, rc := range s.ReasonCodes {
		if !subackCodes.has(rc) {
			return dst, protocolErr(SUBACK, "MQTT-3.9.3-2", fmt.Sprintf("0x%02X is not a SUBACK reason code", byte(rc)))
		}
	}
	n := 2 + len(s.ReasonCodes)
	var m uint64
	var ps int
	if v == V5 {
		var err error
		if m, err = s.Properties.check(kSuback, SUBACK); err != nil {
			return dst, err
		}
		ps = s.Properties.size(m)
		n += varintLen(ps) + ps
	}
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, SUBACK, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, SUBACK, 0, n)
	dst = appendUint16(dst, s.PacketID)
	if v == V5 {
		dst = s.Properties.appendProps(dst, m, ps)
	}
	for _, rc := range s.ReasonCodes {
		if v < V5 && rc.IsFailure() {
			rc = UnspecifiedError // 3.1.1 has one failure return code, 0x80
		}
		dst = append(dst, byte(rc))
	}
	return dst, nil
}

func (u *Unsubscribe) decode(d *dec, _ byte, v Version) error {
	var err error
	if u.PacketID, err = decodePacketID(d, UNSUBSCRIBE); err != nil {
		return err
	}
	if v == V5 {
		if err := u.Properties.decode(d, kUnsubscribe); err != nil {
			return err
		}
	}
	if d.left() == 0 {
		return protocolErr(UNSUBSCRIBE, "MQTT-3.10.3-2", "no topic filter")
	}
	u.Filters = make([]string, 0, countStrings(d, 0))
	for d.left() > 0 {
		f, err := d.str("topic filter")
		if err != nil {
			return err
		}
		u.Filters = append(u.Filters, f)
	}
	return nil
}

func (u *Unsubscribe) encode(dst []byte, v Version) ([]byte, error) {
	if u == nil {
		return dst, errNilPacket(UNSUBSCRIBE)
	}
	if u.PacketID == 0 {
		return dst, protocolErr(UNSUBSCRIBE, "MQTT-2.2.1-3", "packet identifier is 0")
	}
	if len(u.Filters) == 0 {
		return dst, protocolErr(UNSUBSCRIBE, "MQTT-3.10.3-2", "no topic filter")
	}
	n := 2
	for _, f := range u.Filters {
		if err := checkEncString(f, UNSUBSCRIBE, "topic filter"); err != nil {
			return dst, err
		}
		n += 2 + len(f)
	}
	var m uint64
	var ps int
	if v == V5 {
		var err error
		if m, err = u.Properties.check(kUnsubscribe, UNSUBSCRIBE); err != nil {
			return dst, err
		}
		ps = u.Properties.size(m)
		n += varintLen(ps) + ps
	}
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, UNSUBSCRIBE, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, UNSUBSCRIBE, 0b0010, n)
	dst = appendUint16(dst, u.PacketID)
	if v == V5 {
		dst = u.Properties.appendProps(dst, m, ps)
	}
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

func (u *Unsuback) decode(d *dec, _ byte, v Version) error {
	var err error
	if u.PacketID, err = decodePacketID(d, UNSUBACK); err != nil {
		return err
	}
	if v < V5 {
		return d.done()
	}
	if err := u.Properties.decode(d, kUnsuback); err != nil {
		return err
	}
	if d.left() == 0 {
		return protocolErr(UNSUBACK, "", "no reason code (section 3.11.3)")
	}
	u.ReasonCodes = aliasCodes(d)
	for _, rc := range u.ReasonCodes {
		if !unsubackCodes.has(rc) {
			return malformed(UNSUBACK, "MQTT-3.11.3-2", fmt.Sprintf("0x%02X is not an UNSUBACK reason code", byte(rc)))
		}
	}
	return nil
}

// encode writes only the packet identifier before v5.
func (u *Unsuback) encode(dst []byte, v Version) ([]byte, error) {
	if u == nil {
		return dst, errNilPacket(UNSUBACK)
	}
	if u.PacketID == 0 {
		return dst, protocolErr(UNSUBACK, "", "packet identifier is 0")
	}
	if v < V5 {
		return append(dst, byte(UNSUBACK)<<4, 2, byte(u.PacketID>>8), byte(u.PacketID)), nil
	}
	if len(u.ReasonCodes) == 0 {
		return dst, protocolErr(UNSUBACK, "", "no reason code (section 3.11.3)")
	}
	for _, rc := range u.ReasonCodes {
		if !unsubackCodes.has(rc) {
			return dst, protocolErr(UNSUBACK, "MQTT-3.11.3-2", fmt.Sprintf("0x%02X is not an UNSUBACK reason code", byte(rc)))
		}
	}
	m, err := u.Properties.check(kUnsuback, UNSUBACK)
	if err != nil {
		return dst, err
	}
	ps := u.Properties.size(m)
	n := 2 + varintLen(ps) + ps + len(u.ReasonCodes)
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, UNSUBACK, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, UNSUBACK, 0, n)
	dst = appendUint16(dst, u.PacketID)
	dst = u.Properties.appendProps(dst, m, ps)
	for _, rc := range u.ReasonCodes {
		dst = append(dst, byte(rc))
	}
	return dst, nil
}
