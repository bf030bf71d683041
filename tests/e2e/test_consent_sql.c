/* End-to-end property test: the SQL consent rules (consent_permits, consent_permitted_members in
 * schema/0004_consent.sql) agree with consent_evaluate (consent/consent.h) on random members,
 * grants and uses, with a fixed seed so a failure reproduces. Grants are generated in C, inserted
 * with SQL as superuser, and every use is decided three ways: by C over the generated grants, by
 * the set-returning SQL function, and by the per-member SQL function. The grants read back through
 * svc_consent_set_from_result (what the service evaluates) must decide the same again. */
#include "consent.h"
#include "consent_store.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMEMBERS 320
#define MAXG 6 /* grants per member: 0..MAXG */
#define NUSES 100
#define DAY 86400
#define T0 INT64_C(1800000000) /* 2027-01-15T08:00:00Z, the reference time */

static const char *const pool[] = {"multiple_sclerosis", "type_2_diabetes", "migraine", "asthma",
                                   "lupus"};
#define NPOOL 5

/* splitmix64: a fixed sequence on every platform. */
static uint64_t rng_state = UINT64_C(0x5eed0fc0a5e27);

static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rnd(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd64() % (uint64_t)(hi - lo + 1));
}

static bool chance(int percent)
{
    return rnd(0, 99) < percent;
}

struct member {
    char id[37];
    struct consent_grant grants[MAXG];
    const char *conds[MAXG][NPOOL];
    size_t n;
};

static struct member members[NMEMBERS];

struct use {
    char purpose[24];
    struct consent_use u;
    const char *focus[40];
};

/* A PostgreSQL text[] literal of n ids (quoted: one of them may be empty). */
static void array_literal(const char *const *ids, size_t n, char *out, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(out + used, len - used, "{");
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s\"%s\"", i ? "," : "", ids[i]);
    if (used < len)
        snprintf(out + used, len - used, "}");
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void random_grant(struct member *m)
{
    static const enum consent_status statuses[] = {
        CONSENT_ACTIVE, CONSENT_ACTIVE, CONSENT_ACTIVE,    CONSENT_ACTIVE,  CONSENT_ACTIVE,
        CONSENT_ACTIVE, CONSENT_ACTIVE, CONSENT_WITHDRAWN, CONSENT_EXPIRED, CONSENT_SUPERSEDED,
    };
    struct consent_grant *g = &m->grants[m->n];
    const char **conds = m->conds[m->n];
    size_t nc = 0;

    memset(g, 0, sizeof(*g));
    g->effect = chance(65) ? CONSENT_PERMIT : CONSENT_DENY;
    /* Research more often than the others, so that grants meet uses of their purpose. */
    g->purpose =
        chance(50) ? CONSENT_RESEARCH : (enum consent_purpose)rnd(0, CONSENT_NPURPOSES - 1);
    /* Mostly small sets, so that per-category outcomes differ between grants. */
    g->categories = chance(50) ? 1u << rnd(0, 4) : (unsigned)rnd(1, CONSENT_ALL_CATEGORIES);
    if (chance(45)) {
        size_t want = (size_t)rnd(1, 3);
        while (nc < want) {
            const char *c = pool[rnd(0, NPOOL - 1)];
            bool dup = false;
            for (size_t i = 0; i < nc; i++)
                dup = dup || conds[i] == c;
            if (!dup)
                conds[nc++] = c;
        }
    }
    g->conditions = nc ? conds : NULL;
    g->nconditions = nc;
    g->non_commercial = chance(30);
    g->not_for_profit_only = chance(25);
    g->valid_from = T0 + rnd(-20, 10) * DAY + rnd(0, DAY - 1);
    g->valid_until = chance(40) ? 0 : g->valid_from + rnd(1, 30) * DAY + rnd(-DAY / 2, DAY / 2);
    g->status = statuses[rnd(0, 9)];
    m->n++;
}

