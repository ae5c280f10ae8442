/* SPDX-License-Identifier: MIT */
/* changes_noted.c - see changes.h (changes_noted). */
#include "db/changes.h"
#include "db/changes_impl.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * MySQL: the statement notes its own rows (changes_noted). Its first SET
 * assignment (the first declared column set to itself, evaluated before
 * the statement's own ones: MySQL and MariaDB assign left to right, and
 * take a column assigned twice) puts the row's key and values in
 * @rc_b; its last one, after the statement's, the new values in @rc_a and
 * appends both to one of S strings, @rc_s0 .. @rc_s<S-1>, in turn (each
 * value as note_form says). S strings, not one:
 * the server copies a user variable's whole value at every append, so one
 * string would cost the square of the chunk's rows (a 5000-row chunk of
 * 150-byte notes took half a second); with about 64 rows in each, the
 * copies are a few megabytes a chunk. ELT picks the row's string with one
 * evaluation (a CASE would compare the row's number with every arm in turn).
 */
#define NOTE_ROWS_PER_STRING 64
#define NOTE_STRINGS_MAX 256
/* A larger chunk reads its rows instead (changes_before / changes_after). */
#define NOTE_ROWS_MAX (NOTE_ROWS_PER_STRING * NOTE_STRINGS_MAX)

typedef enum { NOTE_NONE = 0, NOTE_TEXT, NOTE_INT, NOTE_DOUBLE } note_kind;

/*
 * How a value is written in a note (see note_value): numbers and times as
 * "text," ("," alone for NULL: their text is never empty and holds no
 * comma), utf8mb4 text as "BYTES:text" ("-" for NULL), text of another
 * character set the same after a CONVERT to utf8mb4. (Every value
 * converted and length-prefixed cost the leases step a tenth of its time.)
 */
typedef enum { FORM_BARE = 0, FORM_TEXT, FORM_CONV } note_form;

struct capture_plan {
    int state; /* 0: not looked up yet; 1: the statement notes its rows; -1: it cannot */
    unsigned char kind[1 + RC_CHANGE_COLUMNS_MAX]; /* the key's, then each column's */
    unsigned char form[1 + RC_CHANGE_COLUMNS_MAX]; /* the same, note_form */
};

typedef struct kinds_ctx {
    const rc_change_decl *decl;
    unsigned char *kind, *form;
} kinds_ctx;

/*
 * How a column's text reads back as the value a read of the row gives
 * (db_mysql.c): integers and doubles as numbers (DECIMAL too, as the read
 * path converts it), text and times as text. A type whose text would not
 * read back the same (FLOAT's shortest digits, binary strings, BIT) is
 * NOTE_NONE: the rows are read instead.
 */
static note_kind kind_of_type(const char *type, const char *charset)
{
    static const char *const ints[] = { "tinyint", "smallint", "mediumint", "int", "bigint",
                                        "year" };
    static const char *const texts[] = { "char", "varchar", "tinytext", "text", "mediumtext",
                                         "longtext", "enum", "set", "json", "date",
                                         "datetime", "timestamp", "time" };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (strcasecmp(type, ints[i]) == 0)
            return NOTE_INT; /* (a BIGINT UNSIGNED past INT64_MAX too: note_parse) */
    if (strcasecmp(type, "double") == 0 || strcasecmp(type, "decimal") == 0)
        return NOTE_DOUBLE;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        if (strcasecmp(type, texts[i]) == 0)
            return strcasecmp(charset, "binary") == 0 ? NOTE_NONE : NOTE_TEXT;
    return NOTE_NONE;
}

/* A type's note_form: text has a character set, numbers and times none. */
static note_form form_of(note_kind kind, const char *charset)
{
    if (kind != NOTE_TEXT || !*charset)
        return FORM_BARE;
    return strcasecmp(charset, "utf8mb4") == 0 ? FORM_TEXT : FORM_CONV;
}

static int kinds_row(void *user, const rc_value *c, size_t n)
{
    kinds_ctx *k = user;
    if (n < 3 || c[0].type != RC_TEXT || c[1].type != RC_TEXT)
        return 0;
    const char *cs = c[2].type == RC_TEXT ? c[2].s : "";
    note_kind kind = kind_of_type(c[1].s, cs);
    unsigned char form = (unsigned char)form_of(kind, cs);
    if (strcasecmp(c[0].s, k->decl->key_column) == 0) {
        k->kind[0] = (unsigned char)(kind == NOTE_DOUBLE ? NOTE_NONE : kind);
        k->form[0] = form;
    }
    for (size_t i = 0; i < k->decl->ncolumns; i++)
        if (strcasecmp(c[0].s, k->decl->columns[i]) == 0) {
            k->kind[1 + i] = (unsigned char)kind;
            k->form[1 + i] = form;
        }
    return 0;
}

/* Look up whether decl's statements can note their rows, once per chunked call. */
static const struct capture_plan *plan_of(db *d, size_t i, const rc_change_decl *decl,
                                          changes_meta *m)
{
    if (!m->plans)
        m->plans = xcalloc(m->ndecls ? m->ndecls : 1, sizeof *m->plans);
    struct capture_plan *p = &m->plans[i < m->ndecls ? i : 0];
    if (p->state != 0)
        return p;
    p->state = -1;
    /* SIMULTANEOUS_ASSIGNMENT makes every assignment see the old row: no after-values. */
    int64_t simultaneous = 1;
    if (db_query_core(d, "SELECT @@sql_mode LIKE '%SIMULTANEOUS_ASSIGNMENT%'", NULL, 0,
                      rc__count_row, &simultaneous) != 0 || simultaneous)
        return p;
    kinds_ctx k = { decl, p->kind, p->form };
    rc_value t = rc_text(decl->table);
    if (db_query_core(d, "SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, '') FROM information_schema.COLUMNS "
                      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", &t, 1, kinds_row,
                      &k) != 0)
        return p;
    for (size_t c = 0; c <= decl->ncolumns; c++)
        if (p->kind[c] == NOTE_NONE)
            return p;
    p->state = 1;
    return p;
}

/* The length of "UPDATE <table> SET " at the start of stmt (the table plain or quoted), or 0. */
static size_t update_head(const rc_change_decl *decl, const char *stmt)
{
    const char *p = stmt;
    size_t lt = strlen(decl->table);
    if (strncasecmp(p, "UPDATE", 6) != 0 || !isspace((unsigned char)p[6]))
        return 0;
    for (p += 6; isspace((unsigned char)*p); p++)
        ;
    int quoted = *p == '`';
    p += quoted;
    if (strncmp(p, decl->table, lt) != 0)
        return 0;
    p += lt;
    if (quoted && *p++ != '`')
        return 0;
    if (!isspace((unsigned char)*p))
        return 0;
    while (isspace((unsigned char)*p))
        p++;
    if (strncasecmp(p, "SET", 3) != 0 || !isspace((unsigned char)p[3]))
        return 0;
    return (size_t)(p + 4 - stmt);
}

/* One note value of column col, written as form says (note_form). */
static void note_value(strbuf *sb, const char *col, note_form form)
{
    if (form == FORM_BARE)
        sb_printf(sb, "COALESCE(`%s`, ''), ','", col);
    else if (form == FORM_TEXT)
        sb_printf(sb, "IF(`%s` IS NULL, '-', CONCAT(LENGTH(`%s`), ':', `%s`))", col, col, col);
    else
        sb_printf(sb, "IF(`%s` IS NULL, '-', CONCAT(LENGTH(CONVERT(`%s` USING utf8mb4)), ':', "
                  "CONVERT(`%s` USING utf8mb4)))", col, col, col);
}

static void note_values(strbuf *sb, const rc_change_decl *decl, const struct capture_plan *plan,
                        int with_key)
{
    sb_printf(sb, "CONCAT(");
    if (with_key) {
        note_value(sb, decl->key_column, (note_form)plan->form[0]);
        sb_putc(sb, ',');
    }
    for (size_t c = 0; c < decl->ncolumns; c++) {
        if (c)
            sb_putc(sb, ',');
        note_value(sb, decl->columns[c], (note_form)plan->form[1 + c]);
    }
    sb_putc(sb, ')');
}

/* stmt with the two noting assignments (see NOTE_ROWS_PER_STRING), nstr strings. */
static char *noted_sql(const rc_change_decl *decl, const struct capture_plan *plan,
                       const char *stmt, size_t head, size_t nstr)
{
    /*
     * The noting assignments set the first declared column to itself, a
     * column the statement sets anyway: assigning the key (as before) made
     * MariaDB buffer every matched row's id first and read each again when
     * the statement walks the primary key ("Using buffer": the followups
     * step's UPDATEs took half again their time).
     */
    const char *k = decl->columns[0];
    size_t ls = strlen(stmt), lw = strlen(decl->where), lk = strlen(" WHERE ");
    strbuf sb = STRBUF_INIT;
    sb_addn(&sb, stmt, head);
    sb_printf(&sb, "`%s` = IF((@rc_b := ", k);
    note_values(&sb, decl, plan, 1);
    sb_printf(&sb, ") IS NULL, `%s`, `%s`), ", k, k);
    sb_addn(&sb, stmt + head, ls - lw - lk - head);
    sb_printf(&sb, ", `%s` = IF((@rc_a := ", k);
    note_values(&sb, decl, plan, 0);
    sb_printf(&sb, ") IS NULL OR ELT((@rc_n := @rc_n + 1) %% %zu + 1", nstr);
    for (size_t s = 0; s < nstr; s++)
        sb_printf(&sb, ", @rc_s%zu := CONCAT(COALESCE(@rc_s%zu, ''), @rc_b, @rc_a)", s, s);
    sb_printf(&sb, ") IS NULL, `%s`, `%s`)%s", k, k, stmt + ls - lw - lk);
    return sb_take(&sb);
}

typedef struct notes_ctx {
    const rc_change_decl *decl;
    const struct capture_plan *plan;
    change_rows *r;
    cval *after;
    size_t cap_after;
    int64_t counted; /* @rc_n: the rows the statement matched */
    int bad;
} notes_ctx;

/* One note value at *p (advanced; note_form): into v as kind; 0, or -1 when malformed. */
static int note_parse(const char **p, const char *end, note_kind kind, note_form form, cval *v)
{
    char *text;
    memset(v, 0, sizeof *v);
    if (form == FORM_BARE) {
        const char *comma = memchr(*p, ',', (size_t)(end - *p));
        if (!comma)
            return -1;
        size_t len = (size_t)(comma - *p);
        text = len ? xstrndup(*p, len) : NULL;
        *p = comma + 1;
        if (!text) {
            v->type = RC_NULL;
            return 0;
        }
    } else {
        if (*p < end && **p == '-') {
            (*p)++;
            v->type = RC_NULL;
            return 0;
        }
        char *colon;
        unsigned long long len = strtoull(*p, &colon, 10);
        if (colon == *p || colon >= end || *colon != ':' || len > (size_t)(end - colon - 1))
            return -1;
        text = xstrndup(colon + 1, (size_t)len);
        *p = colon + 1 + len;
    }
    if (kind == NOTE_INT) {
        /* A BIGINT UNSIGNED above INT64_MAX is a double, as a read of it gives (db_mysql.c). */
        unsigned long long u = text[0] == '-' ? 0 : strtoull(text, NULL, 10);
        if (u > INT64_MAX) {
            v->type = RC_DOUBLE;
            v->d = (double)u;
        } else {
            v->type = RC_INT;
            v->i = strtoll(text, NULL, 10);
        }
        free(text);
    } else if (kind == NOTE_DOUBLE) {
        v->type = RC_DOUBLE;
        v->d = util_strtod(text, NULL);
        free(text);
    } else {
        v->type = RC_TEXT;
        v->s = text;
    }
    return 0;
}

/* The rows in one string of notes: key, before-values, after-values, row after row. */
static int notes_row(void *user, const rc_value *cols, size_t n)
{
    notes_ctx *x = user;
    change_rows *r = x->r;
    size_t nc = x->decl->ncolumns;
    if (n >= 1 && cols[0].type == RC_INT)
        x->counted = cols[0].i;
    for (size_t s = 1; s < n; s++) {
        if (cols[s].type != RC_TEXT)
            continue;
        const char *p = cols[s].s, *end = p + strlen(p);
        while (p < end) {
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 64;
                r->key = xrealloc(r->key, r->cap * sizeof *r->key);
                r->keytext = xrealloc(r->keytext, r->cap * sizeof *r->keytext);
                r->before = xrealloc(r->before, r->cap * nc * sizeof *r->before);
                r->live = xrealloc(r->live, r->cap);
                x->after = xrealloc(x->after, r->cap * nc * sizeof *x->after);
            }
            cval key;
            if (note_parse(&p, end, (note_kind)x->plan->kind[0], (note_form)x->plan->form[0],
                           &key) != 0) {
                x->bad = 1;
                return 1;
            }
            size_t i = r->n;
            /* Counted now so that the values below are freed with the rows, whatever comes. */
            for (size_t c = 0; c < nc; c++) {
                memset(&r->before[i * nc + c], 0, sizeof *r->before);
                memset(&x->after[i * nc + c], 0, sizeof *x->after);
            }
            r->keytext[i] = key.type == RC_TEXT ? key.s : changes_key_text(&(rc_value){ .type = key.type, .i = key.i });
            r->key[i] = rc_text(r->keytext[i]);
            r->live[i] = 1;
            r->n++;
            for (size_t c = 0; c < 2 * nc; c++) {
                cval *v = c < nc ? &r->before[i * nc + c] : &x->after[i * nc + c - nc];
                if (note_parse(&p, end, (note_kind)x->plan->kind[1 + c % nc],
                               (note_form)x->plan->form[1 + c % nc], v) != 0) {
                    x->bad = 1;
                    return 1;
                }
            }
        }
    }
    return 0;
}

