package tenant

import (
	"errors"
	"time"
)

// Bucket names.
const (
	// ConfigBucket holds the configuration gateways watch; history 1, file storage.
	ConfigBucket = "FLOCK_CONFIG"
	// SecretsBucket holds what only the control plane may read.
	SecretsBucket = "FLOCK_SECRETS"
)

// Tenant is one customer of the platform: the stored value of tenants.<tid>.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Disabled tenants may not connect; gateways refuse their CONNECTs and
	// close their sessions.
	Disabled bool `json:"disabled,omitempty"`
	// Quotas are the tenant's overrides (zero fields mean the platform
	// default), mirrored from quotas.<tid>, which is authoritative.
	Quotas Quotas `json:"quotas"`
}

// Device is one registered device: the stored value of devices.<tid>.<did>.
type Device struct {
	TenantID string            `json:"tenant_id"`
	ID       string            `json:"id"`
	Tags     map[string]string `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Disabled devices may not connect, whatever credential they present.
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// KeyKind says what a Key verifies.
type KeyKind string

// Key kinds.
const (
	// KeyPlatform verifies tokens the platform signed for the tenant's
	// devices (the private half is in SecretsBucket).
	KeyPlatform KeyKind = "platform"
	// KeyDevice verifies tokens one device signed with its own private key.
	KeyDevice KeyKind = "device"
	// KeyIssuer verifies tokens the tenant signed for any of its devices.
	KeyIssuer KeyKind = "issuer"
)

// Algorithm is a JWS algorithm a Key verifies. Only asymmetric algorithms
// exist here: "none" and HMAC are never accepted.
type Algorithm string

// Supported algorithms.
const (
	ES256 Algorithm = "ES256" // ECDSA P-256 with SHA-256
	EdDSA Algorithm = "EdDSA" // Ed25519
	RS256 Algorithm = "RS256" // RSA PKCS#1 v1.5 with SHA-256, modulus of at least MinRSABits
)

// MinRSABits is the smallest RSA modulus accepted for RS256 keys.
const MinRSABits = 2048

// ValidAlgorithm reports whether a is one of ES256, EdDSA, RS256.
func ValidAlgorithm(a Algorithm) bool { return a == ES256 || a == EdDSA || a == RS256 }

// Key is a public key that verifies JWTs: the stored value of keys.<kid>.
type Key struct {
	ID       string  `json:"id"`
	TenantID string  `json:"tenant_id"`
	Kind     KeyKind `json:"kind"`
	// DeviceID is set for device keys only: the one device whose tokens
	// the key verifies (a token's sub, if present, must equal it).
	DeviceID  string    `json:"device_id,omitempty"`
	Algorithm Algorithm `json:"algorithm"`
	// PublicKeyPEM is a PKIX ("PUBLIC KEY") PEM block.
	PublicKeyPEM string `json:"public_key_pem"`
	// NotAfter, when set, ends the key's validity: tokens are refused
	// after it whatever their exp.
	NotAfter  *time.Time `json:"not_after,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// Expired reports whether the key is past its NotAfter at now.
func (k Key) Expired(now time.Time) bool { return k.NotAfter != nil && !now.Before(*k.NotAfter) }

// RevocationKind says what a Revocation names.
type RevocationKind string

// Revocation kinds.
const (
	RevokeDevice RevocationKind = "device" // ID is a device id
	RevokeKey    RevocationKind = "key"    // ID is a key id
	RevokeToken  RevocationKind = "token"  // ID is a token's jti
)

// ValidRevocationKind reports whether k is device, key or token.
func ValidRevocationKind(k RevocationKind) bool {
	return k == RevokeDevice || k == RevokeKey || k == RevokeToken
}

// Revocation withdraws credentials: the stored value of
// revoked.<tid>.<kind>.<id>. Gateways refuse new CONNECTs it covers and
// disconnect the live sessions it covers.
//
//   - device: every token of the device issued (iat) at or before RevokedAt,
//     and tokens without iat. Tokens issued later are accepted, so a
//     revocation ends today's sessions; to keep a device out, disable it.
//   - key: every token the key verifies. The control plane also deletes
//     keys.<kid>, so the key stops verifying anything.
//   - token: the one token whose jti is ID (the key stores
//     TokenRevocationID(jti)).
//
// JWT times have one-second precision, so a device revocation also covers
// tokens issued later within the same second as RevokedAt.
//
// A revocation past its ExpiresAt no longer applies. The control plane
// writes a revocation that has an ExpiresAt (typically a token's, ending
// with the token) with a KV per-key TTL ending then, so the server removes
// the key and watchers see a purge; ExpiresAt stays the second guard.
type Revocation struct {
	TenantID  string         `json:"tenant_id"`
	Kind      RevocationKind `json:"kind"`
	ID        string         `json:"id"`
	RevokedAt time.Time      `json:"revoked_at"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
}

// Covers reports whether r, at time now, refuses a token issued at iat
// (zero when the token has no iat) that it names by kind and id.
func (r Revocation) Covers(iat, now time.Time) bool {
	if r.ExpiresAt != nil && !now.Before(*r.ExpiresAt) {
		return false
	}
	if r.Kind == RevokeDevice && !iat.IsZero() && iat.After(r.RevokedAt) {
		return false
	}
	return true
}

// Quotas are a tenant's limits. A zero field means "the platform default"
// (see DefaultQuotas and Quotas.WithDefaults).
type Quotas struct {
	MaxConnections            int64 `json:"max_connections,omitempty"`
	MaxMessagesPerSecond      int64 `json:"max_messages_per_second,omitempty"`
	MaxBytesPerSecond         int64 `json:"max_bytes_per_second,omitempty"`
	MaxPayloadBytes           int64 `json:"max_payload_bytes,omitempty"`
	MaxSubscriptionsPerDevice int64 `json:"max_subscriptions_per_device,omitempty"`
	MaxRetained               int64 `json:"max_retained,omitempty"`
	MaxQueuedMessages         int64 `json:"max_queued_messages,omitempty"`
	MaxSessionExpirySeconds   int64 `json:"max_session_expiry_seconds,omitempty"`
	// MaxDevices bounds the tenant's registered devices; the control plane
	// enforces it, gateways ignore it.
	MaxDevices int64 `json:"max_devices,omitempty"`
}

// DefaultQuotas are the platform defaults a tenant gets unless overridden.
var DefaultQuotas = Quotas{
	MaxConnections:            1000,
	MaxMessagesPerSecond:      1000,
	MaxBytesPerSecond:         1 << 20, // 1 MiB/s
	MaxPayloadBytes:           256 << 10,
	MaxSubscriptionsPerDevice: 100,
	MaxRetained:               10000,
	MaxQueuedMessages:         100000,
	MaxSessionExpirySeconds:   7 * 24 * 3600,
	MaxDevices:                100000,
}

// WithDefaults returns q with every zero field taken from d.
func (q Quotas) WithDefaults(d Quotas) Quotas {
	pick := func(v, def int64) int64 {
		if v == 0 {
			return def
		}
		return v
	}
	return Quotas{
		MaxConnections:            pick(q.MaxConnections, d.MaxConnections),
		MaxMessagesPerSecond:      pick(q.MaxMessagesPerSecond, d.MaxMessagesPerSecond),
		MaxBytesPerSecond:         pick(q.MaxBytesPerSecond, d.MaxBytesPerSecond),
		MaxPayloadBytes:           pick(q.MaxPayloadBytes, d.MaxPayloadBytes),
		MaxSubscriptionsPerDevice: pick(q.MaxSubscriptionsPerDevice, d.MaxSubscriptionsPerDevice),
		MaxRetained:               pick(q.MaxRetained, d.MaxRetained),
		MaxQueuedMessages:         pick(q.MaxQueuedMessages, d.MaxQueuedMessages),
		MaxSessionExpirySeconds:   pick(q.MaxSessionExpirySeconds, d.MaxSessionExpirySeconds),
		MaxDevices:                pick(q.MaxDevices, d.MaxDevices),
	}
}

// ErrNegativeQuota is returned by Quotas.Validate.
var ErrNegativeQuota = errors.New("tenant: quota must not be negative")

// Validate reports a negative field, naming it by its JSON name.
func (q Quotas) Validate() error {
	for _, f := range q.fields() {
		if f.v < 0 {
			return &FieldError{Field: f.name, Err: ErrNegativeQuota}
		}
	}
	return nil
}

type quotaField struct {
	name string
	v    int64
}

func (q Quotas) fields() []quotaField {
	return []quotaField{
		{"max_connections", q.MaxConnections},
		{"max_messages_per_second", q.MaxMessagesPerSecond},
		{"max_bytes_per_second", q.MaxBytesPerSecond},
		{"max_payload_bytes", q.MaxPayloadBytes},
		{"max_subscriptions_per_device", q.MaxSubscriptionsPerDevice},
		{"max_retained", q.MaxRetained},
		{"max_queued_messages", q.MaxQueuedMessages},
		{"max_session_expiry_seconds", q.MaxSessionExpirySeconds},
		{"max_devices", q.MaxDevices},
	}
}

// FieldError is a validation error about one named field.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }
