package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Live gap-fill (docs/adr/0007, "Addendum: live gap-fill"). NATS drops
// messages for a subscription whose buffer is full (its slow-consumer
// limit) and only counts them. For a plain subscription the durable
// (QoS 1/2) ones among them are still in the tenant's stream, and the live
// copies of one NATS subscription arrive in stream order, so they can be
// read back and handed to the handler in their place:
//
//   - Before each message, the subscription's delivery goroutine looks at
//     NATS's drop count. When it grew, a recovery window opens: every
//     message NATS dropped so far was stored at or before the stream's last
//     sequence (read now, upTo) and after the last durable message the
//     handler took (from), because a message is dropped when it arrives
//     while the buffer is full, behind everything the handler takes next.
//     (NATS counts the message the handler is taking, so this needs a
//     buffer of at least two messages, which Config.SubscriberPendingLimit
//     enforces and NATS's default of 524,288 gives; and no single message
//     over half of the 64 MiB byte limit, which max_payload, at most
//     64 MiB and 1 MiB by default, makes all but impossible.)
//   - During the window the stored messages of the NATS subscription's
//     stream subject in (from, upTo] are read in sequence order, batch by
//     batch with the stateless direct gets of read.go, and merged with the
//     live ones: before a live durable message with sequence S, every
//     stored message below S not yet handed goes to the handler (it can no
//     longer arrive live: NATS delivers one subscription's messages in
//     order), and the stored copy of S itself is skipped.
//   - The window ends once the handler has taken the messages that NATS
//     held for it when the window opened. Whatever is left of (from, upTo]
//     then goes to the handler at once (dropped at the end of a burst, or
//     still on its way), and a live copy of a sequence already handed is
//     skipped later. If NATS dropped more in the meantime, a new window
//     opens from there.
//
// When the handler has not taken a durable message of the NATS
// subscription yet, from is the sequence of the message it is about to
// take, when that one is durable; otherwise the sequence before the first
// message of the stream subject stored since subscribeSkew before the
// subscription was made (a direct get by start time): in that case only,
// a message stored up to that long before the subscription may reach the
// handler too.
//
// Nothing runs, and nothing is held, while a subscription drops nothing;
// the only cost then is a look at NATS's drop count (a mutex) per message.
// A window costs two stream info requests and one direct get per batch.
// Recovery fails, and OnDrop is called as before, when the stream cannot
// be read or when the tenant's limits removed messages of the window
// (FirstSeq moved past from). Expired messages read back are skipped
// [MQTT-3.3.2-5]. Queue (shared) subscriptions have no gap-fill: each
// member sees only some sequences, so a gap is normal there.

// subscribeSkew is how much earlier than the gateway's clock at Subscribe
// a message's store time (the NATS server's clock) may be and still count
// as stored after the subscription was made: the clocks of a cluster's
// machines differ a little, and a dropped message must never be missed.
const subscribeSkew = time.Second

// gapFill recovers the durable messages NATS dropped for one plain NATS
// subscription. Its fields are owned by that subscription's delivery
// goroutine and used with Subscription.mu held.
type gapFill struct {
	s      *Subscription
	tenant string
	filter string // the MQTT filter, for logs
	since  int64  // UnixNano just before the NATS subscription was made

	dropped int    // NATS's drop count at the last look
	warned  int64  // UnixNano of the last recovery logged as a warning
	live    uint64 // sequence of the last durable message that arrived live
	handed  uint64 // highest sequence handed to the handler, live or read back
	win     *fillWindow
}

// fillWindow is an open recovery window.
type fillWindow struct {
	from      uint64 // the stream is read after it
	upTo      uint64 // and up to it: its last sequence when the window opened
	left      int    // NATS messages the handler takes before the window ends
	drops     int    // NATS drops the window recovers from
	seen      int    // NATS's drop count when upTo was read
	most      int    // largest batch to ask for
	cur       cursor // position of the read in (from, upTo]
	recovered int    // messages read back and handed to the handler
	removed   bool   // the tenant's limits removed messages after from
}

