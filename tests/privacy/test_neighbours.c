/* test_neighbours.c - differential privacy of one released count, measured on the real mechanism.
 *
 * Two neighbouring populations differ by one member, so a count is n in one and n + 1 in the
 * other. The server releases count + DLap(1 / epsilon) drawn by stats_mechanism_laplace() (the
 * OpenSSL CSPRNG), then suppresses and rounds it (stats_release_count_value). epsilon-DP means
 * that for every output o, P(o | n) <= e^epsilon P(o | n + 1) and the other way round. Here each
 * population is released DRAWS times and, for every output both runs produced at least MIN_MASS
 * times, the ratio of the two empirical probabilities is checked against e^epsilon.
 *
 * Tolerance: each probability gets an exact (Clopper-Pearson) binomial bound at one-sided level
 * ALPHA / MAX_BOUNDS, so all bounds in this file hold together with probability >= 1 - ALPHA
 * (Bonferroni). A ratio fails only when even its lower bound, L(p_a) / U(p_b), exceeds e^epsilon:
 * ratio <= e^epsilon (1 + tol) with tol = ratio / (L(p_a) / U(p_b)) - 1, about 5% for the central
 * values and at most about 15% at MIN_MASS. A correct mechanism fails with probability < ALPHA.
 * The same checker must catch a mechanism whose real epsilon is 0.6 while 0.5 is claimed (a 10.5%
 * excess), and every raw frequency must cover the exact discrete Laplace probability, so the test
 * can fail both ways.
 *
 * Draws happen once in main(), before the tests fork; the tests only read the histograms. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

#include "disclosure.h"
#include "mechanism.h"

#define DRAWS 200000
#define EPSILON 0.5
#define EPSILON_WEAK 0.6 /* the mechanism the checker must catch */
#define SPAN 64          /* raw values n0 - SPAN .. n0 + SPAN; farther ones go to the end bins */
#define NBINS (2 * SPAN + 2)
#define MIN_MASS 5000  /* an output is compared when both runs drew it this often */
#define ALPHA 1e-6     /* family-wise error of every bound in this file */
#define MAX_BOUNDS 512 /* Bonferroni divisor: more bounds than this file ever computes */
#define NTESTS 4       /* each test may compute MAX_BOUNDS / NTESTS bounds */
#define MIN_COMPARED_RAW 8

/* One run: DRAWS releases of the true count n. raw[i] counts noisy value n0 - SPAN + i (end bins
 * clamp); rel[0] counts suppressed releases, rel[k] the released value 5k. */
struct run {
    int64_t n;
    double epsilon;
    long raw[NBINS], rel[NBINS];
    long total;
    bool failed;
};

/* Both runs of a pair share the base n0 = the smaller n, so bin i is the same value in both. */
struct pair {
    struct run a, b;
};

static struct pair pair15, pair10, weak15;
static double draw_seconds;

static void draw(struct run *r, int64_t n0, int64_t n, double epsilon)
{
    const struct stats_mechanism *m = stats_mechanism_laplace();
    int64_t noisy, shown;
    long i;

    memset(r, 0, sizeof(*r));
    r->n = n;
    r->epsilon = epsilon;
    for (i = 0; i < DRAWS; i++) {
        if (stats_mechanism_noisy(m, n, 1, epsilon, &noisy) != 0) {
            r->failed = true;
            return;
        }
        int64_t off = noisy - (n0 - SPAN);
        r->raw[off < 0 ? 0 : off >= NBINS ? NBINS - 1 : off]++;
        if (stats_release_count_value(noisy, &shown) != 0)
            r->rel[0]++;
        else
            r->rel[shown / 5 < NBINS ? shown / 5 : NBINS - 1]++;
    }
    r->total = DRAWS;
}

static void draw_pair(struct pair *p, int64_t n, double epsilon)
{
    draw(&p->a, n, n, epsilon);
    draw(&p->b, n, n + 1, epsilon);
}

/* ---- bounds ---- */

static int bounds_used; /* in this test (each runs in its own process) */

static double level(void)
{
    bounds_used++;
    return ALPHA / MAX_BOUNDS;
}

/* The q-quantile of Beta(a, b) by bisection on its CDF: GSL's own inverse does not converge for
 * parameters this large. 200 halvings pin it far below any tolerance used here. */
static double beta_quantile(double q, double a, double b)
{
    double lo = 0.0, hi = 1.0;

    for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
        double mid = (lo + hi) / 2.0;
        if (gsl_cdf_beta_P(mid, a, b) < q)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2.0;
}

