/* Trial recruitment: coordinators' trials (manual or imported from ClinicalTrials.gov), admin
 * approval with a privacy budget, private feasibility counts, invitations, and members' answers.
 *
 * What a coordinator can learn about members: noisy, suppressed and rounded counts charged to the
 * trial's budget (feasibility, the number invited, the response totals), and, for each member who
 * accepted, a random per-trial candidate id with exactly the details that member chose to share.
 * No coordinator response carries a member id, and nothing distinguishes a decline from silence.
 * The eligibility rules and the releases are in trials.c; tables and triggers in
 * schema/0009_trials.sql. */
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "consent.h"
#include "db.h"
#include "disclosure.h"
#include "handlers.h"
#include "record.h"
#include "trials.h"
#include "validate.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_DEFAULT 100
#define LIST_MAX 500
#define OFFSET_MAX 100000
#define TITLE_MAX 300
#define SUMMARY_MAX 10000
#define SPONSOR_MAX 300
#define CONTACT_MAX 2000
#define MESSAGE_MAX 2000
#define ELIGIBILITY_MAX 65536
#define CONDITION_TEXT_MAX 300
#define BUDGET_MAX 100.0
#define APPROVAL_DAYS_MAX 1830 /* an approval lasts at most about five years */
#define NOT_FOUND "no such trial"
#define NO_INVITATION "no such invitation"

/* The trial columns trial_json reads, in order, from "trial" under its own name. */
/* clang-format off */
#define TRIAL_COLUMNS                                                                              \
    "trial.id, trial.coordinator_id, trial.title, trial.summary, trial.nct_id, trial.sponsor, "    \
    "trial.commercial, trial.organisation_for_profit, array_to_json(trial.conditions)::text, "     \
    "array_to_json(trial.conditions_text)::text, trial.sites::text, trial.inclusion::text, "       \
    "trial.exclusion::text, trial.contact_message, trial.categories, trial.healthy_volunteers, "   \
    "trial.eligibility_text, trial.source, trial.status, " REC_TS("trial.approved_at") ", "        \
    "to_char(trial.expires_on, 'YYYY-MM-DD'), trial.epsilon_budget::float8, "                      \
    "trial.epsilon_spent::float8, " REC_TS("trial.created_at") ", " REC_TS("trial.updated_at")
/* clang-format on */

static json_t *text_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

static json_t *json_col(PGresult *r, int row, int col)
{
    json_t *j = PQgetisnull(r, row, col) ? NULL : json_loads(PQgetvalue(r, row, col), 0, NULL);
    return j ? j : json_null();
}

static json_t *bool_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_boolean(PQgetvalue(r, row, col)[0] == 't');
}

/* A trial row (TRIAL_COLUMNS) as JSON: a new reference, or NULL when out of memory. The
 * coordinator's id is shown to admins only. */
static json_t *trial_json(PGresult *r, int row, bool admin)
{
    json_t *cats = consent_categories_to_json((unsigned)atoi(PQgetvalue(r, row, 14)));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:s, "
        "s:s, s:o, s:o, s:f, s:f, s:o, s:o}",
        "id", PQgetvalue(r, row, 0), "title", PQgetvalue(r, row, 2), "summary",
        PQgetvalue(r, row, 3), "nct_id", text_or_null(r, row, 4), "sponsor", PQgetvalue(r, row, 5),
        "commercial", PQgetvalue(r, row, 6)[0] == 't', "organisation_for_profit",
        PQgetvalue(r, row, 7)[0] == 't', "conditions", json_col(r, row, 8), "conditions_text",
        json_col(r, row, 9), "sites", json_col(r, row, 10), "inclusion", json_col(r, row, 11),
        "exclusion", json_col(r, row, 12), "contact_message", PQgetvalue(r, row, 13), "categories",
        cats ? cats : json_array(), "healthy_volunteers", bool_or_null(r, row, 15),
        "eligibility_text", text_or_null(r, row, 16), "source", PQgetvalue(r, row, 17), "status",
        PQgetvalue(r, row, 18), "approved_at", rec_time_json(r, row, 19), "expires_on",
        text_or_null(r, row, 20), "epsilon_budget", atof(PQgetvalue(r, row, 21)), "epsilon_spent",
        atof(PQgetvalue(r, row, 22)), "created_at", rec_time_json(r, row, 23), "updated_at",
        rec_time_json(r, row, 24));
    if (o && admin &&
        json_object_set_new(o, "coordinator_id", json_string(PQgetvalue(r, row, 1))) < 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* "limit" and "offset" query arguments (errors recorded in v). */
static int query_int(const struct svc_req *req, struct svc_v *v, const char *name, int dflt,
                     int min, int max)
{
    const char *s = svc_arg(req, name);
    char *end = NULL;
    long n;
    if (!s)
        return dflt;
    n = strlen(s) <= 7 && isdigit((unsigned char)s[0]) ? strtol(s, &end, 10) : -1;
    if (n < min || n > max || !end || *end) {
        svc_v_error(v, name, "must be an integer from %d to %d", min, max);
        return dflt;
    }
    return (int)n;
}

/* ---- trial fields ---- */

/* Validated values of the trial fields present in a body, ready for the database: `norm` holds
 * them under their column names (categories as the bit set, sites normalised, exclusion null when
 * cleared). */
struct trial_in {
    json_t *norm;
    bool has_status;
    int status; /* index in statuses */
};

static const char *const trial_fields[] = {
    "title",      "summary", "nct_id",    "sponsor",   "commercial",      "organisation_for_profit",
    "conditions", "sites",   "inclusion", "exclusion", "contact_message", "categories",
    "status",     NULL};
static const char *const statuses[] = {"draft", "recruiting", "closed", NULL};

static bool nct_ok(const char *s)
{
    if (strlen(s) != 11 || strncmp(s, "NCT", 3) != 0)
        return false;
    for (int i = 3; i < 11; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool catalog_id_shaped(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > STATS_CATALOG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

static void put(json_t *o, const char *key, json_t *v, bool *oom)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *oom = true;
}

static void check_conditions(struct svc_v *v, const json_t *arr, struct svc_catalog_ctx *cat,
                             json_t *norm, bool *oom)
{
    json_t *out, *c;
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) > SVC_TRIAL_CONDITIONS_MAX) {
        svc_v_error(v, "conditions", "must be an array of at most %d catalog condition ids",
                    SVC_TRIAL_CONDITIONS_MAX);
        return;
    }
    if (!(out = json_array())) {
        *oom = true;
        return;
    }
    json_array_foreach(arr, i, c)
    {
        char field[48];
        const char *id = json_string_value(c);
        bool dup = false;
        snprintf(field, sizeof(field), "conditions[%zu]", i);
        for (size_t k = 0; id && k < i && !dup; k++)
            dup = json_equal(c, json_array_get(arr, k));
        if (!id || !catalog_id_shaped(id) || !svc_research_catalog(cat, "condition", id))
            svc_v_error(v, field, "must be a catalog condition id");
        else if (dup)
            svc_v_error(v, field, "is listed twice");
        else if (json_array_append(out, c) < 0)
            *oom = true;
    }
    put(norm, "conditions", out, oom);
}

static bool postal_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 3)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]))
            return false;
    return true;
}

