package conn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/limits"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// pipeGateway serves connections of tenant acme on a loopback port, with a
// real embedded NATS server behind the bridge.
type pipeGateway struct {
	addr string
	ns   *natsembed.Server
	nc   *nats.Conn
	logs *pipeLog
}

// pipeLog collects the connections' log for a failing test.
type pipeLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *pipeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// pipeRegistry is a Registry of one gateway.
type pipeRegistry struct {
	mu sync.Mutex
	m  map[session.Key]*Conn
}

func (r *pipeRegistry) Swap(key session.Key, c *Conn) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m[key]
	r.m[key] = c
	return old
}

func (r *pipeRegistry) Lookup(key session.Key) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

func (r *pipeRegistry) Remove(key session.Key, c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[key] == c {
		delete(r.m, key)
	}
}

// startPipeGateway starts NATS, a bridge and a listener serving Conns;
// mutate adjusts the Env before the first connection.
func startPipeGateway(tb testing.TB, mutate ...func(*Env)) *pipeGateway {
	tb.Helper()
	ns := natstest.Start(tb)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		tb.Fatalf("connect to NATS: %v", err)
	}
	tb.Cleanup(nc.Close)
	logs := &pipeLog{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	br, err := bridge.New(nc, bridge.Config{GatewayID: "gw1", PublishTimeout: 2 * time.Second}, log)
	if err != nil {
		tb.Fatalf("bridge.New: %v", err)
	}
	tb.Cleanup(func() { br.Close() })
	store := memstore.New()
	env := &Env{
		GatewayID: "gw1",
		Bridge:    br,
		Router:    router.New(br, log),
		Sessions:  store,
		Auth:      auth.Anonymous{Tenant: "acme"},
		Registry:  &pipeRegistry{m: make(map[session.Key]*Conn)},
		Wills:     NewWills(br, store, log, time.Now),
		Log:       log,
		Clock:     time.Now,
		Limits: Limits{
			MaxPacketSize: 1 << 20, ReceiveMaximum: 1024, MaxInflight: 128, MaxQueuedBytes: 8 << 20,
			MaxPending: 20_000, TopicAliasMaximum: 16, KeepAliveMax: 3600, ConnectTimeout: 5 * time.Second,
			WriteTimeout: 10 * time.Second, SessionExpiryMax: 3600, RetainAvailable: true,
			WildcardAvailable: true, SubIDsAvailable: true, SharedAvailable: true,
		},
	}
	for _, m := range mutate {
		m(env)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { New(env, c).Serve(ctx) })
		}
	})
	tb.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
		if tb.Failed() {
			logs.mu.Lock()
			tb.Logf("gateway log:\n%s", logs.buf.String())
			logs.mu.Unlock()
		}
	})
	return &pipeGateway{addr: ln.Addr().String(), ns: ns, nc: nc, logs: logs}
}

// pipeClient is a raw MQTT client; send is safe for concurrent use.
type pipeClient struct {
	tb  testing.TB
	nc  net.Conn
	r   *mqtt.Reader
	v   mqtt.Version
	wmu sync.Mutex
}

// dialPipe connects clientID with a clean session and checks the CONNACK.
func dialPipe(tb testing.TB, g *pipeGateway, v mqtt.Version, clientID string) *pipeClient {
	tb.Helper()
	c := dialRaw(tb, g, v)
	c.send(&mqtt.Connect{Version: v, ProtocolName: "MQTT", ClientID: clientID, CleanStart: true, KeepAlive: 60})
	p, err := c.read()
	if err != nil {
		tb.Fatalf("read CONNACK: %v", err)
	}
	if ack, ok := p.(*mqtt.Connack); !ok || ack.ReasonCode != mqtt.Success {
		tb.Fatalf("got %v, want a successful CONNACK", p)
	}
	return c
}

// dialRaw opens a TCP connection to g for a client of version v, which
// still has to send its CONNECT.
func dialRaw(tb testing.TB, g *pipeGateway, v mqtt.Version) *pipeClient {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { nc.Close() })
	r := mqtt.NewReader(bufio.NewReader(nc), 0)
	r.SetVersion(v)
	return &pipeClient{tb: tb, nc: nc, r: r, v: v}
}

func (c *pipeClient) send(p mqtt.Packet) {
	b, err := mqtt.Append(nil, p, c.v)
	if err != nil {
		c.tb.Errorf("encode %s: %v", p.Type(), err)
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.tb.Errorf("write %s: %v", p.Type(), err)
	}
}

