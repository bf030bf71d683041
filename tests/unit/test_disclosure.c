/* test_disclosure.c - stats/disclosure.c: suppression below 11 (before and after rounding to 5),
 * the released JSON, and significant-digit rounding. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "disclosure.h"

/* The compact JSON text of stats_release_count(v); the caller frees it. */
static char *released_text(int64_t v)
{
    json_t *j = stats_release_count(v);
    char *s;

    ck_assert_ptr_nonnull(j);
    s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(test_suppressed)
{
    /* Below 11, and 11 and 12 too (they would round to 10). */
    static const int64_t v[] = {0, 1,  2,  3,  4,  5,  6,     7,         8,
                                9, 10, 11, 12, -1, -5, -1000, INT64_MIN, INT64_MIN + 1};
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t out = 12345;
        char *s;

        ck_assert_msg(stats_release_count_value(v[i], &out) == 1, "%lld not suppressed",
                      (long long)v[i]);
        ck_assert_int_eq(out, 0);
        s = released_text(v[i]);
        ck_assert_str_eq(s, "{\"suppressed\":true}");
        free(s);
    }
}
END_TEST

START_TEST(test_rounded)
{
    static const int64_t in[] = {13,           14, 15, 16,   17,   18,   19,        20,
                                 21,           22, 23, 1000, 1002, 1003, INT64_MAX, INT64_MAX - 2,
                                 INT64_MAX - 4};
    static const int64_t want[] = {15,
                                   15,
                                   15,
                                   15,
                                   15,
                                   20,
                                   20,
                                   20,
                                   20,
                                   20,
                                   25,
                                   1000,
                                   1000,
                                   1005,
                                   INT64_MAX - 2,
                                   INT64_MAX - 2,
                                   INT64_MAX - 2};
    size_t i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        int64_t out = -1;
        json_t *j;

        ck_assert_int_eq(stats_release_count_value(in[i], &out), 0);
        ck_assert_msg(out == want[i], "%lld -> %lld, want %lld", (long long)in[i], (long long)out,
                      (long long)want[i]);
        ck_assert(out % 5 == 0 && out >= STATS_MIN_CELL);
        j = stats_release_count(in[i]);
        ck_assert_ptr_nonnull(j);
        ck_assert(json_is_integer(j));
        ck_assert(json_integer_value(j) == want[i]);
        json_decref(j);
    }
    ck_assert_int_eq(stats_release_count_value(20, NULL), -1);
}
END_TEST

START_TEST(test_round_sig)
{
    ck_assert(stats_round_sig(123456.0, 3) == 123000.0);
    ck_assert(stats_round_sig(0.00123456, 3) == 0.00123);
    ck_assert(stats_round_sig(-2.71828, 3) == -2.72);
    ck_assert(stats_round_sig(9.996, 3) == 10.0);
    ck_assert(stats_round_sig(0.04875, 2) == 0.049); /* 0.04875 is stored slightly above */
    ck_assert(stats_round_sig(1.0 / 3.0, 1) == 0.3);
    ck_assert(stats_round_sig(6.02214076e23, 4) == 6.022e23);
    ck_assert(stats_round_sig(1.5e-300, 1) == 2e-300);
    ck_assert(stats_round_sig(0.1 + 0.2, 17) == 0.1 + 0.2);
    ck_assert(stats_round_sig(0.0, 3) == 0.0);
    ck_assert(isinf(stats_round_sig(INFINITY, 3)));
    ck_assert(isnan(stats_round_sig(NAN, 3)));
    ck_assert(isnan(stats_round_sig(1.0, 0)));
    ck_assert(isnan(stats_round_sig(1.0, 18)));
}
END_TEST

static Suite *disclosure_suite(void)
{
    Suite *s = suite_create("disclosure");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_suppressed);
    tcase_add_test(tc, test_rounded);
    tcase_add_test(tc, test_round_sig);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(disclosure_suite());
    int failed;

    gsl_set_error_handler_off();
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
