/* End-to-end: the research API on the real server and database. Study lifecycle and isolation,
 * every measure's documented shape, 422 paths for bad cohorts and measures, the privacy budget
 * (exhaustion -> 403 with nothing released; 20 concurrent queries never overspend), cached repeats,
 * consent filtering at query time, data uses, the audit row, and that a cohort of nobody and one of
 * five members answer in the same shape.
 *
 * Members are made directly in SQL (account, profile, research consent); each test selects its own
 * members by a postal prefix nobody else uses, so tests do not see each other's data. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static json_t *load(const char *text)
{
    char buf[16384];
    size_t n = strlen(text);
    json_error_t e;
    ck_assert_uint_lt(n, sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_t *j = json_loads(buf, 0, &e);
    ck_assert_msg(j != NULL, "test JSON does not parse (%s): %s", e.text, buf);
    return j;
}

static bool names_field(const struct th_resp *r, const char *field)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r->json, "errors"), i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f && strcmp(f, field) == 0)
            return true;
    }
    return false;
}

static void assert_names(const struct th_resp *r, const char *field)
{
    ck_assert_msg(names_field(r, field), "%s not named in %s", field, r->body);
}

static void exec_sql(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* n members with a profile in postal area `area` (3 characters) and an open research permit for
 * every category; ids into ids[] (room for n) when not NULL. Each gets fatigue entries (severity
 * 3..8) over the last 20 days, and metformin from 30 days ago with an evaluation naming nausea. */
static void make_members(const char *area, int n, char ids[][37])
{
    char sn[16], tag[64];
    snprintf(sn, sizeof(sn), "%d", n);
    snprintf(tag, sizeof(tag), "%s.%d", area, (int)getpid());
    const char *p[] = {tag, sn, area};
    PGconn *c = th_db();
    PGresult *r = PQexecParams(
        c,
        "WITH a AS (INSERT INTO account (email, display_name, role, password_hash) "
        "SELECT 'm' || g || '.' || $1 || '@example.org', 'M', 'member', 'x' "
        "FROM generate_series(1, $2::int) g RETURNING id), "
        "p AS (INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, "
        "postal_prefix) SELECT id, 1975, 'female', 'GB', $3 FROM a), "
        "c AS (INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, policy_version) SELECT id, gen_random_uuid(), 1, 'permit', "
        "'research', "
        "31, date_trunc('second', now()) - interval '1 day', 'active', 1 FROM a) "
        "SELECT id FROM a",
        3, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "members: %s", PQerrorMessage(c));
    ck_assert_int_eq(PQntuples(r), n);
    for (int i = 0; ids && i < n; i++)
        snprintf(ids[i], 37, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    const char *q[] = {area};
    exec_sql(c,
             "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
             "SELECT p.member_id, 'fatigue', 3 + (d % 6), now() - make_interval(days => d) "
             "FROM member_profile p, generate_series(1, 20) d WHERE p.postal_prefix = $1",
             1, q);
    exec_sql(c,
             "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
             "SELECT member_id, 'metformin', 'as_needed', current_date - 30 FROM member_profile "
             "WHERE postal_prefix = $1",
             1, q);
    exec_sql(c,
             "INSERT INTO medication_evaluation (member_id, medication_ref, evaluated_on, "
             "effectiveness, adherence) SELECT m.member_id, m.id, current_date - 2, 'moderate', "
             "'usually' FROM medication m JOIN member_profile p ON p.member_id = m.member_id "
             "WHERE p.postal_prefix = $1",
             1, q);
    exec_sql(c,
             "INSERT INTO evaluation_side_effect (member_id, evaluation_ref, ordinal, symptom_id, "
             "severity) SELECT v.member_id, v.id, 0, 'nausea', 'mild' FROM medication_evaluation v "
             "JOIN member_profile p ON p.member_id = v.member_id WHERE p.postal_prefix = $1",
             1, q);
    PQfinish(c);
}

/* Profile and research permit for an existing (API) account. */
static void make_member_of(const char *id, const char *area)
{
    const char *p[] = {id, area};
    PGconn *c = th_db();
    exec_sql(c,
             "INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, "
             "postal_prefix) VALUES ($1, 1980, 'male', 'IE', $2)",
             2, p);
    exec_sql(c,
             "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
             "valid_from, status, policy_version) VALUES ($1, gen_random_uuid(), 1, 'permit', "
             "'research', 31, date_trunc('second', now()) - interval '1 day', 'active', 1)",
             1, p);
    PQfinish(c);
}

static char admin_token[64];

static const char *admin(void)
{
    if (!admin_token[0])
        th_account("admin", admin_token, NULL);
    return admin_token;
}

/* A study body: general research over every category unless told otherwise. */
static json_t *study_body(const char *title, const char *categories)
{
    char text[512];
    snprintf(text, sizeof(text),
             "{'title':'%s','description':'What changes after starting treatment',"
             "'purpose':'general_research','commercial':false,'organisation_for_profit':false,"
             "'categories':%s,'irb_reference':'IRB-2026-17'}",
             title,
             categories ? categories
                        : "['demographics','conditions','symptoms',"
                          "'medications','goals']");
    return load(text);
}

/* Create and approve a study with the given budget; the id into id. */
static void approved_study(const char *token, const char *budget, const char *categories,
                           char id[37])
{
    struct th_resp r;
    char path[128], body[128];
    th_reqj("POST", "/v1/research/studies", token, study_body("Fatigue study", categories), &r);
    th_assert_status(&r, 201);
    snprintf(id, 37, "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/approve", id);
    snprintf(body, sizeof(body), "{\"epsilon_budget\":%s,\"expires_on\":\"2099-12-31\"}", budget);
    th_req("POST", path, admin(), body, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}

/* POST a query; text uses ' for ". */
static long query(const char *token, const char *study, const char *text, struct th_resp *r)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/research/studies/%s/queries", study);
    return th_reqj("POST", path, token, load(text), r);
}

static double spent(const char *study)
{
    const char *p[] = {study};
    return (double)th_sql_long("SELECT (epsilon_spent * 1000)::bigint FROM study WHERE id = $1", 1,
                               p) /
           1000.0;
}

static bool is_suppressed(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_true(json_object_get(v, "suppressed"));
}

/* A released count: a multiple of 5 that is at least 15, or {"suppressed": true}. */
static void assert_count(const json_t *v)
{
    if (is_suppressed(v))
        return;
    ck_assert_msg(json_is_integer(v), "not a released count");
    json_int_t n = json_integer_value(v);
    ck_assert_msg(n >= 15 && n % 5 == 0, "released count %lld", (long long)n);
}

static void assert_stat(const json_t *v)
{
    ck_assert_msg(is_suppressed(v) || json_is_number(v), "not a statistic");
}

static void assert_ci(const json_t *v)
{
    ck_assert_msg(is_suppressed(v) || (json_is_array(v) && json_array_size(v) == 2 &&
                                       json_is_number(json_array_get(v, 0)) &&
                                       json_is_number(json_array_get(v, 1))),
                  "not an interval");
}

static void assert_cells(const json_t *cells, size_t n)
{
    ck_assert_uint_eq(json_array_size(cells), n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cells, i);
        ck_assert(json_is_string(json_object_get(c, "value")));
        assert_count(json_object_get(c, "count"));
        ck_assert_uint_eq(json_object_size(c), 2);
    }
}

