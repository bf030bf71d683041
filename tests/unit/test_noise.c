/* test_noise.c - stats/noise.c: exact samplers checked against their exact distributions.
 *
 * The random source is a splitmix64 stream with a fixed seed, so every run draws the same
 * samples. Frequencies must lie within 5 binomial standard deviations of the exact probability;
 * the exact pmf, variance and fourth moment are computed here from the closed form
 * P(X = k) = (1 - e^(-1/t)) / (1 + e^(-1/t)) e^(-|k|/t).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

#include "noise.h"

#define NSAMPLES 200000

struct mix {
    uint64_t state;
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int mix_bytes(void *ctx, unsigned char *buf, size_t n)
{
    struct mix *m = ctx;

    while (n > 0) {
        uint64_t v = splitmix64(&m->state);
        size_t k = n < 8 ? n : 8;

        memcpy(buf, &v, k);
        buf += k;
        n -= k;
    }
    return 0;
}

static int fail_bytes(void *ctx, unsigned char *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    return -1;
}

/* Fills every byte with the value ctx points to: a stuck source. */
static int const_bytes(void *ctx, unsigned char *buf, size_t n)
{
    memset(buf, *(const unsigned char *)ctx, n);
    return 0;
}

/* Hands out a fixed byte script, then fails. */
struct script {
    const unsigned char *b;
    size_t n, pos;
};

static int script_bytes(void *ctx, unsigned char *buf, size_t n)
{
    struct script *s = ctx;

    if (s->n - s->pos < n)
        return -1;
    memcpy(buf, s->b + s->pos, n);
    s->pos += n;
    return 0;
}

/* Frequency count/N must be within 5 sigma of p. */
static void assert_freq(double count, double p, const char *what, double arg)
{
    double got = count / NSAMPLES, tol = 5.0 * sqrt(p * (1.0 - p) / NSAMPLES);

    ck_assert_msg(fabs(got - p) <= tol, "%s (%g): frequency %.6f, exact %.6f, tolerance %.6f", what,
                  arg, got, p, tol);
}

START_TEST(test_uniform_script)
{
    /* n = 10 takes one byte masked to 4 bits: 12 and 15 are rejected, 7 accepted. */
    const unsigned char b1[] = {12, 0xFF, 7};
    /* n = 257 takes two little-endian bytes masked to 9 bits: 0x101 = 257 rejected, 256 kept. */
    const unsigned char b2[] = {0x01, 0x01, 0x00, 0x01};
    struct script s1 = {b1, sizeof(b1), 0}, s2 = {b2, sizeof(b2), 0};
    struct stats_rng r1 = {script_bytes, &s1}, r2 = {script_bytes, &s2};
    uint64_t v = 99;

    ck_assert_int_eq(stats_rng_uniform(&r1, 10, &v), 0);
    ck_assert_uint_eq(v, 7);
    ck_assert_uint_eq(s1.pos, 3);
    ck_assert_int_eq(stats_rng_uniform(&r1, 1, &v), 0); /* n = 1 needs no bytes */
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(stats_rng_uniform(&r2, 257, &v), 0);
    ck_assert_uint_eq(v, 256);
    ck_assert_uint_eq(s2.pos, 4);
    ck_assert_int_eq(stats_rng_uniform(&r2, 0, &v), -1);
}
END_TEST

START_TEST(test_uniform_script_exhausted)
{
    /* 0xAA & 15 = 10 is rejected for n = 10; the script then fails, and so does the call. */
    const unsigned char b[] = {0xAA};
    struct script s = {b, sizeof(b), 0};
    struct stats_rng r = {script_bytes, &s};
    uint64_t v;

    ck_assert_int_eq(stats_rng_uniform(&r, 10, &v), -1);
    ck_assert_uint_eq(s.pos, 1);
}
END_TEST

/* Chi-square of nbins equal-width bins of draws from [0, n) against the uniform expectation. */
static double uniform_chi2(uint64_t n, int nbins, int draws)
{
    struct mix m = {20240611};
    struct stats_rng r = {mix_bytes, &m};
    double count[16] = {0}, e = (double)draws / nbins, chi2 = 0;
    int i;

    for (i = 0; i < draws; i++) {
        uint64_t v;
        int bin;

        ck_assert_int_eq(stats_rng_uniform(&r, n, &v), 0);
        ck_assert(v < n);
        bin = (int)((unsigned __int128)v * (unsigned)nbins / n);
        count[bin]++;
    }
    for (i = 0; i < nbins; i++)
        chi2 += (count[i] - e) * (count[i] - e) / e;
    return chi2;
}

