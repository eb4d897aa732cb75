package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared subscription groups. A group's position in its tenant's durable
// stream is one string key per (tenant, $share/{group}/{filter}), and its
// replay lock a second key beside it; both carry the tenant's hash tag so
// they share a slot. Positions expire after groupTTL without a write, so
// groups that are gone leave nothing behind for long.

const groupTTL = 30 * 24 * time.Hour

func (s *Store) groupKey(tenant, share string) string {
	return s.prefix + "grp:{" + tenant + "}:" + share
}

// groupSeqScript: KEYS[1] the position; ARGV[1] the position to create it
// at when absent, ARGV[2] the TTL in ms. Returns the position.
var groupSeqScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return cur
`)

// advanceGroupScript: KEYS[1] the position; ARGV[1] the new position,
// ARGV[2] the TTL in ms. Sets it when larger (decimal strings compared by
// length, then bytes) and refreshes the TTL.
var advanceGroupScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or '0'
local new = ARGV[1]
local greater = #new > #cur
if #new == #cur then greater = new > cur end
if greater then
  redis.call('SET', KEYS[1], new, 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// unlockScript deletes KEYS[1] when it holds ARGV[1].
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// GroupSeq returns the stream position of the shared subscription share
// ($share/{group}/{filter}) of tenant, creating it at init when the group
// has none.
func (s *Store) GroupSeq(ctx context.Context, tenant, share string, init uint64) (uint64, error) {
	v, err := groupSeqScript.Run(ctx, s.client, []string{s.groupKey(tenant, share)},
		strconv.FormatUint(init, 10), groupTTL.Milliseconds()).Text()
	if err != nil {
		return 0, fmt.Errorf("redisstore: group position %q of tenant %s: %w", share, tenant, err)
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: group position %q of tenant %s: %w", share, tenant, err)
	}
	return seq, nil
}

// AdvanceGroupSeq moves the group's position forward to seq; it never
// moves back.
func (s *Store) AdvanceGroupSeq(ctx context.Context, tenant, share string, seq uint64) error {
	err := advanceGroupScript.Run(ctx, s.client, []string{s.groupKey(tenant, share)},
		strconv.FormatUint(seq, 10), groupTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: advance group position %q of tenant %s: %w", share, tenant, err)
	}
	return nil
}

// LockGroup takes the group's replay lock for owner, for at most ttl. ok is
// false when somebody else holds it. unlock releases it if owner still
// holds it.
func (s *Store) LockGroup(ctx context.Context, tenant, share, owner string, ttl time.Duration) (unlock func(context.Context) error, ok bool, err error) {
	k := s.groupKey(tenant, share) + ":lock"
	err = s.client.SetArgs(ctx, k, owner, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redisstore: lock group %q of tenant %s: %w", share, tenant, err)
	}
	return func(ctx context.Context) error {
		if err := unlockScript.Run(ctx, s.client, []string{k}, owner).Err(); err != nil {
			return fmt.Errorf("redisstore: unlock group %q of tenant %s: %w", share, tenant, err)
		}
		return nil
	}, true, nil
}
