// Package memstore is the in-process session.Store of the single-process
// mode: sessions live in sharded maps guarded by mutexes and vanish with the
// process. Expiry is driven only by the now arguments callers pass; the store
// runs no goroutines and reads no clock.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// shardCount spreads sessions over independently locked maps so that
// connections of one gateway do not contend on a single mutex.
const shardCount = 32

// Store is an in-memory session.Store. The zero value is not usable; call
// New. It is safe for concurrent use.
type Store struct {
	seed   maphash.Seed
	epochs atomic.Uint64 // last epoch handed out, shared by all keys
	shards [shardCount]shard
	grp    groups // shared subscription groups (groups.go)
}

var _ session.Store = (*Store)(nil)

// shard holds a slice of the sessions. Lock order: a method holds at most
// one shard lock at a time.
type shard struct {
	mu       sync.Mutex
	sessions map[session.Key]*entry // guarded by mu
	// expiring indexes the disconnected sessions that can expire, by
	// deadline; guarded by mu.
	expiring map[session.Key]time.Time
	// wills indexes the disconnected sessions whose stored will is due
	// before they end, by due time (session.State.WillDueAt); guarded by
	// mu. Sessions without such a will have no entry.
	wills map[session.Key]time.Time
}

type inflightKey struct {
	dir session.Direction
	pid uint16
}

// entry is one stored session; its fields are guarded by its shard's mu.
type entry struct {
	owner          string
	epoch          uint64
	connected      bool
	protocolLevel  byte
	expiryInterval uint32
	disconnectedAt time.Time
	subs           map[string]session.Subscription // nil until the first subscription
	will           *session.Will
	lastSeq        uint64
	inflight       map[inflightKey]session.Inflight // nil until the first entry
}

// New returns an empty Store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].sessions = make(map[session.Key]*entry)
		s.shards[i].expiring = make(map[session.Key]time.Time)
		s.shards[i].wills = make(map[session.Key]time.Time)
	}
	return s
}

func (s *Store) shard(k session.Key) *shard {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(k.Tenant)
	h.WriteByte(0)
	h.WriteString(k.ClientID)
	return &s.shards[h.Sum64()%shardCount]
}