START_TEST(test_uniform_unbiased)
{
    double crit = gsl_cdf_chisq_Qinv(1e-6, 9);

    /* Small n, and n ~ 2/3 * 2^64 where reducing modulo n would make the lower half of the range
     * twice as likely (chi-square in the thousands). */
    double c1 = uniform_chi2(10, 10, 100000);
    double c2 = uniform_chi2(UINT64_C(0xAAAAAAAAAAAAAAAB), 10, 100000);
    double c3 = uniform_chi2(UINT64_C(1000003), 10, 100000);

    ck_assert_msg(c1 < crit, "n = 10: chi2 %.2f >= %.2f", c1, crit);
    ck_assert_msg(c2 < crit, "n ~ 2^64 * 2/3: chi2 %.2f >= %.2f", c2, crit);
    ck_assert_msg(c3 < crit, "n = 1000003: chi2 %.2f >= %.2f", c3, crit);
}
END_TEST

START_TEST(test_bernoulli_exp_script)
{
    /* gamma = 1/2. Bytes {0, 1}: K=1 Bernoulli(1/2) is 1 (0 < 1), K=2 Bernoulli(1/4) is 0
     * (1 >= 1): K = 2 is even, result 0. Byte {1}: stops at K = 1, result 1. */
    const unsigned char b1[] = {0, 1}, b2[] = {1};
    struct script s1 = {b1, 2, 0}, s2 = {b2, 1, 0};
    struct stats_rng r1 = {script_bytes, &s1}, r2 = {script_bytes, &s2};
    int out = -1;

    ck_assert_int_eq(stats_bernoulli_exp(&r1, 1, 2, &out), 0);
    ck_assert_int_eq(out, 0);
    ck_assert_uint_eq(s1.pos, 2);
    ck_assert_int_eq(stats_bernoulli_exp(&r2, 1, 2, &out), 0);
    ck_assert_int_eq(out, 1);
}
END_TEST

START_TEST(test_bernoulli_exp_freq)
{
    static const uint64_t num[] = {0, 1, 1, 37}, den[] = {1, 2, 1, 10};
    struct mix m = {7};
    struct stats_rng r = {mix_bytes, &m};
    int g, i, b;

    for (g = 0; g < 4; g++) {
        double gamma = (double)num[g] / (double)den[g], ones = 0;

        for (i = 0; i < NSAMPLES; i++) {
            ck_assert_int_eq(stats_bernoulli_exp(&r, num[g], den[g], &b), 0);
            ck_assert(b == 0 || b == 1);
            ones += b;
        }
        if (num[g] == 0)
            ck_assert(ones == NSAMPLES); /* exp(0) = 1: never 0 */
        else
            assert_freq(ones, exp(-gamma), "Bernoulli(exp(-gamma))", gamma);
    }
}
END_TEST

/* Draws NSAMPLES of discrete Laplace with scale tn/td (through stats_noisy_count when eps > 0)
 * and checks P(X = k) for |k| <= 3, the mean and the variance. */
static void check_dlap(uint64_t tn, uint64_t td, double eps, uint64_t seed)
{
    struct mix m = {seed};
    struct stats_rng r = {mix_bytes, &m};
    double t = (double)tn / (double)td, q = exp(-1.0 / t), c = (1.0 - q) / (1.0 + q);
    double count[7] = {0}, sum = 0, sumsq = 0, var, mu4 = 0, mean, svar;
    int i, k;

    for (i = 0; i < NSAMPLES; i++) {
        int64_t x;

        if (eps > 0)
            ck_assert_int_eq(stats_noisy_count(&r, 0, 1, eps, &x), 0);
        else
            ck_assert_int_eq(stats_discrete_laplace(&r, tn, td, &x), 0);
        if (x >= -3 && x <= 3)
            count[x + 3]++;
        sum += (double)x;
        sumsq += (double)x * (double)x;
    }
    for (k = -3; k <= 3; k++) {
        char what[64];

        snprintf(what, sizeof(what), "P(X = %d) at scale", k);
        assert_freq(count[k + 3], c * pow(q, abs(k)), what, t);
    }

    var = 2.0 * q / ((1.0 - q) * (1.0 - q));
    for (k = 1; k < 100000 && pow(q, k) > 1e-300; k++)
        mu4 += 2.0 * c * pow(q, k) * pow((double)k, 4);
    mean = sum / NSAMPLES;
    svar = (sumsq - sum * mean) / (NSAMPLES - 1);
    ck_assert_msg(fabs(mean) <= 5.0 * sqrt(var / NSAMPLES), "scale %g: mean %g", t, mean);
    ck_assert_msg(fabs(svar - var) <= 5.0 * sqrt((mu4 - var * var) / NSAMPLES),
                  "scale %g: variance %g, exact %g", t, svar, var);
}

