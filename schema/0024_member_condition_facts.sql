-- 0024_member_condition_facts: the facts rows again, one copy per catalog condition of the member,
-- stored in (condition, member) order. A population led by a condition ("has multiple sclerosis"
-- and ...) read member_facts through the condition's GIN bitmap: 24% of the members for
-- depression at 1M, spread over every page of the table, 150-185 ms before any other criterion.
-- Here the same rows are one key range of about 3,000 pages: 50-60 ms (docs/benchmarks.md, eighth
-- round). The order is made by the builds (this migration, member_facts_rebuild); later rows go
-- where there is room (fillfactor 90 keeps updates on their page), and CLUSTER
-- member_condition_facts USING member_condition_facts_pkey restores it.
--
-- Exactness: member_condition_facts_source is the definition (member_facts expanded by its
-- conditions); member_facts_refresh, the one writer of member_facts, rewrites the copies of every
-- row it changes, and removed rows take theirs by cascade. tests/e2e/test_facts.c compares the
-- table with the definition wherever it compares member_facts. Runs inside the server's migration
-- transaction: no BEGIN/COMMIT here.

CREATE TABLE member_condition_facts (
    condition_id text NOT NULL,
    member_id uuid NOT NULL REFERENCES member_facts(member_id) ON DELETE CASCADE,
    birth_year int,
    sex_at_birth text,
    country text,
    postal_prefix text,
    conditions text[] NOT NULL,
    r_masks int,
    r_from timestamptz,
    r_until timestamptz,
    r_conds text[],
    t_masks int,
    t_from timestamptz,
    t_until timestamptz,
    t_conds text[],
    medications text[] NOT NULL,
    PRIMARY KEY (condition_id, member_id)
) WITH (fillfactor = 90);
-- The refresh's and the cascade's lookups by member.
CREATE INDEX member_condition_facts_member_idx ON member_condition_facts (member_id);
-- A drug within the condition's range: the two bitmaps ANDed (a trial's "has MS and took
-- dimethyl fumarate" reads 27,211 rows of 134,045). No pending list, as for member_facts.
CREATE INDEX member_condition_facts_medications_idx ON member_condition_facts
    USING gin (medications) WITH (fastupdate = off);

-- The definition, column for column the table's.
CREATE VIEW member_condition_facts_source AS
SELECT c.condition_id, f.*
FROM member_facts f CROSS JOIN LATERAL unnest(f.conditions) AS c(condition_id);

-- As 0023, and the changed rows' copies rewritten.
CREATE OR REPLACE FUNCTION member_facts_refresh(members uuid[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    h int;
    changed uuid[];
BEGIN
    IF members IS NULL OR cardinality(members) = 0 THEN
        RETURN;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'member facts are changed in READ COMMITTED transactions only'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF cardinality(members) > 64 THEN
        LOCK TABLE member_facts IN SHARE ROW EXCLUSIVE MODE;
    ELSE
        LOCK TABLE member_facts IN ROW EXCLUSIVE MODE;
        -- In key order, so that two statements over several members do not deadlock here.
        FOR h IN SELECT DISTINCT hashtext(m::text) FROM unnest(members) m ORDER BY 1 LOOP
            PERFORM pg_advisory_xact_lock(4022, h);
        END LOOP;
    END IF;
    DELETE FROM member_facts f
    USING unnest(members) AS k(member_id)
    WHERE f.member_id = k.member_id
      AND NOT EXISTS (SELECT 1 FROM account a
                      WHERE a.id = f.member_id AND a.role = 'member' AND a.deleted_at IS NULL);
    WITH up AS (
        INSERT INTO member_facts AS f
        SELECT s.*
        FROM (SELECT DISTINCT m FROM unnest(members) m) AS k(member_id)
        -- OFFSET 0 keeps the member qual inside the view: one index probe per source and member.
        CROSS JOIN LATERAL (SELECT * FROM member_facts_source v WHERE v.member_id = k.member_id
                            OFFSET 0) s
        ORDER BY s.member_id
        ON CONFLICT (member_id) DO UPDATE SET
            birth_year = EXCLUDED.birth_year, sex_at_birth = EXCLUDED.sex_at_birth,
            country = EXCLUDED.country, postal_prefix = EXCLUDED.postal_prefix,
            conditions = EXCLUDED.conditions,
            r_masks = EXCLUDED.r_masks, r_from = EXCLUDED.r_from, r_until = EXCLUDED.r_until,
            r_conds = EXCLUDED.r_conds,
            t_masks = EXCLUDED.t_masks, t_from = EXCLUDED.t_from, t_until = EXCLUDED.t_until,
            t_conds = EXCLUDED.t_conds, medications = EXCLUDED.medications
        -- Most changes (a note, a dose, a display name) leave the facts as they were.
        WHERE (f.birth_year, f.sex_at_birth, f.country, f.postal_prefix, f.conditions, f.r_masks,
               f.r_from, f.r_until, f.r_conds, f.t_masks, f.t_from, f.t_until, f.t_conds,
               f.medications)
              IS DISTINCT FROM
              (EXCLUDED.birth_year, EXCLUDED.sex_at_birth, EXCLUDED.country, EXCLUDED.postal_prefix,
               EXCLUDED.conditions, EXCLUDED.r_masks, EXCLUDED.r_from, EXCLUDED.r_until,
               EXCLUDED.r_conds, EXCLUDED.t_masks, EXCLUDED.t_from, EXCLUDED.t_until,
               EXCLUDED.t_conds, EXCLUDED.medications)
        RETURNING f.member_id)
    SELECT array_agg(member_id) INTO changed FROM up;
    -- The per-condition copies of the rows that changed (removed rows took theirs by cascade).
    IF changed IS NOT NULL THEN
        DELETE FROM member_condition_facts WHERE member_id = ANY (changed);
        INSERT INTO member_condition_facts
        SELECT * FROM member_condition_facts_source WHERE member_id = ANY (changed) ORDER BY 1, 2;
    END IF;
END
$$;

-- Both tables from their definitions (repair; bulk loads). The table locks keep the triggers of
-- other writers out until commit. Owner only.
CREATE OR REPLACE FUNCTION member_facts_rebuild() RETURNS bigint
LANGUAGE sql
AS $$
    LOCK TABLE member_facts IN SHARE ROW EXCLUSIVE MODE;
    TRUNCATE member_condition_facts;
    DELETE FROM member_facts;
    INSERT INTO member_facts SELECT * FROM member_facts_source ORDER BY member_id;
    INSERT INTO member_condition_facts SELECT * FROM member_condition_facts_source ORDER BY 1, 2;
    SELECT count(*) FROM member_facts;
$$;

LOCK TABLE member_facts IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO member_condition_facts SELECT * FROM member_condition_facts_source ORDER BY 1, 2;
ANALYZE member_condition_facts;

GRANT SELECT ON member_condition_facts TO cc_app;
