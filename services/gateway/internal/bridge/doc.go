// Package bridge is the gateway's only user of NATS and JetStream. It moves
// MQTT application messages between gateways: live delivery over core NATS,
// durable (QoS 1 and 2) messages through one JetStream stream per tenant,
// retained messages through a second stream per tenant, and session takeover
// notices between gateways.
//
// # Subjects
//
// A tenant id is a NATS-safe token, [a-z0-9][a-z0-9-]* (at most 64 bytes);
// every entry point refuses any other with ErrInvalidTenant, so one tenant's
// subjects can never reach into another's. MQTT topics are mapped to subject
// tokens by pkg/subject (reversible, '$' topics under their own marker).
// With <t> the tenant and <topic> the mapped topic:
//
//	flock.<t>.m.<topic>      live QoS 0 publishes (core NATS)
//	flock.<t>.q.<topic>      live QoS 1/2 publishes, republished by JetStream
//	flockjs.<t>.<topic>      QoS 1/2 publishes, stored in stream FLOCK_<T>
//	flockret.<t>.<topic>     retained messages, stream FLOCK_RET_<T>
//	flockgw.<gateway>.kick   session takeover notices for one gateway
//
// A subscription to an MQTT filter subscribes to subject.Filter("flock.<t>.*",
// filter), so one subscription receives both classes of a topic.
//
// # Durable messages
//
// Publish of a QoS 1/2 message stores it in the tenant's stream FLOCK_<T>
// (subjects flockjs.<t>.>, created lazily and idempotently, file storage,
// limits on messages, bytes and age, DiscardOld so that the oldest messages
// age out instead of refusing new ones). Publish returns only once JetStream
// has acknowledged the message, so the gateway sends PUBACK/PUBREC only for
// durable messages. PublishAsync starts the same publish and returns a
// PubFuture to wait on: publishes of one Bridge reach the stream in call
// order, so a connection hands its client's publishes over in arrival
// order, keeps reading, and acknowledges each when its future reports it
// stored, without a round trip per message. The stream republishes every stored message to
// flock.<t>.q.<topic> (StreamConfig.RePublish); live subscribers therefore
// get each durable message exactly once, after it is stored, with the stream
// sequence in the Nats-Sequence header, which becomes Message.Seq. RePublish
// with '>' in source and destination works as needed in nats-server 2.15.2
// (TestPublishQoS1Seq and the QoS 1 cases of TestSubscribeFilters prove
// it). Limits are applied when a process first uses a tenant, and again on
// ApplyLimits.
//
// There is no JetStream consumer per subscription or per session: the NATS
// server's own MQTT support creates one durable consumer per QoS 1
// subscription, and its users hit JetStream API timeouts at a few thousand
// sessions (nats-server issues 3116, 6191, 5471). Here a session's position
// in its tenant's stream is a number the session store keeps. On reconnect,
// Replay reads the messages after that position with stateless batched
// direct gets ($JS.API.DIRECT.GET with next_by_subj, one cursor per filter
// subject, merged by sequence), which create nothing on the server; a
// short-lived consumer was measured and is slower for narrow filters
// (BenchmarkReplay, numbers at replayDirect). Fetch re-reads one in-flight
// message by sequence with a direct get. When the tenant's limits discarded
// messages a session had not yet seen, ReplayFrom reports how many
// sequences are gone so the caller can say so in its logs. When NATS drops
// republished copies for a plain subscription whose handler fell behind,
// the subscription reads the durable ones back from the stream with the
// same direct gets and hands them over in order, each once (gapfill.go).
//
// # Retained messages
//
// FLOCK_RET_<T> keeps at most one message per subject (MaxMsgsPerSubject 1)
// and at most the tenant's retained limit in total (DiscardNew: a new topic
// beyond the limit is refused with an error wrapping ErrQueueFull, while
// replacing an existing topic always works). An empty payload deletes the
// topic's retained message by purging its subject [MQTT-3.3.1-10]. Reading
// the retained messages for a filter is stateless: one multi_last direct
// get, which the server answers from its subject index at a cost that
// follows the matching topics, not the tenant's total (one match among
// 10,000 retained in about 30 µs); when more than 1024 topics match, the
// server refuses that and Retained falls back to batched direct gets over
// the filter (10,000 matches in 35-50 ms; BenchmarkRetained). Since
// every stored message is the last of its subject, that equals
// DeliverLastPerSubject without a consumer. Those batches grow
// geometrically because the server recounts the pending messages of a
// wildcard filter at every batch. Messages
// with a message expiry interval carry a per-message TTL so the server drops
// them, and Retained skips any that expired but were not yet removed
// [MQTT-3.3.2-5].
//
// # Envelope
//
// Messages cross NATS in a compact binary envelope (EncodeMessage,
// DecodeMessage) whose first byte is its version. The tenant travels in the
// subject; the topic and every MQTT property a subscriber needs travel in the
// envelope. See message.go for the layout.
//
// # Tracing
//
// When Publish or SetRetained is called with a context carrying an
// OpenTelemetry span, the span's W3C trace context travels in NATS headers
// (traceparent, tracestate); JetStream stores and republishes them, so the
// message's Trace field holds the publisher's span wherever it is
// delivered, replayed, fetched or read as retained. Without a span no
// header is added.
//
// # Concurrency
//
// A Bridge is safe for concurrent use and starts no goroutines of its own:
// handlers run on nats.go's subscription goroutines. Handler calls for one
// Subscription are sequential (Subscription.mu is held during the call);
// different Subscriptions call their handlers concurrently. Messages a
// plain subscription reads back after NATS dropped them (gapfill.go) are
// read in its delivery goroutine, with Subscription.mu held, and handed
// to the handler the same way. A handler may
// call Unsubscribe but must not call Close, which waits for handlers. Locks
// are never nested: Bridge.mu guards the set of live subscriptions,
// tenantStreams.mu serialises one tenant's stream creation, and neither is
// held while calling out. The Bridge does not own the *nats.Conn it is
// given: Close drains the Bridge's subscriptions and leaves the connection
// open.
package bridge
