package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/credentials"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// Most keys per device and per tenant issuer set.
const (
	maxDeviceKeys = 10
	maxIssuerKeys = 100
)

func deviceKeyOut(k tenant.Key) apiv1.DeviceKey {
	return apiv1.DeviceKey{ID: k.ID, DeviceID: k.DeviceID, Algorithm: apiv1.Algorithm(k.Algorithm), PublicKeyPEM: k.PublicKeyPEM,
		NotAfter: k.NotAfter, CreatedAt: k.CreatedAt}
}

func issuerKeyOut(k tenant.Key) apiv1.IssuerKey {
	return apiv1.IssuerKey{ID: k.ID, Kind: apiv1.IssuerKeyKind(k.Kind), Algorithm: apiv1.Algorithm(k.Algorithm), PublicKeyPEM: k.PublicKeyPEM,
		NotAfter: k.NotAfter, CreatedAt: k.CreatedAt}
}

func (a *API) checkNotAfter(field string, t *time.Time) error {
	if t != nil && !t.After(a.now()) {
		return invalid(field, "is in the past; give a time after now (RFC 3339) or leave it out")
	}
	return nil
}

// keysOf loads the keys of one owner through the index.
func (a *API) keysOf(ctx context.Context, tid, owner, did string) ([]tenant.Key, error) {
	idx, err := a.st.Keys(ctx, store.Secrets, store.KeyIndexFilter(tid, owner, did))
	if err != nil {
		return nil, err
	}
	var out []tenant.Key
	for _, ik := range idx {
		var k tenant.Key
		if _, err := a.st.Get(ctx, store.Config, tenant.KeyKey(store.LastToken(ik)), &k); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if k.TenantID == tid {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(x, y tenant.Key) int { return x.CreatedAt.Compare(y.CreatedAt) })
	return out, nil
}

func (a *API) addDeviceKey(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	did := r.PathValue("id")
	if _, _, err := a.loadDevice(r.Context(), tid, did); err != nil {
		return err
	}
	var req apiv1.AddDeviceKeyRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	var pk credentials.PublicKey
	switch {
	case req.PublicKeyPEM != "" && len(req.JWK) > 0:
		return invalid("jwk", "send either public_key_pem or jwk, not both")
	case req.PublicKeyPEM != "":
		pk, err = credentials.ParsePEM("public_key_pem", req.PublicKeyPEM)
	case len(req.JWK) > 0:
		pk, err = credentials.ParseJWK("jwk", req.JWK)
	default:
		return invalid("public_key_pem", "is required (or send the key as jwk)")
	}
	if err != nil {
		return err
	}
	if req.Algorithm != "" && tenant.Algorithm(req.Algorithm) != pk.Algorithm {
		return invalid("algorithm", "is %s but the key is a %s key", req.Algorithm, pk.Algorithm)
	}
	if err := a.checkNotAfter("not_after", req.NotAfter); err != nil {
		return err
	}
	existing, err := a.keysOf(r.Context(), tid, store.OwnerDevice, did)
	if err != nil {
		return internal(err)
	}
	if len(existing) >= maxDeviceKeys {
		return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
			Public: fmt.Sprintf("device %s already has %d keys, the most allowed; delete one first", did, maxDeviceKeys)}
	}
	k := tenant.Key{ID: tenant.NewKeyID(tenant.KeyDevice), TenantID: tid, Kind: tenant.KeyDevice, DeviceID: did,
		Algorithm: pk.Algorithm, PublicKeyPEM: pk.PEM, NotAfter: utcPtr(req.NotAfter), CreatedAt: a.now().UTC()}
	if err := a.putKey(r.Context(), k, store.OwnerDevice); err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s added %s key %s to device %s", tid, k.Algorithm, k.ID, did)
	writeJSON(w, http.StatusCreated, deviceKeyOut(k))
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (a *API) listDeviceKeys(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	did := r.PathValue("id")
	if _, _, err := a.loadDevice(r.Context(), tid, did); err != nil {
		return err
	}
	keys, err := a.keysOf(r.Context(), tid, store.OwnerDevice, did)
	if err != nil {
		return internal(err)
	}
	out := apiv1.DeviceKeyList{Items: []apiv1.DeviceKey{}}
	for _, k := range keys {
		out.Items = append(out.Items, deviceKeyOut(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// loadKey returns a key of the tenant; another tenant's key is not found.
func (a *API) loadKey(ctx context.Context, tid, kid string) (tenant.Key, error) {
	var k tenant.Key
	if !tenant.ValidKeyID(kid) {
		return k, notFound("key " + kid)
	}
	_, err := a.st.Get(ctx, store.Config, tenant.KeyKey(kid), &k)
	if errors.Is(err, store.ErrNotFound) || err == nil && k.TenantID != tid {
		return tenant.Key{}, notFound("key " + kid)
	}
	if err != nil {
		return k, internal(err)
	}
	return k, nil
}

// revokeKey records the revocation of a key and deletes it, so gateways
// both stop accepting it and disconnect sessions it verified.
func (a *API) revokeKey(ctx context.Context, k tenant.Key) error {
	rv := tenant.Revocation{TenantID: k.TenantID, Kind: tenant.RevokeKey, ID: k.ID, RevokedAt: a.now().UTC()}
	if _, err := a.st.Put(ctx, store.Config, tenant.RevokedKey(k.TenantID, tenant.RevokeKey, k.ID), rv); err != nil {
		return err
	}
	owner := store.OwnerIssuer
	switch k.Kind {
	case tenant.KeyDevice:
		owner = store.OwnerDevice
	case tenant.KeyPlatform:
		owner = store.OwnerPlatform
	}
	if err := a.dropKey(ctx, k.TenantID, k.ID, store.KeyIndexKey(k.TenantID, owner, k.DeviceID, k.ID)); err != nil {
		return err
	}
	if k.Kind == tenant.KeyPlatform {
		if err := a.st.Delete(ctx, store.Secrets, tenant.SigningKey(k.TenantID, k.ID)); err != nil {
			return err
		}
	}
	return nil
}

func (a *API) deleteDeviceKey(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	did, kid := r.PathValue("id"), r.PathValue("kid")
	if _, _, err := a.loadDevice(r.Context(), tid, did); err != nil {
		return err
	}
	k, err := a.loadKey(r.Context(), tid, kid)
	if err != nil {
		return err
	}
	if k.Kind != tenant.KeyDevice || k.DeviceID != did {
		return notFound("key " + kid + " of device " + did)
	}
	if err := a.revokeKey(r.Context(), k); err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s revoked key %s of device %s", tid, kid, did)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) issueToken(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	did := r.PathValue("id")
	d, _, err := a.loadDevice(r.Context(), tid, did)
	if err != nil {
		return err
	}
	var req apiv1.IssueTokenRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	ttl := time.Hour
	if req.TTLSeconds != 0 {
		if req.TTLSeconds < 60 || time.Duration(req.TTLSeconds)*time.Second > a.cfg.MaxTokenTTL {
			return invalid("ttl_seconds", "must be from 60 to %d seconds", int64(a.cfg.MaxTokenTTL/time.Second))
		}
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	if d.Disabled {
		return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
			Public: "device " + did + " is disabled; enable it (PATCH disabled=false) before issuing tokens"}
	}
	keys, err := a.keysOf(r.Context(), tid, store.OwnerPlatform, "")
	if err != nil {
		return internal(err)
	}
	var sk store.SigningKey
	found := false
	// Newest key first: after a rotation, tokens are signed with the new key.
	for i := len(keys) - 1; i >= 0 && !found; i-- {
		_, err := a.st.Get(r.Context(), store.Secrets, tenant.SigningKey(tid, keys[i].ID), &sk)
		if err == nil {
			found = true
		} else if !errors.Is(err, store.ErrNotFound) {
			return internal(err)
		}
	}
	if !found {
		k, err := a.newPlatformKey(r.Context(), tid, a.now().UTC())
		if err != nil {
			return internal(err)
		}
		if _, err := a.st.Get(r.Context(), store.Secrets, tenant.SigningKey(tid, k.ID), &sk); err != nil {
			return internal(err)
		}
		a.event(r.Context(), tid, "tenant %s had no platform signing key; created %s", tid, k.ID)
	}
	tok, err := credentials.IssueToken(credentials.TokenRequest{
		KeyID: sk.ID, PrivateKeyPEM: sk.PrivateKeyPEM, DeviceID: did,
		Audience: a.cfg.Audience, Issuer: a.cfg.Issuer, IssuedAt: a.now(), TTL: ttl,
	})
	if err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s issued a token for device %s valid until %s", tid, did, tok.ExpiresAt.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusCreated, apiv1.IssuedToken{Token: tok.Token, TokenID: tok.ID, KeyID: sk.ID, DeviceID: did, ExpiresAt: tok.ExpiresAt.UTC()})
	return nil
}

func (a *API) addIssuerKeys(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	var req apiv1.AddIssuerKeysRequest
	if err := decode(w, r, a.cfg.BodyLimit, &req); err != nil {
		return err
	}
	var pks []credentials.PublicKey
	switch {
	case req.PublicKeyPEM != "" && len(req.JWKS) > 0:
		return invalid("jwks", "send either public_key_pem or jwks, not both")
	case req.PublicKeyPEM != "":
		pk, err := credentials.ParsePEM("public_key_pem", req.PublicKeyPEM)
		if err != nil {
			return err
		}
		pks = []credentials.PublicKey{pk}
	case len(req.JWKS) > 0:
		if pks, err = credentials.ParseJWKS("jwks", req.JWKS); err != nil {
			return err
		}
	default:
		return invalid("public_key_pem", "is required (or send a JWKS document as jwks)")
	}
	if err := a.checkNotAfter("not_after", req.NotAfter); err != nil {
		return err
	}
	existing, err := a.keysOf(r.Context(), tid, store.OwnerIssuer, "")
	if err != nil {
		return internal(err)
	}
	if len(existing)+len(pks) > maxIssuerKeys {
		return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
			Public: fmt.Sprintf("the tenant would have more than %d issuer keys; delete unused ones first", maxIssuerKeys)}
	}
	out := apiv1.IssuerKeyList{Items: []apiv1.IssuerKey{}}
	now := a.now().UTC()
	for _, pk := range pks {
		k := tenant.Key{ID: tenant.NewKeyID(tenant.KeyIssuer), TenantID: tid, Kind: tenant.KeyIssuer,
			Algorithm: pk.Algorithm, PublicKeyPEM: pk.PEM, NotAfter: utcPtr(req.NotAfter), CreatedAt: now}
		if err := a.putKey(r.Context(), k, store.OwnerIssuer); err != nil {
			return internal(err)
		}
		ik := issuerKeyOut(k)
		ik.SourceKID = pk.SourceKID
		out.Items = append(out.Items, ik)
		a.event(r.Context(), tid, "tenant %s added %s issuer key %s", tid, k.Algorithm, k.ID)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listIssuerKeys(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	out := apiv1.IssuerKeyList{Items: []apiv1.IssuerKey{}}
	for _, owner := range []string{store.OwnerPlatform, store.OwnerIssuer} {
		keys, err := a.keysOf(r.Context(), tid, owner, "")
		if err != nil {
			return internal(err)
		}
		for _, k := range keys {
			out.Items = append(out.Items, issuerKeyOut(k))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteIssuerKey(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	k, err := a.loadKey(r.Context(), tid, r.PathValue("kid"))
	if err != nil {
		return err
	}
	switch k.Kind {
	case tenant.KeyIssuer:
	case tenant.KeyPlatform:
		return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
			Public: "key " + k.ID + " is the platform's signing key; rotate it with POST /v1/revocations {\"kind\":\"key\"}"}
	default:
		return notFound("issuer key " + k.ID)
	}
	if err := a.revokeKey(r.Context(), k); err != nil {
		return internal(err)
	}
	a.event(r.Context(), tid, "tenant %s revoked issuer key %s", tid, k.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
