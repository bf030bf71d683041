/* End-to-end: batch writes (all-or-nothing, 1000 items, idempotent) and the changes feed across two
 * devices, against the real server and a real PostgreSQL. */
#include "harness.h"
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers (as in test_record.c) ---- */

static const char *S(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void assert_fields(const struct th_resp *r, const char *const *fields)
{
    th_assert_status(r, 422);
    json_t *errs = json_object_get(r->json, "errors"), *e;
    size_t n = 0, i;
    while (fields[n])
        n++;
    ck_assert_msg(json_array_size(errs) == n, "want %zu errors, got: %s", n, r->body);
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        json_array_foreach(errs, i, e) found = found || strcmp(S(e, "field"), fields[k]) == 0;
        ck_assert_msg(found, "no error names %s: %s", fields[k], r->body);
    }
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void bad(const char *method, const char *path, const char *token, json_t *body,
                const char *const *fields)
{
    struct th_resp r;
    th_reqj(method, path, token, body, &r);
    assert_fields(&r, fields);
    th_resp_free(&r);
}

static long count_for(const char *table, const char *member)
{
    char sql[256];
    const char *p[] = {member};
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE member_id = $1", table);
    return th_sql_long(sql, 1, p);
}

static void iso(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A member with one medication and one goal to hang doses and progress on. */
struct fixture {
    char tok[64], me[37], med[37], goal[37];
};

static void fixture(struct fixture *f)
{
    th_account("member", f->tok, f->me);
    json_t *m =
        th_must(201, "POST", "/v1/me/medications", f->tok,
                th_json("{'medication': 'metformin', 'dose_amount': 500, 'dose_unit': 'mg', "
                        "'frequency': {'times_per_day': 2}, 'started_on': '2024-01-01'}"));
    json_t *g =
        th_must(201, "POST", "/v1/me/goals", f->tok,
                th_json("{'title': 'Less fatigue', 'kind': 'symptom_target', 'symptom': 'fatigue', "
                        "'target_value': 2, 'direction': 'decrease'}"));
    snprintf(f->med, sizeof(f->med), "%s", S(m, "id"));
    snprintf(f->goal, sizeof(f->goal), "%s", S(g, "id"));
    json_decref(m);
    json_decref(g);
}

/* Ten valid items: symptoms, doses and progress in turn. */
static json_t *ten_items(const struct fixture *f)
{
    json_t *items = json_array();
    for (int i = 0; i < 10; i++) {
        char at[32];
        iso(1735689600 + i * 600, at);
        json_t *it;
        if (i % 3 == 0)
            it = json_pack("{s:s, s:s, s:i, s:s, s:[s]}", "type", "symptom", "symptom", "fatigue",
                           "severity", i % 11, "recorded_at", at, "triggers", "heat");
        else if (i % 3 == 1)
            it = json_pack("{s:s, s:s, s:s, s:s}", "type", "dose", "medication_id", f->med,
                           "status", "taken", "taken_at", at);
        else
            it = json_pack("{s:s, s:s, s:f, s:s}", "type", "progress", "goal_id", f->goal, "value",
                           10.0 - i, "recorded_at", at);
        json_array_append_new(items, it);
    }
    return items;
}

/* ---- batch ---- */

START_TEST(batch_all_or_nothing)
{
    struct fixture f;
    fixture(&f);
    long log0 = count_for("change_log", f.me);

    /* One bad item among ten (items[7] is a dose in ten_items; make it a symptom with severity 11).
     */
    json_t *items = ten_items(&f);
    json_array_set_new(
        items, 7,
        th_json("{'type': 'symptom', 'symptom': {'custom': 'Never stored'}, 'severity': 11, "
                "'recorded_at': '2025-01-01T00:00:00Z'}"));
    bad("POST", "/v1/me/batch", f.tok, json_pack("{s:o}", "items", items),
        FIELDS("items[7].severity"));
    ck_assert_int_eq(count_for("symptom_entry", f.me), 0);
    ck_assert_int_eq(count_for("medication_dose", f.me), 0);
    ck_assert_int_eq(count_for("goal_progress", f.me), 0);
    ck_assert_int_eq(count_for("custom_item", f.me), 0);
    ck_assert_int_eq(count_for("change_log", f.me), log0);

    /* Several bad items: each named by its index and field. */
    items = ten_items(&f);
    json_object_set_new(json_array_get(items, 2), "recorded_at", json_string("yesterday"));
    json_object_set_new(json_array_get(items, 4), "status", json_string("forgot"));
    json_object_set_new(json_array_get(items, 4), "medication_id",
                        json_string("6f1c2b7e-0000-4000-8000-000000000000"));
    json_object_set_new(json_array_get(items, 5), "goal_id", json_string("not-a-goal"));
    json_object_set_new(json_array_get(items, 6), "mood", json_string("fine"));
    json_object_set_new(json_array_get(items, 6), "symptom", json_string("no_such_symptom"));
    json_array_append_new(items, json_integer(3));
    json_array_append_new(items, th_json("{'type': 'meal'}"));
    json_array_append_new(
        items, th_json("{'type': 'dose', 'taken_at': '2025-01-01T00:00:00Z', 'status': 'taken'}"));
    bad("POST", "/v1/me/batch", f.tok, json_pack("{s:o}", "items", items),
        FIELDS("items[2].recorded_at", "items[4].status", "items[4].medication_id",
               "items[5].goal_id", "items[6].mood", "items[6].symptom", "items[10]",
               "items[11].type", "items[12].medication_id"));
    ck_assert_int_eq(count_for("change_log", f.me), log0);

    /* An item may carry its own type's parent key only. */
    bad("POST", "/v1/me/batch", f.tok,
        th_json(
            "{'items': [{'type': 'symptom', 'symptom': 'fatigue', 'severity': 2, "
            "'recorded_at': '2025-01-01T00:00:00Z', 'medication_id': "
            "'6f1c2b7e-0000-4000-8000-000000000000'}, {'type': 'progress', 'goal_id': "
            "'6f1c2b7e-0000-4000-8000-000000000001', 'value': 1, 'recorded_at': "
            "'2025-01-01T00:00:00Z', 'medication_id': '6f1c2b7e-0000-4000-8000-000000000000'}]}"),
        FIELDS("items[0].medication_id", "items[1].goal_id", "items[1].medication_id"));
    ck_assert_int_eq(count_for("change_log", f.me), log0);

    /* The envelope. */
    bad("POST", "/v1/me/batch", f.tok, th_json("{'items': []}"), FIELDS("items"));
    bad("POST", "/v1/me/batch", f.tok, th_json("{'items': {}}"), FIELDS("items"));
    bad("POST", "/v1/me/batch", f.tok, th_json("{'items': [], 'also': 1}"),
        FIELDS("also", "items"));
    items = json_array();
    for (int i = 0; i < 1001; i++)
        json_array_append_new(items, th_json("{'type': 'symptom'}"));
    bad("POST", "/v1/me/batch", f.tok, json_pack("{s:o}", "items", items), FIELDS("items"));
    ck_assert_int_eq(count_for("change_log", f.me), log0);
}
END_TEST

START_TEST(batch_mixed_in_order)
{
    struct fixture f;
    char path[256];
    fixture(&f);
    json_t *items = ten_items(&f);
    /* Two custom names differing in case: one item. */
    json_array_append_new(
        items, th_json("{'type': 'symptom', 'symptom': {'custom': 'Pins and needles'}, "
                       "'severity_label': 'moderate', 'recorded_at': '2025-01-02T00:00:00Z'}"));
    json_array_append_new(
        items, th_json("{'type': 'symptom', 'symptom': {'custom': 'PINS AND NEEDLES'}, "
                       "'severity': 1, 'recorded_at': '2025-01-02T01:00:00+01:00', 'note': 'n'}"));
    json_t *res = th_must(201, "POST", "/v1/me/batch", f.tok, json_pack("{s:O}", "items", items));
    json_t *ids = json_object_get(res, "ids");
    ck_assert_uint_eq(json_array_size(ids), 12);
    for (size_t i = 0; i < 12; i++) {
        json_t *it = json_array_get(items, i);
        const char *type = S(it, "type"), *id = json_string_value(json_array_get(ids, i));
        if (strcmp(type, "symptom") == 0)
            snprintf(path, sizeof(path), "/v1/me/symptoms/%s", id);
        else if (strcmp(type, "dose") == 0)
            snprintf(path, sizeof(path), "/v1/me/medications/%s/doses/%s", f.med, id);
        else
            snprintf(path, sizeof(path), "/v1/me/goals/%s/progress/%s", f.goal, id);
        json_t *g = th_must(200, "GET", path, f.tok, NULL);
        ck_assert_str_eq(S(g, "id"), id);
        if (strcmp(type, "symptom") == 0 && i < 10) {
            ck_assert_str_eq(S(g, "symptom"), "fatigue");
            ck_assert_int_eq(json_integer_value(json_object_get(g, "severity")),
                             (long long)(i % 11));
            ck_assert_str_eq(S(g, "recorded_at"), S(it, "recorded_at"));
            ck_assert_str_eq(json_string_value(json_array_get(json_object_get(g, "triggers"), 0)),
                             "heat");
        } else if (strcmp(type, "dose") == 0) {
            ck_assert_str_eq(S(g, "medication_id"), f.med);
            ck_assert_str_eq(S(g, "taken_at"), S(it, "taken_at"));
            ck_assert_str_eq(S(g, "status"), "taken");
        } else if (strcmp(type, "progress") == 0) {
            ck_assert_str_eq(S(g, "goal_id"), f.goal);
            ck_assert(json_number_value(json_object_get(g, "value")) == 10.0 - (double)i);
        }
        if (i == 10) {
            ck_assert_str_eq(S(json_object_get(g, "symptom"), "custom"), "Pins and needles");
            ck_assert_int_eq(json_integer_value(json_object_get(g, "severity")), 5);
        }
        if (i == 11) {
            ck_assert_str_eq(S(json_object_get(g, "symptom"), "custom"), "Pins and needles");
            ck_assert_str_eq(S(g, "recorded_at"), "2025-01-02T00:00:00Z");
            ck_assert_str_eq(S(g, "note"), "n");
        }
        json_decref(g);
    }
    ck_assert_int_eq(count_for("symptom_entry", f.me), 6);
    ck_assert_int_eq(count_for("medication_dose", f.me), 3);
    ck_assert_int_eq(count_for("goal_progress", f.me), 3);
    ck_assert_int_eq(count_for("custom_item", f.me), 1);
    json_decref(res);
    json_decref(items);
}
END_TEST

START_TEST(batch_thousand_and_idempotent)
{
    struct fixture f;
    char key[128], auth[128];
    fixture(&f);
    /* Long progress notes take the body past the default 1 MiB limit, within the batch's 4 MiB. */
    char long_note[1801];
    memset(long_note, 'p', 1800);
    long_note[1800] = '\0';
    char batch_note[1600] = "batch";
    memset(batch_note + 5, 'q', 1500);
    batch_note[1505] = '\0';
    json_t *items = json_array();
    for (int i = 0; i < 1000; i++) {
        char at[32];
        iso(1735689600 + i * 60, at);
        if (i % 4 == 0)
            json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s}", "type", "dose",
                                                   "medication_id", f.med, "status",
                                                   i % 8 ? "taken" : "missed", "scheduled_at", at));
        else if (i % 4 == 1)
            json_array_append_new(items, json_pack("{s:s, s:s, s:f, s:s, s:s}", "type", "progress",
                                                   "goal_id", f.goal, "value", (double)(i % 10),
                                                   "recorded_at", at, "note", long_note));
        else
            json_array_append_new(items,
                                  json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "symptom",
                                            "symptom", i % 3 ? "headache" : "nausea", "severity",
                                            i % 11, "recorded_at", at, "note", batch_note));
    }
    json_t *envelope = json_pack("{s:o}", "items", items);
    char *body = json_dumps(envelope, JSON_COMPACT);
    json_decref(envelope);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f.tok);
    snprintf(key, sizeof(key), "Idempotency-Key: batch-%s", f.me);
    const char *hdr[] = {auth, key, NULL};
    struct th_resp a, b;
    ck_assert_uint_gt(strlen(body), 1024 * 1024);
    double t0 = now_s();
    th_req("POST", "/v1/me/batch", NULL, body, hdr, &a);
    double took = now_s() - t0;
    th_assert_status(&a, 201);
    ck_assert_msg(took < 20.0, "a 1000-item batch took %.1f s", took);
    json_t *ids = json_object_get(a.json, "ids");
    ck_assert_uint_eq(json_array_size(ids), 1000);
    /* Distinct ids, each the row written for its item. */
    json_t *set = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(ids, i, e) json_object_set_new(set, json_string_value(e), json_true());
    ck_assert_uint_eq(json_object_size(set), 1000);
    json_decref(set);
    ck_assert_int_eq(count_for("medication_dose", f.me), 250);
    ck_assert_int_eq(count_for("goal_progress", f.me), 250);
    ck_assert_int_eq(count_for("symptom_entry", f.me), 500);
    const char *p999[] = {json_string_value(json_array_get(ids, 999)), f.me};
    ck_assert_int_eq(
        th_sql_long("SELECT severity FROM symptom_entry WHERE id = $1 AND member_id = $2 "
                    "AND recorded_at = '2025-01-01T16:39:00Z' AND symptom_id = 'nausea'",
                    2, p999),
        999 % 11);
    const char *p4[] = {json_string_value(json_array_get(ids, 4)), f.med};
    ck_assert_int_eq(
        th_sql_long("SELECT count(*) FROM medication_dose WHERE id = $1 AND medication_ref = $2 "
                    "AND status = 'taken' AND scheduled_at = '2025-01-01T00:04:00Z'",
                    2, p4),
        1);

    /* The same key and body: the same answer, nothing written twice. */
    th_req("POST", "/v1/me/batch", NULL, body, hdr, &b);
    th_assert_status(&b, 201);
    ck_assert_str_eq(a.body, b.body);
    ck_assert_int_eq(count_for("symptom_entry", f.me), 500);
    th_resp_free(&b);
    /* The same key with another body: the last note says "batcx". */
    *strrchr(body, 'h') = 'x';
    th_req("POST", "/v1/me/batch", NULL, body, hdr, &b);
    assert_fields(&b, FIELDS("Idempotency-Key"));
    ck_assert_int_eq(count_for("symptom_entry", f.me), 500);
    th_resp_free(&a);
    th_resp_free(&b);
    free(body);
}
END_TEST

