/* Sharing with a caregiver or clinician: a member creates a link for chosen categories until a
 * date; whoever holds the link reads exactly those categories, read-only, until it expires or is
 * revoked.
 *
 * The link's token is the credential: 32 random bytes (base64url), shown once at creation and
 * stored only as its SHA-256. Every failure to resolve a link (unknown, malformed, expired,
 * revoked, the member erased, or a category the link does not cover) answers the same 404, so a
 * link reveals nothing beyond what it shares. Every successful access counts on the link and is
 * audited ("share.access", no actor) in the request's transaction. */
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "consent.h"
#include "db.h"
#include "handlers.h"
#include "record.h"
#include "validate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define ACTIVE_MAX 100 /* active links per member */
/* Doses, evaluations or progress points shown per parent, newest first. */
#define CHILDREN_MAX 100
#define NOT_SHARED "no such shared resource"
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A resolved link. */
struct link {
    char member_id[SVC_ID_LEN];
    char id[SVC_ID_LEN];
    unsigned categories;
};

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

/* "cursor" query argument of a (time or date key, id) listing: fields[0] the key, fields[1] the id.
 * Returns 1 when a valid cursor was given, 0 when absent, -1 when invalid (an error recorded). */
static int parse_cursor(const struct svc_req *req, struct svc_v *v, const char *scope,
                        bool date_key, char fields[2][64])
{
    const char *s = svc_arg(req, "cursor");
    int64_t epoch;
    int y, m, d;
    if (!s)
        return 0;
    if (rec_cursor_decode(scope, s, fields, 2) != 2 || !svc_is_uuid(fields[1]) ||
        (date_key ? svc_parse_date(fields[0], &y, &m, &d) : svc_parse_time(fields[0], &epoch)) <
            0) {
        svc_v_error(v, "cursor", "is not a cursor from this listing");
        return -1;
    }
    return 1;
}

static json_t *cursor_json(const char *scope, const char *key, const char *id)
{
    char out[REC_CURSOR_MAX];
    const char *f[] = {key, id};
    return rec_cursor_encode(scope, f, 2, out) < 0 ? NULL : json_string(out);
}

