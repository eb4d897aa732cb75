//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/flockmq/flockmq/internal/flockd"
	"github.com/flockmq/flockmq/pkg/mqtt"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is flockd's all-in-one wiring running in the test process.
type server struct {
	mqtt string // host:port
	ws   string // host:port
	http string // host:port of the control-plane API, /metrics, /healthz
	logs *syncBuffer
}

// startFlockd runs flockd (role all) on random loopback ports with its data
// in a temporary directory, with extra args appended.
func startFlockd(tb testing.TB, extra ...string) *server {
	tb.Helper()
	logs := &syncBuffer{}
	args := append([]string{"all",
		"--mqtt-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", tb.TempDir(), "--log-level", "debug",
	}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	inst, err := flockd.Start(ctx, args, flockd.Options{
		Stdout: io.Discard, Stderr: logs,
		Getenv: func(string) string { return "" },
	})
	if err != nil {
		cancel()
		tb.Fatalf("flockd.Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("flockd Run: %v", err)
		}
		if tb.Failed() {
			tb.Logf("flockd log:\n%s", logs.String())
		}
	})
	return &server{mqtt: inst.MQTTAddr().String(), ws: inst.WSAddr().String(), http: inst.HTTPAddr().String(), logs: logs}
}

func (s *server) port() string {
	_, p, _ := net.SplitHostPort(s.mqtt)
	return p
}

// checkFor polls f until it returns nil or timeout passes.
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
		time.Sleep(20 * time.Millisecond)
	}
}

func requireMosquitto(tb testing.TB) {
	tb.Helper()
	for _, bin := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Skipf("%s is not installed", bin)
		}
	}
}

// mosquittoSub starts mosquitto_sub for count messages and waits until it
// is subscribed. wait returns its output.
func mosquittoSub(tb testing.TB, s *server, args ...string) (wait func() string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, dbg := &syncBuffer{}, &syncBuffer{}
	full := append([]string{"-h", "127.0.0.1", "-p", s.port(), "-d"}, args...)
	// stdbuf makes mosquitto_sub's stdout line buffered, so its -d trace
	// shows the SUBACK as soon as it arrives.
	cmd := exec.CommandContext(ctx, "mosquitto_sub", full...)
	if _, err := exec.LookPath("stdbuf"); err == nil {
		cmd = exec.CommandContext(ctx, "stdbuf", append([]string{"-oL", "mosquitto_sub"}, full...)...)
	}
	// -d writes protocol traces to stdout next to the messages; messages
	// are the lines that are not traces.
	cmd.Stdout = io.MultiWriter(out, dbg)
	cmd.Stderr = dbg
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("mosquitto_sub: %v", err)
	}
	var once sync.Once
	var result string
	wait = func() string {
		once.Do(func() {
			err := cmd.Wait()
			cancel()
			if err != nil {
				tb.Fatalf("mosquitto_sub %v: %v\n%s", args, err, dbg.String())
			}
			var msgs []string
			sc := bufio.NewScanner(strings.NewReader(out.String()))
			for sc.Scan() {
				if l := sc.Text(); !strings.HasPrefix(l, "Client ") && !strings.HasPrefix(l, "Subscribed") {
					msgs = append(msgs, l)
				}
			}
			result = strings.Join(msgs, "\n")
		})
		return result
	}
	tb.Cleanup(func() { cancel(); _ = cmd.Wait() })
	checkFor(tb, 10*time.Second, func() error {
		if strings.Contains(dbg.String(), "received SUBACK") {
			return nil
		}
		return fmt.Errorf("mosquitto_sub not subscribed yet: %q", dbg.String())
	})
	return wait
}

func mosquittoPub(tb testing.TB, s *server, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"-h", "127.0.0.1", "-p", s.port()}, args...)
	if out, err := exec.CommandContext(ctx, "mosquitto_pub", full...).CombinedOutput(); err != nil {
		tb.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

func TestMosquittoPubSub(t *testing.T) {
	requireMosquitto(t)
	s := startFlockd(t)
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for _, qos := range []string{"0", "1", "2"} {
			t.Run(v+"/qos"+qos, func(t *testing.T) {
				topic := "mosq/" + v + "/" + qos
				wait := mosquittoSub(t, s, "-V", v, "-q", qos, "-t", topic, "-C", "2", "-v")
				mosquittoPub(t, s, "-V", v, "-q", qos, "-t", topic, "-m", "first")
				mosquittoPub(t, s, "-V", v, "-q", qos, "-t", topic, "-m", "second")
				want := topic + " first\n" + topic + " second"
				if got := wait(); got != want {
					t.Fatalf("mosquitto_sub got %q, want %q", got, want)
				}
			})
		}
	}
}

