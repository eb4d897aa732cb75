package limits

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"zero", Config{}, ""},
		{"full", Config{UsageBucket: "U_1", ReportInterval: time.Second, GatewayID: "gw-1", OverridesTTL: time.Second, LogInterval: time.Second}, ""},
		{"negative default", Config{Defaults: tenant.Quotas{MaxConnections: -1}}, "defaults.max_connections"},
		{"bad bucket", Config{UsageBucket: "a.b"}, "usage_bucket"},
		{"short interval", Config{ReportInterval: time.Millisecond}, "report_interval"},
		{"negative interval", Config{ReportInterval: -time.Second}, "report_interval"},
		{"bad gateway id", Config{GatewayID: "gw.1"}, "gateway_id"},
		{"long gateway id", Config{GatewayID: strings.Repeat("g", 65)}, "gateway_id"},
		{"negative ttl", Config{OverridesTTL: -1}, "overrides_ttl"},
		{"negative log interval", Config{LogInterval: -1}, "log_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error about %s", err, tt.want)
			}
		})
	}
	if _, err := New(Config{GatewayID: "a b"}, Deps{}); err == nil {
		t.Error("New with an invalid gateway id succeeded")
	}
}

func TestNewDefaults(t *testing.T) {
	l := newLimits(t, Config{}, Deps{})
	if got := l.Defaults(); got != tenant.DefaultQuotas {
		t.Errorf("Defaults() = %+v, want tenant.DefaultQuotas %+v", got, tenant.DefaultQuotas)
	}
	if id := l.GatewayID(); !strings.HasPrefix(id, "gw-") || !validToken(id) {
		t.Errorf("GatewayID() = %q, want a random gw-… token", id)
	}
	if l.cfg.UsageBucket != DefaultUsageBucket || l.cfg.ReportInterval != DefaultReportInterval {
		t.Errorf("defaults not applied: %+v", l.cfg)
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxConnections: 5, MaxMessagesPerSecond: 7})
	ov.Set("broken", tenant.Quotas{MaxConnections: -3})
	cfg := Config{Defaults: tenant.Quotas{MaxConnections: 50, MaxPayloadBytes: 1024}}
	var logs logBuffer
	l := newLimits(t, cfg, Deps{Overrides: ov.Get, Logger: logs.Logger()})

	platform := cfg.Defaults.WithDefaults(tenant.DefaultQuotas)
	acme := platform
	acme.MaxConnections, acme.MaxMessagesPerSecond = 5, 7
	tests := []struct {
		tenant string
		want   tenant.Quotas
	}{
		{"acme", acme},       // overridden fields win, the rest are defaults
		{"globex", platform}, // no overrides: the platform defaults
		{"broken", platform}, // invalid overrides are ignored
	}
	for _, tt := range tests {
		if got := l.For(tt.tenant).Quotas(); got != tt.want {
			t.Errorf("For(%q).Quotas() = %+v, want %+v", tt.tenant, got, tt.want)
		}
	}
	// Invalid overrides are logged, once per LogInterval however often they are looked up.
	for range 3 {
		l.Invalidate("broken")
	}
	if lines := logs.Lines(); len(lines) != 1 || !strings.Contains(lines[0], "tenant broken has invalid quota overrides; it gets the platform defaults until they are fixed") ||
		!strings.Contains(lines[0], "max_connections") {
		t.Errorf("log lines = %q, want one about tenant broken's invalid max_connections", lines)
	}
	if l.For("acme") != l.For("acme") {
		t.Error("For returned two different *Tenant for one tenant")
	}
	if got := l.For("acme").ID(); got != "acme" {
		t.Errorf("ID() = %q, want acme", got)
	}
	// Without an Overrides func every tenant gets the defaults.
	if got := newLimits(t, cfg, Deps{}).For("acme").Quotas(); got != platform {
		t.Errorf("no Overrides: Quotas() = %+v, want %+v", got, platform)
	}
}

