/* SPDX-License-Identifier: MIT */
/*
 * sql - a step written as a few lines of SQL in the pipeline file, with the
 * same safety as the built-in steps.
 *
 * Write form (table, where, set; key, batch_size, allow_all): the rows of
 * `table` that match `where` get `set`, in keyset chunks of batch_size rows
 * by `key`, one short transaction each:
 *     find:   SELECT key FROM table WHERE (where) AND key > ? ORDER BY key LIMIT ?
 *     update: UPDATE table SET set WHERE (where) AND key > ? AND key <= ?
 * The UPDATE re-checks `where`, so a row a worker changed between the find
 * and the chunk is left alone. A dry run reports SELECT COUNT(*) FROM table
 * WHERE (where). `result` gets the rows changed (or, in a dry run, matched).
 *
 * Read form (query): a SELECT returning one number (reported as `result`), or
 * rows of (label, number), reported as `result.<label>`. No row reports
 * nothing; more than one row of one column, or another shape, fails.
 *
 * :now is T as the database's text ("YYYY-MM-DD HH:MM:SS" in the session's
 * zone; on SQLite the canonical text), :now_unix T in Unix seconds. Both are
 * bound as parameters, never pasted; every other value is the SQL's own.
 *
 * What check() refuses, with no database (all with the option's FILE:LINE:COL):
 *   - table and key that are not plain identifiers ([A-Za-z_][A-Za-z0-9_]*,
 *     at most 64); they are written `quoted` (MySQL and SQLite both read that);
 *   - a ';' anywhere in an option (one statement per option, also inside
 *     quotes: write CHAR(59) for the character), comments (--, #, / *: they
 *     could swallow the key range the core appends), a '?' (values go in the
 *     SQL, T as :now), a placeholder other than :now and :now_unix,
 *     parentheses that do not balance (a where could close ours), a quote
 *     left open, a backslash inside quotes (MySQL reads it as an escape,
 *     SQLite as a character: the same text would end the string in one and
 *     not in the other);
 *   - a read query that does not start with SELECT or WITH, or that holds a
 *     word that writes or locks (INSERT, UPDATE, DELETE, REPLACE, INTO,
 *     CREATE, DROP, ALTER, TRUNCATE, LOCK, PRAGMA, ...): a dry run must not
 *     write;
 *   - a where that is empty or always true, unless allow_all: true. What is
 *     recognised (see truth() below): a constant that is not 0 (1, -1, 2.5,
 *     TRUE), NOT of a false constant (NOT 0, NOT FALSE), a comparison of two
 *     identical operands by =, ==, <=, >=, <=>, IS or LIKE (1=1, 'a'='a',
 *     x = x, NULL IS NULL), a comparison of two numbers that holds (2 > 1),
 *     an OR with one always-true side (1 OR ...), an AND whose sides are all
 *     always true, and any of these in parentheses. Anything else (x IS NOT
 *     NULL OR x IS NULL, 1 IN (1), functions) is not recognised: the check is
 *     a guard against slips, not a proof.
 * prepare() (validate --db, and every run before init) has the database
 * compile each statement, and names the option whose SQL does not compile.
 */
#include <reconciler.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATCH_MAX 1000000
#define IDENT_MAX 64
/* db_chunked takes 30 parameters a statement, two of them the chunk's bounds. */
#define BINDS_MAX 28
#define KEY_MAX 256
/* Parentheses deeper than this are refused: no real condition needs them. */
#define DEPTH_MAX 100

static const rc_option options[] = {
    { "table", RC_OPT_STRING, "", "write form: the table to change (a plain identifier)" },
    { "key", RC_OPT_STRING, "id",
      "write form: the table's unique, non-null, indexed key column, paged in order" },
    { "where", RC_OPT_STRING, "",
      "write form: which rows change, an SQL condition; :now and :now_unix are T" },
    { "set", RC_OPT_STRING, "", "write form: the SET list, e.g. status = 'failed'" },
    { "batch_size", RC_OPT_INT, "5000", "write form: rows per chunk (one transaction each), 1 "
      "to 1000000" },
    { "allow_all", RC_OPT_BOOL, "false",
      "write form: allow a where that is empty or always true (every row changes)" },
    { "query", RC_OPT_STRING, "",
      "read form: a SELECT returning one number, or rows of label, number" },
    { "result", RC_OPT_STRING, NULL,
      "the result key for the figure (dotted keys nest; the read form's labels go below it)" },
    RC_OPTIONS_END
};

/* ---------------------------------------------------------------- tokens */

typedef enum tok_kind {
    T_END, T_WORD, T_NUM, T_STR, T_QID, T_PARAM, T_OP, T_LP, T_RP, T_OTHER
} tok_kind;

typedef struct tok {
    tok_kind kind;
    const char *s;
    size_t len;
} tok;

