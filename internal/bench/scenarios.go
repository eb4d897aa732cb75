package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// Options configures the scenarios. The zero value of a field means the
// default given in its comment.
type Options struct {
	Duration    time.Duration // publishing time per scenario; 5s
	PayloadSize int           // bytes per message; 64 (at least 8: the send time)
	QoS         mqtt.QoS      // for fan-in, fan-out and latency
	Publishers  int           // fan-in publishers; 8
	Subscribers int           // fan-out subscribers; 100
	Window      int           // QoS 1 messages in flight per publisher; 256
	Rate        int           // latency scenario messages/s; 5000
	Conns       int           // idle and connect scenarios; 5000
	Parallel    int           // connect scenario dials in parallel; 64
	Drain       time.Duration // wait for stragglers after publishing stops; 3s
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 3 * time.Second
	}
	def(&o.PayloadSize, 64)
	if o.PayloadSize < 8 {
		o.PayloadSize = 8
	}
	def(&o.Publishers, 8)
	def(&o.Subscribers, 100)
	def(&o.Window, 256)
	def(&o.Rate, 5000)
	def(&o.Conns, 5000)
	def(&o.Parallel, 64)
	return o
}

// Result is what one scenario measured on one target.
type Result struct {
	Scenario string
	Target   string
	Sent     int64         // messages published
	Received int64         // messages (fan-in, latency) or deliveries (fan-out) received
	Elapsed  time.Duration // from the first publish to the last receipt
	Rate     float64       // received per second (or connections per second)
	P50      time.Duration // latency scenario
	P99      time.Duration
	P999     time.Duration
	Max      time.Duration
	BytesPer float64 // idle scenario: broker resident bytes per connection
	Note     string
}

// Lost is how many expected messages never arrived.
func (r Result) Lost(expectedPerMessage int64) int64 {
	return r.Sent*expectedPerMessage - r.Received
}

// Target is a broker to measure.
type Target struct {
	Name string // "flockmq", "mosquitto", "nats"
	Addr string // loopback host:port of its MQTT listener
	PID  int    // its process, for the idle scenario; 0 if unknown
}

// receiver counts PUBLISH packets on one subscriber connection.
type receiver struct {
	count     atomic.Int64
	lastNanos atomic.Int64
	mu        sync.Mutex
	lat       []time.Duration // latency samples, when recording
}

// read consumes packets until the connection closes or ctx ends,
// acknowledging QoS 1 and 2 deliveries.
func (rc *receiver) read(ctx context.Context, c *conn, record bool) {
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	for {
		p, err := c.r.ReadPacket()
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *mqtt.Publish:
			now := time.Now()
			if record && len(p.Payload) >= 8 {
				sent := int64(binary.BigEndian.Uint64(p.Payload))
				rc.mu.Lock()
				rc.lat = append(rc.lat, now.Sub(time.Unix(0, sent)))
				rc.mu.Unlock()
			}
			rc.count.Add(1)
			rc.lastNanos.Store(now.UnixNano())
			switch p.QoS {
			case 1:
				c.send(&mqtt.Puback{PacketID: p.PacketID})
			case 2:
				c.send(&mqtt.Pubrec{PacketID: p.PacketID})
			}
		case *mqtt.Pubrel:
			c.send(&mqtt.Pubcomp{PacketID: p.PacketID})
		}
		if c.br.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return
			}
		}
	}
}

// publisher sends messages on one connection; for QoS > 0 it keeps at most
// window messages unacknowledged.
type publisher struct {
	c      *conn
	topic  string
	qos    mqtt.QoS
	window int
	sent   atomic.Int64
	sem    chan struct{} // QoS > 0: one token per message in flight
}

func newPublisher(c *conn, topic string, qos mqtt.QoS, window int) *publisher {
	p := &publisher{c: c, topic: topic, qos: qos, window: window}
	if qos > 0 {
		p.sem = make(chan struct{}, window)
		go p.readAcks()
	}
	return p
}

