/* carecommons-gen: load a synthetic population into a fresh CareCommons database with COPY.
 *
 *   carecommons-gen --url URL [--members N] [--days D] [--seed S] [--sessions K] [--tokens FILE]
 *                   [--jobs J]
 *
 * URL is the schema owner's (cc_owner) or a superuser's. Rows are streamed with COPY in 1 MiB
 * PQputCopyData buffers (text; symptom_entry, nearly all the rows, in the binary format), members
 * in id order, CHUNK members per transaction, one table after the other. The model is in
 * genmodel.h.
 *
 * The session table loads as the service would write it, with every constraint and trigger in
 * force. A change-feed trigger (<table>_log, or <table>_log_insert since schema 0011) would be
 * disabled inside each load transaction, so the same COMMIT (or ROLLBACK) enables it again and
 * change_log stays empty.
 *
 * Every other table loads in bulk (a foreign key or index checked per row cost 6,000-60,000 rows/s
 * at 1M), in three steps:
 *   1. One committed transaction takes off what costs per row: the change-feed insert trigger, the
 *      summary insert trigger (symptom_entry_rollup_insert, schema 0013; consent_member_insert,
 *      0014; medication_first_insert, 0032) and the check triggers (symptom_entry_catalog_insert,
 *      0030, which keeps every COPY's rows in a transition table; consent_grant's per-row grant
 *      limit and invitation re-check) are disabled; the secondary indexes (those backing no
 *      constraint) are dropped; the foreign keys are dropped, and so are the primary keys of
 *      the rollups written per chunk (symptom_day, symptom_week). The definitions are read from
 *      pg_indexes and pg_constraint first, so the loader puts back exactly what the schema had.
 *   2. J loaders (--jobs, 2 by default: one per core), each with its own connection, COPY disjoint
 *      member ranges at once. The primary key, CHECKs and the data-version trigger stay on. Since
 *      schema 0019 (0020) each chunk's symptom rollups (consent summary) are added in the
 *      chunk's own transaction. The consent summary comes from consent_member_add_members, while
 *      the chunk's rows are in memory; the symptom rollups' rows are summed by the loader as it
 *      writes the entries and COPYed after them (struct roll), the rows
 *      symptom_rollup_add_members would have derived.
 *   3. The indexes and the rollups' keys are created again from their definitions, on the J
 *      connections at once (a member's rollup added twice fails here); then one transaction
 *      locks the table against writers (SHARE), compares the rollup totals with the entries
 *      (0019; a difference, or an older schema or a summary without per-chunk adds, recomputes
 *      them all: symptom_rollup_rebuild(), medication_first_rebuild() of 0037), adds the
 *      foreign keys again (ADD CONSTRAINT checks every row with one join, so a row no key would
 *      have let in fails the load just as it would have failed the COPY), runs the check
 *      triggers' query over every row the same way, and enables the triggers.
 *
 * The member facts (schema 0022), whose triggers are off for the whole load, are rebuilt once at
 * the end, their tables' secondary indexes and foreign keys taken off the same way meanwhile.
 * Each of these steps prints its own timing line under the table's. The result is the database
 * the service would hold: same rows, rollups equal to a GROUP BY over the entries, same indexes,
 * constraints and triggers (only the OIDs behind the foreign keys' internal triggers are new);
 * bench/run.sh compares the rollup totals with the entries. A failed load, SIGINT or SIGTERM
 * still runs step 3; if that fails too the loader says so loudly, lists the statements still to
 * run and exits 1. Only a killed loader (SIGKILL, a crash) leaves a table altered: start again
 * from a fresh database, as always.
 *
 * Session tokens are derived from the seed ("ccbench-token-<seed>-<8 digits>", member index
 * i = 1..K), so pgbench can form them too; they are written one per line to FILE, and the staff
 * accounts' tokens (admin, researcher, coordinator) as "role token" lines to FILE.staff. They are
 * predictable by design: use this only for benchmark databases (it refuses a database that already
 * has accounts). */
#include "auth.h"
#include "genmodel.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_randist.h>

#define MEMBERS_MAX 2000000 /* plans take about 500 bytes per member in memory */
#define DAYS_MAX 3650
#define CHUNK 2000          /* members per load transaction */
#define JOBS_MAX 8          /* loaders of a bulk table at once */
#define COPY_BUF (1u << 20) /* bytes per PQputCopyData */
#define ROW_MAX 4096        /* bytes one row may take */
#define BENCH_PASSWORD "carecommons-bench"
#define STAFF_N 3

static const char *const staff_roles[STAFF_N] = {"admin", "researcher", "coordinator"};

/* The run: options, the members' plans and the time axis. */
struct gen {
    PGconn *conn;            /* this loader's connection (the main one outside the workers) */
    PGconn *conns[JOBS_MAX]; /* one per loader of a bulk table; conns[0] is the main one */
    gsl_rng *rngs[JOBS_MAX]; /* likewise; rngs[0] is the main rng */
    int jobs;
    uint64_t seed;
    int days;
    uint32_t nmembers, nsessions;
    struct gen_member *members; /* sorted by id */
    int64_t now;                /* unix seconds at start */
    int64_t day0;               /* days since 1970-01-01 of history day 0 */
    char password_hash[SVC_HASH_MAX];
    gsl_rng *rng;
    int16_t *sym_code; /* catalog_symptom.code of each gen_symptom_ids entry */
};

