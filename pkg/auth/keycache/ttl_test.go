package keycache_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestRevocationDroppedWhenItsTTLExpires: a revocation written with a KV
// per-key TTL (as the control plane writes token revocations) leaves the
// cache when the server removes it: the watcher sees the marker the
// server leaves, as a purge. The value's own ExpiresAt lies far beyond the
// cache's clock, so only the marker can have removed it.
func TestRevocationDroppedWhenItsTTLExpires(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: tenant.ConfigBucket, History: 1,
		Storage: jetstream.FileStorage, LimitMarkerTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c, ev := startCache(t, js)
	waitReady(t, c)

	kept := tenant.Revocation{TenantID: "t-a", Kind: tenant.RevokeToken, ID: "jti-kept", RevokedAt: now}
	put(t, kv, tenant.RevokedKey("t-a", tenant.RevokeToken, "jti-kept"), kept)
	far := now.Add(24 * time.Hour)
	rv := tenant.Revocation{TenantID: "t-a", Kind: tenant.RevokeToken, ID: "jti-1", RevokedAt: now, ExpiresAt: &far}
	data, err := json.Marshal(rv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, tenant.RevokedKey("t-a", tenant.RevokeToken, "jti-1"), data, jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The revocation arrived: it ended the token's sessions.
	ev.waitFor(t, 0, auth.Revocation{Tenant: "t-a", TokenID: "jti-1"})

	checkFor(t, 20*time.Second, func() error {
		if _, ok := c.Revocation("t-a", tenant.RevokeToken, "jti-1"); ok {
			return errors.New("the revocation is still cached after its TTL")
		}
		return nil
	})
	if _, ok := c.Revocation("t-a", tenant.RevokeToken, "jti-kept"); !ok {
		t.Error("a revocation without a TTL was dropped")
	}
	if _, err := kv.Get(ctx, tenant.RevokedKey("t-a", tenant.RevokeToken, "jti-1")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("Get after the TTL = %v, want ErrKeyNotFound", err)
	}
}
