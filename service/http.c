/* Request pipeline on libmicrohttpd: MHD's threads read and write, handler threads run the
 * pipeline. */
#include "http.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "svc.h"
#include "validate.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct MHD_Daemon *daemon_;
static atomic_int inflight;

/* A request header copied out of MHD. */
/* Per-request state kept by MHD between callbacks, owned by the connection (freed in on_completed).
 * While its job is queued or running the connection is suspended and only the handler thread
 * touches it; MHD sees it again after MHD_resume_connection. */
struct request {
    struct request *next; /* job queue link */
    struct MHD_Connection *conn;
    const struct svc_route *route;
    enum svc_match match;
    char allow[64];
    char *params[SVC_MAX_PARAMS];
    int nparams;
    char *body;
    size_t len, cap, limit;
    bool too_large;
    bool nul_in_url; /* the raw target held %00: refused, whatever it decodes to */
    struct timespec start;
    /* Copied at hand-off, so that the pipeline never asks MHD from a handler thread. */
    char *method, *url;
    struct svc_kv *headers; /* one allocation with the strings */
    size_t nheaders;
    char request_id[65];
    char client_ip[64];
    /* The answer, left by whichever thread ran the pipeline, queued by the MHD thread. */
    bool answered;
    unsigned status;
    struct MHD_Response *response;
};

/* The handler pool: a bounded FIFO of complete requests and the threads that run them. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct request *head, *tail;
    int depth;
    bool stopping; /* refuse new jobs; threads exit once the queue is empty */
    pthread_t *threads;
    int nthreads;
} jobs = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};

static double elapsed(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void request_id(struct MHD_Connection *conn, char out[65])
{
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char c = given[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    if (ok)
        memcpy(out, given, n + 1);
    else if (svc_random_hex(16, out) < 0)
        strcpy(out, "unknown");
}

static void client_ip(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, out, (socklen_t)len);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)len);
}

struct copy {
    struct svc_kv *v;
    char *p;
    size_t n, bytes;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct copy *c = cls;
    (void)kind;
    c->n++;
    c->bytes += strlen(key) + 1 + (value ? strlen(value) + 1 : 0);
    return MHD_YES;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct copy *c = cls;
    struct svc_kv *v = &c->v[c->n++];
    v->arg = kind == MHD_GET_ARGUMENT_KIND;
    v->name = c->p;
    c->p = stpcpy(c->p, key) + 1;
    v->value = value ? c->p : NULL;
    if (value)
        c->p = stpcpy(c->p, value) + 1;
    return MHD_YES;
}

/* Copy method, url, headers, request id and client address into rq, which owns the copies (MHD
 * thread). Returns 0 or -1. */
static int snapshot(struct MHD_Connection *conn, struct request *rq, const char *method,
                    const char *url)
{
    struct copy c = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, count_header, &c);
    rq->headers = malloc(c.n * sizeof(struct svc_kv) + c.bytes + 1);
    rq->method = strdup(method);
    rq->url = strdup(url);
    if (!rq->headers || !rq->method || !rq->url)
        return -1;
    c.v = rq->headers;
    c.p = (char *)(rq->headers + c.n);
    c.n = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, copy_header, &c);
    rq->nheaders = c.n;
    request_id(conn, rq->request_id);
    client_ip(conn, rq->client_ip, sizeof(rq->client_ip));
    return 0;
}

/* A request header (never a query argument) from the snapshot, borrowed from rq, or NULL; names
 * compare as MHD compares them. */
static const char *header(const struct request *rq, const char *name)
{
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!rq->headers[i].arg && strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

/* Bearer token (the Authorization header, may be NULL) -> principal. Returns 200 when
 * authenticated, 401 or 503 otherwise. */
static int authenticate(struct svc_req *req, const char *h)
{
    static const char *sql =
        "SELECT a.id, a.role FROM session s JOIN account a ON a.id = s.account_id "
        "WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND "
        "a.deleted_at IS NULL";
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 401;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    size_t n = strlen(tok);
    if (n < 16 || n > 128)
        return 401;
    svc_sha256_hex(tok, n, req->who.token_hash);
    const char *params[] = {req->who.token_hash};
    PGresult *r = db_prep(req->db, "auth_token", sql, 1, params);
    if (!r)
        return 503;
    int status = 401;
    if (PQntuples(r) == 1) {
        snprintf(req->who.account_id, sizeof(req->who.account_id), "%s", PQgetvalue(r, 0, 0));
        req->who.role = svc_role_parse(PQgetvalue(r, 0, 1));
        status = 200;
    }
    PQclear(r);
    return status;
}

/* Idempotency-Key: replay a stored response, or 422 when the key was used with another body.
 * Returns 1 when resp holds the answer, 0 to run the handler, -1 on database failure. */
static int idempotency_lookup(struct svc_req *req, struct svc_resp *resp, const char *key,
                              const char *hash)
{
    const char *params[] = {req->who.account_id, key};
    PGresult *r =
        db_prep(req->db, "idem_get",
                "SELECT request_hash, status, response FROM idempotency_key "
                "WHERE member_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'",
                2, params);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1) {
        if (strcmp(PQgetvalue(r, 0, 0), hash) != 0) {
            svc_problem_field(resp, 422, "Idempotency-Key",
                              "was already used with a different request");
        } else {
            json_t *body = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
            svc_json(resp, atoi(PQgetvalue(r, 0, 1)), body);
            svc_header(resp, "Idempotent-Replayed", "true");
        }
        rc = 1;
    }
    PQclear(r);
    return rc;
}

