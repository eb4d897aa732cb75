package subject

import (
	"testing"

	"github.com/flockmq/flockmq/pkg/topic"
)

// FuzzName checks that every string maps to a valid literal subject and
// that every valid name survives the round trip.
func FuzzName(f *testing.F) {
	for _, s := range []string{"sensors/t1", "a.b", "/", "$SYS/x", "a/*/>", "%", "%2E", "é", " ", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		subj := Name(prefix, name)
		checkSubject(t, subj)
		if n := NameLen(prefix, name); n != len(subj) {
			t.Fatalf("NameLen(%q) = %d, want %d", name, n, len(subj))
		}
		back, err := ParseName(prefix, subj)
		valid := topic.ValidateName(name) == nil
		switch {
		case valid && (err != nil || back != name):
			t.Fatalf("ParseName(Name(%q)) = %q, %v", name, back, err)
		case !valid && err == nil:
			t.Fatalf("ParseName(Name(%q)) accepts an invalid name as %q", name, back)
		}
	})
}

// FuzzParseName checks that ParseName accepts only canonical subjects: a
// subject it decodes is exactly the one Name gives for the result.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"flock.acme.m.t.a", "flock.acme.m.s.$a", "flock.acme.m.t.%.%", "flock.acme.m.t.a%2Eb", "flock.acme.m.t.a%41", "flock.acme.m.t.a..b", "flock.acme.m.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subj string) {
		name, err := ParseName(prefix, subj)
		if err != nil {
			return
		}
		if topic.ValidateName(name) != nil {
			t.Fatalf("ParseName(%q) = invalid name %q", subj, name)
		}
		if again := Name(prefix, name); again != subj {
			t.Fatalf("ParseName(%q) = %q, whose subject is %q", subj, name, again)
		}
	})
}

// FuzzFilter checks that the subjects of Filter match a name's subject
// exactly when topic.Match says the filter matches the name.
func FuzzFilter(f *testing.F) {
	for _, c := range [][2]string{{"a/#", "a"}, {"#", "$SYS/x"}, {"+/x", "$a/x"}, {"$SYS/#", "$SYS"}, {"/+", "/"}, {"a.b/+", "a/b/c"}, {"a/+/#", "a/ /."}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		if topic.ValidateFilter(filter) != nil || topic.ValidateName(name) != nil {
			return
		}
		if _, inner, ok, _ := topic.ParseShared(filter); ok {
			filter = inner
		}
		checkAgree(t, filter, name)
	})
}
