package tenant_test

import (
	"fmt"

	"github.com/flockmq/flockmq/pkg/tenant"
)

func ExampleParseKey() {
	r, err := tenant.ParseKey(tenant.DeviceKey("acme", "sensor-7"))
	fmt.Println(r.Entry, r.TenantID, r.DeviceID, err)
	// Output: device acme sensor-7 <nil>
}
