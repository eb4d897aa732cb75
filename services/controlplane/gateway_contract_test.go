package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/auth/keycache"
)

// TestGatewayVerifiesWhatTheControlPlaneWrites runs the gateway's key cache
// and JWT verifier against the buckets this control plane writes: the
// contract of pkg/tenant, end to end, for all three token shapes and for
// revocation.
func TestGatewayVerifiesWhatTheControlPlaneWrites(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, _ := e.signup("acme")
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"})); err != nil {
		t.Fatal(err)
	}

	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := keycache.New(keycache.Config{}, keycache.Deps{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cache.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	v, err := jwtauth.New(jwtauth.Config{CacheSize: -1}, jwtauth.Deps{Keys: cache})
	if err != nil {
		t.Fatal(err)
	}
	// eventually polls the verifier until want(err) holds: the cache follows
	// the bucket asynchronously.
	eventually := func(what, token string, want func(error) bool) auth.Identity {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			id, err := v.Authenticate(ctx, auth.Request{ClientID: "sensor-7", Password: []byte(token)})
			if want(err) {
				return id
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Authenticate = %+v, %v", what, id, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ok := func(err error) bool { return err == nil }
	refused := func(err error) bool {
		return errors.Is(err, auth.ErrNotAuthorized) || errors.Is(err, auth.ErrBadCredentials)
	}

	// 1. Platform-issued token.
	it, err := apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 3600}))
	if err != nil {
		t.Fatal(err)
	}
	ten, _ := apiv1.OK(c.GetTenantWithResponse(ctx))
	id := eventually("platform token", it.Token, ok)
	if id.Tenant != ten.ID || id.Device != "sensor-7" || id.TokenID != it.TokenID {
		t.Errorf("identity = %+v", id)
	}

	// 2. Device-signed token with a registered key.
	dkey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &dkey.PublicKey)}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	devTok, err := jwtauth.Sign("ES256", dkey, dk.ID, jwtauth.Claims{Subject: "sensor-7", Audience: []string{"flockmq"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	eventually("device-signed token", devTok, ok)

	// 3. Tenant-signed token with an issuer key.
	ikey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iks, err := apiv1.Created(c.AddIssuerKeysWithResponse(ctx, apiv1.AddIssuerKeysRequest{PublicKeyPEM: pubPEM(t, &ikey.PublicKey)}))
	if err != nil {
		t.Fatal(err)
	}
	issTok, err := jwtauth.Sign("ES256", ikey, iks.Items[0].ID, jwtauth.Claims{Subject: "sensor-7", Audience: []string{"flockmq"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "iss-1"})
	if err != nil {
		t.Fatal(err)
	}
	eventually("tenant-signed token", issTok, ok)

	// Revocations reach the verifier.
	if _, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: it.TokenID})); err != nil {
		t.Fatal(err)
	}
	eventually("revoked platform token", it.Token, refused)
	if err := apiv1.NoContent(c.DeleteDeviceKeyWithResponse(ctx, "sensor-7", dk.ID)); err != nil {
		t.Fatal(err)
	}
	eventually("token of a deleted device key", devTok, refused)
	if err := apiv1.NoContent(c.DeleteIssuerKeyWithResponse(ctx, iks.Items[0].ID)); err != nil {
		t.Fatal(err)
	}
	eventually("token of a deleted issuer key", issTok, refused)

	// Disabling the device refuses its fresh tokens too.
	fresh, err := apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, "sensor-7", apiv1.IssueTokenRequest{TTLSeconds: 3600}))
	if err != nil {
		t.Fatal(err)
	}
	eventually("fresh platform token", fresh.Token, ok)
	yes := true
	if _, err := apiv1.OK(c.UpdateDeviceWithResponse(ctx, "sensor-7", apiv1.UpdateDeviceRequest{Disabled: &yes})); err != nil {
		t.Fatal(err)
	}
	eventually("token of a disabled device", fresh.Token, refused)

	// Disabling the tenant refuses all its devices.
	no := false
	if _, err := apiv1.OK(c.UpdateDeviceWithResponse(ctx, "sensor-7", apiv1.UpdateDeviceRequest{Disabled: &no})); err != nil {
		t.Fatal(err)
	}
	eventually("token of the re-enabled device", fresh.Token, ok)
	if _, err := apiv1.OK(e.admin().AdminUpdateTenantWithResponse(ctx, ten.ID, apiv1.AdminUpdateTenantRequest{Disabled: new(true)})); err != nil {
		t.Fatal(err)
	}
	eventually("token of a disabled tenant", fresh.Token, refused)
}
