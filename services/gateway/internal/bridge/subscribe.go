package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/pkg/subject"
)

// Handler receives the messages of a Subscription. It owns m.
type Handler func(m *Message)

// Subscription is one logical subscription of the Bridge, possibly made of
// several NATS subscriptions. Its handler calls are sequential.
type Subscription struct {
	b       *Bridge
	subs    []*nats.Subscription
	watches []*backlogWatch // one per subs entry
	onDrop  atomic.Pointer[func(n int)]

	mu sync.Mutex // held while a handler runs: calls are sequential

	once sync.Once
	err  error // result of the first Unsubscribe
}

// Subscribe delivers to h every message published in tenant to a topic
// matching the MQTT filter, from this and every other gateway: QoS 0
// messages with Seq 0 and durable ones with their stream sequence. The
// filter must be valid and without its $share/{group}/ prefix; a non-empty
// queueGroup makes this a NATS queue subscription, so each message goes to
// one member of the group across all gateways (MQTT shared subscriptions).
// Every call creates NATS subscriptions: the caller reference-counts and
// calls Subscribe once per distinct (tenant, filter, group). When Subscribe
// returns, the NATS server it is connected to knows the interest, so any
// later publish to it is delivered (other servers of a cluster learn it
// within their route propagation delay). On a plain subscription h gets
// every durable message once, in stream order, even when NATS drops some
// because h fell behind: they are read back from the tenant's stream and
// handed to h in their place (see OnDrop).
func (b *Bridge) Subscribe(tenant, filter, queueGroup string, h Handler) (*Subscription, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("bridge: subscribe: nil handler")
	}
	if queueGroup != "" && (!validToken(queueGroup) || queueGroup[0] == '_') {
		// Group names are MQTT strings: anything but a safe token not
		// starting with '_' is hashed into one that does, so a hashed name
		// never equals a name used as is.
		queueGroup = "_" + strconv.FormatUint(fnv64(queueGroup), 36)
	}
	s := &Subscription{b: b}
	nc := b.nc
	if queueGroup == "" {
		nc = b.liveConn()
	}
	ts := b.tenant(tenant)
	since := time.Now().UnixNano() // before the interest exists (gapfill.go)
	// A plain subscription takes both classes of live messages, QoS 0 ("m")
	// and durable ("q"), on one NATS subscription per subject, and reads
	// back the durable ones NATS drops (gapfill.go). A queue subscription
	// cannot tell a message NATS dropped from one it gave another member,
	// so it takes each class on a NATS subscription of its own, and the
	// durable one has no pending limit: NATS never drops a durable message
	// for it, and the tenant's publishers wait while it is behind
	// (backlogWatch), which bounds its buffer instead. QoS 0 messages may
	// still be dropped; MQTT orders messages per topic and QoS only
	// [MQTT-4.6.0-6], so the two classes need no common order.
	classes := []string{".*"}
	if queueGroup != "" {
		classes = []string{".m", ".q"}
	}
	for _, class := range classes {
		for _, subj := range subject.Filter(liveRoot+tenant+class, filter) {
			w := &backlogWatch{tenant: ts, tenantID: tenant, mark: b.cfg.SubscriberBacklog, owner: s, qos0: class == ".m"}
			var g *gapFill
			if queueGroup == "" {
				w.fill = gapFill{s: s, tenant: tenant, filter: filter, since: since}
				g = &w.fill
			}
			cb := func(msg *nats.Msg) {
				s.deliver(tenant, msg, h, g)
				w.handled.Add(1)
				w.delivered()
			}
			var ns *nats.Subscription
			var err error
			if queueGroup != "" {
				ns, err = nc.QueueSubscribe(subj, queueGroup, cb)
			} else {
				ns, err = nc.Subscribe(subj, cb)
			}
			switch {
			case err != nil:
			case b.cfg.SubscriberPendingLimit > 0:
				err = ns.SetPendingLimits(b.cfg.SubscriberPendingLimit, nats.DefaultSubPendingBytesLimit)
			case class == ".q":
				err = ns.SetPendingLimits(-1, -1)
			}
			if err != nil {
				if ns != nil {
					_ = ns.Unsubscribe()
				}
				s.unsubscribe()
				return nil, fmt.Errorf("bridge: subscribe to %q of tenant %s: %w", filter, tenant, classify(err))
			}
			w.sub = ns
			s.subs = append(s.subs, ns)
			s.watches = append(s.watches, w)
		}
	}
	if len(s.subs) == 0 {
		return nil, fmt.Errorf("bridge: subscribe to %q of tenant %s: the filter maps to no subject", filter, tenant)
	}
	if err := nc.FlushTimeout(b.cfg.PublishTimeout); err != nil {
		s.unsubscribe()
		return nil, fmt.Errorf("bridge: subscribe to %q of tenant %s: %w", filter, tenant, classify(err))
	}
	if err := b.track(s); err != nil {
		s.unsubscribe()
		return nil, err
	}
	return s, nil
}

