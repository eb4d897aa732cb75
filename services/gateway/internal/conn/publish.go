package conn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

var _ router.Client = (*Conn)(nil)

// handlePublish handles a PUBLISH from the client.
func (c *Conn) handlePublish(p *mqtt.Publish) (CloseReason, error) {
	lim := &c.env.Limits
	name := p.Topic
	if c.version == mqtt.V5 && p.Properties.TopicAlias != 0 {
		a := p.Properties.TopicAlias
		if a > lim.TopicAliasMaximum {
			// [MQTT-3.3.2-9] [MQTT-3.3.2-10] an alias above the maximum.
			return CloseTopicAliasInvalid, fmt.Errorf("topic alias %d is above the maximum of %d", a, lim.TopicAliasMaximum)
		}
		if c.aliases == nil {
			c.aliases = make(map[uint16]string)
		}
		if name == "" {
			t, ok := c.aliases[a]
			if !ok {
				return CloseProtocolError, fmt.Errorf("topic alias %d was never set", a)
			}
			name = t
		} else {
			c.aliases[a] = name
		}
	}
	if err := topic.ValidateName(name); err != nil {
		return CloseTopicNameInvalid, err // [MQTT-3.3.2-2]
	}
	if p.Retain && !lim.RetainAvailable {
		return CloseRetainNotSupported, errors.New("retained PUBLISH while retain is not available")
	}
	if p.QoS == 2 {
		if c.inboundQoS2[p.PacketID] {
			// A resent PUBLISH of a message already accepted: acknowledge
			// again without publishing twice [MQTT-4.3.3-10].
			c.sendControl(&mqtt.Pubrec{PacketID: p.PacketID})
			return CloseNone, nil
		}
		if len(c.inboundQoS2) >= int(lim.ReceiveMaximum) {
			// [MQTT-3.3.4-7] more unacknowledged QoS 2 than Receive Maximum.
			return CloseReceiveMaximumExceeded, fmt.Errorf("%d QoS 2 messages in flight", len(c.inboundQoS2)+1)
		}
	}
	m := &bridge.Message{
		Tenant:      c.key.Tenant,
		Topic:       name,
		Payload:     p.Payload,
		QoS:         byte(p.QoS),
		Retain:      p.Retain,
		Origin:      c.key.ClientID,
		PublishedAt: c.env.now(),
	}
	if c.version == mqtt.V5 {
		applyProps(m, &p.Properties)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	_, err := c.env.Bridge.Publish(ctx, m)
	if err == nil && p.Retain {
		err = c.env.Bridge.SetRetained(ctx, m) // [MQTT-3.3.1-5] [MQTT-3.3.1-10]
	}
	cancel()
	if err != nil {
		code := mqtt.UnspecifiedError
		if errors.Is(err, bridge.ErrQueueFull) {
			code = mqtt.QuotaExceeded
		}
		c.log.Warn(fmt.Sprintf("could not publish the message of client %s to %q", c.key.ClientID, name), "err", err)
		switch {
		case p.QoS == 0:
			return CloseNone, nil
		case c.version != mqtt.V5:
			return CloseBackendUnavailable, err
		case p.QoS == 1:
			c.sendControl(&mqtt.Puback{PacketID: p.PacketID, ReasonCode: code})
		default:
			c.sendControl(&mqtt.Pubrec{PacketID: p.PacketID, ReasonCode: code})
		}
		return CloseNone, nil
	}
	switch p.QoS {
	case 1:
		c.sendControl(&mqtt.Puback{PacketID: p.PacketID}) // after the stream stored it
	case 2:
		id := p.PacketID
		c.inboundQoS2[id] = true
		c.mu.Lock()
		c.addOpLocked(func(ctx context.Context) error {
			return c.env.Sessions.PutInflight(ctx, c.key, c.epoch, session.Inflight{
				Direction: session.Inbound, PacketID: id, QoS: 2, State: session.AwaitPubrel})
		})
		c.mu.Unlock()
		c.sendControl(&mqtt.Pubrec{PacketID: id})
	}
	return CloseNone, nil
}

// handlePubrel completes an inbound QoS 2 flow with PUBCOMP [MQTT-4.3.3-11].
func (c *Conn) handlePubrel(p *mqtt.Pubrel) (CloseReason, error) {
	id := p.PacketID
	if !c.inboundQoS2[id] {
		c.sendControl(&mqtt.Pubcomp{PacketID: id, ReasonCode: mqtt.PacketIDNotFound})
		return CloseNone, nil
	}
	delete(c.inboundQoS2, id)
	c.mu.Lock()
	c.addOpLocked(func(ctx context.Context) error {
		return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Inbound, id)
	})
	c.mu.Unlock()
	c.sendControl(&mqtt.Pubcomp{PacketID: id})
	return CloseNone, nil
}