/* An option's SQL, tokenised, with its placeholders in order. */
typedef struct sql_text {
    tok *toks;
    size_t n;
    int binds[BINDS_MAX]; /* BIND_NOW or BIND_NOW_UNIX, in the order they appear */
    size_t nbinds;
} sql_text;

enum { BIND_NOW, BIND_NOW_UNIX };

static int word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$';
}

static int tok_is(const tok *t, const char *word)
{
    return t->kind == T_WORD && strlen(word) == t->len && strncasecmp(t->s, word, t->len) == 0;
}

static int op_is(const tok *t, const char *op)
{
    return t->kind == T_OP && strlen(op) == t->len && strncmp(t->s, op, t->len) == 0;
}

/* A quoted string or identifier from *p (at its quote): 0, or -1 with why. */
static int lex_quoted(const char **p, tok *t, char *why, size_t whylen)
{
    const char *s = *p;
    char q = *s++;
    for (;;) {
        if (!*s) {
            snprintf(why, whylen, "has a %c that is never closed", q);
            return -1;
        }
        if (*s == '\\' && q != '`') {
            snprintf(why, whylen, "has a backslash inside quotes, which MySQL reads as an escape "
                     "and SQLite as a character: write the text without it");
            return -1;
        }
        if (*s == q) {
            if (s[1] == q) { /* a doubled quote stands for itself */
                s += 2;
                continue;
            }
            s++;
            break;
        }
        s++;
    }
    t->kind = q == '\'' ? T_STR : T_QID;
    t->len = (size_t)(s - *p);
    *p = s;
    return 0;
}

/* The next token from *p: 0, or -1 with why (a comment, a '?', a quote left open). */
static int lex(const char **p, tok *t, char *why, size_t whylen)
{
    const char *s = *p;
    while (isspace((unsigned char)*s))
        s++;
    t->s = s;
    t->len = 1;
    if (!*s) {
        t->kind = T_END;
        t->len = 0;
    } else if ((s[0] == '-' && s[1] == '-') || s[0] == '#' || (s[0] == '/' && s[1] == '*')) {
        snprintf(why, whylen, "has a comment (%.2s): comments could hide the key range the step "
                 "adds; remove it", s);
        return -1;
    } else if (*s == '?') {
        snprintf(why, whylen, "has a '?': values belong in the SQL itself, and T is :now or "
                 ":now_unix");
        return -1;
    } else if (*s == '\'' || *s == '"' || *s == '`') {
        *p = s;
        return lex_quoted(p, t, why, whylen);
    } else if (*s == ':' && (isalpha((unsigned char)s[1]) || s[1] == '_')) {
        t->kind = T_PARAM;
        while (word_char(s[t->len]))
            t->len++;
    } else if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
        t->kind = T_NUM;
        while (word_char(s[t->len]) || s[t->len] == '.' ||
               ((s[t->len] == '+' || s[t->len] == '-') && (s[t->len - 1] == 'e' ||
                                                            s[t->len - 1] == 'E')))
            t->len++;
    } else if (word_char(*s)) {
        t->kind = T_WORD;
        while (word_char(s[t->len]))
            t->len++;
    } else if (strchr("<>=!&|", *s)) {
        t->kind = T_OP;
        while (s[t->len] && strchr("<>=!&|", s[t->len]))
            t->len++;
    } else {
        t->kind = *s == '(' ? T_LP : *s == ')' ? T_RP : T_OTHER;
    }
    *p = s + t->len;
    return 0;
}

static void sql_text_free(sql_text *x)
{
    free(x->toks);
    memset(x, 0, sizeof *x);
}

/*
 * Tokenise text and check what every option's SQL must meet: one statement,
 * no comment, no '?', known placeholders only, balanced parentheses.
 * 0, or -1 with why.
 */