// read returns the next packet, or an error after 20s or at close.
func (c *pipeClient) read() (mqtt.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	return c.r.ReadPacket()
}

// readUntilClosed reads until the server closes the connection and
// returns what it sent before; a read timeout fails the test.
func (c *pipeClient) readUntilClosed() []mqtt.Packet {
	c.tb.Helper()
	var got []mqtt.Packet
	for {
		p, err := c.read()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				c.tb.Fatalf("connection still open after %d packets", len(got))
			}
			return got
		}
		got = append(got, p)
	}
}

// subscribe subscribes to filter at qos and waits for the SUBACK.
func (c *pipeClient) subscribe(filter string, qos mqtt.QoS) {
	c.tb.Helper()
	c.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: filter, QoS: qos}}})
	for {
		p, err := c.read()
		if err != nil {
			c.tb.Fatalf("read SUBACK: %v", err)
		}
		if _, ok := p.(*mqtt.Suback); ok {
			return
		}
	}
}

// collect reads n PUBLISH packets in a goroutine, acknowledging QoS 1
// ones, and returns a function that waits for them and returns their
// payloads. Subscribers here subscribe at QoS 0 or 1.
func (c *pipeClient) collect(n int) func() []string {
	done := make(chan []string, 1)
	go func() {
		got := make([]string, 0, n)
		for len(got) < n {
			p, err := c.read()
			if err != nil {
				c.tb.Errorf("subscriber: %v after %d messages", err, len(got))
				break
			}
			pub, ok := p.(*mqtt.Publish)
			if !ok {
				continue
			}
			got = append(got, string(pub.Payload))
			if pub.QoS == 1 {
				c.send(&mqtt.Puback{PacketID: pub.PacketID})
			}
		}
		done <- got
	}()
	return func() []string { return <-done }
}

// ack is one acknowledgement the publisher received.
type ack struct {
	typ  mqtt.PacketType
	id   uint16
	code mqtt.ReasonCode
}

// publishAll sends n QoS 1 or 2 publishes on topic with payloads "0" to
// "n-1", keeping at most window flows unfinished, and answers PUBREC with
// PUBREL. Every dupEvery-th QoS 2 publish is sent twice in a row, the
// second time with DUP set. It returns the PUBACKs and PUBRECs in the
// order they arrived, and the packets sent by packet identifier order.
func (c *pipeClient) publishAll(topic string, qos mqtt.QoS, n, window, dupEvery int) (acks []ack, sent []uint16) {
	c.tb.Helper()
	sem := make(chan struct{}, window)
	readDone := make(chan error, 1)
	go func() {
		released := make(map[uint16]bool)
		finished := 0
		for finished < n {
			p, err := c.read()
			if err != nil {
				readDone <- fmt.Errorf("after %d finished flows: %w", finished, err)
				return
			}
			switch p := p.(type) {
			case *mqtt.Puback:
				acks = append(acks, ack{mqtt.PUBACK, p.PacketID, p.ReasonCode})
				finished++
				<-sem
			case *mqtt.Pubrec:
				acks = append(acks, ack{mqtt.PUBREC, p.PacketID, p.ReasonCode})
				switch {
				case p.ReasonCode.IsFailure():
					finished++
					<-sem
				case !released[p.PacketID]:
					released[p.PacketID] = true
					c.send(&mqtt.Pubrel{PacketID: p.PacketID})
				}
			case *mqtt.Pubcomp:
				delete(released, p.PacketID)
				finished++
				<-sem
			}
		}
		readDone <- nil
	}()
	for i := range n {
		sem <- struct{}{}
		id := uint16(i%65000 + 1)
		pub := &mqtt.Publish{Topic: topic, QoS: qos, PacketID: id, Payload: []byte(strconv.Itoa(i))}
		c.send(pub)
		sent = append(sent, id)
		if qos == 2 && dupEvery > 0 && i%dupEvery == 0 {
			dup := *pub
			dup.Dup = true
			c.send(&dup) // resent before its PUBREC: answered, not published again [MQTT-4.3.3-10]
			sent = append(sent, id)
		}
	}
	if err := <-readDone; err != nil {
		c.tb.Fatalf("publisher: %v", err)
	}
	return acks, sent
}

