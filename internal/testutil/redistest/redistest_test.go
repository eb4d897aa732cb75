package redistest

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartServesAndStops(t *testing.T) {
	var srv *Server
	t.Run("server", func(t *testing.T) {
		srv = Start(t)
		c := srv.Client(t)
		if err := c.Set(t.Context(), "k", "v\x00{}", 0).Err(); err != nil {
			t.Fatalf("SET = %v", err)
		}
		if got, err := c.Get(t.Context(), "k").Result(); err != nil || got != "v\x00{}" {
			t.Fatalf("GET = %q, %v; want %q", got, err, "v\x00{}")
		}
		cfg, err := c.ConfigGet(t.Context(), "save").Result()
		if err != nil || cfg["save"] != "" {
			t.Fatalf("CONFIG GET save = %v, %v; want persistence off", cfg, err)
		}
	})
	select {
	case <-srv.exited:
	default:
		t.Fatalf("redis-server at %s still runs after the test's cleanup", srv.Addr())
	}
}

func TestPortTakenIsReported(t *testing.T) {
	srv := Start(t)
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	_, ps, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		t.Fatal(err)
	}
	s, err := startOn(bin, t.TempDir(), port, roleStandalone, "")
	if err == nil {
		s.stop()
		t.Fatalf("second server on %s started; want errPortTaken", srv.Addr())
	}
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("startOn(taken port) = %v, want errPortTaken", err)
	}
}

func TestSharedIsOneServer(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatalf("Shared returned two servers: %s and %s", a.Addr(), b.Addr())
	}
	if err := a.Client(t).Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING shared server = %v", err)
	}
}

func TestClusterRefusesCrossSlot(t *testing.T) {
	srv := StartCluster(t)
	c := srv.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "{a}x", "1", 0).Err(); err != nil {
		t.Fatalf("SET on the cluster = %v", err)
	}
	if err := c.MSet(ctx, "{a}y", "2", "{a}z", "3").Err(); err != nil {
		t.Fatalf("MSET within one slot = %v", err)
	}
	// The harness is only useful if the server enforces slots like a real
	// cluster; go-redis would split a pipeline, so ask with one raw EVAL.
	err := c.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{"{a}x", "{b}x"}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("EVAL over two slots = %v, want a CROSSSLOT error", err)
	}
}

func TestSentinelFindsPrimary(t *testing.T) {
	primary := Start(t)
	sentinel := StartSentinel(t, primary)
	c := sentinel.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "through-sentinel", "yes", 0).Err(); err != nil {
		t.Fatalf("SET through the sentinel's failover client = %v", err)
	}
	if got, err := primary.Client(t).Get(ctx, "through-sentinel").Result(); err != nil || got != "yes" {
		t.Fatalf("GET on the primary = %q, %v; want the value written through the sentinel", got, err)
	}
}
