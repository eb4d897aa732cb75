//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/internal/testutil/redistest"
	"github.com/flockmq/flockmq/pkg/mqtt"
)

// TestPahoV5TopicAliasesFromServer: paho.golang with Topic Alias Maximum 2
// receives messages on three topics; its router resolves the aliases the
// gateway sets, and every message reaches the handler of its topic.
func TestPahoV5TopicAliasesFromServer(t *testing.T) {
	s := startFlockd(t)
	ctx := context.Background()
	var mu sync.Mutex
	var raw []*paho.Publish // as received: topic possibly empty, alias set
	routed := map[string][]string{}
	r := paho.NewStandardRouter()
	for _, tp := range []string{"ta/one", "ta/two", "ta/three"} {
		r.RegisterHandler(tp, func(p *paho.Publish) {
			mu.Lock()
			defer mu.Unlock()
			routed[tp] = append(routed[tp], string(p.Payload))
		})
	}
	maxAlias := uint16(2)
	sub, _ := v5Client(t, s.mqtt, "alias-paho-sub",
		&paho.Connect{CleanStart: true, Properties: &paho.ConnectProperties{TopicAliasMaximum: &maxAlias}},
		func(p paho.PublishReceived) (bool, error) {
			mu.Lock()
			raw = append(raw, p.Packet)
			mu.Unlock()
			r.Route(p.Packet.Packet())
			return true, nil
		})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ta/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub, _ := v5Client(t, s.mqtt, "alias-paho-pub", nil, nil)
	sent := []string{"ta/one", "ta/one", "ta/two", "ta/one", "ta/three", "ta/three", "ta/two"}
	for i, tp := range sent {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: tp, QoS: byte(i % 2), Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if n := len(raw); n < len(sent) {
			return fmt.Errorf("%d of %d messages received", n, len(sent))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	want := map[string][]string{}
	for i, tp := range sent {
		want[tp] = append(want[tp], fmt.Sprint(i))
	}
	if fmt.Sprint(routed) != fmt.Sprint(want) {
		t.Fatalf("routed by topic %v, want %v", routed, want)
	}
	short := 0
	for _, p := range raw {
		a := p.Properties.TopicAlias
		if a == nil || *a == 0 || *a > maxAlias {
			// [MQTT-3.1.2-26] [MQTT-3.3.2-11]
			t.Fatalf("PUBLISH %q with alias %v, want one in 1..%d", p.Topic, a, maxAlias)
		}
		if p.Topic == "" {
			short++
		}
	}
	if short == 0 {
		t.Fatal("no PUBLISH left its topic out for the alias")
	}
}

// gatewayProc is a flockd gateway running as a child process, so a test
// can kill it with SIGKILL.
type gatewayProc struct {
	cmd  *exec.Cmd
	mqtt string // host:port
	logs *syncBuffer
	done chan struct{} // closed when the process has exited
}

var (
	flockdBinOnce sync.Once
	flockdBin     string
	flockdBinErr  error
)

// buildFlockd builds cmd/flockd once per test binary.
func buildFlockd(tb testing.TB) string {
	tb.Helper()
	flockdBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flockd-bin-")
		if err != nil {
			flockdBinErr = err
			return
		}
		flockdBin = filepath.Join(dir, "flockd")
		out, err := exec.Command("go", "build", "-o", flockdBin, "github.com/flockmq/flockmq/cmd/flockd").CombinedOutput()
		if err != nil {
			flockdBinErr = fmt.Errorf("go build cmd/flockd: %v\n%s", err, out)
		}
	})
	if flockdBinErr != nil {
		tb.Fatal(flockdBinErr)
	}
	return flockdBin
}

var listenLine = regexp.MustCompile(`accepting MQTT over TCP on ([0-9.]+:[0-9]+)`)

// startGatewayProc runs a flockd gateway (role gateway, anonymous tenant
// dev) against the given NATS and Redis and waits for its MQTT listener.
func startGatewayProc(tb testing.TB, natsURL, redisAddr, id string) *gatewayProc {
	tb.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(buildFlockd(tb), "gateway",
		"--nats-url", natsURL, "--redis-addr", redisAddr, "--gateway-id", id, "--anonymous-tenant", "dev",
		"--mqtt-addr", "127.0.0.1:0", "--ws-addr", "", "--http-addr", "", "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start flockd %s: %v", id, err)
	}
	g := &gatewayProc{cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(g.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-g.done
		}
		if tb.Failed() {
			tb.Logf("log of gateway %s:\n%s", id, logs.String())
		}
	})
	checkFor(tb, 30*time.Second, func() error {
		if m := listenLine.FindStringSubmatch(logs.String()); m != nil {
			g.mqtt = m[1]
			return nil
		}
		select {
		case <-g.done:
			tb.Fatalf("flockd %s exited:\n%s", id, logs.String())
		default:
		}
		return fmt.Errorf("gateway %s is not listening yet", id)
	})
	return g
}

// kill ends the gateway with SIGKILL, as a crash would, and waits for it.
func (g *gatewayProc) kill(tb testing.TB) {
	tb.Helper()
	if err := g.cmd.Process.Kill(); err != nil {
		tb.Fatalf("kill: %v", err)
	}
	<-g.done
}

