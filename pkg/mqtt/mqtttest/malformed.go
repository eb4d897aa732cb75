package mqtttest

import "github.com/flockmq/flockmq/pkg/mqtt"

// Malformed is an input that must fail to decode with Code; Rule is the
// spec's normative statement id when the spec numbers the rule.
type Malformed struct {
	Name          string
	Version       mqtt.Version // 0: the version is unknown (no CONNECT yet)
	MaxPacketSize uint32       // 0: mqtt.DefaultMaxPacketSize
	Raw           []byte
	Code          mqtt.ReasonCode
	Rule          string
}

// connectV4 returns a 3.1.1 CONNECT with the given connect flags, keep
// alive 60 and client identifier "c".
func connectV4(flags byte) []byte {
	return []byte{
		0x10, 13, // CONNECT, remaining length 13
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x04,       // protocol level 4
		flags,      // connect flags
		0x00, 0x3C, // keep alive 60
		0x00, 0x01, 'c', // client identifier "c"
	}
}

// connectV5 returns a v5 CONNECT with clean start, client identifier "c"
// and the given properties.
func connectV5(props ...byte) []byte {
	b := []byte{
		0x10, byte(14 + len(props)), // CONNECT, remaining length
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x05,       // protocol level 5
		0x02,       // connect flags: clean start
		0x00, 0x3C, // keep alive 60
		byte(len(props)), // property length
	}
	b = append(b, props...)
	return append(b, 0x00, 0x01, 'c') // client identifier "c"
}

// publishV5 returns a v5 QoS 0 PUBLISH to topic "t" with the given
// properties and no payload.
func publishV5(props ...byte) []byte {
	b := []byte{0x30, byte(4 + len(props)), 0x00, 0x01, 't', byte(len(props))}
	return append(b, props...)
}

