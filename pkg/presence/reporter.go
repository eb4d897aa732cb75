package presence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// flushTimeout bounds the final write of pending updates when Run stops.
const flushTimeout = 5 * time.Second

// maxCASAttempts bounds the compare-and-set retries of one device write.
const maxCASAttempts = 10

// shrinkQueued is the size above which the emptied queue set is made anew.
const shrinkQueued = 1024

// device identifies a device across tenants.
type device struct{ tid, did string }

func (d device) key() string { return DeviceKey(d.tid, d.did) }

// localConn is one client id of a device held by this gateway. n counts
// the connections using the client id, so that a take-over on this gateway
// (new connection reported before or after the old one ends) is counted
// right whatever the order of the calls. It holds only what differs from
// one connection to the next (the gateway and instance are the Reporter's):
// a gateway keeps one per connected device.
type localConn struct {
	clientID    string
	remoteAddr  string
	connectedAt int64 // Unix nanoseconds: a time.Time would take 16 bytes more per device
	protocol    int32
	n           int32
}

// connection returns lc as reported by the Reporter r.
func (r *Reporter) connection(lc *localConn) Connection {
	return Connection{
		ClientID: lc.clientID, Gateway: r.cfg.GatewayID, Instance: r.instance,
		RemoteAddr: lc.remoteAddr, Protocol: int(lc.protocol), ConnectedAt: time.Unix(0, lc.connectedAt).UTC(),
	}
}

// disconnect is the latest disconnection of a device not yet written.
type disconnect struct {
	reason string
	at     time.Time
	conn   Connection // the connection that ended
}

// Reporter writes the presence of one gateway's devices. Connected and
// Disconnected are safe for concurrent use, never block on the network and
// may be called before Run; Run does the writing.
//
// Lock order: mu is a leaf lock; nothing is called with it held.
type Reporter struct {
	js       jetstream.JetStream
	cfg      Config
	log      *slog.Logger
	instance string // random id of this start of the gateway

	wake chan struct{} // cap 1: a device was queued

	mu       sync.Mutex
	local    map[device][]localConn // guarded by mu: the gateway's connections, one per client id (usually one per device)
	pending  map[device]disconnect  // guarded by mu: disconnections not yet written
	queue    []device               // guarded by mu: devices to write, FIFO
	queued   map[device]bool        // guarded by mu: members of queue
	peak     int                    // guarded by mu: the most members queued has held since it was made
	inflight map[device]bool        // guarded by mu: devices a worker is writing; true = queue again after
	backlog  []device               // guarded by mu: devices to rewrite after an overflow, taken when queue is empty
	resync   bool                   // guarded by mu: an update was dropped; rewrite everything once drained
	dropped  int                    // guarded by mu: updates dropped since the last resync

	pace   *rate.Limiter      // device writes per second; nil when unpaced
	kv     jetstream.KeyValue // set by Run before the workers start; read only by the workers
	writes int64              // guarded by mu: device records written (tests observe coalescing)
}

