package controlplane_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/services/controlplane"
)

// frozen is a clock that does not move: every request falls in the same
// rate-limit window and no token bucket refills, so counts are exact.
func frozen() time.Time { return time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC) }

// twoInstances starts two control planes with cfg and the frozen clock on
// one NATS server.
func twoInstances(t *testing.T, cfg controlplane.Config) (a, b *env) {
	t.Helper()
	ns := natstest.Start(t)
	return newEnvClock(t, ns, cfg, frozen), newEnvClock(t, ns, cfg, frozen)
}

// TestAPIKeyLimitHoldsAcrossInstances: requests with one API key through
// two instances share the key's limit: the fifth request is refused
// although each instance alone has seen fewer than its burst.
func TestAPIKeyLimitHoldsAcrossInstances(t *testing.T) {
	cfg := testConfig()
	cfg.APIKeyRateLimit = controlplane.RateLimit{Rate: 1, Burst: 4}
	a, b := twoInstances(t, cfg)
	_, resp := a.signup("acme")
	ca, cb := a.client(resp.APIKey.Key), b.client(resp.APIKey.Key)
	ctx := context.Background()
	for i, c := range []*apiv1.ClientWithResponses{ca, cb, ca, cb} {
		if _, err := apiv1.OK(c.GetTenantWithResponse(ctx)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	status, h, body := b.raw("GET", "/v1/tenant", resp.APIKey.Key, "", "")
	if status != http.StatusTooManyRequests || !strings.Contains(body, "API key") {
		t.Fatalf("fifth request (the second on its instance) = %d %s, want 429 naming the API key", status, body)
	}
	// The window is burst/rate = 4s long and the clock is 1s into it.
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 4 {
		t.Errorf("Retry-After = %q, want 1 to 4 seconds", h.Get("Retry-After"))
	}
	// Another tenant's key is not affected.
	_, other := b.signup("globex")
	if _, err := apiv1.OK(b.client(other.APIKey.Key).GetTenantWithResponse(ctx)); err != nil {
		t.Errorf("another tenant's request: %v", err)
	}
}

// TestTenantLimitHoldsAcrossInstances: a tenant's API keys share its limit
// across instances, so more keys or more instances do not raise it.
func TestTenantLimitHoldsAcrossInstances(t *testing.T) {
	cfg := testConfig()
	cfg.TenantRateLimit = controlplane.RateLimit{Rate: 1, Burst: 5}
	a, b := twoInstances(t, cfg)
	ca, _ := a.signup("acme")
	ctx := context.Background()
	second, err := apiv1.Created(ca.CreateAPIKeyWithResponse(ctx, apiv1.CreateAPIKeyRequest{Name: "second"})) // request 1
	if err != nil {
		t.Fatal(err)
	}
	cb := b.client(second.Key)
	for i, c := range []*apiv1.ClientWithResponses{ca, cb, ca, cb} { // requests 2 to 5
		if _, err := apiv1.OK(c.GetTenantWithResponse(ctx)); err != nil {
			t.Fatalf("request %d: %v", i+2, err)
		}
	}
	_, err = apiv1.OK(cb.GetTenantWithResponse(ctx))
	ae := wantAPIError(t, err, 429, apiv1.CodeRateLimited, "")
	if !strings.Contains(ae.Message, "tenant") {
		t.Errorf("refusal = %q, want it to name the tenant's limit", ae.Message)
	}
}

// TestSharedLimitsFailOpen: when the shared counters cannot be reached the
// request goes through under the instance's own limits, and a warning
// says so; a lost stream is created again; a request the local limit
// refuses never reaches NATS.
func TestSharedLimitsFailOpen(t *testing.T) {
	cfg := testConfig()
	cfg.APIKeyRateLimit = controlplane.RateLimit{Rate: 1, Burst: 3}
	var logs syncBuffer
	e := newEnvLog(t, natstest.Start(t), cfg, frozen, &logs)
	c, resp := e.signup("acme")
	ctx := context.Background()
	for range 3 {
		if _, err := apiv1.OK(c.GetTenantWithResponse(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	// Refused by the local bucket: the shared counter stays at 3.
	for range 5 {
		_, err := apiv1.OK(c.GetTenantWithResponse(ctx))
		wantAPIError(t, err, 429, apiv1.CodeRateLimited, "")
	}
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "FLOCK_RATES")
	if err != nil {
		t.Fatal(err)
	}
	window := frozen().UnixNano() / int64(3*time.Second)
	m, err := s.GetLastMsgForSubject(ctx, "flockrate.FLOCK_RATES.key."+resp.APIKey.ID+"."+strconv.FormatInt(window, 10))
	var v struct{ Val string }
	if err != nil || json.Unmarshal(m.Data, &v) != nil || v.Val != "3" {
		t.Fatalf("shared counter of the key = %+v, %v; want 3 (local refusals are not counted)", v, err)
	}

	// Without the stream, a request is let through, with a warning, and
	// the stream is created again for the next ones.
	if err := js.DeleteStream(ctx, "FLOCK_RATES"); err != nil {
		t.Fatal(err)
	}
	_, other := e.signup("globex")
	oc := e.client(other.APIKey.Key)
	for i := range 3 {
		if _, err := apiv1.OK(oc.GetTenantWithResponse(ctx)); err != nil {
			t.Fatalf("request %d without shared counters: %v", i, err)
		}
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "shared by all control-plane instances could not be checked") {
		t.Errorf("no warning that the shared limits failed; logs:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "could not be checked"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	if _, err := js.Stream(ctx, "FLOCK_RATES"); err != nil {
		t.Errorf("the rate-limit stream was not created again: %v", err)
	}
}
