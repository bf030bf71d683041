/* research.h - the database side of research queries: catalog lookups for the cohort and measure
 * parsers, running the SQL stats/measure.c builds, the data version that keys cached answers, and
 * the data_use rows of the members a query included. The statistics themselves (noise, suppression,
 * measures) live in stats/; nothing here sees a member's individual values, only the aggregates the
 * SQL returns.
 *
 * Thread-safe: no shared state; each call uses the request's own connection. */
#ifndef CC_RESEARCH_H
#define CC_RESEARCH_H

#include "measure.h"

#include <jansson.h>

struct svc_v;
#include <stdbool.h>

struct db_conn;

/* The WHERE of a data_use upsert's DO UPDATE: a member's row records the first use on the latest
 * UTC day of use, so repeat uses on one day write nothing. */
#define DATA_USE_STALE                                                                             \
    "((data_use.at AT TIME ZONE 'UTC')::date < (EXCLUDED.at AT TIME ZONE 'UTC')::date "            \
    "OR data_use.title IS DISTINCT FROM EXCLUDED.title)"

/* Context for svc_research_catalog: the connection, and whether a lookup failed on the database
 * (then the parse errors are not the client's fault: answer svc_problem_db). */
struct svc_catalog_ctx {
    struct db_conn *db;
    bool failed;
};

/* A stats_catalog_fn over the catalog tables: 1 if the id exists in kind's catalog ("symptom",
 * "condition", "medication"), else 0 (also on a database error, which sets ctx->failed). */
int svc_research_catalog(void *ctx, const char *kind, const char *id);

/* The current data version: the last value taken from data_version_seq (0 before the first), as
 * decimal text in out. Returns 0, or -1 on a database error. */
int svc_research_data_version(struct db_conn *db, char out[24]);

/* Run a measure's SQL (rows of k text, v bigint) and add every row to raw (initialised by the
 * caller). Returns 0, or -1 on a database error or a malformed or oversized result. */
int svc_research_run(struct db_conn *db, const struct stats_sql *sql, struct stats_raw *raw);

/* Compute and release measures m[0..n-1] over pop with the server's Laplace mechanism: a new
 * reference to the array of released results, or NULL on failure (database, mechanism, memory). */
json_t *svc_research_answer(struct db_conn *db, const struct stats_measure *m, size_t n,
                            const struct stats_population *pop);

/* Record the use for every member pop counts: one data_use row per member and study (kind
 * 'study', purpose 'research'), `at` moved to now() when it already exists. Skipped when the study
 * recorded the very same population earlier the same UTC day (data_use_mark, schema 0015).
 * Returns 0, or -1 on a database error. */
int svc_research_record_uses(struct db_conn *db, const struct stats_population *pop,
                             const char *study_id, const char *title, unsigned categories);

/* A query may only read the categories its study or trial covers (and so every counted member's
 * consent). Walks an already validated cohort JSON (borrowed) and records an error at each
 * criterion reading another category. owner names the object in messages ("study", "trial"). */
void svc_cohort_check_categories(struct svc_v *v, const json_t *cohort, const char *path,
                                 unsigned cats, const char *owner);

#define SVC_POP_TABLE_MAX 48

/* Compute the population (consent and cohort) once into a table of this connection's own
 * (research_work.pop_<backend pid>, unlogged, so that parallel workers can read it), named in
 * name (the caller's buffer, SVC_POP_TABLE_MAX bytes), and point pop->table at name, so every
 * measure and the data_use upsert read it. Release it with svc_research_release before commit;
 * a rollback removes it too. 0 or -1. */
int svc_research_materialize(struct db_conn *db, struct stats_population *pop,
                             char name[SVC_POP_TABLE_MAX]);

/* Drop the table svc_research_materialize made and clear pop->table; pop NULL or without a table:
 * nothing to do. 0 or -1. */
int svc_research_release(struct db_conn *db, struct stats_population *pop);

/* Settings for the rest of the request's transaction before computing aggregates. 0 or -1. */
int svc_research_session(struct db_conn *db);

#endif
