package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/services/gateway"
	"github.com/flockmq/flockmq/services/gateway/internal/listener"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testGateway struct {
	srv  *gateway.Server
	addr string
	logs *logBuffer
	nc   *nats.Conn // the gateway's NATS connection
}

// startGateway runs a gateway on a loopback port against a real embedded
// NATS server and an in-memory session store; every client is tenant acme.
func startGateway(tb testing.TB, mutate ...func(*gateway.Config)) *testGateway {
	tb.Helper()
	return startGateways(tb, 1, mutate...)[0]
}

// startGateways runs n gateways sharing one NATS server and one session
// store, as a cluster does.
func startGateways(tb testing.TB, n int, mutate ...func(*gateway.Config)) []*testGateway {
	tb.Helper()
	return startGatewaysWith(tb, n, memstore.New(), mutate...)
}

// startGatewaysWith is startGateways with the given session store.
func startGatewaysWith(tb testing.TB, n int, store session.Store, mutate ...func(*gateway.Config)) []*testGateway {
	tb.Helper()
	return startGatewaysDeps(tb, n, store, nil, mutate...)
}

// startGatewaysDeps is startGatewaysWith with a hook that adjusts each
// gateway's Deps (the NATS connection is set already).
func startGatewaysDeps(tb testing.TB, n int, store session.Store, deps func(*gateway.Deps), mutate ...func(*gateway.Config)) []*testGateway {
	tb.Helper()
	ns := natstest.Start(tb)
	var gws []*testGateway
	for i := range n {
		nc, err := nats.Connect("", nats.InProcessServer(ns.NATS()))
		if err != nil {
			tb.Fatalf("connect to NATS: %v", err)
		}
		tb.Cleanup(nc.Close)
		cfg := gateway.Config{
			GatewayID: fmt.Sprintf("gw%d", i+1),
			Listeners: []listener.Config{{Name: "mqtt", Kind: listener.KindTCP, Addr: "127.0.0.1:0"}},
		}
		for _, m := range mutate {
			m(&cfg)
		}
		logs := &logBuffer{}
		d := gateway.Deps{
			NATS:     nc,
			Sessions: store,
			Auth:     auth.Anonymous{Tenant: "acme"},
			Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		if deps != nil {
			deps(&d)
		}
		srv, err := gateway.New(cfg, d)
		if err != nil {
			tb.Fatalf("gateway.New: %v", err)
		}
		if err := srv.Start(context.Background()); err != nil {
			tb.Fatalf("Start: %v", err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				tb.Errorf("Shutdown: %v", err)
			}
			if tb.Failed() {
				tb.Logf("log of %s:\n%s", cfg.GatewayID, logs.String())
			}
		})
		gws = append(gws, &testGateway{srv: srv, addr: srv.Addr("mqtt").String(), logs: logs, nc: nc})
	}
	return gws
}

// client is a raw MQTT client speaking through the pkg/mqtt codec.
type client struct {
	tb testing.TB
	nc net.Conn
	r  *mqtt.Reader
	v  mqtt.Version
}

func dial(tb testing.TB, addr string, v mqtt.Version) *client {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { nc.Close() })
	r := mqtt.NewReader(bufio.NewReader(nc), 0)
	r.SetVersion(v)
	return &client{tb: tb, nc: nc, r: r, v: v}
}

func (c *client) send(p mqtt.Packet) {
	c.tb.Helper()
	b, err := mqtt.Append(nil, p, c.v)
	if err != nil {
		c.tb.Fatalf("encode %s: %v", p.Type(), err)
	}
	c.write(b)
}

