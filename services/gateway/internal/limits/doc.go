// Package limits enforces each tenant's quotas on a gateway: connections
// (across all gateways), messages and payload bytes per second, payload
// size, subscriptions per device, retained messages, queued messages per
// session and the session expiry ceiling.
//
// # Defaults and overrides
//
// A tenant's quotas are the platform defaults (Config.Defaults, whose zero
// fields take tenant.DefaultQuotas) with the tenant's overrides on top:
// Deps.Overrides returns the stored value of quotas.<tenant id> from the
// FLOCK_CONFIG bucket, in which a zero field means "the default". Limits
// looks a tenant up once, keeps the result in the tenant's *Tenant, and
// asks again after Config.OverridesTTL or at once when Limits.Invalidate
// is called for it (wire the config watcher's quotas.<tid> events to it).
// A change applies from the next check on: lowering MaxConnections, say,
// refuses new connections but closes none.
//
// # Using it in the gateway
//
//	lim, err := limits.New(cfg.Limits, limits.Deps{NATS: nc, Overrides: cache.Quotas, Logger: log, Meter: mp})
//	go lim.Run(ctx)                                    // cluster-wide connection counts
//
//	t := lim.For(tenantID)                             // once per connection, after authentication
//	release, err := t.AcquireConnection(clientID)      // before CONNACK; err wraps mqtt.QuotaExceeded
//	defer release()
//	expiry := t.SessionExpiry(clientID, requested)     // the Session Expiry Interval granted
//	rc := t.AllowPublish(clientID, len(payload))       // every PUBLISH
//	rc = t.CheckSubscriptions(clientID, have, adding)  // every SUBSCRIBE
//
// # What the caller answers
//
// The checks return mqtt.ReasonCode values; the connection maps them to
// its protocol version:
//
//	limit                    MQTT 5                                MQTT 3.1.1
//	connections              CONNACK 0x97 quota exceeded           CONNACK 0x03 server unavailable
//	payload size             DISCONNECT 0x95 packet too large      close the connection
//	messages or bytes /s     held back up to MaxThrottle, then      held back, then
//	                         DISCONNECT 0x96 message rate too high close the connection
//	subscriptions            SUBACK 0x97 for the refused filters   SUBACK 0x80 for them
//	retained                 PUBACK/PUBREC 0x97, not retained      not retained
//	queued per session       message not queued (0x97 to a waiting publisher, where one exists)
//	session expiry           CONNACK Session Expiry Interval       (no expiry on the wire)
//
// 0x95 and 0x96 are not valid in a PUBACK, so a refused PUBLISH ends the
// connection. Before refusing, the gateway slows the client down:
// ThrottlePublish charges a publish over the rate ahead of time and says
// how long to hold it back, and the connection is not read meanwhile, so
// TCP flow control pushes back on the client. Only when the tenant is so
// far over its rate that a publish would wait longer than
// Config.MaxThrottle (500ms by default) is it refused with 0x96. A
// flooding tenant thus costs the gateway its rate's worth of work and no
// more, and the other tenants keep their latency (measured by
// BenchmarkQuietTenantLatency in services/gateway). AllowPublish is the
// check without throttling.
//
// # Visibility
//
// Every limit hit adds 1 to the counter flockmq.gateway.limit.exceeded
// with attributes tenant_id and limit (the quota's JSON name, e.g.
// max_messages_per_second): per tenant, never per device or topic. The
// gauge flockmq.gateway.limit.connections reports each tenant's
// connections on this gateway. Hits are logged as sentences ("tenant acme
// is over its limit of 1000 messages/s; client sensor-7's publish refused
// with 0x96"), at most one line per tenant and limit per
// Config.LogInterval (10s); the next line says how many were not logged.
//
// # Cost and isolation
//
// Each tenant has its own state; no lock is shared between tenants or
// taken on the publish path. For read-locks one of 256 shards of the
// tenant map and does not allocate. The message and byte rates are token
// buckets written as GCRA (see bucket): one atomic compare-and-swap each,
// no allocation. A tenant that floods the gateway contends only on its own
// buckets, so it slows only itself.
//
// # Rates across gateways
//
// MaxMessagesPerSecond and MaxBytesPerSecond also hold for the tenant as a
// whole: every ReportInterval each gateway writes what it admitted per
// second (rates.<tenant id>.<gateway id> in the same bucket) and gives its
// own buckets what the other gateways leave of the quota, but at least an
// equal share among the gateways publishing for the tenant (rates.go). It
// lags by an interval, like the connection counts.
//
// # Connections across gateways
//
// MaxConnections holds for the tenant as a whole. Each gateway counts its
// own connections per tenant and, every Config.ReportInterval (2s), Run
// writes the non-zero counts to the JetStream key-value bucket
// Config.UsageBucket (FLOCK_USAGE) as conns.<tenant id>.<gateway id>. The
// bucket is created when missing with a TTL of three intervals, and Run
// also watches it, summing the counts the other gateways reported within
// the last three intervals. AcquireConnection admits a connection while
// local + others < MaxConnections.
//
// This is an approximation, by design: a CONNECT never waits for another
// gateway. Two consequences:
//
//   - Overshoot: a burst of CONNECTs spread over several gateways can
//     exceed MaxConnections by at most the connections those gateways
//     accepted within one ReportInterval (plus NATS propagation) before
//     seeing each other's counts. A single gateway never overshoots.
//   - Stale counts: a gateway that dies without withdrawing its counts
//     keeps them counting for up to three intervals, refusing connections
//     the tenant is entitled to for that long. A gateway that stops cleanly
//     (Run's context ends) deletes its counts at once.
//
// Without Deps.NATS each gateway enforces MaxConnections on its own
// connections alone. While NATS is unreachable, the other gateways' last
// counts keep counting until they go stale (three intervals), and then
// each gateway again counts only its own: a long outage can let a tenant
// hold up to MaxConnections on every gateway.
// Deps.Clock drives staleness, the buckets and log rate limiting; the
// report ticker runs on real time.
//
// # Memory
//
// A *Tenant lives as long as the Limits: connections keep theirs, so all
// of a tenant's connections must share one. It costs about 2 KiB, so a
// gateway pays that for each tenant that has connected to it since it
// started.
//
// # Concurrency
//
// Tenant fields are atomics, except Tenant.reported (owned by the Run
// goroutine). Limits.remote is guarded by Limits.remoteMu, taken by the
// Run goroutine and when a Tenant is created. A tenant map shard's RWMutex
// is read-locked by For and write-locked to add a tenant. No code holds
// two of these locks at once, and none is taken by AllowPublish or the
// other Tenant methods.
package limits
