// Package sessiontest is the conformance suite every session.Store passes.
// An implementation's tests call Run with a constructor that returns a fresh,
// empty store per call; benchmarks call Bench the same way:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, func(t testing.TB) session.Store { return memstore.New() })
//	}
//
// The suite never sleeps: expiry is exercised by passing later now values,
// which every Store method that depends on time takes as an argument.
package sessiontest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// t0 is the suite's clock origin, on a whole millisecond because stores may
// keep DisconnectedAt at millisecond precision.
var t0 = time.UnixMilli(1_767_225_600_000) // 2026-01-01T00:00:00Z

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// Run runs the conformance suite. newStore returns a new store that holds no
// sessions and shares nothing with stores returned earlier; it registers its
// own cleanup on t.
func Run(t *testing.T, newStore func(t testing.TB) session.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"ClaimNewSession", testClaimNew},
		{"ClaimResumesSession", testClaimResumes},
		{"ClaimTakeover", testClaimTakeover},
		{"ClaimCleanStart", testClaimCleanStart},
		{"ClaimExpiredSession", testClaimExpired},
		{"EpochsStrictlyIncrease", testEpochsIncrease},
		{"FencedWrites", testFencedWrites},
		{"WritesToMissingSession", testWritesToMissing},
		{"Subscriptions", testSubscriptions},
		{"ManySubscriptions", testManySubscriptions},
		{"Will", testWill},
		{"Inflight", testInflight},
		{"LastSeqNeverMovesBackwards", testLastSeq},
		{"SetExpiry", testSetExpiry},
		{"DisconnectExpiryZeroDeletes", testDisconnectZero},
		{"DisconnectKeepsUntilExpiry", testDisconnectKeeps},
		{"SetExpiryWhileDisconnected", testSetExpiryDisconnected},
		{"NeverExpire", testNeverExpire},
		{"ExpiredLimitAndOrder", testExpiredLimit},
		{"ExpiredSweep", testExpiredSweep},
		{"SweepRacesReconnect", testSweepRacesReconnect},
		{"Delete", testDelete},
		{"TenantIsolation", testTenantIsolation},
		{"OddBytes", testOddBytes},
		{"LoadReturnsCopy", testLoadReturnsCopy},
		{"ConcurrentClaims", testConcurrentClaims},
		{"CancelledContext", testCancelledContext},
		{"OwnedListsConnectedSessions", testOwned},
		{"OwnedPages", testOwnedPages},
		{"OwnedOddOwners", testOwnedOddOwners},
		{"Orphan", testOrphan},
		{"OrphanSparesReconnectedClient", testOrphanReconnected},
		{"OrphanExpiry", testOrphanExpiry},
		{"OrphanThenReconnect", testOrphanThenReconnect},
		{"OrphanTakesWill", testOrphanTakesWill},
		{"DueWills", testDueWills},
		{"TakeWill", testTakeWill},
		{"TakeWillRace", testTakeWillRace},
		{"ReconnectCancelsDueWill", testReconnectCancelsDueWill},
		{"DueWillsFollowWrites", testDueWillsFollowWrites},
		{"WillOnceWithExpiry", testWillOnceWithExpiry},
		{"OrphanDueWill", testOrphanDueWill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func key(id string) session.Key { return session.Key{Tenant: "acme", ClientID: id} }

func claim(t testing.TB, s session.Store, k session.Key, owner string, clean bool, now time.Time) session.Claimed {
	t.Helper()
	c, err := s.Claim(t.Context(), k, owner, 5, clean, now)
	if err != nil {
		t.Fatalf("Claim(%q, %q, clean=%v) = %v", k, owner, clean, err)
	}
	if c.Epoch == 0 {
		t.Fatalf("Claim(%q, %q) returned epoch 0", k, owner)
	}
	return c
}

func load(t testing.TB, s session.Store, k session.Key) *session.State {
	t.Helper()
	st, err := s.Load(t.Context(), k)
	if err != nil {
		t.Fatalf("Load(%q) = %v", k, err)
	}
	return st
}

func loadMissing(t testing.TB, s session.Store, k session.Key) {
	t.Helper()
	st, err := s.Load(t.Context(), k)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load(%q) = %+v, %v; want ErrNotFound", k, st, err)
	}
}

func must(t testing.TB, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s = %v", op, err)
	}
}

func wantErr(t testing.TB, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s = %v, want %v", op, err, want)
	}
}

// normalize makes states comparable across stores: empty and nil slices are
// the same, times compare by instant at millisecond precision.
func normalize(st *session.State) *session.State {
	if st == nil {
		return nil
	}
	c := *st
	if len(c.Subscriptions) == 0 {
		c.Subscriptions = nil
	}
	if len(c.Inflight) == 0 {
		c.Inflight = nil
	}
	if !c.DisconnectedAt.IsZero() {
		c.DisconnectedAt = time.UnixMilli(c.DisconnectedAt.UnixMilli()).UTC()
	}
	if c.Will != nil {
		w := *c.Will
		if len(w.Payload) == 0 {
			w.Payload = nil
		}
		if len(w.Properties) == 0 {
			w.Properties = nil
		}
		c.Will = &w
	}
	return &c
}

func sameState(t testing.TB, what string, got, want *session.State) {
	t.Helper()
	g, w := normalize(got), normalize(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got  %s\n want %s", what, dump(g), dump(w))
	}
}

func dump(st *session.State) string {
	if st == nil {
		return "<nil>"
	}
	will := "<nil>"
	if st.Will != nil {
		will = fmt.Sprintf("%+v", *st.Will)
	}
	return fmt.Sprintf("%+v will=%s", *st, will)
}

// richState fills the session at k (owned with epoch) with one of
// everything and returns what Load should report.
func richState(t testing.TB, s session.Store, k session.Key, owner string, epoch uint64) *session.State {
	t.Helper()
	ctx := t.Context()
	subs := []session.Subscription{
		{Filter: "a/+/c", QoS: 1, NoLocal: true, SubscriptionID: 7},
		{Filter: "$share/g/x/#", QoS: 2, RetainAsPublished: true, RetainHandling: 2},
	}
	will := &session.Will{Topic: "dead/" + k.ClientID, Payload: []byte{0, 1, 0xff}, QoS: 1, Retain: true, Delay: 30, Properties: []byte{0x01, 0x01}}
	inf := []session.Inflight{
		{Direction: session.Outbound, PacketID: 3, QoS: 1, State: session.AwaitPuback, Seq: 41},
		{Direction: session.Inbound, PacketID: 3, QoS: 2, State: session.AwaitPubrel},
	}
	must(t, "PutSubscriptions", s.PutSubscriptions(ctx, k, epoch, subs))
	must(t, "SetWill", s.SetWill(ctx, k, epoch, will))
	for _, f := range inf {
		must(t, "PutInflight", s.PutInflight(ctx, k, epoch, f))
	}
	must(t, "SetLastSeq", s.SetLastSeq(ctx, k, epoch, 40))
	must(t, "SetExpiry", s.SetExpiry(ctx, k, epoch, 3600))
	return &session.State{
		Key: k, Owner: owner, Epoch: epoch, Connected: true, ProtocolLevel: 5,
		ExpiryInterval: 3600,
		Subscriptions:  []session.Subscription{subs[1], subs[0]}, // by Filter
		Will:           will,
		LastSeq:        40,
		Inflight:       inf,
	}
}

// [MQTT-3.1.2-6] Clean Start 0 without a stored session creates a new one.
func testClaimNew(t *testing.T, s session.Store) {
	k := key("new")
	loadMissing(t, s, k)
	c := claim(t, s, k, "gw-a", false, t0)
	if c.Previous != nil || c.Expired != nil {
		t.Fatalf("Claim of a new session: Previous = %v, Expired = %v; want both nil", dump(c.Previous), dump(c.Expired))
	}
	sameState(t, "Load after Claim", load(t, s, k), &session.State{
		Key: k, Owner: "gw-a", Epoch: c.Epoch, Connected: true, ProtocolLevel: 5,
	})
}

