/* End-to-end: the tamper-evident audit trail. Admin actions are audited with the right actor; the
 * list pages and filters exactly; verification passes on an intact chain, also after concurrent
 * appends, and names the first broken row after a superuser edits or removes one; the service role
 * cannot change or remove audit rows. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* A share expiring too late: refused with 422, so nothing is audited. */
static void share_refused(const char *token, const char *label)
{
    struct th_resp r;
    th_reqj("POST", "/v1/me/shares", token,
            json_pack("{s:[s], s:s, s:s}", "categories", "symptoms", "expires_at",
                      "2099-01-01T00:00:00Z", "label", label),
            &r);
    th_assert_status(&r, 422);
    th_resp_free(&r);
}

/* A valid share: expires in 30 days. Returns the share id in id (may be NULL). */
static void create_valid_share(const char *token, const char *label, char id[37])
{
    struct th_resp r;
    char when[32];
    time_t t = time(NULL) + 30 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    th_reqj("POST", "/v1/me/shares", token,
            json_pack("{s:[s], s:s, s:s}", "categories", "symptoms", "expires_at", when, "label",
                      label),
            &r);
    th_assert_status(&r, 201);
    if (id)
        snprintf(id, 37, "%s", jstr(r.json, "id"));
    th_resp_free(&r);
}

static void verify(struct th_resp *r, const char *admin)
{
    th_req("GET", "/v1/admin/audit/verify", admin, NULL, NULL, r);
    th_assert_status(r, 200);
}

/* Run SQL as superuser (replica mode when replica), asserting success. */
static void su_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* The SQLSTATE a statement fails with ("" when it succeeds). */
static void sqlstate_of(PGconn *c, const char *sql, char out[6])
{
    PGresult *r = PQexec(c, sql);
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(out, 6, "%s", s ? s : "");
    PQclear(r);
}

START_TEST(admin_account_creation_is_audited)
{
    char admin[64], admin_id[37], member[64], email[128], path[256], new_id[37];
    struct th_resp r;
    th_account("admin", admin, admin_id);
    th_account("member", member, NULL);
    th_unique_email("staff", email, sizeof(email));

    th_reqj("POST", "/v1/admin/accounts", admin,
            json_pack("{s:s, s:s, s:s, s:s}", "email", email, "password", "a long password",
                      "display_name", "Res", "role", "researcher"),
            &r);
    th_assert_status(&r, 201);
    snprintf(new_id, sizeof(new_id), "%s", jstr(r.json, "id"));
    th_resp_free(&r);

    snprintf(path, sizeof(path), "/v1/admin/audit?actor=%s&action=account.create", admin_id);
    th_req("GET", path, admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    ck_assert_str_eq(jstr(it, "actor_id"), admin_id);
    ck_assert_str_eq(jstr(it, "actor_role"), "admin");
    ck_assert_str_eq(jstr(it, "action"), "account.create");
    ck_assert_str_eq(jstr(it, "object_type"), "account");
    ck_assert_str_eq(jstr(it, "object_id"), new_id);
    ck_assert(json_is_null(json_object_get(it, "details")));
    ck_assert_uint_eq(strlen(jstr(it, "hash")), 64);
    ck_assert_uint_eq(strlen(jstr(it, "at")) >= 20, 1);
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    long seq = (long)json_integer_value(json_object_get(it, "seq"));
    th_resp_free(&r);

    /* The row in the table agrees, and holds no email. */
    char sseq[32];
    snprintf(sseq, sizeof(sseq), "%ld", seq);
    const char *p[] = {sseq, admin_id, new_id, email};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM audit_log WHERE seq = $1::bigint AND actor_id = "
                    "$2::uuid AND object_id = $3 AND action = 'account.create' AND "
                    "strpos(audit_log::text, $4) = 0",
                    4, p),
        1);

    /* A refused creation (duplicate email) writes no audit row. */
    th_reqj("POST", "/v1/admin/accounts", admin,
            json_pack("{s:s, s:s, s:s, s:s}", "email", email, "password", "a long password",
                      "display_name", "Res", "role", "researcher"),
            &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);
    const char *p2[] = {admin_id};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM audit_log WHERE actor_id = $1::uuid AND action = "
                    "'account.create'",
                    1, p2),
        1);

    /* Reading the trail is itself audited. */
    ck_assert_int_eq(
        th_sql_long(
            "SELECT count(*) FROM audit_log WHERE actor_id = $1::uuid AND action = 'audit.list'", 1,
            p2),
        1);

    /* Only administrators read it. */
    th_req("GET", "/v1/admin/audit", member, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit/verify", member, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit", NULL, NULL, NULL, &r);
    th_assert_status(&r, 401);
    th_resp_free(&r);
}
END_TEST