// NewReporter returns a Reporter for the gateway cfg.GatewayID. log may be
// nil.
func NewReporter(js jetstream.JetStream, cfg Config, log *slog.Logger) (*Reporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.GatewayID == "" {
		return nil, fmt.Errorf("presence: gateway_id is required: %w", ErrInvalidID)
	}
	if js == nil {
		return nil, errors.New("presence: no JetStream context")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	var pace *rate.Limiter
	if cfg.MaxWritesPerSecond > 0 {
		pace = rate.NewLimiter(rate.Limit(cfg.MaxWritesPerSecond), max(cfg.MaxWritesPerSecond/10, 1))
	}
	return &Reporter{
		pace:     pace,
		js:       js,
		cfg:      cfg,
		log:      log.With("component", "presence", "gateway", cfg.GatewayID),
		instance: tenant.RandomString(12),
		wake:     make(chan struct{}, 1),
		local:    make(map[device][]localConn),
		pending:  make(map[device]disconnect),
		queued:   make(map[device]bool),
		inflight: make(map[device]bool),
	}, nil
}

// Connected records a new connection of s.DeviceID in tenant s.TenantID on
// this gateway. s.ClientID defaults to the device id and must belong to the
// device ("<device>" or "<device>:<suffix>"); s.Protocol must be 3, 4 or 5;
// a zero s.ConnectedAt means now. Gateway, connection and disconnection
// fields of s are ignored. It returns an ErrInvalidID error for bad ids and
// otherwise never fails: the write happens later, in Run. ctx is unused;
// it is there for tracing.
func (r *Reporter) Connected(_ context.Context, s Status) error {
	if err := checkDevice(s.TenantID, s.DeviceID); err != nil {
		return err
	}
	if s.ClientID == "" {
		s.ClientID = s.DeviceID
	}
	if !tenant.ClientIDBelongs(s.ClientID, s.DeviceID) {
		return fmt.Errorf("presence: client id %q does not belong to device %q: %w", s.ClientID, s.DeviceID, ErrInvalidID)
	}
	if s.Protocol < 3 || s.Protocol > 5 {
		return fmt.Errorf("presence: protocol level %d: want 3, 4 or 5", s.Protocol)
	}
	if s.ConnectedAt.IsZero() {
		s.ConnectedAt = r.cfg.Now()
	}
	d := device{s.TenantID, s.DeviceID}
	c := localConn{clientID: s.ClientID, remoteAddr: s.RemoteAddr, connectedAt: s.ConnectedAt.UnixNano(), protocol: int32(s.Protocol)}
	r.mu.Lock()
	conns := r.local[d]
	i := slices.IndexFunc(conns, func(lc localConn) bool { return lc.clientID == c.clientID })
	if i < 0 {
		i = len(conns)
		conns = append(conns, localConn{})
		r.local[d] = conns
	}
	lc := &conns[i]
	if n := lc.n + 1; n == 1 || c.connectedAt >= lc.connectedAt {
		c.n = n
		*lc = c
	} else {
		lc.n = n
	}
	first := r.enqueueLocked(d)
	r.mu.Unlock()
	r.afterEnqueue(first)
	return nil
}

// Disconnected records the end of a connection of device did with the
// client id (empty means the device id), for a reason written as a
// sentence ("keepalive of 60s expired"), at the given time (zero means
// now). A client id not reported Connected on this gateway is ignored.
func (r *Reporter) Disconnected(_ context.Context, tid, did, clientID, reason string, at time.Time) error {
	if err := checkDevice(tid, did); err != nil {
		return err
	}
	if clientID == "" {
		clientID = did
	}
	if !tenant.ClientIDBelongs(clientID, did) {
		return fmt.Errorf("presence: client id %q does not belong to device %q: %w", clientID, did, ErrInvalidID)
	}
	if at.IsZero() {
		at = r.cfg.Now()
	}
	d := device{tid, did}
	r.mu.Lock()
	conns := r.local[d]
	i := slices.IndexFunc(conns, func(lc localConn) bool { return lc.clientID == clientID })
	if i < 0 {
		r.mu.Unlock()
		return nil
	}
	ended := r.connection(&conns[i])
	if conns[i].n--; conns[i].n == 0 {
		if conns = slices.Delete(conns, i, i+1); len(conns) == 0 {
			delete(r.local, d)
		} else {
			r.local[d] = conns
		}
	}
	r.pending[d] = disconnect{reason: reason, at: at.UTC(), conn: ended}
	first := r.enqueueLocked(d)
	r.mu.Unlock()
	r.afterEnqueue(first)
	return nil
}

// enqueueLocked marks d for writing. It reports whether this call is the
// first to overflow the queue since it last drained.
func (r *Reporter) enqueueLocked(d device) (firstOverflow bool) {
	if again, ok := r.inflight[d]; ok {
		if !again {
			r.inflight[d] = true
		}
		return false
	}
	if r.queued[d] {
		return false
	}
	if len(r.queue) >= r.cfg.QueueSize {
		r.dropped++
		first := !r.resync
		r.resync = true
		return first
	}
	r.queue = append(r.queue, d)
	r.queued[d] = true
	r.peak = max(r.peak, len(r.queued))
	return false
}

func (r *Reporter) afterEnqueue(firstOverflow bool) {
	if firstOverflow {
		r.log.Warn("the presence write queue is full, so device status updates are being dropped; every device will be rewritten once the queue drains",
			"queue_size", r.cfg.QueueSize)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run opens the bucket (creating it if missing), refreshes the gateway's
// heartbeat every Heartbeat and writes queued updates until ctx ends. Then
// it writes what is still queued (for at most 5s) and deletes the
// heartbeat, so readers see at once that the gateway's remaining
// connections are gone. It returns nil when ctx ends, or an error if the
// bucket cannot be opened before that. Call Run once.
func (r *Reporter) Run(ctx context.Context) error {
	kv, err := r.open(ctx)
	if err != nil {
		return err
	}
	r.kv = kv
	started := r.cfg.Now().UTC()
	r.beat(ctx, started)

	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() { r.work(wctx) })
	}
	r.log.Info("reporting device presence", "bucket", r.cfg.Bucket, "heartbeat", r.cfg.Heartbeat, "instance", r.instance)

	t := time.NewTicker(r.cfg.Heartbeat)
	for loop := true; loop; {
		select {
		case <-ctx.Done():
			loop = false
		case <-t.C:
			r.beat(ctx, started)
		}
	}
	t.Stop()
	stopWorkers()
	wg.Wait()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	for {
		d, ok := r.pop()
		if !ok {
			break
		}
		if err := r.write(fctx, d); err != nil {
			r.log.Warn("could not write device presence while stopping", "tenant_id", d.tid, "device_id", d.did, "err", err)
			r.done(d)
			break
		}
		r.done(d)
	}
	if err := kv.Delete(fctx, GatewayKey(r.cfg.GatewayID)); err != nil {
		r.log.Warn("could not delete the gateway heartbeat while stopping", "err", err)
	}
	return nil
}

// open opens the bucket, retrying with backoff until ctx ends.
func (r *Reporter) open(ctx context.Context) (jetstream.KeyValue, error) {
	backoff := 100 * time.Millisecond
	for {
		kv, err := openBucket(ctx, r.js, r.cfg.Bucket)
		if err == nil {
			return kv, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		r.log.Warn("could not open the presence bucket; retrying", "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return nil, err
		}
		backoff = min(2*backoff, r.cfg.Heartbeat)
	}
}

// beat writes the gateway's heartbeat.
func (r *Reporter) beat(ctx context.Context, started time.Time) {
	hb, _ := json.Marshal(heartbeat{Gateway: r.cfg.GatewayID, Instance: r.instance, Interval: r.cfg.Heartbeat, StartedAt: started})
	if _, err := r.kv.Put(ctx, GatewayKey(r.cfg.GatewayID), hb); err != nil && ctx.Err() == nil {
		r.log.Warn("could not refresh the gateway heartbeat; readers will consider this gateway's devices disconnected if this lasts",
			"err", err)
	}
}

// work is one writer goroutine.
func (r *Reporter) work(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		d, ok := r.pop()
		if !ok {
			if r.takeResync() {
				r.resynchronise(ctx)
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			}
			continue
		}
		if r.pace != nil {
			if err := r.pace.Wait(ctx); err != nil {
				r.requeue(d)
				return // ctx ended
			}
		}
		err := r.write(ctx, d)
		if err != nil {
			r.requeue(d)
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("could not write device presence; retrying", "tenant_id", d.tid, "device_id", d.did, "err", err, "retry_in", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, r.cfg.Heartbeat)
			continue
		}
		backoff = 50 * time.Millisecond
		r.done(d)
	}
}

// pop takes the next device to write, from the queue first and then from
// the backlog, and marks it in flight.
func (r *Reporter) pop() (device, bool) {
	r.mu.Lock()
	d, ok := r.popLocked()
	more := len(r.queue) > 0 || len(r.backlog) > 0
	r.mu.Unlock()
	if more {
		// Wake another worker for the rest.
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return d, ok
}

func (r *Reporter) popLocked() (device, bool) {
	if len(r.queue) > 0 {
		d := r.queue[0]
		r.queue = r.queue[1:]
		delete(r.queued, d)
		r.inflight[d] = false
		return d, true
	}
	r.queue = r.queue[:0:0]
	if r.peak > shrinkQueued {
		// A Go map never shrinks: after a storm of connections the
		// empty set would keep its largest table for good.
		r.queued, r.peak = make(map[device]bool), 0
	}
	for len(r.backlog) > 0 {
		d := r.backlog[len(r.backlog)-1]
		r.backlog = r.backlog[:len(r.backlog)-1]
		if _, busy := r.inflight[d]; busy {
			r.inflight[d] = true // written again after the current write
			continue
		}
		r.inflight[d] = false
		return d, true
	}
	r.backlog = nil
	return device{}, false
}

// done ends the write of d, queueing it again if it changed meanwhile.
func (r *Reporter) done(d device) {
	r.mu.Lock()
	again := r.inflight[d]
	delete(r.inflight, d)
	var first bool
	if again {
		first = r.enqueueLocked(d)
	}
	r.mu.Unlock()
	if again {
		r.afterEnqueue(first)
	}
}

// requeue ends a failed write of d and queues it again.
func (r *Reporter) requeue(d device) {
	r.mu.Lock()
	r.inflight[d] = true
	r.mu.Unlock()
	r.done(d)
}

// takeResync reports whether a resynchronisation is due (an update was
// dropped and the queue has drained) and clears the flag.
func (r *Reporter) takeResync() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.resync || len(r.queue) > 0 || len(r.backlog) > 0 {
		return false
	}
	r.resync = false
	if r.dropped > 0 {
		r.log.Info("the presence write queue has drained; rewriting every device of this gateway", "dropped_updates", r.dropped)
	}
	r.dropped = 0
	return true
}

// resynchronise puts every device this gateway holds, or that the bucket
// says it holds, in the backlog, which the workers drain when the queue is
// empty (so the rewrite itself never overflows the queue).
func (r *Reporter) resynchronise(ctx context.Context) {
	var all []device
	r.mu.Lock()
	for d := range r.local {
		all = append(all, d)
	}
	r.mu.Unlock()
	mine, err := r.storedHere(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("could not scan the presence bucket for this gateway's devices; will retry", "err", err)
			r.mu.Lock()
			r.resync = true
			r.mu.Unlock()
		}
	}
	seen := make(map[device]bool, len(all)+len(mine))
	r.mu.Lock()
	for _, d := range append(all, mine...) {
		if !seen[d] {
			seen[d] = true
			r.backlog = append(r.backlog, d)
		}
	}
	r.mu.Unlock()
}

