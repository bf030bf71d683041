/* measure.h - research measures: JSON -> validated measure, SQL that computes its true aggregates
 * over a consented cohort, and the release of those aggregates as differentially private JSON.
 *
 * The flow for one measure:
 *   stats_measures_parse()      validates the request's "measures" array;
 *   stats_measure_sql()         builds one parameterised SELECT returning rows (k text, v bigint):
 *                               the true aggregates, keyed ("n", "s", "h:3", "c:female", ...);
 *   (the caller runs it and feeds every row to stats_raw_add())
 *   stats_measure_release()     adds noise through a stats_mechanism to every count and sum, then
 *                               suppresses and rounds (disclosure.h) and derives statistics from
 *                               the noisy values only.
 * Every member's contribution is bounded (clamping table and sensitivities in measure.c and
 * docs/privacy.md "## Disclosure control"). A measure's epsilon is split into parts; a part with
 * share k gets epsilon / k (stats_measure_parts), and the shares of a measure sum to one.
 *
 * Pure C: no database, no HTTP, no global mutable state; thread-safe.
 */
#ifndef CC_STATS_MEASURE_H
#define CC_STATS_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cohort.h"
#include "mechanism.h"

#define STATS_MEASURES_MAX 10 /* measures in one query */
#define STATS_MEASURE_EPSILON_DEFAULT 0.1
#define STATS_MEASURE_MAX_PARTS 5       /* epsilon parts of one measure */
#define STATS_RAW_MAX 4096              /* aggregate rows one measure may return */
#define STATS_RAW_KEY_MAX 79            /* bytes in one aggregate key */
#define STATS_SIDE_EFFECTS_PER_MEMBER 5 /* side effects one member contributes (outcomes) */
#define STATS_TOP_SIDE_EFFECTS 10       /* side effects listed by medication_outcomes */
#define STATS_BREAKDOWN_CELLS_MAX 251   /* largest public domain (countries + other + unknown) */

enum stats_measure_type {
    STATS_M_COUNT,
    STATS_M_BREAKDOWN,
    STATS_M_SYMPTOM_DISTRIBUTION,
    STATS_M_SYMPTOM_TREND,
    STATS_M_TREATMENT_EFFECT,
    STATS_M_MEDICATION_OUTCOMES,
    STATS_M_SIDE_EFFECT_SIGNAL,
};

enum stats_breakdown_by { STATS_BY_AGE_BAND, STATS_BY_SEX_AT_BIRTH, STATS_BY_COUNTRY };
enum stats_interval { STATS_INTERVAL_WEEK, STATS_INTERVAL_MONTH };

/* A validated measure. Fields a type does not use are zero / "". epsilon is k / 1000. */
struct stats_measure {
    enum stats_measure_type type;
    double epsilon;
    enum stats_breakdown_by by;
    char symptom[STATS_CATALOG_ID_MAX + 1];
    char medication[STATS_CATALOG_ID_MAX + 1];
    char side_effect[STATS_CATALOG_ID_MAX + 1];
    int window_days;              /* symptom_distribution: 1..3650 */
    enum stats_interval interval; /* symptom_trend */
    int periods;                  /* symptom_trend: 1..104 */
    int before_days, after_days;  /* treatment_effect: 1..365 each */
};

/* Parse and validate a JSON array of 1..STATS_MEASURES_MAX measures (borrowed). path names the
 * array in error paths ("measures"; NULL means "measures"): errors read "measures[2].epsilon".
 * Catalog ids are checked with cat (NULL: no id is known). Errors are APPENDED to errs (which may
 * be NULL), up to STATS_COHORT_MAX_ERRORS in all. Returns 0 with out[0..*n-1] filled, or -1. */
int stats_measures_parse(const json_t *json, const char *path, stats_catalog_fn cat, void *cat_ctx,
                         struct stats_measure out[STATS_MEASURES_MAX], size_t *n,
                         struct stats_errors *errs);

/* A measure in canonical form, every field present (defaults filled in): a new reference, or
 * NULL on allocation failure. Dumped with JSON_SORT_KEYS it is the measure's canonical text. */
json_t *stats_measure_json(const struct stats_measure *m);

/* The canonical query text {"cohort": <canonical cohort>, "measures": [...]} with sorted keys,
 * compact; measures keep their order. A new string (free()), or NULL. Equivalent queries give
 * identical text, so its hash identifies a repeat. */
char *stats_query_canonical(const struct stats_cohort *c, const struct stats_measure *m, size_t n);

