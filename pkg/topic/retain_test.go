package topic

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// TestTreeRetainsNoRemovedFilter checks that no label, path or map key
// still points into the memory of a filter string that was removed, so the
// tree never keeps an unsubscribed filter alive.
func TestTreeRetainsNoRemovedFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var tr Tree[int]
	live := map[string]bool{}
	var removed []string
	for round := range 2000 {
		// A fresh allocation each time, so each filter has its own bytes.
		f := strings.Clone(randFilter(r))
		if r.IntN(2) == 0 {
			f = fmt.Sprintf("%d/%s", r.IntN(20), f) // many kids: a map
		}
		if r.IntN(4) == 0 {
			f = "$share/g/" + f
		}
		if r.IntN(3) > 0 {
			if tr.Add(f, 1) {
				live[f] = true
			}
			continue
		}
		for g := range live {
			tr.Remove(g, 1)
			delete(live, g)
			removed = append(removed, g)
			break
		}
		if round%50 == 0 {
			checkNoPointerInto(t, &tr, removed)
		}
	}
	checkNoPointerInto(t, &tr, removed)
	for g := range live {
		tr.Remove(g, 1)
	}
	if tr.nodes != 0 {
		t.Fatalf("emptied tree keeps %d nodes", tr.nodes)
	}
}

func checkNoPointerInto(t *testing.T, tr *Tree[int], removed []string) {
	t.Helper()
	inside := func(s string) string {
		if s == "" {
			return ""
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		for _, d := range removed {
			start := uintptr(unsafe.Pointer(unsafe.StringData(d)))
			if p >= start && p < start+uintptr(len(d)) {
				return d
			}
		}
		return ""
	}
	var walk func(n *node[int])
	walk = func(n *node[int]) {
		for what, s := range map[string]string{"label": n.label, "path": n.path} {
			if d := inside(s); d != "" {
				t.Fatalf("node %s %q points into the removed filter %q", what, s, d)
			}
		}
		if n.more == nil {
			return
		}
		for key, c := range n.more.m {
			if d := inside(key); d != "" {
				t.Fatalf("kid key %q points into the removed filter %q", key, d)
			}
			walk(c)
		}
		for _, c := range n.more.list {
			walk(c)
		}
		for _, c := range []*node[int]{n.more.plus, n.more.hash} {
			if c != nil {
				walk(c)
			}
		}
	}
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	walk(&tr.root)
}
