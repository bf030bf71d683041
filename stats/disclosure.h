/* disclosure.h - what may be displayed: small-cell suppression and rounding of released counts.
 *
 * Rule for a count (applied to the value after noise): round to the nearest multiple of 5, then
 * suppress if either the noisy value or its rounding is below STATS_MIN_CELL. So 0..12 and every
 * negative value are suppressed (11 and 12 would round to 10), 13 shows as 15, 17 as 15, 18 as 20.
 * An integer is never exactly halfway between multiples of 5, so "halves up" never arises.
 *
 * Pure C, no global mutable state, thread-safe.
 */
#ifndef CC_STATS_DISCLOSURE_H
#define CC_STATS_DISCLOSURE_H

#include <stdint.h>

#include <jansson.h>

#define STATS_MIN_CELL 11

/* The released form of a noisy count: a new reference to {"suppressed":true} or to an integer
 * (the rounded value). The caller owns it (json_decref). NULL only if allocation fails. */
json_t *stats_release_count(int64_t noisy);

/* Same rule returning the number: 0 with *out = the rounded value, or 1 if suppressed (*out is
 * then set to 0). Defined for every int64_t; rounding near INT64_MAX goes down, never overflows.
 * Returns -1 only if out is NULL. */
int stats_release_count_value(int64_t noisy, int64_t *out);

/* x rounded to digits significant digits for display (round half to even on the exact binary
 * value, as printf does). digits in [1, 17]; otherwise NAN. 0, infinities and NAN come back
 * unchanged. */
double stats_round_sig(double x, int digits);

#endif
