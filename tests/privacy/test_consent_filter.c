/* test_consent_filter.c - research answers count exactly the members whose consent permits the
 * study, at the moment of the query.
 *
 * A group of 40 identical members (postal area Q01, multiple sclerosis, accounts with tokens)
 * gives its consent through the API in one way after another; for each way one study the consent
 * must not cover and, where one exists, one it must cover ask the same question: how many members
 * of Q01 have MS, at epsilon 1 (noise DLap(1)). With margins this large noise cannot blur the
 * answer: 40 members show as 30 to 50 (a miss needs |noise| > 12, probability below 1e-5), and
 * nobody shows as {"suppressed": true} (a miss needs noise > 12). Ways that must exclude:
 * withdrawn just before the query, expired, another purpose (trial recruitment, community), a
 * disease-specific permit for another condition, a disease-specific permit asked a general
 * question, non-commercial asked by a commercial study, not-for-profit-only asked by a for-profit
 * organisation, and a deny. data_use holds exactly the members counted, and GET /v1/me/data-uses
 * shows every included study to every member and no excluded one. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define GROUP 40
#define EXPIRY_SECONDS 10 /* an expiring grant's life: room for 40 grants and one query */
#define MAX_STUDIES 32

static const char *const cohort =
    "{'cohort':{'all':[{'postal_prefix':'Q01'},{'condition':{'condition':'multiple_sclerosis'}}]},"
    "'measures':[{'type':'count','epsilon':1}]}";

/* ---- helpers ---- */

