/* Responses and RFC 9457 problem details: the one error builder. */
#include "db.h"
#include "svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *svc_status_title(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

static void clear(struct svc_resp *resp)
{
    json_decref(resp->body);
    resp->body = NULL;
    free(resp->text);
    resp->text = NULL;
    resp->textlen = 0;
}

void svc_json(struct svc_resp *resp, int status, json_t *body)
{
    clear(resp);
    resp->status = status;
    resp->body = body;
    resp->content_type = "application/json";
}

void svc_text(struct svc_resp *resp, int status, const char *content_type, char *text, size_t len)
{
    clear(resp);
    resp->status = status;
    resp->text = text;
    resp->textlen = len;
    resp->content_type = content_type;
}

void svc_header(struct svc_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders == (int)(sizeof(resp->headers) / sizeof(resp->headers[0])))
        return;
    struct svc_header *h = &resp->headers[resp->nheaders++];
    snprintf(h->name, sizeof(h->name), "%s", name);
    snprintf(h->value, sizeof(h->value), "%s", value);
}

void svc_problem(struct svc_resp *resp, int status, const char *detail, json_t *errors)
{
    char type[64];
    snprintf(type, sizeof(type), "https://carecommons.example/problems/%d", status);
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", svc_status_title(status),
                          "status", status, "detail", detail ? detail : svc_status_title(status));
    if (p && errors && json_array_size(errors))
        json_object_set_new(p, "errors", errors);
    else
        json_decref(errors);
    svc_json(resp, status, p);
    resp->content_type = "application/problem+json";
}

void svc_problem_field(struct svc_resp *resp, int status, const char *field, const char *message)
{
    char detail[256];
    snprintf(detail, sizeof(detail), "%s: %s", field, message);
    svc_problem(resp, status, detail,
                json_pack("[{s:s, s:s}]", "field", field, "message", message));
}

void svc_problem_db(struct svc_resp *resp, struct db_conn *db)
{
    const char *state = db_sqlstate(db);
    /* Serialization failure, deadlock: the request can simply be retried. */
    if (!db_lost(db) && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        svc_problem(resp, 409, "a concurrent change conflicted with this request; retry it", NULL);
    else if (db_lost(db))
        svc_problem(resp, 503, "the database is unavailable; try again shortly", NULL);
    else
        svc_problem(resp, 500, "the request could not be completed", NULL);
}

/* From the copy taken on the MHD thread: handlers run on other threads. Headers compare without
 * case, as HTTP and MHD do; argument names exactly. */
static const char *lookup(const struct svc_req *req, const char *name, bool arg)
{
    if (!req || !name)
        return NULL;
    for (size_t i = 0; i < req->nkv; i++)
        if (req->kv[i].arg == arg &&
            (arg ? strcmp(req->kv[i].name, name) : strcasecmp(req->kv[i].name, name)) == 0)
            return req->kv[i].value;
    return NULL;
}

const char *svc_arg(const struct svc_req *req, const char *name)
{
    return lookup(req, name, true);
}

const char *svc_req_header(const struct svc_req *req, const char *name)
{
    return lookup(req, name, false);
}
