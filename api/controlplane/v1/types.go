package apiv1

import (
	"encoding/json"
	"time"
)

// Error is the body of every error response.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong and what to fix.
type ErrorBody struct {
	// Code is stable and machine-readable, e.g. "invalid_argument".
	Code string `json:"code"`
	// Message says what to fix, in words for people.
	Message string `json:"message"`
	// Field is the JSON path of the offending request field, if any
	// ("devices[12].id").
	Field string `json:"field,omitempty"`
}

// Error codes.
const (
	CodeInvalidArgument    = "invalid_argument"
	CodeUnauthenticated    = "unauthenticated"
	CodePermissionDenied   = "permission_denied"
	CodeNotFound           = "not_found"
	CodeAlreadyExists      = "already_exists"
	CodeConflict           = "conflict"
	CodeBodyTooLarge       = "body_too_large"
	CodeRateLimited        = "rate_limited"
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeFailedPrecondition = "failed_precondition"
	CodeInternal           = "internal"
	CodeUnavailable        = "unavailable"
)

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

// SignupRequest creates a tenant.
type SignupRequest struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// SignupResponse is the new tenant and its first API key.
type SignupResponse struct {
	Tenant      Tenant        `json:"tenant"`
	APIKey      CreatedAPIKey `json:"api_key"`
	PlatformKey IssuerKey     `json:"platform_key"`
}

// Tenant is a tenant as its owner sees it.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled"`
	// Quotas are the effective limits (overrides merged over defaults).
	Quotas Quotas `json:"quotas"`
	Usage  *Usage `json:"usage,omitempty"`
}

// Usage is what the control plane knows of a tenant's consumption.
type Usage struct {
	// Devices is the number of registered devices.
	Devices int64 `json:"devices"`
	// ConnectedDevices is the number of devices holding at least one live
	// connection, as the gateways report it.
	ConnectedDevices int64 `json:"connected_devices"`
}

// Quotas are a tenant's limits; in a PUT, zero or absent fields mean the
// platform default.
type Quotas struct {
	MaxConnections            int64 `json:"max_connections"`
	MaxMessagesPerSecond      int64 `json:"max_messages_per_second"`
	MaxBytesPerSecond         int64 `json:"max_bytes_per_second"`
	MaxPayloadBytes           int64 `json:"max_payload_bytes"`
	MaxSubscriptionsPerDevice int64 `json:"max_subscriptions_per_device"`
	MaxRetained               int64 `json:"max_retained"`
	MaxQueuedMessages         int64 `json:"max_queued_messages"`
	MaxSessionExpirySeconds   int64 `json:"max_session_expiry_seconds"`
	MaxDevices                int64 `json:"max_devices"`
}

// TenantQuotas is a tenant's limits: effective, overrides and defaults.
type TenantQuotas struct {
	TenantID  string `json:"tenant_id"`
	Effective Quotas `json:"effective"`
	Overrides Quotas `json:"overrides"`
	Defaults  Quotas `json:"defaults"`
}

// AdminUpdateTenantRequest disables or enables a tenant.
type AdminUpdateTenantRequest struct {
	Disabled *bool `json:"disabled"`
}

// TenantList is the admin listing of tenants.
type TenantList struct {
	Items []Tenant `json:"items"`
}

// CreateAPIKeyRequest creates an API key.
type CreateAPIKeyRequest struct {
	Name string `json:"name,omitempty"`
}

// APIKey describes an API key; the secret is never returned again.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CreatedAPIKey is a new API key with its secret, shown only once.
type CreatedAPIKey struct {
	APIKey
	// Key is the full bearer credential "fmq_<id>_<secret>".
	Key string `json:"key"`
}

// APIKeyList lists a tenant's API keys.
type APIKeyList struct {
	Items []APIKey `json:"items"`
}

// Device is a registered device.
type Device struct {
	ID        string            `json:"id"`
	Tags      map[string]string `json:"tags,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Disabled  bool              `json:"disabled"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	// Status is the device's connection status; only in listings asked
	// for with include=status.
	Status *DeviceStatus `json:"status,omitempty"`
}

// DeviceStatus says whether a device is connected, where and since when,
// and why it last disconnected. A device never seen connected has
// Connected false and no timestamps.
type DeviceStatus struct {
	DeviceID string `json:"device_id"`
	// Connected reports whether the device holds at least one live
	// connection (listed in Connections).
	Connected   bool               `json:"connected"`
	Connections []DeviceConnection `json:"connections"`
	// ConnectedAt is when the device's most recent connection began, kept
	// after it ends.
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	// DisconnectedAt and LastDisconnectReason describe the device's last
	// connection that ended, e.g. "keepalive of 60s expired".
	DisconnectedAt       *time.Time `json:"disconnected_at,omitempty"`
	LastDisconnectReason string     `json:"last_disconnect_reason,omitempty"`
}

