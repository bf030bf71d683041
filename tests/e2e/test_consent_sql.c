/* End-to-end property test: the SQL consent rules (consent_permits, consent_permitted_members in
 * schema/0004_consent.sql and 0014_consent_summary.sql) agree with consent_evaluate
 * (consent/consent.h) on random members, grants and uses, with a fixed seed so a failure
 * reproduces. Grants are generated in C, inserted with SQL as superuser, then changed in batches
 * (new grants, withdrawals, new versions, reactivations, in-place updates, bulk expiry, erasure,
 * rolled-back changes), and after the load and after every batch: the per-member summary
 * consent_member equals a recomputation from scratch, and every use is decided three ways: by C
 * over the generated grants, by the set-returning SQL function, and by the per-member SQL
 * function. The grants read back through svc_consent_set_from_result (what the service
 * evaluates) must decide the same again. */
#include "consent.h"
#include "consent_store.h"
#include "harness.h"
#include "cohort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NMEMBERS 320
#define MAXG 6     /* grants per member at the start: 0..MAXG */
#define MAXSLOT 24 /* grant rows per member after the changes (each version is a row) */
#define NBATCHES 6
#define NOPS 120 /* changes per batch */
#define NUSES 60 /* uses per check: after the load and after each batch */
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

/* The server's clock when the test starts (whole seconds): some grants start or end around it, so
 * that uses at now() meet them. */
static int64_t now_s;

struct member {
    char id[37];
    struct consent_grant grants[MAXSLOT];
    const char *conds[MAXSLOT][NPOOL];
    char gid[MAXSLOT][37];
    int version[MAXSLOT];
    size_t n;
    /* Its consent_member rows as last read (checked against the grants). */
    bool row[CONSENT_NPURPOSES];
    unsigned cond_set[CONSENT_NPURPOSES]; /* the row's conditions, as bits of pool */
    int64_t from_max[CONSENT_NPURPOSES], until_min[CONSENT_NPURPOSES]; /* 0: NULL */
    /* The path of each row at now_s and at T0, for a general and a focused use (0 no row, 1 the
     * summary decides, 2 the grants decide), at the previous check. */
    signed char path[CONSENT_NPURPOSES][4];
};

static struct member members[NMEMBERS];
static int replacements; /* accounts created for erased members */

struct use {
    char purpose[24];
    struct consent_use u;
    const char *focus[40];
    bool at_now; /* SQL gets now(); C the same instant */
};