/* A COPY in progress: rows are built in buf and sent whenever it fills. */
struct copy {
    PGconn *conn;
    char *buf;
    size_t len;
    int64_t rows;
    int failed;
    bool binary;        /* FORMAT binary: no text to parse in the server (t->binary) */
    int16_t nfields;    /* binary: the fields of each row */
    int64_t cached_day; /* the date text of the last day formatted */
    char day_text[11];
    struct roll *roll; /* symptom rollup summed from the rows written (t->rollup_local), or NULL */
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "carecommons-gen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- text COPY formatting ---- */

static int cp_flush(struct copy *c)
{
    if (c->failed)
        return -1;
    if (c->len && PQputCopyData(c->conn, c->buf, (int)c->len) != 1) {
        fprintf(stderr, "carecommons-gen: COPY: %s", PQerrorMessage(c->conn));
        c->failed = 1;
        return -1;
    }
    c->len = 0;
    return 0;
}

static void cp_raw(struct copy *c, const char *s, size_t n)
{
    memcpy(c->buf + c->len, s, n);
    c->len += n;
}

/* Big-endian integers, as the binary format has them. */
static void be(struct copy *c, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        c->buf[c->len++] = (char)(v >> (8 * i));
}

/* Room for one more row; flushes a full buffer. A binary row starts with its field count. */
static int cp_row(struct copy *c)
{
    if (c->len + ROW_MAX > COPY_BUF && cp_flush(c) < 0)
        return -1;
    if (c->failed)
        return -1;
    if (c->binary)
        be(c, (uint16_t)c->nfields, 2);
    return 0;
}

/* The binary format's signature, flags and header extension (none). */
static void cp_header(struct copy *c)
{
    cp_raw(c, "PGCOPY\n\377\r\n\0", 11);
    be(c, 0, 4);
    be(c, 0, 4);
}

/* A text value, escaped for COPY, followed by a tab. Values are short (the caller bounds them). */
static void cp_str(struct copy *c, const char *s)
{
    if (c->binary) {
        size_t n = strlen(s);
        be(c, n, 4);
        cp_raw(c, s, n);
        return;
    }
    for (; *s; s++) {
        if (*s == '\\' || *s == '\t' || *s == '\n' || *s == '\r') {
            c->buf[c->len++] = '\\';
            c->buf[c->len++] = *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : '\\';
        } else {
            c->buf[c->len++] = *s;
        }
    }
    c->buf[c->len++] = '\t';
}

static void cp_null(struct copy *c)
{
    if (c->binary)
        be(c, UINT32_MAX, 4); /* length -1 */
    else
        cp_raw(c, "\\N\t", 3);
}

static void cp_bool(struct copy *c, bool v)
{
    assert(!c->binary);
    cp_raw(c, v ? "t\t" : "f\t", 2);
}

static void cp_int(struct copy *c, long long v)
{
    char tmp[24];
    assert(!c->binary); /* the binary format needs the width: cp_intw */
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        c->buf[c->len++] = '-';
    while (n)
        c->buf[c->len++] = tmp[--n];
    c->buf[c->len++] = '\t';
}

/* The 36-character text form of a UUID, NUL-terminated, into out. */
static void uuid_text(const uint8_t id[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[id[i] >> 4];
        *o++ = hex[id[i] & 15];
    }
    *o = '\0';
}

/* A smallint (bytes 2) or int (bytes 4) column. */
static void cp_intw(struct copy *c, int32_t v, int bytes)
{
    if (!c->binary) {
        cp_int(c, v);
        return;
    }
    be(c, (uint64_t)bytes, 4);
    be(c, (uint32_t)v, bytes);
}

static void cp_uuid(struct copy *c, const uint8_t id[16])
{
    if (c->binary) {
        be(c, 16, 4);
        cp_raw(c, (const char *)id, 16);
        return;
    }
    uuid_text(id, c->buf + c->len);
    c->len += 36;
    c->buf[c->len++] = '\t';
}

/* Civil date of a day number (days since 1970-01-01), proleptic Gregorian. */
static void civil(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Day number of a civil date (inverse of civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const char *day_text(struct copy *c, int64_t day)
{
    if (day != c->cached_day) {
        int y, m, d;
        civil(day, &y, &m, &d);
        snprintf(c->day_text, sizeof(c->day_text), "%04d-%02d-%02d", y, m, d);
        c->cached_day = day;
    }
    return c->day_text;
}

static void two(struct copy *c, int v)
{
    c->buf[c->len++] = (char)('0' + v / 10);
    c->buf[c->len++] = (char)('0' + v % 10);
}

/* A timestamptz in UTC from unix seconds. */
static void cp_ts(struct copy *c, int64_t t)
{
    if (c->binary) {
        /* Microseconds since 2000-01-01 00:00 UTC (integer datetimes, PostgreSQL 10 on). */
        be(c, 8, 4);
        be(c, (uint64_t)((t - 946684800) * 1000000), 8);
        return;
    }
    int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int sec = (int)(t - day * 86400);
    cp_raw(c, day_text(c, day), 10);
    c->buf[c->len++] = ' ';
    two(c, sec / 3600);
    c->buf[c->len++] = ':';
    two(c, sec / 60 % 60);
    c->buf[c->len++] = ':';
    two(c, sec % 60);
    cp_raw(c, "+00\t", 4);
}

static void cp_date(struct copy *c, int64_t day)
{
    if (c->binary) {
        be(c, 4, 4);
        be(c, (uint32_t)(int32_t)(day - 10957), 4); /* days since 2000-01-01 */
        return;
    }
    cp_raw(c, day_text(c, day), 10);
    c->buf[c->len++] = '\t';
}

/* A one-dimensional text[] of n plain elements (no quotes, backslashes or NULLs). */
static void cp_text_array(struct copy *c, const char *const *e, int n)
{
    if (!c->binary) {
        c->buf[c->len++] = '{';
        for (int i = 0; i < n; i++) {
            c->buf[c->len++] = '"';
            cp_raw(c, e[i], strlen(e[i]));
            c->buf[c->len++] = '"';
            c->buf[c->len++] = i + 1 < n ? ',' : '}';
        }
        c->buf[c->len++] = '\t';
        return;
    }
    size_t at = c->len;
    be(c, 0, 4);  /* the length, set below */
    be(c, 1, 4);  /* dimensions */
    be(c, 0, 4);  /* no NULLs */
    be(c, 25, 4); /* element type: text */
    be(c, (uint32_t)n, 4);
    be(c, 1, 4); /* lower bound */
    for (int i = 0; i < n; i++)
        cp_str(c, e[i]);
    size_t end = c->len;
    c->len = at;
    be(c, end - at - 4, 4);
    c->len = end;
}

/* Ends the row (in text, the last field's tab becomes a newline). */
static void cp_end(struct copy *c)
{
    if (!c->binary)
        c->buf[c->len - 1] = '\n';
    c->rows++;
}

/* ---- the symptom rollups, summed by the loaders ---- */

/* One key of symptom_day or symptom_week (day: the week's Monday) with its count and sum. */
struct roll_row {
    uint32_t member; /* index into g->members */
    int32_t day;     /* days since 1970-01-01 */
    int16_t sym;
    int32_t n, s;
};

/* One chunk's rows of symptom_day and symptom_week, summed from its entries as they are written:
 * the rows symptom_rollup_add_members (0034) would derive from the chunk, without the server
 * reading the chunk back and grouping it (40% of the entries' COPY at 100k members). The member
 * being written gathers in one[] first. */
struct roll {
    struct roll_row *one, *day, *week;
    size_t none, nday, nweek, cone, cday, cweek;
};

/* Appends r to the vector v; returns 0, or -1 out of memory. */
static int roll_push(struct roll_row **v, size_t *n, size_t *cap, struct roll_row r)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4096;
        struct roll_row *p = realloc(*v, c * sizeof(*p));
        if (!p)
            return -1;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = r;
    return 0;
}

/* Adds r to the last row of v[from..*n) when it has r's key, else appends it. */
static int roll_sum(struct roll_row **v, size_t *n, size_t *cap, size_t from, struct roll_row r)
{
    struct roll_row *last = *n > from ? &(*v)[*n - 1] : NULL;
    if (last && last->sym == r.sym && last->day == r.day) {
        last->n += r.n;
        last->s += r.s;
        return 0;
    }
    return roll_push(v, n, cap, r);
}

static int by_sym_day(const void *a, const void *b)
{
    const struct roll_row *x = a, *y = b;
    if (x->sym != y->sym)
        return x->sym < y->sym ? -1 : 1;
    return (x->day > y->day) - (x->day < y->day);
}

/* Moves the member's gathered entries into the chunk's day rows and those into its week rows.
 * Returns 0, or -1 out of memory. */
static int roll_member(struct roll *r)
{
    size_t d0 = r->nday, w0 = r->nweek;
    qsort(r->one, r->none, sizeof(*r->one), by_sym_day);
    for (size_t i = 0; i < r->none; i++)
        if (roll_sum(&r->day, &r->nday, &r->cday, d0, r->one[i]) < 0)
            return -1;
    r->none = 0;
    for (size_t i = d0; i < r->nday; i++) {
        struct roll_row w = r->day[i];
        w.day -= ((w.day + 3) % 7 + 7) % 7; /* back to Monday: 1970-01-01 was a Thursday */
        if (roll_sum(&r->week, &r->nweek, &r->cweek, w0, w) < 0)
            return -1;
    }
    return 0;
}

static void roll_free(struct roll *r)
{
    if (!r)
        return;
    free(r->one);
    free(r->day);
    free(r->week);
}

/* ---- the database ---- */

/* Set by SIGINT or SIGTERM, or by a loader that failed: every loader stops at its next member, and
 * the loader puts back what it took off the bulk tables before it exits. */
static atomic_int stopping;

static void on_signal(int sig)
{
    atomic_store(&stopping, 1);
    signal(sig, SIG_DFL); /* a second one ends the loader at once */
}

static int exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "carecommons-gen: %s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

static int64_t query_int(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "carecommons-gen: %s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return v;
}

/* A query with text parameters that must return rows; NULL (reported) on failure. */
static PGresult *query_rows(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    fprintf(stderr, "carecommons-gen: %s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return NULL;
}

/* Rows of one table for one member; returns 0 or -1. */
typedef int (*row_fn)(struct gen *g, struct copy *c, const struct gen_member *m);

struct table {
    const char *name;
    const char *columns;
    const char *trigger; /* change feed: "<table>_log" (row trigger, schema 0003) or its
                          * statement-level successor "<table>_log_insert" (0011); NULL: none */
    row_fn rows;
    row_fn staff; /* rows for the staff accounts (first chunk only), or NULL */
    bool bulk;    /* loaded in parallel without its secondary indexes, foreign keys, change feed
                   * and per-row triggers, which are put back afterwards (struct bulk) */
    const char *rollup;         /* a rollup insert trigger to disable for the load, or NULL */
    const char *rollup_rebuild; /* the function that recomputes that rollup afterwards */
    const char *rollup_add;     /* or, when the schema has it (0019), the function that adds the
                                 * rollup of a member range (lo, hi uuid), called per chunk */
    const char *rollup_check;   /* a query: true when the rollup's totals match the table's */
    const char *check;          /* check triggers (space-separated) to disable for the load: a
                                 * statement-level one (schema 0030) or per-row ones, or NULL */
    const char *check_sql;      /* a query: how many rows those checks would refuse or act on */
    const char *rollup_keyed;   /* with rollup_add: the rollup tables (space-separated) whose
                                 * primary keys are built once after the load, or NULL */
    bool binary; /* COPY in the binary format: the rows' writer uses no cp_int or cp_bool
                  * (symptom_entry: 16.5-20.5 s against 20.3-27.1 s in text at 100k) */
    const char *rollup_tables; /* the tables the rollup writes (", "-separated), vacuumed at the
                                * end when the rollup was kept, or NULL */
    bool rollup_local;         /* with rollup_add (the schema's sign that rollups go per chunk): the
                                * loaders sum symptom_entry's rollup rows themselves (struct roll) and
                                * COPY them in the chunk's transaction instead of calling it */
};

/* The name of t's change-feed insert trigger into out. Returns 0, or -1 when the table has
 * neither form: loading would then fill change_log (or the schema moved on), so stop. */
static int feed_trigger(PGconn *conn, const struct table *t, char out[128])
{
    char ins[128];
    snprintf(ins, sizeof(ins), "%s_insert", t->trigger);
    const char *params[] = {t->name, t->trigger, ins};
    PGresult *r = PQexecParams(conn,
                               "SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass "
                               "AND NOT tgisinternal AND tgname IN ($2, $3) ORDER BY tgname",
                               3, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(out, 128, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    } else {
        fprintf(stderr, "carecommons-gen: %s has no change-feed trigger %s or %s (%s)\n", t->name,
                t->trigger, ins, PQerrorMessage(conn));
    }
    PQclear(r);
    return rc;
}

/* Starts COPY table (columns) FROM STDIN on c->conn, in c's format (the binary header written).
 * Returns 0, or -1 (reported). */
static int copy_begin(struct copy *c, const char *table, const char *columns)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "COPY %s (%s) FROM STDIN%s", table, columns,
             c->binary ? " (FORMAT binary)" : "");
    PGresult *r = PQexec(c->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok)
        fprintf(stderr, "carecommons-gen: %s: %s", sql, PQerrorMessage(c->conn));
    PQclear(r);
    if (ok && c->binary)
        cp_header(c);
    return ok ? 0 : -1;
}

/* Ends the COPY: sends the rest (the server discards it all when c->failed) and reads the answer.
 * Returns 0, or -1 (reported unless stopping). */
static int copy_end(struct copy *c, const char *table)
{
    if (!c->failed && c->binary)
        be(c, UINT16_MAX, 2); /* the trailer: -1 fields */
    if (!c->failed)
        cp_flush(c);
    if (PQputCopyEnd(c->conn, c->failed ? "generator stopped" : NULL) != 1)
        c->failed = 1;
    PGresult *r = PQgetResult(c->conn);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (!atomic_load(&stopping))
            fprintf(stderr, "carecommons-gen: COPY %s: %s", table, PQerrorMessage(c->conn));
        c->failed = 1;
    }
    PQclear(r);
    while ((r = PQgetResult(c->conn)))
        PQclear(r);
    return c->failed ? -1 : 0;
}

/* COPYs a chunk's rollup rows into symptom_day and symptom_week, through c's connection and
 * buffer, and empties r. Returns 0, or -1 (reported). */
static int roll_copy(struct gen *g, struct copy *c, struct roll *r)
{
    const struct {
        const char *table, *columns;
        const struct roll_row *v;
        size_t n;
    } out[] = {{"symptom_day", "sym, member_id, day, n, s", r->day, r->nday},
               {"symptom_week", "sym, member_id, week, n, s", r->week, r->nweek}};

    for (size_t k = 0; k < sizeof(out) / sizeof(out[0]); k++) {
        struct copy cp = {.conn = c->conn, .buf = c->buf, .binary = true, .nfields = 5};
        if (copy_begin(&cp, out[k].table, out[k].columns) < 0)
            return -1;
        for (size_t i = 0; i < out[k].n && cp_row(&cp) == 0; i++) {
            const struct roll_row *w = &out[k].v[i];
            cp_intw(&cp, w->sym, 2);
            cp_uuid(&cp, g->members[w->member].id);
            cp_date(&cp, w->day);
            cp_intw(&cp, w->n, 4);
            cp_intw(&cp, w->s, 4);
            cp_end(&cp);
        }
        if (copy_end(&cp, out[k].table) < 0)
            return -1;
    }
    r->nday = r->nweek = 0;
    return 0;
}

/* Members [lo, hi) of t: a transaction per CHUNK members. trigger: a change-feed trigger to
 * disable inside each transaction (so its COMMIT or ROLLBACK enables it again), or "". add: a
 * function (t->rollup_add) to call with the chunk's first and last member id after its COPY, in
 * the same transaction, or NULL. Adds the rows sent to *rows. Returns 0, or -1 after setting
 * stopping. */
static int load_range(struct gen *g, const struct table *t, uint32_t lo, uint32_t hi,
                      const char *trigger, const char *add, int64_t *rows)
{
    struct copy c = {.conn = g->conn, .cached_day = INT64_MIN, .binary = t->binary, .nfields = 1};
    struct roll roll = {0};
    char sql[512];
    int rc = -1;

    if (add && t->rollup_local)
        c.roll = &roll;

    for (const char *p = t->columns; *p; p++)
        c.nfields += *p == ',';

    if (!(c.buf = malloc(COPY_BUF)))
        goto out;
    for (uint32_t from = lo; from < hi; from += CHUNK) {
        uint32_t to = hi - from > CHUNK ? from + CHUNK : hi;
        if (exec_ok(g->conn, "BEGIN") < 0)
            goto out;
        if (trigger[0]) {
            snprintf(sql, sizeof(sql), "ALTER TABLE %s DISABLE TRIGGER %s", t->name, trigger);
            if (exec_ok(g->conn, sql) < 0)
                goto out;
        }
        if (copy_begin(&c, t->name, t->columns) < 0)
            goto out;
        if (from == 0 && t->staff && t->staff(g, &c, NULL) < 0)
            c.failed = 1;
        for (uint32_t i = from; i < to && !c.failed; i++)
            if (atomic_load(&stopping) || t->rows(g, &c, &g->members[i]) < 0)
                c.failed = 1;
        if (copy_end(&c, t->name) < 0)
            goto out;
        if (c.roll) {
            if (roll_copy(g, &c, c.roll) < 0)
                goto out;
        } else if (add) {
            /* Members are in id order, so [first, last] holds this chunk's members only. */
            char first[37], last[37];
            uuid_text(g->members[from].id, first);
            uuid_text(g->members[to - 1].id, last);
            const char *params[] = {first, last};
            snprintf(sql, sizeof(sql), "SELECT %s($1, $2)", add);
            PGresult *r = query_rows(g->conn, sql, 2, params);
            if (!r)
                goto out;
            PQclear(r);
        }
        if (trigger[0]) {
            snprintf(sql, sizeof(sql), "ALTER TABLE %s ENABLE TRIGGER %s", t->name, trigger);
            if (exec_ok(g->conn, sql) < 0)
                goto out;
        }
        if (exec_ok(g->conn, "COMMIT") < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc < 0) {
        atomic_store(&stopping, 1);
        exec_ok(g->conn, "ROLLBACK");
    }
    *rows += c.rows;
    free(c.buf);
    roll_free(&roll);
    return rc;
}

/* One loader of a bulk table: its own connection and random generator, a range of members. */
struct worker {
    struct gen g;
    const struct table *t;
    const char *add;
    uint32_t lo, hi;
    int64_t rows;
    int rc;
    pthread_t thread;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    w->rc = load_range(&w->g, w->t, w->lo, w->hi, "", w->add, &w->rows);
    return NULL;
}

/* A bulk table: g->jobs loaders on disjoint member ranges at once, the caller's thread one of
 * them. Nothing is altered per transaction (struct bulk did it once), so they never wait for each
 * other. */
static int load_parallel(struct gen *g, const struct table *t, const char *add, int64_t *rows)
{
    struct worker w[JOBS_MAX];
    int started = 1, rc = 0;

    for (int k = 0; k < g->jobs; k++) {
        w[k] = (struct worker){.g = *g, .t = t, .add = add, .rc = -1};
        w[k].g.conn = g->conns[k];
        w[k].g.rng = g->rngs[k];
        w[k].lo = (uint32_t)((uint64_t)g->nmembers * (uint64_t)k / (uint64_t)g->jobs);
        w[k].hi = (uint32_t)((uint64_t)g->nmembers * (uint64_t)(k + 1) / (uint64_t)g->jobs);
    }
    for (; started < g->jobs; started++)
        if (pthread_create(&w[started].thread, NULL, worker_run, &w[started]) != 0) {
            fprintf(stderr, "carecommons-gen: cannot start a loader thread\n");
            atomic_store(&stopping, 1);
            rc = -1;
            break;
        }
    worker_run(&w[0]);
    for (int k = 1; k < started; k++)
        pthread_join(w[k].thread, NULL);
    for (int k = 0; k < started; k++) {
        *rows += w[k].rows;
        if (w[k].rc < 0)
            rc = -1;
    }
    return rc;
}

/* Load one table (add: as for load_range). Prints rows and seconds. */
static int load(struct gen *g, const struct table *t, const char *add)
{
    char trigger[128] = "";
    double t0 = mono();
    int64_t rows = 0;
    int rc;

    if (t->bulk) {
        rc = load_parallel(g, t, add, &rows);
    } else {
        if (t->trigger && feed_trigger(g->conn, t, trigger) < 0)
            return -1;
        rc = load_range(g, t, 0, g->nmembers, trigger, add, &rows);
    }
    double secs = mono() - t0;
    printf("%-24s %12" PRId64 " rows %9.1f s %10.0f rows/s\n", t->name, rows, secs,
           secs > 0 ? (double)rows / secs : 0.0);
    fflush(stdout);
    return rc;
}

/* ---- bulk tables: what the loader takes off for the load and puts back ---- */

#define BULK_MAX 16
#define CHECK_MAX 4

/* Statements that put back what the loader took off one bulk table, in the order they run, and how
 * far they got. Read from the catalogs (pg_indexes, pg_constraint), so they are the schema's own
 * definitions whatever the migrations say. */
struct bulk {
    const struct table *t;
    char *index[BULK_MAX]; /* CREATE INDEX, as pg_indexes has it */
    char *fkey[BULK_MAX];  /* ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... */
    char *rkey[BULK_MAX];  /* ALTER TABLE <rollup> ADD CONSTRAINT ... PRIMARY KEY ... */
    int nindex, nfkey, nrkey;
    char feed[128];            /* the change-feed insert trigger, disabled */
    char rollup[128];          /* the rollup insert trigger, disabled, or "" */
    char check[CHECK_MAX][64]; /* the check triggers, disabled */
    int ncheck;
    bool by_chunk;             /* the loaders add the rollup per chunk (t->rollup_add) */
    bool off;                  /* the changes are committed */
    bool index_back[BULK_MAX]; /* built again */
    bool rkey_back[BULK_MAX];  /* built again */
    bool tail_back; /* the rollup, foreign keys and triggers are back (one transaction) */
};

/* Secondary indexes: every index of the table that backs no constraint, leaving alone any that a
 * plain CREATE INDEX would not give back as it is (clustered, replica identity, own tablespace,
 * commented). */
static const char sql_indexes[] =
    "SELECT format('DROP INDEX %I.%I', x.schemaname, x.indexname), x.indexdef"
    " FROM pg_indexes x JOIN pg_class c ON c.oid = format('%I.%I', x.schemaname,"
    " x.indexname)::regclass JOIN pg_index i ON i.indexrelid = c.oid"
    " WHERE i.indrelid = $1::regclass AND i.indisvalid AND i.indisready"
    " AND NOT i.indisclustered AND NOT i.indisreplident AND c.reltablespace = 0"
    " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid"
    " AND k.conrelid = i.indrelid)"
    " AND NOT EXISTS (SELECT 1 FROM pg_description d WHERE d.objoid = c.oid"
    " AND d.classoid = 'pg_class'::regclass)"
    " ORDER BY x.indexname";

/* Foreign keys of the table itself (validated, not inherited, not commented). */
static const char sql_fkeys[] =
    "SELECT format('DROP CONSTRAINT %I', k.conname), format('ALTER TABLE %s ADD CONSTRAINT %I %s',"
    " k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid))"
    " FROM pg_constraint k WHERE k.conrelid = $1::regclass AND k.contype = 'f' AND k.convalidated"
    " AND k.conislocal AND k.coninhcount = 0 AND k.conparentid = 0"
    " AND NOT EXISTS (SELECT 1 FROM pg_description d WHERE d.objoid = k.oid"
    " AND d.classoid = 'pg_constraint'::regclass)"
    " ORDER BY k.conname";

/* The primary key of one rollup table. The loaders' per-chunk INSERTs (t->rollup_add) need no key:
 * a member added twice fails ADD CONSTRAINT at the end instead of the chunk's INSERT. Built once
 * from sorted rows, the key is packed; retail inserts into the middle of each symptom's range
 * leave its pages about half full (symptom_day's key at 1M: 11 GB, 6.4 GB rebuilt), and the
 * research queries then need twice the shared buffers for it (docs/benchmarks.md, fourteenth
 * round). */
static const char sql_rollup_key[] =
    "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I;', k.conrelid::regclass, k.conname),"
    " format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,"
    " pg_get_constraintdef(k.oid))"
    " FROM pg_constraint k WHERE k.conrelid = $1::regclass AND k.contype = 'p'"
    " AND NOT EXISTS (SELECT 1 FROM pg_description d WHERE d.objoid = k.oid"
    " AND d.classoid = 'pg_constraint'::regclass)";

/* 1 when trigger tg of t exists and is enabled; 0 when it does not exist and missing_ok; -1
 * (reported) otherwise. */
static int trigger_enabled(PGconn *conn, const struct table *t, const char *tg, bool missing_ok)
{
    const char *params[] = {t->name, tg};
    PGresult *r = query_rows(conn,
                             "SELECT tgenabled FROM pg_trigger WHERE tgrelid = $1::regclass"
                             " AND tgname = $2 AND NOT tgisinternal",
                             2, params);
    int rc = -1;
    if (r && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "O") == 0)
        rc = 1;
    else if (r && PQntuples(r) == 0 && missing_ok)
        rc = 0;
    else if (r)
        fprintf(stderr,
                "carecommons-gen: trigger %s on %s is %s; load into a freshly migrated database\n",
                tg, t->name, PQntuples(r) ? "not enabled" : "missing");
    PQclear(r);
    return rc;
}

/* Takes off, in one transaction, t's secondary indexes and foreign keys and disables its
 * change-feed and rollup insert triggers. Returns 0, or -1 with nothing changed. */
static int bulk_off(struct gen *g, struct bulk *b, const struct table *t)
{
    const char *params[] = {t->name};
    PGresult *ix = NULL, *fk = NULL, *rk[BULK_MAX] = {NULL};
    int nrk = 0;
    char *alter = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;

    *b = (struct bulk){.t = t};
    if (t->trigger &&
        (feed_trigger(g->conn, t, b->feed) < 0 || trigger_enabled(g->conn, t, b->feed, false) < 0))
        return -1;
    if (t->rollup) {
        const char *p[] = {t->name, t->rollup, t->rollup_rebuild};
        PGresult *r = query_rows(g->conn,
                                 "SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid ="
                                 " $1::regclass AND tgname = $2 AND NOT tgisinternal),"
                                 " to_regprocedure($3) IS NOT NULL",
                                 3, p);
        if (!r)
            return -1;
        bool trig = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
        bool fn = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        PQclear(r);
        if (trig != fn) {
            fprintf(stderr, "carecommons-gen: %s has %s but not %s\n", t->name,
                    trig ? t->rollup : t->rollup_rebuild, trig ? t->rollup_rebuild : t->rollup);
            return -1;
        }
        /* Without either (a schema before its migration) there is no rollup to keep. */
        if (trig) {
            if (trigger_enabled(g->conn, t, t->rollup, false) < 0)
                return -1;
            snprintf(b->rollup, sizeof(b->rollup), "%s", t->rollup);
        }
        if (trig && t->rollup_add) {
            char sig[160];
            snprintf(sig, sizeof(sig), "%s(uuid, uuid)", t->rollup_add);
            const char *q[] = {sig};
            if (!(r = query_rows(g->conn, "SELECT to_regprocedure($1) IS NOT NULL", 1, q)))
                return -1;
            b->by_chunk = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
            PQclear(r);
        }
    }
    if (t->check) {
        /* A missing one is skipped: before schema 0030 the foreign key that trigger replaced is
         * among the keys. */
        char names[256], *save = NULL;
        snprintf(names, sizeof(names), "%s", t->check);
        for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
            int has = trigger_enabled(g->conn, t, n, true);
            if (has < 0 || b->ncheck == CHECK_MAX)
                return -1;
            if (has)
                snprintf(b->check[b->ncheck++], sizeof(b->check[0]), "%s", n);
        }
    }
    if (!(ix = query_rows(g->conn, sql_indexes, 1, params)) ||
        !(fk = query_rows(g->conn, sql_fkeys, 1, params)))
        goto out;
    if (b->by_chunk && t->rollup_keyed) {
        char names[128], *save = NULL;
        snprintf(names, sizeof(names), "%s", t->rollup_keyed);
        for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
            const char *p[] = {n};
            if (!(rk[nrk] = query_rows(g->conn, sql_rollup_key, 1, p)))
                goto out;
            if (PQntuples(rk[nrk++]) != 1 || nrk == BULK_MAX) {
                fprintf(stderr, "carecommons-gen: rollup %s has no primary key\n", n);
                goto out;
            }
        }
    }
    if (PQntuples(ix) > BULK_MAX || PQntuples(fk) > BULK_MAX) {
        fprintf(stderr, "carecommons-gen: %s has too many indexes or foreign keys\n", t->name);
        goto out;
    }
    /* ALTER TABLE t DISABLE TRIGGER ..., DROP CONSTRAINT ...; DROP INDEX ...; */
    for (int pass = 0; pass < 2; pass++) {
        len = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(alter ? alter + len : NULL, alter ? cap - len : 0, __VA_ARGS__);         \
        len += w_ > 0 ? (size_t)w_ : 0;                                                            \
    } while (0)
        bool clauses = b->feed[0] || b->rollup[0] || b->ncheck || PQntuples(fk);
        if (clauses)
            ADD("ALTER TABLE %s ", t->name);
        const char *sep = "";
        if (b->feed[0]) {
            ADD("DISABLE TRIGGER %s", b->feed);
            sep = ", ";
        }
        if (b->rollup[0]) {
            ADD("%sDISABLE TRIGGER %s", sep, b->rollup);
            sep = ", ";
        }
        for (int i = 0; i < b->ncheck; i++) {
            ADD("%sDISABLE TRIGGER %s", sep, b->check[i]);
            sep = ", ";
        }
        for (int i = 0; i < PQntuples(fk); i++) {
            ADD("%s%s", sep, PQgetvalue(fk, i, 0));
            sep = ", ";
        }
        if (clauses)
            ADD(";");
        for (int i = 0; i < PQntuples(ix); i++)
            ADD(" %s;", PQgetvalue(ix, i, 0));
        for (int i = 0; i < nrk; i++)
            ADD(" %s", PQgetvalue(rk[i], 0, 0));
