package bridge

import (
	"slices"
	"strings"
)

// cover returns subjects without duplicates and without the subjects
// another one already matches, sorted. The rest may still overlap partly
// (a.*.c and a.b.*).
func cover(subjects []string) []string {
	out := make([]string, 0, len(subjects))
	for i, s := range subjects {
		covered := false
		for j, t := range subjects {
			if i == j {
				continue
			}
			// s is redundant when t matches all of it; of two equal
			// subjects the first is kept.
			if subjectCovers(t, s) && (s != t || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// subjectCovers reports whether every subject that s matches is also
// matched by pattern p (NATS wildcards '*' and '>' in both).
func subjectCovers(p, s string) bool {
	pt, st := strings.Split(p, "."), strings.Split(s, ".")
	for i, tok := range pt {
		if tok == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		switch {
		case st[i] == ">":
			return false
		case tok == "*":
		case tok != st[i]:
			return false
		}
	}
	return len(pt) == len(st)
}
