/* test_attacks.c - attacks on the research API that try to learn one member's secret, run the way
 * an adversary would run them, over HTTP against the real server and database.
 *
 * Population "D01": 60 members with multiple sclerosis and 20 without, all women born in 1980 in
 * GB, plus the target T, the only man born in 1950. Whether T has multiple sclerosis is the secret.
 * Population "P01": 40 members without it (the tracker's padding). Every member has an open
 * research permit for every category.
 *
 * - Repeats: an identical query returns byte-identical results and costs nothing, also after the
 *   budget is spent. Rewrites: spellings the canonical form unifies (reordered criteria, nested
 *   all, double not, duplicates, case) get the cached answer; rewrites it cannot see through
 *   (tautologies, De Morgan) are charged in full. The budget stops the attacker with 403.
 * - Differencing: count(D01 with MS) - count(D01 with MS, not T's age and sex).
 *   Tracker: count(T's age and sex with MS, or P01) - count(P01).
 *   Averaging: the differencing pair at a small epsilon, every query sent twice, a new rewrite
 *   for every pair until the budget refuses.
 *   Each attack runs TRIALS times on a fresh study with budget 1 (epsilon); T's condition is
 *   toggled in SQL so that half the trials are in each world, in a shuffled order. The attacker
 *   guesses "has MS" when its mean difference exceeds 1/2. Any attacker's accuracy is at most
 *   e^1 / (1 + e^1) = 0.731 here (each count moves by at most 1 with T's condition, and the
 *   study spends epsilon 1); each attack must stay below that, and the three together must stay
 *   below chance + MARGIN. In simulation these attacks reach 0.525 to 0.537 on this population
 *   (up to 0.58 for other true counts: it depends on where they fall between multiples of 5);
 *   MARGIN = 0.15 is that edge plus more than 4 standard deviations of the pooled estimate
 *   (3 x TRIALS trials).
 *   The control runs the same estimators on the same mechanism as if repeats drew fresh noise for
 *   free: they then find T's secret almost always, so the accuracy measure can fail.
 * - Reconstruction (Dinur-Nissim): population "R01" of 200 members, each with its own country
 *   (the first 200 ISO codes), 100 of them with MS. The attacker asks, until the budget refuses,
 *   for the number with MS among random halves of the members (any subset is expressible as a
 *   country list), then solves the least-squares problem with gsl_multifit_linear and rounds.
 *   Over the API at the default budget (4, epsilon 0.01 per query, 400 queries) in RECON_STUDIES
 *   studies; with the release function itself (stats_mechanism_laplace + stats_release_count_value
 *   on exact subset sums) at the largest budget an admin can grant (20, epsilon 0.05 per query,
 *   400 queries) in RECON_SIMULATED attempts. The mean accuracy must not beat the majority guess
 *   (exactly 0.5) by 10 points. Without noise the same attack recovers every bit. */
#include "harness.h"

#include "disclosure.h"
#include "mechanism.h"
#include "measure.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define TRIALS 160 /* per attack; half in each world */
#define MARGIN 0.15
#define STUDY_BUDGET 1.0
#define SUPPRESSED_GUESS 6.0 /* what the attacker assumes a suppressed count was (0..12) */
#define CONTROL_REPEATS 1000

#define RECON_N 200
#define RECON_ONES 100
#define RECON_STUDIES 4
#define RECON_API_EPSILON 0.01
#define RECON_API_QUERIES 400 /* default budget 4 / 0.01 */
#define RECON_SIMULATED 40
#define RECON_SIM_EPSILON 0.05
#define RECON_SIM_QUERIES 400 /* largest budget 20 / 0.05 */
#define RECON_MARGIN 0.10

/* ---- helpers ---- */

/* Deterministic pseudo-random numbers (splitmix64) for the attacker's choices and world order. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void shuffle(int *v, int n, uint64_t *seed)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(mix(seed) % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static json_t *load(const char *text)
{
    static char buf[65536];
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

/* n members in postal area `area`, born `year`, of sex `sex`, living in GB or (by_country) member
 * i in the i-th public country code, with an open research permit for every category; ids into
 * ids[] (in order) when not NULL. */
