/* End-to-end: the database going away and coming back, graceful shutdown, and schema version checks. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(database_down_then_back)
{
    char token[64], ct[80];
    struct th_resp r;
    th_account("member", token, NULL);
    th_req("GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);

    th_pg_stop();
    double t0 = now_s();
    th_req("GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 503);
    ck_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)), "application/problem+json");
    th_resp_free(&r);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    th_assert_status(&r, 503);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "status")), 503);
    th_resp_free(&r);
    /* Bounded: both answered well within the connect timeout budget. */
    ck_assert_msg(now_s() - t0 < 10.0, "503s took %.1f s", now_s() - t0);
    th_req("GET", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);

    th_pg_start();
    long st = 0;
    for (int i = 0; i < 100 && st != 200; i++) {
        th_req("GET", "/readyz", NULL, NULL, NULL, &r);
        st = r.status;
        th_resp_free(&r);
        if (st != 200)
            usleep(200000);
    }
    ck_assert_int_eq(st, 200);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}
END_TEST

START_TEST(sigterm_exits_cleanly_and_schema_guard)
{
    struct th_resp r;
    ck_assert_int_eq(th_server_term(), 0);
    /* A database newer than the server knows: refuse to start. */
    ck_assert_int_eq(th_sql_long("WITH i AS (INSERT INTO schema_migrations (version, name) VALUES (9999, "
                                 "'9999_future.sql') RETURNING 1) SELECT count(*) FROM i",
                                 0, NULL),
                     1);
    ck_assert_int_ne(th_server_try_start(NULL), 0);
    char *log = th_server_log();
    ck_assert_ptr_nonnull(strstr(log, "newer than this server knows"));
    free(log);
    ck_assert_int_eq(th_sql_long("WITH d AS (DELETE FROM schema_migrations WHERE version = 9999 RETURNING 1) "
                                 "SELECT count(*) FROM d",
                                 0, NULL),
                     1);
    ck_assert_int_eq(th_server_try_start(NULL), 0);
    th_req("GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}
END_TEST

START_TEST(service_role_owns_nothing)
{
    /* The service's role is not the owner of any table and cannot create objects. */
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                                 "AND tableowner = 'carecommons'",
                                 0, NULL),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                                 "AND tableowner = 'cc_owner'",
                                 0, NULL),
                     th_sql_long("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", 0, NULL));
    ck_assert_int_eq(th_sql_long("SELECT has_schema_privilege('carecommons', 'public', 'CREATE')::int", 0, NULL), 0);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("resilience");
    TCase *tc = tcase_create("resilience");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, database_down_then_back);
    tcase_add_test(tc, service_role_owns_nothing);
    suite_add_tcase(s, tc);
    /* Stops and restarts the server, so it runs in the parent process, last. */
    TCase *tc2 = tcase_create("lifecycle");
    tcase_set_timeout(tc2, 180);
    tcase_add_test(tc2, sigterm_exits_cleanly_and_schema_guard);
    suite_add_tcase(s, tc2);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
