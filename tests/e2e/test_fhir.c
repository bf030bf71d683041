/* End-to-end: FHIR R4 export (validated against the official R4 JSON schema with a real validator)
 * and import of hand-written bundles (tests/fhir/): catalog matching by ICD-10, SNOMED and
 * RxNorm, custom items, skipped and rejected resources with exact counts, duplicates on re-import,
 * transaction bundles, and the limits. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SNOMED "http://snomed.info/sct"
#define ICD10 "http://hl7.org/fhir/sid/icd-10"
#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define UCUM "http://unitsofmeasure.org"

/* ---- helpers ---- */

/* The value at a dotted path ("code.coding.0.system"; numbers index arrays), or NULL. Borrowed. */
static json_t *at(json_t *root, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = strtok_r(buf, ".", &save); p && root; p = strtok_r(NULL, ".", &save)) {
        if (json_is_array(root))
            root = json_array_get(root, strtoul(p, NULL, 10));
        else
            root = json_object_get(root, p);
    }
    return root;
}

/* The string at path, or "(missing)" so that comparisons fail with a readable message. */
static const char *s_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    return json_is_string(v) ? json_string_value(v) : "(missing)";
}

static long long i_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

static double n_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    ck_assert_msg(json_is_number(v), "%s is not a number", path);
    return json_number_value(v);
}

/* Run SQL as superuser; the first value of the first row as a new string ("" when none). */
static char *sql1(const char *sql, int n, const char *const *params)
{
    PGconn *c = th_db();
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    char *v =
        strdup(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return v;
}

/* All rows of a query as one string: fields joined by '|', rows by '\n' (new string). */
static char *rows(const char *sql, int n, const char *const *params)
{
    PGconn *c = th_db();
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++)
        for (int j = 0; j < PQnfields(r); j++) {
            const char *v = PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
            while (len + strlen(v) + 2 >= cap)
                out = realloc(out, cap *= 2);
            len += (size_t)sprintf(out + len, "%s%c", v, j + 1 == PQnfields(r) ? '\n' : '|');
        }
    PQclear(r);
    PQfinish(c);
    return out;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void write_json(const char *path, json_t *doc)
{
    ck_assert_int_eq(json_dump_file(doc, path, JSON_INDENT(1)), 0);
}

/* Validate file with tests/fhir/validate.py against the shared FHIR R4 schema: its exit status; its
 * messages into out. */
static int validate(const char *file, char *out, size_t outlen)
{
    char schema[1024], cmd[4096];
    struct stat st;
    snprintf(schema, sizeof(schema), "%s/fhir/fhir.schema.json", th_shared_data());
    ck_assert_msg(stat(schema, &st) == 0 && S_ISREG(st.st_mode),
                  "the FHIR R4 schema is missing: expected %s (shared/data beside the repository)",
                  schema);
    snprintf(cmd, sizeof(cmd), CC_PYTHON3 " '%s/tests/fhir/validate.py' --schema '%s' '%s' 2>&1",
             CC_SOURCE_DIR, schema, file);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *by_id(json_t *bundle, const char *id)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(bundle, "entry"), i, e)
    {
        json_t *res = json_object_get(e, "resource");
        if (strcmp(s_at(res, "id"), id) == 0)
            return res;
    }
    ck_abort_msg("no resource with id %s in the bundle", id);
    return NULL;
}

static void import_file(const char *token, const char *name, struct th_resp *r)
{
    char path[1024];
    size_t len;
    snprintf(path, sizeof(path), "%s/tests/fhir/%s", CC_SOURCE_DIR, name);
    char *body = slurp(path, &len);
    th_req_raw("POST", "/v1/me/import/fhir", token, body, len, r);
    free(body);
}

/* The counts object at key of an import answer, compared with want ("Type=n,..." sorted by type).
 */
static void assert_counts(const struct th_resp *r, const char *key, const char *want)
{
    json_t *obj = json_object_get(r->json, key);
    ck_assert_msg(json_is_object(obj), "no %s in %s", key, r->body);
    const char *k;
    json_t *v;
    char got[1024] = "";
    /* jansson keeps insertion order; sort by building in key order. */
    const char **keys = calloc(json_object_size(obj) + 1, sizeof(*keys));
    size_t n = 0;
    json_object_foreach(obj, k, v) keys[n++] = k;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(keys[j], keys[i]) < 0) {
                const char *t = keys[i];
                keys[i] = keys[j];
                keys[j] = t;
            }
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(json_is_integer(json_object_get(obj, keys[i])), "%s.%s is not an integer",
                      key, keys[i]);
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%lld", i ? "," : "", keys[i],
                 (long long)json_integer_value(json_object_get(obj, keys[i])));
    }
    free(keys);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", key, got, want);
}

/* ---- a member with every kind of data (as superuser SQL, with fixed ids) ---- */

struct member {
    char token[64], id[37];
    char diabetes[37], custom_cond[37], depression[37];
    char metformin[37], tea[37], ibuprofen[37];
    char fatigue[37], buzzing[37];
    char goal1[37], goal2[37], prog1[37], prog2[37];
};

static void uuid(char out[37])
{
    char *u = sql1("SELECT gen_random_uuid()", 0, NULL);
    snprintf(out, 37, "%s", u);
    free(u);
}