static int idempotency_store(struct svc_req *req, struct svc_resp *resp, const char *key,
                             const char *hash)
{
    char status[8];
    char *body = resp->body ? json_dumps(resp->body, JSON_COMPACT) : strdup("null");
    snprintf(status, sizeof(status), "%d", resp->status);
    const char *params[] = {req->who.account_id, key, hash, status, body};
    PGresult *r =
        db_prep(req->db, "idem_put",
                "INSERT INTO idempotency_key (member_id, key, request_hash, status, response) "
                "VALUES ($1, $2, $3, $4::int, $5) ON CONFLICT (member_id, key) DO UPDATE "
                "SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, "
                "response = EXCLUDED.response, created_at = now()",
                5, params);
    free(body);
    PQclear(r);
    return r ? 0 : -1;
}

/* The pipeline. Fills resp; never fails to produce a response. */
static void dispatch(struct request *rq, struct svc_req *req, struct svc_resp *resp)
{
    json_error_t jerr;
    bool in_tx = false;
    const char *idem_key = NULL;
    char idem_hash[65] = "";

    svc_problem(resp, 500, NULL, NULL);
    if (rq->nul_in_url) {
        svc_problem(resp, 400, "the request URL holds an encoded NUL byte (%00)", NULL);
        goto out;
    }
    if (rq->match == SVC_MATCH_NOT_FOUND) {
        svc_problem(resp, 404, "no such resource", NULL);
        goto out;
    }
    if (rq->match == SVC_MATCH_METHOD) {
        svc_problem(resp, 405, "method not allowed on this resource", NULL);
        svc_header(resp, "Allow", rq->allow);
        goto out;
    }
    if (rq->too_large) {
        svc_problem(resp, 413, "the request body is larger than this resource accepts", NULL);
        goto out;
    }
    /* Query values reach SQL as text, which PostgreSQL refuses unless it is UTF-8; a 422 naming
     * the parameter, as for any other invalid query value. */
    for (size_t i = 0; i < rq->nheaders; i++) {
        const struct svc_kv *kv = &rq->headers[i];
        if (kv->arg && (!svc_valid_utf8(kv->name) || (kv->value && !svc_valid_utf8(kv->value)))) {
            svc_problem_field(resp, 422, svc_valid_utf8(kv->name) ? kv->name : "query",
                              "must be UTF-8 text");
            goto out;
        }
    }
    if (rq->len > 0) {
        req->body = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!req->body) {
            char detail[256];
            snprintf(detail, sizeof(detail), "malformed JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
            svc_problem(resp, 400, detail, NULL);
            goto out;
        }
        if (!json_is_object(req->body)) {
            svc_problem(resp, 400, "the request body must be a JSON object", NULL);
            goto out;
        }
    } else if (rq->route->flags & SVC_R_BODY) {
        svc_problem(resp, 400, "a JSON object body is required", NULL);
        goto out;
    }
    if (rq->route->flags & SVC_R_DB || rq->route->roles) {
        if (!(req->db = db_acquire())) {
            svc_problem(resp, 503, "the database is unavailable; try again shortly", NULL);
            svc_header(resp, "Retry-After", "5");
            goto out;
        }
    }
    if (rq->route->roles) {
        const char *authorization = header(rq, "Authorization");
        int st = authenticate(req, authorization);
        if (st == 503) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        if (st == 401) {
            svc_problem(resp, 401, "a valid bearer token is required", NULL);
            svc_header(resp, "WWW-Authenticate",
                       authorization ? "Bearer realm=\"carecommons\", error=\"invalid_token\""
                                     : "Bearer realm=\"carecommons\"");
            goto out;
        }
        if (!(req->who.role & rq->route->roles)) {
            svc_problem(resp, 403, "this account's role may not use this resource", NULL);
            goto out;
        }
    }
    if (rq->route->flags & SVC_R_TX) {
        if (db_cmd(req->db, "BEGIN") < 0) {
            svc_problem_db(resp, req->db);
            goto out;
        }
        in_tx = true;
    }
    if (rq->route->flags & SVC_R_IDEMPOTENT && (idem_key = header(rq, "Idempotency-Key"))) {
        size_t klen = strlen(idem_key);
        bool visible = true;
        for (const char *k = idem_key; *k; k++)
            visible = visible && *k > 0x20 && *k < 0x7f;
        if (klen < 1 || klen > 200 || !visible) {
            svc_problem_field(resp, 400, "Idempotency-Key",
                              "must be 1 to 200 visible ASCII characters");
            goto out;
        }
        /* The hash binds the key to this exact request. */
        size_t plen = strlen(req->path);
        char *buf = malloc(plen + 1 + rq->len);
        if (!buf)
            goto out;
        memcpy(buf, req->path, plen);
        buf[plen] = '\n';
        if (rq->len)
            memcpy(buf + plen + 1, rq->body, rq->len);
        svc_sha256_hex(buf, plen + 1 + rq->len, idem_hash);
        free(buf);
        int found = idempotency_lookup(req, resp, idem_key, idem_hash);
        if (found < 0)
            svc_problem_db(resp, req->db);
        if (found)
            goto out;
    }

    svc_problem(resp, 500, NULL, NULL);
    rq->route->handler(req, resp);

    if (idem_key && resp->status < 400 && idempotency_store(req, resp, idem_key, idem_hash) < 0)
        svc_problem_db(resp, req->db);
out:
    if (in_tx) {
        if (resp->status < 400) {
            if (db_cmd(req->db, "COMMIT") < 0)
                svc_problem_db(resp, req->db);
        } else {
            db_cmd(req->db, "ROLLBACK");
        }
    }
    db_release(req->db);
    req->db = NULL;
}