// checkInOrder fails unless got is "0" to "n-1" in order.
func checkInOrder(tb testing.TB, got []string, n int) {
	tb.Helper()
	if len(got) != n {
		tb.Fatalf("subscriber received %d messages, want %d", len(got), n)
	}
	for i, p := range got {
		if p != strconv.Itoa(i) {
			tb.Fatalf("message %d has payload %s: lost, duplicated or out of order", i, p)
		}
	}
}

// checkAcks fails unless the acknowledgements answer sent in order
// [MQTT-4.6.0-2] [MQTT-4.6.0-3], with type typ and success.
func checkAcks(tb testing.TB, acks []ack, sent []uint16, typ mqtt.PacketType) {
	tb.Helper()
	if len(acks) != len(sent) {
		tb.Fatalf("%d acknowledgements for %d publishes", len(acks), len(sent))
	}
	for i, a := range acks {
		if a.typ != typ || a.id != sent[i] || a.code != mqtt.Success {
			tb.Fatalf("acknowledgement %d is %s %d (0x%02X), want %s %d success", i, a.typ, a.id, byte(a.code), typ, sent[i])
		}
	}
}

// TestPipelineQoS1 publishes 10,000 QoS 1 messages from one client with
// many in flight: the subscriber gets all in order, and the PUBACKs come
// in the order of the publishes [MQTT-4.6.0-2].
func TestPipelineQoS1(t *testing.T) {
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			g := startPipeGateway(t)
			sub := dialPipe(t, g, mqtt.V5, "sub")
			sub.subscribe("p/#", 1)
			const n = 10_000
			wait := sub.collect(n)
			pub := dialPipe(t, g, v, "pub")
			acks, sent := pub.publishAll("p/1", 1, n, 512, 0)
			checkAcks(t, acks, sent, mqtt.PUBACK)
			checkInOrder(t, wait(), n)
		})
	}
}

// TestPipelineQoS2 does the same with QoS 2, resending some publishes
// before their PUBREC: each is answered again, in order, and delivered
// once [MQTT-4.3.3-10] [MQTT-4.6.0-3].
func TestPipelineQoS2(t *testing.T) {
	g := startPipeGateway(t)
	sub := dialPipe(t, g, mqtt.V5, "sub")
	sub.subscribe("p/#", 1)
	const n = 10_000
	wait := sub.collect(n)
	pub := dialPipe(t, g, mqtt.V5, "pub")
	acks, sent := pub.publishAll("p/2", 2, n, 256, 97)
	checkAcks(t, acks, sent, mqtt.PUBREC)
	checkInOrder(t, wait(), n)
}

// fillStream lets tenant acme's durable stream take max more messages and
// then refuse new ones (as a full queue does).
func fillStream(tb testing.TB, g *pipeGateway, max int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(g.nc)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := js.Stream(ctx, "FLOCK_ACME")
	if err != nil {
		tb.Fatalf("stream of acme: %v", err)
	}
	cfg := s.CachedInfo().Config
	cfg.Discard = jetstream.DiscardNew
	cfg.MaxMsgs = int64(s.CachedInfo().State.Msgs) + max
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		tb.Fatalf("update stream: %v", err)
	}
}

// storedPayloads returns the payloads in tenant acme's durable stream.
func storedPayloads(tb testing.TB, g *pipeGateway) map[string]bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := jetstream.New(g.nc)
	s, err := js.Stream(ctx, "FLOCK_ACME")
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]bool)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("get message %d: %v", seq, err)
		}
		var m bridge.Message
		if err := bridge.DecodeMessage(raw.Data, &m); err != nil {
			tb.Fatalf("decode message %d: %v", seq, err)
		}
		out[string(m.Payload)] = true
	}
	return out
}

