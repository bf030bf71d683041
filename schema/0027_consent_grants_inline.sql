-- A population decides consent from each member's facts row (0022): the summary on its fast path,
-- the member's grants otherwise (consent_permits). consent_permits is a SQL function with an
-- aggregate, which PostgreSQL cannot inline, so every member off the fast path paid a function
-- call: 60-70 us each at 1M, 150-190 ms for the 2,536 members of the benchmark trial whose
-- recruitment grants name its focus (multiple sclerosis). Rule 5 as a set-returning SQL function
-- is inlined when it is read in FROM, so a population can ask for it as a scalar subquery: one
-- index probe into consent_grant, 40-70 ms for the same members (docs/benchmarks.md, ninth
-- round). The rule keeps one definition (consent_permits_rows); consent_permits and
-- consent_facts_permit keep their signatures and answers. Runs inside the server's migration
-- transaction.

-- Rule 5 for one member (0004's consent_permits), as exactly one row.
CREATE FUNCTION consent_permits_rows(p_member uuid, p_purpose text, p_categories int,
                                     p_commercial boolean, p_for_profit boolean, p_focus text[],
                                     p_at timestamptz)
RETURNS SETOF boolean
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $$
    SELECT consent_use_valid(p_purpose, p_categories, p_commercial, p_for_profit, p_focus, p_at)
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'permit'
                 AND consent_permit_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                           p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = p_categories
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'deny'
                 AND consent_deny_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                         p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = 0
    FROM consent_grant g
    WHERE g.member_id = p_member
      AND g.purpose = p_purpose
      AND g.status = 'active'
      AND consent_in_force(g.status, g.valid_from, g.valid_until, p_at)
      AND g.categories & p_categories <> 0
$$;

CREATE OR REPLACE FUNCTION consent_permits(p_member uuid, p_purpose text, p_categories int,
                                           p_commercial boolean, p_for_profit boolean,
                                           p_focus text[], p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT r FROM consent_permits_rows(p_member, p_purpose, p_categories, p_commercial,
                                       p_for_profit, p_focus, p_at) AS r
$$;

-- What the facts row alone decides (0022's consent_facts_permit without its last branch): false
-- without an active grant of the purpose or for an invalid use, the packed mask on the fast path,
-- NULL when the member's grants must decide. One expression: inlined.
CREATE FUNCTION consent_facts_fast(p_masks int, p_from timestamptz, p_until timestamptz,
                                   p_conds text[], p_purpose text, p_categories int,
                                   p_commercial boolean, p_for_profit boolean, p_focus text[],
                                   p_at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_masks IS NULL OR NOT consent_use_valid(p_purpose, p_categories, p_commercial,
                                                      p_for_profit, p_focus, p_at) THEN false
        WHEN p_from <= p_at AND (p_until IS NULL OR p_at < p_until)
             AND NOT (coalesce(p_focus, '{}') && p_conds)
            THEN (p_masks >> (CASE WHEN p_commercial THEN 10 ELSE 0 END
                              + CASE WHEN p_for_profit THEN 5 ELSE 0 END)) & p_categories
                 = p_categories
    END
$$;

-- Same answers as before, now from the two parts. Populations write the parts out themselves
-- (stats_consent_facts_sql) so that the grants are read by an inlined subquery.
CREATE OR REPLACE FUNCTION consent_facts_permit(p_member uuid, p_masks int, p_from timestamptz,
                                                p_until timestamptz, p_conds text[],
                                                p_purpose text, p_categories int,
                                                p_commercial boolean, p_for_profit boolean,
                                                p_focus text[], p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(consent_facts_fast(p_masks, p_from, p_until, p_conds, p_purpose, p_categories,
                                       p_commercial, p_for_profit, p_focus, p_at),
                    consent_permits(p_member, p_purpose, p_categories, p_commercial, p_for_profit,
                                    p_focus, p_at),
                    false)
$$;

GRANT EXECUTE ON FUNCTION
    consent_permits_rows(uuid, text, int, boolean, boolean, text[], timestamptz),
    consent_facts_fast(int, timestamptz, timestamptz, text[], text, int, boolean, boolean, text[],
                       timestamptz) TO cc_app;
