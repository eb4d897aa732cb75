// Package topic validates MQTT topic names and filters, matches them, and
// keeps subscriptions in a concurrent tree. It follows MQTT 3.1, 3.1.1 and
// 5.0, whose rules here are the same. It imports only the standard library
// and never logs.
//
// # Names and filters
//
// ValidateName and ValidateFilter apply the rules a server must enforce:
// non-empty [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3], well-formed
// UTF-8 without U+0000 [MQTT-4.7.3-2], no wildcard in a name [MQTT-3.3.2-2],
// '#' alone and last [MQTT-4.7.1-2], '+' alone in its level [MQTT-4.7.1-3],
// and the shape of a shared subscription "$share/{group}/{filter}"
// [MQTT-4.8.2-1] [MQTT-4.8.2-2]. A filter whose first level is exactly
// "$share" is always treated as a shared subscription, so "$share" alone is
// invalid, and a shared subscription inside another one is refused, so that
// every inner filter is a valid filter on its own. Errors wrap the sentinels ErrInvalidName and ErrInvalidFilter and
// say which rule broke, e.g.
//
//	topic: invalid filter "a/#/b": '#' must be the last level
//
// Match applies the matching rules: '+' matches one level, '#' any number
// of levels including none, so "a/#" matches "a"; a name starting with '$'
// is not matched by a filter starting with a wildcard [MQTT-4.7.2-1]; empty
// levels ("a//b", "/a", "a/") are levels; comparison is byte exact
// [MQTT-4.7.3-4].
//
// # The subscription tree
//
// Tree[T] maps filters to sets of caller values (a subscription handle, a
// client with its options) and answers "which values does this name reach".
// Add and Remove report when a filter gains its first or loses its last
// value, so a gateway can keep exactly one upstream (NATS) subscription per
// distinct filter. Values lists one filter's values, MatchFilters the
// distinct filters matching a name, Filters all of them.
//
// The tree is a radix tree over levels: a node's label is one or more
// levels, and a chain without branches is one node, so the usual
// "devices/{id}/+/telemetry/#" costs one node below a shared "devices".
// Literal kids sit in a small slice, or a map once there are more than
// eight; the '+' kid and the '#' kid have their own slots, so a lookup costs
// one probe per level plus the wildcard branches. Labels point into the
// filter strings given to Add while those filters are subscribed, and are
// copied when they outlive them, so the tree keeps no removed filter alive.
// Removing the last value of a filter frees its node, merges a parent left
// with one kid into it, and shrinks slices and maps that have emptied: an
// emptied tree is back to its zero size. A leaf keeps its kids and shared
// subscriptions out of line, so the common subscription costs one small node
// and its parent's index entry: BenchmarkTreeAddRemove1M measures about 125
// bytes per subscription on top of the filter string, and Match stays well
// under a microsecond with a million subscriptions.
//
// A Tree is guarded by a sync.RWMutex: Match, MatchFilters, Values, Has,
// Filters and Len share it, Add and Remove hold it alone. Match and
// MatchFilters do not allocate when dst has room.
//
// # Shared subscriptions
//
// The tree keys subscriptions by the filter string exactly as the client
// sent it. "a/+", "$share/g1/a/+" and "$share/g2/a/+" are three keys, each
// with its own values and its own first/last reports, so the gateway can
// hold one NATS queue subscription per (group, filter) beside the plain one.
// Matching uses the inner filter: Match returns the values of all three for
// "a/b". Match does not pick one member per group; a caller that delivers
// shared subscriptions uses MatchFilters to learn which keys matched and
// Values to pick a member of each group (or keeps the group in T).
package topic
