package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// SigningKeyPair is a new platform signing key.
type SigningKeyPair struct {
	PrivateKeyPEM string // PKCS#8 "PRIVATE KEY"; stored in the secrets bucket only
	Public        PublicKey
}

// NewSigningKey generates an ES256 (ECDSA P-256) key pair.
func NewSigningKey() (SigningKeyPair, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return SigningKeyPair{}, fmt.Errorf("credentials: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SigningKeyPair{}, fmt.Errorf("credentials: encode signing key: %w", err)
	}
	pub, err := publicKey("signing_key", &priv.PublicKey, "")
	if err != nil {
		return SigningKeyPair{}, fmt.Errorf("credentials: signing key: %w", err)
	}
	return SigningKeyPair{
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Public:        pub,
	}, nil
}

// TokenRequest describes a platform token for a device.
type TokenRequest struct {
	KeyID         string // the platform key id (pk_…), put in the header's kid
	PrivateKeyPEM string
	DeviceID      string // sub
	Audience      string // aud
	Issuer        string // iss; omitted when empty
	IssuedAt      time.Time
	TTL           time.Duration
}

// Token is a signed platform token.
type Token struct {
	Token     string
	ID        string // jti
	ExpiresAt time.Time
}

// IssueToken signs a platform token with jwtauth.Sign: header alg ES256 and
// kid; claims sub, aud, iss (when set), iat, nbf, exp and a random jti.
func IssueToken(r TokenRequest) (Token, error) {
	block, _ := pem.Decode([]byte(r.PrivateKeyPEM))
	if block == nil {
		return Token{}, errors.New("credentials: signing key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Token{}, fmt.Errorf("credentials: parse signing key: %w", err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return Token{}, fmt.Errorf("credentials: signing key is %T, want ECDSA", k)
	}
	iat := r.IssuedAt.Truncate(time.Second)
	exp := iat.Add(r.TTL)
	jti := tenant.RandomString(26)
	s, err := jwtauth.Sign(tenant.ES256, priv, r.KeyID, jwtauth.Claims{
		Subject:   r.DeviceID,
		Audience:  []string{r.Audience},
		Issuer:    r.Issuer,
		IssuedAt:  iat,
		NotBefore: iat,
		ExpiresAt: exp,
		ID:        jti,
	})
	if err != nil {
		return Token{}, fmt.Errorf("credentials: sign token: %w", err)
	}
	return Token{Token: s, ID: jti, ExpiresAt: exp}, nil
}
