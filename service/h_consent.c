/* Consent API: a member's grants (versioned), withdrawal, signed receipts, the policies, and the
 * record of each use of the member's data. The model and the SQL rules are in
 * schema/0004_consent.sql; the rules themselves in consent/consent.h. */
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "consent_store.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "receipt.h"
#include "record.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set once by svc_consent_init before any thread starts, then only read. */
static EVP_PKEY *receipt_key;
static char *receipt_pem;
static char receipt_kid[17];

#define MAX_ACTIVE 200   /* active grants one member may hold at once */
#define MAX_GRANTS 1000  /* grants one member may ever make (withdrawn ones stay in the history) */
#define MAX_VERSIONS 100 /* versions of one grant */
#define LIST_DEFAULT 50
#define LIST_MAX 500
#define TIME_MIN 946684800LL   /* 2000-01-01T00:00:00Z: the schema's bounds */
#define FROM_MAX 7258118400LL  /* 2200-01-01T00:00:00Z, exclusive */
#define UNTIL_MAX 7258204800LL /* 2200-01-02T00:00:00Z, inclusive */

/* Statements that embed the time format (kept unformatted so each reads as SQL). */
/* clang-format off */
#define READ_BACK_SQL                                                                              \
    "SELECT " SVC_CONSENT_JSON_COLUMNS ", p.sha256, floor(extract(epoch FROM now()))::bigint, "    \
    SVC_CONSENT_TS("now()") " "                                                                    \
    "FROM consent_grant JOIN consent_policy p ON p.version = consent_grant.policy_version "        \
    "WHERE consent_grant.member_id = $1 AND consent_grant.id = $2 "                                \
    "AND consent_grant.version = $3::int"
#define DATA_USE_SQL                                                                               \
    "SELECT kind, object_id, title, purpose, categories, " SVC_CONSENT_TS("at") ", "               \
    "(extract(epoch FROM at) * 1000000)::bigint, seq FROM data_use "                               \
    "WHERE member_id = $1 AND ($2::bigint IS NULL OR (at, seq) < "                                 \
    "(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::bigint)) "                  \
    "ORDER BY at DESC, seq DESC LIMIT $4::int"
#define POLICIES_SQL                                                                               \
    "SELECT version, title, body, sha256, " SVC_CONSENT_TS("published_at") " "                     \
    "FROM consent_policy ORDER BY version LIMIT 1000"
/* clang-format on */

int svc_consent_init(void)
{
    char err[256] = "";
    int rc = -1;

    if (!(receipt_key = consent_key_load_or_create(svc_cfg.key_file, err, sizeof(err)))) {
        svc_log(LOG_ERROR, "cannot load or create the consent receipt key %s: %s", svc_cfg.key_file,
                err);
        goto out;
    }
    consent_key_id(receipt_key, receipt_kid);
    if (!(receipt_pem = consent_key_public_pem(receipt_key)) || !receipt_kid[0]) {
        svc_log(LOG_ERROR, "cannot derive the public consent receipt key");
        goto out;
    }
    svc_log(LOG_INFO, "consent receipts are signed with key %s", receipt_kid);
    rc = 0;
out:
    return rc;
}

/* ---- input ---- */

/* A grant's fields as given. For PATCH, has_* say which were given. */
struct grant_in {
    int effect, purpose;      /* -1: not given */
    unsigned categories;      /* 0: not given */
    const json_t *conditions; /* borrowed array; NULL: not given */
    bool clear_conditions;    /* given as null (or restrictions: null) */
    bool has_nc, nc, has_nfp, nfp;
    bool has_from, has_until, until_open;
    int64_t from, until;
    bool has_policy, policy_latest;
    long long policy;
    int nfields; /* fields given, for PATCH */
};

static const char *const effects[] = {"permit", "deny", NULL};
static const char *const purposes[] = {"research", "trial_recruitment", "community", "share", NULL};
static const char *const grant_fields[] = {"effect",         "purpose",    "categories",
                                           "restrictions",   "valid_from", "valid_until",
                                           "policy_version", NULL};
static const char *const restriction_fields[] = {"conditions", "non_commercial",
                                                 "not_for_profit_only", NULL};

