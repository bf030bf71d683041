/* Every handler the route table (routes.c) names. Handlers set an error status first, change it on
 * success, and leave through one exit. */
#ifndef CC_HANDLERS_H
#define CC_HANDLERS_H

#include "svc.h"

/* h_system.c */
void h_healthz(struct svc_req *req, struct svc_resp *resp);
void h_readyz(struct svc_req *req, struct svc_resp *resp);
void h_metrics(struct svc_req *req, struct svc_resp *resp);
void h_web(struct svc_req *req, struct svc_resp *resp);

/* h_auth.c */
void h_register(struct svc_req *req, struct svc_resp *resp);
void h_login(struct svc_req *req, struct svc_resp *resp);
void h_logout(struct svc_req *req, struct svc_resp *resp);
void h_me(struct svc_req *req, struct svc_resp *resp);
void h_admin_create_account(struct svc_req *req, struct svc_resp *resp);

/* --- health record (h_record.c) --- */

/* --- sync, portability and erasure (h_sync.c, h_fhir.c) --- */

/* --- consent, sharing and audit (h_consent.c, h_share.c, h_audit.c) --- */

/* --- research (h_research.c) --- */

/* --- trials (h_trials.c) --- */

/* Set once at start by main: the highest migration the server knows. */
extern int svc_schema_version;

#endif
