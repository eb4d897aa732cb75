package topic

import "strings"

// Match reports whether the topic name matches the topic filter. '+' matches
// exactly one level and '#' any number of levels including none, so "a/#"
// matches "a" [MQTT-4.7.1-2] [MQTT-4.7.1-3]. A name whose first level starts
// with '$' is not matched by a filter starting with a wildcard
// [MQTT-4.7.2-1]. Empty levels are levels, and comparison is byte exact and
// case-sensitive [MQTT-4.7.3-4].
//
// Match expects a valid name and a valid, non-shared filter (for a shared
// filter pass its inner filter, see ParseShared); on other input it returns
// an unspecified result. It does not allocate.
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fl, frest, fmore := cutLevel(filter)
		if fl == "#" {
			return true // [MQTT-4.7.1-2]
		}
		nl, nrest, nmore := cutLevel(name)
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore:
			return !nmore
		case !nmore:
			return frest == "#" // "a/#" matches "a" [MQTT-4.7.1-2]
		}
		filter, name = frest, nrest
	}
}

// cutLevel splits s at its first '/': level is the first level, rest what
// follows the separator, and more whether there was a separator.
func cutLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
