/* stats/measure.c without a database: measure validation (exact error paths), canonical form,
 * epsilon parts, the release of every measure with a zero-noise mechanism defined here (exact
 * suppression, rounding and statistics), with a recording mechanism (every draw's sensitivity and
 * epsilon), and with the Laplace mechanism over a deterministic random source (the exact noise
 * added, in the documented order); identical output for a true 0 and a true 1..10; the SQL
 * builders' parameters and failure behaviour; the raw aggregate store. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <jansson.h>

#include "disclosure.h"
#include "measure.h"
#include "measures.h"

#define NOW 1700000000 /* 2023-11-14 22:13:20 UTC */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- catalog stub ---- */

static const char *const symptoms[] = {"fatigue", "headache", "nausea", "rash"};
static const char *const medications[] = {"metformin", "ocrelizumab"};
static const char *const conditions[] = {"multiple_sclerosis"};

static bool in_list(const char *id, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(id, list[i]) == 0)
            return true;
    return false;
}

static int catalog(void *ctx, const char *kind, const char *id)
{
    (void)ctx;
    if (strcmp(kind, "symptom") == 0)
        return in_list(id, symptoms, NELEM(symptoms));
    if (strcmp(kind, "medication") == 0)
        return in_list(id, medications, NELEM(medications));
    if (strcmp(kind, "condition") == 0)
        return in_list(id, conditions, NELEM(conditions));
    return 0;
}

/* ---- mechanisms defined by the tests ---- */

static int zero_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    (void)ctx;
    (void)sensitivity;
    (void)epsilon;
    *out = 0;
    return 0;
}
static const struct stats_mechanism zero = {zero_noise, NULL};

struct draw {
    uint64_t sensitivity;
    double epsilon;
};
struct recorder {
    struct draw d[4096];
    size_t n;
};

static int record_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    struct recorder *r = ctx;
    if (r->n < NELEM(r->d))
        r->d[r->n] = (struct draw){sensitivity, epsilon};
    r->n++;
    *out = 0;
    return 0;
}

static int fixed_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    (void)sensitivity;
    (void)epsilon;
    *out = *(const int64_t *)ctx;
    return 0;
}

static int failing_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    (void)ctx;
    (void)sensitivity;
    (void)epsilon;
    (void)out;
    return -1;
}

/* splitmix64 byte stream: deterministic "random" source */
struct mix {
    uint64_t state;
};

