package topic

// smallSet is the size up to which a value set is a plain slice scanned
// linearly; past it the set also keeps a map of positions.
const smallSet = 16

// values is the set of values subscribed to one filter. The zero value is
// an empty set. It holds a slice while small and a slice with a map of
// positions once large (bigSet), and gives
// memory back as it shrinks. It is two words besides the slice, since most
// filters have a value or two.
type values[T comparable] struct {
	list []T
	big  *bigSet[T] // non-nil replaces list
}

// bigSet is a large value set: the values in a slice, which delivery walks
// as fast as memory allows, and their positions in a map, so that adding
// and removing stay O(1) (a removal moves the last value into the gap).
type bigSet[T comparable] struct {
	list []T
	pos  map[T]int32
	peak int // largest len(list) since pos was (re)built
}

func (s *values[T]) len() int {
	if s.big != nil {
		return len(s.big.list)
	}
	return len(s.list)
}

// add adds v and reports whether it was not there yet.
func (s *values[T]) add(v T) bool {
	if b := s.big; b != nil {
		if _, ok := b.pos[v]; ok {
			return false
		}
		b.pos[v] = int32(len(b.list))
		b.list = append(b.list, v)
		b.peak = max(b.peak, len(b.list))
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
	b := &bigSet[T]{list: make([]T, 0, 2*smallSet), pos: make(map[T]int32, 2*smallSet)}
	for _, w := range s.list {
		b.pos[w] = int32(len(b.list))
		b.list = append(b.list, w)
	}
	b.pos[v] = int32(len(b.list))
	b.list = append(b.list, v)
	b.peak = len(b.list)
	s.list, s.big = nil, b
	return true
}

// remove removes v and reports whether it was there.
func (s *values[T]) remove(v T) bool {
	if b := s.big; b != nil {
		i, ok := b.pos[v]
		if !ok {
			return false
		}
		delete(b.pos, v)
		last := len(b.list) - 1
		if int(i) != last {
			b.list[i] = b.list[last]
			b.pos[b.list[i]] = i
		}
		var zero T
		b.list[last] = zero // let the garbage collector have it
		b.list = b.list[:last]
		switch n := len(b.list); {
		case n <= smallSet/2:
			// Back to a small slice: a Go map never shrinks.
			s.list = append(make([]T, 0, n), b.list...)
			s.big = nil
		case n < b.peak/4:
			m := make(map[T]int32, n)
			for j, w := range b.list {
				m[w] = int32(j)
			}
			b.pos, b.peak = m, n
			b.list = append(make([]T, 0, 2*n), b.list...)
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
		_, ok := s.big.pos[v]
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
		return append(dst, s.big.list...)
	}
	return append(dst, s.list...)
}
