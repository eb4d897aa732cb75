package controlplane_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane"
)

// raw sends a request with a literal body and returns status, headers and
// body; the response is still checked against openapi.yaml.
func (e *env) raw(method, path, key, contentType, body string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

var apiKeyRE = regexp.MustCompile(`^fmq_[a-z0-9]{16}_[a-z0-9]{52}$`)

func TestSignup(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	resp, err := apiv1.Created(e.client("").SignupWithResponse(ctx, apiv1.SignupRequest{Name: "Acme Corp", Email: "ops@acme.example"}))
	if err != nil {
		t.Fatalf("Signup: %v", err)
	}
	if !tenant.ValidTenantID(resp.Tenant.ID) || resp.Tenant.Name != "Acme Corp" {
		t.Errorf("tenant = %+v", resp.Tenant)
	}
	if !apiKeyRE.MatchString(resp.APIKey.Key) {
		t.Errorf("api key %q does not look like fmq_<id>_<secret>", resp.APIKey.Key)
	}
	if resp.PlatformKey.Kind != "platform" || resp.PlatformKey.Algorithm != "ES256" || !strings.HasPrefix(resp.PlatformKey.ID, "pk_") {
		t.Errorf("platform key = %+v", resp.PlatformKey)
	}
	if resp.Tenant.Quotas.MaxConnections != tenant.DefaultQuotas.MaxConnections {
		t.Errorf("quotas = %+v, want defaults", resp.Tenant.Quotas)
	}
	// The key works at once.
	got, err := apiv1.OK(e.client(resp.APIKey.Key).GetTenantWithResponse(ctx))
	if err != nil || got.ID != resp.Tenant.ID {
		t.Fatalf("Tenant() = %+v, %v", got, err)
	}
	// The gateway-facing record exists in FLOCK_CONFIG.
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.TenantKey(resp.Tenant.ID)); err != nil {
		t.Errorf("tenants.%s not in %s: %v", resp.Tenant.ID, tenant.ConfigBucket, err)
	}
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.KeyKey(resp.PlatformKey.ID)); err != nil {
		t.Errorf("platform key not in %s: %v", tenant.ConfigBucket, err)
	}
}

func TestSignupValidation(t *testing.T) {
	e := newEnv(t, testConfig())
	tests := []struct {
		name, ct, body string
		status         int
		code           apiv1.Code
		field          string
	}{
		{"missing name", "application/json", `{}`, 400, apiv1.CodeInvalidArgument, "name"},
		{"blank name", "application/json", `{"name":"  "}`, 400, apiv1.CodeInvalidArgument, "name"},
		{"long name", "application/json", `{"name":"` + strings.Repeat("x", 101) + `"}`, 400, apiv1.CodeInvalidArgument, "name"},
		{"control char", "application/json", `{"name":"a\u0007b"}`, 400, apiv1.CodeInvalidArgument, "name"},
		{"bad email", "application/json", `{"name":"a","email":"nope"}`, 400, apiv1.CodeInvalidArgument, "email"},
		{"unknown field", "application/json", `{"name":"a","nmae":"b"}`, 400, apiv1.CodeInvalidArgument, "nmae"},
		{"wrong type", "application/json", `{"name":5}`, 400, apiv1.CodeInvalidArgument, "name"},
		{"not json", "application/json", `name=a`, 400, apiv1.CodeInvalidArgument, ""},
		{"truncated", "application/json", `{"name":"a"`, 400, apiv1.CodeInvalidArgument, ""},
		{"empty", "application/json", ``, 400, apiv1.CodeInvalidArgument, ""},
		{"trailing data", "application/json", `{"name":"a"} {"name":"b"}`, 400, apiv1.CodeInvalidArgument, ""},
		{"wrong content type", "text/plain", `{"name":"a"}`, 415, apiv1.CodeUnsupportedMedia, ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, 413, apiv1.CodeBodyTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.raw("POST", "/v1/signup", "", tt.ct, tt.body)
			if status != tt.status || !strings.Contains(body, `"code":"`+string(tt.code)+`"`) || !strings.Contains(body, `"field":"`+tt.field+`"`) && tt.field != "" {
				t.Errorf("POST /v1/signup %s = %d %s, want %d %s field %q", tt.name, status, body, tt.status, tt.code, tt.field)
			}
		})
	}
}

func TestSignupRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.SignupRateLimit = controlplane.RateLimit{Rate: 1.0 / 3600, Burst: 2}
	e := newEnv(t, cfg)
	ctx := context.Background()
	for i := range 2 {
		if _, err := apiv1.Created(e.client("").SignupWithResponse(ctx, apiv1.SignupRequest{Name: fmt.Sprint("t", i)})); err != nil {
			t.Fatalf("signup %d: %v", i, err)
		}
	}
	status, h, body := e.raw("POST", "/v1/signup", "", "application/json", `{"name":"third"}`)
	if status != http.StatusTooManyRequests || !strings.Contains(body, string(apiv1.CodeRateLimited)) {
		t.Fatalf("third signup = %d %s, want 429 rate_limited", status, body)
	}
	if h.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

func TestAPIKeyRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.APIKeyRateLimit = controlplane.RateLimit{Rate: 0.001, Burst: 3}
	e := newEnv(t, cfg)
	c, _ := e.signup("acme")
	ctx := context.Background()
	var err error
	for range 4 {
		if _, err = apiv1.OK(c.GetTenantWithResponse(ctx)); err != nil {
			break
		}
	}
	if ae := wantAPIError(t, err, 429, apiv1.CodeRateLimited, ""); ae.RetryAfter <= 0 {
		t.Errorf("429 error = %+v, want RetryAfter from the Retry-After header", ae)
	}
}

func TestIPRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.IPRateLimit = controlplane.RateLimit{Rate: 0.001, Burst: 3}
	e := newEnv(t, cfg)
	var status int
	for range 4 {
		status, _, _ = e.raw("GET", "/v1/tenant", "fmq_x", "", "")
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("fourth request = %d, want 429", status)
	}
	if status, _, _ := e.raw("GET", "/healthz", "", "", ""); status != 200 {
		t.Errorf("/healthz = %d under rate limit, want 200 (probes are not limited)", status)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, testConfig())
	c, resp := e.signup("acme")
	ctx := context.Background()
	for _, tt := range []struct{ name, header, msg string }{
		{"no header", "", "Bearer"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "Bearer"},
		{"malformed key", "Bearer fmq_short", "malformed"},
		{"unknown key", "Bearer fmq_0123456789abcdef_" + strings.Repeat("a", 52), "not valid"},
		{"wrong secret", "Bearer " + flipLast(resp.APIKey.Key), "not valid"},
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/devices", nil)
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		r, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 401 || !strings.Contains(string(b), tt.msg) || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s, want 401 mentioning %q with WWW-Authenticate", tt.name, r.StatusCode, b, tt.msg)
		}
	}
	if _, err := apiv1.OK(c.ListDevicesWithResponse(ctx, nil)); err != nil {
		t.Errorf("valid key: %v", err)
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	e := newEnv(t, testConfig())
	status, _, body := e.raw("GET", "/v1/nope", "", "", "")
	if status != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("GET /v1/nope = %d %s, want JSON 404", status, body)
	}
	status, h, body := e.raw("PUT", "/v1/devices", "", "", "")
	if status != 405 || !strings.Contains(body, `"code":"method_not_allowed"`) || h.Get("Allow") == "" {
		t.Errorf("PUT /v1/devices = %d %s (Allow %q), want JSON 405 with Allow", status, body, h.Get("Allow"))
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _, body := e.raw("GET", p, "", "", ""); status != 200 || !strings.Contains(body, `"ok"`) {
			t.Errorf("GET %s = %d %s", p, status, body)
		}
	}
	e.nats.Shutdown()
	status, _, body := e.raw("GET", "/readyz", "", "", "")
	if status != 503 || !strings.Contains(body, "unavailable") {
		t.Errorf("GET /readyz without NATS = %d %s, want 503", status, body)
	}
}

