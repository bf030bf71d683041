/* disclosure.c - small-cell suppression and display rounding; see disclosure.h. */
#include "disclosure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int stats_release_count_value(int64_t noisy, int64_t *out)
{
    int64_t rem, rounded;

    if (out == NULL)
        return -1;
    *out = 0;
    if (noisy < STATS_MIN_CELL)
        return 1;
    /* noisy >= 11 here, so rem is 0..4 and the result cannot overflow: INT64_MAX % 5 == 2. */
    rem = noisy % 5;
    rounded = noisy - rem + (rem >= 3 ? 5 : 0);
    if (rounded < STATS_MIN_CELL)
        return 1;
    *out = rounded;
    return 0;
}

json_t *stats_release_count(int64_t noisy)
{
    int64_t v;

    if (stats_release_count_value(noisy, &v) != 0)
        return json_pack("{s:b}", "suppressed", 1);
    return json_integer((json_int_t)v);
}

double stats_round_sig(double x, int digits)
{
    char buf[64];

    if (digits < 1 || digits > 17)
        return NAN;
    if (x == 0.0 || !isfinite(x))
        return x;
    /* printf rounds the exact binary value correctly, which pow(10, k) scaling does not. */
    snprintf(buf, sizeof(buf), "%.*e", digits - 1, x);
    return strtod(buf, NULL);
}
