#include "harness.h"
#include "auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_PASSWORD TH_PASSWORD

static struct {
    pid_t owner;
    pid_t server;
    int pg_port, http_port;
    char dir[256];
    char base[64];
    char app_url[512], owner_url[512], super_url[512];
    char password_hash[SVC_HASH_MAX];
    const char *const *env;
    bool started;
} th;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    /* Check's summary line, so the failure is counted. */
    printf("0%%: Checks: 1, Failures: 0, Errors: 1\n");
    fflush(stdout);
    th_stop();
    _exit(1);
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static void pg_up(void)
{
    char cmd[1024], line[1024];
    snprintf(cmd, sizeof(cmd), "CC_PG_FSYNC=off %s/scripts/pg.sh up %s/pg %d", CC_SOURCE_DIR,
             th.dir, th.pg_port);
    FILE *p = popen(cmd, "r");
    if (!p)
        die("cannot run %s", cmd);
    while (fgets(line, sizeof(line), p)) {
        char *eq = strchr(line, '=');
        if (!eq || eq[1] != '\'')
            continue;
        *eq = '\0';
        char *val = eq + 2;
        val[strcspn(val, "'")] = '\0';
        if (strcmp(line, "CARECOMMONS_DATABASE_URL") == 0)
            snprintf(th.app_url, sizeof(th.app_url), "%s", val);
        else if (strcmp(line, "CARECOMMONS_MIGRATE_DATABASE_URL") == 0)
            snprintf(th.owner_url, sizeof(th.owner_url), "%s", val);
        else if (strcmp(line, "CC_PG_SUPERUSER_URL") == 0)
            snprintf(th.super_url, sizeof(th.super_url), "%s", val);
    }
    if (pclose(p) != 0 || !th.app_url[0])
        die("PostgreSQL did not start (see %s/pg/postgres.log)", th.dir);
}

static long get_status(const char *path)
{
    struct th_resp r;
    long st = th_req("GET", path, NULL, NULL, NULL, &r);
    th_resp_free(&r);
    return st;
}

/* Start the server; 0 when it answers /healthz, -1 when it exited (its status in *exit_status). */
static int server_try_up(const char *const *extra_env, int *exit_status)
{
    char listen[64], key[300], log[300];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", th.http_port);
    snprintf(key, sizeof(key), "%s/receipt-key.pem", th.dir);
    snprintf(log, sizeof(log), "%s/server.log", th.dir);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        setenv("CARECOMMONS_DATABASE_URL", th.app_url, 1);
        setenv("CARECOMMONS_MIGRATE_DATABASE_URL", th.owner_url, 1);
        setenv("CARECOMMONS_LISTEN", listen, 1);
        setenv("CARECOMMONS_KEY_FILE", key, 1);
        setenv("CARECOMMONS_PUBLIC_URL", th.base, 1);
        for (const char *const *e = extra_env; e && *e; e++)
            putenv((char *)*e);
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        execl(CC_SERVER_BIN, "carecommons", "serve", (char *)NULL);
        _exit(127);
    }
    th.server = pid;
    for (int i = 0; i < 300; i++) {
        if (get_status("/healthz") == 200)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            th.server = 0;
            *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return -1;
        }
        usleep(100000);
    }
    die("the server did not answer /healthz within 30 s");
    return -1;
}

static void server_up(const char *const *extra_env)
{
    int st;
    if (server_try_up(extra_env, &st) < 0) {
        char *l = th_server_log();
        die("the server exited (%d) during start-up; its log:\n%s", st, l ? l : "");
    }
}

int th_server_try_start(const char *const *extra_env)
{
    int st = 0;
    return server_try_up(extra_env ? extra_env : th.env, &st) < 0 ? st : 0;
}

int th_server_pid(void)
{
    return th.server > 0 ? (int)th.server : 0;
}

