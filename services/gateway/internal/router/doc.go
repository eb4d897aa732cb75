// Package router keeps the local subscriptions of one gateway and fans the
// messages the bridge receives out to the local connections.
//
// # Upstream subscriptions
//
// Subscriptions are kept per tenant in a topic.Tree keyed by the filter
// exactly as the client sent it, so "a/+" and "$share/g/a/+" are distinct
// keys. The first local subscription to a key creates one bridge (NATS)
// subscription for it — a queue subscription in group g for a shared key —
// and removing the last one drops it. A gateway therefore holds one NATS
// subscription per distinct (tenant, filter, group), however many local
// clients share it, and nothing at all for a tenant without local clients.
//
// # Overlapping filters: one copy per client
//
// NATS delivers a message once per matching subscription, so a message on
// "a/b" arrives twice at a gateway holding both "a/+" and "a/#". The rule:
// among the plain (non-shared) keys that match the topic and whose upstream
// subscription is established, the copy that arrives through the
// lexicographically smallest key is the one processed; the other copies are
// ignored. The processing copy then matches the whole tree and gives every
// local client the message once, with the largest QoS of its matching
// subscriptions, the identifiers of all of them (MQTT 5 subscription
// identifiers, [MQTT-3.3.4-3] and [MQTT-3.3.4-5]), and the retain flag kept
// when any of them asked for retain-as-published [MQTT-3.3.1-12]. A client
// whose matching subscriptions all carry No Local is skipped for its own
// messages [MQTT-3.8.3-3]. This is the "deliver once with the maximum QoS"
// option of [MQTT-3.3.4-2].
//
// While a new key's upstream subscription is being established, or an old
// one torn down, a message in flight can be processed twice or not at all
// for clients of the overlapping filters; the window is the time NATS takes
// to register one subscription.
//
// Shared keys are handled apart: each copy that arrives through a shared key
// goes to exactly one local member of that group, chosen round-robin
// [MQTT-4.8.2-3], and never counts as a plain copy.
//
// # Concurrency
//
// A Router is safe for concurrent use. Deliver is called from the bridge's
// subscription goroutines, concurrently for different keys; clients must
// not block in it.
package router
