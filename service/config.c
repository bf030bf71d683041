/* Configuration table in the style of pgbouncer's cf_* table: one row per option. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct svc_config svc_cfg;

enum cf_type { CF_STR, CF_INT };

struct cf_option {
    const char *name; /* --name and CARECOMMONS_NAME (upper case, '-' -> '_') */
    enum cf_type type;
    size_t offset;
    const char *def;
    long min, max;
    const char *help;
};

#define CF(field) offsetof(struct svc_config, field)

static const struct cf_option options[] = {
    {"listen", CF_STR, CF(listen), "127.0.0.1:8080", 0, 0,
     "address and port to serve on (host:port)"},
    {"database-url", CF_STR, CF(database_url), "", 0, 0, "PostgreSQL URL of the service role"},
    {"migrate-database-url", CF_STR, CF(migrate_database_url), "", 0, 0,
     "PostgreSQL URL of the schema owner, for migrations (default: database-url)"},
    {"schema-dir", CF_STR, CF(schema_dir), CC_SOURCE_DIR "/schema", 0, 0,
     "directory of NNNN_*.sql migrations"},
    {"web-dir", CF_STR, CF(web_dir), CC_SOURCE_DIR "/web", 0, 0, "directory of the web page"},
    {"key-file", CF_STR, CF(key_file), "var/receipt-key.pem", 0, 0,
     "Ed25519 key that signs consent receipts (created if missing)"},
    {"public-url", CF_STR, CF(public_url), "http://127.0.0.1:8080", 0, 0,
     "base URL for share links"},
    {"pool-size", CF_INT, CF(pool_size), "16", 1, 512, "database connections"},
    {"threads", CF_INT, CF(threads), "8", 1, 256, "HTTP connection threads (accept, read, write)"},
    {"handler-threads", CF_INT, CF(handler_threads), "0", 0, 512,
     "threads that run request handlers (0: pool-size)"},
    {"queue-limit", CF_INT, CF(queue_limit), "1024", 1, 65535,
     "requests waiting for a handler thread; beyond it 503"},
    {"max-connections", CF_INT, CF(max_connections), "1024", 1, 65535,
     "open HTTP connections in total"},
    {"max-per-ip", CF_INT, CF(max_per_ip), "512", 1, 65535,
     "open HTTP connections per client address"},
    {"connection-timeout", CF_INT, CF(connection_timeout), "30", 1, 3600,
     "idle connection timeout (s)"},
    {"max-body", CF_INT, CF(max_body), "1048576", 1024, 268435456, "request body limit (bytes)"},
    {"max-header", CF_INT, CF(max_header), "32768", 4096, 1048576, "request header memory (bytes)"},
    {"db-timeout", CF_INT, CF(db_timeout), "3", 1, 60, "wait for / connect to the database (s)"},
    {"statement-timeout", CF_INT, CF(statement_timeout), "30000", 100, 600000,
     "SQL statement timeout (ms)"},
    {"token-ttl", CF_INT, CF(token_ttl), "86400", 60, 31536000, "access token lifetime (s)"},
    {"password-iterations", CF_INT, CF(password_iterations), "600000", 600000, 100000000,
     "PBKDF2-SHA256 iterations for new password hashes"},
    {"login-max-failures", CF_INT, CF(login_max_failures), "5", 1, 1000,
     "failed logins per account per window"},
    {"login-ip-max-failures", CF_INT, CF(login_ip_max_failures), "50", 1, 100000,
     "failed logins per client address per window"},
    {"login-window", CF_INT, CF(login_window), "900", 1, 86400, "login throttling window (s)"},
    {"invitations-per-month", CF_INT, CF(invitations_per_month), "3", 0, 100,
     "trial invitations one member may receive per month"},
    {"log-level", CF_INT, CF(log_level), "2", 0, 3, "0 error, 1 warn, 2 info, 3 debug"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void envname(const char *name, char *buf, size_t len)
{
    size_t i = 0;
    int n = snprintf(buf, len, "CARECOMMONS_");
    for (i = 0; name[i] && (size_t)n + i + 1 < len; i++)
        buf[n + i] = name[i] == '-'
                         ? '_'
                         : (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    buf[n + i] = '\0';
}

static int set_option(const struct cf_option *o, const char *value)
{
    char *field = (char *)&svc_cfg + o->offset;
    if (o->type == CF_STR) {
        char *copy = strdup(value);
        if (!copy)
            return -1;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < o->min || v > o->max) {
        fprintf(stderr, "carecommons: --%s must be an integer in %ld..%ld (got '%s')\n", o->name,
                o->min, o->max, value);
        return -1;
    }
    *(int *)field = (int)v;
    return 0;
}

int svc_config_load(int argc, char **argv, int *argi)
{
    char env[96];
    for (size_t i = 0; i < NOPTIONS; i++)
        if (set_option(&options[i], options[i].def) < 0)
            return -1;
    for (size_t i = 0; i < NOPTIONS; i++) {
        envname(options[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (v && set_option(&options[i], v) < 0)
            return -1;
    }
    while (*argi < argc && strncmp(argv[*argi], "--", 2) == 0) {
        const char *arg = argv[*argi] + 2;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct cf_option *o = NULL;
        for (size_t i = 0; i < NOPTIONS; i++)
            if (strlen(options[i].name) == len && strncmp(options[i].name, arg, len) == 0)
                o = &options[i];
        if (!o)
            return 1; /* not a configuration flag: the caller decides */
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (*argi + 1 >= argc) {
                fprintf(stderr, "carecommons: --%s needs a value\n", o->name);
                return -1;
            }
            value = argv[++*argi];
        }
        if (set_option(o, value) < 0)
            return -1;
        ++*argi;
    }
    if (!svc_cfg.migrate_database_url[0])
        set_option(&options[2], svc_cfg.database_url);
    /* One handler thread per pooled connection: none waits for the pool. */
    if (!svc_cfg.handler_threads)
        svc_cfg.handler_threads = svc_cfg.pool_size;
    return 0;
}

void svc_config_usage(FILE *out)
{
    char env[96];
    fprintf(out, "Options (flag, environment variable, default):\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        envname(options[i].name, env, sizeof(env));
        fprintf(out, "  --%-22s %-36s %s\n      %s\n", options[i].name, env,
                options[i].def[0] ? options[i].def : "(none)", options[i].help);
    }
}

void svc_config_free(void)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].type == CF_STR) {
            char **p = (char **)((char *)&svc_cfg + options[i].offset);
            free(*p);
            *p = NULL;
        }
}

int svc_config_listen(char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(svc_cfg.listen, ':');
    if (!colon || (size_t)(colon - svc_cfg.listen) >= hostlen)
        return -1;
    memcpy(host, svc_cfg.listen, (size_t)(colon - svc_cfg.listen));
    host[colon - svc_cfg.listen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}