static void insert_grant(PGconn *c, const struct member *m, const struct consent_grant *g)
{
    char cats[8], conds[256], from[24], until[24];
    snprintf(cats, sizeof(cats), "%u", g->categories);
    array_literal(g->conditions, g->nconditions, conds, sizeof(conds));
    snprintf(from, sizeof(from), "%lld", (long long)g->valid_from);
    snprintf(until, sizeof(until), "%lld", (long long)g->valid_until);
    const char *p[] = {m->id,
                       consent_effect_name(g->effect),
                       consent_purpose_name(g->purpose),
                       cats,
                       conds,
                       g->non_commercial ? "t" : "f",
                       g->not_for_profit_only ? "t" : "f",
                       from,
                       g->valid_until ? until : NULL,
                       consent_status_name(g->status)};
    PGresult *r = PQexecParams(
        c,
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "conditions, "
        "non_commercial, not_for_profit_only, valid_from, valid_until, status, policy_version, "
        "withdrawn_at) VALUES ($1, gen_random_uuid(), 1, $2, $3, $4::int, $5::text[], $6::bool, "
        "$7::bool, to_timestamp($8::bigint), to_timestamp($9::bigint), $10, 1, "
        "CASE WHEN $10 = 'withdrawn' THEN to_timestamp($8::bigint) END)",
        10, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "insert grant: %s", PQerrorMessage(c));
    PQclear(r);
}

/* A use: mostly valid; a few invalid ones (rule 6) that both sides must deny. Times are often
 * exactly on a grant's boundary. */
/* A use aimed at one active grant: its purpose, one of its categories, one of its conditions, at
 * one of its edges, so that the grant (and its boundaries) decides often. */
static void targeted_use(struct use *u)
{
    const struct member *m;
    const struct consent_grant *g = NULL;
    while (!g) {
        m = &members[rnd(0, NMEMBERS - 1)];
        for (size_t i = 0; i < m->n && !g; i++)
            if (m->grants[i].status == CONSENT_ACTIVE && chance(50))
                g = &m->grants[i];
    }
    u->u.purpose = g->purpose;
    snprintf(u->purpose, sizeof(u->purpose), "%s", consent_purpose_name(g->purpose));
    do
        u->u.categories = 1u << rnd(0, 4);
    while (!(u->u.categories & g->categories));
    u->u.commercial = chance(25);
    u->u.for_profit = chance(25);
    if (g->nconditions && chance(85)) {
        u->focus[0] = g->conditions[rnd(0, (int64_t)g->nconditions - 1)];
        u->u.conditions = u->focus;
        u->u.nconditions = 1;
    }
    int64_t edge = g->valid_until && chance(50) ? g->valid_until : g->valid_from;
    u->u.at = edge + rnd(-1, 1);
}