// deliver hands the message msg carries to h. g, for a plain
// subscription, recovers the durable messages NATS dropped before it
// (gapfill.go).
func (s *Subscription) deliver(tenant string, msg *nats.Msg, h Handler, g *gapFill) {
	if len(msg.Data) > 0 && msg.Data[0] == envelopeBatch {
		s.deliverBatch(tenant, msg, h, g)
		return
	}
	m := new(Message)
	if err := DecodeMessage(msg.Data, m); err != nil {
		s.b.log.Warn("dropped a message that is not a valid envelope", "tenant_id", tenant, "subject", msg.Subject, "err", err)
		if g == nil {
			return
		}
		m = nil // still counted by the gap-fill
	} else {
		m.Tenant = tenant
		m.Seq = seqHeader(msg)
		m.Trace = traceOf(msg.Header)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g == nil {
		h(m)
		return
	}
	var seq uint64
	if m != nil {
		seq = m.Seq
	}
	if g.admit(msg.Sub, seq, h) && m != nil {
		h(m)
	}
	g.taken(msg.Sub, h)
}

// deliverBatch hands each message of a batch envelope to h, in order. A
// malformed entry ends the batch: its length can no longer be trusted.
// Batches hold QoS 0 messages only.
func (s *Subscription) deliverBatch(tenant string, msg *nats.Msg, h Handler, g *gapFill) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g != nil {
		g.admit(msg.Sub, 0, h)
		defer g.taken(msg.Sub, h)
	}
	for i, b := 0, msg.Data[1:]; len(b) > 0; i++ {
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			s.b.log.Warn("dropped the rest of a message batch whose length is invalid", "tenant_id", tenant, "subject", msg.Subject, "index", i)
			return
		}
		env := b[n : n+int(size) : n+int(size)]
		b = b[n+int(size):]
		m := new(Message)
		if err := DecodeMessage(env, m); err != nil {
			s.b.log.Warn("dropped a message of a batch that is not a valid envelope", "tenant_id", tenant, "subject", msg.Subject, "index", i, "err", err)
			continue
		}
		m.Tenant = tenant
		h(m)
	}
}

// Local back-pressure on durable publishes: while one of a tenant's
// subscriptions on this gateway has more than Config.SubscriberBacklog
// messages that NATS delivered and its handler has not taken yet, the
// tenant's QoS 1/2 publishers on this gateway wait (at most behindWait per
// publish, see PublishAsync) until it is back under a quarter of that.
// Without it, durable publishes acknowledged faster than a subscriber's
// handler keeps up fill the subscription's buffer until NATS drops
// messages (its slow-consumer limit: 512k messages or 64 MiB). The buffer
// is looked at every behindEvery messages.
const (
	defaultSubscriberBacklog = 8192
	behindEvery              = 64
	behindWait               = time.Second
	behindStep               = 200 * time.Microsecond
)