// [MQTT-3.1.2-5] Clean Start 0 with a stored session resumes it.
func testClaimResumes(t *testing.T, s session.Store) {
	k := key("resume")
	c1 := claim(t, s, k, "gw-a", false, t0)
	want := richState(t, s, k, "gw-a", c1.Epoch)
	must(t, "Disconnect", s.Disconnect(t.Context(), k, c1.Epoch, at(time.Second)))
	want.Connected = false
	want.DisconnectedAt = at(time.Second)

	c2, err := s.Claim(t.Context(), k, "gw-b", 4, false, at(time.Minute))
	must(t, "Claim", err)
	if c2.Epoch <= c1.Epoch {
		t.Fatalf("resume epoch = %d, want > %d", c2.Epoch, c1.Epoch)
	}
	sameState(t, "Claim.Previous", c2.Previous, want)
	if c2.Expired != nil {
		t.Fatalf("Claim.Expired = %s, want nil", dump(c2.Expired))
	}
	want.Owner, want.Epoch, want.Connected, want.ProtocolLevel, want.DisconnectedAt = "gw-b", c2.Epoch, true, 4, time.Time{}
	sameState(t, "Load after resume", load(t, s, k), want)
}

// [MQTT-3.1.4-3] A CONNECT for a connected client id takes the session over:
// Previous tells the new owner whom to ask to close the old connection.
func testClaimTakeover(t *testing.T, s session.Store) {
	k := key("takeover")
	c1 := claim(t, s, k, "gw-a", false, t0)
	c2 := claim(t, s, k, "gw-b", false, at(time.Second))
	if c2.Previous == nil || !c2.Previous.Connected || c2.Previous.Owner != "gw-a" || c2.Previous.Epoch != c1.Epoch {
		t.Fatalf("takeover Previous = %s, want connected, owner gw-a, epoch %d", dump(c2.Previous), c1.Epoch)
	}
	wantErr(t, "old owner's SetLastSeq", s.SetLastSeq(t.Context(), k, c1.Epoch, 1), session.ErrFenced)
	wantErr(t, "old owner's Disconnect", s.Disconnect(t.Context(), k, c1.Epoch, at(2*time.Second)), session.ErrFenced)
	if st := load(t, s, k); !st.Connected || st.Owner != "gw-b" {
		t.Fatalf("after fenced Disconnect: %s; want connected to gw-b", dump(st))
	}
}

// [MQTT-3.1.2-4] Clean Start 1 discards the stored session; the previous
// state still comes back so the caller can take the connection over.
func testClaimCleanStart(t *testing.T, s session.Store) {
	k := key("clean")
	c1 := claim(t, s, k, "gw-a", false, t0)
	want := richState(t, s, k, "gw-a", c1.Epoch)
	c2 := claim(t, s, k, "gw-b", true, at(time.Second))
	sameState(t, "clean Claim.Previous", c2.Previous, want)
	if c2.Epoch <= c1.Epoch {
		t.Fatalf("clean epoch = %d, want > %d", c2.Epoch, c1.Epoch)
	}
	sameState(t, "Load after clean start", load(t, s, k), &session.State{
		Key: k, Owner: "gw-b", Epoch: c2.Epoch, Connected: true, ProtocolLevel: 5,
	})
	// The discarded session's expiry index entry must not outlive it.
	must(t, "SetExpiry", s.SetExpiry(t.Context(), k, c2.Epoch, session.NeverExpire))
	must(t, "Disconnect", s.Disconnect(t.Context(), k, c2.Epoch, at(2*time.Second)))
	expiredNone(t, s, at(1000*time.Hour))
}

// An expired session that nobody deleted yet is absent for Claim, which
// hands it back as Claimed.Expired so its will is not lost.
func testClaimExpired(t *testing.T, s session.Store) {
	for _, clean := range []bool{false, true} {
		k := key(fmt.Sprintf("expired-clean-%v", clean))
		c1 := claim(t, s, k, "gw-a", false, t0)
		want := richState(t, s, k, "gw-a", c1.Epoch)
		must(t, "SetExpiry", s.SetExpiry(t.Context(), k, c1.Epoch, 10))
		must(t, "Disconnect", s.Disconnect(t.Context(), k, c1.Epoch, t0))
		want.ExpiryInterval, want.Connected, want.DisconnectedAt = 10, false, t0

		c2 := claim(t, s, k, "gw-b", clean, at(10*time.Second))
		if c2.Previous != nil {
			t.Fatalf("Claim (clean=%v) after expiry: Previous = %s, want nil", clean, dump(c2.Previous))
		}
		sameState(t, "Claim.Expired", c2.Expired, want)
		if c2.Epoch <= c1.Epoch {
			t.Fatalf("epoch after expiry = %d, want > %d", c2.Epoch, c1.Epoch)
		}
		sameState(t, "Load after claiming an expired session", load(t, s, k), &session.State{
			Key: k, Owner: "gw-b", Epoch: c2.Epoch, Connected: true, ProtocolLevel: 5,
		})
		expiredNone(t, s, at(time.Hour))
	}
}

// Epochs of a key strictly increase, also when the session was deleted in
// between, so no earlier owner can ever write again.
func testEpochsIncrease(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("epochs")
	var last uint64
	var olds []uint64
	next := func(c session.Claimed) {
		t.Helper()
		if c.Epoch <= last {
			t.Fatalf("epoch %d after %d: not increasing", c.Epoch, last)
		}
		last = c.Epoch
		olds = append(olds, c.Epoch)
	}
	for i := range 5 {
		next(claim(t, s, k, "gw", i%2 == 0, at(time.Duration(i)*time.Second)))
	}
	must(t, "Delete", s.Delete(ctx, k, last))
	next(claim(t, s, k, "gw", false, at(time.Minute)))
	must(t, "Disconnect", s.Disconnect(ctx, k, last, at(time.Minute))) // expiry 0: deleted
	loadMissing(t, s, k)
	next(claim(t, s, k, "gw", false, at(time.Minute)))
	for _, e := range olds[:len(olds)-1] {
		wantErr(t, fmt.Sprintf("SetLastSeq with old epoch %d", e), s.SetLastSeq(ctx, k, e, 9), session.ErrFenced)
	}
	must(t, "SetLastSeq with current epoch", s.SetLastSeq(ctx, k, last, 9))
}

