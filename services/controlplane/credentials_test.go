package controlplane_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
)

func pubPEM(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func ecJWK(t testing.TB, k *ecdsa.PublicKey, kid string) json.RawMessage {
	t.Helper()
	raw, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(fmt.Sprintf(`{"kty":"EC","crv":"P-256","kid":%q,"alg":"ES256","use":"sig","x":%q,"y":%q}`, kid, b64(raw[1:33]), b64(raw[33:])))
}

func TestDeviceKeys(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	tid := resp.Tenant.ID
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"})); err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	notAfter := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)

	k1, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey), NotAfter: &notAfter}))
	if err != nil || k1.Algorithm != "ES256" || !strings.HasPrefix(k1.ID, "dk_") || k1.NotAfter == nil || !k1.NotAfter.Equal(notAfter) {
		t.Fatalf("AddDeviceKey(ES256 PEM) = %+v, %v", k1, err)
	}
	k2, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", apiv1.AddDeviceKeyRequest{
		JWK: json.RawMessage(fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q}`, b64(edPub)))}))
	if err != nil || k2.Algorithm != "EdDSA" {
		t.Fatalf("AddDeviceKey(Ed25519 JWK) = %+v, %v", k2, err)
	}
	k3, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &rsaKey.PublicKey), Algorithm: "RS256"}))
	if err != nil || k3.Algorithm != "RS256" {
		t.Fatalf("AddDeviceKey(RSA PEM) = %+v, %v", k3, err)
	}
	k4, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", apiv1.AddDeviceKeyRequest{JWK: ecJWK(t, &ecKey.PublicKey, "mine")}))
	if err != nil || k4.Algorithm != "ES256" || k4.PublicKeyPEM != k1.PublicKeyPEM {
		t.Fatalf("AddDeviceKey(EC JWK) = %+v, %v", k4, err)
	}

	// What a gateway reads: keys.<kid> with the tenant and device.
	entry, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.KeyKey(k1.ID))
	if err != nil {
		t.Fatalf("keys.%s: %v", k1.ID, err)
	}
	var stored tenant.Key
	if err := json.Unmarshal(entry.Value(), &stored); err != nil || stored.TenantID != tid || stored.DeviceID != "sensor-7" ||
		stored.Kind != tenant.KeyDevice || stored.Algorithm != tenant.ES256 || stored.NotAfter == nil {
		t.Fatalf("stored key = %+v, %v", stored, err)
	}

	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	past := time.Now().Add(-time.Hour)
	for _, tt := range []struct {
		name  string
		req   apiv1.AddDeviceKeyRequest
		field string
		msg   string
	}{
		{"nothing", apiv1.AddDeviceKeyRequest{}, "public_key_pem", "required"},
		{"both", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey), JWK: ecJWK(t, &ecKey.PublicKey, "")}, "jwk", "either"},
		{"not pem", apiv1.AddDeviceKeyRequest{PublicKeyPEM: "hello"}, "public_key_pem", "PEM"},
		{"private key", apiv1.AddDeviceKeyRequest{PublicKeyPEM: privPEM}, "public_key_pem", "private key"},
		{"rsa 1024", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &small.PublicKey)}, "public_key_pem", "2048"},
		{"p-384", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &p384.PublicKey)}, "public_key_pem", "P-256"},
		{"alg mismatch", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey), Algorithm: "RS256"}, "algorithm", "ES256"},
		{"past not_after", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey), NotAfter: &past}, "not_after", "past"},
		{"jwk private", apiv1.AddDeviceKeyRequest{JWK: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"` + b64(edPub) + `","d":"AAAA"}`)}, "jwk", "private"},
		{"jwk hmac", apiv1.AddDeviceKeyRequest{JWK: json.RawMessage(`{"kty":"oct","k":"c2VjcmV0"}`)}, "jwk.kty", "symmetric"},
		{"jwk alg mismatch", apiv1.AddDeviceKeyRequest{JWK: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","alg":"ES256","x":"` + b64(edPub) + `"}`)}, "jwk.alg", "EdDSA"},
		{"jwk bad curve point", apiv1.AddDeviceKeyRequest{JWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"}`)}, "jwk", "P-256"},
	} {
		_, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", tt.req))
		ae := wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, tt.field)
		if !strings.Contains(ae.Message, tt.msg) {
			t.Errorf("%s: message %q does not mention %q", tt.name, ae.Message, tt.msg)
		}
	}
	_, err = apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "nope", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey)}))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")

	keys, err := apiv1.OK(c.ListDeviceKeysWithResponse(ctx, "sensor-7"))
	if err != nil || len(keys.Items) != 4 {
		t.Fatalf("ListDeviceKeys = %d keys, %v; want 4", len(keys.Items), err)
	}
	if err := apiv1.NoContent(c.DeleteDeviceKeyWithResponse(ctx, "sensor-7", k1.ID)); err != nil {
		t.Fatalf("DeleteDeviceKey: %v", err)
	}
	if keys, _ := apiv1.OK(c.ListDeviceKeysWithResponse(ctx, "sensor-7")); len(keys.Items) != 3 {
		t.Errorf("after delete: %d keys, want 3", len(keys.Items))
	}
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.KeyKey(k1.ID)); err == nil {
		t.Error("deleted key still in the config bucket")
	}
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.RevokedKey(tid, tenant.RevokeKey, k1.ID)); err != nil {
		t.Errorf("no key revocation after delete: %v", err)
	}
	err = apiv1.NoContent(c.DeleteDeviceKeyWithResponse(ctx, "sensor-7", k1.ID))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	// A key of another device of the same tenant is not this device's.
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "other"})); err != nil {
		t.Fatal(err)
	}
	err = apiv1.NoContent(c.DeleteDeviceKeyWithResponse(ctx, "other", k2.ID))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	// Deleting the device deletes its keys.
	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "sensor-7")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{k2.ID, k3.ID, k4.ID} {
		if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.KeyKey(k)); err == nil {
			t.Errorf("key %s survived the deletion of its device", k)
		}
	}
}

