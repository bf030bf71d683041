/* The measure SQL against an independent computation. A population of 360 members is generated in
 * SQL with a fixed seed (profiles, consents of several kinds, fatigue and nausea entries over 120
 * days, two medications with start and stop dates, evaluations with side effects). For every
 * measure, stats/measure.c's SQL runs on it and is released with a zero-noise mechanism defined
 * here; the test fetches the raw rows and computes every aggregate itself in C (consent with
 * consent_evaluate, the cohort by its documented rules, windows, per-member means and changes,
 * latest evaluations, top side effects, the 2x2 table), then compares: counts exactly (as released,
 * after suppression and rounding), statistics to 1e-9. Symptom measures read the rollups of
 * schema/0013, so a last phase writes entries at random (window edges included) and checks the
 * rollups against a GROUP BY of the entries and the measures against the raw rows again. */
#include "harness.h"

#include "consent.h"
#include "disclosure.h"
#include "measure.h"
#include "measures.h"

#include <gsl/gsl_errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NMEMBERS 360
#define DAY_US INT64_C(86400000000)
#define NONE INT_MIN

/* ---- the zero mechanism (only ever in tests) ---- */

static int zero_noise(void *ctx, uint64_t sensitivity, double epsilon, int64_t *out)
{
    (void)ctx;
    (void)sensitivity;
    (void)epsilon;
    *out = 0;
    return 0;
}
static const struct stats_mechanism zero = {zero_noise, NULL};

/* ---- raw rows ---- */

struct member {
    char id[37];
    bool profile;
    int birth_year; /* NONE when unset */
    char sex[16], country[4];
    bool permitted, in_pop;
    bool ms, asthma; /* catalog conditions, any status */
};
struct entry {
    int m;
    char sym[65];
    int sev;
    int64_t t; /* microseconds */
    int day, monday,
        mon; /* UTC: days since 1970, that of its ISO week's Monday, year * 12 + month - 1 */
};
struct med {
    int m;
    char id[37], drug[65]; /* drug "" for a custom item */
    int start, stop;       /* days since 1970; stop NONE when running */
    char reason[24];       /* "" when none */
    int64_t created;
};
struct eval {
    int m, med;
    char id[37];
    int on;
    int64_t created;
    char eff[16], adh[16]; /* "" for NULL */
};
struct side {
    int m, eval;
    char sym[65]; /* "" for a custom item */
    char sev[16]; /* "" for NULL */
};

static struct {
    struct member mem[NMEMBERS + 8];
    int nmem;
    struct entry *ent;
    int nent;
    struct med *med;
    int nmed;
    struct eval *ev;
    int nev;
    struct side *se;
    int nse;
    char (*catalog)[65];
    int ncat;
    int64_t now, now_us;
    int today, year, month;
    int monday, mon; /* the current ISO week's Monday (days since 1970), year * 12 + month - 1 */
    long numbers, statistics;
} D;

static PGconn *conn;

static void exec_ok(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
}

static PGresult *fetch(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    return r;
}

/* Every random() is drawn over rows in a fixed order (an ordered subquery by member number and
 * fixed keys), so the seed alone decides every value; only the uuids differ between runs. */
static void generate(void)
{
    static const char *const steps[] = {
        "SELECT setseed(0.2718)",
        "CREATE TEMP TABLE gen AS SELECT i, gen_random_uuid() AS id FROM generate_series(1, 360) i",
        "INSERT INTO account (id, email, display_name, role, password_hash) "
        "SELECT id, 'pop' || i || '@example.org', 'P', 'member', 'x' FROM gen ORDER BY i",
        /* Every 37th member has no profile; some fields are unset. */
        "INSERT INTO member_profile (member_id, birth_year, sex_at_birth, country, postal_prefix) "
        "SELECT id, CASE WHEN i % 23 = 0 THEN NULL ELSE 1925 + floor(random() * 90)::int END, "
        "(ARRAY['female', 'male', 'intersex', 'unknown', NULL])[1 + floor(random() * 5)::int], "
        "(ARRAY['GB', 'GB', 'IE', 'FR', 'DE', 'US', 'XX', NULL])[1 + floor(random() * 8)::int], "
        "'P' || (i % 10) FROM (SELECT * FROM gen WHERE i % 37 <> 0 ORDER BY i) x",
        /* Multiple sclerosis for one in four; asthma, some of it resolved, for one in three. */
        "INSERT INTO member_condition (member_id, condition_id, diagnosed_date) "
        "SELECT id, 'multiple_sclerosis', DATE '2015-01-01' FROM gen WHERE i % 4 = 1 ORDER BY i",
        "INSERT INTO member_condition (member_id, condition_id, diagnosed_date, status) "
        "SELECT id, 'asthma', DATE '2010-06-01', CASE WHEN i % 2 = 0 THEN 'resolved' ELSE "
        "'active' END FROM gen WHERE i % 3 = 1 ORDER BY i",
        /* Consents: none (i % 9), demographics only (i % 11), withdrawn (i % 13), a symptoms deny
         * too (i % 17), not yet valid (i % 19), else research for every category. */
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, withdrawn_at, policy_version) SELECT id, gen_random_uuid(), 1, "
        "'permit', 'research', CASE WHEN i % 11 = 0 THEN 1 ELSE 31 END, "
        "date_trunc('second', now()) + CASE WHEN i % 19 = 0 THEN interval '5 days' "
        "ELSE interval '-10 days' END, CASE WHEN i % 13 = 0 THEN 'withdrawn' ELSE 'active' END, "
        "CASE WHEN i % 13 = 0 THEN now() END, 1 FROM gen WHERE i % 9 <> 0 ORDER BY i",
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, policy_version) SELECT id, gen_random_uuid(), 1, 'deny', 'research', "
        "4, date_trunc('second', now()) - interval '3 days', 'active', 1 FROM gen "
        "WHERE i % 17 = 0 ORDER BY i",
        /* 0..30 fatigue entries over the last 120 days, a few nausea ones. */
        "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
        "SELECT id, 'fatigue', floor(random() * 11)::int, "
        "now() - make_interval(secs => random() * 120 * 86400) FROM (SELECT g.id, g.i, k "
        "FROM gen g, generate_series(1, 30) k WHERE k <= (g.i * 7) % 31 ORDER BY g.i, k) x",
        "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
        "SELECT id, 'nausea', floor(random() * 11)::int, "
        "now() - make_interval(secs => random() * 120 * 86400) FROM (SELECT g.id, g.i, k "
        "FROM gen g, generate_series(1, 5) k WHERE k <= g.i % 6 ORDER BY g.i, k) x",
        /* Metformin for two in three, a second (later) record for some; ibuprofen for two in
         * three. Until the ties added at the end, a member's records never share drug and start
         * day, so (i, drug, start) orders them. */
        "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
        "SELECT id, 'metformin', 'as_needed', (now() AT TIME ZONE 'UTC')::date - "
        "(5 + floor(random() * 110)::int) FROM (SELECT * FROM gen WHERE i % 3 <> 0 ORDER BY i) x",
        "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
        "SELECT id, 'metformin', 'as_needed', (now() AT TIME ZONE 'UTC')::date - "
        "floor(random() * 5)::int FROM (SELECT * FROM gen WHERE i % 10 = 1 ORDER BY i) x",
        "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
        "SELECT id, 'ibuprofen', 'as_needed', (now() AT TIME ZONE 'UTC')::date - "
        "(1 + floor(random() * 100)::int) FROM (SELECT * FROM gen WHERE i % 2 = 0 OR i % 3 = 0 "
        "ORDER BY i) x",
        "CREATE TEMP TABLE medx AS SELECT m.member_id, m.id, m.started_on, g.i, "
        "row_number() OVER (ORDER BY g.i, m.medication_id, m.started_on) AS o "
        "FROM medication m JOIN gen g ON g.id = m.member_id",
        "UPDATE medication m SET stopped_on = m.started_on + x.days, stop_reason = x.reason "
        "FROM (SELECT id, r, floor(random() * 10)::int AS days, (ARRAY['side_effects', "
        "'not_effective', 'cost', 'remission', 'doctor_advice', 'other', NULL])"
        "[1 + floor(random() * 7)::int] AS reason FROM (SELECT id, random() AS r FROM medx "
        "ORDER BY o) y) x WHERE x.id = m.id AND x.r < 0.35",
        "CREATE TEMP TABLE evx AS SELECT member_id, id, started_on + floor(random() * 4)::int AS "
        "on_, "
        "(ARRAY['none', 'slight', 'moderate', 'major', 'cant_tell', NULL])"
        "[1 + floor(random() * 6)::int] AS eff, (ARRAY['always', 'usually', 'sometimes', 'never', "
        "NULL])[1 + floor(random() * 5)::int] AS adh, random() AS keep, o, k FROM (SELECT medx.*, "
        "k "
        "FROM medx, generate_series(1, 3) k ORDER BY o, k) y",
        "INSERT INTO medication_evaluation (member_id, medication_ref, evaluated_on, "
        "effectiveness, adherence) SELECT member_id, id, on_, eff, adh FROM evx WHERE keep < 0.55 "
        "ORDER BY o, k",
        "CREATE TEMP TABLE vx AS SELECT v.member_id, v.id, row_number() OVER (ORDER BY g.i, "
        "v.evaluated_on, v.effectiveness, v.adherence, m.medication_id, m.started_on) AS o "
        "FROM medication_evaluation v JOIN medication m ON m.member_id = v.member_id "
        "AND m.id = v.medication_ref JOIN gen g ON g.id = v.member_id",
        "INSERT INTO evaluation_side_effect (member_id, evaluation_ref, ordinal, symptom_id, "
        "severity) SELECT member_id, id, k, (ARRAY['nausea', 'headache', 'dizziness', 'rash', "
        "'fatigue', 'insomnia', 'diarrhea', 'weight_gain'])[1 + floor(random() * 8)::int], "
        "(ARRAY['none', 'mild', 'moderate', 'severe', NULL])[1 + floor(random() * 5)::int] "
        "FROM (SELECT z.*, random() AS keep FROM (SELECT vx.*, k FROM vx, "
        "generate_series(0, 6) k ORDER BY o, k) z) y WHERE keep < 0.5",
        /* Ties: for one member in seven, a second metformin record started on the day of the
         * member's first, which a first-start measure must count once. */
        "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
        "SELECT m.member_id, 'metformin', 'as_needed', min(m.started_on) FROM medication m "
        "JOIN gen g ON g.id = m.member_id WHERE m.medication_id = 'metformin' AND g.i % 7 = 0 "
        "GROUP BY m.member_id, g.i ORDER BY g.i",
        /* And for one in five, a later record whose windows are complete too: only the first
         * start counts. */
        "INSERT INTO medication (member_id, medication_id, freq_kind, started_on) "
        "SELECT m.member_id, 'metformin', 'as_needed', min(m.started_on) + 20 FROM medication m "
        "JOIN gen g ON g.id = m.member_id WHERE m.medication_id = 'metformin' AND g.i % 5 = 2 "
        "GROUP BY m.member_id, g.i HAVING min(m.started_on) + 20 <= (now() AT TIME ZONE "
        "'UTC')::date - 60 ORDER BY g.i",
        /* Statistics now, not whenever autovacuum gets to it: plans must not depend on timing. */
        "ANALYZE",
    };
    for (size_t i = 0; i < NELEM(steps); i++)
        exec_ok(steps[i]);
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->id, ((const struct member *)b)->id);
}

static int member_index(const char *id)
{
    struct member key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    struct member *m = bsearch(&key, D.mem, (size_t)D.nmem, sizeof(key), cmp_member);
    return m ? (int)(m - D.mem) : -1;
}

static int cmp_med(const void *a, const void *b)
{
    return strcmp(((const struct med *)a)->id, ((const struct med *)b)->id);
}

static int cmp_eval(const void *a, const void *b)
{
    return strcmp(((const struct eval *)a)->id, ((const struct eval *)b)->id);
}