/* What the checks counted, over the whole run. */
struct tally {
    long comparisons, disagreements, permitted, loader_checks, uses, uses_now;
    long fast_permitted, slow_permitted, fast_denied, slow_denied;
    long fast_cond_permitted; /* decided by a summary row that has conditions */
    long to_slow, to_fast;    /* rows moved between the paths between checks */
    long rows_checked;
    long facts_checks;   /* decisions of consent_facts_permit over member_facts (schema 0022) */
    long written_checks; /* decisions of stats_cohort_consent_sql's expressions (schema 0027) */
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

/* Runs a command with parameters and returns the number of rows it affected. */
static long cmd(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    long rows = atol(PQcmdTuples(r));
    PQclear(r);
    return rows;
}

static long query_long(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
                  PQerrorMessage(c));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* consent_member recomputed from scratch, written out from consent.h rules 3 and 4 for the grants
 * without conditions (not with the schema's view or rule functions): per member and purpose with an
 * active grant, for each (commercial, for_profit) of a use, the categories some permit covers and
 * no deny covers; every condition of the active grants, distinct and sorted; the latest start and
 * the earliest end. A non_commercial permit covers only non-commercial uses, a not_for_profit_only
 * permit only not-for-profit ones; a non_commercial deny covers only commercial uses, a
 * not_for_profit_only deny only for-profit ones. */
#define EXPECTED_SUMMARY                                                                           \
    "SELECT member_id, purpose, "                                                                  \
    "coalesce(bit_or(categories) FILTER (WHERE effect = 'permit' AND cardinality(conditions) = "   \
    "0), 0) & ~coalesce(bit_or(categories) FILTER (WHERE effect = 'deny' AND "                     \
    "cardinality(conditions) = 0 AND NOT non_commercial AND NOT not_for_profit_only), 0), "        \
    "coalesce(bit_or(categories) FILTER (WHERE effect = 'permit' AND cardinality(conditions) = 0 " \
    "AND NOT not_for_profit_only), 0) & ~coalesce(bit_or(categories) FILTER (WHERE effect = "      \
    "'deny' AND cardinality(conditions) = 0 AND NOT non_commercial), 0), "                         \
    "coalesce(bit_or(categories) FILTER (WHERE effect = 'permit' AND cardinality(conditions) = 0 " \
    "AND NOT non_commercial), 0) & ~coalesce(bit_or(categories) FILTER (WHERE effect = 'deny' "    \
    "AND cardinality(conditions) = 0 AND NOT not_for_profit_only), 0), "                           \
    "coalesce(bit_or(categories) FILTER (WHERE effect = 'permit' AND cardinality(conditions) = 0 " \
    "AND NOT non_commercial AND NOT not_for_profit_only), 0) & ~coalesce(bit_or(categories) "      \
    "FILTER (WHERE effect = 'deny' AND cardinality(conditions) = 0), 0), "                         \
    "coalesce((SELECT array_agg(DISTINCT x ORDER BY x) FROM consent_grant h, "                     \
    "unnest(h.conditions) "                                                                        \
    "x WHERE h.member_id = g.member_id AND h.purpose = g.purpose AND h.status = 'active'), "       \
    "'{}'), "                                                                                      \
    "max(valid_from), min(valid_until) "                                                           \
    "FROM consent_grant g WHERE status = 'active' GROUP BY member_id, purpose"

/* Rows of consent_member that differ from the recomputation, both ways (0 when exact). */
static long summary_diff(PGconn *c)
{
    return query_long(c,
                      "WITH e AS (" EXPECTED_SUMMARY "), s AS (SELECT member_id, purpose, "
                      "cats_noncom_nonprofit, cats_noncom_forprofit, cats_com_nonprofit, "
                      "cats_com_forprofit, conditions, from_max, until_min FROM consent_member) "
                      "SELECT (SELECT count(*) FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM e) "
                      "x) + (SELECT count(*) FROM (SELECT * FROM e EXCEPT ALL SELECT * FROM s) y)",
                      0, NULL);
}

static void random_uuid(char out[37])
{
    uint64_t a = rnd64(), b = rnd64();
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffffu, (unsigned)a & 0xffffu, (unsigned)(b >> 48),
             (unsigned long long)(b & UINT64_C(0xffffffffffff)));
}

/* Around T0 or around the start of the test. */
static int64_t random_from(void)
{
    return (chance(35) ? now_s : T0) + rnd(-20, 10) * DAY + rnd(0, DAY - 1);
}

static void random_conditions(struct member *m, size_t slot)
{
    const char **conds = m->conds[slot];
    size_t nc = 0, want = (size_t)rnd(1, 3);
    while (nc < want) {
        const char *c = pool[rnd(0, NPOOL - 1)];
        bool dup = false;
        for (size_t i = 0; i < nc; i++)
            dup = dup || conds[i] == c;
        if (!dup)
            conds[nc++] = c;
    }
    m->grants[slot].conditions = conds;
    m->grants[slot].nconditions = nc;
}

/* A new grant in the next slot: a new id, version 1, any status. */
static void random_grant(struct member *m)
{
    static const enum consent_status statuses[] = {
        CONSENT_ACTIVE, CONSENT_ACTIVE, CONSENT_ACTIVE,    CONSENT_ACTIVE,  CONSENT_ACTIVE,
        CONSENT_ACTIVE, CONSENT_ACTIVE, CONSENT_WITHDRAWN, CONSENT_EXPIRED, CONSENT_SUPERSEDED,
    };
    size_t slot = m->n++;
    struct consent_grant *g = &m->grants[slot];

    ck_assert_uint_le(m->n, MAXSLOT);
    memset(g, 0, sizeof(*g));
    random_uuid(m->gid[slot]);
    m->version[slot] = 1;
    g->effect = chance(65) ? CONSENT_PERMIT : CONSENT_DENY;
    /* Research more often than the others, so that grants meet uses of their purpose. */
    g->purpose =
        chance(50) ? CONSENT_RESEARCH : (enum consent_purpose)rnd(0, CONSENT_NPURPOSES - 1);
    /* Mostly small sets, so that per-category outcomes differ between grants. */
    g->categories = chance(50) ? 1u << rnd(0, 4) : (unsigned)rnd(1, CONSENT_ALL_CATEGORIES);
    if (chance(45))
        random_conditions(m, slot);
    g->non_commercial = chance(30);
    g->not_for_profit_only = chance(25);
    g->valid_from = random_from();
    g->valid_until = chance(40) ? 0 : g->valid_from + rnd(1, 30) * DAY + rnd(-DAY / 2, DAY / 2);
    g->status = statuses[rnd(0, 9)];
}

/* Changes one or more of a grant's terms (what a new version or an in-place update writes). */
static void mutate_grant(struct member *m, size_t slot)
{
    struct consent_grant *g = &m->grants[slot];
    bool changed = false;
    while (!changed) {
        if (chance(30)) {
            if (g->nconditions) {
                g->conditions = NULL;
                g->nconditions = 0;
            } else {
                random_conditions(m, slot);
            }
            changed = true;
        }
        if (chance(20)) {
            g->non_commercial = !g->non_commercial;
            changed = true;
        }
        if (chance(15)) {
            g->not_for_profit_only = !g->not_for_profit_only;
            changed = true;
        }
        if (chance(25)) {
            g->categories = chance(50) ? 1u << rnd(0, 4) : (unsigned)rnd(1, CONSENT_ALL_CATEGORIES);
            changed = true;
        }
        if (chance(25)) {
            int64_t span = g->valid_until ? g->valid_until - g->valid_from : 0;
            g->valid_from = random_from();
            if (span)
                g->valid_until = g->valid_from + span;
            changed = true;
        }
        if (chance(25)) {
            g->valid_until = g->valid_until ? 0 : g->valid_from + rnd(1, 30) * DAY;
            changed = true;
        }
        if (chance(8)) {
            g->purpose = (enum consent_purpose)rnd(0, CONSENT_NPURPOSES - 1);
            changed = true;
        }
        if (chance(5)) {
            g->effect = g->effect == CONSENT_PERMIT ? CONSENT_DENY : CONSENT_PERMIT;
            changed = true;
        }
    }
}

static void insert_grant(PGconn *c, const struct member *m, size_t slot)
{
    const struct consent_grant *g = &m->grants[slot];
    char version[12], cats[8], conds[256], from[24], until[24];
    snprintf(version, sizeof(version), "%d", m->version[slot]);
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
                       consent_status_name(g->status),
                       m->gid[slot],
                       version};
    ck_assert_int_eq(
        cmd(c,
            "INSERT INTO consent_grant (member_id, id, version, effect, purpose, categories, "
            "conditions, non_commercial, not_for_profit_only, valid_from, valid_until, status, "
            "policy_version, withdrawn_at) VALUES ($1, $11::uuid, $12::int, $2, $3, $4::int, "
            "$5::text[], $6::bool, $7::bool, to_timestamp($8::bigint), to_timestamp($9::bigint), "
            "$10, 1, CASE WHEN $10 = 'withdrawn' THEN to_timestamp($8::bigint) END)",
            12, p),
        1);
}