// admit runs before the handler takes a message that arrived on ns, with
// its stream sequence (0 for QoS 0 messages and batches): it looks at
// NATS's drop count, hands h the recovered messages that come before seq,
// and reports whether the message itself goes to h (false: it was already
// read back from the stream and handed).
func (g *gapFill) admit(ns *nats.Subscription, seq uint64, h Handler) bool {
	if d, err := ns.Dropped(); err == nil && d > g.dropped {
		g.observe(ns, d, seq)
	}
	if seq == 0 {
		return true
	}
	if seq <= g.live {
		// Sequences went back: the stream was deleted and made again.
		// Nothing read from the old one applies any more.
		g.abandon(errors.New("the tenant's stream started its sequences again"))
		g.handed = 0
	}
	g.live = seq
	if g.win != nil {
		g.recoverBefore(ns, seq, h)
	}
	if seq <= g.handed {
		return false
	}
	g.handed = seq
	return true
}

// taken runs after the handler took a message that arrived on ns.
func (g *gapFill) taken(ns *nats.Subscription, h Handler) {
	if g.win == nil {
		return
	}
	if g.win.left--; g.win.left > 0 {
		return
	}
	g.finish(ns, h)
}

// observe records that NATS's drop count grew to d, before the handler
// takes a message with sequence seq, and opens a window unless one is open
// (its end looks again).
func (g *gapFill) observe(ns *nats.Subscription, d int, seq uint64) {
	n := d - g.dropped
	g.dropped = d
	if g.win != nil {
		return
	}
	from := g.handed
	if from == 0 {
		// The drops came after the message about to be taken: it was in
		// the buffer when they happened. Without a sequence there, open
		// looks the start up by the subscription's time.
		from = seq
	}
	pending, _, err := ns.Pending() // the message about to be taken included
	if err != nil {
		return // unsubscribed meanwhile
	}
	g.open(ns, from, n, pending)
}

// open starts a window reading (from, the stream's last sequence] of the
// stream subject matching ns's subject. from 0 means the NATS subscription
// has not taken a durable message yet: the window then starts at the first
// message stored since subscribeSkew before the subscription was made.
func (g *gapFill) open(ns *nats.Subscription, from uint64, drops, left int) {
	ctx := context.Background()
	state, err := g.s.b.freshState(ctx, g.tenant)
	if errors.Is(err, jetstream.ErrStreamNotFound) && from == 0 {
		// The tenant never stored a durable message: all the drops
		// were QoS 0 messages.
		g.recovered(&fillWindow{drops: drops})
		return
	}
	if err != nil {
		g.fail(drops, fmt.Errorf("read the stream's state: %w", err))
		return
	}
	subj := durableSubject(g.tenant, ns.Subject)
	if from == 0 {
		first, err := g.s.b.firstSince(ctx, g.tenant, subj, time.Unix(0, g.since).Add(-subscribeSkew))
		switch {
		case errors.Is(err, ErrNotFound):
			from = state.LastSeq // nothing stored for it since
		case err != nil:
			g.fail(drops, fmt.Errorf("look up the first message since the subscription was made: %w", err))
			return
		default:
			from = first - 1
		}
	}
	w := &fillWindow{from: from, upTo: state.LastSeq, left: max(left, 1), drops: drops, seen: g.dropped}
	w.removed = state.FirstSeq > from+1
	w.cur = cursor{subject: subj, next: from + 1, done: state.LastSeq <= from}
	if !w.cur.done {
		w.most = int(min(state.LastSeq-from, maxBatch))
		w.cur.batch = min(firstBatch, w.most)
	}
	g.win = w
}

// recoverBefore hands h the messages of the window below seq, reading
// more of the stream as needed, and skips the stored copy of seq.
func (g *gapFill) recoverBefore(ns *nats.Subscription, seq uint64, h Handler) {
	w := g.win
	now := time.Now()
	for {
		c := &w.cur
		if len(c.buf) == 0 {
			if c.done || c.next >= seq {
				return
			}
			if err := g.read(); err != nil {
				g.abandon(fmt.Errorf("read the stream: %w", err))
				return
			}
			continue
		}
		msg, s := c.buf[0], c.seqs[0]
		if s > seq {
			return
		}
		c.buf[0] = nil
		c.buf, c.seqs = c.buf[1:], c.seqs[1:]
		if s == seq || s <= g.handed {
			continue // the live copy, or handed already
		}
		if !ns.IsValid() {
			g.win = nil // unsubscribed: nothing more goes to the handler
			return
		}
		g.handed = s
		m, err := decodeStored(g.tenant, msg, s)
		if err != nil {
			g.s.b.log.Warn("skipped a malformed durable message while recovering messages NATS dropped", "tenant_id", g.tenant, "seq", s, "err", err)
			continue
		}
		if m.Expired(now) {
			continue // [MQTT-3.3.2-5]
		}
		w.recovered++
		h(m)
	}
}

