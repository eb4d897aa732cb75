package listener

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestMaxConnsClosesConnectionsBeyondTheLimit(t *testing.T) {
	rec := &logRecorder{}
	l := startListener(t, Config{Name: "ws", Kind: KindTCP, MaxConns: 2}, slog.New(rec), echo)
	a, b := dial(t, l.Addr()), dial(t, l.Addr())
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")

	over := dial(t, l.Addr())
	expectClosed(t, over)
	want := fmt.Sprintf("listener ws refused a connection from %s at the connection limit of 2", over.LocalAddr())
	if rec.count(want) != 1 {
		t.Errorf("logs = %q, want %q", rec.all(), want)
	}

	// Closing one frees its slot.
	a.Close()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "c"); err != nil {
			return err
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("connection after a slot was freed: %w", err)
		}
		return nil
	})
	roundTrip(t, b, "b") // the survivor was never disturbed
	if st := l.Stats(); st.Refused < 1 || st.Open < 1 || st.Open > 2 {
		t.Errorf("Stats() = %+v, want Refused >= 1 and 1 or 2 open", st)
	}
}

func TestMaxConnRatePacesAccepts(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		burst     int
		conns     int
		wantSleep time.Duration // each sleep the gate asks for
		minSleeps int           // at least this many
		maxSleeps int
	}{
		{name: "1 per second, burst 1", rate: 1, conns: 3, wantSleep: time.Second, minSleeps: 2, maxSleeps: 3},
		{name: "4 per second, burst 2", rate: 4, burst: 2, conns: 4, wantSleep: 250 * time.Millisecond, minSleeps: 2, maxSleeps: 3},
		{name: "burst covers all", rate: 10, conns: 3, minSleeps: 0, maxSleeps: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			cfg := Config{Name: "mqtt", Kind: KindTCP, MaxConnRate: tt.rate, MaxConnBurst: tt.burst}
			l := startListener(t, cfg, nil, echo, func(l *Listener) {
				l.gate.now, l.gate.sleep = clock.now, clock.sleep
			})
			for i := range tt.conns {
				c := dial(t, l.Addr())
				if got := roundTrip(t, c, "x"); got != "x" {
					t.Fatalf("conn %d echo = %q", i, got)
				}
			}
			sleeps := clock.slept()
			if len(sleeps) < tt.minSleeps || len(sleeps) > tt.maxSleeps {
				t.Fatalf("gate slept %v for %d connections, want %d to %d sleeps", sleeps, tt.conns, tt.minSleeps, tt.maxSleeps)
			}
			for _, d := range sleeps {
				if d != tt.wantSleep {
					t.Errorf("gate slept %v, want each sleep %v", sleeps, tt.wantSleep)
					break
				}
			}
		})
	}
}

// flakyListener fails its first fails Accept calls with EMFILE, as a process
// out of file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}

func TestAcceptErrorsBackOffAndLogOncePerSecond(t *testing.T) {
	rec := &logRecorder{}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP}, slog.New(rec), echo, func(l *Listener) {
		fl := &flakyListener{Listener: l.gate.inner}
		fl.fails.Store(9)
		l.gate.inner = fl
		l.gate.now, l.gate.sleep = clock.now, clock.sleep
	})
	c := dial(t, l.Addr())
	if got := roundTrip(t, c, "x"); got != "x" {
		t.Fatalf("echo after accept errors = %q", got)
	}
	want := []time.Duration{
		5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond,
		80 * time.Millisecond, 160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond,
		time.Second, // capped
	}
	if st := l.Stats(); st.AcceptErrors != 9 || st.Accepted != 1 {
		t.Errorf("Stats() = %+v, want 9 accept errors and 1 accepted", st)
	}
	if got := clock.slept(); !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	// The fake clock advanced 2.275s over the nine errors: a line at 0s, at
	// 1.275s (after the 640ms sleep) and none after; never one per error.
	if n := rec.count("failed to accept a connection"); n != 2 {
		t.Errorf("logged %d accept errors, want 2 (at most one a second):\n%s", n, rec.all())
	}
}

func TestThrottleAllowsOncePerSecond(t *testing.T) {
	var th throttle
	t0 := time.Unix(0, 0)
	steps := []struct {
		at             time.Duration
		want           bool
		wantSuppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for _, s := range steps {
		ok, sup := th.allow(t0.Add(s.at))
		if ok != s.want || sup != s.wantSuppressed {
			t.Errorf("allow(+%v) = %v, %d, want %v, %d", s.at, ok, sup, s.want, s.wantSuppressed)
		}
	}
}

func TestContextDoneWhileWaitingForAToken(t *testing.T) {
	// A rate of one per hour: the second accept waits for a token with a real
	// clock; Shutdown must not wait for it.
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0", MaxConnRate: 1.0 / 3600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), echo) }()
	c := dial(t, l.Addr())
	roundTrip(t, c, "x")
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if err := <-served; err != ErrClosed {
		t.Errorf("Serve() = %v, want ErrClosed", err)
	}
}