static void make_members(PGconn *c, const char *area, int n, int year, const char *sex,
                         bool by_country, char ids[][37])
{
    static int calls;
    char sn[16], sy[16], tag[64];
    size_t ncodes;
    const char *const *codes = stats_country_codes(&ncodes);
    char *list = malloc(ncodes * 3 + 3);
    size_t used = 0;

    ck_assert_ptr_nonnull(list);
    ck_assert_uint_ge(ncodes, (size_t)n);
    list[used++] = '{';
    for (int i = 0; i < n; i++)
        used += (size_t)sprintf(list + used, "%s%s", i ? "," : "", by_country ? codes[i] : "GB");
    list[used++] = '}';
    list[used] = '\0';
    snprintf(sn, sizeof(sn), "%d", n);
    snprintf(sy, sizeof(sy), "%d", year);
    snprintf(tag, sizeof(tag), "%s.%d.%d", area, (int)getpid(), ++calls);
    const char *p[] = {tag, sn, area, sy, sex, list};
    PGresult *r = PQexecParams(
        c,
        "WITH g AS (SELECT g, ($6::text[])[g] AS country FROM generate_series(1, $2::int) g), "
        "a AS (INSERT INTO account (email, display_name, role, password_hash) "
        "SELECT 'm' || g || '.' || $1 || '@example.org', 'M' || g, 'member', 'x' FROM g "
        "ORDER BY g RETURNING id, display_name), "
        "p AS (INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, "
        "postal_prefix) SELECT a.id, $4::int, $5, g.country, $3 FROM a JOIN g "
        "ON a.display_name = 'M' || g.g), "
        "c AS (INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, policy_version) SELECT id, gen_random_uuid(), 1, 'permit', "
        "'research', 31, date_trunc('second', now()) - interval '1 day', 'active', 1 FROM a) "
        "SELECT id FROM a ORDER BY substr(display_name, 2)::int",
        6, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "members: %s", PQerrorMessage(c));
    ck_assert_int_eq(PQntuples(r), n);
    for (int i = 0; ids && i < n; i++)
        snprintf(ids[i], 37, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    free(list);
}

/* Give (or take away) member id's multiple sclerosis. */
static void set_ms(PGconn *c, const char *id, bool has)
{
    const char *p[] = {id};
    exec_sql(c,
             "DELETE FROM member_condition WHERE member_id = $1 AND "
             "condition_id = 'multiple_sclerosis'",
             1, p);
    if (has)
        exec_sql(c,
                 "INSERT INTO member_condition (member_id, condition_id, diagnosed_date, status) "
                 "VALUES ($1, 'multiple_sclerosis', '2015-03-01', 'active')",
                 1, p);
}

static char admin_token[64];

static const char *admin(void)
{
    if (!admin_token[0])
        th_account("admin", admin_token, NULL);
    return admin_token;
}

/* Create and approve a general-research study over demographics and conditions; budget NULL
 * takes the default (4). */
static void approved_study(const char *token, const char *budget, char id[37])
{
    struct th_resp r;
    char path[128], body[128];
    th_reqj("POST", "/v1/research/studies", token,
            load("{'title':'Condition prevalence','description':'How common is MS by area',"
                 "'purpose':'general_research','commercial':false,"
                 "'organisation_for_profit':false,'categories':['demographics','conditions']}"),
            &r);
    th_assert_status(&r, 201);
    snprintf(id, 37, "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/approve", id);
    if (budget)
        snprintf(body, sizeof(body), "{\"epsilon_budget\":%s,\"expires_on\":\"2099-12-31\"}",
                 budget);
    else
        snprintf(body, sizeof(body), "{\"expires_on\":\"2099-12-31\"}");
    th_req("POST", path, admin(), body, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}

/* One count query (cohort text with ' for "). Returns the HTTP status; r holds the response. */
static long count_query(const char *token, const char *study, const char *cohort, double eps,
                        struct th_resp *r)
{
    char path[128];
    size_t n = strlen(cohort) + 128;
    char *text = malloc(n);
    ck_assert_ptr_nonnull(text);
    snprintf(text, n, "{'cohort':%s,'measures':[{'type':'count','epsilon':%.3f}]}", cohort, eps);
    snprintf(path, sizeof(path), "/v1/research/studies/%s/queries", study);
    long st = th_reqj("POST", path, token, load(text), r);
    free(text);
    return st;
}

/* The released count of a 200 answer: the number, or SUPPRESSED_GUESS when suppressed. */
static double released(const struct th_resp *r)
{
    json_t *c = json_object_get(json_array_get(json_object_get(r->json, "results"), 0), "count");
    if (json_is_integer(c)) {
        json_int_t v = json_integer_value(c);
        ck_assert_msg(v >= 15 && v % 5 == 0, "released count %lld", (long long)v);
        return (double)v;
    }
    ck_assert_msg(json_is_true(json_object_get(c, "suppressed")) && json_object_size(c) == 1,
                  "not a released count: %s", r->body);
    return SUPPRESSED_GUESS;
}

/* The released part of an answer as text: results and computed_at. New string. */
static char *answer_text(const struct th_resp *r)
{
    json_t *o = json_pack("{s:O, s:O}", "results", json_object_get(r->json, "results"),
                          "computed_at", json_object_get(r->json, "computed_at"));
    ck_assert_ptr_nonnull(o);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void assert_refused(const struct th_resp *r)
{
    th_assert_status(r, 403);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(r->json, "detail")), "privacy budget exhausted"));
    ck_assert_ptr_null(json_object_get(r->json, "results"));
    ck_assert_ptr_null(strstr(r->body, "count"));
}

