/* Numbered SQL migrations from the schema directory, each in its own transaction, recorded in
 * schema_migrations. */
#ifndef CC_MIGRATE_H
#define CC_MIGRATE_H

/* Highest migration version present in dir (0 if none, -1 if unreadable). */
int svc_schema_known(const char *dir);
/* Apply pending migrations with the owner URL. Refuses (-1) when the database is newer than dir. */
int svc_migrate(const char *url, const char *dir);

#endif
