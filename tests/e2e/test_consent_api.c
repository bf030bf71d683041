/* End-to-end: the consent API over HTTP against a real PostgreSQL. Grants exactly as the issue
 * gives them, every validation rule, versions, withdrawal (and its effect on the SQL rules),
 * receipts verified with the openssl command line tool, policies, isolation between members, data
 * uses. */
#include "consent_store.h"
#include "db.h"
#include "harness.h"
#include "receipt.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static bool names_field(const struct th_resp *r, const char *field)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r->json, "errors"), i, e)
    {
        if (strcmp(str(e, "field"), field) == 0)
            return true;
    }
    return false;
}

static void assert_problem(const struct th_resp *r, long status)
{
    char ct[128];
    th_assert_status(r, status);
    ck_assert_ptr_nonnull(th_header(r, "Content-Type", ct, sizeof(ct)));
    ck_assert_str_eq(ct, "application/problem+json");
    ck_assert_int_eq(num(r->json, "status"), status);
}

/* A 422 that names exactly these fields (NULL-terminated). */
static void assert_fields(const struct th_resp *r, const char *const *fields)
{
    size_t n = 0;
    assert_problem(r, 422);
    for (; fields[n]; n++)
        ck_assert_msg(names_field(r, fields[n]), "%s not named in %s", fields[n], r->body);
    ck_assert_msg(json_array_size(json_object_get(r->json, "errors")) == n,
                  "other fields named: %s", r->body);
}
#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The body of the issue, verbatim. */
static const char *issue_body =
    "{\"effect\":\"permit\",\"purpose\":\"research\",\"categories\":[\"symptoms\",\"medications\","
    "\"demographics\"],\"restrictions\":{\"conditions\":[\"multiple_sclerosis\"],"
    "\"non_commercial\":true,\"not_for_profit_only\":false},\"valid_from\":\"2026-11-21\","
    "\"valid_until\":null}";

/* json_equal that takes the expected value (new reference). */
static bool same(const json_t *got, json_t *want)
{
    bool eq = want && json_equal(got, want);
    json_decref(want);
    return eq;
}

static long post(const char *path, const char *token, const char *body, struct th_resp *r)
{
    return th_req("POST", path, token, body, NULL, r);
}

/* POST a grant that must succeed; its id into id. */
static void grant_ok(const char *token, const char *body, char id[37])
{
    struct th_resp r;
    post("/v1/me/consents", token, body, &r);
    th_assert_status(&r, 201);
    snprintf(id, 37, "%s", str(r.json, "id"));
    th_resp_free(&r);
}

static void path_of(char *out, size_t len, const char *fmt, const char *id)
{
    snprintf(out, len, fmt, id);
}

