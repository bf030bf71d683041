/* End-to-end: importing ClinicalTrials.gov API v2 study records (../shared/data/trials) as draft
 * trials: every record imports, the mapped fields are exact for known records, the two records
 * with truncated criteria import, missing optional modules do not fail, and a body that is not a
 * study record is refused naming protocolSection. */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char coord[64];

static void setup_accounts(void)
{
    if (!coord[0])
        th_account("coordinator", coord, NULL);
}

static const char *trials_dir(void)
{
    static char path[1200];
    DIR *d;
    snprintf(path, sizeof(path), "%s/trials", th_shared_data());
    d = opendir(path);
    ck_assert_msg(d != NULL,
                  "ClinicalTrials.gov records not found at %s (shared/data/trials beside the "
                  "repository); the import tests need them",
                  path);
    closedir(d);
    return path;
}

static json_t *load_record(const char *nct)
{
    char path[1400];
    json_error_t err;
    snprintf(path, sizeof(path), "%s/%s.json", trials_dir(), nct);
    json_t *j = json_load_file(path, 0, &err);
    ck_assert_msg(j != NULL, "cannot read %s: %s", path, err.text);
    return j;
}

/* POST the record (stolen); returns the response (caller frees). */
static void import(json_t *rec, struct th_resp *r)
{
    setup_accounts();
    th_reqj("POST", "/v1/trials/import-ctgov", coord, rec, r);
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(want);
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    ck_assert_msg(json_equal(got, want), "got %s, want %s", g ? g : "(null)", want_text);
    free(g);
    json_decref(want);
}

static const char *criteria(const json_t *rec)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(rec, "protocolSection"), "eligibilityModule"),
        "eligibilityCriteria"));
}

START_TEST(every_record_imports)
{
    const char *dir = trials_dir();
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        char nct[64];
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(nct, sizeof(nct), "%.*s", (int)(len - 5), e->d_name);
        json_t *rec = load_record(nct);
        const json_t *idm =
            json_object_get(json_object_get(rec, "protocolSection"), "identificationModule");
        char *title = strdup(sget(idm, "briefTitle"));
        char *crit = criteria(rec) ? strdup(criteria(rec)) : NULL;
        struct th_resp r;
        import(rec, &r);
        th_assert_status(&r, 201);
        ck_assert_str_eq(sget(r.json, "nct_id"), nct);
        ck_assert_str_eq(sget(r.json, "title"), title);
        ck_assert_str_eq(sget(r.json, "status"), "draft");
        ck_assert_str_eq(sget(r.json, "source"), "ctgov");
        if (crit)
            ck_assert_str_eq(sget(r.json, "eligibility_text"), crit);
        ck_assert_ptr_nonnull(json_object_get(json_object_get(r.json, "inclusion"), "all"));
        free(title);
        free(crit);
        th_resp_free(&r);
        n++;
    }
    closedir(d);
    ck_assert_int_eq(n, 10);
}
END_TEST

START_TEST(dupilumab_fields)
{
    json_t *rec = load_record("NCT02210780");
    char *crit = strdup(criteria(rec));
    struct th_resp r;
    import(rec, &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "title"),
                     "Study of Dupilumab and Immune Responses in Adults With Atopic Dermatitis "
                     "(AD)");
    ck_assert_str_eq(sget(r.json, "nct_id"), "NCT02210780");
    ck_assert_str_eq(sget(r.json, "sponsor"), "Regeneron Pharmaceuticals");
    ck_assert(json_is_true(json_object_get(r.json, "commercial")));
    ck_assert(json_is_true(json_object_get(r.json, "organisation_for_profit")));
    ck_assert(json_is_false(json_object_get(r.json, "healthy_volunteers")));
    assert_json(json_object_get(r.json, "conditions"), "[\"atopic_dermatitis\"]");
    assert_json(json_object_get(r.json, "conditions_text"), "[]");
    /* sex ALL gives no sex criterion; 18 to 64 Years; not healthy volunteers: the condition. */
    assert_json(json_object_get(r.json, "inclusion"),
                "{\"all\":[{\"age\":{\"min\":18,\"max\":64}},"
                "{\"condition\":{\"condition\":\"atopic_dermatitis\"}}]}");
    assert_json(json_object_get(r.json, "exclusion"), "null");
    assert_json(json_object_get(r.json, "categories"), "[\"demographics\",\"conditions\"]");
    assert_json(json_object_get(r.json, "sites"), "[{\"country\":\"US\"}]");
    ck_assert_str_eq(sget(r.json, "eligibility_text"), crit);
    json_t *again = load_record("NCT02210780");
    ck_assert_str_eq(
        sget(r.json, "summary"),
        sget(json_object_get(json_object_get(again, "protocolSection"), "descriptionModule"),
             "briefSummary"));
    json_decref(again);
    free(crit);
    th_resp_free(&r);
}
END_TEST

