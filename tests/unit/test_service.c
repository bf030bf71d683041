/* Unit tests of the service's pure parts: routing, problem details, configuration, validation,
 * password hashing and tokens. */
#include "auth.h"
#include "config.h"
#include "router.h"
#include "svc.h"
#include "validate.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void h_dummy(struct svc_req *req, struct svc_resp *resp)
{
}

static const struct svc_route table[] = {
    {"GET", "/v1/me", h_dummy, 0, 0, 0},
    {"GET", "/v1/me/consents/history", h_dummy, 0, 0, 0},
    {"GET", "/v1/me/consents/{id}", h_dummy, 0, 0, 0},
    {"PATCH", "/v1/me/consents/{id}", h_dummy, 0, 0, 0},
    {"POST", "/v1/me/medications/{id}/doses", h_dummy, 0, 0, 0},
    {"PATCH", "/v1/me/medications/{id}/doses/{id}", h_dummy, 0, 0, 0},
    {"GET", "/", h_dummy, 0, 0, 0},
};
#define NT (sizeof(table) / sizeof(table[0]))

static enum svc_match match(const char *method, const char *path, const struct svc_route **r,
                            char **p, int *np, char *allow)
{
    return svc_route_match(table, NT, method, path, r, p, np, allow, 64);
}

START_TEST(route_literal_and_params)
{
    const struct svc_route *r = NULL;
    char *p[SVC_MAX_PARAMS], allow[64];
    int np;
    ck_assert_int_eq(match("GET", "/v1/me", &r, p, &np, allow), SVC_MATCH_OK);
    ck_assert_ptr_eq(r, &table[0]);
    ck_assert_int_eq(np, 0);
    ck_assert_int_eq(match("GET", "/v1/me/consents/history", &r, p, &np, allow), SVC_MATCH_OK);
    ck_assert_ptr_eq(r, &table[1]);
    ck_assert_int_eq(match("GET", "/v1/me/consents/abc", &r, p, &np, allow), SVC_MATCH_OK);
    ck_assert_ptr_eq(r, &table[2]);
    ck_assert_int_eq(np, 1);
    ck_assert_str_eq(p[0], "abc");
    free(p[0]);
    ck_assert_int_eq(match("PATCH", "/v1/me/medications/m1/doses/d2", &r, p, &np, allow),
                     SVC_MATCH_OK);
    ck_assert_ptr_eq(r, &table[5]);
    ck_assert_int_eq(np, 2);
    ck_assert_str_eq(p[0], "m1");
    ck_assert_str_eq(p[1], "d2");
    free(p[0]);
    free(p[1]);
    ck_assert_int_eq(match("GET", "/", &r, p, &np, allow), SVC_MATCH_OK);
    ck_assert_ptr_eq(r, &table[6]);
}
END_TEST

START_TEST(route_not_found_and_method)
{
    const struct svc_route *r = NULL;
    char *p[SVC_MAX_PARAMS], allow[64];
    int np;
    ck_assert_int_eq(match("GET", "/v1/nothing", &r, p, &np, allow), SVC_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "/v1/me/", &r, p, &np, allow), SVC_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "/v1//me", &r, p, &np, allow), SVC_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "v1/me", &r, p, &np, allow), SVC_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "/v1/me/medications/x/doses/y/z", &r, p, &np, allow),
                     SVC_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("DELETE", "/v1/me", &r, p, &np, allow), SVC_MATCH_METHOD);
    ck_assert_str_eq(allow, "GET");
    ck_assert_int_eq(match("DELETE", "/v1/me/consents/x", &r, p, &np, allow), SVC_MATCH_METHOD);
    ck_assert_str_eq(allow, "GET, PATCH");
    char longpath[2000];
    memset(longpath, 'a', sizeof(longpath));
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_int_eq(match("GET", longpath, &r, p, &np, allow), SVC_MATCH_NOT_FOUND);
}
END_TEST

START_TEST(route_table_is_unambiguous)
{
    /* No two rows of the real table have the same method and pattern. */
    for (size_t i = 0; i < svc_nroutes; i++)
        for (size_t j = i + 1; j < svc_nroutes; j++)
            ck_assert_msg(strcmp(svc_routes[i].method, svc_routes[j].method) ||
                              strcmp(svc_routes[i].pattern, svc_routes[j].pattern),
                          "duplicate route %s %s", svc_routes[i].method, svc_routes[i].pattern);
}
END_TEST