// writeOps is one call of every fenced write method.
func writeOps(ctx context.Context, now time.Time) []struct {
	name string
	do   func(s session.Store, k session.Key, epoch uint64) error
} {
	return []struct {
		name string
		do   func(s session.Store, k session.Key, epoch uint64) error
	}{
		{"PutSubscriptions", func(s session.Store, k session.Key, e uint64) error {
			return s.PutSubscriptions(ctx, k, e, []session.Subscription{{Filter: "late/#", QoS: 1}})
		}},
		{"DeleteSubscriptions", func(s session.Store, k session.Key, e uint64) error {
			return s.DeleteSubscriptions(ctx, k, e, []string{"a/+/c"})
		}},
		{"SetWill", func(s session.Store, k session.Key, e uint64) error {
			return s.SetWill(ctx, k, e, &session.Will{Topic: "late"})
		}},
		{"SetWill(nil)", func(s session.Store, k session.Key, e uint64) error {
			return s.SetWill(ctx, k, e, nil)
		}},
		{"PutInflight", func(s session.Store, k session.Key, e uint64) error {
			return s.PutInflight(ctx, k, e, session.Inflight{Direction: session.Outbound, PacketID: 99, QoS: 1, State: session.AwaitPuback})
		}},
		{"DeleteInflight", func(s session.Store, k session.Key, e uint64) error {
			return s.DeleteInflight(ctx, k, e, session.Outbound, 3)
		}},
		{"SetLastSeq", func(s session.Store, k session.Key, e uint64) error {
			return s.SetLastSeq(ctx, k, e, 1000)
		}},
		{"SetExpiry", func(s session.Store, k session.Key, e uint64) error {
			return s.SetExpiry(ctx, k, e, 5)
		}},
		{"Disconnect", func(s session.Store, k session.Key, e uint64) error {
			return s.Disconnect(ctx, k, e, now)
		}},
		{"Delete", func(s session.Store, k session.Key, e uint64) error {
			return s.Delete(ctx, k, e)
		}},
		{"TakeWill", func(s session.Store, k session.Key, e uint64) error {
			_, err := s.TakeWill(ctx, k, e, now)
			return err
		}},
		// The fenced-write cases claim with gw-b last.
		{"Orphan", func(s session.Store, k session.Key, e uint64) error {
			_, err := s.Orphan(ctx, k, "gw-b", e, now, false)
			return err
		}},
	}
}

// testFencedWrites: every write with a superseded epoch fails with
// ErrFenced and changes nothing.
func testFencedWrites(t *testing.T, s session.Store) {
	for _, op := range writeOps(t.Context(), at(time.Hour)) {
		k := key("fenced-" + op.name)
		c1 := claim(t, s, k, "gw-a", false, t0)
		richState(t, s, k, "gw-a", c1.Epoch)
		c2 := claim(t, s, k, "gw-b", false, at(time.Second))
		want := load(t, s, k)
		wantErr(t, op.name+" with the superseded epoch", op.do(s, k, c1.Epoch), session.ErrFenced)
		wantErr(t, op.name+" with a future epoch", op.do(s, k, c2.Epoch+1000), session.ErrFenced)
		sameState(t, "state after fenced "+op.name, load(t, s, k), want)
		must(t, op.name+" with the current epoch", op.do(s, k, c2.Epoch))
	}
}

// testWritesToMissingSession: writes to a session that does not exist (never
// claimed, or deleted) fail with ErrNotFound and create nothing.
func testWritesToMissing(t *testing.T, s session.Store) {
	for _, op := range writeOps(t.Context(), at(time.Hour)) {
		k := key("missing-" + op.name)
		wantErr(t, op.name+" on a never claimed session", op.do(s, k, 1), session.ErrNotFound)
		loadMissing(t, s, k)
		c := claim(t, s, k, "gw", false, t0)
		must(t, "Delete", s.Delete(t.Context(), k, c.Epoch))
		wantErr(t, op.name+" on a deleted session", op.do(s, k, c.Epoch), session.ErrNotFound)
		loadMissing(t, s, k)
	}
	expiredNone(t, s, at(1000*time.Hour))
}

// [MQTT-3.8.4-3] A subscription with an identical filter replaces the old
// one; subscriptions are keyed by filter and their order does not matter.
func testSubscriptions(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("subs")
	e := claim(t, s, k, "gw", false, t0).Epoch
	a := session.Subscription{Filter: "a/b", QoS: 0}
	b := session.Subscription{Filter: "a/+", QoS: 1, NoLocal: true, SubscriptionID: 268435455}
	c := session.Subscription{Filter: "$share/grp/a/#", QoS: 2, RetainAsPublished: true, RetainHandling: 1}
	must(t, "PutSubscriptions", s.PutSubscriptions(ctx, k, e, []session.Subscription{c, a, b}))
	want := []session.Subscription{c, b, a} // ordered by Filter
	if got := load(t, s, k).Subscriptions; !reflect.DeepEqual(got, want) {
		t.Fatalf("Subscriptions = %+v, want %+v", got, want)
	}
	// The same set stored in another order reads back identically.
	k2 := key("subs-reversed")
	e2 := claim(t, s, k2, "gw", false, t0).Epoch
	must(t, "PutSubscriptions", s.PutSubscriptions(ctx, k2, e2, []session.Subscription{b}))
	must(t, "PutSubscriptions", s.PutSubscriptions(ctx, k2, e2, []session.Subscription{a, c}))
	if got := load(t, s, k2).Subscriptions; !reflect.DeepEqual(got, want) {
		t.Fatalf("Subscriptions stored in another order = %+v, want %+v", got, want)
	}

	b2 := session.Subscription{Filter: "a/+", QoS: 2, RetainHandling: 2}
	must(t, "PutSubscriptions (replace)", s.PutSubscriptions(ctx, k, e, []session.Subscription{b2}))
	want = []session.Subscription{c, b2, a}
	if got := load(t, s, k).Subscriptions; !reflect.DeepEqual(got, want) {
		t.Fatalf("Subscriptions after replace = %+v, want %+v", got, want)
	}
	must(t, "DeleteSubscriptions", s.DeleteSubscriptions(ctx, k, e, []string{"a/+", "never/subscribed"}))
	want = []session.Subscription{c, a}
	if got := load(t, s, k).Subscriptions; !reflect.DeepEqual(got, want) {
		t.Fatalf("Subscriptions after delete = %+v, want %+v", got, want)
	}
	must(t, "PutSubscriptions (none)", s.PutSubscriptions(ctx, k, e, nil))
	must(t, "DeleteSubscriptions (none)", s.DeleteSubscriptions(ctx, k, e, nil))
	must(t, "DeleteSubscriptions", s.DeleteSubscriptions(ctx, k, e, []string{"a/b", "$share/grp/a/#"}))
	if got := load(t, s, k).Subscriptions; len(got) != 0 {
		t.Fatalf("Subscriptions after deleting all = %+v, want none", got)
	}
}

// One SUBSCRIBE may carry thousands of filters; stores must not hit
// argument or stack limits.
func testManySubscriptions(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("many-subs")
	e := claim(t, s, k, "gw", false, t0).Epoch
	const n = 5000
	subs := make([]session.Subscription, n)
	filters := make([]string, n)
	for i := range subs {
		filters[i] = fmt.Sprintf("fleet/%05d/+", i)
		subs[i] = session.Subscription{Filter: filters[i], QoS: byte(i % 3), SubscriptionID: uint32(i)}
	}
	must(t, "PutSubscriptions", s.PutSubscriptions(ctx, k, e, subs))
	if got := load(t, s, k).Subscriptions; !reflect.DeepEqual(got, subs) {
		t.Fatalf("stored %d subscriptions, read back %d (or different ones)", n, len(got))
	}
	must(t, "DeleteSubscriptions", s.DeleteSubscriptions(ctx, k, e, filters[:n-1]))
	if got := load(t, s, k).Subscriptions; !reflect.DeepEqual(got, subs[n-1:]) {
		t.Fatalf("after deleting %d: %+v, want %+v", n-1, got, subs[n-1:])
	}
}

// [MQTT-3.1.2-10] The will is stored with the session and removed once
// published or cleared.
func testWill(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("will")
	e := claim(t, s, k, "gw", false, t0).Epoch
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, w := range []*session.Will{
		{Topic: "dead/one", Payload: payload, QoS: 2, Retain: true, Delay: 4294967295, Properties: []byte{0x02, 0, 0, 0, 9, 0x03, 0, 1, 'x'}},
		{Topic: "dead/two", Payload: nil, QoS: 0},                   // empty payload, v3 (no properties)
		{Topic: "ü/☃/\x00", Payload: []byte("\x00\r\n{}:"), QoS: 1}, // odd topic bytes
	} {
		must(t, "SetWill", s.SetWill(ctx, k, e, w))
		got := load(t, s, k).Will
		if got == nil || got.Topic != w.Topic || !bytes.Equal(got.Payload, w.Payload) || got.QoS != w.QoS ||
			got.Retain != w.Retain || got.Delay != w.Delay || !bytes.Equal(got.Properties, w.Properties) {
			t.Fatalf("Will = %+v, want %+v", got, w)
		}
	}
	must(t, "SetWill(nil)", s.SetWill(ctx, k, e, nil))
	if got := load(t, s, k).Will; got != nil {
		t.Fatalf("Will after clearing = %+v, want nil", got)
	}
}

