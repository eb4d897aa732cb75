// Package session defines the durable state of MQTT sessions and the Store
// contract that keeps it. A gateway keeps no session state of its own that a
// restart may lose: everything a reconnecting client needs — subscriptions,
// in-flight packet identifiers, the will, the durable stream position and
// which gateway owns the session — lives in a Store.
//
// Ownership is fenced by an epoch. Claim makes a gateway the owner and
// returns a new, larger epoch; every later write names that epoch and fails
// with ErrFenced once another gateway has claimed the session, so a gateway
// that lost a takeover race can never overwrite its successor's state.
//
// Implementations live in subpackages (memstore for the single-process mode,
// redisstore for production) and pass the shared conformance suite in
// sessiontest.
package session

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store.
var (
	// ErrNotFound: no session exists under the key. Load has no clock, so a
	// session whose expiry has passed but that nobody has deleted yet still
	// loads; State.ExpiredAt tells. Writes (other than Claim) to a missing
	// session also return ErrNotFound: the caller no longer owns it.
	ErrNotFound = errors.New("session: not found")
	// ErrFenced: the epoch named in a write is no longer current because
	// another owner claimed the session.
	ErrFenced = errors.New("session: fenced by a newer owner")
)

// NeverExpire is the session expiry interval that means the session never
// expires (MQTT 5.0 section 3.1.2.11.2).
const NeverExpire = 0xFFFFFFFF

// Key names a session: client identifiers are scoped to their tenant.
type Key struct {
	Tenant   string
	ClientID string
}

// Subscription is one stored subscription with its MQTT options.
type Subscription struct {
	Filter            string // as the client sent it, including any $share/{group}/ prefix
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32 // 0 when none
}

// Will is a stored will message, published when the network connection
// closes without a normal DISCONNECT, or when the session ends, after Delay.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Delay      uint32 // seconds [MQTT-3.1.3-9]
	Properties []byte // MQTT 5 will properties in wire encoding; nil before v5
}

// Direction tells which side sent the PUBLISH an in-flight entry tracks.
type Direction byte

// Directions.
const (
	Outbound Direction = 1 // gateway → client
	Inbound  Direction = 2 // client → gateway (QoS 2: PUBREC sent, PUBREL awaited)
)

// InflightState is the step of the QoS 1/2 handshake an entry waits for.
type InflightState byte

// In-flight states.
const (
	AwaitPuback  InflightState = 1 // outbound QoS 1
	AwaitPubrec  InflightState = 2 // outbound QoS 2, PUBLISH sent
	AwaitPubcomp InflightState = 3 // outbound QoS 2, PUBREL sent
	AwaitPubrel  InflightState = 4 // inbound QoS 2, PUBREC sent
	// AwaitStore: inbound QoS 2, recorded before the message is handed to
	// the durable stream and kept until PUBREL, so a gateway that resumes
	// the session after a crash republishes a resent copy idempotently.
	// Seq holds the publish's deduplication nonce. (AwaitPubrel is then
	// written only when recording failed.)
	AwaitStore InflightState = 5
)

// Inflight is one unacknowledged packet identifier of a session.
type Inflight struct {
	Direction Direction
	PacketID  uint16
	QoS       byte
	State     InflightState
	Seq       uint64 // durable stream sequence of an outbound message, nonce of an AwaitStore one; 0 if none
}

// State is everything stored about one session. Stores return
// Subscriptions ordered by Filter and Inflight ordered by Direction, then
// Seq, then PacketID, so outbound entries come back in stream order.
// DisconnectedAt may be kept at millisecond precision.
type State struct {
	Key
	Owner          string    // id of the gateway that owns the session
	Epoch          uint64    // fencing token of the current owner
	Connected      bool      // a network connection is attached
	ProtocolLevel  byte      // 3, 4 or 5
	ExpiryInterval uint32    // seconds after disconnect; NeverExpire never
	DisconnectedAt time.Time // zero while connected
	Subscriptions  []Subscription
	Will           *Will
	LastSeq        uint64 // durable stream position delivered (and acknowledged) through
	Inflight       []Inflight
}

// ExpiresAt returns when a disconnected session expires: DisconnectedAt plus
// the expiry interval. ok is false while the session is connected or when it
// never expires.
func (s *State) ExpiresAt() (t time.Time, ok bool) {
	if s.Connected || s.ExpiryInterval == NeverExpire {
		return time.Time{}, false
	}
	return s.DisconnectedAt.Add(time.Duration(s.ExpiryInterval) * time.Second), true
}

