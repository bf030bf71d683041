/* End-to-end: the member health record API (profile, catalog search, the seven record resources,
 * lists, validation, custom items, adherence, goal arithmetic, idempotency, isolation and the JSON
 * export) against the real server and a real PostgreSQL. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---- */

/* JSON from text written with single quotes (none of the test strings contain one). New reference.
 */
static const char *P(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *P(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

/* Call and assert the status; returns the response body (new reference, NULL for none). body is
 * stolen. */
static const char *S(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static double N(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_number(v), "%s is not a number", key);
    return json_number_value(v);
}

static bool is_null(const json_t *o, const char *key)
{
    return json_is_null(json_object_get(o, key));
}

/* A 422 problem whose errors name exactly these fields (NULL-terminated), in any order. */
static void assert_fields(const struct th_resp *r, const char *const *fields)
{
    char ct[128];
    th_assert_status(r, 422);
    ck_assert_str_eq(th_header(r, "Content-Type", ct, sizeof(ct)), "application/problem+json");
    json_t *errs = json_object_get(r->json, "errors"), *e;
    size_t n = 0, i;
    while (fields[n])
        n++;
    ck_assert_msg(json_array_size(errs) == n, "want %zu errors, got: %s", n, r->body);
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        json_array_foreach(errs, i, e) found = found || strcmp(S(e, "field"), fields[k]) == 0;
        ck_assert_msg(found, "no error names %s: %s", fields[k], r->body);
    }
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void bad(const char *method, const char *path, const char *token, json_t *body,
                const char *const *fields)
{
    struct th_resp r;
    th_reqj(method, path, token, body, &r);
    assert_fields(&r, fields);
    th_resp_free(&r);
}

static void iso(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void ymd(time_t t, char out[16])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static long count_for(const char *table, const char *member)
{
    char sql[256];
    const char *p[] = {member};
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE member_id = $1", table);
    return th_sql_long(sql, 1, p);
}

static json_t *symptom(const char *token, const char *item_json, int severity, const char *at)
{
    char body[512];
    snprintf(body, sizeof(body), "{'symptom': %s, 'severity': %d, 'recorded_at': '%s'}", item_json,
             severity, at);
    return th_must(201, "POST", "/v1/me/symptoms", token, th_json(body));
}

/* ---- profile ---- */

START_TEST(profile_put_get_validate)
{
    char tok[64], id[37];
    struct th_resp r;
    th_account("member", tok, id);

    th_req("GET", "/v1/me/profile", tok, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);

    json_t *p = th_must(
        201, "PUT", "/v1/me/profile", tok,
        th_json("{'birth_year': 1980, 'sex_at_birth': 'female', 'gender': 'woman', "
                "'country': 'NL', 'postal_prefix': '105', 'timezone': 'Europe/Amsterdam'}"));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "birth_year")), 1980);
    ck_assert_str_eq(S(p, "sex_at_birth"), "female");
    ck_assert_str_eq(S(p, "gender"), "woman");
    ck_assert_str_eq(S(p, "country"), "NL");
    ck_assert_str_eq(S(p, "postal_prefix"), "105");
    ck_assert_str_eq(S(p, "timezone"), "Europe/Amsterdam");
    json_decref(p);

    p = th_must(200, "GET", "/v1/me/profile", tok, NULL);
    ck_assert_str_eq(S(p, "timezone"), "Europe/Amsterdam");
    ck_assert_str_eq(S(p, "postal_prefix"), "105");
    json_decref(p);

    /* PUT replaces: what is left out is gone. */
    p = th_must(200, "PUT", "/v1/me/profile", tok,
                th_json("{'birth_year': 1981, 'sex_at_birth': 'intersex', 'country': 'BE', "
                        "'timezone': 'America/Argentina/Buenos_Aires'}"));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "birth_year")), 1981);
    ck_assert(is_null(p, "gender"));
    ck_assert(is_null(p, "postal_prefix"));
    ck_assert_str_eq(S(p, "country"), "BE");
    json_decref(p);

    /* Every bad field named at once; nothing changes. */
    char year[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(year, sizeof(year), "%d", tm.tm_year + 1900 + 1);
    json_t *b = th_json("{'sex_at_birth': 'other', 'gender': '', 'country': 'XK', "
                        "'postal_prefix': '1234', 'timezone': '../etc/passwd', 'shoe_size': 42}");
    json_object_set_new(b, "birth_year", json_integer(atoi(year)));
    bad("PUT", "/v1/me/profile", tok, b,
        FIELDS("birth_year", "sex_at_birth", "gender", "country", "postal_prefix", "timezone",
               "shoe_size"));
    bad("PUT", "/v1/me/profile", tok,
        th_json("{'birth_year': 1899, 'sex_at_birth': 'male', 'country': 'nl', 'timezone': "
                "'zone.tab'}"),
        FIELDS("birth_year", "country", "timezone"));
    bad("PUT", "/v1/me/profile", tok,
        th_json("{'birth_year': 1950, 'sex_at_birth': 'male', 'country': 'NL', 'timezone': "
                "'Mars/Olympus'}"),
        FIELDS("timezone"));
    bad("PUT", "/v1/me/profile", tok,
        th_json("{'birth_year': 1950, 'sex_at_birth': 'male', 'country': 'NL', 'timezone': "
                "'/etc/localtime'}"),
        FIELDS("timezone"));
    bad("PUT", "/v1/me/profile", tok, th_json("{'country': 'NL'}"),
        FIELDS("birth_year", "sex_at_birth", "timezone"));
    /* The current year and every real zone kind are fine. */
    snprintf(year, sizeof(year), "%d", tm.tm_year + 1900);
    b = th_json("{'sex_at_birth': 'unknown', 'country': 'AQ', 'timezone': 'Etc/GMT+5'}");
    json_object_set_new(b, "birth_year", json_integer(atoi(year)));
    json_decref(th_must(200, "PUT", "/v1/me/profile", tok, b));
    p = th_must(200, "GET", "/v1/me/profile", tok, NULL);
    ck_assert_str_eq(S(p, "country"), "AQ");
    ck_assert_str_eq(S(p, "timezone"), "Etc/GMT+5");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "birth_year")), atoi(year));
    json_decref(p);
}
END_TEST

/* ---- catalog search ---- */

/* The expected order computed independently in SQL: prefix matches, then substring matches, by
 * name. */
