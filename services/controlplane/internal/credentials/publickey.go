package credentials

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
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

// PublicKey is a parsed, accepted public key.
type PublicKey struct {
	Algorithm tenant.Algorithm
	PEM       string // PKIX "PUBLIC KEY" block
	Key       crypto.PublicKey
	SourceKID string // the "kid" of the JWK it came from, if any
}

// ParsePEM parses a PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY" block.
// field names the request field in errors.
func ParsePEM(field, s string) (PublicKey, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return PublicKey{}, inputErr(field, "not a PEM block; paste the whole -----BEGIN PUBLIC KEY----- block")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return PublicKey{}, inputErr(field, "holds more than one PEM block; upload one key per request")
	}
	var (
		pub any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return PublicKey{}, inputErr(field, "is a private key; upload only the public key (openssl pkey -pubout) and keep the private key on the device")
	default:
		return PublicKey{}, inputErr(field, "PEM block type %q is not a public key; want PUBLIC KEY", block.Type)
	}
	if err != nil {
		return PublicKey{}, inputErr(field, "cannot be parsed as a public key")
	}
	return accept(field, pub)
}

// accept checks the key type and size and derives the algorithm.
func accept(field string, pub any) (PublicKey, error) {
	var alg tenant.Algorithm
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return PublicKey{}, inputErr(field, "ECDSA curve %s is not supported; use P-256 (ES256)", k.Curve.Params().Name)
		}
		alg = tenant.ES256
	case ed25519.PublicKey:
		alg = tenant.EdDSA
	case *rsa.PublicKey:
		if k.N.BitLen() < tenant.MinRSABits {
			return PublicKey{}, inputErr(field, "RSA key of %d bits is too small; use at least %d bits", k.N.BitLen(), tenant.MinRSABits)
		}
		alg = tenant.RS256
	default:
		return PublicKey{}, inputErr(field, "key type %T is not supported; use ECDSA P-256, Ed25519 or RSA", pub)
	}
	// Gateways verify tokens with jwtauth: store only keys it accepts too
	// (e.g. it bounds RSA moduli from above), so no stored key verifies nothing.
	if _, err := jwtauth.AlgorithmFor(pub); err != nil {
		return PublicKey{}, inputErr(field, "%s", strings.TrimPrefix(err.Error(), "jwtauth: "))
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return PublicKey{}, inputErr(field, "cannot be encoded as a public key")
	}
	return PublicKey{
		Algorithm: alg,
		PEM:       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		Key:       pub,
	}, nil
}

// jwk holds the members of a JSON Web Key (RFC 7517) that matter here.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	// Private members: their presence means a private key was uploaded.
	D  string `json:"d"`
	P  string `json:"p"`
	Q  string `json:"q"`
	K  string `json:"k"`
	DP string `json:"dp"`
	DQ string `json:"dq"`
	QI string `json:"qi"`
}

// ParseJWK parses one JSON Web Key.
func ParseJWK(field string, raw json.RawMessage) (PublicKey, error) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return PublicKey{}, inputErr(field, "is not a JSON Web Key object")
	}
	if k.D != "" || k.P != "" || k.Q != "" || k.DP != "" || k.DQ != "" || k.QI != "" {
		return PublicKey{}, inputErr(field, "contains private key members; upload only the public key")
	}
	if k.K != "" || k.Kty == "oct" {
		return PublicKey{}, inputErr(field+".kty", "symmetric keys are not accepted; use EC P-256, OKP Ed25519 or RSA")
	}
	if k.Use != "" && k.Use != "sig" {
		return PublicKey{}, inputErr(field+".use", "is %q; only signing keys (\"sig\") are accepted", k.Use)
	}
	b64 := func(name, v string) ([]byte, error) {
		if v == "" {
			return nil, inputErr(field+"."+name, "is required for kty %s", k.Kty)
		}
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
		if err != nil {
			return nil, inputErr(field+"."+name, "is not base64url")
		}
		return b, nil
	}
	var pub any
	switch k.Kty {
	case "EC":
		if k.Crv != "P-256" {
			return PublicKey{}, inputErr(field+".crv", "curve %q is not supported; use P-256", k.Crv)
		}
		x, err := b64("x", k.X)
		if err != nil {
			return PublicKey{}, err
		}
		y, err := b64("y", k.Y)
		if err != nil {
			return PublicKey{}, err
		}
		if len(x) != 32 || len(y) != 32 {
			return PublicKey{}, inputErr(field, "P-256 coordinates must be 32 bytes each")
		}
		uncompressed := append(append([]byte{4}, x...), y...)
		ek, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), uncompressed)
		if err != nil {
			return PublicKey{}, inputErr(field, "is not a point on the P-256 curve")
		}
		pub = ek
	case "OKP":
		if k.Crv != "Ed25519" {
			return PublicKey{}, inputErr(field+".crv", "curve %q is not supported; use Ed25519", k.Crv)
		}
		x, err := b64("x", k.X)
		if err != nil {
			return PublicKey{}, err
		}
		if len(x) != ed25519.PublicKeySize {
			return PublicKey{}, inputErr(field+".x", "must be %d bytes", ed25519.PublicKeySize)
		}
		pub = ed25519.PublicKey(x)
	case "RSA":
		n, err := b64("n", k.N)
		if err != nil {
			return PublicKey{}, err
		}
		e, err := b64("e", k.E)
		if err != nil {
			return PublicKey{}, err
		}
		eb := new(big.Int).SetBytes(e)
		if !eb.IsInt64() || eb.Int64() < 3 || eb.Int64() > 1<<31-1 || eb.Int64()%2 == 0 {
			return PublicKey{}, inputErr(field+".e", "is not a usable RSA public exponent")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())}
	case "":
		return PublicKey{}, inputErr(field+".kty", "is required")
	default:
		return PublicKey{}, inputErr(field+".kty", "%q is not supported; use EC, OKP or RSA", k.Kty)
	}
	pk, err := accept(field, pub)
	if err != nil {
		return PublicKey{}, err
	}
	if k.Alg != "" && tenant.Algorithm(k.Alg) != pk.Algorithm {
		return PublicKey{}, inputErr(field+".alg", "is %q but the key is a %s key", k.Alg, pk.Algorithm)
	}
	pk.SourceKID = k.Kid
	return pk, nil
}

// ErrEmptyJWKS is wrapped in the InputError of a JWKS without keys.
var ErrEmptyJWKS = errors.New("credentials: JWKS has no keys")

// ParseJWKS parses a JSON Web Key Set ({"keys": [...]}); every key must be
// acceptable, and errors name the key by index ("jwks.keys[2].crv").
func ParseJWKS(field string, raw json.RawMessage) ([]PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, inputErr(field, "is not a JWKS document ({\"keys\": [...]})")
	}
	if len(set.Keys) == 0 {
		return nil, inputErr(field+".keys", "is empty; include at least one key")
	}
	const maxKeys = 100
	if len(set.Keys) > maxKeys {
		return nil, inputErr(field+".keys", "has %d keys; at most %d are accepted", len(set.Keys), maxKeys)
	}
	out := make([]PublicKey, 0, len(set.Keys))
	for i, k := range set.Keys {
		pk, err := ParseJWK(fmt.Sprintf("%s.keys[%d]", field, i), k)
		if err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	return out, nil
}