static void make_member(struct member *m)
{
    th_account("member", m->token, m->id);
    char tea_item[37], cond_item[37], buzz_item[37];
    char *ids[] = {m->diabetes,  m->custom_cond, m->depression, m->metformin, m->tea,
                   m->ibuprofen, m->fatigue,     m->buzzing,    m->goal1,     m->goal2,
                   m->prog1,     m->prog2,       tea_item,      cond_item,    buzz_item};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        uuid(ids[i]);
    const char *p1[] = {m->id, tea_item, cond_item, buzz_item};
    free(sql1("WITH p AS (INSERT INTO member_profile (member_id, birth_year, sex_at_birth, gender, "
              "country, "
              "  postal_prefix, timezone) VALUES ($1, 1980, 'intersex', 'nonbinary', 'DE', '101', "
              "  'Europe/Berlin')), "
              "ci AS (INSERT INTO custom_item (member_id, id, kind, name) VALUES "
              "  ($1, $2, 'medication', 'Herbal tea'), ($1, $3, 'condition', 'Weird thing'), "
              "  ($1, $4, 'symptom', 'Weird buzzing')) "
              "SELECT 1",
              4, p1));
    const char *p2[] = {m->id, m->diabetes, m->custom_cond, m->depression, cond_item};
    free(sql1("INSERT INTO member_condition (member_id, id, condition_id, custom_id, diagnosed_on, "
              "diagnosed_date, status, note) VALUES "
              "($1, $2, 'type_2_diabetes', NULL, '2015-04', '2015-04-01', 'active', 'found at a "
              "checkup'), "
              "($1, $3, NULL, $5, '2019', '2019-01-01', 'remission', NULL), "
              "($1, $4, 'depression', NULL, '2010-02-03', '2010-02-03', 'resolved', NULL)",
              5, p2));
    const char *p3[] = {m->id, m->metformin, m->tea, m->ibuprofen, m->diabetes, tea_item};
    free(sql1(
        "INSERT INTO medication (member_id, id, medication_id, custom_id, dose_amount, dose_unit, "
        "freq_kind, freq_value, started_on, stopped_on, stop_reason, for_condition) VALUES "
        "($1, $2, 'metformin', NULL, 500, 'mg', 'times_per_day', 2, '2015-05-01', NULL, NULL, $5), "
        "($1, $3, NULL, $6, 0.5, 'tablets', 'every_n_days', 3, '2020-01-01', '2020-03-01', "
        "  'side_effects', NULL), "
        "($1, $4, 'ibuprofen', NULL, NULL, NULL, 'as_needed', NULL, '2021-01-01', '2021-02-01', "
        "NULL, "
        "  NULL)",
        6, p3));
    const char *p4[] = {m->id, m->fatigue, m->buzzing, buzz_item};
    free(sql1("INSERT INTO symptom_entry (member_id, id, symptom_id, custom_id, severity, "
              "recorded_at) VALUES "
              "($1, $2, 'fatigue', NULL, 6, '2024-01-02T07:00:00Z'), "
              "($1, $3, NULL, $4, 3, '2024-01-03T07:00:00.25Z')",
              4, p4));
    const char *p5[] = {m->id, m->goal1, m->goal2, m->metformin};
    free(sql1(
        "INSERT INTO goal (member_id, id, title, kind, symptom_id, medication_ref, target_value, "
        "direction, due_on, status, created_at) VALUES "
        "($1, $2, 'Less fatigue', 'symptom_target', 'fatigue', NULL, 3, 'decrease', '2024-06-30', "
        "  'active', '2024-01-01T00:00:00Z'), "
        "($1, $3, 'Take metformin', 'adherence', NULL, $4, 90, 'increase', NULL, 'achieved', "
        "  '2024-01-02T00:00:00Z')",
        4, p5));
    const char *p6[] = {m->id, m->goal1, m->prog1, m->prog2};
    free(sql1("INSERT INTO goal_progress (member_id, id, goal_ref, value, recorded_at) VALUES "
              "($1, $3, $2, 5, '2024-01-05T08:00:00Z'), ($1, $4, $2, 4.5, '2024-01-12T08:00:00Z')",
              4, p6));
}

static json_t *export_bundle(const char *token)
{
    struct th_resp r;
    char ct[128];
    th_req("GET", "/v1/me/export/fhir", token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)), "application/fhir+json");
    ck_assert_ptr_nonnull(r.json);
    json_t *b = json_incref(r.json);
    th_resp_free(&r);
    return b;
}

/* ---- export ---- */