static double spent(const char *study)
{
    const char *p[] = {study};
    return (double)th_sql_long("SELECT (epsilon_spent * 1000)::bigint FROM study WHERE id = $1", 1,
                               p) /
           1000.0;
}

static long ledger(const char *study, const char *cond)
{
    char sql[256];
    const char *p[] = {study};
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM study_query WHERE study_id = $1 AND %s", cond);
    return th_sql_long(sql, 1, p);
}

/* ---- the population of the single-target attacks ---- */

static char target[37];
static int target_age;

/* Made once in the runner (an unchecked fixture), before the tests fork. */
static void make_attack_population(void)
{
    time_t now = time(NULL);
    struct tm tm;
    char ids[60][37], one[1][37];
    gmtime_r(&now, &tm);
    target_age = tm.tm_year + 1900 - 1950;
    PGconn *c = th_db();
    make_members(c, "D01", 60, 1980, "female", false, ids);
    for (int i = 0; i < 60; i++)
        set_ms(c, ids[i], true);
    make_members(c, "D01", 20, 1980, "female", false, NULL);
    make_members(c, "D01", 1, 1950, "male", false, one);
    memcpy(target, one[0], sizeof(target));
    make_members(c, "P01", 40, 1980, "female", false, NULL);
    PQfinish(c);
}

/* T's quasi-identifiers as the attacker knows them: a cohort node. */
static void target_node(char *out, size_t len)
{
    snprintf(out, len, "{'all':[{'age':{'min':%d,'max':%d}},{'sex_at_birth':'male'}]}", target_age,
             target_age);
}

/* Tautologies on this population: rewrite k adds criterion k, which every member (T included)
 * meets, so the cohort is the same set but its canonical text differs. */
static const char *const tautology[] = {
    NULL,
    "{'age':{'min':0,'max':120}}",
    "{'not':{'sex_at_birth':'intersex'}}",
    "{'country':['GB','IE']}",
    "{'age':{'min':1,'max':119}}",
    "{'not':{'postal_prefix':'ZZ9'}}",
    "{'age':{'max':118}}",
};

enum attack_kind { DIFFERENCING, TRACKER, AVERAGING };

struct attack {
    const char *name;
    enum attack_kind kind;
    double epsilon; /* per query */
    int repeats;    /* identical copies of every query sent after it (cached, free) */
};

static const struct attack attacks[] = {
    {"differencing", DIFFERENCING, 0.5, 0},
    {"tracker", TRACKER, 0.25, 0},
    {"averaging", AVERAGING, 0.1, 1},
};

/* The two cohorts of rewrite k: the difference of their counts is 1 when T has MS, else 0. */
static void attack_cohorts(enum attack_kind kind, int k, char *plus, char *minus, size_t len)
{
    char t[160], taut[96] = "";
    target_node(t, sizeof(t));
    if (tautology[k])
        snprintf(taut, sizeof(taut), ",%s", tautology[k]);
    if (kind == TRACKER) {
        snprintf(plus, len,
                 "{'all':[{'any':[{'all':[%s,{'condition':{'condition':'multiple_sclerosis'}}]},"
                 "{'postal_prefix':'P01'}]}%s]}",
                 t, taut);
        snprintf(minus, len, "{'all':[{'postal_prefix':'P01'}%s]}", taut);
        return;
    }
    snprintf(plus, len,
             "{'all':[{'postal_prefix':'D01'},{'condition':{'condition':'multiple_sclerosis'}}%s]}",
             taut);
    snprintf(minus, len,
             "{'all':[{'postal_prefix':'D01'},{'condition':{'condition':'multiple_sclerosis'}},"
             "{'not':%s}%s]}",
             t, taut);
}

