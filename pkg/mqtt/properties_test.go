package mqtt_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// propSample is one property: its bytes on the wire and the same value set
// in a Properties.
type propSample struct {
	name  string
	id    byte
	raw   []byte
	set   func(p *mqtt.Properties)
	where []string // the packets that may carry it, from MQTT 5.0 section 2.2.2.2
}

var everywhere = []string{"CONNECT", "will", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"}

var propSamples = []propSample{
	{"Payload Format Indicator", 0x01, []byte{0x01, 1}, func(p *mqtt.Properties) { p.PayloadFormat = 1 }, []string{"PUBLISH", "will"}},
	{"Message Expiry Interval", 0x02, []byte{0x02, 0, 0, 0, 5}, func(p *mqtt.Properties) { p.MessageExpiry, p.MessageExpirySet = 5, true }, []string{"PUBLISH", "will"}},
	{"Content Type", 0x03, []byte{0x03, 0, 1, 'a'}, func(p *mqtt.Properties) { p.ContentType = "a" }, []string{"PUBLISH", "will"}},
	{"Response Topic", 0x08, []byte{0x08, 0, 1, 'a'}, func(p *mqtt.Properties) { p.ResponseTopic = "a" }, []string{"PUBLISH", "will"}},
	{"Correlation Data", 0x09, []byte{0x09, 0, 1, 1}, func(p *mqtt.Properties) { p.CorrelationData = []byte{1} }, []string{"PUBLISH", "will"}},
	{"Subscription Identifier", 0x0B, []byte{0x0B, 5}, func(p *mqtt.Properties) { p.SubscriptionIDs = []uint32{5} }, []string{"PUBLISH", "SUBSCRIBE"}},
	{"Session Expiry Interval", 0x11, []byte{0x11, 0, 0, 0, 5}, func(p *mqtt.Properties) { p.SessionExpiry, p.SessionExpirySet = 5, true }, []string{"CONNECT", "CONNACK", "DISCONNECT"}},
	{"Assigned Client Identifier", 0x12, []byte{0x12, 0, 1, 'a'}, func(p *mqtt.Properties) { p.AssignedClientID = "a" }, []string{"CONNACK"}},
	{"Server Keep Alive", 0x13, []byte{0x13, 0, 5}, func(p *mqtt.Properties) { p.ServerKeepAlive, p.ServerKeepAliveSet = 5, true }, []string{"CONNACK"}},
	{"Authentication Method", 0x15, []byte{0x15, 0, 1, 'm'}, func(p *mqtt.Properties) { p.AuthMethod = "m" }, []string{"CONNECT", "CONNACK", "AUTH"}},
	{"Authentication Data", 0x16, []byte{0x15, 0, 1, 'm', 0x16, 0, 1, 1}, func(p *mqtt.Properties) { p.AuthMethod, p.AuthData = "m", []byte{1} }, []string{"CONNECT", "CONNACK", "AUTH"}},
	{"Request Problem Information", 0x17, []byte{0x17, 1}, func(p *mqtt.Properties) { p.RequestProblemInfo, p.RequestProblemInfoSet = 1, true }, []string{"CONNECT"}},
	{"Will Delay Interval", 0x18, []byte{0x18, 0, 0, 0, 5}, func(p *mqtt.Properties) { p.WillDelay = 5 }, []string{"will"}},
	{"Request Response Information", 0x19, []byte{0x19, 1}, func(p *mqtt.Properties) { p.RequestResponseInfo = 1 }, []string{"CONNECT"}},
	{"Response Information", 0x1A, []byte{0x1A, 0, 1, 'a'}, func(p *mqtt.Properties) { p.ResponseInfo = "a" }, []string{"CONNACK"}},
	{"Server Reference", 0x1C, []byte{0x1C, 0, 1, 'a'}, func(p *mqtt.Properties) { p.ServerReference = "a" }, []string{"CONNACK", "DISCONNECT"}},
	{"Reason String", 0x1F, []byte{0x1F, 0, 1, 'a'}, func(p *mqtt.Properties) { p.ReasonString = "a" },
		[]string{"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH"}},
	{"Receive Maximum", 0x21, []byte{0x21, 0, 5}, func(p *mqtt.Properties) { p.ReceiveMaximum = 5 }, []string{"CONNECT", "CONNACK"}},
	{"Topic Alias Maximum", 0x22, []byte{0x22, 0, 5}, func(p *mqtt.Properties) { p.TopicAliasMaximum = 5 }, []string{"CONNECT", "CONNACK"}},
	{"Topic Alias", 0x23, []byte{0x23, 0, 5}, func(p *mqtt.Properties) { p.TopicAlias = 5 }, []string{"PUBLISH"}},
	{"Maximum QoS", 0x24, []byte{0x24, 1}, func(p *mqtt.Properties) { p.MaximumQoS, p.MaximumQoSSet = 1, true }, []string{"CONNACK"}},
	{"Retain Available", 0x25, []byte{0x25, 1}, func(p *mqtt.Properties) { p.RetainAvailable, p.RetainAvailableSet = 1, true }, []string{"CONNACK"}},
	{"User Property", 0x26, []byte{0x26, 0, 1, 'k', 0, 1, 'v'}, func(p *mqtt.Properties) { p.UserProperties = []mqtt.UserProperty{{Key: "k", Value: "v"}} }, everywhere},
	{"Maximum Packet Size", 0x27, []byte{0x27, 0, 0, 0, 5}, func(p *mqtt.Properties) { p.MaximumPacketSize = 5 }, []string{"CONNECT", "CONNACK"}},
	{"Wildcard Subscription Available", 0x28, []byte{0x28, 1}, func(p *mqtt.Properties) { p.WildcardSubAvailable, p.WildcardSubAvailableSet = 1, true }, []string{"CONNACK"}},
	{"Subscription Identifier Available", 0x29, []byte{0x29, 1}, func(p *mqtt.Properties) { p.SubIDAvailable, p.SubIDAvailableSet = 1, true }, []string{"CONNACK"}},
	{"Shared Subscription Available", 0x2A, []byte{0x2A, 1}, func(p *mqtt.Properties) { p.SharedSubAvailable, p.SharedSubAvailableSet = 1, true }, []string{"CONNACK"}},
}

// propCarrier is a packet kind that may carry properties: raw builds the
// v5 packet with the given property bytes, pkt the same packet as a value,
// and props returns a decoded packet's properties.
type propCarrier struct {
	kind  string
	raw   func(props []byte) []byte
	pkt   func(p mqtt.Properties) mqtt.Packet
	props func(p mqtt.Packet) mqtt.Properties
}

// packet assembles a fixed header byte, a body prefix, the property
// length and properties, and a body suffix.
func packet(b0 byte, prefix, props, suffix []byte) []byte {
	body := append(append(append(append([]byte(nil), prefix...), byte(len(props))), props...), suffix...)
	return append([]byte{b0, byte(len(body))}, body...)
}

var connectHead = []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0}

