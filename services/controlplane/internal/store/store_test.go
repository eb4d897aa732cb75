package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
)

// connectTest starts a NATS server and connects to it.
func connectTest(t *testing.T) *nats.Conn {
	t.Helper()
	ns := natstest.Start(t)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func openTest(t *testing.T) (*Store, *nats.Conn) {
	t.Helper()
	nc := connectTest(t)
	s, err := Open(context.Background(), nc, "CFG", "SEC", 1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, nc
}

type rec struct {
	N int `json:"n"`
}

func TestOpenCreatesBucketsOnce(t *testing.T) {
	s, nc := openTest(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, Config, "a", rec{1}); err != nil {
		t.Fatal(err)
	}
	// A second instance binds to the same buckets and sees the data.
	s2, err := Open(ctx, nc, "CFG", "SEC", 1)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	var r rec
	if _, err := s2.Get(ctx, Config, "a", &r); err != nil || r.N != 1 {
		t.Fatalf("Get via second store = %+v, %v", r, err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "CFG")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil || st.History() != 1 {
		t.Errorf("bucket history = %v, %v; want 1", st, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	rev, err := s.Create(ctx, Secrets, "k", rec{1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Secrets, "k", rec{2}); !errors.Is(err, ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
	if _, err := s.Update(ctx, Secrets, "k", rec{3}, rev); err != nil {
		t.Fatalf("Update at current revision: %v", err)
	}
	if _, err := s.Update(ctx, Secrets, "k", rec{4}, rev); !errors.Is(err, ErrConflict) {
		t.Errorf("Update at a stale revision = %v, want ErrConflict", err)
	}
	var r rec
	if _, err := s.Get(ctx, Secrets, "k", &r); err != nil || r.N != 3 {
		t.Errorf("Get = %+v, %v; want 3", r, err)
	}
	if err := s.Delete(ctx, Secrets, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, Secrets, "k", &r); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Create(ctx, Secrets, "k", rec{5}); err != nil {
		t.Errorf("Create over a deleted key = %v", err)
	}
}

func TestCreateManyAndKeys(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, Config, "devices.t1.d0001", rec{0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Config, "devices.t1.d0002", rec{0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Config, "devices.t1.d0002"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var vals []any
	for i := range 2500 { // more than one window
		keys = append(keys, fmt.Sprintf("devices.t1.d%04d", i))
		vals = append(vals, rec{i})
	}
	errs := s.CreateMany(ctx, Config, keys, vals)
	for i, err := range errs {
		want := error(nil)
		if i == 1 {
			want = ErrExists
		}
		if !errors.Is(err, want) {
			t.Errorf("CreateMany[%d] = %v, want %v", i, err, want)
		}
	}
	got, err := s.Keys(ctx, Config, "devices.t1.*")
	if err != nil || len(got) != 2500 || got[0] != "devices.t1.d0000" || got[2499] != "devices.t1.d2499" {
		t.Fatalf("Keys = %d keys (first %v), %v", len(got), got[:min(len(got), 2)], err)
	}
	if got, err := s.Keys(ctx, Config, "devices.t2.*"); err != nil || len(got) != 0 {
		t.Errorf("Keys of an empty prefix = %v, %v", got, err)
	}
	if LastToken("devices.t1.d0001") != "d0001" || LastToken("plain") != "plain" {
		t.Error("LastToken")
	}
}

func TestSecretsDoNotLog(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("x", "k", SigningKey{ID: "pk_1", PrivateKeyPEM: "-----BEGIN PRIVATE KEY-----"}, "a", APIKey{ID: "a1", SecretHash: "deadbeef"})
	if strings.Contains(b.String(), "PRIVATE") || strings.Contains(b.String(), "deadbeef") {
		t.Errorf("log line shows secrets: %s", b.String())
	}
}

// TestOpenAllowsKeyTTLInAnExistingBucket: a config bucket created before
// per-key TTLs were used (as in deployed installs) is updated to allow them,
// keeping its data and its other settings.
func TestOpenAllowsKeyTTLInAnExistingBucket(t *testing.T) {
	nc := connectTest(t)
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", History: 1, Storage: jetstream.FileStorage, Description: "as deployed", MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Put(ctx, "tenants.t-1", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, nc, "CFG", "SEC", 1)
	if err != nil {
		t.Fatalf("Open over an existing bucket: %v", err)
	}
	if !s.KeyTTLSupported() {
		t.Fatal("KeyTTLSupported() = false after Open")
	}
	kv, _ := js.KeyValue(ctx, "CFG")
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bs := st.(*jetstream.KeyValueBucketStatus)
	cfg := bs.StreamInfo().Config
	if bs.LimitMarkerTTL() != MarkerTTL || !cfg.AllowMsgTTL {
		t.Errorf("after Open: LimitMarkerTTL = %s, AllowMsgTTL = %v; want %s, true", bs.LimitMarkerTTL(), cfg.AllowMsgTTL, MarkerTTL)
	}
	if cfg.Description != "as deployed" || cfg.MaxBytes != 1<<30 || cfg.Storage != jetstream.FileStorage {
		t.Errorf("after Open the bucket's own settings changed: %+v", cfg)
	}
	var r rec
	if _, err := s.Get(ctx, Config, "tenants.t-1", &r); err != nil || r.N != 1 {
		t.Errorf("value written before the update = %+v, %v", r, err)
	}
	// A second instance finds the bucket updated already.
	if s2, err := Open(ctx, nc, "CFG", "SEC", 1); err != nil || !s2.KeyTTLSupported() {
		t.Errorf("second Open = %v", err)
	}
}

// TestPutTTLExpires: a key written with PutTTL, new or replacing a value,
// disappears after its TTL and a watcher sees a purge for it.
func TestPutTTLExpires(t *testing.T) {
	s, nc := openTest(t)
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "CFG")
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, "revoked.>", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := s.Put(ctx, Config, "revoked.t-1.token.b", rec{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTTL(ctx, Config, "revoked.t-1.token.a", rec{2}, 300*time.Millisecond); err != nil {
		t.Fatalf("PutTTL(new key): %v", err)
	}
	if _, err := s.PutTTL(ctx, Config, "revoked.t-1.token.b", rec{3}, time.Second); err != nil {
		t.Fatalf("PutTTL(over a value): %v", err)
	}
	var r rec
	if _, err := s.Get(ctx, Config, "revoked.t-1.token.b", &r); err != nil || r.N != 3 {
		t.Fatalf("Get after PutTTL = %+v, %v; want 3", r, err)
	}
	purged := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(purged) < 2 {
		select {
		case e := <-w.Updates():
			if e != nil && e.Operation() == jetstream.KeyValuePurge {
				purged[e.Key()] = true
			}
		case <-deadline:
			t.Fatalf("after 20s the watcher saw purges of %v, want both keys", purged)
		}
	}
	for _, k := range []string{"revoked.t-1.token.a", "revoked.t-1.token.b"} {
		if _, err := s.Get(ctx, Config, k, &r); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) after its TTL = %v, want ErrNotFound", k, err)
		}
	}
	// An expired key can be created again.
	if _, err := s.Create(ctx, Config, "revoked.t-1.token.a", rec{4}); err != nil {
		t.Errorf("Create over an expired key = %v", err)
	}
	if _, err := s.PutTTL(ctx, Secrets, "x", rec{5}, time.Second); err == nil {
		t.Error("PutTTL in the secrets bucket succeeded")
	}
}
