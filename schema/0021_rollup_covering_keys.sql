-- The rollups' primary keys carry n and s (INCLUDE), so that measures read them with index-only
-- scans. Without it every rollup row a measure reads is a heap fetch, and the heap is not in key
-- order: the service appends rows day by day (and a bulk load chunk by chunk), so one symptom's
-- rows are spread over the whole table (pg_stats correlation of symptom_id 0.10 after a 1M load).
-- Reading one symptom's weeks for 242,000 members at 1M: 11.4-11.8 s with heap fetches, 3.0-4.2 s
-- index-only (docs/benchmarks.md). The price: updates of n and s are no longer HOT, so each rollup
-- update writes a new index entry too. ON CONFLICT still infers these keys (INCLUDE columns are not
-- key columns). Runs inside the server's migration transaction.

ALTER TABLE symptom_day DROP CONSTRAINT symptom_day_pkey,
    ADD CONSTRAINT symptom_day_pkey PRIMARY KEY (symptom_id, member_id, day) INCLUDE (n, s);
ALTER TABLE symptom_week DROP CONSTRAINT symptom_week_pkey,
    ADD CONSTRAINT symptom_week_pkey PRIMARY KEY (symptom_id, member_id, week) INCLUDE (n, s);
