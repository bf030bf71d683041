/* test_measures.c - stats/measures.c against values worked out by hand or by independent formulas
 * written out here (closed-form t quantiles for 1 and 2 df, exact binomial sums, Wilson bounds at
 * the ends, textbook Wilson intervals from Newcombe 1998).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>

#include <gsl/gsl_errno.h>

#include "measures.h"

#define Z975 1.959963984540054 /* standard normal 0.975 quantile */

static void assert_close(double got, double want, double tol, const char *what)
{
    double err = fabs(got - want);

    if (want != 0.0)
        err /= fabs(want);
    ck_assert_msg(isfinite(got) && err <= tol, "%s: got %.17g, want %.17g (error %.3g)", what, got,
                  want, err);
}

/* Student t 0.975 quantiles in closed form: 1 df tan(pi (p - 1/2)); 2 df (2p-1)/sqrt(2p(1-p)). */
static double t975_df1(void)
{
    return tan(M_PI * 0.475);
}

static double t975_df2(void)
{
    return 0.95 / sqrt(2.0 * 0.975 * 0.025);
}

START_TEST(test_mean_sd_lag1)
{
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    const double same[] = {3, 3, 3};

    /* Deviations -3 -1 -1 -1 0 0 2 4: squares sum to 32, lag products to 13. */
    ck_assert(stats_mean(x, 8) == 5.0);
    assert_close(stats_sd(x, 8), sqrt(32.0 / 7.0), 1e-15, "sd");
    assert_close(stats_lag1_autocorr(x, 8), 13.0 / 32.0, 1e-15, "lag1");
    ck_assert(stats_mean(x, 1) == 2.0);

    ck_assert(isnan(stats_mean(x, 0)));
    ck_assert(isnan(stats_mean(NULL, 3)));
    ck_assert(isnan(stats_mean(x, (size_t)STATS_MAX_N + 1)));
    ck_assert(isnan(stats_sd(x, 1)));
    ck_assert(isnan(stats_sd(NULL, 8)));
    ck_assert(isnan(stats_lag1_autocorr(x, 1)));
    ck_assert(stats_sd(same, 3) == 0.0);
    ck_assert(isnan(stats_lag1_autocorr(same, 3)));
}
END_TEST

START_TEST(test_linear_fit)
{
    const double x[] = {1, 2, 3, 4, 5};
    const double y[] = {2, 4, 5, 4, 5};
    const double flat[] = {2, 2, 2, 2, 2};
    struct stats_linfit f;
    double X[5], coef[2], se[2], rsd, r2;
    int i;

    /* By hand: xbar 3, ybar 4, Sxx 10, Sxy 6, SSE 2.4, SST 6, s^2 = 2.4/3 = 0.8. */
    ck_assert_int_eq(stats_linear_fit(x, y, 5, &f), 0);
    assert_close(f.c1, 0.6, 1e-14, "c1");
    assert_close(f.c0, 2.2, 1e-14, "c0");
    assert_close(f.se_c1, sqrt(0.8 / 10.0), 1e-14, "se c1");
    assert_close(f.se_c0, sqrt(0.8 * (1.0 / 5.0 + 9.0 / 10.0)), 1e-14, "se c0");
    assert_close(f.resid_sd, sqrt(0.8), 1e-14, "resid sd");
    assert_close(f.r2, 0.6, 1e-14, "r2");

    /* The multiple-regression path (SVD on the design matrix) must agree with one predictor. */
    for (i = 0; i < 5; i++)
        X[i] = x[i];
    ck_assert_int_eq(stats_multi_fit(X, y, 5, 1, coef, se, &rsd, &r2), 0);
    assert_close(coef[0], 2.2, 1e-13, "multi c0");
    assert_close(coef[1], 0.6, 1e-13, "multi c1");
    assert_close(se[0], sqrt(0.88), 1e-13, "multi se c0");
    assert_close(se[1], sqrt(0.08), 1e-13, "multi se c1");
    assert_close(rsd, sqrt(0.8), 1e-13, "multi resid sd");
    assert_close(r2, 0.6, 1e-13, "multi r2");

    ck_assert_int_eq(stats_linear_fit(x, y, 2, &f), -1);
    ck_assert_int_eq(stats_linear_fit(flat, y, 5, &f), -1);
    ck_assert_int_eq(stats_linear_fit(NULL, y, 5, &f), -1);
    ck_assert_int_eq(stats_multi_fit(X, y, 5, 0, coef, se, &rsd, &r2), -1);
    ck_assert_int_eq(stats_multi_fit(X, y, 2, 1, coef, se, &rsd, &r2), -1);
    ck_assert_int_eq(stats_multi_fit(X, y, 5, STATS_MAX_FIT_P + 1, coef, se, &rsd, &r2), -1);
}
END_TEST

