package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flockmq/flockmq/pkg/session"
)

// DefaultKeyPrefix prefixes every key when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "flock:"

// Options tune a Store.
type Options struct {
	// KeyPrefix starts every key the store writes, so several stores (or
	// other data) can share one Redis. It must not contain '{' or '}',
	// which would break the hash tags. Empty means DefaultKeyPrefix.
	KeyPrefix string
}

// Store is a session.Store kept in Redis. It is safe for concurrent use
// and holds no state of its own besides the client.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ session.Store = (*Store)(nil)

// New returns a Store that keeps sessions through client, which may talk to
// a single node, a Sentinel-managed primary or a Cluster. It panics when
// opts.KeyPrefix holds '{' or '}', a programming error.
func New(client redis.UniversalClient, opts Options) *Store {
	p := cmp.Or(opts.KeyPrefix, DefaultKeyPrefix)
	if strings.ContainsAny(p, "{}") {
		panic(fmt.Sprintf("redisstore: key prefix %q must not contain '{' or '}'", p))
	}
	return &Store{client: client, prefix: p}
}

// tag is the hash tag of shard i: the session hashes and the expiry index
// of a shard all live in its slot.
func (s *Store) tag(i int) string { return fmt.Sprintf("%s{s%02x}:", s.prefix, i) }

// keys returns the session hash and expiry index keys of k, and k's member
// in that index.
func (s *Store) keys(k session.Key) (hash, index, m string) {
	m = member(k)
	t := s.tag(shardOf(m))
	return t + m, t + "expiry", m
}

// owners is the key of shard i's owner index.
func (s *Store) owners(i int) string { return s.tag(i) + "owners" }

// wills is the key of shard i's will index.
func (s *Store) wills(i int) string { return s.tag(i) + "wills" }

// Claim implements session.Store.
func (s *Store) Claim(ctx context.Context, key session.Key, owner string, protocolLevel byte, clean bool, now time.Time) (session.Claimed, error) {
	h, z, m := s.keys(key)
	c := "0"
	if clean {
		c = "1"
	}
	i := shardOf(m)
	res, err := claimScript.Run(ctx, s.client, []string{h, z, s.owners(i), s.wills(i)}, m, owner, int(protocolLevel), c, now.UnixMilli()).Slice()
	if err != nil {
		return session.Claimed{}, fmt.Errorf("redisstore: claim %q/%q: %w", key.Tenant, key.ClientID, err)
	}
	if len(res) != 3 {
		return session.Claimed{}, fmt.Errorf("redisstore: claim %q/%q: unexpected reply %v", key.Tenant, key.ClientID, res)
	}
	status, _ := res[0].(string)
	es, _ := res[1].(string)
	flat, _ := res[2].([]any)
	epoch, err := strconv.ParseUint(es, 10, 64)
	if err != nil {
		return session.Claimed{}, fmt.Errorf("redisstore: claim %q/%q: epoch %q: %w", key.Tenant, key.ClientID, es, err)
	}
	out := session.Claimed{Epoch: epoch}
	if status == "new" {
		return out, nil
	}
	prev, err := decodeState(key, pairs(flat))
	if err != nil {
		// The claim went through; only the old state is unreadable.
		return out, fmt.Errorf("redisstore: claim %q/%q: previous state: %w", key.Tenant, key.ClientID, err)
	}
	if status == "expired" {
		out.Expired = prev
	} else {
		out.Previous = prev
	}
	return out, nil
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, key session.Key) (*session.State, error) {
	h, _, _ := s.keys(key)
	fields, err := s.client.HGetAll(ctx, h).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: load %q/%q: %w", key.Tenant, key.ClientID, err)
	}
	if len(fields) == 0 {
		return nil, session.ErrNotFound
	}
	st, err := decodeState(key, fields)
	if err != nil {
		return nil, fmt.Errorf("redisstore: load %q/%q: %w", key.Tenant, key.ClientID, err)
	}
	return st, nil
}

// run executes a fenced write script and maps its reply to an error.
func (s *Store) run(ctx context.Context, op string, sc *redis.Script, key session.Key, keys []string, args ...any) error {
	code, err := sc.Run(ctx, s.client, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("redisstore: %s %q/%q: %w", op, key.Tenant, key.ClientID, err)
	}
	switch code {
	case 0:
		return nil
	case 1:
		return session.ErrNotFound
	case 2:
		return session.ErrFenced
	default:
		return fmt.Errorf("redisstore: %s %q/%q: unexpected reply %d", op, key.Tenant, key.ClientID, code)
	}
}

