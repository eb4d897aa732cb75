package gateway_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// gatewayGoroutines returns the stacks of goroutines running gateway code.
func gatewayGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "flockmq/services/gateway/internal/conn.") || strings.Contains(g, "flockmq/services/gateway.(*Server)") {
			found = append(found, g)
		}
	}
	return found
}

func TestNoGoroutineLeftAfterShutdown(t *testing.T) {
	g := startGateway(t)
	for i := range 3 {
		c := connectClient(t, g, mqtt.V5, fmt.Sprint("c", i), i%2 == 0, func(c *mqtt.Connect) {
			c.Properties.SessionExpiry, c.Properties.SessionExpirySet = 60, true
			c.Will = &mqtt.Will{Topic: "leak/will", Payload: []byte("x"), Properties: mqtt.Properties{WillDelay: 30}}
		})
		c.subscribe(1, mqtt.Subscription{Filter: "leak/#", QoS: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		if left := gatewayGoroutines(); len(left) > 0 {
			return fmt.Errorf("%d gateway goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		return nil
	})
}
