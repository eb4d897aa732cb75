package conn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

var _ router.Client = (*Conn)(nil)

// handlePublish handles a PUBLISH from the client. When it ends the
// connection, the publishes accepted before are answered first, so their
// acknowledgements precede the DISCONNECT.
func (c *Conn) handlePublish(p *mqtt.Publish) (CloseReason, error) {
	reason, err := c.publish(p)
	if reason != CloseNone {
		c.waitPipeline(0)
	}
	return reason, err
}

// publish checks a PUBLISH and hands its message to the bridge.
func (c *Conn) publish(p *mqtt.Publish) (CloseReason, error) {
	lim := &c.env.Limits
	if p.QoS > 0 {
		// The message outlives the read buffer p aliases: it waits in the
		// pipeline for JetStream's acknowledgement.
		p = p.Clone()
	}
	name := p.Topic
	if c.version == mqtt.V5 && p.Properties.TopicAlias != 0 {
		a := p.Properties.TopicAlias
		if a > lim.TopicAliasMaximum {
			// [MQTT-3.3.2-9] [MQTT-3.3.2-10] an alias above the maximum.
			return CloseTopicAliasInvalid, fmt.Errorf("topic alias %d is above the maximum of %d", a, lim.TopicAliasMaximum)
		}
		if c.dl().aliases == nil {
			c.dl().aliases = make(map[uint16]string)
		}
		if name == "" {
			t, ok := c.dl().aliases[a]
			if !ok {
				return CloseProtocolError, fmt.Errorf("topic alias %d was never set", a)
			}
			name = t
		} else {
			c.dl().aliases[a] = strings.Clone(name) // name aliases the read buffer
		}
	}
	if err := topic.ValidateName(name); err != nil {
		return CloseTopicNameInvalid, err // [MQTT-3.3.2-2]
	}
	if p.Retain && !lim.RetainAvailable {
		return CloseRetainNotSupported, errors.New("retained PUBLISH while retain is not available")
	}
	if p.QoS > 0 {
		// The pipe holds at most Receive Maximum publishes: wait for room
		// before taking one more. While a subscriber of the tenant falls
		// behind, take one at a time, as if unpipelined.
		depth := int(lim.ReceiveMaximum) - 1
		if b := backlogOf(c.key.Tenant); b.recent() {
			depth = min(depth, backlogDepth)
			if b.severe.Load() > 0 {
				c.waitBacklog(b)
			}
		}
		c.waitPipeline(depth)
	}
	if p.QoS == 2 {
		c.mu.Lock()
		switch {
		case c.dl().inboundQoS2[p.PacketID]:
			// A resent PUBLISH of a message already accepted: acknowledge
			// again, after the first copy, without publishing twice
			// [MQTT-4.3.3-10].
			c.pushLocked(&inPub{qos: 2, id: p.PacketID, orig: c.pendingQoS2Locked(p.PacketID), resent: true})
			c.mu.Unlock()
			return CloseNone, nil
		case len(c.dl().inboundQoS2) >= int(lim.ReceiveMaximum):
			// [MQTT-3.3.4-9] more unacknowledged QoS 2 messages than the
			// Receive Maximum: DISCONNECT 0x93.
			n := len(c.dl().inboundQoS2)
			c.mu.Unlock()
			return CloseReceiveMaximumExceeded, fmt.Errorf("%d QoS 2 messages in flight", n+1)
		}
		c.mu.Unlock()
	}
	if c.quota != nil {
		if reason, err := c.allowPublish(len(p.Payload)); reason != CloseNone {
			return reason, err
		}
	}
	var m *bridge.Message
	if p.QoS == 0 {
		// A QoS 0 message is delivered and sent to NATS before the next
		// read reuses the buffer it aliases, and nothing keeps it: one
		// Message per connection serves them all.
		ps := c.pubs()
		m = &ps.msg0
		*m = bridge.Message{Borrowed: true, Publisher: &ps.publisher}
	} else {
		m = new(bridge.Message)
	}
	m.Tenant, m.Topic, m.Payload = c.key.Tenant, name, p.Payload
	m.QoS, m.Retain, m.Origin = byte(p.QoS), p.Retain, c.key.ClientID
	if c.version == mqtt.V5 {
		applyProps(m, &p.Properties)
		if m.ExpirySet {
			m.PublishedAt = c.env.now() // the expiry countdown starts [MQTT-3.3.2-6]
		}
	}
	if p.QoS == 2 {
		stored, reason, err := c.recordInbound(p, m) // qos2.go
		if reason != CloseNone {
			return reason, err
		}
		if stored {
			c.pipelineStored(p.PacketID)
			return CloseNone, nil
		}
	}
	if p.QoS > 0 {
		c.pipelinePublish(m, p.PacketID)
		return CloseNone, nil
	}
	if p.Retain {
		// Retained messages are stored in arrival order: let the QoS 1/2
		// publishes before this one store theirs first.
		c.waitPipeline(0)
	}
	// A QoS 0 publish to core NATS does not wait; only storing a retained
	// message does, and only that gets a timeout (no timer per message).
	_, err := c.env.Bridge.Publish(context.Background(), m)
	if m.Stall != nil {
		c.stallFor(m.Stall)
	}
	if err == nil && p.Retain {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = c.env.Bridge.SetRetained(ctx, m) // [MQTT-3.3.1-5] [MQTT-3.3.1-10]
		cancel()
	}
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not publish the message of client %s to %q", c.key.ClientID, name), "err", err)
	}
	return CloseNone, nil
}