// read fetches the window's next batch.
func (g *gapFill) read() error {
	w := g.win
	r, err := g.s.b.newReplies(w.cur.batch + 16)
	if err != nil {
		return err
	}
	defer r.close()
	sc := scanner{b: g.s.b, api: directGetAPI + queueStream(g.tenant), r: r, most: w.most, upTo: w.upTo}
	err = sc.fill(context.Background(), &w.cur)
	if errors.Is(err, errNoStream) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// finish ends the window: whatever is left of it goes to h now, and a new
// window opens when NATS dropped more since it opened.
func (g *gapFill) finish(ns *nats.Subscription, h Handler) {
	for g.win != nil {
		w := g.win
		g.recoverBefore(ns, w.upTo+1, h)
		if g.win == nil {
			return // abandoned (reported) or unsubscribed
		}
		g.handed = max(g.handed, w.upTo) // later live copies up to it are skipped
		g.win = nil
		if state, err := g.s.b.freshState(context.Background(), g.tenant); err != nil {
			g.fail(w.drops, fmt.Errorf("read the stream's state to check that nothing was removed meanwhile: %w", err))
		} else if w.removed || state.FirstSeq > w.from+1 {
			g.fail(w.drops, errors.New("the tenant's queue limits removed messages of the stream before they could be read"))
		} else {
			g.recovered(w)
		}
		if d, err := ns.Dropped(); err == nil && d > g.dropped {
			g.dropped = d
		}
		if g.dropped <= w.seen {
			return
		}
		pending, _, err := ns.Pending()
		if err != nil {
			return
		}
		left := pending - 1 // NATS still counts the message just taken
		g.open(ns, g.handed, g.dropped-w.seen, left)
		if left > 0 {
			return
		}
		// Nothing buffered: the new window ends at once.
	}
}

// abandon ends the open window without reading the rest of it and reports
// its drops through OnDrop.
func (g *gapFill) abandon(err error) {
	if w := g.win; w != nil {
		g.win = nil
		g.fail(w.drops, err)
	}
}

// fail reports n drops whose QoS 1/2 messages may not all have been
// recovered: it logs why and calls the subscription's OnDrop function.
func (g *gapFill) fail(n int, err error) {
	g.s.b.log.Warn(fmt.Sprintf("NATS dropped %d messages for the subscription to %q of tenant %s because this gateway fell behind it, and the QoS 1 and 2 messages among them could not all be read back from the tenant's stream", n, g.filter, g.tenant),
		"tenant_id", g.tenant, "filter", g.filter, "dropped", n, "err", err)
	if f := g.s.onDrop.Load(); f != nil {
		(*f)(n)
	}
}

// recovered logs a window that recovered every durable message: as a
// warning at most once a second (a subscription that stays behind opens
// many), the others at debug level.
func (g *gapFill) recovered(w *fillWindow) {
	level, now := slog.LevelDebug, time.Now().UnixNano()
	if now-g.warned >= int64(time.Second) {
		level, g.warned = slog.LevelWarn, now
	}
	g.s.b.log.Log(context.Background(), level, fmt.Sprintf("NATS dropped %d messages for the subscription to %q of tenant %s because this gateway fell behind it; the QoS 1 and 2 ones among them were read back from the tenant's stream and delivered in order (%d messages read back, counting those still on their way when the stream was read), and the QoS 0 ones are lost", w.drops, g.filter, g.tenant, w.recovered),
		"tenant_id", g.tenant, "filter", g.filter, "dropped", w.drops, "recovered", w.recovered)
}

// durableSubject returns the stream subject whose messages the stream
// republishes to the live subject subj of tenant: subject.Filter maps a
// filter the same way under either root, and live subjects have one more
// token (the class of the message, '*' in a subscription).
func durableSubject(tenant, subj string) string {
	return durableRoot + tenant + "." + strings.TrimPrefix(subj, liveRoot+tenant+".*.")
}

// firstSince returns the sequence of tenant's first durable message on
// subj stored at or after t, or an error wrapping ErrNotFound when there
// is none.
func (b *Bridge) firstSince(ctx context.Context, tenant, subj string, t time.Time) (uint64, error) {
	t = t.UTC()
	msg, err := b.directGet(ctx, queueStream(tenant), directRequest{NextBySubj: subj, StartTime: &t})
	if err != nil {
		return 0, err
	}
	seq := seqHeader(msg)
	if seq == 0 {
		return 0, fmt.Errorf("direct get from %s: message without sequence", queueStream(tenant))
	}
	return seq, nil
}