// Claim implements session.Store.
func (s *Store) Claim(ctx context.Context, key session.Key, owner string, protocolLevel byte, clean bool, now time.Time) (session.Claimed, error) {
	if err := ctx.Err(); err != nil {
		return session.Claimed{}, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var res session.Claimed
	e := sh.sessions[key]
	if e != nil {
		st := e.state(key)
		if st.ExpiredAt(now) {
			res.Expired = st
			e = nil
		} else {
			res.Previous = st
			if clean {
				e = nil
			}
		}
	}
	if e == nil {
		e = &entry{} // subs and inflight are made on their first entry
		sh.sessions[key] = e
	}
	// The counter is shared by all keys, so a key deleted and claimed
	// again still gets an epoch larger than any it had before.
	e.epoch = s.epochs.Add(1)
	e.owner = owner
	e.connected = true
	e.protocolLevel = protocolLevel
	e.disconnectedAt = time.Time{}
	delete(sh.expiring, key)
	delete(sh.wills, key)
	res.Epoch = e.epoch
	return res, nil
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, key session.Key) (*session.State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.sessions[key]
	if e == nil {
		return nil, session.ErrNotFound
	}
	return e.state(key), nil
}

// write runs fn on the session at key under its shard lock once the epoch
// check passed.
func (s *Store) write(ctx context.Context, key session.Key, epoch uint64, fn func(sh *shard, e *entry)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.sessions[key]
	if e == nil {
		return session.ErrNotFound
	}
	if e.epoch != epoch {
		return session.ErrFenced
	}
	fn(sh, e)
	return nil
}

// PutSubscriptions implements session.Store.
func (s *Store) PutSubscriptions(ctx context.Context, key session.Key, epoch uint64, subs []session.Subscription) error {
	return s.write(ctx, key, epoch, func(_ *shard, e *entry) {
		for _, sub := range subs {
			if e.subs == nil {
				e.subs = make(map[string]session.Subscription)
			}
			e.subs[sub.Filter] = sub
		}
	})
}

// DeleteSubscriptions implements session.Store.
func (s *Store) DeleteSubscriptions(ctx context.Context, key session.Key, epoch uint64, filters []string) error {
	return s.write(ctx, key, epoch, func(_ *shard, e *entry) {
		for _, f := range filters {
			delete(e.subs, f)
		}
	})
}

// SetWill implements session.Store.
func (s *Store) SetWill(ctx context.Context, key session.Key, epoch uint64, w *session.Will) error {
	w = cloneWill(w)
	return s.write(ctx, key, epoch, func(sh *shard, e *entry) {
		e.will = w
		sh.index(key, e)
	})
}

// PutInflight implements session.Store.
func (s *Store) PutInflight(ctx context.Context, key session.Key, epoch uint64, f session.Inflight) error {
	return s.write(ctx, key, epoch, func(_ *shard, e *entry) {
		if e.inflight == nil {
			e.inflight = make(map[inflightKey]session.Inflight)
		}
		e.inflight[inflightKey{f.Direction, f.PacketID}] = f
	})
}

// DeleteInflight implements session.Store.
func (s *Store) DeleteInflight(ctx context.Context, key session.Key, epoch uint64, dir session.Direction, packetID uint16) error {
	return s.write(ctx, key, epoch, func(_ *shard, e *entry) {
		delete(e.inflight, inflightKey{dir, packetID})
	})
}

// SetLastSeq implements session.Store.
func (s *Store) SetLastSeq(ctx context.Context, key session.Key, epoch uint64, seq uint64) error {
	return s.write(ctx, key, epoch, func(_ *shard, e *entry) {
		e.lastSeq = max(e.lastSeq, seq)
	})
}

// SetExpiry implements session.Store.
func (s *Store) SetExpiry(ctx context.Context, key session.Key, epoch uint64, expiry uint32) error {
	return s.write(ctx, key, epoch, func(sh *shard, e *entry) {
		e.expiryInterval = expiry
		sh.index(key, e)
	})
}

// Disconnect implements session.Store.
func (s *Store) Disconnect(ctx context.Context, key session.Key, epoch uint64, now time.Time) error {
	return s.write(ctx, key, epoch, func(sh *shard, e *entry) {
		if e.expiryInterval == 0 {
			sh.remove(key)
			return
		}
		e.connected = false
		e.disconnectedAt = now.Truncate(time.Millisecond)
		sh.index(key, e)
	})
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, key session.Key, epoch uint64) error {
	return s.write(ctx, key, epoch, func(sh *shard, e *entry) {
		sh.remove(key)
	})
}

// Expired implements session.Store. It walks every disconnected session
// that can expire, which suits the single-process mode's scale.
func (s *Store) Expired(ctx context.Context, now time.Time, limit int) ([]*session.State, error) {
	return s.due(ctx, now, limit, func(sh *shard) map[session.Key]time.Time { return sh.expiring })
}

// DueWills implements session.Store. It walks every session with a
// delayed will waiting.
func (s *Store) DueWills(ctx context.Context, now time.Time, limit int) ([]*session.State, error) {
	return s.due(ctx, now, limit, func(sh *shard) map[session.Key]time.Time { return sh.wills })
}

// due returns up to limit sessions of the index that idx picks from each
// shard whose time is at or before now, earliest first.
func (s *Store) due(ctx context.Context, now time.Time, limit int, idx func(*shard) map[session.Key]time.Time) ([]*session.State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, nil
	}
	type due struct {
		at time.Time
		st *session.State
	}
	var all []due
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, at := range idx(sh) {
			if !now.Before(at) {
				all = append(all, due{at, sh.sessions[k].state(k)})
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b due) int {
		return cmp.Or(a.at.Compare(b.at),
			cmp.Compare(a.st.Tenant, b.st.Tenant),
			cmp.Compare(a.st.ClientID, b.st.ClientID))
	})
	out := make([]*session.State, 0, min(limit, len(all)))
	for _, d := range all[:min(limit, len(all))] {
		out = append(out, d.st)
	}
	return out, nil
}

// TakeWill implements session.Store.
func (s *Store) TakeWill(ctx context.Context, key session.Key, epoch uint64, now time.Time) (*session.Will, error) {
	var w *session.Will
	err := s.write(ctx, key, epoch, func(sh *shard, e *entry) {
		if e.connected || e.will == nil {
			return
		}
		st := session.State{
			DisconnectedAt: e.disconnectedAt,
			ExpiryInterval: e.expiryInterval,
			Will:           e.will,
		}
		if !st.WillTakeableAt(now) {
			return
		}
		w, e.will = e.will, nil // e.will is the store's own copy: hand it over
		e.epoch = s.epochs.Add(1)
		sh.index(key, e)
	})
	return w, err
}

