/* libFuzzer target for the cohort language: arbitrary bytes -> json_loadb -> parse -> canonical ->
 * describe -> compile -> free. Also checks that canonical text is a fixed point: when it parses
 * again (flattening can give an all/any more than 16 children, which does not), its canonical text
 * is the same. Not part of the CMake build. From the repository root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I stats stats/cohort.c \
 *       tests/fuzz/fuzz_cohort.c -o fuzz_cohort -ljansson
 *   ./fuzz_cohort -max_total_time=120 corpus_dir/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cohort.h"

/* Every well-formed id is known except those starting with 'z', so both paths are reachable. */
static int fuzz_catalog(void *ctx, const char *kind, const char *id)
{
    (void)ctx;
    (void)kind;
    return id[0] != 'z';
}

static char *canonical_of(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    struct stats_cohort *c;
    char *s = NULL;

    if (!j)
        abort(); /* canonical text is always JSON */
    c = stats_cohort_parse(j, "cohort", fuzz_catalog, NULL, NULL);
    if (c)
        s = stats_cohort_canonical(c);
    stats_cohort_free(c);
    json_decref(j);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stats_errors errs;
    struct stats_cohort *c;
    struct stats_sql sql;
    char *canon, *again, *words;
    const char *ids[8];
    json_t *j;
    int i;

    j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    c = stats_cohort_parse(j, "cohort", fuzz_catalog, NULL, &errs);
    if (!c) {
        if (errs.n < 1 || errs.n > STATS_COHORT_MAX_ERRORS)
            abort();
        for (i = 0; i < errs.n; i++)
            if (strnlen(errs.e[i].path, sizeof(errs.e[i].path)) == sizeof(errs.e[i].path) ||
                strnlen(errs.e[i].message, sizeof(errs.e[i].message)) == sizeof(errs.e[i].message))
                abort();
        json_decref(j);
        return 0;
    }
    canon = stats_cohort_canonical(c);
    if (!canon)
        abort();
    again = canonical_of(canon);
    if (again && strcmp(again, canon) != 0)
        abort();
    words = stats_cohort_describe(c);
    if (!words)
        abort();
    stats_sql_init(&sql);
    if (stats_cohort_compile(c, "p.member_id", "p", 1700000000, &sql) != 0)
        abort();
    if (strchr(sql.text, ';') || strstr(sql.text, "--"))
        abort(); /* values never reach the text */
    (void)stats_cohort_conditions(c, ids, 8);
    stats_sql_free(&sql);
    free(words);
    free(again);
    free(canon);
    stats_cohort_free(c);
    json_decref(j);
    return 0;
}