START_TEST(problem_builder)
{
    struct svc_resp resp = {0};
    svc_problem(&resp, 422, "bad things",
                json_pack("[{s:s,s:s}]", "field", "email", "message", "is required"));
    ck_assert_int_eq(resp.status, 422);
    ck_assert_str_eq(resp.content_type, "application/problem+json");
    ck_assert_str_eq(json_string_value(json_object_get(resp.body, "title")),
                     "Unprocessable Content");
    ck_assert_int_eq(json_integer_value(json_object_get(resp.body, "status")), 422);
    ck_assert_str_eq(json_string_value(json_object_get(resp.body, "detail")), "bad things");
    ck_assert_str_eq(json_string_value(json_object_get(resp.body, "type")),
                     "https://carecommons.example/problems/422");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(resp.body, "errors"), 0), "field")),
                     "email");
    svc_problem_field(&resp, 409, "email", "taken");
    ck_assert_int_eq(resp.status, 409);
    ck_assert_str_eq(json_string_value(json_object_get(resp.body, "detail")), "email: taken");
    svc_problem(&resp, 404, NULL, NULL);
    ck_assert_ptr_null(json_object_get(resp.body, "errors"));
    ck_assert_str_eq(json_string_value(json_object_get(resp.body, "detail")), "Not Found");
    json_decref(resp.body);
}
END_TEST

