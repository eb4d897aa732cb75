package subject

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/flockmq/flockmq/pkg/topic"
)

const prefix = "flock.acme.m"

func TestName(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"sensors/t1", "flock.acme.m.t.sensors.t1"},
		{"a.b/c d", "flock.acme.m.t.a%2Eb.c%20d"},
		{"/a//", "flock.acme.m.t.%.a.%.%"},
		{"/", "flock.acme.m.t.%.%"},
		{"$SYS/broker", "flock.acme.m.s.$SYS.broker"}, // [MQTT-4.7.2-1]
		{"a/$SYS", "flock.acme.m.t.a.$SYS"},
		{"héllo", "flock.acme.m.t.h%C3%A9llo"},
		{"a/*/>", "flock.acme.m.t.a.%2A.%3E"},
		{"100%", "flock.acme.m.t.100%25"},
		{"%", "flock.acme.m.t.%25"},
		{"tab\there", "flock.acme.m.t.tab%09here"},
		{"del\x7f", "flock.acme.m.t.del%7F"},
		{"Az09_-~!\"$&'()", "flock.acme.m.t.Az09_-~!\"$&'()"},
	}
	for _, tt := range tests {
		if got := Name(prefix, tt.name); got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", prefix, tt.name, got, tt.want)
		}
		if got := string(AppendName([]byte("x"), prefix, tt.name)); got != "x"+tt.want {
			t.Errorf("AppendName(x, %q, %q) = %q, want %q", prefix, tt.name, got, "x"+tt.want)
		}
		back, err := ParseName(prefix, tt.want)
		if err != nil || back != tt.name {
			t.Errorf("ParseName(%q, %q) = %q, %v, want %q", prefix, tt.want, back, err, tt.name)
		}
	}
	if got, want := Name("", "a/b"), "t.a.b"; got != want {
		t.Errorf("Name(\"\", a/b) = %q, want %q", got, want)
	}
	if back, err := ParseName("", "t.a.b"); err != nil || back != "a/b" {
		t.Errorf("ParseName(\"\", t.a.b) = %q, %v, want a/b", back, err)
	}
}

func TestParseNameErrors(t *testing.T) {
	tests := []struct {
		subj, want string
	}{
		{"other.acme.m.t.a", `does not start with prefix "flock.acme.m"`},
		{"flock.acme.m", `does not start with prefix "flock.acme.m"`},
		{"flock.acme.mx.t.a", `does not start with prefix "flock.acme.m"`},
		{"flock.acme.m.", `has no topic levels`},
		{"flock.acme.m.t", `has no topic levels`},
		{"flock.acme.m.t.", `has no topic levels`},
		{"flock.acme.m.x.a", `has an unknown marker token "x"`},
		{"flock.acme.m.s.a", `has a marker token that does not fit its first level`},
		{"flock.acme.m.t.$a", `has a marker token that does not fit its first level`},
		{"flock.acme.m.t.a..b", `has an empty token`},
		{"flock.acme.m.t.a.", `has an empty token`},
		{"flock.acme.m.t.a%", `has a stray '%'`},
		{"flock.acme.m.t.a%4", `has a truncated escape`},
		{"flock.acme.m.t.a%41", `has a non-canonical escape "%41"`},
		{"flock.acme.m.t.a%2e", `has a non-canonical escape "%2e"`},
		{"flock.acme.m.t.a%2F", `has a non-canonical escape "%2F"`},
		{"flock.acme.m.t.a%G0", `has a non-canonical escape "%G0"`},
		{"flock.acme.m.t.%%", `has a truncated escape`},
		{"flock.acme.m.t.%%41", `has a non-canonical escape "%%4"`},
		{"flock.acme.m.t.a b", `has an unescaped byte " "`},
		{"flock.acme.m.t.*", `has an unescaped byte "*"`},
		{"flock.acme.m.t.a.>", `has an unescaped byte ">"`},
		{"flock.acme.m.t.\xc3\xa9", `has an unescaped byte "\xc3"`},
		{"flock.acme.m.t.a%2B", `topic: invalid name "a+": wildcard '+' in a topic name`}, // [MQTT-3.3.2-2]
		{"flock.acme.m.t.a%00", `topic: invalid name "a\x00": contains U+0000`},           // [MQTT-4.7.3-2]
		{"flock.acme.m.t.a%C3", `topic: invalid name "a\xc3": not well-formed UTF-8`},     // [MQTT-1.5.4-1]
		{"flock.acme.m.t.%", `topic: invalid name "": empty`},                             // [MQTT-4.7.3-1]
	}
	for _, tt := range tests {
		_, err := ParseName(prefix, tt.subj)
		want := "subject: invalid subject " + strconv.Quote(tt.subj) + ": " + tt.want
		if err == nil || err.Error() != want {
			t.Errorf("ParseName(%q) = %v, want %s", tt.subj, err, want)
		}
		if !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("ParseName(%q) error %v is not an ErrInvalidSubject", tt.subj, err)
		}
		if strings.Contains(tt.want, "topic: invalid name") != errors.Is(err, topic.ErrInvalidName) {
			t.Errorf("ParseName(%q) error %v: errors.Is(topic.ErrInvalidName) is wrong", tt.subj, err)
		}
	}
}

