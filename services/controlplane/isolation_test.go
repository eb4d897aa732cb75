package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestTenantIsolation: tenant B can neither see nor change tenant A's
// resources, and every attempt answers 404 exactly like a missing resource.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	a, ra := e.signup("alpha")
	b, _ := e.signup("beta")
	if _, err := apiv1.Created(a.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "shared-name", Tags: map[string]string{"owner": "a"}})); err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, err := apiv1.Created(a.AddDeviceKeyWithResponse(ctx, "shared-name", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ec.PublicKey)}))
	if err != nil {
		t.Fatal(err)
	}
	ik, err := apiv1.Created(a.AddIssuerKeysWithResponse(ctx, apiv1.AddIssuerKeysRequest{PublicKeyPEM: pubPEM(t, &ec.PublicKey)}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apiv1.Created(a.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "token", ID: "a-token"})); err != nil {
		t.Fatal(err)
	}
	yes := true
	attempts := []struct {
		name string
		do   func() error
	}{
		{"get device", func() error { _, err := apiv1.OK(b.GetDeviceWithResponse(ctx, "shared-name")); return err }},
		{"patch device", func() error {
			_, err := apiv1.OK(b.UpdateDeviceWithResponse(ctx, "shared-name", apiv1.UpdateDeviceRequest{Disabled: &yes}))
			return err
		}},
		{"delete device", func() error { return apiv1.NoContent(b.DeleteDeviceWithResponse(ctx, "shared-name")) }},
		{"add device key", func() error {
			_, err := apiv1.Created(b.AddDeviceKeyWithResponse(ctx, "shared-name", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ec.PublicKey)}))
			return err
		}},
		{"list device keys", func() error { _, err := apiv1.OK(b.ListDeviceKeysWithResponse(ctx, "shared-name")); return err }},
		{"delete device key", func() error { return apiv1.NoContent(b.DeleteDeviceKeyWithResponse(ctx, "shared-name", dk.ID)) }},
		{"issue token", func() error {
			_, err := apiv1.Created(b.IssueDeviceTokenWithResponse(ctx, "shared-name", apiv1.IssueTokenRequest{TTLSeconds: 3600}))
			return err
		}},
		{"delete issuer key", func() error { return apiv1.NoContent(b.DeleteIssuerKeyWithResponse(ctx, ik.Items[0].ID)) }},
		{"delete platform key", func() error { return apiv1.NoContent(b.DeleteIssuerKeyWithResponse(ctx, ra.PlatformKey.ID)) }},
		{"delete API key", func() error { return apiv1.NoContent(b.DeleteAPIKeyWithResponse(ctx, ra.APIKey.ID)) }},
		{"revoke device", func() error {
			_, err := apiv1.Created(b.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "device", ID: "shared-name"}))
			return err
		}},
		{"revoke key", func() error {
			_, err := apiv1.Created(b.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "key", ID: dk.ID}))
			return err
		}},
		{"revoke platform key", func() error {
			_, err := apiv1.Created(b.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: "key", ID: ra.PlatformKey.ID}))
			return err
		}},
	}
	for _, at := range attempts {
		err := at.do()
		ae, ok := errors.AsType[*apiv1.APIError](err)
		if !ok || ae.Status != 404 || ae.Code != apiv1.CodeNotFound {
			t.Errorf("tenant B %s of tenant A: %v, want 404 not_found", at.name, err)
		}
	}
	// B's listings show none of A's.
	if page, err := apiv1.OK(b.ListDevicesWithResponse(ctx, nil)); err != nil || len(page.Items) != 0 {
		t.Errorf("B lists devices %+v, %v", page.Items, err)
	}
	if keys, err := apiv1.OK(b.ListIssuerKeysWithResponse(ctx)); err != nil || len(keys.Items) != 1 || keys.Items[0].ID == ra.PlatformKey.ID {
		t.Errorf("B lists issuer keys %+v, %v; want only its own platform key", keys, err)
	}
	if keys, err := apiv1.OK(b.ListAPIKeysWithResponse(ctx)); err != nil || len(keys.Items) != 1 || keys.Items[0].ID == ra.APIKey.ID {
		t.Errorf("B lists API keys %+v, %v", keys, err)
	}
	if revs, err := apiv1.OK(b.ListRevocationsWithResponse(ctx)); err != nil || len(revs.Items) != 0 {
		t.Errorf("B lists revocations %+v, %v", revs, err)
	}
	// B may use the same device id for its own device.
	if _, err := apiv1.Created(b.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "shared-name"})); err != nil {
		t.Errorf("B creates its own shared-name: %v", err)
	}
	// A's resources are untouched.
	d, err := apiv1.OK(a.GetDeviceWithResponse(ctx, "shared-name"))
	if err != nil || d.Disabled || d.Tags["owner"] != "a" {
		t.Errorf("A's device after B's attempts = %+v, %v", d, err)
	}
	if keys, err := apiv1.OK(a.ListDeviceKeysWithResponse(ctx, "shared-name")); err != nil || len(keys.Items) != 1 {
		t.Errorf("A's device keys = %+v, %v", keys, err)
	}
	if _, err := apiv1.OK(a.GetTenantWithResponse(ctx)); err != nil {
		t.Errorf("A's API key after B's attempts: %v", err)
	}
	if revs, err := apiv1.OK(a.ListRevocationsWithResponse(ctx)); err != nil || len(revs.Items) != 1 {
		t.Errorf("A's revocations = %+v, %v", revs, err)
	}
}

