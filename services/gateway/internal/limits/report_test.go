package limits

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

func TestLogRateLimited(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 1000})
	var logs logBuffer
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func(), Logger: logs.Logger()})
	tn := l.For("acme")
	for range 1000 {
		tn.AllowPublish("sensor-7", 1)
	}
	// A flood of 5000 refusals within 10s makes one line.
	for range 5000 {
		if rc := tn.AllowPublish("sensor-7", 1); rc != mqtt.MessageRateTooHigh {
			t.Fatalf("AllowPublish = %v, want message rate too high", rc)
		}
	}
	lines := logs.Lines()
	if len(lines) != 1 {
		t.Fatalf("%d log lines after 5000 refusals, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, want := range []string{
		"level=WARN",
		`msg="tenant acme is over its limit of 1000 messages/s; client sensor-7's publish refused with 0x96"`,
		"component=limits", "tenant_id=acme", "client_id=sensor-7", "limit=max_messages_per_second",
		"limit_value=1000", "suppressed=0", "reason_code=0x96",
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q lacks %q", lines[0], want)
		}
	}

	// 9.999s later: still suppressed (the refilled bucket lets 1000 of
	// these 2000 through). At 10s: one line with the count.
	clk.Advance(10*time.Second - time.Millisecond)
	for range 2000 {
		tn.AllowPublish("sensor-7", 1)
	}
	if n := len(logs.Lines()); n != 1 {
		t.Fatalf("%d log lines before 10s passed, want still 1", n)
	}
	clk.Advance(time.Millisecond)
	if rc := tn.AllowPublish("sensor-7", 1); rc != mqtt.Success { // the 1ms refilled one message
		t.Fatalf("at 10s: AllowPublish = %v, want success", rc)
	}
	if rc := tn.AllowPublish("sensor-7", 1); rc != mqtt.MessageRateTooHigh {
		t.Fatalf("at 10s: AllowPublish = %v, want message rate too high", rc)
	}
	lines = logs.Lines()
	if len(lines) != 2 {
		t.Fatalf("%d log lines after 10s, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// 4999 refused after the first line and 1000 at 9.999s: 5999 suppressed.
	if !strings.Contains(lines[1], "suppressed=5999") || !strings.Contains(lines[1], "5999 more like this") {
		t.Errorf("second line %q does not report 5999 suppressed events", lines[1])
	}

	// Limits are rate-limited apart: a payload refusal logs at once.
	tn.AllowPublish("sensor-8", int(tenant.DefaultQuotas.MaxPayloadBytes)+1)
	lines = logs.Lines()
	if len(lines) != 3 || !strings.Contains(lines[2], "allows payloads of at most 262144 bytes; client sensor-8's publish of 262145 bytes refused with 0x95") {
		t.Errorf("payload refusal: lines = %q", lines)
	}
	// Session expiry clamps log at info level.
	tn.SessionExpiry("sensor-9", 0xFFFFFFFF)
	lines = logs.Lines()
	if len(lines) != 4 || !strings.Contains(lines[3], "level=INFO") || !strings.Contains(lines[3], "client sensor-9 asked for no expiry") ||
		strings.Contains(lines[3], "reason_code") {
		t.Errorf("session expiry clamp: lines = %q", lines)
	}
}

func TestLogMessages(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxConnections: 1, MaxBytesPerSecond: 10, MaxSubscriptionsPerDevice: 2, MaxRetained: 1, MaxQueuedMessages: 1, MaxSessionExpirySeconds: 60})
	var logs logBuffer
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func(), Logger: logs.Logger()})
	tn := l.For("acme")
	tn.AcquireConnection("c1")
	tn.AcquireConnection("c2")
	tn.AllowPublish("c3", 11)
	tn.AllowPublish("c3", 20)
	tn.CheckSubscriptions("c4", 2, 1)
	tn.CheckRetained("c5", 1)
	tn.CheckQueued("c6", 1)
	tn.SessionExpiry("c7", 120)
	want := []string{
		"tenant acme is at its limit of 1 connections (1 on this gateway, 0 on others); client c2's connection refused with 0x97",
		"tenant acme is over its limit of 10 payload bytes/s; client c3's publish of 20 bytes refused with 0x96",
		"tenant acme allows at most 2 subscriptions per device; client c4 has 2 and asked for 1 more, refused with 0x97",
		"tenant acme is at its limit of 1 retained messages; client c5's new retained message refused with 0x97",
		"tenant acme allows at most 1 queued messages per session; client c6's session is full, a message for it refused with 0x97",
		"tenant acme keeps sessions at most 60s (1m0s) after they disconnect; client c7 asked for 120s (2m0s) and gets 60s (1m0s)",
	}
	lines := logs.Lines()
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
}

func TestMetrics(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 2, MaxConnections: 1})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func(), Meter: mp})

	acme, other := l.For("acme"), l.For("other")
	for range 5 { // 3 refused
		acme.AllowPublish("c1", 1)
	}
	if _, err := acme.AcquireConnection("c1"); err != nil {
		t.Fatal(err)
	}
	acme.AcquireConnection("c2") // refused
	other.SessionExpiry("c3", 0xFFFFFFFF)
	other.AcquireConnection("c4")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	type key struct{ tenant, limit string }
	exceeded := map[key]int64{}
	conns := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "flockmq.gateway.limit.exceeded":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if dp.Attributes.Len() != 2 {
						t.Errorf("exceeded has attributes %v, want only tenant_id and limit", dp.Attributes.ToSlice())
					}
					tid, _ := dp.Attributes.Value(attribute.Key("tenant_id"))
					lim, _ := dp.Attributes.Value(attribute.Key("limit"))
					exceeded[key{tid.AsString(), lim.AsString()}] = dp.Value
				}
			case "flockmq.gateway.limit.connections":
				for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					tid, _ := dp.Attributes.Value(attribute.Key("tenant_id"))
					conns[tid.AsString()] = dp.Value
				}
			}
		}
	}
	wantExceeded := map[key]int64{
		{"acme", "max_messages_per_second"}:     3,
		{"acme", "max_connections"}:             1,
		{"other", "max_session_expiry_seconds"}: 1,
	}
	if len(exceeded) != len(wantExceeded) {
		t.Errorf("exceeded = %v, want %v", exceeded, wantExceeded)
	}
	for k, want := range wantExceeded {
		if got := exceeded[k]; got != want {
			t.Errorf("exceeded{%s, %s} = %d, want %d", k.tenant, k.limit, got, want)
		}
	}
	if conns["acme"] != 1 || conns["other"] != 1 {
		t.Errorf("connections gauge = %v, want acme 1, other 1", conns)
	}
}
