package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/presence"
)

// Presence reads what the gateways report of device connections;
// *presence.Reader implements it. Get answers presence.ErrNotFound for a
// device never seen; List leaves such devices out of its map. Forget
// deletes the record of a deleted device.
type Presence interface {
	Get(ctx context.Context, tid, did string) (presence.Status, error)
	List(ctx context.Context, tid string, dids []string) (map[string]presence.Status, error)
	Counts(ctx context.Context, tid string) (connected int, err error)
	Forget(ctx context.Context, tid, did string) error
}

var _ Presence = (*presence.Reader)(nil)

// presenceUnavailable answers a failed presence read: the bucket is
// there (the reader creates it when missing), so the failure is NATS's.
func presenceUnavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: apiv1.CodeUnavailable,
		Public: "device presence (NATS JetStream) is not reachable; try again shortly", Err: err}
}

// statusOut converts a presence record; a device never seen is the zero
// Status, which answers connected false with no timestamps.
func statusOut(did string, st presence.Status) *apiv1.DeviceStatus {
	out := &apiv1.DeviceStatus{DeviceID: did, Connected: st.Connected, Connections: []apiv1.DeviceConnection{},
		LastDisconnectReason: st.LastDisconnectReason}
	for _, c := range st.Connections {
		out.Connections = append(out.Connections, apiv1.DeviceConnection{ClientID: c.ClientID, Gateway: c.Gateway,
			RemoteAddr: c.RemoteAddr, Protocol: c.Protocol, ConnectedAt: c.ConnectedAt.UTC()})
	}
	out.Connected = len(out.Connections) > 0
	if !st.ConnectedAt.IsZero() {
		t := st.ConnectedAt.UTC()
		out.ConnectedAt = &t
	}
	if st.DisconnectedAt != nil && !st.DisconnectedAt.IsZero() {
		t := st.DisconnectedAt.UTC()
		out.DisconnectedAt = &t
	}
	return out
}

// deviceStatus reads one device's presence; a device never seen reads as
// the zero Status.
func (a *API) deviceStatus(ctx context.Context, tid, did string) (presence.Status, error) {
	st, err := a.cfg.Presence.Get(ctx, tid, did)
	if errors.Is(err, presence.ErrNotFound) {
		return presence.Status{}, nil
	}
	if err != nil {
		return presence.Status{}, presenceUnavailable(err)
	}
	return st, nil
}

func (a *API) getDeviceStatus(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	// The device record scopes the answer: another tenant's device, or a
	// deleted one whose presence lingers, is not found.
	if _, _, err := a.loadDevice(r.Context(), tid, id); err != nil {
		return err
	}
	st, err := a.deviceStatus(r.Context(), tid, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusOut(id, st))
	return nil
}

// includes parses the include query parameter of a listing: a
// comma-separated subset of allowed, possibly repeated.
func includes(vals []string, allowed ...string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if !slices.Contains(allowed, part) {
				return nil, invalid("include", "%q cannot be included; allowed: %s", part, strings.Join(allowed, ", "))
			}
			out[part] = true
		}
	}
	return out, nil
}

// addStatuses sets the Status of each device of a page with one presence
// read.
func (a *API) addStatuses(ctx context.Context, tid string, items []apiv1.Device) error {
	if len(items) == 0 {
		return nil
	}
	ids := make([]string, len(items))
	for i, d := range items {
		ids[i] = d.ID
	}
	sts, err := a.cfg.Presence.List(ctx, tid, ids)
	if err != nil {
		return presenceUnavailable(err)
	}
	for i := range items {
		items[i].Status = statusOut(items[i].ID, sts[items[i].ID])
	}
	return nil
}

// connectedDevices counts the tenant's connected devices for GET
// /v1/tenant. It reads the status of every device of the tenant ever seen,
// as the device count reads every device key: linear in the tenant's
// devices, which the listing endpoint already handles at that size.
func (a *API) connectedDevices(ctx context.Context, tid string) (int64, error) {
	n, err := a.cfg.Presence.Counts(ctx, tid)
	if err != nil {
		return 0, presenceUnavailable(err)
	}
	return int64(n), nil
}
