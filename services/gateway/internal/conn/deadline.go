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
	// slots holds the filed connections by deadline, in whole Unix
	// seconds rounded up. A connection knows its place (Conn.slot, Conn.at),
	// so filing and removing cost a slice slot each, not a map entry.
	slots map[int64][]*Conn
	next  int64 // the earliest second not yet expired
}

func newDeadlines(now time.Time) deadlines {
	return deadlines{slots: make(map[int64][]*Conn), next: now.Unix()}
}

// add files c under the deadline at (UnixNano), moving it if it was filed.
func (d *deadlines) add(c *Conn, at int64) {
	slot := (at + int64(time.Second) - 1) / int64(time.Second)
	slot = max(slot, d.next) // a passed deadline is expired at the next look
	if c.slot == slot {
		return
	}
	d.remove(c)
	s := d.slots[slot]
	c.slot, c.at = slot, int32(len(s))
	d.slots[slot] = append(s, c)
}

// remove forgets c's deadline, if filed: the last connection of its slot
// takes its place.
func (d *deadlines) remove(c *Conn) {
	if c.slot == 0 {
		return
	}
	s := d.slots[c.slot]
	if i := int(c.at); i < len(s) && s[i] == c {
		last := len(s) - 1
		s[i] = s[last]
		s[i].at = int32(i)
		s[last] = nil
		if s = s[:last]; len(s) == 0 {
			delete(d.slots, c.slot)
		} else {
			d.slots[c.slot] = s
		}
	}
	c.slot, c.at = 0, 0
}

// expire removes the connections whose deadline second has begun by now
// and appends them to due.
func (d *deadlines) expire(now time.Time, due []*Conn) []*Conn {
	for sec := now.Unix(); d.next <= sec; d.next++ {
		for _, c := range d.slots[d.next] {
			c.slot, c.at = 0, 0
			due = append(due, c)
		}
		delete(d.slots, d.next)
	}
	return due
}