func TestOverrideChangePickedUp(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxRetained: 10})
	l := newLimits(t, Config{OverridesTTL: time.Minute}, Deps{Overrides: ov.Get, Clock: clk.Func()})
	tn := l.For("acme")
	if got := tn.MaxRetained(); got != 10 {
		t.Fatalf("MaxRetained() = %d, want 10", got)
	}

	// Within the TTL the cached value stands; Invalidate applies a change at once.
	ov.Set("acme", tenant.Quotas{MaxRetained: 20})
	if got := tn.MaxRetained(); got != 10 {
		t.Errorf("before TTL: MaxRetained() = %d, want the cached 10", got)
	}
	l.Invalidate("acme")
	if got := tn.MaxRetained(); got != 20 {
		t.Errorf("after Invalidate: MaxRetained() = %d, want 20", got)
	}
	l.Invalidate("never-seen") // no-op, must not create the tenant
	if _, ok := l.tenants.load("never-seen"); ok {
		t.Error("Invalidate created a tenant")
	}

	// The TTL picks a change up without Invalidate.
	ov.Set("acme", tenant.Quotas{MaxQueuedMessages: 3})
	clk.Advance(time.Minute)
	if got, want := tn.Quotas(), (tenant.Quotas{MaxQueuedMessages: 3}).WithDefaults(tenant.DefaultQuotas); got != want {
		t.Errorf("after TTL: Quotas() = %+v, want %+v", got, want)
	}
	if got := tn.MaxQueuedMessages(); got != 3 {
		t.Errorf("MaxQueuedMessages() = %d, want 3", got)
	}
}

func TestMessageRate(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 10})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func()})
	tn := l.For("acme")

	// A full bucket holds one second's worth.
	for i := range 10 {
		if rc := tn.AllowPublish("c1", 1); rc != mqtt.Success {
			t.Fatalf("publish %d: AllowPublish = %v, want success", i, rc)
		}
	}
	if rc := tn.AllowPublish("c1", 1); rc != mqtt.MessageRateTooHigh {
		t.Fatalf("11th publish: AllowPublish = %v, want message rate too high", rc)
	}
	// It refills continuously: one message per 100ms.
	clk.Advance(99 * time.Millisecond)
	if rc := tn.AllowPublish("c1", 1); rc != mqtt.MessageRateTooHigh {
		t.Errorf("after 99ms: AllowPublish = %v, want message rate too high", rc)
	}
	clk.Advance(time.Millisecond)
	if rc := tn.AllowPublish("c1", 1); rc != mqtt.Success {
		t.Errorf("after 100ms: AllowPublish = %v, want success", rc)
	}
	if rc := tn.AllowPublish("c1", 1); rc != mqtt.MessageRateTooHigh {
		t.Errorf("second after 100ms: AllowPublish = %v, want message rate too high", rc)
	}
	// A long pause refills to the burst, no further.
	clk.Advance(time.Hour)
	allowed := 0
	for range 30 {
		if tn.AllowPublish("c1", 1) == mqtt.Success {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("after an hour: %d of 30 allowed, want the burst of 10", allowed)
	}
}

func TestByteRate(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxBytesPerSecond: 1000, MaxMessagesPerSecond: 3, MaxPayloadBytes: 5000})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func()})
	tn := l.For("acme")

	for i := range 2 {
		if rc := tn.AllowPublish("c1", 400); rc != mqtt.Success {
			t.Fatalf("publish %d of 400 bytes: AllowPublish = %v, want success", i, rc)
		}
	}
	// 800 + 400 > 1000 bytes: refused, and the message is not charged.
	if rc := tn.AllowPublish("c1", 400); rc != mqtt.MessageRateTooHigh {
		t.Fatalf("third 400 bytes: AllowPublish = %v, want message rate too high", rc)
	}
	if rc := tn.AllowPublish("c1", 200); rc != mqtt.Success {
		t.Errorf("200 bytes (3rd message of 3/s): AllowPublish = %v, want success: a byte refusal must not use up a message", rc)
	}
	// Both refill continuously: after 400ms, 400 bytes and 1.2 messages are back.
	clk.Advance(400 * time.Millisecond)
	if rc := tn.AllowPublish("c1", 400); rc != mqtt.Success {
		t.Errorf("after 400ms: 400 bytes: AllowPublish = %v, want success", rc)
	}
	if rc := tn.AllowPublish("c1", 0); rc != mqtt.MessageRateTooHigh {
		t.Errorf("after 400ms: second message: AllowPublish = %v, want refused by the message rate (3/s)", rc)
	}
	clk.Advance(time.Second)
	if rc := tn.AllowPublish("c1", 1000); rc != mqtt.Success {
		t.Errorf("after a full second: 1000 bytes: AllowPublish = %v, want success", rc)
	}

	// A payload larger than a second's worth passes when the bucket is full
	// and leaves the tenant 2000 bytes in debt: 2s at 1000 bytes/s.
	clk.Advance(time.Hour)
	if rc := tn.AllowPublish("c1", 3000); rc != mqtt.Success {
		t.Fatalf("3000 bytes on a full bucket: AllowPublish = %v, want success", rc)
	}
	clk.Advance(1999 * time.Millisecond)
	if rc := tn.AllowPublish("c1", 0); rc != mqtt.MessageRateTooHigh {
		t.Errorf("1999ms into a 2s debt: AllowPublish = %v, want message rate too high", rc)
	}
	clk.Advance(time.Millisecond)
	if rc := tn.AllowPublish("c1", 0); rc != mqtt.Success {
		t.Errorf("debt paid: AllowPublish = %v, want success", rc)
	}
}

