/* test_consent.c - consent_evaluate against the rules in consent.h, one table row per case. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consent.h"

#define T0 INT64_C(1700000000) /* every use in the table happens at T0 */

#define R CONSENT_RESEARCH
#define TR CONSENT_TRIAL_RECRUITMENT
#define CM CONSENT_COMMUNITY
#define SH CONSENT_SHARE
#define DEM CONSENT_DEMOGRAPHICS
#define CON CONSENT_CONDITIONS
#define SYM CONSENT_SYMPTOMS
#define MED CONSENT_MEDICATIONS
#define GOA CONSENT_GOALS
#define ALL CONSENT_ALL_CATEGORIES

#define PERMITTED CONSENT_R_PERMITTED
#define NO_PERMIT CONSENT_R_NO_PERMIT
#define DENIED CONSENT_R_DENIED
#define INVALID CONSENT_R_INVALID

/* Zeroed fields are the natural defaults: active, valid since 1970, open-ended, no conditions, no
 * commercial restriction. Extra designated initialisers set the rest. */
#define PERMIT(p, c, ...)                                                                          \
    {                                                                                              \
        .effect = CONSENT_PERMIT, .purpose = (p), .categories = (c), __VA_ARGS__                   \
    }
#define DENY(p, c, ...)                                                                            \
    {                                                                                              \
        .effect = CONSENT_DENY, .purpose = (p), .categories = (c), __VA_ARGS__                     \
    }
#define USE(p, c, ...)                                                                             \
    {                                                                                              \
        .purpose = (p), .categories = (c), .at = T0, __VA_ARGS__                                   \
    }
#define CONDS(...)                                                                                 \
    .conditions = (const char *const[]){__VA_ARGS__},                                              \
    .nconditions = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
#define GRANTS(...)                                                                                \
    .grants = (const struct consent_grant[]){__VA_ARGS__},                                         \
    .ngrants = sizeof((const struct consent_grant[]){__VA_ARGS__}) / sizeof(struct consent_grant)

/* 128 and 129 byte condition ids, either side of CONSENT_MAX_CONDITION_ID. */
#define X16 "xxxxxxxxxxxxxxxx"
#define ID128 X16 X16 X16 X16 X16 X16 X16 X16
#define ID129 ID128 "x"

#define C8 "c", "c", "c", "c", "c", "c", "c", "c"
static const char *const conds32[] = {C8, C8, C8, C8};
static const char *const conds33[] = {C8, C8, C8, C8, "c"};
_Static_assert(sizeof(conds32) / sizeof(conds32[0]) == CONSENT_MAX_CONDITIONS, "limit changed");

struct row {
    const char *desc;
    const struct consent_grant *grants;
    size_t ngrants;
    struct consent_use use;
    bool null_use;
    /* expected decision */
    bool permit;
    enum consent_reason reason;
    unsigned category;
    int grant;
};

/* The "mixed" rows share this member: grant 0 is a non-commercial disease-specific permit, 1 an
 * expired permit, 2 a current permit, 3 a deny of goals, 4 a disease-specific deny, 5 another
 * purpose. */
#define MIXED                                                                                      \
    GRANTS(PERMIT(R, DEM | CON | SYM, CONDS("diabetes_t2", "ckd"), .non_commercial = true),        \
           PERMIT(R, MED, .valid_until = T0 - 1), PERMIT(R, MED, .valid_from = T0 - 100),          \
           DENY(R, GOA), DENY(R, CON, CONDS("hiv")), PERMIT(TR, ALL))

