package bridge

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/flockmq/flockmq/pkg/subject"
)

// bufPool recycles envelope buffers of QoS 0 publishes (core NATS copies
// the data before Publish returns).
// Buffers that grew beyond maxPooledBuf are left to the garbage collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBuf = 64 << 10

// Batch bounds: a batch is sent once it holds maxBatchMessages messages or
// maxBatchBytes, and a message of more than maxBatchedMessage bytes goes
// alone.
const (
	maxBatchMessages  = 256
	maxBatchBytes     = 60 << 10
	maxBatchedMessage = 8 << 10
)

// subjectOf returns the live subject of tenant's topic, from p's cache when
// it holds the same tenant and topic, and remembers it otherwise.
func (p *Publisher) subjectOf(tenant, topic string) string {
	if p.topic != topic || p.tenant != tenant || p.subject == "" {
		bp := bufPool.Get().(*[]byte)
		buf := appendSubject((*bp)[:0], liveRoot, tenant, ".m", topic)
		// topic may alias a read buffer (a borrowed message): keep copies.
		p.tenant, p.topic, p.subject = tenant, strings.Clone(topic), string(buf)
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	return p.subject
}

// appendSubject appends root + tenant + class + the mapped topic, e.g.
// "flock." "acme" ".m" → flock.acme.m.t.a.b.
func appendSubject(dst []byte, root, tenant, class, topic string) []byte {
	dst = append(dst, root...)
	dst = append(dst, tenant...)
	dst = append(dst, class...)
	dst = append(dst, '.')
	return subject.AppendName(dst, "", topic)
}

func (b *Bridge) checkPublish(m *Message) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := checkTenant(m.Tenant); err != nil {
		return err
	}
	if m.QoS > 2 {
		return fmt.Errorf("bridge: publish to %q: invalid QoS %d", m.Topic, m.QoS)
	}
	return nil
}

