#!/usr/bin/env bash
# scripts/bench.sh — build FlockMQ, install the peers when missing (Mosquitto
# from Debian, nats-server from the Go module proxy) and compare them in one run.
#   bash scripts/bench.sh                           # all scenarios, QoS 0
#   bash scripts/bench.sh --qos 1 --scenarios fanin,latency
#   bash scripts/bench.sh storm --devices 100000    # FlockMQ alone: a JWT reconnect storm
# Every flag is passed to `flockctl bench`; see `flockctl bench -h` and `flockctl bench storm -h`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:$(go env GOPATH)/bin"
storm=0; [ "${1:-}" = storm ] && storm=1 # the storm needs no peers
if [ $storm = 0 ] && ! command -v mosquitto >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
fi
[ $storm = 1 ] || command -v nats-server >/dev/null 2>&1 || (cd /tmp && go install github.com/nats-io/nats-server/v2@v2.15.2)
go build -o bin/ ./cmd/flockd ./cmd/flockctl
ulimit -n 20000 2>/dev/null || true
exec bin/flockctl bench "$@"
