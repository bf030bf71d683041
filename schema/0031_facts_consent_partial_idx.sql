-- A population by condition reads member_condition_facts by its key range, then decides consent
-- from each row. A row without a summary of the purpose (r_masks / t_masks NULL: no active grant)
-- is never permitted, and population SQL now says so outright (stats_cohort_consent_sql), so these
-- indexes let it skip those rows: a third of the depression rows at 1M for research
-- (docs/benchmarks.md, thirteenth round). Runs inside the server's migration transaction.

CREATE INDEX member_condition_facts_research_idx ON member_condition_facts (condition_id, member_id)
    WHERE r_masks IS NOT NULL;
CREATE INDEX member_condition_facts_trial_idx ON member_condition_facts (condition_id, member_id)
    WHERE t_masks IS NOT NULL;
