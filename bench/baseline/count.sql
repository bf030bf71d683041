-- Plain-SQL baseline for the "count" query of bench/query.sh: members with multiple sclerosis aged
-- 30 to 70 (age = this year - birth year) who consented to general research covering every data
-- category (a non-commercial, not-for-profit study, no condition focus). The consent rule is
-- schema/0004_consent.sql's, written out for these study terms: the in-force active permits without
-- a condition restriction cover all five categories, and no such deny that applies to this use
-- covers any.
WITH consented AS (
    SELECT g.member_id
    FROM consent_grant g
    WHERE g.purpose = 'research' AND g.status = 'active'
      AND g.valid_from <= now() AND (g.valid_until IS NULL OR now() < g.valid_until)
    GROUP BY g.member_id
    HAVING coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'permit' AND g.conditions = '{}'), 0) = 31
       AND coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'deny' AND g.conditions = '{}'
                                                 AND NOT g.non_commercial AND NOT g.not_for_profit_only), 0) = 0
)
SELECT count(*) AS members
FROM account a
JOIN consented c ON c.member_id = a.id
JOIN member_profile p ON p.member_id = a.id
WHERE a.role = 'member' AND a.deleted_at IS NULL
  AND extract(year FROM now() AT TIME ZONE 'UTC')::int - p.birth_year BETWEEN 30 AND 70
  AND EXISTS (SELECT 1 FROM member_condition mc
              WHERE mc.member_id = a.id AND mc.condition_id = 'multiple_sclerosis');