// flushPublishes sends the QoS 0 messages batched for NATS (see
// bridge.Publisher). The reader calls it before it may wait: before
// reading more input, before any packet other than a QoS 0 PUBLISH, while
// throttled and when the connection ends.
func (c *Conn) flushPublishes() {
	if c.ps == nil || c.ps.publisher.Pending() == 0 {
		return
	}
	if err := c.env.Bridge.Flush(&c.ps.publisher); err != nil {
		c.logger().Warn(fmt.Sprintf("could not publish the messages of client %s to other gateways", c.key.ClientID), "err", err)
	}
}

// allowPublish applies the tenant's publish quotas (message size, messages
// and bytes per second) to a PUBLISH. Over a rate, the publish is held
// back for as long as the tenant needs to be back within it (at most the
// gateway's max_throttle): the connection is not read meanwhile, so TCP
// slows the client down and a flooding tenant costs the gateway no more
// than its rate. When even that is not enough, or the payload is too large,
// the PUBLISH is refused; 0x95 and 0x96 are not PUBACK codes, so that ends
// the connection: DISCONNECT with the code in MQTT 5, a plain close in
// 3.1.1 [MQTT-3.3.5-2] (limits/doc.go).
func (c *Conn) allowPublish(payloadBytes int) (CloseReason, error) {
	wait, rc := c.quota.ThrottlePublish(c.key.ClientID, payloadBytes)
	switch rc {
	case mqtt.Success:
		c.hold(wait)
		return CloseNone, nil
	case mqtt.PacketTooLarge:
		return ClosePacketTooLarge, fmt.Errorf("a payload of %d bytes is over the tenant's limit", payloadBytes)
	default:
		return CloseRateTooHigh, fmt.Errorf("publishing over the tenant's message rate: %w", rc)
	}
}

// holdStep bounds how late hold notices a Kill.
const holdStep = 20 * time.Millisecond

// hold pauses the reader for d, or until the connection is killed.
func (c *Conn) hold(d time.Duration) {
	if d > 0 {
		c.flushPublishes() // the batched messages do not wait with the reader
	}
	for d > 0 && c.killed.Load() == 0 {
		step := min(d, holdStep)
		time.Sleep(step)
		d -= step
	}
}

// handlePubrel completes an inbound QoS 2 flow with PUBCOMP [MQTT-4.3.3-11].
func (c *Conn) handlePubrel(p *mqtt.Pubrel) (CloseReason, error) {
	dl := c.dl()
	id := p.PacketID
	c.mu.Lock()
	if _, ok := dl.inboundNonce[id]; ok && !dl.inboundQoS2[id] {
		// Recorded by a previous connection before its publish: the
		// client got the PUBREC, so the message was stored (qos2.go).
		delete(dl.inboundNonce, id)
		setMap(&dl.inboundQoS2, id, true)
	}
	if !dl.inboundQoS2[id] {
		c.mu.Unlock()
		c.sendControl(&mqtt.Pubcomp{PacketID: id, ReasonCode: mqtt.PacketIDNotFound})
		return CloseNone, nil
	}
	if c.pendingQoS2Locked(id) != nil {
		c.mu.Unlock()
		c.waitPipeline(0)
		// [MQTT-4.3.3-4] PUBREL answers a PUBREC, which was not sent yet.
		return CloseProtocolError, fmt.Errorf("PUBREL for packet %d before its PUBREC", id)
	}
	delete(dl.inboundQoS2, id)
	c.addOpLocked(func(ctx context.Context) error {
		return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Inbound, id)
	})
	c.mu.Unlock()
	c.sendControl(&mqtt.Pubcomp{PacketID: id})
	return CloseNone, nil
}

// The inbound QoS 1/2 pipeline. The read loop hands each QoS 1/2 PUBLISH
// to Bridge.PublishAsync in arrival order and reads on; the publishes wait
// in the connection's pubPipe, a FIFO, and a drainer goroutine waits their
// futures in that order and answers each with PUBACK or PUBREC only once
// JetStream stored it, so the acknowledgements leave in the order the
// publishes arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3] and never before the
// message is durable. A retained message is stored by the drainer too,
// right after its publish, so retained stores keep arrival order.
//
// The FIFO holds at most the server's Receive Maximum: when it is full the
// read loop waits for the oldest answer before it reads on (TCP pushes
// back on the client), so memory stays bounded however the client behaves.
// A client with more QoS 2 messages unreleased than the Receive Maximum is
// disconnected with 0x93 [MQTT-3.3.4-9] (handlePublish). An MQTT 3.1.1
// client cannot be told that a publish failed, so a failure ends its
// connection and nothing after it is acknowledged.
//
// The pipe of a connection exists while publishes are in flight: the read
// loop creates it, and starts the drainer (tracked by Conn.wg, so finish
// waits for the publishes in flight), with the first publish after the
// FIFO was empty; the drainer retires it when it empties. The FIFO,
// inboundQoS2 after the handshake, and the pipe's done flag are guarded
// by Conn.mu, which stays a leaf lock: no waiting, store or socket I/O
// happens under it.

