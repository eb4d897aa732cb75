package sessiontest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// Bench benchmarks the hot paths of a Store: Claim (a CONNECT), the
// PutInflight/DeleteInflight pair of one QoS 1 delivery, SetLastSeq (an
// acknowledged durable position), Owned+Orphan (a crashed gateway's
// session swept) and DueWills+TakeWill (a delayed will due). Each reports ops/s besides ns/op;
// the Parallel variants run GOMAXPROCS×4 callers on distinct sessions.
func Bench(b *testing.B, newStore func(t testing.TB) session.Store) {
	b.Run("Claim", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		i := 0
		for b.Loop() {
			// A pool of 1024 sessions: mostly resumes, like reconnects.
			if _, err := s.Claim(ctx, key(fmt.Sprintf("bench-%d", i%1024)), "gw", 5, false, t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
		opsPerSec(b)
	})
	b.Run("ClaimParallel", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		var n atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := key(fmt.Sprintf("bench-%d", n.Add(1)%4096))
				if _, err := s.Claim(ctx, k, "gw", 5, false, t0); err != nil {
					b.Error(err)
					return
				}
			}
		})
		opsPerSec(b)
	})
	b.Run("InflightPutDelete", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		k := key("bench-inflight")
		e := claim(b, s, k, "gw", false, t0).Epoch
		var pid uint16
		for b.Loop() {
			pid++
			f := session.Inflight{Direction: session.Outbound, PacketID: pid, QoS: 1, State: session.AwaitPuback, Seq: uint64(pid)}
			if err := s.PutInflight(ctx, k, e, f); err != nil {
				b.Fatal(err)
			}
			if err := s.DeleteInflight(ctx, k, e, session.Outbound, pid); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSec(b)
	})
	b.Run("SetLastSeq", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		k := key("bench-lastseq")
		e := claim(b, s, k, "gw", false, t0).Epoch
		var seq uint64
		for b.Loop() {
			seq++
			if err := s.SetLastSeq(ctx, k, e, seq); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSec(b)
	})
	b.Run("OwnedOrphan", func(b *testing.B) {
		// One op: a session of a crashed gateway listed (pages of 100) and
		// orphaned, the store's share of the sweeper's work per session.
		s := newStore(b)
		ctx := b.Context()
		var page []*session.State
		made := 0
		for b.Loop() {
			if len(page) == 0 {
				var err error
				if page, _, err = s.Owned(ctx, "gw-dead", "", 100); err != nil {
					b.Fatal(err)
				}
				if len(page) == 0 {
					b.StopTimer()
					for range 1000 {
						claim(b, s, key(fmt.Sprintf("bench-orphan-%d", made)), "gw-dead", false, t0)
						made++
					}
					b.StartTimer()
					if page, _, err = s.Owned(ctx, "gw-dead", "", 100); err != nil {
						b.Fatal(err)
					}
				}
			}
			st := page[0]
			page = page[1:]
			if _, err := s.Orphan(ctx, st.Key, "gw-dead", st.Epoch, t0, false); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSec(b)
	})
	b.Run("DueWillsTake", func(b *testing.B) {
		// One op: a disconnected session's due delayed will listed
		// (batches of 100) and taken, the store's share of the will
		// sweeper's work per delayed will.
		s := newStore(b)
		ctx := b.Context()
		now := at(time.Hour)
		var batch []*session.State
		made := 0
		for b.Loop() {
			if len(batch) == 0 {
				var err error
				if batch, err = s.DueWills(ctx, now, 100); err != nil {
					b.Fatal(err)
				}
				if len(batch) == 0 {
					b.StopTimer()
					for range 1000 {
						delayedWill(b, s, key(fmt.Sprintf("bench-will-%d", made)), 30, 3600, t0)
						made++
					}
					b.StartTimer()
					if batch, err = s.DueWills(ctx, now, 100); err != nil {
						b.Fatal(err)
					}
				}
			}
			st := batch[0]
			batch = batch[1:]
			if w, err := s.TakeWill(ctx, st.Key, st.Epoch, now); err != nil || w == nil {
				b.Fatalf("TakeWill = %v, %v; want the will", w, err)
			}
		}
		opsPerSec(b)
	})
	b.Run("SetLastSeqParallel", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		var n atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			k := key(fmt.Sprintf("bench-lastseq-%d", n.Add(1)))
			c, err := s.Claim(ctx, k, "gw", 5, false, t0)
			if err != nil {
				b.Error(err)
				return
			}
			e := c.Epoch
			var seq uint64
			for pb.Next() {
				seq++
				if err := s.SetLastSeq(ctx, k, e, seq); err != nil {
					b.Error(err)
					return
				}
			}
		})
		opsPerSec(b)
	})
}

// opsPerSec reports the operations per second of the finished benchmark
// (for InflightPutDelete, one op is the pair).
func opsPerSec(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
