package conn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// QoS 2 exactly once across a gateway crash.
//
// A persistent session's QoS 2 state lives in the session store, so a
// client whose gateway dies resumes on another one. Every step is recorded
// before the packet it allows leaves, so wherever the gateway dies, the
// next one knows enough not to deliver a message twice.
//
// Inbound (client → gateway), for persistent sessions:
//
//  1. PUBLISH id arrives: the entry (Inbound, id, AwaitStore, nonce) is
//     stored first (recordInbound: the read loop waits for the store
//     write, which goes through the writer after the writes queued before
//     it), then the message goes to the durable stream with Nats-Msg-Id
//     "<client>/<nonce>".
//  2. Once JetStream stored it, PUBREC leaves. The AwaitStore entry
//     stays as it is: it serves until PUBREL.
//  3. PUBREL: the entry is deleted, then PUBCOMP leaves.
//
// A gateway dying between 1 and 3 leaves AwaitStore with the nonce. A
// client that got no PUBREC resends the PUBLISH with DUP set
// [MQTT-4.4.0-1]. The nonce carries the second it was made in, so the new
// gateway looks in the stream for a copy with the recorded Nats-Msg-Id
// stored from then on (Bridge.Stored, direct gets on the topic's subject
// only): found, the message is not published again and PUBREC leaves;
// otherwise it is published with the same Nats-Msg-Id, which JetStream
// would still drop as a duplicate within its window. Subscribers get the
// message once [MQTT-4.3.3-10], however late the client resends. A
// retained copy found stored is stored as retained again unless a newer
// retained message took its place (its gateway may have died between the
// two writes). A client
// that got the PUBREC sends PUBREL, which only a stored message can have
// earned: PUBCOMP [MQTT-4.3.3-11]. A PUBLISH without DUP on an AwaitStore
// id is a new message and gets a new nonce. When the AwaitStore write
// fails, the flow falls back to an AwaitPubrel entry written before the
// PUBREC, as before. Sessions that end with the connection (clean, expiry
// 0) cannot be resumed and record nothing.
//
// Cost: the read loop waits one store write per inbound QoS 2 message of
// a persistent session before handing it to the stream; the AwaitPubrel
// write it replaces went through the writer without stopping the read
// loop. BenchmarkQoS2PublishPersistent (services/gateway, 64 flows open,
// 2-core machine under load): memstore about 20 µs per message either way;
// Redis 115-120 µs per message, against 75-85 µs before.
//
// Outbound (gateway → client): the entry is stored before the PUBLISH
// (AwaitPubrec), moved to AwaitPubcomp before the PUBREL, and a resumed
// session resends each as the spec requires [MQTT-4.4.0-1]. On PUBCOMP the
// session's stream position (LastSeq) is written before the entry is
// deleted: the other order let a crash between the two writes leave a
// completed message below no entry and above LastSeq, which the next
// resume replayed as a new message. And when flows complete out of stream
// order (message 5 completes while 4 is still in flight), LastSeq stays
// below 4, so the entry of 5 is kept (retired) until LastSeq passes it;
// a resume then sends PUBREL for it, which the client answers with PUBCOMP,
// instead of replaying it. At most maxRetired entries are kept; beyond
// that (a client holding one message for very long) completed entries are
// deleted at once and a crash may deliver those again.

// maxRetired bounds the completed outbound QoS 2 entries kept in the
// session store until the stream position passes them.
const maxRetired = 1024

// recordInbound stores the AwaitStore entry of the QoS 2 PUBLISH p and
// gives m the deduplication id it is published with. A resent PUBLISH (DUP)
// of an entry a previous connection recorded keeps that entry's nonce.
// It reports stored when m is a resent copy of a message a previous
// connection already stored: it must not be published again.
func (c *Conn) recordInbound(p *mqtt.Publish, m *bridge.Message) (stored bool, _ CloseReason, _ error) {
	if !c.persistent {
		return false, CloseNone, nil
	}
	nonce, resumed := c.dl().inboundNonce[p.PacketID]
	resent := resumed && p.Dup
	if !resent {
		nonce = newNonce(c.env.now())
	}
	delete(c.dl().inboundNonce, p.PacketID)
	entry := session.Inflight{Direction: session.Inbound, PacketID: p.PacketID, QoS: 2, State: session.AwaitStore, Seq: nonce}
	err := c.storeSync(func(ctx context.Context) error { return c.env.Sessions.PutInflight(ctx, c.key, c.epoch, entry) })
	switch {
	case fenced(err):
		return false, CloseTakenOver, nil
	case errors.Is(err, errConnEnded):
		return false, CloseNone, nil // the read loop sees the Kill next
	case err != nil:
		// Without the entry the flow is recorded at its PUBREC, as an
		// AwaitPubrel entry; only a crash before that could repeat it.
		c.logger().Warn(fmt.Sprintf("could not record QoS 2 message %d of client %s before storing it", p.PacketID, c.key.ClientID), "err", err)
		return false, CloseNone, nil
	}
	m.MsgID = c.key.ClientID + "/" + strconv.FormatUint(nonce, 36)
	if !resent {
		return false, CloseNone, nil
	}
	at, ok := nonceTime(nonce, c.env.now())
	if !ok {
		return false, CloseNone, nil // an entry of an older gateway: JetStream's window decides
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stored, storedAt, err := c.env.Bridge.Stored(ctx, c.key.Tenant, m.Topic, m.MsgID, at.Add(-nonceClockSkew))
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not tell whether QoS 2 message %d, which client %s resent after its gateway was lost, was stored; publishing it again with its deduplication id",
			p.PacketID, c.key.ClientID), "err", err)
		return false, CloseNone, nil
	}
	if !stored {
		return false, CloseNone, nil
	}
	c.logger().Debug(fmt.Sprintf("QoS 2 message %d resent by client %s was stored before its gateway was lost: not publishing it again", p.PacketID, c.key.ClientID))
	if m.Retain {
		c.retainAgain(ctx, m, storedAt)
	}
	return true, CloseNone, nil
}

