package conn

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// checkFor polls cond until it returns nil or d passes.
func checkFor(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jobOf is a pool job that runs a function instead of a handshake.
type jobOf func()

func (f jobOf) runJob() { f() }

func TestHandshakePoolRunsEveryJob(t *testing.T) {
	p := newHandshakePool(3, 50*time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := map[int]bool{}
	for i := range 100 {
		wg.Add(1)
		p.run(jobOf(func() {
			defer wg.Done()
			mu.Lock()
			ran[i] = true
			mu.Unlock()
		}))
	}
	wg.Wait()
	if len(ran) != 100 {
		t.Fatalf("%d of 100 jobs ran", len(ran))
	}
	if n := p.workers.Load(); n > 3 {
		t.Errorf("%d workers, want at most 3", n)
	}
	// Idle workers exit.
	checkFor(t, 5*time.Second, func() error {
		if n := p.workers.Load(); n != 0 {
			return fmt.Errorf("%d workers still running after the pool went idle", n)
		}
		return nil
	})
}

// TestHandshakePoolNeverQueues checks that a job never waits behind
// another: with every worker blocked, the next job runs at once on a
// goroutine of its own.
func TestHandshakePoolNeverQueues(t *testing.T) {
	p := newHandshakePool(2, time.Minute)
	release := make(chan struct{})
	var blocked sync.WaitGroup
	for range 2 {
		blocked.Add(1)
		p.run(jobOf(func() {
			blocked.Done()
			<-release
		}))
	}
	blocked.Wait()
	done := make(chan struct{})
	p.run(jobOf(func() { close(done) }))
	<-done // hangs (and the test times out) if the job waits for a worker
	if n := p.workers.Load(); n != 2 {
		t.Errorf("%d workers, want 2 (the third job ran outside the pool)", n)
	}
	close(release)

	// A free worker takes the next job instead of a new goroutine.
	checkFor(t, 5*time.Second, func() error {
		ran := make(chan struct{})
		p.run(jobOf(func() { close(ran) }))
		<-ran
		if n := p.workers.Load(); n != 2 {
			return fmt.Errorf("%d workers after the blocked jobs ended, want the same 2", n)
		}
		return nil
	})
}
