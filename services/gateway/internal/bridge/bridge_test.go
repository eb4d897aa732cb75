package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// published is the set of topics TestSubscribeFilters publishes, in order.
var published = []string{
	"a", "a/b", "a/b/c", "b", "/b", "/x", "a/", "$SYS", "$SYS/x", "$SYS/b", "x.y/z w", "héllo/b",
}

func TestSubscribeFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		// [MQTT-4.7.1-2] "#" matches the parent level too.
		{"multi-level includes parent", "a/#", []string{"a", "a/b", "a/b/c", "a/"}},
		// [MQTT-4.7.2-1] wildcards at the first level do not match '$' topics.
		{"hash skips dollar topics", "#", []string{"a", "a/b", "a/b/c", "b", "/b", "/x", "a/", "x.y/z w", "héllo/b"}},
		{"plus skips dollar topics", "+/b", []string{"a/b", "/b", "héllo/b"}},
		{"dollar topics by name", "$SYS/#", []string{"$SYS", "$SYS/x", "$SYS/b"}},
		{"single level with empty level", "a/+", []string{"a/b", "a/"}},
		{"single level alone", "+", []string{"a", "b"}},
		{"exact with dot and space", "x.y/z w", []string{"x.y/z w"}},
		{"no match", "nothing/here", nil},
	}
	srv := startServer(t)
	for _, qos := range []byte{0, 1} {
		for i, tt := range tests {
			t.Run(fmt.Sprintf("qos%d/%s", qos, tt.name), func(t *testing.T) {
				sub, pub := newBridge(t, srv, Config{GatewayID: "sub"}), newBridge(t, srv, Config{GatewayID: "pub"})
				tenant := fmt.Sprintf("t%d-%d", qos, i)
				var c collector
				s, err := sub.Subscribe(tenant, tt.filter, "", c.handle)
				if err != nil {
					t.Fatalf("Subscribe(%q): %v", tt.filter, err)
				}
				if err := sub.nc.Flush(); err != nil {
					t.Fatal(err)
				}
				for _, topic := range published {
					if _, err := pub.Publish(ctxT(t), &Message{Tenant: tenant, Topic: topic, QoS: qos, Payload: []byte(topic)}); err != nil {
						t.Fatalf("Publish(%q): %v", topic, err)
					}
				}
				checkFor(t, 10*time.Second, func() error {
					if c.len() < len(tt.want) {
						return fmt.Errorf("received %d of %d messages", c.len(), len(tt.want))
					}
					return nil
				})
				settle(t, s, pub.nc)
				got := c.topics()
				slices.Sort(got)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("Subscribe(%q) received %q, want %q", tt.filter, got, want)
				}
				for _, m := range c.all() {
					if string(m.Payload) != m.Topic || m.Tenant != tenant || m.QoS != qos {
						t.Errorf("message %+v: payload, tenant or QoS wrong", m)
					}
					if (m.Seq == 0) != (qos == 0) {
						t.Errorf("message %q of QoS %d has Seq %d", m.Topic, qos, m.Seq)
					}
				}
			})
		}
	}
}

func TestPublishQoS1Seq(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var c collector
	if _, err := b.Subscribe("acme", "s/#", "", c.handle); err != nil {
		t.Fatal(err)
	}
	in := &Message{
		Tenant: "acme", Topic: "s/1", QoS: 1, Retain: true, Origin: "dev-1", Payload: []byte("hi"),
		PublishedAt: time.Unix(1700000000, 5), MessageExpiry: 60, ExpirySet: true, PayloadFormat: 1,
		ContentType: "text/plain", ResponseTopic: "r/1", CorrelationData: []byte{1, 2},
		UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
	}
	var seqs []uint64
	for range 3 {
		seq, err := b.Publish(ctxT(t), in)
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		seqs = append(seqs, seq)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Fatalf("Publish sequences = %v, want [1 2 3]", seqs)
	}
	checkFor(t, 10*time.Second, func() error {
		if c.len() < 3 {
			return fmt.Errorf("received %d of 3", c.len())
		}
		return nil
	})
	for i, m := range c.all() {
		if m.Seq != seqs[i] {
			t.Errorf("message %d: Seq = %d, want %d", i, m.Seq, seqs[i])
		}
		want := *in
		want.Seq = seqs[i]
		if !equalMessage(m, &want) {
			t.Errorf("message %d = %+v, want %+v", i, m, &want)
		}
	}
}