/* ---- tests ---- */

START_TEST(study_lifecycle)
{
    char ra[64], ra_id[37], rb[64], member[64], id[37], other[37], path[160];
    struct th_resp r;
    th_account("researcher", ra, ra_id);
    th_account("researcher", rb, NULL);
    th_account("member", member, NULL);

    /* Validation: every bad field is named, nothing is stored. */
    th_reqj("POST", "/v1/research/studies", ra,
            load("{'title':'','description':'d','purpose':'disease_specific','commercial':1,"
                 "'organisation_for_profit':false,'categories':['symptoms','moods'],'extra':1}"),
            &r);
    th_assert_status(&r, 422);
    assert_names(&r, "title");
    assert_names(&r, "conditions");
    assert_names(&r, "commercial");
    assert_names(&r, "categories[1]");
    assert_names(&r, "extra");
    th_resp_free(&r);
    th_reqj("POST", "/v1/research/studies", ra,
            load("{'title':'t','description':'d','purpose':'disease_specific','commercial':false,"
                 "'organisation_for_profit':false,'categories':['symptoms'],"
                 "'conditions':['multiple_sclerosis','no_such_condition','multiple_sclerosis']}"),
            &r);
    th_assert_status(&r, 422);
    assert_names(&r, "conditions[1]");
    assert_names(&r, "conditions[2]");
    ck_assert(!names_field(&r, "conditions[0]"));
    th_resp_free(&r);
    th_reqj("POST", "/v1/research/studies", ra,
            load("{'title':'t','description':'d','purpose':'general_research','commercial':false,"
                 "'organisation_for_profit':false,'categories':[],'conditions':['migraine']}"),
            &r);
    th_assert_status(&r, 422);
    assert_names(&r, "conditions");
    assert_names(&r, "categories");
    th_resp_free(&r);
    const char *pr[] = {ra_id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM study WHERE researcher_id = $1", 1, pr), 0);

    /* Members may not create studies. */
    th_reqj("POST", "/v1/research/studies", member, study_body("Nope", NULL), &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);

    /* Create: pending, echoed back. */
    th_reqj("POST", "/v1/research/studies", ra,
            load("{'title':'MS fatigue','description':'Fatigue after starting drug X',"
                 "'purpose':'disease_specific','conditions':['multiple_sclerosis'],"
                 "'commercial':true,'organisation_for_profit':false,"
                 "'categories':['symptoms','demographics']}"),
            &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "pending");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "purpose")), "disease_specific");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "conditions"), 0)),
                     "multiple_sclerosis");
    ck_assert(json_is_true(json_object_get(r.json, "commercial")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "categories"), 0)),
                     "demographics");
    ck_assert(json_is_null(json_object_get(r.json, "epsilon_budget")));
    ck_assert(json_is_null(json_object_get(r.json, "irb_reference")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    th_reqj("POST", "/v1/research/studies", ra, study_body("Second", NULL), &r);
    th_assert_status(&r, 201);
    snprintf(other, sizeof(other), "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);

    /* Own only: B sees none of A's studies. */
    th_req("GET", "/v1/research/studies", ra, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "items"), 0), "id")),
                     other);
    th_resp_free(&r);
    th_req("GET", "/v1/research/studies?limit=1", ra, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    char url[512];
    snprintf(url, sizeof(url), "/v1/research/studies?limit=1&cursor=%s",
             json_string_value(json_object_get(r.json, "next_cursor")));
    th_resp_free(&r);
    th_req("GET", url, ra, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "items"), 0), "id")),
                     id);
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    th_resp_free(&r);
    th_req("GET", "/v1/research/studies?cursor=bm9wZQ", ra, NULL, NULL, &r);
    th_assert_status(&r, 422);
    assert_names(&r, "cursor");
    th_resp_free(&r);
    th_req("GET", "/v1/research/studies", rb, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/research/studies/%s", id);
    th_req("GET", path, rb, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("GET", path, ra, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "title")), "MS fatigue");
    th_resp_free(&r);
    th_req("GET", "/v1/research/studies/not-a-uuid", ra, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);

    /* Pending: cannot be queried. */
    th_reqj("POST", "/v1/research/studies/x/queries", ra, load("{'cohort':{},'measures':[]}"), &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    query(ra, id, "{'cohort':{'sex_at_birth':'female'},'measures':[{'type':'count'}]}", &r);
    th_assert_status(&r, 409);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r.json, "detail")), "pending"));
    th_resp_free(&r);
    query(rb, id, "{'cohort':{'sex_at_birth':'female'},'measures':[{'type':'count'}]}", &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);

    /* Admin: list by status, validate, approve, reject. */
    th_req("GET", "/v1/admin/studies?status=pending&limit=500", admin(), NULL, NULL, &r);
    th_assert_status(&r, 200);
    {
        json_t *e;
        size_t i, mine = 0;
        json_array_foreach(json_object_get(r.json, "items"), i, e)
        {
            ck_assert_str_eq(json_string_value(json_object_get(e, "status")), "pending");
            mine += strcmp(json_string_value(json_object_get(e, "researcher_id")), ra_id) == 0;
        }
        ck_assert_uint_eq(mine, 2);
    }
    th_resp_free(&r);
    th_req("GET", "/v1/admin/studies?status=maybe", admin(), NULL, NULL, &r);
    th_assert_status(&r, 422);
    assert_names(&r, "status");
    th_resp_free(&r);
    th_req("GET", "/v1/admin/studies", ra, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/approve", id);
    th_req("POST", path, admin(), "{\"epsilon_budget\":25,\"expires_on\":\"2001-01-01\"}", NULL,
           &r);
    th_assert_status(&r, 422);
    assert_names(&r, "epsilon_budget");
    assert_names(&r, "expires_on");
    th_resp_free(&r);
    th_req("POST", path, admin(), "{\"epsilon_budget\":1.2345,\"expires_on\":\"2099-01-01\"}", NULL,
           &r);
    th_assert_status(&r, 422);
    assert_names(&r, "epsilon_budget");
    th_resp_free(&r);
    th_req("POST", path, ra, "{\"expires_on\":\"2099-01-01\"}", NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("POST", path, admin(), "{\"expires_on\":\"2099-01-01\"}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "approved");
    ck_assert(json_real_value(json_object_get(r.json, "epsilon_budget")) == 4.0);
    ck_assert(json_real_value(json_object_get(r.json, "epsilon_spent")) == 0.0);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "expires_on")), "2099-01-01");
    th_resp_free(&r);
    th_req("POST", path, admin(), "{\"expires_on\":\"2099-01-01\"}", NULL, &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/reject", other);
    th_req("POST", path, admin(), "{}", NULL, &r);
    th_assert_status(&r, 422);
    assert_names(&r, "reason");
    th_resp_free(&r);
    th_req("POST", path, admin(), "{\"reason\":\"No ethics approval\"}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "rejected");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "reject_reason")),
                     "No ethics approval");
    th_resp_free(&r);
    th_req("POST", "/v1/admin/studies/00000000-0000-0000-0000-000000000000/reject", admin(),
           "{\"reason\":\"x\"}", NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    query(ra, other, "{'cohort':{'sex_at_birth':'female'},'measures':[{'type':'count'}]}", &r);
    th_assert_status(&r, 409);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r.json, "detail")), "rejected"));
    th_resp_free(&r);

    /* Both decisions are audited. */
    const char *p[] = {id, other};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'study.approve' "
                                 "AND object_type = 'study' AND object_id = $1",
                                 1, p),
                     1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'study.reject' "
                                 "AND object_id = $1",
                                 1, p + 1),
                     1);

    /* Approved queries; expired does not. */
    query(ra, id, "{'cohort':{'sex_at_birth':'female'},'measures':[{'type':'count'}]}", &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    PGconn *c = th_db();
    exec_sql(c, "UPDATE study SET expires_on = (now() AT TIME ZONE 'UTC')::date WHERE id = $1", 1,
             p);
    PQfinish(c);
    query(ra, id, "{'cohort':{'sex_at_birth':'male'},'measures':[{'type':'count'}]}", &r);
    th_assert_status(&r, 409);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r.json, "detail")), "expired"));
    th_resp_free(&r);
}
END_TEST

