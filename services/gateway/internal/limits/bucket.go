package limits

import (
	"sync/atomic"
	"time"
)

// burst is how much traffic a full bucket holds: one second's worth of
// the rate, so a tenant allowed 1000 messages/s may send 1000 at once
// after a quiet second, and then 1 per millisecond.
const burst = int64(time.Second)

// maxCostUnits bounds the units one take may charge, so units×1e9 cannot
// overflow an int64 (an MQTT packet is at most 256 MiB anyway).
const maxCostUnits = 1 << 32

// bucket is a lock-free token bucket written as the generic cell rate
// algorithm (GCRA): its whole state is one "theoretical arrival time"
// (tat), in nanoseconds on the Limits clock, at which the bucket would be
// full again. Taking n units at rate r moves tat forward by n/r seconds;
// the take is refused when that would put tat more than burst ahead of
// now. One compare-and-swap per take, no lock, no allocation.
type bucket struct {
	tat atomic.Int64
}

// cost returns the nanoseconds of tat that units consume at rate units
// per second, rounded down so that exactly rate units fit in a full
// bucket; 0 when rate is not positive (no limit).
func cost(units, rate int64) int64 {
	if rate <= 0 || units <= 0 {
		return 0
	}
	units = min(units, maxCostUnits)
	return units * int64(time.Second) / rate
}

// take charges c nanoseconds at time now and reports whether they fit. A
// full bucket (tat not after now) admits any charge, even one larger than
// the burst, and goes into debt for it: a single message bigger than a
// second's worth of bytes passes, and the tenant then waits for the debt.
func (b *bucket) take(now, c int64) bool {
	for {
		tat := b.tat.Load()
		next := max(tat, now) + c
		if tat > now && next-now > burst {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// reserve charges c nanoseconds at time now like take, but when the charge
// does not fit yet it may still be accepted ahead of time: wait is how long
// the caller must hold the request back for it to fit, at most maxWait. A
// charge that would need longer is refused (ok false) and costs nothing.
// Callers that wait before acting keep the tenant at its rate while
// queueing behind each other, since every reservation moves tat forward.
func (b *bucket) reserve(now, c, maxWait int64) (wait int64, ok bool) {
	for {
		tat := b.tat.Load()
		next := max(tat, now) + c
		if tat > now && next-now > burst {
			wait = next - now - burst
			if wait > maxWait {
				return 0, false
			}
		} else {
			wait = 0
		}
		if b.tat.CompareAndSwap(tat, next) {
			return wait, true
		}
	}
}

// refund gives back a charge taken earlier (when a later check refuses
// the same publish).
func (b *bucket) refund(c int64) { b.tat.Add(-c) }
