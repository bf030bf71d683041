/* End-to-end: trial recruitment. A coordinator's trial through approval, feasibility, invitations,
 * members' answers, consent withdrawal and closing; who is (never) invited, checked against the
 * invitations table as superuser; nothing a coordinator receives names a member who did not
 * accept; and, with a zero-noise mechanism through trials.c itself, eligibility and the feasibility
 * counts equal an independent SQL computation.
 *
 * The database is shared by the tests of this process, so each test uses its own condition
 * (multiple sclerosis, lupus, migraine) and its members are eligible for its trial only. */
#include "harness.h"

#include "db.h"
#include "disclosure.h"
#include "trials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---- */

struct member {
    char token[64], id[37], email[160], grant[37];
    int birth_year;
    char country[3];
};

static int this_year(void)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900;
}

/* Run SQL as superuser; fails the test on error. */
static void sql(const char *q, int n, const char *const *p)
{
    PGconn *c = th_db();
    PGresult *r = PQexecParams(c, q, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The first value of a superuser query as a new string ("" for no row or NULL). */
static char *sql_text(const char *q, int n, const char *const *p)
{
    PGconn *c = th_db();
    PGresult *r = PQexecParams(c, q, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q, PQerrorMessage(c));
    char *s = strdup(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, comma-joined ids of members[i] for the indexes in idx. */
static char *id_list(struct member *const *ms, size_t n)
{
    const char *ids[64];
    size_t len = 1;
    ck_assert_uint_le(n, 64);
    for (size_t i = 0; i < n; i++)
        ids[i] = ms[i]->id, len += 37;
    qsort(ids, n, sizeof(ids[0]), cmp_str);
    char *s = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, ids[i]);
    }
    return s;
}

/* A member with a profile (age this year, sex, country) and catalog conditions. */
static void mk_member(struct member *m, int age, const char *country, const char *c1,
                      const char *c2)
{
    char by[16];
    memset(m, 0, sizeof(*m));
    th_account("member", m->token, m->id);
    const char *p[] = {m->id};
    char *e = sql_text("SELECT email FROM account WHERE id = $1", 1, p);
    snprintf(m->email, sizeof(m->email), "%s", e);
    free(e);
    m->birth_year = this_year() - age;
    snprintf(m->country, sizeof(m->country), "%s", country);
    snprintf(by, sizeof(by), "%d", m->birth_year);
    const char *pp[] = {m->id, by, country};
    sql("INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country) "
        "VALUES ($1, $2::int, 'female', $3)",
        3, pp);
    const char *conds[] = {c1, c2};
    for (int i = 0; i < 2; i++) {
        if (!conds[i])
            continue;
        const char *pc[] = {m->id, conds[i]};
        sql("INSERT INTO member_condition (member_id, condition_id, diagnosed_date) "
            "VALUES ($1, $2, '2015-01-01')",
            2, pc);
    }
}

/* A consent grant through the API; extra (stolen, may be NULL) adds fields to the body. */
static void consent(struct member *m, const char *purpose, const char *categories_json,
                    json_t *extra)
{
    struct th_resp r;
    json_t *body = json_pack("{s:s, s:s, s:o}", "effect", "permit", "purpose", purpose,
                             "categories", json_loads(categories_json, 0, NULL));
    if (extra) {
        json_object_update(body, extra);
        json_decref(extra);
    }
    th_reqj("POST", "/v1/me/consents", m->token, body, &r);
    th_assert_status(&r, 201);
    snprintf(m->grant, sizeof(m->grant), "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
}

static void withdraw(struct member *m)
{
    struct th_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/v1/me/consents/%s/withdraw", m->grant);
    th_req("POST", path, m->token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool names_field(const struct th_resp *r, const char *field)
{
    json_t *e;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(r->json, "errors"), i, e)
    {
        found = found || strcmp(sget(e, "field"), field) == 0;
    }
    return found;
}

static void today_plus(int days, char out[11])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* A released count: a multiple of 5 of at least 15, or {"suppressed": true}. */
static void assert_released(const json_t *v)
{
    if (json_is_object(v)) {
        ck_assert(json_is_true(json_object_get(v, "suppressed")));
        ck_assert_uint_eq(json_object_size(v), 1);
    } else {
        ck_assert_msg(json_is_integer(v), "a released count must be an integer or suppressed");
        ck_assert_int_eq(json_integer_value(v) % 5, 0);
        ck_assert_int_ge(json_integer_value(v), 15);
    }
}

static json_t *trial_body(const char *title, const char *condition, bool commercial)
{
    char incl[256];
    snprintf(incl, sizeof(incl),
             "{\"all\":[{\"age\":{\"min\":18,\"max\":70}},{\"condition\":{\"condition\":\"%s\"}}]}",
             condition);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:b, s:[s], s:[{s:s, s:s}, {s:s}, {s:s}], s:o, "
        "s:o, s:s, s:[s, s]}",
        "title", title, "summary", "A study of a new treatment.", "nct_id", "NCT01234567",
        "sponsor", "Example Pharma", "commercial", commercial, "organisation_for_profit",
        commercial, "conditions", condition, "sites", "country", "GB", "postal_prefix", "sw1",
        "country", "IE", "country", "FR", "inclusion", json_loads(incl, 0, NULL), "exclusion",
        json_pack("{s:{s:s}}", "condition", "condition", "epilepsy"), "contact_message",
        "We will contact you through CareCommons.", "categories", "demographics", "conditions");
}

static void create_trial(const char *coord, json_t *body, char id[37])
{
    struct th_resp r;
    th_reqj("POST", "/v1/trials", coord, body, &r);
    th_assert_status(&r, 201);
    snprintf(id, 37, "%s", sget(r.json, "id"));
    th_resp_free(&r);
}

static void approve(const char *admin, const char *trial, double budget)
{
    struct th_resp r;
    char path[128], until[11];
    today_plus(30, until);
    snprintf(path, sizeof(path), "/v1/admin/trials/%s/approve", trial);
    th_reqj("POST", path, admin,
            budget > 0 ? json_pack("{s:s, s:f}", "expires_on", until, "epsilon_budget", budget)
                       : json_pack("{s:s}", "expires_on", until),
            &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(sget(r.json, "expires_on"), until);
    th_resp_free(&r);
}

static void set_status(const char *coord, const char *trial, const char *status, long want)
{
    struct th_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/v1/trials/%s", trial);
    th_reqj("PATCH", path, coord, json_pack("{s:s}", "status", status), &r);
    th_assert_status(&r, want);
    if (want == 200)
        ck_assert_str_eq(sget(r.json, "status"), status);
    th_resp_free(&r);
}

static char *invited_ids(const char *trial)
{
    const char *p[] = {trial};
    return sql_text("SELECT coalesce(string_agg(member_id::text, ',' ORDER BY member_id::text "
                    "COLLATE \"C\"), '') FROM trial_invitation WHERE trial_id = $1",
                    1, p);
}

static long invitations_of(const struct member *m, const char *trial)
{
    const char *p[] = {m->id, trial};
    return th_sql_long(
        "SELECT count(*) FROM trial_invitation WHERE member_id = $1 AND trial_id = $2", 2, p);
}

static char *status_of(const struct member *m, const char *trial)
{
    const char *p[] = {m->id, trial};
    return sql_text("SELECT status FROM trial_invitation WHERE member_id = $1 AND trial_id = $2", 2,
                    p);
}

static void assert_status_of(const struct member *m, const char *trial, const char *want)
{
    char *s = status_of(m, trial);
    ck_assert_str_eq(s, want);
    free(s);
}

static double epsilon_spent(const char *trial)
{
    const char *p[] = {trial};
    char *s = sql_text("SELECT epsilon_spent::text FROM trial WHERE id = $1", 1, p);
    double v = atof(s);
    free(s);
    return v;
}

static long audit_rows(const char *action, const char *trial)
{
    const char *p[] = {action, trial};
    return th_sql_long("SELECT count(*) FROM audit_log WHERE action = $1 AND object_id = $2", 2, p);
}

/* The member's own invitation to trial (its id into out). */
static void invitation_id(const struct member *m, const char *trial, char out[37])
{
    const char *p[] = {m->id, trial};
    char *s =
        sql_text("SELECT id FROM trial_invitation WHERE member_id = $1 AND trial_id = $2", 2, p);
    ck_assert_uint_eq(strlen(s), 36);
    snprintf(out, 37, "%s", s);
    free(s);
}

static int accept_cohort(void *ctx, const char *kind, const char *id)
{
    return 1;
}

/* ---- the full flow ---- */

#define NE 12

/* Bodies coordinators received, for the leak check. */
static char *seen[64];
static int nseen;

static void keep(const struct th_resp *r)
{
    ck_assert_int_lt(nseen, 64);
    seen[nseen++] = strdup(r->body ? r->body : "");
}

START_TEST(full_flow)
{
    char coord[64], other[64], admin[64], t[37], path[160], inv[37];
    struct member e[NE], m1, m2, n1, x1, w1, c1, r1, a1, b1, d1, p1;
    struct member *all[] = {&e[0], &e[1], &e[2],  &e[3],  &e[4], &e[5], &e[6], &e[7],
                            &e[8], &e[9], &e[10], &e[11], &m1,   &m2,   &n1,   &x1,
                            &w1,   &c1,   &r1,    &a1,    &b1,   &d1,   &p1};
    const size_t nall = sizeof(all) / sizeof(all[0]);
    const char *cats = "[\"demographics\", \"conditions\"]";
    const char *countries[] = {"GB", "GB", "GB", "GB", "GB", "GB",
                               "IE", "IE", "IE", "IE", "FR", "FR"};
    struct th_resp r;

    th_account("coordinator", coord, NULL);
    th_account("coordinator", other, NULL);
    th_account("admin", admin, NULL);
    for (int i = 0; i < NE; i++) {
        mk_member(&e[i], 20 + 4 * i, countries[i], "multiple_sclerosis", NULL);
        consent(&e[i], "trial_recruitment", cats, NULL);
    }
    mk_member(&m1, 40, "GB", "multiple_sclerosis", NULL); /* at the monthly maximum */
    consent(&m1, "trial_recruitment", cats, NULL);
    mk_member(&m2, 41, "GB", "multiple_sclerosis", NULL); /* three invitations, 40 days ago */
    consent(&m2, "trial_recruitment", cats, NULL);
    mk_member(&n1, 40, "GB", "multiple_sclerosis", NULL); /* no consent */
    mk_member(&x1, 40, "GB", "multiple_sclerosis", NULL); /* expired consent */
    {
        /* The API only takes future ends, so this grant ran out long ago by direct insert. It is
         * still 'active': only its dates keep it from being in force. */
        const char *p[] = {x1.id};
        sql("INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
            "valid_from, valid_until, status, policy_version) VALUES ($1, gen_random_uuid(), 1, "
            "'permit', 'trial_recruitment', 3, '2020-01-01T00:00:00Z', '2021-01-01T00:00:00Z', "
            "'active', 1)",
            1, p);
    }
    mk_member(&w1, 40, "GB", "multiple_sclerosis", NULL); /* withdrawn consent */
    consent(&w1, "trial_recruitment", cats, NULL);
    withdraw(&w1);
    mk_member(&c1, 40, "GB", "multiple_sclerosis", NULL); /* non-commercial only */
    consent(&c1, "trial_recruitment", cats,
            json_pack("{s:{s:b}}", "restrictions", "non_commercial", 1));
    mk_member(&r1, 40, "GB", "multiple_sclerosis", NULL); /* research consent only */
    consent(&r1, "research", cats, NULL);
    mk_member(&a1, 80, "GB", "multiple_sclerosis", NULL); /* too old for the trial */
    consent(&a1, "trial_recruitment", cats, NULL);
    mk_member(&b1, 40, "GB", "multiple_sclerosis", "epilepsy"); /* excluded */
    consent(&b1, "trial_recruitment", cats, NULL);
    mk_member(&d1, 40, "GB", "multiple_sclerosis", NULL); /* consent for migraine research only */
    consent(&d1, "trial_recruitment", cats,
            json_pack("{s:{s:[s]}}", "restrictions", "conditions", "migraine"));
    mk_member(&p1, 40, "GB", "multiple_sclerosis",
              NULL); /* consent lacks the conditions category */
    consent(&p1, "trial_recruitment", "[\"demographics\"]", NULL);

    /* Three earlier invitations each for m1 (10 days ago) and m2 (40 days ago). */
    for (int i = 0; i < 3; i++) {
        char d[37];
        json_t *b = trial_body("Earlier trial", "multiple_sclerosis", false);
        create_trial(other, b, d);
        const char *p[] = {d, m1.id, m2.id};
        sql("INSERT INTO trial_invitation (member_id, trial_id, created_at) VALUES "
            "($2, $1, now() - interval '10 days'), ($3, $1, now() - interval '40 days')",
            3, p);
    }

    /* Validation names every field, including cohort paths. */
    json_t *bad = trial_body("", "no_such_condition", true);
    json_object_set_new(bad, "nct_id", json_string("NCT123"));
    json_object_set_new(bad, "sites", json_pack("[{s:s}]", "country", "XX"));
    json_object_set_new(bad, "categories", json_pack("[s]", "bogus"));
    json_object_set_new(
        bad, "inclusion",
        json_pack("{s:[{s:{s:i}}, {s:{s:i}}]}", "all", "age", "min", 18, "age", "min", 200));
    json_object_set_new(bad, "colour", json_string("blue"));
    th_reqj("POST", "/v1/trials", coord, bad, &r);
    th_assert_status(&r, 422);
    const char *fields[] = {"title",         "nct_id",        "sites[0].country",
                            "categories[0]", "conditions[0]", "inclusion.all[1].age.min",
                            "colour"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        ck_assert_msg(names_field(&r, fields[i]), "422 does not name %s: %s", fields[i], r.body);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM trial WHERE title = ''", 0, NULL), 0);

    /* Create. */
    th_reqj("POST", "/v1/trials", coord, trial_body("MS trial", "multiple_sclerosis", true), &r);
    th_assert_status(&r, 201);
    keep(&r);
    snprintf(t, sizeof(t), "%s", sget(r.json, "id"));
    ck_assert_str_eq(sget(r.json, "status"), "draft");
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "sites"), 0), "postal_prefix"),
                     "SW1");
    ck_assert(json_is_null(json_object_get(r.json, "approved_at")));
    th_resp_free(&r);

    /* Only its coordinator sees it. */
    snprintf(path, sizeof(path), "/v1/trials/%s", t);
    th_req("GET", path, other, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("GET", path, e[0].token, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    keep(&r);
    ck_assert_str_eq(sget(r.json, "title"), "MS trial");
    th_resp_free(&r);
    th_req("GET", "/v1/trials", coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    keep(&r);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    th_resp_free(&r);
    th_reqj("PATCH", path, other, json_pack("{s:s}", "summary", "hijacked"), &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);

    /* Before approval: no feasibility, no recruiting; draft cannot close. */
    snprintf(path, sizeof(path), "/v1/trials/%s/feasibility", t);
    th_req("POST", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    set_status(coord, t, "recruiting", 409);
    set_status(coord, t, "closed", 409);

    approve(admin, t, 0);
    ck_assert_int_eq(audit_rows("trial.approve", t), 1);
    th_req("GET", "/v1/admin/trials?status=draft", admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    bool listed = false;
    json_t *it;
    size_t k;
    json_array_foreach(json_object_get(r.json, "items"), k, it)
    {
        listed = listed || strcmp(sget(it, "id"), t) == 0;
    }
    ck_assert(listed);
    th_resp_free(&r);
    th_req("GET", "/v1/admin/trials?status=bogus", admin, NULL, NULL, &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);

    /* Editing an approved draft withdraws the approval. */
    snprintf(path, sizeof(path), "/v1/trials/%s", t);
    th_reqj("PATCH", path, coord, json_pack("{s:s}", "summary", "A study of a new MS treatment."),
            &r);
    th_assert_status(&r, 200);
    keep(&r);
    ck_assert(json_is_null(json_object_get(r.json, "approved_at")));
    th_resp_free(&r);
    set_status(coord, t, "recruiting", 409);
    approve(admin, t, 0);
    set_status(coord, t, "recruiting", 200);
    set_status(coord, t, "draft", 409);
    th_reqj("PATCH", path, coord, json_pack("{s:s}", "summary", "changed"), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    th_reqj("PATCH", path, coord, json_pack("{s:s, s:s}", "status", "closed", "summary", "x"), &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);

    /* Feasibility: released counts, charged 3 x 0.25, every eligible member sees the use. */
    struct member *eligible[NE + 2];
    for (int i = 0; i < NE; i++)
        eligible[i] = &e[i];
    eligible[NE] = &m1;
    eligible[NE + 1] = &m2;
    snprintf(path, sizeof(path), "/v1/trials/%s/feasibility", t);
    th_reqj("POST", path, coord, json_pack("{s:f}", "epsilon", 2.0), &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "epsilon"));
    th_resp_free(&r);
    th_reqj("POST", path, coord, json_pack("{s:f}", "epsilon", 0.0125), &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);
    th_req("POST", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    keep(&r);
    assert_released(json_object_get(r.json, "count"));
    ck_assert_double_eq_tol(json_real_value(json_object_get(r.json, "epsilon_charged")), 0.75,
                            1e-9);
    ck_assert_double_eq_tol(json_real_value(json_object_get(r.json, "epsilon_remaining")), 2.25,
                            1e-9);
    json_t *byc = json_object_get(r.json, "by_country");
    ck_assert_int_eq(json_array_size(byc), 3);
    ck_assert_str_eq(sget(json_array_get(byc, 0), "value"), "GB");
    ck_assert_str_eq(sget(json_array_get(byc, 1), "value"), "IE");
    ck_assert_str_eq(sget(json_array_get(byc, 2), "value"), "FR");
    json_array_foreach(byc, k, it)
    {
        assert_released(json_object_get(it, "count"));
    }
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "by_age_band")), 11);
    th_resp_free(&r);
    ck_assert_double_eq_tol(epsilon_spent(t), 0.75, 1e-9);
    ck_assert_int_eq(audit_rows("trial.feasibility", t), 1);
    {
        const char *p[] = {t};
        char *used = sql_text("SELECT coalesce(string_agg(member_id::text, ',' ORDER BY "
                              "member_id::text COLLATE \"C\"), '') FROM data_use "
                              "WHERE kind = 'trial' AND object_id = $1",
                              1, p);
        char *want = id_list(eligible, NE + 2);
        ck_assert_str_eq(used, want);
        free(used);
        free(want);
    }
    th_req("GET", "/v1/me/data-uses", e[0].token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "items"), 0), "kind"), "trial");
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "items"), 0), "id"), t);
    th_resp_free(&r);
    th_req("GET", "/v1/me/data-uses", n1.token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);

    /* Invitations: exactly the eligible consenting members under the monthly cap. */
    snprintf(path, sizeof(path), "/v1/trials/%s/invitations", t);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 0), &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 1001), &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);
    th_reqj("POST", path, coord, json_pack("{s:i, s:s}", "count", 1000, "message", "Hello"), &r);
    th_assert_status(&r, 200);
    keep(&r);
    assert_released(json_object_get(r.json, "invited"));
    th_resp_free(&r);
    struct member *invited[NE + 1];
    for (int i = 0; i < NE; i++)
        invited[i] = &e[i];
    invited[NE] = &m2;
    {
        char *got = invited_ids(t), *want = id_list(invited, NE + 1);
        ck_assert_str_eq(got, want);
        free(got);
        free(want);
    }
    struct member *never[] = {&m1, &n1, &x1, &w1, &c1, &r1, &a1, &b1, &d1, &p1};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        ck_assert_msg(invitations_of(never[i], t) == 0, "member %zu was invited", i);
    /* Asking again invites nobody twice. */
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 1000), &r);
    th_assert_status(&r, 200);
    keep(&r);
    th_resp_free(&r);
    {
        const char *p[] = {t};
        ck_assert_int_eq(
            th_sql_long("SELECT count(*) FROM trial_invitation WHERE trial_id = $1", 1, p), NE + 1);
    }
    ck_assert_int_eq(audit_rows("trial.invite", t), 2);
    {
        /* Counted and then invited: still one data use of this trial for the member. */
        const char *p[] = {e[0].id, t};
        ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE member_id = $1 AND "
                                     "object_id = $2 AND kind = 'trial'",
                                     2, p),
                         1);
    }

    /* The member's view: why they were invited, in plain words. */
    th_req("GET", "/v1/me/invitations", e[0].token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *item = json_array_get(json_object_get(r.json, "items"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_str_eq(sget(json_object_get(item, "trial"), "title"), "MS trial");
    ck_assert_str_eq(sget(json_object_get(item, "trial"), "sponsor"), "Example Pharma");
    ck_assert_str_eq(sget(json_object_get(item, "trial"), "nct_id"), "NCT01234567");
    ck_assert_str_eq(sget(item, "message"), "Hello");
    ck_assert_str_eq(sget(item, "status"), "pending");
    {
        json_t *incl = json_loads("{\"all\":[{\"age\":{\"min\":18,\"max\":70}},"
                                  "{\"condition\":{\"condition\":\"multiple_sclerosis\"}}]}",
                                  0, NULL);
        struct stats_cohort *c = stats_cohort_parse(incl, NULL, accept_cohort, NULL, NULL);
        char *words = stats_cohort_describe(c);
        ck_assert_ptr_nonnull(words);
        ck_assert_str_eq(sget(item, "why"), words);
        free(words);
        stats_cohort_free(c);
        json_decref(incl);
    }
    th_resp_free(&r);

    /* Answers. */
    invitation_id(&e[0], t, inv);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/accept", inv);
    th_reqj("POST", path, e[4].token, json_pack("{s:[s]}", "share", "email"), &r);
    th_assert_status(&r, 404); /* another member's invitation */
    th_resp_free(&r);
    th_reqj("POST", path, e[0].token, json_pack("{s:[s]}", "share", "password"), &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "share[0]"));
    th_resp_free(&r);
    th_reqj("POST", path, e[0].token, json_pack("{s:[s, s]}", "share", "email", "birth_year"), &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(sget(r.json, "status"), "accepted");
    th_resp_free(&r);
    invitation_id(&e[1], t, inv);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/accept", inv);
    th_reqj("POST", path, e[1].token, json_pack("{s:[]}", "share"), &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    invitation_id(&e[2], t, inv);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/accept", inv);
    th_reqj("POST", path, e[2].token, json_pack("{s:[s, s]}", "share", "display_name", "country"),
            &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    invitation_id(&e[3], t, inv);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/decline", inv);
    th_req("POST", path, e[3].token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(sget(r.json, "status"), "declined");
    ck_assert(json_is_null(json_object_get(r.json, "shared")));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/accept", inv);
    th_reqj("POST", path, e[3].token, json_pack("{s:[]}", "share"), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);

    /* Candidates: exactly the accepting members, with exactly what each chose to share. */
    snprintf(path, sizeof(path), "/v1/trials/%s/candidates", t);
    th_req("GET", path, other, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("GET", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    keep(&r);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 3);
    char want0[256], want2[256];
    snprintf(want0, sizeof(want0), "{\"email\":\"%s\",\"birth_year\":%d}", e[0].email,
             e[0].birth_year);
    snprintf(want2, sizeof(want2), "{\"display_name\":\"Test member\",\"country\":\"%s\"}",
             e[2].country);
    json_t *w0 = json_loads(want0, 0, NULL), *w1j = json_object(), *w2 = json_loads(want2, 0, NULL);
    int matched[3] = {0};
    json_array_foreach(items, k, it)
    {
        const json_t *sh = json_object_get(it, "shared");
        ck_assert_uint_eq(strlen(sget(it, "candidate_id")), 36);
        for (size_t i = 0; i < nall; i++)
            ck_assert_str_ne(sget(it, "candidate_id"), all[i]->id);
        ck_assert_ptr_nonnull(sget(it, "accepted_at"));
        matched[0] += json_equal(sh, w0);
        matched[1] += json_equal(sh, w1j);
        matched[2] += json_equal(sh, w2);
    }
    ck_assert_msg(matched[0] == 1 && matched[1] == 1 && matched[2] == 1,
                  "candidates' shared details are not exactly the chosen ones: %s", r.body);
    json_decref(w0);
    json_decref(w1j);
    json_decref(w2);
    th_resp_free(&r);

    /* Response totals: noisy, paid once per data version. */
    snprintf(path, sizeof(path), "/v1/trials/%s/responses", t);
    double before = epsilon_spent(t);
    th_req("GET", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    keep(&r);
    const char *totals[] = {"invited", "accepted", "declined", "pending"};
    for (int i = 0; i < 4; i++)
        assert_released(json_object_get(r.json, totals[i]));
    ck_assert_uint_eq(json_object_size(r.json), 5);
    ck_assert_double_eq_tol(epsilon_spent(t), before + 0.2, 1e-9);
    json_t *first = json_incref(r.json);
    th_resp_free(&r);
    th_req("GET", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_msg(json_equal(r.json, first), "a repeat got new numbers: %s", r.body);
    ck_assert_double_eq_tol(epsilon_spent(t), before + 0.2, 1e-9);
    th_resp_free(&r);
    json_decref(first);
    invitation_id(&e[5], t, inv);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/decline", inv);
    th_req("POST", path, e[5].token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/trials/%s/responses", t);
    th_req("GET", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    keep(&r);
    ck_assert_double_eq_tol(epsilon_spent(t), before + 0.4, 1e-9);
    th_resp_free(&r);
    ck_assert_int_eq(audit_rows("trial.responses", t), 2);

    /* Withdrawing trial_recruitment consent cancels pending invitations, only that member's. */
    assert_status_of(&e[6], t, "pending");
    withdraw(&e[6]);
    assert_status_of(&e[6], t, "cancelled");
    assert_status_of(&e[7], t, "pending");
    th_req("GET", "/v1/me/invitations", e[6].token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "items"), 0), "status"),
                     "cancelled");
    th_resp_free(&r);
    /* Withdrawing a consent that was not the one permitting the trial changes nothing. */
    consent(&e[8], "research", cats, NULL);
    withdraw(&e[8]);
    assert_status_of(&e[8], t, "pending");

    /* Closing expires what is pending; answers stay. */
    set_status(coord, t, "closed", 200);
    for (int i = 7; i < NE; i++)
        assert_status_of(&e[i], t, "expired");
    assert_status_of(&m2, t, "expired");
    assert_status_of(&e[0], t, "accepted");
    assert_status_of(&e[3], t, "declined");
    assert_status_of(&e[6], t, "cancelled");
    invitation_id(&e[7], t, inv);
    snprintf(path, sizeof(path), "/v1/me/invitations/%s/accept", inv);
    th_reqj("POST", path, e[7].token, json_pack("{s:[]}", "share"), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/trials/%s/feasibility", t);
    th_req("POST", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/trials/%s/invitations", t);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 5), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    set_status(coord, t, "recruiting", 409);

    /* The remaining coordinator views, then the leak check over everything the coordinator got:
     * no member id ever, no email but the one e[0] chose to share. */
    snprintf(path, sizeof(path), "/v1/trials/%s", t);
    th_req("GET", path, coord, NULL, NULL, &r);
    keep(&r);
    th_resp_free(&r);
    th_req("GET", "/v1/trials", coord, NULL, NULL, &r);
    keep(&r);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/trials/%s/candidates", t);
    th_req("GET", path, coord, NULL, NULL, &r);
    keep(&r);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/trials/%s/responses", t);
    th_req("GET", path, coord, NULL, NULL, &r);
    keep(&r);
    th_resp_free(&r);
    for (int s = 0; s < nseen; s++)
        for (size_t i = 0; i < nall; i++) {
            ck_assert_msg(!strstr(seen[s], all[i]->id),
                          "a coordinator response holds member %zu's id", i);
            if (all[i] != &e[0])
                ck_assert_msg(!strstr(seen[s], all[i]->email),
                              "a coordinator response holds member %zu's email", i);
        }
    for (int s = 0; s < nseen; s++)
        free(seen[s]);
    nseen = 0;
}
END_TEST

/* ---- the budget ---- */

START_TEST(budget_exhaustion_releases_nothing)
{
    char coord[64], admin[64], t[37], path[160];
    struct member m[14];
    struct th_resp r;

    th_account("coordinator", coord, NULL);
    th_account("admin", admin, NULL);
    for (int i = 0; i < 14; i++) {
        mk_member(&m[i], 30 + i, "GB", "migraine", NULL);
        consent(&m[i], "trial_recruitment", "[\"demographics\", \"conditions\"]", NULL);
    }
    create_trial(coord, trial_body("Migraine trial", "migraine", false), t);
    approve(admin, t, 0.5);
    snprintf(path, sizeof(path), "/v1/trials/%s/feasibility", t);
    th_req("POST", path, coord, NULL, NULL, &r); /* 3 x 0.25 > 0.5 */
    th_assert_status(&r, 403);
    ck_assert_ptr_null(json_object_get(r.json, "count"));
    th_resp_free(&r);
    const char *p[] = {t};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1", 1, p), 0);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM trial_query WHERE trial_id = $1", 1, p), 0);
    ck_assert_double_eq_tol(epsilon_spent(t), 0, 1e-9);
    ck_assert_int_eq(audit_rows("trial.feasibility", t), 0);

    th_reqj("POST", path, coord, json_pack("{s:f}", "epsilon", 0.1), &r); /* 0.3 */
    th_assert_status(&r, 200);
    ck_assert(json_is_false(json_object_get(r.json, "cached")));
    ck_assert_double_eq_tol(json_real_value(json_object_get(r.json, "epsilon_charged")), 0.3, 1e-9);
    ck_assert_double_eq_tol(json_real_value(json_object_get(r.json, "epsilon_remaining")), 0.2,
                            1e-9);
    json_t *first = json_incref(r.json);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1", 1, p), 14);
    /* The same question about unchanged data: the same numbers, free. */
    th_reqj("POST", path, coord, json_pack("{s:f}", "epsilon", 0.1), &r);
    th_assert_status(&r, 200);
    ck_assert(json_is_true(json_object_get(r.json, "cached")));
    ck_assert_double_eq_tol(json_real_value(json_object_get(r.json, "epsilon_charged")), 0, 1e-9);
    const char *same[] = {"count", "by_age_band", "by_country"};
    for (int i = 0; i < 3; i++)
        ck_assert(json_equal(json_object_get(r.json, same[i]), json_object_get(first, same[i])));
    json_decref(first);
    th_resp_free(&r);
    ck_assert_double_eq_tol(epsilon_spent(t), 0.3, 1e-9);
    /* Another question does not fit: 3 x 0.09 > 0.2. */
    th_reqj("POST", path, coord, json_pack("{s:f}", "epsilon", 0.09), &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1", 1, p), 14);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM trial_query WHERE trial_id = $1", 1, p), 1);

    /* 0.2 left cannot pay for the invited count (0.25): nobody is invited. */
    set_status(coord, t, "recruiting", 200);
    snprintf(path, sizeof(path), "/v1/trials/%s/invitations", t);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 10), &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM trial_invitation WHERE trial_id = $1", 1, p),
                     0);
    ck_assert_double_eq_tol(epsilon_spent(t), 0.3, 1e-9);
}
END_TEST

/* ---- zero mechanism: trials.c against independent SQL ---- */

static int zero_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    *out = 0;
    return 0;
}

START_TEST(zero_mechanism_matches_independent_sql)
{
    char coord[64], admin[64], t[37], conninfo[1024];
    struct member m[20];
    const char *ctry[] = {"GB", "IE", "FR", "DE"};
    const int ages[] = {18, 19, 25, 33, 41, 47, 52, 58, 64, 69,
                        70, 30, 35, 44, 71, 17, 40, 40, 40, 40};
    struct th_resp r;

    th_account("coordinator", coord, NULL);
    th_account("admin", admin, NULL);
    for (int i = 0; i < 20; i++) {
        mk_member(&m[i], ages[i], ctry[i % 4], "lupus", i == 16 ? "epilepsy" : NULL);
        if (i == 17)
            continue; /* no consent */
        consent(&m[i], "trial_recruitment", "[\"demographics\", \"conditions\"]",
                i == 18 ? json_pack("{s:{s:b}}", "restrictions", "non_commercial", 1) : NULL);
    }
    withdraw(&m[19]);
    create_trial(coord, trial_body("Lupus trial", "lupus", true), t);
    approve(admin, t, 0);

    /* trials.c in this process, on the test database. */
    PGconn *su = th_db();
    snprintf(conninfo, sizeof(conninfo), "host=%s port=%s dbname=%s user=%s", PQhost(su),
             PQport(su), PQdb(su), PQuser(su));
    PQfinish(su);
    ck_assert_int_eq(db_pool_init(conninfo, 1, 10, 0), 0);
    struct db_conn *db = db_acquire();
    ck_assert_ptr_nonnull(db);
    struct svc_trial *tr = NULL;
    ck_assert_int_eq(svc_trial_load(db, t, m[0].id, false, &tr), 0); /* not its coordinator */
    ck_assert_int_eq(svc_trial_load(db, t, NULL, false, &tr), 1);
    ck_assert(tr->approved);
    ck_assert_uint_eq(tr->ncountries, 3);
    int64_t now = (int64_t)time(NULL);

    /* Eligibility by trials.c ... */
    struct stats_sql q;
    stats_sql_init(&q);
    ck_assert_int_eq(stats_sql_append(&q, "SELECT coalesce(string_agg(e.member_id::text, ',' "
                                          "ORDER BY e.member_id::text COLLATE \"C\"), '') FROM ("),
                     0);
    ck_assert_int_eq(svc_trial_eligible_sql(tr, now, &q), 0);
    ck_assert_int_eq(stats_sql_append(&q, ") e"), 0);
    PGresult *res = db_exec(db, q.text, q.nparams, (const char *const *)q.params);
    ck_assert_ptr_nonnull(res);
    char *mine = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    stats_sql_free(&q);

    /* ... and independently: the rules written out by hand for this trial (commercial, for
     * profit, focus lupus, demographics + conditions, 18..70, lupus, not epilepsy). */
    static const char *indep_from =
        " FROM account a JOIN member_profile p ON p.member_id = a.id "
        "WHERE a.role = 'member' AND a.deleted_at IS NULL "
        "AND extract(year FROM now() AT TIME ZONE 'UTC') - p.birth_year BETWEEN 18 AND 70 "
        "AND EXISTS (SELECT 1 FROM member_condition c WHERE c.member_id = a.id "
        "AND c.condition_id = 'lupus') "
        "AND NOT EXISTS (SELECT 1 FROM member_condition c WHERE c.member_id = a.id "
        "AND c.condition_id = 'epilepsy') "
        "AND EXISTS (SELECT 1 FROM consent_grant g WHERE g.member_id = a.id "
        "AND g.purpose = 'trial_recruitment' AND g.effect = 'permit' AND g.status = 'active' "
        "AND g.valid_from <= now() AND (g.valid_until IS NULL OR g.valid_until > now()) "
        "AND g.categories & 3 = 3 AND NOT g.non_commercial AND NOT g.not_for_profit_only "
        "AND (g.conditions = '{}' OR 'lupus' = ANY (g.conditions))) "
        "AND NOT EXISTS (SELECT 1 FROM consent_grant g WHERE g.member_id = a.id "
        "AND g.purpose = 'trial_recruitment' AND g.effect = 'deny' AND g.status = 'active')";
    char indep[2048];
    snprintf(indep, sizeof(indep),
             "SELECT coalesce(string_agg(a.id::text, ',' ORDER BY a.id::text COLLATE \"C\"), '')%s",
             indep_from);
    char *theirs = sql_text(indep, 0, NULL);
    /* 14 of the 20: not the 71- and 17-year-olds, the excluded, the unconsenting, the
     * non-commercial and the withdrawn. */
    struct member *want[20];
    size_t nw = 0;
    for (int i = 0; i < 20; i++)
        if (ages[i] >= 18 && ages[i] <= 70 && i < 16)
            want[nw++] = &m[i];
    char *expected = id_list(want, nw);
    ck_assert_uint_eq(nw, 14);
    ck_assert_str_eq(theirs, expected);
    ck_assert_str_eq(mine, theirs);
    free(mine);
    free(theirs);
    free(expected);

    /* Feasibility with zero noise: every released number is the research rule applied to the
     * independent exact count. */
    struct stats_raw raw[SVC_TRIAL_FEASIBILITY_MEASURES];
    for (int i = 0; i < SVC_TRIAL_FEASIBILITY_MEASURES; i++)
        stats_raw_init(&raw[i]);
    ck_assert_int_eq(svc_trial_feasibility_raw(db, tr, now, false, raw), 0);
    struct stats_mechanism zero = {zero_noise, NULL};
    json_t *rel = svc_trial_feasibility_release(tr, raw, &zero, 0.25, now);
    ck_assert_ptr_nonnull(rel);
    snprintf(indep, sizeof(indep), "SELECT count(*)%s", indep_from);
    long total = th_sql_long(indep, 0, NULL);
    ck_assert_int_eq(total, 14);
    json_t *want_total = stats_release_count(total);
    ck_assert(json_equal(json_object_get(rel, "count"), want_total));
    ck_assert_int_eq(json_integer_value(json_object_get(rel, "count")), 15);
    json_decref(want_total);
    json_t *cell;
    size_t k;
    json_array_foreach(json_object_get(rel, "by_country"), k, cell)
    {
        char cq[2300];
        snprintf(cq, sizeof(cq), "SELECT count(*)%s AND p.country = '%s'", indep_from,
                 sget(cell, "value"));
        json_t *w = stats_release_count(th_sql_long(cq, 0, NULL));
        ck_assert(json_equal(json_object_get(cell, "count"), w));
        json_decref(w);
    }
    json_array_foreach(json_object_get(rel, "by_age_band"), k, cell)
    {
        char cq[2300];
        int lo = 0, hi = 0;
        const char *band = sget(cell, "value");
        if (strcmp(band, "not_recorded") == 0)
            snprintf(cq, sizeof(cq), "SELECT count(*)%s AND p.birth_year IS NULL", indep_from);
        else if (sscanf(band, "%d-%d", &lo, &hi) == 2 || sscanf(band, "%d+", &lo) == 1)
            snprintf(cq, sizeof(cq),
                     "SELECT count(*)%s AND extract(year FROM now() AT TIME ZONE 'UTC') - "
                     "p.birth_year BETWEEN %d AND %d",
                     indep_from, lo, hi ? hi : 1000);
        json_t *w = stats_release_count(th_sql_long(cq, 0, NULL));
        ck_assert_msg(json_equal(json_object_get(cell, "count"), w), "band %s", band);
        json_decref(w);
    }
    json_decref(rel);
    for (int i = 0; i < SVC_TRIAL_FEASIBILITY_MEASURES; i++)
        stats_raw_free(&raw[i]);

    /* The exact response totals, and invitations honouring count. */
    set_status(coord, t, "recruiting", 200);
    char path[160];
    snprintf(path, sizeof(path), "/v1/trials/%s/invitations", t);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 5), &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    const char *p[] = {t};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM trial_invitation WHERE trial_id = $1", 1, p),
                     5);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 1000), &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM trial_invitation WHERE trial_id = $1", 1, p),
                     14);
    struct svc_trial_responses counts;
    ck_assert_int_eq(svc_trial_response_counts(db, t, &counts), 0);
    ck_assert_int_eq(counts.invited, 14);
    ck_assert_int_eq(counts.pending, 14);
    ck_assert_int_eq(counts.accepted, 0);
    ck_assert_int_eq(counts.declined, 0);
    json_t *resp = svc_trial_responses_release(&counts, &zero, 0.1);
    ck_assert_int_eq(json_integer_value(json_object_get(resp, "invited")), 15);
    ck_assert_int_eq(json_integer_value(json_object_get(resp, "pending")), 15);
    ck_assert(json_is_true(json_object_get(json_object_get(resp, "accepted"), "suppressed")));
    json_decref(resp);

    svc_trial_free(tr);
    db_release(db);
    db_pool_shutdown();
}
END_TEST

