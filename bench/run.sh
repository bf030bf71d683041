#!/usr/bin/env bash
# make bench: for each population size, a private PostgreSQL and server in a temporary directory, a
# synthetic population (carecommons-gen), row-count and rollup checks, the query benchmark
# (bench/query.sh), the ingest benchmark (bench/ingest.sh, on the first size only), the result
# tables, teardown.
# Loopback only; every loop is bounded.
#
# Settings (environment):
#   BUILD                 build directory (build); built here if needed
#   CC_BENCH_SIZES        member counts, e.g. "10000 100000 1000000" (10000)
#   CC_BENCH_DAYS         history length in days (180)
#   CC_BENCH_SEED         generator seed (20240601)
#   CC_BENCH_JOBS         loader connections for the big tables (2; carecommons-gen --jobs)
#   CC_BENCH_SECONDS      seconds per ingest level (10 here; ingest.sh alone defaults to 30)
#   CC_BENCH_LEVELS       ingest connection counts ("1 16 64 256")
#   CC_BENCH_RUNS         timed runs per query (20)
#   CC_BENCH_ONLY         all | query | ingest (all)
#   CC_BENCH_THREADS      server HTTP threads (32)      CC_BENCH_POOL  server DB connections (32)
#   CC_BENCH_STATEMENT_TIMEOUT  server SQL statement timeout in ms (30000, the server's default;
#                         raise it for 1,000,000 members, whose uncached queries can take longer)
#   CC_PG_FSYNC           PostgreSQL fsync (on)
#   CC_BENCH_SHARED_BUFFERS  PostgreSQL shared_buffers (a quarter of the RAM, 128MB to 8GB: the
#                         usual sizing; at 1M members 6GB against 256MB took the distribution from
#                         2.0-2.5 s to 1.3-1.5 s, docs/benchmarks.md)
#   CC_BENCH_MAX_WAL      PostgreSQL max_wal_size (8GB; the WAL takes that much disk)
#   CC_BENCH_OUT          results directory ($BUILD/bench-results); CSVs and the SVG go there
#   CC_KEEP_TMP=1         keep the temporary directory
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$(realpath -m "${BUILD:-build}")
sizes=${CC_BENCH_SIZES:-10000}
days=${CC_BENCH_DAYS:-180}
seed=${CC_BENCH_SEED:-20240601}
jobs=${CC_BENCH_JOBS:-2}
only=${CC_BENCH_ONLY:-all}
threads=${CC_BENCH_THREADS:-32}
pool=${CC_BENCH_POOL:-32}
statement_timeout=${CC_BENCH_STATEMENT_TIMEOUT:-30000}
fsync=${CC_PG_FSYNC:-on}
out=$(realpath -m "${CC_BENCH_OUT:-$build/bench-results}")
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 4096)
sb_mb=$((mem_mb / 4)); [ "$sb_mb" -ge 128 ] || sb_mb=128; [ "$sb_mb" -le 8192 ] || sb_mb=8192
shared_buffers=${CC_BENCH_SHARED_BUFFERS:-${sb_mb}MB}
export CC_BENCH_SECONDS=${CC_BENCH_SECONDS:-10}
export CC_BENCH_LEVELS=${CC_BENCH_LEVELS:-"1 16 64 256"}
export CC_BENCH_RUNS=${CC_BENCH_RUNS:-20}

case $only in all | query | ingest) ;; *) echo "run.sh: CC_BENCH_ONLY must be all, query or ingest" >&2; exit 2 ;; esac
for n in $sizes; do
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 100 ] && [ "$n" -le 2000000 ] ||
    { echo "run.sh: sizes must be 100..2000000 (got $n)" >&2; exit 2; }
done
for tool in wrk pgbench psql python3 curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (CC_BENCH_DEPS=1 scripts/deps.sh)" >&2; exit 1; }
done

