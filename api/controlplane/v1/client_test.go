package apiv1_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

// serve starts a server answering every request with h and returns a
// client for it holding key. The control plane's own tests run the client
// against the real server; these cover answers it never gives (a proxy's
// error page, a wrong status).
func serve(t testing.TB, key string, h http.HandlerFunc) *apiv1.ClientWithResponses {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return apiv1.New(srv.URL, key, srv.Client())
}

func answer(status int, contentType, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name    string
		h       http.HandlerFunc
		want    apiv1.APIError
		wantMsg string // in Error()
	}{
		{"API error with a field",
			answer(400, "application/json", `{"error":{"code":"invalid_argument","message":"is too long","field":"devices[3].id"}}`),
			apiv1.APIError{Status: 400, ErrorBody: apiv1.ErrorBody{Code: apiv1.CodeInvalidArgument, Message: "is too long", Field: "devices[3].id"}},
			"apiv1: 400 invalid_argument: is too long (field devices[3].id)"},
		{"not found",
			answer(404, "application/json", `{"error":{"code":"not_found","message":"device x not found"}}`),
			apiv1.APIError{Status: 404, ErrorBody: apiv1.ErrorBody{Code: apiv1.CodeNotFound, Message: "device x not found"}},
			"apiv1: 404 not_found: device x not found"},
		{"rate limited with Retry-After",
			answer(429, "application/json", `{"error":{"code":"rate_limited","message":"slow down"}}`, "Retry-After", "7"),
			apiv1.APIError{Status: 429, ErrorBody: apiv1.ErrorBody{Code: apiv1.CodeRateLimited, Message: "slow down"}, RetryAfter: 7 * time.Second},
			"apiv1: 429 rate_limited: slow down"},
		{"a proxy's page",
			answer(502, "text/html", "<html>Bad Gateway</html>\n"),
			apiv1.APIError{Status: 502, ErrorBody: apiv1.ErrorBody{Code: "http_502", Message: "<html>Bad Gateway</html>"}},
			"apiv1: 502 http_502: <html>Bad Gateway</html>"},
		{"JSON that is not an API error",
			answer(500, "application/json", `{"oops":true}`),
			apiv1.APIError{Status: 500, ErrorBody: apiv1.ErrorBody{Code: "http_500", Message: `{"oops":true}`}},
			`apiv1: 500 http_500: {"oops":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, "fmq_k", tt.h)
			_, err := apiv1.OK(c.GetDeviceWithResponse(context.Background(), "x"))
			ae, ok := errors.AsType[*apiv1.APIError](err)
			if !ok {
				t.Fatalf("GetDevice error = %v (%T), want *APIError", err, err)
			}
			if *ae != tt.want {
				t.Errorf("GetDevice error = %+v, want %+v", *ae, tt.want)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantMsg)
			}
			if got := apiv1.IsNotFound(err); got != (tt.want.Status == 404) {
				t.Errorf("IsNotFound = %v for status %d", got, tt.want.Status)
			}
		})
	}
}

func TestNewSendsKey(t *testing.T) {
	for _, key := range []string{"fmq_abc_def", ""} {
		var got []string
		c := serve(t, key, func(w http.ResponseWriter, r *http.Request) {
			got = append(got, r.Header.Get("Authorization"), r.Header.Get("Accept"), r.URL.Path)
			answer(200, "application/json", `{"status":"ok"}`)(w, r)
		})
		h, err := apiv1.OK(c.HealthzWithResponse(context.Background()))
		if err != nil || h.Status != apiv1.HealthStatusOk {
			t.Fatalf("Healthz = %+v, %v", h, err)
		}
		want := []string{"", "application/json", "/healthz"}
		if key != "" {
			want[0] = "Bearer " + key
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("key %q: request had Authorization, Accept, path = %q, want %q", key, got, want)
		}
	}
}

func TestUnexpectedSuccess(t *testing.T) {
	ctx := context.Background()
	// A 2xx without the documented JSON body is an error, not a zero value.
	c := serve(t, "k", answer(200, "text/plain", "ok"))
	if d, err := apiv1.OK(c.GetDeviceWithResponse(ctx, "x")); err == nil || !strings.Contains(err.Error(), "200 answer without the JSON body") {
		t.Errorf("OK(text/plain 200) = %+v, %v; want an error", d, err)
	}
	c = serve(t, "k", answer(200, "application/json", `{"id":"x"}`))
	if d, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "x"})); err == nil {
		t.Errorf("Created(200) = %+v, nil; want an error (201 is documented)", d)
	}
	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "x")); err == nil || !strings.Contains(err.Error(), "204") {
		t.Errorf("NoContent(200) = %v, want an error naming 204", err)
	}
	c = serve(t, "k", answer(204, "", ""))
	if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, "x")); err != nil {
		t.Errorf("NoContent(204) = %v", err)
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := apiv1.OK(apiv1.New(url, "", nil).GetTenantWithResponse(context.Background()))
	if err == nil || !strings.HasPrefix(err.Error(), "apiv1: GET /v1/tenant: ") {
		t.Errorf("GetTenant on a closed server = %v, want an error naming the request", err)
	}
	if _, ok := errors.AsType[*apiv1.APIError](err); ok {
		t.Errorf("a transport failure is not an *APIError: %v", err)
	}
}