static int mix_bytes(void *ctx, unsigned char *buf, size_t n)
{
    struct mix *m = ctx;
    while (n > 0) {
        uint64_t z = (m->state += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        z ^= z >> 31;
        size_t k = n < 8 ? n : 8;
        memcpy(buf, &z, k);
        buf += k;
        n -= k;
    }
    return 0;
}

/* ---- helpers ---- */

static json_t *load(const char *text)
{
    char buf[8192];
    size_t n = strlen(text);
    json_error_t e;
    ck_assert_uint_lt(n, sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_t *j = json_loads(buf, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "test JSON does not parse (%s): %s", e.text, buf);
    return j;
}

static struct stats_measure parse1(const char *text)
{
    struct stats_measure m[STATS_MEASURES_MAX];
    struct stats_errors errs = {.n = 0};
    size_t n = 99;
    json_t *j = load(text);
    int rc = stats_measures_parse(j, NULL, catalog, NULL, m, &n, &errs);
    ck_assert_msg(rc == 0, "%s: unexpected error %s: %s", text, errs.n ? errs.e[0].path : "",
                  errs.n ? errs.e[0].message : "");
    ck_assert_int_eq(errs.n, 0);
    ck_assert_uint_eq(n, 1);
    json_decref(j);
    return m[0];
}

/* Parse text expecting failure with exactly the given error paths, in order. */
static void expect_errors(const char *text, const char *const *paths, size_t npaths)
{
    struct stats_measure m[STATS_MEASURES_MAX];
    struct stats_errors errs = {.n = 0};
    size_t n = 99;
    json_t *j = load(text);
    ck_assert_int_eq(stats_measures_parse(j, "measures", catalog, NULL, m, &n, &errs), -1);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg((size_t)errs.n == npaths, "%s: %d errors, want %zu (first %s)", text, errs.n,
                  npaths, errs.n ? errs.e[0].path : "-");
    for (size_t i = 0; i < npaths; i++)
        ck_assert_str_eq(errs.e[i].path, paths[i]);
    json_decref(j);
}
#define EXPECT(text, ...)                                                                          \
    do {                                                                                           \
        static const char *const p_[] = {__VA_ARGS__};                                             \
        expect_errors(text, p_, NELEM(p_));                                                        \
    } while (0)

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(s);
    return s;
}

static bool is_suppressed(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_true(json_object_get(v, "suppressed"));
}

static int64_t count_of(const json_t *v)
{
    ck_assert_msg(json_is_integer(v), "not a released count");
    return (int64_t)json_integer_value(v);
}

/* The released form of a true count under zero noise: -1 for suppressed. */
static int64_t released(int64_t v)
{
    int64_t out;
    return stats_release_count_value(v, &out) == 0 ? out : -1;
}

static void assert_count(const json_t *v, int64_t truth)
{
    int64_t want = released(truth);
    if (want < 0)
        ck_assert_msg(is_suppressed(v), "count %lld should be suppressed", (long long)truth);
    else
        ck_assert_int_eq(count_of(v), want);
}

static void assert_num(const json_t *v, double want)
{
    ck_assert_msg(json_is_number(v), "expected a number");
    ck_assert_msg(fabs(json_number_value(v) - want) <= 1e-9 * fmax(1.0, fabs(want)),
                  "got %.15g, want %.15g", json_number_value(v), want);
}

static void raw_add(struct stats_raw *r, const char *key, int64_t v)
{
    ck_assert_int_eq(stats_raw_add(r, key, v), 0);
}

static json_t *release(const struct stats_measure *m, const struct stats_raw *raw)
{
    json_t *o = stats_measure_release(m, raw, &zero, NOW);
    ck_assert_ptr_nonnull(o);
    return o;
}

/* ---- validation ---- */

START_TEST(parse_every_type)
{
    struct stats_measure m = parse1("[{'type':'count'}]");
    ck_assert_int_eq(m.type, STATS_M_COUNT);
    ck_assert(m.epsilon == 0.1);

    m = parse1("[{'type':'breakdown','by':'country','epsilon':0.25}]");
    ck_assert_int_eq(m.type, STATS_M_BREAKDOWN);
    ck_assert_int_eq(m.by, STATS_BY_COUNTRY);
    ck_assert(m.epsilon == 0.25);

    m = parse1("[{'type':'symptom_distribution','symptom':'fatigue','window_days':3650,"
               "'epsilon':1}]");
    ck_assert_int_eq(m.type, STATS_M_SYMPTOM_DISTRIBUTION);
    ck_assert_str_eq(m.symptom, "fatigue");
    ck_assert_int_eq(m.window_days, 3650);
    ck_assert(m.epsilon == 1.0);

    m = parse1("[{'type':'symptom_trend','symptom':'nausea','interval':'month','periods':104,"
               "'epsilon':0.01}]");
    ck_assert_int_eq(m.type, STATS_M_SYMPTOM_TREND);
    ck_assert_int_eq(m.interval, STATS_INTERVAL_MONTH);
    ck_assert_int_eq(m.periods, 104);
    ck_assert(m.epsilon == 0.01);

    m = parse1("[{'type':'treatment_effect','medication':'ocrelizumab','symptom':'fatigue',"
               "'before_days':1,'after_days':365}]");
    ck_assert_int_eq(m.type, STATS_M_TREATMENT_EFFECT);
    ck_assert_str_eq(m.medication, "ocrelizumab");
    ck_assert_str_eq(m.symptom, "fatigue");
    ck_assert_int_eq(m.before_days, 1);
    ck_assert_int_eq(m.after_days, 365);

    m = parse1("[{'type':'medication_outcomes','medication':'metformin','epsilon':0.123}]");
    ck_assert_int_eq(m.type, STATS_M_MEDICATION_OUTCOMES);
    ck_assert(m.epsilon == 0.123);

    m = parse1("[{'type':'side_effect_signal','medication':'metformin','side_effect':'rash'}]");
    ck_assert_int_eq(m.type, STATS_M_SIDE_EFFECT_SIGNAL);
    ck_assert_str_eq(m.side_effect, "rash");

    /* Ten measures are allowed. */
    struct stats_measure many[STATS_MEASURES_MAX];
    size_t n = 0;
    json_t *j = load("[{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'},"
                     "{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'},"
                     "{'type':'count'},{'type':'count'}]");
    ck_assert_int_eq(stats_measures_parse(j, NULL, catalog, NULL, many, &n, NULL), 0);
    ck_assert_uint_eq(n, 10);
    json_decref(j);
}
END_TEST

START_TEST(parse_error_paths)
{
    EXPECT("{'type':'count'}", "measures");
    EXPECT("[]", "measures");
    EXPECT("[{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'},"
           "{'type':'count'},{'type':'count'},{'type':'count'},{'type':'count'},"
           "{'type':'count'},{'type':'count'},{'type':'count'}]",
           "measures");
    EXPECT("[5]", "measures[0]");
    EXPECT("[{}]", "measures[0].type");
    EXPECT("[{'type':'median'}]", "measures[0].type");
    EXPECT("[{'type':'count','by':'country'}]", "measures[0].by");
    EXPECT("[{'type':'count','foo':1,'bar':2}]", "measures[0].foo", "measures[0].bar");
    EXPECT("[{'type':'count','epsilon':0.005}]", "measures[0].epsilon");
    EXPECT("[{'type':'count','epsilon':1.001}]", "measures[0].epsilon");
    EXPECT("[{'type':'count','epsilon':0.1234}]", "measures[0].epsilon");
    EXPECT("[{'type':'count','epsilon':'0.1'}]", "measures[0].epsilon");
    EXPECT("[{'type':'count','epsilon':null}]", "measures[0].epsilon");
    EXPECT("[{'type':'breakdown'}]", "measures[0].by");
    EXPECT("[{'type':'breakdown','by':'postcode'}]", "measures[0].by");
    EXPECT("[{'type':'symptom_distribution','symptom':'unicorn','window_days':0}]",
           "measures[0].symptom", "measures[0].window_days");
    EXPECT("[{'type':'symptom_distribution','symptom':'Fatigue!','window_days':3651}]",
           "measures[0].symptom", "measures[0].window_days");
    EXPECT("[{'type':'symptom_distribution','symptom':'metformin','window_days':1.5}]",
           "measures[0].symptom", "measures[0].window_days");
    EXPECT("[{'type':'symptom_trend','symptom':'fatigue','interval':'day','periods':105}]",
           "measures[0].interval", "measures[0].periods");
    EXPECT("[{'type':'symptom_trend','symptom':'fatigue','interval':'week'}]",
           "measures[0].periods");
    EXPECT("[{'type':'treatment_effect','medication':'fatigue','symptom':'fatigue',"
           "'before_days':366,'after_days':0}]",
           "measures[0].medication", "measures[0].before_days", "measures[0].after_days");
    EXPECT("[{'type':'medication_outcomes'}]", "measures[0].medication");
    EXPECT("[{'type':'side_effect_signal','medication':'metformin','side_effect':'ocrelizumab'}]",
           "measures[0].side_effect");
    /* Every bad measure is named, not only the first. */
    EXPECT("[{'type':'count'},{'type':'count','x':1},{'type':'breakdown','by':'age_band'},"
           "{'type':'breakdown'}]",
           "measures[1].x", "measures[3].by");

    /* Errors are appended after those already collected (the cohort's), under the given path. */
    struct stats_measure m[STATS_MEASURES_MAX];
    struct stats_errors errs = {.n = 2};
    size_t n = 0;
    json_t *j = load("[{'type':'count','epsilon':2}]");
    ck_assert_int_eq(stats_measures_parse(j, "q.measures", catalog, NULL, m, &n, &errs), -1);
    ck_assert_int_eq(errs.n, 3);
    ck_assert_str_eq(errs.e[2].path, "q.measures[0].epsilon");
    ck_assert_str_eq(errs.e[2].message,
                     "must be a number from 0.01 to 1.0 with at most 3 decimals");
    json_decref(j);

    /* Without a catalog no id is known. */
    errs.n = 0;
    j = load("[{'type':'medication_outcomes','medication':'metformin'}]");
    ck_assert_int_eq(stats_measures_parse(j, NULL, NULL, NULL, m, &n, &errs), -1);
    ck_assert_int_eq(errs.n, 1);
    ck_assert_str_eq(errs.e[0].path, "measures[0].medication");
    ck_assert_str_eq(errs.e[0].message, "unknown medication id");
    json_decref(j);
}
END_TEST

START_TEST(canonical_form)
{
    struct stats_measure a = parse1("[{'window_days':30,'symptom':'fatigue',"
                                    "'type':'symptom_distribution'}]");
    struct stats_measure b = parse1("[{'type':'symptom_distribution','epsilon':0.100,"
                                    "'symptom':'fatigue','window_days':30}]");
    json_t *ja = stats_measure_json(&a), *jb = stats_measure_json(&b);
    char *sa = dump(ja), *sb = dump(jb);
    ck_assert_str_eq(sa, "{\"epsilon\":0.10000000000000001,\"symptom\":\"fatigue\","
                         "\"type\":\"symptom_distribution\",\"window_days\":30}");
    ck_assert_str_eq(sa, sb);
    free(sa);
    free(sb);
    json_decref(ja);
    json_decref(jb);

    a = parse1("[{'type':'count','epsilon':1}]");
    b = parse1("[{'type':'count','epsilon':1.0}]");
    ja = stats_measure_json(&a);
    jb = stats_measure_json(&b);
    sa = dump(ja);
    sb = dump(jb);
    ck_assert_str_eq(sa, "{\"epsilon\":1.0,\"type\":\"count\"}");
    ck_assert_str_eq(sa, sb);
    free(sa);
    free(sb);
    json_decref(ja);
    json_decref(jb);

    /* Whole queries: equivalent cohorts and measures give one text; a changed measure another. */
    json_t *c1 = load("{'all':[{'sex_at_birth':'female'},{'age':{'min':40,'max':60}}]}");
    json_t *c2 = load("{'all':[{'age':{'max':60,'min':40}},{'sex_at_birth':'female'}]}");
    struct stats_cohort *k1 = stats_cohort_parse(c1, "cohort", catalog, NULL, NULL);
    struct stats_cohort *k2 = stats_cohort_parse(c2, "cohort", catalog, NULL, NULL);
    ck_assert_ptr_nonnull(k1);
    ck_assert_ptr_nonnull(k2);
    struct stats_measure q1[2] = {parse1("[{'type':'count'}]"),
                                  parse1("[{'type':'breakdown','by':'age_band'}]")};
    struct stats_measure q2[2] = {parse1("[{'type':'count','epsilon':0.1}]"),
                                  parse1("[{'by':'age_band','type':'breakdown'}]")};
    char *t1 = stats_query_canonical(k1, q1, 2), *t2 = stats_query_canonical(k2, q2, 2);
    ck_assert_ptr_nonnull(t1);
    ck_assert_str_eq(t1, t2);
    ck_assert_str_eq(t1, "{\"cohort\":{\"all\":[{\"age\":{\"max\":60,\"min\":40}},"
                         "{\"sex_at_birth\":\"female\"}]},\"measures\":[{\"epsilon\":"
                         "0.10000000000000001,\"type\":\"count\"},{\"by\":\"age_band\","
                         "\"epsilon\":0.10000000000000001,\"type\":\"breakdown\"}]}");
    q2[1].epsilon = 0.2;
    free(t2);
    t2 = stats_query_canonical(k2, q2, 2);
    ck_assert_str_ne(t1, t2);
    /* Order of measures is part of the query (it is the order of the results). */
    struct stats_measure q3[2] = {q1[1], q1[0]};
    free(t2);
    t2 = stats_query_canonical(k1, q3, 2);
    ck_assert_str_ne(t1, t2);
    ck_assert_ptr_null(stats_query_canonical(k1, q1, 0));
    ck_assert_ptr_null(stats_query_canonical(NULL, q1, 1));
    free(t1);
    free(t2);
    stats_cohort_free(k1);
    stats_cohort_free(k2);
    json_decref(c1);
    json_decref(c2);
}
END_TEST

/* ---- epsilon parts ---- */

START_TEST(epsilon_parts_sum_to_measure)
{
    static const char *const texts[] = {
        "[{'type':'count','epsilon':0.3}]",
        "[{'type':'breakdown','by':'sex_at_birth','epsilon':0.07}]",
        "[{'type':'symptom_distribution','symptom':'fatigue','window_days':30,'epsilon':0.5}]",
        "[{'type':'symptom_trend','symptom':'fatigue','interval':'week','periods':104,"
        "'epsilon':1}]",
        "[{'type':'treatment_effect','medication':'metformin','symptom':'fatigue',"
        "'before_days':30,'after_days':30,'epsilon':0.01}]",
        "[{'type':'medication_outcomes','medication':'metformin','epsilon':0.9}]",
        "[{'type':'side_effect_signal','medication':'metformin','side_effect':'rash'}]",
    };
    static const size_t want_parts[] = {1, 1, 4, 3, 4, 5, 1};
    for (size_t t = 0; t < NELEM(texts); t++) {
        struct stats_measure m = parse1(texts[t]);
        struct stats_part p[STATS_MEASURE_MAX_PARTS];
        size_t n = stats_measure_parts(&m, p);
        ck_assert_uint_eq(n, want_parts[t]);
        double sum = 0.0, recip = 0.0;
        for (size_t i = 0; i < n; i++) {
            sum += m.epsilon / p[i].share;
            recip += 1.0 / p[i].share;
            /* The mechanism must accept every draw's sensitivity. */
            ck_assert_uint_le(p[i].sensitivity * p[i].share, STATS_MAX_SENSITIVITY);
            ck_assert_uint_ge(p[i].sensitivity, 1);
        }
        ck_assert_msg(fabs(sum - m.epsilon) < 1e-12, "%s: parts sum to %.17g", texts[t], sum);
        ck_assert_msg(fabs(recip - 1.0) < 1e-12, "%s", texts[t]);
    }
    /* Trend sensitivities grow with the number of periods a member can appear in. */
    struct stats_measure m =
        parse1("[{'type':'symptom_trend','symptom':'fatigue','interval':'month','periods':12}]");
    struct stats_part p[STATS_MEASURE_MAX_PARTS];
    ck_assert_uint_eq(stats_measure_parts(&m, p), 3);
    ck_assert_uint_eq(p[0].sensitivity, 12);
    ck_assert_uint_eq(p[1].sensitivity, 12000);
    ck_assert_uint_eq(p[2].sensitivity, 30000);
    m = parse1("[{'type':'medication_outcomes','medication':'metformin'}]");
    ck_assert_uint_eq(stats_measure_parts(&m, p), 5);
    ck_assert_str_eq(p[3].name, "side_effects");
    ck_assert_uint_eq(p[3].sensitivity, STATS_SIDE_EFFECTS_PER_MEMBER);
    ck_assert_uint_eq(stats_measure_parts(NULL, p), 0);
    m.type = (enum stats_measure_type)99;
    ck_assert_uint_eq(stats_measure_parts(&m, p), 0);
}
END_TEST

/* ---- release with zero noise: exact values ---- */

START_TEST(release_count_rounding_and_suppression)
{
    static const struct {
        int64_t truth;
        int64_t shown; /* -1: suppressed */
    } cases[] = {{0, -1},  {1, -1},  {10, -1}, {11, -1},     {12, -1}, {13, 15},
                 {17, 15}, {18, 20}, {37, 35}, {1000, 1000}, {-4, -1}};
    struct stats_measure m = parse1("[{'type':'count'}]");
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct stats_raw raw;
        stats_raw_init(&raw);
        raw_add(&raw, "n", cases[i].truth);
        json_t *o = release(&m, &raw);
        json_t *c = json_object_get(o, "count");
        if (cases[i].shown < 0)
            ck_assert_msg(is_suppressed(c), "%lld", (long long)cases[i].truth);
        else
            ck_assert_int_eq(count_of(c), cases[i].shown);
        ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "count");
        ck_assert(json_real_value(json_object_get(o, "epsilon")) == 0.1);
        json_decref(o);
        stats_raw_free(&raw);
    }
}
END_TEST

