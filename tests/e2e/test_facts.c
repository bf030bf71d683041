/* End-to-end: member_facts (schemas 0022, 0023), the one row per live member that populations read,
 * and its per-condition copies (0024) are kept equal to their definitions (member_facts_source,
 * member_condition_facts_source) by the triggers on every source: through the API (profile,
 * conditions, medications, consent, erasure), after random SQL changes with rollbacks, and when
 * two transactions change one member at once (each recomputation waits for the other writer and
 * then sees its change). The consent columns are also compared decision by decision with the C
 * rules in test_consent_sql.c. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rows of member_facts, of its per-condition copies (schema 0024) and of the first starts (0032)
 * that differ from their definitions, both ways. */
static long facts_diff(void)
{
    long d =
        th_sql_long("SELECT count(*) FROM ((TABLE member_facts EXCEPT TABLE member_facts_source) "
                    "UNION ALL (TABLE member_facts_source EXCEPT TABLE member_facts)) d",
                    0, NULL);
    long c = th_sql_long(
        "SELECT count(*) FROM ((TABLE member_condition_facts EXCEPT TABLE "
        "member_condition_facts_source) UNION ALL (TABLE member_condition_facts_source EXCEPT "
        "TABLE member_condition_facts)) d",
        0, NULL);
    long f = th_sql_long(
        "SELECT count(*) FROM ((TABLE medication_first EXCEPT TABLE medication_first_source) "
        "UNION ALL (TABLE medication_first_source EXCEPT TABLE medication_first)) d",
        0, NULL);
    ck_assert_int_ge(d, 0);
    ck_assert_int_ge(c, 0);
    ck_assert_int_ge(f, 0);
    return d + c + f;
}

/* The member's facts as text: "birth_year|sex|country|postal|conditions|research masks|trial
 * masks|medications", or "" when the member has no row. */