// ExpiredAt reports whether the session has expired at now: it is
// disconnected and now is at or after ExpiresAt.
func (s *State) ExpiredAt(now time.Time) bool {
	t, ok := s.ExpiresAt()
	return ok && !now.Before(t)
}

// WillDueAt returns when the stored will of a disconnected session is due
// as a delayed will: DisconnectedAt plus the will delay [MQTT-3.1.3-9]. ok
// is false while the session is connected, when it stores no will, and
// when the session ends first (its expiry interval is not longer than the
// will delay): that will is due with the session's end, and goes with
// the expiry path (Store.Expired) instead.
func (s *State) WillDueAt() (t time.Time, ok bool) {
	if s.Connected || s.Will == nil {
		return time.Time{}, false
	}
	if s.ExpiryInterval != NeverExpire && s.Will.Delay >= s.ExpiryInterval {
		return time.Time{}, false
	}
	return s.DisconnectedAt.Add(time.Duration(s.Will.Delay) * time.Second), true
}

// WillTakeableAt reports whether the stored will of a disconnected session
// is due at now, by either rule of [MQTT-3.1.3-9]: its delay has passed
// since DisconnectedAt, or the session has expired. Store.TakeWill hands
// out a will only then.
func (s *State) WillTakeableAt(now time.Time) bool {
	if s.Connected || s.Will == nil {
		return false
	}
	return !now.Before(s.DisconnectedAt.Add(time.Duration(s.Will.Delay)*time.Second)) || s.ExpiredAt(now)
}

// Claimed is the result of a successful Claim.
type Claimed struct {
	Epoch uint64 // the new owner's epoch, larger than any before it
	// Previous is the state before the claim: nil when there was no session
	// or it had expired (see Expired). Previous.Connected with another Owner means the
	// caller must ask that owner to close its connection (session takeover).
	Previous *State
	// Expired is the state of a session that had expired at the claim's now
	// but had not been deleted yet (nil otherwise). The claim discarded it;
	// its will is still due, so the caller publishes it as the sweeper
	// that reads Store.Expired would have.
	Expired *State
}