static void check_sites(struct svc_v *v, const json_t *arr, json_t *norm, bool *oom)
{
    json_t *out, *site;
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > SVC_TRIAL_SITES_MAX) {
        svc_v_error(v, "sites", "must be an array of 1 to %d sites", SVC_TRIAL_SITES_MAX);
        return;
    }
    if (!(out = json_array())) {
        *oom = true;
        return;
    }
    json_array_foreach(arr, i, site)
    {
        char field[48];
        const char *key, *country, *postal = NULL;
        json_t *val, *p;
        bool bad = false;
        if (!json_is_object(site)) {
            snprintf(field, sizeof(field), "sites[%zu]", i);
            svc_v_error(v, field, "must be an object {country, postal_prefix?}");
            continue;
        }
        json_object_foreach(site, key, val)
        {
            if (strcmp(key, "country") != 0 && strcmp(key, "postal_prefix") != 0) {
                snprintf(field, sizeof(field), "sites[%zu].%.16s", i, key);
                svc_v_error(v, field, "unknown field");
                bad = true;
            }
        }
        country = json_string_value(json_object_get(site, "country"));
        if (!country || !svc_country_valid(country)) {
            snprintf(field, sizeof(field), "sites[%zu].country", i);
            svc_v_error(v, field, "must be an ISO 3166-1 alpha-2 country code (upper case)");
            bad = true;
        }
        p = json_object_get(site, "postal_prefix");
        if (p && !json_is_null(p) && (!(postal = json_string_value(p)) || !postal_ok(postal))) {
            snprintf(field, sizeof(field), "sites[%zu].postal_prefix", i);
            svc_v_error(v, field, "must be 1 to 3 letters or digits");
            bad = true;
        }
        if (bad)
            continue;
        json_t *o = json_pack("{s:s}", "country", country);
        if (o && postal) {
            char up[4];
            size_t k;
            for (k = 0; postal[k]; k++)
                up[k] = (char)toupper((unsigned char)postal[k]);
            up[k] = '\0';
            if (json_object_set_new(o, "postal_prefix", json_string(up)) < 0) {
                json_decref(o);
                o = NULL;
            }
        }
        if (!o || json_array_append_new(out, o) < 0)
            *oom = true;
    }
    put(norm, "sites", out, oom);
}

static void check_cohort(struct svc_v *v, const json_t *j, const char *name,
                         struct svc_catalog_ctx *cat, json_t *norm, bool *oom)
{
    struct stats_errors errs = {.n = 0};
    struct stats_cohort *c = stats_cohort_parse(j, name, svc_research_catalog, cat, &errs);
    if (!c) {
        for (int i = 0; i < errs.n; i++)
            svc_v_error(v, errs.e[i].path, "%s", errs.e[i].message);
        if (errs.n == 0)
            svc_v_error(v, name, "is not a valid cohort");
        return;
    }
    stats_cohort_free(c);
    put(norm, name, json_deep_copy(j), oom);
}

/* The trial as a whole (after a patch: the merged values): the breakdowns read demographics, and
 * the criteria only covered categories. */
static void check_categories(struct svc_v *v, const json_t *incl, const json_t *excl, unsigned cats)
{
    if (!(cats & CONSENT_DEMOGRAPHICS))
        svc_v_error(v, "categories",
                    "must include demographics: feasibility counts are broken down by age band "
                    "and country");
    svc_cohort_check_categories(v, incl, "inclusion", cats, "trial");
    if (excl && !json_is_null(excl))
        svc_cohort_check_categories(v, excl, "exclusion", cats, "trial");
}

/* Validate the trial fields of body (all of them when creating; those present when patching).
 * Returns 0 with in filled (in->norm a new reference), or -1 with errors in v, or -2 when out of
 * memory or the catalog could not be read (in->norm is then NULL or partial; free it anyway). */
static int trial_fields_check(struct svc_v *v, const json_t *body, bool creating,
                              struct svc_catalog_ctx *cat, struct trial_in *in)
{
    const char *s;
    bool b, oom = false;
    json_t *j;
    unsigned bits;

    memset(in, 0, sizeof(*in));
    if (!(in->norm = json_object()))
        return -2;
    svc_v_only(v, body, trial_fields);
    if (creating && json_object_get(body, "status"))
        svc_v_error(v, "status", "a new trial is always a draft");
    if (!creating && svc_v_enum(v, body, "status", false, statuses, &in->status) == SVC_V_OK)
        in->has_status = true;

    if (svc_v_str(v, body, "title", creating, 1, TITLE_MAX, &s) == SVC_V_OK)
        put(in->norm, "title", json_string(s), &oom);
    if (svc_v_str(v, body, "summary", creating, 1, SUMMARY_MAX, &s) == SVC_V_OK)
        put(in->norm, "summary", json_string(s), &oom);
    if (svc_v_str(v, body, "sponsor", creating, 1, SPONSOR_MAX, &s) == SVC_V_OK)
        put(in->norm, "sponsor", json_string(s), &oom);
    if (svc_v_str(v, body, "contact_message", creating, 1, CONTACT_MAX, &s) == SVC_V_OK)
        put(in->norm, "contact_message", json_string(s), &oom);
    switch (svc_v_str(v, body, "nct_id", false, 11, 11, &s)) {
    case SVC_V_OK:
        if (nct_ok(s))
            put(in->norm, "nct_id", json_string(s), &oom);
        else
            svc_v_error(v, "nct_id", "must be NCT followed by 8 digits");
        break;
    case SVC_V_NULL:
        put(in->norm, "nct_id", json_null(), &oom);
        break;
    default:
        break;
    }
    if (svc_v_bool(v, body, "commercial", creating, &b) == SVC_V_OK)
        put(in->norm, "commercial", json_boolean(b), &oom);
    if (svc_v_bool(v, body, "organisation_for_profit", creating, &b) == SVC_V_OK)
        put(in->norm, "organisation_for_profit", json_boolean(b), &oom);

    if ((j = json_object_get(body, "conditions")))
        check_conditions(v, j, cat, in->norm, &oom);
    else if (creating)
        put(in->norm, "conditions", json_array(), &oom);
    if ((j = json_object_get(body, "sites")))
        check_sites(v, j, in->norm, &oom);
    else if (creating)
        svc_v_error(v, "sites", "is required");
    if ((j = json_object_get(body, "inclusion")) && !json_is_null(j))
        check_cohort(v, j, "inclusion", cat, in->norm, &oom);
    else if (creating || j)
        svc_v_error(v, "inclusion", "is required");
    if ((j = json_object_get(body, "exclusion")) && !json_is_null(j))
        check_cohort(v, j, "exclusion", cat, in->norm, &oom);
    else if (j)
        put(in->norm, "exclusion", json_null(), &oom);
    if (svc_v_categories(v, body, "categories", creating, &bits) == SVC_V_OK)
        put(in->norm, "categories", json_integer(bits), &oom);
    if (oom || cat->failed)
        return -2;
    return svc_v_failed(v) ? -1 : 0;
}

