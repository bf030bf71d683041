#!/usr/bin/env bash
# Start a private PostgreSQL and the server, flood it with malformed requests, report, tear down.
#   bench/flood.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
seconds=${1:-30}
conns=${2:-200}
dir=$(mktemp -d /tmp/cc-flood-XXXXXX)
chmod 755 "$dir"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
  scripts/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
eval "$(CC_PG_FSYNC=off scripts/pg.sh up "$dir/pg" "$pg_port")"
export CARECOMMONS_DATABASE_URL CARECOMMONS_MIGRATE_DATABASE_URL
export CARECOMMONS_LISTEN=127.0.0.1:$http_port CARECOMMONS_KEY_FILE=$dir/key.pem CARECOMMONS_LOG_LEVEL=1
ulimit -n 4096 || true
"$build/service/carecommons" serve 2>"$dir/server.log" &
srv=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
python3 bench/flood.py --url "http://127.0.0.1:$http_port" --pid "$srv" --seconds "$seconds" --connections "$conns"
