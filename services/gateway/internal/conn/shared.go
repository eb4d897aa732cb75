package conn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// Shared subscriptions and the durable stream.
//
// Live, a QoS 1/2 message for a shared subscription $share/{group}/{filter}
// reaches one gateway holding members (a NATS queue group) and there one
// member, round-robin [MQTT-4.8.2-3]. While no member of the group is
// connected, nobody takes the group's messages; MQTT 5.0 section 4.8.2 lets
// the server keep them for the group and deliver them later, each to one
// member. The durable stream already holds them, so the group needs only
// its position in the stream (ADR 0002: positions are keys, no consumer):
//
//   - Every connection that hands a QoS 1/2 message of a shared
//     subscription to its client (queued for sending) moves the group's
//     position forward to that message's sequence. The writes are coalesced
//     (at most one queued per connection at a time) and go through the
//     writer like the session's own.
//   - When a shared QoS 1/2 subscription becomes active on a connection (a
//     SUBSCRIBE, or a resumed session subscribing again), the connection
//     drains the group's backlog: under the group's replay lock (one
//     drainer per group; another member that comes at the same time
//     skips the drain), it replays the stream from the group's position to
//     the stream's end as it was just after subscribing, to its own client,
//     and writes the new position before it releases the lock (so the
//     next drainer starts after it). Messages after that end arrive live.
//     A group seen for the first time gets its position at the stream's
//     end when its first member subscribes (initGroup, before the SUBACK):
//     it is owed nothing from before it existed.
//
// So a message stored while the whole group was away goes to the first
// member that comes back, once. Limits: while other members are connected
// the position trails their hand-offs by one store write, so a member
// subscribing while the group is busy may get again the few messages handed
// to another member in that moment (at least once for the group, as QoS 1
// allows); a member's messages that were queued but not yet sent when its
// connection ended are not drained again (as before); a member that finds
// the lock taken skips its drain even when the holder then fails (the
// next member to subscribe or resume drains); the lock expires after
// groupLockTTL, so a very long drain may overlap a later one. It
// needs a session store with the GroupStore capability (memstore and
// redisstore have it); without one, shared subscriptions are not replayed.

// GroupStore is the optional session store capability behind the replay
// of shared subscriptions. Share is the subscription as subscribed,
// $share/{group}/{filter}. GroupSeq returns the group's stream position,
// creating it at init when there is none; AdvanceGroupSeq moves it forward
// (never back); LockGroup takes the group's replay lock for owner for at
// most ttl, and ok is false when another owner holds it.
type GroupStore interface {
	GroupSeq(ctx context.Context, tenant, share string, init uint64) (uint64, error)
	AdvanceGroupSeq(ctx context.Context, tenant, share string, seq uint64) error
	LockGroup(ctx context.Context, tenant, share, owner string, ttl time.Duration) (unlock func(context.Context) error, ok bool, err error)
}

const groupLockTTL = time.Minute

var errPastHead = errors.New("conn: past the drain's end")

// noteGroupLocked records that the QoS 1/2 message seq of the shared
// subscription share was handed to the client, and queues one coalesced
// write of the group positions. Callers hold c.mu.
func (c *Conn) noteGroupLocked(share string, seq uint64) {
	gs, ok := c.env.Sessions.(GroupStore)
	if !ok || c.stopping {
		return
	}
	sh := c.sharedLocked()
	setMap(&sh.seqs, share, max(sh.seqs[share], seq))
	if c.groupOp {
		return
	}
	c.groupOp = true
	// Not addOpLocked: members with clean sessions move the position too.
	c.ops = append(c.ops, func(ctx context.Context) error {
		c.mu.Lock()
		seqs := c.dl().shared.seqs
		c.dl().shared.seqs, c.groupOp = nil, false
		c.mu.Unlock()
		var errs []error
		for share, seq := range seqs {
			errs = append(errs, gs.AdvanceGroupSeq(ctx, c.key.Tenant, share, seq))
		}
		return errors.Join(errs...)
	})
	c.wakeLocked()
}

// initGroup gives the group of the shared QoS 1/2 subscription share a
// stream position, at the stream's end, if it has none yet, so messages
// stored from now on while no member is connected are kept for it. It runs
// in the read loop before the SUBACK.
func (c *Conn) initGroup(share string) {
	gs, ok := c.env.Sessions.(GroupStore)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := c.env.Bridge.LastSeq(ctx, c.key.Tenant)
	if err == nil {
		_, err = gs.GroupSeq(ctx, c.key.Tenant, share, head)
	}
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not set up the stream position of shared subscription %q", share), "err", err)
	}
}