START_TEST(paging_and_filters)
{
    char admin[64], member[64], member_id[37], other[64], path[512], cursor[300] = "";
    struct th_resp r;
    long seqs[16];
    char ats[16][40];
    int n = 0;
    th_account("admin", admin, NULL);
    th_account("member", member, member_id);
    th_account("member", other, NULL);
    for (int i = 0; i < 50; i++)
        create_valid_share(other, "bulk", NULL);
    share_refused(member, "refused");
    for (int i = 0; i < 7; i++)
        create_valid_share(member, "paged", NULL);

    /* Three pages of 3, 3 and 1, newest first, no repeats. */
    for (int page = 0; page < 4; page++) {
        snprintf(path, sizeof(path), "/v1/admin/audit?actor=%s&action=share.create&limit=3%s%s",
                 member_id, cursor[0] ? "&cursor=" : "", cursor);
        th_req("GET", path, admin, NULL, NULL, &r);
        th_assert_status(&r, 200);
        json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        ck_assert_uint_eq(json_array_size(items), page < 2 ? 3 : 1);
        json_array_foreach(items, i, it)
        {
            ck_assert_str_eq(jstr(it, "actor_id"), member_id);
            ck_assert_str_eq(jstr(it, "actor_role"), "member");
            ck_assert_str_eq(jstr(it, "action"), "share.create");
            ck_assert_str_eq(jstr(it, "object_type"), "share");
            char *d = json_dumps(json_object_get(it, "details"), JSON_COMPACT);
            ck_assert_str_eq(d, "{\"categories\":[\"symptoms\"]}");
            free(d);
            seqs[n] = (long)json_integer_value(json_object_get(it, "seq"));
            snprintf(ats[n], sizeof(ats[n]), "%s", jstr(it, "at"));
            n++;
        }
        json_t *next = json_object_get(r.json, "next_cursor");
        if (page < 2) {
            ck_assert(json_is_string(next));
            snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        } else {
            ck_assert(json_is_null(next));
        }
        th_resp_free(&r);
        if (page == 2)
            break;
    }
    ck_assert_int_eq(n, 7);
    for (int i = 1; i < n; i++)
        ck_assert_int_lt(seqs[i], seqs[i - 1]);
    const char *p[] = {member_id};
    ck_assert_int_eq(th_sql_long("SELECT max(seq) FROM audit_log WHERE actor_id = $1::uuid", 1, p),
                     seqs[0]);
    ck_assert_int_eq(th_sql_long("SELECT min(seq) FROM audit_log WHERE actor_id = $1::uuid", 1, p),
                     seqs[6]);

    /* from is inclusive, to exclusive: from the 5th newest up to (not including) the newest. */
    snprintf(path, sizeof(path), "/v1/admin/audit?actor=%s&from=%s&to=%s", member_id, ats[4],
             ats[0]);
    th_req("GET", path, admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), seqs[1]);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 3), "seq")), seqs[4]);
    th_resp_free(&r);

    /* An action filter matches exactly, not by prefix. */
    snprintf(path, sizeof(path), "/v1/admin/audit?actor=%s&action=share", member_id);
    th_req("GET", path, admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);

    /* Default limit 50: the newest 50 rows overall. */
    th_req("GET", "/v1/admin/audit", admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 50);
    ck_assert(json_is_string(json_object_get(r.json, "next_cursor")));
    th_resp_free(&r);

    /* Bad arguments: one 422 naming every field. */
    th_req("GET", "/v1/admin/audit?limit=0&cursor=abc&actor=nobody&from=yesterday&to=2026-01-01",
           admin, NULL, NULL, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "limit"));
    ck_assert(names_field(&r, "cursor"));
    ck_assert(names_field(&r, "actor"));
    ck_assert(names_field(&r, "from"));
    ck_assert(names_field(&r, "to"));
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit?limit=501", admin, NULL, NULL, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "limit"));
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit?limit=500", admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
    /* A cursor from another listing is refused. */
    th_req("GET", "/v1/me/shares?limit=1", member, NULL, NULL, &r);
    th_assert_status(&r, 200);
    snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "next_cursor"));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/audit?cursor=%s", cursor);
    th_req("GET", path, admin, NULL, NULL, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "cursor"));
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", admin, NULL,
           NULL, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "to"));
    th_resp_free(&r);
    /* A bare + reads as a space in a query string: the message says how to write it. The same
     * time rules as the record listings: 1900..2199, offsets up to 14:00. */
    th_req("GET", "/v1/admin/audit?from=2026-01-02T00:00:00+01:00", admin, NULL, NULL, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "from"));
    ck_assert_ptr_nonnull(strstr(r.body, "%2B"));
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit?from=2300-01-01T00:00:00Z", admin, NULL, NULL, &r);
    th_assert_status(&r, 422);
    ck_assert(names_field(&r, "from"));
    th_resp_free(&r);
    th_req("GET", "/v1/admin/audit?from=2026-01-02T00:00:00%2B01:00&to=2099-01-01t00:00:00z", admin,
           NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}
