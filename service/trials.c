/* Trial recruitment helpers: loading a trial, who is eligible, the feasibility release, budget
 * charges, choosing invitees, and reading ClinicalTrials.gov records. See trials.h. */
#include "trials.h"
#include "auth.h"
#include "db.h"
#include "disclosure.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- loading ---- */

/* Stored cohorts were validated against the catalog when they were saved, and catalog ids are
 * never removed (schema/0002_catalog.sql), so reading them back needs no lookups. */
static int stored_id(void *ctx, const char *kind, const char *id)
{
    return 1;
}

void svc_trial_free(struct svc_trial *t)
{
    if (!t)
        return;
    free(t->title);
    for (size_t i = 0; i < t->nconditions; i++)
        free(t->conditions[i]);
    stats_cohort_free(t->inclusion);
    stats_cohort_free(t->exclusion);
    free(t);
}

static struct stats_cohort *load_cohort(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    struct stats_cohort *c = j ? stats_cohort_parse(j, NULL, stored_id, NULL, NULL) : NULL;
    json_decref(j);
    return c;
}

/* Fill t from the row's columns 4.. (see load_sql). Returns 0 or -1 (malformed, out of memory). */
static int trial_from_row(PGresult *r, struct svc_trial *t)
{
    json_t *conds = NULL, *sites = NULL, *v;
    size_t i;
    int rc = -1;

    if (!(t->title = strdup(PQgetvalue(r, 0, 4))))
        goto out;
    t->categories = (unsigned)atoi(PQgetvalue(r, 0, 5));
    t->commercial = PQgetvalue(r, 0, 6)[0] == 't';
    t->for_profit = PQgetvalue(r, 0, 7)[0] == 't';
    conds = json_loads(PQgetvalue(r, 0, 8), 0, NULL);
    if (!json_is_array(conds) || json_array_size(conds) > SVC_TRIAL_CONDITIONS_MAX)
        goto out;
    json_array_foreach(conds, i, v)
    {
        if (!json_is_string(v) || !(t->conditions[t->nconditions] = strdup(json_string_value(v))))
            goto out;
        t->nconditions++;
    }
    sites = json_loads(PQgetvalue(r, 0, 9), 0, NULL);
    if (!json_is_array(sites) || json_array_size(sites) > SVC_TRIAL_SITES_MAX)
        goto out;
    json_array_foreach(sites, i, v)
    {
        const char *c = json_string_value(json_object_get(v, "country"));
        bool seen = false;
        if (!c || strlen(c) != 2)
            goto out;
        for (size_t k = 0; k < t->ncountries && !seen; k++)
            seen = strcmp(t->countries[k], c) == 0;
        if (!seen)
            memcpy(t->countries[t->ncountries++], c, 3);
    }
    if (!(t->inclusion = load_cohort(PQgetvalue(r, 0, 10))))
        goto out;
    if (!PQgetisnull(r, 0, 11) && !(t->exclusion = load_cohort(PQgetvalue(r, 0, 11))))
        goto out;
    rc = 0;
out:
    json_decref(conds);
    json_decref(sites);
    return rc;
}

#define LOAD_SQL                                                                                   \
    "SELECT id, coordinator_id, status, approved_at IS NOT NULL AND expires_on >= "                \
    "(now() AT TIME ZONE 'UTC')::date, title, categories, commercial, organisation_for_profit, "   \
    "array_to_json(conditions)::text, sites::text, inclusion::text, exclusion::text FROM trial "   \
    "WHERE id = $1 AND ($2::uuid IS NULL OR coordinator_id = $2::uuid)"

int svc_trial_load(struct db_conn *db, const char *id, const char *coordinator_id, bool lock,
                   struct svc_trial **out)
{
    const char *params[] = {id, coordinator_id};
    struct svc_trial *t = NULL;
    PGresult *r = NULL;
    int rc = -1;

    *out = NULL;
    if (lock)
        r = db_prep(db, "trial_load_lock", LOAD_SQL " FOR UPDATE", 2, params);
    else
        r = db_prep(db, "trial_load", LOAD_SQL, 2, params);
    if (!r)
        goto out;
    if (PQntuples(r) != 1) {
        rc = 0;
        goto out;
    }
    if (!(t = calloc(1, sizeof(*t))))
        goto out;
    snprintf(t->id, sizeof(t->id), "%s", PQgetvalue(r, 0, 0));
    snprintf(t->coordinator_id, sizeof(t->coordinator_id), "%s", PQgetvalue(r, 0, 1));
    snprintf(t->status, sizeof(t->status), "%s", PQgetvalue(r, 0, 2));
    t->approved = PQgetvalue(r, 0, 3)[0] == 't';
    if (trial_from_row(r, t) < 0)
        goto out;
    *out = t;
    t = NULL;
    rc = 1;
out:
    svc_trial_free(t);
    PQclear(r);
    return rc;
}

char *svc_trial_describe(const char *cohort_json)
{
    struct stats_cohort *c = cohort_json ? load_cohort(cohort_json) : NULL;
    char *words = stats_cohort_describe(c);
    stats_cohort_free(c);
    return words;
}

char *svc_trial_query_text(const struct svc_trial *t)
{
    char *inc = NULL, *exc = NULL, *text = NULL;
    json_t *conds = json_array(), *q = NULL;

    if (!t || !conds || !(inc = stats_cohort_canonical(t->inclusion)))
        goto out;
    if (t->exclusion && !(exc = stats_cohort_canonical(t->exclusion)))
        goto out;
    for (size_t i = 0; i < t->nconditions; i++)
        if (json_array_append_new(conds, json_string(t->conditions[i])) < 0)
            goto out;
    q = json_pack("{s:s, s:s?, s:i, s:b, s:b, s:O}", "inclusion", inc, "exclusion", exc,
                  "categories", (int)t->categories, "commercial", t->commercial, "for_profit",
                  t->for_profit, "conditions", conds);
    if (q)
        text = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(q);
    json_decref(conds);
    free(inc);
    free(exc);
    return text;
}

