/* test_nist.c - stats/measures.c against the NIST StRD certified values.
 *
 * The certified values are parsed from each file's header; only PiDigits, a plain value list, has
 * them from /work/shared/data/README.md. Every statistic must match to 9 significant digits
 * (relative error <= 1e-9).
 *
 * Univariate data are read twice. (1) Raw, with strtod: mean and lag-1 autocorrelation must match
 * to 1e-9; the SD must match to 1e-9 plus the change that rounding the inputs to doubles can cause
 * (at most sqrt(n/(n-1)) * max|x| * 2^-53; it matters for NumAcc4 only, where 10000000.2 is not a
 * double and the SD of the doubles differs from 0.1 by 5.6e-9 relative). (2) Exactly: each decimal
 * minus the integer part of the first datum is computed in integers and converted once, so the
 * values carry full relative precision; SD, lag-1 and the mean (shift added back) must all match
 * to 1e-9.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gsl/gsl_errno.h>

#include "measures.h"

#define DATA_DIR CC_SOURCE_DIR "/../shared/data/nist"
#define MAX_FILE (1 << 20)
#define MAX_VALUES 8192
#define REL_TOL 1e-9

/* The whole file as a NUL-terminated string; the caller frees it. Fails the test if the data
 * directory or the file is missing. */
static char *slurp(const char *name)
{
    char path[512];
    struct stat st;
    FILE *f;
    char *buf;
    size_t n;

    if (stat(DATA_DIR, &st) != 0 || !S_ISDIR(st.st_mode))
        ck_abort_msg("reference data not found at %s", DATA_DIR);
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "reference file not found: %s", path);
    buf = malloc(MAX_FILE + 1);
    ck_assert_ptr_nonnull(buf);
    n = fread(buf, 1, MAX_FILE, f);
    fclose(f);
    ck_assert_msg(n < MAX_FILE, "%s is larger than expected", path);
    buf[n] = '\0';
    return buf;
}

static void assert_rel(double got, double want, double tol, const char *what, const char *set)
{
    double err = want == 0.0 ? fabs(got) : fabs(got - want) / fabs(want);
    double lim = want == 0.0 ? 1e-12 : tol;

    ck_assert_msg(isfinite(got) && err <= lim, "%s %s: got %.17g, certified %.17g (error %.3g)",
                  set, what, got, want, err);
}

/* The number after the last ':' on the first line that starts (after blanks) with key. */
static int header_value(const char *text, const char *key, double *out)
{
    const char *line = text;

    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        const char *p = line;

        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, key, strlen(key)) == 0) {
            const char *colon = NULL, *q;
            char *stop;

            for (q = p; q < (end ? end : p + strlen(p)); q++)
                if (*q == ':')
                    colon = q;
            if (colon == NULL)
                return -1;
            *out = strtod(colon + 1, &stop);
            return stop == colon + 1 ? -1 : 0;
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

/* A decimal numeral as mant * 10^-digits, exactly. */
static int parse_decimal(const char *s, long long *mant, int *digits)
{
    long long m = 0;
    int neg = 0, d = 0, seen = 0, frac = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    for (; *s != '\0' && *s != '\n' && *s != ' ' && *s != '\r'; s++) {
        if (*s == '.' && !frac) {
            frac = 1;
            continue;
        }
        if (*s < '0' || *s > '9' || m > 100000000000000LL)
            return -1;
        m = m * 10 + (*s - '0');
        seen = 1;
        d += frac;
    }
    if (!seen)
        return -1;
    *mant = neg ? -m : m;
    *digits = d;
    return 0;
}

static long long pow10ll(int d)
{
    long long p = 1;

    while (d-- > 0)
        p *= 10;
    return p;
}

struct uni {
    double raw[MAX_VALUES];     /* strtod of each datum */
    double shifted[MAX_VALUES]; /* datum - shift, exact before one rounding */
    double shift;               /* integer part of the first datum */
    size_t n;
};

/* Reads one value per line from text, skipping blank lines and '#' comments. */
static void read_values(const char *text, struct uni *u, const char *set)
{
    const char *line = text;
    long long shift = 0;

    u->n = 0;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        const char *p = line;
        long long mant;
        int digits;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0' && *p != '\n' && *p != '#' && *p != '\r') {
            long long scale;

            ck_assert_msg(parse_decimal(p, &mant, &digits) == 0 && digits <= 15,
                          "%s: bad datum line %.20s", set, p);
            ck_assert_msg(u->n < MAX_VALUES, "%s: too many values", set);
            scale = pow10ll(digits);
            if (u->n == 0)
                shift = mant / scale;
            u->raw[u->n] = strtod(p, NULL);
            u->shifted[u->n] = (double)(mant - shift * scale) / (double)scale;
            u->n++;
        }
        line = end ? end + 1 : NULL;
    }
    u->shift = (double)shift;
}

