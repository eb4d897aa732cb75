package conn

import "strings"

// Server-to-client topic aliases (MQTT 5.0 section 3.3.2.3.4).
//
// A client that sets Topic Alias Maximum N > 0 in its CONNECT accepts
// PUBLISH packets whose topic is replaced by an alias 1..N. The gateway
// then gives each topic it sends an alias on first use: that PUBLISH
// carries the topic and the alias, later ones to the same topic an empty
// topic and the alias only. When all N aliases are taken, the least
// recently used one is given to the new topic (the PUBLISH that moves it
// carries the new topic, which replaces the mapping on the client). The
// gateway never sends alias 0 [MQTT-3.3.2-8] nor one above N
// [MQTT-3.1.2-26] [MQTT-3.3.2-11], none at all when N is 0 [MQTT-3.1.2-27]
// or Limits.OutTopicAliases is off, and starts every network connection
// with no mapping [MQTT-3.3.2-7]: the table lives in the Conn, so a resumed
// session's resent messages set their aliases again.
//
// The mapping changes only when a PUBLISH that sets it is queued for the
// writer (commit under Conn.mu, in queue order), never for one that is
// encoded and then dropped (a QoS 0 message over the queue bound, a packet
// over the client's Maximum Packet Size), so the client always learns an
// alias before it sees it used.
//
// LRU versus first-come, measured by BenchmarkEncodePublish (client
// maximum 16, 64-byte payload, 48-byte topics, 2-core machine; go test
// -run x -bench EncodePublish -benchtime 300ms ./services/gateway/internal/conn):
//
//	workload                 none           LRU            first-come
//	hit: 8 topics in turn    267 ns, 120 B  224 ns,  74 B  220 ns,  74 B
//	churn: 32 in turn        326 ns, 120 B  500 ns, 123 B  355 ns,  97 B
//	shift: 16, moving        367 ns, 120 B  235 ns,  74 B  276 ns, 119 B
//
// Times vary by about half on the shared machine from run to run; bytes
// per packet and allocations (4 per packet in every case, fewer bytes
// allocated with aliases) do not. On hits both cost the same (the shorter
// packet pays for the lookup).
// First-come is cheaper when topics outnumber the aliases and are visited
// in a cycle, LRU's worst case, where every PUBLISH carries the topic and
// an alias (3 bytes more than none). But first-come keeps its aliases on
// the first topics forever, so a client whose topics move on (request and
// response topics, a device fleet that changes) gets nothing from it,
// while LRU follows the working set. The gateway uses LRU.

// aliasSlot is one alias: its topic and its neighbours in recency order
// (alias numbers; 0 is none).
type aliasSlot struct {
	topic      string
	prev, next uint16
}

// outAliases is one connection's server-to-client alias table. It is
// guarded by Conn.mu.
type outAliases struct {
	max     uint16            // the client's Topic Alias Maximum
	lru     bool              // reassign the least recently used alias when full; false: first-come
	byTopic map[string]uint16 // topic → alias
	slots   []aliasSlot       // slots[a-1] is alias a; grows up to max
	head    uint16            // most recently used alias; 0 when empty
	tail    uint16            // least recently used alias; 0 when empty
}

// aliasUse is the alias decision for one encoded PUBLISH: alias 0 means
// the topic is sent in full without an alias; known means the client has
// the mapping already and the topic was left out.
type aliasUse struct {
	topic string
	alias uint16
	known bool
}

func newOutAliases(max uint16, lru bool) *outAliases {
	return &outAliases{max: max, lru: lru, byTopic: make(map[string]uint16)}
}

// choose returns the alias to send topic with. It changes nothing: commit
// does, once the packet is queued.
func (a *outAliases) choose(topic string) aliasUse {
	if n, ok := a.byTopic[topic]; ok {
		return aliasUse{topic: topic, alias: n, known: true}
	}
	switch {
	case len(a.slots) < int(a.max):
		return aliasUse{topic: topic, alias: uint16(len(a.slots) + 1)}
	case a.lru && a.tail != 0:
		return aliasUse{topic: topic, alias: a.tail}
	}
	return aliasUse{topic: topic}
}

// commit records that the PUBLISH encoded with u was queued.
func (a *outAliases) commit(u aliasUse) {
	if u.alias == 0 {
		return
	}
	if u.known {
		if a.lru {
			a.touch(u.alias)
		}
		return
	}
	// The topic may alias a publisher's read buffer (a borrowed message):
	// the table keeps its own copy.
	topic := strings.Clone(u.topic)
	if int(u.alias) > len(a.slots) {
		a.slots = append(a.slots, aliasSlot{topic: topic})
		a.pushFront(u.alias)
	} else {
		s := &a.slots[u.alias-1]
		delete(a.byTopic, s.topic)
		s.topic = topic
		a.touch(u.alias)
	}
	a.byTopic[topic] = u.alias
}

// touch makes alias n the most recently used.
func (a *outAliases) touch(n uint16) {
	if a.head == n {
		return
	}
	s := &a.slots[n-1]
	// Unlink n (it is not the head, so it has a prev).
	a.slots[s.prev-1].next = s.next
	if s.next != 0 {
		a.slots[s.next-1].prev = s.prev
	} else {
		a.tail = s.prev
	}
	a.pushFront(n)
}

// pushFront links the unlinked alias n in front.
func (a *outAliases) pushFront(n uint16) {
	s := &a.slots[n-1]
	s.prev, s.next = 0, a.head
	if a.head != 0 {
		a.slots[a.head-1].prev = n
	}
	a.head = n
	if a.tail == 0 {
		a.tail = n
	}
}