START_TEST(release_breakdowns)
{
    struct stats_raw raw;
    stats_raw_init(&raw);
    raw_add(&raw, "c:female", 40);
    raw_add(&raw, "c:male", 12);
    raw_add(&raw, "c:not_recorded", 3);
    struct stats_measure m = parse1("[{'type':'breakdown','by':'sex_at_birth'}]");
    json_t *o = release(&m, &raw);
    char *s = dump(o);
    ck_assert_str_eq(s, "{\"by\":\"sex_at_birth\",\"cells\":[{\"count\":40,\"value\":\"female\"},"
                        "{\"count\":{\"suppressed\":true},\"value\":\"male\"},"
                        "{\"count\":{\"suppressed\":true},\"value\":\"intersex\"},"
                        "{\"count\":{\"suppressed\":true},\"value\":\"unknown\"},"
                        "{\"count\":{\"suppressed\":true},\"value\":\"not_recorded\"}],"
                        "\"epsilon\":0.10000000000000001,\"total\":40,\"type\":\"breakdown\"}");
    free(s);
    json_decref(o);
    stats_raw_free(&raw);

    /* Age bands: every band, top-coded at 90, in order; total from the released cells. */
    static const char *const bands[] = {"0-9",   "10-19", "20-29", "30-39", "40-49",       "50-59",
                                        "60-69", "70-79", "80-89", "90+",   "not_recorded"};
    static const int64_t truth[] = {0, 14, 27, 5, 33, 100, 13, 11, 12, 48, 19};
    stats_raw_init(&raw);
    for (size_t i = 0; i < NELEM(bands); i++) {
        char key[32];
        snprintf(key, sizeof(key), "c:%s", bands[i]);
        raw_add(&raw, key, truth[i]);
    }
    m = parse1("[{'type':'breakdown','by':'age_band'}]");
    o = release(&m, &raw);
    json_t *cells = json_object_get(o, "cells");
    ck_assert_uint_eq(json_array_size(cells), NELEM(bands));
    int64_t total = 0;
    for (size_t i = 0; i < NELEM(bands); i++) {
        json_t *c = json_array_get(cells, i);
        ck_assert_str_eq(json_string_value(json_object_get(c, "value")), bands[i]);
        assert_count(json_object_get(c, "count"), truth[i]);
        if (released(truth[i]) > 0)
            total += released(truth[i]);
    }
    ck_assert_int_eq(total, 15 + 25 + 35 + 100 + 15 + 50 + 20);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), total);
    json_decref(o);
    stats_raw_free(&raw);

    /* Countries: the whole public list plus other and not_recorded; unknown codes go to other. */
    stats_raw_init(&raw);
    raw_add(&raw, "c:GB", 120);
    raw_add(&raw, "c:XX", 9);
    raw_add(&raw, "c:QQ", 8);
    raw_add(&raw, "c:not_recorded", 30);
    m = parse1("[{'type':'breakdown','by':'country'}]");
    o = release(&m, &raw);
    cells = json_object_get(o, "cells");
    size_t ncodes;
    const char *const *codes = stats_country_codes(&ncodes);
    ck_assert_uint_eq(ncodes, 249);
    ck_assert_uint_eq(json_array_size(cells), 251);
    for (size_t i = 1; i < ncodes; i++)
        ck_assert_int_lt(strcmp(codes[i - 1], codes[i]), 0);
    for (size_t i = 0; i < 251; i++) {
        json_t *c = json_array_get(cells, i);
        const char *v = json_string_value(json_object_get(c, "value"));
        if (i < ncodes)
            ck_assert_str_eq(v, codes[i]);
        if (strcmp(v, "GB") == 0)
            ck_assert_int_eq(count_of(json_object_get(c, "count")), 120);
        else if (strcmp(v, "other") == 0)
            ck_assert_int_eq(count_of(json_object_get(c, "count")), 15);
        else if (strcmp(v, "not_recorded") == 0)
            ck_assert_int_eq(count_of(json_object_get(c, "count")), 30);
        else
            ck_assert(is_suppressed(json_object_get(c, "count")));
    }
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cells, 249), "value")),
                     "other");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cells, 250), "value")),
                     "not_recorded");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), 165);
    json_decref(o);
    stats_raw_free(&raw);
}
END_TEST

