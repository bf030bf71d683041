/* The database side of research queries; see research.h. */
#include "research.h"
#include "db.h"
#include "consent.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int svc_research_catalog(void *ctx, const char *kind, const char *id)
{
    struct svc_catalog_ctx *c = ctx;
    const char *params[] = {id};
    PGresult *r = NULL;
    int found = 0;

    if (!c || !kind || !id)
        return 0;
    /* Table names come from this fixed list only. */
    if (strcmp(kind, "symptom") == 0)
        r = db_prep(c->db, "res_cat_symptom", "SELECT 1 FROM catalog_symptom WHERE id = $1", 1,
                    params);
    else if (strcmp(kind, "condition") == 0)
        r = db_prep(c->db, "res_cat_condition", "SELECT 1 FROM catalog_condition WHERE id = $1", 1,
                    params);
    else if (strcmp(kind, "medication") == 0)
        r = db_prep(c->db, "res_cat_medication", "SELECT 1 FROM catalog_medication WHERE id = $1",
                    1, params);
    else
        return 0;
    if (!r)
        c->failed = true;
    else
        found = PQntuples(r) == 1;
    PQclear(r);
    return found;
}

int svc_research_data_version(struct db_conn *db, char out[24])
{
    PGresult *r = db_prep(db, "res_data_version",
                          "SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text "
                          "FROM data_version_seq",
                          0, NULL);
    int rc = -1;

    if (r && PQntuples(r) == 1 && PQgetlength(r, 0, 0) < 24) {
        snprintf(out, 24, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

int svc_research_run(struct db_conn *db, const struct stats_sql *sql, struct stats_raw *raw)
{
    PGresult *r = NULL;
    int rc = -1, i, rows;

    if (!db || !sql || !sql->text || !raw)
        goto out;
    if (!(r = db_exec(db, sql->text, sql->nparams, (const char *const *)sql->params)))
        goto out;
    if (PQnfields(r) != 2 || (rows = PQntuples(r)) > STATS_RAW_MAX)
        goto out;
    for (i = 0; i < rows; i++) {
        char *end;
        long long v;

        if (PQgetisnull(r, i, 0) || PQgetisnull(r, i, 1))
            goto out;
        errno = 0;
        v = strtoll(PQgetvalue(r, i, 1), &end, 10);
        if (errno || *end || stats_raw_add(raw, PQgetvalue(r, i, 0), (int64_t)v) < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

json_t *svc_research_answer(struct db_conn *db, const struct stats_measure *m, size_t n,
                            const struct stats_population *pop)
{
    json_t *results = json_array(), *one;
    struct stats_sql sql;
    struct stats_raw raw;
    size_t i;

    stats_sql_init(&sql);
    stats_raw_init(&raw);
    if (!results || !m || !pop || n > STATS_MEASURES_MAX)
        goto fail;
    for (i = 0; i < n; i++) {
        stats_sql_free(&sql);
        stats_raw_free(&raw);
        if (stats_measure_sql(&m[i], pop, &sql) < 0 || svc_research_run(db, &sql, &raw) < 0)
            goto fail;
        one = stats_measure_release(&m[i], &raw, stats_mechanism_laplace(), pop->now);
        if (json_array_append_new(results, one) != 0)
            goto fail;
    }
    stats_sql_free(&sql);
    stats_raw_free(&raw);
    return results;
fail:
    stats_sql_free(&sql);
    stats_raw_free(&raw);
    json_decref(results);
    return NULL;
}

/* Upsert the study's population fingerprint (schema 0015: UTC day, title, member count, two XORs
 * of member-id hashes). 1 if it changed, so the data_use rows must be written; 0 if this study
 * recorded the very same population earlier today; -1 on a database error. */
static int population_changed(struct db_conn *db, const struct stats_population *pop,
                              const char *study_id, const char *title)
{
    struct stats_sql sql;
    PGresult *r = NULL;
    int rc = -1;

    stats_sql_init(&sql);
    if (stats_sql_append(&sql, "WITH f AS (SELECT count(*) AS n, "
                               "coalesce(bit_xor(uuid_hash_extended(x.member_id, 1)), 0) AS h1, "
                               "coalesce(bit_xor(uuid_hash_extended(x.member_id, 2)), 0) AS h2 "
                               "FROM (") < 0 ||
        stats_population_sql(pop, &sql) < 0 ||
        stats_sql_append(&sql, ") x) INSERT INTO data_use_mark AS d (kind, object_id, day, title, "
                               "members, h1, h2) SELECT 'study', ") < 0 ||
        stats_sql_param(&sql, study_id) < 0 ||
        stats_sql_append(&sql, "::uuid, (now() AT TIME ZONE 'UTC')::date, ") < 0 ||
        stats_sql_param(&sql, title) < 0 ||
        stats_sql_append(
            &sql,
            ", f.n, f.h1, f.h2 FROM f ON CONFLICT (kind, object_id) DO UPDATE SET "
            "day = EXCLUDED.day, title = EXCLUDED.title, members = EXCLUDED.members, "
            "h1 = EXCLUDED.h1, h2 = EXCLUDED.h2 WHERE (d.day, d.title, d.members, d.h1, d.h2) "
            "IS DISTINCT FROM (EXCLUDED.day, EXCLUDED.title, EXCLUDED.members, EXCLUDED.h1, "
            "EXCLUDED.h2) RETURNING 1") < 0)
        goto out;
    if (!(r = db_exec(db, sql.text, sql.nparams, (const char *const *)sql.params)))
        goto out;
    rc = PQntuples(r) > 0;
out:
    PQclear(r);
    stats_sql_free(&sql);
    return rc;
}

int svc_research_record_uses(struct db_conn *db, const struct stats_population *pop,
                             const char *study_id, const char *title, unsigned categories)
{
    struct stats_sql sql;
    char cats[16];
    PGresult *r = NULL;
    int rc = population_changed(db, pop, study_id, title);

    if (rc <= 0)
        return rc; /* 0: recorded earlier today, nothing to write; -1: database error */
    rc = -1;
    stats_sql_init(&sql);
    snprintf(cats, sizeof(cats), "%u", categories);
    if (stats_sql_append(&sql, "INSERT INTO data_use (member_id, kind, object_id, title, purpose, "
                               "categories, at) SELECT x.member_id, 'study', ") < 0 ||
        stats_sql_param(&sql, study_id) < 0 || stats_sql_append(&sql, "::uuid, ") < 0 ||
        stats_sql_param(&sql, title) < 0 || stats_sql_append(&sql, ", 'research', ") < 0 ||
        stats_sql_param(&sql, cats) < 0 || stats_sql_append(&sql, "::int, now() FROM (") < 0 ||
        stats_population_sql(pop, &sql) < 0 ||
        /* At day resolution: a study's repeat queries on one day rewrite no row (at 1M members
         * a query's population is tens of thousands of rows). */
        stats_sql_append(&sql, ") x ON CONFLICT (member_id, object_id) WHERE kind = 'study' "
                               "DO UPDATE SET at = EXCLUDED.at, title = EXCLUDED.title "
                               "WHERE " DATA_USE_STALE) < 0)
        goto out;
    if (!(r = db_exec(db, sql.text, sql.nparams, (const char *const *)sql.params)))
        goto out;
    rc = 0;
out:
    PQclear(r);
    stats_sql_free(&sql);
    return rc;
}

int svc_research_materialize(struct db_conn *db, struct stats_population *pop,
                             char name[SVC_POP_TABLE_MAX])
{
    struct stats_sql sql;
    PGresult *r = NULL;
    char cmd[SVC_POP_TABLE_MAX + 32];
    int rc = -1;

    stats_sql_init(&sql);
    /* A name per backend: one request at a time uses a connection. Not a temporary table, whose
     * pages live in the backend's own memory where parallel workers cannot read them (a 52-week
     * trend at 1M: 1.4-2.0 s in one process, 1.1 s with two workers). A table left by a request
     * that committed without releasing it is dropped first. */
    snprintf(name, SVC_POP_TABLE_MAX, "research_work.pop_%d", db_backend_pid(db));
    snprintf(cmd, sizeof(cmd), "DROP TABLE IF EXISTS %s", name);
    if (db_cmd(db, cmd) < 0 || stats_population_table_sql(pop, name, false, &sql) < 0 ||
        !(r = db_exec(db, sql.text, sql.nparams, (const char *const *)sql.params)))
        goto out;
    PQclear(r);
    r = NULL;
    /* Real row counts and a unique member_id for the plans that read it. A 3,000-row sample
     * (statistics target 10) finds both: 17-22 ms at 1M members against 64-83 ms for the default
     * 30,000 (docs/benchmarks.md). */
    snprintf(cmd, sizeof(cmd), "ANALYZE %s", name);
    if (db_cmd(db, "SET LOCAL default_statistics_target = 10") < 0 || db_cmd(db, cmd) < 0 ||
        db_cmd(db, "SET LOCAL default_statistics_target TO DEFAULT") < 0)
        goto out;
    pop->table = name;
    rc = 0;
out:
    PQclear(r);
    stats_sql_free(&sql);
    return rc;
}

int svc_research_release(struct db_conn *db, struct stats_population *pop)
{
    char cmd[SVC_POP_TABLE_MAX + 32];

    if (!pop || !pop->table)
        return 0;
    snprintf(cmd, sizeof(cmd), "DROP TABLE %s", pop->table);
    pop->table = NULL;
    return db_cmd(db, cmd);
}

int svc_research_session(struct db_conn *db)
{
    /* Research sorts (trends over hundreds of thousands of entries) spill to disk at the default
     * 4 MB; the setting ends with the request's transaction. */
    if (db_cmd(db, "SET LOCAL work_mem = '64MB'") < 0)
        return -1;
    /* JIT compiled every population and measure statement at 1M members (100-300 ms each, more
     * than it saved): feasibility 2.0-2.1 s with it, 1.2 s without (docs/benchmarks.md). */
    if (db_cmd(db, "SET LOCAL jit = off") < 0)
        return -1;
    /* A materialised population is a few MB, under the 8 MB below which no parallel scan of a
     * table is planned; scanned in parallel, it hands each worker a share of the members whose
     * rollup rows the measure probes (a 52-week trend at 1M: 830-960 ms -> 560-620 ms). */
    if (db_cmd(db, "SET LOCAL min_parallel_table_scan_size = 0") < 0)
        return -1;
    /* The rollup keys a measure probes per member are read from memory, not from disk: at the
     * default cost of 4 a random page, the planner preferred reading a symptom's whole key range
     * into a hash join (52-week trend at 1M with schema 0034: 720 ms against 540 ms probing). */
    return db_cmd(db, "SET LOCAL random_page_cost = 1.1");
}

/* Categories a cohort criterion reads (consent.h bits). */
static unsigned criterion_categories(const char *key)
{
    if (!strcmp(key, "age") || !strcmp(key, "sex_at_birth") || !strcmp(key, "country") ||
        !strcmp(key, "postal_prefix"))
        return CONSENT_DEMOGRAPHICS;
    if (!strcmp(key, "condition"))
        return CONSENT_CONDITIONS;
    if (!strcmp(key, "symptom"))
        return CONSENT_SYMPTOMS;
    if (!strcmp(key, "medication") || !strcmp(key, "evaluation"))
        return CONSENT_MEDICATIONS;
    if (!strcmp(key, "goal"))
        return CONSENT_GOALS;
    return 0;
}

static void check_categories(struct svc_v *v, const json_t *node, const char *path, unsigned cats,
                             const char *owner, int depth)
{
    char sub[192];
    const char *key;
    json_t *val;

    if (depth > STATS_COHORT_MAX_DEPTH || !json_is_object(node))
        return;
    json_object_foreach((json_t *)node, key, val)
    {
        snprintf(sub, sizeof(sub), "%s.%s", path, key);
        if (!strcmp(key, "all") || !strcmp(key, "any")) {
            for (size_t i = 0; i < json_array_size(val); i++) {
                char elem[224];
                snprintf(elem, sizeof(elem), "%s[%zu]", sub, i);
                check_categories(v, json_array_get(val, i), elem, cats, owner, depth + 1);
            }
        } else if (!strcmp(key, "not")) {
            check_categories(v, val, sub, cats, owner, depth + 1);
        } else {
            unsigned need = criterion_categories(key) & ~cats;
            if (need)
                svc_v_error(v, sub, "reads %s data, which the %s's categories do not include",
                            consent_category_name(need & -need), owner);
        }
    }
}

void svc_cohort_check_categories(struct svc_v *v, const json_t *cohort, const char *path,
                                 unsigned cats, const char *owner)
{
    check_categories(v, cohort, path, cats, owner, 1);
}
