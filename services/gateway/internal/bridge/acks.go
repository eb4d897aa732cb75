package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acker publishes durable messages to JetStream without waiting and matches
// the stream's acknowledgements to them. It replaces
// jetstream.PublishMsgAsync on the QoS 1/2 hot path: that client allocates a
// future with two channels, option closures, a reply inbox and a decoded
// JSON acknowledgement per message, about a sixth of the CPU of a durable
// publish. The acker keeps one wildcard reply subscription, numbers the
// publishes in its reply subjects and reads the sequence out of the
// acknowledgement without reflection (encoding/json only for errors).
//
// At most cap(slots) publishes are unacknowledged at once; Publish waits
// up to the timeout for a free slot. A publish without acknowledgement
// after the timeout fails with jetstream.ErrAsyncPublishTimeout.
type acker struct {
	nc      *nats.Conn
	prefix  string        // reply subjects are prefix + base-36 number
	timeout time.Duration // for an acknowledgement
	stall   time.Duration // for a free slot; the timeout unless a test sets it
	slots   chan struct{}

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*ackWait
	closed  bool
	drained chan struct{} // closed when closed is set and pending is empty

	sub  *nats.Subscription
	stop chan struct{}
	done chan struct{} // the timeout sweeper ended
}

// ackWait is one publish waiting for its acknowledgement.
type ackWait struct {
	done chan struct{} // closed once seq or err is set
	seq  uint64
	err  error
	sent time.Time
}

// statusHdr and noResponders mark the NATS status reply to a publish that
// no stream captured.
const (
	statusHdr    = "Status"
	noResponders = "503"
)

func newAcker(nc *nats.Conn, gatewayID string, maxPending int, timeout time.Duration) (*acker, error) {
	a := &acker{
		nc:      nc,
		prefix:  "_FLOCK_ACK." + gatewayID + "." + nats.NewInbox()[len(nats.InboxPrefix):] + ".",
		timeout: timeout,
		stall:   timeout,
		slots:   make(chan struct{}, maxPending),
		pending: make(map[uint64]*ackWait),
		drained: make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	sub, err := nc.Subscribe(a.prefix+"*", a.handle)
	if err != nil {
		return nil, fmt.Errorf("bridge: subscribe to durable publish acknowledgements: %w", classify(err))
	}
	// Acknowledgements must never be dropped for a slow handler.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("bridge: subscribe to durable publish acknowledgements: %w", err)
	}
	a.sub = sub
	go a.sweep()
	return a, nil
}

// publish sends one message with a reply subject for its acknowledgement
// and returns what to wait on.
func (a *acker) publish(subj string, data []byte, hdr nats.Header) (*ackWait, error) {
	select {
	case a.slots <- struct{}{}:
	default:
		t := time.NewTimer(a.stall)
		select {
		case a.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, jetstream.ErrTooManyStalledMsgs
		}
	}
	w := &ackWait{done: make(chan struct{}), sent: time.Now()}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.slots
		return nil, ErrClosed
	}
	a.next++
	id := a.next
	a.pending[id] = w
	a.mu.Unlock()
	var buf [64]byte
	reply := string(strconv.AppendUint(append(buf[:0], a.prefix...), id, 36))
	var err error
	if hdr == nil {
		err = a.nc.PublishRequest(subj, reply, data)
	} else {
		err = a.nc.PublishMsg(&nats.Msg{Subject: subj, Reply: reply, Data: data, Header: hdr})
	}
	if err != nil {
		if a.take(id) != nil {
			<-a.slots
		}
		return nil, err
	}
	return w, nil
}

// take removes and returns the waiter of id, nil when it is gone (already
// answered or timed out).
func (a *acker) take(id uint64) *ackWait {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.pending[id]
	if w == nil {
		return nil
	}
	delete(a.pending, id)
	if a.closed && len(a.pending) == 0 {
		close(a.drained)
	}
	return w
}