func TestParseNameAfter(t *testing.T) {
	subj := Name("flock.acme.m", "a/b")
	if got, err := ParseNameAfter(subj, 3); err != nil || got != "a/b" {
		t.Fatalf("ParseNameAfter(%q, 3) = %q, %v, want a/b", subj, got, err)
	}
	if _, err := ParseNameAfter(subj, 6); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("ParseNameAfter(%q, 6) = %v, want ErrInvalidSubject", subj, err)
	}
	if got, err := ParseNameAfter(Name("", "x"), 0); err != nil || got != "x" {
		t.Fatalf("ParseNameAfter(t.x, 0) = %q, %v, want x", got, err)
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"p.t.a.b"}},
		{"#", []string{"p.t.>"}}, // [MQTT-4.7.2-1]: never a '$' topic
		{"+", []string{"p.t.*"}},
		{"a/#", []string{"p.t.a", "p.t.a.>"}}, // [MQTT-4.7.1-2]
		{"+/#", []string{"p.t.*", "p.t.*.>"}},
		{"a/+/c", []string{"p.t.a.*.c"}}, // [MQTT-4.7.1-3]
		{"$SYS/#", []string{"p.s.$SYS", "p.s.$SYS.>"}},
		{"$SYS/+", []string{"p.s.$SYS.*"}},
		{"/#", []string{"p.t.%", "p.t.%.>"}},
		{"a.b/ /+", []string{"p.t.a%2Eb.%20.*"}},
		{"a//#", []string{"p.t.a.%", "p.t.a.%.>"}},
		{"$share/g/a", nil},
		{"a/#/b", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := Filter("p", tt.filter)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") || (got == nil) != (tt.want == nil) {
			t.Errorf("Filter(p, %q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
	if got, want := Filter("flock.*.m", "a/+"), "flock.*.m.t.a.*"; len(got) != 1 || got[0] != want {
		t.Errorf("Filter(flock.*.m, a/+) = %q, want [%q]", got, want)
	}
}

// natsMatch is a NATS subject matcher written from the protocol rules: '*'
// matches one token, '>' one or more trailing tokens.
func natsMatch(filter, subj string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subj, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return i < len(s)
		case i == len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(f) == len(s)
}

// checkSubject fails unless subj is a valid literal NATS subject whose
// tokens are printable ASCII.
func checkSubject(t testing.TB, subj string) {
	t.Helper()
	if !server.IsValidLiteralSubject(subj) {
		t.Fatalf("%q is not a valid literal NATS subject", subj)
	}
	for _, tok := range strings.Split(subj, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			t.Fatalf("%q has the token %q", subj, tok)
		}
	}
	for i := 0; i < len(subj); i++ {
		if subj[i] <= ' ' || subj[i] >= 0x7f {
			t.Fatalf("%q has the byte %#x", subj, subj[i])
		}
	}
}

