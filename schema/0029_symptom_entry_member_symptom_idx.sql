-- Cohort symptom criteria ask one member's entries of one catalog symptom, often within a window
-- and above a severity ("fatigue >= 5 in 3 of the last 8 weeks"). They read them through
-- (member_id, recorded_at), every symptom's entries in the window, each fetched from the heap for
-- its symptom and severity. Keyed by symptom, with the severity included, they are one index-only
-- range: the trial feasibility cohort of bench/query.sh at 1M (27,211 members with MS on dimethyl
-- fumarate), 30 -> 14 us per member (docs/benchmarks.md, tenth round). Loaded members' entries sit
-- together on disk; entries that arrive day by day are scattered, which makes the heap fetches
-- dearer still. One more index insert per entry. Runs inside the server's migration transaction.

CREATE INDEX symptom_entry_member_symptom_idx ON symptom_entry (member_id, symptom_id, recorded_at)
    INCLUDE (severity) WHERE symptom_id IS NOT NULL;
