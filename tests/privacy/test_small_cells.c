/* test_small_cells.c - small cells never show, over the API and in the release function.
 *
 * Cohorts of 0, 1, 5 and 10 members (postal areas Z00, Z01, Z05, Z10). Every member has a
 * profile, a research permit for every category, daily fatigue entries over the last 50 days,
 * metformin started 30 days ago and stopped yesterday (side effects), and an evaluation of it
 * naming nausea, so every measure's true counts are the cohort size (or 0).
 *
 * Over the API, every measure type is asked of every cohort at epsilon 1, 0.5 and 0.1, and the
 * whole response is walked:
 *   - every count (count, n, n_evaluated, improved, worsened, the 2x2 table, every cell and bin)
 *     is {"suppressed": true} or a multiple of 5 of at least 15 (13 rounded to 5); a breakdown's
 *     total is the sum of its released cells;
 *   - every statistic is a number or {"suppressed": true}, every interval a pair or suppressed;
 *   - no key anywhere starts with min or max (min, max, minimum, maximum, ...);
 *   - the response of a true 0 and of a true 1, 5 and 10 have the same shape: the same keys,
 *     array lengths and strings, with a released number and {"suppressed": true} as one slot.
 * What cannot be seen from outside is the noisy n behind a statistic, so the rule "no statistic
 * with n < 11" is checked on the release function itself: the true aggregates of each cohort
 * (its measure SQL run on the database) are released with a mechanism adding the same constant
 * c to every cell, for c from -12 to 15, so every noisy n is known exactly; every statistic whose
 * noisy n is below 11 must be suppressed, and (so the check can fail) a distribution's mean must
 * be shown once its noisy n reaches 11. */
#include "harness.h"

#include "disclosure.h"
#include "measure.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SIG_MAX (256 * 1024)

static const int sizes[] = {0, 1, 5, 10};
static const char *const areas[] = {"Z00", "Z01", "Z05", "Z10"};
static const double epsilons[] = {1.0, 0.5, 0.1};

/* Every measure type (both trend intervals): 10 measures, the most one query may hold. */
static const char *const measures[] = {
    "{'type':'count'}",
    "{'type':'breakdown','by':'age_band'}",
    "{'type':'breakdown','by':'sex_at_birth'}",
    "{'type':'breakdown','by':'country'}",
    "{'type':'symptom_distribution','symptom':'fatigue','window_days':30}",
    "{'type':'symptom_trend','symptom':'fatigue','interval':'week','periods':4}",
    "{'type':'symptom_trend','symptom':'fatigue','interval':'month','periods':3}",
    "{'type':'treatment_effect','medication':'metformin','symptom':'fatigue',"
    "'before_days':20,'after_days':20}",
    "{'type':'medication_outcomes','medication':'metformin'}",
    "{'type':'side_effect_signal','medication':'metformin','side_effect':'nausea'}",
};

/* ---- helpers ---- */