static void facts_of(const char *member, char *out, size_t len)
{
    PGconn *c = th_db();
    const char *p[] = {member};
    PGresult *r = PQexecParams(c,
                               "SELECT concat_ws('|', coalesce(birth_year::text, '-'), "
                               "coalesce(sex_at_birth, '-'), coalesce(country, '-'), "
                               "coalesce(postal_prefix, '-'), array_to_string(conditions, ','), "
                               "coalesce(r_masks::text, '-'), coalesce(t_masks::text, '-'), "
                               "array_to_string(medications, ',')) "
                               "FROM member_facts WHERE member_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    snprintf(out, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

#define FACTS_EQ(member, want)                                                                     \
    do {                                                                                           \
        char got_[512];                                                                            \
        facts_of(member, got_, sizeof(got_));                                                      \
        ck_assert_str_eq(got_, want);                                                              \
    } while (0)

START_TEST(api_writes_keep_facts)
{
    char tok[64], id[37], email[128], path[128];
    th_unique_email("facts", email, sizeof(email));
    th_register_login(email, "correct horse battery", tok, id);
    /* Registered: a row with nothing in it yet. */
    FACTS_EQ(id, "-|-|-|-||-|-|");

    json_decref(th_must(201, "PUT", "/v1/me/profile", tok,
                        th_json("{'birth_year': 1980, 'sex_at_birth': 'female', 'country': 'NL', "
                                "'postal_prefix': '105', 'timezone': 'Europe/Amsterdam'}")));
    FACTS_EQ(id, "1980|female|NL|105||-|-|");

    json_t *ms = th_must(201, "POST", "/v1/me/conditions", tok,
                         th_json("{'condition': 'multiple_sclerosis', 'diagnosed_on': '2019-04'}"));
    json_t *t2 = th_must(201, "POST", "/v1/me/conditions", tok,
                         th_json("{'condition': 'type_2_diabetes', 'diagnosed_on': '2015'}"));
    /* A custom condition is not a catalog id: not in the list. A second row of one condition
     * lists it once. */
    json_decref(th_must(
        201, "POST", "/v1/me/conditions", tok,
        th_json("{'condition': {'custom': 'Mast cell activation'}, 'diagnosed_on': '2021'}")));
    json_t *ms2 = th_must(201, "POST", "/v1/me/conditions", tok,
                          th_json("{'condition': 'multiple_sclerosis', 'diagnosed_on': '2020'}"));
    FACTS_EQ(id, "1980|female|NL|105|multiple_sclerosis,type_2_diabetes|-|-|");

    /* Any status counts: resolved is still a condition the member has had. */
    snprintf(path, sizeof(path), "/v1/me/conditions/%s",
             json_string_value(json_object_get(t2, "id")));
    json_decref(th_must(200, "PATCH", path, tok, th_json("{'status': 'resolved'}")));
    FACTS_EQ(id, "1980|female|NL|105|multiple_sclerosis,type_2_diabetes|-|-|");
    json_decref(th_must(204, "DELETE", path, tok, NULL));
    FACTS_EQ(id, "1980|female|NL|105|multiple_sclerosis|-|-|");
    snprintf(path, sizeof(path), "/v1/me/conditions/%s",
             json_string_value(json_object_get(ms, "id")));
    json_decref(th_must(204, "DELETE", path, tok, NULL));
    FACTS_EQ(id, "1980|female|NL|105|multiple_sclerosis|-|-|");
    snprintf(path, sizeof(path), "/v1/me/conditions/%s",
             json_string_value(json_object_get(ms2, "id")));
    json_decref(th_must(204, "DELETE", path, tok, NULL));
    FACTS_EQ(id, "1980|female|NL|105||-|-|");

    /* Medications: any record of a catalog drug lists it once, running or stopped; a custom item
     * is not listed; the drug leaves the list with its last record. */
    json_t *met = th_must(201, "POST", "/v1/me/medications", tok,
                          th_json("{'medication': 'metformin', 'dose_amount': 500, 'dose_unit': "
                                  "'mg', 'frequency': {'as_needed': true}, "
                                  "'started_on': '2020-01-15'}"));
    FACTS_EQ(id, "1980|female|NL|105||-|-|metformin");
    json_decref(th_must(201, "POST", "/v1/me/medications", tok,
                        th_json("{'medication': {'custom': 'Magnesium'}, 'dose_amount': 1, "
                                "'dose_unit': 'g', 'frequency': "
                                "{'as_needed': true}, 'started_on': '2023-05-01'}")));
    json_t *met2 = th_must(201, "POST", "/v1/me/medications", tok,
                           th_json("{'medication': 'metformin', 'dose_amount': 500, 'dose_unit': "
                                   "'mg', 'frequency': {'as_needed': "
                                   "true}, 'started_on': '2024-02-01'}"));
    json_decref(th_must(201, "POST", "/v1/me/medications", tok,
                        th_json("{'medication': 'dimethyl_fumarate', 'dose_amount': 240, "
                                "'dose_unit': 'mg', 'frequency': "
                                "{'every_n_days': 1}, 'started_on': '2021-09-09', 'stopped_on': "
                                "'2022-01-01', 'stop_reason': 'side_effects'}")));
    FACTS_EQ(id, "1980|female|NL|105||-|-|dimethyl_fumarate,metformin");
    snprintf(path, sizeof(path), "/v1/me/medications/%s",
             json_string_value(json_object_get(met, "id")));
    json_decref(th_must(204, "DELETE", path, tok, NULL));
    FACTS_EQ(id, "1980|female|NL|105||-|-|dimethyl_fumarate,metformin");
    snprintf(path, sizeof(path), "/v1/me/medications/%s",
             json_string_value(json_object_get(met2, "id")));
    json_decref(th_must(204, "DELETE", path, tok, NULL));
    FACTS_EQ(id, "1980|female|NL|105||-|-|dimethyl_fumarate");
    ck_assert_int_eq(facts_diff(), 0);

    /* Consent: research, every category, no restriction: 31 in all four packed masks. */
    json_t *g =
        th_must(201, "POST", "/v1/me/consents", tok,
                th_json("{'effect': 'permit', 'purpose': 'research', 'categories': "
                        "['demographics', 'conditions', 'symptoms', 'medications', 'goals']}"));
    char want[128];
    snprintf(want, sizeof(want), "1980|female|NL|105||%d|-|dimethyl_fumarate",
             31 | 31 << 5 | 31 << 10 | 31 << 15);
    FACTS_EQ(id, want);
    /* Non-commercial only: the two commercial masks are empty. */
    json_decref(
        th_must(201, "POST", "/v1/me/consents", tok,
                th_json("{'effect': 'permit', 'purpose': 'trial_recruitment', 'categories': "
                        "['conditions'], 'restrictions': {'non_commercial': true}}")));
    snprintf(want, sizeof(want), "1980|female|NL|105||%d|%d|dimethyl_fumarate",
             31 | 31 << 5 | 31 << 10 | 31 << 15, 2 | 2 << 5);
    FACTS_EQ(id, want);
    snprintf(path, sizeof(path), "/v1/me/consents/%s/withdraw",
             json_string_value(json_object_get(g, "id")));
    json_decref(th_must(200, "POST", path, tok, NULL));
    snprintf(want, sizeof(want), "1980|female|NL|105||-|%d|dimethyl_fumarate", 2 | 2 << 5);
    FACTS_EQ(id, want);
    ck_assert_int_eq(facts_diff(), 0);

    /* Erasure removes the row with the account. */
    json_decref(
        th_must(204, "DELETE", "/v1/me", tok, th_json("{'password': 'correct horse battery'}")));
    FACTS_EQ(id, "");
    ck_assert_int_eq(facts_diff(), 0);
    json_decref(ms);
    json_decref(t2);
    json_decref(ms2);
    json_decref(g);
    json_decref(met);
    json_decref(met2);
}
END_TEST

static int rnd(int lo, int hi)
{
    return lo + rand() % (hi - lo + 1);
}

static void exec_ok(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

#define NM 80
static const char *const conds[] = {"multiple_sclerosis", "type_2_diabetes", "depression", "asthma",
                                    "migraine"};
static const char *const sexes[] = {"female", "male", "intersex", "unknown"};
static const char *const drugs[] = {"metformin", "dimethyl_fumarate", "sertraline", "fingolimod"};

START_TEST(random_changes_keep_facts)
{
    PGconn *c = th_db();
    static char ids[NM][37];
    srand(20261121);
    PGresult *r = PQexec(c, "INSERT INTO account (email, display_name, role, password_hash) "
                            "SELECT 'facts-rand-' || g || '@example.org', 'F' || g, 'member', 'x' "
                            "FROM generate_series(1, 80) g ORDER BY g RETURNING id");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == NM, "%s",
                  PQerrorMessage(c));
    for (int i = 0; i < NM; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    int kinds[11] = {0};
    for (int batch = 0; batch < 8; batch++) {
        for (int k = 0; k < 60; k++) {
            const char *m = ids[rnd(0, NM - 1)];
            char year[8], cond[64], drug[64];
            snprintf(year, sizeof(year), "%d", rnd(1930, 2008));
            snprintf(cond, sizeof(cond), "%s", conds[rnd(0, 4)]);
            snprintf(drug, sizeof(drug), "%s", drugs[rnd(0, 3)]);
            bool rollback = rnd(0, 9) == 0;
            exec_ok(c, "BEGIN", 0, NULL);
            int kind = rnd(0, 10);
            kinds[kind]++;
            switch (kind) {
            case 0: { /* profile upsert */
                const char *p[] = {m, year, sexes[rnd(0, 3)], rnd(0, 1) ? "GB" : "DE"};
                exec_ok(c,
                        "INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country) "
                        "VALUES ($1, $2::int, $3, $4) ON CONFLICT (member_id) DO UPDATE SET "
                        "birth_year = EXCLUDED.birth_year, sex_at_birth = EXCLUDED.sex_at_birth, "
                        "country = EXCLUDED.country",
                        4, p);
                break;
            }
            case 1: { /* profile removed */
                const char *p[] = {m};
                exec_ok(c, "DELETE FROM member_profile WHERE member_id = $1", 1, p);
                break;
            }
            case 2:
            case 3: { /* a condition added */
                const char *p[] = {m, cond};
                exec_ok(c,
                        "INSERT INTO member_condition (member_id, condition_id, diagnosed_date) "
                        "VALUES ($1, $2, DATE '2020-01-01')",
                        2, p);
                break;
            }
            case 4: { /* a condition changed to another */
                const char *p[] = {m, cond};
                exec_ok(c,
                        "UPDATE member_condition SET condition_id = $2 WHERE (member_id, id) IN "
                        "(SELECT member_id, id FROM member_condition WHERE member_id = $1 "
                        "LIMIT 1)",
                        2, p);
                break;
            }
            case 5: { /* a condition removed */
                const char *p[] = {m};
                exec_ok(c,
                        "DELETE FROM member_condition WHERE (member_id, id) IN (SELECT member_id, "
                        "id FROM member_condition WHERE member_id = $1 LIMIT 1)",
                        1, p);
                break;
            }
            case 7: { /* a medication record added (future starts count too) */
                const char *p[] = {m, drug};
                exec_ok(c,
                        "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
                        "VALUES ($1, $2, 'as_needed', current_date - 400 + (random() * 500)::int)",
                        2, p);
                break;
            }
            case 8: { /* a record changed to another drug */
                const char *p[] = {m, drug};
                exec_ok(c,
                        "UPDATE medication SET medication_id = $2 WHERE (member_id, id) IN "
                        "(SELECT member_id, id FROM medication WHERE member_id = $1 LIMIT 1)",
                        2, p);
                break;
            }
            case 9: { /* a record removed */
                const char *p[] = {m};
                exec_ok(c,
                        "DELETE FROM medication WHERE (member_id, id) IN (SELECT member_id, id "
                        "FROM medication WHERE member_id = $1 LIMIT 1)",
                        1, p);
                break;
            }
            case 10: { /* a record's start moved (earlier or later than another's) */
                const char *p[] = {m};
                exec_ok(c,
                        "UPDATE medication SET started_on = started_on - 60 + CASE WHEN "
                        "stopped_on IS NULL THEN (random() * 120)::int ELSE (random() * 60)::int "
                        "END WHERE (member_id, id) IN (SELECT member_id, id FROM medication "
                        "WHERE member_id = $1 LIMIT 1)",
                        1, p);
                break;
            }
            case 6: { /* the account soft-deleted or restored, or its role changed */
                const char *p[] = {m};
                exec_ok(c,
                        rnd(0, 1) ? "UPDATE account SET deleted_at = CASE WHEN deleted_at IS NULL "
                                    "THEN now() END WHERE id = $1"
                                  : "UPDATE account SET role = CASE role WHEN 'member' THEN "
                                    "'researcher' ELSE 'member' END WHERE id = $1",
                        1, p);
                break;
            }
            }
            exec_ok(c, rollback ? "ROLLBACK" : "COMMIT", 0, NULL);
        }
        /* Many members in one statement: the table-lock path of the refresh. */
        exec_ok(c,
                "UPDATE member_profile SET postal_prefix = left(md5(random()::text), 3) "
                "WHERE member_id IN (SELECT id FROM account WHERE email LIKE 'facts-rand-%')",
                0, NULL);
        exec_ok(c,
                "UPDATE medication SET started_on = started_on - (random() * 10)::int "
                "WHERE member_id IN (SELECT id FROM account WHERE email LIKE 'facts-rand-%')",
                0, NULL);
        ck_assert_int_eq(facts_diff(), 0);
    }
    for (int k = 0; k < 11; k++)
        ck_assert_int_ge(kinds[k], 20);
    /* Something to compare: rows with conditions, with drugs, without, members left out. */
    ck_assert_int_ge(th_sql_long("SELECT count(*) FROM member_facts WHERE cardinality(medications) "
                                 "> 0",
                                 0, NULL),
                     5);
    ck_assert_int_ge(th_sql_long("SELECT count(*) FROM member_facts WHERE cardinality(conditions) "
                                 "> 1",
                                 0, NULL),
                     5);
    ck_assert_int_ge(th_sql_long("SELECT count(*) FROM account WHERE email LIKE 'facts-rand-%' AND "
                                 "id NOT IN (SELECT member_id FROM member_facts)",
                                 0, NULL),
                     5);
    PQfinish(c);
}
END_TEST

/* Sends sql on c without waiting; true when it is still waiting after 300 ms. */
static bool blocked(PGconn *c, const char *sql, int n, const char *const *p)
{
    ck_assert_int_eq(PQsendQueryParams(c, sql, n, NULL, p, NULL, NULL, 0), 1);
    usleep(300 * 1000);
    ck_assert_int_eq(PQconsumeInput(c), 1);
    return PQisBusy(c) == 1;
}

static void finish(PGconn *c)
{
    PGresult *r;
    bool ok = true;
    while ((r = PQgetResult(c))) {
        ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "%s", PQerrorMessage(c));
        PQclear(r);
    }
    ck_assert(ok);
}

START_TEST(concurrent_writers_of_one_member)
{
    char tok[64], id[37];
    th_account("member", tok, id);
    PGconn *a = th_db(), *b = th_db();
    /* Enough members for the statement below to take the table-lock path (over 64). */
    exec_ok(a,
            "INSERT INTO account (email, display_name, role, password_hash) SELECT 'facts-conc-' "
            "|| g || '@example.org', 'C' || g, 'member', 'x' FROM generate_series(1, 70) g",
            0, NULL);
    const char *ins = "INSERT INTO member_condition (member_id, condition_id, diagnosed_date) "
                      "VALUES ($1, $2, DATE '2020-01-01')";

    /* Two conditions added at once: the second recomputation waits for the first writer and then
     * sees its row (without the lock it would write its own list only). */
    exec_ok(a, "BEGIN", 0, NULL);
    const char *pa[] = {id, "asthma"};
    exec_ok(a, ins, 2, pa);
    const char *pb[] = {id, "migraine"};
    ck_assert_int_eq(PQsendQuery(b, "BEGIN"), 1);
    finish(b);
    ck_assert_msg(blocked(b, ins, 2, pb), "the second writer did not wait");
    exec_ok(a, "COMMIT", 0, NULL);
    finish(b);
    exec_ok(b, "COMMIT", 0, NULL);
    FACTS_EQ(id, "-|-|-|-|asthma,migraine|-|-|");

    /* A statement over many members (the table lock) against a writer of one of them. */
    exec_ok(a, "BEGIN", 0, NULL);
    const char *pc[] = {id, "depression"};
    exec_ok(a, ins, 2, pc);
    ck_assert(
        blocked(b,
                "INSERT INTO member_profile (member_id, country) SELECT id, 'FR' FROM account "
                "WHERE role = 'member' AND deleted_at IS NULL ON CONFLICT (member_id) DO "
                "UPDATE SET country = 'FR'",
                0, NULL));
    exec_ok(a, "COMMIT", 0, NULL);
    finish(b);
    FACTS_EQ(id, "-|-|FR|-|asthma,depression,migraine|-|-|");
    ck_assert_int_ge(
        th_sql_long("SELECT count(*) FROM member_profile WHERE country = 'FR'", 0, NULL), 65);
    ck_assert_int_eq(facts_diff(), 0);
    PQfinish(a);
    PQfinish(b);
}
END_TEST

/* The rebuild gives the same table; a REPEATABLE READ writer is refused (its snapshot could not
 * see a concurrent writer's change). */
START_TEST(rebuild_and_isolation)
{
    char tok[64], id[37];
    th_account("member", tok, id);
    long before = th_sql_long("SELECT count(*) FROM member_facts", 0, NULL);
    ck_assert_int_gt(before, 0);
    long copies = th_sql_long("SELECT count(*) FROM member_condition_facts", 0, NULL);
    ck_assert_int_eq(th_sql_long("SELECT member_facts_rebuild()", 0, NULL), before);
    ck_assert_int_eq(facts_diff(), 0);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM member_condition_facts", 0, NULL), copies);

    PGconn *c = th_db();
    exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL);
    const char *p[] = {id};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO member_condition (member_id, condition_id, "
                               "diagnosed_date) VALUES ($1, 'asthma', DATE '2020-01-01')",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "55000");
    PQclear(r);
    exec_ok(c, "ROLLBACK", 0, NULL);
    PQfinish(c);
    FACTS_EQ(id, "-|-|-|-||-|-|");
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("facts");
    TCase *tc = tcase_create("facts");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, api_writes_keep_facts);
    tcase_add_test(tc, random_changes_keep_facts);
    tcase_add_test(tc, concurrent_writers_of_one_member);
    tcase_add_test(tc, rebuild_and_isolation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