/* Aggregates of per-member mean severities in hundredths, as the SQL computes them. */
static void dist_raw(struct stats_raw *raw, const int *m100, size_t n, const char *suffix)
{
    int64_t s = 0, q = 0, h[11] = {0};
    char key[32];
    for (size_t i = 0; i < n; i++) {
        s += m100[i];
        q += ((int64_t)(m100[i] - 500) * (m100[i] - 500) + 50) / 100;
        h[(m100[i] + 50) / 100]++;
    }
    snprintf(key, sizeof(key), "n%s", suffix);
    raw_add(raw, key, (int64_t)n);
    snprintf(key, sizeof(key), "s%s", suffix);
    raw_add(raw, key, s);
    snprintf(key, sizeof(key), "q%s", suffix);
    raw_add(raw, key, q);
    if (!suffix[0])
        for (int b = 0; b < 11; b++) {
            snprintf(key, sizeof(key), "h:%d", b);
            raw_add(raw, key, h[b]);
        }
}

START_TEST(release_symptom_distribution)
{
    /* 40 members, means in tenths so the squares need no rounding. */
    int m100[40];
    double x[40];
    double hist[11] = {0};
    for (int i = 0; i < 40; i++) {
        m100[i] = (i * 37 % 101) * 10; /* 0..1000 step 10 */
        x[i] = m100[i] / 100.0;
        hist[(m100[i] + 50) / 100] += 1;
    }
    struct stats_raw raw;
    stats_raw_init(&raw);
    dist_raw(&raw, m100, 40, "");
    struct stats_measure m =
        parse1("[{'type':'symptom_distribution','symptom':'fatigue','window_days':30}]");
    json_t *o = release(&m, &raw);
    double mean = stats_mean(x, 40), sd = stats_sd(x, 40), lo, hi;
    stats_t_ci(mean, sd, 40, &lo, &hi);
    ck_assert_int_eq(count_of(json_object_get(o, "n")), 40);
    assert_num(json_object_get(o, "mean"), mean);
    assert_num(json_object_get(o, "sd"), sd);
    assert_num(json_array_get(json_object_get(o, "mean_ci95"), 0), lo);
    assert_num(json_array_get(json_object_get(o, "mean_ci95"), 1), hi);
    assert_num(json_object_get(o, "median"), stats_hist_quantile(hist, 11, 0.5));
    assert_num(json_object_get(o, "q1"), stats_hist_quantile(hist, 11, 0.25));
    assert_num(json_object_get(o, "q3"), stats_hist_quantile(hist, 11, 0.75));
    json_t *h = json_object_get(o, "histogram");
    ck_assert_uint_eq(json_array_size(h), 11);
    for (int b = 0; b < 11; b++) {
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(h, b), "severity")), b);
        assert_count(json_object_get(json_array_get(h, b), "count"), (int64_t)hist[b]);
    }
    ck_assert_ptr_null(json_object_get(o, "min"));
    ck_assert_ptr_null(json_object_get(o, "max"));
    json_decref(o);
    stats_raw_free(&raw);

    /* Ten members: every statistic is suppressed, never computed from the true values. */
    stats_raw_init(&raw);
    dist_raw(&raw, m100, 10, "");
    o = release(&m, &raw);
    static const char *const stats_keys[] = {"n", "mean", "mean_ci95", "sd", "median", "q1", "q3"};
    for (size_t i = 0; i < NELEM(stats_keys); i++)
        ck_assert_msg(is_suppressed(json_object_get(o, stats_keys[i])), "%s", stats_keys[i]);
    json_decref(o);
    stats_raw_free(&raw);
}
END_TEST

START_TEST(release_symptom_trend)
{
    /* 4 weekly periods; k counts back from now, so period i = 3 - k. Period k=3 (oldest) has
     * 5 members (suppressed), the others 20, 30, 40 with rising means. */
    struct stats_raw raw;
    stats_raw_init(&raw);
    static const int sizes[4] = {40, 30, 20, 5}; /* by k */
    double means[4], sds[4], w[4], xs[4], ys[4];
    for (int k = 0; k < 4; k++) {
        int m100[40];
        double x[40];
        char suffix[8];
        for (int i = 0; i < sizes[k]; i++) {
            m100[i] = ((i * 7 + k * 3) % 11) * 10 + (3 - k) * 100;
            x[i] = m100[i] / 100.0;
        }
        snprintf(suffix, sizeof(suffix), ":%d", k);
        dist_raw(&raw, m100, (size_t)sizes[k], suffix);
        means[k] = stats_mean(x, (size_t)sizes[k]);
        sds[k] = stats_sd(x, (size_t)sizes[k]);
    }
    struct stats_measure m =
        parse1("[{'type':'symptom_trend','symptom':'fatigue','interval':'week','periods':4}]");
    json_t *o = release(&m, &raw);
    json_t *series = json_object_get(o, "series");
    ck_assert_uint_eq(json_array_size(series), 4);
    for (int i = 0; i < 4; i++) {
        int k = 3 - i;
        json_t *p = json_array_get(series, (size_t)i);
        ck_assert_int_eq(json_integer_value(json_object_get(p, "period")), i);
        assert_count(json_object_get(p, "n"), sizes[k]);
        xs[i] = i;
        ys[i] = 0;
        w[i] = 0;
        if (sizes[k] < 11) {
            ck_assert(is_suppressed(json_object_get(p, "mean")));
            ck_assert(is_suppressed(json_object_get(p, "ci95")));
            continue;
        }
        double lo, hi;
        stats_t_ci(means[k], sds[k], sizes[k], &lo, &hi);
        assert_num(json_object_get(p, "mean"), means[k]);
        assert_num(json_array_get(json_object_get(p, "ci95"), 0), lo);
        assert_num(json_array_get(json_object_get(p, "ci95"), 1), hi);
        ys[i] = means[k];
        w[i] = sizes[k] / (sds[k] * sds[k]);
    }
    /* Period starts: the Mondays of ISO weeks, the current one last (now is Tuesday 2023-11-14). */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(series, 0), "start")),
                     "2023-10-23");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(series, 3), "start")),
                     "2023-11-13");
    struct stats_slope sl;
    ck_assert_int_eq(stats_weighted_slope(xs, ys, w, 4, &sl), 0);
    ck_assert(sl.slope > 0.5);
    assert_num(json_object_get(o, "slope_per_period"), sl.slope);
    assert_num(json_array_get(json_object_get(o, "slope_ci95"), 0), sl.lo);
    assert_num(json_array_get(json_object_get(o, "slope_ci95"), 1), sl.hi);
    json_decref(o);

    /* Months are labelled by calendar month, counting back from the month of now. */
    m = parse1("[{'type':'symptom_trend','symptom':'fatigue','interval':'month','periods':12}]");
    o = release(&m, &raw);
    series = json_object_get(o, "series");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(series, 11), "start")),
                     "2023-11");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(series, 0), "start")),
                     "2022-12");
    /* Periods 0..7 have no data and 8 (k = 3) is suppressed; 9..11 are three usable points. */
    ck_assert(is_suppressed(json_object_get(json_array_get(series, 0), "n")));
    ck_assert(json_is_number(json_object_get(o, "slope_per_period")));
    json_decref(o);
    stats_raw_free(&raw);

    /* Fewer than three usable periods: no slope. */
    stats_raw_init(&raw);
    int m100[20];
    for (int i = 0; i < 20; i++)
        m100[i] = (i % 5) * 100;
    dist_raw(&raw, m100, 20, ":0");
    dist_raw(&raw, m100, 20, ":1");
    m = parse1("[{'type':'symptom_trend','symptom':'fatigue','interval':'week','periods':2}]");
    o = release(&m, &raw);
    ck_assert(is_suppressed(json_object_get(o, "slope_per_period")));
    ck_assert(is_suppressed(json_object_get(o, "slope_ci95")));
    json_decref(o);
    stats_raw_free(&raw);
}
END_TEST