#undef ADD
        if (pass == 0) {
            cap = len + 1;
            if (!(alter = malloc(cap)))
                goto out;
        }
    }
    for (int i = 0; i < PQntuples(ix); i++)
        if (!(b->index[b->nindex++] = strdup(PQgetvalue(ix, i, 1))))
            goto out;
    for (int i = 0; i < PQntuples(fk); i++)
        if (!(b->fkey[b->nfkey++] = strdup(PQgetvalue(fk, i, 1))))
            goto out;
    for (int i = 0; i < nrk; i++)
        if (!(b->rkey[b->nrkey++] = strdup(PQgetvalue(rk[i], 0, 1))))
            goto out;
    if (exec_ok(g->conn, "BEGIN") < 0)
        goto out;
    if (exec_ok(g->conn, alter) < 0 || exec_ok(g->conn, "COMMIT") < 0) {
        exec_ok(g->conn, "ROLLBACK");
        goto out;
    }
    b->off = true;
    rc = 0;
out:
    PQclear(ix);
    PQclear(fk);
    for (int i = 0; i < nrk; i++)
        PQclear(rk[i]);
    free(alter);
    return rc;
}

static void step_line(const char *what, int n, const char *done, double secs)
{
    char count[32];
    snprintf(count, sizeof(count), "%d %s", n, done);
    printf("  %-22s %12s      %9.1f s\n", what, count, secs);
    fflush(stdout);
}

