/* libFuzzer target for the FHIR import helpers: arbitrary bytes -> json_loadb -> every parser of
 * fhir.h on the value, on its array elements, bundle entries and contained resources (a Medication
 * found by fullUrl or contained as the medication argument), and the small readers on every key
 * and string inside. Aborts when an output breaks what fhir.h promises: 0 with *out filled (value
 * sets, bounds, dates no later than the clock) or -1 with a reason. The clock is fixed so every
 * finding reproduces. Not part of the CMake build. From the repository root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I service -I consent \
 *       service/fhir.c service/validate.c consent/consent.c tests/fuzz/fuzz_fhir.c \
 *       -o fuzz_fhir -ljansson -lm
 *   ./fuzz_fhir -max_total_time=120 corpus_dir/
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fhir.h"
#include "validate.h"

#define TODAY "2026-06-15"
#define THIS_YEAR 2026
#define NOW 1781524800 /* 2026-06-15T12:00:00Z */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* validate.c's svc_v_problem calls svc_problem, which lives in problem.c with the libpq code.
 * Nothing here reaches it, so a stub keeps the link to pure code. */
void svc_problem(struct svc_resp *resp, int status, const char *detail, json_t *errors)
{
    (void)resp;
    (void)status;
    (void)detail;
    (void)errors;
    abort();
}

static bool in_set(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static bool terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* YYYY-MM-DD, a real day, years 1900..2200. */
static bool is_date(const char *s)
{
    int y, m, d;
    return strlen(s) == 10 && svc_parse_date(s, &y, &m, &d) == 0 && y >= 1900 && y <= 2200;
}

/* ---- codes ---- */

static void check_literal(const char *codes, int n, size_t stride)
{
    char *out = malloc(FHIR_ARRAY_MAX); /* exactly the documented size, so ASan sees any overrun */
    size_t need = 2, len = 1;
    int rc;

    if (!out)
        abort();
    for (int i = 0; i < n; i++)
        need += strlen(codes + (size_t)i * stride) + (i ? 1 : 0);
    rc = fhir_array_literal(codes, n, stride, out);
    if (rc == 0) {
        CHECK(need < FHIR_ARRAY_MAX && strlen(out) == need && out[0] == '{' &&
              out[need - 1] == '}');
        for (int i = 0; i < n; i++) {
            const char *c = codes + (size_t)i * stride;
            size_t cl = strlen(c);
            CHECK(memcmp(out + len, c, cl) == 0);
            len += cl;
            CHECK(out[len] == (i + 1 < n ? ',' : '}'));
            len++;
        }
    } else {
        /* Codes here are shorter than FHIR_ARRAY_MAX - 3, so -1 means it truly does not fit. */
        CHECK(rc == -1 && need >= FHIR_ARRAY_MAX);
    }
    free(out);
}

/* fhir.h: ICD-10 candidates, SNOMED and RxNorm codes restricted to [A-Z0-9.]; text "" or trimmed,
 * 1..FHIR_NAME_MAX characters. */
static void check_codes(const struct fhir_codes *c)
{
    CHECK(c->n_icd10 >= 0 && c->n_icd10 <= FHIR_ICD_MAX);
    CHECK(c->n_snomed >= 0 && c->n_snomed <= FHIR_MAX_CODES);
    CHECK(c->n_rxnorm >= 0 && c->n_rxnorm <= FHIR_MAX_CODES);
    for (int i = 0; i < c->n_icd10; i++) {
        const char *s = c->icd10[i];
        CHECK(terminated(s, sizeof(c->icd10[0])));
        CHECK(strlen(s) >= 3 && s[0] >= 'A' && s[0] <= 'Z');
        CHECK(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") == strlen(s));
        CHECK(strlen(s) == 3 || (s[3] == '.' && strlen(s) > 4 && !strchr(s + 4, '.')));
    }
    for (int i = 0; i < c->n_snomed; i++)
        CHECK(terminated(c->snomed[i], sizeof(c->snomed[0])) && all_digits(c->snomed[i], 6, 18));
    for (int i = 0; i < c->n_rxnorm; i++)
        CHECK(terminated(c->rxnorm[i], sizeof(c->rxnorm[0])) && all_digits(c->rxnorm[i], 1, 10));
    CHECK(terminated(c->text, sizeof(c->text)));
    if (c->text[0]) {
        size_t n = strlen(c->text), chars = 0;
        CHECK(!strchr(" \t\r\n", c->text[0]) && !strchr(" \t\r\n", c->text[n - 1]));
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)c->text[i];
            CHECK(ch >= 0x20 && ch != 0x7f);
            chars += (ch & 0xc0) != 0x80;
        }
        CHECK(chars >= 1 && chars <= FHIR_NAME_MAX);
    }
    if (c->n_icd10)
        check_literal(c->icd10[0], c->n_icd10, sizeof(c->icd10[0]));
    if (c->n_snomed)
        check_literal(c->snomed[0], c->n_snomed, sizeof(c->snomed[0]));
    if (c->n_rxnorm)
        check_literal(c->rxnorm[0], c->n_rxnorm, sizeof(c->rxnorm[0]));
}

