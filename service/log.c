#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int log_level = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void svc_log_set_level(int level)
{
    log_level = level;
}

static void now_iso(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (s) {
        /* One fputs per line keeps lines whole across threads (stdio locks the stream). */
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    json_decref(line);
}

void svc_log(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char t[40], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    now_iso(t, sizeof(t));
    emit(json_pack("{s:s, s:s, s:s}", "time", t, "level",
                   names[level < 0   ? 0
                         : level > 3 ? 3
                                     : level],
                   "msg", msg));
}

void svc_log_access(const char *method, const char *route, int status, double ms,
                    const char *request_id)
{
    if (log_level < LOG_INFO)
        return;
    char t[40];
    now_iso(t, sizeof(t));
    emit(json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:s}", "time", t, "level", "info", "method",
                   method, "route", route, "status", status, "duration_ms", ms, "request_id",
                   request_id));
}
