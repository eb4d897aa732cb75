package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// Limits on device attributes.
const (
	maxTags          = 50
	maxTagKeyLen     = 64
	maxTagValueLen   = 256
	maxMetadata      = 50
	maxMetaKeyLen    = 64
	maxMetaValueLen  = 1024
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

func validTagKey(k string) bool {
	if k == "" || len(k) > maxTagKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}

func validateTags(field string, tags map[string]string) error {
	if len(tags) > maxTags {
		return invalid(field, "has %d tags; at most %d are allowed", len(tags), maxTags)
	}
	for _, k := range sortedKeys(tags) {
		if !validTagKey(k) {
			return invalid(field+"."+k, "tag names are 1 to %d characters of A-Z a-z 0-9 _ - . /", maxTagKeyLen)
		}
		if v := tags[k]; !utf8.ValidString(v) || len(v) > maxTagValueLen {
			return invalid(field+"."+k, "tag values are UTF-8 of at most %d bytes", maxTagValueLen)
		}
	}
	return nil
}

func validateMetadata(field string, md map[string]string) error {
	if len(md) > maxMetadata {
		return invalid(field, "has %d entries; at most %d are allowed", len(md), maxMetadata)
	}
	for _, k := range sortedKeys(md) {
		if k == "" || len(k) > maxMetaKeyLen || !utf8.ValidString(k) {
			return invalid(field, "metadata keys are UTF-8 of 1 to %d bytes", maxMetaKeyLen)
		}
		if v := md[k]; !utf8.ValidString(v) || len(v) > maxMetaValueLen {
			return invalid(field+"."+k, "metadata values are UTF-8 of at most %d bytes", maxMetaValueLen)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// validateDevice checks a create request; prefix is the JSON path of the
// device in the request ("" or "devices[12].").
func validateDevice(prefix string, d apiv1.CreateDeviceRequest) error {
	if d.ID == "" {
		return invalid(prefix+"id", "is required")
	}
	if !tenant.ValidDeviceID(d.ID) {
		return invalid(prefix+"id", "device ids are 1 to %d characters of A-Z a-z 0-9 _ -", tenant.MaxDeviceIDLen)
	}
	if err := validateTags(prefix+"tags", d.Tags); err != nil {
		return err
	}
	return validateMetadata(prefix+"metadata", d.Metadata)
}

func deviceOut(d tenant.Device) apiv1.Device {
	return apiv1.Device{ID: d.ID, Tags: d.Tags, Metadata: d.Metadata, Disabled: d.Disabled, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// createDevice stores a new device; ErrExists when the id is taken.
func (a *API) storeDevice(ctx context.Context, tid string, req apiv1.CreateDeviceRequest, now time.Time) (tenant.Device, error) {
	d := tenant.Device{TenantID: tid, ID: req.ID, Tags: req.Tags, Metadata: req.Metadata, Disabled: req.Disabled, CreatedAt: now, UpdatedAt: now}
	_, err := a.st.Create(ctx, store.Config, tenant.DeviceKey(tid, req.ID), d)
	return d, err
}

func deviceExists(id string) *Error {
	return &Error{Status: http.StatusConflict, Code: apiv1.CodeAlreadyExists, Field: "id",
		Public: "device " + id + " already exists; choose another id or update it with PATCH"}
}

func (a *API) createDevice(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	var req apiv1.CreateDeviceRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	if err := validateDevice("", req); err != nil {
		return err
	}
	got, err := a.reserveDevices(r.Context(), tid, 1)
	if err != nil {
		return err
	}
	if got == 0 {
		limit, _ := a.maxDevices(r.Context(), tid)
		return deviceQuotaExceeded(limit)
	}
	d, err := a.storeDevice(r.Context(), tid, req, a.now().UTC())
	if err != nil {
		a.releaseLogged(r.Context(), tid, 1)
	}
	if errors.Is(err, store.ErrExists) {
		return deviceExists(req.ID)
	}
	if err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s created device %s", tid, d.ID)
	w.Header().Set("Location", "/v1/devices/"+d.ID)
	writeJSON(w, http.StatusCreated, deviceOut(d))
	return nil
}

func (a *API) bulkCreateDevices(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	// Decode the list first, then each device on its own, so a bad item
	// fails alone and its errors name it ("devices[12].id").
	var raw struct {
		Devices []json.RawMessage `json:"devices"`
	}
	if err := decode(w, r, a.cfg.BulkBodyLimit, &raw); err != nil {
		return err
	}
	if len(raw.Devices) == 0 {
		return invalid("devices", "is empty; send between 1 and %d devices", a.cfg.MaxBulk)
	}
	if len(raw.Devices) > a.cfg.MaxBulk {
		return invalid("devices", "has %d devices; send at most %d per request", len(raw.Devices), a.cfg.MaxBulk)
	}
	start := a.now()
	now := start.UTC()
	req := apiv1.BulkCreateDevicesRequest{Devices: make([]apiv1.CreateDeviceRequest, len(raw.Devices))}
	out := apiv1.BulkCreateDevicesResponse{Items: make([]apiv1.BulkDeviceResult, len(req.Devices))}
	seen := make(map[string]int, len(req.Devices))
	var todo []int
	for i, rd := range raw.Devices {
		prefix := fmt.Sprintf("devices[%d]", i)
		fail := func(err error) {
			e := toError(err)
			out.Items[i].Status, out.Items[i].Error = e.Status, &apiv1.ErrorBody{Code: e.Code, Message: e.Public, Field: e.Field}
		}
		d := &req.Devices[i]
		if err := decodeItem(rd, d); err != nil {
			e := toError(err)
			if e.Field != "" {
				e.Field = prefix + "." + e.Field
			} else {
				e.Field = prefix
			}
			fail(e)
			continue
		}
		out.Items[i].ID = d.ID
		if err := validateDevice(prefix+".", *d); err != nil {
			fail(err)
			continue
		}
		if j, dup := seen[d.ID]; dup {
			out.Items[i].Status = http.StatusConflict
			out.Items[i].Error = &apiv1.ErrorBody{Code: apiv1.CodeAlreadyExists, Field: prefix + ".id",
				Message: fmt.Sprintf("device %s appears twice in the request (first at devices[%d])", d.ID, j)}
			continue
		}
		seen[d.ID] = i
		todo = append(todo, i)
	}
	// Take room in the device quota; devices beyond it fail alone.
	granted, err := a.reserveDevices(r.Context(), tid, int64(len(todo)))
	if err != nil {
		return err
	}
	if over := todo[granted:]; len(over) > 0 {
		limit, _ := a.maxDevices(r.Context(), tid)
		e := deviceQuotaExceeded(limit)
		for _, i := range over {
			out.Items[i].Status = e.Status
			out.Items[i].Error = &apiv1.ErrorBody{Code: e.Code, Message: e.Public}
		}
		todo = todo[:granted]
	}
	// The creates are independent KV writes, pipelined by the store.
	keys := make([]string, len(todo))
	values := make([]any, len(todo))
	for j, i := range todo {
		d := req.Devices[i]
		keys[j] = tenant.DeviceKey(tid, d.ID)
		values[j] = tenant.Device{TenantID: tid, ID: d.ID, Tags: d.Tags, Metadata: d.Metadata, Disabled: d.Disabled, CreatedAt: now, UpdatedAt: now}
	}
	errs := a.st.CreateMany(r.Context(), store.Config, keys, values)
	unused := int64(0)
	for _, err := range errs {
		if err != nil {
			unused++
		}
	}
	a.releaseLogged(r.Context(), tid, unused)
	for j, i := range todo {
		err := errs[j]
		id := req.Devices[i].ID
		switch {
		case err == nil:
			out.Items[i].Status = http.StatusCreated
		case errors.Is(err, store.ErrExists):
			e := deviceExists(id)
			out.Items[i].Status = e.Status
			out.Items[i].Error = &apiv1.ErrorBody{Code: e.Code, Message: e.Public, Field: fmt.Sprintf("devices[%d].id", i)}
		default:
			e := internal(err)
			a.log.ErrorContext(r.Context(), fmt.Sprintf("bulk create of device %s for tenant %s failed: %v", id, tid, err), "tenant_id", tid, "err", err)
			out.Items[i].Status = e.Status
			out.Items[i].Error = &apiv1.ErrorBody{Code: e.Code, Message: e.Public}
		}
	}
	for _, it := range out.Items {
		if it.Status == http.StatusCreated {
			out.Created++
		} else {
			out.Failed++
		}
	}
	a.event(r.Context(), tid, "tenant %s imported %d of %d devices in %s", tid, out.Created, len(req.Devices), a.now().Sub(start).Round(time.Millisecond))
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) loadDevice(ctx context.Context, tid, id string) (tenant.Device, uint64, error) {
	var d tenant.Device
	if !tenant.ValidDeviceID(id) {
		return d, 0, notFound("device " + id)
	}
	rev, err := a.st.Get(ctx, store.Config, tenant.DeviceKey(tid, id), &d)
	if errors.Is(err, store.ErrNotFound) {
		return d, 0, notFound("device " + id)
	}
	if err != nil {
		return d, 0, internal(err)
	}
	return d, rev, nil
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	d, _, err := a.loadDevice(r.Context(), tid, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deviceOut(d))
	return nil
}

func (a *API) updateDevice(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, _, err := a.loadDevice(r.Context(), tid, id); err != nil {
		return err
	}
	var req apiv1.UpdateDeviceRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	if req.Tags != nil {
		if err := validateTags("tags", *req.Tags); err != nil {
			return err
		}
	}
	if req.Metadata != nil {
		if err := validateMetadata("metadata", *req.Metadata); err != nil {
			return err
		}
	}
	// Read, change, write at the read revision; retry when another writer
	// got in between.
	for attempt := 0; ; attempt++ {
		d, rev, err := a.loadDevice(r.Context(), tid, id)
		if err != nil {
			return err
		}
		if req.Tags != nil {
			d.Tags = maps.Clone(*req.Tags)
		}
		if req.Metadata != nil {
			d.Metadata = maps.Clone(*req.Metadata)
		}
		if req.Disabled != nil {
			d.Disabled = *req.Disabled
		}
		d.UpdatedAt = a.now().UTC()
		_, err = a.st.Update(r.Context(), store.Config, tenant.DeviceKey(tid, id), d, rev)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			if err := backoff(r.Context(), attempt); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: http.StatusConflict, Code: apiv1.CodeConflict, Public: "device " + id + " is being changed concurrently; retry"}
		}
		if err != nil {
			return internal(err)
		}
		what := "updated"
		if req.Disabled != nil && *req.Disabled {
			what = "disabled"
		} else if req.Disabled != nil {
			what = "enabled"
		}
		a.event(r.Context(), tid, "tenant %s %s device %s", tid, what, id)
		writeJSON(w, http.StatusOK, deviceOut(d))
		return nil
	}
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	_, rev, err := a.loadDevice(r.Context(), tid, id)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := a.now().UTC()
	// Revoke first, so gateways disconnect the device's sessions even if a
	// later step fails; then remove its keys, its presence record and the
	// device itself, last, so that a failed step can be retried with the
	// same request. The revocation stays (docs/adr/0003: what a device
	// delete leaves behind).
	rv := tenant.Revocation{TenantID: tid, Kind: tenant.RevokeDevice, ID: id, RevokedAt: now}
	if _, err := a.st.Put(ctx, store.Config, tenant.RevokedKey(tid, tenant.RevokeDevice, id), rv); err != nil {
		return internal(err)
	}
	idx, err := a.st.Keys(ctx, store.Secrets, store.KeyIndexFilter(tid, store.OwnerDevice, id))
	if err != nil {
		return internal(err)
	}
	for _, ik := range idx {
		if err := a.dropKey(ctx, tid, store.LastToken(ik), ik); err != nil {
			return internal(err)
		}
	}
	if err := a.cfg.Presence.Forget(ctx, tid, id); err != nil {
		return presenceUnavailable(err)
	}
	// Delete at the revision read, so that of concurrent deletes only one
	// returns the device's room to the quota.
	for attempt := 0; ; attempt++ {
		err := a.st.DeleteAt(ctx, store.Config, tenant.DeviceKey(tid, id), rev)
		if err == nil {
			a.releaseLogged(ctx, tid, 1)
			break
		}
		if !errors.Is(err, store.ErrConflict) {
			return internal(err)
		}
		// Changed meanwhile (a PATCH) or deleted already: look again.
		if _, rev, err = a.loadDevice(ctx, tid, id); err != nil {
			return err
		}
		if attempt >= maxUpdateAttempts {
			return &Error{Status: http.StatusConflict, Code: apiv1.CodeConflict, Public: "device " + id + " is being changed concurrently; retry"}
		}
	}
	a.event(ctx, tid, "tenant %s deleted device %s and its %d keys", tid, id, len(idx))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dropKey deletes a verification key and its index entry.
func (a *API) dropKey(ctx context.Context, tid, kid, indexKey string) error {
	if err := a.st.Delete(ctx, store.Config, tenant.KeyKey(kid)); err != nil {
		return err
	}
	return a.st.Delete(ctx, store.Secrets, indexKey)
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !tenant.ValidDeviceID(string(b)) {
		return "", invalid("cursor", "is not a cursor this API returned; pass next_cursor from the previous page unchanged")
	}
	return string(b), nil
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := defaultPageLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageLimit {
			return invalid("limit", "must be a whole number from 1 to %d", maxPageLimit)
		}
		limit = n
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		if after, err = decodeCursor(c); err != nil {
			return err
		}
	}
	prefix := q.Get("prefix")
	if prefix != "" && !tenant.ValidDeviceID(prefix) {
		return invalid("prefix", "must be the beginning of a device id (A-Z a-z 0-9 _ -)")
	}
	tags := map[string]string{}
	for _, t := range q["tag"] {
		k, v, ok := strings.Cut(t, ":")
		if !ok || !validTagKey(k) {
			return invalid("tag", "filters are name:value, e.g. tag=site:berlin")
		}
		tags[k] = v
	}
	inc, err := includes(q["include"], "status")
	if err != nil {
		return err
	}
	keys, err := a.st.Keys(r.Context(), store.Config, tenant.DevicesPrefix(tid))
	if err != nil {
		return internal(err)
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if id := store.LastToken(k); id > after && strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := apiv1.DeviceList{Items: []apiv1.Device{}}
	// Read candidates a chunk at a time (in parallel within a chunk) until
	// the page is full; tag filters may skip many.
	chunk := max(limit, 64)
	for from := 0; from < len(ids) && len(out.Items) < limit; from += chunk {
		batch := ids[from:min(from+chunk, len(ids))]
		devs, err := a.getDevices(r.Context(), tid, batch)
		if err != nil {
			return internal(err)
		}
		for j, d := range devs {
			if d == nil || !hasTags(d.Tags, tags) {
				continue // deleted while listing, or filtered out
			}
			out.Items = append(out.Items, deviceOut(*d))
			if len(out.Items) == limit {
				if from+j < len(ids)-1 {
					out.NextCursor = encodeCursor(d.ID)
				}
				break
			}
		}
	}
	if inc["status"] {
		if err := a.addStatuses(r.Context(), tid, out.Items); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// getDevices reads devices in parallel; a missing one is nil.
func (a *API) getDevices(ctx context.Context, tid string, ids []string) ([]*tenant.Device, error) {
	out := make([]*tenant.Device, len(ids))
	errs := make([]error, len(ids))
	const workers = 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				var d tenant.Device
				_, err := a.st.Get(ctx, store.Config, tenant.DeviceKey(tid, ids[i]), &d)
				switch {
				case err == nil:
					out[i] = &d
				case !errors.Is(err, store.ErrNotFound):
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
