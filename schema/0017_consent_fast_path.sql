-- The consent summary's fast path as index-only scans. Most members' rows have no conditions
-- (consent not limited to some of their conditions), so consent_permitted_members now tests them in
-- a branch of their own that a partial index per commercial/for-profit mask serves: the index holds
-- the mask, the member and the validity window, and the mask test is its second key. At 1M members
-- the research summary scan fell from 280-350 ms per parallel worker (a sequential scan of every
-- row of the purpose) to about 50 (docs/benchmarks.md). The rows with conditions keep the test they
-- had; the rows decided from their grants are unchanged. Branches are disjoint and together equal
-- the 0014 fast path: (cardinality = 0) or (cardinality <> 0 and no condition in the focus).
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE INDEX consent_member_fast_nn_idx ON consent_member (purpose, cats_noncom_nonprofit, member_id)
    INCLUDE (from_max, until_min) WHERE cardinality(conditions) = 0;
CREATE INDEX consent_member_fast_nf_idx ON consent_member (purpose, cats_noncom_forprofit, member_id)
    INCLUDE (from_max, until_min) WHERE cardinality(conditions) = 0;
CREATE INDEX consent_member_fast_cn_idx ON consent_member (purpose, cats_com_nonprofit, member_id)
    INCLUDE (from_max, until_min) WHERE cardinality(conditions) = 0;
CREATE INDEX consent_member_fast_cf_idx ON consent_member (purpose, cats_com_forprofit, member_id)
    INCLUDE (from_max, until_min) WHERE cardinality(conditions) = 0;

-- Without statistics on the expression the planner takes "cardinality(conditions) = 0" to keep
-- 0.5% of the rows (it keeps 95-100%) and joins the result by nested loops: 2.0 s instead of 0.5.
CREATE STATISTICS consent_member_conditions_card ON (cardinality(conditions)) FROM consent_member;
ANALYZE consent_member;

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
      AND cardinality(s.conditions) = 0
      AND ((NOT p_commercial AND NOT p_for_profit
            AND s.cats_noncom_nonprofit = ANY (consent_category_supersets(p_categories)))
           OR (NOT p_commercial AND p_for_profit
               AND s.cats_noncom_forprofit = ANY (consent_category_supersets(p_categories)))
           OR (p_commercial AND NOT p_for_profit
               AND s.cats_com_nonprofit = ANY (consent_category_supersets(p_categories)))
           OR (p_commercial AND p_for_profit
               AND s.cats_com_forprofit = ANY (consent_category_supersets(p_categories))))
    UNION ALL
    SELECT s.member_id
    FROM consent_member s
    WHERE consent_use_valid(p_purpose, p_categories, p_commercial, p_for_profit, p_focus, p_at)
      AND s.purpose = p_purpose
      AND s.from_max <= p_at AND (s.until_min IS NULL OR p_at < s.until_min)
      AND cardinality(s.conditions) <> 0 AND NOT (coalesce(p_focus, '{}') && s.conditions)
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
