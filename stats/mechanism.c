/* mechanism.c - the noise mechanism interface; see mechanism.h. */
#include "mechanism.h"

#include <stddef.h>

/* ctx is the struct stats_rng to draw from. stats_noisy_count checks the ranges and does the exact
 * rational arithmetic; noise on 0 is the noise itself. */
static int laplace_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    return stats_noisy_count(ctx, 0, sensitivity, epsilon, out);
}

/* The server's mechanism: the CSPRNG is fetched per call, so the mechanism is a constant. */
static int csprng_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    (void)ctx;
    return stats_noisy_count(stats_rng_csprng(), 0, sensitivity, epsilon, out);
}

const struct stats_mechanism *stats_mechanism_laplace(void)
{
    static const struct stats_mechanism m = {csprng_noise, NULL};

    return &m;
}

void stats_mechanism_laplace_rng(struct stats_mechanism *m, const struct stats_rng *rng)
{
    if (!m)
        return;
    m->noise = laplace_noise;
    m->ctx = (void *)rng;
}

int stats_mechanism_noisy(const struct stats_mechanism *m, int64_t value, uint64_t sensitivity,
                          double epsilon, int64_t *out)
{
    int64_t noise;

    if (!m || !m->noise || !out || m->noise(m->ctx, sensitivity, epsilon, &noise) != 0)
        return -1;
    if (noise > 0 && value > INT64_MAX - noise)
        *out = INT64_MAX;
    else if (noise < 0 && value < INT64_MIN - noise)
        *out = INT64_MIN;
    else
        *out = value + noise;
    return 0;
}
