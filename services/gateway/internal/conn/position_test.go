package conn

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// heldClient is a router client that keeps its upstream's delivery
// goroutine waiting while it holds a message: it stands for a subscription
// whose NATS buffer the gateway has not handed over yet. (Real clients
// never block in Deliver.)
type heldClient struct {
	got     chan string
	release chan struct{}
}

func (h *heldClient) Deliver(m *bridge.Message, _ router.Delivery) {
	h.got <- m.Topic
	<-h.release
}

func (h *heldClient) Lost() {}

// TestPositionWaitsForOtherUpstreams: a persistent session subscribed to
// a/# and b/# gets message 2 (a/x) and acknowledges it while message 1
// (b/x) is still on its way through the other upstream subscription. Its
// stream position must not be recorded past 1 before 1 arrives: a gateway
// dying then would resume after 2 and never deliver 1. Once 1 arrives and
// is acknowledged, the position moves to 2.
func TestPositionWaitsForOtherUpstreams(t *testing.T) {
	var env *Env
	g := startPipeGateway(t, func(e *Env) { env = e })
	held := &heldClient{got: make(chan string, 1), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	t.Cleanup(release)
	// Subscribed first, so b/#'s upstream hands it each message first.
	if err := env.Router.Add("acme", &router.Sub{Client: held, ClientID: "held", Options: session.Subscription{Filter: "b/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}

	c := dialRaw(t, g, mqtt.V5)
	c.send(&mqtt.Connect{Version: mqtt.V5, ProtocolName: "MQTT", ClientID: "pos", CleanStart: true, KeepAlive: 60,
		Properties: mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}})
	if p, err := c.read(); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	} else if ack, ok := p.(*mqtt.Connack); !ok || ack.ReasonCode != mqtt.Success {
		t.Fatalf("got %v, want a successful CONNACK", p)
	}
	c.subscribe("a/#", 1)
	c.subscribe("b/#", 1)
	key := session.Key{Tenant: "acme", ClientID: "pos"}
	conn := env.Registry.Lookup(key)
	if conn == nil {
		t.Fatal("the connection is not registered")
	}

	publish := func(topic string) uint64 {
		seq, err := env.Bridge.Publish(context.Background(), &bridge.Message{Tenant: "acme", Topic: topic, QoS: 1, Payload: []byte(topic)})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	// receive reads the next PUBLISH, acknowledges it, and makes sure the
	// gateway handled the PUBACK (a PINGREQ after it is answered after it).
	receive := func(want string) {
		t.Helper()
		p, err := c.read()
		if err != nil {
			t.Fatalf("read PUBLISH %s: %v", want, err)
		}
		pub, ok := p.(*mqtt.Publish)
		if !ok || pub.Topic != want {
			t.Fatalf("got %v, want PUBLISH %s", p, want)
		}
		c.send(&mqtt.Puback{PacketID: pub.PacketID})
		c.send(&mqtt.Pingreq{})
		if p, err := c.read(); err != nil || p.Type() != mqtt.PINGRESP {
			t.Fatalf("got %v, %v; want PINGRESP", p, err)
		}
	}
	position := func() uint64 {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		return conn.dl().lastSeq
	}

	first := publish("b/x")
	if topic := <-held.got; topic != "b/x" {
		t.Fatalf("the held client got %s", topic)
	}
	second := publish("a/x")
	receive("a/x")
	if got := position(); got >= second {
		t.Fatalf("position %d recorded after message %d was acknowledged while message %d was still on its way", got, second, first)
	}

	release()
	receive("b/x")
	checkPosition := func() error {
		if got := position(); got != second {
			return fmt.Errorf("position %d, want %d", got, second)
		}
		st, err := env.Sessions.Load(context.Background(), key)
		if err != nil {
			return err
		}
		if st.LastSeq != second {
			return fmt.Errorf("stored position %d, want %d", st.LastSeq, second)
		}
		return nil
	}
	checkFor(t, 10*time.Second, checkPosition)
}
