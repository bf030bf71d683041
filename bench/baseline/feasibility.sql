-- Plain-SQL baseline for the trial feasibility query of bench/query.sh. Eligible: members who
-- consented to trial recruitment for this trial's terms (categories demographics, conditions,
-- symptoms, medications; non-commercial, not-for-profit sponsor; condition focus multiple
-- sclerosis: a permit restricted to conditions must include it, a deny applies when unrestricted or
-- naming it), who have multiple sclerosis, fatigue of severity 5 or more in at least 3 of the last
-- 8 weeks, have ever started dimethyl fumarate, are 18 to 65, live in GB, US or DE, and have
-- neither type 2 diabetes nor natalizumab running today. Answer: count, by age band, by country.
-- The weeks are the cohort language's, not the research measures' calendar weeks: week k = whole
-- 168-hour spans between the entry and now, k = 0..7 (hours, as the API: a week interval would
-- follow the session's DST changes).
WITH consented AS (
    SELECT g.member_id
    FROM consent_grant g
    WHERE g.purpose = 'trial_recruitment' AND g.status = 'active'
      AND g.valid_from <= now() AND (g.valid_until IS NULL OR now() < g.valid_until)
      AND g.categories & 15 <> 0
    GROUP BY g.member_id
    HAVING coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'permit'
                 AND (g.conditions = '{}' OR 'multiple_sclerosis' = ANY (g.conditions))), 0) & 15 = 15
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'deny'
                 AND (g.conditions = '{}' OR 'multiple_sclerosis' = ANY (g.conditions))
                 AND NOT g.non_commercial AND NOT g.not_for_profit_only), 0) & 15 = 0
), candidates AS MATERIALIZED (
    -- The cheap criteria first; the weekly symptom count below only for those left.
    SELECT a.id AS member_id, p.country,
           extract(year FROM now() AT TIME ZONE 'UTC')::int - p.birth_year AS age
    FROM account a
    JOIN consented c ON c.member_id = a.id
    JOIN member_profile p ON p.member_id = a.id
    WHERE a.role = 'member' AND a.deleted_at IS NULL
      AND extract(year FROM now() AT TIME ZONE 'UTC')::int - p.birth_year BETWEEN 18 AND 65
      AND p.country IN ('GB', 'US', 'DE')
      AND EXISTS (SELECT 1 FROM member_condition mc
                  WHERE mc.member_id = a.id AND mc.condition_id = 'multiple_sclerosis')
      AND EXISTS (SELECT 1 FROM medication m
                  WHERE m.member_id = a.id AND m.medication_id = 'dimethyl_fumarate'
                    AND m.started_on <= (now() AT TIME ZONE 'UTC')::date)
      AND NOT EXISTS (SELECT 1 FROM member_condition mc
                      WHERE mc.member_id = a.id AND mc.condition_id = 'type_2_diabetes')
      AND NOT EXISTS (SELECT 1 FROM medication m
                      WHERE m.member_id = a.id AND m.medication_id = 'natalizumab'
                        AND m.started_on <= (now() AT TIME ZONE 'UTC')::date
                        AND (m.stopped_on IS NULL OR m.stopped_on > (now() AT TIME ZONE 'UTC')::date))
), eligible AS (
    SELECT c.* FROM candidates c
    WHERE (SELECT count(DISTINCT floor(extract(epoch FROM now() - e.recorded_at) / 604800))
           FROM symptom_entry e
           WHERE e.member_id = c.member_id AND e.symptom_id = 'fatigue' AND e.severity >= 5
             AND e.recorded_at > now() - interval '1344 hours' AND e.recorded_at <= now()) >= 3
)
SELECT 'count' AS what, NULL AS value, count(*) AS members FROM eligible
UNION ALL
SELECT 'age_band', CASE WHEN age < 0 THEN 'not_recorded' WHEN age >= 90 THEN '90+'
                        ELSE (age / 10 * 10) || '-' || (age / 10 * 10 + 9) END, count(*)
FROM eligible GROUP BY 2
UNION ALL
SELECT 'country', country, count(*) FROM eligible GROUP BY 2;
