/* test_catalog_data.c - schema/0002_catalog.sql read as text, no database: row counts, the ids
 * other code relies on with their exact codes, and uniqueness of ids, names and codes. The small
 * SQL reader used here is tested first on inline snippets, so a count it reports can be trusted. */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CATALOG_SQL CC_SOURCE_DIR "/schema/0002_catalog.sql"

#define SQL_MAX (1024 * 1024) /* bytes read from the migration */
#define FIELD_MAX 256         /* bytes of one string literal, including the NUL */
#define ROWS_MAX 2000         /* rows per table */
#define COLS_MAX 4
#define STMT_TOKENS_MAX 65536 /* tokens in one statement other than an INSERT */

enum { SYMPTOM, CONDITION, MEDICATION, NTABLES };

static const char *const table_names[NTABLES] = {"catalog_symptom", "catalog_condition",
                                                 "catalog_medication"};
static const int table_ncols[NTABLES] = {3, 4, 3};
static const char *const table_cols[NTABLES][COLS_MAX] = {
    {"id", "name", "snomed"}, {"id", "name", "icd10", "snomed"}, {"id", "name", "rxnorm"}};

/* ------------------------------------------------------------------------------------------ */
/* A reader for the subset of SQL the migration uses: words, '...' literals with '' escapes,
 * punctuation, -- and block comments. */

enum tok_type { T_END, T_WORD, T_STR, T_PUNCT, T_ERR };

struct tok {
    enum tok_type type;
    const char *s; /* word or punctuation in the source */
    size_t len;
    char str[FIELD_MAX]; /* unescaped literal for T_STR */
};

struct lexer {
    const char *start, *p, *end;
};

struct row {
    char v[COLS_MAX][FIELD_MAX];
    bool null[COLS_MAX];
};

struct table {
    struct row *rows;
    int nrows;
    int ninserts;
};

struct catalog {
    struct table t[NTABLES];
    int rows_max;
    bool grant_ok;  /* GRANT SELECT on all three tables TO cc_app */
    int ntxn;       /* BEGIN/COMMIT/ROLLBACK/START statements (the server owns the transaction) */
    int nextension; /* CREATE EXTENSION statements (not allowed for the service role) */
    char err[256];
};

