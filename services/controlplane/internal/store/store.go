// Package store keeps the control plane's state in NATS JetStream key-value
// buckets: tenant.ConfigBucket, which gateways watch, and
// tenant.SecretsBucket, which only the control plane reads. Values are JSON;
// keys follow the layout of package tenant plus the control plane's private
// records documented on the key functions below. The store holds no state of
// its own, so any number of control planes can share one NATS system.
// A Store is safe for concurrent use.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors the store returns; callers classify them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrConflict = errors.New("store: changed concurrently")
)

// Store is the pair of buckets.
type Store struct {
	js            jetstream.JetStream
	config        jetstream.KeyValue
	secrets       jetstream.KeyValue
	configBucket  string
	secretsBucket string
	// keyTTL reports whether the config bucket accepts per-key TTLs (set by
	// Open, read-only afterwards).
	keyTTL bool
}

// MarkerTTL is how long the config bucket keeps the marker a key leaves
// behind when its TTL removes it. Watchers (the gateways' key caches) see
// the marker as a purge and drop the key; a watcher that was away longer
// reloads the whole bucket when it comes back, and the key is simply not in
// the snapshot any more, so the marker need not outlive an outage.
const MarkerTTL = time.Hour

// BucketConfigs are the configurations the store creates missing buckets
// with. History 1 because gateways only need the latest value; file storage
// because the configuration must survive a NATS restart. The config bucket
// allows per-key TTLs (token revocations expire with their token).
func BucketConfigs(configBucket, secretsBucket string, replicas int) []jetstream.KeyValueConfig {
	if replicas < 1 {
		replicas = 1
	}
	return []jetstream.KeyValueConfig{
		{Bucket: configBucket, History: 1, Storage: jetstream.FileStorage, Replicas: replicas, LimitMarkerTTL: MarkerTTL,
			Description: "FlockMQ tenant configuration; written by the control plane, watched by gateways"},
		{Bucket: secretsBucket, History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
			Description: "FlockMQ control-plane secrets; read by the control plane only"},
	}
}

// Open binds to the buckets, creating any that is missing. An existing
// bucket's configuration is kept (another instance may have created it, or
// an operator changed its replicas), except that a config bucket created
// before per-key TTLs were used is updated to allow them (its other settings
// unchanged). When the NATS server cannot do that (older than 2.11), Open
// still succeeds and KeyTTLSupported reports false: PutTTL then writes
// without a TTL and expiry relies on the value's own expiry time.
func Open(ctx context.Context, nc *nats.Conn, configBucket, secretsBucket string, replicas int) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("store: jetstream: %w", err)
	}
	s := &Store{js: js, configBucket: configBucket, secretsBucket: secretsBucket}
	cfgs := BucketConfigs(configBucket, secretsBucket, replicas)
	for i, cfg := range cfgs {
		kv, err := bind(ctx, js, cfg)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			s.config = kv
		} else {
			s.secrets = kv
		}
	}
	s.config, s.keyTTL, err = allowKeyTTL(ctx, js, s.config)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// allowKeyTTL makes sure kv accepts per-key TTLs, updating the bucket's
// configuration when it does not yet; ok is false when the server cannot.
func allowKeyTTL(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) (_ jetstream.KeyValue, ok bool, _ error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: bucket %s status: %w", kv.Bucket(), err)
	}
	bs, isBucket := st.(*jetstream.KeyValueBucketStatus)
	if !isBucket {
		return nil, false, fmt.Errorf("store: bucket %s: unexpected status type %T", kv.Bucket(), st)
	}
	if bs.LimitMarkerTTL() > 0 {
		return kv, true, nil
	}
	cfg := bs.Config()
	cfg.LimitMarkerTTL = MarkerTTL
	// Concurrent instances may do this at once; the update is idempotent.
	updated, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		return kv, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: allow per-key TTLs in bucket %s: %w", kv.Bucket(), err)
	}
	return updated, true, nil
}

// KeyTTLSupported reports whether the config bucket accepts per-key TTLs
// (see Open).
func (s *Store) KeyTTLSupported() bool { return s.keyTTL }

