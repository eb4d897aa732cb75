package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestTCPHandsOverConn(t *testing.T) {
	rec := &logRecorder{}
	type seen struct {
		name, remote string
		kind         Kind
		isConn       bool
	}
	got := make(chan seen, 1)
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		lc, ok := c.(*Conn)
		s := seen{remote: c.RemoteAddr().String(), isConn: ok}
		if ok {
			s.name, s.kind = lc.ListenerName(), lc.Kind()
		}
		got <- s
		echo(ctx, c)
	})
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP}, slog.New(rec), h)
	c := dial(t, l.Addr())
	if r := roundTrip(t, c, "hello"); r != "hello" {
		t.Errorf("echo = %q, want hello", r)
	}
	s := <-got
	want := seen{name: "mqtt", remote: c.LocalAddr().String(), kind: KindTCP, isConn: true}
	if s != want {
		t.Errorf("handler saw %+v, want %+v", s, want)
	}
	c.Close()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st := l.Stats(); st != (Stats{Accepted: 1}) {
			return fmt.Errorf("Stats() = %+v, want 1 accepted and none open", st)
		}
		return nil
	})
	wantLog := fmt.Sprintf("listener mqtt accepting MQTT over TCP on %s", l.Addr())
	if rec.count(wantLog) != 1 {
		t.Errorf("logs = %q, want one %q", rec.all(), wantLog)
	}
}

func TestServeReturnsErrClosedWhenContextDone(t *testing.T) {
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	handlerCtxDone := make(chan struct{})
	started := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- l.Serve(ctx, HandlerFunc(func(hctx context.Context, c net.Conn) {
			close(started)
			<-hctx.Done()
			close(handlerCtxDone)
		}))
	}()
	dial(t, l.Addr())
	<-started
	cancel()
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve() = %v, want ErrClosed", err)
	}
	<-handlerCtxDone // the handler's context ends with Serve's
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Errorf("dial after Serve returned succeeded, want refused")
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}

func TestServeTwiceFails(t *testing.T) {
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP}, nil, echo)
	c := dial(t, l.Addr())
	roundTrip(t, c, "x") // Serve is running
	if err := l.Serve(context.Background(), echo); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("second Serve() = %v, want an error saying it was called twice", err)
	}
}

func TestServeAfterCloseReturnsErrClosed(t *testing.T) {
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Serve(context.Background(), echo); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve() after Close = %v, want ErrClosed", err)
	}
}

func TestShutdownNotifiesAndWaitsForHandlers(t *testing.T) {
	started := make(chan struct{}, 1)
	returned := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		defer close(returned)
		started <- struct{}{}
		<-ctx.Done()
		_, _ = io.WriteString(c, "bye\n") // the goodbye a handler sends at shutdown
		c.Close()
	})
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), h) }()
	c := dial(t, l.Addr())
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	select {
	case <-returned:
	default:
		t.Error("Shutdown returned before the handler did")
	}
	if got := readLine(t, c); got != "bye" {
		t.Errorf("client read %q, want bye", got)
	}
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve() = %v, want ErrClosed", err)
	}
	if err := l.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown() = %v, want nil (idempotent)", err)
	}
}

func TestShutdownClosesConnectionsAtDeadline(t *testing.T) {
	started := make(chan struct{}, 1)
	h := HandlerFunc(func(_ context.Context, c net.Conn) {
		started <- struct{}{}
		_, _ = io.Copy(io.Discard, c) // ignores its context; returns when c is closed
	})
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), h) }()
	c := dial(t, l.Addr())
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has already passed
	if err := l.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown() = %v, want context.Canceled", err)
	}
	expectClosed(t, c)
	<-served
	if err := l.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after the handlers returned = %v", err)
	}
}

func TestCloseClosesConnections(t *testing.T) {
	started := make(chan struct{}, 1)
	h := HandlerFunc(func(_ context.Context, c net.Conn) {
		started <- struct{}{}
		_, _ = io.Copy(io.Discard, c)
	})
	l, err := Listen(Config{Name: "mqtt", Kind: KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), h) }()
	c := dial(t, l.Addr())
	<-started
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	expectClosed(t, c)
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve() = %v, want ErrClosed", err)
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after Close = %v", err)
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	rec := &logRecorder{}
	h := HandlerFunc(func(ctx context.Context, c net.Conn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if string(buf) == "panic" {
			panic("handler bug")
		}
		_, _ = c.Write(buf)
		echo(ctx, c)
	})
	l := startListener(t, Config{Name: "mqtt", Kind: KindTCP}, slog.New(rec), h)
	bad := dial(t, l.Addr())
	if _, err := io.WriteString(bad, "panic"); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, bad)
	good := dial(t, l.Addr())
	if got := roundTrip(t, good, "hello"); got != "hello" {
		t.Errorf("echo after a panic = %q, want hello", got)
	}
	if rec.count("panicked") != 1 {
		t.Errorf("logs = %q, want one line about the panic", rec.all())
	}
}

func TestNoGoroutineLeftAfterShutdown(t *testing.T) {
	for _, kind := range []Kind{KindTCP, KindWS} {
		t.Run(string(kind), func(t *testing.T) {
			l, err := Listen(Config{Name: "leak", Kind: kind, Addr: "127.0.0.1:0"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- l.Serve(context.Background(), packetEcho) }()
			for range 5 {
				if kind == KindTCP {
					c := dial(t, l.Addr())
					roundTrip(t, c, string(pingreq))
					c.Close() // the handler returns at EOF
					continue
				}
				c := dialWS(t, wsURL(l, "ws", "/mqtt"), nil)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := c.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					t.Fatal(err)
				}
				cancel()
				c.CloseNow()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := l.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			<-served
			checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if st := l.Stats(); st.Open != 0 {
					return fmt.Errorf("%d connections still open", st.Open)
				}
				s := stacks()
				for _, f := range []string{"listener.(*Listener).serveConn", "listener.(*WebSocketHandler).ServeHTTP", "net/http.(*conn).serve"} {
					if strings.Contains(s, f) {
						return fmt.Errorf("%s still running:\n%s", f, s)
					}
				}
				return nil
			})
		})
	}
}