static int scan(const char *text, sql_text *out, char *why, size_t whylen)
{
    const char *p = text;
    size_t cap = 16;
    int depth = 0;
    memset(out, 0, sizeof *out);
    if (strchr(text, ';')) {
        snprintf(why, whylen, "has a ';': one statement only (write CHAR(59) for the "
                 "character itself)");
        return -1;
    }
    out->toks = malloc(cap * sizeof *out->toks);
    if (!out->toks) {
        snprintf(why, whylen, "is too long to read (out of memory)");
        return -1;
    }
    for (;;) {
        tok t;
        if (lex(&p, &t, why, whylen) != 0)
            goto fail;
        if (t.kind == T_END)
            break;
        if (t.kind == T_PARAM) {
            int which = t.len == 4 && strncmp(t.s, ":now", 4) == 0        ? BIND_NOW
                        : t.len == 9 && strncmp(t.s, ":now_unix", 9) == 0 ? BIND_NOW_UNIX
                                                                          : -1;
            if (which < 0) {
                snprintf(why, whylen, "has the placeholder '%.*s'; the known ones are :now and "
                         ":now_unix", (int)(t.len > 64 ? 64 : t.len), t.s);
                goto fail;
            }
            if (out->nbinds == BINDS_MAX) {
                snprintf(why, whylen, "has more than %d placeholders", BINDS_MAX);
                goto fail;
            }
            out->binds[out->nbinds++] = which;
        }
        depth += t.kind == T_LP ? 1 : t.kind == T_RP ? -1 : 0;
        if (depth < 0) {
            snprintf(why, whylen, "closes a parenthesis it never opened");
            goto fail;
        }
        if (depth > DEPTH_MAX) { /* truth() recurses once per level */
            snprintf(why, whylen, "nests parentheses more than %d deep", DEPTH_MAX);
            goto fail;
        }
        if (out->n == cap) {
            tok *more = realloc(out->toks, 2 * cap * sizeof *more);
            if (!more) {
                snprintf(why, whylen, "is too long to read (out of memory)");
                goto fail;
            }
            out->toks = more;
            cap *= 2;
        }
        out->toks[out->n++] = t;
    }
    if (depth != 0) {
        snprintf(why, whylen, "leaves %d parenthes%s open", depth, depth == 1 ? "is" : "es");
        goto fail;
    }
    return 0;
fail:
    sql_text_free(out);
    return -1;
}

/* ------------------------------------------------------- always true? */

typedef enum truth_value { T_UNKNOWN, T_TRUE, T_FALSE } truth_value;

static truth_value truth(const tok *t, size_t a, size_t b);

/* The index of the token that closes the parenthesis at a, or b. */
static size_t closing(const tok *t, size_t a, size_t b)
{
    int depth = 0;
    for (size_t i = a; i < b; i++) {
        depth += t[i].kind == T_LP ? 1 : t[i].kind == T_RP ? -1 : 0;
        if (depth == 0)
            return i;
    }
    return b;
}

/* A plain decimal number, optionally signed, as the tokens a..b spell it: 1 and *v. */
static int number(const tok *t, size_t a, size_t b, double *v)
{
    int neg = 0;
    char buf[64], *end;
    if (b - a == 2 && t[a].kind == T_OTHER && (*t[a].s == '-' || *t[a].s == '+')) {
        neg = *t[a].s == '-';
        a++;
    }
    if (b - a != 1 || t[a].kind != T_NUM || t[a].len >= sizeof buf)
        return 0;
    memcpy(buf, t[a].s, t[a].len);
    buf[t[a].len] = '\0';
    if (strspn(buf, "0123456789.eE+-") != t[a].len) /* 0x1F, 1abc: not a plain number */
        return 0;
    *v = strtod(buf, &end);
    if (*end)
        return 0;
    if (neg)
        *v = -*v;
    return 1;
}

static int same_tokens(const tok *t, size_t a1, size_t b1, size_t a2, size_t b2)
{
    if (b1 - a1 != b2 - a2 || b1 == a1)
        return 0;
    for (size_t i = 0; i < b1 - a1; i++) {
        const tok *x = &t[a1 + i], *y = &t[a2 + i];
        if (x->kind != y->kind || x->len != y->len)
            return 0;
        if (x->kind == T_WORD ? strncasecmp(x->s, y->s, x->len) : strncmp(x->s, y->s, x->len))
            return 0;
    }
    return 1;
}

/* A single operand: a constant, or a parenthesised condition. */
static truth_value operand(const tok *t, size_t a, size_t b)
{
    double v;
    if (a < b && t[a].kind == T_LP && closing(t, a, b) == b - 1)
        return truth(t, a + 1, b - 1);
    if (number(t, a, b, &v))
        return v != 0 ? T_TRUE : T_FALSE;
    if (b - a == 1 && tok_is(&t[a], "TRUE"))
        return T_TRUE;
    if (b - a == 1 && tok_is(&t[a], "FALSE"))
        return T_FALSE;
    return T_UNKNOWN;
}

/* Comparison operators: 1 when equal operands make it true, 0 when false, -1: not one. */
static int comparison(const tok *t, size_t i, size_t b, size_t *rhs)
{
    static const char *const holds[] = { "=", "==", "<=", ">=", "<=>", NULL };
    static const char *const fails[] = { "<>", "!=", "<", ">", NULL };
    *rhs = i + 1;
    for (size_t k = 0; holds[k]; k++)
        if (op_is(&t[i], holds[k]))
            return 1;
    for (size_t k = 0; fails[k]; k++)
        if (op_is(&t[i], fails[k]))
            return 0;
    if (tok_is(&t[i], "LIKE"))
        return 1;
    if (tok_is(&t[i], "IS")) {
        if (i + 1 < b && tok_is(&t[i + 1], "NOT")) {
            *rhs = i + 2;
            return 0;
        }
        return 1;
    }
    return -1;
}