START_TEST(export_maps_every_resource)
{
    struct member m;
    char urn[64];
    make_member(&m);
    json_t *b = export_bundle(m.token);
    ck_assert_str_eq(s_at(b, "resourceType"), "Bundle");
    ck_assert_str_eq(s_at(b, "type"), "collection");
    ck_assert_uint_eq(json_array_size(json_object_get(b, "entry")), 13);
    /* Every entry: fullUrl urn:uuid:<id>. */
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(b, "entry"), i, e)
    {
        snprintf(urn, sizeof(urn), "urn:uuid:%s", s_at(e, "resource.id"));
        ck_assert_str_eq(s_at(e, "fullUrl"), urn);
    }
    snprintf(urn, sizeof(urn), "urn:uuid:%s", m.id);

    json_t *pat = by_id(b, m.id);
    ck_assert_str_eq(s_at(pat, "resourceType"), "Patient");
    ck_assert_str_eq(s_at(pat, "gender"), "other");
    ck_assert_str_eq(s_at(pat, "birthDate"), "1980");
    ck_assert_uint_eq(json_object_size(pat),
                      4); /* resourceType, id, gender, birthDate: no name, address */

    json_t *c = by_id(b, m.diabetes);
    ck_assert_str_eq(s_at(c, "resourceType"), "Condition");
    ck_assert_str_eq(s_at(c, "clinicalStatus.coding.0.system"),
                     "http://terminology.hl7.org/CodeSystem/condition-clinical");
    ck_assert_str_eq(s_at(c, "clinicalStatus.coding.0.code"), "active");
    ck_assert_uint_eq(json_array_size(at(c, "code.coding")), 2);
    ck_assert_str_eq(s_at(c, "code.coding.0.system"), ICD10);
    ck_assert_str_eq(s_at(c, "code.coding.0.code"), "E11");
    ck_assert_str_eq(s_at(c, "code.coding.1.system"), SNOMED);
    ck_assert_str_eq(s_at(c, "code.coding.1.code"), "44054006");
    ck_assert_str_eq(s_at(c, "code.text"), "Type 2 diabetes");
    ck_assert_str_eq(s_at(c, "onsetDateTime"), "2015-04");
    ck_assert_str_eq(s_at(c, "subject.reference"), urn);
    ck_assert_str_eq(s_at(c, "note.0.text"), "found at a checkup");

    c = by_id(b, m.depression);
    ck_assert_uint_eq(json_array_size(at(c, "code.coding")), 3);
    ck_assert_str_eq(s_at(c, "code.coding.0.code"), "F32");
    ck_assert_str_eq(s_at(c, "code.coding.1.code"), "F33");
    ck_assert_str_eq(s_at(c, "code.coding.2.code"), "35489007");
    ck_assert_str_eq(s_at(c, "clinicalStatus.coding.0.code"), "resolved");
    ck_assert_str_eq(s_at(c, "onsetDateTime"), "2010-02-03");

    c = by_id(b, m.custom_cond);
    ck_assert_ptr_null(at(c, "code.coding"));
    ck_assert_str_eq(s_at(c, "code.text"), "Weird thing");
    ck_assert_str_eq(s_at(c, "clinicalStatus.coding.0.code"), "remission");
    ck_assert_str_eq(s_at(c, "onsetDateTime"), "2019");

    json_t *ms = by_id(b, m.metformin);
    char cond_urn[64];
    snprintf(cond_urn, sizeof(cond_urn), "urn:uuid:%s", m.diabetes);
    ck_assert_str_eq(s_at(ms, "resourceType"), "MedicationStatement");
    ck_assert_str_eq(s_at(ms, "status"), "active");
    ck_assert_str_eq(s_at(ms, "medicationCodeableConcept.coding.0.system"), RXNORM);
    ck_assert_str_eq(s_at(ms, "medicationCodeableConcept.coding.0.code"), "6809");
    ck_assert_str_eq(s_at(ms, "medicationCodeableConcept.text"), "Metformin");
    ck_assert_str_eq(s_at(ms, "effectivePeriod.start"), "2015-05-01");
    ck_assert_ptr_null(at(ms, "effectivePeriod.end"));
    ck_assert_str_eq(s_at(ms, "reasonReference.0.reference"), cond_urn);
    ck_assert_str_eq(s_at(ms, "dosage.0.text"), "500 mg, 2 times per day");
    ck_assert_int_eq(i_at(ms, "dosage.0.timing.repeat.frequency"), 2);
    ck_assert_int_eq(i_at(ms, "dosage.0.timing.repeat.period"), 1);
    ck_assert_str_eq(s_at(ms, "dosage.0.timing.repeat.periodUnit"), "d");
    ck_assert_int_eq(i_at(ms, "dosage.0.doseAndRate.0.doseQuantity.value"), 500);
    ck_assert_str_eq(s_at(ms, "dosage.0.doseAndRate.0.doseQuantity.unit"), "mg");
    ck_assert_str_eq(s_at(ms, "dosage.0.doseAndRate.0.doseQuantity.system"), UCUM);
    ck_assert_str_eq(s_at(ms, "dosage.0.doseAndRate.0.doseQuantity.code"), "mg");

    ms = by_id(b, m.tea);
    ck_assert_str_eq(s_at(ms, "status"), "stopped");
    ck_assert_str_eq(s_at(ms, "statusReason.0.text"), "side_effects");
    ck_assert_ptr_null(at(ms, "medicationCodeableConcept.coding"));
    ck_assert_str_eq(s_at(ms, "medicationCodeableConcept.text"), "Herbal tea");
    ck_assert_str_eq(s_at(ms, "effectivePeriod.end"), "2020-03-01");
    ck_assert_int_eq(i_at(ms, "dosage.0.timing.repeat.frequency"), 1);
    ck_assert_int_eq(i_at(ms, "dosage.0.timing.repeat.period"), 3);
    ck_assert_double_eq(n_at(ms, "dosage.0.doseAndRate.0.doseQuantity.value"), 0.5);
    ck_assert_str_eq(s_at(ms, "dosage.0.doseAndRate.0.doseQuantity.unit"), "tablets");
    ck_assert_ptr_null(at(ms, "dosage.0.doseAndRate.0.doseQuantity.system"));
    ck_assert_ptr_null(at(ms, "reasonReference"));

    ms = by_id(b, m.ibuprofen);
    ck_assert_str_eq(s_at(ms, "status"), "completed");
    ck_assert_ptr_null(at(ms, "statusReason"));
    ck_assert(json_is_true(at(ms, "dosage.0.asNeededBoolean")));
    ck_assert_ptr_null(at(ms, "dosage.0.doseAndRate"));
    ck_assert_ptr_null(at(ms, "dosage.0.timing"));
    ck_assert_str_eq(s_at(ms, "dosage.0.text"), "as needed");

    json_t *o = by_id(b, m.fatigue);
    ck_assert_str_eq(s_at(o, "resourceType"), "Observation");
    ck_assert_str_eq(s_at(o, "status"), "final");
    ck_assert_str_eq(s_at(o, "category.0.coding.0.code"), "survey");
    ck_assert_str_eq(s_at(o, "code.coding.0.system"), SNOMED);
    ck_assert_str_eq(s_at(o, "code.coding.0.code"), "84229001");
    ck_assert_int_eq(i_at(o, "valueInteger"), 6);
    ck_assert_str_eq(s_at(o, "effectiveDateTime"), "2024-01-02T07:00:00Z");
    o = by_id(b, m.buzzing);
    ck_assert_ptr_null(at(o, "code.coding"));
    ck_assert_str_eq(s_at(o, "code.text"), "Weird buzzing");
    ck_assert_int_eq(i_at(o, "valueInteger"), 3);
    ck_assert_str_eq(s_at(o, "effectiveDateTime"), "2024-01-03T07:00:00.25Z");

    char p1[64], p2[64], g1[64], med[64];
    snprintf(p1, sizeof(p1), "urn:uuid:%s", m.prog1);
    snprintf(p2, sizeof(p2), "urn:uuid:%s", m.prog2);
    snprintf(g1, sizeof(g1), "urn:uuid:%s", m.goal1);
    snprintf(med, sizeof(med), "urn:uuid:%s", m.metformin);
    json_t *g = by_id(b, m.goal1);
    ck_assert_str_eq(s_at(g, "resourceType"), "Goal");
    ck_assert_str_eq(s_at(g, "lifecycleStatus"), "active");
    ck_assert_str_eq(s_at(g, "description.text"), "Less fatigue");
    ck_assert_str_eq(s_at(g, "target.0.measure.coding.0.code"), "84229001");
    ck_assert_int_eq(i_at(g, "target.0.detailQuantity.value"), 3);
    ck_assert_str_eq(s_at(g, "target.0.dueDate"), "2024-06-30");
    ck_assert_uint_eq(json_array_size(at(g, "outcomeReference")), 2);
    ck_assert_str_eq(s_at(g, "outcomeReference.0.reference"), p1);
    ck_assert_str_eq(s_at(g, "outcomeReference.1.reference"), p2);
    ck_assert_ptr_null(at(g, "achievementStatus"));
    g = by_id(b, m.goal2);
    ck_assert_str_eq(s_at(g, "lifecycleStatus"), "completed");
    ck_assert_str_eq(s_at(g, "achievementStatus.coding.0.code"), "achieved");
    ck_assert_str_eq(s_at(g, "addresses.0.reference"), med);
    ck_assert_int_eq(i_at(g, "target.0.detailQuantity.value"), 90);
    ck_assert_ptr_null(at(g, "target.0.dueDate"));
    ck_assert_ptr_null(at(g, "outcomeReference"));

    o = by_id(b, m.prog2);
    ck_assert_str_eq(s_at(o, "code.text"), "Less fatigue");
    ck_assert_double_eq(n_at(o, "valueQuantity.value"), 4.5);
    ck_assert_str_eq(s_at(o, "focus.0.reference"), g1);
    ck_assert_str_eq(s_at(o, "effectiveDateTime"), "2024-01-12T08:00:00Z");

    /* Nothing that identifies the person beyond the record itself. */
    char *text = json_dumps(b, JSON_COMPACT);
    ck_assert_ptr_null(strstr(text, "example.org"));
    ck_assert_ptr_null(strstr(text, "Test member"));
    ck_assert_ptr_null(strstr(text, "Europe/Berlin"));
    ck_assert_ptr_null(strstr(text, "nonbinary"));
    free(text);
    json_decref(b);
}
END_TEST

