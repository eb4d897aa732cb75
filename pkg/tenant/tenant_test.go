package tenant

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidTenantID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"acme", true},
		{"t-8f3k2m9q", true},
		{"a1", true},
		{"a", false},                     // too short
		{"-acme", false},                 // leading dash
		{"Acme", false},                  // uppercase
		{"ac.me", false},                 // dot breaks KV keys and NATS tokens
		{"ac_me", false},                 // underscore not allowed
		{strings.Repeat("a", 40), true},  // max
		{strings.Repeat("a", 41), false}, // over max
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidTenantID(tt.in); got != tt.want {
			t.Errorf("ValidTenantID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for range 100 {
		if id := NewTenantID(); !ValidTenantID(id) {
			t.Fatalf("NewTenantID() = %q, not valid", id)
		}
	}
}

func TestValidDeviceAndKeyID(t *testing.T) {
	tests := []struct {
		in          string
		device, key bool
	}{
		{"sensor-7", true, true},
		{"Sensor_7", true, true},
		{"a", true, true},
		{"", false, false},
		{"a.b", false, false},
		{"a b", false, false},
		{"a:b", false, false},
		{"a*", false, false},
		{strings.Repeat("x", 64), true, true},
		{strings.Repeat("x", 65), true, false},
		{strings.Repeat("x", 128), true, false},
		{strings.Repeat("x", 129), false, false},
	}
	for _, tt := range tests {
		if got := ValidDeviceID(tt.in); got != tt.device {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", tt.in, got, tt.device)
		}
		if got := ValidKeyID(tt.in); got != tt.key {
			t.Errorf("ValidKeyID(%q) = %v, want %v", tt.in, got, tt.key)
		}
	}
}

func TestNewKeyID(t *testing.T) {
	for _, k := range []KeyKind{KeyPlatform, KeyDevice, KeyIssuer} {
		id := NewKeyID(k)
		if !ValidKeyID(id) {
			t.Errorf("NewKeyID(%s) = %q, not a valid key id", k, id)
		}
		if got := KeyKindOf(id); got != k {
			t.Errorf("KeyKindOf(%q) = %q, want %q", id, got, k)
		}
	}
	if got := KeyKindOf("xx_1"); got != "" {
		t.Errorf("KeyKindOf(xx_1) = %q, want empty", got)
	}
}

func TestParseKeyRoundTrip(t *testing.T) {
	tests := []struct {
		key  string
		want Ref
	}{
		{TenantKey("acme"), Ref{Entry: EntryTenant, TenantID: "acme"}},
		{QuotasKey("acme"), Ref{Entry: EntryQuotas, TenantID: "acme"}},
		{KeyKey("dk_abc"), Ref{Entry: EntryKey, KeyID: "dk_abc"}},
		{DeviceKey("acme", "sensor-7"), Ref{Entry: EntryDevice, TenantID: "acme", DeviceID: "sensor-7"}},
		{RevokedKey("acme", RevokeDevice, "sensor-7"), Ref{Entry: EntryRevoked, TenantID: "acme", RevocationKind: RevokeDevice, RevokedID: "sensor-7"}},
		{RevokedKey("acme", RevokeKey, "pk_1"), Ref{Entry: EntryRevoked, TenantID: "acme", RevocationKind: RevokeKey, RevokedID: "pk_1"}},
		{RevokedKey("acme", RevokeToken, TokenRevocationID("a/b c")), Ref{Entry: EntryRevoked, TenantID: "acme", RevocationKind: RevokeToken, RevokedID: TokenRevocationID("a/b c")}},
	}
	for _, tt := range tests {
		got, err := ParseKey(tt.key)
		if err != nil || got != tt.want {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v, nil", tt.key, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "tenants", "tenants.A", "devices.acme", "devices.acme.a.b", "keys.a.b",
		"revoked.acme.session.x", "revoked.acme.device", "signing.acme.pk_1", "other.acme"} {
		if _, err := ParseKey(bad); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("ParseKey(%q) error = %v, want ErrUnknownKey", bad, err)
		}
	}
}

