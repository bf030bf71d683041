/* The cohort language: JSON -> validated tree -> canonical text, plain words and parameterised SQL.
 * See cohort.h for the grammar and the meaning of each criterion. */
#include "cohort.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_MAX_LEN ((int)sizeof(((struct stats_error *)0)->path))
#define ID_BUF (STATS_CATALOG_ID_MAX + 1)
#define DATE_BUF 11
#define UNSET (-1)
/* Unknown keys are echoed in error paths; keep that short and printable. */
#define KEY_ECHO_MAX 40
#define ROOT_PATH_MAX 64
#define DESCRIBE_MAX (64u * 1024u)
#define CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

enum node_type {
    NT_ALL,
    NT_ANY,
    NT_NOT,
    NT_AGE,
    NT_SEX,
    NT_COUNTRY,
    NT_POSTAL,
    NT_CONDITION,
    NT_SYMPTOM,
    NT_MEDICATION,
    NT_EVALUATION,
    NT_GOAL,
};

static const char *const sex_values[] = {"female", "male", "intersex", "unknown"};
static const char *const condition_status_values[] = {"active", "remission", "resolved"};
static const char *const stop_reason_values[] = {"side_effects", "not_effective", "cost",
                                                 "remission",    "doctor_advice", "other"};
/* In increasing order: effectiveness_at_least k matches values k.. of this list. */
static const char *const effectiveness_values[] = {"none", "slight", "moderate", "major"};
static const char *const goal_kind_values[] = {"symptom_target", "adherence", "custom"};
static const char *const goal_status_values[] = {"active", "achieved", "abandoned"};

/* Numeric fields hold UNSET when absent. Fields whose absence means the same as a value (severity
 * 0..10, one entry, ever) are stored as that value, so equivalent inputs give equal trees. */
struct node {
    enum node_type type;
    int nkids;
    struct node *kids[STATS_COHORT_MAX_CHILDREN];
    union {
        struct {
            int min, max;
        } age;
        int sex;
        struct {
            int n; /* sorted, distinct */
            char code[STATS_COHORT_MAX_COUNTRIES][3];
        } country;
        char postal[4]; /* upper case */
        struct {
            char id[ID_BUF];
            int status;
            char before[DATE_BUF], after[DATE_BUF]; /* "" when absent */
        } cond;
        struct {
            char id[ID_BUF];
            int min_sev, max_sev, within_days, at_least_entries, weeks_at_least, weeks_of_last;
        } sym;
        struct {
            char id[ID_BUF];
            int current; /* UNSET, 0, 1 */
            int ever;    /* 0, 1 */
            int started_within_days, stop_reason;
        } med;
        struct {
            char id[ID_BUF];
            int at_least;
            char side_effect[ID_BUF]; /* "" when absent */
        } eval;
        struct {
            int kind, status;
        } goal;
    } u;
};

/* One allocation holds the whole tree; the pre-scan guarantees it is large enough. */
struct stats_cohort {
    struct node *root;
    int n;
    struct node nodes[STATS_COHORT_MAX_NODES];
};

struct parser {
    struct stats_cohort *c;
    stats_catalog_fn cat;
    void *cat_ctx;
    struct stats_errors *errs;
    int count;
    bool failed; /* also set when errs is full */
};

/* ---- error paths ---- */

__attribute__((format(printf, 3, 4))) static void add_error(struct parser *p, const char *path,
                                                            const char *fmt, ...)
{
    struct stats_error *e;
    va_list ap;

    p->failed = true;
    if (p->errs->n >= STATS_COHORT_MAX_ERRORS)
        return;
    e = &p->errs->e[p->errs->n++];
    if (snprintf(e->path, sizeof(e->path), "%s", path) < 0)
        e->path[0] = '\0';
    va_start(ap, fmt);
    if (vsnprintf(e->message, sizeof(e->message), fmt, ap) < 0)
        e->message[0] = '\0';
    va_end(ap);
}

/* dst = base "." name; silently truncated at the path size. */
static void path_field(char *dst, const char *base, const char *name)
{
    if (snprintf(dst, PATH_MAX_LEN, "%s.%s", base, name) < 0)
        dst[0] = '\0';
}

static void path_index(char *dst, const char *base, size_t i)
{
    if (snprintf(dst, PATH_MAX_LEN, "%s[%zu]", base, i) < 0)
        dst[0] = '\0';
}