static json_t *load(const char *text)
{
    char buf[4096];
    size_t n = strlen(text);
    json_error_t e;
    ck_assert_uint_lt(n, sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_t *j = json_loads(buf, 0, &e);
    ck_assert_msg(j != NULL, "test JSON does not parse (%s): %s", e.text, buf);
    return j;
}

static void exec_sql(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* The group: made once in the runner, before the tests fork. */
static char tokens[GROUP][64], ids[GROUP][37];

static void make_group(void)
{
    PGconn *c = th_db();
    for (int i = 0; i < GROUP; i++) {
        th_account("member", tokens[i], ids[i]);
        const char *p[] = {ids[i]};
        exec_sql(c,
                 "INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, "
                 "postal_prefix) VALUES ($1, 1970, 'female', 'GB', 'Q01')",
                 1, p);
        exec_sql(c,
                 "INSERT INTO member_condition (member_id, condition_id, diagnosed_date, status) "
                 "VALUES ($1, 'multiple_sclerosis', '2012-06-01', 'active')",
                 1, p);
    }
    PQfinish(c);
}

static char admin_token[64];

static const char *admin(void)
{
    if (!admin_token[0])
        th_account("admin", admin_token, NULL);
    return admin_token;
}

/* A study over demographics and conditions. conditions: NULL for general research, else a JSON
 * list of ids for a disease-specific study. */
static void approved_study(const char *token, const char *conditions, bool commercial,
                           bool for_profit, char id[37])
{
    struct th_resp r;
    char text[512], path[128];
    snprintf(text, sizeof(text),
             "{'title':'MS in Q01','description':'Prevalence','purpose':'%s',%s%s%s"
             "'commercial':%s,'organisation_for_profit':%s,"
             "'categories':['demographics','conditions']}",
             conditions ? "disease_specific" : "general_research",
             conditions ? "'conditions':" : "", conditions ? conditions : "", conditions ? "," : "",
             commercial ? "true" : "false", for_profit ? "true" : "false");
    th_reqj("POST", "/v1/research/studies", token, load(text), &r);
    th_assert_status(&r, 201);
    snprintf(id, 37, "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/admin/studies/%s/approve", id);
    th_req("POST", path, admin(), "{\"expires_on\":\"2099-12-31\"}", NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);
}

/* Every member gives the grant `body` (' for "); grant ids into grants. */
static void grant_all(const char *body, char grants[GROUP][37])
{
    struct th_resp r;
    for (int i = 0; i < GROUP; i++) {
        th_reqj("POST", "/v1/me/consents", tokens[i], load(body), &r);
        th_assert_status(&r, 201);
        snprintf(grants[i], 37, "%s", json_string_value(json_object_get(r.json, "id")));
        th_resp_free(&r);
    }
}

static void withdraw_all(char grants[GROUP][37])
{
    struct th_resp r;
    char path[160];
    for (int i = 0; i < GROUP; i++) {
        snprintf(path, sizeof(path), "/v1/me/consents/%s/withdraw", grants[i]);
        th_req("POST", path, tokens[i], NULL, NULL, &r);
        th_assert_status(&r, 200);
        th_resp_free(&r);
    }
}

/* Ask the study how many Q01 members have MS: the released count, or -1 when suppressed. */
static long ask(const char *token, const char *study, bool *cached)
{
    struct th_resp r;
    char path[128];
    long v = -1;
    snprintf(path, sizeof(path), "/v1/research/studies/%s/queries", study);
    th_reqj("POST", path, token, load(cohort), &r);
    th_assert_status(&r, 200);
    json_t *c = json_object_get(json_array_get(json_object_get(r.json, "results"), 0), "count");
    if (json_is_integer(c))
        v = (long)json_integer_value(c);
    else
        ck_assert_msg(json_is_true(json_object_get(c, "suppressed")), "%s", r.body);
    if (cached)
        *cached = json_is_true(json_object_get(r.json, "cached"));
    th_resp_free(&r);
    return v;
}

static long uses(const char *study)
{
    const char *p[] = {study};
    return th_sql_long("SELECT count(*) FROM data_use WHERE object_id = $1 AND kind = 'study'", 1,
                       p);
}

struct ledger {
    char included[MAX_STUDIES][37], excluded[MAX_STUDIES][37];
    int ni, nx;
};

static void assert_included(struct ledger *l, const char *token, const char *study,
                            const char *what)
{
    long v = ask(token, study, NULL);
    ck_assert_msg(v >= 30 && v <= 50, "%s: 40 members counted as %ld", what, v);
    ck_assert_int_eq(uses(study), GROUP);
    ck_assert_int_lt(l->ni, MAX_STUDIES);
    snprintf(l->included[l->ni++], 37, "%s", study);
}

static void assert_excluded(struct ledger *l, const char *token, const char *study,
                            const char *what)
{
    long v = ask(token, study, NULL);
    ck_assert_msg(v == -1, "%s: excluded members counted as %ld", what, v);
    ck_assert_int_eq(uses(study), 0);
    ck_assert_int_lt(l->nx, MAX_STUDIES);
    snprintf(l->excluded[l->nx++], 37, "%s", study);
}

/* Every member's data-uses list shows every included study and no excluded one. */
static void assert_data_uses(const struct ledger *l)
{
    struct th_resp r;
    for (int i = 0; i < GROUP; i++) {
        th_req("GET", "/v1/me/data-uses?limit=500", tokens[i], NULL, NULL, &r);
        th_assert_status(&r, 200);
        json_t *items = json_object_get(r.json, "items"), *e;
        int seen[MAX_STUDIES] = {0};
        size_t k;
        json_array_foreach(items, k, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            ck_assert_ptr_nonnull(id);
            for (int j = 0; j < l->nx; j++)
                ck_assert_msg(strcmp(id, l->excluded[j]) != 0,
                              "member %d sees a study that did not count them", i);
            for (int j = 0; j < l->ni; j++)
                if (strcmp(id, l->included[j]) == 0) {
                    ck_assert_str_eq(json_string_value(json_object_get(e, "kind")), "study");
                    ck_assert_str_eq(json_string_value(json_object_get(e, "purpose")), "research");
                    seen[j]++;
                }
        }
        for (int j = 0; j < l->ni; j++)
            ck_assert_msg(seen[j] == 1, "member %d sees included study %d %d times", i, j, seen[j]);
        th_resp_free(&r);
    }
}

#define PERMIT_ALL                                                                                 \
    "'effect':'permit','purpose':'research','categories':['demographics','conditions',"            \
    "'symptoms','medications','goals']"

/* ---- tests ---- */

/* Withdrawal: counted, then every member withdraws, and the very next answer (the same query in
 * the same study, so a cached answer would be the easy mistake) no longer counts them. */
START_TEST(withdrawal_just_before_the_query)
{
    char rt[64], before[37], after[37], grants[GROUP][37];
    struct ledger l = {.ni = 0};
    bool cached = true;
    th_account("researcher", rt, NULL);
    approved_study(rt, NULL, false, false, before);
    approved_study(rt, NULL, false, false, after);

    grant_all("{" PERMIT_ALL "}", grants);
    assert_included(&l, rt, before, "before withdrawal");
    withdraw_all(grants);
    long v = ask(rt, before, &cached);
    ck_assert_msg(!cached, "a cached answer outlived the withdrawal");
    ck_assert_msg(v == -1, "withdrawn members counted as %ld", v);
    /* The study keeps the uses it had; the new study gets none. */
    ck_assert_int_eq(uses(before), GROUP);
    assert_excluded(&l, rt, after, "after withdrawal");
    assert_data_uses(&l);
}
END_TEST

/* Expiry: a grant valid for EXPIRY_SECONDS counts while it lasts and not after. */
START_TEST(expired_grants_do_not_count)
{
    char rt[64], during[37], later[37], grants[GROUP][37], body[512], until[32];
    struct ledger l = {.ni = 0};
    th_account("researcher", rt, NULL);
    approved_study(rt, NULL, false, false, during);
    approved_study(rt, NULL, false, false, later);

    time_t end = time(NULL) + EXPIRY_SECONDS;
    struct tm tm;
    gmtime_r(&end, &tm);
    strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(body, sizeof(body), "{" PERMIT_ALL ",'valid_until':'%s'}", until);
    grant_all(body, grants);
    assert_included(&l, rt, during, "before expiry");
    ck_assert_msg(time(NULL) < end, "too slow: the grants expired before the first query");
    while (time(NULL) <= end + 1)
        sleep(1);
    assert_excluded(&l, rt, later, "after expiry");
    assert_data_uses(&l);
}
END_TEST

struct way {
    const char *name;
    const char *grant;          /* the body every member gives */
    const char *excluded_focus; /* the excluding study: NULL general, else its conditions */
    bool excluded_commercial, excluded_for_profit;
    bool has_included; /* a study the same grant covers exists: */
    const char *included_focus;
    bool included_commercial, included_for_profit;
};

START_TEST(restrictions_exclude)
{
    static const struct way ways[] = {
        {"purpose trial_recruitment",
         "{'effect':'permit','purpose':'trial_recruitment','categories':['demographics',"
         "'conditions','symptoms','medications','goals']}",
         NULL, false, false, false, NULL, false, false},
        {"purpose community",
         "{'effect':'permit','purpose':'community','categories':['demographics','conditions']}",
         NULL, false, false, false, NULL, false, false},
        {"disease-specific permit, another disease",
         "{" PERMIT_ALL ",'restrictions':{'conditions':['type_2_diabetes']}}",
         "['multiple_sclerosis']", false, false, true, "['type_2_diabetes']", false, false},
        {"disease-specific permit, general question",
         "{" PERMIT_ALL ",'restrictions':{'conditions':['multiple_sclerosis']}}", NULL, false,
         false, true, "['multiple_sclerosis']", false, false},
        {"non-commercial permit, commercial study",
         "{" PERMIT_ALL ",'restrictions':{'non_commercial':true}}", NULL, true, false, true, NULL,
         false, true},
        {"not-for-profit-only permit, for-profit organisation",
         "{" PERMIT_ALL ",'restrictions':{'not_for_profit_only':true}}", NULL, false, true, true,
         NULL, true, false},
    };
    char rt[64], grants[GROUP][37], deny[GROUP][37], study[37];
    struct ledger l = {.ni = 0};
    th_account("researcher", rt, NULL);

    for (size_t w = 0; w < NELEM(ways); w++) {
        grant_all(ways[w].grant, grants);
        if (ways[w].has_included) {
            approved_study(rt, ways[w].included_focus, ways[w].included_commercial,
                           ways[w].included_for_profit, study);
            assert_included(&l, rt, study, ways[w].name);
        }
        approved_study(rt, ways[w].excluded_focus, ways[w].excluded_commercial,
                       ways[w].excluded_for_profit, study);
        assert_excluded(&l, rt, study, ways[w].name);
        withdraw_all(grants);
    }

    /* A deny of one needed category wins over a permit of all of them. */
    grant_all("{" PERMIT_ALL "}", grants);
    approved_study(rt, NULL, false, false, study);
    assert_included(&l, rt, study, "permit before the deny");
    grant_all("{'effect':'deny','purpose':'research','categories':['conditions']}", deny);
    approved_study(rt, NULL, false, false, study);
    assert_excluded(&l, rt, study, "deny");
    withdraw_all(deny);
    withdraw_all(grants);
    assert_data_uses(&l);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("consent_filter");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 300);
    /* The group is made once, in the runner, before the tests fork. */
    tcase_add_unchecked_fixture(tc, make_group, NULL);
    tcase_add_test(tc, withdrawal_just_before_the_query);
    tcase_add_test(tc, expired_grants_do_not_count);
    tcase_add_test(tc, restrictions_exclude);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
