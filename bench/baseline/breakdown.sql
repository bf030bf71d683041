-- Plain-SQL baseline for "breakdown": members with depression by ten-year age band, among those
-- who consented to general research (see count.sql for the consent rule).
WITH consented AS (
    SELECT g.member_id
    FROM consent_grant g
    WHERE g.purpose = 'research' AND g.status = 'active'
      AND g.valid_from <= now() AND (g.valid_until IS NULL OR now() < g.valid_until)
    GROUP BY g.member_id
    HAVING coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'permit' AND g.conditions = '{}'), 0) = 31
       AND coalesce(bit_or(g.categories) FILTER (WHERE g.effect = 'deny' AND g.conditions = '{}'
                                                 AND NOT g.non_commercial AND NOT g.not_for_profit_only), 0) = 0
), cohort AS (
    SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int - p.birth_year AS age
    FROM account a
    JOIN consented c ON c.member_id = a.id
    LEFT JOIN member_profile p ON p.member_id = a.id
    WHERE a.role = 'member' AND a.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM member_condition mc
                  WHERE mc.member_id = a.id AND mc.condition_id = 'depression')
)
SELECT CASE WHEN age IS NULL OR age < 0 THEN 'not_recorded' WHEN age >= 90 THEN '90+'
            ELSE (age / 10 * 10) || '-' || (age / 10 * 10 + 9) END AS age_band,
       count(*) AS members
FROM cohort
GROUP BY 1
ORDER BY 1;