// In-flight entries are keyed by (Direction, PacketID): the same packet
// identifier may be in flight in both directions at once.
func testInflight(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("inflight")
	e := claim(t, s, k, "gw", false, t0).Epoch
	out1 := session.Inflight{Direction: session.Outbound, PacketID: 1, QoS: 1, State: session.AwaitPuback, Seq: 20}
	out2 := session.Inflight{Direction: session.Outbound, PacketID: 65535, QoS: 2, State: session.AwaitPubrec, Seq: 10}
	in1 := session.Inflight{Direction: session.Inbound, PacketID: 1, QoS: 2, State: session.AwaitPubrel}
	for _, f := range []session.Inflight{in1, out1, out2} {
		must(t, "PutInflight", s.PutInflight(ctx, k, e, f))
	}
	want := []session.Inflight{out2, out1, in1} // Direction, then Seq
	if got := load(t, s, k).Inflight; !reflect.DeepEqual(got, want) {
		t.Fatalf("Inflight = %+v, want %+v", got, want)
	}
	// PUBREC arrives: the outbound QoS 2 entry moves on.
	out2b := out2
	out2b.State = session.AwaitPubcomp
	must(t, "PutInflight (replace)", s.PutInflight(ctx, k, e, out2b))
	want = []session.Inflight{out2b, out1, in1}
	if got := load(t, s, k).Inflight; !reflect.DeepEqual(got, want) {
		t.Fatalf("Inflight after replace = %+v, want %+v", got, want)
	}
	must(t, "DeleteInflight", s.DeleteInflight(ctx, k, e, session.Outbound, 1))
	must(t, "DeleteInflight (missing)", s.DeleteInflight(ctx, k, e, session.Outbound, 1))
	must(t, "DeleteInflight (other direction, missing)", s.DeleteInflight(ctx, k, e, session.Inbound, 65535))
	want = []session.Inflight{out2b, in1}
	if got := load(t, s, k).Inflight; !reflect.DeepEqual(got, want) {
		t.Fatalf("Inflight after delete = %+v, want %+v", got, want)
	}
	must(t, "DeleteInflight", s.DeleteInflight(ctx, k, e, session.Inbound, 1))
	must(t, "DeleteInflight", s.DeleteInflight(ctx, k, e, session.Outbound, 65535))
	if got := load(t, s, k).Inflight; len(got) != 0 {
		t.Fatalf("Inflight after deleting all = %+v, want none", got)
	}
}

func testLastSeq(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("lastseq")
	e := claim(t, s, k, "gw", false, t0).Epoch
	for _, step := range []struct{ set, want uint64 }{
		{10, 10},
		{5, 10},
		{10, 10},
		{11, 11},
		{0, 11},
		{1<<53 + 1, 1<<53 + 1}, // beyond float64 precision
		{1 << 53, 1<<53 + 1},
		{1<<64 - 1, 1<<64 - 1},
		{1<<64 - 2, 1<<64 - 1},
	} {
		must(t, "SetLastSeq", s.SetLastSeq(ctx, k, e, step.set))
		if got := load(t, s, k).LastSeq; got != step.want {
			t.Fatalf("SetLastSeq(%d): LastSeq = %d, want %d", step.set, got, step.want)
		}
	}
}

func testSetExpiry(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("setexpiry")
	e := claim(t, s, k, "gw", false, t0).Epoch
	if got := load(t, s, k).ExpiryInterval; got != 0 {
		t.Fatalf("new session ExpiryInterval = %d, want 0", got)
	}
	for _, x := range []uint32{1, 3600, session.NeverExpire, 0} {
		must(t, "SetExpiry", s.SetExpiry(ctx, k, e, x))
		if got := load(t, s, k).ExpiryInterval; got != x {
			t.Fatalf("SetExpiry(%d): ExpiryInterval = %d", x, got)
		}
	}
}

func expiredNone(t testing.TB, s session.Store, now time.Time) {
	t.Helper()
	got, err := s.Expired(t.Context(), now, 100)
	must(t, "Expired", err)
	if len(got) != 0 {
		t.Fatalf("Expired(%v) = %d sessions, first %s; want none", now, len(got), dump(got[0]))
	}
}

func expiredKeys(t testing.TB, s session.Store, now time.Time, limit int) []session.Key {
	t.Helper()
	got, err := s.Expired(t.Context(), now, limit)
	must(t, "Expired", err)
	keys := make([]session.Key, 0, len(got))
	for _, st := range got {
		keys = append(keys, st.Key)
	}
	return keys
}

// [MQTT-3.1.2-23] A session with expiry interval 0 ends with its network
// connection.
func testDisconnectZero(t *testing.T, s session.Store) {
	k := key("zero")
	c := claim(t, s, k, "gw", false, t0)
	richState(t, s, k, "gw", c.Epoch)
	must(t, "SetExpiry", s.SetExpiry(t.Context(), k, c.Epoch, 0))
	must(t, "Disconnect", s.Disconnect(t.Context(), k, c.Epoch, t0))
	loadMissing(t, s, k)
	expiredNone(t, s, at(time.Hour))
	c2 := claim(t, s, k, "gw", false, at(time.Second))
	if c2.Previous != nil || c2.Expired != nil {
		t.Fatalf("Claim after an expiry-0 disconnect: Previous %s, Expired %s; want nil", dump(c2.Previous), dump(c2.Expired))
	}
}

// [MQTT-3.1.2-23] A session with expiry interval N outlives its connection
// by N seconds, then expires.
func testDisconnectKeeps(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("keeps")
	c := claim(t, s, k, "gw", false, t0)
	want := richState(t, s, k, "gw", c.Epoch)
	must(t, "SetExpiry", s.SetExpiry(ctx, k, c.Epoch, 60))
	must(t, "Disconnect", s.Disconnect(ctx, k, c.Epoch, at(time.Second)))
	want.ExpiryInterval, want.Connected, want.DisconnectedAt = 60, false, at(time.Second)
	st := load(t, s, k)
	sameState(t, "Load after Disconnect", st, want)
	if exp, ok := st.ExpiresAt(); !ok || !exp.Equal(at(61*time.Second)) {
		t.Fatalf("ExpiresAt() = %v, %v; want %v, true", exp, ok, at(61*time.Second))
	}
	if st.ExpiredAt(at(61*time.Second-time.Millisecond)) || !st.ExpiredAt(at(61*time.Second)) {
		t.Fatalf("ExpiredAt is not true exactly from %v", at(61*time.Second))
	}

	expiredNone(t, s, at(61*time.Second-time.Millisecond))
	got, err := s.Expired(ctx, at(61*time.Second), 10)
	must(t, "Expired", err)
	if len(got) != 1 {
		t.Fatalf("Expired at the deadline = %d sessions, want 1", len(got))
	}
	sameState(t, "Expired[0]", got[0], want)

	// Until somebody deletes it, Claim reports it as expired, not previous.
	c2 := claim(t, s, k, "gw", false, at(61*time.Second))
	if c2.Previous != nil || c2.Expired == nil {
		t.Fatalf("Claim at the deadline: Previous %s, Expired %s; want nil, the old session", dump(c2.Previous), dump(c2.Expired))
	}

	// One millisecond before the deadline the session resumes.
	k2 := key("keeps-resume")
	c3 := claim(t, s, k2, "gw", false, t0)
	must(t, "SetExpiry", s.SetExpiry(ctx, k2, c3.Epoch, 60))
	must(t, "Disconnect", s.Disconnect(ctx, k2, c3.Epoch, t0))
	c4 := claim(t, s, k2, "gw", false, at(60*time.Second-time.Millisecond))
	if c4.Previous == nil || c4.Expired != nil {
		t.Fatalf("Claim before the deadline: Previous %s, Expired %s; want the old session, nil", dump(c4.Previous), dump(c4.Expired))
	}
	expiredNone(t, s, at(1000*time.Hour)) // connected again
}