// storedHere lists the devices whose stored record names a connection on
// this gateway.
func (r *Reporter) storedHere(ctx context.Context) ([]device, error) {
	w, err := r.kv.Watch(ctx, "devices.>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("presence: scan devices: %w", err)
	}
	defer w.Stop()
	var out []device
	for {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return out, errors.New("presence: scan devices: the watcher stopped")
			}
			if e == nil {
				return out, nil
			}
			var st Status
			if json.Unmarshal(e.Value(), &st) != nil {
				continue
			}
			for _, c := range st.Connections {
				if c.Gateway == r.cfg.GatewayID {
					if d, ok := parseDeviceKey(e.Key()); ok {
						out = append(out, d)
					}
					break
				}
			}
		}
	}
}

func parseDeviceKey(k string) (device, bool) {
	parts := strings.Split(k, ".")
	if len(parts) != 3 || parts[0] != "devices" || checkDevice(parts[1], parts[2]) != nil {
		return device{}, false
	}
	return device{parts[1], parts[2]}, true
}

// write stores d's status: it merges this gateway's current connections
// into the stored record with compare-and-set.
func (r *Reporter) write(ctx context.Context, d device) error {
	r.mu.Lock()
	disc, hasDisc := r.pending[d]
	delete(r.pending, d)
	r.mu.Unlock()
	err := r.writeCAS(ctx, d, disc, hasDisc)
	if err != nil && hasDisc {
		r.mu.Lock()
		if _, newer := r.pending[d]; !newer {
			r.pending[d] = disc
		}
		r.mu.Unlock()
	}
	return err
}

