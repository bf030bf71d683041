/* FHIR R4 mapping helpers (see fhir.h for the mapping tables). Pure functions over jansson values.
 */
#include "fhir.h"
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CODINGS 64  /* codings examined per CodeableConcept */
#define MAX_TEXT 4096   /* bytes of a text or display considered at all */
#define MAX_DOSE 100000 /* the record API's dose_amount ceiling */

/* ---- small readers ---- */

const char *fhir_str(const json_t *obj, const char *key, size_t maxlen)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > maxlen || strlen(s) != n)
        return NULL;
    return s;
}

const char *fhir_reference(const json_t *obj, const char *key)
{
    return fhir_str(json_object_get(obj, key), "reference", 1024);
}

bool fhir_is_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

/* The code of the first coding of a CodeableConcept (at key) that is one of codes[], or NULL. */
static const char *concept_code(const json_t *obj, const char *key, const char *const *codes)
{
    const json_t *codings = json_object_get(json_object_get(obj, key), "coding");
    json_t *c;
    size_t i;
    json_array_foreach(codings, i, c)
    {
        if (i >= MAX_CODINGS)
            break;
        const char *code = fhir_str(c, "code", 64);
        for (size_t k = 0; code && codes[k]; k++)
            if (strcmp(code, codes[k]) == 0)
                return codes[k];
    }
    return NULL;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* ---- dates and times ---- */

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

/* "hh:mm:ss[.f+](Z|+hh:mm|-hh:mm)" exactly, so svc_parse_time never reads past the end. */
static bool time_shape(const char *t)
{
    if (digits(t, 2) < 0 || t[2] != ':' || digits(t + 3, 2) < 0 || t[5] != ':' ||
        digits(t + 6, 2) < 0)
        return false;
    const char *p = t + 8;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++)
            n++;
        if (n < 1 || n > 9)
            return false;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return false;
    return digits(p + 1, 2) >= 0 && p[3] == ':' && digits(p + 4, 2) >= 0 && p[6] == '\0';
}

/* A FHIR date or dateTime: its date part (YYYY, YYYY-MM or YYYY-MM-DD) into part, the first day of
 * that period into first. A time, when present, must be well formed. Years 1900..2200. Returns the
 * precision (1 year, 2 month, 3 day) or -1. */
static int date_part(const char *s, char part[11], char first[11])
{
    int y, m = 1, d = 1, prec;
    size_t n = s ? strcspn(s, "T") : 0;
    if (!s || (n != 4 && n != 7 && n != 10) || (s[n] == 'T' && (n != 10 || !time_shape(s + n + 1))))
        return -1;
    if ((y = digits(s, 4)) < 1900 || y > 2200)
        return -1;
    prec = n == 4 ? 1 : n == 7 ? 2 : 3;
    if (prec >= 2 && (s[4] != '-' || (m = digits(s + 5, 2)) < 1 || m > 12))
        return -1;
    if (prec == 3) {
        char buf[11];
        memcpy(buf, s, 10);
        buf[10] = '\0';
        if (svc_parse_date(buf, &y, &m, &d) < 0)
            return -1;
    }
    memcpy(part, s, n);
    part[n] = '\0';
    snprintf(first, 11, "%04d-%02d-%02d", y, m, d);
    return prec;
}

/* The first of keys present in obj (key may be "a.b" for obj.a.b): its value, or NULL. */
static const json_t *first_present(const json_t *obj, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        const char *dot = strchr(keys[i], '.');
        const json_t *v;
        if (dot) {
            char head[64];
            snprintf(head, sizeof(head), "%.*s", (int)(dot - keys[i]), keys[i]);
            v = json_object_get(json_object_get(obj, head), dot + 1);
        } else {
            v = json_object_get(obj, keys[i]);
        }
        if (v)
            return v;
    }
    return NULL;
}

/* ---- export ---- */

const char *fhir_gender(const char *sex)
{
    if (!sex)
        return "unknown";
    if (strcmp(sex, "female") == 0)
        return "female";
    if (strcmp(sex, "male") == 0)
        return "male";
    if (strcmp(sex, "intersex") == 0)
        return "other";
    return "unknown";
}

