package router

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// recorder is a Client that records what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string // payload
	dels []Delivery
	lost int // Lost calls
}

func (r *recorder) Lost() {
	r.mu.Lock()
	r.lost++
	r.mu.Unlock()
}

func (r *recorder) Deliver(m *bridge.Message, d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, string(m.Payload))
	r.dels = append(r.dels, d)
}

func (r *recorder) got() ([]string, []Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs), slices.Clone(r.dels)
}

// waitFor polls until r has n messages.
func (r *recorder) waitFor(tb testing.TB, n int) []string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, _ := r.got()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("got %d messages %v, want %d", len(msgs), msgs, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newRouter(tb testing.TB) (*Router, *bridge.Bridge) {
	tb.Helper()
	srv := natstest.Start(tb)
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	br, err := bridge.New(nc, bridge.Config{GatewayID: "gw1"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = br.Close() })
	return New(br, nil), br
}

func sub(c Client, id, filter string, qos byte) *Sub {
	return &Sub{Client: c, ClientID: id, Options: session.Subscription{Filter: filter, QoS: qos}}
}

func publish(tb testing.TB, br *bridge.Bridge, origin, topic, payload string) {
	tb.Helper()
	if _, err := br.Publish(context.Background(), &bridge.Message{Tenant: "acme", Topic: topic, Payload: []byte(payload), Origin: origin}); err != nil {
		tb.Fatal(err)
	}
}

func TestOneUpstreamPerKey(t *testing.T) {
	r, _ := newRouter(t)
	a, b := &recorder{}, &recorder{}
	sa, sb := sub(a, "a", "x/+", 0), sub(b, "b", "x/+", 0)
	sh := sub(b, "b", "$share/g/x/+", 0)
	for _, s := range []*Sub{sa, sb, sh} {
		if err := r.Add("acme", s); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Upstreams("acme"); n != 2 {
		t.Fatalf("Upstreams = %d, want 2 (one plain, one shared key)", n)
	}
	r.Remove("acme", sa)
	if n := r.Upstreams("acme"); n != 2 {
		t.Fatalf("after one Remove: Upstreams = %d, want 2", n)
	}
	r.Remove("acme", sb)
	r.Remove("acme", sh)
	if n := r.Upstreams("acme"); n != 0 {
		t.Fatalf("after removing all: Upstreams = %d, want 0", n)
	}
	if err := r.Add("acme", sub(a, "a", "bad/#/x", 0)); err == nil {
		t.Fatal("Add of an invalid filter succeeded")
	}
}

func TestOverlappingFiltersDeliverOnce(t *testing.T) {
	r, br := newRouter(t)
	a, b := &recorder{}, &recorder{}
	subs := []*Sub{
		sub(a, "a", "o/+", 0),
		sub(a, "a", "o/#", 2),
		sub(a, "a", "#", 1),
		sub(b, "b", "o/x", 1),
	}
	subs[1].Options.SubscriptionID = 7
	subs[2].Options.SubscriptionID = 9
	for _, s := range subs {
		if err := r.Add("acme", s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		publish(t, br, "p", "o/x", fmt.Sprint(i))
	}
	publish(t, br, "p", "o/x", "end")
	// Every message once per client [MQTT-3.3.4-2], in order.
	want := []string{"0", "1", "2", "3", "4", "end"}
	if got := a.waitFor(t, 6); !slices.Equal(got, want) {
		t.Fatalf("client a got %v, want %v", got, want)
	}
	if got := b.waitFor(t, 6); !slices.Equal(got, want) {
		t.Fatalf("client b got %v, want %v", got, want)
	}
	_, dels := a.got()
	d := dels[0]
	slices.Sort(d.SubIDs)
	if d.QoS != 2 || !slices.Equal(d.SubIDs, []uint32{7, 9}) {
		t.Fatalf("delivery %+v, want QoS 2 with subscription ids [7 9]", d)
	}
}

func TestSharedSubscriptionRoundRobin(t *testing.T) {
	r, br := newRouter(t)
	a, b, plain := &recorder{}, &recorder{}, &recorder{}
	for _, s := range []*Sub{sub(a, "a", "$share/g/s/#", 1), sub(b, "b", "$share/g/s/#", 1), sub(plain, "c", "s/#", 0)} {
		if err := r.Add("acme", s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		publish(t, br, "p", "s/t", fmt.Sprint(i))
	}
	// The plain subscriber gets all four; the group shares them
	// [MQTT-4.8.2-3], alternating between its two local members.
	plain.waitFor(t, 4)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ma, _ := a.got()
		mb, _ := b.got()
		if len(ma)+len(mb) == 4 {
			if len(ma) != 2 || len(mb) != 2 {
				t.Fatalf("group members got %v and %v, want two each", ma, mb)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group members got %v and %v, want four in all", ma, mb)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNoLocal(t *testing.T) {
	r, br := newRouter(t)
	a := &recorder{}
	s := sub(a, "a", "n/#", 0)
	s.Options.NoLocal = true
	if err := r.Add("acme", s); err != nil {
		t.Fatal(err)
	}
	publish(t, br, "a", "n/1", "own")
	publish(t, br, "b", "n/1", "other")
	// [MQTT-3.8.3-3] not its own message.
	if got := a.waitFor(t, 1); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("got %v, want [other]", got)
	}
}

func TestTenantsAreSeparate(t *testing.T) {
	r, br := newRouter(t)
	a, b := &recorder{}, &recorder{}
	if err := r.Add("acme", sub(a, "a", "#", 0)); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("globex", sub(b, "a", "#", 0)); err != nil {
		t.Fatal(err)
	}
	publish(t, br, "p", "t", "for acme")
	if _, err := br.Publish(context.Background(), &bridge.Message{Tenant: "globex", Topic: "t", Payload: []byte("for globex")}); err != nil {
		t.Fatal(err)
	}
	if got := a.waitFor(t, 1); !slices.Equal(got, []string{"for acme"}) {
		t.Fatalf("acme got %v", got)
	}
	if got := b.waitFor(t, 1); !slices.Equal(got, []string{"for globex"}) {
		t.Fatalf("globex got %v", got)
	}
}

// newLocalRouter is newRouter with the bridge delivering its own QoS 0
// publishes through the router (bridge.DeliverLocally), as a gateway does.
func newLocalRouter(tb testing.TB) (*Router, *bridge.Bridge) {
	tb.Helper()
	r, br := newRouter(tb)
	if err := br.DeliverLocally(r.DeliverLocal); err != nil {
		tb.Fatal(err)
	}
	return r, br
}

// TestLocalDeliveryMerges: through the local path, every client still gets
// a message once, with the largest QoS and every subscription identifier
// of its matching subscriptions [MQTT-3.3.4-2] [MQTT-3.3.4-3], also when
// more clients than the merge buffer holds have overlapping subscriptions;
// no-local holds [MQTT-3.8.3-3]; shared subscriptions are left to NATS.
func TestLocalDeliveryMerges(t *testing.T) {
	r, br := newLocalRouter(t)
	const multi, single = 40, 5
	var multis, singles []*recorder
	for i := range multi {
		c := &recorder{}
		multis = append(multis, c)
		id := fmt.Sprintf("m%d", i)
		s1, s2 := sub(c, id, "o/+", 0), sub(c, id, "o/#", 1)
		s1.Options.SubscriptionID, s2.Options.SubscriptionID = 3, 4
		for _, s := range []*Sub{s1, s2} {
			if err := r.Add("acme", s); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range single {
		c := &recorder{}
		singles = append(singles, c)
		if err := r.Add("acme", sub(c, fmt.Sprintf("s%d", i), "o/x", 1)); err != nil {
			t.Fatal(err)
		}
	}
	self := &recorder{}
	nl := sub(self, "pub", "o/#", 0)
	nl.Options.NoLocal = true
	if err := r.Add("acme", nl); err != nil {
		t.Fatal(err)
	}
	shared := &recorder{}
	if err := r.Add("acme", sub(shared, "sh", "$share/g/o/x", 0)); err != nil {
		t.Fatal(err)
	}
	publish(t, br, "pub", "o/x", "1")
	for i, c := range multis {
		msgs, dels := c.got()
		if len(msgs) != 1 {
			t.Fatalf("client m%d got %v, want one message", i, msgs)
		}
		d := dels[0]
		slices.Sort(d.SubIDs)
		if d.QoS != 1 || !slices.Equal(d.SubIDs, []uint32{3, 4}) {
			t.Fatalf("client m%d delivery %+v, want QoS 1 with ids [3 4]", i, d)
		}
	}
	for i, c := range singles {
		if msgs, dels := c.got(); len(msgs) != 1 || dels[0].QoS != 1 || len(dels[0].SubIDs) != 0 {
			t.Fatalf("client s%d got %v %+v, want one QoS 1 message", i, msgs, dels)
		}
	}
	if msgs, _ := self.got(); len(msgs) != 0 {
		t.Errorf("no-local subscriber got its own message %v", msgs)
	}
	// The shared member gets its copy from NATS's queue group, not from
	// the local path.
	shared.waitFor(t, 1)
}

// TestLostReachesSubscribers: when NATS drops messages for an upstream
// subscription, every local subscriber of that key is told, and only
// those.
func TestLostReachesSubscribers(t *testing.T) {
	r, _ := newRouter(t)
	a, b, other := &recorder{}, &recorder{}, &recorder{}
	for _, s := range []*Sub{sub(a, "a", "x/+", 1), sub(b, "b", "x/+", 1), sub(other, "o", "y/#", 1)} {
		if err := r.Add("acme", s); err != nil {
			t.Fatal(err)
		}
	}
	r.lost(r.lookup("acme"), "x/+", 7)
	for name, rec := range map[string]*recorder{"a": a, "b": b, "other": other} {
		rec.mu.Lock()
		n := rec.lost
		rec.mu.Unlock()
		if want := map[bool]int{true: 1, false: 0}[name != "other"]; n != want {
			t.Errorf("subscriber %s told of %d losses, want %d", name, n, want)
		}
	}
}
