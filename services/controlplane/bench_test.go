package controlplane_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

// benchClient is a client without the OpenAPI checks, so the numbers are the
// server's.
func benchClient(b *testing.B) (*apiv1.ClientWithResponses, *env) {
	b.Helper()
	cfg := testConfig()
	cfg.DefaultQuotas.MaxDevices = 1 << 40 // benchmarks create many
	e := newEnv(b, cfg)
	_, resp := e.signup("bench")
	return apiv1.New(e.srv.URL, resp.APIKey.Key, &http.Client{Timeout: time.Minute}), e
}

// BenchmarkCreateDevice: one authenticated POST /v1/devices (API key check,
// strict decode, KV create) per op, 4 goroutines per CPU.
func BenchmarkCreateDevice(b *testing.B) {
	c, _ := benchClient(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("d-%d", n.Add(1))
			if _, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: id})); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBulkCreate1000: one POST /v1/devices:bulk of 1000 devices per op.
func BenchmarkBulkCreate1000(b *testing.B) {
	c, _ := benchClient(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		devs := make([]apiv1.CreateDeviceRequest, 1000)
		for j := range devs {
			devs[j].ID = fmt.Sprintf("b%d-%04d", i, j)
		}
		r, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: devs}))
		if err != nil || r.Created != 1000 {
			b.Fatalf("bulk = %d created, %v", r.Created, err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "devices/s")
}