const char *fhir_goal_lifecycle(const char *status)
{
    if (status && strcmp(status, "achieved") == 0)
        return "completed";
    if (status && strcmp(status, "abandoned") == 0)
        return "cancelled";
    return "active";
}

const char *fhir_medication_status(const char *stopped_on, const char *stop_reason,
                                   const char *today)
{
    if (!stopped_on || !*stopped_on || strcmp(stopped_on, today) > 0)
        return "active";
    if (!stop_reason || !*stop_reason || strcmp(stop_reason, "remission") == 0)
        return "completed";
    return "stopped";
}

static const struct {
    const char *ours, *ucum;
} ucum_units[] = {{"mg", "mg"}, {"mcg", "ug"}, {"g", "g"}, {"ml", "mL"}, {"IU", "[iU]"}};

const char *fhir_ucum(const char *unit)
{
    for (size_t i = 0; unit && i < sizeof(ucum_units) / sizeof(ucum_units[0]); i++)
        if (strcmp(unit, ucum_units[i].ours) == 0)
            return ucum_units[i].ucum;
    return NULL;
}

json_t *fhir_coding(const char *system, const char *code, const char *display)
{
    json_t *c = json_pack("{s:s, s:s}", "system", system, "code", code);
    if (c && display && *display)
        json_object_set_new(c, "display", json_string(display));
    return c;
}

json_t *fhir_ref(const char *id)
{
    char urn[64];
    snprintf(urn, sizeof(urn), "urn:uuid:%s", id);
    return json_pack("{s:s}", "reference", urn);
}

json_t *fhir_number(const char *text)
{
    char *end;
    if (!text || !*text)
        return NULL;
    if (!strpbrk(text, ".eE")) {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*end && errno == 0)
            return json_integer(v);
    }
    double d = strtod(text, &end);
    if (*end || !isfinite(d))
        return NULL;
    return json_real(d);
}

int fhir_entry_add(json_t *entries, const char *id, json_t *resource)
{
    char urn[64];
    if (!resource)
        return -1;
    snprintf(urn, sizeof(urn), "urn:uuid:%s", id);
    return json_array_append_new(entries,
                                 json_pack("{s:s, s:o}", "fullUrl", urn, "resource", resource));
}

void fhir_trim_fraction(char *ts)
{
    char *dot = strchr(ts, '.');
    char *z = dot ? strchr(dot, 'Z') : NULL;
    if (!z)
        return;
    char *p = z;
    while (p > dot + 1 && p[-1] == '0')
        p--;
    if (p == dot + 1)
        p = dot;
    memmove(p, z, strlen(z) + 1);
}

/* ---- codes ---- */

/* Copy a display name: trimmed, 1..FHIR_NAME_MAX characters, no control characters. */
static bool copy_name(const char *s, char out[FHIR_NAME_MAX * 4 + 1])
{
    size_t chars = 0, n;
    if (!s)
        return false;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0 || n > FHIR_NAME_MAX * 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if ((c & 0xc0) != 0x80)
            chars++;
    }
    if (chars > FHIR_NAME_MAX)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static void add_icd_candidate(struct fhir_codes *out, const char *code)
{
    for (int i = 0; i < out->n_icd10; i++)
        if (strcmp(out->icd10[i], code) == 0)
            return;
    if (out->n_icd10 < FHIR_ICD_MAX)
        snprintf(out->icd10[out->n_icd10++], sizeof(out->icd10[0]), "%s", code);
}

/* An ICD-10 code and its ancestors, most specific first. Codes are a letter, two more
 * alphanumerics, then optionally a point and 1..4 alphanumerics ("E11", "E11.65", "C7A.01");
 * "E1165" is read as E11.65. */
static void add_icd(struct fhir_codes *out, const char *code)
{
    char c[16];
    size_t n = strlen(code), k = 0;
    if (n < 3 || n > 8)
        return;
    for (size_t i = 0; i < n; i++) {
        char ch = (char)toupper((unsigned char)code[i]);
        if (i == 3) {
            c[k++] = '.';
            if (ch == '.')
                continue;
        }
        if (!isalnum((unsigned char)ch))
            return;
        c[k++] = ch;
    }
    c[k] = '\0';
    if (!isalpha((unsigned char)c[0]) || !isalnum((unsigned char)c[1]) ||
        !isalnum((unsigned char)c[2]) || (k > 3 && (k < 5 || k > 8)))
        return;
    while (k >= 3) {
        add_icd_candidate(out, c);
        if (k == 3)
            break;
        c[--k] = '\0';
        if (c[k - 1] == '.')
            c[--k] = '\0';
    }
}

