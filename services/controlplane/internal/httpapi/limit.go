package httpapi

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/flockmq/flockmq/services/controlplane/internal/ratelimit"
)

// SharedLimits counts requests against limits that hold across every
// control-plane instance; *ratelimit.Counter implements it.
type SharedLimits interface {
	Take(ctx context.Context, keys ...ratelimit.Key) (ratelimit.Decision, error)
}

var _ SharedLimits = (*ratelimit.Counter)(nil)

// Limit is a token bucket: Rate events per second, bursts of Burst.
// A zero Rate disables the limit.
type Limit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// limiters holds one token bucket per key (a remote IP, an API key id),
// forgetting keys idle for longer than it takes their bucket to refill.
type limiters struct {
	limit Limit
	now   func() time.Time

	mu        sync.Mutex
	byKey     map[string]*limiterEntry // guarded by mu
	lastSweep time.Time                // guarded by mu
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxLimiterKeys = 100_000

func newLimiters(l Limit, now func() time.Time) *limiters {
	return &limiters{limit: l, now: now, byKey: make(map[string]*limiterEntry)}
}

// allow takes a token for key; when none is left it returns false and how
// long until one is.
func (ls *limiters) allow(key string) (bool, time.Duration) {
	if ls.limit.Rate <= 0 {
		return true, 0
	}
	now := ls.now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweep(now)
	e, ok := ls.byKey[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(ls.limit.Rate), max(ls.limit.Burst, 1))}
		ls.byKey[key] = e
	}
	e.seen = now
	r := e.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops entries whose bucket is full again; it runs at most once a
// minute, or when the map is too large.
func (ls *limiters) sweep(now time.Time) {
	if now.Sub(ls.lastSweep) < time.Minute && len(ls.byKey) < maxLimiterKeys {
		return
	}
	ls.lastSweep = now
	refill := time.Duration(float64(max(ls.limit.Burst, 1)) / ls.limit.Rate * float64(time.Second))
	for k, e := range ls.byKey {
		if now.Sub(e.seen) > refill {
			delete(ls.byKey, k)
		}
	}
}
