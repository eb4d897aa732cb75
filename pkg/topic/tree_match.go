package topic

import "strings"

// Match appends to dst the values of every filter matching the topic name,
// shared subscription keys included, and returns the extended slice. A value
// subscribed to several matching filters appears once per filter. The order
// is unspecified. Match does not allocate when dst has room.
func (t *Tree[T]) Match(name string, dst []T) []T {
	m := matcher[T]{name: name, vals: dst}
	t.mu.RLock()
	m.below(&t.root, 0)
	t.mu.RUnlock()
	return m.vals
}

// MatchFilters appends to dst every distinct filter key that matches the
// topic name (a shared key "$share/g/f" when f matches) and returns the
// extended slice. The order is unspecified. MatchFilters does not allocate
// when dst has room.
func (t *Tree[T]) MatchFilters(name string, dst []string) []string {
	m := matcher[T]{name: name, keys: dst, wantKeys: true}
	t.mu.RLock()
	m.below(&t.root, 0)
	t.mu.RUnlock()
	return m.keys
}

// matcher walks the tree for one topic name, collecting values or keys.
type matcher[T comparable] struct {
	name     string
	vals     []T
	keys     []string
	wantKeys bool
}

func (m *matcher[T]) emit(n *node[T]) {
	if m.wantKeys {
		m.keys = n.appendKeys(m.keys)
	} else {
		m.vals = n.appendValues(m.vals)
	}
}

// levelEnd returns the end of the name level starting at pos.
func (m *matcher[T]) levelEnd(pos int) int {
	if i := strings.IndexByte(m.name[pos:], '/'); i >= 0 {
		return pos + i
	}
	return len(m.name)
}

// below matches the kids of n against the name levels from pos on; pos is
// len(name)+1 once all levels are consumed.
func (m *matcher[T]) below(n *node[T], pos int) {
	k := n.more
	if pos > len(m.name) {
		m.emit(n)
		if k != nil && k.hash != nil {
			m.emit(k.hash) // "a/#" matches "a" [MQTT-4.7.1-2]
		}
		return
	}
	if k == nil {
		return
	}
	if c := k.literal(m.name[pos:m.levelEnd(pos)]); c != nil {
		m.follow(c, pos)
	}
	if pos == 0 && m.name != "" && m.name[0] == '$' {
		return // no leading wildcard matches a '$' topic [MQTT-4.7.2-1]
	}
	if k.plus != nil {
		m.follow(k.plus, pos)
	}
	if k.hash != nil {
		m.emit(k.hash) // [MQTT-4.7.1-2]
	}
}

// follow matches the label of n against the name levels from pos on, then
// continues below n.
func (m *matcher[T]) follow(n *node[T], pos int) {
	label := n.label
	for {
		ll, rest, more := cutLevel(label)
		if ll == "#" && !more {
			m.emit(n) // '#' matches the rest, even no level at all
			return
		}
		if pos > len(m.name) {
			return
		}
		end := m.levelEnd(pos)
		if ll != "+" && ll != m.name[pos:end] {
			return
		}
		pos = end + 1
		if !more {
			break
		}
		label = rest
	}
	m.below(n, pos)
}
