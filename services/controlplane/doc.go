// Package controlplane is the FlockMQ control plane: the HTTP API through
// which tenants sign up and manage their API keys, devices, device
// credentials, issuer keys and revocations, and through which the operator
// sets per-tenant quotas. The API is described by
// api/controlplane/v1/openapi.yaml.
//
// The control plane is the only writer of tenant configuration. It keeps all
// of its state in NATS JetStream key-value buckets (package tenant documents
// the layout of tenant.ConfigBucket, which gateways watch; the private
// tenant.SecretsBucket holds signing keys and hashed API keys), so any number
// of instances can serve the API against the same NATS system
// (docs/adr/0003-control-plane-state-in-jetstream-kv.md).
//
// Device status (GET /v1/devices/{id}/status, include=status on the device
// list, usage.connected_devices of the tenant) is read from the presence
// bucket the gateways write (package presence), never by calling a
// gateway. The control plane only reads that bucket, except that deleting
// a device deletes its presence record (presence.Reader.Forget); when no
// gateway has created the bucket yet, it creates it empty, so every device
// reads as never seen. The tenant's connected_devices count reads the status of every
// device of the tenant ever seen, linear in the tenant's size like the
// device listing.
//
// Rate limits: every request is limited per client address, signups
// separately; authenticated requests per API key and per tenant. Each
// instance applies all of them with its own token buckets; the API key and
// tenant limits are then counted again in a JetStream stream every
// instance shares, so they hold however many instances serve the API
// (package internal/ratelimit, docs/adr/0005-shared-rate-limits.md).
//
// Lifecycle: New binds the buckets and the rate-limit stream (creating
// missing ones); Handler serves
// the API (use it directly in tests or behind another server); Run listens on
// Config.Addr until its context ends or Shutdown is called.
package controlplane
