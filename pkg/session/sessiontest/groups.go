package sessiontest

import (
	"context"
	"testing"
	"time"
)

// GroupStore is the optional capability behind the replay of shared
// subscriptions (the gateway's conn package declares the same methods):
// a stream position per (tenant, $share/{group}/{filter}) and a replay lock.
type GroupStore interface {
	GroupSeq(ctx context.Context, tenant, share string, init uint64) (uint64, error)
	AdvanceGroupSeq(ctx context.Context, tenant, share string, seq uint64) error
	LockGroup(ctx context.Context, tenant, share, owner string, ttl time.Duration) (unlock func(context.Context) error, ok bool, err error)
}

// RunGroups checks a GroupStore: positions are created once, only move
// forward and are kept per tenant and share; the lock has one holder at a
// time and only its holder releases it.
func RunGroups(t *testing.T, newStore func(t testing.TB) GroupStore) {
	ctx := context.Background()
	t.Run("Positions", func(t *testing.T) {
		s := newStore(t)
		const share = "$share/g/a/+"
		steps := []struct {
			name string
			op   func() (uint64, error)
			want uint64
		}{
			{"created at init", func() (uint64, error) { return s.GroupSeq(ctx, "t1", share, 10) }, 10},
			{"init ignored once created", func() (uint64, error) { return s.GroupSeq(ctx, "t1", share, 99) }, 10},
			{"other tenant apart", func() (uint64, error) { return s.GroupSeq(ctx, "t2", share, 3) }, 3},
			{"other group apart", func() (uint64, error) { return s.GroupSeq(ctx, "t1", "$share/h/a/+", 4) }, 4},
		}
		for _, st := range steps {
			got, err := st.op()
			if err != nil || got != st.want {
				t.Fatalf("%s: got %d, %v; want %d", st.name, got, err, st.want)
			}
		}
		for _, seq := range []uint64{25, 12, 1 << 60, 7} {
			if err := s.AdvanceGroupSeq(ctx, "t1", share, seq); err != nil {
				t.Fatalf("AdvanceGroupSeq(%d): %v", seq, err)
			}
		}
		if got, err := s.GroupSeq(ctx, "t1", share, 0); err != nil || got != 1<<60 {
			t.Fatalf("GroupSeq after advancing = %d, %v; want %d (never backwards)", got, err, uint64(1<<60))
		}
	})
	t.Run("Lock", func(t *testing.T) {
		s := newStore(t)
		const share = "$share/g/#"
		unlock, ok, err := s.LockGroup(ctx, "t1", share, "a", time.Minute)
		if err != nil || !ok {
			t.Fatalf("first LockGroup = %v, %v; want it taken", ok, err)
		}
		if _, ok, err := s.LockGroup(ctx, "t1", share, "b", time.Minute); err != nil || ok {
			t.Fatalf("second LockGroup = %v, %v; want it refused", ok, err)
		}
		if _, ok, err := s.LockGroup(ctx, "t2", share, "b", time.Minute); err != nil || !ok {
			t.Fatalf("LockGroup of another tenant = %v, %v; want it taken", ok, err)
		}
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		unlockB, ok, err := s.LockGroup(ctx, "t1", share, "b", time.Minute)
		if err != nil || !ok {
			t.Fatalf("LockGroup after unlock = %v, %v; want it taken", ok, err)
		}
		// A late unlock of the first holder leaves the new holder's lock.
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.LockGroup(ctx, "t1", share, "c", time.Minute); err != nil || ok {
			t.Fatalf("LockGroup after a stale unlock = %v, %v; want it refused", ok, err)
		}
		if err := unlockB(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
