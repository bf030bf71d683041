#!/usr/bin/env bash
# Run the README's walk-through verbatim and check the HTTP status of every request in it.
#   tests/walkthrough.sh BASE_URL            against a running, fresh server (it registers ann@example.org)
#   tests/walkthrough.sh --serve BUILD_DIR   start a private PostgreSQL and BUILD_DIR/service/carecommons,
#                                            run against them, tear both down (what ctest runs)
# The commands are taken from the "## Walk-through" section of README.md, so the README cannot drift from
# what works; only the line `B=http://...` is replaced by the given URL. Exits non-zero when a request
# answers another status than listed below, or a command fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# One status per curl call in the walk-through, in order.
expected=(
  201 # register
  200 # login
  200 # GET /v1/me
  201 # PUT /v1/me/profile (created)
  200 # catalog search
  201 # condition
  201 # symptom
  201 # medication
  201 # dose
  201 # goal
  201 # progress
  200 # GET the goal
  200 # consent policies
  201 # research consent
  200 # JSON export
  200 # FHIR export
)

usage() {
  echo "usage: $0 BASE_URL | --serve BUILD_DIR" >&2
  exit 2
}

# The sh block of the walk-through section, with B= pointing at $1.
extract() {
  awk '/^## Walk-through/ { on = 1; next } on && /^## / { exit }
       on && /^```sh$/ { code = 1; next } on && /^```$/ { code = 0; next } code { print }' \
    "$root/README.md" >"$1"
  [ "$(grep -c '^B=' "$1")" = 1 ] || { echo "walkthrough: README.md has no single B= line" >&2; exit 1; }
  # shellcheck disable=SC2016 # expanded when the steps run
  sed -i 's|^B=.*|B="$WALKTHROUGH_BASE"|' "$1"
}

run() {
  local base=$1 work status
  work=$(mktemp -d /tmp/cc-walkthrough-XXXXXX)
  extract "$work/steps.sh"
  status=$work/status
  : >"$status"
  # curl is wrapped so that every call also appends its status to $status (through stderr, so that the
  # README's own -o and pipes keep working).
  local rc=0
  (cd "$work" && WALKTHROUGH_BASE=$base WALKTHROUGH_STATUS=$status bash -c '
    set -eo pipefail
    curl() { command curl -w "%{stderr}%{http_code}\n" "$@" 2>>"$WALKTHROUGH_STATUS"; }
    . ./steps.sh' >"$work/output" 2>&1) || rc=$?
  mapfile -t got <"$status"
  local bad=0 i
  for i in "${!expected[@]}"; do
    if [ "${got[$i]:-none}" != "${expected[$i]}" ]; then
      echo "walkthrough: request $((i + 1)) answered ${got[$i]:-nothing}, expected ${expected[$i]}" >&2
      bad=1
    fi
  done
  if [ "${#got[@]}" -ne "${#expected[@]}" ]; then
    echo "walkthrough: ${#got[@]} requests ran, expected ${#expected[@]}" >&2
    bad=1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "walkthrough: the commands failed (exit $rc)" >&2
    bad=1
  fi
  for f in ann-export.json ann-fhir.json; do
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/$f" 2>/dev/null ||
      { echo "walkthrough: $f is not JSON" >&2; bad=1; }
  done
  if [ "$bad" -ne 0 ]; then
    echo "--- output of the walk-through ---" >&2
    cat "$work/output" >&2
    rm -rf "$work"
    return 1
  fi
  rm -rf "$work"
  echo "walkthrough: ${#expected[@]} requests answered as expected"
}

# Global: the EXIT trap needs them after serve() has returned.
srv=""
dir=""

serve() {
  local build pg_port http_port
  build=$(cd "$1" && pwd)
  [ -x "$build/service/carecommons" ] || { echo "walkthrough: no $build/service/carecommons" >&2; exit 1; }
  dir=$(mktemp -d /tmp/cc-walkthrough-srv-XXXXXX)
  chmod 755 "$dir"
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  pg_port=$(free_port)
  http_port=$(free_port)
  cleanup() {
    if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
    "$root/scripts/pg.sh" stop "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
  }
  trap cleanup EXIT
  eval "$(CC_PG_FSYNC=off "$root/scripts/pg.sh" up "$dir/pg" "$pg_port")"
  CARECOMMONS_DATABASE_URL=$CARECOMMONS_DATABASE_URL \
    CARECOMMONS_MIGRATE_DATABASE_URL=$CARECOMMONS_MIGRATE_DATABASE_URL \
    CARECOMMONS_LISTEN=127.0.0.1:$http_port CARECOMMONS_KEY_FILE=$dir/key.pem \
    "$build/service/carecommons" serve 2>"$dir/server.log" &
  srv=$!
  for _ in $(seq 1 300); do
    command curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$srv" 2>/dev/null || { echo "walkthrough: the server exited" >&2; cat "$dir/server.log" >&2; exit 1; }
    sleep 0.1
  done
  local rc=0
  run "http://127.0.0.1:$http_port" || rc=$?
  kill "$srv" 2>/dev/null || true
  wait "$srv" 2>/dev/null || true
  srv=""
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$dir/server.log"; then
    echo "walkthrough: the server log has sanitizer findings:" >&2
    grep -E -A20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$dir/server.log" >&2
    rc=1
  fi
  return "$rc"
}

case "${1:-}" in
  --serve) [ $# -eq 2 ] || usage; serve "$2" ;;
  http://* | https://*) [ $# -eq 1 ] || usage; run "${1%/}" ;;
  *) usage ;;
esac
