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
void h_profile_get(struct svc_req *req, struct svc_resp *resp);
void h_profile_put(struct svc_req *req, struct svc_resp *resp);
void h_catalog_symptoms(struct svc_req *req, struct svc_resp *resp);
void h_catalog_conditions(struct svc_req *req, struct svc_resp *resp);
void h_catalog_medications(struct svc_req *req, struct svc_resp *resp);
/* Each record resource: POST collection, GET collection, GET / PATCH / DELETE one. */
#define H_RECORD_CRUD(x)                                                                           \
    void h_##x##_create(struct svc_req *req, struct svc_resp *resp);                               \
    void h_##x##_list(struct svc_req *req, struct svc_resp *resp);                                 \
    void h_##x##_get(struct svc_req *req, struct svc_resp *resp);                                  \
    void h_##x##_update(struct svc_req *req, struct svc_resp *resp);                               \
    void h_##x##_delete(struct svc_req *req, struct svc_resp *resp);
H_RECORD_CRUD(condition)
H_RECORD_CRUD(symptom)
H_RECORD_CRUD(medication)
H_RECORD_CRUD(dose)
H_RECORD_CRUD(evaluation)
H_RECORD_CRUD(goal)
H_RECORD_CRUD(progress)
#undef H_RECORD_CRUD
void h_record_batch(struct svc_req *req, struct svc_resp *resp);
void h_record_changes(struct svc_req *req, struct svc_resp *resp);
/* GET /v1/me/export; ?format=fhir answers with h_export_fhir. */
void h_record_export(struct svc_req *req, struct svc_resp *resp);

/* --- sync, portability and erasure (h_sync.c, h_fhir.c) --- */
/* h_fhir.c: the member's record as a FHIR R4 Bundle (type collection). Callable from another
 * handler (GET /v1/me/export?format=fhir): it opens its own read-only snapshot unless a transaction
 * is open. */
void h_export_fhir(struct svc_req *req, struct svc_resp *resp);
void h_import_fhir(struct svc_req *req, struct svc_resp *resp);
/* h_erase.c: DELETE /v1/me. */
void h_erase_me(struct svc_req *req, struct svc_resp *resp);

/* --- consent, sharing and audit (h_consent.c, h_share.c, h_audit.c) --- */
/* consent */
void h_consent_policies(struct svc_req *req, struct svc_resp *resp);
void h_consent_public_key(struct svc_req *req, struct svc_resp *resp);
void h_consent_list(struct svc_req *req, struct svc_resp *resp);
void h_consent_create(struct svc_req *req, struct svc_resp *resp);
void h_consent_history(struct svc_req *req, struct svc_resp *resp);
void h_consent_patch(struct svc_req *req, struct svc_resp *resp);
void h_consent_withdraw(struct svc_req *req, struct svc_resp *resp);
void h_data_uses(struct svc_req *req, struct svc_resp *resp);
/* Load the consent receipt signing key (svc_cfg.key_file, created if missing). Call once in main
 * before threads start. Returns 0, or -1 after logging why. */
int svc_consent_init(void);
/* audit and shares */
void h_admin_audit_list(struct svc_req *req, struct svc_resp *resp);
void h_admin_audit_verify(struct svc_req *req, struct svc_resp *resp);
void h_share_create(struct svc_req *req, struct svc_resp *resp);
void h_share_list(struct svc_req *req, struct svc_resp *resp);
void h_share_revoke(struct svc_req *req, struct svc_resp *resp);
void h_shared_summary(struct svc_req *req, struct svc_resp *resp);
void h_shared_profile(struct svc_req *req, struct svc_resp *resp);
void h_shared_conditions(struct svc_req *req, struct svc_resp *resp);
void h_shared_symptoms(struct svc_req *req, struct svc_resp *resp);
void h_shared_medications(struct svc_req *req, struct svc_resp *resp);
void h_shared_goals(struct svc_req *req, struct svc_resp *resp);

/* --- research (h_research.c) --- */
void h_study_create(struct svc_req *req, struct svc_resp *resp);
void h_study_list(struct svc_req *req, struct svc_resp *resp);
void h_study_get(struct svc_req *req, struct svc_resp *resp);
void h_study_budget(struct svc_req *req, struct svc_resp *resp);
void h_study_query(struct svc_req *req, struct svc_resp *resp);
void h_admin_study_list(struct svc_req *req, struct svc_resp *resp);
void h_admin_study_approve(struct svc_req *req, struct svc_resp *resp);
void h_admin_study_reject(struct svc_req *req, struct svc_resp *resp);

/* --- trials (h_trials.c) --- */
void h_trial_import(struct svc_req *req, struct svc_resp *resp);
void h_trial_create(struct svc_req *req, struct svc_resp *resp);
void h_trial_list(struct svc_req *req, struct svc_resp *resp);
void h_trial_get(struct svc_req *req, struct svc_resp *resp);
void h_trial_patch(struct svc_req *req, struct svc_resp *resp);
void h_trial_feasibility(struct svc_req *req, struct svc_resp *resp);
void h_trial_invite(struct svc_req *req, struct svc_resp *resp);
void h_trial_candidates(struct svc_req *req, struct svc_resp *resp);
void h_trial_responses(struct svc_req *req, struct svc_resp *resp);
void h_admin_trial_list(struct svc_req *req, struct svc_resp *resp);
void h_admin_trial_approve(struct svc_req *req, struct svc_resp *resp);
void h_my_invitations(struct svc_req *req, struct svc_resp *resp);
void h_my_invitation_accept(struct svc_req *req, struct svc_resp *resp);
void h_my_invitation_decline(struct svc_req *req, struct svc_resp *resp);

/* Set once at start by main: the highest migration the server knows. */
extern int svc_schema_version;

#endif