static void copy(char *dst, size_t n, PGresult *r, int row, int col)
{
    snprintf(dst, n, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static int int_or_none(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NONE : atoi(PQgetvalue(r, row, col));
}

/* Consent at now for a general, non-commercial research use of every category, in C. */
static void evaluate_consent(void)
{
    PGresult *r = fetch("SELECT member_id, effect, purpose, categories, "
                        "array_to_json(conditions)::text, non_commercial, not_for_profit_only, "
                        "extract(epoch FROM valid_from)::bigint, "
                        "coalesce(extract(epoch FROM valid_until)::bigint, 0), status "
                        "FROM consent_grant WHERE status <> 'superseded' ORDER BY member_id");
    int n = PQntuples(r);
    for (int i = 0; i < n;) {
        int j = i;
        struct consent_grant g[8];
        size_t ng = 0;
        while (j < n && strcmp(PQgetvalue(r, j, 0), PQgetvalue(r, i, 0)) == 0) {
            ck_assert_uint_lt(ng, NELEM(g));
            ck_assert_str_eq(PQgetvalue(r, j, 4), "[]");
            ck_assert_int_eq(consent_effect_parse(PQgetvalue(r, j, 1), &g[ng].effect), 0);
            ck_assert_int_eq(consent_purpose_parse(PQgetvalue(r, j, 2), &g[ng].purpose), 0);
            ck_assert_int_eq(consent_status_parse(PQgetvalue(r, j, 9), &g[ng].status), 0);
            g[ng].categories = (unsigned)atoi(PQgetvalue(r, j, 3));
            g[ng].conditions = NULL;
            g[ng].nconditions = 0;
            g[ng].non_commercial = PQgetvalue(r, j, 5)[0] == 't';
            g[ng].not_for_profit_only = PQgetvalue(r, j, 6)[0] == 't';
            g[ng].valid_from = atoll(PQgetvalue(r, j, 7));
            g[ng].valid_until = atoll(PQgetvalue(r, j, 8));
            ng++;
            j++;
        }
        struct consent_use use = {
            .purpose = CONSENT_RESEARCH, .categories = CONSENT_ALL_CATEGORIES, .at = D.now};
        int k = member_index(PQgetvalue(r, i, 0));
        ck_assert_int_ge(k, 0);
        D.mem[k].permitted = consent_evaluate(&use, g, ng).permit;
        i = j;
    }
    PQclear(r);
}

/* The UTC day (days since 1970), its ISO week's Monday and its month (year * 12 + month - 1) of a
 * time in microseconds, from gmtime's calendar fields. */
static void utc_days(int64_t us, int *day, int *monday, int *mon)
{
    int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    time_t t = (time_t)sec;
    struct tm tm;
    ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
    *day = (int)(sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400));
    *monday = *day - (tm.tm_wday + 6) % 7;
    *mon = (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static void load_rows(void)
{
    PGresult *r = fetch("SELECT a.id, p.member_id IS NOT NULL, p.birth_year, p.sex_at_birth, "
                        "p.country FROM account a LEFT JOIN member_profile p ON p.member_id = a.id "
                        "WHERE a.role = 'member' AND a.deleted_at IS NULL");
    ck_assert_int_le(PQntuples(r), (int)NELEM(D.mem));
    D.nmem = PQntuples(r);
    for (int i = 0; i < D.nmem; i++) {
        struct member *m = &D.mem[i];
        memset(m, 0, sizeof(*m));
        copy(m->id, sizeof(m->id), r, i, 0);
        m->profile = PQgetvalue(r, i, 1)[0] == 't';
        m->birth_year = int_or_none(r, i, 2);
        copy(m->sex, sizeof(m->sex), r, i, 3);
        copy(m->country, sizeof(m->country), r, i, 4);
    }
    PQclear(r);
    qsort(D.mem, (size_t)D.nmem, sizeof(D.mem[0]), cmp_member);
    evaluate_consent();
    r = fetch(
        "SELECT member_id, condition_id FROM member_condition WHERE condition_id IS NOT NULL");
    for (int i = 0; i < PQntuples(r); i++) {
        int k = member_index(PQgetvalue(r, i, 0));
        ck_assert_int_ge(k, 0);
        D.mem[k].ms |= !strcmp(PQgetvalue(r, i, 1), "multiple_sclerosis");
        D.mem[k].asthma |= !strcmp(PQgetvalue(r, i, 1), "asthma");
    }
    PQclear(r);

    r = fetch("SELECT member_id, symptom_id, severity, "
              "(extract(epoch FROM recorded_at) * 1000000)::bigint FROM symptom_entry");
    D.nent = PQntuples(r);
    D.ent = calloc((size_t)D.nent + 1, sizeof(*D.ent));
    for (int i = 0; i < D.nent; i++) {
        D.ent[i].m = member_index(PQgetvalue(r, i, 0));
        copy(D.ent[i].sym, sizeof(D.ent[i].sym), r, i, 1);
        D.ent[i].sev = atoi(PQgetvalue(r, i, 2));
        D.ent[i].t = atoll(PQgetvalue(r, i, 3));
        utc_days(D.ent[i].t, &D.ent[i].day, &D.ent[i].monday, &D.ent[i].mon);
    }
    PQclear(r);

    r = fetch("SELECT member_id, id, medication_id, started_on - DATE '1970-01-01', "
              "stopped_on - DATE '1970-01-01', stop_reason, "
              "(extract(epoch FROM created_at) * 1000000)::bigint FROM medication");
    D.nmed = PQntuples(r);
    D.med = calloc((size_t)D.nmed + 1, sizeof(*D.med));
    for (int i = 0; i < D.nmed; i++) {
        struct med *m = &D.med[i];
        m->m = member_index(PQgetvalue(r, i, 0));
        copy(m->id, sizeof(m->id), r, i, 1);
        copy(m->drug, sizeof(m->drug), r, i, 2);
        m->start = atoi(PQgetvalue(r, i, 3));
        m->stop = int_or_none(r, i, 4);
        copy(m->reason, sizeof(m->reason), r, i, 5);
        m->created = atoll(PQgetvalue(r, i, 6));
    }
    PQclear(r);
    qsort(D.med, (size_t)D.nmed, sizeof(*D.med), cmp_med);

    r = fetch("SELECT member_id, id, medication_ref, evaluated_on - DATE '1970-01-01', "
              "(extract(epoch FROM created_at) * 1000000)::bigint, effectiveness, adherence "
              "FROM medication_evaluation");
    D.nev = PQntuples(r);
    D.ev = calloc((size_t)D.nev + 1, sizeof(*D.ev));
    for (int i = 0; i < D.nev; i++) {
        struct eval *e = &D.ev[i];
        struct med key;
        e->m = member_index(PQgetvalue(r, i, 0));
        copy(e->id, sizeof(e->id), r, i, 1);
        copy(key.id, sizeof(key.id), r, i, 2);
        struct med *m = bsearch(&key, D.med, (size_t)D.nmed, sizeof(key), cmp_med);
        ck_assert_ptr_nonnull(m);
        e->med = (int)(m - D.med);
        e->on = atoi(PQgetvalue(r, i, 3));
        e->created = atoll(PQgetvalue(r, i, 4));
        copy(e->eff, sizeof(e->eff), r, i, 5);
        copy(e->adh, sizeof(e->adh), r, i, 6);
    }
    PQclear(r);
    qsort(D.ev, (size_t)D.nev, sizeof(*D.ev), cmp_eval);

    r = fetch("SELECT member_id, evaluation_ref, symptom_id, severity FROM evaluation_side_effect");
    D.nse = PQntuples(r);
    D.se = calloc((size_t)D.nse + 1, sizeof(*D.se));
    for (int i = 0; i < D.nse; i++) {
        struct eval key;
        D.se[i].m = member_index(PQgetvalue(r, i, 0));
        copy(key.id, sizeof(key.id), r, i, 1);
        struct eval *e = bsearch(&key, D.ev, (size_t)D.nev, sizeof(key), cmp_eval);
        ck_assert_ptr_nonnull(e);
        D.se[i].eval = (int)(e - D.ev);
        copy(D.se[i].sym, sizeof(D.se[i].sym), r, i, 2);
        copy(D.se[i].sev, sizeof(D.se[i].sev), r, i, 3);
    }
    PQclear(r);

    r = fetch("SELECT id FROM catalog_symptom ORDER BY id");
    D.ncat = PQntuples(r);
    D.catalog = calloc((size_t)D.ncat + 1, sizeof(*D.catalog));
    for (int i = 0; i < D.ncat; i++)
        copy(D.catalog[i], sizeof(D.catalog[i]), r, i, 0);
    PQclear(r);
}

/* ---- running the library's SQL ---- */

static int cat_all(void *ctx, const char *kind, const char *id)
{
    (void)ctx;
    (void)kind;
    (void)id;
    return 1;
}

static struct stats_cohort *cohort(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_ptr_nonnull(j);
    struct stats_cohort *c = stats_cohort_parse(j, "cohort", cat_all, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    json_decref(j);
    return c;
}

static struct stats_measure measure(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    struct stats_measure m[STATS_MEASURES_MAX];
    size_t n = 0;
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(stats_measures_parse(j, NULL, cat_all, NULL, m, &n, NULL), 0);
    json_decref(j);
    return m[0];
}

/* The measure's raw aggregates, read into raw (initialised by the caller). */
static void raw_of(const struct stats_measure *m, const struct stats_population *pop,
                   struct stats_raw *raw)
{
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_measure_sql(m, pop, &sql), 0);
    PGresult *r = PQexecParams(conn, sql.text, sql.nparams, NULL, (const char *const *)sql.params,
                               NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s\n%s", PQerrorMessage(conn), sql.text);
    for (int i = 0; i < PQntuples(r); i++)
        ck_assert_int_eq(stats_raw_add(raw, PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1))), 0);
    PQclear(r);
    stats_sql_free(&sql);
}

/* Measures run against the population's query here, and in the server against the population
 * materialised in a table (research.c), whose SQL differs (joins in member order): every raw
 * aggregate of the second must equal the first's. */
static json_t *run(const struct stats_measure *m, const struct stats_population *pop)
{
    struct stats_raw raw, mat_raw;
    struct stats_sql sql;
    struct stats_population mat = *pop;

    stats_raw_init(&raw);
    stats_raw_init(&mat_raw);
    raw_of(m, pop, &raw);
    /* As the server does it: member ids alone unless the measure reads demographics. */
    mat.members_only = !stats_measures_read_demographics(m, 1);
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_table_sql(&mat, "cc_mat_pop", false, &sql), 0);
    PGresult *r = PQexecParams(conn, sql.text, sql.nparams, NULL, (const char *const *)sql.params,
                               NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(r);
    stats_sql_free(&sql);
    exec_ok("ANALYZE cc_mat_pop");
    mat.table = "cc_mat_pop";
    raw_of(m, &mat, &mat_raw);
    exec_ok("DROP TABLE cc_mat_pop");
    ck_assert_uint_eq(mat_raw.n, raw.n);
    for (size_t i = 0; i < raw.n; i++)
        ck_assert_msg(stats_raw_get(&mat_raw, raw.cells[i].key) == raw.cells[i].value,
                      "%s: %lld from the query, %lld from the table", raw.cells[i].key,
                      (long long)raw.cells[i].value,
                      (long long)stats_raw_get(&mat_raw, raw.cells[i].key));
    json_t *o = stats_measure_release(m, &raw, &zero, pop->now);
    ck_assert_ptr_nonnull(o);
    stats_raw_free(&raw);
    stats_raw_free(&mat_raw);
    return o;
}

/* ---- comparisons ---- */

static bool is_suppressed(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_true(json_object_get(v, "suppressed"));
}

static void check_count(const json_t *v, int64_t truth, const char *what)
{
    int64_t want;
    D.numbers++;
    if (stats_release_count_value(truth, &want) != 0) {
        ck_assert_msg(is_suppressed(v), "%s: true %lld should be suppressed", what,
                      (long long)truth);
        return;
    }
    ck_assert_msg(json_is_integer(v) && json_integer_value(v) == want,
                  "%s: released %lld, want %lld (true %lld)", what,
                  json_is_integer(v) ? (long long)json_integer_value(v) : -1LL, (long long)want,
                  (long long)truth);
}

static void check_stat(const json_t *v, bool ok, double want, const char *what)
{
    D.numbers++;
    if (!ok || !isfinite(want)) {
        ck_assert_msg(is_suppressed(v), "%s should be suppressed", what);
        return;
    }
    D.statistics++;
    ck_assert_msg(json_is_number(v), "%s: not a number", what);
    double got = json_number_value(v);
    ck_assert_msg(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want)), "%s: %.17g, want %.17g", what,
                  got, want);
}

