package keycache_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/auth/keycache"
	"github.com/flockmq/flockmq/pkg/tenant"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// checkFor polls f until it returns nil or the timeout passes.
func checkFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func createBucket(t testing.TB, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: tenant.ConfigBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func put(t testing.TB, kv jetstream.KeyValue, key string, v any) {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(context.Background(), key, b); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func del(t testing.TB, kv jetstream.KeyValue, key string) {
	t.Helper()
	if err := kv.Delete(context.Background(), key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

var (
	signerOnce sync.Once
	signer     crypto.Signer
)

func pubPEM(t testing.TB) string {
	t.Helper()
	signerOnce.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		signer = k
	})
	p, err := jwtauth.MarshalPublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keyRec(t testing.TB, kid, tid string, kind tenant.KeyKind, did string) tenant.Key {
	return tenant.Key{ID: kid, TenantID: tid, Kind: kind, DeviceID: did, Algorithm: tenant.ES256, PublicKeyPEM: pubPEM(t), CreatedAt: now}
}

func device(tid, did string) tenant.Device {
	return tenant.Device{TenantID: tid, ID: did, CreatedAt: now, UpdatedAt: now}
}

// events records revocation events in order.
type events struct {
	mu  sync.Mutex
	got []auth.Revocation
}

func (e *events) add(r auth.Revocation) { e.mu.Lock(); e.got = append(e.got, r); e.mu.Unlock() }

func (e *events) list() []auth.Revocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// waitFor polls until want is among the events from index from on and
// returns all events up to and including it.
func (e *events) waitFor(t testing.TB, from int, want auth.Revocation) []auth.Revocation {
	t.Helper()
	var upto []auth.Revocation
	checkFor(t, 10*time.Second, func() error {
		l := e.list()
		if i := slices.Index(l[min(from, len(l)):], want); i >= 0 {
			upto = l[:from+i+1]
			return nil
		}
		return fmt.Errorf("no event %+v among %+v", want, l)
	})
	return upto
}

func startCache(t testing.TB, js jetstream.JetStream) (*keycache.Cache, *events) {
	t.Helper()
	c, err := keycache.New(keycache.Config{MaxBackoff: 200 * time.Millisecond}, keycache.Deps{
		JetStream: js, Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	c.OnRevoke(ev.add)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, ev
}

func waitReady(t testing.TB, c *keycache.Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// testWriter sends log lines to t.Log, so they show only on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestCacheFollowsBucket: initial values load before ready; later puts,
// deletes and purges become visible.
func TestCacheFollowsBucket(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	kv := createBucket(t, js)
	put(t, kv, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha"})
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-1"), device("t-alpha", "dev-1"))
	put(t, kv, tenant.KeyKey("pk_1"), keyRec(t, "pk_1", "t-alpha", tenant.KeyPlatform, ""))
	put(t, kv, tenant.QuotasKey("t-alpha"), tenant.Quotas{MaxConnections: 7})
	put(t, kv, "unrelated.key", []byte("x"))

	c, _ := startCache(t, js)
	waitReady(t, c)
	if _, ok := c.Tenant("t-alpha"); !ok {
		t.Error("Tenant(t-alpha) missing after ready")
	}
	if d, ok := c.Device("t-alpha", "dev-1"); !ok || d.ID != "dev-1" || d.TenantID != "t-alpha" {
		t.Errorf("Device(t-alpha, dev-1) = %+v, %v", d, ok)
	}
	k1, ok := c.Key("pk_1")
	if !ok || k1.Public == nil || k1.TenantID != "t-alpha" {
		t.Fatalf("Key(pk_1) = %+v, %v; want a parsed key of t-alpha", k1, ok)
	}
	if q, ok := c.Quotas("t-alpha"); !ok || q.MaxConnections != 7 {
		t.Errorf("Quotas(t-alpha) = %+v, %v", q, ok)
	}
	if got, want := c.Stats(), (keycache.Stats{Tenants: 1, Devices: 1, Keys: 1, Quotas: 1}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}

	// A new device appears.
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-2"), device("t-alpha", "dev-2"))
	checkFor(t, 10*time.Second, func() error {
		if _, ok := c.Device("t-alpha", "dev-2"); !ok {
			return fmt.Errorf("dev-2 not visible")
		}
		return nil
	})
	// A device record is authoritative by its key, not its content.
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-3"), device("t-beta", "other"))
	checkFor(t, 10*time.Second, func() error {
		if d, ok := c.Device("t-alpha", "dev-3"); !ok || d.TenantID != "t-alpha" || d.ID != "dev-3" {
			return fmt.Errorf("Device(t-alpha, dev-3) = %+v, %v", d, ok)
		}
		return nil
	})
	// Delete and purge remove entries.
	del(t, kv, tenant.DeviceKey("t-alpha", "dev-1"))
	if err := kv.Purge(context.Background(), tenant.QuotasKey("t-alpha")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if _, ok := c.Device("t-alpha", "dev-1"); ok {
			return fmt.Errorf("deleted dev-1 still cached")
		}
		if _, ok := c.Quotas("t-alpha"); ok {
			return fmt.Errorf("purged quotas still cached")
		}
		return nil
	})
	// A rewritten key gets a new pointer; an unchanged one keeps it.
	if k, _ := c.Key("pk_1"); k != k1 {
		t.Error("Key(pk_1) changed pointer without a write")
	}
	put(t, kv, tenant.KeyKey("pk_1"), keyRec(t, "pk_1", "t-alpha", tenant.KeyPlatform, ""))
	checkFor(t, 10*time.Second, func() error {
		if k, ok := c.Key("pk_1"); !ok || k == k1 {
			return fmt.Errorf("rewritten pk_1 not reloaded")
		}
		return nil
	})
}

// TestDeviceKeys covers the index behind kidless device tokens.
func TestDeviceKeys(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	kv := createBucket(t, js)
	put(t, kv, tenant.KeyKey("dk_a"), keyRec(t, "dk_a", "t-alpha", tenant.KeyDevice, "dev-1"))
	put(t, kv, tenant.KeyKey("dk_b"), keyRec(t, "dk_b", "t-beta", tenant.KeyDevice, "dev-1"))
	put(t, kv, tenant.KeyKey("pk_c"), keyRec(t, "pk_c", "t-alpha", tenant.KeyPlatform, ""))
	c, _ := startCache(t, js)
	waitReady(t, c)
	ids := func() []string {
		var s []string
		for _, k := range c.DeviceKeys("dev-1") {
			s = append(s, k.ID)
		}
		slices.Sort(s)
		return s
	}
	if got := ids(); !slices.Equal(got, []string{"dk_a", "dk_b"}) {
		t.Errorf("DeviceKeys(dev-1) = %v, want [dk_a dk_b]", got)
	}
	held := c.DeviceKeys("dev-1")
	del(t, kv, tenant.KeyKey("dk_a"))
	checkFor(t, 10*time.Second, func() error {
		if got := ids(); !slices.Equal(got, []string{"dk_b"}) {
			return fmt.Errorf("DeviceKeys(dev-1) = %v, want [dk_b]", got)
		}
		return nil
	})
	if len(held) != 2 {
		t.Errorf("a slice returned before the delete changed under its holder: %d keys", len(held))
	}
}

// TestUnusableValuesFailClosed: values that do not decode or validate are
// absent, except revocations, whose presence alone revokes.
func TestUnusableValuesFailClosed(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	kv := createBucket(t, js)
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-1"), []byte("{not json"))
	bad := keyRec(t, "pk_bad", "t-alpha", tenant.KeyPlatform, "")
	bad.Algorithm = tenant.RS256 // an EC key declared RS256
	put(t, kv, tenant.KeyKey("pk_bad"), bad)
	put(t, kv, tenant.KeyKey("pk_other"), keyRec(t, "pk_elsewhere", "t-alpha", tenant.KeyPlatform, ""))
	put(t, kv, tenant.RevokedKey("t-alpha", tenant.RevokeDevice, "dev-2"), []byte("garbage"))
	c, _ := startCache(t, js)
	waitReady(t, c)
	if _, ok := c.Device("t-alpha", "dev-1"); ok {
		t.Error("a device whose record does not decode is cached")
	}
	if _, ok := c.Key("pk_bad"); ok {
		t.Error("a key whose declared algorithm does not match its type is cached")
	}
	if _, ok := c.Key("pk_other"); ok {
		t.Error("a key record naming another id is cached")
	}
	r, ok := c.Revocation("t-alpha", tenant.RevokeDevice, "dev-2")
	if !ok || !r.Covers(now.Add(-time.Hour), now) {
		t.Errorf("Revocation(garbage) = %+v, %v; want a revocation covering earlier tokens", r, ok)
	}
}

// TestRevocationEvents: each kind of change that ends sessions fires its
// event, and state loaded before ready fires none.
func TestRevocationEvents(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	kv := createBucket(t, js)
	put(t, kv, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha"})
	put(t, kv, tenant.TenantKey("t-beta"), tenant.Tenant{ID: "t-beta"})
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-1"), device("t-alpha", "dev-1"))
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-2"), device("t-alpha", "dev-2"))
	put(t, kv, tenant.KeyKey("pk_1"), keyRec(t, "pk_1", "t-alpha", tenant.KeyPlatform, ""))
	put(t, kv, tenant.KeyKey("pk_2"), keyRec(t, "pk_2", "t-alpha", tenant.KeyPlatform, ""))
	// Loaded before ready: no event.
	put(t, kv, tenant.RevokedKey("t-alpha", tenant.RevokeDevice, "dev-old"), tenant.Revocation{RevokedAt: now})

	c, ev := startCache(t, js)
	waitReady(t, c)

	revoke := func(kind tenant.RevocationKind, id string, exp *time.Time) {
		t.Helper()
		put(t, kv, tenant.RevokedKey("t-alpha", kind, tenant.TokenRevocationID(id)),
			tenant.Revocation{TenantID: "t-alpha", Kind: kind, ID: id, RevokedAt: now, ExpiresAt: exp})
	}
	past := now.Add(-time.Minute)
	steps := []struct {
		name   string
		change func()
		want   auth.Revocation
	}{
		{"device revoked", func() { revoke(tenant.RevokeDevice, "dev-1", nil) }, auth.Revocation{Tenant: "t-alpha", Device: "dev-1"}},
		{"key revoked", func() { revoke(tenant.RevokeKey, "pk_1", nil) }, auth.Revocation{Tenant: "t-alpha", CredentialID: "pk_1"}},
		{"token revoked", func() { revoke(tenant.RevokeToken, "jti-1", nil) }, auth.Revocation{Tenant: "t-alpha", TokenID: "jti-1"}},
		{"token with an unusual jti revoked", func() { revoke(tenant.RevokeToken, "urn:jti/2 x", nil) }, auth.Revocation{Tenant: "t-alpha", TokenID: "urn:jti/2 x"}},
		{"device disabled", func() {
			d := device("t-alpha", "dev-2")
			d.Disabled = true
			put(t, kv, tenant.DeviceKey("t-alpha", "dev-2"), d)
		}, auth.Revocation{Tenant: "t-alpha", Device: "dev-2"}},
		{"device deleted", func() { del(t, kv, tenant.DeviceKey("t-alpha", "dev-1")) }, auth.Revocation{Tenant: "t-alpha", Device: "dev-1"}},
		{"key deleted", func() { del(t, kv, tenant.KeyKey("pk_1")) }, auth.Revocation{Tenant: "t-alpha", CredentialID: "pk_1"}},
		{"key replaced by an unusable record", func() {
			k := keyRec(t, "pk_2", "t-alpha", tenant.KeyPlatform, "")
			k.PublicKeyPEM = "not a key"
			put(t, kv, tenant.KeyKey("pk_2"), k)
		}, auth.Revocation{Tenant: "t-alpha", CredentialID: "pk_2"}},
		{"tenant disabled", func() { put(t, kv, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha", Disabled: true}) }, auth.Revocation{Tenant: "t-alpha"}},
		{"tenant deleted", func() { del(t, kv, tenant.TenantKey("t-beta")) }, auth.Revocation{Tenant: "t-beta"}},
	}
	seen := 0
	for _, s := range steps {
		s.change()
		got := ev.waitFor(t, seen, s.want)
		if len(got) != seen+1 {
			t.Errorf("%s: events %+v, want exactly one more: %+v", s.name, got[seen:], s.want)
		}
		seen = len(got)
	}
	// An already expired revocation and a revocation deleted fire nothing;
	// the next event proves they were processed.
	revoke(tenant.RevokeToken, "jti-old", &past)
	del(t, kv, tenant.RevokedKey("t-alpha", tenant.RevokeToken, "jti-1"))
	sentinel := auth.Revocation{Tenant: "t-alpha", TokenID: "jti-sentinel"}
	revoke(tenant.RevokeToken, "jti-sentinel", nil)
	if got := ev.waitFor(t, seen, sentinel); len(got) != seen+1 {
		t.Errorf("events %+v, want only the sentinel", got[seen:])
	}
	if _, ok := c.Revocation("t-alpha", tenant.RevokeToken, "jti-1"); ok {
		t.Error("a deleted revocation is still cached")
	}
	for _, e := range ev.list() {
		if e.Device == "dev-old" {
			t.Errorf("event %+v for a revocation loaded before ready", e)
		}
	}
}

// TestWaitsForBucket: a cache started before the control plane created the
// bucket becomes ready once it exists.
func TestWaitsForBucket(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	c, _ := startCache(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WaitReady(ctx); err == nil {
		t.Fatal("WaitReady() succeeded before the bucket exists")
	}
	kv := createBucket(t, js)
	put(t, kv, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha"})
	waitReady(t, c)
	checkFor(t, 10*time.Second, func() error {
		if _, ok := c.Tenant("t-alpha"); !ok {
			return fmt.Errorf("t-alpha not loaded")
		}
		return nil
	})
}

// TestRewatchAfterReconnect: the NATS server is replaced by one whose
// bucket lost a device and a key while the cache was disconnected. After
// reconnecting, the cache reloads, drops what is gone (with events) and
// keeps serving lookups throughout.
func TestRewatchAfterReconnect(t *testing.T) {
	dirA := t.TempDir()
	srvA, err := natsembed.Start(natsembed.Config{DataDir: dirA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srvA.Shutdown)
	url := srvA.ClientURL()
	port := 0
	if _, err := fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &port); err != nil {
		t.Fatalf("port of %s: %v", url, err)
	}
	_, js := connect(t, url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	kv := createBucket(t, js)
	put(t, kv, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha"})
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-1"), device("t-alpha", "dev-1"))
	put(t, kv, tenant.DeviceKey("t-alpha", "dev-2"), device("t-alpha", "dev-2"))
	put(t, kv, tenant.KeyKey("pk_1"), keyRec(t, "pk_1", "t-alpha", tenant.KeyPlatform, ""))
	c, ev := startCache(t, js)
	waitReady(t, c)

	// Prepare the replacement's data: dev-2 and pk_1 are gone, dev-3 is new.
	dirB := t.TempDir()
	srvB, err := natsembed.Start(natsembed.Config{DataDir: dirB}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ncB, jsB := connect(t, srvB.ClientURL())
	kvB := createBucket(t, jsB)
	put(t, kvB, tenant.TenantKey("t-alpha"), tenant.Tenant{ID: "t-alpha"})
	put(t, kvB, tenant.DeviceKey("t-alpha", "dev-1"), device("t-alpha", "dev-1"))
	put(t, kvB, tenant.DeviceKey("t-alpha", "dev-3"), device("t-alpha", "dev-3"))
	ncB.Close()
	srvB.Shutdown()

	srvA.Shutdown()
	// Lookups answer from the last known state while NATS is down.
	if _, ok := c.Device("t-alpha", "dev-2"); !ok {
		t.Error("Device(dev-2) missing during the outage")
	}
	srvA2, err := natsembed.Start(natsembed.Config{Port: port, DataDir: dirB}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srvA2.Shutdown)

	ev.waitFor(t, 0, auth.Revocation{Tenant: "t-alpha", Device: "dev-2"})
	ev.waitFor(t, 0, auth.Revocation{Tenant: "t-alpha", CredentialID: "pk_1"})
	checkFor(t, 10*time.Second, func() error {
		if _, ok := c.Device("t-alpha", "dev-3"); !ok {
			return fmt.Errorf("dev-3 not loaded after the reconnect")
		}
		if _, ok := c.Device("t-alpha", "dev-2"); ok {
			return fmt.Errorf("dev-2 still cached after the reconnect")
		}
		if _, ok := c.Key("pk_1"); ok {
			return fmt.Errorf("pk_1 still cached after the reconnect")
		}
		return nil
	})
	for _, e := range ev.list() {
		if e.Device == "dev-1" || (e.Device == "" && e.CredentialID == "" && e.TokenID == "") {
			t.Errorf("event %+v for an entry that survived the reconnect", e)
		}
	}
	// The new watch follows later changes too.
	kvA2, err := js.KeyValue(context.Background(), tenant.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	put(t, kvA2, tenant.DeviceKey("t-alpha", "dev-4"), device("t-alpha", "dev-4"))
	checkFor(t, 10*time.Second, func() error {
		if _, ok := c.Device("t-alpha", "dev-4"); !ok {
			return fmt.Errorf("dev-4 not visible after the reconnect")
		}
		return nil
	})
}

// TestCloseStopsGoroutines: after Close, the watcher and its subscription
// are gone, also when updates were still flowing.
func TestCloseStopsGoroutines(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	kv := createBucket(t, js)
	for i := range 300 { // more than the watcher's channel holds
		put(t, kv, tenant.DeviceKey("t-alpha", fmt.Sprintf("dev-%d", i)), device("t-alpha", fmt.Sprintf("dev-%d", i)))
	}
	before := runtime.NumGoroutine()
	c, err := keycache.New(keycache.Config{}, keycache.Deps{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	checkFor(t, 10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines after Close, %d before Start", n, before)
		}
		return nil
	})
}

// TestLifecycle covers Start/Run/Close misuse and WaitReady after Close.
func TestLifecycle(t *testing.T) {
	srv := natstest.Start(t)
	_, js := connect(t, srv.ClientURL())
	createBucket(t, js)
	if _, err := keycache.New(keycache.Config{}, keycache.Deps{}); err == nil {
		t.Error("New without JetStream succeeded")
	}
	if _, err := keycache.New(keycache.Config{MaxBackoff: -1}, keycache.Deps{JetStream: js}); err == nil {
		t.Error("New with a negative backoff succeeded")
	}
	c, err := keycache.New(keycache.Config{}, keycache.Deps{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitReady(t, c)
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start after Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}
	c.Close()
	c.Close()
	if err := c.Start(context.Background()); err != keycache.ErrClosed {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}

	c2, err := keycache.New(keycache.Config{}, keycache.Deps{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if err := c2.WaitReady(context.Background()); err != keycache.ErrClosed {
		t.Errorf("WaitReady after Close = %v, want ErrClosed", err)
	}
}