// Backpressure. Pipelined publishers can store messages faster than a
// subscriber takes them; a subscriber whose pending list fills is
// disconnected (deliverLocked). So while any connection of this gateway
// has a backlog of QoS 1/2 messages of a tenant (a pending list longer
// than 1/backlogShare of MaxPending, seen within backlogHold), that
// tenant's publishers here keep at most backlogDepth+1 publishes each in
// the pipe. While any of its connections here holds more than
// 1/backlogSevere of MaxPending (until it is back under half of that),
// the tenant's publishers also wait (up to backlogWait per PUBLISH,
// reading nothing meanwhile, so TCP slows the client down): the tenant
// then publishes at the pace of its slowest subscriber instead of
// overflowing it. Measured with flockctl bench: without the depth limit,
// fan-in 8→1 QoS 1 overflowed the subscriber's MaxPending within two
// seconds; without the wait, fan-out 1→100 QoS 1 overflowed all hundred
// subscribers once durable publishes were acknowledged faster. A
// subscriber that stops reading altogether holds the tenant's publishers
// back at most backlogWait per message; its pending list then fills and it
// is disconnected with a reason (deliverLocked), so one dead client cannot
// stall its tenant. The backlogs map holds one entry per tenant that ever
// had a backlog; a tenant's backlog slows only that tenant.
const (
	backlogShare  = 16
	backlogSevere = 2
	backlogHold   = 20 * time.Millisecond
	backlogDepth  = 7
	backlogWait   = time.Second
	backlogStep   = 200 * time.Microsecond
)

// backlog is one tenant's backlog state on this gateway.
type backlog struct {
	seen   atomic.Int64 // when a pending list past the lower mark was last seen (nanoseconds since clockStart)
	severe atomic.Int32 // connections whose pending list is past the upper mark
}

// noBacklog answers for tenants that never had one.
var noBacklog backlog

// backlogs maps a tenant id to its *backlog.
var backlogs sync.Map

// clockStart is the origin of the backlog marks (monotonic time).
var clockStart = time.Now()

func backlogOf(tenant string) *backlog {
	if v, ok := backlogs.Load(tenant); ok {
		return v.(*backlog)
	}
	return &noBacklog
}

// recent reports whether a backlog was seen within backlogHold.
func (b *backlog) recent() bool {
	t := b.seen.Load()
	return t != 0 && time.Since(clockStart)-time.Duration(t) < backlogHold
}

// trackBacklogLocked updates the tenant's backlog with the length of the
// connection's pending list; callers hold c.mu.
func (c *Conn) trackBacklogLocked() {
	n, max := len(c.dl().pending), c.env.Limits.MaxPending
	switch {
	case n >= max/backlogShare:
		v, ok := backlogs.Load(c.key.Tenant)
		if !ok {
			v, _ = backlogs.LoadOrStore(c.key.Tenant, new(backlog))
		}
		b := v.(*backlog)
		b.seen.Store(int64(time.Since(clockStart)))
		if !c.severe && n >= max/backlogSevere {
			c.severe = true
			b.severe.Add(1)
		}
	case c.severe && n < max/backlogSevere/2:
		c.clearSevereLocked()
	}
}

// clearSevereLocked takes the connection out of its tenant's count of
// severe backlogs.
func (c *Conn) clearSevereLocked() {
	if c.severe {
		c.severe = false
		backlogOf(c.key.Tenant).severe.Add(-1)
	}
}

// waitBacklog holds the reader while a connection of its tenant has a
// severe backlog, at most backlogWait, or until the connection is killed.
func (c *Conn) waitBacklog(b *backlog) {
	for waited := time.Duration(0); waited < backlogWait && c.killed.Load() == 0 && b.severe.Load() > 0; waited += backlogStep {
		time.Sleep(backlogStep)
	}
}

// pubPipe is one connection's inbound QoS 1/2 pipeline.
type pubPipe struct {
	entries []*inPub      // in arrival order; guarded by Conn.mu
	done    bool          // the drainer exited; guarded by Conn.mu
	space   chan struct{} // signalled (cap 1) by the drainer after each answer
}

// inPub is one inbound QoS 1/2 PUBLISH awaiting its acknowledgement.
type inPub struct {
	fut    *bridge.PubFuture // the durable publish; nil when err is set or resent
	err    error             // PublishAsync failed
	retain *bridge.Message   // stored as retained once durable; nil when not retained
	qos    byte
	id     uint16
	resent bool   // a resent QoS 2 PUBLISH: answered as its first copy, not published
	stored bool   // QoS 2: its in-flight entry was recorded before the publish (qos2.go)
	orig   *inPub // for a resent one: its first copy, nil when already answered
	code   mqtt.ReasonCode
}