static const struct row rows[] = {
    /* default deny, purposes, categories */
    {"no grants: default deny", .use = USE(R, DEM), .reason = NO_PERMIT, .category = DEM,
     .grant = -1},
    {"no grants, two categories: lowest reported", .use = USE(R, CON | MED), .reason = NO_PERMIT,
     .category = CON, .grant = -1},
    {"a permit covers its purpose and category", GRANTS(PERMIT(R, DEM)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"purpose mismatch", GRANTS(PERMIT(R, DEM)), .use = USE(TR, DEM), .reason = NO_PERMIT,
     .category = DEM, .grant = -1},
    {"purpose mismatch community vs share", GRANTS(PERMIT(CM, ALL)), .use = USE(SH, GOA),
     .reason = NO_PERMIT, .category = GOA, .grant = -1},
    {"category mismatch", GRANTS(PERMIT(R, DEM)), .use = USE(R, CON), .reason = NO_PERMIT,
     .category = CON, .grant = -1},
    {"several categories partly covered", GRANTS(PERMIT(R, DEM | SYM)),
     .use = USE(R, DEM | CON | SYM), .reason = NO_PERMIT, .category = CON, .grant = -1},
    {"several categories covered by one permit", GRANTS(PERMIT(R, DEM | CON | SYM)),
     .use = USE(R, DEM | SYM), .permit = true, .reason = PERMITTED, .grant = 0},
    {"two permits together cover two categories", GRANTS(PERMIT(R, DEM), PERMIT(R, CON)),
     .use = USE(R, DEM | CON), .permit = true, .reason = PERMITTED, .grant = 0},
    {"two permits: deciding grant is the one for the lowest category",
     GRANTS(PERMIT(R, CON), PERMIT(R, DEM)), .use = USE(R, DEM | CON), .permit = true,
     .reason = PERMITTED, .grant = 1},
    {"two permits for the same category: lowest index decides",
     GRANTS(PERMIT(R, MED), PERMIT(R, DEM | MED), PERMIT(R, DEM)), .use = USE(R, DEM | MED),
     .permit = true, .reason = PERMITTED, .grant = 1},
    {"all categories", GRANTS(PERMIT(R, ALL)), .use = USE(R, ALL), .permit = true,
     .reason = PERMITTED, .grant = 0},
    {"permits of different purposes do not combine", GRANTS(PERMIT(R, DEM), PERMIT(TR, CON)),
     .use = USE(R, DEM | CON), .reason = NO_PERMIT, .category = CON, .grant = -1},

    /* time and status */
    {"expired by valid_until", GRANTS(PERMIT(R, DEM, .valid_until = T0 - 1)), .use = USE(R, DEM),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"not yet valid", GRANTS(PERMIT(R, DEM, .valid_from = T0 + 1)), .use = USE(R, DEM),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"exactly valid_from is in force", GRANTS(PERMIT(R, DEM, .valid_from = T0)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"exactly valid_until is not in force",
     GRANTS(PERMIT(R, DEM, .valid_from = T0 - 100, .valid_until = T0)), .use = USE(R, DEM),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"one second before valid_until is in force", GRANTS(PERMIT(R, DEM, .valid_until = T0 + 1)),
     .use = USE(R, DEM), .permit = true, .reason = PERMITTED, .grant = 0},
    {"empty window valid_from == valid_until",
     GRANTS(PERMIT(R, DEM, .valid_from = T0, .valid_until = T0)), .use = USE(R, DEM),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"withdrawn", GRANTS(PERMIT(R, DEM, .status = CONSENT_WITHDRAWN)), .use = USE(R, DEM),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"superseded", GRANTS(PERMIT(R, DEM, .status = CONSENT_SUPERSEDED)), .use = USE(R, DEM),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"status expired with open-ended dates", GRANTS(PERMIT(R, DEM, .status = CONSENT_EXPIRED)),
     .use = USE(R, DEM), .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"withdrawn permit skipped, later active permit decides",
     GRANTS(PERMIT(R, DEM, .status = CONSENT_WITHDRAWN), PERMIT(R, DEM)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 1},
    {"withdrawn deny does not deny",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .status = CONSENT_WITHDRAWN)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"superseded deny does not deny",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .status = CONSENT_SUPERSEDED)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"deny ended at exactly the use time does not deny",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .valid_until = T0)), .use = USE(R, DEM), .permit = true,
     .reason = PERMITTED, .grant = 0},
    {"deny not yet valid does not deny", GRANTS(PERMIT(R, DEM), DENY(R, DEM, .valid_from = T0 + 1)),
     .use = USE(R, DEM), .permit = true, .reason = PERMITTED, .grant = 0},
    {"deny starting exactly at the use time denies",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .valid_from = T0)), .use = USE(R, DEM), .reason = DENIED,
     .category = DEM, .grant = 1},

    /* disease-specific permits */
    {"disease-specific permit, matching focus", GRANTS(PERMIT(R, CON, CONDS("diabetes_t2"))),
     .use = USE(R, CON, CONDS("diabetes_t2")), .permit = true, .reason = PERMITTED, .grant = 0},
    {"disease-specific permit, other focus", GRANTS(PERMIT(R, CON, CONDS("diabetes_t2"))),
     .use = USE(R, CON, CONDS("asthma")), .reason = NO_PERMIT, .category = CON, .grant = -1},
    {"general use vs disease-specific permit", GRANTS(PERMIT(R, CON, CONDS("diabetes_t2"))),
     .use = USE(R, CON), .reason = NO_PERMIT, .category = CON, .grant = -1},
    {"focus of two conditions, both listed", GRANTS(PERMIT(R, CON, CONDS("diabetes_t2", "asthma"))),
     .use = USE(R, CON, CONDS("asthma", "diabetes_t2")), .permit = true, .reason = PERMITTED,
     .grant = 0},
    {"focus of two conditions, one outside the list", GRANTS(PERMIT(R, CON, CONDS("diabetes_t2"))),
     .use = USE(R, CON, CONDS("diabetes_t2", "asthma")), .reason = NO_PERMIT, .category = CON,
     .grant = -1},
    {"two disease-specific permits do not add up for a two-condition focus",
     GRANTS(PERMIT(R, CON, CONDS("diabetes_t2")), PERMIT(R, CON, CONDS("asthma"))),
     .use = USE(R, CON, CONDS("diabetes_t2", "asthma")), .reason = NO_PERMIT, .category = CON,
     .grant = -1},
    {"general permit covers a focused use", GRANTS(PERMIT(R, CON)),
     .use = USE(R, CON, CONDS("asthma")), .permit = true, .reason = PERMITTED, .grant = 0},
    {"condition ids compare exactly, case included", GRANTS(PERMIT(R, CON, CONDS("asthma"))),
     .use = USE(R, CON, CONDS("Asthma")), .reason = NO_PERMIT, .category = CON, .grant = -1},
    {"a prefix of a condition id is another id", GRANTS(PERMIT(R, CON, CONDS("diabetes"))),
     .use = USE(R, CON, CONDS("diabetes_t2")), .reason = NO_PERMIT, .category = CON, .grant = -1},

    /* commercial and for-profit restrictions on permits */
    {"non_commercial permit, commercial use", GRANTS(PERMIT(R, DEM, .non_commercial = true)),
     .use = USE(R, DEM, .commercial = true), .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"non_commercial permit, non-commercial use", GRANTS(PERMIT(R, DEM, .non_commercial = true)),
     .use = USE(R, DEM), .permit = true, .reason = PERMITTED, .grant = 0},
    {"non_commercial permit, non-commercial use by a for-profit org",
     GRANTS(PERMIT(R, DEM, .non_commercial = true)), .use = USE(R, DEM, .for_profit = true),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"not_for_profit_only permit, for-profit org",
     GRANTS(PERMIT(R, DEM, .not_for_profit_only = true)), .use = USE(R, DEM, .for_profit = true),
     .reason = NO_PERMIT, .category = DEM, .grant = -1},
    {"not_for_profit_only permit, not-for-profit org",
     GRANTS(PERMIT(R, DEM, .not_for_profit_only = true)), .use = USE(R, DEM), .permit = true,
     .reason = PERMITTED, .grant = 0},
    {"not_for_profit_only permit, commercial use by a not-for-profit org",
     GRANTS(PERMIT(R, DEM, .not_for_profit_only = true)), .use = USE(R, DEM, .commercial = true),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"restricted permit skipped, unrestricted permit decides",
     GRANTS(PERMIT(R, DEM, .non_commercial = true, .not_for_profit_only = true), PERMIT(R, DEM)),
     .use = USE(R, DEM, .commercial = true, .for_profit = true), .permit = true,
     .reason = PERMITTED, .grant = 1},

    /* denies */
    {"deny overrides permit (deny listed after)", GRANTS(PERMIT(R, DEM), DENY(R, DEM)),
     .use = USE(R, DEM), .reason = DENIED, .category = DEM, .grant = 1},
    {"deny overrides permit (deny listed first)", GRANTS(DENY(R, DEM), PERMIT(R, DEM)),
     .use = USE(R, DEM), .reason = DENIED, .category = DEM, .grant = 0},
    {"deny without any permit is reported as denied", GRANTS(DENY(R, DEM)), .use = USE(R, DEM),
     .reason = DENIED, .category = DEM, .grant = 0},
    {"deny of another category does not affect", GRANTS(PERMIT(R, DEM | CON), DENY(R, MED)),
     .use = USE(R, DEM | CON), .permit = true, .reason = PERMITTED, .grant = 0},
    {"deny of another purpose does not affect", GRANTS(PERMIT(R, DEM), DENY(TR, DEM)),
     .use = USE(R, DEM), .permit = true, .reason = PERMITTED, .grant = 0},
    {"deny of one of two categories", GRANTS(PERMIT(R, DEM | CON), DENY(R, CON)),
     .use = USE(R, DEM | CON), .reason = DENIED, .category = CON, .grant = 1},
    {"lowest failing category lacks a permit, a higher one is denied",
     GRANTS(PERMIT(R, CON), DENY(R, MED)), .use = USE(R, DEM | CON | MED), .reason = NO_PERMIT,
     .category = DEM, .grant = -1},
    {"lowest failing category is denied, a higher one lacks a permit", GRANTS(DENY(R, DEM)),
     .use = USE(R, DEM | SYM), .reason = DENIED, .category = DEM, .grant = 0},
    {"two denies: lowest index covering the failing category",
     GRANTS(PERMIT(R, ALL), DENY(R, SYM), DENY(R, DEM | SYM)), .use = USE(R, DEM | SYM),
     .reason = DENIED, .category = DEM, .grant = 2},
    {"deny with conditions, intersecting focus", GRANTS(PERMIT(R, CON), DENY(R, CON, CONDS("hiv"))),
     .use = USE(R, CON, CONDS("asthma", "hiv")), .reason = DENIED, .category = CON, .grant = 1},
    {"deny with conditions, disjoint focus", GRANTS(PERMIT(R, CON), DENY(R, CON, CONDS("hiv"))),
     .use = USE(R, CON, CONDS("asthma")), .permit = true, .reason = PERMITTED, .grant = 0},
    {"deny with conditions, general use not denied",
     GRANTS(PERMIT(R, CON), DENY(R, CON, CONDS("hiv"))), .use = USE(R, CON), .permit = true,
     .reason = PERMITTED, .grant = 0},
    {"general deny, focused use denied", GRANTS(PERMIT(R, CON), DENY(R, CON)),
     .use = USE(R, CON, CONDS("asthma")), .reason = DENIED, .category = CON, .grant = 1},
    {"deny non_commercial, commercial use denied",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .non_commercial = true)),
     .use = USE(R, DEM, .commercial = true), .reason = DENIED, .category = DEM, .grant = 1},
    {"deny non_commercial, non-commercial use not denied",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .non_commercial = true)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"deny not_for_profit_only, for-profit org denied",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .not_for_profit_only = true)),
     .use = USE(R, DEM, .for_profit = true), .reason = DENIED, .category = DEM, .grant = 1},
    {"deny not_for_profit_only, not-for-profit org not denied",
     GRANTS(PERMIT(R, DEM), DENY(R, DEM, .not_for_profit_only = true)),
     .use = USE(R, DEM, .commercial = true), .permit = true, .reason = PERMITTED, .grant = 0},

    /* several grants at once */
    {"mixed: focused non-commercial use", MIXED, .use = USE(R, DEM | CON | MED, CONDS("ckd")),
     .permit = true, .reason = PERMITTED, .grant = 0},
    {"mixed: commercial use loses the non-commercial permit", MIXED,
     .use = USE(R, DEM | CON | MED, CONDS("ckd"), .commercial = true), .reason = NO_PERMIT,
     .category = DEM, .grant = -1},
    {"mixed: goals are denied", MIXED, .use = USE(R, CON | GOA, CONDS("diabetes_t2")),
     .reason = DENIED, .category = GOA, .grant = 3},
    {"mixed: focus touching hiv is denied", MIXED, .use = USE(R, CON | MED, CONDS("ckd", "hiv")),
     .reason = DENIED, .category = CON, .grant = 4},
    {"mixed: medications alone need no focus", MIXED, .use = USE(R, MED), .permit = true,
     .reason = PERMITTED, .grant = 2},
    {"mixed: general use of conditions has no permit", MIXED, .use = USE(R, CON | MED),
     .reason = NO_PERMIT, .category = CON, .grant = -1},
    {"mixed: trial recruitment of everything", MIXED, .use = USE(TR, ALL), .permit = true,
     .reason = PERMITTED, .grant = 5},

    /* invalid input */
    {"use is NULL", GRANTS(PERMIT(R, ALL)), .null_use = true, .reason = INVALID, .grant = -1},
    {"use categories empty", GRANTS(PERMIT(R, ALL)), .use = USE(R, 0), .reason = INVALID,
     .grant = -1},
    {"use category outside the known set", GRANTS(PERMIT(R, ALL)), .use = USE(R, 0x20),
     .reason = INVALID, .grant = -1},
    {"use categories partly outside the known set", GRANTS(PERMIT(R, ALL)),
     .use = USE(R, ALL | 0x40u), .reason = INVALID, .grant = -1},
    {"use purpose CONSENT_NPURPOSES", GRANTS(PERMIT(R, ALL)), .use = USE(CONSENT_NPURPOSES, DEM),
     .reason = INVALID, .grant = -1},
    {"use purpose -1", GRANTS(PERMIT(R, ALL)), .use = USE((enum consent_purpose) - 1, DEM),
     .reason = INVALID, .grant = -1},
    {"grants NULL with ngrants > 0", .grants = NULL, .ngrants = 3, .use = USE(R, DEM),
     .reason = INVALID, .grant = -1},
    {"use focus count without an array", GRANTS(PERMIT(R, ALL)),
     .use = USE(R, DEM, .nconditions = 2), .reason = INVALID, .grant = -1},
    {"use focus with a NULL id", GRANTS(PERMIT(R, ALL)), .use = USE(R, DEM, CONDS("asthma", NULL)),
     .reason = INVALID, .grant = -1},
    {"use focus with an empty id", GRANTS(PERMIT(R, ALL)), .use = USE(R, DEM, CONDS("")),
     .reason = INVALID, .grant = -1},
    {"use focus id of 129 bytes", GRANTS(PERMIT(R, ALL)), .use = USE(R, DEM, CONDS(ID129)),
     .reason = INVALID, .grant = -1},
    {"use focus of 33 conditions", GRANTS(PERMIT(R, ALL)),
     .use = USE(R, DEM, .conditions = conds33, .nconditions = 33), .reason = INVALID, .grant = -1},
    {"grant effect out of range", GRANTS(PERMIT(R, ALL), {.effect = 2, .categories = DEM}),
     .use = USE(R, DEM), .reason = INVALID, .grant = 1},
    {"grant categories empty", GRANTS(PERMIT(R, ALL), DENY(R, 0)), .use = USE(R, DEM),
     .reason = INVALID, .grant = 1},
    {"grant categories outside the known set", GRANTS(DENY(R, 0x80), PERMIT(R, ALL)),
     .use = USE(R, DEM), .reason = INVALID, .grant = 0},
    {"grant purpose out of range", GRANTS(PERMIT(CONSENT_NPURPOSES, ALL)), .use = USE(R, DEM),
     .reason = INVALID, .grant = 0},
    {"grant status out of range", GRANTS(PERMIT(R, ALL, .status = 4)), .use = USE(R, DEM),
     .reason = INVALID, .grant = 0},
    {"grant condition count without an array", GRANTS(DENY(R, CON, .nconditions = 1)),
     .use = USE(R, DEM), .reason = INVALID, .grant = 0},
    {"grant condition list of 33", GRANTS(DENY(R, CON, .conditions = conds33, .nconditions = 33)),
     .use = USE(R, DEM), .reason = INVALID, .grant = 0},
    {"malformed grant that would not apply still invalidates",
     GRANTS(PERMIT(R, DEM), DENY(SH, GOA, CONDS("hiv", "")), PERMIT(R, DEM)), .use = USE(R, DEM),
     .reason = INVALID, .grant = 1},

    /* limits that are still valid */
    {"no grants, NULL array", .grants = NULL, .ngrants = 0, .use = USE(R, DEM), .reason = NO_PERMIT,
     .category = DEM, .grant = -1},
    {"use focus of exactly 32 conditions", GRANTS(PERMIT(R, DEM)),
     .use = USE(R, DEM, .conditions = conds32, .nconditions = 32), .permit = true,
     .reason = PERMITTED, .grant = 0},
    {"condition ids of exactly 128 bytes", GRANTS(PERMIT(R, CON, CONDS(ID128))),
     .use = USE(R, CON, CONDS(ID128)), .permit = true, .reason = PERMITTED, .grant = 0},
    {"negative times are ordinary times",
     GRANTS(PERMIT(R, DEM, .valid_from = INT64_MIN, .valid_until = INT64_MAX)), .use = USE(R, DEM),
     .permit = true, .reason = PERMITTED, .grant = 0},
};

