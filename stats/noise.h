/* noise.h - the differential privacy mechanism: exact discrete Laplace noise.
 *
 * Sampling follows Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy"
 * (2020): Algorithm 1 (Bernoulli(exp(-gamma)) for rational gamma) and Algorithm 2 (discrete
 * Laplace with rational scale). Only integer arithmetic and uniform random integers are used, so
 * there is no floating-point leak of the kind Mironov (2012) showed for continuous Laplace.
 *
 * Bounds: every rational num/den has 1 <= den <= STATS_NOISE_MAX and num <= STATS_NOISE_MAX
 * (the discrete Laplace scale also needs num >= 1). With these bounds no intermediate overflows.
 * Out-of-range arguments return -1. Every loop that waits on randomness is capped far beyond any
 * probability that matters (the cap is hit with probability < 2^-128 for a true random source),
 * so a broken source returns -1 instead of hanging.
 *
 * Thread-safety: no global mutable state. A struct stats_rng is used by one call at a time unless
 * its bytes() is itself thread-safe, as the CSPRNG source is. Nothing here allocates: results go
 * into caller-provided storage.
 */
#ifndef CC_STATS_NOISE_H
#define CC_STATS_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define STATS_NOISE_MAX (UINT64_C(1) << 32) /* largest numerator / denominator accepted */
#define STATS_MAX_SENSITIVITY 1000000u      /* largest sensitivity for stats_noisy_count */

/* A source of uniformly random bytes: bytes() fills buf[0..n-1] and returns 0, or returns nonzero
 * on failure. The server always uses stats_rng_csprng() (OpenSSL RAND_bytes); tests inject their
 * own source. There is deliberately no zero-noise source in the library. */
struct stats_rng {
    int (*bytes)(void *ctx, unsigned char *buf, size_t n);
    void *ctx;
};

/* The OpenSSL CSPRNG (RAND_bytes). Returns a borrowed pointer to a static constant; thread-safe. */
const struct stats_rng *stats_rng_csprng(void);

/* Uniform integer in [0, n) by rejection sampling on the smallest covering power of two, so there
 * is no modulo bias. n >= 1 (n == 1 gives 0 without using the source). Returns 0, or -1 on a
 * source failure or n == 0. */
int stats_rng_uniform(const struct stats_rng *r, uint64_t n, uint64_t *out);

/* Bernoulli(exp(-num/den)) exactly (Algorithm 1 of CKS 2020); *out is 0 or 1.
 * 1 <= den <= STATS_NOISE_MAX, num <= STATS_NOISE_MAX. Returns 0 or -1. */
int stats_bernoulli_exp(const struct stats_rng *r, uint64_t num, uint64_t den, int *out);

/* Discrete Laplace with scale t = num/den, P(x) proportional to exp(-|x| / t), exactly
 * (Algorithm 2 of CKS 2020). 1 <= num, den <= STATS_NOISE_MAX. Returns 0 or -1. */
int stats_discrete_laplace(const struct stats_rng *r, uint64_t num, uint64_t den, int64_t *out);

/* epsilon as a rational: epsilon in [0.01, 1.0] with at most 3 decimals becomes k/1000 reduced to
 * lowest terms (0.1 -> 1/10). Returns 0, or -1 if epsilon is out of range, has more decimals or is
 * not a number. */
int stats_epsilon_rational(double epsilon, uint64_t *num, uint64_t *den);

/* Noisy integer: value + DLap(sensitivity / epsilon). 1 <= sensitivity <= STATS_MAX_SENSITIVITY
 * (0 would mean no noise, which is never allowed); epsilon as for stats_epsilon_rational. The sum
 * saturates at INT64_MIN / INT64_MAX instead of overflowing. Returns 0 or -1. */
int stats_noisy_count(const struct stats_rng *r, int64_t value, uint64_t sensitivity,
                      double epsilon, int64_t *out);

#endif