START_TEST(test_multi_fit_collinear)
{
    /* Second predictor is twice the first: the design is rank deficient and must be refused. */
    const double X[] = {1, 2, 2, 4, 3, 6, 4, 8, 5, 10};
    const double y[] = {1, 2, 3, 4, 6};
    double coef[3], se[3], rsd, r2;

    ck_assert_int_eq(stats_multi_fit(X, y, 5, 2, coef, se, &rsd, &r2), -1);
}
END_TEST

START_TEST(test_multi_fit_exact_plane)
{
    /* y = 1 + 2 x1 - 3 x2 exactly: coefficients recovered, standard errors zero up to rounding. */
    const double X[] = {0, 0, 1, 0, 0, 1, 1, 1, 2, 1, 1, 3};
    double y[6], coef[3], se[3], rsd, r2;
    int i;

    for (i = 0; i < 6; i++)
        y[i] = 1.0 + 2.0 * X[2 * i] - 3.0 * X[2 * i + 1];
    ck_assert_int_eq(stats_multi_fit(X, y, 6, 2, coef, se, &rsd, &r2), 0);
    assert_close(coef[0], 1.0, 1e-13, "b0");
    assert_close(coef[1], 2.0, 1e-13, "b1");
    assert_close(coef[2], -3.0, 1e-13, "b2");
    for (i = 0; i < 3; i++)
        ck_assert_msg(se[i] < 1e-12, "se[%d] = %g", i, se[i]);
    ck_assert(rsd < 1e-12);
    assert_close(r2, 1.0, 1e-14, "r2");
}
END_TEST

START_TEST(test_weighted_slope_perfect)
{
    const double x[] = {0, 1, 2, 3, 4};
    const double w[] = {1, 2, 3, 4, 5};
    double y[5];
    struct stats_slope s;
    int i;

    for (i = 0; i < 5; i++)
        y[i] = 3.0 + 2.0 * x[i];
    ck_assert_int_eq(stats_weighted_slope(x, y, w, 5, &s), 0);
    assert_close(s.slope, 2.0, 1e-14, "slope");
    /* Zero up to rounding: the residuals are all zero. */
    ck_assert_msg(s.se < 1e-12, "se = %g", s.se);
    assert_close(s.lo, 2.0, 1e-12, "lo");
    assert_close(s.hi, 2.0, 1e-12, "hi");
}
END_TEST

