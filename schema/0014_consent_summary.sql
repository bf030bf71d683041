-- 0014_consent_summary: one row per member and purpose with at least one active grant, summarising
-- those grants, so that consent_permitted_members decides most members from one narrow row instead
-- of aggregating every grant per query, and the planner sees real row counts.
--
-- When every active grant of the row is in force at the use's time (from_max <= at < until_min) and
-- no grant's condition list shares a condition with the use's focus (always so without a focus),
-- rule 5 reduces to the grants without conditions: a permit with conditions covers only a focus
-- inside its list, a deny with conditions only a focus that meets it (rules 3a, 4a). Their coverage
-- depends only on the use's commercial and for-profit flags: the four cats_* masks hold, per
-- combination of those flags, the categories some such permit covers and no such deny covers
-- (derived with consent_permit_covers / consent_deny_covers themselves). Every other member of the
-- purpose is decided from the grants as before. tests/e2e/test_consent_sql.c compares both paths
-- with consent_evaluate, and the table with a recomputation from scratch, after random changes.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE TABLE consent_member (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    purpose text NOT NULL CHECK (purpose IN ('research', 'trial_recruitment', 'community', 'share')),
    -- Categories permitted to a use by the grants without conditions, per (commercial, for_profit).
    cats_noncom_nonprofit int NOT NULL CHECK (cats_noncom_nonprofit BETWEEN 0 AND 31),
    cats_noncom_forprofit int NOT NULL CHECK (cats_noncom_forprofit BETWEEN 0 AND 31),
    cats_com_nonprofit int NOT NULL CHECK (cats_com_nonprofit BETWEEN 0 AND 31),
    cats_com_forprofit int NOT NULL CHECK (cats_com_forprofit BETWEEN 0 AND 31),
    conditions text[] NOT NULL,    -- every condition of the active grants, distinct, sorted
    from_max timestamptz NOT NULL, -- the latest valid_from
    until_min timestamptz,         -- the earliest valid_until (NULL: none is timed)
    PRIMARY KEY (member_id, purpose)
);

-- The definition, from the active grants. A grant appears once per condition (at least once):
-- every aggregate here gives the same result for repeated rows.
CREATE VIEW consent_member_source AS
SELECT g.member_id, g.purpose,
       coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'permit' AND consent_permit_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, false, false, '{}')), 0)
       & ~coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'deny' AND consent_deny_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, false, false, '{}')), 0)
           AS cats_noncom_nonprofit,
       coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'permit' AND consent_permit_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, false, true, '{}')), 0)
       & ~coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'deny' AND consent_deny_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, false, true, '{}')), 0)
           AS cats_noncom_forprofit,
       coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'permit' AND consent_permit_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, true, false, '{}')), 0)
       & ~coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'deny' AND consent_deny_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, true, false, '{}')), 0)
           AS cats_com_nonprofit,
       coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'permit' AND consent_permit_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, true, true, '{}')), 0)
       & ~coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'deny' AND consent_deny_covers(
                g.conditions, g.non_commercial, g.not_for_profit_only, true, true, '{}')), 0)
           AS cats_com_forprofit,
       coalesce(array_agg(DISTINCT c.id ORDER BY c.id) FILTER (WHERE c.id IS NOT NULL), '{}')
           AS conditions,
       max(g.valid_from) AS from_max,
       min(g.valid_until) AS until_min
FROM consent_grant g
LEFT JOIN LATERAL unnest(g.conditions) AS c(id) ON true
WHERE g.status = 'active'
GROUP BY g.member_id, g.purpose;