#define NROWS ((int)(sizeof(rows) / sizeof(rows[0])))

START_TEST(test_table)
{
    const struct row *r = &rows[_i];
    struct consent_decision d =
        consent_evaluate(r->null_use ? NULL : &r->use, r->grants, r->ngrants);

    ck_assert_msg(d.permit == r->permit, "%s: permit %d, expected %d", r->desc, d.permit,
                  r->permit);
    ck_assert_msg(d.reason == r->reason, "%s: reason %s, expected %s", r->desc,
                  consent_reason_name(d.reason), consent_reason_name(r->reason));
    ck_assert_msg(d.category == r->category, "%s: category %#x, expected %#x", r->desc, d.category,
                  r->category);
    ck_assert_msg(d.grant == r->grant, "%s: grant %d, expected %d", r->desc, d.grant, r->grant);
}
END_TEST

START_TEST(test_table_size)
{
    ck_assert_int_ge(NROWS, 50);
}
END_TEST

START_TEST(test_grant_limit)
{
    static struct consent_grant grants[CONSENT_MAX_GRANTS + 1];
    struct consent_use use = USE(R, DEM | CON);
    struct consent_decision d;

    for (size_t i = 0; i < CONSENT_MAX_GRANTS + 1; i++)
        grants[i] = (struct consent_grant)PERMIT(R, CON);
    grants[CONSENT_MAX_GRANTS - 1].categories = DEM;

    /* The last allowed grant still counts. */
    d = consent_evaluate(&use, grants, CONSENT_MAX_GRANTS);
    ck_assert(d.permit);
    ck_assert_int_eq(d.reason, CONSENT_R_PERMITTED);
    ck_assert_int_eq(d.grant, CONSENT_MAX_GRANTS - 1);

    /* One more is refused as a whole, not evaluated. */
    d = consent_evaluate(&use, grants, CONSENT_MAX_GRANTS + 1);
    ck_assert(!d.permit);
    ck_assert_int_eq(d.reason, CONSENT_R_INVALID);
    ck_assert_int_eq(d.grant, -1);
    ck_assert_uint_eq(d.category, 0);
}
END_TEST

