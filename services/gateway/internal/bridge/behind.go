package bridge

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Back-pressure across gateways. A subscription that falls behind holds
// its tenant's durable publishers on its own gateway (backlogWatch); the
// publishers on the other gateways learn of it from a notice on
// behindRoot.<tenant>: "<gateway id> 1" when one of the gateway's
// subscriptions of the tenant falls behind, repeated every behindRenew
// while it stays behind, and "<gateway id> 0" once none is. A gateway
// holds the tenant's durable publishes while a peer's last "1" is younger
// than behindExpiry, so the hold ends within that time when the peer dies
// or a "0" is lost. The notices ride core NATS: the signal costs nothing
// while no subscription is behind.
const (
	behindRoot   = "_FLOCK_BEHIND."
	behindRenew  = 250 * time.Millisecond
	behindExpiry = time.Second
)

// peersBehind is what a gateway knows of the other gateways' backlogs for
// one tenant.
type peersBehind struct {
	mu    sync.Mutex
	until map[string]int64 // gateway id → UnixNano until which it is behind
}

// set records a notice of gateway and returns the latest time until which
// any peer is behind (0 when none is).
func (p *peersBehind) set(gateway string, behind bool, now int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if behind {
		if p.until == nil {
			p.until = make(map[string]int64)
		}
		p.until[gateway] = now + int64(behindExpiry)
	} else {
		delete(p.until, gateway)
	}
	var last int64
	for g, u := range p.until {
		if u <= now {
			delete(p.until, g)
			continue
		}
		last = max(last, u)
	}
	return last
}

// watchPeers subscribes to the other gateways' backlog notices.
func (b *Bridge) watchPeers() (*nats.Subscription, error) {
	sub, err := b.nc.Subscribe(behindRoot+"*", func(msg *nats.Msg) {
		tenant := strings.TrimPrefix(msg.Subject, behindRoot)
		gw, state, ok := bytes.Cut(msg.Data, []byte{' '})
		if !ok || checkTenant(tenant) != nil || len(state) != 1 || (state[0] != '0' && state[0] != '1') {
			b.log.Warn("ignored a malformed backlog notice", "subject", msg.Subject)
			return
		}
		if string(gw) == b.cfg.GatewayID {
			return
		}
		ts := b.tenant(tenant)
		ts.peersUntil.Store(ts.peers.set(string(gw), state[0] == '1', time.Now().UnixNano()))
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: subscribe to the gateways' backlog notices: %w", classify(err))
	}
	// Once New returns, the server knows the interest: no notice sent
	// after that is missed.
	if err := b.nc.FlushTimeout(b.cfg.PublishTimeout); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("bridge: subscribe to the gateways' backlog notices: %w", classify(err))
	}
	return sub, nil
}

// announce tells the other gateways whether this one has a subscription of
// tenant that is behind.
func (b *Bridge) announce(tenant string, behind bool) {
	state := " 0"
	if behind {
		state = " 1"
	}
	if err := b.nc.Publish(behindRoot+tenant, []byte(b.cfg.GatewayID+state)); err != nil {
		b.log.Debug("could not tell the other gateways of a backlog", "tenant_id", tenant, "err", err)
	}
}

// holding reports whether ts's durable publishes must wait: one of its
// subscriptions here is behind, or a peer said one of its is.
func (ts *tenantStreams) holding() bool {
	if ts.behind.Load() > 0 {
		return true
	}
	u := ts.peersUntil.Load() // 0 unless a peer was ever behind: no clock read per publish
	return u != 0 && u > time.Now().UnixNano()
}
