/* The member health record API: profile, catalog search, the seven record resources (CRUD and
 * lists), batch writes, the changes feed and the JSON export.
 *
 * Every statement is scoped to the caller (member_id = the principal), so another member's id is
 * simply not found. Writes validate everything first (naming every bad field), then check the
 * references against the database, then create any custom items, and only then write; the
 * pipeline's transaction rolls everything back on any error. */
#include "auth.h"
#include "db.h"
#include "handlers.h"
#include "record.h"
#include "validate.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_NOTE 2000
#define MAX_REASON 500
#define MAX_TRIGGERS 20
#define MAX_TRIGGER_LEN 100
#define MAX_SIDE_EFFECTS 20
#define MAX_CUSTOM_NAME 200
#define MAX_BATCH 1000
#define MAX_NUMBER 1e9
#define LIST_DEFAULT 50
#define LIST_MAX 500
#define CHANGES_DEFAULT 100
#define CHANGES_MAX 1000
#define CATALOG_QUERY_MAX 100
/* recorded_at (and taken_at) may run this far ahead of the server clock. */
#define FUTURE_SLACK (24 * 3600)
/* "Not in the future" for dates means not after today in the earliest time zone, UTC+14. */
#define DATE_SLACK (14 * 3600)

/* ---- small helpers ---- */

/* A PostgreSQL array literal built element by element: every element quoted, NULL for NULL. */
struct arr {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void arr_put(struct arr *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b) {
            a->oom = true;
            return;
        }
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, s, n);
    a->len += n;
    a->buf[a->len] = '\0';
}

static void arr_add(struct arr *a, const char *s)
{
    arr_put(a, a->len ? "," : "{", 1);
    if (!s) {
        arr_put(a, "NULL", 4);
        return;
    }
    arr_put(a, "\"", 1);
    for (const char *p = s; *p; p++) {
        size_t run = strcspn(p, "\"\\");
        arr_put(a, p, run);
        p += run;
        if (!*p)
            break;
        arr_put(a, "\\", 1);
        arr_put(a, p, 1);
    }
    arr_put(a, "\"", 1);
}

/* The finished literal (borrowed from a), or NULL when out of memory. */
static const char *arr_end(struct arr *a)
{
    if (!a->len)
        arr_put(a, "{", 1);
    arr_put(a, "}", 1);
    return a->oom ? NULL : a->buf;
}

static void arr_free(struct arr *a)
{
    if (!a)
        return;
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
}

static bool catalog_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Today (YYYY-MM-DD) in the earliest time zone. */
static void today(time_t now, char out[11])
{
    struct tm tm;
    time_t t = now + DATE_SLACK;
    gmtime_r(&t, &tm);
    if (strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        snprintf(out, 11, "9999-12-31");
}

/* ---- the write context: validation errors and references still to check ---- */

enum ref_kind {
    REF_SYMPTOM,
    REF_CONDITION,
    REF_MEDICATION,
    REF_OWN_CONDITION,
    REF_OWN_MEDICATION,
    REF_OWN_GOAL,
    NREF
};

static const struct {
    const char *name, *sql, *message;
    bool own; /* member-owned ids (uuid, compared without case) rather than catalog ids */
} ref_check[NREF] = {
    [REF_SYMPTOM] = {"rec_ref_symptom", "SELECT id FROM catalog_symptom WHERE id = ANY($1::text[])",
                     "is not a symptom in the catalog", false},
    [REF_CONDITION] = {"rec_ref_condition",
                       "SELECT id FROM catalog_condition WHERE id = ANY($1::text[])",
                       "is not a condition in the catalog", false},
    [REF_MEDICATION] = {"rec_ref_medication",
                        "SELECT id FROM catalog_medication WHERE id = ANY($1::text[])",
                        "is not a medication in the catalog", false},
    [REF_OWN_CONDITION] = {"rec_ref_own_condition",
                           "SELECT id::text FROM member_condition WHERE member_id = $2 "
                           "AND id = ANY($1::uuid[])",
                           "is not one of your conditions", true},
    [REF_OWN_MEDICATION] =
        {"rec_ref_own_medication",
         "SELECT id::text FROM medication WHERE member_id = $2 AND id = ANY($1::uuid[])",
         "is not one of your medications", true},
    [REF_OWN_GOAL] = {"rec_ref_own_goal",
                      "SELECT id::text FROM goal WHERE member_id = $2 AND id = ANY($1::uuid[])",
                      "is not one of your goals", true},
};

struct ref {
    int kind;
    const char *value; /* borrowed from the body */
    char field[160];   /* full field name, prefix included */
};

enum { ITEM_NONE, ITEM_CATALOG, ITEM_CUSTOM };

/* A catalog-or-custom item: {"custom": name} gets its custom_item id once validation has passed. */
struct item {
    int type;
    const char *value; /* catalog id or custom name, borrowed from the body */
    char id[37];
};

struct wctx {
    struct svc_req *req;
    struct svc_v v;
    struct ref *refs;
    size_t nrefs, caprefs;
    bool oom;
    time_t now;
    char today[11];
    const char *const *envelope; /* more keys a resource's object may have (a batch item's) */
};

/* Errors of nested fields carry the path: "items[3].frequency.times_per_day". */
static void __attribute__((format(printf, 2, 3))) prefix_set(struct wctx *c, const char *fmt, ...)
{
    char buf[sizeof(c->v.prefix)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    memcpy(c->v.prefix, buf, sizeof(buf));
}

static void wctx_init(struct wctx *c, struct svc_req *req)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    svc_v_init(&c->v, NULL);
    c->now = time(NULL);
    today(c->now, c->today);
}

static void wctx_free(struct wctx *c)
{
    if (!c)
        return;
    svc_v_free(&c->v);
    free(c->refs);
}

/* An error on a field named in full (the prefix is already part of it). */
static void error_at(struct wctx *c, const char *field, const char *message)
{
    char saved[sizeof(c->v.prefix)], name[192];
    snprintf(name, sizeof(name), "%s", field); /* field may be the prefix itself */
    memcpy(saved, c->v.prefix, sizeof(saved));
    c->v.prefix[0] = '\0';
    svc_v_error(&c->v, name, "%s", message);
    memcpy(c->v.prefix, saved, sizeof(saved));
}

static void add_ref(struct wctx *c, int kind, const char *key, const char *value)
{
    if (c->nrefs == c->caprefs) {
        size_t cap = c->caprefs ? c->caprefs * 2 : 16;
        struct ref *r = realloc(c->refs, cap * sizeof(*r));
        if (!r) {
            c->oom = true;
            return;
        }
        c->refs = r;
        c->caprefs = cap;
    }
    struct ref *r = &c->refs[c->nrefs++];
    r->kind = kind;
    r->value = value;
    if (c->v.prefix[0])
        snprintf(r->field, sizeof(r->field), "%s.%s", c->v.prefix, key);
    else
        snprintf(r->field, sizeof(r->field), "%s", key);
}

/* Catalog symptom ids known to exist. Schemas 0030 and 0034 make them permanent (deleting,
 * renaming or truncating one is refused), so an id found once stays valid, and the reference check
 * skips the database for the ids it has seen: one statement less for every symptom write. Unknown
 * ids still go to the database. Shared by the handler threads; bounded, and not grown when full. */
#define KNOWN_SYMPTOMS_MAX 1024
static struct {
    pthread_rwlock_t lock;
    char ids[KNOWN_SYMPTOMS_MAX][65]; /* sorted; catalog ids are 1 to 64 characters */
    int n;
} known = {.lock = PTHREAD_RWLOCK_INITIALIZER};

/* Index of id in known.ids, or -(insertion point) - 1. Caller holds the lock. */
static int known_find(const char *id)
{
    int lo = 0, hi = known.n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, cmp = strcmp(known.ids[mid], id);
        if (cmp == 0)
            return mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

static bool symptom_known(const char *id)
{
    pthread_rwlock_rdlock(&known.lock);
    bool found = known_find(id) >= 0;
    pthread_rwlock_unlock(&known.lock);
    return found;
}

/* Remember an id the catalog returned. */
static void symptom_learn(const char *id)
{
    if (strlen(id) >= sizeof(known.ids[0]))
        return;
    pthread_rwlock_wrlock(&known.lock);
    int at = known_find(id);
    if (at < 0 && known.n < KNOWN_SYMPTOMS_MAX) {
        at = -at - 1;
        memmove(known.ids[at + 1], known.ids[at], (size_t)(known.n - at) * sizeof(known.ids[0]));
        snprintf(known.ids[at], sizeof(known.ids[0]), "%s", id);
        known.n++;
    }
    pthread_rwlock_unlock(&known.lock);
}

/* Check every recorded reference with one query per kind (none for catalog symptoms already
 * known). 0, or -1 on a database error. */
static int verify_refs(struct wctx *c)
{
    int rc = -1;
    for (int k = 0; k < NREF; k++) {
        struct arr a = {0};
        size_t n = 0;
        for (size_t i = 0; i < c->nrefs; i++)
            if (c->refs[i].kind == k && !(k == REF_SYMPTOM && symptom_known(c->refs[i].value))) {
                arr_add(&a, c->refs[i].value);
                n++;
            }
        if (!n)
            continue;
        const char *lit = arr_end(&a);
        const char *params[] = {lit, c->req->who.account_id};
        PGresult *r = lit ? db_prep(c->req->db, ref_check[k].name, ref_check[k].sql,
                                    ref_check[k].own ? 2 : 1, params)
                          : NULL;
        arr_free(&a);
        if (!r)
            goto out;
        for (int row = 0; k == REF_SYMPTOM && row < PQntuples(r); row++)
            symptom_learn(PQgetvalue(r, row, 0));
        for (size_t i = 0; i < c->nrefs; i++) {
            if (c->refs[i].kind != k)
                continue;
            bool found = k == REF_SYMPTOM && symptom_known(c->refs[i].value);
            for (int row = 0; row < PQntuples(r) && !found; row++)
                found = ref_check[k].own ? strcasecmp(PQgetvalue(r, row, 0), c->refs[i].value) == 0
                                         : strcmp(PQgetvalue(r, row, 0), c->refs[i].value) == 0;
            if (!found)
                error_at(c, c->refs[i].field, ref_check[k].message);
        }
        PQclear(r);
    }
    rc = 0;
out:
    return rc;
}

/* Find or create the member's custom items of one kind (case-insensitive names). 0, -1 on a
 * database error, or -2 when a concurrent request created one of them and its row is not visible
 * to this statement yet (the client may simply retry). */
static int resolve_customs(struct wctx *c, const char *kind, struct item **items, size_t n)
{
    static const char *ins = "INSERT INTO custom_item (member_id, kind, name) "
                             "SELECT $1, $2, x FROM unnest($3::text[]) x "
                             "ON CONFLICT (member_id, kind, lower(name)) DO NOTHING";
    static const char *sel = "SELECT n.o, c.id FROM unnest($3::text[]) WITH ORDINALITY n(name, o) "
                             "JOIN custom_item c ON c.member_id = $1 AND c.kind = $2 "
                             "AND lower(c.name) = lower(n.name)";
    struct arr a = {0};
    PGresult *r = NULL;
    int rc = -1;
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        arr_add(&a, items[i]->value);
    const char *params[] = {c->req->who.account_id, kind, arr_end(&a)};
    if (!params[2])
        goto out;
    if (!(r = db_prep(c->req->db, "rec_custom_insert", ins, 3, params)))
        goto out;
    PQclear(r);
    if (!(r = db_prep(c->req->db, "rec_custom_select", sel, 3, params)))
        goto out;
    for (int row = 0; row < PQntuples(r); row++) {
        long o = strtol(PQgetvalue(r, row, 0), NULL, 10);
        if (o >= 1 && (size_t)o <= n)
            snprintf(items[o - 1]->id, sizeof(items[o - 1]->id), "%s", PQgetvalue(r, row, 1));
    }
    rc = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i]->id[0])
            rc = -2;
out:
    PQclear(r);
    arr_free(&a);
    return rc;
}