static bool is_alnum_ascii(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A key from the input: shown with anything but [A-Za-z0-9_-] as '?' and cut to KEY_ECHO_MAX. */
static void path_key(char *dst, const char *base, const char *key)
{
    char safe[KEY_ECHO_MAX + 4];
    size_t i;

    for (i = 0; i < KEY_ECHO_MAX && key[i]; i++)
        safe[i] = (is_alnum_ascii(key[i]) || key[i] == '_' || key[i] == '-') ? key[i] : '?';
    if (key[i])
        memcpy(safe + i, "...", 3), i += 3;
    safe[i] = '\0';
    path_field(dst, base, safe);
}

/* ---- pre-scan: depth and size, before anything else ---- */

static bool group_key(const char *key)
{
    return strcmp(key, "all") == 0 || strcmp(key, "any") == 0;
}

/* Walks only the node positions (root, all/any elements, not values), stopping at the first node
 * past the limits, so its own recursion is bounded too. */
static int scan(struct parser *p, const json_t *j, const char *path, int depth)
{
    char sub[PATH_MAX_LEN], elem[PATH_MAX_LEN];
    const char *key;
    json_t *v;
    void *it;
    size_t i;

    if (depth > STATS_COHORT_MAX_DEPTH) {
        add_error(p, path, "nesting is deeper than %d levels", STATS_COHORT_MAX_DEPTH);
        return -1;
    }
    if (++p->count > STATS_COHORT_MAX_NODES) {
        add_error(p, path, "more than %d nodes", STATS_COHORT_MAX_NODES);
        return -1;
    }
    if (!json_is_object(j) || json_object_size(j) != 1)
        return 0;
    it = json_object_iter((json_t *)j);
    key = json_object_iter_key(it);
    v = json_object_iter_value(it);
    path_field(sub, path, key);
    if (strcmp(key, "not") == 0)
        return scan(p, v, sub, depth + 1);
    if (group_key(key) && json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            path_index(elem, sub, i);
            if (scan(p, json_array_get(v, i), elem, depth + 1) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- field readers: 1 present and valid, 0 absent, -1 invalid (error recorded) ---- */

static int get_int(struct parser *p, const json_t *obj, const char *path, const char *name, int lo,
                   int hi, bool required, int *out)
{
    char sub[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, name);
    json_int_t x;

    path_field(sub, path, name);
    if (!v) {
        if (!required)
            return 0;
        add_error(p, sub, "is required");
        return -1;
    }
    if (!json_is_integer(v)) {
        add_error(p, sub, "must be an integer");
        return -1;
    }
    x = json_integer_value(v);
    if (x < lo || x > hi) {
        add_error(p, sub, "must be between %d and %d", lo, hi);
        return -1;
    }
    *out = (int)x;
    return 1;
}

static int get_bool(struct parser *p, const json_t *obj, const char *path, const char *name,
                    int *out)
{
    char sub[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, name);

    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        path_field(sub, path, name);
        add_error(p, sub, "must be true or false");
        return -1;
    }
    *out = json_is_true(v) ? 1 : 0;
    return 1;
}

static int enum_index(const char *s, const char *const *values, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(s, values[i]) == 0)
            return (int)i;
    return -1;
}

/* Validates v (at path) as one of values; the index, or -1 with an error recorded. */
static int check_enum(struct parser *p, const json_t *v, const char *path,
                      const char *const *values, size_t n)
{
    char list[128];
    size_t i, used = 0;
    int k;

    if (!json_is_string(v)) {
        add_error(p, path, "must be a string");
        return -1;
    }
    /* Embedded NULs would make the C string shorter than the JSON one. */
    if (strlen(json_string_value(v)) == json_string_length(v)) {
        k = enum_index(json_string_value(v), values, n);
        if (k >= 0)
            return k;
    }
    list[0] = '\0';
    for (i = 0; i < n; i++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", values[i]);
        if (w < 0 || (size_t)w >= sizeof(list) - used)
            break;
        used += (size_t)w;
    }
    add_error(p, path, "must be one of: %s", list);
    return -1;
}

static int get_enum(struct parser *p, const json_t *obj, const char *path, const char *name,
                    const char *const *values, size_t n, int *out)
{
    char sub[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, name);
    int k;

    if (!v)
        return 0;
    path_field(sub, path, name);
    k = check_enum(p, v, sub, values, n);
    if (k < 0)
        return -1;
    *out = k;
    return 1;
}

static bool id_wellformed(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), i;

    if (n < 2 || n > STATS_CATALOG_ID_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* A catalog id of the given kind ("symptom", "condition", "medication"), copied to out[ID_BUF]. */
static int get_id(struct parser *p, const json_t *obj, const char *path, const char *name,
                  const char *kind, bool required, char *out)
{
    char sub[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, name);

    path_field(sub, path, name);
    if (!v) {
        if (!required)
            return 0;
        add_error(p, sub, "is required");
        return -1;
    }
    if (!json_is_string(v)) {
        add_error(p, sub, "must be a string");
        return -1;
    }
    if (!id_wellformed(v)) {
        add_error(p, sub, "must be a catalog id (2 to %d characters a-z, 0-9, _)",
                  STATS_CATALOG_ID_MAX);
        return -1;
    }
    if (!p->cat || p->cat(p->cat_ctx, kind, json_string_value(v)) != 1) {
        add_error(p, sub, "unknown %s id", kind);
        return -1;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static int digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A calendar date YYYY-MM-DD in 1900..2100 (the range birth years and diagnoses can take). */
static int get_date(struct parser *p, const json_t *obj, const char *path, const char *name,
                    char *out)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char sub[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, name);
    const char *s;
    int y, m, d;

    if (!v)
        return 0;
    path_field(sub, path, name);
    if (!json_is_string(v) || json_string_length(v) != 10)
        goto bad;
    s = json_string_value(v);
    if (s[4] != '-' || s[7] != '-')
        goto bad;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        goto bad;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        goto bad;
    memcpy(out, s, DATE_BUF);
    return 1;
bad:
    add_error(p, sub, "must be a date YYYY-MM-DD from 1900-01-01 to 2100-12-31");
    return -1;
}

/* Object check plus one error per unknown field. */
static bool check_fields(struct parser *p, const json_t *obj, const char *path,
                         const char *const *allowed, size_t n)
{
    char sub[PATH_MAX_LEN];
    const char *key;
    json_t *v;
    bool ok = true;

    if (!json_is_object(obj)) {
        add_error(p, path, "must be an object");
        return false;
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        if (enum_index(key, allowed, n) < 0) {
            path_key(sub, path, key);
            add_error(p, sub, "unknown field");
            ok = false;
        }
    }
    return ok;
}

static struct node *new_node(struct parser *p, enum node_type type)
{
    struct node *n;

    if (p->c->n >= STATS_COHORT_MAX_NODES) {
        /* Unreachable: the pre-scan counted every node position. */
        add_error(p, "", "internal error: node limit");
        return NULL;
    }
    n = &p->c->nodes[p->c->n++];
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

/* ---- criteria ---- */

static struct node *parse_age(struct parser *p, const json_t *v, const char *path)
{
    static const char *const fields[] = {"min", "max"};
    int min = UNSET, max = UNSET, rmin, rmax;
    bool ok = check_fields(p, v, path, fields, NELEM(fields));
    struct node *n;
    char sub[PATH_MAX_LEN];

    if (!json_is_object(v))
        return NULL;
    rmin = get_int(p, v, path, "min", 0, 120, false, &min);
    rmax = get_int(p, v, path, "max", 0, 120, false, &max);
    if (rmin == 0 && rmax == 0) {
        add_error(p, path, "needs min or max");
        return NULL;
    }
    if (rmin == 1 && rmax == 1 && min > max) {
        path_field(sub, path, "max");
        add_error(p, sub, "must not be less than min");
        return NULL;
    }
    if (!ok || rmin < 0 || rmax < 0)
        return NULL;
    if (!(n = new_node(p, NT_AGE)))
        return NULL;
    n->u.age.min = min;
    n->u.age.max = max;
    return n;
}

static struct node *parse_sex(struct parser *p, const json_t *v, const char *path)
{
    struct node *n;
    int k = check_enum(p, v, path, sex_values, NELEM(sex_values));

    if (k < 0 || !(n = new_node(p, NT_SEX)))
        return NULL;
    n->u.sex = k;
    return n;
}

static bool country_code(struct parser *p, const json_t *v, const char *path, char *out)
{
    const char *s = json_string_value(v);

    if (!json_is_string(v) || json_string_length(v) != 2 || s[0] < 'A' || s[0] > 'Z' ||
        s[1] < 'A' || s[1] > 'Z') {
        add_error(p, path, "must be an upper-case ISO 3166 alpha-2 code");
        return false;
    }
    memcpy(out, s, 3);
    return true;
}

static int cmp_code(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static struct node *parse_country(struct parser *p, const json_t *v, const char *path)
{
    char codes[STATS_COHORT_MAX_COUNTRIES][3], elem[PATH_MAX_LEN];
    size_t n = 0, i, k;
    bool ok = true;
    struct node *node;

    if (json_is_string(v)) {
        ok = country_code(p, v, path, codes[0]);
        n = 1;
    } else if (json_is_array(v)) {
        n = json_array_size(v);
        if (n < 1 || n > STATS_COHORT_MAX_COUNTRIES) {
            add_error(p, path, "must have 1 to %d codes", STATS_COHORT_MAX_COUNTRIES);
            return NULL;
        }
        for (i = 0; i < n; i++) {
            path_index(elem, path, i);
            if (!country_code(p, json_array_get(v, i), elem, codes[i]))
                ok = false;
        }
    } else {
        add_error(p, path, "must be a code or an array of codes");
        return NULL;
    }
    if (!ok || !(node = new_node(p, NT_COUNTRY)))
        return NULL;
    qsort(codes, n, sizeof(codes[0]), cmp_code);
    for (i = 0, k = 0; i < n; i++)
        if (k == 0 || strcmp(codes[i], node->u.country.code[k - 1]) != 0)
            memcpy(node->u.country.code[k++], codes[i], 3);
    node->u.country.n = (int)k;
    return node;
}

static struct node *parse_postal(struct parser *p, const json_t *v, const char *path)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), i;
    struct node *n;

    if (!json_is_string(v) || len < 1 || len > 3)
        goto bad;
    for (i = 0; i < len; i++)
        if (!is_alnum_ascii(s[i]))
            goto bad;
    if (!(n = new_node(p, NT_POSTAL)))
        return NULL;
    for (i = 0; i < len; i++)
        n->u.postal[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    n->u.postal[len] = '\0';
    return n;
bad:
    add_error(p, path, "must be 1 to 3 letters or digits");
    return NULL;
}

static struct node *parse_condition(struct parser *p, const json_t *v, const char *path)
{
    static const char *const fields[] = {"condition", "status", "diagnosed_before",
                                         "diagnosed_after"};
    char id[ID_BUF], before[DATE_BUF] = "", after[DATE_BUF] = "", sub[PATH_MAX_LEN];
    int status = UNSET, r1, r2, r3, r4;
    bool ok = check_fields(p, v, path, fields, NELEM(fields));
    struct node *n;

    if (!json_is_object(v))
        return NULL;
    r1 = get_id(p, v, path, "condition", "condition", true, id);
    r2 = get_enum(p, v, path, "status", condition_status_values, NELEM(condition_status_values),
                  &status);
    r3 = get_date(p, v, path, "diagnosed_before", before);
    r4 = get_date(p, v, path, "diagnosed_after", after);
    if (r3 == 1 && r4 == 1 && strcmp(after, before) >= 0) {
        path_field(sub, path, "diagnosed_after");
        add_error(p, sub, "must be earlier than diagnosed_before");
        return NULL;
    }
    if (!ok || r1 < 0 || r2 < 0 || r3 < 0 || r4 < 0 || !(n = new_node(p, NT_CONDITION)))
        return NULL;
    memcpy(n->u.cond.id, id, sizeof(id));
    n->u.cond.status = status;
    memcpy(n->u.cond.before, before, sizeof(before));
    memcpy(n->u.cond.after, after, sizeof(after));
    return n;
}

static int parse_weeks(struct parser *p, const json_t *obj, const char *path, int *at_least,
                       int *of_last)
{
    static const char *const fields[] = {"at_least", "of_last"};
    char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, "weeks");
    bool ok;
    int r1, r2;

    if (!v)
        return 0;
    path_field(sub, path, "weeks");
    ok = check_fields(p, v, sub, fields, NELEM(fields));
    if (!json_is_object(v))
        return -1;
    r1 = get_int(p, v, sub, "at_least", 1, 104, true, at_least);
    r2 = get_int(p, v, sub, "of_last", 1, 104, true, of_last);
    if (r1 == 1 && r2 == 1 && *at_least > *of_last) {
        path_field(sub2, sub, "at_least");
        add_error(p, sub2, "must not be greater than of_last");
        return -1;
    }
    return (ok && r1 == 1 && r2 == 1) ? 1 : -1;
}

static struct node *parse_symptom(struct parser *p, const json_t *v, const char *path)
{
    static const char *const fields[] = {"symptom",     "min_severity",     "max_severity",
                                         "within_days", "at_least_entries", "weeks"};
    char id[ID_BUF], sub[PATH_MAX_LEN];
    int min = 0, max = 10, within = UNSET, entries = 1, wl = UNSET, wo = UNSET, r[6];
    bool ok = check_fields(p, v, path, fields, NELEM(fields));
    struct node *n;
    size_t i;

    if (!json_is_object(v))
        return NULL;
    r[0] = get_id(p, v, path, "symptom", "symptom", true, id);
    r[1] = get_int(p, v, path, "min_severity", 0, 10, false, &min);
    r[2] = get_int(p, v, path, "max_severity", 0, 10, false, &max);
    r[3] = get_int(p, v, path, "within_days", 1, 3650, false, &within);
    r[4] = get_int(p, v, path, "at_least_entries", 1, 1000, false, &entries);
    r[5] = parse_weeks(p, v, path, &wl, &wo);
    if (r[1] >= 0 && r[2] >= 0 && min > max) {
        path_field(sub, path, "max_severity");
        add_error(p, sub, "must not be less than min_severity");
        return NULL;
    }
    for (i = 0; i < NELEM(r); i++)
        if (r[i] < 0)
            ok = false;
    if (!ok || !(n = new_node(p, NT_SYMPTOM)))
        return NULL;
    memcpy(n->u.sym.id, id, sizeof(id));
    n->u.sym.min_sev = min;
    n->u.sym.max_sev = max;
    n->u.sym.within_days = within;
    n->u.sym.at_least_entries = entries;
    n->u.sym.weeks_at_least = wl;
    n->u.sym.weeks_of_last = wo;
    return n;
}

static struct node *parse_medication(struct parser *p, const json_t *v, const char *path)
{
    static const char *const fields[] = {"medication", "current", "ever", "started_within_days",
                                         "stop_reason"};
    char id[ID_BUF], sub[PATH_MAX_LEN];
    int current = UNSET, ever = 1, within = UNSET, reason = UNSET, r[5];
    bool ok = check_fields(p, v, path, fields, NELEM(fields));
    struct node *n;
    size_t i;

    if (!json_is_object(v))
        return NULL;
    r[0] = get_id(p, v, path, "medication", "medication", true, id);
    r[1] = get_bool(p, v, path, "current", &current);
    r[2] = get_bool(p, v, path, "ever", &ever);
    r[3] = get_int(p, v, path, "started_within_days", 1, 3650, false, &within);
    r[4] =
        get_enum(p, v, path, "stop_reason", stop_reason_values, NELEM(stop_reason_values), &reason);
    /* "never taken" plus a property of the taking asks for nothing sensible. */
    if (r[2] == 1 && ever == 0 && (r[1] != 0 || r[3] != 0 || r[4] != 0)) {
        path_field(sub, path, "ever");
        add_error(p, sub,
                  "false cannot be combined with current, started_within_days or "
                  "stop_reason");
        return NULL;
    }
    for (i = 0; i < NELEM(r); i++)
        if (r[i] < 0)
            ok = false;
    if (!ok || !(n = new_node(p, NT_MEDICATION)))
        return NULL;
    memcpy(n->u.med.id, id, sizeof(id));
    n->u.med.current = current;
    n->u.med.ever = ever;
    n->u.med.started_within_days = within;
    n->u.med.stop_reason = reason;
    return n;
}

static struct node *parse_evaluation(struct parser *p, const json_t *v, const char *path)
{
    static const char *const fields[] = {"medication", "effectiveness_at_least", "side_effect"};
    char id[ID_BUF], side[ID_BUF] = "";
    int at_least = UNSET, r1, r2, r3;
    bool ok = check_fields(p, v, path, fields, NELEM(fields));
    struct node *n;

    if (!json_is_object(v))
        return NULL;
    r1 = get_id(p, v, path, "medication", "medication", true, id);
    r2 = get_enum(p, v, path, "effectiveness_at_least", effectiveness_values,
                  NELEM(effectiveness_values), &at_least);
    r3 = get_id(p, v, path, "side_effect", "symptom", false, side);
    if (!ok || r1 < 0 || r2 < 0 || r3 < 0 || !(n = new_node(p, NT_EVALUATION)))
        return NULL;
    memcpy(n->u.eval.id, id, sizeof(id));
    n->u.eval.at_least = at_least;
    memcpy(n->u.eval.side_effect, side, sizeof(side));
    return n;
}

static struct node *parse_goal(struct parser *p, const json_t *v, const char *path)
{
    static const char *const fields[] = {"kind", "status"};
    int kind = UNSET, status = UNSET, r1, r2;
    bool ok = check_fields(p, v, path, fields, NELEM(fields));
    struct node *n;

    if (!json_is_object(v))
        return NULL;
    r1 = get_enum(p, v, path, "kind", goal_kind_values, NELEM(goal_kind_values), &kind);
    r2 = get_enum(p, v, path, "status", goal_status_values, NELEM(goal_status_values), &status);
    if (!ok || r1 < 0 || r2 < 0 || !(n = new_node(p, NT_GOAL)))
        return NULL;
    n->u.goal.kind = kind;
    n->u.goal.status = status;
    return n;
}

static const struct {
    const char *key;
    struct node *(*parse)(struct parser *p, const json_t *v, const char *path);
} criteria[] = {
    {"age", parse_age},
    {"sex_at_birth", parse_sex},
    {"country", parse_country},
    {"postal_prefix", parse_postal},
    {"condition", parse_condition},
    {"symptom", parse_symptom},
    {"medication", parse_medication},
    {"evaluation", parse_evaluation},
    {"goal", parse_goal},
};

static struct node *parse_node(struct parser *p, const json_t *j, const char *path);

static struct node *parse_group(struct parser *p, enum node_type type, const json_t *v,
                                const char *path)
{
    struct node *kids[STATS_COHORT_MAX_CHILDREN], *n;
    char elem[PATH_MAX_LEN];
    size_t count, i;
    bool ok = true;

    if (!json_is_array(v)) {
        add_error(p, path, "must be an array of nodes");
        return NULL;
    }
    count = json_array_size(v);
    if (count < 1 || count > STATS_COHORT_MAX_CHILDREN) {
        add_error(p, path, "must have 1 to %d children", STATS_COHORT_MAX_CHILDREN);
        return NULL;
    }
    for (i = 0; i < count; i++) {
        path_index(elem, path, i);
        kids[i] = parse_node(p, json_array_get(v, i), elem);
        if (!kids[i])
            ok = false;
    }
    if (!ok || !(n = new_node(p, type)))
        return NULL;
    memcpy(n->kids, kids, count * sizeof(kids[0]));
    n->nkids = (int)count;
    return n;
}

static struct node *parse_node(struct parser *p, const json_t *j, const char *path)
{
    char sub[PATH_MAX_LEN];
    struct node *kid, *n;
    const char *key;
    json_t *v;
    void *it;
    size_t i;

    if (!json_is_object(j)) {
        add_error(p, path, "must be an object");
        return NULL;
    }
    if (json_object_size(j) != 1) {
        add_error(p, path, "must have exactly one key: all, any, not or a criterion");
        return NULL;
    }
    it = json_object_iter((json_t *)j);
    key = json_object_iter_key(it);
    v = json_object_iter_value(it);
    path_field(sub, path, key);
    if (strcmp(key, "all") == 0)
        return parse_group(p, NT_ALL, v, sub);
    if (strcmp(key, "any") == 0)
        return parse_group(p, NT_ANY, v, sub);
    if (strcmp(key, "not") == 0) {
        if (!(kid = parse_node(p, v, sub)) || !(n = new_node(p, NT_NOT)))
            return NULL;
        n->kids[0] = kid;
        n->nkids = 1;
        return n;
    }
    for (i = 0; i < NELEM(criteria); i++)
        if (strcmp(key, criteria[i].key) == 0)
            return criteria[i].parse(p, v, sub);
    path_key(sub, path, key);
    add_error(p, sub, "unknown criterion");
    return NULL;
}

struct stats_cohort *stats_cohort_parse(const json_t *json, const char *root_path,
                                        stats_catalog_fn cat, void *cat_ctx,
                                        struct stats_errors *errs)
{
    struct stats_errors scratch;
    struct parser p = {.cat = cat, .cat_ctx = cat_ctx, .errs = errs ? errs : &scratch};
    struct stats_cohort *c = NULL;
    char root[ROOT_PATH_MAX + 1];
    struct node *tree;

    p.errs->n = 0;
    if (snprintf(root, sizeof(root), "%s", root_path ? root_path : "cohort") < 0)
        root[0] = '\0';
    if (scan(&p, json, root, 1) < 0)
        goto out;
    if (!(p.c = calloc(1, sizeof(*p.c)))) {
        add_error(&p, root, "out of memory");
        goto out;
    }
    tree = parse_node(&p, json, root);
    if (tree && !p.failed) {
        p.c->root = tree;
        c = p.c;
        p.c = NULL;
    }
out:
    free(p.c);
    return c;
}

void stats_cohort_free(struct stats_cohort *c)
{
    free(c);
}

/* ---- canonical form ---- */

/* jansson may be given other allocators by the server, so copy into our own malloc'd string. */
static char *dump(const json_t *j)
{
    size_t n = json_dumpb(j, NULL, 0, CANON_FLAGS);
    char *s = n ? malloc(n + 1) : NULL;

    if (s && json_dumpb(j, s, n, CANON_FLAGS) != n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    return s;
}

/* {key: v}; steals v, NULL if v is NULL or memory runs out. */
static json_t *wrap(const char *key, json_t *v)
{
    json_t *o = v ? json_object() : NULL;

    /* json_object_set_new releases v when it fails, also when o is NULL. */
    if (v && json_object_set_new(o, key, v) < 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Adds key: v to o unless either is NULL; false (and o untouched) on failure. Steals v. */
static bool put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

struct canon_item {
    json_t *j;
    char *text;
};

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct canon_item *)a)->text, ((const struct canon_item *)b)->text);
}

static json_t *canon(const struct node *n);

static json_t *canon_group(const struct node *n, const char *key)
{
    struct canon_item items[STATS_COHORT_MAX_NODES];
    json_t *res = NULL, *c, *inner, *arr;
    size_t k = 0, u, i, j;
    int kid;

    for (kid = 0; kid < n->nkids; kid++) {
        if (!(c = canon(n->kids[kid])))
            goto out;
        inner = json_object_get(c, key);
        if (inner && json_is_array(inner)) {
            /* all-in-all / any-in-any: take the grandchildren; the total stays below the node
             * limit. */
            for (j = 0; j < json_array_size(inner); j++) {
                if (k == NELEM(items)) {
                    json_decref(c);
                    goto out;
                }
                items[k++] = (struct canon_item){json_incref(json_array_get(inner, j)), NULL};
            }
            json_decref(c);
        } else if (k < NELEM(items)) {
            items[k++] = (struct canon_item){c, NULL};
        } else {
            json_decref(c);
            goto out;
        }
    }
    for (i = 0; i < k; i++)
        if (!(items[i].text = dump(items[i].j)))
            goto out;
    qsort(items, k, sizeof(items[0]), cmp_item);
    for (i = 0, u = 0; i < k; i++)
        if (u == 0 || strcmp(items[i].text, items[u - 1].text) != 0)
            items[u++] = items[i];
        else {
            json_decref(items[i].j);
            free(items[i].text);
        }
    k = u;
    if (k == 1) {
        res = json_incref(items[0].j);
        goto out;
    }
    arr = json_array();
    for (i = 0; i < k; i++)
        if (json_array_append(arr, items[i].j) < 0) {
            json_decref(arr);
            goto out;
        }
    res = wrap(key, arr);
out:
    for (i = 0; i < k; i++) {
        json_decref(items[i].j);
        free(items[i].text);
    }
    return res;
}

static json_t *canon_not(const struct node *n)
{
    json_t *c = canon(n->kids[0]), *inner = json_object_get(c, "not"), *res;

    if (!inner)
        return wrap("not", c);
    /* not(not x) = x */
    res = json_incref(inner);
    json_decref(c);
    return res;
}

/* {key: value} where value is an object of fields, or a plain value for the demographic ones. */
static json_t *canon_criterion(const struct node *n)
{
    json_t *o = json_object(), *value = NULL;
    const char *key = NULL;
    bool ok = o != NULL;
    int i;

    switch (n->type) {
    case NT_AGE:
        key = "age";
        if (n->u.age.min != UNSET)
            ok = ok && put(o, "min", json_integer(n->u.age.min));
        if (n->u.age.max != UNSET)
            ok = ok && put(o, "max", json_integer(n->u.age.max));
        break;
    case NT_SEX:
        key = "sex_at_birth";
        value = json_string(sex_values[n->u.sex]);
        break;
    case NT_COUNTRY:
        key = "country";
        if (n->u.country.n == 1) {
            value = json_string(n->u.country.code[0]);
            break;
        }
        value = json_array();
        for (i = 0; i < n->u.country.n; i++)
            ok = ok && json_array_append_new(value, json_string(n->u.country.code[i])) == 0;
        break;
    case NT_POSTAL:
        key = "postal_prefix";
        value = json_string(n->u.postal);
        break;
    case NT_CONDITION:
        key = "condition";
        ok = ok && put(o, "condition", json_string(n->u.cond.id));
        if (n->u.cond.status != UNSET)
            ok = ok && put(o, "status", json_string(condition_status_values[n->u.cond.status]));
        if (n->u.cond.before[0])
            ok = ok && put(o, "diagnosed_before", json_string(n->u.cond.before));
        if (n->u.cond.after[0])
            ok = ok && put(o, "diagnosed_after", json_string(n->u.cond.after));
        break;
    case NT_SYMPTOM:
        key = "symptom";
        ok = ok && put(o, "symptom", json_string(n->u.sym.id));
        if (n->u.sym.min_sev != 0)
            ok = ok && put(o, "min_severity", json_integer(n->u.sym.min_sev));
        if (n->u.sym.max_sev != 10)
            ok = ok && put(o, "max_severity", json_integer(n->u.sym.max_sev));
        if (n->u.sym.within_days != UNSET)
            ok = ok && put(o, "within_days", json_integer(n->u.sym.within_days));
        if (n->u.sym.at_least_entries != 1)
            ok = ok && put(o, "at_least_entries", json_integer(n->u.sym.at_least_entries));
        if (n->u.sym.weeks_at_least != UNSET)
            ok = ok && put(o, "weeks",
                           json_pack("{s:i,s:i}", "at_least", n->u.sym.weeks_at_least, "of_last",
                                     n->u.sym.weeks_of_last));
        break;
    case NT_MEDICATION:
        key = "medication";
        ok = ok && put(o, "medication", json_string(n->u.med.id));
        if (n->u.med.current != UNSET)
            ok = ok && put(o, "current", json_boolean(n->u.med.current));
        if (!n->u.med.ever)
            ok = ok && put(o, "ever", json_false());
        if (n->u.med.started_within_days != UNSET)
            ok = ok && put(o, "started_within_days", json_integer(n->u.med.started_within_days));
        if (n->u.med.stop_reason != UNSET)
            ok = ok && put(o, "stop_reason", json_string(stop_reason_values[n->u.med.stop_reason]));
        break;
    case NT_EVALUATION:
        key = "evaluation";
        ok = ok && put(o, "medication", json_string(n->u.eval.id));
        if (n->u.eval.at_least != UNSET)
            ok = ok && put(o, "effectiveness_at_least",
                           json_string(effectiveness_values[n->u.eval.at_least]));
        if (n->u.eval.side_effect[0])
            ok = ok && put(o, "side_effect", json_string(n->u.eval.side_effect));
        break;
    case NT_GOAL:
        key = "goal";
        if (n->u.goal.kind != UNSET)
            ok = ok && put(o, "kind", json_string(goal_kind_values[n->u.goal.kind]));
        if (n->u.goal.status != UNSET)
            ok = ok && put(o, "status", json_string(goal_status_values[n->u.goal.status]));
        break;
    default:
        ok = false;
        break;
    }
    if (value) {
        json_decref(o);
        o = value;
    } else if (key && (n->type == NT_SEX || n->type == NT_COUNTRY || n->type == NT_POSTAL)) {
        ok = false; /* the value could not be allocated */
    }
    if (!ok) {
        json_decref(o);
        o = NULL;
    }
    return wrap(key, o);
}

static json_t *canon(const struct node *n)
{
    switch (n->type) {
    case NT_ALL:
        return canon_group(n, "all");
    case NT_ANY:
        return canon_group(n, "any");
    case NT_NOT:
        return canon_not(n);
    default:
        return canon_criterion(n);
    }
}

char *stats_cohort_canonical(const struct stats_cohort *c)
{
    json_t *j;
    char *s;

    if (!c || !c->root)
        return NULL;
    j = canon(c->root);
    s = j ? dump(j) : NULL;
    json_decref(j);
    return s;
}

/* ---- SQL text with parameters ---- */

void stats_sql_init(struct stats_sql *s)
{
    memset(s, 0, sizeof(*s));
}

void stats_sql_truncate(struct stats_sql *s, size_t len, int np)
{
    if (!s || len > s->len || np > s->nparams || np < 0)
        return;
    for (int i = np; i < s->nparams; i++)
        free(s->params[i]);
    s->nparams = np;
    s->len = len;
    if (s->text)
        s->text[len] = '\0';
}

void stats_sql_free(struct stats_sql *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < s->nparams; i++)
        free(s->params[i]);
    free(s->params);
    free(s->text);
    stats_sql_init(s);
}

static int sql_reserve(struct stats_sql *s, size_t extra)
{
    size_t need, cap;
    char *t;

    if (extra > STATS_SQL_MAX_TEXT || s->len > STATS_SQL_MAX_TEXT - extra)
        return -1;
    need = s->len + extra + 1;
    if (need <= s->cap)
        return 0;
    cap = s->cap ? s->cap : 256;
    while (cap < need)
        cap *= 2;
    if (!(t = realloc(s->text, cap)))
        return -1;
    s->text = t;
    s->cap = cap;
    return 0;
}

int stats_sql_append(struct stats_sql *s, const char *fmt, ...)
{
    va_list ap;
    int n, rc = -1;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sql_reserve(s, (size_t)n) < 0)
        goto out;
    va_start(ap, fmt);
    vsnprintf(s->text + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
    rc = 0;
out:
    return rc;
}

int stats_sql_param(struct stats_sql *s, const char *value)
{
    char *copy = NULL, **params;
    int cap, rc = -1;

    if (s->nparams >= STATS_SQL_MAX_PARAMS)
        goto out;
    if (value) {
        size_t n = strlen(value) + 1;
        if (!(copy = malloc(n)))
            goto out;
        memcpy(copy, value, n);
    }
    if (s->nparams == s->capparams) {
        cap = s->capparams ? s->capparams * 2 : 8;
        if (!(params = realloc(s->params, (size_t)cap * sizeof(*params))))
            goto out;
        s->params = params;
        s->capparams = cap;
    }
    if (stats_sql_append(s, "$%d", s->nparams + 1) < 0)
        goto out;
    s->params[s->nparams++] = copy;
    copy = NULL;
    rc = s->nparams;
out:
    free(copy);
    return rc;
}

/* ---- compilation ---- */

struct compiler {
    struct stats_sql *s;
    const char *m; /* member id expression */
    const char *p; /* profile alias */
    bool facts;    /* p is a member_facts row (0022, 0023): it also lists conditions and drugs */
    const char *implied; /* a condition every row has (stats_cohort_facts_source), or NULL */
    int64_t now;
    int now_n; /* parameter number of now, 0 until first used */
};

/* These return 0 or -1; the caller rolls back on -1. */
#define EMIT(...)                                                                                  \
    do {                                                                                           \
        if (stats_sql_append(x->s, __VA_ARGS__) < 0)                                               \
            return -1;                                                                             \
    } while (0)
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            return -1;                                                                             \
    } while (0)

/* The first use of a value adds the parameter; later uses refer to the same $N. */
static int ref_param(struct compiler *x, int *slot, const char *value)
{
    if (*slot)
        return stats_sql_append(x->s, "$%d", *slot);
    *slot = stats_sql_param(x->s, value);
    return *slot < 0 ? -1 : 0;
}

static int param_int(struct compiler *x, int v, const char *cast)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%d", v);
    CHECK(stats_sql_param(x->s, buf));
    EMIT("::%s", cast);
    return 0;
}