// fields runs fieldsScript: set holds field/value pairs, del field names.
func (s *Store) fields(ctx context.Context, op string, key session.Key, epoch uint64, set []string, del []string) error {
	h, _, _ := s.keys(key)
	args := make([]any, 0, 2+len(set)+len(del))
	args = append(args, strconv.FormatUint(epoch, 10), len(set)/2)
	for _, v := range set {
		args = append(args, v)
	}
	for _, v := range del {
		args = append(args, v)
	}
	return s.run(ctx, op, fieldsScript, key, []string{h}, args...)
}

// PutSubscriptions implements session.Store.
func (s *Store) PutSubscriptions(ctx context.Context, key session.Key, epoch uint64, subs []session.Subscription) error {
	set := make([]string, 0, 2*len(subs))
	for _, sub := range subs {
		set = append(set, prefixSub+sub.Filter, encodeSub(sub))
	}
	return s.fields(ctx, "put subscriptions", key, epoch, set, nil)
}

// DeleteSubscriptions implements session.Store.
func (s *Store) DeleteSubscriptions(ctx context.Context, key session.Key, epoch uint64, filters []string) error {
	del := make([]string, 0, len(filters))
	for _, f := range filters {
		del = append(del, prefixSub+f)
	}
	return s.fields(ctx, "delete subscriptions", key, epoch, nil, del)
}

// SetWill implements session.Store.
func (s *Store) SetWill(ctx context.Context, key session.Key, epoch uint64, w *session.Will) error {
	h, _, m := s.keys(key)
	op, enc := "clear will", ""
	if w != nil {
		op, enc = "set will", encodeWill(w)
	}
	return s.run(ctx, op, setWillScript, key, []string{h, s.wills(shardOf(m))},
		strconv.FormatUint(epoch, 10), m, enc)
}

// PutInflight implements session.Store.
func (s *Store) PutInflight(ctx context.Context, key session.Key, epoch uint64, f session.Inflight) error {
	return s.fields(ctx, "put in-flight", key, epoch,
		[]string{inflightField(f.Direction, f.PacketID), encodeInflight(f)}, nil)
}

// DeleteInflight implements session.Store.
func (s *Store) DeleteInflight(ctx context.Context, key session.Key, epoch uint64, dir session.Direction, packetID uint16) error {
	return s.fields(ctx, "delete in-flight", key, epoch, nil, []string{inflightField(dir, packetID)})
}

// SetLastSeq implements session.Store.
func (s *Store) SetLastSeq(ctx context.Context, key session.Key, epoch uint64, seq uint64) error {
	h, _, _ := s.keys(key)
	return s.run(ctx, "set last sequence", lastSeqScript, key, []string{h},
		strconv.FormatUint(epoch, 10), strconv.FormatUint(seq, 10))
}

// SetExpiry implements session.Store.
func (s *Store) SetExpiry(ctx context.Context, key session.Key, epoch uint64, expiry uint32) error {
	h, z, m := s.keys(key)
	return s.run(ctx, "set expiry", setExpiryScript, key, []string{h, z, s.wills(shardOf(m))},
		strconv.FormatUint(epoch, 10), strconv.FormatUint(uint64(expiry), 10), m)
}

// Disconnect implements session.Store.
func (s *Store) Disconnect(ctx context.Context, key session.Key, epoch uint64, now time.Time) error {
	h, z, m := s.keys(key)
	i := shardOf(m)
	return s.run(ctx, "disconnect", disconnectScript, key, []string{h, z, s.owners(i), s.wills(i)},
		strconv.FormatUint(epoch, 10), strconv.FormatInt(now.UnixMilli(), 10), m)
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, key session.Key, epoch uint64) error {
	h, z, m := s.keys(key)
	i := shardOf(m)
	return s.run(ctx, "delete", deleteScript, key, []string{h, z, s.owners(i), s.wills(i)}, strconv.FormatUint(epoch, 10), m)
}

// Expired implements session.Store. It asks every shard's expiry index for
// up to limit members due at now (one pipeline; a Cluster client splits it
// by node), keeps the limit earliest, and loads them in a second pipeline.
// A session claimed or deleted between the two is left out, so a call may
// return fewer than limit even when more are due.
func (s *Store) Expired(ctx context.Context, now time.Time, limit int) ([]*session.State, error) {
	return s.due(ctx, "expired", "expiry", now, limit, false, func(st *session.State) bool { return st.ExpiredAt(now) })
}

