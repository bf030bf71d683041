-- 0035_medication_first_cover: medication_first's key carries the start date (INCLUDE), so that the
-- treatment effect reads a drug's starters from the index alone. It read them by a bitmap scan that
-- visited the table's pages (sertraline at 1M: 63,570 rows on 2,549 pages); the measure took
-- 151-164 ms against 166-181 ms (docs/benchmarks.md, fifteenth round). No statement infers this key
-- (the refresh of 0032 deletes by member and inserts), and INCLUDE columns are not key columns, so
-- uniqueness is unchanged. Runs inside the server's migration transaction.

ALTER TABLE medication_first DROP CONSTRAINT medication_first_pkey,
    ADD CONSTRAINT medication_first_pkey PRIMARY KEY (medication_id, member_id) INCLUDE (started_on);