static int param_str(struct compiler *x, const char *v)
{
    return stats_sql_param(x->s, v) < 0 ? -1 : 0;
}

/* "$N" of now in unix seconds; one parameter however often it is used. */
static int emit_now_param(struct compiler *x)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)x->now);
    return ref_param(x, &x->now_n, buf);
}

static int emit_now(struct compiler *x)
{
    EMIT("to_timestamp(");
    CHECK(emit_now_param(x));
    EMIT("::bigint)");
    return 0;
}

static int emit_today(struct compiler *x)
{
    EMIT("(");
    CHECK(emit_now(x));
    EMIT(" AT TIME ZONE 'UTC')::date");
    return 0;
}

static int emit_age(struct compiler *x, const char *op, int bound)
{
    EMIT("(EXTRACT(year FROM ");
    CHECK(emit_now(x));
    EMIT(" AT TIME ZONE 'UTC') - %s.birth_year) %s ", x->p, op);
    return param_int(x, bound, "int");
}

static int compile_node(struct compiler *x, const struct node *n);

static int compile_group(struct compiler *x, const struct node *n, const char *op)
{
    int i;

    EMIT("(");
    for (i = 0; i < n->nkids; i++) {
        if (i)
            EMIT(" %s ", op);
        CHECK(compile_node(x, n->kids[i]));
    }
    EMIT(")");
    return 0;
}