// pipeLocked returns the connection's pipe, creating it when none is live.
func (c *Conn) pipeLocked() *pubPipe {
	if pp := c.dl().pipe; pp != nil && !pp.done {
		return pp
	}
	pp := &pubPipe{space: make(chan struct{}, 1)}
	c.dl().pipe = pp
	return pp
}

// pushLocked appends e to the pipe and starts the drainer if it is idle.
// Only the serving goroutine calls it, so wg.Add comes before finish's
// wg.Wait.
func (c *Conn) pushLocked(e *inPub) {
	pp := c.pipeLocked()
	pp.entries = append(pp.entries, e)
	if len(pp.entries) == 1 {
		c.wg.Add(1)
		go c.drainPipe(pp)
	}
}

// pendingQoS2Locked returns the QoS 2 publish with packet identifier id
// that waits in the pipe, or nil.
func (c *Conn) pendingQoS2Locked(id uint16) *inPub {
	pp := c.dl().pipe
	if pp == nil {
		return nil
	}
	for i := len(pp.entries) - 1; i >= 0; i-- {
		if e := pp.entries[i]; e.qos == 2 && e.id == id && !e.resent {
			return e
		}
	}
	return nil
}

// waitPipeline waits until at most n publishes are in the pipe.
func (c *Conn) waitPipeline(n int) {
	for {
		c.mu.Lock()
		pp := c.dl().pipe
		if pp == nil || pp.done || len(pp.entries) <= n {
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		<-pp.space // the drainer signals after every answer and when it exits
	}
}

// pipelinePublish hands the QoS 1/2 message m, PUBLISH packet id, to the
// bridge and queues its acknowledgement.
func (c *Conn) pipelinePublish(m *bridge.Message, id uint16) {
	if m.QoS == 2 {
		c.mu.Lock()
		setMap(&c.dl().inboundQoS2, id, true) // a resent copy is not published again [MQTT-4.3.3-10]
		c.mu.Unlock()
	}
	e := &inPub{qos: m.QoS, id: id, stored: m.MsgID != ""}
	if m.Retain {
		e.retain = m
	}
	e.fut, e.err = c.env.Bridge.PublishAsync(context.Background(), m)
	c.mu.Lock()
	c.pushLocked(e)
	c.mu.Unlock()
}

// pipelineStored answers, in order with the publishes before it, a QoS 2
// PUBLISH resent after a gateway was lost whose first copy the stream
// holds already: PUBREC without publishing it again [MQTT-4.3.3-10].
func (c *Conn) pipelineStored(id uint16) {
	c.mu.Lock()
	setMap(&c.dl().inboundQoS2, id, true)
	c.pushLocked(&inPub{qos: 2, id: id, stored: true, resent: true})
	c.mu.Unlock()
}

// drainPipe answers the publishes of pp in order until it is empty.
func (c *Conn) drainPipe(pp *pubPipe) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		e := pp.entries[0]
		c.mu.Unlock()
		c.settle(e)
		c.mu.Lock()
		pp.entries[0] = nil
		pp.entries = pp.entries[1:]
		c.answerLocked(e)
		last := len(pp.entries) == 0
		if last {
			pp.done = true
			pp.entries = nil
			if c.dl().pipe == pp {
				c.dl().pipe = nil
			}
		}
		c.mu.Unlock()
		select {
		case pp.space <- struct{}{}:
		default:
		}
		if last {
			return
		}
	}
}

// settle waits until e is durable (and retained when asked) and sets
// e.code; it logs a failure.
func (c *Conn) settle(e *inPub) {
	if e.resent {
		if e.orig != nil {
			e.code = e.orig.code
		}
		return
	}
	err := e.err
	if err == nil {
		_, err = e.fut.Wait(context.Background())
	}
	if err == nil && e.retain != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = c.env.Bridge.SetRetained(ctx, e.retain) // [MQTT-3.3.1-5] [MQTT-3.3.1-10]
		cancel()
	}
	if err == nil {
		return
	}
	e.code = mqtt.UnspecifiedError
	if errors.Is(err, bridge.ErrQueueFull) {
		e.code = mqtt.QuotaExceeded
	}
	c.logger().Warn(fmt.Sprintf("could not store a QoS %d message of client %s; answering with reason 0x%02X", e.qos, c.key.ClientID, byte(e.code)), "err", err)
}