void fhir_codes_parse(const json_t *concept, struct fhir_codes *out)
{
    const char *first_display = NULL;
    json_t *c;
    size_t i;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(concept))
        return;
    json_array_foreach(json_object_get(concept, "coding"), i, c)
    {
        if (i >= MAX_CODINGS)
            break;
        const char *sys = fhir_str(c, "system", 256), *code = fhir_str(c, "code", 64);
        const char *display = fhir_str(c, "display", MAX_TEXT);
        if (!first_display && display)
            first_display = display;
        if (!sys || !code)
            continue;
        if (strcmp(sys, FHIR_SYS_ICD10) == 0 || strcmp(sys, FHIR_SYS_ICD10CM) == 0) {
            add_icd(out, code);
        } else if (strcmp(sys, FHIR_SYS_SNOMED) == 0 && all_digits(code, 6, 18)) {
            if (out->n_snomed < FHIR_MAX_CODES)
                snprintf(out->snomed[out->n_snomed++], sizeof(out->snomed[0]), "%s", code);
        } else if (strcmp(sys, FHIR_SYS_RXNORM) == 0 && all_digits(code, 1, 10)) {
            if (out->n_rxnorm < FHIR_MAX_CODES)
                snprintf(out->rxnorm[out->n_rxnorm++], sizeof(out->rxnorm[0]), "%s", code);
        }
    }
    if (!copy_name(fhir_str(concept, "text", MAX_TEXT), out->text) &&
        !copy_name(first_display, out->text))
        out->text[0] = '\0';
}

int fhir_array_literal(const char *codes, int n, size_t stride, char *out)
{
    size_t len = 0;
    out[len++] = '{';
    for (int i = 0; i < n; i++) {
        const char *c = codes + (size_t)i * stride;
        size_t cl = strlen(c);
        if (len + cl + 3 > FHIR_ARRAY_MAX)
            return -1;
        if (i)
            out[len++] = ',';
        memcpy(out + len, c, cl);
        len += cl;
    }
    out[len++] = '}';
    out[len] = '\0';
    return 0;
}

/* ---- import ---- */

int fhir_patient_parse(const json_t *res, int this_year, struct fhir_patient *out,
                       const char **reason)
{
    static const char *const genders[] = {"female", "male", "other", "unknown", NULL};
    static const char *const sexes[] = {"female", "male", "intersex", "unknown"};
    char part[11], first[11];
    json_t *e;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (json_object_get(res, "birthDate")) {
        if (date_part(fhir_str(res, "birthDate", 10), part, first) < 0 || atoi(part) > this_year) {
            *reason = "birthDate is not a date from 1900 to this year";
            return -1;
        }
        out->birth_year = atoi(part);
    }
    if (json_object_get(res, "gender")) {
        const char *g = fhir_str(res, "gender", 16);
        size_t k;
        for (k = 0; g && genders[k] && strcmp(g, genders[k]) != 0; k++)
            ;
        if (!g || !genders[k]) {
            *reason = "gender is not female, male, other or unknown";
            return -1;
        }
        out->sex_at_birth = sexes[k];
    }
    /* Recorded birth sex is what we store; it wins over administrative gender. */
    json_array_foreach(json_object_get(res, "extension"), i, e)
    {
        if (i >= MAX_CODINGS)
            break;
        const char *url = fhir_str(e, "url", 256), *code = fhir_str(e, "valueCode", 16);
        if (!url || strcmp(url, FHIR_EXT_BIRTHSEX) != 0 || !code)
            continue;
        out->sex_at_birth = strcmp(code, "F") == 0   ? "female"
                            : strcmp(code, "M") == 0 ? "male"
                                                     : "unknown";
        break;
    }
    if (!out->birth_year && !out->sex_at_birth) {
        *reason = "no birthDate or gender to import";
        return -1;
    }
    return 0;
}

