package tenant

import (
	"crypto/rand"
	"strings"
)

// Limits of the identifier grammars.
const (
	MaxTenantIDLen = 40
	MaxDeviceIDLen = 128
	MaxKeyIDLen    = 64
	MaxTokenIDLen  = 128
)

// Prefixes of generated identifiers.
const (
	TenantIDPrefix      = "t-"
	PlatformKeyIDPrefix = "pk_"
	DeviceKeyIDPrefix   = "dk_"
	IssuerKeyIDPrefix   = "ik_"
)

// ValidTenantID reports whether s is a tenant id: [a-z0-9][a-z0-9-]{1,39}.
func ValidTenantID(s string) bool {
	if len(s) < 2 || len(s) > MaxTenantIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidDeviceID reports whether s is a device id: [A-Za-z0-9_-]{1,128}.
func ValidDeviceID(s string) bool { return validToken(s, MaxDeviceIDLen) }

// ValidKeyID reports whether s is a key id: [A-Za-z0-9_-]{1,64}.
func ValidKeyID(s string) bool { return validToken(s, MaxKeyIDLen) }

// ValidTokenID reports whether s can be stored as is in a revocation key:
// [A-Za-z0-9_-]{1,128}. Other token ids (jti) are mapped by TokenRevocationID.
func ValidTokenID(s string) bool { return validToken(s, MaxTokenIDLen) }

func validToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// KeyKindOf returns the kind a key id's prefix names, or "" when it has
// none of the known prefixes.
func KeyKindOf(kid string) KeyKind {
	switch {
	case strings.HasPrefix(kid, PlatformKeyIDPrefix):
		return KeyPlatform
	case strings.HasPrefix(kid, DeviceKeyIDPrefix):
		return KeyDevice
	case strings.HasPrefix(kid, IssuerKeyIDPrefix):
		return KeyIssuer
	}
	return ""
}

// idAlphabet is lowercase base-32 without the letters easily misread
// (no i, l, o, u), so ids survive being read aloud or typed from a screen.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// RandomString returns n characters drawn uniformly from a 32-letter
// lowercase alphabet using crypto/rand (5 bits of entropy per character).
func RandomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+
		// aborts the program instead), so this is unreachable.
		panic("tenant: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b)
}

// NewTenantID returns a random tenant id such as "t-8f3k2m9q".
func NewTenantID() string { return TenantIDPrefix + RandomString(8) }

// NewKeyID returns a random key id of the kind: "pk_…", "dk_…" or "ik_…",
// with 100 bits of randomness so ids are globally unique.
func NewKeyID(kind KeyKind) string {
	var p string
	switch kind {
	case KeyPlatform:
		p = PlatformKeyIDPrefix
	case KeyDevice:
		p = DeviceKeyIDPrefix
	case KeyIssuer:
		p = IssuerKeyIDPrefix
	default:
		panic("tenant: NewKeyID: unknown key kind " + string(kind))
	}
	return p + RandomString(20)
}
