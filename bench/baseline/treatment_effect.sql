-- Plain-SQL baseline for "treatment_effect": for consenting members with depression who started
-- sertraline (their first start date d0, on or before today (UTC), with d0 + 28 days <= now), the
-- change in mean depressed-mood severity from the 28 whole UTC days before the start (d0 - 28 ..
-- d0 - 1) to the 28 from it (d0 .. d0 + 27); members need entries on both sides. Answer: members,
-- mean and standard deviation of the change, and how many improved (change < 0) or worsened
-- (change > 0). t0 is d0's UTC midnight, so the timestamp bounds below are exactly those whole
-- days; the intervals are in hours, as the API's, because a day interval would follow the
-- session's DST changes.
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
                  WHERE mc.member_id = a.id AND mc.condition_id = 'depression')
), started AS (
    SELECT m.member_id, min(m.started_on)::timestamp AT TIME ZONE 'UTC' AS t0
    FROM medication m
    JOIN cohort c ON c.member_id = m.member_id
    WHERE m.medication_id = 'sertraline' AND m.started_on <= (now() AT TIME ZONE 'UTC')::date
    GROUP BY m.member_id
), change AS (
    SELECT s.member_id,
           avg(e.severity) FILTER (WHERE e.recorded_at >= s.t0)
             - avg(e.severity) FILTER (WHERE e.recorded_at < s.t0) AS delta
    FROM started s
    JOIN symptom_entry e ON e.member_id = s.member_id AND e.symptom_id = 'depressed_mood'
     AND e.recorded_at >= s.t0 - interval '672 hours'
     AND e.recorded_at < s.t0 + interval '672 hours'
    WHERE s.t0 + interval '672 hours' <= now()
    GROUP BY s.member_id
    HAVING count(*) FILTER (WHERE e.recorded_at < s.t0) > 0
       AND count(*) FILTER (WHERE e.recorded_at >= s.t0) > 0
)
SELECT count(*) AS members, avg(delta) AS mean_change, stddev_samp(delta) AS sd,
       count(*) FILTER (WHERE delta < 0) AS improved, count(*) FILTER (WHERE delta > 0) AS worsened
FROM change;