static void check_ci(const json_t *v, bool ok, double lo, double hi, const char *what)
{
    if (!ok || !isfinite(lo) || !isfinite(hi)) {
        D.numbers++;
        ck_assert_msg(is_suppressed(v), "%s should be suppressed", what);
        return;
    }
    ck_assert_msg(json_is_array(v) && json_array_size(v) == 2, "%s: not an interval", what);
    check_stat(json_array_get(v, 0), true, lo, what);
    check_stat(json_array_get(v, 1), true, hi, what);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Mean and SD exactly as documented for released sums in hundredths (see stats/measure.c). */
static void mean_sd(int64_t n, int64_t s, int64_t q, double centre, double lo, double hi,
                    double *mean, double *sd)
{
    *mean = clampd((double)s / (100.0 * (double)n), lo, hi);
    double var = ((double)q / 100.0 - (double)n * (*mean - centre) * (*mean - centre)) / (n - 1.0);
    *sd = var > 0 ? sqrt(var) : 0;
}

static int64_t round_half_up_div(int64_t num, int64_t den) /* num >= 0, den > 0 */
{
    return (2 * num + den) / (2 * den);
}

/* ---- the population ---- */

static bool in_cohort_a(const struct member *m)
{
    /* {"all":[{"age":{"min":20,"max":85}},{"any":[{"sex_at_birth":"female"},
     * {"sex_at_birth":"intersex"},{"sex_at_birth":"unknown"}]}]}: an unset field never matches. */
    if (!m->profile || m->birth_year == NONE || !m->sex[0])
        return false;
    int age = D.year - m->birth_year;
    return age >= 20 && age <= 85 && strcmp(m->sex, "male") != 0;
}

static bool in_cohort_b(const struct member *m)
{
    /* {"age":{"min":0}} */
    return m->profile && m->birth_year != NONE && D.year - m->birth_year >= 0;
}

static bool in_cohort_c(const struct member *m)
{
    /* {"all":[{"age":{"min":0}},{"symptom":{"symptom":"fatigue","min_severity":3,"within_days":60,
     * "at_least_entries":2}},{"symptom":{"symptom":"nausea","weeks":{"at_least":2,"of_last":10}}}]}:
     * the cohort language's windows count hours back from now; week k = floor((now - t) / 7 d). */
    if (!in_cohort_b(m))
        return false;
    int idx = (int)(m - D.mem), fatigue = 0;
    bool week[10] = {false};
    for (int e = 0; e < D.nent; e++) {
        const struct entry *en = &D.ent[e];
        if (en->m != idx || en->t > D.now_us)
            continue;
        if (!strcmp(en->sym, "fatigue") && en->sev >= 3 && en->t >= D.now_us - 60 * DAY_US)
            fatigue++;
        if (!strcmp(en->sym, "nausea") && en->t > D.now_us - 70 * DAY_US)
            week[(D.now_us - en->t) / (7 * DAY_US)] = true;
    }
    int weeks = 0;
    for (int k = 0; k < 10; k++)
        weeks += week[k];
    return fatigue >= 2 && weeks >= 2;
}

/* A record of the drug started by today; with running, one not stopped by today either. */
static bool takes(const struct member *m, const char *drug, bool running)
{
    int idx = (int)(m - D.mem);
    for (int k = 0; k < D.nmed; k++) {
        const struct med *r = &D.med[k];
        if (r->m == idx && !strcmp(r->drug, drug) && r->start <= D.today &&
            (!running || r->stop == NONE || r->stop > D.today))
            return true;
    }
    return false;
}

static bool in_cohort_med1(const struct member *m)
{
    /* {"all":[{"age":{"min":0}},{"medication":{"medication":"metformin","ever":true}},
     * {"not":{"medication":{"medication":"ibuprofen","current":true}}}]} */
    return in_cohort_b(m) && takes(m, "metformin", false) && !takes(m, "ibuprofen", true);
}

static bool in_cohort_med2(const struct member *m)
{
    /* {"any":[{"medication":{"medication":"ibuprofen","ever":false}},
     * {"medication":{"medication":"metformin","current":false}}]} */
    return !takes(m, "ibuprofen", false) ||
           (takes(m, "metformin", false) && !takes(m, "metformin", true));
}

static bool in_cohort_cond1(const struct member *m)
{
    /* {"all":[{"medication":{"medication":"metformin","ever":true}},
     * {"condition":{"condition":"multiple_sclerosis"}}]} */
    return m->ms && takes(m, "metformin", false);
}

static bool in_cohort_cond2(const struct member *m)
{
    /* {"all":[{"age":{"min":0}},{"condition":{"condition":"asthma"}},
     * {"not":{"condition":{"condition":"multiple_sclerosis"}}}]} */
    return in_cohort_b(m) && m->asthma && !m->ms;
}

static int select_pop(bool (*in)(const struct member *))
{
    int n = 0;
    for (int i = 0; i < D.nmem; i++) {
        D.mem[i].in_pop = D.mem[i].permitted && in(&D.mem[i]);
        n += D.mem[i].in_pop;
    }
    return n;
}

/* ---- expected values per measure ---- */

static void expect_count(const json_t *o, int npop)
{
    check_count(json_object_get(o, "count"), npop, "count");
}

static const char *age_band(const struct member *m, char *buf, size_t n)
{
    if (!m->profile || m->birth_year == NONE || D.year - m->birth_year < 0)
        return "not_recorded";
    int age = D.year - m->birth_year;
    if (age >= 90)
        return "90+";
    snprintf(buf, n, "%d-%d", age / 10 * 10, age / 10 * 10 + 9);
    return buf;
}

static void expect_breakdown(const json_t *o, int by)
{
    json_t *cells = json_object_get(o, "cells");
    int64_t total = 0;
    size_t ncodes;
    const char *const *codes = stats_country_codes(&ncodes);
    for (size_t c = 0; c < json_array_size(cells); c++) {
        const char *value = json_string_value(json_object_get(json_array_get(cells, c), "value"));
        int64_t truth = 0, shown;
        for (int i = 0; i < D.nmem; i++) {
            const struct member *m = &D.mem[i];
            char buf[16];
            const char *key;
            if (!m->in_pop)
                continue;
            if (by == 0) {
                key = age_band(m, buf, sizeof(buf));
            } else if (by == 1) {
                key = m->sex[0] ? m->sex : "not_recorded";
            } else {
                bool listed = false;
                for (size_t k = 0; k < ncodes; k++)
                    listed = listed || strcmp(codes[k], m->country) == 0;
                key = !m->country[0] ? "not_recorded" : listed ? m->country : "other";
            }
            truth += strcmp(key, value) == 0;
        }
        check_count(json_object_get(json_array_get(cells, c), "count"), truth, value);
        if (stats_release_count_value(truth, &shown) == 0)
            total += shown;
    }
    ck_assert_uint_eq(json_array_size(cells), by == 0 ? 11 : by == 1 ? 5 : 251);
    /* The total is the sum of the released cells, never of the true ones. */
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), total);
    D.numbers++;
}

/* Per-member mean severity in hundredths over entries of sym on UTC days first..last; -1 if none.
 */
static int64_t member_m100(int m, const char *sym, int first, int last)
{
    int64_t s = 0, c = 0;
    for (int i = 0; i < D.nent; i++)
        if (D.ent[i].m == m && strcmp(D.ent[i].sym, sym) == 0 && D.ent[i].day >= first &&
            D.ent[i].day <= last) {
            s += D.ent[i].sev;
            c++;
        }
    return c ? round_half_up_div(100 * s, c) : -1;
}

static void expect_distribution(const json_t *o, const char *sym, int window)
{
    int64_t n = 0, s = 0, q = 0, h[11] = {0};
    double exact_sum = 0, xs[NMEMBERS];
    for (int i = 0; i < D.nmem; i++) {
        if (!D.mem[i].in_pop)
            continue;
        /* The last window UTC days, all of today (also later than now). */
        int64_t v = member_m100(i, sym, D.today - window + 1, D.today);
        if (v < 0)
            continue;
        xs[n] = (double)v / 100.0;
        exact_sum += (double)v;
        n++;
        s += v;
        q += ((v - 500) * (v - 500) + 50) / 100;
        h[(v + 50) / 100]++;
    }
    bool ok = n >= 11;
    double mean = NAN, sd = NAN, lo = NAN, hi = NAN, hd[11];
    for (int b = 0; b < 11; b++) {
        hd[b] = (double)h[b];
        char what[32];
        snprintf(what, sizeof(what), "histogram %d", b);
        check_count(
            json_object_get(json_array_get(json_object_get(o, "histogram"), (size_t)b), "count"),
            h[b], what);
    }
    if (ok) {
        mean_sd(n, s, q, 5, 0, 10, &mean, &sd);
        stats_t_ci(mean, sd, (double)n, &lo, &hi);
        /* The documented rounding costs almost nothing against the plain statistics. */
        ck_assert(fabs(mean - stats_mean(xs, (size_t)n)) < 1e-9);
        ck_assert(fabs(sd - stats_sd(xs, (size_t)n)) < 0.01);
    }
    check_count(json_object_get(o, "n"), n, "distribution n");
    check_stat(json_object_get(o, "mean"), ok, mean, "mean");
    check_stat(json_object_get(o, "sd"), ok, sd, "sd");
    check_ci(json_object_get(o, "mean_ci95"), ok, lo, hi, "mean ci");
    check_stat(json_object_get(o, "q1"), ok, stats_hist_quantile(hd, 11, 0.25), "q1");
    check_stat(json_object_get(o, "median"), ok, stats_hist_quantile(hd, 11, 0.5), "median");
    check_stat(json_object_get(o, "q3"), ok, stats_hist_quantile(hd, 11, 0.75), "q3");
}

/* Period k of an entry (0 = current), or -1 when outside 0..P-1. Weeks: ISO weeks (UTC), the
 * current one whole (also its days after today); months: calendar months (UTC) up to today. */
static int period_of(const struct entry *e, bool week, int P)
{
    int k;
    if (week) {
        k = (D.monday - e->monday) / 7;
    } else {
        if (e->day > D.today)
            return -1;
        k = D.mon - e->mon;
    }
    return k >= 0 && k < P ? k : -1;
}

/* The "start" label of period k: its Monday as YYYY-MM-DD, or its month as YYYY-MM. */
static void period_start(bool week, int k, char *buf, size_t len)
{
    if (week) {
        time_t t = (time_t)(D.monday - 7 * k) * 86400;
        struct tm tm;
        ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
        ck_assert_int_eq(tm.tm_wday, 1);
        snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    } else {
        snprintf(buf, len, "%04d-%02d", (D.mon - k) / 12, (D.mon - k) % 12 + 1);
    }
}

static void expect_trend(const json_t *o, const char *sym, bool week, int P)
{
    int64_t n[104] = {0}, s[104] = {0}, q[104] = {0};
    for (int i = 0; i < D.nmem; i++) {
        int64_t ps[104] = {0}, pc[104] = {0};
        if (!D.mem[i].in_pop)
            continue;
        for (int e = 0; e < D.nent; e++) {
            int k;
            if (D.ent[e].m != i || strcmp(D.ent[e].sym, sym) != 0 ||
                (k = period_of(&D.ent[e], week, P)) < 0)
                continue;
            ps[k] += D.ent[e].sev;
            pc[k]++;
        }
        for (int k = 0; k < P; k++) {
            if (!pc[k])
                continue;
            int64_t v = round_half_up_div(100 * ps[k], pc[k]);
            n[k]++;
            s[k] += v;
            q[k] += ((v - 500) * (v - 500) + 50) / 100;
        }
    }
    json_t *series = json_object_get(o, "series");
    double x[104], y[104], w[104];
    ck_assert_uint_eq(json_array_size(series), (size_t)P);
    for (int i = 0; i < P; i++) {
        int k = P - 1 - i;
        json_t *p = json_array_get(series, (size_t)i);
        double mean = NAN, sd = NAN, lo = NAN, hi = NAN;
        bool ok = n[k] >= 11;
        char start[48];
        period_start(week, k, start, sizeof(start));
        ck_assert_int_eq(json_integer_value(json_object_get(p, "period")), i);
        ck_assert_str_eq(json_string_value(json_object_get(p, "start")), start);
        x[i] = i;
        y[i] = 0;
        w[i] = 0;
        if (ok) {
            mean_sd(n[k], s[k], q[k], 5, 0, 10, &mean, &sd);
            stats_t_ci(mean, sd, (double)n[k], &lo, &hi);
            y[i] = mean;
            if (sd > 0)
                w[i] = (double)n[k] / (sd * sd);
        }
        check_count(json_object_get(p, "n"), n[k], "period n");
        check_stat(json_object_get(p, "mean"), ok, mean, "period mean");
        check_ci(json_object_get(p, "ci95"), ok, lo, hi, "period ci");
    }
    struct stats_slope sl;
    bool ok = stats_weighted_slope(x, y, w, (size_t)P, &sl) == 0;
    check_stat(json_object_get(o, "slope_per_period"), ok, ok ? sl.slope : NAN, "slope");
    check_ci(json_object_get(o, "slope_ci95"), ok, ok ? sl.lo : NAN, ok ? sl.hi : NAN, "slope ci");
}