START_TEST(test_dlap_t10)
{
    check_dlap(10, 1, 0.1, 1); /* eps 0.1, sensitivity 1 */
}
END_TEST

START_TEST(test_dlap_t1)
{
    check_dlap(1, 1, 0.0, 2);
}
END_TEST

START_TEST(test_dlap_t2_5)
{
    check_dlap(5, 2, 0.4, 3); /* scale 5/2: exercises floor(X / s) with s = 2 */
}
END_TEST

START_TEST(test_failing_rng)
{
    struct stats_rng r = {fail_bytes, NULL};
    uint64_t u;
    int b;
    int64_t x;

    ck_assert_int_eq(stats_rng_uniform(&r, 10, &u), -1);
    ck_assert_int_eq(stats_bernoulli_exp(&r, 1, 2, &b), -1);
    ck_assert_int_eq(stats_bernoulli_exp(&r, 37, 10, &b), -1);
    ck_assert_int_eq(stats_discrete_laplace(&r, 10, 1, &x), -1);
    ck_assert_int_eq(stats_discrete_laplace(&r, 5, 2, &x), -1);
    ck_assert_int_eq(stats_noisy_count(&r, 100, 1, 0.1, &x), -1);
}
END_TEST

START_TEST(test_stuck_rng)
{
    /* A source stuck at 0 makes every Bernoulli(gamma/K) succeed, so the K loop never ends on its
     * own; stuck at 0xFF it rejects forever in the uniform sampler. Both must fail, not hang. */
    unsigned char zero = 0, ff = 0xFF;
    struct stats_rng rz = {const_bytes, &zero}, rf = {const_bytes, &ff};
    uint64_t u;
    int b;
    int64_t x;

    ck_assert_int_eq(stats_bernoulli_exp(&rz, 1, 2, &b), -1);
    ck_assert_int_eq(stats_discrete_laplace(&rz, 10, 1, &x), -1);
    ck_assert_int_eq(stats_noisy_count(&rz, 100, 1, 0.1, &x), -1);
    ck_assert_int_eq(stats_rng_uniform(&rf, 10, &u), -1);
    ck_assert_int_eq(stats_discrete_laplace(&rf, 10, 1, &x), -1);
}
END_TEST

