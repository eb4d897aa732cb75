package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/flockmq/flockmq/pkg/tenant"
)

func seedKey(f *testing.F) (*ecdsa.PrivateKey, string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// checkAccepted: whatever a parser accepts is a supported key whose PEM
// parses back to the same algorithm.
func checkAccepted(t *testing.T, pk PublicKey) {
	if !tenant.ValidAlgorithm(pk.Algorithm) {
		t.Fatalf("accepted algorithm %q", pk.Algorithm)
	}
	back, err := ParsePEM("x", pk.PEM)
	if err != nil || back.Algorithm != pk.Algorithm {
		t.Fatalf("accepted key's PEM does not parse back: %v", err)
	}
}

func FuzzParsePEM(f *testing.F) {
	_, p := seedKey(f)
	f.Add(p)
	f.Add("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pk, err := ParsePEM("public_key_pem", s)
		if err != nil {
			if _, ok := err.(*InputError); !ok {
				t.Fatalf("error %T is not an InputError", err)
			}
			return
		}
		checkAccepted(t, pk)
	})
}

func FuzzParseJWKS(f *testing.F) {
	k, _ := seedKey(f)
	raw, _ := k.PublicKey.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	f.Add(fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","x":%q,"y":%q}]}`, b64(raw[1:33]), b64(raw[33:])))
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseJWKS("jwks", json.RawMessage(s))
		if err != nil {
			if _, ok := err.(*InputError); !ok {
				t.Fatalf("error %T is not an InputError", err)
			}
			return
		}
		for _, pk := range keys {
			checkAccepted(t, pk)
		}
	})
}