/* One connection of build_all, taking the next statement until none is left. */
struct builder {
    PGconn *conn;
    char **stmts;
    bool *back;
    int n;
    atomic_int *next;
    pthread_t thread;
};

static void *build_run(void *arg)
{
    struct builder *b = arg;
    for (int i; (i = atomic_fetch_add(b->next, 1)) < b->n;)
        b->back[i] = exec_ok(b->conn, b->stmts[i]) == 0;
    return NULL;
}

/* Runs each of n statements in its own transaction, on the loaders' g->jobs connections at once,
 * marking in back[] the ones that succeeded, and prints one timing line for them. One index build
 * keeps 1.55 of the two cores busy (its leader merges and writes alone): two side by side took
 * 8.6 s against 11.0 s one after the other (symptom_entry at 100k members). Returns 0, or -1 when
 * any failed (the others still run). */
static int build_all(struct gen *g, const char *what, char **stmts, bool *back, int n)
{
    struct builder w[JOBS_MAX];
    atomic_int next = 0;
    double t0 = mono();
    int started = 1, built = 0;

    if (!n)
        return 0;
    for (int k = 0; k < g->jobs; k++)
        w[k] = (struct builder){
            .conn = g->conns[k], .stmts = stmts, .back = back, .n = n, .next = &next};
    /* A thread that cannot start leaves its share to the others. */
    for (; started < g->jobs && started < n; started++)
        if (pthread_create(&w[started].thread, NULL, build_run, &w[started]) != 0)
            break;
    build_run(&w[0]);
    for (int k = 1; k < started; k++)
        pthread_join(w[k].thread, NULL);
    for (int i = 0; i < n; i++)
        built += back[i];
    step_line(what, built, "built", mono() - t0);
    return built == n ? 0 : -1;
}

/* Puts back what bulk_off took off: first the indexes and the rollups' keys (each in its own
 * transaction), then in one transaction a SHARE lock on the table (writers wait until COMMIT), the
 * rollup rebuilt, the foreign keys added (ADD CONSTRAINT checks every row in one query) and the
 * triggers enabled, so no entry can slip in between the rebuild and its trigger. A failed step does
 * not stop the others. Returns 0, or -1 with what is still off in b (bulk_report). */
static int bulk_on(struct gen *g, struct bulk *b)
{
    char sql[640];
    double t0;
    int rc = 0;

    if (!b->off)
        return 0;
    /* The rollups' keys share the pool with the table's indexes: symptom_day's is as big as an
     * index of the entries, symptom_week's and the custom items' index are small. */
    char *all[2 * BULK_MAX];
    bool back[2 * BULK_MAX];
    memcpy(all, b->index, (size_t)b->nindex * sizeof(*all));
    memcpy(all + b->nindex, b->rkey, (size_t)b->nrkey * sizeof(*all));
    if (build_all(g, b->nrkey ? "indexes, rollup keys" : "indexes", all, back,
                  b->nindex + b->nrkey) < 0)
        rc = -1;
    memcpy(b->index_back, back, (size_t)b->nindex * sizeof(*back));
    memcpy(b->rkey_back, back + b->nindex, (size_t)b->nrkey * sizeof(*back));
    if (exec_ok(g->conn, "BEGIN") < 0)
        return -1;
    snprintf(sql, sizeof(sql), "LOCK TABLE %s IN SHARE MODE", b->t->name);
    if (exec_ok(g->conn, sql) < 0)
        goto fail;
    if (b->rollup[0]) {
        t0 = mono();
        bool rebuild = !b->by_chunk;
        if (b->by_chunk) {
            /* The loaders added the rollup chunk by chunk. Totals that differ mean rows the
             * loaders did not write (a writer beside the load, whose rows the disabled trigger
             * missed): recompute from everything, as without 0019. */
            PGresult *r = query_rows(g->conn, b->t->rollup_check, 0, NULL);
            if (!r)
                goto fail;
            rebuild = strcmp(PQgetvalue(r, 0, 0), "t") != 0;
            PQclear(r);
            step_line("rollup totals", 1, rebuild ? "differ" : "match", mono() - t0);
        }
        if (rebuild) {
            t0 = mono();
            snprintf(sql, sizeof(sql), "SELECT %s", b->t->rollup_rebuild);
            if (exec_ok(g->conn, sql) < 0)
                goto fail;
            step_line("rollups", 1, "rebuilt", mono() - t0);
        }
    }
    t0 = mono();
    for (int i = 0; i < b->nfkey; i++)
        if (exec_ok(g->conn, b->fkey[i]) < 0)
            goto fail;
    if (b->nfkey)
        step_line("foreign keys", b->nfkey, "validated", mono() - t0);
    if (b->ncheck) {
        /* What the triggers would have refused (or acted on), over every row at once: like ADD
         * CONSTRAINT, a row they would not have let in fails the load. */
        t0 = mono();
        PGresult *r = query_rows(g->conn, b->t->check_sql, 0, NULL);
        if (!r)
            goto fail;
        bool ok = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
        if (!ok)
            fprintf(stderr, "carecommons-gen: %s: %s rows fail %s\n", b->t->name,
                    PQgetvalue(r, 0, 0), b->t->check);
        PQclear(r);
        if (!ok)
            goto fail;
        step_line("check", 1, "validated", mono() - t0);
    }
    const char *on[2 + CHECK_MAX] = {b->feed, b->rollup};
    for (int i = 0; i < b->ncheck; i++)
        on[2 + i] = b->check[i];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "ALTER TABLE %s", b->t->name);
    bool any = false;
    for (int i = 0; i < 2 + b->ncheck; i++) {
        if (!on[i][0] || len >= sizeof(sql))
            continue;
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s ENABLE TRIGGER %s",
                                any ? "," : "", on[i]);
        any = true;
    }
    if (any && exec_ok(g->conn, sql) < 0)
        goto fail;
    if (exec_ok(g->conn, "COMMIT") < 0)
        return -1; /* a failed COMMIT has rolled back */
    b->tail_back = true;
    return rc;
fail:
    exec_ok(g->conn, "ROLLBACK");
    return -1;
}