// verifyPlatformToken checks a token the way a gateway does: with the
// public key from keys.<kid> in the config bucket.
func verifyPlatformToken(t testing.TB, e *env, token string) (*jwt.Token, jwt.RegisteredClaims) {
	t.Helper()
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(token, &claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		entry, err := e.kv(tenant.ConfigBucket).Get(context.Background(), tenant.KeyKey(kid))
		if err != nil {
			return nil, err
		}
		var k tenant.Key
		if err := json.Unmarshal(entry.Value(), &k); err != nil {
			return nil, err
		}
		block, _ := pem.Decode([]byte(k.PublicKeyPEM))
		return x509.ParsePKIXPublicKey(block.Bytes)
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience("flockmq"), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return tok, claims
}

func TestIssueToken(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"})); err != nil {
		t.Fatal(err)
	}
	it, err := apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 600}))
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	if it.KeyID != resp.PlatformKey.ID || it.DeviceID != "sensor-7" || it.TokenID == "" {
		t.Errorf("IssueToken = %+v", it)
	}
	tok, claims := verifyPlatformToken(t, e, it.Token)
	if tok.Header["kid"] != resp.PlatformKey.ID || tok.Method.Alg() != "ES256" {
		t.Errorf("header = %v", tok.Header)
	}
	if claims.Subject != "sensor-7" || claims.ID != it.TokenID || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != 10*time.Minute {
		t.Errorf("claims = %+v", claims)
	}
	if def, err := apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{})); err != nil || time.Until(def.ExpiresAt) < 59*time.Minute {
		t.Errorf("default ttl token = %+v, %v; want about an hour", def, err)
	}

	_, err = apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 25 * 3600}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "ttl_seconds")
	_, err = apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 10}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "ttl_seconds")
	_, err = apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "nope", apiv1.IssueTokenRequest{TTLSeconds: 3600}))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	yes := true
	if _, err := apiv1.OK(c.UpdateDeviceWithResponse(ctx, "sensor-7", apiv1.UpdateDeviceRequest{Disabled: &yes})); err != nil {
		t.Fatal(err)
	}
	_, err = apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 3600}))
	wantAPIError(t, err, 409, apiv1.CodeFailedPrecondition, "")
}

