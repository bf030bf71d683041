/* Liveness, readiness, metrics and the web page. */
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int svc_schema_version;

void h_healthz(struct svc_req *req, struct svc_resp *resp)
{
    svc_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void h_readyz(struct svc_req *req, struct svc_resp *resp)
{
    PGresult *r = NULL;
    svc_problem(resp, 503, "the database is unreachable", NULL);
    svc_header(resp, "Retry-After", "5");
    if (!req->db)
        goto out;
    r = db_prep(req->db, "readyz", "SELECT coalesce(max(version), 0) FROM schema_migrations", 0,
                NULL);
    if (!r)
        goto out;
    int version = atoi(PQgetvalue(r, 0, 0));
    if (version != svc_schema_version) {
        svc_problem(resp, 503, "database migrations are not current", NULL);
        goto out;
    }
    resp->nheaders = 0;
    svc_json(resp, 200, json_pack("{s:s, s:i}", "status", "ready", "schema_version", version));
out:
    PQclear(r);
}

void h_metrics(struct svc_req *req, struct svc_resp *resp)
{
    size_t len = 0;
    char *text = svc_metrics_render(&len);
    if (text)
        svc_text(resp, 200, "text/plain; version=0.0.4", text, len);
}

void h_web(struct svc_req *req, struct svc_resp *resp)
{
    char path[4096];
    FILE *f = NULL;
    char *buf = NULL;
    long len;
    svc_problem(resp, 404, "no web page is installed", NULL);
    snprintf(path, sizeof(path), "%s/index.html", svc_cfg.web_dir);
    if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
        len > (4 << 20) || fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)len + 1)) ||
        fread(buf, 1, (size_t)len, f) != (size_t)len)
        goto out;
    svc_text(resp, 200, "text/html; charset=utf-8", buf, (size_t)len);
    svc_header(
        resp, "Content-Security-Policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'");
    buf = NULL;
out:
    free(buf);
    if (f)
        fclose(f);
}
