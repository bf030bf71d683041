/* carecommons: serve | migrate | admin create. */
#include "auth.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "router.h"

#include <gsl/gsl_errno.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: carecommons [serve] [options]\n"
                 "       carecommons migrate [options]\n"
                 "       carecommons admin create --email E --role admin|researcher|coordinator "
                 "[--display-name N] [options]\n"
                 "         (the password is read from standard input)\n"
                 "       carecommons --help\n\n");
    svc_config_usage(out);
}

static int cmd_migrate(void)
{
    if (!svc_cfg.database_url[0]) {
        svc_log(LOG_ERROR, "no database: set CARECOMMONS_DATABASE_URL or --database-url");
        return 1;
    }
    return svc_migrate(svc_cfg.migrate_database_url, svc_cfg.schema_dir) < 0 ? 1 : 0;
}

static int cmd_serve(void)
{
    sigset_t set;
    int sig = 0, rc = 1;

    if (cmd_migrate() != 0)
        return 1;
    if ((svc_schema_version = svc_schema_known(svc_cfg.schema_dir)) < 0)
        return 1;
    /* Library globals are set before any thread starts. */
    gsl_set_error_handler_off();
    json_object_seed(0);
    /* Block the stop signals in every thread; the main thread waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (db_pool_init(svc_cfg.database_url, svc_cfg.pool_size, svc_cfg.db_timeout,
                     svc_cfg.statement_timeout) < 0 ||
        svc_consent_init() < 0 || svc_metrics_init(svc_nroutes) < 0 || svc_http_start() < 0)
        goto out;
    /* Wait for a stop signal; meanwhile hand memory freed after bursts back to the system, so a
     * flood of connections does not leave the process at its peak size. */
    struct timespec tick = {.tv_sec = 5};
    while ((sig = sigtimedwait(&set, NULL, &tick)) < 0)
        malloc_trim(0);
    svc_log(LOG_INFO, "received %s; finishing in-flight requests",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    svc_http_stop();
    rc = 0;
out:
    db_pool_shutdown();
    svc_metrics_free();
    svc_log(LOG_INFO, "stopped");
    return rc;
}

static int cmd_admin_create(int argc, char **argv, int argi)
{
    const char *email = NULL, *role = NULL, *name = "Administrator";
    char password[1100], hash[SVC_HASH_MAX];
    PGconn *pg = NULL;
    PGresult *r = NULL;
    int rc = 1;

    for (; argi + 1 < argc; argi += 2) {
        if (strcmp(argv[argi], "--email") == 0)
            email = argv[argi + 1];
        else if (strcmp(argv[argi], "--role") == 0)
            role = argv[argi + 1];
        else if (strcmp(argv[argi], "--display-name") == 0)
            name = argv[argi + 1];
        else
            break;
    }
    if (argi != argc || !email || !role || svc_role_parse(role) == 0 ||
        strcmp(role, "member") == 0) {
        usage(stderr);
        return 2;
    }
    if (!fgets(password, sizeof(password), stdin)) {
        fprintf(stderr, "carecommons: no password on standard input\n");
        return 2;
    }
    password[strcspn(password, "\r\n")] = '\0';
    if (strlen(password) < 10) {
        fprintf(stderr, "carecommons: the password must be at least 10 characters\n");
        return 2;
    }
    if (cmd_migrate() != 0 || svc_password_hash(password, svc_cfg.password_iterations, hash) < 0)
        goto out;
    if (!(pg = db_connect_once(svc_cfg.database_url, 10)))
        goto out;
    const char *params[] = {email, name, role, hash};
    r = PQexecParams(
        pg,
        "INSERT INTO account (email, display_name, role, password_hash) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "carecommons: could not create the account: %s", PQerrorMessage(pg));
        goto out;
    }
    printf("%s\n", PQgetvalue(r, 0, 0));
    rc = 0;
out:
    PQclear(r);
    PQfinish(pg);
    return rc;
}

int main(int argc, char **argv)
{
    int argi = 1, rc;
    const char *cmd = "serve";

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && argv[1][0] != '-')
        cmd = argv[argi++];
    if (strcmp(cmd, "admin") == 0) {
        if (argi >= argc || strcmp(argv[argi], "create") != 0) {
            usage(stderr);
            return 2;
        }
        argi++;
    }
    rc = svc_config_load(argc, argv, &argi);
    if (rc < 0)
        return 2;
    svc_log_set_level(svc_cfg.log_level);
    if (strcmp(cmd, "serve") == 0 && argi == argc)
        rc = cmd_serve();
    else if (strcmp(cmd, "migrate") == 0 && argi == argc)
        rc = cmd_migrate();
    else if (strcmp(cmd, "admin") == 0)
        rc = cmd_admin_create(argc, argv, argi);
    else {
        usage(stderr);
        rc = 2;
    }
    svc_config_free();
    return rc;
}
