/* End-to-end: the real server over HTTP against a real PostgreSQL. Accounts, sign-in, the HTTP
 * core's error handling, health, metrics and logs. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static json_t *field_errors(const struct th_resp *r)
{
    return json_object_get(r->json, "errors");
}

static bool names_field(const struct th_resp *r, const char *field)
{
    json_t *e;
    size_t i;
    json_array_foreach(field_errors(r), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
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
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
    ck_assert_ptr_nonnull(json_object_get(r->json, "title"));
    ck_assert_ptr_nonnull(json_object_get(r->json, "type"));
}

START_TEST(register_login_me_logout)
{
    char email[128], token[64], id[37];
    struct th_resp r;
    th_unique_email("Flow", email, sizeof(email));
    th_reqj("POST", "/v1/auth/register", NULL,
            json_pack("{s:s,s:s,s:s}", "email", email, "password", "long enough pw", "display_name",
                      "Ann"),
            &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "member");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "email")), email);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "display_name")), "Ann");
    ck_assert_ptr_null(json_object_get(r.json, "password"));
    ck_assert_ptr_null(json_object_get(r.json, "password_hash"));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);

    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", email, "password", "long enough pw"), &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "token_type")), "Bearer");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "expires_in")), 86400);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "member");
    snprintf(token, sizeof(token), "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    ck_assert_uint_eq(strlen(token), 43);
    th_resp_free(&r);

    /* The token is stored only as its SHA-256. */
    const char *p[] = {token};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM session WHERE token_hash = $1", 1, p), 0);
    ck_assert_int_eq(
        th_sql_long(
            "SELECT count(*) FROM session WHERE token_hash = encode(sha256($1::bytea), 'hex')", 1,
            p),
        1);

    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "email")), email);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "member");
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r.json, "created_at")));
    th_resp_free(&r);

    /* Login is case-insensitive on email. */
    char upper[128];
    snprintf(upper, sizeof(upper), "%s", email);
    upper[0] = 'f';
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", upper, "password", "long enough pw"), &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);

    th_req("POST", "/v1/auth/logout", token, NULL, NULL, &r);
    th_assert_status(&r, 204);
    ck_assert_uint_eq(r.len, 0);
    th_resp_free(&r);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    assert_problem(&r, 401);
    th_resp_free(&r);
}
END_TEST

START_TEST(duplicate_email_and_password_rules)
{
    char email[128], upper[128];
    struct th_resp r;
    th_unique_email("dup", email, sizeof(email));
    th_reqj(
        "POST", "/v1/auth/register", NULL,
        json_pack("{s:s,s:s,s:s}", "email", email, "password", "0123456789", "display_name", "A"),
        &r);
    th_assert_status(&r, 201);
    th_resp_free(&r);
    for (size_t i = 0; email[i]; i++)
        upper[i] = (char)(email[i] >= 'a' && email[i] <= 'z' ? email[i] - 32 : email[i]),
        upper[i + 1] = '\0';
    th_reqj(
        "POST", "/v1/auth/register", NULL,
        json_pack("{s:s,s:s,s:s}", "email", upper, "password", "0123456789", "display_name", "B"),
        &r);
    assert_problem(&r, 409);
    ck_assert(names_field(&r, "email"));
    th_resp_free(&r);

    th_unique_email("short", email, sizeof(email));
    th_reqj(
        "POST", "/v1/auth/register", NULL,
        json_pack("{s:s,s:s,s:s}", "email", email, "password", "012345678", "display_name", "A"),
        &r);
    assert_problem(&r, 422);
    ck_assert(names_field(&r, "password"));
    th_resp_free(&r);
    const char *p[] = {email};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE email = $1", 1, p), 0);

    /* Self-registration only creates members: a role field is refused. */
    th_reqj("POST", "/v1/auth/register", NULL,
            json_pack("{s:s,s:s,s:s,s:s}", "email", email, "password", "0123456789", "display_name",
                      "A", "role", "admin"),
            &r);
    assert_problem(&r, 422);
    ck_assert(names_field(&r, "role"));
    th_resp_free(&r);
}
END_TEST