// randTopic returns a valid topic name made of levels likely to need
// escaping, or to look like NATS or MQTT syntax.
func randTopic(r *rand.Rand) string {
	pieces := []string{"a", "B", "", ".", "*", ">", "%", "%2E", " ", "$", "$SYS", "é", "日本", "\t", "\x7f", "\x01", "~", "t", "s"}
	for {
		n := 1 + r.IntN(4)
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte('/')
			}
			for range r.IntN(3) {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
			if r.IntN(8) == 0 {
				b.WriteRune(rune(1 + r.IntN(0x10fff)))
			}
		}
		if s := b.String(); topic.ValidateName(s) == nil {
			return s
		}
	}
}

// randFilterFor returns a valid filter, often one that matches name.
func randFilterFor(r *rand.Rand, name string) string {
	levels := strings.Split(name, "/")
	if r.IntN(4) == 0 {
		levels = strings.Split(randTopic(r), "/")
	}
	for i := range levels {
		if r.IntN(3) == 0 {
			levels[i] = "+"
		}
	}
	switch r.IntN(4) {
	case 0:
		levels = append(levels[:r.IntN(len(levels))], "#")
	case 1:
		levels = append(levels, "#")
	}
	return strings.Join(levels, "/")
}

func TestRoundTripAndMatchAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		name := randTopic(r)
		subj := Name(prefix, name)
		checkSubject(t, subj)
		if n := NameLen(prefix, name); n != len(subj) {
			t.Fatalf("NameLen(%q) = %d, want %d", name, n, len(subj))
		}
		back, err := ParseName(prefix, subj)
		if err != nil || back != name {
			t.Fatalf("ParseName(Name(%q)) = %q, %v", name, back, err)
		}
		filter := randFilterFor(r, name)
		if err := topic.ValidateFilter(filter); err != nil {
			t.Fatalf("generated invalid filter: %v", err)
		}
		checkAgree(t, filter, name)
	}
}

// checkAgree fails unless the subjects of Filter(filter) match the subject
// of name exactly when topic.Match(filter, name).
func checkAgree(t testing.TB, filter, name string) {
	t.Helper()
	subj := Name(prefix, name)
	subs := Filter(prefix, filter)
	if len(subs) == 0 {
		t.Fatalf("Filter(%q) = nil for a valid filter", filter)
	}
	mine, nats := false, false
	for _, s := range subs {
		if !server.IsValidSubject(s) {
			t.Fatalf("Filter(%q) gives the invalid subject %q", filter, s)
		}
		mine = mine || natsMatch(s, subj)
		nats = nats || server.SubjectMatchesFilter(subj, s)
	}
	want := topic.Match(filter, name)
	if mine != want || nats != want {
		t.Fatalf("topic.Match(%q, %q) = %v, but Filter gives %q for subject %q: natsMatch %v, nats-server %v",
			filter, name, want, subs, subj, mine, nats)
	}
}

func TestNameTotal(t *testing.T) {
	// Every string, valid topic or not, gives a valid literal subject, and
	// distinct strings give distinct subjects.
	r := rand.New(rand.NewPCG(11, 12))
	seen := map[string]string{}
	for range 20000 {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(3) == 0 {
				b[i] = '/'
			}
		}
		s := string(b)
		subj := Name(prefix, s)
		checkSubject(t, subj)
		if n := NameLen(prefix, s); n != len(subj) {
			t.Fatalf("NameLen(%q) = %d, want %d", s, n, len(subj))
		}
		if other, ok := seen[subj]; ok && other != s {
			t.Fatalf("Name(%q) = Name(%q) = %q", s, other, subj)
		}
		seen[subj] = s
		if back, err := ParseName(prefix, subj); err == nil && back != s {
			t.Fatalf("ParseName(Name(%q)) = %q", s, back)
		} else if err != nil && topic.ValidateName(s) == nil {
			t.Fatalf("ParseName(Name(%q)) = %v for a valid name", s, err)
		}
	}
}

func TestAppendNameAllocs(t *testing.T) {
	buf := make([]byte, 0, 128)
	if a := testing.AllocsPerRun(100, func() { buf = AppendName(buf[:0], prefix, "a b/c.d/é") }); a != 0 {
		t.Fatalf("AppendName allocates %v times, want 0", a)
	}
	subj := Name(prefix, "a b/c.d/é")
	if a := testing.AllocsPerRun(100, func() { _, _ = ParseName(prefix, subj) }); a > 1 {
		t.Fatalf("ParseName allocates %v times, want at most 1", a)
	}
}
