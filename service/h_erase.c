/* Erasure: DELETE /v1/me {"password": "..."} removes the account and, by ON DELETE CASCADE, every
 * row the member owns. The audit row about it stays (audit_log has no foreign key to account).
 *
 * The route has no SVC_R_TX: a wrong password must leave its throttling mark, which a rolled-back
 * request transaction would undo. The handler opens the one transaction for the audit row and the
 * delete itself. */
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds until key may try again (0: now), or -1 on database failure. Same window and budget as
 * sign-in: a stolen token must not become a password oracle. */
static int erase_throttled(struct db_conn *db, const char *key)
{
    char smax[16], swin[16];
    snprintf(smax, sizeof(smax), "%d", svc_cfg.login_max_failures);
    snprintf(swin, sizeof(swin), "%d", svc_cfg.login_window);
    const char *params[] = {key, smax, swin};
    PGresult *r =
        db_prep(db, "erase_throttle_get",
                "SELECT ceil(extract(epoch FROM window_start + make_interval(secs => $3::int) "
                "- now()))::int FROM auth_throttle WHERE key = $1 AND failures >= $2::int "
                "AND window_start > now() - make_interval(secs => $3::int)",
                3, params);
    if (!r)
        return -1;
    int wait = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return wait > 0 ? wait : 0;
}

static int erase_failure(struct db_conn *db, const char *key)
{
    char swin[16];
    snprintf(swin, sizeof(swin), "%d", svc_cfg.login_window);
    const char *params[] = {key, swin};
    PGresult *r = db_prep(
        db, "erase_throttle_fail",
        "INSERT INTO auth_throttle (key, failures, window_start) VALUES ($1, 1, now()) "
        "ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN auth_throttle.window_start > "
        "now() - make_interval(secs => $2::int) THEN auth_throttle.failures + 1 ELSE 1 END, "
        "window_start = CASE WHEN auth_throttle.window_start > now() - "
        "make_interval(secs => $2::int) THEN auth_throttle.window_start ELSE now() END",
        2, params);
    PQclear(r);
    return r ? 0 : -1;
}

void h_erase_me(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"password", NULL};
    const char *me = req->who.account_id, *password = NULL;
    char erase_key[64], acct_key[80], hash[65];
    struct svc_v v;
    PGresult *r = NULL;
    bool in_tx = false, rehash = false;

    svc_v_init(&v, NULL);
    if (!req->body) {
        svc_v_error(&v, "password", "is required");
    } else {
        svc_v_only(&v, req->body, fields);
        svc_v_str(&v, req->body, "password", true, 1, 1024, &password);
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(erase_key, sizeof(erase_key), "erase:%s", me);
    int wait = erase_throttled(req->db, erase_key);
    if (wait < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (wait > 0) {
        char after[16];
        snprintf(after, sizeof(after), "%d", wait);
        svc_problem(resp, 429, "too many wrong passwords; try again later", NULL);
        svc_header(resp, "Retry-After", after);
        goto out;
    }
    const char *p1[] = {me};
    if (!(r = db_prep(
              req->db, "erase_account_get",
              "SELECT password_hash, email_lower FROM account WHERE id = $1 AND deleted_at IS NULL",
              1, p1))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1) {
        svc_problem(resp, 404, "no such account", NULL);
        goto out;
    }
    if (svc_password_verify(password, PQgetvalue(r, 0, 0), svc_cfg.password_iterations, &rehash) !=
        1) {
        if (erase_failure(req->db, erase_key) < 0)
            svc_problem_db(resp, req->db);
        else
            svc_problem_field(resp, 403, "password", "is not correct");
        goto out;
    }
    /* Sign-in throttling keys the account by its email's hash; that row goes too. */
    svc_sha256_hex(PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)), hash);
    snprintf(acct_key, sizeof(acct_key), "acct:%s", hash);
    PQclear(r);
    r = NULL;

    if (db_cmd(req->db, "BEGIN") < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    in_tx = true;
    /* Lock order: the member's consent lock (taken first by consent changes too), then the audit
     * chain, then the rows; the same order everywhere means no deadlock with a concurrent consent
     * change. */
    const char *plock[] = {me};
    PQclear(r = db_prep(req->db, "erase_member_lock",
                        "SELECT pg_advisory_xact_lock(4004, hashtext($1::uuid::text))", 1, plock));
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    r = NULL;
    /* The audit row first: if it cannot be written, nothing is erased. */
    if (svc_audit(req, "account.erase", "account", me, NULL) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    const char *p2[] = {me, erase_key, acct_key};
    if (!(r = db_prep(req->db, "erase_account_delete",
                      "WITH t AS (DELETE FROM auth_throttle WHERE key IN ($2, $3)) "
                      "DELETE FROM account WHERE id = $1",
                      3, p2))) {
        if (strcmp(db_sqlstate(req->db), "23503") == 0)
            svc_log(LOG_ERROR,
                    "erasure blocked: a table references account without ON DELETE CASCADE");
        svc_problem_db(resp, req->db);
        goto out;
    }
    in_tx = false;
    if (db_cmd(req->db, "COMMIT") < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 204, NULL);
out:
    if (in_tx)
        db_cmd(req->db, "ROLLBACK");
    PQclear(r);
    svc_v_free(&v);
}
