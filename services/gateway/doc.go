// Package gateway is FlockMQ's MQTT front end. A Server accepts client
// connections on its listeners (internal/listener: TCP, TLS, WebSocket,
// PROXY protocol), and serves each with internal/conn: the CONNECT
// handshake, authentication through an auth.Authenticator (the tenant comes
// only from the verified identity), the session claim in a session.Store,
// and the MQTT 3.1.1 and 5 protocol. Subscriptions are kept per tenant by
// internal/router, which holds one NATS subscription per distinct filter and
// fans messages out to the local connections; internal/bridge is the only
// code that speaks NATS and JetStream: live messages over core NATS, QoS 1/2
// messages through one durable stream per tenant, retained messages in a
// second one, takeover notices between gateways.
//
// The data path reads top to bottom: listener → conn → router → bridge,
// with the session store and the authenticator consulted on the way.
//
// A Server also publishes wills: at once, after their delay, and for
// sessions that expire (a sweeper over Store.Expired and Store.DueWills,
// so a delayed will is published on time even when the gateway that
// scheduled it is gone). With
// Deps.Heartbeats it also disconnects, on behalf of a gateway that crashed,
// the sessions that gateway left connected in the store, and publishes
// their wills once and paced (sweeper.go; Config.Sweeper).
//
// # Tenancy
//
// With Deps.Limits (built by NewLimits from Config.Limits) each tenant's
// quotas hold: connections (CONNACK 0x97, or 0x03 for MQTT 3.1.1; a client
// reconnecting at the limit takes its previous connection's place),
// subscriptions per device (SUBACK 0x97 / 0x80 per refused filter), the
// session expiry ceiling (the CONNACK carries the granted value), and the
// tenant's durable and retained streams follow MaxQueuedMessages and
// MaxRetained (a new retained topic over the limit is answered 0x97).
// ApplyLimits applies a change of a tenant's quotas.
//
// With Deps.Presence every successful CONNECT and its end are reported,
// the end with its reason as a sentence.
//
// A connection whose identity expires (auth.Identity.ExpiresAt) is ended
// then: MQTT 5 clients get DISCONNECT 0x87. An MQTT 5 client that
// connected with an Authentication Method (FLOCK-JWT for jwtauth) may
// re-authenticate with AUTH 0x19 and a fresh token, which moves the
// expiry [MQTT-4.12.1-1].
package gateway