/* A new MHD_Response for resp (the caller queues or destroys it), or NULL. Takes resp->text. */
static struct MHD_Response *build_response(struct svc_resp *resp, const char *request_id)
{
    struct MHD_Response *r;
    if (resp->body) {
        char *s = json_dumps(resp->body, JSON_COMPACT);
        if (!s)
            return NULL;
        r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
        if (!r)
            free(s);
    } else if (resp->text) {
        r = MHD_create_response_from_buffer(resp->textlen, resp->text, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->text = NULL;
    } else {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return NULL;
    if (resp->content_type && (resp->body || resp->textlen))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    MHD_add_response_header(r, "X-Request-Id", request_id);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    return r;
}

/* The svc_req a handler sees, pointing into rq (which keeps owning everything). */
static void request_init(struct request *rq, struct svc_req *req)
{
    *req = (struct svc_req){.route = rq->route,
                            .method = rq->method,
                            .path = rq->url,
                            .kv = rq->headers,
                            .nkv = rq->nheaders};
    for (int i = 0; i < rq->nparams; i++)
        req->params[i] = rq->params[i];
    req->nparams = rq->nparams;
    req->raw = rq->body;
    req->rawlen = rq->len;
    snprintf(req->request_id, sizeof(req->request_id), "%s", rq->request_id);
    snprintf(req->client_ip, sizeof(req->client_ip), "%s", rq->client_ip);
}

/* Make resp rq's answer (the MHD_Response is owned by rq until queued), count and log the request,
 * and free what req and resp own. Any thread. */
static void answer(struct request *rq, struct svc_req *req, struct svc_resp *resp)
{
    rq->response = build_response(resp, rq->request_id);
    rq->status = (unsigned)resp->status;
    rq->answered = true;
    double secs = elapsed(&rq->start);
    size_t idx = rq->route ? svc_route_index(rq->route) : svc_nroutes;
    svc_metrics_observe(idx, resp->status, secs);
    svc_log_access(rq->method, rq->route ? rq->route->pattern : "-", resp->status, secs * 1e3,
                   rq->request_id);
    json_decref(req->body);
    json_decref(resp->body);
    free(resp->text);
}

/* The pipeline for a complete request; the answer is left in rq. */
static void run(struct request *rq)
{
    struct svc_req req;
    struct svc_resp resp = {.status = 500};
    request_init(rq, &req);
    dispatch(rq, &req, &resp);
    answer(rq, &req, &resp);
}

/* 503 without running the pipeline: the handler queue is full, or the server is stopping. */
static void refuse(struct request *rq, bool stopping)
{
    struct svc_req req;
    struct svc_resp resp = {.status = 500};
    request_init(rq, &req);
    svc_problem(&resp, 503,
                stopping ? "the server is shutting down; try again shortly"
                         : "the server is busy; try again shortly",
                NULL);
    svc_header(&resp, "Retry-After", "1");
    if (!stopping)
        svc_metrics_queue_rejected();
    answer(rq, &req, &resp);
}

/* Give rq's answer to MHD (MHD thread). MHD_NO closes the connection when there is none. */
static enum MHD_Result queue_answer(struct MHD_Connection *conn, struct request *rq)
{
    enum MHD_Result ret = MHD_NO;
    if (rq->response) {
        ret = MHD_queue_response(conn, rq->status, rq->response);
        MHD_destroy_response(rq->response);
        rq->response = NULL;
    }
    return ret;
}

/* Queue a complete request for a handler thread and suspend its connection (MHD thread). Returns 0
 * when queued, 1 when the queue is full, 2 when the server is stopping; the connection stays active
 * then. */
static int enqueue(struct request *rq)
{
    int rc = 0;
    pthread_mutex_lock(&jobs.lock);
    if (jobs.stopping) {
        rc = 2;
    } else if (jobs.depth >= svc_cfg.queue_limit) {
        rc = 1;
    } else {
        /* Suspend before a handler can see the job: resuming an active one is undefined. */
        MHD_suspend_connection(rq->conn);
        rq->next = NULL;
        if (jobs.tail)
            jobs.tail->next = rq;
        else
            jobs.head = rq;
        jobs.tail = rq;
        svc_metrics_queue_depth(++jobs.depth);
        pthread_cond_signal(&jobs.ready);
    }
    pthread_mutex_unlock(&jobs.lock);
    return rc;
}

/* A handler thread: runs queued requests in order and resumes their connections, until stopped and
 * the queue is empty. */
static void *handler_thread(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&jobs.lock);
        while (!jobs.head && !jobs.stopping)
            pthread_cond_wait(&jobs.ready, &jobs.lock);
        struct request *rq = jobs.head;
        if (rq) {
            jobs.head = rq->next;
            if (!jobs.head)
                jobs.tail = NULL;
            svc_metrics_queue_depth(--jobs.depth);
        }
        pthread_mutex_unlock(&jobs.lock);
        if (!rq)
            break;
        struct MHD_Connection *conn = rq->conn;
        run(rq);
        /* rq is the connection's again from here: MHD may queue the answer and free rq at once. */
        MHD_resume_connection(conn);
    }
    return NULL;
}

