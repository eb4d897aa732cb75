package jwtauth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

func sign(t testing.TB, alg tenant.Algorithm, kid string, c jwtauth.Claims) string {
	t.Helper()
	tok, err := jwtauth.Sign(alg, keysForTest(t).of(alg), kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims returns valid claims for a device of t-alpha.
func claims(sub string) jwtauth.Claims {
	return jwtauth.Claims{
		Subject:   sub,
		Audience:  []string{"flockmq"},
		IssuedAt:  now.Add(-time.Minute),
		ExpiresAt: now.Add(time.Hour),
		ID:        "jti-" + sub,
	}
}

func with(c jwtauth.Claims, f func(*jwtauth.Claims)) jwtauth.Claims { f(&c); return c }

// rawToken assembles a token from a header, claims and a signature, for
// the shapes Sign refuses to produce.
func rawToken(t testing.TB, header string, c jwt.Claims, sig []byte) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	body, err := tk.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	_, payload, _ := strings.Cut(body, ".")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + payload + "." + enc.EncodeToString(sig)
}

func registered(c jwtauth.Claims) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Subject: c.Subject, Audience: c.Audience, ID: c.ID,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt), ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
	}
}

// hmacToken is the algorithm-confusion attack: an HS256 token whose
// secret is the platform key's public key, which an attacker knows.
func hmacToken(t testing.TB, secret []byte) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodHS256, registered(claims("dev-1")))
	tk.Header["kid"] = "pk_es"
	s, err := tk.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type tokenCase struct {
	name     string
	token    func(t testing.TB) string
	username string
	clientID string // "" means the device id of want
	method   string // MQTT 5 authentication method
	want     auth.Identity
	class    error  // nil for success
	msg      string // substring of the error
}

