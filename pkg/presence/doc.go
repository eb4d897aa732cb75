// Package presence records which devices are connected, to which gateway,
// since when, and why they last disconnected, so that the control plane can
// answer "is my device online?" without calling any gateway.
//
// # Storage
//
// Gateways write presence into the NATS JetStream key-value bucket
// FLOCK_PRESENCE (history 1, file storage, created when missing):
//
//	devices.<tenant id>.<device id>  → Status (JSON)
//	gateways.<gateway id>            → the gateway's heartbeat (JSON)
//	sweeps.<gateway id>              → the sweep lock of a dead gateway (JSON)
//
// # Several connections per device
//
// A device may hold several connections at once: its client ids are
// "<device id>" or "<device id>:<suffix>" (tenant.ClientIDBelongs), possibly
// on different gateways. A device's Status therefore lists its live
// Connections, one per client id, each naming the gateway and the gateway
// instance holding it; the device is connected while the list is not empty.
// The top-level ClientID, Gateway, RemoteAddr, Protocol and ConnectedAt
// describe the most recent connection.
//
// Each gateway owns its own entries in that list. A Reporter keeps the
// gateway's connections in memory and, for a device whose connections
// changed, rewrites the stored record with compare-and-set (read, merge,
// update at the read revision, retry on conflict): it replaces the entries
// of its own gateway with its current ones and keeps the other gateways'.
// Two gateways may thus report the same device concurrently without losing
// each other's connections. When one client id is found on two gateways (a
// session take-over in flight), the connection with the later ConnectedAt
// wins, so the order in which the two gateways write does not matter (it
// assumes gateway clocks agree to well under the time a take-over takes).
//
// # Never blocking the MQTT hot path
//
// Reporter.Connected and Reporter.Disconnected only update memory and mark
// the device dirty in a bounded queue that holds each device at most once:
// a burst of updates for one device costs one write with the latest state.
// Background workers started by Reporter.Run drain the queue. When the queue
// is full the update is not queued, a warning is logged, and once the queue
// has drained the reporter resynchronises every device it holds or that the
// bucket says it holds, so the stored state converges again.
//
// # Deleted devices
//
// When a device is deleted through the control plane, Reader.Forget
// deletes its record. The delete leaves a marker, and a Reporter that has
// only a disconnection to record for a device without a record writes it
// only if the key never held any value (compare-and-set expecting revision
// 0), so the end of the deleted device's last connection, which its
// gateway reports just after (the device's revocation cuts it off), does
// not bring the record back. The markers stay, one small entry per deleted
// device that had been seen, like the device's own delete marker in the
// configuration bucket. A device created again under the same id is
// reported as usual from its first connection on; only a connection that
// both began and ended before the gateway wrote anything goes unrecorded.
// One race remains: if the gateway's first write of the deleted device's
// connection itself lands after Forget (it was queued behind others) and
// before the revocation cuts the connection (milliseconds), the record
// comes back and then reads as disconnected; the control plane shows it
// only if a device of the same id is created again, until that device
// connects.
//
// # Dead gateways
//
// A gateway that dies leaves its connections behind in the bucket. Every
// Heartbeat (5s by default) a Reporter rewrites its key gateways.<id> with
// its heartbeat interval and a random instance id chosen at start. A Reader
// (and a Reporter merging other gateways' entries) treats a connection as
// gone when its gateway's heartbeat is missing, comes from another instance
// (the gateway restarted), or was written more than three heartbeat
// intervals ago, as measured by the NATS server's timestamp on the entry.
// A device left with no live connection this way reads as disconnected with
// the reason "gateway <id> stopped responding".
//
// # Sweeping a dead gateway's sessions
//
// Presence only reports what a dead gateway left behind; its MQTT
// sessions are cleaned up by the surviving gateways. Reader.Gateways lists
// every heartbeat (a gateway that stops cleanly deletes its own, so what
// stays behind and grows old is a crash), Gateway.Alive judges one against
// a grace period, and Reader.ClaimSweep elects one gateway per dead
// instance through the key sweeps.<gateway id>: created with
// compare-and-set, refreshed by its holder, taken over once older than its
// time to live, and marked done with the dead instance's id so that
// instance is swept only once.
package presence
