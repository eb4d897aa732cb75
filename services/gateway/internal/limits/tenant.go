package limits

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// Limit names one of a tenant's quotas, as it appears in log lines and in
// the "limit" attribute of the flockmq.gateway.limit.exceeded counter.
type Limit int

// The limits Limits enforces.
const (
	LimitConnections   Limit = iota // max_connections
	LimitMessageRate                // max_messages_per_second
	LimitByteRate                   // max_bytes_per_second
	LimitPayloadSize                // max_payload_bytes
	LimitSubscriptions              // max_subscriptions_per_device
	LimitRetained                   // max_retained
	LimitQueued                     // max_queued_messages
	LimitSessionExpiry              // max_session_expiry_seconds
)

// numLimits is the number of Limit values.
const numLimits = LimitSessionExpiry + 1

var limitNames = [numLimits]string{
	LimitConnections:   "max_connections",
	LimitMessageRate:   "max_messages_per_second",
	LimitByteRate:      "max_bytes_per_second",
	LimitPayloadSize:   "max_payload_bytes",
	LimitSubscriptions: "max_subscriptions_per_device",
	LimitRetained:      "max_retained",
	LimitQueued:        "max_queued_messages",
	LimitSessionExpiry: "max_session_expiry_seconds",
}

// String returns the quota's JSON name, e.g. "max_messages_per_second".
func (k Limit) String() string {
	if k < 0 || k >= numLimits {
		return fmt.Sprintf("limit(%d)", int(k))
	}
	return limitNames[k]
}

// Tenant is one tenant's limit state on this gateway, returned by
// Limits.For. Its methods are safe for concurrent use and never block on
// another tenant: each Tenant has its own counters and buckets.
//
// Every check takes the MQTT client id of the connection it is made for;
// it is used only in log lines.
type Tenant struct {
	l  *Limits
	id string

	// Written on the publish path by every connection of the tenant.
	msgs  bucket // messages/s
	bytes bucket // payload bytes/s

	snap       atomic.Pointer[snapshot] // current quotas; replaced by refresh
	refreshing atomic.Bool              // one refresh at a time

	conns  atomic.Int64 // connections held on this gateway
	others atomic.Int64 // connections the other gateways report; written by Run

	// Publishes and payload bytes admitted here since the last report
	// (rates.go), and what the other gateways admit per second with how
	// many of them do; written by Run.
	admMsgs, admBytes           atomic.Int64
	otherMsgRate, otherByteRate atomic.Int64
	otherPublishers             atomic.Int64

	reported      bool        // a non-zero count is in the usage bucket; owned by the Run goroutine
	ratesReported bool        // a non-zero rate is in the usage bucket; owned by the Run goroutine
	observed      atomic.Bool // the connections gauge reported this tenant last time

	events       [numLimits]event
	badOverrides event                         // log lines about invalid overrides
	addOpts      [numLimits][]metric.AddOption // attributes tenant_id and limit, built once
	gaugeOpts    []metric.ObserveOption        // attribute tenant_id, built once
}

// snapshot is an immutable copy of a tenant's effective quotas with the
// values the hot path derives from them.
type snapshot struct {
	q         tenant.Quotas
	expiresAt int64 // Limits clock; after it the quotas are looked up again
}

// event rate-limits the log lines about one limit of one tenant.
type event struct {
	last       atomic.Int64 // Limits clock of the last line
	suppressed atomic.Int64 // events since the last line that were not logged
}

// shouldLog reports whether an event at now may be logged, at most once
// per every, and if so how many were suppressed since the last line. When
// it may not, it counts the event as suppressed: two atomic operations.
func (e *event) shouldLog(now int64, every time.Duration) (suppressed int64, ok bool) {
	last := e.last.Load()
	if now-last < int64(every) || !e.last.CompareAndSwap(last, now) {
		e.suppressed.Add(1)
		return 0, false
	}
	return e.suppressed.Swap(0), true
}