START_TEST(wrong_password_and_unknown_email_identical)
{
    char email[128], token[64], other[128];
    struct th_resp a, b;
    th_unique_email("ident", email, sizeof(email));
    th_register_login(email, "right password", token, NULL);
    th_unique_email("nobody", other, sizeof(other));
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", email, "password", "wrong password"), &a);
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", other, "password", "wrong password"), &b);
    assert_problem(&a, 401);
    assert_problem(&b, 401);
    ck_assert_str_eq(a.body, b.body);
    th_resp_free(&a);
    th_resp_free(&b);
}
END_TEST

START_TEST(login_throttling)
{
    char email[128], token[64], after[32];
    struct th_resp r;
    th_unique_email("throttle", email, sizeof(email));
    th_register_login(email, "right password", token, NULL);
    for (int i = 0; i < 5; i++) {
        th_reqj("POST", "/v1/auth/login", NULL,
                json_pack("{s:s,s:s}", "email", email, "password", "nope nope"), &r);
        assert_problem(&r, 401);
        th_resp_free(&r);
    }
    /* Even the right password is refused while throttled. */
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", email, "password", "right password"), &r);
    assert_problem(&r, 429);
    ck_assert_ptr_nonnull(th_header(&r, "Retry-After", after, sizeof(after)));
    ck_assert_int_gt(atoi(after), 0);
    ck_assert_int_le(atoi(after), 900);
    th_resp_free(&r);
}
END_TEST

START_TEST(expired_revoked_and_garbled_tokens)
{
    char token[64], id[37], www[256];
    struct th_resp r;
    th_account("member", token, id);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);

    const char *p[] = {id};
    ck_assert_int_eq(
        th_sql_long("WITH u AS (UPDATE session SET expires_at = now() - interval '1 second' "
                    "WHERE account_id = $1 RETURNING 1) SELECT count(*) FROM u",
                    1, p),
        1);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    assert_problem(&r, 401);
    ck_assert_ptr_nonnull(th_header(&r, "WWW-Authenticate", www, sizeof(www)));
    ck_assert_ptr_nonnull(strstr(www, "Bearer"));
    th_resp_free(&r);

    th_account("member", token, id);
    const char *p2[] = {id};
    ck_assert_int_eq(
        th_sql_long("WITH u AS (UPDATE session SET revoked_at = now() WHERE account_id = $1 "
                    "RETURNING 1) SELECT count(*) FROM u",
                    1, p2),
        1);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    assert_problem(&r, 401);
    th_resp_free(&r);

    th_req("GET", "/v1/me", NULL, NULL, NULL, &r);
    assert_problem(&r, 401);
    ck_assert_ptr_nonnull(th_header(&r, "WWW-Authenticate", www, sizeof(www)));
    ck_assert_str_eq(www, "Bearer realm=\"carecommons\"");
    th_resp_free(&r);
    static const char *const garbled[][2] = {
        {"Authorization: Basic dXNlcjpwYXNz", ""},
        {"Authorization: Bearer", ""},
        {"Authorization: Bearer short", ""},
        {"Authorization: Bearer ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ", ""},
        {"Authorization: bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""}};
    for (size_t i = 0; i < sizeof(garbled) / sizeof(garbled[0]); i++) {
        const char *h[] = {garbled[i][0], NULL};
        th_req("GET", "/v1/me", NULL, NULL, h, &r);
        assert_problem(&r, 401);
        th_resp_free(&r);
    }
}
END_TEST

START_TEST(roles_and_admin_accounts)
{
    char admin[64], member[64], email[128];
    struct th_resp r;
    th_account("admin", admin, NULL);
    th_account("member", member, NULL);
    th_unique_email("researcher", email, sizeof(email));
    th_reqj("POST", "/v1/admin/accounts", member,
            json_pack("{s:s,s:s,s:s,s:s}", "email", email, "password", "0123456789ab",
                      "display_name", "R", "role", "researcher"),
            &r);
    assert_problem(&r, 403);
    th_resp_free(&r);
    th_reqj("POST", "/v1/admin/accounts", admin,
            json_pack("{s:s,s:s,s:s,s:s}", "email", email, "password", "0123456789ab",
                      "display_name", "R", "role", "member"),
            &r);
    assert_problem(&r, 422);
    ck_assert(names_field(&r, "role"));
    th_resp_free(&r);
    th_reqj("POST", "/v1/admin/accounts", admin,
            json_pack("{s:s,s:s,s:s,s:s}", "email", email, "password", "0123456789ab",
                      "display_name", "R", "role", "researcher"),
            &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "researcher");
    th_resp_free(&r);
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", email, "password", "0123456789ab"), &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "researcher");
    th_resp_free(&r);
}
END_TEST

START_TEST(admin_cli_creates_privileged_accounts)
{
    char email[128], args[256], out[128];
    struct th_resp r;
    th_unique_email("first.admin", email, sizeof(email));
    snprintf(args, sizeof(args), "admin create --email %s --role admin", email);
    ck_assert_int_eq(th_cli(args, "a very long admin password\n", out, sizeof(out)), 0);
    out[strcspn(out, "\n")] = '\0';
    ck_assert_uint_eq(strlen(out), 36); /* the new account's id */
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s,s:s}", "email", email, "password", "a very long admin password"), &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "admin");
    th_resp_free(&r);
    /* Members are never made here; short passwords and unknown roles are refused. */
    th_unique_email("cli.member", email, sizeof(email));
    snprintf(args, sizeof(args), "admin create --email %s --role member", email);
    ck_assert_int_eq(th_cli(args, "a very long password\n", out, sizeof(out)), 2);
    snprintf(args, sizeof(args), "admin create --email %s --role researcher", email);
    ck_assert_int_eq(th_cli(args, "short\n", out, sizeof(out)), 2);
    const char *p[] = {email};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE email = $1", 1, p), 0);
}
END_TEST

