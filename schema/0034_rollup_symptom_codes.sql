-- 0034_rollup_symptom_codes: the symptom rollups key a catalog symptom by a two-byte code instead
-- of its text id. Every probe of a rollup key compared the text id first (a collation call), and a
-- variable-length first column made PostgreSQL look up each later column's offset anew
-- (nocache_index_getattr): together half of a probe's time under perf at 1M members. With
-- fixed-width keys the 90-day distribution's measure took 403-414 ms against 501-515 in psql, the
-- treatment effect's 189-204 against 239-298; symptom_day's key shrank from 6.4 to 5.1 GB
-- (docs/benchmarks.md, fifteenth round).
--
-- The code is catalog_symptom.code, assigned once and permanent like the id itself (the trigger of
-- 0030 now refuses changing either). symptom_code(id) reads it; it is declared IMMUTABLE, which is
-- true because a catalog row and its code are never changed or removed, so that the planner folds
-- symptom_code($1) into a constant and keeps planning each probe as an index condition. A plan
-- kept across statements (plpgsql) could still hold NULL for an id added later: the trigger
-- functions below join the catalog instead. Runs inside the server's migration transaction.

ALTER TABLE catalog_symptom ADD COLUMN code smallint;
UPDATE catalog_symptom c SET code = x.code
FROM (SELECT id, row_number() OVER (ORDER BY id COLLATE "C") AS code FROM catalog_symptom) x
WHERE c.id = x.id;
CREATE SEQUENCE catalog_symptom_code_seq AS smallint MINVALUE 1 OWNED BY catalog_symptom.code;
SELECT setval('catalog_symptom_code_seq', coalesce(max(code), 0) + 1, false) FROM catalog_symptom;
ALTER TABLE catalog_symptom
    ALTER COLUMN code SET DEFAULT nextval('catalog_symptom_code_seq'),
    ALTER COLUMN code SET NOT NULL,
    ADD CONSTRAINT catalog_symptom_code_key UNIQUE (code);

DROP TRIGGER catalog_symptom_permanent ON catalog_symptom;
CREATE TRIGGER catalog_symptom_permanent BEFORE DELETE OR UPDATE OF id, code ON catalog_symptom
    FOR EACH ROW EXECUTE FUNCTION catalog_symptom_permanent();

CREATE FUNCTION symptom_code(symptom text) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT c.code FROM public.catalog_symptom c WHERE c.id = symptom $$;

-- No entry may change while its rollups move to the new tables.
LOCK TABLE symptom_entry IN SHARE MODE;

CREATE TABLE symptom_day_new (
    sym smallint NOT NULL,
    member_id uuid NOT NULL,
    day date NOT NULL,
    n int NOT NULL,
    s int NOT NULL
);
INSERT INTO symptom_day_new (sym, member_id, day, n, s)
SELECT c.code, r.member_id, r.day, r.n, r.s FROM symptom_day r JOIN catalog_symptom c ON c.id = r.symptom_id;
DROP TABLE symptom_day;
ALTER TABLE symptom_day_new RENAME TO symptom_day;
ALTER TABLE symptom_day ADD CONSTRAINT symptom_day_pkey PRIMARY KEY (sym, member_id, day) INCLUDE (n, s);

CREATE TABLE symptom_week_new (
    sym smallint NOT NULL,
    member_id uuid NOT NULL,
    week date NOT NULL,
    n int NOT NULL,
    s int NOT NULL
);
INSERT INTO symptom_week_new (sym, member_id, week, n, s)
SELECT c.code, r.member_id, r.week, r.n, r.s FROM symptom_week r JOIN catalog_symptom c ON c.id = r.symptom_id;
DROP TABLE symptom_week;
ALTER TABLE symptom_week_new RENAME TO symptom_week;
ALTER TABLE symptom_week ADD CONSTRAINT symptom_week_pkey PRIMARY KEY (sym, member_id, week) INCLUDE (n, s);

GRANT SELECT ON symptom_day, symptom_week TO cc_app;