static void assert_catalog_order(const char *table, const char *q, const json_t *items)
{
    char sql[512];
    snprintf(
        sql, sizeof(sql),
        "SELECT string_agg(id, ',' ORDER BY (strpos(lower(name), lower($1)) = 1) DESC, name, id) "
        "FROM %s WHERE strpos(lower(name), lower($1)) > 0",
        table);
    PGconn *c = th_db();
    const char *p[] = {q};
    PGresult *res = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    char got[8192] = "";
    json_t *e;
    size_t i;
    json_array_foreach(items, i, e)
    {
        strcat(got, i ? "," : "");
        strcat(got, S(e, "id"));
    }
    ck_assert_str_eq(got, PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
}

START_TEST(catalog_search)
{
    char tok[64], staff[64];
    struct th_resp r;
    th_account("member", tok, NULL);
    th_account("researcher", staff, NULL);

    json_t *j = th_must(200, "GET", "/v1/catalog/symptoms?q=fat", tok, NULL);
    json_t *items = json_object_get(j, "items");
    ck_assert_str_eq(S(json_array_get(items, 0), "id"), "fatigue");
    ck_assert_str_eq(S(json_array_get(items, 0), "name"), "Fatigue");
    ck_assert_str_eq(S(json_array_get(items, 0), "snomed"), "84229001");
    assert_catalog_order("catalog_symptom", "fat", items);
    json_decref(j);

    /* Case-insensitive; prefix before substring. */
    j = th_must(200, "GET", "/v1/catalog/symptoms?q=PAIN&limit=500", staff, NULL);
    items = json_object_get(j, "items");
    ck_assert_uint_gt(json_array_size(items), 3);
    assert_catalog_order("catalog_symptom", "pain", items);
    json_decref(j);

    j = th_must(200, "GET", "/v1/catalog/conditions?q=multiple%20scl", tok, NULL);
    items = json_object_get(j, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert_str_eq(S(json_array_get(items, 0), "id"), "multiple_sclerosis");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(json_array_get(items, 0), "icd10"), 0)),
        "G35");
    ck_assert_str_eq(S(json_array_get(items, 0), "snomed"), "24700007");
    json_decref(j);

    j = th_must(200, "GET", "/v1/catalog/medications?q=metf", tok, NULL);
    items = json_object_get(j, "items");
    ck_assert_str_eq(S(json_array_get(items, 0), "id"), "metformin");
    ck_assert_str_eq(S(json_array_get(items, 0), "rxnorm"), "6809");
    assert_catalog_order("catalog_medication", "metf", items);
    json_decref(j);

    /* Empty q lists everything up to limit; default limit 50. */
    j = th_must(200, "GET", "/v1/catalog/medications", tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "items")), 50);
    json_decref(j);
    j = th_must(200, "GET", "/v1/catalog/conditions?q=&limit=7", tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "items")), 7);
    assert_catalog_order("(SELECT * FROM catalog_condition ORDER BY name, id LIMIT 7) c", "",
                         json_object_get(j, "items"));
    json_decref(j);

    /* LIKE metacharacters match only themselves. */
    j = th_must(200, "GET", "/v1/catalog/symptoms?q=%25", tok, NULL);
    ck_assert_uint_eq(
        json_array_size(json_object_get(j, "items")),
        (size_t)th_sql_long("SELECT count(*) FROM catalog_symptom WHERE strpos(name, '%') > 0", 0,
                            NULL));
    json_decref(j);
    j = th_must(200, "GET", "/v1/catalog/symptoms?q=_", tok, NULL);
    ck_assert_uint_eq(
        json_array_size(json_object_get(j, "items")),
        (size_t)th_sql_long("SELECT count(*) FROM catalog_symptom WHERE strpos(name, '_') > 0", 0,
                            NULL));
    json_decref(j);

    char path[512], q[128];
    memset(q, 'a', 101);
    q[101] = '\0';
    th_req("GET", P(path, sizeof(path), "/v1/catalog/symptoms?q=%s", q), tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("q"));
    th_resp_free(&r);
    th_req("GET", "/v1/catalog/symptoms?limit=501", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    th_req("GET", "/v1/catalog/symptoms?limit=x", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    th_req("GET", "/v1/catalog/symptoms?q=%FF", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("q"));
    th_resp_free(&r);
    th_req("GET", "/v1/catalog/symptoms", NULL, NULL, NULL, &r);
    th_assert_status(&r, 401);
    th_resp_free(&r);
}
END_TEST

/* ---- conditions ---- */

START_TEST(conditions_crud)
{
    char tok[64], me[37], path[256];
    struct th_resp r;
    th_account("member", tok, me);

    json_t *c1 = th_must(201, "POST", "/v1/me/conditions", tok,
                         th_json("{'condition': 'multiple_sclerosis', 'diagnosed_on': '2019-04'}"));
    ck_assert_str_eq(S(c1, "condition"), "multiple_sclerosis");
    ck_assert_str_eq(S(c1, "diagnosed_on"), "2019-04");
    ck_assert_str_eq(S(c1, "status"), "active");
    ck_assert(is_null(c1, "note"));
    const char *id1 = S(c1, "id");
    const char *p1[] = {id1};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM member_condition WHERE id = $1 "
                                 "AND diagnosed_date = '2019-04-01'",
                                 1, p1),
                     1);

    json_t *c2 =
        th_must(201, "POST", "/v1/me/conditions", tok,
                th_json("{'condition': {'custom': 'Mast cell activation'}, 'diagnosed_on': '2021', "
                        "'status': 'remission', 'note': 'after the trip'}"));
    ck_assert_str_eq(S(json_object_get(c2, "condition"), "custom"), "Mast cell activation");
    ck_assert_str_eq(S(c2, "diagnosed_on"), "2021");
    ck_assert_str_eq(S(c2, "status"), "remission");
    json_t *c3 = th_must(201, "POST", "/v1/me/conditions", tok,
                         th_json("{'condition': 'type_2_diabetes', 'diagnosed_on': '2015-11-30'}"));

    /* Newest diagnosis first. */
    json_t *l = th_must(200, "GET", "/v1/me/conditions", tok, NULL);
    json_t *items = json_object_get(l, "items");
    ck_assert_uint_eq(json_array_size(items), 3);
    ck_assert_str_eq(S(json_array_get(items, 0), "id"), S(c2, "id"));
    ck_assert_str_eq(S(json_array_get(items, 1), "id"), id1);
    ck_assert_str_eq(S(json_array_get(items, 2), "id"), S(c3, "id"));
    ck_assert(is_null(l, "next_cursor"));
    json_decref(l);
    /* from/to on the diagnosis date (from inclusive, to exclusive). */
    l = th_must(200, "GET", "/v1/me/conditions?from=2019-04-01T00:00:00Z&to=2021-01-01T00:00:00Z",
                tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 1);
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 0), "id"), id1);
    json_decref(l);

    json_t *g = th_must(200, "GET", P(path, sizeof(path), "/v1/me/conditions/%s", id1), tok, NULL);
    ck_assert_str_eq(S(g, "diagnosed_on"), "2019-04");
    json_decref(g);

    /* PATCH: partial; explicit null clears. */
    g = th_must(200, "PATCH", path, tok, th_json("{'status': 'resolved', 'note': 'gone'}"));
    ck_assert_str_eq(S(g, "status"), "resolved");
    ck_assert_str_eq(S(g, "note"), "gone");
    ck_assert_str_eq(S(g, "condition"), "multiple_sclerosis");
    json_decref(g);
    g = th_must(200, "PATCH", path, tok, th_json("{'note': null, 'diagnosed_on': '2018-02-03'}"));
    ck_assert(is_null(g, "note"));
    ck_assert_str_eq(S(g, "diagnosed_on"), "2018-02-03");
    ck_assert_str_eq(S(g, "status"), "resolved");
    json_decref(g);

    char future[16];
    time_t now = time(NULL);
    ymd(now + 3 * 86400, future);
    bad("POST", "/v1/me/conditions", tok,
        th_json("{'condition': 'no_such_condition', 'diagnosed_on': '2019-13'}"),
        FIELDS("condition", "diagnosed_on"));
    json_t *b = th_json("{'condition': 'asthma', 'status': 'cured', 'colour': 'red'}");
    json_object_set_new(b, "diagnosed_on", json_string(future));
    bad("POST", "/v1/me/conditions", tok, b, FIELDS("diagnosed_on", "status", "colour"));
    bad("POST", "/v1/me/conditions", tok,
        th_json("{'condition': {'custom': '  '}, 'diagnosed_on': '1899'}"),
        FIELDS("condition", "diagnosed_on"));
    bad("POST", "/v1/me/conditions", tok,
        th_json("{'condition': {'custom': 'x', 'extra': 1}, 'diagnosed_on': 2019}"),
        FIELDS("condition", "diagnosed_on"));
    bad("PATCH", path, tok, th_json("{'condition': null, 'id': 'x'}"), FIELDS("condition", "id"));
    ck_assert_int_eq(count_for("member_condition", me), 3);
    ck_assert_int_eq(count_for("custom_item", me), 1);

    th_req("DELETE", path, tok, NULL, NULL, &r);
    th_assert_status(&r, 204);
    ck_assert_uint_eq(r.len, 0);
    th_resp_free(&r);
    th_req("GET", path, tok, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("DELETE", path, tok, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("GET", "/v1/me/conditions/not-a-uuid", tok, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    json_decref(c1);
    json_decref(c2);
    json_decref(c3);
}
END_TEST

/* ---- symptoms ---- */

START_TEST(symptom_severity_mapping)
{
    char tok[64], at[32];
    th_account("member", tok, NULL);
    iso(time(NULL) - 3600, at);
    /* The one table: words to numbers... */
    static const struct {
        const char *label;
        int value;
    } words[] = {{"none", 0}, {"mild", 2}, {"moderate", 5}, {"severe", 7}, {"very_severe", 9}};
    for (size_t i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{'symptom': 'fatigue', 'severity_label': '%s', 'recorded_at': '%s'}",
                 words[i].label, at);
        json_t *s = th_must(201, "POST", "/v1/me/symptoms", tok, th_json(body));
        ck_assert_int_eq(json_integer_value(json_object_get(s, "severity")), words[i].value);
        ck_assert_str_eq(S(s, "severity_label"), words[i].label);
        json_decref(s);
    }
    /* ...and numbers to bands. */
    static const char *const bands[] = {"none",     "mild",        "mild",       "mild",
                                        "moderate", "moderate",    "moderate",   "severe",
                                        "severe",   "very_severe", "very_severe"};
    for (int sev = 0; sev <= 10; sev++) {
        json_t *s = symptom(tok, "'headache'", sev, at);
        ck_assert_int_eq(json_integer_value(json_object_get(s, "severity")), sev);
        ck_assert_str_eq(S(s, "severity_label"), bands[sev]);
        json_decref(s);
    }
    /* Both: fine when they agree (3 is mild), 422 otherwise. */
    char body[256];
    snprintf(body, sizeof(body),
             "{'symptom': 'nausea', 'severity': 3, 'severity_label': 'mild', 'recorded_at': '%s'}",
             at);
    json_t *s = th_must(201, "POST", "/v1/me/symptoms", tok, th_json(body));
    ck_assert_int_eq(json_integer_value(json_object_get(s, "severity")), 3);
    json_decref(s);
    snprintf(body, sizeof(body),
             "{'symptom': 'nausea', 'severity': 4, 'severity_label': 'mild', 'recorded_at': '%s'}",
             at);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("severity_label"));
    snprintf(body, sizeof(body), "{'symptom': 'nausea', 'recorded_at': '%s'}", at);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("severity"));
    snprintf(
        body, sizeof(body),
        "{'symptom': 'nausea', 'severity': 11, 'severity_label': 'awful', 'recorded_at': '%s'}",
        at);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("severity", "severity_label"));
    snprintf(body, sizeof(body), "{'symptom': 'nausea', 'severity': 2.5, 'recorded_at': '%s'}", at);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("severity"));
}
END_TEST

