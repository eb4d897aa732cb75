package jwtauth

import (
	"bytes"
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

	"github.com/flockmq/flockmq/pkg/tenant"
)

// validMethods is the allow-list of signing algorithms handed to the JWT
// parser. Every other algorithm, "none" and the HMAC family included, is
// refused before any key is looked up.
var validMethods = []string{string(tenant.ES256), string(tenant.EdDSA), string(tenant.RS256)}

// maxRSABits bounds RSA moduli from above (tenant.MinRSABits from below):
// longer keys only make verification slow enough to be a denial-of-service
// lever.
const maxRSABits = 8192

// AlgorithmFor reports the one algorithm a public key verifies: ES256 for a
// P-256 ECDSA key, EdDSA for an Ed25519 key, RS256 for an RSA key of 2048 to
// 8192 bits. Any other key is an error. Binding each key to exactly one
// algorithm is what defeats algorithm-confusion attacks.
func AlgorithmFor(pub crypto.PublicKey) (tenant.Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("jwtauth: ECDSA key on curve %s: only P-256 (ES256) is accepted", k.Curve.Params().Name)
		}
		return tenant.ES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("jwtauth: Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return tenant.EdDSA, nil
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < tenant.MinRSABits || n > maxRSABits {
			return "", fmt.Errorf("jwtauth: RSA key of %d bits: accepted sizes are %d to %d", n, tenant.MinRSABits, maxRSABits)
		}
		return tenant.RS256, nil
	case nil:
		return "", errors.New("jwtauth: no public key")
	default:
		return "", fmt.Errorf("jwtauth: unsupported public key type %T", pub)
	}
}

// ParsePublicKeyPEM parses one PEM-encoded public key and returns it with
// the algorithm it verifies (see AlgorithmFor). Accepted blocks: "PUBLIC
// KEY" (PKIX, any of the three key types), "RSA PUBLIC KEY" (PKCS #1) and
// "CERTIFICATE" (the certificate's key is used; its validity dates are not
// checked here). Private keys are refused so they are never stored by
// mistake, and so is anything after the first block.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, tenant.Algorithm, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("jwtauth: no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, "", errors.New("jwtauth: data after the first PEM block: register one key at a time")
	}
	var (
		pub crypto.PublicKey
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, "", fmt.Errorf("jwtauth: PEM block %q is a private key: register the public key only", block.Type)
		}
		return nil, "", fmt.Errorf("jwtauth: unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("jwtauth: parse %s: %w", strings.ToLower(block.Type), err)
	}
	alg, err := AlgorithmFor(pub)
	if err != nil {
		return nil, "", err
	}
	return pub, alg, nil
}

// MarshalPublicKeyPEM encodes a public key as a PKIX "PUBLIC KEY" PEM block,
// the form tenant.Key.PublicKeyPEM stores. It refuses keys AlgorithmFor
// refuses.
func MarshalPublicKeyPEM(pub crypto.PublicKey) (string, error) {
	if _, err := AlgorithmFor(pub); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("jwtauth: marshal public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// JWK is a public key parsed from a JSON Web Key (RFC 7517).
type JWK struct {
	KeyID     string           // the "kid" member, "" if absent
	Algorithm tenant.Algorithm // ES256, EdDSA or RS256, from the key's type
	Public    crypto.PublicKey // *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
}

// jwkJSON holds the members of a JWK this package reads (RFC 7518 section 6,
// RFC 8037 for OKP).
type jwkJSON struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	// Private members (RFC 7518 sections 6.2.2 and 6.3.2): their
	// presence means a private key was uploaded.
	D  string `json:"d"`
	P  string `json:"p"`
	Q  string `json:"q"`
	DP string `json:"dp"`
	DQ string `json:"dq"`
	QI string `json:"qi"`
	// K is the secret of a symmetric ("oct") key.
	K string `json:"k"`
}

// ParseJWK parses one public JSON Web Key: kty "EC" with crv "P-256", kty
// "OKP" with crv "Ed25519", or kty "RSA". A key with private members ("d",
// "p", "q", "dp", "dq", "qi") or symmetric material ("k") is refused, as is an "alg" member that
// disagrees with the key's type or a "use" other than "sig".
func ParseJWK(data []byte) (JWK, error) {
	var j jwkJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return JWK{}, fmt.Errorf("jwtauth: decode JWK: %w", err)
	}
	if j.Use != "" && j.Use != "sig" {
		return JWK{}, memberErr("use", "%s has use %q: only signature keys (use \"sig\") verify tokens", jwkName(j.Kid), j.Use)
	}
	return j.parse()
}