/* Writes a grant's terms over its row (an in-place update, not what the service does). */
static void update_grant(PGconn *c, const struct member *m, size_t slot)
{
    const struct consent_grant *g = &m->grants[slot];
    char version[12], cats[8], conds[256], from[24], until[24];
    snprintf(version, sizeof(version), "%d", m->version[slot]);
    snprintf(cats, sizeof(cats), "%u", g->categories);
    array_literal(g->conditions, g->nconditions, conds, sizeof(conds));
    snprintf(from, sizeof(from), "%lld", (long long)g->valid_from);
    snprintf(until, sizeof(until), "%lld", (long long)g->valid_until);
    const char *p[] = {m->id,
                       m->gid[slot],
                       version,
                       consent_effect_name(g->effect),
                       consent_purpose_name(g->purpose),
                       cats,
                       conds,
                       g->non_commercial ? "t" : "f",
                       g->not_for_profit_only ? "t" : "f",
                       from,
                       g->valid_until ? until : NULL};
    ck_assert_int_eq(
        cmd(c,
            "UPDATE consent_grant SET effect = $4, purpose = $5, categories = $6::int, "
            "conditions = $7::text[], non_commercial = $8::bool, "
            "not_for_profit_only = $9::bool, valid_from = to_timestamp($10::bigint), "
            "valid_until = to_timestamp($11::bigint) "
            "WHERE member_id = $1 AND id = $2::uuid AND version = $3::int",
            11, p),
        1);
}

static void set_status(PGconn *c, struct member *m, size_t slot, enum consent_status s)
{
    char version[12];
    snprintf(version, sizeof(version), "%d", m->version[slot]);
    const char *p[] = {m->id, m->gid[slot], version, consent_status_name(s)};
    ck_assert_int_eq(cmd(c,
                         "UPDATE consent_grant SET status = $4, withdrawn_at = CASE WHEN $4 = "
                         "'withdrawn' THEN now() END "
                         "WHERE member_id = $1 AND id = $2::uuid AND version = $3::int",
                         4, p),
                     1);
    m->grants[slot].status = s;
}

/* A random slot of m with status s (or, with s < 0, withdrawn or expired), or -1. */
static int pick_slot(const struct member *m, int s)
{
    int found = -1, seen = 0;
    for (size_t i = 0; i < m->n; i++) {
        enum consent_status st = m->grants[i].status;
        bool match = s >= 0 ? st == (enum consent_status)s
                            : st == CONSENT_WITHDRAWN || st == CONSENT_EXPIRED;
        if (match && rnd(0, seen++) == 0) /* reservoir sampling: each match equally likely */
            found = (int)i;
    }
    return found;
}

