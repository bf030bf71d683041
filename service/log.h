/* Structured JSON log lines on stderr. Never pass bodies, tokens, emails or health values. */
#ifndef CC_LOG_H
#define CC_LOG_H

enum svc_log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void svc_log_set_level(int level);
void svc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line per request: time, method, route pattern (not the raw path: it can carry share tokens),
 * status, duration, request id. */
void svc_log_access(const char *method, const char *route, int status, double ms,
                    const char *request_id);

#endif
