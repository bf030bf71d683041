/* End-to-end: share links for a caregiver or clinician. The token is shown once and stored only as
 * its SHA-256; a link reads exactly its categories with the same data as /v1/me; everything else,
 * and any expired, revoked or unknown link, is one identical 404; accesses are counted and audited;
 * validation names each bad field; members are isolated; the server log never holds a token. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool names_field(const struct th_resp *r, const char *field)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r->json, "errors"), i, e)
    {
        if (strcmp(jstr(e, "field"), field) == 0)
            return true;
    }
    return false;
}

/* UTC date or timestamp offset seconds from now. */
static void utc_date(long offset, char out[11])
{
    time_t t = time(NULL) + offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static void utc_time(long offset, char out[32])
{
    time_t t = time(NULL) + offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* POST body (stolen) to path, assert want; copy the new "id" into id when given. */
static void post(const char *token, const char *path, json_t *body, long want, char id[37])
{
    struct th_resp r;
    th_reqj("POST", path, token, body, &r);
    th_assert_status(&r, want);
    if (id)
        snprintf(id, 37, "%s", jstr(r.json, "id"));
    th_resp_free(&r);
}

/* GET path (NULL token for links), assert want, return the response (caller frees). */
static void get(const char *token, const char *path, long want, struct th_resp *r)
{
    th_req("GET", path, token, NULL, NULL, r);
    th_assert_status(r, want);
}

/* A share of categories (a JSON array, stolen) expiring in 30 days; token and id out. */
static void share(const char *member, json_t *categories, char token[64], char id[37])
{
    struct th_resp r;
    char when[32];
    utc_time(30 * 86400, when);
    th_reqj("POST", "/v1/me/shares", member,
            json_pack("{s:o, s:s, s:s}", "categories", categories, "expires_at", when, "label",
                      "Dr. Who"),
            &r);
    th_assert_status(&r, 201);
    snprintf(token, 64, "%s", jstr(r.json, "token"));
    if (id)
        snprintf(id, 37, "%s", jstr(r.json, "id"));
    th_resp_free(&r);
}

/* The share as GET /v1/me/shares shows it (new reference). */
static json_t *listed(const char *member, const char *id)
{
    struct th_resp r;
    json_t *it, *found = NULL;
    size_t i;
    get(member, "/v1/me/shares?limit=500", 200, &r);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (strcmp(jstr(it, "id"), id) == 0)
            found = json_incref(it);
    }
    th_resp_free(&r);
    ck_assert_msg(found, "share %s not listed", id);
    return found;
}

static long sql_count(const char *sql, const char *a, const char *b)
{
    const char *p[] = {a, b};
    return th_sql_long(sql, b ? 2 : a ? 1 : 0, p);
}

/* Some of everything for a member. Returns the medication and goal ids. */
static void seed_record(const char *m, char med[37], char goal[37])
{
    struct th_resp r;
    th_reqj("PUT", "/v1/me/profile", m,
            json_pack("{s:i, s:s, s:s, s:s}", "birth_year", 1980, "sex_at_birth", "female",
                      "country", "NL", "timezone", "Europe/Amsterdam"),
            &r);
    th_assert_status(&r, 201); /* the first PUT creates it */
    th_resp_free(&r);
    post(m, "/v1/me/conditions",
         json_pack("{s:s, s:s}", "condition", "multiple_sclerosis", "diagnosed_on", "2019-04"), 201,
         NULL);
    post(
        m, "/v1/me/conditions",
        json_pack("{s:{s:s}, s:s}", "condition", "custom", "Migraine aura", "diagnosed_on", "2021"),
        201, NULL);
    for (int i = 0; i < 3; i++) {
        char at[32];
        snprintf(at, sizeof(at), "2025-03-0%dT08:00:00Z", i + 1);
        post(m, "/v1/me/symptoms",
             json_pack("{s:s, s:i, s:s}", "symptom", i == 2 ? "headache" : "fatigue", "severity",
                       3 + i, "recorded_at", at),
             201, NULL);
    }
    post(m, "/v1/me/medications",
         json_pack("{s:s, s:i, s:s, s:{s:i}, s:s}", "medication", "dimethyl_fumarate",
                   "dose_amount", 240, "dose_unit", "mg", "frequency", "times_per_day", 2,
                   "started_on", "2024-01-10"),
         201, med);
    char path[128];
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", med);
    post(m, path,
         json_pack("{s:s, s:s, s:s}", "scheduled_at", "2025-03-01T08:00:00Z", "taken_at",
                   "2025-03-01T08:10:00Z", "status", "taken"),
         201, NULL);
    post(m, path,
         json_pack("{s:s, s:s}", "scheduled_at", "2025-03-01T20:00:00Z", "status", "missed"), 201,
         NULL);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", med);
    post(m, path,
         json_pack("{s:s, s:s, s:[{s:s, s:s}], s:s, s:s}", "evaluated_on", "2025-03-02",
                   "effectiveness", "moderate", "side_effects", "symptom", "nausea", "severity",
                   "mild", "adherence", "usually", "burden", "slight"),
         201, NULL);
    post(m, "/v1/me/goals",
         json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "title", "Less fatigue", "kind",
                   "symptom_target", "symptom", "fatigue", "target_value", 3, "direction",
                   "decrease", "status", "active"),
         201, goal);
    snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", goal);
    post(m, path, json_pack("{s:i, s:s}", "value", 6, "recorded_at", "2025-03-01T09:00:00Z"), 201,
         NULL);
    post(m, path, json_pack("{s:i, s:s}", "value", 5, "recorded_at", "2025-03-05T09:00:00Z"), 201,
         NULL);
}

