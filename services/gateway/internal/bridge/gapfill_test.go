package bridge

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/pkg/subject"
)

// gapHandler is the handler of the gap-fill tests. Its first message
// waits until the test opens the gate, so NATS buffers the subscription's
// pending limit and drops the rest; after that it takes messages at once,
// or one per pace when that is set (a slow client's pace).
type gapHandler struct {
	gate  chan struct{}
	pace  atomic.Int64 // time.Duration
	first atomic.Bool

	mu      sync.Mutex
	durable map[string][]uint64 // topic → sequences, in handler order
	qos0    int
	expired []uint64 // sequences handed whose expiry had passed
}

func newGapHandler() *gapHandler {
	return &gapHandler{gate: make(chan struct{}), durable: make(map[string][]uint64)}
}

func (g *gapHandler) handle(m *Message) {
	if g.first.CompareAndSwap(false, true) {
		<-g.gate
	}
	if d := time.Duration(g.pace.Load()); d > 0 {
		time.Sleep(d)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.Seq == 0 {
		g.qos0++
		return
	}
	if m.Expired(time.Now()) {
		g.expired = append(g.expired, m.Seq)
	}
	g.durable[m.Topic] = append(g.durable[m.Topic], m.Seq)
}

// seqs returns the sequences handed for topic.
func (g *gapHandler) seqs(topic string) []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.durable[topic])
}

// count returns how many durable messages were handed, over all topics.
func (g *gapHandler) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.durable {
		n += len(s)
	}
	return n
}

// gapSubscribe subscribes h to filter with NATS's pending limit for each of
// the subscription's NATS subscriptions set to limit messages, and counts
// the drops reported through OnDrop.
func gapSubscribe(t *testing.T, b *Bridge, filter string, limit int, h *gapHandler) (*Subscription, *atomic.Int64) {
	t.Helper()
	s, err := b.Subscribe("acme", filter, "", h.handle)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range s.subs {
		if err := ns.SetPendingLimits(limit, -1); err != nil {
			t.Fatal(err)
		}
	}
	reported := new(atomic.Int64)
	s.OnDrop(func(n int) { reported.Add(int64(n)) })
	return s, reported
}

// publishDurable publishes n QoS 1 messages to topic and waits until the
// stream stored them all; it returns their sequences.
func publishDurable(t *testing.T, b *Bridge, topic string, n int, mod func(i int, m *Message)) []uint64 {
	t.Helper()
	ctx := ctxT(t)
	futures := make([]*PubFuture, 0, n)
	for i := range n {
		m := &Message{Tenant: "acme", Topic: topic, QoS: 1, Payload: []byte(fmt.Sprint(i))}
		if mod != nil {
			mod(i, m)
		}
		f, err := b.PublishAsync(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	seqs := make([]uint64, 0, n)
	for _, f := range futures {
		seq, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// waitArrived waits until NATS has received want messages for s: handed
// to its delivery goroutine, still buffered, or dropped.
func waitArrived(t *testing.T, s *Subscription, want int) {
	t.Helper()
	if err := s.b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		n := 0
		for _, ns := range s.subs {
			delivered, err := ns.Delivered()
			if err != nil {
				return err
			}
			pending, _, _ := ns.Pending()
			dropped, _ := ns.Dropped()
			n += int(delivered) + pending + dropped
			if delivered > 0 {
				// The gate holds the first message in the handler and
				// the other NATS subscriptions' first message before
				// it: each is both delivered and pending.
				n--
			}
		}
		if n < want {
			return fmt.Errorf("NATS received %d of %d messages for the subscription", n, want)
		}
		return nil
	})
}

// waitHanded waits until h has taken want durable messages.
func waitHanded(t *testing.T, h *gapHandler, want int) {
	t.Helper()
	checkFor(t, 20*time.Second, func() error {
		if n := h.count(); n < want {
			return fmt.Errorf("the handler took %d of %d durable messages", n, want)
		}
		return nil
	})
}

// TestGapFill: NATS drops durable messages for a plain subscription whose
// handler falls behind, in the middle and at the very end of a burst, and
// the subscription reads them back from the stream: the handler gets every
// sequence exactly once, in stream order [MQTT-4.6.0-5], and OnDrop is not
// called.
func TestGapFill(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "g/#", 100, h)

	// A burst while the handler is stuck: NATS buffers 100 and drops
	// the rest, the last message included.
	want := publishDurable(t, b, "g/1", 1000, nil)
	waitArrived(t, s, len(want))
	if s.Dropped() == 0 {
		t.Fatal("NATS dropped nothing: the test provokes no gap")
	}
	close(h.gate)
	waitHanded(t, h, len(want))

	// A slow handler while the publisher goes on: drops come and go
	// while live messages keep arriving behind them.
	h.pace.Store(int64(50 * time.Microsecond))
	before := s.Dropped()
	want = append(want, publishDurable(t, b, "g/1", 3000, nil)...)
	waitHanded(t, h, len(want))
	t.Logf("NATS dropped %d messages of the first burst and %d of the second", before, s.Dropped()-before)

	settle(t, s)
	if got := h.seqs("g/1"); !slices.Equal(got, want) {
		t.Errorf("the handler got %d sequences %v…, want %d in order, each once", len(got), head(got), len(want))
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("OnDrop reported %d drops, want none: every durable message was recovered", n)
	}
}

// TestGapFillTinyBuffer: with the smallest buffer the gap-fill supports
// (two messages: NATS then drops whenever a second one arrives while the
// handler is busy, and the reads of a recovery make it busy), nearly every
// message is dropped and read back, window after window, and every
// durable message still reaches the handler once, in order.
func TestGapFillTinyBuffer(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	close(h.gate)
	h.pace.Store(int64(200 * time.Microsecond))
	s, reported := gapSubscribe(t, b, "tiny/#", 2, h)
	// One publish at a time: the messages arrive while earlier windows
	// are being recovered.
	ctx := ctxT(t)
	var want []uint64
	for i := range 1000 {
		seq, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: "tiny/1", QoS: 1, Payload: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, seq)
	}
	waitHanded(t, h, len(want))
	dropped := s.Dropped()
	settle(t, s)
	if dropped == 0 {
		t.Fatal("NATS dropped nothing: the test provokes no gap")
	}
	t.Logf("NATS dropped %d of %d messages", dropped, len(want))
	if got := h.seqs("tiny/1"); !slices.Equal(got, want) {
		t.Errorf("the handler got %d sequences %v…, want %d in order, each once", len(got), head(got), len(want))
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("OnDrop reported %d drops, want none", n)
	}
}

