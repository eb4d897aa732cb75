package controlplane_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/services/controlplane"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsReadAsSentences: the event and access log lines say what
// happened in words, with the stable keys beside them.
func TestLogsReadAsSentences(t *testing.T) {
	ns := natstest.Start(t)
	nc := natstest.Connect(t, ns)
	var buf syncBuffer
	cfg := testConfig()
	cfg.SignupRateLimit = controlplane.RateLimit{Rate: 0.0001, Burst: 1}
	cp, err := controlplane.New(cfg, controlplane.Deps{NATS: nc, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	resp, err := apiv1.Created(apiv1.New(srv.URL, "", nil).SignupWithResponse(ctx, apiv1.SignupRequest{Name: "Acme"}))
	if err != nil {
		t.Fatal(err)
	}
	tid := resp.Tenant.ID
	c := apiv1.New(srv.URL, resp.APIKey.Key, nil)
	if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: "sensor-7"})); err != nil {
		t.Fatal(err)
	}
	_, _ = apiv1.Created(apiv1.New(srv.URL, "", nil).SignupWithResponse(ctx, apiv1.SignupRequest{Name: "Again"}))
	_, _ = apiv1.OK(c.GetDeviceWithResponse(ctx, "nope"))
	logs := buf.String()
	for _, want := range []string{
		`tenant ` + tid + ` (\"Acme\") signed up from 127.0.0.1`,
		`"tenant ` + tid + ` created device sensor-7"`,
		`"signup refused for 127.0.0.1: rate limit"`,
		`GET /v1/devices/nope by tenant ` + tid + ` answered 404: device nope not found`,
		`tenant_id=` + tid,
		`remote_addr=127.0.0.1:`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s\n%s", want, logs)
		}
	}
	if strings.Contains(logs, resp.APIKey.Key) {
		t.Error("logs contain an API key")
	}
}