static int compile_demographic(struct compiler *x, const struct node *n)
{
    char list[STATS_COHORT_MAX_COUNTRIES * 3 + 2];
    size_t used = 0;
    int i;

    EMIT("COALESCE(");
    switch (n->type) {
    case NT_AGE:
        if (n->u.age.min != UNSET)
            CHECK(emit_age(x, ">=", n->u.age.min));
        if (n->u.age.min != UNSET && n->u.age.max != UNSET)
            EMIT(" AND ");
        if (n->u.age.max != UNSET)
            CHECK(emit_age(x, "<=", n->u.age.max));
        break;
    case NT_SEX:
        EMIT("%s.sex_at_birth = ", x->p);
        CHECK(param_str(x, sex_values[n->u.sex]));
        break;
    case NT_COUNTRY:
        if (n->u.country.n == 1) {
            EMIT("%s.country = ", x->p);
            CHECK(param_str(x, n->u.country.code[0]));
            break;
        }
        /* A text[] literal; codes are two upper-case letters, nothing to quote. */
        list[used++] = '{';
        for (i = 0; i < n->u.country.n; i++) {
            if (i)
                list[used++] = ',';
            memcpy(list + used, n->u.country.code[i], 2);
            used += 2;
        }
        list[used++] = '}';
        list[used] = '\0';
        EMIT("%s.country = ANY (", x->p);
        CHECK(param_str(x, list));
        EMIT("::text[])");
        break;
    case NT_POSTAL:
        EMIT("starts_with(upper(%s.postal_prefix), ", x->p);
        CHECK(param_str(x, n->u.postal));
        EMIT(")");
        break;
    default:
        return -1;
    }
    EMIT(", false)");
    return 0;
}

