#include "metrics.h"
#include "db.h"
#include "router.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[] = {200, 201, 204, 304, 400, 401, 403, 404,
                               405, 409, 413, 422, 429, 500, 503, 0};
/* The last slot counts any other status. */
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static struct {
    size_t nroutes;
    atomic_ulong *count; /* (nroutes + 1) * NSTATUS */
    atomic_ulong hist[NBUCKETS + 1];
    atomic_ulong micros_sum;
    atomic_ulong total;
    atomic_ulong queue_rejected;
    atomic_long queue_depth;
} m;

int svc_metrics_init(size_t nroutes)
{
    m.nroutes = nroutes;
    m.count = calloc((nroutes + 1) * NSTATUS, sizeof(*m.count));
    return m.count ? 0 : -1;
}

void svc_metrics_free(void)
{
    free(m.count);
    m.count = NULL;
}

void svc_metrics_observe(size_t route, int status, double seconds)
{
    size_t s = NSTATUS - 1;
    if (!m.count)
        return;
    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (statuses[i] == status)
            s = i;
    if (route > m.nroutes)
        route = m.nroutes;
    atomic_fetch_add(&m.count[route * NSTATUS + s], 1);
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add(&m.hist[b], 1);
    atomic_fetch_add(&m.micros_sum, (unsigned long)(seconds * 1e6));
    atomic_fetch_add(&m.total, 1);
}

void svc_metrics_queue_rejected(void)
{
    atomic_fetch_add(&m.queue_rejected, 1);
}

void svc_metrics_queue_depth(long depth)
{
    atomic_store(&m.queue_depth, depth);
}

struct buf {
    char *s;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s)
            return;
        b->s = s;
        b->cap = cap;
    }
}

char *svc_metrics_render(size_t *len)
{
    struct buf b = {0};
    put(&b, "# HELP carecommons_http_requests_total HTTP requests by route and status.\n"
            "# TYPE carecommons_http_requests_total counter\n");
    for (size_t r = 0; r <= m.nroutes; r++)
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long n = atomic_load(&m.count[r * NSTATUS + s]);
            if (!n)
                continue;
            const char *method = r < m.nroutes ? svc_routes[r].method : "";
            const char *pattern = r < m.nroutes ? svc_routes[r].pattern : "unmatched";
            if (statuses[s])
                put(&b,
                    "carecommons_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} "
                    "%lu\n",
                    method, pattern, statuses[s], n);
            else
                put(&b,
                    "carecommons_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} "
                    "%lu\n",
                    method, pattern, n);
        }
    put(&b, "# HELP carecommons_http_request_duration_seconds Request latency.\n"
            "# TYPE carecommons_http_request_duration_seconds histogram\n");
    unsigned long cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += atomic_load(&m.hist[i]);
        put(&b, "carecommons_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n", buckets[i],
            cum);
    }
    cum += atomic_load(&m.hist[NBUCKETS]);
    put(&b, "carecommons_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    put(&b, "carecommons_http_request_duration_seconds_sum %.6f\n",
        atomic_load(&m.micros_sum) / 1e6);
    put(&b, "carecommons_http_request_duration_seconds_count %lu\n", atomic_load(&m.total));
    put(&b,
        "# HELP carecommons_db_pool_connections_in_use Database connections checked out.\n"
        "# TYPE carecommons_db_pool_connections_in_use gauge\n"
        "carecommons_db_pool_connections_in_use %d\n"
        "# HELP carecommons_db_pool_size Database pool size.\n"
        "# TYPE carecommons_db_pool_size gauge\n"
        "carecommons_db_pool_size %d\n",
        db_pool_in_use(), db_pool_size());
    put(&b,
        "# HELP carecommons_http_queue_depth Requests waiting for a handler thread.\n"
        "# TYPE carecommons_http_queue_depth gauge\n"
        "carecommons_http_queue_depth %ld\n"
        "# HELP carecommons_http_queue_rejected_total Requests answered 503 because the handler "
        "queue was full.\n"
        "# TYPE carecommons_http_queue_rejected_total counter\n"
        "carecommons_http_queue_rejected_total %lu\n",
        atomic_load(&m.queue_depth), atomic_load(&m.queue_rejected));
    *len = b.len;
    return b.s;
}