func testSetExpiryDisconnected(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("move-deadline")
	e := claim(t, s, k, "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 3600))
	must(t, "Disconnect", s.Disconnect(ctx, k, e, t0))
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 10))
	if got := expiredKeys(t, s, at(10*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("Expired after shortening = %v, want [%v]", got, k)
	}
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, session.NeverExpire))
	expiredNone(t, s, at(1000*time.Hour))
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 0))
	if got := expiredKeys(t, s, t0, 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("Expired after SetExpiry(0) = %v, want [%v]", got, k)
	}
}

// [MQTT-3.1.2-23] NeverExpire (0xFFFFFFFF) keeps the session for ever.
func testNeverExpire(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("never")
	e := claim(t, s, k, "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, session.NeverExpire))
	must(t, "Disconnect", s.Disconnect(ctx, k, e, t0))
	far := at(200 * 365 * 24 * time.Hour)
	expiredNone(t, s, far)
	st := load(t, s, k)
	if _, ok := st.ExpiresAt(); ok || st.ExpiredAt(far) {
		t.Fatalf("NeverExpire session reports an expiry: %s", dump(st))
	}
	if c := claim(t, s, k, "gw", false, far); c.Previous == nil {
		t.Fatalf("Claim 200 years later: Previous = nil, want the session")
	}
}

func testExpiredLimit(t *testing.T, s session.Store) {
	ctx := t.Context()
	// Deadlines: e4 at 10s, e2 at 20s, e0 at 30s, e3 at 40s, e1 at 50s.
	deadlines := []time.Duration{30, 50, 20, 40, 10}
	for i, d := range deadlines {
		k := key(fmt.Sprintf("e%d", i))
		e := claim(t, s, k, "gw", false, t0).Epoch
		must(t, "SetExpiry", s.SetExpiry(ctx, k, e, uint32(d)))
		must(t, "Disconnect", s.Disconnect(ctx, k, e, t0))
	}
	// Neither a connected session nor a never-expiring one is listed.
	claim(t, s, key("connected"), "gw", false, t0)
	ec := claim(t, s, key("connected-long"), "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, key("connected-long"), ec, 1))
	en := claim(t, s, key("never"), "gw", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, key("never"), en, session.NeverExpire))
	must(t, "Disconnect", s.Disconnect(ctx, key("never"), en, t0))

	late := at(1000 * time.Hour)
	for _, tc := range []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{late, 3, []string{"e4", "e2", "e0"}},
		{late, 100, []string{"e4", "e2", "e0", "e3", "e1"}},
		{at(25 * time.Second), 100, []string{"e4", "e2"}},
		{at(10 * time.Second), 1, []string{"e4"}},
		{at(10*time.Second - time.Millisecond), 100, nil},
		{late, 0, nil},
		{late, -1, nil},
	} {
		var want []session.Key
		for _, id := range tc.want {
			want = append(want, key(id))
		}
		got := expiredKeys(t, s, tc.now, tc.limit)
		if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Fatalf("Expired(%v, %d) = %v, want %v", tc.now.Sub(t0), tc.limit, got, want)
		}
	}
}

// The sweeper's loop: list expired sessions, delete each with the epoch it
// was listed with.
func testExpiredSweep(t *testing.T, s session.Store) {
	ctx := t.Context()
	for i := range 7 {
		k := key(fmt.Sprintf("sweep%d", i))
		e := claim(t, s, k, "gw", false, t0).Epoch
		richState(t, s, k, "gw", e)
		must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 1))
		must(t, "Disconnect", s.Disconnect(ctx, k, e, t0))
	}
	now := at(time.Hour)
	swept := 0
	for range 10 {
		batch, err := s.Expired(ctx, now, 3)
		must(t, "Expired", err)
		if len(batch) == 0 {
			break
		}
		if len(batch) > 3 {
			t.Fatalf("Expired(limit 3) = %d sessions", len(batch))
		}
		for _, st := range batch {
			if st.Will == nil || st.Will.Topic != "dead/"+st.ClientID {
				t.Fatalf("expired session %v lost its will: %s", st.Key, dump(st))
			}
			must(t, "Delete", s.Delete(ctx, st.Key, st.Epoch))
			loadMissing(t, s, st.Key)
			swept++
		}
	}
	if swept != 7 {
		t.Fatalf("swept %d sessions, want 7", swept)
	}
	expiredNone(t, s, now)
}

// A client that reconnects between Expired and Delete keeps its session:
// the sweeper's Delete is fenced.
func testSweepRacesReconnect(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("race")
	e := claim(t, s, k, "gw-a", false, t0).Epoch
	must(t, "SetExpiry", s.SetExpiry(ctx, k, e, 1))
	must(t, "Disconnect", s.Disconnect(ctx, k, e, t0))
	batch, err := s.Expired(ctx, at(time.Minute), 10)
	must(t, "Expired", err)
	if len(batch) != 1 {
		t.Fatalf("Expired = %d sessions, want 1", len(batch))
	}
	c := claim(t, s, k, "gw-b", false, at(time.Minute))
	wantErr(t, "sweeper's Delete after a reconnect", s.Delete(ctx, k, batch[0].Epoch), session.ErrFenced)
	if st := load(t, s, k); st.Epoch != c.Epoch || !st.Connected {
		t.Fatalf("session after fenced Delete: %s", dump(st))
	}
}

func testDelete(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("delete")
	e := claim(t, s, k, "gw", false, t0).Epoch
	richState(t, s, k, "gw", e)
	must(t, "Delete", s.Delete(ctx, k, e))
	loadMissing(t, s, k)
	wantErr(t, "second Delete", s.Delete(ctx, k, e), session.ErrNotFound)
	c := claim(t, s, k, "gw", false, t0)
	if c.Previous != nil || c.Expired != nil {
		t.Fatalf("Claim after Delete: Previous %s, Expired %s; want nil", dump(c.Previous), dump(c.Expired))
	}
	// A deleted disconnected session leaves the expiry index too.
	must(t, "SetExpiry", s.SetExpiry(ctx, k, c.Epoch, 5))
	must(t, "Disconnect", s.Disconnect(ctx, k, c.Epoch, t0))
	must(t, "Delete", s.Delete(ctx, k, c.Epoch))
	expiredNone(t, s, at(time.Hour))
}