func (p *publisher) readAcks() {
	for {
		pkt, err := p.c.r.ReadPacket()
		if err != nil {
			return
		}
		switch pkt := pkt.(type) {
		case *mqtt.Puback:
			<-p.sem
		case *mqtt.Pubrec:
			// The writer goroutine owns the buffer; QoS 2 answers go through it.
			p.c.nc.Write(mustEncode(&mqtt.Pubrel{PacketID: pkt.PacketID}))
		case *mqtt.Pubcomp:
			<-p.sem
		}
	}
}

func mustEncode(pkt mqtt.Packet) []byte {
	b, err := mqtt.Append(nil, pkt, mqtt.V311)
	if err != nil {
		panic(err)
	}
	return b
}

// publishUntil sends messages until the deadline, at most rate per second
// when rate > 0, stamping each payload with its send time.
func (p *publisher) publishUntil(ctx context.Context, deadline time.Time, payload []byte, rate int) error {
	msg := &mqtt.Publish{Topic: p.topic, QoS: p.qos, Payload: payload}
	var id uint16
	start := time.Now()
	const batch = 64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := batch
		if rate > 0 {
			due := int64(time.Since(start).Seconds()*float64(rate)) - p.sent.Load()
			if due <= 0 {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			n = int(min(due, batch))
		}
		for range n {
			if p.qos > 0 {
				select {
				case p.sem <- struct{}{}:
				default:
					if err := p.c.w.Flush(); err != nil {
						return err
					}
					select {
					case p.sem <- struct{}{}:
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(time.Until(deadline) + 10*time.Second):
						return errors.New("bench: no acknowledgement for 10s")
					}
				}
				id++
				if id == 0 {
					id = 1
				}
				msg.PacketID = id
			}
			binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
			if err := p.c.send(msg); err != nil {
				return err
			}
			p.sent.Add(1)
		}
		if err := p.c.w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// waitReceived waits until want messages arrived or no progress for drain.
func waitReceived(ctx context.Context, want int64, drain time.Duration, counts ...*receiver) int64 {
	total := func() int64 {
		var n int64
		for _, r := range counts {
			n += r.count.Load()
		}
		return n
	}
	last, lastChange := total(), time.Now()
	for ctx.Err() == nil {
		n := total()
		if n >= want {
			return n
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > drain {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	return total()
}

func lastReceipt(counts ...*receiver) time.Time {
	var last int64
	for _, r := range counts {
		last = max(last, r.lastNanos.Load())
	}
	return time.Unix(0, last)
}

// FanIn runs opts.Publishers publishers against one wildcard subscriber.
func FanIn(ctx context.Context, t Target, o Options) (Result, error) {
	o = o.withDefaults()
	res := Result{Scenario: fmt.Sprintf("fan-in %d→1 QoS %d", o.Publishers, o.QoS), Target: t.Name}
	sub, err := dial(ctx, t.Addr, "bench-fanin-sub", 60)
	if err != nil {
		return res, err
	}
	defer sub.close()
	if err := sub.subscribe("bench/fanin/#", o.QoS); err != nil {
		return res, err
	}
	rc := &receiver{}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go rc.read(rctx, sub, false)

	pubs := make([]*publisher, o.Publishers)
	for i := range pubs {
		c, err := dial(ctx, t.Addr, "bench-fanin-pub-"+strconv.Itoa(i), 60)
		if err != nil {
			return res, err
		}
		defer c.close()
		pubs[i] = newPublisher(c, "bench/fanin/"+strconv.Itoa(i), o.QoS, o.Window)
	}
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	errs := make([]error, len(pubs))
	for i, p := range pubs {
		wg.Go(func() { errs[i] = p.publishUntil(ctx, deadline, make([]byte, o.PayloadSize), 0) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	for _, p := range pubs {
		res.Sent += p.sent.Load()
	}
	res.Received = waitReceived(ctx, res.Sent, o.Drain, rc)
	res.Elapsed = lastReceipt(rc).Sub(start)
	if res.Elapsed > 0 {
		res.Rate = float64(res.Received) / res.Elapsed.Seconds()
	}
	if lost := res.Lost(1); lost > 0 {
		res.Note = fmt.Sprintf("%d of %d messages not delivered", lost, res.Sent)
	}
	return res, nil
}

// FanOut runs one publisher against opts.Subscribers subscribers of one topic.
func FanOut(ctx context.Context, t Target, o Options) (Result, error) {
	o = o.withDefaults()
	res := Result{Scenario: fmt.Sprintf("fan-out 1→%d QoS %d", o.Subscribers, o.QoS), Target: t.Name}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rcs := make([]*receiver, o.Subscribers)
	for i := range rcs {
		c, err := dial(ctx, t.Addr, "bench-fanout-sub-"+strconv.Itoa(i), 60)
		if err != nil {
			return res, err
		}
		defer c.close()
		if err := c.subscribe("bench/fanout", o.QoS); err != nil {
			return res, err
		}
		rcs[i] = &receiver{}
		go rcs[i].read(rctx, c, false)
	}
	c, err := dial(ctx, t.Addr, "bench-fanout-pub", 60)
	if err != nil {
		return res, err
	}
	defer c.close()
	p := newPublisher(c, "bench/fanout", o.QoS, o.Window)
	start := time.Now()
	if err := p.publishUntil(ctx, start.Add(o.Duration), make([]byte, o.PayloadSize), 0); err != nil {
		return res, err
	}
	res.Sent = p.sent.Load()
	res.Received = waitReceived(ctx, res.Sent*int64(o.Subscribers), o.Drain, rcs...)
	res.Elapsed = lastReceipt(rcs...).Sub(start)
	if res.Elapsed > 0 {
		res.Rate = float64(res.Received) / res.Elapsed.Seconds()
	}
	if lost := res.Lost(int64(o.Subscribers)); lost > 0 {
		res.Note = fmt.Sprintf("%d of %d deliveries missing", lost, res.Sent*int64(o.Subscribers))
	}
	return res, nil
}

// Latency publishes at a fixed rate and reports delivery-time percentiles.
func Latency(ctx context.Context, t Target, o Options) (Result, error) {
	o = o.withDefaults()
	res := Result{Scenario: fmt.Sprintf("latency %d msg/s QoS %d", o.Rate, o.QoS), Target: t.Name}
	sub, err := dial(ctx, t.Addr, "bench-lat-sub", 60)
	if err != nil {
		return res, err
	}
	defer sub.close()
	if err := sub.subscribe("bench/latency", o.QoS); err != nil {
		return res, err
	}
	rc := &receiver{lat: make([]time.Duration, 0, int(o.Duration.Seconds()+1)*o.Rate)}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go rc.read(rctx, sub, true)
	c, err := dial(ctx, t.Addr, "bench-lat-pub", 60)
	if err != nil {
		return res, err
	}
	defer c.close()
	p := newPublisher(c, "bench/latency", o.QoS, o.Window)
	start := time.Now()
	if err := p.publishUntil(ctx, start.Add(o.Duration), make([]byte, o.PayloadSize), o.Rate); err != nil {
		return res, err
	}
	res.Sent = p.sent.Load()
	res.Received = waitReceived(ctx, res.Sent, o.Drain, rc)
	res.Elapsed = lastReceipt(rc).Sub(start)
	if res.Elapsed > 0 {
		res.Rate = float64(res.Received) / res.Elapsed.Seconds()
	}
	rc.mu.Lock()
	lat := slices.Clone(rc.lat)
	rc.mu.Unlock()
	if len(lat) == 0 {
		return res, errors.New("bench: no message arrived")
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	res.P50, res.P99, res.P999, res.Max = pct(0.50), pct(0.99), pct(0.999), lat[len(lat)-1]
	if lost := res.Lost(1); lost > 0 {
		res.Note = fmt.Sprintf("%d of %d messages not delivered", lost, res.Sent)
	}
	return res, nil
}

// openConns dials n connections, parallel at a time.
func openConns(ctx context.Context, addr, prefix string, n, parallel int) ([]*conn, error) {
	conns := make([]*conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx, addr, prefix+strconv.Itoa(i), 300)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.nc.Close()
		}
	}
}

// Connect measures how fast the broker accepts MQTT connections.
func Connect(ctx context.Context, t Target, o Options) (Result, error) {
	o = o.withDefaults()
	res := Result{Scenario: fmt.Sprintf("connect %d (%d parallel)", o.Conns, o.Parallel), Target: t.Name}
	start := time.Now()
	conns, err := openConns(ctx, t.Addr, "bench-connect-", o.Conns, o.Parallel)
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.Received = int64(len(conns))
	res.Rate = float64(len(conns)) / res.Elapsed.Seconds()
	closeAll(conns)
	return res, nil
}

// Idle holds opts.Conns idle connections and reports the growth of the
// broker's resident memory per connection.
func Idle(ctx context.Context, t Target, o Options) (Result, error) {
	o = o.withDefaults()
	res := Result{Scenario: fmt.Sprintf("idle %d connections", o.Conns), Target: t.Name}
	if t.PID == 0 {
		return res, errors.New("bench: the idle scenario needs the broker's PID")
	}
	before, err := rss(t.PID)
	if err != nil {
		return res, err
	}
	conns, err := openConns(ctx, t.Addr, "bench-idle-", o.Conns, o.Parallel)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	after, waited, err := settledRSS(ctx, t.PID)
	if err != nil {
		return res, err
	}
	res.Received = int64(len(conns))
	res.BytesPer = float64(after-before) / float64(len(conns))
	res.Note = fmt.Sprintf("RSS %s → %s, steady after %s", human(before), human(after), waited.Round(100*time.Millisecond))
	return res, nil
}

// How settledRSS waits: a broker keeps working for a while after the
// last CONNACK (lazy buffers, background writes such as FlockMQ's presence
// records, the garbage collector returning or taking memory), so a reading
// taken at a fixed moment depends on the broker's timing. The connections
// count as idle, and the resident set as theirs, once settleSamples
// readings settleEvery apart lie within settleSpread of each other and the
// broker used less than settleCPU of one core meanwhile; the wait is at
// least settleMin and at most settleMax.
const (
	settleEvery   = 500 * time.Millisecond
	settleSamples = 10
	settleSpread  = 0.005
	settleCPU     = 0.02
	settleMin     = 5 * time.Second
	settleMax     = 60 * time.Second
)

// settledRSS waits until pid is idle with a steady resident set and
// returns it, with how long that took (settleMax at most: the last reading
// then).
func settledRSS(ctx context.Context, pid int) (int64, time.Duration, error) {
	start := time.Now()
	type reading struct {
		rss int64
		cpu time.Duration
		at  time.Time
	}
	var window []reading
	for {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(settleEvery):
		}
		v, err := rss(pid)
		if err != nil {
			return 0, 0, err
		}
		cpu, err := cpuTime(pid)
		if err != nil {
			return 0, 0, err
		}
		window = append(window, reading{v, cpu, time.Now()})
		if len(window) > settleSamples {
			window = window[1:]
		}
		waited := time.Since(start)
		if waited >= settleMax {
			return v, waited, nil
		}
		if waited < settleMin || len(window) < settleSamples {
			continue
		}
		first, last := window[0], window[len(window)-1]
		busy := float64(last.cpu-first.cpu) / float64(last.at.Sub(first.at))
		rs := make([]int64, len(window))
		for i, r := range window {
			rs[i] = r.rss
		}
		if busy < settleCPU && steady(rs) {
			return v, waited, nil
		}
	}
}

// cpuTime reads the CPU time (user and system) a process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: read CPU time of process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis. utime and stime are the
	// 14th and 15th fields, in clock ticks (100 per second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: process %d: malformed /proc stat", pid)
	}
	var ticks int64
	for _, x := range f[11:13] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: process %d: malformed /proc stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// steady reports whether the readings lie within settleSpread of their
// largest.
func steady(window []int64) bool {
	lo, hi := slices.Min(window), slices.Max(window)
	return float64(hi-lo) <= settleSpread*float64(hi)
}

// rss reads a process's resident set size in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: read memory of process %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: parse VmRSS of process %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: process %d reports no VmRSS", pid)
}

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
