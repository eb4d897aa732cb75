package conn

import (
	"sync"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// RateCooldown is how long a client cut off for publishing over its
// tenant's rate is refused when it reconnects.
const RateCooldown = time.Second

// maxCooldowns bounds the remembered clients. When it is reached, expired
// entries are swept; if all are still cooling down, the new one is not
// recorded (the cooldown is a courtesy to other tenants, not a quota).
const maxCooldowns = 100_000

// Cooldowns remembers clients disconnected for publishing over their
// tenant's rate (DISCONNECT 0x96), so that reconnecting at once is refused
// for RateCooldown with CONNACK 0x9F (connection rate exceeded; 3.1.1: 0x03
// server unavailable). A flooding client then costs the gateway one refused
// CONNECT per cooldown instead of a session set-up per flood, which protects
// the other tenants' latency. Safe for concurrent use; the zero value is
// ready.
type Cooldowns struct {
	mu    sync.Mutex
	until map[session.Key]time.Time // guarded by mu
}

// add refuses key's reconnects until until.
func (c *Cooldowns) add(key session.Key, until time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = make(map[session.Key]time.Time)
	}
	if len(c.until) >= maxCooldowns {
		for k, t := range c.until {
			if !now.Before(t) {
				delete(c.until, k)
			}
		}
		if len(c.until) >= maxCooldowns {
			return
		}
	}
	c.until[key] = until
}

// active reports whether key is still cooling down at now.
func (c *Cooldowns) active(key session.Key, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.until[key]
	if ok && !now.Before(t) {
		delete(c.until, key)
		return false
	}
	return ok
}
