package limits

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// usageKeyPrefix starts every key of the usage bucket:
// conns.<tenant id>.<gateway id> = decimal connection count.
const usageKeyPrefix = "conns."

// staleIntervals is how many report intervals a count survives without
// being refreshed, in the bucket (its TTL) and in the other gateways' sums.
const staleIntervals = 3

// remoteCount is one other gateway's count for one tenant.
type remoteCount struct {
	n    int64
	seen int64 // Limits clock when it was last received
}

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("limits: Run already called")

// Run shares this gateway's connection counts with the other gateways and
// keeps the sum of theirs until ctx ends; it then deletes this gateway's
// counts from the bucket, stops the connections gauge and returns nil.
// Without Deps.NATS it only waits for ctx.
//
// Every ReportInterval it writes conns.<tenant>.<gateway> for each tenant
// with connections here (deleting the key when they reach zero), checks
// that the bucket still exists (recreating it if not), and drops the
// other gateways' counts not refreshed within three intervals; meanwhile
// it watches the bucket for their updates. NATS failures are logged and
// retried at the next interval and never stop Run. Call Run once; a
// second call returns ErrRunning.
func (l *Limits) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer l.gaugeReg.Unregister()
	if l.nc == nil {
		<-ctx.Done()
		return nil
	}
	js, err := jetstream.New(l.nc)
	if err != nil {
		return fmt.Errorf("limits: open JetStream: %w", err)
	}
	l.lastRates = l.nanotime() // admitted rates are counted from here (rates.go)
	ticker := time.NewTicker(l.cfg.ReportInterval)
	defer ticker.Stop()

	var (
		kv      jetstream.KeyValue
		created time.Time // when the bucket's stream was created
		watcher jetstream.KeyWatcher
		updates <-chan jetstream.KeyValueEntry
	)
	stopWatch := func() {
		if watcher != nil {
			watcher.Stop()
		}
		kv, watcher, updates = nil, nil, nil
	}
	defer stopWatch()
	connect := func() {
		// Bounded so an unreachable NATS cannot hold the loop for longer
		// than an interval; the watcher lives as long as Run.
		octx, cancel := context.WithTimeout(ctx, l.cfg.ReportInterval)
		defer cancel()
		var err error
		kv, err = l.openBucket(octx, js)
		if err == nil {
			created, err = bucketCreated(octx, kv)
		}
		if err == nil {
			watcher, err = kv.Watch(ctx, ">") // connection counts and rates
		}
		if err != nil {
			if suppressed, ok := l.bucketWarn.shouldLog(l.nanotime(), l.cfg.LogInterval); ok && ctx.Err() == nil {
				l.log.Warn("cannot reach the usage bucket "+l.cfg.UsageBucket+"; connection limits may count only this gateway's connections until it is back",
					"err", err, "suppressed", suppressed)
			}
			stopWatch()
			return
		}
		updates = watcher.Updates()
	}
	connect()
	if l.report(ctx, kv) != nil {
		stopWatch()
	}
	for {
		select {
		case <-ctx.Done():
			l.withdraw(kv)
			return nil
		case e, ok := <-updates:
			if !ok {
				l.log.Warn("the watch on usage bucket " + l.cfg.UsageBucket + " ended; reconnecting at the next report")
				stopWatch()
				continue
			}
			if e != nil { // nil marks the end of the initial values
				if strings.HasPrefix(e.Key(), ratesKeyPrefix) {
					l.applyRemoteRate(e)
				} else {
					l.applyRemote(e)
				}
			}
		case <-ticker.C:
			if kv != nil && !l.sameBucket(ctx, kv, created) {
				// The bucket was deleted, and perhaps recreated (a NATS
				// node holding it in memory restarted): a watch on the old
				// one sees nothing more, so start over.
				stopWatch()
			}
			if kv == nil {
				connect()
			}
			if l.report(ctx, kv) != nil {
				stopWatch() // start over at the next tick
			}
			l.expireRemote()
			l.expireRemoteRates()
		}
	}
}

// openBucket returns the usage bucket, creating it when missing. When
// another gateway created it with other settings, those are kept.
func (l *Limits) openBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      l.cfg.UsageBucket,
		Description: "FlockMQ gateways' per-tenant connection counts (conns.<tenant>.<gateway>) and admitted publish rates (rates.<tenant>.<gateway>)",
		History:     1,
		TTL:         staleIntervals * l.cfg.ReportInterval,
		Storage:     jetstream.MemoryStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, l.cfg.UsageBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("limits: open usage bucket %s: %w", l.cfg.UsageBucket, err)
	}
	return kv, nil
}

// bucketCreated returns when the bucket's stream was created, which
// tells a bucket from a later one of the same name.
func bucketCreated(ctx context.Context, kv jetstream.KeyValue) (time.Time, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("limits: usage bucket status: %w", err)
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		return bs.StreamInfo().Created, nil
	}
	return time.Time{}, nil
}

// sameBucket reports whether kv is still the bucket created at created.
func (l *Limits) sameBucket(ctx context.Context, kv jetstream.KeyValue, created time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ReportInterval)
	defer cancel()
	c, err := bucketCreated(ctx, kv)
	return err == nil && c.Equal(created)
}

// usageKey is this gateway's key for the tenant.
func (l *Limits) usageKey(tenantID string) string {
	return usageKeyPrefix + tenantID + "." + l.gatewayID
}