/* PATCH: every column is taken from $2 (the normalised fields) when its key is present. */
#define TRIAL_SET                                                                                  \
    "title = CASE WHEN $2::jsonb ? 'title' THEN $2::jsonb->>'title' ELSE title END, "              \
    "summary = CASE WHEN $2::jsonb ? 'summary' THEN $2::jsonb->>'summary' ELSE summary END, "      \
    "nct_id = CASE WHEN $2::jsonb ? 'nct_id' THEN $2::jsonb->>'nct_id' ELSE nct_id END, "          \
    "sponsor = CASE WHEN $2::jsonb ? 'sponsor' THEN $2::jsonb->>'sponsor' ELSE sponsor END, "      \
    "commercial = CASE WHEN $2::jsonb ? 'commercial' THEN ($2::jsonb->>'commercial')::boolean "    \
    "ELSE commercial END, "                                                                        \
    "organisation_for_profit = CASE WHEN $2::jsonb ? 'organisation_for_profit' THEN "              \
    "($2::jsonb->>'organisation_for_profit')::boolean ELSE organisation_for_profit END, "          \
    "conditions = CASE WHEN $2::jsonb ? 'conditions' THEN "                                        \
    "ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conditions')) ELSE conditions END, "       \
    "sites = CASE WHEN $2::jsonb ? 'sites' THEN $2::jsonb->'sites' ELSE sites END, "               \
    "inclusion = CASE WHEN $2::jsonb ? 'inclusion' THEN $2::jsonb->'inclusion' ELSE inclusion "    \
    "END, "                                                                                        \
    "exclusion = CASE WHEN $2::jsonb ? 'exclusion' THEN "                                          \
    "nullif($2::jsonb->'exclusion', 'null'::jsonb) ELSE exclusion END, "                           \
    "contact_message = CASE WHEN $2::jsonb ? 'contact_message' THEN "                              \
    "$2::jsonb->>'contact_message' ELSE contact_message END, "                                     \
    "categories = CASE WHEN $2::jsonb ? 'categories' THEN ($2::jsonb->>'categories')::int "        \
    "ELSE categories END"

/* Insert a draft owned by the caller from norm (which holds at least title, sponsor, commercial,
 * organisation_for_profit, inclusion and categories) and answer 201 with it. */
static void insert_trial(struct svc_req *req, struct svc_resp *resp, json_t *norm,
                         const char *source)
{
    char *text = json_dumps(norm, JSON_COMPACT);
    PGresult *r = NULL;

    if (!text)
        goto out;
    const char *params[] = {req->who.account_id, text, source};
    r = db_prep(req->db, "trial_insert",
                "INSERT INTO trial (coordinator_id, source, title, summary, nct_id, sponsor, "
                "commercial, organisation_for_profit, conditions, conditions_text, sites, "
                "inclusion, exclusion, contact_message, categories, healthy_volunteers, "
                "eligibility_text) "
                "SELECT $1, $3, j->>'title', coalesce(j->>'summary', ''), j->>'nct_id', "
                "j->>'sponsor', (j->>'commercial')::boolean, "
                "(j->>'organisation_for_profit')::boolean, "
                "ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'conditions', '[]'))), "
                "ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'conditions_text', '[]'))), "
                "coalesce(j->'sites', '[]'), j->'inclusion', nullif(j->'exclusion', 'null'), "
                "coalesce(j->>'contact_message', ''), (j->>'categories')::int, "
                "(j->>'healthy_volunteers')::boolean, j->>'eligibility_text' "
                "FROM (SELECT $2::jsonb AS j) x RETURNING " TRIAL_COLUMNS,
                3, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 201, trial_json(r, 0, false));
out:
    PQclear(r);
    free(text);
}

void h_trial_create(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    struct trial_in in = {NULL};
    struct svc_catalog_ctx cat = {.db = req->db};
    int rc;

    svc_v_init(&v, NULL);
    rc = trial_fields_check(&v, req->body, true, &cat, &in);
    if (rc == 0) {
        check_categories(&v, json_object_get(in.norm, "inclusion"),
                         json_object_get(in.norm, "exclusion"),
                         (unsigned)json_integer_value(json_object_get(in.norm, "categories")));
        if (svc_v_failed(&v))
            rc = -1;
    }
    if (rc == -1)
        svc_v_problem(&v, resp);
    else if (rc == -2)
        svc_problem_db(resp, req->db);
    else
        insert_trial(req, resp, in.norm, "manual");
    json_decref(in.norm);
    svc_v_free(&v);
}

/* ---- listing and reading ---- */

static void list_trials(struct svc_req *req, struct svc_resp *resp, bool admin)
{
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL;
    char lim[16], off[16];
    int status = -1;
    const char *st = svc_arg(req, "status");

    svc_v_init(&v, NULL);
    snprintf(lim, sizeof(lim), "%d", query_int(req, &v, "limit", LIST_DEFAULT, 1, LIST_MAX));
    snprintf(off, sizeof(off), "%d", query_int(req, &v, "offset", 0, 0, OFFSET_MAX));
    if (st) {
        for (int i = 0; statuses[i]; i++)
            if (strcmp(st, statuses[i]) == 0)
                status = i;
        if (status < 0)
            svc_v_error(&v, "status", "must be one of: draft, recruiting, closed");
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *params[] = {admin ? NULL : req->who.account_id,
                            status >= 0 ? statuses[status] : NULL, lim, off};
    r = db_prep(req->db, "trial_list",
                "SELECT " TRIAL_COLUMNS " FROM trial WHERE ($1::uuid IS NULL OR coordinator_id = "
                "$1::uuid) AND ($2::text IS NULL OR status = $2) "
                "ORDER BY created_at DESC, id LIMIT $3::int OFFSET $4::int",
                4, params);
    if (!r || !(items = json_array())) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++)
        if (json_array_append_new(items, trial_json(r, i, admin)) < 0)
            goto out;
    svc_json(resp, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

void h_trial_list(struct svc_req *req, struct svc_resp *resp)
{
    list_trials(req, resp, false);
}

void h_admin_trial_list(struct svc_req *req, struct svc_resp *resp)
{
    list_trials(req, resp, true);
}

/* The caller's trial req->params[0] (TRIAL_COLUMNS), locked when lock. Sets 404 when it is not
 * the caller's (or not a uuid). Returns the row or NULL. */
static PGresult *own_trial_row(struct svc_req *req, struct svc_resp *resp, bool lock)
{
    const char *params[] = {req->params[0], req->who.account_id};
    PGresult *r;

    if (!svc_is_uuid(req->params[0])) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        return NULL;
    }
    if (lock)
        r = db_prep(req->db, "trial_own_lock",
                    "SELECT " TRIAL_COLUMNS " FROM trial WHERE id = $1 AND coordinator_id = $2 "
                    "FOR UPDATE",
                    2, params);
    else
        r = db_prep(req->db, "trial_own",
                    "SELECT " TRIAL_COLUMNS " FROM trial WHERE id = $1 AND coordinator_id = $2", 2,
                    params);
    if (!r) {
        svc_problem_db(resp, req->db);
        return NULL;
    }
    if (PQntuples(r) != 1) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        PQclear(r);
        return NULL;
    }
    return r;
}

