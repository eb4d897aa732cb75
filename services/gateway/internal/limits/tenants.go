package limits

import (
	"hash/maphash"
	"sync"
)

// numShards spreads the tenants over this many independently locked maps.
const numShards = 256

// tenantMap maps tenant ids to *Tenant: numShards maps, each behind its
// own RWMutex. A lookup read-locks one shard (it blocks only while a new
// tenant is being added to that same shard) and does not allocate, which
// a sync.Map with string keys would. Entries are never removed.
type tenantMap struct {
	seed   maphash.Seed
	shards [numShards]tenantShard
}

type tenantShard struct {
	mu sync.RWMutex
	m  map[string]*Tenant // guarded by mu
	_  [32]byte           // one 64-byte cache line per shard
}

func newTenantMap() *tenantMap { return &tenantMap{seed: maphash.MakeSeed()} }

func (tm *tenantMap) shard(id string) *tenantShard {
	return &tm.shards[maphash.String(tm.seed, id)%numShards]
}

// load returns the tenant stored under id, if any.
func (tm *tenantMap) load(id string) (*Tenant, bool) {
	s := tm.shard(id)
	s.mu.RLock()
	t, ok := s.m[id]
	s.mu.RUnlock()
	return t, ok
}

// loadOrStore returns the tenant stored under id, storing t first when
// there is none.
func (tm *tenantMap) loadOrStore(id string, t *Tenant) *Tenant {
	s := tm.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[id]; ok {
		return cur
	}
	if s.m == nil {
		s.m = make(map[string]*Tenant)
	}
	s.m[id] = t
	return t
}

// rangeAll calls f for every tenant until it returns false. f runs
// without any lock held.
func (tm *tenantMap) rangeAll(f func(*Tenant) bool) {
	var batch []*Tenant
	for i := range tm.shards {
		s := &tm.shards[i]
		s.mu.RLock()
		batch = batch[:0]
		for _, t := range s.m {
			batch = append(batch, t)
		}
		s.mu.RUnlock()
		for _, t := range batch {
			if !f(t) {
				return
			}
		}
	}
}