static void check_concept(const json_t *concept)
{
    struct fhir_codes c;
    memset(&c, 0xa5, sizeof(c)); /* the parser must fill every field itself */
    fhir_codes_parse(concept, &c);
    check_codes(&c);
    if (!json_is_object(concept))
        CHECK(!c.n_icd10 && !c.n_snomed && !c.n_rxnorm && !c.text[0]);
}

/* A literal of up to 256 codes of 1..15 characters drawn from the input, long enough to cross
 * FHIR_ARRAY_MAX. */
static void check_literal_from(const uint8_t *data, size_t size)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
    enum { STRIDE = 16 };
    int n = size < 256 ? (int)size : 256;
    char *codes;

    if (n == 0)
        return;
    codes = malloc((size_t)n * STRIDE);
    if (!codes)
        abort();
    for (int i = 0; i < n; i++) {
        char *c = codes + (size_t)i * STRIDE;
        int len = 1 + data[i] % 15;
        for (int k = 0; k < len; k++)
            c[k] = alphabet[data[((size_t)i + (size_t)k + 1) % size] % (sizeof(alphabet) - 1)];
        c[len] = '\0';
    }
    check_literal(codes, n, STRIDE);
    free(codes);
}

/* ---- small readers ---- */

static void check_key(const json_t *obj, const char *key)
{
    static const size_t maxlens[] = {0, 5, 64, 1024, SIZE_MAX};
    const json_t *v = json_object_get(obj, key);

    for (size_t i = 0; i < sizeof(maxlens) / sizeof(maxlens[0]); i++) {
        const char *s = fhir_str(obj, key, maxlens[i]);
        bool ok = json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
                  json_string_length(v) <= maxlens[i];
        CHECK(ok ? s == json_string_value(v) : s == NULL); /* borrowed, never a copy */
    }
    const char *ref = fhir_reference(obj, key);
    CHECK(ref == fhir_str(v, "reference", 1024));
    CHECK(!ref || strlen(ref) <= 1024);
}

static bool ref_is_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

/* fhir_trim_fraction on at most 39 bytes, as h_fhir.c copies a timestamp into char at[40]; a heap
 * copy of exactly that length so ASan sees any overrun. Only trailing zeros of the fraction before
 * the first 'Z' after the first '.' may go, and the point only with all of them. */
static void check_trim(const char *s)
{
    size_t n = strnlen(s, 39), m, pre, z, kept;
    const char *dot = memchr(s, '.', n), *zp = dot ? memchr(dot, 'Z', n - (size_t)(dot - s)) : NULL;
    char *t = malloc(n + 1);

    if (!t)
        abort();
    memcpy(t, s, n);
    t[n] = '\0';
    fhir_trim_fraction(t);
    m = strlen(t);
    if (!zp) {
        CHECK(m == n && memcmp(t, s, n) == 0);
    } else {
        pre = (size_t)(dot - s);
        z = (size_t)(zp - s);
        CHECK(m <= n && m >= pre + (n - z));
        kept = m - (n - z);
        CHECK(memcmp(t, s, kept) == 0 && memcmp(t + kept, zp, n - z) == 0);
        for (size_t i = kept; i < z; i++)
            CHECK(s[i] == '0' || (i == pre && kept == pre));
        CHECK(kept == pre || (kept >= pre + 2 && s[kept - 1] != '0'));
    }
    free(t);
}

