package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys added by [LogHandler].
const (
	LogKeyTraceID = "trace_id"
	LogKeySpanID  = "span_id"
)

// LogHandler wraps h so every record logged with a context that carries a
// valid span gets trace_id and span_id attributes, linking log lines to
// traces. Records without a span pass through unchanged. The ids are added
// at the top level even inside WithGroup, so they are always found under
// the same keys.
func LogHandler(h slog.Handler) slog.Handler {
	if lh, ok := h.(*logHandler); ok {
		return lh
	}
	return &logHandler{next: h}
}

type logHandler struct {
	next slog.Handler
	// groups and attrs record WithGroup/WithAttrs calls made after the ids
	// must be added, so they can be replayed after the ids.
	ops []logOp
	// base is next before any WithGroup; ids are added to records there.
	base slog.Handler
}

type logOp struct {
	group string
	attrs []slog.Attr
}

func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return l.next.Handle(ctx, r)
	}
	if len(l.ops) == 0 {
		r = r.Clone()
		r.AddAttrs(slog.String(LogKeyTraceID, sc.TraceID().String()), slog.String(LogKeySpanID, sc.SpanID().String()))
		return l.next.Handle(ctx, r)
	}
	// Inside a group: attach the ids before the group opens, then replay
	// the groups and attributes added since.
	h := l.base.WithAttrs([]slog.Attr{
		slog.String(LogKeyTraceID, sc.TraceID().String()),
		slog.String(LogKeySpanID, sc.SpanID().String()),
	})
	for _, op := range l.ops {
		if op.group != "" {
			h = h.WithGroup(op.group)
		} else {
			h = h.WithAttrs(op.attrs)
		}
	}
	return h.Handle(ctx, r)
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return l
	}
	n := &logHandler{next: l.next.WithAttrs(attrs), base: l.base}
	if len(l.ops) > 0 {
		n.ops = append(append([]logOp(nil), l.ops...), logOp{attrs: attrs})
	}
	return n
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	base := l.base
	if len(l.ops) == 0 {
		base = l.next
	}
	return &logHandler{
		next: l.next.WithGroup(name),
		base: base,
		ops:  append(append([]logOp(nil), l.ops...), logOp{group: name}),
	}
}