// answerLocked sends the acknowledgement of the settled publish e.
func (c *Conn) answerLocked(e *inPub) {
	if e.code.IsFailure() && c.version != mqtt.V5 {
		// MQTT 3.1.1 has no failure PUBACK: close rather than acknowledge
		// a message that was not stored.
		c.Kill(CloseBackendUnavailable)
		return
	}
	var p mqtt.Packet
	switch {
	case e.qos == 1:
		p = &mqtt.Puback{PacketID: e.id, ReasonCode: e.code}
	case e.resent:
		p = &mqtt.Pubrec{PacketID: e.id, ReasonCode: e.code}
	case e.code.IsFailure():
		// A PUBREC with a failure code ends the flow: the identifier is
		// free again [MQTT-4.3.3-9].
		delete(c.dl().inboundQoS2, e.id)
		c.forgetInboundLocked(e.id)
		p = &mqtt.Pubrec{PacketID: e.id, ReasonCode: e.code}
	default:
		id := e.id
		if !e.stored { // else the AwaitStore entry serves until PUBREL (qos2.go)
			c.addOpLocked(func(ctx context.Context) error {
				return c.env.Sessions.PutInflight(ctx, c.key, c.epoch, session.Inflight{
					Direction: session.Inbound, PacketID: id, QoS: 2, State: session.AwaitPubrel})
			})
		}
		p = &mqtt.Pubrec{PacketID: id}
	}
	if c.killed.Load() != 0 {
		return // the connection is ending: nothing follows its DISCONNECT
	}
	b, err := mqtt.Append(nil, p, c.version)
	if err != nil {
		c.logger().Error("could not encode a packet for the client", "packet", p.Type().String(), "err", err)
		return
	}
	if c.queued > 2*c.env.Limits.MaxQueuedBytes {
		c.Kill(CloseSlowClient)
		return
	}
	c.enqueueLocked(b)
}

// Lost implements router.Client: messages of one of the client's
// subscriptions were lost upstream, so its stream position stops
// advancing; a persistent session resumes from before them.
func (c *Conn) Lost() {
	c.mu.Lock()
	c.dl().seqBroken = true
	c.mu.Unlock()
}

// Deliver queues a message for the client. It never blocks.
func (c *Conn) Deliver(m *bridge.Message, d router.Delivery) {
	dl := c.dl()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return
	}
	if dl.resuming {
		if len(dl.resumeBuf) >= c.env.Limits.MaxPending {
			if m.Seq > 0 && min(m.QoS, d.QoS) > 0 {
				dl.seqBroken = true
			}
			dl.dropped++
			return
		}
		if m.Borrowed {
			m = m.Clone()
		}
		dl.resumeBuf = append(dl.resumeBuf, pendingMsg{m: m, d: d})
		return
	}
	if m.Seq != 0 && (m.Seq <= dl.replayed && !d.Shared && min(m.QoS, d.QoS) > 0 || dl.outstanding[m.Seq] > 0) {
		// The stream republishes a stored message to live subscribers
		// shortly after storing it; the resume replay (or the resend of
		// the in-flight messages) already delivered this one.
		return
	}
	c.deliverLocked(m, d, false)
}

// deliverLocked sends a QoS 0 message at once and queues a QoS 1/2 one for
// an in-flight slot. force skips the pending bound (retained messages on
// subscribe, whose number the tenant's retained limit bounds).
func (c *Conn) deliverLocked(m *bridge.Message, d router.Delivery, force bool) {
	dl := c.dl()
	if m.ExpirySet && m.Expired(c.env.now()) {
		return // [MQTT-3.3.2-5]
	}
	qos := min(m.QoS, d.QoS) // [MQTT-3.8.4-8]
	if qos == 0 {
		if m.Seq > 0 {
			dl.maxSeq = max(dl.maxSeq, m.Seq)
		}
		c.queueQoS0Locked(m, d)
		return
	}
	if !force && len(dl.pending) >= c.env.Limits.MaxPending {
		if m.Seq > 0 {
			dl.seqBroken = true
		}
		c.Kill(CloseSlowClient)
		return
	}
	if m.Seq > 0 {
		setMap(&dl.outstanding, m.Seq, dl.outstanding[m.Seq]+1)
		dl.maxSeq = max(dl.maxSeq, m.Seq)
		if d.Shared {
			c.noteGroupLocked(d.Share, m.Seq) // shared.go
		}
	}
	dl.pending = append(dl.pending, pendingMsg{m: m, d: d})
	c.trackBacklogLocked()
	c.pumpLocked()
}

// pumpLocked sends pending messages while in-flight slots are free
// [MQTT-3.3.4-9].
func (c *Conn) pumpLocked() {
	d := c.d.Load()
	if d == nil {
		return // nothing was ever queued for delivery
	}
	for len(d.pending) > 0 && len(d.inflight) < int(c.receiveMax) && !c.stopping {
		p := d.pending[0]
		d.pending[0] = pendingMsg{}
		d.pending = d.pending[1:]
		qos := min(p.m.QoS, p.d.QoS)
		id := c.allocIDLocked()
		b, au := c.encodePublish(p.m, p.d, qos, id, false)
		if b == nil {
			c.doneSeqLocked(p.m.Seq) // too large: as if delivered [MQTT-3.1.2-25]
			continue
		}
		f := &outFlight{seq: p.m.Seq, qos: qos, state: session.AwaitPuback}
		if qos == 2 {
			f.state = session.AwaitPubrec
		}
		setMap(&d.inflight, id, f)
		if f.seq > 0 {
			entry := session.Inflight{Direction: session.Outbound, PacketID: id, QoS: qos, State: f.state, Seq: f.seq}
			c.addOpLocked(func(ctx context.Context) error { return c.env.Sessions.PutInflight(ctx, c.key, c.epoch, entry) })
		}
		c.enqueuePublishLocked(b, au)
	}
	if len(d.pending) == 0 {
		d.pending = nil
	}
	if c.severe {
		c.trackBacklogLocked()
	}
	if d.room != nil && len(d.pending) < c.env.Limits.MaxPending/2 {
		select {
		case d.room <- struct{}{}:
		default:
		}
	}
}