/* Send one attack query and its identical repeats. Returns the status of the first; *value gets
 * its released count. Repeats must be cached, free and byte-identical. */
static long attack_query(const char *token, const char *study, const char *cohort, double eps,
                         int repeats, double *value)
{
    struct th_resp r, again;
    long st = count_query(token, study, cohort, eps, &r);
    if (st == 200) {
        ck_assert(json_is_false(json_object_get(r.json, "cached")));
        ck_assert(fabs(json_real_value(json_object_get(r.json, "epsilon_charged")) - eps) < 1e-9);
        *value = released(&r);
        char *first = answer_text(&r);
        for (int i = 0; i < repeats; i++) {
            count_query(token, study, cohort, eps, &again);
            th_assert_status(&again, 200);
            ck_assert(json_is_true(json_object_get(again.json, "cached")));
            ck_assert(json_real_value(json_object_get(again.json, "epsilon_charged")) == 0.0);
            char *other = answer_text(&again);
            ck_assert_str_eq(first, other);
            free(other);
            th_resp_free(&again);
        }
        free(first);
    } else {
        assert_refused(&r);
    }
    th_resp_free(&r);
    return st;
}

/* One trial: a fresh study with budget STUDY_BUDGET, rewrites until the budget refuses. Returns
 * the attacker's guess (1: T has MS). Checks that exactly budget / epsilon queries were charged. */
static int run_trial(const char *token, const struct attack *a)
{
    char study[37], plus[1024], minus[1024], budget[16];
    double sum = 0.0, vp = 0.0, vm = 0.0;
    int pairs = 0, charged = 0, expect = (int)lround(STUDY_BUDGET / a->epsilon);

    snprintf(budget, sizeof(budget), "%.3f", STUDY_BUDGET);
    approved_study(token, budget, study);
    for (size_t k = 0; k < NELEM(tautology); k++) {
        attack_cohorts(a->kind, (int)k, plus, minus, sizeof(plus));
        if (attack_query(token, study, plus, a->epsilon, a->repeats, &vp) != 200)
            break;
        charged++;
        if (attack_query(token, study, minus, a->epsilon, a->repeats, &vm) != 200)
            break;
        charged++;
        sum += vp - vm;
        pairs++;
    }
    ck_assert_msg(charged == expect, "%s: %d queries charged before the refusal, want %d", a->name,
                  charged, expect);
    ck_assert_int_gt(pairs, 0);
    return sum / pairs > 0.5;
}

/* ---- tests: the mechanics the attacks run into ---- */

START_TEST(repeats_are_identical_and_free)
{
    char rt[64], study[37], plus[1024], minus[1024];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "0.5", study);
    attack_cohorts(DIFFERENCING, 0, plus, minus, sizeof(plus));

    ck_assert_int_eq(count_query(rt, study, plus, 0.5, &r), 200);
    ck_assert(json_is_false(json_object_get(r.json, "cached")));
    char *first = answer_text(&r);
    const char *hash = json_string_value(json_object_get(r.json, "query_hash"));
    char h0[65];
    snprintf(h0, sizeof(h0), "%s", hash);
    th_resp_free(&r);
    ck_assert(fabs(spent(study) - 0.5) < 1e-9);

    /* 25 repeats, the budget already spent: the same bytes every time, never charged. */
    for (int i = 0; i < 25; i++) {
        ck_assert_int_eq(count_query(rt, study, plus, 0.5, &r), 200);
        ck_assert(json_is_true(json_object_get(r.json, "cached")));
        ck_assert(json_real_value(json_object_get(r.json, "epsilon_charged")) == 0.0);
        ck_assert(json_real_value(json_object_get(r.json, "epsilon_remaining")) == 0.0);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "query_hash")), h0);
        char *other = answer_text(&r);
        ck_assert_str_eq(first, other);
        free(other);
        th_resp_free(&r);
    }
    ck_assert(fabs(spent(study) - 0.5) < 1e-9);
    ck_assert_int_eq(ledger(study, "true"), 26);
    ck_assert_int_eq(ledger(study, "cached AND epsilon = 0"), 25);
    /* Anything new is refused. */
    count_query(rt, study, minus, 0.5, &r);
    assert_refused(&r);
    th_resp_free(&r);
    free(first);
}
END_TEST

