package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Key-prefix names of the entries in ConfigBucket.
const (
	prefixTenant  = "tenants"
	prefixDevice  = "devices"
	prefixKey     = "keys"
	prefixRevoked = "revoked"
	prefixQuotas  = "quotas"
	prefixSigning = "signing"
)

// TenantKey is the ConfigBucket key of a Tenant: "tenants.<tid>".
func TenantKey(tid string) string { return prefixTenant + "." + tid }

// DeviceKey is the ConfigBucket key of a Device: "devices.<tid>.<did>".
func DeviceKey(tid, did string) string { return prefixDevice + "." + tid + "." + did }

// DevicesPrefix is the key filter of every device of a tenant: "devices.<tid>.>".
func DevicesPrefix(tid string) string { return prefixDevice + "." + tid + ".>" }

// KeyKey is the ConfigBucket key of a Key: "keys.<kid>".
func KeyKey(kid string) string { return prefixKey + "." + kid }

// RevokedKey is the ConfigBucket key of a Revocation:
// "revoked.<tid>.<kind>.<id>". For token revocations pass
// TokenRevocationID(jti) as id.
func RevokedKey(tid string, kind RevocationKind, id string) string {
	return prefixRevoked + "." + tid + "." + string(kind) + "." + id
}

// RevokedPrefix is the key filter of every revocation of a tenant.
func RevokedPrefix(tid string) string { return prefixRevoked + "." + tid + ".>" }

// QuotasKey is the ConfigBucket key of a tenant's Quotas: "quotas.<tid>".
func QuotasKey(tid string) string { return prefixQuotas + "." + tid }

// SigningKey is the SecretsBucket key of a tenant's platform signing private
// key: "signing.<tid>.<kid>".
func SigningKey(tid, kid string) string { return prefixSigning + "." + tid + "." + kid }

// TokenRevocationID maps a token's jti to the id its revocation is stored
// under: the jti itself when ValidTokenID accepts it, otherwise "h_"
// followed by the hex SHA-256 of the jti. Writers and readers both call it.
func TokenRevocationID(jti string) string {
	if ValidTokenID(jti) {
		return jti
	}
	sum := sha256.Sum256([]byte(jti))
	return "h_" + hex.EncodeToString(sum[:])
}

// Entry says which kind of value a ConfigBucket key holds.
type Entry string

// Entries of ConfigBucket.
const (
	EntryTenant  Entry = "tenant"
	EntryDevice  Entry = "device"
	EntryKey     Entry = "key"
	EntryRevoked Entry = "revoked"
	EntryQuotas  Entry = "quotas"
)

// Ref is a parsed ConfigBucket key. Fields not part of the entry's key are
// empty.
type Ref struct {
	Entry          Entry
	TenantID       string         // tenant, device, revoked, quotas
	DeviceID       string         // device
	KeyID          string         // key
	RevocationKind RevocationKind // revoked
	RevokedID      string         // revoked: the device id, key id or TokenRevocationID
}

// ErrUnknownKey is returned by ParseKey for keys outside the layout.
var ErrUnknownKey = errors.New("tenant: not a configuration key")

// ParseKey parses a ConfigBucket key, validating every identifier in it.
// The watcher in a gateway uses it to route a KV update to its cache.
func ParseKey(key string) (Ref, error) {
	parts := strings.Split(key, ".")
	bad := func() (Ref, error) { return Ref{}, fmt.Errorf("%w: %q", ErrUnknownKey, key) }
	switch {
	case len(parts) == 2 && parts[0] == prefixTenant && ValidTenantID(parts[1]):
		return Ref{Entry: EntryTenant, TenantID: parts[1]}, nil
	case len(parts) == 2 && parts[0] == prefixQuotas && ValidTenantID(parts[1]):
		return Ref{Entry: EntryQuotas, TenantID: parts[1]}, nil
	case len(parts) == 2 && parts[0] == prefixKey && ValidKeyID(parts[1]):
		return Ref{Entry: EntryKey, KeyID: parts[1]}, nil
	case len(parts) == 3 && parts[0] == prefixDevice && ValidTenantID(parts[1]) && ValidDeviceID(parts[2]):
		return Ref{Entry: EntryDevice, TenantID: parts[1], DeviceID: parts[2]}, nil
	case len(parts) == 4 && parts[0] == prefixRevoked && ValidTenantID(parts[1]):
		k := RevocationKind(parts[2])
		ok := false
		switch k {
		case RevokeDevice:
			ok = ValidDeviceID(parts[3])
		case RevokeKey:
			ok = ValidKeyID(parts[3])
		case RevokeToken:
			ok = ValidTokenID(parts[3])
		}
		if !ok {
			return bad()
		}
		return Ref{Entry: EntryRevoked, TenantID: parts[1], RevocationKind: k, RevokedID: parts[3]}, nil
	}
	return bad()
}

// ClientIDBelongs reports whether an MQTT client id belongs to the device:
// it equals the device id or begins with "<device id>:", so one device may
// hold several connections ("sensor-7", "sensor-7:backup").
func ClientIDBelongs(clientID, deviceID string) bool {
	if deviceID == "" {
		return false
	}
	return clientID == deviceID || strings.HasPrefix(clientID, deviceID+":")
}
