/* CareCommons service: the request, response and route types every handler sees. */
#ifndef CC_SVC_H
#define CC_SVC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct db_conn;

/* Roles are bits so a route can admit several. */
enum svc_role {
    SVC_ROLE_NONE = 0,
    SVC_ROLE_MEMBER = 1 << 0,
    SVC_ROLE_RESEARCHER = 1 << 1,
    SVC_ROLE_COORDINATOR = 1 << 2,
    SVC_ROLE_ADMIN = 1 << 3,
    SVC_ROLE_ANY = 0xf,
};

const char *svc_role_name(unsigned role);  /* borrowed static string */
unsigned svc_role_parse(const char *name); /* 0 if unknown */

#define SVC_MAX_PARAMS 4
#define SVC_ID_LEN 37 /* uuid text + NUL */

struct svc_principal {
    char account_id[SVC_ID_LEN];
    unsigned role;
    char token_hash[65];
};

/* A request header or query argument, copied out of libmicrohttpd before the handler runs. */
struct svc_kv {
    const char *name, *value; /* value may be NULL (an argument without '=') */
    bool arg;                 /* a query argument, not a header */
};

struct svc_req {
    const struct svc_route *route;
    const char *method;
    const char *path;
    char *params[SVC_MAX_PARAMS]; /* path {id} values, owned by the request */
    int nparams;
    json_t *body;    /* parsed body (borrowed from the request) or NULL */
    const char *raw; /* raw body bytes (borrowed) */
    size_t rawlen;
    const struct svc_kv *kv; /* headers and query arguments (borrowed from the request) */
    size_t nkv;
    struct svc_principal who; /* filled when the route requires a role */
    struct db_conn *db;       /* checked out for the request when the route needs it */
    char request_id[65];
    char client_ip[64];
};

struct svc_header {
    char name[40];
    char value[256];
};

struct svc_resp {
    int status;
    json_t *body; /* owned; serialised compactly */
    char *text;   /* owned alternative to body (text/plain, PEM, Prometheus) */
    size_t textlen;
    const char *content_type; /* static string */
    struct svc_header headers[6];
    int nheaders;
};

typedef void (*svc_handler)(struct svc_req *req, struct svc_resp *resp);

enum svc_route_flags {
    SVC_R_DB = 1 << 0,         /* needs a database connection */
    SVC_R_TX = 1 << 1,         /* wrap in one transaction: commit on status < 400, else roll back */
    SVC_R_BODY = 1 << 2,       /* requires a JSON object body */
    SVC_R_IDEMPOTENT = 1 << 3, /* honours Idempotency-Key */
};

struct svc_route {
    const char *method;
    const char *pattern; /* "/v1/me/medications/{id}/doses" */
    svc_handler handler;
    unsigned roles; /* SVC_ROLE_NONE: public */
    unsigned flags;
    size_t max_body; /* 0: the configured default */
};

/* Response helpers. Each sets status and replaces the body; json bodies are stolen. */
void svc_json(struct svc_resp *resp, int status, json_t *body);
void svc_text(struct svc_resp *resp, int status, const char *content_type, char *text, size_t len);
void svc_header(struct svc_resp *resp, const char *name, const char *value);

/* RFC 9457 problem details, the one builder for every error. errors (stolen, may be NULL) is an
 * array of {field, message}. */
void svc_problem(struct svc_resp *resp, int status, const char *detail, json_t *errors);
/* A problem naming one field. */
void svc_problem_field(struct svc_resp *resp, int status, const char *field, const char *message);
/* 503 if the database connection was lost, else 500. */
void svc_problem_db(struct svc_resp *resp, struct db_conn *db);
const char *svc_status_title(int status); /* borrowed static string */

/* Query-string argument (borrowed from the connection) or NULL. */
const char *svc_arg(const struct svc_req *req, const char *name);
/* Request header (borrowed) or NULL. */
const char *svc_req_header(const struct svc_req *req, const char *name);

#endif