START_TEST(every_measure_shape)
{
    char rt[64], id[37];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "20", NULL, id);
    make_members("S01", 40, NULL);

    query(rt, id,
          "{'cohort':{'postal_prefix':'S01'},'measures':["
          "{'type':'count','epsilon':1},"
          "{'type':'breakdown','by':'age_band'},"
          "{'type':'breakdown','by':'sex_at_birth','epsilon':0.5},"
          "{'type':'breakdown','by':'country'},"
          "{'type':'symptom_distribution','symptom':'fatigue','window_days':30},"
          "{'type':'symptom_trend','symptom':'fatigue','interval':'week','periods':4},"
          "{'type':'treatment_effect','medication':'metformin','symptom':'fatigue',"
          "'before_days':10,'after_days':20},"
          "{'type':'medication_outcomes','medication':'metformin'},"
          "{'type':'side_effect_signal','medication':'metformin','side_effect':'nausea'}]}",
          &r);
    th_assert_status(&r, 200);
    json_t *o = r.json;
    ck_assert_str_eq(json_string_value(json_object_get(o, "study_id")), id);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "query_hash"))), 64);
    ck_assert(json_is_false(json_object_get(o, "cached")));
    ck_assert(fabs(json_real_value(json_object_get(o, "epsilon")) - 2.2) < 1e-9);
    ck_assert(fabs(json_real_value(json_object_get(o, "epsilon_charged")) - 2.2) < 1e-9);
    ck_assert(fabs(json_real_value(json_object_get(o, "epsilon_remaining")) - 17.8) < 1e-9);
    ck_assert(json_is_string(json_object_get(o, "computed_at")));
    ck_assert(fabs(spent(id) - 2.2) < 1e-9);
    json_t *res = json_object_get(o, "results");
    ck_assert_uint_eq(json_array_size(res), 9);

    /* count: 40 members, epsilon 1 (scale 1): within a few of 40 after rounding to 5. */
    json_t *m = json_array_get(res, 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "type")), "count");
    ck_assert(json_real_value(json_object_get(m, "epsilon")) == 1.0);
    json_int_t n = json_integer_value(json_object_get(m, "count"));
    ck_assert_msg(n >= 30 && n <= 50 && n % 5 == 0, "count %lld", (long long)n);

    assert_cells(json_object_get(json_array_get(res, 1), "cells"), 11);
    ck_assert(json_is_integer(json_object_get(json_array_get(res, 1), "total")));
    assert_cells(json_object_get(json_array_get(res, 2), "cells"), 5);
    assert_cells(json_object_get(json_array_get(res, 3), "cells"), 251);

    m = json_array_get(res, 4);
    assert_count(json_object_get(m, "n"));
    static const char *const dist[] = {"mean", "sd", "median", "q1", "q3"};
    for (size_t i = 0; i < NELEM(dist); i++)
        assert_stat(json_object_get(m, dist[i]));
    assert_ci(json_object_get(m, "mean_ci95"));
    ck_assert_uint_eq(json_array_size(json_object_get(m, "histogram")), 11);
    ck_assert_ptr_null(json_object_get(m, "min"));
    ck_assert_ptr_null(json_object_get(m, "max"));

    m = json_array_get(res, 5);
    json_t *series = json_object_get(m, "series");
    ck_assert_uint_eq(json_array_size(series), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *p = json_array_get(series, i);
        ck_assert_int_eq(json_integer_value(json_object_get(p, "period")), (json_int_t)i);
        ck_assert(json_is_string(json_object_get(p, "start")));
        assert_count(json_object_get(p, "n"));
        assert_stat(json_object_get(p, "mean"));
        assert_ci(json_object_get(p, "ci95"));
    }
    assert_stat(json_object_get(m, "slope_per_period"));
    assert_ci(json_object_get(m, "slope_ci95"));

    m = json_array_get(res, 6);
    assert_count(json_object_get(m, "n"));
    assert_count(json_object_get(m, "improved"));
    assert_count(json_object_get(m, "worsened"));
    static const char *const treat[] = {"mean_change", "sd_change", "effect_size", "sign_test_p"};
    for (size_t i = 0; i < NELEM(treat); i++)
        assert_stat(json_object_get(m, treat[i]));
    assert_ci(json_object_get(m, "mean_change_ci95"));

    m = json_array_get(res, 7);
    assert_count(json_object_get(m, "n_evaluated"));
    assert_cells(json_object_get(m, "effectiveness"), 6);
    assert_cells(json_object_get(m, "adherence"), 5);
    assert_cells(json_object_get(m, "stop_reasons"), 7);
    json_t *se = json_object_get(m, "side_effects");
    ck_assert(json_array_size(se) <= 10);
    for (size_t i = 0; i < json_array_size(se); i++) {
        json_t *e = json_array_get(se, i);
        ck_assert(json_is_string(json_object_get(e, "symptom")));
        ck_assert(json_is_integer(json_object_get(e, "count")));
        assert_stat(json_object_get(e, "rate"));
        assert_ci(json_object_get(e, "ci95"));
    }

    m = json_array_get(res, 8);
    json_t *t = json_object_get(m, "table");
    static const char *const cells[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_count(json_object_get(t, cells[i]));
    static const char *const sig[] = {"prr", "ror", "chi2", "chi2_p"};
    for (size_t i = 0; i < NELEM(sig); i++)
        assert_stat(json_object_get(m, sig[i]));
    assert_ci(json_object_get(m, "prr_ci95"));
    assert_ci(json_object_get(m, "ror_ci95"));
    th_resp_free(&r);
}
END_TEST

