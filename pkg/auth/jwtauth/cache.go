package jwtauth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verified is what the verifier keeps of a token whose signature and
// claims it checked: enough to authorize it again without the signature
// check. Immutable once built.
type verified struct {
	key *Key // the key that verified the signature, as KeySource returned it
	sub string
	jti string
	exp time.Time // never zero: exp is required
	nbf time.Time // zero when absent
	iat time.Time // zero when absent
}

// tokenHash names a token in the cache. SHA-256 so that no one can craft
// a second token landing on a verified token's entry.
type tokenHash [sha256.Size]byte

const cacheShards = 16

// tokenCache remembers verified tokens so that a reconnect storm presenting
// the same tokens again skips the signature check. It is bounded: each
// shard holds two generations of at most perGen entries; when the current
// generation fills up, the previous one is dropped and the current one
// becomes previous. A hit in the previous generation moves the entry to the
// current one, so tokens in use survive and idle ones age out (an
// approximation of LRU without per-hit bookkeeping). Safe for concurrent use.
type tokenCache struct {
	perGen int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu   sync.Mutex
	cur  map[tokenHash]*verified // guarded by mu
	prev map[tokenHash]*verified // guarded by mu
}

// newTokenCache returns a cache of about size entries, or nil when size is
// zero or negative (no caching).
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	per := max(size/(2*cacheShards), 1)
	c := &tokenCache{perGen: per}
	for i := range c.shards {
		c.shards[i].cur = make(map[tokenHash]*verified)
	}
	return c
}

func (c *tokenCache) shard(h tokenHash) *cacheShard { return &c.shards[h[0]%cacheShards] }

func (c *tokenCache) get(h tokenHash) (*verified, bool) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[h]; ok {
		return v, true
	}
	v, ok := s.prev[h]
	if ok {
		delete(s.prev, h)
		s.putLocked(h, v, c.perGen)
	}
	return v, ok
}

func (c *tokenCache) put(h tokenHash, v *verified) {
	s := c.shard(h)
	s.mu.Lock()
	s.putLocked(h, v, c.perGen)
	s.mu.Unlock()
}

func (c *tokenCache) remove(h tokenHash) {
	s := c.shard(h)
	s.mu.Lock()
	delete(s.cur, h)
	delete(s.prev, h)
	s.mu.Unlock()
}

func (s *cacheShard) putLocked(h tokenHash, v *verified, perGen int) {
	if _, ok := s.cur[h]; !ok && len(s.cur) >= perGen {
		s.prev = s.cur
		s.cur = make(map[tokenHash]*verified, perGen)
	}
	s.cur[h] = v
}

// len counts the entries; for tests.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.prev)
		s.mu.Unlock()
	}
	return n
}