/* After a failed bulk_on: what is still off, loudly. */
static void bulk_report(const struct bulk *b)
{
    fprintf(stderr,
            "carecommons-gen: COULD NOT PUT BACK what the loader took off %s; the database is NOT "
            "as migrated. Still to run, as the schema owner:\n",
            b->t->name);
    for (int i = 0; i < b->nindex; i++)
        if (!b->index_back[i])
            fprintf(stderr, "  %s;\n", b->index[i]);
    for (int i = 0; i < b->nrkey; i++)
        if (!b->rkey_back[i])
            fprintf(stderr, "  %s;\n", b->rkey[i]);
    if (b->tail_back)
        return;
    fprintf(stderr, "  BEGIN;\n");
    if (b->rollup[0])
        fprintf(stderr, "  LOCK TABLE %s IN SHARE MODE;\n  SELECT %s;\n", b->t->name,
                b->t->rollup_rebuild);
    for (int i = 0; i < b->nfkey; i++)
        fprintf(stderr, "  %s;\n", b->fkey[i]);
    if (b->feed[0])
        fprintf(stderr, "  ALTER TABLE %s ENABLE TRIGGER %s;\n", b->t->name, b->feed);
    if (b->rollup[0])
        fprintf(stderr, "  ALTER TABLE %s ENABLE TRIGGER %s;\n", b->t->name, b->rollup);
    if (b->ncheck)
        fprintf(stderr, "  %s; -- must be 0\n", b->t->check_sql);
    for (int i = 0; i < b->ncheck; i++)
        fprintf(stderr, "  ALTER TABLE %s ENABLE TRIGGER %s;\n", b->t->name, b->check[i]);
    fprintf(stderr, "  COMMIT;\n");
}

static void bulk_free(struct bulk *b)
{
    for (int i = 0; i < b->nindex; i++)
        free(b->index[i]);
    for (int i = 0; i < b->nfkey; i++)
        free(b->fkey[i]);
    for (int i = 0; i < b->nrkey; i++)
        free(b->rkey[i]);
    b->nindex = b->nfkey = b->nrkey = 0;
}

/* ---- times ---- */

static int64_t day_start(const struct gen *g, int32_t d)
{
    return (g->day0 + d) * 86400;
}

/* When the member joined: a fixed hour of their first day. */
static int64_t joined_at(const struct gen *g, const struct gen_member *m)
{
    return day_start(g, m->join) + 9 * 3600 + (int64_t)(m->idx % 3600);
}

/* ---- rows ---- */

static void token_of(const struct gen *g, uint32_t idx, char out[64])
{
    snprintf(out, 64, "ccbench-token-%" PRIu64 "-%08u", g->seed, idx);
}

static int rows_staff_accounts(struct gen *g, struct copy *c, const struct gen_member *unused)
{
    char email[96], name[64];
    uint8_t id[16];
    for (int i = 0; i < STAFF_N; i++) {
        if (cp_row(c) < 0)
            return -1;
        gen_uuid(g->seed, GEN_ID_STAFF, (uint32_t)i, 0, 0, id);
        snprintf(email, sizeof(email), "%s@bench.carecommons.example", staff_roles[i]);
        snprintf(name, sizeof(name), "Bench %s", staff_roles[i]);
        cp_uuid(c, id);
        cp_str(c, email);
        cp_str(c, name);
        cp_str(c, staff_roles[i]);
        cp_str(c, g->password_hash);
        cp_ts(c, day_start(g, 0) - 86400 * 30);
        cp_ts(c, day_start(g, 0) - 86400 * 30);
        cp_end(c);
    }
    return 0;
}

static int rows_account(struct gen *g, struct copy *c, const struct gen_member *m)
{
    char email[96], name[32];
    if (cp_row(c) < 0)
        return -1;
    snprintf(email, sizeof(email), "member%08u@bench.carecommons.example", m->idx);
    snprintf(name, sizeof(name), "Member %u", m->idx);
    cp_uuid(c, m->id);
    cp_str(c, email);
    cp_str(c, name);
    cp_str(c, "member");
    cp_str(c, g->password_hash);
    cp_ts(c, joined_at(g, m));
    cp_ts(c, joined_at(g, m));
    cp_end(c);
    return 0;
}

static void session_row(struct gen *g, struct copy *c, const uint8_t id[16], const char *token)
{
    char hash[65];
    svc_sha256_hex(token, strlen(token), hash);
    cp_str(c, hash);
    cp_uuid(c, id);
    cp_ts(c, g->now);
    cp_ts(c, g->now + 30 * 86400);
    cp_null(c);
    cp_end(c);
}

static int rows_staff_sessions(struct gen *g, struct copy *c, const struct gen_member *unused)
{
    char token[64];
    uint8_t id[16];
    for (int i = 0; i < STAFF_N; i++) {
        if (cp_row(c) < 0)
            return -1;
        gen_uuid(g->seed, GEN_ID_STAFF, (uint32_t)i, 0, 0, id);
        snprintf(token, sizeof(token), "ccbench-token-%" PRIu64 "-%s", g->seed, staff_roles[i]);
        session_row(g, c, id, token);
    }
    return 0;
}

static int rows_session(struct gen *g, struct copy *c, const struct gen_member *m)
{
    char token[64];
    if (m->idx < 1 || m->idx > g->nsessions)
        return 0;
    if (cp_row(c) < 0)
        return -1;
    token_of(g, m->idx, token);
    session_row(g, c, m->id, token);
    return 0;
}

static int rows_profile(struct gen *g, struct copy *c, const struct gen_member *m)
{
    static const char *const genders[] = {"woman", "man", "non-binary"};
    const struct gen_country *ct = gen_country(m->country);
    const char *postal = gen_postal(m->country, m->postal);
    if (cp_row(c) < 0)
        return -1;
    cp_uuid(c, m->id);
    cp_int(c, m->birth_year);
    cp_str(c, gen_sexes[m->sex]);
    /* About a third say how they describe their gender. */
    if (m->idx % 3 == 0)
        cp_str(c, genders[m->sex < 2 ? m->sex : 2]);
    else
        cp_null(c);
    cp_str(c, ct->code);
    if (postal)
        cp_str(c, postal);
    else
        cp_null(c);
    cp_str(c, ct->timezone);
    cp_ts(c, joined_at(g, m) + 120);
    cp_ts(c, joined_at(g, m) + 120);
    cp_end(c);
    return 0;
}

static int custom_slot(const struct gen_member *m)
{
    for (int s = 0; s < m->nsyms; s++)
        if (m->sym[s].def == GEN_CUSTOM_SYMPTOM)
            return s;
    return -1;
}

static int rows_custom(struct gen *g, struct copy *c, const struct gen_member *m)
{
    static const char *const names[] = {"Brain fog", "Jaw clicking", "Heavy legs", "Pins in feet",
                                        "Morning stiffness in hands"};
    int s = custom_slot(m);
    uint8_t id[16];
    if (s < 0)
        return 0;
    if (cp_row(c) < 0)
        return -1;
    gen_uuid(g->seed, GEN_ID_CUSTOM, m->idx, (uint32_t)s, 0, id);
    cp_uuid(c, m->id);
    cp_uuid(c, id);
    cp_str(c, "symptom");
    cp_str(c, names[m->idx % (sizeof(names) / sizeof(names[0]))]);
    cp_ts(c, joined_at(g, m) + 600);
    cp_ts(c, joined_at(g, m) + 600);
    cp_end(c);
    return 0;
}

static int rows_condition(struct gen *g, struct copy *c, const struct gen_member *m)
{
    static const char *const statuses[] = {"active", "remission", "resolved"};
    uint8_t id[16];
    for (int k = 0; k < m->nconds; k++) {
        int y, mo, d;
        char on[11];
        if (cp_row(c) < 0)
            return -1;
        civil(g->day0 + m->diag_day[k], &y, &mo, &d);
        /* diagnosed_date is the first day of what the member gave (schema CHECK). */
        if (m->diag_prec[k] == 0) {
            snprintf(on, sizeof(on), "%04d", y);
            mo = d = 1;
        } else if (m->diag_prec[k] == 1) {
            snprintf(on, sizeof(on), "%04d-%02d", y, mo);
            d = 1;
        } else {
            snprintf(on, sizeof(on), "%04d-%02d-%02d", y, mo, d);
        }
        gen_uuid(g->seed, GEN_ID_CONDITION, m->idx, (uint32_t)k, 0, id);
        cp_uuid(c, m->id);
        cp_uuid(c, id);
        cp_str(c, gen_condition_ids[m->cond[k]]);
        cp_null(c);
        cp_str(c, on);
        cp_date(c, days_from_civil(y, mo, d));
        cp_str(c, statuses[m->cond_status[k]]);
        cp_null(c);
        cp_ts(c, joined_at(g, m) + 300 + k);
        cp_ts(c, joined_at(g, m) + 300 + k);
        cp_end(c);
    }
    return 0;
}

/* When a medication row was written: at joining, or on its start day for a new one. */
static int64_t med_written(const struct gen *g, const struct gen_member *m, int k)
{
    const struct gen_med *md = &m->med[k];
    return md->fresh && md->start > m->join ? day_start(g, md->start) + 8 * 3600
                                            : joined_at(g, m) + 400 + k;
}

static int rows_medication(struct gen *g, struct copy *c, const struct gen_member *m)
{
    uint8_t id[16], cond[16];
    for (int k = 0; k < m->nmeds; k++) {
        const struct gen_med *md = &m->med[k];
        const struct gen_med_info *mi = gen_med_info(md->def);
        int64_t written = med_written(g, m, k);
        if (cp_row(c) < 0)
            return -1;
        gen_uuid(g->seed, GEN_ID_MEDICATION, m->idx, (uint32_t)k, 0, id);
        gen_uuid(g->seed, GEN_ID_CONDITION, m->idx, (uint32_t)md->cond, 0, cond);
        cp_uuid(c, m->id);
        cp_uuid(c, id);
        cp_str(c, mi->id);
        cp_null(c);
        cp_str(c, mi->amount);
        cp_str(c, mi->unit);
        cp_str(c, mi->freq_kind);
        if (mi->freq_value)
            cp_int(c, mi->freq_value);
        else
            cp_null(c);
        cp_date(c, g->day0 + md->start);
        if (md->stop != GEN_NO_STOP) {
            cp_date(c, g->day0 + md->stop);
            cp_str(c, gen_stop_reasons[md->stop_reason]);
        } else {
            cp_null(c);
            cp_null(c);
        }
        cp_uuid(c, cond);
        cp_null(c);
        cp_ts(c, written);
        cp_ts(c, md->stop != GEN_NO_STOP ? day_start(g, md->stop) + 20 * 3600 : written);
        cp_end(c);
    }
    return 0;
}

static void dose_row(struct gen *g, struct copy *c, const struct gen_member *m, const uint8_t *med,
                     uint32_t n, int64_t scheduled, bool has_schedule)
{
    uint8_t id[16];
    const char *status, *reason = NULL;
    int64_t taken = 0;
    double u = gsl_rng_uniform(g->rng);

    /* Without a schedule (as needed) the member records only what they took. */
    if (u < m->adherence || !has_schedule) {
        bool late = gsl_rng_uniform(g->rng) < 0.1;
        status = late ? "late" : "taken";
        taken = scheduled + (late ? 7200 + (int64_t)gsl_rng_uniform_int(g->rng, 10800)
                                  : (int64_t)gsl_rng_uniform_int(g->rng, 1800));
    } else if (gsl_rng_uniform(g->rng) < 0.6) {
        status = "missed";
    } else {
        static const char *const reasons[] = {"felt unwell", "ran out", "away from home"};
        status = "skipped";
        reason = reasons[gsl_rng_uniform_int(g->rng, 3)];
    }
    gen_uuid(g->seed, GEN_ID_DOSE, m->idx, n, 0, id);
    cp_uuid(c, m->id);
    cp_uuid(c, id);
    cp_uuid(c, med);
    if (has_schedule)
        cp_ts(c, scheduled);
    else
        cp_null(c);
    if (taken)
        cp_ts(c, taken);
    else
        cp_null(c);
    cp_str(c, status);
    if (reason)
        cp_str(c, reason);
    else
        cp_null(c);
    cp_ts(c, (taken ? taken : scheduled) + 600);
    cp_ts(c, (taken ? taken : scheduled) + 600);
    cp_end(c);
}