/* ---- field getters on top of svc_v ---- */

/* {"custom": name} or a catalog id. */
static int get_item(struct wctx *c, json_t *obj, const char *key, bool required, int ref_kind,
                    bool allow_custom, struct item *it)
{
    json_t *val = json_object_get(obj, key);
    it->type = ITEM_NONE;
    it->id[0] = '\0';
    if (!val || json_is_null(val)) {
        if (!required)
            return val ? SVC_V_NULL : SVC_V_ABSENT;
        svc_v_error(&c->v, key, val ? "must not be null" : "is required");
        return SVC_V_BAD;
    }
    if (json_is_string(val)) {
        const char *s = json_string_value(val);
        if (!catalog_id_ok(s)) {
            svc_v_error(&c->v, key, "must be a catalog id (1 to 64 of a-z, 0-9 and _)");
            return SVC_V_BAD;
        }
        it->type = ITEM_CATALOG;
        it->value = s;
        add_ref(c, ref_kind, key, s);
        return SVC_V_OK;
    }
    json_t *name = json_object_get(val, "custom");
    if (allow_custom && json_is_object(val) && json_object_size(val) == 1 && json_is_string(name)) {
        size_t len = json_string_length(name);
        const char *s = json_string_value(name);
        if (len < 1 || len > MAX_CUSTOM_NAME || blank(s)) {
            svc_v_error(&c->v, key, "custom name must be 1 to %d characters, not all blank",
                        MAX_CUSTOM_NAME);
            return SVC_V_BAD;
        }
        it->type = ITEM_CUSTOM;
        it->value = s;
        return SVC_V_OK;
    }
    svc_v_error(&c->v, key,
                allow_custom ? "must be a catalog id or {\"custom\": \"name\"}"
                             : "must be a catalog id");
    return SVC_V_BAD;
}

/* RFC 3339 with an offset of at most 14 hours; out is passed to PostgreSQL. */
static int get_time(struct wctx *c, json_t *obj, const char *key, bool required, bool not_future,
                    char out[40])
{
    int64_t epoch;
    int rc = svc_v_time(&c->v, obj, key, required, &epoch, out);
    if (rc != SVC_V_OK)
        return rc;
    size_t n = strlen(out);
    for (size_t i = 0; i < n; i++)
        if (out[i] == 't' || out[i] == 'z')
            out[i] = (char)(out[i] - 32);
    if (out[n - 1] != 'Z' && strcmp(out + n - 5, "14:00") > 0) {
        svc_v_error(&c->v, key, "must have a UTC offset between -14:00 and +14:00");
        return SVC_V_BAD;
    }
    if (not_future && epoch > (int64_t)c->now + FUTURE_SLACK) {
        svc_v_error(&c->v, key, "must not be more than 24 hours in the future");
        return SVC_V_BAD;
    }
    return SVC_V_OK;
}

static int get_date(struct wctx *c, json_t *obj, const char *key, bool required, bool not_future,
                    char out[11])
{
    int rc = svc_v_date(&c->v, obj, key, required, out);
    if (rc == SVC_V_OK && not_future && strcmp(out, c->today) > 0) {
        svc_v_error(&c->v, key, "must not be in the future");
        return SVC_V_BAD;
    }
    return rc;
}

static int get_enum(struct wctx *c, json_t *obj, const char *key, bool required,
                    const char *const *values, const char **out)
{
    int idx;
    int rc = svc_v_enum(&c->v, obj, key, required, values, &idx);
    if (rc == SVC_V_OK)
        *out = values[idx];
    return rc;
}

static int get_num(struct wctx *c, json_t *obj, const char *key, bool required, double min,
                   double max, char out[40])
{
    double x;
    int rc = svc_v_num(&c->v, obj, key, required, min, max, &x);
    if (rc == SVC_V_OK)
        snprintf(out, 40, "%.15g", x);
    return rc;
}

static int get_int(struct wctx *c, json_t *obj, const char *key, bool required, long long min,
                   long long max, char out[40])
{
    long long x;
    int rc = svc_v_int(&c->v, obj, key, required, min, max, &x);
    if (rc == SVC_V_OK)
        snprintf(out, 40, "%lld", x);
    return rc;
}

/* ---- one resource's values, in its statements' parameter order ---- */

#define MAXP 14
#define NBUF 6

struct row {
    const char *p[MAXP]; /* $1 member, $2 id, then the resource's columns */
    int np;
    char id[37];
    char buf[NBUF][40]; /* formatted values the params point into */
    char *json;         /* owned: triggers as JSON text */
    /* The resource's own item: its catalog id goes to p[item_at], its custom id to p[item_at + 1].
     */
    struct item item;
    int item_at;
    struct item se[MAX_SIDE_EFFECTS];
    const char *se_severity[MAX_SIDE_EFFECTS];
    int nse;
};

static void row_init(struct row *w)
{
    memset(w, 0, sizeof(*w));
}

static void row_free(struct row *w)
{
    if (w)
        free(w->json);
}

static const char *const condition_status[] = {"active", "remission", "resolved", NULL};
static const char *const dose_units[] = {"mg",    "mcg",     "g",     "ml",      "IU", "units",
                                         "puffs", "tablets", "drops", "patches", NULL};
static const char *const stop_reasons[] = {"side_effects",  "not_effective", "cost", "remission",
                                           "doctor_advice", "other",         NULL};
static const char *const dose_status[] = {"taken", "skipped", "late", "missed", NULL};
static const char *const effectiveness_values[] = {"none",  "slight",    "moderate",
                                                   "major", "cant_tell", NULL};
static const char *const side_effect_severity[] = {"none", "mild", "moderate", "severe", NULL};
static const char *const adherence_values[] = {"always", "usually", "sometimes", "never", NULL};
static const char *const burden_values[] = {"none", "slight", "moderate", "major", NULL};
static const char *const goal_kinds[] = {"symptom_target", "adherence", "custom", NULL};
static const char *const directions[] = {"decrease", "increase", NULL};
static const char *const goal_status[] = {"active", "achieved", "abandoned", NULL};
static const char *const severity_labels[] = {"none",   "mild",        "moderate",
                                              "severe", "very_severe", NULL};
static const char *const sexes[] = {"female", "male", "intersex", "unknown", NULL};

/* YYYY, YYYY-MM or YYYY-MM-DD; first receives the first day of that period. */
static bool partial_date(const char *s, char first[11])
{
    char full[11];
    int y, m, d;
    size_t n = strlen(s);
    if (n == 4)
        snprintf(full, sizeof(full), "%s-01-01", s);
    else if (n == 7)
        snprintf(full, sizeof(full), "%s-01", s);
    else if (n == 10)
        snprintf(full, sizeof(full), "%s", s);
    else
        return false;
    if (svc_parse_date(full, &y, &m, &d) < 0 || y < 1900)
        return false;
    memcpy(first, full, 11);
    return true;
}

/* Unknown fields of a resource's object are errors; the envelope's keys are not. */
static void only(struct wctx *c, json_t *o, const char *const *fields)
{
    svc_v_only_also(&c->v, o, fields, c->envelope);
}

/* $3 condition_id, $4 custom_id, $5 diagnosed_on, $6 diagnosed_date, $7 status, $8 note */
static void parse_condition(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {"condition", "diagnosed_on", "status", "note", NULL};
    const char *s;
    only(c, o, fields);
    w->np = 8;
    w->item_at = 2;
    get_item(c, o, "condition", true, REF_CONDITION, true, &w->item);
    if (svc_v_str(&c->v, o, "diagnosed_on", true, 0, 10, &s) == SVC_V_OK) {
        if (!partial_date(s, w->buf[0]))
            svc_v_error(&c->v, "diagnosed_on", "must be YYYY, YYYY-MM or YYYY-MM-DD");
        else if (strcmp(w->buf[0], c->today) > 0)
            svc_v_error(&c->v, "diagnosed_on", "must not be in the future");
        w->p[4] = s;
        w->p[5] = w->buf[0];
    }
    w->p[6] = "active";
    get_enum(c, o, "status", false, condition_status, &w->p[6]);
    svc_v_str(&c->v, o, "note", false, 0, MAX_NOTE, &w->p[7]);
}

/* $3 symptom_id, $4 custom_id, $5 severity, $6 recorded_at, $7 duration_minutes, $8 triggers
 * (JSON), $9 note */
static void parse_symptom(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {
        "symptom",          "severity", "severity_label", "recorded_at",
        "duration_minutes", "triggers", "note",           NULL};
    long long sev = -1;
    const char *label = NULL;
    only(c, o, fields);
    w->np = 9;
    w->item_at = 2;
    get_item(c, o, "symptom", true, REF_SYMPTOM, true, &w->item);
    int rs = svc_v_int(&c->v, o, "severity", false, 0, 10, &sev);
    int rl = svc_v_enum(&c->v, o, "severity_label", false, severity_labels, &(int){0});
    if (rl == SVC_V_OK)
        label = json_string_value(json_object_get(o, "severity_label"));
    if (rs == SVC_V_OK && rl == SVC_V_OK) {
        /* Both given: they must name the same band. */
        if (strcmp(rec_severity_label((int)sev), label) != 0)
            svc_v_error(&c->v, "severity_label", "does not agree with severity %lld (%s)", sev,
                        rec_severity_label((int)sev));
    } else if (rs == SVC_V_OK) {
        ;
    } else if (rl == SVC_V_OK) {
        sev = rec_severity_from_label(label);
    } else if (rs != SVC_V_BAD && rl != SVC_V_BAD) {
        svc_v_error(&c->v, "severity", "severity (0 to 10) or severity_label is required");
    }
    if (sev >= 0) {
        snprintf(w->buf[0], sizeof(w->buf[0]), "%lld", sev);
        w->p[4] = w->buf[0];
    }
    if (get_time(c, o, "recorded_at", true, true, w->buf[1]) == SVC_V_OK)
        w->p[5] = w->buf[1];
    if (get_int(c, o, "duration_minutes", false, 0, 10080, w->buf[2]) == SVC_V_OK)
        w->p[6] = w->buf[2];
    json_t *t = json_object_get(o, "triggers"), *e;
    size_t i;
    if (t && !json_is_null(t)) {
        bool ok = true;
        if (!json_is_array(t) || json_array_size(t) > MAX_TRIGGERS) {
            svc_v_error(&c->v, "triggers", "must be an array of at most %d strings", MAX_TRIGGERS);
            ok = false;
        } else {
            json_array_foreach(t, i, e)
            {
                size_t len = json_is_string(e) ? json_string_length(e) : 0;
                if (len < 1 || len > MAX_TRIGGER_LEN || blank(json_string_value(e))) {
                    char k[32];
                    snprintf(k, sizeof(k), "triggers[%zu]", i);
                    svc_v_error(&c->v, k, "must be a string of 1 to %d characters",
                                MAX_TRIGGER_LEN);
                    ok = false;
                }
            }
        }
        if (ok && !(w->p[7] = w->json = json_dumps(t, JSON_COMPACT)))
            c->oom = true;
    }
    svc_v_str(&c->v, o, "note", false, 0, MAX_NOTE, &w->p[8]);
}