/* Could t be a token (base64url of 32 bytes)? Anything else is answered without a lookup. */
static bool token_shaped(const char *t)
{
    if (!t || strlen(t) != SVC_TOKEN_LEN)
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

/* Lock order. svc_audit takes the audit chain's lock until the transaction ends, and erasure
 * audits first and then deletes the member's links. So that no two transactions ever wait for each
 * other in opposite orders, every handler here audits BEFORE it locks an existing link row (the
 * access counter, a revocation): audit lock, then row lock. */

/* Resolve the request's link token without locking anything. need is the category the resource
 * requires (0 for the link's summary). Returns 1 with *lk filled (and, when summary is not NULL,
 * *summary a new object {display_name, label, categories, expires_at}), 0 after answering 404, -1
 * after answering an error. */
static int resolve(struct svc_req *req, struct svc_resp *resp, unsigned need, struct link *lk,
                   json_t **summary)
{
    /* clang-format off */
    static const char *sql =
        "SELECT share.member_id, share.id, share.categories, share.label, a.display_name, "
        TS("share.expires_at") " FROM share JOIN account a ON a.id = share.member_id "
        "WHERE share.token_hash = $1 AND share.revoked_at IS NULL AND share.expires_at > now() "
        "AND a.deleted_at IS NULL";
    /* clang-format on */
    char hash[65];
    PGresult *r = NULL;
    int rc = 0;

    svc_problem(resp, 404, NOT_SHARED, NULL);
    if (req->nparams < 1 || !token_shaped(req->params[0]))
        goto out;
    svc_sha256_hex(req->params[0], strlen(req->params[0]), hash);
    const char *params[] = {hash};
    if (!(r = db_prep(req->db, "share_resolve", sql, 1, params))) {
        svc_problem_db(resp, req->db);
        rc = -1;
        goto out;
    }
    if (PQntuples(r) != 1)
        goto out;
    unsigned cats = (unsigned)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    if (need && !(cats & need))
        goto out;
    snprintf(lk->member_id, sizeof(lk->member_id), "%s", PQgetvalue(r, 0, 0));
    snprintf(lk->id, sizeof(lk->id), "%s", PQgetvalue(r, 0, 1));
    lk->categories = cats;
    svc_problem(resp, 500, NULL, NULL); /* from here on a failure is ours */
    if (summary) {
        *summary = json_pack("{s:s, s:s, s:o, s:o}", "display_name", PQgetvalue(r, 0, 4), "label",
                             PQgetvalue(r, 0, 3), "categories", consent_categories_to_json(cats),
                             "expires_at", rec_time_json(r, 0, 5));
        if (!*summary) {
            rc = -1;
            goto out;
        }
    }
    rc = 1;
out:
    PQclear(r);
    return rc;
}

/* Audit the access, count it on the link, and answer 200 with body (stolen). The count re-checks
 * the link: if it was revoked (or expired, or erased) since resolve read it, the answer is the same
 * 404 and the transaction, audit row included, rolls back. */
static void answer(struct svc_req *req, struct svc_resp *resp, const struct link *lk,
                   const char *resource, json_t *body)
{
    PGresult *r = NULL;
    json_t *details = json_pack("{s:s, s:s}", "member_id", lk->member_id, "resource", resource);
    const char *params[] = {lk->member_id, lk->id};

    if (!body || !details)
        goto out;
    if (svc_audit(req, "share.access", "share", lk->id, details) < 0 ||
        !(r = db_prep(req->db, "share_count",
                      "UPDATE share SET last_access_at = now(), access_count = access_count + 1 "
                      "WHERE member_id = $1::uuid AND id = $2::uuid AND revoked_at IS NULL "
                      "AND expires_at > now()",
                      2, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        svc_problem(resp, 404, NOT_SHARED, NULL);
        goto out;
    }
    svc_json(resp, 200, body);
    body = NULL;
out:
    PQclear(r);
    json_decref(details);
    json_decref(body);
}

/* ---- the member's side ---- */

/* expires_at: RFC 3339 with an offset, or YYYY-MM-DD meaning the end of that day (UTC). The instant
 * must be in the future; at most one year ahead (for a date: the date at most one year from today,
 * UTC). The instant is written into out as RFC 3339 for PostgreSQL. */
static void parse_expiry(struct svc_v *v, const json_t *body, char out[40])
{
    const char *s;
    int64_t at, lim_at;
    int y, m, d;
    bool date;
    time_t now = time(NULL);
    struct tm tm, lim;

    if (svc_v_str(v, body, "expires_at", true, 1, 64, &s) != SVC_V_OK)
        return;
    gmtime_r(&now, &lim);
    lim.tm_year += 1;
    lim_at = (int64_t)timegm(&lim);
    if ((date = strlen(s) == 10)) {
        if (svc_parse_date(s, &y, &m, &d) < 0 || y > 9998) {
            svc_v_error(v, "expires_at", "must be a date YYYY-MM-DD or an RFC 3339 timestamp");
            return;
        }
        tm = (struct tm){.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + 1};
        at = (int64_t)timegm(&tm);
        lim_at += 86400 - lim_at % 86400; /* a date up to one year from today, counted to its end */
    } else if (svc_parse_time(s, &at) < 0 || at < 0 || at > 253402300799LL) {
        svc_v_error(v, "expires_at", "must be a date YYYY-MM-DD or an RFC 3339 timestamp");
        return;
    }
    if (at <= (int64_t)now) {
        svc_v_error(v, "expires_at", "must be in the future");
        return;
    }
    if (at > lim_at) {
        svc_v_error(v, "expires_at", "must be at most one year ahead");
        return;
    }
    if (date) {
        time_t t = (time_t)at;
        gmtime_r(&t, &tm);
        strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
    } else {
        for (size_t i = 0; i < 39 && s[i]; i++)
            out[i] = (char)toupper((unsigned char)s[i]), out[i + 1] = '\0';
    }
}

/* POST /v1/me/shares {categories, expires_at, label} -> 201 with the token and link, shown only
 * here. */
void h_share_create(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"categories", "expires_at", "label", NULL};
    static const char *sql =
        "INSERT INTO share (member_id, token_hash, label, categories, expires_at) "
        "SELECT $1::uuid, $2, $3, $4::int, $5::timestamptz WHERE (SELECT count(*) FROM share "
        "WHERE member_id = $1::uuid AND revoked_at IS NULL AND expires_at > now()) < $6::int "
        "RETURNING id, " TS("created_at") ", " TS("expires_at");
    struct svc_v v;
    const char *label = NULL;
    unsigned cats = 0;
    char expires[40] = "", token[SVC_TOKEN_LEN + 1], hash[65], scats[16], smax[16], url[600];
    PGresult *r = NULL;
    json_t *body = NULL, *details = NULL;

    svc_v_init(&v, NULL);
    svc_v_only(&v, req->body, fields);
    svc_v_categories(&v, req->body, "categories", true, &cats);
    parse_expiry(&v, req->body, expires);
    svc_v_str(&v, req->body, "label", true, 1, 100, &label);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (svc_token_new(token) < 0)
        goto out;
    svc_sha256_hex(token, strlen(token), hash);
    snprintf(scats, sizeof(scats), "%u", cats);
    snprintf(smax, sizeof(smax), "%d", ACTIVE_MAX);
    const char *params[] = {req->who.account_id, hash, label, scats, expires, smax};
    if (!(r = db_prep(req->db, "share_insert", sql, 6, params))) {
        if (strncmp(db_sqlstate(req->db), "22", 2) == 0)
            svc_problem_field(resp, 422, "expires_at", "is not a valid time");
        else
            svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1) {
        char detail[96];
        snprintf(detail, sizeof(detail), "at most %d links may be active at once; revoke one first",
                 ACTIVE_MAX);
        svc_problem(resp, 409, detail, NULL);
        goto out;
    }
    size_t ul = strlen(svc_cfg.public_url ? svc_cfg.public_url : "");
    while (ul > 0 && svc_cfg.public_url[ul - 1] == '/')
        ul--;
    snprintf(url, sizeof(url), "%.*s/v1/shared/%s", (int)ul, ul ? svc_cfg.public_url : "", token);
    body = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s}", "id", PQgetvalue(r, 0, 0), "label",
                     label, "categories", consent_categories_to_json(cats), "expires_at",
                     rec_time_json(r, 0, 2), "created_at", rec_time_json(r, 0, 1), "token", token,
                     "url", url);
    details = json_pack("{s:o}", "categories", consent_categories_to_json(cats));
    if (!body || !details)
        goto out;
    if (svc_audit(req, "share.create", "share", PQgetvalue(r, 0, 0), details) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 201, body);
    body = NULL;
out:
    json_decref(body);
    json_decref(details);
    PQclear(r);
    svc_v_free(&v);
}