// allocIDLocked returns a packet identifier not in flight.
func (c *Conn) allocIDLocked() uint16 {
	dl := c.dl()
	for {
		dl.nextID++
		if dl.nextID == 0 {
			dl.nextID = 1
		}
		if _, retired := dl.retired[dl.nextID]; !retired && dl.inflight[dl.nextID] == nil {
			return dl.nextID
		}
	}
}

// doneSeqLocked records that the message with stream sequence seq needs
// nothing more, and advances the session's stream position.
func (c *Conn) doneSeqLocked(seq uint64) {
	dl := c.dl()
	if seq == 0 {
		return
	}
	if n := dl.outstanding[seq]; n > 1 {
		dl.outstanding[seq] = n - 1
	} else {
		delete(dl.outstanding, seq)
	}
	c.advanceLocked()
	if len(dl.retired) > 0 {
		c.sweepRetiredLocked()
	}
}

// advanceLocked moves lastSeq to just below the oldest outstanding message,
// once nothing older can still be on its way (settlePositionsLocked).
func (c *Conn) advanceLocked() {
	dl := c.dl()
	if dl.seqBroken || !c.persistent {
		return
	}
	next := dl.maxSeq
	for s := range dl.outstanding {
		if s-1 < next {
			next = s - 1
		}
	}
	if next > dl.lastSeq && (len(dl.positions) == 0 || next > dl.positions[len(dl.positions)-1].seq) {
		p := position{seq: next}
		if !c.markLocked(&p) {
			// The client's durable messages come through one NATS
			// subscription at most, in stream order: nothing older is
			// on its way.
			dl.positions = dl.positions[:0]
			c.recordPositionLocked(next)
			return
		}
		if len(dl.positions) < maxPositions {
			dl.positions = append(dl.positions, p)
		} else {
			dl.positions[len(dl.positions)-1] = p // a later one covers it
		}
	}
	c.settlePositionsLocked()
}

// A position is a stream position a persistent session may record once
// the client's upstream subscriptions have handed over everything they had
// queued when it was reached. Each upstream NATS subscription delivers in
// stream order, but not in step with the others: a message acknowledged
// through one may be newer than one still queued in another, and recording
// the first before the second arrives would lose the second if the gateway
// died then (the resume starts after the recorded position).
type position struct {
	seq   uint64
	ups   []*bridge.Subscription
	marks []bridge.Mark
}

// maxPositions bounds the positions waiting; past it the newest is
// replaced, which only delays the record.
const maxPositions = 16

// markLocked fills p with the client's plain upstream subscriptions and a
// Mark of each. It reports false when they are one NATS subscription or
// none, so no mark is needed. Lock order: c.mu, then c.subsMu.
func (c *Conn) markLocked(p *position) bool {
	if c.env.Router == nil {
		return false
	}
	c.subsMu.Lock()
	streams := 0
	for key := range c.subs {
		if strings.HasPrefix(key, "$share/") {
			continue // shared subscriptions keep their group's position (shared.go)
		}
		if up := c.env.Router.Upstream(c.key.Tenant, key); up != nil {
			p.ups = append(p.ups, up)
			streams += up.Streams()
		}
	}
	c.subsMu.Unlock()
	if streams <= 1 {
		return false
	}
	p.marks = make([]bridge.Mark, len(p.ups))
	for i, up := range p.ups {
		p.marks[i] = up.Mark(nil)
	}
	return true
}

// settlePositionsLocked records the newest waiting position whose marks
// every upstream has passed, and forgets it and the older ones.
func (c *Conn) settlePositionsLocked() {
	dl := c.dl()
	for i := len(dl.positions) - 1; i >= 0; i-- {
		p := &dl.positions[i]
		passed := true
		for j, up := range p.ups {
			if !up.Passed(p.marks[j]) {
				passed = false
				break
			}
		}
		if !passed {
			continue
		}
		c.recordPositionLocked(p.seq)
		n := copy(dl.positions, dl.positions[i+1:])
		clear(dl.positions[n:])
		dl.positions = dl.positions[:n]
		return
	}
}

// recordPositionLocked writes the session's stream position.
func (c *Conn) recordPositionLocked(seq uint64) {
	dl := c.dl()
	if seq <= dl.lastSeq {
		return
	}
	dl.lastSeq = seq
	c.addOpLocked(func(ctx context.Context) error { return c.env.Sessions.SetLastSeq(ctx, c.key, c.epoch, seq) })
}