func TestTokenRevocationID(t *testing.T) {
	if got := TokenRevocationID("abc-123"); got != "abc-123" {
		t.Errorf("TokenRevocationID(abc-123) = %q, want it unchanged", got)
	}
	got := TokenRevocationID("urn:uuid:1.2")
	if !ValidTokenID(got) || !strings.HasPrefix(got, "h_") {
		t.Errorf("TokenRevocationID(urn:uuid:1.2) = %q, want h_<hex> valid token id", got)
	}
	if got != TokenRevocationID("urn:uuid:1.2") {
		t.Error("TokenRevocationID is not deterministic")
	}
}

func TestRevocationCovers(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	exp := at.Add(time.Hour)
	tests := []struct {
		name     string
		r        Revocation
		iat, now time.Time
		want     bool
	}{
		{"device, token issued before", Revocation{Kind: RevokeDevice, RevokedAt: at}, at.Add(-time.Minute), at, true},
		{"device, token issued at", Revocation{Kind: RevokeDevice, RevokedAt: at}, at, at, true},
		{"device, token issued after", Revocation{Kind: RevokeDevice, RevokedAt: at}, at.Add(time.Second), at.Add(time.Minute), false},
		{"device, token without iat", Revocation{Kind: RevokeDevice, RevokedAt: at}, time.Time{}, at, true},
		{"key ignores iat", Revocation{Kind: RevokeKey, RevokedAt: at}, at.Add(time.Hour), at.Add(time.Hour), true},
		{"expired revocation", Revocation{Kind: RevokeToken, RevokedAt: at, ExpiresAt: &exp}, time.Time{}, exp, false},
		{"unexpired revocation", Revocation{Kind: RevokeToken, RevokedAt: at, ExpiresAt: &exp}, time.Time{}, exp.Add(-time.Second), true},
	}
	for _, tt := range tests {
		if got := tt.r.Covers(tt.iat, tt.now); got != tt.want {
			t.Errorf("%s: Covers = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestQuotas(t *testing.T) {
	q := Quotas{MaxConnections: 5}.WithDefaults(DefaultQuotas)
	if q.MaxConnections != 5 || q.MaxRetained != DefaultQuotas.MaxRetained {
		t.Errorf("WithDefaults = %+v, want MaxConnections 5 and default MaxRetained", q)
	}
	if err := DefaultQuotas.Validate(); err != nil {
		t.Errorf("DefaultQuotas.Validate() = %v", err)
	}
	err := Quotas{MaxRetained: -1}.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "max_retained" || !errors.Is(err, ErrNegativeQuota) {
		t.Errorf("Validate(negative) = %v, want FieldError on max_retained", err)
	}
}

func TestClientIDBelongs(t *testing.T) {
	tests := []struct {
		client, device string
		want           bool
	}{
		{"sensor-7", "sensor-7", true},
		{"sensor-7:backup", "sensor-7", true},
		{"sensor-70", "sensor-7", false},
		{"sensor-7", "", false},
		{"other", "sensor-7", false},
	}
	for _, tt := range tests {
		if got := ClientIDBelongs(tt.client, tt.device); got != tt.want {
			t.Errorf("ClientIDBelongs(%q, %q) = %v, want %v", tt.client, tt.device, got, tt.want)
		}
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext(empty) ok = true, want false")
	}
	if _, ok := FromContext(NewContext(context.Background(), "Bad.ID")); ok {
		t.Error("FromContext(invalid id) ok = true, want false")
	}
	if got, ok := FromContext(NewContext(context.Background(), "acme")); !ok || got != "acme" {
		t.Errorf("FromContext = %q, %v; want acme, true", got, ok)
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"tenants.acme", "devices.acme.d1", "revoked.acme.token.x", "keys.pk_1", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		r, err := ParseKey(key)
		if err != nil {
			return
		}
		var back string
		switch r.Entry {
		case EntryTenant:
			back = TenantKey(r.TenantID)
		case EntryQuotas:
			back = QuotasKey(r.TenantID)
		case EntryKey:
			back = KeyKey(r.KeyID)
		case EntryDevice:
			back = DeviceKey(r.TenantID, r.DeviceID)
		case EntryRevoked:
			back = RevokedKey(r.TenantID, r.RevocationKind, r.RevokedID)
		}
		if back != key {
			t.Fatalf("ParseKey(%q) = %+v, which formats back to %q", key, r, back)
		}
	})
}
