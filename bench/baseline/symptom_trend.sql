-- Plain-SQL baseline for "symptom_trend": depressed mood of consenting members with depression over
-- the last 52 ISO weeks: week k = the ISO week (Monday to Sunday, UTC) k weeks before the current
-- one, k = 0..51; the current week is counted whole (any entries dated later this week too, as the
-- API's week rollup does). Per week, the number of members, and the mean and standard deviation of
-- their weekly mean severities.
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
), weekly AS (
    SELECT e.member_id,
           (date_trunc('week', now() AT TIME ZONE 'UTC')::date
            - date_trunc('week', e.recorded_at AT TIME ZONE 'UTC')::date) / 7 AS week,
           avg(e.severity) AS mean
    FROM symptom_entry e
    JOIN cohort c ON c.member_id = e.member_id
    WHERE e.symptom_id = 'depressed_mood'
      -- week BETWEEN 0 AND 51, written as bounds at UTC midnight (the same rows: Monday 51 weeks
      -- before this week's Monday, up to next Monday) so the (member_id, recorded_at) index can
      -- serve it.
      AND e.recorded_at >= (date_trunc('week', now() AT TIME ZONE 'UTC')::date - 7 * 51)::timestamp
                           AT TIME ZONE 'UTC'
      AND e.recorded_at < (date_trunc('week', now() AT TIME ZONE 'UTC')::date + 7)::timestamp
                          AT TIME ZONE 'UTC'
    GROUP BY 1, 2
)
SELECT week, count(*) AS members, avg(mean) AS mean, stddev_samp(mean) AS sd
FROM weekly
GROUP BY week
ORDER BY week;
