/* Accounts and sign-in. */
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

const char *svc_role_name(unsigned role)
{
    switch (role) {
    case SVC_ROLE_MEMBER:
        return "member";
    case SVC_ROLE_RESEARCHER:
        return "researcher";
    case SVC_ROLE_COORDINATOR:
        return "coordinator";
    case SVC_ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

unsigned svc_role_parse(const char *name)
{
    static const unsigned roles[] = {SVC_ROLE_MEMBER, SVC_ROLE_RESEARCHER, SVC_ROLE_COORDINATOR,
                                     SVC_ROLE_ADMIN};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(name, svc_role_name(roles[i])) == 0)
            return roles[i];
    return 0;
}

static const char *account_sql =
    "INSERT INTO account (email, display_name, role, password_hash) VALUES ($1, $2, $3, $4) "
    "RETURNING id, email, display_name, role, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

static json_t *account_json(PGresult *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", PQgetvalue(r, 0, 0), "email",
                     PQgetvalue(r, 0, 1), "display_name", PQgetvalue(r, 0, 2), "role",
                     PQgetvalue(r, 0, 3), "created_at", PQgetvalue(r, 0, 4));
}

static bool valid_email(const char *e)
{
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.')
        return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ')
            return false;
    return e[strlen(e) - 1] != '.';
}

/* Shared by self-registration (role member) and admin account creation. */
static void create_account(struct svc_req *req, struct svc_resp *resp, bool admin)
{
    static const char *const fields[] = {"email", "password", "display_name", "role", NULL};
    static const char *const staff[] = {"researcher", "coordinator", "admin", NULL};
    struct svc_v v;
    const char *email = NULL, *password = NULL, *name = NULL;
    int role = 0;
    char hash[SVC_HASH_MAX];
    PGresult *r = NULL;

    svc_v_init(&v, NULL);
    svc_v_only(&v, req->body,
               admin ? fields : (const char *const[]){"email", "password", "display_name", NULL});
    if (svc_v_str(&v, req->body, "email", true, 3, 254, &email) == SVC_V_OK && !valid_email(email))
        svc_v_error(&v, "email", "must be an email address");
    svc_v_str(&v, req->body, "password", true, 10, 1024, &password);
    svc_v_str(&v, req->body, "display_name", true, 1, 100, &name);
    if (admin)
        svc_v_enum(&v, req->body, "role", true, staff, &role);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (svc_password_hash(password, svc_cfg.password_iterations, hash) < 0)
        goto out;
    const char *params[] = {email, name, admin ? staff[role] : "member", hash};
    if (!(r = db_prep(req->db, "account_insert", account_sql, 4, params))) {
        if (strcmp(db_sqlstate(req->db), "23505") == 0)
            svc_problem_field(resp, 409, "email", "an account with this email already exists");
        else
            svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 201, account_json(r));
out:
    PQclear(r);
    svc_v_free(&v);
}

void h_register(struct svc_req *req, struct svc_resp *resp)
{
    create_account(req, resp, false);
}

void h_admin_create_account(struct svc_req *req, struct svc_resp *resp)
{
    create_account(req, resp, true);
    if (resp->status == 201 &&
        svc_audit(req, "account.create", "account",
                  json_string_value(json_object_get(resp->body, "id")), NULL) < 0)
        svc_problem_db(resp, req->db);
}

/* Is key over its failure budget? Returns seconds to wait (0 = allowed), or -1 on database failure.
 */
static int throttled(struct db_conn *db, const char *key, int max)
{
    char smax[16], swin[16];
    snprintf(smax, sizeof(smax), "%d", max);
    snprintf(swin, sizeof(swin), "%d", svc_cfg.login_window);
    const char *params[] = {key, smax, swin};
    PGresult *r = db_prep(
        db, "throttle_get",
        "SELECT ceil(extract(epoch FROM window_start + make_interval(secs => $3::int) - now()))"
        "::int FROM auth_throttle WHERE key = $1 AND failures >= $2::int "
        "AND window_start > now() - make_interval(secs => $3::int)",
        3, params);
    if (!r)
        return -1;
    int wait = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return wait > 0 ? wait : 0;
}

static void record_failure(struct db_conn *db, const char *key)
{
    char swin[16];
    snprintf(swin, sizeof(swin), "%d", svc_cfg.login_window);
    const char *params[] = {key, swin};
    PQclear(db_prep(
        db, "throttle_fail",
        "INSERT INTO auth_throttle (key, failures, window_start) VALUES ($1, 1, now()) "
        "ON CONFLICT (key) DO UPDATE SET "
        "failures = CASE WHEN auth_throttle.window_start > now() - make_interval(secs => $2::int) "
        "THEN auth_throttle.failures + 1 ELSE 1 END, "
        "window_start = CASE WHEN auth_throttle.window_start > now() - make_interval(secs => "
        "$2::int) "
        "THEN auth_throttle.window_start ELSE now() END",
        2, params));
}

