/* measure.c - research measures: validation, aggregate SQL and differentially private release.
 * See measure.h for the flow.
 *
 * Neighbouring datasets differ by one member (added or removed). Each member's contribution to
 * every released number is bounded as below, so a part's L1 sensitivity is known in advance and
 * its noise is DLap(share * sensitivity / epsilon). Real-valued per-member quantities are turned
 * into integers first, in hundredths of their unit rounded half up (toward +infinity):
 *   mean severity m in [0, 10]          -> m100 = round(100 m)           in [0, 1000]
 *   squared deviation (m - 5)^2        -> round((m100 - 500)^2 / 100)   in [0, 2500]
 *   change d in [-10, 10]              -> d100 = round(100 d)           in [-1000, 1000]
 *   squared change d^2                 -> round(d100^2 / 100)           in [0, 10000]
 * Severities are 0..10 by the schema, so these bounds hold without further clamping; centring the
 * squares at the public midpoint 5 quarters their sensitivity.
 *
 * measure               part (share)                 one member contributes           sensitivity
 * --------------------- ---------------------------- -------------------------------- -----------
 * count                 n (1)                        1 to n                           1
 * breakdown             cells (1)                    1 to exactly one cell            1
 * symptom_distribution  n (4)                        1 (has an entry in the window)   1
 *                       sum m100 (4)                 m100 once                        1000
 *                       sum sq. deviation (4)        once                             2500
 *                       histogram 0..10 (4)          1 to the bin round(m)            1
 * symptom_trend         n per period (3)             1 to each of <= P periods        P
 * (P periods)           sum m100 per period (3)      <= 1000 to each of <= P periods  1000 P
 *                       sum sq. dev. per period (3)  <= 2500 to each of <= P periods  2500 P
 * treatment_effect      n (4)                        1 (entries before and after)     1
 *                       sum d100 (4)                 d100 once                        1000
 *                       sum squared change (4)       once                             10000
 *                       improved / worsened (4)      1 to at most one of the two      1
 * medication_outcomes   n evaluated (5)              1                                1
 *                       effectiveness (5)            1 cell: latest evaluation        1
 *                       adherence (5)                1 cell: latest evaluation        1
 *                       side effects (5)             1 to each of <= 5 symptoms       5
 *                       stop reasons (5)             1 cell: latest stopped record    1
 * side_effect_signal    2x2 table (1)                1 to exactly one cell            1
 *
 * A member reporting more than five side effects of a medication contributes the five most
 * severe (ties by symptom id). Statistics (means, SDs, CIs, quantiles, slopes, ratios, p-values)
 * are computed from the noisy numbers only, which is post-processing and costs nothing; a mean is
 * clamped to its public range, a negative noisy variance to 0; no minimum or maximum is ever
 * released.
 */
#include "measure.h"
#include "disclosure.h"
#include "measures.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_LEN ((int)sizeof(((struct stats_error *)0)->path))
#define CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define FOCUS_MAX 32
#define HIST_BINS 11

static const char *const type_names[] = {
    "count",
    "breakdown",
    "symptom_distribution",
    "symptom_trend",
    "treatment_effect",
    "medication_outcomes",
    "side_effect_signal",
};
static const char *const by_names[] = {"age_band", "sex_at_birth", "country"};
static const char *const interval_names[] = {"week", "month"};

static const char *const age_bands[] = {"0-9",   "10-19", "20-29", "30-39", "40-49",       "50-59",
                                        "60-69", "70-79", "80-89", "90+",   "not_recorded"};
static const char *const sexes[] = {"female", "male", "intersex", "unknown", "not_recorded"};
static const char *const effectiveness_cells[] = {"none",  "slight",    "moderate",
                                                  "major", "cant_tell", "not_rated"};
static const char *const adherence_cells[] = {"always", "usually", "sometimes", "never",
                                              "not_rated"};
static const char *const stop_cells[] = {"side_effects",  "not_effective", "cost",     "remission",
                                         "doctor_advice", "other",         "not_given"};

/* ISO 3166-1 alpha-2, all 249 assigned codes: a public list, so every code gets a cell whether
 * or not any member lives there. */
static const char *const countries[] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

const char *stats_measure_type_name(enum stats_measure_type t)
{
    return (unsigned)t < NELEM(type_names) ? type_names[t] : NULL;
}

const char *const *stats_country_codes(size_t *n)
{
    if (n)
        *n = NELEM(countries);
    return countries;
}

