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
// sessions that expired. It is safe for concurrent use.
//
// A delayed will is durable state of its session: the store lists it
// through DueWills once its delay has passed, and hands it out through
// TakeWill to exactly one caller. The gateway that disconnected the
// session keeps a timer (Schedule) only to publish it on time; the will
// sweeper (RunSweeper) of every gateway publishes the wills whose timer
// is gone with its gateway, within one sweep interval of their due time
// [MQTT-3.1.3-9].
type Wills struct {
	br    *bridge.Bridge
	store session.Store
	log   *slog.Logger
	clock func() time.Time

	mu     sync.Mutex // guards timers, closed and pace
	timers map[session.Key]*time.Timer
	closed bool
	pace   func(context.Context) error // nil: delayed wills found by Sweep go unpaced
	wg     sync.WaitGroup              // running timer callbacks
}

// NewWills returns a Wills publishing through br.
func NewWills(br *bridge.Bridge, store session.Store, log *slog.Logger, clock func() time.Time) *Wills {
	return &Wills{br: br, store: store, log: log, clock: clock, timers: make(map[session.Key]*time.Timer)}
}

// SetPacer makes Sweep call wait before it takes each delayed will, so
// that the wills of many sessions due at the same moment (a gateway that
// stopped with thousands of connections) are spread out. wait blocks until
// the next will may go, or returns an error when ctx ends.
func (w *Wills) SetPacer(wait func(ctx context.Context) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pace = wait
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

// Schedule publishes the will stored in the session at key after delay,
// unless the session was resumed, taken over or ended meanwhile (its epoch
// changed) or another gateway's sweeper took the will first
// [MQTT-3.1.3-9]. The store decides: the timer only asks it for the will
// at the due time, so a will whose timer is lost with this gateway is
// still published by a sweeper.
func (w *Wills) Schedule(key session.Key, epoch uint64, delay time.Duration) {
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
		w.fire(key, epoch)
	})
	w.timers[key] = t
}

// fire takes the will of the session at key, if it is still the one
// disconnected with epoch and its will is due, and publishes it. A timer
// that ran a moment before the due time the store recorded is set again
// for the rest.
func (w *Wills) fire(key session.Key, epoch uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := w.clock()
	will, err := w.store.TakeWill(ctx, key, epoch, now)
	switch {
	case errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound):
		return // resumed, taken over, ended, or the will taken by a sweeper
	case err != nil:
		w.log.Warn("could not take a delayed will from the session store; a will sweeper will publish it",
			"tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
		return
	case will == nil:
		st, err := w.store.Load(ctx, key)
		if err != nil || st.Epoch != epoch {
			return
		}
		if due, ok := st.WillDueAt(); ok && due.After(now) {
			w.Schedule(key, epoch, due.Sub(now))
		}
		return
	}
	if err := w.Publish(ctx, key.Tenant, key.ClientID, will); err != nil {
		w.log.Warn("could not publish a delayed will", "tenant_id", key.Tenant, "client_id", key.ClientID, "err", err)
	}
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

// Close stops every scheduled will and waits for running ones. The wills
// stay stored in their sessions: the will sweeper of any gateway
// publishes each when due.
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

// Sweep ends up to limit expired sessions, publishing their wills, then
// takes and publishes up to limit delayed wills that are due
// [MQTT-3.1.3-9]. Only the caller whose Delete or TakeWill succeeds
// publishes, so the sweepers of several gateways never publish a will
// twice. more reports that a listing was full: more may be due already.
func (w *Wills) Sweep(ctx context.Context, limit int) (more bool, err error) {
	n, err := w.sweepExpired(ctx, limit)
	if err != nil {
		return false, err
	}
	m, err := w.sweepDelayed(ctx, limit)
	if err != nil {
		return false, err
	}
	return n >= limit || m >= limit, nil
}

// sweepExpired deletes up to limit expired sessions and publishes their
// wills. It returns how many sessions were listed.
func (w *Wills) sweepExpired(ctx context.Context, limit int) (int, error) {
	states, err := w.store.Expired(ctx, w.clock(), limit)
	if err != nil {
		return 0, fmt.Errorf("conn: list expired sessions: %w", err)
	}
	for _, st := range states {
		if err := w.store.Delete(ctx, st.Key, st.Epoch); err != nil {
			if errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound) {
				continue // resumed, its will taken, or removed by another sweeper
			}
			return len(states), fmt.Errorf("conn: delete expired session: %w", err)
		}
		w.log.Info(fmt.Sprintf("session of client %s of tenant %s expired", st.ClientID, st.Tenant),
			"tenant_id", st.Tenant, "client_id", st.ClientID)
		if st.Will != nil {
			if err := w.Publish(ctx, st.Tenant, st.ClientID, st.Will); err != nil {
				w.log.Warn("could not publish the will of an expired session", "tenant_id", st.Tenant, "client_id", st.ClientID, "err", err)
			}
		}
	}
	return len(states), nil
}

// sweepDelayed takes and publishes up to limit delayed wills that are due,
// paced by the pacer, if any. It returns how many sessions were listed.
func (w *Wills) sweepDelayed(ctx context.Context, limit int) (int, error) {
	states, err := w.store.DueWills(ctx, w.clock(), limit)
	if err != nil {
		return 0, fmt.Errorf("conn: list due wills: %w", err)
	}
	w.mu.Lock()
	pace := w.pace
	w.mu.Unlock()
	for _, st := range states {
		if pace != nil {
			if err := pace(ctx); err != nil {
				return len(states), err
			}
		}
		will, err := w.store.TakeWill(ctx, st.Key, st.Epoch, w.clock())
		switch {
		case errors.Is(err, session.ErrFenced) || errors.Is(err, session.ErrNotFound):
			continue // resumed, ended, or taken by another gateway
		case err != nil:
			return len(states), fmt.Errorf("conn: take a due will: %w", err)
		case will == nil:
			continue
		}
		if err := w.Publish(ctx, st.Tenant, st.ClientID, will); err != nil {
			w.log.Warn("could not publish a delayed will", "tenant_id", st.Tenant, "client_id", st.ClientID, "err", err)
		}
	}
	return len(states), nil
}

// RunSweeper calls Sweep every interval until ctx ends, in batches of 100;
// a full batch is followed by the next one at once.
func (w *Wills) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			more, err := w.Sweep(ctx, 100)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("the sweep of expired sessions and due wills failed", "err", err)
			}
			if !more || err != nil || ctx.Err() != nil {
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
