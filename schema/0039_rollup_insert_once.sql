-- 0039_rollup_insert_once: the insert trigger of the symptom rollups groups the statement's entries by
-- day once, upserts the days, and builds the weeks from those day groups, in one statement. It read
-- the transition table, joined the catalog and grouped twice, once per rollup table. A 100-entry
-- insert's rollup trigger: 0.56-0.67 ms before, 0.42-0.48 after; one entry's: 0.155 against 0.135
-- (bench/insert_profile.sh, three alternating pairs; docs/benchmarks.md, eighteenth round). Same rows
-- as 0034's: a week is the ISO week of the entry's UTC day. Custom symptoms (no catalog row) have no
-- rollup, as before.
CREATE OR REPLACE FUNCTION symptom_rollup_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    WITH d AS (
        SELECT c.code, e.member_id, (e.recorded_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
               sum(e.severity) AS s
        FROM new_rows e JOIN catalog_symptom c ON c.id = e.symptom_id GROUP BY 1, 2, 3),
    dd AS (
        INSERT INTO symptom_day AS r (sym, member_id, day, n, s)
        SELECT code, member_id, day, n, s FROM d ORDER BY 1, 2, 3
        ON CONFLICT (sym, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s)
    INSERT INTO symptom_week AS r (sym, member_id, week, n, s)
    SELECT code, member_id, date_trunc('week', day::timestamp)::date, sum(n), sum(s)
    FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (sym, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    RETURN NULL;
END
$$;