/* Refuse new jobs, let the threads finish the queued ones, join them. */
static void handlers_stop(void)
{
    pthread_mutex_lock(&jobs.lock);
    jobs.stopping = true;
    pthread_cond_broadcast(&jobs.ready);
    pthread_mutex_unlock(&jobs.lock);
    for (int i = 0; i < jobs.nthreads; i++)
        pthread_join(jobs.threads[i], NULL);
    free(jobs.threads);
    jobs.threads = NULL;
    jobs.nthreads = 0;
}

static int handlers_start(void)
{
    int n = svc_cfg.handler_threads > 0 ? svc_cfg.handler_threads : svc_cfg.pool_size;
    jobs.stopping = false;
    if (!(jobs.threads = calloc((size_t)n, sizeof(*jobs.threads))))
        return -1;
    /* They inherit main's mask: the stop signals stay blocked. */
    while (jobs.nthreads < n) {
        if (pthread_create(&jobs.threads[jobs.nthreads], NULL, handler_thread, NULL) != 0) {
            svc_log(LOG_ERROR, "cannot start handler threads");
            handlers_stop();
            return -1;
        }
        jobs.nthreads++;
    }
    return 0;
}

/* The request is complete (MHD thread): copy it out of MHD, then answer here when it needs no
 * database (routing misses, 413, public routes without a database), else hand it to a handler
 * thread. */
static enum MHD_Result hand_off(struct MHD_Connection *conn, struct request *rq, const char *method,
                                const char *url)
{
    if (snapshot(conn, rq, method, url) < 0)
        return MHD_NO;
    if (rq->match != SVC_MATCH_OK || rq->too_large ||
        !(rq->route->flags & SVC_R_DB || rq->route->roles)) {
        run(rq);
    } else {
        int q = enqueue(rq);
        if (q == 0)
            return MHD_YES;
        refuse(rq, q == 2);
    }
    return queue_answer(conn, rq);
}

