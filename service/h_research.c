/* Research: studies, their approval and privacy budget, and differentially private queries.
 *
 * A query (POST /v1/research/studies/{id}/queries) runs in the request's transaction:
 *   lock the researcher's own study row -> 409 unless approved and unexpired -> validate the cohort
 *   and measures (422 naming every path) -> read the data version -> a cached answer for the same
 *   canonical query at the same version is returned at no cost -> otherwise charge the query's
 *   epsilon with one conditional UPDATE (403, nothing released, when it does not fit) -> compute
 *   and release every measure (stats/measure.c, the CSPRNG Laplace mechanism) -> data_use rows for
 *   the members counted -> ledger row, cache, audit -> 200.
 * Any failure after the charge answers >= 400, so the pipeline rolls the charge back with the rest.
 */
#include "audit.h"
#include "auth.h"
#include "consent.h"
#include "db.h"
#include "handlers.h"
#include "record.h"
#include "research.h"
#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STUDY_COLUMNS                                                                              \
    "study.id, study.title, study.description, study.purpose, "                                    \
    "array_to_json(study.conditions)::text, study.commercial, study.organisation_for_profit, "     \
    "study.categories, study.irb_reference, study.status, study.epsilon_budget::text, "            \
    "study.epsilon_spent::text, to_char(study.expires_on, 'YYYY-MM-DD'), "                         \
    "study.reject_reason, " REC_TS("study.created_at") ", " REC_TS(                                \
        "study.decided_at") ", study.researcher_id, "                                              \
                            "(extract(epoch FROM study.created_at) * 1000000)::bigint::text"
#define STUDY_NCOLS 18

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define BUDGET_QUERIES_MAX 1000 /* ledger rows shown by GET .../budget (the newest) */

static const char *const purposes[] = {"general_research", "disease_specific", NULL};
static const char *const statuses[] = {"pending", "approved", "rejected", NULL};

/* A numeric(6,3) column as a JSON number, null for NULL. */
static json_t *num_json(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null()
                                    : json_real(strtod(PQgetvalue(r, row, col), NULL));
}

static json_t *text_json(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* One study row (STUDY_COLUMNS) as JSON: a new reference, NULL when out of memory. */
static json_t *study_json(PGresult *r, int row, bool admin)
{
    json_t *conds = json_loads(PQgetvalue(r, row, 4), 0, NULL);
    json_t *cats = consent_categories_to_json((unsigned)atoi(PQgetvalue(r, row, 7)));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
        PQgetvalue(r, row, 0), "title", PQgetvalue(r, row, 1), "description", PQgetvalue(r, row, 2),
        "purpose", PQgetvalue(r, row, 3), "conditions", conds ? conds : json_array(), "commercial",
        PQgetvalue(r, row, 5)[0] == 't', "organisation_for_profit", PQgetvalue(r, row, 6)[0] == 't',
        "categories", cats ? cats : json_array(), "irb_reference", text_json(r, row, 8), "status",
        PQgetvalue(r, row, 9), "epsilon_budget", num_json(r, row, 10), "epsilon_spent",
        num_json(r, row, 11), "expires_on", text_json(r, row, 12), "reject_reason",
        text_json(r, row, 13), "created_at", rec_time_json(r, row, 14), "decided_at",
        rec_time_json(r, row, 15));
    if (o && !PQgetisnull(r, row, 10)) {
        double left = strtod(PQgetvalue(r, row, 10), NULL) - strtod(PQgetvalue(r, row, 11), NULL);
        json_object_set_new(o, "epsilon_remaining", json_real(round(left * 1000.0) / 1000.0));
    }
    if (o && admin)
        json_object_set_new(o, "researcher_id", json_string(PQgetvalue(r, row, 16)));
    return o;
}

/* A JSON number with at most three decimals as thousandths; -1 if it has more. */
static long long thousandths(double x)
{
    double k = nearbyint(x * 1000.0);
    return fabs(x * 1000.0 - k) > 1e-6 ? -1 : (long long)k;
}

