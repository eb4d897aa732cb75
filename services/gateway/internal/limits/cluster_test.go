package limits

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/tenant"
)

const testInterval = 250 * time.Millisecond

// connect opens a client connection to s, closed at the end of the test.
func connect(t testing.TB, s *natsembed.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// gateway starts a Limits named id on nc, with tenant acme allowed limit
// connections, and runs it until the test ends.
func gateway(t testing.TB, nc *nats.Conn, id string, limit int64) (*Limits, func()) {
	t.Helper()
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxConnections: limit})
	l := newLimits(t, Config{GatewayID: id, ReportInterval: testInterval}, Deps{NATS: nc, Overrides: ov.Get})
	return l, runLimits(t, l)
}

// waitOthers polls until the gateway sees want connections of acme on the others.
func waitOthers(t testing.TB, l *Limits, want int64) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		if _, others := l.For("acme").Connections(); others != want {
			return fmt.Errorf("gateway %s sees %d connections on other gateways, want %d", l.GatewayID(), others, want)
		}
		return nil
	})
}

func TestConnectionLimitAcrossGateways(t *testing.T) {
	s := natstest.Start(t)
	a, _ := gateway(t, connect(t, s), "gw-a", 3)
	b, _ := gateway(t, connect(t, s), "gw-b", 3)
	ta, tb := a.For("acme"), b.For("acme")

	for i := range 2 {
		if _, err := ta.AcquireConnection(fmt.Sprintf("a%d", i)); err != nil {
			t.Fatalf("gateway a, connection %d: %v", i, err)
		}
	}
	waitOthers(t, b, 2)
	if _, err := tb.AcquireConnection("b0"); err != nil {
		t.Fatalf("gateway b, third connection of the tenant: %v", err)
	}
	// The fourth is refused wherever it arrives.
	if _, err := tb.AcquireConnection("b1"); !errors.Is(err, mqtt.QuotaExceeded) {
		t.Errorf("gateway b, fourth connection: err = %v, want quota exceeded", err)
	}
	waitOthers(t, a, 1)
	if _, err := ta.AcquireConnection("a2"); !errors.Is(err, mqtt.QuotaExceeded) {
		t.Errorf("gateway a, fourth connection: err = %v, want quota exceeded", err)
	}
	// Another tenant is not affected.
	if _, err := ta.l.For("globex").AcquireConnection("g0"); err != nil {
		t.Errorf("other tenant: %v", err)
	}
}

func TestConnectionCountReleased(t *testing.T) {
	s := natstest.Start(t)
	a, _ := gateway(t, connect(t, s), "gw-a", 3)
	b, _ := gateway(t, connect(t, s), "gw-b", 3)
	release, err := a.For("acme").AcquireConnection("a0")
	if err != nil {
		t.Fatal(err)
	}
	waitOthers(t, b, 1)
	release() // the count drops to zero: gateway a deletes its key
	waitOthers(t, b, 0)
}

func TestDeadGatewayExpires(t *testing.T) {
	s := natstest.Start(t)
	ncA := connect(t, s)
	a, _ := gateway(t, ncA, "gw-a", 3)
	b, _ := gateway(t, connect(t, s), "gw-b", 3)
	for i := range 3 {
		if _, err := a.For("acme").AcquireConnection(fmt.Sprintf("a%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitOthers(t, b, 3)
	if _, err := b.For("acme").AcquireConnection("b0"); !errors.Is(err, mqtt.QuotaExceeded) {
		t.Fatalf("gateway b while a holds 3: err = %v, want quota exceeded", err)
	}
	// Gateway a dies: its connection to NATS goes away without withdrawing its counts.
	ncA.Close()
	waitOthers(t, b, 0)
	if _, err := b.For("acme").AcquireConnection("b0"); err != nil {
		t.Errorf("gateway b after a died: %v", err)
	}
}

func TestGatewayStopWithdrawsCounts(t *testing.T) {
	s := natstest.Start(t)
	a, stopA := gateway(t, connect(t, s), "gw-a", 3)
	b, _ := gateway(t, connect(t, s), "gw-b", 3)
	if _, err := a.For("acme").AcquireConnection("a0"); err != nil {
		t.Fatal(err)
	}
	waitOthers(t, b, 1)
	stopA()
	// The key is gone at once, not after the TTL.
	nc := connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), DefaultUsageBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), "conns.acme.gw-a"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("after gateway a stopped: Get(conns.acme.gw-a) err = %v, want key not found", err)
	}
	waitOthers(t, b, 0)
}