START_TEST(rewrites_cached_or_charged)
{
    char rt[64], study[37], t[160], text[1024];
    struct th_resp r;
    th_account("researcher", rt, NULL);
    approved_study(rt, "2", study);
    target_node(t, sizeof(t));

    const char *base = "{'all':[{'postal_prefix':'D01'},"
                       "{'condition':{'condition':'multiple_sclerosis'}},{'not':%s}]}";
    snprintf(text, sizeof(text), base, t);
    ck_assert_int_eq(count_query(rt, study, text, 0.1, &r), 200);
    ck_assert(json_is_false(json_object_get(r.json, "cached")));
    char *first = answer_text(&r), h0[65];
    snprintf(h0, sizeof(h0), "%s", json_string_value(json_object_get(r.json, "query_hash")));
    th_resp_free(&r);

    /* Spellings the canonical form unifies: the cached answer, free. */
    const char *same[] = {
        /* reordered criteria */
        "{'all':[{'not':%s},{'condition':{'condition':'multiple_sclerosis'}},"
        "{'postal_prefix':'D01'}]}",
        /* nested all */
        "{'all':[{'all':[{'postal_prefix':'D01'},"
        "{'condition':{'condition':'multiple_sclerosis'}}]},{'all':[{'not':%s}]}]}",
        /* double not */
        "{'all':[{'not':{'not':{'postal_prefix':'D01'}}},"
        "{'condition':{'condition':'multiple_sclerosis'}},{'not':%s}]}",
        /* a duplicated criterion, lower-case postal prefix */
        "{'all':[{'postal_prefix':'d01'},{'postal_prefix':'D01'},"
        "{'condition':{'condition':'multiple_sclerosis'}},{'not':%s}]}",
        /* the whole cohort wrapped in a single-child any */
        "{'any':[{'all':[{'postal_prefix':'D01'},{'not':%s},"
        "{'condition':{'condition':'multiple_sclerosis'}}]}]}",
    };
    for (size_t i = 0; i < NELEM(same); i++) {
        snprintf(text, sizeof(text), same[i], t);
        ck_assert_int_eq(count_query(rt, study, text, 0.1, &r), 200);
        ck_assert_msg(json_is_true(json_object_get(r.json, "cached")), "rewrite %zu not cached", i);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "query_hash")), h0);
        ck_assert(json_real_value(json_object_get(r.json, "epsilon_charged")) == 0.0);
        char *other = answer_text(&r);
        ck_assert_str_eq(first, other);
        free(other);
        th_resp_free(&r);
    }
    ck_assert(fabs(spent(study) - 0.1) < 1e-9);

    /* Rewrites equal on this population but not in general: a new answer, charged in full. */
    const char *charged[] = {
        /* De Morgan */
        "{'not':{'any':[{'not':{'postal_prefix':'D01'}},"
        "{'not':{'condition':{'condition':'multiple_sclerosis'}}},%s]}}",
        /* tautologies */
        "{'all':[{'postal_prefix':'D01'},{'condition':{'condition':'multiple_sclerosis'}},"
        "{'not':%s},{'age':{'min':0,'max':120}}]}",
        "{'all':[{'postal_prefix':'D01'},{'condition':{'condition':'multiple_sclerosis'}},"
        "{'not':%s},{'country':'GB'}]}",
        /* a split into two halves */
        "{'any':[{'all':[{'postal_prefix':'D01'},{'condition':{'condition':'multiple_sclerosis'}},"
        "{'not':%s},{'sex_at_birth':'female'}]},{'all':[{'postal_prefix':'D01'},"
        "{'condition':{'condition':'multiple_sclerosis'}},{'sex_at_birth':'male'},"
        "{'not':{'age':{'min':0}}}]}]}",
    };
    char hashes[NELEM(charged)][65];
    for (size_t i = 0; i < NELEM(charged); i++) {
        snprintf(text, sizeof(text), charged[i], t);
        ck_assert_int_eq(count_query(rt, study, text, 0.1, &r), 200);
        ck_assert_msg(json_is_false(json_object_get(r.json, "cached")), "rewrite %zu cached", i);
        ck_assert(fabs(json_real_value(json_object_get(r.json, "epsilon_charged")) - 0.1) < 1e-9);
        snprintf(hashes[i], 65, "%s", json_string_value(json_object_get(r.json, "query_hash")));
        ck_assert_str_ne(hashes[i], h0);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(hashes[i], hashes[j]);
        th_resp_free(&r);
    }
    ck_assert(fabs(spent(study) - 0.1 * (1 + NELEM(charged))) < 1e-9);
    ck_assert_int_eq(ledger(study, "NOT cached"), (long)(1 + NELEM(charged)));
    ck_assert_int_eq(ledger(study, "cached"), (long)NELEM(same));
    free(first);
}
END_TEST