START_TEST(release_treatment_effect)
{
    /* 30 members; changes in hundredths (multiples of 10, so squares are exact). */
    int d100[30];
    double d[30];
    int64_t s = 0, q = 0, imp = 0, wor = 0;
    for (int i = 0; i < 30; i++) {
        d100[i] = ((i * 13) % 21 - 14) * 10;
        d[i] = d100[i] / 100.0;
        s += d100[i];
        q += ((int64_t)d100[i] * d100[i] + 50) / 100;
        imp += d100[i] < 0;
        wor += d100[i] > 0;
    }
    struct stats_raw raw;
    stats_raw_init(&raw);
    raw_add(&raw, "n", 30);
    raw_add(&raw, "s", s);
    raw_add(&raw, "q", q);
    raw_add(&raw, "imp", imp);
    raw_add(&raw, "wor", wor);
    struct stats_measure m =
        parse1("[{'type':'treatment_effect','medication':'metformin','symptom':'fatigue',"
               "'before_days':56,'after_days':56}]");
    json_t *o = release(&m, &raw);
    double mean = stats_mean(d, 30), sd = stats_sd(d, 30), lo, hi;
    stats_t_ci(mean, sd, 30, &lo, &hi);
    ck_assert(imp >= 11 && wor >= 1);
    assert_count(json_object_get(o, "n"), 30);
    assert_num(json_object_get(o, "mean_change"), mean);
    assert_num(json_object_get(o, "sd_change"), sd);
    assert_num(json_array_get(json_object_get(o, "mean_change_ci95"), 0), lo);
    assert_num(json_array_get(json_object_get(o, "mean_change_ci95"), 1), hi);
    assert_num(json_object_get(o, "effect_size"), mean / sd);
    assert_count(json_object_get(o, "improved"), imp);
    assert_count(json_object_get(o, "worsened"), wor);
    assert_num(json_object_get(o, "sign_test_p"),
               stats_sign_test_p((unsigned)imp, (unsigned)(imp + wor)));
    json_decref(o);

    /* A noisy variance below zero shows as SD 0, so the effect size is suppressed. */
    stats_raw_free(&raw);
    stats_raw_init(&raw);
    raw_add(&raw, "n", 20);
    raw_add(&raw, "s", -2000);
    raw_add(&raw, "q", 1000);
    o = release(&m, &raw);
    assert_num(json_object_get(o, "mean_change"), -1.0);
    assert_num(json_object_get(o, "sd_change"), 0.0);
    ck_assert(is_suppressed(json_object_get(o, "effect_size")));
    ck_assert(is_suppressed(json_object_get(o, "sign_test_p")));
    json_decref(o);
    stats_raw_free(&raw);
}
END_TEST

START_TEST(release_medication_outcomes)
{
    struct stats_raw raw;
    stats_raw_init(&raw);
    raw_add(&raw, "n", 200);
    raw_add(&raw, "e:moderate", 90);
    raw_add(&raw, "e:major", 60);
    raw_add(&raw, "e:none", 50);
    raw_add(&raw, "a:always", 150);
    raw_add(&raw, "a:never", 50);
    raw_add(&raw, "st:side_effects", 40);
    raw_add(&raw, "st:not_given", 9);
    /* 14 catalog symptoms: 12 above the threshold, ranks by count then id. */
    static const char *const ids[] = {"a1", "a2", "b1", "b2", "c1", "c2", "d1",
                                      "d2", "e1", "e2", "f1", "f2", "g1", "g2"};
    static const int64_t counts[] = {30, 30, 80, 13, 50, 50, 22, 27, 100, 12, 64, 18, 44, 0};
    for (size_t i = 0; i < NELEM(ids); i++) {
        char key[16];
        snprintf(key, sizeof(key), "se:%s", ids[i]);
        raw_add(&raw, key, counts[i]);
    }
    struct stats_measure m = parse1("[{'type':'medication_outcomes','medication':'metformin'}]");
    json_t *o = release(&m, &raw);
    ck_assert_int_eq(count_of(json_object_get(o, "n_evaluated")), 200);
    json_t *eff = json_object_get(o, "effectiveness");
    static const char *const eff_names[] = {"none",  "slight",    "moderate",
                                            "major", "cant_tell", "not_rated"};
    static const int64_t eff_truth[] = {50, 0, 90, 60, 0, 0};
    ck_assert_uint_eq(json_array_size(eff), 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(eff, i), "value")),
                         eff_names[i]);
        assert_count(json_object_get(json_array_get(eff, i), "count"), eff_truth[i]);
    }
    ck_assert_uint_eq(json_array_size(json_object_get(o, "adherence")), 5);
    json_t *stop = json_object_get(o, "stop_reasons");
    ck_assert_uint_eq(json_array_size(stop), 7);
    ck_assert_int_eq(count_of(json_object_get(json_array_get(stop, 0), "count")), 40);
    ck_assert(is_suppressed(json_object_get(json_array_get(stop, 6), "count")));

    /* Top ten released side effects by count, ties by id; 12 (e2) and 0 (g2) never listed. */
    static const char *const want[] = {"e1", "b1", "f1", "c1", "c2", "g1", "a1", "a2", "d2", "d1"};
    static const int64_t want_n[] = {100, 80, 64, 50, 50, 44, 30, 30, 27, 22};
    json_t *se = json_object_get(o, "side_effects");
    ck_assert_uint_eq(json_array_size(se), 10);
    for (size_t i = 0; i < 10; i++) {
        json_t *e = json_array_get(se, i);
        ck_assert_str_eq(json_string_value(json_object_get(e, "symptom")), want[i]);
        assert_count(json_object_get(e, "count"), want_n[i]);
        double lo, hi;
        stats_wilson_ci((double)want_n[i], 200.0, &lo, &hi);
        assert_num(json_object_get(e, "rate"), want_n[i] / 200.0);
        assert_num(json_array_get(json_object_get(e, "ci95"), 0), lo);
        assert_num(json_array_get(json_object_get(e, "ci95"), 1), hi);
    }
    json_decref(o);
    stats_raw_free(&raw);
}
END_TEST

START_TEST(release_side_effect_signal)
{
    struct stats_raw raw;
    stats_raw_init(&raw);
    raw_add(&raw, "a", 40);
    raw_add(&raw, "b", 160);
    raw_add(&raw, "c", 60);
    raw_add(&raw, "d", 940);
    struct stats_measure m =
        parse1("[{'type':'side_effect_signal','medication':'metformin','side_effect':'rash'}]");
    json_t *o = release(&m, &raw);
    struct stats_dispro dp;
    ck_assert_int_eq(stats_disproportionality(40, 160, 60, 940, &dp), 0);
    json_t *t = json_object_get(o, "table");
    ck_assert_int_eq(count_of(json_object_get(t, "a")), 40);
    ck_assert_int_eq(count_of(json_object_get(t, "b")), 160);
    ck_assert_int_eq(count_of(json_object_get(t, "c")), 60);
    ck_assert_int_eq(count_of(json_object_get(t, "d")), 940);
    assert_num(json_object_get(o, "prr"), dp.prr);
    assert_num(json_object_get(o, "prr"), (40.0 / 200) / (60.0 / 1000));
    assert_num(json_array_get(json_object_get(o, "prr_ci95"), 0), dp.prr_lo);
    assert_num(json_array_get(json_object_get(o, "prr_ci95"), 1), dp.prr_hi);
    assert_num(json_object_get(o, "ror"), (40.0 * 940) / (160.0 * 60));
    assert_num(json_array_get(json_object_get(o, "ror_ci95"), 0), dp.ror_lo);
    assert_num(json_array_get(json_object_get(o, "ror_ci95"), 1), dp.ror_hi);
    assert_num(json_object_get(o, "chi2"), dp.chi2);
    assert_num(json_object_get(o, "chi2_p"), dp.chi2_p);
    json_decref(o);

    /* One small cell suppresses every statistic. */
    stats_raw_free(&raw);
    stats_raw_init(&raw);
    raw_add(&raw, "a", 8);
    raw_add(&raw, "b", 160);
    raw_add(&raw, "c", 60);
    raw_add(&raw, "d", 940);
    o = release(&m, &raw);
    ck_assert(is_suppressed(json_object_get(json_object_get(o, "table"), "a")));
    static const char *const keys[] = {"prr", "prr_ci95", "ror", "ror_ci95", "chi2", "chi2_p"};
    for (size_t i = 0; i < NELEM(keys); i++)
        ck_assert(is_suppressed(json_object_get(o, keys[i])));
    json_decref(o);
    stats_raw_free(&raw);
}
END_TEST

/* ---- a true 0 and a true 1..10 look the same ---- */

static const char *const every_measure[] = {
    "[{'type':'count'}]",
    "[{'type':'breakdown','by':'age_band'}]",
    "[{'type':'breakdown','by':'sex_at_birth'}]",
    "[{'type':'breakdown','by':'country'}]",
    "[{'type':'symptom_distribution','symptom':'fatigue','window_days':30}]",
    "[{'type':'symptom_trend','symptom':'fatigue','interval':'week','periods':6}]",
    "[{'type':'treatment_effect','medication':'metformin','symptom':'fatigue',"
    "'before_days':30,'after_days':30}]",
    "[{'type':'medication_outcomes','medication':'metformin'}]",
    "[{'type':'side_effect_signal','medication':'metformin','side_effect':'rash'}]",
};

