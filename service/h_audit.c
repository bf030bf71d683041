/* The audit trail's read side for administrators: the paged list and chain verification. Both are
 * themselves audited ("audit.list", "audit.verify"), appended last so the chain lock is held only
 * briefly. */
#include "audit.h"
#include "db.h"
#include "handlers.h"
#include "record.h"
#include "validate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define VERIFY_BATCH 1000
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* "limit" query argument: absent -> LIST_DEFAULT, else 1..LIST_MAX (else an error is recorded). */
static int parse_limit(const struct svc_req *req, struct svc_v *v)
{
    const char *s = svc_arg(req, "limit");
    char *end = NULL;
    if (!s)
        return LIST_DEFAULT;
    long n = strlen(s) <= 4 && isdigit((unsigned char)s[0]) ? strtol(s, &end, 10) : -1;
    if (n < 1 || n > LIST_MAX || !end || *end) {
        svc_v_error(v, "limit", "must be an integer from 1 to %d", LIST_MAX);
        return 0;
    }
    return (int)n;
}

static json_t *nullable(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

static json_t *audit_item(PGresult *r, int row)
{
    json_t *details =
        PQgetisnull(r, row, 7) ? json_null() : json_loads(PQgetvalue(r, row, 7), 0, NULL);
    return json_pack("{s:I, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:s}", "seq",
                     (json_int_t)strtoll(PQgetvalue(r, row, 0), NULL, 10), "at",
                     rec_time_json(r, row, 1), "actor_id", nullable(r, row, 2), "actor_role",
                     nullable(r, row, 3), "action", PQgetvalue(r, row, 4), "object_type",
                     PQgetvalue(r, row, 5), "object_id", nullable(r, row, 6), "details",
                     details ? details : json_null(), "hash", PQgetvalue(r, row, 8));
}

/* GET /v1/admin/audit?limit=&cursor=&actor=&action=&from=&to= : newest first. from is inclusive, to
 * exclusive. */
void h_admin_audit_list(struct svc_req *req, struct svc_resp *resp)
{
    /* clang-format off */
    static const char *sql =
        "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "actor_id, actor_role, action, object_type, object_id, details::text, hash FROM audit_log "
        "WHERE ($1::bigint IS NULL OR seq < $1::bigint) "
        "AND ($2::uuid IS NULL OR actor_id = $2::uuid) "
        "AND ($3::text IS NULL OR action = $3::text) "
        "AND ($4::timestamptz IS NULL OR at >= $4::timestamptz) "
        "AND ($5::timestamptz IS NULL OR at < $5::timestamptz) "
        "ORDER BY seq DESC LIMIT $6::int";
    /* clang-format on */
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL;
    char from[40], to[40], limit_s[16], seq_s[64], fields[1][64], next[REC_CURSOR_MAX];
    const char *from_p, *to_p, *seq_p = NULL;
    int64_t from_e = 0, to_e = 0;

    svc_v_init(&v, NULL);
    int limit = parse_limit(req, &v);
    const char *cursor = svc_arg(req, "cursor");
    if (cursor) {
        char *end;
        if (strlen(cursor) >= REC_CURSOR_MAX ||
            rec_cursor_decode("audit", cursor, fields, 1) != 1 ||
            !isdigit((unsigned char)fields[0][0]) || strtoll(fields[0], &end, 10) < 1 || *end)
            svc_v_error(&v, "cursor", "is not a cursor from this listing");
        else
            seq_p = fields[0];
    }
    const char *actor = svc_arg(req, "actor");
    if (actor && !svc_is_uuid(actor))
        svc_v_error(&v, "actor", "must be an account id (uuid)");
    const char *action = svc_arg(req, "action");
    if (action && (strlen(action) < 1 || strlen(action) > 64))
        svc_v_error(&v, "action", "must be 1 to 64 characters");
    from_p =
        svc_v_time_arg(&v, "from", svc_arg(req, "from"), from, &from_e) && from[0] ? from : NULL;
    to_p = svc_v_time_arg(&v, "to", svc_arg(req, "to"), to, &to_e) && to[0] ? to : NULL;
    if (from_p && to_p && to_e < from_e)
        svc_v_error(&v, "to", "must not be before from");
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }

    snprintf(limit_s, sizeof(limit_s), "%d", limit + 1);
    const char *params[] = {seq_p, actor, action, from_p, to_p, limit_s};
    if (!(r = db_prep(req->db, "audit_list", sql, 6, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    int n = PQntuples(r);
    if (!(items = json_array()))
        goto out;
    for (int i = 0; i < n && i < limit; i++)
        if (json_array_append_new(items, audit_item(r, i)) < 0)
            goto out;
    json_t *next_cursor = json_null();
    if (n > limit) {
        snprintf(seq_s, sizeof(seq_s), "%s", PQgetvalue(r, limit - 1, 0));
        const char *f[] = {seq_s};
        if (rec_cursor_encode("audit", f, 1, next) < 0)
            goto out;
        next_cursor = json_string(next);
    }
    if (svc_audit(req, "audit.list", "audit_log", NULL, NULL) < 0) {
        json_decref(next_cursor);
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", next_cursor));
    items = NULL;
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

/* The outcome of walking the chain. */
struct chain {
    long long rows;     /* rows verified intact, in seq order from 1 */
    long long broken;   /* first broken seq, 0 when intact */
    const char *reason; /* static */
    char head[65];      /* hash of the last intact row (zeros when none) */
};

/* Walk audit_log in seq order, VERIFY_BATCH rows per query, never holding more than one batch. Each
 * row must follow its predecessor's seq by one ("gap": first_broken_seq is the missing seq), carry
 * its predecessor's hash ("prev_hash mismatch") and hash to its stored hash ("hash mismatch").
 * Returns 0, or -1 on database failure. */
static int walk_chain(struct db_conn *db, struct chain *c)
{
    /* clang-format off */
    static const char *sql =
        "SELECT seq, prev_hash, hash, coalesce(audit_row_hash(seq, at, actor_id, actor_role, "
        "action, object_type, object_id, details, prev_hash) = hash, false) "
        "FROM audit_log WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int";
    /* clang-format on */
    char after[32], batch[16];
    long long last = 0;
    int n;

    memset(c, 0, sizeof(*c));
    snprintf(c->head, sizeof(c->head), "%s", ZERO_HASH);
    snprintf(batch, sizeof(batch), "%d", VERIFY_BATCH);
    do {
        snprintf(after, sizeof(after), "%lld", last);
        const char *params[] = {after, batch};
        PGresult *r = db_prep(db, "audit_verify_batch", sql, 2, params);
        if (!r)
            return -1;
        n = PQntuples(r);
        for (int i = 0; i < n && !c->broken; i++) {
            long long seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            if (seq != last + 1) {
                c->broken = last + 1;
                c->reason = "gap";
            } else if (strcmp(PQgetvalue(r, i, 1), c->head) != 0) {
                c->broken = seq;
                c->reason = "prev_hash mismatch";
            } else if (strcmp(PQgetvalue(r, i, 3), "t") != 0) {
                c->broken = seq;
                c->reason = "hash mismatch";
            } else {
                c->rows++;
                last = seq;
                snprintf(c->head, sizeof(c->head), "%s", PQgetvalue(r, i, 2));
            }
        }
        PQclear(r);
    } while (n == VERIFY_BATCH && !c->broken);
    return 0;
}

/* GET /v1/admin/audit/verify */
void h_admin_audit_verify(struct svc_req *req, struct svc_resp *resp)
{
    struct chain c;
    json_t *body = NULL, *details = NULL;

    if (walk_chain(req->db, &c) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (c.broken) {
        body = json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "rows_checked", (json_int_t)c.rows,
                         "first_broken_seq", (json_int_t)c.broken, "reason", c.reason);
        details = json_pack("{s:b, s:I}", "ok", 0, "first_broken_seq", (json_int_t)c.broken);
    } else {
        body =
            json_pack("{s:b, s:I, s:s}", "ok", 1, "rows", (json_int_t)c.rows, "head_hash", c.head);
        details = json_pack("{s:b, s:I}", "ok", 1, "rows", (json_int_t)c.rows);
    }
    if (!body || !details)
        goto out;
    if (svc_audit(req, "audit.verify", "audit_log", NULL, details) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 200, body);
    body = NULL;
out:
    json_decref(body);
    json_decref(details);
}
