#!/usr/bin/env bash
# Query benchmark: a fixed set of research queries and a trial feasibility count through the API,
# each against its plain-SQL baseline (bench/baseline/<query>.sql over the raw tables, run with
# psql), CC_BENCH_RUNS timed runs each after one warm-up run, p50/p95 in milliseconds.
#
# API queries run uncached: before each run the data version is bumped (nextval on
# data_version_seq, what any write does), so neither the study's answer cache nor the trial's
# feasibility cache can answer; one repeat without the bump is timed as the cached figure. A researcher's general-research study and a
# coordinator's trial are created and approved (epsilon budgets 20 and 100; each run costs 0.01
# per count). First, the released counts of the count and feasibility queries (epsilon 1.0) must
# match the baselines' exact counts within noise and rounding: both compute the same answers.
#
# Run by bench/run.sh against its environment; run alone it starts one per size through run.sh:
#   CC_BENCH_SIZES   member counts ("10000 100000"; add 1000000 when you have the time)
#   CC_BENCH_RUNS    timed runs per query (20)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CC_BENCH_HTTP:-}" ]; then
  CC_BENCH_ONLY=query CC_BENCH_SIZES=${CC_BENCH_SIZES:-"10000 100000"} exec bench/run.sh
fi
exec python3 - <<'PY'
import datetime
import http.client
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.parse

env = os.environ
base = urllib.parse.urlparse(env["CC_BENCH_HTTP"])
members = int(env["CC_BENCH_MEMBERS"])
runs = int(env.get("CC_BENCH_RUNS", "20"))
out = env["CC_BENCH_OUT"]
if not 1 <= runs <= 100:
    sys.exit("query.sh: CC_BENCH_RUNS must be 1..100")
staff = dict(line.split() for line in open(env["CC_BENCH_STAFF"]) if line.strip())

conn = http.client.HTTPConnection(base.hostname, base.port, timeout=600)


