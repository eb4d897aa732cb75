package credentials

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// InputError is a problem with what a tenant uploaded, worded for them.
type InputError struct {
	Field   string // JSON path of the offending field, e.g. "public_key_pem"
	Message string // what to fix
}

func (e *InputError) Error() string { return "credentials: " + e.Field + ": " + e.Message }

func inputErr(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// refused turns a jwtauth parse error into an InputError on the request
// field at fault: field itself, or, when the error names them, the key of a
// JWKS and the member of a JWK ("jwks.keys[2].crv").
func refused(field string, err error) error {
	if ke, ok := errors.AsType[*jwtauth.JWKSKeyError](err); ok {
		field += fmt.Sprintf(".keys[%d]", ke.Index)
	}
	if me, ok := errors.AsType[*jwtauth.JWKMemberError](err); ok {
		field += "." + me.Member
	}
	return &InputError{Field: field, Message: strings.TrimPrefix(err.Error(), "jwtauth: ")}
}

// PublicKey is a parsed, accepted public key.
type PublicKey struct {
	Algorithm tenant.Algorithm
	PEM       string // PKIX "PUBLIC KEY" block
	Key       crypto.PublicKey
	SourceKID string // the "kid" of the JWK it came from, if any
}

// Keys are parsed by package jwtauth, the parser the gateways verify tokens
// with, so the control plane stores no key a gateway would refuse.

// ParsePEM parses one PEM block holding a public key (jwtauth.ParsePublicKeyPEM:
// "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE"). field names the request
// field in errors.
func ParsePEM(field, s string) (PublicKey, error) {
	pub, _, err := jwtauth.ParsePublicKeyPEM([]byte(strings.TrimSpace(s)))
	if err != nil {
		return PublicKey{}, refused(field, err)
	}
	return publicKey(field, pub, "")
}

// ParseJWK parses one JSON Web Key (jwtauth.ParseJWK).
func ParseJWK(field string, raw json.RawMessage) (PublicKey, error) {
	k, err := jwtauth.ParseJWK(raw)
	if err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syntax) || errors.As(err, &typ) {
			return PublicKey{}, inputErr(field, "is not a JSON Web Key object")
		}
		return PublicKey{}, refused(field, err)
	}
	return publicKey(field, k.Public, k.KeyID)
}

// maxJWKSKeys bounds the keys of one JWKS upload.
const maxJWKSKeys = 100

// ParseJWKS parses a JSON Web Key Set ({"keys": [...]}) with
// jwtauth.ParseJWKS: encryption keys (use "enc") are skipped, every other
// key must be acceptable, and errors name the key by index
// ("jwks.keys[2].crv"). At least one and at most 100 keys are accepted.
func ParseJWKS(field string, raw json.RawMessage) ([]PublicKey, error) {
	keys, err := jwtauth.ParseJWKS(raw)
	if err != nil {
		if _, ok := errors.AsType[*jwtauth.JWKSKeyError](err); !ok {
			if _, ok := errors.AsType[*jwtauth.JWKMemberError](err); !ok {
				return nil, inputErr(field, "is not a JWKS document ({\"keys\": [...]})")
			}
		}
		return nil, refused(field, err)
	}
	if len(keys) == 0 {
		return nil, inputErr(field+".keys", "holds no signing key; include at least one")
	}
	if len(keys) > maxJWKSKeys {
		return nil, inputErr(field+".keys", "has %d signing keys; at most %d are accepted", len(keys), maxJWKSKeys)
	}
	out := make([]PublicKey, 0, len(keys))
	for i, k := range keys {
		pk, err := publicKey(fmt.Sprintf("%s.keys[%d]", field, i), k.Public, k.KeyID)
		if err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	return out, nil
}

// publicKey is an accepted key with its algorithm and PEM encoding.
func publicKey(field string, pub crypto.PublicKey, kid string) (PublicKey, error) {
	alg, err := jwtauth.AlgorithmFor(pub)
	if err != nil {
		return PublicKey{}, refused(field, err)
	}
	pemText, err := jwtauth.MarshalPublicKeyPEM(pub)
	if err != nil {
		return PublicKey{}, refused(field, err)
	}
	return PublicKey{Algorithm: alg, PEM: pemText, Key: pub, SourceKID: kid}, nil
}