// dialV5 connects a raw MQTT 5 client with cp.
func dialV5(tb testing.TB, addr string, cp *mqtt.Connect) (net.Conn, *mqtt.Reader, *mqtt.Connack) {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { nc.Close() })
	r := mqtt.NewReader(bufio.NewReader(nc), 0)
	r.SetVersion(mqtt.V5)
	cp.Version, cp.ProtocolName, cp.KeepAlive = mqtt.V5, "MQTT", 60
	sendPacket(tb, nc, cp)
	p := readPacket(tb, nc, r)
	ack, ok := p.(*mqtt.Connack)
	if !ok || ack.ReasonCode != mqtt.Success {
		tb.Fatalf("got %v, want a successful CONNACK", p)
	}
	return nc, r, ack
}

func sendPacket(tb testing.TB, nc net.Conn, p mqtt.Packet) {
	tb.Helper()
	b, err := mqtt.Append(nil, p, mqtt.V5)
	if err != nil {
		tb.Fatalf("encode %s: %v", p.Type(), err)
	}
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(b); err != nil {
		tb.Fatalf("write %s: %v", p.Type(), err)
	}
}

func readPacket(tb testing.TB, nc net.Conn, r *mqtt.Reader) mqtt.Packet {
	tb.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	p, err := r.ReadPacket()
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	return p
}

func expectPacket[P mqtt.Packet](tb testing.TB, nc net.Conn, r *mqtt.Reader) P {
	tb.Helper()
	p := readPacket(tb, nc, r)
	want, ok := p.(P)
	if !ok {
		tb.Fatalf("got %v, want %T", p, want)
	}
	return want
}