END_TEST

START_TEST(verify_intact_chain)
{
    char admin[64], admin_id[37], head[65];
    struct th_resp r;
    th_account("admin", admin, admin_id);
    long rows = th_sql_long("SELECT count(*) FROM audit_log", 0, NULL);
    PGconn *c = th_db();
    PGresult *q =
        PQexec(c, "SELECT coalesce((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), "
                  "repeat('0', 64))");
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    snprintf(head, sizeof(head), "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    PQfinish(c);

    verify(&r, admin);
    ck_assert(json_is_true(json_object_get(r.json, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "rows")), rows);
    ck_assert_str_eq(jstr(r.json, "head_hash"), head);
    ck_assert_ptr_null(json_object_get(r.json, "first_broken_seq"));
    th_resp_free(&r);

    /* The verification is audited with its outcome. */
    char srows[32];
    snprintf(srows, sizeof(srows), "%ld", rows);
    const char *p[] = {admin_id, srows};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM audit_log WHERE actor_id = $1::uuid AND action = "
                    "'audit.verify' AND details = jsonb_build_object('ok', true, 'rows', "
                    "$2::bigint) AND seq = $2::bigint + 1",
                    2, p),
        1);

    /* The first row chains from 64 zeros; the hash is the documented canonical form. */
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM audit_log WHERE seq = 1 AND prev_hash = repeat('0', 64)",
                    0, NULL),
        1);
    ck_assert_int_eq(
        th_sql_long(
            "SELECT count(*) FROM audit_log WHERE hash <> encode(sha256(convert_to(seq::text || "
            "'|' "
            "|| to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || '|' || "
            "coalesce(actor_id::text, '') || '|' || coalesce(actor_role, '') || '|' || action || "
            "'|' || object_type || '|' || coalesce(object_id, '') || '|' || "
            "coalesce(details::text, "
            "'') || '|' || prev_hash, 'UTF8')), 'hex')",
            0, NULL),
        0);
}
END_TEST

#define WORKERS 8
#define PER_WORKER 25

