-- 0037_medication_first_rebuild: medication_first (0032) recomputed whole, as consent_member_rebuild
-- (0014) and member_facts_rebuild (0022) do theirs. A bulk load (bench/gen.c) turns the per-statement
-- refresh off for the medication table and calls this once: the refresh per chunk cost more as the
-- table grew (300k members: 15.3 s for the medication rows against 2.6 s without it; 75.9 s at 1M,
-- 5x the time for 3.3x the rows; docs/benchmarks.md, sixteenth round). Also the repair
-- after a trigger was left disabled. Runs inside the server's migration transaction.

CREATE FUNCTION medication_first_rebuild() RETURNS bigint
LANGUAGE sql
AS $$
    LOCK TABLE medication IN SHARE MODE;
    LOCK TABLE medication_first IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM medication_first;
    WITH added AS (
        INSERT INTO medication_first SELECT * FROM medication_first_source ORDER BY 1, 2
        RETURNING 1
    )
    SELECT count(*) FROM added;
$$;
REVOKE EXECUTE ON FUNCTION medication_first_rebuild() FROM PUBLIC;