START_TEST(bad_queries_name_paths)
{
    char rt[64], id[37], narrow[37];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "1", NULL, id);
    approved_study(rt, "1", "['demographics']", narrow);

    query(rt, id,
          "{'cohort':{'all':[{'age':{'min':40,'max':60}},{'sex_at_birth':'female'},"
          "{'symptom':{'symptom':'fatigue','min_severity':11}}]},"
          "'measures':[{'type':'count','foo':1},{'type':'breakdown','by':'zip'},"
          "{'type':'symptom_distribution','symptom':'unicorn','window_days':30,'epsilon':2}],"
          "'extra':true}",
          &r);
    th_assert_status(&r, 422);
    assert_names(&r, "cohort.all[2].symptom.min_severity");
    assert_names(&r, "measures[0].foo");
    assert_names(&r, "measures[1].by");
    assert_names(&r, "measures[2].symptom");
    assert_names(&r, "measures[2].epsilon");
    assert_names(&r, "extra");
    th_resp_free(&r);

    /* Nine levels of nesting, and 65 nodes. */
    query(rt, id,
          "{'cohort':{'not':{'not':{'not':{'not':{'not':{'not':{'not':{'not':"
          "{'sex_at_birth':'female'}}}}}}}}},'measures':[{'type':'count'}]}",
          &r);
    th_assert_status(&r, 422);
    ck_assert_ptr_nonnull(strstr(r.body, "cohort.not.not.not.not.not.not.not.not"));
    th_resp_free(&r);
    char big[8192] = "{'cohort':{'any':[";
    for (int i = 0; i < 4; i++) {
        strcat(big, i ? ",{'all':[" : "{'all':[");
        for (int j = 0; j < 16; j++)
            strcat(big, j ? ",{'sex_at_birth':'female'}" : "{'sex_at_birth':'female'}");
        strcat(big, "]}");
    }
    strcat(big, "]},'measures':[{'type':'count'}]}");
    query(rt, id, big, &r);
    th_assert_status(&r, 422);
    ck_assert_ptr_nonnull(strstr(r.body, "more than 64 nodes"));
    th_resp_free(&r);

    query(rt, id,
          "{'cohort':{'sex_at_birth':'female'},'measures':[{'type':'count'},{'type':'count'},"
          "{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'},"
          "{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'}]}",
          &r);
    th_assert_status(&r, 422);
    assert_names(&r, "measures");
    th_resp_free(&r);
    query(rt, id, "{'measures':[{'type':'count'}]}", &r);
    th_assert_status(&r, 422);
    assert_names(&r, "cohort");
    th_resp_free(&r);

    /* A study without symptoms consent cannot read symptoms, in the cohort or a measure. */
    query(rt, narrow,
          "{'cohort':{'all':[{'sex_at_birth':'female'},{'symptom':{'symptom':'fatigue'}}]},"
          "'measures':[{'type':'breakdown','by':'country'},"
          "{'type':'symptom_distribution','symptom':'fatigue','window_days':30}]}",
          &r);
    th_assert_status(&r, 422);
    assert_names(&r, "cohort.all[1].symptom");
    assert_names(&r, "measures[1].type");
    ck_assert(!names_field(&r, "measures[0].type"));
    th_resp_free(&r);

    /* Nothing was charged, nothing recorded. */
    ck_assert(spent(id) == 0.0);
    ck_assert(spent(narrow) == 0.0);
    const char *p[] = {id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM study_query WHERE study_id = $1", 1, p), 0);
}
END_TEST