int th_server_term(void)
{
    int st = 0;
    if (th.server <= 0)
        return -1;
    kill(th.server, SIGTERM);
    if (waitpid(th.server, &st, 0) != th.server)
        return -1;
    th.server = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void server_down(void)
{
    if (th.server <= 0)
        return;
    kill(th.server, SIGTERM);
    for (int i = 0; i < 150; i++) {
        if (waitpid(th.server, NULL, WNOHANG) == th.server) {
            th.server = 0;
            return;
        }
        usleep(100000);
    }
    kill(th.server, SIGKILL);
    waitpid(th.server, NULL, 0);
    th.server = 0;
}

static void at_exit(void)
{
    if (getpid() == th.owner)
        th_stop();
}

void th_start(const char *const *extra_env)
{
    if (th.started)
        return;
    th.owner = getpid();
    th.env = extra_env;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(th.dir, sizeof(th.dir), "/tmp/cc-test-XXXXXX");
    if (!mkdtemp(th.dir))
        die("mkdtemp: %s", strerror(errno));
    chmod(th.dir, 0755);
    th.pg_port = free_port();
    th.http_port = free_port();
    snprintf(th.base, sizeof(th.base), "http://127.0.0.1:%d", th.http_port);
    th.started = true;
    atexit(at_exit);
    pg_up();
    if (svc_password_hash(TEST_PASSWORD, 600000, th.password_hash) < 0)
        die("cannot hash the test password");
    server_up(extra_env);
}

/* Sanitizer reports the server wrote (it runs sanitized under `make asan`). */
static bool sanitizer_findings(void)
{
    char *log = th_server_log();
    const char *hit = NULL;
    static const char *const marks[] = {"AddressSanitizer", "LeakSanitizer",
                                        "runtime error:", "UndefinedBehaviorSanitizer"};
    for (size_t i = 0; log && !hit && i < sizeof(marks) / sizeof(marks[0]); i++)
        hit = strstr(log, marks[i]);
    if (hit)
        fprintf(stderr, "harness: sanitizer findings in the server log:\n%.4000s\n", hit);
    free(log);
    return hit != NULL;
}

void th_stop(void)
{
    char cmd[600];
    if (!th.started || getpid() != th.owner)
        return;
    th.started = false;
    server_down();
    bool findings = sanitizer_findings();
    snprintf(cmd, sizeof(cmd), "%s/scripts/pg.sh stop %s/pg >/dev/null 2>&1", CC_SOURCE_DIR,
             th.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: stopping PostgreSQL failed\n");
    if (!getenv("CC_KEEP_TMP")) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", th.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", th.dir);
    }
    if (findings) {
        printf("0%%: Checks: 1, Failures: 1, Errors: 0\n");
        fflush(stdout);
        _exit(1);
    }
}

void th_pg_stop(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "%s/scripts/pg.sh stop %s/pg >/dev/null", CC_SOURCE_DIR, th.dir);
    ck_assert_int_eq(system(cmd), 0);
}

void th_pg_start(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "CC_PG_FSYNC=off %s/scripts/pg.sh start %s/pg %d >/dev/null",
             CC_SOURCE_DIR, th.dir, th.pg_port);
    ck_assert_int_eq(system(cmd), 0);
}

void th_server_restart(const char *const *extra_env)
{
    server_down();
    server_up(extra_env ? extra_env : th.env);
}

int th_cli(const char *args, const char *stdin_text, char *out, size_t len)
{
    char input[300], cmd[4096];
    snprintf(input, sizeof(input), "%s/cli-stdin", th.dir);
    FILE *f = fopen(input, "w");
    if (!f)
        return -1;
    fputs(stdin_text ? stdin_text : "", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "CARECOMMONS_DATABASE_URL='%s' CARECOMMONS_MIGRATE_DATABASE_URL='%s' %s %s <%s "
             "2>>%s/cli.log",
             th.app_url, th.owner_url, CC_SERVER_BIN, args, input, th.dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t got = out && len ? fread(out, 1, len - 1, p) : 0;
    if (out && len)
        out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *th_base_url(void)
{
    return th.base;
}

const char *th_tmpdir(void)
{
    return th.dir;
}

char *th_server_log(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/server.log", th.dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    if (buf)
        buf[got] = '\0';
    fclose(f);
    return buf;
}

struct sink {
    char *buf;
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct sink *s = userp;
    size_t add = size * n;
    char *b = realloc(s->buf, s->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + s->len, data, add);
    s->buf = b;
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    struct th_resp *r = userp;
    size_t add = size * n, used = strlen(r->headers);
    if (used + add + 1 < sizeof(r->headers)) {
        memcpy(r->headers + used, data, add);
        r->headers[used + add] = '\0';
    }
    return add;
}

static long request(const char *method, const char *path, const char *token, const char *body,
                    size_t len, const char *const *extra, struct th_resp *out)
{
    char url[2048], auth[256];
    struct sink s = {0};
    struct curl_slist *hdr = NULL;
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "%s%s", th.base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    hdr = curl_slist_append(hdr, "Expect:");
    for (const char *const *e = extra; e && *e; e++)
        hdr = curl_slist_append(hdr, *e);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else
        out->status = -1;
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    out->body = s.buf ? s.buf : strdup("");
    out->len = s.len;
    out->json = s.len ? json_loadb(s.buf, s.len, 0, NULL) : NULL;
    return out->status;
}

long th_req(const char *method, const char *path, const char *token, const char *body,
            const char *const *extra_headers, struct th_resp *out)
{
    return request(method, path, token, body, body ? strlen(body) : 0, extra_headers, out);
}

long th_reqj(const char *method, const char *path, const char *token, json_t *body,
             struct th_resp *out)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    long st = request(method, path, token, s, s ? strlen(s) : 0, NULL, out);
    free(s);
    json_decref(body);
    return st;
}

long th_req_raw(const char *method, const char *path, const char *token, const char *body,
                size_t len, struct th_resp *out)
{
    return request(method, path, token, body, len, NULL, out);
}

void th_resp_free(struct th_resp *r)
{
    if (!r)
        return;
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

const char *th_header(const struct th_resp *r, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            snprintf(buf, len, "%.*s", (int)vl, v);
            return buf;
        }
    }
    return NULL;
}