-- Recomputes the rows of every member whose active grants a statement changed. The member's consent
-- lock (consent_grant_limit's, which the service takes first) is held to commit, so a concurrent
-- change of the same member waits here until this transaction has committed; the DELETE and INSERT
-- below are new statements, whose fresh READ COMMITTED snapshots then see that change. Under
-- REPEATABLE READ the snapshot would be the transaction's, so such changes are refused.
-- SECURITY DEFINER: the service may read the summary, never write it. Generic plans (a nested loop
-- over the members, index probes) serve one member and thousands alike; re-planning the custom ones
-- tripled the cost of a one-grant change (0.85 ms against 0.25 ms).
CREATE FUNCTION consent_member_sync() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    members uuid[];
    h int;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM consent_member;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT member_id) INTO members FROM new_rows WHERE status = 'active';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT member_id) INTO members FROM old_rows WHERE status = 'active';
    ELSE
        -- Only a row that was or is active changes a member's active set.
        SELECT array_agg(DISTINCT member_id) INTO members
        FROM (SELECT member_id FROM new_rows WHERE status = 'active'
              UNION ALL SELECT member_id FROM old_rows WHERE status = 'active') k;
    END IF;
    IF members IS NULL THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'active consent grants are changed in READ COMMITTED transactions only'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- In key order, so that two statements over several members do not deadlock here.
    FOR h IN SELECT DISTINCT hashtext(m::text) FROM unnest(members) m ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(4004, h);
    END LOOP;
    DELETE FROM consent_member c
    USING unnest(members) AS k(member_id)
    WHERE c.member_id = k.member_id
      AND NOT EXISTS (SELECT 1 FROM consent_grant g
                      WHERE g.member_id = c.member_id AND g.purpose = c.purpose AND g.status = 'active');
    INSERT INTO consent_member AS c (member_id, purpose, cats_noncom_nonprofit, cats_noncom_forprofit,
                                     cats_com_nonprofit, cats_com_forprofit, conditions, from_max,
                                     until_min)
    SELECT s.member_id, s.purpose, s.cats_noncom_nonprofit, s.cats_noncom_forprofit,
           s.cats_com_nonprofit, s.cats_com_forprofit, s.conditions, s.from_max, s.until_min
    FROM unnest(members) AS k(member_id)
    -- OFFSET 0 keeps the member qual inside, below the view's GROUP BY: one index probe per member.
    CROSS JOIN LATERAL (SELECT * FROM consent_member_source v
                        WHERE v.member_id = k.member_id OFFSET 0) s
    ORDER BY s.member_id, s.purpose
    ON CONFLICT (member_id, purpose) DO UPDATE SET
        cats_noncom_nonprofit = EXCLUDED.cats_noncom_nonprofit,
        cats_noncom_forprofit = EXCLUDED.cats_noncom_forprofit,
        cats_com_nonprofit = EXCLUDED.cats_com_nonprofit,
        cats_com_forprofit = EXCLUDED.cats_com_forprofit,
        conditions = EXCLUDED.conditions,
        from_max = EXCLUDED.from_max,
        until_min = EXCLUDED.until_min
    -- Rows of the member's other purposes are usually unchanged: no new version for them.
    WHERE (c.cats_noncom_nonprofit, c.cats_noncom_forprofit, c.cats_com_nonprofit, c.cats_com_forprofit,
           c.conditions, c.from_max, c.until_min)
          IS DISTINCT FROM (EXCLUDED.cats_noncom_nonprofit, EXCLUDED.cats_noncom_forprofit,
                            EXCLUDED.cats_com_nonprofit, EXCLUDED.cats_com_forprofit,
                            EXCLUDED.conditions, EXCLUDED.from_max, EXCLUDED.until_min);
    RETURN NULL;
END
$$;

-- Erasure deletes grants by cascade; those statements fire the delete trigger too.
CREATE TRIGGER consent_member_insert AFTER INSERT ON consent_grant
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION consent_member_sync();
CREATE TRIGGER consent_member_update AFTER UPDATE ON consent_grant
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION consent_member_sync();
CREATE TRIGGER consent_member_delete AFTER DELETE ON consent_grant
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION consent_member_sync();
CREATE TRIGGER consent_member_truncate AFTER TRUNCATE ON consent_grant
    FOR EACH STATEMENT EXECUTE FUNCTION consent_member_sync();

-- Recomputes the whole table (this migration; repair after a load with the triggers disabled).
-- The SHARE lock keeps grant writers out until commit. Owner only.
CREATE FUNCTION consent_member_rebuild() RETURNS void
LANGUAGE sql
AS $$
    LOCK TABLE consent_grant IN SHARE MODE;
    DELETE FROM consent_member;
    INSERT INTO consent_member (member_id, purpose, cats_noncom_nonprofit, cats_noncom_forprofit,
                                cats_com_nonprofit, cats_com_forprofit, conditions, from_max, until_min)
    SELECT member_id, purpose, cats_noncom_nonprofit, cats_noncom_forprofit, cats_com_nonprofit,
           cats_com_forprofit, conditions, from_max, until_min
    FROM consent_member_source;
