// Package gctune lowers the garbage collector's heap headroom while the
// process allocates little, and restores it when work picks up.
//
// Go's collector lets the heap grow to (1 + GOGC/100) times the live data
// before it collects, and the runtime keeps up to a tenth more than that
// from the operating system. With the default GOGC of 100 a gateway holding
// many idle connections therefore has a resident set of about 2.2 times
// its live heap. The headroom only pays for itself when the program
// allocates: a collection's cost is proportional to the live heap, and
// collections come once per GOGC percent of it allocated, so the collector's
// CPU share is proportional to allocation rate / GOGC, whatever the heap
// size. At a low allocation rate a low GOGC costs next to nothing.
//
// A Tuner samples the process's allocation rate every Interval. After
// Quiet consecutive samples below IdleRate it sets GOGC to IdlePercent
// (and runs one collection that returns the free memory to the operating
// system at once, debug.FreeOSMemory); at the first sample above twice IdleRate it restores the
// GOGC the process started with. The two rates leave room between them so
// the setting does not flap at the threshold. ADR 0009 holds the numbers.
package gctune

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config sets when and how far the headroom is lowered. The zero value
// takes the defaults; IdlePercent below 0 disables tuning.
type Config struct {
	// IdlePercent is the GOGC while the process is quiet (default 10).
	// A value at or above the process's own GOGC, or below 0, disables
	// tuning.
	IdlePercent int `json:"idle_percent"`
	// IdleRate is the allocation rate, in bytes per second, under which
	// the process counts as quiet (default 2 MiB/s: at GOGC 10 the
	// collector then runs at most once every few seconds for a live heap
	// of tens of megabytes).
	IdleRate int64 `json:"idle_rate"`
	// Interval is how often the rate is sampled (default 1s).
	Interval time.Duration `json:"interval"`
	// Quiet is how many consecutive quiet samples switch to IdlePercent
	// (default 3).
	Quiet int `json:"quiet"`
}

// Defaults.
const (
	DefaultIdlePercent = 10
	DefaultIdleRate    = 2 << 20
	DefaultInterval    = time.Second
	DefaultQuiet       = 3
)

func (c Config) withDefaults() Config {
	if c.IdlePercent == 0 {
		c.IdlePercent = DefaultIdlePercent
	}
	if c.IdleRate == 0 {
		c.IdleRate = DefaultIdleRate
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Quiet == 0 {
		c.Quiet = DefaultQuiet
	}
	return c
}

// Validate reports a setting that cannot work, naming its key.
func (c Config) Validate() error {
	switch {
	case c.IdlePercent > 1000:
		return fmt.Errorf("gctune: idle_percent %d: want at most 1000 (or below 0 to disable)", c.IdlePercent)
	case c.IdleRate < 0:
		return fmt.Errorf("gctune: idle_rate %d: want a rate in bytes per second, 0 for the default", c.IdleRate)
	case c.Interval < 0:
		return fmt.Errorf("gctune: interval %s: want a positive duration, 0 for the default", c.Interval)
	case c.Quiet < 0:
		return fmt.Errorf("gctune: quiet %d: want a count of samples, 0 for the default", c.Quiet)
	}
	return nil
}

// allocsMetric is the cumulative count of bytes allocated on the heap.
const allocsMetric = "/gc/heap/allocs:bytes"

// Tuner switches GOGC between the process's own value and the idle one.
type Tuner struct {
	cfg  Config
	base int // the GOGC the process started with
	log  *slog.Logger

	// set changes GOGC and collect runs a collection; tests replace them
	// so as not to change the test process's collector.
	set     func(int) int
	collect func()

	sample []metrics.Sample
	last   uint64 // allocated bytes at the previous sample
	quiet  int    // consecutive quiet samples
	idle   bool   // GOGC is IdlePercent
}

// New returns a Tuner, or nil when cfg disables tuning or the process runs
// with GOGC at or below cfg.IdlePercent (or off): there is nothing to lower.
func New(cfg Config, log *slog.Logger) *Tuner {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := debug.SetGCPercent(-1)
	debug.SetGCPercent(base)
	if cfg.IdlePercent < 0 || base < 0 || cfg.IdlePercent >= base {
		return nil
	}
	return &Tuner{
		cfg: cfg, base: base, log: log.With("component", "gctune"),
		set: debug.SetGCPercent, collect: debug.FreeOSMemory,
		sample: []metrics.Sample{{Name: allocsMetric}},
	}
}

// Run samples until ctx ends, then restores the process's GOGC.
func (t *Tuner) Run(ctx context.Context) {
	t.last = t.allocated()
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	defer func() {
		if t.idle {
			t.set(t.base)
		}
	}()
	prev := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-tick.C:
			// The time that really passed: a loaded machine delivers
			// ticks late.
			elapsed := max(at.Sub(prev), time.Millisecond)
			now := t.allocated()
			t.observe(float64(now-t.last) / elapsed.Seconds())
			t.last, prev = now, at
		}
	}
}

func (t *Tuner) allocated() uint64 {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return t.sample[0].Value.Uint64()
}

// observe takes one sample of the allocation rate in bytes per second.
func (t *Tuner) observe(rate float64) {
	switch {
	case t.idle && rate > 2*float64(t.cfg.IdleRate):
		t.idle, t.quiet = false, 0
		t.set(t.base)
		t.log.Debug(fmt.Sprintf("the process is busy again (allocating %s/s), so the garbage collector goes back to GOGC %d",
			mib(rate), t.base), "gogc", t.base, "alloc_rate", int64(rate))
	case !t.idle && rate < float64(t.cfg.IdleRate):
		if t.quiet++; t.quiet < t.cfg.Quiet {
			return
		}
		t.idle = true
		t.set(t.cfg.IdlePercent)
		// Collect now and hand the free memory back: left to itself, the
		// runtime keeps what lies above the new, lower goal until the next
		// collection, which a quiet process may not reach for minutes, and
		// its background scavenger returns memory only slowly.
		t.collect()
		t.log.Debug(fmt.Sprintf("the process is quiet (allocating %s/s), so the garbage collector now runs at GOGC %d to keep its memory down",
			mib(rate), t.cfg.IdlePercent), "gogc", t.cfg.IdlePercent, "alloc_rate", int64(rate))
	case !t.idle:
		t.quiet = 0
	}
}

// Idle reports whether GOGC is lowered. It must not be called while Run
// runs; tests use it after driving observe.
func (t *Tuner) Idle() bool { return t.idle }

func mib(rate float64) string { return fmt.Sprintf("%.1f MiB", rate/(1<<20)) }