// TestQoS2ExactlyOnceAcrossGatewayKill kills a gateway process with
// SIGKILL in the middle of QoS 2 flows in both directions and lets the
// clients resume on a second gateway (shared NATS and Redis):
//
//   - publisher: PUBLISH id 2 got its PUBREC, PUBREL not sent yet. On the
//     new gateway it resends the PUBLISH (DUP) and then the PUBREL: PUBREC
//     without a second publish, then PUBCOMP [MQTT-4.3.3-10] [MQTT-4.3.3-11].
//   - persistent subscriber on the killed gateway: it completed the second
//     of two messages and holds the first. On resume it gets the first
//     again (DUP, same id) and a PUBREL for the second, never the second
//     as a new message.
//   - subscriber on the surviving gateway (paho.golang): each message once.
//
// A last message published after everything is the barrier: a duplicate
// would come before it on both subscribers.
func TestQoS2ExactlyOnceAcrossGatewayKill(t *testing.T) {
	ns := natstest.Start(t)
	rs := redistest.Start(t)
	gwA := startGatewayProc(t, ns.ClientURL(), rs.Addr(), "gwa")
	gwB := startGatewayProc(t, ns.ClientURL(), rs.Addr(), "gwb")
	ctx := context.Background()

	var mu sync.Mutex
	seen := map[string]int{}
	live, _ := v5Client(t, gwB.mqtt, "eo-live", nil, func(p paho.PublishReceived) (bool, error) {
		mu.Lock()
		seen[string(p.Packet.Payload)]++
		mu.Unlock()
		return true, nil
	})
	if _, err := live.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "eo/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	persist := mqtt.Properties{SessionExpiry: 300, SessionExpirySet: true}

	// The holder: a persistent QoS 2 subscriber on gateway A.
	hc, hr, _ := dialV5(t, gwA.mqtt, &mqtt.Connect{ClientID: "eo-holder", Properties: persist})
	sendPacket(t, hc, &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "eo/#", QoS: 2}}})
	expectPacket[*mqtt.Suback](t, hc, hr)
	// holder counts the deliveries of a receiver using the spec's method
	// B: a PUBLISH whose packet id is not awaiting PUBREL is delivered, a
	// resent copy (same id, before PUBREL) is not.
	holder := map[string]int{}

	// The publisher on gateway A: m1 complete, m2 stopped after PUBREC.
	pc, pr, _ := dialV5(t, gwA.mqtt, &mqtt.Connect{ClientID: "eo-pub", Properties: persist})
	sendPacket(t, pc, &mqtt.Publish{Topic: "eo/x", QoS: 2, PacketID: 1, Payload: []byte("m1")})
	expectPacket[*mqtt.Pubrec](t, pc, pr)
	sendPacket(t, pc, &mqtt.Pubrel{PacketID: 1})
	expectPacket[*mqtt.Pubcomp](t, pc, pr)
	m2 := &mqtt.Publish{Topic: "eo/x", QoS: 2, PacketID: 2, Payload: []byte("m2")}
	sendPacket(t, pc, m2)
	if rec := expectPacket[*mqtt.Pubrec](t, pc, pr); rec.PacketID != 2 || rec.ReasonCode.IsFailure() {
		t.Fatalf("PUBREC %+v, want success for id 2", rec)
	}

	// The holder delivers both, completes m2 and holds m1.
	p1 := expectPacket[*mqtt.Publish](t, hc, hr)
	p2 := expectPacket[*mqtt.Publish](t, hc, hr)
	if string(p1.Payload) != "m1" || string(p2.Payload) != "m2" {
		t.Fatalf("holder got %q then %q", p1.Payload, p2.Payload)
	}
	holder["m1"]++
	holder["m2"]++
	sendPacket(t, hc, &mqtt.Pubrec{PacketID: p2.PacketID})
	expectPacket[*mqtt.Pubrel](t, hc, hr)
	sendPacket(t, hc, &mqtt.Pubcomp{PacketID: p2.PacketID})
	sendPacket(t, hc, &mqtt.Pingreq{})
	expectPacket[*mqtt.Pingresp](t, hc, hr) // the PUBCOMP's store writes ran before this left

	gwA.kill(t)

	// The publisher resumes on gateway B.
	pc, pr, ack := dialV5(t, gwB.mqtt, &mqtt.Connect{ClientID: "eo-pub", Properties: persist})
	if !ack.SessionPresent {
		t.Fatal("publisher: session not present on gateway B")
	}
	m2.Dup = true
	sendPacket(t, pc, m2)
	if rec := expectPacket[*mqtt.Pubrec](t, pc, pr); rec.PacketID != 2 || rec.ReasonCode.IsFailure() {
		t.Fatalf("PUBREC %+v for the resent PUBLISH, want success for id 2", rec)
	}
	sendPacket(t, pc, &mqtt.Pubrel{PacketID: 2})
	if comp := expectPacket[*mqtt.Pubcomp](t, pc, pr); comp.ReasonCode != mqtt.Success {
		t.Fatalf("PUBCOMP %+v, want success: the flow must be known on gateway B", comp)
	}

	// The holder resumes on gateway B.
	hc, hr, ack = dialV5(t, gwB.mqtt, &mqtt.Connect{ClientID: "eo-holder", Properties: persist})
	if !ack.SessionPresent {
		t.Fatal("holder: session not present on gateway B")
	}
	awaiting := map[uint16]bool{p1.PacketID: true, p2.PacketID: false}
	sendPacket(t, pc, &mqtt.Publish{Topic: "eo/x", QoS: 2, PacketID: 3, Payload: []byte("barrier")})
	expectPacket[*mqtt.Pubrec](t, pc, pr)
	sendPacket(t, pc, &mqtt.Pubrel{PacketID: 3})
	expectPacket[*mqtt.Pubcomp](t, pc, pr)
	for holder["barrier"] == 0 {
		switch p := readPacket(t, hc, hr).(type) {
		case *mqtt.Publish:
			if !awaiting[p.PacketID] {
				holder[string(p.Payload)]++ // a new message: delivered
			}
			awaiting[p.PacketID] = true
			sendPacket(t, hc, &mqtt.Pubrec{PacketID: p.PacketID})
		case *mqtt.Pubrel:
			awaiting[p.PacketID] = false
			sendPacket(t, hc, &mqtt.Pubcomp{PacketID: p.PacketID})
		default:
			t.Fatalf("holder got %v", p)
		}
	}
	checkFor(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if seen["barrier"] == 0 {
			return fmt.Errorf("live subscriber has %v", seen)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"m1": 1, "m2": 1, "barrier": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("live subscriber deliveries %v, want %v", seen, want)
	}
	if fmt.Sprint(holder) != fmt.Sprint(want) {
		t.Errorf("resumed subscriber deliveries %v, want %v", holder, want)
	}
}

// TestPahoV5SharedSubscriptionBacklog: two paho.golang members of a shared
// QoS 1 group with persistent sessions go offline; messages published
// meanwhile go, once each, to the members when they come back (MQTT 5.0
// section 4.8.2) [MQTT-4.8.2-3].
func TestPahoV5SharedSubscriptionBacklog(t *testing.T) {
	s := startFlockd(t)
	ctx := context.Background()
	expiry := uint32(300)
	cp := func() *paho.Connect {
		return &paho.Connect{CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	}
	ids := []string{"paho-worker-1", "paho-worker-2"}
	for _, id := range ids {
		c, _ := v5Client(t, s.mqtt, id, cp(), nil)
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/workers/tasks/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	}
	pub, _ := v5Client(t, s.mqtt, "paho-tasks-pub", nil, nil)
	const n = 6
	for i := range n {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "tasks/build", QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	for _, id := range ids {
		v5Client(t, s.mqtt, id, cp(), func(p paho.PublishReceived) (bool, error) {
			mu.Lock()
			got[string(p.Packet.Payload)]++
			mu.Unlock()
			return true, nil
		})
	}
	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < n {
			return fmt.Errorf("members got %v", got)
		}
		return nil
	})
	// A live message after the backlog: when it arrives both sessions are
	// resumed, so a second drain of the backlog would most likely show by
	// then (the gateway tests check the exact semantics).
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "tasks/build", QoS: 1, Payload: []byte("live")}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if got["live"] == 0 {
			return fmt.Errorf("members got %v", got)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if got[fmt.Sprint(i)] != 1 {
			t.Fatalf("members got %v, want each of %d messages once", got, n)
		}
	}
}