static json_t *load(const char *text)
{
    char buf[8192];
    size_t n = strlen(text);
    json_error_t e;
    ck_assert_uint_lt(n, sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_t *j = json_loads(buf, 0, &e);
    ck_assert_msg(j != NULL, "test JSON does not parse (%s): %s", e.text, buf);
    return j;
}

static void exec_sql(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* n members in `area` with the data described at the top. */
static void make_members(PGconn *c, const char *area, int n)
{
    char sn[16], tag[64];
    snprintf(sn, sizeof(sn), "%d", n);
    snprintf(tag, sizeof(tag), "%s.%d", area, (int)getpid());
    const char *p[] = {tag, sn, area};
    exec_sql(c,
             "WITH a AS (INSERT INTO account (email, display_name, role, password_hash) "
             "SELECT 'm' || g || '.' || $1 || '@example.org', 'M', 'member', 'x' "
             "FROM generate_series(1, $2::int) g RETURNING id), "
             "p AS (INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, "
             "postal_prefix) SELECT id, 1975, 'female', 'GB', $3 FROM a) "
             "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
             "valid_from, status, policy_version) SELECT id, gen_random_uuid(), 1, 'permit', "
             "'research', 31, date_trunc('second', now()) - interval '1 day', 'active', 1 FROM a",
             3, p);
    const char *q[] = {area};
    exec_sql(c,
             "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
             "SELECT p.member_id, 'fatigue', 3 + (d % 6), now() - make_interval(days => d) "
             "FROM member_profile p, generate_series(1, 50) d WHERE p.postal_prefix = $1",
             1, q);
    exec_sql(c,
             "INSERT INTO medication (member_id, medication_id, freq_kind, started_on, "
             "stopped_on, stop_reason) SELECT member_id, 'metformin', 'as_needed', "
             "(now() AT TIME ZONE 'UTC')::date - 30, (now() AT TIME ZONE 'UTC')::date - 1, "
             "'side_effects' FROM member_profile WHERE postal_prefix = $1",
             1, q);
    exec_sql(c,
             "INSERT INTO medication_evaluation (member_id, medication_ref, evaluated_on, "
             "effectiveness, adherence) SELECT m.member_id, m.id, "
             "(now() AT TIME ZONE 'UTC')::date - 2, 'moderate', 'usually' FROM medication m "
             "JOIN member_profile p ON p.member_id = m.member_id WHERE p.postal_prefix = $1",
             1, q);
    exec_sql(c,
             "INSERT INTO evaluation_side_effect (member_id, evaluation_ref, ordinal, symptom_id, "
             "severity) SELECT v.member_id, v.id, 0, 'nausea', 'mild' FROM medication_evaluation v "
             "JOIN member_profile p ON p.member_id = v.member_id WHERE p.postal_prefix = $1",
             1, q);
}

static void make_populations(void)
{
    PGconn *c = th_db();
    for (size_t i = 0; i < NELEM(sizes); i++)
        if (sizes[i] > 0)
            make_members(c, areas[i], sizes[i]);
    PQfinish(c);
}

static char admin_token[64];

static const char *admin(void)
{
    if (!admin_token[0])
        th_account("admin", admin_token, NULL);
    return admin_token;
}

static void approved_study(const char *token, char id[37])
{
    struct th_resp r;
    char path[256];
    th_reqj("POST", "/v1/research/studies", token,
            load("{'title':'Small cells','description':'Everything about few people',"
                 "'purpose':'general_research','commercial':false,"
                 "'organisation_for_profit':false,'categories':['demographics','conditions',"
                 "'symptoms','medications','goals']}"),
            &r);
    th_assert_status(&r, 201);
    snprintf(id, 37, "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/approve", id);
    th_req("POST", path, admin(), "{\"epsilon_budget\":20,\"expires_on\":\"2099-12-31\"}", NULL,
           &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}

static bool is_suppressed(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_true(json_object_get(v, "suppressed"));
}

/* ---- the walk ---- */

static const char *const count_keys[] = {"count", "n", "n_evaluated", "improved", "worsened",
                                         "a",     "b", "c",           "d"};
static const char *const stat_keys[] = {
    "mean",        "sd",        "q1",          "median",      "q3",
    "rate",        "prr",       "ror",         "chi2",        "chi2_p",
    "mean_change", "sd_change", "effect_size", "sign_test_p", "slope_per_period"};

static bool in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return true;
    return false;
}

static bool is_interval_key(const char *key)
{
    size_t n = strlen(key);
    return n >= 4 && strcmp(key + n - 4, "ci95") == 0;
}

struct walk {
    long counts, stats, intervals; /* values checked */
    char *sig;                     /* the shape, appended to */
    size_t len, cap;
};

static void sig_add(struct walk *w, const char *s)
{
    size_t n = strlen(s);
    ck_assert_uint_lt(w->len + n, w->cap);
    memcpy(w->sig + w->len, s, n + 1);
    w->len += n;
}

static void assert_count(struct walk *w, const json_t *v, const char *path)
{
    w->counts++;
    if (is_suppressed(v))
        return;
    ck_assert_msg(json_is_integer(v), "%s: not a released count", path);
    json_int_t n = json_integer_value(v);
    ck_assert_msg(n >= 15 && n % 5 == 0, "%s: released count %lld", path, (long long)n);
}

static void walk(struct walk *w, const json_t *v, const char *key, const char *path, bool loose);

static void walk_object(struct walk *w, const json_t *o, const char *path, bool loose)
{
    const char *k;
    json_t *v;
    char sub[512], low[64];

    sig_add(w, "{");
    /* jansson keeps insertion order; the release builds every object in a fixed order. */
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i;
        for (i = 0; k[i] && i < sizeof(low) - 1; i++)
            low[i] = (char)tolower((unsigned char)k[i]);
        low[i] = '\0';
        ck_assert_msg(strncmp(low, "min", 3) != 0 && strncmp(low, "max", 3) != 0,
                      "%s.%s: a minimum or maximum", path, k);
        snprintf(sub, sizeof(sub), "%s.%s", path, k);
        sig_add(w, k);
        sig_add(w, ":");
        walk(w, v, k, sub, loose);
        sig_add(w, ",");
    }
    /* A breakdown's total is the sum of its released cells. */
    json_t *cells = json_object_get(o, "cells"), *total = json_object_get(o, "total"), *c;
    if (cells && total) {
        json_int_t sum = 0;
        size_t i;
        json_array_foreach(cells, i, c)
        {
            json_t *n = json_object_get(c, "count");
            sum += json_is_integer(n) ? json_integer_value(n) : 0;
        }
        ck_assert_msg(json_is_integer(total) && json_integer_value(total) == sum,
                      "%s.total is not the sum of the released cells", path);
    }
    sig_add(w, "}");
}

/* loose: inside the side-effect list, whose entries name whichever symptoms were released. */
static void walk(struct walk *w, const json_t *v, const char *key, const char *path, bool loose)
{
    size_t i;
    json_t *e;
    char sub[512];

    if (key && in_list(key, count_keys, NELEM(count_keys))) {
        assert_count(w, v, path);
        sig_add(w, "#");
        return;
    }
    if (key && in_list(key, stat_keys, NELEM(stat_keys))) {
        w->stats++;
        ck_assert_msg(is_suppressed(v) || (json_is_number(v) && isfinite(json_number_value(v))),
                      "%s: not a statistic", path);
        sig_add(w, "#");
        return;
    }
    if (key && is_interval_key(key)) {
        w->intervals++;
        ck_assert_msg(is_suppressed(v) || (json_is_array(v) && json_array_size(v) == 2 &&
                                           json_is_number(json_array_get(v, 0)) &&
                                           json_is_number(json_array_get(v, 1)) &&
                                           json_number_value(json_array_get(v, 0)) <=
                                               json_number_value(json_array_get(v, 1))),
                      "%s: not an interval", path);
        sig_add(w, "#");
        return;
    }
    ck_assert_msg(!is_suppressed(v), "%s: suppressed where no suppression belongs", path);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        walk_object(w, v, path, loose);
        break;
    case JSON_ARRAY:
        if (key && strcmp(key, "side_effects") == 0) {
            /* Only released entries are listed, at most 10: their shape counts, not their
             * number (which depends on noisy values only). */
            ck_assert_uint_le(json_array_size(v), 10);
            sig_add(w, "[*");
            json_array_foreach(v, i, e)
            {
                struct walk entry = {.sig = malloc(4096), .cap = 4096};
                ck_assert_ptr_nonnull(entry.sig);
                entry.sig[0] = '\0';
                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                walk(&entry, e, NULL, sub, true);
                if (i == 0)
                    sig_add(w, entry.sig);
                w->counts += entry.counts;
                w->stats += entry.stats;
                w->intervals += entry.intervals;
                free(entry.sig);
            }
            sig_add(w, "]");
            break;
        }
        sig_add(w, "[");
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            walk(w, e, NULL, sub, loose);
            sig_add(w, ",");
        }
        sig_add(w, "]");
        break;
    case JSON_STRING:
        /* Strings are names from public domains, except the symptoms listed by noise and the
         * period labels, which follow the clock. */
        if (loose || (key && strcmp(key, "start") == 0)) {
            sig_add(w, "s");
        } else {
            sig_add(w, "'");
            sig_add(w, json_string_value(v));
            sig_add(w, "'");
        }
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        /* Parameters echoed back (epsilon, window_days, ...), bin and period numbers. */
        sig_add(w, "#");
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        sig_add(w, json_is_true(v) ? "true" : "false");
        break;
    case JSON_NULL:
        sig_add(w, "null");
        break;
    }
}