/* $3 medication_id, $4 custom_id, $5 dose_amount, $6 dose_unit, $7 freq_kind, $8 freq_value,
 * $9 started_on, $10 stopped_on, $11 stop_reason, $12 for_condition, $13 note */
static void parse_medication(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {
        "medication", "dose_amount", "dose_unit",     "frequency", "started_on",
        "stopped_on", "stop_reason", "for_condition", "note",      NULL};
    only(c, o, fields);
    w->np = 13;
    w->item_at = 2;
    get_item(c, o, "medication", true, REF_MEDICATION, true, &w->item);
    double amount;
    if (svc_v_num(&c->v, o, "dose_amount", true, 0, 100000, &amount) == SVC_V_OK) {
        if (amount <= 0)
            svc_v_error(&c->v, "dose_amount", "must be greater than 0 and at most 100000");
        snprintf(w->buf[0], sizeof(w->buf[0]), "%.15g", amount);
        w->p[4] = w->buf[0];
    }
    get_enum(c, o, "dose_unit", true, dose_units, &w->p[5]);

    json_t *f = json_object_get(o, "frequency");
    const char *fk = json_is_object(f) && json_object_size(f) == 1
                         ? json_object_iter_key(json_object_iter(f))
                         : NULL;
    if (!f || json_is_null(f)) {
        svc_v_error(&c->v, "frequency", f ? "must not be null" : "is required");
    } else if (!fk || (strcmp(fk, "times_per_day") && strcmp(fk, "every_n_days") &&
                       strcmp(fk, "as_needed"))) {
        svc_v_error(&c->v, "frequency",
                    "must be exactly one of {\"times_per_day\": n}, {\"every_n_days\": n}, "
                    "{\"as_needed\": true}");
    } else {
        char saved[sizeof(c->v.prefix)];
        memcpy(saved, c->v.prefix, sizeof(saved));
        prefix_set(c, "%s%sfrequency", saved, saved[0] ? "." : "");
        w->p[6] = strcmp(fk, "times_per_day") == 0  ? "times_per_day"
                  : strcmp(fk, "every_n_days") == 0 ? "every_n_days"
                                                    : "as_needed";
        if (strcmp(fk, "as_needed") == 0) {
            if (!json_is_true(json_object_get(f, fk)))
                svc_v_error(&c->v, fk, "must be true");
        } else if (get_int(c, f, fk, true, 1, strcmp(fk, "times_per_day") == 0 ? 24 : 365,
                           w->buf[1]) == SVC_V_OK) {
            w->p[7] = w->buf[1];
        }
        memcpy(c->v.prefix, saved, sizeof(saved));
    }
    int rs = get_date(c, o, "started_on", true, false, w->buf[2]);
    if (rs == SVC_V_OK)
        w->p[8] = w->buf[2];
    if (get_date(c, o, "stopped_on", false, false, w->buf[3]) == SVC_V_OK) {
        w->p[9] = w->buf[3];
        if (rs == SVC_V_OK && strcmp(w->buf[3], w->buf[2]) < 0)
            svc_v_error(&c->v, "stopped_on", "must not be before started_on");
    }
    get_enum(c, o, "stop_reason", false, stop_reasons, &w->p[10]);
    const char *cond;
    if (svc_v_str(&c->v, o, "for_condition", false, 0, 64, &cond) == SVC_V_OK) {
        if (!svc_is_uuid(cond))
            svc_v_error(&c->v, "for_condition", "is not one of your conditions");
        else
            add_ref(c, REF_OWN_CONDITION, "for_condition", cond);
        w->p[11] = cond;
    }
    svc_v_str(&c->v, o, "note", false, 0, MAX_NOTE, &w->p[12]);
}

/* $3 medication_ref, $4 scheduled_at, $5 taken_at, $6 status, $7 reason */
static void parse_dose(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {"scheduled_at", "taken_at", "status", "reason", NULL};
    only(c, o, fields);
    w->np = 7;
    int rs = get_time(c, o, "scheduled_at", false, false, w->buf[0]);
    int rt = get_time(c, o, "taken_at", false, true, w->buf[1]);
    if (rs == SVC_V_OK)
        w->p[3] = w->buf[0];
    if (rt == SVC_V_OK)
        w->p[4] = w->buf[1];
    if (rs != SVC_V_OK && rs != SVC_V_BAD && rt != SVC_V_OK && rt != SVC_V_BAD)
        svc_v_error(&c->v, "scheduled_at", "scheduled_at or taken_at is required");
    get_enum(c, o, "status", true, dose_status, &w->p[5]);
    svc_v_str(&c->v, o, "reason", false, 0, MAX_REASON, &w->p[6]);
}

/* $3 medication_ref, $4 evaluated_on, $5 effectiveness, $6 adherence, $7 burden, $8 note; side
 * effects in w->se. */
static void parse_evaluation(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {
        "evaluated_on", "effectiveness", "side_effects", "adherence", "burden", "note", NULL};
    static const char *const se_fields[] = {"symptom", "severity", NULL};
    only(c, o, fields);
    w->np = 8;
    if (get_date(c, o, "evaluated_on", true, true, w->buf[0]) == SVC_V_OK)
        w->p[3] = w->buf[0];
    get_enum(c, o, "effectiveness", true, effectiveness_values, &w->p[4]);
    get_enum(c, o, "adherence", true, adherence_values, &w->p[5]);
    get_enum(c, o, "burden", true, burden_values, &w->p[6]);
    svc_v_str(&c->v, o, "note", false, 0, MAX_NOTE, &w->p[7]);
    json_t *list = json_object_get(o, "side_effects"), *e;
    size_t i;
    if (!list || json_is_null(list))
        return;
    if (!json_is_array(list) || json_array_size(list) > MAX_SIDE_EFFECTS) {
        svc_v_error(&c->v, "side_effects", "must be an array of at most %d side effects",
                    MAX_SIDE_EFFECTS);
        return;
    }
    char saved[sizeof(c->v.prefix)];
    memcpy(saved, c->v.prefix, sizeof(saved));
    json_array_foreach(list, i, e)
    {
        prefix_set(c, "%s%sside_effects[%zu]", saved, saved[0] ? "." : "", i);
        if (!json_is_object(e)) {
            error_at(c, c->v.prefix, "must be an object {symptom, severity}");
            continue;
        }
        svc_v_only(&c->v, e, se_fields);
        get_item(c, e, "symptom", true, REF_SYMPTOM, true, &w->se[i]);
        get_enum(c, e, "severity", true, side_effect_severity, &w->se_severity[i]);
    }
    w->nse = (int)json_array_size(list);
    memcpy(c->v.prefix, saved, sizeof(saved));
}

/* $3 title, $4 kind, $5 symptom_id, $6 medication_ref, $7 target_value, $8 direction, $9 due_on,
 * $10 status */
static void parse_goal(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {"title",      "kind",         "symptom",
                                         "medication", "target_value", "direction",
                                         "due_on",     "status",       NULL};
    const char *kind = NULL, *med;
    struct item sym;
    only(c, o, fields);
    w->np = 10;
    if (svc_v_str(&c->v, o, "title", true, 1, 200, &w->p[2]) == SVC_V_OK && blank(w->p[2]))
        svc_v_error(&c->v, "title", "must not be blank");
    get_enum(c, o, "kind", true, goal_kinds, &kind);
    w->p[3] = kind;
    bool need_sym = kind && strcmp(kind, "symptom_target") == 0;
    bool need_med = kind && strcmp(kind, "adherence") == 0;
    if (get_item(c, o, "symptom", need_sym, REF_SYMPTOM, false, &sym) == SVC_V_OK)
        w->p[4] = sym.value;
    int rm = svc_v_str(&c->v, o, "medication", need_med, 0, 64, &med);
    if (rm == SVC_V_OK) {
        if (!svc_is_uuid(med))
            svc_v_error(&c->v, "medication", "is not one of your medications");
        else
            add_ref(c, REF_OWN_MEDICATION, "medication", med);
        w->p[5] = med;
    }
    if (get_num(c, o, "target_value", true, -MAX_NUMBER, MAX_NUMBER, w->buf[0]) == SVC_V_OK)
        w->p[6] = w->buf[0];
    get_enum(c, o, "direction", true, directions, &w->p[7]);
    if (get_date(c, o, "due_on", false, false, w->buf[1]) == SVC_V_OK)
        w->p[8] = w->buf[1];
    w->p[9] = "active";
    get_enum(c, o, "status", false, goal_status, &w->p[9]);
}

/* $3 goal_ref, $4 value, $5 recorded_at, $6 note */
static void parse_progress(struct wctx *c, json_t *o, struct row *w)
{
    static const char *const fields[] = {"value", "recorded_at", "note", NULL};
    only(c, o, fields);
    w->np = 6;
    if (get_num(c, o, "value", true, -MAX_NUMBER, MAX_NUMBER, w->buf[0]) == SVC_V_OK)
        w->p[3] = w->buf[0];
    if (get_time(c, o, "recorded_at", true, true, w->buf[1]) == SVC_V_OK)
        w->p[4] = w->buf[1];
    svc_v_str(&c->v, o, "note", false, 0, MAX_NOTE, &w->p[5]);
}

/* ---- the resources ---- */

enum { PARENT_NONE, PARENT_MEDICATION, PARENT_GOAL };

struct resource {
    const char *name; /* as in change_log.resource */
    const char *what; /* for "no such ..." */
    int parent;
    const char *custom_kind; /* kind of the resource's own item, or NULL */
    bool date_key;           /* the list's sort key is a date */
    const char *filter;      /* list filter argument on the catalog id, or NULL */
    void (*parse)(struct wctx *c, json_t *o, struct row *w);
    json_t *(*to_json)(PGresult *r, int row);
    /* $1 member, $2 id [, $3 parent]; $1 member, $2 id, the parse order; $1 member, $2 uuid[] */
    const char *get_name, *get_sql, *ins_name, *ins_sql, *upd_name, *upd_sql, *del_name, *del_sql;
    /* ins_sql ends in RETURNING the get columns, which saves reading the new row back; not where
     * later statements add to the representation (an evaluation's side effects). */
    bool ins_returns;
    /* As get, locking the row until the transaction ends: PATCH reads, merges and writes back. */
    const char *lock_name, *lock_sql;
    const char *ids_name, *ids_sql, *all_name, *all_sql;
    /* $1 member, $2 from, $3 to, $4 cursor key, $5 cursor id, $6 limit, $7 parent or filter */
    const char *list_name, *list_sql;
};

#define TS_KEY(key) key, REC_TS(key), key, "timestamptz"
#define DATE_KEY(key) key, REC_DATE(key), "(" key "::timestamp AT TIME ZONE 'UTC')", "date"
/* Indirect, so TS_KEY / DATE_KEY expand into four arguments first. */
#define LIST_SQL(...) LIST_SQL_(__VA_ARGS__)
#define LIST_SQL_(cols, table, key, keytext, keyts, keytype, extra)                                \
    "SELECT " cols ", " keytext ", " table ".id FROM " table " WHERE " table ".member_id = $1"     \
    " AND ($2::timestamptz IS NULL OR " keyts " >= $2::timestamptz)"                               \
    " AND ($3::timestamptz IS NULL OR " keyts " < $3::timestamptz)"                                \
    " AND ($4::text IS NULL OR (" key ", " table ".id) < ($4::" keytype ", $5::uuid))"             \
    " AND " extra " ORDER BY " key " DESC, " table ".id DESC LIMIT $6::int"