func bind(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("store: open bucket %s: %w", cfg.Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("store: create bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// Bucket selects one of the two buckets.
type Bucket int

// The buckets.
const (
	Config Bucket = iota
	Secrets
)

func (s *Store) kv(b Bucket) jetstream.KeyValue {
	if b == Secrets {
		return s.secrets
	}
	return s.config
}

// Ping checks that both buckets answer.
func (s *Store) Ping(ctx context.Context) error {
	for _, kv := range []jetstream.KeyValue{s.config, s.secrets} {
		if _, err := kv.Status(ctx); err != nil {
			return fmt.Errorf("store: bucket status: %w", err)
		}
	}
	return nil
}

// Get decodes the value of key into v and returns its revision.
func (s *Store) Get(ctx context.Context, b Bucket, key string, v any) (uint64, error) {
	e, err := s.kv(b).Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return 0, ErrNotFound
		}
		return 0, fmt.Errorf("store: get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return e.Revision(), nil
}

// GetMeta is Get that also returns when the value was written.
func (s *Store) GetMeta(ctx context.Context, b Bucket, key string, v any) (rev uint64, written time.Time, err error) {
	e, err := s.kv(b).Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return 0, time.Time{}, ErrNotFound
		}
		return 0, time.Time{}, fmt.Errorf("store: get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, time.Time{}, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return e.Revision(), e.Created(), nil
}

// Create stores v at key unless the key holds a value (ErrExists).
func (s *Store) Create(ctx context.Context, b Bucket, key string, v any) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("store: encode %s: %w", key, err)
	}
	rev, err := s.kv(b).Create(ctx, key, data)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrExists
		}
		return 0, fmt.Errorf("store: create %s: %w", key, err)
	}
	return rev, nil
}

// Update stores v at key if the key is still at revision rev (ErrConflict
// otherwise).
func (s *Store) Update(ctx context.Context, b Bucket, key string, v any, rev uint64) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("store: encode %s: %w", key, err)
	}
	nrev, err := s.kv(b).Update(ctx, key, data, rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("store: update %s: %w", key, err)
	}
	return nrev, nil
}

// Put stores v at key whatever it held.
func (s *Store) Put(ctx context.Context, b Bucket, key string, v any) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("store: encode %s: %w", key, err)
	}
	rev, err := s.kv(b).Put(ctx, key, data)
	if err != nil {
		return 0, fmt.Errorf("store: put %s: %w", key, err)
	}
	return rev, nil
}