// TestPipelineStreamFull fills the tenant's stream while publishes are in
// flight: MQTT 5 publishes that were not stored get 0x97 in order, every
// message acknowledged with success is in the stream and none refused is;
// an MQTT 3.1.1 publisher, which cannot be told, is disconnected without
// an acknowledgement.
func TestPipelineStreamFull(t *testing.T) {
	for _, qos := range []mqtt.QoS{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			g := startPipeGateway(t)
			pub := dialPipe(t, g, mqtt.V5, "pub")
			acks, _ := pub.publishAll("f/0", qos, 1, 1, 0) // creates the stream
			checkAcks(t, acks, []uint16{1}, map[mqtt.QoS]mqtt.PacketType{1: mqtt.PUBACK, 2: mqtt.PUBREC}[qos])
			const room, n = 40, 300
			fillStream(t, g, room)
			acks, sent := pub.publishAll("f/1", qos, n, 200, 0)
			if len(acks) < n {
				t.Fatalf("%d acknowledgements for %d publishes", len(acks), n)
			}
			stored := storedPayloads(t, g)
			var ok, full int
			for i, a := range acks[:n] {
				if a.id != sent[i] {
					t.Fatalf("acknowledgement %d is for packet %d, want %d: out of order", i, a.id, sent[i])
				}
				payload := strconv.Itoa(i)
				switch a.code {
				case mqtt.Success:
					ok++
					if !stored[payload] {
						t.Errorf("message %s acknowledged but not in the stream", payload)
					}
				case mqtt.QuotaExceeded:
					full++
					if stored[payload] {
						t.Errorf("message %s refused with 0x97 but stored", payload)
					}
				default:
					t.Errorf("acknowledgement %d has reason 0x%02X", i, byte(a.code))
				}
			}
			if ok != room || full != n-room {
				t.Errorf("%d stored and %d refused, want %d and %d", ok, full, room, n-room)
			}

			old := dialPipe(t, g, mqtt.V311, "old")
			old.send(&mqtt.Publish{Topic: "f/2", QoS: qos, PacketID: 1, Payload: []byte("x")})
			for _, p := range old.readUntilClosed() {
				t.Errorf("MQTT 3.1.1 publisher got %v for a message not stored; want the connection closed", p)
			}
		})
	}
}

// TestPipelineReceiveMaximum sends more unreleased QoS 2 messages than the
// server's Receive Maximum: DISCONNECT 0x93 [MQTT-3.3.4-9].
func TestPipelineReceiveMaximum(t *testing.T) {
	g := startPipeGateway(t, func(e *Env) { e.Limits.ReceiveMaximum = 4 })
	pub := dialPipe(t, g, mqtt.V5, "pub")
	for i := range 5 {
		pub.send(&mqtt.Publish{Topic: "rm", QoS: 2, PacketID: uint16(i + 1), Payload: []byte("x")})
	}
	got := pub.readUntilClosed()
	if len(got) == 0 {
		t.Fatal("connection closed without a DISCONNECT")
	}
	d, ok := got[len(got)-1].(*mqtt.Disconnect)
	if !ok || d.ReasonCode != mqtt.ReceiveMaximumExceeded {
		t.Fatalf("last packet %v, want DISCONNECT 0x93", got[len(got)-1])
	}
	for i, p := range got[:len(got)-1] {
		if rec, ok := p.(*mqtt.Pubrec); !ok || rec.PacketID != uint16(i+1) || rec.ReasonCode != mqtt.Success {
			t.Errorf("packet %d is %v, want PUBREC %d", i, p, i+1)
		}
	}
}

// TestPipelineRetainedOrder interleaves retained QoS 0 and QoS 1
// publishes on one topic: the retained message is the last one published
// [MQTT-3.3.1-5].
func TestPipelineRetainedOrder(t *testing.T) {
	g := startPipeGateway(t)
	pub := dialPipe(t, g, mqtt.V5, "pub")
	const n = 101
	for i := range n {
		pub.send(&mqtt.Publish{Topic: "r/1", QoS: mqtt.QoS(i % 2), Retain: true, PacketID: uint16(i + 1), Payload: []byte(strconv.Itoa(i))})
	}
	pub.send(&mqtt.Pingreq{})
	for {
		p, err := pub.read()
		if err != nil {
			t.Fatal(err)
		}
		if p.Type() == mqtt.PINGRESP {
			break // the read loop handled the last (QoS 0) publish before the PINGREQ
		}
	}
	sub := dialPipe(t, g, mqtt.V5, "sub")
	wait := sub.collect(1)
	sub.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "r/1", QoS: 1}}})
	if got := wait(); len(got) != 1 || got[0] != strconv.Itoa(n-1) {
		t.Fatalf("retained message %v, want %d", got, n-1)
	}
}

