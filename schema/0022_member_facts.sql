-- 0022_member_facts: one narrow row per live member holding everything a population reads before
-- its costly criteria: demographics, the member's catalog conditions, and the consent summary's
-- fast-path columns (0014) for research and trial recruitment. A population was a join of the
-- consent summary (366k rows at 1M members), account, member_profile and a de-duplicated
-- member_condition set: 450-690 ms at 1M. From this table it is one bitmap scan of the
-- condition's GIN entry and a filter: 105-160 ms (docs/benchmarks.md).
--
-- Exactness: the table is maintained by statement triggers on every source in the writing
-- transaction, like consent_member; member_facts_source is the definition, and
-- tests/e2e/test_facts.c compares the two after random changes. Consent is still decided at query
-- time (consent_facts_permit): the columns only summarise the active grants, their validity window
-- is tested against the use's time, and every member off the fast path is decided from the grants.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE TABLE member_facts (
    member_id uuid PRIMARY KEY REFERENCES account(id) ON DELETE CASCADE,
    birth_year int,
    sex_at_birth text,
    country text,
    postal_prefix text,
    conditions text[] NOT NULL,   -- distinct catalog condition ids of any status, sorted
    -- Per purpose (r_: research, t_: trial_recruitment), the consent summary's row: the four
    -- cats_* masks packed 5 bits apart (noncom_nonprofit, noncom_forprofit, com_nonprofit,
    -- com_forprofit; NULL: no active grant of the purpose), from_max, until_min and conditions.
    r_masks int,
    r_from timestamptz,
    r_until timestamptz,
    r_conds text[],
    t_masks int,
    t_from timestamptz,
    t_until timestamptz,
    t_conds text[]
);

-- The definition: live member accounts only (a row per member, none for staff or the erased).
CREATE VIEW member_facts_source AS
SELECT a.id AS member_id, p.birth_year, p.sex_at_birth, p.country::text AS country, p.postal_prefix,
       coalesce((SELECT array_agg(DISTINCT c.condition_id ORDER BY c.condition_id)
                 FROM member_condition c
                 WHERE c.member_id = a.id AND c.condition_id IS NOT NULL), '{}') AS conditions,
       r.cats_noncom_nonprofit | (r.cats_noncom_forprofit << 5) | (r.cats_com_nonprofit << 10)
           | (r.cats_com_forprofit << 15) AS r_masks,
       r.from_max AS r_from, r.until_min AS r_until, r.conditions AS r_conds,
       t.cats_noncom_nonprofit | (t.cats_noncom_forprofit << 5) | (t.cats_com_nonprofit << 10)
           | (t.cats_com_forprofit << 15) AS t_masks,
       t.from_max AS t_from, t.until_min AS t_until, t.conditions AS t_conds
FROM account a
LEFT JOIN member_profile p ON p.member_id = a.id
LEFT JOIN consent_member r ON r.member_id = a.id AND r.purpose = 'research'
LEFT JOIN consent_member t ON t.member_id = a.id AND t.purpose = 'trial_recruitment'
WHERE a.role = 'member' AND a.deleted_at IS NULL;

-- Recomputes the rows of the given members. Concurrent writers of one member are serialised, and
-- each recomputation is a statement that starts after the lock is granted, so its READ COMMITTED
-- snapshot sees the other writer's committed change (as consent_member_sync, 0014). A few members:
-- a lock per member; more (bulk loads, rebuilds): the table, self-exclusive, which also waits for
-- every writer of a few members that holds its ROW EXCLUSIVE lock. Custom plans: a plan cached
-- while the tables were small (a new database, the first chunk of a bulk load) scans them whole,
-- and the load became quadratic (member_profile at 707 rows/s by the 10,000th member).
CREATE FUNCTION member_facts_refresh(members uuid[]) RETURNS void
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
        t_conds = EXCLUDED.t_conds
    -- Most changes (a note, a display name) leave the facts as they were: no new version then.
    WHERE (f.birth_year, f.sex_at_birth, f.country, f.postal_prefix, f.conditions, f.r_masks,
           f.r_from, f.r_until, f.r_conds, f.t_masks, f.t_from, f.t_until, f.t_conds)
          IS DISTINCT FROM
          (EXCLUDED.birth_year, EXCLUDED.sex_at_birth, EXCLUDED.country, EXCLUDED.postal_prefix,
           EXCLUDED.conditions, EXCLUDED.r_masks, EXCLUDED.r_from, EXCLUDED.r_until,
           EXCLUDED.r_conds, EXCLUDED.t_masks, EXCLUDED.t_from, EXCLUDED.t_until,
           EXCLUDED.t_conds);