static void set_err(struct catalog *c, const char *fmt, ...)
{
    va_list ap;

    if (c->err[0])
        return; /* keep the first error */
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

static void next_tok(struct lexer *lx, struct tok *t, struct catalog *c)
{
    const char *p = lx->p;

    t->type = T_END;
    t->s = NULL;
    t->len = 0;
    t->str[0] = '\0';
    for (;;) {
        while (p < lx->end && isspace((unsigned char)*p))
            p++;
        if (p + 1 < lx->end && p[0] == '-' && p[1] == '-') {
            while (p < lx->end && *p != '\n')
                p++;
        } else if (p + 1 < lx->end && p[0] == '/' && p[1] == '*') {
            const char *q = p + 2;

            while (q + 1 < lx->end && !(q[0] == '*' && q[1] == '/'))
                q++;
            if (q + 1 >= lx->end) {
                set_err(c, "unterminated comment");
                t->type = T_ERR;
                goto out;
            }
            p = q + 2;
        } else {
            break;
        }
    }
    if (p >= lx->end)
        goto out;
    t->s = p;
    if (*p == '\'') {
        size_t n = 0;

        for (p++;; p++) {
            if (p >= lx->end) {
                set_err(c, "unterminated string literal");
                t->type = T_ERR;
                goto out;
            }
            if (*p == '\'') {
                if (p + 1 < lx->end && p[1] == '\'') {
                    p++; /* '' is one quote */
                } else {
                    p++;
                    break;
                }
            }
            if (n + 1 >= sizeof(t->str)) {
                set_err(c, "string literal longer than %d bytes", FIELD_MAX - 1);
                t->type = T_ERR;
                goto out;
            }
            t->str[n++] = *p;
        }
        t->str[n] = '\0';
        t->type = T_STR;
    } else if (isalnum((unsigned char)*p) || *p == '_') {
        while (p < lx->end && (isalnum((unsigned char)*p) || *p == '_'))
            p++;
        t->type = T_WORD;
    } else {
        p++;
        t->type = T_PUNCT;
    }
    t->len = (size_t)(p - t->s);
out:
    lx->p = p;
}

static bool is_word(const struct tok *t, const char *w)
{
    return t->type == T_WORD && t->len == strlen(w) && strncasecmp(t->s, w, t->len) == 0;
}

static bool is_punct(const struct tok *t, char ch)
{
    return t->type == T_PUNCT && t->s[0] == ch;
}

static int table_index(const struct tok *t)
{
    for (int i = 0; i < NTABLES; i++)
        if (is_word(t, table_names[i]))
            return i;
    return -1;
}

/* After "INSERT": INTO <table> (<cols>) VALUES (<v>, ...), ... ; */
static int parse_insert(struct lexer *lx, struct catalog *c)
{
    struct tok t;
    struct table *tb;
    int ti, ncols;

    next_tok(lx, &t, c);
    if (!is_word(&t, "INTO"))
        goto bad;
    next_tok(lx, &t, c);
    ti = table_index(&t);
    if (ti < 0) {
        set_err(c, "INSERT into a table that is not a catalog table");
        return -1;
    }
    tb = &c->t[ti];
    ncols = table_ncols[ti];
    next_tok(lx, &t, c);
    if (!is_punct(&t, '('))
        goto bad;
    for (int i = 0; i < ncols; i++) {
        next_tok(lx, &t, c);
        if (!is_word(&t, table_cols[ti][i])) {
            set_err(c, "%s: column %d is not %s", table_names[ti], i + 1, table_cols[ti][i]);
            return -1;
        }
        next_tok(lx, &t, c);
        if (!is_punct(&t, i + 1 < ncols ? ',' : ')'))
            goto bad;
    }
    next_tok(lx, &t, c);
    if (!is_word(&t, "VALUES"))
        goto bad;
    tb->ninserts++;
    for (;;) {
        struct row *r;

        next_tok(lx, &t, c);
        if (!is_punct(&t, '('))
            goto bad;
        if (tb->nrows >= c->rows_max) {
            set_err(c, "%s: more than %d rows", table_names[ti], c->rows_max);
            return -1;
        }
        r = &tb->rows[tb->nrows];
        for (int i = 0; i < ncols; i++) {
            next_tok(lx, &t, c);
            if (t.type == T_STR) {
                memcpy(r->v[i], t.str, sizeof(r->v[i]));
                r->null[i] = false;
            } else if (is_word(&t, "NULL")) {
                r->v[i][0] = '\0';
                r->null[i] = true;
            } else {
                set_err(c, "%s row %d: value %d is not a literal", table_names[ti], tb->nrows + 1,
                        i + 1);
                return -1;
            }
            next_tok(lx, &t, c);
            if (!is_punct(&t, i + 1 < ncols ? ',' : ')')) {
                set_err(c, "%s row %d: expected %d values", table_names[ti], tb->nrows + 1, ncols);
                return -1;
            }
        }
        tb->nrows++;
        next_tok(lx, &t, c);
        if (is_punct(&t, ';'))
            return 0;
        if (!is_punct(&t, ','))
            goto bad;
    }
bad:
    set_err(c, "malformed INSERT near byte %ld", (long)(lx->p - lx->start));
    return -1;
}

/* Any other statement: note what it is, then skip to its ';'. */
static int skip_statement(struct lexer *lx, const struct tok *first, struct catalog *c)
{
    static const char *const grant[] = {"GRANT", "SELECT",
                                        "ON",    "catalog_symptom",
                                        ",",     "catalog_condition",
                                        ",",     "catalog_medication",
                                        "TO",    "cc_app"};
    const size_t ngrant = sizeof(grant) / sizeof(grant[0]);
    struct tok t = *first;
    size_t n = 0;
    bool grant_ok = true, second_is_extension = false;

    if (is_word(&t, "BEGIN") || is_word(&t, "COMMIT") || is_word(&t, "ROLLBACK") ||
        is_word(&t, "START") || is_word(&t, "END"))
        c->ntxn++;
    for (;;) {
        if (t.type == T_ERR)
            return -1;
        if (t.type == T_END) {
            set_err(c, "statement without a terminating ';'");
            return -1;
        }
        if (is_punct(&t, ';'))
            break;
        if (n < ngrant) {
            bool same = t.type == T_PUNCT ? t.s[0] == grant[n][0] && grant[n][1] == '\0'
                                          : is_word(&t, grant[n]);
            grant_ok = grant_ok && same;
        }
        if (n == 1 && is_word(&t, "EXTENSION"))
            second_is_extension = true;
        if (++n > STMT_TOKENS_MAX) {
            set_err(c, "statement too long");
            return -1;
        }
        next_tok(lx, &t, c);
    }
    if (grant_ok && n == ngrant)
        c->grant_ok = true;
    if (is_word(first, "CREATE") && second_is_extension)
        c->nextension++;
    return 0;
}

/* Reads the whole script into c (rows must have room for rows_max rows per table). 0 or -1. */
static int parse_sql(const char *sql, size_t len, struct catalog *c)
{
    struct lexer lx = {sql, sql, sql + len};
    struct tok t;

    for (;;) {
        next_tok(&lx, &t, c);
        if (t.type == T_END)
            return 0;
        if (t.type == T_ERR)
            return -1;
        if (is_word(&t, "INSERT")) {
            if (parse_insert(&lx, c) != 0)
                return -1;
        } else if (skip_statement(&lx, &t, c) != 0) {
            return -1;
        }
    }
}

static struct catalog *catalog_new(int rows_max)
{
    struct catalog *c = calloc(1, sizeof(*c));

    ck_assert_ptr_nonnull(c);
    c->rows_max = rows_max;
    for (int i = 0; i < NTABLES; i++) {
        c->t[i].rows = calloc((size_t)rows_max, sizeof(struct row));
        ck_assert_ptr_nonnull(c->t[i].rows);
    }
    return c;
}

static void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    for (int i = 0; i < NTABLES; i++)
        free(c->t[i].rows);
    free(c);
}

