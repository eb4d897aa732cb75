package keycache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// errReconnected ends a watch so that a fresh one reconciles the state
// after the NATS connection came back.
var errReconnected = errors.New("keycache: NATS connection re-established")

// run is the watcher goroutine: it (re)opens the bucket and watches it
// until ctx ends.
func (c *Cache) run(ctx context.Context) error {
	nc := c.js.Conn()
	status := nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(status)

	backoff := 100 * time.Millisecond
	waitingLogged := false
	for {
		loaded, err := c.watch(ctx, status)
		if ctx.Err() != nil {
			return nil
		}
		if nc.IsClosed() {
			return fmt.Errorf("keycache: NATS connection closed: %w", nats.ErrConnectionClosed)
		}
		switch {
		case errors.Is(err, errReconnected):
			c.log.Info("NATS connection re-established; reloading the configuration")
			backoff = 100 * time.Millisecond
			continue
		case errors.Is(err, jetstream.ErrBucketNotFound):
			if !waitingLogged {
				c.log.Warn("the configuration bucket does not exist yet; waiting for the control plane to create it")
				waitingLogged = true
			}
		default:
			c.log.Warn("watching the configuration bucket failed; retrying", "err", err, "retry_in", backoff)
		}
		if loaded {
			backoff = 100 * time.Millisecond
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// watch opens the bucket and applies its updates until ctx ends, the
// connection comes back after an outage, or the watcher fails. loaded
// reports whether a full snapshot was applied.
func (c *Cache) watch(ctx context.Context, status <-chan nats.Status) (loaded bool, err error) {
	// Drop status events from before this watch: its snapshot is fresh.
	for len(status) > 0 {
		<-status
	}
	kv, err := c.js.KeyValue(ctx, c.cfg.Bucket)
	if err != nil {
		return false, fmt.Errorf("keycache: open bucket %s: %w", c.cfg.Bucket, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.WatchAll(wctx)
	if err != nil {
		return false, fmt.Errorf("keycache: watch bucket %s: %w", c.cfg.Bucket, err)
	}
	defer func() {
		_ = w.Stop()
		// The subscription's goroutine may be blocked handing over an
		// entry; it closes the channel once it has finished.
		for range w.Updates() {
		}
	}()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	c.gen++
	gen := c.gen
	start := time.Now()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return loaded, ctx.Err()
		case s := <-status:
			if s == nats.CLOSED {
				return loaded, nats.ErrConnectionClosed
			}
			return loaded, errReconnected
		case <-prune.C:
			c.pruneExpired()
		case e, ok := <-w.Updates():
			if !ok {
				return loaded, errors.New("keycache: the bucket watcher stopped")
			}
			if e == nil {
				c.notify(c.sweep(gen))
				loaded = true
				if c.isReady() {
					c.log.Info("configuration reloaded", "entries", n, "took", time.Since(start))
				} else {
					c.log.Info("configuration loaded; ready to authenticate clients", "entries", n, "took", time.Since(start))
					c.readyOnce.Do(func() { close(c.ready) })
				}
				continue
			}
			n++
			c.notify(c.apply(e, gen))
		}
	}
}

// pruneInterval is how often revocations past their ExpiresAt are dropped.
// Those with a KV TTL normally leave through the marker the server writes
// when it removes them; this sweep is the second guard, for a bucket
// without TTL support (a NATS server older than 2.11) and for values whose
// ExpiresAt comes before their TTL ends. An expired revocation covers
// nothing anyway (tenant.Revocation.Covers).
const pruneInterval = time.Minute

// pruneExpired drops the revocations past their ExpiresAt.
func (c *Cache) pruneExpired() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, e := range c.revocations {
		if e.r.ExpiresAt != nil && !now.Before(*e.r.ExpiresAt) {
			delete(c.revocations, ref)
		}
	}
}

// isReady reports whether the first snapshot is loaded; before that no
// session exists, so no event is due.
func (c *Cache) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// apply updates the cache with one KV entry and returns the events due.
func (c *Cache) apply(e jetstream.KeyValueEntry, gen uint64) []auth.Revocation {
	ref, err := tenant.ParseKey(e.Key())
	if err != nil {
		c.log.Debug("ignoring a key outside the configuration layout", "key", e.Key())
		return nil
	}
	del := e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge
	emit := c.isReady()
	// Decode and parse outside the lock: a key's PEM costs the most.
	switch ref.Entry {
	case tenant.EntryTenant:
		var t tenant.Tenant
		ok := !del && c.decode(e, &t)
		t.ID = ref.TenantID
		return c.applyTenant(ref.TenantID, t, ok, e.Revision(), gen, emit)
	case tenant.EntryDevice:
		var d tenant.Device
		ok := !del && c.decode(e, &d)
		return c.applyDevice(deviceRef{ref.TenantID, ref.DeviceID}, d, ok, e.Revision(), gen, emit)
	case tenant.EntryKey:
		if !del && c.unchanged(ref, e.Revision(), gen) {
			return nil
		}
		var k *jwtauth.Key
		if !del {
			var rec tenant.Key
			if c.decode(e, &rec) {
				k = c.parseKey(ref.KeyID, rec)
			}
		}
		return c.applyKey(ref.KeyID, k, e.Revision(), gen, emit)
	case tenant.EntryRevoked:
		var r tenant.Revocation
		ok := !del
		if ok && !c.decode(e, &r) {
			// Fail closed: the key's presence alone revokes.
			r = tenant.Revocation{}
		}
		r.TenantID, r.Kind = ref.TenantID, ref.RevocationKind
		if r.ID == "" || ref.RevocationKind != tenant.RevokeToken {
			r.ID = ref.RevokedID
		}
		if r.RevokedAt.IsZero() {
			r.RevokedAt = e.Created()
		}
		return c.applyRevocation(revocationRef{ref.TenantID, ref.RevocationKind, ref.RevokedID}, r, ok, e.Revision(), gen, emit)
	case tenant.EntryQuotas:
		var q tenant.Quotas
		ok := !del && c.decode(e, &q)
		c.mu.Lock()
		if ok {
			c.quotas[ref.TenantID] = quotasEntry{q: q, rev: e.Revision(), gen: gen}
		} else {
			delete(c.quotas, ref.TenantID)
		}
		c.mu.Unlock()
	}
	return nil
}

// decode unmarshals a value, logging a failure. Unknown fields are
// accepted so that a newer control plane can add some.
func (c *Cache) decode(e jetstream.KeyValueEntry, v any) bool {
	if err := json.Unmarshal(e.Value(), v); err != nil {
		c.log.Error("a configuration value does not decode; treating it as absent", "key", e.Key(), "revision", e.Revision(), "err", err)
		return false
	}
	return true
}

// unchanged reports whether a key entry is already cached at this revision
// (a re-watch delivering it again), and marks it seen.
func (c *Cache) unchanged(ref tenant.Ref, rev, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ke, ok := c.keys[ref.KeyID]; ok && ke.rev == rev {
		ke.gen = gen
		c.keys[ref.KeyID] = ke
		return true
	}
	return false
}

func (c *Cache) parseKey(kid string, rec tenant.Key) *jwtauth.Key {
	if rec.ID != kid {
		c.log.Error("a key record names another key id than its entry; ignoring it", "key_id", kid, "record_id", rec.ID)
		return nil
	}
	k, err := jwtauth.NewKey(rec)
	if err != nil {
		c.log.Error("a public key record is unusable; it will verify no token", "key_id", kid, "tenant_id", rec.TenantID, "err", err)
		return nil
	}
	return k
}

func (c *Cache) applyTenant(tid string, t tenant.Tenant, ok bool, rev, gen uint64, emit bool) []auth.Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.tenants[tid]
	if !ok {
		delete(c.tenants, tid)
		if had && emit {
			return []auth.Revocation{{Tenant: tid}}
		}
		return nil
	}
	c.tenants[tid] = tenantEntry{t: t, rev: rev, gen: gen}
	if emit && t.Disabled && (!had || !old.t.Disabled) {
		return []auth.Revocation{{Tenant: tid}}
	}
	return nil
}

func (c *Cache) applyDevice(ref deviceRef, d tenant.Device, ok bool, rev, gen uint64, emit bool) []auth.Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.devices[ref]
	if had && ok && old.rev == rev {
		old.gen = gen
		c.devices[ref] = old
		return nil
	}
	gone := []auth.Revocation{{Tenant: ref.tid, Device: ref.did}}
	if !ok {
		delete(c.devices, ref)
		if had && emit {
			return gone
		}
		return nil
	}
	// The entry's key is authoritative; share its strings with the map key.
	tid, seen := c.interned[ref.tid]
	if !seen {
		tid = ref.tid
		c.interned[tid] = tid
	}
	ref.tid = tid
	d.TenantID, d.ID = tid, ref.did
	c.devices[ref] = deviceEntry{d: d, rev: rev, gen: gen}
	if emit && d.Disabled && (!had || !old.d.Disabled) {
		return gone
	}
	return nil
}

