package credentials

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestAPIKeyRoundTrip(t *testing.T) {
	id, full, hash := NewAPIKey()
	gotID, secret, err := ParseAPIKey(string(full))
	if err != nil || gotID != id {
		t.Fatalf("ParseAPIKey(%q) = %q, %v; want id %q", full, gotID, err, id)
	}
	if !SecretMatches(secret, hash) {
		t.Error("SecretMatches(own secret) = false")
	}
	if strings.Contains(hash, secret) {
		t.Error("the stored hash contains the secret")
	}
	if SecretMatches(secret[:len(secret)-1]+"0", hash) && !strings.HasSuffix(secret, "0") {
		t.Error("SecretMatches accepted another secret")
	}
	if SecretMatches(secret, "not-hex") {
		t.Error("SecretMatches accepted a malformed stored hash")
	}
	_, id2, _ := NewAPIKey()
	if id2 == full {
		t.Error("two keys are equal")
	}
}

func TestParseAPIKeyRejects(t *testing.T) {
	for _, s := range []string{
		"", "fmq_", "fmq_abc_def", "xyz_0123456789abcdef_" + strings.Repeat("a", 52),
		"fmq_0123456789abcdef_" + strings.Repeat("a", 51),
		"fmq_0123456789ABCDEF_" + strings.Repeat("a", 52),
		"fmq_0123456789abcdef_" + strings.Repeat("a", 51) + "_",
	} {
		if _, _, err := ParseAPIKey(s); err == nil {
			t.Errorf("ParseAPIKey(%q) succeeded", s)
		}
	}
}

func TestAPIKeySecretLogValue(t *testing.T) {
	_, full, _ := NewAPIKey()
	if v := full.LogValue().String(); strings.Contains(v, string(full)[20:]) {
		t.Errorf("LogValue = %q shows the secret", v)
	}
}

// TestKeysGatewaysRefuseAreRefused: the control plane stores no key the
// gateways' verifier would refuse, such as an RSA modulus over 8192 bits, and
// no JWK carrying private members.
func TestKeysGatewaysRefuseAreRefused(t *testing.T) {
	n := make([]byte, 8200/8+1)
	for i := range n {
		n[i] = 0xFF
	}
	big := fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, base64.RawURLEncoding.EncodeToString(n))
	if _, err := ParseJWK("jwk", json.RawMessage(big)); err == nil {
		t.Error("ParseJWK accepted an RSA key of more than 8192 bits")
	}
	priv := `{"kty":"RSA","n":"AQAB","e":"AQAB","qi":"AQAB"}`
	if _, err := ParseJWK("jwk", json.RawMessage(priv)); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("ParseJWK with a qi member = %v, want a private-key refusal", err)
	}
}

// TestParseErrorsNameTheField: a refused upload names the request field to
// fix, down to the key of a JWKS and the member of a JWK.
func TestParseErrorsNameTheField(t *testing.T) {
	ed := `{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	for _, tc := range []struct {
		name, in  string
		parse     func(string) error
		wantField string
	}{
		{"pem garbage", "hello", pemParser, "public_key_pem"},
		{"jwk not an object", `[1]`, jwkParser, "jwk"},
		{"jwk curve", `{"kty":"EC","crv":"P-384"}`, jwkParser, "jwk.crv"},
		{"jwk missing x", `{"kty":"OKP","crv":"Ed25519"}`, jwkParser, "jwk.x"},
		{"jwks not a set", `[1,2]`, jwksParser, "jwks"},
		{"jwks no keys member", `{}`, jwksParser, "jwks.keys"},
		{"jwks only encryption keys", `{"keys":[{"kty":"RSA","use":"enc"}]}`, jwksParser, "jwks.keys"},
		{"jwks second key", `{"keys":[` + ed + `,{"kty":"oct","k":"c2VjcmV0"}]}`, jwksParser, "jwks.keys[1].kty"},
		{"jwks duplicate kid", `{"keys":[` + ed + `,` + ed + `]}`, jwksParser, "jwks.keys[1].kid"},
	} {
		err := tc.parse(tc.in)
		ie, ok := err.(*InputError)
		if !ok || ie.Field != tc.wantField || ie.Message == "" || strings.HasPrefix(ie.Message, "jwtauth:") {
			t.Errorf("%s: error = %#v, want an InputError on %s with a message of its own", tc.name, err, tc.wantField)
		}
	}
	keys, err := ParseJWKS("jwks", json.RawMessage(`{"keys":[`+ed+`,{"kty":"RSA","use":"enc"}]}`))
	if err != nil || len(keys) != 1 || keys[0].SourceKID != "ed-1" || keys[0].Algorithm != "EdDSA" {
		t.Errorf("ParseJWKS(one signing and one encryption key) = %+v, %v; want the Ed25519 key only", keys, err)
	}
}

func pemParser(s string) error { _, err := ParsePEM("public_key_pem", s); return err }

func jwkParser(s string) error { _, err := ParseJWK("jwk", json.RawMessage(s)); return err }

func jwksParser(s string) error { _, err := ParseJWKS("jwks", json.RawMessage(s)); return err }
