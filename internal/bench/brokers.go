package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Broker is a broker process started for a comparison run.
type Broker struct {
	Target
	cmd *exec.Cmd
	log *os.File
}

// Stop ends the broker process and waits for it.
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
	b.log.Close()
	b.cmd = nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs a broker command and waits until addr accepts connections.
func start(ctx context.Context, name, addr, dir string, bin string, args ...string) (*Broker, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start %s (%s): %w", name, bin, err)
	}
	b := &Broker{Target: Target{Name: name, Addr: addr, PID: cmd.Process.Pid}, cmd: cmd, log: logf}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Stop()
			return nil, fmt.Errorf("bench: %s did not listen on %s within 30s (log: %s)", name, addr, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartFlockd runs the flockd binary in all-in-one mode with anonymous
// access into tenant "bench".
func StartFlockd(ctx context.Context, bin, dir string) (*Broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	http, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return start(ctx, "flockmq", addr, dir, bin,
		"--mqtt-addr", addr, "--ws-addr", "", "--http-addr", "127.0.0.1:"+strconv.Itoa(http),
		"--data-dir", filepath.Join(dir, "flockd-data"), "--anonymous-tenant", "bench", "--log-level", "warn")
}

// StartMosquitto runs Mosquitto with anonymous access and no queue limits
// that would drop messages in the scenarios.
func StartMosquitto(ctx context.Context, bin, dir string) (*Broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	cfg := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\npersistence false\n", port)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return start(ctx, "mosquitto", "127.0.0.1:"+strconv.Itoa(port), dir, bin, "-c", conf)
}

// StartNATS runs nats-server with JetStream and its MQTT listener.
func StartNATS(ctx context.Context, bin, dir string) (*Broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nats.conf")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nserver_name: bench\njetstream { store_dir: %q }\nmqtt { listen: 127.0.0.1:%d }\n",
		client, filepath.Join(dir, "nats-data"), port)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return start(ctx, "nats", "127.0.0.1:"+strconv.Itoa(port), dir, bin, "-c", conf)
}

// FindBinary looks a program up on PATH and in the usual extra places.
func FindBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", filepath.Join(home, "go", "bin")} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("bench: " + name + " not found on PATH, /usr/sbin or ~/go/bin")
}