START_TEST(healthy_volunteers_and_unmapped_condition)
{
    json_t *rec = load_record("NCT00973089");
    struct th_resp r;
    import(rec, &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "title"),
                     "Alternative Treatment of Deep Carious Lesions Based on Biological Evidences");
    ck_assert_str_eq(sget(r.json, "sponsor"), "Hadassah Medical Organization");
    ck_assert(json_is_false(json_object_get(r.json, "commercial")));
    ck_assert(json_is_true(json_object_get(r.json, "healthy_volunteers")));
    assert_json(json_object_get(r.json, "conditions"), "[]");
    assert_json(json_object_get(r.json, "conditions_text"), "[\"Caries, Dental\"]");
    assert_json(json_object_get(r.json, "inclusion"),
                "{\"all\":[{\"age\":{\"min\":5,\"max\":8}}]}");
    assert_json(json_object_get(r.json, "categories"), "[\"demographics\"]");
    assert_json(json_object_get(r.json, "sites"), "[{\"country\":\"IL\"}]");
    th_resp_free(&r);
}
END_TEST

START_TEST(synonym_mapping_and_ages)
{
    json_t *rec = load_record("NCT00763412");
    struct th_resp r;
    import(rec, &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "sponsor"), "Arbelaez, Ana Maria");
    ck_assert(json_is_false(json_object_get(r.json, "commercial")));
    /* "Pancreatic Insufficiency" is a common name of a catalog condition; the other is not. */
    assert_json(json_object_get(r.json, "conditions"), "[\"exocrine_pancreatic_insufficiency\"]");
    assert_json(json_object_get(r.json, "conditions_text"),
                "[\"Cystic Fibrosis Related Diabetes\"]");
    assert_json(json_object_get(r.json, "inclusion"),
                "{\"all\":[{\"age\":{\"min\":12,\"max\":24}},"
                "{\"condition\":{\"condition\":\"exocrine_pancreatic_insufficiency\"}}]}");
    th_resp_free(&r);

    /* Nine countries, in the order the locations first name them. */
    import(load_record("NCT02552212"), &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "sponsor"), "UCB BIOSCIENCES GmbH");
    ck_assert(json_is_true(json_object_get(r.json, "commercial")));
    assert_json(json_object_get(r.json, "inclusion"), "{\"all\":[{\"age\":{\"min\":18}}]}");
    assert_json(json_object_get(r.json, "conditions_text"),
                "[\"Axial Spondyloarthritis\",\"Nonradiographic Axial Spondyloarthritis\","
                "\"Nr-axSpA\"]");
    json_t *sites = json_object_get(r.json, "sites");
    ck_assert_int_eq(json_array_size(sites), 9);
    const char *want[] = {"AU", "BG", "CA", "CZ", "HU", "PL", "RU", "TW", "US"};
    for (size_t i = 0; i < 9; i++) {
        bool found = false;
        for (size_t k = 0; k < 9; k++)
            found = found || strcmp(sget(json_array_get(sites, k), "country"), want[i]) == 0;
        ck_assert_msg(found, "site country %s missing", want[i]);
    }
    th_resp_free(&r);
}
END_TEST

START_TEST(truncated_records_import)
{
    struct th_resp r;
    import(load_record("NCT03418623"), &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "nct_id"), "NCT03418623");
    ck_assert_str_eq(sget(r.json, "sponsor"), "Laboratorio Farmaceutico Ct S.r.l.");
    ck_assert(json_is_true(json_object_get(r.json, "commercial")));
    ck_assert_str_eq(sget(r.json, "eligibility_text"),
                     "Inclusion Criteria:\n\n1. Male participants...");
    assert_json(json_object_get(r.json, "inclusion"),
                "{\"all\":[{\"age\":{\"min\":21,\"max\":40}},"
                "{\"condition\":{\"condition\":\"alcohol_use_disorder\"}}]}");
    th_resp_free(&r);

    import(load_record("NCT06171568"), &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "nct_id"), "NCT06171568");
    ck_assert_str_eq(sget(r.json, "title"),
                     "Lariboisi\xc3\xa8re Cognitive Assessment: Evaluation of the 1-year Outcomes");
    ck_assert_str_eq(sget(r.json, "sponsor"), "Assistance Publique - H\xc3\xb4pitaux de Paris");
    ck_assert_str_eq(sget(r.json, "eligibility_text"),
                     "Inclusion Criteria:\n\n* Patient over 18 years...");
    assert_json(json_object_get(r.json, "inclusion"), "{\"all\":[{\"age\":{\"min\":18}}]}");
    assert_json(json_object_get(r.json, "conditions_text"), "[\"Brain Injuries\"]");
    assert_json(json_object_get(r.json, "sites"), "[{\"country\":\"FR\"}]");
    th_resp_free(&r);
}
END_TEST

