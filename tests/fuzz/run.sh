#!/usr/bin/env bash
# make fuzz: build the libFuzzer targets with clang (libFuzzer + ASan + UBSan) - the cohort
# language, research measures, the FHIR import helpers and consent receipts - and run each for an
# equal share of SECONDS (default 600 in all). Not part of CI. Exits non-zero on any crash, leak or
# sanitizer finding; the reproducer is left in build-fuzz/ as <target>-crash-... (or -leak-, -timeout-).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
each=$((seconds / 4 > 0 ? seconds / 4 : 1))
command -v clang >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -q clang; }
out=build-fuzz
cc=(clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE)
mkdir -p "$out/corpus-cohort" "$out/corpus-measure" "$out/corpus-fhir" "$out/corpus-receipt"
"${cc[@]}" -I stats stats/cohort.c tests/fuzz/fuzz_cohort.c -o "$out/fuzz_cohort" -ljansson
"${cc[@]}" -I stats stats/cohort.c stats/measure.c stats/measures.c stats/disclosure.c stats/noise.c \
  stats/mechanism.c tests/fuzz/fuzz_measure.c -o "$out/fuzz_measure" -ljansson -lgsl -lgslcblas \
  -lcrypto -lm
# fhir.c needs only svc_parse_date/svc_parse_time from validate.c; the harness stubs svc_problem.
"${cc[@]}" -I service -I consent service/fhir.c service/validate.c consent/consent.c \
  tests/fuzz/fuzz_fhir.c -o "$out/fuzz_fhir" -ljansson -lm
"${cc[@]}" -I consent consent/receipt.c tests/fuzz/fuzz_receipt.c -o "$out/fuzz_receipt" \
  -ljansson -lcrypto

# Seed each corpus with a few valid inputs so the fuzzer starts from the grammar.
seed() { printf '%s' "$3" >"$out/corpus-$1/$2"; }
seed cohort seed1.json '{"all":[{"age":{"min":40,"max":60}},{"sex_at_birth":"female"},{"condition":{"condition":"multiple_sclerosis"}}]}'
seed cohort seed2.json '{"any":[{"symptom":{"symptom":"fatigue","min_severity":5,"weeks":{"at_least":4,"of_last":8}}},{"not":{"medication":{"medication":"metformin","current":true}}}]}'
seed cohort seed3.json '{"all":[{"evaluation":{"medication":"metformin","effectiveness_at_least":"moderate","side_effect":"nausea"}},{"goal":{"kind":"custom"}},{"country":["GB","IE"]}]}'
# Measures: the JSON array, a NUL, then 9-byte records (key selector, int64) for raw values and noise.
printf '[{"type":"count","epsilon":0.5}]\0' >"$out/corpus-measure/count"
printf '[{"type":"symptom_trend","symptom":"zz_fatigue","interval":"week","periods":52},{"type":"treatment_effect","medication":"zz_sertraline","symptom":"zz_mood","before_days":28,"after_days":28}]\0\200AAAAAAAA\001BBBBBBBB' >"$out/corpus-measure/trend"
printf '[{"type":"medication_outcomes","medication":"zz_metformin"},{"type":"side_effect_signal","medication":"zz_sema","side_effect":"zz_nausea"},{"type":"breakdown","by":"country"},{"type":"symptom_distribution","symptom":"zz_fatigue","window_days":90}]\0' >"$out/corpus-measure/mixed"
seed fhir patient.json '{"resourceType":"Patient","id":"pat-1","gender":"female","birthDate":"1975-06-02","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}]}'
seed fhir condition.json '{"resourceType":"Condition","id":"cond-1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"remission"}]},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"E11.65","display":"Type 2 diabetes"},{"system":"http://snomed.info/sct","code":"44054006"}],"text":"Type 2 diabetes"},"onsetDateTime":"2015-04-10T09:30:00+02:00"}'
seed fhir medication.json '{"resourceType":"MedicationStatement","id":"ms-1","status":"stopped","medicationReference":{"reference":"#m1"},"contained":[{"resourceType":"Medication","id":"m1","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6809","display":"metformin"}]}}],"effectivePeriod":{"start":"2015-05","end":"2016-01-20"},"statusReason":[{"text":"side_effects"}],"reasonReference":[{"reference":"Condition/cond-1"}],"dosage":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":500,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}]}]}'
seed fhir observation.json '{"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"84229001","display":"Fatigue"}]},"effectiveDateTime":"2024-01-02T08:00:00.500+01:00","valueQuantity":{"value":3.6}}'
seed fhir observation2.json '{"resourceType":"Observation","status":"final","effectiveDateTime":"2024-01-03","valueInteger":6}'
seed fhir medication2.json '{"resourceType":"MedicationStatement","status":"active","verificationStatus":{"coding":[{"code":"refuted"}]},"medicationCodeableConcept":{"text":"Ibuprofen"},"effectiveDateTime":"2021","dosage":[{"asNeededBoolean":true,"timing":{"repeat":{"frequency":1,"period":2,"periodUnit":"wk"}}}]}'
seed fhir bundle.json '{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:m","resource":{"resourceType":"Medication","id":"m","code":{"text":"Albuterol inhaler"}}},{"fullUrl":"urn:uuid:r","resource":{"resourceType":"MedicationRequest","status":"completed","medicationReference":{"reference":"urn:uuid:m"},"authoredOn":"2019-05-05T10:00:00Z","dosageInstruction":[{"timing":{"repeat":{"boundsPeriod":{"start":"2019-05-05","end":"2019-06-05"},"frequency":1,"period":8,"periodUnit":"h"}},"doseAndRate":[{"doseQuantity":{"value":0.25,"code":"{puff}"}}]}]}}]}'
seed receipt b64.txt 'SGVsbG8sIHdvcmxk'
seed receipt jws.txt 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
seed receipt signed.txt '{"alg":"EdDSA","kid":"k"}
{"sub":"x","n":1}'
seed receipt payload.json '{"consent_id":"c1","member":"m1","categories":["symptoms","conditions"],"issued_at":1700000000,"scale":0.5,"revoked":null,"nested":{"a":[1,2,{"b":true}]}}'

# One after the other (they share the machine); every target runs even when an earlier one fails.
status=0
for t in cohort measure fhir receipt; do
  echo "== fuzz_$t: ${each}s"
  ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_$t" -max_total_time="$each" -print_final_stats=1 \
    -artifact_prefix="$out/$t-" "$out/corpus-$t" || status=1
done
exit $status
