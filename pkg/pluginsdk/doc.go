// Package pluginsdk is what a FlockMQ plugin is written against. It is its
// own Go module with no dependencies beyond the standard library, so a plugin
// author imports it without pulling in NATS, Redis or OpenTelemetry, and its
// API moves more slowly than the servers that host it.
//
// # Hook points
//
// A message passes these points in order, and a plugin implements the
// interface of each point it cares about (one small interface per point; the
// host finds them by type assertion):
//
//	connect     → Authenticator   may allow, deny or abstain on a CONNECT
//	subscribe   → SubscribeAuthorizer  decides each topic filter
//	publish     → PublishHandler  may pass, rewrite or reject a PUBLISH
//	deliver     → DeliverHandler  may pass, rewrite or drop one delivery
//	disconnect  → DisconnectObserver   told when a connection closes
//	session end → SessionEndObserver   told when a session is discarded
//
// # How decisions combine
//
// Authorization decisions are Allow, Deny or Abstain, combined by Combine: any
// Deny wins, else any Allow, else the host's default. Publish and deliver
// handlers form an ordered pipeline: each sees the previous one's output, and
// returning ErrReject stops the message.
//
// # Lifecycle
//
// A plugin is registered at init with a namespaced id ("flock.acl",
// "acme.audit") and a constructor without side effects. The host then
// decodes its configuration strictly, calls Provision (if implemented), then
// Validate (if implemented), uses it, and calls Cleanup (if implemented) at
// the end — also after a failed Provision.
package pluginsdk
