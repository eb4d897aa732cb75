package pluginsdk

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// Decision is an authorization answer.
type Decision int

// Decisions. The zero value abstains.
const (
	Abstain Decision = iota // no opinion; the next plugin or the default decides
	Allow
	Deny
)

// String returns "abstain", "allow" or "deny".
func (d Decision) String() string {
	switch d {
	case Abstain:
		return "abstain"
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("decision(%d)", int(d))
}

// Combine merges decisions: any Deny wins, else any Allow, else def.
// This is deliberately not "any allow wins": one plugin that denies is enough.
func Combine(def Decision, ds ...Decision) Decision {
	allowed := false
	for _, d := range ds {
		switch d {
		case Deny:
			return Deny
		case Allow:
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return def
}

// ErrReject, returned by a PublishHandler or DeliverHandler, stops the
// message without an error being logged as a failure.
var ErrReject = errors.New("pluginsdk: message rejected")

// Client describes the connection a hook is called for.
type Client struct {
	Tenant     string // the verified tenant id
	ClientID   string
	Device     string
	Username   string
	RemoteAddr string
	Protocol   byte // 3, 4 or 5
}

// Message is an application message as a hook sees it. Hooks that change a
// message return a modified copy.
type Message struct {
	Topic          string
	Payload        []byte
	QoS            byte
	Retain         bool
	ContentType    string
	UserProperties []UserProperty
}

// UserProperty is an MQTT 5 user property.
type UserProperty struct{ Key, Value string }

// Authenticator is the connect hook.
type Authenticator interface {
	Authenticate(ctx context.Context, c Client, password []byte) (Decision, error)
}

// SubscribeAuthorizer is the subscribe hook, called once per topic filter.
type SubscribeAuthorizer interface {
	AuthorizeSubscribe(ctx context.Context, c Client, filter string, qos byte) (Decision, error)
}

// PublishHandler is the publish hook: it may return m unchanged, a modified
// message, or ErrReject.
type PublishHandler interface {
	HandlePublish(ctx context.Context, c Client, m Message) (Message, error)
}

// DeliverHandler is the deliver hook, called for each subscriber.
type DeliverHandler interface {
	HandleDeliver(ctx context.Context, to Client, m Message) (Message, error)
}

// DisconnectObserver is told when a network connection closes.
type DisconnectObserver interface {
	OnDisconnect(ctx context.Context, c Client, reason string)
}

// SessionEndObserver is told when a session is discarded.
type SessionEndObserver interface {
	OnSessionEnd(ctx context.Context, tenant, clientID string)
}

// Provisioner is implemented by plugins that prepare themselves after their
// configuration was decoded.
type Provisioner interface {
	Provision(ctx context.Context) error
}

// Validator is implemented by plugins that check their configuration.
type Validator interface {
	Validate() error
}

// CleanerUpper is implemented by plugins that hold resources.
type CleanerUpper interface {
	Cleanup() error
}

// Plugin is any plugin value; what it can do is found by type assertion on
// the hook interfaces above.
type Plugin any

// Info describes a registered plugin.
type Info struct {
	// ID is namespaced: "<namespace>.<name>", lowercase, e.g. "flock.acl".
	ID string
	// New returns a new, unconfigured plugin. It must have no side effects.
	New func() Plugin
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

var (
	registryMu sync.RWMutex
	registry   = map[string]Info{}
)

// Register adds a plugin. It panics on an invalid or duplicate id or a nil
// constructor: those are programming errors found at start-up.
func Register(info Info) {
	if !idPattern.MatchString(info.ID) {
		panic(fmt.Sprintf("pluginsdk: invalid plugin id %q (want namespace.name, lowercase)", info.ID))
	}
	if info.New == nil {
		panic(fmt.Sprintf("pluginsdk: plugin %s has no constructor", info.ID))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[info.ID]; dup {
		panic(fmt.Sprintf("pluginsdk: plugin %s registered twice", info.ID))
	}
	registry[info.ID] = info
}

// Lookup returns the registered plugin with the id.
func Lookup(id string) (Info, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	info, ok := registry[id]
	return info, ok
}

// IDs lists the registered plugin ids in order.
func IDs() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	ids := make([]string, 0, len(registry))
	for id := range registry {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