func TestTenantAndQuotas(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	tid := resp.Tenant.ID
	if _, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: []apiv1.CreateDeviceRequest{{ID: "a"}, {ID: "b"}, {ID: "c"}}})); err != nil {
		t.Fatal(err)
	}
	ten, err := apiv1.OK(c.GetTenantWithResponse(ctx))
	if err != nil || ten.Usage == nil || ten.Usage.Devices != 3 {
		t.Fatalf("Tenant() = %+v, %v; want usage.devices 3", ten, err)
	}
	q, err := apiv1.OK(c.GetTenantQuotasWithResponse(ctx))
	if err != nil || q.Effective != q.Defaults || q.Overrides != (apiv1.Quotas{}) {
		t.Fatalf("Quotas() = %+v, %v; want defaults and no overrides", q, err)
	}

	// Admin: set an override; it is effective and mirrored where gateways read.
	q, err = apiv1.OK(e.admin().AdminPutTenantQuotasWithResponse(ctx, tid, apiv1.QuotasInput{MaxConnections: 5, MaxPayloadBytes: 1024}))
	if err != nil {
		t.Fatalf("AdminPutQuotas: %v", err)
	}
	if q.Effective.MaxConnections != 5 || q.Effective.MaxPayloadBytes != 1024 || q.Effective.MaxRetained != tenant.DefaultQuotas.MaxRetained {
		t.Errorf("effective = %+v", q.Effective)
	}
	if ten, _ := apiv1.OK(c.GetTenantWithResponse(ctx)); ten.Quotas.MaxConnections != 5 {
		t.Errorf("tenant quotas after override = %+v", ten.Quotas)
	}
	entry, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.QuotasKey(tid))
	if err != nil || !strings.Contains(string(entry.Value()), `"max_connections":5`) {
		t.Errorf("quotas.%s = %v, %v", tid, entry, err)
	}

	// Admin failures.
	_, err = apiv1.OK(e.admin().AdminPutTenantQuotasWithResponse(ctx, tid, apiv1.QuotasInput{MaxRetained: -1}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "max_retained")
	_, err = apiv1.OK(e.admin().AdminPutTenantQuotasWithResponse(ctx, "t-nosuchtenant", apiv1.QuotasInput{}))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	_, err = apiv1.OK(c.AdminListTenantsWithResponse(ctx)) // a tenant's API key is not the admin key
	wantAPIError(t, err, 401, apiv1.CodeUnauthenticated, "")
	_, err = apiv1.OK(e.client("").AdminListTenantsWithResponse(ctx))
	wantAPIError(t, err, 401, apiv1.CodeUnauthenticated, "")

	list, err := apiv1.OK(e.admin().AdminListTenantsWithResponse(ctx))
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != tid {
		t.Errorf("AdminListTenants = %+v, %v", list, err)
	}

	// Disabling a tenant locks its API keys out (and gateways read the flag).
	if ten, err := apiv1.OK(e.admin().AdminUpdateTenantWithResponse(ctx, tid, apiv1.AdminUpdateTenantRequest{Disabled: new(true)})); err != nil || !ten.Disabled {
		t.Fatalf("AdminSetTenantDisabled(true) = %+v, %v", ten, err)
	}
	_, err = apiv1.OK(c.GetTenantWithResponse(ctx))
	wantAPIError(t, err, 403, apiv1.CodePermissionDenied, "")
	if entry, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.TenantKey(tid)); err != nil || !strings.Contains(string(entry.Value()), `"disabled":true`) {
		t.Errorf("tenants.%s after disable = %v, %v", tid, entry, err)
	}
	if _, err := apiv1.OK(e.admin().AdminUpdateTenantWithResponse(ctx, tid, apiv1.AdminUpdateTenantRequest{Disabled: new(false)})); err != nil {
		t.Fatal(err)
	}
	if _, err := apiv1.OK(c.GetTenantWithResponse(ctx)); err != nil {
		t.Errorf("after enabling: %v", err)
	}
	_, err = apiv1.OK(e.admin().AdminUpdateTenantWithResponse(ctx, "t-nosuchtenant", apiv1.AdminUpdateTenantRequest{Disabled: new(true)}))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	status, _, body := e.raw("PATCH", "/v1/admin/tenants/"+tid, testAdminKey, "application/json", `{}`)
	if status != 400 || !strings.Contains(body, `"field":"disabled"`) {
		t.Errorf("PATCH tenant without disabled = %d %s", status, body)
	}

	cfg := testConfig()
	cfg.AdminKey = ""
	e2 := newEnv(t, cfg)
	_, err = apiv1.OK(e2.client(testAdminKey).AdminListTenantsWithResponse(ctx))
	wantAPIError(t, err, 403, apiv1.CodePermissionDenied, "")
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	k, err := apiv1.Created(c.CreateAPIKeyWithResponse(ctx, apiv1.CreateAPIKeyRequest{Name: "ci"}))
	if err != nil || !apiKeyRE.MatchString(k.Key) || k.Name != "ci" {
		t.Fatalf("CreateAPIKey = %+v, %v", k, err)
	}
	keys, err := apiv1.OK(c.ListAPIKeysWithResponse(ctx))
	if err != nil || len(keys.Items) != 2 {
		t.Fatalf("ListAPIKeys = %+v, %v; want 2", keys, err)
	}
	c2 := e.client(k.Key)
	if err := apiv1.NoContent(c2.DeleteAPIKeyWithResponse(ctx, resp.APIKey.ID)); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	_, err = apiv1.OK(c.GetTenantWithResponse(ctx))
	wantAPIError(t, err, 401, apiv1.CodeUnauthenticated, "")
	err = apiv1.NoContent(c2.DeleteAPIKeyWithResponse(ctx, resp.APIKey.ID))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	err = apiv1.NoContent(c2.DeleteAPIKeyWithResponse(ctx, k.ID)) // the last key: refused, not a lock-out
	wantAPIError(t, err, 409, apiv1.CodeFailedPrecondition, "")
	err = apiv1.NoContent(c2.DeleteAPIKeyWithResponse(ctx, "bad.id*"))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	_, err = apiv1.Created(c2.CreateAPIKeyWithResponse(ctx, apiv1.CreateAPIKeyRequest{Name: strings.Repeat("n", 101)}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "name")
}