// ParseJWKS parses a JSON Web Key Set ({"keys": [...]}) of public keys.
// Keys whose "use" is "enc" are skipped; any other key that ParseJWK would
// refuse makes the whole set an error naming the key's position, so a tenant
// learns about a bad upload at once instead of at the first failed CONNECT.
// Key ids must be unique within the set.
func ParseJWKS(data []byte) ([]JWK, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwtauth: decode JWKS: %w", err)
	}
	if set.Keys == nil {
		return nil, memberErr("keys", `JWKS has no "keys" array`)
	}
	keys := make([]JWK, 0, len(set.Keys))
	seen := make(map[string]bool, len(set.Keys))
	for i, raw := range set.Keys {
		var j jwkJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, &JWKSKeyError{Index: i, Err: fmt.Errorf("decode JWK: %w", err)}
		}
		if j.Use == "enc" {
			continue
		}
		if j.Use != "" && j.Use != "sig" {
			return nil, &JWKSKeyError{Index: i, KeyID: j.Kid, Err: memberErr("use", "use %q is neither sig nor enc", j.Use)}
		}
		k, err := j.parse()
		if err != nil {
			return nil, &JWKSKeyError{Index: i, KeyID: j.Kid, Err: err}
		}
		if k.KeyID != "" {
			if seen[k.KeyID] {
				return nil, &JWKSKeyError{Index: i, Err: memberErr("kid", "kid %q appears twice", k.KeyID)}
			}
			seen[k.KeyID] = true
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (j jwkJSON) parse() (JWK, error) {
	if j.D != "" || j.P != "" || j.Q != "" || j.DP != "" || j.DQ != "" || j.QI != "" {
		return JWK{}, fmt.Errorf("jwtauth: %s contains private key material: upload the public key only", jwkName(j.Kid))
	}
	if j.K != "" || j.Kty == "oct" {
		return JWK{}, memberErr("kty", "%s is a symmetric key: only ES256, EdDSA and RS256 public keys are accepted", jwkName(j.Kid))
	}
	var pub crypto.PublicKey
	switch j.Kty {
	case "EC":
		if j.Crv != "P-256" {
			return JWK{}, memberErr("crv", "%s: EC curve %q: only P-256 is accepted", jwkName(j.Kid), j.Crv)
		}
		x, err := b64Field("x", j.X, 32)
		if err != nil {
			return JWK{}, err
		}
		y, err := b64Field("y", j.Y, 32)
		if err != nil {
			return JWK{}, err
		}
		point := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return JWK{}, fmt.Errorf("jwtauth: %s: the point is not on the P-256 curve: %w", jwkName(j.Kid), err)
		}
		pub = k
	case "OKP":
		if j.Crv != "Ed25519" {
			return JWK{}, memberErr("crv", "%s: OKP curve %q: only Ed25519 is accepted", jwkName(j.Kid), j.Crv)
		}
		x, err := b64Field("x", j.X, ed25519.PublicKeySize)
		if err != nil {
			return JWK{}, err
		}
		pub = ed25519.PublicKey(x)
	case "RSA":
		n, err := b64Field("n", j.N, 0)
		if err != nil {
			return JWK{}, err
		}
		e, err := b64Field("e", j.E, 0)
		if err != nil {
			return JWK{}, err
		}
		if len(e) > 4 {
			return JWK{}, memberErr("e", "%s: RSA exponent of %d bytes is too large", jwkName(j.Kid), len(e))
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 {
			return JWK{}, memberErr("e", "%s: RSA exponent %d is invalid", jwkName(j.Kid), exp)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	case "":
		return JWK{}, memberErr("kty", `JWK has no "kty"`)
	default:
		return JWK{}, memberErr("kty", "%s: key type %q is not supported (want EC, OKP or RSA)", jwkName(j.Kid), j.Kty)
	}
	alg, err := AlgorithmFor(pub)
	if err != nil {
		return JWK{}, err
	}
	if j.Alg != "" && tenant.Algorithm(j.Alg) != alg {
		return JWK{}, memberErr("alg", "%s declares alg %q but its key verifies %s only", jwkName(j.Kid), j.Alg, alg)
	}
	return JWK{KeyID: j.Kid, Algorithm: alg, Public: pub}, nil
}

// b64Field decodes a base64url member (RFC 7515 section 2: no padding; a
// padded value is tolerated). size > 0 demands that exact length.
func b64Field(name, v string, size int) ([]byte, error) {
	if v == "" {
		return nil, memberErr(name, "JWK member %q is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil {
		return nil, memberErr(name, "JWK member %q is not base64url", name)
	}
	if size > 0 && len(b) != size {
		return nil, memberErr(name, "JWK member %q is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}

// contextError adds context to an error of this package without repeating
// the package prefix: "jwtauth: <context>: <err's own message>".
type contextError struct {
	context string
	err     error
}

func (e *contextError) Error() string {
	return "jwtauth: " + e.context + ": " + strings.TrimPrefix(e.err.Error(), "jwtauth: ")
}

func (e *contextError) Unwrap() error { return e.err }

func within(err error, format string, args ...any) error {
	return &contextError{context: fmt.Sprintf(format, args...), err: err}
}

// JWKMemberError is a key refused because of one member of its JWK (or of
// its JWKS document), which it names, so that a caller such as the control
// plane can point a user at the field to fix ("jwks.keys[2].crv").
type JWKMemberError struct {
	Member string // the JSON member at fault: "kty", "crv", "x", "e", "alg", "use", "kid", "keys", …
	Reason string // what is wrong, in words, without the package prefix
}

func (e *JWKMemberError) Error() string { return "jwtauth: " + e.Reason }

func memberErr(member, format string, args ...any) error {
	return &JWKMemberError{Member: member, Reason: fmt.Sprintf(format, args...)}
}

// JWKSKeyError is a JWKS document refused because of one of its keys: Index
// is the key's position in the "keys" array and KeyID its "kid" (possibly
// empty). Err says why; it may be a *JWKMemberError.
type JWKSKeyError struct {
	Index int
	KeyID string
	Err   error
}

func (e *JWKSKeyError) Error() string {
	where := fmt.Sprintf("JWKS key %d", e.Index)
	if e.KeyID != "" {
		where += fmt.Sprintf(" (kid %q)", e.KeyID)
	}
	return "jwtauth: " + where + ": " + strings.TrimPrefix(e.Err.Error(), "jwtauth: ")
}

func (e *JWKSKeyError) Unwrap() error { return e.Err }

// jwkName names a JWK in messages: by its kid when it has one.
func jwkName(kid string) string {
	if kid == "" {
		return "JWK"
	}
	return fmt.Sprintf("JWK %q", kid)
}
