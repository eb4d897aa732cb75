package topic

import (
	"strings"
	"sync"
)

// Tree is a subscription tree: it maps topic filters to sets of values of
// type T and finds the values whose filters match a topic name. It is safe
// for concurrent use by many readers and writers; the zero value is an empty
// tree ready to use.
//
// A Tree is keyed by the filter string exactly as given to Add, so "a/b",
// "$share/g1/a/b" and "$share/g2/a/b" are three keys with their own values;
// Match and MatchFilters match a shared key by its inner filter. See the
// package documentation for the layout and its costs.
type Tree[T comparable] struct {
	mu    sync.RWMutex
	root  node[T] // guarded by mu, as is everything reachable from it
	pairs int     // guarded by mu: (filter, value) pairs
	nodes int     // guarded by mu: nodes besides root
}

// NewTree returns an empty Tree.
func NewTree[T comparable]() *Tree[T] { return new(Tree[T]) }

// node is one edge of the radix tree and the node it leads to. Its label is
// one or more filter levels joined by '/'. Labels are compressed: a node
// without entries has at least two kids (the root excepted).
//
// Label and path strings share memory with filter strings only while those
// filters are subscribed: a node with entries has a label that is a suffix
// of its path, itself a substring of one of its keys; a node without entries
// owns a copy of its label.
type node[T comparable] struct {
	label  string    // levels of this edge; "" is one empty level, and the root's
	parent *node[T]  // nil for the root
	more   *more[T]  // kids and shared subscriptions; nil when neither
	path   string    // the (inner) filter this node ends, while it has entries
	plain  values[T] // values of the filter path itself
}

// group is the value set of one shared subscription key "$share/g/path".
type group[T comparable] struct {
	key  string
	vals values[T]
}

// maxList is the number of literal kids kept in a slice before a node
// switches to a map.
const maxList = 8

// more holds the parts of a node that most leaves lack, out of line so that
// a leaf stays small: its kids, by the first level of their labels, and its
// shared subscriptions.
type more[T comparable] struct {
	list   []*node[T]          // literal first levels, while few
	m      map[string]*node[T] // literal first levels, once many; replaces list
	peak   int                 // largest len(m) since m was (re)built
	plus   *node[T]            // the kid whose label starts with '+'
	hash   *node[T]            // the kid whose label is "#"
	groups []*group[T]         // shared subscriptions on path, one per key
}

func (n *node[T]) empty() bool {
	return n.plain.len() == 0 && (n.more == nil || len(n.more.groups) == 0)
}

// groups returns the shared subscriptions of n.
func (n *node[T]) groups() []*group[T] {
	if n.more == nil {
		return nil
	}
	return n.more.groups
}

// setGroups replaces the shared subscriptions of n.
func (n *node[T]) setGroups(gs []*group[T]) {
	if len(gs) == 0 {
		gs = nil
	}
	if n.more == nil {
		if gs == nil {
			return
		}
		n.more = new(more[T])
	}
	n.more.groups = gs
	n.tidy()
}

// tidy drops n.more once it holds nothing.
func (n *node[T]) tidy() {
	if n.more.count() == 0 && n.more.groups == nil {
		n.more = nil
	}
}