/* ---- tests ---- */

START_TEST(small_cohorts_over_the_api)
{
    char rt[64], study[NELEM(sizes)][37], text[4096], path[256];
    char *sig[NELEM(epsilons)][NELEM(sizes)];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    for (size_t s = 0; s < NELEM(sizes); s++)
        approved_study(rt, study[s]);

    for (size_t e = 0; e < NELEM(epsilons); e++) {
        for (size_t s = 0; s < NELEM(sizes); s++) {
            size_t used = (size_t)snprintf(
                text, sizeof(text), "{'cohort':{'postal_prefix':'%s'},'measures':[", areas[s]);
            for (size_t m = 0; m < NELEM(measures); m++)
                used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%.*s,'epsilon':%.1f}",
                                         m ? "," : "", (int)strlen(measures[m]) - 1, measures[m],
                                         epsilons[e]);
            snprintf(text + used, sizeof(text) - used, "]}");
            snprintf(path, sizeof(path), "/v1/research/studies/%s/queries", study[s]);
            th_reqj("POST", path, rt, load(text), &r);
            th_assert_status(&r, 200);
            ck_assert_uint_eq(json_array_size(json_object_get(r.json, "results")), NELEM(measures));
            /* Per-query fields aside, the whole body is walked. */
            json_t *body = json_deep_copy(r.json);
            json_object_del(body, "study_id");
            json_object_del(body, "query_hash");
            json_object_del(body, "computed_at");
            struct walk w = {.sig = malloc(SIG_MAX), .cap = SIG_MAX};
            ck_assert_ptr_nonnull(w.sig);
            w.sig[0] = '\0';
            walk(&w, body, NULL, "", false);
            /* 11 + 5 + 251 breakdown cells, 11 bins, 7 trend points, ... */
            ck_assert_msg(w.counts >= 320 && w.stats >= 20 && w.intervals >= 10,
                          "only %ld counts, %ld statistics, %ld intervals walked", w.counts,
                          w.stats, w.intervals);
            sig[e][s] = w.sig;
            printf("epsilon %.1f, %2d members: %ld counts, %ld statistics, %ld intervals\n",
                   epsilons[e], sizes[s], w.counts, w.stats, w.intervals);
            json_decref(body);
            th_resp_free(&r);
        }
        for (size_t s = 1; s < NELEM(sizes); s++)
            ck_assert_msg(strcmp(sig[e][0], sig[e][s]) == 0,
                          "epsilon %.1f: 0 and %d members answer in different shapes:\n%s\n%s",
                          epsilons[e], sizes[s], sig[e][0], sig[e][s]);
    }
    for (size_t e = 0; e < NELEM(epsilons); e++)
        for (size_t s = 0; s < NELEM(sizes); s++)
            free(sig[e][s]);
}
END_TEST

