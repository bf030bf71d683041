/* FHIR R4 export (GET /v1/me/export/fhir, also GET /v1/me/export?format=fhir through h_export_fhir)
 * and import (POST /v1/me/import/fhir). The mappings are in fhir.c; this file reads and writes
 * rows. */
#include "auth.h"
#include "db.h"
#include "fhir.h"
#include "handlers.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ENTRIES 50000 /* entries in one imported bundle */
#define MAX_REJECTED 100  /* reasons listed in an import's answer (all are counted) */

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define DAY(col) "to_char(" col ", 'YYYY-MM-DD')"

static void clock_now(char today[11], int *year, int64_t *now)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(today, 11, "%Y-%m-%d", &tm);
    if (year)
        *year = tm.tm_year + 1900;
    if (now)
        *now = (int64_t)t;
}

/* Column c of row i, or NULL when SQL NULL. Borrowed from r. */
static const char *col(PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
}

/* ---------------------------------------------------------------- export */

/* A CodeableConcept from codings (stolen; may be NULL or empty) and text (may be NULL). New
 * reference. */
static json_t *concept(json_t *codings, const char *text)
{
    json_t *cc = json_object();
    if (codings && json_array_size(codings))
        json_object_set_new(cc, "coding", codings);
    else
        json_decref(codings);
    if (text && *text)
        json_object_set_new(cc, "text", json_string(text));
    return cc;
}

/* [{"text": text}] for Annotation and statusReason lists, or NULL when text is empty. */
static json_t *text_list(const char *text)
{
    return text && *text ? json_pack("[{s:s}]", "text", text) : NULL;
}

static void set_opt(json_t *obj, const char *key, json_t *value)
{
    if (value)
        json_object_set_new(obj, key, value);
}

static PGresult *member_rows(struct db_conn *db, const char *name, const char *sql,
                             const char *member)
{
    const char *params[] = {member};
    return db_prep(db, name, sql, 1, params);
}

static int export_patient(struct db_conn *db, const char *member, json_t *entries)
{
    PGresult *r = member_rows(
        db, "fhir_x_profile",
        "SELECT birth_year, sex_at_birth FROM member_profile WHERE member_id = $1", member);
    if (!r)
        return -1;
    json_t *p = json_pack("{s:s, s:s}", "resourceType", "Patient", "id", member);
    if (PQntuples(r) == 1) {
        /* The year only, and no name or address: the member's identity stays with the account. */
        if (col(r, 0, 1))
            json_object_set_new(p, "gender", json_string(fhir_gender(col(r, 0, 1))));
        if (col(r, 0, 0)) {
            char year[8];
            snprintf(year, sizeof(year), "%04d", atoi(col(r, 0, 0)));
            json_object_set_new(p, "birthDate", json_string(year));
        }
    }
    PQclear(r);
    return fhir_entry_add(entries, member, p);
}