START_TEST(export_validates_against_fhir_schema)
{
    struct member m;
    char path[512], out[8192];
    make_member(&m);
    json_t *b = export_bundle(m.token);
    snprintf(path, sizeof(path), "%s/export-%s.json", th_tmpdir(), m.id);
    write_json(path, b);
    ck_assert_msg(validate(path, out, sizeof(out)) == 0,
                  "the exported bundle is not valid FHIR R4:\n%s", out);

    /* The validator really validates: a wrong enum, a wrong type and an unknown property each fail.
     */
    json_t *broken = json_deep_copy(b);
    json_object_set_new(by_id(broken, m.id), "gender", json_string("robot"));
    write_json(path, broken);
    ck_assert_int_eq(validate(path, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "gender"));
    json_decref(broken);
    broken = json_deep_copy(b);
    json_object_set_new(by_id(broken, m.fatigue), "valueInteger", json_string("six"));
    write_json(path, broken);
    ck_assert_int_eq(validate(path, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "valueInteger"));
    json_decref(broken);
    broken = json_deep_copy(b);
    json_object_set_new(by_id(broken, m.diabetes), "severityScore", json_integer(3));
    write_json(path, broken);
    ck_assert_int_eq(validate(path, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "severityScore"));
    json_decref(broken);
    json_decref(b);

    /* A member with nothing recorded: a Patient alone, still valid. */
    char token[64], id[37];
    th_account("member", token, id);
    b = export_bundle(token);
    ck_assert_uint_eq(json_array_size(json_object_get(b, "entry")), 1);
    ck_assert_uint_eq(json_object_size(at(b, "entry.0.resource")), 2);
    ck_assert_str_eq(s_at(b, "entry.0.resource.id"), id);
    write_json(path, b);
    ck_assert_msg(validate(path, out, sizeof(out)) == 0, "empty export invalid:\n%s", out);
    json_decref(b);

    /* The hand-written import bundles are valid FHIR too. */
    static const char *const inputs[] = {"import_collection.json", "import_transaction.json"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/tests/fhir/%s", CC_SOURCE_DIR, inputs[i]);
        ck_assert_msg(validate(path, out, sizeof(out)) == 0, "%s is not valid FHIR R4:\n%s",
                      inputs[i], out);
    }
}
END_TEST