func TestOverlappingSubscriptions(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var c1, c2 collector
	s1, err := b.Subscribe("acme", "a/#", "", c1.handle)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.Subscribe("acme", "a/+", "", c2.handle)
	if err != nil {
		t.Fatal(err)
	}
	for _, qos := range []byte{0, 1} {
		if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "a/b", QoS: qos}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if c1.len() < 2 || c2.len() < 2 {
			return fmt.Errorf("received %d and %d of 2", c1.len(), c2.len())
		}
		return nil
	})
	settle(t, s1)
	settle(t, s2)
	if c1.len() != 2 || c2.len() != 2 {
		t.Errorf("each subscription must get its own copy: got %d and %d, want 2 and 2", c1.len(), c2.len())
	}
}

func TestQueueGroup(t *testing.T) {
	srv := startServer(t)
	pub := newBridge(t, srv, Config{GatewayID: "pub"})
	g1, g2 := newBridge(t, srv, Config{GatewayID: "g1"}), newBridge(t, srv, Config{GatewayID: "g2"})
	var c1, c2 collector
	// A group name that is no NATS token is still usable.
	s1, err := g1.Subscribe("acme", "jobs/+", "workers.all", c1.handle)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := g2.Subscribe("acme", "jobs/+", "workers.all", c2.handle)
	if err != nil {
		t.Fatal(err)
	}
	g1.nc.Flush()
	g2.nc.Flush()
	const n = 200
	for i := range n {
		if _, err := pub.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "jobs/x", QoS: byte(i % 2), Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		if got := c1.len() + c2.len(); got < n {
			return fmt.Errorf("group received %d of %d", got, n)
		}
		return nil
	})
	settle(t, s1, pub.nc)
	settle(t, s2, pub.nc)
	if got := c1.len() + c2.len(); got != n {
		t.Errorf("group received %d messages, want each of %d exactly once", got, n)
	}
	if c1.len() == 0 || c2.len() == 0 {
		t.Errorf("group members received %d and %d: the work is not shared", c1.len(), c2.len())
	}
}

func TestTenantIsolation(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var ca, cb collector
	sa, err := b.Subscribe("a", "#", "", ca.handle)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Subscribe("b", "#", "", cb.handle)
	if err != nil {
		t.Fatal(err)
	}
	for _, qos := range []byte{0, 1} {
		for _, tenant := range []string{"a", "b", "a-b", "ab"} {
			if _, err := b.Publish(ctxT(t), &Message{Tenant: tenant, Topic: "x", QoS: qos, Payload: []byte(tenant)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	settle(t, sa)
	settle(t, sb)
	for tenant, c := range map[string]*collector{"a": &ca, "b": &cb} {
		if c.len() != 2 {
			t.Errorf("tenant %s received %d messages, want 2", tenant, c.len())
		}
		for _, m := range c.all() {
			if string(m.Payload) != tenant || m.Tenant != tenant {
				t.Errorf("tenant %s received a message of tenant %s", tenant, m.Payload)
			}
		}
	}

	bad := []string{"", "A", "a.b", "a*", ">", "a b", "-a", "a_b", "ä", string(make([]byte, 65))}
	for _, tenant := range bad {
		if _, err := b.Subscribe(tenant, "#", "", ca.handle); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Subscribe(tenant %q) error = %v, want ErrInvalidTenant", tenant, err)
		}
		if _, err := b.Publish(ctxT(t), &Message{Tenant: tenant, Topic: "x", QoS: 1}); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Publish(tenant %q) error = %v, want ErrInvalidTenant", tenant, err)
		}
		if err := b.SetRetained(ctxT(t), &Message{Tenant: tenant, Topic: "x", Payload: []byte("p")}); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("SetRetained(tenant %q) error = %v, want ErrInvalidTenant", tenant, err)
		}
		if _, err := b.LastSeq(ctxT(t), tenant); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("LastSeq(tenant %q) error = %v, want ErrInvalidTenant", tenant, err)
		}
	}
}

