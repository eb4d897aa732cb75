package keycache_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestVerifierFollowsBucket: a gateway's verifier over a Cache accepts a
// device once the control plane registered it and refuses it again as
// soon as a revocation reaches the bucket, with the event that ends its
// live session.
func TestVerifierFollowsBucket(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	kv := createBucket(t, js)
	c, ev := startCache(t, js)
	waitReady(t, c)
	v, err := jwtauth.New(jwtauth.Config{}, jwtauth.Deps{Keys: c, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM(t) // generates signer
	token, err := jwtauth.Sign(tenant.ES256, signer, "pk_1", jwtauth.Claims{
		Subject: "dev-1", Audience: []string{"flockmq"}, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour), ID: "jti-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	req := auth.Request{ClientID: "dev-1", Password: []byte(token)}
	authenticate := func() error { _, err := v.Authenticate(context.Background(), req); return err }
	if err := authenticate(); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("before registration: err = %v, want bad credentials (unknown key)", err)
	}

	put(t, kv, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha"})
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-1"), device("t-alpha", "dev-1"))
	put(t, kv, tenant.KeyKey("pk_1"), keyRec(t, "pk_1", "t-alpha", tenant.KeyPlatform, ""))
	checkFor(t, 10*time.Second, authenticate)

	put(t, kv, tenant.RevokedKey("t-alpha", tenant.RevokeToken, "jti-1"),
		tenant.Revocation{TenantID: "t-alpha", Kind: tenant.RevokeToken, ID: "jti-1", RevokedAt: now})
	checkFor(t, 10*time.Second, func() error {
		if err := authenticate(); !errors.Is(err, auth.ErrNotAuthorized) {
			return fmt.Errorf("after revocation: err = %v, want not authorized", err)
		}
		return nil
	})
	id := auth.Identity{Tenant: "t-alpha", Device: "dev-1", CredentialID: "pk_1", TokenID: "jti-1"}
	for _, r := range ev.waitFor(t, 0, auth.Revocation{Tenant: "t-alpha", TokenID: "jti-1"}) {
		if !r.Covers(id) {
			t.Errorf("event %+v does not cover the session %+v", r, id)
		}
	}
}
