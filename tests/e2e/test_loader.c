/* End-to-end: the benchmark loader (bench/carecommons-gen) against the harness's freshly migrated
 * database. 4,500 members on two loaders make four chunks of the big tables, each with its
 * symptom rollups (schema 0019) or consent summary (0020) added in the chunk's own transaction;
 * the medications' first starts (0032) are rebuilt once after their table (0037).
 * Afterwards the database is the one the service would hold: the rollups equal a GROUP BY over
 * the entries, row by row; the consent summary and the member facts equal their sources; every
 * trigger is enabled; the indexes and foreign keys the loader took off are back; change_log is
 * empty. A second load is refused. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MEMBERS "4500"

static char out[16384];

/* Runs the loader with extra arguments; its standard output (and error) into out. Returns the exit
 * status. */
static int gen(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' --url '%s' --tokens '%s/gen-tokens' %s 2>&1", CC_GEN_BIN,
             th_owner_url(), th_tmpdir(), args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The schema's indexes, constraints (with whether they are validated) and triggers (with whether
 * they are enabled), as one number: what the loader takes off and puts back must come back as
 * migrated. */
#define SCHEMA_PRINT                                                                               \
    "SELECT ('x' || left(md5(string_agg(d, E'\\n' ORDER BY d)), 15))::bit(60)::bigint FROM ("      \
    "SELECT indexdef AS d FROM pg_indexes WHERE schemaname = 'public' UNION ALL "                  \
    "SELECT concat_ws(' ', conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated) " \
    "FROM pg_constraint WHERE connamespace = 'public'::regnamespace UNION ALL "                    \
    "SELECT concat_ws(' ', t.tgrelid::regclass, t.tgname, t.tgenabled) FROM pg_trigger t "         \
    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal "                               \
    "AND c.relnamespace = 'public'::regnamespace) x"
#define SCHEMA_COUNT                                                                               \
    "SELECT (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public') + (SELECT count(*) "     \
    "FROM pg_constraint WHERE connamespace = 'public'::regnamespace)"

static long num(const char *sql)
{
    long v = th_sql_long(sql, 0, NULL);
    ck_assert_msg(v >= 0, "%s failed", sql);
    return v;
}

