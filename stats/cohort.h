/* The cohort language: a JSON description of a group of members, validated into a tree, rendered
 * as canonical text and plain words, and compiled to a parameterised SQL boolean expression.
 *
 * Grammar (a cohort is one node; every node object has exactly one key):
 *   {"all": [node, ...]}, {"any": [node, ...]} (1..16 children), {"not": node}
 *   {"age": {"min": 0..120, "max": 0..120}}             at least one of them; min <= max
 *   {"sex_at_birth": "female"|"male"|"intersex"|"unknown"}
 *   {"country": "GB"} or {"country": ["GB", "IE"]}      upper-case alpha-2 codes, 1..50 of them
 *   {"postal_prefix": "SW1"}                            1..3 letters or digits, any case
 *   {"condition": {"condition": id, "status"?: active|remission|resolved,
 *                  "diagnosed_before"?: "YYYY-MM-DD", "diagnosed_after"?: "YYYY-MM-DD"}}
 *   {"symptom": {"symptom": id, "min_severity"?: 0..10, "max_severity"?: 0..10,
 *                "within_days"?: 1..3650, "at_least_entries"?: 1..1000,
 *                "weeks"?: {"at_least": 1..104, "of_last": 1..104}}}
 *   {"medication": {"medication": id, "current"?: bool, "ever"?: bool,
 *                   "started_within_days"?: 1..3650,
 *                   "stop_reason"?: side_effects|not_effective|cost|remission|doctor_advice|other}}
 *   {"evaluation": {"medication": id, "effectiveness_at_least"?: none|slight|moderate|major,
 *                   "side_effect"?: symptom id}}
 *   {"goal": {"kind"?: symptom_target|adherence|custom, "status"?: active|achieved|abandoned}}
 * Limits: nesting depth <= 8 (the root is depth 1), at most 64 nodes in all.
 *
 * Meaning, evaluated at `now` (unix seconds; "today" is the UTC date of now):
 * - age is EXTRACT(year FROM now) - birth_year. A member without a profile row (or with the field
 *   unset) never matches a demographic criterion, so "not" of one matches them.
 * - postal_prefix matches profiles whose prefix, upper-cased, starts with it.
 * - diagnosed_before/after compare the stored diagnosed_date strictly (< and >); a diagnosis given
 *   as a year or month is stored as its first day. after must be earlier than before.
 * - symptom: entries of that catalog symptom within the severity bounds and, when given, within
 *   the last within_days * 24 hours. At least one such entry; with at_least_entries, that many;
 *   with weeks, such entries in at least `at_least` distinct weeks of the last `of_last`, week k
 *   being floor((now - recorded_at) / 7 days) for k in 0..of_last-1. All given conditions hold.
 * - medication: a record of it started on or before today (and, when given, within
 *   started_within_days and with that stop_reason). current:true needs such a record running
 *   today (stopped_on null or after today); current:false needs such a record and none running;
 *   ever:false means no record started on or before today and combines with no other field.
 * - evaluation: an evaluation of a record of that medication with effectiveness at or above the
 *   level (cant_tell and unrated never match) and, when given, a side effect of that symptom whose
 *   severity is not "none".
 * - goal: a goal of that kind and status, when given.
 *
 * Everything here is reentrant; nothing keeps state between calls. */
#ifndef CC_STATS_COHORT_H
#define CC_STATS_COHORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define STATS_COHORT_MAX_DEPTH 8
#define STATS_COHORT_MAX_NODES 64
#define STATS_COHORT_MAX_CHILDREN 16
#define STATS_COHORT_MAX_COUNTRIES 50
#define STATS_COHORT_MAX_ERRORS 32
/* Catalog ids are 2..64 characters of [a-z0-9_] (see schema/0002_catalog.sql). */
#define STATS_CATALOG_ID_MAX 64
/* stats_sql refuses to grow past these. */
#define STATS_SQL_MAX_TEXT (1u << 20)
#define STATS_SQL_MAX_PARAMS 65535

/* Catalog lookup supplied by the caller (the server answers from the DB or a cache). Return 1 if
 * the id exists in that kind's catalog, 0 if not. kind: "symptom", "condition", "medication". Only
 * called with well-formed ids. Must be thread-safe if parse is called from several threads. */
typedef int (*stats_catalog_fn)(void *ctx, const char *kind, const char *id);

struct stats_error {
    char path[160];
    char message[160];
};
struct stats_errors {
    struct stats_error e[STATS_COHORT_MAX_ERRORS];
    int n;
};

struct stats_cohort; /* opaque validated tree */

/* Parse and validate. root_path is the prefix for error paths ("cohort"; NULL means "cohort").
 * Returns a new tree or NULL with errs filled (errs may be NULL if the caller does not want them).
 * Errors are collected (up to 32), except that too deep or too many nodes stops at once with that
 * one error. A NULL cat means no id is known. The json is borrowed. */
struct stats_cohort *stats_cohort_parse(const json_t *json, const char *root_path,
                                        stats_catalog_fn cat, void *cat_ctx,
                                        struct stats_errors *errs);
void stats_cohort_free(struct stats_cohort *c); /* NULL ok */

/* Canonical form for repeat detection: a new compact JSON string (free with free()) where keys are
 * sorted, all/any children are sorted by their canonical text and deduplicated, nested all-in-all /
 * any-in-any are flattened, not(not x) = x, single-child all/any collapse to the child, country
 * lists are sorted and deduplicated (one code is written as a string), postal prefixes are upper
 * case, and fields equal to their default are omitted (symptom min_severity 0, max_severity 10,
 * at_least_entries 1; medication ever true). Equivalent spellings give identical text. The text is
 * for comparison: flattening can give an all/any more than 16 children, which parse rejects.
 * NULL if c is NULL or memory runs out. */
