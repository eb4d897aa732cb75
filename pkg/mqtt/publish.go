package mqtt

import "fmt"

func (p *Publish) decode(d *dec, flags byte, v Version) error {
	p.Dup = flags&0b1000 != 0
	p.QoS = QoS(flags >> 1 & 3)
	p.Retain = flags&0b0001 != 0
	if p.QoS == 3 {
		return malformed(PUBLISH, "MQTT-3.3.1-4", "QoS is 3")
	}
	if p.Dup && p.QoS == 0 {
		return protocolErr(PUBLISH, "MQTT-3.3.1-2", "DUP is 1 on a QoS 0 message")
	}
	topic, err := d.binary("topic name")
	if err != nil {
		return err
	}
	// One pass checks both UTF-8 and wildcards.
	p.Topic = aliasString(topic)
	if err := checkTopicName(p.Topic, PUBLISH, "topic name"); err != nil {
		return err
	}
	if p.QoS > 0 {
		if p.PacketID, err = d.u16("packet identifier"); err != nil {
			return err
		}
		if p.PacketID == 0 {
			return protocolErr(PUBLISH, "MQTT-2.2.1-3", "packet identifier is 0 on a QoS > 0 message")
		}
	}
	if v == V5 {
		if err := p.Properties.decode(d, kPublish); err != nil {
			return err
		}
	}
	if p.Topic == "" {
		if v < V5 {
			return protocolErr(PUBLISH, "MQTT-4.7.3-1", "topic name is empty")
		}
		if p.Properties.TopicAlias == 0 {
			return protocolErr(PUBLISH, "", "topic name is empty and there is no Topic Alias (section 3.3.2.3.4)")
		}
	}
	if d.left() > 0 {
		p.Payload = d.b[d.i:len(d.b):len(d.b)]
		d.i = len(d.b)
	}
	return nil
}

// check validates p for encoding and returns its properties' presence
// mask and size (v5 only).
func (p *Publish) check(v Version) (m uint64, ps int, err error) {
	switch {
	case p.QoS > 2:
		return 0, 0, malformed(PUBLISH, "MQTT-3.3.1-4", fmt.Sprintf("QoS is %d", p.QoS))
	case p.Dup && p.QoS == 0:
		return 0, 0, protocolErr(PUBLISH, "MQTT-3.3.1-2", "DUP on a QoS 0 message")
	case p.QoS > 0 && p.PacketID == 0:
		return 0, 0, protocolErr(PUBLISH, "MQTT-2.2.1-3", "packet identifier is 0 on a QoS > 0 message")
	case len(p.Topic) > 0xFFFF:
		return 0, 0, malformed(PUBLISH, "", "topic name is longer than 65535 bytes")
	}
	if err := checkTopicName(p.Topic, PUBLISH, "topic name"); err != nil {
		return 0, 0, err
	}
	if v == V5 {
		if m, err = p.Properties.check(kPublish, PUBLISH); err != nil {
			return 0, 0, err
		}
		ps = p.Properties.size(m)
	}
	if p.Topic == "" && (v < V5 || p.Properties.TopicAlias == 0) {
		return 0, 0, protocolErr(PUBLISH, "MQTT-4.7.3-1", "topic name is empty and there is no Topic Alias")
	}
	return m, ps, nil
}

// encode writes p; before v5 its properties are not encoded.
func (p *Publish) encode(dst []byte, v Version) ([]byte, error) {
	if p == nil {
		return dst, errNilPacket(PUBLISH)
	}
	m, ps, err := p.check(v)
	if err != nil {
		return dst, err
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		n += varintLen(ps) + ps
	}
	if n > maxVarint {
		return dst, newErr(PacketTooLarge, PUBLISH, "", "packet exceeds the largest remaining length")
	}
	dst = appendHeader(dst, PUBLISH, publishFlags(p), n)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Properties.appendProps(dst, m, ps)
	}
	return append(dst, p.Payload...), nil
}

// Clone returns a deep copy of p that shares no memory with p, for keeping
// a packet beyond the life of its buffer (see Reader.ReadPacketReuse).
// Topic, Payload and the string and byte properties are copied into one
// new buffer.
func (p *Publish) Clone() *Publish {
	c := *p
	pr := &c.Properties
	n := len(p.Topic) + len(p.Payload) + len(pr.ContentType) + len(pr.ResponseTopic) + len(pr.CorrelationData)
	for _, u := range pr.UserProperties {
		n += len(u.Key) + len(u.Value)
	}
	buf := make([]byte, 0, n)
	str := func(s string) string {
		if s == "" {
			return ""
		}
		buf = append(buf, s...)
		return aliasString(buf[len(buf)-len(s):])
	}
	bin := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	c.Topic = str(p.Topic)
	c.Payload = bin(p.Payload)
	pr.ContentType = str(pr.ContentType)
	pr.ResponseTopic = str(pr.ResponseTopic)
	pr.CorrelationData = bin(pr.CorrelationData)
	if pr.UserProperties != nil {
		pr.UserProperties = make([]UserProperty, len(p.Properties.UserProperties))
		for i, u := range p.Properties.UserProperties {
			pr.UserProperties[i] = UserProperty{str(u.Key), str(u.Value)}
		}
	}
	if pr.SubscriptionIDs != nil {
		pr.SubscriptionIDs = append([]uint32(nil), pr.SubscriptionIDs...)
	}
	return &c
}