func TestRetained(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	ctx := ctxT(t)
	set := func(topic, payload string) {
		t.Helper()
		if err := b.SetRetained(ctx, &Message{Tenant: "acme", Topic: topic, QoS: 1, Retain: true, Payload: []byte(payload)}); err != nil {
			t.Fatalf("SetRetained(%q, %q): %v", topic, payload, err)
		}
	}
	// Reading a tenant that never retained anything is empty, not an error.
	if got := retainedTopics(t, b, "acme", "#"); len(got) != 0 {
		t.Fatalf("Retained before any = %v", got)
	}
	set("a", "1")
	set("a/b", "old")
	set("a/b", "new") // replaces
	set("a/c/d", "3")
	set("$SYS/x", "4")
	set("b", "5")
	set("b", "")     // deletes [MQTT-3.3.1-10]
	set("never", "") // deleting what does not exist is fine

	tests := []struct {
		filter string
		want   []string // topic=payload
	}{
		{"#", []string{"a=1", "a/b=new", "a/c/d=3"}}, // [MQTT-4.7.2-1]
		{"a/#", []string{"a=1", "a/b=new", "a/c/d=3"}},
		{"a/+", []string{"a/b=new"}},
		{"+/+/d", []string{"a/c/d=3"}},
		{"$SYS/#", []string{"$SYS/x=4"}},
		{"b", nil},
		{"a/b", []string{"a/b=new"}},
	}
	for _, tt := range tests {
		got := retainedTopics(t, b, "acme", tt.filter)
		slices.Sort(got)
		slices.Sort(tt.want)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Retained(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
	if got := retainedTopics(t, b, "other", "#"); len(got) != 0 {
		t.Errorf("Retained of another tenant = %q, want none", got)
	}

	// An expired retained message is not delivered [MQTT-3.3.2-5].
	if err := b.SetRetained(ctx, &Message{Tenant: "acme", Topic: "exp", Payload: []byte("x"), ExpirySet: true, MessageExpiry: 1, PublishedAt: time.Now().Add(-2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := retainedTopics(t, b, "acme", "exp"); len(got) != 0 {
		t.Errorf("Retained(exp) = %q, want the expired message left out", got)
	}

	// The callback's error stops the read.
	stop := errors.New("stop")
	n := 0
	err := b.Retained(ctx, "acme", "#", func(*Message) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Retained with failing callback: err %v after %d calls, want stop after 1", err, n)
	}
}

func retainedTopics(t testing.TB, b *Bridge, tenant, filter string) []string {
	t.Helper()
	var got []string
	err := b.Retained(ctxT(t), tenant, filter, func(m *Message) error {
		if !m.Retain || m.Tenant != tenant || m.Seq == 0 {
			t.Errorf("retained message %+v: want Retain, tenant %s and a sequence", m, tenant)
		}
		got = append(got, m.Topic+"="+string(m.Payload))
		return nil
	})
	if err != nil {
		t.Fatalf("Retained(%q): %v", filter, err)
	}
	return got
}

func TestRetainedLimit(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{MaxRetained: 100, TenantLimits: func(tenant string) (Limits, bool) {
		return Limits{MaxRetained: 2}, tenant == "small"
	}})
	ctx := ctxT(t)
	for _, topic := range []string{"a", "b"} {
		if err := b.SetRetained(ctx, &Message{Tenant: "small", Topic: topic, Payload: []byte("1")}); err != nil {
			t.Fatal(err)
		}
	}
	err := b.SetRetained(ctx, &Message{Tenant: "small", Topic: "c", Payload: []byte("1")})
	if !errors.Is(err, ErrRetainedFull) || !errors.Is(err, ErrQueueFull) {
		t.Errorf("SetRetained beyond the limit: %v, want ErrRetainedFull", err)
	}
	// Replacing an existing topic at the limit still works.
	if err := b.SetRetained(ctx, &Message{Tenant: "small", Topic: "a", Payload: []byte("2")}); err != nil {
		t.Errorf("SetRetained replacing at the limit: %v", err)
	}
	// Other tenants use the default.
	for _, topic := range []string{"a", "b", "c"} {
		if err := b.SetRetained(ctx, &Message{Tenant: "big", Topic: topic, Payload: []byte("1")}); err != nil {
			t.Errorf("SetRetained for tenant with default limit: %v", err)
		}
	}
}

func TestReplay(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	ctx := ctxT(t)
	if last, err := b.LastSeq(ctx, "acme"); err != nil || last != 0 {
		t.Fatalf("LastSeq before any = %d, %v, want 0", last, err)
	}
	if last, err := b.Replay(ctx, "acme", []string{"#"}, 0, func(*Message) error { return nil }); err != nil || last != 0 {
		t.Fatalf("Replay before any = %d, %v, want 0", last, err)
	}
	topics := []string{"a/1", "b/1", "a/2", "$SYS/1", "c", "a/3", "b/2", "a"}
	for i, topic := range topics {
		seq, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: topic, QoS: 1, Payload: []byte(topic)})
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("Publish(%q) = %d, %v, want %d", topic, seq, err, i+1)
		}
	}
	// QoS 0 messages are not durable.
	if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: "a/0", QoS: 0}); err != nil {
		t.Fatal(err)
	}
	if last, err := b.LastSeq(ctx, "acme"); err != nil || last != 8 {
		t.Fatalf("LastSeq = %d, %v, want 8", last, err)
	}

	tests := []struct {
		name     string
		filters  []string
		after    uint64
		wantSeqs []uint64
	}{
		{"all", []string{"#"}, 0, []uint64{1, 2, 3, 5, 6, 7, 8}},
		{"one filter", []string{"a/#"}, 0, []uint64{1, 3, 6, 8}},
		{"from a position", []string{"a/#"}, 3, []uint64{6, 8}},
		{"merged filters in order", []string{"b/+", "a/+"}, 0, []uint64{1, 2, 3, 6, 7}},
		{"overlapping filters once", []string{"a/#", "a/+", "#"}, 5, []uint64{6, 7, 8}},
		{"dollar", []string{"$SYS/#"}, 0, []uint64{4}},
		{"nothing after the end", []string{"#"}, 8, nil},
		{"no match", []string{"zzz"}, 0, nil},
	}
	for _, tt := range tests {
		var got []uint64
		res, err := b.ReplayFrom(ctx, "acme", tt.filters, tt.after, func(m *Message) error {
			if string(m.Payload) != m.Topic || m.Tenant != "acme" {
				t.Errorf("%s: replayed message %+v is wrong", tt.name, m)
			}
			got = append(got, m.Seq)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: ReplayFrom: %v", tt.name, err)
		}
		if !slices.Equal(got, tt.wantSeqs) || res.Last != 8 || res.Missed != 0 || res.Delivered != len(got) {
			t.Errorf("%s: ReplayFrom(%q, %d) = %v, %+v, want %v, Last 8", tt.name, tt.filters, tt.after, got, res, tt.wantSeqs)
		}
	}

	// Replays leave no consumer behind.
	st, err := b.js.Stream(ctx, queueStream("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Consumers; n != 0 {
		t.Errorf("%d consumers left after replays, want 0", n)
	}

	// A failing callback stops the replay at the last accepted message.
	stop := errors.New("stop")
	last, err := b.Replay(ctx, "acme", []string{"#"}, 0, func(m *Message) error {
		if m.Seq == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || last != 2 {
		t.Errorf("Replay with failing callback = %d, %v, want 2, stop", last, err)
	}

	// Fetch re-reads one message by sequence.
	m, err := b.Fetch(ctx, "acme", 3)
	if err != nil || m.Topic != "a/2" || m.Seq != 3 || m.QoS != 1 {
		t.Errorf("Fetch(3) = %+v, %v, want a/2", m, err)
	}
	for _, seq := range []uint64{0, 9, 1000} {
		if _, err := b.Fetch(ctx, "acme", seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Fetch(%d) error = %v, want ErrNotFound", seq, err)
		}
	}
	if _, err := b.Fetch(ctx, "nobody", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fetch of a tenant without stream: %v, want ErrNotFound", err)
	}
}

// TestReplayPartialOverlap replays filters whose subjects overlap partly
// (a/+/c and a/b/+ both match a/b/c): each message comes once.
func TestReplayPartialOverlap(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	ctx := ctxT(t)
	for _, topic := range []string{"a/b/c", "a/x/c", "a/b/x", "a/x/x", "a/b/c"} {
		if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: topic, QoS: 1, Payload: []byte(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint64{1, 2, 3, 5}
	var got []uint64
	res, err := b.ReplayFrom(ctx, "acme", []string{"a/+/c", "a/b/+"}, 0, func(m *Message) error { got = append(got, m.Seq); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || res.Last != 5 {
		t.Errorf("ReplayFrom(a/+/c, a/b/+) = %v, %+v, want %v, Last 5", got, res, want)
	}
}

// TestReplayLong replays enough messages for several growing batches and
// checks nothing is left on the server.
func TestReplayLong(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	const n = 5000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := b.Publish(context.Background(), &Message{Tenant: "acme", Topic: fmt.Sprintf("d/%d", i%10), QoS: 1}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ctx := ctxT(t)
	var got []*Message
	res, err := b.ReplayFrom(ctx, "acme", []string{"d/3", "d/7"}, 0, func(m *Message) error { got = append(got, m); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := range n {
		if i%10 == 3 || i%10 == 7 {
			want++
		}
	}
	if len(got) != want || res.Last != n || res.Delivered != want {
		t.Errorf("ReplayFrom over %d messages delivered %d, %+v; want %d, Last %d", n, len(got), res, want, n)
	}
	for i, m := range got {
		if m.Topic != "d/3" && m.Topic != "d/7" || i > 0 && m.Seq <= got[i-1].Seq {
			t.Fatalf("replayed message %d (%s, seq %d) is out of filter or order", i, m.Topic, m.Seq)
		}
	}
	st, err := b.js.Stream(ctx, queueStream("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().State.Consumers; c != 0 {
		t.Errorf("%d consumers after a long replay, want 0", c)
	}
}

func TestCover(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"p.a", "p.a.>", "p.>"}, []string{"p.>"}},
		{[]string{"p.a.*", "p.a.b"}, []string{"p.a.*"}},
		{[]string{"p.a.*.c", "p.a.b.*"}, []string{"p.a.*.c", "p.a.b.*"}},
		{[]string{"p.x", "p.x"}, []string{"p.x"}},
		{[]string{"p.*", "p.a.>"}, []string{"p.*", "p.a.>"}},
		{[]string{"p.*.>", "p.a.b"}, []string{"p.*.>"}},
		{[]string{"p.>", "q.a"}, []string{"p.>", "q.a"}},
	}
	for _, tt := range tests {
		if got := cover(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("cover(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReplayGap(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{MaxQueuedMessages: 5})
	ctx := ctxT(t)
	for i := range 12 {
		if _, err := b.Publish(ctx, &Message{Tenant: "acme", Topic: fmt.Sprintf("t/%d", i), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// Messages 1..7 were discarded by the limit of 5.
	tests := []struct {
		after      uint64
		wantMissed uint64
		wantFirst  uint64
	}{
		{0, 7, 8},
		{3, 4, 8},
		{7, 0, 8},
		{9, 0, 10},
	}
	for _, tt := range tests {
		var got []uint64
		res, err := b.ReplayFrom(ctx, "acme", []string{"t/+"}, tt.after, func(m *Message) error { got = append(got, m.Seq); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.Missed != tt.wantMissed || len(got) == 0 || got[0] != tt.wantFirst || res.Last != 12 {
			t.Errorf("ReplayFrom(after %d) = %v, %+v; want Missed %d, first %d, Last 12", tt.after, got, res, tt.wantMissed, tt.wantFirst)
		}
	}
	if _, err := b.Fetch(ctx, "acme", 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fetch of a discarded message: %v, want ErrNotFound", err)
	}
}

func TestKick(t *testing.T) {
	srv := startServer(t)
	owner, taker := newBridge(t, srv, Config{GatewayID: "owner"}), newBridge(t, srv, Config{GatewayID: "taker"})
	got := make(chan Kick, 1)
	if _, err := owner.OnKick(func(k Kick) { got <- k }); err != nil {
		t.Fatal(err)
	}
	want := Kick{Tenant: "acme", ClientID: "dev/1 é", Epoch: 1 << 40, Reason: 0x8E}
	if err := taker.Kick(ctxT(t), "owner", want); err != nil {
		t.Fatalf("Kick: %v", err)
	}
	// Kick returns after the handler ran.
	select {
	case k := <-got:
		if k != want {
			t.Errorf("OnKick got %+v, want %+v", k, want)
		}
	default:
		t.Error("Kick returned before the owner's handler ran")
	}
	if err := taker.Kick(ctxT(t), "gone", want); !errors.Is(err, ErrNotFound) {
		t.Errorf("Kick to a missing gateway: %v, want ErrNotFound", err)
	}
	if err := taker.Kick(ctxT(t), "bad.id", want); err == nil {
		t.Error("Kick to an invalid gateway id succeeded")
	}
}

func TestClose(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var c collector
	if _, err := b.Subscribe("acme", "#", "", c.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "x", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe("acme", "#", "", c.handle); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if !b.nc.IsConnected() {
		t.Error("Close closed the caller's connection")
	}
}

func TestUnsubscribe(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var c collector
	s, err := b.Subscribe("acme", "#", "", c.handle)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Unsubscribe(); err != nil {
			t.Errorf("Unsubscribe: %v", err)
		}
	}
	if _, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "x"}); err != nil {
		t.Fatal(err)
	}
	b.nc.Flush()
	if c.len() != 0 {
		t.Errorf("received %d messages after Unsubscribe", c.len())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{GatewayID: "gw-1"}, true},
		{"missing gateway", Config{}, false},
		{"dotted gateway", Config{GatewayID: "a.b"}, false},
		{"replicas", Config{GatewayID: "g", Replicas: 7}, false},
		{"negative timeout", Config{GatewayID: "g", PublishTimeout: -1}, false},
		{"pending limit", Config{GatewayID: "g", SubscriberPendingLimit: 2}, true},
		{"pending limit of one", Config{GatewayID: "g", SubscriberPendingLimit: 1}, false},
		{"negative pending limit", Config{GatewayID: "g", SubscriberPendingLimit: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	l := Config{MaxQueuedMessages: -1, MaxQueueAge: -1}.limits("x")
	if l.MaxQueuedMessages != -1 || l.MaxQueueAge != 0 || l.MaxQueuedBytes != DefaultMaxQueuedBytes || l.MaxRetained != DefaultMaxRetained {
		t.Errorf("limits = %+v, want unlimited messages and age, default bytes and retained", l)
	}
}

func TestConcurrentPublish(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var wg sync.WaitGroup
	seqs := make(chan uint64, 400)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				seq, err := b.Publish(context.Background(), &Message{Tenant: "acme", Topic: "c", QoS: 1})
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Errorf("sequence %d returned twice", s)
		}
		seen[s] = true
	}
	if len(seen) != 400 {
		t.Errorf("got %d distinct sequences, want 400", len(seen))
	}
}

// TestOrdering checks that messages one publisher sends to one topic reach
// a subscriber on another gateway in order, QoS 0 and durable alike
// [MQTT-4.6.0-5].
func TestOrdering(t *testing.T) {
	srv := startServer(t)
	pub, sub := newBridge(t, srv, Config{GatewayID: "pub"}), newBridge(t, srv, Config{GatewayID: "sub"})
	const n = 500
	for _, qos := range []byte{0, 1} {
		var c collector
		s, err := sub.Subscribe("acme", "o/+", "", c.handle)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := pub.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "o/1", QoS: qos, Payload: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		checkFor(t, 10*time.Second, func() error {
			if c.len() < n {
				return fmt.Errorf("QoS %d: received %d of %d", qos, c.len(), n)
			}
			return nil
		})
		settle(t, s, pub.nc)
		var prev uint64
		for i, m := range c.all() {
			if string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("QoS %d: message %d has payload %s: out of order", qos, i, m.Payload)
			}
			if qos > 0 && m.Seq <= prev {
				t.Fatalf("QoS %d: message %d has Seq %d after %d", qos, i, m.Seq, prev)
			}
			prev = m.Seq
		}
		if c.len() != n {
			t.Errorf("QoS %d: received %d messages, want %d", qos, c.len(), n)
		}
	}
}