START_TEST(test_bounds)
{
    struct mix m = {5};
    struct stats_rng r = {mix_bytes, &m}, nob = {NULL, NULL};
    int b;
    int64_t x;
    uint64_t u;

    ck_assert_int_eq(stats_bernoulli_exp(&r, 1, 0, &b), -1);
    ck_assert_int_eq(stats_bernoulli_exp(&r, 1, STATS_NOISE_MAX + 1, &b), -1);
    ck_assert_int_eq(stats_bernoulli_exp(&r, STATS_NOISE_MAX + 1, 1, &b), -1);
    ck_assert_int_eq(stats_bernoulli_exp(NULL, 1, 2, &b), -1);
    ck_assert_int_eq(stats_bernoulli_exp(&r, 1, 2, NULL), -1);
    ck_assert_int_eq(stats_discrete_laplace(&r, 0, 1, &x), -1);
    ck_assert_int_eq(stats_discrete_laplace(&r, 1, 0, &x), -1);
    ck_assert_int_eq(stats_discrete_laplace(&r, STATS_NOISE_MAX + 1, 1, &x), -1);
    ck_assert_int_eq(stats_discrete_laplace(&r, 1, STATS_NOISE_MAX + 1, &x), -1);
    ck_assert_int_eq(stats_rng_uniform(&nob, 10, &u), -1);
    ck_assert_int_eq(stats_rng_uniform(NULL, 10, &u), -1);

    /* The extremes of the accepted range work. A large gamma is almost surely 0. */
    ck_assert_int_eq(stats_discrete_laplace(&r, STATS_NOISE_MAX, 1, &x), 0);
    ck_assert_int_eq(stats_discrete_laplace(&r, 1, STATS_NOISE_MAX, &x), 0);
    ck_assert_int_eq(x, 0); /* scale 2^-32: P(X != 0) ~ 2 e^(-2^32) */
    ck_assert_int_eq(stats_bernoulli_exp(&r, STATS_NOISE_MAX, 1, &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(stats_bernoulli_exp(&r, 0, STATS_NOISE_MAX, &b), 0);
    ck_assert_int_eq(b, 1);

    ck_assert_int_eq(stats_noisy_count(&r, 5, 0, 0.1, &x), -1); /* no noise: never */
    ck_assert_int_eq(stats_noisy_count(&r, 5, STATS_MAX_SENSITIVITY + 1, 0.1, &x), -1);
    ck_assert_int_eq(stats_noisy_count(&r, 5, STATS_MAX_SENSITIVITY, 0.01, &x), 0);
    ck_assert_int_eq(stats_noisy_count(&r, 5, 1, 0.0, &x), -1);
    ck_assert_int_eq(stats_noisy_count(&r, 5, 1, 2.0, &x), -1);
    ck_assert_int_eq(stats_noisy_count(&r, 5, 1, NAN, &x), -1);
}
END_TEST

START_TEST(test_noisy_count_is_value_plus_noise)
{
    /* Same seed twice: noisy_count(v) must equal v + DLap(1/0.5 = 2), saturated. */
    static const int64_t values[] = {0, 1000, INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1};
    size_t vi;
    int i, sat_hi = 0, sat_lo = 0;

    for (vi = 0; vi < sizeof(values) / sizeof(values[0]); vi++) {
        struct mix m1 = {99 + vi}, m2 = {99 + vi};
        struct stats_rng r1 = {mix_bytes, &m1}, r2 = {mix_bytes, &m2};

        for (i = 0; i < 2000; i++) {
            int64_t noise, got, want;

            ck_assert_int_eq(stats_discrete_laplace(&r1, 2, 1, &noise), 0);
            ck_assert_int_eq(stats_noisy_count(&r2, values[vi], 1, 0.5, &got), 0);
            if (__builtin_add_overflow(values[vi], noise, &want)) {
                want = noise > 0 ? INT64_MAX : INT64_MIN;
                sat_hi += noise > 0;
                sat_lo += noise < 0;
            }
            ck_assert_int_eq(got, want);
        }
    }
    /* Both saturation directions were exercised. */
    ck_assert_int_gt(sat_hi, 0);
    ck_assert_int_gt(sat_lo, 0);
}
END_TEST

START_TEST(test_epsilon_rational)
{
    uint64_t n = 0, d = 0;

    ck_assert_int_eq(stats_epsilon_rational(0.1, &n, &d), 0);
    ck_assert(n == 1 && d == 10);
    ck_assert_int_eq(stats_epsilon_rational(0.25, &n, &d), 0);
    ck_assert(n == 1 && d == 4);
    ck_assert_int_eq(stats_epsilon_rational(1.0, &n, &d), 0);
    ck_assert(n == 1 && d == 1);
    ck_assert_int_eq(stats_epsilon_rational(0.01, &n, &d), 0);
    ck_assert(n == 1 && d == 100);
    ck_assert_int_eq(stats_epsilon_rational(0.123, &n, &d), 0);
    ck_assert(n == 123 && d == 1000);
    ck_assert_int_eq(stats_epsilon_rational(0.7, &n, &d), 0);
    ck_assert(n == 7 && d == 10);

    ck_assert_int_eq(stats_epsilon_rational(0.0, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(1.5, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(NAN, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(INFINITY, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(-0.1, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(0.009, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(1.001, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(0.0125, &n, &d), -1);
    ck_assert_int_eq(stats_epsilon_rational(0.1, NULL, &d), -1);
}
END_TEST

START_TEST(test_csprng)
{
    const struct stats_rng *r = stats_rng_csprng();
    unsigned char buf[64];
    int64_t x;
    size_t i, nonzero = 0;

    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(r, stats_rng_csprng());
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(r->bytes(r->ctx, buf, sizeof(buf)), 0);
    for (i = 0; i < sizeof(buf); i++)
        nonzero += buf[i] != 0;
    ck_assert_uint_gt(nonzero, 0);
    ck_assert_int_eq(stats_noisy_count(r, 100, 1, 0.5, &x), 0);
}
END_TEST

static Suite *noise_suite(void)
{
    Suite *s = suite_create("noise");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_uniform_script);
    tcase_add_test(tc, test_uniform_script_exhausted);
    tcase_add_test(tc, test_uniform_unbiased);
    tcase_add_test(tc, test_bernoulli_exp_script);
    tcase_add_test(tc, test_bernoulli_exp_freq);
    tcase_add_test(tc, test_dlap_t10);
    tcase_add_test(tc, test_dlap_t1);
    tcase_add_test(tc, test_dlap_t2_5);
    tcase_add_test(tc, test_failing_rng);
    tcase_add_test(tc, test_stuck_rng);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_noisy_count_is_value_plus_noise);
    tcase_add_test(tc, test_epsilon_rational);
    tcase_add_test(tc, test_csprng);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(noise_suite());
    int failed;

    gsl_set_error_handler_off();
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