// TestPipelineQuota refuses a payload over the tenant's size limit with
// DISCONNECT 0x95 and, with throttling off, a burst over its message rate
// with a DISCONNECT (see limits/doc.go); an MQTT 3.1.1 client is just
// disconnected.
func TestPipelineQuota(t *testing.T) {
	g := startPipeGateway(t, func(e *Env) {
		q, err := limits.New(limits.Config{Defaults: tenant.Quotas{MaxPayloadBytes: 100, MaxMessagesPerSecond: 20}, MaxThrottle: -1}, limits.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		e.Quotas = q
	})
	big := dialPipe(t, g, mqtt.V5, "big")
	big.send(&mqtt.Publish{Topic: "q", QoS: 1, PacketID: 1, Payload: make([]byte, 101)})
	got := big.readUntilClosed()
	if len(got) != 1 || got[0].(*mqtt.Disconnect).ReasonCode != mqtt.PacketTooLarge {
		t.Fatalf("got %v, want DISCONNECT 0x95", got)
	}
	fast := dialPipe(t, g, mqtt.V5, "fast")
	var burst []byte
	for i := range 100 {
		burst, _ = mqtt.Append(burst, &mqtt.Publish{Topic: "q", Payload: []byte(strconv.Itoa(i))}, mqtt.V5)
	}
	_, _ = fast.nc.Write(burst) // the server may close before it read all
	got = fast.readUntilClosed()
	if len(got) != 1 || got[0].(*mqtt.Disconnect).ReasonCode != rateCode {
		t.Fatalf("got %v, want DISCONNECT 0x%02X", got, byte(rateCode))
	}
	old := dialPipe(t, g, mqtt.V311, "old")
	old.send(&mqtt.Publish{Topic: "q", QoS: 1, PacketID: 1, Payload: make([]byte, 101)})
	if got := old.readUntilClosed(); len(got) != 0 {
		t.Fatalf("MQTT 3.1.1 client got %v, want the connection closed", got)
	}
}

// TestPipelineThrottle: a burst over the tenant's message rate is slowed
// down, not refused, while holding it back is enough to keep the tenant
// within its rate: every message arrives, in order, and the publisher
// stays connected.
func TestPipelineThrottle(t *testing.T) {
	g := startPipeGateway(t, func(e *Env) {
		q, err := limits.New(limits.Config{Defaults: tenant.Quotas{MaxMessagesPerSecond: 100}}, limits.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		e.Quotas = q
	})
	sub := dialPipe(t, g, mqtt.V5, "sub")
	sub.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "q"}}})
	if p, err := sub.read(); err != nil || p.Type() != mqtt.SUBACK {
		t.Fatalf("got %v, %v; want SUBACK", p, err)
	}
	const n = 130 // the bucket holds 100; the rest waits about 10ms each
	wait := sub.collect(n)
	fast := dialPipe(t, g, mqtt.V5, "fast")
	var burst []byte
	for i := range n {
		burst, _ = mqtt.Append(burst, &mqtt.Publish{Topic: "q", Payload: []byte(strconv.Itoa(i))}, mqtt.V5)
	}
	if _, err := fast.nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	got := wait()
	for i, p := range got {
		if p != strconv.Itoa(i) {
			t.Fatalf("message %d is %q, want every message in order: %v", i, p, got)
		}
	}
	fast.send(&mqtt.Pingreq{})
	if p, err := fast.read(); err != nil || p.Type() != mqtt.PINGRESP {
		t.Fatalf("throttled publisher got %v, %v; want PINGRESP (still connected)", p, err)
	}
}

// rateCode is the DISCONNECT reason for a client over its message rate.
var rateCode = mqtt.MessageRateTooHigh

// TestPipelineNATSDown stops NATS with publishes in flight: an MQTT 5
// publisher gets 0x80 for each, in order, and no success.
func TestPipelineNATSDown(t *testing.T) {
	g := startPipeGateway(t)
	pub := dialPipe(t, g, mqtt.V5, "pub")
	acks, _ := pub.publishAll("d/0", 1, 1, 1, 0) // creates the stream
	checkAcks(t, acks, []uint16{1}, mqtt.PUBACK)
	g.ns.Shutdown()
	const n = 20
	acks, sent := pub.publishAll("d/1", 1, n, n, 0)
	if len(acks) != n {
		t.Fatalf("%d acknowledgements for %d publishes", len(acks), n)
	}
	for i, a := range acks {
		if a.id != sent[i] || a.code != mqtt.UnspecifiedError {
			t.Errorf("acknowledgement %d is PUBACK %d (0x%02X), want %d with 0x80", i, a.id, byte(a.code), sent[i])
		}
	}
}