static void sha256_hex(const char *s, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    ck_assert(EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static char *public_pem(void)
{
    struct th_resp r;
    th_req("GET", "/v1/consent/public-key", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    char *pem = strdup(r.body);
    th_resp_free(&r);
    return pem;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* Verify a compact JWS with `openssl pkeyutl -verify` against the PEM the server publishes. Returns
 * true when openssl says the signature verifies. */
static bool openssl_verifies(const char *jws)
{
    static int seq;
    char pub[512], in[512], sig[512], cmd[2048], out[1024] = "";
    const char *dot = strrchr(jws, '.');
    size_t siglen = 0;
    ck_assert_ptr_nonnull(dot);
    snprintf(pub, sizeof(pub), "%s/consent-pub-%d-%d.pem", th_tmpdir(), (int)getpid(), ++seq);
    snprintf(in, sizeof(in), "%s/consent-in-%d-%d.bin", th_tmpdir(), (int)getpid(), seq);
    snprintf(sig, sizeof(sig), "%s/consent-sig-%d-%d.bin", th_tmpdir(), (int)getpid(), seq);
    char *pem = public_pem();
    write_file(pub, pem, strlen(pem));
    free(pem);
    write_file(in, jws, (size_t)(dot - jws));
    unsigned char *raw = consent_b64url_decode(dot + 1, &siglen);
    ck_assert_ptr_nonnull(raw);
    ck_assert_uint_eq(siglen, 64);
    write_file(sig, raw, siglen);
    free(raw);
    snprintf(cmd, sizeof(cmd),
             "openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' -sigfile '%s' 2>&1", pub,
             in, sig);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    unlink(pub);
    unlink(in);
    unlink(sig);
    bool ok = st == 0 && strstr(out, "Signature Verified Successfully") != NULL;
    ck_assert_msg(ok || strstr(out, "Signature Verification Failure") != NULL,
                  "openssl neither verified nor refused: %s", out);
    return ok;
}

/* Part i (0 header, 1 payload) of a JWS, decoded and parsed. New reference. */
static json_t *jws_part(const char *jws, int i)
{
    char part[65536];
    const char *p = jws;
    for (int k = 0; k < i; k++)
        p = strchr(p, '.') + 1;
    size_t n = strcspn(p, ".");
    ck_assert_uint_lt(n, sizeof(part));
    memcpy(part, p, n);
    part[n] = '\0';
    size_t len;
    unsigned char *raw = consent_b64url_decode(part, &len);
    ck_assert_ptr_nonnull(raw);
    json_t *j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* The receipt in a grant response: signature, header and every payload field, against the response
 * and the database. */
static void check_receipt(const json_t *grant, const char *member_id, const char *event)
{
    static const char *const grant_keys[] = {"id",         "version",     "effect",
                                             "purpose",    "categories",  "restrictions",
                                             "valid_from", "valid_until", "status"};
    const char *jws = str(grant, "receipt");
    ck_assert_ptr_nonnull(jws);
    ck_assert(openssl_verifies(jws));

    json_t *h = jws_part(jws, 0), *p = jws_part(jws, 1);
    ck_assert_str_eq(str(h, "alg"), "EdDSA");
    ck_assert_str_eq(str(h, "typ"), "JWT");
    ck_assert_uint_eq(strlen(str(h, "kid")), 16);

    ck_assert_str_eq(str(p, "version"), "KI-CR-v1.1.0");
    ck_assert_str_eq(str(p, "jurisdiction"), "EU");
    ck_assert_str_eq(str(p, "policy_url"), "/v1/consent/policies");
    ck_assert_str_eq(str(p, "event"), event);
    ck_assert_str_eq(str(json_object_get(p, "principal"), "id"), member_id);
    ck_assert_str_eq(str(json_object_get(p, "controller"), "name"), "CareCommons");
    ck_assert_str_eq(str(json_object_get(p, "controller"), "contact"),
                     "privacy@carecommons.example");
    ck_assert_int_eq(num(p, "policy_version"), num(grant, "policy_version"));
    char pv[16];
    snprintf(pv, sizeof(pv), "%lld", num(grant, "policy_version"));
    /* The policy's digest as stored, and as the body's SHA-256 computed here. */
    PGconn *c = th_db();
    const char *pp[] = {pv};
    PGresult *r = PQexecParams(c, "SELECT sha256, body FROM consent_policy WHERE version = $1::int",
                               1, NULL, pp, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(r), 1);
    char digest[65];
    sha256_hex(PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)), digest);
    ck_assert_str_eq(str(p, "policy_sha256"), PQgetvalue(r, 0, 0));
    ck_assert_str_eq(str(p, "policy_sha256"), digest);
    PQclear(r);
    /* The event row holds this receipt: same id, the JWS itself, and its time. */
    char version[16];
    snprintf(version, sizeof(version), "%lld", num(grant, "version"));
    const char *ep[] = {str(p, "receipt_id"), str(grant, "id"), version, event, jws,
                        str(p, "timestamp")};
    r = PQexecParams(c,
                     "SELECT floor(extract(epoch FROM at))::bigint, at = $6::timestamptz "
                     "FROM consent_event WHERE receipt_id = $1 AND grant_id = $2 "
                     "AND version = $3::int AND event = $4 AND receipt = $5",
                     6, NULL, ep, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s",
                  PQerrorMessage(c));
    ck_assert_int_eq(num(p, "iat"), atoll(PQgetvalue(r, 0, 0)));
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "t");
    PQclear(r);
    PQfinish(c);
    /* The grant as the response shows it, and nothing else. */
    json_t *g = json_object_get(p, "grant");
    ck_assert_uint_eq(json_object_size(g), sizeof(grant_keys) / sizeof(grant_keys[0]));
    for (size_t i = 0; i < sizeof(grant_keys) / sizeof(grant_keys[0]); i++)
        ck_assert_msg(
            json_equal(json_object_get(g, grant_keys[i]), json_object_get(grant, grant_keys[i])),
            "receipt grant.%s differs", grant_keys[i]);
    ck_assert_uint_eq(json_object_size(p), 12);
    json_decref(h);
    json_decref(p);
}

static long count(const char *sql, const char *id)
{
    const char *p[] = {id};
    return th_sql_long(sql, id ? 1 : 0, id ? p : NULL);
}

static long latest_policy(void)
{
    return th_sql_long("SELECT max(version) FROM consent_policy", 0, NULL);
}

/* ---- tests ---- */

START_TEST(policies_and_public_key)
{
    struct th_resp r;
    char ct[128], digest[65];

    th_req("GET", "/v1/consent/policies", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items),
                      (size_t)count("SELECT count(*) FROM consent_policy", NULL));
    json_t *p = json_array_get(items, 0);
    ck_assert_int_eq(num(p, "version"), 1);
    ck_assert_str_eq(str(p, "title"), "How CareCommons uses your health data");
    ck_assert_uint_eq(json_object_size(p), 5);
    const char *body = str(p, "body");
    ck_assert_ptr_nonnull(strstr(body, "Research"));
    ck_assert_ptr_nonnull(strstr(body, "trial"));
    ck_assert_ptr_nonnull(strstr(body, "Community"));
    ck_assert_ptr_nonnull(strstr(body, "Sharing"));
    sha256_hex(body, strlen(body), digest);
    ck_assert_str_eq(str(p, "sha256"), digest);
    const char *pub[] = {str(p, "published_at")};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_policy WHERE version = 1 AND "
                                 "published_at = $1::timestamptz",
                                 1, pub),
                     1);
    th_resp_free(&r);

    th_req("GET", "/v1/consent/public-key", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)), "application/x-pem-file");
    ck_assert_int_eq(strncmp(r.body, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "-----END PUBLIC KEY-----\n"));
    th_resp_free(&r);
}
END_TEST