void h_trial_get(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = own_trial_row(req, resp, false);
    if (r)
        svc_json(resp, 200, trial_json(r, 0, false));
    PQclear(r);
}

/* ---- changes ---- */

/* What a draft still lacks before it can recruit, or NULL. */
static const char *incomplete(PGresult *r)
{
    if (!PQgetvalue(r, 0, 3)[0])
        return "the trial needs a summary before it can recruit";
    if (!PQgetvalue(r, 0, 13)[0])
        return "the trial needs a contact message before it can recruit";
    if (strcmp(PQgetvalue(r, 0, 10), "[]") == 0)
        return "the trial needs at least one site before it can recruit";
    return NULL;
}

static void change_status(struct svc_req *req, struct svc_resp *resp, PGresult *cur, int to)
{
    const char *from = PQgetvalue(cur, 0, 18), *missing;
    PGresult *r = NULL, *ok = NULL;
    bool approved = false;

    if (to == 1) {
        const char *params[] = {req->params[0]};
        if (strcmp(from, "draft") != 0) {
            svc_problem(resp, 409, "only a draft can start recruiting", NULL);
            goto out;
        }
        if (!(ok = db_prep(req->db, "trial_approved",
                           "SELECT approved_at IS NOT NULL AND expires_on >= "
                           "(now() AT TIME ZONE 'UTC')::date FROM trial WHERE id = $1",
                           1, params))) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        approved = PQntuples(ok) == 1 && PQgetvalue(ok, 0, 0)[0] == 't';
        if (!approved) {
            svc_problem(resp, 409,
                        "the trial must be approved by an admin (and the approval "
                        "not expired) before it can recruit",
                        NULL);
            goto out;
        }
        if ((missing = incomplete(cur))) {
            svc_problem(resp, 409, missing, NULL);
            goto out;
        }
    } else if (to != 2 || strcmp(from, "recruiting") != 0) {
        svc_problem(resp, 409,
                    to == 2 ? "only a recruiting trial can be closed"
                            : "a trial goes from draft to recruiting to closed, never back",
                    NULL);
        goto out;
    }
    const char *params[] = {req->params[0], statuses[to]};
    r = db_prep(req->db, "trial_set_status",
                "UPDATE trial SET status = $2 WHERE id = $1 RETURNING " TRIAL_COLUMNS, 2, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    json_t *details = json_pack("{s:s, s:s}", "from", from, "to", statuses[to]);
    int a = svc_audit(req, "trial.status", "trial", req->params[0], details);
    json_decref(details);
    if (a < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, trial_json(r, 0, false));
out:
    PQclear(ok);
    PQclear(r);
}

void h_trial_patch(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    struct trial_in in = {NULL};
    struct svc_catalog_ctx cat = {.db = req->db};
    PGresult *cur = NULL, *r = NULL;
    char *text = NULL;
    int rc;

    svc_v_init(&v, NULL);
    if (!(cur = own_trial_row(req, resp, true)))
        goto out;
    rc = trial_fields_check(&v, req->body, false, &cat, &in);
    if (rc == 0 && in.has_status && json_object_size(req->body) > 1) {
        svc_v_error(&v, "status", "must be changed on its own, without other fields");
        rc = -1;
    }
    if (rc == 0 && json_object_size(req->body) == 0) {
        svc_v_error(&v, "body", "names no field to change");
        rc = -1;
    }
    if (rc == -1) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (rc == -2) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (in.has_status) {
        change_status(req, resp, cur, in.status);
        goto out;
    }
    if (strcmp(PQgetvalue(cur, 0, 18), "draft") != 0) {
        svc_problem(resp, 409, "only a draft can be edited", NULL);
        goto out;
    }
    /* Check the categories against the trial as it will be. */
    {
        json_t *incl = json_object_get(in.norm, "inclusion");
        json_t *excl = json_object_get(in.norm, "exclusion");
        json_t *cur_incl = incl ? NULL : json_col(cur, 0, 11);
        json_t *cur_excl = json_object_get(in.norm, "exclusion") ? NULL : json_col(cur, 0, 12);
        json_t *c = json_object_get(in.norm, "categories");
        check_categories(&v, incl ? incl : cur_incl, excl ? excl : cur_excl,
                         c ? (unsigned)json_integer_value(c)
                           : (unsigned)atoi(PQgetvalue(cur, 0, 14)));
        json_decref(cur_incl);
        json_decref(cur_excl);
        if (svc_v_failed(&v)) {
            svc_v_problem(&v, resp);
            goto out;
        }
    }
    if (!(text = json_dumps(in.norm, JSON_COMPACT)))
        goto out;
    /* The admin approved these criteria: an edit needs a new approval. */
    const char *params[] = {req->params[0], text};
    r = db_prep(req->db, "trial_update",
                "UPDATE trial SET " TRIAL_SET ", approved_at = NULL, approved_by = NULL, "
                "expires_on = NULL WHERE id = $1 RETURNING " TRIAL_COLUMNS,
                2, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, trial_json(r, 0, false));
out:
    free(text);
    PQclear(cur);
    PQclear(r);
    json_decref(in.norm);
    svc_v_free(&v);
}

void h_admin_trial_approve(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"epsilon_budget", "expires_on", NULL};
    struct svc_v v;
    double budget = SVC_TRIAL_BUDGET_DEFAULT;
    char expires[11] = "", budget_s[32];
    PGresult *cur = NULL, *r = NULL;
    int y, m, d;

    svc_v_init(&v, NULL);
    if (!svc_is_uuid(req->params[0])) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        goto out;
    }
    svc_v_only(&v, req->body, fields);
    if (svc_v_num(&v, req->body, "epsilon_budget", false, 0.01, BUDGET_MAX, &budget) == SVC_V_OK &&
        fabs(budget * 1000 - round(budget * 1000)) > 1e-6)
        svc_v_error(&v, "epsilon_budget", "must have at most 3 decimals");
    if (svc_v_date(&v, req->body, "expires_on", true, expires) == SVC_V_OK &&
        svc_parse_date(expires, &y, &m, &d) == 0) {
        /* Days from today (UTC) to expires_on, by the civil calendar. */
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        struct tm e = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
        struct tm t0 = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday};
        long diff = (long)((timegm(&e) - timegm(&t0)) / 86400);
        if (diff < 0 || diff > APPROVAL_DAYS_MAX)
            svc_v_error(&v, "expires_on", "must be from today to %d days ahead", APPROVAL_DAYS_MAX);
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *id[] = {req->params[0]};
    if (!(cur = db_prep(req->db, "trial_approve_lock",
                        "SELECT status FROM trial WHERE id = $1 FOR UPDATE", 1, id))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(cur) != 1) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        goto out;
    }
    if (strcmp(PQgetvalue(cur, 0, 0), "closed") == 0) {
        svc_problem(resp, 409, "a closed trial cannot be approved", NULL);
        goto out;
    }
    snprintf(budget_s, sizeof(budget_s), "%.3f", budget);
    const char *params[] = {req->params[0], req->who.account_id, expires, budget_s};
    r = db_prep(req->db, "trial_approve",
                "UPDATE trial SET approved_at = now(), approved_by = $2, expires_on = $3::date, "
                "epsilon_budget = $4::numeric WHERE id = $1 RETURNING " TRIAL_COLUMNS,
                4, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    json_t *details = json_pack("{s:f, s:s}", "epsilon_budget", budget, "expires_on", expires);
    int a = details ? svc_audit(req, "trial.approve", "trial", req->params[0], details) : -1;
    json_decref(details);
    if (a < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, trial_json(r, 0, true));
out:
    PQclear(cur);
    PQclear(r);
    svc_v_free(&v);
}