/* A catalog id's shape (schema/0002_catalog.sql); existence is checked in the database. */
static bool id_shaped(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* valid_from / valid_until: a date YYYY-MM-DD (valid_from: that day 00:00 UTC; valid_until:
 * inclusive, so the next day 00:00 UTC) or an RFC 3339 timestamp in whole seconds. Grants count
 * whole seconds (consent.h), so a fraction is refused rather than rounded. */
static int v_instant(struct svc_v *v, const json_t *obj, const char *key, bool until, int64_t *out)
{
    const char *s;
    int y, m, d;
    int64_t t;
    int rc = svc_v_str(v, obj, key, false, 1, 64, &s);

    if (rc != SVC_V_OK)
        return rc;
    if (strlen(s) == 10 && svc_parse_date(s, &y, &m, &d) == 0) {
        struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
        t = (int64_t)timegm(&tm) + (until ? 86400 : 0);
    } else if (svc_parse_time(s, &t) == 0) {
        const char *frac = strlen(s) > 19 && s[19] == '.' ? s + 20 : "";
        while (*frac == '0')
            frac++;
        if (*frac >= '1' && *frac <= '9') {
            svc_v_error(v, key, "must be in whole seconds");
            return SVC_V_BAD;
        }
    } else {
        svc_v_error(v, key,
                    "must be a date YYYY-MM-DD or an RFC 3339 timestamp with an offset, e.g. "
                    "2026-11-21T08:30:00+01:00");
        return SVC_V_BAD;
    }
    if (t < TIME_MIN || t >= (until ? UNTIL_MAX + 1 : FROM_MAX)) {
        svc_v_error(v, key, "must lie between 2000-01-01 and 2199-12-31");
        return SVC_V_BAD;
    }
    *out = t;
    return SVC_V_OK;
}

/* restrictions.conditions: at most CONSENT_MAX_CONDITIONS distinct catalog-shaped ids. */
static void v_conditions(struct svc_v *v, const json_t *a)
{
    size_t i, j;
    json_t *e;

    if (!json_is_array(a)) {
        svc_v_error(v, "restrictions.conditions", "must be an array of catalog condition ids");
        return;
    }
    if (json_array_size(a) > CONSENT_MAX_CONDITIONS) {
        svc_v_error(v, "restrictions.conditions", "must hold at most %d conditions",
                    CONSENT_MAX_CONDITIONS);
        return;
    }
    json_array_foreach(a, i, e)
    {
        char field[64];
        snprintf(field, sizeof(field), "restrictions.conditions[%zu]", i);
        if (!json_is_string(e) || !id_shaped(json_string_value(e))) {
            svc_v_error(v, field, "must be a catalog condition id");
            continue;
        }
        for (j = 0; j < i; j++)
            if (json_equal(e, json_array_get(a, j)))
                break;
        if (j < i)
            svc_v_error(v, field, "is repeated");
    }
}

/* Read a grant body. POST: effect, purpose and categories required; absent optional fields take
 * their defaults. PATCH: every field optional; null clears restrictions and valid_until. */
static void parse_grant(struct svc_v *v, const json_t *body, bool patch, struct grant_in *in)
{
    int rc;
    json_t *val;

    memset(in, 0, sizeof(*in));
    in->effect = in->purpose = -1;
    svc_v_only(v, body, grant_fields);
    in->nfields = (int)json_object_size(body);

    rc = svc_v_enum(v, body, "effect", !patch, effects, &in->effect);
    if (rc == SVC_V_NULL)
        svc_v_error(v, "effect", "must not be null");
    rc = svc_v_enum(v, body, "purpose", !patch, purposes, &in->purpose);
    if (rc == SVC_V_NULL)
        svc_v_error(v, "purpose", "must not be null");

    if (svc_v_categories(v, body, "categories", !patch, &in->categories) == SVC_V_NULL)
        svc_v_error(v, "categories", "must not be null");

    val = json_object_get(body, "restrictions");
    if (val && json_is_null(val)) {
        /* No restrictions: any condition focus, any funder. */
        in->clear_conditions = in->has_nc = in->has_nfp = true;
        in->nc = in->nfp = false;
    } else if (val && !json_is_object(val)) {
        svc_v_error(v, "restrictions", "must be an object");
    } else if (val) {
        struct svc_v sub;
        svc_v_init(&sub, "restrictions");
        svc_v_only(&sub, val, restriction_fields);
        rc = svc_v_bool(&sub, val, "non_commercial", false, &in->nc);
        in->has_nc = rc == SVC_V_OK || rc == SVC_V_NULL;
        rc = svc_v_bool(&sub, val, "not_for_profit_only", false, &in->nfp);
        in->has_nfp = rc == SVC_V_OK || rc == SVC_V_NULL;
        json_array_extend(v->errors, sub.errors);
        svc_v_free(&sub);
        json_t *c = json_object_get(val, "conditions");
        if (json_is_null(c)) {
            in->clear_conditions = true;
        } else if (c) {
            v_conditions(v, c);
            in->conditions = c;
        }
    }

    rc = v_instant(v, body, "valid_from", false, &in->from);
    in->has_from = rc == SVC_V_OK;
    if (rc == SVC_V_NULL && patch)
        svc_v_error(v, "valid_from", "must not be null");
    rc = v_instant(v, body, "valid_until", true, &in->until);
    in->has_until = rc == SVC_V_OK || rc == SVC_V_NULL;
    in->until_open = rc == SVC_V_NULL;

    rc = svc_v_int(v, body, "policy_version", false, 1, 1000000, &in->policy);
    in->has_policy = rc == SVC_V_OK || rc == SVC_V_NULL;
    in->policy_latest = rc == SVC_V_NULL;
}

/* What the database knows: its clock (grants count from the database's now), the latest policy,
 * whether a requested policy exists, and which conditions are not in the catalog (recorded as
 * errors). Returns 0, or -1 on a database failure (resp answered). */
static int check_with_db(struct svc_req *req, struct svc_resp *resp, struct svc_v *v,
                         const struct grant_in *in, int64_t *now, long long *latest,
                         bool *policy_ok)
{
    char policy[24], *conds = NULL;
    json_t *look = json_array(), *bad = NULL, *e;
    PGresult *r = NULL;
    size_t i;
    int rc = -1;

    if (!look)
        goto out;
    snprintf(policy, sizeof(policy), "%lld", in->policy);
    /* Look up [index, id] for each well-formed id once; v_conditions reported the others. */
    if (json_array_size(in->conditions) <= CONSENT_MAX_CONDITIONS) {
        json_array_foreach(in->conditions, i, e)
        {
            size_t j = 0;
            if (!json_is_string(e) || !id_shaped(json_string_value(e)))
                continue;
            while (j < i && !json_equal(e, json_array_get(in->conditions, j)))
                j++;
            if (j == i && json_array_append_new(look, json_pack("[I, O]", (json_int_t)i, e)) < 0)
                goto out;
        }
    }
    if (!(conds = json_dumps(look, JSON_COMPACT)))
        goto out;
    const char *params[] = {conds, in->has_policy && !in->policy_latest ? policy : NULL};
    r = db_prep(req->db, "consent_check_input",
                "SELECT floor(extract(epoch FROM now()))::bigint, "
                "(SELECT coalesce(max(version), 0) FROM consent_policy), "
                "$2::int IS NULL OR EXISTS (SELECT 1 FROM consent_policy WHERE version = $2::int), "
                "(SELECT coalesce(json_agg((x->>0)::int ORDER BY (x->>0)::int), '[]')::text "
                " FROM json_array_elements($1::json) AS x "
                " WHERE NOT EXISTS (SELECT 1 FROM catalog_condition k WHERE k.id = x->>1))",
                2, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    *now = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *latest = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    *policy_ok = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    bad = json_loads(PQgetvalue(r, 0, 3), 0, NULL);
    json_array_foreach(bad, i, e)
    {
        char field[64];
        snprintf(field, sizeof(field), "restrictions.conditions[%lld]",
                 (long long)json_integer_value(e));
        svc_v_error(v, field, "is not a condition in the catalog (see /v1/catalog/conditions)");
    }
    if (!*policy_ok)
        svc_v_error(v, "policy_version",
                    "is not a published policy version (see /v1/consent/policies)");
    rc = 0;
out:
    free(conds);
    json_decref(look);
    json_decref(bad);
    PQclear(r);
    return rc;
}

/* A condition list as JSON text for SQL: new malloc'd string, "[]" for none; NULL when out of
 * memory. */
static char *conditions_text(const json_t *a)
{
    return a ? json_dumps(a, JSON_COMPACT) : strdup("[]");
}

/* ---- receipts ---- */

/* A random (version 4) UUID into out[37]. Returns 0 or -1. */
/* The Kantara-style receipt payload. grant is borrowed. New reference or NULL. */
static json_t *receipt_payload(const char *member_id, const char *receipt_id, long long iat,
                               const char *timestamp, json_t *grant, const char *policy_sha,
                               const char *event)
{
    static const char *const keys[] = {
        "id",           "version",    "effect",      "purpose", "categories",
        "restrictions", "valid_from", "valid_until", "status",  NULL};
    json_t *g = json_object();
    for (int i = 0; g && keys[i]; i++)
        if (json_object_set(g, keys[i], json_object_get(grant, keys[i])) < 0) {
            json_decref(g);
            g = NULL;
        }
    if (!g)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:{s:s}, s:{s:s, s:s}, s:s, s:O, s:s, s:s, s:o}",
                     "version", "KI-CR-v1.1.0", "jurisdiction", "EU", "receipt_id", receipt_id,
                     "iat", (json_int_t)iat, "timestamp", timestamp, "principal", "id", member_id,
                     "controller", "name", "CareCommons", "contact", "privacy@carecommons.example",
                     "policy_url", "/v1/consent/policies", "policy_version",
                     json_object_get(grant, "policy_version"), "policy_sha256", policy_sha, "event",
                     event, "grant", g);
}

