/* consent_store.h - members' consent grants from the database (schema/0004_consent.sql), as
 * consent_evaluate (consent/consent.h) takes them, and as JSON for the API and the record export.
 *
 * A member's grants for evaluation are the rows with status 'active' (only those can be in force;
 * the schema keeps every stored grant valid under rule 6 and a member's active grants within
 * CONSENT_MAX_GRANTS). Research and trial code should prefer the SQL form,
 * consent_permitted_members(...) at now(), which agrees with consent_evaluate exactly; these
 * loaders are for evaluating one member in C and for decisions that need the reasons (struct
 * consent_decision).
 *
 * Thread-safe: no shared state. */
#ifndef CC_CONSENT_STORE_H
#define CC_CONSENT_STORE_H

#include "consent.h"
#include "svc.h"

#include <libpq-fe.h>

struct db_conn;

/* The columns svc_consent_set_from_result reads, in this order, selected FROM consent_grant (under
 * its own name, no alias). Times are whole seconds (a CHECK guarantees it); an open end reads as 0.
 */
#define SVC_CONSENT_GRANT_COLUMNS                                                                  \
    "consent_grant.effect, consent_grant.purpose, consent_grant.categories, "                      \
    "array_to_json(consent_grant.conditions)::text, consent_grant.non_commercial, "                \
    "consent_grant.not_for_profit_only, extract(epoch FROM consent_grant.valid_from)::bigint, "    \
    "coalesce(extract(epoch FROM consent_grant.valid_until)::bigint, 0), consent_grant.status"
#define SVC_CONSENT_NCOLUMNS 9

/* Grants ready for consent_evaluate(use, set.grants, set.n). Everything is owned by the set. */
struct svc_consent_set {
    struct consent_grant *grants;
    size_t n;
    const char **conds; /* every grant's condition pointers, one block */
    json_t *strings;    /* holds the condition strings the pointers borrow */
};

/* Fill *out from rows [row0, row0 + nrows) of r, whose columns col0.. are SVC_CONSENT_GRANT_COLUMNS
 * (so one result can hold many members' grants, e.g. ordered by member). Returns 0, or -1 when a
 * row is malformed, nrows exceeds CONSENT_MAX_GRANTS + 1 or memory runs out (then *out is empty;
 * treat the member as not consenting). One row more than CONSENT_MAX_GRANTS is accepted so that
 * consent_evaluate reports it as invalid. Free with svc_consent_set_free. */
int svc_consent_set_from_result(PGresult *r, int row0, int nrows, int col0,
                                struct svc_consent_set *out);

/* Load the member's active grants. Returns 0, or -1 on a database error (db_sqlstate tells) or a
 * malformed row; *out is then empty. Free with svc_consent_set_free. */
int svc_consent_load(struct db_conn *db, const char *member_id, struct svc_consent_set *out);

/* Free what a set owns and empty it. Accepts NULL and an empty set. */
void svc_consent_set_free(struct svc_consent_set *s);

/* Load and evaluate in one call. Returns 0 with *out set, or -1 on a database error (*out then
 * denies with CONSENT_R_INVALID). */
int svc_consent_check(struct db_conn *db, const char *member_id, const struct consent_use *use,
                      struct consent_decision *out);

/* Times as record.h shows them: RFC 3339 UTC, microseconds here, trimmed by rec_time_json. */
#define SVC_CONSENT_TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The columns svc_consent_grant_json reads, in this order, selected FROM consent_grant (no alias).
 * The status shows 'expired' for an active grant whose valid_until has passed (at the transaction's
 * now()): rule 1 already treats it as not in force. */
/* clang-format off */
#define SVC_CONSENT_JSON_COLUMNS                                                                   \
    "consent_grant.id, consent_grant.version, consent_grant.effect, consent_grant.purpose, "       \
    "consent_grant.categories, array_to_json(consent_grant.conditions)::text, "                    \
    "consent_grant.non_commercial, consent_grant.not_for_profit_only, "                            \
    SVC_CONSENT_TS("consent_grant.valid_from") ", "                                                \
    SVC_CONSENT_TS("consent_grant.valid_until") ", "                                               \
    "CASE WHEN consent_grant.status = 'active' AND consent_grant.valid_until <= now() "            \
    "THEN 'expired' ELSE consent_grant.status END, consent_grant.policy_version, "                 \
    SVC_CONSENT_TS("consent_grant.created_at") ", "                                                \
    SVC_CONSENT_TS("consent_grant.withdrawn_at")
/* clang-format on */
#define SVC_CONSENT_JSON_NCOLUMNS 14

/* One grant version as the API shows it: {id, version, effect, purpose, categories: [names],
 * restrictions: {conditions, non_commercial, not_for_profit_only}, valid_from, valid_until
 * (exclusive, or null), status, policy_version, created_at, withdrawn_at (or null)}, from columns
 * col0.. of row (SVC_CONSENT_JSON_COLUMNS). New reference, or NULL when out of memory or the row is
 * malformed. */
json_t *svc_consent_grant_json(PGresult *r, int row, int col0);

/* The columns svc_consent_event_json reads: an event and the grant version it refers to, selected
 * FROM consent_event JOIN consent_grant ON consent_grant.member_id = consent_event.member_id AND
 * consent_grant.id = consent_event.grant_id AND consent_grant.version = consent_event.version. */
/* clang-format off */
#define SVC_CONSENT_EVENT_COLUMNS                                                                  \
    "consent_event.seq, consent_event.event, " SVC_CONSENT_TS("consent_event.at") ", "             \
    "consent_event.receipt_id, consent_event.receipt, " SVC_CONSENT_JSON_COLUMNS
/* clang-format on */
#define SVC_CONSENT_EVENT_NCOLUMNS (5 + SVC_CONSENT_JSON_NCOLUMNS)

/* One history event: {seq, event, at, receipt_id, receipt (the JWS, or null), grant: the version as
 * svc_consent_grant_json shows it}. New reference, or NULL when out of memory or malformed. */
json_t *svc_consent_event_json(PGresult *r, int row, int col0);

/* The member's complete consent history for the record export: a new reference to an array with one
 * object per grant (newest first), its current state as in GET /v1/me/consents plus "history":
 * every event in order (granted, changed, withdrawn, expired), each with the version it produced or
 * ended and the signed receipt the member was given. NULL on a database error or out of memory.
 * Read-only: it needs req->db and the caller's principal. */
json_t *svc_consent_export(struct svc_req *req);

#endif
