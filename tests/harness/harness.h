/* End-to-end test harness: a throwaway PostgreSQL (scripts/pg.sh in a temp directory, free port),
 * the real carecommons binary on a free port, and an HTTP client (libcurl). Both are torn down at
 * exit, also when tests fail. Check runs each test in a forked child; only the process that started
 * them stops them. */
#ifndef CC_HARNESS_H
#define CC_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* The password of every account th_account creates. */
#define TH_PASSWORD "correct horse battery"

struct th_resp {
    long status;
    char *body; /* owned, NUL-terminated */
    size_t len;
    json_t *json; /* owned; NULL when the body is not JSON */
    char headers[8192];
};

/* Start PostgreSQL and the server once per process (idempotent). Extra environment for the server
 * as "NAME=value" strings, NULL-terminated (may be NULL). Aborts the test run with a message on
 * failure. */
void th_start(const char *const *extra_env);
void th_stop(void);
/* Stop / start only the database (same port and data), or restart the server. */
void th_pg_stop(void);
void th_pg_start(void);
void th_server_restart(const char *const *extra_env);
/* Start a stopped server: 0 when it serves, else its exit status. */
int th_server_try_start(const char *const *extra_env);
/* SIGTERM the server and wait: its exit status. */
int th_server_term(void);
/* The server's process id (0 when it is not running). */
int th_server_pid(void);
const char *th_base_url(void);
/* Run the carecommons binary with the server's database settings: `carecommons <args>` with
 * stdin_text on standard input. Its standard output goes to out (up to len bytes). Returns its exit
 * status. */
int th_cli(const char *args, const char *stdin_text, char *out, size_t len);
const char *th_tmpdir(void);
/* The server's log so far: a new malloc'd string. */
char *th_server_log(void);

/* HTTP. body may be NULL. extra_headers: "Name: value" strings, NULL-terminated, may be NULL. */
long th_req(const char *method, const char *path, const char *token, const char *body,
            const char *const *extra_headers, struct th_resp *out);
/* JSON body (stolen). */
long th_reqj(const char *method, const char *path, const char *token, json_t *body,
             struct th_resp *out);
/* Raw bytes with explicit length (for invalid UTF-8 and oversized bodies). */
long th_req_raw(const char *method, const char *path, const char *token, const char *body,
                size_t len, struct th_resp *out);
void th_resp_free(struct th_resp *r);
/* Header value from a response (copied into buf) or NULL. Case-insensitive name. */
const char *th_header(const struct th_resp *r, const char *name, char *buf, size_t len);

/* Accounts. th_register_login goes through the API; th_account makes one directly in SQL (fast: a
 * precomputed password hash and a session row) and returns the token (static buffer per call slot).
 */
void th_register_login(const char *email, const char *password, char token[64], char id[37]);
void th_account(const char *role, char token[64], char id[37]);
/* Unique email for this process and call. */
void th_unique_email(const char *prefix, char *out, size_t len);

/* The schema owner's connection URL (borrowed; for tools that migrate or bulk-load). */
const char *th_owner_url(void);
/* Superuser connection to the test database (new; PQfinish it). */
PGconn *th_db(void);
/* Run SQL as superuser and return the first column of the first row as an integer (-1 on error). */
long th_sql_long(const char *sql, int nparams, const char *const *params);
/* Path of ../shared/data (fails the test with a message when missing). */
const char *th_shared_data(void);

/* JSON from test text with ' for " (new reference; fails the test on bad JSON). */
json_t *th_json(const char *text);
/* Request with a JSON body (stolen), assert the status, return the response JSON (new reference,
 * NULL when the body was not JSON). */
json_t *th_must(long want, const char *method, const char *path, const char *token, json_t *body);

/* Convenience asserts. */
#define th_assert_status(resp, want)                                                               \
    ck_assert_msg((resp)->status == (long)(want), "status %ld, want %ld; body: %s",                \
                  (resp)->status, (long)(want), (resp)->body ? (resp)->body : "")

#endif
