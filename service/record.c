/* The member health record: row -> JSON, severity words, countries and time zones, cursors, goal
 * arithmetic and adherence. Shared by h_record.c and the FHIR and erasure handlers. */
#include "record.h"
#include "consent_store.h"
#include "auth.h"
#include "db.h"

#include <fcntl.h>
#include <gsl/gsl_fit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const rec_profile_columns = REC_PROFILE_COLUMNS;
const char *const rec_condition_columns = REC_CONDITION_COLUMNS;
const char *const rec_symptom_columns = REC_SYMPTOM_COLUMNS;
const char *const rec_medication_columns = REC_MEDICATION_COLUMNS;
const char *const rec_dose_columns = REC_DOSE_COLUMNS;
const char *const rec_evaluation_columns = REC_EVALUATION_COLUMNS;
const char *const rec_goal_columns = REC_GOAL_COLUMNS;
const char *const rec_progress_columns = REC_PROGRESS_COLUMNS;

/* ---- severity: the one mapping table ---- */

static const struct {
    const char *label;
    int value;  /* what the word stores */
    int lo, hi; /* the band of numbers shown as the word */
} severity_words[] = {
    {"none", 0, 0, 0},   {"mild", 2, 1, 3},         {"moderate", 5, 4, 6},
    {"severe", 7, 7, 8}, {"very_severe", 9, 9, 10},
};

int rec_severity_from_label(const char *label)
{
    for (size_t i = 0; label && i < sizeof(severity_words) / sizeof(severity_words[0]); i++)
        if (strcmp(severity_words[i].label, label) == 0)
            return severity_words[i].value;
    return -1;
}

const char *rec_severity_label(int severity)
{
    for (size_t i = 0; i < sizeof(severity_words) / sizeof(severity_words[0]); i++)
        if (severity >= severity_words[i].lo && severity <= severity_words[i].hi)
            return severity_words[i].label;
    return NULL;
}

/* ---- countries and time zones ---- */

/* The 249 assigned ISO 3166-1 alpha-2 codes. */
static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR "
    "BS "
    "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC "
    "EE "
    "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK "
    "HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB "
    "LC "
    "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ "
    "NA "
    "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU "
    "RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN "
    "TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