static int export_conditions(struct db_conn *db, const char *member, json_t *entries)
{
    static const char *sql =
        "SELECT mc.id, cc.name, array_to_json(cc.icd10), cc.snomed, ci.name, mc.diagnosed_on, " DAY(
            "mc.diagnosed_date") ", mc.status, mc.note "
                                 "FROM member_condition mc "
                                 "LEFT JOIN catalog_condition cc ON cc.id = mc.condition_id "
                                 "LEFT JOIN custom_item ci ON ci.member_id = mc.member_id AND "
                                 "ci.id = mc.custom_id "
                                 "WHERE mc.member_id = $1 ORDER BY mc.diagnosed_date, mc.id";
    PGresult *r = member_rows(db, "fhir_x_conditions", sql, member);
    int rc = -1;
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *codings = json_array(),
               *icd = col(r, i, 2) ? json_loads(col(r, i, 2), 0, NULL) : NULL;
        json_t *code;
        size_t k;
        json_array_foreach(icd, k, code) if (json_is_string(code)) json_array_append_new(
            codings, fhir_coding(FHIR_SYS_ICD10, json_string_value(code), col(r, i, 1)));
        json_decref(icd);
        if (col(r, i, 3))
            json_array_append_new(codings,
                                  fhir_coding(FHIR_SYS_SNOMED, col(r, i, 3), col(r, i, 1)));
        json_t *c = json_pack(
            "{s:s, s:s, s:{s:[{s:s, s:s}]}, s:[{s:[{s:s, s:s}]}], s:o, s:o, s:s}", "resourceType",
            "Condition", "id", PQgetvalue(r, i, 0), "clinicalStatus", "coding", "system",
            FHIR_SYS_CLINICAL, "code", PQgetvalue(r, i, 7), "category", "coding", "system",
            "http://terminology.hl7.org/CodeSystem/condition-category", "code", "problem-list-item",
            "code", concept(codings, col(r, i, 1) ? col(r, i, 1) : col(r, i, 4)), "subject",
            fhir_ref(member), "onsetDateTime", col(r, i, 5) ? col(r, i, 5) : PQgetvalue(r, i, 6));
        if (c)
            set_opt(c, "note", text_list(col(r, i, 8)));
        if (fhir_entry_add(entries, PQgetvalue(r, i, 0), c) < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

static json_t *dosage(PGresult *r, int i)
{
    const char *amount = col(r, i, 5), *unit = col(r, i, 6), *kind = PQgetvalue(r, i, 7);
    int n = col(r, i, 8) ? atoi(col(r, i, 8)) : 0;
    char text[160], freq[64];
    json_t *d = json_object();

    if (strcmp(kind, "times_per_day") == 0) {
        snprintf(freq, sizeof(freq), "%d %s per day", n, n == 1 ? "time" : "times");
        json_object_set_new(d, "timing",
                            json_pack("{s:{s:i, s:i, s:s}}", "repeat", "frequency", n, "period", 1,
                                      "periodUnit", "d"));
    } else if (strcmp(kind, "every_n_days") == 0) {
        snprintf(freq, sizeof(freq), "every %d days", n);
        json_object_set_new(d, "timing",
                            json_pack("{s:{s:i, s:i, s:s}}", "repeat", "frequency", 1, "period", n,
                                      "periodUnit", "d"));
    } else {
        snprintf(freq, sizeof(freq), "as needed");
        json_object_set_new(d, "asNeededBoolean", json_true());
    }
    json_t *value = amount && unit ? fhir_number(amount) : NULL;
    if (value) {
        json_t *q = json_pack("{s:o, s:s}", "value", value, "unit", unit);
        const char *ucum = fhir_ucum(unit);
        if (q && ucum) {
            json_object_set_new(q, "system", json_string(FHIR_SYS_UCUM));
            json_object_set_new(q, "code", json_string(ucum));
        }
        json_object_set_new(d, "doseAndRate", json_pack("[{s:o}]", "doseQuantity", q));
        snprintf(text, sizeof(text), "%s %s, %s", amount, unit, freq);
    } else {
        snprintf(text, sizeof(text), "%s", freq);
    }
    json_object_set_new(d, "text", json_string(text));
    return d;
}

static int export_medications(struct db_conn *db, const char *member, const char *today,
                              json_t *entries)
{
    static const char *sql =
        "SELECT m.id, cm.name, cm.rxnorm, ci.name, NULL, m.dose_amount::text, m.dose_unit, "
        "m.freq_kind, "
        "m.freq_value, " DAY("m.started_on") ", " DAY(
            "m.stopped_on") ", m.stop_reason, "
                            "(SELECT mc.id FROM member_condition mc WHERE mc.member_id = "
                            "m.member_id "
                            "AND mc.id = m.for_condition), m.note "
                            "FROM medication m "
                            "LEFT JOIN catalog_medication cm ON cm.id = m.medication_id "
                            "LEFT JOIN custom_item ci ON ci.member_id = m.member_id AND ci.id = "
                            "m.custom_id "
                            "WHERE m.member_id = $1 ORDER BY m.started_on, m.id";
    PGresult *r = member_rows(db, "fhir_x_medications", sql, member);
    int rc = -1;
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *stopped = col(r, i, 10), *reason = col(r, i, 11);
        const char *status = fhir_medication_status(stopped, reason, today);
        json_t *codings = json_array();
        if (col(r, i, 2))
            json_array_append_new(codings,
                                  fhir_coding(FHIR_SYS_RXNORM, col(r, i, 2), col(r, i, 1)));
        json_t *period = json_pack("{s:s}", "start", PQgetvalue(r, i, 9));
        if (period && stopped)
            json_object_set_new(period, "end", json_string(stopped));
        json_t *m = json_pack(
            "{s:s, s:s, s:s, s:o, s:o, s:o, s:[o]}", "resourceType", "MedicationStatement", "id",
            PQgetvalue(r, i, 0), "status", status, "medicationCodeableConcept",
            concept(codings, col(r, i, 1) ? col(r, i, 1) : col(r, i, 3)), "subject",
            fhir_ref(member), "effectivePeriod", period, "dosage", dosage(r, i));
        /* The reason as our code, so an import of this bundle can restore it. */
        if (m && strcmp(status, "active") != 0)
            set_opt(m, "statusReason", text_list(reason));
        if (m && col(r, i, 12))
            json_object_set_new(m, "reasonReference", json_pack("[o]", fhir_ref(col(r, i, 12))));
        if (m)
            set_opt(m, "note", text_list(col(r, i, 13)));
        if (fhir_entry_add(entries, PQgetvalue(r, i, 0), m) < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

static int export_symptoms(struct db_conn *db, const char *member, json_t *entries)
{
    static const char *sql = "SELECT s.id, cs.name, cs.snomed, ci.name, s.severity, " TS(
        "s.recorded_at") ", "
                         "s.note "
                         "FROM symptom_entry s "
                         "LEFT JOIN catalog_symptom cs ON cs.id = s.symptom_id "
                         "LEFT JOIN custom_item ci ON ci.member_id = s.member_id AND ci.id = "
                         "s.custom_id "
                         "WHERE s.member_id = $1 ORDER BY s.recorded_at, s.id";
    PGresult *r = member_rows(db, "fhir_x_symptoms", sql, member);
    int rc = -1;
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        char at[40];
        json_t *codings = json_array();
        snprintf(at, sizeof(at), "%s", PQgetvalue(r, i, 5));
        fhir_trim_fraction(at);
        if (col(r, i, 2))
            json_array_append_new(codings,
                                  fhir_coding(FHIR_SYS_SNOMED, col(r, i, 2), col(r, i, 1)));
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:[{s:[{s:s, s:s, s:s}]}], s:o, s:o, s:s, s:i}", "resourceType",
            "Observation", "id", PQgetvalue(r, i, 0), "status", "final", "category", "coding",
            "system", FHIR_SYS_OBS_CATEGORY, "code", "survey", "display", "Survey", "code",
            concept(codings, col(r, i, 1) ? col(r, i, 1) : col(r, i, 3)), "subject",
            fhir_ref(member), "effectiveDateTime", at, "valueInteger", atoi(PQgetvalue(r, i, 4)));
        if (o)
            set_opt(o, "note", text_list(col(r, i, 6)));
        if (fhir_entry_add(entries, PQgetvalue(r, i, 0), o) < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

/* Goals, then each progress point as an Observation that the goal lists in outcomeReference. */
static int export_goals(struct db_conn *db, const char *member, json_t *entries)
{
    static const char *goals_sql =
        "SELECT g.id, g.title, cs.snomed, cs.name, "
        "(SELECT m.id FROM medication m WHERE m.member_id = g.member_id AND m.id = "
        "g.medication_ref), "
        "g.target_value::text, " DAY(
            "g.due_on") ", g.status "
                        "FROM goal g LEFT JOIN catalog_symptom cs ON cs.id = g.symptom_id "
                        "WHERE g.member_id = $1 ORDER BY g.created_at, g.id";
    static const char *progress_sql = "SELECT p.id, p.goal_ref, p.value::text, " TS(
        "p.recorded_at") ", p.note, g.title "
                         "FROM goal_progress p JOIN goal g ON g.member_id = p.member_id AND g.id = "
                         "p.goal_ref "
                         "WHERE p.member_id = $1 ORDER BY p.goal_ref, p.recorded_at, p.id";
    PGresult *r = member_rows(db, "fhir_x_goals", goals_sql, member), *p = NULL;
    json_t *byid = json_object();
    int rc = -1;
    if (!r || !byid)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *status = PQgetvalue(r, i, 7);
        json_t *target = json_object(), *value = fhir_number(PQgetvalue(r, i, 5));
        if (col(r, i, 2))
            json_object_set_new(
                target, "measure",
                concept(json_pack("[o]", fhir_coding(FHIR_SYS_SNOMED, col(r, i, 2), col(r, i, 3))),
                        col(r, i, 3)));
        if (value)
            json_object_set_new(target, "detailQuantity", json_pack("{s:o}", "value", value));
        if (col(r, i, 6))
            json_object_set_new(target, "dueDate", json_string(col(r, i, 6)));
        json_t *g = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o, s:[o]}", "resourceType", "Goal", "id",
                              PQgetvalue(r, i, 0), "lifecycleStatus", fhir_goal_lifecycle(status),
                              "description", "text", PQgetvalue(r, i, 1), "subject",
                              fhir_ref(member), "target", target);
        if (g && strcmp(status, "achieved") == 0)
            json_object_set_new(g, "achievementStatus",
                                json_pack("{s:[{s:s, s:s}]}", "coding", "system",
                                          FHIR_SYS_GOAL_ACHIEVEMENT, "code", "achieved"));
        if (g && col(r, i, 4))
            json_object_set_new(g, "addresses", json_pack("[o]", fhir_ref(col(r, i, 4))));
        if (g)
            json_object_set(byid, PQgetvalue(r, i, 0), g);
        if (fhir_entry_add(entries, PQgetvalue(r, i, 0), g) < 0)
            goto out;
    }
    if (!(p = member_rows(db, "fhir_x_progress", progress_sql, member)))
        goto out;
    for (int i = 0; i < PQntuples(p); i++) {
        char at[40];
        json_t *value = fhir_number(PQgetvalue(p, i, 2));
        snprintf(at, sizeof(at), "%s", PQgetvalue(p, i, 3));
        fhir_trim_fraction(at);
        if (!value)
            continue; /* a numeric too large for a JSON number */
        json_t *o = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o, s:[o], s:s, s:{s:o}}", "resourceType",
                              "Observation", "id", PQgetvalue(p, i, 0), "status", "final", "code",
                              "text", PQgetvalue(p, i, 5), "subject", fhir_ref(member), "focus",
                              fhir_ref(PQgetvalue(p, i, 1)), "effectiveDateTime", at,
                              "valueQuantity", "value", value);
        if (o)
            set_opt(o, "note", text_list(col(p, i, 4)));
        json_t *goal = json_object_get(byid, PQgetvalue(p, i, 1));
        json_t *outcomes = json_object_get(goal, "outcomeReference");
        if (goal && !outcomes)
            json_object_set_new(goal, "outcomeReference", outcomes = json_array());
        json_array_append_new(outcomes, fhir_ref(PQgetvalue(p, i, 0)));
        if (fhir_entry_add(entries, PQgetvalue(p, i, 0), o) < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    PQclear(p);
    json_decref(byid);
    return rc;
}

void h_export_fhir(struct svc_req *req, struct svc_resp *resp)
{
    char today[11], stamp[32];
    bool own_tx = false;
    json_t *entries = json_array(), *bundle = NULL;
    time_t t = time(NULL);
    struct tm tm;

    clock_now(today, NULL, NULL);
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* One snapshot for every table, unless the caller already runs a transaction. */
    if (PQtransactionStatus(db_pg(req->db)) == PQTRANS_IDLE) {
        if (db_cmd(req->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        own_tx = true;
    }
    const char *me = req->who.account_id;
    if (!entries || export_patient(req->db, me, entries) < 0 ||
        export_conditions(req->db, me, entries) < 0 ||
        export_medications(req->db, me, today, entries) < 0 ||
        export_symptoms(req->db, me, entries) < 0 || export_goals(req->db, me, entries) < 0) {
        svc_problem_db(resp, req->db);
        goto out;
    }
    bundle = json_pack("{s:s, s:s, s:s, s:O}", "resourceType", "Bundle", "type", "collection",
                       "timestamp", stamp, "entry", entries);
    if (!bundle)
        goto out;
    svc_json(resp, 200, bundle);
    resp->content_type = "application/fhir+json";
out:
    if (own_tx)
        db_cmd(req->db, "ROLLBACK"); /* read only: nothing to keep */
    json_decref(entries);
}

/* ---------------------------------------------------------------- import */

struct import {
    struct db_conn *db;
    const char *member;
    json_t *index; /* fullUrl and "Type/id" -> resource */
    json_t *imported, *skipped, *duplicates, *rejected;
    char today[11];
    int year;
    int64_t now;
};

static void count(json_t *counts, const char *type)
{
    json_object_set_new(counts, type,
                        json_integer(json_integer_value(json_object_get(counts, type)) + 1));
}

static void reject(struct import *im, size_t entry, const char *type, const char *reason)
{
    count(im->skipped, type);
    if (json_array_size(im->rejected) < MAX_REJECTED)
        json_array_append_new(im->rejected, json_pack("{s:I, s:s, s:s}", "entry", (json_int_t)entry,
                                                      "resourceType", type, "reason", reason));
}

/* The import key: "Type/id" when the resource has a FHIR id, else the SHA-256 of its canonical JSON
 * (sorted keys, compact). Returns 0 or -1. */
static int source_key(const json_t *res, const char *type, char out[160])
{
    const char *id = fhir_str(res, "id", 64);
    if (fhir_is_id(id)) {
        snprintf(out, 160, "%s/%s", type, id);
        return 0;
    }
    char *text = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -1;
    svc_sha256_hex(text, strlen(text), out);
    free(text);
    return 0;
}

/* Is type a plausible resourceType (letters only)? */
static bool type_name(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')))
            return false;
    return true;
}

/* The first row's first column into out (NUL when no row). Returns 0, or -1 on database failure. */
static int lookup(struct db_conn *db, const char *name, const char *sql, int n,
                  const char *const *params, char out[SVC_ID_LEN * 2])
{
    PGresult *r = db_prep(db, name, sql, n, params);
    if (!r)
        return -1;
    out[0] = '\0';
    if (PQntuples(r) > 0)
        snprintf(out, SVC_ID_LEN * 2, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* Claim key for this member. 1: claimed, *target gets the new row's id (given, or a new uuid);
 * 0: imported before; -1: database failure. */
static int claim(struct import *im, const char *key, const char *type, const char *given,
                 char target[SVC_ID_LEN])
{
    const char *params[] = {im->member, key, type, given};
    PGresult *r = db_prep(im->db, "fhir_i_claim",
                          "INSERT INTO fhir_import (member_id, source_key, resource, target_id) "
                          "VALUES ($1, $2, $3, coalesce($4::uuid, gen_random_uuid())) "
                          "ON CONFLICT DO NOTHING RETURNING target_id",
                          4, params);
    if (!r)
        return -1;
    int rc = PQntuples(r) == 1;
    if (rc)
        snprintf(target, SVC_ID_LEN, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* The member's custom item of kind named name (found case-insensitively, else created). */
static int custom_item(struct import *im, const char *kind, const char *name,
                       char out[SVC_ID_LEN * 2])
{
    const char *params[] = {im->member, kind, name};
    return lookup(
        im->db, "fhir_i_custom",
        "WITH ins AS (INSERT INTO custom_item (member_id, kind, name) VALUES ($1, $2, $3) "
        "ON CONFLICT (member_id, kind, lower(name)) DO NOTHING RETURNING id) "
        "SELECT id FROM ins UNION ALL SELECT id FROM custom_item "
        "WHERE member_id = $1 AND kind = $2 AND lower(name) = lower($3) LIMIT 1",
        3, params, out);
}

/* A custom item's name: the concept's text, else its first code. */
static void custom_name(const struct fhir_codes *c, char *out, size_t len)
{
    if (c->text[0])
        snprintf(out, len, "%s", c->text);
    else if (c->n_icd10)
        snprintf(out, len, "ICD-10 %s", c->icd10[0]);
    else if (c->n_snomed)
        snprintf(out, len, "SNOMED CT %s", c->snomed[0]);
    else if (c->n_rxnorm)
        snprintf(out, len, "RxNorm %s", c->rxnorm[0]);
    else
        out[0] = '\0';
}

enum { DONE = 0, FAILED = -1, REFUSED = -2 };

/* A write inside a resource's savepoint: a refusal by a constraint (class 22 or 23) only skips that
 * resource; anything else fails the import. */
static int write_rc(struct import *im, PGresult *r)
{
    if (r) {
        PQclear(r);
        return DONE;
    }
    const char *st = db_sqlstate(im->db);
    return strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 ? REFUSED : FAILED;
}

static int insert_patient(struct import *im, const struct fhir_patient *p)
{
    char year[8];
    snprintf(year, sizeof(year), "%d", p->birth_year);
    const char *params[] = {im->member, p->birth_year ? year : NULL, p->sex_at_birth};
    /* Only the fields FHIR gave; the rest of the profile stays. */
    return write_rc(
        im, db_prep(im->db, "fhir_i_profile",
                    "INSERT INTO member_profile (member_id, birth_year, sex_at_birth) "
                    "VALUES ($1, $2::int, $3) ON CONFLICT (member_id) DO UPDATE SET "
                    "birth_year = coalesce(EXCLUDED.birth_year, member_profile.birth_year), "
                    "sex_at_birth = coalesce(EXCLUDED.sex_at_birth, member_profile.sex_at_birth)",
                    3, params));
}

static int condition_catalog(struct import *im, const struct fhir_codes *c, char id[SVC_ID_LEN * 2])
{
    char arr[FHIR_ARRAY_MAX];
    id[0] = '\0';
    if (c->n_icd10 && fhir_array_literal(c->icd10[0], c->n_icd10, sizeof(c->icd10[0]), arr) == 0) {
        const char *params[] = {arr};
        /* Most specific code first: the candidates are in that order. */
        if (lookup(
                im->db, "fhir_i_cond_icd",
                "SELECT c.id FROM catalog_condition c CROSS JOIN LATERAL unnest(c.icd10) AS code "
                "WHERE code = ANY($1::text[]) ORDER BY array_position($1::text[], code), c.id "
                "LIMIT 1",
                1, params, id) < 0)
            return -1;
    }
    if (!id[0] && c->n_snomed &&
        fhir_array_literal(c->snomed[0], c->n_snomed, sizeof(c->snomed[0]), arr) == 0) {
        const char *params[] = {arr};
        if (lookup(im->db, "fhir_i_cond_snomed",
                   "SELECT id FROM catalog_condition WHERE snomed = ANY($1::text[]) "
                   "ORDER BY array_position($1::text[], snomed), id LIMIT 1",
                   1, params, id) < 0)
            return -1;
    }
    return 0;
}

/* Parse and look up: fills *c and catalog (or name for a custom item). */
static int prepare_condition(struct import *im, const json_t *res, struct fhir_condition *c,
                             char catalog[SVC_ID_LEN * 2], char *name, size_t namelen,
                             const char **reason)
{
    if (fhir_condition_parse(res, im->today, c, reason) < 0)
        return REFUSED;
    if (condition_catalog(im, &c->code, catalog) < 0)
        return FAILED;
    custom_name(&c->code, name, namelen);
    return DONE;
}

static int insert_condition(struct import *im, const char *target, const struct fhir_condition *c,
                            const char *catalog, const char *name)
{
    char custom[SVC_ID_LEN * 2] = "";
    if (!catalog[0] && custom_item(im, "condition", name, custom) < 0)
        return write_rc(im, NULL);
    const char *params[] = {im->member,
                            target,
                            catalog[0] ? catalog : NULL,
                            custom[0] ? custom : NULL,
                            c->diagnosed_on,
                            c->diagnosed_date,
                            c->status};
    return write_rc(im,
                    db_prep(im->db, "fhir_i_condition",
                            "INSERT INTO member_condition (member_id, id, condition_id, custom_id, "
                            "diagnosed_on, diagnosed_date, status) "
                            "VALUES ($1, $2, $3, $4, $5, $6::date, $7)",
                            7, params));
}

/* The member's condition that ref names: a Condition in this bundle or "Condition/<id>" imported
 * before. */
static int reason_condition(struct import *im, const char *ref, char out[SVC_ID_LEN * 2])
{
    char key[160];
    const json_t *target = ref ? json_object_get(im->index, ref) : NULL;
    out[0] = '\0';
    if (target) {
        const char *type = fhir_str(target, "resourceType", 64);
        if (!type || strcmp(type, "Condition") != 0 || source_key(target, type, key) < 0)
            return 0;
    } else if (ref && strncmp(ref, "Condition/", 10) == 0 && fhir_is_id(ref + 10)) {
        snprintf(key, sizeof(key), "%s", ref);
    } else {
        return 0;
    }
    const char *params[] = {im->member, key};
    return lookup(im->db, "fhir_i_reason",
                  "SELECT f.target_id FROM fhir_import f JOIN member_condition mc "
                  "ON mc.member_id = f.member_id AND mc.id = f.target_id "
                  "WHERE f.member_id = $1 AND f.source_key = $2",
                  2, params, out);
}

static int prepare_medication(struct import *im, const json_t *res, bool request,
                              struct fhir_medication *m, char catalog[SVC_ID_LEN * 2], char *name,
                              size_t namelen, const char **reason)
{
    const char *ref = fhir_reference(res, "medicationReference");
    const json_t *med = ref && ref[0] != '#' ? json_object_get(im->index, ref) : NULL;
    char arr[FHIR_ARRAY_MAX];
    if (fhir_medication_parse(res, request, med, m, reason) < 0)
        return REFUSED;
    catalog[0] = '\0';
    if (m->code.n_rxnorm && fhir_array_literal(m->code.rxnorm[0], m->code.n_rxnorm,
                                               sizeof(m->code.rxnorm[0]), arr) == 0) {
        const char *params[] = {arr};
        if (lookup(im->db, "fhir_i_med_rxnorm",
                   "SELECT id FROM catalog_medication WHERE rxnorm = ANY($1::text[]) "
                   "ORDER BY array_position($1::text[], rxnorm), id LIMIT 1",
                   1, params, catalog) < 0)
            return FAILED;
    }
    custom_name(&m->code, name, namelen);
    return DONE;
}

static int insert_medication(struct import *im, const char *target, const struct fhir_medication *m,
                             const char *catalog, const char *name)
{
    char custom[SVC_ID_LEN * 2] = "", reason[SVC_ID_LEN * 2], freq[16];
    if (!catalog[0] && custom_item(im, "medication", name, custom) < 0)
        return write_rc(im, NULL);
    if (reason_condition(im, m->reason_ref, reason) < 0)
        return write_rc(im, NULL);
    snprintf(freq, sizeof(freq), "%d", m->freq_value);
    const char *params[] = {im->member,
                            target,
                            catalog[0] ? catalog : NULL,
                            custom[0] ? custom : NULL,
                            m->dose_unit ? m->dose_amount : NULL,
                            m->dose_unit,
                            m->freq_kind,
                            m->freq_value ? freq : NULL,
                            m->started_on,
                            m->stopped_on[0] ? m->stopped_on : NULL,
                            reason[0] ? reason : NULL,
                            m->stop_reason};
    return write_rc(
        im, db_prep(im->db, "fhir_i_medication",
                    "INSERT INTO medication (member_id, id, medication_id, custom_id, "
                    "dose_amount, dose_unit, freq_kind, freq_value, started_on, stopped_on, "
                    "for_condition, stop_reason) VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, "
                    "$8::int, $9::date, $10::date, $11::uuid, $12)",
                    12, params));
}

/* 1 when the Observation's SNOMED code is a catalog symptom (its id in symptom), 0 when not, -1 on
 * database failure. */
static int observation_symptom(struct import *im, const json_t *res, char symptom[SVC_ID_LEN * 2])
{
    struct fhir_codes c;
    char arr[FHIR_ARRAY_MAX];
    fhir_codes_parse(json_object_get(res, "code"), &c);
    if (!c.n_snomed || fhir_array_literal(c.snomed[0], c.n_snomed, sizeof(c.snomed[0]), arr) < 0)
        return 0;
    const char *params[] = {arr};
    if (lookup(im->db, "fhir_i_symptom",
               "SELECT id FROM catalog_symptom WHERE snomed = ANY($1::text[]) "
               "ORDER BY array_position($1::text[], snomed), id LIMIT 1",
               1, params, symptom) < 0)
        return -1;
    return symptom[0] != '\0';
}

static int insert_observation(struct import *im, const char *target,
                              const struct fhir_observation *o, const char *symptom)
{
    char sev[8];
    snprintf(sev, sizeof(sev), "%d", o->severity);
    const char *params[] = {im->member, target, symptom, sev, o->recorded_at};
    return write_rc(
        im, db_prep(im->db, "fhir_i_observation",
                    "INSERT INTO symptom_entry (member_id, id, symptom_id, severity, recorded_at) "
                    "VALUES ($1, $2, $3, $4::smallint, $5::timestamptz)",
                    5, params));
}

/* One resource of a supported type. Returns DONE (counted), or FAILED (the import fails). */
static int import_one(struct import *im, size_t entry, const json_t *res, const char *type)
{
    union {
        struct fhir_patient p;
        struct fhir_condition c;
        struct fhir_medication m;
        struct fhir_observation o;
    } u;
    char catalog[SVC_ID_LEN * 2] = "", name[FHIR_NAME_MAX * 4 + 32] = "", key[160],
                              target[SVC_ID_LEN];
    const char *reason = NULL;
    int rc = DONE;
    bool patient = strcmp(type, "Patient") == 0, condition = strcmp(type, "Condition") == 0;
    bool request = strcmp(type, "MedicationRequest") == 0;
    bool medication = request || strcmp(type, "MedicationStatement") == 0;

    /* Everything that reads only comes first, outside the savepoint. */
    if (patient) {
        if (fhir_patient_parse(res, im->year, &u.p, &reason) < 0)
            rc = REFUSED;
    } else if (condition) {
        rc = prepare_condition(im, res, &u.c, catalog, name, sizeof(name), &reason);
    } else if (medication) {
        rc = prepare_medication(im, res, request, &u.m, catalog, name, sizeof(name), &reason);
    } else {
        int found = observation_symptom(im, res, catalog);
        if (found <= 0) {
            if (found == 0)
                count(im->skipped, type); /* not a symptom: unsupported, like an Encounter */
            return found < 0 ? FAILED : DONE;
        }
        if (fhir_observation_parse(res, im->now, &u.o, &reason) < 0)
            rc = REFUSED;
    }
    if (rc == REFUSED)
        goto refused;
    if (rc == FAILED)
        return FAILED;
    if (source_key(res, type, key) < 0)
        return FAILED;

    if (db_cmd(im->db, "SAVEPOINT fhir_resource") < 0)
        return FAILED;
    int claimed = claim(im, key, type, patient ? im->member : NULL, target);
    if (claimed < 0)
        return FAILED;
    if (claimed == 0) {
        count(im->duplicates, type);
        return db_cmd(im->db, "RELEASE SAVEPOINT fhir_resource") < 0 ? FAILED : DONE;
    }
    if (patient)
        rc = insert_patient(im, &u.p);
    else if (condition)
        rc = insert_condition(im, target, &u.c, catalog, name);
    else if (medication)
        rc = insert_medication(im, target, &u.m, catalog, name);
    else
        rc = insert_observation(im, target, &u.o, catalog);
    if (rc == FAILED)
        return FAILED;
    if (rc == REFUSED && db_cmd(im->db, "ROLLBACK TO SAVEPOINT fhir_resource") < 0)
        return FAILED;
    if (db_cmd(im->db, "RELEASE SAVEPOINT fhir_resource") < 0)
        return FAILED;
    if (rc == DONE) {
        count(im->imported, type);
        return DONE;
    }
    if (!reason)
        reason = "refused by a database constraint";
refused:
    reject(im, entry, type, reason);
    return DONE;
}

/* Which pass imports a type: Patient first, Conditions next (medications refer to them), then the
 * rest
 * (-1: counted as skipped in the last pass). */
static int pass_of(const char *type)
{
    if (strcmp(type, "Patient") == 0)
        return 0;
    if (strcmp(type, "Condition") == 0)
        return 1;
    if (strcmp(type, "MedicationStatement") == 0 || strcmp(type, "MedicationRequest") == 0 ||
        strcmp(type, "Observation") == 0)
        return 2;
    return -1;
}

static void index_bundle(struct import *im, const json_t *entries)
{
    json_t *e;
    size_t i;
    json_array_foreach(entries, i, e)
    {
        json_t *res = json_object_get(e, "resource");
        const char *url = fhir_str(e, "fullUrl", 1024);
        const char *type = fhir_str(res, "resourceType", 64), *id = fhir_str(res, "id", 64);
        if (!json_is_object(res))
            continue;
        if (url)
            json_object_set(im->index, url, res);
        if (type_name(type) && fhir_is_id(id)) {
            char ref[160];
            snprintf(ref, sizeof(ref), "%s/%s", type, id);
            json_object_set(im->index, ref, res);
        }
    }
}

void h_import_fhir(struct svc_req *req, struct svc_resp *resp)
{
    static const char *const types[] = {"collection", "transaction", "batch",
                                        "searchset",  "document",    NULL};
    struct import im = {.db = req->db, .member = req->who.account_id};
    const json_t *entries;
    const char *rt = fhir_str(req->body, "resourceType", 64),
               *btype = fhir_str(req->body, "type", 64);
    size_t k;

    if (!rt || strcmp(rt, "Bundle") != 0) {
        svc_problem_field(resp, 422, "resourceType", "must be \"Bundle\"");
        goto out;
    }
    for (k = 0; btype && types[k] && strcmp(btype, types[k]) != 0; k++)
        ;
    if (!btype || !types[k]) {
        svc_problem_field(resp, 422, "type",
                          "must be collection, transaction, batch, searchset or document");
        goto out;
    }
    entries = json_object_get(req->body, "entry");
    if (entries && !json_is_array(entries)) {
        svc_problem_field(resp, 422, "entry", "must be an array");
        goto out;
    }
    if (json_array_size(entries) > MAX_ENTRIES) {
        svc_problem_field(resp, 422, "entry", "has more than 50000 entries");
        goto out;
    }
    im.index = json_object();
    im.imported = json_object();
    im.skipped = json_object();
    im.duplicates = json_object();
    im.rejected = json_array();
    if (!im.index || !im.imported || !im.skipped || !im.duplicates || !im.rejected)
        goto out;
    clock_now(im.today, &im.year, &im.now);
    index_bundle(&im, entries);

    for (int pass = 0; pass < 3; pass++) {
        json_t *e;
        size_t i;
        json_array_foreach(entries, i, e)
        {
            const json_t *res = json_object_get(e, "resource");
            const char *type = fhir_str(res, "resourceType", 64);
            const char *method = fhir_str(json_object_get(e, "request"), "method", 16);
            bool known = json_is_object(res) && type_name(type);
            int p = known ? pass_of(type) : -1;
            if (p != pass && !(p < 0 && pass == 2))
                continue;
            if (!known) {
                reject(&im, i, "unknown", "entry has no resource with a resourceType");
            } else if (method && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0) {
                reject(&im, i, type, "request method is not POST or PUT");
            } else if (p < 0) {
                count(im.skipped, type);
            } else if (import_one(&im, i, res, type) == FAILED) {
                svc_problem_db(resp, req->db);
                goto out;
            }
        }
    }
    svc_json(resp, 200,
             json_pack("{s:O, s:O, s:O, s:O}", "imported", im.imported, "skipped", im.skipped,
                       "duplicates", im.duplicates, "rejected", im.rejected));
out:
    json_decref(im.index);
    json_decref(im.imported);
    json_decref(im.skipped);
    json_decref(im.duplicates);
    json_decref(im.rejected);
}