func TestPayloadLimit(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxPayloadBytes: 100, MaxMessagesPerSecond: 1})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func()})
	tn := l.For("acme")
	if got := tn.MaxPayloadBytes(); got != 100 {
		t.Errorf("MaxPayloadBytes() = %d, want 100", got)
	}
	if rc := tn.AllowPublish("c1", 101); rc != mqtt.PacketTooLarge {
		t.Errorf("101 bytes: AllowPublish = %v, want packet too large", rc)
	}
	// The refused publish charged nothing: the one message of the second is still there.
	if rc := tn.AllowPublish("c1", 100); rc != mqtt.Success {
		t.Errorf("100 bytes: AllowPublish = %v, want success", rc)
	}
}

func TestConnectionLimitLocal(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxConnections: 2})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get})
	tn := l.For("acme")
	r1, err := tn.AcquireConnection("c1")
	if err != nil {
		t.Fatalf("first AcquireConnection: %v", err)
	}
	r2, err := tn.AcquireConnection("c2")
	if err != nil {
		t.Fatalf("second AcquireConnection: %v", err)
	}
	_, err = tn.AcquireConnection("c3")
	if !errors.Is(err, mqtt.QuotaExceeded) {
		t.Fatalf("third AcquireConnection = %v, want an error wrapping quota exceeded", err)
	}
	var rc mqtt.ReasonCode
	if !errors.As(err, &rc) || rc != mqtt.QuotaExceeded {
		t.Errorf("errors.As(err) = %v, want 0x97", rc)
	}
	r1()
	r1() // release is idempotent
	if local, _ := tn.Connections(); local != 1 {
		t.Errorf("after one release (called twice): local = %d, want 1", local)
	}
	if _, err := tn.AcquireConnection("c3"); err != nil {
		t.Errorf("AcquireConnection after a release: %v", err)
	}
	r2()
}

func TestConnectionLimitConcurrent(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxConnections: 10})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get})
	tn := l.For("acme")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := tn.AcquireConnection("c"); err == nil {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 10 {
		t.Errorf("admitted %d of 160 concurrent connections, want exactly 10", got)
	}
}

func TestConcurrentPublishExact(t *testing.T) {
	clk := newFakeClock() // frozen: exactly the burst may pass
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 500, MaxBytesPerSecond: 1 << 30})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func()})
	tn := l.For("acme")
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if tn.AllowPublish("c", 10) == mqtt.Success {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 500 {
		t.Errorf("allowed %d of 1600 concurrent publishes, want exactly 500", got)
	}
}

func TestCheckSubscriptions(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxSubscriptionsPerDevice: 3})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get})
	tn := l.For("acme")
	// [MQTT-3.9.3-2] each refused filter gets its own reason code in the SUBACK.
	tests := []struct {
		current, adding int
		want            mqtt.ReasonCode
	}{
		{0, 1, mqtt.Success},
		{0, 3, mqtt.Success},
		{2, 1, mqtt.Success},
		{3, 0, mqtt.Success},
		{3, 1, mqtt.QuotaExceeded},
		{0, 4, mqtt.QuotaExceeded},
		{2, 2, mqtt.QuotaExceeded},
	}
	for _, tt := range tests {
		if got := tn.CheckSubscriptions("c1", tt.current, tt.adding); got != tt.want {
			t.Errorf("CheckSubscriptions(%d, %d) = %v, want %v", tt.current, tt.adding, got, tt.want)
		}
	}
}