/* Every key the measure reads, each set to v (side effects: the catalog's symptoms; breakdown
 * cells of the measure's domain, plus an unknown country code). */
static void small_raw(struct stats_raw *raw, const struct stats_measure *m, int64_t v)
{
    static const char *const keys[] = {"n",       "s",        "q",      "imp", "wor",
                                       "a",       "b",        "c",      "d",   "c:not_recorded",
                                       "e:major", "a:always", "st:cost"};
    static const char *const by_keys[3][2] = {
        {"c:30-39", "c:90+"}, {"c:female", "c:male"}, {"c:GB", "c:XX"}};
    char key[32];
    for (size_t i = 0; i < NELEM(keys); i++)
        raw_add(raw, keys[i], v);
    if (m->type == STATS_M_BREAKDOWN)
        for (size_t i = 0; i < 2; i++)
            raw_add(raw, by_keys[m->by][i], v);
    for (int i = 0; i < 11; i++) {
        snprintf(key, sizeof(key), "h:%d", i);
        raw_add(raw, key, v);
    }
    for (int k = 0; k < 6; k++) {
        snprintf(key, sizeof(key), "n:%d", k);
        raw_add(raw, key, v);
        snprintf(key, sizeof(key), "s:%d", k);
        raw_add(raw, key, v * 500);
        snprintf(key, sizeof(key), "q:%d", k);
        raw_add(raw, key, v * 100);
    }
    for (size_t i = 0; i < NELEM(symptoms); i++) {
        snprintf(key, sizeof(key), "se:%s", symptoms[i]);
        raw_add(raw, key, v);
    }
}

START_TEST(zero_and_small_are_identical)
{
    for (size_t t = 0; t < NELEM(every_measure); t++) {
        struct stats_measure m = parse1(every_measure[t]);
        struct stats_raw z;
        stats_raw_init(&z);
        small_raw(&z, &m, 0);
        json_t *oz = release(&m, &z);
        char *sz = dump(oz);
        for (int64_t v = 1; v <= 10; v++) {
            struct stats_raw r;
            stats_raw_init(&r);
            small_raw(&r, &m, v);
            json_t *o = release(&m, &r);
            char *s = dump(o);
            if (strcmp(s, sz) != 0)
                fprintf(stderr, "%s with %lld:\n%s\nvs 0:\n%s\n", every_measure[t], (long long)v, s,
                        sz);
            ck_assert_msg(strcmp(s, sz) == 0, "%s differs with %lld", every_measure[t],
                          (long long)v);
            free(s);
            json_decref(o);
            stats_raw_free(&r);
        }
        /* And the absence of a key is a true 0 too: the SQL returns no row for an empty cell. */
        struct stats_raw empty;
        stats_raw_init(&empty);
        for (size_t i = 0; i < NELEM(symptoms); i++) {
            char key[32];
            snprintf(key, sizeof(key), "se:%s", symptoms[i]);
            raw_add(&empty, key, 0);
        }
        json_t *oe = release(&m, &empty);
        char *se = dump(oe);
        ck_assert_str_eq(se, sz);
        free(se);
        json_decref(oe);
        stats_raw_free(&empty);
        free(sz);
        json_decref(oz);
        stats_raw_free(&z);
    }
}
END_TEST

/* ---- every draw: sensitivity and epsilon ---- */

START_TEST(recording_mechanism_sees_every_draw)
{
    static const size_t draws[] = {1, 11, 5, 251, 3 + 11, 3 * 6, 5, 1 + 6 + 5 + 4 + 7, 4};
    for (size_t t = 0; t < NELEM(every_measure); t++) {
        struct stats_measure m = parse1(every_measure[t]);
        m.epsilon = 0.37;
        struct stats_part parts[STATS_MEASURE_MAX_PARTS];
        size_t np = stats_measure_parts(&m, parts);
        struct recorder *rec = calloc(1, sizeof(*rec));
        struct stats_mechanism mech = {record_noise, rec};
        struct stats_raw raw;
        stats_raw_init(&raw);
        small_raw(&raw, &m, 3);
        json_t *o = stats_measure_release(&m, &raw, &mech, NOW);
        ck_assert_ptr_nonnull(o);
        ck_assert_msg(rec->n == draws[t], "%s: %zu draws", every_measure[t], rec->n);
        /* Draws come part by part; each uses the measure's epsilon and share x sensitivity. */
        size_t part = 0;
        for (size_t i = 0; i < rec->n; i++) {
            ck_assert(rec->d[i].epsilon == 0.37);
            while (part < np &&
                   rec->d[i].sensitivity != parts[part].sensitivity * parts[part].share)
                part++;
            ck_assert_msg(part < np, "%s: draw %zu has sensitivity %llu", every_measure[t], i,
                          (unsigned long long)rec->d[i].sensitivity);
        }
        json_decref(o);
        stats_raw_free(&raw);
        free(rec);
    }
}
END_TEST

/* ---- Laplace over a deterministic source: the exact noise, in order ---- */

START_TEST(laplace_with_deterministic_rng)
{
    struct mix s1 = {42}, s2 = {42};
    struct stats_rng r1 = {mix_bytes, &s1}, r2 = {mix_bytes, &s2};
    struct stats_mechanism lap;
    stats_mechanism_laplace_rng(&lap, &r1);

    /* Distribution: n, s, q, then 11 bins, each DLap(4 * sensitivity / epsilon). */
    struct stats_measure m = parse1(
        "[{'type':'symptom_distribution','symptom':'fatigue','window_days':30,'epsilon':0.5}]");
    int m100[200];
    for (int i = 0; i < 200; i++)
        m100[i] = (i * 29 % 101) * 10;
    struct stats_raw raw;
    stats_raw_init(&raw);
    dist_raw(&raw, m100, 200, "");
    int64_t n, s, q, h[11], nonzero = 0;
    ck_assert_int_eq(stats_noisy_count(&r2, stats_raw_get(&raw, "n"), 4, 0.5, &n), 0);
    ck_assert_int_eq(stats_noisy_count(&r2, stats_raw_get(&raw, "s"), 4000, 0.5, &s), 0);
    ck_assert_int_eq(stats_noisy_count(&r2, stats_raw_get(&raw, "q"), 10000, 0.5, &q), 0);
    double hd[11];
    for (int b = 0; b < 11; b++) {
        char key[8];
        snprintf(key, sizeof(key), "h:%d", b);
        ck_assert_int_eq(stats_noisy_count(&r2, stats_raw_get(&raw, key), 4, 0.5, &h[b]), 0);
        hd[b] = (double)h[b];
        nonzero += h[b] != stats_raw_get(&raw, key);
    }
    nonzero += n != 200;
    ck_assert_int_gt(nonzero, 0); /* the noise is really there */
    json_t *o = stats_measure_release(&m, &raw, &lap, NOW);
    ck_assert_ptr_nonnull(o);
    assert_count(json_object_get(o, "n"), n);
    double mean = fmin(10, fmax(0, (double)s / (100.0 * n)));
    double var = ((double)q / 100.0 - n * (mean - 5) * (mean - 5)) / (n - 1);
    assert_num(json_object_get(o, "mean"), mean);
    assert_num(json_object_get(o, "sd"), var > 0 ? sqrt(var) : 0);
    assert_num(json_object_get(o, "median"), stats_hist_quantile(hd, 11, 0.5));
    for (int b = 0; b < 11; b++)
        assert_count(
            json_object_get(json_array_get(json_object_get(o, "histogram"), (size_t)b), "count"),
            h[b]);
    json_decref(o);
    stats_raw_free(&raw);

    /* The 2x2 table: a, b, c, d, each DLap(1 / epsilon); the same stream continues. */
    m = parse1("[{'type':'side_effect_signal','medication':'metformin','side_effect':'rash',"
               "'epsilon':1}]");
    stats_raw_init(&raw);
    raw_add(&raw, "a", 40);
    raw_add(&raw, "b", 160);
    raw_add(&raw, "c", 60);
    raw_add(&raw, "d", 940);
    int64_t cell[4];
    static const int64_t truth[4] = {40, 160, 60, 940};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(stats_noisy_count(&r2, truth[i], 1, 1.0, &cell[i]), 0);
    o = stats_measure_release(&m, &raw, &lap, NOW);
    ck_assert_ptr_nonnull(o);
    json_t *t = json_object_get(o, "table");
    assert_count(json_object_get(t, "a"), cell[0]);
    assert_count(json_object_get(t, "b"), cell[1]);
    assert_count(json_object_get(t, "c"), cell[2]);
    assert_count(json_object_get(t, "d"), cell[3]);
    struct stats_dispro dp;
    ck_assert_int_eq(stats_disproportionality((double)cell[0], (double)cell[1], (double)cell[2],
                                              (double)cell[3], &dp),
                     0);
    assert_num(json_object_get(o, "ror"), dp.ror);
    json_decref(o);

    /* A failing mechanism releases nothing. */
    struct stats_mechanism bad = {failing_noise, NULL};
    ck_assert_ptr_null(stats_measure_release(&m, &raw, &bad, NOW));
    ck_assert_ptr_null(stats_measure_release(&m, &raw, NULL, NOW));
    ck_assert_ptr_null(stats_measure_release(NULL, &raw, &zero, NOW));
    ck_assert_ptr_null(stats_measure_release(&m, NULL, &zero, NOW));
    stats_raw_free(&raw);

    /* The server's mechanism draws real noise through the same interface. */
    const struct stats_mechanism *csprng = stats_mechanism_laplace();
    int64_t out, differs = 0;
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(stats_mechanism_noisy(csprng, 1000, 1, 0.1, &out), 0);
        differs += out != 1000;
    }
    ck_assert_int_gt(differs, 0);
    ck_assert_int_eq(stats_mechanism_noisy(csprng, 0, 0, 0.1, &out), -1);   /* no sensitivity */
    ck_assert_int_eq(stats_mechanism_noisy(csprng, 0, 1, 0.005, &out), -1); /* bad epsilon */
}
END_TEST