START_TEST(test_in_force)
{
    struct consent_grant g = PERMIT(R, DEM, .valid_from = 100, .valid_until = 200);

    ck_assert(!consent_grant_in_force(NULL, 150));
    ck_assert(!consent_grant_in_force(&g, 99));
    ck_assert(consent_grant_in_force(&g, 100));
    ck_assert(consent_grant_in_force(&g, 199));
    ck_assert(!consent_grant_in_force(&g, 200));
    g.valid_until = 0;
    ck_assert(consent_grant_in_force(&g, INT64_MAX));
    ck_assert(!consent_grant_in_force(&g, INT64_MIN));
    g.status = CONSENT_WITHDRAWN;
    ck_assert(!consent_grant_in_force(&g, 150));
    g.status = CONSENT_EXPIRED;
    ck_assert(!consent_grant_in_force(&g, 150));
    g.status = CONSENT_SUPERSEDED;
    ck_assert(!consent_grant_in_force(&g, 150));
    g.status = CONSENT_ACTIVE;
    ck_assert(consent_grant_in_force(&g, 150));
}
END_TEST

/* Small deterministic generator; state is local to the test. */
static uint32_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*s >> 33);
}

/* Rules 2 and 5 restated: a use is permitted iff each of its categories alone is permitted; a
 * refusal names the lowest category that is refused alone, with the same reason and grant; a
 * permit names the grant that permits the lowest category alone.
 * Checked on random grant sets, so it exercises combinations the table does not list. */
