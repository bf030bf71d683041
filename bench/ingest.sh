#!/usr/bin/env bash
# Ingest benchmark: POST /v1/me/symptoms with wrk (bench/ingest.lua, a random member token and
# symptom per request) at each connection count, then pgbench running the same statements
# (bench/pgbench_ingest.sql) at the same concurrency; POST /v1/me/batch with 100 entries per
# request; the server's peak RSS during the largest level (sampled from /proc/PID/status).
#
# Run by bench/run.sh against its environment (CC_BENCH_HTTP, CC_BENCH_APP_URL, CC_BENCH_TOKENS,
# CC_BENCH_SEED, CC_BENCH_SERVER_PID, CC_BENCH_DIR, CC_BENCH_OUT). Run alone, it starts one through
# run.sh (10,000 members).
#   CC_BENCH_SECONDS        seconds per level (30)
#   CC_BENCH_LEVELS         connection counts ("1 16 64 256")
#   CC_BENCH_BATCH_LEVELS   connection counts for the batch run ("16")
#   CC_BENCH_BATCH          entries per batch request (100)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CC_BENCH_HTTP:-}" ]; then
  CC_BENCH_ONLY=ingest CC_BENCH_SECONDS=${CC_BENCH_SECONDS:-30} exec bench/run.sh
fi
secs=${CC_BENCH_SECONDS:-30}
levels=${CC_BENCH_LEVELS:-"1 16 64 256"}
batch_levels=${CC_BENCH_BATCH_LEVELS:-16}
batch=${CC_BENCH_BATCH:-100}
out=$CC_BENCH_OUT
tmp=$CC_BENCH_DIR/ingest
mkdir -p "$tmp"
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] && [ "$secs" -le 3600 ] || { echo "ingest.sh: CC_BENCH_SECONDS must be 1..3600" >&2; exit 2; }
[[ $batch =~ ^[0-9]+$ ]] && [ "$batch" -ge 1 ] && [ "$batch" -le 1000 ] || { echo "ingest.sh: CC_BENCH_BATCH must be 1..1000" >&2; exit 2; }
for c in $levels $batch_levels; do
  [[ $c =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] && [ "$c" -le 350 ] || { echo "ingest.sh: connection counts must be 1..350" >&2; exit 2; }
done
nsess=$(wc -l <"$CC_BENCH_TOKENS")
max_level=$(printf '%s\n' $levels | sort -n | tail -1)

# RESULT line field.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

wrk_run() { # connections path mode
  local c=$1 path=$2 mode=$3 t=2
  [ "$c" -lt 2 ] && t=1
  wrk -t"$t" -c"$c" -d"${secs}s" --timeout 10s -s bench/ingest.lua "$CC_BENCH_HTTP$path" -- \
    "$CC_BENCH_TOKENS" "$mode" "$batch" >"$tmp/wrk.out"
  grep '^RESULT' "$tmp/wrk.out" || { cat "$tmp/wrk.out" >&2; echo "ingest.sh: wrk failed" >&2; exit 1; }
}

# Peak VmRSS (kB) of the server while a run lasts: bounded to the run's length plus slack.
rss_sample() {
  local max=0 v
  for _ in $(seq 1 $(((secs + 5) * 5))); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$CC_BENCH_SERVER_PID/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "$max" ] && max=$v
    echo "$max" >"$tmp/rss"
    sleep 0.2
  done
}

pgbench_run() { # connections
  local c=$1 t=2
  [ "$c" -lt 2 ] && t=1
  rm -f "$tmp"/pgb.*
  pgbench -n -M prepared -f bench/pgbench_ingest.sql -D nsess="$nsess" -D seed="$CC_BENCH_SEED" \
    -c "$c" -j "$t" -T "$secs" -l --log-prefix="$tmp/pgb" "$CC_BENCH_APP_URL" >"$tmp/pgbench.out" 2>&1 ||
    { cat "$tmp/pgbench.out" >&2; echo "ingest.sh: pgbench failed" >&2; exit 1; }
  # Per-transaction log: client, transaction, latency (us), script, epoch s, epoch us.
  cat "$tmp"/pgb.* | python3 -c '
import sys
lat = sorted(int(l.split()[2]) for l in sys.stdin if l.strip())
tps = [l for l in open(sys.argv[1]) if l.startswith("tps =")]
failed = [l for l in open(sys.argv[1]) if l.startswith("number of failed")]
pct = lambda p: lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] / 1000.0 if lat else 0
print("RESULT requests=%d rps=%s p50_ms=%.3f p99_ms=%.3f failed=%s" % (len(lat), tps[0].split()[2] if tps else "0",
      pct(50), pct(99), failed[0].split()[4] if failed else "?"))