START_TEST(budget_exhaustion)
{
    char rt[64], id[37], path[160];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "0.3", NULL, id);
    make_members("B01", 15, NULL);

    query(rt, id, "{'cohort':{'postal_prefix':'B01'},'measures':[{'type':'count','epsilon':0.2}]}",
          &r);
    th_assert_status(&r, 200);
    ck_assert(fabs(json_real_value(json_object_get(r.json, "epsilon_remaining")) - 0.1) < 1e-9);
    th_resp_free(&r);
    query(rt, id,
          "{'cohort':{'postal_prefix':'B01'},'measures':[{'type':'breakdown','by':'age_band',"
          "'epsilon':0.2}]}",
          &r);
    th_assert_status(&r, 403);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(r.json, "detail")), "privacy budget exhausted"));
    ck_assert_ptr_null(json_object_get(r.json, "results"));
    ck_assert_ptr_null(strstr(r.body, "cells"));
    th_resp_free(&r);
    ck_assert(fabs(spent(id) - 0.2) < 1e-9);

    /* What still fits is answered. */
    query(rt, id,
          "{'cohort':{'postal_prefix':'B01'},'measures':[{'type':'breakdown','by':'age_band',"
          "'epsilon':0.05},{'type':'count','epsilon':0.05}]}",
          &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    query(rt, id, "{'cohort':{'postal_prefix':'B01'},'measures':[{'type':'count','epsilon':0.01}]}",
          &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);

    snprintf(path, sizeof(path), "/v1/research/studies/%s/budget", id);
    th_req("GET", path, rt, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert(json_real_value(json_object_get(r.json, "epsilon_budget")) == 0.3);
    ck_assert(fabs(json_real_value(json_object_get(r.json, "epsilon_spent")) - 0.3) < 1e-9);
    ck_assert(json_real_value(json_object_get(r.json, "epsilon_remaining")) == 0.0);
    json_t *qs = json_object_get(r.json, "queries");
    ck_assert_uint_eq(json_array_size(qs), 2);
    ck_assert(fabs(json_real_value(json_object_get(json_array_get(qs, 0), "epsilon")) - 0.2) <
              1e-9);
    ck_assert(fabs(json_real_value(json_object_get(json_array_get(qs, 1), "epsilon")) - 0.1) <
              1e-9);
    ck_assert(json_is_false(json_object_get(json_array_get(qs, 1), "cached")));
    ck_assert_uint_eq(
        strlen(json_string_value(json_object_get(json_array_get(qs, 0), "query_hash"))), 64);
    ck_assert(json_is_string(json_object_get(json_array_get(qs, 0), "at")));
    th_resp_free(&r);

    /* Another researcher sees nothing of it. */
    char other[64];
    th_account("researcher", other, NULL);
    th_req("GET", path, other, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
}
END_TEST

START_TEST(concurrent_queries_never_overspend)
{
    char rt[64], id[37];
    pid_t kids[20];
    int ok = 0, refused = 0;
    th_account("researcher", rt, NULL);
    approved_study(rt, "0.5", NULL, id);
    make_members("C01", 12, NULL);

    for (int i = 0; i < 20; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            char text[256];
            struct th_resp r;
            /* Twenty different queries, so none is a cached repeat of another. */
            snprintf(text, sizeof(text),
                     "{'cohort':{'all':[{'postal_prefix':'C01'},{'age':{'min':%d}}]},"
                     "'measures':[{'type':'count','epsilon':0.1}]}",
                     i);
            long st = query(rt, id, text, &r);
            _exit(st == 200 ? 0 : st == 403 ? 3 : 9);
        }
    }
    for (int i = 0; i < 20; i++) {
        int st;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert(WIFEXITED(st));
        ok += WEXITSTATUS(st) == 0;
        refused += WEXITSTATUS(st) == 3;
    }
    ck_assert_int_eq(ok, 5);
    ck_assert_int_eq(refused, 15);
    ck_assert(fabs(spent(id) - 0.5) < 1e-9);
    const char *p[] = {id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM study_query WHERE study_id = $1", 1, p), 5);
    ck_assert_int_eq(th_sql_long("SELECT max(seq) FROM study_query WHERE study_id = $1", 1, p), 5);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'study.query' "
                                 "AND object_id = $1",
                                 1, p),
                     5);
}
END_TEST