/* items of GET path as member (new reference). */
static json_t *me_items(const char *member, const char *path)
{
    struct th_resp r;
    get(member, path, 200, &r);
    json_t *items = json_incref(json_object_get(r.json, "items"));
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    th_resp_free(&r);
    return items;
}

static void assert_same(json_t *a, json_t *b, const char *what)
{
    char *sa = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS),
         *sb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_msg(json_equal(a, b), "%s differ:\n shared %s\n me     %s", what, sa, sb);
    free(sa);
    free(sb);
}

START_TEST(lifecycle_same_data_as_me)
{
    char m[64], mid[37], med[37], goal[37], when[11], expect_exp[32], path[256], token[64], sid[37];
    struct th_resp r;
    th_account("member", m, mid);
    seed_record(m, med, goal);

    /* Create: categories come back lowest bit first, the token once, the link on the public URL. */
    utc_date(30 * 86400, when);
    utc_date(31 * 86400, expect_exp);
    strcat(expect_exp, "T00:00:00Z");
    th_reqj("POST", "/v1/me/shares", m,
            json_pack("{s:[s,s,s,s,s], s:s, s:s}", "categories", "goals", "demographics",
                      "symptoms", "conditions", "medications", "expires_at", when, "label",
                      "Dr. Jansen"),
            &r);
    th_assert_status(&r, 201);
    snprintf(token, sizeof(token), "%s", jstr(r.json, "token"));
    snprintf(sid, sizeof(sid), "%s", jstr(r.json, "id"));
    ck_assert_uint_eq(strlen(token), 43);
    ck_assert_uint_eq(strlen(sid), 36);
    ck_assert_str_eq(jstr(r.json, "label"), "Dr. Jansen");
    ck_assert_str_eq(jstr(r.json, "expires_at"), expect_exp);
    ck_assert_ptr_nonnull(jstr(r.json, "created_at"));
    char *cats = json_dumps(json_object_get(r.json, "categories"), JSON_COMPACT);
    ck_assert_str_eq(cats,
                     "[\"demographics\",\"conditions\",\"symptoms\",\"medications\",\"goals\"]");
    free(cats);
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/shared/%s", th_base_url(), token);
    ck_assert_str_eq(jstr(r.json, "url"), url);
    ck_assert_uint_eq(json_object_size(r.json), 7);
    th_resp_free(&r);

    /* Stored only as its SHA-256: the token appears nowhere in the database. */
    ck_assert_int_eq(sql_count("SELECT count(*) FROM share WHERE id = $2::uuid AND token_hash = "
                               "encode(sha256($1::bytea), 'hex')",
                               token, sid),
                     1);
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM share WHERE strpos(share::text, $1) > 0", token, NULL), 0);
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM audit_log WHERE strpos(audit_log::text, $1) > 0", token,
                  NULL),
        0);
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM idempotency_key WHERE strpos(response, $1) > 0", token,
                  NULL),
        0);
    /* Its creation is audited with the member as actor. */
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM audit_log WHERE action = 'share.create' AND object_type "
                  "= 'share' AND object_id = $1 AND actor_id = $2::uuid AND actor_role = "
                  "'member' AND details = '{\"categories\": [\"demographics\", \"conditions\", "
                  "\"symptoms\", \"medications\", \"goals\"]}'",
                  sid, mid),
        1);

    /* Listed without the token, unused so far. */
    get(m, "/v1/me/shares", 200, &r);
    ck_assert_ptr_null(strstr(r.body, token));
    th_resp_free(&r);
    json_t *it = listed(m, sid);
    ck_assert_str_eq(jstr(it, "status"), "active");
    ck_assert_int_eq(json_integer_value(json_object_get(it, "access_count")), 0);
    ck_assert(json_is_null(json_object_get(it, "last_access_at")));
    ck_assert(json_is_null(json_object_get(it, "revoked_at")));
    ck_assert_ptr_null(json_object_get(it, "token"));
    ck_assert_ptr_null(json_object_get(it, "token_hash"));
    json_decref(it);

    /* The summary. */
    snprintf(path, sizeof(path), "/v1/shared/%s", token);
    get(NULL, path, 200, &r);
    ck_assert_str_eq(jstr(r.json, "display_name"), "Test member");
    ck_assert_str_eq(jstr(r.json, "label"), "Dr. Jansen");
    ck_assert_str_eq(jstr(r.json, "expires_at"), expect_exp);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "categories")), 5);
    ck_assert_uint_eq(json_object_size(r.json), 4);
    th_resp_free(&r);

    /* Each category: the same data as the member sees. */
    struct th_resp mine;
    snprintf(path, sizeof(path), "/v1/shared/%s/profile", token);
    get(NULL, path, 200, &r);
    get(m, "/v1/me/profile", 200, &mine);
    assert_same(r.json, mine.json, "profile");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "birth_year")), 1980);
    th_resp_free(&r);
    th_resp_free(&mine);

    static const char *const plain[] = {"conditions", "symptoms"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/v1/shared/%s/%s", token, plain[i]);
        get(NULL, path, 200, &r);
        snprintf(path, sizeof(path), "/v1/me/%s", plain[i]);
        json_t *me = me_items(m, path);
        ck_assert_uint_eq(json_array_size(me), i == 0 ? 2 : 3);
        assert_same(json_object_get(r.json, "items"), me, plain[i]);
        ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        json_decref(me);
        th_resp_free(&r);
    }

    snprintf(path, sizeof(path), "/v1/shared/%s/medications", token);
    get(NULL, path, 200, &r);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    json_t *sm = json_array_get(items, 0);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", med);
    json_t *me = me_items(m, path);
    ck_assert_uint_eq(json_array_size(me), 2);
    assert_same(json_object_get(sm, "doses"), me, "doses");
    json_decref(me);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", med);
    me = me_items(m, path);
    ck_assert_uint_eq(json_array_size(me), 1);
    assert_same(json_object_get(sm, "evaluations"), me, "evaluations");
    json_decref(me);
    json_object_del(sm, "doses");
    json_object_del(sm, "evaluations");
    me = me_items(m, "/v1/me/medications");
    assert_same(items, me, "medications");
    json_decref(me);
    th_resp_free(&r);

    snprintf(path, sizeof(path), "/v1/shared/%s/goals", token);
    get(NULL, path, 200, &r);
    items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    json_t *sg = json_array_get(items, 0);
    snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", goal);
    me = me_items(m, path);
    ck_assert_uint_eq(json_array_size(me), 2);
    assert_same(json_object_get(sg, "progress"), me, "progress");
    json_decref(me);
    json_object_del(sg, "progress");
    me = me_items(m, "/v1/me/goals");
    assert_same(items, me, "goals");
    json_decref(me);
    th_resp_free(&r);

    /* Six accesses: counted, and audited without an actor and without health values. */
    it = listed(m, sid);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "access_count")), 6);
    ck_assert(json_is_string(json_object_get(it, "last_access_at")));
    json_decref(it);
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM audit_log WHERE action = 'share.access' AND object_id = "
                  "$1 AND actor_id IS NULL AND actor_role IS NULL AND details = "
                  "jsonb_build_object('member_id', $2::text, 'resource', details->>'resource')",
                  sid, mid),
        6);
    const char *p[] = {sid};
    PGconn *c = th_db();
    PGresult *q =
        PQexecParams(c,
                     "SELECT string_agg(details->>'resource', ',' ORDER BY seq) FROM audit_log "
                     "WHERE action = 'share.access' AND object_id = $1",
                     1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(q, 0, 0), "summary,profile,conditions,symptoms,medications,goals");
    PQclear(q);
    PQfinish(c);
}
END_TEST

