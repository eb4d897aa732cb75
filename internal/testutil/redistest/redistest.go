package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SkipMessage is why tests skip when redis-server is not installed.
const SkipMessage = "redis-server not installed (scripts/test.sh installs it)"

// errNotInstalled reports that no redis-server binary was found.
var errNotInstalled = errors.New("redistest: " + SkipMessage)

const (
	startAttempts = 5                // ports tried before giving up
	readyTimeout  = 10 * time.Second // per attempt, for PING to answer
	stopTimeout   = 5 * time.Second  // for SIGTERM before SIGKILL
)

// Server is one running redis-server process. Its methods are safe for
// concurrent use.
type Server struct {
	addr string
	role role
	cmd  *exec.Cmd
	log  *lockedBuffer
	// exited is closed once the process has exited; waitErr is set before.
	exited  chan struct{}
	waitErr error
	stopped sync.Once
}

// Start starts a new redis-server for t and stops it when t's cleanup runs.
// It skips t when redis-server is not installed and fails t when the server
// does not come up.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Skip(SkipMessage)
	}
	s, err := start(bin, t.TempDir(), roleStandalone, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// StartCluster is Start for a one-node Redis Cluster that owns all 16384
// hash slots. Client returns a cluster client for it, and the server
// refuses, as every cluster does, commands and scripts whose keys span
// slots (CROSSSLOT): code that passes here keeps its keys slot-correct.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Skip(SkipMessage)
	}
	s, err := start(bin, t.TempDir(), roleCluster, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// SentinelMaster is the name under which a sentinel from StartSentinel
// knows its primary.
const SentinelMaster = "flockmaster"

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors primary as SentinelMaster, and stops it in t's cleanup. Client
// returns a failover client that finds the primary through the sentinel.
func StartSentinel(t testing.TB, primary *Server) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Skip(SkipMessage)
	}
	s, err := start(bin, t.TempDir(), roleSentinel, primary.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Client returns a new client of the server, closed when t's cleanup runs:
// a cluster client for a server from StartCluster, a failover client of
// the monitored primary for a server from StartSentinel.
func (s *Server) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	switch s.role {
	case roleCluster:
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.addr}, DisableIdentity: true})
	case roleSentinel:
		c = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: SentinelMaster, SentinelAddrs: []string{s.addr}, DisableIdentity: true,
		})
	default:
		c = newClient(s.addr)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Log returns what the server has written to its log so far, for test
// failure messages.
func (s *Server) Log() string { return s.log.String() }

func newClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
}

var (
	sharedMu  sync.Mutex
	shared    *Server // set by Main
	sharedErr error   // why Main has no server
	mainRan   bool
)

// Main runs a package's tests with one redis-server that Shared hands to
// every test, and exits the process with their result. Call it from
// TestMain. When redis-server is not installed the tests still run, and
// Shared skips those that need it.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	sharedMu.Lock()
	mainRan = true
	bin, err := binary()
	if err != nil {
		sharedErr = err
		sharedMu.Unlock()
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		sharedMu.Unlock()
		fmt.Fprintf(os.Stderr, "redistest: create the data directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := start(bin, dir, roleStandalone, "")
	if err != nil {
		sharedMu.Unlock()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.stop()
	shared = s
	sharedMu.Unlock()
	return m.Run()
}

// Shared returns the server Main started for the package. It skips t when
// redis-server is not installed and fails t when TestMain does not call
// Main. Tests sharing the server must keep to their own keys.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	switch {
	case shared != nil:
		return shared
	case errors.Is(sharedErr, errNotInstalled):
		t.Skip(SkipMessage)
	case !mainRan:
		t.Fatal("redistest: Shared needs TestMain to call redistest.Main")
	default:
		t.Fatalf("redistest: no shared server: %v", sharedErr)
	}
	return nil
}

// binary finds the redis-server executable.
func binary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNotInstalled
}

// start runs redis-server from bin with its files in dir, retrying on a new
// port when the chosen one was taken.
// role is what a server process runs as.
type role int

const (
	roleStandalone role = iota
	roleCluster         // a one-node Redis Cluster owning all 16384 slots
	roleSentinel        // a sentinel monitoring one primary
)

// start runs redis-server from bin with its files in dir, retrying on a new
// port when the chosen one was taken. monitor is the primary's address for
// a sentinel.
func start(bin, dir string, r role, monitor string) (*Server, error) {
	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := startOn(bin, dir, port, r, monitor)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, fmt.Errorf("redistest: start redis-server: %w", errors.Join(errs...))
}

var errPortTaken = errors.New("port taken")

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startOn(bin, dir string, port int, r role, monitor string) (*Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{addr: addr, role: r, log: new(lockedBuffer), exited: make(chan struct{})}
	var args []string
	if r == roleSentinel {
		// A sentinel rewrites its configuration file, so it needs one.
		host, mport, err := net.SplitHostPort(monitor)
		if err != nil {
			return nil, fmt.Errorf("sentinel: primary address %q: %w", monitor, err)
		}
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
		body := fmt.Sprintf("sentinel monitor %s %s %s 1\n", SentinelMaster, host, mport)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, fmt.Errorf("sentinel: write %s: %w", conf, err)
		}
		args = append(args, conf, "--sentinel")
	}
	args = append(args,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	if r == roleCluster {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-announce-ip", "127.0.0.1",
		)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	err := s.waitReady()
	if err == nil && r == roleCluster {
		err = s.assignSlots()
	}
	if err != nil {
		s.stop()
		if strings.Contains(s.log.String(), "Address already in use") {
			return nil, fmt.Errorf("%s: %w", addr, errPortTaken)
		}
		return nil, fmt.Errorf("%s: %w; server log:\n%s", addr, err, s.log.String())
	}
	return s, nil
}

// waitReady polls until the server answers PING and names our process as
// its own, the process exits, or readyTimeout passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c := newClient(s.addr)
	defer c.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = s.ping(ctx, c)
		if last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("redis-server exited: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("redis-server not ready after %v: %w", readyTimeout, last)
		case <-tick.C:
		}
	}
}

// assignSlots gives the lone cluster node every slot and waits until the
// cluster reports itself ok.
func (s *Server) assignSlots() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c := newClient(s.addr)
	defer c.Close()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		// Before Redis 7 there is only ADDSLOTS, slot by slot.
		args := []any{"CLUSTER", "ADDSLOTS"}
		for i := range 16384 {
			args = append(args, i)
		}
		if err2 := c.Do(ctx, args...).Err(); err2 != nil {
			return fmt.Errorf("assign cluster slots: %w", errors.Join(err, err2))
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ok after %v: %v %q", readyTimeout, err, info)
		case <-tick.C:
		}
	}
}

func (s *Server) ping(ctx context.Context, c *redis.Client) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return err
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	want := "process_id:" + strconv.Itoa(s.cmd.Process.Pid)
	for line := range strings.Lines(info) {
		if strings.TrimSpace(line) == want {
			return nil
		}
	}
	return fmt.Errorf("the server at %s is not ours (want %s)", s.addr, want)
}

// stop terminates the server and waits for it; it is idempotent.
func (s *Server) stop() {
	s.stopped.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-s.exited:
		case <-t.C:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// lockedBuffer collects the server's output, written by exec's copying
// goroutine and read by tests.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
