package controlplane_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/presence"
)

// skewClock is the control plane's clock: real time plus an offset a test
// moves forward.
type skewClock struct{ offset atomic.Int64 }

func (c *skewClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// gateway is a presence.Reporter running as a gateway would run it.
type gateway struct {
	rep  *presence.Reporter
	stop func() // stops Run and waits for it
}

func startGateway(t testing.TB, e *env, id string) *gateway {
	t.Helper()
	return startGatewayWith(t, e, presence.Config{GatewayID: id})
}

// startGatewayWith is startGateway with a presence configuration.
func startGatewayWith(t testing.TB, e *env, cfg presence.Config) *gateway {
	t.Helper()
	id := cfg.GatewayID
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := presence.NewReporter(js, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway %s: Run = %v", id, err)
		}
	}
	t.Cleanup(stop)
	return &gateway{rep: rep, stop: stop}
}

// waitStatus polls a device's status until ok accepts it.
func waitStatus(t testing.TB, c *apiv1.ClientWithResponses, id string, ok func(apiv1.DeviceStatus) bool) apiv1.DeviceStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := apiv1.OK(c.GetDeviceStatusWithResponse(context.Background(), id))
		if err != nil {
			t.Fatalf("DeviceStatus(%s) = %v", id, err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("DeviceStatus(%s) = %+v; the expected status never came", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createDevices(t testing.TB, c *apiv1.ClientWithResponses, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := apiv1.Created(c.CreateDeviceWithResponse(context.Background(), apiv1.CreateDeviceRequest{ID: id})); err != nil {
			t.Fatalf("create device %s: %v", id, err)
		}
	}
}

// TestDeviceStatus follows devices through what gateways report, read
// back through the API: never seen (before the presence bucket exists),
// connected, disconnected with a reason, and the connections of a gateway
// that stopped or crashed.
func TestDeviceStatus(t *testing.T) {
	clock := &skewClock{}
	e := newEnvClock(t, natstest.Start(t), testConfig(), clock.now)
	ctx := context.Background()
	acme, acmeResp := e.signup("acme")
	tid := acmeResp.Tenant.ID
	globex, _ := e.signup("globex")
	createDevices(t, acme, "sensor-7", "idle-1", "sensor-8", "sensor-9")
	createDevices(t, globex, "other-1")

	// No gateway has run: the presence bucket does not exist yet.
	st, err := apiv1.OK(acme.GetDeviceStatusWithResponse(ctx, "idle-1"))
	if err != nil {
		t.Fatalf("status before any gateway = %v", err)
	}
	if st.Connected || st.ConnectedAt != nil || st.DisconnectedAt != nil || st.LastDisconnectReason != "" ||
		len(st.Connections) != 0 || st.DeviceID != "idle-1" {
		t.Errorf("never-seen status = %+v, want disconnected with no timestamps", st)
	}
	if ten, err := apiv1.OK(acme.GetTenantWithResponse(ctx)); err != nil || ten.Usage.ConnectedDevices != 0 {
		t.Errorf("tenant before any gateway = %+v, %v", ten.Usage, err)
	}

	t.Run("connected", func(t *testing.T) {
		gw := startGateway(t, e, "gw-1")
		at := time.Date(2026, 11, 25, 10, 3, 4, 0, time.UTC)
		if err := gw.rep.Connected(ctx, presence.Status{TenantID: tid, DeviceID: "sensor-7",
			RemoteAddr: "10.1.2.3:5411", Protocol: 5, ConnectedAt: at}); err != nil {
			t.Fatal(err)
		}
		st := waitStatus(t, acme, "sensor-7", func(s apiv1.DeviceStatus) bool { return s.Connected })
		want := apiv1.DeviceConnection{ClientID: "sensor-7", Gateway: "gw-1", RemoteAddr: "10.1.2.3:5411", Protocol: 5, ConnectedAt: at}
		if len(st.Connections) != 1 || st.Connections[0] != want {
			t.Errorf("connections = %+v, want [%+v]", st.Connections, want)
		}
		if st.ConnectedAt == nil || !st.ConnectedAt.Equal(at) || st.DisconnectedAt != nil {
			t.Errorf("connected_at = %v, disconnected_at = %v; want %v and none", st.ConnectedAt, st.DisconnectedAt, at)
		}

		ten, err := apiv1.OK(acme.GetTenantWithResponse(ctx))
		if err != nil || ten.Usage.ConnectedDevices != 1 || ten.Usage.Devices != 4 {
			t.Errorf("tenant usage = %+v, %v; want 4 devices, 1 connected", ten.Usage, err)
		}
		if ten, err := apiv1.OK(globex.GetTenantWithResponse(ctx)); err != nil || ten.Usage.ConnectedDevices != 0 {
			t.Errorf("other tenant's usage = %+v, %v; want 0 connected", ten.Usage, err)
		}

		page, err := apiv1.OK(acme.ListDevicesWithResponse(ctx, &apiv1.ListDevicesParams{Include: new(apiv1.ListDevicesParamsIncludeStatus)}))
		if err != nil || len(page.Items) != 4 {
			t.Fatalf("list include=status = %+v, %v", page, err)
		}
		for _, d := range page.Items {
			if d.Status == nil || d.Status.DeviceID != d.ID || d.Status.Connected != (d.ID == "sensor-7") {
				t.Errorf("list include=status: %s status = %+v", d.ID, d.Status)
			}
		}
		if page, err := apiv1.OK(acme.ListDevicesWithResponse(ctx, nil)); err != nil || page.Items[0].Status != nil {
			t.Errorf("list without include has status %+v, %v", page.Items[0].Status, err)
		}

		// Disconnection with a reason, as a gateway reports a keepalive
		// timeout.
		off := at.Add(12 * time.Minute)
		if err := gw.rep.Disconnected(ctx, tid, "sensor-7", "", "keepalive of 60s expired", off); err != nil {
			t.Fatal(err)
		}
		st = waitStatus(t, acme, "sensor-7", func(s apiv1.DeviceStatus) bool { return !s.Connected })
		if st.LastDisconnectReason != "keepalive of 60s expired" || st.DisconnectedAt == nil || !st.DisconnectedAt.Equal(off) ||
			len(st.Connections) != 0 || st.ConnectedAt == nil || !st.ConnectedAt.Equal(at) {
			t.Errorf("after disconnect = %+v", st)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		_, err := apiv1.OK(globex.GetDeviceStatusWithResponse(ctx, "sensor-7"))
		wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
		_, err = apiv1.OK(acme.GetDeviceStatusWithResponse(ctx, "other-1"))
		wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
		_, err = apiv1.OK(acme.GetDeviceStatusWithResponse(ctx, "no-such-device"))
		wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
		_, err = apiv1.OK(acme.GetDeviceStatusWithResponse(ctx, "bad.id"))
		wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
		// A deleted device's presence lingers in the bucket, but the device
		// is gone.
		if err := apiv1.NoContent(acme.DeleteDeviceWithResponse(ctx, "sensor-7")); err != nil {
			t.Fatal(err)
		}
		_, err = apiv1.OK(acme.GetDeviceStatusWithResponse(ctx, "sensor-7"))
		wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
		code, _, body := e.raw("GET", "/v1/devices?include=secrets", acmeResp.APIKey.Key, "", "")
		if code != 400 || !strings.Contains(body, `"field":"include"`) {
			t.Errorf("include=secrets = %d %s, want 400 on field include", code, body)
		}
	})

	t.Run("gateway stopped", func(t *testing.T) {
		gw := startGateway(t, e, "gw-2")
		if err := gw.rep.Connected(ctx, presence.Status{TenantID: tid, DeviceID: "sensor-8", Protocol: 4}); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, acme, "sensor-8", func(s apiv1.DeviceStatus) bool { return s.Connected })
		gw.stop() // removes its heartbeat but not the device's connection
		st := waitStatus(t, acme, "sensor-8", func(s apiv1.DeviceStatus) bool { return !s.Connected })
		if st.LastDisconnectReason != "gateway gw-2 stopped responding" || st.DisconnectedAt == nil {
			t.Errorf("after the gateway stopped = %+v", st)
		}
	})

	t.Run("gateway crashed", func(t *testing.T) {
		gw := startGateway(t, e, "gw-3")
		if err := gw.rep.Connected(ctx, presence.Status{TenantID: tid, DeviceID: "sensor-9:aux", Protocol: 5}); err == nil {
			t.Fatal("a client id of another device was accepted")
		}
		if err := gw.rep.Connected(ctx, presence.Status{TenantID: tid, DeviceID: "sensor-9", ClientID: "sensor-9:aux", Protocol: 5}); err != nil {
			t.Fatal(err)
		}
		st := waitStatus(t, acme, "sensor-9", func(s apiv1.DeviceStatus) bool { return s.Connected })
		if st.Connections[0].ClientID != "sensor-9:aux" {
			t.Errorf("connections = %+v, want client id sensor-9:aux", st.Connections)
		}
		// The gateway keeps running but, to the control plane's clock, its
		// last heartbeat is an hour old: it missed far more than three.
		clock.offset.Store(int64(time.Hour))
		defer clock.offset.Store(0)
		st, err := apiv1.OK(acme.GetDeviceStatusWithResponse(ctx, "sensor-9"))
		if err != nil || st.Connected || st.LastDisconnectReason != "gateway gw-3 stopped responding" {
			t.Errorf("status an hour after the gateway's last heartbeat = %+v, %v", st, err)
		}
		if ten, err := apiv1.OK(acme.GetTenantWithResponse(ctx)); err != nil || ten.Usage.ConnectedDevices != 0 {
			t.Errorf("tenant usage = %+v, %v; want 0 connected", ten.Usage, err)
		}
	})
}
