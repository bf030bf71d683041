-- The medication outcomes measure reads each population member's records of one drug (their id,
-- stop date and reason, created_at) and each record's evaluations (id, date, created_at,
-- effectiveness, adherence). Both indexes it reads them through lacked some of those columns, so
-- every record and every evaluation was a heap fetch: at 1M, 42,614 metformin records over 18,005
-- heap pages and 15,541 evaluation probes. With the columns included both are index-only reads:
-- the measure statement 142-229 ms -> 125-195 ms in psql, alternating (docs/benchmarks.md, eighth
-- round). Medications and evaluations are written seldom; the indexes grow by the included
-- columns. Runs inside the server's migration transaction.

CREATE INDEX medication_catalog_member_cov ON medication (medication_id, member_id)
    INCLUDE (started_on, stopped_on, stop_reason, id, created_at) WHERE medication_id IS NOT NULL;
DROP INDEX medication_catalog_member_idx;
ALTER INDEX medication_catalog_member_cov RENAME TO medication_catalog_member_idx;

CREATE INDEX medication_evaluation_ref_cov ON medication_evaluation
    (member_id, medication_ref, evaluated_on) INCLUDE (id, created_at, effectiveness, adherence);
DROP INDEX medication_evaluation_ref_idx;
ALTER INDEX medication_evaluation_ref_cov RENAME TO medication_evaluation_ref_idx;
