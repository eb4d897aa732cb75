package conn

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// checkFor polls cond until it returns nil or d passes.
func checkFor(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jobOf is a pool job that runs a function instead of a handshake.
type jobOf func()

func (f jobOf) runJob() { f() }

func TestHandshakePoolRunsEveryJob(t *testing.T) {
	p := newHandshakePool(3, 50*time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := map[int]bool{}
	for i := range 100 {
		wg.Add(1)
		p.run(jobOf(func() {
			defer wg.Done()
			mu.Lock()
			ran[i] = true
			mu.Unlock()
		}))
	}
	wg.Wait()
	if len(ran) != 100 {
		t.Fatalf("%d of 100 jobs ran", len(ran))
	}
	if n := p.workers.Load(); n > 3 {
		t.Errorf("%d workers, want at most 3", n)
	}
	// Idle workers exit.
	checkFor(t, 5*time.Second, func() error {
		if n := p.workers.Load(); n != 0 {
			return fmt.Errorf("%d workers still running after the pool went idle", n)
		}
		return nil
	})
}

// TestHandshakePoolNeverQueues checks that a job never waits behind
// another: with every worker blocked, the next job runs at once on a
// goroutine of its own.
func TestHandshakePoolNeverQueues(t *testing.T) {
	p := newHandshakePool(2, time.Minute)
	release := make(chan struct{})
	var blocked sync.WaitGroup
	for range 2 {
		blocked.Add(1)
		p.run(jobOf(func() {
			blocked.Done()
			<-release
		}))
	}
	blocked.Wait()
	done := make(chan struct{})
	p.run(jobOf(func() { close(done) }))
	<-done // hangs (and the test times out) if the job waits for a worker
	if n := p.workers.Load(); n != 2 {
		t.Errorf("%d workers, want 2 (the third job ran outside the pool)", n)
	}
	close(release)

	// A free worker takes the next job instead of a new goroutine.
	checkFor(t, 5*time.Second, func() error {
		ran := make(chan struct{})
		p.run(jobOf(func() { close(ran) }))
		<-ran
		if n := p.workers.Load(); n != 2 {
			return fmt.Errorf("%d workers after the blocked jobs ended, want the same 2", n)
		}
		return nil
	})
}

// TestHandshakeAfterFirstBytes checks the CONNECT path through the pool:
// a CONNECT whose first bytes arrive apart from the rest is answered, and
// a client that sends part of its CONNECT and stalls is closed for its
// connect timeout, which runs from the start of the connection (MQTT
// 3.1.1 section 3.1: a server should close a connection that sends no
// CONNECT within a reasonable time).
func TestHandshakeAfterFirstBytes(t *testing.T) {
	g := startPipeGateway(t, func(e *Env) { e.Limits.ConnectTimeout = 300 * time.Millisecond })
	pkt, err := mqtt.Append(nil, &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, ClientID: "split"}, mqtt.V311)
	if err != nil {
		t.Fatal(err)
	}

	nc, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Two writes, two segments (Go sets TCP_NODELAY): the gateway may
	// read the first byte alone, and must then wait for the rest.
	if _, err := nc.Write(pkt[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(pkt[1:]); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := mqtt.NewReader(nc, 0)
	r.SetVersion(mqtt.V311)
	p, err := r.ReadPacket()
	if ack, ok := p.(*mqtt.Connack); err != nil || !ok || ack.ReasonCode.IsFailure() {
		t.Fatalf("answer to a CONNECT sent in two parts = %v, %v; want CONNACK 0x00", p, err)
	}

	stalled, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write(pkt[:3]); err != nil {
		t.Fatal(err)
	}
	stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := stalled.Read(make([]byte, 16)); err == nil {
		t.Fatalf("a client stalled in its CONNECT read %d bytes, want the connection closed", n)
	}
	checkFor(t, 5*time.Second, func() error {
		g.logs.mu.Lock()
		defer g.logs.mu.Unlock()
		if !strings.Contains(g.logs.buf.String(), "no CONNECT received in time") {
			return fmt.Errorf("no connect-timeout log line in:\n%s", g.logs.buf.String())
		}
		return nil
	})
}