func TestUsageBucketCreated(t *testing.T) {
	s := natstest.Start(t)
	nc := connect(t, s)
	a, _ := gateway(t, nc, "gw-a", 3)
	if _, err := a.For("acme").AcquireConnection("a0"); err != nil {
		t.Fatal(err)
	}
	// An id that is not a valid tenant id is counted but never reported.
	if _, err := a.For("not.a>tenant").AcquireConnection("x"); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var kv jetstream.KeyValue
	checkFor(t, 10*time.Second, func() error {
		var err error
		kv, err = js.KeyValue(context.Background(), DefaultUsageBucket)
		if err != nil {
			return err
		}
		e, err := kv.Get(context.Background(), "conns.acme.gw-a")
		if err != nil {
			return err
		}
		if string(e.Value()) != "1" {
			return fmt.Errorf("conns.acme.gw-a = %q, want 1", e.Value())
		}
		return nil
	})
	keys, err := kv.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "conns.acme.gw-a" {
		t.Errorf("keys in the usage bucket = %q, want [conns.acme.gw-a]", keys)
	}
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != staleIntervals*testInterval || st.History() != 1 {
		t.Errorf("bucket TTL %s, history %d; want %s, 1", st.TTL(), st.History(), staleIntervals*testInterval)
	}
}

func TestRunTwice(t *testing.T) {
	l := newLimits(t, Config{}, Deps{})
	runLimits(t, l)
	checkFor(t, 5*time.Second, func() error {
		if !l.running.Load() {
			return errors.New("Run has not started")
		}
		return nil
	})
	if err := l.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func TestRunWithoutNATS(t *testing.T) {
	l := newLimits(t, Config{}, Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Run(ctx); err != nil {
		t.Errorf("Run without NATS = %v, want nil when ctx ends", err)
	}
}

func TestNATSUnreachable(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s.Shutdown()

	var logs logBuffer
	var ov overrides
	ov.Set("acme", tenant.Quotas{MaxConnections: 1})
	l := newLimits(t, Config{GatewayID: "gw-a", ReportInterval: testInterval}, Deps{NATS: nc, Overrides: ov.Get, Logger: logs.Logger()})
	stop := runLimits(t, l)
	checkFor(t, 10*time.Second, func() error {
		for _, line := range logs.Lines() {
			if strings.Contains(line, "cannot reach the usage bucket FLOCK_USAGE; connection limits may count only this gateway's connections until it is back") {
				return nil
			}
		}
		return fmt.Errorf("no warning about the unreachable bucket in %q", logs.Lines())
	})
	// Local counting still works.
	tn := l.For("acme")
	if _, err := tn.AcquireConnection("c1"); err != nil {
		t.Errorf("first connection: %v", err)
	}
	if _, err := tn.AcquireConnection("c2"); !errors.Is(err, mqtt.QuotaExceeded) {
		t.Errorf("second connection: err = %v, want quota exceeded", err)
	}
	stop() // Run returns nil (checked by stop) once its context ends
}

func TestUsageBucketRecreated(t *testing.T) {
	s := natstest.Start(t)
	nc := connect(t, s)
	a, _ := gateway(t, nc, "gw-a", 3)
	b, _ := gateway(t, connect(t, s), "gw-b", 3)
	if _, err := a.For("acme").AcquireConnection("a0"); err != nil {
		t.Fatal(err)
	}
	waitOthers(t, b, 1)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The bucket disappears (say, the NATS node holding it in memory restarted).
	if err := js.DeleteKeyValue(context.Background(), DefaultUsageBucket); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		kv, err := js.KeyValue(context.Background(), DefaultUsageBucket)
		if err != nil {
			return err
		}
		_, err = kv.Get(context.Background(), "conns.acme.gw-a")
		return err
	})
	// Gateway b watches the new bucket: a's count keeps counting there.
	if _, err := a.For("acme").AcquireConnection("a1"); err != nil {
		t.Fatal(err)
	}
	waitOthers(t, b, 2)
}