/* ---- changes feed ---- */

/* GET /v1/me/changes; returns the body (new reference). */
static json_t *sync(const char *tok, const char *since, int limit)
{
    char path[600];
    int n = snprintf(path, sizeof(path), "/v1/me/changes");
    const char *sep = "?";
    if (since) {
        n += snprintf(path + n, sizeof(path) - (size_t)n, "%ssince=%s", sep, since);
        sep = "&";
    }
    if (limit)
        snprintf(path + n, sizeof(path) - (size_t)n, "%slimit=%d", sep, limit);
    json_t *j = th_must(200, "GET", path, tok, NULL);
    ck_assert(json_is_array(json_object_get(j, "changes")));
    ck_assert(json_is_string(json_object_get(j, "next_cursor")));
    ck_assert(json_is_boolean(json_object_get(j, "has_more")));
    return j;
}

/* The change at index i is (resource, id, op); for upserts data equals want (when given). */
static void assert_change(const json_t *feed, size_t i, const char *resource, const char *id,
                          const char *op, const json_t *want)
{
    json_t *c = json_array_get(json_object_get(feed, "changes"), i);
    ck_assert_msg(c != NULL, "no change %zu", i);
    ck_assert_str_eq(S(c, "resource"), resource);
    ck_assert_str_eq(S(c, "id"), id);
    ck_assert_str_eq(S(c, "op"), op);
    if (strcmp(op, "delete") == 0)
        ck_assert_ptr_null(json_object_get(c, "data"));
    else
        ck_assert(json_is_object(json_object_get(c, "data")));
    if (want)
        ck_assert_msg(json_equal(json_object_get(c, "data"), want), "data of %s %s differs",
                      resource, id);
}

