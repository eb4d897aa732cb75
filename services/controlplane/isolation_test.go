package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/api/controlplane/v1/client"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestTenantIsolation: tenant B can neither see nor change tenant A's
// resources, and every attempt answers 404 exactly like a missing resource.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	a, ra := e.signup("alpha")
	b, _ := e.signup("beta")
	if _, err := a.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: "shared-name", Tags: map[string]string{"owner": "a"}}); err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, err := a.AddDeviceKey(ctx, "shared-name", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ec.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	ik, err := a.AddIssuerKeys(ctx, apiv1.AddIssuerKeysRequest{PublicKeyPEM: pubPEM(t, &ec.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: "a-token"}); err != nil {
		t.Fatal(err)
	}
	yes := true
	attempts := []struct {
		name string
		do   func() error
	}{
		{"get device", func() error { _, err := b.GetDevice(ctx, "shared-name"); return err }},
		{"patch device", func() error {
			_, err := b.UpdateDevice(ctx, "shared-name", apiv1.UpdateDeviceRequest{Disabled: &yes})
			return err
		}},
		{"delete device", func() error { return b.DeleteDevice(ctx, "shared-name") }},
		{"add device key", func() error {
			_, err := b.AddDeviceKey(ctx, "shared-name", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ec.PublicKey)})
			return err
		}},
		{"list device keys", func() error { _, err := b.ListDeviceKeys(ctx, "shared-name"); return err }},
		{"delete device key", func() error { return b.DeleteDeviceKey(ctx, "shared-name", dk.ID) }},
		{"issue token", func() error { _, err := b.IssueToken(ctx, "shared-name", time.Hour); return err }},
		{"delete issuer key", func() error { return b.DeleteIssuerKey(ctx, ik[0].ID) }},
		{"delete platform key", func() error { return b.DeleteIssuerKey(ctx, ra.PlatformKey.ID) }},
		{"delete API key", func() error { return b.DeleteAPIKey(ctx, ra.APIKey.ID) }},
		{"revoke device", func() error {
			_, err := b.Revoke(ctx, apiv1.CreateRevocationRequest{Kind: "device", ID: "shared-name"})
			return err
		}},
		{"revoke key", func() error {
			_, err := b.Revoke(ctx, apiv1.CreateRevocationRequest{Kind: "key", ID: dk.ID})
			return err
		}},
		{"revoke platform key", func() error {
			_, err := b.Revoke(ctx, apiv1.CreateRevocationRequest{Kind: "key", ID: ra.PlatformKey.ID})
			return err
		}},
	}
	for _, at := range attempts {
		err := at.do()
		ae, ok := err.(*client.Error)
		if !ok || ae.Status != 404 || ae.Code != apiv1.CodeNotFound {
			t.Errorf("tenant B %s of tenant A: %v, want 404 not_found", at.name, err)
		}
	}
	// B's listings show none of A's.
	if page, err := b.ListDevices(ctx, client.ListDevicesOptions{}); err != nil || len(page.Items) != 0 {
		t.Errorf("B lists devices %+v, %v", page.Items, err)
	}
	if keys, err := b.ListIssuerKeys(ctx); err != nil || len(keys) != 1 || keys[0].ID == ra.PlatformKey.ID {
		t.Errorf("B lists issuer keys %+v, %v; want only its own platform key", keys, err)
	}
	if keys, err := b.ListAPIKeys(ctx); err != nil || len(keys) != 1 || keys[0].ID == ra.APIKey.ID {
		t.Errorf("B lists API keys %+v, %v", keys, err)
	}
	if revs, err := b.ListRevocations(ctx); err != nil || len(revs) != 0 {
		t.Errorf("B lists revocations %+v, %v", revs, err)
	}
	// B may use the same device id for its own device.
	if _, err := b.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: "shared-name"}); err != nil {
		t.Errorf("B creates its own shared-name: %v", err)
	}
	// A's resources are untouched.
	d, err := a.GetDevice(ctx, "shared-name")
	if err != nil || d.Disabled || d.Tags["owner"] != "a" {
		t.Errorf("A's device after B's attempts = %+v, %v", d, err)
	}
	if keys, err := a.ListDeviceKeys(ctx, "shared-name"); err != nil || len(keys) != 1 {
		t.Errorf("A's device keys = %+v, %v", keys, err)
	}
	if _, err := a.Tenant(ctx); err != nil {
		t.Errorf("A's API key after B's attempts: %v", err)
	}
	if revs, err := a.ListRevocations(ctx); err != nil || len(revs) != 1 {
		t.Errorf("A's revocations = %+v, %v", revs, err)
	}
}