int fhir_condition_parse(const json_t *res, const char *today, struct fhir_condition *out,
                         const char **reason)
{
    static const char *const bad_verification[] = {"entered-in-error", "refuted", NULL};
    static const char *const clinical[] = {"active",   "recurrence", "relapse", "remission",
                                           "inactive", "resolved",   NULL};
    static const char *const onset_keys[] = {"onsetDateTime", "onsetPeriod.start", "recordedDate",
                                             NULL};
    memset(out, 0, sizeof(*out));
    if (concept_code(res, "verificationStatus", bad_verification)) {
        *reason = "verificationStatus is entered-in-error or refuted";
        return -1;
    }
    fhir_codes_parse(json_object_get(res, "code"), &out->code);
    if (!out->code.n_icd10 && !out->code.n_snomed && !out->code.text[0]) {
        *reason = "no ICD-10 or SNOMED code and no text";
        return -1;
    }
    const char *cs = concept_code(res, "clinicalStatus", clinical);
    out->status = !cs || strcmp(cs, "recurrence") == 0 || strcmp(cs, "relapse") == 0 ? "active"
                  : strcmp(cs, "inactive") == 0                                      ? "resolved"
                                                                                     : cs;
    const json_t *onset = first_present(res, onset_keys);
    if (!onset) {
        *reason = "no onset or recorded date";
        return -1;
    }
    const char *os =
        json_is_string(onset) && strlen(json_string_value(onset)) == json_string_length(onset)
            ? json_string_value(onset)
            : NULL;
    if (date_part(os, out->diagnosed_on, out->diagnosed_date) < 0) {
        *reason = "onset is not a valid date";
        return -1;
    }
    if (strcmp(out->diagnosed_date, today) > 0) {
        *reason = "onset is in the future";
        return -1;
    }
    return 0;
}

/* Our dose unit for a quantity's UCUM code or unit text. */
static const char *dose_unit(const json_t *q)
{
    static const struct {
        const char *name, *ours;
    } units[] = {
        {"mg", "mg"},
        {"milligram", "mg"},
        {"milligrams", "mg"},
        {"ug", "mcg"},
        {"mcg", "mcg"},
        {"\xc2\xb5g", "mcg"},
        {"microgram", "mcg"},
        {"micrograms", "mcg"},
        {"g", "g"},
        {"gram", "g"},
        {"grams", "g"},
        {"ml", "ml"},
        {"milliliter", "ml"},
        {"millilitre", "ml"},
        {"milliliters", "ml"},
        {"millilitres", "ml"},
        {"[iu]", "IU"},
        {"iu", "IU"},
        {"[u]", "units"},
        {"u", "units"},
        {"unit", "units"},
        {"units", "units"},
        {"{unit}", "units"},
        {"{units}", "units"},
        {"puff", "puffs"},
        {"puffs", "puffs"},
        {"{puff}", "puffs"},
        {"{puffs}", "puffs"},
        {"actuat", "puffs"},
        {"{actuat}", "puffs"},
        {"actuation", "puffs"},
        {"actuations", "puffs"},
        {"tablet", "tablets"},
        {"tablets", "tablets"},
        {"tab", "tablets"},
        {"tabs", "tablets"},
        {"{tablet}", "tablets"},
        {"{tablets}", "tablets"},
        {"{tbl}", "tablets"},
        {"{tab}", "tablets"},
        {"drop", "drops"},
        {"drops", "drops"},
        {"{drop}", "drops"},
        {"{drops}", "drops"},
        {"[drp]", "drops"},
        {"gtt", "drops"},
        {"patch", "patches"},
        {"patches", "patches"},
        {"{patch}", "patches"},
        {"{patches}", "patches"},
    };
    const char *names[] = {fhir_str(q, "code", 32), fhir_str(q, "unit", 32)};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; names[k] && i < sizeof(units) / sizeof(units[0]); i++)
            if (strcasecmp(names[k], units[i].name) == 0)
                return units[i].ours;
    return NULL;
}

/* Our stop_reason when a statusReason's text is one of them (as our export writes it), else NULL.
 */
