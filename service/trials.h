/* trials.h - trial recruitment: the pieces h_trials.c and the tests share.
 *
 * Who is eligible for a trial: a member account (not erased) that
 *   - is in consent_permitted_members('trial_recruitment', trial categories, commercial,
 *     organisation_for_profit, trial conditions, now)  (schema/0004_consent.sql),
 *   - matches the trial's inclusion cohort, and
 *   - does not match its exclusion cohort (when there is one),
 * all evaluated at one `now` (unix seconds). Every number about eligible members that leaves the
 * service goes through a stats_mechanism and stats_release_count (disclosure.h); the feasibility
 * count and breakdowns go through the research release (stats_measure_release) so the disclosure
 * control is the research code itself. Each release is charged to the trial's epsilon budget first,
 * atomically (svc_trial_charge): when the budget cannot cover it nothing is released. Cohorts are
 * validated against the catalog with research's lookup (svc_research_catalog).
 *
 * Thread-safe: no shared mutable state. */
#ifndef CC_TRIALS_H
#define CC_TRIALS_H

#include "svc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cohort.h"
#include "measure.h"
#include "mechanism.h"
#include "research.h" /* svc_research_catalog, svc_research_data_version */

struct db_conn;

#define SVC_TRIAL_SITES_MAX 100
#define SVC_TRIAL_CONDITIONS_MAX 32      /* catalog conditions (the consent focus limit) */
#define SVC_TRIAL_CONDITIONS_TEXT_MAX 64 /* unmapped condition names kept from an import */
#define SVC_TRIAL_EPSILON_DEFAULT 0.25   /* feasibility: per count / breakdown */
#define SVC_TRIAL_INVITE_EPSILON 0.25    /* the noisy "invited" answer */
#define SVC_TRIAL_RESPONSES_EPSILON 0.1  /* each response total */
#define SVC_TRIAL_INVITE_MAX 1000        /* invitations one request may send */
#define SVC_TRIAL_POOL_MAX 100000        /* eligible ids drawn from per invitation request */
#define SVC_TRIAL_BUDGET_DEFAULT 3.0

/* A trial as the recruitment logic needs it. */
struct svc_trial {
    char id[SVC_ID_LEN];
    char coordinator_id[SVC_ID_LEN];
    char status[12];     /* draft | recruiting | closed */
    bool approved;       /* approved, and the approval has not expired today */
    char *title;         /* owned */
    unsigned categories; /* consent.h bits */
    bool commercial, for_profit;
    char *conditions[SVC_TRIAL_CONDITIONS_MAX]; /* owned catalog ids */
    size_t nconditions;
    char countries[SVC_TRIAL_SITES_MAX][3]; /* distinct site countries, in site order */
    size_t ncountries;
    struct stats_cohort *inclusion; /* owned */
    struct stats_cohort *exclusion; /* owned; NULL when the trial has none */
};

/* Load a trial. coordinator_id non-NULL: only that coordinator's trial (another's is not found).
 * lock: SELECT ... FOR UPDATE (inside the request's transaction). Returns 1 with a new *out (free
 * with svc_trial_free), 0 if there is no such trial, -1 on a database failure or a malformed row.
 */
int svc_trial_load(struct db_conn *db, const char *id, const char *coordinator_id, bool lock,
                   struct svc_trial **out);
void svc_trial_free(struct svc_trial *t); /* NULL ok */

/* The plain-words description (stats_cohort_describe) of a stored cohort's JSON text, for
 * members: a new string (free()), or NULL if the text is not a cohort or memory runs out. */
char *svc_trial_describe(const char *cohort_json);

/* The text that identifies what a query asks (canonical cohorts, consent terms); its SHA-256 is the
 * ledger's and the audit's query_hash. A new string (free()), or NULL when out of memory. */
char *svc_trial_query_text(const struct svc_trial *t);

/* Append "SELECT cp.member_id, p.birth_year, p.country FROM ... WHERE ...": one row per eligible
 * member at now (see the top of this file). Every value is a parameter. Returns 0, or -1 (bad
 * arguments, out of memory) leaving out unchanged. */
int svc_trial_eligible_sql(const struct svc_trial *t, int64_t now, struct stats_sql *out);

/* The feasibility measures, released by the research code (stats_measure_release): [0] a count,
 * [1] a breakdown by age band, [2] a breakdown by country, each at epsilon (0.01..1.0, three
 * decimals). A breakdown's cells partition the members, so it costs epsilon once; a feasibility
 * request costs 3 * epsilon in all. */
#define SVC_TRIAL_FEASIBILITY_MEASURES 3
void svc_trial_feasibility_measures(double epsilon,
                                    struct stats_measure out[SVC_TRIAL_FEASIBILITY_MEASURES]);

/* The true aggregates of those measures over the eligible members at now, keyed as the research
 * SQL keys them ("n"; "c:<age band>"; "c:<country>"), into raw[0..2] (initialised by the caller;
 * one per measure). With record_use, every eligible member also gets a data_use row (kind
 * 'trial'; one per member and trial, its time moved forward on a repeat) in the same statement.
 * Returns 0, or -1 on a database failure (db_sqlstate tells) or out of memory. */