/* ---- access and small rules ---- */

START_TEST(roles_and_approval_rules)
{
    char coord[64], admin[64], member[64], t[37], path[160], past[11];
    struct th_resp r;

    th_account("coordinator", coord, NULL);
    th_account("admin", admin, NULL);
    th_account("member", member, NULL);
    th_reqj("POST", "/v1/trials", member, trial_body("x", "asthma", false), &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", "/v1/me/invitations", coord, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", "/v1/admin/trials", coord, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", "/v1/trials/not-a-uuid", coord, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);

    /* Criteria may read only the categories the trial asks consent for; demographics always. */
    json_t *b = trial_body("Asthma trial", "asthma", false);
    json_object_set_new(b, "categories", json_pack("[s]", "demographics"));
    th_reqj("POST", "/v1/trials", coord, b, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "inclusion.all[1].condition"));
    ck_assert(names_field(&r, "exclusion.condition"));
    th_resp_free(&r);
    b = trial_body("Asthma trial", "asthma", false);
    json_object_set_new(b, "categories", json_pack("[s]", "conditions"));
    th_reqj("POST", "/v1/trials", coord, b, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "categories"));
    ck_assert(names_field(&r, "inclusion.all[0].age"));
    th_resp_free(&r);

    create_trial(coord, trial_body("Asthma trial", "asthma", false), t);
    snprintf(path, sizeof(path), "/v1/trials/%s", t);
    th_reqj("PATCH", path, coord, json_pack("{s:[s]}", "categories", "demographics"), &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "inclusion.all[1].condition"));
    th_resp_free(&r);
    /* Without the exclusion and with criteria on demographics only, demographics suffice. */
    th_reqj("PATCH", path, coord,
            json_pack("{s:[s], s:n, s:{s:{s:i}}}", "categories", "demographics", "exclusion",
                      "inclusion", "age", "min", 18),
            &r);
    th_assert_status(&r, 200);
    ck_assert(json_is_null(json_object_get(r.json, "exclusion")));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/trials/%s/approve", t);
    today_plus(-1, past);
    th_reqj("POST", path, admin, json_pack("{s:s}", "expires_on", past), &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "expires_on"));
    th_resp_free(&r);
    th_reqj("POST", path, admin,
            json_pack("{s:s, s:f}", "expires_on", "2099-01-01", "epsilon_budget", 1.0), &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);
    th_reqj("POST", "/v1/admin/trials/00000000-0000-4000-8000-000000000000/approve", admin,
            json_pack("{s:s}", "expires_on", past), &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);
    char ok[11];
    today_plus(10, ok);
    th_reqj("POST", "/v1/admin/trials/00000000-0000-4000-8000-000000000000/approve", admin,
            json_pack("{s:s}", "expires_on", ok), &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    approve(admin, t, 2.5);
    snprintf(path, sizeof(path), "/v1/trials/%s", t);
    th_req("GET", path, coord, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_double_eq_tol(json_real_value(json_object_get(r.json, "epsilon_budget")), 2.5, 1e-9);
    th_resp_free(&r);
    /* Invitations need a recruiting trial. */
    snprintf(path, sizeof(path), "/v1/trials/%s/invitations", t);
    th_reqj("POST", path, coord, json_pack("{s:i}", "count", 3), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    /* An expired approval stops recruiting. */
    const char *p[] = {t};
    sql("UPDATE trial SET expires_on = (now() AT TIME ZONE 'UTC')::date - 1 WHERE id = $1", 1, p);
    set_status(coord, t, "recruiting", 409);
    sql("UPDATE trial SET expires_on = (now() AT TIME ZONE 'UTC')::date + 1 WHERE id = $1", 1, p);
    set_status(coord, t, "recruiting", 200);
    set_status(coord, t, "closed", 200);
    snprintf(path, sizeof(path), "/v1/admin/trials/%s/approve", t);
    th_reqj("POST", path, admin, json_pack("{s:s}", "expires_on", ok), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("trials");
    TCase *tc = tcase_create("recruitment");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, full_flow);
    tcase_add_test(tc, budget_exhaustion_releases_nothing);
    tcase_add_test(tc, zero_mechanism_matches_independent_sql);
    tcase_add_test(tc, roles_and_approval_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