START_TEST(shared_lists_page)
{
    char m[64], token[64], sid[37], path[512], cursor[300] = "", mine_cursor[300];
    char ids[8][37];
    int n = 0;
    struct th_resp r;
    th_account("member", m, NULL);
    for (int i = 0; i < 5; i++) {
        char at[32];
        snprintf(at, sizeof(at), "2025-04-0%dT08:00:00Z", i + 1);
        post(m, "/v1/me/symptoms",
             json_pack("{s:s, s:i, s:s}", "symptom", "fatigue", "severity", i, "recorded_at", at),
             201, NULL);
    }
    share(m, json_pack("[s]", "symptoms"), token, sid);
    for (int page = 0; page < 3; page++) {
        snprintf(path, sizeof(path), "/v1/shared/%s/symptoms?limit=2%s%s", token,
                 cursor[0] ? "&cursor=" : "", cursor);
        get(NULL, path, 200, &r);
        json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        ck_assert_uint_eq(json_array_size(items), page < 2 ? 2 : 1);
        json_array_foreach(items, i, it)
        {
            for (int k = 0; k < n; k++)
                ck_assert_str_ne(ids[k], jstr(it, "id"));
            snprintf(ids[n++], 37, "%s", jstr(it, "id"));
        }
        json_t *next = json_object_get(r.json, "next_cursor");
        if (page < 2)
            snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        else
            ck_assert(json_is_null(next));
        th_resp_free(&r);
    }
    /* The same five, newest first, as the member's own list. */
    json_t *me = me_items(m, "/v1/me/symptoms");
    ck_assert_uint_eq(json_array_size(me), 5);
    for (int k = 0; k < 5; k++)
        ck_assert_str_eq(jstr(json_array_get(me, (size_t)k), "id"), ids[k]);
    json_decref(me);

    /* Bad arguments: 422 naming them; a cursor from another listing is refused; not counted. */
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms?limit=501", token);
    get(NULL, path, 422, &r);
    ck_assert(names_field(&r, "limit"));
    th_resp_free(&r);
    get(m, "/v1/me/symptoms?limit=1", 200, &r);
    snprintf(mine_cursor, sizeof(mine_cursor), "%s", jstr(r.json, "next_cursor"));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms?cursor=%s", token, mine_cursor);
    get(NULL, path, 422, &r);
    ck_assert(names_field(&r, "cursor"));
    th_resp_free(&r);
    json_t *it = listed(m, sid);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "access_count")), 3);
    json_decref(it);
}
END_TEST