/* After a write: read the grant version back, sign a receipt, record the event and the audit row,
 * and answer status with the grant and its receipt. */
static void finish(struct svc_req *req, struct svc_resp *resp, const char *grant_id,
                   const char *version, const char *event, const char *action, int status)
{
    PGresult *r = NULL, *e = NULL;
    json_t *grant = NULL, *payload = NULL, *details = NULL;
    char receipt_id[37], *jws = NULL;

    svc_problem(resp, 500, NULL, NULL);
    const char *params[] = {req->who.account_id, grant_id, version};
    r = db_prep(req->db, "consent_read_back", READ_BACK_SQL, 3, params);
    if (!r || PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    const int c = SVC_CONSENT_JSON_NCOLUMNS;
    json_t *ts = rec_time_json(r, 0, c + 2);
    if (!(grant = svc_consent_grant_json(r, 0, 0)) || svc_uuid4(receipt_id) < 0 || !ts ||
        !(payload = receipt_payload(req->who.account_id, receipt_id,
                                    strtoll(PQgetvalue(r, 0, c + 1), NULL, 10),
                                    json_string_value(ts), grant, PQgetvalue(r, 0, c), event)) ||
        !(jws = consent_jws_sign(receipt_key, receipt_kid, payload))) {
        json_decref(ts);
        svc_log(LOG_ERROR, "cannot sign a consent receipt");
        goto out;
    }
    json_decref(ts);
    const char *eparams[] = {req->who.account_id, grant_id, version, event, receipt_id, jws};
    if (!(e = db_prep(
              req->db, "consent_event_insert",
              "INSERT INTO consent_event (member_id, grant_id, version, event, at, receipt_id, "
              "receipt) VALUES ($1, $2, $3::int, $4, now(), $5, $6)",
              6, eparams))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    /* Who changed which consent and when; never what it covers (condition ids are health data). */
    details = json_pack("{s:O, s:s, s:s}", "version", json_object_get(grant, "version"), "event",
                        event, "receipt_id", receipt_id);
    if (!details || svc_audit(req, action, "consent", grant_id, details) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (json_object_set_new(grant, "receipt", json_string(jws)) < 0)
        goto out;
    svc_json(resp, status, grant);
    grant = NULL;
out:
    PQclear(r);
    PQclear(e);
    json_decref(grant);
    json_decref(payload);
    json_decref(details);
    free(jws);
}

/* ---- grants ---- */

#define GRANT_INSERT_SQL                                                                           \
    "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, conditions, " \
    "non_commercial, not_for_profit_only, valid_from, valid_until, status, policy_version) "       \
    "VALUES ($1, coalesce($2::uuid, gen_random_uuid()), $3::int, $4, $5, $6::int, "                \
    "ARRAY(SELECT c.id FROM json_array_elements_text($7::json) WITH ORDINALITY AS c(id, n) "       \
    "ORDER BY c.n), $8::bool, $9::bool, to_timestamp($10::bigint), to_timestamp($11::bigint), "    \
    "'active', $12::int) RETURNING id, version"

/* Insert one grant version. The fields are final. Returns the new row (id, version) or NULL. */
static PGresult *insert_version(struct db_conn *db, const char *member_id, const char *grant_id,
                                int version, int effect, int purpose, unsigned categories,
                                const char *conditions, bool nc, bool nfp, int64_t from, bool open,
                                int64_t until, long long policy)
{
    char sver[16], scat[16], sfrom[24], suntil[24], spol[24];
    snprintf(sver, sizeof(sver), "%d", version);
    snprintf(scat, sizeof(scat), "%u", categories);
    snprintf(sfrom, sizeof(sfrom), "%lld", (long long)from);
    snprintf(suntil, sizeof(suntil), "%lld", (long long)until);
    snprintf(spol, sizeof(spol), "%lld", policy);
    const char *params[] = {member_id,
                            grant_id,
                            sver,
                            effects[effect],
                            purposes[purpose],
                            scat,
                            conditions,
                            nc ? "t" : "f",
                            nfp ? "t" : "f",
                            sfrom,
                            open ? NULL : suntil,
                            spol};
    return db_prep(db, "consent_grant_insert", GRANT_INSERT_SQL, 12, params);
}

/* The period's own rules, once the database clock is known. */
static void check_period(struct svc_v *v, int64_t now, int64_t from, bool open, int64_t until,
                         bool until_given)
{
    if (open)
        return;
    if (until_given && until <= now)
        svc_v_error(v, "valid_until", "must be in the future");
    else if (until <= from)
        svc_v_error(v, until_given ? "valid_until" : "valid_from",
                    until_given ? "must be after valid_from" : "must be before valid_until");
}

/* Serialise this member's consent writes: the same lock as the schema's limit trigger. Each write
 * then reads the latest committed state (read committed: every statement takes a new snapshot). */
static int lock_member(struct svc_req *req)
{
    const char *params[] = {req->who.account_id};
    PGresult *r =
        db_prep(req->db, "consent_member_lock",
                "SELECT pg_advisory_xact_lock(4004, hashtext($1::uuid::text))", 1, params);
    PQclear(r);
    return r ? 0 : -1;
}

void h_consent_create(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    struct grant_in in;
    PGresult *r = NULL;
    char *conds = NULL;
    int64_t now = 0;
    long long latest = 0;
    bool policy_ok = false;

    svc_v_init(&v, NULL);
    parse_grant(&v, req->body, false, &in);
    if (check_with_db(req, resp, &v, &in, &now, &latest, &policy_ok) < 0)
        goto out;
    if (!in.has_from)
        in.from = now;
    if (in.has_until && !in.until_open)
        check_period(&v, now, in.from, false, in.until, true);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    const char *p1[] = {req->who.account_id};
    if (lock_member(req) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(r = db_prep(req->db, "consent_member_counts",
                      "SELECT count(*) FILTER (WHERE status = 'active'), count(DISTINCT id) "
                      "FROM consent_grant WHERE member_id = $1",
                      1, p1))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (atoi(PQgetvalue(r, 0, 0)) >= MAX_ACTIVE) {
        svc_problem(resp, 409,
                    "you already have 200 active consents; change or withdraw one before adding "
                    "another",
                    NULL);
        goto out;
    }
    if (atoi(PQgetvalue(r, 0, 1)) >= MAX_GRANTS) {
        svc_problem(resp, 409,
                    "this account has reached the limit of 1000 consents; change an existing one",
                    NULL);
        goto out;
    }
    if (!(conds = conditions_text(in.conditions)))
        goto out;
    PQclear(r);
    r = insert_version(req->db, req->who.account_id, NULL, 1, in.effect, in.purpose, in.categories,
                       conds, in.nc, in.nfp, in.from, !in.has_until || in.until_open, in.until,
                       in.has_policy && !in.policy_latest ? in.policy : latest);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    finish(req, resp, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), "granted", "consent.grant", 201);
out:
    PQclear(r);
    free(conds);
    svc_v_free(&v);
}

/* The current version of one of the caller's grants, locked for this transaction. */
/* clang-format off */
#define CURRENT_SQL                                                                                \
    "SELECT version, effect, purpose, categories, array_to_json(conditions)::text, "               \
    "non_commercial, not_for_profit_only, extract(epoch FROM valid_from)::bigint, "                \
    "extract(epoch FROM valid_until)::bigint, status, policy_version, "                            \
    SVC_CONSENT_TS("withdrawn_at") " "                                                             \
    "FROM consent_grant WHERE member_id = $1 AND id = $2 AND status <> 'superseded' FOR UPDATE"
/* clang-format on */

/* The current version, locked. Returns the result (0 or 1 rows), or NULL on a database error. */
static PGresult *lock_current(struct svc_req *req, const char *id)
{
    const char *params[] = {req->who.account_id, id};
    if (lock_member(req) < 0)
        return NULL;
    return db_prep(req->db, "consent_current_lock", CURRENT_SQL, 2, params);
}

static int index_of(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

void h_consent_patch(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    struct grant_in in;
    PGresult *cur = NULL, *r = NULL;
    char *conds = NULL;
    int64_t now = 0;
    long long latest = 0;
    bool policy_ok = false;
    const char *id = req->nparams > 0 ? req->params[0] : NULL;

    svc_v_init(&v, NULL);
    svc_problem(resp, 404, "no such consent", NULL);
    if (!svc_is_uuid(id))
        goto out;
    parse_grant(&v, req->body, true, &in);
    if (!(cur = lock_current(req, id))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(cur) != 1)
        goto out;
    svc_problem(resp, 500, NULL, NULL);
    if (strcmp(PQgetvalue(cur, 0, 9), "withdrawn") == 0) {
        svc_problem(resp, 409,
                    "this consent was withdrawn and cannot be changed; give a new consent instead",
                    NULL);
        goto out;
    }
    int version = atoi(PQgetvalue(cur, 0, 0));
    if (version >= MAX_VERSIONS) {
        svc_problem(resp, 409,
                    "this consent has been changed 100 times; withdraw it and give a new one",
                    NULL);
        goto out;
    }
    if (in.nfields == 0 && !svc_v_failed(&v)) {
        /* Named like any other invalid input, so a client can point at it. */
        svc_v_error(&v, "body", "names no field to change: give at least one");
        svc_v_problem(&v, resp);
        goto out;
    }
    if (check_with_db(req, resp, &v, &in, &now, &latest, &policy_ok) < 0)
        goto out;

    /* The new version: given fields over the current ones. */
    int effect = in.effect >= 0 ? in.effect : index_of(effects, PQgetvalue(cur, 0, 1));
    int purpose = in.purpose >= 0 ? in.purpose : index_of(purposes, PQgetvalue(cur, 0, 2));
    unsigned categories = in.categories ? in.categories : (unsigned)atoi(PQgetvalue(cur, 0, 3));
    bool nc = in.has_nc ? in.nc : strcmp(PQgetvalue(cur, 0, 5), "t") == 0;
    bool nfp = in.has_nfp ? in.nfp : strcmp(PQgetvalue(cur, 0, 6), "t") == 0;
    int64_t from = in.has_from ? in.from : strtoll(PQgetvalue(cur, 0, 7), NULL, 10);
    bool open = in.has_until ? in.until_open : PQgetisnull(cur, 0, 8);
    int64_t until = in.has_until ? in.until : strtoll(PQgetvalue(cur, 0, 8), NULL, 10);
    long long policy = in.has_policy ? (in.policy_latest ? latest : in.policy)
                                     : strtoll(PQgetvalue(cur, 0, 10), NULL, 10);
    if (effect < 0 || purpose < 0)
        goto out;
    check_period(&v, now, from, open, until, in.has_until);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (!(conds = in.conditions || in.clear_conditions ? conditions_text(in.conditions)
                                                       : strdup(PQgetvalue(cur, 0, 4))))
        goto out;
    char sver[16];
    snprintf(sver, sizeof(sver), "%d", version);
    const char *p2[] = {req->who.account_id, id, sver};
    /* Supersede first: only one version may be current. */
    if (!(r = db_prep(req->db, "consent_supersede",
                      "UPDATE consent_grant SET status = 'superseded' "
                      "WHERE member_id = $1 AND id = $2 AND version = $3::int",
                      3, p2))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    PQclear(r);
    r = insert_version(req->db, req->who.account_id, id, version + 1, effect, purpose, categories,
                       conds, nc, nfp, from, open, until, policy);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    finish(req, resp, id, PQgetvalue(r, 0, 1), "changed", "consent.change", 200);
out:
    PQclear(cur);
    PQclear(r);
    free(conds);
    svc_v_free(&v);
}

void h_consent_withdraw(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const none[] = {NULL};
    struct svc_v v;
    PGresult *cur = NULL, *r = NULL;
    const char *id = req->nparams > 0 ? req->params[0] : NULL;

    svc_v_init(&v, NULL);
    svc_problem(resp, 404, "no such consent", NULL);
    if (!svc_is_uuid(id))
        goto out;
    if (req->body && svc_v_only(&v, req->body, none) > 0) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (!(cur = lock_current(req, id))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(cur) != 1)
        goto out;
    svc_problem(resp, 500, NULL, NULL);
    if (strcmp(PQgetvalue(cur, 0, 9), "withdrawn") == 0) {
        char detail[160];
        json_t *at = rec_time_json(cur, 0, 11);
        snprintf(detail, sizeof(detail), "this consent was already withdrawn at %s",
                 json_string_value(at) ? json_string_value(at) : "an earlier time");
        json_decref(at);
        svc_problem(resp, 409, detail, NULL);
        goto out;
    }
    const char *p2[] = {req->who.account_id, id, PQgetvalue(cur, 0, 0)};
    if (!(r = db_prep(req->db, "consent_withdraw",
                      "UPDATE consent_grant SET status = 'withdrawn', withdrawn_at = now() "
                      "WHERE member_id = $1 AND id = $2 AND version = $3::int",
                      3, p2))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    finish(req, resp, id, PQgetvalue(cur, 0, 0), "withdrawn", "consent.withdraw", 200);
out:
    PQclear(cur);
    PQclear(r);
    svc_v_free(&v);
}

void h_consent_list(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = NULL;
    json_t *items = NULL;

    const char *params[] = {req->who.account_id};
    if (!(r = db_prep(
              req->db, "consent_list",
              "SELECT " SVC_CONSENT_JSON_COLUMNS " FROM consent_grant "
              "WHERE member_id = $1 AND status <> 'superseded' ORDER BY created_at DESC, id",
              1, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(items = json_array()))
        goto out;
    for (int i = 0; i < PQntuples(r); i++)
        if (json_array_append_new(items, svc_consent_grant_json(r, i, 0)) < 0)
            goto out;
    svc_json(resp, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(r);
}

/* ---- lists ---- */

/* A non-negative decimal integer that fits a bigint (cursor fields). */
static bool digits_only(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* limit: 1..LIST_MAX, default LIST_DEFAULT. */
static void v_limit(struct svc_req *req, struct svc_v *v, int *out)
{
    const char *s = svc_arg(req, "limit");
    int n = s && digits_only(s) && strlen(s) <= 3 ? atoi(s) : 0;

    *out = LIST_DEFAULT;
    if (!s)
        return;
    if (n < 1 || n > LIST_MAX)
        svc_v_error(v, "limit", "must be an integer from 1 to %d", LIST_MAX);
    else
        *out = n;
}

void h_consent_history(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL;
    char after[64] = "0", slimit[16], next[REC_CURSOR_MAX];
    int limit;

    svc_v_init(&v, NULL);
    v_limit(req, &v, &limit);
    const char *cursor = svc_arg(req, "cursor");
    if (cursor) {
        char fields[1][64];
        if (rec_cursor_decode("consent_history", cursor, fields, 1) != 1 || !digits_only(fields[0]))
            svc_v_error(&v, "cursor", "is not a cursor this list gave");
        else
            snprintf(after, sizeof(after), "%s", fields[0]);
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(slimit, sizeof(slimit), "%d", limit + 1);
    const char *params[] = {req->who.account_id, after, slimit};
    if (!(r = db_prep(req->db, "consent_history",
                      "SELECT " SVC_CONSENT_EVENT_COLUMNS " FROM consent_event "
                      "JOIN consent_grant ON consent_grant.member_id = consent_event.member_id "
                      "AND consent_grant.id = consent_event.grant_id "
                      "AND consent_grant.version = consent_event.version "
                      "WHERE consent_event.member_id = $1 AND consent_event.seq > $2::bigint "
                      "ORDER BY consent_event.seq LIMIT $3::int",
                      3, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(items = json_array()))
        goto out;
    int n = PQntuples(r) > limit ? limit : PQntuples(r);
    for (int i = 0; i < n; i++)
        if (json_array_append_new(items, svc_consent_event_json(r, i, 0)) < 0)
            goto out;
    json_t *nc = json_null();
    if (PQntuples(r) > limit) {
        const char *f[] = {PQgetvalue(r, n - 1, 0)};
        if (rec_cursor_encode("consent_history", f, 1, next) < 0)
            goto out;
        nc = json_string(next);
    }
    svc_json(resp, 200, json_pack("{s:O, s:o}", "items", items, "next_cursor", nc));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

void h_data_uses(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    PGresult *r = NULL;
    json_t *items = NULL;
    char at[64] = "", seq[64] = "", slimit[16], next[REC_CURSOR_MAX];
    int limit;

    svc_v_init(&v, NULL);
    v_limit(req, &v, &limit);
    const char *cursor = svc_arg(req, "cursor");
    if (cursor) {
        char fields[2][64];
        if (rec_cursor_decode("data_uses", cursor, fields, 2) != 2 || !digits_only(fields[0]) ||
            !digits_only(fields[1])) {
            svc_v_error(&v, "cursor", "is not a cursor this list gave");
        } else {
            snprintf(at, sizeof(at), "%s", fields[0]);
            snprintf(seq, sizeof(seq), "%s", fields[1]);
        }
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    snprintf(slimit, sizeof(slimit), "%d", limit + 1);
    /* Newest first; the cursor holds the last row's time (microseconds since the epoch) and seq. */
    const char *params[] = {req->who.account_id, at[0] ? at : NULL, seq[0] ? seq : NULL, slimit};
    if (!(r = db_prep(req->db, "data_use_list", DATA_USE_SQL, 4, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(items = json_array()))
        goto out;
    int n = PQntuples(r) > limit ? limit : PQntuples(r);
    for (int i = 0; i < n; i++) {
        json_t *cats = consent_categories_to_json((unsigned)atoi(PQgetvalue(r, i, 4)));
        json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "kind", PQgetvalue(r, i, 0),
                                 "id", PQgetvalue(r, i, 1), "title", PQgetvalue(r, i, 2), "purpose",
                                 PQgetvalue(r, i, 3), "categories", cats ? cats : json_null(), "at",
                                 rec_time_json(r, i, 5));
        if (json_array_append_new(items, item) < 0)
            goto out;
    }
    json_t *nc = json_null();
    if (PQntuples(r) > limit) {
        const char *f[] = {PQgetvalue(r, n - 1, 6), PQgetvalue(r, n - 1, 7)};
        if (rec_cursor_encode("data_uses", f, 2, next) < 0)
            goto out;
        nc = json_string(next);
    }
    svc_json(resp, 200, json_pack("{s:O, s:o}", "items", items, "next_cursor", nc));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

/* ---- public ---- */

void h_consent_policies(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = NULL;
    json_t *items = NULL;

    if (!(r = db_prep(req->db, "consent_policies", POLICIES_SQL, 0, NULL))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(items = json_array()))
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *p = json_pack("{s:I, s:s, s:s, s:s, s:o}", "version",
                              (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "title",
                              PQgetvalue(r, i, 1), "body", PQgetvalue(r, i, 2), "sha256",
                              PQgetvalue(r, i, 3), "published_at", rec_time_json(r, i, 4));
        if (json_array_append_new(items, p) < 0)
            goto out;
    }
    svc_json(resp, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(r);
}

void h_consent_public_key(struct svc_req *req, struct svc_resp *resp)
{
    char *pem;
    if (!receipt_pem || !(pem = strdup(receipt_pem)))
        return;
    svc_text(resp, 200, "application/x-pem-file", pem, strlen(pem));
}
