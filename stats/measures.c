/* measures.c - plain statistics on arrays; see measures.h for the contracts. */
#include "measures.h"

#include <math.h>
#include <stdint.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_vector.h>

/* Two-sided 95%: the 0.975 quantile of the standard normal. */
static double z975(void)
{
    return gsl_cdf_ugaussian_Pinv(0.975);
}

/* The mean by two passes: the second pass adds the mean residual, which recovers the digits the
 * first sum loses when values are large and close together (NIST NumAcc). */
static double mean_of(const double *x, size_t n)
{
    double s = 0.0, r = 0.0, m;
    size_t i;

    for (i = 0; i < n; i++)
        s += x[i];
    m = s / (double)n;
    for (i = 0; i < n; i++)
        r += x[i] - m;
    return m + r / (double)n;
}

/* Sum of squared deviations from m, corrected for the rounding of m (the "corrected two-pass"
 * algorithm: the second term is zero in exact arithmetic). */
static double sum_sq_dev(const double *x, size_t n, double m)
{
    double ss = 0.0, s = 0.0;
    size_t i;

    for (i = 0; i < n; i++) {
        double d = x[i] - m;
        ss += d * d;
        s += d;
    }
    return ss - s * s / (double)n;
}

double stats_mean(const double *x, size_t n)
{
    if (x == NULL || n == 0 || n > STATS_MAX_N)
        return NAN;
    return mean_of(x, n);
}

double stats_sd(const double *x, size_t n)
{
    double ss;

    if (x == NULL || n < 2 || n > STATS_MAX_N)
        return NAN;
    ss = sum_sq_dev(x, n, mean_of(x, n));
    if (ss < 0.0)
        ss = 0.0;
    return sqrt(ss / (double)(n - 1));
}

double stats_lag1_autocorr(const double *x, size_t n)
{
    double m, num = 0.0, den;
    size_t i;

    if (x == NULL || n < 2 || n > STATS_MAX_N)
        return NAN;
    m = mean_of(x, n);
    for (i = 0; i + 1 < n; i++)
        num += (x[i] - m) * (x[i + 1] - m);
    den = sum_sq_dev(x, n, m);
    if (!(den > 0.0))
        return NAN;
    return num / den;
}

int stats_linear_fit(const double *x, const double *y, size_t n, struct stats_linfit *out)
{
    double c0, c1, cov00, cov01, cov11, sse, sst;
    struct stats_linfit r;

    if (x == NULL || y == NULL || out == NULL || n < 3 || n > STATS_MAX_N)
        return -1;
    if (gsl_fit_linear(x, 1, y, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &sse) != GSL_SUCCESS)
        return -1;
    sst = sum_sq_dev(y, n, mean_of(y, n));
    r.c0 = c0;
    r.c1 = c1;
    r.se_c0 = sqrt(cov00);
    r.se_c1 = sqrt(cov11);
    r.resid_sd = sqrt(sse / (double)(n - 2));
    r.r2 = 1.0 - sse / sst;
    /* No spread in x gives infinities or NaN from GSL; none of them may escape. */
    if (!isfinite(r.c0) || !isfinite(r.c1) || !isfinite(r.se_c0) || !isfinite(r.se_c1) ||
        !isfinite(r.resid_sd))
        return -1;
    *out = r;
    return 0;
}

int stats_multi_fit(const double *X, const double *y, size_t n, size_t p, double *coef, double *se,
                    double *resid_sd, double *r2)
{
    gsl_matrix *A = NULL, *cov = NULL;
    gsl_vector *yv = NULL, *c = NULL;
    gsl_multifit_linear_workspace *work = NULL;
    double chisq, sst;
    size_t i, j;
    int rc = -1;

    if (X == NULL || y == NULL || coef == NULL || se == NULL || resid_sd == NULL || r2 == NULL)
        return -1;
    if (p == 0 || p > STATS_MAX_FIT_P || n <= p + 1 || n > STATS_MAX_FIT_N)
        return -1;

    A = gsl_matrix_alloc(n, p + 1);
    cov = gsl_matrix_alloc(p + 1, p + 1);
    yv = gsl_vector_alloc(n);
    c = gsl_vector_alloc(p + 1);
    work = gsl_multifit_linear_alloc(n, p + 1);
    if (A == NULL || cov == NULL || yv == NULL || c == NULL || work == NULL)
        goto out;

    for (i = 0; i < n; i++) {
        gsl_matrix_set(A, i, 0, 1.0);
        for (j = 0; j < p; j++)
            gsl_matrix_set(A, i, j + 1, X[i * p + j]);
        gsl_vector_set(yv, i, y[i]);
    }
    /* gsl_multifit_linear balances the columns before its SVD, which is what keeps Longley's
     * badly conditioned design accurate. */
    if (gsl_multifit_linear(A, yv, c, cov, &chisq, work) != GSL_SUCCESS)
        goto out;
    /* A collinear design would silently get a truncated-SVD answer; refuse it instead. */
    if (gsl_multifit_linear_rank(GSL_DBL_EPSILON, work) != p + 1)
        goto out;

    sst = sum_sq_dev(y, n, mean_of(y, n));
    for (j = 0; j <= p; j++) {
        coef[j] = gsl_vector_get(c, j);
        se[j] = sqrt(gsl_matrix_get(cov, j, j));
        if (!isfinite(coef[j]) || !isfinite(se[j]))
            goto out;
    }
    *resid_sd = sqrt(chisq / (double)(n - p - 1));
    *r2 = 1.0 - chisq / sst;
    if (!isfinite(*resid_sd))
        goto out;
    rc = 0;
out:
    gsl_multifit_linear_free(work);
    gsl_vector_free(c);
    gsl_vector_free(yv);
    gsl_matrix_free(cov);
    gsl_matrix_free(A);
    return rc;
}