/* The raw request target, before MHD decodes it: "%00" decodes to a NUL that silently cuts the
 * path or an argument short (DELETE .../<id>%00zz/doses/<dose> would act on .../<id>), so such a
 * request is marked here and refused. The mark is the address of a static, not an allocation:
 * on_completed is not promised for a request the access handler never saw. */
static char nul_in_url_mark;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    for (const char *p = uri ? strchr(uri, '%') : NULL; p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return &nul_in_url_mark;
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct request *rq = *con_cls;
    if (!rq || *con_cls == (void *)&nul_in_url_mark) {
        bool nul = *con_cls != NULL;
        if (!(rq = calloc(1, sizeof(*rq))))
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        atomic_fetch_add(&inflight, 1);
        *con_cls = rq;
        rq->nul_in_url = nul;
        rq->conn = conn;
        rq->match = svc_route_match(svc_routes, svc_nroutes, method, url, &rq->route, rq->params,
                                    &rq->nparams, rq->allow, sizeof(rq->allow));
        if (rq->match != SVC_MATCH_OK)
            rq->route = NULL;
        rq->limit =
            rq->route && rq->route->max_body ? rq->route->max_body : (size_t)svc_cfg.max_body;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > rq->limit)
            rq->too_large = true;
        return MHD_YES;
    }
    /* Called again after a handler thread resumed the connection. */
    if (rq->answered)
        return queue_answer(conn, rq);
    if (*upload_size) {
        if (!rq->too_large) {
            if (rq->len + *upload_size > rq->limit) {
                rq->too_large = true;
                free(rq->body);
                rq->body = NULL;
                rq->len = rq->cap = 0;
            } else {
                if (rq->len + *upload_size + 1 > rq->cap) {
                    size_t cap = rq->cap ? rq->cap : 4096;
                    while (cap < rq->len + *upload_size + 1)
                        cap *= 2;
                    char *b = realloc(rq->body, cap);
                    if (!b)
                        return MHD_NO;
                    rq->body = b;
                    rq->cap = cap;
                }
                memcpy(rq->body + rq->len, upload_data, *upload_size);
                rq->len += *upload_size;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return hand_off(conn, rq, method, url);
}

/* MHD calls this only for active connections, so never while a handler thread holds rq: a client
 * that went away during its job is noticed, and rq freed here, after the resume. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *con_cls;
    if (!rq || *con_cls == (void *)&nul_in_url_mark) {
        *con_cls = NULL;
        return;
    }
    if (rq->response)
        MHD_destroy_response(rq->response);
    for (int i = 0; i < rq->nparams; i++)
        free(rq->params[i]);
    free(rq->body);
    free(rq->method);
    free(rq->url);
    free(rq->headers);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    svc_log(LOG_DEBUG, "http: %s", msg);
}

int svc_http_start(void)
{
    char host[128];
    int port;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (svc_config_listen(host, sizeof(host), &port) < 0) {
        svc_log(LOG_ERROR, "bad listen address (want host:port)");
        return -1;
    }
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        svc_log(LOG_ERROR, "bad listen host %s (want an IPv4 address)", host);
        return -1;
    }
    addr.sin_port = htons((uint16_t)port);
    if (handlers_start() < 0)
        return -1;
    /* MHD's threads only read and write; a complete request is suspended until a handler thread
     * answers. */
    daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)svc_cfg.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)svc_cfg.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)svc_cfg.max_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)svc_cfg.connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)svc_cfg.max_header, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!daemon_) {
        svc_log(LOG_ERROR, "cannot listen on %s", svc_cfg.listen);
        handlers_stop();
        return -1;
    }
    svc_log(LOG_INFO, "listening on http://%s", svc_cfg.listen);
    return 0;
}

/* Wait until no request is in flight (answers sent), at most ticks * 10 ms. */
static void wait_idle(int ticks)
{
    for (int i = 0; i < ticks && atomic_load(&inflight) > 0; i++)
        usleep(10000);
}

void svc_http_stop(void)
{
    if (!daemon_)
        return;
    MHD_socket fd = MHD_quiesce_daemon(daemon_);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Let in-flight requests finish, at most ten seconds. */
    wait_idle(1000);
    /* Then the handler threads finish what is queued, resuming every suspended connection
     * (MHD_stop_daemon must not find one), and exit; answers they just made get a moment to go out.
     */
    handlers_stop();
    wait_idle(100);
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
