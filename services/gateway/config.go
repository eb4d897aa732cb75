package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/listener"
)

// Defaults for zero Config fields.
const (
	DefaultMaxPacketSize       = 1 << 20
	DefaultReceiveMaximum      = 1024
	DefaultMaxInflight         = 128
	DefaultMaxQueuedBytes      = 4 << 20
	DefaultMaxPending          = 10_000
	DefaultTopicAliasMaximum   = 64
	DefaultConnectTimeout      = 10 * time.Second
	DefaultWriteTimeout        = 30 * time.Second
	DefaultSessionExpiryMax    = 7 * 24 * 3600 // seconds
	DefaultExpirySweepInterval = time.Second
	DefaultShutdownTimeout     = 10 * time.Second
)

// Config configures a gateway. The zero value, with GatewayID set, is valid
// and means the documented defaults (and no listeners: connections then
// come only through ServeConn). Durations are Go durations (nanoseconds in
// JSON).
type Config struct {
	// GatewayID names this gateway among those sharing a NATS system
	// ([A-Za-z0-9_-]+). Required.
	GatewayID string `json:"gateway_id"`
	// Listeners are the sockets to accept MQTT connections on.
	Listeners []listener.Config `json:"listeners"`
	// Bridge configures the NATS/JetStream bridge; its GatewayID is
	// taken from GatewayID.
	Bridge bridge.Config `json:"bridge"`
	// Limits configures the per-tenant quotas (platform defaults, usage
	// sharing between gateways). The gateway does not build them itself:
	// pass this to NewLimits and the result as Deps.Limits.
	Limits LimitsConfig `json:"limits"`

	// MaxPacketSize bounds a packet from a client, in bytes; larger ones
	// end the connection with 0x95. Default 1 MiB.
	MaxPacketSize uint32 `json:"max_packet_size"`
	// ReceiveMaximum is the number of QoS 2 messages a client may have
	// unacknowledged towards the gateway (advertised in CONNACK). Default 1024.
	ReceiveMaximum uint16 `json:"receive_maximum"`
	// MaxInflight bounds the QoS 1/2 messages in flight towards one client
	// (further bounded by the client's Receive Maximum). Default 128.
	MaxInflight uint16 `json:"max_inflight"`
	// MaxQueuedBytes bounds the bytes waiting to be written to one client;
	// QoS 0 messages beyond it are dropped. Default 4 MiB.
	MaxQueuedBytes int `json:"max_queued_bytes"`
	// MaxPending bounds the QoS 1/2 messages waiting for an in-flight slot
	// of one client; beyond it the client is disconnected. Default 10000.
	MaxPending int `json:"max_pending"`
	// TopicAliasMaximum is the number of topic aliases a client may set
	// (MQTT 5). Default 64; DisableTopicAliases turns them off.
	TopicAliasMaximum   uint16 `json:"topic_alias_maximum"`
	DisableTopicAliases bool   `json:"disable_topic_aliases"`
	// DisableServerTopicAliases stops the gateway from sending topic
	// aliases to MQTT 5 clients that accept them (Topic Alias Maximum in
	// their CONNECT); by default it gives each topic an alias on first use,
	// up to the client's maximum, replacing the least recently used one.
	DisableServerTopicAliases bool `json:"disable_server_topic_aliases"`
	// KeepAliveMin and KeepAliveMax bound the keepalive of MQTT 5 clients
	// in seconds (0: no bound); ServerKeepAlive, when set, replaces it.
	KeepAliveMin    uint16 `json:"keepalive_min"`
	KeepAliveMax    uint16 `json:"keepalive_max"`
	ServerKeepAlive uint16 `json:"server_keepalive"`
	// ConnectTimeout is the time a new connection has to send CONNECT.
	// Default 10s.
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// WriteTimeout bounds one socket write; a client that does not read
	// is disconnected after it. Default 30s.
	WriteTimeout time.Duration `json:"write_timeout"`
	// SessionExpiryMax is the ceiling on session expiry in seconds, and
	// the expiry of MQTT 3.1.1 persistent sessions. Default 7 days.
	SessionExpiryMax uint32 `json:"session_expiry_max"`
	// Features a gateway may turn off.
	DisableRetain       bool `json:"disable_retain"`
	DisableWildcardSubs bool `json:"disable_wildcard_subscriptions"`
	DisableSubIDs       bool `json:"disable_subscription_identifiers"`
	DisableSharedSubs   bool `json:"disable_shared_subscriptions"`
	// DisableLocalDelivery sends the gateway's own QoS 0 publishes to its
	// own subscribers through NATS and back, like those of other gateways,
	// instead of handing them over in process while NATS carries them to
	// the other gateways only (docs/adr/0006). It roughly doubles the work
	// per message; it exists to compare and to diagnose.
	DisableLocalDelivery bool `json:"disable_local_delivery"`
	// DisableParking keeps a goroutine blocked in a read for every idle
	// plain TCP connection, as TLS and WebSocket connections have, instead
	// of parking it in the gateway's epoll set (docs/adr/0008). It costs
	// several KiB per idle connection; it exists to compare and to
	// diagnose.
	DisableParking bool `json:"disable_parking"`
	// ServerReference, when set, is sent to MQTT 5 clients at shutdown
	// with DISCONNECT 0x9C (use another server).
	ServerReference string `json:"server_reference"`
	// ExpirySweepInterval is how often expired sessions, and delayed
	// wills whose delay has ended, are looked for. Default 1s.
	ExpirySweepInterval time.Duration `json:"expiry_sweep_interval"`
	// ShutdownTimeout bounds Run's shutdown when its context ends.
	// Default 10s.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
	// Sweeper configures the disconnection of crashed gateways' sessions;
	// it runs only with Deps.Heartbeats.
	Sweeper SweeperConfig `json:"sweeper"`
}

