/* consent_store.c - consent grants from the database into consent.h structures and into JSON. */
#include "consent_store.h"
#include "db.h"
#include "record.h"
#include "validate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

/* Strict decimal integer in [min, max]. */
static int parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "t") == 0)
        *out = true;
    else if (strcmp(s, "f") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

/* A JSON array of strings, at most CONSENT_MAX_CONDITIONS of them. New reference or NULL. */
static json_t *conditions_at(PGresult *r, int row, int col)
{
    json_t *a = NULL, *e;
    size_t i;
    if (is_null(r, row, col))
        return NULL;
    a = json_loads(PQgetvalue(r, row, col), JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(a) || json_array_size(a) > CONSENT_MAX_CONDITIONS)
        goto bad;
    json_array_foreach(a, i, e)
    {
        if (!json_is_string(e))
            goto bad;
    }
    return a;
bad:
    json_decref(a);
    return NULL;
}

void svc_consent_set_free(struct svc_consent_set *s)
{
    if (!s)
        return;
    free(s->grants);
    free(s->conds);
    json_decref(s->strings);
    memset(s, 0, sizeof(*s));
}

/* One row into *g; its condition pointers go to conds[*used..]. */
static int grant_at(PGresult *r, int row, int c, struct consent_grant *g, json_t *conds_json,
                    const char **conds, size_t *used)
{
    long long cats, from, until;
    unsigned v;
    if (is_null(r, row, c) || is_null(r, row, c + 1) || is_null(r, row, c + 2) ||
        is_null(r, row, c + 4) || is_null(r, row, c + 5) || is_null(r, row, c + 6) ||
        is_null(r, row, c + 7) || is_null(r, row, c + 8))
        return -1;
    if (consent_effect_parse(PQgetvalue(r, row, c), &g->effect) < 0 ||
        consent_purpose_parse(PQgetvalue(r, row, c + 1), &g->purpose) < 0 ||
        parse_ll(PQgetvalue(r, row, c + 2), 0, CONSENT_ALL_CATEGORIES, &cats) < 0 ||
        parse_bool(PQgetvalue(r, row, c + 4), &g->non_commercial) < 0 ||
        parse_bool(PQgetvalue(r, row, c + 5), &g->not_for_profit_only) < 0 ||
        parse_ll(PQgetvalue(r, row, c + 6), INT64_MIN, INT64_MAX, &from) < 0 ||
        parse_ll(PQgetvalue(r, row, c + 7), INT64_MIN, INT64_MAX, &until) < 0 ||
        consent_status_parse(PQgetvalue(r, row, c + 8), &g->status) < 0)
        return -1;
    g->categories = (unsigned)cats;
    g->valid_from = from;
    g->valid_until = until;
    g->nconditions = json_array_size(conds_json);
    g->conditions = g->nconditions ? conds + *used : NULL;
    for (v = 0; v < g->nconditions; v++)
        conds[(*used)++] = json_string_value(json_array_get(conds_json, v));
    return 0;
}

int svc_consent_set_from_result(PGresult *r, int row0, int nrows, int col0,
                                struct svc_consent_set *out)
{
    size_t total = 0, used = 0;
    int rc = -1;

    if (!out)
        return -1;
    memset(out, 0, sizeof(*out));
    if (!r || row0 < 0 || nrows < 0 || nrows > CONSENT_MAX_GRANTS + 1 ||
        row0 > PQntuples(r) - nrows || col0 < 0 || col0 > PQnfields(r) - SVC_CONSENT_NCOLUMNS)
        goto out;
    if (nrows == 0) {
        rc = 0;
        goto out;
    }
    if (!(out->strings = json_array()) ||
        !(out->grants = calloc((size_t)nrows, sizeof(*out->grants))))
        goto out;
    /* First pass: parse every condition list, to size one block of pointers. */
    for (int i = 0; i < nrows; i++) {
        json_t *c = conditions_at(r, row0 + i, col0 + 3);
        if (!c || json_array_append_new(out->strings, c) < 0)
            goto out;
        total += json_array_size(c);
    }
    if (!(out->conds = calloc(total ? total : 1, sizeof(*out->conds))))
        goto out;
    for (int i = 0; i < nrows; i++) {
        if (grant_at(r, row0 + i, col0, &out->grants[i], json_array_get(out->strings, (size_t)i),
                     out->conds, &used) < 0)
            goto out;
    }
    out->n = (size_t)nrows;
    rc = 0;
out:
    if (rc < 0)
        svc_consent_set_free(out);
    return rc;
}

int svc_consent_load(struct db_conn *db, const char *member_id, struct svc_consent_set *out)
{
    PGresult *r = NULL;
    int rc = -1;

    if (!out)
        return -1;
    memset(out, 0, sizeof(*out));
    if (!db || !svc_is_uuid(member_id))
        goto out;
    /* One row over the limit, so that consent_evaluate sees (and rejects) too many grants. */
    const char *params[] = {member_id};
    r = db_prep(db, "consent_store_load",
                "SELECT " SVC_CONSENT_GRANT_COLUMNS " FROM consent_grant "
                "WHERE member_id = $1 AND status = 'active' ORDER BY id LIMIT 1025",
                1, params);
    if (!r)
        goto out;
    rc = svc_consent_set_from_result(r, 0, PQntuples(r), 0, out);
out:
    PQclear(r);
    return rc;
}

int svc_consent_check(struct db_conn *db, const char *member_id, const struct consent_use *use,
                      struct consent_decision *out)
{
    struct svc_consent_set set;
    int rc = -1;

    if (!out)
        return -1;
    *out = (struct consent_decision){.permit = false, .reason = CONSENT_R_INVALID, .grant = -1};
    if (svc_consent_load(db, member_id, &set) < 0)
        goto out;
    *out = consent_evaluate(use, set.grants, set.n);
    rc = 0;
out:
    svc_consent_set_free(&set);
    return rc;
}

/* ---- JSON ---- */

static json_t *str_or_null(PGresult *r, int row, int col)
{
    return is_null(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

json_t *svc_consent_grant_json(PGresult *r, int row, int c)
{
    json_t *o = NULL, *conds = NULL, *cats = NULL;
    long long bits = 0, version = 0, policy = 0;
    bool nc, nfp;

    if (!r || row < 0 || row >= PQntuples(r) || c < 0 ||
        c > PQnfields(r) - SVC_CONSENT_JSON_NCOLUMNS)
        goto out;
    if (parse_ll(PQgetvalue(r, row, c + 1), 1, INT32_MAX, &version) < 0 ||
        parse_ll(PQgetvalue(r, row, c + 4), 1, CONSENT_ALL_CATEGORIES, &bits) < 0 ||
        parse_bool(PQgetvalue(r, row, c + 6), &nc) < 0 ||
        parse_bool(PQgetvalue(r, row, c + 7), &nfp) < 0 ||
        parse_ll(PQgetvalue(r, row, c + 11), 1, INT32_MAX, &policy) < 0 ||
        !(conds = conditions_at(r, row, c + 5)) ||
        !(cats = consent_categories_to_json((unsigned)bits)))
        goto out;
    o = json_pack("{s:o, s:I, s:o, s:o, s:O, s:{s:O, s:b, s:b}, s:o, s:o, s:o, s:I, s:o, s:o}",
                  "id", str_or_null(r, row, c), "version", (json_int_t)version, "effect",
                  str_or_null(r, row, c + 2), "purpose", str_or_null(r, row, c + 3), "categories",
                  cats, "restrictions", "conditions", conds, "non_commercial", nc,
                  "not_for_profit_only", nfp, "valid_from", rec_time_json(r, row, c + 8),
                  "valid_until", rec_time_json(r, row, c + 9), "status",
                  str_or_null(r, row, c + 10), "policy_version", (json_int_t)policy, "created_at",
                  rec_time_json(r, row, c + 12), "withdrawn_at", rec_time_json(r, row, c + 13));
out:
    json_decref(conds);
    json_decref(cats);
    return o;
}

json_t *svc_consent_event_json(PGresult *r, int row, int c)
{
    json_t *grant = NULL, *o = NULL;
    long long seq;

    if (!r || row < 0 || row >= PQntuples(r) || c < 0 ||
        c > PQnfields(r) - SVC_CONSENT_EVENT_NCOLUMNS ||
        parse_ll(PQgetvalue(r, row, c), 1, INT64_MAX, &seq) < 0 ||
        !(grant = svc_consent_grant_json(r, row, c + 5)))
        goto out;
    o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:O}", "seq", (json_int_t)seq, "event",
                  str_or_null(r, row, c + 1), "at", rec_time_json(r, row, c + 2), "receipt_id",
                  str_or_null(r, row, c + 3), "receipt", str_or_null(r, row, c + 4), "grant",
                  grant);
out:
    json_decref(grant);
    return o;
}

json_t *svc_consent_export(struct svc_req *req)
{
    PGresult *cur = NULL, *ev = NULL;
    json_t *out = NULL, *byid = NULL;
    bool ok = false;

    if (!req || !req->db || !(out = json_array()) || !(byid = json_object()))
        goto out;
    const char *params[] = {req->who.account_id};
    cur = db_prep(req->db, "consent_export_current",
                  "SELECT " SVC_CONSENT_JSON_COLUMNS " FROM consent_grant "
                  "WHERE member_id = $1 AND status <> 'superseded' ORDER BY created_at DESC, id",
                  1, params);
    if (!cur)
        goto out;
    ev = db_prep(req->db, "consent_export_events",
                 "SELECT consent_event.grant_id, " SVC_CONSENT_EVENT_COLUMNS " FROM consent_event "
                 "JOIN consent_grant ON consent_grant.member_id = consent_event.member_id "
                 "AND consent_grant.id = consent_event.grant_id "
                 "AND consent_grant.version = consent_event.version "
                 "WHERE consent_event.member_id = $1 ORDER BY consent_event.seq",
                 1, params);
    if (!ev)
        goto out;
    for (int i = 0; i < PQntuples(cur); i++) {
        json_t *g = svc_consent_grant_json(cur, i, 0);
        /* out owns g from here, also when appending fails. */
        if (!g || json_array_append_new(out, g) < 0 ||
            json_object_set_new(g, "history", json_array()) < 0 ||
            json_object_set(byid, PQgetvalue(cur, i, 0), g) < 0)
            goto out;
    }
    for (int i = 0; i < PQntuples(ev); i++) {
        const char *gid = PQgetvalue(ev, i, 0);
        json_t *g = json_object_get(byid, gid), *e = svc_consent_event_json(ev, i, 1);
        if (!e)
            goto out;
        /* Only possible if rows were written around the API: keep the event, under its grant id. */
        if (!g && (!(g = json_pack("{s:s, s:[]}", "id", gid, "history")) ||
                   json_object_set_new(byid, gid, g) < 0 || json_array_append(out, g) < 0)) {
            json_decref(e);
            goto out;
        }
        if (json_array_append_new(json_object_get(g, "history"), e) < 0)
            goto out;
    }
    ok = true;
out:
    PQclear(cur);
    PQclear(ev);
    json_decref(byid);
    if (!ok) {
        json_decref(out);
        out = NULL;
    }
    return out;
}