static bool id_wellformed(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > STATS_CATALOG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static void v_limit(struct svc_req *req, struct svc_v *v, int *limit)
{
    const char *s = svc_arg(req, "limit");
    char *end;
    long n;
    *limit = LIST_DEFAULT;
    if (!s)
        return;
    n = strtol(s, &end, 10);
    if (!*s || *end || n < 1 || n > LIST_MAX)
        svc_v_error(v, "limit", "must be an integer from 1 to %d", LIST_MAX);
    else
        *limit = (int)n;
}

static bool digits_only(const char *s)
{
    if (!*s || strlen(s) > 20)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* ---- studies ---- */

void h_study_create(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"title",      "description",   "purpose",
                                         "conditions", "commercial",    "organisation_for_profit",
                                         "categories", "irb_reference", NULL};
    struct svc_v v;
    struct svc_catalog_ctx cat = {.db = req->db};
    const char *title = NULL, *description = NULL, *irb = NULL;
    int purpose = -1;
    bool commercial = false, for_profit = false;
    unsigned cats = 0;
    char conds[32 * (STATS_CATALOG_ID_MAX + 1) + 3] = "{}", scats[16];
    PGresult *r = NULL;

    svc_v_init(&v, NULL);
    svc_v_only(&v, req->body, fields);
    svc_v_str(&v, req->body, "title", true, 1, 200, &title);
    svc_v_str(&v, req->body, "description", true, 1, 5000, &description);
    svc_v_enum(&v, req->body, "purpose", true, purposes, &purpose);
    svc_v_bool(&v, req->body, "commercial", true, &commercial);
    svc_v_bool(&v, req->body, "organisation_for_profit", true, &for_profit);
    svc_v_str(&v, req->body, "irb_reference", false, 1, 200, &irb);
    svc_v_categories(&v, req->body, "categories", true, &cats);
    json_t *jconds = json_object_get(req->body, "conditions");
    if (purpose == 0 && jconds && !json_is_null(jconds)) {
        svc_v_error(&v, "conditions", "must be absent for general_research");
    } else if (purpose == 1) {
        size_t n = json_array_size(jconds), used = 1, i, j;
        if (!json_is_array(jconds) || n < 1 || n > 32) {
            svc_v_error(&v, "conditions",
                        "must be an array of 1 to 32 catalog condition ids for disease_specific");
        } else {
            for (i = 0; i < n; i++) {
                const char *id = json_string_value(json_array_get(jconds, i));
                char f[32];
                bool dup = false;
                snprintf(f, sizeof(f), "conditions[%zu]", i);
                for (j = 0; id && j < i; j++) {
                    const char *other = json_string_value(json_array_get(jconds, j));
                    dup = dup || (other && strcmp(id, other) == 0);
                }
                if (!id || !id_wellformed(id))
                    svc_v_error(&v, f, "must be a catalog condition id");
                else if (dup)
                    svc_v_error(&v, f, "repeats an earlier condition");
                else if (svc_research_catalog(&cat, "condition", id) != 1)
                    svc_v_error(&v, f, "unknown condition id");
                else
                    used += (size_t)snprintf(conds + used, sizeof(conds) - used, "%s%s",
                                             i ? "," : "", id);
            }
            if (used < sizeof(conds) - 1) {
                conds[0] = '{';
                conds[used] = '}';
                conds[used + 1] = '\0';
            }
        }
    }
    if (cat.failed) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(scats, sizeof(scats), "%u", cats);
    const char *params[] = {req->who.account_id,
                            title,
                            description,
                            purposes[purpose],
                            conds,
                            commercial ? "true" : "false",
                            for_profit ? "true" : "false",
                            scats,
                            irb};
    r = db_prep(req->db, "res_study_insert",
                "INSERT INTO study (researcher_id, title, description, purpose, conditions, "
                "commercial, organisation_for_profit, categories, irb_reference) "
                "VALUES ($1, $2, $3, $4, $5::text[], $6::boolean, $7::boolean, $8::int, $9) "
                "RETURNING " STUDY_COLUMNS,
                9, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 201, study_json(r, 0, false));
out:
    PQclear(r);
    svc_v_free(&v);
}

/* Shared by the researcher's and the admin's lists: newest first, keyset paging on (created_at,
 * id). owner NULL lists every researcher's studies (admin). */
static void list_studies(struct svc_req *req, struct svc_resp *resp, const char *owner, bool admin)
{
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL;
    char at[64] = "", id[64] = "", slimit[16], next[REC_CURSOR_MAX];
    const char *status = NULL;
    int limit, k;

    svc_v_init(&v, NULL);
    v_limit(req, &v, &limit);
    if (admin && (status = svc_arg(req, "status"))) {
        for (k = 0; statuses[k] && strcmp(statuses[k], status) != 0; k++)
            ;
        if (!statuses[k])
            svc_v_error(&v, "status", "must be one of: pending, approved, rejected");
    }
    const char *cursor = svc_arg(req, "cursor");
    if (cursor) {
        char f[2][64];
        if (rec_cursor_decode(admin ? "admin_studies" : "studies", cursor, f, 2) != 2 ||
            !digits_only(f[0]) || !svc_is_uuid(f[1]))
            svc_v_error(&v, "cursor", "is not a cursor this list gave");
        else {
            snprintf(at, sizeof(at), "%s", f[0]);
            snprintf(id, sizeof(id), "%s", f[1]);
        }
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(slimit, sizeof(slimit), "%d", limit + 1);
    const char *params[] = {owner, status, at[0] ? at : NULL, id[0] ? id : NULL, slimit};
    r = db_prep(req->db, "res_study_list",
                "SELECT " STUDY_COLUMNS " FROM study WHERE ($1::uuid IS NULL OR "
                "study.researcher_id = $1::uuid) AND ($2::text IS NULL OR study.status = $2) AND "
                "($3::bigint IS NULL OR ((extract(epoch FROM study.created_at) * 1000000)::bigint, "
                "study.id) < ($3::bigint, $4::uuid)) ORDER BY "
                "(extract(epoch FROM study.created_at) * 1000000)::bigint DESC, study.id DESC "
                "LIMIT $5::int",
                5, params);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(items = json_array()))
        goto out;
    int n = PQntuples(r) > limit ? limit : PQntuples(r);
    for (int i = 0; i < n; i++)
        if (json_array_append_new(items, study_json(r, i, admin)) != 0)
            goto out;
    json_t *nc = json_null();
    if (PQntuples(r) > limit) {
        const char *f[] = {PQgetvalue(r, n - 1, 17), PQgetvalue(r, n - 1, 0)};
        if (rec_cursor_encode(admin ? "admin_studies" : "studies", f, 2, next) < 0)
            goto out;
        nc = json_string(next);
    }
    svc_json(resp, 200, json_pack("{s:O, s:o}", "items", items, "next_cursor", nc));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

void h_study_list(struct svc_req *req, struct svc_resp *resp)
{
    list_studies(req, resp, req->who.account_id, false);
}

void h_admin_study_list(struct svc_req *req, struct svc_resp *resp)
{
    list_studies(req, resp, NULL, true);
}

void h_study_get(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = NULL;

    svc_problem(resp, 404, "no such study", NULL);
    if (!svc_is_uuid(req->params[0]))
        return;
    const char *params[] = {req->params[0], req->who.account_id};
    r = db_prep(req->db, "res_study_get",
                "SELECT " STUDY_COLUMNS " FROM study WHERE study.id = $1 AND "
                "study.researcher_id = $2",
                2, params);
    if (!r)
        svc_problem_db(resp, req->db);
    else if (PQntuples(r) == 1)
        svc_json(resp, 200, study_json(r, 0, false));
    PQclear(r);
}

void h_study_budget(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = NULL, *q = NULL;
    json_t *queries = NULL;
    char max[16];

    svc_problem(resp, 404, "no such study", NULL);
    if (!svc_is_uuid(req->params[0]))
        goto out;
    const char *params[] = {req->params[0], req->who.account_id};
    if (!(r = db_prep(req->db, "res_budget_study",
                      "SELECT epsilon_budget::text, epsilon_spent::text, "
                      "(epsilon_budget - epsilon_spent)::text, status FROM study "
                      "WHERE id = $1 AND researcher_id = $2",
                      2, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1)
        goto out;
    svc_problem(resp, 500, NULL, NULL);
    snprintf(max, sizeof(max), "%d", BUDGET_QUERIES_MAX);
    const char *qp[] = {req->params[0], max};
    if (!(q = db_prep(
              req->db, "res_budget_queries",
              "SELECT seq, " REC_TS(
                  "at") ", query_hash, epsilon::text, cached, "
                        "count(*) OVER () FROM (SELECT * FROM study_query WHERE study_id = $1 "
                        "ORDER BY seq DESC LIMIT $2::int) x ORDER BY seq",
              2, qp))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(queries = json_array()))
        goto out;
    for (int i = 0; i < PQntuples(q); i++)
        if (json_array_append_new(
                queries,
                json_pack("{s:i, s:o, s:s, s:o, s:b}", "seq", atoi(PQgetvalue(q, i, 0)), "at",
                          rec_time_json(q, i, 1), "query_hash", PQgetvalue(q, i, 2), "epsilon",
                          num_json(q, i, 3), "cached", PQgetvalue(q, i, 4)[0] == 't')) != 0)
            goto out;
    svc_json(resp, 200,
             json_pack("{s:s, s:s, s:o, s:o, s:o, s:O}", "study_id", req->params[0], "status",
                       PQgetvalue(r, 0, 3), "epsilon_budget", num_json(r, 0, 0), "epsilon_spent",
                       num_json(r, 0, 1), "epsilon_remaining", num_json(r, 0, 2), "queries",
                       queries));
out:
    json_decref(queries);
    PQclear(q);
    PQclear(r);
}

/* ---- admin decisions ---- */

/* Copies the study's status and returns true, or answers 404 / 503 and returns false. */
static bool study_exists(struct svc_req *req, struct svc_resp *resp, char status[16])
{
    const char *params[] = {req->params[0]};
    PGresult *r =
        db_prep(req->db, "res_study_status", "SELECT status FROM study WHERE id = $1", 1, params);
    bool found = false;
    if (!r)
        svc_problem_db(resp, req->db);
    else if (PQntuples(r) == 1) {
        snprintf(status, 16, "%s", PQgetvalue(r, 0, 0));
        found = true;
    } else
        svc_problem(resp, 404, "no such study", NULL);
    PQclear(r);
    return found;
}

void h_admin_study_approve(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"epsilon_budget", "expires_on", NULL};
    struct svc_v v;
    PGresult *r = NULL;
    double budget = 4.0;
    char expires[11] = "", sbudget[24], status[16];
    long long k = 4000;
    int y, m, d;
    json_t *details = NULL;

    svc_v_init(&v, NULL);
    svc_problem(resp, 404, "no such study", NULL);
    if (!svc_is_uuid(req->params[0]) || !study_exists(req, resp, status))
        goto out;
    svc_problem(resp, 500, NULL, NULL);
    svc_v_only(&v, req->body, fields);
    if (svc_v_num(&v, req->body, "epsilon_budget", false, 0.1, 20.0, &budget) == SVC_V_OK &&
        (k = thousandths(budget)) < 0)
        svc_v_error(&v, "epsilon_budget", "must have at most 3 decimals");
    if (svc_v_date(&v, req->body, "expires_on", true, expires) == SVC_V_OK) {
        /* Valid until expires_on 00:00 UTC, so it must be a later day than today (UTC). */
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        if (svc_parse_date(expires, &y, &m, &d) < 0 ||
            y * 10000 + m * 100 + d <=
                (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday)
            svc_v_error(&v, "expires_on", "must be a date after today (UTC)");
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (strcmp(status, "pending") != 0) {
        svc_problem(resp, 409, "only a pending study can be approved; this one is decided", NULL);
        goto out;
    }
    snprintf(sbudget, sizeof(sbudget), "%lld.%03lld", k / 1000, k % 1000);
    const char *params[] = {req->params[0], sbudget, expires, req->who.account_id};
    if (!(r = db_prep(req->db, "res_study_approve",
                      "UPDATE study SET status = 'approved', epsilon_budget = $2::numeric, "
                      "expires_on = $3::date, decided_by = $4, decided_at = now(), "
                      "updated_at = now() WHERE id = $1 AND status = 'pending' "
                      "RETURNING " STUDY_COLUMNS,
                      4, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1) {
        svc_problem(resp, 409, "only a pending study can be approved; this one is decided", NULL);
        goto out;
    }
    details = json_pack("{s:f, s:s}", "epsilon_budget", (double)k / 1000.0, "expires_on", expires);
    if (svc_audit(req, "study.approve", "study", req->params[0], details) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, study_json(r, 0, true));
out:
    json_decref(details);
    PQclear(r);
    svc_v_free(&v);
}

void h_admin_study_reject(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"reason", NULL};
    struct svc_v v;
    PGresult *r = NULL;
    const char *reason = NULL;
    char status[16];

    svc_v_init(&v, NULL);
    svc_problem(resp, 404, "no such study", NULL);
    if (!svc_is_uuid(req->params[0]) || !study_exists(req, resp, status))
        goto out;
    svc_problem(resp, 500, NULL, NULL);
    svc_v_only(&v, req->body, fields);
    svc_v_str(&v, req->body, "reason", true, 1, 1000, &reason);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *params[] = {req->params[0], reason, req->who.account_id};
    if (!(r = db_prep(req->db, "res_study_reject",
                      "UPDATE study SET status = 'rejected', reject_reason = $2, decided_by = $3, "
                      "decided_at = now(), updated_at = now() WHERE id = $1 AND status = 'pending' "
                      "RETURNING " STUDY_COLUMNS,
                      3, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1) {
        svc_problem(resp, 409, "only a pending study can be rejected; this one is decided", NULL);
        goto out;
    }
    /* The reason is the admin's text about the study, not health data; it stays in the study row.
     */
    if (svc_audit(req, "study.reject", "study", req->params[0], NULL) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, study_json(r, 0, true));
out:
    PQclear(r);
    svc_v_free(&v);
}

/* ---- queries ---- */

static const char *missing_name(unsigned need)
{
    for (unsigned bit = 1; bit <= CONSENT_GOALS; bit <<= 1)
        if (need & bit)
            return consent_category_name(bit);
    return "some";
}

static unsigned measure_categories(const struct stats_measure *m)
{
    switch (m->type) {
    case STATS_M_COUNT:
        return 0;
    case STATS_M_BREAKDOWN:
        return CONSENT_DEMOGRAPHICS;
    case STATS_M_SYMPTOM_DISTRIBUTION:
    case STATS_M_SYMPTOM_TREND:
        return CONSENT_SYMPTOMS;
    case STATS_M_TREATMENT_EFFECT:
        return CONSENT_MEDICATIONS | CONSENT_SYMPTOMS;
    case STATS_M_MEDICATION_OUTCOMES:
    case STATS_M_SIDE_EFFECT_SIGNAL:
        return CONSENT_MEDICATIONS;
    }
    return CONSENT_ALL_CATEGORIES;
}

static void add_stats_errors(struct svc_v *v, const struct stats_errors *e)
{
    for (int i = 0; i < e->n && i < STATS_COHORT_MAX_ERRORS; i++)
        svc_v_error(v, e->e[i].path, "%s", e->e[i].message);
}

/* The response from a stored answer: a new reference, or NULL. */
static json_t *query_response(const char *study_id, const char *hash, json_t *stored, bool cached,
                              const char *charged, const char *remaining)
{
    json_t *o = json_deep_copy(stored);
    if (!o)
        return NULL;
    if (json_object_set_new(o, "study_id", json_string(study_id)) != 0 ||
        json_object_set_new(o, "query_hash", json_string(hash)) != 0 ||
        json_object_set_new(o, "cached", json_boolean(cached)) != 0 ||
        json_object_set_new(o, "epsilon_charged", json_real(strtod(charged, NULL))) != 0 ||
        json_object_set_new(o, "epsilon_remaining", json_real(strtod(remaining, NULL))) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void h_study_query(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"cohort", "measures", NULL};
    struct svc_v v;
    struct svc_catalog_ctx cat = {.db = req->db};
    struct stats_errors cerr = {.n = 0}, merr = {.n = 0};
    struct stats_cohort *cohort = NULL;
    struct stats_measure ms[STATS_MEASURES_MAX];
    size_t nm = 0, i;
    PGresult *r = NULL, *q = NULL;
    char *canon = NULL, *stored_text = NULL, hash[65], version[24], total[24], seps[24];
    char remaining[32] = "0", study_id[SVC_ID_LEN], title[1024];
    const char *focus[32];
    size_t nfocus = 0;
    json_t *focus_json = NULL, *results = NULL, *stored = NULL, *details = NULL;
    long long total_k = 0;
    unsigned cats;
    bool commercial, for_profit;

    svc_v_init(&v, NULL);
    svc_problem(resp, 404, "no such study", NULL);
    if (!svc_is_uuid(req->params[0]))
        goto out;
    snprintf(study_id, sizeof(study_id), "%s", req->params[0]);

    /* The study row stays locked until the transaction ends: queries of one study are serial, so
     * the ledger's seq, the cache and the charge see each other. */
    const char *p1[] = {study_id, req->who.account_id};
    if (!(r = db_prep(req->db, "res_query_study",
                      "SELECT status, now() >= (expires_on::timestamp AT TIME ZONE 'UTC'), "
                      "to_char(expires_on, 'YYYY-MM-DD'), categories, commercial, "
                      "organisation_for_profit, array_to_json(conditions)::text, title "
                      "FROM study WHERE id = $1 AND researcher_id = $2 FOR NO KEY UPDATE",
                      2, p1))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1)
        goto out;
    svc_problem(resp, 500, NULL, NULL);
    if (strcmp(PQgetvalue(r, 0, 0), "approved") != 0) {
        char detail[128];
        snprintf(detail, sizeof(detail), "the study is %s; only an approved study can be queried",
                 PQgetvalue(r, 0, 0));
        svc_problem(resp, 409, detail, NULL);
        goto out;
    }
    if (PQgetvalue(r, 0, 1)[0] == 't') {
        char detail[128];
        snprintf(detail, sizeof(detail), "the study expired on %s; it can no longer be queried",
                 PQgetvalue(r, 0, 2));
        svc_problem(resp, 409, detail, NULL);
        goto out;
    }
    cats = (unsigned)atoi(PQgetvalue(r, 0, 3));
    commercial = PQgetvalue(r, 0, 4)[0] == 't';
    for_profit = PQgetvalue(r, 0, 5)[0] == 't';
    snprintf(title, sizeof(title), "%s", PQgetvalue(r, 0, 7));
    focus_json = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
    for (i = 0; i < json_array_size(focus_json) && nfocus < 32; i++)
        if (json_string_value(json_array_get(focus_json, i)))
            focus[nfocus++] = json_string_value(json_array_get(focus_json, i));
    PQclear(r);
    r = NULL;

    /* Validate everything before anything is charged. */
    svc_v_only(&v, req->body, fields);
    json_t *jcohort = json_object_get(req->body, "cohort");
    json_t *jmeasures = json_object_get(req->body, "measures");
    if (!jcohort)
        svc_v_error(&v, "cohort", "is required");
    else if (!(cohort = stats_cohort_parse(jcohort, "cohort", svc_research_catalog, &cat, &cerr)))
        add_stats_errors(&v, &cerr);
    else
        svc_cohort_check_categories(&v, jcohort, "cohort", cats, "study");
    if (!jmeasures)
        svc_v_error(&v, "measures", "is required");
    else if (stats_measures_parse(jmeasures, "measures", svc_research_catalog, &cat, ms, &nm,
                                  &merr) < 0)
        add_stats_errors(&v, &merr);
    for (i = 0; i < nm; i++) {
        unsigned need = measure_categories(&ms[i]) & ~cats;
        if (need) {
            char f[40];
            snprintf(f, sizeof(f), "measures[%zu].type", i);
            svc_v_error(&v, f, "reads %s data, which this study's categories do not include",
                        missing_name(need));
        }
        total_k += (long long)nearbyint(ms[i].epsilon * 1000.0);
    }
    if (cat.failed) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(total, sizeof(total), "%lld.%03lld", total_k / 1000, total_k % 1000);

    if (!(canon = stats_query_canonical(cohort, ms, nm)))
        goto out;
    svc_sha256_hex(canon, strlen(canon), hash);
    if (svc_research_data_version(req->db, version) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }

    /* A repeat on unchanged data: the same released numbers, at no cost. */
    const char *p2[] = {study_id, hash, version};
    if (!(r = db_prep(req->db, "res_cache_get",
                      "SELECT c.response, (s.epsilon_budget - s.epsilon_spent)::text "
                      "FROM study_cache c JOIN study s ON s.id = c.study_id "
                      "WHERE c.study_id = $1 AND c.query_hash = $2 AND c.data_version = $3::bigint "
                      "AND cache_still_valid(c.at)",
                      3, p2))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    bool cached = PQntuples(r) == 1;
    if (cached) {
        stored = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        snprintf(remaining, sizeof(remaining), "%s", PQgetvalue(r, 0, 1));
        if (!stored)
            goto out;
    }
    PQclear(r);
    r = NULL;

    if (!cached) {
        const char *p3[] = {study_id, total};
        if (!(r = db_prep(req->db, "res_charge",
                          "UPDATE study SET epsilon_spent = epsilon_spent + $2::numeric, "
                          "updated_at = now() WHERE id = $1 AND "
                          "epsilon_spent + $2::numeric <= epsilon_budget "
                          "RETURNING (epsilon_budget - epsilon_spent)::text",
                          2, p3))) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        if (PQntuples(r) != 1) {
            char detail[160];
            snprintf(detail, sizeof(detail),
                     "privacy budget exhausted: this query needs epsilon %s, more than the study "
                     "has left",
                     total);
            svc_problem(resp, 403, detail, NULL);
            goto out;
        }
        snprintf(remaining, sizeof(remaining), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        r = NULL;

        struct stats_population pop = {.cohort = cohort,
                                       .categories = cats,
                                       .commercial = commercial,
                                       .for_profit = for_profit,
                                       .focus = focus,
                                       .nfocus = nfocus,
                                       .now = (int64_t)time(NULL),
                                       /* A narrower table is quicker to write (docs/benchmarks.md,
                                        * thirteenth round). */
                                       .members_only = !stats_measures_read_demographics(ms, nm)};
        char computed_at[32], pop_table[SVC_POP_TABLE_MAX];
        time_t t = (time_t)pop.now;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(computed_at, sizeof(computed_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (svc_research_session(req->db) < 0 ||
            svc_research_materialize(req->db, &pop, pop_table) < 0 ||
            !(results = svc_research_answer(req->db, ms, nm, &pop))) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        if (svc_research_record_uses(req->db, &pop, study_id, title, cats) < 0 ||
            svc_research_release(req->db, &pop) < 0) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        if (!(stored = json_pack("{s:s, s:f, s:O}", "computed_at", computed_at, "epsilon",
                                 (double)total_k / 1000.0, "results", results)) ||
            !(stored_text = json_dumps(stored, JSON_COMPACT)))
            goto out;
        const char *p4[] = {study_id, hash, version, stored_text};
        if (!(q = db_prep(req->db, "res_cache_put",
                          "INSERT INTO study_cache (study_id, query_hash, data_version, response) "
                          "VALUES ($1, $2, $3::bigint, $4) ON CONFLICT (study_id, query_hash) DO "
                          "UPDATE SET data_version = EXCLUDED.data_version, "
                          "response = EXCLUDED.response, at = now()",
                          4, p4))) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        PQclear(q);
        q = NULL;
    }

    snprintf(seps, sizeof(seps), "%s", cached ? "0.000" : total);
    const char *p5[] = {study_id, hash, seps, cached ? "true" : "false"};
    if (!(q = db_prep(req->db, "res_ledger_put",
                      "INSERT INTO study_query (study_id, seq, query_hash, epsilon, cached) "
                      "SELECT $1, coalesce(max(seq), 0) + 1, $2, $3::numeric, $4::boolean "
                      "FROM study_query WHERE study_id = $1",
                      4, p5))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    /* The audit row: which study, which query, what it cost; never a released or true value. */
    details = json_pack("{s:s, s:f, s:b}", "query_hash", hash, "epsilon",
                        cached ? 0.0 : (double)total_k / 1000.0, "cached", cached);
    if (!details || svc_audit(req, "study.query", "study", study_id, details) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    json_t *body = query_response(study_id, hash, stored, cached, seps, remaining);
    if (!body)
        goto out;
    svc_json(resp, 200, body);
out:
    json_decref(details);
    json_decref(stored);
    json_decref(results);
    json_decref(focus_json);
    free(stored_text);
    free(canon);
    stats_cohort_free(cohort);
    PQclear(q);
    PQclear(r);
    svc_v_free(&v);
}
