package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsCommands(t *testing.T) {
	url := startControlPlane(t)
	mustFlockctl(t, "signup", "--url", url, "--name", "Acme")
	mustFlockctl(t, "devices", "create", "sensor-7")

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemPath := filepath.Join(t.TempDir(), "device.pub.pem")
	if err := os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustFlockctl(t, "credentials", "add-key", "sensor-7", "--pem", pemPath, "-o", "json")
	var k struct {
		ID        string `json:"id"`
		Algorithm string `json:"algorithm"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil || !strings.HasPrefix(k.ID, "dk_") || k.Algorithm != "ES256" {
		t.Fatalf("add-key = %q, %v", out, err)
	}
	if out := mustFlockctl(t, "credentials", "list-keys", "sensor-7"); !strings.Contains(out, k.ID) {
		t.Errorf("list-keys:\n%s", out)
	}

	out = mustFlockctl(t, "credentials", "issue-token", "sensor-7", "--ttl", "10m")
	token := strings.SplitN(out, "\n", 2)[0]
	if strings.Count(token, ".") != 2 || !strings.Contains(out, "valid until") {
		t.Errorf("issue-token first line %q is not a JWT\n%s", token, out)
	}
	out = mustFlockctl(t, "credentials", "issue-token", "sensor-7", "-o", "json")
	var tok struct {
		Token   string `json:"token"`
		TokenID string `json:"token_id"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.TokenID == "" {
		t.Fatalf("issue-token -o json = %q, %v", out, err)
	}

	out = mustFlockctl(t, "credentials", "add-issuer-key", "--pem", pemPath)
	if !strings.Contains(out, "ik_") || !strings.Contains(out, "issuer") {
		t.Errorf("add-issuer-key:\n%s", out)
	}
	if out := mustFlockctl(t, "credentials", "list-issuer-keys"); !strings.Contains(out, "platform") || !strings.Contains(out, "issuer") {
		t.Errorf("list-issuer-keys:\n%s", out)
	}

	out = mustFlockctl(t, "credentials", "revoke", "--kind", "token", "--id", tok.TokenID)
	if !strings.Contains(out, "Revoked token "+tok.TokenID) {
		t.Errorf("revoke token:\n%s", out)
	}
	mustFlockctl(t, "credentials", "revoke", "--kind", "key", "--id", k.ID)
	out = mustFlockctl(t, "credentials", "revocations")
	if !strings.Contains(out, tok.TokenID) || !strings.Contains(out, k.ID) {
		t.Errorf("revocations:\n%s", out)
	}
	if out := mustFlockctl(t, "credentials", "list-keys", "sensor-7"); strings.Contains(out, k.ID) {
		t.Errorf("revoked key still listed:\n%s", out)
	}
	if _, err := flockctl(t, "credentials", "revoke", "--kind", "session", "--id", "x"); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("revoke with a bad kind = %v", err)
	}
	for _, args := range [][]string{
		{"credentials", "add-key", "sensor-7"},
		{"credentials", "add-key", "sensor-7", "--pem", pemPath, "--jwk", pemPath},
		{"credentials", "add-key", "sensor-7", "--pem", pemPath, "--not-after", "tomorrow"},
		{"credentials", "issue-token"},
		{"credentials", "issue-token", "sensor-7", "--ttl", "5s"},
		{"credentials", "revoke", "--kind", "token"},
		{"credentials", "nope"},
	} {
		if _, err := flockctl(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("flockctl %v = %v, want a usage error", args, err)
		}
	}
}