// TestSecretsAreNotStoredInClear: no bucket value holds an API key's secret,
// and the gateway-facing bucket holds no private key.
func TestSecretsAreNotStoredInClear(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	extra, err := apiv1.Created(c.CreateAPIKeyWithResponse(ctx, apiv1.CreateAPIKeyRequest{Name: "second"}))
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
	if got, err := apiv1.OK(c2.GetTenantWithResponse(ctx)); err != nil || got.ID != resp.Tenant.ID {
		t.Fatalf("instance 2 does not know the tenant made on instance 1: %+v, %v", got, err)
	}
	if _, err := apiv1.Created(c1.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "d1"})); err != nil {
		t.Fatal(err)
	}
	_, err := apiv1.Created(c2.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "d1"}))
	wantAPIError(t, err, 409, apiv1.CodeAlreadyExists, "id")
	tags := map[string]string{"via": "two"}
	if _, err := apiv1.OK(c2.UpdateDeviceWithResponse(ctx, "d1", apiv1.UpdateDeviceRequest{Tags: &tags})); err != nil {
		t.Fatal(err)
	}
	if d, err := apiv1.OK(c1.GetDeviceWithResponse(ctx, "d1")); err != nil || d.Tags["via"] != "two" {
		t.Errorf("instance 1 sees %+v, %v", d, err)
	}
	// Concurrent creates of one id on both instances: exactly one wins.
	errs := make(chan error, 2)
	for _, c := range []*apiv1.ClientWithResponses{c1, c2} {
		go func() {
			_, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "race"}))
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
			_, err := apiv1.OK(c.UpdateDeviceWithResponse(ctx, "d1", apiv1.UpdateDeviceRequest{Metadata: &md}))
			done <- err
		}()
	}
	for range 20 {
		if err := <-done; err != nil {
			t.Errorf("concurrent patch: %v", err)
		}
	}
	// A key deleted through one instance stops working on the other.
	k, err := apiv1.Created(c1.CreateAPIKeyWithResponse(ctx, apiv1.CreateAPIKeyRequest{Name: "temp"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := apiv1.NoContent(c2.DeleteAPIKeyWithResponse(ctx, k.ID)); err != nil {
		t.Fatal(err)
	}
	_, err = apiv1.OK(e1.client(k.Key).GetTenantWithResponse(ctx))
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
	if _, err := apiv1.OK(e1.admin().AdminPutTenantQuotasWithResponse(ctx, resp.Tenant.ID, apiv1.QuotasInput{MaxDevices: 10})); err != nil {
		t.Fatal(err)
	}
	if _, err := apiv1.Created(c1.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "first"})); err != nil { // creates the counter
		t.Fatal(err)
	}
	results := make(chan error, 30)
	for i := range 30 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		go func() {
			_, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: fmt.Sprintf("d%02d", i)}))
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
		if ae, ok := errors.AsType[*apiv1.APIError](err); !ok || ae.Code != apiv1.CodeFailedPrecondition {
			t.Errorf("create beyond the quota = %v, want 409 failed_precondition", err)
		}
	}
	if created != 9 {
		t.Errorf("%d creates succeeded, want 9 (quota 10, one existing)", created)
	}
	if ten, err := apiv1.OK(c1.GetTenantWithResponse(ctx)); err != nil || ten.Usage.Devices != 10 {
		t.Errorf("usage = %+v, %v; want 10", ten.Usage, err)
	}
}