/* ---- the release function with known noise ---- */

static int64_t constant_c;

static int constant_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    (void)ctx;
    (void)sensitivity;
    (void)epsilon;
    *out = constant_c;
    return 0;
}

static int any_id(void *ctx, const char *kind, const char *id)
{
    (void)ctx;
    (void)kind;
    (void)id;
    return 1;
}

/* The true aggregates of measure m over area's cohort, from the measure's own SQL. */
static void true_aggregates(PGconn *c, const struct stats_measure *m, const char *area,
                            struct stats_raw *raw)
{
    char text[64];
    struct stats_sql sql;
    struct stats_errors errs = {.n = 0};
    snprintf(text, sizeof(text), "{'postal_prefix':'%s'}", area);
    json_t *j = load(text);
    struct stats_cohort *cohort = stats_cohort_parse(j, "cohort", any_id, NULL, &errs);
    ck_assert_ptr_nonnull(cohort);
    struct stats_population pop = {.cohort = cohort, .categories = 31, .now = (int64_t)time(NULL)};
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_measure_sql(m, &pop, &sql), 0);
    PGresult *r = PQexecParams(c, sql.text, sql.nparams, NULL, (const char *const *)sql.params,
                               NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    stats_raw_init(raw);
    for (int i = 0; i < PQntuples(r); i++)
        ck_assert_int_eq(stats_raw_add(raw, PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1))), 0);
    PQclear(r);
    stats_sql_free(&sql);
    stats_cohort_free(cohort);
    json_decref(j);
}

static void assert_all_suppressed(const json_t *o, const char *const *keys, size_t n,
                                  const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(is_suppressed(json_object_get(o, keys[i])), "%s: %s shown with n < 11", what,
                      keys[i]);
}

