package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	"go.opentelemetry.io/otel/trace"
)

func TestLogHandlerSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf.Reset()
		return LogHandler(slog.NewJSONHandler(&buf, nil))
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("unmarshal %q: %v", buf.String(), err)
		}
		return m
	})
}

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("unmarshal %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogHandlerAddsIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext())
	const wantTrace, wantSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	log.InfoContext(ctx, "Client connected.", "client_id", "c1")
	log.With("tenant_id", "acme").WithGroup("conn").InfoContext(ctx, "Inside a group.", "conn_id", "k1")
	log.InfoContext(context.Background(), "No span here.")
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}), "Invalid span.")

	lines := decodeLines(t, &buf)
	if len(lines) != 4 {
		t.Fatalf("got %d log lines, want 4", len(lines))
	}
	for i, l := range lines[:2] {
		if l[LogKeyTraceID] != wantTrace || l[LogKeySpanID] != wantSpan {
			t.Errorf("line %d: trace_id=%v span_id=%v, want %s %s: %v", i, l[LogKeyTraceID], l[LogKeySpanID], wantTrace, wantSpan, l)
		}
	}
	if lines[0]["client_id"] != "c1" {
		t.Errorf("line 0 lost client_id: %v", lines[0])
	}
	if g, _ := lines[1]["conn"].(map[string]any); g["conn_id"] != "k1" || lines[1]["tenant_id"] != "acme" {
		t.Errorf("line 1 lost grouped attributes: %v", lines[1])
	}
	for i, l := range lines[2:] {
		if _, ok := l[LogKeyTraceID]; ok {
			t.Errorf("line %d without a valid span has trace_id: %v", i+2, l)
		}
	}
}

func TestLogHandlerRespectsLevel(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), testSpanContext()), "Dropped.")
	if buf.Len() != 0 {
		t.Fatalf("info record written below warn level: %q", buf.String())
	}
	if LogHandler(LogHandler(slog.DiscardHandler)) == nil {
		t.Fatal("LogHandler(LogHandler(h)) = nil")
	}
}

func BenchmarkLogHandler(b *testing.B) {
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext())
	for _, bc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"plain", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"span", slog.New(LogHandler(slog.NewJSONHandler(io.Discard, nil)))},
		{"span_in_group", slog.New(LogHandler(slog.NewJSONHandler(io.Discard, nil))).WithGroup("conn").With("conn_id", "k1")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.log.InfoContext(ctx, "Client connected.", "client_id", "c1")
			}
		})
	}
}