func TestIssuerKeys(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)

	pemKeys, err := apiv1.Created(c.AddIssuerKeysWithResponse(ctx, apiv1.AddIssuerKeysRequest{PublicKeyPEM: pubPEM(t, &ec1.PublicKey)}))
	if err != nil || len(pemKeys.Items) != 1 || !strings.HasPrefix(pemKeys.Items[0].ID, "ik_") || pemKeys.Items[0].Kind != "issuer" {
		t.Fatalf("AddIssuerKeys(PEM) = %+v, %v", pemKeys, err)
	}
	jwks := json.RawMessage(fmt.Sprintf(`{"keys":[%s,{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":%q}]}`, ecJWK(t, &ec2.PublicKey, "ec-2"), b64(edPub)))
	set, err := apiv1.Created(c.AddIssuerKeysWithResponse(ctx, apiv1.AddIssuerKeysRequest{JWKS: jwks}))
	if err != nil || len(set.Items) != 2 || set.Items[0].SourceKID != "ec-2" || set.Items[1].SourceKID != "ed-1" || set.Items[1].Algorithm != "EdDSA" {
		t.Fatalf("AddIssuerKeys(JWKS) = %+v, %v", set, err)
	}
	for _, tt := range []struct {
		req   apiv1.AddIssuerKeysRequest
		field string
	}{
		{apiv1.AddIssuerKeysRequest{}, "public_key_pem"},
		{apiv1.AddIssuerKeysRequest{JWKS: json.RawMessage(`{"keys":[]}`)}, "jwks.keys"},
		{apiv1.AddIssuerKeysRequest{JWKS: json.RawMessage(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)}, "jwks.keys[0]"},
		{apiv1.AddIssuerKeysRequest{JWKS: json.RawMessage(fmt.Sprintf(`{"keys":[%s,{"kty":"EC","crv":"P-384"}]}`, ecJWK(t, &ec2.PublicKey, "")))}, "jwks.keys[1].crv"},
		{apiv1.AddIssuerKeysRequest{JWKS: json.RawMessage(`[1,2]`)}, "jwks"},
	} {
		_, err := apiv1.Created(c.AddIssuerKeysWithResponse(ctx, tt.req))
		wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, tt.field)
	}
	list, err := apiv1.OK(c.ListIssuerKeysWithResponse(ctx))
	if err != nil || len(list.Items) != 4 || list.Items[0].Kind != "platform" || list.Items[0].ID != resp.PlatformKey.ID {
		t.Fatalf("ListIssuerKeys = %+v, %v; want the platform key and 3 issuer keys", list, err)
	}
	if err := apiv1.NoContent(c.DeleteIssuerKeyWithResponse(ctx, set.Items[0].ID)); err != nil {
		t.Fatalf("DeleteIssuerKey: %v", err)
	}
	if list, _ := apiv1.OK(c.ListIssuerKeysWithResponse(ctx)); len(list.Items) != 3 {
		t.Errorf("after delete: %d keys, want 3", len(list.Items))
	}
	err = apiv1.NoContent(c.DeleteIssuerKeyWithResponse(ctx, set.Items[0].ID))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	err = apiv1.NoContent(c.DeleteIssuerKeyWithResponse(ctx, resp.PlatformKey.ID))
	wantAPIError(t, err, 409, apiv1.CodeFailedPrecondition, "")
}

func TestRevocations(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	tid := resp.Tenant.ID
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"})); err != nil {
		t.Fatal(err)
	}
	rv, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "device", ID: "sensor-7"}))
	if err != nil || rv.Kind != "device" || rv.ID != "sensor-7" {
		t.Fatalf("Revoke(device) = %+v, %v", rv, err)
	}
	// The record gateways read.
	var stored tenant.Revocation
	entry, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.RevokedKey(tid, tenant.RevokeDevice, "sensor-7"))
	if err != nil || json.Unmarshal(entry.Value(), &stored) != nil {
		t.Fatalf("revocation record: %v", err)
	}
	if stored.TenantID != tid || stored.Kind != tenant.RevokeDevice || stored.ID != "sensor-7" || time.Since(stored.RevokedAt) > time.Minute {
		t.Errorf("stored revocation = %+v", stored)
	}

	// Token revocation, with a jti that is not a valid KV token.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	rv, err = apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: "urn:uuid:1234/5", ExpiresAt: &exp}))
	if err != nil || rv.ExpiresAt == nil || !rv.ExpiresAt.Equal(exp) {
		t.Fatalf("Revoke(token) = %+v, %v", rv, err)
	}
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.RevokedKey(tid, tenant.RevokeToken, tenant.TokenRevocationID("urn:uuid:1234/5"))); err != nil {
		t.Errorf("token revocation not stored under TokenRevocationID: %v", err)
	}

	// Revoking the platform key rotates it.
	rv, err = apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "key", ID: resp.PlatformKey.ID}))
	if err != nil || rv.Kind != "key" {
		t.Fatalf("Revoke(platform key) = %+v, %v", rv, err)
	}
	keys, err := apiv1.OK(c.ListIssuerKeysWithResponse(ctx))
	if err != nil || len(keys.Items) != 1 || keys.Items[0].ID == resp.PlatformKey.ID || keys.Items[0].Kind != "platform" {
		t.Fatalf("after rotation, keys = %+v, %v", keys, err)
	}
	it2, err := apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 3600}))
	if err != nil || it2.KeyID != keys.Items[0].ID {
		t.Fatalf("token after rotation = %+v, %v; want signed by %s", it2, err, keys.Items[0].ID)
	}
	verifyPlatformToken(t, e, it2.Token)

	list, err := apiv1.OK(c.ListRevocationsWithResponse(ctx))
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("ListRevocations = %+v, %v; want 3", list, err)
	}

	past := time.Now().Add(-time.Minute)
	for _, tt := range []struct {
		req    apiv1.CreateRevocationRequest
		status int
		field  string
	}{
		{apiv1.CreateRevocationRequest{Kind: "session", ID: "x"}, 400, "kind"},
		{apiv1.CreateRevocationRequest{Kind: "token"}, 400, "id"},
		{apiv1.CreateRevocationRequest{Kind: "token", ID: "x", ExpiresAt: &past}, 400, "expires_at"},
		{apiv1.CreateRevocationRequest{Kind: "device", ID: "nope"}, 404, ""},
		{apiv1.CreateRevocationRequest{Kind: "key", ID: "dk_nope"}, 404, ""},
	} {
		_, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, tt.req))
		code := apiv1.CodeInvalidArgument
		if tt.status == 404 {
			code = apiv1.CodeNotFound
		}
		wantAPIError(t, err, tt.status, code, tt.field)
	}
}