START_TEST(not_shared_revoked_expired_unknown_are_one_404)
{
    char m[64], token[64], sid[37], other[64], oid[37], path[256], first[1024];
    struct th_resp r;
    th_account("member", m, NULL);
    share(m, json_pack("[s]", "symptoms"), token, sid);

    /* The categories not shared, an unknown token and a malformed one: one identical body. */
    snprintf(path, sizeof(path), "/v1/shared/%s/profile", token);
    get(NULL, path, 404, &r);
    char ct[128];
    ck_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)), "application/problem+json");
    snprintf(first, sizeof(first), "%s", r.body);
    th_resp_free(&r);
    char unknown[64];
    snprintf(unknown, sizeof(unknown), "%s", token);
    unknown[0] = unknown[0] == 'A' ? 'B' : 'A';
    const char *const paths[] = {"conditions", "medications", "goals"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/v1/shared/%s/%s", token, paths[i]);
        get(NULL, path, 404, &r);
        ck_assert_str_eq(r.body, first);
        th_resp_free(&r);
    }
    const char *const others[] = {"/v1/shared/%s", "/v1/shared/%s/symptoms"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), others[i], unknown);
        get(NULL, path, 404, &r);
        ck_assert_str_eq(r.body, first);
        th_resp_free(&r);
    }
    get(NULL, "/v1/shared/short", 404, &r);
    ck_assert_str_eq(r.body, first);
    th_resp_free(&r);
    /* Refused accesses are neither counted nor audited. */
    json_t *it = listed(m, sid);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "access_count")), 0);
    json_decref(it);
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM audit_log WHERE action = 'share.access' AND object_id = $1",
                  sid, NULL),
        0);

    /* Revoked: 404 at once, the same body. */
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms", token);
    get(NULL, path, 200, &r);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/me/shares/%s", sid);
    th_req("DELETE", path, m, NULL, NULL, &r);
    th_assert_status(&r, 204);
    ck_assert_uint_eq(r.len, 0);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms", token);
    get(NULL, path, 404, &r);
    ck_assert_str_eq(r.body, first);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/shared/%s", token);
    get(NULL, path, 404, &r);
    ck_assert_str_eq(r.body, first);
    th_resp_free(&r);
    it = listed(m, sid);
    ck_assert_str_eq(jstr(it, "status"), "revoked");
    ck_assert(json_is_string(json_object_get(it, "revoked_at")));
    ck_assert_int_eq(json_integer_value(json_object_get(it, "access_count")), 1);
    json_decref(it);
    /* Revoking again changes nothing and is not audited twice. */
    snprintf(path, sizeof(path), "/v1/me/shares/%s", sid);
    th_req("DELETE", path, m, NULL, NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    ck_assert_int_eq(
        sql_count("SELECT count(*) FROM audit_log WHERE action = 'share.revoke' AND object_id = "
                  "$1 AND actor_role = 'member'",
                  sid, NULL),
        1);

    /* Expired: 404, the same body; listed as expired. */
    th_account("member", other, NULL);
    share(other, json_pack("[s]", "goals"), token, oid);
    snprintf(path, sizeof(path), "/v1/shared/%s/goals", token);
    get(NULL, path, 200, &r);
    th_resp_free(&r);
    ck_assert_int_eq(
        sql_count("WITH u AS (UPDATE share SET expires_at = now() - interval '1 second' WHERE id = "
                  "$1::uuid RETURNING 1) SELECT count(*) FROM u",
                  oid, NULL),
        1);
    get(NULL, path, 404, &r);
    ck_assert_str_eq(r.body, first);
    th_resp_free(&r);
    it = listed(other, oid);
    ck_assert_str_eq(jstr(it, "status"), "expired");
    json_decref(it);
}
END_TEST

