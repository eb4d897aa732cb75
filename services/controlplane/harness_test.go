package controlplane_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/services/controlplane"
)

const testAdminKey = "admin-key-for-tests-0123456789abcdef"

// env is a control plane over a real embedded NATS server, served by
// httptest, with every response checked against openapi.yaml.
type env struct {
	t    testing.TB
	nats *natsembed.Server
	nc   *nats.Conn
	cp   *controlplane.Server
	srv  *httptest.Server
	hc   *http.Client
}

// testConfig has limits high enough for tests that sign up many tenants.
func testConfig() controlplane.Config {
	return controlplane.Config{
		AdminKey:        testAdminKey,
		SignupRateLimit: controlplane.RateLimit{Rate: 1000, Burst: 1000},
		IPRateLimit:     controlplane.RateLimit{Rate: 100000, Burst: 100000},
		APIKeyRateLimit: controlplane.RateLimit{Rate: 100000, Burst: 100000},
		TenantRateLimit: controlplane.RateLimit{Rate: 100000, Burst: 100000},
	}
}

func newEnv(t testing.TB, cfg controlplane.Config) *env {
	t.Helper()
	ns := natstest.Start(t)
	return newEnvOn(t, ns, cfg)
}

// newEnvOn starts another control plane against an existing NATS server.
func newEnvOn(t testing.TB, ns *natsembed.Server, cfg controlplane.Config) *env {
	t.Helper()
	return newEnvClock(t, ns, cfg, nil)
}

// newEnvClock is newEnvOn with an injected clock.
func newEnvClock(t testing.TB, ns *natsembed.Server, cfg controlplane.Config, clock func() time.Time) *env {
	t.Helper()
	return newEnvLog(t, ns, cfg, clock, testWriter{t})
}

// newEnvLog is newEnvClock logging warnings and errors to logs.
func newEnvLog(t testing.TB, ns *natsembed.Server, cfg controlplane.Config, clock func() time.Time, logs io.Writer) *env {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cp, err := controlplane.New(cfg, controlplane.Deps{NATS: nc, Logger: log, Clock: clock})
	if err != nil {
		t.Fatalf("controlplane.New: %v", err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &validatingTransport{t: t, spec: loadSpec(t), base: http.DefaultTransport}}
	return &env{t: t, nats: ns, nc: nc, cp: cp, srv: srv, hc: hc}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func (e *env) client(key string) *apiv1.ClientWithResponses { return apiv1.New(e.srv.URL, key, e.hc) }

func (e *env) admin() *apiv1.ClientWithResponses { return e.client(testAdminKey) }

// signup creates a tenant and returns a client holding its API key.
func (e *env) signup(name string) (*apiv1.ClientWithResponses, apiv1.SignupResponse) {
	e.t.Helper()
	resp, err := apiv1.Created(e.client("").SignupWithResponse(context.Background(), apiv1.SignupRequest{Name: name, Email: "ops@" + name + ".example"}))
	if err != nil {
		e.t.Fatalf("signup %s: %v", name, err)
	}
	return e.client(resp.APIKey.Key), resp
}

// kv opens a bucket directly, as a gateway would.
func (e *env) kv(bucket string) jetstream.KeyValue {
	e.t.Helper()
	js, err := jetstream.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		e.t.Fatalf("open bucket %s: %v", bucket, err)
	}
	return kv
}

// wantAPIError checks that err is an API error with the status, code and
// (if not empty) field.
func wantAPIError(t testing.TB, err error, status int, code apiv1.Code, field string) *apiv1.APIError {
	t.Helper()
	ae, ok := errors.AsType[*apiv1.APIError](err)
	if !ok {
		t.Fatalf("error = %v (%T), want API error %d %s", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code || (field != "" && ae.Field != field) {
		t.Fatalf("error = %d %s field %q (%s), want %d %s field %q", ae.Status, ae.Code, ae.Field, ae.Message, status, code, field)
	}
	if ae.Message == "" {
		t.Errorf("error %d %s has no message", ae.Status, ae.Code)
	}
	return ae
}
