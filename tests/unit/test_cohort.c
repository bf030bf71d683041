/* The cohort language: validation errors with exact paths, canonical form, SQL compilation (exact
 * text and parameters, and that input values only ever travel as parameters), plain words,
 * condition ids and the SQL buffer. No database: the compiled SQL was checked against PostgreSQL by
 * hand; the lead's DB tests run it for real. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cohort.h"

#define NOW 1700000000 /* 2023-11-14 22:13:20 UTC */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- stub catalog ---- */

struct stub {
    int calls;
    int malformed; /* calls with an id that is not [a-z0-9_]{2,64}: must stay 0 */
    bool accept_all;
};

static const char *const stub_symptoms[] = {"fatigue", "headache", "nausea", "rash"};
static const char *const stub_conditions[] = {"multiple_sclerosis", "migraine", "asthma"};
static const char *const stub_medications[] = {"metformin", "fingolimod", "ocrelizumab"};

static bool in_list(const char *id, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(id, list[i]) == 0)
            return true;
    return false;
}

static int stub_catalog(void *ctx, const char *kind, const char *id)
{
    struct stub *st = ctx;
    size_t n = strlen(id), i;

    st->calls++;
    if (n < 2 || n > 64)
        st->malformed++;
    for (i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_'))
            st->malformed++;
    if (st->accept_all)
        return 1;
    if (strcmp(kind, "symptom") == 0)
        return in_list(id, stub_symptoms, NELEM(stub_symptoms));
    if (strcmp(kind, "condition") == 0)
        return in_list(id, stub_conditions, NELEM(stub_conditions));
    if (strcmp(kind, "medication") == 0)
        return in_list(id, stub_medications, NELEM(stub_medications));
    return 0;
}

/* ---- helpers ---- */

/* Test JSON is written with ' for " to stay readable. */
static json_t *load(const char *text)
{
    char buf[8192];
    size_t n = strlen(text), i;
    json_error_t e;
    json_t *j;

    ck_assert_uint_lt(n, sizeof(buf));
    for (i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    j = json_loads(buf, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ck_assert_msg(j != NULL, "test JSON does not parse (%s): %s", e.text, buf);
    return j;
}

static struct stats_cohort *parse_json(const json_t *j, struct stats_errors *errs)
{
    struct stub st = {0};
    struct stats_cohort *c = stats_cohort_parse(j, "cohort", stub_catalog, &st, errs);

    ck_assert_int_eq(st.malformed, 0);
    return c;
}

/* Parses text that must be valid. */
static struct stats_cohort *must_parse(const char *text)
{
    struct stats_errors errs;
    json_t *j = load(text);
    struct stats_cohort *c = parse_json(j, &errs);

    ck_assert_msg(c != NULL, "rejected %s: %s: %s", text, errs.n ? errs.e[0].path : "?",
                  errs.n ? errs.e[0].message : "?");
    ck_assert_int_eq(errs.n, 0);
    json_decref(j);
    return c;
}

struct want {
    const char *path, *message;
};

static void check_errors(const char *what, const json_t *j, const struct want *w, int n)
{
    struct stats_errors errs;
    struct stats_cohort *c = parse_json(j, &errs);
    int i;

    ck_assert_msg(c == NULL, "accepted: %s", what);
    ck_assert_msg(errs.n == n, "%s: %d errors, expected %d (first: %s: %s)", what, errs.n, n,
                  errs.n ? errs.e[0].path : "-", errs.n ? errs.e[0].message : "-");
    for (i = 0; i < n; i++) {
        ck_assert_msg(strcmp(errs.e[i].path, w[i].path) == 0,
                      "%s: error %d path '%s', expected '%s'", what, i, errs.e[i].path, w[i].path);
        ck_assert_msg(strcmp(errs.e[i].message, w[i].message) == 0,
                      "%s: error %d message '%s', expected '%s'", what, i, errs.e[i].message,
                      w[i].message);
    }
}

static void check_text_errors(const char *text, const struct want *w, int n)
{
    json_t *j = load(text);

    check_errors(text, j, w, n);
    json_decref(j);
}

#define ERRORS(text, ...)                                                                          \
    do {                                                                                           \
        const struct want w_[] = {__VA_ARGS__};                                                    \
        check_text_errors(text, w_, (int)NELEM(w_));                                               \
    } while (0)
#define E(path, message)                                                                           \
    {                                                                                              \
        path, message                                                                              \
    }

#define M_OBJECT "must be an object"
#define M_ONE_KEY "must have exactly one key: all, any, not or a criterion"
#define M_INT "must be an integer"
#define M_STRING "must be a string"
#define M_BOOL "must be true or false"
#define M_UNKNOWN_FIELD "unknown field"
#define M_REQUIRED "is required"
#define M_ID "must be a catalog id (2 to 64 characters a-z, 0-9, _)"
#define M_DATE "must be a date YYYY-MM-DD from 1900-01-01 to 2100-12-31"
#define M_CODE "must be an upper-case ISO 3166 alpha-2 code"
#define M_POSTAL "must be 1 to 3 letters or digits"
#define M_CHILDREN "must have 1 to 16 children"

static char *canonical_of(const char *text)
{
    struct stats_cohort *c = must_parse(text);
    char *s = stats_cohort_canonical(c);

    ck_assert_ptr_nonnull(s);
    stats_cohort_free(c);
    return s;
}

static void check_canonical(const char *text, const char *want)
{
    char *s = canonical_of(text);

    ck_assert_str_eq(s, want);
    free(s);
}

static void check_compile(const char *text, const char *sql, const char *const *params, int n)
{
    struct stats_cohort *c = must_parse(text);
    struct stats_sql s;
    int i;

    stats_sql_init(&s);
    ck_assert_int_eq(stats_cohort_compile(c, "p.member_id", "p", NOW, &s), 0);
    ck_assert_str_eq(s.text, sql);
    ck_assert_uint_eq(s.len, strlen(sql));
    ck_assert_int_eq(s.nparams, n);
    for (i = 0; i < n; i++)
        ck_assert_str_eq(s.params[i], params[i]);
    stats_sql_free(&s);
    stats_cohort_free(c);
}

#define COMPILES(text, sql, ...)                                                                   \
    do {                                                                                           \
        const char *const p_[] = {__VA_ARGS__};                                                    \
        check_compile(text, sql, p_, (int)NELEM(p_));                                              \
    } while (0)

static void check_describe(const char *text, const char *want)
{
    struct stats_cohort *c = must_parse(text);
    char *s = stats_cohort_describe(c);

    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, want);
    free(s);
    stats_cohort_free(c);
}

/* {"age":{"min":1}} under `levels` nested nots or single-child alls. */
static json_t *nested(const char *group, int levels)
{
    json_t *j = json_pack("{s:{s:i}}", "age", "min", 1);
    int i;

    for (i = 0; i < levels; i++)
        j = strcmp(group, "not") == 0 ? json_pack("{s:o}", "not", j)
                                      : json_pack("{s:[o]}", group, j);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* {"all": [groups x {"any": [per x age]}, extra x age]}: 1 + groups * (1 + per) + extra nodes. */
static json_t *wide(int groups, int per, int extra)
{
    json_t *root = json_array(), *any;
    int g, i;

    for (g = 0; g < groups; g++) {
        any = json_array();
        for (i = 0; i < per; i++)
            json_array_append_new(any, json_pack("{s:{s:i}}", "age", "min", g * per + i));
        json_array_append_new(root, json_pack("{s:o}", "any", any));
    }
    for (i = 0; i < extra; i++)
        json_array_append_new(root, json_pack("{s:{s:i}}", "age", "max", i));
    return json_pack("{s:o}", "all", root);
}

/* ---- validation ---- */

START_TEST(test_structure_errors)
{
    ERRORS("[]", E("cohort", M_OBJECT));
    ERRORS("'all'", E("cohort", M_OBJECT));
    ERRORS("{}", E("cohort", M_ONE_KEY));
    ERRORS("{'age':{'min':1},'sex_at_birth':'male'}", E("cohort", M_ONE_KEY));
    ERRORS("{'agee':{'min':1}}", E("cohort.agee", "unknown criterion"));
    ERRORS("{'all':[]}", E("cohort.all", M_CHILDREN));
    ERRORS("{'any':[]}", E("cohort.any", M_CHILDREN));
    ERRORS("{'all':{'goal':{}}}", E("cohort.all", "must be an array of nodes"));
    ERRORS("{'any':null}", E("cohort.any", "must be an array of nodes"));
    ERRORS("{'all':[1,{'goal':{}},[]]}", E("cohort.all[0]", M_OBJECT),
           E("cohort.all[2]", M_OBJECT));
    ERRORS("{'not':[]}", E("cohort.not", M_OBJECT));
    ERRORS("{'not':{}}", E("cohort.not", M_ONE_KEY));
    ERRORS("{'any':[{'not':{'goal':{},'age':{'min':3}}}]}", E("cohort.any[0].not", M_ONE_KEY));
    /* Keys from the input are echoed printable and short. */
    ERRORS("{'all':[{'a b\\'c\\u00e9':1}]}", E("cohort.all[0].a?b?c??", "unknown criterion"));
    ERRORS("{'goal':{'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk':1}}",
           E("cohort.goal.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...", M_UNKNOWN_FIELD));
}
END_TEST

START_TEST(test_children_limit)
{
    json_t *arr = json_array(), *j;
    struct stats_cohort *c;
    struct stats_errors errs;
    int i;

    for (i = 0; i < 16; i++)
        json_array_append_new(arr, json_pack("{s:{s:i}}", "age", "min", i));
    j = json_pack("{s:O}", "any", arr);
    c = parse_json(j, &errs);
    ck_assert_ptr_nonnull(c);
    stats_cohort_free(c);
    json_decref(j);

    json_array_append_new(arr, json_pack("{s:{s:i}}", "age", "min", 16));
    j = json_pack("{s:O}", "any", arr);
    check_errors("17 children", j, (const struct want[]){E("cohort.any", M_CHILDREN)}, 1);
    json_decref(j);
    json_decref(arr);
}
END_TEST

START_TEST(test_age_errors)
{
    ERRORS("{'age':5}", E("cohort.age", M_OBJECT));
    ERRORS("{'age':{}}", E("cohort.age", "needs min or max"));
    ERRORS("{'age':{'min':'40'}}", E("cohort.age.min", M_INT));
    ERRORS("{'age':{'min':40.0}}", E("cohort.age.min", M_INT));
    ERRORS("{'age':{'max':true}}", E("cohort.age.max", M_INT));
    ERRORS("{'age':{'min':-1}}", E("cohort.age.min", "must be between 0 and 120"));
    ERRORS("{'age':{'max':121}}", E("cohort.age.max", "must be between 0 and 120"));
    ERRORS("{'age':{'min':50,'max':40}}", E("cohort.age.max", "must not be less than min"));
    ERRORS("{'age':{'min':1,'old':2}}", E("cohort.age.old", M_UNKNOWN_FIELD));
    ERRORS("{'age':{'min':99999999999999999}}", E("cohort.age.min", "must be between 0 and 120"));
}
END_TEST

START_TEST(test_demographic_errors)
{
    json_t *arr = json_array(), *j;
    struct stats_cohort *c;
    struct stats_errors errs;
    char code[3];
    int i;

    ERRORS("{'sex_at_birth':'Female'}",
           E("cohort.sex_at_birth", "must be one of: female, male, intersex, unknown"));
    ERRORS("{'sex_at_birth':1}", E("cohort.sex_at_birth", M_STRING));
    ERRORS("{'sex_at_birth':'male\\u0000'}",
           E("cohort.sex_at_birth", "must be one of: female, male, intersex, unknown"));
    ERRORS("{'country':'gb'}", E("cohort.country", M_CODE));
    ERRORS("{'country':'GBR'}", E("cohort.country", M_CODE));
    ERRORS("{'country':''}", E("cohort.country", M_CODE));
    ERRORS("{'country':['GB','ie',3]}", E("cohort.country[1]", M_CODE),
           E("cohort.country[2]", M_CODE));
    ERRORS("{'country':[]}", E("cohort.country", "must have 1 to 50 codes"));
    ERRORS("{'country':5}", E("cohort.country", "must be a code or an array of codes"));
    ERRORS("{'country':{'GB':1}}", E("cohort.country", "must be a code or an array of codes"));
    ERRORS("{'postal_prefix':''}", E("cohort.postal_prefix", M_POSTAL));
    ERRORS("{'postal_prefix':'SW1A'}", E("cohort.postal_prefix", M_POSTAL));
    ERRORS("{'postal_prefix':'S-1'}", E("cohort.postal_prefix", M_POSTAL));
    ERRORS("{'postal_prefix':'S%'}", E("cohort.postal_prefix", M_POSTAL));
    ERRORS("{'postal_prefix':12}", E("cohort.postal_prefix", M_POSTAL));

    /* 50 codes are accepted, 51 are not. */
    for (i = 0; i < 50; i++) {
        code[0] = (char)('A' + i / 26);
        code[1] = (char)('A' + i % 26);
        code[2] = '\0';
        json_array_append_new(arr, json_string(code));
    }
    j = json_pack("{s:O}", "country", arr);
    c = parse_json(j, &errs);
    ck_assert_ptr_nonnull(c);
    stats_cohort_free(c);
    json_decref(j);
    json_array_append_new(arr, json_string("ZZ"));
    j = json_pack("{s:O}", "country", arr);
    check_errors("51 countries", j,
                 (const struct want[]){E("cohort.country", "must have 1 to 50 codes")}, 1);
    json_decref(j);
    json_decref(arr);
}
END_TEST

START_TEST(test_condition_errors)
{
    ERRORS("{'condition':'migraine'}", E("cohort.condition", M_OBJECT));
    ERRORS("{'condition':{}}", E("cohort.condition.condition", M_REQUIRED));
    ERRORS("{'condition':{'condition':5}}", E("cohort.condition.condition", M_STRING));
    ERRORS("{'condition':{'condition':'Migraine'}}", E("cohort.condition.condition", M_ID));
    ERRORS("{'condition':{'condition':'m'}}", E("cohort.condition.condition", M_ID));
    ERRORS("{'condition':{'condition':'mi-graine'}}", E("cohort.condition.condition", M_ID));
    ERRORS("{'condition':{'condition':"
           "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}}",
           E("cohort.condition.condition", M_ID));
    ERRORS("{'condition':{'condition':'lupus'}}",
           E("cohort.condition.condition", "unknown condition id"));
    /* A symptom id is not a condition id. */
    ERRORS("{'condition':{'condition':'fatigue'}}",
           E("cohort.condition.condition", "unknown condition id"));
    ERRORS("{'condition':{'condition':'migraine','status':'cured'}}",
           E("cohort.condition.status", "must be one of: active, remission, resolved"));
    ERRORS("{'condition':{'condition':'migraine','status':1}}",
           E("cohort.condition.status", M_STRING));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_before':'2020-02-30'}}",
           E("cohort.condition.diagnosed_before", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_before':'2021-02-29'}}",
           E("cohort.condition.diagnosed_before", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_before':'1900-02-29'}}",
           E("cohort.condition.diagnosed_before", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_after':'1899-12-31'}}",
           E("cohort.condition.diagnosed_after", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_after':'2101-01-01'}}",
           E("cohort.condition.diagnosed_after", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_after':'2020-1-01'}}",
           E("cohort.condition.diagnosed_after", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_after':'2020-01-01T00'}}",
           E("cohort.condition.diagnosed_after", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_after':20200101}}",
           E("cohort.condition.diagnosed_after", M_DATE));
    ERRORS("{'condition':{'condition':'migraine','diagnosed_after':'2020-01-01',"
           "'diagnosed_before':'2020-01-01'}}",
           E("cohort.condition.diagnosed_after", "must be earlier than diagnosed_before"));
    ERRORS("{'condition':{'condition':'migraine','since':'2020'}}",
           E("cohort.condition.since", M_UNKNOWN_FIELD));
    /* All errors of one criterion, in field order after the unknown fields. */
    ERRORS("{'condition':{'x':1,'status':'?','diagnosed_before':'?'}}",
           E("cohort.condition.x", M_UNKNOWN_FIELD), E("cohort.condition.condition", M_REQUIRED),
           E("cohort.condition.status", "must be one of: active, remission, resolved"),
           E("cohort.condition.diagnosed_before", M_DATE));
}
END_TEST

START_TEST(test_symptom_errors)
{
    ERRORS("{'symptom':[]}", E("cohort.symptom", M_OBJECT));
    ERRORS("{'symptom':{'min_severity':3}}", E("cohort.symptom.symptom", M_REQUIRED));
    ERRORS("{'symptom':{'symptom':'cough'}}", E("cohort.symptom.symptom", "unknown symptom id"));
    ERRORS("{'symptom':{'symptom':'migraine'}}", E("cohort.symptom.symptom", "unknown symptom id"));
    ERRORS("{'symptom':{'symptom':'Fatigue'}}", E("cohort.symptom.symptom", M_ID));
    ERRORS("{'symptom':{'symptom':['fatigue']}}", E("cohort.symptom.symptom", M_STRING));
    ERRORS("{'symptom':{'symptom':'fatigue','min_severity':11}}",
           E("cohort.symptom.min_severity", "must be between 0 and 10"));
    ERRORS("{'symptom':{'symptom':'fatigue','min_severity':'5'}}",
           E("cohort.symptom.min_severity", M_INT));
    ERRORS("{'symptom':{'symptom':'fatigue','max_severity':-1}}",
           E("cohort.symptom.max_severity", "must be between 0 and 10"));
    ERRORS("{'symptom':{'symptom':'fatigue','max_severity':5.5}}",
           E("cohort.symptom.max_severity", M_INT));
    ERRORS("{'symptom':{'symptom':'fatigue','min_severity':6,'max_severity':5}}",
           E("cohort.symptom.max_severity", "must not be less than min_severity"));
    ERRORS("{'symptom':{'symptom':'fatigue','within_days':0}}",
           E("cohort.symptom.within_days", "must be between 1 and 3650"));
    ERRORS("{'symptom':{'symptom':'fatigue','within_days':3651}}",
           E("cohort.symptom.within_days", "must be between 1 and 3650"));
    ERRORS("{'symptom':{'symptom':'fatigue','within_days':null}}",
           E("cohort.symptom.within_days", M_INT));
    ERRORS("{'symptom':{'symptom':'fatigue','at_least_entries':0}}",
           E("cohort.symptom.at_least_entries", "must be between 1 and 1000"));
    ERRORS("{'symptom':{'symptom':'fatigue','at_least_entries':1001}}",
           E("cohort.symptom.at_least_entries", "must be between 1 and 1000"));
    ERRORS("{'symptom':{'symptom':'fatigue','weeks':3}}", E("cohort.symptom.weeks", M_OBJECT));
    ERRORS("{'symptom':{'symptom':'fatigue','weeks':{}}}",
           E("cohort.symptom.weeks.at_least", M_REQUIRED),
           E("cohort.symptom.weeks.of_last", M_REQUIRED));
    ERRORS("{'symptom':{'symptom':'fatigue','weeks':{'at_least':0,'of_last':105}}}",
           E("cohort.symptom.weeks.at_least", "must be between 1 and 104"),
           E("cohort.symptom.weeks.of_last", "must be between 1 and 104"));
    ERRORS("{'symptom':{'symptom':'fatigue','weeks':{'at_least':'2','of_last':false}}}",
           E("cohort.symptom.weeks.at_least", M_INT), E("cohort.symptom.weeks.of_last", M_INT));
    ERRORS("{'symptom':{'symptom':'fatigue','weeks':{'at_least':5,'of_last':4}}}",
           E("cohort.symptom.weeks.at_least", "must not be greater than of_last"));
    ERRORS("{'symptom':{'symptom':'fatigue','weeks':{'at_least':1,'of_last':2,'every':1}}}",
           E("cohort.symptom.weeks.every", M_UNKNOWN_FIELD));
    ERRORS("{'symptom':{'symptom':'fatigue','severity':3}}",
           E("cohort.symptom.severity", M_UNKNOWN_FIELD));
}
END_TEST

START_TEST(test_medication_errors)
{
    const char *conflict = "false cannot be combined with current, started_within_days or "
                           "stop_reason";

    ERRORS("{'medication':null}", E("cohort.medication", M_OBJECT));
    ERRORS("{'medication':{'current':true}}", E("cohort.medication.medication", M_REQUIRED));
    ERRORS("{'medication':{'medication':'aspirin'}}",
           E("cohort.medication.medication", "unknown medication id"));
    ERRORS("{'medication':{'medication':'metformin ' }}", E("cohort.medication.medication", M_ID));
    ERRORS("{'medication':{'medication':'metformin','current':'yes'}}",
           E("cohort.medication.current", M_BOOL));
    ERRORS("{'medication':{'medication':'metformin','ever':1}}",
           E("cohort.medication.ever", M_BOOL));
    ERRORS("{'medication':{'medication':'metformin','started_within_days':0}}",
           E("cohort.medication.started_within_days", "must be between 1 and 3650"));
    ERRORS("{'medication':{'medication':'metformin','started_within_days':'30'}}",
           E("cohort.medication.started_within_days", M_INT));
    ERRORS("{'medication':{'medication':'metformin','stop_reason':'bored'}}",
           E("cohort.medication.stop_reason",
             "must be one of: side_effects, not_effective, cost, remission, doctor_advice, other"));
    ERRORS("{'medication':{'medication':'metformin','ever':false,'current':false}}",
           E("cohort.medication.ever", conflict));
    ERRORS("{'medication':{'medication':'metformin','ever':false,'started_within_days':3}}",
           E("cohort.medication.ever", conflict));
    ERRORS("{'medication':{'medication':'metformin','ever':false,'stop_reason':'cost'}}",
           E("cohort.medication.ever", conflict));
    ERRORS("{'medication':{'medication':'metformin','dose':5}}",
           E("cohort.medication.dose", M_UNKNOWN_FIELD));
}
END_TEST

START_TEST(test_evaluation_goal_errors)
{
    ERRORS("{'evaluation':1}", E("cohort.evaluation", M_OBJECT));
    ERRORS("{'evaluation':{}}", E("cohort.evaluation.medication", M_REQUIRED));
    ERRORS("{'evaluation':{'medication':'nausea'}}",
           E("cohort.evaluation.medication", "unknown medication id"));
    ERRORS("{'evaluation':{'medication':'metformin','effectiveness_at_least':'cant_tell'}}",
           E("cohort.evaluation.effectiveness_at_least",
             "must be one of: none, slight, moderate, major"));
    ERRORS("{'evaluation':{'medication':'metformin','effectiveness_at_least':2}}",
           E("cohort.evaluation.effectiveness_at_least", M_STRING));
    ERRORS("{'evaluation':{'medication':'metformin','side_effect':'metformin'}}",
           E("cohort.evaluation.side_effect", "unknown symptom id"));
    ERRORS("{'evaluation':{'medication':'metformin','side_effect':'Nausea'}}",
           E("cohort.evaluation.side_effect", M_ID));
    ERRORS("{'evaluation':{'medication':'metformin','side_effect':7}}",
           E("cohort.evaluation.side_effect", M_STRING));
    ERRORS("{'evaluation':{'medication':'metformin','burden':'major'}}",
           E("cohort.evaluation.burden", M_UNKNOWN_FIELD));
    ERRORS("{'goal':[]}", E("cohort.goal", M_OBJECT));
    ERRORS("{'goal':{'kind':'weight'}}",
           E("cohort.goal.kind", "must be one of: symptom_target, adherence, custom"));
    ERRORS("{'goal':{'status':'done'}}",
           E("cohort.goal.status", "must be one of: active, achieved, abandoned"));
    ERRORS("{'goal':{'status':true}}", E("cohort.goal.status", M_STRING));
    ERRORS("{'goal':{'title':'x'}}", E("cohort.goal.title", M_UNKNOWN_FIELD));
}
END_TEST

START_TEST(test_error_paths_and_collection)
{
    struct stats_errors errs;
    struct stats_cohort *c;
    struct stub st = {0};
    json_t *j;
    char text[2048];
    int i;

    ERRORS("{'all':[{'age':{'min':1}},{'age':{'min':2}},"
           "{'symptom':{'symptom':'fatigue','min_severity':11}}]}",
           E("cohort.all[2].symptom.min_severity", "must be between 0 and 10"));
    ERRORS("{'any':[{'not':{'condition':{'condition':'lupus'}}}]}",
           E("cohort.any[0].not.condition.condition", "unknown condition id"));
    /* Errors from every branch, in document order. */
    ERRORS("{'all':[{'age':{'min':-1}},{'sex_at_birth':'x'},{'goal':{}},"
           "{'any':[{'not':{'country':'gb'}},{'postal_prefix':'!!!!'}]}]}",
           E("cohort.all[0].age.min", "must be between 0 and 120"),
           E("cohort.all[1].sex_at_birth", "must be one of: female, male, intersex, unknown"),
           E("cohort.all[3].any[0].not.country", M_CODE),
           E("cohort.all[3].any[1].postal_prefix", M_POSTAL));

    /* 10 goals with 4 unknown fields each: 40 errors, 32 kept. */
    strcpy(text, "{'all':[");
    for (i = 0; i < 10; i++)
        strcat(text,
               i ? ",{'goal':{'a':1,'b':2,'c':3,'d':4}}" : "{'goal':{'a':1,'b':2,'c':3,'d':4}}");
    strcat(text, "]}");
    j = load(text);
    c = parse_json(j, &errs);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(errs.n, 32);
    ck_assert_str_eq(errs.e[0].path, "cohort.all[0].goal.a");
    ck_assert_str_eq(errs.e[31].path, "cohort.all[7].goal.d");
    json_decref(j);

    /* The root path is the caller's; NULL means "cohort"; errs may be NULL. */
    j = load("{'goal':{'kind':'x'}}");
    ck_assert_ptr_null(stats_cohort_parse(j, "body.cohort", stub_catalog, &st, &errs));
    ck_assert_int_eq(errs.n, 1);
    ck_assert_str_eq(errs.e[0].path, "body.cohort.goal.kind");
    ck_assert_ptr_null(stats_cohort_parse(j, NULL, stub_catalog, &st, &errs));
    ck_assert_str_eq(errs.e[0].path, "cohort.goal.kind");
    ck_assert_ptr_null(stats_cohort_parse(j, NULL, stub_catalog, &st, NULL));
    json_decref(j);

    /* A previous result in errs is not kept. */
    j = load("{'goal':{}}");
    c = stats_cohort_parse(j, NULL, stub_catalog, &st, &errs);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(errs.n, 0);
    stats_cohort_free(c);
    json_decref(j);

    /* No json at all. */
    ck_assert_ptr_null(stats_cohort_parse(NULL, "cohort", stub_catalog, &st, &errs));
    ck_assert_int_eq(errs.n, 1);
    ck_assert_str_eq(errs.e[0].path, "cohort");
    ck_assert_str_eq(errs.e[0].message, M_OBJECT);
}
END_TEST

START_TEST(test_catalog_calls)
{
    struct stats_errors errs;
    struct stats_cohort *c;
    struct stub st = {0};
    json_t *j;

    /* Asked once per id, with the right kind; malformed ids never reach the catalog. */
    j = load("{'all':[{'evaluation':{'medication':'fingolimod','side_effect':'nausea'}},"
             "{'condition':{'condition':'Bad Id'}},{'symptom':{'symptom':'x'}}]}");
    c = stats_cohort_parse(j, "cohort", stub_catalog, &st, &errs);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(st.calls, 2);
    ck_assert_int_eq(st.malformed, 0);
    ck_assert_int_eq(errs.n, 2);
    ck_assert_str_eq(errs.e[0].path, "cohort.all[1].condition.condition");
    ck_assert_str_eq(errs.e[1].path, "cohort.all[2].symptom.symptom");
    json_decref(j);

    /* Without a catalog no id is known. */
    j = load("{'condition':{'condition':'migraine'}}");
    ck_assert_ptr_null(stats_cohort_parse(j, "cohort", NULL, NULL, &errs));
    ck_assert_int_eq(errs.n, 1);
    ck_assert_str_eq(errs.e[0].message, "unknown condition id");
    json_decref(j);
}
END_TEST

START_TEST(test_depth_limit)
{
    struct stats_errors errs;
    struct stats_cohort *c;
    json_t *j, *deep;

    j = nested("not", 7); /* depth 8 */
    c = parse_json(j, &errs);
    ck_assert_ptr_nonnull(c);
    stats_cohort_free(c);
    json_decref(j);

    j = nested("not", 8);
    check_errors("9 deep (not)", j,
                 (const struct want[]){E("cohort.not.not.not.not.not.not.not.not",
                                         "nesting is deeper than 8 levels")},
                 1);
    json_decref(j);

    j = nested("all", 7);
    c = parse_json(j, &errs);
    ck_assert_ptr_nonnull(c);
    stats_cohort_free(c);
    json_decref(j);

    j = nested("any", 8);
    check_errors("9 deep (any)", j,
                 (const struct want[]){E("cohort.any[0].any[0].any[0].any[0].any[0].any[0].any[0]."
                                         "any[0]",
                                         "nesting is deeper than 8 levels")},
                 1);
    json_decref(j);

    /* Too deep stops at once: the other errors are not reported. */
    deep = nested("not", 7);
    j = json_pack("{s:[{s:i},o]}", "all", "foo", 1, deep);
    check_errors("9 deep with other errors", j,
                 (const struct want[]){E("cohort.all[1].not.not.not.not.not.not.not",
                                         "nesting is deeper than 8 levels")},
                 1);
    json_decref(j);
}
END_TEST

START_TEST(test_node_limit)
{
    struct stats_errors errs;
    struct stats_cohort *c;
    struct stats_sql s;
    char *canon;
    json_t *j;

    j = wide(7, 8, 0); /* 1 + 7 * 9 = 64 nodes */
    c = parse_json(j, &errs);
    ck_assert_ptr_nonnull(c);
    canon = stats_cohort_canonical(c);
    ck_assert_ptr_nonnull(canon);
    stats_sql_init(&s);
    ck_assert_int_eq(stats_cohort_compile(c, "p.member_id", "p", NOW, &s), 0);
    ck_assert_int_eq(s.nparams, 57); /* now and 56 ages */
    stats_sql_free(&s);
    free(canon);
    stats_cohort_free(c);
    json_decref(j);

    j = wide(7, 8, 1);
    check_errors("65 nodes", j, (const struct want[]){E("cohort.all[7]", "more than 64 nodes")}, 1);
    json_decref(j);

    /* An invalid node counts as one node (its contents are not nodes), and the error stops the
     * parse: group 0 now has two keys, so 1 + 1 + 6 * 9 + 1 + 8 = 65 nodes, the last
     * all[7].any[7], and the two-key error is not reported. */
    j = wide(8, 8, 0);
    json_object_set_new(json_array_get(json_object_get(j, "all"), 0), "extra", json_true());
    check_errors("65 nodes with an invalid one", j,
                 (const struct want[]){E("cohort.all[7].any[7]", "more than 64 nodes")}, 1);
    json_decref(j);
}
END_TEST

START_TEST(test_valid_cohorts)
{
    static const char *const ok[] = {
        "{'age':{'min':0}}",
        "{'age':{'max':120}}",
        "{'age':{'min':40,'max':40}}",
        "{'sex_at_birth':'intersex'}",
        "{'country':'GB'}",
        "{'country':['GB']}",
        "{'postal_prefix':'1'}",
        "{'postal_prefix':'sW1'}",
        "{'condition':{'condition':'asthma','status':'resolved','diagnosed_after':'1900-01-01',"
        "'diagnosed_before':'2100-12-31'}}",
        "{'condition':{'condition':'asthma','diagnosed_before':'2000-02-29'}}",
        "{'symptom':{'symptom':'rash','min_severity':0,'max_severity':0}}",
        "{'symptom':{'symptom':'rash','min_severity':10,'within_days':3650,"
        "'at_least_entries':1000,'weeks':{'at_least':104,'of_last':104}}}",
        "{'symptom':{'symptom':'rash','within_days':1,'weeks':{'at_least':1,'of_last':1}}}",
        "{'medication':{'medication':'ocrelizumab','current':true,'ever':true}}",
        "{'medication':{'medication':'ocrelizumab','ever':false}}",
        "{'medication':{'medication':'ocrelizumab','started_within_days':1,'stop_reason':'other'}}",
        "{'evaluation':{'medication':'metformin','effectiveness_at_least':'none'}}",
        "{'goal':{'kind':'custom','status':'abandoned'}}",
        "{'goal':{}}",
        "{'not':{'goal':{}}}",
    };
    size_t i;

    for (i = 0; i < NELEM(ok); i++)
        stats_cohort_free(must_parse(ok[i]));
}
END_TEST

/* ---- canonical form ---- */

START_TEST(test_canonical_equivalent)
{
    static const char *const same[][2] = {
        /* key order */
        {"{'age':{'min':40,'max':60}}", "{'age':{'max':60,'min':40}}"},
        /* child order */
        {"{'all':[{'sex_at_birth':'male'},{'age':{'min':40}}]}",
         "{'all':[{'age':{'min':40}},{'sex_at_birth':'male'}]}"},
        /* duplicates */
        {"{'any':[{'country':'GB'},{'country':'GB'},{'goal':{}}]}",
         "{'any':[{'goal':{}},{'country':'GB'}]}"},
        /* all-in-all */
        {"{'all':[{'goal':{}},{'all':[{'country':'FR'},{'age':{'max':30}}]}]}",
         "{'all':[{'age':{'max':30}},{'country':'FR'},{'goal':{}}]}"},
        /* any-in-any, and a single-child any inside */
        {"{'any':[{'any':[{'goal':{}},{'country':'FR'}]},{'any':[{'age':{'min':1}}]}]}",
         "{'any':[{'age':{'min':1}},{'country':'FR'},{'goal':{}}]}"},
        /* not(not x) */
        {"{'not':{'not':{'goal':{'status':'active'}}}}", "{'goal':{'status':'active'}}"},
        /* single-child groups */
        {"{'all':[{'any':[{'postal_prefix':'SW1'}]}]}", "{'postal_prefix':'SW1'}"},
        /* country lists */
        {"{'country':['IE','GB','IE']}", "{'country':['GB','IE']}"},
        {"{'country':['GB','GB']}", "{'country':'GB'}"},
        /* defaults */
        {"{'symptom':{'symptom':'fatigue','min_severity':0,'max_severity':10,"
         "'at_least_entries':1}}",
         "{'symptom':{'symptom':'fatigue'}}"},
        {"{'medication':{'medication':'metformin','ever':true}}",
         "{'medication':{'medication':'metformin'}}"},
        {"{'medication':{'medication':'metformin','ever':true,'current':false}}",
         "{'medication':{'current':false,'medication':'metformin'}}"},
        /* postal case */
        {"{'postal_prefix':'sw1'}", "{'postal_prefix':'SW1'}"},
        /* combinations */
        {"{'not':{'not':{'all':[{'goal':{}},{'age':{'min':3}}]}}}",
         "{'all':[{'age':{'min':3}},{'goal':{}}]}"},
        {"{'all':[{'not':{'not':{'all':[{'goal':{}}]}}},{'goal':{}}]}", "{'goal':{}}"},
        {"{'all':[{'any':[{'goal':{}},{'country':'GB'}]},{'any':[{'country':'GB'},{'goal':{}}]}]}",
         "{'any':[{'goal':{}},{'country':'GB'}]}"},
        {"{'not':{'all':[{'all':[{'goal':{}}]},{'not':{'not':{'country':'GB'}}}]}}",
         "{'not':{'all':[{'country':'GB'},{'goal':{}}]}}"},
        /* whitespace */
        {"  {\n 'goal' : { } }", "{'goal':{}}"},
    };
    size_t i;
    char *a, *b;

    for (i = 0; i < NELEM(same); i++) {
        a = canonical_of(same[i][0]);
        b = canonical_of(same[i][1]);
        ck_assert_msg(strcmp(a, b) == 0, "pair %zu: %s != %s", i, a, b);
        free(a);
        free(b);
    }
}
END_TEST

START_TEST(test_canonical_different)
{
    static const char *const differ[][2] = {
        {"{'all':[{'goal':{}},{'country':'GB'}]}", "{'any':[{'goal':{}},{'country':'GB'}]}"},
        {"{'not':{'goal':{}}}", "{'goal':{}}"},
        {"{'age':{'min':40}}", "{'age':{'max':40}}"},
        {"{'age':{'min':0}}", "{'age':{'max':120}}"},
        {"{'country':'GB'}", "{'country':['GB','IE']}"},
        {"{'symptom':{'symptom':'fatigue','min_severity':1}}", "{'symptom':{'symptom':'fatigue'}}"},
        {"{'medication':{'medication':'metformin','current':false}}",
         "{'medication':{'medication':'metformin'}}"},
        {"{'medication':{'medication':'metformin','ever':false}}",
         "{'medication':{'medication':'metformin'}}"},
        {"{'all':[{'goal':{}},{'any':[{'country':'GB'},{'age':{'min':1}}]}]}",
         "{'any':[{'all':[{'goal':{}},{'country':'GB'}]},{'age':{'min':1}}]}"},
        {"{'not':{'all':[{'goal':{}},{'country':'GB'}]}}",
         "{'all':[{'not':{'goal':{}}},{'not':{'country':'GB'}}]}"},
        {"{'condition':{'condition':'migraine','diagnosed_before':'2020-01-01'}}",
         "{'condition':{'condition':'migraine','diagnosed_after':'2020-01-01'}}"},
    };
    size_t i;
    char *a, *b;

    for (i = 0; i < NELEM(differ); i++) {
        a = canonical_of(differ[i][0]);
        b = canonical_of(differ[i][1]);
        ck_assert_msg(strcmp(a, b) != 0, "pair %zu: both %s", i, a);
        free(a);
        free(b);
    }
}
END_TEST

START_TEST(test_canonical_text)
{
    check_canonical("{'all':[{'sex_at_birth':'female'},{'age':{'min':40,'max':60}},"
                    "{'country':['IE','GB','IE']},{'postal_prefix':'sw1'},"
                    "{'condition':{'status':'active','condition':'multiple_sclerosis',"
                    "'diagnosed_after':'2015-01-01'}}]}",
                    "{\"all\":[{\"age\":{\"max\":60,\"min\":40}},{\"condition\":{\"condition\":"
                    "\"multiple_sclerosis\",\"diagnosed_after\":\"2015-01-01\",\"status\":"
                    "\"active\"}},{\"country\":[\"GB\",\"IE\"]},{\"postal_prefix\":\"SW1\"},"
                    "{\"sex_at_birth\":\"female\"}]}");
    check_canonical("{'any':[{'not':{'not':{'symptom':{'symptom':'fatigue','weeks':{'of_last':8,"
                    "'at_least':4},'min_severity':0,'max_severity':7}}}},"
                    "{'medication':{'medication':'fingolimod','ever':true,'current':true}}]}",
                    "{\"any\":[{\"medication\":{\"current\":true,\"medication\":\"fingolimod\"}},"
                    "{\"symptom\":{\"max_severity\":7,\"symptom\":\"fatigue\",\"weeks\":"
                    "{\"at_least\":4,\"of_last\":8}}}]}");
    check_canonical("{'not':{'evaluation':{'side_effect':'rash','medication':'metformin',"
                    "'effectiveness_at_least':'slight'}}}",
                    "{\"not\":{\"evaluation\":{\"effectiveness_at_least\":\"slight\","
                    "\"medication\":\"metformin\",\"side_effect\":\"rash\"}}}");
    ck_assert_ptr_null(stats_cohort_canonical(NULL));
}
END_TEST

/* ---- compilation ---- */

START_TEST(test_compile_demographics_condition)
{
    COMPILES(
        "{'all':[{'age':{'min':40,'max':60}},{'sex_at_birth':'female'},"
        "{'country':['IE','GB','IE']},{'postal_prefix':'sw1'},{'condition':{'condition':"
        "'multiple_sclerosis','status':'active','diagnosed_after':'2015-01-01',"
        "'diagnosed_before':'2020-06-30'}}]}",
        "(COALESCE((EXTRACT(year FROM to_timestamp($1::bigint) AT TIME ZONE 'UTC') - "
        "p.birth_year) >= $2::int AND (EXTRACT(year FROM to_timestamp($1::bigint) AT TIME ZONE "
        "'UTC') - p.birth_year) <= $3::int, false) AND COALESCE(p.sex_at_birth = $4, false) AND "
        "COALESCE(p.country = ANY ($5::text[]), false) AND COALESCE(starts_with(upper("
        "p.postal_prefix), $6), false) AND EXISTS (SELECT 1 FROM member_condition coh_c WHERE "
        "coh_c.member_id = p.member_id AND coh_c.condition_id = $7 AND coh_c.status = $8 AND "
        "coh_c.diagnosed_date < $9::date AND coh_c.diagnosed_date > $10::date))",
        "1700000000", "40", "60", "female", "{GB,IE}", "SW1", "multiple_sclerosis", "active",
        "2020-06-30", "2015-01-01");
    COMPILES("{'not':{'country':'IE'}}", "(NOT COALESCE(p.country = $1, false))", "IE");
    COMPILES("{'age':{'max':30}}",
             "COALESCE((EXTRACT(year FROM to_timestamp($1::bigint) AT TIME ZONE 'UTC') - "
             "p.birth_year) <= $2::int, false)",
             "1700000000", "30");
}
END_TEST

START_TEST(test_compile_symptom)
{
    COMPILES("{'symptom':{'symptom':'headache'}}",
             "EXISTS (SELECT 1 FROM symptom_entry coh_s WHERE coh_s.member_id = p.member_id AND "
             "coh_s.symptom_id = $1)",
             "headache");
    COMPILES(
        "{'any':[{'symptom':{'symptom':'fatigue','min_severity':5,'max_severity':9,"
        "'within_days':90,'at_least_entries':3,'weeks':{'at_least':4,'of_last':8}}},"
        "{'not':{'medication':{'medication':'fingolimod','current':false}}}]}",
        "(((SELECT count(*) FROM symptom_entry coh_s WHERE coh_s.member_id = p.member_id AND "
        "coh_s.symptom_id = $1 AND coh_s.severity >= $2::int AND coh_s.severity <= $3::int AND "
        "coh_s.recorded_at >= to_timestamp($4::bigint) - $5::int * interval '24 hours' AND "
        "coh_s.recorded_at <= to_timestamp($4::bigint)) >= $6::int AND (SELECT count(DISTINCT "
        "date_bin(interval '168 hours', coh_s.recorded_at, to_timestamp($4::bigint) + interval "
        "'1 microsecond')) FROM symptom_entry coh_s WHERE coh_s.member_id = p.member_id AND "
        "coh_s.symptom_id = $1 AND "
        "coh_s.severity >= $2::int AND coh_s.severity <= $3::int AND coh_s.recorded_at >= "
        "to_timestamp($4::bigint) - $5::int * interval '24 hours' AND coh_s.recorded_at <= "
        "to_timestamp($4::bigint) AND coh_s.recorded_at > to_timestamp($4::bigint) - $7::int * "
        "interval '168 hours' AND coh_s.recorded_at <= to_timestamp($4::bigint)) >= $8::int) OR "
        "(NOT (EXISTS (SELECT 1 FROM medication coh_m WHERE coh_m.member_id = p.member_id AND "
        "coh_m.medication_id = $9 AND coh_m.started_on <= (to_timestamp($4::bigint) AT TIME "
        "ZONE 'UTC')::date) AND NOT EXISTS (SELECT 1 FROM medication coh_m WHERE "
        "coh_m.member_id = p.member_id AND coh_m.medication_id = $9 AND coh_m.started_on <= "
        "(to_timestamp($4::bigint) AT TIME ZONE 'UTC')::date AND (coh_m.stopped_on IS NULL OR "
        "coh_m.stopped_on > (to_timestamp($4::bigint) AT TIME ZONE 'UTC')::date)))))",
        "fatigue", "5", "9", "1700000000", "90", "3", "8", "4", "fingolimod");
    /* Defaults compile like absent fields. */
    COMPILES("{'symptom':{'symptom':'headache','min_severity':0,'max_severity':10,"
             "'at_least_entries':1}}",
             "EXISTS (SELECT 1 FROM symptom_entry coh_s WHERE coh_s.member_id = p.member_id AND "
             "coh_s.symptom_id = $1)",
             "headache");
}
END_TEST

/* Text of one part of a cohort (a new string). */
static char *part_text(const char *text, enum stats_cohort_part part)
{
    struct stats_cohort *c = must_parse(text);
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_cohort_compile_part(c, "p.member_id", "p", NOW, part, &sql), 0);
    char *out = strdup(sql.text);
    stats_sql_free(&sql);
    stats_cohort_free(c);
    return out;
}

START_TEST(test_compile_parts)
{
    const char *mixed = "{'all':[{'condition':{'condition':'multiple_sclerosis'}},"
                        "{'symptom':{'symptom':'fatigue','weeks':{'at_least':3,'of_last':8}}},"
                        "{'age':{'min':18}},{'symptom':{'symptom':'nausea'}}]}";
    char *cheap = part_text(mixed, STATS_COHORT_CHEAP),
         *costly = part_text(mixed, STATS_COHORT_COSTLY);
    /* Cheap: the condition, the age and the plain EXISTS; costly: only the week count. */
    ck_assert_ptr_nonnull(strstr(cheap, "member_condition"));
    ck_assert_ptr_nonnull(strstr(cheap, "birth_year"));
    ck_assert_ptr_nonnull(strstr(cheap, "EXISTS (SELECT 1 FROM symptom_entry"));
    ck_assert_ptr_null(strstr(cheap, "count("));
    ck_assert_ptr_nonnull(strstr(costly, "count(DISTINCT"));
    ck_assert_ptr_null(strstr(costly, "member_condition"));
    ck_assert_ptr_null(strstr(costly, "birth_year"));
    free(cheap);
    free(costly);
    /* A root that is not "all" goes whole to one side; an empty side is TRUE. */
    const char *any =
        "{'any':[{'condition':{'condition':'multiple_sclerosis'}},{'symptom':{'symptom':"
        "'fatigue','at_least_entries':2}}]}";
    cheap = part_text(any, STATS_COHORT_CHEAP);
    costly = part_text(any, STATS_COHORT_COSTLY);
    ck_assert_ptr_nonnull(strstr(cheap, "count(*)"));
    ck_assert_str_eq(costly, "(TRUE)");
    free(cheap);
    free(costly);
    const char *only = "{'symptom':{'symptom':'fatigue','at_least_entries':2}}";
    cheap = part_text(only, STATS_COHORT_CHEAP);
    costly = part_text(only, STATS_COHORT_COSTLY);
    ck_assert_str_eq(cheap, "(TRUE)");
    ck_assert_ptr_nonnull(strstr(costly, "count(*)"));
    free(cheap);
    free(costly);
}
END_TEST

/* Over a member_facts row (schemas 0022, 0023): a plain condition reads the row's list; one with a
 * status or dates still asks member_condition, behind the list's test; demographics read the row's
 * columns. */
START_TEST(test_compile_facts)
{
    struct stats_cohort *c =
        must_parse("{'all':[{'condition':{'condition':'multiple_sclerosis'}},{'not':{'condition':"
                   "{'condition':'migraine','status':'active'}}},{'sex_at_birth':'male'},"
                   "{'any':[{'condition':{'condition':'asthma'}},{'symptom':{'symptom':'fatigue',"
                   "'at_least_entries':2}}]}]}");
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(
        stats_cohort_compile_facts(c, "f.member_id", "f", NOW, STATS_COHORT_CHEAP, &sql), 0);
    ck_assert_str_eq(sql.text,
                     "(f.conditions @> ARRAY[$1::text] AND (NOT (f.conditions @> "
                     "ARRAY[$2::text] AND EXISTS (SELECT 1 FROM member_condition coh_c WHERE "
                     "coh_c.member_id = f.member_id AND coh_c.condition_id = $2 AND "
                     "coh_c.status = $3))) AND "
                     "COALESCE(f.sex_at_birth = $4, false) AND (f.conditions @> ARRAY[$5::text] "
                     "OR ((SELECT count(*) FROM symptom_entry coh_s WHERE coh_s.member_id = "
                     "f.member_id AND coh_s.symptom_id = $6) >= $7::int)))");
    ck_assert_int_eq(sql.nparams, 7);
    ck_assert_str_eq(sql.params[0], "multiple_sclerosis");
    ck_assert_str_eq(sql.params[2], "active");
    ck_assert_str_eq(sql.params[4], "asthma");
    stats_sql_free(&sql);
    /* The profile form of the same cohort asks member_condition for every condition. */
    ck_assert_int_eq(
        stats_cohort_compile_part(c, "f.member_id", "f", NOW, STATS_COHORT_CHEAP, &sql), 0);
    ck_assert_ptr_null(strstr(sql.text, "f.conditions"));
    ck_assert_ptr_nonnull(strstr(sql.text, "(EXISTS (SELECT 1 FROM member_condition coh_c WHERE "
                                           "coh_c.member_id = f.member_id AND coh_c.condition_id "
                                           "= $5) OR ((SELECT count(*)"));
    stats_sql_free(&sql);
    /* Bad aliases are refused as for the profile form, leaving the buffer as it was. */
    ck_assert_int_eq(
        stats_cohort_compile_facts(c, "f.member_id", "coh_f", NOW, STATS_COHORT_WHOLE, &sql), -1);
    ck_assert_uint_eq(sql.len, 0);
    stats_cohort_free(c);

    /* Medication and evaluation criteria: the drug list's test in front of each question to the
     * records, with the drug's one parameter; under "not" too (the records imply the list). */
    c = must_parse("{'all':[{'medication':{'medication':'fingolimod','ever':false}},"
                   "{'medication':{'medication':'metformin','current':false}},"
                   "{'evaluation':{'medication':'ocrelizumab'}}]}");
    stats_sql_init(&sql);
    ck_assert_int_eq(
        stats_cohort_compile_facts(c, "f.member_id", "f", NOW, STATS_COHORT_CHEAP, &sql), 0);
    ck_assert_str_eq(
        sql.text,
        "((NOT (f.medications @> ARRAY[$1::text] AND EXISTS (SELECT 1 FROM medication coh_m WHERE "
        "coh_m.member_id = f.member_id AND coh_m.medication_id = $1 AND coh_m.started_on <= "
        "(to_timestamp($2::bigint) AT TIME ZONE 'UTC')::date))) AND ((f.medications @> "
        "ARRAY[$3::text] AND EXISTS (SELECT 1 FROM medication coh_m WHERE coh_m.member_id = "
        "f.member_id AND coh_m.medication_id = $3 AND coh_m.started_on <= (to_timestamp("
        "$2::bigint) AT TIME ZONE 'UTC')::date) AND NOT EXISTS (SELECT 1 FROM medication coh_m "
        "WHERE coh_m.member_id = f.member_id AND coh_m.medication_id = $3 AND coh_m.started_on <= "
        "(to_timestamp($2::bigint) AT TIME ZONE 'UTC')::date AND (coh_m.stopped_on IS NULL OR "
        "coh_m.stopped_on > (to_timestamp($2::bigint) AT TIME ZONE 'UTC')::date)))) AND "
        "(f.medications @> ARRAY[$4::text] AND EXISTS (SELECT 1 FROM medication_evaluation coh_e "
        "JOIN medication coh_em ON coh_em.member_id = coh_e.member_id AND coh_em.id = "
        "coh_e.medication_ref WHERE coh_e.member_id = f.member_id AND coh_em.medication_id = "
        "$4)))");
    ck_assert_int_eq(sql.nparams, 4);
    ck_assert_str_eq(sql.params[0], "fingolimod");
    ck_assert_str_eq(sql.params[2], "metformin");
    ck_assert_str_eq(sql.params[3], "ocrelizumab");
    stats_sql_free(&sql);
    /* The profile form has no list to test. */
    ck_assert_int_eq(
        stats_cohort_compile_part(c, "f.member_id", "f", NOW, STATS_COHORT_CHEAP, &sql), 0);
    ck_assert_ptr_null(strstr(sql.text, "f.medications"));
    stats_sql_free(&sql);
    stats_cohort_free(c);
}
END_TEST

/* The facts rows' relation: one condition's copies (schema 0024) when a top-level criterion is a
 * plain condition, the first such; member_facts otherwise. */
/* The consent test a population writes out (schema 0027): every value a parameter, each named
 * again by the grants' subquery; only the two purposes a facts row summarises. */
START_TEST(test_consent_sql)
{
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_sql_append(&sql, "x "), 0);
    ck_assert_int_eq(stats_sql_param(&sql, "before"), 1);
    ck_assert_int_eq(stats_sql_append(&sql, " "), 0);
    ck_assert_int_eq(stats_cohort_consent_sql(&sql, "f", "trial_recruitment", 15, true, false,
                                              "{asthma}", 1700000000, false),
                     0);
    ck_assert_str_eq(sql.text,
                     "x $1 (f.t_masks IS NOT NULL AND coalesce(consent_facts_fast(f.t_masks, "
                     "f.t_from, f.t_until, f.t_conds, "
                     "'trial_recruitment', $2::int, $3::boolean, $4::boolean, $5::text[], "
                     "to_timestamp($6::bigint)), (SELECT coh_p FROM consent_permits_rows("
                     "f.member_id, 'trial_recruitment', $2::int, $3::boolean, $4::boolean, "
                     "$5::text[], to_timestamp($6::bigint)) coh_p), false))");
    ck_assert_int_eq(sql.nparams, 6);
    const char *want[] = {"before", "15", "t", "f", "{asthma}", "1700000000"};
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(sql.params[i], want[i]);
    stats_sql_truncate(&sql, 4, 1);

    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "mf", "research", 1, false, true, "{}", -1, true), 0);
    /* Parallel: the grants by a (parallel-safe) function call. */
    ck_assert_str_eq(sql.text, "x $1(mf.r_masks IS NOT NULL AND coalesce(consent_facts_fast("
                               "mf.r_masks, mf.r_from, mf.r_until, "
                               "mf.r_conds, 'research', $2::int, $3::boolean, $4::boolean, "
                               "$5::text[], now()), consent_permits(mf.member_id, 'research', "
                               "$2::int, $3::boolean, $4::boolean, $5::text[], now()), false))");
    ck_assert_int_eq(sql.nparams, 5);
    stats_sql_truncate(&sql, 4, 1);

    /* Refused, leaving the text and parameters as they were. */
    ck_assert_int_eq(stats_cohort_consent_sql(&sql, "f", "share", 1, false, false, "{}", -1, false),
                     -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "f", "community", 1, false, false, "{}", -1, false), -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "f", "research", 0, false, false, "{}", -1, false), -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "f", "research", 32, false, false, "{}", -1, false), -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "f.x", "research", 1, false, false, "{}", -1, false), -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "f; DROP", "research", 1, false, false, "{}", -1, false),
        -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "coh_p", "research", 1, false, false, "{}", -1, false), -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, NULL, "research", 1, false, false, "{}", -1, false), -1);
    ck_assert_int_eq(stats_cohort_consent_sql(&sql, "f", NULL, 1, false, false, "{}", -1, false),
                     -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(&sql, "f", "research", 1, false, false, NULL, -1, false), -1);
    ck_assert_int_eq(
        stats_cohort_consent_sql(NULL, "f", "research", 1, false, false, "{}", -1, false), -1);
    ck_assert_str_eq(sql.text, "x $1");
    ck_assert_int_eq(sql.nparams, 1);
    stats_sql_free(&sql);
}
END_TEST