/* ---- eligibility ---- */

/* '{a,b}': catalog ids are [a-z0-9_], so they need no quoting in an array literal. */
static int array_literal(char *const *ids, size_t n, struct stats_sql *buf)
{
    if (stats_sql_append(buf, "{") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = ids[i]; *p; p++)
            if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
                return -1;
        if (stats_sql_append(buf, "%s%s", i ? "," : "", ids[i]) < 0)
            return -1;
    }
    return stats_sql_append(buf, "}");
}

/* Append "$N::cast" for a new parameter. Returns 0 or -1. */
static int param(struct stats_sql *s, const char *value, const char *cast)
{
    return stats_sql_param(s, value) < 0 ? -1 : stats_sql_append(s, "::%s", cast);
}

int svc_trial_eligible_sql(const struct svc_trial *t, int64_t now, struct stats_sql *out)
{
    struct stats_sql focus;
    size_t len0 = out ? out->len : 0;
    int np0 = out ? out->nparams : 0, rc = -1;

    stats_sql_init(&focus);
    if (!t || !out || !t->inclusion || t->nconditions > SVC_TRIAL_CONDITIONS_MAX ||
        array_literal(t->conditions, t->nconditions, &focus) < 0)
        goto out;
    /* One row per live member (schema 0022; from one condition's key range when the inclusion
     * requires a condition, 0024): the cheap criteria and the exclusion, then consent from the
     * row's summary of the member's trial-recruitment grants (their grants when off the fast
     * path). The costly criteria (counts of symptom entries or weeks) outside an OFFSET 0 fence,
     * so they run only for members the rest left. */
    if (stats_sql_append(out, "SELECT c.member_id, c.birth_year, c.country FROM ("
                              "SELECT f.member_id, f.birth_year, f.country FROM ") < 0 ||
        stats_cohort_facts_source(t->inclusion, out) < 0 ||
        stats_sql_append(out, " f WHERE (") < 0 ||
        stats_cohort_compile_facts_from(t->inclusion, "f.member_id", "f", now, STATS_COHORT_CHEAP,
                                        out) < 0 ||
        stats_sql_append(out, ")") < 0)
        goto out;
    if (t->exclusion && (stats_sql_append(out, " AND NOT (") < 0 ||
                         stats_cohort_compile_facts(t->exclusion, "f.member_id", "f", now,
                                                    STATS_COHORT_WHOLE, out) < 0 ||
                         stats_sql_append(out, ")") < 0))
        goto out;
    if (stats_sql_append(out, " AND ") < 0 ||
        stats_cohort_consent_sql(out, "f", "trial_recruitment", t->categories, t->commercial,
                                 t->for_profit, focus.text, now, false) < 0 ||
        stats_sql_append(out, " OFFSET 0) c WHERE ") < 0 ||
        stats_cohort_compile_part(t->inclusion, "c.member_id", "c", now, STATS_COHORT_COSTLY, out) <
            0)
        goto out;
    rc = 0;
out:
    if (rc < 0 && out)
        stats_sql_truncate(out, len0, np0);
    stats_sql_free(&focus);
    return rc;
}

/* ---- the budget ---- */