// Validate reports the first invalid field, by its configuration key.
func (c Config) Validate() error {
	b := c.Bridge
	b.GatewayID = c.GatewayID
	if c.GatewayID == "" {
		return errors.New("gateway: gateway_id is required")
	}
	if err := b.Validate(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := c.Sweeper.Validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	for i, l := range c.Listeners {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("gateway: listeners[%d]: %w", i, err)
		}
		if names[l.Name] {
			return fmt.Errorf("gateway: listeners[%d]: name %q is used twice", i, l.Name)
		}
		names[l.Name] = true
	}
	switch {
	case c.MaxPacketSize != 0 && c.MaxPacketSize < 64:
		return fmt.Errorf("gateway: max_packet_size: %d is below the minimum of 64 bytes", c.MaxPacketSize)
	case c.MaxPacketSize > 268435455:
		return fmt.Errorf("gateway: max_packet_size: %d is above the protocol's 268435455", c.MaxPacketSize)
	case c.MaxQueuedBytes < 0:
		return errors.New("gateway: max_queued_bytes must not be negative")
	case c.MaxPending < 0:
		return errors.New("gateway: max_pending must not be negative")
	case c.KeepAliveMax != 0 && c.KeepAliveMin > c.KeepAliveMax:
		return fmt.Errorf("gateway: keepalive_min (%d) is above keepalive_max (%d)", c.KeepAliveMin, c.KeepAliveMax)
	case c.ConnectTimeout < 0:
		return errors.New("gateway: connect_timeout must not be negative")
	case c.WriteTimeout < 0:
		return errors.New("gateway: write_timeout must not be negative")
	case c.ExpirySweepInterval < 0:
		return errors.New("gateway: expiry_sweep_interval must not be negative")
	case c.ShutdownTimeout < 0:
		return errors.New("gateway: shutdown_timeout must not be negative")
	}
	return nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	c.Bridge.GatewayID = c.GatewayID
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = DefaultReceiveMaximum
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	switch {
	case c.DisableTopicAliases:
		c.TopicAliasMaximum = 0
	case c.TopicAliasMaximum == 0:
		c.TopicAliasMaximum = DefaultTopicAliasMaximum
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SessionExpiryMax == 0 {
		c.SessionExpiryMax = DefaultSessionExpiryMax
	}
	if c.ExpirySweepInterval == 0 {
		c.ExpirySweepInterval = DefaultExpirySweepInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	return c
}

// ListenerConfig configures one listener (see Config.Listeners).
type ListenerConfig = listener.Config

// Listener kinds for ListenerConfig.Kind.
const (
	ListenerTCP = listener.KindTCP
	ListenerTLS = listener.KindTLS
	ListenerWS  = listener.KindWS
	ListenerWSS = listener.KindWSS
)
