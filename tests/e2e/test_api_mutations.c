/* End-to-end robustness: for every route that takes a JSON body, one valid request, then that body
 * mutated systematically (each field removed or replaced by hostile values, unknown fields,
 * duplicate keys, truncations, random byte flips) and sent over HTTP to the real server. Every
 * answer must keep the service's promises:
 *   - never a 5xx, never a dropped connection, and the server stays up (its process and /healthz);
 *   - a status from 2xx or 400/401/403/404/409/413/422/429;
 *   - every 4xx is application/problem+json whose "status" is the HTTP status, and a 422 names at
 *     least one field in "errors" -- for a field's mutation, that field (or one inside it, or the
 *     object holding it, or a sibling whose message names it: "severity or severity_label");
 *   - nothing half-written: a 4xx leaves the caller's data exactly as it was (a fingerprint of the
 *     rows the route can touch), and for the creating routes the row count at the end is the count
 *     before plus the number of 2xx creations.
 * A second case does the same for what the bodies do not reach:
 *   - every GET and DELETE route: its valid request (all documented query parameters given) is
 *     answered 2xx; then each path parameter (not an id, an unknown id, another account's object's
 *     id, a long segment, %00, %ff, %2e%2e, the id followed by %00, a doubled slash) must be
 *     answered 404 (400 for any %00, which the server refuses before routing), and another
 * account's data (a text written into its objects) must never show in any answer; each query
 * parameter is removed, emptied, repeated, made negative, zero, huge, non-numeric, %ff, holding %00
 * (400), long or a malformed date-time, and the query string as a whole replaced by
 *     "?", "?&&&", "?=", "?%zz" or given an unknown parameter;
 *   - on a member GET, a member POST and a researcher POST: Authorization missing, malformed,
 *     oversized, with odd bytes or of the wrong role (401, 403), extra Content-Types, a
 *     Content-Length shorter than the body, 100 repeated headers, and oversized headers.
 * Mutations are deterministic (a fixed-seed xorshift per route) and capped per route so that the
 * whole run stays about a minute. */
#include "harness.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Field mutations (remove or replace one value, add an unknown field, duplicate a key) sampled per
 * route, then these many truncations and byte flips of the valid text. */
#define MAX_FIELD_MUTATIONS 150
#define TRUNCATIONS 10
#define BYTE_FLIPS 30
/* Failures printed to stderr per route (all are counted). */
#define MAX_PRINTED 25

#define SLOT "@@cc-mutation-slot@@"
/* Texts of another account's data a route's answers must never show. */
#define NSECRETS 3

/* ---- deterministic randomness ---- */

static uint64_t rng_state;

static uint64_t xorshift(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t below(size_t n)
{
    return n ? (size_t)(xorshift() % n) : 0;
}

static void seed(const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the route's name */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    rng_state = h ? h : 0x9e3779b97f4a7c15ull;
}

/* ---- the hostile values, as raw JSON text ---- */

struct value {
    const char *name;
    char *raw;
};

static struct value values[18];
static size_t nvalues;

static char *repeat(const char *open, const char *mid, const char *close, int n)
{
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc((size_t)n * (lo + lc) + lm + 1), *p = s;
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < n; i++)
        memcpy(p, open, lo), p += lo;
    memcpy(p, mid, lm), p += lm;
    for (int i = 0; i < n; i++)
        memcpy(p, close, lc), p += lc;
    *p = '\0';
    return s;
}

static void add_value(const char *name, char *raw)
{
    values[nvalues].name = name;
    values[nvalues++].raw = raw;
}

static void init_values(void)
{
    if (nvalues)
        return;
    add_value("null", strdup("null"));
    add_value("true", strdup("true"));
    add_value("0", strdup("0"));
    add_value("-1", strdup("-1"));
    add_value("1e308", strdup("1e308"));
    add_value("-2^63", strdup("-9223372036854775808"));
    add_value("2^64", strdup("18446744073709551616"));
    add_value("0.5", strdup("0.5"));
    add_value("empty string", strdup("\"\""));
    char *longs = malloc(10003);
    ck_assert_ptr_nonnull(longs);
    longs[0] = '"';
    memset(longs + 1, 'x', 10000);
    longs[10001] = '"';
    longs[10002] = '\0';
    add_value("10000-char string", longs);
    add_value("string with \\u0000", strdup("\"a\\u0000b\""));
    add_value("lone surrogate \\ud800", strdup("\"\\ud800x\""));
    add_value("[]", strdup("[]"));
    add_value("{}", strdup("{}"));
    add_value("array nested 200 deep", repeat("[", "", "]", 200));
    add_value("{\"not\":...} nested 200 deep",
              repeat("{\"not\":", "{\"sex_at_birth\":\"female\"}", "}", 200));
}

/* ---- routes ---- */

struct route {
    const char *method;
    const char *pattern; /* for messages */
    char path[256];
    char token[64];
    char *body; /* the valid body (owned) */
    /* Must not change on a 4xx: text, $1 = arg (no parameter when arg is empty). */
    const char *fp_sql;
    char arg[80];
    /* Optional: rows that each 2xx with created_status adds ($1 = arg). */
    const char *count_sql;
    long created_status;
    /* Optional: after a 2xx, a fresh target (the body was used up: approved, withdrawn, ...). */
    void (*refresh)(struct route *);
    /* Setup scratch. */
    char member[40], owner[64], coord[64], admin[64], res[40], res2[40];
    /* Part two (paths, query strings, headers): the path's parameters as the caller may use them,
     * the same kind of object owned by another account (or a revoked link's token), text of that
     * account's data that no answer may show, the valid query string, and the other account. */
    char par[2][64], other[2][64];
    char secret[NSECRETS][80];
    char query[1024];
    char other_token[64], other_id[40];
};

/* Everything a member can own, for the member's fingerprint. */
#define MEMBER_TABLES(X)                                                                           \
    X(member_profile)                                                                              \
    X(custom_item)                                                                                 \
    X(member_condition)                                                                            \
    X(symptom_entry)                                                                               \
    X(medication)                                                                                  \
    X(medication_dose)                                                                             \
    X(medication_evaluation)                                                                       \
    X(evaluation_side_effect)                                                                      \
    X(goal)                                                                                        \
    X(goal_progress)                                                                               \
    X(change_log)                                                                                  \
    X(idempotency_key)                                                                             \
    X(consent_grant)                                                                               \
    X(consent_event)                                                                               \
    X(share)                                                                                       \
    X(fhir_import)                                                                                 \
    X(trial_invitation)
#define MEMBER_ROWS(t) " UNION ALL SELECT '" #t "' || t::text FROM " #t " t WHERE member_id = $1"
static const char member_fp[] =
    "SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM (SELECT ''::text AS x WHERE "
    "false" MEMBER_TABLES(MEMBER_ROWS) ") s";

static const char account_fp[] = "SELECT count(*)::text FROM account";

static json_t *must(long want, const char *method, const char *path, const char *token,
                    const char *text)
{
    struct th_resp r;
    th_req(method, path, token, text, NULL, &r);
    ck_assert_msg(r.status == want, "setup %s %s: status %ld, want %ld; body %s", method, path,
                  r.status, want, r.body);
    json_t *j = json_incref(r.json);
    th_resp_free(&r);
    return j;
}

/* POST text and keep the new resource's id. */
static void create(const char *path, const char *token, const char *text, long want, char id[40])
{
    json_t *j = must(want, "POST", path, token, text);
    const char *s = json_string_value(json_object_get(j, "id"));
    ck_assert_msg(s != NULL, "setup POST %s: no id in the answer", path);
    snprintf(id, 40, "%s", s);
    json_decref(j);
}

static void set_body(struct route *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(r->body);
    ck_assert_int_ge(vasprintf(&r->body, fmt, ap), 0);
    va_end(ap);
}

static void member(struct route *r)
{
    th_account("member", r->token, r->member);
    snprintf(r->arg, sizeof(r->arg), "%s", r->member);
    r->fp_sql = member_fp;
}

static const char condition_body[] = "{\"condition\":\"multiple_sclerosis\",\"diagnosed_on\":"
                                     "\"2019-04\",\"note\":\"relapsing-remitting\"}";
static const char symptom_body[] =
    "{\"symptom\":\"fatigue\",\"severity\":6,\"recorded_at\":\"2025-11-20T08:30:00+01:00\","
    "\"duration_minutes\":240,\"triggers\":[\"poor sleep\"],\"note\":\"worse after the stairs\"}";
static const char medication_fmt[] =
    "{\"medication\":\"dimethyl_fumarate\",\"dose_amount\":240,\"dose_unit\":\"mg\","
    "\"frequency\":{\"times_per_day\":2},\"started_on\":\"2025-06-01\",\"for_condition\":\"%s\"}";
static const char dose_body[] =
    "{\"scheduled_at\":\"2025-11-20T08:00:00+01:00\",\"taken_at\":\"2025-11-20T08:10:00+01:00\","
    "\"status\":\"taken\"}";
static const char evaluation_body[] =
    "{\"evaluated_on\":\"2025-11-20\",\"effectiveness\":\"moderate\",\"adherence\":\"usually\","
    "\"burden\":\"slight\",\"side_effects\":[{\"symptom\":\"flushing\",\"severity\":\"mild\"},"
    "{\"symptom\":{\"custom\":\"Itchy palms\"},\"severity\":\"none\"}]}";
static const char goal_body[] =
    "{\"title\":\"Less fatigue\",\"kind\":\"symptom_target\",\"symptom\":\"fatigue\","
    "\"target_value\":3,\"direction\":\"decrease\",\"due_on\":\"2027-12-31\"}";
static const char progress_body[] =
    "{\"value\":5,\"recorded_at\":\"2025-11-20T21:00:00+01:00\",\"note\":\"a better day\"}";
static const char consent_body[] =
    "{\"effect\":\"permit\",\"purpose\":\"trial_recruitment\",\"categories\":[\"demographics\","
    "\"conditions\"],\"restrictions\":{\"conditions\":[\"multiple_sclerosis\"],\"non_commercial\":"
    "true},"
    "\"valid_until\":\"2027-12-31\"}";
static const char study_body[] =
    "{\"title\":\"Fatigue after starting MS treatment\",\"description\":\"How fatigue changes in "
    "women "
    "with MS in the weeks after they start a disease-modifying "
    "drug.\",\"purpose\":\"disease_specific\","
    "\"conditions\":[\"multiple_sclerosis\"],\"commercial\":false,\"organisation_for_profit\":"
    "false,"
    "\"categories\":[\"demographics\",\"conditions\",\"symptoms\",\"medications\"],"
    "\"irb_reference\":\"METC 2026-123\"}";
static const char trial_body[] =
    "{\"title\":\"A new treatment for relapsing MS\",\"summary\":\"Twelve months of a once-daily "
    "tablet "
    "against placebo.\",\"nct_id\":\"NCT01234567\",\"sponsor\":\"Example "
    "Pharma\",\"commercial\":true,"
    "\"organisation_for_profit\":true,\"conditions\":[\"multiple_sclerosis\"],\"sites\":[{"
    "\"country\":"
    "\"NL\",\"postal_prefix\":\"101\"},{\"country\":\"BE\"}],\"inclusion\":{\"all\":[{\"age\":{"
    "\"min\":18,"
    "\"max\":70}},{\"condition\":{\"condition\":\"multiple_sclerosis\"}}]},\"exclusion\":{"
    "\"condition\":"
    "{\"condition\":\"epilepsy\"}},\"contact_message\":\"The study team will answer through "
    "CareCommons.\",\"categories\":[\"demographics\",\"conditions\"]}";
static const char ctgov_body[] =
    "{\"protocolSection\":{\"identificationModule\":{\"nctId\":\"NCT01234567\",\"briefTitle\":\"A "
    "new "
    "treatment for relapsing MS\"},\"descriptionModule\":{\"briefSummary\":\"Twelve months of a "
    "once-daily tablet against "
    "placebo.\"},\"sponsorCollaboratorsModule\":{\"leadSponsor\":{\"name\":"
    "\"Example Pharma\",\"class\":\"INDUSTRY\"}},\"conditionsModule\":{\"conditions\":[\"Relapsing "
    "Multiple Sclerosis\",\"Multiple Sclerosis\"]},\"eligibilityModule\":{\"eligibilityCriteria\":"
    "\"Inclusion Criteria:\\n\\n* EDSS 0 to 5.5\\n\",\"healthyVolunteers\":false,\"sex\":\"ALL\","
    "\"minimumAge\":\"18 Years\",\"maximumAge\":\"55 "
    "Years\"},\"contactsLocationsModule\":{\"locations\":"
    "[{\"city\":\"Amsterdam\",\"country\":\"Netherlands\"},{\"city\":\"Leuven\",\"country\":"
    "\"Belgium\"}]}}}";

