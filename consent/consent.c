/* consent.c - consent evaluation; the rules are in consent.h. */
#include "consent.h"

#include <string.h>

static const char *const purpose_names[CONSENT_NPURPOSES] = {
    [CONSENT_RESEARCH] = "research",
    [CONSENT_TRIAL_RECRUITMENT] = "trial_recruitment",
    [CONSENT_COMMUNITY] = "community",
    [CONSENT_SHARE] = "share",
};

static const char *const effect_names[] = {
    [CONSENT_PERMIT] = "permit",
    [CONSENT_DENY] = "deny",
};

static const char *const status_names[] = {
    [CONSENT_ACTIVE] = "active",
    [CONSENT_WITHDRAWN] = "withdrawn",
    [CONSENT_EXPIRED] = "expired",
    [CONSENT_SUPERSEDED] = "superseded",
};

static const char *const reason_names[] = {
    [CONSENT_R_PERMITTED] = "permitted",
    [CONSENT_R_NO_PERMIT] = "no_permit",
    [CONSENT_R_DENIED] = "denied",
    [CONSENT_R_INVALID] = "invalid",
};

/* Index i is the name of bit 1u << i. */
static const char *const category_names[] = {
    "demographics", "conditions", "symptoms", "medications", "goals",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NCATEGORIES NELEM(category_names)
_Static_assert(CONSENT_ALL_CATEGORIES == (1u << NCATEGORIES) - 1, "one name per category bit");

/* Enums are compared as unsigned so that a negative value stored in one is out of range too. */
static const char *name_of(const char *const *names, size_t n, unsigned v)
{
    return v < n ? names[v] : NULL;
}

static int parse_name(const char *const *names, size_t n, const char *s, unsigned *out)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (unsigned)i;
            return 0;
        }
    }
    return -1;
}

const char *consent_purpose_name(enum consent_purpose p)
{
    return name_of(purpose_names, NELEM(purpose_names), (unsigned)p);
}

int consent_purpose_parse(const char *s, enum consent_purpose *out)
{
    unsigned v;

    if (out == NULL || parse_name(purpose_names, NELEM(purpose_names), s, &v) != 0)
        return -1;
    *out = (enum consent_purpose)v;
    return 0;
}

const char *consent_effect_name(enum consent_effect e)
{
    return name_of(effect_names, NELEM(effect_names), (unsigned)e);
}

int consent_effect_parse(const char *s, enum consent_effect *out)
{
    unsigned v;

    if (out == NULL || parse_name(effect_names, NELEM(effect_names), s, &v) != 0)
        return -1;
    *out = (enum consent_effect)v;
    return 0;
}

const char *consent_status_name(enum consent_status st)
{
    return name_of(status_names, NELEM(status_names), (unsigned)st);
}

int consent_status_parse(const char *s, enum consent_status *out)
{
    unsigned v;

    if (out == NULL || parse_name(status_names, NELEM(status_names), s, &v) != 0)
        return -1;
    *out = (enum consent_status)v;
    return 0;
}

const char *consent_reason_name(enum consent_reason r)
{
    return name_of(reason_names, NELEM(reason_names), (unsigned)r);
}

int consent_reason_parse(const char *s, enum consent_reason *out)
{
    unsigned v;

    if (out == NULL || parse_name(reason_names, NELEM(reason_names), s, &v) != 0)
        return -1;
    *out = (enum consent_reason)v;
    return 0;
}

const char *consent_category_name(unsigned bit)
{
    for (size_t i = 0; i < NCATEGORIES; i++) {
        if (bit == 1u << i)
            return category_names[i];
    }
    return NULL;
}

int consent_category_parse(const char *s, unsigned *bit)
{
    unsigned v;

    if (bit == NULL || parse_name(category_names, NCATEGORIES, s, &v) != 0)
        return -1;
    *bit = 1u << v;
    return 0;
}

int consent_categories_from_json(const json_t *array, unsigned *out, size_t *bad_index)
{
    size_t bad = (size_t)-1;
    unsigned bits = 0;
    int rc = -1;

    if (out == NULL || !json_is_array(array) || json_array_size(array) == 0)
        goto out;
    /* Five names at most: a sixth element is always unknown or a repeat, so this loop is bounded
     * by the first bad element. */
    for (size_t i = 0; i < json_array_size(array); i++) {
        unsigned bit;

        if (consent_category_parse(json_string_value(json_array_get(array, i)), &bit) != 0 ||
            (bits & bit) != 0) {
            bad = i;
            goto out;
        }
        bits |= bit;
    }
    *out = bits;
    rc = 0;
out:
    if (rc != 0 && bad_index != NULL)
        *bad_index = bad;
    return rc;
}

