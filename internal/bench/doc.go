// Package bench measures MQTT brokers from outside, the same way for each:
// FlockMQ, Mosquitto and the NATS server's MQTT listener, in one run on one
// machine, so the numbers can be compared as ratios.
//
// Its client is a raw-socket MQTT 3.1.1 client built on pkg/mqtt that
// batches many packets into one write and keeps a window of QoS 1 messages in
// flight, so the broker, not the client, is what is measured (a client that
// writes one packet per syscall, as general-purpose libraries do, tops out far
// below the brokers). MQTT 3.1.1 is used because every peer speaks it.
//
// Scenarios:
//
//   - fan-in: N publishers, one subscriber on a wildcard; delivered msg/s.
//   - fan-out: one publisher, M subscribers of one topic; deliveries/s.
//   - latency: one publisher at a fixed rate, one subscriber; percentiles of
//     publish-to-delivery time (the send time travels in the payload).
//   - idle: C idle connections; the broker process's resident memory per
//     connection (from /proc/<pid>/status, so the broker's PID is needed).
//   - connect: C connections opened with K in parallel; connections/s.
//
// The storm (Storm, `flockctl bench storm`) is FlockMQ's alone, since the
// peers have no per-tenant JWT verification: it starts flockd with the
// control plane and NATS, several gateway processes sharing that NATS, and
// worker processes (RunStormWorker, `flockctl bench storm-worker`) that
// play the devices, each device one goroutine and one connection with its
// own Ed25519 token signed by a tenant issuer key. Every device connects;
// then the gateways are killed with SIGKILL and restarted (or every device
// drops its connection) and every device reconnects at once, retrying with
// a jittered exponential backoff when refused. Every phase presents tokens
// no gateway has seen (one signed per device and phase, and a fresh one
// after a failed attempt), so every CONNECT checks a signature. It reports
// the time until every device is back, CONNACK latency percentiles,
// refusals by reason, the gateways' and the workers' CPU time per CONNECT
// (from /proc, meaningful on a shared machine where the rate is not), the
// kernel's accept-queue drops, the gateways' memory, and the control
// plane's API requests during the phases, which must be zero: gateways
// verify tokens locally. Workers dial from 64 loopback source addresses
// each, so connect(2) does not search a crowded port range. Workers and
// gateways hold at most MaxConnsPerProcess connections each, below the
// file-descriptor limit. Workers talk to Storm in JSON lines: a job and
// commands on standard input, events on standard output.
//
// Load only ever targets loopback addresses; every loop is bounded in count
// and time.
package bench