START_TEST(grant_from_the_issue)
{
    char token[64], id[37];
    struct th_resp r;

    th_account("member", token, id);
    post("/v1/me/consents", token, issue_body, &r);
    th_assert_status(&r, 201);
    json_t *g = r.json;
    ck_assert_uint_eq(strlen(str(g, "id")), 36);
    ck_assert_int_eq(num(g, "version"), 1);
    ck_assert_str_eq(str(g, "effect"), "permit");
    ck_assert_str_eq(str(g, "purpose"), "research");
    json_t *want = json_pack("[s,s,s]", "demographics", "symptoms", "medications");
    ck_assert(json_equal(json_object_get(g, "categories"), want));
    json_decref(want);
    want = json_pack("{s:[s], s:b, s:b}", "conditions", "multiple_sclerosis", "non_commercial", 1,
                     "not_for_profit_only", 0);
    ck_assert(json_equal(json_object_get(g, "restrictions"), want));
    json_decref(want);
    ck_assert_str_eq(str(g, "valid_from"), "2026-11-21T00:00:00Z");
    ck_assert(json_is_null(json_object_get(g, "valid_until")));
    ck_assert_str_eq(str(g, "status"), "active");
    ck_assert_int_eq(num(g, "policy_version"), latest_policy());
    ck_assert(json_is_null(json_object_get(g, "withdrawn_at")));
    ck_assert_ptr_nonnull(str(g, "created_at"));
    ck_assert_uint_eq(json_object_size(g), 13);
    check_receipt(g, id, "granted");

    /* Stored as the rules read it: categories 1|4|8, the condition, non-commercial. */
    const char *p[] = {str(g, "id"), id};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND member_id = $2 "
                    "AND version = 1 AND effect = 'permit' AND purpose = 'research' "
                    "AND categories = 13 AND conditions = '{multiple_sclerosis}' "
                    "AND non_commercial AND NOT not_for_profit_only "
                    "AND valid_from = '2026-11-21T00:00:00Z' AND valid_until IS NULL "
                    "AND status = 'active'",
                    2, p),
        1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_event WHERE grant_id = $1 AND "
                                 "member_id = $2 AND event = 'granted' AND version = 1",
                                 2, p),
                     1);
    /* Audited: who, what, which grant. */
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'consent.grant' "
                                 "AND object_type = 'consent' AND object_id = $1 AND actor_id = $2 "
                                 "AND actor_role = 'member'",
                                 2, p),
                     1);
    /* What the grant covers: an MS research use of symptoms, non-commercial, once in force. */
    const char *m[] = {id};
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 4, false, true, "
                                 "'{multiple_sclerosis}', '2026-11-21T00:00:00Z')::int",
                                 1, m),
                     1);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 4, true, true, "
                                 "'{multiple_sclerosis}', '2026-11-21T00:00:00Z')::int",
                                 1, m),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 4, false, false, "
                                 "'{}', '2026-11-21T00:00:00Z')::int",
                                 1, m),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 2, false, false, "
                                 "'{multiple_sclerosis}', '2026-11-21T00:00:00Z')::int",
                                 1, m),
                     0);

    /* A receipt whose payload was altered does not verify. */
    char *forged = strdup(str(g, "receipt"));
    char *mid = strchr(forged, '.') + 5;
    *mid = *mid == 'A' ? 'B' : 'A';
    ck_assert(!openssl_verifies(forged));
    free(forged);

    /* The list shows it, without a receipt. */
    char gid[37];
    snprintf(gid, sizeof(gid), "%s", str(g, "id"));
    json_t *copy = json_deep_copy(g);
    json_object_del(copy, "receipt");
    th_resp_free(&r);
    th_req("GET", "/v1/me/consents", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert(json_equal(json_array_get(json_object_get(r.json, "items"), 0), copy));
    json_decref(copy);
    th_resp_free(&r);
}
END_TEST

START_TEST(dates_and_times)
{
    char token[64], id[37];
    struct th_resp r;
    th_account("member", token, id);

    /* valid_until as a date is inclusive: stored as the next day 00:00 UTC. Offsets are honoured.
     */
    post("/v1/me/consents", token,
         "{\"effect\":\"deny\",\"purpose\":\"community\",\"categories\":[\"goals\"],"
         "\"valid_from\":\"2027-01-01T10:00:00+02:00\",\"valid_until\":\"2027-03-31\"}",
         &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(str(r.json, "valid_from"), "2027-01-01T08:00:00Z");
    ck_assert_str_eq(str(r.json, "valid_until"), "2027-04-01T00:00:00Z");
    ck_assert_str_eq(str(r.json, "effect"), "deny");
    ck_assert(same(json_object_get(r.json, "restrictions"),
                   json_pack("{s:[], s:b, s:b}", "conditions", "non_commercial", 0,
                             "not_for_profit_only", 0)));
    th_resp_free(&r);

    /* Zero fractions are whole seconds; valid_from defaults to now (whole seconds). */
    post("/v1/me/consents", token,
         "{\"effect\":\"permit\",\"purpose\":\"share\",\"categories\":[\"goals\"],"
         "\"valid_until\":\"2030-05-05T05:05:05.000Z\"}",
         &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(str(r.json, "valid_until"), "2030-05-05T05:05:05Z");
    const char *p[] = {str(r.json, "id")};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND "
                                 "valid_from = to_timestamp(floor(extract(epoch FROM created_at)))",
                                 1, p),
                     1);
    th_resp_free(&r);

    /* Refused: a fraction of a second, an end in the past, an end not after the start, a start
     * before 2000, a malformed time, an impossible date. */
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"\"valid_from\":\"2027-01-01T00:00:00.5Z\"", "valid_from"},
        {"\"valid_until\":\"2020-01-01\"", "valid_until"},
        {"\"valid_from\":\"2031-01-01\",\"valid_until\":\"2030-12-31\"", "valid_until"},
        {"\"valid_from\":\"1999-12-31\"", "valid_from"},
        {"\"valid_from\":\"tomorrow\"", "valid_from"},
        {"\"valid_from\":\"2027-02-30\"", "valid_from"},
        {"\"valid_from\":\"2027-01-01T00:00:00\"", "valid_from"},
        {"\"valid_until\":20270101", "valid_until"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"effect\":\"permit\",\"purpose\":\"research\",\"categories\":[\"goals\"],%s}",
                 bad[i].body);
        post("/v1/me/consents", token, body, &r);
        assert_fields(&r, (const char *const[]){bad[i].field, NULL});
        th_resp_free(&r);
    }
    ck_assert_int_eq(count("SELECT count(*) FROM consent_grant WHERE member_id = $1", id), 2);
}
END_TEST