func TestMosquittoRetained(t *testing.T) {
	requireMosquitto(t)
	s := startFlockd(t)
	mosquittoPub(t, s, "-V", "mqttv5", "-q", "1", "-r", "-t", "ret/a", "-m", "kept")
	// [MQTT-3.3.1-6] a new subscription receives the retained message.
	wait := mosquittoSub(t, s, "-V", "mqttv311", "-t", "ret/#", "-C", "1", "-v")
	if got := wait(); got != "ret/a kept" {
		t.Fatalf("got %q, want the retained message", got)
	}
	// [MQTT-3.3.1-10] an empty retained message deletes it.
	mosquittoPub(t, s, "-V", "mqttv311", "-r", "-t", "ret/a", "-n")
	wait = mosquittoSub(t, s, "-V", "mqttv5", "-t", "ret/#", "-C", "1", "-v")
	mosquittoPub(t, s, "-t", "ret/b", "-m", "live")
	if got := wait(); got != "ret/b live" {
		t.Fatalf("got %q, want only the live message", got)
	}
}

// v3Client connects a paho.mqtt.golang (MQTT 3.1.1) client.
func v3Client(tb testing.TB, broker, id string, clean bool, opts ...func(*pahov3.ClientOptions)) pahov3.Client {
	tb.Helper()
	o := pahov3.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true)
	for _, f := range opts {
		f(o)
	}
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("paho v3 connect %s: %v", id, tok.Error())
	}
	tb.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(100)
		}
	})
	return c
}

func waitToken(tb testing.TB, tok pahov3.Token) {
	tb.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		tb.Fatalf("paho v3: no answer in time")
	}
	if err := tok.Error(); err != nil {
		tb.Fatalf("paho v3: %v", err)
	}
}

type received struct {
	topic, payload string
	qos            byte
	retained       bool
}

// collector gathers messages from callbacks.
type collector struct {
	ch chan received
}

func newCollector() *collector { return &collector{ch: make(chan received, 100)} }

func (c *collector) v3(_ pahov3.Client, m pahov3.Message) {
	c.ch <- received{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
}

func (c *collector) next(tb testing.TB) received {
	tb.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatalf("no message received")
		return received{}
	}
}

func TestPahoV3(t *testing.T) {
	s := startFlockd(t)
	broker := "tcp://" + s.mqtt
	t.Run("qos", func(t *testing.T) {
		got := newCollector()
		sub := v3Client(t, broker, "v3-sub", true)
		waitToken(t, sub.Subscribe("v3/#", 2, got.v3))
		pub := v3Client(t, broker, "v3-pub", true)
		for qos := byte(0); qos <= 2; qos++ {
			waitToken(t, pub.Publish("v3/q", qos, false, fmt.Sprintf("qos%d", qos)))
			r := got.next(t)
			if r.payload != fmt.Sprintf("qos%d", qos) || r.qos != qos {
				t.Fatalf("got %+v, want qos%d at QoS %d", r, qos, qos)
			}
		}
	})
	t.Run("retained", func(t *testing.T) {
		pub := v3Client(t, broker, "v3-ret-pub", true)
		waitToken(t, pub.Publish("v3r/state", 1, true, "on"))
		got := newCollector()
		sub := v3Client(t, broker, "v3-ret-sub", true)
		waitToken(t, sub.Subscribe("v3r/+", 1, got.v3))
		if r := got.next(t); r.payload != "on" || !r.retained {
			t.Fatalf("got %+v, want retained \"on\"", r)
		}
	})
	t.Run("will on abnormal close", func(t *testing.T) {
		got := newCollector()
		watcher := v3Client(t, broker, "v3-watcher", true)
		waitToken(t, watcher.Subscribe("v3w/#", 1, got.v3))
		// A raw client with a will, whose socket just closes [MQTT-3.1.2-8].
		nc, err := net.Dial("tcp", s.mqtt)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, ClientID: "v3-dying",
			CleanStart: true, KeepAlive: 30, Will: &mqtt.Will{Topic: "v3w/dying", Payload: []byte("bye"), QoS: 1}}, mqtt.V311)
		nc.Write(b)
		r := mqtt.NewReader(bufio.NewReader(nc), 0)
		r.SetVersion(mqtt.V311)
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if p, err := r.ReadPacket(); err != nil || p.(*mqtt.Connack).ReasonCode != mqtt.Success {
			t.Fatalf("CONNACK: %v %v", p, err)
		}
		nc.Close()
		if m := got.next(t); m.topic != "v3w/dying" || m.payload != "bye" {
			t.Fatalf("got %+v, want the will", m)
		}
	})
	t.Run("persistent session", func(t *testing.T) {
		sub := v3Client(t, broker, "v3-durable", false)
		waitToken(t, sub.Subscribe("v3p/#", 1, nil))
		sub.Disconnect(100)
		pub := v3Client(t, broker, "v3-durable-pub", true)
		for i := range 3 {
			waitToken(t, pub.Publish("v3p/x", 1, false, fmt.Sprint(i)))
		}
		got := newCollector()
		v3Client(t, broker, "v3-durable", false, func(o *pahov3.ClientOptions) {
			o.SetDefaultPublishHandler(got.v3)
		})
		for i := range 3 {
			if r := got.next(t); r.payload != fmt.Sprint(i) {
				t.Fatalf("message %d: got %+v", i, r)
			}
		}
	})
	t.Run("websocket", func(t *testing.T) {
		got := newCollector()
		u := url.URL{Scheme: "ws", Host: s.ws, Path: "/mqtt"}
		sub := v3Client(t, u.String(), "v3-ws", true)
		waitToken(t, sub.Subscribe("v3ws/#", 1, got.v3))
		pub := v3Client(t, broker, "v3-ws-pub", true)
		waitToken(t, pub.Publish("v3ws/a", 1, false, "over websocket"))
		if r := got.next(t); r.payload != "over websocket" {
			t.Fatalf("got %+v", r)
		}
	})
}