/* ---- import from ClinicalTrials.gov ---- */

/* A length limit on a record's string, reported under its path in the record. */
static void check_len(struct svc_v *v, const char *s, size_t max, const char *path)
{
    if (s && strlen(s) > max)
        svc_v_error(v, path, "must be at most %zu characters", max);
}

/* The structured criteria of a record as an "all" cohort: sex, age, and (unless healthy
 * volunteers are accepted) having one of the mapped conditions. A record with none of these gets
 * "aged 0 or over", which every member with a birth year meets. New reference or NULL. */
static json_t *ctgov_inclusion(const struct svc_ctgov *g, const json_t *ids)
{
    json_t *all = json_array(), *age = NULL, *c;
    size_t i;
    bool oom = !all;

    if (!oom && g->sex)
        oom = json_array_append_new(all, json_pack("{s:s}", "sex_at_birth", g->sex)) < 0;
    if (!oom && (g->min_age >= 0 || g->max_age >= 0)) {
        oom = !(age = json_object());
        if (!oom && g->min_age >= 0)
            oom = json_object_set_new(age, "min", json_integer(g->min_age)) < 0;
        /* An upper bound below the lower one would match nobody: keep the lower one. */
        if (!oom && g->max_age >= 0 && g->max_age >= (g->min_age < 0 ? 0 : g->min_age))
            oom = json_object_set_new(age, "max", json_integer(g->max_age)) < 0;
        if (!oom)
            oom = json_array_append_new(all, json_pack("{s:O}", "age", age)) < 0;
    }
    if (!oom && g->healthy_volunteers != 1 && json_array_size(ids) > 0) {
        json_t *any = json_array();
        oom = !any;
        json_array_foreach(ids, i, c)
        {
            if (oom || i >= STATS_COHORT_MAX_CHILDREN)
                break;
            oom =
                json_array_append_new(any, json_pack("{s:{s:O}}", "condition", "condition", c)) < 0;
        }
        if (!oom)
            oom = json_array_append_new(all, json_array_size(any) == 1
                                                 ? json_incref(json_array_get(any, 0))
                                                 : json_pack("{s:O}", "any", any)) < 0;
        json_decref(any);
    }
    if (!oom && json_array_size(all) == 0)
        oom = json_array_append_new(all, json_pack("{s:{s:i}}", "age", "min", 0)) < 0;
    json_decref(age);
    if (oom) {
        json_decref(all);
        return NULL;
    }
    json_t *out = json_pack("{s:o}", "all", all);
    return out;
}

void h_trial_import(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const conds_path = "protocolSection.conditionsModule.conditions";
    struct svc_ctgov g;
    struct svc_v v;
    struct svc_catalog_ctx cat = {.db = req->db};
    char field[96], msg[96], id[STATS_CATALOG_ID_MAX + 1];
    json_t *ids = json_array(), *texts = json_array(), *sites = json_array(), *incl = NULL,
           *norm = NULL, *c;
    struct stats_cohort *check = NULL;
    unsigned cats = CONSENT_DEMOGRAPHICS;
    size_t i;

    svc_v_init(&v, NULL);
    if (!ids || !texts || !sites)
        goto out;
    if (svc_ctgov_read(req->body, &g, field, msg) < 0) {
        svc_problem_field(resp, 422, field, msg);
        goto out;
    }
    check_len(&v, g.title, TITLE_MAX, "protocolSection.identificationModule.briefTitle");
    check_len(&v, g.summary, SUMMARY_MAX, "protocolSection.descriptionModule.briefSummary");
    check_len(&v, g.sponsor, SPONSOR_MAX,
              "protocolSection.sponsorCollaboratorsModule.leadSponsor.name");
    check_len(&v, g.eligibility, ELIGIBILITY_MAX,
              "protocolSection.eligibilityModule.eligibilityCriteria");
    if (json_array_size(g.conditions) > SVC_TRIAL_CONDITIONS_TEXT_MAX)
        svc_v_error(&v, conds_path, "must list at most %d conditions",
                    SVC_TRIAL_CONDITIONS_TEXT_MAX);
    json_array_foreach(g.conditions, i, c)
    {
        char path[96];
        snprintf(path, sizeof(path), "%s[%zu]", conds_path, i);
        if (svc_v_failed(&v))
            break;
        if (!json_is_string(c))
            continue;
        check_len(&v, json_string_value(c), CONDITION_TEXT_MAX, path);
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    /* Conditions the catalog knows become the trial's conditions; the rest stay as text. */
    json_array_foreach(g.conditions, i, c)
    {
        const char *name = json_string_value(c);
        bool dup = false;
        int m;
        if (!name || !name[0])
            continue;
        if ((m = svc_condition_match(req->db, name, id)) < 0) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        for (size_t k = 0; m == 1 && k < json_array_size(ids) && !dup; k++)
            dup = strcmp(json_string_value(json_array_get(ids, k)), id) == 0;
        if (m == 1 && dup)
            continue;
        if (m == 1 && json_array_size(ids) < SVC_TRIAL_CONDITIONS_MAX) {
            if (json_array_append_new(ids, json_string(id)) < 0)
                goto out;
        } else if (json_array_append(texts, c) < 0) {
            goto out;
        }
    }
    for (i = 0; i < g.ncountries; i++)
        if (json_array_append_new(sites, json_pack("{s:s}", "country", g.countries[i])) < 0)
            goto out;
    if (!(incl = ctgov_inclusion(&g, ids)))
        goto out;
    /* The generated criteria must be a valid cohort like any other. */
    if (!(check = stats_cohort_parse(incl, "inclusion", svc_research_catalog, &cat, NULL))) {
        if (cat.failed)
            svc_problem_db(resp, req->db);
        goto out;
    }
    if (g.healthy_volunteers != 1 && json_array_size(ids) > 0)
        cats |= CONSENT_CONDITIONS;
    norm = json_pack("{s:s, s:s, s:s?, s:s, s:b, s:b, s:O, s:O, s:O, s:O, s:i, s:s?}", "title",
                     g.title, "summary", g.summary ? g.summary : "", "nct_id", g.nct_id, "sponsor",
                     g.sponsor, "commercial", g.commercial, "organisation_for_profit", g.commercial,
                     "conditions", ids, "conditions_text", texts, "sites", sites, "inclusion", incl,
                     "categories", (int)cats, "eligibility_text", g.eligibility);
    if (!norm || (g.healthy_volunteers >= 0 &&
                  json_object_set_new(norm, "healthy_volunteers",
                                      json_boolean(g.healthy_volunteers == 1)) < 0))
        goto out;
    insert_trial(req, resp, norm, "ctgov");
out:
    stats_cohort_free(check);
    json_decref(ids);
    json_decref(texts);
    json_decref(sites);
    json_decref(incl);
    json_decref(norm);
    svc_v_free(&v);
}

/* ---- feasibility, invitations and responses (coordinator) ---- */

/* The caller's trial req->params[0], or NULL with 404 / 503 set. */
static struct svc_trial *own_trial(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_trial *t = NULL;
    int rc;

    if (!svc_is_uuid(req->params[0])) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        return NULL;
    }
    rc = svc_trial_load(req->db, req->params[0], req->who.account_id, false, &t);
    if (rc == 0)
        svc_problem(resp, 404, NOT_FOUND, NULL);
    else if (rc < 0)
        svc_problem_db(resp, req->db);
    return t;
}

