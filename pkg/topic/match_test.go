package topic

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// matchCases are filter/name pairs with the expected result, shared by the
// Match, Tree and fuzz seed tests.
var matchCases = []struct {
	filter, name string
	want         bool
}{
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/b", "a", false},
	{"a", "a/b", false},
	{"A/b", "a/b", false},       // case-sensitive [MQTT-4.7.3-4]
	{"a/é", "a/e\u0301", false}, // no normalisation [MQTT-4.7.3-4]
	{"a b", "a b", true},
	// '+' matches exactly one level [MQTT-4.7.1-3]
	{"+", "a", true},
	{"+", "a/b", false},
	{"a/+", "a/b", true},
	{"a/+", "a", false},
	{"a/+", "a/", true}, // an empty level is a level
	{"+/+", "/", true},
	{"+/b", "/b", true},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a//c", true},
	{"a/+/c", "a/b/d", false},
	{"+", "/a", false},
	// '#' matches any number of levels, including none [MQTT-4.7.1-2]
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"a/#", "a", true},
	{"a/#", "a/b", true},
	{"a/#", "a/b/c", true},
	{"a/#", "a/", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"a/b/#", "a", false},
	{"+/#", "a", true},
	{"+/#", "a/b", true},
	{"/#", "/", true},
	{"a/+/#", "a", false},
	{"a/+/#", "a/b", true},
	// '$' topics and leading wildcards [MQTT-4.7.2-1]
	{"#", "$SYS/a", false},
	{"+/a", "$SYS/a", false},
	{"+", "$SYS", false},
	{"+/#", "$SYS", false},
	{"$SYS/#", "$SYS/a", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+", "$SYS/a", true},
	{"a/+", "a/$b", true}, // only the first level counts
	{"#", "a/$b", true},
	{"$+", "$+", true}, // literal, invalid but harmless
}

func TestMatch(t *testing.T) {
	for _, tt := range matchCases {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
		if got := naiveMatch(tt.filter, tt.name); got != tt.want {
			t.Errorf("naiveMatch(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

// naiveMatch is the reference matcher: the spec's rules applied literally to
// the split levels, without regard for speed.
func naiveMatch(filter, name string) bool {
	f, n := strings.Split(filter, "/"), strings.Split(name, "/")
	if strings.HasPrefix(name, "$") && (f[0] == "+" || f[0] == "#") {
		return false // [MQTT-4.7.2-1]
	}
	for i := 0; ; i++ {
		switch {
		case i == len(f):
			return i == len(n)
		case f[i] == "#":
			return true // the rest, possibly nothing
		case i == len(n):
			return false
		case f[i] != "+" && f[i] != n[i]:
			return false
		}
	}
}

// Random topics are built from few distinct levels so that filters and names
// often overlap.
var (
	randLevels       = []string{"a", "b", "c", "", "$s", "d.e", "é"}
	randFilterLevels = append([]string{"+", "+"}, randLevels...)
)

func randName(r *rand.Rand) string {
	n := 2 + r.IntN(4) // two or more, so never the invalid ""
	levels := make([]string, n)
	for i := range levels {
		levels[i] = randLevels[r.IntN(len(randLevels))]
	}
	if r.IntN(3) == 0 {
		levels = levels[:1] // a single level, never empty
		if levels[0] == "" {
			levels[0] = "a"
		}
	}
	return strings.Join(levels, "/")
}

func randFilter(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	levels := make([]string, n)
	for i := range levels {
		levels[i] = randFilterLevels[r.IntN(len(randFilterLevels))]
	}
	if r.IntN(3) == 0 {
		levels[n-1] = "#"
	}
	if f := strings.Join(levels, "/"); f != "" {
		return f
	}
	return "+"
}

func TestMatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		f, n := randFilter(r), randName(r)
		if ValidateFilter(f) != nil || ValidateName(n) != nil {
			t.Fatalf("generated invalid input %q, %q", f, n)
		}
		if got, want := Match(f, n), naiveMatch(f, n); got != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", f, n, got, want)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	if a := testing.AllocsPerRun(100, func() { Match("a/+/c/#", "a/b/c/d/e") }); a != 0 {
		t.Fatalf("Match allocates %v times, want 0", a)
	}
}
