package httpapi

import (
	"context"
	"errors"
	"net/http"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

func revocationOut(rv tenant.Revocation) apiv1.Revocation {
	return apiv1.Revocation{Kind: apiv1.RevocationKind(rv.Kind), ID: rv.ID, RevokedAt: rv.RevokedAt, ExpiresAt: rv.ExpiresAt}
}

func (a *API) createRevocation(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	var req apiv1.CreateRevocationRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	kind := tenant.RevocationKind(req.Kind)
	if !tenant.ValidRevocationKind(kind) {
		return invalid("kind", "must be device, key or token")
	}
	if req.ID == "" {
		return invalid("id", "is required")
	}
	if err := a.checkNotAfter("expires_at", req.ExpiresAt); err != nil {
		return err
	}
	ctx := r.Context()
	now := a.now().UTC()
	rv := tenant.Revocation{TenantID: tid, Kind: kind, ID: req.ID, RevokedAt: now, ExpiresAt: utcPtr(req.ExpiresAt)}
	storeID := req.ID
	switch kind {
	case tenant.RevokeDevice:
		if _, _, err := a.loadDevice(ctx, tid, req.ID); err != nil {
			return err
		}
	case tenant.RevokeKey:
		if req.ExpiresAt != nil {
			return invalid("expires_at", "a revoked key is deleted for good, so its revocation never ends; leave expires_at out")
		}
		k, err := a.loadKey(ctx, tid, req.ID)
		if err != nil {
			return err
		}
		if err := a.revokeKey(ctx, k); err != nil {
			return internal(err)
		}
		if k.Kind == tenant.KeyPlatform {
			// Rotation: tokens signed with the old key stop working; new
			// tokens are signed with a new key.
			nk, err := a.newPlatformKey(ctx, tid, now)
			if err != nil {
				return internal(err)
			}
			a.event(ctx, tid, "tenant %s rotated its platform signing key: %s replaced %s", tid, nk.ID, k.ID)
		}
	case tenant.RevokeToken:
		if len(req.ID) > 1024 {
			return invalid("id", "token ids (jti) are at most 1024 bytes")
		}
		storeID = tenant.TokenRevocationID(req.ID)
	}
	if kind != tenant.RevokeKey { // revokeKey wrote the key's revocation
		key := tenant.RevokedKey(tid, kind, storeID)
		var err error
		if rv.ExpiresAt != nil {
			// The key leaves the bucket, and so every gateway's cache, when
			// the revocation ends; ExpiresAt stays in the value as a second
			// guard (docs/adr/0003).
			_, err = a.st.PutTTL(ctx, store.Config, key, rv, rv.ExpiresAt.Sub(now))
		} else {
			_, err = a.st.Put(ctx, store.Config, key, rv)
		}
		if err != nil {
			return internal(err)
		}
	}
	a.event(ctx, tid, "tenant %s revoked %s %s", tid, kind, req.ID)
	writeJSON(w, http.StatusCreated, revocationOut(rv))
	return nil
}

func (a *API) listRevocations(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	keys, err := a.st.Keys(ctx, store.Config, tenant.RevokedPrefix(tid))
	if err != nil {
		return internal(err)
	}
	now := a.now()
	out := apiv1.RevocationList{Items: []apiv1.Revocation{}}
	for _, k := range keys {
		var rv tenant.Revocation
		if _, err := a.st.Get(ctx, store.Config, k, &rv); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return internal(err)
		}
		if rv.ExpiresAt != nil && !now.Before(*rv.ExpiresAt) {
			// Expired revocations protect nothing any more; drop them so the
			// gateways' caches stay small.
			if err := a.st.Delete(ctx, store.Config, k); err != nil {
				return internal(err)
			}
			continue
		}
		out.Items = append(out.Items, revocationOut(rv))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) adminListTenants(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	keys, err := a.st.Keys(ctx, store.Config, store.TenantsFilter)
	if err != nil {
		return internal(err)
	}
	out := apiv1.TenantList{Items: []apiv1.Tenant{}}
	for _, k := range keys {
		var t tenant.Tenant
		if _, err := a.st.Get(ctx, store.Config, k, &t); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return internal(err)
		}
		at := a.tenantOut(t, 0, 0)
		at.Usage = nil
		out.Items = append(out.Items, at)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) adminPutQuotas(w http.ResponseWriter, r *http.Request) error {
	tid := r.PathValue("tid")
	if !tenant.ValidTenantID(tid) {
		return notFound("tenant " + tid)
	}
	ctx := r.Context()
	if _, _, err := a.loadTenant(ctx, tid); err != nil {
		return err
	}
	var req apiv1.QuotasInput
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	q := quotasIn(req)
	if err := q.Validate(); err != nil {
		var fe *tenant.FieldError
		if errors.As(err, &fe) {
			return invalid(fe.Field, "must not be negative (0 means the platform default)")
		}
		return invalid("", "%v", err)
	}
	if _, err := a.st.Put(ctx, store.Config, tenant.QuotasKey(tid), q); err != nil {
		return internal(err)
	}
	// Mirror into the tenant record at its current revision.
	if _, err := a.updateTenant(ctx, tid, func(t *tenant.Tenant) { t.Quotas = q }); err != nil {
		return err
	}
	a.event(ctx, tid, "operator changed the quotas of tenant %s", tid)
	v, err := a.quotasView(ctx, tid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) adminUpdateTenant(w http.ResponseWriter, r *http.Request) error {
	tid := r.PathValue("tid")
	if !tenant.ValidTenantID(tid) {
		return notFound("tenant " + tid)
	}
	ctx := r.Context()
	if _, _, err := a.loadTenant(ctx, tid); err != nil {
		return err
	}
	var req apiv1.AdminUpdateTenantRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	if req.Disabled == nil {
		return invalid("disabled", "is required (true or false)")
	}
	t, err := a.updateTenant(ctx, tid, func(t *tenant.Tenant) { t.Disabled = *req.Disabled })
	if err != nil {
		return err
	}
	what := "enabled"
	if t.Disabled {
		what = "disabled"
	}
	a.event(ctx, tid, "operator %s tenant %s", what, tid)
	out := a.tenantOut(t, 0, 0)
	out.Usage = nil
	writeJSON(w, http.StatusOK, out)
	return nil
}

// updateTenant applies change to the tenant record at its current
// revision, reading it again after a concurrent write, and returns the
// record as stored. Errors are API errors.
func (a *API) updateTenant(ctx context.Context, tid string, change func(*tenant.Tenant)) (tenant.Tenant, error) {
	for attempt := 0; ; attempt++ {
		t, rev, err := a.loadTenant(ctx, tid)
		if err != nil {
			return tenant.Tenant{}, err
		}
		change(&t)
		_, err = a.st.Update(ctx, store.Config, tenant.TenantKey(tid), t, rev)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			if err := backoff(ctx, attempt); err != nil {
				return tenant.Tenant{}, err
			}
			continue
		}
		if err != nil {
			return tenant.Tenant{}, internal(err)
		}
		return t, nil
	}
}