static void expect_treatment(const json_t *o, const char *drug, const char *sym, int before,
                             int after)
{
    int64_t n = 0, s = 0, q = 0, imp = 0, wor = 0;
    for (int i = 0; i < D.nmem; i++) {
        int first = INT_MAX;
        if (!D.mem[i].in_pop)
            continue;
        for (int k = 0; k < D.nmed; k++)
            if (D.med[k].m == i && strcmp(D.med[k].drug, drug) == 0 && D.med[k].start <= D.today &&
                D.med[k].start < first)
                first = D.med[k].start;
        if (first == INT_MAX)
            continue;
        int64_t t0 = (int64_t)first * DAY_US;
        if (t0 + after * DAY_US > D.now_us)
            continue;
        int64_t bs = 0, bc = 0, xs = 0, xc = 0;
        for (int e = 0; e < D.nent; e++) {
            const struct entry *en = &D.ent[e];
            if (en->m != i || strcmp(en->sym, sym) != 0 || en->t < t0 - before * DAY_US ||
                en->t >= t0 + after * DAY_US)
                continue;
            if (en->t < t0) {
                bs += en->sev;
                bc++;
            } else {
                xs += en->sev;
                xc++;
            }
        }
        if (!bc || !xc)
            continue;
        /* round half up of 100 (after - before), via the shifted non-negative numerator */
        int64_t v = round_half_up_div(100 * (xs * bc - bs * xc + 10 * xc * bc), xc * bc) - 1000;
        n++;
        s += v;
        q += (v * v + 50) / 100;
        imp += v < 0;
        wor += v > 0;
    }
    bool ok = n >= 11;
    double mean = NAN, sd = NAN, lo = NAN, hi = NAN, p = NAN;
    if (ok) {
        mean_sd(n, s, q, 0, -10, 10, &mean, &sd);
        stats_t_ci(mean, sd, (double)n, &lo, &hi);
    }
    bool sign_ok = ok && imp + wor >= 11;
    if (sign_ok)
        p = stats_sign_test_p((unsigned)imp, (unsigned)(imp + wor));
    check_count(json_object_get(o, "n"), n, "treatment n");
    check_count(json_object_get(o, "improved"), imp, "improved");
    check_count(json_object_get(o, "worsened"), wor, "worsened");
    check_stat(json_object_get(o, "mean_change"), ok, mean, "mean change");
    check_stat(json_object_get(o, "sd_change"), ok, sd, "sd change");
    check_ci(json_object_get(o, "mean_change_ci95"), ok, lo, hi, "change ci");
    check_stat(json_object_get(o, "effect_size"), ok, ok ? stats_effect_size(mean, sd) : NAN,
               "effect size");
    check_stat(json_object_get(o, "sign_test_p"), sign_ok, p, "sign test");
}

/* Is evaluation a later than b (evaluated_on, created_at, id)? */
static bool later_eval(const struct eval *a, const struct eval *b)
{
    if (a->on != b->on)
        return a->on > b->on;
    if (a->created != b->created)
        return a->created > b->created;
    return strcmp(a->id, b->id) > 0;
}

static bool later_stop(const struct med *a, const struct med *b)
{
    if (a->stop != b->stop)
        return a->stop > b->stop;
    if (a->created != b->created)
        return a->created > b->created;
    return strcmp(a->id, b->id) > 0;
}

static int severity_rank(const char *s)
{
    return !strcmp(s, "severe") ? 3 : !strcmp(s, "moderate") ? 2 : !strcmp(s, "mild") ? 1 : 0;
}

struct ranked {
    const char *sym;
    int rank;
    int64_t count;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return y->rank - x->rank;
    return strcmp(x->sym, y->sym);
}

static int cmp_top(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->sym, y->sym);
}

static void expect_cells(const json_t *cells, const char *const *values, const int64_t *truth,
                         size_t n, const char *what)
{
    ck_assert_uint_eq(json_array_size(cells), n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cells, i);
        ck_assert_str_eq(json_string_value(json_object_get(c, "value")), values[i]);
        check_count(json_object_get(c, "count"), truth[i], what);
    }
}

static void expect_outcomes(const json_t *o, const char *drug)
{
    static const char *const eff[] = {"none",  "slight",    "moderate",
                                      "major", "cant_tell", "not_rated"};
    static const char *const adh[] = {"always", "usually", "sometimes", "never", "not_rated"};
    static const char *const stop[] = {"side_effects",  "not_effective", "cost",     "remission",
                                       "doctor_advice", "other",         "not_given"};
    int64_t ne[6] = {0}, na[5] = {0}, ns[7] = {0}, nevaluated = 0;
    struct ranked *top = calloc((size_t)D.ncat + 1, sizeof(*top));
    for (int c = 0; c < D.ncat; c++)
        top[c].sym = D.catalog[c];

    for (int i = 0; i < D.nmem; i++) {
        if (!D.mem[i].in_pop)
            continue;
        const struct eval *latest = NULL;
        const struct med *stopped = NULL;
        struct ranked mine[64];
        int nmine = 0;
        for (int e = 0; e < D.nev; e++) {
            const struct eval *ev = &D.ev[e];
            if (ev->m != i || strcmp(D.med[ev->med].drug, drug) != 0)
                continue;
            if (!latest || later_eval(ev, latest))
                latest = ev;
        }
        for (int k = 0; k < D.nmed; k++) {
            const struct med *m = &D.med[k];
            if (m->m == i && strcmp(m->drug, drug) == 0 && m->stop != NONE && m->stop <= D.today &&
                (!stopped || later_stop(m, stopped)))
                stopped = m;
        }
        for (int x = 0; x < D.nse; x++) {
            const struct side *se = &D.se[x];
            if (se->m != i || !se->sym[0] || !strcmp(se->sev, "none") ||
                strcmp(D.med[D.ev[se->eval].med].drug, drug) != 0)
                continue;
            int r = severity_rank(se->sev), j;
            for (j = 0; j < nmine && strcmp(mine[j].sym, se->sym) != 0; j++)
                ;
            if (j == nmine) {
                ck_assert_int_lt(nmine, 64);
                mine[nmine++] = (struct ranked){se->sym, r, 0};
            } else if (r > mine[j].rank) {
                mine[j].rank = r;
            }
        }
        qsort(mine, (size_t)nmine, sizeof(mine[0]), cmp_ranked);
        for (int j = 0; j < nmine && j < STATS_SIDE_EFFECTS_PER_MEMBER; j++)
            for (int c = 0; c < D.ncat; c++)
                if (!strcmp(top[c].sym, mine[j].sym))
                    top[c].count++;
        if (latest) {
            nevaluated++;
            for (int k = 0; k < 6; k++)
                ne[k] += !strcmp(latest->eff[0] ? latest->eff : "not_rated", eff[k]);
            for (int k = 0; k < 5; k++)
                na[k] += !strcmp(latest->adh[0] ? latest->adh : "not_rated", adh[k]);
        }
        if (stopped)
            for (int k = 0; k < 7; k++)
                ns[k] += !strcmp(stopped->reason[0] ? stopped->reason : "not_given", stop[k]);
    }
    check_count(json_object_get(o, "n_evaluated"), nevaluated, "n evaluated");
    expect_cells(json_object_get(o, "effectiveness"), eff, ne, 6, "effectiveness");
    expect_cells(json_object_get(o, "adherence"), adh, na, 5, "adherence");
    expect_cells(json_object_get(o, "stop_reasons"), stop, ns, 7, "stop reason");

    qsort(top, (size_t)D.ncat, sizeof(*top), cmp_top);
    json_t *list = json_object_get(o, "side_effects");
    size_t listed = 0;
    bool ok = nevaluated >= 11;
    for (int c = 0; c < D.ncat && listed < 10; c++) {
        int64_t shown;
        if (stats_release_count_value(top[c].count, &shown) != 0)
            continue;
        json_t *e = json_array_get(list, listed++);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(json_string_value(json_object_get(e, "symptom")), top[c].sym);
        check_count(json_object_get(e, "count"), top[c].count, top[c].sym);
        double lo = NAN, hi = NAN, k = clampd((double)top[c].count, 0, (double)nevaluated);
        if (ok)
            stats_wilson_ci(k, (double)nevaluated, &lo, &hi);
        check_stat(json_object_get(e, "rate"), ok, ok ? k / (double)nevaluated : NAN, "rate");
        check_ci(json_object_get(e, "ci95"), ok, lo, hi, "rate ci");
    }
    ck_assert_uint_eq(json_array_size(list), listed);
    free(top);
}

static void expect_signal(const json_t *o, const char *drug, const char *sym)
{
    int64_t a = 0, b = 0, c = 0, d = 0;
    for (int i = 0; i < D.nmem; i++) {
        bool took = false, other = false, rep_this = false, rep_other = false;
        if (!D.mem[i].in_pop)
            continue;
        for (int k = 0; k < D.nmed; k++) {
            if (D.med[k].m != i || D.med[k].start > D.today)
                continue;
            if (!strcmp(D.med[k].drug, drug))
                took = true;
            else
                other = true;
        }
        for (int x = 0; x < D.nse; x++) {
            const struct side *se = &D.se[x];
            const struct med *m = &D.med[D.ev[se->eval].med];
            if (se->m != i || strcmp(se->sym, sym) != 0 || !strcmp(se->sev, "none") ||
                m->start > D.today)
                continue;
            if (!strcmp(m->drug, drug))
                rep_this = true;
            else
                rep_other = true;
        }
        if (took) {
            a += rep_this;
            b += !rep_this;
        } else if (other) {
            c += rep_other;
            d += !rep_other;
        }
    }
    json_t *t = json_object_get(o, "table");
    check_count(json_object_get(t, "a"), a, "a");
    check_count(json_object_get(t, "b"), b, "b");
    check_count(json_object_get(t, "c"), c, "c");
    check_count(json_object_get(t, "d"), d, "d");
    struct stats_dispro dp = {0};
    bool ok = a >= 11 && b >= 11 && c >= 11 && d >= 11 &&
              stats_disproportionality((double)a, (double)b, (double)c, (double)d, &dp) == 0;
    check_stat(json_object_get(o, "prr"), ok, dp.prr, "prr");
    check_ci(json_object_get(o, "prr_ci95"), ok, dp.prr_lo, dp.prr_hi, "prr ci");
    check_stat(json_object_get(o, "ror"), ok, dp.ror, "ror");
    check_ci(json_object_get(o, "ror_ci95"), ok, dp.ror_lo, dp.ror_hi, "ror ci");
    check_stat(json_object_get(o, "chi2"), ok, dp.chi2, "chi2");
    check_stat(json_object_get(o, "chi2_p"), ok, dp.chi2_p, "chi2 p");
}

/* ---- the tests ---- */

/* Three cohorts: a narrow one (age band and three of the four sexes), everyone with an age, and
 * one with the costly criteria (entry and week counts) that queries apply last. */
#define NCOHORTS 3
static const char *const cohort_texts[NCOHORTS] = {
    "{\"all\":[{\"age\":{\"min\":20,\"max\":85}},{\"any\":[{\"sex_at_birth\":\"female\"},"
    "{\"sex_at_birth\":\"intersex\"},{\"sex_at_birth\":\"unknown\"}]}]}",
    "{\"age\":{\"min\":0}}",
    "{\"all\":[{\"age\":{\"min\":0}},{\"symptom\":{\"symptom\":\"fatigue\",\"min_severity\":3,"
    "\"within_days\":60,\"at_least_entries\":2}},{\"symptom\":{\"symptom\":\"nausea\","
    "\"weeks\":{\"at_least\":2,\"of_last\":10}}}]}",
};
static bool (*const cohort_fns[NCOHORTS])(const struct member *) = {in_cohort_a, in_cohort_b,
                                                                    in_cohort_c};

/* Connect, load every raw row, and fix now (after the data was generated). */
static void prepare(void)
{
    conn = th_db();
    memset(&D, 0, sizeof(D));
    D.now = (int64_t)time(NULL);
    D.now_us = D.now * 1000000;
    D.today = (int)(D.now / 86400);
    time_t t = (time_t)D.now;
    struct tm tm;
    gmtime_r(&t, &tm);
    D.year = tm.tm_year + 1900;
    D.month = tm.tm_mon + 1;
    D.mon = D.year * 12 + D.month - 1;
    D.monday = D.today - (tm.tm_wday + 6) % 7;
    load_rows();
    ck_assert_int_ge(D.nmem, 300);
}

static void finish(const char *what, long min_statistics)
{
    printf("measure_db %s: %d members, %ld released numbers compared, %ld of them statistics\n",
           what, D.nmem, D.numbers, D.statistics);
    /* The data must make the statistics real, not all suppressed. */
    ck_assert_int_ge(D.statistics, min_statistics);
    free(D.ent);
    free(D.med);
    free(D.ev);
    free(D.se);
    free(D.catalog);
    PQfinish(conn);
}

