package jwtauth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePublicKeyPEM(t *testing.T) {
	s := keysForTest(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pkix := func(pub crypto.PublicKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pemBlock("PUBLIC KEY", der)
	}
	ecPriv, err := x509.MarshalPKCS8PrivateKey(s.es)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want tenant.Algorithm
		err  string
	}{
		{name: "ES256 PKIX", in: pkix(s.es.Public()), want: tenant.ES256},
		{name: "EdDSA PKIX", in: pkix(s.ed.Public()), want: tenant.EdDSA},
		{name: "RS256 PKIX", in: pkix(s.rs.Public()), want: tenant.RS256},
		{name: "RS256 PKCS1", in: pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(s.rs.Public().(*rsa.PublicKey))), want: tenant.RS256},
		{name: "certificate", in: selfSigned(t, s.es), want: tenant.ES256},
		{name: "P-384 key", in: pkix(p384.Public()), err: "only P-256 (ES256) is accepted"},
		{name: "RSA 1024", in: pkix(rsa1024.Public()), err: "RSA key of 1024 bits"},
		{name: "private key", in: pemBlock("PRIVATE KEY", ecPriv), err: `PEM block "PRIVATE KEY" is a private key`},
		{name: "EC private key", in: pemBlock("EC PRIVATE KEY", []byte{1}), err: "is a private key"},
		{name: "two blocks", in: append(pkix(s.es.Public()), pkix(s.ed.Public())...), err: "data after the first PEM block"},
		{name: "not PEM", in: []byte("hello"), err: "no PEM block found"},
		{name: "unknown block", in: pemBlock("OPENSSH KEY", []byte{1}), err: `unsupported PEM block "OPENSSH KEY"`},
		{name: "corrupt DER", in: pemBlock("PUBLIC KEY", []byte{1, 2, 3}), err: "parse public key"},
	}
	for _, tc := range tests {
		_, alg, err := jwtauth.ParsePublicKeyPEM(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: ParsePublicKeyPEM() error = %v", tc.name, err)
		case tc.err == "" && alg != tc.want:
			t.Errorf("%s: ParsePublicKeyPEM() alg = %s, want %s", tc.name, alg, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: ParsePublicKeyPEM() error = %v, want %q", tc.name, err, tc.err)
		}
	}
}