// firstLevel returns s up to its first '/'.
func firstLevel(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// hasLevelPrefix reports whether the levels of p start the levels of s.
func hasLevelPrefix(s, p string) bool {
	return len(s) >= len(p) && s[:len(p)] == p && (len(s) == len(p) || s[len(p)] == '/')
}

// literal returns the kid whose label's first level is level, or nil.
func (k *more[T]) literal(level string) *node[T] {
	if k.m != nil {
		return k.m[level]
	}
	for _, c := range k.list {
		if hasLevelPrefix(c.label, level) {
			return c
		}
	}
	return nil
}

// kid returns the kid of n that rest, a filter's remaining levels, continues
// into, or nil.
func (n *node[T]) kid(rest string) *node[T] {
	k := n.more
	if k == nil {
		return nil
	}
	switch fl := firstLevel(rest); fl {
	case "+":
		return k.plus
	case "#":
		return k.hash
	default:
		return k.literal(fl)
	}
}

// setKid makes c the kid of n for the first level of c's label, replacing
// any kid there. For a literal kid in the map the key is rewritten too, so
// that it shares memory with c's label.
func (n *node[T]) setKid(c *node[T]) {
	if n.more == nil {
		n.more = new(more[T])
	}
	k := n.more
	switch fl := firstLevel(c.label); fl {
	case "+":
		k.plus = c
	case "#":
		k.hash = c
	default:
		if k.m != nil {
			k.m[fl] = c // a string key is rewritten on assignment
			k.peak = max(k.peak, len(k.m))
			return
		}
		for i, o := range k.list {
			if hasLevelPrefix(o.label, fl) {
				k.list[i] = c
				return
			}
		}
		if len(k.list) < maxList {
			k.list = append(k.list, c)
			return
		}
		k.m = make(map[string]*node[T], 2*maxList)
		for _, o := range k.list {
			k.m[firstLevel(o.label)] = o
		}
		k.m[fl] = c
		k.list, k.peak = nil, len(k.m)
	}
}

// delKid removes the kid c of n.
func (n *node[T]) delKid(c *node[T]) {
	k := n.more
	switch fl := firstLevel(c.label); fl {
	case "+":
		k.plus = nil
	case "#":
		k.hash = nil
	default:
		if k.m != nil {
			delete(k.m, fl)
			switch l := len(k.m); {
			case l <= maxList/2:
				// Back to a slice: a Go map never shrinks.
				k.list = make([]*node[T], 0, maxList)
				for _, o := range k.m {
					k.list = append(k.list, o)
				}
				k.m, k.peak = nil, 0
			case l < k.peak/4:
				m := make(map[string]*node[T], l)
				for key, o := range k.m {
					m[key] = o
				}
				k.m, k.peak = m, l
			}
			break
		}
		for i, o := range k.list {
			if o == c {
				last := len(k.list) - 1
				k.list[i] = k.list[last]
				k.list[last] = nil
				k.list = k.list[:last]
				break
			}
		}
	}
	n.tidy()
}

// count returns the number of kids.
func (k *more[T]) count() int {
	if k == nil {
		return 0
	}
	c := len(k.list) + len(k.m)
	if k.plus != nil {
		c++
	}
	if k.hash != nil {
		c++
	}
	return c
}

// only returns the kid of a node with exactly one kid.
func (k *more[T]) only() *node[T] {
	switch {
	case k.plus != nil:
		return k.plus
	case k.hash != nil:
		return k.hash
	case len(k.list) > 0:
		return k.list[0]
	}
	for _, c := range k.m {
		return c
	}
	return nil
}

// splitKey returns the inner filter of key and whether key is a shared
// subscription. ok is false for an invalid key.
func splitKey(key string) (inner string, shared, ok bool) {
	if checkString(key) != "" {
		return "", false, false
	}
	if _, in, isShared, err := ParseShared(key); isShared {
		return in, true, err == nil
	}
	return key, false, checkWildcards(key) == ""
}

// Add subscribes v to filter, which may be a shared subscription
// "$share/{group}/{filter}". first is true when filter had no value before,
// so the caller may then create the one NATS subscription it keeps for it.
// Adding a pair already present changes nothing. An invalid filter (see
// ValidateFilter) is ignored: Add returns false and stores nothing.
func (t *Tree[T]) Add(filter string, v T) (first bool) {
	inner, shared, ok := splitKey(filter)
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n, fresh := t.insert(inner)
	switch {
	case fresh:
		n.path = inner // its label is already a suffix of inner
	case n.empty():
		t.rebase(n, inner)
	}
	var s *values[T]
	if shared {
		g := n.group(filter)
		if g == nil {
			g = &group[T]{key: filter}
			n.setGroups(append(n.groups(), g))
		}
		s = &g.vals
	} else {
		s = &n.plain
	}
	first = s.len() == 0
	if s.add(v) {
		t.pairs++
	}
	return first
}

// group returns the shared subscription of n with key, or nil.
func (n *node[T]) group(key string) *group[T] {
	for _, g := range n.groups() {
		if g.key == key {
			return g
		}
	}
	return nil
}

// insert returns the node ending the valid inner filter, creating it and
// splitting labels as needed. fresh reports a new leaf, labelled with a
// suffix of inner.
func (t *Tree[T]) insert(inner string) (n *node[T], fresh bool) {
	n, rest := &t.root, inner
	for {
		k := n.kid(rest)
		if k == nil {
			leaf := &node[T]{label: rest, parent: n}
			n.setKid(leaf)
			t.nodes++
			return leaf, true
		}
		c := commonLevels(k.label, rest)
		labelDone, restDone := c == len(k.label), c == len(rest)
		if labelDone && restDone {
			return k, false
		}
		if labelDone {
			n, rest = k, rest[c+1:]
			continue
		}
		// Split k after its first common levels.
		mid := &node[T]{label: strings.Clone(k.label[:c]), parent: n}
		t.nodes++
		n.setKid(mid) // replaces k, found by its label
		k.label, k.parent = k.label[c+1:], mid
		mid.setKid(k)
		if restDone {
			return mid, false
		}
		leaf := &node[T]{label: rest[c+1:], parent: mid}
		mid.setKid(leaf)
		t.nodes++
		return leaf, true
	}
}

// commonLevels returns the length in bytes of the longest run of whole
// levels a and b start with, given that their first levels are equal.
func commonLevels(a, b string) int {
	last := 0 // the last '/' both share
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		if a[i] == '/' {
			last = i
		}
		i++
	}
	if (i == len(a) || a[i] == '/') && (i == len(b) || b[i] == '/') {
		return i
	}
	return last
}

