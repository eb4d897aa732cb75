package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of Reader.ClaimSweep.
var (
	// ErrSweepHeld: another gateway holds the sweep lock of the dead
	// gateway and refreshed it within the lock's time to live.
	ErrSweepHeld = errors.New("presence: another gateway is sweeping")
	// ErrSweepDone: this instance of the dead gateway was swept already.
	ErrSweepDone = errors.New("presence: gateway already swept")
)

// Gateway is what a gateway's last heartbeat says.
type Gateway struct {
	ID       string
	Instance string // random id of the gateway's current start
	// LastSeen is when the heartbeat was written, by the NATS server's
	// clock.
	LastSeen  time.Time
	Interval  time.Duration // the gateway's heartbeat interval
	StartedAt time.Time
}

// Alive reports whether the gateway wrote its heartbeat within grace
// before now. A grace below three heartbeat intervals counts as three, so
// a gateway is never judged on a single late heartbeat.
func (g Gateway) Alive(now time.Time, grace time.Duration) bool {
	return now.Sub(g.LastSeen) <= max(grace, staleAfter*g.Interval)
}

// SweepKey is the bucket key of the sweep lock of gateway id.
func SweepKey(id string) string { return "sweeps." + id }

// Gateways returns the last heartbeat of every gateway that has one: the
// running ones and those that stopped without deleting theirs (crashed).
// A gateway that stopped cleanly deleted its heartbeat and is absent.
func (r *Reader) Gateways(ctx context.Context) ([]Gateway, error) {
	kv, err := r.bucket(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.Watch(wctx, GatewayKey("*"), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("presence: list gateways: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []Gateway
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("presence: list gateways: the watcher stopped")
			}
			if e == nil {
				return out, nil
			}
			var hb heartbeat
			if json.Unmarshal(e.Value(), &hb) != nil || hb.Interval <= 0 || GatewayKey(hb.Gateway) != e.Key() {
				continue
			}
			out = append(out, Gateway{ID: hb.Gateway, Instance: hb.Instance, LastSeen: e.Created(), Interval: hb.Interval, StartedAt: hb.StartedAt})
		}
	}
}

// sweepRecord is the JSON value stored under sweeps.<gateway id>.
type sweepRecord struct {
	Holder   string `json:"holder"`   // id of the sweeping gateway
	Instance string `json:"instance"` // instance of the dead gateway being swept
	Done     bool   `json:"done"`
}

// Sweep is a held sweep lock: the right to orphan the sessions of one
// dead gateway instance. Refresh it more often than its time to live; a
// holder that stops refreshing (it died too) loses it to the next
// claimant. A Sweep is used by one goroutine.
type Sweep struct {
	kv  jetstream.KeyValue
	key string
	rec sweepRecord
	rev uint64
}

// ClaimSweep elects the caller, the gateway holder, to sweep dead: it
// creates sweeps.<dead.ID>, or takes it over when the lock there is older
// than ttl, is the holder's own, or records a finished sweep of an earlier
// instance of the gateway. It returns
// ErrSweepHeld when another gateway holds a fresh lock, ErrSweepDone when
// this instance of dead was swept already.
func (r *Reader) ClaimSweep(ctx context.Context, dead Gateway, holder string, ttl time.Duration) (*Sweep, error) {
	if !ValidGatewayID(dead.ID) {
		return nil, fmt.Errorf("presence: gateway id %q: %w", dead.ID, ErrInvalidID)
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return nil, err
	}
	s := &Sweep{kv: kv, key: SweepKey(dead.ID), rec: sweepRecord{Holder: holder, Instance: dead.Instance}}
	val, _ := json.Marshal(s.rec)
	e, err := kv.Get(ctx, s.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		s.rev, err = kv.Create(ctx, s.key, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, ErrSweepHeld
		}
	case err != nil:
	default:
		var cur sweepRecord
		if json.Unmarshal(e.Value(), &cur) == nil {
			if cur.Done && cur.Instance == dead.Instance {
				return nil, ErrSweepDone
			}
			// A lock in use keeps others out, whichever instance it is
			// for; the holder itself may take it again (its earlier
			// attempt stopped on an error).
			if !cur.Done && cur.Holder != holder && r.cfg.Now().Sub(e.Created()) <= ttl {
				return nil, ErrSweepHeld
			}
		}
		s.rev, err = kv.Update(ctx, s.key, val, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, ErrSweepHeld // another claimant updated it first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("presence: claim the sweep of gateway %s: %w", dead.ID, err)
	}
	return s, nil
}

// TakeSweep takes the sweep lock of gateway id for holder unconditionally.
// A gateway calls it for its own id when it starts, before it accepts
// connections: a gateway still sweeping the sessions of its previous run
// then fails to refresh the lock and stops, so it never touches a session
// of the new run, and no other starts one while the lock is held. The
// gateway finishes the lock once its own heartbeat says it is alive.
func (r *Reader) TakeSweep(ctx context.Context, id, holder string) (*Sweep, error) {
	if !ValidGatewayID(id) {
		return nil, fmt.Errorf("presence: gateway id %q: %w", id, ErrInvalidID)
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return nil, err
	}
	s := &Sweep{kv: kv, key: SweepKey(id), rec: sweepRecord{Holder: holder}}
	val, _ := json.Marshal(s.rec)
	if s.rev, err = kv.Put(ctx, s.key, val); err != nil {
		return nil, fmt.Errorf("presence: take the sweep lock of gateway %s: %w", id, err)
	}
	return s, nil
}

// Refresh renews the lock. It fails when another gateway took it over.
func (s *Sweep) Refresh(ctx context.Context) error { return s.write(ctx, "refresh") }

// Finish records that the dead instance is swept, so no gateway sweeps it
// again; the lock is released.
func (s *Sweep) Finish(ctx context.Context) error {
	s.rec.Done = true
	return s.write(ctx, "finish")
}

func (s *Sweep) write(ctx context.Context, op string) error {
	val, _ := json.Marshal(s.rec)
	rev, err := s.kv.Update(ctx, s.key, val, s.rev)
	if err != nil {
		return fmt.Errorf("presence: %s the sweep lock %s: %w", op, s.key, err)
	}
	s.rev = rev
	return nil
}