/* The population for cohort k: its size; the parsed cohort goes to *c (free it). */
static int population(int k, struct stats_cohort **c, struct stats_population *pop)
{
    *c = cohort(cohort_texts[k]);
    *pop = (struct stats_population){.cohort = *c, .categories = 31, .now = D.now};
    int npop = select_pop(cohort_fns[k]), nb = 0;
    ck_assert_int_ge(npop, (k == 0 ? 80 : k == 1 ? 200 : 20));
    /* The costly criteria of cohort 2 must bite: fewer members than cohort 1's. */
    for (int i = 0; i < D.nmem; i++)
        nb += D.mem[i].permitted && in_cohort_b(&D.mem[i]);
    if (k == 2)
        ck_assert_int_lt(npop, nb);
    return npop;
}

/* The population SQL's member set is exactly the npop members marked in_pop, and the count from
 * the query equals the one from the materialised table. */
static void expect_population(const struct stats_sql *sql, const struct stats_population *pop,
                              int npop)
{
    PGresult *r = PQexecParams(conn, sql->text, sql->nparams, NULL,
                               (const char *const *)sql->params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    ck_assert_int_eq(PQntuples(r), npop);
    for (int i = 0; i < PQntuples(r); i++) {
        int m = member_index(PQgetvalue(r, i, 0));
        ck_assert_int_ge(m, 0);
        ck_assert(D.mem[m].in_pop);
    }
    PQclear(r);
    struct stats_measure m = measure("[{\"type\":\"count\"}]");
    json_t *o = run(&m, pop);
    expect_count(o, npop);
    json_decref(o);
}

START_TEST(population_and_count)
{
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        int npop = population(k, &c, &pop);
        /* The SQL's member set is exactly the one computed here. */
        struct stats_sql sql;
        stats_sql_init(&sql);
        ck_assert_int_eq(stats_population_sql(&pop, &sql), 0);
        expect_population(&sql, &pop, npop);
        stats_sql_free(&sql);
        stats_cohort_free(c);
    }
    /* Criteria read from the facts rows: medication criteria are the drug list's test (schema
     * 0023) in front of the question to the records; a required condition reads that condition's
     * copies of the rows (0024). The member sets must still be exactly the records' ones, from the
     * query and from the materialised population. */
    static const char *const med_texts[] = {
        "{\"all\":[{\"age\":{\"min\":0}},{\"medication\":{\"medication\":\"metformin\","
        "\"ever\":true}},{\"not\":{\"medication\":{\"medication\":\"ibuprofen\","
        "\"current\":true}}}]}",
        "{\"any\":[{\"medication\":{\"medication\":\"ibuprofen\",\"ever\":false}},"
        "{\"medication\":{\"medication\":\"metformin\",\"current\":false}}]}",
        "{\"all\":[{\"medication\":{\"medication\":\"metformin\",\"ever\":true}},"
        "{\"condition\":{\"condition\":\"multiple_sclerosis\"}}]}",
        "{\"all\":[{\"age\":{\"min\":0}},{\"condition\":{\"condition\":\"asthma\"}},"
        "{\"not\":{\"condition\":{\"condition\":\"multiple_sclerosis\"}}}]}"};
    static bool (*const med_fns[])(const struct member *) = {in_cohort_med1, in_cohort_med2,
                                                             in_cohort_cond1, in_cohort_cond2};
    for (size_t k = 0; k < NELEM(med_texts); k++) {
        struct stats_cohort *c = cohort(med_texts[k]);
        struct stats_population pop = {.cohort = c, .categories = 31, .now = D.now};
        int npop = select_pop(med_fns[k]), nperm = 0;
        for (int i = 0; i < D.nmem; i++)
            nperm += D.mem[i].permitted;
        /* Both criteria bite, and something is left. */
        ck_assert_int_ge(npop, 20);
        ck_assert_int_lt(npop, nperm - 20);
        bool lead = k >= 2; /* the two led by a condition */
        struct stats_sql sql;
        stats_sql_init(&sql);
        ck_assert_int_eq(stats_population_sql(&pop, &sql), 0);
        ck_assert(!!strstr(sql.text, "f.medications @> ARRAY[") == (k < 3));
        ck_assert(!!strstr(sql.text, "FROM member_condition_facts WHERE") == lead);
        expect_population(&sql, &pop, npop);
        stats_sql_free(&sql);
        stats_cohort_free(c);
    }
    finish("count", 0);
}
END_TEST

START_TEST(breakdowns)
{
    static const char *const by[] = {"age_band", "sex_at_birth", "country"};
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        population(k, &c, &pop);
        for (int b = 0; b < 3; b++) {
            char text[96];
            snprintf(text, sizeof(text), "[{\"type\":\"breakdown\",\"by\":\"%s\"}]", by[b]);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_breakdown(o, b);
            json_decref(o);
        }
        stats_cohort_free(c);
    }
    finish("breakdowns", 0);
}
END_TEST

START_TEST(symptom_distributions)
{
    static const struct {
        const char *sym;
        int window;
    } cases[] = {{"fatigue", 7}, {"fatigue", 30}, {"fatigue", 120}, {"nausea", 60}};
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        population(k, &c, &pop);
        for (size_t i = 0; i < NELEM(cases); i++) {
            char text[128];
            snprintf(text, sizeof(text),
                     "[{\"type\":\"symptom_distribution\",\"symptom\":\"%s\",\"window_days\":%d}]",
                     cases[i].sym, cases[i].window);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_distribution(o, cases[i].sym, cases[i].window);
            json_decref(o);
        }
        stats_cohort_free(c);
    }
    finish("distributions", 40);
}
END_TEST

START_TEST(symptom_trends)
{
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        population(k, &c, &pop);
        struct stats_measure m = measure("[{\"type\":\"symptom_trend\",\"symptom\":\"fatigue\","
                                         "\"interval\":\"week\",\"periods\":18}]");
        json_t *o = run(&m, &pop);
        expect_trend(o, "fatigue", true, 18);
        json_decref(o);
        m = measure("[{\"type\":\"symptom_trend\",\"symptom\":\"fatigue\",\"interval\":\"month\","
                    "\"periods\":5}]");
        o = run(&m, &pop);
        expect_trend(o, "fatigue", false, 5);
        json_decref(o);
        stats_cohort_free(c);
    }
    finish("trends", 60);
}
END_TEST

START_TEST(treatment_effects)
{
    static const int ba[][2] = {{28, 28}, {14, 7}, {60, 30}};
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        population(k, &c, &pop);
        for (size_t i = 0; i < NELEM(ba); i++) {
            char text[192];
            snprintf(text, sizeof(text),
                     "[{\"type\":\"treatment_effect\",\"medication\":\"metformin\","
                     "\"symptom\":\"fatigue\",\"before_days\":%d,\"after_days\":%d}]",
                     ba[i][0], ba[i][1]);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_treatment(o, "metformin", "fatigue", ba[i][0], ba[i][1]);
            json_decref(o);
        }
        stats_cohort_free(c);
    }
    finish("treatment", 20);
}
END_TEST

START_TEST(medication_outcomes)
{
    static const char *const drugs[] = {"metformin", "ibuprofen"};
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        population(k, &c, &pop);
        for (size_t i = 0; i < NELEM(drugs); i++) {
            char text[128];
            snprintf(text, sizeof(text),
                     "[{\"type\":\"medication_outcomes\",\"medication\":\"%s\"}]", drugs[i]);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_outcomes(o, drugs[i]);
            json_decref(o);
        }
        stats_cohort_free(c);
    }
    finish("outcomes", 40);
}
END_TEST

START_TEST(side_effect_signals)
{
    static const char *const effects[] = {"nausea", "rash", "weight_gain"};
    prepare();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        population(k, &c, &pop);
        for (size_t i = 0; i < NELEM(effects); i++) {
            char text[160];
            snprintf(text, sizeof(text),
                     "[{\"type\":\"side_effect_signal\",\"medication\":\"metformin\","
                     "\"side_effect\":\"%s\"}]",
                     effects[i]);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_signal(o, "metformin", effects[i]);
            json_decref(o);
        }
        stats_cohort_free(c);
    }
    finish("signals", 16);
}
END_TEST

/* ---- random writes: rollups against the raw entries ---- */

/* splitmix64 with a fixed seed: the sequence of operations and values is fixed; which rows they
 * hit also depends on the day (the population is generated relative to now). */
#define RANDOM_SEED UINT64_C(0x5eed2718)
static uint64_t rng;

static uint64_t rnd64(void)
{
    uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int rnd(int n)
{
    return (int)(rnd64() % (uint64_t)n);
}

/* The members written to: a few in the population, two outside it (no consent, withdrawn). */
static const int hot_numbers[] = {2, 4, 5, 7, 8, 10, 14, 16, 20, 25, 26, 28, 9, 13};
static struct hot {
    char id[37], custom[37]; /* the member, its custom symptom */
    int d0;                  /* first metformin start day, NONE when none */
} hot[NELEM(hot_numbers)];
static int nhot;

static const char *const write_symptoms[] = {"fatigue", "fatigue", "fatigue", "nausea", "headache"};

static PGresult *sqlp(const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(conn));
    return r;
}

/* Rows a write statement touched. */
static long sql_rows(const char *sql, int n, const char *const *p)
{
    PGresult *r = sqlp(sql, n, p);
    long v = atol(PQcmdTuples(r));
    PQclear(r);
    return v;
}

/* The first value of a query (0 when NULL). */
static long sql_num(const char *sql, int n, const char *const *p)
{
    PGresult *r = sqlp(sql, n, p);
    ck_assert_int_eq(PQntuples(r), 1);
    long v = PQgetisnull(r, 0, 0) ? 0 : atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static const char *num(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

/* A time in microseconds as timestamptz text, exact to the microsecond. */
static const char *fmt_ts(char buf[48], int64_t us)
{
    int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    time_t t = (time_t)sec;
    struct tm tm;
    ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
    snprintf(buf, 48, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us - sec * 1000000));
    return buf;
}

static const char *fmt_day(char buf[48], int day)
{
    fmt_ts(buf, (int64_t)day * DAY_US);
    buf[10] = '\0';
    return buf;
}

/* The first day of month index mon (year * 12 + month - 1), days since 1970. */
static int month_first(int mon)
{
    struct tm tm = {.tm_year = mon / 12 - 1900, .tm_mon = mon % 12, .tm_mday = 1};
    return (int)(timegm(&tm) / 86400);
}

/* A day where a window ends or starts: the distribution windows (7, 30, 60, 120 days), the week
 * trend (this week, 18 weeks back, week boundaries between), the month trend (this month, 5
 * months back), the treatment windows around the member's first start, or a random day. */
static int pick_day(const struct hot *h)
{
    static const int around_d0[] = {0,   -1,  -7, -8, -14, -15, -28, -29,
                                    -60, -61, 6,  7,  27,  28,  29,  30};
    switch (rnd(6)) {
    case 0: {
        static const int back[] = {0, -1, 1, 6, 7, 29, 30, 59, 60, 119, 120};
        return D.today - back[rnd((int)NELEM(back))];
    }
    case 1: {
        int w = rnd(19);
        return D.monday - 7 * w + (rnd(2) ? -1 : 0) + (rnd(4) == 0 ? 7 : 0);
    }
    case 2: {
        int m = month_first(D.mon - rnd(6));
        return m - rnd(2);
    }
    case 3:
        if (h->d0 != NONE)
            return h->d0 + around_d0[rnd((int)NELEM(around_d0))];
        /* fall through */
    default:
        return D.today + 3 - rnd(126);
    }
}

/* A time on such a day: midnight, a microsecond after, the last microsecond, or any time; today
 * also later than now. */
static int64_t pick_time(const struct hot *h)
{
    int day = pick_day(h);
    int64_t base = (int64_t)day * DAY_US;
    switch (rnd(5)) {
    case 0:
        return base;
    case 1:
        return base + 1;
    case 2:
        return base + DAY_US - 1;
    case 3:
        if (day == D.today)
            return D.now_us + 1 + (int64_t)(rnd64() % (uint64_t)(base + DAY_US - D.now_us - 1));
        /* fall through */
    default:
        return base + (int64_t)(rnd64() % (uint64_t)DAY_US);
    }
}

/* A random entry of member h (catalog or custom); false when it has none. */
struct pick {
    char id[37], sym[65]; /* sym "" for a custom symptom */
    int sev, day, monday, mon;
    int64_t t;
};

static bool pick_entry(const struct hot *h, bool catalog_only, struct pick *out)
{
    const char *p[] = {h->id};
    PGresult *r = sqlp(catalog_only ? "SELECT id, symptom_id, severity, (extract(epoch FROM "
                                      "recorded_at) * 1000000)::bigint FROM symptom_entry "
                                      "WHERE member_id = $1 AND symptom_id IS NOT NULL "
                                      "ORDER BY recorded_at, id"
                                    : "SELECT id, symptom_id, severity, (extract(epoch FROM "
                                      "recorded_at) * 1000000)::bigint FROM symptom_entry "
                                      "WHERE member_id = $1 ORDER BY recorded_at, id",
                       1, p);
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return false;
    }
    int i = rnd(n);
    copy(out->id, sizeof(out->id), r, i, 0);
    copy(out->sym, sizeof(out->sym), r, i, 1);
    out->sev = atoi(PQgetvalue(r, i, 2));
    out->t = atoll(PQgetvalue(r, i, 3));
    utc_days(out->t, &out->day, &out->monday, &out->mon);
    PQclear(r);
    return true;
}

