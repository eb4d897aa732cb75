package conn

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// TestStallMarks: a subscriber's queue hands its publishers a stall
// channel only past three quarters of MaxQueuedBytes, the writer taking
// the queue releases them, and a queue not taken for stallGiveUp stalls
// no one any more.
func TestStallMarks(t *testing.T) {
	c := benchConn(nil)
	c.env.Limits.MaxQueuedBytes = 4000
	var m bridge.Message
	c.queued = 3000
	c.stallLocked(&m)
	if m.Stall != nil {
		t.Fatal("a queue at the mark stalled its publisher")
	}
	c.queued = 3001
	c.stallLocked(&m)
	if m.Stall == nil {
		t.Fatal("a queue past the mark did not stall its publisher")
	}
	first := m.Stall
	var m2 bridge.Message
	c.stallLocked(&m2)
	if m2.Stall != first {
		t.Error("a second publisher got another stall channel")
	}
	c.releaseStallLocked()
	select {
	case <-first:
	default:
		t.Fatal("the writer taking the queue did not release the publishers")
	}
	if c.dl().stall != nil {
		t.Fatal("the released channel is kept")
	}

	var m3 bridge.Message
	c.stallLocked(&m3)
	c.dl().stallSince -= stallGiveUp + time.Millisecond // the writer has been stuck that long
	var m4 bridge.Message
	c.stallLocked(&m4)
	if m4.Stall != nil {
		t.Error("a queue stuck for longer than stallGiveUp still stalls its publishers")
	}
}

// TestStallBudget: a publisher returns at once from a released stall,
// waits at most stallWait for one that is not, and no more once it has
// waited stallBudget since its last read from the socket.
func TestStallBudget(t *testing.T) {
	c := benchConn(nil)
	c.env.Bridge = nil // flushPublishes has nothing pending: no bridge call
	released := make(chan struct{})
	close(released)
	c.stallFor(released)
	if c.stalled >= stallWait {
		t.Errorf("a released stall took %v of the budget", c.stalled)
	}
	stuck := make(chan struct{})
	for c.stalled < stallBudget {
		before := c.stalled
		c.stallFor(stuck)
		if c.stalled == before {
			t.Fatalf("stallFor did not count its wait (%v spent)", c.stalled)
		}
	}
	spent := c.stalled
	c.stallFor(stuck)
	if c.stalled != spent {
		t.Errorf("stallFor waited past the budget: %v, then %v", spent, c.stalled)
	}
}

// TestStuckSubscriberDoesNotStopPublisher: a QoS 0 subscriber that never
// reads fills its queue; its publisher is slowed at most briefly, goes on
// (its PINGREQ after thousands of publishes is answered), and the
// subscriber's messages are dropped with a warning, not queued without
// bound.
func TestStuckSubscriberDoesNotStopPublisher(t *testing.T) {
	g := startPipeGateway(t, func(e *Env) {
		e.Limits.MaxQueuedBytes = 64 << 10
		if err := e.Bridge.DeliverLocally(e.Router.DeliverLocal); err != nil {
			t.Fatal(err)
		}
	})
	stuck := dialPipe(t, g, mqtt.V5, "stuck")
	stuck.subscribe("s/#", 0)
	pub := dialPipe(t, g, mqtt.V5, "flood")
	payload := bytes.Repeat([]byte{'x'}, 1024)
	const n = 20000 // 20 MiB: more than the socket buffers take
	for range n {
		pub.send(&mqtt.Publish{Topic: "s/1", Payload: payload})
	}
	pub.send(&mqtt.Pingreq{})
	for {
		p, err := pub.read()
		if err != nil {
			t.Fatalf("publisher: %v before its PINGRESP", err)
		}
		if _, ok := p.(*mqtt.Pingresp); ok {
			break
		}
	}
	g.logs.mu.Lock()
	logged := g.logs.buf.String()
	g.logs.mu.Unlock()
	if !strings.Contains(logged, "client stuck does not keep up: dropped") {
		t.Error("the stuck subscriber's dropped messages were not logged")
	}
}

// TestLostStopsPosition: once told that messages were lost upstream, a
// persistent session no longer records a stream position past them, so
// its next resume replays them from the stream.
func TestLostStopsPosition(t *testing.T) {
	c := benchConn(nil)
	c.persistent = true
	c.dl().maxSeq = 10
	c.advanceLocked()
	if c.dl().lastSeq != 10 || len(c.ops) != 1 {
		t.Fatalf("before Lost: lastSeq %d with %d store writes, want 10 and 1", c.dl().lastSeq, len(c.ops))
	}
	c.Lost()
	c.dl().maxSeq = 20
	c.advanceLocked()
	if c.dl().lastSeq != 10 || len(c.ops) != 1 {
		t.Errorf("after Lost: lastSeq %d with %d store writes, want it kept at 10", c.dl().lastSeq, len(c.ops))
	}
}

// TestOutputChunks: a queue that outgrows its first buffer becomes a list
// of pooled chunks, never a reallocated buffer, and the writer sends the
// bytes in the order they were queued.
func TestOutputChunks(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := benchConn(nil)
	c.nc, c.writing = server, false
	c.env.Limits.WriteTimeout = 10 * time.Second
	var want []byte
	c.mu.Lock()
	for i := range 300 {
		p := bytes.Repeat([]byte{byte(i)}, 1000+i)
		want = append(want, p...)
		c.enqueueLocked(p) // the first starts the writer, which waits for c.mu
	}
	if c.queued != len(want) {
		t.Errorf("queued = %d, want %d", c.queued, len(want))
	}
	if len(c.full) < 4 {
		t.Errorf("%d chunks for %d bytes, want the queue split in chunks", len(c.full), len(want))
	}
	for i, f := range c.full {
		if cap(f) != outChunk && !(i == 0 && cap(f) == smallOut) {
			t.Errorf("chunk %d has capacity %d: a buffer was grown instead of chained", i, cap(f))
		}
	}
	c.mu.Unlock()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the writer sent the queued bytes out of order")
	}
	c.wg.Wait()
}