START_TEST(export_roles_and_isolation)
{
    struct th_resp r;
    char researcher[64];
    struct member a, b;
    make_member(&a);
    th_account("member", b.token, b.id);
    th_req("GET", "/v1/me/export/fhir", NULL, NULL, NULL, &r);
    th_assert_status(&r, 401);
    th_resp_free(&r);
    th_account("researcher", researcher, NULL);
    th_req("GET", "/v1/me/export/fhir", researcher, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    /* B sees only B. */
    json_t *bb = export_bundle(b.token);
    char *text = json_dumps(bb, JSON_COMPACT);
    ck_assert_ptr_null(strstr(text, a.id));
    ck_assert_ptr_null(strstr(text, a.diabetes));
    free(text);
    json_decref(bb);
}
END_TEST

START_TEST(export_through_json_export_format_param)
{
    struct member m;
    struct th_resp r;
    char ct[128];
    make_member(&m);
    th_req("GET", "/v1/me/export?format=fhir", m.token, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)), "application/fhir+json");
    ck_assert_str_eq(s_at(r.json, "resourceType"), "Bundle");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "entry")), 13);
    th_resp_free(&r);
}
END_TEST

/* ---- import ---- */

START_TEST(import_collection_bundle)
{
    char token[64], id[37];
    struct th_resp r;
    th_account("member", token, id);
    const char *p[] = {id};
    /* Profile fields FHIR does not carry survive the import. */
    free(sql1("INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, timezone) "
              "VALUES ($1, 1960, 'unknown', 'DE', 'Europe/Berlin')",
              1, p));

    import_file(token, "import_collection.json", &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported",
                  "Condition=5,MedicationRequest=3,MedicationStatement=2,Observation=2,Patient=1");
    assert_counts(
        &r, "skipped",
        "Condition=2,Encounter=2,Goal=1,Immunization=1,Medication=1,MedicationStatement=1,"
        "Observation=3,unknown=1");
    assert_counts(&r, "duplicates", "");
    json_t *rej = json_object_get(r.json, "rejected");
    ck_assert_uint_eq(json_array_size(rej), 5);
    static const struct {
        int entry;
        const char *type, *reason;
    } want[] = {
        {6, "Condition", "no ICD-10 or SNOMED code and no text"},
        {7, "Condition", "onset is in the future"},
        {14, "MedicationStatement", "no start date"},
        {19, "Observation", "value is not a severity from 0 to 10"},
        {24, "unknown", "entry has no resource with a resourceType"},
    };
    for (size_t i = 0; i < 5; i++) {
        json_t *x = json_array_get(rej, i);
        ck_assert_int_eq(i_at(x, "entry"), want[i].entry);
        ck_assert_str_eq(s_at(x, "resourceType"), want[i].type);
        ck_assert_str_eq(s_at(x, "reason"), want[i].reason);
    }
    th_resp_free(&r);

    char *got = rows("SELECT birth_year, sex_at_birth, country, timezone FROM member_profile WHERE "
                     "member_id = $1",
                     1, p);
    ck_assert_str_eq(got, "1975|female|DE|Europe/Berlin\n");
    free(got);
    got = rows("SELECT coalesce(mc.condition_id, 'custom:' || ci.name), mc.diagnosed_on, "
               "mc.diagnosed_date, "
               "mc.status FROM member_condition mc LEFT JOIN custom_item ci "
               "ON ci.member_id = mc.member_id AND ci.id = mc.custom_id WHERE mc.member_id = $1 "
               "ORDER BY 1",
               1, p);
    ck_assert_str_eq(got, "asthma|2001|2001-01-01|remission\n"
                          "custom:Rare connective tissue disorder|2018-01-15|2018-01-15|resolved\n"
                          "multiple_sclerosis|2012-03|2012-03-01|active\n"
                          "sleep_apnea|2019-08-20|2019-08-20|resolved\n"
                          "type_2_diabetes|2015-04-10|2015-04-10|active\n");
    free(got);
    got = rows("SELECT coalesce(m.medication_id, 'custom:' || ci.name), m.dose_amount, "
               "m.dose_unit, m.freq_kind, "
               "m.freq_value, m.started_on, m.stopped_on, m.stop_reason, "
               "(SELECT condition_id FROM member_condition mc WHERE mc.member_id = m.member_id "
               " AND mc.id = m.for_condition) "
               "FROM medication m LEFT JOIN custom_item ci ON ci.member_id = m.member_id AND ci.id "
               "= m.custom_id "
               "WHERE m.member_id = $1 ORDER BY 1",
               1, p);
    ck_assert_str_eq(
        got,
        "albuterol|2|puffs|every_n_days|2|2019-05-05|2019-06-05|NULL|NULL\n"
        "custom:Compounded cream|NULL|NULL|times_per_day|1|2022-07-01|NULL|NULL|NULL\n"
        "custom:Grandma's herbal tonic|NULL|NULL|as_needed|NULL|2020-01-01|2020-06-15|NULL|NULL\n"
        "metformin|500|mg|times_per_day|2|2015-05-01|NULL|NULL|type_2_diabetes\n"
        "sumatriptan|1|tablets|times_per_day|3|2021-02-03|NULL|NULL|NULL\n");
    free(got);
    got = rows("SELECT symptom_id, severity, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD "
               "HH24:MI:SS') "
               "FROM symptom_entry WHERE member_id = $1 ORDER BY recorded_at",
               1, p);
    ck_assert_str_eq(got, "fatigue|6|2024-01-02 07:00:00\nheadache|4|2024-01-03 00:00:00\n");
    free(got);
    got = rows("SELECT kind, name FROM custom_item WHERE member_id = $1 ORDER BY kind, name", 1, p);
    ck_assert_str_eq(got, "condition|Rare connective tissue disorder\n"
                          "medication|Compounded cream\nmedication|Grandma's herbal tonic\n");
    free(got);
    got = rows("SELECT resource, source_key FROM fhir_import WHERE member_id = $1 ORDER BY "
               "source_key COLLATE \"C\"",
               1, p);
    ck_assert_str_eq(got,
                     "Condition|Condition/cond-asthma\nCondition|Condition/cond-custom\n"
                     "Condition|Condition/cond-e11\nCondition|Condition/"
                     "cond-ms\nCondition|Condition/cond-sleep\n"
                     "MedicationRequest|MedicationRequest/"
                     "mr-custom\nMedicationRequest|MedicationRequest/mr-ref\n"
                     "MedicationRequest|MedicationRequest/mr-suma\n"
                     "MedicationStatement|MedicationStatement/ms-metformin\n"
                     "MedicationStatement|MedicationStatement/ms-tonic\n"
                     "Observation|Observation/obs-fatigue\nObservation|Observation/obs-headache\n"
                     "Patient|Patient/pat-1\n");
    free(got);
    /* Each key points at the row it created. */
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM fhir_import f WHERE f.member_id = $1 AND ("
                    "EXISTS (SELECT 1 FROM member_condition x WHERE x.member_id = f.member_id AND "
                    "x.id = f.target_id) OR EXISTS (SELECT 1 FROM medication x WHERE "
                    "x.member_id = f.member_id AND x.id = f.target_id) OR EXISTS (SELECT 1 FROM "
                    "symptom_entry x WHERE x.member_id = f.member_id AND x.id = f.target_id) OR "
                    "f.target_id = f.member_id)",
                    1, p),
        13);

    /* The same bundle again: nothing new, every imported resource a duplicate. */
    import_file(token, "import_collection.json", &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported", "");
    assert_counts(&r, "duplicates",
                  "Condition=5,MedicationRequest=3,MedicationStatement=2,Observation=2,Patient=1");
    assert_counts(
        &r, "skipped",
        "Condition=2,Encounter=2,Goal=1,Immunization=1,Medication=1,MedicationStatement=1,"
        "Observation=3,unknown=1");
    th_resp_free(&r);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM member_condition WHERE member_id = $1", 1, p), 5);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM medication WHERE member_id = $1", 1, p), 5);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_entry WHERE member_id = $1", 1, p),
                     2);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM custom_item WHERE member_id = $1", 1, p), 3);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM fhir_import WHERE member_id = $1", 1, p),
                     13);

    /* Another member importing the same bundle gets their own rows. */
    char token2[64], id2[37];
    th_account("member", token2, id2);
    import_file(token2, "import_collection.json", &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported",
                  "Condition=5,MedicationRequest=3,MedicationStatement=2,Observation=2,Patient=1");
    th_resp_free(&r);
    const char *p2[] = {id2};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM medication WHERE member_id = $1", 1, p2), 5);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM medication WHERE member_id = $1", 1, p), 5);
}
END_TEST