// DueWills implements session.Store. It reads the shards' will indexes as
// Expired reads the expiry indexes, and leaves out a session whose will
// was taken, or that was claimed or deleted, between the two pipelines.
// Such an entry, if still in its index, is set right from the session's
// hash: during a rolling upgrade a gateway that predates the index may
// claim a session without removing its entry, and stale entries must not
// hide the wills due after them.
func (s *Store) DueWills(ctx context.Context, now time.Time, limit int) ([]*session.State, error) {
	return s.due(ctx, "due wills", "wills", now, limit, true, func(st *session.State) bool {
		t, ok := st.WillDueAt()
		return ok && !now.Before(t)
	})
}

// due lists up to limit members of the shards' index named index whose
// score is at or before now, earliest first, and returns the states of
// those for which keep holds when loaded. With reindex, the will index
// entry of every other member is recomputed from its hash.
func (s *Store) due(ctx context.Context, op, index string, now time.Time, limit int, reindex bool, keep func(*session.State) bool) ([]*session.State, error) {
	if limit < 1 {
		return nil, ctx.Err()
	}
	by := &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}
	pipe := s.client.Pipeline()
	ranges := make([]*redis.ZSliceCmd, shards)
	for i := range shards {
		ranges[i] = pipe.ZRangeByScoreWithScores(ctx, s.tag(i)+index, by)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: %s: read the %s index: %w", op, index, err)
	}
	type due struct {
		at float64
		m  string
	}
	var all []due
	for _, r := range ranges {
		for _, z := range r.Val() {
			m, _ := z.Member.(string)
			all = append(all, due{z.Score, m})
		}
	}
	slices.SortFunc(all, func(a, b due) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.m, b.m)) })
	all = all[:min(limit, len(all))]
	if len(all) == 0 {
		return nil, nil
	}

	keys := make([]session.Key, len(all))
	loads := make([]*redis.MapStringStringCmd, len(all))
	pipe = s.client.Pipeline()
	for i, d := range all {
		k, err := parseMember(d.m)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s: %w", op, err)
		}
		keys[i] = k
		h, _, _ := s.keys(k)
		loads[i] = pipe.HGetAll(ctx, h)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: %s: load sessions: %w", op, err)
	}
	out := make([]*session.State, 0, len(all))
	var stale []session.Key
	for i, l := range loads {
		if len(l.Val()) == 0 {
			stale = append(stale, keys[i]) // deleted meanwhile
			continue
		}
		st, err := decodeState(keys[i], l.Val())
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s: session %q/%q: %w", op, keys[i].Tenant, keys[i].ClientID, err)
		}
		if keep(st) {
			out = append(out, st)
		} else {
			stale = append(stale, keys[i])
		}
	}
	if reindex {
		for _, k := range stale {
			h, _, m := s.keys(k)
			if err := reindexWillScript.Run(ctx, s.client, []string{h, s.wills(shardOf(m))}, m).Err(); err != nil {
				return nil, fmt.Errorf("redisstore: %s: set the will index entry of %q/%q right: %w", op, k.Tenant, k.ClientID, err)
			}
		}
	}
	return out, nil
}

// TakeWill implements session.Store.
func (s *Store) TakeWill(ctx context.Context, key session.Key, epoch uint64, now time.Time) (*session.Will, error) {
	h, _, m := s.keys(key)
	res, err := takeWillScript.Run(ctx, s.client, []string{h, s.wills(shardOf(m))},
		strconv.FormatUint(epoch, 10), strconv.FormatInt(now.UnixMilli(), 10), m).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: take will %q/%q: %w", key.Tenant, key.ClientID, err)
	}
	switch v := res.(type) {
	case int64:
		switch v {
		case 1:
			return nil, session.ErrNotFound
		case 2:
			return nil, session.ErrFenced
		case 3:
			return nil, nil
		}
	case string:
		w, err := decodeWill(v)
		if err != nil {
			// Taken, and unreadable: nobody else can get it either.
			return nil, fmt.Errorf("redisstore: take will %q/%q: %w", key.Tenant, key.ClientID, err)
		}
		return w, nil
	}
	return nil, fmt.Errorf("redisstore: take will %q/%q: unexpected reply %v", key.Tenant, key.ClientID, res)
}