// Publish sends m to every subscriber of its topic in its tenant. A QoS 0
// message is a core NATS publish and seq is 0. A QoS 1 or 2 message is
// stored in the tenant's durable stream first: Publish returns its stream
// sequence only once JetStream acknowledged it, so the caller may then send
// PUBACK/PUBREC. Many concurrent callers are pipelined over one connection.
// When ctx carries a span, its trace context travels with the message (see
// Message.Trace). A QoS 0 message with a Publisher reaches this gateway's
// subscribers at once and NATS in a batch (see Publisher): errors sending
// earlier messages of the batch may be returned by a later Publish or
// Flush.
// The retain flag is carried for retain-as-published; storing the retained
// message is SetRetained's job. Errors wrap ErrQueueFull when a limit
// refused the message, ErrTooLarge when it exceeds NATS's max_payload, and
// ErrUnavailable on timeouts or a lost connection.
func (b *Bridge) Publish(ctx context.Context, m *Message) (seq uint64, err error) {
	if err := b.checkPublish(m); err != nil {
		return 0, err
	}
	if m.QoS == 0 {
		// One look for a span in ctx serves both the local delivery and
		// the NATS header.
		sc := trace.SpanContextFromContext(ctx)
		if b.local != nil {
			// This gateway's subscribers get the message now; NATS, which
			// does not echo it back, takes it to the others.
			if sc.IsValid() {
				m.Trace = sc
			}
			b.local(m)
		}
		if p := m.Publisher; p != nil {
			var err error
			if !sc.IsValid() {
				err = b.batch(p, m)
			} else {
				// A traced message carries its own headers: it goes alone,
				// after the messages batched before it.
				err = b.flush(p)
			}
			if err != nil {
				return 0, fmt.Errorf("bridge: publish to %q of tenant %s: %w", m.Topic, m.Tenant, err)
			}
			if !sc.IsValid() {
				return 0, nil
			}
		}
		nc := b.liveConn()
		bp := bufPool.Get().(*[]byte)
		buf := appendSubject((*bp)[:0], liveRoot, m.Tenant, ".m", m.Topic)
		n := len(buf)
		subj := string(buf[:n])
		buf = EncodeMessage(buf, m)
		var err error
		if sc.IsValid() {
			h := traceHeader(ctx)
			err = nc.PublishMsg(&nats.Msg{Subject: subj, Data: buf[n:], Header: h})
		} else {
			err = nc.Publish(subj, buf[n:])
		}
		if cap(buf) <= maxPooledBuf {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		if err != nil {
			return 0, fmt.Errorf("bridge: publish to %q of tenant %s: %w", m.Topic, m.Tenant, classify(err))
		}
		return 0, nil
	}
	f, err := b.PublishAsync(ctx, m)
	if err != nil {
		return 0, err
	}
	return f.Wait(ctx)
}

// batch adds the QoS 0 message m to p's batch, sending the batch first
// when m's subject differs or m does not fit; m itself may go at once.
// Errors are those of sending the earlier messages, or m.
func (b *Bridge) batch(p *Publisher, m *Message) error {
	subj := p.subjectOf(m.Tenant, m.Topic)
	size := EncodedLen(m)
	var err error
	if p.n > 0 && (p.pending != subj || p.n == maxBatchMessages || len(*p.batch)+uvarintLen(uint64(size))+size > maxBatchBytes) {
		err = b.flush(p)
	}
	if size > maxBatchedMessage {
		bp := bufPool.Get().(*[]byte)
		buf := EncodeMessage((*bp)[:0], m)
		if perr := b.liveConn().Publish(subj, buf); perr != nil && err == nil {
			err = classify(perr)
		}
		if cap(buf) <= maxPooledBuf {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		return err
	}
	if p.n == 0 {
		p.batch = bufPool.Get().(*[]byte)
		*p.batch = append((*p.batch)[:0], envelopeBatch)
		p.pending = subj
	}
	buf := binary.AppendUvarint(*p.batch, uint64(size))
	if p.n == 0 {
		p.first = len(buf)
	}
	*p.batch = EncodeMessage(buf, m)
	p.n++
	return err
}

// Flush sends the QoS 0 messages p has batched to NATS (see Publisher).
// It returns at once when nothing is pending.
func (b *Bridge) Flush(p *Publisher) error {
	if p.n == 0 {
		return nil
	}
	n, subj := p.n, p.pending
	if err := b.flush(p); err != nil {
		return fmt.Errorf("bridge: publish %d messages to subject %s: %w", n, subj, err)
	}
	return nil
}

// flush sends p's batch: a batch envelope, or the one message's own
// envelope when it holds one.
func (b *Bridge) flush(p *Publisher) error {
	if p.n == 0 {
		return nil
	}
	data := *p.batch
	if p.n == 1 {
		data = data[p.first:]
	}
	err := b.liveConn().Publish(p.pending, data) // copies data before returning
	if cap(*p.batch) <= maxPooledBuf {
		*p.batch = (*p.batch)[:0]
		bufPool.Put(p.batch)
	}
	p.batch, p.n, p.pending = nil, 0, ""
	if err != nil {
		return classify(err)
	}
	return nil
}

// PubFuture is a durable publish in flight, returned by PublishAsync.
type PubFuture struct {
	b      *Bridge
	tenant string
	topic  string
	subj   string
	data   []byte
	hdr    nats.Header
	w      *ackWait
}

// PublishAsync stores the QoS 1 or 2 message m in its tenant's durable
// stream without waiting for JetStream's acknowledgement; Wait on the
// returned future reports it. Messages published by one Bridge reach the
// stream in the order of the PublishAsync calls, so a caller that calls it
// in arrival order and waits the futures in that same order acknowledges
// in order, each message only once it is durable. PublishAsync blocks
// (at most behindWait) while a subscription of the tenant, on this gateway
// or another, is far behind its messages, (at most PublishTimeout) while
// MaxPendingPublishes are unacknowledged,
// and on the first use of a tenant while its stream is created. Errors
// are those of Publish; QoS 0 messages are refused.
func (b *Bridge) PublishAsync(ctx context.Context, m *Message) (*PubFuture, error) {
	if err := b.checkPublish(m); err != nil {
		return nil, err
	}
	if m.QoS == 0 {
		return nil, fmt.Errorf("bridge: asynchronous publish to %q: QoS 0 messages are not stored", m.Topic)
	}
	if err := b.ensureQueue(ctx, m.Tenant); err != nil {
		return nil, err
	}
	if ts := b.tenant(m.Tenant); ts.holding() {
		waitCaughtUp(ctx, ts)
	}
	f := &PubFuture{
		b:      b,
		tenant: m.Tenant,
		topic:  m.Topic,
		subj:   string(appendSubject(make([]byte, 0, 64), durableRoot, m.Tenant, "", m.Topic)),
		data:   EncodeMessage(make([]byte, 0, EncodedLen(m)), m),
		hdr:    traceHeader(ctx),
	}
	if m.MsgID != "" {
		if f.hdr == nil {
			f.hdr = nats.Header{}
		}
		f.hdr.Set(jetstream.MsgIDHeader, m.MsgID)
	}
	w, err := b.acks.publish(f.subj, f.data, f.hdr)
	if err != nil {
		return nil, fmt.Errorf("bridge: durable publish to %q of tenant %s: %w", m.Topic, m.Tenant, classify(err))
	}
	f.w = w
	return f, nil
}

// Wait returns the stream sequence of the message once JetStream
// acknowledged it, or why it was not stored. It returns within
// PublishTimeout (twice that when the tenant's stream had vanished and is
// created again) or when ctx ends. Call it from one goroutine.
func (f *PubFuture) Wait(ctx context.Context) (uint64, error) {
	seq, err := f.w.wait(ctx.Done(), ctx.Err)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// The stream vanished (deleted by an operator): create it again.
		b := f.b
		ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
		defer cancel()
		b.forget(f.tenant, false)
		if err = b.ensureQueue(ctx, f.tenant); err != nil {
			return 0, err
		}
		seq, err = b.publishDurable(ctx, f.subj, f.data, f.hdr)
	}
	if err != nil {
		return 0, fmt.Errorf("bridge: durable publish to %q of tenant %s: %w", f.topic, f.tenant, classify(err))
	}
	return seq, nil
}

// publishDurable publishes asynchronously, so concurrent callers share
// round trips, and waits for this message's own acknowledgement.
func (b *Bridge) publishDurable(ctx context.Context, subj string, data []byte, hdr nats.Header) (uint64, error) {
	w, err := b.acks.publish(subj, data, hdr)
	if err != nil {
		return 0, err
	}
	return w.wait(ctx.Done(), ctx.Err)
}

// SetRetained stores m as the retained message of its topic, replacing the
// previous one, or deletes the topic's retained message when m.Payload is
// empty [MQTT-3.3.1-10] [MQTT-3.3.1-11]. A message with an expiry interval
// is dropped by the server once it expires; one that already expired only
// deletes the previous message. A new topic beyond the tenant's retained
// limit is refused with an error wrapping ErrRetainedFull (and so
// ErrQueueFull).
func (b *Bridge) SetRetained(ctx context.Context, m *Message) error {
	if err := b.checkPublish(m); err != nil {
		return err
	}
	if err := b.ensureRetained(ctx, m.Tenant); err != nil {
		return err
	}
	subj := string(appendSubject(make([]byte, 0, 64), retainedRoot, m.Tenant, "", m.Topic))
	var ttl time.Duration
	if m.ExpirySet {
		left := time.Duration(m.MessageExpiry) * time.Second
		if !m.PublishedAt.IsZero() {
			left -= time.Since(m.PublishedAt)
		}
		if left <= 0 {
			return b.purgeRetained(ctx, m.Tenant, m.Topic, subj)
		}
		ttl = left.Truncate(time.Second) + time.Second // whole seconds, rounded up
	}
	if len(m.Payload) == 0 {
		return b.purgeRetained(ctx, m.Tenant, m.Topic, subj)
	}
	var opts []jetstream.PublishOpt
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: subj, Data: EncodeMessage(make([]byte, 0, EncodedLen(m)), m), Header: traceHeader(ctx)}
	_, err := b.js.PublishMsg(ctx, msg, opts...)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		b.forget(m.Tenant, true)
		if err = b.ensureRetained(ctx, m.Tenant); err != nil {
			return err
		}
		_, err = b.js.PublishMsg(ctx, msg, opts...)
	}
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrQueueFull) {
			err = fmt.Errorf("%w (%w)", ErrRetainedFull, err)
		}
		return fmt.Errorf("bridge: store retained message of %q of tenant %s: %w", m.Topic, m.Tenant, err)
	}
	return nil
}

// purgeRequest and purgeResponse are the JetStream stream purge API.
type purgeRequest struct {
	Filter string `json:"filter"`
}

type purgeResponse struct {
	Success bool                `json:"success"`
	Error   *jetstream.APIError `json:"error,omitempty"`
}

func (b *Bridge) purgeRetained(ctx context.Context, tenant, topic, subj string) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	req, _ := json.Marshal(purgeRequest{Filter: subj})
	resp, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+retainedStream(tenant), req)
	if err == nil {
		var pr purgeResponse
		if err = json.Unmarshal(resp.Data, &pr); err == nil && pr.Error != nil {
			err = pr.Error
		}
	}
	if err != nil {
		return fmt.Errorf("bridge: delete retained message of %q of tenant %s: %w", topic, tenant, classify(err))
	}
	return nil
}
