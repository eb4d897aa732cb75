package bridge

import (
	"fmt"
	"testing"
	"time"
)

// TestDeliverLocally: a gateway that delivers its own QoS 0 publishes
// locally gets each of them once, through its LocalHandler and not back
// from NATS, while another gateway still receives them through NATS; its
// durable publishes still come back through the stream; and its queue
// group members still take part in NATS's choice.
func TestDeliverLocally(t *testing.T) {
	srv := startServer(t)
	g1 := newBridge(t, srv, Config{GatewayID: "g1"})
	g2 := newBridge(t, srv, Config{GatewayID: "g2"})
	var local collector
	if err := g1.DeliverLocally(func(m *Message) {
		if !m.Borrowed {
			t.Errorf("local message %q not marked borrowed", m.Topic)
		}
		local.handle(m.Clone())
	}); err != nil {
		t.Fatal(err)
	}
	if err := g1.DeliverLocally(local.handle); err == nil {
		t.Error("a second DeliverLocally succeeded")
	}
	var own, other collector
	s1, err := g1.Subscribe("acme", "t/#", "", own.handle)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := g2.Subscribe("acme", "t/#", "", other.handle)
	if err != nil {
		t.Fatal(err)
	}
	var q1, q2 collector
	qs1, err := g1.Subscribe("acme", "jobs/+", "workers", q1.handle)
	if err != nil {
		t.Fatal(err)
	}
	qs2, err := g2.Subscribe("acme", "jobs/+", "workers", q2.handle)
	if err != nil {
		t.Fatal(err)
	}

	const n = 100
	for i := range n {
		m := &Message{Tenant: "acme", Topic: fmt.Sprintf("t/%d", i), Payload: []byte{byte(i)}, Borrowed: true}
		if _, err := g1.Publish(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g1.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "t/durable", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := g1.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "jobs/x", Payload: []byte{byte(i)}, Borrowed: true}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if other.len() < n+1 || own.len() < 1 || q1.len()+q2.len() < n {
			return fmt.Errorf("other gateway %d of %d, own durable %d of 1, queue group %d of %d",
				other.len(), n+1, own.len(), q1.len()+q2.len(), n)
		}
		return nil
	})
	for _, s := range []*Subscription{s1, s2, qs1, qs2} {
		settle(t, s, g1.nc, g2.nc)
	}
	if got := local.len(); got != 2*n {
		t.Errorf("local handler got %d messages, want %d (the QoS 0 ones, shared ones included)", got, 2*n)
	}
	for i, m := range local.all()[:n] {
		if want := fmt.Sprintf("t/%d", i); m.Topic != want || m.Payload[0] != byte(i) {
			t.Fatalf("local message %d = %q %v, want %q in order", i, m.Topic, m.Payload, want)
		}
	}
	if got := own.len(); got != 1 || own.all()[0].Topic != "t/durable" || own.all()[0].Seq == 0 {
		t.Errorf("own subscription got %v, want only the durable message, from the stream (NATS must not echo QoS 0)", own.topics())
	}
	if got := other.len(); got != n+1 {
		t.Errorf("other gateway got %d messages, want %d", got, n+1)
	}
	if got := q1.len() + q2.len(); got != n || q1.len() == 0 || q2.len() == 0 {
		t.Errorf("queue group members got %d and %d, want %d in all, shared by both (local members included)", q1.len(), q2.len(), n)
	}
}

// TestDeliverLocallyOrder: DeliverLocally must come before Subscribe, and
// Close closes the second connection.
func TestDeliverLocallyOrder(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	if _, err := b.Subscribe("acme", "a", "", func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverLocally(func(*Message) {}); err == nil {
		t.Error("DeliverLocally after Subscribe succeeded")
	}
	b2 := newBridge(t, srv, Config{GatewayID: "g2"})
	if err := b2.DeliverLocally(nil); err == nil {
		t.Error("DeliverLocally(nil) succeeded")
	}
	if err := b2.DeliverLocally(func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if !b2.live.IsClosed() {
		t.Error("Close left the live connection open")
	}
}

// TestMessageClone: a clone shares no memory with the original.
func TestMessageClone(t *testing.T) {
	buf := []byte("topic/aorigin payload corr key value ctype rtopic")
	m := &Message{
		Tenant: "acme", Topic: string(buf[:7]), Payload: buf[14:21], Origin: "origin",
		CorrelationData: buf[22:26], ContentType: "ctype", ResponseTopic: "rtopic", Borrowed: true,
	}
	m.Packets.Put(true, false, []byte{1})
	c := m.Clone()
	for i := range buf {
		buf[i] = 'X'
	}
	if c.Payload[0] == 'X' || c.CorrelationData[0] == 'X' || c.Borrowed || c.Packets.Get(true, false) != nil {
		t.Errorf("clone = %+v: shares memory, stays borrowed or keeps the packet cache", c)
	}
	if string(c.Payload) != "payload" || string(c.CorrelationData) != "corr" || c.Topic != "topic/a" {
		t.Errorf("clone = %+v: fields lost", c)
	}
}