// Malformations are inputs every decoder must refuse, each with the reason
// code to answer with and the rule it breaks.
var Malformations = []Malformed{
	// Fixed header and lengths.
	{Name: "remaining length of five bytes", Version: mqtt.V311, Raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, Code: mqtt.MalformedPacket, Rule: "MQTT-1.5.5-1"},
	{Name: "packet type 0", Version: mqtt.V311, Raw: []byte{0x00, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "PUBREL flags 0b0000", Version: mqtt.V311, Raw: []byte{0x60, 2, 0x00, 0x01}, Code: mqtt.MalformedPacket, Rule: "MQTT-2.1.3-1"},
	{Name: "SUBSCRIBE flags 0b0000", Version: mqtt.V311, Raw: []byte{0x80, 6, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, Code: mqtt.MalformedPacket, Rule: "MQTT-2.1.3-1"},
	{Name: "UNSUBSCRIBE flags 0b0011", Version: mqtt.V5, Raw: []byte{0xA3, 6, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}, Code: mqtt.MalformedPacket, Rule: "MQTT-2.1.3-1"},
	{Name: "PUBACK flags 0b0001", Version: mqtt.V311, Raw: []byte{0x41, 2, 0x00, 0x01}, Code: mqtt.MalformedPacket, Rule: "MQTT-2.1.3-1"},
	{Name: "PINGREQ flags 0b1000", Version: mqtt.V311, Raw: []byte{0xC8, 0}, Code: mqtt.MalformedPacket, Rule: "MQTT-2.1.3-1"},
	{Name: "packet larger than the maximum", Version: mqtt.V311, MaxPacketSize: 16, Raw: []byte{0x30, 15, 0x00, 0x01, 't'}, Code: mqtt.PacketTooLarge},
	{Name: "huge declared length", Version: mqtt.V311, Raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, Code: mqtt.PacketTooLarge},
	{Name: "packet before CONNECT", Version: 0, Raw: []byte{0x40, 2, 0x00, 0x01}, Code: mqtt.ProtocolError, Rule: "MQTT-3.1.0-1"},
	{Name: "PUBACK v4 trailing byte", Version: mqtt.V311, Raw: []byte{0x40, 3, 0x00, 0x01, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "PUBACK too short", Version: mqtt.V311, Raw: []byte{0x40, 1, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "PINGREQ with a body", Version: mqtt.V311, Raw: []byte{0xC0, 1, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "DISCONNECT v4 with a body", Version: mqtt.V311, Raw: []byte{0xE0, 1, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "UNSUBACK v4 with a reason code", Version: mqtt.V311, Raw: []byte{0xB0, 3, 0x00, 0x01, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "AUTH before v5", Version: mqtt.V311, Raw: []byte{0xF0, 0}, Code: mqtt.MalformedPacket},

	// Strings [MQTT-1.5.4-1] [MQTT-1.5.4-2].
	{Name: "topic with U+0000", Version: mqtt.V311, Raw: []byte{0x30, 5, 0x00, 0x03, 'a', 0x00, 'b'}, Code: mqtt.MalformedPacket, Rule: "MQTT-1.5.4-2"},
	{Name: "topic with an encoded surrogate", Version: mqtt.V311, Raw: []byte{0x30, 6, 0x00, 0x04, 'a', 0xED, 0xA0, 0x80}, Code: mqtt.MalformedPacket, Rule: "MQTT-1.5.4-1"},
	{Name: "topic not well-formed UTF-8", Version: mqtt.V311, Raw: []byte{0x30, 4, 0x00, 0x02, 0xC3, 0x28}, Code: mqtt.MalformedPacket, Rule: "MQTT-1.5.4-1"},
	{Name: "topic length past the end", Version: mqtt.V311, Raw: []byte{0x30, 5, 0x00, 0x09, 'a', 'b', 'c'}, Code: mqtt.MalformedPacket},
	{Name: "user property value with U+0000", Version: mqtt.V5, Raw: publishV5(0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0x00), Code: mqtt.MalformedPacket, Rule: "MQTT-1.5.4-2"},

	// PUBLISH.
	{Name: "PUBLISH QoS 3", Version: mqtt.V311, Raw: []byte{0x36, 5, 0x00, 0x01, 't', 0x00, 0x01}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.3.1-4"},
	{Name: "PUBLISH DUP with QoS 0", Version: mqtt.V311, Raw: []byte{0x38, 3, 0x00, 0x01, 't'}, Code: mqtt.ProtocolError, Rule: "MQTT-3.3.1-2"},
	{Name: "PUBLISH topic with +", Version: mqtt.V311, Raw: []byte{0x30, 5, 0x00, 0x03, 'a', '/', '+'}, Code: mqtt.TopicNameInvalid, Rule: "MQTT-3.3.2-2"},
	{Name: "PUBLISH topic with #", Version: mqtt.V5, Raw: []byte{0x30, 4, 0x00, 0x01, '#', 0}, Code: mqtt.TopicNameInvalid, Rule: "MQTT-3.3.2-2"},
	{Name: "PUBLISH QoS 1 packet identifier 0", Version: mqtt.V311, Raw: []byte{0x32, 5, 0x00, 0x01, 't', 0x00, 0x00}, Code: mqtt.ProtocolError, Rule: "MQTT-2.2.1-3"},
	{Name: "PUBLISH v4 empty topic", Version: mqtt.V311, Raw: []byte{0x30, 2, 0x00, 0x00}, Code: mqtt.ProtocolError, Rule: "MQTT-4.7.3-1"},
	{Name: "PUBLISH v5 empty topic without alias", Version: mqtt.V5, Raw: []byte{0x30, 3, 0x00, 0x00, 0}, Code: mqtt.ProtocolError},
	{Name: "PUBLISH v5 Topic Alias 0", Version: mqtt.V5, Raw: publishV5(0x23, 0x00, 0x00), Code: mqtt.TopicAliasInvalid, Rule: "MQTT-3.3.2-8"},
	{Name: "PUBLISH v5 property twice", Version: mqtt.V5, Raw: publishV5(0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2), Code: mqtt.ProtocolError},
	{Name: "PUBLISH v5 Payload Format 2", Version: mqtt.V5, Raw: publishV5(0x01, 0x02), Code: mqtt.ProtocolError},
	{Name: "PUBLISH v5 Subscription Identifier 0", Version: mqtt.V5, Raw: publishV5(0x0B, 0x00), Code: mqtt.ProtocolError},
	{Name: "PUBLISH v5 Session Expiry not allowed", Version: mqtt.V5, Raw: publishV5(0x11, 0, 0, 0, 1), Code: mqtt.ProtocolError},
	{Name: "PUBLISH v5 unknown property", Version: mqtt.V5, Raw: publishV5(0x04, 0x00), Code: mqtt.MalformedPacket},
	{Name: "PUBLISH v5 property cut short", Version: mqtt.V5, Raw: publishV5(0x02, 0x00), Code: mqtt.MalformedPacket},
	{Name: "PUBLISH v5 property length past the end", Version: mqtt.V5, Raw: []byte{0x30, 5, 0x00, 0x01, 't', 5, 0x01}, Code: mqtt.MalformedPacket},
	{Name: "PUBLISH v5 Response Topic with wildcard", Version: mqtt.V5, Raw: publishV5(0x08, 0x00, 0x01, '+'), Code: mqtt.TopicNameInvalid, Rule: "MQTT-3.3.2-2"},

	// CONNECT.
	{Name: "CONNECT reserved flag", Raw: connectV4(0x03), Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-3"},
	{Name: "CONNECT will QoS without will flag", Raw: connectV4(0x0A), Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-13"},
	{Name: "CONNECT will QoS 3", Raw: connectV4(0x1E), Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-14"},
	{Name: "CONNECT will retain without will flag", Raw: connectV4(0x22), Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-15"},
	{Name: "CONNECT v4 password without user name", Raw: connectV4(0x42), Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-22"},
	{Name: "CONNECT will flag without will fields", Raw: connectV4(0x06), Code: mqtt.MalformedPacket},
	{Name: "CONNECT user name flag without user name", Raw: connectV4(0x82), Code: mqtt.MalformedPacket},
	{Name: "CONNECT trailing bytes", Raw: append([]byte{0x10, 14}, append(connectV4(0x02)[2:], 0xFF)...), Code: mqtt.MalformedPacket},
	{Name: "CONNECT protocol level 6", Raw: []byte{0x10, 13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}, Code: mqtt.UnsupportedProtocolVersion, Rule: "MQTT-3.1.2-2"},
	{Name: "CONNECT MQIsdp with level 4", Raw: []byte{0x10, 15, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}, Code: mqtt.UnsupportedProtocolVersion, Rule: "MQTT-3.1.2-2"},
	{Name: "CONNECT protocol name MQTX", Raw: []byte{0x10, 13, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}, Code: mqtt.UnsupportedProtocolVersion, Rule: "MQTT-3.1.2-1"},
	{Name: "CONNECT v5 Receive Maximum 0", Raw: connectV5(0x21, 0x00, 0x00), Code: mqtt.ProtocolError},
	{Name: "CONNECT v5 Maximum Packet Size 0", Raw: connectV5(0x27, 0, 0, 0, 0), Code: mqtt.ProtocolError},
	{Name: "CONNECT v5 Request Problem Information 2", Raw: connectV5(0x17, 0x02), Code: mqtt.ProtocolError},
	{Name: "CONNECT v5 Request Response Information 2", Raw: connectV5(0x19, 0x02), Code: mqtt.ProtocolError},
	{Name: "CONNECT v5 Authentication Data without Method", Raw: connectV5(0x16, 0x00, 0x00), Code: mqtt.ProtocolError},
	{Name: "CONNECT v5 Topic Alias not allowed", Raw: connectV5(0x23, 0x00, 0x01), Code: mqtt.ProtocolError},
	{Name: "CONNECT v5 Receive Maximum twice", Raw: connectV5(0x21, 0x00, 0x01, 0x21, 0x00, 0x02), Code: mqtt.ProtocolError},

	// CONNACK.
	{Name: "CONNACK v4 return code 6", Version: mqtt.V311, Raw: []byte{0x20, 2, 0x00, 0x06}, Code: mqtt.MalformedPacket},
	{Name: "CONNACK v4 session present with failure", Version: mqtt.V311, Raw: []byte{0x20, 2, 0x01, 0x05}, Code: mqtt.ProtocolError, Rule: "MQTT-3.2.2-4"},
	{Name: "CONNACK v4 reserved flag", Version: mqtt.V311, Raw: []byte{0x20, 2, 0x02, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "CONNACK v5 reserved flag", Version: mqtt.V5, Raw: []byte{0x20, 3, 0x80, 0x00, 0}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.2.2-1"},
	{Name: "CONNACK v5 session present with failure", Version: mqtt.V5, Raw: []byte{0x20, 3, 0x01, 0x87, 0}, Code: mqtt.ProtocolError, Rule: "MQTT-3.2.2-6"},
	{Name: "CONNACK v5 reason code 0x10", Version: mqtt.V5, Raw: []byte{0x20, 3, 0x00, 0x10, 0}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.2.2-8"},
	{Name: "CONNACK v5 Maximum QoS 2", Version: mqtt.V5, Raw: []byte{0x20, 5, 0x00, 0x00, 2, 0x24, 0x02}, Code: mqtt.ProtocolError},
	{Name: "CONNACK v5 Retain Available 2", Version: mqtt.V5, Raw: []byte{0x20, 5, 0x00, 0x00, 2, 0x25, 0x02}, Code: mqtt.ProtocolError},

	// Acknowledgements.
	{Name: "PUBACK v5 reason code 0x81", Version: mqtt.V5, Raw: []byte{0x40, 3, 0x00, 0x01, 0x81}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.4.2-1"},
	{Name: "PUBREL v5 reason code 0x10", Version: mqtt.V5, Raw: []byte{0x62, 3, 0x00, 0x01, 0x10}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.6.2-1"},
	{Name: "PUBACK packet identifier 0", Version: mqtt.V311, Raw: []byte{0x40, 2, 0x00, 0x00}, Code: mqtt.ProtocolError},
	{Name: "PUBACK v5 Topic Alias not allowed", Version: mqtt.V5, Raw: []byte{0x40, 7, 0x00, 0x01, 0x00, 3, 0x23, 0x00, 0x01}, Code: mqtt.ProtocolError},

	// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
	{Name: "SUBSCRIBE without topic filter", Version: mqtt.V311, Raw: []byte{0x82, 2, 0x00, 0x01}, Code: mqtt.ProtocolError, Rule: "MQTT-3.8.3-3"},
	{Name: "SUBSCRIBE packet identifier 0", Version: mqtt.V311, Raw: []byte{0x82, 6, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}, Code: mqtt.ProtocolError, Rule: "MQTT-2.2.1-3"},
	{Name: "SUBSCRIBE v4 reserved option bits", Version: mqtt.V311, Raw: []byte{0x82, 6, 0x00, 0x01, 0x00, 0x01, 'a', 0x04}, Code: mqtt.MalformedPacket, Rule: "MQTT-3-8.3-4"},
	{Name: "SUBSCRIBE v4 QoS 3", Version: mqtt.V311, Raw: []byte{0x82, 6, 0x00, 0x01, 0x00, 0x01, 'a', 0x03}, Code: mqtt.MalformedPacket, Rule: "MQTT-3-8.3-4"},
	{Name: "SUBSCRIBE v5 reserved option bits", Version: mqtt.V5, Raw: []byte{0x82, 7, 0x00, 0x01, 0, 0x00, 0x01, 'a', 0x40}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.8.3-5"},
	{Name: "SUBSCRIBE v5 Retain Handling 3", Version: mqtt.V5, Raw: []byte{0x82, 7, 0x00, 0x01, 0, 0x00, 0x01, 'a', 0x30}, Code: mqtt.ProtocolError},
	{Name: "SUBSCRIBE v5 No Local on a shared subscription", Version: mqtt.V5, Raw: []byte{0x82, 15, 0x00, 0x01, 0, 0x00, 0x09, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 0x04}, Code: mqtt.ProtocolError, Rule: "MQTT-3.8.3-4"},
	{Name: "SUBSCRIBE v5 two Subscription Identifiers", Version: mqtt.V5, Raw: []byte{0x82, 11, 0x00, 0x01, 4, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 'a', 0x00}, Code: mqtt.ProtocolError},
	{Name: "SUBSCRIBE filter cut short", Version: mqtt.V311, Raw: []byte{0x82, 5, 0x00, 0x01, 0x00, 0x01, 'a'}, Code: mqtt.MalformedPacket},
	{Name: "SUBACK v4 return code 3", Version: mqtt.V311, Raw: []byte{0x90, 3, 0x00, 0x01, 0x03}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.9.3-2"},
	{Name: "SUBACK v5 reason code 0x10", Version: mqtt.V5, Raw: []byte{0x90, 4, 0x00, 0x01, 0, 0x10}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.9.3-2"},
	{Name: "SUBACK without reason codes", Version: mqtt.V311, Raw: []byte{0x90, 2, 0x00, 0x01}, Code: mqtt.ProtocolError},
	{Name: "UNSUBSCRIBE without topic filter", Version: mqtt.V311, Raw: []byte{0xA2, 2, 0x00, 0x01}, Code: mqtt.ProtocolError, Rule: "MQTT-3.10.3-2"},
	{Name: "UNSUBACK v5 reason code 0x10", Version: mqtt.V5, Raw: []byte{0xB0, 4, 0x00, 0x01, 0, 0x10}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.11.3-2"},

	// DISCONNECT and AUTH.
	{Name: "DISCONNECT v5 reason code 0x01", Version: mqtt.V5, Raw: []byte{0xE0, 1, 0x01}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.14.2-1"},
	{Name: "DISCONNECT v5 Server Reference then garbage", Version: mqtt.V5, Raw: []byte{0xE0, 4, 0x00, 2, 0x1C, 0x00}, Code: mqtt.MalformedPacket},
	{Name: "AUTH v5 reason code 0x01", Version: mqtt.V5, Raw: []byte{0xF0, 1, 0x01}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.15.2-1"},
	{Name: "AUTH v5 Session Expiry not allowed", Version: mqtt.V5, Raw: []byte{0xF0, 7, 0x18, 5, 0x11, 0, 0, 0, 1}, Code: mqtt.ProtocolError},
}

// Unencodable is a packet Append must refuse for Version with Code.
type Unencodable struct {
	Name    string
	Version mqtt.Version
	Packet  mqtt.Packet
	Code    mqtt.ReasonCode
	Rule    string
}

// Unencodables are packets the encoder refuses, so that the gateway never
// puts an invalid packet on the wire.
var Unencodables = []Unencodable{
	{Name: "PUBLISH QoS 3", Version: mqtt.V311, Packet: &mqtt.Publish{QoS: 3, PacketID: 1, Topic: "t"}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.3.1-4"},
	{Name: "PUBLISH QoS 1 without packet identifier", Version: mqtt.V311, Packet: &mqtt.Publish{QoS: 1, Topic: "t"}, Code: mqtt.ProtocolError, Rule: "MQTT-2.2.1-3"},
	{Name: "PUBLISH DUP with QoS 0", Version: mqtt.V5, Packet: &mqtt.Publish{Dup: true, Topic: "t"}, Code: mqtt.ProtocolError, Rule: "MQTT-3.3.1-2"},
	{Name: "PUBLISH topic with wildcard", Version: mqtt.V311, Packet: &mqtt.Publish{Topic: "a/#"}, Code: mqtt.TopicNameInvalid, Rule: "MQTT-3.3.2-2"},
	{Name: "PUBLISH topic with U+0000", Version: mqtt.V311, Packet: &mqtt.Publish{Topic: "a\x00"}, Code: mqtt.MalformedPacket, Rule: "MQTT-1.5.4-2"},
	{Name: "PUBLISH v4 empty topic", Version: mqtt.V311, Packet: &mqtt.Publish{}, Code: mqtt.ProtocolError, Rule: "MQTT-4.7.3-1"},
	{Name: "PUBLISH v5 Session Expiry", Version: mqtt.V5, Packet: &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{SessionExpirySet: true}}, Code: mqtt.ProtocolError},
	{Name: "PUBLISH v5 Payload Format 2", Version: mqtt.V5, Packet: &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{PayloadFormat: 2}}, Code: mqtt.ProtocolError},
	{Name: "CONNECT v4 password without user name", Version: mqtt.V311, Packet: &mqtt.Connect{ClientID: "c", Password: []byte("p")}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-22"},
	{Name: "CONNECT will QoS 3", Version: mqtt.V5, Packet: &mqtt.Connect{ClientID: "c", Will: &mqtt.Will{Topic: "w", QoS: 3}}, Code: mqtt.MalformedPacket, Rule: "MQTT-3.1.2-14"},
	{Name: "CONNECT v5 Maximum QoS", Version: mqtt.V5, Packet: &mqtt.Connect{ClientID: "c", Properties: mqtt.Properties{MaximumQoSSet: true}}, Code: mqtt.ProtocolError},
	{Name: "CONNACK v5 reason code 0x10", Version: mqtt.V5, Packet: &mqtt.Connack{ReasonCode: mqtt.NoMatchingSubscribers}, Code: mqtt.ProtocolError, Rule: "MQTT-3.2.2-8"},
	{Name: "PUBACK v5 reason code 0x92", Version: mqtt.V5, Packet: &mqtt.Puback{PacketID: 1, ReasonCode: mqtt.PacketIDNotFound}, Code: mqtt.ProtocolError, Rule: "MQTT-3.4.2-1"},
	{Name: "SUBSCRIBE without topic filter", Version: mqtt.V311, Packet: &mqtt.Subscribe{PacketID: 1}, Code: mqtt.ProtocolError, Rule: "MQTT-3.8.3-3"},
	{Name: "SUBSCRIBE v5 two Subscription Identifiers", Version: mqtt.V5, Packet: &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a"}}, Properties: mqtt.Properties{SubscriptionIDs: []uint32{1, 2}}}, Code: mqtt.ProtocolError},
	{Name: "SUBACK v5 Topic Alias", Version: mqtt.V5, Packet: &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{0}, Properties: mqtt.Properties{TopicAlias: 1}}, Code: mqtt.ProtocolError},
	{Name: "UNSUBSCRIBE without topic filter", Version: mqtt.V5, Packet: &mqtt.Unsubscribe{PacketID: 1}, Code: mqtt.ProtocolError, Rule: "MQTT-3.10.3-2"},
	{Name: "AUTH before v5", Version: mqtt.V311, Packet: &mqtt.Auth{}, Code: mqtt.ProtocolError},
	{Name: "DISCONNECT v5 reason code 0x01", Version: mqtt.V5, Packet: &mqtt.Disconnect{ReasonCode: mqtt.GrantedQoS1}, Code: mqtt.ProtocolError, Rule: "MQTT-3.14.2-1"},
}