START_TEST(validation)
{
    char token[64], id[37], body[4096];
    struct th_resp r;
    th_account("member", token, id);

    post("/v1/me/consents", token, "{}", &r);
    assert_fields(&r, FIELDS("effect", "purpose", "categories"));
    th_resp_free(&r);

    /* Every field wrong at once: each is named. */
    post("/v1/me/consents", token,
         "{\"effect\":\"maybe\",\"purpose\":\"marketing\",\"categories\":[\"symptoms\",\"bogus\"],"
         "\"restrictions\":{\"conditions\":[\"multiple_sclerosis\",\"no_such_condition\","
         "\"Bad Id\",\"multiple_sclerosis\"],\"non_commercial\":\"yes\",\"colour\":1},"
         "\"valid_from\":\"soon\",\"valid_until\":false,\"policy_version\":99,\"note\":\"x\"}",
         &r);
    assert_fields(&r, FIELDS("effect", "purpose", "categories[1]", "restrictions.conditions[1]",
                             "restrictions.conditions[2]", "restrictions.conditions[3]",
                             "restrictions.non_commercial", "restrictions.colour", "valid_from",
                             "valid_until", "policy_version", "note"));
    th_resp_free(&r);

    static const struct {
        const char *fields, *field;
    } bad[] = {
        {"\"effect\":null", "effect"},
        {"\"purpose\":\"trial\"", "purpose"},
        {"\"categories\":[]", "categories"},
        {"\"categories\":\"symptoms\"", "categories"},
        {"\"categories\":[\"symptoms\",\"symptoms\"]", "categories[1]"},
        {"\"categories\":[\"Symptoms\"]", "categories[0]"},
        {"\"restrictions\":[]", "restrictions"},
        {"\"restrictions\":{\"conditions\":\"multiple_sclerosis\"}", "restrictions.conditions"},
        {"\"restrictions\":{\"conditions\":[\"migraine\",7]}", "restrictions.conditions[1]"},
        {"\"restrictions\":{\"not_for_profit_only\":1}", "restrictions.not_for_profit_only"},
        {"\"policy_version\":0", "policy_version"},
        {"\"policy_version\":\"1\"", "policy_version"},
        {"\"policy_version\":1000", "policy_version"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = json_pack("{s:s, s:s, s:[s]}", "effect", "permit", "purpose", "research",
                              "categories", "symptoms");
        json_t *extra =
            json_loads((snprintf(body, sizeof(body), "{%s}", bad[i].fields), body), 0, NULL);
        ck_assert_ptr_nonnull(extra);
        json_object_update(b, extra);
        json_decref(extra);
        th_reqj("POST", "/v1/me/consents", token, b, &r);
        assert_fields(&r, (const char *const[]){bad[i].field, NULL});
        th_resp_free(&r);
    }

    /* 33 conditions: over the limit; 32 known ones would be fine but the catalog check runs on
     * each. */
    int n = snprintf(body, sizeof(body),
                     "{\"effect\":\"deny\",\"purpose\":\"research\",\"categories\":[\"goals\"],"
                     "\"restrictions\":{\"conditions\":[");
    for (int i = 0; i < 33; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s\"c%02d\"", i ? "," : "", i);
    snprintf(body + n, sizeof(body) - (size_t)n, "]}}");
    post("/v1/me/consents", token, body, &r);
    assert_fields(&r, FIELDS("restrictions.conditions"));
    th_resp_free(&r);

    /* Malformed or missing bodies never reach validation. */
    post("/v1/me/consents", token, "{\"effect\":", &r);
    assert_problem(&r, 400);
    th_resp_free(&r);
    post("/v1/me/consents", token, NULL, &r);
    assert_problem(&r, 400);
    th_resp_free(&r);

    /* Nothing was written, nor audited. */
    ck_assert_int_eq(count("SELECT count(*) FROM consent_grant WHERE member_id = $1", id), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM consent_event WHERE member_id = $1", id), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM audit_log WHERE actor_id = $1", id), 0);

    /* Authentication and role. */
    th_req("GET", "/v1/me/consents", NULL, NULL, NULL, &r);
    assert_problem(&r, 401);
    th_resp_free(&r);
    char rtoken[64];
    th_account("researcher", rtoken, NULL);
    th_req("GET", "/v1/me/consents", rtoken, NULL, NULL, &r);
    assert_problem(&r, 403);
    th_resp_free(&r);
    post("/v1/me/consents", rtoken, issue_body, &r);
    assert_problem(&r, 403);
    th_resp_free(&r);
}
END_TEST