START_TEST(test_per_category_consistency)
{
    static const char *const pool[] = {"asthma", "ckd", "hiv"};
    uint64_t seed = 42;
    struct consent_grant grants[8];
    size_t permits = 0, denials = 0;

    for (int iter = 0; iter < 4000; iter++) {
        size_t ngrants = next_rand(&seed) % 9;
        struct consent_use use = {
            .purpose = (enum consent_purpose)(next_rand(&seed) % 2),
            .categories = 1 + next_rand(&seed) % ALL,
            .commercial = next_rand(&seed) % 2,
            .for_profit = next_rand(&seed) % 2,
            .conditions = pool + next_rand(&seed) % 2,
            .nconditions = next_rand(&seed) % 3,
            .at = 50,
        };
        struct consent_decision whole, part;
        bool first_failure = true, expect = true;
        int lowest_grant = -2;

        for (size_t i = 0; i < ngrants; i++) {
            grants[i] = (struct consent_grant){
                .effect = (enum consent_effect)(next_rand(&seed) % 3 == 0),
                .purpose = (enum consent_purpose)(next_rand(&seed) % 2),
                .categories = 1 + next_rand(&seed) % ALL,
                .conditions = pool + next_rand(&seed) % 2,
                .nconditions = next_rand(&seed) % 3 == 0 ? 1 + next_rand(&seed) % 2 : 0,
                .non_commercial = next_rand(&seed) % 4 == 0,
                .not_for_profit_only = next_rand(&seed) % 4 == 0,
                .valid_from = next_rand(&seed) % 60,
                .valid_until = next_rand(&seed) % 2 ? 0 : 40 + next_rand(&seed) % 40,
                .status = (enum consent_status)(next_rand(&seed) % 5 == 0 ? 1 : 0),
            };
        }
        whole = consent_evaluate(&use, grants, ngrants);
        ck_assert_int_ne(whole.reason, CONSENT_R_INVALID);
        for (unsigned c = 1; c <= ALL; c <<= 1) {
            struct consent_use one = use;

            if ((use.categories & c) == 0)
                continue;
            one.categories = c;
            part = consent_evaluate(&one, grants, ngrants);
            if (lowest_grant == -2)
                lowest_grant = part.grant;
            if (part.permit)
                continue;
            expect = false;
            if (first_failure) {
                ck_assert_int_eq(whole.reason, part.reason);
                ck_assert_uint_eq(whole.category, c);
                ck_assert_uint_eq(part.category, c);
                ck_assert_int_eq(whole.grant, part.grant);
                first_failure = false;
            }
        }
        ck_assert_int_eq(whole.permit, expect);
        if (whole.permit) {
            /* The deciding permit is the one for the lowest category. */
            ck_assert_int_eq(whole.grant, lowest_grant);
            ck_assert_int_ge(whole.grant, 0);
            permits++;
        } else {
            denials++;
        }
    }
    /* The generator must reach both outcomes, or the comparison says little. */
    ck_assert_uint_gt(permits, 200);
    ck_assert_uint_gt(denials, 200);
}
END_TEST

