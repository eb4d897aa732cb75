package router

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// Delivery is what a client needs to send one message: the merged options
// of its subscriptions that matched.
type Delivery struct {
	QoS    byte     // the largest QoS of the matching subscriptions
	Retain bool     // the message's retain flag, when retain-as-published applies
	SubIDs []uint32 // subscription identifiers of the matching subscriptions
	Shared bool     // through a shared subscription
	Share  string   // for a shared delivery, its key as subscribed: $share/{group}/{filter}
}

// Client receives messages. Deliver must not block: it queues.
type Client interface {
	Deliver(m *bridge.Message, d Delivery)
	// Lost tells the client that messages of one of its subscriptions
	// were lost before they reached the gateway (NATS dropped them for a
	// subscription that fell behind, and the bridge could not read the
	// QoS 1/2 ones back): a session must not record itself as having
	// seen the stream past them. It must not block.
	Lost()
}

// Sub is one local subscription: a client and its options. Its address is
// its identity in the tree, so replacing a subscription means adding a new
// Sub and removing the old one.
type Sub struct {
	Client   Client
	ClientID string
	Options  session.Subscription // Options.Filter is the key, $share prefix included
	shared   bool
	// subs counts the client's subscriptions in the tenant (shared by all
	// of them): a message matching a Sub whose client has one subscription
	// needs no merging with others.
	subs atomic.Pointer[atomic.Int32]
}

// Subscriber is the upstream the Router subscribes through; *bridge.Bridge
// implements it.
type Subscriber interface {
	Subscribe(tenant, filter, queueGroup string, h bridge.Handler) (*bridge.Subscription, error)
}

// Router is the local subscription table of one gateway.
type Router struct {
	up  Subscriber
	log *slog.Logger

	mu sync.Mutex // serialises the creation of tenants' entries
	// tenants maps a tenant id to its *tenantSubs; entries are never
	// removed. A sync.Map: every message looks its tenant up, and its
	// reads share no written memory between cores, unlike a read lock.
	tenants sync.Map
}

// tenantSubs is one tenant's subscriptions.
type tenantSubs struct {
	tenant string
	tree   topic.Tree[*Sub]

	mu       sync.Mutex // serialises Add/Remove with their upstream changes; guards upstream
	upstream map[string]*upstream
	clients  map[Client]*atomic.Int32 // subscriptions per client; guarded by mu
	// active mirrors the established plain keys for the delivery path,
	// which must not take mu.
	active sync.Map // key → *upstream
}

// upstream is the bridge subscription of one key.
type upstream struct {
	sub  *bridge.Subscription
	next atomic.Uint32 // round-robin position of a shared key
}

// New returns a Router subscribing through up.
func New(up Subscriber, log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{up: up, log: log.With("component", "router")}
}