/* Over a facts row, "the row's list holds id" and an opening "(", as the necessary condition in
 * front of a question about one item's records (a record of the item puts it in the list); the
 * caller closes the parenthesis (close_listed). A GIN bitmap of the item's members when the
 * criterion is a conjunct of the whole cohort; a cheap test of the row everywhere else. */
static int listed(struct compiler *x, const char *column, int *slot, const char *id)
{
    if (!x->facts)
        return 0;
    EMIT("(%s.%s @> ARRAY[", x->p, column);
    CHECK(ref_param(x, slot, id));
    EMIT("::text] AND ");
    return 0;
}

static int close_listed(struct compiler *x)
{
    if (x->facts)
        EMIT(")");
    return 0;
}

static int compile_condition(struct compiler *x, const struct node *n)
{
    int id_ref = 0;

    /* Any status, any date: the facts row's list (its GIN index gives the condition's members),
     * or nothing to test when the rows were chosen by this condition. */
    if (x->facts && n->u.cond.status == UNSET && !n->u.cond.before[0] && !n->u.cond.after[0]) {
        if (x->implied && strcmp(x->implied, n->u.cond.id) == 0) {
            EMIT("TRUE");
            return 0;
        }
        EMIT("%s.conditions @> ARRAY[", x->p);
        CHECK(param_str(x, n->u.cond.id));
        EMIT("::text]");
        return 0;
    }
    CHECK(listed(x, "conditions", &id_ref, n->u.cond.id));
    EMIT("EXISTS (SELECT 1 FROM member_condition coh_c WHERE coh_c.member_id = %s"
         " AND coh_c.condition_id = ",
         x->m);
    CHECK(ref_param(x, &id_ref, n->u.cond.id));
    if (n->u.cond.status != UNSET) {
        EMIT(" AND coh_c.status = ");
        CHECK(param_str(x, condition_status_values[n->u.cond.status]));
    }
    if (n->u.cond.before[0]) {
        EMIT(" AND coh_c.diagnosed_date < ");
        CHECK(param_str(x, n->u.cond.before));
        EMIT("::date");
    }
    if (n->u.cond.after[0]) {
        EMIT(" AND coh_c.diagnosed_date > ");
        CHECK(param_str(x, n->u.cond.after));
        EMIT("::date");
    }
    EMIT(")");
    return close_listed(x);
}