START_TEST(cached_repeats)
{
    char rt[64], id[37], ids[120][37];
    struct th_resp a, b, c;
    th_account("researcher", rt, NULL);
    approved_study(rt, "5", NULL, id);
    make_members("K01", 120, ids);
    /* epsilon 1 on 120 members: the noisy mean is a fresh real number on every computation. */
    const char *text = "{'cohort':{'postal_prefix':'K01'},'measures':["
                       "{'type':'symptom_distribution','symptom':'fatigue','window_days':30,"
                       "'epsilon':1},{'type':'breakdown','by':'country'}]}";
    /* The same query spelled differently: keys reordered, default epsilon written out. */
    const char *same = "{'measures':[{'window_days':30,'type':'symptom_distribution',"
                       "'symptom':'fatigue','epsilon':1.0},{'by':'country','type':'breakdown',"
                       "'epsilon':0.1}],'cohort':{'postal_prefix':'k01'}}";

    query(rt, id, text, &a);
    th_assert_status(&a, 200);
    ck_assert(json_is_false(json_object_get(a.json, "cached")));
    query(rt, id, same, &b);
    th_assert_status(&b, 200);
    ck_assert(json_is_true(json_object_get(b.json, "cached")));
    ck_assert(json_real_value(json_object_get(b.json, "epsilon_charged")) == 0.0);
    ck_assert_str_eq(json_string_value(json_object_get(a.json, "query_hash")),
                     json_string_value(json_object_get(b.json, "query_hash")));
    char *ra = json_dumps(json_object_get(a.json, "results"), JSON_COMPACT);
    char *rb = json_dumps(json_object_get(b.json, "results"), JSON_COMPACT);
    ck_assert_str_eq(ra, rb);
    ck_assert(fabs(spent(id) - 1.1) < 1e-9);
    const char *p[] = {id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM study_query WHERE study_id = $1", 1, p), 2);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM study_query WHERE study_id = $1 AND cached "
                                 "AND epsilon = 0",
                                 1, p),
                     1);

    /* New data: a fresh answer with fresh noise, charged again. */
    const char *q[] = {ids[0]};
    PGconn *conn = th_db();
    exec_sql(conn,
             "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
             "VALUES ($1, 'fatigue', 9, now() - interval '1 hour')",
             1, q);
    PQfinish(conn);
    query(rt, id, text, &c);
    th_assert_status(&c, 200);
    ck_assert(json_is_false(json_object_get(c.json, "cached")));
    char *rc = json_dumps(json_object_get(c.json, "results"), JSON_COMPACT);
    ck_assert_str_ne(ra, rc);
    ck_assert(fabs(spent(id) - 2.2) < 1e-9);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM study_query WHERE study_id = $1", 1, p), 3);
    free(ra);
    free(rb);
    free(rc);
    th_resp_free(&a);
    th_resp_free(&b);
    th_resp_free(&c);
}
END_TEST

/* A grant that expires changes no row (and so not the data version), yet its members must stop
 * being counted at once: the cached answer is not reused past a grant's end. */
START_TEST(cache_ends_when_a_grant_expires)
{
    char rt[64], id[37], ids[60][37];
    struct th_resp a, b;
    th_account("researcher", rt, NULL);
    approved_study(rt, "5", NULL, id);
    make_members("X07", 60, ids);
    PGconn *conn = th_db();
    exec_sql(
        conn,
        "UPDATE consent_grant SET valid_until = date_trunc('second', now()) + interval '3 seconds' "
        "WHERE member_id IN (SELECT member_id FROM member_profile WHERE postal_prefix = 'X07' "
        "ORDER BY member_id LIMIT 40)",
        0, NULL);
    PQfinish(conn);
    const char *text =
        "{'cohort':{'postal_prefix':'X07'},'measures':[{'type':'count','epsilon':1}]}";
    query(rt, id, text, &a);
    th_assert_status(&a, 200);
    ck_assert(json_is_false(json_object_get(a.json, "cached")));
    json_t *first = json_object_get(json_array_get(json_object_get(a.json, "results"), 0), "count");
    ck_assert_msg(json_is_integer(first) && json_integer_value(first) >= 45, "before expiry: %s",
                  a.body);
    sleep(4);
    query(rt, id, text, &b);
    th_assert_status(&b, 200);
    ck_assert(json_is_false(json_object_get(b.json, "cached")));
    json_t *second =
        json_object_get(json_array_get(json_object_get(b.json, "results"), 0), "count");
    ck_assert_msg(json_is_integer(second) && json_integer_value(second) <= 35, "after expiry: %s",
                  b.body);
    th_resp_free(&a);
    th_resp_free(&b);
}
END_TEST

/* Does the member's data-uses list show the study? */
static bool uses_show(const char *token, const char *study)
{
    struct th_resp r;
    bool found = false;
    th_req("GET", "/v1/me/data-uses", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r.json, "items"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), study) == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(e, "kind")), "study");
            ck_assert_str_eq(json_string_value(json_object_get(e, "purpose")), "research");
            ck_assert_str_eq(json_string_value(json_object_get(e, "title")), "Fatigue study");
            found = true;
        }
    }
    th_resp_free(&r);
    return found;
}

START_TEST(consent_withdrawal_and_data_uses)
{
    char rt[64], before[37], after[37], xtok[64], xid[37], otok[64], oid[37], ntok[64], nid[37];
    char others[20][37], path[160];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "5", NULL, before);
    approved_study(rt, "5", NULL, after);
    make_members("W01", 20, others);
    /* X: a member who consents through the API and later withdraws; O: another included member;
     * N: a member outside the cohort. */
    th_account("member", xtok, xid);
    th_account("member", otok, oid);
    th_account("member", ntok, nid);
    const char *px[] = {xid, "W01"};
    PGconn *c = th_db();
    exec_sql(c,
             "INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, "
             "postal_prefix) VALUES ($1, 1980, 'male', 'IE', $2)",
             2, px);
    PQfinish(c);
    make_member_of(oid, "W01");
    make_member_of(nid, "N01");
    th_reqj("POST", "/v1/me/consents", xtok,
            load("{'effect':'permit','purpose':'research','categories':['demographics',"
                 "'conditions','symptoms','medications','goals']}"),
            &r);
    th_assert_status(&r, 201);
    char grant[37];
    snprintf(grant, sizeof(grant), "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);

    const char *text = "{'cohort':{'postal_prefix':'W01'},'measures':[{'type':'count',"
                       "'epsilon':1}]}";
    query(rt, before, text, &r);
    th_assert_status(&r, 200);
    json_int_t n = json_integer_value(
        json_object_get(json_array_get(json_object_get(r.json, "results"), 0), "count"));
    ck_assert_msg(n >= 15 && n <= 30, "count %lld for 22 members", (long long)n);
    th_resp_free(&r);
    const char *pb[] = {before, xid, after};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1", 1, pb), 22);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND member_id = $2", 2, pb),
        1);

    /* X withdraws; the very next query no longer counts X. */
    snprintf(path, sizeof(path), "/v1/me/consents/%s/withdraw", grant);
    th_req("POST", path, xtok, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    query(rt, after, text, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    const char *pa[] = {after, xid};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1", 1, pa), 21);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND member_id = $2", 2, pa),
        0);
    for (int i = 0; i < 20; i++) {
        const char *po[] = {after, others[i]};
        ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND "
                                     "member_id = $2 AND kind = 'study'",
                                     2, po),
                         1);
    }

    /* O's use of the first study dates from two days ago; another member's from today. */
    const char *po[] = {before, oid}, *p0[] = {before, others[0]};
    c = th_db();
    exec_sql(c,
             "UPDATE data_use SET at = now() - interval '2 days' WHERE object_id = $1 "
             "AND member_id = $2",
             2, po);
    PQfinish(c);
    long xmin0 = th_sql_long("SELECT xmin::text::bigint FROM data_use WHERE object_id = $1 AND "
                             "member_id = $2",
                             2, p0);

    /* The same query in the first study now (data changed: the consent) leaves X's old row. */
    query(rt, before, text, &r);
    th_assert_status(&r, 200);
    ck_assert(json_is_false(json_object_get(r.json, "cached")));
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1", 1, po), 22);
    /* A repeat use on the same UTC day rewrites nothing (the row records the day's first use). */
    ck_assert_int_eq(th_sql_long("SELECT xmin::text::bigint FROM data_use WHERE object_id = $1 AND "
                                 "member_id = $2",
                                 2, p0),
                     xmin0);
    /* One row per member per study; a use on a later day moves its time forward. */
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND member_id = $2", 2, po),
        1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND "
                                 "member_id = $2 AND at > now() - interval '1 minute'",
                                 2, po),
                     1);

    /* What members see. */
    ck_assert(uses_show(otok, before));
    ck_assert(uses_show(otok, after));
    ck_assert(uses_show(xtok, before));
    ck_assert(!uses_show(xtok, after));
    ck_assert(!uses_show(ntok, before));
    ck_assert(!uses_show(ntok, after));
}
END_TEST

