package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Reader answers presence queries for the control plane from the bucket
// alone, without calling any gateway, and forgets the record of a deleted
// device (Forget, its one write). It is safe for concurrent use.
type Reader struct {
	js  jetstream.JetStream
	cfg Config

	mu sync.Mutex
	kv jetstream.KeyValue // guarded by mu: opened on first use
}

// NewReader returns a Reader. Only cfg.Bucket and cfg.Now are used.
func NewReader(js jetstream.JetStream, cfg Config) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if js == nil {
		return nil, errors.New("presence: no JetStream context")
	}
	return &Reader{js: js, cfg: cfg.withDefaults()}, nil
}

func (r *Reader) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv != nil {
		return r.kv, nil
	}
	kv, err := openBucket(ctx, r.js, r.cfg.Bucket)
	if err != nil {
		return nil, err
	}
	r.kv = kv
	return kv, nil
}

// Get returns the status of device did of tenant tid, with the connections
// of gateways that stopped responding removed. It returns ErrNotFound for
// a device never seen connected and an ErrInvalidID error for bad ids.
func (r *Reader) Get(ctx context.Context, tid, did string) (Status, error) {
	if err := checkDevice(tid, did); err != nil {
		return Status{}, err
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return Status{}, err
	}
	key := DeviceKey(tid, did)
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Status{}, fmt.Errorf("presence: device %s of tenant %s: %w", did, tid, ErrNotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("presence: read %s: %w", key, err)
	}
	return r.decode(ctx, newGateways(kv), tid, did, e.Value())
}

func (r *Reader) decode(ctx context.Context, g *gateways, tid, did string, value []byte) (Status, error) {
	var st Status
	if err := json.Unmarshal(value, &st); err != nil {
		return Status{}, fmt.Errorf("presence: decode %s: %w", DeviceKey(tid, did), err)
	}
	st.TenantID, st.DeviceID = tid, did
	if _, err := expire(ctx, g, &st, r.cfg.Now()); err != nil {
		return Status{}, err
	}
	return st, nil
}

// List returns the status of each of the tenant's devices dids that was
// ever seen, keyed by device id; devices never seen are absent.
func (r *Reader) List(ctx context.Context, tid string, dids []string) (map[string]Status, error) {
	for _, did := range dids {
		if err := checkDevice(tid, did); err != nil {
			return nil, err
		}
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return nil, err
	}
	g := newGateways(kv)
	out := make(map[string]Status, len(dids))
	for _, did := range dids {
		if _, dup := out[did]; dup {
			continue
		}
		key := DeviceKey(tid, did)
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("presence: read %s: %w", key, err)
		}
		st, err := r.decode(ctx, g, tid, did, e.Value())
		if err != nil {
			return nil, err
		}
		out[did] = st
	}
	return out, nil
}

// Counts returns how many of the tenant's devices are connected now. It
// reads every status of the tenant, so its cost grows with the number of
// devices ever seen.
func (r *Reader) Counts(ctx context.Context, tid string) (connected int, err error) {
	err = r.Each(ctx, tid, func(st Status) bool {
		if st.Connected {
			connected++
		}
		return true
	})
	return connected, err
}

// Each calls fn with the status of every device of the tenant ever seen,
// in no particular order, until fn returns false.
func (r *Reader) Each(ctx context.Context, tid string, fn func(Status) bool) error {
	if err := checkDevice(tid, "x"); err != nil {
		return err
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.Watch(wctx, "devices."+tid+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("presence: list devices of tenant %s: %w", tid, err)
	}
	defer w.Stop()
	g := newGateways(kv)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("presence: list devices of tenant %s: the watcher stopped", tid)
			}
			if e == nil {
				return nil
			}
			d, ok := parseDeviceKey(e.Key())
			if !ok || d.tid != tid {
				continue
			}
			st, err := r.decode(ctx, g, tid, d.did, e.Value())
			if err != nil {
				return err
			}
			if !fn(st) {
				return nil
			}
		}
	}
}

// Forget deletes the presence record of device did of tenant tid, which the
// control plane does when the device is deleted; forgetting a device never
// seen is not an error. The delete leaves a marker in the bucket, so a
// gateway that reports the end of the device's last connection afterwards
// (it is cut off by the device's revocation, concurrently) does not write
// the record again: a Reporter never recreates a forgotten record only to
// say the device disconnected. A new connection of a device with the same
// id (created again) writes a new record as usual.
func (r *Reader) Forget(ctx context.Context, tid, did string) error {
	if err := checkDevice(tid, did); err != nil {
		return err
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return err
	}
	key := DeviceKey(tid, did)
	if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("presence: forget %s: %w", key, err)
	}
	return nil
}
