#!/usr/bin/env bash
# make stop: stop the server started by `make run` and the private PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -f var/carecommons.pid ]; then
  pid=$(cat var/carecommons.pid)
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f var/carecommons.pid
fi
[ -d var/pg/data ] && scripts/pg.sh stop var/pg
echo "carecommons: stopped" >&2