START_TEST(validation_names_each_field)
{
    char m[64], researcher[64], when[32], date[11], path[64];
    struct th_resp r;
    th_account("member", m, NULL);
    th_account("researcher", researcher, NULL);
    struct {
        const char *expires_at; /* NULL: computed below */
        long offset;
        bool date;
        long want;
    } cases[] = {
        {NULL, 366L * 86400 + 3600, false, 422}, /* more than a year ahead */
        {NULL, 367L * 86400, true, 422},
        {NULL, -86400, true, 422}, /* yesterday */
        {NULL, -60, false, 422},   /* a minute ago */
        {"next week", 0, false, 422},
        {"2026-02-30", 0, false, 422},
        {NULL, 364L * 86400, true, 201}, /* a date within the year */
        {NULL, 86400, false, 201},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = cases[i].expires_at;
        if (!e && cases[i].date) {
            utc_date(cases[i].offset, date);
            e = date;
        } else if (!e) {
            utc_time(cases[i].offset, when);
            e = when;
        }
        th_reqj(
            "POST", "/v1/me/shares", m,
            json_pack("{s:[s], s:s, s:s}", "categories", "symptoms", "expires_at", e, "label", "x"),
            &r);
        ck_assert_msg(r.status == cases[i].want, "case %zu (%s): %ld %s", i, e, r.status, r.body);
        if (cases[i].want == 422)
            ck_assert(names_field(&r, "expires_at"));
        th_resp_free(&r);
    }
    /* An offset is honoured: the expiry comes back in UTC. */
    time_t t = time(NULL) + 2 * 86400;
    struct tm tm;
    char local[40], utc[40];
    gmtime_r(&t, &tm);
    strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%SZ", &tm);
    t += 2 * 3600;
    gmtime_r(&t, &tm);
    strftime(local, sizeof(local), "%Y-%m-%dT%H:%M:%S+02:00", &tm);
    th_reqj("POST", "/v1/me/shares", m,
            json_pack("{s:[s], s:s, s:s}", "categories", "symptoms", "expires_at", local, "label",
                      "tz"),
            &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(jstr(r.json, "expires_at"), utc);
    th_resp_free(&r);

    utc_time(86400, when);
    struct {
        json_t *body;
        const char *field;
    } bad[] = {
        {json_pack("{s:[s,s], s:s, s:s}", "categories", "symptoms", "bogus", "expires_at", when,
                   "label", "x"),
         "categories[1]"},
        {json_pack("{s:[s,s], s:s, s:s}", "categories", "symptoms", "symptoms", "expires_at", when,
                   "label", "x"),
         "categories[1]"},
        {json_pack("{s:[], s:s, s:s}", "categories", "expires_at", when, "label", "x"),
         "categories"},
        {json_pack("{s:s, s:s, s:s}", "categories", "symptoms", "expires_at", when, "label", "x"),
         "categories"},
        {json_pack("{s:s, s:s}", "expires_at", when, "label", "x"), "categories"},
        {json_pack("{s:[s], s:s}", "categories", "goals", "expires_at", when), "label"},
        {json_pack("{s:[s], s:s, s:s}", "categories", "goals", "expires_at", when, "label", ""),
         "label"},
        {json_pack("{s:[s], s:s, s:s, s:s}", "categories", "goals", "expires_at", when, "label",
                   "x", "token", "mine"),
         "token"},
        {json_pack("{s:[s], s:s}", "categories", "goals", "label", "x"), "expires_at"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_reqj("POST", "/v1/me/shares", m, bad[i].body, &r);
        th_assert_status(&r, 422);
        ck_assert_msg(names_field(&r, bad[i].field), "case %zu: %s not named in %s", i,
                      bad[i].field, r.body);
        th_resp_free(&r);
    }
    char label[102];
    memset(label, 'a', 101);
    label[101] = '\0';
    th_reqj(
        "POST", "/v1/me/shares", m,
        json_pack("{s:[s], s:s, s:s}", "categories", "goals", "expires_at", when, "label", label),
        &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "label"));
    th_resp_free(&r);
    label[100] = '\0';
    post(m, "/v1/me/shares",
         json_pack("{s:[s], s:s, s:s}", "categories", "goals", "expires_at", when, "label", label),
         201, NULL);

    /* Every bad field at once. */
    th_reqj(
        "POST", "/v1/me/shares", m,
        json_pack("{s:[s], s:s, s:s}", "categories", "x", "expires_at", "2000-01-01", "label", ""),
        &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "categories[0]"));
    ck_assert(names_field(&r, "expires_at"));
    ck_assert(names_field(&r, "label"));
    th_resp_free(&r);

    /* Nothing was stored by any refused request: the four accepted ones only. */
    get(m, "/v1/me/shares", 200, &r);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 4);
    th_resp_free(&r);

    /* Members only. */
    utc_time(86400, when);
    th_reqj("POST", "/v1/me/shares", researcher,
            json_pack("{s:[s], s:s, s:s}", "categories", "goals", "expires_at", when, "label", "x"),
            &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", "/v1/me/shares", NULL, NULL, NULL, &r);
    th_assert_status(&r, 401);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/me/shares?limit=0");
    get(m, path, 422, &r);
    ck_assert(names_field(&r, "limit"));
    th_resp_free(&r);
}
END_TEST