void h_login(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"email", "password", NULL};
    struct svc_v v;
    const char *email = NULL, *password = NULL;
    char acct_key[80], ip_key[80], lower[256], hash[SVC_HASH_MAX], token[SVC_TOKEN_LEN + 1], th[65],
        ttl[16];
    PGresult *r = NULL;
    bool rehash = false;
    int ok = 0;

    svc_v_init(&v, NULL);
    svc_v_only(&v, req->body, fields);
    svc_v_str(&v, req->body, "email", true, 1, 254, &email);
    svc_v_str(&v, req->body, "password", true, 1, 1024, &password);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    size_t i;
    for (i = 0; email[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
    lower[i] = '\0';
    svc_sha256_hex(lower, i, th);
    snprintf(acct_key, sizeof(acct_key), "acct:%.64s", th);
    snprintf(ip_key, sizeof(ip_key), "ip:%s", req->client_ip);

    int wa = throttled(req->db, acct_key, svc_cfg.login_max_failures);
    int wi = wa < 0 ? -1 : throttled(req->db, ip_key, svc_cfg.login_ip_max_failures);
    if (wa < 0 || wi < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (wa || wi) {
        char after[16];
        snprintf(after, sizeof(after), "%d", wa > wi ? wa : wi);
        svc_problem(resp, 429, "too many failed sign-ins; try again later", NULL);
        svc_header(resp, "Retry-After", after);
        goto out;
    }

    const char *p1[] = {lower};
    if (!(r = db_prep(req->db, "login_lookup",
                      "SELECT id, password_hash, role FROM account WHERE email_lower = $1 AND "
                      "deleted_at IS NULL",
                      1, p1))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) == 1) {
        ok = svc_password_verify(password, PQgetvalue(r, 0, 1), svc_cfg.password_iterations,
                                 &rehash) == 1;
    } else {
        /* Same work for an unknown email, so timing does not tell them apart. */
        char dummy[SVC_HASH_MAX];
        svc_password_hash(password, svc_cfg.password_iterations, dummy);
    }
    if (!ok) {
        record_failure(req->db, acct_key);
        record_failure(req->db, ip_key);
        svc_problem(resp, 401, "the email or password is not correct", NULL);
        goto out;
    }
    if (svc_token_new(token) < 0)
        goto out;
    char account_id[SVC_ID_LEN], role[16];
    snprintf(account_id, sizeof(account_id), "%s", PQgetvalue(r, 0, 0));
    snprintf(role, sizeof(role), "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    r = NULL;
    if (rehash && svc_password_hash(password, svc_cfg.password_iterations, hash) == 0) {
        const char *p2[] = {account_id, hash};
        PQclear(db_prep(req->db, "login_rehash",
                        "UPDATE account SET password_hash = $2 WHERE id = $1", 2, p2));
    }
    svc_sha256_hex(token, strlen(token), th);
    snprintf(ttl, sizeof(ttl), "%d", svc_cfg.token_ttl);
    const char *p3[] = {th, account_id, ttl};
    if (!(r = db_prep(req->db, "session_insert",
                      "INSERT INTO session (token_hash, account_id, expires_at) "
                      "VALUES ($1, $2, now() + make_interval(secs => $3::int))",
                      3, p3))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    const char *p4[] = {acct_key};
    PQclear(db_prep(req->db, "throttle_clear", "DELETE FROM auth_throttle WHERE key = $1", 1, p4));
    svc_json(resp, 200,
             json_pack("{s:s, s:s, s:i, s:s}", "access_token", token, "token_type", "Bearer",
                       "expires_in", svc_cfg.token_ttl, "role", role));
out:
    PQclear(r);
    svc_v_free(&v);
}

void h_logout(struct svc_req *req, struct svc_resp *resp)
{
    const char *params[] = {req->who.token_hash};
    PGresult *r = db_prep(req->db, "session_revoke",
                          "UPDATE session SET revoked_at = now() WHERE token_hash = $1", 1, params);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 204, NULL);
out:
    PQclear(r);
}

void h_me(struct svc_req *req, struct svc_resp *resp)
{
    const char *params[] = {req->who.account_id};
    PGresult *r =
        db_prep(req->db, "me_get",
                "SELECT id, email, display_name, role, "
                "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                "FROM account WHERE id = $1",
                1, params);
    svc_problem(resp, 404, "no such account", NULL);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) == 1)
        svc_json(resp, 200, account_json(r));
out:
    PQclear(r);
}
