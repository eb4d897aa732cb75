package jwtauth

import (
	"crypto"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// Claims are the registered claims (RFC 7519 section 4.1) of a token this
// package issues. Zero fields are left out of the token.
type Claims struct {
	Subject   string    // sub: the device id
	Audience  []string  // aud: must contain the verifier's Config.Audience
	Issuer    string    // iss: informational; not checked by Verifier
	ExpiresAt time.Time // exp: required by Verifier
	NotBefore time.Time // nbf
	IssuedAt  time.Time // iat: required for device-signed tokens
	ID        string    // jti: what a token revocation names
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

// Sign issues a compact JWT signed by key with algorithm alg, carrying kid
// in its header (omitted when empty). key is a *ecdsa.PrivateKey on P-256
// for ES256, an ed25519.PrivateKey for EdDSA or a *rsa.PrivateKey of 2048 to
// 8192 bits for RS256; a key that does not match alg is refused, so Sign
// never issues a token Verifier would reject for its algorithm. The control
// plane and tests use it; gateways only verify.
func Sign(alg tenant.Algorithm, key crypto.Signer, kid string, c Claims) (string, error) {
	if key == nil {
		return "", fmt.Errorf("jwtauth: sign: no private key")
	}
	keyAlg, err := AlgorithmFor(key.Public())
	if err != nil {
		return "", within(err, "sign")
	}
	if keyAlg != alg {
		return "", fmt.Errorf("jwtauth: sign: the key signs %s tokens, not %s", keyAlg, alg)
	}
	if kid != "" && !tenant.ValidKeyID(kid) {
		return "", fmt.Errorf("jwtauth: sign: invalid key id %q", kid)
	}
	method := jwt.GetSigningMethod(string(alg))
	if method == nil {
		return "", fmt.Errorf("jwtauth: sign: algorithm %s is not available", alg)
	}
	rc := jwt.RegisteredClaims{
		Subject:   c.Subject,
		Issuer:    c.Issuer,
		ExpiresAt: numericDate(c.ExpiresAt),
		NotBefore: numericDate(c.NotBefore),
		IssuedAt:  numericDate(c.IssuedAt),
		ID:        c.ID,
	}
	if len(c.Audience) > 0 {
		rc.Audience = jwt.ClaimStrings(c.Audience)
	}
	t := jwt.NewWithClaims(method, rc)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("jwtauth: sign: %w", err)
	}
	return s, nil
}