START_TEST(members_are_isolated)
{
    char a[64], b[64], ta[64], tb[64], sa[37], sb[37], path[256];
    struct th_resp r;
    th_account("member", a, NULL);
    th_account("member", b, NULL);
    post(a, "/v1/me/symptoms",
         json_pack("{s:s, s:i, s:s}", "symptom", "fatigue", "severity", 7, "recorded_at",
                   "2025-05-01T08:00:00Z"),
         201, NULL);
    share(a, json_pack("[s]", "symptoms"), ta, sa);
    share(b, json_pack("[s]", "symptoms"), tb, sb);

    /* B cannot revoke or see A's link. */
    snprintf(path, sizeof(path), "/v1/me/shares/%s", sa);
    th_req("DELETE", path, b, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("DELETE", "/v1/me/shares/not-a-uuid", b, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    th_req("DELETE", "/v1/me/shares/00000000-0000-4000-8000-000000000000", b, NULL, NULL, &r);
    th_assert_status(&r, 404);
    th_resp_free(&r);
    get(b, "/v1/me/shares", 200, &r);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"), sb);
    th_resp_free(&r);
    json_t *it = listed(a, sa);
    ck_assert_str_eq(jstr(it, "status"), "active");
    json_decref(it);

    /* Each link reads only its own member's rows. */
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms", tb);
    get(NULL, path, 200, &r);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms", ta);
    get(NULL, path, 200, &r);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(r.json, "items"), 0), "severity")),
                     7);
    th_resp_free(&r);
}
END_TEST