START_TEST(load_matches_the_service)
{
    ck_assert_int_eq(num("SELECT count(*) FROM account"), 0);
    long print = num(SCHEMA_PRINT), objects = num(SCHEMA_COUNT);
    ck_assert_int_gt(objects, 100);
    int rc = gen("--members " MEMBERS " --days 12 --seed 7 --sessions 20 --jobs 2");
    ck_assert_msg(rc == 0, "carecommons-gen exited %d:\n%s", rc, out);
    /* The symptom rollups and the consent summary came chunk by chunk (0019, 0020) and their
     * totals matched: they were not rebuilt after the load. The medications' first starts
     * (0032), whose trigger was off, were rebuilt once (0037), under the medication table. */
    int matched = 0, rebuilt = 0;
    for (const char *p = out; (p = strstr(p, "rollup totals")); p++)
        matched += strncmp(p + strcspn(p, "0123456789"), "1 match", 7) == 0;
    ck_assert_msg(matched == 2, "%d tables with matching totals, want 2:\n%s", matched, out);
    for (const char *p = out; (p = strstr(p, "rebuilt")); p++)
        rebuilt++;
    const char *med = strstr(out, "\nmedication "), *dose = strstr(out, "\nmedication_dose ");
    const char *first = strstr(out, "rollups                   1 rebuilt");
    ck_assert_msg(rebuilt == 1 && med && first > med && first < dose,
                  "want one rebuild, medication_first's:\n%s", out);

    ck_assert_int_eq(num("SELECT count(*) FROM account WHERE role = 'member'"), 4500);
    long n = num("SELECT count(*) FROM symptom_entry WHERE symptom_id IS NOT NULL");
    ck_assert_int_gt(n, 4500 * 5);
    ck_assert_int_eq(num("SELECT sum(n) FROM symptom_day"), n);
    ck_assert_int_eq(num("SELECT sum(n) FROM symptom_week"), n);
    static const char *const diffs[] = {
        "SELECT count(*) FROM (SELECT sym, member_id, day, n, s FROM symptom_day EXCEPT "
        "SELECT symptom_code(symptom_id), member_id, (recorded_at AT TIME ZONE 'UTC')::date, "
        "count(*)::int, "
        "sum(severity)::int FROM symptom_entry WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3) x",
        "SELECT count(*) FROM (SELECT symptom_code(symptom_id), member_id, (recorded_at AT TIME "
        "ZONE 'UTC')::date, count(*)::int, sum(severity)::int FROM symptom_entry WHERE symptom_id "
        "IS NOT NULL GROUP BY 1, 2, 3 EXCEPT SELECT sym, member_id, day, n, s FROM "
        "symptom_day) x",
        "SELECT count(*) FROM (SELECT sym, member_id, week, n, s FROM symptom_week EXCEPT "
        "SELECT symptom_code(symptom_id), member_id, date_trunc('week', recorded_at AT TIME ZONE "
        "'UTC')::date, "
        "count(*)::int, sum(severity)::int FROM symptom_entry WHERE symptom_id IS NOT NULL "
        "GROUP BY 1, 2, 3) x",
        "SELECT count(*) FROM (SELECT symptom_code(symptom_id), member_id, date_trunc('week', "
        "recorded_at AT TIME ZONE 'UTC')::date, count(*)::int, sum(severity)::int FROM "
        "symptom_entry WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 EXCEPT SELECT sym, member_id, "
        "week, n, s "
        "FROM symptom_week) x",
        "SELECT count(*) FROM (SELECT * FROM consent_member EXCEPT SELECT * FROM "
        "consent_member_source) x",
        "SELECT count(*) FROM (SELECT * FROM consent_member_source EXCEPT SELECT * FROM "
        "consent_member) x",
        /* The facts rows (0022), kept by their triggers during the load. */
        "SELECT count(*) FROM (TABLE member_facts EXCEPT TABLE member_facts_source) x",
        "SELECT count(*) FROM (TABLE member_facts_source EXCEPT TABLE member_facts) x",
        "SELECT count(*) FROM (TABLE member_condition_facts EXCEPT TABLE "
        "member_condition_facts_source) x",
        "SELECT count(*) FROM (TABLE member_condition_facts_source EXCEPT TABLE "
        "member_condition_facts) x",
        /* First starts (0032), kept by medication's triggers chunk by chunk. */
        "SELECT count(*) FROM (TABLE medication_first EXCEPT TABLE medication_first_source) x",
        "SELECT count(*) FROM (TABLE medication_first_source EXCEPT TABLE medication_first) x",
        /* Disabled triggers, anywhere in the schema. */
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE "
        "c.relnamespace = 'public'::regnamespace AND t.tgenabled <> 'O'",
        "SELECT count(*) FROM change_log",
        "SELECT count(*) FROM pg_index WHERE NOT indisvalid",
    };
    for (size_t i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++)
        ck_assert_msg(num(diffs[i]) == 0, "%s: %ld", diffs[i], num(diffs[i]));
    /* Every table's indexes, keys and triggers (and the facts tables', taken off for their
     * rebuild) are back as migrated. */
    ck_assert_int_eq(num(SCHEMA_COUNT), objects);
    ck_assert_int_eq(num(SCHEMA_PRINT), print);
    ck_assert_int_gt(num("SELECT count(*) FROM consent_member"), 1000);
    ck_assert_int_eq(num("SELECT count(*) FROM member_facts"), 4500);
    ck_assert_int_gt(num("SELECT count(*) FROM member_condition_facts"), 4500);
    ck_assert_int_gt(num("SELECT count(*) FROM member_facts WHERE r_masks IS NOT NULL"), 2000);
    ck_assert_int_gt(num("SELECT count(*) FROM medication_first"), 2000);
    /* What bulk_off took off symptom_entry is back: 3 secondary indexes (schema 0025 dropped one,
     * 0029 added the (member, symptom, time) one), 1 foreign key (0030 made the catalog's a
     * statement-level check, 0036 the account's), and that check's trigger is on. */
    ck_assert_int_eq(
        num("SELECT count(*) FROM pg_index WHERE indrelid = 'symptom_entry'::regclass"), 4);
    ck_assert_int_eq(num("SELECT count(*) FROM pg_indexes WHERE tablename = 'symptom_entry' AND "
                         "indexname = 'symptom_entry_member_symptom_idx'"),
                     1);
    ck_assert_int_eq(num("SELECT count(*) FROM pg_constraint WHERE conrelid = "
                         "'symptom_entry'::regclass AND contype = 'f' AND convalidated"),
                     1);
    ck_assert_int_eq(num("SELECT count(*) FROM pg_trigger WHERE tgrelid = "
                         "'symptom_entry'::regclass AND tgname = 'symptom_entry_catalog_insert' "
                         "AND tgenabled = 'O'"),
                     1);
    ck_assert_int_eq(num("SELECT count(*) FROM pg_trigger WHERE tgrelid = "
                         "'symptom_entry'::regclass AND tgname = 'symptom_entry_rollup_insert' "
                         "AND tgenabled = 'O'"),
                     1);
    /* The rollups' primary keys, built once after the load, are back as the schema has them, and
     * the rollup trigger's upsert (which needs them) counts a new entry on a loaded day. */
    const char *keys = strstr(out, "indexes, rollup keys");
    ck_assert_msg(keys && strncmp(keys + strcspn(keys, "0123456789"), "5 built", 7) == 0,
                  "symptom_entry's 3 indexes and 2 rollup keys not rebuilt:\n%s", out);
    ck_assert_int_eq(num("SELECT count(*) FROM pg_constraint WHERE conrelid IN "
                         "('symptom_day'::regclass, 'symptom_week'::regclass) AND contype = 'p' "
                         "AND pg_get_constraintdef(oid) LIKE 'PRIMARY KEY (sym, member_id, %) "
                         "INCLUDE (n, s)'"),
                     2);
#define FIRST_DAY "(SELECT sym, member_id, day FROM symptom_day ORDER BY 2, 1, 3 LIMIT 1)"
    long before = num("SELECT n FROM symptom_day WHERE (sym, member_id, day) = " FIRST_DAY);
    ck_assert_int_eq(num("WITH k AS " FIRST_DAY " INSERT INTO symptom_entry (member_id, symptom_id,"
                         " severity, recorded_at, note) SELECT k.member_id, c.id, 5, (k.day + "
                         "time '12:00') AT TIME ZONE 'UTC', 'loader test' FROM k JOIN "
                         "catalog_symptom c ON c.code = k.sym RETURNING 1"),
                     1);
    ck_assert_int_eq(num("SELECT n FROM symptom_day WHERE (sym, member_id, day) = " FIRST_DAY),
                     before + 1);
    ck_assert_int_eq(num("WITH d AS (DELETE FROM symptom_entry WHERE note = 'loader test' "
                         "RETURNING 1) SELECT count(*) FROM d"),
                     1);
    ck_assert_int_eq(num("SELECT n FROM symptom_day WHERE (sym, member_id, day) = " FIRST_DAY),
                     before);
#undef FIRST_DAY
    ck_assert_int_eq(
        num("SELECT count(*) FROM (SELECT symptom_code(symptom_id), member_id, (recorded_at AT "
            "TIME ZONE 'UTC')::date, count(*)::int, sum(severity)::int FROM "
            "symptom_entry WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3 EXCEPT SELECT "
            "sym, member_id, day, n, s FROM symptom_day) x"),
        0);

    /* A database with accounts is refused, and left as it was. */
    rc = gen("--members 100 --days 3 --seed 8 --sessions 5");
    ck_assert_msg(rc != 0, "a second load was accepted:\n%s", out);
    ck_assert_int_eq(num("SELECT count(*) FROM account WHERE role = 'member'"), 4500);
    ck_assert_int_eq(num("SELECT sum(n) FROM symptom_week"), n);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("gen");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, load_matches_the_service);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