/* Exact one-sided Clopper-Pearson bounds on a binomial probability from x of n. */
static double cp_lower(long x, long n)
{
    double a = level();
    return x == 0 ? 0.0 : beta_quantile(a, (double)x, (double)(n - x + 1));
}

static double cp_upper(long x, long n)
{
    double a = level();
    return x == n ? 1.0 : beta_quantile(1.0 - a, (double)(x + 1), (double)(n - x));
}

struct verdict {
    int compared;            /* outputs compared (each in both directions) */
    int violations;          /* ratios whose lower bound exceeds e^epsilon */
    double max_ratio;        /* largest empirical ratio seen */
    double min_tol, max_tol; /* smallest and largest tolerance used */
};

/* Compare histograms x and y (raw or rel of a pair) against the claimed epsilon, from bin
 * `first` on: 1 for raw values, whose bin 0 collects a clamped tail; 0 for released values, whose
 * bin 0 is "suppressed". The last bin is a clamped tail in both and never compared. */
static void compare(const long *x, long nx, const long *y, long ny, int first, double claimed,
                    struct verdict *v)
{
    double limit = exp(claimed);
    int i, dir;

    memset(v, 0, sizeof(*v));
    for (i = first; i < NBINS - 1; i++) {
        if (x[i] < MIN_MASS || y[i] < MIN_MASS)
            continue;
        v->compared++;
        for (dir = 0; dir < 2; dir++) {
            long a = dir ? y[i] : x[i], na = dir ? ny : nx;
            long b = dir ? x[i] : y[i], nb = dir ? nx : ny;
            double ratio = ((double)a / (double)na) / ((double)b / (double)nb);
            double lower = cp_lower(a, na) / cp_upper(b, nb);
            double tol = ratio / lower - 1.0;

            if (ratio > v->max_ratio)
                v->max_ratio = ratio;
            if (tol > v->max_tol)
                v->max_tol = tol;
            if (v->min_tol == 0.0 || tol < v->min_tol)
                v->min_tol = tol;
            if (lower > limit)
                v->violations++;
        }
    }
}

/* Exact discrete Laplace probability of noisy value k when the truth is n. */
static double dlap_pmf(int64_t k, int64_t n, double epsilon)
{
    double q = exp(-epsilon);
    return (1.0 - q) / (1.0 + q) * pow(q, fabs((double)(k - n)));
}

/* Every raw value drawn MIN_MASS times has its exact probability inside its bounds; returns how
 * many values were checked, or -1 at the first value that misses. */
static int calibrated(const struct run *r, int64_t n0)
{
    int i, checked = 0;

    for (i = 1; i < NBINS - 1; i++) {
        if (r->raw[i] < MIN_MASS)
            continue;
        double p = dlap_pmf(n0 - SPAN + i, r->n, r->epsilon);
        double lo = cp_lower(r->raw[i], r->total), hi = cp_upper(r->raw[i], r->total);
        if (p < lo || p > hi) {
            fprintf(stderr, "value %lld: exact %.6f outside [%.6f, %.6f]\n",
                    (long long)(n0 - SPAN + i), p, lo, hi);
            return -1;
        }
        checked++;
    }
    return checked;
}

static void report(const char *what, const struct verdict *v, double claimed)
{
    printf("%-42s %2d outputs, max ratio %.4f (e^eps %.4f), tolerance %.1f%% to %.1f%%, "
           "violations %d\n",
           what, v->compared, v->max_ratio, exp(claimed), 100.0 * v->min_tol, 100.0 * v->max_tol,
           v->violations);
}

/* ---- tests ---- */

START_TEST(raw_counts_within_e_epsilon)
{
    struct verdict v;

    ck_assert_msg(!pair15.a.failed && !pair15.b.failed, "the mechanism failed to draw");
    compare(pair15.a.raw, pair15.a.total, pair15.b.raw, pair15.b.total, 1, EPSILON, &v);
    report("raw noisy counts, n = 15 vs 16, eps 0.5:", &v, EPSILON);
    ck_assert_int_ge(v.compared, MIN_COMPARED_RAW);
    ck_assert_msg(v.violations == 0, "%d output probabilities differ by more than e^%.2f",
                  v.violations, EPSILON);
    /* The bound is tight for DLap: on one side of n the ratio is exactly e^epsilon. */
    ck_assert_msg(v.max_ratio > exp(EPSILON) * 0.95, "max ratio %.4f: much more noise than claimed",
                  v.max_ratio);
    ck_assert_int_le(bounds_used, MAX_BOUNDS / NTESTS);
}
END_TEST

