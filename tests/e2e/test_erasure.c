/* End-to-end: erasure (DELETE /v1/me). A member with rows in every member-owned table is erased;
 * every table of the public schema with a member_id column (found in information_schema, so a table
 * added later is covered too) then holds none of the member's rows, another member's rows are
 * untouched, the audit trail keeps its rows about the member (and no health data), and the old
 * token is dead. A wrong password deletes nothing and is throttled. The checks schema 0030 moved
 * from foreign keys to statement-level triggers (the feed's cascade, the catalog lookup) hold
 * as the keys did, under a concurrent erasure too. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TABLES 64

/* The string at key of r's JSON, or "" (borrowed). */
static const char *s_get(const struct th_resp *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r->json, key));
    return s ? s : "";
}

static void post(const char *token, const char *path, const char *body, const char *const *headers,
                 long want, char id_out[37])
{
    struct th_resp r;
    th_req("POST", path, token, body, headers, &r);
    ck_assert_msg(r.status == want, "POST %s: status %ld, want %ld; body: %s", path, r.status, want,
                  r.body);
    if (id_out)
        snprintf(id_out, 37, "%s", s_get(&r, "id"));
    th_resp_free(&r);
}

static void sql(const char *q, int n, const char *const *params)
{
    PGconn *c = th_db();
    PGresult *r = PQexecParams(c, q, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Every base table of the public schema with a member_id column. Returns the count. */
static int member_tables(char names[MAX_TABLES][64])
{
    PGconn *c = th_db();
    PGresult *r = PQexec(c, "SELECT c.table_name FROM information_schema.columns c "
                            "JOIN information_schema.tables t USING (table_schema, table_name) "
                            "WHERE c.table_schema = 'public' AND c.column_name = 'member_id' "
                            "AND t.table_type = 'BASE TABLE' ORDER BY 1");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = PQntuples(r);
    ck_assert_int_le(n, MAX_TABLES);
    for (int i = 0; i < n; i++)
        snprintf(names[i], 64, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    PQfinish(c);
    return n;
}

static long rows_of(const char *table, const char *member)
{
    char q[256];
    /* The name comes from information_schema, quoted as an identifier. */
    snprintf(q, sizeof(q), "SELECT count(*) FROM \"%s\" WHERE member_id = $1", table);
    const char *p[] = {member};
    return th_sql_long(q, 1, p);
}

/* Data in every member-owned table, through the API where it has an endpoint, else as superuser.
 * marker is put into free-text fields so leaks can be searched for. */
static void fill_member(const char *token, const char *id, const char *marker)
{
    char body[2048], path[256], med[37], goal[37], expires[16], coordinator[37], tok[64], trial[37];
    const char *idem[] = {"Idempotency-Key: erase-test-1", NULL};
    struct th_resp r;

    th_req("PUT", "/v1/me/profile", token,
           "{\"birth_year\":1970,\"sex_at_birth\":\"female\",\"country\":\"GB\",\"timezone\":"
           "\"Europe/London\"}",
           NULL, &r);
    th_assert_status(&r, 201); /* created */
    th_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"condition\":{\"custom\":\"Condition %s\"},\"diagnosed_on\":\"2015\"}", marker);
    post(token, "/v1/me/conditions", body, NULL, 201, NULL);
    /* A catalog condition too: its facts row has a per-condition copy (schema 0024). */
    post(token, "/v1/me/conditions", "{\"condition\":\"asthma\",\"diagnosed_on\":\"2016\"}", NULL,
         201, NULL);
    snprintf(body, sizeof(body),
             "{\"symptom\":\"fatigue\",\"severity\":4,\"recorded_at\":\"2024-01-01T10:00:00Z\","
             "\"note\":\"%s\"}",
             marker);
    post(token, "/v1/me/symptoms", body, idem, 201, NULL);
    post(token, "/v1/me/medications",
         "{\"medication\":\"metformin\",\"dose_amount\":500,\"dose_unit\":\"mg\",\"frequency\":{"
         "\"times_per_day\":2},"
         "\"started_on\":\"2020-01-01\"}",
         NULL, 201, med);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", med);
    post(token, path,
         "{\"scheduled_at\":\"2024-01-01T08:00:00Z\",\"taken_at\":\"2024-01-01T08:05:00Z\","
         "\"status\":\"taken\"}",
         NULL, 201, NULL);
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", med);
    post(token, path,
         "{\"evaluated_on\":\"2024-01-10\",\"effectiveness\":\"moderate\",\"side_effects\":[{"
         "\"symptom\":\"nausea\","
         "\"severity\":\"mild\"}],\"adherence\":\"usually\",\"burden\":\"slight\"}",
         NULL, 201, NULL);
    snprintf(body, sizeof(body),
             "{\"title\":\"Goal "
             "%s\",\"kind\":\"custom\",\"target_value\":10,\"direction\":\"increase\"}",
             marker);
    post(token, "/v1/me/goals", body, NULL, 201, goal);
    snprintf(path, sizeof(path), "/v1/me/goals/%s/progress", goal);
    post(token, path, "{\"value\":3,\"recorded_at\":\"2024-01-02T00:00:00Z\"}", NULL, 201, NULL);
    post(token, "/v1/me/consents",
         "{\"effect\":\"permit\",\"purpose\":\"research\",\"categories\":[\"conditions\"]}", NULL,
         201, NULL);
    time_t t = time(NULL) + 30 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(expires, sizeof(expires), "%Y-%m-%d", &tm);
    snprintf(body, sizeof(body),
             "{\"categories\":[\"conditions\"],\"expires_at\":\"%s\",\"label\":\"Doctor\"}",
             expires);
    post(token, "/v1/me/shares", body, NULL, 201, NULL);
    post(token, "/v1/me/import/fhir",
         "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{"
         "\"resourceType\":"
         "\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
         "\"http://snomed.info/"
         "sct\",\"code\":\"25064002\"}]},\"effectiveDateTime\":\"2024-03-01T10:00:00Z\","
         "\"valueInteger\":2}}]}",
         NULL, 200, NULL);

    /* No endpoint writes these directly: data uses come from released research, invitations from a
     * coordinator's recruitment run. */
    const char *p1[] = {id};
    sql("INSERT INTO data_use (member_id, kind, object_id, title, purpose, categories) "
        "VALUES ($1, 'study', gen_random_uuid(), 'A study', 'research', 2)",
        1, p1);
    th_account("coordinator", tok, coordinator);
    const char *p2[] = {coordinator};
    PGconn *c = th_db();
    PGresult *res =
        PQexecParams(c,
                     "INSERT INTO trial (coordinator_id, title, sponsor, commercial, "
                     "organisation_for_profit, inclusion, categories) "
                     "VALUES ($1, 'A trial', 'A sponsor', false, false, '{}', 2) RETURNING id",
                     1, NULL, p2, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "trial: %s", PQerrorMessage(c));
    snprintf(trial, sizeof(trial), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    const char *p3[] = {id, trial};
    sql("INSERT INTO trial_invitation (member_id, trial_id) VALUES ($1, $2)", 2, p3);
}

static void erase(const char *token, const char *body, struct th_resp *r)
{
    th_req("DELETE", "/v1/me", token, body, NULL, r);
}

START_TEST(erase_removes_every_member_row)
{
    char a_tok[64], a_id[37], b_tok[64], b_id[37], email[256], admin[64];
    char tables[MAX_TABLES][64];
    long b_before[MAX_TABLES];
    struct th_resp r;

    th_account("member", a_tok, a_id);
    th_account("member", b_tok, b_id);
    fill_member(a_tok, a_id, "zq-marker-a");
    fill_member(b_tok, b_id, "zq-marker-b");
    const char *pa[] = {a_id};
    PGconn *c = th_db();
    PGresult *res =
        PQexecParams(c, "SELECT email FROM account WHERE id = $1", 1, NULL, pa, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(res), 1);
    snprintf(email, sizeof(email), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);

    int n = member_tables(tables);
    ck_assert_int_ge(n, 18);
    for (int i = 0; i < n; i++) {
        long a = rows_of(tables[i], a_id);
        ck_assert_msg(a > 0,
                      "table %s holds no rows of the member before erasure: extend fill_member()",
                      tables[i]);
        b_before[i] = rows_of(tables[i], b_id);
        ck_assert_int_eq(b_before[i], a);
    }
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM session WHERE account_id = $1", 1, pa), 1);
    bool audit =
        th_sql_long("SELECT count(*) FROM pg_class WHERE relname = 'audit_log'", 0, NULL) == 1;
    long audit_before =
        audit ? th_sql_long("SELECT count(*) FROM audit_log WHERE actor_id = $1", 1, pa) : 0;

    char body[128];
    snprintf(body, sizeof(body), "{\"password\":\"%s\"}", TH_PASSWORD);
    erase(a_tok, body, &r);
    th_assert_status(&r, 204);
    ck_assert_uint_eq(r.len, 0);
    th_resp_free(&r);

    for (int i = 0; i < n; i++) {
        ck_assert_msg(rows_of(tables[i], a_id) == 0,
                      "table %s still holds rows of the erased member", tables[i]);
        ck_assert_msg(rows_of(tables[i], b_id) == b_before[i],
                      "table %s lost rows of another member", tables[i]);
    }
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE id = $1", 1, pa), 0);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM session WHERE account_id = $1", 1, pa), 0);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM auth_throttle WHERE key = 'erase:' || $1", 1, pa), 0);

    if (audit) {
        /* The member's audit rows stay, plus the erasure itself; none holds health data or the
         * email. */
        ck_assert_int_eq(th_sql_long("SELECT count(*) FROM audit_log WHERE actor_id = $1", 1, pa),
                         audit_before + 1);
        ck_assert_int_eq(
            th_sql_long(
                "SELECT count(*) FROM audit_log WHERE action = 'account.erase' "
                "AND object_type = 'account' AND object_id = $1::text AND actor_id = $1::uuid "
                "AND actor_role = 'member' AND details IS NULL",
                1, pa),
            1);
        const char *pm[] = {a_id, "%zq-marker%", email};
        ck_assert_int_eq(
            th_sql_long(
                "SELECT count(*) FROM audit_log a WHERE (actor_id = $1::uuid OR object_id = "
                "$1::text) "
                "AND (row_to_json(a)::text LIKE $2 OR row_to_json(a)::text LIKE '%' || $3 || '%' "
                "OR row_to_json(a)::text LIKE '%metformin%' OR row_to_json(a)::text LIKE "
                "'%fatigue%')",
                3, pm),
            0);
        /* The chain still verifies. */
        th_account("admin", admin, NULL);
        th_req("GET", "/v1/admin/audit/verify", admin, NULL, NULL, &r);
        th_assert_status(&r, 200);
        ck_assert_msg(json_is_true(json_object_get(r.json, "ok")), "audit chain broken: %s",
                      r.body);
        th_resp_free(&r);
    }

    /* The old token is dead; the other member is unaffected. */
    th_req("GET", "/v1/me", a_tok, NULL, NULL, &r);
    th_assert_status(&r, 401);
    th_resp_free(&r);
    th_req("GET", "/v1/me/export/fhir", b_tok, NULL, NULL, &r);
    th_assert_status(&r, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "zq-marker-b"));
    th_resp_free(&r);
    /* The email is free again. */
    th_reqj("POST", "/v1/auth/register", NULL,
            json_pack("{s:s, s:s, s:s}", "email", email, "password", "a new password",
                      "display_name", "New"),
            &r);
    th_assert_status(&r, 201);
    ck_assert_str_ne(s_get(&r, "id"), a_id);
    th_resp_free(&r);
}
END_TEST