void th_unique_email(const char *prefix, char *out, size_t len)
{
    static int counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "%s.%d.%d.%ld@example.org", prefix, (int)getpid(), ++counter, ts.tv_nsec);
}

void th_register_login(const char *email, const char *password, char token[64], char id[37])
{
    struct th_resp r;
    json_t *b = json_pack("{s:s, s:s, s:s}", "email", email, "password", password, "display_name",
                          "Test Member");
    th_reqj("POST", "/v1/auth/register", NULL, b, &r);
    th_assert_status(&r, 201);
    if (id)
        snprintf(id, 37, "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s, s:s}", "email", email, "password", password), &r);
    th_assert_status(&r, 200);
    snprintf(token, 64, "%s", json_string_value(json_object_get(r.json, "access_token")));
    th_resp_free(&r);
}

const char *th_owner_url(void)
{
    return th.owner_url;
}

PGconn *th_db(void)
{
    PGconn *c = PQconnectdb(th.super_url);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "superuser connection failed: %s",
                  PQerrorMessage(c));
    return c;
}

long th_sql_long(const char *sql, int nparams, const char *const *params)
{
    PGconn *c = th_db();
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = atol(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "harness: %s\n", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

void th_account(const char *role, char token[64], char id[37])
{
    char email[128], th_hash[65], tok[SVC_TOKEN_LEN + 1];
    th_unique_email(role, email, sizeof(email));
    ck_assert_int_eq(svc_token_new(tok), 0);
    svc_sha256_hex(tok, strlen(tok), th_hash);
    PGconn *c = th_db();
    const char *p[] = {email, role, th.password_hash, th_hash};
    PGresult *r =
        PQexecParams(c,
                     "WITH a AS (INSERT INTO account (email, display_name, role, password_hash) "
                     "VALUES ($1, 'Test ' || $2, $2, $3) RETURNING id) "
                     "INSERT INTO session (token_hash, account_id, expires_at) "
                     "SELECT $4, id, now() + interval '1 day' FROM a RETURNING account_id",
                     4, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "th_account: %s", PQerrorMessage(c));
    if (id)
        snprintf(id, 37, "%s", PQgetvalue(r, 0, 0));
    snprintf(token, 64, "%s", tok);
    PQclear(r);
    PQfinish(c);
}

const char *th_shared_data(void)
{
    static char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/../shared/data", CC_SOURCE_DIR);
    ck_assert_msg(stat(path, &st) == 0 && S_ISDIR(st.st_mode),
                  "reference data not found at %s (the shared/ folder beside the repository)",
                  path);
    return path;
}

json_t *th_json(const char *text)
{
    char *s = strdup(text);
    json_error_t err;
    ck_assert_ptr_nonnull(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, err.text);
    free(s);
    return j;
}

json_t *th_must(long want, const char *method, const char *path, const char *token, json_t *body)
{
    struct th_resp r;
    th_reqj(method, path, token, body, &r);
    th_assert_status(&r, want);
    json_t *j = json_incref(r.json);
    th_resp_free(&r);
    return j;
}
