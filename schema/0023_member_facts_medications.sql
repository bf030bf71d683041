-- 0023_member_facts_medications: the facts row also lists the member's catalog medications (any
-- record: any start, stop or status), with a GIN index. A cohort's medication criteria stay exact
-- questions to the medication table, but the compiler puts "the list holds the drug" in front of
-- each (a record of the drug implies it), so a population that asks for a drug starts from the
-- intersection of two bitmaps instead of one index probe per member who ever took the drug. The
-- trial feasibility cohort of bench/query.sh at 1M: 27,211 dimethyl fumarate members probed one by
-- one (about 440 ms) became a BitmapAnd with the MS entry (docs/benchmarks.md, eighth round).
--
-- Exactness as 0022: member_facts_source is the definition, statement triggers on medication
-- recompute the members a statement touched, and tests/e2e/test_facts.c compares the table with
-- the definition after API writes and random changes. Runs inside the server's migration
-- transaction: no BEGIN/COMMIT here.

ALTER TABLE member_facts ADD COLUMN medications text[] NOT NULL DEFAULT '{}';

-- The definition, with the list as its last column (the table's order: the rebuild inserts
-- SELECT *, and the tests compare TABLE with TABLE).
CREATE OR REPLACE VIEW member_facts_source AS
SELECT a.id AS member_id, p.birth_year, p.sex_at_birth, p.country::text AS country, p.postal_prefix,
       coalesce((SELECT array_agg(DISTINCT c.condition_id ORDER BY c.condition_id)
                 FROM member_condition c
                 WHERE c.member_id = a.id AND c.condition_id IS NOT NULL), '{}') AS conditions,
       r.cats_noncom_nonprofit | (r.cats_noncom_forprofit << 5) | (r.cats_com_nonprofit << 10)
           | (r.cats_com_forprofit << 15) AS r_masks,
       r.from_max AS r_from, r.until_min AS r_until, r.conditions AS r_conds,
       t.cats_noncom_nonprofit | (t.cats_noncom_forprofit << 5) | (t.cats_com_nonprofit << 10)
           | (t.cats_com_forprofit << 15) AS t_masks,
       t.from_max AS t_from, t.until_min AS t_until, t.conditions AS t_conds,
       coalesce((SELECT array_agg(DISTINCT m.medication_id ORDER BY m.medication_id)
                 FROM medication m
                 WHERE m.member_id = a.id AND m.medication_id IS NOT NULL), '{}') AS medications
FROM account a
LEFT JOIN member_profile p ON p.member_id = a.id
LEFT JOIN consent_member r ON r.member_id = a.id AND r.purpose = 'research'
LEFT JOIN consent_member t ON t.member_id = a.id AND t.purpose = 'trial_recruitment'
WHERE a.role = 'member' AND a.deleted_at IS NULL;

-- As 0022, with the new column in the update and in the "unchanged" test.
CREATE OR REPLACE FUNCTION member_facts_refresh(members uuid[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    h int;
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
    -- Most changes (a note, a dose, a display name) leave the facts as they were: no new version.
    WHERE (f.birth_year, f.sex_at_birth, f.country, f.postal_prefix, f.conditions, f.r_masks,
           f.r_from, f.r_until, f.r_conds, f.t_masks, f.t_from, f.t_until, f.t_conds,
           f.medications)
          IS DISTINCT FROM
          (EXCLUDED.birth_year, EXCLUDED.sex_at_birth, EXCLUDED.country, EXCLUDED.postal_prefix,
           EXCLUDED.conditions, EXCLUDED.r_masks, EXCLUDED.r_from, EXCLUDED.r_until,
           EXCLUDED.r_conds, EXCLUDED.t_masks, EXCLUDED.t_from, EXCLUDED.t_until,
           EXCLUDED.t_conds, EXCLUDED.medications);
END
$$;

-- Medication records: a new one, a change of drug (or to a custom item), a removal.
CREATE TRIGGER member_facts_medication_insert AFTER INSERT ON medication
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_medication_update AFTER UPDATE ON medication
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_medication_delete AFTER DELETE ON medication
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_medication_truncate AFTER TRUNCATE ON medication
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();

-- Fill the column in one pass (the table lock keeps writers' triggers out until commit).
LOCK TABLE member_facts IN SHARE ROW EXCLUSIVE MODE;
UPDATE member_facts f SET medications = m.ids
FROM (SELECT member_id, array_agg(DISTINCT medication_id ORDER BY medication_id) AS ids
      FROM medication WHERE medication_id IS NOT NULL GROUP BY member_id) m
WHERE m.member_id = f.member_id;

-- "Has a record of drug D": a bitmap of D's members. No pending list, as for conditions.
CREATE INDEX member_facts_medications_idx ON member_facts USING gin (medications)
    WITH (fastupdate = off);
ANALYZE member_facts;