START_TEST(config_defaults_env_flags)
{
    char *argv[] = {"carecommons", "--pool-size", "7",   "--listen=0.0.0.0:9",
                    "--threads",   "3",           "rest"};
    int argi = 1;
    setenv("CARECOMMONS_DATABASE_URL", "postgresql:///x", 1);
    setenv("CARECOMMONS_THREADS", "5", 1);
    unsetenv("CARECOMMONS_MIGRATE_DATABASE_URL");
    ck_assert_int_eq(svc_config_load(7, argv, &argi), 0); /* stops at the non-flag "rest" */
    ck_assert_int_eq(argi, 6);
    ck_assert_int_eq(svc_cfg.pool_size, 7);
    ck_assert_int_eq(svc_cfg.threads, 3);
    ck_assert_str_eq(svc_cfg.listen, "0.0.0.0:9");
    ck_assert_str_eq(svc_cfg.database_url, "postgresql:///x");
    ck_assert_int_eq(svc_cfg.token_ttl, 86400);
    ck_assert_int_eq(svc_cfg.max_body, 1048576);
    char host[64];
    int port;
    ck_assert_int_eq(svc_config_listen(host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "0.0.0.0");
    ck_assert_int_eq(port, 9);
    char *bad[] = {"carecommons", "--pool-size", "0"};
    argi = 1;
    ck_assert_int_eq(svc_config_load(3, bad, &argi), -1);
    char *bad2[] = {"carecommons", "--password-iterations", "1000"};
    argi = 1;
    ck_assert_int_eq(svc_config_load(3, bad2, &argi), -1);
    char *unknown[] = {"carecommons", "--no-such-option", "1"};
    argi = 1;
    ck_assert_int_eq(svc_config_load(3, unknown, &argi), 1);
    setenv("CARECOMMONS_THREADS", "many", 1);
    argi = 1;
    ck_assert_int_eq(svc_config_load(1, argv, &argi), -1);
    unsetenv("CARECOMMONS_THREADS");
    argi = 1;
    ck_assert_int_eq(svc_config_load(1, argv, &argi), 0);
    ck_assert_str_eq(svc_cfg.migrate_database_url, "postgresql:///x");
    svc_config_free();
}
END_TEST

static const unsigned char rfc7914_1[64] = {
    0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05,
    0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc,
    0x49, 0xca, 0x9c, 0xcc, 0xf1, 0x79, 0xb6, 0x45, 0x99, 0x16, 0x64, 0xb3, 0x9d, 0x77, 0xef, 0x31,
    0x7c, 0x71, 0xb8, 0x45, 0xb1, 0xe3, 0x0b, 0xd5, 0x09, 0x11, 0x20, 0x41, 0xd3, 0xa1, 0x97, 0x83};
static const unsigned char rfc7914_2[64] = {
    0x4d, 0xdc, 0xd8, 0xf6, 0x0b, 0x98, 0xbe, 0x21, 0x83, 0x0c, 0xee, 0x5e, 0xf2, 0x27, 0x01, 0xf9,
    0x64, 0x1a, 0x44, 0x18, 0xd0, 0x4c, 0x04, 0x14, 0xae, 0xff, 0x08, 0x87, 0x6b, 0x34, 0xab, 0x56,
    0xa1, 0xd4, 0x25, 0xa1, 0x22, 0x58, 0x33, 0x54, 0x9a, 0xdb, 0x84, 0x1b, 0x51, 0xc9, 0xb3, 0x17,
    0x6a, 0x27, 0x2b, 0xde, 0xbb, 0xa1, 0xd0, 0x78, 0x47, 0x8f, 0x62, 0xb3, 0x97, 0xf3, 0x3c, 0x8d};

START_TEST(pbkdf2_known_vectors)
{
    /* RFC 7914 section 11: PBKDF2-HMAC-SHA256 test vectors. */
    unsigned char key[64];
    ck_assert_int_eq(svc_pbkdf2_sha256("passwd", (const unsigned char *)"salt", 4, 1, key, 64), 0);
    ck_assert_mem_eq(key, rfc7914_1, 64);
    ck_assert_int_eq(
        svc_pbkdf2_sha256("Password", (const unsigned char *)"NaCl", 4, 80000, key, 64), 0);
    ck_assert_mem_eq(key, rfc7914_2, 64);
}
END_TEST

START_TEST(password_hash_verify)
{
    char h1[SVC_HASH_MAX], h2[SVC_HASH_MAX];
    bool rehash = true;
    ck_assert_int_eq(svc_password_hash("correct horse", 600000, h1), 0);
    ck_assert_int_eq(svc_password_hash("correct horse", 600000, h2), 0);
    ck_assert_str_ne(h1, h2); /* random salt */
    ck_assert_int_eq(strncmp(h1, "pbkdf2-sha256$600000$", 21), 0);
    ck_assert_int_eq(svc_password_verify("correct horse", h1, 600000, &rehash), 1);
    ck_assert(!rehash);
    ck_assert_int_eq(svc_password_verify("correct horsE", h1, 600000, &rehash), 0);
    ck_assert_int_eq(svc_password_verify("correct horse", h1, 700000, &rehash), 1);
    ck_assert(rehash); /* stored parameters below the configured ones */
    ck_assert_int_eq(svc_password_verify("x", "pbkdf2-sha256$600000$zz$00", 600000, &rehash), -1);
    ck_assert_int_eq(svc_password_verify("x", "md5$abc", 600000, &rehash), -1);
}
END_TEST

START_TEST(tokens)
{
    char a[SVC_TOKEN_LEN + 1], b[SVC_TOKEN_LEN + 1], ha[65];
    ck_assert_int_eq(svc_token_new(a), 0);
    ck_assert_int_eq(svc_token_new(b), 0);
    ck_assert_uint_eq(strlen(a), 43);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      43);
    svc_sha256_hex("abc", 3, ha);
    ck_assert_str_eq(ha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

/* Version 4 uuids from the per-thread buffer: the form, the version and variant bits, and no
 * repeats across many refills of the buffer (1,024 bytes, 64 uuids). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

START_TEST(uuids)
{
    enum { N = 5000 };
    static char ids[N][37];
    int variants[4] = {0};
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(svc_uuid4(ids[i]), 0);
        ck_assert_int_eq((int)strlen(ids[i]), 36);
        ck_assert(svc_is_uuid(ids[i]));
        ck_assert_int_eq(ids[i][14], '4');
        static const char variant[] = "89ab";
        const char *v = strchr(variant, ids[i][19]);
        ck_assert(v && *v);
        variants[v - variant]++;
        for (const char *c = ids[i]; *c; c++)
            ck_assert(*c == '-' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'));
    }
    /* The two random variant bits are not stuck. */
    for (int k = 0; k < 4; k++)
        ck_assert_int_gt(variants[k], N / 8);
    qsort(ids, N, sizeof(ids[0]), cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
}
END_TEST

START_TEST(validation)
{
    struct svc_v v;
    json_error_t e;
    json_t *o =
        json_loads("{\"s\":\"abc\",\"n\":5,\"b\":true,\"d\":\"2024-02-29\",\"bad\":\"2023-02-29\","
                   "\"t\":\"2026-11-21T08:30:00+01:00\",\"z\":null,\"e\":\"mild\"}",
                   0, &e);
    const char *s;
    long long n;
    bool b;
    char d[11], t[40];
    int64_t epoch;
    int idx;
    static const char *const allowed[] = {"s", "n", "b", "d", "t", "z", "e", NULL};
    static const char *const labels[] = {"none", "mild", NULL};
    svc_v_init(&v, "items[2]");
    ck_assert_int_eq(svc_v_only(&v, o, allowed), 1);
    ck_assert_int_eq(svc_v_str(&v, o, "s", true, 1, 10, &s), SVC_V_OK);
    ck_assert_int_eq(svc_v_str(&v, o, "s", true, 5, 10, &s), SVC_V_BAD);
    ck_assert_int_eq(svc_v_int(&v, o, "n", true, 0, 10, &n), SVC_V_OK);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(svc_v_int(&v, o, "s", true, 0, 10, &n), SVC_V_BAD);
    ck_assert_int_eq(svc_v_bool(&v, o, "b", true, &b), SVC_V_OK);
    ck_assert_int_eq(svc_v_date(&v, o, "d", true, d), SVC_V_OK);
    ck_assert_int_eq(svc_v_date(&v, o, "bad", true, d), SVC_V_BAD);
    ck_assert_int_eq(svc_v_time(&v, o, "t", true, &epoch, t), SVC_V_OK);
    ck_assert_int_eq(epoch, 1795246200); /* 2026-11-21T07:30:00Z */
    ck_assert_int_eq(svc_v_str(&v, o, "z", false, 0, 10, &s), SVC_V_NULL);
    ck_assert_int_eq(svc_v_str(&v, o, "missing", false, 0, 10, &s), SVC_V_ABSENT);
    ck_assert_int_eq(svc_v_str(&v, o, "missing", true, 0, 10, &s), SVC_V_BAD);
    ck_assert_int_eq(svc_v_enum(&v, o, "e", true, labels, &idx), SVC_V_OK);
    ck_assert_int_eq(idx, 1);
    ck_assert_int_eq(svc_v_enum(&v, o, "s", true, labels, &idx), SVC_V_BAD);
    ck_assert(svc_v_failed(&v));
    ck_assert_uint_eq(json_array_size(v.errors), 6);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 0), "field")),
                     "items[2].bad");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 5), "message")),
                     "must be one of: none, mild");
    svc_v_free(&v);
    json_decref(o);
    ck_assert_int_eq(svc_parse_time("2026-11-21T08:30:00Z", &epoch), 0);
    ck_assert_int_eq(svc_parse_time("2026-11-21T08:30:00", &epoch), -1); /* no offset */
    ck_assert_int_eq(svc_parse_time("2026-11-21 08:30:00Z", &epoch), -1);
    ck_assert_int_eq(svc_parse_time("2020-01-01T10:00:00+", &epoch), -1);
    ck_assert_int_eq(svc_parse_time("2020-01-01T10:00:00+01", &epoch), -1);
    ck_assert_int_eq(svc_parse_time("2020-01-01T10:00:00+01:00x", &epoch), -1);
    ck_assert_int_eq(svc_parse_time("2026-11-21T08:30:00.123-05:30", &epoch), 0);
    ck_assert_int_eq(epoch, 1795246200 + 3600 + 5 * 3600 + 1800);
    /* Query-string times: absent is fine, upper-cased, 1900..2199, offsets up to 14:00. */
    svc_v_init(&v, NULL);
    ck_assert(svc_v_time_arg(&v, "from", NULL, t, &epoch));
    ck_assert_str_eq(t, "");
    ck_assert(svc_v_time_arg(&v, "from", "2026-11-21t08:30:00z", t, &epoch));
    ck_assert_str_eq(t, "2026-11-21T08:30:00Z");
    ck_assert_int_eq(epoch, 1795249800);
    ck_assert(svc_v_time_arg(&v, "to", "2026-11-21T08:30:00+14:00", t, &epoch));
    ck_assert(!svc_v_failed(&v));
    ck_assert(!svc_v_time_arg(&v, "to", "2026-11-21T08:30:00+14:30", t, &epoch));
    ck_assert(!svc_v_time_arg(&v, "to", "1899-12-31T23:59:59Z", t, &epoch));
    ck_assert(!svc_v_time_arg(&v, "from", "2026-11-21T08:30:00 01:00", t, &epoch));
    ck_assert_uint_eq(json_array_size(v.errors), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 2), "field")),
                     "from");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_array_get(v.errors, 2), "message")), "%2B"));
    svc_v_free(&v);
    ck_assert(svc_is_uuid("6544fd1f-13ec-40df-a507-0ad98aca75c8"));
    ck_assert(!svc_is_uuid("6544fd1f-13ec-40df-a507-0ad98aca75c"));
    ck_assert(!svc_is_uuid("6544fd1f-13ec-40df-a507_0ad98aca75c8"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, route_literal_and_params);
    tcase_add_test(tc, route_not_found_and_method);
    tcase_add_test(tc, route_table_is_unambiguous);
    tcase_add_test(tc, problem_builder);
    tcase_add_test(tc, config_defaults_env_flags);
    tcase_add_test(tc, pbkdf2_known_vectors);
    tcase_add_test(tc, password_hash_verify);
    tcase_add_test(tc, tokens);
    tcase_add_test(tc, uuids);
    tcase_add_test(tc, validation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
