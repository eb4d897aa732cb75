package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// TestPurgeTenantRecords: what a failed signup leaves is removed.
func TestPurgeTenantRecords(t *testing.T) {
	ns := natstest.Start(t)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := context.Background()
	st, err := store.Open(ctx, nc, tenant.ConfigBucket, tenant.SecretsBucket, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{BodyLimit: 1 << 20, SignupLimit: Limit{}, Audience: "flockmq", MaxTokenTTL: time.Hour}, st, slog.New(slog.DiscardHandler), time.Now)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/signup", strings.NewReader(`{"name":"Acme","email":"a@b.c"}`))
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("signup = %d %s", rec.Code, rec.Body)
	}
	var resp apiv1.SignupResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	tid := resp.Tenant.ID
	a.purgeTenantRecords(ctx, tid)
	secrets, err := st.Keys(ctx, store.Secrets, ">")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range secrets {
		if strings.Contains(k, tid) || strings.Contains(k, resp.APIKey.ID) {
			t.Errorf("secret record %s survived the purge", k)
		}
	}
	var k tenant.Key
	if _, err := st.Get(ctx, store.Config, tenant.KeyKey(resp.PlatformKey.ID), &k); err == nil {
		t.Error("the platform public key survived the purge")
	}
}