// PutTTL is Put with a time to live: the server removes the key ttl after
// the write (rounded up to whole seconds, at least one) and leaves a marker
// that watchers see as a purge. Only the config bucket allows TTLs. Without
// server support (KeyTTLSupported false) it is Put.
//
// KV offers a TTL only on Create (jetstream.KeyTTL), which fails on a key
// holding a value; PutTTL must also replace one, so it publishes to the
// key's subject with the same TTL header, as Create does internally. The
// subject layout $KV.<bucket>.<key> is NATS ADR-8, as in CreateMany.
func (s *Store) PutTTL(ctx context.Context, b Bucket, key string, v any, ttl time.Duration) (uint64, error) {
	if b != Config {
		return 0, fmt.Errorf("store: put %s: only the config bucket allows TTLs", key)
	}
	if !s.keyTTL {
		return s.Put(ctx, b, key, v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("store: encode %s: %w", key, err)
	}
	ttl = max(ttl, time.Second)
	if r := ttl % time.Second; r != 0 {
		ttl += time.Second - r
	}
	ack, err := s.js.Publish(ctx, "$KV."+s.configBucket+"."+key, data, jetstream.WithMsgTTL(ttl))
	if err != nil {
		return 0, fmt.Errorf("store: put %s with a TTL of %s: %w", key, ttl, err)
	}
	return ack.Sequence, nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, b Bucket, key string) error {
	if err := s.kv(b).Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	return nil
}

// DeleteAt removes key if it is still at revision rev (ErrConflict
// otherwise), so of two concurrent deletes exactly one succeeds.
func (s *Store) DeleteAt(ctx context.Context, b Bucket, key string, rev uint64) error {
	if err := s.kv(b).Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			return ErrConflict
		}
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	return nil
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Keys lists the keys matching filter (NATS subject wildcards), sorted.
func (s *Store) Keys(ctx context.Context, b Bucket, filter string) ([]string, error) {
	l, err := s.kv(b).ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("store: list %s: %w", filter, err)
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	// The lister unsubscribes itself once it has delivered every key, so
	// Stop may find the subscription gone.
	if err := l.Stop(); err != nil && !errors.Is(err, nats.ErrBadSubscription) && !errors.Is(err, nats.ErrConnectionClosed) {
		return nil, fmt.Errorf("store: list %s: %w", filter, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: list %s: %w", filter, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// LastToken returns the part of a key after its last dot.
func LastToken(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// Private records in the secrets bucket, besides tenant.SigningKey.

// APIKeyKey is the record of one API key: "apikeys.<id>".
func APIKeyKey(id string) string { return "apikeys." + id }

// TenantAPIKeyKey indexes a tenant's API keys: "apikeyidx.<tid>.<id>".
func TenantAPIKeyKey(tid, id string) string { return "apikeyidx." + tid + "." + id }

// TenantAPIKeysFilter matches every index entry of a tenant's API keys.
func TenantAPIKeysFilter(tid string) string { return "apikeyidx." + tid + ".*" }

// Owners of verification keys in the key index.
const (
	OwnerPlatform = "p"
	OwnerIssuer   = "i"
	OwnerDevice   = "d"
)

// KeyIndexKey indexes a tenant's verification keys by owner:
// "keyidx.<tid>.p.<kid>", "keyidx.<tid>.i.<kid>" or
// "keyidx.<tid>.d.<did>.<kid>" (did only for OwnerDevice).
func KeyIndexKey(tid, owner, did, kid string) string {
	if owner == OwnerDevice {
		return "keyidx." + tid + ".d." + did + "." + kid
	}
	return "keyidx." + tid + "." + owner + "." + kid
}

// KeyIndexFilter matches the index entries of one owner.
func KeyIndexFilter(tid, owner, did string) string {
	if owner == OwnerDevice {
		return "keyidx." + tid + ".d." + did + ".*"
	}
	return "keyidx." + tid + "." + owner + ".*"
}

// DeviceCountKey holds the number of a tenant's devices, kept with
// compare-and-set beside the device records: "devcount.<tid>".
func DeviceCountKey(tid string) string { return "devcount." + tid }

// DeviceCount is the value of DeviceCountKey.
type DeviceCount struct {
	Count int64 `json:"count"`
}

// AccountKey holds a tenant's private account details: "accounts.<tid>".
func AccountKey(tid string) string { return "accounts." + tid }

// TenantsFilter matches every tenant record in the config bucket.
const TenantsFilter = "tenants.*"

// Account is a tenant's private account record.
type Account struct {
	TenantID  string    `json:"tenant_id"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is the stored form of an API key: never the secret, only its
// SHA-256.
type APIKey struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id"`
	Name       string    `json:"name,omitempty"`
	SecretHash string    `json:"secret_sha256"`
	CreatedAt  time.Time `json:"created_at"`
}

// SigningKey is a tenant's platform signing private key.
type SigningKey struct {
	ID            string    `json:"id"`
	TenantID      string    `json:"tenant_id"`
	Algorithm     string    `json:"algorithm"`
	PrivateKeyPEM string    `json:"private_key_pem"`
	CreatedAt     time.Time `json:"created_at"`
}

// createWindow is how many creates CreateMany keeps in flight.
const createWindow = 1024

// CreateMany creates many keys at once: like Create for each, but with the
// writes pipelined (asynchronous publishes expecting no previous value) so
// thousands of keys cost a few round trips, not thousands. errs[i] is nil,
// ErrExists or another error for keys[i].
func (s *Store) CreateMany(ctx context.Context, b Bucket, keys []string, values []any) []error {
	errs := make([]error, len(keys))
	bucket := s.configBucket
	if b == Secrets {
		bucket = s.secretsBucket
	}
	for start := 0; start < len(keys); start += createWindow {
		end := min(start+createWindow, len(keys))
		futures := make([]jetstream.PubAckFuture, end-start)
		for i := start; i < end; i++ {
			data, err := json.Marshal(values[i])
			if err != nil {
				errs[i] = fmt.Errorf("store: encode %s: %w", keys[i], err)
				continue
			}
			// The subject of a KV key is $KV.<bucket>.<key> (NATS ADR-8);
			// "expect last subject sequence 0" is what KV Create sends.
			f, err := s.js.PublishAsync("$KV."+bucket+"."+keys[i], data, jetstream.WithExpectLastSequencePerSubject(0))
			if err != nil {
				errs[i] = fmt.Errorf("store: create %s: %w", keys[i], err)
				continue
			}
			futures[i-start] = f
		}
		for i := start; i < end; i++ {
			f := futures[i-start]
			if f == nil {
				continue
			}
			select {
			case <-f.Ok():
			case <-f.Err():
				// Usually a wrong last sequence: the key exists, or holds a
				// delete marker, which Create overwrites. Let Create decide.
				_, errs[i] = s.Create(ctx, b, keys[i], values[i])
			case <-ctx.Done():
				errs[i] = fmt.Errorf("store: create %s: %w", keys[i], ctx.Err())
			}
		}
	}
	return errs
}

// LogValue implements slog.LogValuer: the hash is left out of logs.
func (k APIKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("tenant_id", k.TenantID))
}

// LogValue implements slog.LogValuer: the private key never reaches a log.
func (k SigningKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("tenant_id", k.TenantID), slog.String("algorithm", k.Algorithm))
}
