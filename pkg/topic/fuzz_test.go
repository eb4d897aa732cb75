package topic

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzMatch checks Match and Tree.Match against the reference matcher.
func FuzzMatch(f *testing.F) {
	for _, tt := range matchCases {
		f.Add(tt.filter, tt.name)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		if ValidateFilter(filter) != nil || ValidateName(name) != nil {
			return
		}
		if _, inner, ok, _ := ParseShared(filter); ok {
			filter = inner
		}
		want := naiveMatch(filter, name)
		if got := Match(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", filter, name, got, want)
		}
		var tr Tree[int]
		tr.Add(filter, 1)
		tr.Add("$share/g/"+filter, 2)
		// A neighbour sharing the first levels forces a split.
		neighbour := firstLevel(filter) + "/x/y"
		if ValidateFilter(neighbour) == nil && neighbour != filter {
			tr.Add(neighbour, 3)
		}
		got := tr.Match(name, nil)
		slices.Sort(got)
		var exp []int
		if want {
			exp = []int{1, 2}
		}
		if neighbour != filter && ValidateFilter(neighbour) == nil && naiveMatch(neighbour, name) {
			exp = append(exp, 3)
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("Tree{%q, %q}.Match(%q) = %v, want %v", filter, neighbour, name, got, exp)
		}
		checkTree(t, &tr)
		tr.Remove(filter, 1)
		tr.Remove("$share/g/"+filter, 2)
		tr.Remove(neighbour, 3)
		if tr.Len() != 0 || tr.nodes != 0 {
			t.Fatalf("emptied tree has Len %d and %d nodes", tr.Len(), tr.nodes)
		}
	})
}

// FuzzValidate checks that validation never panics and agrees with itself.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/#", "a/#/b", "a+", "$share/g/a", "$share//a", "$share/g", "\x00", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nameErr, filterErr := ValidateName(s), ValidateFilter(s)
		if nameErr != nil && !errors.Is(nameErr, ErrInvalidName) {
			t.Fatalf("ValidateName(%q) = %v, not an ErrInvalidName", s, nameErr)
		}
		if filterErr != nil && !errors.Is(filterErr, ErrInvalidFilter) {
			t.Fatalf("ValidateFilter(%q) = %v, not an ErrInvalidFilter", s, filterErr)
		}
		shared := firstLevel(s) == "$share"
		if nameErr == nil && filterErr != nil && !shared {
			t.Fatalf("%q is a valid name but ValidateFilter says %v", s, filterErr)
		}
		if nameErr == nil && strings.ContainsAny(s, "+#") {
			t.Fatalf("ValidateName(%q) accepts a wildcard", s)
		}
		group, inner, ok, err := ParseShared(s)
		if ok && (err == nil) != (filterErr == nil) {
			t.Fatalf("ParseShared(%q) = %v but ValidateFilter = %v", s, err, filterErr)
		}
		if ok != shared {
			t.Fatalf("ParseShared(%q) says shared %v", s, ok)
		}
		if ok && err == nil && (group == "" || strings.ContainsAny(group, "/+#") || ValidateFilter(inner) != nil) {
			t.Fatalf("ParseShared(%q) = %q, %q for a valid filter", s, group, inner)
		}
		if nameErr == nil && !shared && !Match(s, s) {
			t.Fatalf("valid name %q does not match itself as a filter", s)
		}
	})
}

// FuzzTreeOps runs a sequence of adds and removes, read from the input two
// bytes at a time (operation and filter, value), against the model.
func FuzzTreeOps(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 2, 130, 0, 129, 1})
	f.Add([]byte{5, 0, 6, 0, 7, 0, 133, 0, 134, 0, 135, 0})
	pool := []string{"a", "a/b", "a/+", "a/#", "#", "+", "+/b", "a/b/c", "a/b/#", "/", "/+", "$s/#", "$share/g/a/+", "$share/h/a/+", "$share/g/#", "a//b"}
	names := []string{"a", "a/b", "a/b/c", "/", "//", "$s", "$s/b", "b", "a/b/c/d"}
	f.Fuzz(func(t *testing.T, ops []byte) {
		var tr Tree[int]
		m := model{}
		for i := 0; i+1 < len(ops); i += 2 {
			filter, v := pool[int(ops[i]&0x7f)%len(pool)], int(ops[i+1]%4)
			if ops[i]&0x80 == 0 {
				if first := tr.Add(filter, v); first != (len(m[filter]) == 0) {
					t.Fatalf("Add(%q, %d) = %v", filter, v, first)
				}
				if m[filter] == nil {
					m[filter] = map[int]bool{}
				}
				m[filter][v] = true
				continue
			}
			had := m[filter][v]
			delete(m[filter], v)
			if len(m[filter]) == 0 {
				delete(m, filter)
			}
			if removed, last := tr.Remove(filter, v); removed != had || last != (had && m[filter] == nil) {
				t.Fatalf("Remove(%q, %d) = %v, %v", filter, v, removed, last)
			}
		}
		checkTree(t, &tr)
		for _, name := range names {
			got := tr.Match(name, nil)
			slices.Sort(got)
			if want := m.match(name); !slices.Equal(got, want) {
				t.Fatalf("Match(%q) = %v, want %v", name, got, want)
			}
		}
	})
}