static const char *stop_reason(const json_t *concept)
{
    static const char *const reasons[] = {"side_effects",  "not_effective", "cost", "remission",
                                          "doctor_advice", "other",         NULL};
    const char *text = fhir_str(concept, "text", 32);
    for (size_t i = 0; text && reasons[i]; i++)
        if (strcmp(text, reasons[i]) == 0)
            return reasons[i];
    return NULL;
}

/* Whole number in lo..hi, or -1. */
static long long whole(double v, long long lo, long long hi)
{
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return -1;
    return (long long)v;
}

static void frequency(const json_t *dosage, struct fhir_medication *out)
{
    const json_t *rep = json_object_get(json_object_get(dosage, "timing"), "repeat");
    const json_t *jf = json_object_get(rep, "frequency"), *jp = json_object_get(rep, "period");
    const char *unit = fhir_str(rep, "periodUnit", 8);
    long long f = jf ? (json_is_integer(jf) ? json_integer_value(jf) : -1) : 1;
    double p = json_is_number(jp) ? json_number_value(jp) : -1;
    long long v;

    out->freq_kind = NULL;
    if (unit && f >= 1 && f <= 1000 && p > 0 && p <= 1e6) {
        if (strcmp(unit, "d") == 0) {
            if (p == 1 && f <= 24)
                out->freq_kind = "times_per_day", out->freq_value = (int)f;
            else if (f == 1 && (v = whole(p, 1, 365)) > 0)
                out->freq_kind = "every_n_days", out->freq_value = (int)v;
        } else if (strcmp(unit, "h") == 0) {
            if ((v = whole(24.0 * (double)f / p, 1, 24)) > 0)
                out->freq_kind = "times_per_day", out->freq_value = (int)v;
            else if (f == 1 && (v = whole(p / 24.0, 1, 365)) > 0)
                out->freq_kind = "every_n_days", out->freq_value = (int)v;
        } else if (strcmp(unit, "wk") == 0) {
            if (f == 1 && (v = whole(p, 1, 52)) > 0)
                out->freq_kind = "every_n_days", out->freq_value = (int)(7 * v);
        }
    }
    if (out->freq_kind)
        return;
    if (json_is_true(json_object_get(dosage, "asNeededBoolean")))
        out->freq_kind = "as_needed", out->freq_value = 0;
    else
        out->freq_kind = "times_per_day", out->freq_value = 1;
}

/* The Medication code that res points to: its contained resource for "#id", else the one the caller
 * found. */
static const json_t *medication_code(const json_t *res, const json_t *medication)
{
    const json_t *concept = json_object_get(res, "medicationCodeableConcept");
    const char *ref = fhir_reference(res, "medicationReference");
    json_t *c;
    size_t i;
    if (concept || !ref)
    return concept;
    if (ref[0] == '#') {
        json_array_foreach(json_object_get(res, "contained"), i, c)
        {
            const char *id = fhir_str(c, "id", 64), *type = fhir_str(c, "resourceType", 64);
            if (id && type && strcmp(type, "Medication") == 0 && strcmp(id, ref + 1) == 0)
                return json_object_get(c, "code");
        }
        return NULL;
    }
    return json_object_get(medication, "code");
}

int fhir_medication_parse(const json_t *res, bool request, const json_t *medication,
                          struct fhir_medication *out, const char **reason)
{
    static const char *const stmt_start[] = {"effectivePeriod.start", "effectiveDateTime",
                                             "dateAsserted", NULL};
    static const char *const req_start[] = {"authoredOn", NULL};
    char part[11], first[11];
    const json_t *dosage, *v;
    const char *status = fhir_str(res, "status", 32);

    memset(out, 0, sizeof(*out));
    if (status && (strcmp(status, "entered-in-error") == 0 || strcmp(status, "not-taken") == 0 ||
                   strcmp(status, "cancelled") == 0 || strcmp(status, "draft") == 0)) {
        *reason = "status is entered-in-error, not-taken, cancelled or draft";
        return -1;
    }
    fhir_codes_parse(medication_code(res, medication), &out->code);
    if (!out->code.n_rxnorm && !out->code.text[0]) {
        *reason = "no RxNorm code and no medication name";
        return -1;
    }
    dosage = json_array_get(json_object_get(res, request ? "dosageInstruction" : "dosage"), 0);
    const json_t *bounds = json_object_get(
        json_object_get(json_object_get(dosage, "timing"), "repeat"), "boundsPeriod");