static int rows_dose(struct gen *g, struct copy *c, const struct gen_member *m)
{
    uint32_t n = 0;
    if (!m->tracks_doses)
        return 0;
    gen_rng_seed(g->rng, g->seed, m->idx, GEN_S_DOSES);
    int32_t first = g->days - GEN_DOSE_DAYS > m->join ? g->days - GEN_DOSE_DAYS : m->join;
    for (int k = 0; k < m->nmeds; k++) {
        const struct gen_med_info *mi = gen_med_info(m->med[k].def);
        uint8_t med[16];
        gen_uuid(g->seed, GEN_ID_MEDICATION, m->idx, (uint32_t)k, 0, med);
        for (int32_t d = first; d < g->days; d++) {
            if (!gen_med_active(m, k, d))
                continue;
            int64_t t = day_start(g, d);
            if (mi->freq_kind[0] == 't') {
                /* 08:00, then spread over the waking day. */
                for (int i = 0; i < mi->freq_value; i++) {
                    if (cp_row(c) < 0)
                        return -1;
                    int64_t at = t + 8 * 3600 + (int64_t)i * (12 * 3600 / mi->freq_value);
                    dose_row(g, c, m, med, n++, at, true);
                }
            } else if (mi->freq_kind[0] == 'e') {
                if ((d - m->med[k].start) % mi->freq_value != 0)
                    continue;
                if (cp_row(c) < 0)
                    return -1;
                dose_row(g, c, m, med, n++, t + 9 * 3600, true);
            } else if (gsl_rng_uniform(g->rng) < 0.15) {
                if (cp_row(c) < 0)
                    return -1;
                dose_row(g, c, m, med, n++, t + 10 * 3600 + (int64_t)(m->idx % 28800), false);
            }
        }
    }
    return 0;
}

/* Evaluation days of medication k: two weeks and six weeks after a new start (and the stop day),
 * or one day in the history for a background medication. Returns how many (<= 3). */
static int eval_days(const struct gen *g, const struct gen_member *m, int k, int32_t out[3])
{
    const struct gen_med *md = &m->med[k];
    int n = 0;
    if (!md->evaluated)
        return 0;
    if (!md->fresh) {
        int32_t d = m->join + (int32_t)(m->idx % (uint32_t)(g->days - m->join));
        out[n++] = d;
        return n;
    }
    for (int i = 0; i < 2; i++) {
        int32_t d = md->start + (i ? 42 : 14);
        if (d < g->days && (md->stop == GEN_NO_STOP || d < md->stop))
            out[n++] = d;
    }
    if (md->stop != GEN_NO_STOP && md->stop < g->days)
        out[n++] = md->stop;
    return n;
}

static bool side_effect_on(const struct gen_member *m, int k, int32_t d)
{
    int s = m->med[k].side;
    return s >= 0 && d >= m->sym[s].start;
}

static int eval_rows(struct gen *g, struct copy *c, const struct gen_member *m, bool side_table)
{
    static const char *const eff[] = {"none", "slight", "moderate", "major", "cant_tell"};
    static const char *const adh[] = {"always", "usually", "sometimes", "never"};
    static const char *const sev[] = {"mild", "moderate", "severe"};
    gen_rng_seed(g->rng, g->seed, m->idx, GEN_S_EVALUATIONS);
    for (int k = 0; k < m->nmeds; k++) {
        int32_t days[3];
        int n = eval_days(g, m, k, days);
        uint8_t med[16], id[16];
        gen_uuid(g->seed, GEN_ID_MEDICATION, m->idx, (uint32_t)k, 0, med);
        for (int j = 0; j < n; j++) {
            /* Draw the same numbers in both passes so both tables agree. */
            int e = gen_rate_effect(m, k, g->rng);
            bool side = side_effect_on(m, k, days[j]);
            int64_t at = day_start(g, days[j]) + 20 * 3600 + (int64_t)(m->idx % 3600);
            gen_uuid(g->seed, GEN_ID_EVALUATION, m->idx, (uint32_t)k, (uint32_t)j, id);
            if (cp_row(c) < 0)
                return -1;
            if (!side_table) {
                cp_uuid(c, m->id);
                cp_uuid(c, id);
                cp_uuid(c, med);
                cp_date(c, g->day0 + days[j]);
                cp_str(c, eff[e]);
                cp_str(c, adh[gen_rate_adherence(m)]);
                cp_str(c, side ? (m->sym[m->med[k].side].base >= 5 ? "major" : "moderate")
                               : (e >= 2 ? "none" : "slight"));
                cp_null(c);
                cp_ts(c, at);
                cp_ts(c, at);
                cp_end(c);
            } else if (side) {
                const struct gen_sym *sy = &m->sym[m->med[k].side];
                cp_uuid(c, m->id);
                cp_uuid(c, id);
                cp_int(c, 0);
                cp_str(c, gen_symptom_ids[sy->def]);
                cp_null(c);
                cp_str(c, sev[sy->base < 3.5f ? 0 : sy->base < 6.0f ? 1 : 2]);
                cp_ts(c, at);
                cp_ts(c, at);
                cp_end(c);
            }
        }
    }
    return 0;
}

static int rows_evaluation(struct gen *g, struct copy *c, const struct gen_member *m)
{
    return eval_rows(g, c, m, false);
}

static int rows_side_effect(struct gen *g, struct copy *c, const struct gen_member *m)
{
    return eval_rows(g, c, m, true);
}

static bool goal_symptom(const struct gen_member *m)
{
    return m->goal == 0 && m->nsyms > 0 && m->sym[0].def != GEN_CUSTOM_SYMPTOM;
}

static int rows_goal(struct gen *g, struct copy *c, const struct gen_member *m)
{
    static const char *const statuses[] = {"active", "achieved", "abandoned"};
    char title[128];
    uint8_t id[16], med[16];
    if (!goal_symptom(m) && m->goal != 1)
        return 0;
    if (cp_row(c) < 0)
        return -1;
    gen_uuid(g->seed, GEN_ID_GOAL, m->idx, 0, 0, id);
    cp_uuid(c, m->id);
    cp_uuid(c, id);
    if (m->goal == 0) {
        snprintf(title, sizeof(title), "Bring %s down to 3", gen_symptom_ids[m->sym[0].def]);
        cp_str(c, title);
        cp_str(c, "symptom_target");
        cp_str(c, gen_symptom_ids[m->sym[0].def]);
        cp_null(c);
        cp_int(c, 3);
        cp_str(c, "decrease");
    } else {
        gen_uuid(g->seed, GEN_ID_MEDICATION, m->idx, 0, 0, med);
        snprintf(title, sizeof(title), "Take %s every day", gen_med_info(m->med[0].def)->id);
        cp_str(c, title);
        cp_str(c, "adherence");
        cp_null(c);
        cp_uuid(c, med);
        cp_int(c, 90);
        cp_str(c, "increase");
    }
    cp_date(c, g->day0 + g->days + 90);
    cp_str(c, statuses[m->goal_status]);
    cp_ts(c, joined_at(g, m) + 900);
    cp_ts(c, joined_at(g, m) + 900);
    cp_end(c);
    return 0;
}

static int rows_progress(struct gen *g, struct copy *c, const struct gen_member *m)
{
    uint8_t id[16], goal[16];
    char value[16];
    if (!goal_symptom(m) && m->goal != 1)
        return 0;
    gen_rng_seed(g->rng, g->seed, m->idx, GEN_S_GOALS);
    gen_uuid(g->seed, GEN_ID_GOAL, m->idx, 0, 0, goal);
    /* Weekly; an abandoned goal stops getting progress two thirds of the way through. */
    int32_t end = m->goal_status == 2 ? m->join + (g->days - m->join) * 2 / 3 : g->days;
    uint32_t n = 0;
    for (int32_t d = m->join + 7; d < end; d += 7) {
        double v;
        if (m->goal == 0) {
            v = m->sym[0].base + gsl_ran_gaussian(g->rng, 0.8);
            for (int k = 0; k < m->nmeds; k++)
                v -= gen_med_effect(m, k, 0, d);
            v = v < 0 ? 0 : v > 10 ? 10 : v;
        } else {
            v = 100.0 * m->adherence + gsl_ran_gaussian(g->rng, 5.0);
            v = v < 0 ? 0 : v > 100 ? 100 : v;
        }
        snprintf(value, sizeof(value), "%.1f", v);
        if (cp_row(c) < 0)
            return -1;
        gen_uuid(g->seed, GEN_ID_PROGRESS, m->idx, n++, 0, id);
        int64_t at = day_start(g, d) + 19 * 3600;
        cp_uuid(c, m->id);
        cp_uuid(c, id);
        cp_uuid(c, goal);
        cp_str(c, value);
        cp_ts(c, at);
        cp_null(c);
        cp_ts(c, at);
        cp_ts(c, at);
        cp_end(c);
    }
    return 0;
}

/* "{a,b}" of the member's condition ids for a disease-specific grant. */
static void conditions_text(const struct gen_member *m, bool specific, char *out, size_t len)
{
    size_t used = 0;
    out[used++] = '{';
    for (int k = 0; specific && k < m->nconds; k++) {
        int w =
            snprintf(out + used, len - used, "%s%s", k ? "," : "", gen_condition_ids[m->cond[k]]);
        if (w < 0 || (size_t)w >= len - used - 2)
            break;
        used += (size_t)w;
    }
    out[used++] = '}';
    out[used] = '\0';
}

static int64_t grant_time(const struct gen *g, const struct gen_member *m, int32_t d)
{
    return day_start(g, d) + 10 * 3600 + (int64_t)(m->idx % 3600);
}