func tokenCases() []tokenCase {
	okFor := func(did, kid, jti string) auth.Identity {
		return auth.Identity{Tenant: "t-alpha", Device: did, CredentialID: kid, TokenID: jti, ExpiresAt: now.Add(time.Hour)}
	}
	bad, denied := auth.ErrBadCredentials, auth.ErrNotAuthorized
	cases := []tokenCase{}
	for _, alg := range []tenant.Algorithm{tenant.ES256, tenant.EdDSA, tenant.RS256} {
		suffix := map[tenant.Algorithm]string{tenant.ES256: "es", tenant.EdDSA: "ed", tenant.RS256: "rs"}[alg]
		pk, dk, ik := "pk_"+suffix, "dk_"+suffix, "ik_"+suffix
		cases = append(cases,
			tokenCase{name: "platform " + string(alg),
				token: func(t testing.TB) string { return sign(t, alg, pk, claims("dev-1")) },
				want:  okFor("dev-1", pk, "jti-dev-1")},
			tokenCase{name: "device-signed " + string(alg),
				token: func(t testing.TB) string { return sign(t, alg, dk, claims("dev-1")) },
				want:  okFor("dev-1", dk, "jti-dev-1")},
			tokenCase{name: "device-signed without sub " + string(alg),
				token: func(t testing.TB) string {
					return sign(t, alg, dk, with(claims(""), func(c *jwtauth.Claims) { c.ID = "" }))
				},
				want: okFor("dev-1", dk, "")},
			tokenCase{name: "issuer " + string(alg),
				token: func(t testing.TB) string { return sign(t, alg, ik, claims("dev-2")) },
				want:  okFor("dev-2", ik, "jti-dev-2")},
		)
	}
	cases = append(cases, []tokenCase{
		{name: "username equal to sub", username: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-1")) },
			want:  okFor("dev-1", "pk_es", "jti-dev-1")},
		{name: "client id with a connection suffix", clientID: "dev-1:backup",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-1")) },
			want:  okFor("dev-1", "pk_es", "jti-dev-1")},
		{name: "several audiences",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.Audience = []string{"other", "flockmq"} }))
			},
			want: okFor("dev-1", "pk_es", "jti-dev-1")},
		{name: "expired within the leeway",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.ExpiresAt = now.Add(-10 * time.Second) }))
			},
			want: auth.Identity{Tenant: "t-alpha", Device: "dev-1", CredentialID: "pk_es", TokenID: "jti-dev-1", ExpiresAt: now.Add(-10 * time.Second)}},
		{name: "token of a revoked device issued after the revocation",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-rev")) },
			want:  okFor("dev-rev", "pk_es", "jti-dev-rev")},
		{name: "MQTT 5 enhanced authentication", method: jwtauth.AuthMethod,
			token: func(t testing.TB) string { return sign(t, tenant.EdDSA, "pk_ed", claims("dev-1")) },
			want:  okFor("dev-1", "pk_ed", "jti-dev-1")},

		// Algorithms.
		{name: "alg none", class: bad, msg: "signing algorithm none is not allowed", clientID: "dev-1",
			token: func(t testing.TB) string {
				return rawToken(t, `{"alg":"none","typ":"JWT","kid":"pk_es"}`, registered(claims("dev-1")), nil)
			}},
		{name: "HS256 signed with the public key PEM (algorithm confusion)", class: bad, msg: "signing algorithm HS256 is not allowed", clientID: "dev-1",
			token: func(t testing.TB) string { return hmacToken(t, []byte(pemOf(t, keysForTest(t).es))) }},
		{name: "HS256 signed with the public key DER (algorithm confusion)", class: bad, msg: "signing algorithm HS256 is not allowed", clientID: "dev-1",
			token: func(t testing.TB) string {
				der, err := x509.MarshalPKIXPublicKey(keysForTest(t).es.Public())
				if err != nil {
					t.Fatal(err)
				}
				return hmacToken(t, der)
			}},
		{name: "RS256 token against an ES256 key", class: bad, msg: "token signed with RS256 but key pk_es verifies ES256 only", clientID: "dev-1",
			token: func(t testing.TB) string {
				tk := jwt.NewWithClaims(jwt.SigningMethodRS256, registered(claims("dev-1")))
				tk.Header["kid"] = "pk_es"
				s, err := tk.SignedString(keysForTest(t).rs)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}},
		{name: "unknown algorithm", class: bad, msg: `unsupported signing algorithm "XX999"`, clientID: "dev-1",
			token: func(t testing.TB) string {
				return rawToken(t, `{"alg":"XX999","kid":"pk_es"}`, registered(claims("dev-1")), []byte("sig"))
			}},
		{name: "signature of another key", class: bad, msg: "invalid signature", clientID: "dev-1",
			token: func(t testing.TB) string {
				s, err := jwtauth.Sign(tenant.ES256, keysForTest(t).other, "pk_es", claims("dev-1"))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}},
		{name: "tampered claims", class: bad, msg: "invalid signature", clientID: "dev-2",
			token: func(t testing.TB) string {
				good := strings.Split(sign(t, tenant.ES256, "pk_es", claims("dev-1")), ".")
				evil := strings.Split(sign(t, tenant.ES256, "pk_es", claims("dev-2")), ".")
				return good[0] + "." + evil[1] + "." + good[2]
			}},

		// Time and audience claims.
		{name: "wrong aud", class: bad, msg: `token audience ["other"] does not include "flockmq"`, clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.Audience = []string{"other"} }))
			}},
		{name: "missing aud", class: bad, msg: `token has no aud claim (want "flockmq")`, clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.Audience = nil }))
			}},
		{name: "expired", class: bad, msg: "token expired at 2026-11-25T09:00:00Z", clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) {
					c.IssuedAt, c.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
				}))
			}},
		{name: "nbf in the future", class: bad, msg: "token not valid before 2026-11-25T10:05:00Z", clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.NotBefore = now.Add(5 * time.Minute) }))
			}},
		{name: "iat in the future", class: bad, msg: "token issued in the future, at 2026-11-25T10:05:00Z", clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.IssuedAt = now.Add(5 * time.Minute) }))
			}},
		{name: "no exp", class: bad, msg: "token has no exp claim", clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.ExpiresAt = time.Time{} }))
			}},

		// Keys.
		{name: "unknown kid", class: bad, msg: "unknown key id pk_nope", clientID: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_nope", claims("dev-1")) }},
		{name: "no kid", class: bad, msg: "token has no kid header", clientID: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "", claims("dev-1")) }},
		{name: "kid not a string", class: bad, msg: "kid header is empty or not a string", clientID: "dev-1",
			token: func(t testing.TB) string {
				return rawToken(t, `{"alg":"ES256","kid":7}`, registered(claims("dev-1")), make([]byte, 64))
			}},
		{name: "expired key", class: bad, msg: "key pk_old expired at 2026-11-25T09:59:00Z", clientID: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_old", claims("dev-1")) }},

		// Revocations and state.
		{name: "revoked jti", class: denied, msg: `token "jti-revoked" was revoked at 2026-11-25T09:00:00Z`, clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.ID = "jti-revoked" }))
			}},
		{name: "revoked key", class: denied, msg: "key pk_revoked was revoked at 2026-11-25T09:00:00Z", clientID: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_revoked", claims("dev-1")) }},
		{name: "revoked device", class: denied, msg: "device dev-rev of tenant t-alpha was revoked at 2026-11-25T09:00:00Z", clientID: "dev-rev",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "pk_es", with(claims("dev-rev"), func(c *jwtauth.Claims) { c.IssuedAt = now.Add(-2 * time.Hour) }))
			}},
		{name: "disabled device", class: denied, msg: "device dev-off of tenant t-alpha is disabled", clientID: "dev-off",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-off")) }},
		{name: "deleted device", class: denied, msg: "device dev-gone does not exist in tenant t-alpha", clientID: "dev-gone",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-gone")) }},
		{name: "device of another tenant", class: denied, msg: "device dev-b does not exist in tenant t-alpha", clientID: "dev-b",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-b")) }},
		{name: "disabled tenant", class: denied, msg: "tenant t-off is disabled", clientID: "dev-x",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_off", claims("dev-x")) }},

		// Subjects and the MQTT identity. [MQTT-3.1.4-2]
		{name: "no sub in a platform token", class: bad, msg: "token has no sub claim", clientID: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("")) }},
		{name: "sub not a device id", class: bad, msg: `token sub "a.b" is not a valid device id`, clientID: "a.b",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("a.b")) }},
		{name: "device-signed token naming another device", class: denied, msg: `token sub "dev-2" is not device dev-1 that key dk_es belongs to`, clientID: "dev-2",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "dk_es", claims("dev-2")) }},
		{name: "device-signed token living 25h", class: bad, msg: "device-signed token lives 25h0m0s, longer than the 24h0m0s allowed", clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "dk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.ExpiresAt = c.IssuedAt.Add(25 * time.Hour) }))
			}},
		{name: "device-signed token without iat", class: bad, msg: "device-signed token has no iat claim", clientID: "dev-1",
			token: func(t testing.TB) string {
				return sign(t, tenant.ES256, "dk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.IssuedAt = time.Time{} }))
			}},
		{name: "username other than sub", class: denied, msg: `username "dev-2" does not match the token's device dev-1`, username: "dev-2", clientID: "dev-1",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-1")) }},
		{name: "client id of another device", class: denied, msg: `client id "dev-10" is neither device id dev-1 nor starts with "dev-1:"`, clientID: "dev-10",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-1")) }},

		// Shapes of the password.
		{name: "garbage password", class: bad, msg: "malformed token", clientID: "dev-1",
			token: func(testing.TB) string { return "hello" }},
		{name: "three garbage segments", class: bad, msg: "malformed token: could not base64 decode header", clientID: "dev-1",
			token: func(testing.TB) string { return "a!.b.c" }},
		{name: "empty password", class: bad, msg: "no token: send the JWT as the password", clientID: "dev-1",
			token: func(testing.TB) string { return "" }},
		{name: "empty authentication data", class: bad, msg: "no token in the FLOCK-JWT authentication data", clientID: "dev-1", method: jwtauth.AuthMethod,
			token: func(testing.TB) string { return "" }},
		{name: "oversized token", class: bad, msg: "token of 9000 bytes is longer than the 8192 allowed", clientID: "dev-1",
			token: func(testing.TB) string { return strings.Repeat("a", 9000) }},
		{name: "unsupported authentication method", class: auth.ErrBadMethod, msg: `authentication method "SCRAM-SHA-256" is not supported`, clientID: "dev-1", method: "SCRAM-SHA-256",
			token: func(t testing.TB) string { return sign(t, tenant.ES256, "pk_es", claims("dev-1")) }},
	}...)
	return cases
}