#define GET_SQL(cols, table, extra)                                                                \
    "SELECT " cols " FROM " table " WHERE member_id = $1 AND id = $2" extra
#define IDS_SQL(cols, table)                                                                       \
    "SELECT " cols " FROM " table " WHERE member_id = $1 AND id = ANY($2::uuid[])"
#define ALL_SQL(cols, table, key)                                                                  \
    "SELECT " cols " FROM " table " WHERE member_id = $1 ORDER BY " key ", " table ".id"
#define RETURNING(cols) " RETURNING " cols
#define DEL_SQL(table, extra) "DELETE FROM " table " WHERE member_id = $1 AND id = $2" extra

#define SYMPTOM_KEY "symptom_entry.recorded_at"
#define CONDITION_KEY "member_condition.diagnosed_date"
#define MEDICATION_KEY "medication.started_on"
#define DOSE_KEY                                                                                   \
    "coalesce(medication_dose.scheduled_at, medication_dose.taken_at, medication_dose.created_at)"
#define EVALUATION_KEY "medication_evaluation.evaluated_on"
#define GOAL_KEY "goal.created_at"
#define PROGRESS_KEY "goal_progress.recorded_at"
/* Triggers travel as a JSON array text: one parameter whatever the count. */
#define TRIGGERS(p)                                                                                \
    "CASE WHEN " p "::text IS NULL THEN NULL ELSE ARRAY(SELECT t FROM json_array_elements_text(" p \
    "::json) WITH ORDINALITY j(t, o) ORDER BY o) END"

/* clang-format off */
static const struct resource res_condition = {
    .name = "condition", .what = "condition", .parent = PARENT_NONE, .custom_kind = "condition",
    .date_key = true, .filter = NULL, .parse = parse_condition, .to_json = rec_condition_json,
    .get_name = "rec_condition_get",
    .get_sql = GET_SQL(REC_CONDITION_COLUMNS, "member_condition", ""),
    .lock_name = "rec_condition_lock",
    .lock_sql = GET_SQL(REC_CONDITION_COLUMNS, "member_condition", "") " FOR UPDATE",
    .ins_name = "rec_condition_insert",
    .ins_sql = "INSERT INTO member_condition (member_id, id, condition_id, custom_id, "
               "diagnosed_on, diagnosed_date, status, note) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)" RETURNING(REC_CONDITION_COLUMNS),
    .ins_returns = true,
    .upd_name = "rec_condition_update",
    .upd_sql = "UPDATE member_condition SET condition_id = $3, custom_id = $4, diagnosed_on = $5, "
               "diagnosed_date = $6, status = $7, note = $8 WHERE member_id = $1 AND id = $2",
    .del_name = "rec_condition_delete",
    .del_sql = DEL_SQL("member_condition", ""),
    .ids_name = "rec_condition_ids",
    .ids_sql = IDS_SQL(REC_CONDITION_COLUMNS, "member_condition"),
    .all_name = "rec_condition_all",
    .all_sql = ALL_SQL(REC_CONDITION_COLUMNS, "member_condition", CONDITION_KEY),
    .list_name = "rec_condition_list",
    .list_sql = LIST_SQL(REC_CONDITION_COLUMNS, "member_condition", DATE_KEY(CONDITION_KEY),
                         "$7::text IS NULL"),
};

static const struct resource res_symptom = {
    .name = "symptom", .what = "symptom entry", .parent = PARENT_NONE, .custom_kind = "symptom",
    .date_key = false, .filter = "symptom", .parse = parse_symptom, .to_json = rec_symptom_json,
    .get_name = "rec_symptom_get",
    .get_sql = GET_SQL(REC_SYMPTOM_COLUMNS, "symptom_entry", ""),
    .lock_name = "rec_symptom_lock",
    .lock_sql = GET_SQL(REC_SYMPTOM_COLUMNS, "symptom_entry", "") " FOR UPDATE",
    .ins_name = "rec_symptom_insert",
    .ins_sql = "INSERT INTO symptom_entry (member_id, id, symptom_id, custom_id, severity, "
               "recorded_at, duration_minutes, triggers, note) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, " TRIGGERS("$8") ", $9)" RETURNING(
                   REC_SYMPTOM_COLUMNS),
    .ins_returns = true,
    .upd_name = "rec_symptom_update",
    .upd_sql = "UPDATE symptom_entry SET symptom_id = $3, custom_id = $4, severity = $5, "
               "recorded_at = $6, duration_minutes = $7, triggers = " TRIGGERS("$8") ", note = $9 "
               "WHERE member_id = $1 AND id = $2",
    .del_name = "rec_symptom_delete",
    .del_sql = DEL_SQL("symptom_entry", ""),
    .ids_name = "rec_symptom_ids",
    .ids_sql = IDS_SQL(REC_SYMPTOM_COLUMNS, "symptom_entry"),
    .all_name = "rec_symptom_all",
    .all_sql = ALL_SQL(REC_SYMPTOM_COLUMNS, "symptom_entry", SYMPTOM_KEY),
    .list_name = "rec_symptom_list",
    .list_sql = LIST_SQL(REC_SYMPTOM_COLUMNS, "symptom_entry", TS_KEY(SYMPTOM_KEY),
                         "($7::text IS NULL OR symptom_entry.symptom_id = $7)"),
};

static const struct resource res_medication = {
    .name = "medication", .what = "medication", .parent = PARENT_NONE, .custom_kind = "medication",
    .date_key = true, .filter = "medication", .parse = parse_medication,
    .to_json = rec_medication_json,
    .get_name = "rec_medication_get",
    .get_sql = GET_SQL(REC_MEDICATION_COLUMNS, "medication", ""),
    .lock_name = "rec_medication_lock",
    .lock_sql = GET_SQL(REC_MEDICATION_COLUMNS, "medication", "") " FOR UPDATE",
    .ins_name = "rec_medication_insert",
    .ins_sql = "INSERT INTO medication (member_id, id, medication_id, custom_id, dose_amount, "
               "dose_unit, freq_kind, freq_value, started_on, stopped_on, stop_reason, "
               "for_condition, note) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)" RETURNING(
                   REC_MEDICATION_COLUMNS),
    .ins_returns = true,
    .upd_name = "rec_medication_update",
    .upd_sql = "UPDATE medication SET medication_id = $3, custom_id = $4, dose_amount = $5, "
               "dose_unit = $6, freq_kind = $7, freq_value = $8, started_on = $9, "
               "stopped_on = $10, stop_reason = $11, for_condition = $12, note = $13 "
               "WHERE member_id = $1 AND id = $2",
    .del_name = "rec_medication_delete",
    .del_sql = DEL_SQL("medication", ""),
    .ids_name = "rec_medication_ids",
    .ids_sql = IDS_SQL(REC_MEDICATION_COLUMNS, "medication"),
    .all_name = "rec_medication_all",
    .all_sql = ALL_SQL(REC_MEDICATION_COLUMNS, "medication", MEDICATION_KEY),
    .list_name = "rec_medication_list",
    .list_sql = LIST_SQL(REC_MEDICATION_COLUMNS, "medication", DATE_KEY(MEDICATION_KEY),
                         "($7::text IS NULL OR medication.medication_id = $7)"),
};

static const struct resource res_dose = {
    .name = "dose", .what = "dose", .parent = PARENT_MEDICATION, .custom_kind = NULL,
    .date_key = false, .filter = NULL, .parse = parse_dose, .to_json = rec_dose_json,
    .get_name = "rec_dose_get",
    .get_sql = GET_SQL(REC_DOSE_COLUMNS, "medication_dose", " AND medication_ref = $3"),
    .lock_name = "rec_dose_lock",
    .lock_sql = GET_SQL(REC_DOSE_COLUMNS, "medication_dose", " AND medication_ref = $3")
                " FOR UPDATE",
    .ins_name = "rec_dose_insert",
    .ins_sql = "INSERT INTO medication_dose (member_id, id, medication_ref, scheduled_at, "
               "taken_at, status, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)" RETURNING(
                   REC_DOSE_COLUMNS),
    .ins_returns = true,
    .upd_name = "rec_dose_update",
    .upd_sql = "UPDATE medication_dose SET scheduled_at = $4, taken_at = $5, status = $6, "
               "reason = $7 WHERE member_id = $1 AND id = $2 AND medication_ref = $3",
    .del_name = "rec_dose_delete",
    .del_sql = DEL_SQL("medication_dose", " AND medication_ref = $3"),
    .ids_name = "rec_dose_ids",
    .ids_sql = IDS_SQL(REC_DOSE_COLUMNS, "medication_dose"),
    .all_name = "rec_dose_all",
    .all_sql = ALL_SQL(REC_DOSE_COLUMNS, "medication_dose", DOSE_KEY),
    .list_name = "rec_dose_list",
    .list_sql = LIST_SQL(REC_DOSE_COLUMNS, "medication_dose", TS_KEY(DOSE_KEY),
                         "medication_dose.medication_ref = $7::uuid"),
};

static const struct resource res_evaluation = {
    .name = "evaluation", .what = "evaluation", .parent = PARENT_MEDICATION, .custom_kind = NULL,
    .date_key = true, .filter = NULL, .parse = parse_evaluation, .to_json = rec_evaluation_json,
    .get_name = "rec_evaluation_get",
    .get_sql = GET_SQL(REC_EVALUATION_COLUMNS, "medication_evaluation", " AND medication_ref = $3"),
    .lock_name = "rec_evaluation_lock",
    .lock_sql = GET_SQL(REC_EVALUATION_COLUMNS, "medication_evaluation",
                        " AND medication_ref = $3") " FOR UPDATE",
    .ins_name = "rec_evaluation_insert",
    .ins_sql = "INSERT INTO medication_evaluation (member_id, id, medication_ref, evaluated_on, "
               "effectiveness, adherence, burden, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    .upd_name = "rec_evaluation_update",
    .upd_sql = "UPDATE medication_evaluation SET evaluated_on = $4, effectiveness = $5, "
               "adherence = $6, burden = $7, note = $8 "
               "WHERE member_id = $1 AND id = $2 AND medication_ref = $3",
    .del_name = "rec_evaluation_delete",
    .del_sql = DEL_SQL("medication_evaluation", " AND medication_ref = $3"),
    .ids_name = "rec_evaluation_ids",
    .ids_sql = IDS_SQL(REC_EVALUATION_COLUMNS, "medication_evaluation"),
    .all_name = "rec_evaluation_all",
    .all_sql = ALL_SQL(REC_EVALUATION_COLUMNS, "medication_evaluation", EVALUATION_KEY),
    .list_name = "rec_evaluation_list",
    .list_sql = LIST_SQL(REC_EVALUATION_COLUMNS, "medication_evaluation", DATE_KEY(EVALUATION_KEY),
                         "medication_evaluation.medication_ref = $7::uuid"),
};