static void check_univariate(const char *set, struct uni *u, double mean, double sd, double lag1)
{
    double maxabs = 0.0, bound;
    size_t i;

    for (i = 0; i < u->n; i++)
        maxabs = fmax(maxabs, fabs(u->raw[i]));
    bound = sqrt((double)u->n / (double)(u->n - 1)) * maxabs * DBL_EPSILON / 2.0;

    assert_rel(stats_mean(u->raw, u->n), mean, REL_TOL, "mean (raw)", set);
    assert_rel(stats_lag1_autocorr(u->raw, u->n), lag1, REL_TOL, "lag-1 (raw)", set);
    assert_rel(stats_sd(u->raw, u->n), sd, REL_TOL + bound / sd, "sd (raw)", set);

    assert_rel(u->shift + stats_mean(u->shifted, u->n), mean, REL_TOL, "mean (exact)", set);
    assert_rel(stats_sd(u->shifted, u->n), sd, REL_TOL, "sd (exact)", set);
    assert_rel(stats_lag1_autocorr(u->shifted, u->n), lag1, REL_TOL, "lag-1 (exact)", set);
}

static const char *const uni_sets[] = {"Lew",     "Lottery", "Mavro",   "Michelso",
                                       "NumAcc1", "NumAcc2", "NumAcc3", "NumAcc4"};

START_TEST(test_univariate)
{
    const char *set = uni_sets[_i];
    char name[64];
    char *text, *data;
    double mean, sd, lag1, nobs;
    struct uni *u;

    snprintf(name, sizeof(name), "%s.dat", set);
    text = slurp(name);
    ck_assert_msg(header_value(text, "Sample Mean", &mean) == 0, "%s: no certified mean", set);
    ck_assert_msg(header_value(text, "Sample Standard Deviation", &sd) == 0, "%s: no SD", set);
    ck_assert_msg(header_value(text, "Sample Autocorrelation", &lag1) == 0, "%s: no lag-1", set);
    ck_assert_msg(header_value(text, "Number of Observations", &nobs) == 0, "%s: no n", set);

    /* Data start after the dashed line that follows "Data: Y". */
    data = strstr(text, "Data: Y");
    ck_assert_msg(data != NULL, "%s: no data section", set);
    data = strchr(data, '\n');
    ck_assert_ptr_nonnull(data);
    data = strchr(data + 1, '\n');
    ck_assert_ptr_nonnull(data);

    u = malloc(sizeof(*u));
    ck_assert_ptr_nonnull(u);
    read_values(data + 1, u, set);
    ck_assert_msg((double)u->n == nobs, "%s: read %zu values, header says %.0f", set, u->n, nobs);
    check_univariate(set, u, mean, sd, lag1);
    free(u);
    free(text);
}
END_TEST

START_TEST(test_pidigits)
{
    /* Certified values as given in /work/shared/data/README.md (the file has no header). */
    char *text = slurp("PiDigits_extracted_from_gsl_test_nist.txt");
    struct uni *u = malloc(sizeof(*u));

    ck_assert_ptr_nonnull(u);
    read_values(text, u, "PiDigits");
    ck_assert_uint_eq(u->n, 5000);
    ck_assert(u->raw[0] == 3.0 && u->raw[1] == 1.0 && u->raw[2] == 4.0);
    check_univariate("PiDigits", u, 4.53480000000000, 2.86733906028871, -0.00355099287237972);
    free(u);
    free(text);
}
END_TEST

/* Regression files: certified "Bk estimate sd" rows, residual SD, R^2 and the data table. */
struct reg {
    double est[16], sd[16];
    int nparam;
    double resid_sd, r2;
    double rows[64][8];
    int nrows, ncols, nobs;
};

