package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/gateway"
)

// oneTenant is a jwtauth.KeySource holding tenant acme, its device
// sensor-1 and one platform key: the in-memory configuration a gateway's
// key cache would hold.
type oneTenant struct{ key *jwtauth.Key }

func (o oneTenant) Key(kid string) (*jwtauth.Key, bool) {
	if kid == "pk_test" {
		return o.key, true
	}
	return nil, false
}

func (oneTenant) Tenant(tid string) (tenant.Tenant, bool) {
	return tenant.Tenant{ID: tid}, tid == "acme"
}

func (oneTenant) Device(tid, did string) (tenant.Device, bool) {
	return tenant.Device{TenantID: tid, ID: did}, tid == "acme" && did == "sensor-1"
}

func (oneTenant) Revocation(string, tenant.RevocationKind, string) (tenant.Revocation, bool) {
	return tenant.Revocation{}, false
}

// platformTokens returns a real jwtauth.Verifier for tenant acme and a
// function signing platform tokens for a device that expire after ttl.
func platformTokens(tb testing.TB) (*jwtauth.Verifier, func(did string, ttl time.Duration) []byte) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := jwtauth.NewKey(tenant.Key{
		ID: "pk_test", TenantID: "acme", Kind: tenant.KeyPlatform, Algorithm: tenant.EdDSA,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	})
	if err != nil {
		tb.Fatalf("NewKey: %v", err)
	}
	v, err := jwtauth.New(jwtauth.Config{}, jwtauth.Deps{Keys: oneTenant{key}})
	if err != nil {
		tb.Fatalf("jwtauth.New: %v", err)
	}
	sign := func(did string, ttl time.Duration) []byte {
		now := time.Now()
		s, err := jwtauth.Sign(tenant.EdDSA, priv, "pk_test", jwtauth.Claims{
			Subject: did, Audience: []string{"flockmq"}, IssuedAt: now, ExpiresAt: now.Add(ttl), ID: tenant.RandomString(12),
		})
		if err != nil {
			tb.Fatalf("sign: %v", err)
		}
		return []byte(s)
	}
	return v, sign
}

func TestFlockJWTEnhancedAuthentication(t *testing.T) {
	v, sign := platformTokens(t)
	g := startGatewaysDeps(t, 1, memstore.New(), func(d *gateway.Deps) { d.Auth = v })[0]

	// CONNECT with Authentication Method FLOCK-JWT and the token as data;
	// the CONNACK names the method [MQTT-4.12.0-5]. The token lives 2s.
	c := dial(t, g.addr, mqtt.V5)
	cp := &mqtt.Connect{ClientID: "sensor-1", CleanStart: true, KeepAlive: 60}
	cp.Properties.AuthMethod, cp.Properties.AuthData = jwtauth.AuthMethod, sign("sensor-1", 2*time.Second)
	if ack := c.connect(cp); ack.ReasonCode != mqtt.Success || ack.Properties.AuthMethod != jwtauth.AuthMethod {
		t.Fatalf("CONNACK %v, want success naming FLOCK-JWT", ack)
	}
	// A fresh token in AUTH 0x19 re-authenticates [MQTT-4.12.1-1].
	c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: jwtauth.AuthMethod, AuthData: sign("sensor-1", time.Hour)}})
	if a := c.expectType(mqtt.AUTH).(*mqtt.Auth); a.ReasonCode != mqtt.Success || a.Properties.AuthMethod != jwtauth.AuthMethod {
		t.Fatalf("AUTH %v, want 0x00 naming FLOCK-JWT", a)
	}
	c.ping()
	// A token of another device does not re-authenticate this session:
	// DISCONNECT 0x87 [MQTT-4.12.1-2].
	c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: jwtauth.AuthMethod, AuthData: sign("sensor-2", time.Hour)}})
	if pkts := c.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.NotAuthorized {
		t.Fatalf("got %v, want DISCONNECT 0x87", pkts)
	}
}