/* SHA-256 of the trial's query text with a kind prefix and, for feasibility, the epsilon and the
 * site countries (both shape the answer). Returns 0 or -1 (out of memory). */
static int query_hash(const struct svc_trial *t, const char *kind, double epsilon, char out[65])
{
    char *text = svc_trial_query_text(t), *buf = NULL;
    char sites[3 * SVC_TRIAL_SITES_MAX + 1] = "";
    int rc = -1;
    for (size_t i = 0; i < t->ncountries; i++) {
        strcat(sites, t->countries[i]);
        strcat(sites, ",");
    }
    if (text && asprintf(&buf, "%s\n%s\n%.3f\n%s", kind, text, epsilon, sites) >= 0) {
        svc_sha256_hex(buf, strlen(buf), out);
        rc = 0;
    } else {
        buf = NULL;
    }
    free(buf);
    free(text);
    return rc;
}

/* Audit a release with its epsilon and query hash. Returns 0 or -1. */
static int audit_release(struct svc_req *req, const char *action, const char *trial_id,
                         double epsilon, const char *hash)
{
    json_t *d = json_pack("{s:f, s:s}", "epsilon", epsilon, "query_hash", hash);
    int rc = d ? svc_audit(req, action, "trial", trial_id, d) : -1;
    json_decref(d);
    return rc;
}

static const char *const BUDGET_SPENT =
    "the trial's privacy budget cannot cover this; nothing was released";

/* Add the cost fields to a feasibility answer. Returns 0 or -1. */
static int feasibility_costs(json_t *o, bool cached, double charged, double left)
{
    return json_object_set_new(o, "cached", json_boolean(cached)) < 0 ||
                   json_object_set_new(o, "epsilon_charged", json_real(charged)) < 0 ||
                   json_object_set_new(o, "epsilon_remaining",
                                       json_real(round(left * 1000.0) / 1000.0)) < 0
               ? -1
               : 0;
}

