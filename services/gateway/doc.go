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
// sessions that expire (a sweeper over Store.Expired).
package gateway