/* Two numbers compared by the operator at i. */
static truth_value compare_numbers(const tok *op, double l, double r)
{
    int v = op_is(op, "=") || op_is(op, "==") || op_is(op, "<=>") ? l == r
            : op_is(op, "<>") || op_is(op, "!=")                 ? l != r
            : op_is(op, "<")                                      ? l < r
            : op_is(op, ">")                                      ? l > r
            : op_is(op, "<=")                                     ? l <= r
            : op_is(op, ">=")                                     ? l >= r
                                                                  : -1;
    return v < 0 ? T_UNKNOWN : v ? T_TRUE : T_FALSE;
}

/* NOT ..., a comparison at depth 0, or an operand. */
static truth_value predicate(const tok *t, size_t a, size_t b)
{
    int depth = 0, negate = 0;
    /* NOT NOT ... counted, not recursed: a long chain must not exhaust the stack. */
    for (; a < b && tok_is(&t[a], "NOT"); a++)
        negate ^= 1;
    if (negate) {
        truth_value v = predicate(t, a, b);
        return v == T_TRUE ? T_FALSE : v == T_FALSE ? T_TRUE : T_UNKNOWN;
    }
    for (size_t i = a; i < b; i++) {
        depth += t[i].kind == T_LP ? 1 : t[i].kind == T_RP ? -1 : 0;
        size_t rhs;
        int eq = depth == 0 && i > a ? comparison(t, i, b, &rhs) : -1;
        if (eq < 0)
            continue;
        double l, r;
        if (same_tokens(t, a, i, rhs, b))
            return eq ? T_TRUE : T_FALSE;
        if (number(t, a, i, &l) && number(t, rhs, b, &r))
            return compare_numbers(&t[i], l, r);
        return T_UNKNOWN;
    }
    return operand(t, a, b);
}

/* Parts joined by AND (&&) at depth 0; the AND of a BETWEEN is not a join. */
static truth_value conjunction(const tok *t, size_t a, size_t b)
{
    int depth = 0, between = 0, all_true = 1, any_false = 0;
    size_t from = a;
    for (size_t i = a; i <= b; i++) {
        int join = 0;
        if (i < b) {
            depth += t[i].kind == T_LP ? 1 : t[i].kind == T_RP ? -1 : 0;
            if (depth == 0 && tok_is(&t[i], "BETWEEN"))
                between++;
            else if (depth == 0 && (tok_is(&t[i], "AND") || op_is(&t[i], "&&")))
                join = between ? (between--, 0) : 1;
        }
        if (i == b || join) {
            truth_value v = predicate(t, from, i);
            all_true &= v == T_TRUE;
            any_false |= v == T_FALSE;
            from = i + 1;
        }
    }
    return any_false ? T_FALSE : all_true ? T_TRUE : T_UNKNOWN;
}

/*
 * Is the condition t[a..b) always true, always false, or unknown? Parts
 * joined by OR at depth 0: one always true makes the whole so.
 */
static truth_value truth(const tok *t, size_t a, size_t b)
{
    int depth = 0, any_true = 0, all_false = 1;
    size_t from = a;
    if (a == b)
        return T_TRUE; /* nothing: every row */
    for (size_t i = a; i <= b; i++) {
        if (i < b) {
            depth += t[i].kind == T_LP ? 1 : t[i].kind == T_RP ? -1 : 0;
            if (depth != 0 || !(tok_is(&t[i], "OR") || op_is(&t[i], "||")))
                continue;
        }
        truth_value v = from < i ? conjunction(t, from, i) : T_UNKNOWN;
        any_true |= v == T_TRUE;
        all_false &= v == T_FALSE;
        from = i + 1;
    }
    return any_true ? T_TRUE : all_false ? T_FALSE : T_UNKNOWN;
}

/* ------------------------------------------------------------ the step */

/* Words a read query may not hold: they write, lock, or leave the statement. */
static const char *const writing_words[] = {
    "INSERT", "UPDATE", "DELETE", "REPLACE", "INTO", "MERGE", "UPSERT", "CREATE", "DROP", "ALTER",
    "TRUNCATE", "RENAME", "GRANT", "REVOKE", "LOCK", "UNLOCK", "CALL", "HANDLER", "PRAGMA",
    "ATTACH", "DETACH", "VACUUM", "REINDEX", "COMMIT", "ROLLBACK", "SAVEPOINT", "KILL",
    "SHUTDOWN", "FLUSH", NULL
};

