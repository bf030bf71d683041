/* ICD-10 codes of a FHIR CodeableConcept as catalog lookup candidates (service/fhir.c): the code
 * and its ancestors, most specific first; malformed codes give none. */
#include "fhir.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* The candidates of one ICD-10 coding, joined by spaces. */
static void candidates(const char *code, char *out, size_t len)
{
    json_t *cc = json_pack("{s:[{s:s, s:s}]}", "coding", "system", "http://hl7.org/fhir/sid/icd-10",
                           "code", code);
    struct fhir_codes c;

    ck_assert_ptr_nonnull(cc);
    fhir_codes_parse(cc, &c);
    out[0] = '\0';
    for (int i = 0; i < c.n_icd10; i++) {
        if (i)
            strncat(out, " ", len - strlen(out) - 1);
        strncat(out, c.icd10[i], len - strlen(out) - 1);
    }
    json_decref(cc);
}

START_TEST(icd10_candidates)
{
    static const struct {
        const char *code, *want;
    } cases[] = {
        {"E11", "E11"},
        {"E11.65", "E11.65 E11.6 E11"},
        {"E1165", "E11.65 E11.6 E11"},
        {"e11.65", "E11.65 E11.6 E11"},
        {"C7A.01", "C7A.01 C7A.0 C7A"},
        {"S72.001A", "S72.001A S72.001 S72.00 S72.0 S72"}, /* four after the point: the most */
        {"S72001A", "S72.001A S72.001 S72.00 S72.0 S72"},
        {"S7200123", ""}, /* five after the point: not ICD-10 */
        {"E11.", ""},
        {"E1", ""},
        {"1E1", ""},
        {"E11-65", ""},
    };
    char got[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        candidates(cases[i].code, got, sizeof(got));
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "%s: got '%s', want '%s'", cases[i].code,
                      got, cases[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fhir_codes");
    TCase *tc = tcase_create("icd10");
    tcase_add_test(tc, icd10_candidates);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
