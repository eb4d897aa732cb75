package mqtt

import (
	"fmt"
	"math/bits"
)

// propKind says which property set a Properties value belongs to. Each is a
// bit, so propInfo can list every packet that may carry a property.
type propKind uint16

const (
	kConnect propKind = 1 << iota
	kConnack
	kPublish
	kWill
	kPuback // PUBACK, PUBREC, PUBREL and PUBCOMP
	kSubscribe
	kSuback
	kUnsubscribe
	kUnsuback
	kDisconnect
	kAuth
)

func (k propKind) String() string {
	switch k {
	case kConnect:
		return "CONNECT"
	case kConnack:
		return "CONNACK"
	case kPublish:
		return "PUBLISH"
	case kWill:
		return "will properties"
	case kPuback:
		return "PUBACK, PUBREC, PUBREL and PUBCOMP"
	case kSubscribe:
		return "SUBSCRIBE"
	case kSuback:
		return "SUBACK"
	case kUnsubscribe:
		return "UNSUBSCRIBE"
	case kUnsuback:
		return "UNSUBACK"
	case kDisconnect:
		return "DISCONNECT"
	case kAuth:
		return "AUTH"
	}
	return "unknown packet"
}

// Property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	propPayloadFormat        = 0x01
	propMessageExpiry        = 0x02
	propContentType          = 0x03
	propResponseTopic        = 0x08
	propCorrelationData      = 0x09
	propSubscriptionID       = 0x0B
	propSessionExpiry        = 0x11
	propAssignedClientID     = 0x12
	propServerKeepAlive      = 0x13
	propAuthMethod           = 0x15
	propAuthData             = 0x16
	propRequestProblemInfo   = 0x17
	propWillDelay            = 0x18
	propRequestResponseInfo  = 0x19
	propResponseInfo         = 0x1A
	propServerReference      = 0x1C
	propReasonString         = 0x1F
	propReceiveMaximum       = 0x21
	propTopicAliasMaximum    = 0x22
	propTopicAlias           = 0x23
	propMaximumQoS           = 0x24
	propRetainAvailable      = 0x25
	propUserProperty         = 0x26
	propMaximumPacketSize    = 0x27
	propWildcardSubAvailable = 0x28
	propSubIDAvailable       = 0x29
	propSharedSubAvailable   = 0x2A
	propMax                  = 0x2A
)

// propInfo describes each property: its spec name, the key used by
// String, and the packets that may carry it (MQTT 5.0 section 2.2.2.2).
var propInfo = [propMax + 1]struct {
	name, key string
	allowed   propKind
}{
	propPayloadFormat:        {"Payload Format Indicator", "payload_format", kPublish | kWill},
	propMessageExpiry:        {"Message Expiry Interval", "message_expiry", kPublish | kWill},
	propContentType:          {"Content Type", "content_type", kPublish | kWill},
	propResponseTopic:        {"Response Topic", "response_topic", kPublish | kWill},
	propCorrelationData:      {"Correlation Data", "correlation_data", kPublish | kWill},
	propSubscriptionID:       {"Subscription Identifier", "sub_id", kPublish | kSubscribe},
	propSessionExpiry:        {"Session Expiry Interval", "session_expiry", kConnect | kConnack | kDisconnect},
	propAssignedClientID:     {"Assigned Client Identifier", "assigned_client_id", kConnack},
	propServerKeepAlive:      {"Server Keep Alive", "server_keep_alive", kConnack},
	propAuthMethod:           {"Authentication Method", "auth_method", kConnect | kConnack | kAuth},
	propAuthData:             {"Authentication Data", "auth_data", kConnect | kConnack | kAuth},
	propRequestProblemInfo:   {"Request Problem Information", "request_problem_info", kConnect},
	propWillDelay:            {"Will Delay Interval", "delay", kWill},
	propRequestResponseInfo:  {"Request Response Information", "request_response_info", kConnect},
	propResponseInfo:         {"Response Information", "response_info", kConnack},
	propServerReference:      {"Server Reference", "server_reference", kConnack | kDisconnect},
	propReasonString:         {"Reason String", "reason_string", kConnack | kPuback | kSuback | kUnsuback | kDisconnect | kAuth},
	propReceiveMaximum:       {"Receive Maximum", "receive_max", kConnect | kConnack},
	propTopicAliasMaximum:    {"Topic Alias Maximum", "topic_alias_max", kConnect | kConnack},
	propTopicAlias:           {"Topic Alias", "topic_alias", kPublish},
	propMaximumQoS:           {"Maximum QoS", "max_qos", kConnack},
	propRetainAvailable:      {"Retain Available", "retain_available", kConnack},
	propUserProperty:         {"User Property", "user", kConnect | kConnack | kPublish | kWill | kPuback | kSubscribe | kSuback | kUnsubscribe | kUnsuback | kDisconnect | kAuth},
	propMaximumPacketSize:    {"Maximum Packet Size", "max_packet_size", kConnect | kConnack},
	propWildcardSubAvailable: {"Wildcard Subscription Available", "wildcard_sub_available", kConnack},
	propSubIDAvailable:       {"Subscription Identifier Available", "sub_id_available", kConnack},
	propSharedSubAvailable:   {"Shared Subscription Available", "shared_sub_available", kConnack},
}