// Deliver queues a message for the client. It never blocks.
func (c *Conn) Deliver(m *bridge.Message, d router.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return
	}
	if c.resuming {
		if len(c.resumeBuf) >= c.env.Limits.MaxPending {
			if m.Seq > 0 && min(m.QoS, d.QoS) > 0 {
				c.seqBroken = true
			}
			c.dropped++
			return
		}
		c.resumeBuf = append(c.resumeBuf, pendingMsg{m: m, d: d})
		return
	}
	if m.Seq != 0 && (m.Seq <= c.replayed && !d.Shared && min(m.QoS, d.QoS) > 0 || c.outstanding[m.Seq] > 0) {
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
	if m.Expired(c.env.now()) {
		return // [MQTT-3.3.2-5]
	}
	qos := min(m.QoS, d.QoS) // [MQTT-3.8.4-8]
	if qos == 0 {
		b := c.encodePublish(m, d, 0, 0, false)
		if m.Seq > 0 {
			c.maxSeq = max(c.maxSeq, m.Seq)
		}
		if b == nil {
			return
		}
		if c.queued+len(b) > c.env.Limits.MaxQueuedBytes {
			c.dropped++
			if c.dropped == 1 || c.dropped%1000 == 0 {
				c.log.Warn(fmt.Sprintf("client %s does not keep up: dropped %d QoS 0 messages so far", c.key.ClientID, c.dropped))
			}
			return
		}
		c.enqueueLocked(b)
		return
	}
	if !force && len(c.pending) >= c.env.Limits.MaxPending {
		if m.Seq > 0 {
			c.seqBroken = true
		}
		c.Kill(CloseSlowClient)
		return
	}
	if m.Seq > 0 {
		c.outstanding[m.Seq]++
		c.maxSeq = max(c.maxSeq, m.Seq)
	}
	c.pending = append(c.pending, pendingMsg{m: m, d: d})
	c.pumpLocked()
}

// pumpLocked sends pending messages while in-flight slots are free
// [MQTT-3.3.4-9].
func (c *Conn) pumpLocked() {
	for len(c.pending) > 0 && len(c.inflight) < int(c.receiveMax) && !c.stopping {
		p := c.pending[0]
		c.pending[0] = pendingMsg{}
		c.pending = c.pending[1:]
		qos := min(p.m.QoS, p.d.QoS)
		id := c.allocIDLocked()
		b := c.encodePublish(p.m, p.d, qos, id, false)
		if b == nil {
			c.doneSeqLocked(p.m.Seq) // too large: as if delivered [MQTT-3.1.2-25]
			continue
		}
		f := &outFlight{seq: p.m.Seq, qos: qos, state: session.AwaitPuback}
		if qos == 2 {
			f.state = session.AwaitPubrec
		}
		c.inflight[id] = f
		if f.seq > 0 {
			entry := session.Inflight{Direction: session.Outbound, PacketID: id, QoS: qos, State: f.state, Seq: f.seq}
			c.addOpLocked(func(ctx context.Context) error { return c.env.Sessions.PutInflight(ctx, c.key, c.epoch, entry) })
		}
		c.enqueueLocked(b)
	}
	if len(c.pending) == 0 {
		c.pending = nil
	}
	if len(c.pending) < c.env.Limits.MaxPending/2 {
		select {
		case c.room <- struct{}{}:
		default:
		}
	}
}

// allocIDLocked returns a packet identifier not in flight.
func (c *Conn) allocIDLocked() uint16 {
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if c.inflight[c.nextID] == nil {
			return c.nextID
		}
	}
}

// doneSeqLocked records that the message with stream sequence seq needs
// nothing more, and advances the session's stream position.
func (c *Conn) doneSeqLocked(seq uint64) {
	if seq == 0 {
		return
	}
	if n := c.outstanding[seq]; n > 1 {
		c.outstanding[seq] = n - 1
	} else {
		delete(c.outstanding, seq)
	}
	c.advanceLocked()
}

// advanceLocked moves lastSeq to just below the oldest outstanding message.
func (c *Conn) advanceLocked() {
	if c.seqBroken || !c.persistent {
		return
	}
	next := c.maxSeq
	for s := range c.outstanding {
		if s-1 < next {
			next = s - 1
		}
	}
	if next <= c.lastSeq {
		return
	}
	c.lastSeq = next
	c.addOpLocked(func(ctx context.Context) error { return c.env.Sessions.SetLastSeq(ctx, c.key, c.epoch, next) })
}

// ackOut handles PUBACK, PUBREC and PUBCOMP from the client.
func (c *Conn) ackOut(id uint16, step session.InflightState, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.inflight[id]
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
	delete(c.inflight, id)
	if f.seq > 0 {
		c.addOpLocked(func(ctx context.Context) error {
			return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Outbound, id)
		})
	}
	c.doneSeqLocked(f.seq)
	c.pumpLocked()
}

// encodePublish encodes m for the client, or returns nil when the packet
// would exceed the client's Maximum Packet Size [MQTT-3.1.2-24].
func (c *Conn) encodePublish(m *bridge.Message, d router.Delivery, qos byte, id uint16, dup bool) []byte {
	p := mqtt.Publish{Dup: dup, QoS: mqtt.QoS(qos), Retain: d.Retain, Topic: m.Topic, PacketID: id, Payload: m.Payload}
	if c.version == mqtt.V5 {
		pr := &p.Properties
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
	}
	b, err := mqtt.Append(nil, &p, c.version)
	if err != nil {
		c.log.Warn(fmt.Sprintf("could not encode a message on %q for client %s", m.Topic, c.key.ClientID), "err", err)
		return nil
	}
	if c.maxOutPacket > 0 && uint32(len(b)) > c.maxOutPacket {
		// [MQTT-3.1.2-25] discard what the client cannot take.
		c.log.Debug(fmt.Sprintf("dropped a message of %d bytes on %q: client %s accepts at most %d", len(b), m.Topic, c.key.ClientID, c.maxOutPacket))
		return nil
	}
	return b
}
