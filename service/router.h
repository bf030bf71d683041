/* Matching a request against the one route table (routes.c). */
#ifndef CC_ROUTER_H
#define CC_ROUTER_H

#include "svc.h"

enum svc_match { SVC_MATCH_OK, SVC_MATCH_NOT_FOUND, SVC_MATCH_METHOD };

/* The table and its length (routes.c). */
extern const struct svc_route svc_routes[];
extern const size_t svc_nroutes;

/* Match method and path against table[0..n). On OK, *route is set and params[] receive new strings
 * (the caller frees them) for each {x} segment. On METHOD, allow receives the comma-separated
 * permitted methods. Paths longer than 1024 bytes or with more than 16 segments never match. */
enum svc_match svc_route_match(const struct svc_route *table, size_t n, const char *method,
                               const char *path, const struct svc_route **route, char **params,
                               int *nparams, char *allow, size_t allowlen);
/* Index of a route in svc_routes (for metrics). */
size_t svc_route_index(const struct svc_route *route);

#endif