struct symptom_refs {
    int id, min, max, within;
};

/* The entries a symptom criterion looks at, after WHERE. */
static int symptom_filter(struct compiler *x, const struct node *n, struct symptom_refs *r)
{
    char buf[24];

    EMIT("coh_s.member_id = %s AND coh_s.symptom_id = ", x->m);
    CHECK(ref_param(x, &r->id, n->u.sym.id));
    if (n->u.sym.min_sev != 0) {
        snprintf(buf, sizeof(buf), "%d", n->u.sym.min_sev);
        EMIT(" AND coh_s.severity >= ");
        CHECK(ref_param(x, &r->min, buf));
        EMIT("::int");
    }
    if (n->u.sym.max_sev != 10) {
        snprintf(buf, sizeof(buf), "%d", n->u.sym.max_sev);
        EMIT(" AND coh_s.severity <= ");
        CHECK(ref_param(x, &r->max, buf));
        EMIT("::int");
    }
    if (n->u.sym.within_days != UNSET) {
        /* Hours, not days: a day interval would follow the session's DST changes. */
        snprintf(buf, sizeof(buf), "%d", n->u.sym.within_days);
        EMIT(" AND coh_s.recorded_at >= ");
        CHECK(emit_now(x));
        EMIT(" - ");
        CHECK(ref_param(x, &r->within, buf));
        EMIT("::int * interval '24 hours' AND coh_s.recorded_at <= ");
        CHECK(emit_now(x));
    }
    return 0;
}

static int compile_symptom(struct compiler *x, const struct node *n)
{
    struct symptom_refs r = {0, 0, 0, 0};
    bool entries = n->u.sym.at_least_entries > 1, weeks = n->u.sym.weeks_at_least != UNSET;

    if (!entries && !weeks) {
        EMIT("EXISTS (SELECT 1 FROM symptom_entry coh_s WHERE ");
        CHECK(symptom_filter(x, n, &r));
        EMIT(")");
        return 0;
    }
    EMIT("(");
    if (entries) {
        EMIT("(SELECT count(*) FROM symptom_entry coh_s WHERE ");
        CHECK(symptom_filter(x, n, &r));
        EMIT(") >= ");
        CHECK(param_int(x, n->u.sym.at_least_entries, "int"));
    }
    if (entries && weeks)
        EMIT(" AND ");
    if (weeks) {
        /* Week k = floor((now - recorded_at) / 7 days); k in 0..of_last-1 is the window below.
         * Weeks are told apart by their bins of 168 hours counted back from now + 1 us, which
         * are exactly the (now - 7(k+1) d, now - 7k d] of k at microsecond resolution: EXTRACT
         * (epoch) is numeric, and its arithmetic cost 18 us per member at 1M (docs/benchmarks.md,
         * tenth round). */
        EMIT("(SELECT count(DISTINCT date_bin(interval '168 hours', coh_s.recorded_at, ");
        CHECK(emit_now(x));
        EMIT(" + interval '1 microsecond')) FROM symptom_entry coh_s WHERE ");
        CHECK(symptom_filter(x, n, &r));
        EMIT(" AND coh_s.recorded_at > ");
        CHECK(emit_now(x));
        EMIT(" - ");
        CHECK(param_int(x, n->u.sym.weeks_of_last, "int"));
        EMIT(" * interval '168 hours' AND coh_s.recorded_at <= ");
        CHECK(emit_now(x));
        EMIT(") >= ");
        CHECK(param_int(x, n->u.sym.weeks_at_least, "int"));
    }
    EMIT(")");
    return 0;
}

/* Records of the medication started on or before today, after WHERE. */
static int medication_filter(struct compiler *x, int *id_ref, const char *id)
{
    EMIT("coh_m.member_id = %s AND coh_m.medication_id = ", x->m);
    CHECK(ref_param(x, id_ref, id));
    EMIT(" AND coh_m.started_on <= ");
    return emit_today(x);
}

static int medication_running(struct compiler *x)
{
    EMIT(" AND (coh_m.stopped_on IS NULL OR coh_m.stopped_on > ");
    CHECK(emit_today(x));
    EMIT(")");
    return 0;
}

static int compile_medication(struct compiler *x, const struct node *n)
{
    int id_ref = 0;

    if (!n->u.med.ever) {
        EMIT("(NOT ");
        CHECK(listed(x, "medications", &id_ref, n->u.med.id));
        EMIT("EXISTS (SELECT 1 FROM medication coh_m WHERE ");
        CHECK(medication_filter(x, &id_ref, n->u.med.id));
        EMIT(")");
        CHECK(close_listed(x));
        EMIT(")");
        return 0;
    }
    if (n->u.med.current == 0)
        EMIT("(");
    CHECK(listed(x, "medications", &id_ref, n->u.med.id));
    EMIT("EXISTS (SELECT 1 FROM medication coh_m WHERE ");
    CHECK(medication_filter(x, &id_ref, n->u.med.id));
    if (n->u.med.started_within_days != UNSET) {
        EMIT(" AND coh_m.started_on >= ");
        CHECK(emit_today(x));
        EMIT(" - ");
        CHECK(param_int(x, n->u.med.started_within_days, "int"));
    }
    if (n->u.med.stop_reason != UNSET) {
        EMIT(" AND coh_m.stop_reason = ");
        CHECK(param_str(x, stop_reason_values[n->u.med.stop_reason]));
    }
    if (n->u.med.current == 1)
        CHECK(medication_running(x));
    EMIT(")");
    if (n->u.med.current == 0) {
        EMIT(" AND NOT EXISTS (SELECT 1 FROM medication coh_m WHERE ");
        CHECK(medication_filter(x, &id_ref, n->u.med.id));
        CHECK(medication_running(x));
        EMIT("))");
    }
    return close_listed(x);
}

static int compile_evaluation(struct compiler *x, const struct node *n)
{
    char list[64];
    size_t used = 0, i;
    int id_ref = 0;

    CHECK(listed(x, "medications", &id_ref, n->u.eval.id));
    EMIT("EXISTS (SELECT 1 FROM medication_evaluation coh_e JOIN medication coh_em"
         " ON coh_em.member_id = coh_e.member_id AND coh_em.id = coh_e.medication_ref"
         " WHERE coh_e.member_id = %s AND coh_em.medication_id = ",
         x->m);
    CHECK(ref_param(x, &id_ref, n->u.eval.id));
    if (n->u.eval.at_least != UNSET) {
        /* The accepted levels as a text[] literal of fixed words. */
        list[used++] = '{';
        for (i = (size_t)n->u.eval.at_least; i < NELEM(effectiveness_values); i++) {
            int w = snprintf(list + used, sizeof(list) - used, "%s%s",
                             i > (size_t)n->u.eval.at_least ? "," : "", effectiveness_values[i]);
            if (w < 0 || (size_t)w >= sizeof(list) - used - 1)
                return -1;
            used += (size_t)w;
        }
        list[used++] = '}';
        list[used] = '\0';
        EMIT(" AND coh_e.effectiveness = ANY (");
        CHECK(param_str(x, list));
        EMIT("::text[])");
    }
    if (n->u.eval.side_effect[0]) {
        EMIT(" AND EXISTS (SELECT 1 FROM evaluation_side_effect coh_es"
             " WHERE coh_es.member_id = coh_e.member_id AND coh_es.evaluation_ref = coh_e.id"
             " AND coh_es.symptom_id = ");
        CHECK(param_str(x, n->u.eval.side_effect));
        EMIT(" AND coh_es.severity IS DISTINCT FROM 'none')");
    }
    EMIT(")");
    return close_listed(x);
}

