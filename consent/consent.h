/* consent.h - a member's consent grants and their evaluation against a proposed use.
 *
 * Pure C: no database, no HTTP, no global mutable state. Every function here is thread-safe.
 *
 * Evaluation rules (the specification; the SQL version of these rules must agree exactly):
 *
 *  1. A grant is *in force* at time t iff status == CONSENT_ACTIVE and valid_from <= t and
 *     (valid_until == 0 or t < valid_until). Withdrawn, expired and superseded grants never count,
 *     whatever their dates. A grant with valid_until != 0 and valid_until <= valid_from is never in
 *     force.
 *  2. The use is evaluated per category: each category bit c in use->categories independently.
 *  3. A PERMIT grant covers (use, c) iff it is in force at use->at, grant purpose == use purpose,
 *     c is in the grant's categories, and
 *     a. if grant nconditions > 0 (disease-specific): the use has a non-empty focus and every focus
 *        condition is in the grant's list (a general use is NOT covered by a disease-specific
 *        permit); a permit with nconditions == 0 covers any focus, including none;
 *     b. if non_commercial: !use->commercial;
 *     c. if not_for_profit_only: !use->for_profit.
 *  4. A DENY grant covers (use, c) iff it is in force at use->at, grant purpose == use purpose,
 *     c is in the grant's categories, and
 *     a. if grant nconditions > 0: the use's focus shares at least one condition with the grant's
 *        list (so a general use is not covered by a disease-specific deny); a deny with
 *        nconditions == 0 covers any focus, including none;
 *     b. if non_commercial: use->commercial (such a deny denies commercial uses only);
 *     c. if not_for_profit_only: use->for_profit (such a deny denies for-profit uses only).
 *  5. Category c is permitted iff some PERMIT covers it and no DENY covers it (deny overrides
 *     permit; default deny). The use is permitted iff every category in it is permitted.
 *  6. Invalid input is denied with CONSENT_R_INVALID and never crashes. Invalid means any of:
 *     use == NULL; use->categories == 0 or outside CONSENT_ALL_CATEGORIES; use->purpose out of
 *     range; grants == NULL with ngrants > 0; ngrants > CONSENT_MAX_GRANTS; a condition list
 *     (use or grant) with n > CONSENT_MAX_CONDITIONS, or n > 0 and a NULL array, or an id that is
 *     NULL, empty or longer than CONSENT_MAX_CONDITION_ID bytes; a grant whose effect, purpose or
 *     status is out of range or whose categories are 0 or outside CONSENT_ALL_CATEGORIES. Every
 *     grant is checked, also those that would not apply, so one malformed grant (which might be
 *     a deny) never lets a use through.
 *
 * Condition ids are compared byte for byte (strcmp); duplicates in a list are harmless.
 *
 * The decision reports (rule 5 ordering is by category bit, lowest first):
 *  - permitted: permit = true, reason CONSENT_R_PERMITTED, category = 0, grant = the lowest index
 *    PERMIT covering the lowest category of the use;
 *  - not permitted: permit = false, category = the lowest category that is not permitted; if a
 *    DENY covers that category, reason CONSENT_R_DENIED and grant = the lowest index such DENY
 *    (even if a permit covers it too); otherwise reason CONSENT_R_NO_PERMIT and grant = -1;
 *  - invalid: permit = false, reason CONSENT_R_INVALID, category = 0, grant = -1 if the use or
 *    the array is invalid (checked first), else the index of the first malformed grant.
 */
#ifndef CC_CONSENT_H
#define CC_CONSENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum consent_effect { CONSENT_PERMIT = 0, CONSENT_DENY = 1 };

enum consent_purpose {
    CONSENT_RESEARCH = 0,
    CONSENT_TRIAL_RECRUITMENT,
    CONSENT_COMMUNITY,
    CONSENT_SHARE,
    CONSENT_NPURPOSES
};