START_TEST(erase_refusals_delete_nothing)
{
    char tok[64], id[37];
    char tables[MAX_TABLES][64];
    long before[MAX_TABLES];
    struct th_resp r;

    th_account("member", tok, id);
    fill_member(tok, id, "zq-marker-c");
    int n = member_tables(tables);
    for (int i = 0; i < n; i++)
        before[i] = rows_of(tables[i], id);

    erase(tok, "{\"password\":\"not the password\"}", &r);
    th_assert_status(&r, 403);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "errors"), 0), "field")),
                     "password");
    th_resp_free(&r);
    static const char *const bad[] = {NULL, "{}", "{\"password\":\"\"}", "{\"password\":42}",
                                      "{\"password\":\"" TH_PASSWORD "\",\"confirm\":true}"};
    static const char *const field[] = {"password", "password", "password", "password", "confirm"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        erase(tok, bad[i], &r);
        th_assert_status(&r, 422);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(r.json, "errors"), 0), "field")),
                         field[i]);
        th_resp_free(&r);
    }
    erase(tok, "not json", &r);
    th_assert_status(&r, 400);
    th_resp_free(&r);

    for (int i = 0; i < n; i++)
        ck_assert_msg(rows_of(tables[i], id) == before[i],
                      "table %s changed after a refused erasure", tables[i]);
    const char *p[] = {id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE id = $1", 1, p), 1);
    th_req("GET", "/v1/me", tok, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_resp_free(&r);

    /* Only members erase themselves this way. */
    char staff[64], staff_id[37];
    th_account("researcher", staff, staff_id);
    erase(staff, "{\"password\":\"" TH_PASSWORD "\"}", &r);
    th_assert_status(&r, 403);
    th_resp_free(&r);
    const char *ps[] = {staff_id};
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE id = $1", 1, ps), 1);
    erase(NULL, "{\"password\":\"" TH_PASSWORD "\"}", &r);
    th_assert_status(&r, 401);
    th_resp_free(&r);
}
END_TEST

START_TEST(erase_wrong_passwords_are_throttled)
{
    char tok[64], id[37], after[32];
    struct th_resp r;
    th_account("member", tok, id);
    const char *p[] = {id};
    /* The sign-in budget: 5 failures per window (the default configuration). */
    for (int i = 0; i < 5; i++) {
        erase(tok, "{\"password\":\"guess guess\"}", &r);
        th_assert_status(&r, 403);
        th_resp_free(&r);
    }
    erase(tok, "{\"password\":\"" TH_PASSWORD "\"}", &r);
    th_assert_status(&r, 429);
    ck_assert_ptr_nonnull(th_header(&r, "Retry-After", after, sizeof(after)));
    ck_assert_int_gt(atoi(after), 0);
    ck_assert_int_le(atoi(after), 900);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE id = $1", 1, p), 1);
    ck_assert_int_eq(
        th_sql_long("SELECT failures FROM auth_throttle WHERE key = 'erase:' || $1", 1, p), 5);

    /* Once the window has passed, the right password erases. */
    sql("UPDATE auth_throttle SET window_start = now() - interval '1 day' WHERE key = 'erase:' || "
        "$1",
        1, p);
    erase(tok, "{\"password\":\"" TH_PASSWORD "\"}", &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM account WHERE id = $1", 1, p), 0);
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM auth_throttle WHERE key = 'erase:' || $1", 1, p), 0);
}
END_TEST

/* The SQLSTATE of running q on c, written to out and returned ("" on success). */
static const char *state_of(PGconn *c, const char *q, int n, const char *const *params, char out[6])
{
    PGresult *r = PQexecParams(c, q, n, NULL, params, NULL, NULL, 0);
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(out, 6, "%s", s ? s : "");
    PQclear(r);
    return out;
}

/* c's statement sent with PQsendQueryParams is waiting on a lock (within 5 s). */
static bool waits_on_lock(PGconn *c)
{
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(c));
    const char *pp[] = {pid};
    for (int i = 0; i < 200; i++) {
        if (th_sql_long("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND "
                        "wait_event_type = 'Lock'",
                        1, pp) == 1)
            return true;
        nanosleep(&(struct timespec){0, 25000000}, NULL);
    }
    return false;
}

/* An entry written while the account is being erased either fails or goes with it, feed row and
 * all: change_log has no foreign key since 0030, only the erasure trigger. */
START_TEST(feed_goes_with_a_concurrently_erased_account)
{
    char tok[64], id[37], st[6];
    th_account("member", tok, id);
    const char *p[] = {id};
    const char *ins = "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
                      "VALUES ($1, 'fatigue', 3, now())";
    PGconn *x = th_db(), *y = th_db();

    /* The writer first: the erasure waits for it, then removes its entry and feed row. */
    PQclear(PQexec(x, "BEGIN"));
    ck_assert_str_eq(state_of(x, ins, 1, p, st), "");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM change_log WHERE member_id = $1", 1, p), 0);
    ck_assert_int_eq(
        PQsendQueryParams(y, "DELETE FROM account WHERE id = $1", 1, NULL, p, NULL, NULL, 0), 1);
    ck_assert_msg(waits_on_lock(y), "the erasure did not wait for the writer");
    ck_assert_str_eq(state_of(x, "COMMIT", 0, NULL, st), "");
    PGresult *r = PQgetResult(y);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(y));
    ck_assert_str_eq(PQcmdTuples(r), "1");
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(y));
    static const char *const left[] = {
        "SELECT count(*) FROM change_log WHERE member_id = $1",
        "SELECT count(*) FROM symptom_entry WHERE member_id = $1",
        "SELECT count(*) FROM symptom_day WHERE member_id = $1",
        "SELECT count(*) FROM symptom_week WHERE member_id = $1",
    };
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
        ck_assert_msg(th_sql_long(left[i], 1, p) == 0, "%s: %ld", left[i],
                      th_sql_long(left[i], 1, p));

    /* The erasure first: the writer waits for it, then fails as the foreign key always made it. */
    th_account("member", tok, id);
    PQclear(PQexec(y, "BEGIN"));
    ck_assert_str_eq(state_of(y, "DELETE FROM account WHERE id = $1", 1, p, st), "");
    ck_assert_int_eq(PQsendQueryParams(x, ins, 1, NULL, p, NULL, NULL, 0), 1);
    ck_assert_msg(waits_on_lock(x), "the writer did not wait for the erasure");
    ck_assert_str_eq(state_of(y, "COMMIT", 0, NULL, st), "");
    r = PQgetResult(x);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23503");
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(x));
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
        ck_assert_int_eq(th_sql_long(left[i], 1, p), 0);

    /* A delete's feed row is written while the account exists, and only then. */
    th_account("member", tok, id);
    ck_assert_str_eq(state_of(x, ins, 1, p, st), "");
    ck_assert_str_eq(state_of(x, "DELETE FROM symptom_entry WHERE member_id = $1", 1, p, st), "");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM change_log WHERE member_id = $1 AND "
                                 "resource = 'symptom' AND op = 'delete'",
                                 1, p),
                     1);
    ck_assert_str_eq(state_of(x, ins, 1, p, st), "");
    ck_assert_str_eq(state_of(x, "DELETE FROM account WHERE id = $1", 1, p, st), "");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM change_log WHERE member_id = $1", 1, p), 0);
    PQfinish(x);
    PQfinish(y);
}
END_TEST