static void random_use(struct use *u)
{
    size_t nf = 0;
    memset(u, 0, sizeof(*u));
    if (chance(35)) {
        targeted_use(u);
        return;
    }
    u->u.purpose =
        chance(50) ? CONSENT_RESEARCH : (enum consent_purpose)rnd(0, CONSENT_NPURPOSES - 1);
    if (chance(4)) {
        u->u.purpose = CONSENT_NPURPOSES; /* out of range in C, unknown in SQL */
        snprintf(u->purpose, sizeof(u->purpose), "marketing");
    } else {
        snprintf(u->purpose, sizeof(u->purpose), "%s", consent_purpose_name(u->u.purpose));
    }
    if (chance(5)) {
        static const unsigned bad[] = {0, 32, 33, 64};
        u->u.categories = bad[rnd(0, 3)];
    } else {
        u->u.categories = chance(70) ? 1u << rnd(0, 4) : (unsigned)rnd(1, CONSENT_ALL_CATEGORIES);
    }
    u->u.commercial = chance(40);
    u->u.for_profit = chance(40);
    if (chance(55)) {
        size_t want = (size_t)rnd(1, 3);
        while (nf < want)
            u->focus[nf++] = pool[rnd(0, NPOOL - 1)]; /* duplicates are harmless */
        if (chance(15))
            u->focus[nf++] = "not_in_any_grant";
    }
    if (chance(3)) {
        if (chance(50)) {
            u->focus[nf++] = ""; /* an empty id: invalid */
        } else {
            while (nf < CONSENT_MAX_CONDITIONS + 1)
                u->focus[nf++] = pool[0];
        }
    }
    u->u.conditions = nf ? u->focus : NULL;
    u->u.nconditions = nf;
    if (chance(50)) {
        u->u.at = T0 + rnd(-25, 45) * DAY + rnd(0, DAY - 1);
    } else {
        const struct member *m;
        do
            m = &members[rnd(0, NMEMBERS - 1)];
        while (m->n == 0);
        const struct consent_grant *g = &m->grants[rnd(0, (int64_t)m->n - 1)];
        int64_t edge = g->valid_until && chance(50) ? g->valid_until : g->valid_from;
        u->u.at = edge + rnd(-1, 1);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(sql_agrees_with_c)
{
    PGconn *c = th_db();
    PGresult *r;
    long comparisons = 0, disagreements = 0, permitted = 0, loader_checks = 0;
    char ids[NMEMBERS * 40 + 8];
    size_t used = 0, ngrants = 0;

    /* Members, straight into account (no sessions needed). */
    r = PQexec(c, "INSERT INTO account (email, display_name, role, password_hash) "
                  "SELECT 'consent-prop-' || g || '@example.org', 'Property ' || g, 'member', 'x' "
                  "FROM generate_series(1, 320) g RETURNING id, email");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == NMEMBERS, "%s",
                  PQerrorMessage(c));
    for (int i = 0; i < NMEMBERS; i++) {
        int k = atoi(PQgetvalue(r, i, 1) + strlen("consent-prop-")) - 1;
        ck_assert(k >= 0 && k < NMEMBERS && !members[k].id[0]);
        snprintf(members[k].id, sizeof(members[k].id), "%s", PQgetvalue(r, i, 0));
    }
    PQclear(r);

    exec_ok(c, "BEGIN");
    for (int i = 0; i < NMEMBERS; i++) {
        size_t n = (size_t)rnd(0, MAXG);
        while (members[i].n < n) {
            random_grant(&members[i]);
            insert_grant(c, &members[i], &members[i].grants[members[i].n - 1]);
        }
        ngrants += n;
        used +=
            (size_t)snprintf(ids + used, sizeof(ids) - used, "%s%s", i ? "," : "{", members[i].id);
    }
    snprintf(ids + used, sizeof(ids) - used, "}");
    exec_ok(c, "COMMIT");
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant", 0, NULL), (long)ngrants);

    /* What the service evaluates: the active rows, read back through the store, one member after
     * another. */
    struct svc_consent_set loaded[NMEMBERS];
    const char *lp[] = {ids};
    PGresult *all = PQexecParams(c,
                                 "SELECT member_id::text, " SVC_CONSENT_GRANT_COLUMNS
                                 " FROM consent_grant WHERE member_id = ANY ($1::uuid[]) "
                                 "AND status = 'active' ORDER BY member_id",
                                 1, NULL, lp, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(all) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    for (int i = 0; i < NMEMBERS; i++) {
        int first = -1, n = 0;
        for (int row = 0; row < PQntuples(all); row++)
            if (strcmp(PQgetvalue(all, row, 0), members[i].id) == 0) {
                if (first < 0)
                    first = row;
                n++;
            }
        ck_assert_int_eq(svc_consent_set_from_result(all, first < 0 ? 0 : first, n, 1, &loaded[i]),
                         0);
        ck_assert_uint_eq(loaded[i].n, (size_t)n);
    }
    PQclear(all);

    for (int k = 0; k < NUSES; k++) {
        struct use u;
        char cats[16], commercial[2], for_profit[2], focus[2048], at[24];
        char *set[NMEMBERS];
        int nset;

        random_use(&u);
        snprintf(cats, sizeof(cats), "%u", u.u.categories);
        snprintf(commercial, sizeof(commercial), "%s", u.u.commercial ? "t" : "f");
        snprintf(for_profit, sizeof(for_profit), "%s", u.u.for_profit ? "t" : "f");
        array_literal(u.u.conditions, u.u.nconditions, focus, sizeof(focus));
        snprintf(at, sizeof(at), "%lld", (long long)u.u.at);

        /* The set-returning form. */
        const char *p[] = {u.purpose, cats, commercial, for_profit, focus, at, ids};
        r = PQexecParams(c,
                         "SELECT m::text FROM consent_permitted_members($1, $2::int, $3::bool, "
                         "$4::bool, $5::text[], to_timestamp($6::bigint)) AS m ORDER BY 1",
                         6, NULL, p, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        ck_assert_int_le(PQntuples(r), NMEMBERS);
        nset = PQntuples(r);
        for (int i = 0; i < nset; i++)
            set[i] = strdup(PQgetvalue(r, i, 0));
        PQclear(r);
        qsort(set, (size_t)nset, sizeof(set[0]), cmp_str);

        /* The per-member form, for every member (also those without grants). */
        r = PQexecParams(
            c,
            "SELECT m.id::text, consent_permits(m.id, $1, $2::int, $3::bool, $4::bool, "
            "$5::text[], to_timestamp($6::bigint)) FROM unnest($7::uuid[]) AS m(id)",
            7, NULL, p, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        ck_assert_int_eq(PQntuples(r), NMEMBERS);

        int found = 0;
        for (int i = 0; i < NMEMBERS; i++) {
            const struct member *m = &members[i];
            struct consent_decision d = consent_evaluate(&u.u, m->grants, m->n);
            const char *key = m->id;
            bool in_set = bsearch(&key, set, (size_t)nset, sizeof(set[0]), cmp_str) != NULL;
            found += in_set;
            ck_assert_str_eq(PQgetvalue(r, i, 0), m->id);
            bool per_member = strcmp(PQgetvalue(r, i, 1), "t") == 0;
            ck_assert_msg(strcmp(PQgetvalue(r, i, 1), "t") == 0 ||
                              strcmp(PQgetvalue(r, i, 1), "f") == 0,
                          "consent_permits returned '%s'", PQgetvalue(r, i, 1));
            if (in_set != d.permit || per_member != d.permit) {
                disagreements++;
                fprintf(stderr,
                        "disagreement: use %d (%s cats %u commercial %d for_profit %d focus %s at "
                        "%s) member %d (%zu grants): C %d (%s), set %d, per-member %d\n",
                        k, u.purpose, u.u.categories, u.u.commercial, u.u.for_profit, focus, at, i,
                        m->n, d.permit, consent_reason_name(d.reason), in_set, per_member);
            }
            comparisons += 2;
            permitted += d.permit;

            struct consent_decision dl = consent_evaluate(&u.u, loaded[i].grants, loaded[i].n);
            ck_assert_msg(dl.permit == d.permit,
                          "loaded grants of member %d decide %d, generated %d", i, dl.permit,
                          d.permit);
            loader_checks++;
        }
        /* Every member the set holds is one of ours. */
        ck_assert_int_eq(found, nset);
        PQclear(r);
        for (int i = 0; i < nset; i++)
            free(set[i]);
    }
    for (int i = 0; i < NMEMBERS; i++)
        svc_consent_set_free(&loaded[i]);
    PQfinish(c);

    printf("consent SQL property test: %d members, %zu grants, %d uses: %ld member x use "
           "comparisons (%ld permitted by C), %ld store read-back checks, %ld disagreements\n",
           NMEMBERS, ngrants, NUSES, comparisons, permitted, loader_checks, disagreements);
    fflush(stdout);
    ck_assert_int_eq(disagreements, 0);
    ck_assert_int_ge(comparisons, 10000);
    /* Both outcomes occur often enough for the comparison to mean something. */
    ck_assert_int_ge(permitted, 200);
    ck_assert_int_le(permitted, comparisons / 2 - 200);
}
END_TEST

/* The limit the schema keeps so that rule 6's CONSENT_MAX_GRANTS never applies to stored grants. */
START_TEST(active_grant_limit)
{
    PGconn *c = th_db();
    PGresult *r =
        PQexec(c, "INSERT INTO account (email, display_name, role, password_hash) "
                  "VALUES ('consent-limit@example.org', 'Limit', 'member', 'x') RETURNING id");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    char id[37];
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *p[] = {id};
    r = PQexecParams(
        c,
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, policy_version) SELECT $1, gen_random_uuid(), 1, 'permit', "
        "'research', 1, '2026-01-01Z', 'active', 1 FROM generate_series(1, 1024)",
        1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    /* The 1025th active grant is refused; a withdrawn one is not active and is accepted. */
    r = PQexecParams(
        c,
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, policy_version) VALUES ($1, gen_random_uuid(), 1, 'deny', "
        "'research', 1, '2026-01-01Z', 'active', 1)",
        1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    PQclear(r);
    r = PQexecParams(
        c,
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "valid_from, status, policy_version, withdrawn_at) VALUES ($1, gen_random_uuid(), "
        "1, 'deny', 'research', 1, '2026-01-01Z', 'withdrawn', 1, now())",
        1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    /* Nor may a withdrawn grant be made active again past the limit. */
    r = PQexecParams(c,
                     "UPDATE consent_grant SET status = 'active', withdrawn_at = NULL "
                     "WHERE member_id = $1 AND status = 'withdrawn'",
                     1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    PQclear(r);
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_grant WHERE member_id = $1 AND "
                                 "status = 'active'",
                                 1, p),
                     1024);
    /* The permit covers research on demographics for this member. */
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_permitted_members('research', 1, "
                                 "false, false, '{}', now()) m WHERE m = $1",
                                 1, p),
                     1);
    PQfinish(c);
}
END_TEST

/* Rows that would break rule 6, or agreement with C, are refused by the schema. */
START_TEST(schema_refuses_invalid_grants)
{
    static const struct {
        const char *what, *values;
    } bad[] = {
        {"no categories", "'permit', 'research', 0, '{}', '2026-01-01Z', NULL, 'active'"},
        {"unknown category bit", "'permit', 'research', 32, '{}', '2026-01-01Z', NULL, 'active'"},
        {"unknown effect", "'allow', 'research', 1, '{}', '2026-01-01Z', NULL, 'active'"},
        {"unknown purpose", "'permit', 'marketing', 1, '{}', '2026-01-01Z', NULL, 'active'"},
        {"unknown status", "'permit', 'research', 1, '{}', '2026-01-01Z', NULL, 'paused'"},
        {"empty condition id", "'permit', 'research', 1, '{\"\"}', '2026-01-01Z', NULL, 'active'"},
        {"NULL condition id", "'permit', 'research', 1, '{NULL}', '2026-01-01Z', NULL, 'active'"},
        {"two-dimensional conditions",
         "'permit', 'research', 1, '{{a,b},{c,d}}', '2026-01-01Z', NULL, 'active'"},
        {"33 conditions", "'permit', 'research', 1, array_fill('c'::text, ARRAY[33]), "
                          "'2026-01-01Z', NULL, 'active'"},
        {"129-byte condition id",
         "'permit', 'research', 1, ARRAY[repeat('x', 129)], '2026-01-01Z', NULL, 'active'"},
        {"fractional valid_from", "'permit', 'research', 1, '{}', '2026-01-01T00:00:00.5Z', NULL, "
                                  "'active'"},
        {"valid_from before 2000", "'permit', 'research', 1, '{}', '1970-01-01Z', NULL, 'active'"},
        {"valid_until not after valid_from",
         "'permit', 'research', 1, '{}', '2026-01-01Z', '2026-01-01Z', 'active'"},
        {"fractional valid_until",
         "'permit', 'research', 1, '{}', '2026-01-01Z', '2026-02-01T00:00:00.25Z', 'active'"},
        {"withdrawn without withdrawn_at",
         "'permit', 'research', 1, '{}', '2026-01-01Z', NULL, 'withdrawn'"},
    };
    PGconn *c = th_db();
    PGresult *r =
        PQexec(c, "INSERT INTO account (email, display_name, role, password_hash) "
                  "VALUES ('consent-bad@example.org', 'Bad', 'member', 'x') RETURNING id");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    char id[37], sql[1024];
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *p[] = {id};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
                 "conditions, valid_from, valid_until, status, policy_version) "
                 "VALUES ($1, gen_random_uuid(), 1, %s, 1)",
                 bad[i].values);
        r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR, "%s was accepted", bad[i].what);
        ck_assert_msg(strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514") == 0, "%s: %s",
                      bad[i].what, PQerrorMessage(c));
        PQclear(r);
    }
    /* The same row with valid values is accepted, so each refusal was the field's. */
    r = PQexecParams(
        c,
        "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
        "conditions, valid_from, valid_until, status, policy_version) VALUES ($1, "
        "gen_random_uuid(), 1, 'permit', 'research', 1, ARRAY[repeat('x', 128)], "
        "'2026-01-01Z', '2026-01-01T00:00:01Z', 'active', 1)",
        1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    /* Invalid uses are denied, never an error. */
    ck_assert_int_eq(th_sql_long("SELECT count(*) FROM consent_permitted_members('research', 0, "
                                 "false, false, NULL, now())",
                                 0, NULL),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 1, NULL, false, NULL, "
                                 "'2026-01-01T00:00:00Z')::int",
                                 1, p),
                     0);
    /* (A disease-specific permit does not cover a general use.) */
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 1, false, false, NULL, "
                                 "'2026-01-01T00:00:00Z')::int",
                                 1, p),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 1, false, false, "
                                 "ARRAY[repeat('x', 128)], '2026-01-01T00:00:00Z')::int",
                                 1, p),
                     1);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 1, false, false, "
                                 "ARRAY[repeat('x', 128)], '2026-01-01T00:00:01Z')::int",
                                 1, p),
                     0);
    ck_assert_int_eq(th_sql_long("SELECT consent_permits($1, 'research', 1, false, false, "
                                 "'{NULL}', '2026-01-01T00:00:00Z')::int",
                                 1, p),
                     0);
    PQfinish(c);
}
END_TEST

int main(void)
{
    th_start(NULL);
    Suite *s = suite_create("consent_sql");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, sql_agrees_with_c);
    tcase_add_test(tc, active_grant_limit);
    tcase_add_test(tc, schema_refuses_invalid_grants);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
