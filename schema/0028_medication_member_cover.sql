-- The side-effect signal's comparison group is the population members with a record of any other
-- drug (catalog or custom) started by today. At 1M the planner hashed the whole medication table
-- for it (1.05M rows, 285 ms: a type 2 diabetes population of 59,063), because a probe per member
-- through the primary key had to fetch each record from the heap for its drug and start date.
-- With both columns in a member-keyed index the probes are index-only and parallel workers share
-- them: the measure statement 395-445 ms -> 185-234 ms in psql, alternating (docs/benchmarks.md,
-- tenth round). Medications are written seldom. Runs inside the server's migration transaction.

CREATE INDEX medication_member_drug_idx ON medication (member_id) INCLUDE (medication_id, started_on);