// report writes this gateway's non-zero counts, and deletes the counts
// that dropped to zero, taking at most one interval. It returns the last
// failure, already logged. Runs on the Run goroutine only.
func (l *Limits) report(ctx context.Context, kv jetstream.KeyValue) error {
	if kv == nil {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ReportInterval)
	defer cancel()
	var failed error
	l.tenants.rangeAll(func(t *Tenant) bool {
		if !tenant.ValidTenantID(t.id) {
			return true
		}
		var value []byte
		if n := t.conns.Load(); n > 0 {
			value = strconv.AppendInt(nil, n, 10)
		}
		if err := putOrDelete(ctx, kv, l.usageKey(t.id), value, &t.reported); err != nil {
			failed = err
			return ctx.Err() == nil
		}
		return true
	})
	now := l.nanotime()
	if failed == nil {
		if now > l.lastRates {
			failed = l.reportRates(ctx, kv, float64(now-l.lastRates)/1e9)
			l.lastRates = now
		}
	}
	if failed == nil || parent.Err() != nil {
		return nil
	}
	if suppressed, ok := l.reportWarn.shouldLog(l.nanotime(), l.cfg.LogInterval); ok {
		l.log.Warn("cannot publish this gateway's connection counts to "+l.cfg.UsageBucket+"; other gateways will undercount until the next report",
			"err", failed, "suppressed", suppressed)
	}
	return failed
}

// putOrDelete writes value under key, or, when value is nil, deletes the
// key if this gateway wrote it before; reported tracks whether it did.
func putOrDelete(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, reported *bool) error {
	switch {
	case value != nil:
		if _, err := kv.Put(ctx, key, value); err != nil {
			return err
		}
		*reported = true
	case *reported:
		if err := kv.Delete(ctx, key); err != nil {
			return err
		}
		*reported = false
	}
	return nil
}

// withdraw deletes this gateway's counts as it stops, so the other
// gateways need not wait for them to go stale.
func (l *Limits) withdraw(kv jetstream.KeyValue) {
	if kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.ReportInterval)
	defer cancel()
	l.tenants.rangeAll(func(t *Tenant) bool {
		if t.reported {
			if err := kv.Delete(ctx, l.usageKey(t.id)); err == nil {
				t.reported = false
			}
		}
		if t.ratesReported {
			if err := kv.Delete(ctx, l.ratesKey(t.id)); err == nil {
				t.ratesReported = false
			}
		}
		return ctx.Err() == nil
	})
}

// peerKey splits a key of another gateway's report, prefix + tenant + "." +
// gateway; ok is false for other keys and this gateway's own.
func (l *Limits) peerKey(key, prefix string) (tid, gw string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", false
	}
	tid, gw, ok = strings.Cut(rest, ".")
	return tid, gw, ok && gw != l.gatewayID
}

// setPeer records gateway gw's value v for tenant tid in m (put), or
// forgets it, and returns the tenant's map (nil once empty). Callers hold
// remoteMu.
func setPeer[V any](m map[string]map[string]V, tid, gw string, v V, put bool) map[string]V {
	gws := m[tid]
	switch {
	case put:
		if gws == nil {
			gws = make(map[string]V)
			m[tid] = gws
		}
		gws[gw] = v
	case gws != nil:
		delete(gws, gw)
		if len(gws) == 0 {
			delete(m, tid)
			return nil
		}
	}
	return gws
}

// applyRemote records one change of another gateway's count.
func (l *Limits) applyRemote(e jetstream.KeyValueEntry) {
	tid, gw, ok := l.peerKey(e.Key(), usageKeyPrefix)
	if !ok {
		return
	}
	now := l.nanotime()
	var c remoteCount
	put := e.Operation() == jetstream.KeyValuePut
	if put {
		n, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil || n < 0 {
			l.log.Warn("ignoring a malformed connection count in "+l.cfg.UsageBucket, "key", e.Key(), "tenant_id", tid)
			return
		}
		c = remoteCount{n: n, seen: now}
	}
	l.remoteMu.Lock()
	gws := setPeer(l.remote, tid, gw, c, put)
	sum := sumLocked(gws, now, l.staleAfter())
	l.remoteMu.Unlock()
	if t, ok := l.tenants.load(tid); ok {
		t.others.Store(sum)
	}
}

// expireRemote drops the counts not refreshed within three intervals and
// stores every known tenant's sum.
func (l *Limits) expireRemote() {
	now := l.nanotime()
	l.remoteMu.Lock()
	dropStale(l.remote, now, l.staleAfter())
	l.remoteMu.Unlock()
	l.tenants.rangeAll(func(t *Tenant) bool {
		t.others.Store(l.remoteSum(t.id, now))
		return true
	})
}

// remoteSum is the other gateways' fresh connections of the tenant.
func (l *Limits) remoteSum(tenantID string, now int64) int64 {
	l.remoteMu.Lock()
	defer l.remoteMu.Unlock()
	return sumLocked(l.remote[tenantID], now, l.staleAfter())
}

func (l *Limits) staleAfter() int64 { return staleIntervals * int64(l.cfg.ReportInterval) }

// seenAt is when another gateway's value was last received.
func (c remoteCount) seenAt() int64 { return c.seen }

// dropStale deletes the values of m (tenant id → gateway id → value) not
// refreshed within stale of now, and the tenants left without any.
func dropStale[V interface{ seenAt() int64 }](m map[string]map[string]V, now, stale int64) {
	for tid, gws := range m {
		for gw, v := range gws {
			if now-v.seenAt() > stale {
				delete(gws, gw)
			}
		}
		if len(gws) == 0 {
			delete(m, tid)
		}
	}
}

// sumLocked adds up the counts seen within stale of now; l.remoteMu held.
func sumLocked(gws map[string]remoteCount, now, stale int64) int64 {
	var sum int64
	for _, c := range gws {
		if now-c.seen <= stale {
			sum += c.n
		}
	}
	return sum
}
