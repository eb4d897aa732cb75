// Package natstest starts a real embedded NATS server with JetStream for
// tests, on a random port with its data in the test's temporary directory.
package natstest

import (
	"testing"

	"github.com/flockmq/flockmq/internal/natsembed"
)

// Start runs a server for the test and shuts it down in t.Cleanup.
func Start(t testing.TB) *natsembed.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}