func (c *Cache) applyKey(kid string, k *jwtauth.Key, rev, gen uint64, emit bool) []auth.Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.keys[kid]
	if had {
		c.unindexLocked(old.k)
	}
	if k == nil {
		delete(c.keys, kid)
		if had && emit {
			return []auth.Revocation{{Tenant: old.k.TenantID, CredentialID: kid}}
		}
		return nil
	}
	c.keys[kid] = keyEntry{k: k, rev: rev, gen: gen}
	if k.Kind == tenant.KeyDevice {
		c.deviceKeys[k.DeviceID] = append(slices.Clip(c.deviceKeys[k.DeviceID]), k)
	}
	if had && emit && old.k.TenantID != k.TenantID {
		// A key moved to another tenant: its old tenant's sessions end.
		return []auth.Revocation{{Tenant: old.k.TenantID, CredentialID: kid}}
	}
	return nil
}

// unindexLocked removes a key from the device-key index, replacing the
// slice so readers holding the old one are unaffected.
func (c *Cache) unindexLocked(k *jwtauth.Key) {
	if k.Kind != tenant.KeyDevice {
		return
	}
	ks := c.deviceKeys[k.DeviceID]
	i := slices.Index(ks, k)
	if i < 0 {
		return
	}
	if len(ks) == 1 {
		delete(c.deviceKeys, k.DeviceID)
		return
	}
	c.deviceKeys[k.DeviceID] = slices.Delete(slices.Clone(ks), i, i+1)
}