// pairs turns a flat HGETALL reply into a map.
func pairs(flat []any) map[string]string {
	fields := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		f, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[f] = v
	}
	return fields
}

// ownedWindow is how many shards' owner indexes one round trip of Owned
// reads; it bounds a page's memory to ownedWindow×limit index entries.
const ownedWindow = 16

// Owned implements session.Store. It walks the shards' owner indexes in
// shard order, each in lexical order of its entries, ownedWindow shards per
// pipeline, and loads the sessions found in one more pipeline. The cursor
// is "<shard>:<member>" of the last entry returned.
func (s *Store) Owned(ctx context.Context, owner, cursor string, limit int) ([]*session.State, string, error) {
	if limit < 1 {
		return nil, "", ctx.Err()
	}
	first, after := 0, ""
	if cursor != "" {
		ns, m, ok := strings.Cut(cursor, ":")
		n, err := strconv.ParseUint(ns, 16, 16)
		if !ok || err != nil || n >= shards {
			return nil, "", fmt.Errorf("redisstore: owned: malformed cursor %q", cursor)
		}
		first, after = int(n), m
	}
	prefix := escape(owner) + ":"
	hi := "(" + escape(owner) + ";" // ';' follows ':'
	type found struct {
		shard int
		m     string
	}
	var got []found
	next := ""
	for lo := first; lo < shards && next == ""; lo += ownedWindow {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.StringSliceCmd, 0, ownedWindow)
		for i := lo; i < min(lo+ownedWindow, shards); i++ {
			from := "[" + prefix
			if i == first && after != "" {
				from = "(" + prefix + after
			}
			cmds = append(cmds, pipe.ZRangeByLex(ctx, s.owners(i), &redis.ZRangeBy{
				Min: from, Max: hi, Count: int64(limit - len(got)),
			}))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("redisstore: owned by %q: read the owner index: %w", owner, err)
		}
		for j, c := range cmds {
			for _, e := range c.Val() {
				got = append(got, found{lo + j, strings.TrimPrefix(e, prefix)})
				if len(got) == limit {
					break
				}
			}
			if len(got) == limit {
				last := got[len(got)-1]
				next = fmt.Sprintf("%02x:%s", last.shard, last.m)
				break
			}
		}
	}
	if len(got) == 0 {
		return nil, next, nil
	}
	keys := make([]session.Key, len(got))
	loads := make([]*redis.MapStringStringCmd, len(got))
	pipe := s.client.Pipeline()
	for i, f := range got {
		k, err := parseMember(f.m)
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: owned by %q: %w", owner, err)
		}
		keys[i] = k
		h, _, _ := s.keys(k)
		loads[i] = pipe.HGetAll(ctx, h)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("redisstore: owned by %q: load sessions: %w", owner, err)
	}
	out := make([]*session.State, 0, len(got))
	for i, l := range loads {
		if len(l.Val()) == 0 {
			continue // deleted meanwhile
		}
		st, err := decodeState(keys[i], l.Val())
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: owned by %q: session %q/%q: %w", owner, keys[i].Tenant, keys[i].ClientID, err)
		}
		if st.Connected && st.Owner == owner {
			out = append(out, st)
		}
	}
	return out, next, nil
}

// Orphan implements session.Store.
func (s *Store) Orphan(ctx context.Context, key session.Key, owner string, epoch uint64, at time.Time, takeWill bool) (*session.State, error) {
	h, z, m := s.keys(key)
	take := "0"
	if takeWill {
		take = "1"
	}
	i := shardOf(m)
	res, err := orphanScript.Run(ctx, s.client, []string{h, z, s.owners(i), s.wills(i)},
		strconv.FormatUint(epoch, 10), owner, strconv.FormatInt(at.UnixMilli(), 10), m, take).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: orphan %q/%q: %w", key.Tenant, key.ClientID, err)
	}
	switch v := res.(type) {
	case int64:
		switch v {
		case 1:
			return nil, session.ErrNotFound
		case 2:
			return nil, session.ErrFenced
		}
	case []any:
		st, err := decodeState(key, pairs(v))
		if err != nil {
			return nil, fmt.Errorf("redisstore: orphan %q/%q: %w", key.Tenant, key.ClientID, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("redisstore: orphan %q/%q: unexpected reply %v", key.Tenant, key.ClientID, res)
}