// backlogWatch follows the backlog of one NATS subscription.
type backlogWatch struct {
	mark      int // Config.SubscriberBacklog
	tenant    *tenantStreams
	tenantID  string
	owner     *Subscription
	announced atomic.Int64 // UnixNano when the backlog was last told to the other gateways
	sub       *nats.Subscription
	n         uint32      // messages handled; only the delivery goroutine counts
	dropped   int         // NATS's drop count at the last look
	behind    atomic.Bool // counted in tenant.behind
	// fill recovers the durable messages NATS drops for a plain
	// subscription (gapfill.go), which then reports drops through OnDrop
	// only when that fails; unused (fill.s nil) for a queue subscription.
	fill gapFill
	// qos0: the NATS subscription takes only QoS 0 messages (a queue
	// subscription's "m" class): its drops are logged, not reported
	// through OnDrop, as no durable message is among them.
	qos0 bool
	// handled counts the NATS messages the handler has finished with
	// (Mark); written by the delivery goroutine, read by anyone.
	handled atomic.Uint64
}

// delivered runs after each message the subscription's handler took.
func (w *backlogWatch) delivered() {
	w.n++
	if w.n%behindEvery != 0 || w.sub == nil {
		return
	}
	if w.fill.s == nil {
		if d, err := w.sub.Dropped(); err == nil && d > w.dropped {
			n := d - w.dropped
			w.dropped = d
			if w.qos0 {
				w.owner.b.log.Warn(fmt.Sprintf("NATS dropped %d QoS 0 messages for a shared subscription of tenant %s on subject %s: this gateway's members of the group fell behind", n, w.tenantID, w.sub.Subject),
					"tenant_id", w.tenantID, "subject", w.sub.Subject, "dropped", n)
			} else if f := w.owner.onDrop.Load(); f != nil {
				(*f)(n)
			}
		}
	}
	pending, _, err := w.sub.Pending()
	if err != nil {
		return
	}
	switch {
	case pending > w.mark:
		if w.behind.CompareAndSwap(false, true) {
			w.tenant.behind.Add(1)
			w.announce(true)
		} else if time.Now().UnixNano()-w.announced.Load() > int64(behindRenew) {
			w.announce(true) // still behind: the other gateways keep holding
		}
	case pending < w.mark/4:
		w.caughtUp()
	}
}

// announce tells the other gateways (behind.go).
func (w *backlogWatch) announce(behind bool) {
	w.announced.Store(time.Now().UnixNano())
	w.owner.b.announce(w.tenantID, behind)
}

// caughtUp takes the subscription out of its tenant's backlog count, and
// tells the other gateways when it was the tenant's last one behind.
func (w *backlogWatch) caughtUp() {
	if w.behind.CompareAndSwap(true, false) {
		if w.tenant.behind.Add(-1) == 0 {
			w.announce(false)
		}
	}
}

// caughtUp takes every NATS subscription of s out of the backlog counts
// (s is ending).
func (s *Subscription) caughtUp() {
	for _, w := range s.watches {
		w.caughtUp()
	}
}

// waitCaughtUp holds a durable publish of ts's tenant while one of its
// subscriptions, here or on another gateway, is behind, at most behindWait
// or until ctx ends.
func waitCaughtUp(ctx context.Context, ts *tenantStreams) {
	ts.held.Add(1)
	for waited := time.Duration(0); ts.holding() && waited < behindWait && ctx.Err() == nil; waited += behindStep {
		time.Sleep(behindStep)
	}
}

