#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests.
#   pg.sh up DIR PORT     initialise (once) and start a cluster in DIR, create the roles and database,
#                         and print the two database URLs (app, owner) as shell assignments
#   pg.sh start DIR PORT  start an initialised cluster
#   pg.sh stop DIR        stop it (fast shutdown)
#   pg.sh status DIR
# PostgreSQL refuses to run as root, so as root the cluster belongs to the 'postgres' system user.
set -euo pipefail
cmd=${1:?usage: pg.sh up|start|stop|status DIR [PORT]}
dir=$(realpath -m "${2:?DIR}")
port=${3:-54329}
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (install postgresql)" >&2; exit 1; }
data=$dir/data
run=$dir/run

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

init() {
  [ -f "$data/PG_VERSION" ] && return 0
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  as_owner mkdir -p "$run"
  as_owner chmod 0700 "$run"
  as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # Only the Unix socket is trusted; loopback TCP needs a password.
  cat >"$data/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128      scram-sha-256
HBA
}

start() {
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then return 0; fi
  as_owner "$bindir/pg_ctl" -D "$data" -w -t 60 -l "$dir/postgres.log" \
    -o "-p $port -k $run -c listen_addresses=127.0.0.1 -c fsync=${CC_PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=256MB" \
    start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
}

psql_su() { as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$port" -U postgres "$@"; }

roles() {
  # cc_owner owns the schema and runs migrations; carecommons is the service's login role, a member of the
  # cc_app group that gets only the privileges migrations grant (no UPDATE/DELETE on audit rows).
  psql_su -d postgres <<'SQL'
SELECT 'CREATE ROLE cc_owner LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cc_owner')\gexec
SELECT 'CREATE ROLE cc_app NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cc_app')\gexec
SELECT 'CREATE ROLE carecommons LOGIN IN ROLE cc_app' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carecommons')\gexec
SELECT 'CREATE DATABASE carecommons OWNER cc_owner' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'carecommons')\gexec
SQL
  psql_su -d carecommons -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO cc_app; ALTER SCHEMA public OWNER TO cc_owner;'
}

case $cmd in
  up)
    init; start; roles
    echo "CARECOMMONS_DATABASE_URL='postgresql:///carecommons?host=$run&port=$port&user=carecommons'"
    echo "CARECOMMONS_MIGRATE_DATABASE_URL='postgresql:///carecommons?host=$run&port=$port&user=cc_owner'"
    echo "CC_PG_SUPERUSER_URL='postgresql:///carecommons?host=$run&port=$port&user=postgres'"
    ;;
  start) start ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then as_owner "$bindir/pg_ctl" -D "$data" -w -t 60 -m fast stop >/dev/null || true; fi ;;
  status) as_owner "$bindir/pg_ctl" -D "$data" status ;;
  *) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
