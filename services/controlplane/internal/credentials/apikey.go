package credentials

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// API key format: "fmq_<id>_<secret>", id 16 and secret 52 characters of a
// 32-letter alphabet (80 and 260 bits of randomness).
const (
	APIKeyPrefix  = "fmq_"
	apiKeyIDLen   = 16
	apiKeySecretN = 52
)

// ErrMalformedAPIKey is returned by ParseAPIKey.
var ErrMalformedAPIKey = errors.New("credentials: malformed API key")

// APIKeySecret is a full API key as shown once to its owner. It never logs
// its secret.
type APIKeySecret string

// LogValue implements slog.LogValuer.
func (s APIKeySecret) LogValue() slog.Value { return slog.StringValue("fmq_…redacted") }

// NewAPIKey returns a new key id, the full key to show once, and the hash to
// store.
func NewAPIKey() (id string, full APIKeySecret, hash string) {
	id = tenant.RandomString(apiKeyIDLen)
	secret := tenant.RandomString(apiKeySecretN)
	return id, APIKeySecret(APIKeyPrefix + id + "_" + secret), HashSecret(secret)
}

// ParseAPIKey splits a full key into id and secret.
func ParseAPIKey(full string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(full, APIKeyPrefix)
	if !ok {
		return "", "", ErrMalformedAPIKey
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != apiKeyIDLen || len(secret) != apiKeySecretN || !alnum(id) || !alnum(secret) {
		return "", "", ErrMalformedAPIKey
	}
	return id, secret, nil
}

// HashSecret is the stored form of a secret: hex SHA-256. A plain hash (no
// salt, no stretching) is right for a random secret of 260 bits: there is
// nothing to guess.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches compares a presented secret with a stored hash in constant
// time.
func SecretMatches(secret, storedHash string) bool {
	want, err := hex.DecodeString(storedHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