START_TEST(concurrent_appends_chain)
{
    char admin[64], tokens[WORKERS][64], ids[WORKERS][37], list[WORKERS * 40] = "";
    pid_t pids[WORKERS];
    struct th_resp r;
    th_account("admin", admin, NULL);
    for (int w = 0; w < WORKERS; w++) {
        th_account("member", tokens[w], ids[w]);
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", w ? "," : "", ids[w]);
    }
    long before = th_sql_long("SELECT count(*) FROM audit_log", 0, NULL);

    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0) {
            int bad = 0;
            char when[32];
            time_t t = time(NULL) + 7 * 86400;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            for (int i = 0; i < PER_WORKER; i++) {
                struct th_resp cr;
                th_reqj("POST", "/v1/me/shares", tokens[w],
                        json_pack("{s:[s], s:s, s:s}", "categories", "goals", "expires_at", when,
                                  "label", "parallel"),
                        &cr);
                bad += cr.status != 201;
                th_resp_free(&cr);
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int w = 0; w < WORKERS; w++) {
        int st;
        ck_assert_int_eq(waitpid(pids[w], &st, 0), pids[w]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %d had failed requests", w);
    }

    /* Every append landed, 25 per member, and the chain is gapless and linked. */
    const char *p[] = {list};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM audit_log WHERE action = 'share.create' AND actor_id "
                    "= ANY(string_to_array($1, ',')::uuid[])",
                    1, p),
        WORKERS * PER_WORKER);
    ck_assert_int_eq(
        th_sql_long("SELECT count(DISTINCT actor_id) FROM (SELECT actor_id FROM audit_log "
                    "WHERE action = 'share.create' AND actor_id = ANY(string_to_array($1, "
                    "',')::uuid[]) GROUP BY actor_id HAVING count(*) = 25) t",
                    1, p),
        WORKERS);
    long total = th_sql_long("SELECT count(*) FROM audit_log", 0, NULL);
    ck_assert_int_eq(total, before + WORKERS * PER_WORKER);
    ck_assert_int_eq(th_sql_long("SELECT min(seq) FROM audit_log", 0, NULL), 1);
    ck_assert_int_eq(th_sql_long("SELECT max(seq) FROM audit_log", 0, NULL), total);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM (SELECT seq, prev_hash, lag(seq) OVER w AS ps, "
                    "lag(hash) OVER w AS ph FROM audit_log WINDOW w AS (ORDER BY seq)) t "
                    "WHERE ps IS NOT NULL AND (seq <> ps + 1 OR prev_hash <> ph)",
                    0, NULL),
        0);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM (SELECT at, lag(at) OVER (ORDER BY seq) AS pa FROM "
                    "audit_log) t WHERE at < pa",
                    0, NULL),
        0);
    verify(&r, admin);
    ck_assert(json_is_true(json_object_get(r.json, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "rows")), total);
    th_resp_free(&r);
}
END_TEST

/* Make sure there are at least 20 rows, and return a seq in the middle. */
static long middle_seq(const char *member)
{
    for (int i = 0; i < 10; i++)
        create_valid_share(member, "filler", NULL);
    long max = th_sql_long("SELECT max(seq) FROM audit_log", 0, NULL);
    ck_assert_int_ge(max, 10);
    return max / 2;
}

static void assert_broken(const char *admin, long seq, const char *reason)
{
    struct th_resp r;
    verify(&r, admin);
    ck_assert(json_is_false(json_object_get(r.json, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "first_broken_seq")), seq);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "rows_checked")), seq - 1);
    ck_assert_str_eq(jstr(r.json, "reason"), reason);
    ck_assert_ptr_null(json_object_get(r.json, "rows"));
    th_resp_free(&r);
}

static void assert_intact(const char *admin)
{
    struct th_resp r;
    verify(&r, admin);
    ck_assert_msg(json_is_true(json_object_get(r.json, "ok")), "chain not intact: %s", r.body);
    th_resp_free(&r);
}

