/* Field validation for JSON bodies: every check records {field, message}; a handler reports them
 * all at once as a 422 problem. */
#ifndef CC_VALIDATE_H
#define CC_VALIDATE_H

#include "svc.h"

#include <stdint.h>

struct svc_v {
    json_t *errors; /* owned array of {field, message} */
    char prefix[96];
};

/* Results of the field getters. */
enum { SVC_V_BAD = -1, SVC_V_ABSENT = 0, SVC_V_OK = 1, SVC_V_NULL = 2 };

void svc_v_init(struct svc_v *v, const char *prefix);
void svc_v_free(struct svc_v *v);
void svc_v_error(struct svc_v *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool svc_v_failed(const struct svc_v *v);
/* Respond 422 naming every recorded field; the errors move into the response. */
void svc_v_problem(struct svc_v *v, struct svc_resp *resp);

/* Fields not in allowed (NULL-terminated) are errors. Returns the number of unknown fields. */
int svc_v_only(struct svc_v *v, const json_t *obj, const char *const *allowed);
/* Same, with more allowed keys (an envelope's, as a batch item's "type"); also may be NULL. */
int svc_v_only_also(struct svc_v *v, const json_t *obj, const char *const *allowed,
                    const char *const *also);
/* Getters: SVC_V_OK with *out set, SVC_V_ABSENT, SVC_V_NULL (explicit null; an error when required)
 * or SVC_V_BAD (error recorded). Strings are borrowed from obj and must be valid UTF-8 without NUL.
 */
int svc_v_str(struct svc_v *v, const json_t *obj, const char *key, bool required, size_t minlen,
              size_t maxlen, const char **out);
int svc_v_enum(struct svc_v *v, const json_t *obj, const char *key, bool required,
               const char *const *values, int *out);
int svc_v_int(struct svc_v *v, const json_t *obj, const char *key, bool required, long long min,
              long long max, long long *out);
int svc_v_num(struct svc_v *v, const json_t *obj, const char *key, bool required, double min,
              double max, double *out);
int svc_v_bool(struct svc_v *v, const json_t *obj, const char *key, bool required, bool *out);
/* Calendar date YYYY-MM-DD (out receives it, NUL-terminated). */
int svc_v_date(struct svc_v *v, const json_t *obj, const char *key, bool required, char out[11]);
/* RFC 3339 timestamp with an offset; *epoch receives unix seconds, out the text as given. */
int svc_v_time(struct svc_v *v, const json_t *obj, const char *key, bool required, int64_t *epoch,
               char out[40]);

/* Query argument `name`, whose value is s (NULL when absent), as an RFC 3339 timestamp with an
 * offset, 1900..2199, upper-cased into out ("" when absent) with *epoch its unix seconds. false
 * with an error recorded when invalid (the message says to write + as %2B: a bare + in a query
 * string reads as a space). Takes the value, not the request, so that this file stays free of
 * the HTTP layer (the fuzzers link it alone). */
bool svc_v_time_arg(struct svc_v *v, const char *name, const char *s, char out[40], int64_t *epoch);

/* A list of consent data categories (["symptoms", ...], each once) as a consent.h bitmask; errors
 * name the bad element (`categories[2]`). */
int svc_v_categories(struct svc_v *v, const json_t *obj, const char *key, bool required,
                     unsigned *out);

/* Pure parsers (also used for query strings). Return 0 or -1. */
int svc_parse_date(const char *s, int *y, int *m, int *d);
int svc_parse_time(const char *s, int64_t *epoch);
bool svc_is_uuid(const char *s);
/* Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF); NUL ends s. */
bool svc_valid_utf8(const char *s);

#endif