START_TEST(malformed_bodies)
{
    struct th_resp r;
    static const char *const bad[] = {
        "{",                                           /* truncated */
        "{\"email\":\"a@b.co\",\"email\":\"c@d.co\"}", /* duplicate key */
        "{\"email\":\"a@b.co\"} trailing",             /* trailing garbage */
        "[1,2,3]",                                     /* wrong top-level type */
        "\"string\"",
        "{\"email\":\"a\\u0000b@c.de\"}", /* NUL inside a string */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_req("POST", "/v1/auth/register", NULL, bad[i], NULL, &r);
        assert_problem(&r, 400);
        th_resp_free(&r);
    }
    /* Invalid UTF-8. */
    th_req_raw("POST", "/v1/auth/register", NULL, "{\"email\":\"\xff\xfe@x.io\"}", 20, &r);
    assert_problem(&r, 400);
    th_resp_free(&r);
    /* Empty body where one is required. */
    th_req_raw("POST", "/v1/auth/register", NULL, "", 0, &r);
    assert_problem(&r, 400);
    th_resp_free(&r);
    /* Wrong types, missing and unknown fields: 422 naming each. */
    th_req("POST", "/v1/auth/register", NULL,
           "{\"email\":5,\"display_name\":true,\"colour\":\"red\"}", NULL, &r);
    assert_problem(&r, 422);
    ck_assert(names_field(&r, "email"));
    ck_assert(names_field(&r, "password"));
    ck_assert(names_field(&r, "display_name"));
    ck_assert(names_field(&r, "colour"));
    ck_assert_uint_eq(json_array_size(field_errors(&r)), 4);
    th_resp_free(&r);
    th_req("POST", "/v1/auth/register", NULL,
           "{\"email\":\"not-an-email\",\"password\":\"0123456789\",\"display_name\":\"x\"}", NULL,
           &r);
    assert_problem(&r, 422);
    ck_assert(names_field(&r, "email"));
    th_resp_free(&r);
}
END_TEST