static const struct resource res_goal = {
    .name = "goal", .what = "goal", .parent = PARENT_NONE, .custom_kind = NULL,
    .date_key = false, .filter = NULL, .parse = parse_goal, .to_json = rec_goal_json,
    .get_name = "rec_goal_get",
    .get_sql = GET_SQL(REC_GOAL_COLUMNS, "goal", ""),
    .lock_name = "rec_goal_lock",
    .lock_sql = GET_SQL(REC_GOAL_COLUMNS, "goal", "") " FOR UPDATE",
    .ins_name = "rec_goal_insert",
    .ins_sql = "INSERT INTO goal (member_id, id, title, kind, symptom_id, medication_ref, "
               "target_value, direction, due_on, status) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)" RETURNING(REC_GOAL_COLUMNS),
    .ins_returns = true,
    .upd_name = "rec_goal_update",
    .upd_sql = "UPDATE goal SET title = $3, kind = $4, symptom_id = $5, medication_ref = $6, "
               "target_value = $7, direction = $8, due_on = $9, status = $10 "
               "WHERE member_id = $1 AND id = $2",
    .del_name = "rec_goal_delete",
    .del_sql = DEL_SQL("goal", ""),
    .ids_name = "rec_goal_ids",
    .ids_sql = IDS_SQL(REC_GOAL_COLUMNS, "goal"),
    .all_name = "rec_goal_all",
    .all_sql = ALL_SQL(REC_GOAL_COLUMNS, "goal", GOAL_KEY),
    .list_name = "rec_goal_list",
    .list_sql = LIST_SQL(REC_GOAL_COLUMNS, "goal", TS_KEY(GOAL_KEY), "$7::text IS NULL"),
};

static const struct resource res_progress = {
    .name = "progress", .what = "progress entry", .parent = PARENT_GOAL, .custom_kind = NULL,
    .date_key = false, .filter = NULL, .parse = parse_progress, .to_json = rec_progress_json,
    .get_name = "rec_progress_get",
    .get_sql = GET_SQL(REC_PROGRESS_COLUMNS, "goal_progress", " AND goal_ref = $3"),
    .lock_name = "rec_progress_lock",
    .lock_sql = GET_SQL(REC_PROGRESS_COLUMNS, "goal_progress", " AND goal_ref = $3") " FOR UPDATE",
    .ins_name = "rec_progress_insert",
    .ins_sql = "INSERT INTO goal_progress (member_id, id, goal_ref, value, recorded_at, note) "
               "VALUES ($1, $2, $3, $4, $5, $6)" RETURNING(REC_PROGRESS_COLUMNS),
    .ins_returns = true,
    .upd_name = "rec_progress_update",
    .upd_sql = "UPDATE goal_progress SET value = $4, recorded_at = $5, note = $6 "
               "WHERE member_id = $1 AND id = $2 AND goal_ref = $3",
    .del_name = "rec_progress_delete",
    .del_sql = DEL_SQL("goal_progress", " AND goal_ref = $3"),
    .ids_name = "rec_progress_ids",
    .ids_sql = IDS_SQL(REC_PROGRESS_COLUMNS, "goal_progress"),
    .all_name = "rec_progress_all",
    .all_sql = ALL_SQL(REC_PROGRESS_COLUMNS, "goal_progress", PROGRESS_KEY),
    .list_name = "rec_progress_list",
    .list_sql = LIST_SQL(REC_PROGRESS_COLUMNS, "goal_progress", TS_KEY(PROGRESS_KEY),
                         "goal_progress.goal_ref = $7::uuid"),
};
/* clang-format on */

static const struct resource *const resources[] = {&res_condition, &res_symptom,    &res_medication,
                                                   &res_dose,      &res_evaluation, &res_goal,
                                                   &res_progress};
#define NRESOURCES (sizeof(resources) / sizeof(resources[0]))

/* ---- shared handler steps ---- */

/* Does the member own this medication / goal? 1, 0, or -1 on a database error. */
static int parent_exists(struct svc_req *req, int parent, const char *id)
{
    const char *params[] = {req->who.account_id, id};
    PGresult *r =
        parent == PARENT_MEDICATION
            ? db_prep(req->db, "rec_medication_exists",
                      "SELECT 1 FROM medication WHERE member_id = $1 AND id = $2", 2, params)
            : db_prep(req->db, "rec_goal_exists",
                      "SELECT 1 FROM goal WHERE member_id = $1 AND id = $2", 2, params);
    int rc = r ? PQntuples(r) == 1 : -1;
    PQclear(r);
    return rc;
}

/* The path's ids: parent (child resources) and own id (may be NULL for collections). false when one
 * is not a uuid, which can name nothing. */
static bool path_ids(struct svc_req *req, const struct resource *res, bool one, const char **parent,
                     const char **id)
{
    int i = 0;
    *parent = *id = NULL;
    if (res->parent)
        *parent = req->params[i++];
    if (one)
        *id = req->params[i++];
    return (!*parent || svc_is_uuid(*parent)) && (!*id || svc_is_uuid(*id));
}

static void custom_failed(struct wctx *c, struct svc_resp *resp, int rc)
{
    if (rc == -2)
        svc_problem(resp, 409, "a concurrent request created the same custom item; retry", NULL);
    else
        svc_problem_db(resp, c->req->db);
}

/* After parsing: check references, answer 422 naming every bad field, then create custom items and
 * put the item ids into the parameters. 0 to go on; -1 when resp holds the answer. */
static int settle(struct wctx *c, struct row *w, const struct resource *res, struct svc_resp *resp)
{
    struct item *customs[MAX_SIDE_EFFECTS];
    size_t n = 0;
    if (c->oom)
        return -1;
    if (verify_refs(c) < 0) {
        svc_problem_db(resp, c->req->db);
        return -1;
    }
    if (svc_v_failed(&c->v)) {
        svc_v_problem(&c->v, resp);
        return -1;
    }
    int rc = w->item.type == ITEM_CUSTOM
                 ? resolve_customs(c, res->custom_kind, (struct item *[]){&w->item}, 1)
                 : 0;
    if (rc < 0) {
        custom_failed(c, resp, rc);
        return -1;
    }
    if (res->custom_kind) {
        w->p[w->item_at] = w->item.type == ITEM_CATALOG ? w->item.value : NULL;
        w->p[w->item_at + 1] = w->item.type == ITEM_CUSTOM ? w->item.id : NULL;
    }
    for (int i = 0; i < w->nse; i++)
        if (w->se[i].type == ITEM_CUSTOM)
            customs[n++] = &w->se[i];
    if ((rc = resolve_customs(c, "symptom", customs, n)) < 0) {
        custom_failed(c, resp, rc);
        return -1;
    }
    return 0;
}

/* An evaluation's side effects are replaced as a whole. 0 or -1. */
static int write_side_effects(struct svc_req *req, const char *id, struct row *w)
{
    struct arr sym = {0}, cus = {0}, sev = {0};
    int rc = -1;
    const char *p1[] = {req->who.account_id, id};
    PGresult *r = db_prep(
        req->db, "rec_side_effect_clear",
        "DELETE FROM evaluation_side_effect WHERE member_id = $1 AND evaluation_ref = $2", 2, p1);
    if (!r)
        goto out;
    PQclear(r);
    if (!w->nse) {
        rc = 0;
        goto out;
    }
    for (int i = 0; i < w->nse; i++) {
        arr_add(&sym, w->se[i].type == ITEM_CATALOG ? w->se[i].value : NULL);
        arr_add(&cus, w->se[i].type == ITEM_CUSTOM ? w->se[i].id : NULL);
        arr_add(&sev, w->se_severity[i]);
    }
    const char *p2[] = {req->who.account_id, id, arr_end(&sym), arr_end(&cus), arr_end(&sev)};
    if (!p2[2] || !p2[3] || !p2[4])
        goto out;
    r = db_prep(
        req->db, "rec_side_effect_insert",
        "INSERT INTO evaluation_side_effect (member_id, evaluation_ref, ordinal, "
        "symptom_id, custom_id, severity) SELECT $1, $2, (u.o - 1)::smallint, u.s, u.c, u.v "
        "FROM unnest($3::text[], $4::uuid[], $5::text[]) WITH ORDINALITY u(s, c, v, o)",
        5, p2);
    PQclear(r);
    rc = r ? 0 : -1;
out:
    arr_free(&sym);
    arr_free(&cus);
    arr_free(&sev);
    return rc;
}

/* Goal extras: latest_value, percent_to_target, on_track. 0 or -1. */
static int goal_extras(struct svc_req *req, json_t *goal)
{
    const char *id = json_string_value(json_object_get(goal, "id"));
    const char *params[] = {req->who.account_id, id};
    PGresult *r =
        db_prep(req->db, "rec_goal_points",
                "SELECT extract(epoch FROM recorded_at)::float8, value::float8 FROM goal_progress "
                "WHERE member_id = $1 AND goal_ref = $2 ORDER BY recorded_at, id",
                2, params);
    if (!r)
        return -1;
    size_t n = 0, rows = (size_t)PQntuples(r);
    double *t = malloc((rows ? rows : 1) * sizeof(double)),
           *v = malloc((rows ? rows : 1) * sizeof(double));
    int rc = -1;
    if (!t || !v)
        goto out;
    for (size_t i = 0; i < rows; i++) {
        t[n] = strtod(PQgetvalue(r, (int)i, 0), NULL);
        v[n] = strtod(PQgetvalue(r, (int)i, 1), NULL);
        if (isfinite(t[n]) && isfinite(v[n]))
            n++;
    }
    const char *due_on = json_string_value(json_object_get(goal, "due_on"));
    const char *dir = json_string_value(json_object_get(goal, "direction"));
    double target = json_number_value(json_object_get(goal, "target_value")), due = 0, latest = 0,
           pct = 0;
    bool track = false;
    int y, m, d;
    if (due_on && svc_parse_date(due_on, &y, &m, &d) == 0) {
        /* "By due_on" includes that whole day (UTC). */
        struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + 1};
        due = (double)timegm(&tm);
    }
    int have = rec_goal_stats(t, v, n, target, dir && strcmp(dir, "decrease") == 0, due_on != NULL,
                              due, &latest, &pct, &track);
    json_object_set_new(goal, "latest_value",
                        have & REC_GOAL_PERCENT ? json_real(latest) : json_null());
    json_object_set_new(goal, "percent_to_target",
                        have & REC_GOAL_PERCENT ? json_real(pct) : json_null());
    json_object_set_new(goal, "on_track",
                        have & REC_GOAL_TRACK ? json_boolean(track) : json_null());
    rc = 0;
out:
    free(t);
    free(v);
    PQclear(r);
    return rc;
}

/* Answer with one resource as GET one shows it. */
/* Answer with row 0 of r, a representation read by the get columns (borrowed), plus the extras
 * some resources add; 404 when r has no row. */
static void respond_row(struct svc_req *req, struct svc_resp *resp, const struct resource *res,
                        PGresult *r, const char *id, int status)
{
    json_t *o = NULL;
    if (PQntuples(r) != 1) {
        char detail[64];
        snprintf(detail, sizeof(detail), "no such %s", res->what);
        svc_problem(resp, 404, detail, NULL);
        goto out;
    }
    if (!(o = res->to_json(r, 0)))
        goto out;
    if (res == &res_medication) {
        json_t *a = rec_medication_adherence(req->db, req->who.account_id, id);
        if (!a) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        json_object_set_new(o, "adherence", a);
    } else if (res == &res_goal && goal_extras(req, o) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, status, o);
    o = NULL;
out:
    json_decref(o);
}

static void respond_one(struct svc_req *req, struct svc_resp *resp, const struct resource *res,
                        const char *parent, const char *id, int status)
{
    const char *params[] = {req->who.account_id, id, parent};
    PGresult *r = db_prep(req->db, res->get_name, res->get_sql, parent ? 3 : 2, params);
    if (r)
        respond_row(req, resp, res, r, id, status);
    else
        svc_problem_db(resp, req->db);
    PQclear(r);
}

static void not_found(struct svc_resp *resp, const struct resource *res, bool parent)
{
    char detail[64];
    snprintf(detail, sizeof(detail), "no such %s",
             parent ? (res->parent == PARENT_MEDICATION ? "medication" : "goal") : res->what);
    svc_problem(resp, 404, detail, NULL);
}

