package natsembed_test

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
)

func TestStartServesClients(t *testing.T) {
	s := natstest.Start(t)
	url := s.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ClientURL() = %q, want nats://127.0.0.1:<port>", url)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "INFO ") || !strings.Contains(line, `"jetstream":true`) {
		t.Fatalf("server greeting = %q, want an INFO line with jetstream enabled", line)
	}
}

func TestInProcessOnly(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{Port: -1, DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if got := s.ClientURL(); got != "" {
		t.Fatalf("ClientURL() = %q with the listener disabled, want empty", got)
	}
	c, err := s.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("in-process greeting = %q, %v; want an INFO line", line, err)
	}
	s.Shutdown() // idempotent with the deferred call
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  natsembed.Config
		want string
	}{
		{"bad port", natsembed.Config{Port: 70000}, "port"},
		{"negative store", natsembed.Config{MaxStore: -1}, "max_store"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
