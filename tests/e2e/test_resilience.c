/* End-to-end: the database going away and coming back, graceful shutdown, and schema version
 * checks. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
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
    char email[128], token[64];
    th_unique_email("inflight", email, sizeof(email));
    th_register_login(email, "a long enough password", token, NULL);
    /* A sign-in in flight (PBKDF2 keeps it busy for a while) when SIGTERM arrives still gets its
     * answer, and the server then exits 0. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        struct th_resp lr;
        th_reqj("POST", "/v1/auth/login", NULL,
                json_pack("{s:s,s:s}", "email", email, "password", "a long enough password"), &lr);
        long st = lr.status;
        ssize_t w = write(fds[1], &st, sizeof(st));
        _exit(w == (ssize_t)sizeof(st) ? 0 : 1);
    }
    usleep(100000);
    kill(th_server_pid(), SIGTERM);
    long login_status = 0;
    ck_assert_int_eq(read(fds[0], &login_status, sizeof(login_status)),
                     (ssize_t)sizeof(login_status));
    waitpid(child, NULL, 0);
    ck_assert_int_eq(login_status, 200);
    ck_assert_int_eq(th_server_term(), 0);
    /* A database newer than the server knows: refuse to start. */
    ck_assert_int_eq(
        th_sql_long("WITH i AS (INSERT INTO schema_migrations (version, name) VALUES (9999, "
                    "'9999_future.sql') RETURNING 1) SELECT count(*) FROM i",
                    0, NULL),
        1);
    ck_assert_int_ne(th_server_try_start(NULL), 0);
    char *log = th_server_log();
    ck_assert_ptr_nonnull(strstr(log, "newer than this server knows"));
    free(log);
    ck_assert_int_eq(
        th_sql_long("WITH d AS (DELETE FROM schema_migrations WHERE version = 9999 RETURNING 1) "
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
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tableowner = 'cc_owner'",
                    0, NULL),
        th_sql_long("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", 0, NULL));
    ck_assert_int_eq(
        th_sql_long("SELECT has_schema_privilege('carecommons', 'public', 'CREATE')::int", 0, NULL),
        0);
}
END_TEST

/* A raw loopback connection to the server with a request started but not finished. */
static int open_partial(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *start = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    ck_assert_int_eq(write(fd, start, strlen(start)), (ssize_t)strlen(start));
    return fd;
}

START_TEST(per_ip_connection_limit)
{
    static const char *const env[] = {"CARECOMMONS_MAX_PER_IP=2",
                                      "CARECOMMONS_CONNECTION_TIMEOUT=5", NULL};
    th_server_restart(env);
    int port = atoi(strrchr(th_base_url(), ':') + 1);
    int a = open_partial(port), b = open_partial(port), c = open_partial(port);
    /* The third connection from this address is closed at once: reading gives EOF, not a response.
     */
    char buf[64];
    struct timeval tv = {.tv_sec = 3};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    errno = 0;
    ssize_t got = read(c, buf, sizeof(buf));
    ck_assert_msg(got == 0 || (got < 0 && errno == ECONNRESET),
                  "third connection: read %zd, errno %d", got, errno);
    /* The first two still get their answers. */
    const char *end = "\r\n";
    ck_assert_int_eq(write(a, end, 2), 2);
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = read(a, buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 12);
    buf[n] = '\0';
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200", 12), 0);
    close(a);
    close(b);
    close(c);
    th_server_restart(NULL);
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
    tcase_add_test(tc2, per_ip_connection_limit);
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
