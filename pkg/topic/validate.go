package topic

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLen is the largest topic name or filter in bytes: it travels as an MQTT
// UTF-8 string with a two-byte length [MQTT-4.7.3-3].
const MaxLen = 65535

// Sentinel errors. Functions wrap them with the offending string and the
// rule it breaks; classify with errors.Is.
var (
	// ErrInvalidName reports a topic name unfit for PUBLISH.
	ErrInvalidName = errors.New("topic: invalid name")
	// ErrInvalidFilter reports a topic filter unfit for SUBSCRIBE or
	// UNSUBSCRIBE, including a malformed shared subscription filter.
	ErrInvalidFilter = errors.New("topic: invalid filter")
)

// SharePrefix starts every shared subscription filter [MQTT-4.8.2-1].
const SharePrefix = "$share/"

// maxQuoted bounds how much of an offending string an error message repeats.
const maxQuoted = 64

// invalidError is an ErrInvalidName or ErrInvalidFilter with its detail.
type invalidError struct {
	kind   error  // ErrInvalidName or ErrInvalidFilter
	s      string // the offending name or filter; Error shortens it
	reason string
}

func (e *invalidError) Error() string {
	return e.kind.Error() + " " + quote(e.s) + ": " + e.reason
}

func (e *invalidError) Unwrap() error { return e.kind }

// quote quotes s for an error message, shortening it past maxQuoted bytes.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func nameError(name, reason string) error {
	return &invalidError{kind: ErrInvalidName, s: name, reason: reason}
}

func filterError(filter, reason string) error {
	return &invalidError{kind: ErrInvalidFilter, s: filter, reason: reason}
}

// checkString applies the rules shared by names and filters: not empty
// [MQTT-4.7.3-1], at most MaxLen bytes [MQTT-4.7.3-3], well-formed UTF-8
// without U+0000 [MQTT-4.7.3-2] [MQTT-1.5.4-1] [MQTT-1.5.4-2]. It returns the
// broken rule, or "".
func checkString(s string) string {
	switch {
	case s == "":
		return "empty" // [MQTT-4.7.3-1]
	case len(s) > MaxLen:
		return "longer than 65535 bytes" // [MQTT-4.7.3-3]
	case strings.IndexByte(s, 0) >= 0:
		return "contains U+0000" // [MQTT-4.7.3-2]
	case !utf8.ValidString(s):
		return "not well-formed UTF-8" // [MQTT-1.5.4-1]
	}
	return ""
}

// ValidateName checks a topic name for PUBLISH: not empty [MQTT-4.7.3-1], at
// most 65535 bytes [MQTT-4.7.3-3], well-formed UTF-8 without U+0000
// [MQTT-4.7.3-2], and without the wildcards '+' and '#' [MQTT-3.3.2-2]
// [MQTT-4.7.1-1]. The error wraps ErrInvalidName.
func ValidateName(name string) error {
	if r := checkString(name); r != "" {
		return nameError(name, r)
	}
	if i := strings.IndexAny(name, "+#"); i >= 0 {
		return nameError(name, "wildcard '"+name[i:i+1]+"' in a topic name") // [MQTT-3.3.2-2]
	}
	return nil
}

// ValidateFilter checks a topic filter for SUBSCRIBE or UNSUBSCRIBE: the
// string rules of ValidateName, '#' only as the whole last level
// [MQTT-4.7.1-2], '+' only as a whole level [MQTT-4.7.1-3], and for a shared
// subscription "$share/{group}/{filter}" a non-empty group without '/', '+'
// or '#' followed by a valid filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]. The error
// wraps ErrInvalidFilter.
func ValidateFilter(filter string) error {
	if r := checkString(filter); r != "" {
		return filterError(filter, r)
	}
	if strings.HasPrefix(filter, "$share") {
		_, _, ok, err := ParseShared(filter)
		if ok {
			return err
		}
	}
	if r := checkWildcards(filter); r != "" {
		return filterError(filter, r)
	}
	return nil
}

// checkWildcards returns the wildcard rule filter breaks, or "".
func checkWildcards(filter string) string {
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			if i > 0 && filter[i-1] != '/' {
				return "'#' must be a whole level" // [MQTT-4.7.1-2]
			}
			if i != len(filter)-1 {
				return "'#' must be the last level" // [MQTT-4.7.1-2]
			}
		case '+':
			if i > 0 && filter[i-1] != '/' || i+1 < len(filter) && filter[i+1] != '/' {
				return "'+' must be a whole level" // [MQTT-4.7.1-3]
			}
		}
	}
	return ""
}

// ParseShared splits a shared subscription filter "$share/{group}/{filter}"
// [MQTT-4.8.2-1]. ok is false, and err nil, for a filter whose first level is
// not "$share". For a shared filter, ok is true and err reports a malformed
// one: an empty group [MQTT-4.8.2-1], a group containing '+' or '#', or a
// missing or invalid inner filter [MQTT-4.8.2-2]. The error wraps
// ErrInvalidFilter. For a shared filter, ParseShared checks all that
// ValidateFilter does, and the inner filter it returns is a valid filter on
// its own: a shared subscription inside another one is refused.
func ParseShared(filter string) (group, inner string, ok bool, err error) {
	if !strings.HasPrefix(filter, "$share") || len(filter) > len("$share") && filter[len("$share")] != '/' {
		return "", "", false, nil
	}
	if r := checkString(filter); r != "" {
		return "", "", true, filterError(filter, r)
	}
	if len(filter) <= len(SharePrefix) {
		return "", "", true, filterError(filter, "shared subscription without a group") // [MQTT-4.8.2-1]
	}
	rest := filter[len(SharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", true, filterError(filter, "shared subscription without a topic filter") // [MQTT-4.8.2-2]
	}
	group, inner = rest[:i], rest[i+1:]
	switch {
	case group == "":
		return "", "", true, filterError(filter, "shared subscription with an empty group") // [MQTT-4.8.2-1]
	case strings.ContainsAny(group, "+#"):
		return "", "", true, filterError(filter, "shared subscription group contains a wildcard") // [MQTT-4.8.2-2]
	case inner == "":
		return "", "", true, filterError(filter, "shared subscription with an empty topic filter") // [MQTT-4.8.2-2] [MQTT-4.7.3-1]
	case inner == "$share" || strings.HasPrefix(inner, SharePrefix):
		// Refused so that every inner filter is a valid filter on its own.
		return "", "", true, filterError(filter, "shared subscription inside a shared subscription")
	}
	if r := checkWildcards(inner); r != "" {
		return "", "", true, filterError(filter, r)
	}
	return group, inner, true, nil
}