var propCarriers = []propCarrier{
	{"CONNECT", func(pr []byte) []byte { return packet(0x10, connectHead, pr, []byte{0, 1, 'c'}) },
		func(p mqtt.Properties) mqtt.Packet {
			return &mqtt.Connect{ClientID: "c", CleanStart: true, Properties: p}
		},
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Connect).Properties }},
	{"will", func(pr []byte) []byte {
		head := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0}, 0, 1, 'c')
		return packet(0x10, head, pr, []byte{0, 1, 'w', 0, 0})
	},
		func(p mqtt.Properties) mqtt.Packet {
			return &mqtt.Connect{ClientID: "c", CleanStart: true, Will: &mqtt.Will{Topic: "w", Payload: []byte{}, Properties: p}}
		},
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Connect).Will.Properties }},
	{"CONNACK", func(pr []byte) []byte { return packet(0x20, []byte{0, 0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Connack{Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Connack).Properties }},
	{"PUBLISH", func(pr []byte) []byte { return packet(0x30, []byte{0, 1, 't'}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Publish{Topic: "t", Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Publish).Properties }},
	{"PUBACK", func(pr []byte) []byte { return packet(0x40, []byte{0, 1, 0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Puback{PacketID: 1, Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Puback).Properties }},
	{"PUBREC", func(pr []byte) []byte { return packet(0x50, []byte{0, 1, 0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Pubrec{PacketID: 1, Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Pubrec).Properties }},
	{"PUBREL", func(pr []byte) []byte { return packet(0x62, []byte{0, 1, 0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Pubrel{PacketID: 1, Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Pubrel).Properties }},
	{"PUBCOMP", func(pr []byte) []byte { return packet(0x70, []byte{0, 1, 0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Pubcomp{PacketID: 1, Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Pubcomp).Properties }},
	{"SUBSCRIBE", func(pr []byte) []byte { return packet(0x82, []byte{0, 1}, pr, []byte{0, 1, 'a', 0}) },
		func(p mqtt.Properties) mqtt.Packet {
			return &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a"}}, Properties: p}
		},
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Subscribe).Properties }},
	{"SUBACK", func(pr []byte) []byte { return packet(0x90, []byte{0, 1}, pr, []byte{0}) },
		func(p mqtt.Properties) mqtt.Packet {
			return &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{0}, Properties: p}
		},
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Suback).Properties }},
	{"UNSUBSCRIBE", func(pr []byte) []byte { return packet(0xA2, []byte{0, 1}, pr, []byte{0, 1, 'a'}) },
		func(p mqtt.Properties) mqtt.Packet {
			return &mqtt.Unsubscribe{PacketID: 1, Filters: []string{"a"}, Properties: p}
		},
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Unsubscribe).Properties }},
	{"UNSUBACK", func(pr []byte) []byte { return packet(0xB0, []byte{0, 1}, pr, []byte{0}) },
		func(p mqtt.Properties) mqtt.Packet {
			return &mqtt.Unsuback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{0}, Properties: p}
		},
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Unsuback).Properties }},
	{"DISCONNECT", func(pr []byte) []byte { return packet(0xE0, []byte{0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Disconnect{Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Disconnect).Properties }},
	{"AUTH", func(pr []byte) []byte { return packet(0xF0, []byte{0}, pr, nil) },
		func(p mqtt.Properties) mqtt.Packet { return &mqtt.Auth{Properties: p} },
		func(p mqtt.Packet) mqtt.Properties { return p.(*mqtt.Auth).Properties }},
}

// TestPropertyPlacement checks every property on every packet, both ways:
// where the spec allows it, it decodes to the value and encodes back;
// elsewhere decoding is a Protocol Error and encoding is refused.
func TestPropertyPlacement(t *testing.T) {
	for _, s := range propSamples {
		allowed := map[string]bool{}
		for _, w := range s.where {
			allowed[w] = true
		}
		for _, c := range propCarriers {
			var want mqtt.Properties
			s.set(&want)
			raw := c.raw(s.raw)
			p, _, err := mqtt.Decode(raw, mqtt.V5, 0)
			enc, encErr := mqtt.Append(nil, c.pkt(want), mqtt.V5)
			if allowed[c.kind] {
				if err != nil {
					t.Errorf("%s in %s: Decode(% X) error: %v", s.name, c.kind, raw, err)
				} else if got := c.props(p); !reflect.DeepEqual(got, want) {
					t.Errorf("%s in %s: decoded properties = %+v, want %+v", s.name, c.kind, got, want)
				}
				if encErr != nil {
					t.Errorf("%s in %s: Append error: %v", s.name, c.kind, encErr)
				} else if string(enc) != string(raw) {
					t.Errorf("%s in %s: Append = % X, want % X", s.name, c.kind, enc, raw)
				}
				continue
			}
			if !errors.Is(err, mqtt.ProtocolError) {
				t.Errorf("%s in %s: Decode error = %v, want %v", s.name, c.kind, err, mqtt.ProtocolError)
			}
			if !errors.Is(encErr, mqtt.ProtocolError) {
				t.Errorf("%s in %s: Append error = %v, want %v", s.name, c.kind, encErr, mqtt.ProtocolError)
			}
		}
	}
}

// TestRepeatedProperties: only User Property, and Subscription Identifier
// in PUBLISH, may appear twice.
func TestRepeatedProperties(t *testing.T) {
	for _, s := range propSamples {
		if s.id == 0x16 {
			continue // its sample carries the Authentication Method too
		}
		for _, c := range propCarriers {
			if !slices.Contains(s.where, c.kind) {
				continue
			}
			raw := c.raw(append(append([]byte(nil), s.raw...), s.raw...))
			_, _, err := mqtt.Decode(raw, mqtt.V5, 0)
			mayRepeat := s.id == 0x26 || (s.id == 0x0B && c.kind == "PUBLISH")
			if mayRepeat && err != nil {
				t.Errorf("%s twice in %s: Decode error: %v", s.name, c.kind, err)
			}
			if !mayRepeat && !errors.Is(err, mqtt.ProtocolError) {
				t.Errorf("%s twice in %s: Decode error = %v, want %v", s.name, c.kind, err, mqtt.ProtocolError)
			}
		}
	}
}