START_TEST(mechanism_saturates)
{
    int64_t plus = 5, minus = -5, out = 0;
    struct stats_mechanism up = {fixed_noise, &plus}, down = {fixed_noise, &minus};
    ck_assert_int_eq(stats_mechanism_noisy(&up, INT64_MAX - 2, 1, 0.1, &out), 0);
    ck_assert(out == INT64_MAX);
    ck_assert_int_eq(stats_mechanism_noisy(&down, INT64_MIN + 2, 1, 0.1, &out), 0);
    ck_assert(out == INT64_MIN);
    ck_assert_int_eq(stats_mechanism_noisy(&up, 10, 1, 0.1, &out), 0);
    ck_assert_int_eq(out, 15);
    ck_assert_int_eq(stats_mechanism_noisy(NULL, 10, 1, 0.1, &out), -1);
    ck_assert_int_eq(stats_mechanism_noisy(&up, 10, 1, 0.1, NULL), -1);
}
END_TEST

/* ---- SQL builders ---- */

static struct stats_cohort *cohort_of(const char *text)
{
    json_t *j = load(text);
    struct stats_cohort *c = stats_cohort_parse(j, "cohort", catalog, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    json_decref(j);
    return c;
}

START_TEST(sql_builders)
{
    struct stats_cohort *c = cohort_of("{'sex_at_birth':'female'}");
    const char *focus[] = {"multiple_sclerosis"};
    struct stats_population pop = {.cohort = c,
                                   .categories = 5,
                                   .commercial = false,
                                   .for_profit = true,
                                   .focus = focus,
                                   .nfocus = 1,
                                   .now = NOW};
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_sql(&pop, &sql), 0);
    /* The cheap criteria on the member's facts row first, then consent from the same row. */
    ck_assert_ptr_nonnull(
        strstr(sql.text, "FROM member_facts f WHERE (COALESCE(f.sex_at_birth = $1"));
    /* No costly criterion: no fence, and the parallel-safe consent form. */
    ck_assert_ptr_nonnull(strstr(sql.text, "(f.r_masks IS NOT NULL AND "
                                           "coalesce(consent_facts_fast(f.r_masks, f.r_from, "
                                           "f.r_until, f.r_conds, 'research', $2::int, "
                                           "$3::boolean, $4::boolean, $5::text[], now()), "
                                           "consent_permits(f.member_id, 'research', $2::int, "
                                           "$3::boolean, $4::boolean, $5::text[], now()), "
                                           "false))) x)"));
    ck_assert_ptr_null(strstr(sql.text, "OFFSET"));
    ck_assert_ptr_null(strstr(sql.text, "consent_permits_rows"));
    ck_assert_ptr_nonnull(strstr(sql.text, " SELECT member_id FROM pop"));
    ck_assert_int_eq(sql.nparams, 5);
    ck_assert_str_eq(sql.params[0], "female");
    ck_assert_str_eq(sql.params[1], "5");
    ck_assert_str_eq(sql.params[2], "f");
    ck_assert_str_eq(sql.params[3], "t");
    ck_assert_str_eq(sql.params[4], "{multiple_sclerosis}");
    ck_assert_ptr_null(strstr(sql.text, "female"));
    stats_sql_free(&sql);