static const char study_fp[] =
    "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM study t WHERE "
    "researcher_id = $1), '') || coalesce((SELECT string_agg(q::text, '|' ORDER BY q.study_id, "
    "q.seq) "
    "FROM study_query q JOIN study s ON s.id = q.study_id WHERE s.researcher_id = $1), ''))";
static const char trial_fp[] =
    "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM trial t WHERE "
    "coordinator_id = $1), '') || coalesce((SELECT string_agg(q::text, '|' ORDER BY q.trial_id, "
    "q.seq) "
    "FROM trial_query q JOIN trial s ON s.id = q.trial_id WHERE s.coordinator_id = $1), '') || "
    "coalesce((SELECT string_agg(i::text, '|' ORDER BY i.id) FROM trial_invitation i JOIN trial s "
    "ON "
    "s.id = i.trial_id WHERE s.coordinator_id = $1), ''))";

/* A coordinator's draft trial, created through the API; its id into id. */
static void draft_trial(struct route *r, char id[40])
{
    create("/v1/trials", r->coord, trial_body, 201, id);
}

static void approve_trial(struct route *r, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/admin/trials/%s/approve", id);
    json_decref(must(200, "POST", path, r->admin,
                     "{\"epsilon_budget\":100,\"expires_on\":\"2027-11-20\"}"));
}

static void coordinator(struct route *r)
{
    char id[40];
    th_account("coordinator", r->coord, id);
    th_account("admin", r->admin, NULL);
    snprintf(r->token, sizeof(r->token), "%s", r->coord);
    snprintf(r->arg, sizeof(r->arg), "%s", id);
    r->fp_sql = trial_fp;
}

static void researcher(struct route *r)
{
    th_account("researcher", r->owner, r->member);
    th_account("admin", r->admin, NULL);
    snprintf(r->token, sizeof(r->token), "%s", r->owner);
    snprintf(r->arg, sizeof(r->arg), "%s", r->member);
    r->fp_sql = study_fp;
}

/* ---- per-route setup ---- */

static void s_register(struct route *r)
{
    char email[128];
    th_unique_email("mutant", email, sizeof(email));
    set_body(r, "{\"email\":\"%s\",\"password\":\"a long passphrase\",\"display_name\":\"Ann\"}",
             email);
    r->fp_sql = account_fp;
    r->count_sql = "SELECT count(*) FROM account";
}