func (l *Limits) newTenant(id string) *Tenant {
	t := &Tenant{l: l, id: id}
	now := l.nanotime()
	tenantAttr := attribute.String("tenant_id", id)
	for k := range numLimits {
		t.events[k].last.Store(now - int64(l.cfg.LogInterval))
		set := attribute.NewSet(tenantAttr, attribute.String("limit", k.String()))
		t.addOpts[k] = []metric.AddOption{metric.WithAttributeSet(set)}
	}
	t.gaugeOpts = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(tenantAttr))}
	t.badOverrides.last.Store(now - int64(l.cfg.LogInterval))
	t.snap.Store(t.snapshot(now))
	t.msgs.tat.Store(now)
	t.bytes.tat.Store(now)
	t.others.Store(l.remoteSum(id, now))
	return t
}

// snapshot looks the tenant's quotas up; invalid overrides are logged
// (rate-limited like limit hits) and replaced by the defaults.
func (t *Tenant) snapshot(now int64) *snapshot {
	q, err := t.l.quotasFor(t.id)
	if err != nil {
		if suppressed, ok := t.badOverrides.shouldLog(now, t.l.cfg.LogInterval); ok {
			t.l.log.Warn("tenant "+t.id+" has invalid quota overrides; it gets the platform defaults until they are fixed",
				"tenant_id", t.id, "err", err, "suppressed", suppressed)
		}
	}
	return &snapshot{
		q:         q,
		expiresAt: now + int64(t.l.cfg.OverridesTTL),
	}
}

// ID is the tenant id.
func (t *Tenant) ID() string { return t.id }

// current returns the quotas in force at now, looking the overrides up
// again when the snapshot has expired. Only one caller refreshes; the
// others keep using the previous snapshot meanwhile.
func (t *Tenant) current(now int64) *snapshot {
	s := t.snap.Load()
	if now >= s.expiresAt {
		if ns := t.refresh(now); ns != nil {
			return ns
		}
	}
	return s
}

// refresh looks the tenant's overrides up and stores the result; nil if
// another goroutine is already refreshing.
func (t *Tenant) refresh(now int64) *snapshot {
	if !t.refreshing.CompareAndSwap(false, true) {
		return nil
	}
	defer t.refreshing.Store(false)
	s := t.snapshot(now)
	t.snap.Store(s)
	return s
}

// Quotas returns the tenant's effective quotas: overrides on top of the
// platform defaults, every field positive.
func (t *Tenant) Quotas() tenant.Quotas { return t.current(t.l.nanotime()).q }

// Connections returns the tenant's connections on this gateway and, as
// last reported, on the other gateways.
func (t *Tenant) Connections() (local, others int64) { return t.conns.Load(), t.others.Load() }

// AcquireConnection admits one more connection of the tenant, counting
// it until release is called (release is idempotent). It refuses when
// the tenant's connections on this gateway plus those the other gateways
// last reported reach MaxConnections; the error then wraps
// mqtt.QuotaExceeded (errors.Is). An MQTT 5 CONNACK carries 0x97 as is; an
// MQTT 3.1.1 CONNACK answers return code 0x03, server unavailable, and
// the server then closes the connection [MQTT-3.2.2-5]. Call it after
// authentication, before sending a successful CONNACK.
func (t *Tenant) AcquireConnection(clientID string) (release func(), err error) {
	now := t.l.nanotime()
	limit := t.current(now).q.MaxConnections
	for {
		n, others := t.conns.Load(), t.others.Load()
		if n+others >= limit {
			t.hit(now, LimitConnections, clientID, mqtt.QuotaExceeded, limit, n, others)
			return nil, fmt.Errorf("limits: tenant %s is at its limit of %d connections: %w", t.id, limit, mqtt.QuotaExceeded)
		}
		if t.conns.CompareAndSwap(n, n+1) {
			break
		}
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			t.conns.Add(-1)
		}
	}, nil
}