func (r *Router) tenant(tenant string) *tenantSubs {
	if t := r.lookup(tenant); t != nil {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.lookup(tenant); t != nil {
		return t
	}
	t := &tenantSubs{tenant: tenant, upstream: make(map[string]*upstream), clients: make(map[Client]*atomic.Int32)}
	r.tenants.Store(tenant, t)
	return t
}

// lookup returns the subscriptions of tenant, nil when it never had any.
func (r *Router) lookup(tenant string) *tenantSubs {
	if v, ok := r.tenants.Load(tenant); ok {
		return v.(*tenantSubs)
	}
	return nil
}

// Add subscribes s in tenant. When s is the first subscription of its key,
// Add subscribes upstream first and fails if that fails, leaving nothing
// behind.
func (r *Router) Add(tenant string, s *Sub) error {
	key := s.Options.Filter
	group, inner, shared, err := topic.ParseShared(key)
	if err != nil {
		return fmt.Errorf("router: subscribe: %w", err)
	}
	if !shared {
		inner = key
		if err := topic.ValidateFilter(key); err != nil {
			return fmt.Errorf("router: subscribe: %w", err)
		}
	}
	s.shared = shared
	t := r.tenant(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.countLocked(s, 1)
	if !t.tree.Add(key, s) {
		return nil
	}
	u := &upstream{}
	sub, err := r.up.Subscribe(tenant, inner, group, func(m *bridge.Message) { r.deliver(t, key, shared, u, m) })
	if err != nil {
		t.tree.Remove(key, s)
		t.countLocked(s, -1)
		return fmt.Errorf("router: subscribe to %q: %w", key, err)
	}
	sub.OnDrop(func(n int) { r.lost(t, key, n) })
	u.sub = sub
	t.upstream[key] = u
	if !shared {
		t.active.Store(key, u)
	}
	return nil
}

// countLocked adds delta to the subscription count of s's client and
// points s at it.
func (t *tenantSubs) countLocked(s *Sub, delta int32) {
	n := t.clients[s.Client]
	if n == nil {
		n = new(atomic.Int32)
		t.clients[s.Client] = n
	}
	if s.subs.Load() != n {
		s.subs.Store(n)
	}
	if n.Add(delta) <= 0 {
		delete(t.clients, s.Client)
	}
}

// Remove unsubscribes s. It reports whether s was subscribed. Removing the
// last subscription of a key ends its upstream subscription.
func (r *Router) Remove(tenant string, s *Sub) bool {
	key := s.Options.Filter
	t := r.tenant(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	removed, last := t.tree.Remove(key, s)
	if removed {
		t.countLocked(s, -1)
	}
	if !last {
		return removed
	}
	u := t.upstream[key]
	delete(t.upstream, key)
	t.active.Delete(key)
	if u != nil && u.sub != nil {
		if err := u.sub.Unsubscribe(); err != nil && !errors.Is(err, bridge.ErrClosed) {
			r.log.Warn("could not end the NATS subscription of a filter nobody uses any more",
				"tenant_id", tenant, "filter", key, "err", err)
		}
	}
	return removed
}

// Upstream returns the bridge subscription through which the plain
// (non-shared) subscriptions to key in tenant receive their messages, nil
// when there is none. It takes no lock.
func (r *Router) Upstream(tenant, key string) *bridge.Subscription {
	t := r.lookup(tenant)
	if t == nil {
		return nil
	}
	if v, ok := t.active.Load(key); ok {
		return v.(*upstream).sub
	}
	return nil
}

// Upstreams reports how many upstream subscriptions tenant holds.
func (r *Router) Upstreams(tenant string) int {
	t := r.tenant(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.upstream)
}

// lost tells every local subscriber of key that n messages for it were
// dropped by NATS and that QoS 1/2 ones among them may not have been
// delivered: the bridge could not read them back from the tenant's stream,
// or key is a shared subscription, whose gaps it cannot tell from messages
// for other members (bridge.Subscription.OnDrop).
func (r *Router) lost(t *tenantSubs, key string, n int) {
	vals := t.tree.Values(key, nil)
	r.log.Warn(fmt.Sprintf("NATS dropped %d messages for the subscriptions to %q of tenant %s because this gateway fell behind them, and the QoS 1 and 2 ones among them could not be delivered now: QoS 0 ones are lost, persistent sessions get the QoS 1 and 2 ones still in the tenant's stream when they resume, clean sessions do not get them", n, key, t.tenant),
		"tenant_id", t.tenant, "filter", key, "dropped", n, "subscribers", len(vals))
	for _, s := range vals {
		s.Client.Lost()
	}
}

// deliver handles one copy of m that arrived through key.
func (r *Router) deliver(t *tenantSubs, key string, shared bool, u *upstream, m *bridge.Message) {
	if shared {
		var buf [8]*Sub
		vals := t.tree.Values(key, buf[:0])
		if len(vals) == 0 {
			return
		}
		s := vals[int(u.next.Add(1)-1)%len(vals)]
		d := Delivery{QoS: s.Options.QoS, Shared: true, Share: key}
		if s.Options.RetainAsPublished {
			d.Retain = m.Retain
		}
		if s.Options.SubscriptionID != 0 {
			d.SubIDs = []uint32{s.Options.SubscriptionID}
		}
		s.Client.Deliver(m, d)
		return
	}
	if !t.canonical(key, m.Topic) {
		return
	}
	t.fanOut(m)
}

// DeliverLocal delivers a message published on this gateway to its local
// plain subscribers, once per client with the merged options of the
// client's matching subscriptions. It is the bridge's LocalHandler
// (bridge.DeliverLocally): NATS does not echo such messages back, so
// DeliverLocal replaces the copy the upstream subscriptions would have
// received. Shared subscriptions are left to NATS queue groups, which
// include this gateway's members.
func (r *Router) DeliverLocal(m *bridge.Message) {
	if t := r.lookup(m.Tenant); t != nil {
		t.fanOut(m)
	}
}

// fanOut delivers m to every local client with a plain subscription
// matching its topic.
func (t *tenantSubs) fanOut(m *bridge.Message) {
	sc := scratches.Get().(*scratch)
	vals := t.tree.Match(m.Topic, sc.subs[:0])
	targets := sc.targets[:0]
	merged := sc.merged[:0] // indexes in targets of clients with several subscriptions
	var index map[Client]int
	for _, s := range vals {
		if s.shared {
			continue
		}
		if s.Options.NoLocal && s.ClientID == m.Origin {
			continue // [MQTT-3.8.3-3]
		}
		if n := s.subs.Load(); n == nil || n.Load() <= 1 {
			// The client's only subscription: nothing to merge with.
			targets = append(targets, target{c: s.Client})
			targets[len(targets)-1].add(s, m)
			continue
		}
		// Deliver once per client, with the largest QoS and every
		// subscription identifier of its matching subscriptions
		// [MQTT-3.3.4-2] [MQTT-3.3.4-3].
		i := -1
		if index != nil {
			if j, ok := index[s.Client]; ok {
				i = j
			}
		} else {
			for _, j := range merged {
				if targets[j].c == s.Client {
					i = j
					break
				}
			}
		}
		if i < 0 {
			targets = append(targets, target{c: s.Client})
			i = len(targets) - 1
			merged = append(merged, i)
			if index != nil {
				index[s.Client] = i
			} else if len(merged) > 16 {
				index = make(map[Client]int, 2*len(merged))
				for _, j := range merged {
					index[targets[j].c] = j
				}
			}
		}
		targets[i].add(s, m)
	}
	for i := range targets {
		targets[i].c.Deliver(m, targets[i].d)
	}
	clear(vals)
	clear(targets)
	if cap(vals) <= maxScratch && cap(targets) <= maxScratch {
		sc.subs, sc.targets, sc.merged = vals[:0], targets[:0], merged[:0]
		scratches.Put(sc)
	}
}

// target is one client a message goes to, with its merged options.
type target struct {
	c Client
	d Delivery
}

func (tg *target) add(s *Sub, m *bridge.Message) {
	tg.d.QoS = max(tg.d.QoS, s.Options.QoS)
	if s.Options.RetainAsPublished && m.Retain {
		tg.d.Retain = true
	}
	if s.Options.SubscriptionID != 0 {
		tg.d.SubIDs = append(tg.d.SubIDs, s.Options.SubscriptionID)
	}
}

// scratch holds the buffers of one fanOut; they are pooled because a
// message may go to thousands of clients and fanOut runs for every message.
type scratch struct {
	subs    []*Sub
	targets []target
	merged  []int
}

// maxScratch bounds the buffers kept in the pool.
const maxScratch = 1 << 14

var scratches = sync.Pool{New: func() any {
	return &scratch{subs: make([]*Sub, 0, 16), targets: make([]target, 0, 16), merged: make([]int, 0, 8)}
}}

// canonical reports whether the copy that arrived through key is the one to
// process: key is the smallest established plain key matching name, or no
// established plain key matches and key is the smallest of all.
func (t *tenantSubs) canonical(key, name string) bool {
	var buf [8]string
	keys := t.tree.MatchFilters(name, buf[:0])
	best, bestAny := "", ""
	for _, k := range keys {
		if len(k) >= 6 && k[:6] == "$share" {
			if _, _, shared, _ := topic.ParseShared(k); shared {
				continue
			}
		}
		if bestAny == "" || k < bestAny {
			bestAny = k
		}
		if _, ok := t.active.Load(k); ok && (best == "" || k < best) {
			best = k
		}
	}
	if best == "" {
		return key == bestAny || bestAny == ""
	}
	return key == best
}
