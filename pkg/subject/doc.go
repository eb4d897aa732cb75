// Package subject maps MQTT topic names and filters to NATS subjects and
// back. It imports only the standard library and pkg/topic, and never logs.
//
// # Names
//
// A topic name under a prefix such as "flock.acme.m" becomes
//
//	<prefix>.<marker>.<level>.<level>...
//
// with one NATS token per MQTT level:
//
//	sensors/t1       flock.acme.m.t.sensors.t1
//	a.b/c d          flock.acme.m.t.a%2Eb.c%20d
//	/a//             flock.acme.m.t.%.a.%.%
//	$SYS/broker      flock.acme.m.s.$SYS.broker
//	héllo            flock.acme.m.t.h%C3%A9llo
//
// Printable ASCII passes through except '.', '*', '>' (NATS syntax), '%'
// (the escape) and '/', '+', '#' (MQTT syntax). Every other byte, including
// space, control characters and each byte of a multi-byte UTF-8 character,
// becomes '%' and two upper-case hex digits. An empty level becomes the
// token "%", which no escape can produce. So every token is non-empty, is
// never "*" or ">", and holds no '.' or whitespace, while ordinary ASCII
// topics stay readable. Non-ASCII bytes are escaped rather than passed
// through because NATS tooling and some clients assume ASCII subjects.
//
// Escaping can triple a level's bytes, while the NATS server refuses
// protocol lines longer than its max_control_line (4 KiB by default); a
// gateway should check NameLen against its limit before publishing.
//
// The mapping is total and reversible: ParseName(prefix, Name(prefix, n))
// == n for every valid name. ParseName accepts only the canonical spelling
// (no "%41" for "A", no lower-case hex), so each valid name has exactly one
// subject and a message published straight to NATS cannot reach MQTT
// subscribers under a second spelling. The NATS server's own MQTT support
// (server/mqtt.go) is not total: it refuses topics holding whitespace or
// DEL, and copies a level "*" or ">" through, so the valid topic name "a/*"
// becomes the wildcard subject "a.*". Escaping every byte NATS gives a
// meaning to, and marking empty levels with a token of their own, avoids
// both problems.
//
// # The '$' marker
//
// The token after the prefix is a marker: "s" when the first level starts
// with '$', "t" otherwise. NATS wildcards would match '$' topics, while MQTT
// filters starting with '+' or '#' must not [MQTT-4.7.2-1]. Filter puts the
// marker "t" under any filter whose first level is a wildcard, so NATS
// itself never delivers a '$' topic to such a subscription; a filter whose
// first level is a literal gets the marker its first level calls for.
//
// # Filters
//
// Filter returns the subscription subjects for an MQTT filter: '+' becomes
// '*', '#' becomes '>', literal levels are escaped as in names. Since '#'
// also matches the parent level [MQTT-4.7.1-2] and NATS '>' needs at least
// one token, a filter ending in "/#" yields two subjects:
//
//	#            <prefix>.t.>
//	a/#          <prefix>.t.a  <prefix>.t.a.>
//	+/status     <prefix>.t.*.status
//	$SYS/#       <prefix>.s.$SYS  <prefix>.s.$SYS.>
//
// The union of the subjects matches exactly the subjects of the names the
// filter matches; the tests check this against topic.Match with a NATS
// subject matcher. The prefix passes through untouched and may hold NATS
// wildcards ("flock.*.m"); ParseNameAfter decodes subjects received on such
// a subscription by skipping the prefix's token count.
package subject