func (c *client) write(b []byte) {
	c.tb.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// read returns the next packet, failing the test after 10s.
func (c *client) read() mqtt.Packet {
	c.tb.Helper()
	p, err := c.readErr(10 * time.Second)
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return p
}

func (c *client) readErr(d time.Duration) (mqtt.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadPacket()
}

// expectClosed reads until the server closes the connection and returns
// the packets read before (at most a few).
func (c *client) expectClosed() []mqtt.Packet {
	c.tb.Helper()
	var got []mqtt.Packet
	for range 20 {
		p, err := c.readErr(10 * time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.tb.Fatalf("connection still open after %d packets", len(got))
			}
			return got
		}
		got = append(got, p)
	}
	c.tb.Fatalf("connection still open")
	return nil
}

func (c *client) connect(cp *mqtt.Connect) *mqtt.Connack {
	c.tb.Helper()
	cp.Version = c.v
	if c.v == mqtt.V5 || c.v == mqtt.V311 {
		cp.ProtocolName = "MQTT"
	}
	c.send(cp)
	p := c.read()
	ack, ok := p.(*mqtt.Connack)
	if !ok {
		c.tb.Fatalf("got %s, want CONNACK", p.Type())
	}
	return ack
}

// connectClient dials and connects with clientID (clean start when clean).
func connectClient(tb testing.TB, g *testGateway, v mqtt.Version, clientID string, clean bool, mutate ...func(*mqtt.Connect)) *client {
	tb.Helper()
	c := dial(tb, g.addr, v)
	cp := &mqtt.Connect{ClientID: clientID, CleanStart: clean, KeepAlive: 60}
	for _, m := range mutate {
		m(cp)
	}
	if ack := c.connect(cp); ack.ReasonCode != mqtt.Success {
		tb.Fatalf("CONNACK reason %v, want success", ack.ReasonCode)
	}
	return c
}

func (c *client) subscribe(id uint16, subs ...mqtt.Subscription) *mqtt.Suback {
	c.tb.Helper()
	c.send(&mqtt.Subscribe{PacketID: id, Subscriptions: subs})
	for {
		p := c.read()
		if sa, ok := p.(*mqtt.Suback); ok {
			if sa.PacketID != id {
				c.tb.Fatalf("SUBACK id %d, want %d", sa.PacketID, id)
			}
			return sa
		}
	}
}

// publishAck publishes and waits for the acknowledgement flow to end.
func (c *client) publish(p *mqtt.Publish) {
	c.tb.Helper()
	c.send(p)
	switch p.QoS {
	case 1:
		c.expectType(mqtt.PUBACK)
	case 2:
		c.expectType(mqtt.PUBREC)
		c.send(&mqtt.Pubrel{PacketID: p.PacketID})
		c.expectType(mqtt.PUBCOMP)
	}
}

func (c *client) expectType(t mqtt.PacketType) mqtt.Packet {
	c.tb.Helper()
	p := c.read()
	if p.Type() != t {
		c.tb.Fatalf("got %v, want %s", p, t)
	}
	return p
}

// expectPublish reads the next PUBLISH and acknowledges it per its QoS.
func (c *client) expectPublish() *mqtt.Publish {
	c.tb.Helper()
	p := c.read()
	pub, ok := p.(*mqtt.Publish)
	if !ok {
		c.tb.Fatalf("got %v, want PUBLISH", p)
	}
	switch pub.QoS {
	case 1:
		c.send(&mqtt.Puback{PacketID: pub.PacketID})
	case 2:
		c.send(&mqtt.Pubrec{PacketID: pub.PacketID})
		c.expectType(mqtt.PUBREL)
		c.send(&mqtt.Pubcomp{PacketID: pub.PacketID})
	}
	return pub
}

// ping makes sure every packet sent before has been processed.
func (c *client) ping() {
	c.tb.Helper()
	c.send(&mqtt.Pingreq{})
	c.expectType(mqtt.PINGRESP)
}

// checkFor polls f until it returns nil or the timeout passes.
func checkFor(tb testing.TB, timeout time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func logContains(g *testGateway, s string) error {
	if strings.Contains(g.logs.String(), s) {
		return nil
	}
	return fmt.Errorf("log has no %q", s)
}