typedef struct step {
    int read;          /* the read form */
    char *count;       /* write: the dry run's COUNT(*) */
    char *find, *update, *min_key, *table_only;
    char *query;       /* read */
    rc_value find_p[BINDS_MAX], update_p[BINDS_MAX], query_p[BINDS_MAX];
    size_t find_n, update_n, query_n;
    int find_b[BINDS_MAX], update_b[BINDS_MAX], query_b[BINDS_MAX];
    /* What the update changes (ABI 1.6): the columns set names, and its WHERE clause. */
    char cols[RC_CHANGE_COLUMNS_MAX][IDENT_MAX + 1];
    const char *colp[RC_CHANGE_COLUMNS_MAX];
    size_t ncols;      /* 0: set could not be read, the update is not declared */
    size_t set_n;      /* the update's parameters in set, before where's */
    char *update_where;
} step;

/*
 * The columns `set` assigns: "col = expr, `col` = expr, ..." split at the
 * commas outside quotes and parentheses. 0 when a piece does not start with
 * a column and '=' (the update then goes unrecorded, counted by the core).
 */
static size_t set_columns(const char *set, char cols[][IDENT_MAX + 1], size_t max)
{
    size_t n = 0;
    const char *p = set;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        int tick = *p == '`';
        p += tick;
        size_t len = 0;
        while (isalnum((unsigned char)p[len]) || p[len] == '_')
            len++;
        if (len == 0 || len > IDENT_MAX || n == max)
            return 0;
        memcpy(cols[n], p, len);
        cols[n][len] = '\0';
        p += len;
        if (tick && *p++ != '`')
            return 0;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=')
            return 0;
        n++;
        int depth = 0;
        char q = 0;
        for (; *p; p++) {
            if (q) {
                if (*p == q)
                    q = 0;
            } else if (*p == '\'' || *p == '"' || *p == '`') {
                q = *p;
            } else if (*p == '(') {
                depth++;
            } else if (*p == ')') {
                depth--;
            } else if (*p == ',' && depth == 0) {
                break;
            }
        }
        if (!*p)
            return n;
        p++;
    }
}

static void step_free(void *state)
{
    step *s = state;
    if (!s)
        return;
    free(s->count);
    free(s->find);
    free(s->update);
    free(s->min_key);
    free(s->table_only);
    free(s->query);
    free(s->update_where);
    free(s);
}

static int ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > IDENT_MAX || isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* A result key: dot-separated parts of letters, digits, '_' and '-'. */
static int result_key_ok(const char *s)
{
    size_t part = 0, n = strlen(s);
    if (n == 0 || n > KEY_MAX - 66)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (s[i] == '.' || !s[i]) {
            if (part == 0 || part > IDENT_MAX)
                return 0;
            part = 0;
        } else if (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-') {
            part++;
        } else {
            return 0;
        }
    }
    return 1;
}

static char *join(const char *a, const char *b, const char *c, const char *d, const char *e,
                  const char *f, const char *g)
{
    const char *parts[] = { a, b, c, d, e, f, g };
    size_t len = 1;
    for (size_t i = 0; i < 7; i++)
        len += parts[i] ? strlen(parts[i]) : 0;
    char *out = malloc(len);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < 7; i++)
        if (parts[i])
            strcat(out, parts[i]);
    return out;
}

/*
 * The option's text as written, each placeholder turned into '?' (never
 * longer). Tokens are not re-joined: MySQL reads COUNT (*) with a space as
 * an error.
 */
static char *placeholders(const char *text, const sql_text *x)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    const char *from = text;
    if (!out)
        return NULL;
    for (size_t i = 0; i < x->n; i++) {
        const tok *t = &x->toks[i];
        if (t->kind != T_PARAM)
            continue;
        memcpy(o, from, (size_t)(t->s - from));
        o += t->s - from;
        *o++ = '?';
        from = t->s + t->len;
    }
    strcpy(o, from);
    return out;
}

static void add_binds(int *dst, size_t *n, const sql_text *x)
{
    for (size_t i = 0; i < x->nbinds; i++)
        dst[(*n)++] = x->binds[i];
}

/* Check one option's SQL: 0 and *out, or -1 after fail_option. */
static int scan_option(rc_ctx *ctx, const char *name, sql_text *out)
{
    char why[256];
    if (scan(ctx->api->opt_string(ctx, name), out, why, sizeof why) == 0)
        return 0;
    ctx->api->fail_option(ctx, name, "%s", why);
    return -1;
}

/* The read form's query: SELECT or WITH, nothing that writes. */
static int check_query(rc_ctx *ctx, const sql_text *q)
{
    if (q->n == 0 || !(tok_is(&q->toks[0], "SELECT") || tok_is(&q->toks[0], "WITH"))) {
        ctx->api->fail_option(ctx, "query", "must start with SELECT (or WITH): a read query "
                              "runs in dry runs too, so it must not write");
        return -1;
    }
    for (size_t i = 0; i < q->n; i++)
        for (size_t k = 0; writing_words[k]; k++)
            if (tok_is(&q->toks[i], writing_words[k])) {
                ctx->api->fail_option(ctx, "query", "holds %s: a read query runs in dry runs "
                                      "too, so it must not write or lock", writing_words[k]);
                return -1;
            }
    return 0;
}

