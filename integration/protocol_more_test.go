//go:build integration

package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestPahoV5TopicAliasesFromServer: paho.golang with Topic Alias Maximum 2
// receives messages on three topics; its router resolves the aliases the
// gateway sets, and every message reaches the handler of its topic.
func TestPahoV5TopicAliasesFromServer(t *testing.T) {
	s := startFlockd(t)
	ctx := context.Background()
	var mu sync.Mutex
	var raw []*paho.Publish // as received: topic possibly empty, alias set
	routed := map[string][]string{}
	r := paho.NewStandardRouter()
	for _, tp := range []string{"ta/one", "ta/two", "ta/three"} {
		r.RegisterHandler(tp, func(p *paho.Publish) {
			mu.Lock()
			defer mu.Unlock()
			routed[tp] = append(routed[tp], string(p.Payload))
		})
	}
	maxAlias := uint16(2)
	sub, _ := v5Client(t, s.mqtt, "alias-paho-sub",
		&paho.Connect{CleanStart: true, Properties: &paho.ConnectProperties{TopicAliasMaximum: &maxAlias}},
		func(p paho.PublishReceived) (bool, error) {
			mu.Lock()
			raw = append(raw, p.Packet)
			mu.Unlock()
			r.Route(p.Packet.Packet())
			return true, nil
		})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ta/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub, _ := v5Client(t, s.mqtt, "alias-paho-pub", nil, nil)
	sent := []string{"ta/one", "ta/one", "ta/two", "ta/one", "ta/three", "ta/three", "ta/two"}
	for i, tp := range sent {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: tp, QoS: byte(i % 2), Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if n := len(raw); n < len(sent) {
			return fmt.Errorf("%d of %d messages received", n, len(sent))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	want := map[string][]string{}
	for i, tp := range sent {
		want[tp] = append(want[tp], fmt.Sprint(i))
	}
	if fmt.Sprint(routed) != fmt.Sprint(want) {
		t.Fatalf("routed by topic %v, want %v", routed, want)
	}
	short := 0
	for _, p := range raw {
		a := p.Properties.TopicAlias
		if a == nil || *a == 0 || *a > maxAlias {
			// [MQTT-3.1.2-26] [MQTT-3.3.2-11]
			t.Fatalf("PUBLISH %q with alias %v, want one in 1..%d", p.Topic, a, maxAlias)
		}
		if p.Topic == "" {
			short++
		}
	}
	if short == 0 {
		t.Fatal("no PUBLISH left its topic out for the alias")
	}
}