START_TEST(test_weighted_slope_noisy)
{
    const double x[] = {0, 1, 2, 3, 4};
    const double y[] = {1.0, 2.9, 5.2, 6.8, 100.0};
    const double w[] = {10, 20, 15, 5, 0}; /* the last point has weight 0: it must not count */
    const double w2[] = {10, 20, 15, -1, 0};
    const double same_x[] = {2, 2, 2, 2, 2};
    double sw = 0, swx = 0, swy = 0, xb, yb, sxx = 0, sxy = 0, b, a, chi = 0, se, t;
    struct stats_slope s;
    int i;

    /* Independent weighted least squares on the four weighted points; 4 - 2 = 2 df. */
    for (i = 0; i < 4; i++) {
        sw += w[i];
        swx += w[i] * x[i];
        swy += w[i] * y[i];
    }
    xb = swx / sw;
    yb = swy / sw;
    for (i = 0; i < 4; i++) {
        sxx += w[i] * (x[i] - xb) * (x[i] - xb);
        sxy += w[i] * (x[i] - xb) * (y[i] - yb);
    }
    b = sxy / sxx;
    a = yb - b * xb;
    for (i = 0; i < 4; i++)
        chi += w[i] * (y[i] - a - b * x[i]) * (y[i] - a - b * x[i]);
    se = sqrt(chi / 2.0 / sxx);
    t = t975_df2();

    ck_assert_int_eq(stats_weighted_slope(x, y, w, 5, &s), 0);
    assert_close(s.slope, b, 1e-12, "slope");
    assert_close(s.se, se, 1e-12, "se");
    assert_close(s.lo, b - t * se, 1e-12, "lo");
    assert_close(s.hi, b + t * se, 1e-12, "hi");

    ck_assert_int_eq(stats_weighted_slope(same_x, y, w, 5, &s), -1); /* no spread in x */
    ck_assert_int_eq(stats_weighted_slope(x, y, w2, 5, &s), -1);     /* negative weight */
    ck_assert_int_eq(stats_weighted_slope(x, y, w, 2, &s), -1);      /* 2 points: no df */
    ck_assert_int_eq(stats_weighted_slope(NULL, y, w, 5, &s), -1);
}
END_TEST