static void s_login(struct route *r)
{
    char token[64], id[40];
    th_account("member", token, id);
    const char *p[] = {id};
    PGconn *c = th_db();
    PGresult *res =
        PQexecParams(c, "SELECT email FROM account WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(res), 1);
    set_body(r, "{\"email\":\"%s\",\"password\":\"" TH_PASSWORD "\"}", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    snprintf(r->arg, sizeof(r->arg), "%s", id);
    r->fp_sql = "SELECT count(*)::text FROM session WHERE account_id = $1";
    r->count_sql = "SELECT count(*) FROM session WHERE account_id = $1";
    r->created_status = 200;
}

static void s_admin_accounts(struct route *r)
{
    char email[128];
    th_account("admin", r->token, NULL);
    th_unique_email("staff", email, sizeof(email));
    set_body(r,
             "{\"email\":\"%s\",\"password\":\"a researcher passphrase\",\"display_name\":\"Rita\","
             "\"role\":\"researcher\"}",
             email);
    r->fp_sql = account_fp;
    r->count_sql = "SELECT count(*) FROM account";
}

static void s_profile(struct route *r)
{
    member(r);
    set_body(
        r,
        "{\"birth_year\":1979,\"sex_at_birth\":\"female\",\"gender\":\"woman\",\"country\":\"NL\","
        "\"postal_prefix\":\"101\",\"timezone\":\"Europe/Amsterdam\"}");
    r->count_sql = "SELECT count(*) FROM member_profile WHERE member_id = $1";
}

static void s_condition_post(struct route *r)
{
    member(r);
    set_body(r, "%s", condition_body);
    r->count_sql = "SELECT count(*) FROM member_condition WHERE member_id = $1";
}

static void s_condition_patch(struct route *r)
{
    member(r);
    create("/v1/me/conditions", r->token, condition_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/conditions/%s", r->res);
    set_body(r, "{\"status\":\"remission\",\"note\":\"calmer\",\"diagnosed_on\":\"2019-05-02\"}");
}

static void s_symptom_post(struct route *r)
{
    member(r);
    set_body(r, "%s", symptom_body);
    r->count_sql = "SELECT count(*) FROM symptom_entry WHERE member_id = $1";
}

static void s_symptom_patch(struct route *r)
{
    member(r);
    create("/v1/me/symptoms", r->token, symptom_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/symptoms/%s", r->res);
    set_body(r, "{\"severity_label\":\"severe\",\"triggers\":[\"heat\",\"stress\"],\"note\":null}");
}

static void medication(struct route *r, char id[40])
{
    char cond[40], body[512];
    create("/v1/me/conditions", r->token, condition_body, 201, cond);
    snprintf(body, sizeof(body), medication_fmt, cond);
    create("/v1/me/medications", r->token, body, 201, id);
}

static void s_medication_post(struct route *r)
{
    char cond[40];
    member(r);
    create("/v1/me/conditions", r->token, condition_body, 201, cond);
    set_body(r, medication_fmt, cond);
    r->count_sql = "SELECT count(*) FROM medication WHERE member_id = $1";
}

static void s_medication_patch(struct route *r)
{
    member(r);
    medication(r, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/medications/%s", r->res);
    set_body(r, "{\"stopped_on\":\"2026-03-01\",\"stop_reason\":\"side_effects\",\"frequency\":"
                "{\"every_n_days\":2},\"note\":\"itchy\"}");
}

static void s_dose_post(struct route *r)
{
    member(r);
    medication(r, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/medications/%s/doses", r->res);
    set_body(r, "%s", dose_body);
    r->count_sql = "SELECT count(*) FROM medication_dose WHERE member_id = $1";
}

static void s_dose_patch(struct route *r)
{
    char path[128];
    member(r);
    medication(r, r->res);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", r->res);
    create(path, r->token, dose_body, 201, r->res2);
    snprintf(r->path, sizeof(r->path), "%s/%s", path, r->res2);
    set_body(r, "{\"status\":\"late\",\"reason\":\"overslept\",\"taken_at\":\"2025-11-20T09:10:00+"
                "01:00\"}");
}

static void s_evaluation_post(struct route *r)
{
    member(r);
    medication(r, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/medications/%s/evaluations", r->res);
    set_body(r, "%s", evaluation_body);
    r->count_sql = "SELECT count(*) FROM medication_evaluation WHERE member_id = $1";
}

static void s_evaluation_patch(struct route *r)
{
    char path[128];
    member(r);
    medication(r, r->res);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", r->res);
    create(path, r->token, evaluation_body, 201, r->res2);
    snprintf(r->path, sizeof(r->path), "%s/%s", path, r->res2);
    set_body(r,
             "{\"effectiveness\":\"major\",\"side_effects\":[{\"symptom\":\"nausea\",\"severity\":"
             "\"severe\"}],\"note\":\"better\"}");
}

static void s_goal_post(struct route *r)
{
    member(r);
    set_body(r, "%s", goal_body);
    r->count_sql = "SELECT count(*) FROM goal WHERE member_id = $1";
}

static void s_goal_patch(struct route *r)
{
    member(r);
    create("/v1/me/goals", r->token, goal_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/goals/%s", r->res);
    set_body(r, "{\"status\":\"achieved\",\"title\":\"Much less fatigue\",\"target_value\":2.5}");
}

static void s_progress_post(struct route *r)
{
    member(r);
    create("/v1/me/goals", r->token, goal_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/goals/%s/progress", r->res);
    set_body(r, "%s", progress_body);
    r->count_sql = "SELECT count(*) FROM goal_progress WHERE member_id = $1";
}

static void s_progress_patch(struct route *r)
{
    char path[128];
    member(r);
    create("/v1/me/goals", r->token, goal_body, 201, r->res);
    snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", r->res);
    create(path, r->token, progress_body, 201, r->res2);
    snprintf(r->path, sizeof(r->path), "%s/%s", path, r->res2);
    set_body(r, "{\"value\":4.5,\"note\":\"fine\"}");
}

static void s_batch(struct route *r)
{
    member(r);
    medication(r, r->res);
    create("/v1/me/goals", r->token, goal_body, 201, r->res2);
    set_body(
        r,
        "{\"items\":[{\"type\":\"symptom\",\"symptom\":\"headache\",\"severity_label\":\"mild\","
        "\"recorded_at\":\"2025-11-21T09:00:00Z\"},{\"type\":\"dose\",\"medication_id\":\"%s\","
        "\"scheduled_at\":\"2025-11-21T08:00:00+01:00\",\"status\":\"missed\"},{\"type\":"
        "\"progress\",\"goal_id\":\"%s\",\"value\":4,\"recorded_at\":\"2025-11-21T21:00:00+01:00\"}"
        "]}",
        r->res, r->res2);
}

static void s_fhir(struct route *r)
{
    member(r);
    set_body(
        r, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"fullUrl\":"
           "\"urn:uuid:6d3c2a10-0000-4000-8000-000000000001\",\"resource\":{\"resourceType\":"
           "\"Condition\","
           "\"id\":\"ms-1\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":"
           "\"24700007\"}]},\"onsetDateTime\":\"2019-04\"}},{\"resource\":{\"resourceType\":"
           "\"Patient\","
           "\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1979-03-02\"}},{\"resource\":"
           "{\"resourceType\":\"Encounter\",\"id\":\"visit-7\"}}]}");
}

static void s_consent_post(struct route *r)
{
    member(r);
    set_body(r, "%s", consent_body);
    r->count_sql = "SELECT count(*) FROM consent_grant WHERE member_id = $1";
}

static void s_consent_patch(struct route *r)
{
    member(r);
    create("/v1/me/consents", r->token, consent_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/consents/%s", r->res);
    set_body(r,
             "{\"categories\":[\"demographics\",\"conditions\",\"symptoms\"],\"valid_until\":null,"
             "\"restrictions\":{\"conditions\":[\"multiple_sclerosis\",\"migraine\"]}}");
}

static void new_consent(struct route *r)
{
    create("/v1/me/consents", r->token, consent_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/me/consents/%s/withdraw", r->res);
}

static void s_consent_withdraw(struct route *r)
{
    member(r);
    new_consent(r);
    set_body(r, "{}");
    r->refresh = new_consent;
}

static void s_share(struct route *r)
{
    member(r);
    set_body(r, "{\"categories\":[\"conditions\",\"medications\"],\"expires_at\":\"2026-12-31\","
                "\"label\":\"Dr. Jansen\"}");
    r->count_sql = "SELECT count(*) FROM share WHERE member_id = $1";
}

static void new_member(struct route *r)
{
    member(r);
}

static void s_erase(struct route *r)
{
    member(r);
    set_body(r, "{\"password\":\"" TH_PASSWORD "\"}");
    r->fp_sql = "SELECT coalesce((SELECT md5(t::text) FROM account t WHERE id = $1), 'erased')";
    r->refresh = new_member;
}

static void s_study_post(struct route *r)
{
    researcher(r);
    set_body(r, "%s", study_body);
    r->count_sql = "SELECT count(*) FROM study WHERE researcher_id = $1";
}

static void s_study_query(struct route *r)
{
    char path[128];
    researcher(r);
    create("/v1/research/studies", r->token, study_body, 201, r->res);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/approve", r->res);
    json_decref(
        must(200, "POST", path, r->admin, "{\"epsilon_budget\":20,\"expires_on\":\"2099-12-31\"}"));
    snprintf(r->path, sizeof(r->path), "/v1/research/studies/%s/queries", r->res);
    set_body(
        r,
        "{\"cohort\":{\"all\":[{\"sex_at_birth\":\"female\"},{\"age\":{\"min\":40,\"max\":60}},"
        "{\"condition\":{\"condition\":\"multiple_sclerosis\"}},{\"medication\":{\"medication\":"
        "\"dimethyl_fumarate\",\"started_within_days\":365}}]},\"measures\":[{\"type\":\"count\","
        "\"epsilon\":0.1},{\"type\":\"treatment_effect\",\"medication\":\"dimethyl_fumarate\","
        "\"symptom\":\"fatigue\",\"before_days\":28,\"after_days\":56,\"epsilon\":0.5}]}");
}

static void new_study(struct route *r)
{
    const char *verb = strstr(r->pattern, "reject") ? "reject" : "approve";
    create("/v1/research/studies", r->owner, study_body, 201, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/admin/studies/%s/%s", r->res, verb);
}

static void s_study_approve(struct route *r)
{
    researcher(r);
    snprintf(r->token, sizeof(r->token), "%s", r->admin);
    new_study(r);
    set_body(r, "{\"epsilon_budget\":4,\"expires_on\":\"2027-06-30\"}");
    r->refresh = new_study;
}

static void s_study_reject(struct route *r)
{
    researcher(r);
    snprintf(r->token, sizeof(r->token), "%s", r->admin);
    new_study(r);
    set_body(r, "{\"reason\":\"The ethics approval does not cover medication data.\"}");
    r->refresh = new_study;
}

static void s_ctgov(struct route *r)
{
    coordinator(r);
    set_body(r, "%s", ctgov_body);
    r->count_sql = "SELECT count(*) FROM trial WHERE coordinator_id = $1";
}

static void s_trial_post(struct route *r)
{
    coordinator(r);
    set_body(r, "%s", trial_body);
    r->count_sql = "SELECT count(*) FROM trial WHERE coordinator_id = $1";
}

static void s_trial_patch(struct route *r)
{
    coordinator(r);
    draft_trial(r, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/trials/%s", r->res);
    set_body(
        r,
        "{\"summary\":\"Twelve months of a tablet.\",\"sites\":[{\"country\":\"NL\"},{\"country\":"
        "\"BE\",\"postal_prefix\":\"30\"}],\"inclusion\":{\"any\":[{\"age\":{\"min\":18}},{\"not\":"
        "{\"condition\":{\"condition\":\"epilepsy\"}}}]}}");
}

static void s_feasibility(struct route *r)
{
    coordinator(r);
    draft_trial(r, r->res);
    approve_trial(r, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/trials/%s/feasibility", r->res);
    set_body(r, "{\"epsilon\":0.25}");
}

static void s_invite(struct route *r)
{
    char path[128];
    coordinator(r);
    draft_trial(r, r->res);
    approve_trial(r, r->res);
    snprintf(path, sizeof(path), "/v1/trials/%s", r->res);
    json_decref(must(200, "PATCH", path, r->coord, "{\"status\":\"recruiting\"}"));
    snprintf(r->path, sizeof(r->path), "/v1/trials/%s/invitations", r->res);
    set_body(r, "{\"count\":50,\"message\":\"We would like to tell you about our study.\"}");
}

static void new_draft(struct route *r)
{
    draft_trial(r, r->res);
    snprintf(r->path, sizeof(r->path), "/v1/admin/trials/%s/approve", r->res);
}

static void s_trial_approve(struct route *r)
{
    coordinator(r);
    snprintf(r->token, sizeof(r->token), "%s", r->admin);
    new_draft(r);
    set_body(r, "{\"epsilon_budget\":3,\"expires_on\":\"2027-11-20\"}");
    r->refresh = new_draft;
}

/* A pending invitation for the route's member to a fresh trial. */
static void new_invitation(struct route *r)
{
    const char *verb = strstr(r->pattern, "decline") ? "decline" : "accept";
    draft_trial(r, r->res2);
    const char *p[] = {r->member, r->res2};
    PGconn *c = th_db();
    PGresult *res = PQexecParams(
        c, "INSERT INTO trial_invitation (member_id, trial_id) VALUES ($1, $2) RETURNING id", 2,
        NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "invitation: %s", PQerrorMessage(c));
    snprintf(r->res, sizeof(r->res), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    snprintf(r->path, sizeof(r->path), "/v1/me/invitations/%s/%s", r->res, verb);
}

static void invited_member(struct route *r)
{
    char id[40];
    th_account("coordinator", r->coord, id);
    member(r);
    json_decref(must(201, "PUT", "/v1/me/profile", r->token,
                     "{\"birth_year\":1979,\"sex_at_birth\":\"female\",\"country\":\"NL\","
                     "\"timezone\":\"Europe/Amsterdam\"}"));
    new_invitation(r);
    r->refresh = new_invitation;
}

static void s_accept(struct route *r)
{
    invited_member(r);
    set_body(r, "{\"share\":[\"email\",\"display_name\",\"country\"]}");
}

static void s_decline(struct route *r)
{
    invited_member(r);
    set_body(r, "{}");
}

/* method, pattern, setup: every route of service/routes.c that reads a JSON body. */
static const struct {
    const char *method, *pattern;
    void (*setup)(struct route *);
} routes[] = {
    {"POST", "/v1/auth/register", s_register},
    {"POST", "/v1/auth/login", s_login},
    {"POST", "/v1/admin/accounts", s_admin_accounts},
    {"PUT", "/v1/me/profile", s_profile},
    {"POST", "/v1/me/conditions", s_condition_post},
    {"PATCH", "/v1/me/conditions/{id}", s_condition_patch},
    {"POST", "/v1/me/symptoms", s_symptom_post},
    {"PATCH", "/v1/me/symptoms/{id}", s_symptom_patch},
    {"POST", "/v1/me/medications", s_medication_post},
    {"PATCH", "/v1/me/medications/{id}", s_medication_patch},
    {"POST", "/v1/me/medications/{id}/doses", s_dose_post},
    {"PATCH", "/v1/me/medications/{id}/doses/{id}", s_dose_patch},
    {"POST", "/v1/me/medications/{id}/evaluations", s_evaluation_post},
    {"PATCH", "/v1/me/medications/{id}/evaluations/{id}", s_evaluation_patch},
    {"POST", "/v1/me/goals", s_goal_post},
    {"PATCH", "/v1/me/goals/{id}", s_goal_patch},
    {"POST", "/v1/me/goals/{id}/progress", s_progress_post},
    {"PATCH", "/v1/me/goals/{id}/progress/{id}", s_progress_patch},
    {"POST", "/v1/me/batch", s_batch},
    {"POST", "/v1/me/import/fhir", s_fhir},
    {"POST", "/v1/me/consents", s_consent_post},
    {"PATCH", "/v1/me/consents/{id}", s_consent_patch},
    {"POST", "/v1/me/consents/{id}/withdraw", s_consent_withdraw},
    {"POST", "/v1/me/shares", s_share},
    {"DELETE", "/v1/me", s_erase},
    {"POST", "/v1/research/studies", s_study_post},
    {"POST", "/v1/research/studies/{id}/queries", s_study_query},
    {"POST", "/v1/admin/studies/{id}/approve", s_study_approve},
    {"POST", "/v1/admin/studies/{id}/reject", s_study_reject},
    {"POST", "/v1/trials/import-ctgov", s_ctgov},
    {"POST", "/v1/trials", s_trial_post},
    {"PATCH", "/v1/trials/{id}", s_trial_patch},
    {"POST", "/v1/trials/{id}/feasibility", s_feasibility},
    {"POST", "/v1/trials/{id}/invitations", s_invite},
    {"POST", "/v1/admin/trials/{id}/approve", s_trial_approve},
    {"POST", "/v1/me/invitations/{id}/accept", s_accept},
    {"POST", "/v1/me/invitations/{id}/decline", s_decline},
};
#define NROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

/* ---- one route's run ---- */

struct run {
    struct route *r;
    PGconn *db;
    char fp[64];
    int nreq, nfail, n2xx, ncreated;
    int statuses[600];
    char first[3072];
    /* The field the current mutation touched ("" when none): a 422 must name it. */
    char expect[200];
    /* Part two: the one status the current request must get (0: any the promises allow), and
     * whether libmicrohttpd's own 431 is expected (an oversized header block). */
    long must;
    bool mhd_431;
};

/* Printable, bounded copy of bytes. */
static void preview(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0, i;
    for (i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = '\0';
    if (i < len && cap > 40)
        snprintf(out + (o > cap - 40 ? cap - 40 : o), 40, "...(%zu bytes in all)", len);
}

static void fingerprint(struct run *u, char out[64])
{
    const char *p[] = {u->r->arg};
    PGresult *res = PQexecParams(u->db, u->r->fp_sql, u->r->arg[0] ? 1 : 0, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1,
                  "fingerprint of %s: %s", u->r->pattern, PQerrorMessage(u->db));
    snprintf(out, 64, "%s", PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* The server process exists and is not a zombie (it is the test runner's child, not ours). */
static bool server_alive(void)
{
    char path[64], buf[512];
    int pid = th_server_pid();
    if (pid <= 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static bool names_a_field(const struct th_resp *resp)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(resp->json, "errors"), i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f && f[0])
            return true;
    }
    return false;
}

/* The errors name the path, a field inside it, or the object holding it; or a sibling field whose
 * message names the path's own name (an either-or rule such as "severity or severity_label is
 * required"). */
static bool names_path(const struct th_resp *resp, const char *path)
{
    json_t *e;
    size_t i, pl = strlen(path);
    const char *leaf = path, *p;
    for (p = path; *p; p++)
        if (*p == '.' || *p == '[')
            leaf = p + 1;
    size_t parent = (size_t)(leaf - path);
    json_array_foreach(json_object_get(resp->json, "errors"), i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *m = json_string_value(json_object_get(e, "message"));
        size_t fl = f ? strlen(f) : 0;
        if (!f)
            continue;
        if (strcmp(f, path) == 0)
            return true;
        if (fl > pl && strncmp(f, path, pl) == 0 && (f[pl] == '.' || f[pl] == '['))
            return true;
        if (pl > fl && strncmp(f, path, fl) == 0 && (path[fl] == '.' || path[fl] == '['))
            return true;
        if (m && strncmp(f, path, parent) == 0 && !strpbrk(f + parent, ".[") && strstr(m, leaf))
            return true;
    }
    return false;
}

static bool allowed_error(long st)
{
    static const long ok[] = {400, 401, 403, 404, 409, 413, 422, 429};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (st == ok[i])
            return true;
    return false;
}

/* One request as it went out, for the checks and the failure report. */
struct sent {
    const char *method, *path; /* path with its query string */
    const char *token;         /* sent as "Authorization: Bearer <token>"; NULL: none */
    const char *body;          /* NULL: none */
    size_t len;
    const char *const *headers; /* further "Name: value" lines, NULL-terminated; may be NULL */
};

/* The request's headers as the report shows them (the first few, each bounded). */
static void headers_preview(const struct sent *q, char *out, size_t cap)
{
    char one[160];
    size_t o = 0, n = 0;
    out[0] = '\0';
    if (q->token)
        o += (size_t)snprintf(out, cap, "Authorization: Bearer %s", q->token);
    for (const char *const *h = q->headers; h && *h; h++, n++) {
        if (n >= 4 || o >= cap)
            continue;
        preview(*h, strlen(*h), one, sizeof(one));
        o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? " | " : "", one);
    }
    if (n > 4 && o < cap)
        snprintf(out + o, cap - o, " | ... (%zu further headers in all)", n);
    if (!out[0])
        snprintf(out, cap, "(none)");
}

static void broke(struct run *u, const char *what, const struct sent *q, const struct th_resp *resp,
                  const char *problem)
{
    char req[1600], ans[700], url[420], hdr[900], rh[600];
    preview(q->body ? q->body : "", q->body ? q->len : 0, req, sizeof(req));
    preview(resp->body ? resp->body : "", resp->body ? resp->len : 0, ans, sizeof(ans));
    preview(q->path, strlen(q->path), url, sizeof(url));
    headers_preview(q, hdr, sizeof(hdr));
    preview(resp->headers, strlen(resp->headers), rh, sizeof(rh));
    if (u->nfail < MAX_PRINTED)
        fprintf(stderr,
                "MUTATION FAILURE %s %s (%s) [%s]: %s\n  request headers: %s\n  request body: "
                "%s\n  status %ld, answer headers: %s\n  answer: %s\n",
                q->method, url, u->r->pattern, what, problem, hdr, req, resp->status, rh, ans);
    if (!u->nfail)
        snprintf(u->first, sizeof(u->first),
                 "%s %s [%s]: %s; status %ld; answer %.400s; request %.300s %.500s; headers %.300s",
                 q->method, u->r->pattern, what, problem, resp->status, ans, url, req, hdr);
    u->nfail++;
}

/* Check every promise for one answer (and free it): the status, the problem document, what must
 * not be shown, the server's health, and that an error wrote nothing. */
static void judge(struct run *u, const char *what, const struct sent *q, struct th_resp *resp)
{
    struct route *r = u->r;
    struct th_resp health;
    char ct[128], problem[256] = "", after[64];
    long st = resp->status;
    u->nreq++;
    if (st >= 0 && st < 600)
        u->statuses[st]++;
    if (st < 0) {
        snprintf(problem, sizeof(problem), "no response (connection dropped or timed out)");
    } else if (st == 431 && u->mhd_431) {
        /* Allowed for one mutation only (see mutate_headers): a header block beyond the configured
         * CARECOMMONS_MAX_HEADER is refused by libmicrohttpd itself, before the service sees a
         * request, with its own HTML 431 and the connection closed; no problem document is
         * possible there. */
    } else if (st >= 500) {
        snprintf(problem, sizeof(problem), "a server error");
    } else if (!(st >= 200 && st < 300) && !allowed_error(st)) {
        snprintf(problem, sizeof(problem), "status outside 2xx/400/401/403/404/409/413/422/429");
    } else if (st >= 400) {
        const char *c = th_header(resp, "Content-Type", ct, sizeof(ct));
        json_t *ps = json_object_get(resp->json, "status");
        if (!c || strcmp(c, "application/problem+json") != 0)
            snprintf(problem, sizeof(problem), "Content-Type %s, not application/problem+json",
                     c ? c : "(none)");
        else if (!json_is_object(resp->json))
            snprintf(problem, sizeof(problem), "the problem body is not a JSON object");
        else if (!json_is_integer(ps) || json_integer_value(ps) != st)
            snprintf(problem, sizeof(problem), "the problem's status is not the HTTP status");
        else if (st == 422 && !names_a_field(resp))
            snprintf(problem, sizeof(problem), "a 422 whose errors name no field");
        else if (st == 422 && u->expect[0] && !names_path(resp, u->expect))
            snprintf(problem, sizeof(problem), "the 422 does not name the mutated field %s",
                     u->expect);
    }
    if (!problem[0] && u->must && st != u->must)
        snprintf(problem, sizeof(problem), "status %ld, want %ld", st, u->must);
    for (int i = 0; !problem[0] && i < NSECRETS; i++)
        if (r->secret[i][0] && resp->body &&
            memmem(resp->body, resp->len, r->secret[i], strlen(r->secret[i])))
            snprintf(problem, sizeof(problem), "the answer shows another account's data (\"%s\")",
                     r->secret[i]);
    if (problem[0])
        broke(u, what, q, resp, problem);

    /* Still up? */
    if (!server_alive()) {
        broke(u, what, q, resp, "the server process is gone");
        ck_abort_msg("%s %s [%s]: the server died; first failure: %s", r->method, r->pattern, what,
                     u->first);
    }
    th_req("GET", "/healthz", NULL, NULL, NULL, &health);
    if (health.status != 200) {
        broke(u, what, q, resp, "/healthz did not answer 200 afterwards");
        ck_abort_msg("%s %s [%s]: /healthz answered %ld afterwards; first failure: %s", r->method,
                     r->pattern, what, health.status, u->first);
    }
    th_resp_free(&health);

    /* Nothing half-written. */
    fingerprint(u, after);
    if (st >= 200 && st < 300) {
        if (st == r->created_status && r->count_sql && strcmp(after, u->fp) == 0)
            broke(u, what, q, resp, "a creation left the fingerprint unchanged (test self-check)");
        u->n2xx++;
        if (st == r->created_status)
            u->ncreated++;
        if (r->refresh) {
            r->refresh(r);
            fingerprint(u, u->fp);
        } else {
            snprintf(u->fp, sizeof(u->fp), "%s", after);
        }
    } else if (strcmp(after, u->fp) != 0) {
        broke(u, what, q, resp, "an error answer changed stored data (half-written)");
        snprintf(u->fp, sizeof(u->fp), "%s", after);
    }
    th_resp_free(resp);
}

/* Send one body (NULL: none) to the route and check every promise. */
static void send(struct run *u, const char *what, const char *body, size_t len)
{
    struct route *r = u->r;
    struct th_resp resp;
    struct sent q = {r->method, r->path, r->token[0] ? r->token : NULL, body, len, NULL};
    th_req_raw(q.method, q.path, q.token, body, len, &resp);
    judge(u, what, &q, &resp);
}

/* ---- mutations of the valid body ---- */

enum { OP_REMOVE = -1, OP_UNKNOWN = -2, OP_DUP = -3 };

struct cand {
    size_t path;
    int op; /* >= 0: index into values */
};

static void collect(const json_t *node, json_t *prefix, json_t *paths)
{
    const char *key;
    json_t *v;
    size_t i;
    json_array_append(paths, prefix);
    if (json_is_object(node)) {
        json_object_foreach((json_t *)node, key, v)
        {
            json_t *p = json_copy(prefix);
            json_array_append_new(p, json_string(key));
            collect(v, p, paths);
            json_decref(p);
        }
    } else if (json_is_array(node)) {
        json_array_foreach(node, i, v)
        {
            json_t *p = json_copy(prefix);
            json_array_append_new(p, json_integer((json_int_t)i));
            collect(v, p, paths);
            json_decref(p);
        }
    }
}

static json_t *step(json_t *node, const json_t *s)
{
    return json_is_string(s) ? json_object_get(node, json_string_value(s))
                             : json_array_get(node, (size_t)json_integer_value(s));
}

static json_t *at(json_t *root, const json_t *path, size_t n)
{
    for (size_t i = 0; i < n && root; i++)
        root = step(root, json_array_get(path, i));
    return root;
}

static void describe(const json_t *path, char *out, size_t cap)
{
    size_t o = 0, i;
    json_t *s;
    out[0] = '\0';
    json_array_foreach(path, i, s)
    {
        if (json_is_string(s))
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", i ? "." : "",
                                  json_string_value(s));
        else
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "[%lld]",
                                  (long long)json_integer_value(s));
        if (o >= cap)
            break;
    }
    if (!out[0])
        snprintf(out, cap, "(the body)");
}

/* The object's text with its first key repeated in front. */
static char *dup_text(const json_t *obj)
{
    void *it = json_object_iter((json_t *)obj);
    json_t *one = json_object();
    json_object_set(one, json_object_iter_key(it), json_object_iter_value(it));
    char *a = json_dumps(one, JSON_COMPACT), *b = json_dumps(obj, JSON_COMPACT), *s = NULL;
    a[strlen(a) - 1] = '\0';
    ck_assert_int_ge(asprintf(&s, "%s,%s", a, b + 1), 0);
    free(a);
    free(b);
    json_decref(one);
    return s;
}

/* The valid body with one mutation applied (a new string). */
static char *apply(const json_t *root, const json_t *path, int op)
{
    size_t n = json_array_size(path);
    json_t *copy = json_deep_copy(root);
    char *raw = NULL, *text;
    bool own_raw = false;
    if (n == 0 && op >= 0) {
        json_decref(copy);
        return strdup(values[op].raw);
    }
    json_t *target = at(copy, path, n);
    if (op == OP_UNKNOWN) {
        json_object_set_new(target, "zz_unknown_field", json_integer(1));
    } else if (op == OP_DUP && n == 0) {
        raw = dup_text(copy);
        json_decref(copy);
        return raw;
    } else {
        json_t *parent = at(copy, path, n - 1), *last = json_array_get(path, n - 1);
        if (op == OP_DUP)
            raw = dup_text(target), own_raw = true;
        else if (op >= 0)
            raw = values[op].raw;
        if (json_is_string(last)) {
            if (op == OP_REMOVE)
                json_object_del(parent, json_string_value(last));
            else
                json_object_set_new(parent, json_string_value(last), json_string(SLOT));
        } else {
            size_t i = (size_t)json_integer_value(last);
            if (op == OP_REMOVE)
                json_array_remove(parent, i);
            else
                json_array_set_new(parent, i, json_string(SLOT));
        }
    }
    text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (raw) {
        char *slot = strstr(text, "\"" SLOT "\""), *s = NULL;
        ck_assert_ptr_nonnull(slot);
        *slot = '\0';
        ck_assert_int_ge(asprintf(&s, "%s%s%s", text, raw, slot + strlen(SLOT) + 2), 0);
        free(text);
        text = s;
    }
    if (own_raw)
        free(raw);
    return text;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void hist_of(const struct run *u, char *out, size_t cap)
{
    int o = 0;
    out[0] = '\0';
    for (int s = 0; s < 600; s++)
        if (u->statuses[s])
            o += snprintf(out + o, cap - (size_t)o, " %d:%d", s, u->statuses[s]);
}

/* The end of one route's run: the row count of a creating route is the count before plus its 2xx
 * creations (nothing else was written), its status counts go to stderr, and no promise broke. */
static void finish(struct run *u, struct route *r, const char *part, double t0, long count_before)
{
    char hist[512];

    if (r->count_sql) {
        long after = th_sql_long(r->count_sql, r->arg[0] ? 1 : 0, (const char *const[]){r->arg});
        ck_assert_msg(after == count_before + u->ncreated,
                      "%s %s: %ld rows after, want %ld before + %d created", r->method, r->pattern,
                      after, count_before, u->ncreated);
    }
    hist_of(u, hist, sizeof(hist));
    fprintf(stderr, "%-10s %-6s %-44s %4d requests (%s ) in %.2f s, %d failing\n", part, r->method,
            r->pattern, u->nreq, hist, now_s() - t0, u->nfail);
    PQfinish(u->db);
    u->db = NULL;
    free(r->body);
    r->body = NULL;
    ck_assert_msg(u->nfail == 0, "%s %s: %d of %d requests broke a promise; first: %s", r->method,
                  r->pattern, u->nfail, u->nreq, u->first);
}

START_TEST(mutate_route)
{
    struct route r = {.method = routes[_i].method, .pattern = routes[_i].pattern};
    struct run u = {.r = &r};
    char what[256], where[160];
    double t0 = now_s();

    init_values();
    snprintf(r.path, sizeof(r.path), "%s", r.pattern);
    routes[_i].setup(&r);
    if (!r.created_status)
        r.created_status = 201;
    u.db = th_db();
    fingerprint(&u, u.fp);
    long count_before =
        r.count_sql ? th_sql_long(r.count_sql, r.arg[0] ? 1 : 0, (const char *const[]){r.arg}) : 0;

    json_error_t err;
    json_t *root = json_loads(r.body, 0, &err);
    ck_assert_msg(json_is_object(root), "%s %s: bad valid body: %s", r.method, r.pattern, err.text);
    char *valid = json_dumps(root, JSON_COMPACT);
    size_t vlen = strlen(valid);

    /* The valid body is accepted. */
    int before = u.n2xx;
    send(&u, "the valid body", valid, vlen);
    ck_assert_msg(u.n2xx == before + 1, "%s %s: the valid body was not accepted: %s", r.method,
                  r.pattern, u.first);

    /* Field mutations: all of the body as a whole (replaced, an unknown field, a duplicate key),
     * then a sample of the rest. */
    seed(r.pattern);
    json_t *paths = json_array(), *empty = json_array();
    collect(root, empty, paths);
    json_decref(empty);
    size_t np = json_array_size(paths), nc = 0;
    struct cand *c = calloc(np * (nvalues + 3), sizeof(*c));
    ck_assert_ptr_nonnull(c);
    for (size_t p = 0; p < np; p++) {
        json_t *path = json_array_get(paths, p);
        json_t *node = at(root, path, json_array_size(path));
        if (json_array_size(path))
            c[nc++] = (struct cand){p, OP_REMOVE};
        for (size_t v = 0; v < nvalues; v++)
            c[nc++] = (struct cand){p, (int)v};
        if (json_is_object(node)) {
            c[nc++] = (struct cand){p, OP_UNKNOWN};
            if (json_object_size(node))
                c[nc++] = (struct cand){p, OP_DUP};
        }
    }
    /* Fisher-Yates over everything but the mutations of the body as a whole, kept first. */
    size_t fixed = 0;
    for (size_t i = 0; i < nc; i++)
        if (c[i].path == 0) {
            struct cand t = c[fixed];
            c[fixed++] = c[i];
            c[i] = t;
        }
    for (size_t i = nc - 1; i > fixed; i--) {
        size_t j = fixed + below(i - fixed + 1);
        struct cand t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
    size_t take = nc < MAX_FIELD_MUTATIONS ? nc : MAX_FIELD_MUTATIONS;
    for (size_t i = 0; i < take; i++) {
        json_t *path = json_array_get(paths, c[i].path);
        describe(path, where, sizeof(where));
        if (c[i].op == OP_REMOVE)
            snprintf(what, sizeof(what), "remove %s", where);
        else if (c[i].op == OP_UNKNOWN)
            snprintf(what, sizeof(what), "unknown field in %s", where);
        else if (c[i].op == OP_DUP)
            snprintf(what, sizeof(what), "duplicate first key of %s", where);
        else
            snprintf(what, sizeof(what), "%s = %s", where, values[c[i].op].name);
        /* Which field a 422 must name: the one removed or replaced, or the unknown one. (Not for an
         * array element removed: the shorter list may fault others, e.g. criteria reading a
         * category no longer listed.) */
        size_t depth = json_array_size(path);
        if (c[i].op == OP_UNKNOWN)
            snprintf(u.expect, sizeof(u.expect), "%s%szz_unknown_field", depth ? where : "",
                     depth ? "." : "");
        else if (c[i].op == OP_DUP || depth == 0 ||
                 (c[i].op == OP_REMOVE && json_is_integer(json_array_get(path, depth - 1))))
            u.expect[0] = '\0';
        else
            snprintf(u.expect, sizeof(u.expect), "%s", where);
        char *text = apply(root, path, c[i].op);
        send(&u, what, text, strlen(text));
        free(text);
    }
    free(c);
    json_decref(paths);

    u.expect[0] = '\0';

    /* Truncations and byte flips of the valid text. */
    for (int i = 0; i < TRUNCATIONS; i++) {
        size_t at_ = below(vlen);
        snprintf(what, sizeof(what), "truncated to %zu of %zu bytes", at_, vlen);
        send(&u, what, valid, at_);
    }
    char *flipped = malloc(vlen + 1);
    ck_assert_ptr_nonnull(flipped);
    for (int i = 0; i < BYTE_FLIPS; i++) {
        int n = 1 + (int)below(3), o = 0;
        memcpy(flipped, valid, vlen + 1);
        o = snprintf(what, sizeof(what), "byte flips:");
        for (int k = 0; k < n; k++) {
            size_t pos = below(vlen);
            unsigned char b = (unsigned char)below(256);
            if (b == (unsigned char)flipped[pos])
                b ^= 0x20;
            flipped[pos] = (char)b;
            o += snprintf(what + o, sizeof(what) - (size_t)o, " [%zu]=0x%02x", pos, b);
        }
        send(&u, what, flipped, vlen);
    }
    free(flipped);

    json_decref(root);
    free(valid);
    finish(&u, &r, "mutations:", t0, count_before);
}
END_TEST

/* ==== Part two: every GET and DELETE route's path and query string, and the headers ==== */

/* Mutations per route after the valid request (a deterministic sample beyond this). */
#define MAX_URL_MUTATIONS 100
/* th_req copies the base URL and the path into 2,048 bytes and would cut a longer URL silently: the
 * long segment and the long query value are as long as the URL then holds (asserted). */
#define URL_CAP 2047
#define LONG_SEGMENT 2000
#define LONG_VALUE 10240
/* Written into the other account's objects: no answer to the caller may contain it. */
#define SECRET "zz-another-accounts-private-text"

/* Every member table of both members (and their accounts), $1 = "A,B". */
#define PAIR_ROWS(t)                                                                               \
    " UNION ALL SELECT '" #t "' || t::text FROM " #t                                               \
    " t WHERE member_id = ANY (string_to_array($1, ',')::uuid[])"
static const char pair_fp[] =
    "SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM (SELECT 'account' || a::text AS "
    "x FROM account a WHERE id = ANY (string_to_array($1, ',')::uuid[])" MEMBER_TABLES(
        PAIR_ROWS) ") s";
static const char pair_study_fp[] =
    "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM study t WHERE "
    "researcher_id = ANY (string_to_array($1, ',')::uuid[])), '') || coalesce((SELECT "
    "string_agg(q::text, '|' ORDER BY q.study_id, q.seq) FROM study_query q JOIN study s ON s.id = "
    "q.study_id WHERE s.researcher_id = ANY (string_to_array($1, ',')::uuid[])), ''))";
static const char pair_trial_fp[] =
    "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM trial t WHERE "
    "coordinator_id = ANY (string_to_array($1, ',')::uuid[])), '') || coalesce((SELECT "
    "string_agg(q::text, '|' ORDER BY q.trial_id, q.seq) FROM trial_query q JOIN trial s ON s.id "
    "= q.trial_id WHERE s.coordinator_id = ANY (string_to_array($1, ',')::uuid[])), '') || "
    "coalesce((SELECT string_agg(i::text, '|' ORDER BY i.id) FROM trial_invitation i JOIN trial s "
    "ON s.id = i.trial_id WHERE s.coordinator_id = ANY (string_to_array($1, ',')::uuid[])), ''))";

/* ---- setup ---- */

static void hide(struct route *r, const char *text)
{
    for (int i = 0; i < NSECRETS; i++)
        if (!r->secret[i][0]) {
            snprintf(r->secret[i], sizeof(r->secret[i]), "%s", text);
            return;
        }
    ck_abort_msg("%s: too many secrets", r->pattern);
}

static void sql_do(const char *sql, int n, const char *const *params, char *out, size_t cap)
{
    PGconn *c = th_db();
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK,
                  "setup SQL %s: %s", sql, PQerrorMessage(c));
    if (out)
        snprintf(out, cap, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    PQfinish(c);
}

/* POST a formatted body (want 201) and copy the answer's field key into out (may be NULL). */
__attribute__((format(printf, 6, 7))) static void post_f(const char *path, const char *token,
                                                         const char *key, char *out, size_t cap,
                                                         const char *fmt, ...)
{
    char *text;
    va_list ap;
    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&text, fmt, ap), 0);
    va_end(ap);
    json_t *j = must(201, "POST", path, token, text);
    const char *s = json_string_value(json_object_get(j, key));
    ck_assert_msg(s != NULL, "setup POST %s: no %s in the answer", path, key);
    if (out)
        snprintf(out, cap, "%s", s);
    json_decref(j);
    free(text);
}

static char *retitled(const char *body, const char *title)
{
    json_error_t e;
    json_t *j = json_loads(body, 0, &e);
    ck_assert_ptr_nonnull(j);
    json_object_set_new(j, "title", json_string(title));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static bool nested(const char *pattern)
{
    return strstr(pattern, "/doses") || strstr(pattern, "/evaluations") ||
           strstr(pattern, "/progress");
}

/* One object of the innermost record resource the pattern names, owned by token, with note as its
 * note (a goal's title, a dose's reason); nested resources go under parent. */
static void one_object(const char *pattern, const char *token, const char *note, const char *parent,
                       char out[64])
{
    static int made;
    char path[160];
    int day = 1 + made % 28, hour = made / 28 % 24;
    made++;
    if (strstr(pattern, "/doses")) {
        snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", parent);
        post_f(
            path, token, "id", out, 64,
            "{\"scheduled_at\":\"2025-10-%02dT%02d:00:00+01:00\",\"taken_at\":\"2025-10-%02dT%02d:"
            "30:00+01:00\",\"status\":\"late\",\"reason\":\"%s\"}",
            day, hour, day, hour, note);
    } else if (strstr(pattern, "/evaluations")) {
        snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", parent);
        post_f(path, token, "id", out, 64,
               "{\"evaluated_on\":\"2025-10-%02d\",\"effectiveness\":\"moderate\",\"adherence\":"
               "\"usually\",\"burden\":\"slight\",\"note\":\"%s\"}",
               day, note);
    } else if (strstr(pattern, "/progress")) {
        snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", parent);
        post_f(path, token, "id", out, 64,
               "{\"value\":5,\"recorded_at\":\"2025-10-%02dT%02d:00:00+01:00\",\"note\":\"%s\"}",
               day, hour, note);
    } else if (strstr(pattern, "/medications")) {
        post_f(
            "/v1/me/medications", token, "id", out, 64,
            "{\"medication\":\"dimethyl_fumarate\",\"dose_amount\":240,\"dose_unit\":\"mg\","
            "\"frequency\":{\"times_per_day\":2},\"started_on\":\"2025-06-%02d\",\"note\":\"%s\"}",
            day, note);
    } else if (strstr(pattern, "/goals")) {
        post_f("/v1/me/goals", token, "id", out, 64,
               "{\"title\":\"%s\",\"kind\":\"symptom_target\",\"symptom\":\"fatigue\","
               "\"target_value\":3,\"direction\":\"decrease\",\"due_on\":\"2027-12-31\"}",
               note);
    } else if (strstr(pattern, "/symptoms")) {
        post_f("/v1/me/symptoms", token, "id", out, 64,
               "{\"symptom\":\"fatigue\",\"severity\":6,\"recorded_at\":\"2025-10-%02dT%02d:00:00+"
               "01:00\",\"note\":\"%s\"}",
               day, hour, note);
    } else {
        post_f("/v1/me/conditions", token, "id", out, 64,
               "{\"condition\":\"multiple_sclerosis\",\"diagnosed_on\":\"2019-04-%02d\",\"note\":"
               "\"%s\"}",
               day, note);
    }
}

/* Two objects of the pattern's innermost resource (two, so that a listing gives out a cursor),
 * under one new parent when it is nested: ids[0] the parent or the first object, ids[1] the first
 * child. */
static void record_for(const char *pattern, const char *token, const char *note, char ids[2][64])
{
    char scratch[64];
    if (nested(pattern)) {
        one_object(strstr(pattern, "/progress") ? "/v1/me/goals" : "/v1/me/medications", token,
                   note, NULL, ids[0]);
        one_object(pattern, token, note, ids[0], ids[1]);
        one_object(pattern, token, note, ids[0], scratch);
    } else {
        one_object(pattern, token, note, NULL, ids[0]);
        one_object(pattern, token, note, NULL, scratch);
    }
}

static void profile_of(const char *token, const char *timezone)
{
    char body[256];
    snprintf(
        body, sizeof(body),
        "{\"birth_year\":1979,\"sex_at_birth\":\"female\",\"country\":\"NL\",\"timezone\":\"%s\"}",
        timezone);
    json_decref(must(201, "PUT", "/v1/me/profile", token, body));
}

/* A link to all of token's categories (expiring in a month), its id and token. */
static void link_of(const char *token, const char *label, char id[64], char tok[64])
{
    char day[16], body[256];
    time_t t = time(NULL) + 30 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    snprintf(body, sizeof(body),
             "{\"categories\":[\"demographics\",\"conditions\",\"symptoms\",\"medications\","
             "\"goals\"],\"expires_at\":\"%s\",\"label\":\"%s\"}",
             day, label);
    json_t *j = must(201, "POST", "/v1/me/shares", token, body);
    snprintf(id, 64, "%s", json_string_value(json_object_get(j, "id")));
    if (tok)
        snprintf(tok, 64, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
}

/* The caller, member A, and member B whose data the caller must never see. */
static void members(struct route *r)
{
    member(r);
    th_account("member", r->other_token, r->other_id);
    snprintf(r->arg, sizeof(r->arg), "%s,%s", r->member, r->other_id);
    r->fp_sql = pair_fp;
}

static void g_public(struct route *r)
{
    r->fp_sql = account_fp;
}

static void g_catalog(struct route *r)
{
    member(r);
}

static void g_me(struct route *r)
{
    char email[128];
    members(r);
    sql_do("SELECT email FROM account WHERE id = $1", 1, (const char *const[]){r->other_id}, email,
           sizeof(email));
    hide(r, email);
}

static void g_profile(struct route *r)
{
    members(r);
    profile_of(r->token, "Europe/Amsterdam");
    profile_of(r->other_token, "Pacific/Chatham");
    hide(r, "Pacific/Chatham");
}

/* A new object in place of the one a DELETE removed (and a new parent, should the request have
 * removed that instead). */
static void remake(struct route *r)
{
    bool n = nested(r->pattern);
    if (n) {
        const char *parent =
            strstr(r->pattern, "/progress") ? "/v1/me/goals" : "/v1/me/medications";
        char path[160];
        struct th_resp resp;
        snprintf(path, sizeof(path), "%s/%s", parent, r->par[0]);
        th_req("GET", path, r->token, NULL, NULL, &resp);
        if (resp.status == 404)
            one_object(parent, r->token, "my own note", NULL, r->par[0]);
        th_resp_free(&resp);
    }
    one_object(r->pattern, r->token, "my own note", n ? r->par[0] : NULL, r->par[n ? 1 : 0]);
}

static void g_record(struct route *r)
{
    members(r);
    record_for(r->pattern, r->token, "my own note", r->par);
    record_for(r->pattern, r->other_token, SECRET, r->other);
    hide(r, SECRET);
    if (strcmp(r->method, "DELETE") == 0)
        r->refresh = remake;
}

/* The changes feed and the exports: some of A's record, and B's. */
static void g_changes(struct route *r)
{
    char ids[2][64];
    members(r);
    record_for("/v1/me/conditions", r->token, "my own note", ids);
    record_for("/v1/me/conditions", r->other_token, SECRET, ids);
    hide(r, SECRET);
}

static void g_consents(struct route *r)
{
    char id[40];
    members(r);
    create("/v1/me/consents", r->token, consent_body, 201, id);
    create("/v1/me/consents", r->token, consent_body, 201, id);
    create("/v1/me/consents", r->other_token, consent_body, 201, id);
    hide(r, id);
}

static void g_data_uses(struct route *r)
{
    static const char sql[] = "INSERT INTO data_use (member_id, kind, object_id, title, purpose, "
                              "categories, at) VALUES ($1, 'study', gen_random_uuid(), $2, "
                              "'research', 3, now() - $3::int * interval '1 hour')";
    members(r);
    sql_do(sql, 3, (const char *const[]){r->member, "A study I joined", "1"}, NULL, 0);
    sql_do(sql, 3, (const char *const[]){r->member, "Another study I joined", "2"}, NULL, 0);
    sql_do(sql, 3, (const char *const[]){r->other_id, SECRET, "1"}, NULL, 0);
    hide(r, SECRET);
}

static void g_shares(struct route *r)
{
    char id[64];
    members(r);
    link_of(r->token, "my own link", id, NULL);
    link_of(r->token, "my other link", id, NULL);
    link_of(r->other_token, SECRET, id, NULL);
    hide(r, SECRET);
}

static void g_share_delete(struct route *r)
{
    members(r);
    link_of(r->token, "my own link", r->par[0], NULL);
    link_of(r->other_token, SECRET, r->other[0], NULL);
    hide(r, SECRET);
}

/* A's link to A's data of the route's kind; for B, the same data behind a revoked link. */
static void g_shared(struct route *r)
{
    char ids[2][64], path[128];
    const char *kind = strrchr(r->pattern, '/');
    members(r);
    if (strcmp(kind, "/profile") == 0) {
        profile_of(r->token, "Europe/Amsterdam");
        profile_of(r->other_token, "Pacific/Chatham");
        hide(r, "Pacific/Chatham");
    } else if (strcmp(kind, "/{token}") != 0) {
        record_for(kind, r->token, "my own note", ids);
        record_for(kind, r->other_token, SECRET, ids);
    }
    link_of(r->token, "my own link", ids[0], r->par[0]);
    link_of(r->other_token, SECRET, ids[0], r->other[0]);
    snprintf(path, sizeof(path), "/v1/me/shares/%s", ids[0]);
    json_decref(must(204, "DELETE", path, r->other_token, NULL));
    hide(r, SECRET);
}

static void erase_again(struct route *r)
{
    member(r);
    snprintf(r->arg, sizeof(r->arg), "%s,%s", r->member, r->other_id);
    r->fp_sql = pair_fp;
}

static void g_erase(struct route *r)
{
    members(r);
    set_body(r, "{\"password\":\"" TH_PASSWORD "\"}");
    r->refresh = erase_again;
}

static void g_invitations(struct route *r)
{
    static const char sql[] = "INSERT INTO trial_invitation (member_id, trial_id) VALUES ($1, $2)";
    char id[40];
    members(r);
    th_account("coordinator", r->coord, NULL);
    draft_trial(r, id);
    sql_do(sql, 2, (const char *const[]){r->member, id}, NULL, 0);
    char *body = retitled(trial_body, SECRET);
    create("/v1/trials", r->coord, body, 201, id);
    free(body);
    sql_do(sql, 2, (const char *const[]){r->other_id, id}, NULL, 0);
    hide(r, SECRET);
}

static void g_admin(struct route *r)
{
    th_account("admin", r->token, NULL);
    r->fp_sql = account_fp;
}

/* Two audited link creations by one member, found by actor and action. */
static void g_audit(struct route *r)
{
    char tok[64], id[40], link[64];
    g_admin(r);
    th_account("member", tok, id);
    link_of(tok, "audited link", link, NULL);
    link_of(tok, "audited link", link, NULL);
    snprintf(r->query, sizeof(r->query),
             "limit=1&cursor=@&actor=%s&action=share.create&from=2000-01-01T00:00:00Z&to=2099-12-"
             "31T23:59:59Z",
             id);
}

static void g_studies(struct route *r)
{
    char id[40];
    researcher(r);
    create("/v1/research/studies", r->token, study_body, 201, id);
    snprintf(r->par[0], sizeof(r->par[0]), "%s", id);
    create("/v1/research/studies", r->token, study_body, 201, id);
    th_account("researcher", r->other_token, r->other_id);
    char *body = retitled(study_body, SECRET);
    create("/v1/research/studies", r->other_token, body, 201, id);
    free(body);
    snprintf(r->other[0], sizeof(r->other[0]), "%s", id);
    snprintf(r->arg, sizeof(r->arg), "%s,%s", r->member, r->other_id);
    r->fp_sql = pair_study_fp;
    hide(r, SECRET);
}

static void g_admin_studies(struct route *r)
{
    char id[40];
    researcher(r);
    create("/v1/research/studies", r->token, study_body, 201, id);
    create("/v1/research/studies", r->token, study_body, 201, id);
    snprintf(r->token, sizeof(r->token), "%s", r->admin);
}

static void g_trials(struct route *r)
{
    char id[40], cid[40];
    coordinator(r);
    draft_trial(r, id);
    approve_trial(r, id);
    snprintf(r->par[0], sizeof(r->par[0]), "%s", id);
    th_account("coordinator", r->other_token, cid);
    char *body = retitled(trial_body, SECRET);
    create("/v1/trials", r->other_token, body, 201, id);
    free(body);
    snprintf(r->other[0], sizeof(r->other[0]), "%s", id);
    snprintf(r->other_id, sizeof(r->other_id), "%s", cid);
    snprintf(r->arg + strlen(r->arg), sizeof(r->arg) - strlen(r->arg), ",%s", cid);
    r->fp_sql = pair_trial_fp;
    hide(r, SECRET);
}

static void g_admin_trials(struct route *r)
{
    char id[40];
    coordinator(r);
    draft_trial(r, id);
    snprintf(r->token, sizeof(r->token), "%s", r->admin);
}

#define LIST_Q "limit=1&cursor=@&from=2000-01-01T00:00:00Z&to=2099-12-31T00:00:00%2B01:00"

/* Every GET and DELETE route of service/routes.c, with the query parameters docs/openapi.yaml
 * documents for it, all given valid values ("@": the cursor the listing itself gives out). */
static const struct {
    const char *method, *pattern, *query;
    void (*setup)(struct route *);
} urls[] = {
    {"GET", "/", "", g_public},
    {"GET", "/healthz", "", g_public},
    {"GET", "/readyz", "", g_public},
    {"GET", "/metrics", "", g_public},
    {"GET", "/v1/me", "", g_me},
    {"GET", "/v1/me/profile", "", g_profile},
    {"GET", "/v1/catalog/symptoms", "q=fat&limit=5", g_catalog},
    {"GET", "/v1/catalog/conditions", "q=scler&limit=5", g_catalog},
    {"GET", "/v1/catalog/medications", "q=fum&limit=5", g_catalog},
    {"GET", "/v1/me/changes", "since=@&limit=1", g_changes},
    {"GET", "/v1/me/export", "format=json", g_changes},
    {"GET", "/v1/me/conditions", LIST_Q, g_record},
    {"GET", "/v1/me/conditions/{id}", "", g_record},
    {"DELETE", "/v1/me/conditions/{id}", "", g_record},
    {"GET", "/v1/me/symptoms", LIST_Q "&symptom=fatigue", g_record},
    {"GET", "/v1/me/symptoms/{id}", "", g_record},
    {"DELETE", "/v1/me/symptoms/{id}", "", g_record},
    {"GET", "/v1/me/medications", LIST_Q "&medication=dimethyl_fumarate", g_record},
    {"GET", "/v1/me/medications/{id}", "", g_record},
    {"DELETE", "/v1/me/medications/{id}", "", g_record},
    {"GET", "/v1/me/medications/{id}/doses", LIST_Q, g_record},
    {"GET", "/v1/me/medications/{id}/doses/{id}", "", g_record},
    {"DELETE", "/v1/me/medications/{id}/doses/{id}", "", g_record},
    {"GET", "/v1/me/medications/{id}/evaluations", LIST_Q, g_record},
    {"GET", "/v1/me/medications/{id}/evaluations/{id}", "", g_record},
    {"DELETE", "/v1/me/medications/{id}/evaluations/{id}", "", g_record},
    {"GET", "/v1/me/goals", LIST_Q, g_record},
    {"GET", "/v1/me/goals/{id}", "", g_record},
    {"DELETE", "/v1/me/goals/{id}", "", g_record},
    {"GET", "/v1/me/goals/{id}/progress", LIST_Q, g_record},
    {"GET", "/v1/me/goals/{id}/progress/{id}", "", g_record},
    {"DELETE", "/v1/me/goals/{id}/progress/{id}", "", g_record},
    {"GET", "/v1/me/export/fhir", "", g_changes},
    {"DELETE", "/v1/me", "", g_erase},
    {"GET", "/v1/consent/policies", "", g_public},
    {"GET", "/v1/consent/public-key", "", g_public},
    {"GET", "/v1/me/consents", "", g_consents},
    {"GET", "/v1/me/consents/history", "limit=1&cursor=@", g_consents},
    {"GET", "/v1/me/data-uses", "limit=1&cursor=@", g_data_uses},
    {"GET", "/v1/admin/audit/verify", "", g_admin},
    {"GET", "/v1/admin/audit", "", g_audit},
    {"GET", "/v1/me/shares", "limit=1&cursor=@", g_shares},
    {"DELETE", "/v1/me/shares/{id}", "", g_share_delete},
    {"GET", "/v1/shared/{token}", "", g_shared},
    {"GET", "/v1/shared/{token}/profile", "", g_shared},
    {"GET", "/v1/shared/{token}/conditions", "limit=1&cursor=@", g_shared},
    {"GET", "/v1/shared/{token}/symptoms", "limit=1&cursor=@", g_shared},
    {"GET", "/v1/shared/{token}/medications", "limit=1&cursor=@", g_shared},
    {"GET", "/v1/shared/{token}/goals", "limit=1&cursor=@", g_shared},
    {"GET", "/v1/research/studies", "limit=1&cursor=@", g_studies},
    {"GET", "/v1/research/studies/{id}", "", g_studies},
    {"GET", "/v1/research/studies/{id}/budget", "", g_studies},
    {"GET", "/v1/admin/studies", "limit=1&cursor=@&status=pending", g_admin_studies},
    {"GET", "/v1/trials", "limit=5&offset=0&status=draft", g_trials},
    {"GET", "/v1/trials/{id}", "", g_trials},
    {"GET", "/v1/trials/{id}/candidates", "limit=5&offset=0", g_trials},
    {"GET", "/v1/trials/{id}/responses", "", g_trials},
    {"GET", "/v1/admin/trials", "limit=5&offset=0&status=draft", g_admin_trials},
    {"GET", "/v1/me/invitations", "limit=5&offset=0", g_invitations},
};
#define NURLS ((int)(sizeof(urls) / sizeof(urls[0])))

/* ---- building the URL ---- */

#define MAX_PAIRS 8
#define MAX_PARAMS 2

struct qs {
    int n;
    char name[MAX_PAIRS][32];
    char value[MAX_PAIRS][400];
};

static void parse_query(const char *query, struct qs *q)
{
    char copy[1024], *save = NULL;
    q->n = 0;
    snprintf(copy, sizeof(copy), "%s", query);
    for (char *p = strtok_r(copy, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        ck_assert_msg(eq && q->n < MAX_PAIRS, "bad query template %s", query);
        *eq = '\0';
        snprintf(q->name[q->n], sizeof(q->name[0]), "%s", p);
        snprintf(q->value[q->n], sizeof(q->value[0]), "%s", eq + 1);
        q->n++;
    }
}

enum { Q_KEEP, Q_REMOVE, Q_SET, Q_BARE, Q_REPEAT };

/* The query with pair k changed (mode, value val), then extra (may be NULL), into out. */
static void query_of(const struct qs *q, int k, int mode, const char *val, const char *extra,
                     char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
#define PUT(...) o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, __VA_ARGS__)
    for (int i = 0; i < q->n; i++) {
        const char *sep = o ? "&" : "";
        if (i != k || mode == Q_KEEP)
            PUT("%s%s=%s", sep, q->name[i], q->value[i]);
        else if (mode == Q_SET)
            PUT("%s%s=%s", sep, q->name[i], val);
        else if (mode == Q_BARE)
            PUT("%s%s", sep, q->name[i]);
        else if (mode == Q_REPEAT)
            PUT("%s%s=%s&%s=%s", sep, q->name[i], q->value[i], q->name[i], val);
    }
    if (extra)
        PUT("%s%s", o ? "&" : "", extra);
#undef PUT
    ck_assert_msg(o < cap, "query too long");
}

/* The route's path with its parameters; parameter k (k >= 0) replaced by seg (when not NULL) and
 * preceded by an extra slash when dbl. */
static void path_of(const struct route *r, int k, const char *seg, bool dbl, char *out, size_t cap)
{
    size_t o = 0;
    int i = 0;
    for (const char *p = r->pattern; *p;) {
        if (*p == '{') {
            const char *v = i == k && seg ? seg : r->par[i];
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", i == k && dbl ? "/" : "",
                                  v);
            p = strchr(p, '}') + 1;
            i++;
        } else {
            if (o + 1 < cap)
                out[o] = *p;
            o++;
            p++;
        }
    }
    ck_assert_msg(o < cap, "path too long");
    out[o] = '\0';
}

static int nparams_of(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; (p = strchr(p, '{')); p++)
        n++;
    return n;
}

/* Room for a long segment or value in a URL that is len bytes without it. */
static size_t room(size_t len, size_t want)
{
    size_t base = strlen(th_base_url());
    ck_assert_msg(base + len < URL_CAP, "URL of %zu bytes leaves no room", base + len);
    return URL_CAP - base - len < want ? URL_CAP - base - len : want;
}

static char *filled(char c, size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Percent-encode everything but RFC 3986's unreserved characters. */
static void url_encode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    }
    out[o] = '\0';
}

/* Replace the "@" of a cursor parameter by the cursor the listing gives out for the query without
 * it (the setups make two items, and the queries ask for one per page). */
static void fill_cursor(struct route *r)
{
    char path[256], url[1400], wo[1024], enc[400];
    struct qs q;
    struct th_resp resp;
    int k = -1;
    parse_query(r->query, &q);
    for (int i = 0; i < q.n; i++)
        if (strcmp(q.value[i], "@") == 0)
            k = i;
    if (k < 0)
        return;
    path_of(r, -1, NULL, false, path, sizeof(path));
    query_of(&q, k, Q_REMOVE, NULL, NULL, wo, sizeof(wo));
    snprintf(url, sizeof(url), "%s?%s", path, wo);
    th_req("GET", url, r->token[0] ? r->token : NULL, NULL, NULL, &resp);
    const char *c = json_string_value(json_object_get(resp.json, "next_cursor"));
    ck_assert_msg(resp.status == 200 && c, "setup GET %s: status %ld, no next_cursor: %s", url,
                  resp.status, resp.body);
    url_encode(c, enc, sizeof(enc));
    snprintf(q.value[k], sizeof(q.value[k]), "%s", enc);
    query_of(&q, -1, Q_KEEP, NULL, NULL, r->query, sizeof(r->query));
    th_resp_free(&resp);
}

/* ---- one route's run ---- */

enum { M_TRAIL, M_DOUBLE, M_SEG, M_Q, M_WHOLE, M_EXTRA };
/* Path parameter values (M_SEG). */
enum { S_NOT_ID, S_UNKNOWN, S_OTHER, S_LONG, S_NUL, S_FF, S_DOTDOT, S_NUL_AFTER, NSEG };
static const char *const seg_names[NSEG] = {"not an id",
                                            "an id that does not exist",
                                            "another account's object's id",
                                            "a long segment",
                                            "%00",
                                            "%ff",
                                            "%2e%2e",
                                            "the id followed by %00 and more"};
/* Query parameter mutations (M_Q): mode and value; the last two only for dates. */
static const struct {
    int mode;
    const char *name, *value; /* value NULL: the long value */
} qmuts[] = {
    {Q_REMOVE, "removed", ""},
    {Q_SET, "empty", ""},
    {Q_BARE, "without =", ""},
    {Q_REPEAT, "repeated (valid first)", "2"},
    {Q_SET, "negative", "-1"},
    {Q_SET, "zero", "0"},
    {Q_SET, "huge", "99999999999999999999"},
    {Q_SET, "non-numeric", "abc"},
    {Q_SET, "%ff", "%ff"},
    {Q_SET, "with %00 inside", "1%002"},
    {Q_SET, "a long value", NULL},
    {Q_SET, "an impossible date-time", "2025-02-30T25:61:00Z"},
    {Q_SET, "a date-time without offset", "2025-11-20T08:30:00"},
};
#define NQMUTS ((int)(sizeof(qmuts) / sizeof(qmuts[0])))
#define NQ_DATE 2
static const char *const wholes[] = {"", "&&&", "=", "%zz"};

struct umut {
    int kind, k, v;
};

/* Send the route's method to path (with its query) and check every promise. */
static void send_url(struct run *u, const char *what, const char *path)
{
    struct route *r = u->r;
    struct th_resp resp;
    struct sent q = {
        r->method, path, r->token[0] ? r->token : NULL, r->body, r->body ? strlen(r->body) : 0,
        NULL};
    ck_assert_msg(strlen(th_base_url()) + strlen(path) <= URL_CAP, "%s: URL of %zu bytes", what,
                  strlen(th_base_url()) + strlen(path));
    th_req(q.method, path, q.token, q.body, NULL, &resp);
    judge(u, what, &q, &resp);
}

static void fresh_id(char out[64], bool token)
{
    if (token) {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (int i = 0; i < 43; i++)
            out[i] = b64[xorshift() % 64];
        out[43] = '\0';
    } else {
        uint64_t a = xorshift(), b = xorshift();
        snprintf(out, 64, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(a >> 32),
                 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, (unsigned)(b >> 52),
                 (unsigned long long)(b & 0xffffffffffffull));
    }
}

START_TEST(mutate_url)
{
    struct route r = {.method = urls[_i].method, .pattern = urls[_i].pattern};
    struct run u = {.r = &r};
    char what[300], path[2100], query[2100], url[4200], seg[80], name[160];
    struct qs q;
    double t0 = now_s();

    bool token_param = strstr(r.pattern, "{token}") != NULL;

    snprintf(r.query, sizeof(r.query), "%s", urls[_i].query);
    urls[_i].setup(&r);
    if (!r.created_status)
        r.created_status = 201;
    fill_cursor(&r);
    parse_query(r.query, &q);
    /* Self-check: the other account's own request shows the text no answer to the caller may show
     * (except where the route's answer carries none: a budget, candidates, response counts). */
    if (r.other_token[0] && r.secret[0][0] && strcmp(r.method, "GET") == 0 && !token_param &&
        !strstr(r.pattern, "/budget") && !strstr(r.pattern, "/candidates") &&
        !strstr(r.pattern, "/responses")) {
        struct route o = r;
        struct th_resp own;
        memcpy(o.par, r.other, sizeof(o.par));
        path_of(&o, -1, NULL, false, path, sizeof(path));
        th_req("GET", path, r.other_token, NULL, NULL, &own);
        ck_assert_msg(own.status == 200 && strstr(own.body, r.secret[0]),
                      "self-check GET %s as its owner: status %ld, \"%s\" not shown: %.300s", path,
                      own.status, r.secret[0], own.body);
        th_resp_free(&own);
    }
    snprintf(name, sizeof(name), "%s %s", r.method, r.pattern);
    seed(name);
    u.db = th_db();
    fingerprint(&u, u.fp);
    int np = nparams_of(r.pattern);
    ck_assert_int_le(np, MAX_PARAMS);

    /* The valid request is answered 2xx. */
    path_of(&r, -1, NULL, false, path, sizeof(path));
    snprintf(url, sizeof(url), "%s%s%s", path, q.n ? "?" : "", r.query);
    send_url(&u, "the valid request", url);
    ck_assert_msg(u.n2xx == 1, "%s %s: the valid request %s was not answered 2xx: %s", r.method,
                  r.pattern, url, u.first);

    /* The mutations: the path as a whole, each path parameter, each query parameter, the query
     * string as a whole. */
    struct umut m[2 + MAX_PARAMS * (NSEG + 1) + MAX_PAIRS * NQMUTS + 5];
    size_t nm = 0;
    m[nm++] = (struct umut){M_TRAIL, -1, 0};
    if (strcmp(r.pattern, "/") != 0)
        m[nm++] = (struct umut){M_DOUBLE, -1, 0};
    for (int k = 0; k < np; k++) {
        for (int v = 0; v < NSEG; v++)
            if (v != S_OTHER || r.other[k][0])
                m[nm++] = (struct umut){M_SEG, k, v};
        m[nm++] = (struct umut){M_DOUBLE, k, 0};
    }
    for (int k = 0; k < q.n; k++) {
        bool date = strcmp(q.name[k], "from") == 0 || strcmp(q.name[k], "to") == 0;
        for (int v = 0; v < NQMUTS - (date ? 0 : NQ_DATE); v++)
            m[nm++] = (struct umut){M_Q, k, v};
    }
    for (int v = 0; v < (int)(sizeof(wholes) / sizeof(wholes[0])); v++)
        m[nm++] = (struct umut){M_WHOLE, -1, v};
    m[nm++] = (struct umut){M_EXTRA, -1, 0};
    if (nm > MAX_URL_MUTATIONS) {
        for (size_t i = nm - 1; i > 0; i--) {
            size_t j = below(i + 1);
            struct umut t = m[i];
            m[i] = m[j];
            m[j] = t;
        }
        nm = MAX_URL_MUTATIONS;
    }

    for (size_t i = 0; i < nm; i++) {
        struct umut x = m[i];
        char *longs = NULL;
        u.must = 0;
        u.expect[0] = '\0';
        path_of(&r, -1, NULL, false, path, sizeof(path));
        snprintf(query, sizeof(query), "%s%s", q.n ? "?" : "", r.query);
        if (x.kind == M_TRAIL) {
            snprintf(what, sizeof(what), "trailing slash");
            strcat(path, "/");
            u.must = 404;
        } else if (x.kind == M_DOUBLE && x.k < 0) {
            snprintf(what, sizeof(what), "doubled slash before the last segment");
            char *last = strrchr(path, '/');
            memmove(last + 1, last, strlen(last) + 1);
            u.must = 404;
        } else if (x.kind == M_DOUBLE) {
            snprintf(what, sizeof(what), "doubled slash before path parameter %d", x.k + 1);
            path_of(&r, x.k, NULL, true, path, sizeof(path));
            u.must = 404;
        } else if (x.kind == M_SEG) {
            const char *s = seg;
            u.must = 404;
            if (x.v == S_NOT_ID) {
                s = token_param ? "not-a-token" : "not-a-uuid";
            } else if (x.v == S_UNKNOWN) {
                fresh_id(seg, token_param);
            } else if (x.v == S_OTHER) {
                s = r.other[x.k];
            } else if (x.v == S_LONG) {
                path_of(&r, x.k, "", false, path, sizeof(path));
                s = longs = filled('a', room(strlen(path) + strlen(query), LONG_SEGMENT));
            } else if (x.v == S_NUL) {
                s = "%00";
                u.must = 400; /* refused before routing: see the next case */
            } else if (x.v == S_FF) {
                s = "%ff";
            } else if (x.v == S_DOTDOT) {
                s = "%2e%2e";
            } else {
                /* libmicrohttpd decodes %00 into the path it hands the service, which would end at
                 * the NUL and act on the id before it: the server refuses any %00 with a 400. */
                snprintf(seg, sizeof(seg), "%s%%00zz", r.par[x.k]);
                u.must = 400;
            }
            snprintf(what, sizeof(what), "path parameter %d = %s", x.k + 1, seg_names[x.v]);
            if (x.v == S_LONG)
                snprintf(what + strlen(what), sizeof(what) - strlen(what), " (%zu chars)",
                         strlen(s));
            path_of(&r, x.k, s, false, path, sizeof(path));
        } else if (x.kind == M_Q) {
            const char *val = qmuts[x.v].value;
            if (!val) {
                query_of(&q, x.k, Q_SET, "", NULL, query, sizeof(query));
                val = longs = filled('x', room(strlen(path) + 1 + strlen(query), LONG_VALUE));
            }
            query[0] = '?';
            query_of(&q, x.k, qmuts[x.v].mode, val, NULL, query + 1, sizeof(query) - 1);
            if (!query[1])
                query[0] = '\0';
            snprintf(what, sizeof(what), "query %s %s", q.name[x.k], qmuts[x.v].name);
            if (longs)
                snprintf(what + strlen(what), sizeof(what) - strlen(what), " (%zu chars)",
                         strlen(longs));
            if (qmuts[x.v].mode != Q_REMOVE && qmuts[x.v].mode != Q_BARE)
                snprintf(u.expect, sizeof(u.expect), "%s", q.name[x.k]);
            if (qmuts[x.v].value && strstr(qmuts[x.v].value, "%00"))
                u.must = 400;
        } else if (x.kind == M_WHOLE) {
            snprintf(query, sizeof(query), "?%s", wholes[x.v]);
            snprintf(what, sizeof(what), "the query string replaced by \"?%s\"", wholes[x.v]);
        } else {
            query[0] = '?';
            query_of(&q, -1, Q_KEEP, NULL, "zz_unknown=1", query + 1, sizeof(query) - 1);
            snprintf(what, sizeof(what), "an unknown query parameter");
        }
        snprintf(url, sizeof(url), "%s%s", path, query);
        send_url(&u, what, url);
        free(longs);
    }

    finish(&u, &r, "urls:", t0, 0);
}
END_TEST

/* ---- headers ---- */

static void h_condition_get(struct route *r)
{
    char id[40];
    member(r);
    create("/v1/me/conditions", r->token, condition_body, 201, id);
    snprintf(r->path, sizeof(r->path), "/v1/me/conditions/%s", id);
}

/* A member GET, a member POST with a body, a researcher POST; and a role each may not use. */
static const struct {
    const char *method, *pattern, *wrong_role;
    void (*setup)(struct route *);
} hroutes[] = {
    {"GET", "/v1/me/conditions/{id}", "researcher", h_condition_get},
    {"POST", "/v1/me/symptoms", "coordinator", s_symptom_post},
    {"POST", "/v1/research/studies", "member", s_study_post},
};
#define NHROUTES ((int)(sizeof(hroutes) / sizeof(hroutes[0])))

/* Send the route's request with token (NULL: no Authorization from the harness), the headers, and
 * the route's body, and check every promise; must: the one status wanted (0: any allowed). */
static void send_h(struct run *u, const char *what, const char *token, const char *const *headers,
                   long must_status)
{
    struct route *r = u->r;
    struct th_resp resp;
    struct sent q = {r->method, r->path, token, r->body, r->body ? strlen(r->body) : 0, headers};
    u->must = must_status;
    th_req(q.method, q.path, q.token, q.body, headers, &resp);
    judge(u, what, &q, &resp);
    u->must = 0;
}

/* "prefix" followed by n copies of c. */
static char *header_of(const char *prefix, char c, size_t n)
{
    size_t l = strlen(prefix);
    char *s = malloc(l + n + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, prefix, l);
    memset(s + l, c, n);
    s[l + n] = '\0';
    return s;
}

START_TEST(mutate_headers)
{
    struct route r = {.method = hroutes[_i].method, .pattern = hroutes[_i].pattern};
    struct run u = {.r = &r};
    char wrong[64], bad[160], what[160];
    const char *list[102];
    double t0 = now_s();

    snprintf(r.path, sizeof(r.path), "%s", r.pattern);
    hroutes[_i].setup(&r);
    if (!r.created_status)
        r.created_status = 201;
    th_account(hroutes[_i].wrong_role, wrong, NULL);
    u.db = th_db();
    fingerprint(&u, u.fp);
    long count_before =
        r.count_sql ? th_sql_long(r.count_sql, r.arg[0] ? 1 : 0, (const char *const[]){r.arg}) : 0;
    bool body = r.body != NULL;

    send_h(&u, "the valid request", r.token, NULL, 0);
    ck_assert_msg(u.n2xx == 1, "%s %s: the valid request was not answered 2xx: %s", r.method,
                  r.pattern, u.first);

    /* Authorization: 401 for anything but a valid bearer token, 403 for a role the route does not
     * admit (docs/openapi.yaml, "Authentication"). */
    send_h(&u, "no Authorization", NULL, NULL, 401);
    send_h(&u, "Authorization: Bearer (no token)", NULL,
           (const char *const[]){"Authorization: Bearer", NULL}, 401);
    send_h(&u, "an empty Authorization", NULL, (const char *const[]){"Authorization;", NULL}, 401);
    send_h(&u, "Authorization: Basic xyz", NULL,
           (const char *const[]){"Authorization: Basic xyz", NULL}, 401);
    snprintf(bad, sizeof(bad), "Authorization: Basic %s", r.token);
    send_h(&u, "Authorization: Basic <the valid token>", NULL, (const char *const[]){bad, NULL},
           401);
    char *huge = header_of("Authorization: Bearer ", 'A', 5000);
    send_h(&u, "a 5,000-char bearer token", NULL, (const char *const[]){huge, NULL}, 401);
    free(huge);
    static const struct {
        const char *name, *bytes;
    } odd[] = {
        {"\\x01", "\x01"}, {"\\x7f", "\x7f"}, {"\\xff", "\xff"}, {"UTF-8 e-acute", "\xc3\xa9"}};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        /* The valid token with its 11th character replaced (a NUL cannot go into a header line). */
        snprintf(bad, sizeof(bad), "Authorization: Bearer %.10s%s%.60s", r.token, odd[i].bytes,
                 r.token + 11);
        snprintf(what, sizeof(what), "the valid token with a %s byte", odd[i].name);
        send_h(&u, what, NULL, (const char *const[]){bad, NULL}, 401);
    }
    snprintf(bad, sizeof(bad), "Authorization: Bearer %s zz", r.token);
    send_h(&u, "the valid token followed by more", NULL, (const char *const[]){bad, NULL}, 401);
    snprintf(what, sizeof(what), "a valid token of a %s", hroutes[_i].wrong_role);
    send_h(&u, what, wrong, NULL, 403);
    snprintf(bad, sizeof(bad), "Authorization: bearer %s", r.token);
    send_h(&u, "the scheme in lower case", NULL, (const char *const[]){bad, NULL}, 0);

    /* Content-Type. The harness always sends its own "Content-Type: application/json" with a body,
     * so each of these goes out as a second Content-Type line (the service reads neither). */
    static const char *const types[] = {"Content-Type: text/plain",
                                        "Content-Type: application/json; charset=latin1",
                                        "Content-Type: multipart/form-data; boundary=zz"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        send_h(&u, types[i], r.token, (const char *const[]){types[i], NULL}, 0);

    /* A Content-Length that lies: shorter than the body (a longer one would leave the server
     * waiting for bytes that never come, until the connection times out). */
    if (body) {
        send_h(&u, "Content-Length: 0 with a body", r.token,
               (const char *const[]){"Content-Length: 0", NULL}, 0);
        snprintf(bad, sizeof(bad), "Content-Length: %zu", strlen(r.body) / 2);
        send_h(&u, "Content-Length: half the body", r.token, (const char *const[]){bad, NULL}, 0);
    }

    /* 100 repeated headers. */
    static const char *const repeated[] = {"X-Cc-Repeat: <n>", "Authorization: Bearer <the token>",
                                           "Content-Type: application/json"};
    char lines[100][128];
    for (size_t k = 0; k < sizeof(repeated) / sizeof(repeated[0]); k++) {
        for (int i = 0; i < 100; i++) {
            if (k == 0)
                snprintf(lines[i], sizeof(lines[i]), "X-Cc-Repeat: %d", i);
            else if (k == 1)
                snprintf(lines[i], sizeof(lines[i]), "Authorization: Bearer %s", r.token);
            else
                snprintf(lines[i], sizeof(lines[i]), "%s", repeated[k]);
            list[i] = lines[i];
        }
        list[100] = NULL;
        snprintf(what, sizeof(what), "100 x \"%s\"", repeated[k]);
        send_h(&u, what, k == 1 ? NULL : r.token, list, 0);
    }

    /* Oversized headers. 16 KB fits in the header memory the server gives a connection
     * (CARECOMMONS_MAX_HEADER, 32 KiB by default) and is served. 40 KB does not: libmicrohttpd
     * itself answers 431 (an HTML page, connection closed) before the service sees a request, so
     * 431 is allowed for this one request only, and the server must stay up. */
    char *filler = header_of("X-Cc-Filler: ", 'x', 16 * 1024);
    send_h(&u, "a 16 KB header", r.token, (const char *const[]){filler, NULL}, 0);
    free(filler);
    filler = header_of("X-Cc-Filler: ", 'x', 40 * 1024);
    u.mhd_431 = true;
    send_h(&u, "a 40 KB header (beyond the header memory)", r.token,
           (const char *const[]){filler, NULL}, 431);
    u.mhd_431 = false;
    free(filler);

    /* Headers the service reads besides Authorization. */
    filler = header_of("X-Request-Id: ", 'r', 5000);
    send_h(&u, "a 5,000-char X-Request-Id", r.token, (const char *const[]){filler, NULL}, 0);
    free(filler);
    send_h(&u, "an X-Request-Id with control bytes", r.token,
           (const char *const[]){"X-Request-Id: ab\x01\x7f\xff", NULL}, 0);
    filler = header_of("Idempotency-Key: ", 'k', 300);
    send_h(&u, "a 300-char Idempotency-Key", r.token, (const char *const[]){filler, NULL}, 0);
    free(filler);
    send_h(&u, "an Idempotency-Key with a \\xff byte", r.token,
           (const char *const[]){"Idempotency-Key: key-\xff", NULL}, 0);

    finish(&u, &r, "headers:", t0, count_before);
}
END_TEST

int main(void)
{
    double t0 = now_s();
    th_start(NULL);
    Suite *s = suite_create("api-mutations");
    TCase *tc = tcase_create("routes");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, mutate_route, 0, NROUTES);
    suite_add_tcase(s, tc);
    TCase *tc2 = tcase_create("paths-queries-headers");
    tcase_set_timeout(tc2, 120);
    tcase_add_loop_test(tc2, mutate_url, 0, NURLS);
    tcase_add_loop_test(tc2, mutate_headers, 0, NHROUTES);
    suite_add_tcase(s, tc2);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "mutations: %d body routes, %d GET/DELETE routes, %d header routes in %.1f s\n",
            NROUTES, NURLS, NHROUTES, now_s() - t0);
    th_stop();
    return failed ? 1 : 0;
}
