/* The configuration: one table (config.c) maps every option to its flag, environment name and
 * default. */
#ifndef CC_CONFIG_H
#define CC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

struct svc_config {
    char *listen; /* host:port */
    char *database_url;
    char *migrate_database_url; /* owner role for migrations; defaults to database_url */
    char *schema_dir;
    char *web_dir;
    char *key_file;   /* Ed25519 receipt signing key (PEM), created if missing */
    char *public_url; /* base of share links */
    int pool_size;
    int threads;         /* MHD connection (I/O) threads */
    int handler_threads; /* request handler threads; 0 in the table means pool_size */
    int queue_limit;     /* requests waiting for a handler thread before 503 */
    int max_connections;
    int max_per_ip;
    int connection_timeout;    /* seconds */
    int max_body;              /* bytes */
    int max_header;            /* bytes: per-connection memory for headers */
    int db_timeout;            /* seconds to wait for a pool connection or to connect */
    int statement_timeout;     /* milliseconds */
    int token_ttl;             /* seconds */
    int password_iterations;   /* PBKDF2-SHA256 */
    int login_max_failures;    /* per account within login_window */
    int login_ip_max_failures; /* per client address within login_window */
    int login_window;          /* seconds */
    int invitations_per_month;
    int log_level; /* 0 error, 1 warn, 2 info, 3 debug */
};

extern struct svc_config svc_cfg;

/* Fill svc_cfg from defaults, then CARECOMMONS_* environment, then --flags (argv from *argi on;
 * consumed flags advance *argi). Returns 0, or -1 after printing the bad option. */
int svc_config_load(int argc, char **argv, int *argi);
void svc_config_usage(FILE *out);
void svc_config_free(void);
/* Split "host:port". Returns 0 or -1. host is written into buf. */
int svc_config_listen(char *host, size_t hostlen, int *port);

#endif