START_TEST(test_t_ci)
{
    double lo, hi;

    /* {1, 2, 3}: mean 2, sd 1, 2 df. */
    stats_t_ci(2.0, 1.0, 3.0, &lo, &hi);
    assert_close(lo, 2.0 - t975_df2() / sqrt(3.0), 1e-12, "lo df2");
    assert_close(hi, 2.0 + t975_df2() / sqrt(3.0), 1e-12, "hi df2");
    /* Two observations: 1 df. */
    stats_t_ci(10.0, 2.0, 2.0, &lo, &hi);
    assert_close(lo, 10.0 - t975_df1() * 2.0 / sqrt(2.0), 1e-12, "lo df1");
    assert_close(hi, 10.0 + t975_df1() * 2.0 / sqrt(2.0), 1e-12, "hi df1");

    stats_t_ci(2.0, 1.0, 1.0, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
    stats_t_ci(2.0, -1.0, 10.0, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
    stats_t_ci(NAN, 1.0, 10.0, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
}
END_TEST

/* 2 * sum_{i <= m} C(n, i) / 2^n, exactly in integers for n <= 60. */
static double sign_p_exact(unsigned k, unsigned n)
{
    unsigned m = k < n - k ? k : n - k, i;
    uint64_t c = 1, sum = 0;

    for (i = 0; i <= m; i++) {
        sum += c;
        c = c * (n - i) / (i + 1);
    }
    return fmin(1.0, 2.0 * (double)sum / ldexp(1.0, (int)n));
}

START_TEST(test_sign_test)
{
    unsigned n, k;

    /* 2 * (1 + 10) / 1024 */
    assert_close(stats_sign_test_p(9, 10), 0.021484375, 1e-13, "9 of 10");
    assert_close(stats_sign_test_p(1, 10), 0.021484375, 1e-13, "1 of 10");
    assert_close(stats_sign_test_p(0, 5), 0.0625, 1e-13, "0 of 5");
    ck_assert(stats_sign_test_p(5, 10) == 1.0);
    ck_assert(stats_sign_test_p(0, 0) == 1.0);
    ck_assert(isnan(stats_sign_test_p(11, 10)));
    for (n = 1; n <= 40; n++)
        for (k = 0; k <= n; k++)
            assert_close(stats_sign_test_p(k, n), sign_p_exact(k, n), 1e-12, "sign p vs sum");
}
END_TEST

START_TEST(test_wilson)
{
    double lo, hi, z2 = Z975 * Z975;

    /* Ends: lower (upper) bound exactly 0 (1); the other from z^2/(n+z^2). */
    stats_wilson_ci(0, 10, &lo, &hi);
    ck_assert(lo == 0.0);
    assert_close(hi, z2 / (10.0 + z2), 1e-13, "0/10 hi");
    ck_assert(fabs(hi - 0.2775) < 5e-5); /* textbook, four decimals */
    stats_wilson_ci(10, 10, &lo, &hi);
    ck_assert(hi == 1.0);
    assert_close(lo, 10.0 / (10.0 + z2), 1e-13, "10/10 lo");
    ck_assert(fabs(lo - 0.7225) < 5e-5);
    stats_wilson_ci(5, 10, &lo, &hi);
    ck_assert(fabs(lo - 0.2366) < 5e-5 && fabs(hi - 0.7634) < 5e-5);
    assert_close(lo + hi, 1.0, 1e-15, "5/10 symmetric");

    /* Newcombe (1998), Stat Med 17:857, method 3, to four decimals. */
    stats_wilson_ci(81, 263, &lo, &hi);
    ck_assert(fabs(lo - 0.2553) < 5e-5 && fabs(hi - 0.3662) < 5e-5);
    stats_wilson_ci(15, 148, &lo, &hi);
    ck_assert(fabs(lo - 0.0624) < 5e-5 && fabs(hi - 0.1605) < 5e-5);
    stats_wilson_ci(0, 20, &lo, &hi);
    ck_assert(lo == 0.0 && fabs(hi - 0.1611) < 5e-5);
    stats_wilson_ci(1, 29, &lo, &hi);
    ck_assert(fabs(lo - 0.0061) < 5e-5 && fabs(hi - 0.1718) < 5e-5);

    stats_wilson_ci(11, 10, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
    stats_wilson_ci(0, 0, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
    stats_wilson_ci(-1, 10, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
}
END_TEST

START_TEST(test_disproportionality)
{
    /* a=10 b=90 c=20 d=880: PRR = 0.1 / (20/900) = 4.5, ROR = 8800/1800 = 44/9,
     * SE ln PRR = sqrt(1/10 - 1/100 + 1/20 - 1/900) = sqrt(125/900) = sqrt(5)/6,
     * Yates chi2 = 1000 (7000 - 500)^2 / (100 * 900 * 30 * 970). */
    struct stats_dispro r;
    double se_prr = sqrt(5.0) / 6.0;
    double se_ror = sqrt(1.0 / 10 + 1.0 / 90 + 1.0 / 20 + 1.0 / 880);
    double chi2 = 1000.0 * 6500.0 * 6500.0 / (100.0 * 900.0 * 30.0 * 970.0);

    ck_assert_int_eq(stats_disproportionality(10, 90, 20, 880, &r), 0);
    assert_close(r.prr, 4.5, 1e-14, "prr");
    assert_close(r.prr_lo, 4.5 * exp(-Z975 * se_prr), 1e-13, "prr lo");
    assert_close(r.prr_hi, 4.5 * exp(Z975 * se_prr), 1e-13, "prr hi");
    assert_close(r.ror, 44.0 / 9.0, 1e-14, "ror");
    assert_close(r.ror_lo, 44.0 / 9.0 * exp(-Z975 * se_ror), 1e-13, "ror lo");
    assert_close(r.ror_hi, 44.0 / 9.0 * exp(Z975 * se_ror), 1e-13, "ror hi");
    assert_close(r.chi2, chi2, 1e-14, "chi2");
    /* 1-df chi-square tail = P(|Z| > sqrt(chi2)) = erfc(sqrt(chi2 / 2)). */
    assert_close(r.chi2_p, erfc(sqrt(chi2 / 2.0)), 1e-10, "chi2 p");

    /* Equal cells: no signal, Yates' correction floors at 0. */
    ck_assert_int_eq(stats_disproportionality(10, 10, 10, 10, &r), 0);
    ck_assert(r.prr == 1.0 && r.ror == 1.0 && r.chi2 == 0.0 && r.chi2_p == 1.0);

    ck_assert_int_eq(stats_disproportionality(0, 90, 20, 880, &r), -1);
    ck_assert_int_eq(stats_disproportionality(10, 0, 20, 880, &r), -1);
    ck_assert_int_eq(stats_disproportionality(10, 90, 0, 880, &r), -1);
    ck_assert_int_eq(stats_disproportionality(10, 90, 20, 0, &r), -1);
    ck_assert_int_eq(stats_disproportionality(-1, 90, 20, 880, &r), -1);
    ck_assert_int_eq(stats_disproportionality(NAN, 90, 20, 880, &r), -1);
    ck_assert_int_eq(stats_disproportionality(10, INFINITY, 20, 880, &r), -1);
    ck_assert_int_eq(stats_disproportionality(10, 90, 20, 880, NULL), -1);
}
END_TEST

START_TEST(test_effect_size)
{
    ck_assert(stats_effect_size(1.5, 3.0) == 0.5);
    ck_assert(stats_effect_size(-2.0, 4.0) == -0.5);
    ck_assert(isnan(stats_effect_size(1.0, 0.0)));
    ck_assert(isnan(stats_effect_size(1.0, -1.0)));
    ck_assert(isnan(stats_effect_size(NAN, 1.0)));
}
END_TEST

START_TEST(test_hist_quantile)
{
    const double two[] = {0, 2, 2, 0};
    const double neg[] = {-5, 4, 0, 4};
    const double frac[] = {0.5, 1.5};
    const double none[] = {0, -3, 0};
    const double one[] = {0, 0, 0, 0, 0, 7};

    /* Bin i spans [i - 0.5, i + 0.5]. */
    ck_assert(stats_hist_quantile(two, 4, 0.5) == 1.5);
    ck_assert(stats_hist_quantile(two, 4, 0.25) == 1.0);
    ck_assert(stats_hist_quantile(two, 4, 0.0) == 0.5);
    ck_assert(stats_hist_quantile(two, 4, 1.0) == 2.5);
    /* The negative (noised) count is taken as 0. */
    ck_assert(stats_hist_quantile(neg, 4, 0.25) == 1.0);
    ck_assert(stats_hist_quantile(neg, 4, 0.5) == 1.5);
    ck_assert(stats_hist_quantile(neg, 4, 0.75) == 3.0);
    ck_assert(stats_hist_quantile(neg, 4, 1.0) == 3.5);
    /* Non-integer counts: total 2, median at 1 within bin 1 -> 0.5 + 0.5/1.5. */
    assert_close(stats_hist_quantile(frac, 2, 0.5), 0.5 + 0.5 / 1.5, 1e-15, "frac median");
    /* All values equal: the median is that value. */
    ck_assert(stats_hist_quantile(one, 6, 0.5) == 5.0);

    ck_assert(isnan(stats_hist_quantile(none, 3, 0.5)));
    ck_assert(isnan(stats_hist_quantile(two, 4, -0.1)));
    ck_assert(isnan(stats_hist_quantile(two, 4, 1.1)));
    ck_assert(isnan(stats_hist_quantile(two, 4, NAN)));
    ck_assert(isnan(stats_hist_quantile(two, 0, 0.5)));
    ck_assert(isnan(stats_hist_quantile(NULL, 4, 0.5)));
}
END_TEST

static Suite *measures_suite(void)
{
    Suite *s = suite_create("measures");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_mean_sd_lag1);
    tcase_add_test(tc, test_linear_fit);
    tcase_add_test(tc, test_multi_fit_collinear);
    tcase_add_test(tc, test_multi_fit_exact_plane);
    tcase_add_test(tc, test_weighted_slope_perfect);
    tcase_add_test(tc, test_weighted_slope_noisy);
    tcase_add_test(tc, test_t_ci);
    tcase_add_test(tc, test_sign_test);
    tcase_add_test(tc, test_wilson);
    tcase_add_test(tc, test_disproportionality);
    tcase_add_test(tc, test_effect_size);
    tcase_add_test(tc, test_hist_quantile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(measures_suite());
    int failed;

    gsl_set_error_handler_off();
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