// TestSecretsAreNotStoredInClear: no bucket value holds an API key's secret,
// and the gateway-facing bucket holds no private key.
func TestSecretsAreNotStoredInClear(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	extra, err := c.CreateAPIKey(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, k := range []string{resp.APIKey.Key, extra.Key} {
		secrets = append(secrets, k[strings.LastIndexByte(k, '_')+1:])
	}
	for _, bucket := range []string{tenant.ConfigBucket, tenant.SecretsBucket} {
		kv := e.kv(bucket)
		keys, err := kv.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			entry, err := kv.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			v := string(entry.Value())
			for _, s := range secrets {
				if strings.Contains(v, s) {
					t.Errorf("%s/%s holds an API key secret in clear", bucket, k)
				}
			}
			if bucket == tenant.ConfigBucket && strings.Contains(v, "PRIVATE KEY") {
				t.Errorf("%s/%s holds a private key; gateways read this bucket", bucket, k)
			}
		}
	}
	// The signing private key is where the contract puts it.
	if _, err := e.kv(tenant.SecretsBucket).Get(ctx, tenant.SigningKey(resp.Tenant.ID, resp.PlatformKey.ID)); err != nil {
		t.Errorf("signing key not at %s: %v", tenant.SigningKey(resp.Tenant.ID, resp.PlatformKey.ID), err)
	}
}

// TestTwoInstances: two control planes over one NATS serve one consistent
// API; optimistic concurrency holds across them.
func TestTwoInstances(t *testing.T) {
	e1 := newEnv(t, testConfig())
	e2 := newEnvOn(t, e1.nats, testConfig())
	ctx := context.Background()
	c1, resp := e1.signup("acme")
	c2 := e2.client(resp.APIKey.Key)
	if got, err := c2.Tenant(ctx); err != nil || got.ID != resp.Tenant.ID {
		t.Fatalf("instance 2 does not know the tenant made on instance 1: %+v, %v", got, err)
	}
	if _, err := c1.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: "d1"}); err != nil {
		t.Fatal(err)
	}
	_, err := c2.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: "d1"})
	wantAPIError(t, err, 409, apiv1.CodeAlreadyExists, "id")
	tags := map[string]string{"via": "two"}
	if _, err := c2.UpdateDevice(ctx, "d1", apiv1.UpdateDeviceRequest{Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	if d, err := c1.GetDevice(ctx, "d1"); err != nil || d.Tags["via"] != "two" {
		t.Errorf("instance 1 sees %+v, %v", d, err)
	}
	// Concurrent creates of one id on both instances: exactly one wins.
	errs := make(chan error, 2)
	for _, c := range []*client.Client{c1, c2} {
		go func() {
			_, err := c.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: "race"})
			errs <- err
		}()
	}
	e1err, e2err := <-errs, <-errs
	if (e1err == nil) == (e2err == nil) {
		t.Errorf("concurrent creates: %v and %v; want exactly one success", e1err, e2err)
	}
	// Concurrent patches on both instances all land (retried on conflict).
	done := make(chan error, 20)
	for i := range 20 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		go func() {
			md := map[string]string{"n": "x"}
			_, err := c.UpdateDevice(ctx, "d1", apiv1.UpdateDeviceRequest{Metadata: &md})
			done <- err
		}()
	}
	for range 20 {
		if err := <-done; err != nil {
			t.Errorf("concurrent patch: %v", err)
		}
	}
	// A key deleted through one instance stops working on the other.
	k, err := c1.CreateAPIKey(ctx, "temp")
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.DeleteAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e1.client(k.Key).Tenant(ctx)
	wantAPIError(t, err, 401, apiv1.CodeUnauthenticated, "")
}

// TestDeviceQuotaAcrossInstances: concurrent creates through two instances
// never exceed the quota.
func TestDeviceQuotaAcrossInstances(t *testing.T) {
	e1 := newEnv(t, testConfig())
	e2 := newEnvOn(t, e1.nats, testConfig())
	ctx := context.Background()
	c1, resp := e1.signup("acme")
	c2 := e2.client(resp.APIKey.Key)
	if _, err := e1.admin().AdminPutQuotas(ctx, resp.Tenant.ID, apiv1.Quotas{MaxDevices: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: "first"}); err != nil { // creates the counter
		t.Fatal(err)
	}
	results := make(chan error, 30)
	for i := range 30 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		go func() {
			_, err := c.CreateDevice(ctx, apiv1.CreateDeviceRequest{ID: fmt.Sprintf("d%02d", i)})
			results <- err
		}()
	}
	created := 0
	for range 30 {
		err := <-results
		if err == nil {
			created++
			continue
		}
		if ae, ok := err.(*client.Error); !ok || ae.Code != apiv1.CodeFailedPrecondition {
			t.Errorf("create beyond the quota = %v, want 409 failed_precondition", err)
		}
	}
	if created != 9 {
		t.Errorf("%d creates succeeded, want 9 (quota 10, one existing)", created)
	}
	if ten, err := c1.Tenant(ctx); err != nil || ten.Usage.Devices != 10 {
		t.Errorf("usage = %+v, %v; want 10", ten.Usage, err)
	}
}
