package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v as indented JSON, for scripts (-o json).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns for people.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(toAny(headers)...)
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case time.Time:
			parts[i] = fmtTime(v)
		case *time.Time:
			if v == nil {
				parts[i] = "-"
			} else {
				parts[i] = fmtTime(*v)
			}
		case map[string]string:
			parts[i] = fmtMap(v)
		case bool:
			parts[i] = map[bool]string{true: "yes", false: "no"}[v]
		default:
			parts[i] = fmt.Sprint(v)
		}
		if parts[i] == "" {
			parts[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtMap renders tags as "k=v,k2=v2" in key order.
func fmtMap(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// printList prints items for scripts (-o json: the item itself when there
// is exactly one, else the array) or as a table for people, one row each.
func printList[T any](w io.Writer, output string, items []T, headers []string, row func(T) []any) error {
	if output == "json" {
		if len(items) == 1 {
			return printJSON(w, items[0])
		}
		return printJSON(w, items)
	}
	t := newTable(w, headers...)
	for _, it := range items {
		t.row(row(it)...)
	}
	return t.flush()
}