END
$$;
REVOKE EXECUTE ON FUNCTION member_facts_refresh(uuid[]) FROM PUBLIC;

-- Recomputes the whole table (this migration; repair). The table lock keeps the triggers of
-- other writers out until commit. Owner only.
CREATE FUNCTION member_facts_rebuild() RETURNS bigint
LANGUAGE sql
AS $$
    LOCK TABLE member_facts IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM member_facts;
    WITH added AS (
        INSERT INTO member_facts
        SELECT * FROM member_facts_source ORDER BY member_id
        RETURNING 1
    )
    SELECT count(*) FROM added;
$$;
REVOKE EXECUTE ON FUNCTION member_facts_rebuild() FROM PUBLIC;

-- The triggers: the members a statement touched. Transition tables cannot go with column lists, so
-- every update counts; the refresh writes nothing when the facts are unchanged.
CREATE FUNCTION member_facts_sync() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    members uuid[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        SELECT array_agg(id) INTO members FROM account WHERE role = 'member';
    ELSIF TG_TABLE_NAME = 'account' THEN
        SELECT array_agg(id) INTO members FROM new_rows;  -- an id never changes
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT member_id) INTO members FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT member_id) INTO members FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT member_id) INTO members
        FROM (SELECT member_id FROM new_rows UNION ALL SELECT member_id FROM old_rows) k;
    END IF;
    PERFORM member_facts_refresh(members);
    RETURN NULL;
END
$$;

-- Account: a new member, a role change, a soft delete (erasure removes the row by cascade).
CREATE TRIGGER member_facts_account_insert AFTER INSERT ON account
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_account_update AFTER UPDATE ON account
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();

CREATE TRIGGER member_facts_profile_insert AFTER INSERT ON member_profile
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_profile_update AFTER UPDATE ON member_profile
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_profile_delete AFTER DELETE ON member_profile
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_profile_truncate AFTER TRUNCATE ON member_profile
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();

CREATE TRIGGER member_facts_condition_insert AFTER INSERT ON member_condition
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_condition_update AFTER UPDATE ON member_condition
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_condition_delete AFTER DELETE ON member_condition
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_condition_truncate AFTER TRUNCATE ON member_condition
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();

-- The consent summary is itself kept by triggers on consent_grant; these run inside those.
CREATE TRIGGER member_facts_consent_insert AFTER INSERT ON consent_member
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_consent_update AFTER UPDATE ON consent_member
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_consent_delete AFTER DELETE ON consent_member
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();
CREATE TRIGGER member_facts_consent_truncate AFTER TRUNCATE ON consent_member
    FOR EACH STATEMENT EXECUTE FUNCTION member_facts_sync();

SELECT member_facts_rebuild();

-- "Has condition C" as a bitmap of C's members (a condition holds 5-25% of them). Without a
-- pending list: rows change seldom and every population reads it.
CREATE INDEX member_facts_conditions_idx ON member_facts USING gin (conditions)
    WITH (fastupdate = off);
ANALYZE member_facts;

-- Rule 5 for one member from its facts row, as consent_permitted_members decides it (0014): on the
-- fast path (every active grant in force at p_at, none of its conditions in the focus) the packed
-- mask for the use's commercial and for-profit flags; otherwise from the grants (consent_permits);
-- no active grant of the purpose (NULL masks): no permit. LANGUAGE sql, one expression: inlined.
CREATE FUNCTION consent_facts_permit(p_member uuid, p_masks int, p_from timestamptz,
                                     p_until timestamptz, p_conds text[], p_purpose text,
                                     p_categories int, p_commercial boolean, p_for_profit boolean,
                                     p_focus text[], p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_masks IS NULL OR NOT consent_use_valid(p_purpose, p_categories, p_commercial,
                                                      p_for_profit, p_focus, p_at) THEN false
        WHEN p_from <= p_at AND (p_until IS NULL OR p_at < p_until)
             AND NOT (coalesce(p_focus, '{}') && p_conds)
            THEN (p_masks >> (CASE WHEN p_commercial THEN 10 ELSE 0 END
                              + CASE WHEN p_for_profit THEN 5 ELSE 0 END)) & p_categories
                 = p_categories
        ELSE coalesce(consent_permits(p_member, p_purpose, p_categories, p_commercial, p_for_profit,
                                      p_focus, p_at), false)
    END
$$;

GRANT SELECT ON member_facts TO cc_app;
GRANT EXECUTE ON FUNCTION consent_facts_permit(uuid, int, timestamptz, timestamptz, text[], text,
                                               int, boolean, boolean, text[], timestamptz) TO cc_app;