/* The write form's options, each on its own. */
static int check_write(rc_ctx *ctx, const sql_text *where)
{
    const rc_api *api = ctx->api;
    const char *table = api->opt_string(ctx, "table"), *key = api->opt_string(ctx, "key");
    int64_t batch = api->opt_int(ctx, "batch_size");
    if (!ident_ok(table)) {
        api->fail_option(ctx, "table", "must be a plain identifier (letters, digits, '_', not "
                         "starting with a digit, at most %d), got '%.80s'", IDENT_MAX, table);
        return -1;
    }
    if (!ident_ok(key)) {
        api->fail_option(ctx, "key", "must be a plain identifier (letters, digits, '_', not "
                         "starting with a digit, at most %d), got '%.80s'", IDENT_MAX, key);
        return -1;
    }
    if (!*api->opt_string(ctx, "set")) {
        api->fail_option(ctx, "set", "is required in the write form (e.g. \"status = "
                         "'failed'\")");
        return -1;
    }
    if (batch < 1 || batch > BATCH_MAX) {
        api->fail_option(ctx, "batch_size", "must be from 1 to %d, got %lld", BATCH_MAX,
                         (long long)batch);
        return -1;
    }
    if (!api->opt_bool(ctx, "allow_all") && truth(where->toks, 0, where->n) == T_TRUE) {
        api->fail_option(ctx, "where", "%s: it would change every row of %s. Narrow it, or set "
                         "allow_all: true if that is meant", where->n ? "is always true"
                         : "is empty", table);
        return -1;
    }
    return 0;
}

/* Bind values for the placeholders in order: T as text or Unix seconds. */
static void bind(rc_ctx *ctx, const int *which, size_t n, rc_value *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = which[i] == BIND_NOW ? rc_text(ctx->api->now_text(ctx))
                                      : rc_int(ctx->api->now(ctx));
}

/*
 * Check every option and derive the statements: 0 and *out (NULL out: only
 * check), or -1 after fail_option. The one place that reads the options.
 */
