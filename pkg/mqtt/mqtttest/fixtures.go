package mqtttest

import "github.com/flockmq/flockmq/pkg/mqtt"

// Fixture is one packet and its exact encoding for Version.
type Fixture struct {
	Name    string
	Version mqtt.Version
	Raw     []byte      // the whole packet, fixed header included
	Packet  mqtt.Packet // what Raw decodes to
	// DecodeOnly marks valid encodings that Append writes differently (a
	// non-minimal length, an explicit default): decode Raw to Packet, but
	// do not expect Append(Packet) to give Raw.
	DecodeOnly bool
}

// Fixtures are valid packets of every type and every protocol version.
// Packets of MQTT 3.1 other than CONNECT and CONNACK share the 3.1.1
// layout, so the tests run the V311 fixtures of those types as V31 too.
var Fixtures = []Fixture{
	// ---- MQTT 3.1.1 (level 4) ----
	{
		Name: "CONNECT v4 minimal", Version: mqtt.V311,
		Raw: []byte{
			0x10, 17, // CONNECT, remaining length 17
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4 (3.1.1)
			0x02,       // connect flags: clean session
			0x00, 0x3C, // keep alive 60 s
			0x00, 0x05, 'd', 'e', 'v', '-', '1', // client identifier "dev-1"
		},
		Packet: &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, KeepAlive: 60, ClientID: "dev-1"},
	},
	{
		Name: "CONNECT v4 will, user name and password", Version: mqtt.V311,
		Raw: []byte{
			0x10, 51, // CONNECT, remaining length 51
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0xEE,       // flags: user name, password, will retain, will QoS 1, will, clean session
			0x00, 0x1E, // keep alive 30 s
			0x00, 0x03, 'c', '-', '7', // client identifier "c-7"
			0x00, 0x0A, 's', 't', 'a', 't', 'u', 's', '/', 'c', '-', '7', // will topic "status/c-7"
			0x00, 0x07, 'o', 'f', 'f', 'l', 'i', 'n', 'e', // will message "offline"
			0x00, 0x05, 'a', 'l', 'i', 'c', 'e', // user name "alice"
			0x00, 0x06, 's', '3', 'c', 'r', 'e', 't', // password "s3cret"
		},
		Packet: &mqtt.Connect{
			ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, KeepAlive: 30, ClientID: "c-7",
			Will:     &mqtt.Will{Topic: "status/c-7", Payload: []byte("offline"), QoS: 1, Retain: true},
			Username: "alice", UsernameSet: true, Password: []byte("s3cret"), PasswordSet: true,
		},
	},
	{
		Name: "CONNACK v4 accepted, session present", Version: mqtt.V311,
		Raw: []byte{
			0x20, 2, // CONNACK, remaining length 2
			0x01, // acknowledge flags: session present
			0x00, // return code 0: accepted
		},
		Packet: &mqtt.Connack{SessionPresent: true, ReasonCode: mqtt.Success},
	},
	{
		Name: "CONNACK v4 not authorized", Version: mqtt.V311,
		Raw: []byte{
			0x20, 2, // CONNACK, remaining length 2
			0x00, // acknowledge flags: none
			0x05, // return code 5: not authorized, v5 code 0x87
		},
		Packet: &mqtt.Connack{ReasonCode: mqtt.NotAuthorized},
	},
	{
		Name: "PUBLISH v4 QoS 0", Version: mqtt.V311,
		Raw: []byte{
			0x30, 16, // PUBLISH, QoS 0, remaining length 16
			0x00, 0x0A, 's', 'e', 'n', 's', 'o', 'r', 's', '/', 't', '1', // topic "sensors/t1"
			'2', '1', '.', '5', // payload "21.5"
		},
		Packet: &mqtt.Publish{Topic: "sensors/t1", Payload: []byte("21.5")},
	},
	{
		Name: "PUBLISH v4 QoS 1 retained", Version: mqtt.V311,
		Raw: []byte{
			0x33, 9, // PUBLISH, QoS 1, retain, remaining length 9
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x00, 0x07, // packet identifier 7
			'h', 'i', // payload "hi"
		},
		Packet: &mqtt.Publish{QoS: 1, Retain: true, Topic: "a/b", PacketID: 7, Payload: []byte("hi")},
	},
	{
		Name: "PUBLISH v4 QoS 2 duplicate, empty payload", Version: mqtt.V311,
		Raw: []byte{
			0x3C, 5, // PUBLISH, DUP, QoS 2, remaining length 5
			0x00, 0x01, 'x', // topic "x"
			0x12, 0x34, // packet identifier 0x1234
		},
		Packet: &mqtt.Publish{Dup: true, QoS: 2, Topic: "x", PacketID: 0x1234},
	},
	{
		Name: "PUBLISH v4 remaining length not minimal", Version: mqtt.V311, DecodeOnly: true,
		Raw: []byte{
			0x30, 0x85, 0x00, // PUBLISH, remaining length 5 in two bytes (allowed when decoding)
			0x00, 0x01, 't', // topic "t"
			'o', 'k', // payload "ok"
		},
		Packet: &mqtt.Publish{Topic: "t", Payload: []byte("ok")},
	},
	{
		Name: "PUBACK v4", Version: mqtt.V311,
		Raw: []byte{
			0x40, 2, // PUBACK, remaining length 2
			0x00, 0x07, // packet identifier 7
		},
		Packet: &mqtt.Puback{PacketID: 7},
	},
	{
		Name: "PUBREC v4", Version: mqtt.V311,
		Raw:    []byte{0x50, 2, 0x00, 0x07}, // PUBREC, remaining length 2, packet identifier 7
		Packet: &mqtt.Pubrec{PacketID: 7},
	},
	{
		Name: "PUBREL v4", Version: mqtt.V311,
		Raw:    []byte{0x62, 2, 0x00, 0x07}, // PUBREL with its required flags 0b0010, remaining length 2, packet identifier 7
		Packet: &mqtt.Pubrel{PacketID: 7},
	},
	{
		Name: "PUBCOMP v4", Version: mqtt.V311,
		Raw:    []byte{0x70, 2, 0x00, 0x07}, // PUBCOMP, remaining length 2, packet identifier 7
		Packet: &mqtt.Pubcomp{PacketID: 7},
	},
	{
		Name: "SUBSCRIBE v4 two filters", Version: mqtt.V311,
		Raw: []byte{
			0x82, 14, // SUBSCRIBE with flags 0b0010, remaining length 14
			0x00, 0x0A, // packet identifier 10
			0x00, 0x03, 'a', '/', '+', // topic filter "a/+"
			0x01,                      // requested QoS 1
			0x00, 0x03, 'b', '/', '#', // topic filter "b/#"
			0x02, // requested QoS 2
		},
		Packet: &mqtt.Subscribe{PacketID: 10, Subscriptions: []mqtt.Subscription{{Filter: "a/+", QoS: 1}, {Filter: "b/#", QoS: 2}}},
	},
	{
		Name: "SUBACK v4 granted and failed", Version: mqtt.V311,
		Raw: []byte{
			0x90, 4, // SUBACK, remaining length 4
			0x00, 0x0A, // packet identifier 10
			0x01, // granted QoS 1
			0x80, // failure
		},
		Packet: &mqtt.Suback{PacketID: 10, ReasonCodes: []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.UnspecifiedError}},
	},
	{
		Name: "UNSUBSCRIBE v4", Version: mqtt.V311,
		Raw: []byte{
			0xA2, 12, // UNSUBSCRIBE with flags 0b0010, remaining length 12
			0x00, 0x0B, // packet identifier 11
			0x00, 0x03, 'a', '/', '+', // topic filter "a/+"
			0x00, 0x03, 'b', '/', '#', // topic filter "b/#"
		},
		Packet: &mqtt.Unsubscribe{PacketID: 11, Filters: []string{"a/+", "b/#"}},
	},
	{
		Name: "UNSUBACK v4", Version: mqtt.V311,
		Raw:    []byte{0xB0, 2, 0x00, 0x0B}, // UNSUBACK, remaining length 2, packet identifier 11
		Packet: &mqtt.Unsuback{PacketID: 11},
	},
	{
		Name: "PINGREQ", Version: mqtt.V311,
		Raw:    []byte{0xC0, 0}, // PINGREQ, remaining length 0
		Packet: &mqtt.Pingreq{},
	},
	{
		Name: "PINGRESP", Version: mqtt.V311,
		Raw:    []byte{0xD0, 0}, // PINGRESP, remaining length 0
		Packet: &mqtt.Pingresp{},
	},
	{
		Name: "DISCONNECT v4", Version: mqtt.V311,
		Raw:    []byte{0xE0, 0}, // DISCONNECT, remaining length 0
		Packet: &mqtt.Disconnect{},
	},

	// ---- MQTT 3.1 (level 3) ----
	{
		Name: "CONNECT v3 MQIsdp", Version: mqtt.V31,
		Raw: []byte{
			0x10, 18, // CONNECT, remaining length 18
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
			0x03,       // protocol level 3 (3.1)
			0x02,       // connect flags: clean session
			0x00, 0x0A, // keep alive 10 s
			0x00, 0x04, '3', '.', '1', 'c', // client identifier "3.1c"
		},
		Packet: &mqtt.Connect{ProtocolName: "MQIsdp", Version: mqtt.V31, CleanStart: true, KeepAlive: 10, ClientID: "3.1c"},
	},
	{
		Name: "CONNACK v3 identifier rejected", Version: mqtt.V31,
		Raw: []byte{
			0x20, 2, // CONNACK, remaining length 2
			0x00, // unused in 3.1 (no session present flag)
			0x02, // return code 2: identifier rejected, v5 code 0x85
		},
		Packet: &mqtt.Connack{ReasonCode: mqtt.ClientIDNotValid},
	},
	{
		Name: "PUBREL v3 retransmitted with DUP", Version: mqtt.V31, DecodeOnly: true,
		Raw: []byte{
			0x6A, 2, // PUBREL with DUP and QoS 1 flags (0b1010), which 3.1 allowed on a retransmission
			0x00, 0x07, // packet identifier 7
		},
		Packet: &mqtt.Pubrel{PacketID: 7},
	},

	// ---- MQTT 5.0 (level 5) ----
	{
		Name: "CONNECT v5 properties, password without user name", Version: mqtt.V5,
		Raw: []byte{
			0x10, 38, // CONNECT, remaining length 38
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x42,       // flags: password, clean start (v5 allows a password alone)
			0x00, 0x3C, // keep alive 60 s
			15,                           // property length 15
			0x11, 0x00, 0x00, 0x0E, 0x10, // Session Expiry Interval 3600 s
			0x21, 0x00, 0x14, // Receive Maximum 20
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property "k"="v"
			0x00, 0x05, 'd', 'e', 'v', '-', '2', // client identifier "dev-2"
			0x00, 0x03, 't', 'o', 'k', // password "tok"
		},
		Packet: &mqtt.Connect{
			ProtocolName: "MQTT", Version: mqtt.V5, CleanStart: true, KeepAlive: 60, ClientID: "dev-2",
			Password: []byte("tok"), PasswordSet: true,
			Properties: mqtt.Properties{
				SessionExpiry: 3600, SessionExpirySet: true, ReceiveMaximum: 20,
				UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}},
			},
		},
	},
	{
		Name: "CONNECT v5 will with properties, empty client identifier", Version: mqtt.V5,
		Raw: []byte{
			0x10, 29, // CONNECT, remaining length 29
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x06,       // flags: will (QoS 0, not retained), clean start
			0x00, 0x00, // keep alive 0: disabled
			0,          // property length 0
			0x00, 0x00, // client identifier "" (the server assigns one)
			7,          // will property length 7
			0x01, 0x01, // Payload Format Indicator 1: UTF-8
			0x18, 0x00, 0x00, 0x00, 0x0A, // Will Delay Interval 10 s
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
		},
		Packet: &mqtt.Connect{
			ProtocolName: "MQTT", Version: mqtt.V5, CleanStart: true,
			Will: &mqtt.Will{Topic: "w", Payload: []byte("bye"), Properties: mqtt.Properties{PayloadFormat: 1, WillDelay: 10}},
		},
	},
	{
		Name: "CONNACK v5 with properties", Version: mqtt.V5,
		Raw: []byte{
			0x20, 15, // CONNACK, remaining length 15
			0x00,                                 // acknowledge flags: no session present
			0x00,                                 // reason code 0x00: success
			12,                                   // property length 12
			0x12, 0x00, 0x04, 'a', 'u', 't', 'o', // Assigned Client Identifier "auto"
			0x22, 0x00, 0x0A, // Topic Alias Maximum 10
			0x24, 0x01, // Maximum QoS 1
		},
		Packet: &mqtt.Connack{Properties: mqtt.Properties{AssignedClientID: "auto", TopicAliasMaximum: 10, MaximumQoS: 1, MaximumQoSSet: true}},
	},
	{
		Name: "CONNACK v5 not authorized", Version: mqtt.V5,
		Raw: []byte{
			0x20, 3, // CONNACK, remaining length 3
			0x00, // acknowledge flags: none
			0x87, // reason code 0x87: not authorized
			0,    // property length 0
		},
		Packet: &mqtt.Connack{ReasonCode: mqtt.NotAuthorized},
	},
	{
		Name: "PUBLISH v5 QoS 0 without properties", Version: mqtt.V5,
		Raw: []byte{
			0x30, 11, // PUBLISH, QoS 0, remaining length 11
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0,                       // property length 0
			'h', 'e', 'l', 'l', 'o', // payload "hello"
		},
		Packet: &mqtt.Publish{Topic: "a/b", Payload: []byte("hello")},
	},
	{
		Name: "PUBLISH v5 QoS 1 with properties", Version: mqtt.V5,
		Raw: []byte{
			0x32, 44, // PUBLISH, QoS 1, remaining length 44
			0x00, 0x0A, 's', 'e', 'n', 's', 'o', 'r', 's', '/', 't', '1', // topic "sensors/t1"
			0x00, 0x07, // packet identifier 7
			25,                           // property length 25
			0x02, 0x00, 0x00, 0x00, 0x3C, // Message Expiry Interval 60 s
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // Content Type "json"
			0x23, 0x00, 0x03, // Topic Alias 3
			0x26, 0x00, 0x04, 'u', 'n', 'i', 't', 0x00, 0x01, 'C', // User Property "unit"="C"
			'2', '1', '.', '5', // payload "21.5"
		},
		Packet: &mqtt.Publish{
			QoS: 1, Topic: "sensors/t1", PacketID: 7, Payload: []byte("21.5"),
			Properties: mqtt.Properties{
				MessageExpiry: 60, MessageExpirySet: true, ContentType: "json", TopicAlias: 3,
				UserProperties: []mqtt.UserProperty{{Key: "unit", Value: "C"}},
			},
		},
	},
	{
		Name: "PUBLISH v5 empty topic with Topic Alias", Version: mqtt.V5,
		Raw: []byte{
			0x30, 7, // PUBLISH, QoS 0, remaining length 7
			0x00, 0x00, // topic "": the alias stands for it
			3,                // property length 3
			0x23, 0x00, 0x03, // Topic Alias 3
			'x', // payload "x"
		},
		Packet: &mqtt.Publish{Payload: []byte("x"), Properties: mqtt.Properties{TopicAlias: 3}},
	},
	{
		Name: "PUBLISH v5 two Subscription Identifiers", Version: mqtt.V5,
		Raw: []byte{
			0x30, 9, // PUBLISH, QoS 0, remaining length 9
			0x00, 0x01, 't', // topic "t"
			4,          // property length 4
			0x0B, 0x01, // Subscription Identifier 1
			0x0B, 0x02, // Subscription Identifier 2 (may repeat in PUBLISH)
			'p', // payload "p"
		},
		Packet: &mqtt.Publish{Topic: "t", Payload: []byte("p"), Properties: mqtt.Properties{SubscriptionIDs: []uint32{1, 2}}},
	},
	{
		Name: "PUBACK v5 success, short form", Version: mqtt.V5,
		Raw:    []byte{0x40, 2, 0x00, 0x07}, // PUBACK, remaining length 2 (reason 0x00 implied), packet identifier 7
		Packet: &mqtt.Puback{PacketID: 7},
	},
	{
		Name: "PUBACK v5 success written out", Version: mqtt.V5, DecodeOnly: true,
		Raw: []byte{
			0x40, 4, // PUBACK, remaining length 4
			0x00, 0x07, // packet identifier 7
			0x00, // reason code 0x00: success
			0,    // property length 0
		},
		Packet: &mqtt.Puback{PacketID: 7},
	},
	{
		Name: "PUBACK v5 no matching subscribers", Version: mqtt.V5,
		Raw: []byte{
			0x40, 3, // PUBACK, remaining length 3
			0x00, 0x07, // packet identifier 7
			0x10, // reason code 0x10: no matching subscribers (no properties)
		},
		Packet: &mqtt.Puback{PacketID: 7, ReasonCode: mqtt.NoMatchingSubscribers},
	},
	{
		Name: "PUBACK v5 not authorized with Reason String", Version: mqtt.V5,
		Raw: []byte{
			0x40, 13, // PUBACK, remaining length 13
			0x00, 0x07, // packet identifier 7
			0x87,                                           // reason code 0x87: not authorized
			9,                                              // property length 9
			0x1F, 0x00, 0x06, 'd', 'e', 'n', 'i', 'e', 'd', // Reason String "denied"
		},
		Packet: &mqtt.Puback{PacketID: 7, ReasonCode: mqtt.NotAuthorized, Properties: mqtt.Properties{ReasonString: "denied"}},
	},
	{
		Name: "PUBREC v5 quota exceeded", Version: mqtt.V5,
		Raw:    []byte{0x50, 3, 0x00, 0x07, 0x97}, // PUBREC, remaining length 3, packet identifier 7, reason 0x97
		Packet: &mqtt.Pubrec{PacketID: 7, ReasonCode: mqtt.QuotaExceeded},
	},
	{
		Name: "PUBREL v5 packet identifier not found", Version: mqtt.V5,
		Raw:    []byte{0x62, 3, 0x00, 0x07, 0x92}, // PUBREL flags 0b0010, remaining length 3, packet identifier 7, reason 0x92
		Packet: &mqtt.Pubrel{PacketID: 7, ReasonCode: mqtt.PacketIDNotFound},
	},
	{
		Name: "PUBCOMP v5", Version: mqtt.V5,
		Raw:    []byte{0x70, 2, 0x00, 0x07}, // PUBCOMP, remaining length 2, packet identifier 7
		Packet: &mqtt.Pubcomp{PacketID: 7},
	},
	{
		Name: "SUBSCRIBE v5 options and Subscription Identifier", Version: mqtt.V5,
		Raw: []byte{
			0x82, 26, // SUBSCRIBE with flags 0b0010, remaining length 26
			0x00, 0x01, // packet identifier 1
			2,          // property length 2
			0x0B, 0x05, // Subscription Identifier 5
			0x00, 0x03, 'a', '/', '+', // topic filter "a/+"
			0x2D,                                                                   // options: Retain Handling 2, Retain As Published, No Local, QoS 1
			0x00, 0x0C, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 's', '/', '#', // topic filter "$share/g/s/#"
			0x02, // options: QoS 2
		},
		Packet: &mqtt.Subscribe{
			PacketID: 1, Properties: mqtt.Properties{SubscriptionIDs: []uint32{5}},
			Subscriptions: []mqtt.Subscription{
				{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: mqtt.DoNotSendRetainedOnSubscribe},
				{Filter: "$share/g/s/#", QoS: 2},
			},
		},
	},
	{
		Name: "SUBACK v5", Version: mqtt.V5,
		Raw: []byte{
			0x90, 5, // SUBACK, remaining length 5
			0x00, 0x01, // packet identifier 1
			0,    // property length 0
			0x01, // granted QoS 1
			0x8F, // topic filter invalid
		},
		Packet: &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.TopicFilterInvalid}},
	},
	{
		Name: "UNSUBSCRIBE v5", Version: mqtt.V5,
		Raw: []byte{
			0xA2, 8, // UNSUBSCRIBE with flags 0b0010, remaining length 8
			0x00, 0x02, // packet identifier 2
			0,                         // property length 0
			0x00, 0x03, 'a', '/', '+', // topic filter "a/+"
		},
		Packet: &mqtt.Unsubscribe{PacketID: 2, Filters: []string{"a/+"}},
	},
	{
		Name: "UNSUBACK v5", Version: mqtt.V5,
		Raw: []byte{
			0xB0, 5, // UNSUBACK, remaining length 5
			0x00, 0x02, // packet identifier 2
			0,    // property length 0
			0x00, // success
			0x11, // no subscription existed
		},
		Packet: &mqtt.Unsuback{PacketID: 2, ReasonCodes: []mqtt.ReasonCode{mqtt.Success, mqtt.NoSubscriptionExisted}},
	},
	{
		Name: "PINGREQ v5", Version: mqtt.V5,
		Raw:    []byte{0xC0, 0}, // PINGREQ, remaining length 0
		Packet: &mqtt.Pingreq{},
	},
	{
		Name: "PINGRESP v5", Version: mqtt.V5,
		Raw:    []byte{0xD0, 0}, // PINGRESP, remaining length 0
		Packet: &mqtt.Pingresp{},
	},
	{
		Name: "DISCONNECT v5 normal, short form", Version: mqtt.V5,
		Raw:    []byte{0xE0, 0}, // DISCONNECT, remaining length 0: normal disconnection
		Packet: &mqtt.Disconnect{},
	},
	{
		Name: "DISCONNECT v5 normal written out", Version: mqtt.V5, DecodeOnly: true,
		Raw:    []byte{0xE0, 1, 0x00}, // DISCONNECT, remaining length 1, reason 0x00
		Packet: &mqtt.Disconnect{},
	},
	{
		Name: "DISCONNECT v5 with will", Version: mqtt.V5,
		Raw:    []byte{0xE0, 1, 0x04}, // DISCONNECT, remaining length 1, reason 0x04: disconnect with will message
		Packet: &mqtt.Disconnect{ReasonCode: mqtt.DisconnectWithWill},
	},
	{
		Name: "DISCONNECT v5 session taken over", Version: mqtt.V5,
		Raw: []byte{
			0xE0, 7, // DISCONNECT, remaining length 7
			0x8E,                         // reason code 0x8E: session taken over
			5,                            // property length 5
			0x11, 0x00, 0x00, 0x00, 0x00, // Session Expiry Interval 0 s (present, zero)
		},
		Packet: &mqtt.Disconnect{ReasonCode: mqtt.SessionTakenOver, Properties: mqtt.Properties{SessionExpirySet: true}},
	},
	{
		Name: "AUTH v5 continue", Version: mqtt.V5,
		Raw: []byte{
			0xF0, 23, // AUTH, remaining length 23
			0x18,                                                                    // reason code 0x18: continue authentication
			21,                                                                      // property length 21
			0x15, 0x00, 0x0B, 'S', 'C', 'R', 'A', 'M', '-', 'S', 'H', 'A', '-', '1', // Authentication Method "SCRAM-SHA-1"
			0x16, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, // Authentication Data 01 02 03 04
		},
		Packet: &mqtt.Auth{ReasonCode: mqtt.ContinueAuthentication, Properties: mqtt.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte{1, 2, 3, 4}}},
	},
	{
		Name: "AUTH v5 success, short form", Version: mqtt.V5,
		Raw:    []byte{0xF0, 0}, // AUTH, remaining length 0: success without properties
		Packet: &mqtt.Auth{},
	},
}