int svc_trial_charge(struct db_conn *db, const char *trial_id, const char *kind,
                     const char *query_hash, double epsilon, double *remaining)
{
    char eps[32];
    PGresult *r;
    int rc = -1;

    if (!(epsilon > 0 && epsilon <= 100))
        return -1;
    snprintf(eps, sizeof(eps), "%.3f", epsilon);
    const char *params[] = {trial_id, eps, kind, query_hash};
    /* One statement: the guarded update and the ledger row happen together or not at all. */
    r = db_prep(db, "trial_charge",
                "WITH c AS (UPDATE trial SET epsilon_spent = epsilon_spent + $2::numeric "
                "WHERE id = $1 AND epsilon_spent + $2::numeric <= epsilon_budget "
                "RETURNING id, epsilon_budget - epsilon_spent AS remaining), "
                "l AS (INSERT INTO trial_query (trial_id, kind, query_hash, epsilon) "
                "SELECT id, $3, $4, $2::numeric FROM c) "
                "SELECT remaining::text FROM c",
                4, params);
    if (r)
        rc = PQntuples(r) == 1 ? 1 : 0;
    if (rc == 1 && remaining)
        *remaining = strtod(PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return rc;
}

/* ---- invitations ---- */

int svc_trial_invite(struct db_conn *db, const struct svc_trial *t, int64_t now, int count,
                     const char *message, int per_month, const struct stats_rng *rng,
                     int64_t *created)
{
    struct stats_sql q, ids;
    PGresult *r = NULL;
    int *order = NULL;
    char cap[16], cats[16];
    int n, k, rc = -1;

    stats_sql_init(&q);
    stats_sql_init(&ids);
    *created = 0;
    if (!t || count < 1 || count > SVC_TRIAL_INVITE_MAX || per_month < 0 || !rng)
        goto out;
    /* Serialise invitation requests, so that two trials inviting at once cannot both take a
     * member past the monthly cap. */
    if (!(r = db_prep(db, "trial_invite_lock", "SELECT pg_advisory_xact_lock(1953653108)", 0,
                      NULL)))
        goto out;
    PQclear(r);
    r = NULL;

    if (stats_sql_append(&q, "WITH e AS (") < 0 || svc_trial_eligible_sql(t, now, &q) < 0 ||
        stats_sql_append(&q, ") SELECT e.member_id FROM e WHERE NOT EXISTS (SELECT 1 FROM "
                             "trial_invitation i WHERE i.trial_id = ") < 0 ||
        param(&q, t->id, "uuid") < 0 ||
        stats_sql_append(&q, " AND i.member_id = e.member_id) AND (SELECT count(*) FROM "
                             "trial_invitation i WHERE i.member_id = e.member_id AND "
                             "i.created_at > now() - interval '30 days') < ") < 0)
        goto out;
    snprintf(cap, sizeof(cap), "%d", per_month);
    /* Beyond the pool limit the database draws the pool at random; the choice below is uniform
     * within it, so uniform overall. */
    if (param(&q, cap, "int") < 0 ||
        stats_sql_append(&q, " ORDER BY random() LIMIT %d", SVC_TRIAL_POOL_MAX) < 0)
        goto out;
    if (!(r = db_exec(db, q.text, q.nparams, (const char *const *)q.params)))
        goto out;
    n = PQntuples(r);
    k = n < count ? n : count;
    if (k > 0) {
        /* A partial Fisher-Yates shuffle with the CSPRNG picks k of the n uniformly. */
        if (!(order = malloc((size_t)n * sizeof(*order))))
            goto out;
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = 0; i < k; i++) {
            uint64_t j;
            if (stats_rng_uniform(rng, (uint64_t)(n - i), &j) < 0)
                goto out;
            int tmp = order[i];
            order[i] = order[i + (int)j];
            order[i + (int)j] = tmp;
        }
        if (stats_sql_append(&ids, "{") < 0)
            goto out;
        for (int i = 0; i < k; i++)
            if (stats_sql_append(&ids, "%s%s", i ? "," : "", PQgetvalue(r, order[i], 0)) < 0)
                goto out;
        if (stats_sql_append(&ids, "}") < 0)
            goto out;
        PQclear(r);
        snprintf(cats, sizeof(cats), "%u", t->categories);
        const char *params[] = {ids.text, t->id, message, t->title, cats};
        r = db_prep(db, "trial_invite_insert",
                    "WITH ins AS (INSERT INTO trial_invitation (member_id, trial_id, message) "
                    "SELECT m, $2::uuid, $3 FROM unnest($1::uuid[]) AS m "
                    "ON CONFLICT DO NOTHING RETURNING member_id), "
                    "du AS (INSERT INTO data_use (member_id, kind, object_id, title, purpose, "
                    "categories) SELECT member_id, 'trial', $2::uuid, $4, 'trial_recruitment', "
                    "$5::int FROM ins ON CONFLICT (member_id, object_id) WHERE kind = 'trial' "
                    "DO UPDATE SET at = now(), title = EXCLUDED.title WHERE " DATA_USE_STALE ") "
                    "SELECT count(*) FROM ins",
                    5, params);
        if (!r || PQntuples(r) != 1)
            goto out;
        *created = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    rc = 0;
out:
    PQclear(r);
    free(order);
    stats_sql_free(&q);
    stats_sql_free(&ids);
    return rc;
}

int svc_trial_response_counts(struct db_conn *db, const char *trial_id,
                              struct svc_trial_responses *out)
{
    const char *params[] = {trial_id};
    PGresult *r = db_prep(db, "trial_response_counts",
                          "SELECT count(*), count(*) FILTER (WHERE status = 'accepted'), "
                          "count(*) FILTER (WHERE status = 'declined'), "
                          "count(*) FILTER (WHERE status = 'pending') "
                          "FROM trial_invitation WHERE trial_id = $1",
                          1, params);
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!r || PQntuples(r) != 1)
        goto out;
    out->invited = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    out->accepted = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->declined = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    out->pending = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    rc = 0;
out:
    PQclear(r);
    return rc;
}

/* Noise, then the research disclosure rule. A new reference or NULL. */
static json_t *released(const struct stats_mechanism *mech, int64_t value, double epsilon)
{
    int64_t noisy;
    if (stats_mechanism_noisy(mech, value, 1, epsilon, &noisy) < 0)
        return NULL;
    return stats_release_count(noisy);
}

json_t *svc_trial_responses_release(const struct svc_trial_responses *c,
                                    const struct stats_mechanism *mech, double epsilon)
{
    json_t *out = NULL, *inv, *acc, *dec, *pen;

    if (!c)
        return NULL;
    inv = released(mech, c->invited, epsilon);
    acc = released(mech, c->accepted, epsilon);
    dec = released(mech, c->declined, epsilon);
    pen = released(mech, c->pending, epsilon);
    if (inv && acc && dec && pen)
        out = json_pack("{s:O, s:O, s:O, s:O, s:f}", "invited", inv, "accepted", acc, "declined",
                        dec, "pending", pen, "epsilon_per_count", epsilon);
    json_decref(inv);
    json_decref(acc);
    json_decref(dec);
    json_decref(pen);
    return out;
}

/* ---- ClinicalTrials.gov records ---- */

static const json_t *obj(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_object(v) ? v : NULL;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] ? s : NULL;
}