START_TEST(oversized_body)
{
    struct th_resp r;
    size_t n = (1 << 20) + 10;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    th_req_raw("POST", "/v1/auth/register", NULL, big, n, &r);
    assert_problem(&r, 413);
    th_resp_free(&r);
    /* Just under the limit is parsed (and then fails validation, not size). */
    big[(1 << 20) - 2] = '}';
    th_req_raw("POST", "/v1/auth/register", NULL, big, (1 << 20) - 1, &r);
    assert_problem(&r, 422);
    th_resp_free(&r);
    free(big);
    /* The server is still fine. */
    th_req("GET", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}
END_TEST

START_TEST(not_found_and_method_not_allowed)
{
    struct th_resp r;
    char allow[64];
    th_req("GET", "/v1/no/such/thing", NULL, NULL, NULL, &r);
    assert_problem(&r, 404);
    th_resp_free(&r);
    th_req("DELETE", "/v1/auth/login", NULL, NULL, NULL, &r);
    assert_problem(&r, 405);
    ck_assert_ptr_nonnull(th_header(&r, "Allow", allow, sizeof(allow)));
    ck_assert_str_eq(allow, "POST");
    th_resp_free(&r);
    th_req("PUT", "/healthz", NULL, NULL, NULL, &r);
    assert_problem(&r, 405);
    ck_assert_str_eq(th_header(&r, "Allow", allow, sizeof(allow)), "GET");
    th_resp_free(&r);
}
END_TEST

START_TEST(health_metrics_request_id)
{
    struct th_resp r;
    char rid[80], ct[80];
    const char *h[] = {"X-Request-Id: my-trace-123", NULL};
    th_req("GET", "/healthz", NULL, NULL, h, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(th_header(&r, "X-Request-Id", rid, sizeof(rid)), "my-trace-123");
    th_resp_free(&r);
    const char *bad[] = {"X-Request-Id: has spaces and \"quotes\"", NULL};
    th_req("GET", "/healthz", NULL, NULL, bad, &r);
    ck_assert_uint_eq(strlen(th_header(&r, "X-Request-Id", rid, sizeof(rid))),
                      32); /* generated instead */
    th_resp_free(&r);
    th_req("GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ready");
    th_resp_free(&r);
    th_req("GET", "/metrics", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)), "text/plain; version=0.0.4");
    ck_assert_ptr_nonnull(strstr(
        r.body,
        "carecommons_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "carecommons_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
    ck_assert_ptr_nonnull(strstr(r.body, "carecommons_db_pool_connections_in_use"));
    th_resp_free(&r);
}
END_TEST

START_TEST(logs_hold_no_secrets)
{
    char email[128], token[64];
    struct th_resp r;
    th_unique_email("secretive", email, sizeof(email));
    th_register_login(email, "my secret password", token, NULL);
    th_req("GET", "/v1/me", token, NULL, NULL, &r);
    th_resp_free(&r);
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_nonnull(strstr(log, "\"route\":\"/v1/auth/login\""));
    ck_assert_ptr_null(strstr(log, email));
    ck_assert_ptr_null(strstr(log, "my secret password"));
    ck_assert_ptr_null(strstr(log, token));
    free(log);
}
END_TEST

#define BURST 8

/* What a handler-pool test holds, released by its teardown also when it fails half-way (these tests
 * run in this process, and a lock left held would block the next). */
static PGconn *held_lock;
static int held_fds[BURST + 4], nheld;

static void raw_close(int fd)
{
    for (int i = 0; i < nheld; i++)
        if (held_fds[i] == fd)
            held_fds[i] = -1;
    close(fd);
}

static void release_held(void)
{
    PQfinish(held_lock); /* ends its transaction and the lock */
    held_lock = NULL;
    for (int i = 0; i < nheld; i++)
        if (held_fds[i] >= 0)
            close(held_fds[i]);
    nheld = 0;
}

/* A keep-alive loopback connection to the server (raw, so that many can wait at once); closed by
 * release_held. */
static int raw_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 30};
    a.sin_port = htons((uint16_t)atoi(strrchr(th_base_url(), ':') + 1));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_lt(nheld, BURST + 4);
    held_fds[nheld++] = fd;
    return fd;
}

static void raw_send(int fd, const char *method, const char *path, const char *token,
                     const char *body)
{
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, token, strlen(body), body);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
}

/* One response from a raw connection: its status; head (status line and headers) and body go to
 * buf. */