$$;
REVOKE EXECUTE ON FUNCTION consent_member_rebuild() FROM PUBLIC;

SELECT consent_member_rebuild();

-- The members consent_permitted_members must decide from their grants: a grant not yet in force,
-- one that has ended, or conditions that meet the use's focus (a BitmapOr of these, usually few
-- rows). Built after the fill; the GIN index without a pending list, as rows change seldom and
-- every query reads it.
CREATE INDEX consent_member_from_idx ON consent_member (purpose, from_max);
CREATE INDEX consent_member_until_idx ON consent_member (purpose, until_min) WHERE until_min IS NOT NULL;
CREATE INDEX consent_member_conditions_idx ON consent_member USING gin (conditions)
    WITH (fastupdate = off);
ANALYZE consent_member;

-- Every category set containing p (within the five categories): "mask & p = p" as "mask = ANY (...)",
-- which the planner estimates from the column's statistics once the arguments are known.
CREATE FUNCTION consent_category_supersets(p int) RETURNS int[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM generate_series(0, 31) x WHERE x & p = p
$$;

-- Rule 5 for every member at once. A member on the fast path (every active grant of the purpose in
-- force at p_at, and no condition of theirs in the focus) is decided by the mask for the use's
-- commercial and for-profit flags; the others with a row are decided from their grants exactly as
-- before (0004). Members without a row have no active grant of the purpose, hence no permit. One
-- statement, LANGUAGE sql, STABLE: the planner inlines it and folds the constant arguments (one of
-- the four mask tests remains).
CREATE OR REPLACE FUNCTION consent_permitted_members(p_purpose text, p_categories int,
                                                     p_commercial boolean, p_for_profit boolean,
                                                     p_focus text[], p_at timestamptz)
RETURNS SETOF uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT s.member_id
    FROM consent_member s
    WHERE consent_use_valid(p_purpose, p_categories, p_commercial, p_for_profit, p_focus, p_at)
      AND s.purpose = p_purpose
      AND s.from_max <= p_at AND (s.until_min IS NULL OR p_at < s.until_min)
      -- (cardinality first: most rows have no conditions, and it is cheaper than &&)
      AND (cardinality(s.conditions) = 0 OR NOT (coalesce(p_focus, '{}') && s.conditions))
      AND ((NOT p_commercial AND NOT p_for_profit
            AND s.cats_noncom_nonprofit = ANY (consent_category_supersets(p_categories)))
           OR (NOT p_commercial AND p_for_profit
               AND s.cats_noncom_forprofit = ANY (consent_category_supersets(p_categories)))
           OR (p_commercial AND NOT p_for_profit
               AND s.cats_com_nonprofit = ANY (consent_category_supersets(p_categories)))
           OR (p_commercial AND p_for_profit
               AND s.cats_com_forprofit = ANY (consent_category_supersets(p_categories))))
    UNION ALL
    SELECT g.member_id
    FROM consent_member s
    JOIN consent_grant g ON g.member_id = s.member_id AND g.purpose = s.purpose
    WHERE consent_use_valid(p_purpose, p_categories, p_commercial, p_for_profit, p_focus, p_at)
      AND s.purpose = p_purpose
      AND NOT (s.from_max <= p_at AND (s.until_min IS NULL OR p_at < s.until_min)
               AND (cardinality(s.conditions) = 0 OR NOT (coalesce(p_focus, '{}') && s.conditions)))
      AND g.status = 'active'
      AND consent_in_force(g.status, g.valid_from, g.valid_until, p_at)
      AND g.categories & p_categories <> 0
    GROUP BY g.member_id
    HAVING coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'permit'
                 AND consent_permit_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                           p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = p_categories
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'deny'
                 AND consent_deny_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                         p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = 0
$$;

GRANT SELECT ON consent_member TO cc_app;
GRANT EXECUTE ON FUNCTION consent_category_supersets(int) TO cc_app;