func TestCheckRetainedAndQueued(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxRetained: 2, MaxQueuedMessages: 5})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get})
	tn := l.For("acme")
	tests := []struct {
		name string
		got  mqtt.ReasonCode
		want mqtt.ReasonCode
	}{
		{"retained 0", tn.CheckRetained("c1", 0), mqtt.Success},
		{"retained 1", tn.CheckRetained("c1", 1), mqtt.Success},
		{"retained 2", tn.CheckRetained("c1", 2), mqtt.QuotaExceeded},
		{"queued 4", tn.CheckQueued("c1", 4), mqtt.Success},
		{"queued 5", tn.CheckQueued("c1", 5), mqtt.QuotaExceeded},
		{"queued 9", tn.CheckQueued("c1", 9), mqtt.QuotaExceeded},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxSessionExpirySeconds: 3600})
	ov.Set("huge", tenant.Quotas{MaxSessionExpirySeconds: 1 << 40})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get})
	// MQTT 5.0 §3.2.2.3.2: the server may grant less than requested and says so in the CONNACK.
	tests := []struct {
		tenant    string
		requested uint32
		want      uint32
	}{
		{"acme", 0, 0},
		{"acme", 60, 60},
		{"acme", 3600, 3600},
		{"acme", 3601, 3600},
		{"acme", 0xFFFFFFFF, 3600}, // "never expires" is clamped too
		{"huge", 0xFFFFFFFF, 0xFFFFFFFF},
		{"other", 0xFFFFFFFF, uint32(tenant.DefaultQuotas.MaxSessionExpirySeconds)},
	}
	for _, tt := range tests {
		if got := l.For(tt.tenant).SessionExpiry("c1", tt.requested); got != tt.want {
			t.Errorf("For(%q).SessionExpiry(%d) = %d, want %d", tt.tenant, tt.requested, got, tt.want)
		}
	}
}

func TestNoisyTenantIsolated(t *testing.T) {
	clk := newFakeClock()
	var ov overrides
	small := tenant.Quotas{MaxConnections: 2, MaxMessagesPerSecond: 5, MaxBytesPerSecond: 100, MaxSubscriptionsPerDevice: 1}
	ov.Set("noisy", small)
	ov.Set("quiet", small)
	var logs logBuffer
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get, Clock: clk.Func(), Logger: logs.Logger()})
	noisy, quiet := l.For("noisy"), l.For("quiet")

	// Exhaust everything the noisy tenant has, from many goroutines.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				noisy.AllowPublish("flood", 10)
				noisy.AcquireConnection("flood")
				noisy.CheckSubscriptions("flood", 1, 1)
			}
		})
	}
	wg.Wait()
	if rc := noisy.AllowPublish("flood", 1); rc != mqtt.MessageRateTooHigh {
		t.Fatalf("noisy tenant: AllowPublish = %v, want it exhausted", rc)
	}

	// The quiet tenant still has all of its own.
	for i := range 5 {
		if rc := quiet.AllowPublish("calm", 10); rc != mqtt.Success {
			t.Errorf("quiet publish %d: AllowPublish = %v, want success", i, rc)
		}
	}
	for i := range 2 {
		if _, err := quiet.AcquireConnection("calm"); err != nil {
			t.Errorf("quiet connection %d: %v", i, err)
		}
	}
	if rc := quiet.CheckSubscriptions("calm", 0, 1); rc != mqtt.Success {
		t.Errorf("quiet CheckSubscriptions = %v, want success", rc)
	}
	for _, line := range logs.Lines() {
		if strings.Contains(line, "quiet") {
			t.Errorf("a line about the quiet tenant was logged: %s", line)
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 1 << 50, MaxBytesPerSecond: 1 << 60})
	l := newLimits(t, Config{}, Deps{Overrides: ov.Get})
	tn := l.For("acme")
	if n := testing.AllocsPerRun(1000, func() { tn.AllowPublish("c1", 100) }); n != 0 {
		t.Errorf("AllowPublish allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { l.For("acme") }); n != 0 {
		t.Errorf("For allocates %v times per call, want 0", n)
	}
	ov.Set("flood", tenant.Quotas{MaxMessagesPerSecond: 1})
	fl := l.For("flood")
	fl.AllowPublish("c1", 1) // uses the one message; the first refusal is logged
	fl.AllowPublish("c1", 1)
	if n := testing.AllocsPerRun(1000, func() { fl.AllowPublish("c1", 1) }); n != 0 {
		t.Errorf("a refused AllowPublish whose log line is suppressed allocates %v times per call, want 0", n)
	}
}
