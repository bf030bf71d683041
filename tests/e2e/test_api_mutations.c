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
 * Mutations are deterministic (a fixed-seed xorshift per route) and capped per route so that the
 * whole run stays well under a minute. */
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
    char arg[40];
    /* Optional: rows that each 2xx with created_status adds ($1 = arg). */
    const char *count_sql;
    long created_status;
    /* Optional: after a 2xx, a fresh target (the body was used up: approved, withdrawn, ...). */
    void (*refresh)(struct route *);
    /* Setup scratch. */
    char member[40], owner[64], coord[64], admin[64], res[40], res2[40];
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

static void broke(struct run *u, const char *what, const char *body, size_t len,
                  const struct th_resp *resp, const char *problem)
{
    char req[1600], ans[700];
    preview(body ? body : "", body ? len : 0, req, sizeof(req));
    preview(resp->body ? resp->body : "", resp->body ? resp->len : 0, ans, sizeof(ans));
    if (u->nfail < MAX_PRINTED)
        fprintf(
            stderr,
            "MUTATION FAILURE %s %s (%s) [%s]: %s\n  request body: %s\n  status %ld, answer: %s\n",
            u->r->method, u->r->path, u->r->pattern, what, problem, req, resp->status, ans);
    if (!u->nfail)
        snprintf(u->first, sizeof(u->first),
                 "%s %s [%s]: %s; status %ld; answer %.400s; request %.600s", u->r->method,
                 u->r->pattern, what, problem, resp->status, ans, req);
    u->nfail++;
}

/* Send one body (NULL: none) and check every promise. */
static void send(struct run *u, const char *what, const char *body, size_t len)
{
    struct route *r = u->r;
    struct th_resp resp, health;
    char ct[128], problem[256] = "", after[64];
    th_req_raw(r->method, r->path, r->token[0] ? r->token : NULL, body, len, &resp);
    long st = resp.status;
    u->nreq++;
    if (st >= 0 && st < 600)
        u->statuses[st]++;
    if (st < 0) {
        snprintf(problem, sizeof(problem), "no response (connection dropped or timed out)");
    } else if (st >= 500) {
        snprintf(problem, sizeof(problem), "a server error");
    } else if (!(st >= 200 && st < 300) && !allowed_error(st)) {
        snprintf(problem, sizeof(problem), "status outside 2xx/400/401/403/404/409/413/422/429");
    } else if (st >= 400) {
        const char *c = th_header(&resp, "Content-Type", ct, sizeof(ct));
        json_t *ps = json_object_get(resp.json, "status");
        if (!c || strcmp(c, "application/problem+json") != 0)
            snprintf(problem, sizeof(problem), "Content-Type %s, not application/problem+json",
                     c ? c : "(none)");
        else if (!json_is_object(resp.json))
            snprintf(problem, sizeof(problem), "the problem body is not a JSON object");
        else if (!json_is_integer(ps) || json_integer_value(ps) != st)
            snprintf(problem, sizeof(problem), "the problem's status is not the HTTP status");
        else if (st == 422 && !names_a_field(&resp))
            snprintf(problem, sizeof(problem), "a 422 whose errors name no field");
        else if (st == 422 && u->expect[0] && !names_path(&resp, u->expect))
            snprintf(problem, sizeof(problem), "the 422 does not name the mutated field %s",
                     u->expect);
    }
    if (problem[0])
        broke(u, what, body, len, &resp, problem);

    /* Still up? */
    if (!server_alive()) {
        broke(u, what, body, len, &resp, "the server process is gone");
        ck_abort_msg("%s %s [%s]: the server died; first failure: %s", r->method, r->pattern, what,
                     u->first);
    }
    th_req("GET", "/healthz", NULL, NULL, NULL, &health);
    if (health.status != 200) {
        broke(u, what, body, len, &resp, "/healthz did not answer 200 afterwards");
        ck_abort_msg("%s %s [%s]: /healthz answered %ld afterwards; first failure: %s", r->method,
                     r->pattern, what, health.status, u->first);
    }
    th_resp_free(&health);

    /* Nothing half-written. */
    fingerprint(u, after);
    if (st >= 200 && st < 300) {
        if (st == r->created_status && r->count_sql && strcmp(after, u->fp) == 0)
            broke(u, what, body, len, &resp,
                  "a creation left the fingerprint unchanged (test self-check)");
        u->n2xx++;
        if (st == r->created_status)
            u->ncreated++;
        if (r->refresh)
            r->refresh(r);
        fingerprint(u, u->fp);
    } else if (strcmp(after, u->fp) != 0) {
        broke(u, what, body, len, &resp, "an error answer changed stored data (half-written)");
        snprintf(u->fp, sizeof(u->fp), "%s", after);
    }
    th_resp_free(&resp);
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

    /* The creations and nothing else. */
    if (r.count_sql) {
        long count_after = th_sql_long(r.count_sql, r.arg[0] ? 1 : 0, (const char *const[]){r.arg});
        ck_assert_msg(count_after == count_before + u.ncreated,
                      "%s %s: %ld rows after, want %ld before + %d created (%ld answers)", r.method,
                      r.pattern, count_after, count_before, u.ncreated, (long)r.created_status);
    }

    char hist[512];
    int o = 0;
    for (int s = 0; s < 600; s++)
        if (u.statuses[s])
            o += snprintf(hist + o, sizeof(hist) - (size_t)o, " %d:%d", s, u.statuses[s]);
    fprintf(stderr, "mutations: %-6s %-44s %4d requests (%s ) in %.2f s, %d failing\n", r.method,
            r.pattern, u.nreq, hist, now_s() - t0, u.nfail);
    PQfinish(u.db);
    json_decref(root);
    free(valid);
    free(r.body);
    ck_assert_msg(u.nfail == 0, "%s %s: %d of %d mutated requests broke a promise; first: %s",
                  r.method, r.pattern, u.nfail, u.nreq, u.first);
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
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "mutations: %d routes in %.1f s\n", NROUTES, now_s() - t0);
    th_stop();
    return failed ? 1 : 0;
}
