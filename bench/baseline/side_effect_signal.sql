-- Plain-SQL baseline for "side_effect_signal": among consenting members with type 2 diabetes, the
-- 2x2 table of (took semaglutide / took only other medications) x (reported nausea as a side effect
-- of that drug / of another drug, or not).
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
    SELECT a.id AS member_id
    FROM account a
    JOIN consented c ON c.member_id = a.id
    WHERE a.role = 'member' AND a.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM member_condition mc
                  WHERE mc.member_id = a.id AND mc.condition_id = 'type_2_diabetes')
), took AS (
    SELECT DISTINCT m.member_id FROM medication m JOIN cohort c ON c.member_id = m.member_id
    WHERE m.medication_id = 'semaglutide' AND m.started_on <= (now() AT TIME ZONE 'UTC')::date
), other AS (
    SELECT DISTINCT m.member_id FROM medication m JOIN cohort c ON c.member_id = m.member_id
    WHERE m.medication_id IS DISTINCT FROM 'semaglutide'
      AND m.started_on <= (now() AT TIME ZONE 'UTC')::date
      AND NOT EXISTS (SELECT 1 FROM took t WHERE t.member_id = m.member_id)
), reported AS (
    SELECT DISTINCT s.member_id, m.medication_id IS NOT DISTINCT FROM 'semaglutide' AS this_drug
    FROM evaluation_side_effect s
    JOIN medication_evaluation v ON v.member_id = s.member_id AND v.id = s.evaluation_ref
    JOIN medication m ON m.member_id = v.member_id AND m.id = v.medication_ref
    JOIN cohort c ON c.member_id = s.member_id
    WHERE s.symptom_id = 'nausea' AND s.severity IS DISTINCT FROM 'none'
      AND m.started_on <= (now() AT TIME ZONE 'UTC')::date
)
SELECT
  (SELECT count(*) FROM took t WHERE EXISTS (SELECT 1 FROM reported r WHERE r.member_id = t.member_id AND r.this_drug)) AS a,
  (SELECT count(*) FROM took t WHERE NOT EXISTS (SELECT 1 FROM reported r WHERE r.member_id = t.member_id AND r.this_drug)) AS b,
  (SELECT count(*) FROM other o WHERE EXISTS (SELECT 1 FROM reported r WHERE r.member_id = o.member_id AND NOT r.this_drug)) AS c,
  (SELECT count(*) FROM other o WHERE NOT EXISTS (SELECT 1 FROM reported r WHERE r.member_id = o.member_id AND NOT r.this_drug)) AS d;
