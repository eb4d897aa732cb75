package subject_test

import (
	"fmt"

	"github.com/flockmq/flockmq/pkg/subject"
)

func ExampleName() {
	fmt.Println(subject.Name("flock.acme.m", "sensors/t1"))
	fmt.Println(subject.Name("flock.acme.m", "a.b//c d"))
	fmt.Println(subject.Name("flock.acme.m", "$SYS/uptime"))
	// Output:
	// flock.acme.m.t.sensors.t1
	// flock.acme.m.t.a%2Eb.%.c%20d
	// flock.acme.m.s.$SYS.uptime
}

func ExampleParseName() {
	name, err := subject.ParseName("flock.acme.m", "flock.acme.m.t.a%2Eb.%.c%20d")
	fmt.Printf("%q %v\n", name, err)
	_, err = subject.ParseName("flock.acme.m", "flock.acme.m.t.%41")
	fmt.Println(err)
	// Output:
	// "a.b//c d" <nil>
	// subject: invalid subject "flock.acme.m.t.%41": has a non-canonical escape "%41"
}

func ExampleFilter() {
	fmt.Println(subject.Filter("flock.acme.m", "sensors/#"))
	fmt.Println(subject.Filter("flock.acme.m", "#"))
	fmt.Println(subject.Filter("flock.*.m", "+/status"))
	// Output:
	// [flock.acme.m.t.sensors flock.acme.m.t.sensors.>]
	// [flock.acme.m.t.>]
	// [flock.*.m.t.*.status]
}