/* ---- generic CRUD ---- */

static void create(struct svc_req *req, struct svc_resp *resp, const struct resource *res)
{
    struct wctx c;
    struct row w;
    const char *parent, *unused;
    PGresult *r = NULL;

    wctx_init(&c, req);
    row_init(&w);
    if (!path_ids(req, res, false, &parent, &unused)) {
        not_found(resp, res, true);
        goto out;
    }
    if (parent) {
        int found = parent_exists(req, res->parent, parent);
        if (found <= 0) {
            if (found < 0)
                svc_problem_db(resp, req->db);
            else
                not_found(resp, res, true);
            goto out;
        }
    }
    res->parse(&c, req->body, &w);
    if (settle(&c, &w, res, resp) < 0 || svc_uuid4(w.id) < 0)
        goto out;
    w.p[0] = req->who.account_id;
    w.p[1] = w.id;
    if (parent)
        w.p[2] = parent;
    if (!(r = db_prep(req->db, res->ins_name, res->ins_sql, w.np, w.p)) ||
        (res == &res_evaluation && write_side_effects(req, w.id, &w) < 0)) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (res->ins_returns)
        respond_row(req, resp, res, r, w.id, 201);
    else
        respond_one(req, resp, res, parent, w.id, 201);
out:
    PQclear(r);
    row_free(&w);
    wctx_free(&c);
}

static void get_one(struct svc_req *req, struct svc_resp *resp, const struct resource *res)
{
    const char *parent, *id;
    if (!path_ids(req, res, true, &parent, &id)) {
        not_found(resp, res, false);
        return;
    }
    respond_one(req, resp, res, parent, id, 200);
}

/* PATCH: the stored resource with the body laid over it must validate as a whole resource; explicit
 * nulls clear optional fields. */
