// Package client is a Go client for version 1 of the FlockMQ control-plane
// API (api/controlplane/v1/openapi.yaml). flockctl and the integration tests
// use it. A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

// Client calls the API at BaseURL with a bearer key.
type Client struct {
	baseURL string
	key     string
	http    *http.Client
}

// New returns a client for the API at baseURL (e.g. "https://cp.example.com")
// authenticating with key (an API key, the admin key, or "" for signup).
// A nil hc means a client with a 60-second timeout.
func New(baseURL, key string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), key: key, http: hc}
}

// Error is an error response of the API.
type Error struct {
	Status int
	apiv1.ErrorBody
}

func (e *Error) Error() string {
	s := fmt.Sprintf("controlplane: %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// IsNotFound reports whether err is a 404 from the API.
func IsNotFound(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Status == http.StatusNotFound
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("controlplane: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("controlplane: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("controlplane: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("controlplane: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e apiv1.Error
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return &Error{Status: resp.StatusCode, ErrorBody: apiv1.ErrorBody{Code: "http_" + strconv.Itoa(resp.StatusCode),
				Message: strings.TrimSpace(string(data))}}
		}
		return &Error{Status: resp.StatusCode, ErrorBody: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("controlplane: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// Signup creates a tenant; the client needs no key.
func (c *Client) Signup(ctx context.Context, req apiv1.SignupRequest) (apiv1.SignupResponse, error) {
	var out apiv1.SignupResponse
	return out, c.do(ctx, http.MethodPost, "/v1/signup", req, &out)
}

// Tenant returns the caller's tenant.
func (c *Client) Tenant(ctx context.Context) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodGet, "/v1/tenant", nil, &out)
}

// Quotas returns the caller's quotas.
func (c *Client) Quotas(ctx context.Context) (apiv1.TenantQuotas, error) {
	var out apiv1.TenantQuotas
	return out, c.do(ctx, http.MethodGet, "/v1/tenant/quotas", nil, &out)
}

// CreateAPIKey creates an API key.
func (c *Client) CreateAPIKey(ctx context.Context, name string) (apiv1.CreatedAPIKey, error) {
	var out apiv1.CreatedAPIKey
	return out, c.do(ctx, http.MethodPost, "/v1/api-keys", apiv1.CreateAPIKeyRequest{Name: name}, &out)
}

// ListAPIKeys lists the tenant's API keys.
func (c *Client) ListAPIKeys(ctx context.Context) ([]apiv1.APIKey, error) {
	var out apiv1.APIKeyList
	return out.Items, c.do(ctx, http.MethodGet, "/v1/api-keys", nil, &out)
}

// DeleteAPIKey deletes an API key.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/api-keys/"+esc(id), nil, nil)
}

// CreateDevice registers a device.
func (c *Client) CreateDevice(ctx context.Context, req apiv1.CreateDeviceRequest) (apiv1.Device, error) {
	var out apiv1.Device
	return out, c.do(ctx, http.MethodPost, "/v1/devices", req, &out)
}

// BulkCreateDevices registers up to 10,000 devices.
func (c *Client) BulkCreateDevices(ctx context.Context, devices []apiv1.CreateDeviceRequest) (apiv1.BulkCreateDevicesResponse, error) {
	var out apiv1.BulkCreateDevicesResponse
	return out, c.do(ctx, http.MethodPost, "/v1/devices:bulk", apiv1.BulkCreateDevicesRequest{Devices: devices}, &out)
}

// GetDevice returns a device.
func (c *Client) GetDevice(ctx context.Context, id string) (apiv1.Device, error) {
	var out apiv1.Device
	return out, c.do(ctx, http.MethodGet, "/v1/devices/"+esc(id), nil, &out)
}

// UpdateDevice changes a device.
func (c *Client) UpdateDevice(ctx context.Context, id string, req apiv1.UpdateDeviceRequest) (apiv1.Device, error) {
	var out apiv1.Device
	return out, c.do(ctx, http.MethodPatch, "/v1/devices/"+esc(id), req, &out)
}

// DeleteDevice deletes a device.
func (c *Client) DeleteDevice(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+esc(id), nil, nil)
}

// DeviceStatus returns whether a device is connected, where and since
// when, and why it last disconnected.
func (c *Client) DeviceStatus(ctx context.Context, id string) (apiv1.DeviceStatus, error) {
	var out apiv1.DeviceStatus
	return out, c.do(ctx, http.MethodGet, "/v1/devices/"+esc(id)+"/status", nil, &out)
}

// ListDevicesOptions filter and page a device listing.
type ListDevicesOptions struct {
	Limit  int               // 0 means the server's default
	Cursor string            // next_cursor of the previous page
	Prefix string            // device id prefix
	Tags   map[string]string // every tag must match
	// IncludeStatus adds each device's connection status (include=status).
	IncludeStatus bool
}

// ListDevices returns one page of devices.
func (c *Client) ListDevices(ctx context.Context, o ListDevicesOptions) (apiv1.DeviceList, error) {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	for k, v := range o.Tags {
		q.Add("tag", k+":"+v)
	}
	if o.IncludeStatus {
		q.Set("include", "status")
	}
	path := "/v1/devices"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out apiv1.DeviceList
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// AddDeviceKey registers a device's public key.
func (c *Client) AddDeviceKey(ctx context.Context, deviceID string, req apiv1.AddDeviceKeyRequest) (apiv1.DeviceKey, error) {
	var out apiv1.DeviceKey
	return out, c.do(ctx, http.MethodPost, "/v1/devices/"+esc(deviceID)+"/keys", req, &out)
}

// ListDeviceKeys lists a device's keys.
func (c *Client) ListDeviceKeys(ctx context.Context, deviceID string) ([]apiv1.DeviceKey, error) {
	var out apiv1.DeviceKeyList
	return out.Items, c.do(ctx, http.MethodGet, "/v1/devices/"+esc(deviceID)+"/keys", nil, &out)
}

// DeleteDeviceKey revokes a device key.
func (c *Client) DeleteDeviceKey(ctx context.Context, deviceID, kid string) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+esc(deviceID)+"/keys/"+esc(kid), nil, nil)
}

// IssueToken issues a platform-signed token for a device; ttl 0 means the
// server's default.
func (c *Client) IssueToken(ctx context.Context, deviceID string, ttl time.Duration) (apiv1.IssuedToken, error) {
	var out apiv1.IssuedToken
	return out, c.do(ctx, http.MethodPost, "/v1/devices/"+esc(deviceID)+"/tokens", apiv1.IssueTokenRequest{TTLSeconds: int64(ttl / time.Second)}, &out)
}

// AddIssuerKeys registers tenant issuer keys.
func (c *Client) AddIssuerKeys(ctx context.Context, req apiv1.AddIssuerKeysRequest) ([]apiv1.IssuerKey, error) {
	var out apiv1.IssuerKeyList
	return out.Items, c.do(ctx, http.MethodPost, "/v1/issuer-keys", req, &out)
}

// ListIssuerKeys lists the keys verifying the tenant's tokens.
func (c *Client) ListIssuerKeys(ctx context.Context) ([]apiv1.IssuerKey, error) {
	var out apiv1.IssuerKeyList
	return out.Items, c.do(ctx, http.MethodGet, "/v1/issuer-keys", nil, &out)
}

// DeleteIssuerKey revokes an issuer key.
func (c *Client) DeleteIssuerKey(ctx context.Context, kid string) error {
	return c.do(ctx, http.MethodDelete, "/v1/issuer-keys/"+esc(kid), nil, nil)
}

// Revoke records a revocation.
func (c *Client) Revoke(ctx context.Context, req apiv1.CreateRevocationRequest) (apiv1.Revocation, error) {
	var out apiv1.Revocation
	return out, c.do(ctx, http.MethodPost, "/v1/revocations", req, &out)
}

// ListRevocations lists the revocations in force.
func (c *Client) ListRevocations(ctx context.Context) ([]apiv1.Revocation, error) {
	var out apiv1.RevocationList
	return out.Items, c.do(ctx, http.MethodGet, "/v1/revocations", nil, &out)
}

// AdminListTenants lists every tenant; the client's key must be the admin key.
func (c *Client) AdminListTenants(ctx context.Context) ([]apiv1.Tenant, error) {
	var out apiv1.TenantList
	return out.Items, c.do(ctx, http.MethodGet, "/v1/admin/tenants", nil, &out)
}

// AdminPutQuotas sets a tenant's quota overrides; the client's key must be
// the admin key.
func (c *Client) AdminPutQuotas(ctx context.Context, tid string, q apiv1.Quotas) (apiv1.TenantQuotas, error) {
	var out apiv1.TenantQuotas
	return out, c.do(ctx, http.MethodPut, "/v1/admin/tenants/"+esc(tid)+"/quotas", q, &out)
}

// AdminSetTenantDisabled disables or enables a tenant; the client's key must
// be the admin key.
func (c *Client) AdminSetTenantDisabled(ctx context.Context, tid string, disabled bool) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodPatch, "/v1/admin/tenants/"+esc(tid), apiv1.AdminUpdateTenantRequest{Disabled: &disabled}, &out)
}