static void check_number(const char *s)
{
    json_t *v = fhir_number(s);
    size_t n = strlen(s), sign = s[0] == '-';

    if (v) {
        CHECK(json_is_integer(v) || (json_is_real(v) && isfinite(json_real_value(v))));
        CHECK(!json_is_integer(v) || !strpbrk(s, ".eE"));
    }
    /* A plain decimal integer that fits must come back as that integer. */
    if (n > sign && n - sign <= 18 && all_digits(s + sign, 1, 18))
        CHECK(json_is_integer(v) && json_integer_value(v) == strtoll(s, NULL, 10));
    json_decref(v);
}

static void check_string(const char *s)
{
    CHECK(fhir_is_id(s) == ref_is_id(s));
    check_number(s);
    check_trim(s);
}

/* Every key and string below v, at most *budget nodes. */
static void walk(const json_t *v, int *budget)
{
    const char *key;
    json_t *x;
    size_t i;

    if (--*budget < 0)
        return;
    if (json_is_string(v)) {
        check_string(json_string_value(v));
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, x)
        {
            check_key(v, key);
            walk(x, budget);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            walk(x, budget);
        }
    }
}

/* ---- resources ---- */

static void check_patient(const json_t *res)
{
    static const char *const sexes[] = {"female", "male", "intersex", "unknown", NULL};
    struct fhir_patient p;
    const char *reason = NULL;

    memset(&p, 0xa5, sizeof(p));
    if (fhir_patient_parse(res, THIS_YEAR, &p, &reason) < 0) {
        CHECK(reason != NULL);
        return;
    }
    CHECK(p.birth_year == 0 || (p.birth_year >= 1900 && p.birth_year <= THIS_YEAR));
    CHECK(!p.sex_at_birth || in_set(p.sex_at_birth, sexes));
    CHECK(p.birth_year || p.sex_at_birth);
}

static void check_condition(const json_t *res)
{
    static const char *const statuses[] = {"active", "remission", "resolved", NULL};
    struct fhir_condition c;
    const char *reason = NULL;
    char first[sizeof(c.diagnosed_on) + 8]; /* room for a suffix gcc cannot rule out */
    size_t n;

    memset(&c, 0xa5, sizeof(c));
    if (fhir_condition_parse(res, TODAY, &c, &reason) < 0) {
        CHECK(reason != NULL);
        return;
    }
    check_codes(&c.code);
    CHECK(c.code.n_icd10 || c.code.n_snomed || c.code.text[0]);
    CHECK(terminated(c.diagnosed_on, sizeof(c.diagnosed_on)));
    CHECK(terminated(c.diagnosed_date, sizeof(c.diagnosed_date)));
    n = strlen(c.diagnosed_on);
    CHECK(n == 4 || n == 7 || n == 10);
    /* diagnosed_date is the first day of the period diagnosed_on names. */
    snprintf(first, sizeof(first), "%s%s", c.diagnosed_on, n == 4 ? "-01-01" : n == 7 ? "-01" : "");
    CHECK(is_date(c.diagnosed_date) && strcmp(first, c.diagnosed_date) == 0);
    CHECK(strcmp(c.diagnosed_date, TODAY) <= 0);
    CHECK(in_set(c.status, statuses));
}