func TestDevices(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	tid := resp.Tenant.ID
	d, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7", Tags: map[string]string{"site": "berlin"}, Metadata: map[string]string{"fw": "1.2"}}))
	if err != nil || d.ID != "sensor-7" || d.Tags["site"] != "berlin" || d.Disabled {
		t.Fatalf("CreateDevice = %+v, %v", d, err)
	}
	// The gateway-facing record.
	entry, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.DeviceKey(tid, "sensor-7"))
	if err != nil || !strings.Contains(string(entry.Value()), `"tenant_id":"`+tid+`"`) {
		t.Fatalf("devices.%s.sensor-7 = %v, %v", tid, entry, err)
	}
	_, err = apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"}))
	wantAPIError(t, err, 409, apiv1.CodeAlreadyExists, "id")

	for _, tt := range []struct {
		req   apiv1.CreateDeviceRequest
		field string
	}{
		{apiv1.CreateDeviceRequest{}, "id"},
		{apiv1.CreateDeviceRequest{ID: "a.b"}, "id"},
		{apiv1.CreateDeviceRequest{ID: strings.Repeat("x", 129)}, "id"},
		{apiv1.CreateDeviceRequest{ID: "ok", Tags: map[string]string{"bad key": "v"}}, "tags.bad key"},
		{apiv1.CreateDeviceRequest{ID: "ok", Tags: map[string]string{"k": strings.Repeat("v", 257)}}, "tags.k"},
		{apiv1.CreateDeviceRequest{ID: "ok", Metadata: map[string]string{"k": strings.Repeat("v", 1025)}}, "metadata.k"},
	} {
		_, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, tt.req))
		wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, tt.field)
	}

	got, err := apiv1.OK(c.GetDeviceWithResponse(ctx, "sensor-7"))
	if err != nil || got.ID != "sensor-7" || got.Metadata["fw"] != "1.2" {
		t.Fatalf("GetDevice = %+v, %v", got, err)
	}
	_, err = apiv1.OK(c.GetDeviceWithResponse(ctx, "nope"))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")

	tags := map[string]string{"site": "paris"}
	yes := true
	up, err := apiv1.OK(c.UpdateDeviceWithResponse(ctx, "sensor-7", apiv1.UpdateDeviceRequest{Tags: &tags, Disabled: &yes}))
	if err != nil || up.Tags["site"] != "paris" || !up.Disabled || up.Metadata["fw"] != "1.2" || !up.UpdatedAt.After(up.CreatedAt) && !up.UpdatedAt.Equal(up.CreatedAt) {
		t.Fatalf("UpdateDevice = %+v, %v", up, err)
	}
	_, err = apiv1.OK(c.UpdateDeviceWithResponse(ctx, "nope", apiv1.UpdateDeviceRequest{Disabled: &yes}))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	bad := map[string]string{"": "x"}
	_, err = apiv1.OK(c.UpdateDeviceWithResponse(ctx, "sensor-7", apiv1.UpdateDeviceRequest{Tags: &bad}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "tags.")
	status, _, body := e.raw("PATCH", "/v1/devices/sensor-7", resp.APIKey.Key, "application/json", `{"disabled":true,"colour":"red"}`)
	if status != 400 || !strings.Contains(body, `"field":"colour"`) {
		t.Errorf("PATCH with unknown field = %d %s", status, body)
	}

	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "sensor-7")); err != nil {
		t.Fatalf("DeleteDevice: %v", err)
	}
	_, err = apiv1.OK(c.GetDeviceWithResponse(ctx, "sensor-7"))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	err = apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "sensor-7"))
	wantAPIError(t, err, 404, apiv1.CodeNotFound, "")
	// Deleting revoked the device's tokens for the gateways.
	if _, err := e.kv(tenant.ConfigBucket).Get(ctx, tenant.RevokedKey(tid, tenant.RevokeDevice, "sensor-7")); err != nil {
		t.Errorf("no device revocation after delete: %v", err)
	}
	// The id can be used again.
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"})); err != nil {
		t.Errorf("re-create after delete: %v", err)
	}
}