static bool nct_shaped(const char *s)
{
    if (!s || strncmp(s, "NCT", 3) != 0 || strlen(s) != 11)
        return false;
    for (int i = 3; i < 11; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int svc_ctgov_age_years(const char *s, int *years)
{
    /* years = n * num / den, rounded down; a year is 365.25 days (1461 days in 4 years). */
    static const struct {
        const char *unit;
        long long num, den;
    } units[] = {{"year", 1, 1},   {"month", 1, 12},       {"week", 28, 1461},
                 {"day", 4, 1461}, {"hour", 4, 1461 * 24}, {"minute", 4, 1461 * 24 * 60}};
    char unit[16];
    long long n = 0;
    size_t i = 0, u = 0;

    if (!s || !years || !isdigit((unsigned char)s[0]))
        return -1;
    for (; isdigit((unsigned char)s[i]); i++) {
        if (i >= 6)
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    if (s[i++] != ' ')
        return -1;
    for (; s[i] && u < sizeof(unit) - 1; i++, u++)
        unit[u] = (char)tolower((unsigned char)s[i]);
    unit[u] = '\0';
    if (s[i])
        return -1;
    if (u > 1 && unit[u - 1] == 's')
        unit[u - 1] = '\0';
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strcmp(unit, units[k].unit) == 0) {
            long long y = n * units[k].num / units[k].den;
            *years = y > 120 ? 120 : (int)y;
            return 0;
        }
    }
    return -1;
}

int svc_ctgov_read(const json_t *study, struct svc_ctgov *out, char field[96], char msg[96])
{
    const json_t *ps, *idm, *desc, *spm, *lead, *org, *elig, *cond, *locm, *locs, *loc;
    const char *s;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->min_age = out->max_age = out->healthy_volunteers = -1;
    field[0] = msg[0] = '\0';
    if (!(ps = obj(study, "protocolSection"))) {
        snprintf(field, 96, "protocolSection");
        snprintf(msg, 96, "is required: the body must be a ClinicalTrials.gov study record");
        return -1;
    }
    idm = obj(ps, "identificationModule");
    if (nct_shaped(str(idm, "nctId")))
        out->nct_id = str(idm, "nctId");
    if (!(out->title = str(idm, "briefTitle")) && !(out->title = str(idm, "officialTitle"))) {
        snprintf(field, 96, "protocolSection.identificationModule.briefTitle");
        snprintf(msg, 96, "is required");
        return -1;
    }
    desc = obj(ps, "descriptionModule");
    out->summary = str(desc, "briefSummary");
    spm = obj(ps, "sponsorCollaboratorsModule");
    lead = obj(spm, "leadSponsor");
    org = obj(idm, "organization");
    if ((out->sponsor = str(lead, "name")))
        out->commercial = (s = str(lead, "class")) && strcmp(s, "INDUSTRY") == 0;
    else if ((out->sponsor = str(org, "fullName")))
        out->commercial = (s = str(org, "class")) && strcmp(s, "INDUSTRY") == 0;
    else {
        snprintf(field, 96, "protocolSection.sponsorCollaboratorsModule.leadSponsor.name");
        snprintf(msg, 96, "is required");
        return -1;
    }
    elig = obj(ps, "eligibilityModule");
    if ((s = str(elig, "sex"))) {
        if (strcmp(s, "FEMALE") == 0)
            out->sex = "female";
        else if (strcmp(s, "MALE") == 0)
            out->sex = "male";
    }
    if (svc_ctgov_age_years(str(elig, "minimumAge"), &out->min_age) < 0)
        out->min_age = -1;
    if (svc_ctgov_age_years(str(elig, "maximumAge"), &out->max_age) < 0)
        out->max_age = -1;
    if (json_is_boolean(json_object_get(elig, "healthyVolunteers")))
        out->healthy_volunteers = json_is_true(json_object_get(elig, "healthyVolunteers"));
    out->eligibility = str(elig, "eligibilityCriteria");
    cond = obj(ps, "conditionsModule");
    if (json_is_array(json_object_get(cond, "conditions")))
        out->conditions = json_object_get(cond, "conditions");
    locm = obj(ps, "contactsLocationsModule");
    locs = json_object_get(locm, "locations");
    json_array_foreach(locs, i, loc)
    {
        const char *code = svc_country_code(str(loc, "country"));
        bool seen = false;
        if (i >= 100000 || out->ncountries == SVC_TRIAL_SITES_MAX)
            break;
        for (size_t k = 0; code && k < out->ncountries && !seen; k++)
            seen = strcmp(out->countries[k], code) == 0;
        if (code && !seen)
            memcpy(out->countries[out->ncountries++], code, 3);
    }
    return 0;
}

/* ---- countries ---- */

/* ISO 3166-1 alpha-2 with the English short names ClinicalTrials.gov uses, then other spellings
 * seen in its records. Names compare case-insensitively (ASCII). */
static const struct {
    char code[3];
    const char *name;
} country_names[] = {
    {"AD", "Andorra"},
    {"AE", "United Arab Emirates"},
    {"AF", "Afghanistan"},
    {"AG", "Antigua and Barbuda"},
    {"AI", "Anguilla"},
    {"AL", "Albania"},
    {"AM", "Armenia"},
    {"AO", "Angola"},
    {"AQ", "Antarctica"},
    {"AR", "Argentina"},
    {"AS", "American Samoa"},
    {"AT", "Austria"},
    {"AU", "Australia"},
    {"AW", "Aruba"},
    {"AX", "\xc3\x85land Islands"},
    {"AZ", "Azerbaijan"},
    {"BA", "Bosnia and Herzegovina"},
    {"BB", "Barbados"},
    {"BD", "Bangladesh"},
    {"BE", "Belgium"},
    {"BF", "Burkina Faso"},
    {"BG", "Bulgaria"},
    {"BH", "Bahrain"},
    {"BI", "Burundi"},
    {"BJ", "Benin"},
    {"BL", "Saint Barth\xc3\xa9lemy"},
    {"BM", "Bermuda"},
    {"BN", "Brunei Darussalam"},
    {"BO", "Bolivia"},
    {"BQ", "Bonaire, Sint Eustatius and Saba"},
    {"BR", "Brazil"},
    {"BS", "Bahamas"},
    {"BT", "Bhutan"},
    {"BV", "Bouvet Island"},
    {"BW", "Botswana"},
    {"BY", "Belarus"},
    {"BZ", "Belize"},
    {"CA", "Canada"},
    {"CC", "Cocos (Keeling) Islands"},
    {"CD", "Congo, The Democratic Republic of the"},
    {"CF", "Central African Republic"},
    {"CG", "Congo"},
    {"CH", "Switzerland"},
    {"CI", "C\xc3\xb4te D'Ivoire"},
    {"CK", "Cook Islands"},
    {"CL", "Chile"},
    {"CM", "Cameroon"},
    {"CN", "China"},
    {"CO", "Colombia"},
    {"CR", "Costa Rica"},
    {"CU", "Cuba"},
    {"CV", "Cabo Verde"},
    {"CW", "Cura\xc3\xa7"
           "ao"},
    {"CX", "Christmas Island"},
    {"CY", "Cyprus"},
    {"CZ", "Czechia"},
    {"DE", "Germany"},
    {"DJ", "Djibouti"},
    {"DK", "Denmark"},
    {"DM", "Dominica"},
    {"DO", "Dominican Republic"},
    {"DZ", "Algeria"},
    {"EC", "Ecuador"},
    {"EE", "Estonia"},
    {"EG", "Egypt"},
    {"EH", "Western Sahara"},
    {"ER", "Eritrea"},
    {"ES", "Spain"},
    {"ET", "Ethiopia"},
    {"FI", "Finland"},
    {"FJ", "Fiji"},
    {"FK", "Falkland Islands (Malvinas)"},
    {"FM", "Micronesia, Federated States of"},
    {"FO", "Faroe Islands"},
    {"FR", "France"},
    {"GA", "Gabon"},
    {"GB", "United Kingdom"},
    {"GD", "Grenada"},
    {"GE", "Georgia"},
    {"GF", "French Guiana"},
    {"GG", "Guernsey"},
    {"GH", "Ghana"},
    {"GI", "Gibraltar"},
    {"GL", "Greenland"},
    {"GM", "Gambia"},
    {"GN", "Guinea"},
    {"GP", "Guadeloupe"},
    {"GQ", "Equatorial Guinea"},
    {"GR", "Greece"},
    {"GS", "South Georgia and the South Sandwich Islands"},
    {"GT", "Guatemala"},
    {"GU", "Guam"},
    {"GW", "Guinea-Bissau"},
    {"GY", "Guyana"},
    {"HK", "Hong Kong"},
    {"HM", "Heard Island and McDonald Islands"},
    {"HN", "Honduras"},
    {"HR", "Croatia"},
    {"HT", "Haiti"},
    {"HU", "Hungary"},
    {"ID", "Indonesia"},
    {"IE", "Ireland"},
    {"IL", "Israel"},
    {"IM", "Isle of Man"},
    {"IN", "India"},
    {"IO", "British Indian Ocean Territory"},
    {"IQ", "Iraq"},
    {"IR", "Iran, Islamic Republic of"},
    {"IS", "Iceland"},
    {"IT", "Italy"},
    {"JE", "Jersey"},
    {"JM", "Jamaica"},
    {"JO", "Jordan"},
    {"JP", "Japan"},
    {"KE", "Kenya"},
    {"KG", "Kyrgyzstan"},
    {"KH", "Cambodia"},
    {"KI", "Kiribati"},
    {"KM", "Comoros"},
    {"KN", "Saint Kitts and Nevis"},
    {"KP", "Korea, Democratic People's Republic of"},
    {"KR", "Korea, Republic of"},
    {"KW", "Kuwait"},
    {"KY", "Cayman Islands"},
    {"KZ", "Kazakhstan"},
    {"LA", "Lao People's Democratic Republic"},
    {"LB", "Lebanon"},
    {"LC", "Saint Lucia"},
    {"LI", "Liechtenstein"},
    {"LK", "Sri Lanka"},
    {"LR", "Liberia"},
    {"LS", "Lesotho"},
    {"LT", "Lithuania"},
    {"LU", "Luxembourg"},
    {"LV", "Latvia"},
    {"LY", "Libya"},
    {"MA", "Morocco"},
    {"MC", "Monaco"},
    {"MD", "Moldova, Republic of"},
    {"ME", "Montenegro"},
    {"MF", "Saint Martin"},
    {"MG", "Madagascar"},
    {"MH", "Marshall Islands"},
    {"MK", "North Macedonia"},
    {"ML", "Mali"},
    {"MM", "Myanmar"},
    {"MN", "Mongolia"},
    {"MO", "Macao"},
    {"MP", "Northern Mariana Islands"},
    {"MQ", "Martinique"},
    {"MR", "Mauritania"},
    {"MS", "Montserrat"},
    {"MT", "Malta"},
    {"MU", "Mauritius"},
    {"MV", "Maldives"},
    {"MW", "Malawi"},
    {"MX", "Mexico"},
    {"MY", "Malaysia"},
    {"MZ", "Mozambique"},
    {"NA", "Namibia"},
    {"NC", "New Caledonia"},
    {"NE", "Niger"},
    {"NF", "Norfolk Island"},
    {"NG", "Nigeria"},
    {"NI", "Nicaragua"},
    {"NL", "Netherlands"},
    {"NO", "Norway"},
    {"NP", "Nepal"},
    {"NR", "Nauru"},
    {"NU", "Niue"},
    {"NZ", "New Zealand"},
    {"OM", "Oman"},
    {"PA", "Panama"},
    {"PE", "Peru"},
    {"PF", "French Polynesia"},
    {"PG", "Papua New Guinea"},
    {"PH", "Philippines"},
    {"PK", "Pakistan"},
    {"PL", "Poland"},
    {"PM", "Saint Pierre and Miquelon"},
    {"PN", "Pitcairn"},
    {"PR", "Puerto Rico"},
    {"PS", "Palestine, State of"},
    {"PT", "Portugal"},
    {"PW", "Palau"},
    {"PY", "Paraguay"},
    {"QA", "Qatar"},
    {"RE", "R\xc3\xa9union"},
    {"RO", "Romania"},
    {"RS", "Serbia"},
    {"RU", "Russian Federation"},
    {"RW", "Rwanda"},
    {"SA", "Saudi Arabia"},
    {"SB", "Solomon Islands"},
    {"SC", "Seychelles"},
    {"SD", "Sudan"},
    {"SE", "Sweden"},
    {"SG", "Singapore"},
    {"SH", "Saint Helena"},
    {"SI", "Slovenia"},
    {"SJ", "Svalbard and Jan Mayen"},
    {"SK", "Slovakia"},
    {"SL", "Sierra Leone"},
    {"SM", "San Marino"},
    {"SN", "Senegal"},
    {"SO", "Somalia"},
    {"SR", "Suriname"},
    {"SS", "South Sudan"},
    {"ST", "Sao Tome and Principe"},
    {"SV", "El Salvador"},
    {"SX", "Sint Maarten"},
    {"SY", "Syrian Arab Republic"},
    {"SZ", "Eswatini"},
    {"TC", "Turks and Caicos Islands"},
    {"TD", "Chad"},
    {"TF", "French Southern Territories"},
    {"TG", "Togo"},
    {"TH", "Thailand"},
    {"TJ", "Tajikistan"},
    {"TK", "Tokelau"},
    {"TL", "Timor-Leste"},
    {"TM", "Turkmenistan"},
    {"TN", "Tunisia"},
    {"TO", "Tonga"},
    {"TR", "T\xc3\xbcrkiye"},
    {"TT", "Trinidad and Tobago"},
    {"TV", "Tuvalu"},
    {"TW", "Taiwan"},
    {"TZ", "Tanzania"},
    {"UA", "Ukraine"},
    {"UG", "Uganda"},
    {"UM", "United States Minor Outlying Islands"},
    {"US", "United States"},
    {"UY", "Uruguay"},
    {"UZ", "Uzbekistan"},
    {"VA", "Holy See (Vatican City State)"},
    {"VC", "Saint Vincent and the Grenadines"},
    {"VE", "Venezuela"},
    {"VG", "Virgin Islands, British"},
    {"VI", "Virgin Islands (U.S.)"},
    {"VN", "Vietnam"},
    {"VU", "Vanuatu"},
    {"WF", "Wallis and Futuna"},
    {"WS", "Samoa"},
    {"YE", "Yemen"},
    {"YT", "Mayotte"},
    {"ZA", "South Africa"},
    {"ZM", "Zambia"},
    {"ZW", "Zimbabwe"},
    /* Other spellings. */
    {"BO", "Bolivia, Plurinational State of"},
    {"CD", "Democratic Republic of the Congo"},
    {"CI", "Cote D'Ivoire"},
    {"CI", "Ivory Coast"},
    {"CV", "Cape Verde"},
    {"CW", "Curacao"},
    {"CZ", "Czech Republic"},
    {"FM", "Micronesia"},
    {"IR", "Iran"},
    {"KR", "South Korea"},
    {"KP", "North Korea"},
    {"LA", "Laos"},
    {"LY", "Libyan Arab Jamahiriya"},
    {"MD", "Moldova"},
    {"MK", "Macedonia, The Former Yugoslav Republic of"},
    {"MO", "Macau"},
    {"PS", "Palestinian Territory, occupied"},
    {"PS", "Palestinian Territories"},
    {"RE", "Reunion"},
    {"RU", "Russia"},
    {"SY", "Syria"},
    {"SZ", "Swaziland"},
    {"TR", "Turkey"},
    {"TR", "Turkiye"},
    {"TZ", "Tanzania, United Republic of"},
    {"US", "United States of America"},
    {"VA", "Holy See"},
    {"VE", "Venezuela, Bolivarian Republic of"},
    {"VN", "Viet Nam"},
};

const char *svc_country_code(const char *name)
{
    if (!name || strlen(name) > 100)
        return NULL;
    for (size_t i = 0; i < sizeof(country_names) / sizeof(country_names[0]); i++)
        if (strcasecmp(name, country_names[i].name) == 0)
            return country_names[i].code;
    return NULL;
}

bool svc_country_valid(const char *code)
{
    size_t n = 0;
    const char *const *codes = stats_country_codes(&n);
    if (!code || strlen(code) != 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(codes[i], code) == 0)
            return true;
    return false;
}

/* ---- conditions ---- */

/* Common names of catalog conditions that differ from the catalog's own (normalised as
 * normalise_name writes them). Ids not in the catalog simply never match. */
static const struct {
    const char *name;
    const char *id;
} condition_synonyms[] = {
    {"type 2 diabetes mellitus", "type_2_diabetes"},
    {"diabetes mellitus type 2", "type_2_diabetes"},
    {"t2dm", "type_2_diabetes"},
    {"non-insulin-dependent diabetes mellitus", "type_2_diabetes"},
    {"type 1 diabetes mellitus", "type_1_diabetes"},
    {"diabetes mellitus type 1", "type_1_diabetes"},
    {"t1dm", "type_1_diabetes"},
    {"insulin-dependent diabetes mellitus", "type_1_diabetes"},
    {"high blood pressure", "hypertension"},
    {"essential hypertension", "hypertension"},
    {"arterial hypertension", "hypertension"},
    {"major depressive disorder", "depression"},
    {"major depression", "depression"},
    {"depressive disorder", "depression"},
    {"relapsing-remitting multiple sclerosis", "multiple_sclerosis"},
    {"relapsing multiple sclerosis", "multiple_sclerosis"},
    {"crohn disease", "crohns_disease"},
    {"parkinson disease", "parkinsons_disease"},
    {"alzheimer disease", "alzheimers_disease"},
    {"huntington disease", "huntingtons_disease"},
    {"atopic eczema", "atopic_dermatitis"},
    {"eczema", "atopic_dermatitis"},
    {"sle", "lupus"},
    {"lupus", "lupus"},
    {"copd", "copd"},
    {"hiv", "hiv_infection"},
    {"hiv infections", "hiv_infection"},
    {"hiv-1 infection", "hiv_infection"},
    {"breast neoplasms", "breast_cancer"},
    {"breast carcinoma", "breast_cancer"},
    {"prostatic neoplasms", "prostate_cancer"},
    {"lung neoplasms", "lung_cancer"},
    {"non-small cell lung cancer", "lung_cancer"},
    {"colorectal neoplasms", "colorectal_cancer"},
    {"congestive heart failure", "heart_failure"},
    {"chronic heart failure", "heart_failure"},
    {"coronary heart disease", "coronary_artery_disease"},
    {"coronary disease", "coronary_artery_disease"},
    {"alcoholism", "alcohol_use_disorder"},
    {"alcohol dependence", "alcohol_use_disorder"},
    {"opioid dependence", "opioid_use_disorder"},
    {"nicotine dependence", "tobacco_dependence"},
    {"tobacco use disorder", "tobacco_dependence"},
    {"pancreatic insufficiency", "exocrine_pancreatic_insufficiency"},
    {"gastroesophageal reflux", "gerd"},
    {"non-alcoholic fatty liver disease", "fatty_liver_disease"},
    {"nonalcoholic fatty liver disease", "fatty_liver_disease"},
    {"nafld", "fatty_liver_disease"},
    {"nonalcoholic steatohepatitis", "nash"},
    {"chronic renal insufficiency", "chronic_kidney_disease"},
    {"obstructive sleep apnea", "sleep_apnea"},
    {"ptsd", "ptsd"},
    {"adhd", "adhd"},
    {"autism", "autism_spectrum_disorder"},
    {"migraine disorders", "migraine"},
    {"migraine headache", "migraine"},
    {"epilepsies", "epilepsy"},
    {"bronchial asthma", "asthma"},
    {"morbid obesity", "obesity"},
    {"sickle cell anemia", "sickle_cell_disease"},
    {"post-covid-19 condition", "long_covid"},
    {"chronic fatigue syndrome", "me_cfs"},
    {"ibs", "irritable_bowel_syndrome"},
    {"plaque psoriasis", "psoriasis"},
    {"traumatic brain injuries", "traumatic_brain_injury"},
};

#define NAME_MAX_LEN 300

/* Lower-case ASCII, drop apostrophes (' and U+2019), collapse spaces, trim, drop a final '.'.
 * Returns 0, or -1 if name is too long. */
static int normalise_name(const char *name, char out[NAME_MAX_LEN + 1])
{
    size_t n = 0;
    bool space = false;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '\'')
            continue;
        if (p[0] == 0xe2 && p[1] == 0x80 && p[2] == 0x99) {
            p += 2;
            continue;
        }
        if (isspace(*p)) {
            space = n > 0;
            continue;
        }
        if (n + 2 > NAME_MAX_LEN)
            return -1;
        if (space)
            out[n++] = ' ';
        space = false;
        out[n++] = (char)tolower(*p);
    }
    if (n > 0 && out[n - 1] == '.')
        n--;
    out[n] = '\0';
    return 0;
}

