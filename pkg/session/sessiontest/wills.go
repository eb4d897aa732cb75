package sessiontest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// The delayed-will cases: DueWills lists the wills due before their
// session ends, TakeWill hands each to one caller, and every way a session
// moves on (reconnect, Delete, expiry) leaves the will published once.

// delayedWill stores a will with delay seconds in a new session with expiry
// interval expiry, then disconnects it at disc; it returns the epoch.
func delayedWill(t testing.TB, s session.Store, k session.Key, delay, expiry uint32, disc time.Time) uint64 {
	t.Helper()
	ctx := t.Context()
	e := claim(t, s, k, "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, expiry))
	must(t, "SetWill", s.SetWill(ctx, k, e, &session.Will{Topic: "dead/" + k.ClientID, Payload: []byte("gone"), QoS: 1, Delay: delay}))
	must(t, "Disconnect", s.Disconnect(ctx, k, e, disc))
	return e
}

func dueKeys(t testing.TB, s session.Store, now time.Time, limit int) []session.Key {
	t.Helper()
	got, err := s.DueWills(t.Context(), now, limit)
	must(t, "DueWills", err)
	keys := make([]session.Key, 0, len(got))
	for _, st := range got {
		if st.Connected || st.Will == nil {
			t.Fatalf("DueWills listed %v without a will of a disconnected session: %s", st.Key, dump(st))
		}
		keys = append(keys, st.Key)
	}
	return keys
}

func dueNone(t testing.TB, s session.Store, now time.Time) {
	t.Helper()
	if got := dueKeys(t, s, now, 100); len(got) != 0 {
		t.Fatalf("DueWills(%v) = %v, want none", now.Sub(t0), got)
	}
}

// notDue fails when DueWills at now lists k.
func notDue(t testing.TB, s session.Store, k session.Key, now time.Time) {
	t.Helper()
	if got := dueKeys(t, s, now, 100); slices.Contains(got, k) {
		t.Fatalf("DueWills(%v) = %v, want %v not listed", now.Sub(t0), got, k)
	}
}

func takeWill(t testing.TB, s session.Store, k session.Key, epoch uint64, now time.Time) *session.Will {
	t.Helper()
	w, err := s.TakeWill(t.Context(), k, epoch, now)
	must(t, fmt.Sprintf("TakeWill(%v, at %v)", k, now.Sub(t0)), err)
	return w
}

// [MQTT-3.1.3-9] A will is due when its delay has passed since the
// connection was lost, unless the session ends first: DueWills lists the
// former, earliest first; the latter are Expired's.
func testDueWills(t *testing.T, s session.Store) {
	ctx := t.Context()
	// Due at 10s (d4), 20s (d2), 30s (d0), 40s (d3), 50s (d1).
	delays := []uint32{30, 50, 20, 40, 10}
	for i, d := range delays {
		delayedWill(t, s, key(fmt.Sprintf("d%d", i)), d, 3600, t0)
	}
	// Never expires: due after its delay (60s).
	delayedWill(t, s, key("never"), 60, session.NeverExpire, t0)
	// Disconnected later: due at 5s+55s = 60s too, after "never" by key.
	delayedWill(t, s, key("later"), 55, 3600, at(5*time.Second))
	// Not listed: the session ends first (Expired's), no will, no delayed
	// will yet because still connected.
	delayedWill(t, s, key("ends-first"), 60, 60, t0)
	delayedWill(t, s, key("ends-sooner"), 60, 30, t0)
	e := claim(t, s, key("no-will"), "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, key("no-will"), e, 3600))
	must(t, "Disconnect", s.Disconnect(ctx, key("no-will"), e, t0))
	ec := claim(t, s, key("connected"), "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, key("connected"), ec, 3600))
	must(t, "SetWill", s.SetWill(ctx, key("connected"), ec, &session.Will{Topic: "w", Delay: 1}))

	late := at(1000 * time.Hour)
	for _, tc := range []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{late, 3, []string{"d4", "d2", "d0"}},
		{late, 100, []string{"d4", "d2", "d0", "d3", "d1", "later", "never"}},
		{at(60 * time.Second), 100, []string{"d4", "d2", "d0", "d3", "d1", "later", "never"}},
		{at(25 * time.Second), 100, []string{"d4", "d2"}},
		{at(10 * time.Second), 1, []string{"d4"}},
		{at(10*time.Second - time.Millisecond), 100, nil},
		{late, 0, nil},
		{late, -1, nil},
	} {
		var want []session.Key
		for _, id := range tc.want {
			want = append(want, key(id))
		}
		got := dueKeys(t, s, tc.now, tc.limit)
		if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Fatalf("DueWills(%v, %d) = %v, want %v", tc.now.Sub(t0), tc.limit, got, want)
		}
	}
	// The listed state is the stored one, will included.
	got, err := s.DueWills(ctx, at(10*time.Second), 1)
	must(t, "DueWills", err)
	st := load(t, s, key("d4"))
	sameState(t, "DueWills[0]", got[0], st)
	if due, ok := st.WillDueAt(); !ok || !due.Equal(at(10*time.Second)) {
		t.Fatalf("WillDueAt() = %v, %v; want %v, true", due, ok, at(10*time.Second))
	}
	for _, id := range []string{"ends-first", "ends-sooner", "no-will", "connected"} {
		if due, ok := load(t, s, key(id)).WillDueAt(); ok {
			t.Fatalf("%s: WillDueAt() = %v, true; want false", id, due)
		}
	}
	if got := expiredKeys(t, s, at(time.Minute), 10); !slices.Equal(got, []session.Key{key("ends-sooner"), key("ends-first")}) {
		t.Fatalf("Expired at 60s = %v, want the sessions that end before their will delay", got)
	}
}

// TakeWill hands a due will over once: it returns the will, clears it,
// gives the session a new epoch and takes it off DueWills; the epoch the
// will was listed with is fenced afterwards.
func testTakeWill(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("take")
	e := delayedWill(t, s, k, 30, 3600, at(time.Second))
	before := load(t, s, k)

	// Not due yet: nothing changes.
	if w := takeWill(t, s, k, e, at(31*time.Second-time.Millisecond)); w != nil {
		t.Fatalf("TakeWill before the delay = %+v, want nil", w)
	}
	sameState(t, "state after an early TakeWill", load(t, s, k), before)

	w := takeWill(t, s, k, e, at(31*time.Second))
	if w == nil || w.Topic != "dead/take" || string(w.Payload) != "gone" || w.QoS != 1 || w.Delay != 30 {
		t.Fatalf("TakeWill at the due time = %+v, want the stored will", w)
	}
	after := load(t, s, k)
	if after.Will != nil || after.Epoch <= e || after.Connected {
		t.Fatalf("state after TakeWill: %s; want disconnected, no will, epoch > %d", dump(after), e)
	}
	want := *before
	want.Epoch, want.Will = after.Epoch, nil
	sameState(t, "state after TakeWill", after, &want)
	dueNone(t, s, at(1000*time.Hour))

	// Another caller holding the listed epoch gets nothing.
	_, err := s.TakeWill(ctx, k, e, at(time.Hour))
	wantErr(t, "second TakeWill with the listed epoch", err, session.ErrFenced)
	if w := takeWill(t, s, k, after.Epoch, at(time.Hour)); w != nil {
		t.Fatalf("TakeWill with the new epoch = %+v, want nil: the will is gone", w)
	}
	// The session lives on and expires as before.
	if got := expiredKeys(t, s, at(3601*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("Expired after TakeWill = %v, want [%v]", got, k)
	}

	// A connected session's will is not due, whatever now.
	kc := key("take-connected")
	ec := claim(t, s, kc, "gw", false, t0).Epoch
	must(t, "SetWill", s.SetWill(ctx, kc, ec, &session.Will{Topic: "w"}))
	if w := takeWill(t, s, kc, ec, at(1000*time.Hour)); w != nil {
		t.Fatalf("TakeWill of a connected session = %+v, want nil", w)
	}
	if st := load(t, s, kc); st.Epoch != ec || st.Will == nil {
		t.Fatalf("connected session after TakeWill: %s; want unchanged", dump(st))
	}
	_, err = s.TakeWill(ctx, key("take-missing"), 1, t0)
	wantErr(t, "TakeWill of a missing session", err, session.ErrNotFound)

	// A will without delay in a disconnected session (kept by Orphan) is
	// due at once.
	k0 := key("take-now")
	e0 := claim(t, s, k0, "gw-dead", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, k0, e0, 3600))
	must(t, "SetWill", s.SetWill(ctx, k0, e0, &session.Will{Topic: "w0"}))
	o, err := s.Orphan(ctx, k0, "gw-dead", e0, at(time.Second), false)
	must(t, "Orphan", err)
	if got := dueKeys(t, s, at(time.Second), 10); !slices.Equal(got, []session.Key{k0}) {
		t.Fatalf("DueWills after Orphan of a will without delay = %v, want [%v]", got, k0)
	}
	if w := takeWill(t, s, k0, o.Epoch, at(time.Second)); w == nil || w.Topic != "w0" {
		t.Fatalf("TakeWill of the orphan's will = %+v, want it", w)
	}
}

// Several callers holding the same epoch race for one will (the gateway's
// timer, the sweepers of others): exactly one gets it.
func testTakeWillRace(t *testing.T, s session.Store) {
	const callers = 8
	for r := range 5 {
		k := key(fmt.Sprintf("race-%d", r))
		e := delayedWill(t, s, k, 1, 3600, t0)
		var wg sync.WaitGroup
		got := make(chan *session.Will, callers)
		errs := make(chan error, callers)
		start := make(chan struct{})
		for range callers {
			wg.Go(func() {
				<-start
				w, err := s.TakeWill(t.Context(), k, e, at(time.Minute))
				switch {
				case err == nil && w != nil:
					got <- w
				case err != nil && !isFenced(err):
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(got)
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: TakeWill = %v, want the will or ErrFenced", r, err)
		}
		if n := len(got); n != 1 {
			t.Fatalf("round %d: %d callers got the will, want exactly 1", r, n)
		}
	}
}

// [MQTT-3.1.3-9] A client that comes back before its will delay ends
// cancels the will: the claim takes the session off DueWills and fences
// the epoch a sweeper listed it with. The new connection decides the will
// (its own, or none).
func testReconnectCancelsDueWill(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("back-in-time")
	e := delayedWill(t, s, k, 30, 3600, t0)
	listed, err := s.DueWills(ctx, at(time.Minute), 10)
	must(t, "DueWills", err)
	if len(listed) != 1 {
		t.Fatalf("DueWills = %d sessions, want 1", len(listed))
	}
	c := claim(t, s, k, "gw-b", false, at(10*time.Second))
	if c.Previous == nil || c.Previous.Will == nil {
		t.Fatalf("resuming Claim: Previous %s; want the session with its will", dump(c.Previous))
	}
	dueNone(t, s, at(1000*time.Hour))
	_, err = s.TakeWill(ctx, k, e, at(time.Minute))
	wantErr(t, "sweeper's TakeWill after the client came back", err, session.ErrFenced)
	// The new connection keeps a delayed will of its own; it is due only
	// once that connection is lost.
	must(t, "SetWill", s.SetWill(ctx, k, c.Epoch, &session.Will{Topic: "dead/again", Delay: 5}))
	dueNone(t, s, at(1000*time.Hour))
	must(t, "Disconnect", s.Disconnect(ctx, k, c.Epoch, at(20*time.Second)))
	if got := dueKeys(t, s, at(25*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("DueWills after the second disconnect = %v, want [%v]", got, k)
	}

	// A clean start ends the old session: the claim hands its will to the
	// caller in Previous, and no sweeper gets it too.
	k2 := key("back-clean")
	e2 := delayedWill(t, s, k2, 30, 3600, t0)
	if c := claim(t, s, k2, "gw-b", true, at(10*time.Second)); c.Previous == nil || c.Previous.Will == nil {
		t.Fatalf("clean Claim: Previous %s; want the old session with its will", dump(c.Previous))
	}
	notDue(t, s, k2, at(1000*time.Hour))
	_, err = s.TakeWill(ctx, k2, e2, at(time.Minute))
	wantErr(t, "sweeper's TakeWill after a clean start", err, session.ErrFenced)
}

// Clearing or replacing the will, changing the expiry interval, deleting
// the session or its expiry-0 disconnect keep DueWills in step.
func testDueWillsFollowWrites(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("follow")
	e := delayedWill(t, s, k, 30, 3600, t0)
	must(t, "SetWill(nil)", s.SetWill(ctx, k, e, nil))
	dueNone(t, s, at(1000*time.Hour))
	must(t, "SetWill", s.SetWill(ctx, k, e, &session.Will{Topic: "w", Delay: 90}))
	if got := dueKeys(t, s, at(90*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("DueWills after a new will = %v, want [%v]", got, k)
	}
	dueNone(t, s, at(90*time.Second-time.Millisecond))

	// The session now ends before the delay: the will goes with Expired.
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 60))
	dueNone(t, s, at(1000*time.Hour))
	if got := expiredKeys(t, s, at(60*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("Expired after shortening = %v, want [%v]", got, k)
	}
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, session.NeverExpire))
	if got := dueKeys(t, s, at(90*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("DueWills after NeverExpire = %v, want [%v]", got, k)
	}
	must(t, "Delete", s.Delete(ctx, k, e))
	dueNone(t, s, at(1000*time.Hour))

	// A session ending with its connection leaves nothing behind.
	k0 := key("follow-zero")
	e0 := claim(t, s, k0, "gw", false, t0).Epoch
	must(t, "SetWill", s.SetWill(ctx, k0, e0, &session.Will{Topic: "w", Delay: 5}))
	must(t, "Disconnect", s.Disconnect(ctx, k0, e0, t0))
	loadMissing(t, s, k0)
	dueNone(t, s, at(1000*time.Hour))

	// A claim that finds the session expired discards it and its entry.
	k1 := key("follow-expired")
	delayedWill(t, s, k1, 30, 40, t0)
	if c := claim(t, s, k1, "gw", false, at(time.Hour)); c.Expired == nil || c.Expired.Will == nil {
		t.Fatalf("Claim after expiry: Expired %s; want the old session with its will", dump(c.Expired))
	}
	dueNone(t, s, at(1000*time.Hour))
}

// [MQTT-3.1.3-9] The will goes once when the delay and the session's end
// race: one sweeper lists the session through Expired, another takes the
// will through DueWills; the first one's Delete is then fenced, and the
// session, listed again, is deleted without its will. Taken the other way
// round, the Delete wins and the take finds nothing.
func testWillOnceWithExpiry(t *testing.T, s session.Store) {
	ctx := t.Context()
	late := at(time.Hour)
	for _, tc := range []struct {
		id            string
		delay, expiry uint32
	}{
		{"once-delay-first", 10, 20}, // due at 10s, ends at 20s: both past
		{"once-end-first", 60, 20},   // ends first: the end makes it due
	} {
		k := key(tc.id)
		e := delayedWill(t, s, k, tc.delay, tc.expiry, t0)
		exp, err := s.Expired(ctx, late, 10)
		must(t, "Expired", err)
		if len(exp) != 1 || exp[0].Will == nil {
			t.Fatalf("%s: Expired = %d sessions; want it, with its will", tc.id, len(exp))
		}
		if w := takeWill(t, s, k, e, late); w == nil {
			t.Fatalf("%s: TakeWill after the session's end = nil, want the will", tc.id)
		}
		wantErr(t, tc.id+": Delete with the epoch Expired listed", s.Delete(ctx, k, exp[0].Epoch), session.ErrFenced)
		again, err := s.Expired(ctx, late, 10)
		must(t, "Expired", err)
		if len(again) != 1 || again[0].Will != nil {
			t.Fatalf("%s: Expired after the take = %d sessions; want it, without its will", tc.id, len(again))
		}
		must(t, "Delete", s.Delete(ctx, k, again[0].Epoch))
		dueNone(t, s, late)
	}

	k := key("once-delete-first")
	e := delayedWill(t, s, k, 10, 20, t0)
	exp, err := s.Expired(ctx, late, 10)
	must(t, "Expired", err)
	if len(exp) != 1 {
		t.Fatalf("Expired = %d sessions, want 1", len(exp))
	}
	must(t, "Delete", s.Delete(ctx, k, exp[0].Epoch))
	_, err = s.TakeWill(ctx, k, e, late)
	wantErr(t, "TakeWill after the Delete", err, session.ErrNotFound)
	dueNone(t, s, late)
}

// [MQTT-3.1.3-9] A session orphaned without taking its will keeps it on
// DueWills from the orphaning time plus the delay, so any gateway
// publishes it when due; one orphaned with takeWill is not listed.
func testOrphanDueWill(t *testing.T, s session.Store) {
	ctx := t.Context()
	for _, take := range []bool{false, true} {
		k := key(fmt.Sprintf("orphan-due-%v", take))
		e := claim(t, s, k, "gw-dead", false, t0).Epoch
		must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 3600))
		must(t, "SetWill", s.SetWill(ctx, k, e, &session.Will{Topic: "w", Delay: 30}))
		notDue(t, s, k, at(1000*time.Hour)) // connected
		_, err := s.Orphan(ctx, k, "gw-dead", e, at(5*time.Second), take)
		must(t, "Orphan", err)
		if take {
			notDue(t, s, k, at(1000*time.Hour))
			continue
		}
		dueNone(t, s, at(35*time.Second-time.Millisecond))
		if got := dueKeys(t, s, at(35*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
			t.Fatalf("DueWills after Orphan = %v, want [%v]", got, k)
		}
	}
}

func isFenced(err error) bool { return errors.Is(err, session.ErrFenced) }
