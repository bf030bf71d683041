/* The HTTP server: libmicrohttpd with an internal epoll thread pool, limits, and the request pipeline
 * (route -> body -> auth -> transaction -> handler -> response). */
#ifndef CC_HTTP_H
#define CC_HTTP_H

/* Start serving per svc_cfg. Returns 0 or -1. */
int svc_http_start(void);
/* Stop accepting, let in-flight requests finish (bounded), close connections. */
void svc_http_stop(void);

#endif