static int compile_goal(struct compiler *x, const struct node *n)
{
    EMIT("EXISTS (SELECT 1 FROM goal coh_g WHERE coh_g.member_id = %s", x->m);
    if (n->u.goal.kind != UNSET) {
        EMIT(" AND coh_g.kind = ");
        CHECK(param_str(x, goal_kind_values[n->u.goal.kind]));
    }
    if (n->u.goal.status != UNSET) {
        EMIT(" AND coh_g.status = ");
        CHECK(param_str(x, goal_status_values[n->u.goal.status]));
    }
    EMIT(")");
    return 0;
}

static int compile_node(struct compiler *x, const struct node *n)
{
    switch (n->type) {
    case NT_ALL:
        return compile_group(x, n, "AND");
    case NT_ANY:
        return compile_group(x, n, "OR");
    case NT_NOT:
        EMIT("(NOT ");
        CHECK(compile_node(x, n->kids[0]));
        EMIT(")");
        return 0;
    case NT_AGE:
    case NT_SEX:
    case NT_COUNTRY:
    case NT_POSTAL:
        return compile_demographic(x, n);
    case NT_CONDITION:
        return compile_condition(x, n);
    case NT_SYMPTOM:
        return compile_symptom(x, n);
    case NT_MEDICATION:
        return compile_medication(x, n);
    case NT_EVALUATION:
        return compile_evaluation(x, n);
    case NT_GOAL:
        return compile_goal(x, n);
    }
    return -1;
}

/* Criteria that count a member's entries run one aggregate per member: worth deferring until the
 * cheap criteria have cut the candidates down. */
static bool costly(const struct node *n)
{
    return n->type == NT_SYMPTOM &&
           (n->u.sym.at_least_entries > 1 || n->u.sym.weeks_at_least != UNSET);
}

static bool any_costly(const struct node *n)
{
    if (costly(n))
        return true;
    for (int i = 0; i < n->nkids; i++)
        if (any_costly(n->kids[i]))
            return true;
    return false;
}

bool stats_cohort_counts_entries(const struct stats_cohort *c)
{
    return c && c->root && any_costly(c->root);
}

/* The conjunction of the root's conjuncts that are (want_costly) or are not costly; TRUE if none.
 */
static int compile_part(struct compiler *x, const struct node *root, bool want_costly)
{
    const struct node *const *kids = &root;
    int n = 1, emitted = 0;

    if (root->type == NT_ALL) {
        kids = (const struct node *const *)root->kids;
        n = root->nkids;
    }
    EMIT("(");
    for (int i = 0; i < n; i++) {
        if (costly(kids[i]) != want_costly)
            continue;
        if (emitted++)
            EMIT(" AND ");
        CHECK(compile_node(x, kids[i]));
    }
    if (!emitted)
        EMIT("TRUE");
    EMIT(")");
    return 0;
}

#undef EMIT
#undef CHECK

/* [A-Za-z_][A-Za-z0-9_]{0,62}, not starting with our own "coh_"; one dot allowed if with_dot. */
static bool identifier_ok(const char *s, bool with_dot)
{
    size_t start = 0, i = 0;
    int parts = 0;

    if (!s)
        return false;
    for (;;) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
            return false;
        while (is_alnum_ascii(s[i]) || s[i] == '_')
            i++;
        if (i - start > 63 || ((s[start] | 0x20) == 'c' && (s[start + 1] | 0x20) == 'o' &&
                               (s[start + 2] | 0x20) == 'h' && s[start + 3] == '_'))
            return false;
        parts++;
        if (s[i] == '\0')
            return true;
        if (s[i] != '.' || !with_dot || parts == 2)
            return false;
        start = ++i;
    }
}

/* A top-level criterion "has condition C" with any status and date: C, borrowed from c; or NULL. */
static const char *lead_condition(const struct stats_cohort *c)
{
    const struct node *const *kids;
    int n = 1;

    if (!c || !c->root)
        return NULL;
    kids = (const struct node *const *)&c->root;
    if (c->root->type == NT_ALL) {
        kids = (const struct node *const *)c->root->kids;
        n = c->root->nkids;
    }
    for (int i = 0; i < n; i++)
        if (kids[i]->type == NT_CONDITION && kids[i]->u.cond.status == UNSET &&
            !kids[i]->u.cond.before[0] && !kids[i]->u.cond.after[0])
            return kids[i]->u.cond.id;
    return NULL;
}

static int compile_into(const struct stats_cohort *c, const char *member_col,
                        const char *profile_alias, bool facts, bool from_source, int64_t now,
                        enum stats_cohort_part part, struct stats_sql *out)
{
    struct compiler x = {.s = out,
                         .m = member_col,
                         .p = profile_alias,
                         .facts = facts,
                         .implied = from_source ? lead_condition(c) : NULL,
                         .now = now};
    size_t len0;
    int np0, rc = -1;

    if (!out)
        return -1;
    len0 = out->len;
    np0 = out->nparams;
    if (!c || !c->root || !identifier_ok(member_col, true) || !identifier_ok(profile_alias, false))
        goto out;
    if (part == STATS_COHORT_WHOLE)
        rc = compile_node(&x, c->root);
    else if (part == STATS_COHORT_CHEAP || part == STATS_COHORT_COSTLY)
        rc = compile_part(&x, c->root, part == STATS_COHORT_COSTLY);
out:
    if (rc < 0)
        stats_sql_truncate(out, len0, np0);
    return rc;
}

int stats_cohort_compile_part(const struct stats_cohort *c, const char *member_col,
                              const char *profile_alias, int64_t now, enum stats_cohort_part part,
                              struct stats_sql *out)
{
    return compile_into(c, member_col, profile_alias, false, false, now, part, out);
}

int stats_cohort_compile_facts(const struct stats_cohort *c, const char *member_col,
                               const char *facts_alias, int64_t now, enum stats_cohort_part part,
                               struct stats_sql *out)
{
    return compile_into(c, member_col, facts_alias, true, false, now, part, out);
}

int stats_cohort_compile_facts_from(const struct stats_cohort *c, const char *member_col,
                                    const char *facts_alias, int64_t now,
                                    enum stats_cohort_part part, struct stats_sql *out)
{
    return compile_into(c, member_col, facts_alias, true, true, now, part, out);
}

int stats_cohort_compile(const struct stats_cohort *c, const char *member_col,
                         const char *profile_alias, int64_t now, struct stats_sql *out)
{
    return stats_cohort_compile_part(c, member_col, profile_alias, now, STATS_COHORT_WHOLE, out);
}

int stats_cohort_facts_source(const struct stats_cohort *c, struct stats_sql *out)
{
    const char *id = lead_condition(c);
    size_t len0;
    int np0;

    if (!out || !c)
        return -1;
    if (!id)
        return stats_sql_append(out, "member_facts");
    len0 = out->len;
    np0 = out->nparams;
    if (stats_sql_append(out, "(SELECT * FROM member_condition_facts WHERE condition_id = ") < 0 ||
        stats_sql_param(out, id) < 0 || stats_sql_append(out, ")") < 0) {
        stats_sql_truncate(out, len0, np0);
        return -1;
    }
    return 0;
}

