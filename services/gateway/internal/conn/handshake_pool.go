package conn

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// handshakePool runs handshakes on goroutines that outlive them.
//
// A handshake (token verification, session claim, the first log lines)
// needs a stack of about 8 KiB. On a fresh goroutine, which starts with
// 2 KiB, the runtime grows and copies the stack twice per CONNECT; during a
// reconnect storm that was about a sixth of the gateway's CPU. A pool
// worker keeps its grown stack from one handshake to the next, so the
// copies happen once per worker instead of once per CONNECT.
//
// The pool never queues: run hands the job to a worker that is waiting
// for one, starts a new worker when fewer than max exist, and otherwise
// runs the job on a goroutine of its own, as without a pool. A handshake
// that blocks (a slow session store, an MQTT 5 AUTH exchange) therefore
// never delays another. A worker that has waited idle for the idle
// duration exits, so the workers of a burst go away with it, and none is
// left running long after the gateway stops. The caller of run owns the
// job and waits for it; the pool owns only the workers.
//
// A handshakePool is safe for concurrent use. The zero value is not
// usable; see newHandshakePool.
type handshakePool struct {
	jobs    chan poolJob // unbuffered: a send succeeds only when a worker waits on it
	workers atomic.Int32 // workers running, idle or not
	max     int32
	idle    time.Duration
}

// newHandshakePool returns a pool of at most max workers, each of which
// exits after waiting idle for idle.
func newHandshakePool(max int, idle time.Duration) *handshakePool {
	return &handshakePool{jobs: make(chan poolJob), max: int32(max), idle: idle}
}

// poolJob is what the pool runs: *handshakeJob, or another job in tests.
type poolJob interface{ runJob() }

// handshakeJob is one handshake handed to the pool: the connection, and
// its result once done is released. It is the one allocation of the
// hand-off.
type handshakeJob struct {
	c      *Conn
	done   sync.WaitGroup
	reason CloseReason
	err    error
}

// newHandshakeJob returns the job of c's handshake, not yet done.
func newHandshakeJob(c *Conn) *handshakeJob {
	j := &handshakeJob{c: c}
	j.done.Add(1)
	return j
}

// runJob runs j and marks it done.
func (j *handshakeJob) runJob() {
	defer j.done.Done()
	j.reason, j.err = j.c.handshake()
}

// handshakes is the pool of every connection of the process. During a
// reconnect storm many handshakes are runnable at once, waiting for a core;
// with 16 workers per core (at least 32, 256 KiB of stacks in all) three
// in four of them ran on a worker in the storm benchmark, against half
// with 4 per core. The rest run on goroutines of their own.
var handshakes = newHandshakePool(max(32, 16*runtime.GOMAXPROCS(0)), time.Second)

// run runs job on a pool worker or, when none is free and the pool is
// full, on a new goroutine. It does not wait for job to finish (the
// caller of a *handshakeJob waits on its done).
func (p *handshakePool) run(job poolJob) {
	select {
	case p.jobs <- job:
		return
	default:
	}
	if p.workers.Add(1) <= p.max {
		go p.work(job)
		return
	}
	p.workers.Add(-1)
	go job.runJob()
}

// work runs job, then further jobs from the pool until it has waited idle
// for p.idle.
func (p *handshakePool) work(job poolJob) {
	defer p.workers.Add(-1)
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		job.runJob()
		job = nil // the caller owns it again
		idle.Reset(p.idle)
		select {
		case job = <-p.jobs:
		case <-idle.C:
			return
		}
	}
}
