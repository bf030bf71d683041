-- Plain-SQL baseline for "symptom_distribution": each consenting member with multiple sclerosis
-- contributes the mean severity of their fatigue entries of the last 90 UTC days (entries whose UTC
-- date is today - 89 .. today, today being the current UTC date, all of it: entries later today
-- count too); the answer is the number of members, the mean and standard deviation of those means
-- and a histogram of them rounded to whole severities.
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
                  WHERE mc.member_id = a.id AND mc.condition_id = 'multiple_sclerosis')
), per_member AS (
    SELECT e.member_id, avg(e.severity) AS mean
    FROM symptom_entry e
    JOIN cohort c ON c.member_id = e.member_id
    WHERE e.symptom_id = 'fatigue'
      -- (e.recorded_at AT TIME ZONE 'UTC')::date BETWEEN today - 89 AND today, written as bounds
      -- at UTC midnight (the same rows) so the (member_id, recorded_at) index can serve it.
      AND e.recorded_at >= ((now() AT TIME ZONE 'UTC')::date - 89)::timestamp AT TIME ZONE 'UTC'
      AND e.recorded_at < ((now() AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY e.member_id
)
SELECT h.severity, h.members, s.n, s.mean, s.sd
FROM (SELECT round(mean)::int AS severity, count(*) AS members FROM per_member GROUP BY 1) h
CROSS JOIN (SELECT count(*) AS n, avg(mean) AS mean, stddev_samp(mean) AS sd FROM per_member) s
ORDER BY h.severity;