// seqHeader returns the stream sequence a republished or directly read
// message carries, 0 when none.
func seqHeader(msg *nats.Msg) uint64 {
	if len(msg.Header) == 0 {
		return 0
	}
	v := msg.Header.Get(nats.JSSequence)
	if v == "" {
		return 0
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return seq
}

// Mark is a point in the flow of a Subscription's durable messages, taken
// with Subscription.Mark: one target count per NATS subscription.
type Mark []uint64

// Mark appends to dst a point past every durable message NATS has queued
// for s so far. Once Passed reports true for it, the handler has finished
// with all of them. With several NATS subscriptions, each delivers in
// stream order but not in step with the others, so a message handed to
// the client through one may be newer than one still queued in another:
// a session must not record its stream position past the first before
// the other subscriptions have passed a Mark taken then.
func (s *Subscription) Mark(dst Mark) Mark {
	for _, w := range s.watches {
		if w.qos0 {
			dst = append(dst, 0) // carries no durable message
			continue
		}
		// Pending before handled: a message finished between the two
		// reads is counted twice (a target one too high, which Passed
		// forgives once nothing is queued), never not at all. NATS counts
		// a message as pending until its handler has returned.
		p, _, err := w.sub.Pending()
		if err != nil {
			dst = append(dst, 0) // closed: it hands nothing more
			continue
		}
		dst = append(dst, uint64(p)+w.handled.Load())
	}
	return dst
}

// Passed reports whether the handler has finished with every message
// queued when m was taken (Mark). A NATS subscription with nothing queued
// has passed any mark; one that ended before its handler finished with
// them has not (the messages it still held are gone, not handed over).
func (s *Subscription) Passed(m Mark) bool {
	for i, w := range s.watches {
		if i >= len(m) || w.handled.Load() >= m[i] {
			continue
		}
		if p, _, err := w.sub.Pending(); err == nil && p == 0 {
			continue
		}
		return false
	}
	return true
}

// Streams reports how many NATS subscriptions carry s's durable messages.
// With one, its messages reach the handler in stream order and no Mark is
// needed.
func (s *Subscription) Streams() int {
	n := 0
	for _, w := range s.watches {
		if !w.qos0 {
			n++
		}
	}
	return n
}

// OnDrop makes the subscription call f, in its delivery goroutine, when
// NATS dropped messages for it (because its handler fell too far behind,
// see Dropped) and QoS 1/2 messages among them may not have reached the
// handler: n is how many NATS dropped. A plain subscription reads the
// durable messages NATS dropped back from the tenant's stream and hands
// them to the handler in order (gapfill.go), and calls f only when that
// failed: the stream could not be read, the tenant's limits had removed
// messages first, or the drops came before the subscription's first
// durable message. A queue subscription cannot tell a dropped message
// from one NATS gave another member of its group, so it calls f for every
// drop it sees (it looks every 64 messages). Messages still in the
// tenant's stream are there for whoever replays from before them.
func (s *Subscription) OnDrop(f func(n int)) { s.onDrop.Store(&f) }

// Dropped returns the number of messages NATS dropped because the handler
// fell too far behind (the connection's pending limits for one
// subscription, 512k messages or 64 MiB by default). On a plain
// subscription the QoS 1/2 ones among them are read back from the stream
// (see OnDrop); every QoS 0 one is lost.
func (s *Subscription) Dropped() int {
	n := 0
	for _, ns := range s.subs {
		if d, err := ns.Dropped(); err == nil {
			n += d
		}
	}
	return n
}

// Unsubscribe ends the subscription at once; messages not yet handed to the
// handler are dropped. It is idempotent.
func (s *Subscription) Unsubscribe() error {
	s.b.untrack(s)
	return s.unsubscribe()
}

func (s *Subscription) unsubscribe() error {
	defer s.caughtUp()
	s.once.Do(func() {
		var errs []error
		for _, ns := range s.subs {
			if err := ns.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrBadSubscription) && !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, err)
			}
		}
		s.err = errors.Join(errs...)
	})
	return s.err
}

// drain lets the handler finish the messages already received, waiting
// until timeout fires at the latest.
func (s *Subscription) drain(timeout <-chan time.Time) error {
	var err error
	defer s.caughtUp()
	s.once.Do(func() {
		var errs []error
		var waits []<-chan nats.SubStatus
		for _, ns := range s.subs {
			ch := ns.StatusChanged(nats.SubscriptionClosed)
			if err := ns.Drain(); err != nil {
				if !errors.Is(err, nats.ErrBadSubscription) && !errors.Is(err, nats.ErrConnectionClosed) {
					errs = append(errs, err)
				}
				continue
			}
			waits = append(waits, ch)
		}
		for _, ch := range waits {
			select {
			case <-ch:
			case <-timeout:
				errs = append(errs, errors.New("bridge: close: subscription not drained in time"))
			}
		}
		s.err = errors.Join(errs...)
		err = s.err
	})
	return err
}