/* Data categories are bits so a set is an unsigned. */
enum {
    CONSENT_DEMOGRAPHICS = 1u << 0,
    CONSENT_CONDITIONS = 1u << 1,
    CONSENT_SYMPTOMS = 1u << 2,
    CONSENT_MEDICATIONS = 1u << 3,
    CONSENT_GOALS = 1u << 4,
    CONSENT_ALL_CATEGORIES = 0x1f
};

enum consent_status { CONSENT_ACTIVE = 0, CONSENT_WITHDRAWN, CONSENT_EXPIRED, CONSENT_SUPERSEDED };

#define CONSENT_MAX_CONDITIONS 32    /* per grant and per use focus */
#define CONSENT_MAX_CONDITION_ID 128 /* bytes in one condition id, NUL excluded */
#define CONSENT_MAX_GRANTS 1024      /* grants per evaluation */

struct consent_grant {
    enum consent_effect effect;
    enum consent_purpose purpose;
    unsigned categories; /* non-empty subset of CONSENT_ALL_CATEGORIES */
    const char *const
        *conditions;    /* disease-specific restriction: catalog condition ids; borrowed */
    size_t nconditions; /* 0 = no disease restriction */
    bool non_commercial, not_for_profit_only;
    int64_t valid_from;  /* unix seconds, inclusive */
    int64_t valid_until; /* unix seconds, exclusive; 0 = open-ended */
    enum consent_status status;
};

struct consent_use {
    enum consent_purpose purpose;
    unsigned categories; /* every category the use needs (non-empty) */
    bool commercial, for_profit;
    const char *const *conditions; /* the use's condition focus; borrowed; 0 = general (no focus) */
    size_t nconditions;
    int64_t at; /* when the use happens, unix seconds */
};

enum consent_reason {
    CONSENT_R_PERMITTED,
    CONSENT_R_NO_PERMIT,
    CONSENT_R_DENIED,
    CONSENT_R_INVALID
};

struct consent_decision {
    bool permit;
    enum consent_reason reason;
    unsigned category; /* on deny: the first (lowest bit) category that failed; else 0 */
    int grant;         /* index of the deciding grant (the deny, or for permit the permit that
                          covered the lowest category), -1 if none */
};

/* Evaluate a use against a member's grants by rules 1-6 above. Reads only; nothing is retained. */
struct consent_decision consent_evaluate(const struct consent_use *use,
                                         const struct consent_grant *grants, size_t ngrants);

/* Rule 1. False for NULL. */
bool consent_grant_in_force(const struct consent_grant *g, int64_t t);

/* Name <-> enum helpers. *_name() return a borrowed static string, or NULL if the value is out of
 * range. *_parse() return 0 and set *out, or -1 (and leave *out alone) for an unknown or NULL
 * name. Names are exact and lowercase. */
const char *consent_purpose_name(enum consent_purpose p);
int consent_purpose_parse(const char *s, enum consent_purpose *out);
const char *consent_effect_name(enum consent_effect e);
int consent_effect_parse(const char *s, enum consent_effect *out);
const char *consent_status_name(enum consent_status s);
int consent_status_parse(const char *s, enum consent_status *out);
const char *consent_reason_name(enum consent_reason r);
int consent_reason_parse(const char *s, enum consent_reason *out);

/* Categories: name of a single bit (NULL unless exactly one known bit is set); parse one name into
 * its bit. */
const char *consent_category_name(unsigned bit);
int consent_category_parse(const char *s, unsigned *bit);

/* A JSON array of category names (borrowed) -> bit set in *out. Returns 0 on success. Returns -1 on
 * error and sets *bad_index (if not NULL) to the index of the first element that is not a string,
 * not a known name, or a repeat of an earlier one; or to (size_t)-1 if array is not an array or is
 * empty. *out is set only on success. */
int consent_categories_from_json(const json_t *array, unsigned *out, size_t *bad_index);

/* Bit set -> new reference to a JSON array of names, lowest bit first; NULL if bits is 0 or
 * outside CONSENT_ALL_CATEGORIES (or on allocation failure). */
json_t *consent_categories_to_json(unsigned bits);

#endif
