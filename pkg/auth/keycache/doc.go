// Package keycache keeps a gateway's in-memory copy of the tenancy
// configuration (the FLOCK_CONFIG key-value bucket the control plane
// writes: tenants, devices, public keys, revocations, quotas) current by
// watching the bucket, so that authenticating a CONNECT is local: a Cache
// is the jwtauth.KeySource of the gateway's jwtauth.Verifier.
//
// # Lifecycle
//
// New builds a Cache; Start (or Run, the blocking form) watches the bucket,
// waiting for it to exist if the control plane has not created it yet;
// WaitReady blocks until the bucket's current values are loaded, which a
// gateway waits for before accepting clients; Close stops the watcher and
// waits for it.
//
// Public keys are parsed once, when their record arrives. Deletes and
// purges remove entries, and so does the end of a key's KV time to live:
// the control plane writes token revocations with a per-key TTL (the
// token's remaining life), and when the server removes such a key it
// leaves a marker that the watch delivers as a purge. A revocation past its
// own ExpiresAt is also dropped by a periodic sweep, a second guard for
// buckets or servers without TTL support. A value that does not decode or validate is
// logged and treated as absent, which fails closed: a broken device record
// refuses the device, a broken key verifies nothing. Decoding is lenient
// about unknown JSON fields so a control plane may add fields before every
// gateway is upgraded.
//
// When the NATS connection comes back after an outage the Cache starts a
// new watch and reconciles: entries missing from the fresh snapshot were
// deleted meanwhile and are dropped. If the watcher dies for another reason
// it is restarted with backoff. Lookups keep answering from the last known
// state throughout.
//
// # Revocation events
//
// Subscribers registered with OnRevoke learn, within the watch latency
// (milliseconds on a healthy cluster), when live sessions must end:
//
//   - revoked.<tid>.device.<did> appears: every session of the device;
//   - revoked.<tid>.key.<kid> appears, or keys.<kid> is deleted or replaced
//     by an unusable record: every session the key verified;
//   - revoked.<tid>.token.<id> appears: the sessions of that token (jti);
//   - a device is deleted or disabled: every session of the device;
//   - a tenant is deleted or disabled: every session of the tenant.
//
// Events are not emitted for the state loaded before the Cache first
// becomes ready (no session can exist yet), nor for values seen again
// after a re-watch. Callbacks run on the watcher goroutine, one at a time,
// and must not block: hand the event to the gateway's own goroutines.
package keycache
