/* The audit trail's write side. The chaining (lock, previous hash, row hash) lives in one SQL
 * function, audit_append (schema/0005_audit_share.sql), so the insert and verification share one
 * definition. Its advisory lock is held until the request's transaction ends, so appends from
 * concurrent requests chain in commit order. Callers: keep the work after the append short, and
 * append before locking rows that another audited transaction may lock after appending (erasure
 * audits, then deletes the member's rows), or the two can deadlock. */
#include "audit.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

#define DETAILS_MAX 4096 /* bytes of serialised details; the table's CHECK agrees */

int svc_audit(struct svc_req *req, const char *action, const char *object_type,
              const char *object_id, const json_t *details)
{
    if (!req)
        return -1;
    const char *actor = req->who.account_id[0] ? req->who.account_id : NULL;
    const char *role = req->who.role ? svc_role_name(req->who.role) : NULL;
    return svc_audit_as(req->db, actor, role, action, object_type, object_id, details);
}

int svc_audit_as(struct db_conn *db, const char *actor_id, const char *actor_role,
                 const char *action, const char *object_type, const char *object_id,
                 const json_t *details)
{
    char *text = NULL;
    PGresult *r = NULL;
    int rc = -1;

    if (!db || !action || !object_type)
        goto out;
    if (details) {
        if (!json_is_object(details))
            goto out;
        /* Sorted keys only to make the text stable; the database stores jsonb either way. */
        text = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text || strlen(text) > DETAILS_MAX)
            goto out;
    }
    const char *params[] = {actor_id, actor_role, action, object_type, object_id, text};
    r = db_prep(db, "audit_append", "SELECT audit_append($1::uuid, $2, $3, $4, $5, $6::jsonb)", 6,
                params);
    if (r && PQntuples(r) == 1)
        rc = 0;
out:
    PQclear(r);
    free(text);
    return rc;
}