// A client id names a session only within its tenant.
func testTenantIsolation(t *testing.T, s session.Store) {
	ctx := t.Context()
	pairs := [][2]session.Key{
		{{Tenant: "acme", ClientID: "dev"}, {Tenant: "globex", ClientID: "dev"}},
		// Keys a naive "tenant:client" join would confuse.
		{{Tenant: "a:b", ClientID: "c"}, {Tenant: "a", ClientID: "b:c"}},
		{{Tenant: "t{x", ClientID: "}y"}, {Tenant: "t", ClientID: "{x}y"}},
		{{Tenant: "t%3A", ClientID: "c"}, {Tenant: "t:", ClientID: "c"}},
		{{Tenant: "", ClientID: "x"}, {Tenant: "x", ClientID: ""}},
	}
	for _, p := range pairs {
		a, b := p[0], p[1]
		ea := claim(t, s, a, "gw-a", false, t0).Epoch
		if c := claim(t, s, b, "gw-b", false, t0); c.Previous != nil {
			t.Fatalf("Claim(%q) saw %q's session: %s", b, a, dump(c.Previous))
		}
		must(t, "SetLastSeq", s.SetLastSeq(ctx, a, ea, 77))
		must(t, "PutSubscriptions", s.PutSubscriptions(ctx, a, ea, []session.Subscription{{Filter: "only/a"}}))
		stb := load(t, s, b)
		if stb.LastSeq != 0 || len(stb.Subscriptions) != 0 || stb.Owner != "gw-b" || stb.Key != b {
			t.Fatalf("writes to %q leaked into %q: %s", a, b, dump(stb))
		}
		must(t, "Delete", s.Delete(ctx, a, ea))
		loadMissing(t, s, a)
		if st := load(t, s, b); st.Key != b {
			t.Fatalf("Load(%q).Key = %q", b, st.Key)
		}
	}
}

// Client ids, filters and payloads may hold any bytes a store uses as
// delimiters.
func testOddBytes(t *testing.T, s session.Store) {
	ctx := t.Context()
	ids := []string{":", "{", "}", "{}", "{a}:b", "a:{b}", " spaced id ", "ünïcödé ☃", "%", "%7B", "\x00nul", "s:x", "i:1", "e", "line\nbreak", ""}
	epochs := map[session.Key]uint64{}
	for i, id := range ids {
		k := session.Key{Tenant: "t:{1}", ClientID: id}
		e := claim(t, s, k, "gw "+id, false, t0).Epoch
		epochs[k] = e
		must(t, "PutSubscriptions", s.PutSubscriptions(ctx, k, e, []session.Subscription{
			{Filter: id, QoS: 1}, {Filter: "s:" + id}, {Filter: "ü/+/#"},
		}))
		must(t, "SetWill", s.SetWill(ctx, k, e, &session.Will{Topic: id, Payload: []byte(id + "\xff\xfe")}))
		must(t, "SetLastSeq", s.SetLastSeq(ctx, k, e, uint64(i+1)))
		must(t, "SetExpiry", s.SetExpiry(ctx, k, e, uint32(i+1)))
	}
	for i, id := range ids {
		k := session.Key{Tenant: "t:{1}", ClientID: id}
		st := load(t, s, k)
		if st.Key != k || st.Owner != "gw "+id || st.LastSeq != uint64(i+1) || st.Epoch != epochs[k] {
			t.Fatalf("Load(%q) = %s", k, dump(st))
		}
		if st.Will == nil || st.Will.Topic != id || string(st.Will.Payload) != id+"\xff\xfe" {
			t.Fatalf("Load(%q).Will = %+v", k, st.Will)
		}
		filters := make([]string, 0, len(st.Subscriptions))
		for _, sub := range st.Subscriptions {
			filters = append(filters, sub.Filter)
		}
		want := []string{id, "s:" + id, "ü/+/#"}
		slices.Sort(want)
		if !slices.Equal(filters, want) {
			t.Fatalf("Load(%q) filters = %q, want %q", k, filters, want)
		}
		must(t, "Disconnect", s.Disconnect(ctx, k, epochs[k], t0))
	}
	// Expired hands back the exact keys.
	got := expiredKeys(t, s, at(time.Hour), 100)
	if len(got) != len(ids) {
		t.Fatalf("Expired = %d sessions, want %d", len(got), len(ids))
	}
	for _, k := range got {
		if _, ok := epochs[k]; !ok {
			t.Fatalf("Expired returned unknown key %q", k)
		}
		delete(epochs, k)
	}
}

// The state Load returns belongs to the caller.
func testLoadReturnsCopy(t *testing.T, s session.Store) {
	k := key("copy")
	e := claim(t, s, k, "gw", false, t0).Epoch
	want := richState(t, s, k, "gw", e)
	st := load(t, s, k)
	st.Will.Payload[0] = 'X'
	st.Will.Topic = "changed"
	st.Subscriptions[0].QoS = 0
	st.Inflight[0].State = session.AwaitPubcomp
	st.LastSeq = 1
	sameState(t, "Load after changing an earlier result", load(t, s, k), want)
}

