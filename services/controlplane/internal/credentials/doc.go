// Package credentials handles the control plane's secrets and keys: API keys
// (generated, hashed with SHA-256 and compared in constant time), tenants'
// public keys uploaded as PEM, JWK or JWKS documents (ES256, EdDSA, RS256 of
// at least 2048 bits; private keys refused), and the per-tenant ES256
// platform signing keys that sign device tokens (with jwtauth.Sign).
//
// Public keys are parsed by package jwtauth, the parser the gateways verify
// tokens with, so the control plane never stores a key a gateway would
// refuse; this package only maps jwtauth's errors onto the request field at
// fault ("jwks.keys[2].crv").
//
// It imports no net/http: the HTTP layer turns its *InputError values into
// responses naming the offending field.
package credentials
