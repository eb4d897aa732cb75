// Package httpapi implements version 1 of the control-plane HTTP API
// described by api/controlplane/v1/openapi.yaml: routing, authentication by
// API key (and by the operator's admin key for /v1/admin), rate limits,
// strict request decoding, and the handlers, which keep their state in the
// NATS key-value buckets through package store.
//
// Handlers return error; an *Error carries the HTTP status, a stable code,
// the text shown to the caller and the internal error, which is logged and
// never sent. Every lookup is scoped by the caller's tenant, so another
// tenant's resource answers 404 exactly like a missing one.
//
// Rate limits run in two stages. Every limit (per client address, per
// signup address, per API key, per tenant) is first a token bucket in this
// process, so a flood is refused without any network call. The API key and
// tenant limits are then counted in windows shared by every control plane
// (Config.Shared, package ratelimit), so they hold across instances; when
// the shared counters do not answer, the request goes through under the
// local limits alone and a warning is logged (at most every 10s).
//
// An API is safe for concurrent use and keeps no state besides its local
// rate limiters.
package httpapi