/* The budget ends the attack: with budget 1 and epsilon 0.1 per query the eleventh new query is
 * refused, nothing is released, and the refusal is not charged. */
START_TEST(budget_stops_the_attack)
{
    char rt[64], study[37], plus[1024], minus[1024];
    struct th_resp r;
    double v;
    th_account("researcher", rt, NULL);
    approved_study(rt, "1", study);
    for (int k = 0; k < 5; k++) {
        attack_cohorts(AVERAGING, k, plus, minus, sizeof(plus));
        ck_assert_int_eq(attack_query(rt, study, plus, 0.1, 0, &v), 200);
        ck_assert_int_eq(attack_query(rt, study, minus, 0.1, 0, &v), 200);
    }
    ck_assert(fabs(spent(study) - 1.0) < 1e-9);
    attack_cohorts(AVERAGING, 5, plus, minus, sizeof(plus));
    for (int i = 0; i < 3; i++) {
        count_query(rt, study, plus, 0.1, &r);
        assert_refused(&r);
        th_resp_free(&r);
    }
    /* The smallest query does not fit either. */
    count_query(rt, study, plus, 0.01, &r);
    assert_refused(&r);
    th_resp_free(&r);
    ck_assert(fabs(spent(study) - 1.0) < 1e-9);
    ck_assert_int_eq(ledger(study, "true"), 10);
}
END_TEST

/* ---- tests: the attacks ---- */

START_TEST(single_target_attacks_fail)
{
    char rt[64];
    int world[TRIALS], correct[NELEM(attacks)] = {0}, pooled = 0;
    uint64_t seed = 20261121;
    double bound = exp(STUDY_BUDGET) / (1.0 + exp(STUDY_BUDGET));
    th_account("researcher", rt, NULL);
    PGconn *c = th_db();

    for (size_t a = 0; a < NELEM(attacks); a++) {
        for (int i = 0; i < TRIALS; i++)
            world[i] = i % 2;
        shuffle(world, TRIALS, &seed);
        for (int i = 0; i < TRIALS; i++) {
            set_ms(c, target, world[i]);
            correct[a] += run_trial(rt, &attacks[a]) == world[i];
        }
        pooled += correct[a];
        printf("%-13s %3d trials, epsilon %.2f per query: attacker right %5.1f%% "
               "(bound %.1f%%)\n",
               attacks[a].name, TRIALS, attacks[a].epsilon, 100.0 * correct[a] / TRIALS,
               100.0 * bound);
    }
    PQfinish(c);
    double acc = (double)pooled / (TRIALS * (double)NELEM(attacks));
    printf("all attacks   %3d trials: attacker right %5.1f%% (chance + margin %.1f%%)\n",
           TRIALS * (int)NELEM(attacks), 100.0 * acc, 100.0 * (0.5 + MARGIN));
    for (size_t a = 0; a < NELEM(attacks); a++)
        ck_assert_msg((double)correct[a] / TRIALS <= bound, "%s beat the DP bound: %d of %d",
                      attacks[a].name, correct[a], TRIALS);
    ck_assert_msg(acc <= 0.5 + MARGIN, "the attacks were right %.3f of the time", acc);
}
END_TEST

/* One noisy, released count from the server's mechanism, as the attacker would read it. */
static double release_once(int64_t truth, double eps)
{
    int64_t noisy, shown;
    ck_assert_int_eq(stats_mechanism_noisy(stats_mechanism_laplace(), truth, 1, eps, &noisy), 0);
    return stats_release_count_value(noisy, &shown) == 0 ? (double)shown : SUPPRESSED_GUESS;
}

/* The control: if repeats drew fresh noise and cost nothing, the same estimators would find the
 * secret. True counts as in the population: 60 (+ T) for differencing, 40 (+ T) for the tracker. */
