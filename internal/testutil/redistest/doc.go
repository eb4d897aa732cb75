// Package redistest runs real redis-server processes for tests, so code that
// talks to Redis is tested against Redis itself rather than a fake.
//
// Start launches a private server for one test and stops it in t.Cleanup:
//
//	srv := redistest.Start(t)
//	client := srv.Client(t) // closed in t.Cleanup
//
// A package whose tests can share one server (each test then keeps to its own
// key prefix) starts it once from TestMain and fetches it with Shared:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
//	func TestX(t *testing.T) { srv := redistest.Shared(t); … }
//
// StartCluster runs a one-node Redis Cluster that owns every hash slot and,
// like any cluster, refuses commands and scripts whose keys span slots;
// StartSentinel runs a Sentinel watching a server from Start. Their Client
// methods return a cluster client and a failover client, so code built on
// redis.UniversalClient is tested in all three deployments.
//
// Servers listen on 127.0.0.1 on a port picked by binding port 0 and closing
// the listener (redis-server cannot pick its own); if another process takes
// the port in between, the server fails to bind and Start retries on a new
// port. A server is only handed out after it answered PING and reported its
// own process id, so a test never talks to somebody else's Redis. Servers
// run without persistence (--save "" --appendonly no) in a temporary
// directory, and on Linux they die with the test binary even if it crashes.
//
// redis-server is looked up on PATH, then in /usr/sbin, /usr/bin and
// /usr/local/bin. When it is missing the tests that need it are skipped with
// the message "redis-server not installed (scripts/test.sh installs it)";
// CI always installs it, so there they run.
package redistest
