package limits

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// rateGateway starts a Limits named id on nc whose tenant acme may publish
// 100 messages/s, on clock, and runs it until the test ends.
func rateGateway(t *testing.T, nc *nats.Conn, id string, clock *fakeClock) *Limits {
	t.Helper()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxMessagesPerSecond: 100, MaxBytesPerSecond: 1 << 30})
	l := newLimits(t, Config{GatewayID: id, ReportInterval: testInterval, MaxThrottle: -1},
		Deps{NATS: nc, Overrides: ov.Get, Clock: clock.Func()})
	runLimits(t, l)
	return l
}

// admit counts the publishes the tenant's bucket admits at once on l.
func admit(l *Limits) int {
	n := 0
	for l.For("acme").AllowPublish("c", 10) == mqtt.Success {
		n++
		if n > 1000 {
			break
		}
	}
	return n
}

// TestRatesAcrossGateways: a tenant's message rate holds across gateways.
// Gateway b sees what gateway a admitted and gives its own clients only
// what is left of the quota, but at least an equal share; once a stops
// publishing, b gets the whole rate back.
func TestRatesAcrossGateways(t *testing.T) {
	s := natstest.Start(t)
	clock := newFakeClock()
	a := rateGateway(t, connect(t, s), "gw-a", clock)
	b := rateGateway(t, connect(t, s), "gw-b", clock)

	if n := admit(a); n != 100 {
		t.Fatalf("gateway a admitted a burst of %d, want the full second's 100", n)
	}
	clock.Advance(time.Second) // a reports 100 messages/s at its next interval
	tb := b.For("acme")
	checkFor(t, 10*time.Second, func() error {
		if got := tb.otherMsgRate.Load(); got < 90 {
			return fmt.Errorf("gateway b sees %d messages/s on other gateways, want about 100", got)
		}
		return nil
	})
	// b's share: max(100 − 100, 100 ÷ 2) = 50 messages/s, a burst of 50.
	if n := admit(b); n < 45 || n > 55 {
		t.Errorf("gateway b admitted a burst of %d beside a saturated gateway a, want its equal share of about 50", n)
	}

	// a stops publishing: its rate key is deleted and b gets it all back.
	clock.Advance(time.Second)
	checkFor(t, 10*time.Second, func() error {
		if n := tb.otherPublishers.Load(); n != 0 {
			return fmt.Errorf("gateway b still sees %d other publishing gateways", n)
		}
		return nil
	})
	clock.Advance(2 * time.Second) // b's bucket refills
	if n := admit(b); n != 100 {
		t.Errorf("gateway b admitted a burst of %d alone, want 100", n)
	}
}

func TestShare(t *testing.T) {
	for _, c := range []struct{ quota, others, gateways, want int64 }{
		{100, 0, 0, 100},
		{100, 30, 1, 70},
		{100, 100, 1, 50},
		{100, 500, 3, 25},
		{1, 5, 4, 1},
	} {
		if got := share(c.quota, c.others, c.gateways); got != c.want {
			t.Errorf("share(%d, %d, %d) = %d, want %d", c.quota, c.others, c.gateways, got, c.want)
		}
	}
	if _, err := parseRates([]byte("12 34")); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "12", "x 1", "-1 2", "1 -2"} {
		if _, err := parseRates([]byte(bad)); err == nil {
			t.Errorf("parseRates(%q) succeeded", bad)
		}
	}
}