START_TEST(tampered_row_is_found)
{
    char admin[64], member[64], sk[32], state[6], action[80];
    th_account("admin", admin, NULL);
    th_account("member", member, NULL);
    long k = middle_seq(member);
    snprintf(sk, sizeof(sk), "%ld", k);
    const char *p[] = {sk};
    PGconn *c = th_db();

    /* Without replica mode even the superuser is stopped by the trigger. */
    sqlstate_of(c, "UPDATE audit_log SET action = 'x' WHERE seq = 1", state);
    ck_assert_str_eq(state, "42501");

    PGresult *q = PQexecParams(c, "SELECT action FROM audit_log WHERE seq = $1::bigint", 1, NULL, p,
                               NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(q), 1);
    snprintf(action, sizeof(action), "%s", PQgetvalue(q, 0, 0));
    PQclear(q);

    /* An edited row: its own hash no longer matches. */
    su_exec(c, "SET session_replication_role = replica", 0, NULL);
    su_exec(c, "UPDATE audit_log SET action = 'x' WHERE seq = $1::bigint", 1, p);
    assert_broken(admin, k, "hash mismatch");

    /* An edited row whose hash was recomputed: the next row's link breaks. */
    su_exec(c,
            "UPDATE audit_log SET hash = audit_row_hash(seq, at, actor_id, actor_role, action, "
            "object_type, "
            "object_id, details, prev_hash) WHERE seq = $1::bigint",
            1, p);
    assert_broken(admin, k + 1, "prev_hash mismatch");

    /* Restored exactly, the chain verifies again. */
    const char *p2[] = {sk, action};
    su_exec(c,
            "UPDATE audit_log SET action = $2, hash = audit_row_hash(seq, at, actor_id, "
            "actor_role, $2, "
            "object_type, object_id, details, prev_hash) WHERE seq = $1::bigint",
            2, p2);
    su_exec(c, "SET session_replication_role = origin", 0, NULL);
    PQfinish(c);
    assert_intact(admin);
}
END_TEST

START_TEST(removed_row_is_found)
{
    char admin[64], member[64], sk[32];
    th_account("admin", admin, NULL);
    th_account("member", member, NULL);
    long k = middle_seq(member);
    snprintf(sk, sizeof(sk), "%ld", k);
    const char *p[] = {sk};
    char sql[128];
    PGconn *c = th_db();
    snprintf(sql, sizeof(sql), "CREATE TEMP TABLE saved AS SELECT * FROM audit_log WHERE seq = %ld",
             k);
    su_exec(c, sql, 0, NULL);
    su_exec(c, "SET session_replication_role = replica", 0, NULL);
    su_exec(c, "DELETE FROM audit_log WHERE seq = $1::bigint", 1, p);
    assert_broken(admin, k, "gap");

    /* The first row removed: a gap at 1. */
    su_exec(c, "INSERT INTO saved SELECT * FROM audit_log WHERE seq = 1", 0, NULL);
    su_exec(c, "DELETE FROM audit_log WHERE seq = 1", 0, NULL);
    assert_broken(admin, 1, "gap");

    su_exec(c, "INSERT INTO audit_log SELECT * FROM saved", 0, NULL);
    su_exec(c, "SET session_replication_role = origin", 0, NULL);
    PQfinish(c);
    assert_intact(admin);
}
END_TEST

START_TEST(service_role_cannot_change_rows)
{
    char state[6];
    PGconn *c = th_db();
    su_exec(c, "SET ROLE carecommons", 0, NULL);
    sqlstate_of(c, "UPDATE audit_log SET action = 'x' WHERE seq = 1", state);
    ck_assert_str_eq(state, "42501");
    sqlstate_of(c, "DELETE FROM audit_log WHERE seq = 1", state);
    ck_assert_str_eq(state, "42501");
    sqlstate_of(c, "TRUNCATE audit_log", state);
    ck_assert_str_eq(state, "42501");
    sqlstate_of(c, "ALTER TABLE audit_log DISABLE TRIGGER ALL", state);
    ck_assert_str_eq(state, "42501");
    /* It can read the trail. */
    sqlstate_of(c, "SELECT count(*) FROM audit_log", state);
    ck_assert_str_eq(state, "");
    PQfinish(c);
}
END_TEST

/* Last: the server logged no sanitizer finding and no health data while serving all of the above.
 */
START_TEST(server_log_is_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_nonnull(strstr(log, "\"route\":\"/v1/admin/audit/verify\""));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "LeakSanitizer"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("audit");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, admin_account_creation_is_audited);
    tcase_add_test(tc, paging_and_filters);
    tcase_add_test(tc, verify_intact_chain);
    tcase_add_test(tc, concurrent_appends_chain);
    tcase_add_test(tc, tampered_row_is_found);
    tcase_add_test(tc, removed_row_is_found);
    tcase_add_test(tc, service_role_cannot_change_rows);
    tcase_add_test(tc, server_log_is_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