// head returns the first sequences of s, for failure messages.
func head(s []uint64) []uint64 { return s[:min(len(s), 20)] }

// TestGapFillMixed: with QoS 0 and durable messages interleaved on both NATS
// subscriptions of a filter, the dropped QoS 0 messages stay lost (QoS 0 is
// at most once) while every durable one reaches the handler once, in order
// per topic [MQTT-4.6.0-5].
func TestGapFillMixed(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "m/#", 50, h) // subjects for "m" and "m/..."
	if len(s.subs) != 2 {
		t.Fatalf("the filter m/# made %d NATS subscriptions, want 2", len(s.subs))
	}
	ctx := ctxT(t)
	const n = 1200
	var futures []*PubFuture
	want := map[string][]uint64{}
	qos0 := 0
	for i := range n {
		// Each NATS subscription's first message is durable: drops before
		// it go to OnDrop (TestGapFillBeforeFirstDurable).
		topic := []string{"m", "m/1"}[i%2]
		if i%4 >= 2 {
			if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: topic, Payload: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
			qos0++
			continue
		}
		f, err := b.PublishAsync(ctx, &Message{Tenant: "acme", Topic: topic, QoS: 1, Payload: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		seq, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := b.Fetch(ctx, "acme", seq)
		if err != nil {
			t.Fatal(err)
		}
		want[m.Topic] = append(want[m.Topic], seq)
	}
	waitArrived(t, s, n)
	close(h.gate)
	waitHanded(t, h, len(futures))
	settle(t, s)

	for _, topic := range []string{"m", "m/1"} {
		if got := h.seqs(topic); !slices.Equal(got, want[topic]) {
			t.Errorf("topic %s: the handler got %d sequences %v…, want %d in order, each once", topic, len(got), head(got), len(want[topic]))
		}
	}
	h.mu.Lock()
	got0 := h.qos0
	h.mu.Unlock()
	if got0 >= qos0 {
		t.Errorf("the handler got %d of %d QoS 0 messages: none was dropped, the test provokes no QoS 0 loss", got0, qos0)
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("OnDrop reported %d drops, want none: every durable message was recovered", n)
	}
}

// TestGapFillPurged: when the tenant's stream lost the dropped messages
// before the subscription could read them back (here a purge, as limits
// would), the drops reach OnDrop as before, so a persistent session knows
// its position is broken; the messages NATS did deliver still arrive, in
// order.
func TestGapFillPurged(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "p/#", 100, h)
	want := publishDurable(t, b, "p/1", 300, nil)
	waitArrived(t, s, len(want))
	st, err := b.js.Stream(ctxT(t), queueStream("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	close(h.gate)
	checkFor(t, 10*time.Second, func() error {
		if got, want := reported.Load(), int64(s.Dropped()); got == 0 || got != want {
			return fmt.Errorf("OnDrop reported %d drops, NATS counts %d", got, want)
		}
		return nil
	})
	settle(t, s)
	got := h.seqs("p/1")
	if len(got) == 0 || len(got) >= len(want) || !slices.Equal(got, want[:len(got)]) {
		t.Errorf("the handler got %v…, want the first sequences NATS delivered, in order", head(got))
	}
}

// TestGapFillBeforeFirstDurable: drops that come before the NATS
// subscription's first durable message are read back from the first
// message stored since the subscription was made (less subscribeSkew),
// not from earlier ones.
func TestGapFillBeforeFirstDurable(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	old := publishDurable(t, b, "f/1", 1, nil)
	stored := time.Now()
	checkFor(t, 5*time.Second, func() error {
		if time.Since(stored) <= subscribeSkew {
			return fmt.Errorf("the message stored before the subscription is not older than %v yet", subscribeSkew)
		}
		return nil
	})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "f/#", 100, h)
	ctx := ctxT(t)
	for i := range 100 { // NATS's limit counts the one in the handler
		if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: "f/1", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitArrived(t, s, 100)
	want := publishDurable(t, b, "f/1", 50, nil)
	waitArrived(t, s, 150)
	if d := s.Dropped(); d != 50 {
		t.Fatalf("NATS dropped %d messages, want the 50 durable ones", d)
	}
	close(h.gate)
	waitHanded(t, h, len(want))
	settle(t, s)
	if got := h.seqs("f/1"); !slices.Equal(got, want) {
		t.Errorf("the handler got %v, want %v (and not %v, stored before the subscription)", got, want, old)
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("OnDrop reported %d drops, want none", n)
	}
}

// TestGapFillSkipsExpired: a dropped message whose expiry passed before it
// was read back is not delivered [MQTT-3.3.2-5]; every other one is.
func TestGapFillSkipsExpired(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "e/#", 100, h)
	expired := func(i int) bool { return i%10 == 5 }
	seqs := publishDurable(t, b, "e/1", 300, func(i int, m *Message) {
		if expired(i) {
			m.ExpirySet, m.MessageExpiry, m.PublishedAt = true, 1, time.Now().Add(-time.Hour)
		}
	})
	waitArrived(t, s, len(seqs))
	close(h.gate)
	var want []uint64
	for i, seq := range seqs {
		if !expired(i) {
			want = append(want, seq)
		}
	}
	waitHanded(t, h, len(want))
	settle(t, s)
	got := h.seqs("e/1")
	h.mu.Lock()
	handedExpired := slices.Clone(h.expired)
	h.mu.Unlock()
	var unexpired []uint64
	for _, seq := range got {
		if !slices.Contains(handedExpired, seq) {
			unexpired = append(unexpired, seq)
		}
	}
	if !slices.IsSorted(got) || !slices.Equal(unexpired, want) {
		t.Errorf("the handler got %v…, want every message that had not expired, in order", head(got))
	}
	// Those NATS delivered live went to the handler (the gateway checks
	// expiry on delivery), but the ones read back were left out.
	if len(handedExpired) >= 30 {
		t.Errorf("the handler got %d expired messages: the dropped ones were not skipped", len(handedExpired))
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("OnDrop reported %d drops, want none", n)
	}
}

// TestGapFillQoS0Only: a tenant that never stored a durable message loses
// only QoS 0 messages when NATS drops some, which is allowed: nothing is
// reported through OnDrop, so no session's position is marked broken.
func TestGapFillQoS0Only(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "z/#", 10, h)
	ctx := ctxT(t)
	for i := range 100 {
		if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: "z/1", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitArrived(t, s, 100)
	dropped := s.Dropped()
	close(h.gate)
	checkFor(t, 10*time.Second, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.qos0 < 100-dropped {
			return fmt.Errorf("the handler got %d of the %d messages NATS kept", h.qos0, 100-dropped)
		}
		return nil
	})
	settle(t, s)
	if dropped == 0 {
		t.Fatal("NATS dropped nothing: the test provokes no gap")
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("OnDrop reported %d drops of QoS 0 messages, want none", n)
	}
}