/* One part of a measure's epsilon: it is released at epsilon / share with L1 sensitivity
 * `sensitivity` (the most one member can change that part's cells, summed over them). The noise
 * is drawn as DLap(share * sensitivity / epsilon): the mechanism is called with sensitivity
 * share * sensitivity and the measure's epsilon, which keeps epsilon an exact k / 1000. */
struct stats_part {
    const char *name; /* static string */
    unsigned share;
    uint64_t sensitivity;
};
/* Fills out[0..] (room for STATS_MEASURE_MAX_PARTS) in the order noise is drawn; returns how
 * many, 0 if m is NULL or invalid. The shares' reciprocals sum to exactly 1. */
size_t stats_measure_parts(const struct stats_measure *m,
                           struct stats_part out[STATS_MEASURE_MAX_PARTS]);

/* Who may be counted: members with a research permit (consent_permitted_members at now(), with
 * the study's categories, flags and condition focus) who are in the cohort at `now`. */
struct stats_population {
    const struct stats_cohort *cohort; /* borrowed; required */
    unsigned categories;               /* consent.h category bits, 1..31 */
    bool commercial, for_profit;
    const char *const *focus; /* catalog condition ids (borrowed); empty for general research */
    size_t nfocus;            /* <= 32 */
    int64_t now;              /* unix seconds: the cohort's and the measures' "now" */
    /* When set: the population was already materialised in this table (an identifier chosen by the
     * server, never input; see stats_population_table_sql) and every query reads it instead of
     * recomputing consent and cohort. */
    const char *table;
    /* The table holds member_id alone: no measure of the request reads demographics (see
     * stats_measures_read_demographics). A breakdown over such a table is refused. */
    bool members_only;
};

/* Whether any of m[0..n-1] reads the population's demographics (a breakdown). */
bool stats_measures_read_demographics(const struct stats_measure *m, size_t n);

/* Append "WITH pop AS (...) SELECT member_id FROM pop": one row per member counted. Returns 0,
 * or -1 (bad arguments, out of memory) leaving out as it was. */
int stats_population_sql(const struct stats_population *pop, struct stats_sql *out);

/* Append "CREATE TEMP TABLE <table> ON COMMIT DROP AS ..." (temporary) or "CREATE UNLOGGED TABLE
 * <table> AS ..." holding the population (member_id, birth_year, sex_at_birth, country; member_id
 * alone when pop->members_only), computed once per request. Parallel workers can read only the
 * second; its creator drops it. table: a lower-case identifier from code ([a-z_][a-z0-9_]*,
 * optionally schema-qualified). Same return as above. */
int stats_population_table_sql(const struct stats_population *pop, const char *table,
                               bool temporary, struct stats_sql *out);

/* Append the measure's aggregate query: rows (k text, v bigint). Same return as above. */
int stats_measure_sql(const struct stats_measure *m, const struct stats_population *pop,
                      struct stats_sql *out);

/* True aggregates keyed as the SQL returns them. A key never seen is 0. */
struct stats_raw_cell {
    char key[STATS_RAW_KEY_MAX + 1];
    int64_t value;
};
struct stats_raw {
    struct stats_raw_cell *cells; /* owned */
    size_t n, cap;
};
void stats_raw_init(struct stats_raw *r);
void stats_raw_free(struct stats_raw *r); /* NULL ok; leaves r initialised */
/* Record key = value (a repeated key adds, saturating). Returns 0, or -1 if the key is empty or
 * longer than STATS_RAW_KEY_MAX, there are already STATS_RAW_MAX keys, or memory runs out. */
int stats_raw_add(struct stats_raw *r, const char *key, int64_t value);
int64_t stats_raw_get(const struct stats_raw *r, const char *key);

/* Release one measure: a new JSON object (the measure's canonical fields plus its results), or
 * NULL if the mechanism failed or memory ran out (then nothing may be shown). Every count is
 * true + noise then stats_release_count; statistics come from noisy values only and are
 * {"suppressed": true} when their noisy n is below STATS_MIN_CELL. The response's shape depends
 * only on the measure and on noisy values. now labels trend periods. */
json_t *stats_measure_release(const struct stats_measure *m, const struct stats_raw *raw,
                              const struct stats_mechanism *mech, int64_t now);

/* Name of a type ("count", ...): a borrowed static string, NULL for an unknown type. */
const char *stats_measure_type_name(enum stats_measure_type t);

/* The public ISO 3166-1 alpha-2 list the country breakdown reports (sorted): *n receives its
 * length; a borrowed static array. */
const char *const *stats_country_codes(size_t *n);

#endif