/* A study query that must be answered (200) and computed afresh, not from the cache. */
static void uncached_query(const char *token, const char *study, const char *text)
{
    struct th_resp r;
    query(token, study, text, &r);
    th_assert_status(&r, 200);
    ck_assert(json_is_false(json_object_get(r.json, "cached")));
    th_resp_free(&r);
}

/* The data_use upsert is skipped only when the study recorded the very same population earlier
 * the same UTC day (schema 0015): a new member, a swapped member or a new day is recorded. */
START_TEST(data_use_mark_skips_only_the_same_population)
{
    char rt[64], sid[37], ids[24][37], ytok[64], yid[37], ztok[64], zid[37];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "10", NULL, sid);
    make_members("D24", 24, ids);
    const char *q1 = "{'cohort':{'postal_prefix':'D24'},'measures':[{'type':'count',"
                     "'epsilon':1}]}";
    const char *q2 = "{'cohort':{'postal_prefix':'D24'},'measures':[{'type':'count',"
                     "'epsilon':0.5}]}";
    const char *ps[] = {sid}, *p0[] = {sid, ids[0]};
    const char *rows = "SELECT count(*) FROM data_use WHERE object_id = $1 AND kind = 'study'";
    const char *mark = "SELECT members FROM data_use_mark WHERE object_id = $1 AND kind = 'study' "
                       "AND day = (now() AT TIME ZONE 'UTC')::date";
    const char *one = "SELECT count(*) FROM data_use WHERE object_id = $1 AND member_id = $2";
    const char *mark_x = "SELECT xmin::text::bigint FROM data_use_mark WHERE object_id = $1";
    const char *row_x = "SELECT xmin::text::bigint FROM data_use WHERE object_id = $1 AND "
                        "member_id = $2";

    query(rt, sid, q1, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long(rows, 1, ps), 24);
    ck_assert_int_eq(th_sql_long(mark, 1, ps), 24);
    long mx = th_sql_long(mark_x, 1, ps), ux = th_sql_long(row_x, 2, p0);

    /* Another query over the same members, same day: neither table is written. */
    uncached_query(rt, sid, q2);
    ck_assert_int_eq(th_sql_long(mark_x, 1, ps), mx);
    ck_assert_int_eq(th_sql_long(row_x, 2, p0), ux);

    /* A new member of the cohort is recorded the same day. */
    th_account("member", ytok, yid);
    make_member_of(yid, "D24");
    uncached_query(rt, sid, q1);
    const char *py[] = {sid, yid};
    ck_assert_int_eq(th_sql_long(rows, 1, ps), 25);
    ck_assert_int_eq(th_sql_long(one, 2, py), 1);
    ck_assert_int_eq(th_sql_long(mark, 1, ps), 25);

    /* One member leaves and another joins: same size, other members; the newcomer is recorded. */
    PGconn *c = th_db();
    exec_sql(c,
             "UPDATE consent_grant SET status = 'withdrawn', withdrawn_at = now() "
             "WHERE member_id = $1 AND status = 'active'",
             1, p0 + 1);
    PQfinish(c);
    th_account("member", ztok, zid);
    make_member_of(zid, "D24");
    uncached_query(rt, sid, q2);
    const char *pz[] = {sid, zid};
    ck_assert_int_eq(th_sql_long(mark, 1, ps), 25);
    ck_assert_int_eq(th_sql_long(one, 2, pz), 1);
    ck_assert_int_eq(th_sql_long(rows, 1, ps), 26); /* the one who left keeps the earlier use */

    /* As if all that had happened yesterday: today's first query records every member again. */
    c = th_db();
    exec_sql(c, "UPDATE data_use SET at = at - interval '1 day' WHERE object_id = $1", 1, ps);
    exec_sql(c, "UPDATE data_use_mark SET day = day - 1 WHERE object_id = $1", 1, ps);
    exec_sql(c,
             "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
             "VALUES ($1, 'fatigue', 4, now())",
             1, pz + 1);
    PQfinish(c);
    uncached_query(rt, sid, q1);
    ck_assert_int_eq(th_sql_long(mark, 1, ps), 25);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND "
                                 "at > now() - interval '1 minute'",
                                 1, ps),
                     25);
    /* Every query's population table was dropped before its request committed. */
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM pg_tables WHERE schemaname = 'research_work'", 0, NULL),
        0);
}
END_TEST