void h_trial_feasibility(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"epsilon", NULL};
    struct svc_v v;
    struct svc_trial *t = NULL;
    struct stats_raw raw[SVC_TRIAL_FEASIBILITY_MEASURES];
    double eps = SVC_TRIAL_EPSILON_DEFAULT, left = 0, cost;
    uint64_t num, den;
    char hash[65], version[24];
    json_t *result = NULL;
    char *text = NULL;
    PGresult *cur = NULL, *put = NULL;
    int64_t now = (int64_t)time(NULL);
    int rc;

    for (int i = 0; i < SVC_TRIAL_FEASIBILITY_MEASURES; i++)
        stats_raw_init(&raw[i]);
    svc_v_init(&v, NULL);
    if (!(t = own_trial(req, resp)))
        goto out;
    if (req->body) {
        svc_v_only(&v, req->body, fields);
        if (svc_v_num(&v, req->body, "epsilon", false, 0.01, 1.0, &eps) == SVC_V_OK &&
            stats_epsilon_rational(eps, &num, &den) < 0)
            svc_v_error(&v, "epsilon", "must have at most 3 decimals");
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (strcmp(t->status, "closed") == 0) {
        svc_problem(resp, 409, "the trial is closed", NULL);
        goto out;
    }
    if (!t->approved) {
        svc_problem(resp, 409, "the trial needs an admin's approval (not expired) first", NULL);
        goto out;
    }
    cost = eps * SVC_TRIAL_FEASIBILITY_MEASURES;
    if (query_hash(t, "feasibility", eps, hash) < 0)
        goto out;
    /* The data version is read before computing, so a cached answer is never newer than it. */
    if (svc_research_data_version(req->db, version) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    const char *cparams[] = {t->id, hash, version};
    cur = db_prep(req->db, "trial_feasibility_cached",
                  "SELECT (t.epsilon_budget - t.epsilon_spent)::text, c.body::text FROM trial t "
                  "LEFT JOIN trial_feasibility_cache c ON c.trial_id = t.id AND c.query_hash = $2 "
                  "AND c.data_version = $3::bigint AND cache_still_valid(c.at) WHERE t.id = $1",
                  3, cparams);
    if (!cur || PQntuples(cur) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!PQgetisnull(cur, 0, 1)) {
        /* The same question about the same data: the same answer, at no cost. */
        if (!(result = json_loads(PQgetvalue(cur, 0, 1), 0, NULL)) ||
            feasibility_costs(result, true, 0, strtod(PQgetvalue(cur, 0, 0), NULL)) < 0)
            goto out;
        if (audit_release(req, "trial.feasibility", t->id, 0, hash) < 0) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        svc_json(resp, 200, result);
        result = NULL;
        goto out;
    }
    rc = svc_trial_charge(req->db, t->id, "feasibility", hash, cost, &left);
    if (rc <= 0) {
        if (rc == 0)
            svc_problem(resp, 403, BUDGET_SPENT, NULL);
        else
            svc_problem_db(resp, req->db);
        goto out;
    }
    if (svc_research_session(req->db) < 0 ||
        svc_trial_feasibility_raw(req->db, t, now, true, raw) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(result = svc_trial_feasibility_release(t, raw, stats_mechanism_laplace(), eps, now)) ||
        !(text = json_dumps(result, JSON_COMPACT)))
        goto out;
    const char *pparams[] = {t->id, hash, version, text};
    put = db_prep(req->db, "trial_feasibility_put",
                  "INSERT INTO trial_feasibility_cache (trial_id, query_hash, data_version, body) "
                  "VALUES ($1, $2, $3::bigint, $4::jsonb) ON CONFLICT (trial_id, query_hash) DO "
                  "UPDATE SET data_version = EXCLUDED.data_version, body = EXCLUDED.body, "
                  "at = now()",
                  4, pparams);
    if (!put || audit_release(req, "trial.feasibility", t->id, cost, hash) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (feasibility_costs(result, false, cost, left) < 0)
        goto out;
    svc_json(resp, 200, result);
    result = NULL;
out:
    json_decref(result);
    free(text);
    PQclear(cur);
    PQclear(put);
    for (int i = 0; i < SVC_TRIAL_FEASIBILITY_MEASURES; i++)
        stats_raw_free(&raw[i]);
    svc_trial_free(t);
    svc_v_free(&v);
}

void h_trial_invite(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"count", "message", NULL};
    struct svc_v v;
    struct svc_trial *t = NULL;
    long long count = 0;
    const char *message = NULL;
    char hash[65];
    int64_t created = 0, noisy;
    double left = 0;
    int rc;

    svc_v_init(&v, NULL);
    if (!(t = own_trial(req, resp)))
        goto out;
    svc_v_only(&v, req->body, fields);
    svc_v_int(&v, req->body, "count", true, 1, SVC_TRIAL_INVITE_MAX, &count);
    svc_v_str(&v, req->body, "message", false, 1, MESSAGE_MAX, &message);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (strcmp(t->status, "recruiting") != 0) {
        svc_problem(resp, 409, "invitations can be sent only while the trial is recruiting", NULL);
        goto out;
    }
    if (!t->approved) {
        svc_problem(resp, 409, "the trial's approval has expired", NULL);
        goto out;
    }
    if (query_hash(t, "invitations", SVC_TRIAL_INVITE_EPSILON, hash) < 0)
        goto out;
    rc = svc_trial_charge(req->db, t->id, "invitations", hash, SVC_TRIAL_INVITE_EPSILON, &left);
    if (rc <= 0) {
        if (rc == 0)
            svc_problem(resp, 403, BUDGET_SPENT, NULL);
        else
            svc_problem_db(resp, req->db);
        goto out;
    }
    if (svc_trial_invite(req->db, t, (int64_t)time(NULL), (int)count, message,
                         svc_cfg.invitations_per_month, stats_rng_csprng(), &created) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    /* The exact number would tell the coordinator how many members match. */
    if (stats_mechanism_noisy(stats_mechanism_laplace(), created, 1, SVC_TRIAL_INVITE_EPSILON,
                              &noisy) < 0)
        goto out;
    if (audit_release(req, "trial.invite", t->id, SVC_TRIAL_INVITE_EPSILON, hash) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200,
             json_pack("{s:o, s:f, s:f}", "invited", stats_release_count(noisy), "epsilon_charged",
                       SVC_TRIAL_INVITE_EPSILON, "epsilon_remaining", left));
out:
    svc_trial_free(t);
    svc_v_free(&v);
}

void h_trial_candidates(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    PGresult *own = NULL, *r = NULL;
    json_t *items = NULL;
    char lim[16], off[16];

    svc_v_init(&v, NULL);
    if (!(own = own_trial_row(req, resp, false)))
        goto out;
    snprintf(lim, sizeof(lim), "%d", query_int(req, &v, "limit", LIST_DEFAULT, 1, LIST_MAX));
    snprintf(off, sizeof(off), "%d", query_int(req, &v, "offset", 0, 0, OFFSET_MAX));
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *params[] = {req->params[0], lim, off};
    r = db_prep(
        req->db, "trial_candidates",
        "SELECT candidate_id, shared::text, " REC_TS(
            "responded_at") " FROM "
                            "trial_invitation WHERE trial_id = $1 AND status = 'accepted' "
                            "ORDER BY responded_at, candidate_id LIMIT $2::int OFFSET $3::int",
        3, params);
    if (!r || !(items = json_array())) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++)
        if (json_array_append_new(items, json_pack("{s:s, s:o, s:o}", "candidate_id",
                                                   PQgetvalue(r, i, 0), "shared", json_col(r, i, 1),
                                                   "accepted_at", rec_time_json(r, i, 2))) < 0)
            goto out;
    svc_json(resp, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(own);
    PQclear(r);
    svc_v_free(&v);
}

void h_trial_responses(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_trial_responses counts;
    PGresult *cur = NULL, *r = NULL;
    json_t *body = NULL;
    char *text = NULL, hash[65], *hashed = NULL;
    double eps = SVC_TRIAL_RESPONSES_EPSILON, left = 0;
    int rc;

    if (!svc_is_uuid(req->params[0])) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        goto out;
    }
    /* The lock makes concurrent requests for one data version pay once. */
    const char *params[] = {req->params[0], req->who.account_id};
    cur = db_prep(req->db, "trial_responses_cur",
                  "SELECT t.invitation_version, r.invitation_version, r.body::text FROM trial t "
                  "LEFT JOIN trial_response_release r ON r.trial_id = t.id "
                  "WHERE t.id = $1 AND t.coordinator_id = $2 FOR UPDATE OF t",
                  2, params);
    if (!cur) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(cur) != 1) {
        svc_problem(resp, 404, NOT_FOUND, NULL);
        goto out;
    }
    if (!PQgetisnull(cur, 0, 1) && strcmp(PQgetvalue(cur, 0, 0), PQgetvalue(cur, 0, 1)) == 0) {
        svc_json(resp, 200, json_col(cur, 0, 2));
        goto out;
    }
    /* A new data version: new noise, paid once. invited and the status cells (a partition) each
     * change by one when a member changes, so the release costs 2 * eps. */
    if (asprintf(&hashed, "responses\n%s\n%s", req->params[0], PQgetvalue(cur, 0, 0)) < 0) {
        hashed = NULL;
        goto out;
    }
    svc_sha256_hex(hashed, strlen(hashed), hash);
    rc = svc_trial_charge(req->db, req->params[0], "responses", hash, 2 * eps, &left);
    if (rc <= 0) {
        if (rc == 0)
            svc_problem(resp, 403, BUDGET_SPENT, NULL);
        else
            svc_problem_db(resp, req->db);
        goto out;
    }
    if (svc_trial_response_counts(req->db, req->params[0], &counts) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(body = svc_trial_responses_release(&counts, stats_mechanism_laplace(), eps)) ||
        !(text = json_dumps(body, JSON_COMPACT)))
        goto out;
    const char *put_params[] = {req->params[0], PQgetvalue(cur, 0, 0), text};
    r = db_prep(req->db, "trial_responses_put",
                "INSERT INTO trial_response_release (trial_id, invitation_version, body) "
                "VALUES ($1, $2::bigint, $3::jsonb) ON CONFLICT (trial_id) DO UPDATE SET "
                "invitation_version = EXCLUDED.invitation_version, body = EXCLUDED.body, "
                "released_at = now()",
                3, put_params);
    if (!r || audit_release(req, "trial.responses", req->params[0], 2 * eps, hash) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, body);
    body = NULL;
out:
    json_decref(body);
    free(text);
    free(hashed);
    PQclear(cur);
    PQclear(r);
}

