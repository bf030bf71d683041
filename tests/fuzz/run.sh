#!/usr/bin/env bash
# make fuzz: build the cohort-language fuzzer with clang (libFuzzer + ASan + UBSan) and run it for
# SECONDS (default 600). Not part of CI. Exits non-zero on any crash, leak or sanitizer finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
command -v clang >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -q clang; }
out=build-fuzz
mkdir -p "$out/corpus"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -I stats \
  stats/cohort.c tests/fuzz/fuzz_cohort.c -o "$out/fuzz_cohort" -ljansson
# Seed the corpus with a few valid cohorts so the fuzzer starts from the grammar.
printf '%s' '{"all":[{"age":{"min":40,"max":60}},{"sex_at_birth":"female"},{"condition":{"condition":"multiple_sclerosis"}}]}' >"$out/corpus/seed1.json"
printf '%s' '{"any":[{"symptom":{"symptom":"fatigue","min_severity":5,"weeks":{"at_least":4,"of_last":8}}},{"not":{"medication":{"medication":"metformin","current":true}}}]}' >"$out/corpus/seed2.json"
printf '%s' '{"all":[{"evaluation":{"medication":"metformin","effectiveness_at_least":"moderate","side_effect":"nausea"}},{"goal":{"kind":"custom"}},{"country":["GB","IE"]}]}' >"$out/corpus/seed3.json"
ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_cohort" -max_total_time="$seconds" -print_final_stats=1 "$out/corpus"
