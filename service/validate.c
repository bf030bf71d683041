#include "validate.h"
#include "consent.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void svc_v_init(struct svc_v *v, const char *prefix)
{
    v->errors = json_array();
    snprintf(v->prefix, sizeof(v->prefix), "%s", prefix ? prefix : "");
}

void svc_v_free(struct svc_v *v)
{
    if (!v)
        return;
    json_decref(v->errors);
    v->errors = NULL;
}

void svc_v_error(struct svc_v *v, const char *field, const char *fmt, ...)
{
    char name[192], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->prefix[0])
        snprintf(name, sizeof(name), "%s.%s", v->prefix, field);
    else
        snprintf(name, sizeof(name), "%s", field);
    if (json_array_size(v->errors) < 64)
        json_array_append_new(v->errors, json_pack("{s:s, s:s}", "field", name, "message", msg));
}

bool svc_v_failed(const struct svc_v *v)
{
    return json_array_size(v->errors) > 0;
}

void svc_v_problem(struct svc_v *v, struct svc_resp *resp)
{
    char detail[256];
    json_t *first = json_array_get(v->errors, 0);
    size_t n = json_array_size(v->errors);
    snprintf(detail, sizeof(detail), "%zu invalid field%s, first %s: %s", n, n == 1 ? "" : "s",
             json_string_value(json_object_get(first, "field")),
             json_string_value(json_object_get(first, "message")));
    svc_problem(resp, 422, detail, v->errors);
    v->errors = json_array();
}

int svc_v_only(struct svc_v *v, const json_t *obj, const char *const *allowed)
{
    return svc_v_only_also(v, obj, allowed, NULL);
}

int svc_v_only_also(struct svc_v *v, const json_t *obj, const char *const *allowed,
                    const char *const *also)
{
    const char *key;
    json_t *val;
    int bad = 0;
    json_object_foreach((json_t *)obj, key, val)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        for (const char *const *a = also; a && *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            bad++;
            svc_v_error(v, key, "unknown field");
        }
    }
    return bad;
}

/* Shared presence logic: returns the value, or sets *rc for absent/null. */
static json_t *get(struct svc_v *v, const json_t *obj, const char *key, bool required, int *rc)
{
    json_t *val = json_object_get(obj, key);
    if (!val) {
        *rc = SVC_V_ABSENT;
        if (required) {
            svc_v_error(v, key, "is required");
            *rc = SVC_V_BAD;
        }
        return NULL;
    }
    if (json_is_null(val)) {
        *rc = SVC_V_NULL;
        if (required) {
            svc_v_error(v, key, "must not be null");
            *rc = SVC_V_BAD;
        }
        return NULL;
    }
    *rc = SVC_V_OK;
    return val;
}

int svc_v_str(struct svc_v *v, const json_t *obj, const char *key, bool required, size_t minlen,
              size_t maxlen, const char **out)
{
    int rc;
    json_t *val = get(v, obj, key, required, &rc);
    if (!val)
        return rc;
    if (!json_is_string(val)) {
        svc_v_error(v, key, "must be a string");
        return SVC_V_BAD;
    }
    size_t len = json_string_length(val);
    if (len < minlen || len > maxlen) {
        if (minlen && len < minlen)
            svc_v_error(v, key, "must be at least %zu characters", minlen);
        else
            svc_v_error(v, key, "must be at most %zu characters", maxlen);
        return SVC_V_BAD;
    }
    *out = json_string_value(val);
    return SVC_V_OK;
}

int svc_v_enum(struct svc_v *v, const json_t *obj, const char *key, bool required,
               const char *const *values, int *out)
{
    const char *s;
    int rc = svc_v_str(v, obj, key, required, 1, 64, &s);
    if (rc != SVC_V_OK)
        return rc;
    for (int i = 0; values[i]; i++)
        if (strcmp(values[i], s) == 0) {
            *out = i;
            return SVC_V_OK;
        }
    char list[256] = "";
    for (int i = 0; values[i]; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", values[i]);
    }
    svc_v_error(v, key, "must be one of: %s", list);
    return SVC_V_BAD;
}

int svc_v_int(struct svc_v *v, const json_t *obj, const char *key, bool required, long long min,
              long long max, long long *out)
{
    int rc;
    json_t *val = get(v, obj, key, required, &rc);
    if (!val)
        return rc;
    if (!json_is_integer(val)) {
        svc_v_error(v, key, "must be an integer");
        return SVC_V_BAD;
    }
    long long x = json_integer_value(val);
    if (x < min || x > max) {
        svc_v_error(v, key, "must be between %lld and %lld", min, max);
        return SVC_V_BAD;
    }
    *out = x;
    return SVC_V_OK;
}