static int rows_grant(struct gen *g, struct copy *c, const struct gen_member *m)
{
    char conds[512];
    uint8_t id[16];
    for (int i = 0; i < m->ngrants; i++) {
        const struct gen_grant *gr = &m->grant[i];
        gen_uuid(g->seed, GEN_ID_GRANT, m->idx, (uint32_t)i, 0, id);
        conditions_text(m, gr->disease_specific, conds, sizeof(conds));
        for (int v = 1; v <= gr->versions; v++) {
            bool last = v == gr->versions;
            int64_t from = grant_time(g, m, v == 1 ? gr->day : gr->changed_day);
            if (cp_row(c) < 0)
                return -1;
            cp_uuid(c, m->id);
            cp_uuid(c, id);
            cp_int(c, v);
            cp_str(c, gr->deny ? "deny" : "permit");
            cp_str(c, gen_purposes[gr->purpose]);
            cp_int(c, last ? gr->categories : gr->categories_v1);
            cp_str(c, conds);
            cp_bool(c, gr->non_commercial);
            cp_bool(c, gr->not_for_profit_only);
            cp_ts(c, from);
            if (gr->limited)
                cp_ts(c, from + 730 * 86400);
            else
                cp_null(c);
            cp_str(c, !last ? "superseded" : gr->withdrawn ? "withdrawn" : "active");
            cp_int(c, 1);
            cp_ts(c, from);
            if (last && gr->withdrawn)
                cp_ts(c, grant_time(g, m, gr->withdrawn_day));
            else
                cp_null(c);
            cp_end(c);
        }
    }
    return 0;
}

static int rows_event(struct gen *g, struct copy *c, const struct gen_member *m)
{
    uint8_t id[16];
    for (int i = 0; i < m->ngrants; i++) {
        const struct gen_grant *gr = &m->grant[i];
        gen_uuid(g->seed, GEN_ID_GRANT, m->idx, (uint32_t)i, 0, id);
        for (int v = 1; v <= gr->versions + (gr->withdrawn ? 1 : 0); v++) {
            bool withdrawal = v > gr->versions;
            int32_t d = withdrawal ? gr->withdrawn_day : v == 1 ? gr->day : gr->changed_day;
            if (cp_row(c) < 0)
                return -1;
            cp_uuid(c, m->id);
            cp_uuid(c, id);
            cp_int(c, withdrawal ? gr->versions : v);
            cp_str(c, withdrawal ? "withdrawn" : v == 1 ? "granted" : "changed");
            cp_ts(c, grant_time(g, m, d));
            cp_null(c);
            cp_null(c);
            cp_end(c);
        }
    }
    return 0;
}

struct sym_ctx {
    struct gen *g;
    struct copy *c;
    uint8_t custom[16];
};

static int emit_symptom(void *ctx, const struct gen_member *m, int32_t day, int slot, int severity,
                        int second)
{
    static const char *const triggers[][2] = {
        {"stress"}, {"poor sleep"}, {"weather", "stress"}, {"exercise"}};
    struct sym_ctx *x = ctx;
    struct copy *c = x->c;
    const struct gen_sym *sy = &m->sym[slot];
    uint8_t id[16];
    if (cp_row(c) < 0)
        return -1;
    gen_uuid(x->g->seed, GEN_ID_ENTRY, m->idx, (uint32_t)day, (uint32_t)slot, id);
    int64_t at = day_start(x->g, day) + second;
    if (c->roll && sy->def != GEN_CUSTOM_SYMPTOM &&
        roll_push(&c->roll->one, &c->roll->none, &c->roll->cone,
                  (struct roll_row){.member = (uint32_t)(m - x->g->members),
                                    .day = (int32_t)(at / 86400), /* the UTC date */
                                    .sym = x->g->sym_code[sy->def],
                                    .n = 1,
                                    .s = severity}) < 0)
        return -1;
    cp_uuid(c, m->id);
    cp_uuid(c, id);
    if (sy->def == GEN_CUSTOM_SYMPTOM) {
        cp_null(c);
        cp_uuid(c, x->custom);
    } else {
        cp_str(c, gen_symptom_ids[sy->def]);
        cp_null(c);
    }
    cp_intw(c, severity, 2);
    cp_ts(c, at);
    /* The id's random bytes decide the optional fields: cheap and reproducible. */
    if (id[1] < 26)
        cp_intw(c, 15 + id[2] % 240, 4);
    else
        cp_null(c);
    if (id[3] < 13)
        cp_text_array(c, triggers[id[4] % 4], triggers[id[4] % 4][1] ? 2 : 1);
    else
        cp_null(c);
    cp_null(c);
    cp_ts(c, at + 30 + id[5]);
    cp_ts(c, at + 30 + id[5]);
    cp_end(c);
    return 0;
}

static int rows_symptom(struct gen *g, struct copy *c, const struct gen_member *m)
{
    struct sym_ctx x = {.g = g, .c = c};
    int s = custom_slot(m);
    if (s >= 0)
        gen_uuid(g->seed, GEN_ID_CUSTOM, m->idx, (uint32_t)s, 0, x.custom);
    if (gen_symptoms(m, g->seed, g->days, g->rng, emit_symptom, &x) < 0)
        return -1;
    return c->roll ? roll_member(c->roll) : 0;
}

static const struct table tables[] = {
    {.name = "account",
     .columns = "id, email, display_name, role, password_hash, created_at, updated_at",
     .rows = rows_account,
     .staff = rows_staff_accounts,
     .bulk = true},
    {.name = "session",
     .columns = "token_hash, account_id, created_at, expires_at, revoked_at",
     .rows = rows_session,
     .staff = rows_staff_sessions},
    {.name = "member_profile",
     .columns = "member_id, birth_year, sex_at_birth, gender, country, postal_prefix, timezone, "
                "created_at, updated_at",
     .trigger = "member_profile_log",
     .rows = rows_profile,
     .bulk = true},
    {.name = "custom_item",
     .columns = "member_id, id, kind, name, created_at, updated_at",
     .rows = rows_custom,
     .bulk = true},
    {.name = "member_condition",
     .columns = "member_id, id, condition_id, custom_id, diagnosed_on, diagnosed_date, status, "
                "note, created_at, updated_at",
     .trigger = "member_condition_log",
     .rows = rows_condition,
     .bulk = true},
    /* Each statement's first-start refresh (0032) cost more as the table grew: once at the end
     * instead (0037). */
    {.name = "medication",
     .columns = "member_id, id, medication_id, custom_id, dose_amount, dose_unit, freq_kind, "
                "freq_value, started_on, stopped_on, stop_reason, for_condition, note, "
                "created_at, updated_at",
     .trigger = "medication_log",
     .rows = rows_medication,
     .bulk = true,
     .rollup = "medication_first_insert",
     .rollup_rebuild = "medication_first_rebuild()",
     .rollup_tables = "medication_first"},
    {.name = "medication_dose",
     .columns = "member_id, id, medication_ref, scheduled_at, taken_at, status, reason, "
                "created_at, updated_at",
     .trigger = "medication_dose_log",
     .rows = rows_dose,
     .bulk = true,
     .binary = true},
    {.name = "medication_evaluation",
     .columns = "member_id, id, medication_ref, evaluated_on, effectiveness, adherence, burden, "
                "note, created_at, updated_at",
     .trigger = "medication_evaluation_log",
     .rows = rows_evaluation,
     .bulk = true},
    {.name = "evaluation_side_effect",
     .columns = "member_id, evaluation_ref, ordinal, symptom_id, custom_id, severity, created_at, "
                "updated_at",
     .trigger = "evaluation_side_effect_log",
     .rows = rows_side_effect,
     .bulk = true},
    {.name = "goal",
     .columns = "member_id, id, title, kind, symptom_id, medication_ref, target_value, direction, "
                "due_on, status, created_at, updated_at",
     .trigger = "goal_log",
     .rows = rows_goal,
     .bulk = true},
    {.name = "goal_progress",
     .columns = "member_id, id, goal_ref, value, recorded_at, note, created_at, updated_at",
     .trigger = "goal_progress_log",
     .rows = rows_progress,
     .bulk = true},
    {.name = "consent_grant",
     .columns = "member_id, id, version, effect, purpose, categories, conditions, non_commercial, "
                "not_for_profit_only, valid_from, valid_until, status, policy_version, "
                "created_at, withdrawn_at",
     .rows = rows_grant,
     .bulk = true,
     .rollup = "consent_member_insert",
     .rollup_rebuild = "consent_member_rebuild()",
     .rollup_add = "consent_member_add_members",
     .rollup_check = "SELECT (SELECT count(*) FROM consent_member) = (SELECT count(*) FROM "
                     "(SELECT DISTINCT member_id, purpose FROM consent_grant WHERE status = "
                     "'active') x)",
     /* Per row: the 1024-grant limit (0004) and the invitations' re-check (0009), which has
      * nothing to act on in a fresh database. */
     .check = "consent_grant_limit trial_consent_changed",
     .check_sql = "SELECT (SELECT count(*) FROM (SELECT member_id FROM consent_grant WHERE "
                  "status = 'active' GROUP BY member_id HAVING count(*) > 1024) x) + (SELECT "
                  "count(*) FROM trial_invitation WHERE status = 'pending')",
     .rollup_tables = "consent_member"},
    {.name = "consent_event",
     .columns = "member_id, grant_id, version, event, at, receipt_id, receipt",
     .rows = rows_event,
     .bulk = true},
    {.name = "symptom_entry",
     .columns = "member_id, id, symptom_id, custom_id, severity, recorded_at, duration_minutes, "
                "triggers, note, created_at, updated_at",
     .trigger = "symptom_entry_log",
     .rows = rows_symptom,
     .bulk = true,
     .rollup = "symptom_entry_rollup_insert",
     .rollup_rebuild = "symptom_rollup_rebuild()",
     .rollup_add = "symptom_rollup_add_members",
     .rollup_check = "SELECT (SELECT count(*) FROM symptom_entry WHERE symptom_id IS NOT NULL) = "
                     "(SELECT coalesce(sum(n), 0) FROM symptom_week)",
     .check = "symptom_entry_catalog_insert",
     /* Since 0036 the same trigger checks each entry's account too. */
     .check_sql = "SELECT (SELECT count(*) FROM symptom_entry n WHERE n.symptom_id IS NOT NULL "
                  "AND NOT EXISTS (SELECT 1 FROM catalog_symptom c WHERE c.id = n.symptom_id)) "
                  "+ (SELECT count(*) FROM symptom_entry n WHERE NOT EXISTS (SELECT 1 FROM "
                  "account a WHERE a.id = n.member_id))",
     .rollup_keyed = "symptom_day symptom_week",
     .binary = true,
     .rollup_tables = "symptom_day, symptom_week",
     .rollup_local = true},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* The member facts (schema 0022) are kept by statement triggers that recompute each member a
 * statement touched: per chunk of profiles, conditions or consent summaries, 0.3-0.5 s at 10k
 * members, against 18 s for rebuilding every member of a 1M load at the end. So the loader turns
 * those triggers off (facts_toggle) and rebuilds afterwards (facts_on, also after a failed load,
 * so the schema is left whole). Both return 0 (also when the schema has no facts), or -1. */
static int facts_toggle(PGconn *conn, bool on)
{
    PGresult *r = query_rows(conn,
                             "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                             "WHERE tgname LIKE 'member\\_facts\\_%' AND NOT tgisinternal "
                             "ORDER BY 1, 2",
                             0, NULL);
    char sql[512];
    int rc = r ? 0 : -1;
    for (int i = 0; r && i < PQntuples(r) && rc == 0; i++) {
        snprintf(sql, sizeof(sql), "ALTER TABLE %s %s TRIGGER %s", PQgetvalue(r, i, 0),
                 on ? "ENABLE" : "DISABLE", PQgetvalue(r, i, 1));
        rc = exec_ok(conn, sql);
    }
    PQclear(r);
    return rc;
}

/* The facts tables, whose secondary indexes (GIN with fastupdate off, at about 80 us a row) and
 * foreign keys come off for the rebuild and are built once afterwards: 10.9 s against 3.2 s at
 * 100k members. */
static const struct table facts_tables[] = {{.name = "member_facts"},
                                            {.name = "member_condition_facts"}};
#define NFACTS (sizeof(facts_tables) / sizeof(facts_tables[0]))

static int facts_on(struct gen *g)
{
    PGconn *conn = g->conn;
    struct bulk b[NFACTS];
    size_t off = 0;
    int rc = -1;
    double t0 = mono();
    PGresult *r =
        query_rows(conn, "SELECT to_regprocedure('member_facts_rebuild()') IS NOT NULL", 0, NULL);
    bool has = r && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!r)
        return -1;
    if (!has)
        return 0;
    r = NULL;
    for (; off < NFACTS; off++)
        if (bulk_off(g, &b[off], &facts_tables[off]) < 0) {
            bulk_free(&b[off]);
            goto out;
        }
    /* The rebuild and the triggers together: no write can slip in between. What bulk_off took
     * off comes back afterwards; ADD CONSTRAINT and CREATE INDEX cover rows written meanwhile. */
    if (exec_ok(conn, "BEGIN") < 0 ||
        !(r = query_rows(conn, "SELECT member_facts_rebuild()", 0, NULL)) ||
        facts_toggle(conn, true) < 0 || exec_ok(conn, "COMMIT") < 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        fprintf(stderr, "carecommons-gen: member facts not rebuilt; repair with:\n"
                        "  SELECT member_facts_rebuild(); and ALTER TABLE ... ENABLE TRIGGER "
                        "member_facts_...;\n");
        goto out;
    }
    step_line("member facts", 1, "built", mono() - t0);
    rc = 0;
out:
    PQclear(r);
    /* Also after a failed rebuild: the schema must stay. */
    for (size_t i = 0; i < off; i++) {
        if (bulk_on(g, &b[i]) < 0) {
            bulk_report(&b[i]);
            rc = -1;
        }
        bulk_free(&b[i]);
    }
    if (rc == 0 && exec_ok(conn, "ANALYZE member_facts, member_condition_facts") < 0)
        rc = -1;
    return rc;
}

