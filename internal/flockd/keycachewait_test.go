package flockd

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestKeyCacheWait checks that a gateway waits briefly for its key cache
// when no control plane has created the configuration bucket, and longer
// (for the whole bucket, within a liveness probe's patience) once it exists.
func TestKeyCacheWait(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	ctx := context.Background()
	if got := keyCacheWait(ctx, js); got != 3*time.Second {
		t.Errorf("keyCacheWait without %s = %v, want 3s", tenant.ConfigBucket, got)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: tenant.ConfigBucket}); err != nil {
		t.Fatal(err)
	}
	if got := keyCacheWait(ctx, js); got != 20*time.Second {
		t.Errorf("keyCacheWait with %s = %v, want 20s", tenant.ConfigBucket, got)
	}
}
