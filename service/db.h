/* Database access: a fixed pool of PGconn, statements prepared per connection, parameters only. */
#ifndef CC_DB_H
#define CC_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct db_conn;

/* Create the pool (connections are opened lazily). Returns 0 or -1. Not thread-safe: call before
 * serving. */
int db_pool_init(const char *url, int size, int timeout_s, int statement_timeout_ms);
void db_pool_shutdown(void);
/* Check out a connection, waiting at most the configured timeout. NULL when none could be had or
 * the database is unreachable: answer 503. The connection is borrowed until db_release. */
struct db_conn *db_acquire(void);
/* Return a connection; a connection left inside a transaction is rolled back, a broken one is
 * dropped. */
void db_release(struct db_conn *c);
int db_pool_in_use(void);
int db_pool_size(void);

/* Run SQL with text parameters (PQexecParams). Returns a new PGresult on success (caller PQclear),
 * NULL on failure: db_sqlstate() then tells why, db_lost() whether the connection broke. */
PGresult *db_exec(struct db_conn *c, const char *sql, int nparams, const char *const *params);
/* Same, through a statement prepared once per connection under `name` (a static string). */
PGresult *db_prep(struct db_conn *c, const char *name, const char *sql, int nparams,
                  const char *const *params);
/* Run a command with no result rows; 0 or -1. */
int db_cmd(struct db_conn *c, const char *sql);
const char *db_sqlstate(const struct db_conn *c); /* borrowed; "" when none */
const char *db_error(const struct db_conn *c);    /* borrowed; never log it with parameters */
/* The server process behind the connection (names per-connection work tables); 0 if unknown. */
int db_backend_pid(const struct db_conn *c);
bool db_lost(const struct db_conn *c);
PGconn *db_pg(struct db_conn *c); /* borrowed */

/* Open a one-off connection (migrations, admin tools). New PGconn or NULL with the reason printed.
 */
PGconn *db_connect_once(const char *url, int timeout_s);

#endif