func TestDeviceListPagination(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, resp := e.signup("acme")
	var reqs []apiv1.CreateDeviceRequest
	for i := range 25 {
		site := "berlin"
		if i%5 == 0 {
			site = "paris"
		}
		reqs = append(reqs, apiv1.CreateDeviceRequest{ID: fmt.Sprintf("dev-%02d", i), Tags: map[string]string{"site": site, "kind": "meter"}})
	}
	reqs = append(reqs, apiv1.CreateDeviceRequest{ID: "other-1"})
	if r, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: reqs})); err != nil || r.Created != 26 {
		t.Fatalf("BulkCreateDevices = %+v, %v", r, err)
	}
	var ids []string
	var cursor *string
	pages := 0
	for {
		page, err := apiv1.OK(c.ListDevicesWithResponse(ctx, &apiv1.ListDevicesParams{Limit: new(10), Cursor: cursor}))
		if err != nil {
			t.Fatalf("ListDevices: %v", err)
		}
		pages++
		for _, d := range page.Items {
			ids = append(ids, d.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = &page.NextCursor
	}
	if pages != 3 || len(ids) != 26 || ids[0] != "dev-00" || ids[25] != "other-1" {
		t.Fatalf("pages %d, ids %v", pages, ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Fatalf("ids out of order at %d: %v", i, ids)
		}
	}
	// The client's iterator walks the same pages; a refused listing is its
	// one and last element.
	var walked []string
	for d, err := range c.Devices(ctx, apiv1.ListDevicesParams{Limit: new(10)}) {
		if err != nil {
			t.Fatalf("Devices: %v", err)
		}
		walked = append(walked, d.ID)
	}
	if !slices.Equal(walked, ids) {
		t.Errorf("Devices walked %v, want %v", walked, ids)
	}
	for d, err := range c.Devices(ctx, apiv1.ListDevicesParams{Limit: new(10)}) {
		if err != nil || d.ID != "dev-00" {
			t.Errorf("first of Devices = %q, %v", d.ID, err)
		}
		break
	}
	n := 0
	for _, err := range c.Devices(ctx, apiv1.ListDevicesParams{Prefix: new("a.b")}) {
		n++
		wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "prefix")
	}
	if n != 1 {
		t.Errorf("Devices with a refused prefix yielded %d elements, want 1", n)
	}
	page, err := apiv1.OK(c.ListDevicesWithResponse(ctx, &apiv1.ListDevicesParams{Tag: []string{"site:paris", "kind:meter"}}))
	if err != nil || len(page.Items) != 5 {
		t.Errorf("tag filter = %d items, %v; want 5", len(page.Items), err)
	}
	page, err = apiv1.OK(c.ListDevicesWithResponse(ctx, &apiv1.ListDevicesParams{Prefix: new("other")}))
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "other-1" {
		t.Errorf("prefix filter = %+v, %v", page.Items, err)
	}
	for _, q := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"},
		{"cursor=***", "cursor"}, {"tag=nocolon", "tag"}, {"prefix=a.b", "prefix"},
	} {
		status, _, body := e.raw("GET", "/v1/devices?"+q.query, resp.APIKey.Key, "", "")
		if status != 400 || !strings.Contains(body, `"field":"`+q.field+`"`) {
			t.Errorf("GET /v1/devices?%s = %d %s, want 400 on %s", q.query, status, body, q.field)
		}
	}
}