if [ ! -x "$build/service/carecommons" ] || [ ! -x "$build/bench/carecommons-gen" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target carecommons carecommons-gen >/dev/null
mkdir -p "$out"
start_all=$(date +%s)

bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/pg_ctl" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dir='' srv='' size=''
# On failure the server's and PostgreSQL's logs are kept in the results directory.
keep_logs() {
  [ -n "$dir" ] || return 0
  mkdir -p "$out"
  cp "$dir/server.log" "$out/failed-$size-server.log" 2>/dev/null || true
  tail -n 2000 "$dir/pg/postgres.log" >"$out/failed-$size-postgres.log" 2>/dev/null || true
  echo "run.sh: failed; logs in $out/failed-$size-*.log" >&2
}
down() {
  if [ -n "$srv" ]; then
    kill "$srv" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    srv=
  fi
  if [ -n "$dir" ]; then
    scripts/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
    if [ "${CC_KEEP_TMP:-0}" = 1 ]; then echo "run.sh: kept $dir" >&2; else rm -rf "$dir"; fi
    dir=
  fi
}
on_exit() {
  local rc=$?
  [ "$rc" = 0 ] || keep_logs
  down
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# PostgreSQL as scripts/pg.sh makes it (roles, database), restarted with room for pgbench at 256
# clients next to the server's pool, 1 GB of shared buffers and a WAL size for bulk loading.
pg_up() {
  local port=$1
  eval "$(CC_PG_FSYNC=$fsync scripts/pg.sh up "$dir/pg" "$port")"
  export CARECOMMONS_DATABASE_URL CARECOMMONS_MIGRATE_DATABASE_URL CC_PG_SUPERUSER_URL
  scripts/pg.sh stop "$dir/pg" >/dev/null
  as_owner "$bindir/pg_ctl" -D "$dir/pg/data" -w -t 120 -l "$dir/pg/postgres.log" \
    -o "-p $port -k $dir/pg/run -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=400 -c shared_buffers=$shared_buffers -c max_wal_size=${CC_BENCH_MAX_WAL:-8GB} -c checkpoint_timeout=15min" \
    start >/dev/null || { tail -n 20 "$dir/pg/postgres.log" >&2; exit 1; }
}

server_up() {
  local port=$1
  CARECOMMONS_LISTEN=127.0.0.1:$port CARECOMMONS_KEY_FILE=$dir/key.pem CARECOMMONS_PUBLIC_URL=http://127.0.0.1:$port \
    CARECOMMONS_THREADS=$threads CARECOMMONS_POOL_SIZE=$pool CARECOMMONS_STATEMENT_TIMEOUT=$statement_timeout \
    "$build/service/carecommons" serve 2>>"$dir/server.log" &
  srv=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    kill -0 "$srv" 2>/dev/null || { echo "run.sh: the server exited; its log:" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "run.sh: the server did not answer /healthz within 30 s" >&2
  exit 1
}

# The generator's output is sane: every table it loads has rows, and the consent shares are near
# the model's (research ~70%, trial recruitment ~50%).
check_rows() {
  local n=$1 t c bad=0
  for t in account session member_profile custom_item member_condition medication medication_dose \
           medication_evaluation evaluation_side_effect goal goal_progress consent_grant consent_event \
           symptom_entry; do
    c=$(psql -X -At "$CC_PG_SUPERUSER_URL" -c "SELECT count(*) FROM $t")
    printf '  %-24s %12s rows\n' "$t" "$c"
    [ "$c" -gt 0 ] || { echo "run.sh: table $t is empty after generation" >&2; bad=1; }
  done
  local research trial perday
  read -r research trial perday < <(psql -X -At -F ' ' "$CC_PG_SUPERUSER_URL" -c "
    SELECT round(100.0 * count(DISTINCT member_id) FILTER (WHERE purpose = 'research' AND effect = 'permit') / $n),
           round(100.0 * count(DISTINCT member_id) FILTER (WHERE purpose = 'trial_recruitment') / $n),
           (SELECT round(count(*)::numeric / $n / $days, 2) FROM symptom_entry)
    FROM consent_grant")
  echo "  research consent ${research}% of members, trial recruitment ${trial}%, ${perday} symptom entries per member-day"
  if [ "$research" -lt 60 ] || [ "$research" -gt 80 ] || [ "$trial" -lt 40 ] || [ "$trial" -gt 60 ]; then
    echo "run.sh: consent shares are off the model" >&2
    bad=1
  fi
  # The loader loads symptom_entry with its rollup trigger off and then rebuilds the rollups, and
  # takes foreign keys, indexes and triggers off the big tables and puts them back: the rollups'
  # totals must be the catalog entries', and no trigger may be left disabled.
  local sums off
  read -r sums off < <(psql -X -At -F ' ' "$CC_PG_SUPERUSER_URL" -c "
    SELECT e.n = d.n AND e.s = d.s AND e.n = w.n AND e.s = w.s,
           (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = 'public'::regnamespace AND t.tgenabled <> 'O')
    FROM (SELECT count(*) AS n, coalesce(sum(severity), 0) AS s FROM symptom_entry
          WHERE symptom_id IS NOT NULL) e,
         (SELECT coalesce(sum(n), 0) AS n, coalesce(sum(s), 0) AS s FROM symptom_day) d,
         (SELECT coalesce(sum(n), 0) AS n, coalesce(sum(s), 0) AS s FROM symptom_week) w")
  local summary
  summary=$(psql -X -At "$CC_PG_SUPERUSER_URL" -c "
    SELECT NOT EXISTS (SELECT * FROM consent_member EXCEPT SELECT * FROM consent_member_source)
       AND NOT EXISTS (SELECT * FROM consent_member_source EXCEPT SELECT * FROM consent_member)")
  echo "  symptom rollups match the entries: $sums; consent summary matches the grants: $summary; disabled triggers: $off"
  if [ "$sums" != t ] || [ "$summary" != t ] || [ "$off" != 0 ]; then
    echo "run.sh: the loader left the rollups or triggers wrong" >&2
    bad=1
  fi
  [ "$bad" = 0 ] || exit 1
}

: >"$out/query.csv.tmp"
first=1
for n in $sizes; do
  size=$n
  echo "== $n members, $days days, shared_buffers $shared_buffers (load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
  dir=$(mktemp -d /tmp/cc-bench-XXXXXX)
  chmod 755 "$dir"
  pg_port=$(free_port)
  http_port=$(free_port)
  pg_up "$pg_port"
  server_up "$http_port"
  t0=$(date +%s)
  nice -n 5 "$build/bench/carecommons-gen" --url "$CARECOMMONS_MIGRATE_DATABASE_URL" --members "$n" --days "$days" \
    --seed "$seed" --jobs "$jobs" --tokens "$dir/tokens.txt" | tee "$out/gen-$n.txt"
  echo "  generated in $(($(date +%s) - t0)) s"
  check_rows "$n"
  export CC_BENCH_HTTP=http://127.0.0.1:$http_port CC_BENCH_APP_URL=$CARECOMMONS_DATABASE_URL \
    CC_BENCH_OWNER_URL=$CARECOMMONS_MIGRATE_DATABASE_URL CC_BENCH_SUPER_URL=$CC_PG_SUPERUSER_URL \
    CC_BENCH_TOKENS=$dir/tokens.txt CC_BENCH_STAFF=$dir/tokens.txt.staff CC_BENCH_MEMBERS=$n \
    CC_BENCH_SEED=$seed CC_BENCH_SERVER_PID=$srv CC_BENCH_DIR=$dir CC_BENCH_OUT=$out
  if [ "$only" != ingest ]; then
    bench/query.sh
    cat "$out/query-$n.csv" >>"$out/query.csv.tmp"
  fi
  if [ "$only" != query ] && [ "$first" = 1 ]; then
    bench/ingest.sh
  fi
  if grep -E "AddressSanitizer|runtime error:|LeakSanitizer" "$dir/server.log" >/dev/null; then
    echo "run.sh: sanitizer findings in the server log" >&2
    exit 1
  fi
  down
  first=0
done

if [ "$only" != ingest ]; then
  { echo "members,query,system,p50_ms,p95_ms,cached_ms"; cat "$out/query.csv.tmp"; } >"$out/query.csv"
  python3 bench/plot.py "$out/query.csv" "$out/benchmarks-latency.svg"
  python3 - "$out/query.csv" "$CC_BENCH_RUNS" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
res = {}
for r in rows:
    res.setdefault((int(r["members"]), r["query"]), {})[r["system"]] = r
print("\nQuery latency (ms; uncached, %s timed runs each; speedup = plain SQL p50 / CareCommons p50)" % sys.argv[2])
print("| members | query | CareCommons p50 | p95 | cached | plain SQL p50 | p95 | speedup |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
ms = lambda r, k: "%.1f" % float(r[k]) if r[k] else "failed"
for (n, q), s in sorted(res.items()):
    a, b = s.get("carecommons"), s.get("baseline")
    if not a or not b:
        continue
    sp = "%.2fx" % (float(b["p50_ms"]) / float(a["p50_ms"])) if a["p50_ms"] and b["p50_ms"] else "-"
    print("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
        n, q, ms(a, "p50_ms"), ms(a, "p95_ms"), a["cached_ms"] or "-", ms(b, "p50_ms"),
        ms(b, "p95_ms"), sp))
PY
fi
rm -f "$out/query.csv.tmp"
[ -f "$out/ingest.md" ] && [ "$only" != query ] && { echo; cat "$out/ingest.md"; }
echo
echo "results in $out ($(($(date +%s) - start_all)) s in all; load average at the end $(cut -d' ' -f1-3 /proc/loadavg))"