-- The functions of 0013 and 0019, the same rows keyed by code: the inner join with the catalog
-- also leaves out custom symptoms (symptom_id NULL), as their WHERE did.
CREATE OR REPLACE FUNCTION symptom_rollup_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO symptom_day AS r (sym, member_id, day, n, s)
    SELECT c.code, e.member_id, (e.recorded_at AT TIME ZONE 'UTC')::date, count(*), sum(e.severity)
    FROM new_rows e JOIN catalog_symptom c ON c.id = e.symptom_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (sym, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    INSERT INTO symptom_week AS r (sym, member_id, week, n, s)
    SELECT c.code, e.member_id, date_trunc('week', e.recorded_at AT TIME ZONE 'UTC')::date, count(*),
           sum(e.severity)
    FROM new_rows e JOIN catalog_symptom c ON c.id = e.symptom_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (sym, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION symptom_rollup_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO symptom_day AS r (sym, member_id, day, n, s)
        SELECT c.code, d.member_id, (d.at AT TIME ZONE 'UTC')::date, sum(d.n), sum(d.s)
        FROM (SELECT symptom_id, member_id, recorded_at AS at, 1 AS n, severity AS s FROM new_rows
              UNION ALL SELECT symptom_id, member_id, recorded_at, -1, -severity FROM old_rows) d
        JOIN catalog_symptom c ON c.id = d.symptom_id
        GROUP BY 1, 2, 3 HAVING sum(d.n) <> 0 OR sum(d.s) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (sym, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
        INSERT INTO symptom_week AS r (sym, member_id, week, n, s)
        SELECT c.code, d.member_id, date_trunc('week', d.at AT TIME ZONE 'UTC')::date, sum(d.n),
               sum(d.s)
        FROM (SELECT symptom_id, member_id, recorded_at AS at, 1 AS n, severity AS s FROM new_rows
              UNION ALL SELECT symptom_id, member_id, recorded_at, -1, -severity FROM old_rows) d
        JOIN catalog_symptom c ON c.id = d.symptom_id
        GROUP BY 1, 2, 3 HAVING sum(d.n) <> 0 OR sum(d.s) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (sym, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    ELSE
        INSERT INTO symptom_day AS r (sym, member_id, day, n, s)
        SELECT c.code, o.member_id, (o.recorded_at AT TIME ZONE 'UTC')::date, -count(*),
               -sum(o.severity)
        FROM old_rows o JOIN catalog_symptom c ON c.id = o.symptom_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (sym, member_id, day) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
        INSERT INTO symptom_week AS r (sym, member_id, week, n, s)
        SELECT c.code, o.member_id, date_trunc('week', o.recorded_at AT TIME ZONE 'UTC')::date,
               -count(*), -sum(o.severity)
        FROM old_rows o JOIN catalog_symptom c ON c.id = o.symptom_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (sym, member_id, week) DO UPDATE SET n = r.n + EXCLUDED.n, s = r.s + EXCLUDED.s;
    END IF;
    DELETE FROM symptom_day r USING old_rows o JOIN catalog_symptom c ON c.id = o.symptom_id
    WHERE r.n = 0 AND r.sym = c.code AND r.member_id = o.member_id
      AND r.day = (o.recorded_at AT TIME ZONE 'UTC')::date;
    DELETE FROM symptom_week r USING old_rows o JOIN catalog_symptom c ON c.id = o.symptom_id
    WHERE r.n = 0 AND r.sym = c.code AND r.member_id = o.member_id
      AND r.week = date_trunc('week', o.recorded_at AT TIME ZONE 'UTC')::date;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION symptom_rollup_rebuild() RETURNS void
LANGUAGE sql
AS $$
    TRUNCATE symptom_day, symptom_week;
    INSERT INTO symptom_day (sym, member_id, day, n, s)
    SELECT c.code, e.member_id, (e.recorded_at AT TIME ZONE 'UTC')::date, count(*), sum(e.severity)
    FROM symptom_entry e JOIN catalog_symptom c ON c.id = e.symptom_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
    INSERT INTO symptom_week (sym, member_id, week, n, s)
    SELECT sym, member_id, date_trunc('week', day)::date, sum(n), sum(s)
    FROM symptom_day GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
$$;

CREATE OR REPLACE FUNCTION symptom_rollup_add_members(lo uuid, hi uuid) RETURNS bigint
LANGUAGE sql
SET work_mem = '64MB'
AS $$
    WITH d AS MATERIALIZED (
        SELECT c.code AS sym, e.member_id, (e.recorded_at AT TIME ZONE 'UTC')::date AS day,
               count(*) AS n, sum(e.severity) AS s
        FROM symptom_entry e JOIN catalog_symptom c ON c.id = e.symptom_id
        WHERE e.member_id BETWEEN lo AND hi
        GROUP BY 1, 2, 3
    ), days AS (
        INSERT INTO symptom_day (sym, member_id, day, n, s)
        SELECT sym, member_id, day, n, s FROM d ORDER BY sym, member_id, day
    ), weeks AS (
        INSERT INTO symptom_week (sym, member_id, week, n, s)
        SELECT sym, member_id, day - ((day - DATE '2000-01-03') % 7 + 7) % 7, sum(n), sum(s)
        FROM d GROUP BY 1, 2, 3
    )
    SELECT coalesce(sum(n), 0)::bigint FROM d;
$$;