func TestBulkCreateValidation(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	ctx := context.Background()
	c, resp := e.signup("acme")
	for _, id := range []string{"exists", "gone"} {
		if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: id})); err != nil {
			t.Fatal(err)
		}
	}
	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "gone")); err != nil { // leaves a KV delete marker
		t.Fatal(err)
	}
	r, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: []apiv1.CreateDeviceRequest{
		{ID: "ok-1"}, {ID: "bad id"}, {ID: "exists"}, {ID: "ok-1"}, {ID: "ok-2", Tags: map[string]string{"k:": "v"}}, {ID: "gone"},
	}}))
	if err != nil {
		t.Fatalf("BulkCreateDevices: %v", err)
	}
	want := []struct {
		status int
		field  string
	}{{201, ""}, {400, "devices[1].id"}, {409, "devices[2].id"}, {409, "devices[3].id"}, {400, "devices[4].tags.k:"}, {201, ""}}
	if r.Created != 2 || r.Failed != 4 || len(r.Items) != 6 {
		t.Fatalf("result = %+v", r)
	}
	for i, w := range want {
		it := r.Items[i]
		if it.Status != w.status || (w.field != "" && (it.Error == nil || it.Error.Field != w.field)) {
			t.Errorf("items[%d] = %+v (error %+v), want %d on %q", i, it, it.Error, w.status, w.field)
		}
	}
	_, err = apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: nil}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "devices")

	// Items that do not decode fail alone, named by index.
	status, _, body := e.raw("POST", "/v1/devices:bulk", resp.APIKey.Key, "application/json",
		`{"devices":[{"id":"fine"},{"id":5},{"id":"x","colour":"red"},null]}`)
	for _, want := range []string{`"created":1`, `"field":"devices[1].id"`, `"field":"devices[2].colour"`, `"field":"devices[3]"`} {
		if status != 201 || !strings.Contains(body, want) {
			t.Errorf("bulk with undecodable items = %d %s, want 201 containing %s", status, body, want)
		}
	}
	many := make([]apiv1.CreateDeviceRequest, 10001)
	for i := range many {
		many[i].ID = fmt.Sprint("d", i)
	}
	_, err = apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: many}))
	wantAPIError(t, err, 400, apiv1.CodeInvalidArgument, "devices")
}