START_TEST(versions_and_history)
{
    char token[64], id[37], gid[37], path[128];
    struct th_resp r;
    th_account("member", token, id);
    grant_ok(token,
             "{\"effect\":\"permit\",\"purpose\":\"research\",\"categories\":[\"symptoms\"],"
             "\"restrictions\":{\"conditions\":[\"migraine\"]}}",
             gid);
    path_of(path, sizeof(path), "/v1/me/consents/%s", gid);

    /* PATCH makes version 2 with the changed field; the rest carries over. */
    th_req("PATCH", path, token, "{\"categories\":[\"symptoms\",\"medications\"]}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(str(r.json, "id"), gid);
    ck_assert_int_eq(num(r.json, "version"), 2);
    ck_assert(
        same(json_object_get(r.json, "categories"), json_pack("[s,s]", "symptoms", "medications")));
    ck_assert(same(json_object_get(json_object_get(r.json, "restrictions"), "conditions"),
                   json_pack("[s]", "migraine")));
    ck_assert_str_eq(str(r.json, "status"), "active");
    check_receipt(r.json, id, "changed");
    th_resp_free(&r);
    const char *p[] = {gid};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND version = 1 "
                                 "AND status = 'superseded'",
                                 1, p),
                     1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND version = 2 "
                                 "AND status = 'active' AND categories = 12",
                                 1, p),
                     1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'consent.change' "
                                 "AND object_id = $1",
                                 1, p),
                     1);

    /* Partial restrictions: the flag changes, the conditions stay. Then null clears them all. */
    th_req("PATCH", path, token, "{\"restrictions\":{\"non_commercial\":true}}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_int_eq(num(r.json, "version"), 3);
    ck_assert(same(json_object_get(r.json, "restrictions"),
                   json_pack("{s:[s], s:b, s:b}", "conditions", "migraine", "non_commercial", 1,
                             "not_for_profit_only", 0)));
    th_resp_free(&r);
    th_req("PATCH", path, token, "{\"restrictions\":null,\"valid_until\":\"2099-12-31\"}", NULL,
           &r);
    th_assert_status(&r, 200);
    ck_assert_int_eq(num(r.json, "version"), 4);
    ck_assert(same(json_object_get(r.json, "restrictions"),
                   json_pack("{s:[], s:b, s:b}", "conditions", "non_commercial", 0,
                             "not_for_profit_only", 0)));
    ck_assert_str_eq(str(r.json, "valid_until"), "2100-01-01T00:00:00Z");
    th_resp_free(&r);
    th_req("PATCH", path, token, "{\"valid_until\":null,\"effect\":\"deny\"}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_int_eq(num(r.json, "version"), 5);
    ck_assert(json_is_null(json_object_get(r.json, "valid_until")));
    ck_assert_str_eq(str(r.json, "effect"), "deny");
    th_resp_free(&r);

    /* Refused changes write nothing. */
    th_req("PATCH", path, token, "{}", NULL, &r);
    assert_fields(&r, FIELDS("body"));
    th_resp_free(&r);
    th_req("PATCH", path, token, "{\"valid_from\":null,\"note\":1}", NULL, &r);
    assert_fields(&r, FIELDS("valid_from", "note"));
    th_resp_free(&r);
    th_req("PATCH", path, token, "{\"valid_from\":\"2150-01-01\",\"valid_until\":\"2149-12-31\"}",
           NULL, &r);
    assert_fields(&r, FIELDS("valid_until"));
    th_resp_free(&r);
    th_req("PATCH", path, token, "{\"restrictions\":{\"conditions\":[\"no_such_condition\"]}}",
           NULL, &r);
    assert_fields(&r, FIELDS("restrictions.conditions[0]"));
    th_resp_free(&r);
    th_req("PATCH", "/v1/me/consents/not-a-uuid", token, "{\"effect\":\"deny\"}", NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);
    th_req("PATCH", "/v1/me/consents/00000000-0000-4000-8000-000000000000", token,
           "{\"effect\":\"deny\"}", NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT max(version) FROM consent_grant WHERE id = $1", 1, p), 5);

    /* The list shows only the current version. */
    th_req("GET", "/v1/me/consents", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_int_eq(num(json_array_get(json_object_get(r.json, "items"), 0), "version"), 5);
    th_resp_free(&r);

    /* History: every version, in order, each with its receipt; earlier versions superseded. */
    th_req("GET", "/v1/me/consents/history", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 5);
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    for (size_t i = 0; i < 5; i++) {
        json_t *e = json_array_get(items, i), *g = json_object_get(e, "grant");
        ck_assert_str_eq(str(e, "event"), i == 0 ? "granted" : "changed");
        ck_assert_int_eq(num(g, "version"), (long long)i + 1);
        ck_assert_str_eq(str(g, "id"), gid);
        ck_assert_str_eq(str(g, "status"), i < 4 ? "superseded" : "active");
        ck_assert(openssl_verifies(str(e, "receipt")));
        json_t *payload = jws_part(str(e, "receipt"), 1);
        ck_assert_str_eq(str(payload, "receipt_id"), str(e, "receipt_id"));
        ck_assert_int_eq(num(json_object_get(payload, "grant"), "version"), (long long)i + 1);
        json_decref(payload);
        if (i > 0)
            ck_assert_int_gt(num(e, "seq"), num(json_array_get(items, i - 1), "seq"));
    }
    ck_assert_str_eq(str(json_object_get(json_array_get(items, 0), "grant"), "effect"), "permit");
    th_resp_free(&r);

    /* Paging: 2 + 2 + 1, no repeats, the same order. */
    char next[512] = "", url[700];
    long long seen[5];
    int nseen = 0;
    for (int page = 0; page < 3; page++) {
        snprintf(url, sizeof(url), "/v1/me/consents/history?limit=2%s%s", next[0] ? "&cursor=" : "",
                 next);
        th_req("GET", url, token, NULL, NULL, &r);
        th_assert_status(&r, 200);
        json_t *it = json_object_get(r.json, "items"), *e;
        size_t i;
        ck_assert_uint_eq(json_array_size(it), page < 2 ? 2 : 1);
        json_array_foreach(it, i, e) seen[nseen++] = num(json_object_get(e, "grant"), "version");
        if (page < 2)
            snprintf(next, sizeof(next), "%s", str(r.json, "next_cursor"));
        else
            ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        th_resp_free(&r);
    }
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(seen[i], i + 1);
    th_req("GET", "/v1/me/consents/history?limit=0", token, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/consents/history?limit=501", token, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/consents/history?limit=ten", token, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    next[3] = next[3] == 'A' ? 'B' : 'A';
    snprintf(url, sizeof(url), "/v1/me/consents/history?cursor=%s", next);
    th_req("GET", url, token, NULL, NULL, &r);
    assert_fields(&r, FIELDS("cursor"));
    th_resp_free(&r);
}
END_TEST

START_TEST(withdrawal)
{
    char token[64], id[37], gid[37], path[160];
    struct th_resp r;
    th_account("member", token, id);
    grant_ok(token,
             "{\"effect\":\"permit\",\"purpose\":\"trial_recruitment\","
             "\"categories\":[\"conditions\",\"symptoms\"]}",
             gid);
    const char *p[] = {id};

    /* In force from now: the SQL rules permit a recruitment search on conditions. */
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'trial_recruitment', 2, true, true, "
                                 "'{type_2_diabetes}', now())::int",
                                 1, p),
                     1);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM consent_permitted_members('trial_recruitment', "
                    "6, false, false, NULL, now()) m WHERE m = $1",
                    1, p),
        1);

    path_of(path, sizeof(path), "/v1/me/consents/%s/withdraw", gid);
    post(path, token, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(str(r.json, "status"), "withdrawn");
    ck_assert_int_eq(num(r.json, "version"), 1);
    ck_assert_ptr_nonnull(str(r.json, "withdrawn_at"));
    check_receipt(r.json, id, "withdrawn");
    th_resp_free(&r);

    /* It takes effect for every question answered after the response. */
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'trial_recruitment', 2, true, true, "
                                 "'{type_2_diabetes}', now())::int",
                                 1, p),
                     0);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM consent_permitted_members('trial_recruitment', "
                    "6, false, false, NULL, now()) m WHERE m = $1",
                    1, p),
        0);
    const char *pg[] = {gid, id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'consent.withdraw' "
                                 "AND object_id = $1 AND actor_id = $2",
                                 2, pg),
                     1);

    /* Again: 409, clearly; and a withdrawn grant cannot be changed. */
    post(path, token, NULL, &r);
    assert_problem(&r, 409);
    ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "already withdrawn"));
    th_resp_free(&r);
    char ppath[128];
    path_of(ppath, sizeof(ppath), "/v1/me/consents/%s", gid);
    th_req("PATCH", ppath, token, "{\"categories\":[\"goals\"]}", NULL, &r);
    assert_problem(&r, 409);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_event WHERE grant_id = $1 AND "
                                 "member_id = $2",
                                 2, pg),
                     2);

    /* The list and history show it. */
    th_req("GET", "/v1/me/consents", token, NULL, NULL, &r);
    ck_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "status"),
                     "withdrawn");
    th_resp_free(&r);
    th_req("GET", "/v1/me/consents/history", token, NULL, NULL, &r);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert_str_eq(str(json_array_get(items, 1), "event"), "withdrawn");
    ck_assert_int_eq(num(json_object_get(json_array_get(items, 1), "grant"), "version"), 1);
    th_resp_free(&r);

    /* Unknown ids and bodies. */
    post("/v1/me/consents/nope/withdraw", token, NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);
    post("/v1/me/consents/00000000-0000-4000-8000-000000000000/withdraw", token, NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);
    char gid2[37];
    grant_ok(token, "{\"effect\":\"permit\",\"purpose\":\"share\",\"categories\":[\"goals\"]}",
             gid2);
    path_of(path, sizeof(path), "/v1/me/consents/%s/withdraw", gid2);
    post(path, token, "{\"reason\":\"x\"}", &r);
    assert_fields(&r, FIELDS("reason"));
    th_resp_free(&r);

    /* With an Idempotency-Key a retried withdrawal replays the first answer. */
    const char *hdr[] = {"Idempotency-Key: withdraw-once", NULL};
    struct th_resp r2;
    th_req("POST", path, token, NULL, hdr, &r);
    th_assert_status(&r, 200);
    th_req("POST", path, token, NULL, hdr, &r2);
    th_assert_status(&r2, 200);
    ck_assert_str_eq(r.body, r2.body);
    char replay[16];
    ck_assert_str_eq(th_header(&r2, "Idempotent-Replayed", replay, sizeof(replay)), "true");
    th_resp_free(&r);
    th_resp_free(&r2);
    const char *pg2[] = {gid2};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_event WHERE grant_id = $1", 1, pg2),
                     2);

    /* And a retried grant creates one grant. */
    const char *hdr2[] = {"Idempotency-Key: grant-once", NULL};
    th_req("POST", "/v1/me/consents", token, issue_body, hdr2, &r);
    th_assert_status(&r, 201);
    th_req("POST", "/v1/me/consents", token, issue_body, hdr2, &r2);
    th_assert_status(&r2, 201);
    ck_assert_str_eq(str(r.json, "id"), str(r2.json, "id"));
    th_resp_free(&r);
    th_resp_free(&r2);
    ck_assert_int_eq(count("SELECT count(DISTINCT id) FROM consent_grant WHERE member_id = $1", id),
                     3);
}
END_TEST

