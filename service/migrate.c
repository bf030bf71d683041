#include "migrate.h"
#include "db.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MIGRATIONS 256

struct migration {
    int version;
    char name[200];
};

static int cmp(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

/* The NNNN_name.sql files of dir, sorted. Returns the count or -1. */
static int scan(const char *dir, struct migration *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) && n < MAX_MIGRATIONS) {
        size_t len = strlen(e->d_name);
        int v;
        char under;
        if (len < 10 || len >= sizeof(out[n].name) || strcmp(e->d_name + len - 4, ".sql") != 0 ||
            sscanf(e->d_name, "%4d%c", &v, &under) != 2 || under != '_')
            continue;
        out[n].version = v;
        memcpy(out[n].name, e->d_name, len + 1);
        n++;
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof(*out), cmp);
    return n;
}

int svc_schema_known(const char *dir)
{
    static struct migration m[MAX_MIGRATIONS];
    int n = scan(dir, m);
    return n < 0 ? -1 : n == 0 ? 0 : m[n - 1].version;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len + 1))) {
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else {
            buf[len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int exec(PGconn *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        svc_log(LOG_ERROR, "migration %s failed: %s", what, PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

int svc_migrate(const char *url, const char *dir)
{
    struct migration *m = calloc(MAX_MIGRATIONS, sizeof(*m));
    PGconn *pg = NULL;
    PGresult *r = NULL;
    int rc = -1, n, current = 0;
    char path[4096], version[16];

    if (!m || (n = scan(dir, m)) < 0) {
        svc_log(LOG_ERROR, "cannot read the schema directory %s", dir);
        goto out;
    }
    if (!(pg = db_connect_once(url, 10)))
        goto out;
    /* One migrator at a time (several servers may start together). */
    if (exec(pg, "SET client_min_messages = warning", "setup") < 0 ||
        exec(pg, "SELECT pg_advisory_lock(7355608)", "lock") < 0 ||
        exec(pg,
             "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT "
             "NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
             "bookkeeping") < 0)
        goto out;
    r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto out;
    current = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (n > 0 && current > m[n - 1].version) {
        svc_log(LOG_ERROR,
                "the database schema (version %d) is newer than this server knows (%d); refusing",
                current, m[n - 1].version);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (m[i].version <= current)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, m[i].name);
        char *sql = slurp(path);
        if (!sql) {
            svc_log(LOG_ERROR, "cannot read %s", path);
            goto out;
        }
        snprintf(version, sizeof(version), "%d", m[i].version);
        const char *params[] = {version, m[i].name};
        int ok = exec(pg, "BEGIN", m[i].name) == 0 && exec(pg, sql, m[i].name) == 0;
        free(sql);
        if (ok) {
            r = PQexecParams(pg,
                             "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                             2, NULL, params, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            r = NULL;
        }
        if (!ok || exec(pg, "COMMIT", m[i].name) < 0) {
            exec(pg, "ROLLBACK", m[i].name);
            goto out;
        }
        svc_log(LOG_INFO, "applied migration %s", m[i].name);
    }
    rc = 0;
out:
    PQclear(r);
    if (pg)
        PQclear(PQexec(pg, "SELECT pg_advisory_unlock(7355608)"));
    PQfinish(pg);
    free(m);
    return rc;
}