START_TEST(audit_row_has_no_values)
{
    char rt[64], id[37];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "2", NULL, id);
    make_members("A01", 25, NULL);
    query(rt, id,
          "{'cohort':{'postal_prefix':'A01'},'measures':[{'type':'count','epsilon':0.3},"
          "{'type':'symptom_distribution','symptom':'fatigue','window_days':30,'epsilon':0.2}]}",
          &r);
    th_assert_status(&r, 200);
    const char *hash = json_string_value(json_object_get(r.json, "query_hash"));
    const char *p[] = {id, hash};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'study.query' AND object_type "
                    "= 'study' AND object_id = $1 AND details ->> 'query_hash' = $2 AND "
                    "(details ->> 'epsilon')::numeric = 0.5 AND details ->> 'cached' = 'false' "
                    "AND (SELECT count(*) FROM jsonb_object_keys(details)) = 3 "
                    "AND actor_role = 'researcher'",
                    2, p),
        1);
    th_resp_free(&r);
    /* The cached repeat is audited too, at no cost. */
    query(rt, id,
          "{'cohort':{'postal_prefix':'A01'},'measures':[{'type':'count','epsilon':0.3},"
          "{'type':'symptom_distribution','symptom':'fatigue','window_days':30,'epsilon':0.2}]}",
          &r);
    th_assert_status(&r, 200);
    ck_assert(json_is_true(json_object_get(r.json, "cached")));
    th_resp_free(&r);
    ck_assert_int_eq(
        th_sql_long(
            "SELECT count(*) FROM audit_log WHERE action = 'study.query' AND object_id = $1 "
            "AND details ->> 'cached' = 'true' AND (details ->> 'epsilon')::numeric = 0",
            1, p),
        1);
}
END_TEST

/* Same shape, allowing a released value where the other has {"suppressed": true}: numbers and
 * intervals are slots; keys, array lengths and strings must agree (except per-query fields). The
 * side-effect list holds only released entries, so only its entries' shapes are compared. */
static void same_shape(const json_t *a, const json_t *b, const char *where)
{
    if (is_suppressed(a) || is_suppressed(b)) {
        const json_t *o = is_suppressed(a) ? b : a;
        ck_assert_msg(is_suppressed(o) || json_is_number(o) ||
                          (json_is_array(o) && json_array_size(o) == 2),
                      "%s: suppressed vs something else", where);
        return;
    }
    ck_assert_msg(json_typeof(a) == json_typeof(b) || (json_is_number(a) && json_is_number(b)),
                  "%s: types differ", where);
    if (json_is_object(a)) {
        ck_assert_msg(json_object_size(a) == json_object_size(b), "%s: key count", where);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", where, k);
            json_t *w = json_object_get(b, k);
            ck_assert_msg(w != NULL, "%s missing", sub);
            if (strcmp(k, "side_effects") == 0)
                continue;
            same_shape(v, w, sub);
        }
    } else if (json_is_array(a)) {
        ck_assert_msg(json_array_size(a) == json_array_size(b), "%s: lengths", where);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            same_shape(json_array_get(a, i), json_array_get(b, i), sub);
        }
    } else if (json_is_string(a) && strcmp(where, ".query_hash") != 0 &&
               strcmp(where, ".computed_at") != 0) {
        ck_assert_msg(strcmp(json_string_value(a), json_string_value(b)) == 0, "%s: %s vs %s",
                      where, json_string_value(a), json_string_value(b));
    }
}

START_TEST(nobody_and_five_look_alike)
{
    char rt[64], id[37];
    struct th_resp z, f;
    th_account("researcher", rt, NULL);
    approved_study(rt, "20", NULL, id);
    make_members("F05", 5, NULL);
    static const char *const measures =
        "[{'type':'count'},{'type':'breakdown','by':'age_band'},"
        "{'type':'breakdown','by':'sex_at_birth'},{'type':'breakdown','by':'country'},"
        "{'type':'symptom_distribution','symptom':'fatigue','window_days':30},"
        "{'type':'symptom_trend','symptom':'fatigue','interval':'month','periods':3},"
        "{'type':'treatment_effect','medication':'metformin','symptom':'fatigue',"
        "'before_days':10,'after_days':20},"
        "{'type':'medication_outcomes','medication':'metformin'},"
        "{'type':'side_effect_signal','medication':'metformin','side_effect':'nausea'}]";
    char text[2048];
    snprintf(text, sizeof(text), "{'cohort':{'postal_prefix':'F00'},'measures':%s}", measures);
    query(rt, id, text, &z);
    th_assert_status(&z, 200);
    snprintf(text, sizeof(text), "{'cohort':{'postal_prefix':'F05'},'measures':%s}", measures);
    query(rt, id, text, &f);
    th_assert_status(&f, 200);
    same_shape(z.json, f.json, "");
    th_resp_free(&z);
    th_resp_free(&f);
}
END_TEST

/* Runs last: the server logged no sanitizer finding and no researcher-facing values. */
START_TEST(server_log_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_nonnull(strstr(log, "/v1/research/studies/{id}/queries"));
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, "postal_prefix"));
    ck_assert_ptr_null(strstr(log, "fatigue"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("research");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, study_lifecycle);
    tcase_add_test(tc, every_measure_shape);
    tcase_add_test(tc, bad_queries_name_paths);
    tcase_add_test(tc, budget_exhaustion);
    tcase_add_test(tc, concurrent_queries_never_overspend);
    tcase_add_test(tc, cached_repeats);
    tcase_add_test(tc, cache_ends_when_a_grant_expires);
    tcase_add_test(tc, consent_withdrawal_and_data_uses);
    tcase_add_test(tc, data_use_mark_skips_only_the_same_population);
    tcase_add_test(tc, audit_row_has_no_values);
    tcase_add_test(tc, nobody_and_five_look_alike);
    tcase_add_test(tc, server_log_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