/* ---- main ---- */

static int by_id(const void *a, const void *b)
{
    return memcmp(((const struct gen_member *)a)->id, ((const struct gen_member *)b)->id, 16);
}

static int write_tokens(const struct gen *g, const char *path)
{
    char token[64], staff[1024];
    FILE *f = fopen(path, "w");
    int rc = -1;
    if (!f)
        goto out;
    for (uint32_t i = 1; i <= g->nsessions; i++) {
        token_of(g, i, token);
        if (fprintf(f, "%s\n", token) < 0)
            goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    snprintf(staff, sizeof(staff), "%s.staff", path);
    if (!(f = fopen(staff, "w")))
        goto out;
    for (int i = 0; i < STAFF_N; i++)
        if (fprintf(f, "%s ccbench-token-%" PRIu64 "-%s\n", staff_roles[i], g->seed,
                    staff_roles[i]) < 0)
            goto out;
    rc = fclose(f) == 0 ? 0 : -1;
    f = NULL;
out:
    if (f)
        fclose(f);
    if (rc < 0)
        fprintf(stderr, "carecommons-gen: cannot write %s: %s\n", path, strerror(errno));
    return rc;
}

/* g->sym_code: each generated symptom's code in the catalog (0034), as the rollups key them. The
 * array is new (main frees it). Returns 0, or -1 (reported). */
static int sym_codes(struct gen *g)
{
    PGresult *r = query_rows(g->conn, "SELECT id, code FROM catalog_symptom", 0, NULL);
    int rc = -1;

    if (!r || !(g->sym_code = calloc((size_t)gen_nsymptom_ids, sizeof(*g->sym_code))))
        goto out;
    for (int i = 0; i < gen_nsymptom_ids; i++) {
        int k = 0;
        while (k < PQntuples(r) && strcmp(PQgetvalue(r, k, 0), gen_symptom_ids[i]) != 0)
            k++;
        if (k == PQntuples(r)) {
            fprintf(stderr, "carecommons-gen: catalog_symptom has no %s\n", gen_symptom_ids[i]);
            goto out;
        }
        g->sym_code[i] = (int16_t)atoi(PQgetvalue(r, k, 1));
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

static long parse_long(const char *s, const char *name, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("--%s must be an integer from %ld to %ld", name, lo, hi);
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: carecommons-gen --url URL [--members N (100000)] [--days D (180)]\n"
            "                       [--seed S (20240601)] [--sessions K (min(N, 10000))]\n"
            "                       [--tokens FILE (bench-tokens.txt)] [--jobs J (2)]\n"
            "URL: the schema owner's or a superuser's PostgreSQL URL of an empty CareCommons\n"
            "database (migrations applied, no accounts).\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"members", required_argument, NULL, 'n'},
        {"days", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},
        {"url", required_argument, NULL, 'u'},
        {"sessions", required_argument, NULL, 'k'},
        {"tokens", required_argument, NULL, 't'},
        {"jobs", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct gen g = {.seed = 20240601, .days = 180, .nmembers = 100000, .jobs = 2};
    struct bulk bulk = {0};
    const char *url = NULL, *tokens = "bench-tokens.txt";
    long sessions = -1;
    int o, rc = 1;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'n':
            g.nmembers = (uint32_t)parse_long(optarg, "members", 1, MEMBERS_MAX);
            break;
        case 'd':
            g.days = (int)parse_long(optarg, "days", 7, DAYS_MAX);
            break;
        case 's':
            g.seed = (uint64_t)parse_long(optarg, "seed", 0, 0x7fffffffL);
            break;
        case 'u':
            url = optarg;
            break;
        case 'k':
            sessions = parse_long(optarg, "sessions", 0, MEMBERS_MAX);
            break;
        case 't':
            tokens = optarg;
            break;
        case 'j':
            g.jobs = (int)parse_long(optarg, "jobs", 1, JOBS_MAX);
            break;
        default:
            usage();
        }
    }
    if (!url || optind != argc)
        usage();
    g.nsessions = sessions < 0 ? (g.nmembers < 10000 ? g.nmembers : 10000)
                               : (uint32_t)(sessions < g.nmembers ? sessions : g.nmembers);
    g.now = (int64_t)time(NULL);
    g.day0 = g.now / 86400 - g.days;
    int year_now, mo, d;
    civil(g.now / 86400, &year_now, &mo, &d);

    g.conn = PQconnectdb(url);
    if (PQstatus(g.conn) != CONNECTION_OK)
        die("cannot connect: %s", PQerrorMessage(g.conn));
    if (exec_ok(g.conn, "SET synchronous_commit = off") < 0)
        goto out;
    int64_t accounts = query_int(g.conn, "SELECT count(*) FROM account");
    if (accounts != 0) {
        if (accounts > 0)
            fprintf(stderr,
                    "carecommons-gen: the database already has %" PRId64
                    " accounts; load into a fresh one\n",
                    accounts);
        goto out;
    }
    if (sym_codes(&g) < 0)
        goto out;
    if (!(g.rng = gsl_rng_alloc(gsl_rng_taus2)) ||
        !(g.members = calloc(g.nmembers, sizeof(*g.members))))
        die("out of memory");
    if (svc_password_hash(BENCH_PASSWORD, 600000, g.password_hash) < 0)
        die("cannot hash the password");
    g.conns[0] = g.conn;
    g.rngs[0] = g.rng;
    for (int k = 1; k < g.jobs; k++) {
        g.conns[k] = PQconnectdb(url);
        if (PQstatus(g.conns[k]) != CONNECTION_OK) {
            fprintf(stderr, "carecommons-gen: cannot connect: %s", PQerrorMessage(g.conns[k]));
            goto out;
        }
        if (exec_ok(g.conns[k], "SET synchronous_commit = off") < 0)
            goto out;
        if (!(g.rngs[k] = gsl_rng_alloc(gsl_rng_taus2)))
            die("out of memory");
    }
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    double t0 = mono();
    for (uint32_t i = 0; i < g.nmembers; i++)
        gen_plan(&g.members[i], i + 1, g.seed, g.days, year_now, g.rng);
    /* Loading in id order keeps each member's rows together and the primary keys append-only. */
    qsort(g.members, g.nmembers, sizeof(*g.members), by_id);
    printf("carecommons-gen: %u members, %d days, seed %" PRIu64 ", %u sessions (plans %.1f s)\n",
           g.nmembers, g.days, g.seed, g.nsessions, mono() - t0);
    if (write_tokens(&g, tokens) < 0)
        goto out;
    char vacuum[1024] = "VACUUM (ANALYZE) ";
    for (size_t i = 0; i < NTABLES; i++) {
        strcat(vacuum, tables[i].name);
        strcat(vacuum, i + 1 < NTABLES ? ", " : "");
    }
    t0 = mono();
    if (facts_toggle(g.conn, false) < 0) {
        facts_toggle(g.conn, true);
        goto out;
    }
    for (size_t i = 0; i < NTABLES; i++) {
        const struct table *t = &tables[i];
        if (t->bulk && bulk_off(&g, &bulk, t) < 0) {
            bulk_free(&bulk);
            goto out;
        }
        if (t->bulk && bulk.rollup[0] && t->rollup_tables) {
            strcat(vacuum, ", ");
            strcat(vacuum, t->rollup_tables);
        }
        int loaded =
            atomic_load(&stopping) ? -1 : load(&g, t, bulk.by_chunk ? t->rollup_add : NULL);
        /* Put back what bulk_off took off, also after a failed load: the schema must stay. */
        int back = t->bulk ? bulk_on(&g, &bulk) : 0;
        if (back < 0)
            bulk_report(&bulk);
        bulk_free(&bulk);
        if (loaded < 0 || back < 0) {
            facts_on(&g);
            goto out;
        }
    }
    if (facts_on(&g) < 0)
        goto out;
    printf("%-24s %12s      %9.1f s\n", "total load", "", mono() - t0);
    /* Like autovacuum would after a bulk load: visibility map and statistics for the planner. */
    t0 = mono();
    if (exec_ok(g.conn, vacuum) < 0)
        goto out;
    printf("%-24s %12s      %9.1f s\n", "vacuum analyze", "", mono() - t0);
    rc = 0;
out:
    if (rc != 0 && atomic_load(&stopping))
        fprintf(stderr, "carecommons-gen: stopped\n");
    free(g.members);
    free(g.sym_code);
    for (int k = 1; k < g.jobs; k++) {
        if (g.rngs[k])
            gsl_rng_free(g.rngs[k]);
        if (g.conns[k])
            PQfinish(g.conns[k]);
    }
    if (g.rng)
        gsl_rng_free(g.rng);
    PQfinish(g.conn);
    return rc;
}