START_TEST(erasure_removes_links_keeps_audit)
{
    char m[64], mid[37], token[64], sid[37], path[256];
    struct th_resp r;
    th_account("member", m, mid);
    share(m, json_pack("[s]", "goals"), token, sid);
    snprintf(path, sizeof(path), "/v1/shared/%s", token);
    get(NULL, path, 200, &r);
    th_resp_free(&r);
    th_req("DELETE", "/v1/me", m, "{\"password\":\"" TH_PASSWORD "\"}", NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    ck_assert_int_eq(sql_count("SELECT count(*) FROM share WHERE member_id = $1::uuid", mid, NULL),
                     0);
    ck_assert_int_eq(sql_count("SELECT count(*) FROM audit_log WHERE object_id = $1", sid, NULL),
                     2);
    get(NULL, path, 404, &r);
    th_resp_free(&r);
}
END_TEST

START_TEST(log_never_holds_the_token)
{
    char m[64], token[64], path[256];
    struct th_resp r;
    th_account("member", m, NULL);
    share(m, json_pack("[s,s]", "symptoms", "goals"), token, NULL);
    snprintf(path, sizeof(path), "/v1/shared/%s/symptoms", token);
    get(NULL, path, 200, &r);
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/shared/%s/profile", token);
    get(NULL, path, 404, &r);
    th_resp_free(&r);
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_null(strstr(log, token));
    ck_assert_ptr_nonnull(strstr(log, "\"route\":\"/v1/shared/{token}/symptoms\""));
    ck_assert_ptr_nonnull(strstr(log, "\"route\":\"/v1/shared/{token}/profile\""));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "LeakSanitizer"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("share");
    TCase *tc = tcase_create("share");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, lifecycle_same_data_as_me);
    tcase_add_test(tc, shared_lists_page);
    tcase_add_test(tc, not_shared_revoked_expired_unknown_are_one_404);
    tcase_add_test(tc, validation_names_each_field);
    tcase_add_test(tc, members_are_isolated);
    tcase_add_test(tc, erasure_removes_links_keeps_audit);
    tcase_add_test(tc, log_never_holds_the_token);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