// retainAgain stores m, a retained QoS 2 message found in the stream at
// storedAt, as the topic's retained message unless one set since then
// holds that place: its gateway may have died between storing it and
// storing it as retained [MQTT-3.3.1-5]. Setting it again when it was
// retained already changes nothing.
func (c *Conn) retainAgain(ctx context.Context, m *bridge.Message, storedAt time.Time) {
	newer, err := c.env.Bridge.RetainedSince(ctx, c.key.Tenant, m.Topic, storedAt.Add(time.Millisecond))
	if err == nil && !newer {
		err = c.env.Bridge.SetRetained(ctx, m)
	}
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not make sure the retained QoS 2 message %q of client %s, resent after its gateway was lost, is retained", m.Topic, c.key.ClientID), "err", err)
	}
}

// A nonce holds the Unix second it was made in above nonceRandomBits
// random bits, and is never 0 (0 means no nonce in the store).
const nonceRandomBits = 20

// nonceClockSkew is how far the clock of the gateway that made a nonce may
// be ahead of the NATS server's that stored the message.
const nonceClockSkew = 30 * time.Second

func newNonce(now time.Time) uint64 {
	return uint64(now.Unix())<<nonceRandomBits | rand.Uint64()&(1<<nonceRandomBits-1) | 1
}

// nonceTime returns when a nonce was made, false for one that holds no
// plausible time (made by a gateway that did not record it).
func nonceTime(nonce uint64, now time.Time) (time.Time, bool) {
	sec := int64(nonce >> nonceRandomBits)
	if sec < 1.5e9 || sec > now.Add(time.Hour).Unix() {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

var errConnEnded = errors.New("conn: connection ended")

// storeSync runs op through the writer, after the store writes queued
// before it, and waits for its result. It returns errConnEnded when the
// connection is killed first.
func (c *Conn) storeSync(op storeOp) error {
	done := make(chan error, 1)
	c.mu.Lock()
	if !c.persistent {
		c.mu.Unlock()
		return nil // nothing is stored for a session that ends with the connection
	}
	if c.stopping {
		c.mu.Unlock()
		return errConnEnded
	}
	c.addOpLocked(func(ctx context.Context) error {
		err := op(ctx)
		done <- err
		return err
	})
	c.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-c.dead.done():
		return errConnEnded
	}
}

// forgetInboundLocked deletes the stored entry of an inbound QoS 2 flow
// that ended without PUBREL (a failure PUBREC).
func (c *Conn) forgetInboundLocked(id uint16) {
	c.addOpLocked(func(ctx context.Context) error {
		return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Inbound, id)
	})
}

// completeOutLocked ends the outbound flow of f (packet id id, already
// out of c.dl().inflight): it advances the stream position and then deletes the
// store entry, except that a completed QoS 2 message the position does not
// cover yet keeps its entry (retired) until the position passes it.
// Callers hold c.mu.
func (c *Conn) completeOutLocked(id uint16, f *outFlight, completed bool) {
	retire := f.seq > 0 && completed && f.qos == 2 && c.persistent && !c.dl().seqBroken && len(c.dl().retired) < maxRetired
	if retire {
		setMap(&c.dl().retired, id, f.seq)
	}
	c.doneSeqLocked(f.seq) // writes the position first, then sweeps the retired entries it passed
	if f.seq > 0 && !retire {
		c.addOpLocked(func(ctx context.Context) error {
			return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Outbound, id)
		})
	}
}

// sweepRetiredLocked deletes the store entries of retired packet ids the
// stream position has passed, after the position's write (queued before).
func (c *Conn) sweepRetiredLocked() {
	for id, seq := range c.dl().retired {
		if seq > c.dl().lastSeq {
			continue
		}
		delete(c.dl().retired, id)
		c.addOpLocked(func(ctx context.Context) error {
			return c.env.Sessions.DeleteInflight(ctx, c.key, c.epoch, session.Outbound, id)
		})
	}
}
