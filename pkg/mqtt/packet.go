package mqtt

// Version is the protocol level carried in CONNECT [MQTT-3.1.2-2].
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// PacketType is the control packet type in the high nibble of the fixed header.
type PacketType byte

// Control packet types (MQTT 5.0 section 2.1.2).
const (
	CONNECT     PacketType = 1
	CONNACK     PacketType = 2
	PUBLISH     PacketType = 3
	PUBACK      PacketType = 4
	PUBREC      PacketType = 5
	PUBREL      PacketType = 6
	PUBCOMP     PacketType = 7
	SUBSCRIBE   PacketType = 8
	SUBACK      PacketType = 9
	UNSUBSCRIBE PacketType = 10
	UNSUBACK    PacketType = 11
	PINGREQ     PacketType = 12
	PINGRESP    PacketType = 13
	DISCONNECT  PacketType = 14
	AUTH        PacketType = 15
)

// QoS is a quality of service level: 0 at most once, 1 at least once, 2 exactly once.
type QoS byte

// Packet is one decoded MQTT control packet. The concrete types are the
// pointer types declared in this file (*Connect, *Publish, ...).
type Packet interface {
	// Type reports the control packet type.
	Type() PacketType
}

// UserProperty is one MQTT 5 user property (0x26): a name/value pair that
// may repeat and whose order is preserved [MQTT-3.3.2-18].
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5 properties of any packet. Fields whose zero
// value is also a meaningful wire value have a companion ...Set flag that
// records presence; the encoder writes such a property only when its flag is
// true, and writes the others only when they are non-zero. Which properties a
// packet may carry is checked by the decoder and the encoder (MQTT 5.0
// section 2.2.2.2): a property on the wrong packet is a protocol error (0x82
// when decoding).
type Properties struct {
	PayloadFormat           byte   // 0x01 PUBLISH, Will: 0 bytes, 1 UTF-8
	MessageExpiry           uint32 // 0x02 PUBLISH, Will: seconds
	MessageExpirySet        bool
	ContentType             string   // 0x03 PUBLISH, Will
	ResponseTopic           string   // 0x08 PUBLISH, Will
	CorrelationData         []byte   // 0x09 PUBLISH, Will
	SubscriptionIDs         []uint32 // 0x0B PUBLISH (several), SUBSCRIBE (one)
	SessionExpiry           uint32   // 0x11 CONNECT, CONNACK, DISCONNECT: seconds
	SessionExpirySet        bool
	AssignedClientID        string // 0x12 CONNACK
	ServerKeepAlive         uint16 // 0x13 CONNACK: seconds
	ServerKeepAliveSet      bool
	AuthMethod              string // 0x15 CONNECT, CONNACK, AUTH
	AuthData                []byte // 0x16 CONNECT, CONNACK, AUTH
	RequestProblemInfo      byte   // 0x17 CONNECT: absent means 1
	RequestProblemInfoSet   bool
	WillDelay               uint32 // 0x18 Will: seconds
	RequestResponseInfo     byte   // 0x19 CONNECT
	ResponseInfo            string // 0x1A CONNACK
	ServerReference         string // 0x1C CONNACK, DISCONNECT
	ReasonString            string // 0x1F all acks, CONNACK, DISCONNECT, AUTH
	ReceiveMaximum          uint16 // 0x21 CONNECT, CONNACK: 0 is absent (65535)
	TopicAliasMaximum       uint16 // 0x22 CONNECT, CONNACK
	TopicAlias              uint16 // 0x23 PUBLISH: 0 is absent
	MaximumQoS              byte   // 0x24 CONNACK: absent means 2
	MaximumQoSSet           bool
	RetainAvailable         byte // 0x25 CONNACK: absent means 1
	RetainAvailableSet      bool
	UserProperties          []UserProperty // 0x26 every packet that has properties
	MaximumPacketSize       uint32         // 0x27 CONNECT, CONNACK: 0 is absent (no limit)
	WildcardSubAvailable    byte           // 0x28 CONNACK: absent means 1
	WildcardSubAvailableSet bool
	SubIDAvailable          byte // 0x29 CONNACK: absent means 1
	SubIDAvailableSet       bool
	SharedSubAvailable      byte // 0x2A CONNACK: absent means 1
	SharedSubAvailableSet   bool
}

