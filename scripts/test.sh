#!/usr/bin/env bash
# scripts/test.sh — install what the tests need (when missing) and run every
# test of every module in the workspace, with the race detector.
#
#   bash scripts/test.sh            # everything: vet, tidy check, race tests, integration
#   FLOCK_TEST_SHORT=1 bash scripts/test.sh   # skip the integration module
#
# It is the command .ci/run calls; a fresh Debian machine with Go needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# --- 1. tools the tests drive: real servers and real clients, never fakes ---
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (apt-get)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian packages start system services; the tests start their own
# servers on free ports and do not need those.

export PATH="$PATH:/usr/sbin:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed: get Go 1.26 from https://go.dev/dl/ (the tests need it)" >&2
  exit 1
fi
go version

# --- 2. every module of the workspace (go test does not span modules) ---
mods=$(go list -m -f '{{.Dir}}')
status=0
for dir in $mods; do
  rel=${dir#"$PWD"}; rel=${rel#/}; rel=${rel:-.}
  if [ "${FLOCK_TEST_SHORT:-}" = 1 ] && [ "$rel" = integration ]; then continue; fi
  # The integration module's tests carry the build tag "integration".
  tags=""
  [ "$rel" = integration ] && tags="-tags=integration"
  log "module $rel: build, vet, tidy check"
  build="GOWORK=off go build ./... &&"
  [ "$rel" = integration ] && build="" # test files only: go vet compiles them
  (cd "$dir" && eval "$build" GOWORK=off go vet $tags ./... && GOWORK=off go mod tidy -diff) || status=1
  log "module $rel: go test -race"
  (cd "$dir" && GOWORK=off go test -race -count=1 -timeout 15m $tags ./...) || status=1
done

# --- 3. formatting ---
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; status=1
fi

if [ $status -ne 0 ]; then log "FAILED"; else log "all modules passed"; fi
exit $status
