package bridge

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/subject"
)

// batchMessages is a publisher's sequence with runs of one topic, a
// topic change, messages too large to batch, every envelope field, and
// more messages to one topic than a batch holds.
func batchMessages() []*Message {
	var ms []*Message
	add := func(topic string, payload []byte) *Message {
		m := &Message{Tenant: "acme", Topic: topic, Payload: payload, Origin: "pub-1", Borrowed: true}
		ms = append(ms, m)
		return m
	}
	for i := range 5 {
		add("b/x", []byte{byte(i)})
	}
	for i := range 3 {
		add("b/y", []byte{10 + byte(i)})
	}
	add("b/x", bytes.Repeat([]byte{'L'}, maxBatchedMessage+1))
	add("b/x", []byte{20})
	full := add("b/x", []byte{21})
	full.ContentType, full.ResponseTopic, full.CorrelationData = "text/plain", "b/reply", []byte("corr")
	full.PayloadFormat, full.ExpirySet, full.MessageExpiry = 1, true, 60
	full.PublishedAt = time.Unix(1700000000, 0)
	full.UserProperties = []mqtt.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}
	for i := range maxBatchMessages + 10 {
		add("b/z", binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	return ms
}

// TestPublishBatch: QoS 0 messages published with a Publisher reach
// another gateway complete and in publishing order, in fewer NATS messages
// than MQTT messages, and only once the publisher flushes (or a batch
// fills); the publishing gateway's own subscribers get each at once.
func TestPublishBatch(t *testing.T) {
	srv := startServer(t)
	g1 := newBridge(t, srv, Config{GatewayID: "g1"})
	var local collector
	if err := g1.DeliverLocally(func(m *Message) { local.handle(m.Clone()) }); err != nil {
		t.Fatal(err)
	}
	g2 := newBridge(t, srv, Config{GatewayID: "g2"})
	var remote collector
	s2, err := g2.Subscribe("acme", "b/#", "", remote.handle)
	if err != nil {
		t.Fatal(err)
	}

	var p Publisher
	ms := batchMessages()
	for i, m := range ms[:3] {
		m.Publisher = &p
		if _, err := g1.Publish(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
		if local.len() != i+1 {
			t.Fatalf("after %d publishes the local handler has %d messages: local delivery must not wait for Flush", i+1, local.len())
		}
	}
	if p.Pending() != 3 {
		t.Fatalf("Pending() = %d after three messages to one topic, want 3", p.Pending())
	}
	if n := g1.live.Stats().OutMsgs; n != 0 {
		t.Fatalf("%d NATS messages sent before Flush, want 0", n)
	}
	for _, m := range ms[3:] {
		m.Publisher = &p
		if _, err := g1.Publish(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := g1.Flush(&p); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 0 {
		t.Fatalf("Pending() = %d after Flush", p.Pending())
	}
	if err := g1.Flush(&p); err != nil {
		t.Fatalf("Flush with nothing pending: %v", err)
	}
	settle(t, s2, g1.live)
	// b/x run, b/y run, large alone, b/x run of 2, b/z: one full batch
	// and the rest.
	if sent := g1.live.Stats().OutMsgs; sent != 6 {
		t.Errorf("%d MQTT messages took %d NATS messages, want 6", len(ms), sent)
	}
	for name, got := range map[string][]*Message{"remote": remote.all(), "local": local.all()} {
		if len(got) != len(ms) {
			t.Fatalf("%s subscriber got %d messages, want %d", name, len(got), len(ms))
		}
		for i, want := range ms {
			g := got[i]
			if g.Topic != want.Topic || !bytes.Equal(g.Payload, want.Payload) || g.Origin != want.Origin ||
				g.ContentType != want.ContentType || g.ResponseTopic != want.ResponseTopic ||
				!bytes.Equal(g.CorrelationData, want.CorrelationData) || g.PayloadFormat != want.PayloadFormat ||
				g.ExpirySet != want.ExpirySet || g.MessageExpiry != want.MessageExpiry ||
				!g.PublishedAt.Equal(want.PublishedAt) || len(g.UserProperties) != len(want.UserProperties) ||
				g.Tenant != "acme" || g.Seq != 0 {
				t.Fatalf("%s message %d = %+v, want %+v", name, i, g, want)
			}
		}
	}
}

// TestPublishBatchTraced: a traced message is not batched (its trace
// context travels in NATS headers) and still arrives after the messages
// batched before it.
func TestPublishBatchTraced(t *testing.T) {
	srv := startServer(t)
	g1 := newBridge(t, srv, Config{GatewayID: "g1"})
	if err := g1.DeliverLocally(func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	g2 := newBridge(t, srv, Config{GatewayID: "g2"})
	var remote collector
	s2, err := g2.Subscribe("acme", "tr/#", "", remote.handle)
	if err != nil {
		t.Fatal(err)
	}
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	})
	var p Publisher
	for i := range 4 {
		ctx := ctxT(t)
		if i == 2 {
			ctx = trace.ContextWithSpanContext(ctx, span)
		}
		if _, err := g1.Publish(ctx, &Message{Tenant: "acme", Topic: "tr/a", Payload: []byte{byte(i)}, Publisher: &p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g1.Flush(&p); err != nil {
		t.Fatal(err)
	}
	settle(t, s2, g1.live)
	got := remote.all()
	if len(got) != 4 {
		t.Fatalf("got %d messages, want 4", len(got))
	}
	for i, m := range got {
		if m.Payload[0] != byte(i) {
			t.Fatalf("message %d has payload %d: out of order", i, m.Payload[0])
		}
		if traced := m.Trace.IsValid(); traced != (i == 2) {
			t.Errorf("message %d traced = %v, want %v", i, traced, i == 2)
		}
	}
}

// TestDeliverBatchMalformed: a batch envelope from NATS with a bad entry
// delivers the valid entries before it, skips an entry that is not an
// envelope, and stops at a length that overruns the batch.
func TestDeliverBatchMalformed(t *testing.T) {
	srv := startServer(t)
	g := newBridge(t, srv, Config{GatewayID: "g"})
	var c collector
	s, err := g.Subscribe("acme", "m/#", "", c.handle)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(b []byte, payload string) []byte {
		env := EncodeMessage(nil, &Message{Topic: "m/a", Payload: []byte(payload)})
		return append(binary.AppendUvarint(b, uint64(len(env))), env...)
	}
	batch := entry([]byte{envelopeBatch}, "one")
	batch = append(binary.AppendUvarint(batch, 3), 9, 9, 9) // not an envelope
	batch = entry(batch, "two")
	batch = append(binary.AppendUvarint(batch, 1000), 1, 2) // overruns
	batch = entry(batch, "lost")
	nc := connect(t, srv)
	if err := nc.Publish(subject.Name(liveRoot+"acme.m", "m/a"), batch); err != nil {
		t.Fatal(err)
	}
	settle(t, s, nc)
	got := c.all()
	if len(got) != 2 || string(got[0].Payload) != "one" || string(got[1].Payload) != "two" {
		var ps []string
		for _, m := range got {
			ps = append(ps, string(m.Payload))
		}
		t.Fatalf("delivered %q, want [one two]", ps)
	}
}

// BenchmarkPublishBatched: QoS 0 publishes of one publisher to one topic,
// batched, with a subscriber on another gateway. msgs/s counts messages
// received there; %dropped those NATS dropped for the subscriber (QoS 0
// has no flow control across gateways).
func BenchmarkPublishBatched(b *testing.B) {
	for _, batched := range []bool{false, true} {
		b.Run(fmt.Sprintf("batched=%v", batched), func(b *testing.B) {
			srv := startServer(b)
			g1 := newBridge(b, srv, Config{GatewayID: "g1"})
			if err := g1.DeliverLocally(func(*Message) {}); err != nil {
				b.Fatal(err)
			}
			g2 := newBridge(b, srv, Config{GatewayID: "g2"})
			got := make(chan struct{}, 1)
			var n atomic.Int64
			if _, err := g2.Subscribe("acme", "bench/#", "", func(*Message) {
				if n.Add(1) == int64(b.N) {
					got <- struct{}{}
				}
			}); err != nil {
				b.Fatal(err)
			}
			var p Publisher
			m := &Message{Tenant: "acme", Topic: "bench/t", Payload: make([]byte, 64), Borrowed: true}
			ctx := ctxT(b)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if batched {
					m.Publisher = &p
				}
				if _, err := g1.Publish(ctx, m); err != nil {
					b.Fatal(err)
				}
				if batched && (i%32 == 31 || i == b.N-1) {
					if err := g1.Flush(&p); err != nil {
						b.Fatal(err)
					}
				}
			}
			// QoS 0 has no flow control across NATS: a publisher this fast
			// outruns the subscriber, and NATS drops what overflows its
			// buffer (slow consumer). Wait until everything arrived or
			// nothing more does, and report what was received and lost.
			last, quiet := n.Load(), 0
			for done := false; !done && quiet < 5; {
				select {
				case <-got:
					done = true
				case <-time.After(100 * time.Millisecond):
					if cur := n.Load(); cur == last {
						quiet++
					} else {
						last, quiet = cur, 0
					}
				}
			}
			received := n.Load()
			b.ReportMetric(float64(received)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(100*float64(int64(b.N)-received)/float64(b.N), "%dropped")
		})
	}
}

// TestDurableBackPressure: a subscriber whose handler is slower than its
// tenant's durable publishers on the same gateway holds those publishers
// back once NATS has SubscriberBacklog messages buffered for it, so the buffer
// stays under a limit that would otherwise overflow (NATS would drop
// messages, slow consumer) and every message arrives, in order.
func TestDurableBackPressure(t *testing.T) {
	srv := startServer(t)
	const mark = 500
	b := newBridge(t, srv, Config{GatewayID: "g1", SubscriberBacklog: mark, MaxPendingPublishes: 256})
	h := newSlowSubscriber(t, b, mark)
	h.publishAll(t, b)
	ts := b.tenant("acme")
	if ts.held.Load() == 0 {
		t.Error("no durable publish was held back")
	}
	if err := h.s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if v := ts.behind.Load(); v != 0 {
		t.Errorf("behind = %d after the subscription ended, want 0", v)
	}
}

// TestOnDrop: a queue subscription whose handler falls behind the NATS
// buffer limit of its durable messages (none by default; this test sets
// one) reports the durable messages NATS dropped to its OnDrop function,
// all of them, from its delivery goroutine. (A plain subscription reads
// them back instead: gapfill_test.go.)
func TestOnDrop(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	s, release, _, reported := stalledQueueSubscribe(t, b, "d/#")
	for _, ns := range s.subs {
		if err := ns.SetPendingLimits(100, -1); err != nil {
			t.Fatal(err)
		}
	}
	publishUntilDropped(t, b, s, "d/1", 1, 1000)
	close(release)
	// More messages after the drops make the subscription look again
	// (every behindEvery messages it takes).
	checkFor(t, 10*time.Second, func() error {
		for i := range behindEvery {
			if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "d/1", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, want := reported.Load(), int64(s.Dropped()); got != want {
			return fmt.Errorf("OnDrop reported %d drops, NATS counts %d", got, want)
		}
		return nil
	})
}

// TestSharedSubscriptionClasses: a queue subscription takes durable
// messages on NATS subscriptions without a pending limit, so NATS never
// drops one for it, and QoS 0 messages on others with NATS's limits,
// whose drops are logged and not reported through OnDrop (no durable
// message is among them, so no session's stream position is broken).
func TestSharedSubscriptionClasses(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	s, release, handled, reported := stalledQueueSubscribe(t, b, "c/#")
	var qos0 []*nats.Subscription
	for i, ns := range s.subs {
		msgs, bytes, err := ns.PendingLimits()
		if err != nil {
			t.Fatal(err)
		}
		if s.watches[i].qos0 {
			qos0 = append(qos0, ns)
			if msgs <= 0 || bytes <= 0 {
				t.Errorf("QoS 0 subscription %s has pending limits %d messages, %d bytes; want NATS's", ns.Subject, msgs, bytes)
			}
			continue
		}
		if msgs != -1 || bytes != -1 {
			t.Errorf("durable subscription %s has pending limits %d messages, %d bytes; want none (-1)", ns.Subject, msgs, bytes)
		}
	}
	if len(qos0) == 0 || len(qos0) == len(s.subs) {
		t.Fatalf("%d of %d NATS subscriptions take QoS 0 messages, want some but not all", len(qos0), len(s.subs))
	}
	for _, ns := range qos0 {
		if err := ns.SetPendingLimits(50, -1); err != nil {
			t.Fatal(err)
		}
	}
	publishUntilDropped(t, b, s, "c/1", 0, 500)
	close(release)
	// Enough messages after the drops that the subscription looks again.
	for i := range 2 * behindEvery {
		if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "c/1", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if got := handled.Load(); got < int64(500+2*behindEvery-s.Dropped()) {
			return fmt.Errorf("handled %d", got)
		}
		return nil
	})
	if got := reported.Load(); got != 0 {
		t.Errorf("OnDrop reported %d drops of QoS 0 messages, want none", got)
	}
}

// stalledQueueSubscribe subscribes to filter in queue group "grp" with a
// handler that stalls on its first message until release is closed (so
// NATS fills the buffer), counting the messages it handled and the drops
// OnDrop reported.
func stalledQueueSubscribe(t *testing.T, b *Bridge, filter string) (s *Subscription, release chan struct{}, handled, reported *atomic.Int64) {
	t.Helper()
	release = make(chan struct{})
	handled, reported = new(atomic.Int64), new(atomic.Int64)
	s, err := b.Subscribe("acme", filter, "grp", func(*Message) {
		if handled.Add(1) == 1 {
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s.OnDrop(func(n int) { reported.Add(int64(n)) })
	return s, release, handled, reported
}

// publishUntilDropped publishes n messages of the given QoS to topic and
// waits until NATS has dropped some for s.
func publishUntilDropped(t *testing.T, b *Bridge, s *Subscription, topic string, qos byte, n int) {
	t.Helper()
	for i := range n {
		if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: topic, QoS: qos, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if s.Dropped() == 0 {
			return fmt.Errorf("no drop yet")
		}
		return nil
	})
}

// TestMarkPassed: a Mark taken while the handler holds a message and two
// more wait is passed only once the handler has finished with all three;
// one taken with nothing queued is passed at once.
func TestMarkPassed(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	release := make(chan struct{})
	var handled atomic.Int64
	s, err := b.Subscribe("acme", "k/#", "", func(*Message) {
		if handled.Add(1) == 1 {
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Passed(s.Mark(nil)) {
		t.Fatal("a Mark taken with nothing queued is not passed")
	}
	for i := range 3 {
		if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "k/1", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		queued := 0
		for _, ns := range s.subs {
			n, _, _ := ns.Pending()
			queued += n
		}
		if queued < 3 { // NATS counts the one held until the handler returns
			return fmt.Errorf("%d queued", queued)
		}
		if handled.Load() == 0 {
			return fmt.Errorf("the handler has not taken the first message")
		}
		return nil
	})
	m := s.Mark(nil)
	if s.Passed(m) {
		t.Fatal("a Mark taken while the handler holds a message is passed")
	}
	close(release)
	checkFor(t, 10*time.Second, func() error {
		if !s.Passed(m) {
			return fmt.Errorf("not passed after %d messages handled", handled.Load())
		}
		return nil
	})
	if got := handled.Load(); got != 3 {
		t.Errorf("passed after %d messages handled, want 3", got)
	}
}