// Will is the Will Message carried in CONNECT [MQTT-3.1.2-8].
type Will struct {
	Topic      string
	Payload    []byte
	QoS        QoS
	Retain     bool
	Properties Properties // v5 only: will properties
}

// Connect is the CONNECT packet [MQTT-3.1].
type Connect struct {
	ProtocolName string  // "MQTT", or "MQIsdp" for V31
	Version      Version // protocol level
	CleanStart   bool    // Clean Session in 3.1/3.1.1
	KeepAlive    uint16  // seconds; 0 disables
	ClientID     string
	Username     string
	UsernameSet  bool
	Password     []byte
	PasswordSet  bool
	Will         *Will // nil when the Will Flag is 0
	Properties   Properties
}

// Connack is the CONNACK packet [MQTT-3.2]. For 3.1 and 3.1.1 ReasonCode
// holds the v5 code and the encoder maps it to the 3.1.1 return code
// (0x00..0x05); the decoder maps 3.1.1 return codes to v5 codes.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet [MQTT-3.3]. After decoding, Topic, Payload and
// the byte and string properties alias one buffer owned by the packet.
type Publish struct {
	Dup        bool
	QoS        QoS
	Retain     bool
	Topic      string // may be empty in v5 when a TopicAlias is set
	PacketID   uint16 // only when QoS > 0
	Properties Properties
	Payload    []byte
}

// Puback is the PUBACK packet [MQTT-3.4].
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrec is the PUBREC packet [MQTT-3.5].
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrel is the PUBREL packet [MQTT-3.6].
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubcomp is the PUBCOMP packet [MQTT-3.7].
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// RetainHandling is the v5 subscription option that says when retained
// messages are sent on subscribe [MQTT-3.8.3.1].
type RetainHandling byte

// Retain handling options.
const (
	SendRetainedOnSubscribe      RetainHandling = 0
	SendRetainedOnNewSubscribe   RetainHandling = 1
	DoNotSendRetainedOnSubscribe RetainHandling = 2
)

// Subscription is one topic filter and its options in SUBSCRIBE.
type Subscription struct {
	Filter            string
	QoS               QoS // maximum QoS
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    RetainHandling
}

// Subscribe is the SUBSCRIBE packet [MQTT-3.8].
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // SubscriptionIDs holds at most one identifier
	Subscriptions []Subscription
}

// Suback is the SUBACK packet [MQTT-3.9]. ReasonCodes holds v5 codes; for
// 3.1.1 the encoder writes 0x00..0x02 or 0x80 (any failure).
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet [MQTT-3.10].
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet [MQTT-3.11]. ReasonCodes exist on the wire
// only in v5.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet [MQTT-3.12].
type Pingreq struct{}

// Pingresp is the PINGRESP packet [MQTT-3.13].
type Pingresp struct{}

// Disconnect is the DISCONNECT packet [MQTT-3.14]. Before v5 it has no
// variable header; ReasonCode and Properties are then ignored when encoding.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the v5 AUTH packet [MQTT-3.15].
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Type implements Packet.
func (*Connect) Type() PacketType { return CONNECT }

// Type implements Packet.
func (*Connack) Type() PacketType { return CONNACK }

// Type implements Packet.
func (*Publish) Type() PacketType { return PUBLISH }

// Type implements Packet.
func (*Puback) Type() PacketType { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() PacketType { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() PacketType { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() PacketType { return PUBCOMP }

// Type implements Packet.
func (*Subscribe) Type() PacketType { return SUBSCRIBE }

// Type implements Packet.
func (*Suback) Type() PacketType { return SUBACK }

// Type implements Packet.
func (*Unsubscribe) Type() PacketType { return UNSUBSCRIBE }

// Type implements Packet.
func (*Unsuback) Type() PacketType { return UNSUBACK }

// Type implements Packet.
func (*Pingreq) Type() PacketType { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() PacketType { return PINGRESP }

// Type implements Packet.
func (*Disconnect) Type() PacketType { return DISCONNECT }

// Type implements Packet.
func (*Auth) Type() PacketType { return AUTH }
