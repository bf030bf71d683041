-- Plain-SQL baseline for "medication_outcomes": consenting members with type 2 diabetes who have a
-- metformin record. From each member's latest evaluation: counts by effectiveness and adherence;
-- from their latest stop: counts by stop reason; and per catalog symptom, how many members name it
-- among their five most severe reported side effects.
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
), rec AS (
    SELECT m.* FROM medication m JOIN cohort c ON c.member_id = m.member_id
    WHERE m.medication_id = 'metformin'
), ev AS (
    SELECT v.* FROM medication_evaluation v
    JOIN rec ON rec.member_id = v.member_id AND rec.id = v.medication_ref
), latest AS (
    SELECT DISTINCT ON (member_id) member_id, effectiveness, adherence
    FROM ev ORDER BY member_id, evaluated_on DESC, created_at DESC, id DESC
), stops AS (
    SELECT DISTINCT ON (member_id) member_id, stop_reason
    FROM rec WHERE stopped_on IS NOT NULL AND stopped_on <= (now() AT TIME ZONE 'UTC')::date
    ORDER BY member_id, stopped_on DESC, created_at DESC, id DESC
), side AS (
    SELECT s.member_id, s.symptom_id,
           max(CASE s.severity WHEN 'severe' THEN 3 WHEN 'moderate' THEN 2 WHEN 'mild' THEN 1 ELSE 0 END) AS rank
    FROM evaluation_side_effect s
    JOIN ev ON ev.member_id = s.member_id AND ev.id = s.evaluation_ref
    WHERE s.symptom_id IS NOT NULL AND s.severity IS DISTINCT FROM 'none'
    GROUP BY s.member_id, s.symptom_id
), top5 AS (
    SELECT symptom_id FROM (
        SELECT symptom_id, row_number() OVER (PARTITION BY member_id ORDER BY rank DESC, symptom_id) AS n
        FROM side) x
    WHERE n <= 5
)
SELECT 'members' AS what, NULL AS value, count(*) AS members FROM latest
UNION ALL SELECT 'effectiveness', coalesce(effectiveness, 'not_rated'), count(*) FROM latest GROUP BY 2
UNION ALL SELECT 'adherence', coalesce(adherence, 'not_rated'), count(*) FROM latest GROUP BY 2
UNION ALL SELECT 'stop_reason', coalesce(stop_reason, 'not_given'), count(*) FROM stops GROUP BY 2
UNION ALL SELECT 'side_effect', cs.id, count(t.symptom_id)
          FROM catalog_symptom cs LEFT JOIN top5 t ON t.symptom_id = cs.id GROUP BY cs.id;
