#!/usr/bin/env bash
# insert_profile.sh URL [ROWS] [RUNS]: where one symptom insert's time goes, trigger by trigger.
# Runs EXPLAIN ANALYZE of a ROWS-entry insert (catalog symptoms, recorded now, one member) RUNS
# times in one session, each rolled back, and prints the median of each trigger and of the whole
# statement over all runs but the first quarter (warm-up). URL: a role that may insert into
# symptom_entry of a loaded database (docs/benchmarks.md, eighteenth round).
set -euo pipefail
url=${1:?usage: insert_profile.sh URL [ROWS] [RUNS]}
rows=${2:-100}
runs=${3:-40}
case $rows$runs in *[!0-9]*) echo "insert_profile.sh: ROWS and RUNS are numbers" >&2; exit 2 ;; esac
member=$(psql -X -At "$url" -c "SELECT id FROM account WHERE role = 'member' AND deleted_at IS NULL ORDER BY id LIMIT 1 OFFSET 77")
[ -n "$member" ] || { echo "insert_profile.sh: no member in this database" >&2; exit 1; }
sql="EXPLAIN (ANALYZE, COSTS off) INSERT INTO symptom_entry (member_id, id, symptom_id, severity, recorded_at)
 SELECT '$member', gen_random_uuid(), (ARRAY['fatigue', 'headache', 'nausea', 'joint_pain', 'insomnia',
 'dizziness', 'anxiety', 'cough'])[1 + g % 8], (g % 11)::smallint, now() FROM generate_series(1, $rows) g;"
for _ in $(seq "$runs"); do printf 'BEGIN;\n%s\nROLLBACK;\n' "$sql"; done |
  psql -X -q -v ON_ERROR_STOP=1 "$url" |
  python3 -c '
import re, statistics, sys
times = {}
for line in sys.stdin:
    m = re.search(r"(Trigger [\w ]+?|Execution Time):? (?:time=)?([\d.]+)", line)
    if m:
        times.setdefault(m.group(1).strip(), []).append(float(m.group(2)))
for name, v in times.items():
    print("%-72s %8.3f ms" % (name, statistics.median(v[len(v) // 4:])))'
