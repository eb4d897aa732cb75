package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/credentials"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// event logs something a tenant did, as a sentence.
func (a *API) event(ctx context.Context, tid, format string, args ...any) {
	a.log.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf(format, args...), slog.String("tenant_id", tid))
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, apiv1.Health{Status: "ok"})
	return nil
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.st.Ping(ctx); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: apiv1.CodeUnavailable,
			Public: "the configuration store (NATS JetStream) is not reachable", Err: err}
	}
	writeJSON(w, http.StatusOK, apiv1.Health{Status: "ok"})
	return nil
}

func validName(field, s string, maxLen int) error {
	if strings.TrimSpace(s) == "" {
		return invalid(field, "is required")
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxLen {
		return invalid(field, "must be UTF-8 text of at most %d characters", maxLen)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

func validEmail(s string) error {
	if s == "" {
		return nil
	}
	at := strings.LastIndexByte(s, '@')
	if len(s) > 254 || at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>") {
		return invalid("email", "must be an email address such as ops@example.com")
	}
	return nil
}

func (a *API) createSignup(w http.ResponseWriter, r *http.Request) error {
	ip := a.clientIP(r)
	if ok, d := a.signup.allow(ip); !ok {
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "signup refused for "+ip+": rate limit", slog.String("remote_addr", r.RemoteAddr))
		return rateLimited("too many signups from your address", d)
	}
	var req apiv1.SignupRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	if err := validName("name", req.Name, 100); err != nil {
		return err
	}
	if err := validEmail(req.Email); err != nil {
		return err
	}
	ctx := r.Context()
	now := a.now().UTC()
	var tid string
	for range 5 {
		tid = tenant.NewTenantID()
		var existing tenant.Tenant
		if _, err := a.st.Get(ctx, store.Config, tenant.TenantKey(tid), &existing); errors.Is(err, store.ErrNotFound) {
			break
		} else if err != nil {
			return internal(err)
		}
		tid = ""
	}
	if tid == "" {
		return internal(errors.New("httpapi: no free tenant id after 5 tries"))
	}
	// Secrets and keys first, the tenant record last: until it exists the
	// other records are inert (gateways and the API need the tenant). On
	// failure, remove what was written.
	fail := func(err error) error {
		a.purgeTenantRecords(context.WithoutCancel(ctx), tid)
		return internal(err)
	}
	if _, err := a.st.Put(ctx, store.Secrets, store.AccountKey(tid), store.Account{TenantID: tid, Email: req.Email, CreatedAt: now}); err != nil {
		return fail(err)
	}
	if _, err := a.st.Put(ctx, store.Secrets, store.DeviceCountKey(tid), store.DeviceCount{}); err != nil {
		return fail(err)
	}
	pk, err := a.newPlatformKey(ctx, tid, now)
	if err != nil {
		return fail(err)
	}
	key, err := a.newAPIKey(ctx, tid, "signup", now)
	if err != nil {
		return fail(err)
	}
	t := tenant.Tenant{ID: tid, Name: req.Name, CreatedAt: now}
	if _, err := a.st.Create(ctx, store.Config, tenant.TenantKey(tid), t); err != nil {
		return fail(err)
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("tenant %s (%q) signed up from %s", tid, req.Name, ip),
		slog.String("tenant_id", tid), slog.String("remote_addr", r.RemoteAddr))
	writeJSON(w, http.StatusCreated, apiv1.SignupResponse{
		Tenant:      a.tenantOut(t, 0, 0),
		APIKey:      key,
		PlatformKey: issuerKeyOut(pk),
	})
	return nil
}

// newPlatformKey creates a tenant's ES256 platform signing key: the private
// half in the secrets bucket first, then the public key gateways verify with.
func (a *API) newPlatformKey(ctx context.Context, tid string, now time.Time) (tenant.Key, error) {
	pair, err := credentials.NewSigningKey()
	if err != nil {
		return tenant.Key{}, err
	}
	kid := tenant.NewKeyID(tenant.KeyPlatform)
	sk := store.SigningKey{ID: kid, TenantID: tid, Algorithm: string(pair.Public.Algorithm), PrivateKeyPEM: pair.PrivateKeyPEM, CreatedAt: now}
	if _, err := a.st.Create(ctx, store.Secrets, tenant.SigningKey(tid, kid), sk); err != nil {
		return tenant.Key{}, err
	}
	k := tenant.Key{ID: kid, TenantID: tid, Kind: tenant.KeyPlatform, Algorithm: pair.Public.Algorithm,
		PublicKeyPEM: pair.Public.PEM, CreatedAt: now}
	if err := a.putKey(ctx, k, store.OwnerPlatform); err != nil {
		return tenant.Key{}, err
	}
	return k, nil
}

// putKey stores a verification key and its index entry.
func (a *API) putKey(ctx context.Context, k tenant.Key, owner string) error {
	if _, err := a.st.Create(ctx, store.Config, tenant.KeyKey(k.ID), k); err != nil {
		return err
	}
	_, err := a.st.Put(ctx, store.Secrets, store.KeyIndexKey(k.TenantID, owner, k.DeviceID, k.ID), k.CreatedAt)
	return err
}

func (a *API) newAPIKey(ctx context.Context, tid, name string, now time.Time) (apiv1.CreatedAPIKey, error) {
	id, full, hash := credentials.NewAPIKey()
	rec := store.APIKey{ID: id, TenantID: tid, Name: name, SecretHash: hash, CreatedAt: now}
	if _, err := a.st.Create(ctx, store.Secrets, store.APIKeyKey(id), rec); err != nil {
		return apiv1.CreatedAPIKey{}, err
	}
	if _, err := a.st.Put(ctx, store.Secrets, store.TenantAPIKeyKey(tid, id), now); err != nil {
		return apiv1.CreatedAPIKey{}, err
	}
	return apiv1.CreatedAPIKey{ID: rec.ID, Name: rec.Name, CreatedAt: rec.CreatedAt, Key: string(full)}, nil
}

func apiKeyOut(k store.APIKey) apiv1.APIKey {
	return apiv1.APIKey{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt}
}

func quotasOut(q tenant.Quotas) apiv1.Quotas {
	return apiv1.Quotas{
		MaxConnections: q.MaxConnections, MaxMessagesPerSecond: q.MaxMessagesPerSecond,
		MaxBytesPerSecond: q.MaxBytesPerSecond, MaxPayloadBytes: q.MaxPayloadBytes,
		MaxSubscriptionsPerDevice: q.MaxSubscriptionsPerDevice, MaxRetained: q.MaxRetained,
		MaxQueuedMessages: q.MaxQueuedMessages, MaxSessionExpirySeconds: q.MaxSessionExpirySeconds,
		MaxDevices: q.MaxDevices,
	}
}

func quotasIn(q apiv1.QuotasInput) tenant.Quotas {
	return tenant.Quotas{
		MaxConnections: q.MaxConnections, MaxMessagesPerSecond: q.MaxMessagesPerSecond,
		MaxBytesPerSecond: q.MaxBytesPerSecond, MaxPayloadBytes: q.MaxPayloadBytes,
		MaxSubscriptionsPerDevice: q.MaxSubscriptionsPerDevice, MaxRetained: q.MaxRetained,
		MaxQueuedMessages: q.MaxQueuedMessages, MaxSessionExpirySeconds: q.MaxSessionExpirySeconds,
		MaxDevices: q.MaxDevices,
	}
}

func (a *API) tenantOut(t tenant.Tenant, devices, connected int64) apiv1.Tenant {
	return apiv1.Tenant{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, Disabled: t.Disabled,
		Quotas: quotasOut(t.Quotas.WithDefaults(a.cfg.Defaults)), Usage: &apiv1.Usage{Devices: devices, ConnectedDevices: connected}}
}

func (a *API) loadTenant(ctx context.Context, tid string) (tenant.Tenant, uint64, error) {
	var t tenant.Tenant
	rev, err := a.st.Get(ctx, store.Config, tenant.TenantKey(tid), &t)
	if errors.Is(err, store.ErrNotFound) {
		return t, 0, notFound("tenant " + tid)
	}
	if err != nil {
		return t, 0, internal(err)
	}
	return t, rev, nil
}

// overrides returns the tenant's quota overrides (quotas.<tid> is
// authoritative; the copy in the tenant record mirrors it).
func (a *API) overrides(ctx context.Context, tid string) (tenant.Quotas, error) {
	var q tenant.Quotas
	_, err := a.st.Get(ctx, store.Config, tenant.QuotasKey(tid), &q)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return q, internal(err)
	}
	return q, nil
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	t, _, err := a.loadTenant(r.Context(), tid)
	if err != nil {
		return err
	}
	if t.Quotas, err = a.overrides(r.Context(), tid); err != nil {
		return err
	}
	keys, err := a.st.Keys(r.Context(), store.Config, tenant.DevicesPrefix(tid))
	if err != nil {
		return internal(err)
	}
	connected, err := a.connectedDevices(r.Context(), tid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.tenantOut(t, int64(len(keys)), connected))
	return nil
}