static long raw_read(int fd, char *buf, size_t len, const char **body)
{
    size_t got = 0;
    char *end = NULL;
    long want = -1;
    for (;;) {
        buf[got] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            ck_assert_ptr_nonnull(cl);
            want = (long)(end + 4 - buf) + atol(cl + 17);
        }
        if (end && (long)got >= want)
            break;
        ck_assert_uint_lt(got, len - 1);
        ssize_t n = read(fd, buf + got, len - 1 - got);
        ck_assert_msg(n > 0, "read: %zd (errno %d) after %zu bytes", n, errno, got);
        got += (size_t)n;
    }
    ck_assert_int_eq((long)got, want); /* nothing beyond this response */
    *body = end + 4;
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 ", 9), 0);
    return atol(buf + 9);
}

/* Server backends waiting for a lock, polled until there are want of them (at most 15 s). */
static long lock_waiters(long want)
{
    long n = -1;
    for (int i = 0; i < 150 && n != want; i++) {
        if (i)
            usleep(100000);
        n = th_sql_long(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'carecommons' "
            "AND wait_event_type = 'Lock'",
            0, NULL);
    }
    return n;
}

/* A superuser transaction holding member_profile against writes (reads still go through). */
static void lock_profiles(void)
{
    held_lock = th_db();
    PGresult *r = PQexec(held_lock, "BEGIN; LOCK TABLE member_profile IN SHARE ROW EXCLUSIVE MODE");
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "lock: %s", PQerrorMessage(held_lock));
    PQclear(r);
}