/* An update of the member's one nausea entry (p[0]) fails with the foreign key's SQLSTATE and
 * leaves the entry as it was. */
static void nausea_update_refused(PGconn *c, const char *set, const char *const *p)
{
    char sql[256], st[6];
    snprintf(sql, sizeof(sql),
             "UPDATE symptom_entry %s WHERE member_id = $1 AND symptom_id = 'nausea'", set);
    ck_assert_str_eq(state_of(c, sql, 1, p, st), "23503");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_entry WHERE member_id = $1 AND "
                                 "symptom_id = 'nausea'",
                                 1, p),
                     1);
}

/* symptom_entry's catalog reference, checked once per statement since 0030 (its account since
 * 0036): an unknown id fails the whole statement with the foreign key's SQLSTATE, on insert and on
 * update; catalog ids cannot be removed or renamed, so an entry's id can never dangle. */
START_TEST(catalog_ids_checked_per_statement)
{
    char tok[64], id[37], st[6];
    th_account("member", tok, id);
    const char *p[] = {id};
    PGconn *c = th_db();
    ck_assert_str_eq(
        state_of(c,
                 "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
                 "SELECT $1, s, 2, now() FROM unnest(ARRAY['fatigue', 'no-such-symptom', "
                 "'nausea']) s",
                 1, p, st),
        "23503");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_entry WHERE member_id = $1", 1, p),
                     0);
    ck_assert_str_eq(state_of(c,
                              "INSERT INTO symptom_entry (member_id, symptom_id, severity, "
                              "recorded_at) SELECT $1, s, 2, now() FROM unnest(ARRAY['fatigue', "
                              "'nausea', 'fatigue']) s",
                              1, p, st),
                     "");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_entry WHERE member_id = $1", 1, p),
                     3);
    nausea_update_refused(c, "SET symptom_id = 'no-such-symptom'", p);
    /* The account is checked per statement too (0036): one entry of a member that is no account
     * fails the statement, the owner's entries with it. */
    ck_assert_str_eq(
        state_of(c,
                 "INSERT INTO symptom_entry (member_id, symptom_id, severity, "
                 "recorded_at) SELECT m, 'fatigue', 2, now() FROM unnest(ARRAY[$1::uuid, "
                 "$1::uuid, gen_random_uuid()]) m",
                 1, p, st),
        "23503");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_entry WHERE member_id = $1", 1, p),
                     3);
    nausea_update_refused(c, "SET member_id = gen_random_uuid()", p);
    ck_assert_str_eq(state_of(c, "DELETE FROM catalog_symptom WHERE id = 'nausea'", 0, NULL, st),
                     "23503");
    ck_assert_str_eq(
        state_of(c, "UPDATE catalog_symptom SET id = 'nausea2' WHERE id = 'nausea'", 0, NULL, st),
        "23503");
    ck_assert_str_eq(state_of(c, "TRUNCATE catalog_symptom CASCADE", 0, NULL, st), "23503");
    /* The rollups' code of a symptom (0034) is as permanent as its id, and a new one gets a code
     * of its own. */
    long code = th_sql_long("SELECT symptom_code('nausea')", 0, NULL);
    ck_assert_int_gt(code, 0);
    ck_assert_str_eq(state_of(c,
                              "UPDATE catalog_symptom SET code = code + 1000 WHERE id = 'nausea'",
                              0, NULL, st),
                     "23503");
    ck_assert_str_eq(
        state_of(c, "UPDATE catalog_symptom SET code = DEFAULT WHERE id = 'nausea'", 0, NULL, st),
        "23503");
    ck_assert_int_eq(th_sql_long("SELECT symptom_code('nausea')", 0, NULL), code);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM symptom_day d JOIN catalog_symptom c ON "
                                 "c.code = d.sym WHERE d.member_id = $1 AND c.id = 'nausea'",
                                 1, p),
                     1);
    /* In a transaction rolled back, so that the catalog the other tests see is unchanged. */
    ck_assert_str_eq(state_of(c, "BEGIN", 0, NULL, st), "");
    ck_assert_str_eq(state_of(c,
                              "INSERT INTO catalog_symptom (id, name, snomed) VALUES "
                              "('zz_test_symptom', 'ZZ test symptom', '999999001')",
                              0, NULL, st),
                     "");
    PGresult *r = PQexec(c, "SELECT count(*) FROM catalog_symptom WHERE id = 'zz_test_symptom' AND "
                            "code NOT IN (SELECT code FROM catalog_symptom WHERE id <> "
                            "'zz_test_symptom')");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    ck_assert_str_eq(state_of(c, "ROLLBACK", 0, NULL, st), "");
    /* Other columns may change. */
    ck_assert_str_eq(
        state_of(c, "UPDATE catalog_symptom SET name = name WHERE id = 'nausea'", 0, NULL, st), "");
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM catalog_symptom WHERE id = 'nausea'", 0, NULL), 1);
    PQfinish(c);
}
END_TEST

START_TEST(server_log_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, TH_PASSWORD));
    ck_assert_ptr_null(strstr(log, "guess guess"));
    ck_assert_ptr_null(strstr(log, "zq-marker"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("erasure");
    TCase *tc = tcase_create("erasure");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, erase_removes_every_member_row);
    tcase_add_test(tc, erase_refusals_delete_nothing);
    tcase_add_test(tc, erase_wrong_passwords_are_throttled);
    tcase_add_test(tc, feed_goes_with_a_concurrently_erased_account);
    tcase_add_test(tc, catalog_ids_checked_per_statement);
    tcase_add_test(tc, server_log_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
