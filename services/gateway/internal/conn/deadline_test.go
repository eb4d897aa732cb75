package conn

import (
	"slices"
	"testing"
	"time"
)

func TestDeadlines(t *testing.T) {
	start := time.Unix(1000, 0)
	sec := func(s float64) int64 { return start.Add(time.Duration(s * float64(time.Second))).UnixNano() }
	a, b, c := new(Conn), new(Conn), new(Conn)
	d := newDeadlines(start)
	d.add(a, sec(1.5)) // due in second 1002
	d.add(b, sec(3))   // due in second 1003
	d.add(c, sec(2))   // due in second 1002
	d.add(c, sec(4))   // moved: parked again with a later deadline
	d.add(b, sec(-5))  // a passed deadline is due at the next look

	tests := []struct {
		name string
		now  float64
		want []*Conn
	}{
		{"passed deadline", 0, []*Conn{b}},
		{"nothing yet", 1.9, nil},
		{"first second", 2, []*Conn{a}},
		{"again, nothing", 2.5, nil},
		{"moved connection", 4.2, []*Conn{c}},
		{"empty", 10, nil},
	}
	for _, tt := range tests {
		got := d.expire(start.Add(time.Duration(tt.now*float64(time.Second))), nil)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: expire(%gs) = %v, want %v", tt.name, tt.now, got, tt.want)
		}
		for _, c := range got {
			if c.slot != 0 {
				t.Errorf("%s: an expired connection keeps slot %d", tt.name, c.slot)
			}
		}
	}
	if len(d.slots) != 0 {
		t.Errorf("%d slots left, want none", len(d.slots))
	}

	// A connection that ends is forgotten.
	d.add(a, sec(20))
	d.remove(a)
	d.remove(a) // again: nothing
	if got := d.expire(start.Add(30*time.Second), nil); len(got) != 0 {
		t.Errorf("expire after remove = %v, want nothing", got)
	}
	// Several in one second: removing one from the middle keeps the
	// others filed (the last takes its place).
	x, y, z := new(Conn), new(Conn), new(Conn)
	for _, c := range []*Conn{x, y, z} {
		d.add(c, sec(40.5))
	}
	d.remove(x)
	d.add(y, sec(45)) // moved out: z is alone
	if got := d.expire(start.Add(42*time.Second), nil); !slices.Equal(got, []*Conn{z}) {
		t.Errorf("expire after removals = %v, want [z]", got)
	}
	if got := d.expire(start.Add(46*time.Second), nil); !slices.Equal(got, []*Conn{y}) {
		t.Errorf("expire of the moved connection = %v, want [y]", got)
	}
}

func TestSignal(t *testing.T) {
	var before, after signal
	early := before.done() // a waiter before the event
	before.fire()
	before.fire() // again: no double close
	after.fire()
	for name, ch := range map[string]<-chan struct{}{"waiter before": early, "waiter after": before.done(), "fired before anyone waited": after.done()} {
		select {
		case <-ch:
		default:
			t.Errorf("%s: channel not closed", name)
		}
	}
	var never signal
	select {
	case <-never.done():
		t.Error("channel of an unfired signal is closed")
	default:
	}
}