START_TEST(test_facts_source)
{
    static const struct {
        const char *cohort, *want, *param;
    } cases[] = {
        {"{'condition':{'condition':'asthma'}}",
         "x $1 (SELECT * FROM member_condition_facts WHERE condition_id = $2)", "asthma"},
        {"{'all':[{'age':{'min':18}},{'condition':{'condition':'migraine','status':'active'}},"
         "{'condition':{'condition':'multiple_sclerosis'}},{'condition':{'condition':'asthma'}}]}",
         "x $1 (SELECT * FROM member_condition_facts WHERE condition_id = $2)",
         "multiple_sclerosis"},
        {"{'all':[{'age':{'min':18}},{'condition':{'condition':'migraine','diagnosed_after':'2020-"
         "01-01'}}]}",
         "x $1 member_facts", NULL},
        {"{'any':[{'condition':{'condition':'asthma'}},{'sex_at_birth':'male'}]}",
         "x $1 member_facts", NULL},
        {"{'not':{'condition':{'condition':'asthma'}}}", "x $1 member_facts", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stats_cohort *c = must_parse(cases[i].cohort);
        struct stats_sql sql;
        stats_sql_init(&sql);
        ck_assert_int_eq(stats_sql_append(&sql, "x "), 0);
        ck_assert_int_eq(stats_sql_param(&sql, "before"), 1);
        ck_assert_int_eq(stats_sql_append(&sql, " "), 0);
        ck_assert_int_eq(stats_cohort_facts_source(c, &sql), 0);
        ck_assert_str_eq(sql.text, cases[i].want);
        ck_assert_int_eq(sql.nparams, cases[i].param ? 2 : 1);
        if (cases[i].param)
            ck_assert_str_eq(sql.params[1], cases[i].param);
        /* Truncation undoes it: text and parameters as before. */
        stats_sql_truncate(&sql, 4, 1);
        ck_assert_str_eq(sql.text, "x $1");
        ck_assert_int_eq(sql.nparams, 1);
        stats_sql_free(&sql);
        ck_assert_int_eq(stats_cohort_facts_source(c, NULL), -1);
        stats_cohort_free(c);
    }
    /* Over the rows the source chose, that condition is TRUE wherever it appears plainly; other
     * conditions, and the same one with a status, are still tested. */
    struct stats_cohort *c = must_parse(
        "{'all':[{'sex_at_birth':'male'},{'condition':{'condition':'multiple_sclerosis'}},"
        "{'not':{'all':[{'condition':{'condition':'multiple_sclerosis'}},{'condition':"
        "{'condition':'asthma'}}]}},{'condition':{'condition':'multiple_sclerosis','status':"
        "'active'}}]}");
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(
        stats_cohort_compile_facts_from(c, "f.member_id", "f", NOW, STATS_COHORT_WHOLE, &sql), 0);
    ck_assert_str_eq(sql.text,
                     "(COALESCE(f.sex_at_birth = $1, false) AND TRUE AND (NOT (TRUE AND "
                     "f.conditions @> ARRAY[$2::text])) AND (f.conditions @> ARRAY[$3::text] AND "
                     "EXISTS (SELECT 1 FROM member_condition coh_c WHERE coh_c.member_id = "
                     "f.member_id AND coh_c.condition_id = $3 AND coh_c.status = $4)))");
    stats_sql_free(&sql);
    /* Without a source, every condition is tested. */
    ck_assert_int_eq(
        stats_cohort_compile_facts(c, "f.member_id", "f", NOW, STATS_COHORT_WHOLE, &sql), 0);
    ck_assert_ptr_null(strstr(sql.text, "TRUE"));
    stats_sql_free(&sql);
    stats_cohort_free(c);

    ck_assert_int_eq(stats_cohort_facts_source(NULL, &sql), -1);
    ck_assert_uint_eq(sql.len, 0);
    stats_sql_truncate(NULL, 0, 0);
}
END_TEST

START_TEST(test_compile_medication_evaluation_goal)
{
    COMPILES("{'all':[{'medication':{'medication':'fingolimod','ever':false}},{'medication':"
             "{'medication':'metformin','current':true,'started_within_days':30,'stop_reason':"
             "'cost'}},{'evaluation':{'medication':'ocrelizumab','effectiveness_at_least':"
             "'moderate','side_effect':'nausea'}},{'goal':{'kind':'adherence','status':'active'}},"
             "{'goal':{}}]}",
             "((NOT EXISTS (SELECT 1 FROM medication coh_m WHERE coh_m.member_id = p.member_id AND "
             "coh_m.medication_id = $1 AND coh_m.started_on <= (to_timestamp($2::bigint) AT TIME "
             "ZONE 'UTC')::date)) AND EXISTS (SELECT 1 FROM medication coh_m WHERE coh_m.member_id "
             "= p.member_id AND coh_m.medication_id = $3 AND coh_m.started_on <= (to_timestamp("
             "$2::bigint) AT TIME ZONE 'UTC')::date AND coh_m.started_on >= (to_timestamp("
             "$2::bigint) AT TIME ZONE 'UTC')::date - $4::int AND coh_m.stop_reason = $5 AND "
             "(coh_m.stopped_on IS NULL OR coh_m.stopped_on > (to_timestamp($2::bigint) AT TIME "
             "ZONE 'UTC')::date)) AND EXISTS (SELECT 1 FROM medication_evaluation coh_e JOIN "
             "medication coh_em ON coh_em.member_id = coh_e.member_id AND coh_em.id = "
             "coh_e.medication_ref WHERE coh_e.member_id = p.member_id AND coh_em.medication_id = "
             "$6 AND coh_e.effectiveness = ANY ($7::text[]) AND EXISTS (SELECT 1 FROM "
             "evaluation_side_effect coh_es WHERE coh_es.member_id = coh_e.member_id AND "
             "coh_es.evaluation_ref = coh_e.id AND coh_es.symptom_id = $8 AND coh_es.severity IS "
             "DISTINCT FROM 'none')) AND EXISTS (SELECT 1 FROM goal coh_g WHERE coh_g.member_id = "
             "p.member_id AND coh_g.kind = $9 AND coh_g.status = $10) AND EXISTS (SELECT 1 FROM "
             "goal coh_g WHERE coh_g.member_id = p.member_id))",
             "fingolimod", "1700000000", "metformin", "30", "cost", "ocrelizumab",
             "{moderate,major}", "nausea", "adherence", "active");
    COMPILES(
        "{'evaluation':{'medication':'metformin','effectiveness_at_least':'none'}}",
        "EXISTS (SELECT 1 FROM medication_evaluation coh_e JOIN medication coh_em ON "
        "coh_em.member_id = coh_e.member_id AND coh_em.id = coh_e.medication_ref WHERE "
        "coh_e.member_id = p.member_id AND coh_em.medication_id = $1 AND coh_e.effectiveness = "
        "ANY ($2::text[]))",
        "metformin", "{none,slight,moderate,major}");
}
END_TEST

START_TEST(test_compile_arguments)
{
    static const char *const bad_cols[] = {"coh_s.member_id",
                                           "p.coh_x",
                                           "COH_s.id",
                                           "p.member_id;",
                                           "p.member_id)",
                                           "",
                                           "1p",
                                           "p.q.r",
                                           "p.",
                                           ".p",
                                           "p member_id",
                                           ("p.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaa") /* 64 characters */};
    static const char *const bad_aliases[] = {"p.x", "coh_p", "Coh_p", "", "p;"};
    struct stats_cohort *c = must_parse("{'all':[{'country':'GB'},{'goal':{}}]}");
    struct stats_sql s;
    size_t i;

    stats_sql_init(&s);
    ck_assert_int_eq(stats_sql_append(&s, "SELECT "), 0);
    ck_assert_int_eq(stats_sql_param(&s, "x"), 1);
    ck_assert_int_eq(stats_sql_append(&s, " WHERE "), 0);
    for (i = 0; i < NELEM(bad_cols); i++) {
        ck_assert_msg(stats_cohort_compile(c, bad_cols[i], "p", NOW, &s) == -1, "%s", bad_cols[i]);
        ck_assert_str_eq(s.text, "SELECT $1 WHERE ");
        ck_assert_int_eq(s.nparams, 1);
    }
    for (i = 0; i < NELEM(bad_aliases); i++)
        ck_assert_msg(stats_cohort_compile(c, "m.id", bad_aliases[i], NOW, &s) == -1, "%s",
                      bad_aliases[i]);
    ck_assert_int_eq(stats_cohort_compile(c, NULL, "p", NOW, &s), -1);
    ck_assert_int_eq(stats_cohort_compile(c, "m.id", NULL, NOW, &s), -1);
    ck_assert_int_eq(stats_cohort_compile(NULL, "m.id", "p", NOW, &s), -1);
    ck_assert_int_eq(stats_cohort_compile(c, "m.id", "p", NOW, NULL), -1);
    ck_assert_str_eq(s.text, "SELECT $1 WHERE ");

    /* Numbering continues after the caller's parameters. */
    ck_assert_int_eq(stats_cohort_compile(c, "_m1.Member_Id", "prof", NOW, &s), 0);
    ck_assert_str_eq(s.text, "SELECT $1 WHERE (COALESCE(prof.country = $2, false) AND EXISTS "
                             "(SELECT 1 FROM goal coh_g WHERE coh_g.member_id = _m1.Member_Id))");
    ck_assert_int_eq(s.nparams, 2);
    ck_assert_str_eq(s.params[0], "x");
    ck_assert_str_eq(s.params[1], "GB");
    stats_sql_free(&s);
    stats_cohort_free(c);
}
END_TEST

/* Deterministic xorshift64*, so the loop below is the same on every run. */
static uint64_t rng_next(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

static const char *enum_like(uint64_t k)
{
    static const char *const words[] = {"female", "male",   "intersex", "unknown",
                                        "Female", "active", "",         "male "};
    return words[k % NELEM(words)];
}

static size_t random_value(uint64_t *st, char *buf, size_t cap)
{
    static const char *const nasty[] = {
        "x' OR '1'='1",
        "$1",
        "); DROP TABLE account; --",
        "fatigue'--",
        "GB'",
        "{GB,IE}",
        "migraine\\",
        "a\"b",
        "SW1;",
        "' || pg_sleep(10) || '",
        "1900-01-01'::date--",
        "GB\n",
    };
    static const char idchars[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
    size_t n = 0, len, i;
    uint64_t mode = rng_next(st) % 7;

    switch (mode) {
    case 0: /* id-like, often valid */
        len = rng_next(st) % 70;
        for (i = 0; i < len; i++)
            buf[n++] = idchars[rng_next(st) % (sizeof(idchars) - 1)];
        break;
    case 1: /* any ASCII, NUL included */
        len = rng_next(st) % 40;
        for (i = 0; i < len; i++)
            buf[n++] = (char)(rng_next(st) % 128);
        break;
    case 2: /* country-like */
        len = 1 + rng_next(st) % 3;
        for (i = 0; i < len; i++)
            buf[n++] = (char)((rng_next(st) % 8 ? 'A' : 'a') + rng_next(st) % 26);
        break;
    case 3: /* date-like */
        n = (size_t)snprintf(buf, cap, "%04d-%02d-%02d", (int)(1890 + rng_next(st) % 220),
                             (int)(rng_next(st) % 14), (int)(rng_next(st) % 33));
        break;
    case 4: /* postal-like */
        len = 1 + rng_next(st) % 4;
        for (i = 0; i < len; i++)
            buf[n++] = idchars[rng_next(st) % 36];
        break;
    case 5:
        n = (size_t)snprintf(buf, cap, "%s", nasty[rng_next(st) % NELEM(nasty)]);
        break;
    default: /* enum-like */
        n = (size_t)snprintf(buf, cap, "%s", enum_like(rng_next(st)));
        break;
    }
    buf[n] = '\0';
    return n;
}

enum slot {
    SLOT_CONDITION,
    SLOT_SYMPTOM,
    SLOT_MEDICATION,
    SLOT_SIDE_EFFECT,
    SLOT_COUNTRY,
    SLOT_COUNTRY_LIST,
    SLOT_POSTAL,
    SLOT_DATE,
    SLOT_SEX,
    SLOT_COUNT
};

/* A cohort with v in one value position. */
static json_t *with_value(enum slot t, json_t *v)
{
    switch (t) {
    case SLOT_CONDITION:
        return json_pack("{s:{s:O}}", "condition", "condition", v);
    case SLOT_SYMPTOM:
        return json_pack("{s:{s:O,s:i}}", "symptom", "symptom", v, "within_days", 3);
    case SLOT_MEDICATION:
        return json_pack("{s:{s:O,s:b}}", "medication", "medication", v, "current", 0);
    case SLOT_SIDE_EFFECT:
        return json_pack("{s:{s:s,s:O}}", "evaluation", "medication", "fingolimod", "side_effect",
                         v);
    case SLOT_COUNTRY:
        return json_pack("{s:O}", "country", v);
    case SLOT_COUNTRY_LIST:
        return json_pack("{s:[s,O]}", "country", "MM", v);
    case SLOT_POSTAL:
        return json_pack("{s:O}", "postal_prefix", v);
    case SLOT_DATE:
        return json_pack("{s:{s:s,s:O}}", "condition", "condition", "migraine", "diagnosed_before",
                         v);
    default:
        return json_pack("{s:O}", "sex_at_birth", v);
    }
}

/* The parameter carrying the value, and what it must hold. */
static void expected_param(enum slot t, const char *v, int *index, char *want, size_t cap)
{
    size_t i;

    *index = (t == SLOT_SIDE_EFFECT || t == SLOT_DATE) ? 1 : 0;
    if (t == SLOT_COUNTRY_LIST)
        snprintf(want, cap, strcmp(v, "MM") < 0 ? "{%s,MM}" : "{MM,%s}", v);
    else
        snprintf(want, cap, "%s", v);
    if (t == SLOT_POSTAL)
        for (i = 0; want[i]; i++)
            if (want[i] >= 'a' && want[i] <= 'z')
                want[i] = (char)(want[i] - 'a' + 'A');
}

static char *compile_text(const struct stats_cohort *c, struct stats_sql *s)
{
    stats_sql_init(s);
    ck_assert_int_eq(stats_cohort_compile(c, "p.member_id", "p", NOW, s), 0);
    return s->text;
}

/* Values only ever travel as parameters: whatever string is put in any value position, it is
 * rejected, or the SQL text is exactly the text compiled for a known good value. */
START_TEST(test_compile_values_are_parameters)
{
    static const char *const refs[SLOT_COUNT] = {
        "multiple_sclerosis", "fatigue", "fingolimod", "nausea", "GB", "GB", "SW1",
        "2020-01-01",         "female"};
    char *ref_text[SLOT_COUNT], value[128], want[160];
    int accepted[SLOT_COUNT] = {0}, rejected[SLOT_COUNT] = {0}, t, iter, index;
    struct stub st = {.accept_all = true};
    struct stats_errors errs;
    struct stats_cohort *c;
    struct stats_sql s;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    json_t *v, *j;
    size_t n;
    char *canon, *words;

    for (t = 0; t < SLOT_COUNT; t++) {
        v = json_string(refs[t]);
        j = with_value((enum slot)t, v);
        c = stats_cohort_parse(j, "cohort", stub_catalog, &st, &errs);
        ck_assert_ptr_nonnull(c);
        ref_text[t] = strdup(compile_text(c, &s));
        stats_sql_free(&s);
        stats_cohort_free(c);
        json_decref(j);
        json_decref(v);
    }
    for (iter = 0; iter < 4000; iter++) {
        n = random_value(&rng, value, sizeof(value));
        v = json_stringn(value, n);
        ck_assert_ptr_nonnull(v);
        for (t = 0; t < SLOT_COUNT; t++) {
            if (strcmp(value, refs[t]) == 0 || (t == SLOT_COUNTRY_LIST && strcmp(value, "MM") == 0))
                continue;
            j = with_value((enum slot)t, v);
            c = stats_cohort_parse(j, "cohort", stub_catalog, &st, &errs);
            json_decref(j);
            if (!c) {
                ck_assert_int_ge(errs.n, 1);
                ck_assert_msg(strncmp(errs.e[0].path, "cohort.", 7) == 0, "%s", errs.e[0].path);
                rejected[t]++;
                continue;
            }
            accepted[t]++;
            ck_assert_uint_eq(strlen(value), n); /* NULs never pass */
            compile_text(c, &s);
            ck_assert_msg(strcmp(s.text, ref_text[t]) == 0,
                          "slot %d value '%s' changed the SQL: %s", t, value, s.text);
            if (n >= 8)
                ck_assert_msg(strstr(s.text, value) == NULL, "'%s' in SQL", value);
            expected_param((enum slot)t, value, &index, want, sizeof(want));
            ck_assert_int_gt(s.nparams, index);
            ck_assert_str_eq(s.params[index], want);
            canon = stats_cohort_canonical(c);
            words = stats_cohort_describe(c);
            ck_assert_ptr_nonnull(canon);
            ck_assert_ptr_nonnull(words);
            free(canon);
            free(words);
            stats_sql_free(&s);
            stats_cohort_free(c);
        }
        json_decref(v);
    }
    ck_assert_int_eq(st.malformed, 0);
    for (t = 0; t < SLOT_COUNT; t++) {
        /* Both outcomes happened for every position, so the loop tested something. */
        ck_assert_msg(accepted[t] > 0 && rejected[t] > 0, "slot %d: %d accepted, %d rejected", t,
                      accepted[t], rejected[t]);
        free(ref_text[t]);
    }
}
END_TEST

/* ---- plain words, condition ids ---- */

START_TEST(test_describe)
{
    check_describe(
        "{'all':[{'age':{'min':40,'max':60}},{'sex_at_birth':'female'},"
        "{'country':['IE','GB','IE']},{'postal_prefix':'sw1'},{'condition':{'condition':"
        "'multiple_sclerosis','status':'active','diagnosed_after':'2015-01-01',"
        "'diagnosed_before':'2020-06-30'}}]}",
        "Aged 40 to 60; female sex at birth; lives in GB or IE; postal code starting SW1; "
        "has multiple sclerosis (active), diagnosed after 2015-01-01 and before "
        "2020-06-30");
    check_describe("{'any':[{'symptom':{'symptom':'fatigue','min_severity':5,'max_severity':9,"
                   "'within_days':90,'at_least_entries':3,'weeks':{'at_least':4,'of_last':8}}},"
                   "{'not':{'medication':{'medication':'fingolimod','current':false}}}]}",
                   "Reported fatigue with severity 5 to 9 in the last 90 days at least 3 times in "
                   "at least 4 of the last 8 weeks or not (has taken fingolimod but is not taking "
                   "it now)");
    check_describe("{'all':[{'medication':{'medication':'fingolimod','ever':false}},{'medication':"
                   "{'medication':'metformin','current':true,'started_within_days':30}},"
                   "{'evaluation':{'medication':'ocrelizumab','effectiveness_at_least':"
                   "'moderate','side_effect':'nausea'}},{'goal':{'kind':'adherence','status':"
                   "'active'}},{'goal':{}}]}",
                   "Has never taken fingolimod; is taking metformin, started in the last 30 days; "
                   "evaluated ocrelizumab with effect rated moderate or better with side effect "
                   "nausea; has an adherence goal that is active; has a goal");
    check_describe("{'any':[{'all':[{'age':{'min':18}},{'country':['FR','DE','IT']}]},{'not':"
                   "{'any':[{'goal':{'kind':'symptom_target'}},{'sex_at_birth':'male'}]}}]}",
                   "(aged 18 or over and lives in DE, FR or IT) or not (has a symptom target goal "
                   "or male sex at birth)");
    check_describe("{'symptom':{'symptom':'headache','max_severity':3,'within_days':1}}",
                   "Reported headache with severity 3 or less in the last 1 day");
    check_describe("{'symptom':{'symptom':'rash','min_severity':4}}",
                   "Reported rash with severity 4 or more");
    check_describe("{'condition':{'condition':'asthma','status':'remission','diagnosed_before':"
                   "'2001-01-01'}}",
                   "Has asthma (in remission), diagnosed before 2001-01-01");
    check_describe("{'medication':{'medication':'metformin','stop_reason':'side_effects'}}",
                   "Has taken metformin, stopped because of side effects");
    check_describe("{'goal':{'kind':'custom','status':'achieved'}}",
                   "Has a custom goal that is achieved");
    check_describe("{'age':{'max':30}}", "Aged 30 or under");
    ck_assert_ptr_null(stats_cohort_describe(NULL));
}
END_TEST

START_TEST(test_conditions)
{
    struct stats_cohort *c = must_parse(
        "{'all':[{'condition':{'condition':'migraine'}},{'symptom':{'symptom':'fatigue'}},"
        "{'not':{'condition':{'condition':'multiple_sclerosis','status':'active'}}},"
        "{'any':[{'condition':{'condition':'migraine','status':'remission'}},"
        "{'evaluation':{'medication':'metformin'}},{'condition':{'condition':'asthma'}}]}]}");
    const char *ids[4] = {NULL, NULL, NULL, NULL};

    ck_assert_uint_eq(stats_cohort_conditions(c, ids, 4), 3);
    ck_assert_str_eq(ids[0], "migraine");
    ck_assert_str_eq(ids[1], "multiple_sclerosis");
    ck_assert_str_eq(ids[2], "asthma");
    ck_assert_ptr_null(ids[3]);
    ids[1] = NULL;
    ck_assert_uint_eq(stats_cohort_conditions(c, ids, 1), 1);
    ck_assert_str_eq(ids[0], "migraine");
    ck_assert_ptr_null(ids[1]);
    ck_assert_uint_eq(stats_cohort_conditions(c, ids, 0), 0);
    ck_assert_uint_eq(stats_cohort_conditions(NULL, ids, 4), 0);
    stats_cohort_free(c);

    c = must_parse("{'symptom':{'symptom':'fatigue'}}");
    ck_assert_uint_eq(stats_cohort_conditions(c, ids, 4), 0);
    stats_cohort_free(c);
    stats_cohort_free(NULL);
}
END_TEST

START_TEST(test_counts_entries)
{
    static const struct {
        const char *json;
        bool want;
    } cases[] = {
        {"{'condition':{'condition':'migraine'}}", false},
        {"{'symptom':{'symptom':'fatigue','min_severity':5}}", false},
        {"{'all':[{'age':{'min':18}},{'symptom':{'symptom':'fatigue','weeks':{'at_least':3,"
         "'of_last':8}}}]}",
         true},
        {"{'any':[{'sex_at_birth':'female'},{'not':{'symptom':{'symptom':'headache',"
         "'at_least_entries':4}}}]}",
         true},
        {"{'symptom':{'symptom':'headache','at_least_entries':1}}", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stats_cohort *c = must_parse(cases[i].json);
        ck_assert_msg(stats_cohort_counts_entries(c) == cases[i].want, "case %zu", i);
        stats_cohort_free(c);
    }
    ck_assert(!stats_cohort_counts_entries(NULL));
}
END_TEST

/* ---- SQL buffer ---- */

START_TEST(test_sql_buffer)
{
    struct stats_sql s;
    char value[8] = "abc", num[16];
    int i;

    stats_sql_init(&s);
    ck_assert_ptr_null(s.text);
    ck_assert_int_eq(stats_sql_append(&s, "a = "), 0);
    ck_assert_int_eq(stats_sql_param(&s, value), 1);
    value[0] = 'X'; /* the buffer keeps its own copy */
    ck_assert_int_eq(stats_sql_append(&s, " AND b = %s(", "lower"), 0);
    ck_assert_int_eq(stats_sql_param(&s, NULL), 2);
    ck_assert_int_eq(stats_sql_append(&s, ")"), 0);
    ck_assert_str_eq(s.text, "a = $1 AND b = lower($2)");
    ck_assert_uint_eq(s.len, strlen(s.text));
    ck_assert_int_eq(s.nparams, 2);
    ck_assert_str_eq(s.params[0], "abc");
    ck_assert_ptr_null(s.params[1]);

    /* Growth past the first allocations. */
    for (i = 3; i <= 300; i++) {
        snprintf(num, sizeof(num), "v%d", i);
        ck_assert_int_eq(stats_sql_append(&s, ", "), 0);
        ck_assert_int_eq(stats_sql_param(&s, num), i);
    }
    ck_assert_str_eq(s.params[299], "v300");
    ck_assert_str_eq(s.text + s.len - 6, ", $300");

    /* Over the size limit: refused, nothing changes. */
    {
        size_t len = s.len;
        ck_assert_int_eq(stats_sql_append(&s, "%*s", (int)STATS_SQL_MAX_TEXT, ""), -1);
        ck_assert_uint_eq(s.len, len);
        ck_assert_str_eq(s.text + s.len - 6, ", $300");
    }
    stats_sql_free(&s);
    ck_assert_ptr_null(s.text);
    ck_assert_ptr_null(s.params);
    ck_assert_int_eq(s.nparams, 0);
    stats_sql_free(&s);
    stats_sql_free(NULL);
    stats_cohort_free(NULL);
}
END_TEST

static Suite *cohort_suite(void)
{
    Suite *s = suite_create("cohort");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_children_limit);
    tcase_add_test(tc, test_age_errors);
    tcase_add_test(tc, test_demographic_errors);
    tcase_add_test(tc, test_condition_errors);
    tcase_add_test(tc, test_symptom_errors);
    tcase_add_test(tc, test_medication_errors);
    tcase_add_test(tc, test_evaluation_goal_errors);
    tcase_add_test(tc, test_error_paths_and_collection);
    tcase_add_test(tc, test_catalog_calls);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_node_limit);
    tcase_add_test(tc, test_valid_cohorts);
    tcase_add_test(tc, test_canonical_equivalent);
    tcase_add_test(tc, test_canonical_different);
    tcase_add_test(tc, test_canonical_text);
    tcase_add_test(tc, test_compile_demographics_condition);
    tcase_add_test(tc, test_compile_symptom);
    tcase_add_test(tc, test_compile_parts);
    tcase_add_test(tc, test_compile_facts);
    tcase_add_test(tc, test_facts_source);
    tcase_add_test(tc, test_consent_sql);
    tcase_add_test(tc, test_compile_medication_evaluation_goal);
    tcase_add_test(tc, test_compile_arguments);
    tcase_add_test(tc, test_compile_values_are_parameters);
    tcase_add_test(tc, test_describe);
    tcase_add_test(tc, test_conditions);
    tcase_add_test(tc, test_counts_entries);
    tcase_add_test(tc, test_sql_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cohort_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
