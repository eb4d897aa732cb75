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
// An API is safe for concurrent use and keeps no state besides its rate
// limiters, which are per process: with several control planes behind a
// load balancer, each enforces the limits on the requests it receives.
package httpapi