START_TEST(import_transaction_bundle)
{
    char token[64], id[37];
    struct th_resp r;
    th_account("member", token, id);
    const char *p[] = {id};
    import_file(token, "import_transaction.json", &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported", "Condition=1,MedicationRequest=1,Observation=1,Patient=1");
    assert_counts(&r, "skipped", "Encounter=1,unknown=1");
    assert_counts(&r, "duplicates", "");
    ck_assert_int_eq(i_at(r.json, "rejected.0.entry"), 3);
    th_resp_free(&r);

    char *got = rows(
        "SELECT birth_year, sex_at_birth, country FROM member_profile WHERE member_id = $1", 1, p);
    ck_assert_str_eq(got, "1990|male|NULL\n");
    free(got);
    got = rows("SELECT m.medication_id, m.dose_amount, m.dose_unit, m.freq_kind, m.started_on, "
               "mc.condition_id "
               "FROM medication m JOIN member_condition mc ON mc.member_id = m.member_id "
               "AND mc.id = m.for_condition WHERE m.member_id = $1",
               1, p);
    ck_assert_str_eq(got, "sumatriptan|50|mg|as_needed|2011-01-01|migraine\n");
    free(got);
    got = rows("SELECT symptom_id, severity FROM symptom_entry WHERE member_id = $1", 1, p);
    ck_assert_str_eq(got, "headache|7\n");
    free(got);
    /* Resources without an id are keyed by the SHA-256 of their canonical JSON. */
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM fhir_import WHERE member_id = $1 "
                                 "AND source_key ~ '^[0-9a-f]{64}$'",
                                 1, p),
                     3);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM fhir_import WHERE member_id = $1 "
                                 "AND source_key = 'Patient/p9' AND target_id = member_id",
                                 1, p),
                     1);

    import_file(token, "import_transaction.json", &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported", "");
    assert_counts(&r, "duplicates", "Condition=1,MedicationRequest=1,Observation=1,Patient=1");
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM medication WHERE member_id = $1", 1, p), 1);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM member_condition WHERE member_id = $1", 1, p), 1);
}
END_TEST

