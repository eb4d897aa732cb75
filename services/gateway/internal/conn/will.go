package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
)

// Wills publishes will messages: at once, after a will delay, and for
// sessions that expired (the sweeper). It is safe for concurrent use.
type Wills struct {
	br    *bridge.Bridge
	store session.Store
	log   *slog.Logger
	clock func() time.Time

	mu     sync.Mutex // guards timers and closed
	timers map[session.Key]*time.Timer
	closed bool
	wg     sync.WaitGroup // running timer callbacks
}

// NewWills returns a Wills publishing through br.
func NewWills(br *bridge.Bridge, store session.Store, log *slog.Logger, clock func() time.Time) *Wills {
	return &Wills{br: br, store: store, log: log, clock: clock, timers: make(map[session.Key]*time.Timer)}
}

// Publish publishes will as a message of clientID in tenant, and stores it
// as the topic's retained message when its retain flag is set.
func (w *Wills) Publish(ctx context.Context, tenant, clientID string, will *session.Will) error {
	m := &bridge.Message{
		Tenant:      tenant,
		Topic:       will.Topic,
		Payload:     will.Payload,
		QoS:         will.QoS,
		Retain:      will.Retain,
		Origin:      clientID,
		PublishedAt: w.clock(),
	}
	if len(will.Properties) > 0 {
		p, err := decodeWillProps(will.Properties)
		if err != nil {
			return fmt.Errorf("conn: will of client %s: %w", clientID, err)
		}
		applyProps(m, &p)
	}
	if _, err := w.br.Publish(ctx, m); err != nil {
		return fmt.Errorf("conn: publish will of client %s: %w", clientID, err)
	}
	if m.Retain {
		if err := w.br.SetRetained(ctx, m); err != nil {
			return fmt.Errorf("conn: retain will of client %s: %w", clientID, err)
		}
	}
	w.log.Info(fmt.Sprintf("published the will of client %s of tenant %s to %q", clientID, tenant, will.Topic),
		"tenant_id", tenant, "client_id", clientID)
	return nil
}