func (a *API) quotasView(ctx context.Context, tid string) (apiv1.TenantQuotas, error) {
	o, err := a.overrides(ctx, tid)
	if err != nil {
		return apiv1.TenantQuotas{}, err
	}
	return apiv1.TenantQuotas{TenantID: tid, Effective: quotasOut(o.WithDefaults(a.cfg.Defaults)),
		Overrides: quotasOut(o), Defaults: quotasOut(a.cfg.Defaults)}, nil
}

func (a *API) getQuotas(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	v, err := a.quotasView(r.Context(), tid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	var req apiv1.CreateAPIKeyRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	if req.Name != "" {
		if err := validName("name", req.Name, 100); err != nil {
			return err
		}
	}
	existing, err := a.st.Keys(r.Context(), store.Secrets, store.TenantAPIKeysFilter(tid))
	if err != nil {
		return internal(err)
	}
	const maxAPIKeys = 100
	if len(existing) >= maxAPIKeys {
		return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
			Public: fmt.Sprintf("the tenant already has %d API keys, the most allowed; delete unused ones first", maxAPIKeys)}
	}
	k, err := a.newAPIKey(r.Context(), tid, req.Name, a.now().UTC())
	if err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s created API key %s", tid, k.ID)
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	keys, err := a.st.Keys(r.Context(), store.Secrets, store.TenantAPIKeysFilter(tid))
	if err != nil {
		return internal(err)
	}
	out := apiv1.APIKeyList{Items: []apiv1.APIKey{}}
	for _, k := range keys {
		var rec store.APIKey
		if _, err := a.st.Get(r.Context(), store.Secrets, store.APIKeyKey(store.LastToken(k)), &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return internal(err)
		}
		if rec.TenantID == tid {
			out.Items = append(out.Items, apiKeyOut(rec))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if !tenant.ValidKeyID(id) {
		return notFound("API key " + id)
	}
	var rec store.APIKey
	if _, err := a.st.Get(r.Context(), store.Secrets, store.APIKeyKey(id), &rec); err != nil || rec.TenantID != tid {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return internal(err)
		}
		return notFound("API key " + id)
	}
	others, err := a.st.Keys(r.Context(), store.Secrets, store.TenantAPIKeysFilter(tid))
	if err != nil {
		return internal(err)
	}
	if len(others) <= 1 {
		return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
			Public: "API key " + id + " is the tenant's last one; create another before deleting it, or you lose access"}
	}
	if err := a.st.Delete(r.Context(), store.Secrets, store.APIKeyKey(id)); err != nil {
		return internal(err)
	}
	if err := a.st.Delete(r.Context(), store.Secrets, store.TenantAPIKeyKey(tid, id)); err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s deleted API key %s", tid, id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// purgeTenantRecords removes, best effort, the records of a tenant whose
// signup failed: its keys, signing keys, API keys, indexes and account.
func (a *API) purgeTenantRecords(ctx context.Context, tid string) {
	var errs []error
	del := func(b store.Bucket, key string) {
		if err := a.st.Delete(ctx, b, key); err != nil {
			errs = append(errs, err)
		}
	}
	if idx, err := a.st.Keys(ctx, store.Secrets, "keyidx."+tid+".>"); err == nil {
		for _, ik := range idx {
			kid := store.LastToken(ik)
			del(store.Config, tenant.KeyKey(kid))
			del(store.Secrets, tenant.SigningKey(tid, kid))
			del(store.Secrets, ik)
		}
	} else {
		errs = append(errs, err)
	}
	if idx, err := a.st.Keys(ctx, store.Secrets, store.TenantAPIKeysFilter(tid)); err == nil {
		for _, ik := range idx {
			del(store.Secrets, store.APIKeyKey(store.LastToken(ik)))
			del(store.Secrets, ik)
		}
	} else {
		errs = append(errs, err)
	}
	del(store.Secrets, store.AccountKey(tid))
	del(store.Secrets, store.DeviceCountKey(tid))
	if err := errors.Join(errs...); err != nil {
		a.log.Error(fmt.Sprintf("cleaning up after the failed signup of tenant %s left records behind: %v", tid, err),
			slog.String("tenant_id", tid), slog.Any("err", err))
	}
}
