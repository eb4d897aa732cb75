// Package redisstore is the production session.Store, kept in Redis through
// go-redis's UniversalClient, so the same code serves a single node, a
// Sentinel-managed primary and a Redis Cluster.
//
// # Key layout
//
// A session is one hash. Its key is
//
//	<prefix>{sNN}:<tenant>:<client id>
//
// where tenant and client id are percent-escaped ('%', ':', '{' and '}'
// become %25, %3A, %7B, %7D), so the one ':' between them is unambiguous:
// no client id of one tenant can spell a key of another tenant, and no id
// can open or close a hash tag. NN is a shard number, FNV-1a of
// "<tenant>:<client id>" (escaped) modulo 256, in hex.
//
// The hash holds meta fields as decimal strings (e epoch, o owner,
// c connected, p protocol level, x expiry interval, d disconnected-at in
// unix ms, q last sequence) that the Lua scripts read and compare, and
// compact binary values for the rest: w the will; s:<filter> one
// subscription (an option byte, then the subscription id as a uvarint when
// set); i:<direction><packet id> one in-flight entry (QoS, state, then the
// stream sequence as a uvarint when set). Binary is chosen over JSON
// because will payloads are arbitrary bytes (JSON would base64 them, a
// third larger) and because the scripts never parse these values, while a
// typical subscription costs one byte.
//
// Each shard has an expiry index, a sorted set
//
//	<prefix>{sNN}:expiry
//
// of the disconnected sessions that can expire, scored by deadline (unix
// ms). Index and session hashes share the shard's hash tag, so in Cluster
// they live in one slot and a Lua script can update both atomically:
// Claim removes the session from the index, Disconnect and SetExpiry add or
// move it, Delete removes it, all in the same script that writes the hash.
// Expired walks the 256 indexes in one pipeline (a Cluster client splits it
// by node), merges the earliest deadlines and loads those sessions in a
// second pipeline. 256 shards spread sessions over 256 slots, enough to
// balance a cluster of tens of primaries; the count is part of the layout
// and cannot change without migrating keys.
//
// Each shard also has an owner index, a sorted set
//
//	<prefix>{sNN}:owners
//
// of the connected sessions, all scored 0, whose members are
// "<escaped owner>:<member>", so a lexical range lists one gateway's
// sessions in that shard. Claim moves a session's entry from its previous
// owner to the new one, Disconnect, Delete and Orphan remove it, in the
// same scripts. Owned reads 16 shards' indexes per pipeline, in shard order,
// and pages with the cursor "<shard>:<member>"; a page holds at most 16×limit
// index entries in memory. Sessions claimed before the index existed are
// not in it: they are orphaned only when their clients come back.
//
// Each shard also has a will index, a sorted set
//
//	<prefix>{sNN}:wills
//
// of the disconnected sessions whose will is due before the session ends
// (session.State.WillDueAt), scored by that due time (unix ms):
// DisconnectedAt plus the will delay, which the scripts read from the
// encoded will. Disconnect, Orphan, SetWill and SetExpiry add, move or
// remove the entry in the script that writes the hash; Claim, Delete and
// TakeWill remove it. Sessions without a delayed will have no entry, so
// the index costs nothing for them. DueWills reads it as Expired reads the
// expiry index, and sets right from the hash any entry it finds stale (a
// gateway that predates the index claims a session without removing its
// entry). Sessions disconnected before the index existed are not in it
// until one of those scripts next writes them: their delayed wills go with
// the session's end.
//
// # Atomicity and fencing
//
// Claim and every write are one Lua script each (EVALSHA through
// redis.Script, falling back to EVAL when the server does not know the
// script yet), so each is a single round trip and atomic. Writes compare
// the caller's epoch with the stored one and refuse with session.ErrFenced
// when they differ. Claim sets the epoch to the larger of the previous
// epoch plus one and the Redis server clock in microseconds: epochs of a
// key keep increasing even after the session was deleted and its counter
// lost, as long as the Redis clock does not step back.
//
// TakeWill gives the session a new epoch the same way, so a sweeper that
// listed it through Expired before the take cannot Delete it and publish
// the will again.
//
// Redis itself expires nothing: sessions leave only through Disconnect
// with interval 0, Delete, or a clean or expired Claim. The gateways' will
// sweepers, reading Expired and DueWills, publish wills and delete expired
// sessions.
package redisstore