START_TEST(isolation)
{
    char ta[64], ida[37], tb[64], idb[37], gid[37], path[160];
    struct th_resp r;
    th_account("member", ta, ida);
    th_account("member", tb, idb);
    grant_ok(ta, issue_body, gid);

    th_req("GET", "/v1/me/consents", tb, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    th_req("GET", "/v1/me/consents/history", tb, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    path_of(path, sizeof(path), "/v1/me/consents/%s", gid);
    th_req("PATCH", path, tb, "{\"effect\":\"deny\"}", NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);
    path_of(path, sizeof(path), "/v1/me/consents/%s/withdraw", gid);
    post(path, tb, NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);

    /* A's grant is untouched. */
    const char *p[] = {gid};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1", 1, p), 1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND status = "
                                 "'active' AND effect = 'permit'",
                                 1, p),
                     1);
    th_req("GET", "/v1/me/consents", ta, NULL, NULL, &r);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    th_resp_free(&r);
}
END_TEST

START_TEST(data_uses)
{
    char token[64], id[37], other[64], oid[37];
    struct th_resp r;
    th_account("member", token, id);
    th_account("member", other, oid);

    th_req("GET", "/v1/me/data-uses", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert(same(r.json, json_pack("{s:[], s:n}", "items", "next_cursor")));
    th_resp_free(&r);

    /* Written by research and trials code; here as superuser. Another member's row never shows. */
    const char *p[] = {id, oid};
    ck_assert_int_eq(
        th_sql_long(
            "WITH w AS (INSERT INTO data_use (member_id, kind, object_id, title, purpose, "
            "categories, at) VALUES "
            "($1, 'study', '11111111-1111-4111-8111-111111111111', 'Fatigue in MS', "
            "'research', 5, '2026-11-01T10:00:00Z'), "
            "($1, 'trial', '22222222-2222-4222-8222-222222222222', 'Trial NCT01', "
            "'trial_recruitment', 2, '2026-11-02T10:00:00.25Z'), "
            "($1, 'study', '33333333-3333-4333-8333-333333333333', 'Sleep', 'research', 31, "
            "'2026-10-01T00:00:00Z'), "
            "($2, 'study', '44444444-4444-4444-8444-444444444444', 'Other', 'research', 1, "
            "'2026-11-03T00:00:00Z') RETURNING 1) SELECT count(*) FROM w",
            2, p),
        4);

    th_req("GET", "/v1/me/data-uses", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *want = json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:[s], s:s}, {s:s, s:s, s:s, s:s, s:[s,s], s:s},"
        " {s:s, s:s, s:s, s:s, s:[s,s,s,s,s], s:s}], s:n}",
        "items", "kind", "trial", "id", "22222222-2222-4222-8222-222222222222", "title",
        "Trial NCT01", "purpose", "trial_recruitment", "categories", "conditions", "at",
        "2026-11-02T10:00:00.25Z", "kind", "study", "id", "11111111-1111-4111-8111-111111111111",
        "title", "Fatigue in MS", "purpose", "research", "categories", "demographics", "symptoms",
        "at", "2026-11-01T10:00:00Z", "kind", "study", "id", "33333333-3333-4333-8333-333333333333",
        "title", "Sleep", "purpose", "research", "categories", "demographics", "conditions",
        "symptoms", "medications", "goals", "at", "2026-10-01T00:00:00Z", "next_cursor");
    ck_assert_ptr_nonnull(want);
    ck_assert_msg(json_equal(r.json, want), "got %s", r.body);
    json_decref(want);
    th_resp_free(&r);

    /* Pages of two. */
    th_req("GET", "/v1/me/data-uses?limit=2", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 2);
    ck_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 1), "title"),
                     "Fatigue in MS");
    char url[600], cursor[400];
    snprintf(cursor, sizeof(cursor), "%s", str(r.json, "next_cursor"));
    th_resp_free(&r);
    snprintf(url, sizeof(url), "/v1/me/data-uses?limit=2&cursor=%s", cursor);
    th_req("GET", url, token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "title"), "Sleep");
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    th_resp_free(&r);
    /* An altered cursor is refused. */
    cursor[2] = cursor[2] == 'x' ? 'y' : 'x';
    snprintf(url, sizeof(url), "/v1/me/data-uses?cursor=%s", cursor);
    th_req("GET", url, token, NULL, NULL, &r);
    assert_fields(&r, FIELDS("cursor"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/data-uses?limit=-1", token, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
}
END_TEST

/* Concurrent changes of one grant serialise: every PATCH succeeds, versions are contiguous and
 * exactly one is current. Then withdrawals race changes: one withdrawal wins, the rest get 409. */
START_TEST(concurrent_changes)
{
    enum { NPROC = 8, EACH = 5 };
    char token[64], id[37], gid[37], path[160];
    pid_t pids[NPROC];
    th_account("member", token, id);
    grant_ok(token, "{\"effect\":\"permit\",\"purpose\":\"research\",\"categories\":[\"goals\"]}",
             gid);
    path_of(path, sizeof(path), "/v1/me/consents/%s", gid);
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            int bad = 0;
            for (int k = 0; k < EACH; k++) {
                struct th_resp r;
                th_req("PATCH", path, token,
                       k % 2 ? "{\"categories\":[\"goals\"]}" : "{\"categories\":[\"symptoms\"]}",
                       NULL, &r);
                bad += r.status != 200;
                th_resp_free(&r);
            }
            _exit(bad);
        }
    }
    for (int i = 0; i < NPROC; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d: %d PATCHes failed", i,
                      WEXITSTATUS(st));
    }
    const char *p[] = {gid};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1", 1, p),
                     NPROC * EACH + 1);
    ck_assert_int_eq(th_sql_long("SELECT max(version) FROM consent_grant WHERE id = $1", 1, p),
                     NPROC * EACH + 1);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND "
                                 "status <> 'superseded'",
                                 1, p),
                     1);
    ck_assert_int_eq(th_sql_long("SELECT count(DISTINCT version) FROM consent_event WHERE "
                                 "grant_id = $1",
                                 1, p),
                     NPROC * EACH + 1);

    /* Half withdraw, half change, at once. */
    char wpath[180];
    path_of(wpath, sizeof(wpath), "/v1/me/consents/%s/withdraw", gid);
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            struct th_resp r;
            if (i % 2)
                th_req("POST", wpath, token, NULL, NULL, &r);
            else
                th_req("PATCH", path, token, "{\"categories\":[\"goals\"]}", NULL, &r);
            long st = r.status;
            th_resp_free(&r);
            _exit(st == 200 ? (i % 2 ? 1 : 2) : st == 409 ? 3 : 4);
        }
    }
    int withdrawn = 0, changed = 0, conflict = 0;
    for (int i = 0; i < NPROC; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert(WIFEXITED(st));
        int code = WEXITSTATUS(st);
        ck_assert_msg(code >= 1 && code <= 3, "process %d answered neither 200 nor 409", i);
        withdrawn += code == 1;
        changed += code == 2;
        conflict += code == 3;
    }
    ck_assert_int_eq(withdrawn, 1);
    ck_assert_int_eq(withdrawn + changed + conflict, NPROC);
    ck_assert_int_eq(th_sql_long("SELECT max(version) FROM consent_grant WHERE id = $1", 1, p),
                     NPROC * EACH + 1 + changed);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE id = $1 AND "
                                 "status = 'withdrawn' AND version = (SELECT max(version) FROM "
                                 "consent_grant WHERE id = $1)",
                                 1, p),
                     1);
}
END_TEST

