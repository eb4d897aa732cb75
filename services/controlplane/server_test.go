package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flockmq/flockmq/internal/natsembed/natstest"
	"github.com/flockmq/flockmq/services/controlplane"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   controlplane.Config
		field string // "" means valid
	}{
		{"zero value", controlplane.Config{}, ""},
		{"short admin key", controlplane.Config{AdminKey: "short"}, "admin_key"},
		{"tiny token ttl", controlplane.Config{MaxTokenTTL: time.Second}, "max_token_ttl"},
		{"negative rate", controlplane.Config{IPRateLimit: controlplane.RateLimit{Rate: -1}}, "ip_rate_limit"},
		{"negative tenant rate", controlplane.Config{TenantRateLimit: controlplane.RateLimit{Rate: -1}}, "tenant_rate_limit"},
		{"shared window over an hour", controlplane.Config{APIKeyRateLimit: controlplane.RateLimit{Rate: 0.001, Burst: 10}}, "api_key_rate_limit"},
		{"long local window", controlplane.Config{SignupRateLimit: controlplane.RateLimit{Rate: 0.0001, Burst: 10}}, ""},
		{"bad rates stream", controlplane.Config{RatesStream: "a.b"}, "rates_stream"},
		{"tiny body limit", controlplane.Config{BodyLimit: 10}, "body_limit"},
		{"bulk below body", controlplane.Config{BodyLimit: 1 << 20, BulkBodyLimit: 2048}, "bulk_body_limit"},
		{"huge bulk", controlplane.Config{MaxBulk: 1_000_000}, "max_bulk"},
		{"same buckets", controlplane.Config{ConfigBucket: "X", SecretsBucket: "X"}, "secrets_bucket"},
		{"replicas", controlplane.Config{Replicas: 9}, "replicas"},
		{"trusted proxies", controlplane.Config{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7", "::1"}}, ""},
		{"half TLS", controlplane.Config{TLSCertFile: "cert.pem"}, "tls_cert_file"},
		{"bad trusted proxy", controlplane.Config{TrustedProxies: []string{"10.0.0.0/8", "lb.example"}}, "trusted_proxies[1]"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.field != "" && (err == nil || !strings.Contains(err.Error(), tt.field)):
			t.Errorf("%s: Validate() = %v, want an error naming %s", tt.name, err, tt.field)
		}
	}
}

func TestNewRequiresNATS(t *testing.T) {
	if _, err := controlplane.New(controlplane.Config{}, controlplane.Deps{}); err == nil {
		t.Error("New without NATS succeeded")
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitHealthy polls /healthz until it answers 200.
func waitHealthy(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/healthz did not answer within 10s", url)
}

func TestRunStopsWithContext(t *testing.T) {
	ns := natstest.Start(t)
	nc := natstest.Connect(t, ns)
	cfg := testConfig()
	cfg.Addr = freeAddr(t)
	cp, err := controlplane.New(cfg, controlplane.Deps{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	waitHealthy(t, "http://"+cfg.Addr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestShutdownIsIdempotent(t *testing.T) {
	ns := natstest.Start(t)
	nc := natstest.Connect(t, ns)
	cfg := testConfig()
	cfg.Addr = freeAddr(t)
	cp, err := controlplane.New(cfg, controlplane.Deps{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Run(context.Background()) }()
	waitHealthy(t, "http://"+cfg.Addr)
	for range 2 {
		if err := cp.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after Shutdown, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
	// Run after Shutdown returns at once.
	if err := cp.Run(context.Background()); err != nil {
		t.Errorf("Run after Shutdown = %v, want nil", err)
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "controlplane test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestRunServesTLS(t *testing.T) {
	ns := natstest.Start(t)
	nc := natstest.Connect(t, ns)
	cfg := testConfig()
	cfg.Addr = freeAddr(t)
	var pool *x509.CertPool
	cfg.TLSCertFile, cfg.TLSKeyFile, pool = writeSelfSigned(t)
	cp, err := controlplane.New(cfg, controlplane.Deps{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get("https://" + cfg.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /healthz over TLS = %d", resp.StatusCode)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
