/* noise.c - exact discrete Laplace sampling (Canonne, Kamath, Steinke 2020); see noise.h. */
#include "noise.h"

#include <limits.h>
#include <math.h>

#include <openssl/rand.h>

/* Loop caps. Each is reached with probability below 2^-128 when the source is truly random; then
 * the source is presumed broken and the call fails rather than spin. */
#define UNIFORM_TRIES 128  /* each try accepts with probability > 1/2 */
#define BERN_K_MAX 40      /* P(K > k) <= 1/k! and 1/40! < 2^-158 */
#define BERN_WHOLE_MAX 128 /* surviving k rounds of Bernoulli(exp(-1)) has probability e^-k */
#define DLAP_V_MAX 128     /* P(V >= v) = e^-v */
#define DLAP_TRIES 512     /* each try accepts with probability >= e^-1 / 2 */

static int csprng_bytes(void *ctx, unsigned char *buf, size_t n)
{
    (void)ctx;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;

        if (RAND_bytes(buf, chunk) != 1)
            return -1;
        buf += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

static const struct stats_rng csprng = {csprng_bytes, NULL};

const struct stats_rng *stats_rng_csprng(void)
{
    return &csprng;
}

int stats_rng_uniform(const struct stats_rng *r, uint64_t n, uint64_t *out)
{
    unsigned char buf[8];
    uint64_t mask, v;
    int bits, nbytes, tries, i;

    if (r == NULL || r->bytes == NULL || out == NULL || n == 0)
        return -1;
    if (n == 1) {
        *out = 0;
        return 0;
    }
    bits = 64 - __builtin_clzll(n - 1);
    nbytes = (bits + 7) / 8;
    mask = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    for (tries = 0; tries < UNIFORM_TRIES; tries++) {
        if (r->bytes(r->ctx, buf, (size_t)nbytes) != 0)
            return -1;
        v = 0;
        for (i = 0; i < nbytes; i++)
            v |= (uint64_t)buf[i] << (8 * i);
        v &= mask;
        /* Reject rather than reduce modulo n: a power-of-two range folded onto n is biased. */
        if (v < n) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Bernoulli(num / den) for 0 <= num <= den, den >= 1. */
static int bernoulli_frac(const struct stats_rng *r, uint64_t num, uint64_t den, int *out)
{
    uint64_t u;

    if (stats_rng_uniform(r, den, &u) != 0)
        return -1;
    *out = u < num;
    return 0;
}

/* Bernoulli(exp(-gamma)) for gamma = num/den in [0, 1]: the parity of the first K at which a
 * Bernoulli(gamma / K) comes up 0 (Algorithm 1, first branch). */
static int bernoulli_exp_le1(const struct stats_rng *r, uint64_t num, uint64_t den, int *out)
{
    uint64_t k;
    int a;

    for (k = 1; k <= BERN_K_MAX; k++) {
        /* den <= 2^32 and k <= 40, so den * k cannot overflow. */
        if (bernoulli_frac(r, num, den * k, &a) != 0)
            return -1;
        if (!a) {
            *out = (int)(k & 1);
            return 0;
        }
    }
    return -1;
}

int stats_bernoulli_exp(const struct stats_rng *r, uint64_t num, uint64_t den, int *out)
{
    uint64_t whole, i;
    int b;

    if (r == NULL || out == NULL || den == 0 || den > STATS_NOISE_MAX || num > STATS_NOISE_MAX)
        return -1;
    if (num <= den)
        return bernoulli_exp_le1(r, num, den, out);

    /* exp(-gamma) = exp(-1)^floor(gamma) * exp(-frac(gamma)): stop at the first failure. */
    whole = num / den;
    for (i = 0; i < whole; i++) {
        if (i == BERN_WHOLE_MAX)
            return -1;
        if (bernoulli_exp_le1(r, 1, 1, &b) != 0)
            return -1;
        if (!b) {
            *out = 0;
            return 0;
        }
    }
    return bernoulli_exp_le1(r, num - whole * den, den, out);
}

int stats_discrete_laplace(const struct stats_rng *r, uint64_t num, uint64_t den, int64_t *out)
{
    /* Algorithm 2 with t = num and s = den: the sample has scale t/s. */
    uint64_t t = num, s = den, u, v, x, y, half;
    int d, a, tries;

    if (r == NULL || out == NULL || t == 0 || s == 0 || t > STATS_NOISE_MAX || s > STATS_NOISE_MAX)
        return -1;
    for (tries = 0; tries < DLAP_TRIES; tries++) {
        if (stats_rng_uniform(r, t, &u) != 0)
            return -1;
        if (bernoulli_exp_le1(r, u, t, &d) != 0)
            return -1;
        if (!d)
            continue;
        /* V ~ Geometric(1 - e^-1), so X = U + tV ~ Geometric(1 - e^(-1/t)). */
        for (v = 0;; v++) {
            if (v == DLAP_V_MAX)
                return -1;
            if (bernoulli_exp_le1(r, 1, 1, &a) != 0)
                return -1;
            if (!a)
                break;
        }
        x = u + t * v; /* < 2^32 * 129: no overflow */
        y = x / s;
        if (stats_rng_uniform(r, 2, &half) != 0)
            return -1;
        /* Both signs would count zero twice; drop "-0" to keep the pmf symmetric. */
        if (half == 1 && y == 0)
            continue;
        *out = half ? -(int64_t)y : (int64_t)y;
        return 0;
    }
    return -1;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

int stats_epsilon_rational(double epsilon, uint64_t *num, uint64_t *den)
{
    double scaled, k;
    uint64_t g, ki;

    if (num == NULL || den == NULL || !isfinite(epsilon))
        return -1;
    scaled = epsilon * 1000.0;
    k = nearbyint(scaled);
    /* A value with three decimals lands within a few ulps of an integer; anything else is off
     * by at least 0.1 of a thousandth. */
    if (fabs(scaled - k) > 1e-6 || k < 10.0 || k > 1000.0)
        return -1;
    ki = (uint64_t)k;
    g = gcd_u64(ki, 1000);
    *num = ki / g;
    *den = 1000 / g;
    return 0;
}

int stats_noisy_count(const struct stats_rng *r, int64_t value, uint64_t sensitivity,
                      double epsilon, int64_t *out)
{
    uint64_t en, ed, tn, td, g;
    int64_t noise;

    if (r == NULL || out == NULL || sensitivity == 0 || sensitivity > STATS_MAX_SENSITIVITY)
        return -1;
    if (stats_epsilon_rational(epsilon, &en, &ed) != 0)
        return -1;
    /* scale = sensitivity / (en/ed) = sensitivity * ed / en <= 10^6 * 1000 / 1 < 2^32 */
    tn = sensitivity * ed;
    td = en;
    g = gcd_u64(tn, td);
    if (stats_discrete_laplace(r, tn / g, td / g, &noise) != 0)
        return -1;
    if (noise > 0 && value > INT64_MAX - noise)
        *out = INT64_MAX;
    else if (noise < 0 && value < INT64_MIN - noise)
        *out = INT64_MIN;
    else
        *out = value + noise;
    return 0;
}