func selfSigned(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "dev-1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("CERTIFICATE", der)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf writes a public key as a JWK, the way a tenant's identity provider
// would publish it.
func jwkOf(t testing.TB, kid string, pub crypto.PublicKey) map[string]string {
	t.Helper()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig", "x": b64(raw[1:33]), "y": b64(raw[33:])}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(k)}
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	}
	t.Fatalf("no JWK for %T", pub)
	return nil
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWK(t *testing.T) {
	s := keysForTest(t)
	for _, sg := range []crypto.Signer{s.es, s.ed, s.rs} {
		j := jwkOf(t, "ik_1", sg.Public())
		k, err := jwtauth.ParseJWK(mustJSON(t, j))
		if err != nil {
			t.Fatalf("ParseJWK(%s): %v", j["kty"], err)
		}
		want, _ := jwtauth.AlgorithmFor(sg.Public())
		if k.KeyID != "ik_1" || k.Algorithm != want {
			t.Errorf("ParseJWK(%s) = kid %q alg %s, want ik_1 %s", j["kty"], k.KeyID, k.Algorithm, want)
		}
		if !sg.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
			t.Errorf("ParseJWK(%s) returned another public key", j["kty"])
		}
		// The parsed key verifies tokens of its private half.
		p, err := jwtauth.MarshalPublicKeyPEM(k.Public)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwtauth.NewKey(tenant.Key{ID: "ik_1", TenantID: "t-alpha", Kind: tenant.KeyIssuer, Algorithm: want, PublicKeyPEM: p}); err != nil {
			t.Errorf("NewKey from the JWK's PEM: %v", err)
		}
	}

	bad := func(name string, mutate func(map[string]string), want string) {
		t.Helper()
		j := jwkOf(t, "ik_1", s.es.Public())
		mutate(j)
		_, err := jwtauth.ParseJWK(mustJSON(t, j))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: ParseJWK() error = %v, want %q", name, err, want)
		}
	}
	bad("private member", func(j map[string]string) { j["d"] = b64([]byte("secret")) }, "contains private key material")
	bad("symmetric key", func(j map[string]string) { j["kty"] = "oct"; j["k"] = b64([]byte("secret")) }, "is a symmetric key")
	bad("encryption key", func(j map[string]string) { j["use"] = "enc" }, `has use "enc"`)
	bad("alg mismatch", func(j map[string]string) { j["alg"] = "RS256" }, `declares alg "RS256" but its key verifies ES256 only`)
	bad("HS256 alg", func(j map[string]string) { j["alg"] = "HS256" }, `declares alg "HS256"`)
	bad("other curve", func(j map[string]string) { j["crv"] = "P-384" }, `EC curve "P-384"`)
	bad("point off the curve", func(j map[string]string) { j["y"] = j["x"] }, "ik_1")
	bad("short x", func(j map[string]string) { j["x"] = b64([]byte{1, 2}) }, `member "x" is 2 bytes, want 32`)
	bad("missing y", func(j map[string]string) { delete(j, "y") }, `member "y" is missing`)
	bad("not base64", func(j map[string]string) { j["x"] = "!!" }, "not base64url")
	bad("no kty", func(j map[string]string) { delete(j, "kty") }, `JWK has no "kty"`)
	bad("unknown kty", func(j map[string]string) { j["kty"] = "XYZ" }, `key type "XYZ" is not supported`)

	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwtauth.ParseJWK(mustJSON(t, jwkOf(t, "x", rsa1024.Public()))); err == nil || !strings.Contains(err.Error(), "RSA key of 1024 bits") {
		t.Errorf("ParseJWK(RSA 1024) error = %v, want a size error", err)
	}
	j := jwkOf(t, "x", s.rs.Public())
	j["e"] = b64([]byte{2})
	if _, err := jwtauth.ParseJWK(mustJSON(t, j)); err == nil || !strings.Contains(err.Error(), "RSA exponent 2 is invalid") {
		t.Errorf("ParseJWK(even exponent) error = %v", err)
	}
	if _, err := jwtauth.ParseJWK([]byte("{")); err == nil {
		t.Error("ParseJWK(invalid JSON) succeeded")
	}
}

