package conn

import "time"

// deadlineTick is how often, in milliseconds, the Poller looks for passed
// keepalive deadlines, and so how late past its deadline a silent parked
// connection may be closed.
const deadlineTick = 250

// deadlines files parked connections by the second in which their read
// deadline (Conn.readBy) passes, so that one goroutine (the Poller's) can
// wake them then, instead of a timer per connection. A connection moves
// when it parks again with a later deadline and leaves when it ends; one
// woken early (its deadline moved while it was running) finds its
// deadline ahead and parks again. The zero value is not usable: use
// newDeadlines. Not safe for concurrent use: the Poller guards it.
type deadlines struct {
	slots map[int64]map[*Conn]struct{} // by deadline, in whole Unix seconds rounded up
	next  int64                        // the earliest second not yet expired
}

func newDeadlines(now time.Time) deadlines {
	return deadlines{slots: make(map[int64]map[*Conn]struct{}), next: now.Unix()}
}

// add files c under the deadline at (UnixNano), moving it if it was filed.
func (d *deadlines) add(c *Conn, at int64) {
	slot := (at + int64(time.Second) - 1) / int64(time.Second)
	slot = max(slot, d.next) // a passed deadline is expired at the next look
	if c.slot == slot {
		return
	}
	d.remove(c)
	m := d.slots[slot]
	if m == nil {
		m = make(map[*Conn]struct{})
		d.slots[slot] = m
	}
	m[c] = struct{}{}
	c.slot = slot
}

// remove forgets c's deadline, if filed.
func (d *deadlines) remove(c *Conn) {
	if c.slot == 0 {
		return
	}
	if m := d.slots[c.slot]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(d.slots, c.slot)
		}
	}
	c.slot = 0
}

// expire removes the connections whose deadline second has begun by now
// and appends them to due.
func (d *deadlines) expire(now time.Time, due []*Conn) []*Conn {
	for sec := now.Unix(); d.next <= sec; d.next++ {
		m := d.slots[d.next]
		if m == nil {
			continue
		}
		for c := range m {
			c.slot = 0
			due = append(due, c)
		}
		delete(d.slots, d.next)
	}
	return due
}
