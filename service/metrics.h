/* Prometheus metrics: requests by route and status, a latency histogram, pool and handler-queue
 * use. */
#ifndef CC_METRICS_H
#define CC_METRICS_H

#include <stddef.h>

int svc_metrics_init(size_t nroutes);
void svc_metrics_free(void);
/* route: index into svc_routes, or nroutes for unmatched requests. */
void svc_metrics_observe(size_t route, int status, double seconds);
/* The handler queue (http.c): a request refused with 503 because the queue was full; its length
 * now. */
void svc_metrics_queue_rejected(void);
void svc_metrics_queue_depth(long depth);
/* The exposition text: a new malloc'd string; *len receives its length. */
char *svc_metrics_render(size_t *len);

#endif
