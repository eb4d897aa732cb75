package gctune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"testing"
	"time"
)

// tuner returns a Tuner whose GOGC changes and collections are recorded
// instead of made, starting from base.
func tuner(t *testing.T, cfg Config, base int) (*Tuner, *[]int, *int) {
	t.Helper()
	var sets []int
	collects := 0
	tu := &Tuner{cfg: cfg.withDefaults(), base: base, log: slog.New(slog.DiscardHandler),
		set:     func(p int) int { sets = append(sets, p); return 0 },
		collect: func() { collects++ },
	}
	return tu, &sets, &collects
}

func TestTunerSwitches(t *testing.T) {
	tu, sets, collects := tuner(t, Config{IdlePercent: 20, IdleRate: 1000, Quiet: 3}, 100)
	steps := []struct {
		rate     float64
		wantIdle bool
	}{
		{5000, false}, // busy
		{10, false},   // quiet 1
		{10, false},   // quiet 2
		{5000, false}, // busy again: the quiet count starts over
		{10, false},
		{10, false},
		{10, true},   // third quiet sample in a row: idle
		{1500, true}, // above IdleRate but not twice it: stays idle
		{10, true},
		{2500, false}, // above twice IdleRate: busy
		{10, false},
	}
	for i, s := range steps {
		tu.observe(s.rate)
		if tu.Idle() != s.wantIdle {
			t.Fatalf("step %d (rate %g): idle = %v, want %v", i, s.rate, tu.Idle(), s.wantIdle)
		}
	}
	if want := []int{20, 100}; len(*sets) != 2 || (*sets)[0] != want[0] || (*sets)[1] != want[1] {
		t.Errorf("GOGC set to %v, want %v", *sets, want)
	}
	if *collects != 1 {
		t.Errorf("%d collections on going idle, want 1", *collects)
	}
}

func TestRunRestoresOnExit(t *testing.T) {
	sets := make(chan int, 16)
	tu := &Tuner{
		cfg:  Config{IdlePercent: 20, IdleRate: 1 << 40, Interval: time.Millisecond, Quiet: 1}.withDefaults(),
		base: 100, log: slog.New(slog.DiscardHandler), set: func(p int) int { sets <- p; return 0 }, collect: func() {},
		sample: New(Config{}, nil).sample,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tu.Run(ctx); close(done) }()
	// Any real allocation rate is under 1 TiB/s: the first sample is quiet.
	if got := <-sets; got != 20 {
		t.Fatalf("first GOGC set to %d, want 20", got)
	}
	cancel()
	<-done
	if got := <-sets; got != 100 {
		t.Errorf("GOGC set to %d when Run ended, want 100 restored", got)
	}
}

func TestNewDisabled(t *testing.T) {
	base := debug.SetGCPercent(-1)
	debug.SetGCPercent(base)
	if base <= 1 {
		t.Skipf("the test process runs with GOGC %d: nothing to lower", base)
	}
	if New(Config{IdlePercent: -1}, nil) != nil {
		t.Error("New with idle_percent -1 returned a Tuner")
	}
	if New(Config{IdlePercent: base}, nil) != nil {
		t.Errorf("New with idle_percent equal to GOGC %d returned a Tuner", base)
	}
	if New(Config{IdlePercent: base / 2}, nil) == nil {
		t.Errorf("New with idle_percent %d under GOGC %d returned nil", base/2, base)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{IdlePercent: 1001}, {IdleRate: -1}, {Interval: -time.Second}, {Quiet: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate of the zero Config: %v", err)
	}
}