    v = first_present(res, request ? req_start : stmt_start);
    if (!v && request)
        v = json_object_get(bounds, "start");
    if (!v) {
        *reason = "no start date";
        return -1;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        date_part(json_string_value(v), part, out->started_on) < 0) {
        *reason = "start date is not a valid date";
        return -1;
    }
    if (status && (strcmp(status, "stopped") == 0 || strcmp(status, "completed") == 0)) {
        v = request ? json_object_get(bounds, "end")
                    : json_object_get(json_object_get(res, "effectivePeriod"), "end");
        if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
            date_part(json_string_value(v), part, first) > 0 && strcmp(first, out->started_on) >= 0)
            memcpy(out->stopped_on, first, sizeof(first));
    }
    if (out->stopped_on[0])
        out->stop_reason =
            stop_reason(request ? json_object_get(res, "statusReason")
                                : json_array_get(json_object_get(res, "statusReason"), 0));

    const json_t *q =
        json_object_get(json_array_get(json_object_get(dosage, "doseAndRate"), 0), "doseQuantity");
    const json_t *qv = json_object_get(q, "value");
    const char *unit = dose_unit(q);
    if (unit && json_is_number(qv) && json_number_value(qv) > 0 &&
        json_number_value(qv) <= MAX_DOSE) {
        if (json_is_integer(qv))
            snprintf(out->dose_amount, sizeof(out->dose_amount), "%lld",
                     (long long)json_integer_value(qv));
        else
            snprintf(out->dose_amount, sizeof(out->dose_amount), "%.15g", json_real_value(qv));
        out->dose_unit = unit;
    }
    frequency(dosage, out);
    out->reason_ref =
        fhir_str(json_array_get(json_object_get(res, "reasonReference"), 0), "reference", 1024);
    return 0;
}

int fhir_observation_parse(const json_t *res, int64_t now, struct fhir_observation *out,
                           const char **reason)
{
    static const char *const time_keys[] = {"effectiveDateTime", "effectivePeriod.start",
                                            "effectiveInstant", "issued", NULL};
    const char *status = fhir_str(res, "status", 32);
    const json_t *vi = json_object_get(res, "valueInteger");
    const json_t *vq = json_object_get(json_object_get(res, "valueQuantity"), "value");
    double sev = -1;
    int64_t epoch;

    memset(out, 0, sizeof(*out));
    if (status && (strcmp(status, "entered-in-error") == 0 || strcmp(status, "cancelled") == 0)) {
        *reason = "status is entered-in-error or cancelled";
        return -1;
    }
    if (json_is_integer(vi))
        sev = (double)json_integer_value(vi);
    else if (!vi && json_is_number(vq))
        sev = floor(json_number_value(vq) + 0.5);
    if (!(sev >= 0 && sev <= 10)) {
        *reason = "value is not a severity from 0 to 10";
        return -1;
    }
    out->severity = (int)sev;

    const json_t *t = first_present(res, time_keys);
    const char *s = json_is_string(t) && strlen(json_string_value(t)) == json_string_length(t)
                        ? json_string_value(t)
                        : NULL;
    if (!t) {
        *reason = "no effective time";
        return -1;
    }
    if (s && strlen(s) == 10) {
        char part[11], first[11];
        if (date_part(s, part, first) != 3)
            s = NULL;
        else
            snprintf(out->recorded_at, sizeof(out->recorded_at), "%sT00:00:00Z", first);
    } else if (s && strlen(s) < sizeof(out->recorded_at) && strlen(s) > 11 && s[10] == 'T' &&
               time_shape(s + 11)) {
        snprintf(out->recorded_at, sizeof(out->recorded_at), "%s", s);
    } else {
        s = NULL;
    }
    if (!s || svc_parse_time(out->recorded_at, &epoch) < 0 || epoch < -2208988800LL) {
        *reason = "effective time is not a date or a timestamp with an offset";
        return -1;
    }
    if (epoch > now + 86400) {
        *reason = "effective time is more than a day ahead";
        return -1;
    }
    return 0;
}