json_t *consent_categories_to_json(unsigned bits)
{
    json_t *arr = NULL;

    if (bits == 0 || (bits & ~(unsigned)CONSENT_ALL_CATEGORIES) != 0)
        goto out;
    arr = json_array();
    if (arr == NULL)
        goto out;
    for (size_t i = 0; i < NCATEGORIES; i++) {
        if ((bits & (1u << i)) != 0 &&
            json_array_append_new(arr, json_string(category_names[i])) != 0) {
            json_decref(arr);
            arr = NULL;
            goto out;
        }
    }
out:
    return arr;
}

bool consent_grant_in_force(const struct consent_grant *g, int64_t t)
{
    if (g == NULL || g->status != CONSENT_ACTIVE)
        return false;
    return g->valid_from <= t && (g->valid_until == 0 || t < g->valid_until);
}

static bool valid_categories(unsigned c)
{
    return c != 0 && (c & ~(unsigned)CONSENT_ALL_CATEGORIES) == 0;
}

static bool valid_conditions(const char *const *ids, size_t n)
{
    if (n == 0)
        return true;
    if (n > CONSENT_MAX_CONDITIONS || ids == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t len;

        if (ids[i] == NULL)
            return false;
        len = strnlen(ids[i], CONSENT_MAX_CONDITION_ID + 1);
        if (len == 0 || len > CONSENT_MAX_CONDITION_ID)
            return false;
    }
    return true;
}

static bool valid_grant(const struct consent_grant *g)
{
    return (unsigned)g->effect <= CONSENT_DENY && (unsigned)g->purpose < CONSENT_NPURPOSES &&
           (unsigned)g->status <= CONSENT_SUPERSEDED && valid_categories(g->categories) &&
           valid_conditions(g->conditions, g->nconditions);
}

static bool listed(const char *id, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(id, ids[i]) == 0)
            return true;
    }
    return false;
}

/* Rules 3a and 4a. */
static bool conditions_match(const struct consent_grant *g, const struct consent_use *u)
{
    if (g->nconditions == 0)
        return true;
    if (g->effect == CONSENT_PERMIT) {
        if (u->nconditions == 0)
            return false;
        for (size_t i = 0; i < u->nconditions; i++) {
            if (!listed(u->conditions[i], g->conditions, g->nconditions))
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < u->nconditions; i++) {
        if (listed(u->conditions[i], g->conditions, g->nconditions))
            return true;
    }
    return false;
}

/* Everything in rules 3 and 4 except the category test, which does not depend on the rest. */
static bool applies(const struct consent_grant *g, const struct consent_use *u)
{
    if (!consent_grant_in_force(g, u->at) || g->purpose != u->purpose)
        return false;
    if (g->effect == CONSENT_PERMIT) {
        if ((g->non_commercial && u->commercial) || (g->not_for_profit_only && u->for_profit))
            return false;
    } else {
        if ((g->non_commercial && !u->commercial) || (g->not_for_profit_only && !u->for_profit))
            return false;
    }
    return conditions_match(g, u);
}

struct consent_decision consent_evaluate(const struct consent_use *use,
                                         const struct consent_grant *grants, size_t ngrants)
{
    struct consent_decision d = {false, CONSENT_R_INVALID, 0, -1};
    /* Per category bit: lowest index of a covering permit / deny, or -1. */
    int permit_at[NCATEGORIES], deny_at[NCATEGORIES];

    if (use == NULL || !valid_categories(use->categories) ||
        (unsigned)use->purpose >= CONSENT_NPURPOSES ||
        !valid_conditions(use->conditions, use->nconditions) || (grants == NULL && ngrants > 0) ||
        ngrants > CONSENT_MAX_GRANTS)
        return d;
    for (size_t i = 0; i < ngrants; i++) {
        if (!valid_grant(&grants[i])) {
            d.grant = (int)i;
            return d;
        }
    }

    for (size_t c = 0; c < NCATEGORIES; c++)
        permit_at[c] = deny_at[c] = -1;
    for (size_t i = 0; i < ngrants; i++) {
        const struct consent_grant *g = &grants[i];
        int *at = g->effect == CONSENT_PERMIT ? permit_at : deny_at;

        if (!applies(g, use))
            continue;
        for (size_t c = 0; c < NCATEGORIES; c++) {
            if ((g->categories & (1u << c)) != 0 && at[c] < 0)
                at[c] = (int)i;
        }
    }

    d.grant = -1;
    for (size_t c = 0; c < NCATEGORIES; c++) {
        if ((use->categories & (1u << c)) == 0)
            continue;
        if (permit_at[c] >= 0 && deny_at[c] < 0) {
            if (d.grant < 0)
                d.grant = permit_at[c];
            continue;
        }
        d.category = 1u << c;
        d.reason = deny_at[c] >= 0 ? CONSENT_R_DENIED : CONSENT_R_NO_PERMIT;
        d.grant = deny_at[c];
        return d;
    }
    d.permit = true;
    d.reason = CONSENT_R_PERMITTED;
    return d;
}