// TestExpiredRevocationsArePruned uses an injected clock.
func TestExpiredRevocationsArePruned(t *testing.T) {
	ns := newEnv(t, testConfig()).nats
	cfg := testConfig()
	var offset atomic.Int64
	e := newEnvClock(t, ns, cfg, func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	ctx := context.Background()
	c, resp := e.signup("acme")
	exp := time.Now().Add(time.Hour)
	if _, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: "jti-1", ExpiresAt: &exp})); err != nil {
		t.Fatal(err)
	}
	if _, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: "jti-2"})); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(2 * time.Hour))
	list, err := apiv1.OK(c.ListRevocationsWithResponse(ctx))
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != "jti-2" {
		t.Fatalf("ListRevocations after expiry = %+v, %v; want only jti-2", list, err)
	}
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.RevokedKey(resp.Tenant.ID, tenant.RevokeToken, "jti-1")); err == nil {
		t.Error("expired revocation still in the config bucket")
	}
}

// TestTokenRevocationExpiresThroughKVTTL: a revocation with expires_at (of
// a token or a device) is written with a KV per-key TTL, so the server itself removes it when it
// ends, with no request to the control plane (ListRevocations, which also
// drops expired ones, is not called before the key is gone). A key
// revocation never ends, so it refuses expires_at.
func TestTokenRevocationExpiresThroughKVTTL(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	kv := e.kv(tenant.ConfigBucket)
	// revoke stores a revocation ending 3s from now and checks at once that
	// it is there (each gets its own expiry, however slow the machine).
	revoke := func(kind apiv1.RevocationKind, id, key string) {
		t.Helper()
		exp := time.Now().Add(3 * time.Second)
		if _, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: kind, ID: id, ExpiresAt: &exp})); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(ctx, key); err != nil && time.Now().Before(exp) {
			t.Fatalf("revocation %s was not stored: %v", key, err)
		}
	}
	short := tenant.RevokedKey(resp.Tenant.ID, tenant.RevokeToken, "jti-short")
	revoke("token", "jti-short", short)
	if _, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: "jti-forever"})); err != nil {
		t.Fatal(err)
	}
	createDevices(t, c, "sensor-7")
	device := tenant.RevokedKey(resp.Tenant.ID, tenant.RevokeDevice, "sensor-7")
	revoke("device", "sensor-7", device)
	for _, key := range []string{short, device} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := kv.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("revocation %s is still in the bucket 20s after its TTL", key)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := kv.Get(ctx, tenant.RevokedKey(resp.Tenant.ID, tenant.RevokeToken, "jti-forever")); err != nil {
		t.Errorf("a revocation without expires_at is gone: %v", err)
	}
	later := time.Now().Add(time.Hour)
	_, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "key", ID: resp.PlatformKey.ID, ExpiresAt: &later}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "expires_at")
}
