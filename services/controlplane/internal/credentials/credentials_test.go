package credentials

import (
	"strings"
	"testing"
)

func TestAPIKeyRoundTrip(t *testing.T) {
	id, full, hash := NewAPIKey()
	gotID, secret, err := ParseAPIKey(string(full))
	if err != nil || gotID != id {
		t.Fatalf("ParseAPIKey(%q) = %q, %v; want id %q", full, gotID, err, id)
	}
	if !SecretMatches(secret, hash) {
		t.Error("SecretMatches(own secret) = false")
	}
	if strings.Contains(hash, secret) {
		t.Error("the stored hash contains the secret")
	}
	if SecretMatches(secret[:len(secret)-1]+"0", hash) && !strings.HasSuffix(secret, "0") {
		t.Error("SecretMatches accepted another secret")
	}
	if SecretMatches(secret, "not-hex") {
		t.Error("SecretMatches accepted a malformed stored hash")
	}
	_, id2, _ := NewAPIKey()
	if id2 == full {
		t.Error("two keys are equal")
	}
}

func TestParseAPIKeyRejects(t *testing.T) {
	for _, s := range []string{
		"", "fmq_", "fmq_abc_def", "xyz_0123456789abcdef_" + strings.Repeat("a", 52),
		"fmq_0123456789abcdef_" + strings.Repeat("a", 51),
		"fmq_0123456789ABCDEF_" + strings.Repeat("a", 52),
		"fmq_0123456789abcdef_" + strings.Repeat("a", 51) + "_",
	} {
		if _, _, err := ParseAPIKey(s); err == nil {
			t.Errorf("ParseAPIKey(%q) succeeded", s)
		}
	}
}

func TestAPIKeySecretLogValue(t *testing.T) {
	_, full, _ := NewAPIKey()
	if v := full.LogValue().String(); strings.Contains(v, string(full)[20:]) {
		t.Errorf("LogValue = %q shows the secret", v)
	}
}