func newVerifier(t testing.TB, src jwtauth.KeySource, cfg jwtauth.Config) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.New(cfg, jwtauth.Deps{Keys: src, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func request(tc tokenCase, token string) auth.Request {
	cid := tc.clientID
	if cid == "" {
		cid = tc.want.Device
	}
	req := auth.Request{ClientID: cid, Username: tc.username, AuthMethod: tc.method}
	if tc.method != "" {
		req.AuthData = []byte(token)
	} else {
		req.Password = []byte(token)
	}
	return req
}

// TestAuthenticate runs the token table against every KeySource, with the
// token cache on and off, presenting each token twice so cached tokens are
// checked as strictly as fresh ones.
func TestAuthenticate(t *testing.T) {
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			ks := src.new(t, fixture(t))
			for _, cache := range []int{0, -1} {
				v := newVerifier(t, ks, jwtauth.Config{CacheSize: cache})
				for _, tc := range tokenCases() {
					token := tc.token(t)
					for round := range 2 {
						id, err := v.Authenticate(context.Background(), request(tc, token))
						checkResult(t, tc, token, id, err, cache, round)
					}
				}
			}
		})
	}
}

func checkResult(t *testing.T, tc tokenCase, token string, id auth.Identity, err error, cache, round int) {
	t.Helper()
	where := tc.name
	if cache < 0 {
		where += " (no cache)"
	}
	if round > 0 {
		where += " (again)"
	}
	if tc.class == nil {
		if err != nil {
			t.Errorf("%s: Authenticate() error = %v, want success", where, err)
			return
		}
		if !sameIdentity(id, tc.want) {
			t.Errorf("%s: Authenticate() = %+v, want %+v", where, id, tc.want)
		}
		return
	}
	if err == nil {
		t.Errorf("%s: Authenticate() = %+v, want an error wrapping %v", where, id, tc.class)
		return
	}
	if !errors.Is(err, tc.class) {
		t.Errorf("%s: Authenticate() error = %v, want one wrapping %v", where, err, tc.class)
	}
	if !strings.Contains(err.Error(), tc.msg) {
		t.Errorf("%s: Authenticate() error = %q, want it to contain %q", where, err, tc.msg)
	}
	if len(token) > 16 && strings.Contains(err.Error(), token[len(token)-16:]) {
		t.Errorf("%s: Authenticate() error %q quotes the token", where, err)
	}
}

