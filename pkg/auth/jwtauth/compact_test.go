package jwtauth

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// compactOf builds a token of the given header and claims JSON and a
// signature of sig.
func compactOf(header, claims, sig string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString([]byte(sig))
}

// compactSeeds are tokens the fast path takes and tokens it leaves to
// golang-jwt, each for a stated reason.
var compactSeeds = []struct {
	name          string
	header, claim string
	fast          bool
}{
	{"plain", `{"alg":"EdDSA","kid":"ik_1","typ":"JWT"}`, `{"sub":"dev-1","aud":["flockmq"],"exp":1800000000,"iat":1700000000,"jti":"x"}`, true},
	{"aud as a string, spaces", ` { "alg" : "ES256" , "kid":"pk_es" } `, "{\"aud\" :\t\"flockmq\",\n\"exp\":1800000000 , \"nbf\":-5}", true},
	{"other scalar members", `{"alg":"RS256","kid":"pk","x5t":null,"n":1.5e3,"b":true}`, `{"exp":0,"iss":"me","custom":"ü","f":false,"z":-0}`, true},
	{"empty aud array", `{"alg":"EdDSA","kid":"k"}`, `{"aud":[],"exp":1}`, true},
	{"no exp", `{"alg":"EdDSA","kid":"k"}`, `{"sub":"d"}`, false},
	{"fractional exp", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1800000000.5}`, false},
	{"exp with an exponent", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1.8e9}`, false},
	{"exp as a string", `{"alg":"EdDSA","kid":"k"}`, `{"exp":"1800000000"}`, false},
	{"exp of 16 digits", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1000000000000000}`, false},
	{"exp with a leading zero", `{"alg":"EdDSA","kid":"k"}`, `{"exp":01}`, false},
	{"repeated exp", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"exp":2}`, false},
	{"repeated unknown member", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"a":1,"a":2}`, false},
	{"claim name in another case", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"SUB":"other"}`, false},
	{"escaped string", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"sub":"d\u0065v"}`, false},
	{"non-ASCII key", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"ſub":"x"}`, false},
	{"nested object", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"cnf":{"jwk":1}}`, false},
	{"array outside aud", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"roles":["a"]}`, false},
	{"aud of a number", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"aud":[1]}`, false},
	{"sub null", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1,"sub":null}`, false},
	{"alg not a string", `{"alg":1,"kid":"k"}`, `{"exp":1}`, false},
	{"no alg", `{"kid":"k"}`, `{"exp":1}`, false},
	{"repeated alg", `{"alg":"none","alg":"EdDSA","kid":"k"}`, `{"exp":1}`, false},
	{"kid not a string", `{"alg":"EdDSA","kid":7}`, `{"exp":1}`, false},
	{"trailing data", `{"alg":"EdDSA","kid":"k"}`, `{"exp":1}x`, false},
	{"not an object", `["alg"]`, `{"exp":1}`, false},
	{"invalid UTF-8", `{"alg":"EdDSA","kid":"k"}`, "{\"exp\":1,\"sub\":\"\xff\"}", false},
}

func TestDecodeCompact(t *testing.T) {
	for _, tc := range compactSeeds {
		tok := compactOf(tc.header, tc.claim, "sig")
		var ct compactToken
		if got := decodeCompact([]byte(tok), &ct); got != tc.fast {
			t.Errorf("%s: decodeCompact(%s . %s) = %v, want %v", tc.name, tc.header, tc.claim, got, tc.fast)
		}
	}
	for _, tok := range []string{"", "a.b", "a.b.c.d", "e30.e30.", "!!!.e30.e30", compactOf(`{"alg":"EdDSA"}`, `{"exp":1}`, "") + "="} {
		var ct compactToken
		if decodeCompact([]byte(tok), &ct) {
			t.Errorf("decodeCompact(%q) = true, want false", tok)
		}
	}
	var ct compactToken
	tok := compactOf(`{"alg":"EdDSA","kid":"ik_1"}`, `{"sub":"dev-1","aud":["a","flockmq"],"exp":1800000000,"nbf":5,"iat":1700000000,"jti":"j-1"}`, "0123456789")
	if !decodeCompact([]byte(tok), &ct) {
		t.Fatalf("decodeCompact(%q) = false, want true", tok)
	}
	got := fmt.Sprintf("alg=%s kid=%s sub=%s jti=%s aud=%q exp=%d nbf=%d/%v iat=%d/%v sig=%s signing=%d",
		ct.bytes(ct.alg), ct.bytes(ct.kid), ct.bytes(ct.sub), ct.bytes(ct.jti), ct.audience(),
		ct.exp, ct.nbf, ct.nbfSet, ct.iat, ct.iatSet, ct.bytes(ct.sig), ct.signing)
	want := fmt.Sprintf(`alg=EdDSA kid=ik_1 sub=dev-1 jti=j-1 aud=["a" "flockmq"] exp=1800000000 nbf=5/true iat=1700000000/true sig=0123456789 signing=%d`,
		strings.LastIndexByte(tok, '.'))
	if got != want {
		t.Errorf("decodeCompact:\n got %s\nwant %s", got, want)
	}
	if !ct.hasAudience("flockmq") || ct.hasAudience("other") {
		t.Errorf("hasAudience of %q: want flockmq only", ct.audience())
	}
}