START_TEST(test_names)
{
    enum consent_purpose p = CONSENT_SHARE;
    enum consent_effect e = CONSENT_DENY;
    enum consent_status s = CONSENT_ACTIVE;
    enum consent_reason r = CONSENT_R_INVALID;
    unsigned bit = 0;

    ck_assert_int_eq(consent_purpose_parse("research", &p), 0);
    ck_assert_int_eq(p, CONSENT_RESEARCH);
    ck_assert_int_eq(consent_purpose_parse("trial_recruitment", &p), 0);
    ck_assert_int_eq(p, CONSENT_TRIAL_RECRUITMENT);
    ck_assert_int_eq(consent_purpose_parse("community", &p), 0);
    ck_assert_int_eq(p, CONSENT_COMMUNITY);
    ck_assert_int_eq(consent_purpose_parse("share", &p), 0);
    ck_assert_int_eq(p, CONSENT_SHARE);
    ck_assert_int_eq(consent_purpose_parse("Research", &p), -1);
    ck_assert_int_eq(consent_purpose_parse("research ", &p), -1);
    ck_assert_int_eq(consent_purpose_parse("", &p), -1);
    ck_assert_int_eq(consent_purpose_parse(NULL, &p), -1);
    ck_assert_int_eq(consent_purpose_parse("share", NULL), -1);
    ck_assert_int_eq(p, CONSENT_SHARE); /* untouched by the failures */
    ck_assert_str_eq(consent_purpose_name(CONSENT_RESEARCH), "research");
    ck_assert_str_eq(consent_purpose_name(CONSENT_TRIAL_RECRUITMENT), "trial_recruitment");
    ck_assert_str_eq(consent_purpose_name(CONSENT_COMMUNITY), "community");
    ck_assert_str_eq(consent_purpose_name(CONSENT_SHARE), "share");
    ck_assert_ptr_null(consent_purpose_name(CONSENT_NPURPOSES));
    ck_assert_ptr_null(consent_purpose_name((enum consent_purpose) - 1));

    ck_assert_int_eq(consent_effect_parse("permit", &e), 0);
    ck_assert_int_eq(e, CONSENT_PERMIT);
    ck_assert_int_eq(consent_effect_parse("deny", &e), 0);
    ck_assert_int_eq(e, CONSENT_DENY);
    ck_assert_int_eq(consent_effect_parse("allow", &e), -1);
    ck_assert_str_eq(consent_effect_name(CONSENT_PERMIT), "permit");
    ck_assert_str_eq(consent_effect_name(CONSENT_DENY), "deny");
    ck_assert_ptr_null(consent_effect_name((enum consent_effect)2));

    ck_assert_int_eq(consent_status_parse("withdrawn", &s), 0);
    ck_assert_int_eq(s, CONSENT_WITHDRAWN);
    ck_assert_int_eq(consent_status_parse("expired", &s), 0);
    ck_assert_int_eq(s, CONSENT_EXPIRED);
    ck_assert_int_eq(consent_status_parse("superseded", &s), 0);
    ck_assert_int_eq(s, CONSENT_SUPERSEDED);
    ck_assert_int_eq(consent_status_parse("active", &s), 0);
    ck_assert_int_eq(s, CONSENT_ACTIVE);
    ck_assert_int_eq(consent_status_parse("revoked", &s), -1);
    ck_assert_str_eq(consent_status_name(CONSENT_ACTIVE), "active");
    ck_assert_str_eq(consent_status_name(CONSENT_WITHDRAWN), "withdrawn");
    ck_assert_str_eq(consent_status_name(CONSENT_EXPIRED), "expired");
    ck_assert_str_eq(consent_status_name(CONSENT_SUPERSEDED), "superseded");
    ck_assert_ptr_null(consent_status_name((enum consent_status)4));

    ck_assert_str_eq(consent_reason_name(CONSENT_R_PERMITTED), "permitted");
    ck_assert_str_eq(consent_reason_name(CONSENT_R_NO_PERMIT), "no_permit");
    ck_assert_str_eq(consent_reason_name(CONSENT_R_DENIED), "denied");
    ck_assert_str_eq(consent_reason_name(CONSENT_R_INVALID), "invalid");
    ck_assert_ptr_null(consent_reason_name((enum consent_reason)4));
    ck_assert_int_eq(consent_reason_parse("no_permit", &r), 0);
    ck_assert_int_eq(r, CONSENT_R_NO_PERMIT);
    ck_assert_int_eq(consent_reason_parse("denied", &r), 0);
    ck_assert_int_eq(r, CONSENT_R_DENIED);
    ck_assert_int_eq(consent_reason_parse("deny", &r), -1);

    ck_assert_int_eq(consent_category_parse("demographics", &bit), 0);
    ck_assert_uint_eq(bit, CONSENT_DEMOGRAPHICS);
    ck_assert_int_eq(consent_category_parse("conditions", &bit), 0);
    ck_assert_uint_eq(bit, CONSENT_CONDITIONS);
    ck_assert_int_eq(consent_category_parse("symptoms", &bit), 0);
    ck_assert_uint_eq(bit, CONSENT_SYMPTOMS);
    ck_assert_int_eq(consent_category_parse("medications", &bit), 0);
    ck_assert_uint_eq(bit, CONSENT_MEDICATIONS);
    ck_assert_int_eq(consent_category_parse("goals", &bit), 0);
    ck_assert_uint_eq(bit, CONSENT_GOALS);
    ck_assert_int_eq(consent_category_parse("goal", &bit), -1);
    ck_assert_int_eq(consent_category_parse(NULL, &bit), -1);
    ck_assert_uint_eq(bit, CONSENT_GOALS);
    ck_assert_str_eq(consent_category_name(CONSENT_DEMOGRAPHICS), "demographics");
    ck_assert_str_eq(consent_category_name(CONSENT_CONDITIONS), "conditions");
    ck_assert_str_eq(consent_category_name(CONSENT_SYMPTOMS), "symptoms");
    ck_assert_str_eq(consent_category_name(CONSENT_MEDICATIONS), "medications");
    ck_assert_str_eq(consent_category_name(CONSENT_GOALS), "goals");
    ck_assert_ptr_null(consent_category_name(0));
    ck_assert_ptr_null(consent_category_name(CONSENT_DEMOGRAPHICS | CONSENT_GOALS));
    ck_assert_ptr_null(consent_category_name(1u << 5));
}
END_TEST