func (c *Cache) applyRevocation(ref revocationRef, r tenant.Revocation, ok bool, rev, gen uint64, emit bool) []auth.Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.revocations[ref]
	if !ok {
		delete(c.revocations, ref)
		return nil
	}
	if had && old.rev == rev {
		old.gen = gen
		c.revocations[ref] = old
		return nil
	}
	c.revocations[ref] = revocationEntry{r: r, rev: rev, gen: gen}
	if !emit || (r.ExpiresAt != nil && !c.now().Before(*r.ExpiresAt)) {
		return nil
	}
	ev := auth.Revocation{Tenant: ref.tid}
	switch ref.kind {
	case tenant.RevokeDevice:
		ev.Device = ref.id
	case tenant.RevokeKey:
		ev.CredentialID = ref.id
	case tenant.RevokeToken:
		ev.TokenID = r.ID
	}
	return []auth.Revocation{ev}
}

// sweep drops the entries a completed snapshot of generation gen did not
// contain (deleted while the watch was down) and returns the events due.
func (c *Cache) sweep(gen uint64) []auth.Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	emit := c.isReady()
	var events []auth.Revocation
	for tid, e := range c.tenants {
		if e.gen < gen {
			delete(c.tenants, tid)
			events = append(events, auth.Revocation{Tenant: tid})
		}
	}
	for ref, e := range c.devices {
		if e.gen < gen {
			delete(c.devices, ref)
			events = append(events, auth.Revocation{Tenant: ref.tid, Device: ref.did})
		}
	}
	for kid, e := range c.keys {
		if e.gen < gen {
			c.unindexLocked(e.k)
			delete(c.keys, kid)
			events = append(events, auth.Revocation{Tenant: e.k.TenantID, CredentialID: kid})
		}
	}
	for ref, e := range c.revocations {
		if e.gen < gen {
			delete(c.revocations, ref)
		}
	}
	for tid, e := range c.quotas {
		if e.gen < gen {
			delete(c.quotas, tid)
		}
	}
	if !emit {
		return nil
	}
	return events
}
