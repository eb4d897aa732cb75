package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// oneTenant is the smallest KeySource: one tenant, one key, one device.
// Gateways use keycache.Cache instead.
type oneTenant struct {
	key    *jwtauth.Key
	device tenant.Device
}

func (s oneTenant) Key(kid string) (*jwtauth.Key, bool) { return s.key, kid == s.key.ID }
func (s oneTenant) Tenant(tid string) (tenant.Tenant, bool) {
	return tenant.Tenant{ID: tid}, tid == s.key.TenantID
}
func (s oneTenant) Device(tid, did string) (tenant.Device, bool) {
	return s.device, tid == s.device.TenantID && did == s.device.ID
}
func (oneTenant) Revocation(string, tenant.RevocationKind, string) (tenant.Revocation, bool) {
	return tenant.Revocation{}, false
}

// The control plane registers a platform key and issues a token for a
// device; a gateway verifies it when the device connects.
func Example() {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	pubPEM, err := jwtauth.MarshalPublicKeyPEM(priv.Public())
	if err != nil {
		panic(err)
	}
	key, err := jwtauth.NewKey(tenant.Key{ID: "pk_demo", TenantID: "t-acme", Kind: tenant.KeyPlatform, Algorithm: tenant.ES256, PublicKeyPEM: pubPEM})
	if err != nil {
		panic(err)
	}
	src := oneTenant{key: key, device: tenant.Device{TenantID: "t-acme", ID: "sensor-7"}}

	token, err := jwtauth.Sign(tenant.ES256, priv, "pk_demo", jwtauth.Claims{
		Subject:   "sensor-7",
		Audience:  []string{"flockmq"},
		IssuedAt:  time.Now(),
		ExpiresAt: time.Now().Add(time.Hour),
		ID:        "tok-1",
	})
	if err != nil {
		panic(err)
	}

	v, err := jwtauth.New(jwtauth.Config{}, jwtauth.Deps{Keys: src})
	if err != nil {
		panic(err)
	}
	id, err := v.Authenticate(context.Background(), auth.Request{ClientID: "sensor-7:diag", Password: []byte(token)})
	fmt.Println(id.Tenant, id.Device, id.CredentialID, id.TokenID, err)

	_, err = v.Authenticate(context.Background(), auth.Request{ClientID: "sensor-8", Password: []byte(token)})
	fmt.Println(err)
	// Output:
	// t-acme sensor-7 pk_demo tok-1 <nil>
	// jwtauth: client id "sensor-8" is neither device id sensor-7 nor starts with "sensor-7:"
}

// A tenant uploads its identity provider's JWKS; each key becomes an
// issuer key stored as PEM.
func ExampleParseJWKS() {
	// The public key of RFC 7515, appendix A.3.
	set := `{"keys": [{"kty": "EC", "crv": "P-256", "kid": "idp-1", "use": "sig",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		"y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	keys, err := jwtauth.ParseJWKS([]byte(set))
	if err != nil {
		panic(err)
	}
	for _, k := range keys {
		p, err := jwtauth.MarshalPublicKeyPEM(k.Public)
		if err != nil {
			panic(err)
		}
		fmt.Println(k.KeyID, k.Algorithm, strings.HasPrefix(p, "-----BEGIN PUBLIC KEY-----"))
	}
	// Output: idp-1 ES256 true
}