START_TEST(no_statistic_below_eleven)
{
    static const char *const dist[] = {"mean", "mean_ci95", "sd", "q1", "median", "q3"};
    static const char *const treat[] = {"mean_change", "mean_change_ci95", "sd_change",
                                        "effect_size", "sign_test_p"};
    static const char *const signal[] = {"prr", "prr_ci95", "ror", "ror_ci95", "chi2", "chi2_p"};
    static const char *const point[] = {"mean", "ci95"};
    static const char *const slope[] = {"slope_per_period", "slope_ci95"};
    static const char *const se[] = {"rate", "ci95"};
    struct stats_mechanism mech = {constant_noise, NULL};
    struct stats_measure ms[STATS_MEASURES_MAX];
    struct stats_errors errs = {.n = 0};
    size_t nm = 0;
    long checked = 0, shown = 0;
    char text[4096], what[96];
    size_t used = (size_t)snprintf(text, sizeof(text), "[");
    for (size_t m = 0; m < NELEM(measures); m++)
        used +=
            (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", m ? "," : "", measures[m]);
    snprintf(text + used, sizeof(text) - used, "]");
    json_t *jm = load(text);
    ck_assert_int_eq(stats_measures_parse(jm, "measures", any_id, NULL, ms, &nm, &errs), 0);
    ck_assert_uint_eq(nm, NELEM(measures));
    PGconn *c = th_db();

    for (size_t s = 0; s < NELEM(sizes); s++) {
        for (size_t m = 0; m < nm; m++) {
            struct stats_raw raw;
            true_aggregates(c, &ms[m], areas[s], &raw);
            /* The cohorts are what they claim: every member counts once. */
            switch (ms[m].type) {
            case STATS_M_COUNT:
            case STATS_M_SYMPTOM_DISTRIBUTION:
            case STATS_M_TREATMENT_EFFECT:
            case STATS_M_MEDICATION_OUTCOMES:
                ck_assert_int_eq(stats_raw_get(&raw, "n"), sizes[s]);
                break;
            case STATS_M_SIDE_EFFECT_SIGNAL:
                ck_assert_int_eq(stats_raw_get(&raw, "a"), sizes[s]);
                break;
            default:
                break;
            }
            for (constant_c = -12; constant_c <= 15; constant_c++) {
                json_t *o = stats_measure_release(&ms[m], &raw, &mech, (int64_t)time(NULL));
                int64_t n = stats_raw_get(&raw, "n") + constant_c;
                struct walk w = {.sig = malloc(SIG_MAX), .cap = SIG_MAX};
                ck_assert_ptr_nonnull(o);
                ck_assert_ptr_nonnull(w.sig);
                w.sig[0] = '\0';
                walk(&w, o, NULL, "", false);
                free(w.sig);
                snprintf(what, sizeof(what), "%s, %d members, noisy n %lld",
                         stats_measure_type_name(ms[m].type), sizes[s], (long long)n);
                switch (ms[m].type) {
                case STATS_M_SYMPTOM_DISTRIBUTION:
                    if (n < STATS_MIN_CELL) {
                        assert_all_suppressed(o, dist, NELEM(dist), what);
                        checked++;
                    } else {
                        ck_assert_msg(json_is_number(json_object_get(o, "mean")),
                                      "%s: mean suppressed", what);
                        shown++;
                    }
                    break;
                case STATS_M_TREATMENT_EFFECT:
                    if (n < STATS_MIN_CELL) {
                        assert_all_suppressed(o, treat, NELEM(treat), what);
                        checked++;
                    }
                    break;
                case STATS_M_MEDICATION_OUTCOMES: {
                    json_t *e;
                    size_t i;
                    json_array_foreach(json_object_get(o, "side_effects"), i, e)
                    {
                        if (n < STATS_MIN_CELL) {
                            assert_all_suppressed(e, se, NELEM(se), what);
                            checked++;
                        }
                    }
                    break;
                }
                case STATS_M_SIDE_EFFECT_SIGNAL: {
                    int64_t lo = INT64_MAX;
                    static const char *const cells[] = {"a", "b", "c", "d"};
                    for (size_t i = 0; i < 4; i++) {
                        int64_t v = stats_raw_get(&raw, cells[i]) + constant_c;
                        lo = v < lo ? v : lo;
                    }
                    if (lo < STATS_MIN_CELL) {
                        assert_all_suppressed(o, signal, NELEM(signal), what);
                        checked++;
                    }
                    break;
                }
                case STATS_M_SYMPTOM_TREND: {
                    json_t *series = json_object_get(o, "series"), *e;
                    size_t i, P = json_array_size(series), weighted = 0;
                    json_array_foreach(series, i, e)
                    {
                        char key[16];
                        snprintf(key, sizeof(key), "n:%zu", P - 1 - i);
                        if (stats_raw_get(&raw, key) + constant_c < STATS_MIN_CELL) {
                            assert_all_suppressed(e, point, NELEM(point), what);
                            checked++;
                        } else {
                            weighted++;
                        }
                    }
                    if (weighted < 3) {
                        assert_all_suppressed(o, slope, NELEM(slope), what);
                        checked++;
                    }
                    break;
                }
                default:
                    break;
                }
                json_decref(o);
            }
            stats_raw_free(&raw);
        }
    }
    PQfinish(c);
    json_decref(jm);
    printf("release function: %ld places checked suppressed with noisy n < 11, %ld means shown "
           "at n >= 11\n",
           checked, shown);
    ck_assert_int_gt(checked, 500);
    ck_assert_int_gt(shown, 20);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("small_cells");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 300);
    /* The cohorts are made once, in the runner, before the tests fork. */
    tcase_add_unchecked_fixture(tc, make_populations, NULL);
    tcase_add_test(tc, small_cohorts_over_the_api);
    tcase_add_test(tc, no_statistic_below_eleven);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