// DeviceConnection is one live connection of a device.
type DeviceConnection struct {
	// ClientID is the MQTT client id: the device id, or "<device id>:<suffix>".
	ClientID string `json:"client_id"`
	// Gateway is the id of the gateway holding the connection.
	Gateway    string `json:"gateway"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	// Protocol is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5.
	Protocol    int       `json:"protocol,omitempty"`
	ConnectedAt time.Time `json:"connected_at"`
}

// CreateDeviceRequest registers a device.
type CreateDeviceRequest struct {
	ID       string            `json:"id"`
	Tags     map[string]string `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Disabled bool              `json:"disabled,omitempty"`
}

// UpdateDeviceRequest changes a device; absent fields are left as they are,
// present maps replace the stored ones.
type UpdateDeviceRequest struct {
	Tags     *map[string]string `json:"tags,omitempty"`
	Metadata *map[string]string `json:"metadata,omitempty"`
	Disabled *bool              `json:"disabled,omitempty"`
}

// DeviceList is one page of devices, in ascending id order.
type DeviceList struct {
	Items []Device `json:"items"`
	// NextCursor, when not empty, fetches the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// BulkCreateDevicesRequest registers up to 10,000 devices.
type BulkCreateDevicesRequest struct {
	Devices []CreateDeviceRequest `json:"devices"`
}

// BulkCreateDevicesResponse has one result per requested device, in order.
type BulkCreateDevicesResponse struct {
	Created int                `json:"created"`
	Failed  int                `json:"failed"`
	Items   []BulkDeviceResult `json:"items"`
}

// BulkDeviceResult is the outcome for one device: Status is the HTTP status
// a single create would have returned (201, 400, 409, 500).
type BulkDeviceResult struct {
	ID     string     `json:"id"`
	Status int        `json:"status"`
	Error  *ErrorBody `json:"error,omitempty"`
}

// AddDeviceKeyRequest registers a device's public key: exactly one of
// PublicKeyPEM and JWK.
type AddDeviceKeyRequest struct {
	PublicKeyPEM string          `json:"public_key_pem,omitempty"`
	JWK          json.RawMessage `json:"jwk,omitempty"`
	// Algorithm, when given, must match the key's type.
	Algorithm string     `json:"algorithm,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

// DeviceKey is a device's registered public key.
type DeviceKey struct {
	ID           string     `json:"id"`
	DeviceID     string     `json:"device_id"`
	Algorithm    string     `json:"algorithm"`
	PublicKeyPEM string     `json:"public_key_pem"`
	NotAfter     *time.Time `json:"not_after,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// DeviceKeyList lists a device's keys.
type DeviceKeyList struct {
	Items []DeviceKey `json:"items"`
}

// IssueTokenRequest asks for a platform-signed device token.
type IssueTokenRequest struct {
	// TTLSeconds is the token's lifetime; 0 means one hour.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// IssuedToken is a platform-signed JWT for one device: the MQTT password.
type IssuedToken struct {
	Token     string    `json:"token"`
	TokenID   string    `json:"token_id"`
	KeyID     string    `json:"key_id"`
	DeviceID  string    `json:"device_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AddIssuerKeysRequest registers tenant issuer keys: exactly one of
// PublicKeyPEM and JWKS.
type AddIssuerKeysRequest struct {
	PublicKeyPEM string          `json:"public_key_pem,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"`
	NotAfter     *time.Time      `json:"not_after,omitempty"`
}

// IssuerKey is a key that verifies tokens for the tenant's devices: a
// tenant issuer key (kind "issuer") or the platform's key (kind "platform").
type IssuerKey struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	Algorithm    string     `json:"algorithm"`
	PublicKeyPEM string     `json:"public_key_pem"`
	SourceKID    string     `json:"source_kid,omitempty"`
	NotAfter     *time.Time `json:"not_after,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// IssuerKeyList lists keys.
type IssuerKeyList struct {
	Items []IssuerKey `json:"items"`
}

// CreateRevocationRequest revokes a device's tokens, a key, or one token.
type CreateRevocationRequest struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Revocation is a recorded revocation.
type Revocation struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	RevokedAt time.Time  `json:"revoked_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// RevocationList lists a tenant's revocations in force.
type RevocationList struct {
	Items []Revocation `json:"items"`
}
