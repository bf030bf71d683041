-- Plan settings found by the benchmarks (docs/benchmarks.md, Findings 5 and 6).
-- consent_grant_limit counts one member's grants: a generic plan cached while the table was small
-- scans the whole table for every insert on a long-lived connection, so always plan for the member.
ALTER FUNCTION consent_grant_limit() SET plan_cache_mode = force_custom_plan;