    /* A costly criterion goes behind the fence, and consent (serial there anyway) reads the
     * grants by the inlined subquery. */
    struct stats_cohort *cc =
        cohort_of("{'all':[{'sex_at_birth':'female'},{'symptom':{'symptom':'fatigue',"
                  "'min_severity':5,'at_least_entries':3}}]}");
    struct stats_population costly = pop;
    costly.cohort = cc;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_sql(&costly, &sql), 0);
    ck_assert_ptr_nonnull(strstr(sql.text, "consent_facts_fast(f.r_masks, f.r_from, "
                                           "f.r_until, f.r_conds, 'research', $2::int, "
                                           "$3::boolean, $4::boolean, $5::text[], now()), "
                                           "(SELECT coh_p FROM consent_permits_rows(f.member_id, "
                                           "'research', $2::int, $3::boolean, $4::boolean, "
                                           "$5::text[], now()) coh_p), false)) OFFSET 0) x WHERE "
                                           "(((SELECT count(*) FROM symptom_entry coh_s"));
    ck_assert_ptr_null(strstr(sql.text, "consent_permits("));
    stats_sql_free(&sql);
    stats_cohort_free(cc);

    /* Every measure: ids and numbers travel only as parameters. */
    for (size_t t = 0; t < NELEM(every_measure); t++) {
        struct stats_measure m = parse1(every_measure[t]);
        stats_sql_init(&sql);
        ck_assert_int_eq(stats_measure_sql(&m, &pop, &sql), 0);
        ck_assert_ptr_nonnull(strstr(sql.text, "WITH pop AS ("));
        ck_assert_ptr_null(strstr(sql.text, "fatigue"));
        ck_assert_ptr_null(strstr(sql.text, "metformin"));
        ck_assert_ptr_null(strstr(sql.text, "'rash'"));
        ck_assert_ptr_null(strstr(sql.text, "1700000000"));
        bool has_now = false;
        for (int i = 0; i < sql.nparams; i++) {
            /* now itself, or a UTC day of the window (now is day 19675; windows are whole days) */
            long d = sql.params[i] ? strtol(sql.params[i], NULL, 10) : 0;
            has_now = has_now || (sql.params[i] && strcmp(sql.params[i], "1700000000") == 0) ||
                      (d >= 19675 - 3650 && d <= 19675);
        }
        /* Only the sex and country breakdowns and the count do not depend on the time. */
        ck_assert_msg(has_now == (t != 0 && t != 2 && t != 3), "%s", every_measure[t]);
        stats_sql_free(&sql);
    }
    struct stats_measure m =
        parse1("[{'type':'symptom_trend','symptom':'nausea','interval':'week','periods':17}]");
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_measure_sql(&m, &pop, &sql), 0);
    bool has_periods = false, has_symptom = false;
    for (int i = 0; i < sql.nparams; i++) {
        /* Weeks 0..16: the Monday 16 weeks before this week's (day 19674) is day 19562. */
        has_periods = has_periods || strcmp(sql.params[i], "19562") == 0;
        has_symptom = has_symptom || strcmp(sql.params[i], "nausea") == 0;
    }
    ck_assert(has_periods && has_symptom);

    /* Failure leaves the buffer as it was. */
    size_t len0 = sql.len;
    int np0 = sql.nparams;
    const char *bad_focus[] = {"x');drop table account;--"};
    struct stats_population bad = pop;
    bad.focus = bad_focus;
    ck_assert_int_eq(stats_measure_sql(&m, &bad, &sql), -1);
    bad = pop;
    bad.categories = 0;
    ck_assert_int_eq(stats_measure_sql(&m, &bad, &sql), -1);
    bad.categories = 32;
    ck_assert_int_eq(stats_population_sql(&bad, &sql), -1);
    bad = pop;
    bad.cohort = NULL;
    ck_assert_int_eq(stats_measure_sql(&m, &bad, &sql), -1);
    bad = pop;
    bad.nfocus = 33;
    ck_assert_int_eq(stats_population_sql(&bad, &sql), -1);
    struct stats_measure broken = m;
    broken.periods = 0;
    ck_assert_int_eq(stats_measure_sql(&broken, &pop, &sql), -1);
    broken.type = (enum stats_measure_type)42;
    ck_assert_int_eq(stats_measure_sql(&broken, &pop, &sql), -1);
    ck_assert_uint_eq(sql.len, len0);
    ck_assert_int_eq(sql.nparams, np0);
    ck_assert_uint_eq(strlen(sql.text), len0);
    ck_assert_int_eq(stats_measure_sql(NULL, &pop, &sql), -1);
    ck_assert_int_eq(stats_measure_sql(&m, NULL, &sql), -1);
    ck_assert_int_eq(stats_measure_sql(&m, &pop, NULL), -1);
    stats_sql_free(&sql);

    /* A general study: empty focus array. */
    pop.nfocus = 0;
    pop.focus = NULL;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_sql(&pop, &sql), 0);
    ck_assert_str_eq(sql.params[4], "{}");
    stats_sql_free(&sql);

    /* Materialised once: the table is built from the full population query, and every later query
     * reads the table instead, with no parameters of its own. */
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_table_sql(&pop, "cc_pop", true, &sql), 0);
    const char *create = "CREATE TEMP TABLE cc_pop ON COMMIT DROP AS WITH pop AS (";
    ck_assert_int_eq(strncmp(sql.text, create, strlen(create)), 0);
    ck_assert_ptr_nonnull(strstr(sql.text, "consent_facts_fast(f.r_masks"));
    ck_assert_int_eq(sql.nparams, 5);
    stats_sql_free(&sql);
    struct stats_population mat = pop;
    mat.table = "cc_pop";
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_measure_sql(&m, &mat, &sql), 0);
    const char *head =
        "WITH pop AS NOT MATERIALIZED (SELECT member_id, birth_year, sex_at_birth, country FROM "
        "cc_pop)";
    ck_assert_int_eq(strncmp(sql.text, head, strlen(head)), 0);
    ck_assert_ptr_null(strstr(sql.text, "consent_"));
    stats_sql_free(&sql);
    /* Only plain identifiers reach the SQL text. */
    stats_sql_init(&sql);
    mat.table = "cc_pop; drop table account";
    ck_assert_int_eq(stats_measure_sql(&m, &mat, &sql), -1);
    ck_assert_int_eq(stats_population_table_sql(&pop, "Pop", true, &sql), -1);
    ck_assert_int_eq(stats_population_table_sql(&pop, "", true, &sql), -1);
    ck_assert_int_eq(stats_population_table_sql(&pop, "1pop", false, &sql), -1);
    ck_assert_int_eq(stats_population_table_sql(&pop, "a.b.c", false, &sql), -1);
    ck_assert_int_eq(stats_population_table_sql(&pop, "a.", false, &sql), -1);
    ck_assert_int_eq(stats_population_table_sql(&pop, "a.\"b\"", false, &sql), -1);
    ck_assert_uint_eq(sql.len, 0);
    stats_sql_free(&sql);
    /* The shared form, which parallel workers can read: schema-qualified, no ON COMMIT. */
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_table_sql(&pop, "research_work.pop_4242", false, &sql), 0);
    create = "CREATE UNLOGGED TABLE research_work.pop_4242 AS WITH pop AS (";
    ck_assert_int_eq(strncmp(sql.text, create, strlen(create)), 0);
    const char *four = " SELECT member_id, birth_year, sex_at_birth, country FROM pop";
    ck_assert_str_eq(sql.text + sql.len - strlen(four), four);
    stats_sql_free(&sql);
    /* Member ids alone when no measure reads demographics: the table, the measures over it, and a
     * breakdown refused over it. */
    ck_assert(!stats_measures_read_demographics(&m, 1));
    struct stats_measure two[2] = {m, m};
    two[1].type = STATS_M_BREAKDOWN;
    two[1].by = STATS_BY_COUNTRY;
    ck_assert(stats_measures_read_demographics(two, 2));
    ck_assert(!stats_measures_read_demographics(NULL, 2));
    struct stats_population narrow = pop;
    narrow.members_only = true;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_table_sql(&narrow, "research_work.pop_4242", false, &sql), 0);
    const char *one = ") SELECT member_id FROM pop";
    ck_assert_str_eq(sql.text + sql.len - strlen(one), one);
    stats_sql_free(&sql);
    narrow.table = "cc_pop";
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_measure_sql(&m, &narrow, &sql), 0);
    head = "WITH pop AS NOT MATERIALIZED (SELECT member_id FROM cc_pop)";
    ck_assert_int_eq(strncmp(sql.text, head, strlen(head)), 0);
    ck_assert_int_eq(stats_measure_sql(&two[1], &narrow, &sql), -1);
    narrow.members_only = false;
    ck_assert_int_eq(stats_measure_sql(&two[1], &narrow, &sql), 0);
    stats_sql_free(&sql);
    stats_cohort_free(c);
}
END_TEST

/* ---- raw store ---- */

START_TEST(raw_store)
{
    struct stats_raw r;
    char key[STATS_RAW_KEY_MAX + 2];
    stats_raw_init(&r);
    ck_assert_int_eq(stats_raw_get(&r, "n"), 0);
    raw_add(&r, "n", 5);
    raw_add(&r, "n", 7);
    ck_assert_int_eq(stats_raw_get(&r, "n"), 12);
    raw_add(&r, "big", INT64_MAX - 1);
    raw_add(&r, "big", 10);
    ck_assert(stats_raw_get(&r, "big") == INT64_MAX);
    ck_assert_int_eq(stats_raw_add(&r, "", 1), -1);
    ck_assert_int_eq(stats_raw_add(&r, NULL, 1), -1);
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    ck_assert_int_eq(stats_raw_add(&r, key, 1), -1);
    key[STATS_RAW_KEY_MAX] = '\0';
    ck_assert_int_eq(stats_raw_add(&r, key, 1), 0);
    stats_raw_free(&r);
    ck_assert_uint_eq(r.n, 0);
    for (int i = 0; i < STATS_RAW_MAX; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(stats_raw_add(&r, key, i), 0);
    }
    ck_assert_int_eq(stats_raw_add(&r, "one_more", 1), -1);
    ck_assert_int_eq(stats_raw_add(&r, "k7", 1), 0); /* an existing key still adds */
    ck_assert_int_eq(stats_raw_get(&r, "k7"), 8);
    stats_raw_free(&r);
    stats_raw_free(NULL);
}
END_TEST

static Suite *measure_suite(void)
{
    Suite *s = suite_create("measure");
    TCase *tc = tcase_create("measure");
    tcase_add_test(tc, parse_every_type);
    tcase_add_test(tc, parse_error_paths);
    tcase_add_test(tc, canonical_form);
    tcase_add_test(tc, epsilon_parts_sum_to_measure);
    tcase_add_test(tc, release_count_rounding_and_suppression);
    tcase_add_test(tc, release_breakdowns);
    tcase_add_test(tc, release_symptom_distribution);
    tcase_add_test(tc, release_symptom_trend);
    tcase_add_test(tc, release_treatment_effect);
    tcase_add_test(tc, release_medication_outcomes);
    tcase_add_test(tc, release_side_effect_signal);
    tcase_add_test(tc, zero_and_small_are_identical);
    tcase_add_test(tc, recording_mechanism_sees_every_draw);
    tcase_add_test(tc, laplace_with_deterministic_rng);
    tcase_add_test(tc, mechanism_saturates);
    tcase_add_test(tc, sql_builders);
    tcase_add_test(tc, raw_store);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gsl_set_error_handler_off();
    SRunner *sr = srunner_create(measure_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
