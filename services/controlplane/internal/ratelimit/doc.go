// Package ratelimit counts control-plane requests in fixed time windows that
// every control-plane instance on one NATS system shares, so that a limit
// such as "50 requests per second per API key" holds however many
// instances serve the API (docs/adr/0005-shared-rate-limits.md).
//
// A Counter keeps one counter per (scope, id, window) in a JetStream stream
// that allows message counters (nats-server 2.12 or later): counting a
// request is one publish carrying the header "Nats-Incr: 1", and the
// server answers with the counter's new value, atomically, whatever the
// number of instances counting at once; there is no read-modify-write and
// no retry under contention. A window's counter lives on the subject
//
//	flockrate.<stream>.<scope>.<id>.<window number>
//
// where the window number is the Unix time divided by the window's
// period; counters of past windows are dropped by the stream's age limit
// (twice the longest window) and, first, by its size limit (oldest first).
// The stream is kept in memory: losing it when NATS restarts only resets
// the current windows.
//
// WindowFor turns a token bucket (rate, burst) into the window that keeps
// both its average rate and its burst: a period of burst/rate (at least a
// second) holding at most burst requests. A fixed window may let through
// up to twice its limit across a window boundary; the local token bucket
// each instance runs first bounds what one instance passes.
//
// Take returns an error when NATS does not answer; the caller decides how
// to fail (the control plane fails open: a limit is a protection, not an
// authorisation). A Counter is safe for concurrent use.
package ratelimit
