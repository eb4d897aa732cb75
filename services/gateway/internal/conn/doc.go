// Package conn serves one MQTT network connection: the CONNECT handshake
// and authentication, the session claim and takeover, the read loop, the
// write loop, keepalive, QoS 0/1/2 in both directions, subscriptions,
// retained messages, wills and the resumption of persistent sessions.
//
// # Goroutines
//
// Serve runs the read loop in the caller's goroutine; the handshake runs
// on a pool worker (handshake_pool.go) while Serve waits, so that its deep
// stack (token verification, session claim) is not kept by the long-lived
// one, which waits for input outside the decoder (loop). Start runs the
// same loop but parks an idle plain TCP connection in the gateway's Poller
// (epoll) instead of waiting in a read, so that it holds no goroutine at
// all: a goroutine is started when input arrives, the keepalive deadline
// passes or Kill is called (park.go, docs/adr/0008-idle-connections.md). A
// writer goroutine drains the outbound queue: it takes what is queued (a
// small buffer, or under load up to four 64 KiB chunks at a time, see
// spaceLocked), runs the session store writes queued with it (in order, so
// an in-flight entry is stored before its PUBLISH leaves and deleted after
// its acknowledgement), then writes the packets one buffer per call; so a
// busy connection batches and an idle one flushes at once. The writer runs only
// while there is something to write (wakeLocked starts it) and the read
// buffers are pooled between bursts (lazyReader, readState, pubState), so
// an idle connection holds no buffers, and no goroutine when parked. While
// inbound QoS 1/2 publishes wait for JetStream, one more goroutine answers
// them in arrival order (publish.go, drainPipe); a resumed persistent
// session runs another while it replays what the client missed. Serve (or,
// for Start, the end of the connection) waits for all of them.
//
// Messages from the router arrive on bridge goroutines through Deliver,
// which never blocks: QoS 0 messages beyond the queue's byte bound are
// dropped and counted; QoS 1 and 2 messages wait in a pending list while
// the client's Receive Maximum is used up [MQTT-3.3.4-9], and a client that
// lets that list overflow, or does not take the bytes written to it within
// the write timeout, is disconnected. Memory per connection stays bounded.
//
// # Lock order
//
// Conn.mu guards the outbound state (queue, in-flight, pending, stream
// position); it is a leaf lock: nothing else is locked while it is held, and
// no socket or store I/O happens under it (the writer and the read loop do
// theirs after releasing it). Fields set during the handshake are read-only
// afterwards; fields of the read loop are owned by the serving goroutine
// (see the field comments).
//
// # Closing
//
// Every end of a connection has a CloseReason, reused in the log line and,
// for MQTT 5, as the DISCONNECT reason code. Another goroutine (a takeover,
// a shutdown, a kick) ends a connection with Kill, which records the reason
// and expires the read deadline, and wakes a parked connection, so the read
// loop stops, sends the DISCONNECT through the writer and closes the socket
// itself.
//
// # Quotas, presence and credentials
//
// With Env.Quotas a connection takes one of its tenant's connections after
// authentication and before the session claim, and gives it back when it
// ends; it checks the subscriptions-per-device quota filter by filter and
// clamps the session expiry. Conn.quota is the tenant's *limits.Tenant for
// the per-publish checks. With Env.Presence the connection is reported
// after its CONNACK and when it ends (closeSentence, the same words as the
// log line). A timer ends the connection when its identity's ExpiresAt
// passes (CloseTokenExpired); an MQTT 5 re-authentication (AUTH 0x19, same
// method, through auth.Reauthenticator when the authenticator has it)
// replaces the identity and moves the timer.
//
// # Persistent sessions
//
// Outbound QoS 1/2 messages carry the stream sequence of the tenant's
// durable stream. The session's LastSeq advances to just below the oldest
// unacknowledged message. On resume the connection subscribes again (live
// messages are buffered meanwhile), resends the stored in-flight messages
// with DUP set and their original packet identifiers [MQTT-4.4.0-1], replays
// the durable stream after LastSeq for its QoS 1/2 plain subscriptions,
// then delivers the buffered live messages that the replay did not cover.
// The stream republishes a stored message to live subscribers a moment
// after storing it, so a live copy of a replayed message can arrive after
// the resume has ended: live QoS 1/2 messages at or below the replay's end
// are dropped as the duplicates they are.
// A completed QoS 2 message above LastSeq (acknowledged out of stream
// order) keeps its in-flight entry until LastSeq passes it, so a resume
// sends its PUBREL again rather than the message (qos2.go, which also
// describes how an inbound QoS 2 flow survives a gateway crash); a QoS 1
// message acknowledged out of order may be sent again.
//
// Shared subscriptions have a stream position per group instead
// (shared.go): a member that subscribes or resumes drains, under the
// group's lock, what the group missed while none of its members was
// connected.
//
// # Topic aliases
//
// MQTT 5 clients that accept topic aliases get them on outbound PUBLISH
// packets, one per topic, least recently used replaced first (alias.go).
package conn