// handle receives one acknowledgement.
func (a *acker) handle(msg *nats.Msg) {
	id, err := strconv.ParseUint(msg.Subject[min(len(a.prefix), len(msg.Subject)):], 36, 64)
	if err != nil {
		return
	}
	w := a.take(id)
	if w == nil {
		return // timed out before
	}
	<-a.slots
	w.seq, w.err = parseAck(msg)
	close(w.done)
}

// parseAck reads a JetStream publish acknowledgement: the stream sequence,
// or the error the stream answered with.
func parseAck(msg *nats.Msg) (uint64, error) {
	if len(msg.Data) == 0 {
		if msg.Header.Get(statusHdr) == noResponders {
			return 0, jetstream.ErrNoStreamResponse
		}
		return 0, jetstream.ErrInvalidJSAck
	}
	// {"stream":"FLOCK_ACME","seq":42} and variants with "duplicate" or
	// "domain"; anything else (errors) goes through encoding/json.
	if !bytes.Contains(msg.Data, []byte(`"error"`)) {
		if i := bytes.Index(msg.Data, []byte(`"seq":`)); i >= 0 {
			var seq uint64
			digits := 0
			for _, c := range msg.Data[i+6:] {
				if c < '0' || c > '9' {
					break
				}
				seq = seq*10 + uint64(c-'0')
				digits++
			}
			if digits > 0 && digits < 20 && seq > 0 {
				return seq, nil
			}
		}
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Seq   uint64              `json:"seq"`
	}
	if err := json.Unmarshal(msg.Data, &ack); err != nil {
		return 0, fmt.Errorf("%w: %w", jetstream.ErrInvalidJSAck, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Seq == 0 {
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Seq, nil
}

// wait returns the sequence of the acknowledged message, or why it was not
// stored, or the error of done.
func (w *ackWait) wait(done <-chan struct{}, ctxErr func() error) (uint64, error) {
	select {
	case <-w.done:
		return w.seq, w.err
	case <-done:
		return 0, ctxErr()
	}
}

// sweep fails the publishes left unacknowledged for longer than the
// timeout (a lost connection, a stream leader change).
func (a *acker) sweep() {
	defer close(a.done)
	tick := time.NewTicker(max(a.timeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-tick.C:
			var late []*ackWait
			a.mu.Lock()
			for id, w := range a.pending {
				if now.Sub(w.sent) > a.timeout {
					delete(a.pending, id)
					late = append(late, w)
				}
			}
			if a.closed && len(a.pending) == 0 && len(late) > 0 {
				close(a.drained)
			}
			a.mu.Unlock()
			for _, w := range late {
				<-a.slots
				w.err = jetstream.ErrAsyncPublishTimeout
				close(w.done)
			}
		}
	}
}

// close waits (at most until timeout fires) for the unacknowledged
// publishes, then stops; the publishes still unacknowledged then fail with
// ErrClosed, and close reports how many there were.
func (a *acker) close(timeout <-chan time.Time) error {
	a.mu.Lock()
	a.closed = true
	n := len(a.pending)
	if n == 0 {
		close(a.drained)
	}
	a.mu.Unlock()
	var err error
	select {
	case <-a.drained:
	case <-timeout:
		a.mu.Lock()
		n = len(a.pending)
		a.mu.Unlock()
		err = fmt.Errorf("bridge: close: %d durable publishes still unacknowledged", n)
	}
	close(a.stop)
	<-a.done
	// Whoever still waits learns that no acknowledgement will come.
	a.mu.Lock()
	left := a.pending
	a.pending = map[uint64]*ackWait{}
	a.mu.Unlock()
	for _, w := range left {
		<-a.slots
		w.err = ErrClosed
		close(w.done)
	}
	if uerr := a.sub.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) && !errors.Is(uerr, nats.ErrBadSubscription) {
		err = errors.Join(err, fmt.Errorf("bridge: close: end the acknowledgement subscription: %w", uerr))
	}
	return err
}