int stats_cohort_consent_sql(struct stats_sql *out, const char *facts_alias, const char *purpose,
                             unsigned categories, bool commercial, bool for_profit,
                             const char *focus, int64_t at, bool parallel)
{
    char cats[16], when[32], args[160];
    size_t len0, from;
    int np0, rc = -1;
    char col;

    if (!out || !facts_alias || !identifier_ok(facts_alias, false) || !purpose || !focus ||
        categories < 1 || categories > 31)
        return -1;
    if (strcmp(purpose, "research") == 0)
        col = 'r';
    else if (strcmp(purpose, "trial_recruitment") == 0)
        col = 't';
    else
        return -1;
    len0 = out->len;
    np0 = out->nparams;
    snprintf(cats, sizeof(cats), "%u", categories);
    snprintf(when, sizeof(when), "%lld", (long long)at);
    /* No summary row, no active grant of the purpose: never permitted. Said outright so that a
     * population reads only members with one (schema 0031's partial indexes). */
    if (stats_sql_append(out,
                         "(%s.%c_masks IS NOT NULL AND coalesce(consent_facts_fast(%s.%c_masks, "
                         "%s.%c_from, %s.%c_until, %s.%c_conds, '%s', ",
                         facts_alias, col, facts_alias, col, facts_alias, col, facts_alias, col,
                         facts_alias, col, purpose) < 0)
        goto out;
    /* The use's arguments, each value once as a parameter; the grants' part repeats this text. */
    from = out->len;
    if (stats_sql_param(out, cats) < 0 || stats_sql_append(out, "::int, ") < 0 ||
        stats_sql_param(out, commercial ? "t" : "f") < 0 ||
        stats_sql_append(out, "::boolean, ") < 0 ||
        stats_sql_param(out, for_profit ? "t" : "f") < 0 ||
        stats_sql_append(out, "::boolean, ") < 0 || stats_sql_param(out, focus) < 0 ||
        stats_sql_append(out, "::text[], ") < 0 ||
        (at >= 0 ? stats_sql_append(out, "to_timestamp(") < 0 || stats_sql_param(out, when) < 0 ||
                       stats_sql_append(out, "::bigint)") < 0
                 : stats_sql_append(out, "now()") < 0))
        goto out;
    if (out->len - from >= sizeof(args))
        goto out;
    memcpy(args, out->text + from, out->len - from);
    args[out->len - from] = '\0';
    if (parallel ? stats_sql_append(out, "), consent_permits(%s.member_id, '%s', %s), false))",
                                    facts_alias, purpose, args) < 0
                 : stats_sql_append(out,
                                    "), (SELECT coh_p FROM consent_permits_rows(%s.member_id, "
                                    "'%s', %s) coh_p), false))",
                                    facts_alias, purpose, args) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        stats_sql_truncate(out, len0, np0);
    return rc;
}

/* ---- plain words ---- */

#define SAY(...)                                                                                   \
    do {                                                                                           \
        if (stats_sql_append(b, __VA_ARGS__) < 0)                                                  \
            return -1;                                                                             \
    } while (0)

/* Catalog ids are slugs of their names: multiple_sclerosis -> "multiple sclerosis". */
static int say_id(struct stats_sql *b, const char *id)
{
    char words[ID_BUF];
    size_t i;

    for (i = 0; i < sizeof(words) - 1 && id[i]; i++)
        words[i] = id[i] == '_' ? ' ' : id[i];
    words[i] = '\0';
    SAY("%s", words);
    return 0;
}

static int describe_node(struct stats_sql *b, const struct node *n, bool top);

static int describe_group(struct stats_sql *b, const struct node *n, bool top)
{
    const char *sep = n->type == NT_ALL ? (top ? "; " : " and ") : " or ";
    int i;

    if (!top)
        SAY("(");
    for (i = 0; i < n->nkids; i++) {
        if (i)
            SAY("%s", sep);
        if (describe_node(b, n->kids[i], false) < 0)
            return -1;
    }
    if (!top)
        SAY(")");
    return 0;
}

static int describe_symptom(struct stats_sql *b, const struct node *n)
{
    SAY("reported ");
    if (say_id(b, n->u.sym.id) < 0)
        return -1;
    if (n->u.sym.min_sev != 0 && n->u.sym.max_sev != 10)
        SAY(" with severity %d to %d", n->u.sym.min_sev, n->u.sym.max_sev);
    else if (n->u.sym.min_sev != 0)
        SAY(" with severity %d or more", n->u.sym.min_sev);
    else if (n->u.sym.max_sev != 10)
        SAY(" with severity %d or less", n->u.sym.max_sev);
    if (n->u.sym.within_days != UNSET)
        SAY(" in the last %d day%s", n->u.sym.within_days, n->u.sym.within_days == 1 ? "" : "s");
    if (n->u.sym.at_least_entries > 1)
        SAY(" at least %d times", n->u.sym.at_least_entries);
    if (n->u.sym.weeks_at_least != UNSET)
        SAY(" in at least %d of the last %d weeks", n->u.sym.weeks_at_least,
            n->u.sym.weeks_of_last);
    return 0;
}

static int describe_medication(struct stats_sql *b, const struct node *n)
{
    if (!n->u.med.ever)
        SAY("has never taken ");
    else if (n->u.med.current == 1)
        SAY("is taking ");
    else
        SAY("has taken ");
    if (say_id(b, n->u.med.id) < 0)
        return -1;
    if (n->u.med.current == 0)
        SAY(" but is not taking it now");
    if (n->u.med.started_within_days != UNSET)
        SAY(", started in the last %d day%s", n->u.med.started_within_days,
            n->u.med.started_within_days == 1 ? "" : "s");
    if (n->u.med.stop_reason != UNSET) {
        SAY(", stopped because of ");
        if (say_id(b, stop_reason_values[n->u.med.stop_reason]) < 0)
            return -1;
    }
    return 0;
}

static int describe_node(struct stats_sql *b, const struct node *n, bool top)
{
    static const char *const status_words[] = {"active", "in remission", "resolved"};
    int i;

    switch (n->type) {
    case NT_ALL:
    case NT_ANY:
        return describe_group(b, n, top);
    case NT_NOT:
        SAY("not ");
        if (n->kids[0]->type != NT_ALL && n->kids[0]->type != NT_ANY)
            SAY("(");
        if (describe_node(b, n->kids[0], false) < 0)
            return -1;
        if (n->kids[0]->type != NT_ALL && n->kids[0]->type != NT_ANY)
            SAY(")");
        return 0;
    case NT_AGE:
        if (n->u.age.min != UNSET && n->u.age.max != UNSET)
            SAY("aged %d to %d", n->u.age.min, n->u.age.max);
        else if (n->u.age.min != UNSET)
            SAY("aged %d or over", n->u.age.min);
        else
            SAY("aged %d or under", n->u.age.max);
        return 0;
    case NT_SEX:
        SAY("%s sex at birth", sex_values[n->u.sex]);
        return 0;
    case NT_COUNTRY:
        SAY("lives in ");
        for (i = 0; i < n->u.country.n; i++)
            SAY("%s%s", i == 0 ? "" : (i == n->u.country.n - 1 ? " or " : ", "),
                n->u.country.code[i]);
        return 0;
    case NT_POSTAL:
        SAY("postal code starting %s", n->u.postal);
        return 0;
    case NT_CONDITION:
        SAY("has ");
        if (say_id(b, n->u.cond.id) < 0)
            return -1;
        if (n->u.cond.status != UNSET)
            SAY(" (%s)", status_words[n->u.cond.status]);
        if (n->u.cond.after[0])
            SAY(", diagnosed after %s", n->u.cond.after);
        if (n->u.cond.before[0])
            SAY("%s before %s", n->u.cond.after[0] ? " and" : ", diagnosed", n->u.cond.before);
        return 0;
    case NT_SYMPTOM:
        return describe_symptom(b, n);
    case NT_MEDICATION:
        return describe_medication(b, n);
    case NT_EVALUATION:
        SAY("evaluated ");
        if (say_id(b, n->u.eval.id) < 0)
            return -1;
        if (n->u.eval.at_least != UNSET)
            SAY(" with effect rated %s or better", effectiveness_values[n->u.eval.at_least]);
        if (n->u.eval.side_effect[0]) {
            SAY(" with side effect ");
            if (say_id(b, n->u.eval.side_effect) < 0)
                return -1;
        }
        return 0;
    case NT_GOAL:
        SAY("has ");
        if (n->u.goal.kind == UNSET)
            SAY("a goal");
        else if (n->u.goal.kind == 1)
            SAY("an adherence goal");
        else if (n->u.goal.kind == 0)
            SAY("a symptom target goal");
        else
            SAY("a custom goal");
        if (n->u.goal.status != UNSET)
            SAY(" that is %s", goal_status_values[n->u.goal.status]);
        return 0;
    }
    return -1;
}

#undef SAY

char *stats_cohort_describe(const struct stats_cohort *c)
{
    struct stats_sql b;
    char *s = NULL;

    stats_sql_init(&b);
    if (!c || !c->root)
        goto out;
    if (describe_node(&b, c->root, true) < 0 || b.len > DESCRIBE_MAX)
        goto out;
    if (b.text[0] >= 'a' && b.text[0] <= 'z')
        b.text[0] = (char)(b.text[0] - 'a' + 'A');
    s = b.text;
    b.text = NULL;
out:
    stats_sql_free(&b);
    return s;
}

/* ---- condition ids ---- */

static void collect_conditions(const struct node *n, const char **out, size_t max, size_t *k)
{
    size_t i;
    int kid;

    if (n->type == NT_CONDITION) {
        for (i = 0; i < *k; i++)
            if (strcmp(out[i], n->u.cond.id) == 0)
                return;
        if (*k < max)
            out[(*k)++] = n->u.cond.id;
        return;
    }
    for (kid = 0; kid < n->nkids; kid++)
        collect_conditions(n->kids[kid], out, max, k);
}

size_t stats_cohort_conditions(const struct stats_cohort *c, const char **out, size_t max)
{
    size_t k = 0;

    if (!c || !c->root || !out)
        return 0;
    collect_conditions(c->root, out, max, &k);
    return k;
}