func sameIdentity(a, b auth.Identity) bool {
	ea, eb := a.ExpiresAt, b.ExpiresAt
	a.ExpiresAt, b.ExpiresAt = time.Time{}, time.Time{}
	return a == b && ea.Equal(eb)
}

// TestKidlessDeviceToken checks that a device-signed token without kid is
// verified by the device's registered keys when Config.KidlessDeviceTokens
// is on and the source can list them (keycache can; the plain source
// cannot).
func TestKidlessDeviceToken(t *testing.T) {
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			ks := src.new(t, fixture(t))
			_, finder := ks.(jwtauth.DeviceKeyFinder)
			v := newVerifier(t, ks, jwtauth.Config{KidlessDeviceTokens: true})
			off := newVerifier(t, ks, jwtauth.Config{})
			for _, alg := range []tenant.Algorithm{tenant.ES256, tenant.EdDSA, tenant.RS256} {
				token := sign(t, alg, "", claims("dev-1"))
				for _, req := range []auth.Request{
					{Username: "dev-1", ClientID: "dev-1", Password: []byte(token)},
					{ClientID: "dev-1:aux", Password: []byte(token)},
				} {
					if _, err := off.Authenticate(context.Background(), req); !errors.Is(err, auth.ErrBadCredentials) || !strings.Contains(err.Error(), "token has no kid header") {
						t.Errorf("%s: kidless tokens off: Authenticate(%+v) error = %v, want a missing kid error", alg, req, err)
					}
					id, err := v.Authenticate(context.Background(), req)
					if !finder {
						if !errors.Is(err, auth.ErrBadCredentials) || !strings.Contains(err.Error(), "token has no kid header") {
							t.Errorf("%s: Authenticate(%+v) = %+v, %v; want a missing kid error", alg, req, id, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: Authenticate(%+v): %v", alg, req, err)
					}
					if id.Tenant != "t-alpha" || id.Device != "dev-1" || !strings.HasPrefix(id.CredentialID, "dk_") {
						t.Errorf("%s: Authenticate(%+v) = %+v, want device dev-1 of t-alpha by a dk_ key", alg, req, id)
					}
				}
				// A platform-key signature is not a device key's.
				other, err := jwtauth.Sign(tenant.ES256, keysForTest(t).other, "", claims("dev-1"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = v.Authenticate(context.Background(), auth.Request{ClientID: "dev-1", Password: []byte(other)})
				if !errors.Is(err, auth.ErrBadCredentials) {
					t.Errorf("kidless token of an unregistered key: err = %v, want bad credentials", err)
				}
			}
		})
	}
}

// TestEmptyClientID checks the opt-in for zero-length client ids
// [MQTT-3.1.3-6].
func TestEmptyClientID(t *testing.T) {
	ks := newMemSource(t, fixture(t))
	token := sign(t, tenant.ES256, "pk_es", claims("dev-1"))
	req := auth.Request{Password: []byte(token)}
	if _, err := newVerifier(t, ks, jwtauth.Config{}).Authenticate(context.Background(), req); !errors.Is(err, auth.ErrNotAuthorized) {
		t.Errorf("empty client id by default: err = %v, want not authorized", err)
	}
	id, err := newVerifier(t, ks, jwtauth.Config{AllowEmptyClientID: true}).Authenticate(context.Background(), req)
	if err != nil || id.Device != "dev-1" {
		t.Errorf("empty client id allowed: Authenticate() = %+v, %v; want device dev-1", id, err)
	}
}

// TestConfig covers defaults and validation.
func TestConfig(t *testing.T) {
	ks := newMemSource(t, fixture(t))
	if _, err := jwtauth.New(jwtauth.Config{}, jwtauth.Deps{}); err == nil {
		t.Error("New without a KeySource succeeded")
	}
	if _, err := jwtauth.New(jwtauth.Config{MaxDeviceTokenLifetime: -1}, jwtauth.Deps{Keys: ks}); err == nil {
		t.Error("New with a negative lifetime succeeded")
	}
	// A custom audience replaces "flockmq".
	v := newVerifier(t, ks, jwtauth.Config{Audience: "acme"})
	token := sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.Audience = []string{"acme"} }))
	if _, err := v.Authenticate(context.Background(), auth.Request{ClientID: "dev-1", Password: []byte(token)}); err != nil {
		t.Errorf("audience acme: %v", err)
	}
	// No leeway: a token expired a second ago is refused.
	v = newVerifier(t, ks, jwtauth.Config{Leeway: -1})
	token = sign(t, tenant.ES256, "pk_es", with(claims("dev-1"), func(c *jwtauth.Claims) { c.ExpiresAt = now.Add(-time.Second) }))
	if _, err := v.Authenticate(context.Background(), auth.Request{ClientID: "dev-1", Password: []byte(token)}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("expired without leeway: err = %v, want bad credentials", err)
	}
}