// TestGapFillStreamDeleted: when the tenant's stream is gone before the
// dropped messages could be read back, the drops reach OnDrop.
func TestGapFillStreamDeleted(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	h := newGapHandler()
	s, reported := gapSubscribe(t, b, "x/#", 100, h)
	publishDurable(t, b, "x/1", 300, nil)
	waitArrived(t, s, 300)
	if err := b.js.DeleteStream(ctxT(t), queueStream("acme")); err != nil {
		t.Fatal(err)
	}
	close(h.gate)
	checkFor(t, 10*time.Second, func() error {
		if got, want := reported.Load(), int64(s.Dropped()); got == 0 || got != want {
			return fmt.Errorf("OnDrop reported %d drops, NATS counts %d", got, want)
		}
		return nil
	})
	settle(t, s)
}

// TestGapFillUnsubscribe: a handler that unsubscribes while it is handed
// messages read back from the stream gets none after that.
func TestGapFillUnsubscribe(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{GatewayID: "g1"})
	gate := make(chan struct{})
	var s *Subscription
	var got []uint64 // only the delivery goroutine appends, under s.mu
	var once sync.Once
	s, err := b.Subscribe("acme", "u/#", "", func(m *Message) {
		once.Do(func() { <-gate })
		got = append(got, m.Seq)
		if len(got) == 150 { // past the 100 NATS kept: read back
			if err := s.Unsubscribe(); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range s.subs {
		if err := ns.SetPendingLimits(100, -1); err != nil {
			t.Fatal(err)
		}
	}
	publishDurable(t, b, "u/1", 300, nil)
	waitArrived(t, s, 300)
	close(gate)
	// The handler runs in the subscription's delivery goroutine, which
	// ends once it is unsubscribed: poll until it no longer holds s.mu.
	checkFor(t, 10*time.Second, func() error {
		if !s.mu.TryLock() {
			return fmt.Errorf("the handler is still running")
		}
		defer s.mu.Unlock()
		if len(got) < 150 {
			return fmt.Errorf("the handler got %d messages", len(got))
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(got) != 150 {
		t.Errorf("the handler got %d messages, want 150: none after it unsubscribed", len(got))
	}
}

// TestDurableSubject: the stream subject derived from a NATS subscription's
// subject is the one subject.Filter maps the filter to.
func TestDurableSubject(t *testing.T) {
	for _, filter := range []string{"#", "a/#", "a/+/c", "+", "$SYS/#", "x", "a b/#"} {
		live := subject.Filter(liveRoot+"acme.*", filter)
		durable := subject.Filter(durableRoot+"acme", filter)
		if len(live) != len(durable) {
			t.Fatalf("Filter(%q) maps to %d live and %d stream subjects", filter, len(live), len(durable))
		}
		for i := range live {
			if got := durableSubject("acme", live[i]); got != durable[i] {
				t.Errorf("durableSubject(%q) = %q, want %q", live[i], got, durable[i])
			}
		}
	}
}

// BenchmarkDeliver measures what the gap-fill adds to a plain
// subscription's handling of one message that NATS did not drop (its look
// at the drop count), against a queue subscription's, which has none.
func BenchmarkDeliver(b *testing.B) {
	srv := startServer(b)
	br := newBridge(b, srv, Config{})
	ns, err := br.nc.SubscribeSync(liveRoot + "acme.*.t.bench")
	if err != nil {
		b.Fatal(err)
	}
	s := &Subscription{b: br}
	data := EncodeMessage(nil, &Message{Tenant: "acme", Topic: "bench", Payload: benchPayload})
	for _, qos := range []byte{0, 1} {
		for _, plain := range []bool{false, true} {
			b.Run(fmt.Sprintf("qos%d/gapfill=%v", qos, plain), func(b *testing.B) {
				var g *gapFill
				if plain {
					g = &gapFill{s: s, tenant: "acme", filter: "bench"}
				}
				msg := &nats.Msg{Subject: ns.Subject, Data: data, Sub: ns, Header: nats.Header{}}
				var seq uint64
				h := func(*Message) {}
				b.ReportAllocs()
				for b.Loop() {
					if qos > 0 {
						seq++
						msg.Header[nats.JSSequence] = []string{strconv.FormatUint(seq, 10)}
					}
					s.deliver("acme", msg, h, g)
				}
			})
		}
	}
}