START_TEST(import_round_trip_of_export)
{
    struct member a;
    char token[64], id[37];
    struct th_resp r;
    make_member(&a);
    json_t *b = export_bundle(a.token);
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    th_account("member", token, id);
    th_req("POST", "/v1/me/import/fhir", token, text, NULL, &r);
    free(text);
    th_assert_status(&r, 200);
    /* The custom symptom has no SNOMED code and progress points are not symptoms: skipped. */
    assert_counts(&r, "imported", "Condition=3,MedicationStatement=3,Observation=1,Patient=1");
    assert_counts(&r, "skipped", "Goal=2,Observation=3");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "rejected")), 0);
    th_resp_free(&r);
    const char *p[] = {id};
    char *got =
        rows("SELECT birth_year, sex_at_birth FROM member_profile WHERE member_id = $1", 1, p);
    ck_assert_str_eq(got, "1980|intersex\n");
    free(got);
    got = rows("SELECT coalesce(mc.condition_id, 'custom:' || ci.name), mc.diagnosed_on, mc.status "
               "FROM member_condition mc LEFT JOIN custom_item ci ON ci.member_id = mc.member_id "
               "AND ci.id = mc.custom_id WHERE mc.member_id = $1 ORDER BY 1",
               1, p);
    ck_assert_str_eq(got, "custom:Weird thing|2019|remission\ndepression|2010-02-03|resolved\n"
                          "type_2_diabetes|2015-04|active\n");
    free(got);
    got = rows("SELECT coalesce(m.medication_id, 'custom:' || ci.name), m.dose_amount, "
               "m.dose_unit, m.freq_kind, "
               "m.freq_value, m.started_on, m.stopped_on, m.stop_reason, "
               "(SELECT condition_id FROM member_condition mc WHERE mc.member_id = m.member_id "
               " AND mc.id = m.for_condition) "
               "FROM medication m LEFT JOIN custom_item ci ON ci.member_id = m.member_id AND ci.id "
               "= m.custom_id "
               "WHERE m.member_id = $1 ORDER BY 1",
               1, p);
    ck_assert_str_eq(
        got, "custom:Herbal tea|0.5|tablets|every_n_days|3|2020-01-01|2020-03-01|side_effects|"
             "NULL\n"
             "ibuprofen|NULL|NULL|as_needed|NULL|2021-01-01|2021-02-01|NULL|NULL\n"
             "metformin|500|mg|times_per_day|2|2015-05-01|NULL|NULL|type_2_diabetes\n");
    free(got);
    got =
        rows("SELECT symptom_id, severity, recorded_at = '2024-01-02T07:00:00Z' FROM symptom_entry "
             "WHERE member_id = $1",
             1, p);
    ck_assert_str_eq(got, "fatigue|6|t\n");
    free(got);
}
END_TEST