int svc_v_num(struct svc_v *v, const json_t *obj, const char *key, bool required, double min,
              double max, double *out)
{
    int rc;
    json_t *val = get(v, obj, key, required, &rc);
    if (!val)
        return rc;
    if (!json_is_number(val)) {
        svc_v_error(v, key, "must be a number");
        return SVC_V_BAD;
    }
    double x = json_number_value(val);
    if (!isfinite(x) || x < min || x > max) {
        svc_v_error(v, key, "must be between %g and %g", min, max);
        return SVC_V_BAD;
    }
    *out = x;
    return SVC_V_OK;
}

int svc_v_bool(struct svc_v *v, const json_t *obj, const char *key, bool required, bool *out)
{
    int rc;
    json_t *val = get(v, obj, key, required, &rc);
    if (!val)
        return rc;
    if (!json_is_boolean(val)) {
        svc_v_error(v, key, "must be true or false");
        return SVC_V_BAD;
    }
    *out = json_is_true(val);
    return SVC_V_OK;
}

int svc_v_categories(struct svc_v *v, const json_t *obj, const char *key, bool required,
                     unsigned *out)
{
    int rc;
    size_t bad = 0;
    json_t *val = get(v, obj, key, required, &rc);
    if (!val)
        return rc;
    if (consent_categories_from_json(val, out, &bad) == 0)
        return SVC_V_OK;
    if (bad == (size_t)-1) {
        svc_v_error(
            v, key,
            "must be a non-empty array of: demographics, conditions, symptoms, medications, goals");
    } else {
        char field[96];
        snprintf(field, sizeof(field), "%.60s[%zu]", key, bad);
        svc_v_error(
            v, field,
            "must be one of demographics, conditions, symptoms, medications, goals, each once");
    }
    return SVC_V_BAD;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

static int digits(const char *s, int n)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    return x;
}

int svc_parse_date(const char *s, int *y, int *m, int *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    *y = digits(s, 4);
    *m = digits(s + 5, 2);
    *d = digits(s + 8, 2);
    if (*y < 1 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
        return -1;
    return 0;
}

int svc_parse_time(const char *s, int64_t *epoch)
{
    int y, mo, d;
    char date[11];
    size_t len = strlen(s);
    if (len < 20 || len > 35)
        return -1;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (svc_parse_date(date, &y, &mo, &d) < 0 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int hh = digits(s + 11, 2), mi = digits(s + 14, 2), ss = digits(s + 17, 2);
    if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p) && n < 9)
            p++, n++;
        if (n == 0 || isdigit((unsigned char)*p))
            return -1;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6) {
        int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = hh,
                    .tm_min = mi,
                    .tm_sec = ss > 59 ? 59 : ss};
    *epoch = (int64_t)timegm(&tm) - off;
    return 0;
}

int svc_v_date(struct svc_v *v, const json_t *obj, const char *key, bool required, char out[11])
{
    const char *s;
    int y, m, d;
    int rc = svc_v_str(v, obj, key, required, 0, 64, &s);
    if (rc != SVC_V_OK)
        return rc;
    if (svc_parse_date(s, &y, &m, &d) < 0 || y < 1900 || y > 2200) {
        svc_v_error(v, key, "must be a date YYYY-MM-DD");
        return SVC_V_BAD;
    }
    memcpy(out, s, 11);
    return SVC_V_OK;
}

int svc_v_time(struct svc_v *v, const json_t *obj, const char *key, bool required, int64_t *epoch,
               char out[40])
{
    const char *s;
    int rc = svc_v_str(v, obj, key, required, 0, 64, &s);
    if (rc != SVC_V_OK)
        return rc;
    if (svc_parse_time(s, epoch) < 0 || *epoch < -2208988800LL || *epoch > 7258118400LL) {
        svc_v_error(v, key,
                    "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-21T08:30:00+01:00");
        return SVC_V_BAD;
    }
    snprintf(out, 40, "%s", s);
    return SVC_V_OK;
}

bool svc_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

bool svc_valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *p < 0xc2) || (n == 3 && *p > 0xf4))
            return false;
        unsigned cp = n ? *p & (0x3f >> n) : *p;
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
    }
    return true;
}

bool svc_v_time_arg(struct svc_v *v, const char *name, const char *s, char out[40], int64_t *epoch)
{
    out[0] = '\0';
    if (!s)
        return true;
    size_t n = strlen(s);
    if (n >= 40 || svc_parse_time(s, epoch) < 0 || *epoch < -2208988800LL ||
        *epoch > 7258118400LL ||
        (s[n - 1] != 'Z' && s[n - 1] != 'z' && strcmp(s + n - 5, "14:00") > 0)) {
        svc_v_error(v, name, "must be an RFC 3339 timestamp with an offset (write + as %%2B)");
        return false;
    }
    snprintf(out, 40, "%s", s);
    for (size_t i = 0; i < n; i++)
        if (out[i] == 't' || out[i] == 'z')
            out[i] = (char)(out[i] - 32);
    return true;
}