START_TEST(symptom_fields_and_patch)
{
    char tok[64], me[37], path[256], body[8192];
    struct th_resp r;
    th_account("member", tok, me);
    time_t now = time(NULL);
    char in23h[32], in25h[32];
    iso(now + 23 * 3600, in23h);
    iso(now + 25 * 3600, in25h);

    json_t *s = th_must(
        201, "POST", "/v1/me/symptoms", tok,
        th_json(
            "{'symptom': 'headache', 'severity': 6, 'recorded_at': "
            "'2025-03-01T10:00:00.250+01:00', "
            "'duration_minutes': 90, 'triggers': ['screen time', 'coffee'], 'note': 'left side'}"));
    ck_assert_str_eq(S(s, "symptom"), "headache");
    ck_assert_str_eq(S(s, "recorded_at"), "2025-03-01T09:00:00.25Z");
    ck_assert_int_eq(json_integer_value(json_object_get(s, "duration_minutes")), 90);
    ck_assert_uint_eq(json_array_size(json_object_get(s, "triggers")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(s, "triggers"), 1)),
                     "coffee");
    ck_assert_str_eq(S(s, "note"), "left side");
    ck_assert_ptr_nonnull(S(s, "created_at"));
    snprintf(path, sizeof(path), "/v1/me/symptoms/%s", S(s, "id"));

    /* 23 h ahead is fine, 25 h is not. */
    json_decref(symptom(tok, "'nausea'", 1, in23h));
    snprintf(body, sizeof(body), "{'symptom': 'nausea', 'severity': 1, 'recorded_at': '%s'}",
             in25h);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("recorded_at"));

    /* Every bad field at once; nothing stored. */
    long before = count_for("symptom_entry", me);
    char triggers[2048] = "[";
    for (int i = 0; i < 21; i++)
        strcat(triggers, i ? ", 't'" : "'t'");
    strcat(triggers, "]");
    char note[2100];
    memset(note, 'n', 2001);
    note[2001] = '\0';
    snprintf(body, sizeof(body),
             "{'symptom': 'not_a_symptom', 'severity': -1, 'recorded_at': '2025-03-01 10:00', "
             "'duration_minutes': 10081, 'triggers': %s, 'note': '%s', 'mood': 'ok'}",
             triggers, note);
    bad("POST", "/v1/me/symptoms", tok, th_json(body),
        FIELDS("symptom", "severity", "recorded_at", "duration_minutes", "triggers", "note",
               "mood"));
    bad("POST", "/v1/me/symptoms", tok,
        th_json("{'symptom': 'fatigue', 'severity': 1, 'recorded_at': '2025-03-01T10:00:00+15:00', "
                "'triggers': ['ok', '', 7]}"),
        FIELDS("recorded_at", "triggers[1]", "triggers[2]"));
    bad("POST", "/v1/me/symptoms", tok,
        th_json("{'severity': 1, 'recorded_at': '2025-03-01T10:00:00Z', 'symptom': 'Fatigue'}"),
        FIELDS("symptom"));
    ck_assert_int_eq(count_for("symptom_entry", me), before);

    /* PATCH: the word replaces the number; null clears optional fields; required ones stay
     * required. */
    json_t *p = th_must(200, "PATCH", path, tok,
                        th_json("{'severity_label': 'very_severe', 'note': null}"));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "severity")), 9);
    ck_assert_str_eq(S(p, "severity_label"), "very_severe");
    ck_assert(is_null(p, "note"));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "duration_minutes")), 90);
    ck_assert_str_eq(S(p, "recorded_at"), "2025-03-01T09:00:00.25Z");
    json_decref(p);
    p = th_must(200, "PATCH", path, tok,
                th_json("{'severity': 1, 'triggers': null, 'symptom': {'custom': 'Aura'}}"));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "severity")), 1);
    ck_assert_str_eq(S(p, "severity_label"), "mild");
    ck_assert(is_null(p, "triggers"));
    ck_assert_str_eq(S(json_object_get(p, "symptom"), "custom"), "Aura");
    json_decref(p);
    bad("PATCH", path, tok,
        th_json("{'recorded_at': null, 'severity': 1, 'severity_label': 'none'}"),
        FIELDS("recorded_at", "severity_label"));
    p = th_must(200, "GET", path, tok, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "severity")), 1);
    json_decref(p);

    th_req("DELETE", path, tok, NULL, NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    th_req("PATCH", path, tok, "{\"severity\": 2}", NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    json_decref(s);
}
END_TEST

START_TEST(custom_items)
{
    char tok[64], me[37], at[32];
    th_account("member", tok, me);
    iso(time(NULL) - 60, at);
    json_t *a = symptom(tok, "{'custom': 'Brain zaps'}", 4, at);
    json_t *b = symptom(tok, "{'custom': 'BRAIN ZAPS'}", 5, at);
    /* One item, case-insensitively; shown with the name it was first given. */
    ck_assert_str_eq(S(json_object_get(a, "symptom"), "custom"), "Brain zaps");
    ck_assert_str_eq(S(json_object_get(b, "symptom"), "custom"), "Brain zaps");
    const char *p[] = {me};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM custom_item WHERE member_id = $1 AND kind = 'symptom'", 1,
                    p),
        1);
    /* A custom item never merges with the catalog item of the same name. */
    json_t *c = symptom(tok, "{'custom': 'fatigue'}", 3, at);
    json_t *d = symptom(tok, "'fatigue'", 3, at);
    ck_assert_str_eq(S(json_object_get(c, "symptom"), "custom"), "fatigue");
    ck_assert_str_eq(S(d, "symptom"), "fatigue");
    ck_assert_int_eq(
        th_sql_long(
            "SELECT count(*) FROM symptom_entry WHERE member_id = $1 AND symptom_id IS NULL", 1, p),
        3);
    /* Kinds are separate: a custom condition of the same name is another item. */
    json_decref(
        th_must(201, "POST", "/v1/me/conditions", tok,
                th_json("{'condition': {'custom': 'Brain zaps'}, 'diagnosed_on': '2020'}")));
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM custom_item WHERE member_id = $1", 1, p), 3);
    /* Another member's item of that name is theirs. */
    char tok2[64], other[37];
    th_account("member", tok2, other);
    json_decref(symptom(tok2, "{'custom': 'brain zaps'}", 1, at));
    const char *p2[] = {other};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM custom_item WHERE member_id = $1", 1, p2),
                     1);
    char long_name[256], body[512];
    memset(long_name, 'x', 201);
    long_name[201] = '\0';
    snprintf(body, sizeof(body),
             "{'symptom': {'custom': '%s'}, 'severity': 1, 'recorded_at': '%s'}", long_name, at);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("symptom"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}
END_TEST

/* ---- lists ---- */

