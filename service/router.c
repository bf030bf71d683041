#include "router.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 16
#define MAX_PATH 1024

/* Split "/a/b/c" into segments in place. Returns the count, or -1 if too many or empty segments. */
static int split(char *path, char **seg)
{
    int n = 0;
    if (*path != '/')
        return -1;
    char *p = path + 1;
    if (!*p)
        return 0;
    while (p) {
        if (n == MAX_SEGMENTS)
            return -1;
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (!*p)
            return -1; /* "//" or a trailing slash */
        seg[n++] = p;
        p = slash ? slash + 1 : NULL;
    }
    return n;
}

/* Does pattern match the split path? Fills params with pointers into the path copy. */
static bool match_pattern(const char *pattern, char **seg, int nseg, char **params, int *np)
{
    const char *p = pattern + 1;
    int i = 0;
    *np = 0;
    if (!*p)
        return nseg == 0;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= nseg)
            return false;
        if (p[0] == '{') {
            if (*np == SVC_MAX_PARAMS)
                return false;
            params[(*np)++] = seg[i];
        } else if (strlen(seg[i]) != len || strncmp(seg[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == nseg;
}

enum svc_match svc_route_match(const struct svc_route *table, size_t n, const char *method,
                               const char *path, const struct svc_route **route, char **params,
                               int *nparams, char *allow, size_t allowlen)
{
    char copy[MAX_PATH + 1];
    char *seg[MAX_SEGMENTS];
    char *found[SVC_MAX_PARAMS];
    int nseg, np = 0;
    bool path_known = false;

    *nparams = 0;
    if (allowlen)
        allow[0] = '\0';
    if (strlen(path) > MAX_PATH)
        return SVC_MATCH_NOT_FOUND;
    strcpy(copy, path);
    if ((nseg = split(copy, seg)) < 0)
        return SVC_MATCH_NOT_FOUND;

    for (size_t i = 0; i < n; i++) {
        if (!match_pattern(table[i].pattern, seg, nseg, found, &np))
            continue;
        if (strcmp(table[i].method, method) == 0) {
            for (int k = 0; k < np; k++)
                params[k] = strdup(found[k]);
            *nparams = np;
            *route = &table[i];
            return SVC_MATCH_OK;
        }
        /* Literal segments win over parameters: a later {id} route must not shadow this path's
         * methods, so collect every method whose pattern matches. */
        if (allowlen && !strstr(allow, table[i].method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", table[i].method);
        }
        path_known = true;
    }
    return path_known ? SVC_MATCH_METHOD : SVC_MATCH_NOT_FOUND;
}

size_t svc_route_index(const struct svc_route *route)
{
    return (size_t)(route - svc_routes);
}