static int index_of(const char *s, const char *const *values, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(s, values[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- raw aggregates ------------------------------------------------------------------------ */

void stats_raw_init(struct stats_raw *r)
{
    memset(r, 0, sizeof(*r));
}

void stats_raw_free(struct stats_raw *r)
{
    if (!r)
        return;
    free(r->cells);
    stats_raw_init(r);
}

static struct stats_raw_cell *raw_find(const struct stats_raw *r, const char *key)
{
    size_t i;

    for (i = 0; r && i < r->n; i++)
        if (strcmp(r->cells[i].key, key) == 0)
            return &r->cells[i];
    return NULL;
}

int stats_raw_add(struct stats_raw *r, const char *key, int64_t value)
{
    struct stats_raw_cell *c, *cells;
    size_t len, cap;

    if (!r || !key || (len = strlen(key)) == 0 || len > STATS_RAW_KEY_MAX)
        return -1;
    if ((c = raw_find(r, key))) {
        if (value > 0 && c->value > INT64_MAX - value)
            c->value = INT64_MAX;
        else if (value < 0 && c->value < INT64_MIN - value)
            c->value = INT64_MIN;
        else
            c->value += value;
        return 0;
    }
    if (r->n >= STATS_RAW_MAX)
        return -1;
    if (r->n == r->cap) {
        cap = r->cap ? r->cap * 2 : 64;
        if (!(cells = realloc(r->cells, cap * sizeof(*cells))))
            return -1;
        r->cells = cells;
        r->cap = cap;
    }
    c = &r->cells[r->n++];
    memcpy(c->key, key, len + 1);
    c->value = value;
    return 0;
}

int64_t stats_raw_get(const struct stats_raw *r, const char *key)
{
    const struct stats_raw_cell *c = key ? raw_find(r, key) : NULL;

    return c ? c->value : 0;
}

/* ---- validation ---------------------------------------------------------------------------- */

struct parser {
    stats_catalog_fn cat;
    void *cat_ctx;
    struct stats_errors *errs;
    bool failed;
};

__attribute__((format(printf, 3, 4))) static void add_error(struct parser *p, const char *path,
                                                            const char *fmt, ...)
{
    struct stats_error *e;
    va_list ap;

    p->failed = true;
    if (!p->errs || p->errs->n < 0 || p->errs->n >= STATS_COHORT_MAX_ERRORS)
        return;
    e = &p->errs->e[p->errs->n++];
    snprintf(e->path, sizeof(e->path), "%s", path);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* Field names echoed into paths are cut short and kept printable. */
static void field_path(char *dst, const char *base, const char *key)
{
    char safe[41];
    size_t i;

    for (i = 0; i < sizeof(safe) - 1 && key[i]; i++)
        safe[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
    safe[i] = '\0';
    snprintf(dst, (size_t)PATH_LEN, "%s.%s", base, safe);
}

static void get_int(struct parser *p, const json_t *o, const char *path, const char *key, int lo,
                    int hi, int *out)
{
    char sub[PATH_LEN];
    const json_t *v = json_object_get(o, key);

    field_path(sub, path, key);
    if (!v)
        add_error(p, sub, "is required");
    else if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        add_error(p, sub, "must be an integer from %d to %d", lo, hi);
    else
        *out = (int)json_integer_value(v);
}

static void get_enum(struct parser *p, const json_t *o, const char *path, const char *key,
                     const char *const *values, size_t n, int *out)
{
    char sub[PATH_LEN], list[128] = "";
    const json_t *v = json_object_get(o, key);
    size_t i, used = 0;
    int k = -1;

    field_path(sub, path, key);
    if (!v) {
        add_error(p, sub, "is required");
        return;
    }
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
        k = index_of(json_string_value(v), values, n);
    if (k >= 0) {
        *out = k;
        return;
    }
    for (i = 0; i < n && used < sizeof(list); i++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", values[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    add_error(p, sub, "must be one of: %s", list);
}

static bool id_wellformed(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), i;

    if (!s || n < 2 || n > STATS_CATALOG_ID_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static void get_id(struct parser *p, const json_t *o, const char *path, const char *key,
                   const char *kind, char out[STATS_CATALOG_ID_MAX + 1])
{
    char sub[PATH_LEN];
    const json_t *v = json_object_get(o, key);

    field_path(sub, path, key);
    if (!v)
        add_error(p, sub, "is required");
    else if (!json_is_string(v) || !id_wellformed(v))
        add_error(p, sub, "must be a catalog id (2 to %d characters a-z, 0-9, _)",
                  STATS_CATALOG_ID_MAX);
    else if (!p->cat || p->cat(p->cat_ctx, kind, json_string_value(v)) != 1)
        add_error(p, sub, "unknown %s id", kind);
    else
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
}

/* 0.01..1.0 with at most three decimals, stored as exactly k / 1000. */
static void get_epsilon(struct parser *p, const json_t *o, const char *path, double *out)
{
    char sub[PATH_LEN];
    const json_t *v = json_object_get(o, "epsilon");
    uint64_t num, den;

    *out = STATS_MEASURE_EPSILON_DEFAULT;
    if (!v)
        return;
    field_path(sub, path, "epsilon");
    if (!json_is_number(v) || stats_epsilon_rational(json_number_value(v), &num, &den) != 0) {
        add_error(p, sub, "must be a number from 0.01 to 1.0 with at most 3 decimals");
        return;
    }
    *out = (double)(num * (1000 / den)) / 1000.0;
}

/* Fields each type accepts besides "type" and "epsilon". */
static const char *const *type_fields(enum stats_measure_type t, size_t *n)
{
    static const char *const none[] = {NULL};
    static const char *const breakdown[] = {"by"};
    static const char *const dist[] = {"symptom", "window_days"};
    static const char *const trend[] = {"symptom", "interval", "periods"};
    static const char *const treat[] = {"medication", "symptom", "before_days", "after_days"};
    static const char *const outcomes[] = {"medication"};
    static const char *const signal[] = {"medication", "side_effect"};

    switch (t) {
    case STATS_M_BREAKDOWN:
        *n = NELEM(breakdown);
        return breakdown;
    case STATS_M_SYMPTOM_DISTRIBUTION:
        *n = NELEM(dist);
        return dist;
    case STATS_M_SYMPTOM_TREND:
        *n = NELEM(trend);
        return trend;
    case STATS_M_TREATMENT_EFFECT:
        *n = NELEM(treat);
        return treat;
    case STATS_M_MEDICATION_OUTCOMES:
        *n = NELEM(outcomes);
        return outcomes;
    case STATS_M_SIDE_EFFECT_SIGNAL:
        *n = NELEM(signal);
        return signal;
    default:
        *n = 0;
        return none;
    }
}

static void parse_one(struct parser *p, const json_t *o, const char *path, struct stats_measure *m)
{
    char sub[PATH_LEN];
    const char *const *fields;
    const char *key;
    json_t *v;
    size_t nf;
    int t = -1, k;

    memset(m, 0, sizeof(*m));
    if (!json_is_object(o)) {
        add_error(p, path, "must be an object");
        return;
    }
    get_enum(p, o, path, "type", type_names, NELEM(type_names), &t);
    if (t < 0)
        return;
    m->type = (enum stats_measure_type)t;
    fields = type_fields(m->type, &nf);
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "type") == 0 || strcmp(key, "epsilon") == 0 ||
            index_of(key, fields, nf) >= 0)
            continue;
        field_path(sub, path, key);
        add_error(p, sub, "unknown field for a %s measure", type_names[t]);
    }
    get_epsilon(p, o, path, &m->epsilon);
    switch (m->type) {
    case STATS_M_COUNT:
        break;
    case STATS_M_BREAKDOWN:
        k = 0;
        get_enum(p, o, path, "by", by_names, NELEM(by_names), &k);
        m->by = (enum stats_breakdown_by)k;
        break;
    case STATS_M_SYMPTOM_DISTRIBUTION:
        get_id(p, o, path, "symptom", "symptom", m->symptom);
        get_int(p, o, path, "window_days", 1, 3650, &m->window_days);
        break;
    case STATS_M_SYMPTOM_TREND:
        get_id(p, o, path, "symptom", "symptom", m->symptom);
        k = 0;
        get_enum(p, o, path, "interval", interval_names, NELEM(interval_names), &k);
        m->interval = (enum stats_interval)k;
        get_int(p, o, path, "periods", 1, 104, &m->periods);
        break;
    case STATS_M_TREATMENT_EFFECT:
        get_id(p, o, path, "medication", "medication", m->medication);
        get_id(p, o, path, "symptom", "symptom", m->symptom);
        get_int(p, o, path, "before_days", 1, 365, &m->before_days);
        get_int(p, o, path, "after_days", 1, 365, &m->after_days);
        break;
    case STATS_M_MEDICATION_OUTCOMES:
        get_id(p, o, path, "medication", "medication", m->medication);
        break;
    case STATS_M_SIDE_EFFECT_SIGNAL:
        get_id(p, o, path, "medication", "medication", m->medication);
        get_id(p, o, path, "side_effect", "symptom", m->side_effect);
        break;
    }
}

int stats_measures_parse(const json_t *json, const char *path, stats_catalog_fn cat, void *cat_ctx,
                         struct stats_measure out[STATS_MEASURES_MAX], size_t *n,
                         struct stats_errors *errs)
{
    struct parser p = {.cat = cat, .cat_ctx = cat_ctx, .errs = errs};
    char elem[PATH_LEN];
    const char *base = path ? path : "measures";
    size_t i, count;

    if (!out || !n) {
        add_error(&p, base, "internal error: no output");
        return -1;
    }
    *n = 0;
    count = json_array_size(json);
    if (!json_is_array(json) || count < 1 || count > STATS_MEASURES_MAX) {
        add_error(&p, base, "must be an array of 1 to %d measures", STATS_MEASURES_MAX);
        return -1;
    }
    for (i = 0; i < count; i++) {
        snprintf(elem, sizeof(elem), "%.100s[%zu]", base, i);
        parse_one(&p, json_array_get(json, i), elem, &out[i]);
    }
    if (p.failed)
        return -1;
    *n = count;
    return 0;
}

/* ---- canonical form ------------------------------------------------------------------------ */

json_t *stats_measure_json(const struct stats_measure *m)
{
    json_t *o;
    int ok;

    if (!m || !stats_measure_type_name(m->type) || !(o = json_object()))
        return NULL;
    ok = json_object_set_new(o, "type", json_string(type_names[m->type])) == 0 &&
         json_object_set_new(o, "epsilon", json_real(m->epsilon)) == 0;
    switch (m->type) {
    case STATS_M_COUNT:
        break;
    case STATS_M_BREAKDOWN:
        ok = ok && (unsigned)m->by < NELEM(by_names) &&
             json_object_set_new(o, "by", json_string(by_names[m->by])) == 0;
        break;
    case STATS_M_SYMPTOM_DISTRIBUTION:
        ok = ok && json_object_set_new(o, "symptom", json_string(m->symptom)) == 0 &&
             json_object_set_new(o, "window_days", json_integer(m->window_days)) == 0;
        break;
    case STATS_M_SYMPTOM_TREND:
        ok = ok && (unsigned)m->interval < NELEM(interval_names) &&
             json_object_set_new(o, "symptom", json_string(m->symptom)) == 0 &&
             json_object_set_new(o, "interval", json_string(interval_names[m->interval])) == 0 &&
             json_object_set_new(o, "periods", json_integer(m->periods)) == 0;
        break;
    case STATS_M_TREATMENT_EFFECT:
        ok = ok && json_object_set_new(o, "medication", json_string(m->medication)) == 0 &&
             json_object_set_new(o, "symptom", json_string(m->symptom)) == 0 &&
             json_object_set_new(o, "before_days", json_integer(m->before_days)) == 0 &&
             json_object_set_new(o, "after_days", json_integer(m->after_days)) == 0;
        break;
    case STATS_M_MEDICATION_OUTCOMES:
        ok = ok && json_object_set_new(o, "medication", json_string(m->medication)) == 0;
        break;
    case STATS_M_SIDE_EFFECT_SIGNAL:
        ok = ok && json_object_set_new(o, "medication", json_string(m->medication)) == 0 &&
             json_object_set_new(o, "side_effect", json_string(m->side_effect)) == 0;
        break;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *stats_query_canonical(const struct stats_cohort *c, const struct stats_measure *m, size_t n)
{
    json_t *q = NULL, *cohort = NULL, *arr = NULL;
    char *ctext = NULL, *text = NULL;
    size_t i;

    if (!c || !m || n < 1 || n > STATS_MEASURES_MAX)
        goto out;
    if (!(ctext = stats_cohort_canonical(c)) || !(cohort = json_loads(ctext, 0, NULL)) ||
        !(arr = json_array()))
        goto out;
    for (i = 0; i < n; i++)
        if (json_array_append_new(arr, stats_measure_json(&m[i])) != 0)
            goto out;
    if (!(q = json_object()) || json_object_set(q, "cohort", cohort) != 0 ||
        json_object_set(q, "measures", arr) != 0)
        goto out;
    text = json_dumps(q, CANON_FLAGS);
out:
    json_decref(q);
    json_decref(cohort);
    json_decref(arr);
    free(ctext);
    return text;
}

/* ---- epsilon parts ------------------------------------------------------------------------- */

size_t stats_measure_parts(const struct stats_measure *m,
                           struct stats_part out[STATS_MEASURE_MAX_PARTS])
{
    uint64_t pp;

    if (!m || !out)
        return 0;
    switch (m->type) {
    case STATS_M_COUNT:
        out[0] = (struct stats_part){"n", 1, 1};
        return 1;
    case STATS_M_BREAKDOWN:
        out[0] = (struct stats_part){"cells", 1, 1};
        return 1;
    case STATS_M_SYMPTOM_DISTRIBUTION:
        out[0] = (struct stats_part){"n", 4, 1};
        out[1] = (struct stats_part){"sum", 4, 1000};
        out[2] = (struct stats_part){"sum_squares", 4, 2500};
        out[3] = (struct stats_part){"histogram", 4, 1};
        return 4;
    case STATS_M_SYMPTOM_TREND:
        if (m->periods < 1 || m->periods > 104)
            return 0;
        pp = (uint64_t)m->periods;
        out[0] = (struct stats_part){"n", 3, pp};
        out[1] = (struct stats_part){"sum", 3, 1000 * pp};
        out[2] = (struct stats_part){"sum_squares", 3, 2500 * pp};
        return 3;
    case STATS_M_TREATMENT_EFFECT:
        out[0] = (struct stats_part){"n", 4, 1};
        out[1] = (struct stats_part){"sum", 4, 1000};
        out[2] = (struct stats_part){"sum_squares", 4, 10000};
        out[3] = (struct stats_part){"signs", 4, 1};
        return 4;
    case STATS_M_MEDICATION_OUTCOMES:
        out[0] = (struct stats_part){"n_evaluated", 5, 1};
        out[1] = (struct stats_part){"effectiveness", 5, 1};
        out[2] = (struct stats_part){"adherence", 5, 1};
        out[3] = (struct stats_part){"side_effects", 5, STATS_SIDE_EFFECTS_PER_MEMBER};
        out[4] = (struct stats_part){"stop_reasons", 5, 1};
        return 5;
    case STATS_M_SIDE_EFFECT_SIGNAL:
        out[0] = (struct stats_part){"table", 1, 1};
        return 1;
    }
    return 0;
}

/* ---- SQL ----------------------------------------------------------------------------------- */

struct bld {
    struct stats_sql *s;
    int now_n;  /* parameter number of now, 0 until first used */
    bool table; /* pop reads a materialised table (one row per member, with statistics) */
    int med_n, sym_n;
};

#define EMIT(...)                                                                                  \
    do {                                                                                           \
        if (stats_sql_append(b->s, __VA_ARGS__) < 0)                                               \
            return -1;                                                                             \
    } while (0)
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            return -1;                                                                             \
    } while (0)

/* The first use adds the parameter; later uses repeat its $N. */
static int ref_param(struct bld *b, int *slot, const char *value)
{
    if (*slot)
        return stats_sql_append(b->s, "$%d", *slot);
    *slot = stats_sql_param(b->s, value);
    return *slot < 0 ? -1 : 0;
}

/* The rollups' key for a catalog symptom: its code (schema 0034), which the planner folds into a
 * constant, so each member's probe stays one index range. */
static int sym_code(struct bld *b, const char *symptom)
{
    EMIT("symptom_code(");
    CHECK(ref_param(b, &b->sym_n, symptom));
    EMIT(")");
    return 0;
}

static int param_int(struct bld *b, long long v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", v);
    CHECK(stats_sql_param(b->s, buf));
    EMIT("::int");
    return 0;
}

/* now as timestamptz */
static int emit_now(struct bld *b, int64_t now)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)now);
    EMIT("to_timestamp(");
    CHECK(ref_param(b, &b->now_n, buf));
    EMIT("::bigint)");
    return 0;
}

/* today (UTC) as date */
static int emit_today(struct bld *b, int64_t now)
{
    EMIT("(");
    CHECK(emit_now(b, now));
    EMIT(" AT TIME ZONE 'UTC')::date");
    return 0;
}

static bool focus_ok(const struct stats_population *pop)
{
    size_t i, j, n;

    if (pop->nfocus > FOCUS_MAX || (pop->nfocus && !pop->focus))
        return false;
    for (i = 0; i < pop->nfocus; i++) {
        if (!pop->focus[i] || (n = strlen(pop->focus[i])) < 2 || n > STATS_CATALOG_ID_MAX)
            return false;
        for (j = 0; j < n; j++) {
            char c = pop->focus[i][j];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                return false;
        }
    }
    return true;
}

/* "WITH pop AS (...)": consented members (at now()) who match the cohort (at pop->now). */
/* Table names reach SQL text, so only the server's own: [a-z_][a-z0-9_]{0,62}, optionally
 * "schema.table" of two such. */
static bool plain_identifier(const char *s)
{
    for (int part = 0; part < 2; part++) {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz_0123456789");
        if (n == 0 || n > 63 || (*s >= '0' && *s <= '9'))
            return false;
        if (s[n] == '\0')
            return true;
        if (s[n] != '.')
            return false;
        s += n + 1;
    }
    return false;
}

static int pop_cte(struct bld *b, const struct stats_population *pop)
{
    char focus[FOCUS_MAX * (STATS_CATALOG_ID_MAX + 1) + 3];
    size_t used = 0, i;
    bool fence;

    if (pop->table) {
        if (!plain_identifier(pop->table))
            return -1;
        /* Inlined, not a CTE scan: the planner then sees the table's statistics (a CTE's
         * distinct count is a guess of 200) and may run the measure in parallel workers. */
        if (pop->members_only)
            EMIT("WITH pop AS NOT MATERIALIZED (SELECT member_id FROM %s)", pop->table);
        else
            EMIT("WITH pop AS NOT MATERIALIZED (SELECT member_id, birth_year, sex_at_birth, "
                 "country FROM %s)",
                 pop->table);
        return 0;
    }
    if (!pop->cohort || pop->categories < 1 || pop->categories > 31 || !focus_ok(pop))
        return -1;
    focus[used++] = '{';
    for (i = 0; i < pop->nfocus; i++) {
        int w = snprintf(focus + used, sizeof(focus) - used, "%s%s", i ? "," : "", pop->focus[i]);
        if (w < 0 || (size_t)w >= sizeof(focus) - used)
            return -1;
        used += (size_t)w;
    }
    focus[used++] = '}';
    focus[used] = '\0';

    /* One row per live member (schema 0022; from one condition's key range when the cohort
     * requires a condition, 0024): the cheap criteria, then consent decided from the row's summary
     * of the member's research grants (their grants when off the fast path). Costly criteria go
     * outside an OFFSET 0 fence, so that they run only for members the rest left; a fence keeps
     * the scan serial anyway, so consent then reads the grants by the cheaper inlined subquery.
     * Without costly criteria there is no fence and the scan may run in parallel workers. */
    fence = stats_cohort_counts_entries(pop->cohort);
    EMIT("WITH pop AS (SELECT x.* FROM (SELECT f.member_id, f.birth_year, f.sex_at_birth, "
         "f.country FROM ");
    CHECK(stats_cohort_facts_source(pop->cohort, b->s));
    EMIT(" f WHERE ");
    CHECK(stats_cohort_compile_facts_from(pop->cohort, "f.member_id", "f", pop->now,
                                          STATS_COHORT_CHEAP, b->s));
    EMIT(" AND ");
    CHECK(stats_cohort_consent_sql(b->s, "f", "research", pop->categories, pop->commercial,
                                   pop->for_profit, focus, -1, !fence));
    if (!fence) {
        EMIT(") x)");
        return 0;
    }
    EMIT(" OFFSET 0) x WHERE ");
    CHECK(stats_cohort_compile_part(pop->cohort, "x.member_id", "x", pop->now, STATS_COHORT_COSTLY,
                                    b->s));
    EMIT(")");
    return 0;
}

#define IN_POP(col) col " IN (SELECT member_id FROM pop)"
/* "FROM <rel r> ... WHERE" restricted to the population. From a materialised population a join
 * that drives the rollup's index probes from the table, which parallel workers share out (it is
 * written in member order, so the probes follow the index: docs/benchmarks.md, seventh and eighth
 * rounds); pop has one row per member, so it counts as IN does. */
static int from_pop(struct bld *b, const char *rel, const char *also)
{
    if (b->table)
        EMIT(" FROM pop p JOIN %s ON r.member_id = p.member_id%s%s WHERE ", rel, also ? ", " : "",
             also ? also : "");
    else
        EMIT(" FROM %s%s%s WHERE " IN_POP("r.member_id") " AND ", also ? also : "",
             also ? ", " : "", rel);
    return 0;
}

static int sql_count(struct bld *b)
{
    EMIT(" SELECT 'n'::text AS k, count(*)::bigint AS v FROM pop");
    return 0;
}

static int sql_breakdown(struct bld *b, const struct stats_measure *m, int64_t now)
{
    switch (m->by) {
    case STATS_BY_AGE_BAND:
        /* Age as the cohort language defines it: calendar year of now minus birth year. */
        EMIT(" SELECT 'c:' || CASE WHEN x.age IS NULL OR x.age < 0 THEN 'not_recorded'"
             " WHEN x.age >= 90 THEN '90+' ELSE (x.age / 10 * 10)::text || '-' ||"
             " (x.age / 10 * 10 + 9)::text END AS k, count(*)::bigint AS v FROM"
             " (SELECT EXTRACT(year FROM ");
        CHECK(emit_now(b, now));
        EMIT(" AT TIME ZONE 'UTC')::int - pop.birth_year AS age FROM pop) x GROUP BY 1");
        break;
    case STATS_BY_SEX_AT_BIRTH:
        EMIT(" SELECT 'c:' || coalesce(sex_at_birth, 'not_recorded') AS k, count(*)::bigint AS v"
             " FROM pop GROUP BY 1");
        break;
    case STATS_BY_COUNTRY:
        EMIT(" SELECT 'c:' || coalesce(country, 'not_recorded') AS k, count(*)::bigint AS v"
             " FROM pop GROUP BY 1");
        break;
    default:
        return -1;
    }
    return 0;
}

/* Per-member rounded means v from per(member_id, [k,] s, c), grouped in one pass (by histogram
 * bin, or by period) into a few rows g, then the n, s, q (and h) rows from g. */
static int sql_mean_rows(struct bld *b, bool by_period)
{
    if (!by_period) {
        EMIT(", g AS (SELECT (v + 50) / 100 AS h, count(*) AS n, sum(v) AS s,"
             " sum(((v - 500) * (v - 500) + 50) / 100) AS q"
             " FROM (SELECT (200 * s + c) / (2 * c) AS v FROM per) m GROUP BY 1)"
             " SELECT 'n'::text AS k, coalesce(sum(g.n), 0)::bigint AS v FROM g"
             " UNION ALL SELECT 's', coalesce(sum(g.s), 0)::bigint FROM g"
             " UNION ALL SELECT 'q', coalesce(sum(g.q), 0)::bigint FROM g"
             " UNION ALL SELECT 'h:' || g.h::text, g.n::bigint FROM g");
        return 0;
    }
    EMIT(", g AS (SELECT k AS p, count(*) AS n, sum(v) AS s,"
         " sum(((v - 500) * (v - 500) + 50) / 100) AS q"
         " FROM (SELECT k, (200 * s + c) / (2 * c) AS v FROM per) m GROUP BY 1)"
         " SELECT 'n:' || g.p::text AS k, g.n::bigint AS v FROM g"
         " UNION ALL SELECT 's:' || g.p::text, g.s::bigint FROM g"
         " UNION ALL SELECT 'q:' || g.p::text, g.q::bigint FROM g");
    return 0;
}

/* Days since 1970-01-01 (UTC) of a Unix time, and its ISO weekday (1 = Monday; day 0 was a
 * Thursday). Research windows are whole UTC days, so that the rollups answer them exactly. */
static int64_t epoch_day(int64_t t)
{
    return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static int iso_dow(int64_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7) + 1;
}

/* A date as a parameter: DATE '1970-01-01' + $N. */
static int emit_day(struct bld *b, int64_t day)
{
    EMIT("(DATE '1970-01-01' + ");
    CHECK(param_int(b, day));
    EMIT(")");
    return 0;
}

/* Day rows [a, z] of one symptom of the population, after " UNION ALL " unless first. */
static int day_rows(struct bld *b, const char *symptom, int64_t a, int64_t z, bool first)
{
    if (!first)
        EMIT(" UNION ALL ");
    EMIT("SELECT r.member_id, r.s, r.n");
    CHECK(from_pop(b, "symptom_day r", NULL));
    EMIT("r.sym = ");
    CHECK(sym_code(b, symptom));
    EMIT(" AND r.day BETWEEN ");
    CHECK(emit_day(b, a));
    EMIT(" AND ");
    CHECK(emit_day(b, z));
    return 0;
}

/* Days [a, b] of one symptom of the population, as rows (member_id, s, n) read from the rollups:
 * whole ISO weeks from symptom_week, the days before the first and after the last from
 * symptom_day. At most 12 day rows and one row per week per member. */
static int sql_days_rows(struct bld *b, const char *symptom, int64_t a, int64_t z)
{
    int64_t wa = a + (8 - iso_dow(a)) % 7; /* first Monday on or after a */
    int64_t we = z - iso_dow(z) % 7;       /* last Sunday on or before z */

    if (we - wa < 6) {
        CHECK(day_rows(b, symptom, a, z, true));
        return 0;
    }
    EMIT("SELECT r.member_id, r.s, r.n");
    CHECK(from_pop(b, "symptom_week r", NULL));
    EMIT("r.sym = ");
    CHECK(sym_code(b, symptom));
    EMIT(" AND r.week BETWEEN ");
    CHECK(emit_day(b, wa));
    EMIT(" AND ");
    CHECK(emit_day(b, we - 6));
    /* Two ranges, each an index condition (an OR of them would read every day of the member). */
    if (wa > a)
        CHECK(day_rows(b, symptom, a, wa - 1, false));
    if (we < z)
        CHECK(day_rows(b, symptom, we + 1, z, false));
    return 0;
}

/* The last window_days UTC days, today included. */
static int sql_distribution(struct bld *b, const struct stats_measure *m, int64_t now)
{
    int64_t today = epoch_day(now);

    EMIT(", per AS (SELECT x.member_id, sum(x.s)::bigint AS s, sum(x.n)::bigint AS c FROM (");
    CHECK(sql_days_rows(b, m->symptom, today - m->window_days + 1, today));
    EMIT(") x GROUP BY x.member_id)");
    return sql_mean_rows(b, false);
}

/* Week k: the ISO week (Monday to Sunday, UTC) k weeks before the current one. Month k: the
 * calendar month (UTC) k months before the current one. Both end today. */
static int sql_trend(struct bld *b, const struct stats_measure *m, int64_t now)
{
    int64_t today = epoch_day(now), monday = today - (iso_dow(today) - 1);

    if (m->interval == STATS_INTERVAL_WEEK) {
        EMIT(", per AS (SELECT r.member_id, (");
        CHECK(emit_day(b, monday));
        EMIT(" - r.week) / 7 AS k, r.s::bigint AS s, r.n::bigint AS c");
        CHECK(from_pop(b, "symptom_week r", NULL));
        EMIT("r.sym = ");
        CHECK(sym_code(b, m->symptom));
        EMIT(" AND r.week BETWEEN ");
        CHECK(emit_day(b, monday - 7 * (int64_t)(m->periods - 1)));
        EMIT(" AND ");
        CHECK(emit_day(b, monday));
        EMIT(")");
        return sql_mean_rows(b, true);
    }
    EMIT(", t AS (SELECT ");
    CHECK(emit_day(b, today));
    EMIT(" AS today), per AS (SELECT r.member_id, (EXTRACT(year FROM t.today)::int * 12"
         " + EXTRACT(month FROM t.today)::int) - (EXTRACT(year FROM r.day)::int * 12"
         " + EXTRACT(month FROM r.day)::int) AS k, sum(r.s)::bigint AS s, sum(r.n)::bigint AS c");
    CHECK(from_pop(b, "symptom_day r", "t"));
    EMIT("r.sym = ");
    CHECK(sym_code(b, m->symptom));
    EMIT(" AND r.day >= (date_trunc('month', t.today) - make_interval(months => ");
    CHECK(param_int(b, m->periods - 1));
    EMIT("))::date AND r.day <= t.today GROUP BY 1, 2)");
    return sql_mean_rows(b, true);
}

static int sql_treatment(struct bld *b, const struct stats_measure *m, int64_t now)
{
    char after[16];
    int after_n;

    snprintf(after, sizeof(after), "%d", m->after_days);
    /* The windows are whole UTC days either side of the first start date d0 (schema 0032), so
     * the day rollup answers them exactly. */
    EMIT(", st AS (SELECT mf.member_id, mf.started_on AS d0"
         " FROM medication_first mf WHERE " IN_POP("mf.member_id") " AND mf.medication_id = ");
    CHECK(ref_param(b, &b->med_n, m->medication));
    EMIT(" AND mf.started_on <= ");
    CHECK(emit_today(b, now));
    EMIT("),"
         " w AS (SELECT st.member_id,"
         " coalesce(sum(e.s) FILTER (WHERE e.day < st.d0), 0)::bigint AS bs,"
         " coalesce(sum(e.n) FILTER (WHERE e.day < st.d0), 0)::bigint AS bc,"
         " coalesce(sum(e.s) FILTER (WHERE e.day >= st.d0), 0)::bigint AS xs,"
         " coalesce(sum(e.n) FILTER (WHERE e.day >= st.d0), 0)::bigint AS xc"
         " FROM st JOIN symptom_day e ON e.member_id = st.member_id AND e.sym = ");
    CHECK(sym_code(b, m->symptom));
    EMIT(" AND e.day >= st.d0 - ");
    CHECK(param_int(b, m->before_days));
    EMIT(" AND e.day < st.d0 + ");
    CHECK((after_n = stats_sql_param(b->s, after)));
    EMIT("::int WHERE (st.d0::timestamp AT TIME ZONE 'UTC') + make_interval(hours => 24 * "
         "$%d::int) <= ",
         after_n);
    CHECK(emit_now(b, now));
    /* d100 + 1000 = round half up of 100 (after - before + 10), all in integers. */
    EMIT(" GROUP BY st.member_id), d AS (SELECT (200 * (xs * bc - bs * xc + 10 * xc * bc)"
         " + xc * bc) / (2 * xc * bc) - 1000 AS v FROM w WHERE bc > 0 AND xc > 0)"
         " SELECT 'n'::text AS k, count(*)::bigint AS v FROM d"
         " UNION ALL SELECT 's', coalesce(sum(v), 0)::bigint FROM d"
         " UNION ALL SELECT 'q', coalesce(sum((v * v + 50) / 100), 0)::bigint FROM d"
         " UNION ALL SELECT 'imp', count(*) FILTER (WHERE v < 0) FROM d"
         " UNION ALL SELECT 'wor', count(*) FILTER (WHERE v > 0) FROM d");
    return 0;
}

static int sql_outcomes(struct bld *b, const struct stats_measure *m, int64_t now)
{
    EMIT(", rec AS (SELECT md.member_id, md.id, md.stopped_on, md.stop_reason, md.created_at"
         " FROM medication md WHERE " IN_POP("md.member_id") " AND md.medication_id = ");
    CHECK(ref_param(b, &b->med_n, m->medication));
    EMIT("), ev AS (SELECT v.member_id, v.id, v.evaluated_on, v.created_at, v.effectiveness,"
         " v.adherence FROM medication_evaluation v JOIN rec ON rec.member_id = v.member_id"
         " AND rec.id = v.medication_ref),"
         " latest AS (SELECT DISTINCT ON (member_id) member_id, effectiveness, adherence FROM ev"
         " ORDER BY member_id, evaluated_on DESC, created_at DESC, id DESC),"
         " se AS (SELECT s.member_id, s.symptom_id, max(CASE s.severity WHEN 'severe' THEN 3"
         " WHEN 'moderate' THEN 2 WHEN 'mild' THEN 1 ELSE 0 END) AS r"
         " FROM evaluation_side_effect s JOIN ev ON ev.member_id = s.member_id"
         " AND ev.id = s.evaluation_ref WHERE s.symptom_id IS NOT NULL"
         " AND s.severity IS DISTINCT FROM 'none' GROUP BY s.member_id, s.symptom_id),"
         " top AS (SELECT symptom_id FROM (SELECT symptom_id, row_number() OVER"
         " (PARTITION BY member_id ORDER BY r DESC, symptom_id) AS rn FROM se) x"
         " WHERE rn <= %d),"
         " stp AS (SELECT DISTINCT ON (member_id) member_id, stop_reason FROM rec"
         " WHERE stopped_on IS NOT NULL AND stopped_on <= ",
         STATS_SIDE_EFFECTS_PER_MEMBER);
    CHECK(emit_today(b, now));
    EMIT(" ORDER BY member_id, stopped_on DESC, created_at DESC, id DESC)"
         " SELECT 'n'::text AS k, count(*)::bigint AS v FROM latest"
         " UNION ALL SELECT 'e:' || coalesce(effectiveness, 'not_rated'), count(*)::bigint"
         " FROM latest GROUP BY 1"
         " UNION ALL SELECT 'a:' || coalesce(adherence, 'not_rated'), count(*)::bigint"
         " FROM latest GROUP BY 1"
         " UNION ALL SELECT 'st:' || coalesce(stop_reason, 'not_given'), count(*)::bigint"
         " FROM stp GROUP BY 1"
         /* Every catalog symptom, counted or not: the domain is the public catalog. */
         " UNION ALL SELECT 'se:' || cs.id, count(top.symptom_id)::bigint FROM catalog_symptom cs"
         " LEFT JOIN top ON top.symptom_id = cs.id GROUP BY cs.id");
    return 0;
}

static int sql_signal(struct bld *b, const struct stats_measure *m, int64_t now)
{
    int se_n = 0;

    /* Per member of pop with a record started by today: t, a record of the drug; o, of another
     * (catalog or custom). One parallel pass, index-only through medication_member_drug_idx:
     * two sets and their differences cost two more serial passes (docs/benchmarks.md, tenth
     * round). */
    EMIT(", m AS (SELECT md.member_id, bool_or(md.medication_id IS NOT DISTINCT FROM ");
    CHECK(ref_param(b, &b->med_n, m->medication));
    EMIT(") AS t, bool_or(md.medication_id IS DISTINCT FROM ");
    CHECK(ref_param(b, &b->med_n, m->medication));
    EMIT(") AS o FROM pop p JOIN medication md ON md.member_id = p.member_id"
         " WHERE md.started_on <= ");
    CHECK(emit_today(b, now));
    /* Per reporting member: rt, a report of the side effect on the drug; ro, on another. */
    EMIT(" GROUP BY md.member_id), r AS (SELECT s.member_id, bool_or(md.medication_id IS NOT"
         " DISTINCT FROM ");
    CHECK(ref_param(b, &b->med_n, m->medication));
    EMIT(") AS rt, bool_or(md.medication_id IS DISTINCT FROM ");
    CHECK(ref_param(b, &b->med_n, m->medication));
    EMIT(") AS ro FROM evaluation_side_effect s JOIN medication_evaluation v"
         " ON v.member_id = s.member_id AND v.id = s.evaluation_ref JOIN medication md"
         " ON md.member_id = v.member_id AND md.id = v.medication_ref WHERE " IN_POP(
             "s.member_id") " AND s.symptom_id = ");
    CHECK(ref_param(b, &se_n, m->side_effect));
    EMIT(" AND s.severity IS DISTINCT FROM 'none' AND md.started_on <= ");
    CHECK(emit_today(b, now));
    /* a, b: took the drug, reported on it or not; c, d: other drugs only, reported on one of them
     * or not. */
    EMIT(" GROUP BY s.member_id) SELECT x.k, x.v FROM (SELECT"
         " count(*) FILTER (WHERE m.t AND r.rt) AS a,"
         " count(*) FILTER (WHERE m.t AND r.rt IS NOT TRUE) AS b,"
         " count(*) FILTER (WHERE NOT m.t AND r.ro) AS c,"
         " count(*) FILTER (WHERE NOT m.t AND r.ro IS NOT TRUE) AS d"
         " FROM m LEFT JOIN r ON r.member_id = m.member_id) c CROSS JOIN LATERAL"
         " (VALUES ('a'::text, c.a), ('b', c.b), ('c', c.c), ('d', c.d)) x(k, v)");
    return 0;
}

int stats_population_sql(const struct stats_population *pop, struct stats_sql *out)
{
    struct bld bb = {.s = out}, *b = &bb;
    size_t len0;
    int np0, rc = -1;

    if (!out || !pop)
        return -1;
    len0 = out->len;
    np0 = out->nparams;
    if (pop_cte(b, pop) < 0 || stats_sql_append(out, " SELECT member_id FROM pop") < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        stats_sql_truncate(out, len0, np0);
    return rc;
}

int stats_population_table_sql(const struct stats_population *pop, const char *table,
                               bool temporary, struct stats_sql *out)
{
    struct bld bb = {.s = out}, *b = &bb;
    struct stats_population fresh;
    size_t len0;
    int np0, rc = -1;

    if (!out || !pop || !table || !plain_identifier(table))
        return -1;
    fresh = *pop;
    fresh.table = NULL;
    len0 = out->len;
    np0 = out->nparams;
    if (stats_sql_append(out,
                         temporary ? "CREATE TEMP TABLE %s ON COMMIT DROP AS "
                                   : "CREATE UNLOGGED TABLE %s AS ",
                         table) < 0 ||
        pop_cte(b, &fresh) < 0 ||
        stats_sql_append(out,
                         pop->members_only
                             ? " SELECT member_id FROM pop"
                             : " SELECT member_id, birth_year, sex_at_birth, country FROM pop") < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        stats_sql_truncate(out, len0, np0);
    return rc;
}

bool stats_measures_read_demographics(const struct stats_measure *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        if (m[i].type == STATS_M_BREAKDOWN)
            return true;
    return false;
}

int stats_measure_sql(const struct stats_measure *m, const struct stats_population *pop,
                      struct stats_sql *out)
{
    struct bld bb = {.s = out}, *b = &bb;
    size_t len0;
    int np0, rc = -1;

    if (!out || !pop || !m)
        return -1;
    len0 = out->len;
    np0 = out->nparams;
    b->table = pop->table != NULL;
    if (pop_cte(b, pop) < 0)
        goto out;
    switch (m->type) {
    case STATS_M_COUNT:
        rc = sql_count(b);
        break;
    case STATS_M_BREAKDOWN:
        rc = pop->table && pop->members_only ? -1 : sql_breakdown(b, m, pop->now);
        break;
    case STATS_M_SYMPTOM_DISTRIBUTION:
        rc = sql_distribution(b, m, pop->now);
        break;
    case STATS_M_SYMPTOM_TREND:
        rc = m->periods >= 1 && m->periods <= 104 ? sql_trend(b, m, pop->now) : -1;
        break;
    case STATS_M_TREATMENT_EFFECT:
        rc = sql_treatment(b, m, pop->now);
        break;
    case STATS_M_MEDICATION_OUTCOMES:
        rc = sql_outcomes(b, m, pop->now);
        break;
    case STATS_M_SIDE_EFFECT_SIGNAL:
        rc = sql_signal(b, m, pop->now);
        break;
    default:
        rc = -1;
    }
out:
    if (rc < 0)
        stats_sql_truncate(out, len0, np0);
    return rc;
}

/* ---- release ------------------------------------------------------------------------------- */

struct rel {
    const struct stats_measure *m;
    const struct stats_raw *raw;
    const struct stats_mechanism *mech;
    struct stats_part parts[STATS_MEASURE_MAX_PARTS];
    size_t nparts;
    bool failed;
};

/* true + noise for one cell of part `part`. */
static int64_t noisy(struct rel *r, size_t part, int64_t v)
{
    int64_t out = 0;

    if (r->failed || part >= r->nparts ||
        stats_mechanism_noisy(r->mech, v, r->parts[part].sensitivity * r->parts[part].share,
                              r->m->epsilon, &out) != 0) {
        r->failed = true;
        return 0;
    }
    return out;
}

static int64_t noisy_key(struct rel *r, size_t part, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int64_t noisy_key(struct rel *r, size_t part, const char *fmt, ...)
{
    char key[STATS_RAW_KEY_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    return noisy(r, part, stats_raw_get(r->raw, key));
}

static void put(struct rel *r, json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        r->failed = true;
}

static void push(struct rel *r, json_t *a, json_t *v)
{
    if (!v || json_array_append_new(a, v) != 0)
        r->failed = true;
}

static json_t *suppressed(void)
{
    return json_pack("{s:b}", "suppressed", 1);
}

static json_t *stat_json(double v, bool ok)
{
    return ok && isfinite(v) ? json_real(v) : suppressed();
}

static json_t *ci_json(double lo, double hi, bool ok)
{
    return ok && isfinite(lo) && isfinite(hi) ? json_pack("[f,f]", lo, hi) : suppressed();
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A noisy count usable as a sample size: at least STATS_MIN_CELL. */
static bool enough(int64_t n)
{
    return n >= STATS_MIN_CELL;
}

/* Mean and SD of per-member values from noisy n, sum (hundredths) and sum of squared deviations
 * from `centre` (hundredths of squared units). mean is clamped to [lo, hi]; the variance to >= 0.
 */
static void mean_sd(int64_t n, int64_t s, int64_t q, double centre, double lo, double hi,
                    double *mean, double *sd)
{
    double dn = (double)n, var;

    *mean = clamp((double)s / (100.0 * dn), lo, hi);
    var = ((double)q / 100.0 - dn * (*mean - centre) * (*mean - centre)) / (dn - 1.0);
    *sd = var > 0.0 ? sqrt(var) : 0.0;
}

/* Cells of one public domain: [{"value": name, "count": released}], and their released total. */
static json_t *cells_json(struct rel *r, size_t part, const char *prefix, const char *const *domain,
                          size_t n, const int64_t *extra, int64_t *total)
{
    json_t *arr = json_array();
    int64_t v, shown;
    size_t i;

    *total = 0;
    if (!arr) {
        r->failed = true;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        v = extra ? noisy(r, part, extra[i]) : noisy_key(r, part, "%s%s", prefix, domain[i]);
        if (stats_release_count_value(v, &shown) == 0 && *total <= INT64_MAX - shown)
            *total += shown;
        push(r, arr, json_pack("{s:s, s:o}", "value", domain[i], "count", stats_release_count(v)));
    }
    return arr;
}

static void release_count(struct rel *r, json_t *o)
{
    put(r, o, "count", stats_release_count(noisy_key(r, 0, "n")));
}

static void release_breakdown(struct rel *r, json_t *o)
{
    int64_t total = 0, vals[STATS_BREAKDOWN_CELLS_MAX];
    const char *names[STATS_BREAKDOWN_CELLS_MAX];
    size_t i, n = 0;
    json_t *cells = NULL;

    switch (r->m->by) {
    case STATS_BY_AGE_BAND:
        cells = cells_json(r, 0, "c:", age_bands, NELEM(age_bands), NULL, &total);
        break;
    case STATS_BY_SEX_AT_BIRTH:
        cells = cells_json(r, 0, "c:", sexes, NELEM(sexes), NULL, &total);
        break;
    case STATS_BY_COUNTRY:
        /* Codes outside the public list go to "other", so no cell name comes from the data. */
        for (i = 0; i < NELEM(countries); i++) {
            char key[8];
            snprintf(key, sizeof(key), "c:%s", countries[i]);
            names[n] = countries[i];
            vals[n++] = stats_raw_get(r->raw, key);
        }
        names[n] = "other";
        vals[n] = 0;
        for (i = 0; r->raw && i < r->raw->n; i++) {
            const char *k = r->raw->cells[i].key;
            if (strncmp(k, "c:", 2) != 0 || strcmp(k + 2, "not_recorded") == 0 ||
                index_of(k + 2, countries, NELEM(countries)) >= 0)
                continue;
            if (r->raw->cells[i].value > 0 && vals[n] <= INT64_MAX - r->raw->cells[i].value)
                vals[n] += r->raw->cells[i].value;
        }
        n++;
        names[n] = "not_recorded";
        vals[n++] = stats_raw_get(r->raw, "c:not_recorded");
        cells = cells_json(r, 0, "", names, n, vals, &total);
        break;
    default:
        r->failed = true;
        return;
    }
    put(r, o, "cells", cells);
    put(r, o, "total", json_integer(total));
}

static void release_distribution(struct rel *r, json_t *o)
{
    int64_t n = noisy_key(r, 0, "n"), s = noisy_key(r, 1, "s"), q = noisy_key(r, 2, "q");
    int64_t h[HIST_BINS];
    double hd[HIST_BINS], mean = NAN, sd = NAN, lo = NAN, hi = NAN;
    bool ok = enough(n);
    json_t *hist = json_array();
    int i;

    for (i = 0; i < HIST_BINS; i++) {
        h[i] = noisy_key(r, 3, "h:%d", i);
        hd[i] = (double)h[i];
        push(r, hist, json_pack("{s:i, s:o}", "severity", i, "count", stats_release_count(h[i])));
    }
    if (ok) {
        mean_sd(n, s, q, 5.0, 0.0, 10.0, &mean, &sd);
        stats_t_ci(mean, sd, (double)n, &lo, &hi);
    }
    put(r, o, "n", stats_release_count(n));
    put(r, o, "mean", stat_json(mean, ok));
    put(r, o, "mean_ci95", ci_json(lo, hi, ok));
    put(r, o, "sd", stat_json(sd, ok));
    put(r, o, "q1", stat_json(stats_hist_quantile(hd, HIST_BINS, 0.25), ok));
    put(r, o, "median", stat_json(stats_hist_quantile(hd, HIST_BINS, 0.5), ok));
    put(r, o, "q3", stat_json(stats_hist_quantile(hd, HIST_BINS, 0.75), ok));
    put(r, o, "histogram", hist);
}

/* Start of period k (0 = the current one) as text. */
static void period_label(const struct stats_measure *m, int64_t now, int k, char *buf, size_t len)
{
    struct tm tm;
    time_t t;

    if (m->interval == STATS_INTERVAL_WEEK) {
        int64_t today = epoch_day(now);
        t = (time_t)((today - (iso_dow(today) - 1) - 7 * (int64_t)k) * 86400);
        if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
            snprintf(buf, len, "?");
        return;
    }
    t = (time_t)now;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    {
        long idx = (long)(tm.tm_year + 1900) * 12 + tm.tm_mon - k;
        snprintf(buf, len, "%04ld-%02ld", idx / 12, idx % 12 + 1);
    }
}

static void release_trend(struct rel *r, json_t *o, int64_t now)
{
    int64_t n[104], s[104], q[104];
    double x[104], y[104], w[104];
    int P = r->m->periods, i;
    struct stats_slope sl;
    bool slope_ok;
    json_t *series = json_array();

    if (P < 1 || P > 104) {
        r->failed = true;
        json_decref(series);
        return;
    }
    /* Index i is chronological (0 = oldest); the SQL keys count back from now (k = P - 1 - i). */
    for (i = 0; i < P; i++)
        n[i] = noisy_key(r, 0, "n:%d", P - 1 - i);
    for (i = 0; i < P; i++)
        s[i] = noisy_key(r, 1, "s:%d", P - 1 - i);
    for (i = 0; i < P; i++)
        q[i] = noisy_key(r, 2, "q:%d", P - 1 - i);
    for (i = 0; i < P; i++) {
        double mean = NAN, sd = NAN, lo = NAN, hi = NAN;
        bool ok = enough(n[i]);
        char label[32];

        x[i] = (double)i;
        y[i] = 0.0;
        w[i] = 0.0;
        if (ok) {
            mean_sd(n[i], s[i], q[i], 5.0, 0.0, 10.0, &mean, &sd);
            stats_t_ci(mean, sd, (double)n[i], &lo, &hi);
            y[i] = mean;
            /* Inverse-variance weights; a period without spread carries none. */
            if (sd > 0.0 && isfinite(sd))
                w[i] = (double)n[i] / (sd * sd);
        }
        period_label(r->m, now, P - 1 - i, label, sizeof(label));
        push(r, series,
             json_pack("{s:i, s:s, s:o, s:o, s:o}", "period", i, "start", label, "n",
                       stats_release_count(n[i]), "mean", stat_json(mean, ok), "ci95",
                       ci_json(lo, hi, ok)));
    }
    slope_ok = stats_weighted_slope(x, y, w, (size_t)P, &sl) == 0;
    put(r, o, "series", series);
    put(r, o, "slope_per_period", stat_json(slope_ok ? sl.slope : NAN, slope_ok));
    put(r, o, "slope_ci95", ci_json(slope_ok ? sl.lo : NAN, slope_ok ? sl.hi : NAN, slope_ok));
}

static void release_treatment(struct rel *r, json_t *o)
{
    int64_t n = noisy_key(r, 0, "n"), s = noisy_key(r, 1, "s"), q = noisy_key(r, 2, "q");
    int64_t imp = noisy_key(r, 3, "imp"), wor = noisy_key(r, 3, "wor");
    double mean = NAN, sd = NAN, lo = NAN, hi = NAN, p = NAN;
    bool ok = enough(n), sign_ok;
    unsigned k, nn;

    if (ok) {
        /* Squares are of the change itself: centre 0. */
        mean_sd(n, s, q, 0.0, -10.0, 10.0, &mean, &sd);
        stats_t_ci(mean, sd, (double)n, &lo, &hi);
    }
    /* The sign test's n is the noisy number of non-tied members; the measure's n must pass too. */
    k = (unsigned)clamp((double)imp, 0.0, 1e9);
    nn = k + (unsigned)clamp((double)wor, 0.0, 1e9);
    sign_ok = ok && nn >= STATS_MIN_CELL;
    if (sign_ok)
        p = stats_sign_test_p(k, nn);
    put(r, o, "n", stats_release_count(n));
    put(r, o, "mean_change", stat_json(mean, ok));
    put(r, o, "mean_change_ci95", ci_json(lo, hi, ok));
    put(r, o, "sd_change", stat_json(sd, ok));
    put(r, o, "effect_size", stat_json(ok ? stats_effect_size(mean, sd) : NAN, ok));
    put(r, o, "improved", stats_release_count(imp));
    put(r, o, "worsened", stats_release_count(wor));
    put(r, o, "sign_test_p", stat_json(p, sign_ok));
}

struct se_cell {
    const char *id;
    int64_t noisy;
};

static int cmp_se_id(const void *a, const void *b)
{
    return strcmp(((const struct se_cell *)a)->id, ((const struct se_cell *)b)->id);
}

static int cmp_se_rank(const void *a, const void *b)
{
    const struct se_cell *x = a, *y = b;

    if (x->noisy != y->noisy)
        return x->noisy > y->noisy ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void release_outcomes(struct rel *r, json_t *o)
{
    struct se_cell *se = NULL;
    size_t nse = 0, i, listed = 0;
    int64_t total, n, shown;
    json_t *list;

    n = noisy_key(r, 0, "n");
    put(r, o, "n_evaluated", stats_release_count(n));
    put(r, o, "effectiveness",
        cells_json(r, 1, "e:", effectiveness_cells, NELEM(effectiveness_cells), NULL, &total));
    put(r, o, "adherence",
        cells_json(r, 2, "a:", adherence_cells, NELEM(adherence_cells), NULL, &total));

    /* Side effects: every catalog symptom the SQL listed, noised in id order. */
    if (r->raw && r->raw->n && !(se = calloc(r->raw->n, sizeof(*se)))) {
        r->failed = true;
        return;
    }
    for (i = 0; r->raw && i < r->raw->n; i++)
        if (strncmp(r->raw->cells[i].key, "se:", 3) == 0)
            se[nse++] = (struct se_cell){r->raw->cells[i].key + 3, r->raw->cells[i].value};
    if (nse)
        qsort(se, nse, sizeof(*se), cmp_se_id);
    for (i = 0; i < nse; i++)
        se[i].noisy = noisy(r, 3, se[i].noisy);
    if (nse)
        qsort(se, nse, sizeof(*se), cmp_se_rank);
    list = json_array();
    /* Only released (unsuppressed) cells are listed, so the list depends on noisy values only. */
    for (i = 0; i < nse && listed < STATS_TOP_SIDE_EFFECTS; i++) {
        double rate = NAN, lo = NAN, hi = NAN;
        bool ok = enough(n);

        if (stats_release_count_value(se[i].noisy, &shown) != 0)
            continue;
        if (ok) {
            double k = clamp((double)se[i].noisy, 0.0, (double)n);
            rate = k / (double)n;
            stats_wilson_ci(k, (double)n, &lo, &hi);
        }
        push(r, list,
             json_pack("{s:s, s:I, s:o, s:o}", "symptom", se[i].id, "count", (json_int_t)shown,
                       "rate", stat_json(rate, ok), "ci95", ci_json(lo, hi, ok)));
        listed++;
    }
    free(se);
    put(r, o, "side_effects", list);
    put(r, o, "stop_reasons", cells_json(r, 4, "st:", stop_cells, NELEM(stop_cells), NULL, &total));
}

static void release_signal(struct rel *r, json_t *o)
{
    int64_t a = noisy_key(r, 0, "a"), b = noisy_key(r, 0, "b"), c = noisy_key(r, 0, "c"),
            d = noisy_key(r, 0, "d");
    struct stats_dispro dp;
    bool ok = enough(a) && enough(b) && enough(c) && enough(d) &&
              stats_disproportionality((double)a, (double)b, (double)c, (double)d, &dp) == 0;

    put(r, o, "table",
        json_pack("{s:o, s:o, s:o, s:o}", "a", stats_release_count(a), "b", stats_release_count(b),
                  "c", stats_release_count(c), "d", stats_release_count(d)));
    put(r, o, "prr", stat_json(ok ? dp.prr : NAN, ok));
    put(r, o, "prr_ci95", ci_json(ok ? dp.prr_lo : NAN, ok ? dp.prr_hi : NAN, ok));
    put(r, o, "ror", stat_json(ok ? dp.ror : NAN, ok));
    put(r, o, "ror_ci95", ci_json(ok ? dp.ror_lo : NAN, ok ? dp.ror_hi : NAN, ok));
    put(r, o, "chi2", stat_json(ok ? dp.chi2 : NAN, ok));
    put(r, o, "chi2_p", stat_json(ok ? dp.chi2_p : NAN, ok));
}

json_t *stats_measure_release(const struct stats_measure *m, const struct stats_raw *raw,
                              const struct stats_mechanism *mech, int64_t now)
{
    struct rel r = {.m = m, .raw = raw, .mech = mech};
    json_t *o = NULL;

    if (!m || !raw || !mech || !mech->noise || (r.nparts = stats_measure_parts(m, r.parts)) == 0)
        return NULL;
    if (!(o = stats_measure_json(m)))
        return NULL;
    switch (m->type) {
    case STATS_M_COUNT:
        release_count(&r, o);
        break;
    case STATS_M_BREAKDOWN:
        release_breakdown(&r, o);
        break;
    case STATS_M_SYMPTOM_DISTRIBUTION:
        release_distribution(&r, o);
        break;
    case STATS_M_SYMPTOM_TREND:
        release_trend(&r, o, now);
        break;
    case STATS_M_TREATMENT_EFFECT:
        release_treatment(&r, o);
        break;
    case STATS_M_MEDICATION_OUTCOMES:
        release_outcomes(&r, o);
        break;
    case STATS_M_SIDE_EFFECT_SIGNAL:
        release_signal(&r, o);
        break;
    default:
        r.failed = true;
    }
    if (r.failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}
