package limits

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// Message and byte rates across gateways.
//
// Each gateway's buckets admit what its clients publish; a tenant whose
// devices are spread over several gateways must still keep to its
// MaxMessagesPerSecond and MaxBytesPerSecond as a whole. Every report
// interval each gateway writes what it admitted per second for each tenant
// (rates.<tenant>.<gateway> = "<messages/s> <bytes/s>" in the usage bucket,
// deleted when it drops to zero) and watches the others'. A gateway then
// gives its own buckets what the others leave of the tenant's quota, but
// never less than an equal share among the gateways that publish for it:
//
//	rate here = max(quota − others' rate, quota ÷ (publishing gateways))
//
// so two saturated gateways settle at half each, and a gateway whose
// tenant publishes little elsewhere keeps nearly all of it. Like the
// connection counts this is an approximation that lags by a report
// interval: a tenant that starts to flood on several gateways at once can
// exceed its rate by that much for that long. A publish never waits for
// NATS.

// ratesKeyPrefix starts the keys of the admitted rates.
const ratesKeyPrefix = "rates."

// remoteRate is one other gateway's admitted rates for one tenant.
type remoteRate struct {
	msgs, bytes int64 // per second
	seen        int64 // Limits clock when it was last received
}

func (r remoteRate) seenAt() int64 { return r.seen }

// admitted counts one admitted publish of n payload bytes.
func (t *Tenant) admitted(n int64) {
	t.admMsgs.Add(1)
	t.admBytes.Add(n)
}

// shares returns this gateway's share of the tenant's message and byte
// rates (see the comment at the top of rates.go).
func (t *Tenant) shares(s *snapshot) (msgs, bytes int64) {
	n := t.otherPublishers.Load()
	if n == 0 {
		return s.q.MaxMessagesPerSecond, s.q.MaxBytesPerSecond
	}
	return share(s.q.MaxMessagesPerSecond, t.otherMsgRate.Load(), n), share(s.q.MaxBytesPerSecond, t.otherByteRate.Load(), n)
}

// share is max(quota − others, quota ÷ (gateways + 1)), at least 1.
func share(quota, others, gateways int64) int64 {
	return max(quota-others, quota/(gateways+1), 1)
}

// ratesKey is this gateway's rates key for the tenant.
func (l *Limits) ratesKey(tenantID string) string {
	return ratesKeyPrefix + tenantID + "." + l.gatewayID
}

// reportRates writes what this gateway admitted per second for each
// tenant since the last call, every seconds apart, and deletes the rates
// that dropped to zero. Runs on the Run goroutine only.
func (l *Limits) reportRates(ctx context.Context, kv jetstream.KeyValue, seconds float64) error {
	var failed error
	l.tenants.rangeAll(func(t *Tenant) bool {
		m, b := t.admMsgs.Swap(0), t.admBytes.Swap(0)
		if !tenant.ValidTenantID(t.id) {
			return true
		}
		var value []byte
		if m > 0 {
			value = strconv.AppendInt(nil, int64(float64(m)/seconds+0.5), 10)
			value = append(value, ' ')
			value = strconv.AppendInt(value, int64(float64(b)/seconds+0.5), 10)
		}
		if err := putOrDelete(ctx, kv, l.ratesKey(t.id), value, &t.ratesReported); err != nil {
			failed = err
			return ctx.Err() == nil
		}
		return true
	})
	return failed
}

// applyRemoteRate records one change of another gateway's rates.
func (l *Limits) applyRemoteRate(e jetstream.KeyValueEntry) {
	tid, gw, ok := l.peerKey(e.Key(), ratesKeyPrefix)
	if !ok {
		return
	}
	now := l.nanotime()
	var r remoteRate
	put := e.Operation() == jetstream.KeyValuePut
	if put {
		var err error
		if r, err = parseRates(e.Value()); err != nil {
			l.log.Warn("ignoring malformed publish rates in "+l.cfg.UsageBucket, "key", e.Key(), "tenant_id", tid, "err", err)
			return
		}
		r.seen = now
	}
	l.remoteMu.Lock()
	setPeer(l.remoteRates, tid, gw, r, put)
	l.remoteMu.Unlock()
	if t, ok := l.tenants.load(tid); ok {
		l.storeRates(t, now)
	}
}

func parseRates(v []byte) (remoteRate, error) {
	m, b, ok := strings.Cut(string(v), " ")
	if !ok {
		return remoteRate{}, fmt.Errorf("limits: %q is not \"<messages/s> <bytes/s>\"", v)
	}
	msgs, err1 := strconv.ParseInt(m, 10, 64)
	bytes, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || msgs < 0 || bytes < 0 {
		return remoteRate{}, fmt.Errorf("limits: %q is not \"<messages/s> <bytes/s>\"", v)
	}
	return remoteRate{msgs: msgs, bytes: bytes}, nil
}

// storeRates sets the tenant's view of the other gateways' fresh rates.
func (l *Limits) storeRates(t *Tenant, now int64) {
	var msgs, bytes, n int64
	l.remoteMu.Lock()
	for _, r := range l.remoteRates[t.id] {
		if now-r.seen <= l.staleAfter() {
			msgs += r.msgs
			bytes += r.bytes
			n++
		}
	}
	l.remoteMu.Unlock()
	t.otherMsgRate.Store(msgs)
	t.otherByteRate.Store(bytes)
	t.otherPublishers.Store(n)
}

// expireRemoteRates drops the rates not refreshed within three intervals
// and stores every known tenant's view.
func (l *Limits) expireRemoteRates() {
	now := l.nanotime()
	l.remoteMu.Lock()
	dropStale(l.remoteRates, now, l.staleAfter())
	l.remoteMu.Unlock()
	l.tenants.rangeAll(func(t *Tenant) bool {
		l.storeRates(t, now)
		return true
	})
}