bool rec_country_valid(const char *code)
{
    if (!code || strlen(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' ||
        code[1] > 'Z')
        return false;
    for (size_t i = 0; i + 1 < sizeof(countries); i += 3)
        if (countries[i] == code[0] && countries[i + 1] == code[1])
            return true;
    return false;
}

#define ZONEINFO "/usr/share/zoneinfo/"

bool rec_timezone_valid(const char *name)
{
    char path[sizeof(ZONEINFO) + 64], magic[4];
    struct stat st;
    size_t len = name ? strlen(name) : 0;
    if (len < 1 || len > 64)
        return false;
    /* Components start with a letter and hold only [A-Za-z0-9_+-]: no "..", no absolute paths. */
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        bool start = i == 0 || name[i - 1] == '/';
        if (start && !letter)
            return false;
        if (!letter && !(c >= '0' && c <= '9') && c != '_' && c != '+' && c != '-' && c != '/')
            return false;
    }
    if (name[len - 1] == '/')
        return false;
    snprintf(path, sizeof(path), ZONEINFO "%s", name);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    /* A zone is a TZif file; the directory also holds tables such as zone.tab. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
    close(fd);
    return ok;
}

/* ---- row -> JSON ---- */

static bool null_at(PGresult *r, int row, int col)
{
    return col >= PQnfields(r) || PQgetisnull(r, row, col);
}

static void set(json_t *obj, const char *key, json_t *val)
{
    json_object_set_new(obj, key, val ? val : json_null());
}

static json_t *str_at(PGresult *r, int row, int col)
{
    return null_at(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

static json_t *int_at(PGresult *r, int row, int col)
{
    return null_at(r, row, col) ? json_null()
                                : json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

static json_t *num_at(PGresult *r, int row, int col)
{
    if (null_at(r, row, col))
        return json_null();
    double x = strtod(PQgetvalue(r, row, col), NULL);
    return isfinite(x) ? json_real(x) : json_null();
}

/* A catalog id as its string, a custom item as {"custom": name}. */
static json_t *item_at(PGresult *r, int row, int idcol, int namecol)
{
    if (!null_at(r, row, idcol))
        return json_string(PQgetvalue(r, row, idcol));
    if (!null_at(r, row, namecol))
        return json_pack("{s:s}", "custom", PQgetvalue(r, row, namecol));
    return json_null();
}

/* A JSON text column, parsed; null when NULL or unparsable. */
static json_t *json_at(PGresult *r, int row, int col)
{
    json_t *j = null_at(r, row, col) ? NULL : json_loads(PQgetvalue(r, row, col), 0, NULL);
    return j ? j : json_null();
}

json_t *rec_time_json(PGresult *r, int row, int col)
{
    char buf[64];
    if (null_at(r, row, col))
        return json_null();
    snprintf(buf, sizeof(buf), "%s", PQgetvalue(r, row, col));
    char *dot = strchr(buf, '.'), *z = strchr(buf, 'Z');
    if (dot && z && z > dot) {
        char *end = z;
        while (end > dot + 1 && end[-1] == '0')
            end--;
        if (end == dot + 1)
            end = dot;
        memmove(end, z, strlen(z) + 1);
    }
    return json_string(buf);
}

static void stamps(json_t *o, PGresult *r, int row, int col)
{
    set(o, "created_at", rec_time_json(r, row, col));
    set(o, "updated_at", rec_time_json(r, row, col + 1));
}

json_t *rec_profile_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set(o, "birth_year", int_at(r, row, 0));
    set(o, "sex_at_birth", str_at(r, row, 1));
    set(o, "gender", str_at(r, row, 2));
    set(o, "country", str_at(r, row, 3));
    set(o, "postal_prefix", str_at(r, row, 4));
    set(o, "timezone", str_at(r, row, 5));
    stamps(o, r, row, 6);
    return o;
}

json_t *rec_condition_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set(o, "id", str_at(r, row, 0));
    set(o, "condition", item_at(r, row, 1, 2));
    set(o, "diagnosed_on", str_at(r, row, 3));
    set(o, "status", str_at(r, row, 4));
    set(o, "note", str_at(r, row, 5));
    stamps(o, r, row, 6);
    return o;
}

json_t *rec_symptom_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int sev = null_at(r, row, 3) ? -1 : atoi(PQgetvalue(r, row, 3));
    const char *label = rec_severity_label(sev);
    set(o, "id", str_at(r, row, 0));
    set(o, "symptom", item_at(r, row, 1, 2));
    set(o, "severity", int_at(r, row, 3));
    set(o, "severity_label", label ? json_string(label) : json_null());
    set(o, "recorded_at", rec_time_json(r, row, 4));
    set(o, "duration_minutes", int_at(r, row, 5));
    set(o, "triggers", json_at(r, row, 6));
    set(o, "note", str_at(r, row, 7));
    stamps(o, r, row, 8);
    return o;
}

json_t *rec_medication_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    const char *kind = null_at(r, row, 5) ? "" : PQgetvalue(r, row, 5);
    json_t *freq;
    if (strcmp(kind, "as_needed") == 0)
        freq = json_pack("{s:b}", "as_needed", 1);
    else if (*kind)
        freq = json_pack("{s:o}", kind, int_at(r, row, 6));
    else
        freq = json_null();
    set(o, "id", str_at(r, row, 0));
    set(o, "medication", item_at(r, row, 1, 2));
    set(o, "dose_amount", num_at(r, row, 3));
    set(o, "dose_unit", str_at(r, row, 4));
    set(o, "frequency", freq);
    set(o, "started_on", str_at(r, row, 7));
    set(o, "stopped_on", str_at(r, row, 8));
    set(o, "stop_reason", str_at(r, row, 9));
    set(o, "for_condition", str_at(r, row, 10));
    set(o, "note", str_at(r, row, 11));
    stamps(o, r, row, 12);
    return o;
}

json_t *rec_dose_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set(o, "id", str_at(r, row, 0));
    set(o, "medication_id", str_at(r, row, 1));
    set(o, "scheduled_at", rec_time_json(r, row, 2));
    set(o, "taken_at", rec_time_json(r, row, 3));
    set(o, "status", str_at(r, row, 4));
    set(o, "reason", str_at(r, row, 5));
    stamps(o, r, row, 6);
    return o;
}