/* ---- members ---- */

/* clang-format off */
#define INVITATION_SELECT                                                                          \
    "SELECT i.id, t.title, t.summary, t.sponsor, t.nct_id, t.contact_message, i.message, "         \
    "i.status, t.inclusion::text, " REC_TS("i.created_at") ", " REC_TS("i.responded_at") ", "      \
    "i.shared::text FROM trial_invitation i JOIN trial t ON t.id = i.trial_id "
/* clang-format on */

static json_t *invitation_json(PGresult *r, int row)
{
    char *why = svc_trial_describe(PQgetvalue(r, row, 8));
    json_t *o =
        json_pack("{s:s, s:{s:s, s:s, s:s, s:o, s:s}, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
                  PQgetvalue(r, row, 0), "trial", "title", PQgetvalue(r, row, 1), "summary",
                  PQgetvalue(r, row, 2), "sponsor", PQgetvalue(r, row, 3), "nct_id",
                  text_or_null(r, row, 4), "contact_message", PQgetvalue(r, row, 5), "message",
                  text_or_null(r, row, 6), "status", PQgetvalue(r, row, 7), "why",
                  why ? json_string(why) : json_null(), "created_at", rec_time_json(r, row, 9),
                  "responded_at", rec_time_json(r, row, 10), "shared", json_col(r, row, 11));
    free(why);
    return o;
}

void h_my_invitations(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL;
    char lim[16], off[16];

    svc_v_init(&v, NULL);
    snprintf(lim, sizeof(lim), "%d", query_int(req, &v, "limit", LIST_DEFAULT, 1, LIST_MAX));
    snprintf(off, sizeof(off), "%d", query_int(req, &v, "offset", 0, 0, OFFSET_MAX));
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *params[] = {req->who.account_id, lim, off};
    r = db_prep(req->db, "trial_my_invitations",
                INVITATION_SELECT "WHERE i.member_id = $1 ORDER BY i.created_at DESC, i.id "
                                  "LIMIT $2::int OFFSET $3::int",
                3, params);
    if (!r || !(items = json_array())) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++)
        if (json_array_append_new(items, invitation_json(r, i)) < 0)
            goto out;
    svc_json(resp, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

static const char *const share_fields[] = {"email", "display_name", "country", "birth_year", NULL};

/* Accept (with the fields to share) or decline the caller's pending invitation. */
static void answer(struct svc_req *req, struct svc_resp *resp, bool accept)
{
    static const char *const fields[] = {"share", NULL};
    struct svc_v v;
    PGresult *cur = NULL, *r = NULL, *row = NULL;
    json_t *shared = NULL, *share, *f;
    char *text = NULL;
    bool chosen[4] = {false};
    size_t i;

    svc_v_init(&v, NULL);
    if (!svc_is_uuid(req->params[0])) {
        svc_problem(resp, 404, NO_INVITATION, NULL);
        goto out;
    }
    if (accept) {
        svc_v_only(&v, req->body, fields);
        share = json_object_get(req->body, "share");
        if (!json_is_array(share) || json_array_size(share) > 4)
            svc_v_error(&v, "share",
                        "must be an array of fields to share: email, display_name, "
                        "country, birth_year (may be empty)");
        json_array_foreach(share, i, f)
        {
            char field[48];
            int k = -1;
            for (int j = 0; json_is_string(f) && share_fields[j]; j++)
                if (strcmp(json_string_value(f), share_fields[j]) == 0)
                    k = j;
            snprintf(field, sizeof(field), "share[%zu]", i);
            if (i >= 4)
                break;
            if (k < 0)
                svc_v_error(&v, field, "must be one of email, display_name, country, birth_year");
            else if (chosen[k])
                svc_v_error(&v, field, "is listed twice");
            else
                chosen[k] = true;
        }
    } else if (req->body && json_object_size(req->body) > 0) {
        svc_v_only(&v, req->body, (const char *const[]){NULL});
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *params[] = {req->who.account_id, req->params[0]};
    cur = db_prep(req->db, "trial_invitation_cur",
                  "SELECT i.status, a.email, a.display_name, p.country::text, p.birth_year "
                  "FROM trial_invitation i JOIN account a ON a.id = i.member_id "
                  "LEFT JOIN member_profile p ON p.member_id = i.member_id "
                  "WHERE i.member_id = $1 AND i.id = $2 FOR UPDATE OF i",
                  2, params);
    if (!cur) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(cur) != 1) {
        svc_problem(resp, 404, NO_INVITATION, NULL);
        goto out;
    }
    if (strcmp(PQgetvalue(cur, 0, 0), "pending") != 0) {
        svc_problem(resp, 409, "only a pending invitation can be answered", NULL);
        goto out;
    }
    if (accept) {
        /* The snapshot holds exactly the chosen fields, null where the member has no value. */
        if (!(shared = json_object()))
            goto out;
        for (int k = 0; k < 4; k++) {
            json_t *val;
            if (!chosen[k])
                continue;
            if (PQgetisnull(cur, 0, 1 + k))
                val = json_null();
            else if (k == 3)
                val = json_integer(atoi(PQgetvalue(cur, 0, 4)));
            else
                val = json_string(PQgetvalue(cur, 0, 1 + k));
            if (!val || json_object_set_new(shared, share_fields[k], val) < 0)
                goto out;
        }
        if (!(text = json_dumps(shared, JSON_COMPACT)))
            goto out;
    }
    const char *upd[] = {req->who.account_id, req->params[0], accept ? "accepted" : "declined",
                         text};
    r = db_prep(req->db, "trial_invitation_answer",
                "UPDATE trial_invitation SET status = $3, shared = $4::jsonb, responded_at = now() "
                "WHERE member_id = $1 AND id = $2",
                4, upd);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    row = db_prep(req->db, "trial_my_invitation",
                  INVITATION_SELECT "WHERE i.member_id = $1 AND i.id = $2", 2, params);
    if (!row || PQntuples(row) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, invitation_json(row, 0));
out:
    json_decref(shared);
    free(text);
    PQclear(cur);
    PQclear(r);
    PQclear(row);
    svc_v_free(&v);
}

void h_my_invitation_accept(struct svc_req *req, struct svc_resp *resp)
{
    answer(req, resp, true);
}

void h_my_invitation_decline(struct svc_req *req, struct svc_resp *resp)
{
    answer(req, resp, false);
}
