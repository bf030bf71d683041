-- The consent summary's fast path (consent_permitted_members, 0014) as index-only scans: per
-- commercial/for-profit mask, an index on (purpose, mask, member) that holds the columns the fast
-- path tests (validity window, conditions). The mask test ("mask = ANY (supersets)") is its second
-- key, so a research use reads the 37% of rows that pass instead of scanning every row of the
-- purpose: at 1M members 280-350 ms per parallel process before, about 100 after
-- (docs/benchmarks.md). Consent rows change seldom; four indexes cost little on write.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE INDEX consent_member_nn_idx ON consent_member (purpose, cats_noncom_nonprofit, member_id)
    INCLUDE (from_max, until_min, conditions);
CREATE INDEX consent_member_nf_idx ON consent_member (purpose, cats_noncom_forprofit, member_id)
    INCLUDE (from_max, until_min, conditions);
CREATE INDEX consent_member_cn_idx ON consent_member (purpose, cats_com_nonprofit, member_id)
    INCLUDE (from_max, until_min, conditions);
CREATE INDEX consent_member_cf_idx ON consent_member (purpose, cats_com_forprofit, member_id)
    INCLUDE (from_max, until_min, conditions);

-- Without statistics on the expression the planner takes "cardinality(conditions) = 0" to keep
-- 0.5% of the rows (it keeps over 90%) and joins the fast path's members by nested loops: 2.0 s
-- instead of 0.5 at 1M.
CREATE STATISTICS consent_member_conditions_card ON (cardinality(conditions)) FROM consent_member;
ANALYZE consent_member;
