package bridge

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// stateReads coalesces the reads of one tenant's durable stream state.
// When NATS drops messages for many subscriptions at once (a gateway that
// fell behind), every one of them opens a gap-fill window, and each needs
// the stream's state as it is after its drops: one JetStream API request
// each could swamp the API, the very thing durable state as keys avoids
// (ADR 0002). A read may share the answer of a request issued after it
// was asked for, which is as fresh as its own would have been, but not
// the answer of one already on its way.
type stateReads struct {
	mu     sync.Mutex
	ticket uint64       // counts callers and requests; guarded by mu
	flight *stateFlight // the request on its way, nil when none; guarded by mu
	issued atomic.Int64
}

// stateFlight is one stream-state request and its answer.
type stateFlight struct {
	start uint64 // ticket when it was issued
	done  chan struct{}
	state jetstream.StreamState
	err   error
}

// freshState returns the state of tenant's durable stream as read by a
// request issued after the call began.
func (b *Bridge) freshState(ctx context.Context, tenant string) (jetstream.StreamState, error) {
	r := &b.tenant(tenant).state
	r.mu.Lock()
	r.ticket++
	asked := r.ticket
	for {
		f := r.flight
		if f == nil {
			r.ticket++
			f = &stateFlight{start: r.ticket, done: make(chan struct{})}
			r.flight = f
			r.mu.Unlock()
			r.issued.Add(1)
			f.state, f.err = b.streamState(ctx, queueStream(tenant))
			r.mu.Lock()
			r.flight = nil
			r.mu.Unlock()
			close(f.done)
			return f.state, f.err
		}
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return jetstream.StreamState{}, classify(ctx.Err())
		}
		if f.start > asked {
			return f.state, f.err // issued after this call began
		}
		r.mu.Lock() // it was already on its way: wait for a later one
	}
}