json_t *rec_evaluation_json(PGresult *r, int row)
{
    json_t *o = json_object(), *raw = json_at(r, row, 7), *effects = json_array(), *e;
    size_t i;
    if (!o || !effects) {
        json_decref(o);
        o = NULL;
        goto out;
    }
    /* Rows of [symptom_id, custom name, severity]. */
    json_array_foreach(raw, i, e)
    {
        const char *sid = json_string_value(json_array_get(e, 0));
        const char *name = json_string_value(json_array_get(e, 1));
        json_t *item = sid    ? json_string(sid)
                       : name ? json_pack("{s:s}", "custom", name)
                              : json_null();
        json_array_append_new(effects, json_pack("{s:o, s:O}", "symptom", item ? item : json_null(),
                                                 "severity", json_array_get(e, 2)));
    }
    set(o, "id", str_at(r, row, 0));
    set(o, "medication_id", str_at(r, row, 1));
    set(o, "evaluated_on", str_at(r, row, 2));
    set(o, "effectiveness", str_at(r, row, 3));
    set(o, "side_effects", json_incref(effects));
    set(o, "adherence", str_at(r, row, 4));
    set(o, "burden", str_at(r, row, 5));
    set(o, "note", str_at(r, row, 6));
    stamps(o, r, row, 8);
out:
    json_decref(raw);
    json_decref(effects);
    return o;
}

json_t *rec_goal_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set(o, "id", str_at(r, row, 0));
    set(o, "title", str_at(r, row, 1));
    set(o, "kind", str_at(r, row, 2));
    set(o, "symptom", str_at(r, row, 3));
    set(o, "medication", str_at(r, row, 4));
    set(o, "target_value", num_at(r, row, 5));
    set(o, "direction", str_at(r, row, 6));
    set(o, "due_on", str_at(r, row, 7));
    set(o, "status", str_at(r, row, 8));
    stamps(o, r, row, 9);
    return o;
}

json_t *rec_progress_json(PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set(o, "id", str_at(r, row, 0));
    set(o, "goal_id", str_at(r, row, 1));
    set(o, "value", num_at(r, row, 2));
    set(o, "recorded_at", rec_time_json(r, row, 3));
    set(o, "note", str_at(r, row, 4));
    stamps(o, r, row, 5);
    return o;
}

/* ---- cursors ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Base64url without padding. Returns the length written, or -1 when out (cap bytes) is too small.
 */
static int b64_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;
        if (k > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (k > 2)
            v |= in[i + 2];
        if (o + k + 2 > cap)
            return -1;
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (k > 1)
            out[o++] = b64url[(v >> 6) & 63];
        if (k > 2)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return (int)o;
}

/* Strict decoder: only the url alphabet, no padding, no stray bits. Returns the length or -1. */
static int b64_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    unsigned acc = 0;
    int bits = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(b64url, in[i]);
        if (!in[i] || !p)
            return -1;
        acc = (acc << 6) | (unsigned)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (int)o;
}

