package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestDeleteDeviceLeavesNothingBehind audits what deleting a device
// through the API leaves in the buckets: its keys (public records and
// index), its presence record (also after the gateway that held its
// connection reports the end of it), its room in the device quota. The one
// record that stays on purpose is the device's revocation, which refuses
// tokens issued before the delete should the id be created again.
func TestDeleteDeviceLeavesNothingBehind(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	tid := resp.Tenant.ID
	createDevices(t, c, "sensor-7", "sentinel")
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, "sensor-7", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey)}))
	if err != nil {
		t.Fatal(err)
	}
	// One worker writes presence in order, so the sentinel's record shows
	// when everything reported before it is written.
	gw := startGatewayWith(t, e, presence.Config{GatewayID: "gw-1", Workers: 1})
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if err := gw.rep.Connected(ctx, presence.Status{TenantID: tid, DeviceID: "sensor-7", Protocol: 5, ConnectedAt: at}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "sensor-7", func(s apiv1.DeviceStatus) bool { return s.Connected })
	before, err := apiv1.OK(c.GetTenantWithResponse(ctx))
	if err != nil {
		t.Fatal(err)
	}

	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "sensor-7")); err != nil {
		t.Fatalf("DeleteDevice: %v", err)
	}
	_, err = apiv1.OK(c.GetDeviceWithResponse(ctx, "sensor-7"))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")

	config, secrets, pres := e.kv(tenant.ConfigBucket), e.kv(tenant.SecretsBucket), e.kv(presence.DefaultBucket)
	gone := func(kv jetstream.KeyValue, key string) {
		t.Helper()
		if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s after the delete: Get = %v, want ErrKeyNotFound", key, err)
		}
	}
	gone(config, tenant.DeviceKey(tid, "sensor-7"))
	gone(config, tenant.KeyKey(dk.ID))
	if keys, err := secrets.ListKeysFiltered(ctx, "keyidx."+tid+".d.sensor-7.>"); err == nil {
		for k := range keys.Keys() {
			t.Errorf("key index entry %s survived the delete", k)
		}
	}
	gone(pres, presence.DeviceKey(tid, "sensor-7"))

	// The gateway cuts the device off and reports it, then the sentinel
	// connects: once the sentinel shows, the disconnection was handled, and
	// it did not bring the record back.
	if err := gw.rep.Disconnected(ctx, tid, "sensor-7", "", "device deleted", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := gw.rep.Connected(ctx, presence.Status{TenantID: tid, DeviceID: "sentinel", Protocol: 5, ConnectedAt: at}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "sentinel", func(s apiv1.DeviceStatus) bool { return s.Connected })
	gone(pres, presence.DeviceKey(tid, "sensor-7"))

	// The quota counts one device less.
	after, err := apiv1.OK(c.GetTenantWithResponse(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if after.Usage == nil || before.Usage == nil || after.Usage.Devices != before.Usage.Devices-1 {
		t.Errorf("usage after the delete = %+v, want one device less than %+v", after.Usage, before.Usage)
	}

	// The revocation stays, dated at the delete.
	e1, err := config.Get(ctx, tenant.RevokedKey(tid, tenant.RevokeDevice, "sensor-7"))
	var rv tenant.Revocation
	if err != nil || json.Unmarshal(e1.Value(), &rv) != nil || rv.ExpiresAt != nil || time.Since(rv.RevokedAt) > time.Minute {
		t.Errorf("device revocation after the delete = %+v, %v; want a permanent one dated now", rv, err)
	}

	// Created again, the device starts empty: no keys, never seen.
	createDevices(t, c, "sensor-7")
	if keys, err := apiv1.OK(c.ListDeviceKeysWithResponse(ctx, "sensor-7")); err != nil || len(keys.Items) != 0 {
		t.Errorf("keys of the re-created device = %+v, %v; want none", keys, err)
	}
	st, err := apiv1.OK(c.GetDeviceStatusWithResponse(ctx, "sensor-7"))
	if err != nil || st.Connected || st.ConnectedAt != nil || st.LastDisconnectReason != "" {
		t.Errorf("status of the re-created device = %+v, %v; want never seen", st, err)
	}
}