func (r *Reporter) writeCAS(ctx context.Context, d device, disc disconnect, hasDisc bool) error {
	key := d.key()
	for range maxCASAttempts {
		var cur Status
		var rev uint64
		e, err := r.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("presence: read %s: %w", key, err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				r.log.Warn("a stored device status does not decode; replacing it", "key", key, "err", err)
				cur = Status{}
			}
		}
		r.mu.Lock()
		var mine []Connection
		for i := range r.local[d] {
			mine = append(mine, r.connection(&r.local[d][i]))
		}
		r.mu.Unlock()
		if rev == 0 && len(mine) == 0 && !hasDisc {
			return nil // never stored and nothing to say
		}
		next, err := r.merge(ctx, d, cur, mine, disc, hasDisc)
		if err != nil {
			return err
		}
		if rev != 0 && sameStatus(cur, next) {
			return nil
		}
		data, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("presence: encode %s: %w", key, err)
		}
		switch {
		case rev == 0 && len(mine) == 0:
			// Only a disconnection to record, and no record: write one only
			// if the key never held any. Expecting revision 0 fails on the
			// marker Reader.Forget leaves, so a deleted device's record is
			// not brought back by the end of its last connection.
			_, err = r.kv.Update(ctx, key, data, 0)
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
				if _, gerr := r.kv.Get(ctx, key); errors.Is(gerr, jetstream.ErrKeyNotFound) {
					return nil // forgotten: nothing to record
				}
			}
		case rev == 0:
			_, err = r.kv.Create(ctx, key, data)
		default:
			_, err = r.kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			r.mu.Lock()
			r.writes++
			r.mu.Unlock()
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("presence: write %s: %w", key, err)
		}
		// Another gateway wrote the record meanwhile: merge again.
	}
	return fmt.Errorf("presence: write %s: gave up after %d conflicting concurrent updates", key, maxCASAttempts)
}