' "$tmp/pgbench.out"
}

echo "kind,connections,system,rps,p50_ms,p99_ms,errors" >"$out/ingest.csv"
{
  echo "Ingest: POST /v1/me/symptoms vs pgbench (same statements), ${secs} s per level, $nsess member tokens"
  echo
  echo "| connections | CareCommons req/s | p50 ms | p99 ms | errors | pgbench tps | p50 ms | p99 ms | ratio |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$out/ingest.md"
rss_kb=0
for c in $levels; do
  echo "  ingest: $c connections (CareCommons, then pgbench)" >&2
  rss_pid=
  if [ "$c" = "$max_level" ]; then
    rss_sample &
    rss_pid=$!
  fi
  a=$(wrk_run "$c" /v1/me/symptoms single)
  if [ -n "$rss_pid" ]; then
    kill "$rss_pid" 2>/dev/null || true
    wait "$rss_pid" 2>/dev/null || true
    rss_kb=$(cat "$tmp/rss")
  fi
  b=$(pgbench_run "$c")
  errs=$(($(field non2xx "$a") + $(field connect "$a") + $(field read "$a") + $(field write "$a") + $(field timeout "$a")))
  ratio=$(python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%.2f' % (a / b if b else 0))" \
    "$(field rps "$a")" "$(field rps "$b")")
  echo "single,$c,carecommons,$(field rps "$a"),$(field p50_ms "$a"),$(field p99_ms "$a"),$errs" >>"$out/ingest.csv"
  echo "single,$c,pgbench,$(field rps "$b"),$(field p50_ms "$b"),$(field p99_ms "$b"),$(field failed "$b")" >>"$out/ingest.csv"
  printf '| %s | %.0f | %.2f | %.2f | %s | %.0f | %.2f | %.2f | %sx |\n' "$c" "$(field rps "$a")" "$(field p50_ms "$a")" \
    "$(field p99_ms "$a")" "$errs" "$(field rps "$b")" "$(field p50_ms "$b")" "$(field p99_ms "$b")" "$ratio" >>"$out/ingest.md"
done
{
  echo
  echo "Server peak RSS during the $max_level-connection run: $((rss_kb / 1024)) MB"
  echo
  echo "Batch: POST /v1/me/batch with $batch symptom entries per request"
  echo
  echo "| connections | requests/s | entries/s | p50 ms | p99 ms | errors |"
  echo "|---:|---:|---:|---:|---:|---:|"
} >>"$out/ingest.md"
for c in $batch_levels; do
  echo "  ingest: batch of $batch, $c connections" >&2
  a=$(wrk_run "$c" /v1/me/batch batch)
  errs=$(($(field non2xx "$a") + $(field connect "$a") + $(field read "$a") + $(field write "$a") + $(field timeout "$a")))
  entries=$(python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) * int(sys.argv[2])))" "$(field rps "$a")" "$batch")
  echo "batch$batch,$c,carecommons,$(field rps "$a"),$(field p50_ms "$a"),$(field p99_ms "$a"),$errs" >>"$out/ingest.csv"
  printf '| %s | %.0f | %s | %.2f | %.2f | %s |\n' "$c" "$(field rps "$a")" "$entries" "$(field p50_ms "$a")" \
    "$(field p99_ms "$a")" "$errs" >>"$out/ingest.md"
done
echo "$rss_kb" >"$out/ingest-rss-kb.txt"