START_TEST(control_without_cache_and_budget)
{
    int correct = 0, world[TRIALS];
    uint64_t seed = 7;
    for (int i = 0; i < TRIALS; i++)
        world[i] = i % 2;
    shuffle(world, TRIALS, &seed);
    for (int i = 0; i < TRIALS; i++) {
        int64_t base = i % 2 ? 40 : 60;
        double sum = 0.0;
        for (int k = 0; k < CONTROL_REPEATS; k++)
            sum += release_once(base + world[i], 0.5) - release_once(base, 0.5);
        correct += (sum / CONTROL_REPEATS > 0.5) == world[i];
    }
    printf("control: %d free fresh repeats at epsilon 0.5: attacker right %.1f%%\n",
           CONTROL_REPEATS, 100.0 * correct / TRIALS);
    ck_assert_msg((double)correct / TRIALS >= 0.9, "control right only %d of %d", correct, TRIALS);
}
END_TEST

/* ---- reconstruction ---- */

static char recon_ids[RECON_N][37];
static int recon_bit[RECON_N];

static void make_recon_population(void)
{
    int order[RECON_N];
    uint64_t seed = 42;
    PGconn *c = th_db();
    make_members(c, "R01", RECON_N, 1980, "female", true, recon_ids);
    for (int i = 0; i < RECON_N; i++)
        order[i] = i;
    shuffle(order, RECON_N, &seed);
    for (int i = 0; i < RECON_N; i++)
        recon_bit[order[i]] = i < RECON_ONES;
    for (int i = 0; i < RECON_N; i++)
        if (recon_bit[i])
            set_ms(c, recon_ids[i], true);
    PQfinish(c);
}

/* Least squares over the answers y of the subset queries (rows of a), rounded at 1/2: the
 * fraction of bits recovered. */
static double reconstruct(const gsl_matrix *a, const gsl_vector *y)
{
    gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(a->size1, a->size2);
    gsl_vector *x = gsl_vector_alloc(a->size2);
    gsl_matrix *cov = gsl_matrix_alloc(a->size2, a->size2);
    double chisq;
    int right = 0;
    ck_assert(w && x && cov);
    ck_assert_int_eq(gsl_multifit_linear(a, y, x, cov, &chisq, w), GSL_SUCCESS);
    for (size_t i = 0; i < a->size2; i++)
        right += (gsl_vector_get(x, i) > 0.5) == recon_bit[i];
    gsl_multifit_linear_free(w);
    gsl_vector_free(x);
    gsl_matrix_free(cov);
    return (double)right / (double)a->size2;
}

/* A random half of the members: row j of a. Returns how many were picked. */
static int random_subset(gsl_matrix *a, size_t j, uint64_t *seed)
{
    int picked = 0;
    for (size_t i = 0; i < RECON_N; i++) {
        int in = (int)(mix(seed) & 1);
        gsl_matrix_set(a, j, i, in);
        picked += in;
    }
    return picked;
}

/* The cohort "R01 members with MS whose country is in row j": countries in lists of <= 50. */
static void subset_cohort(const gsl_matrix *a, size_t j, char *out, size_t len)
{
    const char *const *codes = stats_country_codes(NULL);
    size_t used;
    int lists = 0, in_list = 0;

    used = (size_t)snprintf(out, len,
                            "{'all':[{'postal_prefix':'R01'},"
                            "{'condition':{'condition':'multiple_sclerosis'}},{'any':[");
    for (size_t i = 0; i < RECON_N; i++) {
        if (gsl_matrix_get(a, j, i) == 0.0)
            continue;
        if (in_list == 50) {
            used += (size_t)snprintf(out + used, len - used, "]}");
            in_list = 0;
        }
        if (in_list == 0)
            used += (size_t)snprintf(out + used, len - used, "%s{'country':[", lists++ ? "," : "");
        else
            used += (size_t)snprintf(out + used, len - used, ",");
        used += (size_t)snprintf(out + used, len - used, "'%s'", codes[i]);
        in_list++;
        ck_assert_uint_lt(used, len - 16);
    }
    snprintf(out + used, len - used, "]}]}]}");
}