START_TEST(symptom_pagination_filters)
{
    char tok[64], me[37], path[512];
    struct th_resp r;
    th_account("member", tok, me);
    /* 120 entries, in pairs sharing a timestamp so the id breaks ties; every third is a headache.
     */
    json_t *items = json_array();
    for (int i = 0; i < 120; i++) {
        char at[32];
        iso(1735689600 + (i / 2) * 3600, at); /* 2025-01-01T00:00Z onwards */
        json_array_append_new(items, json_pack("{s:s, s:s, s:i, s:s}", "type", "symptom", "symptom",
                                               i % 3 ? "fatigue" : "headache", "severity", i % 11,
                                               "recorded_at", at));
    }
    json_t *ids = th_must(201, "POST", "/v1/me/batch", tok, json_pack("{s:o}", "items", items));
    ck_assert_uint_eq(json_array_size(json_object_get(ids, "ids")), 120);
    json_decref(ids);

    /* Walk with limit 50: 50, 50, 20, no duplicates, in (recorded_at desc, id desc) order. */
    PGconn *c = th_db();
    const char *pm[] = {me};
    PGresult *want = PQexecParams(c,
                                  "SELECT id::text FROM symptom_entry WHERE member_id = $1 "
                                  "ORDER BY recorded_at DESC, id DESC",
                                  1, NULL, pm, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(want), 120);
    char cursor[512] = "", page2[512] = "";
    int seen = 0, sizes[3] = {0};
    for (int page = 0; page < 3; page++) {
        if (page)
            P(path, sizeof(path), "/v1/me/symptoms?limit=50&cursor=%s", cursor);
        else
            P(path, sizeof(path), "/v1/me/symptoms?limit=50");
        if (page == 1)
            snprintf(page2, sizeof(page2), "%s", path);
        json_t *l = th_must(200, "GET", path, tok, NULL);
        json_t *e, *list = json_object_get(l, "items");
        size_t i;
        sizes[page] = (int)json_array_size(list);
        json_array_foreach(list, i, e)
        {
            ck_assert_str_eq(S(e, "id"), PQgetvalue(want, seen, 0));
            seen++;
        }
        if (page < 2)
            snprintf(cursor, sizeof(cursor), "%s", S(l, "next_cursor"));
        else
            ck_assert(is_null(l, "next_cursor"));
        json_decref(l);
    }
    ck_assert_int_eq(sizes[0], 50);
    ck_assert_int_eq(sizes[1], 50);
    ck_assert_int_eq(sizes[2], 20);
    ck_assert_int_eq(seen, 120);
    /* Stable: the same cursor gives the same page, also after new, newer entries arrive. */
    json_t *again1 = th_must(200, "GET", page2, tok, NULL);
    json_decref(symptom(tok, "'nausea'", 2, "2025-02-01T00:00:00Z"));
    json_t *again2 = th_must(200, "GET", page2, tok, NULL);
    ck_assert(json_equal(json_object_get(again1, "items"), json_object_get(again2, "items")));
    ck_assert_str_eq(S(json_array_get(json_object_get(again1, "items"), 0), "id"),
                     PQgetvalue(want, 50, 0));
    json_decref(again1);
    json_decref(again2);
    PQclear(want);
    PQfinish(c);

    /* Filters: symptom, from (inclusive) / to (exclusive). */
    json_t *l = th_must(200, "GET", "/v1/me/symptoms?symptom=headache&limit=500", tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 40);
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(l, "items"), i, e)
        ck_assert_str_eq(S(e, "symptom"), "headache");
    json_decref(l);
    /* Hours 10..19 inclusive: 10 timestamps, 2 entries each. */
    l = th_must(200, "GET",
                "/v1/me/symptoms?from=2025-01-01T10:00:00Z&to=2025-01-01T20:00:00Z&limit=500", tok,
                NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 20);
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 0), "recorded_at"),
                     "2025-01-01T19:00:00Z");
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 19), "recorded_at"),
                     "2025-01-01T10:00:00Z");
    json_decref(l);
    /* An offset written as %2B. */
    l = th_must(200, "GET",
                "/v1/me/symptoms?from=2025-01-01T11:00:00%2B01:00&to=2025-01-01T11:00:00Z", tok,
                NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 2);
    json_decref(l);
    l = th_must(
        200, "GET",
        "/v1/me/symptoms?symptom=headache&from=2025-01-01T00:00:00Z&to=2025-01-01T03:00:00Z", tok,
        NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 2); /* i = 0 and 3 */
    json_decref(l);

    /* Bad arguments, each named. */
    static const char *const bad_limits[] = {"0", "501", "abc", "-1", "", "1e2"};
    for (size_t k = 0; k < 6; k++) {
        th_req("GET", P(path, sizeof(path), "/v1/me/symptoms?limit=%s", bad_limits[k]), tok, NULL,
               NULL, &r);
        assert_fields(&r, FIELDS("limit"));
        th_resp_free(&r);
    }
    /* A tampered cursor: one character changed, or another listing's. */
    cursor[5] = cursor[5] == 'A' ? 'B' : 'A';
    th_req("GET", P(path, sizeof(path), "/v1/me/symptoms?cursor=%s", cursor), tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("cursor"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/symptoms?cursor=bm90LWEtY3Vyc29y", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("cursor"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/symptoms?from=yesterday&to=2025-01-01&symptom=Fatigue!", tok, NULL, NULL,
           &r);
    assert_fields(&r, FIELDS("from", "to", "symptom"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/symptoms?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z", tok, NULL,
           NULL, &r);
    assert_fields(&r, FIELDS("to"));
    th_resp_free(&r);
    /* Cursors are bound to their listing. */
    json_t *g = th_must(
        201, "POST", "/v1/me/goals", tok,
        th_json(
            "{'title': 'Walk', 'kind': 'custom', 'target_value': 10, 'direction': 'increase'}"));
    json_decref(g);
    g = th_must(
        201, "POST", "/v1/me/goals", tok,
        th_json(
            "{'title': 'Sleep', 'kind': 'custom', 'target_value': 8, 'direction': 'increase'}"));
    json_decref(g);
    l = th_must(200, "GET", "/v1/me/goals?limit=1", tok, NULL);
    th_req("GET", P(path, sizeof(path), "/v1/me/symptoms?cursor=%s", S(l, "next_cursor")), tok,
           NULL, NULL, &r);
    assert_fields(&r, FIELDS("cursor"));
    th_resp_free(&r);
    json_decref(l);
}
END_TEST

/* ---- medications, doses, adherence ---- */

START_TEST(medications_and_doses)
{
    char tok[64], me[37], path[256], body[1024];
    struct th_resp r;
    th_account("member", tok, me);
    json_t *cond = th_must(201, "POST", "/v1/me/conditions", tok,
                           th_json("{'condition': 'type_2_diabetes', 'diagnosed_on': '2015'}"));
    snprintf(
        body, sizeof(body),
        "{'medication': 'metformin', 'dose_amount': 500, 'dose_unit': 'mg', "
        "'frequency': {'times_per_day': 2}, 'started_on': '2020-01-15', 'for_condition': '%s'}",
        S(cond, "id"));
    json_t *m = th_must(201, "POST", "/v1/me/medications", tok, th_json(body));
    ck_assert_str_eq(S(m, "medication"), "metformin");
    ck_assert(N(m, "dose_amount") == 500.0);
    ck_assert_str_eq(S(m, "dose_unit"), "mg");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(m, "frequency"), "times_per_day")), 2);
    ck_assert_str_eq(S(m, "started_on"), "2020-01-15");
    ck_assert(is_null(m, "stopped_on"));
    ck_assert_str_eq(S(m, "for_condition"), S(cond, "id"));
    /* GET one also shows adherence; none recorded yet. */
    json_t *a7 = json_object_get(json_object_get(m, "adherence"), "last_7_days");
    ck_assert_int_eq(json_integer_value(json_object_get(a7, "taken")), 0);
    ck_assert(is_null(a7, "rate"));
    char mpath[256];
    snprintf(mpath, sizeof(mpath), "/v1/me/medications/%s", S(m, "id"));

    json_t *m2 = th_must(
        201, "POST", "/v1/me/medications", tok,
        th_json("{'medication': {'custom': 'Magnesium glycinate'}, 'dose_amount': 0.5, "
                "'dose_unit': 'g', 'frequency': {'as_needed': true}, 'started_on': '2023-05-01', "
                "'stopped_on': '2023-06-01', 'stop_reason': 'not_effective'}"));
    ck_assert_str_eq(S(json_object_get(m2, "medication"), "custom"), "Magnesium glycinate");
    ck_assert(json_is_true(json_object_get(json_object_get(m2, "frequency"), "as_needed")));
    ck_assert(N(m2, "dose_amount") == 0.5);
    json_t *m3 = th_must(
        201, "POST", "/v1/me/medications", tok,
        th_json("{'medication': 'dimethyl_fumarate', 'dose_amount': 240, 'dose_unit': 'mg', "
                "'frequency': {'every_n_days': 1}, 'started_on': '2021-09-09'}"));

    /* List newest start first; filter by catalog id. */
    json_t *l = th_must(200, "GET", "/v1/me/medications", tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 3);
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 0), "id"), S(m2, "id"));
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 2), "id"), S(m, "id"));
    json_decref(l);
    l = th_must(200, "GET", "/v1/me/medications?medication=metformin", tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 1);
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 0), "id"), S(m, "id"));
    json_decref(l);

    /* Validation, every field named. */
    char other_tok[64];
    th_account("member", other_tok, NULL);
    json_t *foreign = th_must(201, "POST", "/v1/me/conditions", other_tok,
                              th_json("{'condition': 'asthma', 'diagnosed_on': '2010'}"));
    snprintf(body, sizeof(body),
             "{'medication': 'metformin', 'dose_amount': 0, 'dose_unit': 'kg', "
             "'frequency': {'times_per_day': 2, 'as_needed': true}, 'started_on': '2020-02-01', "
             "'stopped_on': '2020-01-31', 'stop_reason': 'bored', 'for_condition': '%s'}",
             S(foreign, "id"));
    bad("POST", "/v1/me/medications", tok, th_json(body),
        FIELDS("dose_amount", "dose_unit", "frequency", "stopped_on", "stop_reason",
               "for_condition"));
    bad("POST", "/v1/me/medications", tok,
        th_json("{'medication': 'unknown_drug', 'dose_amount': 100001, 'dose_unit': 'mg', "
                "'frequency': {'times_per_day': 0}, 'started_on': '2020-02-30', 'for_condition': "
                "'nope'}"),
        FIELDS("medication", "dose_amount", "frequency.times_per_day", "started_on",
               "for_condition"));
    bad("POST", "/v1/me/medications", tok,
        th_json("{'medication': 'metformin', 'dose_amount': 1, 'dose_unit': 'mg', 'frequency': "
                "{'as_needed': false}}"),
        FIELDS("frequency.as_needed", "started_on"));
    ck_assert_int_eq(count_for("medication", me), 3);
    /* PATCH keeps the rules across stored and new values. */
    bad("PATCH", mpath, tok, th_json("{'stopped_on': '2019-12-31'}"), FIELDS("stopped_on"));
    json_t *p =
        th_must(200, "PATCH", mpath, tok,
                th_json("{'stopped_on': '2024-03-01', 'stop_reason': 'side_effects', 'frequency': "
                        "{'every_n_days': 2}}"));
    ck_assert_str_eq(S(p, "stopped_on"), "2024-03-01");
    ck_assert_str_eq(S(p, "stop_reason"), "side_effects");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(p, "frequency"), "every_n_days")), 2);
    ck_assert_str_eq(S(p, "for_condition"), S(cond, "id"));
    json_decref(p);

    /* Doses: at least one time; status required; PATCH corrects. */
    char dpath[300], at[32], at2[32];
    time_t now = time(NULL);
    iso(now - 3600, at);
    iso(now - 3000, at2);
    snprintf(dpath, sizeof(dpath), "%s/doses", mpath);
    bad("POST", dpath, tok, th_json("{'status': 'sometimes', 'reason': 1}"),
        FIELDS("scheduled_at", "status", "reason"));
    snprintf(body, sizeof(body), "{'scheduled_at': '%s', 'status': 'missed', 'reason': 'forgot'}",
             at);
    json_t *d = th_must(201, "POST", dpath, tok, th_json(body));
    ck_assert_str_eq(S(d, "status"), "missed");
    ck_assert_str_eq(S(d, "medication_id"), S(m, "id"));
    ck_assert_str_eq(S(d, "scheduled_at"), at);
    ck_assert(is_null(d, "taken_at"));
    char one[400];
    snprintf(one, sizeof(one), "%s/%s", dpath, S(d, "id"));
    snprintf(body, sizeof(body), "{'taken_at': '%s', 'status': 'late', 'reason': null}", at2);
    json_t *d2 = th_must(200, "PATCH", one, tok, th_json(body));
    ck_assert_str_eq(S(d2, "status"), "late");
    ck_assert_str_eq(S(d2, "taken_at"), at2);
    ck_assert_str_eq(S(d2, "scheduled_at"), at);
    ck_assert(is_null(d2, "reason"));
    json_decref(d2);
    bad("PATCH", one, tok, th_json("{'taken_at': null, 'scheduled_at': null}"),
        FIELDS("scheduled_at"));
    /* The dose under another medication of the same member is not there. */
    th_req("GET", P(path, sizeof(path), "/v1/me/medications/%s/doses/%s", S(m3, "id"), S(d, "id")),
           tok, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("POST", "/v1/me/medications/6f1c2b7e-0000-4000-8000-000000000000/doses", tok,
           "{\"status\": \"taken\"}", NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    l = th_must(200, "GET", dpath, tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);

    /* Deleting the condition unlinks it; deleting the medication takes its doses. */
    th_req("DELETE", P(path, sizeof(path), "/v1/me/conditions/%s", S(cond, "id")), tok, NULL, NULL,
           &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    p = th_must(200, "GET", mpath, tok, NULL);
    ck_assert(is_null(p, "for_condition"));
    json_decref(p);
    th_req("DELETE", mpath, tok, NULL, NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    th_req("GET", one, tok, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    ck_assert_int_eq(count_for("medication_dose", me), 0);
    json_decref(cond);
    json_decref(foreign);
    json_decref(m);
    json_decref(m2);
    json_decref(m3);
    json_decref(d);
}
END_TEST

START_TEST(adherence_numbers)
{
    char tok[64], path[256];
    th_account("member", tok, NULL);
    json_t *m =
        th_must(201, "POST", "/v1/me/medications", tok,
                th_json("{'medication': 'metformin', 'dose_amount': 500, 'dose_unit': 'mg', "
                        "'frequency': {'times_per_day': 1}, 'started_on': '2024-01-01'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", S(m, "id"));
    /* In the last 7 days: 3 taken, 1 late, 1 skipped, 1 missed. 8..29 days ago: 2 taken, 2 missed.
     * 40 days ago: 1 taken (outside both windows); 1 scheduled tomorrow (not yet due). */
    static const struct {
        double days_ago;
        const char *status;
        bool taken;
    } doses[] = {{1, "taken", true},    {2, "taken", false},   {3, "taken", true},
                 {4, "late", true},     {5, "skipped", false}, {6.5, "missed", false},
                 {8, "taken", true},    {12, "taken", false},  {20, "missed", false},
                 {29, "missed", false}, {40, "taken", true},   {-1, "missed", false}};
    time_t now = time(NULL);
    for (size_t i = 0; i < sizeof(doses) / sizeof(doses[0]); i++) {
        char at[32], body[256];
        iso(now - (time_t)(doses[i].days_ago * 86400), at);
        snprintf(body, sizeof(body), "{'%s': '%s', 'status': '%s'}",
                 doses[i].taken ? "taken_at" : "scheduled_at", at, doses[i].status);
        json_decref(th_must(201, "POST", path, tok, th_json(body)));
    }
    snprintf(path, sizeof(path), "/v1/me/medications/%s", S(m, "id"));
    json_t *g = th_must(200, "GET", path, tok, NULL);
    json_t *a7 = json_object_get(json_object_get(g, "adherence"), "last_7_days");
    json_t *a30 = json_object_get(json_object_get(g, "adherence"), "last_30_days");
    ck_assert_int_eq(json_integer_value(json_object_get(a7, "taken")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(a7, "late")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(a7, "skipped")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(a7, "missed")), 1);
    ck_assert_double_eq_tol(N(a7, "rate"), 4.0 / 6.0, 1e-12);
    ck_assert_int_eq(json_integer_value(json_object_get(a30, "taken")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(a30, "late")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(a30, "skipped")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(a30, "missed")), 3);
    ck_assert_double_eq_tol(N(a30, "rate"), 6.0 / 10.0, 1e-12);
    json_decref(g);
    /* The list shows medications without adherence; GET one with it. */
    json_t *l = th_must(200, "GET", "/v1/me/medications", tok, NULL);
    ck_assert_ptr_null(
        json_object_get(json_array_get(json_object_get(l, "items"), 0), "adherence"));
    json_decref(l);
    json_decref(m);
}
END_TEST

/* ---- evaluations ---- */

START_TEST(evaluations)
{
    char tok[64], me[37], path[256], body[4096];
    th_account("member", tok, me);
    json_t *m = th_must(
        201, "POST", "/v1/me/medications", tok,
        th_json("{'medication': 'dimethyl_fumarate', 'dose_amount': 240, 'dose_unit': 'mg', "
                "'frequency': {'times_per_day': 2}, 'started_on': '2022-01-01'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", S(m, "id"));
    json_t *e = th_must(
        201, "POST", path, tok,
        th_json(
            "{'evaluated_on': '2022-03-01', 'effectiveness': 'moderate', 'adherence': 'usually', "
            "'burden': 'slight', 'side_effects': [{'symptom': 'nausea', 'severity': 'mild'}, "
            "{'symptom': {'custom': 'Flushing'}, 'severity': 'severe'}]}"));
    ck_assert_str_eq(S(e, "evaluated_on"), "2022-03-01");
    ck_assert_str_eq(S(e, "effectiveness"), "moderate");
    ck_assert_str_eq(S(e, "adherence"), "usually");
    ck_assert_str_eq(S(e, "burden"), "slight");
    ck_assert_str_eq(S(e, "medication_id"), S(m, "id"));
    json_t *se = json_object_get(e, "side_effects");
    ck_assert_uint_eq(json_array_size(se), 2);
    ck_assert_str_eq(S(json_array_get(se, 0), "symptom"), "nausea");
    ck_assert_str_eq(S(json_array_get(se, 0), "severity"), "mild");
    ck_assert_str_eq(S(json_object_get(json_array_get(se, 1), "symptom"), "custom"), "Flushing");
    ck_assert_str_eq(S(json_array_get(se, 1), "severity"), "severe");

    char one[400];
    snprintf(one, sizeof(one), "%s/%s", path, S(e, "id"));
    /* PATCH replaces the list as a whole. */
    json_t *p = th_must(200, "PATCH", one, tok,
                        th_json("{'side_effects': [{'symptom': 'headache', 'severity': 'none'}], "
                                "'effectiveness': 'major'}"));
    ck_assert_uint_eq(json_array_size(json_object_get(p, "side_effects")), 1);
    ck_assert_str_eq(S(json_array_get(json_object_get(p, "side_effects"), 0), "symptom"),
                     "headache");
    ck_assert_str_eq(S(p, "effectiveness"), "major");
    ck_assert_str_eq(S(p, "burden"), "slight");
    json_decref(p);
    ck_assert_int_eq(count_for("evaluation_side_effect", me), 1);

    /* Every bad field named, nested ones by their path. */
    char effects[3000] = "[";
    for (int i = 0; i < 21; i++)
        strcat(effects, i ? ", {'symptom': 'nausea', 'severity': 'mild'}"
                          : "{'symptom': 'nausea', 'severity': 'mild'}");
    strcat(effects, "]");
    char future[16];
    ymd(time(NULL) + 3 * 86400, future);
    snprintf(
        body, sizeof(body),
        "{'evaluated_on': '%s', 'effectiveness': 'great', 'adherence': 'always', 'burden': 'none', "
        "'side_effects': %s}",
        future, effects);
    bad("POST", path, tok, th_json(body), FIELDS("evaluated_on", "effectiveness", "side_effects"));
    bad("POST", path, tok,
        th_json("{'evaluated_on': '2022-03-01', 'effectiveness': 'none', 'adherence': 'never', "
                "'burden': "
                "'none', "
                "'side_effects': [{'symptom': 'nausea', 'severity': 'mild'}, {'symptom': "
                "'zzz_unknown', "
                "'severity': 'extreme', 'when': 1}, 7]}"),
        FIELDS("side_effects[1].symptom", "side_effects[1].severity", "side_effects[1].when",
               "side_effects[2]"));
    bad("POST", path, tok, th_json("{'evaluated_on': '2022-03-01'}"),
        FIELDS("effectiveness", "adherence", "burden"));
    json_t *l = th_must(200, "GET", path, tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);
    json_decref(e);
    json_decref(m);
}
END_TEST

/* ---- goals ---- */

static json_t *progress(const char *tok, const char *goal_id, double value, const char *at)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", goal_id);
    return th_must(201, "POST", path, tok,
                   json_pack("{s:f, s:s}", "value", value, "recorded_at", at));
}

START_TEST(goals_percent_and_on_track)
{
    char tok[64], path[256];
    th_account("member", tok, NULL);
    bad("POST", "/v1/me/goals", tok,
        th_json("{'title': 'Less fatigue', 'kind': 'symptom_target', 'target_value': 2, "
                "'direction': 'decrease'}"),
        FIELDS("symptom"));
    bad("POST", "/v1/me/goals", tok,
        th_json("{'title': '', 'kind': 'adherence', 'target_value': 'x', 'direction': 'down', "
                "'status': "
                "'won', "
                "'symptom': {'custom': 'x'}}"),
        FIELDS("title", "medication", "target_value", "direction", "status", "symptom"));
    bad("POST", "/v1/me/goals", tok,
        th_json(
            "{'title': 'Take it', 'kind': 'adherence', 'target_value': 1, 'direction': 'increase', "
            "'medication': '6f1c2b7e-0000-4000-8000-000000000000'}"),
        FIELDS("medication"));

    json_t *g =
        th_must(201, "POST", "/v1/me/goals", tok,
                th_json("{'title': 'Less fatigue', 'kind': 'symptom_target', 'symptom': 'fatigue', "
                        "'target_value': 2, 'direction': 'decrease', 'due_on': '2025-01-10'}"));
    ck_assert_str_eq(S(g, "status"), "active");
    ck_assert_str_eq(S(g, "symptom"), "fatigue");
    ck_assert(is_null(g, "medication"));
    ck_assert(N(g, "target_value") == 2.0);
    ck_assert(is_null(g, "latest_value"));
    ck_assert(is_null(g, "percent_to_target"));
    ck_assert(is_null(g, "on_track"));
    const char *gid = S(g, "id");
    snprintf(path, sizeof(path), "/v1/me/goals/%s", gid);

    /* One point: percent 0, no trend yet. */
    json_decref(progress(tok, gid, 8, "2025-01-01T00:00:00Z"));
    json_t *x = th_must(200, "GET", path, tok, NULL);
    ck_assert(N(x, "latest_value") == 8.0);
    ck_assert(N(x, "percent_to_target") == 0.0);
    ck_assert(is_null(x, "on_track"));
    json_decref(x);
    /* 8, 7, 6, 5 a day apart: the fit is 8 - t (days). Half way: (8-5)/(8-2) = 50 %. */
    json_decref(progress(tok, gid, 7, "2025-01-02T00:00:00Z"));
    json_decref(progress(tok, gid, 5, "2025-01-04T00:00:00Z"));
    json_decref(progress(tok, gid, 6, "2025-01-03T00:00:00Z"));
    x = th_must(200, "GET", path, tok, NULL);
    ck_assert(N(x, "latest_value") == 5.0);
    ck_assert_double_eq_tol(N(x, "percent_to_target"), 50.0, 1e-9);
    /* By the end of 2025-01-10 (t = 10) the line is at -2 <= 2. */
    ck_assert(json_is_true(json_object_get(x, "on_track")));
    json_decref(x);
    /* Due at the end of 2025-01-04 (t = 4): the line is at 4 > 2. */
    x = th_must(200, "PATCH", path, tok, th_json("{'due_on': '2025-01-04'}"));
    ck_assert(json_is_false(json_object_get(x, "on_track")));
    json_decref(x);
    /* End of 2025-01-05 (t = 5: 3 > 2) is too soon; end of 2025-01-07 (t = 7: 1 <= 2) is not. */
    x = th_must(200, "PATCH", path, tok, th_json("{'due_on': '2025-01-05'}"));
    ck_assert(json_is_false(json_object_get(x, "on_track")));
    json_decref(x);
    x = th_must(200, "PATCH", path, tok, th_json("{'due_on': '2025-01-07'}"));
    ck_assert(json_is_true(json_object_get(x, "on_track")));
    json_decref(x);
    /* No due date: the slope's sign decides. */
    x = th_must(200, "PATCH", path, tok, th_json("{'due_on': null}"));
    ck_assert(json_is_true(json_object_get(x, "on_track")));
    ck_assert(is_null(x, "due_on"));
    json_decref(x);
    x = th_must(200, "PATCH", path, tok, th_json("{'direction': 'increase', 'target_value': 10}"));
    /* Increasing toward 10 from 8 but now at 5: percent clamps to 0; the slope points away. */
    ck_assert(N(x, "percent_to_target") == 0.0);
    ck_assert(json_is_false(json_object_get(x, "on_track")));
    json_decref(x);
    /* Past the target: clamped to 100. */
    x = th_must(200, "PATCH", path, tok, th_json("{'direction': 'decrease', 'target_value': 6}"));
    ck_assert(N(x, "percent_to_target") == 100.0);
    json_decref(x);

    /* An increase goal: 2, 4, 3 over three days, target 6. Fit slope 0.5/day from 2.5; due in 2
     * days after the last point (t = 4, end of day 3): 2.5 + 0.5 * 4 = 4.5 < 6. */
    json_t *h = th_must(
        201, "POST", "/v1/me/goals", tok,
        th_json(
            "{'title': 'Walk more', 'kind': 'custom', 'target_value': 6, 'direction': 'increase', "
            "'due_on': '2025-02-04'}"));
    json_decref(progress(tok, S(h, "id"), 2, "2025-02-01T00:00:00Z"));
    json_decref(progress(tok, S(h, "id"), 4, "2025-02-02T00:00:00Z"));
    json_decref(progress(tok, S(h, "id"), 3, "2025-02-03T00:00:00Z"));
    snprintf(path, sizeof(path), "/v1/me/goals/%s", S(h, "id"));
    x = th_must(200, "GET", path, tok, NULL);
    ck_assert(N(x, "latest_value") == 3.0);
    ck_assert_double_eq_tol(N(x, "percent_to_target"), 25.0, 1e-9);
    ck_assert(json_is_false(json_object_get(x, "on_track")));
    json_decref(x);
    /* t = 8 (end of 2025-02-08): 2.5 + 4 = 6.5 >= 6: on track. */
    x = th_must(200, "PATCH", path, tok,
                th_json("{'due_on': '2025-02-08', 'status': 'achieved', 'title': 'Walk'}"));
    ck_assert(json_is_true(json_object_get(x, "on_track")));
    ck_assert_str_eq(S(x, "status"), "achieved");
    ck_assert_str_eq(S(x, "title"), "Walk");
    json_decref(x);

    /* Progress CRUD under its goal. */
    snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", S(h, "id"));
    json_t *l = th_must(200, "GET", path, tok, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 3);
    ck_assert_str_eq(S(json_array_get(json_object_get(l, "items"), 0), "recorded_at"),
                     "2025-02-03T00:00:00Z");
    char one[400];
    snprintf(one, sizeof(one), "%s/%s", path,
             S(json_array_get(json_object_get(l, "items"), 0), "id"));
    json_decref(l);
    x = th_must(200, "PATCH", one, tok, th_json("{'value': 3.25, 'note': 'rainy'}"));
    ck_assert(N(x, "value") == 3.25);
    ck_assert_str_eq(S(x, "note"), "rainy");
    ck_assert_str_eq(S(x, "goal_id"), S(h, "id"));
    json_decref(x);
    bad("PATCH", one, tok, th_json("{'value': null, 'recorded_at': 'soon'}"),
        FIELDS("value", "recorded_at"));

    /* An adherence goal names one of the member's medications. */
    json_t *m =
        th_must(201, "POST", "/v1/me/medications", tok,
                th_json("{'medication': 'metformin', 'dose_amount': 1, 'dose_unit': 'tablets', "
                        "'frequency': {'times_per_day': 1}, 'started_on': '2024-01-01'}"));
    char body[512];
    snprintf(body, sizeof(body),
             "{'title': 'Never miss', 'kind': 'adherence', 'medication': '%s', 'target_value': 1, "
             "'direction': 'increase'}",
             S(m, "id"));
    x = th_must(201, "POST", "/v1/me/goals", tok, th_json(body));
    ck_assert_str_eq(S(x, "medication"), S(m, "id"));
    json_decref(x);
    json_decref(m);
    json_decref(g);
    json_decref(h);
}
END_TEST

/* ---- idempotency ---- */

START_TEST(idempotent_posts)
{
    char tok[64], me[37], h1[128], h2[128], replay[16];
    struct th_resp a, b, c;
    th_account("member", tok, me);
    snprintf(h1, sizeof(h1), "Authorization: Bearer %s", tok);
    snprintf(h2, sizeof(h2), "Idempotency-Key: sym-%s", me);
    const char *hdr[] = {h1, h2, NULL};
    const char *body =
        "{\"symptom\": \"fatigue\", \"severity\": 4, \"recorded_at\": \"2025-05-01T08:00:00Z\"}";
    th_req("POST", "/v1/me/symptoms", NULL, body, hdr, &a);
    th_assert_status(&a, 201);
    th_req("POST", "/v1/me/symptoms", NULL, body, hdr, &b);
    th_assert_status(&b, 201);
    ck_assert_str_eq(a.body, b.body);
    ck_assert_str_eq(th_header(&b, "Idempotent-Replayed", replay, sizeof(replay)), "true");
    ck_assert_int_eq(count_for("symptom_entry", me), 1);
    /* Same key, another body. */
    th_req("POST", "/v1/me/symptoms", NULL,
           "{\"symptom\": \"fatigue\", \"severity\": 5, \"recorded_at\": \"2025-05-01T08:00:00Z\"}",
           hdr, &c);
    assert_fields(&c, FIELDS("Idempotency-Key"));
    ck_assert_int_eq(count_for("symptom_entry", me), 1);
    th_resp_free(&a);
    th_resp_free(&b);
    th_resp_free(&c);
    /* A failed request stores nothing under its key: the corrected retry runs. */
    snprintf(h2, sizeof(h2), "Idempotency-Key: cond-%s", me);
    th_req("POST", "/v1/me/conditions", NULL, "{\"condition\": \"asthma\"}", hdr, &a);
    assert_fields(&a, FIELDS("diagnosed_on"));
    th_req("POST", "/v1/me/conditions", NULL, "{\"condition\": \"asthma\"}", hdr, &b);
    assert_fields(&b, FIELDS("diagnosed_on"));
    ck_assert_int_eq(count_for("member_condition", me), 0);
    th_resp_free(&a);
    th_resp_free(&b);
    /* Without a key, two posts are two rows. */
    th_req("POST", "/v1/me/symptoms", tok, body, NULL, &a);
    th_req("POST", "/v1/me/symptoms", tok, body, NULL, &b);
    th_assert_status(&a, 201);
    th_assert_status(&b, 201);
    ck_assert_str_ne(a.body, b.body);
    ck_assert_int_eq(count_for("symptom_entry", me), 3);
    th_resp_free(&a);
    th_resp_free(&b);
    /* Every POST honours it: a medication, a dose, an evaluation, a goal, progress. */
    json_t *m =
        th_must(201, "POST", "/v1/me/medications", tok,
                th_json("{'medication': 'metformin', 'dose_amount': 1, 'dose_unit': 'tablets', "
                        "'frequency': {'times_per_day': 1}, 'started_on': '2024-01-01'}"));
    json_t *g = th_must(
        201, "POST", "/v1/me/goals", tok,
        th_json("{'title': 'x', 'kind': 'custom', 'target_value': 1, 'direction': 'increase'}"));
    struct {
        const char *path, *body, *table;
    } posts[] = {
        {"/v1/me/medications",
         "{\"medication\":\"metformin\",\"dose_amount\":2,\"dose_unit\":\"mg\","
         "\"frequency\":{\"as_needed\":true},\"started_on\":\"2024-02-02\"}",
         "medication"},
        {"/v1/me/goals",
         "{\"title\":\"y\",\"kind\":\"custom\",\"target_value\":1,\"direction\":\"decrease\"}",
         "goal"},
        {"/v1/me/conditions", "{\"condition\":\"migraine\",\"diagnosed_on\":\"2001\"}",
         "member_condition"},
        {NULL, "{\"status\":\"taken\",\"taken_at\":\"2025-01-01T00:00:00Z\"}", "medication_dose"},
        {NULL,
         "{\"evaluated_on\":\"2025-01-01\",\"effectiveness\":\"none\",\"adherence\":\"always\","
         "\"burden\":\"none\"}",
         "medication_evaluation"},
        {NULL, "{\"value\":1,\"recorded_at\":\"2025-01-01T00:00:00Z\"}", "goal_progress"},
    };
    char paths[3][256];
    snprintf(paths[0], 256, "/v1/me/medications/%s/doses", S(m, "id"));
    snprintf(paths[1], 256, "/v1/me/medications/%s/evaluations", S(m, "id"));
    snprintf(paths[2], 256, "/v1/me/goals/%s/progress", S(g, "id"));
    for (int i = 0; i < 6; i++) {
        const char *path = posts[i].path ? posts[i].path : paths[i - 3];
        long n0 = count_for(posts[i].table, me);
        snprintf(h2, sizeof(h2), "Idempotency-Key: k%d-%s", i, me);
        th_req("POST", path, NULL, posts[i].body, hdr, &a);
        th_req("POST", path, NULL, posts[i].body, hdr, &b);
        th_assert_status(&a, 201);
        th_assert_status(&b, 201);
        ck_assert_str_eq(a.body, b.body);
        ck_assert_int_eq(count_for(posts[i].table, me), n0 + 1);
        th_resp_free(&a);
        th_resp_free(&b);
    }
    json_decref(m);
    json_decref(g);
}
END_TEST

/* ---- isolation ---- */

START_TEST(isolation_between_members)
{
    char ta[64], tb[64], a_id[37], b_id[37], tr[64], path[512], at[32];
    struct th_resp r;
    th_account("member", ta, a_id);
    th_account("member", tb, b_id);
    th_account("researcher", tr, NULL);
    iso(time(NULL) - 600, at);

    json_decref(
        th_must(201, "PUT", "/v1/me/profile", ta,
                th_json("{'birth_year': 1970, 'sex_at_birth': 'male', 'country': 'FR', 'timezone': "
                        "'Europe/Paris'}")));
    json_t *c = th_must(201, "POST", "/v1/me/conditions", ta,
                        th_json("{'condition': 'migraine', 'diagnosed_on': '2000'}"));
    json_t *s = symptom(ta, "{'custom': 'Secret symptom'}", 5, at);
    json_t *m =
        th_must(201, "POST", "/v1/me/medications", ta,
                th_json("{'medication': 'metformin', 'dose_amount': 1, 'dose_unit': 'tablets', "
                        "'frequency': {'times_per_day': 1}, 'started_on': '2024-01-01'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", S(m, "id"));
    json_t *d = th_must(201, "POST", path, ta,
                        th_json("{'status': 'taken', 'taken_at': '2025-01-01T00:00:00Z'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", S(m, "id"));
    json_t *e = th_must(
        201, "POST", path, ta,
        th_json("{'evaluated_on': '2025-01-01', 'effectiveness': 'none', 'adherence': 'always', "
                "'burden': 'none'}"));
    json_t *g = th_must(
        201, "POST", "/v1/me/goals", ta,
        th_json("{'title': 'Secret goal', 'kind': 'custom', 'target_value': 1, 'direction': "
                "'increase'}"));
    json_t *p = progress(ta, S(g, "id"), 1, "2025-01-01T00:00:00Z");

    char paths[7][300];
    snprintf(paths[0], 300, "/v1/me/conditions/%s", S(c, "id"));
    snprintf(paths[1], 300, "/v1/me/symptoms/%s", S(s, "id"));
    snprintf(paths[2], 300, "/v1/me/medications/%s", S(m, "id"));
    snprintf(paths[3], 300, "/v1/me/medications/%s/doses/%s", S(m, "id"), S(d, "id"));
    snprintf(paths[4], 300, "/v1/me/medications/%s/evaluations/%s", S(m, "id"), S(e, "id"));
    snprintf(paths[5], 300, "/v1/me/goals/%s", S(g, "id"));
    snprintf(paths[6], 300, "/v1/me/goals/%s/progress/%s", S(g, "id"), S(p, "id"));
    static const char *const patches[] = {"{\"note\": \"x\"}",       "{\"severity\": 1}",
                                          "{\"note\": \"x\"}",       "{\"status\": \"missed\"}",
                                          "{\"burden\": \"major\"}", "{\"title\": \"x\"}",
                                          "{\"value\": 2}"};
    for (int i = 0; i < 7; i++) {
        th_req("GET", paths[i], tb, NULL, NULL, &r);
        th_assert_status(&r, 404);
        th_resp_free(&r);
        th_req("PATCH", paths[i], tb, patches[i], NULL, &r);
        th_assert_status(&r, 404);
        th_resp_free(&r);
        th_req("DELETE", paths[i], tb, NULL, NULL, &r);
        th_assert_status(&r, 404);
        th_resp_free(&r);
        /* Still there for A. */
        th_req("GET", paths[i], ta, NULL, NULL, &r);
        th_assert_status(&r, 200);
        th_resp_free(&r);
        /* Other roles may not use the record at all. */
        th_req("GET", paths[i], tr, NULL, NULL, &r);
        th_assert_status(&r, 403);
        th_resp_free(&r);
    }
    /* B's children lists and posts under A's parents: 404. */
    for (int i = 3; i < 7; i += 3) {
        char parent[300];
        snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(paths[i], '/') - paths[i]),
                 paths[i]);
        th_req("GET", parent, tb, NULL, NULL, &r);
        th_assert_status(&r, 404);
        th_resp_free(&r);
        th_req("POST", parent, tb,
               "{\"status\": \"taken\", \"taken_at\": \"2025-01-01T00:00:00Z\", \"value\": 1}",
               NULL, &r);
        th_assert_status(&r, 404);
        th_resp_free(&r);
    }
    /* B's own lists, profile and export hold nothing of A's. */
    static const char *const lists[] = {"/v1/me/conditions", "/v1/me/symptoms",
                                        "/v1/me/medications", "/v1/me/goals"};
    for (int i = 0; i < 4; i++) {
        json_t *l = th_must(200, "GET", lists[i], tb, NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 0);
        json_decref(l);
    }
    th_req("GET", "/v1/me/profile", tb, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("GET", "/v1/me/export", tb, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_ptr_null(strstr(r.body, a_id));
    ck_assert_ptr_null(strstr(r.body, "Secret"));
    for (int i = 0; i < 7; i++)
        ck_assert_ptr_null(strstr(r.body, strrchr(paths[i], '/') + 1));
    th_resp_free(&r);
    /* B naming A's condition or medication in its own records: not one of B's. */
    char body[512];
    snprintf(body, sizeof(body),
             "{'medication': 'metformin', 'dose_amount': 1, 'dose_unit': 'mg', 'frequency': "
             "{'as_needed': true}, "
             "'started_on': '2024-01-01', 'for_condition': '%s'}",
             S(c, "id"));
    bad("POST", "/v1/me/medications", tb, th_json(body), FIELDS("for_condition"));
    snprintf(
        body, sizeof(body),
        "{'items': [{'type': 'dose', 'medication_id': '%s', 'status': 'taken', 'taken_at': '%s'}]}",
        S(m, "id"), at);
    bad("POST", "/v1/me/batch", tb, th_json(body), FIELDS("items[0].medication_id"));
    ck_assert_int_eq(count_for("medication_dose", a_id), 1);
    ck_assert_int_eq(count_for("change_log", b_id), 0);
    json_decref(c);
    json_decref(s);
    json_decref(m);
    json_decref(d);
    json_decref(e);
    json_decref(g);
    json_decref(p);
}
END_TEST

/* ---- export ---- */

START_TEST(export_everything)
{
    char tok[64], me[37], path[256];
    struct th_resp r;
    th_account("member", tok, me);
    json_t *empty = th_must(200, "GET", "/v1/me/export", tok, NULL);
    ck_assert(is_null(empty, "profile"));
    ck_assert_uint_eq(json_array_size(json_object_get(empty, "symptoms")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(empty, "format_version")), 1);
    json_decref(empty);

    json_decref(th_must(201, "PUT", "/v1/me/profile", tok,
                        th_json("{'birth_year': 1990, 'sex_at_birth': 'female', 'country': 'DE', "
                                "'timezone': 'Europe/Berlin'}")));
    json_t *c = th_must(201, "POST", "/v1/me/conditions", tok,
                        th_json("{'condition': 'multiple_sclerosis', 'diagnosed_on': '2018-06'}"));
    json_t *s1 = symptom(tok, "'fatigue'", 6, "2025-01-02T08:00:00Z");
    json_t *s2 = symptom(tok, "{'custom': 'Pins'}", 2, "2025-01-01T08:00:00Z");
    json_t *m = th_must(
        201, "POST", "/v1/me/medications", tok,
        th_json("{'medication': 'dimethyl_fumarate', 'dose_amount': 240, 'dose_unit': 'mg', "
                "'frequency': {'times_per_day': 2}, 'started_on': '2020-01-01'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", S(m, "id"));
    json_t *d1 = th_must(201, "POST", path, tok,
                         th_json("{'status': 'taken', 'taken_at': '2025-01-01T08:00:00Z'}"));
    json_t *d2 = th_must(201, "POST", path, tok,
                         th_json("{'status': 'missed', 'scheduled_at': '2025-01-01T20:00:00Z'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", S(m, "id"));
    json_t *e = th_must(
        201, "POST", path, tok,
        th_json(
            "{'evaluated_on': '2025-01-05', 'effectiveness': 'slight', 'adherence': 'usually', "
            "'burden': 'moderate', 'side_effects': [{'symptom': 'nausea', 'severity': 'mild'}]}"));
    json_t *g =
        th_must(201, "POST", "/v1/me/goals", tok,
                th_json("{'title': 'Less fatigue', 'kind': 'symptom_target', 'symptom': 'fatigue', "
                        "'target_value': 3, 'direction': 'decrease'}"));
    json_t *p = progress(tok, S(g, "id"), 6, "2025-01-03T00:00:00Z");

    json_t *x = th_must(200, "GET", "/v1/me/export", tok, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "format_version")), 1);
    ck_assert_ptr_nonnull(S(x, "exported_at"));
    json_t *acct = json_object_get(x, "account");
    ck_assert_str_eq(S(acct, "id"), me);
    ck_assert_ptr_nonnull(strstr(S(acct, "email"), "@example.org"));
    ck_assert_str_eq(S(acct, "display_name"), "Test member");
    ck_assert_ptr_nonnull(S(acct, "created_at"));
    ck_assert_str_eq(S(json_object_get(x, "profile"), "country"), "DE");
    ck_assert(json_equal(json_array_get(json_object_get(x, "conditions"), 0), c));
    json_t *syms = json_object_get(x, "symptoms");
    ck_assert_uint_eq(json_array_size(syms), 2);
    ck_assert(json_equal(json_array_get(syms, 0), s2)); /* oldest first */
    ck_assert(json_equal(json_array_get(syms, 1), s1));
    json_t *meds = json_object_get(x, "medications");
    ck_assert_uint_eq(json_array_size(meds), 1);
    json_t *med = json_array_get(meds, 0);
    ck_assert_str_eq(S(med, "id"), S(m, "id"));
    ck_assert_uint_eq(json_array_size(json_object_get(med, "doses")), 2);
    ck_assert(json_equal(json_array_get(json_object_get(med, "doses"), 0), d1));
    ck_assert(json_equal(json_array_get(json_object_get(med, "doses"), 1), d2));
    ck_assert(json_equal(json_array_get(json_object_get(med, "evaluations"), 0), e));
    json_t *goal = json_array_get(json_object_get(x, "goals"), 0);
    ck_assert_str_eq(S(goal, "id"), S(g, "id"));
    ck_assert_uint_eq(json_array_size(json_object_get(goal, "progress")), 1);
    ck_assert(json_equal(json_array_get(json_object_get(goal, "progress"), 0), p));
    ck_assert(json_is_array(json_object_get(x, "consents")));
    json_decref(x);

    /* format=fhir hands over to the FHIR export (h_fhir.c); format=json is the default. */
    x = th_must(200, "GET", "/v1/me/export?format=fhir", tok, NULL);
    ck_assert_str_eq(S(x, "resourceType"), "Bundle");
    json_decref(x);
    x = th_must(200, "GET", "/v1/me/export?format=json", tok, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "format_version")), 1);
    json_decref(x);
    th_req("GET", "/v1/me/export?format=xml", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("format"));
    th_resp_free(&r);
    json_decref(c);
    json_decref(s1);
    json_decref(s2);
    json_decref(m);
    json_decref(d1);
    json_decref(d2);
    json_decref(e);
    json_decref(g);
    json_decref(p);
}
END_TEST

/* Last: the server logged no SQL errors, no sanitizer findings and none of the health data above.
 */
/* The server remembers catalog symptom ids it has found (they are permanent) and skips the
 * database for them; ids it has not found are asked again each time, so one added to the catalog
 * later is accepted, and an unknown one is refused next to known ones. */
START_TEST(symptom_catalog_references)
{
    char tok[64], me[37], at[32], body[512];
    th_account("member", tok, me);
    iso(time(NULL) - 3600, at);
    json_decref(symptom(tok, "'fatigue'", 4, at));
    json_decref(symptom(tok, "'fatigue'", 5, at));
    snprintf(body, sizeof(body), "{'symptom': 'cc_test_added', 'severity': 1, 'recorded_at': '%s'}",
             at);
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("symptom"));
    bad("POST", "/v1/me/symptoms", tok, th_json(body), FIELDS("symptom"));
    ck_assert_int_eq(count_for("symptom_entry", me), 2);

    ck_assert_int_eq(th_sql_long("WITH i AS (INSERT INTO catalog_symptom (id, name, snomed) "
                                 "VALUES ('cc_test_added', 'CC test added symptom', '999999901') "
                                 "RETURNING 1) SELECT count(*) FROM i",
                                 0, NULL),
                     1);
    json_t *e = symptom(tok, "'cc_test_added'", 1, at);
    ck_assert_str_eq(S(e, "symptom"), "cc_test_added");
    json_decref(e);

    /* Known, newly known and unknown ids in one batch: only the unknown one is named. */
    snprintf(body, sizeof(body),
             "{'items': [{'type': 'symptom', 'symptom': 'fatigue', 'severity': 1, "
             "'recorded_at': '%s'}, {'type': 'symptom', 'symptom': 'cc_test_added', "
             "'severity': 2, 'recorded_at': '%s'}, {'type': 'symptom', 'symptom': "
             "'cc_test_still_unknown', 'severity': 3, 'recorded_at': '%s'}]}",
             at, at, at);
    bad("POST", "/v1/me/batch", tok, th_json(body), FIELDS("items[2].symptom"));
    ck_assert_int_eq(count_for("symptom_entry", me), 3);
    snprintf(body, sizeof(body),
             "{'items': [{'type': 'symptom', 'symptom': 'fatigue', 'severity': 1, "
             "'recorded_at': '%s'}, {'type': 'symptom', 'symptom': 'cc_test_added', "
             "'severity': 2, 'recorded_at': '%s'}]}",
             at, at);
    json_decref(th_must(201, "POST", "/v1/me/batch", tok, th_json(body)));
    ck_assert_int_eq(count_for("symptom_entry", me), 5);
}
END_TEST

START_TEST(server_log_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_null(strstr(log, "sql error"));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "LeakSanitizer"));
    ck_assert_ptr_null(strstr(log, "Secret"));
    ck_assert_ptr_null(strstr(log, "Brain zaps"));
    ck_assert_ptr_null(strstr(log, "left side"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("record");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, profile_put_get_validate);
    tcase_add_test(tc, catalog_search);
    tcase_add_test(tc, conditions_crud);
    tcase_add_test(tc, symptom_severity_mapping);
    tcase_add_test(tc, symptom_fields_and_patch);
    tcase_add_test(tc, custom_items);
    tcase_add_test(tc, symptom_pagination_filters);
    tcase_add_test(tc, medications_and_doses);
    tcase_add_test(tc, adherence_numbers);
    tcase_add_test(tc, evaluations);
    tcase_add_test(tc, goals_percent_and_on_track);
    tcase_add_test(tc, idempotent_posts);
    tcase_add_test(tc, isolation_between_members);
    tcase_add_test(tc, export_everything);
    tcase_add_test(tc, symptom_catalog_references);
    tcase_add_test(tc, server_log_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
