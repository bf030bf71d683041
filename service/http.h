/* The HTTP server: libmicrohttpd with an internal epoll thread pool that reads and writes, a pool
 * of handler threads behind a bounded queue that runs the request pipeline (route -> body -> auth
 * -> transaction -> handler -> response), and limits. */
#ifndef CC_HTTP_H
#define CC_HTTP_H

/* Start the handler threads and serve per svc_cfg. Returns 0 or -1 (nothing left running). */
int svc_http_start(void);
/* Stop accepting, let in-flight and queued requests finish (bounded), join the handler threads,
 * close connections. */
void svc_http_stop(void);

#endif
