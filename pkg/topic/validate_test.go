package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for valid, else the error text
	}{
		{"plain", "sensors/t1", ""},
		{"single level", "a", ""},
		{"empty levels are levels", "//", ""},
		{"leading slash", "/a", ""},
		{"trailing slash", "a/", ""},
		{"space", "a b/c", ""},
		{"dollar topic", "$SYS/broker/uptime", ""},
		{"unicode", "héllo/wörld/✓", ""},
		{"dots and NATS wildcards are plain", "a.b/*/>", ""},
		{"max length", strings.Repeat("a", MaxLen), ""},
		// [MQTT-4.7.3-1]
		{"empty", "", `topic: invalid name "": empty`},
		// [MQTT-4.7.3-3]
		{"too long", strings.Repeat("a", MaxLen+1), `topic: invalid name "` + strings.Repeat("a", 64) + `"...: longer than 65535 bytes`},
		// [MQTT-4.7.3-2]
		{"null", "a\x00b", `topic: invalid name "a\x00b": contains U+0000`},
		// [MQTT-1.5.4-1]
		{"bad utf8", "a\xffb", `topic: invalid name "a\xffb": not well-formed UTF-8`},
		{"surrogate", "a\xed\xa0\x80", `topic: invalid name "a\xed\xa0\x80": not well-formed UTF-8`},
		// [MQTT-3.3.2-2] [MQTT-4.7.1-1]
		{"plus", "a/+/b", `topic: invalid name "a/+/b": wildcard '+' in a topic name`},
		{"hash", "a/#", `topic: invalid name "a/#": wildcard '#' in a topic name`},
		{"plus inside level", "a+b", `topic: invalid name "a+b": wildcard '+' in a topic name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if got := errText(err); got != tt.want {
				t.Fatalf("ValidateName(%.80q) = %s, want %s", tt.in, got, tt.want)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ValidateName(%.80q) = %v, not an ErrInvalidName", tt.in, err)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for valid, else the error text
	}{
		{"plain", "sensors/t1", ""},
		{"hash alone", "#", ""},
		{"plus alone", "+", ""},
		{"hash last", "a/b/#", ""},
		{"plus levels", "+/b/+", ""},
		{"plus and hash", "+/#", ""},
		{"empty levels", "/+//#", ""},
		{"dollar", "$SYS/#", ""},
		{"share-like first level", "$shared/x", ""},
		{"shared", "$share/g/a/+/#", ""},
		{"shared hash", "$share/g/#", ""},
		{"shared unicode group", "$share/grüppe/a", ""},
		// [MQTT-4.7.3-1]
		{"empty", "", `topic: invalid filter "": empty`},
		// [MQTT-4.7.3-2]
		{"null", "a/\x00", `topic: invalid filter "a/\x00": contains U+0000`},
		// [MQTT-4.7.3-3]
		{"too long", "#" + strings.Repeat("a", MaxLen), `topic: invalid filter "#` + strings.Repeat("a", 63) + `"...: longer than 65535 bytes`},
		// [MQTT-1.5.4-1]
		{"bad utf8", "\xc3", `topic: invalid filter "\xc3": not well-formed UTF-8`},
		// [MQTT-4.7.1-2]
		{"hash not last", "a/#/b", `topic: invalid filter "a/#/b": '#' must be the last level`},
		{"hash in level", "a/b#", `topic: invalid filter "a/b#": '#' must be a whole level`},
		{"hash then more", "#/", `topic: invalid filter "#/": '#' must be the last level`},
		{"hash joined", "a/#b", `topic: invalid filter "a/#b": '#' must be the last level`},
		// [MQTT-4.7.1-3]
		{"plus in level", "a/b+", `topic: invalid filter "a/b+": '+' must be a whole level`},
		{"plus joined", "+a", `topic: invalid filter "+a": '+' must be a whole level`},
		{"double plus", "++", `topic: invalid filter "++": '+' must be a whole level`},
		// [MQTT-4.8.2-1]
		{"share no group", "$share/", `topic: invalid filter "$share/": shared subscription without a group`},
		{"share only", "$share", `topic: invalid filter "$share": shared subscription without a group`},
		{"share empty group", "$share//a", `topic: invalid filter "$share//a": shared subscription with an empty group`},
		// [MQTT-4.8.2-2]
		{"share no filter", "$share/g", `topic: invalid filter "$share/g": shared subscription without a topic filter`},
		{"share empty filter", "$share/g/", `topic: invalid filter "$share/g/": shared subscription with an empty topic filter`},
		{"share plus group", "$share/g+/a", `topic: invalid filter "$share/g+/a": shared subscription group contains a wildcard`},
		{"share hash group", "$share/#/a", `topic: invalid filter "$share/#/a": shared subscription group contains a wildcard`},
		{"share bad inner", "$share/g/a/#/b", `topic: invalid filter "$share/g/a/#/b": '#' must be the last level`},
		{"share nested", "$share/g/$share/h/a", `topic: invalid filter "$share/g/$share/h/a": shared subscription inside a shared subscription`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFilter(tt.in)
			if got := errText(err); got != tt.want {
				t.Fatalf("ValidateFilter(%.80q) = %s, want %s", tt.in, got, tt.want)
			}
			if err != nil && !errors.Is(err, ErrInvalidFilter) {
				t.Fatalf("ValidateFilter(%.80q) = %v, not an ErrInvalidFilter", tt.in, err)
			}
		})
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in           string
		group, inner string
		ok, err      bool
	}{
		{in: "a/b"},
		{in: "$sharex/g/a"},
		{in: "$SHARE/g/a"}, // case-sensitive [MQTT-4.7.3-4]
		{in: "$share/g/a/b", group: "g", inner: "a/b", ok: true},
		{in: "$share/g//", group: "g", inner: "/", ok: true},
		{in: "$share/g/$share/h/x", ok: true, err: true},
		{in: "$share/g/$share", ok: true, err: true},
		{in: "$share/g/$shared", group: "g", inner: "$shared", ok: true},
		{in: "$share/g/+", group: "g", inner: "+", ok: true},
		{in: "$share", ok: true, err: true},         // [MQTT-4.8.2-1]
		{in: "$share//a", ok: true, err: true},      // [MQTT-4.8.2-1]
		{in: "$share/g", ok: true, err: true},       // [MQTT-4.8.2-2]
		{in: "$share/a+b/c", ok: true, err: true},   // [MQTT-4.8.2-2]
		{in: "$share/g/a+", ok: true, err: true},    // [MQTT-4.7.1-3]
		{in: "$share/g/a\x00", ok: true, err: true}, // [MQTT-4.7.3-2]
	}
	for _, tt := range tests {
		group, inner, ok, err := ParseShared(tt.in)
		if group != tt.group || inner != tt.inner || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("ParseShared(%q) = %q, %q, %v, %v; want %q, %q, %v, error %v",
				tt.in, group, inner, ok, err, tt.group, tt.inner, tt.ok, tt.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("ParseShared(%q) error %v is not an ErrInvalidFilter", tt.in, err)
		}
	}
}
