// Package auth declares how a gateway learns who a connecting client is.
// An Authenticator turns the credentials of a CONNECT (or of an MQTT 5 AUTH
// exchange) into an Identity: the tenant, which always comes from the key
// that verified the credential and never from anything the client merely
// claims, and the device. Implementations: Anonymous (development only) in
// this package, and JWT verification in subpackages.
package auth

import (
	"context"
	"errors"
	"time"
)

// Errors an Authenticator returns; a gateway maps them to CONNACK codes.
var (
	// ErrBadCredentials: missing, malformed, expired or unverifiable
	// credentials (MQTT 5 0x86, 3.1.1 0x04).
	ErrBadCredentials = errors.New("auth: bad credentials")
	// ErrNotAuthorized: valid credentials that may not connect as asked,
	// e.g. revoked, or naming another device (MQTT 5 0x87, 3.1.1 0x05).
	ErrNotAuthorized = errors.New("auth: not authorized")
	// ErrBadMethod: an MQTT 5 authentication method this server does not
	// support (0x8C).
	ErrBadMethod = errors.New("auth: unsupported authentication method")
)

// Request is what a client presented.
type Request struct {
	ClientID   string
	Username   string
	Password   []byte // the JWT for token authentication
	AuthMethod string // MQTT 5 enhanced authentication method, "" if none
	AuthData   []byte
	RemoteAddr string
}

// Identity is a verified client.
type Identity struct {
	Tenant       string    // tenant id; never empty on success
	Device       string    // device id; may equal the MQTT client id
	CredentialID string    // the key or credential that verified the token
	TokenID      string    // the token's jti, "" if none
	ExpiresAt    time.Time // zero when the credential does not expire
}

// Authenticator verifies credentials. Implementations are safe for
// concurrent use and verify locally: no network call per CONNECT.
type Authenticator interface {
	Authenticate(ctx context.Context, req Request) (Identity, error)
}

// Reauthenticator is implemented by authenticators that support MQTT 5
// re-authentication (an AUTH packet with reason 0x19 mid-session): the new
// credentials must name the same tenant and device as the session's current
// identity [MQTT-4.12.1-1], and the returned identity replaces it (typically
// extending ExpiresAt). A gateway finds it by type assertion.
type Reauthenticator interface {
	Reauthenticate(ctx context.Context, current Identity, req Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, req Request) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, req Request) (Identity, error) {
	return f(ctx, req)
}

// Revocation names what was revoked; empty fields match anything of the
// tenant at that level (a Revocation with only Tenant and Device set covers
// every session of that device).
type Revocation struct {
	Tenant       string
	Device       string
	CredentialID string
	TokenID      string
}

// Covers reports whether r applies to a session authenticated as id.
func (r Revocation) Covers(id Identity) bool {
	if r.Tenant != id.Tenant {
		return false
	}
	if r.Device != "" && r.Device != id.Device {
		return false
	}
	if r.CredentialID != "" && r.CredentialID != id.CredentialID {
		return false
	}
	if r.TokenID != "" && r.TokenID != id.TokenID {
		return false
	}
	return true
}

// Anonymous lets every client in as a device of one tenant, named by its
// client id. It exists for development instances (like Mosquitto's
// allow_anonymous) and must be switched on explicitly.
type Anonymous struct {
	Tenant string
}

var _ Authenticator = Anonymous{}

// Authenticate implements Authenticator.
func (a Anonymous) Authenticate(_ context.Context, req Request) (Identity, error) {
	if a.Tenant == "" {
		return Identity{}, ErrNotAuthorized
	}
	return Identity{Tenant: a.Tenant, Device: req.ClientID}, nil
}
