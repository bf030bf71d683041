/* The audit trail: one row per consent change, share event, admin action, research query and
 * recruitment search, written in the same transaction as the action, hash-chained, never updated or
 * deleted. Audit rows hold who, what, which object and when; never health values. */
#ifndef CC_AUDIT_H
#define CC_AUDIT_H

#include "svc.h"

/* Append an audit row inside the request's transaction (the route must have SVC_R_TX). The actor is
 * the request's principal (req->who; NULL actor for unauthenticated requests such as share-link
 * access). action: a static dotted name ("consent.grant", "share.access", "study.query", ...).
 * object_type and object_id name the object (object_id may be NULL). details (borrowed, may be
 * NULL) is a small JSON object of non-health facts (e.g. {"epsilon": 0.3, "query_hash": "..."}).
 * Returns 0, or -1 on database failure (the caller answers svc_problem_db and the transaction rolls
 * back). */
int svc_audit(struct svc_req *req, const char *action, const char *object_type,
              const char *object_id, const json_t *details);

/* The same with an explicit actor (account id or NULL, role name or NULL), for work not tied to a
 * principal's request. */
int svc_audit_as(struct db_conn *db, const char *actor_id, const char *actor_role,
                 const char *action, const char *object_type, const char *object_id,
                 const json_t *details);

#endif
