package conn

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// resume runs in its own goroutine for a resumed session: it resends the
// in-flight messages, replays what the client missed and then lets the
// buffered live messages through.
func (c *Conn) resume(prev *session.State) {
	dl := c.dl()
	defer close(dl.rs.done)
	resent := c.resendInflight(prev)
	last, err := c.replay(resent)
	if err != nil && dl.rs.ctx.Err() == nil {
		c.logger().Warn(fmt.Sprintf("could not replay the messages client %s missed", c.key.ClientID), "err", err)
	}
	c.mu.Lock()
	buf := dl.resumeBuf
	dl.resumeBuf, dl.resuming, dl.replayed = nil, false, last
	for _, p := range buf {
		if p.m.Seq != 0 && p.m.Seq <= last && !p.d.Shared && min(p.m.QoS, p.d.QoS) > 0 {
			continue // the replay delivered it
		}
		c.deliverLocked(p.m, p.d, false)
	}
	c.mu.Unlock()
	// The shared subscriptions' backlogs, once the live messages flow
	// (shared.go).
	var shares []string
	for _, s := range prev.Subscriptions {
		if _, _, shared, _ := topic.ParseShared(s.Filter); shared && s.QoS > 0 {
			shares = append(shares, s.Filter)
		}
	}
	c.drainGroups(dl.rs.ctx, shares)
}

// resendInflight resends the stored in-flight messages with DUP set and
// their original packet identifiers, and PUBREL for those past PUBREC
// [MQTT-4.4.0-1] [MQTT-4.4.0-2]. It returns the stream sequences it
// resent, which the replay must not send again.
func (c *Conn) resendInflight(prev *session.State) map[uint64]bool {
	resent := make(map[uint64]bool)
	type entry struct {
		id  uint16
		seq uint64
	}
	var entries []entry
	for _, f := range prev.Inflight {
		if f.Direction == session.Outbound {
			entries = append(entries, entry{f.PacketID, f.Seq})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].seq < entries[j].seq })
	for _, e := range entries {
		id := e.id
		c.mu.Lock()
		f := c.dl().inflight[id]
		c.mu.Unlock()
		if f == nil {
			continue
		}
		if f.state == session.AwaitPubcomp {
			resent[f.seq] = true // delivered already; only its PUBREL is resent
			c.mu.Lock()
			if b, err := mqtt.Append(nil, &mqtt.Pubrel{PacketID: id}, c.version); err == nil {
				c.enqueueLocked(b)
			}
			c.mu.Unlock()
			continue
		}
		var m *bridge.Message
		var err error
		if f.seq > 0 {
			m, err = c.env.Bridge.Fetch(c.dl().rs.ctx, c.key.Tenant, f.seq)
		} else {
			err = bridge.ErrNotFound
		}
		c.mu.Lock()
		switch {
		case err != nil:
			// Gone from the stream (aged out by the tenant's limits): the
			// message cannot be resent; forget the entry.
			if !errors.Is(err, bridge.ErrNotFound) {
				c.logger().Warn(fmt.Sprintf("could not read in-flight message %d of client %s again", f.seq, c.key.ClientID), "err", err)
			}
			delete(c.dl().inflight, id)
			c.addOpLocked(func(ctx context.Context) error {
				return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Outbound, id)
			})
			c.doneSeqLocked(f.seq)
		default:
			d, _ := c.matchOwn(m)
			if b, au := c.encodePublish(m, d, f.qos, id, true); b != nil {
				c.enqueuePublishLocked(b, au)
			}
			resent[f.seq] = true
		}
		c.mu.Unlock()
	}
	return resent
}

// replay delivers the durable messages after the session's stream position
// that match its QoS 1/2 plain subscriptions, and returns the last sequence
// it examined.
func (c *Conn) replay(resent map[uint64]bool) (uint64, error) {
	dl := c.dl()
	var filters []string
	c.subsMu.Lock()
	for f, s := range c.subs {
		if _, _, shared, _ := topic.ParseShared(f); !shared && s.Options.QoS > 0 {
			filters = append(filters, f)
		}
	}
	c.subsMu.Unlock()
	c.mu.Lock()
	after := dl.lastSeq
	c.mu.Unlock()
	if len(filters) == 0 {
		return 0, nil
	}
	sort.Strings(filters)
	var delivered uint64 // the last sequence the replay delivered
	res, err := c.env.Bridge.ReplayFrom(dl.rs.ctx, c.key.Tenant, filters, after, func(m *bridge.Message) error {
		d, ok := c.matchOwn(m)
		if !ok {
			return nil
		}
		if resent[m.Seq] {
			return nil // in flight, resent already
		}
		c.mu.Lock()
		for len(dl.pending) >= c.env.Limits.MaxPending/2 {
			room := c.roomLocked()
			c.mu.Unlock()
			select {
			case <-room:
			case <-dl.rs.ctx.Done():
				return dl.rs.ctx.Err()
			}
			c.mu.Lock()
		}
		c.deliverLocked(m, d, false)
		c.mu.Unlock()
		delivered = max(delivered, m.Seq)
		return nil
	})
	if res.Delivered > 0 {
		c.logger().Info(fmt.Sprintf("replayed %d messages client %s missed while offline", res.Delivered, c.key.ClientID))
	}
	if res.Missed > 0 {
		c.logger().Warn(fmt.Sprintf("client %s of tenant %s missed %d messages while offline because the tenant's queue limit discarded them",
			c.key.ClientID, c.key.Tenant, res.Missed), "missed", res.Missed)
	}
	if err != nil {
		// Only what was delivered is covered; the live messages buffered
		// meanwhile go out after it.
		return delivered, err
	}
	return res.Last, nil
}
