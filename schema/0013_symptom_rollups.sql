-- Rollups of catalog symptom entries for research measures: per symptom x member x UTC day and x ISO
-- week (Monday, UTC), the number of entries and the sum of their severities. A distribution over 90
-- days reads at most 12 day rows and 13 week rows per member instead of every entry; a 52-week trend
-- reads 52 narrow rows. Maintained on write by statement-level triggers that add the statement's
-- net change (concurrent writers only ever add, so ON CONFLICT ... DO UPDATE stays exact), and
-- rows that reach zero entries are removed. Custom symptoms are private and never rolled up.
-- tests/e2e/test_measure_db.c compares rollup-based answers with the raw entries after random
-- inserts, updates and deletes.

CREATE TABLE symptom_day (
    symptom_id text NOT NULL,
    member_id uuid NOT NULL,
    day date NOT NULL,
    n int NOT NULL,
    s int NOT NULL,
    PRIMARY KEY (symptom_id, member_id, day)
);

CREATE TABLE symptom_week (
    symptom_id text NOT NULL,
    member_id uuid NOT NULL,
    week date NOT NULL,
    n int NOT NULL,
    s int NOT NULL,
    PRIMARY KEY (symptom_id, member_id, week)
);

-- The net change of one statement per key (+1/+severity per new row, -1/-severity per old one),
-- added in key order so two statements touching the same keys cannot deadlock. Rows left at zero
-- entries are then removed. No CHECK on n and s: the row a negative change proposes is checked
-- before ON CONFLICT turns it into an update (its key always exists: it holds the old rows). SECURITY DEFINER: the service may read the rollups, never write them.
CREATE FUNCTION symptom_rollup_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO symptom_day AS r (symptom_id, member_id, day, n, s)
    SELECT symptom_id, member_id, (recorded_at AT TIME ZONE 'UTC')::date, count(*), sum(severity)
    FROM new_rows WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (symptom_id, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    INSERT INTO symptom_week AS r (symptom_id, member_id, week, n, s)
    SELECT symptom_id, member_id, date_trunc('week', recorded_at AT TIME ZONE 'UTC')::date, count(*),
           sum(severity)
    FROM new_rows WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (symptom_id, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    RETURN NULL;
END
$$;

-- Updates and deletes: old rows count negatively (an update that changes neither the symptom, the
-- time nor the severity nets to nothing and writes nothing); only old keys can reach zero.
CREATE FUNCTION symptom_rollup_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO symptom_day AS r (symptom_id, member_id, day, n, s)
        SELECT symptom_id, member_id, (at AT TIME ZONE 'UTC')::date, sum(n), sum(s)
        FROM (SELECT symptom_id, member_id, recorded_at AS at, 1 AS n, severity AS s FROM new_rows
              UNION ALL SELECT symptom_id, member_id, recorded_at, -1, -severity FROM old_rows) d
        WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(n) <> 0 OR sum(s) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (symptom_id, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
        INSERT INTO symptom_week AS r (symptom_id, member_id, week, n, s)
        SELECT symptom_id, member_id, date_trunc('week', at AT TIME ZONE 'UTC')::date, sum(n), sum(s)
        FROM (SELECT symptom_id, member_id, recorded_at AS at, 1 AS n, severity AS s FROM new_rows
              UNION ALL SELECT symptom_id, member_id, recorded_at, -1, -severity FROM old_rows) d
        WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(n) <> 0 OR sum(s) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (symptom_id, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    ELSE
        INSERT INTO symptom_day AS r (symptom_id, member_id, day, n, s)
        SELECT symptom_id, member_id, (recorded_at AT TIME ZONE 'UTC')::date, -count(*), -sum(severity)
        FROM old_rows WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (symptom_id, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
        INSERT INTO symptom_week AS r (symptom_id, member_id, week, n, s)
        SELECT symptom_id, member_id, date_trunc('week', recorded_at AT TIME ZONE 'UTC')::date,
               -count(*), -sum(severity)
        FROM old_rows WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (symptom_id, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    END IF;
    DELETE FROM symptom_day r USING old_rows o
    WHERE r.n = 0 AND r.symptom_id = o.symptom_id AND r.member_id = o.member_id
      AND r.day = (o.recorded_at AT TIME ZONE 'UTC')::date;
    DELETE FROM symptom_week r USING old_rows o
    WHERE r.n = 0 AND r.symptom_id = o.symptom_id AND r.member_id = o.member_id
      AND r.week = date_trunc('week', o.recorded_at AT TIME ZONE 'UTC')::date;
    RETURN NULL;
END
$$;

CREATE TRIGGER symptom_entry_rollup_insert AFTER INSERT ON symptom_entry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION symptom_rollup_insert();
CREATE TRIGGER symptom_entry_rollup_update AFTER UPDATE ON symptom_entry
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION symptom_rollup_change();
CREATE TRIGGER symptom_entry_rollup_delete AFTER DELETE ON symptom_entry
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION symptom_rollup_change();

-- Recomputes both rollups from the entries (this migration, and bulk loaders that disable the
-- triggers while they COPY). Owner only.
CREATE FUNCTION symptom_rollup_rebuild() RETURNS void
LANGUAGE sql
AS $$
    TRUNCATE symptom_day, symptom_week;
    INSERT INTO symptom_day (symptom_id, member_id, day, n, s)
    SELECT symptom_id, member_id, (recorded_at AT TIME ZONE 'UTC')::date, count(*), sum(severity)
    FROM symptom_entry WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
    INSERT INTO symptom_week (symptom_id, member_id, week, n, s)
    SELECT symptom_id, member_id, date_trunc('week', day)::date, sum(n), sum(s)
    FROM symptom_day GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
$$;
REVOKE EXECUTE ON FUNCTION symptom_rollup_rebuild() FROM PUBLIC;

SELECT symptom_rollup_rebuild();

GRANT SELECT ON symptom_day, symptom_week TO cc_app;
