package redisstore_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/pkg/session/sessiontest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var stores atomic.Int64

// prefix returns a key prefix no other store of this test binary uses, so
// each conformance case starts empty on a shared server.
func prefix() string { return fmt.Sprintf("test%d:", stores.Add(1)) }

func newStore(t testing.TB) session.Store {
	return redisstore.New(redistest.Shared(t).Client(t), redisstore.Options{KeyPrefix: prefix()})
}

func TestConformance(t *testing.T) { sessiontest.Run(t, newStore) }

// TestConformanceCluster runs the suite through a cluster client against a
// server in cluster mode, which refuses any script whose keys span hash
// slots: it proves every script keeps to one slot. It also checks that
// NewClient builds a working cluster client.
func TestConformanceCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	sessiontest.Run(t, func(t testing.TB) session.Store {
		return redisstore.New(srv.Client(t), redisstore.Options{KeyPrefix: prefix()})
	})
	t.Run("NewClient", func(t *testing.T) {
		cfg := redisstore.Config{Addrs: []string{srv.Addr()}, Cluster: true}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		c := redisstore.NewClient(cfg)
		t.Cleanup(func() { _ = c.Close() })
		s := redisstore.New(c, redisstore.Options{KeyPrefix: prefix()})
		if _, err := s.Claim(t.Context(), session.Key{Tenant: "t", ClientID: "c"}, "gw", 4, false, time.Now()); err != nil {
			t.Fatalf("Claim through a cluster NewClient = %v", err)
		}
		if _, err := s.Expired(t.Context(), time.Now(), 10); err != nil {
			t.Fatalf("Expired through a cluster NewClient = %v", err)
		}
	})
}

// TestConformanceSentinel runs the suite through a client built by
// NewClient from a Sentinel configuration.
func TestConformanceSentinel(t *testing.T) {
	sentinel := redistest.StartSentinel(t, redistest.Start(t))
	cfg := redisstore.Config{Addrs: []string{sentinel.Addr()}, MasterName: redistest.SentinelMaster}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := redisstore.NewClient(cfg)
	t.Cleanup(func() { _ = c.Close() })
	sessiontest.Run(t, func(testing.TB) session.Store {
		return redisstore.New(c, redisstore.Options{KeyPrefix: prefix()})
	})
}

// TestKeyLayout pins the documented layout: one hash per session under
// its shard's hash tag, the shard's owner index beside it while the session
// is connected, and its expiry index once it is disconnected.
func TestKeyLayout(t *testing.T) {
	c := redistest.Shared(t).Client(t)
	ctx := t.Context()
	p := prefix()
	s := redisstore.New(c, redisstore.Options{KeyPrefix: p})
	k := session.Key{Tenant: "acme:{x}", ClientID: "dev%1"}
	cl, err := s.Claim(ctx, k, "gw", 5, false, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetExpiry(ctx, k, cl.Epoch, 60); err != nil {
		t.Fatal(err)
	}
	owners, err := c.Keys(ctx, p+"*:owners").Result()
	if err != nil || len(owners) != 1 {
		t.Fatalf("owner index keys = %q, %v; want one", owners, err)
	}
	if m, err := c.ZRange(ctx, owners[0], 0, -1).Result(); err != nil || !slices.Equal(m, []string{"gw:acme%3A%7Bx%7D:dev%251"}) {
		t.Fatalf("owner index = %q, %v; want the owner and the session's member", m, err)
	}
	if err := s.Disconnect(ctx, k, cl.Epoch, time.UnixMilli(1000)); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if len(keys) != 2 {
		t.Fatalf("keys = %q, want a session hash and an expiry index", keys)
	}
	tag := keys[0][len(p) : len(p)+len("{sNN}")]
	want := []string{p + tag + ":acme%3A%7Bx%7D:dev%251", p + tag + ":expiry"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	score, err := c.ZScore(ctx, want[1], "acme%3A%7Bx%7D:dev%251").Result()
	if err != nil || score != 61000 {
		t.Fatalf("expiry index score = %v, %v; want 61000 (ms)", score, err)
	}
	fields, err := c.HGetAll(ctx, want[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"o": "gw", "c": "0", "p": "5", "x": "60", "d": "1000", "q": "0"} {
		if fields[f] != v {
			t.Errorf("field %q = %q, want %q", f, fields[f], v)
		}
	}
}

func TestNewRejectsHashTagInPrefix(t *testing.T) {
	for _, p := range []string{"a{", "}b", "{x}"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "redisstore: key prefix") {
					t.Errorf("New(KeyPrefix %q) recovered %v, want a panic naming the prefix", p, r)
				}
			}()
			redisstore.New(nil, redisstore.Options{KeyPrefix: p})
		}()
	}
}

func TestNewClientReachesServer(t *testing.T) {
	srv := redistest.Shared(t)
	cfg := redisstore.Config{Addrs: []string{srv.Addr()}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := redisstore.NewClient(cfg)
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, redisstore.Options{KeyPrefix: prefix()})
	if _, err := s.Claim(t.Context(), session.Key{Tenant: "t", ClientID: "c"}, "gw", 4, false, time.Now()); err != nil {
		t.Fatalf("Claim through NewClient = %v", err)
	}
}

func BenchmarkStore(b *testing.B) { sessiontest.Bench(b, newStore) }

func TestGroups(t *testing.T) {
	sessiontest.RunGroups(t, func(t testing.TB) sessiontest.GroupStore {
		return redisstore.New(redistest.Shared(t).Client(t), redisstore.Options{KeyPrefix: prefix()})
	})
}

func TestGroupsCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	sessiontest.RunGroups(t, func(t testing.TB) sessiontest.GroupStore {
		return redisstore.New(srv.Client(t), redisstore.Options{KeyPrefix: prefix()})
	})
}

// TestWillIndexLayout pins the will index: a disconnected session's
// delayed will is one member of its shard's "wills" sorted set, scored by
// its due time in unix ms, and nothing is written for a session without
// one.
func TestWillIndexLayout(t *testing.T) {
	c := redistest.Shared(t).Client(t)
	ctx := t.Context()
	p := prefix()
	s := redisstore.New(c, redisstore.Options{KeyPrefix: p})
	plain := session.Key{Tenant: "acme", ClientID: "plain"}
	cl, err := s.Claim(ctx, plain, "gw", 5, false, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetExpiry(ctx, plain, cl.Epoch, 60); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWill(ctx, plain, cl.Epoch, &session.Will{Topic: "w"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWill(ctx, plain, cl.Epoch, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Disconnect(ctx, plain, cl.Epoch, time.UnixMilli(1000)); err != nil {
		t.Fatal(err)
	}
	if keys, err := c.Keys(ctx, p+"*:wills").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("will index keys without a delayed will = %q, %v; want none", keys, err)
	}

	k := session.Key{Tenant: "acme:{x}", ClientID: "dev%1"}
	cl, err = s.Claim(ctx, k, "gw", 5, false, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetExpiry(ctx, k, cl.Epoch, 3600); err != nil {
		t.Fatal(err)
	}
	// A delay past one uvarint byte (300s) checks the scripts' decoding.
	if err := s.SetWill(ctx, k, cl.Epoch, &session.Will{Topic: "w", Payload: []byte("bye"), Delay: 300}); err != nil {
		t.Fatal(err)
	}
	if err := s.Disconnect(ctx, k, cl.Epoch, time.UnixMilli(2000)); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, p+"*:wills").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("will index keys = %q, %v; want one", keys, err)
	}
	z, err := c.ZRangeWithScores(ctx, keys[0], 0, -1).Result()
	if err != nil || len(z) != 1 || z[0].Member != "acme%3A%7Bx%7D:dev%251" || z[0].Score != 302000 {
		t.Fatalf("will index = %v, %v; want the session's member scored 302000 (ms)", z, err)
	}
	if w, err := s.TakeWill(ctx, k, cl.Epoch, time.UnixMilli(302000)); err != nil || w == nil || string(w.Payload) != "bye" {
		t.Fatalf("TakeWill = %+v, %v; want the will", w, err)
	}
	if n, err := c.Exists(ctx, keys[0]).Result(); err != nil || n != 0 {
		t.Fatalf("will index after TakeWill exists = %d, %v; want it gone", n, err)
	}
}

// TestDueWillsRepairsStaleEntries: will index entries of sessions that no
// longer have a due will (left by a gateway that predates the index, which
// claims without removing them) are set right by the DueWills that meets
// them, so they cannot hide the wills due after them.
func TestDueWillsRepairsStaleEntries(t *testing.T) {
	c := redistest.Shared(t).Client(t)
	ctx := t.Context()
	p := prefix()
	s := redisstore.New(c, redisstore.Options{KeyPrefix: p})
	t0 := time.UnixMilli(1_767_225_600_000)
	// Stale entries scored before any real one: connected sessions, and a
	// session that is gone.
	for _, id := range []string{"stale-1", "stale-2", "gone"} {
		k := session.Key{Tenant: "acme", ClientID: id}
		if _, err := s.Claim(ctx, k, "gw", 5, false, t0); err != nil {
			t.Fatal(err)
		}
		hashes, err := c.Keys(ctx, p+"*:acme:"+id).Result()
		if err != nil || len(hashes) != 1 {
			t.Fatalf("hash of %s = %q, %v", id, hashes, err)
		}
		index := strings.TrimSuffix(hashes[0], "acme:"+id) + "wills"
		if err := c.ZAdd(ctx, index, redis.Z{Score: 1000, Member: "acme:" + id}).Err(); err != nil {
			t.Fatal(err)
		}
		if id == "gone" {
			if err := c.Del(ctx, hashes[0]).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	k := session.Key{Tenant: "acme", ClientID: "due"}
	cl, err := s.Claim(ctx, k, "gw", 5, false, t0)
	if err == nil {
		err = s.SetExpiry(ctx, k, cl.Epoch, 3600)
	}
	if err == nil {
		err = s.SetWill(ctx, k, cl.Epoch, &session.Will{Topic: "w", Delay: 5})
	}
	if err == nil {
		err = s.Disconnect(ctx, k, cl.Epoch, t0)
	}
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	if got, err := s.DueWills(ctx, now, 3); err != nil || len(got) != 0 {
		t.Fatalf("DueWills(limit 3) with 3 stale entries first = %d sessions, %v; want none", len(got), err)
	}
	got, err := s.DueWills(ctx, now, 3)
	if err != nil || len(got) != 1 || got[0].Key != k {
		t.Fatalf("DueWills after the repair = %d sessions, %v; want only %v", len(got), err, k)
	}
	indexes, err := c.Keys(ctx, p+"*:wills").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, ix := range indexes {
		total += c.ZCard(ctx, ix).Val()
	}
	if total != 1 {
		t.Fatalf("will index entries after the repair = %d, want 1", total)
	}
}
