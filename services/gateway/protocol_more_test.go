package gateway_test

import (
	"fmt"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/services/gateway"
)

// aliasReader resolves the server-to-client topic aliases of one network
// connection as a client must, failing on any misuse.
type aliasReader struct {
	tb      testing.TB
	max     uint16
	aliases map[uint16]string
	used    int // PUBLISH packets that carried an alias
	short   int // PUBLISH packets that carried an alias and no topic
}

func (a *aliasReader) resolve(p *mqtt.Publish) string {
	a.tb.Helper()
	n := p.Properties.TopicAlias
	if n == 0 {
		if p.Topic == "" {
			a.tb.Fatalf("PUBLISH with neither topic nor alias")
		}
		return p.Topic
	}
	a.used++
	if a.max == 0 || n > a.max {
		// [MQTT-3.1.2-26] [MQTT-3.1.2-27] [MQTT-3.3.2-11]
		a.tb.Fatalf("alias %d sent to a client whose maximum is %d", n, a.max)
	}
	if p.Topic != "" {
		a.aliases[n] = p.Topic
		return p.Topic
	}
	a.short++
	t, ok := a.aliases[n]
	if !ok {
		// [MQTT-3.3.2-7] a mapping never set on this connection.
		a.tb.Fatalf("alias %d used before it was set on this connection", n)
	}
	return t
}

func TestTopicAliasToClient(t *testing.T) {
	g := startGateway(t)
	const max = 2
	withMax := func(c *mqtt.Connect) { c.Properties.TopicAliasMaximum = max }
	sub := connectClient(t, g, mqtt.V5, "alias-sub", false, withMax, func(c *mqtt.Connect) {
		c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 300, true
	})
	sub.subscribe(1, mqtt.Subscription{Filter: "al/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V5, "alias-pub", true)
	topics := []string{"al/a", "al/a", "al/b", "al/a", "al/c", "al/c", "al/b", "al/a"}
	ar := &aliasReader{tb: t, max: max, aliases: map[uint16]string{}}
	for i, tp := range topics {
		pub.publish(&mqtt.Publish{Topic: tp, QoS: mqtt.QoS(i % 2), PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		p := sub.expectPublish()
		if got := ar.resolve(p); got != tp || string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: topic %q payload %q, want %q %q", i, got, p.Payload, tp, fmt.Sprint(i))
		}
	}
	// Every message carried an alias; with two aliases, least recently
	// used replaced first, three of them went without their topic name:
	// the 2nd (al/a), 4th (al/a) and 6th (al/c).
	if ar.used != len(topics) || ar.short != 3 {
		t.Fatalf("%d of %d messages carried an alias, %d without a topic; want all, 3", ar.used, len(topics), ar.short)
	}

	// A new network connection starts with no mapping [MQTT-3.3.2-7]: the
	// first message on a topic aliased before carries its name again.
	sub.send(&mqtt.Disconnect{})
	sub.expectClosed()
	sub = dial(t, g.addr, mqtt.V5)
	if ack := sub.connect(&mqtt.Connect{ClientID: "alias-sub", KeepAlive: 60, Properties: mqtt.Properties{
		TopicAliasMaximum: max, SessionExpiry: 300, SessionExpirySet: true}}); !ack.SessionPresent {
		t.Fatalf("CONNACK %v, want the session present", ack)
	}
	pub.publish(&mqtt.Publish{Topic: "al/a", QoS: 1, PacketID: 100, Payload: []byte("again")})
	p := sub.expectPublish()
	if p.Topic != "al/a" || p.Properties.TopicAlias == 0 || p.Properties.TopicAlias > max {
		t.Fatalf("after reconnect: topic %q alias %d, want the topic with a fresh alias", p.Topic, p.Properties.TopicAlias)
	}
}

func TestTopicAliasToClientOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     uint16
		disable bool
	}{
		{"client maximum 0", 0, false},        // [MQTT-3.1.2-27]
		{"disabled by the operator", 8, true}, // disable_server_topic_aliases
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, func(c *gateway.Config) { c.DisableServerTopicAliases = tc.disable })
			sub := connectClient(t, g, mqtt.V5, "plain-sub", true, func(c *mqtt.Connect) { c.Properties.TopicAliasMaximum = tc.max })
			sub.subscribe(1, mqtt.Subscription{Filter: "pl/#"})
			pub := connectClient(t, g, mqtt.V5, "plain-pub", true)
			for i := range 3 {
				pub.publish(&mqtt.Publish{Topic: "pl/x", Payload: []byte(fmt.Sprint(i))})
				if p := sub.expectPublish(); p.Topic != "pl/x" || p.Properties.TopicAlias != 0 {
					t.Fatalf("message %d: topic %q alias %d, want the full topic and no alias", i, p.Topic, p.Properties.TopicAlias)
				}
			}
		})
	}
}