static bool has_change(const json_t *feed, const char *resource, const char *id, const char *op)
{
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(feed, "changes"), i,
                       c) if (strcmp(S(c, "resource"), resource) == 0 &&
                              strcmp(S(c, "id"), id) == 0 &&
                              strcmp(S(c, "op"), op) == 0) return true;
    return false;
}

START_TEST(changes_two_devices)
{
    char email[128], tok_a[64], tok_b[64], me[37], cursor[512], path[256];
    struct th_resp r;
    th_unique_email("sync", email, sizeof(email));
    th_register_login(email, "two devices, one record", tok_a, me);
    /* Device B signs in separately: its own session. */
    th_reqj("POST", "/v1/auth/login", NULL,
            json_pack("{s:s, s:s}", "email", email, "password", "two devices, one record"), &r);
    th_assert_status(&r, 200);
    snprintf(tok_b, sizeof(tok_b), "%s", S(r.json, "access_token"));
    th_resp_free(&r);
    ck_assert_str_ne(tok_a, tok_b);

    /* B starts from the beginning: nothing yet. */
    json_t *f = sync(tok_b, NULL, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 0);
    ck_assert(json_is_false(json_object_get(f, "has_more")));
    snprintf(cursor, sizeof(cursor), "%s", S(f, "next_cursor"));
    json_decref(f);

    /* A records. */
    json_t *prof = th_must(201, "PUT", "/v1/me/profile", tok_a,
                           th_json("{'birth_year': 1985, 'sex_at_birth': 'male', 'country': 'SE', "
                                   "'timezone': 'Europe/Stockholm'}"));
    json_t *s1 = th_must(
        201, "POST", "/v1/me/symptoms", tok_a,
        th_json("{'symptom': 'fatigue', 'severity': 4, 'recorded_at': '2025-06-01T07:00:00Z'}"));
    json_t *s2 = th_must(201, "POST", "/v1/me/symptoms", tok_a,
                         th_json("{'symptom': {'custom': 'Tingling toes'}, 'severity': 2, "
                                 "'recorded_at': '2025-06-01T08:00:00Z'}"));
    json_t *c1 = th_must(201, "POST", "/v1/me/conditions", tok_a,
                         th_json("{'condition': 'multiple_sclerosis', 'diagnosed_on': '2012'}"));

    /* B sees exactly those, in order, with their data. */
    f = sync(tok_b, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 4);
    assert_change(f, 0, "profile", me, "upsert", prof);
    assert_change(f, 1, "symptom", S(s1, "id"), "upsert", s1);
    assert_change(f, 2, "symptom", S(s2, "id"), "upsert", s2);
    assert_change(f, 3, "condition", S(c1, "id"), "upsert", c1);
    ck_assert(json_is_false(json_object_get(f, "has_more")));
    snprintf(cursor, sizeof(cursor), "%s", S(f, "next_cursor"));
    json_decref(f);
    /* Then nothing new; the cursor stays put. */
    f = sync(tok_b, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 0);
    ck_assert_str_eq(S(f, "next_cursor"), cursor);
    json_decref(f);

    /* A changes one, deletes one, adds a medication with a dose and an evaluation. */
    json_t *s1b = th_must(200, "PATCH",
                          (snprintf(path, sizeof(path), "/v1/me/symptoms/%s", S(s1, "id")), path),
                          tok_a, th_json("{'severity': 8, 'note': 'worse after the heat'}"));
    th_req("DELETE", (snprintf(path, sizeof(path), "/v1/me/symptoms/%s", S(s2, "id")), path), tok_a,
           NULL, NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    json_t *m1 = th_must(
        201, "POST", "/v1/me/medications", tok_a,
        th_json("{'medication': 'dimethyl_fumarate', 'dose_amount': 240, 'dose_unit': 'mg', "
                "'frequency': {'times_per_day': 2}, 'started_on': '2025-01-01'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/doses", S(m1, "id"));
    json_t *d1 = th_must(201, "POST", path, tok_a,
                         th_json("{'status': 'taken', 'taken_at': '2025-06-01T09:00:00Z'}"));
    snprintf(path, sizeof(path), "/v1/me/medications/%s/evaluations", S(m1, "id"));
    json_t *e1 = th_must(
        201, "POST", path, tok_a,
        th_json("{'evaluated_on': '2025-06-01', 'effectiveness': 'slight', 'adherence': 'always', "
                "'burden': 'none', 'side_effects': [{'symptom': 'nausea', 'severity': 'mild'}, "
                "{'symptom': 'headache', 'severity': 'none'}]}"));
    json_t *list = th_must(200, "GET", "/v1/me/medications", tok_a, NULL);
    json_t *m1_listed = json_array_get(json_object_get(list, "items"), 0);

    f = sync(tok_b, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 5);
    assert_change(f, 0, "symptom", S(s1, "id"), "upsert", s1b);
    assert_change(f, 1, "symptom", S(s2, "id"), "delete", NULL);
    assert_change(f, 2, "medication", S(m1, "id"), "upsert", m1_listed);
    assert_change(f, 3, "dose", S(d1, "id"), "upsert", d1);
    assert_change(f, 4, "evaluation", S(e1, "id"), "upsert",
                  e1); /* once, though each side effect logged it */
    snprintf(cursor, sizeof(cursor), "%s", S(f, "next_cursor"));
    json_decref(f);

    /* Deleting the medication takes its dose and evaluation: three tombstones. */
    th_req("DELETE", (snprintf(path, sizeof(path), "/v1/me/medications/%s", S(m1, "id")), path),
           tok_a, NULL, NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    f = sync(tok_b, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 3);
    ck_assert(has_change(f, "medication", S(m1, "id"), "delete"));
    ck_assert(has_change(f, "dose", S(d1, "id"), "delete"));
    ck_assert(has_change(f, "evaluation", S(e1, "id"), "delete"));
    for (size_t i = 0; i < 3; i++)
        ck_assert_ptr_null(
            json_object_get(json_array_get(json_object_get(f, "changes"), i), "data"));
    snprintf(cursor, sizeof(cursor), "%s", S(f, "next_cursor"));
    json_decref(f);
    f = sync(tok_b, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 0);
    ck_assert(json_is_false(json_object_get(f, "has_more")));
    json_decref(f);

    /* A fresh device from the beginning: each resource once, in its final state. */
    f = sync(tok_a, NULL, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 7);
    ck_assert(has_change(f, "profile", me, "upsert"));
    ck_assert(has_change(f, "symptom", S(s1, "id"), "upsert"));
    ck_assert(has_change(f, "symptom", S(s2, "id"), "delete"));
    ck_assert(has_change(f, "condition", S(c1, "id"), "upsert"));
    ck_assert(has_change(f, "medication", S(m1, "id"), "delete"));
    ck_assert(has_change(f, "dose", S(d1, "id"), "delete"));
    ck_assert(has_change(f, "evaluation", S(e1, "id"), "delete"));
    json_decref(f);

    /* Another member's feed holds none of it. */
    char tok_c[64];
    th_account("member", tok_c, NULL);
    f = sync(tok_c, NULL, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 0);
    json_decref(f);

    json_decref(prof);
    json_decref(s1);
    json_decref(s1b);
    json_decref(s2);
    json_decref(c1);
    json_decref(m1);
    json_decref(d1);
    json_decref(e1);
    json_decref(list);
}
END_TEST

START_TEST(changes_pages_and_latest_op)
{
    char tok[64], me[37], path[256], cursor[512];
    struct th_resp r;
    th_account("member", tok, me);
    /* Created and deleted before any sync: only the tombstone. */
    json_t *x = th_must(
        201, "POST", "/v1/me/symptoms", tok,
        th_json("{'symptom': 'nausea', 'severity': 3, 'recorded_at': '2025-06-01T07:00:00Z'}"));
    snprintf(path, sizeof(path), "/v1/me/symptoms/%s", S(x, "id"));
    json_decref(th_must(200, "PATCH", path, tok, th_json("{'severity': 4}")));
    th_req("DELETE", path, tok, NULL, NULL, &r);
    th_assert_status(&r, 204);
    th_resp_free(&r);
    json_t *f = sync(tok, NULL, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 1);
    assert_change(f, 0, "symptom", S(x, "id"), "delete", NULL);
    json_decref(f);

    /* Eleven more rows of change: pages of two, has_more until the last. */
    for (int i = 0; i < 11; i++) {
        char body[200];
        snprintf(body, sizeof(body),
                 "{'symptom': 'fatigue', 'severity': %d, 'recorded_at': '2025-06-02T07:00:00Z'}",
                 i % 11);
        json_decref(th_must(201, "POST", "/v1/me/symptoms", tok, th_json(body)));
    }
    long rows = count_for("change_log", me);
    ck_assert_int_eq(rows, 14);
    json_t *all = json_object();
    int pages = 0;
    cursor[0] = '\0';
    for (;;) {
        f = sync(tok, cursor[0] ? cursor : NULL, 2);
        pages++;
        size_t n = json_array_size(json_object_get(f, "changes"));
        ck_assert_uint_le(n, 2);
        json_t *c;
        size_t i;
        json_array_foreach(json_object_get(f, "changes"), i, c)
        {
            char key[128];
            snprintf(key, sizeof(key), "%s:%s", S(c, "resource"), S(c, "id"));
            json_object_set_new(all, key, json_string(S(c, "op")));
        }
        snprintf(cursor, sizeof(cursor), "%s", S(f, "next_cursor"));
        bool more = json_is_true(json_object_get(f, "has_more"));
        json_decref(f);
        if (!more)
            break;
        ck_assert_int_lt(pages, 20);
    }
    ck_assert_int_eq(pages, 7); /* 14 rows, two per page */
    ck_assert_uint_eq(json_object_size(all), 12);
    json_decref(all);

    /* Bad arguments. */
    th_req("GET", "/v1/me/changes?since=garbage", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("since"));
    th_resp_free(&r);
    char bent[600];
    snprintf(bent, sizeof(bent), "/v1/me/changes?since=%s", cursor);
    size_t at = strlen("/v1/me/changes?since=") + 3;
    bent[at] = bent[at] == 'A' ? 'B' : 'A';
    th_req("GET", bent, tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("since"));
    th_resp_free(&r);
    json_t *l = th_must(200, "GET", "/v1/me/symptoms?limit=1", tok, NULL);
    snprintf(bent, sizeof(bent), "/v1/me/changes?since=%s", S(l, "next_cursor"));
    json_decref(l);
    th_req("GET", bent, tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("since"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/changes?limit=0", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    th_req("GET", "/v1/me/changes?limit=1001", tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("limit"));
    th_resp_free(&r);
    json_decref(x);
}
END_TEST

/* GET /v1/me/changes from (txid, seq[, ordinal]) of the member's change_log row that matches
 * `which`; returns the body (new reference). */
static json_t *sync_at(const char *tok, const char *me, const char *which, const char *ordinal,
                       int limit)
{
    char sql[256], txid[32], seq[32], cursor[REC_CURSOR_MAX];
    const char *p[] = {me};
    snprintf(sql, sizeof(sql),
             "SELECT txid::text::bigint FROM change_log WHERE member_id = $1 AND %s", which);
    snprintf(txid, sizeof(txid), "%ld", th_sql_long(sql, 1, p));
    snprintf(sql, sizeof(sql), "SELECT seq FROM change_log WHERE member_id = $1 AND %s", which);
    snprintf(seq, sizeof(seq), "%ld", th_sql_long(sql, 1, p));
    const char *fields[] = {txid, seq, ordinal};
    ck_assert_int_eq(rec_cursor_encode("changes", fields, ordinal ? 3 : 2, cursor), 0);
    return sync(tok, cursor, limit);
}

/* A statement's changes are one change_log row (schema 0038); the feed still gives them one by one,
 * pages cut inside a row, and cursors from before 0038 (txid, seq) still work. */
START_TEST(changes_one_row_per_statement)
{
    struct fixture f;
    char cursor[512];
    fixture(&f);
    json_t *fd = sync(f.tok, NULL, 0);
    snprintf(cursor, sizeof(cursor), "%s", S(fd, "next_cursor"));
    json_decref(fd);
    long rows0 = count_for("change_log", f.me);

    /* Ten items of three types: three rows. Then one entry: one row. */
    json_t *items = ten_items(&f);
    json_t *res = th_must(201, "POST", "/v1/me/batch", f.tok, json_pack("{s:O}", "items", items));
    json_t *ids = json_object_get(res, "ids");
    ck_assert_int_eq(count_for("change_log", f.me), rows0 + 3);
    json_t *one = th_must(
        201, "POST", "/v1/me/symptoms", f.tok,
        th_json("{'symptom': 'nausea', 'severity': 4, 'recorded_at': '2025-06-03T07:00:00Z'}"));
    ck_assert_int_eq(count_for("change_log", f.me), rows0 + 4);

    /* Pages of three: 3, 3, 3, 2; each change once; the single entry last. */
    json_t *seen = json_object(), *c;
    char last[37] = "";
    int pages = 0;
    size_t i, sizes[8] = {0};
    for (bool more = true; more && pages < 8; pages++) {
        fd = sync(f.tok, cursor, 3);
        sizes[pages] = json_array_size(json_object_get(fd, "changes"));
        json_array_foreach(json_object_get(fd, "changes"), i, c)
        {
            ck_assert_str_eq(S(c, "op"), "upsert");
            ck_assert_msg(!json_object_get(seen, S(c, "id")), "%s twice", S(c, "id"));
            json_object_set_new(seen, S(c, "id"), json_true());
            snprintf(last, sizeof(last), "%s", S(c, "id"));
        }
        snprintf(cursor, sizeof(cursor), "%s", S(fd, "next_cursor"));
        more = json_is_true(json_object_get(fd, "has_more"));
        json_decref(fd);
    }
    ck_assert_str_eq(last, S(one, "id"));
    ck_assert_int_eq(pages, 4);
    ck_assert_uint_eq(sizes[0], 3);
    ck_assert_uint_eq(sizes[1], 3);
    ck_assert_uint_eq(sizes[2], 3);
    ck_assert_uint_eq(sizes[3], 2);
    ck_assert_uint_eq(json_object_size(seen), 11);
    json_array_foreach(ids, i, c)
        ck_assert_ptr_nonnull(json_object_get(seen, json_string_value(c)));
    /* Nothing new: an empty page that keeps the cursor. */
    fd = sync(f.tok, cursor, 3);
    ck_assert_uint_eq(json_array_size(json_object_get(fd, "changes")), 0);
    ck_assert_str_eq(S(fd, "next_cursor"), cursor);
    json_decref(fd);

    /* From the start of the batch's symptom row, its middle, and after it (the form given out
     * before 0038). The doses, the progress and the single entry follow in every case. */
    const char *row = "resource = 'symptom' AND cardinality(resource_ids) = 4";
    json_t *from0 = sync_at(f.tok, f.me, row, "0", 0), *from2 = sync_at(f.tok, f.me, row, "2", 0),
           *after = sync_at(f.tok, f.me, row, NULL, 0);
    json_t *c0 = json_object_get(from0, "changes"), *c2 = json_object_get(from2, "changes"),
           *ca = json_object_get(after, "changes");
    ck_assert_uint_eq(json_array_size(c0), 11);
    ck_assert_uint_eq(json_array_size(c2), 9);
    ck_assert_uint_eq(json_array_size(ca), 7);
    for (i = 0; i < 11; i++) {
        const char *id = S(json_array_get(c0, i), "id");
        ck_assert_str_eq(S(json_array_get(c0, i), "resource"), i < 4    ? "symptom"
                                                               : i < 7  ? "dose"
                                                               : i < 10 ? "progress"
                                                                        : "symptom");
        if (i >= 2)
            ck_assert_str_eq(S(json_array_get(c2, i - 2), "id"), id);
        if (i >= 4)
            ck_assert_str_eq(S(json_array_get(ca, i - 4), "id"), id);
    }
    ck_assert_str_eq(S(json_array_get(ca, 6), "id"), S(one, "id"));
    json_decref(from0);
    json_decref(from2);
    json_decref(after);

    /* An ordinal outside int4 is not one this feed gave out. */
    char txid[32], seq[32], bad_cursor[REC_CURSOR_MAX], path[700];
    const char *p[] = {f.me};
    snprintf(
        txid, sizeof(txid), "%ld",
        th_sql_long("SELECT max(txid::text::bigint) FROM change_log WHERE member_id = $1", 1, p));
    snprintf(seq, sizeof(seq), "%ld",
             th_sql_long("SELECT max(seq) FROM change_log WHERE member_id = $1", 1, p));
    const char *fields[] = {txid, seq, "2147483648"};
    ck_assert_int_eq(rec_cursor_encode("changes", fields, 3, bad_cursor), 0);
    snprintf(path, sizeof(path), "/v1/me/changes?since=%s", bad_cursor);
    struct th_resp r;
    th_req("GET", path, f.tok, NULL, NULL, &r);
    assert_fields(&r, FIELDS("since"));
    th_resp_free(&r);

    json_decref(seen);
    json_decref(one);
    json_decref(res);
    json_decref(items);
}
END_TEST

/* A change whose transaction commits after a later one must not fall behind a cursor already handed
 * out: the feed waits for it. */
START_TEST(changes_late_commit_not_lost)
{
    char tok[64], me[37], cursor[512];
    th_account("member", tok, me);
    json_t *f = sync(tok, NULL, 0);
    snprintf(cursor, sizeof(cursor), "%s", S(f, "next_cursor"));
    json_decref(f);

    /* A slow writer takes its change_log seq first and commits last. */
    PGconn *slow = th_db();
    PGresult *res = PQexec(slow, "BEGIN");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    const char *p[] = {me};
    res = PQexecParams(slow,
                       "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
                       "VALUES ($1, 'headache', 3, now()) RETURNING id::text",
                       1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    char slow_id[37];
    snprintf(slow_id, sizeof(slow_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    json_t *fast = th_must(
        201, "POST", "/v1/me/symptoms", tok,
        th_json("{'symptom': 'fatigue', 'severity': 5, 'recorded_at': '2025-06-01T07:00:00Z'}"));
    /* While the slow one is open, the later change waits too. */
    f = sync(tok, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 0);
    ck_assert_str_eq(S(f, "next_cursor"), cursor);
    json_decref(f);

    res = PQexec(slow, "COMMIT");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(slow);
    f = sync(tok, cursor, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f, "changes")), 2);
    assert_change(f, 0, "symptom", slow_id, "upsert", NULL);
    assert_change(f, 1, "symptom", S(fast, "id"), "upsert", fast);
    json_decref(f);
    json_decref(fast);
}
END_TEST

/* Last: no SQL errors, no sanitizer findings, no health data in the server's log. */
START_TEST(server_log_clean)
{
    char *log = th_server_log();
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_null(strstr(log, "sql error"));
    ck_assert_ptr_null(strstr(log, "runtime error"));
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_null(strstr(log, "LeakSanitizer"));
    ck_assert_ptr_null(strstr(log, "Tingling"));
    ck_assert_ptr_null(strstr(log, "Pins and needles"));
    ck_assert_ptr_null(strstr(log, "worse after the heat"));
    free(log);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("sync");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, batch_all_or_nothing);
    tcase_add_test(tc, batch_mixed_in_order);
    tcase_add_test(tc, batch_thousand_and_idempotent);
    tcase_add_test(tc, changes_two_devices);
    tcase_add_test(tc, changes_pages_and_latest_op);
    tcase_add_test(tc, changes_one_row_per_statement);
    tcase_add_test(tc, changes_late_commit_not_lost);
    tcase_add_test(tc, server_log_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