def call(method, path, token, body=None):
    """One request on a kept-alive connection: (status, parsed body, seconds)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": "Bearer " + token}
    if data is not None:
        headers["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    try:
        conn.request(method, path, body=data, headers=headers)
    except (BrokenPipeError, ConnectionResetError):
        # The server closed the idle kept-alive connection before this request went out.
        conn.close()
        t0 = time.perf_counter()
        conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    secs = time.perf_counter() - t0
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return r.status, parsed, secs


class Refused(Exception):
    """The API did not answer as expected (e.g. the statement timeout at a large population)."""


def must(status, want, what, body):
    if status != want:
        raise Refused("query.sh: %s answered %d, expected %d: %s"
                      % (what, status, want, json.dumps(body)[:300]))


# A psql session as the schema owner, for bumping the data version between runs.
owner = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", env["CC_BENCH_OWNER_URL"]],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


def bump():
    owner.stdin.write("SELECT nextval('data_version_seq');\n")
    owner.stdin.flush()
    if not owner.stdout.readline().strip().isdigit():
        sys.exit("query.sh: could not bump the data version")


def baseline(name, n):
    """Run bench/baseline/<name>.sql 1 + n times in one psql session: (n timings in s, first output)."""
    path = os.path.join("bench", "baseline", name + ".sql")
    script = "\\timing on\n" + ("\\i %s\n" % path) * (n + 1)
    p = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", env["CC_BENCH_APP_URL"]],
                       input=script, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("query.sh: baseline %s failed: %s" % (name, p.stderr[-1000:]))
    times = [float(t) / 1000.0 for t in re.findall(r"^Time: ([0-9.]+) ms", p.stdout, re.M)]
    if len(times) != n + 1:
        sys.exit("query.sh: baseline %s: expected %d timings, got %d" % (name, n + 1, len(times)))
    first = p.stdout.replace("Timing is on.\n", "").split("Time:")[0]
    return times[1:], first


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def log(msg):
    print("  " + msg, file=sys.stderr, flush=True)


expires = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
ALL = ["demographics", "conditions", "symptoms", "medications", "goals"]

st, study, _ = call("POST", "/v1/research/studies", staff["researcher"], {
    "title": "Benchmark study", "description": "Query benchmark (synthetic population)",
    "purpose": "general_research", "commercial": False, "organisation_for_profit": False,
    "categories": ALL})
must(st, 201, "study create", study)
st, body, _ = call("POST", "/v1/admin/studies/%s/approve" % study["id"], staff["admin"],
                   {"epsilon_budget": 20, "expires_on": expires})
must(st, 200, "study approve", body)

trial_body = {
    "title": "Benchmark trial", "summary": "Feasibility benchmark", "sponsor": "Bench University",
    "contact_message": "You may be eligible for a study of fatigue in MS.",
    "commercial": False, "organisation_for_profit": False, "conditions": ["multiple_sclerosis"],
    "sites": [{"country": "GB"}, {"country": "US"}, {"country": "DE"}],
    "categories": ["demographics", "conditions", "symptoms", "medications"],
    "inclusion": {"all": [
        {"condition": {"condition": "multiple_sclerosis"}},
        {"symptom": {"symptom": "fatigue", "min_severity": 5, "weeks": {"at_least": 3, "of_last": 8}}},
        {"medication": {"medication": "dimethyl_fumarate", "ever": True}},
        {"age": {"min": 18, "max": 65}},
        {"country": ["GB", "US", "DE"]}]},
    "exclusion": {"any": [
        {"condition": {"condition": "type_2_diabetes"}},
        {"medication": {"medication": "natalizumab", "current": True}}]},
}
st, trial, _ = call("POST", "/v1/trials", staff["coordinator"], trial_body)
must(st, 201, "trial create", trial)
st, body, _ = call("POST", "/v1/admin/trials/%s/approve" % trial["id"], staff["admin"],
                   {"epsilon_budget": 100, "expires_on": expires})
must(st, 200, "trial approve", body)

MS = {"condition": {"condition": "multiple_sclerosis"}}
DEP = {"condition": {"condition": "depression"}}
T2D = {"condition": {"condition": "type_2_diabetes"}}
queries = [
    ("count", {"all": [MS, {"age": {"min": 30, "max": 70}}]}, {"type": "count"}),
    ("breakdown", DEP, {"type": "breakdown", "by": "age_band"}),
    ("symptom_distribution", MS, {"type": "symptom_distribution", "symptom": "fatigue", "window_days": 90}),
    ("symptom_trend", DEP, {"type": "symptom_trend", "symptom": "depressed_mood", "interval": "week",
                            "periods": 52}),
    ("treatment_effect", DEP, {"type": "treatment_effect", "medication": "sertraline",
                               "symptom": "depressed_mood", "before_days": 28, "after_days": 28}),
    ("medication_outcomes", T2D, {"type": "medication_outcomes", "medication": "metformin"}),
    ("side_effect_signal", T2D, {"type": "side_effect_signal", "medication": "semaglutide",
                                 "side_effect": "nausea"}),
]
study_path = "/v1/research/studies/%s/queries" % study["id"]
feas_path = "/v1/trials/%s/feasibility" % trial["id"]


def study_query(cohort, measure, epsilon, fresh=True):
    if fresh:
        bump()
    m = dict(measure, epsilon=epsilon)
    st, body, secs = call("POST", study_path, staff["researcher"], {"cohort": cohort, "measures": [m]})
    must(st, 200, "query %s" % measure["type"], body)
    if body["cached"] == fresh:
        sys.exit("query.sh: %s: expected cached=%s" % (measure["type"], not fresh))
    return body, secs


def feasibility(epsilon, fresh=True):
    if fresh:
        bump()
    st, body, secs = call("POST", feas_path, staff["coordinator"], {"epsilon": epsilon})
    must(st, 200, "feasibility", body)
    if body.get("cached", False) == fresh:
        sys.exit("query.sh: feasibility: expected cached=%s" % (not fresh))
    return body, secs


# Same answers: released counts at epsilon 1 (noise scale 1, then rounded to 5) against the exact
# baseline counts.
def check(name, released, exact):
    if isinstance(released, dict):
        ok = exact < 20  # suppressed: only a small true count can be
    else:
        ok = abs(released - exact) <= 25
    log("check %s: API %s, plain SQL %d%s" % (name, json.dumps(released), exact, "" if ok else "  MISMATCH"))
    if not ok:
        sys.exit("query.sh: the API and the baseline disagree on %s" % name)


try:
    body, _ = study_query(queries[0][1], queries[0][2], 1.0)
    _, first = baseline("count", 0)
    check("count", body["results"][0]["count"], int(first.strip().splitlines()[0]))
except Refused as e:
    log("check count not made: %s" % e)
try:
    body, _ = feasibility(1.0)
    _, first = baseline("feasibility", 0)
    check("feasibility", body["count"], int(first.strip().splitlines()[0].split("|")[2]))
except Refused as e:
    log("check feasibility not made: %s" % e)

csv_path = os.path.join(out, "query-%d.csv" % members)
open(csv_path, "w").close()
for name, cohort, measure in queries + [("feasibility", None, None)]:
    log("%s: %d runs through the API" % (name, runs))
    api = []
    cached_ms = ""
    conn.close()  # a fresh connection: the server closes ones idle for longer than its timeout
    try:
        for i in range(runs + 1):
            secs = study_query(cohort, measure, 0.01)[1] if cohort else feasibility(0.01)[1]
            if i:
                api.append(secs)
        if cohort:
            cached_ms = "%.1f" % (study_query(cohort, measure, 0.01, fresh=False)[1] * 1000)
        else:
            cached_ms = "%.1f" % (feasibility(0.01, fresh=False)[1] * 1000)
    except Refused as e:
        # Recorded as a failure (empty times) rather than dropped; the baseline still runs.
        log("%s: %s" % (name, e))
        api = []
    log("%s: %d runs of bench/baseline/%s.sql" % (name, runs, name))
    base_t, _ = baseline(name, runs)
    rows = []
    for system, xs, cached in (("carecommons", api, cached_ms), ("baseline", base_t, "")):
        if xs:
            rows.append("%d,%s,%s,%.2f,%.2f,%s" % (members, name, system, pct(xs, 50) * 1000,
                                                   pct(xs, 95) * 1000, cached))
        else:
            rows.append("%d,%s,%s,,,failed" % (members, name, system))
    with open(csv_path, "a") as f:  # per query, so a partial run keeps what it measured
        f.write("\n".join(rows) + "\n")
    log("%s: CareCommons p50 %s ms, plain SQL p50 %.1f ms"
        % (name, "%.1f" % (pct(api, 50) * 1000) if api else "failed", pct(base_t, 50) * 1000))

owner.stdin.close()
owner.wait()
PY