START_TEST(import_refusals_and_limits)
{
    char token[64], id[37];
    struct th_resp r;
    th_account("member", token, id);
    const char *p[] = {id};

    th_reqj("POST", "/v1/me/import/fhir", token,
            json_pack("{s:s, s:s}", "resourceType", "Patient", "id", "x"), &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(s_at(r.json, "errors.0.field"), "resourceType");
    th_resp_free(&r);
    th_reqj("POST", "/v1/me/import/fhir", token, json_pack("{s:s}", "hello", "world"), &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(s_at(r.json, "errors.0.field"), "resourceType");
    th_resp_free(&r);
    th_reqj("POST", "/v1/me/import/fhir", token,
            json_pack("{s:s, s:s}", "resourceType", "Bundle", "type", "history"), &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(s_at(r.json, "errors.0.field"), "type");
    th_resp_free(&r);
    th_reqj("POST", "/v1/me/import/fhir", token,
            json_pack("{s:s, s:s, s:{}}", "resourceType", "Bundle", "type", "collection", "entry"),
            &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(s_at(r.json, "errors.0.field"), "entry");
    th_resp_free(&r);
    th_req("POST", "/v1/me/import/fhir", token, "[1,2]", NULL, &r);
    th_assert_status(&r, 400);
    th_resp_free(&r);

    /* An empty bundle imports nothing. */
    th_reqj("POST", "/v1/me/import/fhir", token,
            json_pack("{s:s, s:s}", "resourceType", "Bundle", "type", "batch"), &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported", "");
    assert_counts(&r, "skipped", "");
    th_resp_free(&r);

    /* Over the route's 20 MiB: 413 before anything is read. */
    size_t n = 21u << 20;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    th_req_raw("POST", "/v1/me/import/fhir", token, big, n, &r);
    th_assert_status(&r, 413);
    th_resp_free(&r);
    /* Above the default 1 MiB but under 20 MiB: accepted. */
    static const char bundle[] =
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{"
        "\"resourceType\":"
        "\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/"
        "sct\",\"code\":\"84229001\"}]},\"effectiveDateTime\":\"2024-03-01T10:00:00Z\","
        "\"valueInteger\":2}}]}";
    n = 3u << 20;
    memset(big, ' ', n);
    memcpy(big, bundle, sizeof(bundle) - 1);
    th_req_raw("POST", "/v1/me/import/fhir", token, big, n, &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported", "Observation=1");
    th_resp_free(&r);
    free(big);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_entry WHERE member_id = $1", 1, p),
                     1);

    /* Only members import. */
    char researcher[64];
    th_account("researcher", researcher, NULL);
    th_reqj("POST", "/v1/me/import/fhir", researcher,
            json_pack("{s:s, s:s}", "resourceType", "Bundle", "type", "collection"), &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
}
END_TEST

/* Malformed pieces inside resources never fail the import and never crash the server. */
START_TEST(import_malformed_resources)
{
    char token[64], id[37];
    struct th_resp r;
    th_account("member", token, id);
    const char *p[] = {id};
    json_t *entries = json_array();
    static const char *const resources[] = {
        "{\"resourceType\":\"Patient\",\"birthDate\":\"1890-01-01\"}",
        "{\"resourceType\":\"Patient\",\"gender\":7}",
        "{\"resourceType\":\"Patient\"}",
        "{\"resourceType\":\"Condition\",\"code\":{\"text\":\"x\"},\"onsetDateTime\":\"2020-13-"
        "01\"}",
        "{\"resourceType\":\"Condition\",\"code\":{\"text\":\"x\"},\"onsetDateTime\":\"2020-02-"
        "30\"}",
        "{\"resourceType\":\"Condition\",\"code\":{\"text\":\"x\"},\"onsetDateTime\":\"2020-01-"
        "01T10:00\"}",
        "{\"resourceType\":\"Condition\",\"code\":{\"coding\":\"nope\",\"text\":[1]},"
        "\"onsetDateTime\":\"2020\"}",
        "{\"resourceType\":\"Condition\",\"code\":{\"text\":\"   \"},\"onsetDateTime\":\"2020\"}",
        "{\"resourceType\":\"MedicationStatement\",\"status\":\"active\","
        "\"medicationCodeableConcept\":{\"text\":"
        "\"y\"},\"effectiveDateTime\":\"20200101\"}",
        "{\"resourceType\":\"MedicationStatement\",\"status\":\"entered-in-error\","
        "\"medicationCodeableConcept\":"
        "{\"text\":\"y\"},\"effectiveDateTime\":\"2020-01-01\"}",
        "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"medicationReference\":{"
        "\"reference\":"
        "\"#missing\"},\"authoredOn\":\"2020-01-01\"}",
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/"
        "sct\",\"code\":\"84229001\"}]},\"valueInteger\":3,\"effectiveDateTime\":"
        "\"2020-01-01T10:00:00+\"}",
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/"
        "sct\",\"code\":\"84229001\"}]},\"valueInteger\":3,\"effectiveDateTime\":"
        "\"2199-01-01T10:00:00Z\"}",
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/"
        "sct\",\"code\":\"84229001\"}]},\"valueString\":\"bad\",\"effectiveDateTime\":"
        "\"2020-01-01T10:00:00Z\"}",
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/sct\",\"code\":\"84229001\"}]},\"valueInteger\":3}",
    };
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
        json_t *res = json_loads(resources[i], 0, NULL);
        ck_assert_msg(res != NULL, "resource %zu does not parse", i);
        json_array_append_new(entries, json_pack("{s:o}", "resource", res));
    }
    json_array_append_new(entries, json_string("not an object"));
    json_array_append_new(entries, json_pack("{s:i}", "resource", 5));
    json_array_append_new(entries, json_pack("{s:{s:s}}", "resource", "resourceType", "Bad Type!"));
    th_reqj("POST", "/v1/me/import/fhir", token,
            json_pack("{s:s, s:s, s:o}", "resourceType", "Bundle", "type", "collection", "entry",
                      entries),
            &r);
    th_assert_status(&r, 200);
    assert_counts(&r, "imported", "");
    assert_counts(&r, "skipped",
                  "Condition=5,MedicationRequest=1,MedicationStatement=2,Observation=4,Patient=3,"
                  "unknown=3");
    static const char *const reasons[] = {
        "birthDate is not a date from 1900 to this year",
        "gender is not female, male, other or unknown",
        "no birthDate or gender to import",
        "onset is not a valid date",
        "onset is not a valid date",
        "onset is not a valid date",
        "no ICD-10 or SNOMED code and no text",
        "no ICD-10 or SNOMED code and no text",
        "start date is not a valid date",
        "status is entered-in-error, not-taken, cancelled or draft",
        "no RxNorm code and no medication name",
        "effective time is not a date or a timestamp with an offset",
        "effective time is more than a day ahead",
        "value is not a severity from 0 to 10",
        "no effective time",
        "entry has no resource with a resourceType",
        "entry has no resource with a resourceType",
        "entry has no resource with a resourceType",
    };
    json_t *rej = json_object_get(r.json, "rejected");
    ck_assert_uint_eq(json_array_size(rej), sizeof(reasons) / sizeof(reasons[0]));
    /* Patients first, then conditions, then the rest in bundle order. */
    static const int order[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        ck_assert_int_eq(i_at(json_array_get(rej, i), "entry"), order[i]);
        ck_assert_str_eq(s_at(json_array_get(rej, i), "reason"), reasons[i]);
    }
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM fhir_import WHERE member_id = $1", 1, p), 0);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM member_profile WHERE member_id = $1", 1, p),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM custom_item WHERE member_id = $1", 1, p), 0);
}
END_TEST

START_TEST(server_log_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, "Grandma"));
    ck_assert_ptr_null(strstr(log, "Weird thing"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("fhir");
    TCase *tc = tcase_create("fhir");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, export_maps_every_resource);
    tcase_add_test(tc, export_validates_against_fhir_schema);
    tcase_add_test(tc, export_roles_and_isolation);
    tcase_add_test(tc, export_through_json_export_format_param);
    tcase_add_test(tc, import_collection_bundle);
    tcase_add_test(tc, import_transaction_bundle);
    tcase_add_test(tc, import_round_trip_of_export);
    tcase_add_test(tc, import_refusals_and_limits);
    tcase_add_test(tc, import_malformed_resources);
    tcase_add_test(tc, server_log_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