// validToken reports whether s is usable as is as a NATS queue group.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// fnv64 is FNV-1a.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Kick is a session takeover notice: the gateway receiving it closes the
// named session's network connection because another gateway took the
// session over with a newer epoch.
type Kick struct {
	Tenant   string
	ClientID string
	Epoch    uint64 // the new owner's session epoch
	Reason   byte   // MQTT reason code for the DISCONNECT, e.g. 0x8E session taken over
}

const kickVersion = 1

func (k Kick) encode() []byte {
	buf := make([]byte, 0, 16+len(k.Tenant)+len(k.ClientID))
	buf = append(buf, kickVersion, k.Reason)
	buf = binary.AppendUvarint(buf, k.Epoch)
	buf = appendStr(buf, k.Tenant)
	return appendStr(buf, k.ClientID)
}

func decodeKick(b []byte) (Kick, error) {
	var k Kick
	if len(b) < 2 || b[0] != kickVersion {
		return k, errors.New("bridge: malformed kick notice")
	}
	k.Reason = b[1]
	d := decoder{b: b, i: 2}
	k.Epoch = d.uvarint()
	tenant, client := d.field(), d.field()
	if d.err != nil || d.i != len(b) {
		return k, errors.New("bridge: malformed kick notice")
	}
	k.Tenant = string(b[tenant.from:tenant.to])
	k.ClientID = string(b[client.from:client.to])
	return k, nil
}

func kickSubject(gatewayID string) string { return gatewayRoot + gatewayID + ".kick" }

// Kick tells gateway gatewayID to close the connection of k's session. The
// notice is a request: Kick returns nil once that gateway's OnKick handler
// has run, an error wrapping ErrNotFound when no gateway with that id is
// listening (it is gone, and its connections with it), and one wrapping
// ErrUnavailable on timeout. The wait is bounded by ctx and PublishTimeout.
func (b *Bridge) Kick(ctx context.Context, gatewayID string, k Kick) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := checkTenant(k.Tenant); err != nil {
		return err
	}
	if !validToken(gatewayID) {
		return fmt.Errorf("bridge: kick: invalid gateway id %q", gatewayID)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	_, err := b.nc.RequestWithContext(ctx, kickSubject(gatewayID), k.encode())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("bridge: kick client %s of tenant %s on gateway %s: %w: no such gateway is listening", k.ClientID, k.Tenant, gatewayID, ErrNotFound)
	default:
		return fmt.Errorf("bridge: kick client %s of tenant %s on gateway %s: %w", k.ClientID, k.Tenant, gatewayID, classify(err))
	}
}

// OnKick calls h for every Kick sent to this gateway, one at a time, and
// answers the sender once h returns.
func (b *Bridge) OnKick(h func(Kick)) (*Subscription, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if h == nil {
		return nil, errors.New("bridge: on kick: nil handler")
	}
	s := &Subscription{b: b}
	ns, err := b.nc.Subscribe(kickSubject(b.cfg.GatewayID), func(msg *nats.Msg) {
		k, err := decodeKick(msg.Data)
		if err != nil {
			b.log.Warn("ignored a malformed session takeover notice", "err", err)
			return
		}
		s.mu.Lock()
		h(k)
		s.mu.Unlock()
		if err := msg.Respond(nil); err != nil {
			b.log.Debug("could not acknowledge a session takeover notice", "tenant_id", k.Tenant, "client_id", k.ClientID, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: subscribe to takeover notices: %w", classify(err))
	}
	s.subs = []*nats.Subscription{ns}
	if err := b.nc.FlushTimeout(b.cfg.PublishTimeout); err != nil {
		s.unsubscribe()
		return nil, fmt.Errorf("bridge: subscribe to takeover notices: %w", classify(err))
	}
	if err := b.track(s); err != nil {
		s.unsubscribe()
		return nil, err
	}
	return s, nil
}