// TestCachedTokenRechecked shows a cached token is refused once the clock
// passes its exp or a revocation lands, without a new signature check.
func TestCachedTokenRechecked(t *testing.T) {
	ks := newMemSource(t, fixture(t))
	at := now
	v, err := jwtauth.New(jwtauth.Config{}, jwtauth.Deps{Keys: ks, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	token := sign(t, tenant.ES256, "pk_es", claims("dev-1"))
	req := auth.Request{ClientID: "dev-1", Password: []byte(token)}
	if _, err := v.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got, want := v.Stats(), (jwtauth.Stats{SignatureChecks: 1, CacheHits: 1}); got != want {
		t.Errorf("Stats() after presenting a token twice = %+v, want %+v", got, want)
	}
	ks.revocations[[3]string{"t-alpha", "token", "jti-dev-1"}] = tenant.Revocation{TenantID: "t-alpha", Kind: tenant.RevokeToken, ID: "jti-dev-1", RevokedAt: now}
	if _, err := v.Authenticate(context.Background(), req); !errors.Is(err, auth.ErrNotAuthorized) {
		t.Errorf("cached token after its revocation: err = %v, want not authorized", err)
	}
	delete(ks.revocations, [3]string{"t-alpha", "token", "jti-dev-1"})
	at = now.Add(2 * time.Hour)
	if _, err := v.Authenticate(context.Background(), req); !errors.Is(err, auth.ErrBadCredentials) || !strings.Contains(err.Error(), "token expired at 2026-11-25T11:00:00Z") {
		t.Errorf("cached token after exp: err = %v, want expired", err)
	}
	// A key replaced under the same id is noticed: the old signature no
	// longer verifies.
	at = now
	rec := ks.keys["pk_es"].Key
	rec.PublicKeyPEM = pemOf(t, keysForTest(t).other)
	nk, err := jwtauth.NewKey(rec)
	if err != nil {
		t.Fatal(err)
	}
	ks.keys["pk_es"] = nk
	if _, err := v.Authenticate(context.Background(), req); !errors.Is(err, auth.ErrBadCredentials) || !strings.Contains(err.Error(), "invalid signature") {
		t.Errorf("cached token after its key was replaced: err = %v, want invalid signature", err)
	}
}

// TestReauthenticate: a fresh token for the same device extends the
// session; a token for another device, or another method, is refused.
// [MQTT-4.12.1-1]
func TestReauthenticate(t *testing.T) {
	ks := newMemSource(t, fixture(t))
	v := newVerifier(t, ks, jwtauth.Config{})
	current, err := v.Authenticate(context.Background(), auth.Request{ClientID: "dev-1", AuthMethod: jwtauth.AuthMethod,
		AuthData: []byte(sign(t, tenant.ES256, "pk_es", claims("dev-1")))})
	if err != nil {
		t.Fatal(err)
	}
	later := with(claims("dev-1"), func(c *jwtauth.Claims) { c.ExpiresAt = now.Add(3 * time.Hour) })
	id, err := v.Reauthenticate(context.Background(), current, auth.Request{ClientID: "dev-1", AuthMethod: jwtauth.AuthMethod,
		AuthData: []byte(sign(t, tenant.EdDSA, "ik_ed", later))})
	if err != nil || !id.ExpiresAt.Equal(now.Add(3*time.Hour)) || id.CredentialID != "ik_ed" {
		t.Errorf("Reauthenticate(fresh token) = %+v, %v; want expiry %s by ik_ed", id, err, now.Add(3*time.Hour))
	}
	_, err = v.Reauthenticate(context.Background(), current, auth.Request{ClientID: "dev-2", AuthMethod: jwtauth.AuthMethod,
		AuthData: []byte(sign(t, tenant.ES256, "pk_es", claims("dev-2")))})
	if !errors.Is(err, auth.ErrNotAuthorized) || !strings.Contains(err.Error(), "token is for device dev-2 of tenant t-alpha, but the session is device dev-1") {
		t.Errorf("Reauthenticate(other device) error = %v, want not authorized", err)
	}
	_, err = v.Reauthenticate(context.Background(), current, auth.Request{ClientID: "dev-1",
		Password: []byte(sign(t, tenant.ES256, "pk_es", claims("dev-1")))})
	if !errors.Is(err, auth.ErrBadMethod) {
		t.Errorf("Reauthenticate(no method) error = %v, want bad method", err)
	}
}

// TestPlainTokensTakeTheFastPath checks that a token as the control plane
// and devices sign them is verified by the compact decoder (compact.go),
// which allocates a handful of times, not by golang-jwt's decoding, which
// allocates some fifty; and that a token the decoder leaves to golang-jwt
// (an escaped string) is verified all the same.
func TestPlainTokensTakeTheFastPath(t *testing.T) {
	v := newVerifier(t, newMemSource(t, fixture(t)), jwtauth.Config{CacheSize: -1})
	req := auth.Request{ClientID: "dev-1", Password: []byte(sign(t, tenant.EdDSA, "pk_ed", claims("dev-1")))}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := v.Authenticate(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 10 {
		t.Errorf("Authenticate of a plain EdDSA token allocates %v times, want at most 10 (the compact decoder)", allocs)
	}
	escaped := rawToken(t, `{"alg":"ES256","kid":"pk_\u0065s"}`, registered(claims("dev-1")), nil)
	// rawToken cannot sign; sign the escaped header's token by hand.
	i := strings.LastIndexByte(escaped, '.')
	sig, err := jwt.SigningMethodES256.Sign(escaped[:i], keysForTest(t).of(tenant.ES256))
	if err != nil {
		t.Fatal(err)
	}
	tok := escaped[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	if id, err := v.Authenticate(context.Background(), auth.Request{ClientID: "dev-1", Password: []byte(tok)}); err != nil || id.CredentialID != "pk_es" {
		t.Errorf("Authenticate(token with an escaped kid) = %+v, %v; want dev-1 by pk_es through golang-jwt", id, err)
	}
}