/* svc_consent_export, what GET /v1/me/export includes: every grant with its whole history, read as
 * the service role. */
START_TEST(export_history)
{
    char token[64], id[37], g1[37], g2[37], path[160], url[512];
    struct th_resp r;
    th_account("member", token, id);
    grant_ok(token, issue_body, g1);
    path_of(path, sizeof(path), "/v1/me/consents/%s", g1);
    th_req("PATCH", path, token, "{\"categories\":[\"symptoms\"]}", NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    path_of(path, sizeof(path), "/v1/me/consents/%s/withdraw", g1);
    post(path, token, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    grant_ok(token, "{\"effect\":\"deny\",\"purpose\":\"community\",\"categories\":[\"goals\"]}",
             g2);

    PGconn *su = th_db();
    snprintf(url, sizeof(url), "host=%s port=%s dbname=%s user=carecommons", PQhost(su), PQport(su),
             PQdb(su));
    PQfinish(su);
    ck_assert_int_eq(db_pool_init(url, 1, 5, 0), 0);
    struct svc_req req = {.db = db_acquire()};
    ck_assert_ptr_nonnull(req.db);
    snprintf(req.who.account_id, sizeof(req.who.account_id), "%s", id);
    json_t *x = svc_consent_export(&req);

    /* The loader the research and trial code share: only the active grant (g2, the deny). */
    struct svc_consent_set set;
    ck_assert_int_eq(svc_consent_load(req.db, id, &set), 0);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_int_eq(set.grants[0].effect, CONSENT_DENY);
    ck_assert_int_eq(set.grants[0].purpose, CONSENT_COMMUNITY);
    ck_assert_uint_eq(set.grants[0].categories, CONSENT_GOALS);
    ck_assert_uint_eq(set.grants[0].nconditions, 0);
    ck_assert_int_eq(set.grants[0].valid_until, 0);
    ck_assert_int_eq(set.grants[0].status, CONSENT_ACTIVE);
    svc_consent_set_free(&set);
    struct consent_use use = {
        .purpose = CONSENT_COMMUNITY, .categories = CONSENT_GOALS, .at = (int64_t)time(NULL)};
    struct consent_decision d;
    ck_assert_int_eq(svc_consent_check(req.db, id, &use, &d), 0);
    ck_assert(!d.permit);
    ck_assert_int_eq(d.reason, CONSENT_R_DENIED);
    ck_assert_uint_eq(d.category, CONSENT_GOALS);
    ck_assert_int_eq(d.grant, 0);
    ck_assert_int_eq(svc_consent_load(req.db, "not-a-uuid", &set), -1);
    ck_assert_uint_eq(set.n, 0);
    svc_consent_set_free(NULL);
    db_release(req.db);
    db_pool_shutdown();
    ck_assert_ptr_nonnull(x);

    /* Newest first: g2 was made after g1's last version. */
    ck_assert_uint_eq(json_array_size(x), 2);
    json_t *e2 = json_array_get(x, 0), *e1 = json_array_get(x, 1);
    ck_assert_str_eq(str(e2, "id"), g2);
    ck_assert_str_eq(str(e1, "id"), g1);
    ck_assert_int_eq(num(e1, "version"), 2);
    ck_assert_str_eq(str(e1, "status"), "withdrawn");
    ck_assert_uint_eq(json_array_size(json_object_get(e2, "history")), 1);
    json_t *h = json_object_get(e1, "history");
    ck_assert_uint_eq(json_array_size(h), 3);
    ck_assert_str_eq(str(json_array_get(h, 0), "event"), "granted");
    ck_assert_str_eq(str(json_array_get(h, 1), "event"), "changed");
    ck_assert_str_eq(str(json_array_get(h, 2), "event"), "withdrawn");

    /* The events are exactly those of GET /v1/me/consents/history. */
    th_req("GET", "/v1/me/consents/history", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 4);
    for (size_t i = 0; i < 3; i++)
        ck_assert(json_equal(json_array_get(h, i), json_array_get(items, i)));
    ck_assert(
        json_equal(json_array_get(json_object_get(e2, "history"), 0), json_array_get(items, 3)));
    th_resp_free(&r);

    /* GET /v1/me/export carries exactly this consent history. */
    th_req("GET", "/v1/me/export", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert(json_equal(json_object_get(r.json, "consents"), x));
    th_resp_free(&r);
    json_decref(x);
}
END_TEST

/* Last: it publishes a second policy version. */
START_TEST(new_policy_version)
{
    char token[64], id[37], old_gid[37], path[128], digest[65];
    struct th_resp r;
    th_account("member", token, id);
    ck_assert_int_eq(latest_policy(), 1);
    grant_ok(token, issue_body, old_gid);

    ck_assert_int_eq(
        th_sql_long("WITH p AS (INSERT INTO consent_policy (version, title, body) "
                    "VALUES (2, 'Version two', 'Plain words, version two. Caf\u00e9.') "
                    "RETURNING version) SELECT version FROM p",
                    0, NULL),
        2);
    /* Published policies cannot be edited. */
    ck_assert_int_eq(
        th_sql_long("WITH u AS (UPDATE consent_policy SET body = 'x' WHERE version = 1 "
                    "RETURNING 1) SELECT count(*) FROM u",
                    0, NULL),
        -1);

    th_req("GET", "/v1/consent/policies", NULL, NULL, NULL, &r);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    json_t *v2 = json_array_get(items, 1);
    ck_assert_int_eq(num(v2, "version"), 2);
    ck_assert_str_eq(str(v2, "title"), "Version two");
    sha256_hex(str(v2, "body"), strlen(str(v2, "body")), digest);
    ck_assert_str_eq(str(v2, "sha256"), digest);
    th_resp_free(&r);

    /* New grants bind to version 2; the existing one keeps 1, also when changed; a grant may name
     * an older published version. */
    char new_gid[37];
    post("/v1/me/consents", token, issue_body, &r);
    th_assert_status(&r, 201);
    ck_assert_int_eq(num(r.json, "policy_version"), 2);
    check_receipt(r.json, id, "granted");
    snprintf(new_gid, sizeof(new_gid), "%s", str(r.json, "id"));
    th_resp_free(&r);
    path_of(path, sizeof(path), "/v1/me/consents/%s", old_gid);
    th_req("PATCH", path, token, "{\"categories\":[\"goals\"]}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_int_eq(num(r.json, "policy_version"), 1);
    check_receipt(r.json, id, "changed");
    th_resp_free(&r);
    th_req("PATCH", path, token, "{\"policy_version\":null}", NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_int_eq(num(r.json, "policy_version"), 2);
    th_resp_free(&r);
    post("/v1/me/consents", token,
         "{\"effect\":\"permit\",\"purpose\":\"community\",\"categories\":[\"goals\"],"
         "\"policy_version\":1}",
         &r);
    th_assert_status(&r, 201);
    ck_assert_int_eq(num(r.json, "policy_version"), 1);
    check_receipt(r.json, id, "granted");
    th_resp_free(&r);
    const char *p[] = {old_gid};
    ck_assert_int_eq(th_sql_long("SELECT policy_version FROM consent_grant WHERE id = $1 AND "
                                 "version = 1",
                                 1, p),
                     1);
}
END_TEST

/* The server log holds no health data and no sanitizer findings. */
START_TEST(server_log_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_nonnull(strstr(log, "\"route\":\"/v1/me/consents\""));
    ck_assert_ptr_null(strstr(log, "multiple_sclerosis"));
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("consent_api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, policies_and_public_key);
    tcase_add_test(tc, grant_from_the_issue);
    tcase_add_test(tc, dates_and_times);
    tcase_add_test(tc, validation);
    tcase_add_test(tc, versions_and_history);
    tcase_add_test(tc, withdrawal);
    tcase_add_test(tc, isolation);
    tcase_add_test(tc, concurrent_changes);
    tcase_add_test(tc, data_uses);
    tcase_add_test(tc, export_history);
    tcase_add_test(tc, new_policy_version);
    tcase_add_test(tc, server_log_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
