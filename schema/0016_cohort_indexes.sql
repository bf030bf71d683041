-- Covering indexes for populations (stats/measure.c, service/trials.c). "Has condition C" and
-- "took medication M" are semi-joins on (catalog id, member): with the member and every column the
-- criteria test in the index, they are index-only scans instead of one heap page per member (at 1M
-- members the multiple sclerosis members alone were a 380 ms bitmap heap scan, repeated in each
-- parallel worker; docs/benchmarks.md). They replace the (catalog id, date) indexes, which served
-- the same lookups. Each candidate member is then checked in account (a live member) and read from
-- member_profile (the demographics): index-only probes of narrow indexes instead of heap fetches
-- from wide rows (account holds e-mail and password hash). At 1M, population 770-900 ms -> 550-620.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE INDEX member_condition_catalog_member_idx ON member_condition (condition_id, member_id)
    INCLUDE (status, diagnosed_date) WHERE condition_id IS NOT NULL;
DROP INDEX member_condition_catalog_idx;

CREATE INDEX medication_catalog_member_idx ON medication (medication_id, member_id)
    INCLUDE (started_on, stopped_on, stop_reason) WHERE medication_id IS NOT NULL;
DROP INDEX medication_catalog_start_idx;

CREATE INDEX account_live_member_idx ON account (id) WHERE deleted_at IS NULL AND role = 'member';
CREATE INDEX member_profile_demographics_idx ON member_profile (member_id)
    INCLUDE (birth_year, sex_at_birth, country);
