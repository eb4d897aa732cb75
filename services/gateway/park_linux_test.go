package gateway_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/services/gateway"
)

// connGoroutines returns the stacks of goroutines running connection code
// (read loops, writers, handshakes).
func connGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "flockmq/services/gateway/internal/conn.(*Conn)") {
			found = append(found, g)
		}
	}
	return found
}

// waitParked waits until no goroutine runs connection code: every
// connection is parked in the poller.
func waitParked(tb testing.TB) {
	tb.Helper()
	checkFor(tb, 10*time.Second, func() error {
		if left := connGoroutines(); len(left) > 0 {
			return fmt.Errorf("%d connection goroutines still running:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		return nil
	})
}

func TestIdleConnectionsParkWithoutGoroutines(t *testing.T) {
	g := startGateway(t)
	sub := connectClient(t, g, mqtt.V5, "park-sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "park/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V311, "park-pub", true)
	quiet := connectClient(t, g, mqtt.V5, "park-quiet", true)
	waitParked(t)

	// Input wakes a parked publisher; a parked subscriber still gets
	// what is delivered to it (the writer needs no reader).
	for i := range 3 {
		pub.publish(&mqtt.Publish{Topic: "park/t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		if got := sub.expectPublish(); got.Topic != "park/t" {
			t.Fatalf("subscriber got %q, want park/t", got.Topic)
		}
		waitParked(t)
	}
	quiet.ping()
	waitParked(t)

	// Shutdown wakes the parked connections to say goodbye [MQTT-3.14.2-1]
	// (DISCONNECT 0x8B server shutting down for MQTT 5).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{sub, quiet} {
		got := c.expectClosed()
		if len(got) == 0 {
			t.Fatal("no DISCONNECT before the close")
		}
		d, ok := got[len(got)-1].(*mqtt.Disconnect)
		if !ok || d.ReasonCode != mqtt.ServerShuttingDown {
			t.Fatalf("last packet %v, want DISCONNECT 0x8B", got[len(got)-1])
		}
	}
	if n := g.srv.Connections(); n != 0 {
		t.Fatalf("Connections() = %d after Shutdown, want 0", n)
	}
}

func TestParkedConnectionKeepAliveExpires(t *testing.T) {
	g := startGateway(t)
	c := connectClient(t, g, mqtt.V5, "park-silent", true, func(cp *mqtt.Connect) { cp.KeepAlive = 1 })
	waitParked(t)
	// [MQTT-3.1.2-24] nothing within 1.5 × the keepalive: the server
	// disconnects, with 0x8D keep alive timeout for MQTT 5.
	got := c.expectClosed()
	if len(got) != 1 {
		t.Fatalf("got %v, want one DISCONNECT", got)
	}
	if d, ok := got[0].(*mqtt.Disconnect); !ok || d.ReasonCode != mqtt.KeepAliveTimeout {
		t.Fatalf("got %v, want DISCONNECT 0x8D", got[0])
	}
	checkFor(t, 5*time.Second, func() error {
		return logContains(g, "client park-silent disconnected: keepalive of 1s expired")
	})
}

func TestParkedConnectionStaysWhileClientPings(t *testing.T) {
	g := startGateway(t)
	c := connectClient(t, g, mqtt.V311, "park-pinger", true, func(cp *mqtt.Connect) { cp.KeepAlive = 1 })
	// Ping each time the connection has parked, for twice the 1.5 s
	// deadline: every ping moves it, so the connection is never closed.
	for start := time.Now(); time.Since(start) < 3*time.Second; {
		waitParked(t)
		c.ping()
	}
}

func TestParkedConnectionReadsSplitPacket(t *testing.T) {
	g := startGateway(t)
	c := connectClient(t, g, mqtt.V311, "park-split", true)
	waitParked(t)
	// The first byte of a PINGREQ wakes the connection, which then waits
	// for the rest in the read like an unparked one.
	c.write([]byte{0xC0})
	checkFor(t, 10*time.Second, func() error {
		if n := len(connGoroutines()); n != 1 {
			return fmt.Errorf("%d connection goroutines, want the one reading the rest of the packet", n)
		}
		return nil
	})
	c.write([]byte{0x00})
	c.expectType(mqtt.PINGRESP)
	waitParked(t)
}

func TestParkedConnectionTakenOver(t *testing.T) {
	gws := startGateways(t, 2)
	persistent := func(cp *mqtt.Connect) { cp.Properties.SessionExpiry, cp.Properties.SessionExpirySet = 60, true }
	old := connectClient(t, gws[0], mqtt.V5, "park-dev", false, persistent)
	old.subscribe(1, mqtt.Subscription{Filter: "park/dev", QoS: 1})
	waitParked(t)
	// The same client id on the same gateway, then on the other: each
	// takeover wakes the parked connection to send DISCONNECT 0x8E
	// [MQTT-3.1.4-3].
	next := connectClient(t, gws[0], mqtt.V5, "park-dev", false, persistent)
	if pkts := old.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.SessionTakenOver {
		t.Fatalf("first connection got %v, want DISCONNECT 0x8E", pkts)
	}
	waitParked(t)
	last := connectClient(t, gws[1], mqtt.V5, "park-dev", false, persistent)
	if pkts := next.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.SessionTakenOver {
		t.Fatalf("second connection got %v, want DISCONNECT 0x8E", pkts)
	}
	// The session moved with the client: its subscription delivers on the
	// other gateway.
	pub := connectClient(t, gws[1], mqtt.V311, "park-pub", true)
	pub.publish(&mqtt.Publish{Topic: "park/dev", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if got := last.expectPublish(); got.Topic != "park/dev" {
		t.Fatalf("got %q, want park/dev", got.Topic)
	}
}

// TestDisableParking: with gateway.disable_parking an idle connection
// keeps its goroutine (blocked in a read) and still works.
func TestDisableParking(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) { c.DisableParking = true })
	sub := connectClient(t, g, mqtt.V5, "unparked-sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "unparked/#", QoS: 1})
	pub := connectClient(t, g, mqtt.V311, "unparked-pub", true)
	// An idle connection waits in a read on its own goroutine: the reader
	// stacks stay (parked connections leave none; see
	// TestIdleConnectionsParkWithoutGoroutines).
	checkFor(t, 10*time.Second, func() error {
		if n := len(connGoroutines()); n < 2 {
			return fmt.Errorf("%d connection goroutines, want one per idle connection", n)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // past the 50 ms a parking connection lingers
	if n := len(connGoroutines()); n < 2 {
		t.Fatalf("%d connection goroutines after the linger, want the two idle connections' readers", n)
	}
	pub.publish(&mqtt.Publish{Topic: "unparked/t", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if got := sub.expectPublish(); got.Topic != "unparked/t" {
		t.Fatalf("subscriber got %q, want unparked/t", got.Topic)
	}
}