// AllowPublish checks one PUBLISH from a client of the tenant with a
// payload of payloadBytes and, when it is allowed, charges it to the
// tenant's message and byte rates. It returns
//
//   - mqtt.Success: go ahead;
//   - mqtt.PacketTooLarge (0x95): the payload is over MaxPayloadBytes;
//     nothing was charged;
//   - mqtt.MessageRateTooHigh (0x96): the tenant is over
//     MaxMessagesPerSecond or MaxBytesPerSecond; nothing was charged.
//
// Both refusals are DISCONNECT reason codes in MQTT 5 (a PUBACK may not
// carry them); an MQTT 3.1.1 server that refuses a PUBLISH can only close
// the connection [MQTT-3.3.5-2]. See doc.go for how the gateway applies
// them. The rates are token buckets holding one second's worth, refilled
// continuously. AllowPublish takes no lock; it allocates only to write a
// log line and, once per OverridesTTL, to refresh the quotas.
func (t *Tenant) AllowPublish(clientID string, payloadBytes int) mqtt.ReasonCode {
	now := t.l.nanotime()
	s := t.current(now)
	n := int64(payloadBytes)
	if n > s.q.MaxPayloadBytes {
		t.hit(now, LimitPayloadSize, clientID, mqtt.PacketTooLarge, s.q.MaxPayloadBytes, n, 0)
		return mqtt.PacketTooLarge
	}
	msgRate, byteRate := t.shares(s)
	mc := cost(1, msgRate)
	if !t.msgs.take(now, mc) {
		t.hit(now, LimitMessageRate, clientID, mqtt.MessageRateTooHigh, s.q.MaxMessagesPerSecond, 0, 0)
		return mqtt.MessageRateTooHigh
	}
	if bc := cost(n, byteRate); !t.bytes.take(now, bc) {
		t.msgs.refund(mc)
		t.hit(now, LimitByteRate, clientID, mqtt.MessageRateTooHigh, s.q.MaxBytesPerSecond, n, 0)
		return mqtt.MessageRateTooHigh
	}
	t.admitted(n)
	return mqtt.Success
}

// ThrottlePublish is AllowPublish for a caller that can hold a publish
// back: when the tenant is over MaxMessagesPerSecond or MaxBytesPerSecond
// but would be back under them within Config.MaxThrottle, it charges the
// publish and returns how long to wait before forwarding it (and before
// reading the client's next packet). Only a publish that would have to wait
// longer is refused with mqtt.MessageRateTooHigh (0x96), nothing charged;
// mqtt.PacketTooLarge is as in AllowPublish. Waiting publishers queue
// behind each other in the tenant's buckets, so the tenant as a whole
// keeps to its rates while its clients are slowed down, and the gateway
// spends on it no more than those rates allow.
func (t *Tenant) ThrottlePublish(clientID string, payloadBytes int) (time.Duration, mqtt.ReasonCode) {
	now := t.l.nanotime()
	s := t.current(now)
	n := int64(payloadBytes)
	if n > s.q.MaxPayloadBytes {
		t.hit(now, LimitPayloadSize, clientID, mqtt.PacketTooLarge, s.q.MaxPayloadBytes, n, 0)
		return 0, mqtt.PacketTooLarge
	}
	maxWait := int64(t.l.cfg.MaxThrottle)
	msgRate, byteRate := t.shares(s)
	mc := cost(1, msgRate)
	w1, ok := t.msgs.reserve(now, mc, maxWait)
	if !ok {
		t.hit(now, LimitMessageRate, clientID, mqtt.MessageRateTooHigh, s.q.MaxMessagesPerSecond, 0, 0)
		return 0, mqtt.MessageRateTooHigh
	}
	bc := cost(n, byteRate)
	w2, ok := t.bytes.reserve(now, bc, maxWait)
	if !ok {
		t.msgs.refund(mc)
		t.hit(now, LimitByteRate, clientID, mqtt.MessageRateTooHigh, s.q.MaxBytesPerSecond, n, 0)
		return 0, mqtt.MessageRateTooHigh
	}
	t.admitted(n)
	if w1 == 0 && w2 == 0 {
		return 0, mqtt.Success
	}
	if w1 >= w2 {
		t.hit(now, LimitMessageRate, clientID, mqtt.Success, s.q.MaxMessagesPerSecond, w1, 0)
	} else {
		t.hit(now, LimitByteRate, clientID, mqtt.Success, s.q.MaxBytesPerSecond, n, w2)
	}
	return time.Duration(max(w1, w2)), mqtt.Success
}

