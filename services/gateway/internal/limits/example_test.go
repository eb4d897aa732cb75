package limits_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/gateway/internal/limits"
)

// A tenant with overrides, checked the way a connection does.
func Example() {
	overrides := func(tenantID string) (tenant.Quotas, bool) {
		if tenantID == "acme" {
			return tenant.Quotas{MaxConnections: 1, MaxMessagesPerSecond: 2}, true
		}
		return tenant.Quotas{}, false
	}
	frozen := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim, err := limits.New(
		limits.Config{Defaults: tenant.Quotas{MaxPayloadBytes: 1024, MaxSessionExpirySeconds: 3600}},
		limits.Deps{Overrides: overrides, Clock: func() time.Time { return frozen }},
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	acme := lim.For("acme")
	release, err := acme.AcquireConnection("sensor-7")
	fmt.Println("first connection:", err)
	defer release()
	_, err = acme.AcquireConnection("sensor-8")
	fmt.Println("second connection refused:", errors.Is(err, mqtt.QuotaExceeded))

	for range 3 {
		fmt.Println("publish:", acme.AllowPublish("sensor-7", 100).String())
	}
	fmt.Println("big publish:", acme.AllowPublish("sensor-7", 2000).String())
	fmt.Println("session expiry:", acme.SessionExpiry("sensor-7", 0xFFFFFFFF))
	// Output:
	// first connection: <nil>
	// second connection refused: true
	// publish: success
	// publish: success
	// publish: message rate too high
	// big publish: packet too large
	// session expiry: 3600
}

// Overrides change: Invalidate applies them at once.
func ExampleLimits_Invalidate() {
	limit := int64(10)
	lim, err := limits.New(limits.Config{}, limits.Deps{
		Overrides: func(string) (tenant.Quotas, bool) { return tenant.Quotas{MaxRetained: limit}, true },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	acme := lim.For("acme")
	fmt.Println(acme.MaxRetained())
	limit = 20 // quotas.acme changed in FLOCK_CONFIG
	lim.Invalidate("acme")
	fmt.Println(acme.MaxRetained())
	// Output:
	// 10
	// 20
}