// Store keeps session state. Implementations are safe for concurrent use.
// Every write names the caller's epoch and returns ErrFenced when it is not
// the current one, or ErrNotFound when the session no longer exists.
//
// Epochs of one key strictly increase, also across Delete: a session
// deleted and claimed again never reuses an epoch an earlier owner held.
//
// Expiry is judged only against the now arguments: a disconnected session
// with interval N is live before DisconnectedAt+N and expired from then on;
// Claim treats an expired session as absent, and Expired lists it until
// somebody deletes it. Connected sessions and sessions with NeverExpire
// never expire.
//
// A delayed will is durable state too: a disconnected session whose stored
// will is due before the session ends (State.WillDueAt) is indexed by that
// due time, so any caller of DueWills finds it when it is due, whichever
// gateway stored it and whether or not that gateway still runs. TakeWill
// hands a due will to exactly one caller. Sessions without such a will
// cost the index nothing.
//
// A Store cannot tell a live owner from a dead one: a gateway that dies
// without calling Disconnect leaves its sessions connected, so they neither
// expire nor show up in Expired until the client reconnects (Claim then
// reports Previous.Connected with the dead owner) or somebody who knows the
// owner is gone orphans them: Owned lists the sessions still connected
// through a gateway, and Orphan marks each disconnected on its behalf.
type Store interface {
	// Claim makes owner the owner of the session at key, marks it
	// connected with the given protocol level and returns a new epoch and
	// the previous state. When clean is true the previous state is
	// discarded (clean start) and the new session starts empty; Previous is
	// still returned so the caller can take over the old connection.
	// A new session starts with ExpiryInterval 0; a resumed one keeps its
	// interval until SetExpiry changes it. now is compared with the
	// previous session's expiry.
	Claim(ctx context.Context, key Key, owner string, protocolLevel byte, clean bool, now time.Time) (Claimed, error)
	// Load returns the current state, or ErrNotFound. The state is a copy
	// the caller may keep and change.
	Load(ctx context.Context, key Key) (*State, error)
	// PutSubscriptions adds or replaces subscriptions (keyed by Filter).
	PutSubscriptions(ctx context.Context, key Key, epoch uint64, subs []Subscription) error
	// DeleteSubscriptions removes subscriptions by filter; unknown filters are ignored.
	DeleteSubscriptions(ctx context.Context, key Key, epoch uint64, filters []string) error
	// SetWill stores the will (nil clears it). A disconnected session's
	// entry in the delayed-will index follows.
	SetWill(ctx context.Context, key Key, epoch uint64, w *Will) error
	// PutInflight adds or replaces the entry with the same Direction and PacketID.
	PutInflight(ctx context.Context, key Key, epoch uint64, f Inflight) error
	// DeleteInflight removes an entry; a missing entry is not an error.
	DeleteInflight(ctx context.Context, key Key, epoch uint64, dir Direction, packetID uint16) error
	// SetLastSeq records the durable stream position; it never moves backwards.
	SetLastSeq(ctx context.Context, key Key, epoch uint64, seq uint64) error
	// SetExpiry changes the session expiry interval (MQTT 5 DISCONNECT may).
	// On a disconnected session it moves the deadline accordingly.
	SetExpiry(ctx context.Context, key Key, epoch uint64, expiry uint32) error
	// Disconnect marks the session disconnected at now. A session whose
	// expiry interval is 0 is deleted at once.
	Disconnect(ctx context.Context, key Key, epoch uint64, now time.Time) error
	// Delete removes the session. A sweeper deleting an expired session
	// names State.Epoch from Expired: if the client reconnected meanwhile,
	// Delete fails with ErrFenced and the session lives on. Only the caller
	// whose Delete succeeds should publish the will, so two sweepers never
	// both do.
	Delete(ctx context.Context, key Key, epoch uint64) error
	// Expired returns up to limit disconnected sessions whose expiry has
	// passed at now, earliest deadline first, so the caller can publish
	// their wills and Delete them. A limit below 1 returns nothing.
	Expired(ctx context.Context, now time.Time, limit int) ([]*State, error)
	// DueWills returns up to limit disconnected sessions whose stored will
	// is due at now as a delayed will (State.WillDueAt is at or before
	// now), earliest due first, so the caller can take each with TakeWill
	// and publish it. A will due with its session's end is listed by
	// Expired instead. Claim, Delete, Disconnect with expiry interval 0,
	// and TakeWill remove a session from this listing; SetWill, SetExpiry
	// and Orphan move it. A limit below 1 returns nothing.
	DueWills(ctx context.Context, now time.Time, limit int) ([]*State, error)
	// TakeWill removes and returns the stored will of the disconnected
	// session at key when it is due at now (State.WillTakeableAt): its
	// delay has passed since DisconnectedAt, or the session has expired
	// [MQTT-3.1.3-9]. It gives the session a new, larger epoch in the same
	// step, so of several callers naming epoch (the in-memory timer of the
	// gateway that disconnected the session, the sweepers of others) only
	// the first gets the will, and a Delete naming epoch, by a sweeper that
	// listed the session through Expired before the take, fails with
	// ErrFenced instead of publishing the will a second time. Only a
	// caller that gets a non-nil will publishes it. When the session is
	// connected, stores no will, or its will is not due yet, TakeWill
	// changes nothing and returns a nil will.
	TakeWill(ctx context.Context, key Key, epoch uint64, now time.Time) (*Will, error)
	// Owned returns up to limit sessions that are connected through owner,
	// in an order fixed by the store, starting after cursor ("" for the
	// first page), and the cursor of the next page, "" when there is none.
	// A page may hold fewer than limit sessions even when more follow;
	// only an empty next cursor ends the listing. Memory is bounded by
	// limit, whatever the number of sessions. Sessions claimed, orphaned
	// or disconnected during a listing may or may not be listed. A limit
	// below 1 returns nothing.
	Owned(ctx context.Context, owner, cursor string, limit int) (sessions []*State, next string, err error)
	// Orphan marks the session disconnected at at on behalf of owner,
	// which is gone without having called Disconnect. It succeeds only
	// while the session is connected through owner with epoch; otherwise
	// it fails with ErrFenced (ErrNotFound when there is no session), so a
	// client that reconnected elsewhere meanwhile is never touched. It
	// gives the session a new, larger epoch, fencing any late write of an
	// owner that was only presumed dead, and returns the new state.
	// With takeWill the stored will is removed in the same step and
	// handed over in the returned state's Will, so the caller alone
	// publishes it (a will due at once); otherwise the will stays stored,
	// and DueWills lists it from DisconnectedAt plus its delay.
	// Unlike Disconnect it never deletes: a session whose expiry interval
	// is 0, or whose deadline has passed, is listed by Expired at once, so
	// whoever deletes it publishes a will still stored, exactly once.
	Orphan(ctx context.Context, key Key, owner string, epoch uint64, at time.Time, takeWill bool) (*State, error)
}