// TestBulkCreate10000 imports the largest batch; the time is logged, not
// asserted.
func TestBulkCreate10000(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 10,000 devices; skipped with -short")
	}
	e := newEnv(t, testConfig())
	ctx := context.Background()
	c, _ := e.signup("acme")
	devs := make([]apiv1.CreateDeviceRequest, 10000)
	for i := range devs {
		devs[i] = apiv1.CreateDeviceRequest{ID: fmt.Sprintf("meter-%05d", i), Tags: map[string]string{"fleet": "a"}}
	}
	start := time.Now()
	r, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: devs}))
	took := time.Since(start)
	if err != nil || r.Created != 10000 || r.Failed != 0 {
		t.Fatalf("BulkCreateDevices = created %d failed %d, %v", r.Created, r.Failed, err)
	}
	t.Logf("bulk import of 10000 devices took %s (%.0f devices/s)", took, 10000/took.Seconds())
	start = time.Now()
	page, err := apiv1.OK(c.ListDevicesWithResponse(ctx, &apiv1.ListDevicesParams{Limit: new(1000), Prefix: new("meter-09")}))
	if err != nil || len(page.Items) != 1000 {
		t.Fatalf("ListDevices = %d items, %v", len(page.Items), err)
	}
	t.Logf("listing a 1000-device page of 10000 took %s", time.Since(start))
	ten, err := apiv1.OK(c.GetTenantWithResponse(ctx))
	if err != nil || ten.Usage.Devices != 10000 {
		t.Errorf("usage = %+v, %v", ten.Usage, err)
	}
}

// flipLast changes the last character of s to a different letter.
func flipLast(s string) string {
	if strings.HasSuffix(s, "a") {
		return s[:len(s)-1] + "b"
	}
	return s[:len(s)-1] + "a"
}

func TestDeviceQuota(t *testing.T) {
	var offset atomic.Int64
	e := newEnvClock(t, natstest.Start(t), testConfig(), func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	ctx := context.Background()
	c, resp := e.signup("acme")
	tid := resp.Tenant.ID
	if _, err := apiv1.OK(e.admin().AdminPutTenantQuotasWithResponse(ctx, tid, apiv1.QuotasInput{MaxDevices: 3})); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: id})); err != nil {
			t.Fatal(err)
		}
	}
	// A failed create gives its room back.
	_, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "a"}))
	wantAPIError(t, err, 409, apiv1.CodeAlreadyExists, "id")
	// One slot left: a bulk of three creates one.
	r, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: []apiv1.CreateDeviceRequest{{ID: "c"}, {ID: "d"}, {ID: "e"}}}))
	if err != nil || r.Created != 1 || r.Items[0].Status != 201 || r.Items[1].Status != 409 || r.Items[1].Error.Code != apiv1.CodeFailedPrecondition {
		t.Fatalf("bulk at the quota = %+v, %v", r, err)
	}
	_, err = apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "f"}))
	ae := wantAPIError(t, err, 409, apiv1.CodeFailedPrecondition, "")
	if !strings.Contains(ae.Message, "quota of 3 devices") {
		t.Errorf("quota message = %q", ae.Message)
	}
	// Deleting makes room.
	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "f"})); err != nil {
		t.Errorf("create after a delete: %v", err)
	}
	// A counter that drifted high (a crash between reserve and write) is
	// recounted before a create is refused, once no create can be in
	// flight any more.
	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "f")); err != nil { // 2 devices left
		t.Fatal(err)
	}
	if _, err := e.kv(tenant.SecretsBucket).Put(ctx, "devcount."+tid, []byte(`{"count":3}`)); err != nil {
		t.Fatal(err)
	}
	_, err = apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "g"}))
	wantAPIError(t, err, 409, apiv1.CodeFailedPrecondition, "") // a fresh counter is trusted
	offset.Store(int64(10 * time.Minute))
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "g"})); err != nil {
		t.Errorf("create with a stale drifted counter: %v", err)
	}
	if ten, _ := apiv1.OK(c.GetTenantWithResponse(ctx)); ten.Usage.Devices != 3 || ten.Quotas.MaxDevices != 3 {
		t.Errorf("tenant = %+v", ten)
	}
}
