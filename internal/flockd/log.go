package flockd

import (
	"github.com/flockmq/flockmq/pkg/telemetry"

	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("flockd: log_level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger builds the process logger: JSON, or a console format that
// reads well on a terminal.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	// telemetry.LogHandler adds trace_id and span_id to lines logged
	// inside a traced operation, so a log line leads to its trace.
	if c.LogFormat == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
	}
	return slog.New(telemetry.LogHandler(&consoleHandler{w: w, mu: new(sync.Mutex), level: level}))
}

// consoleHandler writes "12:03:04 INFO  message key=val ...".
type consoleHandler struct {
	w      io.Writer
	mu     *sync.Mutex // shared by the handlers derived with WithAttrs
	level  slog.Level
	attrs  string // preformatted " key=val" pairs
	prefix string // group prefix, "g."
}

func (h *consoleHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *consoleHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Format("15:04:05"))
	b.WriteByte(' ')
	lv := r.Level.String()
	b.WriteString(lv)
	b.WriteString(strings.Repeat(" ", max(1, 6-len(lv))))
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		fmt.Fprintf(b, "%q", v)
	} else {
		b.WriteString(v)
	}
}

func (h *consoleHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		appendAttr(&b, h.prefix, a)
	}
	c := *h
	c.attrs = b.String()
	return &c
}

func (h *consoleHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix += name + "."
	return &c
}