func TestParseJWKS(t *testing.T) {
	s := keysForTest(t)
	enc := jwkOf(t, "enc-1", s.rs.Public())
	enc["use"] = "enc"
	set := map[string]any{"keys": []any{
		jwkOf(t, "a", s.es.Public()), jwkOf(t, "b", s.ed.Public()), jwkOf(t, "c", s.rs.Public()), enc,
	}}
	keys, err := jwtauth.ParseJWKS(mustJSON(t, set))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, fmt.Sprintf("%s:%s", k.KeyID, k.Algorithm))
	}
	if want := "a:ES256 b:EdDSA c:RS256"; strings.Join(got, " ") != want {
		t.Errorf("ParseJWKS() = %v, want %s (the encryption key skipped)", got, want)
	}

	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"duplicate kid", map[string]any{"keys": []any{jwkOf(t, "a", s.es.Public()), jwkOf(t, "a", s.ed.Public())}}, `JWKS key 1: kid "a" appears twice`},
		{"bad member", map[string]any{"keys": []any{jwkOf(t, "a", s.es.Public()), map[string]string{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}}}, `JWKS key 1 (kid "h")`},
		{"no keys", map[string]any{"other": 1}, `JWKS has no "keys" array`},
		{"odd use", map[string]any{"keys": []any{map[string]string{"kty": "EC", "use": "wrap"}}}, `use "wrap" is neither sig nor enc`},
	} {
		if _, err := jwtauth.ParseJWKS(mustJSON(t, tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseJWKS() error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestJWKErrorsNameTheMember: a refused JWK or JWKS says which member and
// which key of the set is at fault, so the control plane can name the
// request field ("jwks.keys[1].crv").
func TestJWKErrorsNameTheMember(t *testing.T) {
	s := keysForTest(t)
	p384 := jwkOf(t, "b", s.es.Public())
	p384["crv"] = "P-384"
	for _, tc := range []struct {
		name       string
		in         any
		set        bool
		wantIndex  int // -1: no JWKSKeyError
		wantMember string
	}{
		{"symmetric", map[string]string{"kty": "oct", "k": "c2VjcmV0"}, false, -1, "kty"},
		{"no kty", map[string]string{}, false, -1, "kty"},
		{"missing x", map[string]string{"kty": "OKP", "crv": "Ed25519"}, false, -1, "x"},
		{"curve", p384, false, -1, "crv"},
		{"use", map[string]string{"kty": "EC", "use": "enc"}, false, -1, "use"},
		{"set curve", map[string]any{"keys": []any{jwkOf(t, "a", s.ed.Public()), p384}}, true, 1, "crv"},
		{"set duplicate", map[string]any{"keys": []any{jwkOf(t, "a", s.ed.Public()), jwkOf(t, "a", s.es.Public())}}, true, 1, "kid"},
		{"set without keys", map[string]any{}, true, -1, "keys"},
	} {
		var err error
		if tc.set {
			_, err = jwtauth.ParseJWKS(mustJSON(t, tc.in))
		} else {
			_, err = jwtauth.ParseJWK(mustJSON(t, tc.in))
		}
		me, ok := errors.AsType[*jwtauth.JWKMemberError](err)
		if !ok || me.Member != tc.wantMember {
			t.Errorf("%s: error = %v, want a JWKMemberError on %q", tc.name, err, tc.wantMember)
		}
		index := -1
		if ke, ok := errors.AsType[*jwtauth.JWKSKeyError](err); ok {
			index = ke.Index
		}
		if index != tc.wantIndex {
			t.Errorf("%s: error = %v names JWKS key %d, want %d", tc.name, err, index, tc.wantIndex)
		}
	}
}

func TestNewKey(t *testing.T) {
	s := keysForTest(t)
	base := tenant.Key{ID: "pk_1", TenantID: "t-alpha", Kind: tenant.KeyPlatform, Algorithm: tenant.ES256, PublicKeyPEM: pemOf(t, s.es)}
	if _, err := jwtauth.NewKey(base); err != nil {
		t.Fatalf("NewKey(valid) = %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*tenant.Key)
		want   string
	}{
		{"declared RS256 for a P-256 key", func(k *tenant.Key) { k.Algorithm = tenant.RS256 }, "declares RS256 but its public key verifies ES256 only"},
		{"HS256", func(k *tenant.Key) { k.Algorithm = "HS256" }, `algorithm "HS256" is not one of`},
		{"none", func(k *tenant.Key) { k.Algorithm = "none" }, `algorithm "none" is not one of`},
		{"device key without device", func(k *tenant.Key) { k.Kind = tenant.KeyDevice }, `invalid device id ""`},
		{"unknown kind", func(k *tenant.Key) { k.Kind = "root" }, `unknown kind "root"`},
		{"bad key id", func(k *tenant.Key) { k.ID = "a.b" }, `invalid key id "a.b"`},
		{"bad tenant id", func(k *tenant.Key) { k.TenantID = "T" }, `invalid tenant id "T"`},
		{"no PEM", func(k *tenant.Key) { k.PublicKeyPEM = "" }, "no PEM block found"},
	} {
		k := base
		tc.mutate(&k)
		if _, err := jwtauth.NewKey(k); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewKey() error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSign(t *testing.T) {
	s := keysForTest(t)
	if _, err := jwtauth.Sign(tenant.RS256, s.es, "pk_1", claims("dev-1")); err == nil || !strings.Contains(err.Error(), "the key signs ES256 tokens, not RS256") {
		t.Errorf("Sign(RS256 with an EC key) error = %v", err)
	}
	if _, err := jwtauth.Sign("HS256", s.es, "pk_1", claims("dev-1")); err == nil {
		t.Error("Sign(HS256) succeeded")
	}
	if _, err := jwtauth.Sign(tenant.ES256, s.es, "bad.kid", claims("dev-1")); err == nil {
		t.Error("Sign with an invalid kid succeeded")
	}
	if _, err := jwtauth.Sign(tenant.ES256, nil, "pk_1", claims("dev-1")); err == nil {
		t.Error("Sign without a key succeeded")
	}
	tok := sign(t, tenant.EdDSA, "pk_ed", claims("dev-1"))
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "EdDSA" || h["kid"] != "pk_ed" {
		t.Errorf("Sign() header = %v, want alg EdDSA, kid pk_ed", h)
	}
}
