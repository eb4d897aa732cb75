package memstore

import (
	"context"
	"sync"
	"time"
)

// groups keeps the shared subscription groups' positions and replay locks.
type groups struct {
	mu    sync.Mutex
	seqs  map[string]uint64
	locks map[string]groupLock
}

type groupLock struct {
	owner string
	until time.Time
}

// groups returns the store's groups with their maps made.
func (s *Store) groups() *groups {
	g := &s.grp
	g.mu.Lock()
	if g.seqs == nil {
		g.seqs, g.locks = map[string]uint64{}, map[string]groupLock{}
	}
	g.mu.Unlock()
	return g
}

// GroupSeq returns the stream position of the shared subscription share
// ($share/{group}/{filter}) of tenant, creating it at init when the group
// has none.
func (s *Store) GroupSeq(ctx context.Context, tenant, share string, init uint64) (uint64, error) {
	g := s.groups()
	g.mu.Lock()
	defer g.mu.Unlock()
	k := tenant + "\x00" + share
	if v, ok := g.seqs[k]; ok {
		return v, nil
	}
	g.seqs[k] = init
	return init, nil
}

// AdvanceGroupSeq moves the group's position forward to seq.
func (s *Store) AdvanceGroupSeq(ctx context.Context, tenant, share string, seq uint64) error {
	g := s.groups()
	g.mu.Lock()
	defer g.mu.Unlock()
	k := tenant + "\x00" + share
	g.seqs[k] = max(g.seqs[k], seq)
	return nil
}

// LockGroup takes the group's replay lock for owner, for at most ttl.
func (s *Store) LockGroup(ctx context.Context, tenant, share, owner string, ttl time.Duration) (func(context.Context) error, bool, error) {
	g := s.groups()
	g.mu.Lock()
	defer g.mu.Unlock()
	k := tenant + "\x00" + share
	now := time.Now()
	if l, ok := g.locks[k]; ok && now.Before(l.until) {
		return nil, false, nil
	}
	g.locks[k] = groupLock{owner: owner, until: now.Add(ttl)}
	return func(context.Context) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if l, ok := g.locks[k]; ok && l.owner == owner {
			delete(g.locks, k)
		}
		return nil
	}, true, nil
}
