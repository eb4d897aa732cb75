package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
)

func openTest(t *testing.T) (*Store, *nats.Conn) {
	t.Helper()
	ns := natstest.Start(t)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
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
