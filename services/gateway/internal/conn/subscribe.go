package conn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// handleSubscribe handles SUBSCRIBE: subscribe, store, SUBACK, then the
// retained messages [MQTT-3.8.4-1].
func (c *Conn) handleSubscribe(p *mqtt.Subscribe) (CloseReason, error) {
	lim := &c.env.Limits
	codes := make([]mqtt.ReasonCode, len(p.Subscriptions))
	var subID uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	var stored []session.Subscription
	var retained []*router.Sub
	var drains []string // shared QoS 1/2 subscriptions, whose group backlog is drained (shared.go)
	for i, s := range p.Subscriptions {
		_, _, shared, err := topic.ParseShared(s.Filter)
		if err == nil && !shared {
			err = topic.ValidateFilter(s.Filter)
		}
		switch {
		case err != nil:
			codes[i] = mqtt.TopicFilterInvalid
			continue
		case shared && s.NoLocal:
			// [MQTT-3.8.3-4] No Local on a shared subscription.
			return CloseProtocolError, fmt.Errorf("no local on shared subscription %q", s.Filter)
		case shared && !lim.SharedAvailable:
			codes[i] = mqtt.SharedSubNotSupported
			continue
		case subID != 0 && !lim.SubIDsAvailable:
			codes[i] = mqtt.SubIDsNotSupported
			continue
		case !lim.WildcardAvailable && strings.ContainsAny(s.Filter, "+#"):
			codes[i] = mqtt.WildcardSubsNotSupported
			continue
		}
		opts := session.Subscription{
			Filter: s.Filter, QoS: min(byte(s.QoS), 2), NoLocal: s.NoLocal,
			RetainAsPublished: s.RetainAsPublished, RetainHandling: byte(s.RetainHandling), SubscriptionID: subID,
		}
		if _, replaces := c.subs[s.Filter]; !replaces && c.quota != nil {
			// The tenant's subscriptions-per-device quota, filter by
			// filter: MQTT 5 SUBACK 0x97, MQTT 3.1.1 0x80 (the encoder
			// maps every failure to it) [MQTT-3.9.3-2] [MQTT-3.8.4-5].
			if rc := c.quota.CheckSubscriptions(c.key.ClientID, len(c.subs), 1); rc != mqtt.Success {
				codes[i] = rc
				continue
			}
		}
		sub := &router.Sub{Client: c, ClientID: c.key.ClientID, Options: opts}
		c.subsMu.Lock()
		old := c.subs[s.Filter]
		if err := c.env.Router.Add(c.key.Tenant, sub); err != nil {
			c.subsMu.Unlock()
			c.logger().Warn(fmt.Sprintf("could not subscribe client %s to %q", c.key.ClientID, s.Filter), "err", err)
			codes[i] = mqtt.UnspecifiedError
			continue
		}
		if old != nil {
			c.env.Router.Remove(c.key.Tenant, old) // [MQTT-3.8.4-3] replace
		}
		setMap(&c.subs, s.Filter, sub)
		c.subsMu.Unlock()
		codes[i] = mqtt.ReasonCode(opts.QoS)
		stored = append(stored, opts)
		if shared && opts.QoS > 0 {
			c.initGroup(s.Filter) // shared.go
			drains = append(drains, s.Filter)
		}
		// Retained messages: never for shared subscriptions, and per
		// retain handling [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
		if !shared && lim.RetainAvailable &&
			(s.RetainHandling == mqtt.SendRetainedOnSubscribe || s.RetainHandling == mqtt.SendRetainedOnNewSubscribe && old == nil) {
			retained = append(retained, sub)
		}
	}
	if c.persistent && len(stored) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.env.Sessions.PutSubscriptions(ctx, c.key, c.epoch, stored)
		cancel()
		if err != nil {
			if fenced(err) {
				return CloseTakenOver, nil
			}
			c.logger().Warn("could not store the subscriptions", "err", err)
		}
	}
	c.sendControl(&mqtt.Suback{PacketID: p.PacketID, ReasonCodes: codes}) // [MQTT-3.8.4-1]
	for _, sub := range retained {
		c.sendRetained(sub)
	}
	c.startDrain(drains)
	return CloseNone, nil
}

// sendRetained delivers the retained messages matching sub, with the
// retain flag set [MQTT-3.3.1-6].
func (c *Conn) sendRetained(sub *router.Sub) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := router.Delivery{QoS: sub.Options.QoS, Retain: true}
	if sub.Options.SubscriptionID != 0 {
		d.SubIDs = []uint32{sub.Options.SubscriptionID}
	}
	err := c.env.Bridge.Retained(ctx, c.key.Tenant, sub.Options.Filter, func(m *bridge.Message) error {
		m.Seq = 0 // a retained message is not a position in the durable stream
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stopping {
			return errors.New("conn: connection closing")
		}
		c.deliverLocked(m, d, true)
		return nil
	})
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not read the retained messages for %q", sub.Options.Filter), "err", err)
	}
}

// handleUnsubscribe handles UNSUBSCRIBE [MQTT-3.10.4-1].
func (c *Conn) handleUnsubscribe(p *mqtt.Unsubscribe) (CloseReason, error) {
	codes := make([]mqtt.ReasonCode, len(p.Filters))
	var removed []string
	c.subsMu.Lock()
	for i, f := range p.Filters {
		sub := c.subs[f]
		if sub == nil {
			codes[i] = mqtt.NoSubscriptionExisted
			continue
		}
		c.env.Router.Remove(c.key.Tenant, sub)
		delete(c.subs, f)
		removed = append(removed, f)
	}
	c.subsMu.Unlock()
	if c.persistent && len(removed) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.env.Sessions.DeleteSubscriptions(ctx, c.key, c.epoch, removed)
		cancel()
		if err != nil {
			if fenced(err) {
				return CloseTakenOver, nil
			}
			c.logger().Warn("could not remove the stored subscriptions", "err", err)
		}
	}
	c.sendControl(&mqtt.Unsuback{PacketID: p.PacketID, ReasonCodes: codes}) // [MQTT-3.10.4-4]
	return CloseNone, nil
}

// matchOwn computes the delivery of m from the connection's own
// subscriptions (used when replaying, where the router is not involved).
// ok is false when no plain subscription matches.
func (c *Conn) matchOwn(m *bridge.Message) (d router.Delivery, ok bool) {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	for _, s := range c.subs {
		if _, _, shared, _ := topic.ParseShared(s.Options.Filter); shared {
			continue
		}
		if !topic.Match(s.Options.Filter, m.Topic) {
			continue
		}
		if s.Options.NoLocal && m.Origin == c.key.ClientID {
			continue
		}
		ok = true
		d.QoS = max(d.QoS, s.Options.QoS)
		if s.Options.RetainAsPublished && m.Retain {
			d.Retain = true
		}
		if s.Options.SubscriptionID != 0 {
			d.SubIDs = append(d.SubIDs, s.Options.SubscriptionID)
		}
	}
	return d, ok
}