static struct catalog *parse_string(const char *sql, int rows_max, int *rc)
{
    struct catalog *c = catalog_new(rows_max);

    *rc = parse_sql(sql, strlen(sql), c);
    return c;
}

/* The migration file, parsed; fails the test (with the reason) if it cannot be read. */
static struct catalog *load_catalog(void)
{
    FILE *f = fopen(CATALOG_SQL, "rb");
    char *buf = NULL;
    size_t len;
    struct catalog *c;

    ck_assert_msg(f != NULL, "cannot open %s: %s", CATALOG_SQL, strerror(errno));
    buf = malloc(SQL_MAX + 1);
    ck_assert_ptr_nonnull(buf);
    len = fread(buf, 1, SQL_MAX + 1, f);
    ck_assert_msg(!ferror(f), "cannot read %s", CATALOG_SQL);
    fclose(f);
    ck_assert_msg(len <= SQL_MAX, "%s is larger than %d bytes", CATALOG_SQL, SQL_MAX);
    buf[len] = '\0';
    ck_assert_msg(strlen(buf) == len, "%s contains a NUL byte", CATALOG_SQL);
    c = catalog_new(ROWS_MAX);
    ck_assert_msg(parse_sql(buf, len, c) == 0, "%s: %s", CATALOG_SQL, c->err);
    free(buf);
    return c;
}

