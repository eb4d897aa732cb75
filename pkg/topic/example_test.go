package topic_test

import (
	"fmt"
	"slices"

	"github.com/flockmq/flockmq/pkg/topic"
)

func ExampleValidateFilter() {
	fmt.Println(topic.ValidateFilter("sensors/+/temp/#"))
	fmt.Println(topic.ValidateFilter("a/#/b"))
	fmt.Println(topic.ValidateFilter("$share/g+/a"))
	// Output:
	// <nil>
	// topic: invalid filter "a/#/b": '#' must be the last level
	// topic: invalid filter "$share/g+/a": shared subscription group contains a wildcard
}

func ExampleMatch() {
	fmt.Println(topic.Match("a/#", "a"))
	fmt.Println(topic.Match("a/+", "a/b/c"))
	fmt.Println(topic.Match("#", "$SYS/uptime"))
	// Output:
	// true
	// false
	// false
}

func ExampleParseShared() {
	group, inner, ok, err := topic.ParseShared("$share/workers/jobs/+")
	fmt.Println(group, inner, ok, err)
	// Output: workers jobs/+ true <nil>
}

func ExampleTree() {
	var t topic.Tree[string]
	fmt.Println(t.Add("home/+/temp", "alice")) // first: subscribe upstream
	fmt.Println(t.Add("home/+/temp", "bob"))
	t.Add("home/#", "carol")
	t.Add("$share/g/home/kitchen/temp", "dave")

	got := t.Match("home/kitchen/temp", nil)
	slices.Sort(got)
	fmt.Println(got)
	keys := t.MatchFilters("home/kitchen/temp", nil)
	slices.Sort(keys)
	fmt.Println(keys)

	fmt.Println(t.Remove("home/+/temp", "alice"))
	fmt.Println(t.Remove("home/+/temp", "bob")) // last: unsubscribe upstream
	// Output:
	// true
	// false
	// [alice bob carol dave]
	// [$share/g/home/kitchen/temp home/# home/+/temp]
	// true false
	// true true
}