// present reports which properties p carries, one bit per identifier,
// following the presence rules in the Properties doc comment.
func (p *Properties) present() uint64 {
	var m uint64
	set := func(id int, ok bool) {
		if ok {
			m |= 1 << id
		}
	}
	set(propPayloadFormat, p.PayloadFormat != 0)
	set(propMessageExpiry, p.MessageExpirySet)
	set(propContentType, p.ContentType != "")
	set(propResponseTopic, p.ResponseTopic != "")
	set(propCorrelationData, p.CorrelationData != nil)
	set(propSubscriptionID, len(p.SubscriptionIDs) > 0)
	set(propSessionExpiry, p.SessionExpirySet)
	set(propAssignedClientID, p.AssignedClientID != "")
	set(propServerKeepAlive, p.ServerKeepAliveSet)
	set(propAuthMethod, p.AuthMethod != "")
	set(propAuthData, p.AuthData != nil)
	set(propRequestProblemInfo, p.RequestProblemInfoSet)
	set(propWillDelay, p.WillDelay != 0)
	set(propRequestResponseInfo, p.RequestResponseInfo != 0)
	set(propResponseInfo, p.ResponseInfo != "")
	set(propServerReference, p.ServerReference != "")
	set(propReasonString, p.ReasonString != "")
	set(propReceiveMaximum, p.ReceiveMaximum != 0)
	set(propTopicAliasMaximum, p.TopicAliasMaximum != 0)
	set(propTopicAlias, p.TopicAlias != 0)
	set(propMaximumQoS, p.MaximumQoSSet)
	set(propRetainAvailable, p.RetainAvailableSet)
	set(propUserProperty, len(p.UserProperties) > 0)
	set(propMaximumPacketSize, p.MaximumPacketSize != 0)
	set(propWildcardSubAvailable, p.WildcardSubAvailableSet)
	set(propSubIDAvailable, p.SubIDAvailableSet)
	set(propSharedSubAvailable, p.SharedSubAvailableSet)
	return m
}

// decode reads a property length and the properties it covers into p,
// checking each property against the packet kind k, repetitions and the
// allowed values.
func (p *Properties) decode(d *dec, k propKind) error {
	n, err := d.varint("property length")
	if err != nil {
		return err
	}
	if int(n) > d.left() {
		return malformed(d.t, "", "property length runs past the end of the packet")
	}
	if n == 0 {
		return nil
	}
	end := d.i + int(n)
	pd := dec{b: d.b[:end], i: d.i, t: d.t}
	d.i = end
	var seen uint64
	for pd.i < end {
		id32, err := pd.varint("property identifier")
		if err != nil {
			return err
		}
		if id32 > propMax || propInfo[id32].allowed == 0 {
			return malformed(d.t, "", fmt.Sprintf("unknown property identifier 0x%02X", id32))
		}
		id := int(id32)
		info := &propInfo[id]
		if info.allowed&k == 0 {
			return protocolErr(d.t, "", info.name+" is not allowed in "+k.String())
		}
		if seen&(1<<id) != 0 && id != propUserProperty && (id != propSubscriptionID || k != kPublish) {
			return protocolErr(d.t, "", info.name+" appears more than once")
		}
		seen |= 1 << id
		if err := p.decodeOne(&pd, id, info.name); err != nil {
			return err
		}
	}
	if p.AuthData != nil && p.AuthMethod == "" {
		return protocolErr(d.t, "", "Authentication Data without an Authentication Method")
	}
	return nil
}

