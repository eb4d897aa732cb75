// Package jwtauth authenticates MQTT clients by JSON Web Token, locally: a
// Verifier checks a token against public keys held in memory by a KeySource
// (keycache.Cache in a gateway), so a CONNECT costs one signature check and
// a few map look-ups, never a network call. It is the only package of the
// gateway path that imports golang-jwt.
//
// # Presenting a token
//
// A client sends the compact JWT as its CONNECT password, or, over MQTT 5,
// names the Authentication Method "FLOCK-JWT" (AuthMethod) and sends the
// token as the Authentication Data; the same method re-authenticates a live
// session with a fresh token in an AUTH packet (Verifier.Reauthenticate,
// which also holds the new token to the session's tenant and device). Any other method is
// auth.ErrBadMethod. The username is optional; when present it must equal
// the token's device id. The client id must equal the device id or begin
// with "<device id>:", so one device may hold several connections
// ("sensor-7", "sensor-7:diag").
//
// # Token shapes
//
// Every token names its key in the kid header; the key (tenant.Key, found by
// its globally unique id) decides the tenant, which never comes from a
// claim. Three kinds of keys verify three shapes of tokens:
//
//   - platform (pk_…): tokens the control plane issues; sub is the device id.
//   - issuer (ik_…): tokens the tenant signs with its own key (uploaded as
//     PEM or JWKS); sub is the device id.
//   - device (dk_…): tokens a device signs with its registered private key
//     (the Cloud IoT Core model); the device is the key's, a sub must name
//     it, iat is required and exp may be at most 24 hours after iat. With
//     Config.KidlessDeviceTokens on and a KeySource that is a
//     DeviceKeyFinder, such a token may omit kid: the keys of the device
//     named by the username (or the client id) are then tried.
//
// # Checks
//
// The algorithm must be ES256, EdDSA or RS256 (alg "none" and HMAC are
// refused before any key is looked up) and equal the key's declared
// algorithm, which NewKey binds to the key's type: this defeats algorithm
// confusion such as an HS256 token "signed" with a public key. exp is
// required; exp, nbf and iat are checked with Config.Leeway of clock skew;
// aud must contain Config.Audience ("flockmq"). The key must be within its
// NotAfter; the key's tenant must exist and be enabled; the device must
// exist in the key's tenant and be enabled; no revocation of the device,
// the key or the token's jti may cover the token.
//
// Failures wrap auth.ErrBadCredentials (the credential itself is missing,
// malformed, expired or unverifiable) or auth.ErrNotAuthorized (it is
// valid but may not connect as asked: revoked, disabled, another device).
// Their text names the failed check ("jwtauth: token expired at
// 2026-11-25T10:00:00Z", "jwtauth: unknown key id dk_123") and never
// contains the token.
//
// # Performance
//
// A Verifier remembers tokens whose signature it has verified, by SHA-256
// of the token, in a bounded cache (Config.CacheSize). A token presented
// again (a reconnect storm after an outage) skips the signature check but
// still goes through every other check, against the clock and the current
// configuration; a key replaced under the same id invalidates its entries.
// An entry costs about 240 bytes, so the default of at most 100000 entries
// at most about 24 MB (BenchmarkTokenCacheMemory).
//
// Tokens of the usual plain shape (a kid, distinct members, strings without
// escapes, integer dates) are decoded by a small decoder of their own
// (compact.go) that allocates nothing, rather than by golang-jwt's
// reflection and maps; every other token, and every refusal except a bad
// signature, goes through golang-jwt, which names the failed check. Both
// paths make the same checks and check a signature at most once. On the
// 2-core development machine a CONNECT whose EdDSA signature is checked
// costs about 37 µs of CPU, of which the signature is 35.5 µs (43 µs with
// golang-jwt's decoding), and under 1 µs from the cache
// (BenchmarkAuthenticate, BenchmarkSignature).
//
// Sign, ParsePublicKeyPEM, MarshalPublicKeyPEM, ParseJWK and ParseJWKS serve
// the control plane (issuing tokens, registering keys) and tests. A refused
// JWK names the member at fault (*JWKMemberError) and a refused JWKS the key
// (*JWKSKeyError), so the control plane can point a user at the field.
package jwtauth