// TestDecodeCompactAllocs checks the point of the fast path: decoding a
// device's token allocates nothing.
func TestDecodeCompactAllocs(t *testing.T) {
	tok := []byte(compactOf(compactSeeds[0].header, compactSeeds[0].claim, string(make([]byte, 64))))
	allocs := testing.AllocsPerRun(100, func() {
		var ct compactToken
		if !decodeCompact(tok, &ct) {
			t.Fatal("decodeCompact = false")
		}
	})
	if allocs != 0 {
		t.Errorf("decodeCompact allocates %v times per token, want 0", allocs)
	}
}

// FuzzDecodeCompact checks the fast path against golang-jwt: whatever it
// accepts, golang-jwt's strict parser decodes too, to the same header and
// registered claims, so the fast path accepts no token the verifier would
// otherwise refuse, and reads none differently. The fuzzer varies the
// header and claims JSON (encoded into a token), or, with raw, the token
// itself.
func FuzzDecodeCompact(f *testing.F) {
	for _, tc := range compactSeeds {
		f.Add(tc.header, tc.claim, false)
	}
	f.Add("e30.e30.", "", true)
	p := jwt.NewParser(jwt.WithStrictDecoding())
	f.Fuzz(func(t *testing.T, header, claims string, raw bool) {
		tok := header
		if !raw {
			tok = compactOf(header, claims, "sig")
		}
		var ct compactToken
		if !decodeCompact([]byte(tok), &ct) {
			return
		}
		var rc jwt.RegisteredClaims
		jt, _, err := p.ParseUnverified(tok, &rc)
		if err != nil {
			// golang-jwt refuses an unknown alg after decoding; the
			// verifier's fast path then finds no method either.
			if jt == nil || jt.Method != nil || jwt.GetSigningMethod(string(ct.bytes(ct.alg))) != nil {
				t.Fatalf("decodeCompact accepted %q, golang-jwt: %v", tok, err)
			}
			return
		}
		if alg, _ := jt.Header["alg"].(string); alg != string(ct.bytes(ct.alg)) {
			t.Errorf("alg = %q, golang-jwt %q", ct.bytes(ct.alg), alg)
		}
		kid, isString := jt.Header["kid"].(string)
		_, present := jt.Header["kid"]
		if present != ct.kidSet || present && (!isString || kid != string(ct.bytes(ct.kid))) {
			t.Errorf("kid = %q (set %v), golang-jwt %v", ct.bytes(ct.kid), ct.kidSet, jt.Header["kid"])
		}
		if string(jt.Signature) != string(ct.bytes(ct.sig)) {
			t.Errorf("signature differs")
		}
		if i := strings.LastIndexByte(tok, '.'); ct.signing != i {
			t.Errorf("signing input of %d bytes, want %d", ct.signing, i)
		}
		iss, sub, jti, aud := string(ct.bytes(ct.iss)), string(ct.bytes(ct.sub)), string(ct.bytes(ct.jti)), ct.audience()
		if rc.Issuer != iss || rc.Subject != sub || rc.ID != jti || !slices.Equal([]string(rc.Audience), aud) {
			t.Errorf("iss, sub, jti, aud = %q %q %q %q, golang-jwt %q %q %q %q", iss, sub, jti, aud, rc.Issuer, rc.Subject, rc.ID, rc.Audience)
		}
		sameDate := func(name string, d *jwt.NumericDate, set bool, n int64) {
			if (d != nil) != set || d != nil && !d.Time.Equal(date(n)) {
				t.Errorf("%s = %d (set %v), golang-jwt %v", name, n, set, d)
			}
		}
		sameDate("exp", rc.ExpiresAt, true, ct.exp)
		sameDate("nbf", rc.NotBefore, ct.nbfSet, ct.nbf)
		sameDate("iat", rc.IssuedAt, ct.iatSet, ct.iat)
		if !date(ct.exp).Equal(time.Unix(ct.exp, 0)) {
			t.Errorf("date(%d) is not the second it names", ct.exp)
		}
	})
}

// audience returns the token's aud as strings.
func (t *compactToken) audience() []string {
	var aud []string
	for _, a := range t.aud[:t.nAud] {
		aud = append(aud, string(t.bytes(a)))
	}
	return aud
}
