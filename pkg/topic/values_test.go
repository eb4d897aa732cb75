package topic

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestValuesAgainstMap adds and removes random values, through the small
// slice, the big set, its rebuilds and back, and checks the set against a
// plain map after every step.
func TestValuesAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s values[int]
	ref := map[int]bool{}
	for step := range 20000 {
		// Grow to a few hundred values, then shrink to none, twice.
		grow := (step/5000)%2 == 0
		v := r.IntN(400)
		if grow == (r.IntN(4) != 0) {
			if got, want := s.add(v), !ref[v]; got != want {
				t.Fatalf("step %d: add(%d) = %v, want %v", step, v, got, want)
			}
			ref[v] = true
		} else {
			if got, want := s.remove(v), ref[v]; got != want {
				t.Fatalf("step %d: remove(%d) = %v, want %v", step, v, got, want)
			}
			delete(ref, v)
		}
		if s.len() != len(ref) {
			t.Fatalf("step %d: len = %d, want %d", step, s.len(), len(ref))
		}
		if step%97 == 0 {
			got := s.appendTo(nil)
			slices.Sort(got)
			want := make([]int, 0, len(ref))
			for k := range ref {
				want = append(want, k)
				if !s.has(k) {
					t.Fatalf("step %d: has(%d) = false", step, k)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: values %v, want %v", step, got, want)
			}
		}
	}
}