// v5Client connects a paho.golang (MQTT 5) client.
func v5Client(tb testing.TB, addr, id string, cp *paho.Connect, onPub func(paho.PublishReceived) (bool, error)) (*paho.Client, chan *paho.Disconnect) {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	disc := make(chan *paho.Disconnect, 1)
	cfg := paho.ClientConfig{
		ClientID:           id,
		Conn:               nc,
		OnServerDisconnect: func(d *paho.Disconnect) { disc <- d },
		OnClientError:      func(error) {},
	}
	if onPub != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onPub}
	}
	c := paho.NewClient(cfg)
	if cp == nil {
		cp = &paho.Connect{CleanStart: true}
	}
	cp.ClientID, cp.KeepAlive = id, 30
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		tb.Fatalf("paho v5 connect %s: %v", id, err)
	}
	if ack.ReasonCode != 0 {
		tb.Fatalf("paho v5 connect %s: reason 0x%02X", id, ack.ReasonCode)
	}
	tb.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c, disc
}

func TestPahoV5(t *testing.T) {
	s := startFlockd(t)
	ctx := context.Background()
	t.Run("qos and properties", func(t *testing.T) {
		got := make(chan *paho.Publish, 10)
		sub, _ := v5Client(t, s.mqtt, "v5-sub", nil, func(p paho.PublishReceived) (bool, error) {
			got <- p.Packet
			return true, nil
		})
		if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "v5/#", QoS: 2}}}); err != nil {
			t.Fatal(err)
		}
		pub, _ := v5Client(t, s.mqtt, "v5-pub", nil, nil)
		for qos := byte(0); qos <= 2; qos++ {
			props := &paho.PublishProperties{ContentType: "text/plain", ResponseTopic: "v5/reply",
				CorrelationData: []byte{qos}, User: paho.UserProperties{{Key: "k", Value: fmt.Sprint(qos)}}}
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "v5/a", QoS: qos, Payload: []byte("x"), Properties: props}); err != nil {
				t.Fatalf("publish QoS %d: %v", qos, err)
			}
			select {
			case p := <-got:
				// [MQTT-3.3.2-20] [MQTT-3.3.2-18] properties forwarded unaltered.
				if p.QoS != qos || p.Properties.ContentType != "text/plain" || p.Properties.ResponseTopic != "v5/reply" ||
					!bytes.Equal(p.Properties.CorrelationData, []byte{qos}) || p.Properties.User.Get("k") != fmt.Sprint(qos) {
					t.Fatalf("got %+v %+v", p, p.Properties)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("QoS %d message not received", qos)
			}
		}
	})
	t.Run("takeover", func(t *testing.T) {
		_, disc := v5Client(t, s.mqtt, "v5-same", nil, nil)
		v5Client(t, s.mqtt, "v5-same", nil, nil)
		select {
		case d := <-disc:
			// [MQTT-3.1.4-3] the old connection gets DISCONNECT 0x8E.
			if d.ReasonCode != byte(mqtt.SessionTakenOver) {
				t.Fatalf("DISCONNECT reason 0x%02X, want 0x8E", d.ReasonCode)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("first connection was not disconnected")
		}
	})
	t.Run("persistent session", func(t *testing.T) {
		expiry := uint32(300)
		cp := func() *paho.Connect {
			return &paho.Connect{CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
		}
		sub, _ := v5Client(t, s.mqtt, "v5-durable", cp(), nil)
		if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "v5p/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		_ = sub.Disconnect(&paho.Disconnect{})
		<-sub.Done()
		pub, _ := v5Client(t, s.mqtt, "v5-durable-pub", nil, nil)
		for i := range 3 {
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "v5p/x", QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan string, 10)
		v5Client(t, s.mqtt, "v5-durable", cp(), func(p paho.PublishReceived) (bool, error) {
			got <- string(p.Packet.Payload)
			return true, nil
		})
		for i := range 3 {
			select {
			case p := <-got:
				if p != fmt.Sprint(i) {
					t.Fatalf("message %d: got %q", i, p)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("message %d not received after resuming", i)
			}
		}
	})
}

// rawV5 connects a raw MQTT 5 client.
func rawConnect(tb testing.TB, addr string, v mqtt.Version, id string) (net.Conn, *mqtt.Reader) {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	b, _ := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: v, ClientID: id, CleanStart: true, KeepAlive: 30}, v)
	nc.Write(b)
	r := mqtt.NewReader(bufio.NewReader(nc), 0)
	r.SetVersion(v)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if p, err := r.ReadPacket(); err != nil || p.(*mqtt.Connack).ReasonCode != mqtt.Success {
		tb.Fatalf("CONNACK: %v %v", p, err)
	}
	return nc, r
}