// rebase points n's path and label into path, a live key's inner filter
// ending at n, so that n keeps no removed filter's memory alive.
func (t *Tree[T]) rebase(n *node[T], path string) {
	n.path = path
	n.label = path[len(path)-len(n.label):]
	n.parent.setKid(n)
}

// find returns the node ending the inner filter, or nil.
func (t *Tree[T]) find(inner string) *node[T] {
	n, rest := &t.root, inner
	for {
		k := n.kid(rest)
		if k == nil || !hasLevelPrefix(rest, k.label) {
			return nil
		}
		if len(rest) == len(k.label) {
			return k
		}
		n, rest = k, rest[len(k.label)+1:]
	}
}

// Remove unsubscribes v from filter. removed reports whether v was
// subscribed; last is true when this removed the filter's last value, so the
// caller may then drop the NATS subscription it keeps for it. Nodes left
// without use are freed.
func (t *Tree[T]) Remove(filter string, v T) (removed, last bool) {
	inner, shared, ok := splitKey(filter)
	if !ok {
		return false, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.find(inner)
	if n == nil {
		return false, false
	}
	if !shared {
		if !n.plain.remove(v) {
			return false, false
		}
		last = n.plain.len() == 0
	} else {
		gs := n.groups()
		i := 0
		for i < len(gs) && gs[i].key != filter {
			i++
		}
		if i == len(gs) || !gs[i].vals.remove(v) {
			return false, false
		}
		if gs[i].vals.len() == 0 {
			last = true
			end := len(gs) - 1
			gs[i] = gs[end]
			gs[end] = nil
			n.setGroups(gs[:end])
		}
	}
	t.pairs--
	if last {
		t.keyGone(n)
	}
	return true, last
}

// keyGone tidies n after one of its keys lost its last value.
func (t *Tree[T]) keyGone(n *node[T]) {
	switch {
	case len(n.groups()) > 0:
		key := n.groups()[0].key
		t.rebase(n, key[len(key)-len(n.path):])
		return
	case n.plain.len() > 0:
		t.rebase(n, strings.Clone(n.path))
		return
	}
	n.path = ""
	for n != &t.root && n.empty() {
		p := n.parent
		switch n.more.count() {
		case 0:
			p.delKid(n)
			n.parent = nil
			t.nodes--
			n = p
			continue
		case 1:
			t.merge(n)
		default:
			n.label = strings.Clone(n.label)
			p.setKid(n)
		}
		return
	}
}

// merge folds n, a node without entries, into its only kid.
func (t *Tree[T]) merge(n *node[T]) {
	c, p := n.more.only(), n.parent
	if c.empty() {
		c.label = n.label + "/" + c.label
	} else {
		c.label = c.path[len(c.path)-len(n.label)-1-len(c.label):]
	}
	c.parent = p
	p.setKid(c) // replaces n: the first level is the same
	n.more, n.parent = nil, nil
	t.nodes--
}

// Len reports the number of (filter, value) pairs.
func (t *Tree[T]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.pairs
}

// Values appends to dst the values subscribed to exactly filter (a shared
// subscription key included) and returns the extended slice.
func (t *Tree[T]) Values(filter string, dst []T) []T {
	inner, shared, ok := splitKey(filter)
	if !ok {
		return dst
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.find(inner)
	switch {
	case n == nil:
	case !shared:
		dst = n.plain.appendTo(dst)
	default:
		if g := n.group(filter); g != nil {
			dst = g.vals.appendTo(dst)
		}
	}
	return dst
}

// Has reports whether v is subscribed to exactly filter.
func (t *Tree[T]) Has(filter string, v T) bool {
	inner, shared, ok := splitKey(filter)
	if !ok {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.find(inner)
	switch {
	case n == nil:
		return false
	case !shared:
		return n.plain.has(v)
	}
	g := n.group(filter)
	return g != nil && g.vals.has(v)
}

// Filters appends to dst every filter that has a value (shared subscription
// keys included), in no particular order, and returns the extended slice.
func (t *Tree[T]) Filters(dst []string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.root.appendAllKeys(dst)
}

func (n *node[T]) appendAllKeys(dst []string) []string {
	dst = n.appendKeys(dst)
	if k := n.more; k != nil {
		for _, c := range k.list {
			dst = c.appendAllKeys(dst)
		}
		for _, c := range k.m {
			dst = c.appendAllKeys(dst)
		}
		if k.plus != nil {
			dst = k.plus.appendAllKeys(dst)
		}
		if k.hash != nil {
			dst = k.hash.appendAllKeys(dst)
		}
	}
	return dst
}

// appendKeys appends the keys of n's entries.
func (n *node[T]) appendKeys(dst []string) []string {
	if n.plain.len() > 0 {
		dst = append(dst, n.path)
	}
	for _, g := range n.groups() {
		dst = append(dst, g.key)
	}
	return dst
}

// appendValues appends the values of all n's entries.
func (n *node[T]) appendValues(dst []T) []T {
	dst = n.plain.appendTo(dst)
	for _, g := range n.groups() {
		dst = g.vals.appendTo(dst)
	}
	return dst
}
