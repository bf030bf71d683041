-- The set of members a study's last query recorded in data_use, as a fingerprint: the UTC day, the
-- title, the member count and two 64-bit XORs of the member ids' hashes (order-free, so no sort).
-- data_use keeps one row per member and study at day resolution (0008 and DATA_USE_STALE), so when
-- a study queries the same population again on the same day the upsert would change nothing; it
-- still probes one index entry per member (140-290 ms at 1M members). The service upserts this row
-- first and skips the data_use upsert when it is unchanged. One row per study or trial: the table
-- stays as small as those. Same transaction as the data_use upsert, READ COMMITTED: a concurrent
-- query with the same fingerprint waits on this row, then sees it committed and skips, or rolled
-- back and records. A hash collision could only skip a record of a member who is then in a
-- population of the same size and XORs; tests/e2e/test_research.c checks that a changed population
-- is recorded.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE TABLE data_use_mark (
    kind text NOT NULL CHECK (kind IN ('study', 'trial')),
    object_id uuid NOT NULL,
    day date NOT NULL,
    title text NOT NULL,
    members bigint NOT NULL,
    h1 bigint NOT NULL,
    h2 bigint NOT NULL,
    PRIMARY KEY (kind, object_id)
);

GRANT SELECT, INSERT, UPDATE ON data_use_mark TO cc_app;
