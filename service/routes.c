/* The route table: every endpoint in one place. Literal paths come before {id} patterns that would also
 * match them. */
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

    /* --- sync, portability and erasure (h_sync.c, h_fhir.c) --- */

    /* --- consent, sharing and audit (h_consent.c, h_share.c, h_audit.c) --- */

    /* --- research (h_research.c) --- */

    /* --- trials (h_trials.c) --- */
};

const size_t svc_nroutes = sizeof(svc_routes) / sizeof(svc_routes[0]);
