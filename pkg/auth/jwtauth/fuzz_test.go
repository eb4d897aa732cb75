package jwtauth_test

import (
	"context"
	"crypto"
	"errors"
	"testing"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// FuzzAuthenticate checks the verifier never panics and always answers
// with a classified error or a complete identity, whatever the password.
func FuzzAuthenticate(f *testing.F) {
	for _, tc := range tokenCases() {
		f.Add(tc.token(f), tc.username, tc.clientID)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.", "", "dev-1")
	f.Add("..", "", "")
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6InBrX2VzIn0.eyJleHAiOiJ4In0.AA", "", "dev-1")
	ks := newMemSource(f, fixture(f))
	v := newVerifier(f, ks, jwtauth.Config{})
	f.Fuzz(func(t *testing.T, password, username, clientID string) {
		id, err := v.Authenticate(context.Background(), auth.Request{Password: []byte(password), Username: username, ClientID: clientID})
		if err != nil {
			if !errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, auth.ErrNotAuthorized) {
				t.Fatalf("Authenticate() error %v is neither bad credentials nor not authorized", err)
			}
			return
		}
		if !tenant.ValidTenantID(id.Tenant) || !tenant.ValidDeviceID(id.Device) || id.CredentialID == "" {
			t.Fatalf("Authenticate() = %+v: incomplete identity", id)
		}
	})
}

// FuzzParseKeys checks the key decoders never panic and only ever return
// keys of the allow-list.
func FuzzParseKeys(f *testing.F) {
	s := keysForTest(f)
	for _, sg := range []crypto.Signer{s.es, s.ed, s.rs} {
		f.Add([]byte(pemOf(f, sg)))
		f.Add(mustJSON(f, jwkOf(f, "k", sg.Public())))
		f.Add(mustJSON(f, map[string]any{"keys": []any{jwkOf(f, "k", sg.Public())}}))
	}
	f.Add([]byte(`{"kty":"RSA","n":"AQ","e":"AQAB"}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	allowed := func(t *testing.T, what string, pub crypto.PublicKey, alg tenant.Algorithm) {
		t.Helper()
		got, err := jwtauth.AlgorithmFor(pub)
		if err != nil || got != alg || !tenant.ValidAlgorithm(alg) {
			t.Fatalf("%s returned a %T key with algorithm %q (AlgorithmFor: %q, %v)", what, pub, alg, got, err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if pub, alg, err := jwtauth.ParsePublicKeyPEM(data); err == nil {
			allowed(t, "ParsePublicKeyPEM", pub, alg)
		}
		if k, err := jwtauth.ParseJWK(data); err == nil {
			allowed(t, "ParseJWK", k.Public, k.Algorithm)
		}
		if keys, err := jwtauth.ParseJWKS(data); err == nil {
			for _, k := range keys {
				allowed(t, "ParseJWKS", k.Public, k.Algorithm)
			}
		}
	})
}