/* The rollup row of one key as n * ROW_N + s, or -1 when there is none. */
#define ROW_N 100000
static long day_row(const char *member, const char *sym, int day)
{
    char d[48];
    const char *p[] = {member, sym, fmt_day(d, day)};
    PGresult *r = sqlp("SELECT n * 100000 + s FROM symptom_day WHERE member_id = $1 AND "
                       "sym = symptom_code($2) AND day = $3::date",
                       3, p);
    long v = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

static long week_row(const char *member, const char *sym, int monday)
{
    char d[48];
    const char *p[] = {member, sym, fmt_day(d, monday)};
    PGresult *r = sqlp("SELECT n * 100000 + s FROM symptom_week WHERE member_id = $1 AND "
                       "sym = symptom_code($2) AND week = $3::date",
                       3, p);
    long v = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* Catalog entries of one key counted in the raw table (day bounds computed here). */
static long raw_count(const char *member, const char *sym, int first, int days)
{
    char a[48], b[48];
    const char *p[] = {member, sym, fmt_ts(a, (int64_t)first * DAY_US),
                       fmt_ts(b, (int64_t)(first + days) * DAY_US)};
    return sql_num("SELECT count(*) FROM symptom_entry WHERE member_id = $1 AND symptom_id = $2 "
                   "AND recorded_at >= $3 AND recorded_at < $4",
                   4, p);
}

/* Both rollups as one digest, to show a statement changed nothing. */
static void rollup_digest(char out[33])
{
    PGresult *r = sqlp("SELECT md5(coalesce((SELECT string_agg(concat_ws(' ', sym, member_id, day, "
                       "n, s), ',' ORDER BY sym, member_id, day) FROM symptom_day), '') "
                       "|| '/' || coalesce((SELECT string_agg(concat_ws(' ', sym, member_id, week, "
                       "n, s), ',' ORDER BY sym, member_id, week) FROM symptom_week), "
                       "''))",
                       0, NULL);
    snprintf(out, 33, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* The rollups equal a GROUP BY over the entries, both ways, with no empty row. The week is
 * computed from the day with isodow here, not with the trigger's date_trunc. */
static void check_rollups(const char *when)
{
    static const char *const checks[][2] = {
        {"day rows not in the entries",
         "SELECT count(*) FROM (SELECT sym, member_id, day, n, s FROM symptom_day EXCEPT "
         "SELECT symptom_code(symptom_id), member_id, (recorded_at AT TIME ZONE 'UTC')::date, "
         "count(*)::int, "
         "sum(severity)::int FROM symptom_entry WHERE symptom_id IS NOT NULL GROUP BY 1, 2, 3) x"},
        {"entries not in the day rows",
         "SELECT count(*) FROM (SELECT symptom_code(symptom_id), member_id, (recorded_at AT TIME "
         "ZONE "
         "'UTC')::date, count(*)::int, sum(severity)::int FROM symptom_entry WHERE symptom_id IS "
         "NOT NULL GROUP BY 1, 2, 3 EXCEPT SELECT sym, member_id, day, n, s FROM "
         "symptom_day) x"},
        {"week rows not in the entries",
         "WITH e AS (SELECT symptom_code(symptom_id) AS sym, member_id, (recorded_at AT TIME ZONE "
         "'UTC')::date AS d, "
         "severity FROM symptom_entry WHERE symptom_id IS NOT NULL) SELECT count(*) FROM (SELECT "
         "sym, member_id, week, n, s FROM symptom_week EXCEPT SELECT sym, member_id, "
         "d - (extract(isodow FROM d)::int - 1), count(*)::int, sum(severity)::int FROM e "
         "GROUP BY 1, 2, 3) x"},
        {"entries not in the week rows",
         "WITH e AS (SELECT symptom_code(symptom_id) AS sym, member_id, (recorded_at AT TIME ZONE "
         "'UTC')::date AS d, "
         "severity FROM symptom_entry WHERE symptom_id IS NOT NULL) SELECT count(*) FROM (SELECT "
         "sym, member_id, d - (extract(isodow FROM d)::int - 1), count(*)::int, "
         "sum(severity)::int FROM e GROUP BY 1, 2, 3 EXCEPT SELECT sym, member_id, week, n, "
         "s FROM symptom_week) x"},
        {"empty rows",
         "SELECT (SELECT count(*) FROM symptom_day WHERE n = 0) + (SELECT count(*) FROM "
         "symptom_week WHERE n = 0)"},
        {"entries counted by the day rows minus catalog entries",
         "SELECT (SELECT sum(n) FROM symptom_day) - (SELECT count(*) FROM symptom_entry WHERE "
         "symptom_id IS NOT NULL)"},
        {"entries counted by the week rows minus catalog entries",
         "SELECT (SELECT sum(n) FROM symptom_week) - (SELECT count(*) FROM symptom_entry WHERE "
         "symptom_id IS NOT NULL)"},
    };
    for (size_t i = 0; i < NELEM(checks); i++) {
        long v = sql_num(checks[i][1], 0, NULL);
        ck_assert_msg(v == 0, "%s: %s: %ld", when, checks[i][0], v);
    }
}

enum op {
    OP_INSERT,        /* one catalog entry */
    OP_INSERT_CUSTOM, /* one custom entry */
    OP_BATCH,         /* INSERT ... SELECT: several members and days, custom ones mixed in */
    OP_SEVERITY,      /* one entry's severity */
    OP_TIME,          /* one entry's time */
    OP_SYMPTOM,       /* one entry's symptom: another catalog one, custom <-> catalog */
    OP_ALL,           /* one entry's symptom, time and severity at once */
    OP_NOTE,          /* only the note of all of a member's entries: must change nothing */
    OP_SHIFT,         /* a member's entries over some days moved by hours or days */
    OP_FLIP,          /* severity of several members' entries over some days */
    OP_DELETE,        /* one entry */
    OP_DELETE_WEEK,   /* a member's entries of one symptom and ISO week: empties a week row */
    OP_DELETE_SET,    /* several members' entries of one severity over some days */
    OP_EMPTY_REFILL,  /* a day row emptied by deletes, then re-created by an insert */
    OP_MOVE_ALONE,    /* the only entry of a day row moved to another day: empties it */
    OP_KINDS
};
static const char *const op_names[OP_KINDS] = {"insert",       "insert custom",
                                               "batch insert", "severity",
                                               "time",         "symptom",
                                               "all columns",  "note",
                                               "shift",        "flip",
                                               "delete",       "delete week",
                                               "delete set",   "empty and refill",
                                               "move alone"};
/* Relative frequencies. */
static const int op_weights[OP_KINDS] = {14, 5, 6, 12, 12, 6, 4, 4, 5, 4, 11, 4, 3, 5, 5};

/* Two to four hot members, h first, as a uuid array literal, with their custom symptom ids. */
static int hot_set(const struct hot *h0, char ids[700], char customs[700])
{
    int k = 2 + rnd(3), first = (int)(h0 - hot), n = 0;
    size_t li = 0, lc = 0;
    ids[li++] = '{';
    customs[lc++] = '{';
    ids[li] = customs[lc] = '\0';
    for (int j = 0; j < k && j < nhot; j++) {
        const struct hot *h = &hot[(first + j * 5) % nhot];
        if (strstr(ids, h->id))
            continue;
        li += (size_t)snprintf(ids + li, 700 - li, "%s%s", n ? "," : "", h->id);
        lc += (size_t)snprintf(customs + lc, 700 - lc, "%s%s", n ? "," : "", h->custom);
        n++;
    }
    snprintf(ids + li, 700 - li, "}");
    snprintf(customs + lc, 700 - lc, "}");
    return n;
}

/* One random operation of kind op: rows it touched. */
static long random_op(enum op op)
{
    struct hot *h = &hot[rnd(nhot)];
    const char *sym = write_symptoms[rnd((int)NELEM(write_symptoms))];
    char a[48], b[48], c[48], d[48], ids[700], customs[700];
    struct pick e;
    long n;

    switch (op) {
    case OP_INSERT: {
        const char *p[] = {h->id, sym, num(a, rnd(11)), fmt_ts(b, pick_time(h))};
        return sql_rows("INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
                        "VALUES ($1, $2, $3, $4)",
                        4, p);
    }
    case OP_INSERT_CUSTOM: {
        const char *p[] = {h->id, h->custom, num(a, rnd(11)), fmt_ts(b, pick_time(h))};
        return sql_rows("INSERT INTO symptom_entry (member_id, custom_id, severity, recorded_at) "
                        "VALUES ($1, $2, $3, $4)",
                        4, p);
    }
    case OP_BATCH: {
        /* Steps of minutes to a day and a half: same day rows and rows over days and weeks. */
        int members = hot_set(h, ids, customs), rows = 2 + rnd(7);
        int64_t step = 60 + (int64_t)(rnd64() % 129600);
        const char *p[] = {
            ids,          customs,     sym, num(a, 1 + rnd(10)), fmt_ts(b, pick_time(h)),
            num(c, step), num(d, rows)};
        n = sql_rows("INSERT INTO symptom_entry (member_id, symptom_id, custom_id, severity, "
                     "recorded_at) SELECT m.id, CASE WHEN (g + m.o) % 4 = 0 THEN NULL ELSE $3 END, "
                     "CASE WHEN (g + m.o) % 4 = 0 THEN m.custom END, (g * $4::int + m.o) % 11, "
                     "$5::timestamptz + make_interval(secs => g * $6::int) "
                     "FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY m(id, custom, o), "
                     "generate_series(0, $7::int - 1) g ORDER BY m.o, g",
                     7, p);
        ck_assert_int_eq(n, members * rows);
        return n;
    }
    case OP_SEVERITY: {
        if (!pick_entry(h, false, &e))
            return 0;
        const char *p[] = {h->id, e.id, num(a, rnd(11))};
        return sql_rows("UPDATE symptom_entry SET severity = $3 WHERE member_id = $1 AND id = $2",
                        3, p);
    }
    case OP_TIME: {
        if (!pick_entry(h, false, &e))
            return 0;
        const char *p[] = {h->id, e.id, fmt_ts(a, pick_time(h))};
        return sql_rows(
            "UPDATE symptom_entry SET recorded_at = $3 WHERE member_id = $1 AND id = $2", 3, p);
    }
    case OP_SYMPTOM: {
        if (!pick_entry(h, false, &e))
            return 0;
        if (e.sym[0] && rnd(3) == 0) {
            const char *p[] = {h->id, e.id, h->custom};
            return sql_rows("UPDATE symptom_entry SET symptom_id = NULL, custom_id = $3 "
                            "WHERE member_id = $1 AND id = $2",
                            3, p);
        }
        if (!strcmp(sym, e.sym))
            sym = strcmp(sym, "nausea") ? "nausea" : "fatigue";
        const char *p[] = {h->id, e.id, sym};
        return sql_rows("UPDATE symptom_entry SET symptom_id = $3, custom_id = NULL "
                        "WHERE member_id = $1 AND id = $2",
                        3, p);
    }
    case OP_ALL: {
        if (!pick_entry(h, false, &e))
            return 0;
        const char *p[] = {h->id, e.id, sym, num(a, rnd(11)), fmt_ts(b, pick_time(h))};
        return sql_rows(
            "UPDATE symptom_entry SET symptom_id = $3, custom_id = NULL, severity = $4, "
            "recorded_at = $5 WHERE member_id = $1 AND id = $2",
            5, p);
    }
    case OP_NOTE: {
        char before[33], after[33];
        rollup_digest(before);
        exec_ok("BEGIN");
        num(a, rnd(1000));
        const char *p[] = {h->id, a};
        n = sql_rows("UPDATE symptom_entry SET note = 'note ' || $2 WHERE member_id = $1", 2, p);
        /* Not even a rewrite of the same values: no rollup row carries this transaction's id. */
        ck_assert_int_eq(sql_num("SELECT (SELECT count(*) FROM symptom_day WHERE xmin::text = "
                                 "(txid_current() % 4294967296)::text) + (SELECT count(*) FROM "
                                 "symptom_week WHERE xmin::text = (txid_current() % "
                                 "4294967296)::text)",
                                 0, NULL),
                         0);
        exec_ok("COMMIT");
        rollup_digest(after);
        ck_assert_str_eq(after, before);
        return n;
    }
    case OP_SHIFT: {
        /* A window holding at least one of h's entries. */
        if (!pick_entry(h, false, &e))
            return 0;
        int64_t t = e.t - (int64_t)(rnd64() % (uint64_t)(10 * DAY_US));
        int hours = rnd(2) ? 1 + rnd(23) : 24 * (1 + rnd(8));
        const char *p[] = {h->id, fmt_ts(a, t), fmt_ts(b, t + 10 * DAY_US),
                           num(c, rnd(2) ? hours : -hours)};
        return sql_rows(
            "UPDATE symptom_entry SET recorded_at = recorded_at + make_interval(hours "
            "=> $4::int) WHERE member_id = $1 AND recorded_at >= $2 AND recorded_at < $3",
            4, p);
    }
    case OP_FLIP: {
        if (!pick_entry(h, false, &e))
            return 0;
        int64_t t = e.t - (int64_t)(rnd64() % (uint64_t)DAY_US);
        hot_set(h, ids, customs);
        const char *p[] = {ids, fmt_ts(a, t), fmt_ts(b, t + (1 + rnd(21)) * DAY_US)};
        return sql_rows("UPDATE symptom_entry SET severity = 10 - severity WHERE member_id = "
                        "ANY($1::uuid[]) AND recorded_at >= $2 AND recorded_at < $3",
                        3, p);
    }
    case OP_DELETE: {
        if (!pick_entry(h, false, &e))
            return 0;
        const char *p[] = {h->id, e.id};
        return sql_rows("DELETE FROM symptom_entry WHERE member_id = $1 AND id = $2", 2, p);
    }
    case OP_DELETE_WEEK: {
        if (!pick_entry(h, true, &e))
            return 0;
        const char *p[] = {h->id, e.sym, fmt_ts(a, (int64_t)e.monday * DAY_US),
                           fmt_ts(b, (int64_t)(e.monday + 7) * DAY_US)};
        n = sql_rows("DELETE FROM symptom_entry WHERE member_id = $1 AND symptom_id = $2 AND "
                     "recorded_at >= $3 AND recorded_at < $4",
                     4, p);
        ck_assert_int_ge(n, 1);
        ck_assert_int_eq(week_row(h->id, e.sym, e.monday), -1);
        for (int k = 0; k < 7; k++)
            ck_assert_int_eq(day_row(h->id, e.sym, e.monday + k), -1);
        return n;
    }
    case OP_DELETE_SET: {
        /* One of h's severities around one of its entries: at least that one goes. */
        if (!pick_entry(h, false, &e))
            return 0;
        int64_t t = e.t + 1 + (int64_t)(rnd64() % (uint64_t)(30 * DAY_US));
        hot_set(h, ids, customs);
        const char *p[] = {ids, num(a, e.sev), fmt_ts(b, t - 30 * DAY_US), fmt_ts(c, t)};
        return sql_rows("DELETE FROM symptom_entry WHERE member_id = ANY($1::uuid[]) AND "
                        "severity = $2 AND recorded_at >= $3 AND recorded_at < $4",
                        4, p);
    }
    case OP_EMPTY_REFILL: {
        if (!pick_entry(h, true, &e))
            return 0;
        long before = raw_count(h->id, e.sym, e.day, 1);
        ck_assert_int_ge(before, 1);
        ck_assert_int_eq(day_row(h->id, e.sym, e.day) / ROW_N, before);
        const char *p[] = {h->id, e.sym, fmt_ts(a, (int64_t)e.day * DAY_US),
                           fmt_ts(b, (int64_t)(e.day + 1) * DAY_US)};
        n = sql_rows("DELETE FROM symptom_entry WHERE member_id = $1 AND symptom_id = $2 AND "
                     "recorded_at >= $3 AND recorded_at < $4",
                     4, p);
        ck_assert_int_eq(n, before);
        ck_assert_int_eq(day_row(h->id, e.sym, e.day), -1);
        int sev = rnd(11);
        const char *q[] = {
            h->id, e.sym, num(c, sev),
            fmt_ts(d, (int64_t)e.day * DAY_US + (int64_t)(rnd64() % (uint64_t)DAY_US))};
        n += sql_rows("INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
                      "VALUES ($1, $2, $3, $4)",
                      4, q);
        ck_assert_int_eq(day_row(h->id, e.sym, e.day), ROW_N + sev);
        return n;
    }
    case OP_MOVE_ALONE: {
        const char *p[] = {h->id};
        PGresult *r = sqlp("SELECT id, symptom_id, (extract(epoch FROM recorded_at) * "
                           "1000000)::bigint FROM (SELECT id, symptom_id, recorded_at, count(*) "
                           "OVER (PARTITION BY symptom_id, (recorded_at AT TIME ZONE 'UTC')::date) "
                           "AS c FROM symptom_entry WHERE member_id = $1 AND symptom_id IS NOT "
                           "NULL) x WHERE c = 1 ORDER BY recorded_at, id",
                           1, p);
        if (PQntuples(r) == 0) {
            PQclear(r);
            return 0;
        }
        int i = rnd(PQntuples(r));
        copy(e.id, sizeof(e.id), r, i, 0);
        copy(e.sym, sizeof(e.sym), r, i, 1);
        e.t = atoll(PQgetvalue(r, i, 2));
        PQclear(r);
        utc_days(e.t, &e.day, &e.monday, &e.mon);
        ck_assert_int_eq(day_row(h->id, e.sym, e.day) / ROW_N, 1);
        int64_t t;
        int day, monday, mon;
        do {
            t = pick_time(h);
            utc_days(t, &day, &monday, &mon);
        } while (day == e.day);
        long week_before = raw_count(h->id, e.sym, e.monday, 7);
        const char *q[] = {h->id, e.id, fmt_ts(a, t)};
        n = sql_rows("UPDATE symptom_entry SET recorded_at = $3 WHERE member_id = $1 AND id = $2",
                     3, q);
        ck_assert_int_eq(n, 1);
        ck_assert_int_eq(day_row(h->id, e.sym, e.day), -1);
        ck_assert_int_ge(day_row(h->id, e.sym, day), ROW_N);
        /* The old week row stays exactly when it had other entries or got this one back. */
        if (week_before == 1 && monday != e.monday)
            ck_assert_int_eq(week_row(h->id, e.sym, e.monday), -1);
        else
            ck_assert_int_ge(week_row(h->id, e.sym, e.monday), ROW_N);
        return n;
    }
    case OP_KINDS:
        break;
    }
    ck_abort_msg("unknown operation %d", (int)op);
    return 0;
}

static enum op pick_op(void)
{
    int total = 0, k;
    for (k = 0; k < OP_KINDS; k++)
        total += op_weights[k];
    int x = rnd(total);
    for (k = 0; x >= op_weights[k]; k++)
        x -= op_weights[k];
    return (enum op)k;
}

/* A transaction that writes (the rollups change inside it) and is rolled back (they do not). */
static void rolled_back(void)
{
    char before[33], inside[33], after[33], ids[700], customs[700], a[48], b[48];
    struct hot *h = &hot[rnd(nhot)];
    struct pick e;
    rollup_digest(before);
    exec_ok("BEGIN");
    hot_set(h, ids, customs);
    const char *p[] = {ids, fmt_ts(a, pick_time(h))};
    ck_assert_int_ge(sql_rows("INSERT INTO symptom_entry (member_id, symptom_id, severity, "
                              "recorded_at) SELECT m, 'fatigue', 7, $2::timestamptz + "
                              "make_interval(hours => g * 20) FROM unnest($1::uuid[]) m, "
                              "generate_series(0, 4) g",
                              2, p),
                     10);
    ck_assert(pick_entry(h, true, &e));
    const char *q[] = {h->id, e.id, fmt_ts(b, pick_time(h))};
    ck_assert_int_eq(sql_rows("UPDATE symptom_entry SET recorded_at = $3, severity = 10 - severity "
                              "WHERE member_id = $1 AND id = $2",
                              3, q),
                     1);
    ck_assert_int_eq(sql_rows("DELETE FROM symptom_entry WHERE member_id = $1 AND id = $2", 2, q),
                     1);
    rollup_digest(inside);
    ck_assert_str_ne(inside, before);
    check_rollups("inside the transaction");
    exec_ok("ROLLBACK");
    rollup_digest(after);
    ck_assert_str_eq(after, before);
}

/* Erasure: the account goes, its entries cascade, and so must every rollup row of it. */
static void erase_member(int i)
{
    const char *p[] = {hot[i].id};
    ck_assert_int_gt(sql_num("SELECT count(*) FROM symptom_day WHERE member_id = $1", 1, p), 0);
    ck_assert_int_gt(sql_num("SELECT count(*) FROM symptom_week WHERE member_id = $1", 1, p), 0);
    ck_assert_int_eq(sql_rows("DELETE FROM account WHERE id = $1", 1, p), 1);
    ck_assert_int_eq(sql_num("SELECT count(*) FROM symptom_entry WHERE member_id = $1", 1, p), 0);
    ck_assert_int_eq(sql_num("SELECT count(*) FROM symptom_day WHERE member_id = $1", 1, p), 0);
    ck_assert_int_eq(sql_num("SELECT count(*) FROM symptom_week WHERE member_id = $1", 1, p), 0);
    hot[i] = hot[--nhot];
}

static void setup_hot(void)
{
    nhot = 0;
    for (size_t i = 0; i < NELEM(hot_numbers); i++) {
        char email[64], today[48];
        struct hot *h = &hot[nhot++];
        snprintf(email, sizeof(email), "pop%d@example.org", hot_numbers[i]);
        const char *p[] = {email, fmt_day(today, D.today)};
        PGresult *r =
            sqlp("WITH a AS (SELECT id FROM account WHERE email = $1), c AS (INSERT INTO "
                 "custom_item (member_id, kind, name) SELECT id, 'symptom', 'Random "
                 "tingling' FROM a RETURNING id) SELECT a.id, c.id, (SELECT min(started_on) "
                 "- DATE '1970-01-01' FROM medication WHERE member_id = a.id AND "
                 "medication_id = 'metformin' AND started_on <= $2::date) FROM a, c",
                 2, p);
        ck_assert_int_eq(PQntuples(r), 1);
        copy(h->id, sizeof(h->id), r, 0, 0);
        copy(h->custom, sizeof(h->custom), r, 0, 1);
        h->d0 = int_or_none(r, 0, 2);
        PQclear(r);
    }
}

/* The measures on the rollups against the C computation on freshly read raw entries. */
static void compare_measures(void)
{
    static const struct {
        const char *sym;
        int window;
    } dist[] = {{"fatigue", 7}, {"fatigue", 30}, {"nausea", 60}, {"headache", 120}};
    static const int ba[][2] = {{28, 28}, {14, 7}};
    free(D.ent);
    free(D.med);
    free(D.ev);
    free(D.se);
    free(D.catalog);
    load_rows();
    for (int k = 0; k < NCOHORTS; k++) {
        struct stats_cohort *c;
        struct stats_population pop;
        char text[192];
        population(k, &c, &pop);
        for (size_t i = 0; i < NELEM(dist); i++) {
            snprintf(text, sizeof(text),
                     "[{\"type\":\"symptom_distribution\",\"symptom\":\"%s\",\"window_days\":%d}]",
                     dist[i].sym, dist[i].window);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_distribution(o, dist[i].sym, dist[i].window);
            json_decref(o);
        }
        for (int week = 0; week < 2; week++) {
            snprintf(text, sizeof(text),
                     "[{\"type\":\"symptom_trend\",\"symptom\":\"fatigue\",\"interval\":\"%s\","
                     "\"periods\":%d}]",
                     week ? "week" : "month", week ? 18 : 5);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_trend(o, "fatigue", week, week ? 18 : 5);
            json_decref(o);
        }
        for (size_t i = 0; i < NELEM(ba); i++) {
            snprintf(text, sizeof(text),
                     "[{\"type\":\"treatment_effect\",\"medication\":\"metformin\","
                     "\"symptom\":\"fatigue\",\"before_days\":%d,\"after_days\":%d}]",
                     ba[i][0], ba[i][1]);
            struct stats_measure m = measure(text);
            json_t *o = run(&m, &pop);
            expect_treatment(o, "metformin", "fatigue", ba[i][0], ba[i][1]);
            json_decref(o);
        }
        stats_cohort_free(c);
    }
}

#define ROUNDS 5
#define OPS_PER_ROUND 200

/* A weeks criterion at the edges of its weeks: entries microseconds either side of now - 7k days,
 * k = floor((now - t) / 7 d) as in_cohort_c has it. Four permitted members get tremor entries (no
 * generated entry is tremor) at offsets from now in microseconds; "at least 2 of the last 3 weeks"
 * must hold for exactly the two whose entries fall in two different weeks. */
START_TEST(weeks_at_their_edges)
{
    static const int64_t W = 7 * DAY_US;
    static const struct {
        int64_t back[2]; /* microseconds before now */
        bool in;
    } cases[] = {
        {{0, 1}, false},             /* both in week 0 */
        {{W, W - 1}, true},          /* weeks 1 and 0 */
        {{3 * W - 1, 2 * W}, false}, /* both in week 2 */
        {{3 * W, 0}, false},         /* 3 W back is outside the last 3 weeks */
    };
    int who[NELEM(cases)], n = 0;
    prepare();
    for (int i = 0; i < D.nmem && n < (int)NELEM(cases); i++)
        if (D.mem[i].permitted && in_cohort_b(&D.mem[i]))
            who[n++] = i;
    ck_assert_int_eq(n, (int)NELEM(cases));
    exec_ok("BEGIN");
    for (int c = 0; c < n; c++)
        for (int j = 0; j < 2; j++) {
            char t[32];
            snprintf(t, sizeof(t), "%lld", (long long)(D.now_us - cases[c].back[j]));
            const char *p[] = {D.mem[who[c]].id, t};
            ck_assert_int_eq(
                sql_rows("INSERT INTO symptom_entry (member_id, symptom_id, severity, "
                         "recorded_at) VALUES ($1, 'tremor', 4, "
                         "'epoch'::timestamptz + $2::bigint * interval '1 microsecond')",
                         2, p),
                1);
        }
    struct stats_cohort *c = cohort("{\"all\":[{\"age\":{\"min\":0}},{\"symptom\":{\"symptom\":"
                                    "\"tremor\",\"weeks\":{\"at_least\":2,\"of_last\":3}}}]}");
    struct stats_population pop = {.cohort = c, .categories = 31, .now = D.now};
    struct stats_sql sql;
    stats_sql_init(&sql);
    ck_assert_int_eq(stats_population_sql(&pop, &sql), 0);
    PGresult *r = PQexecParams(conn, sql.text, sql.nparams, NULL, (const char *const *)sql.params,
                               NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    for (int k = 0; k < n; k++) {
        bool found = false;
        for (int i = 0; i < PQntuples(r); i++)
            found = found || !strcmp(PQgetvalue(r, i, 0), D.mem[who[k]].id);
        ck_assert_msg(found == cases[k].in, "case %d: in the population %d, expected %d", k, found,
                      cases[k].in);
    }
    ck_assert_int_eq(PQntuples(r), 1);
    PQclear(r);
    stats_sql_free(&sql);
    stats_cohort_free(c);
    exec_ok("ROLLBACK");
    finish("weeks", 0);
}
END_TEST

START_TEST(rollups_under_random_writes)
{
    long applied[OP_KINDS] = {0}, rows[OP_KINDS] = {0};
    prepare();
    rng = RANDOM_SEED;
    setup_hot();
    check_rollups("before");
    for (int round = 0; round < ROUNDS; round++) {
        long round_applied[OP_KINDS] = {0};
        int order[OP_KINDS];
        char when[32];
        /* Each kind once first, in a shuffled order, so that no round misses one by chance. */
        for (int k = 0; k < OP_KINDS; k++)
            order[k] = k;
        for (int k = OP_KINDS - 1; k > 0; k--) {
            int j = rnd(k + 1), x = order[k];
            order[k] = order[j];
            order[j] = x;
        }
        snprintf(when, sizeof(when), "round %d", round);
        if (round == 2)
            erase_member(rnd(nhot));
        for (int i = 0; i < OPS_PER_ROUND; i++) {
            if (i == OPS_PER_ROUND / 2)
                rolled_back();
            enum op op = i < OP_KINDS ? (enum op)order[i] : pick_op();
            long n = random_op(op);
            ck_assert_int_ge(n, 0);
            round_applied[op] += n > 0;
            rows[op] += n;
        }
        /* Every kind of write found rows to change in every round. */
        for (int k = 0; k < OP_KINDS; k++) {
            ck_assert_msg(round_applied[k] >= 1, "%s: no %s applied", when, op_names[k]);
            applied[k] += round_applied[k];
        }
        check_rollups(when);
        compare_measures();
    }
    long total = 0;
    for (int k = 0; k < OP_KINDS; k++) {
        printf("measure_db random writes: %-16s %3ld applied, %4ld rows\n", op_names[k], applied[k],
               rows[k]);
        total += applied[k];
    }
    /* Nearly every drawn operation found rows to change. */
    ck_assert_int_ge(total, ROUNDS * OPS_PER_ROUND * 9 / 10);
    finish("random writes", 100);
}
END_TEST

/* Two transactions add an entry to the same member, symptom and day (a new rollup key, then an
 * existing one); both commit and both count. The second waits on the first's rollup row. */
static void concurrent_pair(PGconn *x, PGconn *y, const char *member, int day, int base_n)
{
    char t1[48], t2[48], pid[24];
    const char *p1[] = {member, fmt_ts(t1, (int64_t)day * DAY_US + 3600 * INT64_C(1000000))};
    const char *p2[] = {member, fmt_ts(t2, (int64_t)day * DAY_US + 7200 * INT64_C(1000000))};
    const char *ins = "INSERT INTO symptom_entry (member_id, symptom_id, severity, recorded_at) "
                      "VALUES ($1, 'nausea', 3, $2)";
    long before = day_row(member, "nausea", day);
    ck_assert_int_eq(before < 0 ? 0 : before / ROW_N, base_n);
    PQclear(PQexec(x, "BEGIN"));
    PQclear(PQexec(y, "BEGIN"));
    PGresult *r = PQexecParams(x, ins, 2, NULL, p1, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(x));
    PQclear(r);
    ck_assert_int_eq(PQsendQueryParams(y, ins, 2, NULL, p2, NULL, NULL, 0), 1);
    /* y must be waiting on x's lock, or the writers did not overlap. */
    const char *pp[] = {num(pid, PQbackendPID(y))};
    bool waiting = false;
    for (int i = 0; i < 200 && !waiting; i++) {
        waiting = sql_num("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND "
                          "wait_event_type = 'Lock'",
                          1, pp) == 1;
        if (!waiting)
            nanosleep(&(struct timespec){0, 25000000}, NULL);
    }
    ck_assert_msg(waiting, "the second writer never waited");
    r = PQexec(x, "COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQgetResult(y);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(y));
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(y));
    r = PQexec(y, "COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    long s_before = before < 0 ? 0 : before % ROW_N;
    ck_assert_int_eq(day_row(member, "nausea", day), (base_n + 2) * ROW_N + s_before + 6);
}

START_TEST(concurrent_writers)
{
    char d[48];
    prepare();
    PGconn *x = th_db(), *y = th_db();
    const char *p[] = {"pop3@example.org"};
    PGresult *r = sqlp("SELECT id FROM account WHERE email = $1", 1, p);
    ck_assert_int_eq(PQntuples(r), 1);
    char member[37];
    copy(member, sizeof(member), r, 0, 0);
    PQclear(r);
    /* Days far in the future: no entry there yet. */
    int day = D.today + 60, monday;
    ck_assert_int_eq(day_row(member, "nausea", day), -1);
    concurrent_pair(x, y, member, day, 0);
    concurrent_pair(y, x, member, day, 2);
    utc_days((int64_t)day * DAY_US, &day, &monday, &(int){0});
    ck_assert_int_eq(week_row(member, "nausea", monday), 4 * ROW_N + 12);
    const char *q[] = {member, fmt_day(d, day)};
    ck_assert_int_eq(sql_rows("DELETE FROM symptom_entry WHERE member_id = $1 AND symptom_id = "
                              "'nausea' AND (recorded_at AT TIME ZONE 'UTC')::date = $2::date",
                              2, q),
                     4);
    ck_assert_int_eq(day_row(member, "nausea", day), -1);
    ck_assert_int_eq(week_row(member, "nausea", monday), -1);
    check_rollups("after concurrent writers");
    PQfinish(x);
    PQfinish(y);
    finish("concurrent writers", 0);
}
END_TEST

/* A bulk loader's rollups (schema 0019): the rows symptom_rollup_add_members adds for a member
 * range are those the triggers keep, to the digest; all members after a TRUNCATE pass every
 * check; a range whose rollups exist is refused, not counted twice. In a rolled-back transaction.
 */
START_TEST(rollups_added_by_member_range)
{
    char before[33], after[33];
    prepare();
    PGresult *r = sqlp("SELECT member_id::text FROM symptom_entry WHERE symptom_id IS NOT NULL "
                       "GROUP BY 1 ORDER BY 1",
                       0, NULL);
    ck_assert_int_ge(PQntuples(r), 6);
    char lo[37], hi[37];
    copy(lo, sizeof(lo), r, 1, 0);
    copy(hi, sizeof(hi), r, 4, 0);
    PQclear(r);
    const char *range[] = {lo, hi};
    long entries = sql_num("SELECT count(*) FROM symptom_entry WHERE symptom_id IS NOT NULL AND "
                           "member_id BETWEEN $1 AND $2",
                           2, range);
    ck_assert_int_gt(entries, 0);
    rollup_digest(before);
    PQclear(sqlp("BEGIN", 0, NULL));
    long days = sql_rows("DELETE FROM symptom_day WHERE member_id BETWEEN $1 AND $2", 2, range);
    long weeks = sql_rows("DELETE FROM symptom_week WHERE member_id BETWEEN $1 AND $2", 2, range);
    ck_assert_int_gt(days, weeks);
    ck_assert_int_gt(weeks, 0);
    ck_assert_int_eq(sql_num("SELECT symptom_rollup_add_members($1, $2)", 2, range), entries);
    rollup_digest(after);
    ck_assert_str_eq(after, before);
    /* Added twice: the primary key refuses it. */
    PQclear(sqlp("SAVEPOINT again", 0, NULL));
    r = PQexecParams(conn, "SELECT symptom_rollup_add_members($1, $2)", 2, NULL, range, NULL, NULL,
                     0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
    PQclear(r);
    PQclear(sqlp("ROLLBACK TO SAVEPOINT again", 0, NULL));
    /* Every member at once, from empty rollups. */
    PQclear(sqlp("TRUNCATE symptom_day, symptom_week", 0, NULL));
    const char *all[] = {"00000000-0000-0000-0000-000000000000",
                         "ffffffff-ffff-ffff-ffff-ffffffffffff"};
    ck_assert_int_eq(
        sql_num("SELECT symptom_rollup_add_members($1, $2)", 2, all),
        sql_num("SELECT count(*) FROM symptom_entry WHERE symptom_id IS NOT NULL", 0, NULL));
    check_rollups("added for every member");
    rollup_digest(after);
    ck_assert_str_eq(after, before);
    PQclear(sqlp("ROLLBACK", 0, NULL));
    rollup_digest(after);
    ck_assert_str_eq(after, before);
    finish("rollups by member range", 0);
}
END_TEST

static void populate(void)
{
    conn = th_db();
    generate();
    PQfinish(conn);
    conn = NULL;
}

int main(void)
{
    gsl_set_error_handler_off();
    th_start(NULL);
    Suite *s = suite_create("measure_db");
    TCase *tc = tcase_create("db");
    tcase_set_timeout(tc, 300);
    /* The population is generated once, before the tests (each runs in its own process). */
    tcase_add_unchecked_fixture(tc, populate, NULL);
    tcase_add_test(tc, population_and_count);
    tcase_add_test(tc, weeks_at_their_edges);
    tcase_add_test(tc, breakdowns);
    tcase_add_test(tc, symptom_distributions);
    tcase_add_test(tc, symptom_trends);
    tcase_add_test(tc, treatment_effects);
    tcase_add_test(tc, medication_outcomes);
    tcase_add_test(tc, side_effect_signals);
    tcase_add_test(tc, rollups_under_random_writes);
    tcase_add_test(tc, concurrent_writers);
    tcase_add_test(tc, rollups_added_by_member_range);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