static void cursor_check(const char *scope, const char *payload, char out[17])
{
    char buf[REC_CURSOR_MAX + 64], hex[65];
    int n = snprintf(buf, sizeof(buf), "cc-cursor\n%s\n%s", scope, payload);
    svc_sha256_hex(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

int rec_cursor_encode(const char *scope, const char *const *fields, int n, char *out)
{
    char payload[REC_CURSOR_MAX], check[17];
    size_t used = 0;
    payload[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strchr(fields[i], '|') || strlen(fields[i]) >= 64)
            return -1;
        int w = snprintf(payload + used, sizeof(payload) - used, "%s%s", i ? "|" : "", fields[i]);
        if (w < 0 || (size_t)w >= sizeof(payload) - used)
            return -1;
        used += (size_t)w;
    }
    cursor_check(scope, payload, check);
    if (used + 18 >= sizeof(payload))
        return -1;
    snprintf(payload + used, sizeof(payload) - used, "|%s", check);
    used += 17;
    return b64_encode((const unsigned char *)payload, used, out, REC_CURSOR_MAX) < 0 ? -1 : 0;
}

int rec_cursor_decode(const char *scope, const char *cursor, char fields[][64], int nmax)
{
    unsigned char raw[REC_CURSOR_MAX];
    char check[17];
    if (!cursor || strlen(cursor) >= REC_CURSOR_MAX)
        return -1;
    int len = b64_decode(cursor, raw, sizeof(raw) - 1);
    if (len < 18)
        return -1;
    raw[len] = '\0';
    for (int i = 0; i < len; i++)
        if (raw[i] < 0x20 || raw[i] > 0x7e)
            return -1;
    char *payload = (char *)raw, *bar = strrchr(payload, '|');
    if (!bar || strlen(bar + 1) != 16)
        return -1;
    *bar = '\0';
    cursor_check(scope, payload, check);
    if (strcmp(check, bar + 1) != 0)
        return -1;
    int n = 0;
    for (char *p = payload;; n++) {
        char *end = strchr(p, '|');
        size_t flen = end ? (size_t)(end - p) : strlen(p);
        if (n == nmax || flen >= 64)
            return -1;
        memcpy(fields[n], p, flen);
        fields[n][flen] = '\0';
        if (!end)
            break;
        p = end + 1;
    }
    return n + 1;
}

/* ---- goals ---- */

int rec_goal_stats(const double *t, const double *v, size_t n, double target, bool decrease,
                   bool has_due, double due, double *latest, double *percent, bool *on_track)
{
    int have = 0;
    if (n < 1)
        return 0;
    double first = v[0], last = v[n - 1];
    *latest = last;
    /* Progress is measured toward the target; a first value already past it counts as done while
     * the latest value still is. */
    bool first_met = decrease ? first <= target : first >= target;
    bool last_met = decrease ? last <= target : last >= target;
    double p;
    if (first_met)
        p = last_met ? 100.0 : 0.0;
    else
        p = (first - last) / (first - target) * 100.0;
    *percent = p < 0 ? 0 : p > 100 ? 100 : p;
    have |= REC_GOAL_PERCENT;
    if (n < 3)
        return have;
    /* Fit in days from the first point: well-scaled whatever the epoch. */
    double *x = malloc(n * sizeof(double));
    if (!x)
        return have;
    for (size_t i = 0; i < n; i++)
        x[i] = (t[i] - t[0]) / 86400.0;
    double c0, c1, cov00, cov01, cov11, sumsq;
    int rc = gsl_fit_linear(x, 1, v, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &sumsq);
    free(x);
    if (rc != 0 || !isfinite(c0) || !isfinite(c1))
        return have;
    if (has_due) {
        double at_due = c0 + c1 * (due - t[0]) / 86400.0;
        *on_track = decrease ? at_due <= target : at_due >= target;
    } else {
        *on_track = decrease ? c1 < 0 : c1 > 0;
    }
    return have | REC_GOAL_TRACK;
}

/* ---- adherence ---- */

json_t *rec_medication_adherence(struct db_conn *db, const char *member_id,
                                 const char *medication_id)
{
    static const char *sql =
        "WITH d AS (SELECT status, "
        "coalesce(scheduled_at > now() - interval '7 days' AND scheduled_at <= now(), false) "
        "OR coalesce(taken_at > now() - interval '7 days' AND taken_at <= now(), false) AS w7, "
        "coalesce(scheduled_at > now() - interval '30 days' AND scheduled_at <= now(), false) "
        "OR coalesce(taken_at > now() - interval '30 days' AND taken_at <= now(), false) AS w30 "
        "FROM medication_dose WHERE member_id = $1 AND medication_ref = $2) "
        "SELECT count(*) FILTER (WHERE w7 AND status = 'taken'), "
        "count(*) FILTER (WHERE w7 AND status = 'late'), "
        "count(*) FILTER (WHERE w7 AND status = 'skipped'), "
        "count(*) FILTER (WHERE w7 AND status = 'missed'), "
        "count(*) FILTER (WHERE w30 AND status = 'taken'), "
        "count(*) FILTER (WHERE w30 AND status = 'late'), "
        "count(*) FILTER (WHERE w30 AND status = 'skipped'), "
        "count(*) FILTER (WHERE w30 AND status = 'missed') FROM d";
    const char *params[] = {member_id, medication_id};
    PGresult *r = db_prep(db, "rec_adherence", sql, 2, params);
    json_t *out = NULL;
    if (!r || PQntuples(r) != 1)
        goto out;
    out = json_object();
    for (int w = 0; w < 2 && out; w++) {
        long long c[4], all = 0;
        for (int k = 0; k < 4; k++)
            all += c[k] = strtoll(PQgetvalue(r, 0, w * 4 + k), NULL, 10);
        json_t *rate = all ? json_real((double)(c[0] + c[1]) / (double)all) : json_null();
        set(out, w ? "last_30_days" : "last_7_days",
            json_pack("{s:I, s:I, s:I, s:I, s:o}", "taken", c[0], "late", c[1], "skipped", c[2],
                      "missed", c[3], "rate", rate ? rate : json_null()));
    }
out:
    PQclear(r);
    return out;
}

/* ---- export ---- */

int rec_export_extra(struct svc_req *req, json_t *out)
{
    /* The member's consents with their full history (GDPR Art. 20: the record includes them). */
    json_t *consents = svc_consent_export(req);
    if (!consents)
        return -1;
    return json_object_set_new(out, "consents", consents);
}
