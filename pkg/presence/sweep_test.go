package presence

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestGatewaysListsHeartbeats: Gateways returns the heartbeat of every
// gateway that has one, and a gateway that stopped cleanly drops out.
func TestGatewaysListsHeartbeats(t *testing.T) {
	js := newJS(t)
	ctx := t.Context()
	startReporter(t, js, Config{GatewayID: "gw-a", Heartbeat: time.Second})
	_, stopB := startReporter(t, js, Config{GatewayID: "gw-b", Heartbeat: 2 * time.Second})
	rd := newReader(t, js, nil)
	gws, err := rd.Gateways(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Gateway{}
	for _, g := range gws {
		byID[g.ID] = g
	}
	a, b := byID["gw-a"], byID["gw-b"]
	if len(gws) != 2 || a.Interval != time.Second || b.Interval != 2*time.Second || a.Instance == "" || a.LastSeen.IsZero() {
		t.Fatalf("Gateways() = %+v, want gw-a (1s) and gw-b (2s)", gws)
	}
	if !a.Alive(time.Now(), 0) {
		t.Errorf("gw-a.Alive(now) = false just after its heartbeat")
	}
	// A grace shorter than three heartbeats counts as three.
	if !a.Alive(a.LastSeen.Add(3*time.Second), time.Millisecond) || a.Alive(a.LastSeen.Add(3*time.Second+time.Millisecond), time.Millisecond) {
		t.Errorf("Alive with a tiny grace is not three heartbeat intervals")
	}
	if !a.Alive(a.LastSeen.Add(time.Minute), time.Minute) || a.Alive(a.LastSeen.Add(time.Minute+time.Millisecond), time.Minute) {
		t.Errorf("Alive does not honour a grace of a minute")
	}
	stopB()
	checkFor(t, 10*time.Second, func() error {
		gws, err := rd.Gateways(ctx)
		if err != nil {
			return err
		}
		if len(gws) != 1 || gws[0].ID != "gw-a" {
			return errors.New("gw-b still listed after a clean stop")
		}
		return nil
	})
}

// TestClaimSweep: one gateway wins the sweep of a dead instance; a fresh
// lock keeps others out, a stale one is taken over, a finished one is never
// swept again, a later instance of the same gateway is swept anew, and a
// restarting gateway's TakeSweep stops a sweep of its previous run.
func TestClaimSweep(t *testing.T) {
	js := newJS(t)
	ctx := t.Context()
	kv := bucketOf(t, js)
	now := time.Now()
	clock := func() time.Time { return now }
	rd := newReader(t, js, clock)
	dead := Gateway{ID: "gw-dead", Instance: "i1"}

	s1, err := rd.ClaimSweep(ctx, dead, "gw-a", time.Minute)
	if err != nil {
		t.Fatalf("first ClaimSweep = %v", err)
	}
	if _, err := rd.ClaimSweep(ctx, dead, "gw-b", time.Minute); !errors.Is(err, ErrSweepHeld) {
		t.Fatalf("ClaimSweep of a held lock = %v, want ErrSweepHeld", err)
	}
	if err := s1.Refresh(ctx); err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	// gw-a stops refreshing: two minutes later gw-b takes the lock over.
	now = now.Add(2 * time.Minute)
	s2, err := rd.ClaimSweep(ctx, dead, "gw-b", time.Minute)
	if err != nil {
		t.Fatalf("ClaimSweep of a stale lock = %v", err)
	}
	if err := s1.Refresh(ctx); err == nil {
		t.Fatalf("Refresh by the holder that lost the lock succeeded")
	}
	if err := s2.Finish(ctx); err != nil {
		t.Fatalf("Finish = %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := rd.ClaimSweep(ctx, dead, "gw-c", time.Minute); !errors.Is(err, ErrSweepDone) {
		t.Fatalf("ClaimSweep of a swept instance = %v, want ErrSweepDone", err)
	}
	// The gateway restarted (instance i2) and died again.
	if _, err := rd.ClaimSweep(ctx, Gateway{ID: "gw-dead", Instance: "i2"}, "gw-c", time.Minute); err != nil {
		t.Fatalf("ClaimSweep of a new instance = %v", err)
	}
	if _, err := kv.Get(ctx, SweepKey("gw-dead")); errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("no sweep record under %s", SweepKey("gw-dead"))
	}
	// gw-dead restarts and takes its own lock: the sweeper of its
	// previous run loses it, and nobody else starts one while it is fresh
	// (by the real clock from here on).
	rd = newReader(t, js, nil)
	s3, err := rd.ClaimSweep(ctx, Gateway{ID: "gw-dead", Instance: "i3"}, "gw-c", time.Minute) // gw-c holds it already
	if err != nil {
		t.Fatalf("ClaimSweep of instance i3 = %v", err)
	}
	own, err := rd.TakeSweep(ctx, "gw-dead", "gw-dead")
	if err != nil {
		t.Fatalf("TakeSweep = %v", err)
	}
	if err := s3.Refresh(ctx); err == nil {
		t.Fatalf("Refresh after the gateway took its own lock succeeded")
	}
	if _, err := rd.ClaimSweep(ctx, Gateway{ID: "gw-dead", Instance: "i3"}, "gw-b", time.Minute); !errors.Is(err, ErrSweepHeld) {
		t.Fatalf("ClaimSweep after TakeSweep = %v, want ErrSweepHeld", err)
	}
	// Once the restarted gateway finishes its own lock, a later crash of
	// it (a new instance) can be swept at once.
	if err := own.Refresh(ctx); err != nil {
		t.Fatalf("Refresh of the gateway's own lock = %v", err)
	}
	if err := own.Finish(ctx); err != nil {
		t.Fatalf("Finish of the gateway's own lock = %v", err)
	}
	if _, err := rd.ClaimSweep(ctx, Gateway{ID: "gw-dead", Instance: "i4"}, "gw-b", time.Minute); err != nil {
		t.Fatalf("ClaimSweep after the own lock finished = %v", err)
	}
	if _, err := rd.TakeSweep(ctx, "bad.id", "gw-c"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("TakeSweep of a bad id = %v, want ErrInvalidID", err)
	}
	if _, err := rd.ClaimSweep(ctx, Gateway{ID: "bad.id"}, "gw-c", time.Minute); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("ClaimSweep of a bad id = %v, want ErrInvalidID", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := rd.Gateways(cctx); err == nil {
		t.Fatalf("Gateways with a cancelled context succeeded")
	}
}
