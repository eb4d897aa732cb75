// Package tenant is the tenancy model shared by the control plane, which is
// the only writer of tenant configuration, and the gateways, which watch it:
// the domain types (Tenant, Device, Key, Revocation, Quotas), identifier
// validation, and the layout of the NATS JetStream key-value buckets that
// carry them.
//
// # Buckets
//
// ConfigBucket (FLOCK_CONFIG) holds everything a gateway needs to verify a
// CONNECT locally, JSON-encoded, one value per key:
//
//	tenants.<tid>                 Tenant
//	devices.<tid>.<did>           Device
//	keys.<kid>                    Key (public keys only)
//	revoked.<tid>.<kind>.<id>     Revocation (kind: device, key or token)
//	quotas.<tid>                  Quotas (per-tenant overrides)
//
// SecretsBucket (FLOCK_SECRETS) is read by the control plane only. It holds
// the tenants' platform signing private keys under signing.<tid>.<kid> and
// the control plane's own private records (hashed API keys, account
// details). Gateways never need it.
//
// Key ids are globally unique, so keys.<kid> needs no tenant: the tenant of a
// credential always comes from the Key that verified it (Key.TenantID), never
// from a claim or a topic.
//
// # Identifiers
//
// Tenant ids match [a-z0-9][a-z0-9-]{1,39} and are also valid NATS subject
// tokens. Device ids match [A-Za-z0-9_-]{1,128}; a device's MQTT client id
// equals its device id or begins with "<device id>:" (so one device may hold
// several connections). Key ids match [A-Za-z0-9_-]{1,64} and carry a prefix
// naming their kind: pk_ (platform signing key), dk_ (device key), ik_
// (tenant issuer key). Every identifier is a valid KV key token (no dots).
//
// The package uses the standard library only.
package tenant