// CheckSubscriptions checks a SUBSCRIBE that would add adding new topic
// filters to a session that holds current (filters it replaces do not
// count as adding). It returns mqtt.Success, or mqtt.QuotaExceeded (0x97)
// when current+adding is over MaxSubscriptionsPerDevice: an MQTT 5 SUBACK
// carries 0x97 for each refused filter [MQTT-3.9.3-2], an MQTT 3.1.1
// SUBACK 0x80 failure [MQTT-3.8.4-5] (a server may refuse some filters of
// a SUBSCRIBE and grant others). To refuse filter by filter, call it once per
// new filter with adding 1.
func (t *Tenant) CheckSubscriptions(clientID string, current, adding int) mqtt.ReasonCode {
	now := t.l.nanotime()
	limit := t.current(now).q.MaxSubscriptionsPerDevice
	if int64(current)+int64(adding) > limit {
		t.hit(now, LimitSubscriptions, clientID, mqtt.QuotaExceeded, limit, int64(current), int64(adding))
		return mqtt.QuotaExceeded
	}
	return mqtt.Success
}

// CheckRetained checks a PUBLISH with the retain flag that would store a
// retained message under a topic that has none yet, while the tenant holds
// current retained messages (replacing or deleting one needs no check). It
// returns mqtt.Success, or mqtt.QuotaExceeded (0x97) when the tenant
// already holds MaxRetained: an MQTT 5 PUBACK or PUBREC may carry 0x97;
// for QoS 0 and MQTT 3.1.1 the message is delivered but not retained.
func (t *Tenant) CheckRetained(clientID string, current int64) mqtt.ReasonCode {
	now := t.l.nanotime()
	limit := t.current(now).q.MaxRetained
	if current >= limit {
		t.hit(now, LimitRetained, clientID, mqtt.QuotaExceeded, limit, current, 0)
		return mqtt.QuotaExceeded
	}
	return mqtt.Success
}

// CheckQueued checks one more message for the session of clientID, which
// already has queued messages waiting (offline or in flight). It returns
// mqtt.Success, or mqtt.QuotaExceeded (0x97) when the session already
// holds MaxQueuedMessages: the message is not queued for that session
// (and, when the publisher is waiting on a QoS 1 or 2 acknowledgement
// for it, its MQTT 5 PUBACK or PUBREC may carry 0x97).
func (t *Tenant) CheckQueued(clientID string, queued int64) mqtt.ReasonCode {
	now := t.l.nanotime()
	limit := t.current(now).q.MaxQueuedMessages
	if queued >= limit {
		t.hit(now, LimitQueued, clientID, mqtt.QuotaExceeded, limit, queued, 0)
		return mqtt.QuotaExceeded
	}
	return mqtt.Success
}

// SessionExpiry returns the Session Expiry Interval, in seconds, the
// gateway grants a client that requested requested: the request clamped
// to MaxSessionExpirySeconds. 0xFFFFFFFF (the session never expires) and
// an MQTT 3.1.1 clean-session-0 connection (pass 0xFFFFFFFF) are clamped
// too. An MQTT 5 server that grants a value other than the one requested
// must send it in the CONNACK's Session Expiry Interval property
// (MQTT 5.0 section 3.2.2.3.2).
func (t *Tenant) SessionExpiry(clientID string, requested uint32) uint32 {
	now := t.l.nanotime()
	limit := t.current(now).q.MaxSessionExpirySeconds
	if int64(requested) > limit {
		t.hit(now, LimitSessionExpiry, clientID, mqtt.Success, limit, int64(requested), 0)
		return uint32(min(limit, math.MaxUint32))
	}
	return requested
}

// MaxQueuedMessages is how many messages one session of the tenant may
// have queued; the session layer enforces it (see CheckQueued).
func (t *Tenant) MaxQueuedMessages() int64 { return t.Quotas().MaxQueuedMessages }

// MaxRetained is how many retained messages the tenant may hold; the
// retained store enforces it (see CheckRetained).
func (t *Tenant) MaxRetained() int64 { return t.Quotas().MaxRetained }

// MaxPayloadBytes is the largest payload the tenant may publish; an MQTT
// 5 CONNACK may advertise a Maximum Packet Size derived from it.
func (t *Tenant) MaxPayloadBytes() int64 { return t.Quotas().MaxPayloadBytes }