// ackOut handles PUBACK, PUBREC and PUBCOMP from the client.
func (c *Conn) ackOut(id uint16, step session.InflightState, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.dl().inflight[id]
	if f == nil || f.state != step {
		return // unknown or out of order: nothing to do
	}
	if step == session.AwaitPubrec && !failed {
		f.state = session.AwaitPubcomp
		if f.seq > 0 {
			entry := session.Inflight{Direction: session.Outbound, PacketID: id, QoS: 2, State: f.state, Seq: f.seq}
			c.addOpLocked(func(ctx context.Context) error { return c.env.Sessions.PutInflight(ctx, c.key, c.epoch, entry) })
		}
		if b, err := mqtt.Append(nil, &mqtt.Pubrel{PacketID: id}, c.version); err == nil {
			c.enqueueLocked(b)
		}
		return
	}
	delete(c.dl().inflight, id)
	c.completeOutLocked(id, f, !failed) // qos2.go
	c.pumpLocked()
}

// encodePublish encodes m for the client, or returns nil when the packet
// would exceed the client's Maximum Packet Size [MQTT-3.1.2-24]. With
// server-to-client topic aliases on, the packet uses the alias au names;
// the caller queues it with enqueuePublishLocked, which records the alias
// (alias.go). Callers hold c.mu.
func (c *Conn) encodePublish(m *bridge.Message, d router.Delivery, qos byte, id uint16, dup bool) (b []byte, au aliasUse) {
	// A QoS 0 packet without per-client parts (subscription identifiers,
	// the expiry left, topic aliases) is the same for every client of a
	// protocol generation: encode it once per message.
	shareable := c.shareable(m, d, qos)
	v5 := c.version == mqtt.V5
	if shareable {
		if b := m.Packets.Get(v5, d.Retain); b != nil {
			return c.fits(m, b), au
		}
	}
	var p mqtt.Publish
	au = c.publishPacket(&p, m, d, qos, id, dup)
	b, err := mqtt.AppendPublish(nil, &p, c.version)
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not encode a message on %q for client %s", m.Topic, c.key.ClientID), "err", err)
		return nil, aliasUse{}
	}
	if shareable {
		m.Packets.Put(v5, d.Retain, b)
	}
	return c.fits(m, b), au
}

// shareable reports whether the packet of m for this client is the same
// as for any client of its protocol generation.
func (c *Conn) shareable(m *bridge.Message, d router.Delivery, qos byte) bool {
	return qos == 0 && len(d.SubIDs) == 0 && !m.ExpirySet && c.outAliases == nil
}

// queueQoS0Locked queues m as a QoS 0 PUBLISH. The first client of a
// message encodes it straight into its output buffer (as does every client
// whose packet is its own: topic aliases, subscription identifiers); from
// the second on, a shareable packet is encoded once into the message's
// cache and copied from there. A client whose queue is full loses the
// message (counted and logged): QoS 0 is at most once.
func (c *Conn) queueQoS0Locked(m *bridge.Message, d router.Delivery) {
	if c.stopping {
		return
	}
	v5 := c.version == mqtt.V5
	shareable := c.shareable(m, d, 0)
	if shareable && m.Packets.Encoded(v5, d.Retain) {
		b, au := c.encodePublish(m, d, 0, 0, false)
		if b == nil {
			return
		}
		if c.queued+len(b) > c.env.Limits.MaxQueuedBytes {
			c.dropQoS0Locked()
			c.stallLocked(m)
			return
		}
		c.enqueuePublishLocked(b, au)
		c.stallLocked(m)
		return
	}
	var p mqtt.Publish
	au := c.publishPacket(&p, m, d, 0, 0, false)
	c.spaceLocked(publishRoom(&p))
	start := len(c.out)
	out, err := mqtt.AppendPublish(c.out, &p, c.version)
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not encode a message on %q for client %s", m.Topic, c.key.ClientID), "err", err)
		return
	}
	c.out = out[:start] // until the checks below pass
	if c.fits(m, out[start:]) == nil {
		return
	}
	n := len(out) - start
	if c.queued+n > c.env.Limits.MaxQueuedBytes {
		c.dropQoS0Locked()
		c.stallLocked(m)
		return
	}
	if shareable {
		m.Packets.MarkEncoded(v5, d.Retain)
	}
	if c.outAliases != nil {
		c.outAliases.commit(au) // the packet is queued: the client will know the mapping
	}
	c.out = out
	c.queued += n
	c.wakeLocked()
	c.stallLocked(m)
}