static void update(struct svc_req *req, struct svc_resp *resp, const struct resource *res)
{
    static const char *const read_only[] = {
        "id", "created_at", "updated_at", "medication_id", "goal_id", "severity_label", NULL};
    struct wctx c;
    struct row w;
    const char *parent, *id;
    PGresult *r = NULL;
    json_t *merged = NULL;

    wctx_init(&c, req);
    row_init(&w);
    if (!path_ids(req, res, true, &parent, &id)) {
        not_found(resp, res, false);
        goto out;
    }
    const char *params[] = {req->who.account_id, id, parent};
    if (!(r = db_prep(req->db, res->lock_name, res->lock_sql, parent ? 3 : 2, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(r) != 1) {
        not_found(resp, res, false);
        goto out;
    }
    if (!(merged = res->to_json(r, 0)))
        goto out;
    PQclear(r);
    r = NULL;
    for (const char *const *k = read_only; *k; k++)
        json_object_del(merged, *k);
    /* A new severity in either form replaces the stored one. */
    if (res == &res_symptom &&
        (json_object_get(req->body, "severity") || json_object_get(req->body, "severity_label")))
        json_object_del(merged, "severity");
    json_object_update(merged, req->body);
    res->parse(&c, merged, &w);
    if (settle(&c, &w, res, resp) < 0)
        goto out;
    w.p[0] = req->who.account_id;
    w.p[1] = id;
    if (parent)
        w.p[2] = parent;
    if (!(r = db_prep(req->db, res->upd_name, res->upd_sql, w.np, w.p)) ||
        (res == &res_evaluation && write_side_effects(req, id, &w) < 0)) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    respond_one(req, resp, res, parent, id, 200);
out:
    PQclear(r);
    json_decref(merged);
    row_free(&w);
    wctx_free(&c);
}

static void remove_one(struct svc_req *req, struct svc_resp *resp, const struct resource *res)
{
    const char *parent, *id;
    PGresult *r = NULL;
    if (!path_ids(req, res, true, &parent, &id)) {
        not_found(resp, res, false);
        goto out;
    }
    const char *params[] = {req->who.account_id, id, parent};
    if (!(r = db_prep(req->db, res->del_name, res->del_sql, parent ? 3 : 2, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        not_found(resp, res, false);
        goto out;
    }
    PQclear(r);
    r = NULL;
    /* References kept in plain columns are cleared, so the feed tells the other rows changed. */
    if (res == &res_condition)
        r = db_prep(req->db, "rec_condition_unlink",
                    "UPDATE medication SET for_condition = NULL WHERE member_id = $1 AND "
                    "for_condition = $2",
                    2, params);
    else if (res == &res_medication)
        r = db_prep(
            req->db, "rec_medication_unlink",
            "UPDATE goal SET medication_ref = NULL WHERE member_id = $1 AND medication_ref = $2", 2,
            params);
    if ((res == &res_condition || res == &res_medication) && !r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, 204, NULL);
out:
    PQclear(r);
}

/* limit: digits only, 1..max; absent: def. */
static bool arg_limit(struct svc_req *req, struct svc_v *v, int def, int max, int *out)
{
    const char *s = svc_arg(req, "limit");
    *out = def;
    if (!s)
        return true;
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= 4 && strspn(s, "0123456789") == n;
    int x = ok ? atoi(s) : 0;
    if (!ok || x < 1 || x > max) {
        svc_v_error(v, "limit", "must be an integer from 1 to %d", max);
        return false;
    }
    *out = x;
    return true;
}

static void list(struct svc_req *req, struct svc_resp *resp, const struct resource *res)
{
    struct svc_v v;
    const char *parent, *unused, *cursor = svc_arg(req, "cursor");
    char from[40], to[40], fields[2][64], lim[16], next[REC_CURSOR_MAX];
    int64_t efrom = 0, eto = 0;
    int limit;
    PGresult *r = NULL;
    json_t *items = NULL;
    const char *filter = res->filter ? svc_arg(req, res->filter) : NULL;

    svc_v_init(&v, NULL);
    if (!path_ids(req, res, false, &parent, &unused)) {
        not_found(resp, res, true);
        goto out;
    }
    arg_limit(req, &v, LIST_DEFAULT, LIST_MAX, &limit);
    bool hf = svc_v_time_arg(&v, "from", svc_arg(req, "from"), from, &efrom) && from[0];
    bool ht = svc_v_time_arg(&v, "to", svc_arg(req, "to"), to, &eto) && to[0];
    if (hf && ht && eto < efrom)
        svc_v_error(&v, "to", "must not be before from");
    if (cursor) {
        int y, m, d;
        int64_t e;
        if (rec_cursor_decode(res->name, cursor, fields, 2) != 2 || !svc_is_uuid(fields[1]) ||
            (res->date_key ? svc_parse_date(fields[0], &y, &m, &d)
                           : svc_parse_time(fields[0], &e)) < 0)
            svc_v_error(&v, "cursor", "is not a cursor this listing gave out");
    }
    if (filter && !catalog_id_ok(filter))
        svc_v_error(&v, res->filter, "must be a catalog id");
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (parent) {
        int found = parent_exists(req, res->parent, parent);
        if (found <= 0) {
            if (found < 0)
                svc_problem_db(resp, req->db);
            else
                not_found(resp, res, true);
            goto out;
        }
    }
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *params[] = {req->who.account_id,       from[0] ? from : NULL,     to[0] ? to : NULL,
                            cursor ? fields[0] : NULL, cursor ? fields[1] : NULL, lim,
                            parent ? parent : filter};
    if (!(r = db_prep(req->db, res->list_name, res->list_sql, 7, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    int n = PQntuples(r), shown = n > limit ? limit : n;
    if (!(items = json_array()))
        goto out;
    for (int i = 0; i < shown; i++)
        json_array_append_new(items, res->to_json(r, i));
    json_t *nc = json_null();
    if (n > limit) {
        int nf = PQnfields(r);
        const char *key[] = {PQgetvalue(r, shown - 1, nf - 2), PQgetvalue(r, shown - 1, nf - 1)};
        if (rec_cursor_encode(res->name, key, 2, next) < 0)
            goto out;
        nc = json_string(next);
    }
    svc_json(resp, 200, json_pack("{s:O, s:o}", "items", items, "next_cursor", nc));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

#define CRUD_HANDLERS(x, res)                                                                      \
    void h_##x##_create(struct svc_req *req, struct svc_resp *resp)                                \
    {                                                                                              \
        create(req, resp, &res);                                                                   \
    }                                                                                              \
    void h_##x##_list(struct svc_req *req, struct svc_resp *resp)                                  \
    {                                                                                              \
        list(req, resp, &res);                                                                     \
    }                                                                                              \
    void h_##x##_get(struct svc_req *req, struct svc_resp *resp)                                   \
    {                                                                                              \
        get_one(req, resp, &res);                                                                  \
    }                                                                                              \
    void h_##x##_update(struct svc_req *req, struct svc_resp *resp)                                \
    {                                                                                              \
        update(req, resp, &res);                                                                   \
    }                                                                                              \
    void h_##x##_delete(struct svc_req *req, struct svc_resp *resp)                                \
    {                                                                                              \
        remove_one(req, resp, &res);                                                               \
    }

CRUD_HANDLERS(condition, res_condition)
CRUD_HANDLERS(symptom, res_symptom)
CRUD_HANDLERS(medication, res_medication)
CRUD_HANDLERS(dose, res_dose)
CRUD_HANDLERS(evaluation, res_evaluation)
CRUD_HANDLERS(goal, res_goal)
CRUD_HANDLERS(progress, res_progress)

/* ---- profile ---- */

void h_profile_get(struct svc_req *req, struct svc_resp *resp)
{
    const char *params[] = {req->who.account_id};
    PGresult *r = db_prep(req->db, "rec_profile_get",
                          "SELECT " REC_PROFILE_COLUMNS " FROM member_profile WHERE member_id = $1",
                          1, params);
    if (!r)
        svc_problem_db(resp, req->db);
    else if (PQntuples(r) != 1)
        svc_problem(resp, 404, "no profile yet; PUT one first", NULL);
    else
        svc_json(resp, 200, rec_profile_json(r, 0));
    PQclear(r);
}

void h_profile_put(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const fields[] = {"birth_year",    "sex_at_birth", "gender", "country",
                                         "postal_prefix", "timezone",     NULL};
    struct svc_v v;
    char year[16];
    const char *p[7] = {req->who.account_id};
    const char *s;
    long long by;
    struct tm tm;
    time_t now = time(NULL);
    int sex;
    PGresult *r = NULL;

    gmtime_r(&now, &tm);
    svc_v_init(&v, NULL);
    svc_v_only(&v, req->body, fields);
    if (svc_v_int(&v, req->body, "birth_year", true, 1900, tm.tm_year + 1900, &by) == SVC_V_OK) {
        snprintf(year, sizeof(year), "%lld", by);
        p[1] = year;
    }
    if (svc_v_enum(&v, req->body, "sex_at_birth", true, sexes, &sex) == SVC_V_OK)
        p[2] = sexes[sex];
    svc_v_str(&v, req->body, "gender", false, 1, 100, &p[3]);
    if (svc_v_str(&v, req->body, "country", true, 0, 8, &s) == SVC_V_OK) {
        if (!rec_country_valid(s))
            svc_v_error(&v, "country",
                        "must be an assigned ISO 3166-1 alpha-2 code in capitals, e.g. NL");
        p[4] = s;
    }
    if (svc_v_str(&v, req->body, "postal_prefix", false, 1, 3, &s) == SVC_V_OK) {
        if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
            strlen(s))
            svc_v_error(&v, "postal_prefix", "must be letters and digits only");
        p[5] = s;
    }
    if (svc_v_str(&v, req->body, "timezone", true, 1, 64, &s) == SVC_V_OK) {
        if (!rec_timezone_valid(s))
            svc_v_error(&v, "timezone", "must be an IANA time zone name, e.g. Europe/Amsterdam");
        p[6] = s;
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (!(r = db_prep(
              req->db, "rec_profile_put",
              "INSERT INTO member_profile (member_id, birth_year, sex_at_birth, gender, country, "
              "postal_prefix, timezone) VALUES ($1, $2, $3, $4, $5, $6, $7) "
              "ON CONFLICT (member_id) DO UPDATE SET birth_year = EXCLUDED.birth_year, "
              "sex_at_birth = EXCLUDED.sex_at_birth, gender = EXCLUDED.gender, "
              "country = EXCLUDED.country, postal_prefix = EXCLUDED.postal_prefix, "
              "timezone = EXCLUDED.timezone RETURNING (xmax = 0)",
              7, p))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    int status = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 201 : 200;
    PQclear(r);
    if (!(r = db_prep(req->db, "rec_profile_get",
                      "SELECT " REC_PROFILE_COLUMNS " FROM member_profile WHERE member_id = $1", 1,
                      p)) ||
        PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    svc_json(resp, status, rec_profile_json(r, 0));
out:
    PQclear(r);
    svc_v_free(&v);
}

/* ---- catalog search ---- */

enum { CAT_SYMPTOMS, CAT_CONDITIONS, CAT_MEDICATIONS };

/* Prefix matches first, then substring matches, each by name. $1 the escaped query, $2 the limit.
 */
#define CATALOG_SQL(cols, table)                                                                   \
    "SELECT " cols " FROM " table                                                                  \
    " WHERE name_lower LIKE ('%' || lower($1::text) || '%') ESCAPE '\\' "                          \
    "ORDER BY (name_lower LIKE (lower($1::text) || '%') ESCAPE '\\') DESC, name, id LIMIT $2::int"

static void catalog(struct svc_req *req, struct svc_resp *resp, int which)
{
    struct svc_v v;
    const char *q = svc_arg(req, "q");
    char pattern[2 * CATALOG_QUERY_MAX + 1], lim[16];
    int limit;
    PGresult *r = NULL;
    json_t *items = NULL;

    svc_v_init(&v, NULL);
    arg_limit(req, &v, LIST_DEFAULT, LIST_MAX, &limit);
    if (!q)
        q = "";
    /* Query values are UTF-8 by the time a handler runs (http.c). */
    if (strlen(q) > CATALOG_QUERY_MAX)
        svc_v_error(&v, "q", "must be at most %d bytes", CATALOG_QUERY_MAX);
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    /* The query is matched literally: LIKE's metacharacters are escaped. */
    size_t o = 0;
    for (const char *c = q; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            pattern[o++] = '\\';
        pattern[o++] = *c;
    }
    pattern[o] = '\0';
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {pattern, lim};
    if (which == CAT_SYMPTOMS)
        r = db_prep(req->db, "rec_catalog_symptoms",
                    CATALOG_SQL("id, name, snomed", "catalog_symptom"), 2, params);
    else if (which == CAT_CONDITIONS)
        r = db_prep(
            req->db, "rec_catalog_conditions",
            CATALOG_SQL("id, name, array_to_json(icd10)::text, snomed", "catalog_condition"), 2,
            params);
    else
        r = db_prep(req->db, "rec_catalog_medications",
                    CATALOG_SQL("id, name, rxnorm", "catalog_medication"), 2, params);
    if (!r) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (!(items = json_array()))
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o2 =
            json_pack("{s:s, s:s}", "id", PQgetvalue(r, i, 0), "name", PQgetvalue(r, i, 1));
        if (!o2)
            goto out;
        if (which == CAT_SYMPTOMS) {
            json_object_set_new(o2, "snomed", json_string(PQgetvalue(r, i, 2)));
        } else if (which == CAT_CONDITIONS) {
            json_t *codes = json_loads(PQgetvalue(r, i, 2), 0, NULL);
            json_object_set_new(o2, "icd10", codes ? codes : json_array());
            json_object_set_new(o2, "snomed",
                                PQgetisnull(r, i, 3) ? json_null()
                                                     : json_string(PQgetvalue(r, i, 3)));
        } else {
            json_object_set_new(o2, "rxnorm", json_string(PQgetvalue(r, i, 2)));
        }
        json_array_append_new(items, o2);
    }
    svc_json(resp, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(r);
    svc_v_free(&v);
}

void h_catalog_symptoms(struct svc_req *req, struct svc_resp *resp)
{
    catalog(req, resp, CAT_SYMPTOMS);
}

void h_catalog_conditions(struct svc_req *req, struct svc_resp *resp)
{
    catalog(req, resp, CAT_CONDITIONS);
}

void h_catalog_medications(struct svc_req *req, struct svc_resp *resp)
{
    catalog(req, resp, CAT_MEDICATIONS);
}

/* ---- batch ---- */

enum { B_SYMPTOM, B_DOSE, B_PROGRESS, NB };

static const char *const batch_types[] = {"symptom", "dose", "progress", NULL};

/* One INSERT ... SELECT FROM unnest per type; the ids were made here, so the answer keeps item
 * order. */
static const struct {
    const char *name, *sql;
    int ncols; /* parameters after $1 member: id, then the row's p[2..] (p[2] = parent for children)
                */
} batch_insert[NB] = {
    [B_SYMPTOM] =
        {"rec_batch_symptom",
         "INSERT INTO symptom_entry (member_id, id, symptom_id, custom_id, severity, recorded_at, "
         "duration_minutes, triggers, note) SELECT $1, u.id, u.s, u.c, u.v, u.at, u.d, "
         "CASE WHEN u.t IS NULL THEN NULL ELSE ARRAY(SELECT x FROM "
         "json_array_elements_text(u.t::json) "
         "WITH ORDINALITY j(x, o) ORDER BY o) END, u.n "
         "FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::smallint[], $6::timestamptz[], "
         "$7::int[], $8::text[], $9::text[]) u(id, s, c, v, at, d, t, n)",
         8},
    [B_DOSE] =
        {"rec_batch_dose",
         "INSERT INTO medication_dose (member_id, id, medication_ref, scheduled_at, taken_at, "
         "status, "
         "reason) SELECT $1, u.id, u.m, u.s, u.t, u.st, u.r FROM unnest($2::uuid[], $3::uuid[], "
         "$4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[]) u(id, m, s, t, st, r)",
         6},
    [B_PROGRESS] =
        {"rec_batch_progress",
         "INSERT INTO goal_progress (member_id, id, goal_ref, value, recorded_at, note) "
         "SELECT $1, u.id, u.g, u.v, u.at, u.n FROM unnest($2::uuid[], $3::uuid[], $4::numeric[], "
         "$5::timestamptz[], $6::text[]) u(id, g, v, at, n)",
         5},
};

void h_record_batch(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const top[] = {"items", NULL};
    struct wctx c;
    struct row *rows = NULL;
    int *types = NULL;
    json_t *ids = NULL;
    struct item **customs = NULL;
    size_t n = 0, ncustom = 0;
    struct arr cols[NB][9];
    PGresult *r = NULL;

    memset(cols, 0, sizeof(cols));
    wctx_init(&c, req);
    svc_v_only(&c.v, req->body, top);
    json_t *items = json_object_get(req->body, "items");
    if (!json_is_array(items) || json_array_size(items) < 1 || json_array_size(items) > MAX_BATCH) {
        svc_v_error(&c.v, "items", "must be an array of 1 to %d items", MAX_BATCH);
        svc_v_problem(&c.v, resp);
        goto out;
    }
    n = json_array_size(items);
    rows = calloc(n, sizeof(*rows));
    types = calloc(n, sizeof(*types));
    customs = calloc(n, sizeof(*customs));
    if (!rows || !types || !customs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        const char *type;
        prefix_set(&c, "items[%zu]", i);
        types[i] = -1;
        if (!json_is_object(it)) {
            error_at(&c, c.v.prefix, "must be an object");
            continue;
        }
        if (get_enum(&c, it, "type", true, batch_types, &type) != SVC_V_OK)
            continue;
        types[i] = type == batch_types[0]   ? B_SYMPTOM
                   : type == batch_types[1] ? B_DOSE
                                            : B_PROGRESS;
        const char *pkey = types[i] == B_DOSE       ? "medication_id"
                           : types[i] == B_PROGRESS ? "goal_id"
                                                    : NULL;
        const char *pid;
        if (pkey) {
            if (svc_v_str(&c.v, it, pkey, true, 0, 64, &pid) == SVC_V_OK) {
                if (!svc_is_uuid(pid))
                    svc_v_error(&c.v, pkey, "%s",
                                types[i] == B_DOSE ? "is not one of your medications"
                                                   : "is not one of your goals");
                else
                    add_ref(&c, types[i] == B_DOSE ? REF_OWN_MEDICATION : REF_OWN_GOAL, pkey, pid);
                rows[i].p[2] = pid;
            }
        }
        /* The resource's own fields, and the envelope's: the type and the parent. */
        c.envelope = (const char *const[]){"type", pkey, NULL};
        if (types[i] == B_SYMPTOM)
            parse_symptom(&c, it, &rows[i]);
        else if (types[i] == B_DOSE)
            parse_dose(&c, it, &rows[i]);
        else
            parse_progress(&c, it, &rows[i]);
        c.envelope = NULL;
    }
    c.v.prefix[0] = '\0';
    if (c.oom)
        goto out;
    if (verify_refs(&c) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (svc_v_failed(&c.v)) {
        svc_v_problem(&c.v, resp);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (types[i] == B_SYMPTOM && rows[i].item.type == ITEM_CUSTOM)
            customs[ncustom++] = &rows[i].item;
    int rc = resolve_customs(&c, "symptom", customs, ncustom);
    if (rc < 0) {
        custom_failed(&c, resp, rc);
        goto out;
    }
    if (!(ids = json_array()))
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct row *w = &rows[i];
        int t = types[i];
        if (svc_uuid4(w->id) < 0)
            goto out;
        json_array_append_new(ids, json_string(w->id));
        if (t == B_SYMPTOM) {
            w->p[2] = w->item.type == ITEM_CATALOG ? w->item.value : NULL;
            w->p[3] = w->item.type == ITEM_CUSTOM ? w->item.id : NULL;
        }
        arr_add(&cols[t][0], w->id);
        for (int k = 1; k < batch_insert[t].ncols; k++)
            arr_add(&cols[t][k], w->p[k + 1]);
    }
    for (int t = 0; t < NB; t++) {
        const char *params[10] = {req->who.account_id};
        if (!cols[t][0].len)
            continue;
        for (int k = 0; k < batch_insert[t].ncols; k++)
            if (!(params[k + 1] = arr_end(&cols[t][k])))
                goto out;
        if (!(r = db_prep(req->db, batch_insert[t].name, batch_insert[t].sql,
                          batch_insert[t].ncols + 1, params))) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        PQclear(r);
        r = NULL;
    }
    svc_json(resp, 201, json_pack("{s:O}", "ids", ids));
out:
    PQclear(r);
    json_decref(ids);
    for (size_t i = 0; rows && i < n; i++)
        row_free(&rows[i]);
    for (int t = 0; t < NB; t++)
        for (int k = 0; k < 9; k++)
            arr_free(&cols[t][k]);
    free(rows);
    free(types);
    free(customs);
    wctx_free(&c);
}

/* ---- changes feed ---- */

/* A consistent view for the multi-statement reads below. */
static int snapshot(struct svc_req *req, struct svc_resp *resp)
{
    if (db_cmd(req->db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY") < 0) {
        svc_problem_db(resp, req->db);
        return -1;
    }
    return 0;
}

/* Current representations of the given ids of one resource, keyed by id (new object), or NULL. */
static json_t *fetch_ids(struct svc_req *req, const struct resource *res, const char *lit)
{
    const char *params[] = {req->who.account_id, lit};
    PGresult *r = db_prep(req->db, res->ids_name, res->ids_sql, 2, params);
    json_t *out = r ? json_object() : NULL;
    for (int i = 0; out && i < PQntuples(r); i++)
        json_object_set_new(out, PQgetvalue(r, i, 0), res->to_json(r, i));
    PQclear(r);
    return out;
}

/* Rows become visible to the feed only once every transaction that started before them has ended
 * (txid below the snapshot's xmin), and are read in (txid, seq) order: a change committed late can
 * then never land behind a cursor already handed out. A row holds the ids one statement changed
 * (schema 0038), so a position is (txid, seq, ordinal); each row gives at most what the page still
 * needs, whatever its size. */
#define CHANGES_SQL                                                                                \
    "WITH s AS (SELECT txid, seq, resource, op, resource_ids, CASE WHEN (txid, seq) = ($2::xid8, " \
    "$3::bigint) THEN least($4::int, cardinality(resource_ids)) ELSE 0 END AS skip "               \
    "FROM change_log WHERE member_id = $1 AND txid < pg_snapshot_xmin(pg_current_snapshot()) "     \
    "AND (txid, seq) >= ($2::xid8, $3::bigint) ORDER BY txid, seq LIMIT $5::int + 1), "            \
    "w AS (SELECT s.*, coalesce(sum(cardinality(resource_ids) - skip) OVER (ORDER BY txid, seq "   \
    "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before FROM s) "                     \
    "SELECT w.txid::text, w.seq::text, (w.skip + u.k)::text, w.resource, u.id::text, w.op "        \
    "FROM w, unnest(w.resource_ids[w.skip + 1 : w.skip + $5::int - w.before]) WITH ORDINALITY "    \
    "u(id, k) WHERE w.before < $5::int ORDER BY w.txid, w.seq, u.k"

/* A cursor given out before 0038 is (txid, seq): after that whole row. */
#define CURSOR_ROW_END "2147483647"

void h_record_changes(struct svc_req *req, struct svc_resp *resp)
{
    struct svc_v v;
    const char *since = svc_arg(req, "since");
    char cur[3][64] = {"0", "0", "0"}, lim[16], next[REC_CURSOR_MAX];
    int limit, ncur = 0;
    PGresult *r = NULL, *pr = NULL;
    json_t *seen = NULL, *changes = NULL, *data[NRESOURCES] = {0}, *profile = NULL;
    int *order = NULL;

    svc_v_init(&v, NULL);
    arg_limit(req, &v, CHANGES_DEFAULT, CHANGES_MAX, &limit);
    if (since) {
        ncur = rec_cursor_decode("changes", since, cur, 3);
        if (ncur == 2)
            snprintf(cur[2], sizeof(cur[2]), "%s", CURSOR_ROW_END);
        bool ok = ncur == 2 || ncur == 3;
        for (int i = 0; ok && i < 3; i++)
            ok = cur[i][0] && strspn(cur[i], "0123456789") == strlen(cur[i]) &&
                 strlen(cur[i]) <= (i < 2 ? 19 : 10) &&
                 (i < 2 || strtoll(cur[i], NULL, 10) <= INT32_MAX);
        if (!ok)
            svc_v_error(&v, "since", "is not a cursor this feed gave out");
    }
    if (svc_v_failed(&v)) {
        svc_v_problem(&v, resp);
        goto out;
    }
    if (snapshot(req, resp) < 0)
        goto out;
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *params[] = {req->who.account_id, cur[0], cur[1], cur[2], lim};
    if (!(r = db_prep(req->db, "rec_changes", CHANGES_SQL, 5, params))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    int n = PQntuples(r) > limit ? limit : PQntuples(r), norder = 0;
    seen = json_object();
    changes = json_array();
    order = malloc(((size_t)n + 1) * sizeof(int));
    if (!seen || !changes || !order)
        goto out;
    /* Latest op wins: walk back, keep the first sight of each resource, then restore seq order. */
    for (int i = n - 1; i >= 0; i--) {
        char key[128];
        snprintf(key, sizeof(key), "%s:%s", PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
        if (json_object_get(seen, key))
            continue;
        json_object_set_new(seen, key, json_true());
        order[norder++] = i;
    }
    for (size_t k = 0; k < NRESOURCES; k++) {
        struct arr a = {0};
        for (int j = 0; j < norder; j++) {
            int i = order[j];
            if (strcmp(PQgetvalue(r, i, 5), "upsert") == 0 &&
                strcmp(PQgetvalue(r, i, 3), resources[k]->name) == 0)
                arr_add(&a, PQgetvalue(r, i, 4));
        }
        if (a.len) {
            const char *lit = arr_end(&a);
            data[k] = lit ? fetch_ids(req, resources[k], lit) : NULL;
            if (!data[k]) {
                arr_free(&a);
                svc_problem_db(resp, req->db);
                goto out;
            }
        }
        arr_free(&a);
    }
    const char *me[] = {req->who.account_id};
    if (!(pr = db_prep(req->db, "rec_profile_get",
                       "SELECT " REC_PROFILE_COLUMNS " FROM member_profile WHERE member_id = $1", 1,
                       me))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    if (PQntuples(pr) == 1)
        profile = rec_profile_json(pr, 0);
    for (int j = norder - 1; j >= 0; j--) {
        int i = order[j];
        const char *res = PQgetvalue(r, i, 3), *id = PQgetvalue(r, i, 4);
        json_t *d = NULL;
        if (strcmp(PQgetvalue(r, i, 5), "upsert") == 0) {
            if (strcmp(res, "profile") == 0)
                d = profile;
            for (size_t k = 0; k < NRESOURCES && !d; k++)
                if (strcmp(res, resources[k]->name) == 0)
                    d = json_object_get(data[k], id);
        }
        /* A resource gone since is a tombstone now; its delete follows in a later page too. */
        json_t *ch = d ? json_pack("{s:s, s:s, s:s, s:O}", "resource", res, "id", id, "op",
                                   "upsert", "data", d)
                       : json_pack("{s:s, s:s, s:s}", "resource", res, "id", id, "op", "delete");
        json_array_append_new(changes, ch);
    }
    const char *last[] = {n ? PQgetvalue(r, n - 1, 0) : cur[0],
                          n ? PQgetvalue(r, n - 1, 1) : cur[1],
                          n ? PQgetvalue(r, n - 1, 2) : cur[2]};
    if (rec_cursor_encode("changes", last, 3, next) < 0)
        goto out;
    svc_json(resp, 200,
             json_pack("{s:O, s:s, s:b}", "changes", changes, "next_cursor", next, "has_more",
                       PQntuples(r) > limit));
out:
    for (size_t k = 0; k < NRESOURCES; k++)
        json_decref(data[k]);
    json_decref(profile);
    json_decref(seen);
    json_decref(changes);
    free(order);
    PQclear(pr);
    PQclear(r);
    svc_v_free(&v);
}

/* ---- export ---- */

/* Every row of one resource, oldest first (new array), or NULL on a database error. When group is
 * given, each row is also appended to group[its parent id][key]. */
static json_t *export_all(struct svc_req *req, const struct resource *res, json_t *group,
                          const char *key)
{
    const char *params[] = {req->who.account_id};
    PGresult *r = db_prep(req->db, res->all_name, res->all_sql, 1, params);
    json_t *out = r ? json_array() : NULL;
    for (int i = 0; out && i < PQntuples(r); i++) {
        json_t *o = res->to_json(r, i);
        if (group) {
            json_t *owner = json_object_get(group, PQgetvalue(r, i, 1));
            json_array_append(json_object_get(owner, key), o);
        }
        json_array_append_new(out, o);
    }
    PQclear(r);
    return out;
}

void h_record_export(struct svc_req *req, struct svc_resp *resp)
{
    const char *me[] = {req->who.account_id};
    PGresult *r = NULL;
    json_t *out = NULL, *meds = NULL, *goals = NULL, *by_med = NULL, *by_goal = NULL, *x = NULL;
    size_t i;
    json_t *e;

    const char *format = svc_arg(req, "format");
    if (format && strcmp(format, "json") != 0 && strcmp(format, "fhir") != 0) {
        svc_problem_field(resp, 422, "format", "must be json or fhir");
        goto out;
    }
    if (snapshot(req, resp) < 0)
        goto out;
    if (format && strcmp(format, "fhir") == 0) {
        h_export_fhir(req, resp);
        goto out;
    }
    if (!(r = db_prep(req->db, "rec_export_account",
                      "SELECT id, email, display_name, " REC_TS("created_at") ", " REC_TS(
                          "now()") " FROM account WHERE id = $1",
                      1, me)) ||
        PQntuples(r) != 1) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    out = json_pack("{s:o, s:{s:s, s:s, s:s, s:o}, s:i}", "exported_at", rec_time_json(r, 0, 4),
                    "account", "id", PQgetvalue(r, 0, 0), "email", PQgetvalue(r, 0, 1),
                    "display_name", PQgetvalue(r, 0, 2), "created_at", rec_time_json(r, 0, 3),
                    "format_version", 1);
    PQclear(r);
    if (!out ||
        !(r = db_prep(req->db, "rec_profile_get",
                      "SELECT " REC_PROFILE_COLUMNS " FROM member_profile WHERE member_id = $1", 1,
                      me))) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    json_object_set_new(out, "profile", PQntuples(r) == 1 ? rec_profile_json(r, 0) : json_null());
    by_med = json_object();
    by_goal = json_object();
    if (!by_med || !by_goal)
        goto out;
    if (!(x = export_all(req, &res_condition, NULL, NULL)))
        goto fail;
    json_object_set_new(out, "conditions", x);
    if (!(x = export_all(req, &res_symptom, NULL, NULL)))
        goto fail;
    json_object_set_new(out, "symptoms", x);
    if (!(meds = export_all(req, &res_medication, NULL, NULL)))
        goto fail;
    json_array_foreach(meds, i, e)
    {
        json_object_set_new(e, "doses", json_array());
        json_object_set_new(e, "evaluations", json_array());
        json_object_set(by_med, json_string_value(json_object_get(e, "id")), e);
    }
    if (!(x = export_all(req, &res_dose, by_med, "doses")))
        goto fail;
    json_decref(x);
    if (!(x = export_all(req, &res_evaluation, by_med, "evaluations")))
        goto fail;
    json_decref(x);
    json_object_set(out, "medications", meds);
    if (!(goals = export_all(req, &res_goal, NULL, NULL)))
        goto fail;
    json_array_foreach(goals, i, e)
    {
        json_object_set_new(e, "progress", json_array());
        json_object_set(by_goal, json_string_value(json_object_get(e, "id")), e);
    }
    if (!(x = export_all(req, &res_progress, by_goal, "progress")))
        goto fail;
    json_decref(x);
    json_object_set(out, "goals", goals);
    json_object_set_new(out, "consents", json_array());
    if (rec_export_extra(req, out) < 0)
        goto out;
    svc_json(resp, 200, out);
    out = NULL;
    goto out;
fail:
    svc_problem_db(resp, req->db);
out:
    json_decref(out);
    json_decref(meds);
    json_decref(goals);
    json_decref(by_med);
    json_decref(by_goal);
    PQclear(r);
}
