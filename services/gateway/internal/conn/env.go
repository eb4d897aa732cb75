package conn

import (
	"context"
	"log/slog"
	"time"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/limits"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// Limits are the protocol limits a connection enforces and advertises. The
// gateway fills every field (its Config applies the defaults).
type Limits struct {
	MaxPacketSize     uint32        // largest packet accepted from a client
	ReceiveMaximum    uint16        // inbound QoS 1/2 in flight per client
	MaxInflight       uint16        // outbound QoS 1/2 in flight per client, at most the client's Receive Maximum
	MaxQueuedBytes    int           // outbound bytes queued per client before QoS 0 messages are dropped
	MaxPending        int           // outbound QoS 1/2 messages waiting for an in-flight slot before the client is disconnected
	TopicAliasMaximum uint16        // client→server topic aliases accepted (MQTT 5)
	OutTopicAliases   bool          // use server→client topic aliases when the client accepts them (MQTT 5, alias.go)
	KeepAliveMin      uint16        // seconds; smaller client values (and 0) are raised to it when non-zero
	KeepAliveMax      uint16        // seconds; larger client values are lowered to it
	ServerKeepAlive   uint16        // seconds; when non-zero, overrides the client's keepalive (MQTT 5)
	ConnectTimeout    time.Duration // time allowed for the CONNECT packet
	WriteTimeout      time.Duration // time allowed for one socket write
	SessionExpiryMax  uint32        // seconds; ceiling on session expiry (also the expiry of 3.1.1 persistent sessions)
	RetainAvailable   bool
	WildcardAvailable bool
	SubIDsAvailable   bool
	SharedAvailable   bool
	ServerReference   string // sent with DISCONNECT 0x9C at shutdown when set
}

// Registry tracks the connections of this gateway by session. Swap
// registers c for its session and returns the connection it replaced, if
// any; Remove unregisters c if it is still the registered one; Lookup
// returns the registered connection, or nil.
type Registry interface {
	Swap(key session.Key, c *Conn) (old *Conn)
	Remove(key session.Key, c *Conn)
	Lookup(key session.Key) *Conn
}

// Env is what every connection of a gateway shares.
type Env struct {
	GatewayID string
	Bridge    *bridge.Bridge
	Router    *router.Router
	Sessions  session.Store
	Auth      auth.Authenticator
	Registry  Registry
	Wills     *Wills
	Log       *slog.Logger
	Clock     func() time.Time
	Limits    Limits
	// Quotas enforces the tenants' quotas; nil means none.
	Quotas *limits.Limits
	// Presence is told of every connection that succeeds and ends; nil
	// means none. Its methods must not block (a presence.Reporter queues).
	Presence Presence
	// Cooldowns refuses quick reconnects of clients cut off for their
	// publish rate; nil means none.
	Cooldowns *Cooldowns
	// Poller parks the idle connections served with Start (park.go); nil
	// means none: every connection keeps a goroutine.
	Poller *Poller
	// Ended is called when a connection served with Start has ended (its
	// Done channel is closed), on the goroutine that ended it. One hook
	// for all connections rather than a callback each: an idle connection
	// should hold nothing it does not need.
	Ended func(c *Conn, reason CloseReason)
}

// Presence receives device presence: Connected after every successful
// CONNACK, Disconnected when such a connection ends, with the reason as a
// sentence ("keepalive of 1m0s expired"). *presence.Reporter implements it.
type Presence interface {
	Connected(ctx context.Context, s presence.Status) error
	Disconnected(ctx context.Context, tenantID, deviceID, clientID, reason string, at time.Time) error
}

func (e *Env) now() time.Time { return e.Clock() }
