package subject

import (
	"strings"

	"github.com/flockmq/flockmq/pkg/topic"
)

// Filter returns the NATS subscription subjects under prefix whose union
// matches exactly the subjects Name gives for the topic names the MQTT filter
// matches: '+' becomes '*', a trailing '#' becomes '>', and a filter ending
// in "/#" also gives the subject of its parent level, since "a/#" matches "a"
// [MQTT-4.7.1-2]. A filter starting with a wildcard gets MarkerTopic, so it
// never matches a '$' topic [MQTT-4.7.2-1]. prefix may hold NATS wildcards.
//
// filter must be valid and not shared (pass the inner filter of a shared
// subscription, see topic.ParseShared); Filter returns nil otherwise.
func Filter(prefix, filter string) []string {
	if topic.ValidateFilter(filter) != nil || strings.HasPrefix(filter, topic.SharePrefix) {
		return nil
	}
	b := make([]byte, 0, NameLen(prefix, filter))
	if prefix != "" {
		b = append(b, prefix...)
		b = append(b, '.')
	}
	if filter[0] == '$' {
		b = append(b, MarkerDollar...)
	} else {
		b = append(b, MarkerTopic...)
	}
	b = append(b, '.')
	if filter == "#" {
		return []string{string(append(b, '>'))}
	}
	parent := -1 // length of b before the "/#" suffix, if any
	for rest := filter; ; {
		level, tail, more := strings.Cut(rest, "/")
		switch level {
		case "+":
			b = append(b, '*')
		case "#":
			parent = len(b) - 1
			b = append(b, '>')
		default:
			b = appendLevels(b, level)
		}
		if !more {
			break
		}
		b = append(b, '.')
		rest = tail
	}
	if parent >= 0 {
		return []string{string(b[:parent]), string(b)}
	}
	return []string{string(b)}
}