START_TEST(raw_counts_are_exact_discrete_laplace)
{
    int ca = calibrated(&pair15.a, 15), cb = calibrated(&pair15.b, 15);

    ck_assert_msg(!pair15.a.failed && !pair15.b.failed, "the mechanism failed to draw");
    ck_assert_msg(ca >= MIN_COMPARED_RAW && cb >= MIN_COMPARED_RAW,
                  "frequencies outside their bounds (or too few values: %d, %d)", ca, cb);
    ck_assert_int_le(bounds_used, MAX_BOUNDS / NTESTS);
}
END_TEST

START_TEST(released_counts_within_e_epsilon)
{
    const struct pair *ps[] = {&pair15, &pair10};
    const char *names[] = {"released counts, n = 15 vs 16, eps 0.5:",
                           "released counts, n = 10 vs 11, eps 0.5:"};
    /* Suppressed, 15, 20 (and 25) for n = 15; suppressed and 15 (and 20) for n = 10. */
    const int min_compared[] = {3, 2};
    struct verdict v;

    for (size_t k = 0; k < 2; k++) {
        const struct pair *p = ps[k];
        ck_assert_msg(!p->a.failed && !p->b.failed, "the mechanism failed to draw");
        compare(p->a.rel, p->a.total, p->b.rel, p->b.total, 0, EPSILON, &v);
        report(names[k], &v, EPSILON);
        ck_assert_int_ge(v.compared, min_compared[k]);
        ck_assert_msg(v.violations == 0, "%s %d violations", names[k], v.violations);
        /* Suppressed is one of the compared outputs, and nothing from 1 to 12 is ever shown. */
        ck_assert_int_ge(p->a.rel[0], MIN_MASS);
        ck_assert_int_eq(p->a.rel[1] + p->a.rel[2], 0);
        ck_assert_int_eq(p->b.rel[1] + p->b.rel[2], 0);
    }
    /* The raw pair at the suppression boundary holds too. */
    compare(pair10.a.raw, pair10.a.total, pair10.b.raw, pair10.b.total, 1, EPSILON, &v);
    report("raw noisy counts, n = 10 vs 11, eps 0.5:", &v, EPSILON);
    ck_assert_int_ge(v.compared, MIN_COMPARED_RAW);
    ck_assert_int_eq(v.violations, 0);
    ck_assert_int_le(bounds_used, MAX_BOUNDS / NTESTS);
}
END_TEST

/* The checker has the power to see a real leak: a mechanism at epsilon 0.6 checked against a
 * claim of 0.5 must be flagged. */
START_TEST(checker_catches_a_weaker_mechanism)
{
    struct verdict v;

    ck_assert_msg(!weak15.a.failed && !weak15.b.failed, "the mechanism failed to draw");
    compare(weak15.a.raw, weak15.a.total, weak15.b.raw, weak15.b.total, 1, EPSILON, &v);
    report("raw counts drawn at eps 0.6, claimed 0.5:", &v, EPSILON);
    ck_assert_int_ge(v.compared, MIN_COMPARED_RAW);
    ck_assert_msg(v.violations > 0, "a 10.5%% excess went unnoticed (max ratio %.4f)", v.max_ratio);
    /* Against its own epsilon it passes. */
    compare(weak15.a.raw, weak15.a.total, weak15.b.raw, weak15.b.total, 1, EPSILON_WEAK, &v);
    ck_assert_int_eq(v.violations, 0);
    ck_assert_int_le(bounds_used, MAX_BOUNDS / NTESTS);
}
END_TEST

int main(void)
{
    struct timespec t0, t1;

    gsl_set_error_handler_off();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    draw_pair(&pair15, 15, EPSILON);
    draw_pair(&pair10, 10, EPSILON);
    draw_pair(&weak15, 15, EPSILON_WEAK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    draw_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%d draws per run, 6 runs, %.1f s\n", DRAWS, draw_seconds);

    Suite *s = suite_create("neighbours");
    TCase *tc = tcase_create("mechanism");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, raw_counts_within_e_epsilon);
    tcase_add_test(tc, raw_counts_are_exact_discrete_laplace);
    tcase_add_test(tc, released_counts_within_e_epsilon);
    tcase_add_test(tc, checker_catches_a_weaker_mechanism);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
