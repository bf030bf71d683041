-- The symptom rollups of a range of members, added by a bulk loader right after it has copied
-- their entries with the rollup trigger off (bench/gen.c), in the same transaction: the entries
-- are still in memory and each loader adds its own range on its own core. The alternative,
-- symptom_rollup_rebuild() after the whole load, sorts every entry in one process (995 s of a
-- 2,087 s load at 1M members, docs/benchmarks.md). Same rows as 0013's triggers and rebuild: UTC
-- day, ISO week (Monday, UTC), count and sum of severities, catalog symptoms only. Plain INSERTs:
-- a member whose rollups exist already makes it fail instead of counting twice. Returns the
-- number of entries added. Owner only. The day rows go in the primary key's order (byte order
-- sorts faster and, for the catalog's ASCII ids, is the same); a week is its Monday by integer
-- arithmetic (2000-01-03 was a Monday), equal to date_trunc('week', day) for every date and
-- cheaper: 1.5-1.8 s against 1.7-2.1 s for 2,000 members' 210,000 entries.
CREATE FUNCTION symptom_rollup_add_members(lo uuid, hi uuid) RETURNS bigint
LANGUAGE sql
SET work_mem = '64MB'
AS $$
    WITH d AS MATERIALIZED (
        SELECT symptom_id, member_id, (recorded_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
               sum(severity) AS s
        FROM symptom_entry
        WHERE member_id BETWEEN lo AND hi AND symptom_id IS NOT NULL
        GROUP BY 1, 2, 3
    ), days AS (
        INSERT INTO symptom_day (symptom_id, member_id, day, n, s)
        SELECT symptom_id, member_id, day, n, s FROM d ORDER BY symptom_id COLLATE "C", member_id, day
    ), weeks AS (
        INSERT INTO symptom_week (symptom_id, member_id, week, n, s)
        SELECT symptom_id, member_id, day - ((day - DATE '2000-01-03') % 7 + 7) % 7, sum(n), sum(s)
        FROM d GROUP BY 1, 2, 3
    )
    SELECT coalesce(sum(n), 0)::bigint FROM d;
$$;
REVOKE EXECUTE ON FUNCTION symptom_rollup_add_members(uuid, uuid) FROM PUBLIC;
