-- Where a research request materialises its population (service/research.c): a table per
-- connection, research_work.pop_<backend pid>, unlogged and dropped before the request commits
-- (a rollback removes it too). Not a temporary table: parallel workers cannot read those, and the
-- measures over a 1M-member population are large scans worth two workers (docs/benchmarks.md).
-- The service may create tables here and nowhere else; nothing else may read them.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE SCHEMA research_work;
REVOKE ALL ON SCHEMA research_work FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA research_work TO cc_app;