// Schedule publishes will after delay unless the session was resumed or
// taken over meanwhile (its epoch changed or it is connected again)
// [MQTT-3.1.3-9].
func (w *Wills) Schedule(key session.Key, epoch uint64, will *session.Will, delay time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if old := w.timers[key]; old != nil && old.Stop() {
		w.wg.Done() // a stopped timer never runs its callback
	}
	var t *time.Timer
	w.wg.Add(1)
	t = time.AfterFunc(delay, func() {
		defer w.wg.Done()
		w.mu.Lock()
		if w.timers[key] == t {
			delete(w.timers, key)
		}
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := w.store.Load(ctx, key)
		if err != nil || st.Epoch != epoch || st.Connected {
			return // resumed, taken over or gone: the will is not due here
		}
		if err := w.store.SetWill(ctx, key, epoch, nil); err != nil {
			return // someone else claimed the session or its will
		}
		if err := w.Publish(ctx, key.Tenant, key.ClientID, will); err != nil {
			w.log.Warn("could not publish a delayed will", "tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
		}
	})
	w.timers[key] = t
}

// Cancel stops a scheduled will of key (the session was resumed).
func (w *Wills) Cancel(key session.Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t := w.timers[key]; t != nil && t.Stop() {
		delete(w.timers, key)
		w.wg.Done()
	}
}

// Close stops every scheduled will (their sessions keep the will; the
// sweeper publishes it when the session expires) and waits for running ones.
func (w *Wills) Close() {
	w.mu.Lock()
	w.closed = true
	for k, t := range w.timers {
		if t.Stop() {
			w.wg.Done()
		}
		delete(w.timers, k)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// Sweep deletes up to limit expired sessions and publishes their wills. It
// returns how many sessions it deleted.
func (w *Wills) Sweep(ctx context.Context, limit int) (int, error) {
	states, err := w.store.Expired(ctx, w.clock(), limit)
	if err != nil {
		return 0, fmt.Errorf("conn: list expired sessions: %w", err)
	}
	n := 0
	for _, st := range states {
		if err := w.store.Delete(ctx, st.Key, st.Epoch); err != nil {
			if errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound) {
				continue // resumed or removed by another sweeper
			}
			return n, fmt.Errorf("conn: delete expired session: %w", err)
		}
		n++
		w.log.Info(fmt.Sprintf("session of client %s of tenant %s expired", st.ClientID, st.Tenant),
			"tenant_id", st.Tenant, "client_id", st.ClientID)
		if st.Will != nil {
			if err := w.Publish(ctx, st.Tenant, st.ClientID, st.Will); err != nil {
				w.log.Warn("could not publish the will of an expired session", "tenant_id", st.Tenant, "client_id", st.ClientID, "err", err)
			}
		}
	}
	return n, nil
}

// RunSweeper calls Sweep every interval until ctx ends, in batches of 100;
// a full batch is followed by the next one at once.
func (w *Wills) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := w.Sweep(ctx, 100)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("session expiry sweep failed", "err", err)
			}
			if n < 100 || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// willFromConnect converts the will of a CONNECT for storage.
func willFromConnect(w *mqtt.Will, v mqtt.Version) *session.Will {
	if w == nil {
		return nil
	}
	sw := &session.Will{Topic: w.Topic, Payload: w.Payload, QoS: byte(w.QoS), Retain: w.Retain}
	if v == mqtt.V5 {
		sw.Delay = w.Properties.WillDelay
		sw.Properties = encodeWillProps(&w.Properties)
	}
	return sw
}

// encodeWillProps returns the MQTT 5 wire encoding (length included) of the
// message properties of a will, or nil when it has none.
func encodeWillProps(p *mqtt.Properties) []byte {
	q := mqtt.Properties{
		PayloadFormat:    p.PayloadFormat,
		MessageExpiry:    p.MessageExpiry,
		MessageExpirySet: p.MessageExpirySet,
		ContentType:      p.ContentType,
		ResponseTopic:    p.ResponseTopic,
		CorrelationData:  p.CorrelationData,
		UserProperties:   p.UserProperties,
	}
	b, err := mqtt.Append(nil, &mqtt.Publish{Topic: "w", Properties: q}, mqtt.V5)
	if err != nil {
		return nil
	}
	i := 1
	for b[i]&0x80 != 0 {
		i++
	}
	i += 1 + 3 // end of the remaining length, then the topic "w"
	if i >= len(b) || b[i] == 0 {
		return nil
	}
	return b[i:]
}

// decodeWillProps reverses encodeWillProps.
func decodeWillProps(props []byte) (mqtt.Properties, error) {
	body := append([]byte{0, 1, 'w'}, props...)
	pkt := []byte{0x30}
	for n := len(body); ; {
		c := byte(n & 0x7F)
		n >>= 7
		if n > 0 {
			pkt = append(pkt, c|0x80)
			continue
		}
		pkt = append(pkt, c)
		break
	}
	pkt = append(pkt, body...)
	p, _, err := mqtt.Decode(pkt, mqtt.V5, 0)
	if err != nil {
		return mqtt.Properties{}, fmt.Errorf("decode will properties: %w", err)
	}
	return p.(*mqtt.Publish).Properties, nil
}

// applyProps copies the message properties of a PUBLISH or will to m.
func applyProps(m *bridge.Message, p *mqtt.Properties) {
	m.PayloadFormat = p.PayloadFormat
	m.MessageExpiry = p.MessageExpiry
	m.ExpirySet = p.MessageExpirySet
	m.ContentType = p.ContentType
	m.ResponseTopic = p.ResponseTopic
	m.CorrelationData = p.CorrelationData
	m.UserProperties = p.UserProperties
}
