/* measures.h - plain statistics on arrays of doubles.
 *
 * No noise is added here: these functions run on values that were already noised (or on reference
 * data, for validation against NIST StRD). Pure C, no global mutable state, thread-safe. GSL is
 * used with its return codes; nothing here relies on GSL's error handler (the server turns it off
 * with gsl_set_error_handler_off() at start, and so do the tests).
 *
 * Limits: arrays hold at most STATS_MAX_N values; the multiple regression takes at most
 * STATS_MAX_FIT_P predictors and STATS_MAX_FIT_N rows; histograms have at most STATS_MAX_BINS
 * bins. Out-of-range input gives NAN (for functions returning a double) or -1 (for functions
 * returning int) and never crashes. Every 95% interval uses the exact 0.975 quantile of the
 * relevant distribution (z = 1.959963984540054 for normal-based intervals), not 1.96.
 *
 * Ownership: no function here allocates anything the caller must free; results are plain values
 * or written into caller-provided storage.
 */
#ifndef CC_STATS_MEASURES_H
#define CC_STATS_MEASURES_H

#include <stddef.h>

#define STATS_MAX_N 10000000u   /* values in one array */
#define STATS_MAX_FIT_N 262144u /* rows in one multiple regression */
#define STATS_MAX_FIT_P 16u     /* predictors in one multiple regression (intercept excluded) */
#define STATS_MAX_BINS 1048576u /* bins in one histogram */
#define STATS_MAX_CELL 1e15     /* largest 2x2 table cell accepted */

/* Mean of x[0..n-1] (two-pass, corrected). NAN if x is NULL, n == 0 or n > STATS_MAX_N. */
double stats_mean(const double *x, size_t n);

/* Sample standard deviation (denominator n-1), two-pass. NAN if n < 2 or n > STATS_MAX_N. */
double stats_sd(const double *x, size_t n);

/* Lag-1 autocorrelation, NIST definition (as GSL's gsl_stats_lag1_autocorrelation):
 * sum_{i<n-1} (x_i - m)(x_{i+1} - m) / sum_i (x_i - m)^2. NAN if n < 2, n > STATS_MAX_N or all
 * values are equal. */
double stats_lag1_autocorr(const double *x, size_t n);

/* Ordinary least squares y = c0 + c1 x: coefficients, their standard errors, residual SD
 * (denominator n-2) and R^2. Returns 0, or -1 (out untouched) if n < 3, n > STATS_MAX_N, x has no
 * spread, or a result is not finite. */
struct stats_linfit {
    double c0, c1, se_c0, se_c1, resid_sd, r2;
};
int stats_linear_fit(const double *x, const double *y, size_t n, struct stats_linfit *out);

/* Multiple regression with intercept, y = b0 + sum_j bj X[i][j]. X is row-major n x p and does not
 * hold the intercept column. Writes coef[0..p] and se[0..p] (index 0 = intercept), the residual SD
 * (denominator n-p-1) and R^2. Uses gsl_multifit_linear on the full design matrix. Returns 0, or
 * -1 if p == 0, p > STATS_MAX_FIT_P, n <= p + 1, n > STATS_MAX_FIT_N, the design is rank
 * deficient, allocation fails or a result is not finite (outputs then unspecified). */
int stats_multi_fit(const double *X, const double *y, size_t n, size_t p, double *coef, double *se,
                    double *resid_sd, double *r2);

/* Weighted least squares slope of y on x with weights w (e.g. per-period n / var), via
 * gsl_fit_wlinear. The weights are taken as relative: the slope's variance is GSL's cov11 scaled
 * by chisq / (m - 2), m = number of points with w > 0, so a perfect line has SE 0. The 95% CI is
 * slope -/+ t(0.975, m - 2) * SE. Returns 0, or -1 (out untouched) if k > STATS_MAX_N, a weight is
 * negative or not finite, m < 3, the weighted x has no spread or a result is not finite. */
struct stats_slope {
    double slope, se, lo, hi;
};
int stats_weighted_slope(const double *x, const double *y, const double *w, size_t k,
                         struct stats_slope *out);

/* 95% t confidence interval for a mean: mean -/+ t(0.975, n - 1) * sd / sqrt(n). n need not be an
 * integer (it may be a noised count). *lo and *hi are NAN if n < 2, sd < 0 or an input is not
 * finite. */
void stats_t_ci(double mean, double sd, double n, double *lo, double *hi);

/* Two-sided exact sign test: k of n non-tied pairs improved, X ~ Binomial(n, 1/2);
 * p = min(1, 2 P(X <= min(k, n - k))). 1.0 when n == 0; NAN if k > n. */
double stats_sign_test_p(unsigned k, unsigned n);

/* Wilson score 95% interval for the proportion k/n, clamped to [0, 1]. NAN if n <= 0, k < 0,
 * k > n, n > STATS_MAX_CELL or an input is not finite. */
void stats_wilson_ci(double k, double n, double *lo, double *hi);

/* Disproportionality from a 2x2 table: a (drug and event), b (drug, no event), c (other drugs and
 * event), d (other drugs, no event). PRR = [a/(a+b)] / [c/(c+d)], ROR = ad / bc, both with 95% CIs
 * by the log method (SE ln PRR = sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d)), SE ln ROR =
 * sqrt(1/a + 1/b + 1/c + 1/d)); Pearson chi-square with Yates' correction,
 * N (max(0, |ad - bc| - N/2))^2 / ((a+b)(c+d)(a+c)(b+d)), and its 1-df p-value. Cells may be
 * non-integer (noised). Returns 0, or -1 (out untouched) if any cell is zero, since then a ratio
 * or its log interval is undefined, or if a cell is negative, not finite or > STATS_MAX_CELL. */
struct stats_dispro {
    double prr, prr_lo, prr_hi, ror, ror_lo, ror_hi, chi2, chi2_p;
};
int stats_disproportionality(double a, double b, double c, double d, struct stats_dispro *out);

/* Standardised effect for paired changes: mean_change / sd_change. NAN if sd_change <= 0 or an
 * input is not finite. */
double stats_effect_size(double mean_change, double sd_change);

/* Quantile q in [0, 1] of a histogram over the integer grid 0..nbins-1. Counts may be non-integer
 * (noised); negative counts are taken as 0. Bin i spreads its count uniformly over
 * [i - 0.5, i + 0.5] (class boundaries of integer data) and the quantile is interpolated
 * linearly within the bin where the cumulative count reaches q * total. So q = 0 gives the lower
 * boundary of the first non-empty bin and q = 1 the upper boundary of the last one. NAN if counts
 * is NULL, nbins == 0 or > STATS_MAX_BINS, q is outside [0, 1], or the total is <= 0 or not finite.
 */
double stats_hist_quantile(const double *counts, size_t nbins, double q);

#endif
