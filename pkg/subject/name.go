package subject

import (
	"strings"

	"github.com/flockmq/flockmq/pkg/topic"
)

// Marker tokens follow the prefix and tell topics whose first level starts
// with '$' apart from all others, so that NATS wildcards in the marker's
// place never reach '$' topics [MQTT-4.7.2-1].
const (
	// MarkerTopic precedes the levels of an ordinary topic.
	MarkerTopic = "t"
	// MarkerDollar precedes the levels of a topic starting with '$'.
	MarkerDollar = "s"
)

// escapeChar starts a two-digit upper-case hex escape of one byte; alone, it
// is the token of an empty level.
const escapeChar = '%'

// plain[b] is true for the bytes a token carries as is: printable ASCII
// except '.', '*', '>' (NATS syntax), '%' (the escape), and '/', '+', '#'
// (MQTT syntax, never inside a valid level).
var plain = func() (p [256]bool) {
	for b := 0x21; b <= 0x7e; b++ {
		p[b] = true
	}
	for _, b := range []byte(".*>%/+#") {
		p[b] = false
	}
	return p
}()

const hexDigits = "0123456789ABCDEF"

// AppendName appends to dst the NATS subject for MQTT topic name under
// prefix and returns the extended slice: prefix, '.', the marker token
// (MarkerDollar when name starts with '$', else MarkerTopic), then one
// escaped token per level, all joined by '.'. An empty prefix is left out
// with its '.'. prefix must not end with '.'.
//
// The mapping is total and reversible: every string gives a valid literal
// NATS subject, and ParseName(prefix, Name(prefix, name)) == name for every
// valid topic name. AppendName does not allocate when dst has room.
func AppendName(dst []byte, prefix, name string) []byte {
	if prefix != "" {
		dst = append(dst, prefix...)
		dst = append(dst, '.')
	}
	if name != "" && name[0] == '$' {
		dst = append(dst, MarkerDollar...)
	} else {
		dst = append(dst, MarkerTopic...)
	}
	dst = append(dst, '.')
	return appendLevels(dst, name)
}

// appendLevels appends the tokens of the levels of name joined by '.'.
func appendLevels(dst []byte, name string) []byte {
	start := 0 // start of the current level
	run := 0   // start of the plain bytes not yet appended
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plain[c] {
			continue
		}
		dst = append(dst, name[run:i]...)
		run = i + 1
		if c == '/' {
			if i == start {
				dst = append(dst, escapeChar) // empty level
			}
			dst = append(dst, '.')
			start = i + 1
			continue
		}
		dst = append(dst, escapeChar, hexDigits[c>>4], hexDigits[c&0xf])
	}
	dst = append(dst, name[run:]...)
	if start == len(name) {
		dst = append(dst, escapeChar) // empty last level
	}
	return dst
}

// NameLen returns len(Name(prefix, name)) without building the subject,
// so a caller can hold subjects under the NATS server's max_control_line
// (4 KiB by default) before publishing: escaping can triple a topic's bytes.
func NameLen(prefix, name string) int {
	n := len(MarkerTopic) + 1
	if prefix != "" {
		n += len(prefix) + 1
	}
	start := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case plain[c]:
			n++
		case c == '/':
			if i == start {
				n++
			}
			n++
			start = i + 1
		default:
			n += 3
		}
	}
	if start == len(name) {
		n++
	}
	return n
}

// Name returns the NATS subject for MQTT topic name under prefix, as
// AppendName.
func Name(prefix, name string) string {
	return string(AppendName(make([]byte, 0, NameLen(prefix, name)), prefix, name))
}

// ParseName inverts Name: it returns the MQTT topic name of subj, which must
// be prefix, '.', and a subject AppendName could produce. Any other subject,
// including a non-canonical spelling of a name (such as "%41" for "A" or
// lower-case hex digits), is an error wrapping ErrInvalidSubject, and also
// topic.ErrInvalidName when the decoded name is not a valid topic name.
func ParseName(prefix, subj string) (string, error) {
	rest := subj
	if prefix != "" {
		if len(subj) <= len(prefix) || subj[len(prefix)] != '.' || subj[:len(prefix)] != prefix {
			return "", subjectError(subj, "does not start with prefix "+quote(prefix))
		}
		rest = subj[len(prefix)+1:]
	}
	return parseLevels(subj, rest)
}

// ParseNameAfter is ParseName for a subject whose prefix is its first n
// tokens, whatever they are: useful when the subscription's prefix holds
// wildcards, such as "flock.*.m".
func ParseNameAfter(subj string, n int) (string, error) {
	rest := subj
	for range n {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			return "", subjectError(subj, "has too few tokens")
		}
		rest = rest[i+1:]
	}
	return parseLevels(subj, rest)
}

// parseLevels decodes rest, the marker token and the level tokens of subj.
func parseLevels(subj, rest string) (string, error) {
	marker, levels, ok := strings.Cut(rest, ".")
	if !ok || levels == "" {
		return "", subjectError(subj, "has no topic levels")
	}
	dollar := false
	switch marker {
	case MarkerTopic:
	case MarkerDollar:
		dollar = true
	default:
		return "", subjectError(subj, "has an unknown marker token "+quote(marker))
	}
	if dollar != (levels[0] == '$') {
		return "", subjectError(subj, "has a marker token that does not fit its first level")
	}
	var b strings.Builder
	b.Grow(len(levels))
	start := 0 // start of the current token
	run := 0   // start of the plain bytes not yet written
	for i := 0; i < len(levels); i++ {
		c := levels[i]
		if plain[c] {
			continue
		}
		b.WriteString(levels[run:i])
		switch {
		case c == '.':
			if i == start {
				return "", subjectError(subj, "has an empty token")
			}
			b.WriteByte('/')
			start = i + 1
		case c == escapeChar:
			if i+1 == len(levels) || levels[i+1] == '.' {
				if i != start {
					return "", subjectError(subj, "has a stray '%'")
				}
				break // a lone '%' token is an empty level
			}
			if i+2 >= len(levels) {
				return "", subjectError(subj, "has a truncated escape")
			}
			d, ok := unhex(levels[i+1], levels[i+2])
			if !ok || plain[d] || d == '/' {
				return "", subjectError(subj, "has a non-canonical escape "+quote(levels[i:i+3]))
			}
			b.WriteByte(d)
			i += 2
		default:
			return "", subjectError(subj, "has an unescaped byte "+quote(levels[i:i+1]))
		}
		run = i + 1
	}
	b.WriteString(levels[run:])
	if start == len(levels) {
		return "", subjectError(subj, "has an empty token")
	}
	name := b.String()
	if err := topic.ValidateName(name); err != nil {
		return "", &invalidError{subj: subj, reason: err.Error(), cause: err}
	}
	return name, nil
}

// unhex decodes two upper-case hex digits.
func unhex(hi, lo byte) (byte, bool) {
	h, ok1 := hexVal(hi)
	l, ok2 := hexVal(lo)
	return h<<4 | l, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