// drainGroups drains the backlog of each shared QoS 1/2 subscription in
// shares (see above). It runs in the resume goroutine or in a drain
// goroutine, never in the read loop.
func (c *Conn) drainGroups(ctx context.Context, shares []string) {
	gs, ok := c.env.Sessions.(GroupStore)
	if !ok {
		return
	}
	for _, share := range shares {
		if err := c.drainGroup(ctx, gs, share); err != nil && ctx.Err() == nil {
			c.logger().Warn(fmt.Sprintf("could not replay the messages shared subscription %q missed", share), "err", err)
		}
	}
}

func (c *Conn) drainGroup(ctx context.Context, gs GroupStore, share string) error {
	_, filter, _, err := topic.ParseShared(share)
	if err != nil {
		return err
	}
	c.subsMu.Lock()
	sub := c.subs[share]
	c.subsMu.Unlock()
	if sub == nil || sub.Options.QoS == 0 {
		return nil
	}
	owner := fmt.Sprintf("%s/%d", c.env.GatewayID, c.id)
	// Not cancelled half-way: a lock taken but not known to be taken
	// would block the group's drains until it expires.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	unlock, ok, err := gs.LockGroup(lctx, c.key.Tenant, share, owner, groupLockTTL)
	cancel()
	if err != nil {
		return err
	}
	if !ok {
		c.logger().Debug(fmt.Sprintf("another member is replaying shared subscription %q; client %s gets its messages live", share, c.key.ClientID))
		return nil
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := unlock(ctx); err != nil {
			c.logger().Warn(fmt.Sprintf("could not release the replay lock of shared subscription %q", share), "err", err)
		}
	}()
	// The subscription is live already: what comes after head arrives live.
	head, err := c.env.Bridge.LastSeq(ctx, c.key.Tenant)
	if err != nil {
		return err
	}
	from, err := gs.GroupSeq(ctx, c.key.Tenant, share, head)
	if err != nil || from >= head {
		return err
	}
	d := router.Delivery{QoS: sub.Options.QoS, Shared: true, Share: share}
	if sub.Options.SubscriptionID != 0 {
		d.SubIDs = []uint32{sub.Options.SubscriptionID}
	}
	res, err := c.env.Bridge.ReplayFrom(ctx, c.key.Tenant, []string{filter}, from, func(m *bridge.Message) error {
		if m.Seq > head {
			return errPastHead
		}
		dm := d
		if sub.Options.RetainAsPublished {
			dm.Retain = m.Retain
		}
		c.mu.Lock()
		for len(c.dl().pending) >= c.env.Limits.MaxPending/2 {
			room := c.roomLocked()
			c.mu.Unlock()
			select {
			case <-room:
			case <-ctx.Done():
				return ctx.Err()
			}
			c.mu.Lock()
		}
		c.deliverLocked(m, dm, false) // moves the group's position (noteGroupLocked)
		c.mu.Unlock()
		return nil
	})
	last := head // everything up to head went to this client
	switch {
	case errors.Is(err, errPastHead):
		err = nil
	case err != nil:
		last = res.Last // what the replay handed over before it stopped
	}
	if res.Delivered > 0 {
		c.logger().Info(fmt.Sprintf("replayed %d messages to client %s that shared subscription %q received while none of its members was connected",
			res.Delivered, c.key.ClientID, share))
	}
	// Written before the lock is released (not coalesced through the
	// writer), so the next drainer starts after this one.
	if last > from {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		werr := gs.AdvanceGroupSeq(wctx, c.key.Tenant, share, last)
		cancel()
		err = errors.Join(err, werr)
	}
	return err
}

// startDrain drains the shared subscriptions shares in a goroutine that
// ends with the connection (finish cancels it and waits). Only the serving
// goroutine calls it.
func (c *Conn) startDrain(shares []string) {
	if _, ok := c.env.Sessions.(GroupStore); !ok || len(shares) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		cancel()
		return
	}
	sh := c.sharedLocked()
	sh.drains = append(sh.drains, cancel)
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		c.drainGroups(ctx, shares)
	}()
}

// sharedState is a connection's state for shared subscriptions, made on
// first use: most connections have none.
type sharedState struct {
	seqs   map[string]uint64    // shared subscription → largest seq handed to the client, not yet written
	drains []context.CancelFunc // ends the shared subscription drains
}

// sharedLocked returns c.dl().shared, making it. Callers hold c.mu.
func (c *Conn) sharedLocked() *sharedState {
	if c.dl().shared == nil {
		c.dl().shared = new(sharedState)
	}
	return c.dl().shared
}

// stopDrains cancels the drain goroutines; finish waits for them with wg.
func (c *Conn) stopDrains() {
	c.mu.Lock()
	var cancels []context.CancelFunc
	if c.dl().shared != nil {
		cancels, c.dl().shared.drains = c.dl().shared.drains, nil
	}
	c.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
}
