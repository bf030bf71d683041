-- symptom_entry_catalog_time_idx (symptom, time; schema 0003) served research reads of one symptom
-- across all members, which read the rollups since 0013. Nothing has used it since: on the 1M
-- benchmark database, after every round of research queries, plain-SQL baselines and ingest, its
-- pg_stat_user_indexes.idx_scan is 0 (2.1 GB). Every entry still paid its insert: one index of the
-- four written per row, and one of the builds of a bulk load (docs/benchmarks.md, eighth round).
-- Runs inside the server's migration transaction.

DROP INDEX symptom_entry_catalog_time_idx;
