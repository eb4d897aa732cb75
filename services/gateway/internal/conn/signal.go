package conn

import (
	"context"
	"sync/atomic"
)

// signal is a one-shot event whose channel is made only when someone waits
// for it: most connections end without anybody waiting on their Done or
// dead channels, and an idle connection then holds no channel at all. The
// zero value is ready; it is safe for concurrent use.
type signal struct {
	ch     atomic.Pointer[chan struct{}] // nil until done is first called
	fired  atomic.Bool                   // fire was called
	closed atomic.Bool                   // *ch was closed (exactly once)
}

// fire marks the event as happened and closes the channel, if made.
func (s *signal) fire() {
	s.fired.Store(true)
	s.closeOnce()
}

// done returns a channel closed once fire has been called.
func (s *signal) done() <-chan struct{} {
	for {
		if p := s.ch.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if s.ch.CompareAndSwap(nil, &ch) {
			// A fire before the channel was published closes it here;
			// a later one closes it itself.
			if s.fired.Load() {
				s.closeOnce()
			}
			return ch
		}
	}
}

func (s *signal) closeOnce() {
	if p := s.ch.Load(); p != nil && s.closed.CompareAndSwap(false, true) {
		close(*p)
	}
}

// resumeRun is the goroutine that resends and replays for a resumed
// session (resume.go): finish cancels it and waits for done.
type resumeRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends
}