/* Parse a JSON text for the array tests; the test fails if the text itself is bad. */
static json_t *load(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

    ck_assert_msg(j != NULL, "bad test JSON: %s", text);
    return j;
}

static void expect_categories(const char *text, int rc, unsigned bits, size_t bad)
{
    json_t *j = load(text);
    unsigned out = 0xdead;
    size_t idx = 777;
    int got = consent_categories_from_json(j, &out, &idx);

    ck_assert_msg(got == rc, "%s: rc %d, expected %d", text, got, rc);
    if (rc == 0) {
        ck_assert_msg(out == bits, "%s: bits %#x, expected %#x", text, out, bits);
        ck_assert_msg(idx == 777, "%s: bad index touched on success", text);
    } else {
        ck_assert_msg(out == 0xdead, "%s: out touched on failure", text);
        ck_assert_msg(idx == bad, "%s: bad index %zu, expected %zu", text, idx, bad);
    }
    json_decref(j);
}

START_TEST(test_categories_json)
{
    json_t *arr;
    char *text;

    expect_categories("[\"demographics\"]", 0, CONSENT_DEMOGRAPHICS, 0);
    expect_categories("[\"goals\",\"conditions\"]", 0, CONSENT_GOALS | CONSENT_CONDITIONS, 0);
    expect_categories("[\"demographics\",\"conditions\",\"symptoms\",\"medications\",\"goals\"]", 0,
                      CONSENT_ALL_CATEGORIES, 0);
    expect_categories("[\"goals\",\"meds\"]", -1, 0, 1);
    expect_categories("[\"goals\",\"symptoms\",\"goals\"]", -1, 0, 2);
    expect_categories("[\"goals\",7]", -1, 0, 1);
    expect_categories("[null]", -1, 0, 0);
    expect_categories("[[\"goals\"]]", -1, 0, 0);
    expect_categories("[]", -1, 0, (size_t)-1);
    expect_categories("{\"goals\":1}", -1, 0, (size_t)-1);
    expect_categories("\"goals\"", -1, 0, (size_t)-1);
    ck_assert_int_eq(consent_categories_from_json(NULL, &(unsigned){0}, NULL), -1);

    arr = consent_categories_to_json(CONSENT_GOALS | CONSENT_DEMOGRAPHICS | CONSENT_SYMPTOMS);
    ck_assert_ptr_nonnull(arr);
    text = json_dumps(arr, JSON_COMPACT);
    ck_assert_str_eq(text, "[\"demographics\",\"symptoms\",\"goals\"]");
    free(text);
    json_decref(arr);
    ck_assert_ptr_null(consent_categories_to_json(0));
    ck_assert_ptr_null(consent_categories_to_json(CONSENT_GOALS | 0x20));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("consent");
    TCase *tc = tcase_create("evaluate");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_table, 0, NROWS);
    tcase_add_test(tc, test_table_size);
    tcase_add_test(tc, test_grant_limit);
    tcase_add_test(tc, test_in_force);
    tcase_add_test(tc, test_per_category_consistency);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_categories_json);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