char *stats_cohort_canonical(const struct stats_cohort *c);

/* Growable SQL text with parameters (all parameters are passed as text; the SQL casts them:
 * $3::int). Initialise with stats_sql_init (or zero it). */
struct stats_sql {
    char *text; /* NUL-terminated, or NULL while empty */
    size_t len, cap;
    char **params; /* owned copies; an entry may be NULL (SQL NULL) */
    int nparams, capparams;
};
void stats_sql_init(struct stats_sql *s);
/* Frees everything and leaves s initialised. NULL ok. */
void stats_sql_free(struct stats_sql *s);
/* printf-style, for SQL TEXT only (never values). Returns 0, or -1 (out of memory or over
 * STATS_SQL_MAX_TEXT) leaving s unchanged. */
int stats_sql_append(struct stats_sql *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends "$N", N = ++nparams, keeping a copy of value (NULL = SQL NULL). Returns N, or -1 leaving
 * s unchanged. */
int stats_sql_param(struct stats_sql *s, const char *value);
/* Undoes everything appended since s had len bytes of text and np parameters. NULL ok. */
void stats_sql_truncate(struct stats_sql *s, size_t len, int np);

/* Append a boolean SQL expression that is true for the member whose id is the SQL expression
 * `member_col` (e.g. "p.member_id"), whose profile row is aliased `profile_alias` (e.g. "p"; it may
 * come from a LEFT JOIN), evaluated at `now` (unix seconds; passed as a parameter, never spliced).
 * Every value from the cohort is a parameter. member_col must be an identifier or alias.column and
 * profile_alias an identifier, neither starting with "coh_" (the expression's own aliases).
 * The expression is never NULL. Returns 0, or -1 (bad arguments, out of memory) leaving out as it
 * was. */
int stats_cohort_compile(const struct stats_cohort *c, const char *member_col,
                         const char *profile_alias, int64_t now, struct stats_sql *out);

/* The same for part of a cohort, so that a query can apply the cheap criteria first and the costly
 * ones (those counting a member's symptom entries or weeks) only to the members left: CHEAP is the
 * conjunction of the cohort's top-level criteria (those under a top-level "all", else the root)
 * that are not costly, COSTLY that of the rest; either is TRUE when empty. CHEAP AND COSTLY is
 * exactly WHOLE. */
enum stats_cohort_part { STATS_COHORT_WHOLE, STATS_COHORT_CHEAP, STATS_COHORT_COSTLY };
int stats_cohort_compile_part(const struct stats_cohort *c, const char *member_col,
                              const char *profile_alias, int64_t now, enum stats_cohort_part part,
                              struct stats_sql *out);

/* The same, where facts_alias is a member_facts row (schema 0022) rather than a profile: a
 * condition criterion without status or dates reads its conditions list (an index lookup) instead
 * of member_condition. Same contract and result. */
int stats_cohort_compile_facts(const struct stats_cohort *c, const char *member_col,
                               const char *facts_alias, int64_t now, enum stats_cohort_part part,
                               struct stats_sql *out);

/* Appends the relation a population's facts rows come from (the facts_alias rows above):
 * member_facts, or, when a top-level criterion is a catalog condition with any status and date,
 * a subquery of that condition's rows of member_condition_facts (schema 0024), which has every
 * member_facts column and holds them in one key range. The condition is a parameter. Returns 0,
 * or -1 (NULL arguments, out of memory) leaving out as it was. */
int stats_cohort_facts_source(const struct stats_cohort *c, struct stats_sql *out);

/* The same for rows from stats_cohort_facts_source(c): the condition that chose the rows is
 * not tested again (TRUE wherever it appears plainly). Same contract. */
int stats_cohort_compile_facts_from(const struct stats_cohort *c, const char *member_col,
                                    const char *facts_alias, int64_t now,
                                    enum stats_cohort_part part, struct stats_sql *out);

/* Appends a boolean SQL expression, never NULL: whether the member of the facts row facts_alias
 * (member_facts or member_condition_facts; an identifier) permits a use for purpose ("research" or
 * "trial_recruitment": the row's r_ or t_ columns) of the categories (mask 1..31), commercial and
 * for profit as given, focused on focus (a text[] literal of catalog condition ids, "{}" for none),
 * at unix time at, or at now() when at < 0. Values are parameters. The row's summary decides
 * members on its fast path (consent_facts_fast, schema 0027); the member's grants decide the rest,
 * through an inlined subquery (consent_permits_rows: one index probe each) or, when parallel,
 * through a call of consent_permits (several times dearer per member, but PostgreSQL 15 runs a
 * correlated subquery only in the leader, so the subquery would keep the whole scan serial).
 * Returns 0, or -1 (bad arguments, out of memory) leaving out as it was. */
int stats_cohort_consent_sql(struct stats_sql *out, const char *facts_alias, const char *purpose,
                             unsigned categories, bool commercial, bool for_profit,
                             const char *focus, int64_t at, bool parallel);

/* Whether any criterion of the cohort, anywhere, is costly in the sense above (counts a member's
 * symptom entries or weeks: one aggregate per member). false for NULL. */
bool stats_cohort_counts_entries(const struct stats_cohort *c);

/* Plain-words rendering for members ("Has multiple sclerosis; aged 40 to 60; ..."): a new string
 * (free with free()), or NULL if c is NULL or memory runs out. */
char *stats_cohort_describe(const struct stats_cohort *c);

/* Condition catalog ids the cohort mentions (anywhere, also under "not"), for consent focus: fills
 * out with up to max distinct ids (borrowed pointers into the tree, valid until it is freed) in
 * order of first mention and returns how many were written. */
size_t stats_cohort_conditions(const struct stats_cohort *c, const char **out, size_t max);

#endif
