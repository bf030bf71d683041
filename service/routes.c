/* The route table: every endpoint in one place. Literal paths come before {id} patterns that would
 * also match them. */
#include "handlers.h"
#include "router.h"

#define ANY SVC_ROLE_ANY
#define MEMBER SVC_ROLE_MEMBER
#define ADMIN SVC_ROLE_ADMIN
#define DB SVC_R_DB
#define TX (SVC_R_DB | SVC_R_TX)
#define BODY SVC_R_BODY

const struct svc_route svc_routes[] = {
    /* method, pattern, handler, roles, flags, body limit (0 = default) */
    {"GET", "/", h_web, 0, 0, 0},
    {"GET", "/healthz", h_healthz, 0, 0, 0},
    {"GET", "/readyz", h_readyz, 0, DB, 0},
    {"GET", "/metrics", h_metrics, 0, 0, 0},

    {"POST", "/v1/auth/register", h_register, 0, DB | BODY, 0},
    {"POST", "/v1/auth/login", h_login, 0, DB | BODY, 0},
    {"POST", "/v1/auth/logout", h_logout, ANY, TX, 0},
    {"GET", "/v1/me", h_me, ANY, DB, 0},

    {"POST", "/v1/admin/accounts", h_admin_create_account, ADMIN, TX | BODY, 0},

    /* --- health record (h_record.c) --- */
    /* Every POST honours Idempotency-Key; the batch takes up to 1000 items in 4 MiB. */
    {"GET", "/v1/me/profile", h_profile_get, MEMBER, DB, 0},
    {"PUT", "/v1/me/profile", h_profile_put, MEMBER, TX | BODY, 0},
    {"GET", "/v1/catalog/symptoms", h_catalog_symptoms, ANY, DB, 0},
    {"GET", "/v1/catalog/conditions", h_catalog_conditions, ANY, DB, 0},
    {"GET", "/v1/catalog/medications", h_catalog_medications, ANY, DB, 0},
    {"POST", "/v1/me/batch", h_record_batch, MEMBER, TX | BODY | SVC_R_IDEMPOTENT, 4 * 1024 * 1024},
    {"GET", "/v1/me/changes", h_record_changes, MEMBER, TX, 0},
    {"GET", "/v1/me/export", h_record_export, MEMBER, TX, 0},
    {"POST", "/v1/me/conditions", h_condition_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/conditions", h_condition_list, MEMBER, DB, 0},
    {"GET", "/v1/me/conditions/{id}", h_condition_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/conditions/{id}", h_condition_update, MEMBER, TX | BODY, 0},
    {"DELETE", "/v1/me/conditions/{id}", h_condition_delete, MEMBER, TX, 0},
    {"POST", "/v1/me/symptoms", h_symptom_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/symptoms", h_symptom_list, MEMBER, DB, 0},
    {"GET", "/v1/me/symptoms/{id}", h_symptom_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/symptoms/{id}", h_symptom_update, MEMBER, TX | BODY, 0},
    {"DELETE", "/v1/me/symptoms/{id}", h_symptom_delete, MEMBER, TX, 0},
    {"POST", "/v1/me/medications", h_medication_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/medications", h_medication_list, MEMBER, DB, 0},
    {"GET", "/v1/me/medications/{id}", h_medication_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/medications/{id}", h_medication_update, MEMBER, TX | BODY, 0},
    {"DELETE", "/v1/me/medications/{id}", h_medication_delete, MEMBER, TX, 0},
    {"POST", "/v1/me/medications/{id}/doses", h_dose_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT,
     0},
    {"GET", "/v1/me/medications/{id}/doses", h_dose_list, MEMBER, DB, 0},
    {"GET", "/v1/me/medications/{id}/doses/{id}", h_dose_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/medications/{id}/doses/{id}", h_dose_update, MEMBER, TX | BODY, 0},
    {"DELETE", "/v1/me/medications/{id}/doses/{id}", h_dose_delete, MEMBER, TX, 0},
    {"POST", "/v1/me/medications/{id}/evaluations", h_evaluation_create, MEMBER,
     TX | BODY | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/medications/{id}/evaluations", h_evaluation_list, MEMBER, DB, 0},
    {"GET", "/v1/me/medications/{id}/evaluations/{id}", h_evaluation_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/medications/{id}/evaluations/{id}", h_evaluation_update, MEMBER, TX | BODY,
     0},
    {"DELETE", "/v1/me/medications/{id}/evaluations/{id}", h_evaluation_delete, MEMBER, TX, 0},
    {"POST", "/v1/me/goals", h_goal_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/goals", h_goal_list, MEMBER, DB, 0},
    {"GET", "/v1/me/goals/{id}", h_goal_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/goals/{id}", h_goal_update, MEMBER, TX | BODY, 0},
    {"DELETE", "/v1/me/goals/{id}", h_goal_delete, MEMBER, TX, 0},
    {"POST", "/v1/me/goals/{id}/progress", h_progress_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT,
     0},
    {"GET", "/v1/me/goals/{id}/progress", h_progress_list, MEMBER, DB, 0},
    {"GET", "/v1/me/goals/{id}/progress/{id}", h_progress_get, MEMBER, DB, 0},
    {"PATCH", "/v1/me/goals/{id}/progress/{id}", h_progress_update, MEMBER, TX | BODY, 0},
    {"DELETE", "/v1/me/goals/{id}/progress/{id}", h_progress_delete, MEMBER, TX, 0},

    /* --- sync, portability and erasure (h_sync.c, h_fhir.c) --- */
    /* FHIR export and import (h_fhir.c); erasure (h_erase.c) runs its own transaction so that a
     * wrong password's throttling mark survives. */
    {"GET", "/v1/me/export/fhir", h_export_fhir, MEMBER, DB, 0},
    {"POST", "/v1/me/import/fhir", h_import_fhir, MEMBER, TX | BODY, 20 * 1024 * 1024},
    {"DELETE", "/v1/me", h_erase_me, MEMBER, DB, 0},

    /* --- consent, sharing and audit (h_consent.c, h_share.c, h_audit.c) --- */
    /* consent */
    {"GET", "/v1/consent/policies", h_consent_policies, 0, DB, 0},
    {"GET", "/v1/consent/public-key", h_consent_public_key, 0, 0, 0},
    {"GET", "/v1/me/consents", h_consent_list, MEMBER, DB, 0},
    {"POST", "/v1/me/consents", h_consent_create, MEMBER, TX | BODY | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/consents/history", h_consent_history, MEMBER, DB, 0},
    {"PATCH", "/v1/me/consents/{id}", h_consent_patch, MEMBER, TX | BODY, 0},
    {"POST", "/v1/me/consents/{id}/withdraw", h_consent_withdraw, MEMBER, TX | SVC_R_IDEMPOTENT, 0},
    {"GET", "/v1/me/data-uses", h_data_uses, MEMBER, DB, 0},
    /* audit and shares */
    {"GET", "/v1/admin/audit/verify", h_admin_audit_verify, ADMIN, TX, 0},
    {"GET", "/v1/admin/audit", h_admin_audit_list, ADMIN, TX, 0},
    /* No Idempotency-Key on share creation: a replay would store and show the token again. */
    {"POST", "/v1/me/shares", h_share_create, MEMBER, TX | BODY, 0},
    {"GET", "/v1/me/shares", h_share_list, MEMBER, DB, 0},
    {"DELETE", "/v1/me/shares/{id}", h_share_revoke, MEMBER, TX, 0},
    {"GET", "/v1/shared/{token}", h_shared_summary, 0, TX, 0},
    {"GET", "/v1/shared/{token}/profile", h_shared_profile, 0, TX, 0},
    {"GET", "/v1/shared/{token}/conditions", h_shared_conditions, 0, TX, 0},
    {"GET", "/v1/shared/{token}/symptoms", h_shared_symptoms, 0, TX, 0},
    {"GET", "/v1/shared/{token}/medications", h_shared_medications, 0, TX, 0},
    {"GET", "/v1/shared/{token}/goals", h_shared_goals, 0, TX, 0},

    /* --- research (h_research.c) --- */
    {"POST", "/v1/research/studies", h_study_create, SVC_ROLE_RESEARCHER, TX | BODY, 0},
    {"GET", "/v1/research/studies", h_study_list, SVC_ROLE_RESEARCHER, DB, 0},
    {"GET", "/v1/research/studies/{id}", h_study_get, SVC_ROLE_RESEARCHER, DB, 0},
    {"GET", "/v1/research/studies/{id}/budget", h_study_budget, SVC_ROLE_RESEARCHER, DB, 0},
    {"POST", "/v1/research/studies/{id}/queries", h_study_query, SVC_ROLE_RESEARCHER, TX | BODY, 0},
    {"GET", "/v1/admin/studies", h_admin_study_list, ADMIN, DB, 0},
    {"POST", "/v1/admin/studies/{id}/approve", h_admin_study_approve, ADMIN, TX | BODY, 0},
    {"POST", "/v1/admin/studies/{id}/reject", h_admin_study_reject, ADMIN, TX | BODY, 0},

    /* --- trials (h_trials.c) --- */
    {"POST", "/v1/trials/import-ctgov", h_trial_import, SVC_ROLE_COORDINATOR, TX | BODY, 2u << 20},
    {"POST", "/v1/trials", h_trial_create, SVC_ROLE_COORDINATOR, TX | BODY, 0},
    {"GET", "/v1/trials", h_trial_list, SVC_ROLE_COORDINATOR, DB, 0},
    {"GET", "/v1/trials/{id}", h_trial_get, SVC_ROLE_COORDINATOR, DB, 0},
    {"PATCH", "/v1/trials/{id}", h_trial_patch, SVC_ROLE_COORDINATOR, TX | BODY, 0},
    {"POST", "/v1/trials/{id}/feasibility", h_trial_feasibility, SVC_ROLE_COORDINATOR, TX, 0},
    {"POST", "/v1/trials/{id}/invitations", h_trial_invite, SVC_ROLE_COORDINATOR, TX | BODY, 0},
    {"GET", "/v1/trials/{id}/candidates", h_trial_candidates, SVC_ROLE_COORDINATOR, DB, 0},
    /* TX: a new data version is charged to the budget and cached. */
    {"GET", "/v1/trials/{id}/responses", h_trial_responses, SVC_ROLE_COORDINATOR, TX, 0},
    {"GET", "/v1/admin/trials", h_admin_trial_list, ADMIN, DB, 0},
    {"POST", "/v1/admin/trials/{id}/approve", h_admin_trial_approve, ADMIN, TX | BODY, 0},
    {"GET", "/v1/me/invitations", h_my_invitations, MEMBER, DB, 0},
    {"POST", "/v1/me/invitations/{id}/accept", h_my_invitation_accept, MEMBER, TX | BODY, 0},
    {"POST", "/v1/me/invitations/{id}/decline", h_my_invitation_decline, MEMBER, TX, 0},
};

const size_t svc_nroutes = sizeof(svc_routes) / sizeof(svc_routes[0]);