static int build(rc_ctx *ctx, step **out)
{
    const rc_api *api = ctx->api;
    sql_text where = { 0 }, set = { 0 }, query = { 0 };
    step *s = NULL;
    int rc = -1;
    const char *result = api->opt_string(ctx, "result");
    const char *qtext = api->opt_string(ctx, "query"), *table = api->opt_string(ctx, "table");

    if (!result_key_ok(result)) {
        api->fail_option(ctx, "result", "must be a result key: parts of letters, digits, '_' "
                         "or '-', joined by '.', got '%.80s'", result);
        return -1;
    }
    if (*qtext) {
        static const char *const write_only[] = { "table", "where", "set", NULL };
        for (size_t i = 0; write_only[i]; i++)
            if (*api->opt_string(ctx, write_only[i])) {
                api->fail_option(ctx, write_only[i], "belongs to the write form, and the step "
                                 "has a query (the read form): give one form");
                return -1;
            }
        if (scan_option(ctx, "query", &query) != 0)
            return -1;
        if (check_query(ctx, &query) != 0)
            goto out;
    } else {
        if (!*table) {
            api->fail(ctx, "give either query (the read form) or table, where and set (the "
                      "write form)");
            return -1;
        }
        if (scan_option(ctx, "where", &where) != 0 || scan_option(ctx, "set", &set) != 0 ||
            check_write(ctx, &where) != 0)
            goto out;
        if (set.nbinds + where.nbinds > BINDS_MAX) {
            api->fail_option(ctx, "where", "with set, has more than %d placeholders", BINDS_MAX);
            goto out;
        }
    }
    if (!out) {
        rc = 0;
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    if (*qtext) {
        s->read = 1;
        if (!(s->query = placeholders(qtext, &query)))
            goto oom;
        add_binds(s->query_b, &s->query_n, &query);
    } else {
        const char *key = api->opt_string(ctx, "key");
        char *w = placeholders(api->opt_string(ctx, "where"), &where);
        char *st = placeholders(api->opt_string(ctx, "set"), &set);
        char qt[IDENT_MAX + 3], qk[IDENT_MAX + 3];
        int ok = w && st;
        snprintf(qt, sizeof qt, "`%s`", table);
        snprintf(qk, sizeof qk, "`%s`", key);
        /* "(where) AND " or nothing (allow_all with no where). */
        char *cond = ok ? join(where.n ? "(" : "", w, where.n ? ") AND " : "", NULL, NULL, NULL,
                               NULL) : NULL;
        if (cond) {
            s->table_only = join("SELECT COUNT(*) FROM ", qt, NULL, NULL, NULL, NULL, NULL);
            s->count = join("SELECT COUNT(*) FROM ", qt, where.n ? " WHERE (" : "", w,
                            where.n ? ")" : "", NULL, NULL);
            s->min_key = join("SELECT MIN(", qk, ") FROM ", qt, NULL, NULL, NULL);
            char *f1 = join("SELECT ", qk, " FROM ", qt, " WHERE ", cond, qk);
            s->find = f1 ? join(f1, " > ? ORDER BY ", qk, " LIMIT ?", NULL, NULL, NULL) : NULL;
            char *u1 = join("UPDATE ", qt, " SET ", st, " WHERE ", cond, qk);
            s->update_where = join(cond, qk, " > ? AND ", qk, " <= ?", NULL, NULL);
            s->update = u1 ? join(u1, " > ? AND ", qk, " <= ?", NULL, NULL, NULL) : NULL;
            free(f1);
            free(u1);
        }
        free(cond);
        free(w);
        free(st);
        if (!s->table_only || !s->count || !s->min_key || !s->find || !s->update ||
            !s->update_where)
            goto oom;
        s->ncols = set_columns(api->opt_string(ctx, "set"), s->cols, RC_CHANGE_COLUMNS_MAX);
        for (size_t i = 0; i < s->ncols; i++)
            s->colp[i] = s->cols[i];
        s->set_n = set.nbinds;
        add_binds(s->find_b, &s->find_n, &where);
        add_binds(s->update_b, &s->update_n, &set);
        add_binds(s->update_b, &s->update_n, &where);
    }
    *out = s;
    s = NULL;
    rc = 0;
    goto out;
oom:
    api->fail(ctx, "out of memory building the step's statements");
out:
    step_free(s);
    sql_text_free(&where);
    sql_text_free(&set);
    sql_text_free(&query);
    return rc;
}

/* Before any run, and in `validate`: everything that can be known without a database. */
static int check(rc_ctx *ctx)
{
    return build(ctx, NULL) == 0 ? RC_OK : RC_ERROR;
}

/* Have the database compile one statement; blame option when it does not. */
static int compiles(rc_ctx *ctx, const char *sql, const char *option)
{
    if (ctx->api->db_prepare(ctx, sql) == RC_OK)
        return 0;
    ctx->api->fail_option(ctx, option, "does not compile on %s: %s (the statement: %.400s)",
                          ctx->api->db_driver(ctx), ctx->api->db_error(ctx), sql);
    return -1;
}

/*
 * validate --db and every run: the statements compile. Each is tried in the
 * order that names the right option: the table alone, then where, key, set.
 */
static int prepare(rc_ctx *ctx)
{
    step *s = NULL;
    int rc = RC_ERROR;
    if (build(ctx, &s) != 0)
        return RC_ERROR;
    if (s->read ? compiles(ctx, s->query, "query") == 0
                : compiles(ctx, s->table_only, "table") == 0 &&
                      compiles(ctx, s->count, "where") == 0 &&
                      compiles(ctx, s->min_key, "key") == 0 &&
                      compiles(ctx, s->find, "key") == 0 &&
                      compiles(ctx, s->update, "set") == 0)
        rc = RC_OK;
    step_free(s);
    return rc;
}

static int init(rc_ctx *ctx, void **state)
{
    step *s = NULL;
    if (build(ctx, &s) != 0)
        return RC_ERROR;
    *state = s;
    return RC_OK;
}

/* ---------------------------------------------------------- read form */

typedef struct reader {
    rc_ctx *ctx;
    const char *result;
    int64_t rows;
    char err[320];
} reader;

/* One figure from a column: ints, doubles (DECIMAL too), NULL as 0, numeric text. */
static int report(reader *r, const char *key, const rc_value *v)
{
    char *end;
    switch (v->type) {
    case RC_INT: return r->ctx->api->result_int(r->ctx, key, v->i);
    case RC_DOUBLE: return r->ctx->api->result_double(r->ctx, key, v->d);
    case RC_NULL: return r->ctx->api->result_int(r->ctx, key, 0);
    case RC_TEXT: {
        errno = 0;
        long long i = strtoll(v->s, &end, 10);
        if (*v->s && !*end && errno == 0)
            return r->ctx->api->result_int(r->ctx, key, i);
        double d = strtod(v->s, &end);
        if (*v->s && !*end && isfinite(d))
            return r->ctx->api->result_double(r->ctx, key, d);
        break;
    }
    }
    snprintf(r->err, sizeof r->err, "the query's number for '%.80s' is not a number: '%.60s'",
             key, v->type == RC_TEXT ? v->s : "?");
    return RC_ERROR;
}

static int read_row(void *user, const rc_value *cols, size_t ncols)
{
    reader *r = user;
    char key[KEY_MAX], label[80];
    if (++r->rows > 1 && ncols == 1) {
        snprintf(r->err, sizeof r->err, "the query returned more than one row of one column; "
                 "return one number, or rows of label, number");
        return 1;
    }
    if (ncols == 1)
        return report(r, r->result, &cols[0]) != RC_OK;
    if (ncols != 2) {
        snprintf(r->err, sizeof r->err, "the query returned %zu columns; return one number, or "
                 "rows of label, number", ncols);
        return 1;
    }
    if (cols[0].type == RC_INT)
        snprintf(label, sizeof label, "%lld", (long long)cols[0].i);
    else if (cols[0].type == RC_TEXT && *cols[0].s && strlen(cols[0].s) < sizeof label &&
             !strchr(cols[0].s, '.'))
        snprintf(label, sizeof label, "%s", cols[0].s);
    else {
        snprintf(r->err, sizeof r->err, "the query returned a label that cannot be a result key "
                 "(NULL, empty, longer than %zu bytes, or with a '.'): give every row a short "
                 "label", sizeof label - 1);
        return 1;
    }
    snprintf(key, sizeof key, "%s.%s", r->result, label);
    return report(r, key, &cols[1]) != RC_OK;
}

static int run_read(rc_ctx *ctx, step *s)
{
    reader r = { ctx, ctx->api->opt_string(ctx, "result"), 0, "" };
    bind(ctx, s->query_b, s->query_n, s->query_p);
    if (ctx->api->db_query(ctx, s->query, s->query_p, s->query_n, read_row, &r) != RC_OK)
        return RC_ERROR;
    if (r.err[0]) {
        ctx->api->fail(ctx, "%s", r.err);
        return RC_ERROR;
    }
    return RC_OK;
}

/* --------------------------------------------------------- write form */

/* Where keyset paging starts: just below the smallest key, found by its type. */
static int min_key_row(void *user, const rc_value *cols, size_t ncols)
{
    rc_value *first = user;
    if (ncols >= 1)
        *first = cols[0];
    if (first->type == RC_TEXT)
        first->s = ""; /* the smallest text: the row's own string is gone after this call */
    return 1;
}

static int run_write(rc_ctx *ctx, step *s)
{
    const rc_api *api = ctx->api;
    const char *result = api->opt_string(ctx, "result"), *table = api->opt_string(ctx, "table");
    rc_value first = rc_null();
    int64_t n = 0;

    bind(ctx, s->find_b, s->find_n, s->find_p);
    bind(ctx, s->update_b, s->update_n, s->update_p);
    if (api->dry_run(ctx)) {
        if (rc_count(ctx, s->count, s->find_p, s->find_n, &n) != RC_OK)
            return RC_ERROR;
        /*
         * At most one change record per matched row (a row the set leaves
         * as it was gets none); none when set names no plain column.
         */
        if (api->result_int(ctx, "wouldRecordChanges", s->ncols ? n : 0) != RC_OK)
            return RC_ERROR;
        return api->result_int(ctx, result, n);
    }
    if (api->db_query(ctx, s->min_key, NULL, 0, min_key_row, &first) != RC_OK)
        return RC_ERROR;
    if (first.type == RC_INT) {
        if (first.i == INT64_MIN) {
            api->fail_option(ctx, "key", "holds the smallest 64-bit integer, below which keyset "
                             "paging cannot start");
            return RC_ERROR;
        }
        first.i--;
    } else if (first.type == RC_DOUBLE) {
        first.d = nextafter(first.d, -INFINITY);
    }
    if (first.type != RC_NULL) { /* NULL: the table is empty */
        rc_chunk_stmt update = { s->update, s->update_p, s->update_n, 0 };
        rc_change_decl decl = { table, api->opt_string(ctx, "key"), s->colp, s->ncols,
                                s->update_where, s->set_n };
        /* A 1.5 core records nothing; set that names no plain columns goes unrecorded. */
        if (s->ncols && RC_API_HAS(ctx, declare_changes) &&
            api->declare_changes(ctx, &decl, 1) != RC_OK)
            return RC_ERROR;
        if (api->db_chunked(ctx, s->find, s->find_p, s->find_n, first,
                            api->opt_int(ctx, "batch_size"), &update, 1) != RC_OK)
            return RC_ERROR;
        n = update.affected;
    }
    if (n > 0)
        api->log(ctx, RC_LOG_INFO, "changed %lld rows of %s", (long long)n, table);
    return api->result_int(ctx, result, n);
}

static int run(rc_ctx *ctx, void *state)
{
    step *s = state;
    return s->read ? run_read(ctx, s) : run_write(ctx, s);
}

RC_PLUGIN_PREPARE("sql", "A step written in SQL: a chunked UPDATE, or a query's figures",
                  "1.2.0", options, init, run, step_free, check, prepare)
