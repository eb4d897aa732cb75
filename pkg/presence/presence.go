package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// DefaultBucket is the key-value bucket presence lives in.
const DefaultBucket = "FLOCK_PRESENCE"

// Defaults for the zero Config fields.
const (
	DefaultHeartbeat = 5 * time.Second
	DefaultQueueSize = 65536
	DefaultWorkers   = 4
	// DefaultMaxWritesPerSecond lets a quiet gateway record presence at
	// once and keeps a storm's presence writes to a small share of it.
	DefaultMaxWritesPerSecond = 2000
)

// staleAfter is how many heartbeat intervals a gateway may miss before its
// connections are considered gone.
const staleAfter = 3

// MaxGatewayIDLen bounds a gateway id.
const MaxGatewayIDLen = 64

var (
	// ErrNotFound is returned by Reader.Get for a device never seen
	// connected.
	ErrNotFound = errors.New("presence: device never seen")
	// ErrInvalidID is returned for a tenant, device, client or gateway id
	// that does not follow its grammar.
	ErrInvalidID = errors.New("presence: invalid id")
)

// Status is what is known of one device's connections. It is the JSON value
// stored under devices.<tid>.<did>.
type Status struct {
	TenantID string `json:"tenant_id"`
	DeviceID string `json:"device_id"`
	// Connected reports whether the device holds at least one live
	// connection.
	Connected bool `json:"connected"`
	// ClientID, Gateway, RemoteAddr, Protocol and ConnectedAt describe the
	// most recent connection; they are kept after it ends.
	ClientID   string `json:"client_id,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	// Protocol is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5.
	Protocol    int       `json:"protocol,omitempty"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	// DisconnectedAt and LastDisconnectReason describe the last connection
	// of the device that ended, e.g. "keepalive of 60s expired".
	DisconnectedAt       *time.Time `json:"disconnected_at,omitempty"`
	LastDisconnectReason string     `json:"last_disconnect_reason,omitempty"`
	// Connections lists the device's live connections, oldest first.
	Connections []Connection `json:"connections,omitempty"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// Connection is one live connection of a device.
type Connection struct {
	ClientID    string    `json:"client_id"`
	Gateway     string    `json:"gateway"`
	Instance    string    `json:"instance"` // the gateway's instance id, new at each start
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	Protocol    int       `json:"protocol,omitempty"`
	ConnectedAt time.Time `json:"connected_at"`
}

// heartbeat is the JSON value stored under gateways.<id>.
type heartbeat struct {
	Gateway   string        `json:"gateway"`
	Instance  string        `json:"instance"`
	Interval  time.Duration `json:"interval_ns"`
	StartedAt time.Time     `json:"started_at"`
}

// Config configures a Reporter or a Reader. The zero value means the
// documented defaults, except GatewayID, which a Reporter requires.
type Config struct {
	// Bucket is the key-value bucket; empty means FLOCK_PRESENCE.
	Bucket string `json:"bucket"`
	// GatewayID names the reporting gateway ([A-Za-z0-9_-]{1,64}); unused
	// by a Reader.
	GatewayID string `json:"gateway_id"`
	// Heartbeat is how often a Reporter refreshes its gateway's heartbeat;
	// 0 means 5s. A gateway missing three heartbeats is considered dead.
	Heartbeat time.Duration `json:"heartbeat"`
	// QueueSize bounds the number of devices waiting to be written; 0 means
	// 65536.
	QueueSize int `json:"queue_size"`
	// Workers is the number of concurrent writers; 0 means 4.
	Workers int `json:"workers"`
	// MaxWritesPerSecond paces a Reporter's device writes, so that a
	// reconnect storm spends the gateway's CPU on the devices rather than
	// on their presence records (queued updates of one device coalesce, so
	// the records catch up once the storm is over); 0 means
	// DefaultMaxWritesPerSecond, negative means no pacing.
	MaxWritesPerSecond int `json:"max_writes_per_second"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `json:"-"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Bucket != "" && !validToken(c.Bucket, 255) {
		return fmt.Errorf("presence: bucket: %q is not a valid bucket name: %w", c.Bucket, ErrInvalidID)
	}
	if c.GatewayID != "" && !ValidGatewayID(c.GatewayID) {
		return fmt.Errorf("presence: gateway_id: %q must match [A-Za-z0-9_-]{1,%d}: %w", c.GatewayID, MaxGatewayIDLen, ErrInvalidID)
	}
	if c.Heartbeat < 0 {
		return errors.New("presence: heartbeat must not be negative")
	}
	if c.QueueSize < 0 {
		return errors.New("presence: queue_size must not be negative")
	}
	if c.Workers < 0 {
		return errors.New("presence: workers must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxWritesPerSecond == 0 {
		c.MaxWritesPerSecond = DefaultMaxWritesPerSecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ValidGatewayID reports whether s is a gateway id: [A-Za-z0-9_-]{1,64}.
func ValidGatewayID(s string) bool { return validToken(s, MaxGatewayIDLen) }

func validToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// DeviceKey is the bucket key of a device's Status.
func DeviceKey(tid, did string) string { return "devices." + tid + "." + did }

// GatewayKey is the bucket key of a gateway's heartbeat.
func GatewayKey(id string) string { return "gateways." + id }

// checkDevice validates a tenant and device id pair.
func checkDevice(tid, did string) error {
	if !tenant.ValidTenantID(tid) {
		return fmt.Errorf("presence: tenant id %q: %w", tid, ErrInvalidID)
	}
	if !tenant.ValidDeviceID(did) {
		return fmt.Errorf("presence: device id %q: %w", did, ErrInvalidID)
	}
	return nil
}

// openBucket returns the bucket, creating it when missing.
func openBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("presence: open bucket %s: %w", name, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "FlockMQ device presence, written by the gateways",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("presence: create bucket %s: %w", name, err)
	}
	return kv, nil
}

// gatewayState is what a heartbeat says about a gateway at a given time.
type gatewayState struct {
	found    bool
	instance string
	lastSeen time.Time // server timestamp of the heartbeat
	interval time.Duration
}

// alive reports whether a connection held by instance is still live at now.
func (g gatewayState) alive(instance string, now time.Time) bool {
	return g.found && g.instance == instance && now.Sub(g.lastSeen) <= staleAfter*g.interval
}

// gateways looks heartbeats up, each at most once per lookup set.
type gateways struct {
	kv   jetstream.KeyValue
	seen map[string]gatewayState
}

func newGateways(kv jetstream.KeyValue) *gateways {
	return &gateways{kv: kv, seen: make(map[string]gatewayState)}
}

func (g *gateways) state(ctx context.Context, id string) (gatewayState, error) {
	if s, ok := g.seen[id]; ok {
		return s, nil
	}
	var s gatewayState
	if ValidGatewayID(id) {
		e, err := g.kv.Get(ctx, GatewayKey(id))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return s, fmt.Errorf("presence: read heartbeat of gateway %s: %w", id, err)
		default:
			var hb heartbeat
			if json.Unmarshal(e.Value(), &hb) == nil && hb.Interval > 0 {
				s = gatewayState{found: true, instance: hb.Instance, lastSeen: e.Created(), interval: hb.Interval}
			}
		}
	}
	g.seen[id] = s
	return s, nil
}

// live drops the connections whose gateway is gone and returns the kept
// ones and the gateways found dead, keeping order.
func (g *gateways) live(ctx context.Context, conns []Connection, now time.Time) (kept []Connection, dead []string, err error) {
	for _, c := range conns {
		s, err := g.state(ctx, c.Gateway)
		if err != nil {
			return nil, nil, err
		}
		if s.alive(c.Instance, now) {
			kept = append(kept, c)
		} else if !slices.Contains(dead, c.Gateway) {
			dead = append(dead, c.Gateway)
		}
	}
	return kept, dead, nil
}

// settle recomputes the derived fields of st from st.Connections: the
// device is connected while it has a connection, and the top-level fields
// describe the newest one.
func settle(st *Status) {
	slices.SortStableFunc(st.Connections, func(a, b Connection) int { return a.ConnectedAt.Compare(b.ConnectedAt) })
	st.Connected = len(st.Connections) > 0
	if !st.Connected {
		st.Connections = nil
		return
	}
	c := st.Connections[len(st.Connections)-1]
	st.ClientID, st.Gateway, st.RemoteAddr, st.Protocol, st.ConnectedAt = c.ClientID, c.Gateway, c.RemoteAddr, c.Protocol, c.ConnectedAt
}

// expire removes the connections of dead gateways from st, recording why
// when that leaves the device disconnected. It reports whether st changed.
func expire(ctx context.Context, g *gateways, st *Status, now time.Time) (bool, error) {
	if len(st.Connections) == 0 {
		return false, nil
	}
	kept, dead, err := g.live(ctx, st.Connections, now)
	if err != nil || len(dead) == 0 {
		return false, err
	}
	st.Connections = kept
	settle(st)
	if !st.Connected {
		last := st.UpdatedAt
		if s, _ := g.state(ctx, dead[0]); s.found && s.lastSeen.After(last) {
			last = s.lastSeen
		}
		st.DisconnectedAt = &last
		st.LastDisconnectReason = fmt.Sprintf("gateway %s stopped responding", dead[0])
	}
	return true, nil
}
