/* mechanism.h - the noise mechanism every released number goes through.
 *
 * A mechanism draws the noise for one released integer whose true value changes by at most
 * `sensitivity` when one member is added or removed, at privacy cost `epsilon`. The server uses
 * exactly one: stats_mechanism_laplace(), exact discrete Laplace noise with scale
 * sensitivity / epsilon drawn from OpenSSL's CSPRNG (noise.h). There is deliberately no zero-noise
 * mechanism here and no switch in the server; tests define their own in the test file.
 *
 * Thread-safety: the Laplace mechanisms keep no state of their own; they are as thread-safe as the
 * random source they draw from (the CSPRNG one is).
 */
#ifndef CC_STATS_MECHANISM_H
#define CC_STATS_MECHANISM_H

#include <stdint.h>

#include "noise.h"

/* noise() writes the noise to add (not the noisy value) to *out and returns 0, or returns -1
 * (bad arguments, source failure): the caller then releases nothing. sensitivity >= 1 and
 * epsilon as stats_epsilon_rational accepts (0.01..1.0, at most 3 decimals). */
struct stats_mechanism {
    int (*noise)(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out);
    void *ctx;
};

/* Discrete Laplace(sensitivity / epsilon) from the OpenSSL CSPRNG. A borrowed pointer to a static
 * constant; thread-safe. */
const struct stats_mechanism *stats_mechanism_laplace(void);

/* The same discrete Laplace mechanism over another random source (tests use a deterministic
 * one). Fills *m; the rng is borrowed and must outlive m. */
void stats_mechanism_laplace_rng(struct stats_mechanism *m, const struct stats_rng *rng);

/* value + noise(sensitivity, epsilon), saturating at INT64_MIN / INT64_MAX. Returns 0, or -1
 * (m, m->noise or out NULL, or the mechanism failed; *out is then untouched). */
int stats_mechanism_noisy(const struct stats_mechanism *m, int64_t value, uint64_t sensitivity,
                          double epsilon, int64_t *out);

#endif