// bool01 reads a byte property whose only values are 0 and 1.
func bool01(d *dec, name string) (byte, error) {
	b, err := d.u8(name)
	if err == nil && b > 1 {
		err = protocolErr(d.t, "", fmt.Sprintf("%s is %d, not 0 or 1", name, b))
	}
	return b, err
}

func (p *Properties) decodeOne(d *dec, id int, name string) error {
	var err error
	switch id {
	case propPayloadFormat:
		p.PayloadFormat, err = bool01(d, name)
	case propMessageExpiry:
		p.MessageExpiry, err = d.u32(name)
		p.MessageExpirySet = true
	case propContentType:
		p.ContentType, err = d.str(name)
	case propResponseTopic:
		p.ResponseTopic, err = d.str(name)
		if err == nil {
			err = checkTopicName(p.ResponseTopic, d.t, name)
		}
	case propCorrelationData:
		p.CorrelationData, err = d.binary(name)
	case propSubscriptionID:
		var v uint32
		if v, err = d.varint(name); err == nil {
			if v == 0 {
				return protocolErr(d.t, "", "Subscription Identifier is 0")
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		}
	case propSessionExpiry:
		p.SessionExpiry, err = d.u32(name)
		p.SessionExpirySet = true
	case propAssignedClientID:
		p.AssignedClientID, err = d.str(name)
	case propServerKeepAlive:
		p.ServerKeepAlive, err = d.u16(name)
		p.ServerKeepAliveSet = true
	case propAuthMethod:
		p.AuthMethod, err = d.str(name)
	case propAuthData:
		p.AuthData, err = d.binary(name)
	case propRequestProblemInfo:
		p.RequestProblemInfo, err = bool01(d, name)
		p.RequestProblemInfoSet = true
	case propWillDelay:
		p.WillDelay, err = d.u32(name)
	case propRequestResponseInfo:
		p.RequestResponseInfo, err = bool01(d, name)
	case propResponseInfo:
		p.ResponseInfo, err = d.str(name)
	case propServerReference:
		p.ServerReference, err = d.str(name)
	case propReasonString:
		p.ReasonString, err = d.str(name)
	case propReceiveMaximum:
		if p.ReceiveMaximum, err = d.u16(name); err == nil && p.ReceiveMaximum == 0 {
			return protocolErr(d.t, "", "Receive Maximum is 0")
		}
	case propTopicAliasMaximum:
		p.TopicAliasMaximum, err = d.u16(name)
	case propTopicAlias:
		if p.TopicAlias, err = d.u16(name); err == nil && p.TopicAlias == 0 {
			// A receiver answers a Topic Alias of 0 with DISCONNECT 0x94.
			return newErr(TopicAliasInvalid, d.t, "MQTT-3.3.2-8", "Topic Alias is 0")
		}
	case propMaximumQoS:
		p.MaximumQoS, err = bool01(d, name)
		p.MaximumQoSSet = true
	case propRetainAvailable:
		p.RetainAvailable, err = bool01(d, name)
		p.RetainAvailableSet = true
	case propUserProperty:
		var u UserProperty
		if u.Key, err = d.str("User Property name"); err == nil {
			if u.Value, err = d.str("User Property value"); err == nil {
				p.UserProperties = append(p.UserProperties, u)
			}
		}
	case propMaximumPacketSize:
		if p.MaximumPacketSize, err = d.u32(name); err == nil && p.MaximumPacketSize == 0 {
			return protocolErr(d.t, "", "Maximum Packet Size is 0")
		}
	case propWildcardSubAvailable:
		p.WildcardSubAvailable, err = bool01(d, name)
		p.WildcardSubAvailableSet = true
	case propSubIDAvailable:
		p.SubIDAvailable, err = bool01(d, name)
		p.SubIDAvailableSet = true
	case propSharedSubAvailable:
		p.SharedSubAvailable, err = bool01(d, name)
		p.SharedSubAvailableSet = true
	}
	return err
}

// strProps are the properties whose value is a UTF-8 string.
const strProps = 1<<propContentType | 1<<propResponseTopic | 1<<propAssignedClientID | 1<<propAuthMethod |
	1<<propResponseInfo | 1<<propServerReference | 1<<propReasonString

// check validates p for encoding as the properties of kind k in packet t.
// It returns the presence mask for size and appendProps.
func (p *Properties) check(k propKind, t PacketType) (uint64, error) {
	m := p.present()
	if m == 0 {
		return 0, nil
	}
	for rest := m; rest != 0; rest &= rest - 1 {
		id := bits.TrailingZeros64(rest)
		if propInfo[id].allowed&k == 0 {
			return 0, protocolErr(t, "", propInfo[id].name+" is not allowed in "+k.String())
		}
	}
	for _, b := range [...]struct {
		id int
		v  byte
	}{
		{propPayloadFormat, p.PayloadFormat}, {propRequestProblemInfo, p.RequestProblemInfo},
		{propRequestResponseInfo, p.RequestResponseInfo}, {propMaximumQoS, p.MaximumQoS},
		{propRetainAvailable, p.RetainAvailable}, {propWildcardSubAvailable, p.WildcardSubAvailable},
		{propSubIDAvailable, p.SubIDAvailable}, {propSharedSubAvailable, p.SharedSubAvailable},
	} {
		if b.v > 1 {
			return 0, protocolErr(t, "", fmt.Sprintf("%s is %d, not 0 or 1", propInfo[b.id].name, b.v))
		}
	}
	if k == kSubscribe && len(p.SubscriptionIDs) > 1 {
		return 0, protocolErr(t, "", "more than one Subscription Identifier")
	}
	for _, id := range p.SubscriptionIDs {
		if id == 0 || id > maxVarint {
			return 0, protocolErr(t, "", fmt.Sprintf("Subscription Identifier %d is out of range 1..%d", id, maxVarint))
		}
	}
	if p.AuthData != nil && p.AuthMethod == "" {
		return 0, protocolErr(t, "", "Authentication Data without an Authentication Method")
	}
	if m&strProps != 0 {
		for _, s := range [...]struct {
			id int
			v  string
		}{
			{propContentType, p.ContentType}, {propResponseTopic, p.ResponseTopic},
			{propAssignedClientID, p.AssignedClientID}, {propAuthMethod, p.AuthMethod},
			{propResponseInfo, p.ResponseInfo}, {propServerReference, p.ServerReference},
			{propReasonString, p.ReasonString},
		} {
			if err := checkEncString(s.v, t, propInfo[s.id].name); err != nil {
				return 0, err
			}
		}
		if err := checkTopicName(p.ResponseTopic, t, "Response Topic"); err != nil {
			return 0, err
		}
	}
	if err := checkEncBinary(p.CorrelationData, t, "Correlation Data"); err != nil {
		return 0, err
	}
	if err := checkEncBinary(p.AuthData, t, "Authentication Data"); err != nil {
		return 0, err
	}
	for _, u := range p.UserProperties {
		if err := checkEncString(u.Key, t, "User Property name"); err != nil {
			return 0, err
		}
		if err := checkEncString(u.Value, t, "User Property value"); err != nil {
			return 0, err
		}
	}
	return m, nil
}

// size reports the length of the encoded properties in m, without the
// property length itself.
func (p *Properties) size(m uint64) int {
	if m == 0 {
		return 0
	}
	n := 0
	for rest := m; rest != 0; rest &= rest - 1 {
		switch id := bits.TrailingZeros64(rest); id {
		case propPayloadFormat, propRequestProblemInfo, propRequestResponseInfo, propMaximumQoS,
			propRetainAvailable, propWildcardSubAvailable, propSubIDAvailable, propSharedSubAvailable:
			n += 2
		case propServerKeepAlive, propReceiveMaximum, propTopicAliasMaximum, propTopicAlias:
			n += 3
		case propMessageExpiry, propSessionExpiry, propWillDelay, propMaximumPacketSize:
			n += 5
		case propContentType:
			n += 3 + len(p.ContentType)
		case propResponseTopic:
			n += 3 + len(p.ResponseTopic)
		case propCorrelationData:
			n += 3 + len(p.CorrelationData)
		case propSubscriptionID:
			for _, s := range p.SubscriptionIDs {
				n += 1 + varintLen(int(s))
			}
		case propAssignedClientID:
			n += 3 + len(p.AssignedClientID)
		case propAuthMethod:
			n += 3 + len(p.AuthMethod)
		case propAuthData:
			n += 3 + len(p.AuthData)
		case propResponseInfo:
			n += 3 + len(p.ResponseInfo)
		case propServerReference:
			n += 3 + len(p.ServerReference)
		case propReasonString:
			n += 3 + len(p.ReasonString)
		case propUserProperty:
			for _, u := range p.UserProperties {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// appendProps appends the property length n and the properties in m.
func (p *Properties) appendProps(dst []byte, m uint64, n int) []byte {
	dst = appendVarint(dst, n)
	for rest := m; rest != 0; rest &= rest - 1 {
		id := bits.TrailingZeros64(rest)
		if id != propSubscriptionID && id != propUserProperty {
			dst = append(dst, byte(id))
		}
		switch id {
		case propPayloadFormat:
			dst = append(dst, p.PayloadFormat)
		case propMessageExpiry:
			dst = appendUint32(dst, p.MessageExpiry)
		case propContentType:
			dst = appendString(dst, p.ContentType)
		case propResponseTopic:
			dst = appendString(dst, p.ResponseTopic)
		case propCorrelationData:
			dst = appendBinary(dst, p.CorrelationData)
		case propSubscriptionID:
			for _, s := range p.SubscriptionIDs {
				dst = append(dst, propSubscriptionID)
				dst = appendVarint(dst, int(s))
			}
		case propSessionExpiry:
			dst = appendUint32(dst, p.SessionExpiry)
		case propAssignedClientID:
			dst = appendString(dst, p.AssignedClientID)
		case propServerKeepAlive:
			dst = appendUint16(dst, p.ServerKeepAlive)
		case propAuthMethod:
			dst = appendString(dst, p.AuthMethod)
		case propAuthData:
			dst = appendBinary(dst, p.AuthData)
		case propRequestProblemInfo:
			dst = append(dst, p.RequestProblemInfo)
		case propWillDelay:
			dst = appendUint32(dst, p.WillDelay)
		case propRequestResponseInfo:
			dst = append(dst, p.RequestResponseInfo)
		case propResponseInfo:
			dst = appendString(dst, p.ResponseInfo)
		case propServerReference:
			dst = appendString(dst, p.ServerReference)
		case propReasonString:
			dst = appendString(dst, p.ReasonString)
		case propReceiveMaximum:
			dst = appendUint16(dst, p.ReceiveMaximum)
		case propTopicAliasMaximum:
			dst = appendUint16(dst, p.TopicAliasMaximum)
		case propTopicAlias:
			dst = appendUint16(dst, p.TopicAlias)
		case propMaximumQoS:
			dst = append(dst, p.MaximumQoS)
		case propRetainAvailable:
			dst = append(dst, p.RetainAvailable)
		case propUserProperty:
			for _, u := range p.UserProperties {
				dst = append(dst, propUserProperty)
				dst = appendString(dst, u.Key)
				dst = appendString(dst, u.Value)
			}
		case propMaximumPacketSize:
			dst = appendUint32(dst, p.MaximumPacketSize)
		case propWildcardSubAvailable:
			dst = append(dst, p.WildcardSubAvailable)
		case propSubIDAvailable:
			dst = append(dst, p.SubIDAvailable)
		case propSharedSubAvailable:
			dst = append(dst, p.SharedSubAvailable)
		}
	}
	return dst
}
