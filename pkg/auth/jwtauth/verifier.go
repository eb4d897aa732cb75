package jwtauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// AuthMethod is the MQTT 5 Authentication Method under which a client sends
// its JWT as the Authentication Data, at CONNECT or in a re-authentication
// AUTH packet.
const AuthMethod = "FLOCK-JWT"

// MaxTokenBytes bounds the size of a token; longer credentials are refused
// before any parsing.
const MaxTokenBytes = 8 << 10

// Defaults of Config's zero fields.
const (
	DefaultAudience               = "flockmq"
	DefaultLeeway                 = 30 * time.Second
	DefaultMaxDeviceTokenLifetime = 24 * time.Hour
	DefaultCacheSize              = 100_000
)

// Config configures a Verifier. The zero value means the documented
// defaults.
type Config struct {
	// Audience must be among a token's aud values; "" means "flockmq".
	Audience string `json:"audience"`
	// Leeway is the clock skew tolerated on exp, nbf and iat; 0 means 30s,
	// a negative value none.
	Leeway time.Duration `json:"leeway"`
	// MaxDeviceTokenLifetime bounds exp - iat of device-signed tokens;
	// 0 means 24h.
	MaxDeviceTokenLifetime time.Duration `json:"max_device_token_lifetime"`
	// CacheSize is about how many verified tokens are remembered so that
	// presenting one again skips the signature check; 0 means 100000, a
	// negative value disables the cache.
	CacheSize int `json:"cache_size"`
	// AllowEmptyClientID accepts a CONNECT with a zero-length client id;
	// the gateway must then assign the identity's device id as the client
	// id [MQTT-3.1.3-6]. Off by default: the client id must name the device.
	AllowEmptyClientID bool `json:"allow_empty_client_id"`
	// KidlessDeviceTokens accepts device-signed tokens without a kid
	// header (Cloud IoT Core clients send none) when the KeySource is a
	// DeviceKeyFinder: the keys registered for the device id in the
	// username, or else the client id, are tried, at most four. Device ids
	// are unique only within a tenant, so when several tenants register
	// keys for the same device id the right key may not be among those
	// tried, and such devices must send a kid. Off by default.
	KidlessDeviceTokens bool `json:"kidless_device_tokens"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.MaxDeviceTokenLifetime < 0 {
		return errors.New("jwtauth: max_device_token_lifetime must not be negative")
	}
	if strings.TrimSpace(c.Audience) != c.Audience {
		return fmt.Errorf("jwtauth: audience %q has surrounding spaces", c.Audience)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.MaxDeviceTokenLifetime == 0 {
		c.MaxDeviceTokenLifetime = DefaultMaxDeviceTokenLifetime
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	return c
}

// Deps are what a Verifier needs from its host.
type Deps struct {
	// Keys is the in-memory tenancy configuration; required.
	Keys KeySource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier authenticates MQTT clients by JWT against a KeySource. It is
// safe for concurrent use; it makes no network call.
type Verifier struct {
	cfg    Config
	keys   KeySource
	finder DeviceKeyFinder // nil unless kidless device tokens are on and keys can list device keys
	now    func() time.Time
	parser *jwt.Parser
	cache  *tokenCache // nil when disabled
	checks atomic.Uint64
	hits   atomic.Uint64
}

// Stats counts a Verifier's work since New, for metrics.
type Stats struct {
	SignatureChecks uint64 // tokens whose signature was checked
	CacheHits       uint64 // tokens found already verified, skipping the check
}

// Stats returns the counters.
func (v *Verifier) Stats() Stats {
	return Stats{SignatureChecks: v.checks.Load(), CacheHits: v.hits.Load()}
}

var _ auth.Authenticator = (*Verifier)(nil)

// New returns a Verifier.
func New(cfg Config, deps Deps) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Keys == nil {
		return nil, errors.New("jwtauth: no KeySource")
	}
	cfg = cfg.withDefaults()
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	v := &Verifier{
		cfg:   cfg,
		keys:  deps.Keys,
		now:   now,
		cache: newTokenCache(cfg.CacheSize),
		parser: jwt.NewParser(
			jwt.WithValidMethods(validMethods),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}
	if cfg.KidlessDeviceTokens {
		v.finder, _ = deps.Keys.(DeviceKeyFinder)
	}
	return v, nil
}

// authError is an authentication failure: Class is auth.ErrBadCredentials
// or auth.ErrNotAuthorized, reason says which check failed. It never holds
// the token.
type authError struct {
	class  error
	reason string
}

func (e *authError) Error() string { return "jwtauth: " + e.reason }
func (e *authError) Unwrap() error { return e.class }

func badf(format string, args ...any) error {
	return &authError{class: auth.ErrBadCredentials, reason: fmt.Sprintf(format, args...)}
}

func deniedf(format string, args ...any) error {
	return &authError{class: auth.ErrNotAuthorized, reason: fmt.Sprintf(format, args...)}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Authenticate implements auth.Authenticator. The token is the CONNECT
// password, or, when the client names AuthMethod ("FLOCK-JWT") as its MQTT 5
// Authentication Method, the Authentication Data (at CONNECT and in
// re-authentication, which must keep the method [MQTT-4.12.1-1]). Any other
// method is auth.ErrBadMethod [MQTT-4.12.0-1]. Failures wrap
// auth.ErrBadCredentials or auth.ErrNotAuthorized and name the check that
// failed [MQTT-3.1.4-2].
func (v *Verifier) Authenticate(_ context.Context, req auth.Request) (auth.Identity, error) {
	var token []byte
	switch req.AuthMethod {
	case "":
		token = req.Password
	case AuthMethod:
		token = req.AuthData
	default:
		return auth.Identity{}, fmt.Errorf("jwtauth: authentication method %q is not supported (use %s or send the token as the password): %w",
			req.AuthMethod, AuthMethod, auth.ErrBadMethod)
	}
	if len(token) == 0 {
		if req.AuthMethod == AuthMethod {
			return auth.Identity{}, badf("no token in the %s authentication data", AuthMethod)
		}
		return auth.Identity{}, badf("no token: send the JWT as the password")
	}
	return v.verify(token, req.Username, req.ClientID)
}

// Reauthenticate verifies the token of an MQTT 5 re-authentication (an
// AUTH packet with reason 0x19 carrying method FLOCK-JWT and a fresh token
// as its data) for a session authenticated as current. The new token must
// pass every check of Authenticate and name the same tenant and device;
// it may come from another key and carry a later expiry, which the
// returned identity reflects. req.AuthMethod must be AuthMethod: the
// method of a re-authentication is the one the session started with
// [MQTT-4.12.1-1], and a session that authenticated with a password has
// none to re-authenticate with.
func (v *Verifier) Reauthenticate(ctx context.Context, current auth.Identity, req auth.Request) (auth.Identity, error) {
	if req.AuthMethod != AuthMethod {
		return auth.Identity{}, fmt.Errorf("jwtauth: re-authentication must use method %s, not %q: %w", AuthMethod, clip(req.AuthMethod, 32), auth.ErrBadMethod)
	}
	id, err := v.Authenticate(ctx, req)
	if err != nil {
		return auth.Identity{}, err
	}
	if id.Tenant != current.Tenant || id.Device != current.Device {
		return auth.Identity{}, deniedf("re-authentication token is for device %s of tenant %s, but the session is device %s of tenant %s",
			id.Device, id.Tenant, current.Device, current.Tenant)
	}
	return id, nil
}

// verify checks a token presented with an MQTT username and client id.
func (v *Verifier) verify(token []byte, username, clientID string) (auth.Identity, error) {
	if len(token) > MaxTokenBytes {
		return auth.Identity{}, badf("token of %d bytes is longer than the %d allowed", len(token), MaxTokenBytes)
	}
	now := v.now()
	var h tokenHash
	if v.cache != nil {
		h = sha256.Sum256(token)
		if e, ok := v.cache.get(h); ok {
			if k, ok := v.keys.Key(e.key.ID); ok && k == e.key {
				v.hits.Add(1)
				return v.authorize(e, now, username, clientID)
			}
			// The key was replaced or removed since: verify afresh.
			v.cache.remove(h)
		}
	}
	e, err := v.verifyCompact(token, now)
	if e == nil && err == nil {
		e, err = v.verifySignature(string(token), username, clientID)
	}
	if err != nil {
		return auth.Identity{}, err
	}
	if v.cache != nil {
		// Cached even if authorize refuses it: a refused device retrying
		// in a loop then costs no signature check either.
		v.cache.put(h, e)
	}
	return v.authorize(e, now, username, clientID)
}

// verifyCompact is the fast path of verifySignature (compact.go): for a
// plain token with a kid whose claims pass the time and audience checks, it
// checks the signature and returns the verified token, or the error of a
// bad signature. For any other token it returns nil and no error, having
// checked no signature, and verifySignature does the work and names the
// failure. Either way a signature is checked at most once.
func (v *Verifier) verifyCompact(token []byte, now time.Time) (*verified, error) {
	var t compactToken
	if !decodeCompact(token, &t) || !t.kidSet {
		return nil, nil
	}
	alg := ""
	for _, m := range validMethods {
		if string(t.bytes(t.alg)) == m {
			alg = m
		}
	}
	if alg == "" {
		return nil, nil
	}
	kid := string(t.bytes(t.kid))
	if !tenant.ValidKeyID(kid) {
		return nil, nil
	}
	k, ok := v.keys.Key(kid)
	if !ok || string(k.Algorithm) != alg {
		return nil, nil
	}
	// golang-jwt's claim checks, as configured in New: aud required and
	// naming ours, exp required, nbf and iat checked when present, all
	// with the leeway.
	lw := v.cfg.Leeway
	if !t.hasAudience(v.cfg.Audience) || !now.Before(date(t.exp).Add(lw)) ||
		t.nbfSet && now.Before(date(t.nbf).Add(-lw)) || t.iatSet && now.Before(date(t.iat).Add(-lw)) {
		return nil, nil
	}
	v.checks.Add(1)
	if !checkSignature(alg, token[:t.signing], t.bytes(t.sig), k.Public) {
		return nil, badf("invalid signature")
	}
	e := &verified{key: k, sub: string(t.bytes(t.sub)), jti: string(t.bytes(t.jti)), exp: date(t.exp)}
	if t.nbfSet {
		e.nbf = date(t.nbf)
	}
	if t.iatSet {
		e.iat = date(t.iat)
	}
	return e, nil
}

// checkSignature reports whether sig is alg's signature of input by pub.
func checkSignature(alg string, input, sig []byte, pub crypto.PublicKey) bool {
	if ed, isEd := pub.(ed25519.PublicKey); isEd && alg == string(tenant.EdDSA) && len(ed) == ed25519.PublicKeySize {
		// What golang-jwt's EdDSA method does, without copying the
		// signing input into a string and back.
		return ed25519.Verify(ed, input, sig)
	}
	// The methods are called through an interface, which the compiler
	// assumes keeps sig: a copy lets the caller's token stay on its stack.
	m := jwt.GetSigningMethod(alg)
	return m != nil && m.Verify(string(input), bytes.Clone(sig), pub) == nil
}

// verifySignature parses the token, finds its key and checks the signature
// and the time and audience claims.
func (v *Verifier) verifySignature(token, username, clientID string) (*verified, error) {
	var (
		claims jwt.RegisteredClaims
		key    *Key
		keyErr error
	)
	keyFunc := func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			if _, present := t.Header["kid"]; present {
				keyErr = badf("the token's kid header is empty or not a string")
				return nil, keyErr
			}
			k, err := v.kidlessKey(t, username, clientID)
			if err != nil {
				keyErr = err
				return nil, err
			}
			key = k
			return k.Public, nil
		}
		if !tenant.ValidKeyID(kid) {
			keyErr = badf("invalid key id %q", clip(kid, tenant.MaxKeyIDLen))
			return nil, keyErr
		}
		k, ok := v.keys.Key(kid)
		if !ok {
			keyErr = badf("unknown key id %s", kid)
			return nil, keyErr
		}
		if string(k.Algorithm) != alg {
			keyErr = badf("token signed with %s but key %s verifies %s only", alg, kid, k.Algorithm)
			return nil, keyErr
		}
		key = k
		return k.Public, nil
	}
	v.checks.Add(1)
	t, err := v.parser.ParseWithClaims(token, &claims, keyFunc)
	if err != nil {
		return nil, v.explain(err, keyErr, t, &claims)
	}
	e := &verified{key: key, sub: claims.Subject, jti: claims.ID, exp: claims.ExpiresAt.Time}
	if claims.NotBefore != nil {
		e.nbf = claims.NotBefore.Time
	}
	if claims.IssuedAt != nil {
		e.iat = claims.IssuedAt.Time
	}
	return e, nil
}

// explain turns a parse error into an error naming the failed check.
func (v *Verifier) explain(err, keyErr error, t *jwt.Token, c *jwt.RegisteredClaims) error {
	switch {
	case keyErr != nil:
		return keyErr
	case errors.Is(err, jwt.ErrTokenMalformed):
		return badf("malformed token: %s", scrub(err))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil && !slices.Contains(validMethods, t.Method.Alg()) {
			return badf("signing algorithm %s is not allowed (ES256, EdDSA and RS256 are)", t.Method.Alg())
		}
		return badf("invalid signature")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		if t != nil && t.Method == nil {
			alg, _ := t.Header["alg"].(string)
			return badf("unsupported signing algorithm %q (ES256, EdDSA and RS256 are allowed)", clip(alg, 16))
		}
		return badf("token cannot be verified")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt == nil:
		return badf("token has no exp claim")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(c.Audience) == 0:
		return badf("token has no aud claim (want %q)", v.cfg.Audience)
	case errors.Is(err, jwt.ErrTokenExpired):
		return badf("token expired at %s", stamp(c.ExpiresAt.Time))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return badf("token not valid before %s", stamp(c.NotBefore.Time))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return badf("token issued in the future, at %s", stamp(c.IssuedAt.Time))
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		if len(c.Audience) == 0 {
			return badf("token has no aud claim (want %q)", v.cfg.Audience)
		}
		var aud []string
		for i, a := range c.Audience {
			if i == 4 {
				aud = append(aud, "…")
				break
			}
			aud = append(aud, clip(a, 64))
		}
		return badf("token audience %q does not include %q", aud, v.cfg.Audience)
	default:
		return badf("invalid token: %s", scrub(err))
	}
}

// scrub returns golang-jwt's description of err. Its messages describe the
// failure ("could not base64 decode header") and never echo the token;
// they are cut short anyway so a surprise cannot flood a log line.
func scrub(err error) string {
	s := strings.TrimPrefix(err.Error(), "token is malformed: ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// maxKidlessKeys bounds how many keys a token without kid is tried
// against, so such tokens cannot cost more than a few signature checks.
const maxKidlessKeys = 4

// kidlessKey finds the key of a device-signed token that carries no kid:
// among the device keys registered for the device the MQTT username (or
// else the client id, up to its first ':') names, in any tenant, the first
// one of the token's algorithm whose signature checks out. Device ids are
// unique only within a tenant, so several tenants' keys may be tried; the
// tenant is then the matching key's, as always.
func (v *Verifier) kidlessKey(t *jwt.Token, username, clientID string) (*Key, error) {
	if v.finder == nil {
		return nil, badf("token has no kid header")
	}
	did := username
	if did == "" {
		did, _, _ = strings.Cut(clientID, ":")
	}
	if !tenant.ValidDeviceID(did) {
		return nil, badf("token has no kid header, and no device id in the username or client id to find its key by")
	}
	alg := t.Method.Alg()
	i := strings.LastIndexByte(t.Raw, '.')
	if i < 0 {
		return nil, badf("malformed token")
	}
	signing := t.Raw[:i]
	tried := 0
	for _, k := range v.finder.DeviceKeys(did) {
		if k.Kind != tenant.KeyDevice || k.DeviceID != did || string(k.Algorithm) != alg {
			continue
		}
		if tried == maxKidlessKeys {
			break
		}
		tried++
		if t.Method.Verify(signing, t.Signature, k.Public) == nil {
			return k, nil
		}
	}
	if tried == 0 {
		return nil, badf("token has no kid header and device %s has no %s key", did, alg)
	}
	return nil, badf("token has no kid header and no %s key of device %s verifies it", alg, did)
}

// clip shortens a client-supplied string for an error message, so that a
// hostile value cannot flood a log line; %q then escapes what remains.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// authorize applies the checks that do not need the signature: they run on
// every presentation, cached or not, because their inputs change (the
// clock, revocations, the device's and tenant's state).
func (v *Verifier) authorize(e *verified, now time.Time, username, clientID string) (auth.Identity, error) {
	k := e.key
	lw := v.cfg.Leeway
	if now.After(e.exp.Add(lw)) {
		return auth.Identity{}, badf("token expired at %s", stamp(e.exp))
	}
	if !e.nbf.IsZero() && now.Add(lw).Before(e.nbf) {
		return auth.Identity{}, badf("token not valid before %s", stamp(e.nbf))
	}
	if k.Expired(now) {
		return auth.Identity{}, badf("key %s expired at %s", k.ID, stamp(*k.NotAfter))
	}
	tid := k.TenantID
	tn, ok := v.keys.Tenant(tid)
	if !ok {
		return auth.Identity{}, deniedf("tenant %s of key %s does not exist", tid, k.ID)
	}
	if tn.Disabled {
		return auth.Identity{}, deniedf("tenant %s is disabled", tid)
	}

	var did string
	switch k.Kind {
	case tenant.KeyDevice:
		did = k.DeviceID
		if e.sub != "" && e.sub != did {
			return auth.Identity{}, deniedf("token sub %q is not device %s that key %s belongs to", clip(e.sub, tenant.MaxDeviceIDLen), did, k.ID)
		}
		if e.iat.IsZero() {
			return auth.Identity{}, badf("device-signed token has no iat claim")
		}
		if life := e.exp.Sub(e.iat); life > v.cfg.MaxDeviceTokenLifetime {
			return auth.Identity{}, badf("device-signed token lives %s, longer than the %s allowed", life, v.cfg.MaxDeviceTokenLifetime)
		}
	case tenant.KeyPlatform, tenant.KeyIssuer:
		if e.sub == "" {
			return auth.Identity{}, badf("token has no sub claim naming the device")
		}
		if !tenant.ValidDeviceID(e.sub) {
			return auth.Identity{}, badf("token sub %q is not a valid device id", clip(e.sub, tenant.MaxDeviceIDLen))
		}
		did = e.sub
	default:
		return auth.Identity{}, badf("key %s has unknown kind %q", k.ID, k.Kind)
	}

	// The device is looked up in the key's tenant: a token can never name
	// a device of another tenant.
	dev, ok := v.keys.Device(tid, did)
	if !ok {
		return auth.Identity{}, deniedf("device %s does not exist in tenant %s", did, tid)
	}
	if dev.Disabled {
		return auth.Identity{}, deniedf("device %s of tenant %s is disabled", did, tid)
	}
	if r, ok := v.keys.Revocation(tid, tenant.RevokeDevice, did); ok && r.Covers(e.iat, now) {
		return auth.Identity{}, deniedf("device %s of tenant %s was revoked at %s", did, tid, stamp(r.RevokedAt))
	}
	if r, ok := v.keys.Revocation(tid, tenant.RevokeKey, k.ID); ok && r.Covers(e.iat, now) {
		return auth.Identity{}, deniedf("key %s was revoked at %s", k.ID, stamp(r.RevokedAt))
	}
	if e.jti != "" {
		if r, ok := v.keys.Revocation(tid, tenant.RevokeToken, tenant.TokenRevocationID(e.jti)); ok && r.Covers(e.iat, now) {
			return auth.Identity{}, deniedf("token %q was revoked at %s", clip(e.jti, tenant.MaxTokenIDLen), stamp(r.RevokedAt))
		}
	}

	// The MQTT identity must be the token's device [MQTT-3.1.4-2].
	if username != "" && username != did {
		return auth.Identity{}, deniedf("username %q does not match the token's device %s", clip(username, tenant.MaxDeviceIDLen), did)
	}
	switch {
	case clientID == "" && v.cfg.AllowEmptyClientID: // [MQTT-3.1.3-6]: the gateway assigns the device id
	case !tenant.ClientIDBelongs(clientID, did):
		return auth.Identity{}, deniedf("client id %q is neither device id %s nor starts with %q", clip(clientID, 2*tenant.MaxDeviceIDLen), did, did+":")
	}

	exp := e.exp
	if k.NotAfter != nil && k.NotAfter.Before(exp) {
		exp = *k.NotAfter
	}
	return auth.Identity{Tenant: tid, Device: did, CredentialID: k.ID, TokenID: e.jti, ExpiresAt: exp.UTC()}, nil
}

var _ auth.Reauthenticator = (*Verifier)(nil)
