package conn

import "time"

// delivery is a connection's state for QoS 1/2 deliveries and their
// resume, inbound QoS 1/2 pipelines and QoS 2 bookkeeping, shared
// subscriptions, client topic aliases, QoS 0 back-pressure and the end of
// a session, and the rarely used enhanced-authentication method. Most connections of a gateway are
// idle devices that never need it, so it is made on first use (dl) rather
// than carried in every Conn: that keeps a Conn in a smaller size class
// (docs/adr/0008-idle-connections.md). Its fields are guarded by Conn.mu
// like the Conn fields they came from, or owned by the goroutine that
// owned them there.
type delivery struct {
	seqBroken   bool // a durable message was lost: stop advancing lastSeq
	resuming    bool
	nextID      uint16
	pipe        *pubPipe // inbound QoS 1/2 publishes awaiting JetStream; nil when none
	inflight    map[uint16]*outFlight
	retired     map[uint16]uint64 // completed QoS 2 packet ids whose store entries wait for lastSeq (qos2.go)
	shared      *sharedState      // shared subscription positions and drains (shared.go); nil until used
	pending     []pendingMsg
	room        chan struct{}  // signalled when pending shrinks; made by the first waiter (roomLocked)
	outstanding map[uint64]int // stream seqs delivered and not yet acknowledged
	maxSeq      uint64         // largest stream seq delivered
	lastSeq     uint64         // stream position recorded in the store
	positions   []position     // positions waiting for the client's other upstream subscriptions (advanceLocked)
	replayed    uint64         // the resume replay covered the stream through this sequence
	resumeBuf   []pendingMsg
	dropped     uint64        // QoS 0 messages dropped for a full queue
	stall       chan struct{} // closed when the writer takes the queue; see stallLocked
	stallSince  time.Duration // when stall was made (since clockStart)

	// Owned by the serving goroutine.
	inboundQoS2  map[uint16]bool   // packet ids awaiting PUBREL
	inboundNonce map[uint16]uint64 // resumed AwaitStore ids: packet id → deduplication nonce (qos2.go)
	aliases      map[uint16]string // client→server topic aliases
	expiryChange *uint32           // session expiry from the client's DISCONNECT
	rs           *resumeRun        // the resume goroutine; nil when none
	authMethod   string            // MQTT 5 enhanced authentication method (rare; auth.go)
}

// dl returns the connection's delivery state, making it on first use.
func (c *Conn) dl() *delivery {
	if d := c.d.Load(); d != nil {
		return d
	}
	c.d.CompareAndSwap(nil, new(delivery))
	return c.d.Load()
}

// authMethod returns the connection's MQTT 5 enhanced authentication
// method, "" when it has none, without making the delivery state.
func (c *Conn) authMethod() string {
	if d := c.d.Load(); d != nil {
		return d.authMethod
	}
	return ""
}
