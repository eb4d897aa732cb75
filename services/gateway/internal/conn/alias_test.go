package conn

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// aliasStep is one topic sent and the alias decision expected for it.
type aliasStep struct {
	topic string
	alias uint16
	known bool
}

func TestOutAliases(t *testing.T) {
	tests := []struct {
		name  string
		max   uint16
		lru   bool
		steps []aliasStep
	}{
		{
			name: "first use sets, later uses refer",
			max:  2, lru: true,
			steps: []aliasStep{{"a", 1, false}, {"a", 1, true}, {"b", 2, false}, {"b", 2, true}, {"a", 1, true}},
		},
		{
			name: "lru replaces the least recently used",
			max:  2, lru: true,
			// a=1, b=2, a used again, so b is the oldest: c takes 2; then
			// b comes back and takes 1 (a is now the oldest).
			steps: []aliasStep{{"a", 1, false}, {"b", 2, false}, {"a", 1, true}, {"c", 2, false}, {"a", 1, true}, {"b", 2, false}, {"c", 1, false}},
		},
		{
			name: "first-come keeps the first topics, sends the rest in full",
			max:  2, lru: false,
			steps: []aliasStep{{"a", 1, false}, {"b", 2, false}, {"c", 0, false}, {"a", 1, true}, {"c", 0, false}, {"b", 2, true}},
		},
		{
			name: "maximum one",
			max:  1, lru: true,
			steps: []aliasStep{{"a", 1, false}, {"b", 1, false}, {"b", 1, true}, {"a", 1, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newOutAliases(tt.max, tt.lru)
			for i, s := range tt.steps {
				u := a.choose(s.topic)
				if u.alias != s.alias || u.known != s.known {
					t.Fatalf("step %d: choose(%q) = alias %d known %v, want alias %d known %v", i, s.topic, u.alias, u.known, s.alias, s.known)
				}
				if u.alias > tt.max {
					t.Fatalf("step %d: alias %d above the maximum %d [MQTT-3.3.2-11]", i, u.alias, tt.max)
				}
				a.commit(u)
			}
		})
	}
}

// TestOutAliasesUncommittedChangesNothing: a packet encoded and then
// dropped (never queued) must not change the mapping, or the client would
// see an alias it never learnt.
func TestOutAliasesUncommittedChangesNothing(t *testing.T) {
	a := newOutAliases(1, true)
	a.commit(a.choose("a"))
	if u := a.choose("b"); u.alias != 1 || u.known {
		t.Fatalf("choose(b) = %+v, want alias 1 to be set", u)
	}
	// "b" was dropped: "a" still holds alias 1.
	if u := a.choose("a"); u.alias != 1 || !u.known {
		t.Fatalf("choose(a) = %+v, want the known alias 1", u)
	}
}

// TestEncodePublishAliases checks the bytes: the first PUBLISH on a topic
// carries topic and alias, later ones an empty topic and the alias; a
// client without a Topic Alias Maximum gets none [MQTT-3.1.2-27].
func TestEncodePublishAliases(t *testing.T) {
	m := &bridge.Message{Topic: "sensors/kitchen/temperature", Payload: []byte("21.5")}
	for _, tc := range []struct {
		name    string
		aliases *outAliases
		want    []mqtt.Publish
	}{
		{"aliases", newOutAliases(4, true), []mqtt.Publish{
			{Topic: m.Topic, Properties: mqtt.Properties{TopicAlias: 1}},
			{Topic: "", Properties: mqtt.Properties{TopicAlias: 1}},
		}},
		{"no aliases", nil, []mqtt.Publish{{Topic: m.Topic}, {Topic: m.Topic}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := benchConn(tc.aliases)
			for i, want := range tc.want {
				b, au := c.encodePublish(m, router.Delivery{}, 0, 0, false)
				c.enqueuePublishLocked(b, au)
				p, _, err := mqtt.Decode(b, mqtt.V5, 0)
				if err != nil {
					t.Fatalf("packet %d: Decode: %v", i, err)
				}
				got := p.(*mqtt.Publish)
				if got.Topic != want.Topic || got.Properties.TopicAlias != want.Properties.TopicAlias {
					t.Fatalf("packet %d: topic %q alias %d, want topic %q alias %d", i, got.Topic, got.Properties.TopicAlias, want.Topic, want.Properties.TopicAlias)
				}
			}
		})
	}
}

// benchConn is a connection with just what encodePublish needs; its queue
// is never drained (the benchmark resets it).
func benchConn(a *outAliases) *Conn {
	env := &Env{Clock: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &Conn{env: env, version: mqtt.V5, outAliases: a, writing: true}
}

// BenchmarkEncodePublish measures the outbound PUBLISH encode (and the
// alias bookkeeping) without aliases, with LRU aliases and with first-come
// aliases (client maximum 16), for three workloads: hit, 8 topics in turn
// (all fit); churn, 32 topics in turn (LRU's worst case: every use misses);
// shift, 16 topics in turn that are replaced by 16 new ones every 4096
// messages (a working set that moves, where first-come's aliases stay on
// topics no longer used). B/pkt is the mean packet size.
func BenchmarkEncodePublish(b *testing.B) {
	const max = 16
	payload := make([]byte, 64)
	topics := func(n int) []*bridge.Message {
		ms := make([]*bridge.Message, n)
		for i := range ms {
			ms[i] = &bridge.Message{Topic: fmt.Sprintf("tenants/devices/sensor-%04d/telemetry/temperature", i), Payload: payload}
		}
		return ms
	}
	for _, tc := range []struct {
		name    string
		aliases func() *outAliases
		topics  int
		pick    func(i, n int) int
	}{
		{"none/hit", none, max / 2, inTurn},
		{"lru/hit", lru(max), max / 2, inTurn},
		{"firstcome/hit", firstCome(max), max / 2, inTurn},
		{"none/churn", none, 2 * max, inTurn},
		{"lru/churn", lru(max), 2 * max, inTurn},
		{"firstcome/churn", firstCome(max), 2 * max, inTurn},
		{"none/shift", none, 64 * max, shifting(max)},
		{"lru/shift", lru(max), 64 * max, shifting(max)},
		{"firstcome/shift", firstCome(max), 64 * max, shifting(max)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ms := topics(tc.topics)
			c := benchConn(tc.aliases())
			d := router.Delivery{QoS: 1}
			var bytes int
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				pb, au := c.encodePublish(ms[tc.pick(i, len(ms))], d, 1, 1, false)
				c.enqueuePublishLocked(pb, au)
				bytes += len(pb)
				if c.queued >= 1<<20 {
					for _, f := range c.full {
						putWriteBuf(f)
					}
					c.out, c.full, c.queued = c.out[:0], c.full[:0], 0
				}
				i++
			}
			b.ReportMetric(float64(bytes)/float64(i), "B/pkt")
		})
	}
}

func none() *outAliases { return nil }

func lru(max uint16) func() *outAliases {
	return func() *outAliases { return newOutAliases(max, true) }
}

func firstCome(max uint16) func() *outAliases {
	return func() *outAliases { return newOutAliases(max, false) }
}

func inTurn(i, n int) int { return i % n }

// shifting uses set topics in turn and moves to the next set every 4096
// messages.
func shifting(set int) func(i, n int) int {
	return func(i, n int) int { return ((i/4096)*set + i%set) % n }
}
