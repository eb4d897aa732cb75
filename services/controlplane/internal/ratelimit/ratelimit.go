package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStream is the stream the counters live in.
const DefaultStream = "FLOCK_RATES"

// MaxPeriod is the longest window a Counter accepts.
const MaxPeriod = time.Hour

// maxBytes bounds the stream: when full, the oldest counters (past
// windows) go first.
const maxBytes = 64 << 20

// ErrUnsupported is returned by Open when the NATS server cannot keep
// message counters (it is older than 2.12).
var ErrUnsupported = errors.New("ratelimit: the NATS server does not support message counters (nats-server 2.12 or later is needed)")

// Config configures a Counter. The zero value means the defaults.
type Config struct {
	// Stream names the JetStream stream; default DefaultStream.
	Stream string `json:"stream"`
	// Replicas of the stream when Open creates it; default 1.
	Replicas int `json:"replicas"`
	// MaxPeriod is the longest window this instance counts in; the stream
	// keeps counters for twice the longest window of any instance (Open
	// raises its age limit, never lowers it). Default one second.
	MaxPeriod time.Duration `json:"max_period"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Stream != "" && !validToken(c.Stream) {
		return fmt.Errorf("ratelimit: stream: %q is not a valid stream name (A-Z a-z 0-9 _ -)", c.Stream)
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("ratelimit: replicas: %d is outside 1..5", c.Replicas)
	}
	if c.MaxPeriod < 0 || c.MaxPeriod > MaxPeriod {
		return fmt.Errorf("ratelimit: max_period: %s is outside 0..%s", c.MaxPeriod, MaxPeriod)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	c.MaxPeriod = max(c.MaxPeriod, time.Second)
	return c
}

// Window is a fixed-window limit: at most Limit requests per Period.
type Window struct {
	Period time.Duration
	Limit  int64
}

// WindowFor is the window equivalent to a token bucket of rate requests per
// second and bursts of burst: a period of burst/rate, at least a second,
// holding burst requests (rate × period when that is more). A rate of zero
// or less is the zero Window, which Take does not count.
func WindowFor(rate float64, burst int) Window {
	if rate <= 0 {
		return Window{}
	}
	b := float64(max(burst, 1))
	if secs := b / rate; secs > 1 {
		return Window{Period: time.Duration(math.Ceil(secs * float64(time.Second))), Limit: int64(b)}
	}
	return Window{Period: time.Second, Limit: int64(max(b, math.Ceil(rate)))}
}

// Key is one limit to count a request against: the scope names the kind of
// limit ("key", "tenant"), id whom it applies to.
type Key struct {
	Scope  string
	ID     string
	Window Window
}

// Decision is the outcome of Take.
type Decision struct {
	// Allowed is false when a key's window is over its limit.
	Allowed bool
	// Scope is the scope of the first key over its limit.
	Scope string
	// RetryAfter is how long until that key's window ends.
	RetryAfter time.Duration
}

// Counter counts requests in windows shared through NATS.
type Counter struct {
	js     jetstream.JetStream
	cfg    Config // with defaults
	prefix string // "flockrate.<stream>."
	now    func() time.Time

	// recreatedAt is when Take last tried to recreate a lost stream (Unix
	// nanoseconds of now), so that it tries at most every recreateEvery.
	recreatedAt atomic.Int64
}

// recreateEvery spaces the attempts to recreate a lost stream.
const recreateEvery = 5 * time.Second

// Open binds to the counter stream, creating it when missing and raising
// its age limit to twice cfg.MaxPeriod when it keeps counters for less
// time. now is the clock windows are numbered by (nil: time.Now).
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, now func() time.Time) (*Counter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if now == nil {
		now = time.Now
	}
	c := &Counter{js: js, cfg: cfg, prefix: "flockrate." + cfg.Stream + ".", now: now}
	if err := c.bind(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// bind makes sure the stream exists, counts, and keeps counters for twice
// the longest window.
func (c *Counter) bind(ctx context.Context) error {
	js, cfg := c.js, c.cfg
	keep := 2 * cfg.MaxPeriod
	s, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:              cfg.Stream,
			Description:       "FlockMQ control-plane rate limit counters, shared by every instance",
			Subjects:          []string{c.prefix + ">"},
			Storage:           jetstream.MemoryStorage,
			Replicas:          cfg.Replicas,
			MaxAge:            keep,
			MaxBytes:          maxBytes,
			MaxMsgsPerSubject: 1,
			Discard:           jetstream.DiscardOld,
			Duplicates:        time.Second,
			AllowMsgCounter:   true,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, cfg.Stream)
		}
	}
	if err != nil {
		return fmt.Errorf("ratelimit: open stream %s: %w", cfg.Stream, err)
	}
	info := s.CachedInfo()
	if !info.Config.AllowMsgCounter {
		return ErrUnsupported
	}
	if info.Config.MaxAge < keep {
		sc := info.Config
		sc.MaxAge = keep
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ratelimit: keep counters of stream %s for %s: %w", cfg.Stream, keep, err)
		}
	}
	return nil
}

// Take counts one request against the current window of each key (keys
// with a zero Window are skipped) and reports whether every key is within
// its limit. The count happens whatever the outcome, so a client that keeps
// trying while refused stays refused until the window ends. It returns an
// error, and counts nothing reliably, when NATS does not answer before ctx
// ends. When no stream answers (it was deleted, or a NATS restart dropped
// the memory stream) Take creates it again, at most every 5s, so counting
// resumes with the next request.
func (c *Counter) Take(ctx context.Context, keys ...Key) (Decision, error) {
	d, err := c.take(ctx, keys...)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		c.recreate(ctx)
	}
	return d, err
}

// recreate binds the stream again unless another call did so recently.
func (c *Counter) recreate(ctx context.Context) {
	now := c.now().UnixNano()
	last := c.recreatedAt.Load()
	if last != 0 && now-last < int64(recreateEvery) || !c.recreatedAt.CompareAndSwap(last, now) {
		return
	}
	// The caller reports the error of its own request; a failure here is
	// retried by a later one.
	_ = c.bind(ctx)
}

func (c *Counter) take(ctx context.Context, keys ...Key) (Decision, error) {
	now := c.now()
	type pending struct {
		key    Key
		window int64
		ack    jetstream.PubAckFuture
	}
	sent := make([]pending, 0, len(keys))
	for _, k := range keys {
		if k.Window.Period <= 0 {
			continue
		}
		n := now.UnixNano() / int64(k.Window.Period)
		subj := c.prefix + token(k.Scope) + "." + token(k.ID) + "." + strconv.FormatInt(n, 10)
		msg := &nats.Msg{Subject: subj, Header: nats.Header{"Nats-Incr": []string{"1"}}}
		// No retry when no stream answers: the caller fails open at once
		// rather than after the client's retry delays.
		f, err := c.js.PublishMsgAsync(msg, jetstream.WithRetryAttempts(0))
		if err != nil {
			return Decision{}, fmt.Errorf("ratelimit: count %s %s: %w", k.Scope, k.ID, err)
		}
		sent = append(sent, pending{k, n, f})
	}
	d := Decision{Allowed: true}
	for _, p := range sent {
		var count int64
		select {
		case ack := <-p.ack.Ok():
			v, err := strconv.ParseInt(ack.Value, 10, 64)
			if err != nil {
				return Decision{}, fmt.Errorf("ratelimit: count %s %s: the stream answered %q, not a count: %w", p.key.Scope, p.key.ID, ack.Value, ErrUnsupported)
			}
			count = v
		case err := <-p.ack.Err():
			return Decision{}, fmt.Errorf("ratelimit: count %s %s: %w", p.key.Scope, p.key.ID, err)
		case <-ctx.Done():
			return Decision{}, fmt.Errorf("ratelimit: count %s %s: %w", p.key.Scope, p.key.ID, ctx.Err())
		}
		if count > p.key.Window.Limit && d.Allowed {
			end := time.Unix(0, (p.window+1)*int64(p.key.Window.Period))
			d = Decision{Scope: p.key.Scope, RetryAfter: max(end.Sub(now), time.Millisecond)}
		}
	}
	return d, nil
}

// token makes s a subject token: itself when it is 1 to 128 of A-Z a-z 0-9
// _ and -, else "~" (which no such token holds) and the start of the hex
// SHA-256 of s.
func token(s string) string {
	if validToken(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "~" + hex.EncodeToString(sum[:16])
}

func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}
