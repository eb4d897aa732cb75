package presence

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// idle reports whether the reporter has written everything it was given.
func (r *Reporter) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue) == 0 && len(r.inflight) == 0 && len(r.pending) == 0 && len(r.backlog) == 0
}

// TestForgetDeletedDevice: the control plane forgets a deleted device's
// record; the end of the device's last connection, reported afterwards by
// the gateway that held it, does not bring the record back; a device
// created again under the same id is reported as usual.
func TestForgetDeletedDevice(t *testing.T) {
	js := newJS(t)
	rep, _ := startReporter(t, js, Config{GatewayID: "gw-1"})
	rd := newReader(t, js, nil)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "sensor-7", Protocol: 5, ConnectedAt: at}))
	waitStatus(t, rd, "t-acme", "sensor-7", isConnected(true))

	if err := rd.Forget(ctx, "t-acme", "sensor-7"); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if _, err := rd.Get(ctx, "t-acme", "sensor-7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Forget = %v, want ErrNotFound", err)
	}
	// The gateway cuts the deleted device off and reports it.
	must(t, rep.Disconnected(ctx, "t-acme", "sensor-7", "", "device deleted", at.Add(time.Minute)))
	checkFor(t, 10*time.Second, func() error {
		if !rep.idle() {
			return errors.New("the reporter has not written the disconnection yet")
		}
		return nil
	})
	if st, err := rd.Get(ctx, "t-acme", "sensor-7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the disconnection of a forgotten device, Get = %+v, %v; want ErrNotFound", st, err)
	}
	if n, err := rd.Counts(ctx, "t-acme"); err != nil || n != 0 {
		t.Errorf("Counts = %d, %v; want 0", n, err)
	}

	// Created again and connected: reported.
	must(t, rep.Connected(ctx, Status{TenantID: "t-acme", DeviceID: "sensor-7", Protocol: 5, ConnectedAt: at.Add(time.Hour)}))
	waitStatus(t, rd, "t-acme", "sensor-7", func(st Status) error {
		if !st.Connected || !st.ConnectedAt.Equal(at.Add(time.Hour)) {
			return fmt.Errorf("status = %+v, want the new connection", st)
		}
		return nil
	})

	if err := rd.Forget(ctx, "t-acme", "never-seen"); err != nil {
		t.Errorf("Forget(a device never seen) = %v", err)
	}
	if err := rd.Forget(ctx, "t-acme", "bad.id"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Forget(bad id) = %v, want ErrInvalidID", err)
	}
}