// Many gateways claim one session at once: claims serialize, every epoch is
// distinct, and exactly one claimant (the last) may write afterwards.
func testConcurrentClaims(t *testing.T, s session.Store) {
	ctx := t.Context()
	const rounds, claimants = 10, 8
	k := key("contended")
	last := claim(t, s, k, "gw-init", false, t0).Epoch
	for r := range rounds {
		type result struct {
			c   session.Claimed
			err error
		}
		results := make([]result, claimants)
		start := make(chan struct{})
		done := make(chan struct{})
		for i := range claimants {
			go func() {
				defer func() { done <- struct{}{} }()
				<-start
				c, err := s.Claim(ctx, k, fmt.Sprintf("gw-%d", i), 5, i%2 == 0, at(time.Duration(r)*time.Second))
				results[i] = result{c, err}
			}()
		}
		close(start)
		for range claimants {
			<-done
		}
		epochs := map[uint64]bool{}
		prevs := map[uint64]bool{}
		var top uint64
		for i, res := range results {
			if res.err != nil {
				t.Fatalf("round %d: Claim by gw-%d = %v", r, i, res.err)
			}
			if res.c.Epoch <= last || epochs[res.c.Epoch] {
				t.Fatalf("round %d: epoch %d repeated or not above %d", r, res.c.Epoch, last)
			}
			epochs[res.c.Epoch] = true
			top = max(top, res.c.Epoch)
			if res.c.Previous == nil {
				t.Fatalf("round %d: gw-%d saw no previous session", r, i)
			}
			prevs[res.c.Previous.Epoch] = true
		}
		// Serialized claims form a chain: each saw exactly one other's epoch
		// (or the round's starting epoch) as previous.
		chain := map[uint64]bool{last: true}
		for e := range epochs {
			if e != top {
				chain[e] = true
			}
		}
		if !reflect.DeepEqual(prevs, chain) {
			t.Fatalf("round %d: previous epochs %v do not chain the claims %v", r, prevs, epochs)
		}
		// Only the winner's writes land; the losers write concurrently.
		var wins int
		errs := make(chan error, claimants)
		for i := range claimants {
			go func() {
				errs <- s.SetLastSeq(ctx, k, results[i].c.Epoch, uint64(r*100+i))
			}()
		}
		for range claimants {
			switch err := <-errs; {
			case err == nil:
				wins++
			case !errors.Is(err, session.ErrFenced):
				t.Fatalf("round %d: loser's write = %v, want ErrFenced", r, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writes succeeded, want exactly 1", r, wins)
		}
		if st := load(t, s, k); st.Epoch != top {
			t.Fatalf("round %d: current epoch %d, want the largest claimed %d", r, st.Epoch, top)
		}
		last = top
	}
}

func testCancelledContext(t *testing.T, s session.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Claim(ctx, key("ctx"), "gw", 5, false, t0); err == nil {
		t.Fatalf("Claim with a cancelled context succeeded")
	}
	if _, err := s.Expired(ctx, t0, 10); err == nil {
		t.Fatalf("Expired with a cancelled context succeeded")
	}
	if _, _, err := s.Owned(ctx, "gw", "", 10); err == nil {
		t.Fatalf("Owned with a cancelled context succeeded")
	}
	if _, err := s.Orphan(ctx, key("ctx"), "gw", 1, t0, false); err == nil {
		t.Fatalf("Orphan with a cancelled context succeeded")
	}
	if _, err := s.DueWills(ctx, t0, 10); err == nil {
		t.Fatalf("DueWills with a cancelled context succeeded")
	}
	if _, err := s.TakeWill(ctx, key("ctx"), 1, t0); err == nil {
		t.Fatalf("TakeWill with a cancelled context succeeded")
	}
}

// ownedAll pages through Owned(owner) with limit and returns every session
// listed, failing on a page above limit or a key listed twice.
func ownedAll(t testing.TB, s session.Store, owner string, limit int) map[session.Key]*session.State {
	t.Helper()
	out := map[session.Key]*session.State{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatalf("Owned(%q) never ends", owner)
		}
		page, next, err := s.Owned(t.Context(), owner, cursor, limit)
		must(t, "Owned", err)
		if len(page) > limit {
			t.Fatalf("Owned(%q, limit %d) = %d sessions", owner, limit, len(page))
		}
		for _, st := range page {
			if _, dup := out[st.Key]; dup {
				t.Fatalf("Owned(%q) listed %q twice", owner, st.Key)
			}
			out[st.Key] = st
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

func sortedKeys(m map[session.Key]*session.State) []session.Key {
	keys := make([]session.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b session.Key) int {
		if a.Tenant != b.Tenant {
			return strings.Compare(a.Tenant, b.Tenant)
		}
		return strings.Compare(a.ClientID, b.ClientID)
	})
	return keys
}

// Owned lists exactly the sessions connected through an owner: not the
// ones it disconnected, lost to a takeover or deleted.
func testOwned(t *testing.T, s session.Store) {
	ctx := t.Context()
	want := map[session.Key]*session.State{}
	for i := range 12 {
		k := key(fmt.Sprintf("own%02d", i))
		e := claim(t, s, k, "gw-a", false, t0).Epoch
		st := richState(t, s, k, "gw-a", e)
		switch i {
		case 0: // disconnected
			must(t, "Disconnect", s.Disconnect(ctx, k, e, t0))
		case 1: // taken over by gw-b
			claim(t, s, k, "gw-b", false, t0)
		case 2: // deleted
			must(t, "Delete", s.Delete(ctx, k, e))
		default:
			want[k] = st
		}
	}
	claim(t, s, session.Key{Tenant: "globex", ClientID: "own03"}, "gw-b", false, t0)
	got := ownedAll(t, s, "gw-a", 100)
	if !slices.Equal(sortedKeys(got), sortedKeys(want)) {
		t.Fatalf("Owned(gw-a) = %v, want %v", sortedKeys(got), sortedKeys(want))
	}
	for k, st := range got {
		sameState(t, "Owned(gw-a) state", st, want[k])
	}
	if b := ownedAll(t, s, "gw-b", 100); len(b) != 2 {
		t.Fatalf("Owned(gw-b) = %v, want the taken-over session and globex's", sortedKeys(b))
	}
	if n := ownedAll(t, s, "gw-none", 100); len(n) != 0 {
		t.Fatalf("Owned of an unknown owner = %v, want none", sortedKeys(n))
	}
	for _, limit := range []int{0, -1} {
		page, next, err := s.Owned(ctx, "gw-a", "", limit)
		must(t, "Owned", err)
		if len(page) != 0 || next != "" {
			t.Fatalf("Owned(limit %d) = %d sessions, next %q; want nothing", limit, len(page), next)
		}
	}
}

// Owned pages through many sessions with any limit, each exactly once, and
// a session orphaned during the listing does not break it.
func testOwnedPages(t *testing.T, s session.Store) {
	const n = 57
	all := map[session.Key]bool{}
	for i := range n {
		k := session.Key{Tenant: fmt.Sprintf("t%d", i%3), ClientID: fmt.Sprintf("page%03d", i)}
		claim(t, s, k, "gw-a", false, t0)
		all[k] = true
	}
	for _, limit := range []int{1, 5, 56, 57, 1000} {
		got := ownedAll(t, s, "gw-a", limit)
		if len(got) != n {
			t.Fatalf("Owned(limit %d) listed %d sessions, want %d", limit, len(got), n)
		}
	}
	// Orphan each session right after its page lists it.
	cursor, orphaned := "", 0
	for {
		page, next, err := s.Owned(t.Context(), "gw-a", cursor, 4)
		must(t, "Owned", err)
		for _, st := range page {
			_, err := s.Orphan(t.Context(), st.Key, "gw-a", st.Epoch, at(time.Second), false)
			must(t, "Orphan", err)
			orphaned++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if orphaned != n {
		t.Fatalf("orphaned %d sessions while paging, want %d", orphaned, n)
	}
	if left := ownedAll(t, s, "gw-a", 10); len(left) != 0 {
		t.Fatalf("Owned after orphaning all = %v, want none", sortedKeys(left))
	}
}

// Owner names are arbitrary strings: one that is a prefix of another, or
// holds a store's delimiters, lists only its own sessions.
func testOwnedOddOwners(t *testing.T, s session.Store) {
	owners := []string{"gw", "gw:", "gw:x", "gw%3Ax", "g", "gw{1}", "gw;", ""}
	for i, o := range owners {
		for j := range 3 {
			claim(t, s, session.Key{Tenant: "t:{1}", ClientID: fmt.Sprintf("%d:%d{%%}", i, j)}, o, false, t0)
		}
	}
	for i, o := range owners {
		got := ownedAll(t, s, o, 2)
		if len(got) != 3 {
			t.Fatalf("Owned(%q) = %v, want its 3 sessions", o, sortedKeys(got))
		}
		for k, st := range got {
			if st.Owner != o || !strings.HasPrefix(k.ClientID, fmt.Sprintf("%d:", i)) {
				t.Fatalf("Owned(%q) listed %q owned by %q", o, k, st.Owner)
			}
		}
	}
}

// [MQTT-3.1.2-8] The will of a connection whose gateway died is due: Orphan
// is the disconnect the dead gateway never made. It keeps the session,
// starts its expiry clock at the given time and fences the old owner.
func testOrphan(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("orphan")
	c := claim(t, s, k, "gw-dead", false, t0)
	want := richState(t, s, k, "gw-dead", c.Epoch)
	wantErr(t, "Orphan naming another owner", func() error {
		_, err := s.Orphan(ctx, k, "gw-other", c.Epoch, at(time.Second), false)
		return err
	}(), session.ErrFenced)
	wantErr(t, "Orphan with a wrong epoch", func() error {
		_, err := s.Orphan(ctx, k, "gw-dead", c.Epoch+1, at(time.Second), false)
		return err
	}(), session.ErrFenced)
	sameState(t, "state after refused Orphans", load(t, s, k), want)

	st, err := s.Orphan(ctx, k, "gw-dead", c.Epoch, at(time.Second), false)
	must(t, "Orphan", err)
	if st.Epoch <= c.Epoch {
		t.Fatalf("Orphan epoch = %d, want > %d", st.Epoch, c.Epoch)
	}
	want.Epoch, want.Connected, want.DisconnectedAt = st.Epoch, false, at(time.Second)
	sameState(t, "Orphan's state", st, want)
	sameState(t, "Load after Orphan", load(t, s, k), want)

	// The presumed-dead owner can no longer write.
	wantErr(t, "dead owner's SetWill", s.SetWill(ctx, k, c.Epoch, nil), session.ErrFenced)
	wantErr(t, "dead owner's Disconnect", s.Disconnect(ctx, k, c.Epoch, at(time.Minute)), session.ErrFenced)
	// A second orphaning finds nothing to do.
	wantErr(t, "second Orphan", func() error {
		_, err := s.Orphan(ctx, k, "gw-dead", st.Epoch, at(time.Minute), false)
		return err
	}(), session.ErrFenced)
	if o := ownedAll(t, s, "gw-dead", 10); len(o) != 0 {
		t.Fatalf("Owned(gw-dead) after Orphan = %v, want none", sortedKeys(o))
	}
	// The expiry clock runs from the orphaning time: 3600s.
	expiredNone(t, s, at(3601*time.Second-time.Millisecond))
	if got := expiredKeys(t, s, at(3601*time.Second), 10); !slices.Equal(got, []session.Key{k}) {
		t.Fatalf("Expired at the orphan's deadline = %v, want [%v]", got, k)
	}
	// The new epoch is the one that clears the will and deletes.
	must(t, "SetWill(nil) with the orphan's epoch", s.SetWill(ctx, k, st.Epoch, nil))
	must(t, "Delete with the orphan's epoch", s.Delete(ctx, k, st.Epoch))
	wantErr(t, "Orphan of a deleted session", func() error {
		_, err := s.Orphan(ctx, k, "gw-dead", st.Epoch, at(time.Minute), false)
		return err
	}(), session.ErrNotFound)
}

// A client that reconnected through another gateway before the sweeper got
// to it is never touched.
func testOrphanReconnected(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("back")
	c1 := claim(t, s, k, "gw-dead", false, t0)
	richState(t, s, k, "gw-dead", c1.Epoch)
	listed := ownedAll(t, s, "gw-dead", 10)[k]
	if listed == nil {
		t.Fatalf("Owned(gw-dead) does not list %q", k)
	}
	claim(t, s, k, "gw-live", false, at(time.Second))
	want := load(t, s, k)
	_, err := s.Orphan(ctx, k, "gw-dead", listed.Epoch, at(2*time.Second), false)
	wantErr(t, "Orphan after the client reconnected", err, session.ErrFenced)
	sameState(t, "state after a refused Orphan", load(t, s, k), want)
	// Nor is a session the same gateway id claimed again (a restart).
	k2 := key("restarted")
	old := claim(t, s, k2, "gw-x", false, t0)
	claim(t, s, k2, "gw-x", false, at(time.Second))
	_, err = s.Orphan(ctx, k2, "gw-x", old.Epoch, at(2*time.Second), false)
	wantErr(t, "Orphan with the previous life's epoch", err, session.ErrFenced)
	if st := load(t, s, k2); !st.Connected {
		t.Fatalf("session claimed again was orphaned: %s", dump(st))
	}
}

// [MQTT-3.1.2-23] An orphaned session expires by its interval counted from
// the orphaning time: at once for interval 0 (it is kept until deleted, so
// its will is not lost), never for NeverExpire.
func testOrphanExpiry(t *testing.T, s session.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		id     string
		expiry uint32
	}{{"orphan-zero", 0}, {"orphan-10s", 10}, {"orphan-never", session.NeverExpire}} {
		k := key(tc.id)
		e := claim(t, s, k, "gw-dead", false, t0).Epoch
		must(t, "SetExpiry", s.SetExpiry(ctx, k, e, tc.expiry))
		must(t, "SetWill", s.SetWill(ctx, k, e, &session.Will{Topic: "w/" + tc.id}))
		_, err := s.Orphan(ctx, k, "gw-dead", e, at(time.Second), false)
		must(t, "Orphan", err)
	}
	if got := expiredKeys(t, s, at(time.Second), 10); !slices.Equal(got, []session.Key{key("orphan-zero")}) {
		t.Fatalf("Expired at the orphaning time = %v, want [orphan-zero]", got)
	}
	got, err := s.Expired(ctx, at(time.Hour), 10)
	must(t, "Expired", err)
	if len(got) != 2 || got[0].ClientID != "orphan-zero" || got[1].ClientID != "orphan-10s" {
		t.Fatalf("Expired an hour later = %d sessions, want orphan-zero then orphan-10s", len(got))
	}
	for _, st := range got {
		if st.Will == nil || st.Will.Topic != "w/"+st.ClientID {
			t.Fatalf("expired orphan %q lost its will: %s", st.ClientID, dump(st))
		}
		must(t, "Delete", s.Delete(ctx, st.Key, st.Epoch))
	}
	if st := load(t, s, key("orphan-never")); st.Connected {
		t.Fatalf("orphan-never still connected: %s", dump(st))
	}
}

// A client that returns after its session was orphaned resumes a
// disconnected session: Claim reports it not connected, so the new
// gateway sees no dead connection whose will it would publish again.
func testOrphanThenReconnect(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("orphan-back")
	c := claim(t, s, k, "gw-dead", false, t0)
	richState(t, s, k, "gw-dead", c.Epoch)
	st, err := s.Orphan(ctx, k, "gw-dead", c.Epoch, at(time.Second), false)
	must(t, "Orphan", err)
	c2 := claim(t, s, k, "gw-live", false, at(2*time.Second))
	if c2.Previous == nil || c2.Previous.Connected || c2.Previous.Epoch != st.Epoch || c2.Epoch <= st.Epoch {
		t.Fatalf("Claim after Orphan: Previous %s, epoch %d; want the disconnected orphan, epoch > %d", dump(c2.Previous), c2.Epoch, st.Epoch)
	}
	if o := ownedAll(t, s, "gw-live", 10); len(o) != 1 || o[k] == nil {
		t.Fatalf("Owned(gw-live) = %v, want [%v]", sortedKeys(o), k)
	}
	expiredNone(t, s, at(1000*time.Hour))
}

// [MQTT-3.1.2-8] Orphan may hand the will over in the same step: only one
// caller gets it, and a client that comes back afterwards finds none.
func testOrphanTakesWill(t *testing.T, s session.Store) {
	ctx := t.Context()
	k := key("orphan-take")
	c := claim(t, s, k, "gw-dead", false, t0)
	want := richState(t, s, k, "gw-dead", c.Epoch)
	st, err := s.Orphan(ctx, k, "gw-dead", c.Epoch, at(time.Second), true)
	must(t, "Orphan(takeWill)", err)
	want.Epoch, want.Connected, want.DisconnectedAt = st.Epoch, false, at(time.Second)
	sameState(t, "Orphan(takeWill)'s state, with the will", st, want)
	want.Will = nil
	sameState(t, "Load after Orphan(takeWill)", load(t, s, k), want)
	// A second sweeper that listed the session with the same epoch gets
	// nothing.
	_, err = s.Orphan(ctx, k, "gw-dead", c.Epoch, at(time.Second), true)
	wantErr(t, "second Orphan(takeWill)", err, session.ErrFenced)
	if c2 := claim(t, s, k, "gw-live", false, at(2*time.Second)); c2.Previous == nil || c2.Previous.Will != nil {
		t.Fatalf("Claim after Orphan(takeWill): Previous %s; want the session without its will", dump(c2.Previous))
	}
	// Expiry 0: the session stays listed by Expired, without its will.
	k0 := key("orphan-take-zero")
	e0 := claim(t, s, k0, "gw-dead", false, t0).Epoch
	must(t, "SetWill", s.SetWill(ctx, k0, e0, &session.Will{Topic: "w"}))
	st0, err := s.Orphan(ctx, k0, "gw-dead", e0, t0, true)
	must(t, "Orphan(takeWill)", err)
	if st0.Will == nil || st0.Will.Topic != "w" {
		t.Fatalf("Orphan(takeWill) returned will %+v, want the stored one", st0.Will)
	}
	got, err := s.Expired(ctx, t0, 10)
	must(t, "Expired", err)
	if len(got) != 1 || got[0].Key != k0 || got[0].Will != nil {
		t.Fatalf("Expired after Orphan(takeWill) of an expiry-0 session = %d sessions; want it, without its will", len(got))
	}
}