START_TEST(missing_modules_and_not_a_record)
{
    struct th_resp r;
    json_t *rec = load_record("NCT05594173");
    json_t *ps = json_object_get(rec, "protocolSection");
    json_object_del(ps, "eligibilityModule");
    json_object_del(ps, "conditionsModule");
    json_object_del(ps, "descriptionModule");
    json_object_del(ps, "contactsLocationsModule");
    json_object_del(rec, "resultsSection");
    import(rec, &r);
    th_assert_status(&r, 201);
    ck_assert_str_eq(sget(r.json, "title"), "Chewing and Oral Processing of Solid Food");
    ck_assert_str_eq(sget(r.json, "summary"), "");
    assert_json(json_object_get(r.json, "inclusion"), "{\"all\":[{\"age\":{\"min\":0}}]}");
    assert_json(json_object_get(r.json, "sites"), "[]");
    assert_json(json_object_get(r.json, "eligibility_text"), "null");
    assert_json(json_object_get(r.json, "healthy_volunteers"), "null");
    const char *id = sget(r.json, "id");
    char path[128];
    snprintf(path, sizeof(path), "/v1/trials/%s", id);
    th_resp_free(&r);
    /* Such a draft cannot recruit until it is complete (and approved). */
    th_reqj("PATCH", path, coord, json_pack("{s:s}", "status", "recruiting"), &r);
    th_assert_status(&r, 409);
    th_resp_free(&r);

    import(json_pack("{s:i}", "resourceType", 1), &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                     "protocolSection");
    th_resp_free(&r);
    import(json_pack("{s:s}", "protocolSection", "x"), &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                     "protocolSection");
    th_resp_free(&r);
    /* A record without any title. */
    rec = load_record("NCT05594173");
    json_object_del(
        json_object_get(json_object_get(rec, "protocolSection"), "identificationModule"),
        "briefTitle");
    json_object_del(
        json_object_get(json_object_get(rec, "protocolSection"), "identificationModule"),
        "officialTitle");
    import(rec, &r);
    th_assert_status(&r, 422);
    ck_assert_str_eq(sget(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                     "protocolSection.identificationModule.briefTitle");
    th_resp_free(&r);
}
END_TEST

START_TEST(roles_and_limits)
{
    char member[64];
    struct th_resp r;
    th_account("member", member, NULL);
    th_reqj("POST", "/v1/trials/import-ctgov", member, load_record("NCT02210780"), &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);

    /* The record route takes up to 2 MiB; more is refused before parsing. */
    setup_accounts();
    size_t n = (2u << 20) + 10;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    th_req_raw("POST", "/v1/trials/import-ctgov", coord, big, n, &r);
    th_assert_status(&r, 413);
    th_resp_free(&r);
    /* 1.5 MiB of padding inside a real record still imports. */
    json_t *rec = load_record("NCT03475563");
    size_t pad = 3u << 19;
    char *filler = malloc(pad + 1);
    ck_assert_ptr_nonnull(filler);
    memset(filler, 'x', pad);
    filler[pad] = '\0';
    json_object_set_new(rec, "padding", json_string(filler));
    free(filler);
    free(big);
    import(rec, &r);
    th_assert_status(&r, 201);
    assert_json(json_object_get(r.json, "conditions"), "[\"coronary_artery_disease\"]");
    th_resp_free(&r);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("ctgov");
    TCase *tc = tcase_create("import");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_record_imports);
    tcase_add_test(tc, dupilumab_fields);
    tcase_add_test(tc, healthy_volunteers_and_unmapped_condition);
    tcase_add_test(tc, synonym_mapping_and_ages);
    tcase_add_test(tc, truncated_records_import);
    tcase_add_test(tc, missing_modules_and_not_a_record);
    tcase_add_test(tc, roles_and_limits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
