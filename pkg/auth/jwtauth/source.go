package jwtauth

import (
	"crypto"
	"fmt"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// Key is a registered public key ready to verify signatures: the stored
// record with its PEM parsed once. Build it with NewKey.
type Key struct {
	tenant.Key
	// Public is the parsed PublicKeyPEM; its type matches Algorithm.
	Public crypto.PublicKey
}

// NewKey validates a key record and parses its public key. The record's
// declared Algorithm must be the one the key's type verifies (a P-256 key
// declared RS256 is refused), and a device key must name its device.
func NewKey(rec tenant.Key) (*Key, error) {
	if !tenant.ValidKeyID(rec.ID) {
		return nil, fmt.Errorf("jwtauth: invalid key id %q", rec.ID)
	}
	if !tenant.ValidTenantID(rec.TenantID) {
		return nil, fmt.Errorf("jwtauth: key %s: invalid tenant id %q", rec.ID, rec.TenantID)
	}
	switch rec.Kind {
	case tenant.KeyPlatform, tenant.KeyIssuer:
	case tenant.KeyDevice:
		if !tenant.ValidDeviceID(rec.DeviceID) {
			return nil, fmt.Errorf("jwtauth: device key %s: invalid device id %q", rec.ID, rec.DeviceID)
		}
	default:
		return nil, fmt.Errorf("jwtauth: key %s: unknown kind %q", rec.ID, rec.Kind)
	}
	if !tenant.ValidAlgorithm(rec.Algorithm) {
		return nil, fmt.Errorf("jwtauth: key %s: algorithm %q is not one of ES256, EdDSA, RS256", rec.ID, rec.Algorithm)
	}
	pub, alg, err := ParsePublicKeyPEM([]byte(rec.PublicKeyPEM))
	if err != nil {
		return nil, within(err, "key %s", rec.ID)
	}
	if alg != rec.Algorithm {
		return nil, fmt.Errorf("jwtauth: key %s declares %s but its public key verifies %s only", rec.ID, rec.Algorithm, alg)
	}
	return &Key{Key: rec, Public: pub}, nil
}

// KeySource is the verifier's read-only view of the tenancy configuration,
// held in memory so that verification makes no network call (keycache.Cache
// implements it from the FLOCK_CONFIG bucket). Implementations are safe for
// concurrent use and fast: every method runs on each CONNECT.
type KeySource interface {
	// Key returns the key with id kid. It returns the same pointer for as
	// long as the stored record is unchanged and a new one when it changes;
	// the verifier's token cache relies on that to notice a replaced key.
	Key(kid string) (*Key, bool)
	// Tenant returns the tenant with id tid.
	Tenant(tid string) (tenant.Tenant, bool)
	// Device returns device did of tenant tid.
	Device(tid, did string) (tenant.Device, bool)
	// Revocation returns the revocation of kind naming id in tenant tid;
	// for tokens id is tenant.TokenRevocationID(jti).
	Revocation(tid string, kind tenant.RevocationKind, id string) (tenant.Revocation, bool)
}

// DeviceKeyFinder is a KeySource that can list the device keys registered
// for a device id in any tenant. With it, the verifier accepts
// device-signed tokens that carry no kid (as Cloud IoT Core devices send
// them): it tries each key of the device the MQTT username, or else the
// client id, names.
type DeviceKeyFinder interface {
	DeviceKeys(did string) []*Key
}