int svc_trial_feasibility_raw(struct db_conn *db, const struct svc_trial *t, int64_t now,
                              bool record_use,
                              struct stats_raw raw[SVC_TRIAL_FEASIBILITY_MEASURES]);

/* Release the feasibility answer from raw through mech: a new object
 *   {"count": c, "by_age_band": [{"value", "count"}...], "by_country": [{"value", "count"}...],
 *    "epsilon_per_count": e}
 * where every count is an integer or {"suppressed": true}, exactly as research releases them;
 * by_country keeps only the trial's site countries, in site order. NULL if the mechanism failed or
 * memory ran out (then nothing may be shown). */
json_t *svc_trial_feasibility_release(const struct svc_trial *t,
                                      const struct stats_raw raw[SVC_TRIAL_FEASIBILITY_MEASURES],
                                      const struct stats_mechanism *mech, double epsilon,
                                      int64_t now);

/* Charge epsilon to the trial's budget and record it in the ledger, atomically: the charge happens
 * only if spent + epsilon <= budget. Returns 1 charged, 0 the budget cannot cover it (nothing
 * changed), -1 on a database failure. query_hash: 64 hex characters. kind: feasibility,
 * invitations or responses. remaining (may be NULL) receives what is left after the charge. */
int svc_trial_charge(struct db_conn *db, const char *trial_id, const char *kind,
                     const char *query_hash, double epsilon, double *remaining);

/* Invite up to count (1..SVC_TRIAL_INVITE_MAX) eligible members, chosen uniformly at random with
 * rng (the server passes stats_rng_csprng()), skipping members already invited to this trial and
 * members with per_month or more invitations (any trial) in the last 30 days. Serialised with
 * other invitation requests by a transaction-level advisory lock, so the cap holds under
 * concurrency. message may be NULL. The invited members get (or refresh) a data_use row. *created
 * receives the exact number created (never to be shown as such). Returns 0 or -1 (database failure,
 * rng failure, out of memory). */
int svc_trial_invite(struct db_conn *db, const struct svc_trial *t, int64_t now, int count,
                     const char *message, int per_month, const struct stats_rng *rng,
                     int64_t *created);

/* Exact response totals of a trial's invitations. Returns 0 or -1 (database failure). */
struct svc_trial_responses {
    int64_t invited, accepted, declined, pending;
};
int svc_trial_response_counts(struct db_conn *db, const char *trial_id,
                              struct svc_trial_responses *out);

/* The released totals: a new object {"invited", "accepted", "declined", "pending",
 * "epsilon_per_count"}, each value stats_release_count(true + noise at epsilon, sensitivity 1).
 * NULL if the mechanism failed or memory ran out. */
json_t *svc_trial_responses_release(const struct svc_trial_responses *c,
                                    const struct stats_mechanism *mech, double epsilon);

/* ---- ClinicalTrials.gov API v2 study records ---- */

/* What an import takes from a study record. Strings are borrowed from the record. */
struct svc_ctgov {
    const char *nct_id;       /* NULL when absent or not NCT + 8 digits */
    const char *title;        /* briefTitle, else officialTitle */
    const char *summary;      /* briefSummary, or NULL */
    const char *sponsor;      /* leadSponsor.name, else organization.fullName */
    bool commercial;          /* leadSponsor class INDUSTRY */
    const char *sex;          /* "female", "male" or NULL (ALL or absent) */
    int min_age, max_age;     /* whole years, -1 when absent or not understood */
    int healthy_volunteers;   /* 1, 0, or -1 when absent */
    const char *eligibility;  /* eligibilityCriteria verbatim, or NULL */
    const json_t *conditions; /* conditionsModule.conditions array (borrowed) or NULL */
    char countries[SVC_TRIAL_SITES_MAX][3]; /* distinct location countries, ISO alpha-2 */
    size_t ncountries;
};

/* Read a study record (borrowed). Returns 0, or -1 with the offending field's path in field (e.g.
 * "protocolSection", "protocolSection.identificationModule.briefTitle") and a message in msg. Only
 * protocolSection, a title and a sponsor are required; every other module is optional, and values
 * of the wrong type are ignored as if absent. */
int svc_ctgov_read(const json_t *study, struct svc_ctgov *out, char field[96], char msg[96]);

/* "18 Years", "6 Months", "26 Weeks", "30 Days", "12 Hours", "5 Minutes" -> whole years, rounded
 * down (a month is 1/12 year, a week 7 days, a year 365.25 days), capped at 120. Returns 0, or -1
 * for anything else ("N/A", negative, no unit). */
int svc_ctgov_age_years(const char *s, int *years);

/* ISO 3166-1 alpha-2 code for a country name as ClinicalTrials.gov writes it ("United States",
 * "Korea, Republic of", "Czechia", ...), case-insensitive: a borrowed static string, or NULL. */
const char *svc_country_code(const char *name);

/* Is code an ISO 3166-1 alpha-2 code the country breakdown reports? */
bool svc_country_valid(const char *code);

/* Map a condition name to a catalog condition id: case-insensitive name match (apostrophes and
 * spacing ignored, "X, Y" also read as "Y X") and a table of common synonyms. Returns 1 with id
 * set, 0 when nothing matches, -1 on a database failure. */
int svc_condition_match(struct db_conn *db, const char *name, char id[STATS_CATALOG_ID_MAX + 1]);

#endif
