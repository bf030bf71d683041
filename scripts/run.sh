#!/usr/bin/env bash
# make run: start (or reuse) the private PostgreSQL under ./var/pg unless CARECOMMONS_DATABASE_URL is set,
# then run the server in the foreground. `make stop` stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
mkdir -p var
if [ -z "${CARECOMMONS_DATABASE_URL:-}" ]; then
  eval "$(scripts/pg.sh up var/pg "${CC_PG_PORT:-54329}")"
  export CARECOMMONS_DATABASE_URL CARECOMMONS_MIGRATE_DATABASE_URL
  echo "carecommons: using the private PostgreSQL in ./var/pg (port ${CC_PG_PORT:-54329})" >&2
fi
export CARECOMMONS_KEY_FILE=${CARECOMMONS_KEY_FILE:-$PWD/var/receipt-key.pem}
echo $$ >var/carecommons.pid
exec "$build/service/carecommons" serve "$@"
