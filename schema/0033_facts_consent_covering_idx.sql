-- A population by condition reads member_condition_facts through 0031's partial indexes and then
-- fetched every row from the heap for its consent summary and demographics: at 1M, 162,291 rows
-- over 3,607 heap pages for depression, and the consent expression over them cost about as much
-- as the scan. With the summary and the demographics that cohort criteria and breakdowns read in
-- the index, the common population (a condition, age, sex or country, consent) is one index-only
-- range: 100 -> 50 ms for depression's 88,784 members (docs/benchmarks.md, fourteenth round).
-- Criteria on other conditions or on drugs still read the heap. Same keys and predicates as 0031,
-- so the rows chosen are the same. Runs inside the server's migration transaction.

DROP INDEX member_condition_facts_research_idx;
DROP INDEX member_condition_facts_trial_idx;
CREATE INDEX member_condition_facts_research_idx ON member_condition_facts (condition_id, member_id)
    INCLUDE (r_masks, r_from, r_until, r_conds, birth_year, sex_at_birth, country)
    WHERE r_masks IS NOT NULL;
CREATE INDEX member_condition_facts_trial_idx ON member_condition_facts (condition_id, member_id)
    INCLUDE (t_masks, t_from, t_until, t_conds, birth_year, sex_at_birth, country)
    WHERE t_masks IS NOT NULL;
