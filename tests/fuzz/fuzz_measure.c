/* libFuzzer target for research measures: the request side (parse -> canonical -> SQL) and the
 * release side (raw aggregates -> noise -> suppression -> statistics), which the database and the
 * mechanism feed with values no request controls but which must still never crash or overflow.
 *
 * Input: the "measures" JSON text, then a NUL, then a stream of 9-byte records. Each record is a
 * key selector (one byte) and an int64 value (eight bytes, little endian): the first records fill
 * the raw aggregates (keys from the vocabulary the SQL uses, values anywhere in int64), the rest
 * are the noise the mechanism returns, in order (0 once the stream runs out). Checks:
 * - parse fails with 1..32 bounded errors, or succeeds;
 * - the canonical query text parses again to the same text;
 * - the SQL has no ';' or "--" and never contains a catalog id: ids travel as parameters;
 * - release returns an object, or NULL only when the mechanism failed (it does not here).
 * Not part of the CMake build; tests/fuzz/run.sh builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cohort.h"
#include "measure.h"

/* Well-formed ids starting with "zz" are known, others not: both paths are reachable, and a known
 * id is distinctive enough to look for in the SQL text. */
static int fuzz_catalog(void *ctx, const char *kind, const char *id)
{
    (void)ctx;
    (void)kind;
    return strncmp(id, "zz", 2) == 0;
}

struct stream {
    const uint8_t *p;
    size_t n;
};

static int next(struct stream *s, uint8_t *sel, int64_t *v)
{
    uint64_t u = 0;
    int i;

    if (s->n < 9)
        return -1;
    *sel = s->p[0];
    for (i = 0; i < 8; i++)
        u |= (uint64_t)s->p[1 + i] << (8 * i);
    *v = (int64_t)u;
    s->p += 9;
    s->n -= 9;
    return 0;
}

/* The mechanism: noise straight from the stream, whatever the sensitivity and epsilon. */
static int stream_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    uint8_t sel;

    (void)sensitivity;
    (void)epsilon;
    if (next(ctx, &sel, out) < 0)
        *out = 0;
    return 0;
}

static const char *const fixed_keys[] = {
    "n",
    "s",
    "q",
    "imp",
    "wor",
    "a",
    "b",
    "c",
    "d",
    "c:female",
    "c:male",
    "c:GB",
    "c:XX",
    "c:not_recorded",
    "c:0-9",
    "c:90+",
    "e:major",
    "e:not_rated",
    "a:always",
    "st:cost",
    "st:not_given",
    "se:zz_nausea",
    "se:zz_fatigue",
    "se:headache",
    "h:0",
    "h:5",
    "h:10",
    "h:11",
};

static void raw_key(uint8_t sel, char *key, size_t len)
{
    static const char *const per[] = {"n:%u", "s:%u", "q:%u", "h:%u"};

    if (sel < 128) {
        snprintf(key, len, "%s", fixed_keys[sel % (sizeof(fixed_keys) / sizeof(fixed_keys[0]))]);
        return;
    }
    /* Period and bin keys, a few beyond the largest valid index. */
    snprintf(key, len, per[sel & 3], (unsigned)((sel >> 2) & 31) * 4 % 110);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    struct stream st = {nul ? nul + 1 : data + size, nul ? size - jlen - 1 : 0};
    struct stats_measure m[STATS_MEASURES_MAX];
    struct stats_mechanism mech = {stream_noise, &st};
    struct stats_errors errs = {.n = 0};
    struct stats_cohort *c = NULL;
    struct stats_raw raw;
    json_t *j, *cj;
    size_t n = 0, i;
    char *canon = NULL;
    int k;

    j = json_loadb((const char *)data, jlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (stats_measures_parse(j, "measures", fuzz_catalog, NULL, m, &n, &errs) != 0) {
        if (errs.n < 1 || errs.n > STATS_COHORT_MAX_ERRORS)
            abort();
        for (k = 0; k < errs.n; k++)
            if (strnlen(errs.e[k].path, sizeof(errs.e[k].path)) == sizeof(errs.e[k].path) ||
                strnlen(errs.e[k].message, sizeof(errs.e[k].message)) == sizeof(errs.e[k].message))
                abort();
        json_decref(j);
        return 0;
    }
    if (n < 1 || n > STATS_MEASURES_MAX)
        abort();

    /* Canonical text is a fixed point. */
    cj = json_pack("{s:[{s:s}]}", "all", "sex_at_birth", "female");
    if (!cj || !(c = stats_cohort_parse(cj, "cohort", fuzz_catalog, NULL, NULL)))
        abort();
    if (!(canon = stats_query_canonical(c, m, n)))
        abort();
    {
        json_t *q = json_loads(canon, 0, NULL);
        struct stats_measure m2[STATS_MEASURES_MAX];
        size_t n2 = 0;
        char *again;

        if (!q ||
            stats_measures_parse(json_object_get(q, "measures"), "measures", fuzz_catalog, NULL, m2,
                                 &n2, NULL) != 0 ||
            n2 != n || !(again = stats_query_canonical(c, m2, n2)))
            abort();
        if (strcmp(again, canon) != 0)
            abort();
        free(again);
        json_decref(q);
    }

    stats_raw_init(&raw);
    for (i = 0; i < 48; i++) {
        uint8_t sel;
        int64_t v;
        char key[STATS_RAW_KEY_MAX + 1];

        if (next(&st, &sel, &v) < 0)
            break;
        if (sel == 255)
            break; /* the rest is noise */
        raw_key(sel, key, sizeof(key));
        if (stats_raw_add(&raw, key, v) != 0)
            abort();
    }

    for (i = 0; i < n; i++) {
        struct stats_population pop = {.cohort = c, .categories = 31, .now = 1700000000};
        struct stats_sql sql;
        json_t *out;

        stats_sql_init(&sql);
        if (stats_measure_sql(&m[i], &pop, &sql) != 0)
            abort();
        if (strchr(sql.text, ';') || strstr(sql.text, "--"))
            abort();
        if ((m[i].symptom[0] && strstr(sql.text, m[i].symptom)) ||
            (m[i].medication[0] && strstr(sql.text, m[i].medication)) ||
            (m[i].side_effect[0] && strstr(sql.text, m[i].side_effect)))
            abort(); /* ids are parameters, never text */
        stats_sql_free(&sql);

        out = stats_measure_release(&m[i], &raw, &mech, 1700000000 + (int64_t)(i * 86400 * 45));
        if (!json_is_object(out))
            abort();
        json_decref(out);
    }
    stats_raw_free(&raw);
    free(canon);
    stats_cohort_free(c);
    json_decref(cj);
    json_decref(j);
    return 0;
}
