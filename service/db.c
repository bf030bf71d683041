/* Connection pool. One PGconn per checkout; prepared statement names remembered per connection. */
#include "db.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PREPARED 256

struct db_conn {
    PGconn *pg;
    bool busy;
    bool lost;
    char sqlstate[6];
    char error[256];
    const char *prepared[MAX_PREPARED]; /* static statement names */
    int nprepared;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct db_conn *conns;
    int size, in_use;
    char *url;
    int timeout_s;
    int statement_timeout_ms;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .freed = PTHREAD_COND_INITIALIZER};

static PGconn *open_conn(const char *url, int timeout_s, int statement_timeout_ms)
{
    char ct[16], opts[64];
    snprintf(ct, sizeof(ct), "%d", timeout_s);
    snprintf(opts, sizeof(opts), "-c statement_timeout=%d", statement_timeout_ms);
    const char *keys[] = {"dbname",           "connect_timeout", "options",
                          "application_name", "keepalives_idle", NULL};
    const char *vals[] = {url, ct, statement_timeout_ms ? opts : "", "carecommons", "30", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        svc_log(LOG_WARN, "database connection failed: %s",
                pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

PGconn *db_connect_once(const char *url, int timeout_s)
{
    return open_conn(url, timeout_s, 0);
}

int db_pool_init(const char *url, int size, int timeout_s, int statement_timeout_ms)
{
    pool.conns = calloc((size_t)size, sizeof(*pool.conns));
    pool.url = strdup(url);
    if (!pool.conns || !pool.url)
        return -1;
    pool.size = size;
    pool.timeout_s = timeout_s;
    pool.statement_timeout_ms = statement_timeout_ms;
    return 0;
}

void db_pool_shutdown(void)
{
    for (int i = 0; i < pool.size; i++)
        PQfinish(pool.conns[i].pg);
    free(pool.conns);
    free(pool.url);
    pool.conns = NULL;
    pool.url = NULL;
    pool.size = 0;
}

static void drop(struct db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    c->nprepared = 0;
    c->lost = false;
}

struct db_conn *db_acquire(void)
{
    struct timespec deadline;
    struct db_conn *c = NULL;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += pool.timeout_s;

    pthread_mutex_lock(&pool.lock);
    while (!c) {
        /* Prefer an open connection; else any free slot. */
        for (int i = 0; i < pool.size && !c; i++)
            if (!pool.conns[i].busy && pool.conns[i].pg)
                c = &pool.conns[i];
        for (int i = 0; i < pool.size && !c; i++)
            if (!pool.conns[i].busy)
                c = &pool.conns[i];
        if (c)
            break;
        if (pthread_cond_timedwait(&pool.freed, &pool.lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool.lock);
            svc_log(LOG_WARN, "database pool exhausted");
            return NULL;
        }
    }
    c->busy = true;
    pool.in_use++;
    pthread_mutex_unlock(&pool.lock);

    if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
        drop(c);
    if (!c->pg)
        c->pg = open_conn(pool.url, pool.timeout_s, pool.statement_timeout_ms);
    if (!c->pg) {
        db_release(c);
        return NULL;
    }
    c->sqlstate[0] = '\0';
    c->error[0] = '\0';
    return c;
}

void db_release(struct db_conn *c)
{
    if (!c)
        return;
    if (c->pg) {
        if (c->lost || PQstatus(c->pg) != CONNECTION_OK) {
            drop(c);
        } else if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            PGresult *r = PQexec(c->pg, "ROLLBACK");
            if (PQresultStatus(r) != PGRES_COMMAND_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
                drop(c);
            PQclear(r);
        }
    }
    pthread_mutex_lock(&pool.lock);
    c->busy = false;
    pool.in_use--;
    pthread_cond_signal(&pool.freed);
    pthread_mutex_unlock(&pool.lock);
}

int db_pool_in_use(void)
{
    pthread_mutex_lock(&pool.lock);
    int n = pool.in_use;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

int db_pool_size(void)
{
    return pool.size;
}

static PGresult *check(struct db_conn *c, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *table = r ? PQresultErrorField(r, PG_DIAG_TABLE_NAME) : NULL;
    const char *constraint = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
    /* Only names, never the message: PostgreSQL's messages and DETAIL lines quote row values, which
     * can be health data. */
    snprintf(c->error, sizeof(c->error), "sqlstate %s%s%s%s%s", c->sqlstate, table ? " table " : "",
             table ? table : "", constraint ? " constraint " : "", constraint ? constraint : "");
    /* Class 08 is a connection exception; 57P0x is an operator shutdown. */
    if (PQstatus(c->pg) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0)
        c->lost = true;
    if (!c->lost && strcmp(c->sqlstate, "23505") && strcmp(c->sqlstate, "23503") &&
        strcmp(c->sqlstate, "40001") && strcmp(c->sqlstate, "22P02"))
        svc_log(LOG_WARN, "sql error: %s", c->error);
    PQclear(r);
    return NULL;
}

PGresult *db_exec(struct db_conn *c, const char *sql, int nparams, const char *const *params)
{
    if (!c || !c->pg || c->lost)
        return NULL;
    return check(c, PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0));
}

PGresult *db_prep(struct db_conn *c, const char *name, const char *sql, int nparams,
                  const char *const *params)
{
    if (!c || !c->pg || c->lost)
        return NULL;
    bool have = false;
    for (int i = 0; i < c->nprepared && !have; i++)
        have = c->prepared[i] == name || strcmp(c->prepared[i], name) == 0;
    if (!have) {
        if (c->nprepared == MAX_PREPARED)
            return db_exec(c, sql, nparams, params);
        PGresult *r = check(c, PQprepare(c->pg, name, sql, nparams, NULL));
        if (!r)
            return NULL;
        PQclear(r);
        c->prepared[c->nprepared++] = name;
    }
    return check(c, PQexecPrepared(c->pg, name, nparams, params, NULL, NULL, 0));
}

int db_cmd(struct db_conn *c, const char *sql)
{
    PGresult *r = db_exec(c, sql, 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

const char *db_sqlstate(const struct db_conn *c)
{
    return c ? c->sqlstate : "";
}

int db_backend_pid(const struct db_conn *c)
{
    return c && c->pg ? PQbackendPID(c->pg) : 0;
}

const char *db_error(const struct db_conn *c)
{
    return c ? c->error : "";
}

bool db_lost(const struct db_conn *c)
{
    return !c || c->lost;
}

PGconn *db_pg(struct db_conn *c)
{
    return c ? c->pg : NULL;
}