static void parse_regression(const char *text, struct reg *g, const char *set)
{
    const char *line = text;
    int in_data = 0, have_rsd = 0, have_r2 = 0;

    memset(g, 0, sizeof(*g));
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        const char *p = line;
        char buf[256];
        size_t len = end ? (size_t)(end - line) : strlen(line);
        unsigned idx;
        double e, s;
        int used;

        ck_assert_msg(len < sizeof(buf), "%s: line too long", set);
        memcpy(buf, line, len);
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
            len--; /* so a full match can end at '\0' */
        buf[len] = '\0';
        p = buf;
        while (*p == ' ')
            p++;
        if (in_data) {
            double v[8];
            int k = 0, off = 0;

            while (k < g->ncols && sscanf(p + off, "%lf%n", &v[k], &used) == 1) {
                off += used;
                k++;
            }
            if (k > 0) {
                ck_assert_msg(k == g->ncols && g->nrows < 64, "%s: bad data row %s", set, p);
                memcpy(g->rows[g->nrows++], v, sizeof(double) * (size_t)k);
            }
        } else if ((used = -1, sscanf(p, "B%u %lf %lf%n", &idx, &e, &s, &used)) == 3 && used > 0 &&
                   p[used] == '\0') {
            ck_assert_msg(idx < 16 && (int)idx == g->nparam, "%s: parameter B%u out of order", set,
                          idx);
            g->est[idx] = e;
            g->sd[idx] = s;
            g->nparam++;
        } else if (sscanf(p, "Standard Deviation %lf", &e) == 1) {
            g->resid_sd = e;
            have_rsd = 1;
        } else if (sscanf(p, "R-Squared %lf", &e) == 1) {
            g->r2 = e;
            have_r2 = 1;
        } else if ((used = -1, sscanf(p, "%u Observations%n", &idx, &used)) == 1 && used > 0) {
            g->nobs = (int)idx;
        } else if (strncmp(p, "Data:", 5) == 0) {
            /* "Data:  y  x1 ..." heads the table; "Data:  1 Response ..." does not. */
            const char *q = p + 5;
            char word[32];
            int ncols = 0, off = 0;

            while (sscanf(q + off, "%31s%n", word, &used) == 1) {
                if (ncols == 0 && strcmp(word, "y") != 0)
                    break;
                ncols++;
                off += used;
            }
            if (ncols > 0) {
                ck_assert_msg(ncols <= 8, "%s: too many columns", set);
                g->ncols = ncols;
                in_data = 1;
            }
        }
        line = end ? end + 1 : NULL;
    }
    ck_assert_msg(g->nparam > 0 && have_rsd && have_r2, "%s: certified values not found", set);
    ck_assert_msg(g->nrows == g->nobs && g->nrows > 0, "%s: read %d rows, header says %d", set,
                  g->nrows, g->nobs);
    ck_assert_msg(g->nparam == g->ncols, "%s: %d parameters for %d columns", set, g->nparam,
                  g->ncols);
}

START_TEST(test_norris)
{
    char *text = slurp("Norris.dat");
    struct reg *g = malloc(sizeof(*g));
    double x[64], y[64];
    struct stats_linfit fit;
    int i;

    ck_assert_ptr_nonnull(g);
    parse_regression(text, g, "Norris");
    ck_assert_int_eq(g->nrows, 36);
    ck_assert_int_eq(g->nparam, 2);
    for (i = 0; i < g->nrows; i++) {
        y[i] = g->rows[i][0];
        x[i] = g->rows[i][1];
    }
    ck_assert_int_eq(stats_linear_fit(x, y, (size_t)g->nrows, &fit), 0);
    assert_rel(fit.c0, g->est[0], REL_TOL, "B0", "Norris");
    assert_rel(fit.c1, g->est[1], REL_TOL, "B1", "Norris");
    assert_rel(fit.se_c0, g->sd[0], REL_TOL, "sd(B0)", "Norris");
    assert_rel(fit.se_c1, g->sd[1], REL_TOL, "sd(B1)", "Norris");
    assert_rel(fit.resid_sd, g->resid_sd, REL_TOL, "residual SD", "Norris");
    assert_rel(fit.r2, g->r2, REL_TOL, "R^2", "Norris");
    free(g);
    free(text);
}
END_TEST

START_TEST(test_longley)
{
    char *text = slurp("Longley.dat");
    struct reg *g = malloc(sizeof(*g));
    double X[64 * 6], y[64], coef[7], se[7], rsd, r2;
    char what[32];
    int i, j;

    ck_assert_ptr_nonnull(g);
    parse_regression(text, g, "Longley");
    ck_assert_int_eq(g->nrows, 16);
    ck_assert_int_eq(g->nparam, 7);
    for (i = 0; i < g->nrows; i++) {
        y[i] = g->rows[i][0];
        for (j = 0; j < 6; j++)
            X[i * 6 + j] = g->rows[i][j + 1];
    }
    ck_assert_int_eq(stats_multi_fit(X, y, (size_t)g->nrows, 6, coef, se, &rsd, &r2), 0);
    for (j = 0; j < 7; j++) {
        snprintf(what, sizeof(what), "B%d", j);
        assert_rel(coef[j], g->est[j], REL_TOL, what, "Longley");
        snprintf(what, sizeof(what), "sd(B%d)", j);
        assert_rel(se[j], g->sd[j], REL_TOL, what, "Longley");
    }
    assert_rel(rsd, g->resid_sd, REL_TOL, "residual SD", "Longley");
    assert_rel(r2, g->r2, REL_TOL, "R^2", "Longley");
    free(g);
    free(text);
}
END_TEST

static Suite *nist_suite(void)
{
    Suite *s = suite_create("nist");
    TCase *tc = tcase_create("strd");

    tcase_add_loop_test(tc, test_univariate, 0, (int)(sizeof(uni_sets) / sizeof(uni_sets[0])));
    tcase_add_test(tc, test_pidigits);
    tcase_add_test(tc, test_norris);
    tcase_add_test(tc, test_longley);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nist_suite());
    int failed;

    gsl_set_error_handler_off();
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