/* GET /v1/me/shares?limit=&cursor= : the member's links, newest first, without tokens. */
void h_share_list(struct svc_req *req, struct svc_resp *resp)
{
    /* clang-format off */
    static const char *sql =
        "SELECT id, label, categories, " TS("created_at") ", " TS("expires_at") ", "
        TS("revoked_at") ", " TS("last_access_at") ", access_count, "
        "CASE WHEN revoked_at IS NOT NULL THEN 'revoked' "
        "WHEN expires_at <= now() THEN 'expired' ELSE 'active' END "
        "FROM share WHERE member_id = $1::uuid "
        "AND ($2::text IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid)) "
        "ORDER BY created_at DESC, id DESC LIMIT $4::int";
    /* clang-format on */
    struct svc_v v;
    char fields[2][64], slimit[16];
    PGresult *r = NULL;
    json_t *items = NULL, *next = NULL;

    svc_v_init(&v, NULL);
    int limit = parse_limit(req, &v);
    int has = parse_cursor(req, &v, "share.list", false, fields);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(slimit, sizeof(slimit), "%d", limit + 1);
    const char *params[] = {req->who.account_id, has ? fields[0] : NULL, has ? fields[1] : NULL,
                            slimit};
    if (!(r = db_prep(req->db, "share_list", sql, 4, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    int n = PQntuples(r);
    if (!(items = json_array()))
        goto out;
    for (int i = 0; i < n && i < limit; i++) {
        json_t *it = json_pack(
            "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:s}", "id", PQgetvalue(r, i, 0), "label",
            PQgetvalue(r, i, 1), "categories",
            consent_categories_to_json((unsigned)strtoul(PQgetvalue(r, i, 2), NULL, 10)),
            "created_at", rec_time_json(r, i, 3), "expires_at", rec_time_json(r, i, 4),
            "revoked_at", rec_time_json(r, i, 5), "last_access_at", rec_time_json(r, i, 6),
            "access_count", (json_int_t)strtoll(PQgetvalue(r, i, 7), NULL, 10), "status",
            PQgetvalue(r, i, 8));
        if (json_array_append_new(items, it) < 0)
            goto out;
    }
    next = n > limit
               ? cursor_json("share.list", PQgetvalue(r, limit - 1, 3), PQgetvalue(r, limit - 1, 0))
               : json_null();
    if (!next)
        goto out;
    svc_json(resp, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
    items = next = NULL;
out:
    json_decref(items);
    json_decref(next);
    PQclear(r);
    svc_v_free(&v);
}

/* DELETE /v1/me/shares/{id}: revoke at once (204). Revoking a revoked link changes nothing and
 * answers 204 again; another member's or an unknown id is 404. Audits before locking the row (see
 * "Lock order"); should another request revoke or erase the link in between, the answer is 409 and
 * nothing is written. */
void h_share_revoke(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = NULL;

    svc_problem(resp, 404, "no such share", NULL);
    if (req->nparams < 1 || !svc_is_uuid(req->params[0]))
        goto out;
    const char *params[] = {req->who.account_id, req->params[0]};
    if (!(r = db_prep(req->db, "share_revoke_get",
                      "SELECT revoked_at IS NULL FROM share WHERE member_id = $1::uuid AND id = "
                      "$2::uuid",
                      2, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1)
        goto out;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        svc_json(resp, 204, NULL);
        goto out;
    }
    PQclear(r);
    r = NULL;
    if (svc_audit(req, "share.revoke", "share", req->params[0], NULL) < 0 ||
        !(r = db_prep(req->db, "share_revoke",
                      "UPDATE share SET revoked_at = now() WHERE member_id = $1::uuid "
                      "AND id = $2::uuid AND revoked_at IS NULL",
                      2, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        svc_problem(resp, 409, "the link changed meanwhile; retry", NULL);
        goto out;
    }
    svc_json(resp, 204, NULL);
out:
    PQclear(r);
}

/* ---- the link holder's side ---- */

/* GET /v1/shared/{token}: whose link it is, its label, categories and expiry. */
void h_shared_summary(struct svc_req *req, struct svc_resp *resp)
{
    struct link lk;
    json_t *summary = NULL;
    if (resolve(req, resp, 0, &lk, &summary) == 1)
        answer(req, resp, &lk, "summary", summary);
}

/* GET /v1/shared/{token}/profile: as GET /v1/me/profile (404 when the member has none). */
void h_shared_profile(struct svc_req *req, struct svc_resp *resp)
{
    char sql[2048];
    struct link lk;
    PGresult *r = NULL;

    if (resolve(req, resp, CONSENT_DEMOGRAPHICS, &lk, NULL) != 1)
        goto out;
    int len = snprintf(sql, sizeof(sql), "SELECT %s FROM member_profile WHERE member_id = $1::uuid",
                       rec_profile_columns);
    if (len < 0 || (size_t)len >= sizeof(sql))
        goto out;
    const char *params[] = {lk.member_id};
    if (!(r = db_prep(req->db, "share_profile", sql, 1, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1) {
        svc_problem(resp, 404, NOT_SHARED, NULL);
        goto out;
    }
    answer(req, resp, &lk, "profile", rec_profile_json(r, 0));
out:
    PQclear(r);
}

/* A top-level shared listing: the member's rows of one table, newest first by (key, id). */
struct listing {
    const char *resource; /* the audit detail */
    const char *scope;    /* cursor scope */
    unsigned category;
    const char *table;
    const char *const *columns;
    json_t *(*to_json)(PGresult *r, int row);
    const char *key;      /* sort column, qualified */
    const char *key_text; /* the key as text that casts back exactly (the cursor) */
    bool date_key;        /* a date, else a timestamptz */
    const char *stmt;     /* prepared statement name */
};

/* Children embedded in each parent of a page: the newest CHILDREN_MAX per parent. */
struct children {
    const char *field; /* "doses" */
    const char *table;
    const char *const *columns;
    json_t *(*to_json)(PGresult *r, int row);
    const char *ref;   /* the column naming the parent */
    const char *order; /* newest first, over columns of alias x */
    const char *stmt;
};

/* Fetch the children of the parents whose ids are in ids_literal (a PostgreSQL uuid[] literal) and
 * append each to byid[parent id][field] (borrowed arrays), newest first. Returns 0 or -1 (database
 * error). */
static int attach(struct db_conn *db, const char *member_id, const struct children *c,
                  const char *ids_literal, json_t *byid)
{
    char sql[4096];
    PGresult *r;
    /* rn numbers each parent's children in order; sorting by it keeps every parent's order. */
    int len = snprintf(
        sql, sizeof(sql),
        "SELECT %s, %s.%s::text AS share_parent FROM %s JOIN (SELECT k.id, k.rn FROM "
        "unnest($2::uuid[]) AS p(ref) CROSS JOIN LATERAL (SELECT x.id, row_number() OVER (ORDER BY "
        "%s) AS rn FROM %s x WHERE x.member_id = $1::uuid AND x.%s = p.ref ORDER BY %s LIMIT %d) "
        "k) "
        "o ON %s.member_id = $1::uuid AND %s.id = o.id ORDER BY o.rn",
        *c->columns, c->table, c->ref, c->table, c->order, c->table, c->ref, c->order, CHILDREN_MAX,
        c->table, c->table);
    if (len < 0 || (size_t)len >= sizeof(sql))
        return -1;
    const char *params[] = {member_id, ids_literal};
    if (!(r = db_prep(db, c->stmt, sql, 2, params)))
        return -1;
    int n = PQntuples(r), last = PQnfields(r) - 1;
    for (int i = 0; i < n; i++) {
        json_t *parent = json_object_get(byid, PQgetvalue(r, i, last));
        json_t *arr = json_object_get(parent, c->field);
        if (arr)
            json_array_append_new(arr, c->to_json(r, i));
    }
    PQclear(r);
    return 0;
}

static void shared_list(struct svc_req *req, struct svc_resp *resp, const struct listing *l,
                        const struct children *kids, size_t nkids)
{
    char sql[4096], fields[2][64], slimit[16];
    struct link lk;
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL, *next = NULL, *byid = NULL;
    char *ids = NULL;

    svc_v_init(&v, NULL);
    if (resolve(req, resp, l->category, &lk, NULL) != 1)
        goto out;
    int limit = parse_limit(req, &v);
    int has = parse_cursor(req, &v, l->scope, l->date_key, fields);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    int len = snprintf(
        sql, sizeof(sql),
        "SELECT %s, %s AS share_key, %s.id::text AS share_id FROM %s WHERE %s.member_id = $1::uuid "
        "AND ($2::text IS NULL OR (%s, %s.id) < ($2::%s, $3::uuid)) "
        "ORDER BY %s DESC, %s.id DESC LIMIT $4::int",
        *l->columns, l->key_text, l->table, l->table, l->table, l->key, l->table,
        l->date_key ? "date" : "timestamptz", l->key, l->table);
    if (len < 0 || (size_t)len >= sizeof(sql))
        goto out; /* cannot happen with the static tables below; never run a truncated query */
    snprintf(slimit, sizeof(slimit), "%d", limit + 1);
    const char *params[] = {lk.member_id, has ? fields[0] : NULL, has ? fields[1] : NULL, slimit};
    if (!(r = db_prep(req->db, l->stmt, sql, 4, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    int n = PQntuples(r), nf = PQnfields(r);
    int shown = n < limit ? n : limit;
    if (!(items = json_array()) || !(byid = json_object()) ||
        !(ids = malloc((size_t)shown * (SVC_ID_LEN + 1) + 3)))
        goto out;
    size_t pos = 0;
    ids[pos++] = '{';
    for (int i = 0; i < shown; i++) {
        json_t *it = l->to_json(r, i);
        if (!it || json_array_append_new(items, it) < 0)
            goto out;
        for (size_t k = 0; k < nkids; k++)
            json_object_set_new(it, kids[k].field, json_array());
        const char *id = PQgetvalue(r, i, nf - 1); /* a uuid: 36 bytes */
        json_object_set(byid, id, it);
        if (i)
            ids[pos++] = ',';
        memcpy(ids + pos, id, SVC_ID_LEN - 1);
        pos += SVC_ID_LEN - 1;
    }
    ids[pos++] = '}';
    ids[pos] = '\0';
    for (size_t k = 0; shown > 0 && k < nkids; k++) {
        if (attach(req->db, lk.member_id, &kids[k], ids, byid) < 0) {
            svc_problem_db(resp, req->db);
            goto out;
        }
    }
    next = n > limit ? cursor_json(l->scope, PQgetvalue(r, limit - 1, nf - 2),
                                   PQgetvalue(r, limit - 1, nf - 1))
                     : json_null();
    if (!next)
        goto out;
    answer(req, resp, &lk, l->resource,
           json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
    items = next = NULL;
out:
    free(ids);
    json_decref(byid);
    json_decref(items);
    json_decref(next);
    PQclear(r);
    svc_v_free(&v);
}

#define DATE_KEY(col) .key = col, .key_text = "to_char(" col ", 'YYYY-MM-DD')", .date_key = true
#define TIME_KEY(col) .key = col, .key_text = TS(col), .date_key = false

/* GET /v1/shared/{token}/conditions: as GET /v1/me/conditions, newest diagnosis first. */
void h_shared_conditions(struct svc_req *req, struct svc_resp *resp)
{
    static const struct listing l = {.resource = "conditions",
                                     .scope = "share.conditions",
                                     .category = CONSENT_CONDITIONS,
                                     .table = "member_condition",
                                     .columns = &rec_condition_columns,
                                     .to_json = rec_condition_json,
                                     DATE_KEY("member_condition.diagnosed_date"),
                                     .stmt = "share_conditions"};
    shared_list(req, resp, &l, NULL, 0);
}

/* GET /v1/shared/{token}/symptoms: as GET /v1/me/symptoms, newest first. */
void h_shared_symptoms(struct svc_req *req, struct svc_resp *resp)
{
    static const struct listing l = {.resource = "symptoms",
                                     .scope = "share.symptoms",
                                     .category = CONSENT_SYMPTOMS,
                                     .table = "symptom_entry",
                                     .columns = &rec_symptom_columns,
                                     .to_json = rec_symptom_json,
                                     TIME_KEY("symptom_entry.recorded_at"),
                                     .stmt = "share_symptoms"};
    shared_list(req, resp, &l, NULL, 0);
}

/* GET /v1/shared/{token}/medications: as GET /v1/me/medications, latest start first, each with
 * its newest CHILDREN_MAX doses and evaluations (as the member's dose and evaluation lists). */
void h_shared_medications(struct svc_req *req, struct svc_resp *resp)
{
    static const struct listing l = {.resource = "medications",
                                     .scope = "share.medications",
                                     .category = CONSENT_MEDICATIONS,
                                     .table = "medication",
                                     .columns = &rec_medication_columns,
                                     .to_json = rec_medication_json,
                                     DATE_KEY("medication.started_on"),
                                     .stmt = "share_medications"};
    static const struct children kids[] = {
        {"doses", "medication_dose", &rec_dose_columns, rec_dose_json, "medication_ref",
         "coalesce(x.scheduled_at, x.taken_at, x.created_at) DESC, x.id DESC", "share_doses"},
        {"evaluations", "medication_evaluation", &rec_evaluation_columns, rec_evaluation_json,
         "medication_ref", "x.evaluated_on DESC, x.id DESC", "share_evaluations"},
    };
    shared_list(req, resp, &l, kids, 2);
}

/* GET /v1/shared/{token}/goals: as GET /v1/me/goals, newest first, each with its newest
 * CHILDREN_MAX progress points (as the member's progress list). */
void h_shared_goals(struct svc_req *req, struct svc_resp *resp)
{
    static const struct listing l = {.resource = "goals",
                                     .scope = "share.goals",
                                     .category = CONSENT_GOALS,
                                     .table = "goal",
                                     .columns = &rec_goal_columns,
                                     .to_json = rec_goal_json,
                                     TIME_KEY("goal.created_at"),
                                     .stmt = "share_goals"};
    static const struct children kids[] = {
        {"progress", "goal_progress", &rec_progress_columns, rec_progress_json, "goal_ref",
         "x.recorded_at DESC, x.id DESC", "share_progress"},
    };
    shared_list(req, resp, &l, kids, 1);
}