static void unlock_profiles(void)
{
    PGresult *r = PQexec(held_lock, "COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(held_lock);
    held_lock = NULL;
}

static const char profile[] = "{\"birth_year\":1980,\"sex_at_birth\":\"female\",\"country\":\"NL\","
                              "\"timezone\":\"Europe/Amsterdam\"}";

/* Poll /metrics until it has the line (at most 15 s). */
static bool metrics_reach(const char *line)
{
    struct th_resp r;
    bool seen = false;
    for (int i = 0; i < 150 && !seen; i++) {
        if (i)
            usleep(100000);
        th_req("GET", "/metrics", NULL, NULL, NULL, &r);
        th_assert_status(&r, 200);
        seen = strstr(r.body, line) != NULL;
        th_resp_free(&r);
    }
    return seen;
}

/* Profiles stored for the account with this token. */
static long profiles_of(const char *token)
{
    const char *p[] = {token};
    return th_sql_long("SELECT count(*) FROM member_profile m JOIN session s ON s.account_id = "
                       "m.member_id WHERE s.token_hash = encode(sha256($1::bytea), 'hex')",
                       1, p);
}

/* One MHD thread and a burst of keep-alive connections whose requests all wait in the database:
 * with handlers on MHD's thread only one would get there at a time; on the handler pool all do.
 * One more client hangs up while its request waits; its answer is dropped and nothing leaks. */
START_TEST(burst_runs_concurrently)
{
    static const char *const env[] = {"CARECOMMONS_THREADS=1", "CARECOMMONS_HANDLER_THREADS=10",
                                      "CARECOMMONS_POOL_SIZE=10", NULL};
    char tokens[BURST + 1][64], buf[8192];
    const char *body;
    int fds[BURST + 1];
    struct th_resp r;
    th_server_restart(env);
    for (int i = 0; i <= BURST; i++)
        th_account("member", tokens[i], NULL);
    lock_profiles();
    for (int i = 0; i <= BURST; i++)
        fds[i] = raw_connect();
    for (int i = 0; i <= BURST; i++)
        raw_send(fds[i], "PUT", "/v1/me/profile", tokens[i], profile);
    ck_assert_int_eq(lock_waiters(BURST + 1), BURST + 1);
    raw_close(fds[BURST]);
    /* Requests that need no database are still answered meanwhile. */
    th_req("GET", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    unlock_profiles();
    for (int i = 0; i < BURST; i++) {
        ck_assert_int_eq(raw_read(fds[i], buf, sizeof(buf), &body), 201);
        ck_assert_ptr_nonnull(strstr(body, "\"country\":\"NL\""));
    }
    /* The same connections carry on after their suspension. */
    for (int i = 0; i < BURST; i++)
        raw_send(fds[i], "PUT", "/v1/me/profile", tokens[i], profile);
    for (int i = 0; i < BURST; i++)
        ck_assert_int_eq(raw_read(fds[i], buf, sizeof(buf), &body), 200);
    /* The request whose client left still ran to its end. */
    ck_assert_int_eq(profiles_of(tokens[BURST]), 1);
    ck_assert(metrics_reach("\ncarecommons_db_pool_connections_in_use 0\n"));
}
END_TEST

/* One handler thread and a queue of two: the fourth concurrent request is refused at once with a
 * 503 problem, and counted. A queued request whose client hangs up is still run, quietly. */
START_TEST(queue_full_answers_503)
{
    static const char *const env[] = {"CARECOMMONS_HANDLER_THREADS=1", "CARECOMMONS_QUEUE_LIMIT=2",
                                      NULL};
    char a_tok[64], b_tok[64], c_tok[64], d_tok[64], buf[8192], after[16];
    const char *body;
    struct th_resp r;
    th_server_restart(env);
    th_account("member", a_tok, NULL);
    th_account("member", b_tok, NULL);
    th_account("member", c_tok, NULL);
    th_account("member", d_tok, NULL);
    lock_profiles();
    int a = raw_connect(), b = raw_connect(), d = raw_connect();
    raw_send(a, "PUT", "/v1/me/profile", a_tok, profile);
    ck_assert_int_eq(lock_waiters(1), 1); /* a runs (and waits) on the handler thread */
    raw_send(b, "PUT", "/v1/me/profile", b_tok, profile);
    raw_send(d, "PUT", "/v1/me/profile", d_tok, profile);
    ck_assert_msg(metrics_reach("\ncarecommons_http_queue_depth 2\n"), "b and d never queued");
    raw_close(d);
    th_reqj("PUT", "/v1/me/profile", c_tok, json_loads(profile, 0, NULL), &r);
    assert_problem(&r, 503);
    ck_assert_ptr_nonnull(th_header(&r, "Retry-After", after, sizeof(after)));
    ck_assert_int_gt(atoi(after), 0);
    th_resp_free(&r);
    th_req("GET", "/metrics", NULL, NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\ncarecommons_http_queue_rejected_total 1\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "route=\"/v1/me/profile\",status=\"503\"} 1\n"));
    th_resp_free(&r);
    unlock_profiles();
    ck_assert_int_eq(raw_read(a, buf, sizeof(buf), &body), 201);
    ck_assert_int_eq(raw_read(b, buf, sizeof(buf), &body), 201);
    ck_assert(metrics_reach("\ncarecommons_http_queue_depth 0\n"));
    ck_assert(metrics_reach("\ncarecommons_db_pool_connections_in_use 0\n"));
    ck_assert_int_eq(profiles_of(c_tok), 0); /* refused: nothing written */
    ck_assert_int_eq(profiles_of(d_tok), 1); /* ran although its client left */
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("foundation");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, register_login_me_logout);
    tcase_add_test(tc, duplicate_email_and_password_rules);
    tcase_add_test(tc, wrong_password_and_unknown_email_identical);
    tcase_add_test(tc, login_throttling);
    tcase_add_test(tc, expired_revoked_and_garbled_tokens);
    tcase_add_test(tc, roles_and_admin_accounts);
    tcase_add_test(tc, admin_cli_creates_privileged_accounts);
    tcase_add_test(tc, malformed_bodies);
    tcase_add_test(tc, oversized_body);
    tcase_add_test(tc, not_found_and_method_not_allowed);
    tcase_add_test(tc, health_metrics_request_id);
    tcase_add_test(tc, logs_hold_no_secrets);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* The handler pool: these restart the server with other settings, so they run in this process,
     * after the rest. */
    Suite *s2 = suite_create("foundation-handlers");
    TCase *tc2 = tcase_create("handler pool");
    tcase_set_timeout(tc2, 120);
    tcase_add_checked_fixture(tc2, NULL, release_held);
    tcase_add_test(tc2, burst_runs_concurrently);
    tcase_add_test(tc2, queue_full_answers_503);
    suite_add_tcase(s2, tc2);
    SRunner *sr2 = srunner_create(s2);
    srunner_set_fork_status(sr2, CK_NOFORK);
    srunner_run_all(sr2, CK_NORMAL);
    failed += srunner_ntests_failed(sr2);
    srunner_free(sr2);
    th_stop();
    return failed ? 1 : 0;
}