// readUntilClosed returns the packets the server sent before closing.
func readUntilClosed(tb testing.TB, nc net.Conn, r *mqtt.Reader) []mqtt.Packet {
	tb.Helper()
	var got []mqtt.Packet
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		p, err := r.ReadPacket()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				tb.Fatalf("connection still open; got %v", got)
			}
			return got
		}
		got = append(got, p)
	}
}

func disconnectCode(pkts []mqtt.Packet) string {
	if len(pkts) != 1 {
		return fmt.Sprintf("%d packets", len(pkts))
	}
	d, ok := pkts[0].(*mqtt.Disconnect)
	if !ok {
		return pkts[0].Type().String()
	}
	return fmt.Sprintf("DISCONNECT 0x%02X", byte(d.ReasonCode))
}

func TestBadInput(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "flockd.yaml")
	// The config file sets what the flags do not: 300ms to send CONNECT and
	// a 1 KiB packet limit.
	if err := os.WriteFile(cfg, []byte("gateway:\n  connect_timeout: 300000000\n  max_packet_size: 1024\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startFlockd(t, "--config", cfg)
	t.Run("malformed v5", func(t *testing.T) {
		nc, r := rawConnect(t, s.mqtt, mqtt.V5, "bad5")
		nc.Write([]byte{0x30, 0x02, 0x00, 0x05})
		if got := disconnectCode(readUntilClosed(t, nc, r)); got != "DISCONNECT 0x81" {
			t.Fatalf("got %s, want DISCONNECT 0x81", got)
		}
	})
	t.Run("malformed v311", func(t *testing.T) {
		nc, r := rawConnect(t, s.mqtt, mqtt.V311, "bad4")
		nc.Write([]byte{0x30, 0x02, 0x00, 0x05})
		if got := readUntilClosed(t, nc, r); len(got) != 0 {
			t.Fatalf("got %v, want the connection closed", got)
		}
	})
	t.Run("second CONNECT", func(t *testing.T) {
		nc, r := rawConnect(t, s.mqtt, mqtt.V5, "twice")
		b, _ := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, ClientID: "twice"}, mqtt.V5)
		nc.Write(b)
		// [MQTT-3.1.0-2]
		if got := disconnectCode(readUntilClosed(t, nc, r)); got != "DISCONNECT 0x82" {
			t.Fatalf("got %s, want DISCONNECT 0x82", got)
		}
	})
	t.Run("no CONNECT", func(t *testing.T) {
		nc, err := net.Dial("tcp", s.mqtt)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		r := mqtt.NewReader(bufio.NewReader(nc), 0)
		if got := readUntilClosed(t, nc, r); len(got) != 0 {
			t.Fatalf("got %v, want the connection closed", got)
		}
	})
	t.Run("oversize packet", func(t *testing.T) {
		nc, r := rawConnect(t, s.mqtt, mqtt.V5, "big")
		b, _ := mqtt.Append(nil, &mqtt.Publish{Topic: "big", Payload: bytes.Repeat([]byte("x"), 4096)}, mqtt.V5)
		nc.Write(b)
		if got := disconnectCode(readUntilClosed(t, nc, r)); got != "DISCONNECT 0x95" {
			t.Fatalf("got %s, want DISCONNECT 0x95", got)
		}
	})
	t.Run("gateway still serves", func(t *testing.T) {
		requireMosquitto(t)
		wait := mosquittoSub(t, s, "-t", "still/here", "-C", "1")
		mosquittoPub(t, s, "-t", "still/here", "-m", "yes")
		if got := wait(); got != "yes" {
			t.Fatalf("got %q", got)
		}
	})
}