/* "caries, dental" -> "dental caries" (MeSH-style inverted names); "" when there is no single
 * ", " to turn around. */
static void uninvert(const char *s, char out[NAME_MAX_LEN + 1])
{
    const char *comma = strstr(s, ", ");
    out[0] = '\0';
    if (!comma || strstr(comma + 2, ", ") || !comma[2] || comma == s)
        return;
    snprintf(out, NAME_MAX_LEN + 1, "%s %.*s", comma + 2, (int)(comma - s), s);
}

static const char *synonym(const char *s)
{
    for (size_t i = 0; s[0] && i < sizeof(condition_synonyms) / sizeof(condition_synonyms[0]); i++)
        if (strcmp(s, condition_synonyms[i].name) == 0)
            return condition_synonyms[i].id;
    return NULL;
}

int svc_condition_match(struct db_conn *db, const char *name, char id[STATS_CATALOG_ID_MAX + 1])
{
    char a[NAME_MAX_LEN + 1], b[NAME_MAX_LEN + 1];
    const char *syn;
    PGresult *r;
    int rc = -1;

    id[0] = '\0';
    if (!name || normalise_name(name, a) < 0 || !a[0])
        return 0;
    uninvert(a, b);
    if (!(syn = synonym(a)))
        syn = synonym(b);
    const char *params[] = {syn, a, b};
    /* The synonym first, then the catalog's own name (apostrophes ignored) in either reading. */
    r = db_prep(db, "trial_condition_match",
                "SELECT id FROM catalog_condition WHERE id = $1 "
                "OR replace(name_lower, '''', '') IN ($2, $3) "
                "ORDER BY id = $1 DESC NULLS LAST, replace(name_lower, '''', '') = $2 DESC, id "
                "LIMIT 1",
                3, params);
    if (!r)
        goto out;
    rc = 0;
    if (PQntuples(r) == 1) {
        snprintf(id, STATS_CATALOG_ID_MAX + 1, "%s", PQgetvalue(r, 0, 0));
        rc = 1;
    }
out:
    PQclear(r);
    return rc;
}