START_TEST(reconstruction_over_the_api)
{
    char rt[64], study[37], cohort[4096];
    struct th_resp r;
    uint64_t seed = 99;
    double total = 0.0;
    th_account("researcher", rt, NULL);
    gsl_matrix *a = gsl_matrix_alloc(RECON_API_QUERIES, RECON_N);
    gsl_vector *y = gsl_vector_alloc(RECON_API_QUERIES);
    ck_assert(a && y);

    for (int s = 0; s < RECON_STUDIES; s++) {
        approved_study(rt, NULL, study);
        for (size_t j = 0; j < RECON_API_QUERIES; j++) {
            while (random_subset(a, j, &seed) == 0)
                ;
            subset_cohort(a, j, cohort, sizeof(cohort));
            ck_assert_int_eq(count_query(rt, study, cohort, RECON_API_EPSILON, &r), 200);
            ck_assert(json_is_false(json_object_get(r.json, "cached")));
            gsl_vector_set(y, j, released(&r));
            th_resp_free(&r);
        }
        /* The budget is spent: the next subset is refused. */
        random_subset(a, 0, &seed);
        subset_cohort(a, 0, cohort, sizeof(cohort));
        count_query(rt, study, cohort, RECON_API_EPSILON, &r);
        assert_refused(&r);
        th_resp_free(&r);
        double acc = reconstruct(a, y);
        printf("reconstruction over the API, study %d: %d queries at epsilon %.2f, %.1f%% of the "
               "bits right\n",
               s + 1, RECON_API_QUERIES, RECON_API_EPSILON, 100.0 * acc);
        total += acc;
    }
    double mean = total / RECON_STUDIES, majority = (double)RECON_ONES / RECON_N;
    if (majority < 0.5)
        majority = 1.0 - majority;
    printf("reconstruction over the API: mean %.1f%% (majority guess %.1f%%)\n", 100.0 * mean,
           100.0 * majority);
    ck_assert_msg(mean <= majority + RECON_MARGIN, "reconstructed %.3f of the bits", mean);
    gsl_matrix_free(a);
    gsl_vector_free(y);
}
END_TEST

/* The same attack on the release function itself, at the largest budget (20) and, as the control,
 * without noise. */
START_TEST(reconstruction_on_the_release_function)
{
    uint64_t seed = 1234;
    double total = 0.0;
    gsl_matrix *a = gsl_matrix_alloc(RECON_SIM_QUERIES, RECON_N);
    gsl_vector *y = gsl_vector_alloc(RECON_SIM_QUERIES),
               *exact = gsl_vector_alloc(RECON_SIM_QUERIES);
    ck_assert(a && y && exact);

    for (int s = 0; s < RECON_SIMULATED; s++) {
        for (size_t j = 0; j < RECON_SIM_QUERIES; j++) {
            int64_t sum = 0;
            random_subset(a, j, &seed);
            for (size_t i = 0; i < RECON_N; i++)
                sum += (int64_t)gsl_matrix_get(a, j, i) * recon_bit[i];
            gsl_vector_set(exact, j, (double)sum);
            gsl_vector_set(y, j, release_once(sum, RECON_SIM_EPSILON));
        }
        total += reconstruct(a, y);
        if (s == 0) {
            double control = reconstruct(a, exact);
            printf("reconstruction without noise: %.1f%% of the bits right\n", 100.0 * control);
            ck_assert_msg(control == 1.0, "the noise-free control recovered only %.3f", control);
        }
    }
    double mean = total / RECON_SIMULATED;
    printf("reconstruction on the release function: %d attempts, %d queries at epsilon %.2f: mean "
           "%.1f%%\n",
           RECON_SIMULATED, RECON_SIM_QUERIES, RECON_SIM_EPSILON, 100.0 * mean);
    ck_assert_msg(mean <= 0.5 + RECON_MARGIN, "reconstructed %.3f of the bits", mean);
    gsl_matrix_free(a);
    gsl_vector_free(y);
    gsl_vector_free(exact);
}
END_TEST

static void make_populations(void)
{
    make_attack_population();
    make_recon_population();
}

int main(void)
{
    gsl_set_error_handler_off();
    th_start(NULL);
    Suite *s = suite_create("attacks");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 600);
    /* The populations are made once, in the runner, before the tests fork. */
    tcase_add_unchecked_fixture(tc, make_populations, NULL);
    tcase_add_test(tc, repeats_are_identical_and_free);
    tcase_add_test(tc, rewrites_cached_or_charged);
    tcase_add_test(tc, budget_stops_the_attack);
    tcase_add_test(tc, single_target_attacks_fail);
    tcase_add_test(tc, control_without_cache_and_budget);
    tcase_add_test(tc, reconstruction_over_the_api);
    tcase_add_test(tc, reconstruction_on_the_release_function);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
