package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestTreeMatchCases(t *testing.T) {
	for _, tt := range matchCases {
		if ValidateFilter(tt.filter) != nil {
			continue
		}
		var tr Tree[int]
		tr.Add(tt.filter, 1)
		got := tr.Match(tt.name, nil)
		if want := tt.want; (len(got) == 1) != want || len(got) > 1 {
			t.Errorf("Tree{%q}.Match(%q) = %v, want match %v", tt.filter, tt.name, got, want)
		}
		keys := tr.MatchFilters(tt.name, nil)
		if (len(keys) == 1 && keys[0] == tt.filter) != tt.want {
			t.Errorf("Tree{%q}.MatchFilters(%q) = %q, want match %v", tt.filter, tt.name, keys, tt.want)
		}
	}
}

func TestTreeAllFiltersTogether(t *testing.T) {
	var tr Tree[string]
	for _, tt := range matchCases {
		tr.Add(tt.filter, tt.filter)
	}
	checkTree(t, &tr)
	for _, tt := range matchCases {
		got := tr.Match(tt.name, nil)
		var want []string
		for _, f := range tr.Filters(nil) {
			if naiveMatch(f, tt.name) {
				want = append(want, f)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %q, want %q", tt.name, got, want)
		}
	}
}

func TestTreeAddRemove(t *testing.T) {
	tr := NewTree[int]()
	steps := []struct {
		op            string // "add" or "remove"
		filter        string
		v             int
		first         bool // add
		removed, last bool // remove
		length        int
	}{
		{op: "add", filter: "a/b", v: 1, first: true, length: 1},
		{op: "add", filter: "a/b", v: 1, first: false, length: 1}, // a pair is a set member
		{op: "add", filter: "a/b", v: 2, first: false, length: 2},
		{op: "add", filter: "a/+", v: 1, first: true, length: 3},
		{op: "add", filter: "a", v: 1, first: true, length: 4},
		{op: "add", filter: "a/#/b", v: 1, first: false, length: 4}, // invalid: ignored [MQTT-4.7.1-2]
		{op: "remove", filter: "a/b", v: 3, length: 4},
		{op: "remove", filter: "a/c", v: 1, length: 4},
		{op: "remove", filter: "a/b", v: 1, removed: true, length: 3},
		{op: "remove", filter: "a/b", v: 1, length: 3},
		{op: "remove", filter: "a/b", v: 2, removed: true, last: true, length: 2},
		{op: "add", filter: "a/b", v: 2, first: true, length: 3},
		{op: "remove", filter: "a", v: 1, removed: true, last: true, length: 2},
		{op: "remove", filter: "a/+", v: 1, removed: true, last: true, length: 1},
		{op: "remove", filter: "a/b", v: 2, removed: true, last: true, length: 0},
		{op: "remove", filter: "a/#/b", v: 1, length: 0},
	}
	for i, s := range steps {
		switch s.op {
		case "add":
			if first := tr.Add(s.filter, s.v); first != s.first {
				t.Fatalf("step %d: Add(%q, %d) = %v, want %v", i, s.filter, s.v, first, s.first)
			}
		case "remove":
			removed, last := tr.Remove(s.filter, s.v)
			if removed != s.removed || last != s.last {
				t.Fatalf("step %d: Remove(%q, %d) = %v, %v, want %v, %v", i, s.filter, s.v, removed, last, s.removed, s.last)
			}
		}
		if n := tr.Len(); n != s.length {
			t.Fatalf("step %d: Len() = %d, want %d", i, n, s.length)
		}
		checkTree(t, tr)
	}
	if tr.nodes != 0 || tr.root.more != nil {
		t.Fatalf("empty tree keeps %d nodes", tr.nodes)
	}
}

func TestTreeShared(t *testing.T) {
	var tr Tree[string]
	for _, s := range []struct {
		filter, v string
		first     bool
	}{
		{"a/+", "plain", true},
		{"$share/g1/a/+", "g1-x", true},
		{"$share/g1/a/+", "g1-y", false},
		{"$share/g2/a/+", "g2-x", true},
		{"$share/g2/a/b", "g2-b", true},
		{"$share/g1", "bad", false}, // [MQTT-4.8.2-2]
	} {
		if first := tr.Add(s.filter, s.v); first != s.first {
			t.Fatalf("Add(%q, %q) = %v, want %v", s.filter, s.v, first, s.first)
		}
	}
	got := tr.Match("a/b", nil)
	slices.Sort(got)
	if want := []string{"g1-x", "g1-y", "g2-b", "g2-x", "plain"}; !slices.Equal(got, want) {
		t.Fatalf("Match(a/b) = %q, want %q", got, want)
	}
	keys := tr.MatchFilters("a/b", nil)
	slices.Sort(keys)
	if want := []string{"$share/g1/a/+", "$share/g2/a/+", "$share/g2/a/b", "a/+"}; !slices.Equal(keys, want) {
		t.Fatalf("MatchFilters(a/b) = %q, want %q", keys, want)
	}
	vals := tr.Values("$share/g1/a/+", nil)
	slices.Sort(vals)
	if want := []string{"g1-x", "g1-y"}; !slices.Equal(vals, want) {
		t.Fatalf("Values($share/g1/a/+) = %q, want %q", vals, want)
	}
	if !tr.Has("$share/g2/a/+", "g2-x") || tr.Has("$share/g2/a/+", "g1-x") || tr.Has("a/b", "g2-b") {
		t.Fatal("Has disagrees with the subscriptions")
	}
	// The plain filter goes first: the shared ones keep working.
	if removed, last := tr.Remove("a/+", "plain"); !removed || !last {
		t.Fatalf("Remove(a/+) = %v, %v, want true, true", removed, last)
	}
	checkTree(t, &tr)
	if got := tr.Values("a/+", nil); len(got) != 0 {
		t.Fatalf("Values(a/+) = %q after removal", got)
	}
	if removed, last := tr.Remove("$share/g1/a/+", "g1-x"); !removed || last {
		t.Fatalf("Remove($share/g1/a/+, g1-x) = %v, %v, want true, false", removed, last)
	}
	if removed, last := tr.Remove("$share/g1/a/+", "g1-y"); !removed || !last {
		t.Fatalf("Remove($share/g1/a/+, g1-y) = %v, %v, want true, true", removed, last)
	}
	checkTree(t, &tr)
	keys = tr.MatchFilters("a/b", keys[:0])
	slices.Sort(keys)
	if want := []string{"$share/g2/a/+", "$share/g2/a/b"}; !slices.Equal(keys, want) {
		t.Fatalf("MatchFilters(a/b) = %q, want %q", keys, want)
	}
	tr.Remove("$share/g2/a/+", "g2-x")
	tr.Remove("$share/g2/a/b", "g2-b")
	if tr.Len() != 0 || tr.nodes != 0 {
		t.Fatalf("empty tree has Len %d and %d nodes", tr.Len(), tr.nodes)
	}
}

func TestTreeLargeValueSet(t *testing.T) {
	var tr Tree[int]
	const n = 1000
	for i := range n {
		if first := tr.Add("big/#", i); first != (i == 0) {
			t.Fatalf("Add(big/#, %d) = %v", i, first)
		}
		tr.Add("big/#", i) // again: no change
	}
	if got := len(tr.Match("big/x", nil)); got != n {
		t.Fatalf("Match found %d values, want %d", got, n)
	}
	for i := range n {
		if removed, last := tr.Remove("big/#", i); !removed || last != (i == n-1) {
			t.Fatalf("Remove(big/#, %d) = %v, %v", i, removed, last)
		}
		if i%97 == 0 {
			if got := len(tr.Values("big/#", nil)); got != n-1-i {
				t.Fatalf("Values has %d values, want %d", got, n-1-i)
			}
		}
	}
	if tr.Len() != 0 || tr.nodes != 0 {
		t.Fatalf("empty tree has Len %d and %d nodes", tr.Len(), tr.nodes)
	}
}

// model is the obviously correct subscription store the tree is checked
// against.
type model map[string]map[int]bool

func (m model) match(name string) []int {
	var out []int
	for f, vs := range m {
		inner := f
		if _, in, ok, _ := ParseShared(f); ok {
			inner = in
		}
		if naiveMatch(inner, name) {
			for v := range vs {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestTreeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var tr Tree[int]
	m := model{}
	pairs := 0
	for round := range 150 {
		for range 50 {
			f := randFilter(r)
			switch r.IntN(4) {
			case 0:
				f = "$share/g" + fmt.Sprint(r.IntN(2)) + "/" + f
			}
			v := r.IntN(4)
			if r.IntN(5) < 3 {
				first := tr.Add(f, v)
				if want := len(m[f]) == 0; first != want {
					t.Fatalf("Add(%q, %d) = %v, want %v", f, v, first, want)
				}
				if m[f] == nil {
					m[f] = map[int]bool{}
				}
				if !m[f][v] {
					pairs++
				}
				m[f][v] = true
			} else {
				removed, last := tr.Remove(f, v)
				wantRemoved := m[f][v]
				delete(m[f], v)
				wantLast := wantRemoved && len(m[f]) == 0
				if len(m[f]) == 0 {
					delete(m, f)
				}
				if wantRemoved {
					pairs--
				}
				if removed != wantRemoved || last != wantLast {
					t.Fatalf("Remove(%q, %d) = %v, %v, want %v, %v", f, v, removed, last, wantRemoved, wantLast)
				}
			}
		}
		checkTree(t, &tr)
		if tr.Len() != pairs {
			t.Fatalf("round %d: Len() = %d, want %d", round, tr.Len(), pairs)
		}
		for range 10 {
			name := randName(r)
			got := tr.Match(name, nil)
			slices.Sort(got)
			if want := m.match(name); !slices.Equal(got, want) {
				t.Fatalf("round %d: Match(%q) = %v, want %v", round, name, got, want)
			}
		}
	}
	for f, vs := range m {
		for v := range vs {
			tr.Remove(f, v)
		}
	}
	checkTree(t, &tr)
	if tr.Len() != 0 || tr.nodes != 0 {
		t.Fatalf("empty tree has Len %d and %d nodes", tr.Len(), tr.nodes)
	}
}

// checkTree verifies the tree's structural invariants.
func checkTree[T comparable](t testing.TB, tr *Tree[T]) {
	t.Helper()
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	nodes, pairs := 0, 0
	var walk func(n *node[T], path string)
	walk = func(n *node[T], path string) {
		switch n.parent {
		case nil:
		case &tr.root:
			nodes++
			path = n.label
		default:
			nodes++
			path += "/" + n.label
		}
		pairs += n.plain.len()
		for _, g := range n.groups() {
			pairs += g.vals.len()
			if g.vals.len() == 0 {
				t.Fatalf("node %q keeps an empty group %q", path, g.key)
			}
			if !strings.HasSuffix(g.key, "/"+path) {
				t.Fatalf("node %q holds group %q", path, g.key)
			}
		}
		switch {
		case !n.empty() && n.path != path:
			t.Fatalf("node %q has path %q", path, n.path)
		case n.empty() && n.path != "":
			t.Fatalf("node %q without entries keeps path %q", path, n.path)
		case n != &tr.root && n.empty() && n.more.count() < 2:
			t.Fatalf("node %q without entries has %d kids", path, n.more.count())
		case n.more != nil && n.more.count() == 0 && len(n.more.groups) == 0:
			t.Fatalf("node %q keeps an empty more", path)
		}
		k := n.more
		if k == nil {
			return
		}
		check := func(c *node[T]) {
			if c.parent != n {
				t.Fatalf("node %q: kid %q has a wrong parent", path, c.label)
			}
			walk(c, path)
		}
		if k.m != nil && k.list != nil {
			t.Fatalf("node %q has both a kid list and a kid map", path)
		}
		for _, c := range k.list {
			check(c)
		}
		for key, c := range k.m {
			if key != firstLevel(c.label) {
				t.Fatalf("node %q: kid %q under key %q", path, c.label, key)
			}
			check(c)
		}
		if k.plus != nil {
			if firstLevel(k.plus.label) != "+" {
				t.Fatalf("node %q: plus kid %q", path, k.plus.label)
			}
			check(k.plus)
		}
		if k.hash != nil {
			if k.hash.label != "#" || k.hash.more.count() != 0 {
				t.Fatalf("node %q: hash kid %q", path, k.hash.label)
			}
			check(k.hash)
		}
	}
	walk(&tr.root, "")
	if nodes != tr.nodes || pairs != tr.pairs {
		t.Fatalf("tree counts %d nodes and %d pairs, walk finds %d and %d", tr.nodes, tr.pairs, nodes, pairs)
	}
}

func TestTreeZeroAndMatchAllocs(t *testing.T) {
	var tr Tree[int]
	if got := tr.Match("a", nil); len(got) != 0 {
		t.Fatalf("empty tree matches %v", got)
	}
	for i, f := range []string{"a/b/c", "a/+/c", "a/#", "#", "+/b/+", "a/b/c/d"} {
		tr.Add(f, i)
	}
	dst := make([]int, 0, 16)
	keys := make([]string, 0, 16)
	if a := testing.AllocsPerRun(100, func() { dst = tr.Match("a/b/c", dst[:0]) }); a != 0 {
		t.Fatalf("Match allocates %v times, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { keys = tr.MatchFilters("a/b/c", keys[:0]) }); a != 0 {
		t.Fatalf("MatchFilters allocates %v times, want 0", a)
	}
	if len(dst) != 5 || len(keys) != 5 {
		t.Fatalf("Match(a/b/c) = %v, MatchFilters = %q, want 5 each", dst, keys)
	}
}

// scaleFilter returns the i'th of a realistic mix of filters: one device's
// telemetry, a device's status in any tenant, a device's whole subtree, and
// a few fleet-wide wildcards.
func scaleFilter(i int) string {
	switch i % 10 {
	case 0, 1, 2, 3:
		return fmt.Sprintf("devices/%07d/+/telemetry/#", i)
	case 4, 5, 6:
		return fmt.Sprintf("tenant/+/device/%07d/status", i)
	case 7, 8:
		return fmt.Sprintf("devices/%07d/#", i)
	}
	return fmt.Sprintf("fleet/%d/+/alerts", i%1000)
}

func TestTreeScalePrune(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 200_000
	}
	var tr Tree[uint32]
	filters := make([]string, n)
	for i := range filters {
		filters[i] = scaleFilter(i)
	}
	for i, f := range filters {
		tr.Add(f, uint32(i))
	}
	if tr.Len() != n {
		t.Fatalf("Len() = %d, want %d", tr.Len(), n)
	}
	if got := tr.Match("devices/0000010/x/telemetry/t", nil); len(got) != 1 {
		t.Fatalf("Match found %v, want 1 value", got)
	}
	// Remove in a different order than added.
	r := rand.New(rand.NewPCG(5, 6))
	for _, i := range r.Perm(n) {
		if removed, _ := tr.Remove(filters[i], uint32(i)); !removed {
			t.Fatalf("Remove(%q, %d) removed nothing", filters[i], i)
		}
	}
	if tr.Len() != 0 || tr.nodes != 0 || tr.root.more != nil {
		t.Fatalf("after removing everything: Len %d, %d nodes", tr.Len(), tr.nodes)
	}
}

func TestTreeConcurrent(t *testing.T) {
	var tr Tree[int]
	tr.Add("stable/+/x", -1)
	const writers, readers, ops = 4, 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				f, v := randFilter(r), w
				if tr.Add(f, v) || r.IntN(2) == 0 {
					tr.Remove(f, v)
				}
			}
		})
	}
	errs := make(chan string, readers)
	for rd := range readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(rd), 8))
			var dst []int
			var keys []string
			for range ops {
				dst = tr.Match("stable/"+randLevels[r.IntN(len(randLevels))]+"/x", dst[:0])
				if !slices.Contains(dst, -1) {
					errs <- fmt.Sprintf("Match lost the stable subscription: %v", dst)
					return
				}
				keys = tr.MatchFilters(randName(r), keys[:0])
				_ = tr.Len()
				_ = tr.Values("stable/+/x", nil)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	checkTree(t, &tr)
}