int changes_noted(db *d, size_t i, const rc_change_decl *decl, const char *stmt,
                  const rc_value *params, size_t n, int64_t rows_hint, changes_meta *m,
                  int64_t *affected)
{
    size_t head;
    if (db_get_kind(d) != DB_MYSQL || rows_hint > NOTE_ROWS_MAX ||
        !changes_ends_with_where(decl, stmt) || !(head = update_head(decl, stmt)))
        return 0;
    const struct capture_plan *plan = plan_of(d, i, decl, m);
    if (plan->state != 1)
        return 0;
    size_t nstr = 1;
    while (nstr < NOTE_STRINGS_MAX && (int64_t)(nstr * NOTE_ROWS_PER_STRING) < rows_hint)
        nstr *= 2;
    char *sql = noted_sql(decl, plan, stmt, head, nstr);
    strbuf reset = STRBUF_INIT, read = STRBUF_INIT;
    sb_printf(&reset, "SELECT @rc_n := 0");
    sb_printf(&read, "SELECT @rc_n");
    for (size_t s = 0; s < nstr; s++) {
        sb_printf(&reset, ", @rc_s%zu := NULL", s);
        sb_printf(&read, ", @rc_s%zu", s);
    }
    notes_ctx x = { decl, plan, xcalloc(1, sizeof *x.r), NULL, 0, -1, 0 };
    x.r->ncols = decl->ncolumns;
    int rc = -1;
    /* (A malformed note stops the read: its rows are counted as missed, below.) */
    if (db_query_core(d, reset.s, NULL, 0, changes_ignore_row, NULL) != 0 ||
        db_exec(d, sql, params, n, affected) != 0)
        goto out;
    if (db_query_core(d, read.s, NULL, 0, notes_row, &x) != 0 && !x.bad)
        goto out;
    /*
     * A note lost (a string past max_allowed_packet is NULL) or unreadable:
     * those rows changed unrecorded, counted, never silently.
     */
    if (x.bad)
        m->missed += x.counted > 0 ? x.counted : 0;
    else if (x.counted > (int64_t)x.r->n)
        m->missed += x.counted - (int64_t)x.r->n;
    for (size_t k = 0; !x.bad && k < x.r->n; k++)
        changes_note_row(m, decl, x.r, k, x.after);
    rc = 1;
out:
    for (size_t k = 0; k < x.r->n * decl->ncolumns; k++)
        free(x.after[k].s);
    free(x.after);
    change_rows_free(x.r);
    sb_free(&reset);
    sb_free(&read);
    free(sql);
    return rc;
}