// merge returns the record to store: cur with this gateway's connections
// replaced by mine, other live gateways' connections kept, and the pending
// disconnection recorded.
func (r *Reporter) merge(ctx context.Context, d device, cur Status, mine []Connection, disc disconnect, hasDisc bool) (Status, error) {
	now := r.cfg.Now().UTC()
	gws := newGateways(r.kv)
	byClient := make(map[string]Connection, len(mine))
	for _, c := range mine {
		byClient[c.ClientID] = c
	}
	next := cur
	next.TenantID, next.DeviceID = d.tid, d.did
	next.Connections = nil
	var dead string
	for _, c := range cur.Connections {
		if c.Gateway == r.cfg.GatewayID {
			continue // replaced by mine (older instances of this gateway are gone)
		}
		if m, ok := byClient[c.ClientID]; ok {
			if !c.ConnectedAt.After(m.ConnectedAt) {
				continue // taken over by the newer connection here
			}
			delete(byClient, c.ClientID) // taken over by the newer connection there
		}
		s, err := gws.state(ctx, c.Gateway)
		if err != nil {
			return Status{}, err
		}
		if !s.alive(c.Instance, now) {
			dead = c.Gateway
			continue
		}
		next.Connections = append(next.Connections, c)
	}
	for _, c := range mine {
		if _, ok := byClient[c.ClientID]; ok {
			next.Connections = append(next.Connections, c)
		}
	}
	settle(&next)
	switch {
	case hasDisc:
		at := disc.at
		next.DisconnectedAt = &at
		next.LastDisconnectReason = disc.reason
		if !next.Connected && !disc.conn.ConnectedAt.Before(next.ConnectedAt) {
			// The connection may have come and gone before any write.
			c := disc.conn
			next.ClientID, next.Gateway, next.RemoteAddr, next.Protocol, next.ConnectedAt = c.ClientID, c.Gateway, c.RemoteAddr, c.Protocol, c.ConnectedAt
		}
	case !next.Connected && cur.Connected && dead != "":
		next.DisconnectedAt = &now
		next.LastDisconnectReason = fmt.Sprintf("gateway %s stopped responding", dead)
	}
	next.UpdatedAt = now
	return next, nil
}

// sameStatus reports whether a and b differ only in UpdatedAt.
func sameStatus(a, b Status) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// sleep waits for d or ctx; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