static void check_medication(const json_t *res, bool request, const json_t *medication)
{
    static const char *const units[] = {"mg",    "mcg",     "g",     "ml",      "IU", "units",
                                        "puffs", "tablets", "drops", "patches", NULL};
    static const char *const reasons[] = {"side_effects",  "not_effective", "cost", "remission",
                                          "doctor_advice", "other",         NULL};
    struct fhir_medication m;
    const char *reason = NULL;

    memset(&m, 0xa5, sizeof(m));
    if (fhir_medication_parse(res, request, medication, &m, &reason) < 0) {
        CHECK(reason != NULL);
        return;
    }
    check_codes(&m.code);
    CHECK(m.code.n_rxnorm || m.code.text[0]);
    CHECK(terminated(m.started_on, sizeof(m.started_on)) && is_date(m.started_on));
    CHECK(terminated(m.stopped_on, sizeof(m.stopped_on)));
    CHECK(!m.stopped_on[0] || (is_date(m.stopped_on) && strcmp(m.stopped_on, m.started_on) >= 0));
    CHECK(terminated(m.dose_amount, sizeof(m.dose_amount)));
    CHECK((m.dose_amount[0] == '\0') == (m.dose_unit == NULL));
    if (m.dose_unit) {
        char *end;
        double d = strtod(m.dose_amount, &end);
        CHECK(in_set(m.dose_unit, units) && !*end && d > 0 && d <= 100000);
    }
    CHECK(m.freq_kind != NULL);
    if (strcmp(m.freq_kind, "times_per_day") == 0)
        CHECK(m.freq_value >= 1 && m.freq_value <= 24);
    else if (strcmp(m.freq_kind, "every_n_days") == 0)
        CHECK(m.freq_value >= 1 && m.freq_value <= 365);
    else
        CHECK(strcmp(m.freq_kind, "as_needed") == 0 && m.freq_value == 0);
    CHECK(!m.stop_reason || (m.stopped_on[0] && in_set(m.stop_reason, reasons)));
    CHECK(!m.reason_ref || strlen(m.reason_ref) <= 1024);
}

static void check_observation(const json_t *res)
{
    struct fhir_observation o;
    const char *reason = NULL;
    int64_t epoch;

    memset(&o, 0xa5, sizeof(o));
    if (fhir_observation_parse(res, NOW, &o, &reason) < 0) {
        CHECK(reason != NULL);
        return;
    }
    CHECK(o.severity >= 0 && o.severity <= 10);
    CHECK(terminated(o.recorded_at, sizeof(o.recorded_at)));
    CHECK(svc_parse_time(o.recorded_at, &epoch) == 0);
    CHECK(epoch >= -2208988800LL && epoch <= (int64_t)NOW + 86400);
}

/* The Medication a medicationReference names: a bundle entry with that fullUrl (as h_fhir.c
 * resolves it), else the resource's first contained one, so a sub-object is always tried. */
static const json_t *medication_for(const json_t *top, const json_t *res)
{
    const char *ref = fhir_reference(res, "medicationReference");
    json_t *e;
    size_t i;

    if (ref && ref[0] != '#')
        json_array_foreach(json_object_get(top, "entry"), i, e)
        {
            const char *url = fhir_str(e, "fullUrl", 1024);
            if (url && strcmp(url, ref) == 0)
                return json_object_get(e, "resource");
        }
    return json_array_get(json_object_get(res, "contained"), 0);
}

static void check_resource(const json_t *top, const json_t *res)
{
    const json_t *med = medication_for(top, res);
    const char *id = fhir_str(res, "id", 64);

    check_patient(res);
    check_condition(res);
    for (int request = 0; request < 2; request++) {
        check_medication(res, request, NULL);
        if (med)
            check_medication(res, request, med);
    }
    check_observation(res);
    check_concept(json_object_get(res, "code"));
    check_concept(json_object_get(res, "medicationCodeableConcept"));
    CHECK(fhir_is_id(id) == (id && ref_is_id(id)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j, *x;
    size_t i;
    int budget = 512;

    j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    /* NULL (not JSON) is a valid argument everywhere: each reader treats it as absent. */
    check_resource(j, j);
    check_concept(j);
    json_array_foreach(j, i, x)
    {
        if (i >= 8)
            break;
        check_resource(j, x);
    }
    json_array_foreach(json_object_get(j, "entry"), i, x)
    {
        if (i >= 16)
            break;
        check_resource(j, json_object_get(x, "resource"));
    }
    json_array_foreach(json_object_get(j, "contained"), i, x)
    {
        if (i >= 8)
            break;
        check_resource(j, x);
    }
    walk(j, &budget);
    CHECK(!fhir_is_id(NULL) && !fhir_number(NULL) && !fhir_number(""));
    check_literal_from(data, size);
    json_decref(j);
    return 0;
}