static void new_account(PGconn *c, struct member *m, const char *email)
{
    const char *p[] = {email};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO account (email, display_name, role, password_hash) "
                               "VALUES ($1, 'Property', 'member', 'x') RETURNING id",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    snprintf(m->id, sizeof(m->id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    m->n = 0;
}

/* One random change, mirrored in the model. */
static void random_change(PGconn *c, int *kinds)
{
    struct member *m = &members[rnd(0, NMEMBERS - 1)];
    int op = (int)rnd(0, 99), slot;

    if (op < 25) { /* a new grant, any status */
        if (m->n >= MAXSLOT)
            return;
        random_grant(m);
        insert_grant(c, m, m->n - 1);
        kinds[0]++;
    } else if (op < 45) { /* withdrawal */
        if ((slot = pick_slot(m, CONSENT_ACTIVE)) < 0)
            return;
        set_status(c, m, (size_t)slot, CONSENT_WITHDRAWN);
        kinds[1]++;
    } else if (op < 65) { /* a new version, as the service writes it */
        if (m->n >= MAXSLOT || (slot = pick_slot(m, CONSENT_ACTIVE)) < 0)
            return;
        size_t next = m->n++;
        m->grants[next] = m->grants[slot];
        memcpy(m->conds[next], m->conds[slot], sizeof(m->conds[next]));
        if (m->grants[next].nconditions)
            m->grants[next].conditions = m->conds[next];
        memcpy(m->gid[next], m->gid[slot], sizeof(m->gid[next]));
        m->version[next] = m->version[slot] + 1;
        mutate_grant(m, next);
        exec_ok(c, "BEGIN");
        set_status(c, m, (size_t)slot, CONSENT_SUPERSEDED);
        insert_grant(c, m, next);
        exec_ok(c, "COMMIT");
        kinds[2]++;
    } else if (op < 75) { /* a withdrawn or expired grant active again */
        if ((slot = pick_slot(m, -1)) < 0)
            return;
        set_status(c, m, (size_t)slot, CONSENT_ACTIVE);
        kinds[3]++;
    } else if (op < 85) { /* terms changed in place, also the purpose */
        if ((slot = pick_slot(m, CONSENT_ACTIVE)) < 0)
            return;
        mutate_grant(m, (size_t)slot);
        update_grant(c, m, (size_t)slot);
        kinds[4]++;
    } else if (op < 90) { /* one statement expiring the timed grants of several members */
        char arr[8 * 40 + 4];
        size_t used = 0;
        long want = 0;
        int k = (int)rnd(2, 8);
        struct member *set[8];
        for (int i = 0; i < k; i++) {
            set[i] = &members[rnd(0, NMEMBERS - 1)];
            used +=
                (size_t)snprintf(arr + used, sizeof(arr) - used, "%s%s", i ? "," : "{", set[i]->id);
        }
        snprintf(arr + used, sizeof(arr) - used, "}");
        for (int i = 0; i < k; i++) {
            bool dup = false;
            for (int j = 0; j < i; j++)
                dup = dup || set[j] == set[i];
            for (size_t s = 0; s < set[i]->n && !dup; s++) {
                struct consent_grant *g = &set[i]->grants[s];
                if (g->status == CONSENT_ACTIVE && g->valid_until) {
                    g->status = CONSENT_EXPIRED;
                    want++;
                }
            }
        }
        const char *p[] = {arr};
        ck_assert_int_eq(cmd(c,
                             "UPDATE consent_grant SET status = 'expired' WHERE member_id = ANY "
                             "($1::uuid[]) AND status = 'active' AND valid_until IS NOT NULL",
                             1, p),
                         want);
        kinds[5]++;
    } else if (op < 94) { /* erasure: the grants go by cascade; a new member takes the place */
        char email[64];
        const char *p[] = {m->id};
        ck_assert_int_eq(cmd(c, "DELETE FROM account WHERE id = $1", 1, p), 1);
        snprintf(email, sizeof(email), "consent-prop-r%d@example.org", ++replacements);
        new_account(c, m, email);
        kinds[6]++;
    } else { /* a change rolled back: nothing happened */
        if ((slot = pick_slot(m, CONSENT_ACTIVE)) < 0)
            return;
        exec_ok(c, "BEGIN");
        set_status(c, m, (size_t)slot, CONSENT_WITHDRAWN);
        exec_ok(c, "ROLLBACK");
        m->grants[slot].status = CONSENT_ACTIVE;
        kinds[7]++;
    }
}

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

/* A use: mostly valid; a few invalid ones (rule 6) that both sides must deny. Times are now(),
 * around T0 or the start, long before or after every grant, or often exactly on a grant's
 * boundary. */
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
    int64_t w = rnd(0, 99);
    if (w < 20) {
        u->at_now = true; /* u->u.at is read in the transaction that uses it */
    } else if (w < 40) {
        u->u.at = T0 + rnd(-25, 45) * DAY + rnd(0, DAY - 1);
    } else if (w < 55) {
        u->u.at = now_s + rnd(-25, 45) * DAY + rnd(0, DAY - 1);
    } else if (w < 60) {
        u->u.at = chance(50) ? INT64_C(978307200) /* 2001 */ : INT64_C(5680281600) /* 2150 */;
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

/* The ids of all members as a uuid[] literal. */
static void ids_literal(char *out, size_t len)
{
    size_t used = 0;
    for (int i = 0; i < NMEMBERS; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "{", members[i].id);
    snprintf(out + used, len - used, "}");
}

/* A condition list as bits of pool (ids outside pool are in no grant). */
static unsigned pool_set(const char *const *ids, size_t n)
{
    unsigned set = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < NPOOL; k++)
            if (strcmp(ids[i], pool[k]) == 0)
                set |= 1u << k;
    return set;
}

/* A row's conditions ("a,b,c") as bits of pool; each id must be in pool, once, in order. */
static unsigned row_conditions(const char *list)
{
    char copy[1024], *save = NULL, *prev = NULL;
    unsigned set = 0;
    snprintf(copy, sizeof(copy), "%s", list);
    for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        const char *one[] = {id};
        unsigned bit = pool_set(one, 1);
        ck_assert_msg(bit && (!prev || strcmp(prev, id) < 0), "conditions '%s'", list);
        set |= bit;
        prev = id;
    }
    return set;
}

/* consent_member against the model: a row per member and purpose with an active grant, with the
 * latest valid_from, the earliest valid_until and the conditions of its grants; the rows kept for
 * the path counts. Also the whole table against the recomputation from scratch. */
static void check_summary(PGconn *c, const char *ids, struct tally *t)
{
    ck_assert_int_eq(summary_diff(c), 0);
    /* The facts rows (schema 0022) copy the summary, and their per-condition copies (0024) the
     * rows: each equal to its definition, both ways. */
    ck_assert_int_eq(query_long(c,
                                "SELECT count(*) FROM ((TABLE member_facts EXCEPT "
                                "TABLE member_facts_source) UNION ALL (TABLE member_facts_source "
                                "EXCEPT TABLE member_facts)) d",
                                0, NULL),
                     0);
    ck_assert_int_eq(query_long(c,
                                "SELECT count(*) FROM ((TABLE member_condition_facts EXCEPT "
                                "TABLE member_condition_facts_source) UNION ALL (TABLE "
                                "member_condition_facts_source EXCEPT TABLE "
                                "member_condition_facts)) d",
                                0, NULL),
                     0);
    ck_assert_int_gt(query_long(c, "SELECT count(*) FROM member_condition_facts", 0, NULL), 100);
    const char *p[] = {ids};
    PGresult *r =
        PQexecParams(c,
                     "SELECT member_id::text, purpose, extract(epoch FROM from_max)::bigint, "
                     "coalesce(extract(epoch FROM until_min)::bigint, 0), "
                     "array_to_string(conditions, ',') "
                     "FROM consent_member WHERE member_id = ANY ($1::uuid[])",
                     1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int rows = PQntuples(r), want = 0;
    for (int i = 0; i < NMEMBERS; i++) {
        struct member *m = &members[i];
        for (int pu = 0; pu < CONSENT_NPURPOSES; pu++) {
            bool any = false;
            unsigned cond_set = 0;
            int64_t from_max = 0, until_min = 0;
            for (size_t s = 0; s < m->n; s++) {
                const struct consent_grant *g = &m->grants[s];
                if (g->status != CONSENT_ACTIVE || g->purpose != (enum consent_purpose)pu)
                    continue;
                any = true;
                cond_set |= pool_set(g->conditions, g->nconditions);
                if (g->valid_from > from_max)
                    from_max = g->valid_from;
                if (g->valid_until && (!until_min || g->valid_until < until_min))
                    until_min = g->valid_until;
            }
            m->row[pu] = false;
            want += any;
            for (int row = 0; row < rows && any; row++) {
                enum consent_purpose rp;
                if (strcmp(PQgetvalue(r, row, 0), m->id) != 0 ||
                    consent_purpose_parse(PQgetvalue(r, row, 1), &rp) != 0 ||
                    rp != (enum consent_purpose)pu)
                    continue;
                ck_assert_int_eq(atoll(PQgetvalue(r, row, 2)), from_max);
                ck_assert_int_eq(atoll(PQgetvalue(r, row, 3)), until_min);
                ck_assert_uint_eq(row_conditions(PQgetvalue(r, row, 4)), cond_set);
                m->row[pu] = true;
                m->from_max[pu] = from_max;
                m->until_min[pu] = until_min;
                m->cond_set[pu] = cond_set;
            }
            ck_assert_msg(m->row[pu] == any, "member %d purpose %d: row %d, active grants %d", i,
                          pu, m->row[pu], any);
            t->rows_checked += any;
        }
    }
    ck_assert_int_eq(rows, want);
    PQclear(r);
}

/* Whether consent_permitted_members decides the member from its summary row alone: every active
 * grant in force, and none of the row's conditions in the focus (as bits of pool; an id not in pool
 * is in no grant). */
static bool fast_path(const struct member *m, int purpose, int64_t at, unsigned focus)
{
    return m->row[purpose] && m->from_max[purpose] <= at &&
           (!m->until_min[purpose] || at < m->until_min[purpose]) &&
           !(focus & m->cond_set[purpose]);
}

/* Counts rows that changed path (at now_s and at T0) since the previous check. */
static void count_moves(struct tally *t, bool first)
{
    for (int i = 0; i < NMEMBERS; i++) {
        struct member *m = &members[i];
        for (int pu = 0; pu < CONSENT_NPURPOSES; pu++) {
            for (int k = 0; k < 4; k++) {
                int64_t at = k < 2 ? now_s : T0;
                unsigned focus = k % 2 ? 1u << 0 | 1u << 2 : 0; /* multiple_sclerosis, migraine */
                signed char now = !m->row[pu] ? 0 : fast_path(m, pu, at, focus) ? 1 : 2;
                if (!first && m->path[pu][k] == 1 && now == 2)
                    t->to_slow++;
                if (!first && m->path[pu][k] == 2 && now == 1)
                    t->to_fast++;
                m->path[pu][k] = now;
            }
        }
    }
}

/* Every use decided by C, by consent_permitted_members and by consent_permits for every member,
 * and by C over the grants the store reads back. */
static void check_uses(PGconn *c, const char *ids, int nuses, struct tally *t)
{
    PGresult *r;
    struct svc_consent_set *loaded = calloc(NMEMBERS, sizeof(*loaded));
    ck_assert_ptr_nonnull(loaded);

    /* What the service evaluates: the active rows, read back through the store. */
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

    for (int k = 0; k < nuses; k++) {
        struct use u;
        char cats[16], commercial[2], for_profit[2], focus[2048], at[24], sql[512];
        char *set[NMEMBERS];
        int nset;
        PGresult *fr = NULL, *er = NULL;

        random_use(&u);
        exec_ok(c, "BEGIN");
        if (u.at_now)
            u.u.at = query_long(c, "SELECT floor(extract(epoch FROM now()))::bigint", 0, NULL);
        snprintf(cats, sizeof(cats), "%u", u.u.categories);
        snprintf(commercial, sizeof(commercial), "%s", u.u.commercial ? "t" : "f");
        snprintf(for_profit, sizeof(for_profit), "%s", u.u.for_profit ? "t" : "f");
        array_literal(u.u.conditions, u.u.nconditions, focus, sizeof(focus));
        snprintf(at, sizeof(at), "%lld", (long long)u.u.at);
        /* With at_now the time is now() itself, as research and trials pass it; $6 is then the
         * member list. */
        const char *p[] = {u.purpose,           cats, commercial, for_profit, focus,
                           u.at_now ? ids : at, ids};
        const char *when = u.at_now ? "now()" : "to_timestamp($6::bigint)";

        /* The set-returning form. */
        snprintf(sql, sizeof(sql),
                 "SELECT m::text FROM consent_permitted_members($1, $2::int, $3::bool, $4::bool, "
                 "$5::text[], %s) AS m ORDER BY 1",
                 when);
        r = PQexecParams(c, sql, u.at_now ? 5 : 6, NULL, p, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        ck_assert_int_le(PQntuples(r), NMEMBERS);
        nset = PQntuples(r);
        for (int i = 0; i < nset; i++)
            set[i] = strdup(PQgetvalue(r, i, 0));
        PQclear(r);
        qsort(set, (size_t)nset, sizeof(set[0]), cmp_str);

        /* The per-member form, for every member (also those without grants). */
        snprintf(sql, sizeof(sql),
                 "SELECT m.id::text, consent_permits(m.id, $1, $2::int, $3::bool, $4::bool, "
                 "$5::text[], %s) FROM unnest($%d::uuid[]) AS m(id)",
                 when, u.at_now ? 6 : 7);
        r = PQexecParams(c, sql, u.at_now ? 6 : 7, NULL, p, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        ck_assert_int_eq(PQntuples(r), NMEMBERS);

        /* The form populations use (schema 0022): the member's facts row, whose columns hold the
         * research or the trial-recruitment summary. Not for the purposes it does not carry. */
        bool trial = strcmp(u.purpose, "trial_recruitment") == 0;
        if (strcmp(u.purpose, "community") != 0 && strcmp(u.purpose, "share") != 0) {
            snprintf(sql, sizeof(sql),
                     "SELECT m.id::text, consent_facts_permit(m.id, f.%c_masks, f.%c_from, "
                     "f.%c_until, f.%c_conds, $1, $2::int, $3::bool, $4::bool, $5::text[], %s) "
                     "FROM unnest($%d::uuid[]) WITH ORDINALITY AS m(id, o) "
                     "LEFT JOIN member_facts f ON f.member_id = m.id ORDER BY m.o",
                     trial ? 't' : 'r', trial ? 't' : 'r', trial ? 't' : 'r', trial ? 't' : 'r',
                     when, u.at_now ? 6 : 7);
            fr = PQexecParams(c, sql, u.at_now ? 6 : 7, NULL, p, NULL, NULL, 0);
            ck_assert_msg(PQresultStatus(fr) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
            ck_assert_int_eq(PQntuples(fr), NMEMBERS);

            /* What the populations write out (stats_cohort_consent_sql, schema 0027): the
             * summary's verdict, else the grants, through the inlined subquery (column 2) or the
             * parallel-safe call (column 3). It takes only the purposes and categories a service
             * use can have. */
            struct stats_sql q;
            stats_sql_init(&q);
            ck_assert_int_eq(stats_sql_append(&q, "SELECT m.id::text, "), 0);
            int erc =
                stats_cohort_consent_sql(&q, "f", u.purpose, u.u.categories, u.u.commercial,
                                         u.u.for_profit, focus, u.at_now ? -1 : u.u.at, false);
            bool service_use = (trial || strcmp(u.purpose, "research") == 0) &&
                               u.u.categories >= 1 && u.u.categories <= 31;
            ck_assert_int_eq(erc, service_use ? 0 : -1);
            if (erc == 0) {
                ck_assert_int_eq(stats_sql_append(&q, ", "), 0);
                ck_assert_int_eq(stats_cohort_consent_sql(&q, "f", u.purpose, u.u.categories,
                                                          u.u.commercial, u.u.for_profit, focus,
                                                          u.at_now ? -1 : u.u.at, true),
                                 0);
                ck_assert_int_eq(stats_sql_append(&q, " FROM unnest("), 0);
                ck_assert_int_gt(stats_sql_param(&q, ids), 0);
                ck_assert_int_eq(stats_sql_append(&q, "::uuid[]) WITH ORDINALITY AS m(id, o) "
                                                      "LEFT JOIN member_facts f ON f.member_id = "
                                                      "m.id ORDER BY m.o"),
                                 0);
                er = PQexecParams(c, q.text, q.nparams, NULL, (const char *const *)q.params, NULL,
                                  NULL, 0);
                ck_assert_msg(PQresultStatus(er) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
                ck_assert_int_eq(PQntuples(er), NMEMBERS);
            }
            stats_sql_free(&q);
        }
        exec_ok(c, "COMMIT");

        bool valid = u.u.purpose < CONSENT_NPURPOSES && u.u.categories >= 1 &&
                     u.u.categories <= CONSENT_ALL_CATEGORIES &&
                     u.u.nconditions <= CONSENT_MAX_CONDITIONS;
        for (size_t f = 0; f < u.u.nconditions; f++)
            valid = valid && u.u.conditions[f][0];
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
                t->disagreements++;
                fprintf(stderr,
                        "disagreement: use %ld (%s cats %u commercial %d for_profit %d focus %s "
                        "at %lld%s) member %d (%zu grants): C %d (%s), set %d, per-member %d\n",
                        t->uses, u.purpose, u.u.categories, u.u.commercial, u.u.for_profit, focus,
                        (long long)u.u.at, u.at_now ? " (now)" : "", i, m->n, d.permit,
                        consent_reason_name(d.reason), in_set, per_member);
            }
            t->comparisons += 2;
            t->permitted += d.permit;
            if (fr) {
                ck_assert_str_eq(PQgetvalue(fr, i, 0), m->id);
                bool by_facts = strcmp(PQgetvalue(fr, i, 1), "t") == 0;
                if (by_facts != d.permit) {
                    t->disagreements++;
                    fprintf(stderr, "disagreement: use %ld (%s) member %d: C %d, facts %d\n",
                            t->uses, u.purpose, i, d.permit, by_facts);
                }
                t->comparisons++;
                t->facts_checks++;
            }
            if (er) {
                ck_assert_str_eq(PQgetvalue(er, i, 0), m->id);
                for (int col = 1; col <= 2; col++) {
                    ck_assert_msg(strcmp(PQgetvalue(er, i, col), "t") == 0 ||
                                      strcmp(PQgetvalue(er, i, col), "f") == 0,
                                  "the written-out consent test returned '%s'",
                                  PQgetvalue(er, i, col));
                    bool written = strcmp(PQgetvalue(er, i, col), "t") == 0;
                    if (written != d.permit) {
                        t->disagreements++;
                        fprintf(stderr,
                                "disagreement: use %ld (%s) member %d: C %d, written out (%s) "
                                "%d\n",
                                t->uses, u.purpose, i, d.permit, col == 1 ? "subquery" : "parallel",
                                written);
                    }
                    t->comparisons++;
                    t->written_checks++;
                }
            }
            if (valid) {
                bool fast =
                    fast_path(m, u.u.purpose, u.u.at, pool_set(u.u.conditions, u.u.nconditions));
                if (fast)
                    *(d.permit ? &t->fast_permitted : &t->fast_denied) += 1;
                if (fast && d.permit && m->cond_set[u.u.purpose])
                    t->fast_cond_permitted++;
                else if (m->row[u.u.purpose])
                    *(d.permit ? &t->slow_permitted : &t->slow_denied) += 1;
            }

            struct consent_decision dl = consent_evaluate(&u.u, loaded[i].grants, loaded[i].n);
            ck_assert_msg(dl.permit == d.permit,
                          "loaded grants of member %d decide %d, generated %d", i, dl.permit,
                          d.permit);
            t->loader_checks++;
        }
        /* Every member the set holds is one of ours, once (so no erased member's row lingers). */
        ck_assert_int_eq(found, nset);
        PQclear(r);
        PQclear(fr);
        PQclear(er);
        for (int i = 0; i < nset; i++)
            free(set[i]);
        t->uses++;
        t->uses_now += u.at_now;
    }
    for (int i = 0; i < NMEMBERS; i++)
        svc_consent_set_free(&loaded[i]);
    free(loaded);
}

START_TEST(sql_agrees_with_c)
{
    PGconn *c = th_db();
    PGresult *r;
    struct tally t = {0};
    int kinds[8] = {0};
    static char ids[NMEMBERS * 40 + 8];
    size_t ngrants = 0;

    now_s = query_long(c, "SELECT floor(extract(epoch FROM now()))::bigint", 0, NULL);

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
    /* Conditions (which consent does not read), so that the facts rows have per-condition copies
     * (schema 0024) for every grant change to rewrite. */
    exec_ok(c, "INSERT INTO member_condition (member_id, condition_id, diagnosed_date) "
               "SELECT id, (ARRAY['multiple_sclerosis', 'migraine', 'asthma'])[1 + g % 3], "
               "DATE '2018-01-01' FROM (SELECT id, row_number() OVER (ORDER BY email) AS g "
               "FROM account WHERE email LIKE 'consent-prop-%') a WHERE g % 4 <> 0");

    exec_ok(c, "BEGIN");
    for (int i = 0; i < NMEMBERS; i++) {
        size_t n = (size_t)rnd(0, MAXG);
        while (members[i].n < n) {
            random_grant(&members[i]);
            insert_grant(c, &members[i], members[i].n - 1);
        }
        ngrants += n;
    }
    exec_ok(c, "COMMIT");
    ck_assert_int_eq(query_long(c, "SELECT count(*) FROM consent_grant", 0, NULL), (long)ngrants);

    for (int batch = 0; batch <= NBATCHES; batch++) {
        if (batch > 0)
            for (int k = 0; k < NOPS; k++)
                random_change(c, kinds);
        ids_literal(ids, sizeof(ids));
        check_summary(c, ids, &t);
        count_moves(&t, batch == 0);
        check_uses(c, ids, NUSES, &t);
        ck_assert_int_eq(t.disagreements, 0);
    }
    PQfinish(c);

    printf("consent SQL property test: %d members, %zu grants, %d batches of %d changes (%d new, "
           "%d withdrawn, %d new versions, %d reactivated, %d in place, %d bulk expiries, %d "
           "erased, %d rolled back), %ld uses (%ld at now()): %ld member x use comparisons (%ld "
           "permitted by C), %ld store read-back checks, %ld disagreements; summary rows checked "
           "%ld; decided by the summary %ld permitted (%ld from rows with conditions) / %ld "
           "denied, by the grants %ld / %ld; rows moved to the grants %ld, back %ld; "
           "%ld decisions from member facts, %ld written out\n",
           NMEMBERS, ngrants, NBATCHES, NOPS, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4],
           kinds[5], kinds[6], kinds[7], t.uses, t.uses_now, t.comparisons, t.permitted,
           t.loader_checks, t.disagreements, t.rows_checked, t.fast_permitted,
           t.fast_cond_permitted, t.fast_denied, t.slow_permitted, t.slow_denied, t.to_slow,
           t.to_fast, t.facts_checks, t.written_checks);
    fflush(stdout);
    ck_assert_int_eq(t.disagreements, 0);
    ck_assert_int_ge(t.comparisons, 40000);
    /* Both outcomes occur often enough for the comparison to mean something, on both paths. */
    ck_assert_int_ge(t.permitted, 500);
    ck_assert_int_le(t.permitted, t.uses * NMEMBERS - 500);
    ck_assert_int_ge(t.fast_permitted, 200);
    ck_assert_int_ge(t.fast_cond_permitted, 20);
    ck_assert_int_ge(t.fast_denied, 200);
    ck_assert_int_ge(t.slow_permitted, 200);
    ck_assert_int_ge(t.slow_denied, 200);
    ck_assert_int_ge(t.to_slow, 20);
    ck_assert_int_ge(t.to_fast, 20);
    ck_assert_int_ge(t.uses_now, 40);
    ck_assert_int_ge(t.facts_checks, 20000);
    ck_assert_int_ge(t.written_checks, 40000);
    for (int k = 0; k < 8; k++)
        ck_assert_int_ge(kinds[k], 10);
}
END_TEST

/* A member with one research permit; returns its grant id in gid. */
static void member_with_permit(PGconn *c, const char *email, char id[37], char gid[37])
{
    const char *p[] = {email};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO account (email, display_name, role, password_hash) "
                               "VALUES ($1, 'Summary', 'member', 'x') RETURNING id",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    snprintf(id, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *q[] = {id};
    r = PQexecParams(c,
                     "INSERT INTO consent_grant (member_id, id, version, effect, purpose, "
                     "categories, valid_from, status, policy_version) VALUES ($1, "
                     "gen_random_uuid(), 1, 'permit', 'research', 31, '2026-01-01Z', 'active', 1) "
                     "RETURNING id",
                     1, NULL, q, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    snprintf(gid, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static long permitted_research(PGconn *c, const char *id)
{
    const char *p[] = {id};
    return query_long(c,
                      "SELECT count(*) FROM consent_permitted_members('research', 31, false, "
                      "false, '{}', now()) m WHERE m = $1",
                      1, p);
}

/* The checks above notice a stale summary: with the update trigger off, a withdrawal leaves the
 * row as it was, the fast path still counts the member, and summary_diff reports the row. */
START_TEST(stale_summary_is_detected)
{
    PGconn *c = th_db();
    char id[37], gid[37];
    member_with_permit(c, "consent-stale@example.org", id, gid);
    ck_assert_int_eq(permitted_research(c, id), 1);
    ck_assert_int_eq(summary_diff(c), 0);

    const char *p[] = {id, gid};
    exec_ok(c, "ALTER TABLE consent_grant DISABLE TRIGGER consent_member_update");
    ck_assert_int_eq(cmd(c,
                         "UPDATE consent_grant SET status = 'withdrawn', withdrawn_at = now() "
                         "WHERE member_id = $1 AND id = $2::uuid",
                         2, p),
                     1);
    exec_ok(c, "ALTER TABLE consent_grant ENABLE TRIGGER consent_member_update");
    ck_assert_int_eq(permitted_research(c, id), 1);
    ck_assert_int_eq(summary_diff(c), 1);

    exec_ok(c, "SELECT consent_member_rebuild()");
    ck_assert_int_eq(summary_diff(c), 0);
    ck_assert_int_eq(permitted_research(c, id), 0);
    ck_assert_int_eq(query_long(c, "SELECT count(*) FROM consent_member WHERE member_id = $1", 1,
                                (const char *const[]){id}),
                     0);
    PQfinish(c);
}
END_TEST

/* Waits until the backend of b waits for a lock (at most about 10 s). */
static void wait_blocked(PGconn *watch, PGconn *b)
{
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(b));
    const char *p[] = {pid};
    for (int i = 0; i < 1000; i++) {
        if (query_long(watch, "SELECT count(*) FROM pg_locks WHERE pid = $1::int AND NOT granted",
                       1, p) > 0)
            return;
        usleep(10000);
    }
    ck_abort_msg("the second transaction never waited for the member's lock");
}

static void finish_async(PGconn *b)
{
    PGresult *r = PQgetResult(b);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(b));
    PQclear(r);
    while ((r = PQgetResult(b)))
        PQclear(r);
}

/* Two transactions changing one member's grants at once: the second recomputes after the first
 * commits and sees its change, so the row ends up exact whichever change made it last. */
START_TEST(concurrent_changes_of_one_member)
{
    PGconn *a = th_db(), *b = th_db(), *watch = th_db();
    char id[37], gid[37];
    member_with_permit(watch, "consent-concurrent@example.org", id, gid);
    const char *p[] = {id, gid};

    /* A adds a deny; B, meanwhile, withdraws the permit and must wait for A's lock. */
    exec_ok(a, "BEGIN");
    ck_assert_int_eq(cmd(a,
                         "INSERT INTO consent_grant (member_id, id, version, effect, purpose, "
                         "categories, valid_from, status, policy_version) VALUES ($1, "
                         "gen_random_uuid(), 1, 'deny', 'research', 1, '2026-01-01Z', 'active', 1)",
                         1, p),
                     1);
    exec_ok(b, "BEGIN");
    ck_assert_int_eq(
        PQsendQueryParams(b,
                          "UPDATE consent_grant SET status = 'withdrawn', "
                          "withdrawn_at = now() WHERE member_id = $1 AND id = $2::uuid",
                          2, NULL, p, NULL, NULL, 0),
        1);
    wait_blocked(watch, b);
    exec_ok(a, "COMMIT");
    finish_async(b);
    exec_ok(b, "COMMIT");
    ck_assert_int_eq(summary_diff(watch), 0);
    /* Only the deny is active: a row with nothing permitted. */
    ck_assert_int_eq(query_long(watch,
                                "SELECT cats_noncom_nonprofit + cats_noncom_forprofit + "
                                "cats_com_nonprofit + cats_com_forprofit FROM consent_member "
                                "WHERE member_id = $1 AND purpose = 'research'",
                                1, p),
                     0);

    /* A withdraws the deny; B, meanwhile, gives a new permit (its insert already waits). */
    exec_ok(a, "BEGIN");
    ck_assert_int_eq(cmd(a,
                         "UPDATE consent_grant SET status = 'withdrawn', withdrawn_at = now() "
                         "WHERE member_id = $1 AND effect = 'deny'",
                         1, p),
                     1);
    exec_ok(b, "BEGIN");
    ck_assert_int_eq(PQsendQueryParams(b,
                                       "INSERT INTO consent_grant (member_id, id, version, effect, "
                                       "purpose, categories, valid_from, status, policy_version) "
                                       "VALUES ($1, gen_random_uuid(), 1, 'permit', 'research', "
                                       "31, '2026-02-01Z', 'active', 1)",
                                       1, NULL, p, NULL, NULL, 0),
                     1);
    wait_blocked(watch, b);
    exec_ok(a, "COMMIT");
    finish_async(b);
    exec_ok(b, "COMMIT");
    ck_assert_int_eq(summary_diff(watch), 0);
    ck_assert_int_eq(permitted_research(watch, id), 1);

    /* Under REPEATABLE READ the recomputation could not see the other's change: refused. */
    exec_ok(a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    PGresult *r = PQexecParams(a,
                               "UPDATE consent_grant SET status = 'withdrawn', withdrawn_at = "
                               "now() WHERE member_id = $1 AND status = 'active'",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "55000");
    PQclear(r);
    exec_ok(a, "ROLLBACK");
    ck_assert_int_eq(permitted_research(watch, id), 1);
    PQfinish(a);
    PQfinish(b);
    PQfinish(watch);
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
    tcase_add_test(tc, stale_summary_is_detected);
    tcase_add_test(tc, concurrent_changes_of_one_member);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop();
    return failed ? 1 : 0;
}