// Owned implements session.Store. The cursor is the last key returned;
// each page walks every session of every shard, keeping at most 2×limit
// keys at a time. There is no index by owner, which would cost every
// connected session about 90 bytes (ADR 0009): Owned serves the sweeper of
// a dead gateway, and a memory store is shared only by gateways in one
// process (tests), so none of them outlives another's crash with its
// sessions. A page takes about 10 ms at 100,000 sessions.
func (s *Store) Owned(ctx context.Context, owner, cursor string, limit int) ([]*session.State, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit < 1 {
		return nil, "", nil
	}
	var after *session.Key
	if cursor != "" {
		k, err := parseCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		after = &k
	}
	var keys []session.Key
	trim := func() {
		slices.SortFunc(keys, compareKeys)
		keys = keys[:min(limit, len(keys))]
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.sessions {
			if e.connected && e.owner == owner && (after == nil || compareKeys(k, *after) > 0) {
				keys = append(keys, k)
				if len(keys) >= 2*limit {
					trim()
				}
			}
		}
		sh.mu.Unlock()
	}
	trim()
	out := make([]*session.State, 0, len(keys))
	for _, k := range keys {
		sh := s.shard(k)
		sh.mu.Lock()
		if e := sh.sessions[k]; e != nil && e.connected && e.owner == owner {
			out = append(out, e.state(k))
		}
		sh.mu.Unlock()
	}
	next := ""
	if len(keys) == limit {
		next = formatCursor(keys[len(keys)-1])
	}
	return out, next, nil
}

// Orphan implements session.Store.
func (s *Store) Orphan(ctx context.Context, key session.Key, owner string, epoch uint64, at time.Time, takeWill bool) (*session.State, error) {
	var st *session.State
	err := s.write(ctx, key, epoch, func(sh *shard, e *entry) {
		if !e.connected || e.owner != owner {
			return
		}
		e.epoch = s.epochs.Add(1)
		e.connected = false
		e.disconnectedAt = at.Truncate(time.Millisecond)
		st = e.state(key)
		if takeWill {
			e.will = nil
		}
		sh.index(key, e)
	})
	if err == nil && st == nil {
		err = session.ErrFenced
	}
	return st, err
}

func compareKeys(a, b session.Key) int {
	return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ClientID, b.ClientID))
}

// formatCursor writes k as "<length of tenant>:<tenant><client id>".
func formatCursor(k session.Key) string {
	return strconv.Itoa(len(k.Tenant)) + ":" + k.Tenant + k.ClientID
}

func parseCursor(c string) (session.Key, error) {
	ns, rest, ok := strings.Cut(c, ":")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 0 || n > len(rest) {
		return session.Key{}, fmt.Errorf("memstore: malformed cursor %q", c)
	}
	return session.Key{Tenant: rest[:n], ClientID: rest[n:]}, nil
}

// index keeps sh.expiring and sh.wills in step with e. The caller holds
// sh.mu.
func (sh *shard) index(key session.Key, e *entry) {
	if e.connected || e.expiryInterval == session.NeverExpire {
		delete(sh.expiring, key)
	} else {
		sh.expiring[key] = e.disconnectedAt.Add(time.Duration(e.expiryInterval) * time.Second)
	}
	st := session.State{
		Connected:      e.connected,
		DisconnectedAt: e.disconnectedAt,
		ExpiryInterval: e.expiryInterval,
		Will:           e.will,
	}
	if due, ok := st.WillDueAt(); ok {
		sh.wills[key] = due
	} else {
		delete(sh.wills, key)
	}
}

// remove deletes the session at key and its index entries. The caller
// holds sh.mu.
func (sh *shard) remove(key session.Key) {
	delete(sh.sessions, key)
	delete(sh.expiring, key)
	delete(sh.wills, key)
}

// state returns a deep copy of e. The caller holds the shard lock.
func (e *entry) state(key session.Key) *session.State {
	st := &session.State{
		Key:            key,
		Owner:          e.owner,
		Epoch:          e.epoch,
		Connected:      e.connected,
		ProtocolLevel:  e.protocolLevel,
		ExpiryInterval: e.expiryInterval,
		DisconnectedAt: e.disconnectedAt,
		Will:           cloneWill(e.will),
		LastSeq:        e.lastSeq,
	}
	for _, sub := range e.subs {
		st.Subscriptions = append(st.Subscriptions, sub)
	}
	slices.SortFunc(st.Subscriptions, func(a, b session.Subscription) int {
		return cmp.Compare(a.Filter, b.Filter)
	})
	for _, f := range e.inflight {
		st.Inflight = append(st.Inflight, f)
	}
	slices.SortFunc(st.Inflight, func(a, b session.Inflight) int {
		return cmp.Or(cmp.Compare(a.Direction, b.Direction),
			cmp.Compare(a.Seq, b.Seq),
			cmp.Compare(a.PacketID, b.PacketID))
	})
	return st
}

func cloneWill(w *session.Will) *session.Will {
	if w == nil {
		return nil
	}
	c := *w
	c.Payload = bytes.Clone(w.Payload)
	c.Properties = bytes.Clone(w.Properties)
	return &c
}