// publishRoom is an upper bound of p's encoded size in any protocol
// version, for spaceLocked: fixed header, topic, packet id, properties and
// payload.
func publishRoom(p *mqtt.Publish) int {
	n := 16 + len(p.Topic) + len(p.Payload)
	pr := &p.Properties
	n += 32 + len(pr.ContentType) + len(pr.ResponseTopic) + len(pr.CorrelationData) + 5*len(pr.SubscriptionIDs)
	for _, u := range pr.UserProperties {
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n
}

// QoS 0 back-pressure, after NATS's for its slow consumers: a publisher
// whose message finds a local subscriber's queue past stallMark quarters
// of MaxQueuedBytes waits until the subscriber's writer takes the next
// part of the queue (at most maxTake chunks at a time), at most stallWait
// per message and stallBudget per read from its socket.
// A subscriber that keeps up never slows anyone. One that is slow but
// still taking data slows the publishers feeding it to its pace instead of
// losing their messages. One whose writer has not taken its queue for
// stallGiveUp (a stuck client, until WriteTimeout ends it) slows no one any
// more: its QoS 0 messages are dropped, as they would be without stalls.
const (
	stallMark   = 3
	stallWait   = 5 * time.Millisecond
	stallBudget = 20 * time.Millisecond
	stallGiveUp = 50 * time.Millisecond
)

// stallLocked hands the publisher of m the queue's stall channel when the
// queue is past the mark; callers hold c.mu.
func (c *Conn) stallLocked(m *bridge.Message) {
	if c.queued <= c.stallMark() {
		return
	}
	now := time.Since(clockStart)
	if c.dl().stall == nil {
		c.dl().stall, c.dl().stallSince = make(chan struct{}), now
	} else if now-c.dl().stallSince > stallGiveUp {
		return
	}
	m.Stall = c.dl().stall
}

// stallMark is the queue length past which publishers stall.
func (c *Conn) stallMark() int { return c.env.Limits.MaxQueuedBytes / 4 * stallMark }

// releaseStallLocked lets the stalled publishers go on: the writer took
// (enough of) the queue. Callers hold c.mu.
func (c *Conn) releaseStallLocked() {
	if d := c.d.Load(); d != nil && d.stall != nil {
		close(d.stall)
		d.stall = nil
	}
}

// stallFor waits, within the reader's budget, for a subscriber's queue to
// drain (see stallLocked). The messages batched for NATS go first.
func (c *Conn) stallFor(ch <-chan struct{}) {
	d := min(stallWait, stallBudget-c.stalled)
	if d <= 0 {
		return
	}
	c.flushPublishes()
	start := time.Now()
	t := time.NewTimer(d)
	select {
	case <-ch:
	case <-t.C:
	case <-c.dead.done():
	}
	t.Stop()
	c.stalled += time.Since(start)
}

// dropQoS0Locked counts a QoS 0 message lost to a full queue.
func (c *Conn) dropQoS0Locked() {
	dl := c.dl()
	dl.dropped++
	if dl.dropped == 1 || dl.dropped%1000 == 0 {
		c.logger().Warn(fmt.Sprintf("client %s does not keep up: dropped %d QoS 0 messages so far", c.key.ClientID, dl.dropped))
	}
}

// publishPacket fills p with m as this client receives it, and returns the
// topic alias it uses (to commit once the packet is queued).
func (c *Conn) publishPacket(p *mqtt.Publish, m *bridge.Message, d router.Delivery, qos byte, id uint16, dup bool) (au aliasUse) {
	*p = mqtt.Publish{Dup: dup, QoS: mqtt.QoS(qos), Retain: d.Retain, Topic: m.Topic, PacketID: id, Payload: m.Payload}
	if c.version != mqtt.V5 {
		return au
	}
	pr := &p.Properties
	if c.outAliases != nil {
		au = c.outAliases.choose(m.Topic)
		pr.TopicAlias = au.alias // [MQTT-3.1.2-26] [MQTT-3.3.2-11] never above the client's maximum
		if au.known {
			p.Topic = "" // the client has the mapping
		}
	}
	pr.PayloadFormat = m.PayloadFormat
	pr.ContentType = m.ContentType
	pr.ResponseTopic = m.ResponseTopic
	pr.CorrelationData = m.CorrelationData
	pr.UserProperties = m.UserProperties
	pr.SubscriptionIDs = d.SubIDs
	if m.ExpirySet {
		// [MQTT-3.3.2-6] the expiry left, counted down.
		left := uint32(0)
		if !m.PublishedAt.IsZero() {
			elapsed := c.env.now().Sub(m.PublishedAt)
			if elapsed < time.Duration(m.MessageExpiry)*time.Second {
				left = m.MessageExpiry - uint32(elapsed/time.Second)
			}
		} else {
			left = m.MessageExpiry
		}
		pr.MessageExpiry, pr.MessageExpirySet = left, true
	}
	return au
}

// fits returns b, or nil when the packet exceeds the client's Maximum
// Packet Size.
func (c *Conn) fits(m *bridge.Message, b []byte) []byte {
	if c.maxOutPacket > 0 && uint32(len(b)) > c.maxOutPacket {
		// [MQTT-3.1.2-25] discard what the client cannot take.
		c.logger().Debug(fmt.Sprintf("dropped a message of %d bytes on %q: client %s accepts at most %d", len(b), m.Topic, c.key.ClientID, c.maxOutPacket))
		return nil
	}
	return b
}

// enqueuePublishLocked queues a PUBLISH encoded by encodePublish and
// records the topic alias it sets or uses, so the mapping follows the
// order in which the client receives the packets.
func (c *Conn) enqueuePublishLocked(b []byte, au aliasUse) {
	if c.stopping {
		return
	}
	if c.outAliases != nil {
		c.outAliases.commit(au)
	}
	c.enqueueLocked(b)
}