int stats_weighted_slope(const double *x, const double *y, const double *w, size_t k,
                         struct stats_slope *out)
{
    double c0, c1, cov00, cov01, cov11, chisq, t;
    struct stats_slope r;
    size_t i, m = 0;

    if (x == NULL || y == NULL || w == NULL || out == NULL || k > STATS_MAX_N)
        return -1;
    for (i = 0; i < k; i++) {
        if (!isfinite(w[i]) || w[i] < 0.0)
            return -1;
        if (w[i] > 0.0)
            m++;
    }
    if (m < 3)
        return -1;
    if (gsl_fit_wlinear(x, 1, w, 1, y, 1, k, &c0, &c1, &cov00, &cov01, &cov11, &chisq) !=
        GSL_SUCCESS)
        return -1;
    t = gsl_cdf_tdist_Pinv(0.975, (double)(m - 2));
    r.slope = c1;
    r.se = sqrt(cov11 * chisq / (double)(m - 2));
    r.lo = r.slope - t * r.se;
    r.hi = r.slope + t * r.se;
    if (!isfinite(r.slope) || !isfinite(r.se) || !isfinite(r.lo) || !isfinite(r.hi))
        return -1;
    *out = r;
    return 0;
}

void stats_t_ci(double mean, double sd, double n, double *lo, double *hi)
{
    double h;

    if (lo == NULL || hi == NULL)
        return;
    *lo = *hi = NAN;
    if (!isfinite(mean) || !isfinite(sd) || !isfinite(n) || sd < 0.0 || n < 2.0)
        return;
    h = gsl_cdf_tdist_Pinv(0.975, n - 1.0) * sd / sqrt(n);
    if (!isfinite(h))
        return;
    *lo = mean - h;
    *hi = mean + h;
}

double stats_sign_test_p(unsigned k, unsigned n)
{
    unsigned m;
    double p;

    if (k > n)
        return NAN;
    if (n == 0)
        return 1.0;
    m = k < n - k ? k : n - k;
    p = 2.0 * gsl_cdf_binomial_P(m, 0.5, n);
    return p > 1.0 ? 1.0 : p;
}

void stats_wilson_ci(double k, double n, double *lo, double *hi)
{
    double z, z2, ph, den, centre, half;

    if (lo == NULL || hi == NULL)
        return;
    *lo = *hi = NAN;
    if (!isfinite(k) || !isfinite(n) || n <= 0.0 || n > STATS_MAX_CELL || k < 0.0 || k > n)
        return;
    z = z975();
    z2 = z * z;
    ph = k / n;
    den = 1.0 + z2 / n;
    centre = (ph + z2 / (2.0 * n)) / den;
    half = z / den * sqrt(ph * (1.0 - ph) / n + z2 / (4.0 * n * n));
    /* At k = 0 and k = n one bound is exactly 0 or 1; do not let rounding move it. */
    *lo = k == 0.0 ? 0.0 : fmax(0.0, centre - half);
    *hi = k == n ? 1.0 : fmin(1.0, centre + half);
}

static int cell_ok(double v)
{
    return isfinite(v) && v > 0.0 && v <= STATS_MAX_CELL;
}

int stats_disproportionality(double a, double b, double c, double d, struct stats_dispro *out)
{
    double z, se, nn, diff, prod;
    struct stats_dispro r;

    if (out == NULL || !cell_ok(a) || !cell_ok(b) || !cell_ok(c) || !cell_ok(d))
        return -1;
    z = z975();

    r.prr = (a / (a + b)) / (c / (c + d));
    se = sqrt(1.0 / a - 1.0 / (a + b) + 1.0 / c - 1.0 / (c + d));
    r.prr_lo = exp(log(r.prr) - z * se);
    r.prr_hi = exp(log(r.prr) + z * se);

    r.ror = (a * d) / (b * c);
    se = sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d);
    r.ror_lo = exp(log(r.ror) - z * se);
    r.ror_hi = exp(log(r.ror) + z * se);

    nn = a + b + c + d;
    diff = fabs(a * d - b * c) - nn / 2.0;
    if (diff < 0.0)
        diff = 0.0;
    prod = (a + b) * (c + d) * (a + c) * (b + d);
    r.chi2 = nn * diff * diff / prod;
    r.chi2_p = gsl_cdf_chisq_Q(r.chi2, 1.0);
    *out = r;
    return 0;
}

double stats_effect_size(double mean_change, double sd_change)
{
    if (!isfinite(mean_change) || !isfinite(sd_change) || sd_change <= 0.0)
        return NAN;
    return mean_change / sd_change;
}

double stats_hist_quantile(const double *counts, size_t nbins, double q)
{
    double total = 0.0, target, cum = 0.0;
    size_t i, last = 0;

    if (counts == NULL || nbins == 0 || nbins > STATS_MAX_BINS || !(q >= 0.0 && q <= 1.0))
        return NAN;
    for (i = 0; i < nbins; i++) {
        if (isnan(counts[i]))
            return NAN;
        if (counts[i] > 0.0) {
            total += counts[i];
            last = i;
        }
    }
    if (!(total > 0.0) || !isfinite(total))
        return NAN;

    target = q * total;
    for (i = 0; i < nbins; i++) {
        double c = counts[i] > 0.0 ? counts[i] : 0.0;

        if (c > 0.0 && cum + c >= target) {
            double f = (target - cum) / c;
            return (double)i - 0.5 + (f < 0.0 ? 0.0 : f);
        }
        cum += c;
    }
    /* Rounding in the running sum can leave q = 1 just past the end. */
    return (double)last + 0.5;
}
