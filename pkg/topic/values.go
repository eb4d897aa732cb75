package topic

// smallSet is the size up to which a value set is a plain slice scanned
// linearly; past it the set becomes a map.
const smallSet = 16

// values is the set of values subscribed to one filter. The zero value is
// an empty set. It holds a slice while small and a map once large, and gives
// memory back as it shrinks. It is two words besides the slice, since most
// filters have a value or two.
type values[T comparable] struct {
	list []T
	big  *bigSet[T] // non-nil replaces list
}

// bigSet is a large value set.
type bigSet[T comparable] struct {
	set  map[T]struct{}
	peak int // largest len(set) since set was (re)built
}

func (s *values[T]) len() int {
	if s.big != nil {
		return len(s.big.set)
	}
	return len(s.list)
}

// add adds v and reports whether it was not there yet.
func (s *values[T]) add(v T) bool {
	if b := s.big; b != nil {
		if _, ok := b.set[v]; ok {
			return false
		}
		b.set[v] = struct{}{}
		b.peak = max(b.peak, len(b.set))
		return true
	}
	for _, w := range s.list {
		if w == v {
			return false
		}
	}
	if len(s.list) < smallSet {
		s.list = append(s.list, v)
		return true
	}
	b := &bigSet[T]{set: make(map[T]struct{}, 2*smallSet)}
	for _, w := range s.list {
		b.set[w] = struct{}{}
	}
	b.set[v] = struct{}{}
	b.peak = len(b.set)
	s.list, s.big = nil, b
	return true
}

// remove removes v and reports whether it was there.
func (s *values[T]) remove(v T) bool {
	if b := s.big; b != nil {
		if _, ok := b.set[v]; !ok {
			return false
		}
		delete(b.set, v)
		switch n := len(b.set); {
		case n <= smallSet/2:
			// Back to a slice: a Go map never shrinks.
			s.list = make([]T, 0, n)
			for w := range b.set {
				s.list = append(s.list, w)
			}
			s.big = nil
		case n < b.peak/4:
			m := make(map[T]struct{}, n)
			for w := range b.set {
				m[w] = struct{}{}
			}
			b.set, b.peak = m, n
		}
		return true
	}
	for i, w := range s.list {
		if w == v {
			last := len(s.list) - 1
			s.list[i] = s.list[last]
			var zero T
			s.list[last] = zero // let the garbage collector have it
			s.list = s.list[:last]
			switch {
			case last == 0:
				s.list = nil
			case cap(s.list) >= 4*last && cap(s.list) > 4:
				s.list = append([]T(nil), s.list...)
			}
			return true
		}
	}
	return false
}

// has reports whether v is in the set.
func (s *values[T]) has(v T) bool {
	if s.big != nil {
		_, ok := s.big.set[v]
		return ok
	}
	for _, w := range s.list {
		if w == v {
			return true
		}
	}
	return false
}

// appendTo appends the values to dst in no particular order.
func (s *values[T]) appendTo(dst []T) []T {
	if s.big != nil {
		for v := range s.big.set {
			dst = append(dst, v)
		}
		return dst
	}
	return append(dst, s.list...)
}