static const struct row *find_row(const struct table *tb, const char *id)
{
    for (int i = 0; i < tb->nrows; i++)
        if (strcmp(tb->rows[i].v[0], id) == 0)
            return &tb->rows[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The reader itself */

START_TEST(test_reader_values)
{
    static const char sql[] =
        "-- header; with a semicolon\n"
        "CREATE TABLE catalog_symptom (id text PRIMARY KEY CHECK (id ~ '^[a-z]$'));\n"
        "/* block; comment */\n"
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES\n"
        "  ('aa', 'Crohn''s', '1'), -- trailing comment with 'quote\n"
        "  ('bb', 'x;y), (', '22');\n"
        "INSERT INTO catalog_condition (id, name, icd10, snomed) VALUES ('cc', '', '{A00,B01}', "
        "NULL);\n"
        "insert into CATALOG_SYMPTOM (id, name, snomed) values ('dd', '''', '333');\n"
        "GRANT SELECT ON catalog_symptom, catalog_condition, catalog_medication TO cc_app;\n";
    int rc;
    struct catalog *c = parse_string(sql, 8, &rc);

    ck_assert_msg(rc == 0, "%s", c->err);
    ck_assert_int_eq(c->t[SYMPTOM].nrows, 3);
    ck_assert_int_eq(c->t[SYMPTOM].ninserts, 2);
    ck_assert_str_eq(c->t[SYMPTOM].rows[0].v[1], "Crohn's");
    ck_assert_str_eq(c->t[SYMPTOM].rows[1].v[1], "x;y), (");
    ck_assert_str_eq(c->t[SYMPTOM].rows[1].v[2], "22");
    ck_assert_str_eq(c->t[SYMPTOM].rows[2].v[0], "dd");
    ck_assert_str_eq(c->t[SYMPTOM].rows[2].v[1], "'");
    ck_assert_int_eq(c->t[CONDITION].nrows, 1);
    ck_assert_str_eq(c->t[CONDITION].rows[0].v[1], "");
    ck_assert(!c->t[CONDITION].rows[0].null[1]);
    ck_assert_str_eq(c->t[CONDITION].rows[0].v[2], "{A00,B01}");
    ck_assert(c->t[CONDITION].rows[0].null[3]);
    ck_assert_int_eq(c->t[MEDICATION].nrows, 0);
    ck_assert(c->grant_ok);
    ck_assert_int_eq(c->ntxn, 0);
    ck_assert_int_eq(c->nextension, 0);
    catalog_free(c);
}
END_TEST

START_TEST(test_reader_statements)
{
    int rc;
    struct catalog *c;

    c = parse_string("BEGIN; CREATE EXTENSION pg_trgm; COMMIT;", 8, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(c->ntxn, 2);
    ck_assert_int_eq(c->nextension, 1);
    ck_assert(!c->grant_ok);
    catalog_free(c);

    /* A grant that leaves out a table, or goes to another role, does not count. */
    c = parse_string("GRANT SELECT ON catalog_symptom, catalog_condition TO cc_app;", 8, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert(!c->grant_ok);
    catalog_free(c);
    c = parse_string(
        "GRANT SELECT ON catalog_symptom, catalog_condition, catalog_medication TO other;", 8, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert(!c->grant_ok);
    catalog_free(c);
}
END_TEST

START_TEST(test_reader_rejects)
{
    static const char *const bad[] = {
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES ('a', 'b', 'c')",
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES ('a', 'b, 'c');",
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES ('a', 'b');",
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES ('a', 'b', 'c', 'd');",
        "INSERT INTO catalog_symptom (id, snomed, name) VALUES ('a', 'b', 'c');",
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES ('a', 'b', 3);",
        "INSERT INTO catalog_symptom (id, name, snomed) VALUES ('a', 'b', 'c') ('d', 'e', 'f');",
        "INSERT INTO catalog_symptoms (id, name, snomed) VALUES ('a', 'b', 'c');",
        "INSERT INTO catalog_condition (id, name, icd10) VALUES ('a', 'b', '{A00}');",
        "INSERT catalog_symptom (id, name, snomed) VALUES ('a', 'b', 'c');",
        "CREATE TABLE x (a int)",
        "SELECT 1; /* open",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc;
        struct catalog *c = parse_string(bad[i], 8, &rc);

        ck_assert_msg(rc == -1, "accepted: %s", bad[i]);
        ck_assert_msg(c->err[0] != '\0', "no reason given for: %s", bad[i]);
        catalog_free(c);
    }
}
END_TEST

START_TEST(test_reader_limits)
{
    char lit[FIELD_MAX + 64];
    char *sql;
    size_t cap = 64 * 1024, off;
    int rc;
    struct catalog *c;

    /* A literal of FIELD_MAX - 1 bytes fits; one more byte does not. */
    for (int extra = 0; extra <= 1; extra++) {
        memset(lit, 'x', FIELD_MAX - 1 + (size_t)extra);
        lit[FIELD_MAX - 1 + extra] = '\0';
        sql = malloc(cap);
        ck_assert_ptr_nonnull(sql);
        snprintf(sql, cap,
                 "INSERT INTO catalog_medication (id, name, rxnorm) VALUES ('a', '%s', '1');", lit);
        c = parse_string(sql, 8, &rc);
        ck_assert_int_eq(rc, extra ? -1 : 0);
        if (!extra)
            ck_assert_uint_eq(strlen(c->t[MEDICATION].rows[0].v[1]), FIELD_MAX - 1);
        catalog_free(c);
        free(sql);
    }

    /* rows_max rows fit; one more is refused. */
    for (int extra = 0; extra <= 1; extra++) {
        sql = malloc(cap);
        ck_assert_ptr_nonnull(sql);
        off = (size_t)snprintf(sql, cap, "INSERT INTO catalog_symptom (id, name, snomed) VALUES ");
        for (int i = 0; i < 10 + extra; i++)
            off += (size_t)snprintf(sql + off, cap - off, "%s('s%d', 'n%d', '%d')", i ? ", " : "",
                                    i, i, i + 100000);
        snprintf(sql + off, cap - off, ";");
        c = parse_string(sql, 10, &rc);
        ck_assert_int_eq(rc, extra ? -1 : 0);
        ck_assert_int_eq(c->t[SYMPTOM].nrows, 10);
        catalog_free(c);
        free(sql);
    }
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* The migration's data */

static bool valid_id(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > 64)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* Digits only, no leading zero, min..max long. */
static bool valid_number(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max || s[0] == '0')
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* One ICD-10 code: letter, digit, digit or letter, then optionally '.' and 1-4 digits or letters.
 */
static bool valid_icd10_code(const char *s, size_t n)
{
    if (n < 3 || !isupper((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        !(isdigit((unsigned char)s[2]) || isupper((unsigned char)s[2])))
        return false;
    if (n == 3)
        return true;
    if (s[3] != '.' || n < 5 || n > 8)
        return false;
    for (size_t i = 4; i < n; i++)
        if (!(isdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])))
            return false;
    return true;
}

/* A text[] literal of 1 to 16 ICD-10 codes: {C1,C2,...}. */
static bool valid_icd10_array(const char *s)
{
    size_t n = strlen(s), count = 0;
    const char *p, *end;

    if (n < 5 || s[0] != '{' || s[n - 1] != '}')
        return false;
    end = s + n - 1;
    for (p = s + 1; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;

        if (!valid_icd10_code(p, (size_t)(stop - p)) || ++count > 16)
            return false;
        p = comma ? comma + 1 : end;
        if (comma && p == end)
            return false; /* trailing comma */
    }
    return count >= 1;
}

START_TEST(test_row_counts)
{
    struct catalog *c = load_catalog();

    ck_assert_msg(c->t[SYMPTOM].nrows >= 125, "%d symptoms", c->t[SYMPTOM].nrows);
    ck_assert_msg(c->t[CONDITION].nrows >= 155, "%d conditions", c->t[CONDITION].nrows);
    ck_assert_msg(c->t[MEDICATION].nrows >= 310, "%d medications", c->t[MEDICATION].nrows);
    /* Exact counts of this version, so rows cannot go missing unnoticed. */
    ck_assert_int_eq(c->t[SYMPTOM].nrows, 139);
    ck_assert_int_eq(c->t[CONDITION].nrows, 277);
    ck_assert_int_eq(c->t[MEDICATION].nrows, 392);
    for (int i = 0; i < NTABLES; i++)
        ck_assert_int_eq(c->t[i].ninserts, 1);
    catalog_free(c);
}
END_TEST

START_TEST(test_statements)
{
    struct catalog *c = load_catalog();

    ck_assert_msg(c->grant_ok, "no GRANT SELECT on the three catalog tables to cc_app");
    ck_assert_int_eq(c->ntxn, 0);
    ck_assert_int_eq(c->nextension, 0);
    catalog_free(c);
}
END_TEST

struct expect {
    const char *id;
    const char *code;  /* snomed (symptoms), icd10 literal (conditions), rxnorm (medications) */
    const char *code2; /* conditions: snomed */
};

static void check_expected(int ti, const struct expect *e, size_t n, int code_col)
{
    struct catalog *c = load_catalog();

    for (size_t i = 0; i < n; i++) {
        const struct row *r = find_row(&c->t[ti], e[i].id);

        ck_assert_msg(r != NULL, "%s: no row %s", table_names[ti], e[i].id);
        ck_assert_msg(strcmp(r->v[code_col], e[i].code) == 0, "%s %s: code %s, expected %s",
                      table_names[ti], e[i].id, r->v[code_col], e[i].code);
        if (e[i].code2) {
            ck_assert_msg(!r->null[3] && strcmp(r->v[3], e[i].code2) == 0,
                          "%s %s: snomed %s, expected %s", table_names[ti], e[i].id,
                          r->null[3] ? "NULL" : r->v[3], e[i].code2);
        }
    }
    catalog_free(c);
}

START_TEST(test_required_symptoms)
{
    static const struct expect e[] = {
        {"fatigue", "84229001", NULL},         {"headache", "25064002", NULL},
        {"nausea", "422587007", NULL},         {"dizziness", "404640003", NULL},
        {"insomnia", "193462001", NULL},       {"anxiety", "48694002", NULL},
        {"joint_pain", "57676002", NULL},      {"muscle_weakness", "26544005", NULL},
        {"numbness", "44077006", NULL},        {"diarrhea", "62315008", NULL},
        {"rash", "271807003", NULL},           {"weight_gain", "8943002", NULL},
        {"tingling", "62507009", NULL},        {"spasticity", "221360009", NULL},
        {"tremor", "26079004", NULL},          {"shortness_of_breath", "267036007", NULL},
        {"bladder_urgency", "75088002", NULL}, {"cognitive_impairment", "386806002", NULL},
    };

    check_expected(SYMPTOM, e, sizeof(e) / sizeof(e[0]), 2);
}
END_TEST

START_TEST(test_required_conditions)
{
    static const struct expect e[] = {
        {"multiple_sclerosis", "{G35}", "24700007"},
        {"type_2_diabetes", "{E11}", "44054006"},
        {"type_1_diabetes", "{E10}", "46635009"},
        {"crohns_disease", "{K50}", "34000006"},
        {"ulcerative_colitis", "{K51}", "64766004"},
        {"rheumatoid_arthritis", "{M05,M06}", "69896004"},
        {"depression", "{F32,F33}", "35489007"},
        {"migraine", "{G43}", "37796009"},
        {"asthma", "{J45}", "195967001"},
        {"copd", "{J44}", "13645005"},
        {"parkinsons_disease", "{G20}", "49049000"},
        {"lupus", "{M32}", "55464009"},
        {"fibromyalgia", "{M79.7}", "203082005"},
        {"epilepsy", "{G40}", "84757009"},
        {"als", "{G12.21}", "86044005"},
        {"hypertension", "{I10}", "38341003"},
        {"hiv_infection", "{B20}", "86406008"},
        {"breast_cancer", "{C50}", "254837009"},
        {"psoriasis", "{L40}", "9014002"},
        {"chronic_kidney_disease", "{N18}", "709044004"},
        {"heart_failure", "{I50}", "84114007"},
        {"atrial_fibrillation", "{I48}", "49436004"},
        {"hypothyroidism", "{E03}", "40930008"},
        {"generalized_anxiety_disorder", "{F41.1}", "21897009"},
        {"bipolar_disorder", "{F31}", "13746004"},
        {"schizophrenia", "{F20}", "58214004"},
        {"alzheimers_disease", "{G30}", "26929004"},
        {"osteoarthritis", "{M15,M16,M17,M18,M19}", "396275006"},
        {"ankylosing_spondylitis", "{M45}", "9631008"},
        {"celiac_disease", "{K90.0}", "396331005"},
        {"irritable_bowel_syndrome", "{K58}", "10743008"},
        {"endometriosis", "{N80}", "129103003"},
        {"polycystic_ovary_syndrome", "{E28.2}", "237055002"},
        {"sleep_apnea", "{G47.3}", "73430006"},
        {"myasthenia_gravis", "{G70.0}", "91637004"},
        {"long_covid", "{U09.9}", "1119303003"},
        {"me_cfs", "{G93.32}", "52702003"},
    };

    check_expected(CONDITION, e, sizeof(e) / sizeof(e[0]), 2);
}
END_TEST

START_TEST(test_required_medications)
{
    static const struct expect e[] = {
        {"metformin", "6809", NULL},
        {"insulin_glargine", "274783", NULL},
        {"ocrelizumab", "1876366", NULL},
        {"natalizumab", "354770", NULL},
        {"fingolimod", "1012892", NULL},
        {"dimethyl_fumarate", "1373478", NULL},
        {"glatiramer", "84375", NULL},
        {"interferon_beta_1a", "75917", NULL},
        {"teriflunomide", "1310520", NULL},
        {"ofatumumab", "712566", NULL},
        {"baclofen", "1292", NULL},
        {"tizanidine", "57258", NULL},
        {"gabapentin", "25480", NULL},
        {"pregabalin", "187832", NULL},
        {"amantadine", "620", NULL},
        {"modafinil", "30125", NULL},
        {"levodopa", "6375", NULL},
        {"carbidopa", "2019", NULL},
        {"methotrexate", "6851", NULL},
        {"adalimumab", "327361", NULL},
        {"etanercept", "214555", NULL},
        {"infliximab", "191831", NULL},
        {"hydroxychloroquine", "5521", NULL},
        {"prednisone", "8640", NULL},
        {"sertraline", "36437", NULL},
        {"fluoxetine", "4493", NULL},
        {"escitalopram", "321988", NULL},
        {"bupropion", "42347", NULL},
        {"venlafaxine", "39786", NULL},
        {"duloxetine", "72625", NULL},
        {"amitriptyline", "704", NULL},
        {"sumatriptan", "37418", NULL},
        {"erenumab", "2045613", NULL},
        {"topiramate", "38404", NULL},
        {"propranolol", "8787", NULL},
        {"albuterol", "435", NULL},
        {"fluticasone", "41126", NULL},
        {"budesonide", "19831", NULL},
        {"montelukast", "88249", NULL},
        {"tiotropium", "69120", NULL},
        {"levothyroxine", "10582", NULL},
        {"lisinopril", "29046", NULL},
        {"amlodipine", "17767", NULL},
        {"atorvastatin", "83367", NULL},
        {"simvastatin", "36567", NULL},
        {"semaglutide", "1991302", NULL},
        {"liraglutide", "475968", NULL},
        {"empagliflozin", "1545653", NULL},
        {"sitagliptin", "593411", NULL},
        {"ibuprofen", "5640", NULL},
        {"naproxen", "7258", NULL},
        {"acetaminophen", "161", NULL},
        {"aspirin", "1191", NULL},
        {"omeprazole", "7646", NULL},
        {"pantoprazole", "40790", NULL},
        {"mesalamine", "52582", NULL},
        {"levetiracetam", "114477", NULL},
        {"lamotrigine", "28439", NULL},
        {"valproate", "40254", NULL},
        {"carbamazepine", "2002", NULL},
        {"riluzole", "35623", NULL},
        {"lithium", "6448", NULL},
        {"quetiapine", "51272", NULL},
        {"aripiprazole", "89013", NULL},
        {"olanzapine", "61381", NULL},
        {"warfarin", "11289", NULL},
        {"apixaban", "1364430", NULL},
        {"rivaroxaban", "1114195", NULL},
        {"furosemide", "4603", NULL},
    };

    check_expected(MEDICATION, e, sizeof(e) / sizeof(e[0]), 2);
}
END_TEST

/* Ids, case-folded names and (where the schema says so) codes are unique per table, and every
 * value has the shape its column's CHECK demands. */
START_TEST(test_rows_unique_and_well_formed)
{
    struct catalog *c = load_catalog();

    for (int ti = 0; ti < NTABLES; ti++) {
        const struct table *tb = &c->t[ti];
        int code_col = ti == CONDITION ? 3 : 2;
        bool code_unique = ti != CONDITION;

        for (int i = 0; i < tb->nrows; i++) {
            const struct row *r = &tb->rows[i];
            size_t name_len = strlen(r->v[1]);

            ck_assert_msg(!r->null[0] && valid_id(r->v[0]), "%s: bad id '%s'", table_names[ti],
                          r->v[0]);
            ck_assert_msg(!r->null[1] && name_len >= 1 && name_len <= 128, "%s %s: bad name length",
                          table_names[ti], r->v[0]);
            if (ti == CONDITION) {
                ck_assert_msg(!r->null[2] && valid_icd10_array(r->v[2]), "%s %s: bad icd10 '%s'",
                              table_names[ti], r->v[0], r->v[2]);
                ck_assert_msg(r->null[3] || valid_number(r->v[3], 6, 18), "%s %s: bad snomed '%s'",
                              table_names[ti], r->v[0], r->v[3]);
            } else if (ti == SYMPTOM) {
                ck_assert_msg(!r->null[2] && valid_number(r->v[2], 6, 18), "%s %s: bad snomed '%s'",
                              table_names[ti], r->v[0], r->v[2]);
            } else {
                ck_assert_msg(!r->null[2] && valid_number(r->v[2], 1, 10), "%s %s: bad rxnorm '%s'",
                              table_names[ti], r->v[0], r->v[2]);
            }
            for (int j = 0; j < i; j++) {
                const struct row *o = &tb->rows[j];

                ck_assert_msg(strcmp(r->v[0], o->v[0]) != 0, "%s: duplicate id %s", table_names[ti],
                              r->v[0]);
                ck_assert_msg(strcasecmp(r->v[1], o->v[1]) != 0, "%s: duplicate name %s",
                              table_names[ti], r->v[1]);
                if (code_unique)
                    ck_assert_msg(strcmp(r->v[code_col], o->v[code_col]) != 0,
                                  "%s: %s and %s share code %s", table_names[ti], o->v[0], r->v[0],
                                  r->v[code_col]);
            }
        }
    }
    catalog_free(c);
}
END_TEST

START_TEST(test_icd10_shapes)
{
    static const char *const good[] = {"{G35}",   "{M05,M06}", "{G93.32}",
                                       "{G90.A}", "{M47.812}", "{U09.9,G35}"};
    static const char *const bad[] = {"",           "{}",   "G35",    "{g35}",       "{G35,}",
                                      "{,G35}",     "{G3}", "{G35.}", "{G35.12345}", "{G35 }",
                                      "{G35,,M06}", "{3G5}"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(valid_icd10_array(good[i]), "rejected %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!valid_icd10_array(bad[i]), "accepted %s", bad[i]);
    ck_assert(valid_number("84229001", 6, 18));
    ck_assert(!valid_number("0842290", 6, 18));
    ck_assert(!valid_number("84229a01", 6, 18));
    ck_assert(!valid_number("12345", 6, 18));
    ck_assert(valid_id("g35_x"));
    ck_assert(!valid_id("G35"));
    ck_assert(!valid_id("a"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("catalog_data");
    TCase *reader = tcase_create("reader");
    TCase *data = tcase_create("data");
    SRunner *sr;
    int failed;

    tcase_add_test(reader, test_reader_values);
    tcase_add_test(reader, test_reader_statements);
    tcase_add_test(reader, test_reader_rejects);
    tcase_add_test(reader, test_reader_limits);
    tcase_add_test(reader, test_icd10_shapes);
    tcase_add_test(data, test_row_counts);
    tcase_add_test(data, test_statements);
    tcase_add_test(data, test_required_symptoms);
    tcase_add_test(data, test_required_conditions);
    tcase_add_test(data, test_required_medications);
    tcase_add_test(data, test_rows_unique_and_well_formed);
    suite_add_tcase(s, reader);
    suite_add_tcase(s, data);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
