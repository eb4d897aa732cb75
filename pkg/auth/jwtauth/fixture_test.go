package jwtauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/auth/keycache"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// now is the fixed time of the tests.
var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// signers are the private keys of the fixture, generated once per test
// binary (RSA generation is slow); never stored anywhere.
type signers struct {
	es, ed, rs crypto.Signer
	other      crypto.Signer // an ES256 key registered nowhere
}

var (
	signersOnce sync.Once
	testSigners signers
)

func keysForTest(t testing.TB) signers {
	t.Helper()
	signersOnce.Do(func() {
		es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rs, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		testSigners = signers{es: es, ed: ed, rs: rs, other: other}
	})
	return testSigners
}

func (s signers) of(alg tenant.Algorithm) crypto.Signer {
	switch alg {
	case tenant.ES256:
		return s.es
	case tenant.EdDSA:
		return s.ed
	default:
		return s.rs
	}
}

// record is one entry of the configuration bucket.
type record struct {
	key   string
	value any
}

func pemOf(t testing.TB, s crypto.Signer) string {
	t.Helper()
	p, err := jwtauth.MarshalPublicKeyPEM(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keyRecord(t testing.TB, kid, tid string, kind tenant.KeyKind, did string, alg tenant.Algorithm, s crypto.Signer) record {
	return record{tenant.KeyKey(kid), tenant.Key{
		ID: kid, TenantID: tid, Kind: kind, DeviceID: did, Algorithm: alg,
		PublicKeyPEM: pemOf(t, s), CreatedAt: now.Add(-24 * time.Hour),
	}}
}

// fixture is the configuration every verifier test runs against:
//
//	t-alpha: devices dev-1, dev-2, dev-off (disabled), dev-rev (revoked at now-1h)
//	         platform keys pk_es, pk_ed, pk_rs, pk_old (expired), pk_revoked (revoked)
//	         device keys dk_es, dk_ed, dk_rs of dev-1
//	         issuer keys ik_es, ik_ed, ik_rs
//	         revoked token jti-revoked
//	t-beta:  device dev-b; platform key pk_beta
//	t-off:   disabled; device dev-x; platform key pk_off
func fixture(t testing.TB) []record {
	t.Helper()
	s := keysForTest(t)
	expired := now.Add(-time.Minute)
	old := keyRecord(t, "pk_old", "t-alpha", tenant.KeyPlatform, "", tenant.ES256, s.es)
	k := old.value.(tenant.Key)
	k.NotAfter = &expired
	old.value = k
	dev := func(tid, did string, disabled bool) record {
		return record{tenant.DeviceKey(tid, did), tenant.Device{TenantID: tid, ID: did, Disabled: disabled, CreatedAt: now}}
	}
	revoked := func(tid string, kind tenant.RevocationKind, id string, at time.Time) record {
		return record{tenant.RevokedKey(tid, kind, tenant.TokenRevocationID(id)), tenant.Revocation{TenantID: tid, Kind: kind, ID: id, RevokedAt: at}}
	}
	return []record{
		{tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha", Name: "Alpha"}},
		{tenant.TenantKey("t-beta"), tenant.Tenant{ID: "t-beta", Name: "Beta"}},
		{tenant.TenantKey("t-off"), tenant.Tenant{ID: "t-off", Name: "Off", Disabled: true}},
		dev("t-alpha", "dev-1", false),
		dev("t-alpha", "dev-2", false),
		dev("t-alpha", "dev-off", true),
		dev("t-alpha", "dev-rev", false),
		dev("t-beta", "dev-b", false),
		dev("t-off", "dev-x", false),
		keyRecord(t, "pk_es", "t-alpha", tenant.KeyPlatform, "", tenant.ES256, s.es),
		keyRecord(t, "pk_ed", "t-alpha", tenant.KeyPlatform, "", tenant.EdDSA, s.ed),
		keyRecord(t, "pk_rs", "t-alpha", tenant.KeyPlatform, "", tenant.RS256, s.rs),
		old,
		keyRecord(t, "pk_revoked", "t-alpha", tenant.KeyPlatform, "", tenant.ES256, s.es),
		keyRecord(t, "dk_es", "t-alpha", tenant.KeyDevice, "dev-1", tenant.ES256, s.es),
		keyRecord(t, "dk_ed", "t-alpha", tenant.KeyDevice, "dev-1", tenant.EdDSA, s.ed),
		keyRecord(t, "dk_rs", "t-alpha", tenant.KeyDevice, "dev-1", tenant.RS256, s.rs),
		keyRecord(t, "ik_es", "t-alpha", tenant.KeyIssuer, "", tenant.ES256, s.es),
		keyRecord(t, "ik_ed", "t-alpha", tenant.KeyIssuer, "", tenant.EdDSA, s.ed),
		keyRecord(t, "ik_rs", "t-alpha", tenant.KeyIssuer, "", tenant.RS256, s.rs),
		keyRecord(t, "pk_beta", "t-beta", tenant.KeyPlatform, "", tenant.ES256, s.es),
		keyRecord(t, "pk_off", "t-off", tenant.KeyPlatform, "", tenant.ES256, s.es),
		revoked("t-alpha", tenant.RevokeDevice, "dev-rev", now.Add(-time.Hour)),
		revoked("t-alpha", tenant.RevokeKey, "pk_revoked", now.Add(-time.Hour)),
		revoked("t-alpha", tenant.RevokeToken, "jti-revoked", now.Add(-time.Hour)),
	}
}

// memSource is a KeySource built straight from records: the simplest
// implementation, used beside keycache.Cache so each test shows the
// verifier's behaviour does not depend on the source.
type memSource struct {
	tenants     map[string]tenant.Tenant
	devices     map[[2]string]tenant.Device
	keys        map[string]*jwtauth.Key
	revocations map[[3]string]tenant.Revocation
}

func newMemSource(t testing.TB, recs []record) *memSource {
	t.Helper()
	m := &memSource{
		tenants:     map[string]tenant.Tenant{},
		devices:     map[[2]string]tenant.Device{},
		keys:        map[string]*jwtauth.Key{},
		revocations: map[[3]string]tenant.Revocation{},
	}
	for _, r := range recs {
		ref, err := tenant.ParseKey(r.key)
		if err != nil {
			t.Fatal(err)
		}
		switch v := r.value.(type) {
		case tenant.Tenant:
			m.tenants[ref.TenantID] = v
		case tenant.Device:
			m.devices[[2]string{ref.TenantID, ref.DeviceID}] = v
		case tenant.Key:
			k, err := jwtauth.NewKey(v)
			if err != nil {
				t.Fatal(err)
			}
			m.keys[ref.KeyID] = k
		case tenant.Revocation:
			m.revocations[[3]string{ref.TenantID, string(ref.RevocationKind), ref.RevokedID}] = v
		}
	}
	return m
}

func (m *memSource) Key(kid string) (*jwtauth.Key, bool) { k, ok := m.keys[kid]; return k, ok }
func (m *memSource) Tenant(tid string) (tenant.Tenant, bool) {
	v, ok := m.tenants[tid]
	return v, ok
}
func (m *memSource) Device(tid, did string) (tenant.Device, bool) {
	v, ok := m.devices[[2]string{tid, did}]
	return v, ok
}
func (m *memSource) Revocation(tid string, kind tenant.RevocationKind, id string) (tenant.Revocation, bool) {
	v, ok := m.revocations[[3]string{tid, string(kind), id}]
	return v, ok
}

// natsKV starts an embedded NATS server and creates the configuration
// bucket.
func natsKV(t testing.TB) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: tenant.ConfigBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return js, kv
}

func put(t testing.TB, kv jetstream.KeyValue, r record) {
	t.Helper()
	b, err := json.Marshal(r.value)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), r.key, b); err != nil {
		t.Fatalf("put %s: %v", r.key, err)
	}
}

// newCacheSource writes the records to a fresh bucket and returns a
// keycache.Cache that has loaded them.
func newCacheSource(t testing.TB, recs []record) *keycache.Cache {
	t.Helper()
	js, kv := natsKV(t)
	for _, r := range recs {
		put(t, kv, r)
	}
	c, err := keycache.New(keycache.Config{}, keycache.Deps{JetStream: js, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// sources are the KeySource implementations every verifier test runs
// against.
var sources = []struct {
	name string
	new  func(testing.TB, []record) jwtauth.KeySource
}{
	{"memory", func(t testing.TB, r []record) jwtauth.KeySource { return newMemSource(t, r) }},
	{"keycache", func(t testing.TB, r []record) jwtauth.KeySource { return newCacheSource(t, r) }},
}