/* ---- feasibility ---- */

void svc_trial_feasibility_measures(double epsilon,
                                    struct stats_measure out[SVC_TRIAL_FEASIBILITY_MEASURES])
{
    memset(out, 0, SVC_TRIAL_FEASIBILITY_MEASURES * sizeof(*out));
    out[0].type = STATS_M_COUNT;
    out[1].type = STATS_M_BREAKDOWN;
    out[1].by = STATS_BY_AGE_BAND;
    out[2].type = STATS_M_BREAKDOWN;
    out[2].by = STATS_BY_COUNTRY;
    for (int i = 0; i < SVC_TRIAL_FEASIBILITY_MEASURES; i++)
        out[i].epsilon = epsilon;
}

int svc_trial_feasibility_raw(struct db_conn *db, const struct svc_trial *t, int64_t now,
                              bool record_use, struct stats_raw raw[SVC_TRIAL_FEASIBILITY_MEASURES])
{
    struct stats_sql q;
    PGresult *r = NULL;
    char when[32], cats[16];
    int rc = -1;

    stats_sql_init(&q);
    if (!t || !raw)
        goto out;
    snprintf(when, sizeof(when), "%lld", (long long)now);
    snprintf(cats, sizeof(cats), "%u", t->categories);
    /* MATERIALIZED: the counts and the data_use rows come from the very same set of members. */
    if (stats_sql_append(&q, "WITH e AS MATERIALIZED (") < 0 ||
        svc_trial_eligible_sql(t, now, &q) < 0 || stats_sql_append(&q, ")") < 0)
        goto out;
    if (record_use &&
        (stats_sql_append(&q, ", du AS (INSERT INTO data_use (member_id, kind, object_id, title, "
                              "purpose, categories) SELECT member_id, 'trial', ") < 0 ||
         param(&q, t->id, "uuid") < 0 || stats_sql_append(&q, ", ") < 0 ||
         param(&q, t->title, "text") < 0 || stats_sql_append(&q, ", 'trial_recruitment', ") < 0 ||
         param(&q, cats, "int") < 0 ||
         stats_sql_append(&q, " FROM e ON CONFLICT (member_id, object_id) WHERE kind = 'trial' "
                              "DO UPDATE SET at = now(), title = EXCLUDED.title "
                              "WHERE " DATA_USE_STALE ")") < 0))
        goto out;
    /* Keys as the research SQL writes them (stats/measure.c), with "a:" marking age bands here
     * since both breakdowns use "c:". Age as the cohort language defines it. */
    if (stats_sql_append(&q, " SELECT 'n'::text AS k, count(*)::bigint AS v FROM e"
                             " UNION ALL SELECT 'a:' || CASE WHEN x.age IS NULL OR x.age < 0"
                             " THEN 'not_recorded' WHEN x.age >= 90 THEN '90+'"
                             " ELSE (x.age / 10 * 10)::text || '-' || (x.age / 10 * 10 + 9)::text"
                             " END, count(*)::bigint FROM (SELECT EXTRACT(year FROM"
                             " to_timestamp(") < 0 ||
        param(&q, when, "bigint") < 0 ||
        stats_sql_append(&q, ") AT TIME ZONE 'UTC')::int - e.birth_year AS age FROM e) x"
                             " GROUP BY 1"
                             " UNION ALL SELECT 'c:' || coalesce(e.country::text, 'not_recorded'),"
                             " count(*)::bigint FROM e GROUP BY 1") < 0)
        goto out;
    if (!(r = db_exec(db, q.text, q.nparams, (const char *const *)q.params)))
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *k = PQgetvalue(r, i, 0);
        int64_t v = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        int res;
        if (strcmp(k, "n") == 0)
            res = stats_raw_add(&raw[0], k, v);
        else if (strncmp(k, "a:", 2) == 0) {
            char key[STATS_RAW_KEY_MAX + 1];
            snprintf(key, sizeof(key), "c:%s", k + 2);
            res = stats_raw_add(&raw[1], key, v);
        } else
            res = stats_raw_add(&raw[2], k, v);
        if (res < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    stats_sql_free(&q);
    return rc;
}

json_t *svc_trial_feasibility_release(const struct svc_trial *t,
                                      const struct stats_raw raw[SVC_TRIAL_FEASIBILITY_MEASURES],
                                      const struct stats_mechanism *mech, double epsilon,
                                      int64_t now)
{
    struct stats_measure m[SVC_TRIAL_FEASIBILITY_MEASURES];
    json_t *rel[SVC_TRIAL_FEASIBILITY_MEASURES] = {NULL}, *out = NULL, *sites = NULL, *cell;
    size_t i;

    if (!t || !raw || !mech)
        return NULL;
    svc_trial_feasibility_measures(epsilon, m);
    for (int k = 0; k < SVC_TRIAL_FEASIBILITY_MEASURES; k++)
        if (!(rel[k] = stats_measure_release(&m[k], &raw[k], mech, now)))
            goto out;
    /* Every country cell was released; showing only the sites' is post-processing. */
    if (!(sites = json_array()))
        goto out;
    for (size_t s = 0; s < t->ncountries; s++)
        json_array_foreach(json_object_get(rel[2], "cells"), i, cell)
        {
            if (strcmp(json_string_value(json_object_get(cell, "value")), t->countries[s]) == 0 &&
                json_array_append(sites, cell) < 0)
                goto out;
        }
    if (json_array_size(sites) != t->ncountries)
        goto out;
    out = json_pack("{s:O, s:O, s:O, s:f}", "count", json_object_get(rel[0], "count"),
                    "by_age_band", json_object_get(rel[1], "cells"), "by_country", sites,
                    "epsilon_per_count", epsilon);
out:
    for (int k = 0; k < SVC_TRIAL_FEASIBILITY_MEASURES; k++)
        json_decref(rel[k]);
    json_decref(sites);
    return out;
}
