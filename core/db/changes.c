/* SPDX-License-Identifier: MIT */
/* changes.c - see changes.h. */
#include "db/changes.h"
#include "db/changes_impl.h"
#include "base/json.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Keys read back per query, and records per INSERT: well under every driver's parameter cap. */
#define AFTER_KEYS 500
/*
 * Records per set row (migration 009), well below CHANGES_ID_SPAN; the
 * prune binds one parameter per key (SQLite binds up to 32766, MySQL 65535).
 */
#define SET_RECORDS 500
/* Sets keyed a transaction (changes_key_sets): up to 10,000 key rows. */
#define KEY_SETS_A_TX 20

/*
 * The chunk's rows are plain C, not JSON objects: a record is built as text
 * once, at the flush. (Jansson trees of every row's values, built and freed
 * per chunk, were a third of what records cost.)
 */


static void cval_set(cval *c, const rc_value *v)
{
    memset(c, 0, sizeof *c);
    c->type = v->type == RC_INT || v->type == RC_DOUBLE || v->type == RC_TEXT ? v->type : RC_NULL;
    c->i = v->i;
    c->d = v->d;
    if (c->type == RC_TEXT)
        c->s = xstrdup(v->s ? v->s : "");
}

/* Move *from into *to (to's old value freed); *from is NULL after. */
static void cval_move(cval *to, cval *from)
{
    free(to->s);
    *to = *from;
    memset(from, 0, sizeof *from);
}

static int cval_eq(const cval *a, const cval *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case RC_INT:
        return a->i == b->i;
    case RC_DOUBLE:
        return a->d == b->d;
    case RC_TEXT:
        return strcmp(a->s, b->s) == 0;
    default:
        return 1;
    }
}

/* c as JSON, as jansson writes it: text that is not UTF-8 is said to be so, not dropped. */
static void cval_json(strbuf *sb, const cval *c)
{
    char num[40];
    switch (c->type) {
    case RC_INT:
        sb_addn(sb, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)c->i));
        return;
    case RC_DOUBLE:
        if (!isfinite(c->d)) {
            sb_printf(sb, "null");
            return;
        }
        snprintf(num, sizeof num, "%.17g", c->d);
        sb_printf(sb, "%s%s", num, strpbrk(num, ".eE") ? "" : ".0");
        return;
    case RC_TEXT:
        break;
    default:
        sb_printf(sb, "null");
        return;
    }
    const unsigned char *p = (const unsigned char *)c->s;
    if (!text_valid(c->s, strlen(c->s)))
        p = (const unsigned char *)"(not UTF-8)";
    sb_putc(sb, '"');
    while (*p) {
        /* The run of characters that need no escape goes in one piece. */
        size_t run = 0;
        while (p[run] && p[run] != '"' && p[run] != '\\' && p[run] >= 0x20)
            run++;
        sb_addn(sb, (const char *)p, run);
        p += run;
        if (!*p)
            break;
        if (*p == '"' || *p == '\\')
            sb_printf(sb, "\\%c", *p);
        else if (*p == '\n')
            sb_addn(sb, "\\n", 2);
        else if (*p == '\t')
            sb_addn(sb, "\\t", 2);
        else if (*p == '\r')
            sb_addn(sb, "\\r", 2);
        else
            sb_printf(sb, "\\u%04x", *p);
        p++;
    }
    sb_putc(sb, '"');
}


static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of key (its own, or the empty one where it would go). */
static size_t strmap_slot(const strmap *m, const char *key)
{
    size_t i = (size_t)hash_text(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static size_t *strmap_get(const strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = strmap_slot(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

static void strmap_put(strmap *m, const char *key, size_t val)
{
    if (2 * (m->n + 1) > m->cap) { /* at most half full */
        strmap old = *m;
        m->cap = old.cap ? 2 * old.cap : 256;
        m->keys = xcalloc(m->cap, sizeof *m->keys);
        m->vals = xcalloc(m->cap, sizeof *m->vals);
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i])
                strmap_put(m, old.keys[i], old.vals[i]);
        free(old.keys);
        free(old.vals);
    }
    size_t i = strmap_slot(m, key);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

static void strmap_free(strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int text_row(void *user, const rc_value *cols, size_t n);


/* One column of a record: its first before, its last after. */
typedef struct rec_col {
    const char *name; /* the declaration's (it outlives the chunk) */
    cval before, after;
} rec_col;

typedef struct rec {
    char *id;          /* "table\x1fkey": the map's key */
    const char *table; /* the declaration's */
    char *key;
    size_t ncols, cap;
    rec_col *cols; /* the columns that changed (two statements may name different ones) */
} rec;

/* The open chunk's changed rows, in the order they were first changed. */
struct change_set {
    size_t n, cap;
    rec *recs;
    strmap index; /* id -> record number */
};

static int plain_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

int changes_check(const rc_change_decl *decl, size_t nparams, char *err, size_t errlen)
{
    if (!plain_name(decl->table) || !plain_name(decl->key_column)) {
        snprintf(err, errlen, "a change declaration needs a plain table and key_column "
                 "([A-Za-z0-9_], 64 at most)");
        return -1;
    }
    if (decl->ncolumns < 1 || decl->ncolumns > RC_CHANGE_COLUMNS_MAX || !decl->columns) {
        snprintf(err, errlen, "a change declaration names 1 to %d columns",
                 RC_CHANGE_COLUMNS_MAX);
        return -1;
    }
    for (size_t i = 0; i < decl->ncolumns; i++) {
        if (!plain_name(decl->columns[i])) {
            snprintf(err, errlen, "change declaration column %zu is not a plain name", i);
            return -1;
        }
    }
    if (!decl->where || !*decl->where || decl->where_param > nparams) {
        snprintf(err, errlen, "a change declaration needs its statement's WHERE clause, "
                 "and where_param within the statement's parameters");
        return -1;
    }
    return 0;
}

/* Room for a copy of s and its NUL, or 0 for NULL. */
static size_t str_room(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copy s to *at (advanced past it); NULL stays NULL. */
static const char *str_put(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *to = memcpy(*at, s, n);
    *at += n;
    return to;
}

rc_change_decl *changes_copy(const rc_change_decl *decls, size_t n)
{
    if (!n || !decls)
        return NULL;
    /* Layout: the array, then every column list, then the characters (no padding needed). */
    size_t ptrs = 0, chars = 0;
    for (size_t i = 0; i < n; i++) {
        const rc_change_decl *d = &decls[i];
        if (!d->table)
            continue; /* declares nothing: its other fields are not read */
        chars += str_room(d->table) + str_room(d->key_column) + str_room(d->where);
        if (d->columns) {
            ptrs += d->ncolumns;
            for (size_t c = 0; c < d->ncolumns; c++)
                chars += str_room(d->columns[c]);
        }
    }
    rc_change_decl *out = xmalloc(n * sizeof *out + ptrs * sizeof(char *) + chars);
    const char **cols = (const char **)(out + n);
    char *at = (char *)(cols + ptrs);
    for (size_t i = 0; i < n; i++) {
        const rc_change_decl *d = &decls[i];
        memset(&out[i], 0, sizeof out[i]);
        if (!d->table)
            continue;
        out[i] = *d;
        out[i].table = str_put(&at, d->table);
        out[i].key_column = str_put(&at, d->key_column);
        out[i].where = str_put(&at, d->where);
        if (d->columns) {
            for (size_t c = 0; c < d->ncolumns; c++)
                cols[c] = str_put(&at, d->columns[c]);
            out[i].columns = cols;
            cols += d->ncolumns;
        }
    }
    return out;
}

static json_t *value_json(const rc_value *v)
{
    json_t *j = NULL;
    switch (v->type) {
    case RC_INT:
        return jx(json_integer((json_int_t)v->i));
    case RC_DOUBLE:
        return jx(json_real(v->d));
    case RC_TEXT:
        /* Text that is not UTF-8 cannot be JSON: say so rather than drop the record. */
        j = json_string(v->s);
        return j ? j : jx(json_string("(not UTF-8)"));
    default:
        return json_null();
    }
}

char *changes_key_text(const rc_value *v)
{
    switch (v->type) {
    case RC_INT:
        return xasprintf("%lld", (long long)v->i);
    case RC_DOUBLE:
        return xasprintf("%.17g", v->d);
    case RC_TEXT:
        return xstrdup(v->s);
    default:
        return xstrdup("");
    }
}

/*
 * "SELECT `key`, `c1`, ... FROM `table` WHERE ": names are plain (checked),
 * quoted so that a reserved word is a name; SQLite takes MySQL's backticks.
 */
static void select_head(strbuf *sb, const rc_change_decl *decl)
{
    sb_printf(sb, "SELECT `%s`", decl->key_column);
    for (size_t i = 0; i < decl->ncolumns; i++)
        sb_printf(sb, ", `%s`", decl->columns[i]);
    sb_printf(sb, " FROM `%s` WHERE ", decl->table);
}

typedef struct before_ctx {
    change_rows *r;
    size_t ncols;
} before_ctx;

static int before_row(void *user, const rc_value *cols, size_t n)
{
    before_ctx *b = user;
    change_rows *r = b->r;
    if (n < b->ncols + 1)
        return 1;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->key = xrealloc(r->key, r->cap * sizeof *r->key);
        r->keytext = xrealloc(r->keytext, r->cap * sizeof *r->keytext);
        r->before = xrealloc(r->before, r->cap * b->ncols * sizeof *r->before);
        r->live = xrealloc(r->live, r->cap);
    }
    r->keytext[r->n] = changes_key_text(&cols[0]);
    r->key[r->n] = cols[0];
    if (cols[0].type == RC_TEXT)
        r->key[r->n].s = r->keytext[r->n];
    for (size_t i = 0; i < b->ncols; i++)
        cval_set(&r->before[r->n * b->ncols + i], &cols[i + 1]);
    r->live[r->n] = 1;
    r->n++;
    return 0;
}

int changes_before(db *d, const rc_change_decl *decl, const rc_value *params, size_t n,
                   change_rows **out)
{
    strbuf sb = STRBUF_INIT;
    change_rows *r = xcalloc(1, sizeof *r);
    r->ncols = decl->ncolumns;
    select_head(&sb, decl);
    sb_printf(&sb, "(%s)%s", decl->where, db_get_kind(d) == DB_MYSQL ? " FOR UPDATE" : "");
    before_ctx b = { r, decl->ncolumns };
    int rc = db_query_core(d, sb.s, params + decl->where_param, n - decl->where_param,
                      before_row, &b);
    sb_free(&sb);
    if (rc != 0 || r->n == 0) {
        change_rows_free(r);
        *out = NULL;
        return rc == 0 ? 0 : -1;
    }
    /* Indexed once the rows are read: the texts no longer move. */
    for (size_t i = 0; i < r->n; i++)
        strmap_put(&r->index, r->keytext[i], i);
    *out = r;
    return 0;
}

typedef struct after_ctx {
    change_rows *r;
    size_t ncols;
    cval *after;         /* ncols values per row */
    unsigned char *got;  /* 1: row i was read back (or returned) */
} after_ctx;

static int after_row(void *user, const rc_value *cols, size_t n)
{
    after_ctx *a = user;
    char buf[32];
    const char *k;
    if (n < a->ncols + 1)
        return 1;
    char *owned = NULL;
    if (cols[0].type == RC_TEXT)
        k = cols[0].s;
    else if (cols[0].type == RC_INT)
        snprintf(buf, sizeof buf, "%lld", (long long)cols[0].i), k = buf;
    else
        k = owned = changes_key_text(&cols[0]);
    size_t *at = strmap_get(&a->r->index, k);
    free(owned);
    if (!at)
        return 0; /* a key the update gave a row: not one it changed */
    for (size_t c = 0; c < a->ncols; c++) {
        cval *v = &a->after[*at * a->ncols + c];
        free(v->s);
        cval_set(v, &cols[c + 1]);
    }
    a->got[*at] = 1;
    return 0;
}

static void after_init(after_ctx *a, change_rows *r)
{
    a->r = r;
    a->ncols = r->ncols;
    a->after = xcalloc(r->n * r->ncols + 1, sizeof *a->after);
    a->got = xcalloc(r->n ? r->n : 1, 1);
}

static void after_free(after_ctx *a)
{
    for (size_t i = 0; i < a->r->n * a->ncols; i++)
        free(a->after[i].s);
    free(a->after);
    free(a->got);
}

/* The record of (table, key) in the open chunk, made when new. */
static rec *record_of(changes_meta *m, const char *table, const char *key)
{
    if (!m->rows)
        m->rows = xcalloc(1, sizeof *m->rows);
    struct change_set *set = m->rows;
    char *id = xasprintf("%s\x1f%s", table, key);
    size_t *at = strmap_get(&set->index, id);
    if (at) {
        free(id);
        return &set->recs[*at];
    }
    if (set->n == set->cap) {
        /* The map keys point into the records' ids, which do not move when recs does. */
        set->cap = set->cap ? 2 * set->cap : 256;
        set->recs = xrealloc(set->recs, set->cap * sizeof *set->recs);
    }
    rec *r = &set->recs[set->n];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->table = table;
    r->key = xstrdup(key);
    strmap_put(&set->index, r->id, set->n);
    set->n++;
    return r;
}

/*
 * Note row i of rows: the first before of a column stays, its after is the
 * latest; after NULL: the row is gone (each column's after is null). The
 * values are moved out of rows and after.
 */
void changes_note_row(changes_meta *m, const rc_change_decl *decl, change_rows *rows, size_t i,
                     cval *after)
{
    rec *r = record_of(m, decl->table, rows->keytext[i]);
    for (size_t c = 0; c < decl->ncolumns; c++) {
        cval *b = &rows->before[i * rows->ncols + c], gone = { RC_NULL, 0, 0, NULL };
        cval *a = after ? &after[i * rows->ncols + c] : &gone;
        rec_col *had = NULL;
        for (size_t k = 0; k < r->ncols && !had; k++)
            if (strcmp(r->cols[k].name, decl->columns[c]) == 0)
                had = &r->cols[k];
        if (had) {
            cval_move(&had->after, a);
        } else if (!cval_eq(b, a)) {
            if (r->ncols == r->cap) {
                r->cap = r->cap ? 2 * r->cap : decl->ncolumns;
                r->cols = xrealloc(r->cols, r->cap * sizeof *r->cols);
            }
            rec_col *col = &r->cols[r->ncols++];
            memset(col, 0, sizeof *col);
            col->name = decl->columns[c];
            cval_move(&col->before, b);
            cval_move(&col->after, a);
        }
    }
}

/*
 * Write the records of set whose text is not NULL: one set row (the JSON
 * array of [key, changes]) per table and at most SET_RECORDS records, one
 * statement a set whatever its size. Its key rows come later
 * (changes_key_sets): a row per record and its index were most of what
 * records cost a run.
 */
static int insert_sets(db *d, const changes_meta *m, const struct change_set *set,
                       char **text)
{
    /*
     * SQLite: the time read once and bound (strftime at every row was a
     * tenth of the insert); 'now' is the same for the whole statement anyway.
     */
    int lite = db_get_kind(d) == DB_SQLITE;
    char *now = NULL;
    if (lite && db_query_core(d, "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')", NULL, 0, text_row,
                              &now) != 0)
        return -1;
    const char *ins = lite
        ? "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, nrecords, records, "
          "at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        : "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, nrecords, records, "
          "at) VALUES (?, ?, ?, ?, ?, ?, NOW(3))";
    unsigned char *done = xcalloc(set->n ? set->n : 1, 1);
    strbuf recs = STRBUF_INIT;
    int rc = 0;
    /* The records of one table in the order they came, SET_RECORDS at a time. */
    for (size_t first = 0; rc == 0 && first < set->n; first++) {
        if (done[first] || !text[first])
            continue;
        const char *table = set->recs[first].table;
        size_t k = 0;
        recs.len = 0;
        sb_putc(&recs, '[');
        for (size_t at = first; at < set->n && k < SET_RECORDS; at++) {
            const rec *r = &set->recs[at];
            if (done[at] || !text[at] || strcmp(r->table, table) != 0)
                continue;
            done[at] = 1;
            if (k++)
                sb_putc(&recs, ',');
            sb_putc(&recs, '[');
            cval key = { RC_TEXT, 0, 0, r->key };
            cval_json(&recs, &key);
            sb_putc(&recs, ',');
            sb_addn(&recs, text[at], strlen(text[at]));
            sb_putc(&recs, ']');
        }
        sb_putc(&recs, ']');
        rc_value v[] = { rc_int(m->run_id), rc_text(m->job ? m->job : ""),
                         rc_text(m->step ? m->step : ""), rc_text(table), rc_int((int64_t)k),
                         rc_text(recs.s), rc_text(now ? now : "") };
        rc = db_exec(d, ins, v, lite ? 7 : 6, NULL);
    }
    sb_free(&recs);
    free(done);
    free(now);
    return rc;
}

int changes_after(db *d, const rc_change_decl *decl, change_rows *r, changes_meta *m)
{
    if (!r)
        return 0;
    after_ctx a;
    after_init(&a, r);
    rc_value *p = xcalloc(AFTER_KEYS, sizeof *p);
    int rc = 0;
    for (size_t at = 0; at < r->n && rc == 0; at += AFTER_KEYS) {
        size_t k = r->n - at < AFTER_KEYS ? r->n - at : AFTER_KEYS;
        strbuf sb = STRBUF_INIT;
        select_head(&sb, decl);
        sb_printf(&sb, "`%s` IN (", decl->key_column);
        for (size_t i = 0; i < k; i++) {
            if (i)
                sb_addn(&sb, ", ", 2);
            sb_putc(&sb, '?');
            p[i] = r->key[at + i];
        }
        sb_printf(&sb, ")");
        rc = db_query_core(d, sb.s, p, k, after_row, &a);
        sb_free(&sb);
    }
    /* A row the statement deleted is not read back: each of its values is null after. */
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        if (r->live[i])
            changes_note_row(m, decl, r, i, a.got[i] ? a.after : NULL);
    after_free(&a);
    free(p);
    change_rows_free(r);
    return rc;
}

/* Does stmt end with " WHERE " and decl's where (then a clause may follow it)? */
int changes_ends_with_where(const rc_change_decl *decl, const char *stmt)
{
    size_t ls = strlen(stmt), lw = strlen(decl->where), lk = strlen(" WHERE ");
    return ls >= lw + lk && strcmp(stmt + ls - lw, decl->where) == 0 &&
           strncasecmp(stmt + ls - lw - lk, " WHERE ", lk) == 0;
}

int changes_returning_ok(db *d, const rc_change_decl *decl, const char *stmt)
{
    /* RETURNING came with SQLite 3.35.0; an older library reads the rows again. */
    return db_get_kind(d) == DB_SQLITE && sqlite3_libversion_number() >= 3035000 &&
           strncasecmp(stmt, "UPDATE ", 7) == 0 && changes_ends_with_where(decl, stmt);
}

int changes_returning(db *d, const rc_change_decl *decl, const char *stmt,
                      const rc_value *params, size_t n, change_rows *r, changes_meta *m,
                      int64_t *affected)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s RETURNING `%s`", stmt, decl->key_column);
    for (size_t i = 0; i < decl->ncolumns; i++)
        sb_printf(&sb, ", `%s`", decl->columns[i]);
    after_ctx a;
    after_init(&a, r);
    int rc = db_exec_rows(d, sb.s, params, n, after_row, &a, affected);
    sb_free(&sb);
    /* Only the rows it returned changed (a row it did not is left as it was). */
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        if (r->live[i] && a.got[i])
            changes_note_row(m, decl, r, i, a.after);
    after_free(&a);
    change_rows_free(r);
    return rc;
}

int changes_flush(db *d, changes_meta *m)
{
    struct change_set *set = m->rows;
    int rc = 0;
    size_t written = 0;
    if (!set)
        return 0;
    char **text = xcalloc(set->n ? set->n : 1, sizeof *text);
    strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < set->n; i++) {
        const rec *r = &set->recs[i];
        int any = 0;
        sb.len = 0;
        sb_putc(&sb, '{');
        for (size_t c = 0; c < r->ncols; c++) {
            /* A column set back to its first value is no change. */
            if (cval_eq(&r->cols[c].before, &r->cols[c].after))
                continue;
            if (any++)
                sb_putc(&sb, ',');
            sb_putc(&sb, '"');
            sb_addn(&sb, r->cols[c].name, strlen(r->cols[c].name)); /* a plain name */
            sb_addn(&sb, "\":[", 3);
            cval_json(&sb, &r->cols[c].before);
            sb_putc(&sb, ',');
            cval_json(&sb, &r->cols[c].after);
            sb_putc(&sb, ']');
        }
        sb_putc(&sb, '}');
        if (any) {
            text[i] = xstrdup(sb.s);
            written++;
        }
    }
    sb_free(&sb);
    if (written) {
        rc = insert_sets(d, m, set, text);
        if (rc == 0)
            m->pending += (int64_t)written;
    }
    for (size_t i = 0; i < set->n; i++)
        free(text[i]);
    free(text);
    changes_discard(m);
    return rc;
}

void changes_discard(changes_meta *m)
{
    struct change_set *set = m->rows;
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        rec *r = &set->recs[i];
        for (size_t c = 0; c < r->ncols; c++) {
            free(r->cols[c].before.s);
            free(r->cols[c].after.s);
        }
        free(r->cols);
        free(r->id);
        free(r->key);
    }
    free(set->recs);
    strmap_free(&set->index);
    free(set);
    m->rows = NULL;
}

char *changes_capture_sql(db *d, const rc_change_decl *decl, const char *stmt)
{
    size_t ls = strlen(stmt), lw = strlen(decl->where), lk = strlen(" WHERE ");
    /* (A DELETE has no SET clause to note in: its rows are read, and gone after.) */
    if (db_get_kind(d) != DB_MYSQL || strncasecmp(stmt, "UPDATE ", 7) != 0 ||
        !changes_ends_with_where(decl, stmt))
        return NULL;
    /*
     * No placeholder is added: the statement's parameters keep their places.
     * Each key is appended as "CHARS:key" (its length in characters, so any
     * text reads back unambiguously). Plain text, not JSON_ARRAY_APPEND:
     * that parsed the whole growing array again at every row, quadratic in
     * the chunk (a 5000-row chunk took seconds).
     */
    return xasprintf("%.*s, `%s` = IF((@rc_changed := CONCAT(COALESCE(@rc_changed, ''), "
                     "CHAR_LENGTH(COALESCE(`%s`, '')), ':', COALESCE(`%s`, ''))) IS NULL, "
                     "`%s`, `%s`)%s", (int)(ls - lw - lk), stmt, decl->key_column,
                     decl->key_column, decl->key_column, decl->key_column, decl->key_column,
                     stmt + ls - lw - lk);
}

int changes_ignore_row(void *user, const rc_value *cols, size_t n)
{
    (void)user;
    (void)cols;
    (void)n;
    return 0;
}

void changes_meta_done(changes_meta *m)
{
    changes_discard(m);
    free(m->plans);
    m->plans = NULL;
}

int changes_capture_reset(db *d)
{
    return db_query_core(d, "SELECT @rc_changed := NULL", NULL, 0, changes_ignore_row, NULL);
}

static int text_row(void *user, const rc_value *cols, size_t n)
{
    char **out = user;
    if (n >= 1 && cols[0].type == RC_TEXT)
        *out = xstrdup(cols[0].s);
    return 0;
}

/* The bytes of the first n UTF-8 characters of s (at most its length). */
static size_t utf8_bytes(const char *s, size_t n)
{
    size_t b = 0;
    while (s[b] && n > 0) {
        b++;
        while ((s[b] & 0xC0) == 0x80)
            b++;
        n--;
    }
    return b;
}

int changes_capture_keep(db *d, change_rows *r, int64_t *missed)
{
    char *text = NULL;
    if (db_query_core(d, "SELECT @rc_changed", NULL, 0, text_row, &text) != 0)
        return -1;
    unsigned char *hit = r ? xcalloc(r->n, 1) : NULL;
    /* "CHARS:key" after "CHARS:key" (changes_capture_sql). */
    for (char *p = text; p && *p;) {
        char *colon;
        unsigned long long chars = strtoull(p, &colon, 10);
        if (*colon != ':')
            break;
        size_t len = utf8_bytes(colon + 1, (size_t)chars);
        char save = colon[1 + len];
        colon[1 + len] = '\0';
        size_t *at = r ? strmap_get(&r->index, colon + 1) : NULL;
        if (at)
            hit[*at] = 1;
        else
            (*missed)++;
        colon[1 + len] = save;
        p = colon + 1 + len;
    }
    free(text);
    /* Rows read before that the statement did not match: another writer won them. */
    for (size_t j = 0; r && j < r->n; j++)
        if (!hit[j])
            r->live[j] = 0;
    free(hit);
    return 0;
}

void change_rows_free(change_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->keytext[i]);
        for (size_t c = 0; c < r->ncols; c++)
            free(r->before[i * r->ncols + c].s);
    }
    free(r->key);
    free(r->keytext);
    free(r->before);
    free(r->live);
    strmap_free(&r->index);
    free(r);
}

/* Sets read whole: what the prune and the list take from reconciler_change_sets. */
typedef struct set_row {
    int64_t id, run_id;
    char *job, *step, *table, *records, *at;
} set_row;

typedef struct set_rows {
    size_t n, cap;
    set_row *v;
    int64_t limit, records; /* the prune's: whole sets up to limit records past the first */
} set_rows;

static char *text_or_empty(const rc_value *v)
{
    return xstrdup(v->type == RC_TEXT && v->s ? v->s : "");
}

/* Row "id, run_id, job, step, table_name, nrecords, records, at" into a set_rows. */
static int set_row_read(void *user, const rc_value *c, size_t n)
{
    set_rows *x = user;
    if (n < 8 || c[0].type != RC_INT)
        return 1;
    int64_t k = c[5].type == RC_INT ? c[5].i : 1;
    if (x->limit > 0 && x->n > 0 && x->records + k > x->limit)
        return 1; /* (the prune's bound: the rows after are not read) */
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 16;
        x->v = xrealloc(x->v, x->cap * sizeof *x->v);
    }
    set_row *r = &x->v[x->n++];
    r->id = c[0].i;
    r->run_id = c[1].type == RC_INT ? c[1].i : 0;
    r->job = text_or_empty(&c[2]);
    r->step = text_or_empty(&c[3]);
    r->table = text_or_empty(&c[4]);
    r->records = text_or_empty(&c[6]);
    r->at = text_or_empty(&c[7]);
    x->records += k;
    return 0;
}

static void set_rows_free(set_rows *x)
{
    for (size_t i = 0; i < x->n; i++) {
        set_row *r = &x->v[i];
        free(r->job);
        free(r->step);
        free(r->table);
        free(r->records);
        free(r->at);
    }
    free(x->v);
    memset(x, 0, sizeof *x);
}

#define SET_COLUMNS(at) "s.id, s.run_id, s.job, s.step, s.table_name, s.nrecords, s.records, " at
#define SET_AT_MYSQL "DATE_FORMAT(s.at, '%Y-%m-%d %H:%i:%s.%f')"

/* Delete the key rows of set r (the prune): one statement for the set's keys. 0, or -1. */
static int set_keys_delete(db *d, const set_row *r)
{
    json_t *recs = json_loads(r->records, 0, NULL);
    size_t nk = json_array_size(recs), np = 0;
    rc_value *p = xcalloc(nk + 2, sizeof *p);
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "DELETE FROM reconciler_change_keys WHERE table_name = ? AND set_id = ? AND "
              "row_key IN (");
    p[np++] = rc_text(r->table);
    p[np++] = rc_int(r->id);
    for (size_t i = 0; i < nk; i++) {
        const char *key = json_string_value(json_array_get(json_array_get(recs, i), 0));
        if (!key)
            continue;
        sb_addn(&sb, np > 2 ? ", ?" : "?", np > 2 ? 3 : 1);
        p[np++] = rc_text(key);
    }
    sb_putc(&sb, ')');
    int rc = np > 2 ? db_exec(d, sb.s, p, np, NULL) : 0;
    sb_free(&sb);
    free(p);
    json_decref(recs);
    return rc;
}

/* The ids a keyer took: "0, id, id, ..." for an IN list, and how many. */
typedef struct id_list {
    strbuf sb;
    int64_t n;
} id_list;

static int id_row(void *user, const rc_value *c, size_t n)
{
    id_list *ids = user;
    if (n >= 1 && c[0].type == RC_INT) {
        sb_printf(&ids->sb, ", %lld", (long long)c[0].i);
        ids->n++;
    }
    return 0;
}

int64_t changes_key_sets(db *d, int64_t max_sets)
{
    int lite = db_get_kind(d) == DB_SQLITE;
    int64_t total = 0;
    /*
     * The server expands the sets' JSON itself (JSON_TABLE, json_each):
     * the records never travel to the keyer and back.
     */
    const char *expand = lite
        ? "INSERT OR IGNORE INTO reconciler_change_keys (table_name, row_key, set_id) SELECT "
          "s.table_name, json_extract(r.value, '$[0]'), s.id FROM reconciler_change_sets s, "
          "json_each(s.records) r WHERE s.id IN (%s)"
        : "INSERT IGNORE INTO reconciler_change_keys (table_name, row_key, set_id) SELECT "
          "s.table_name, r.row_key, s.id FROM reconciler_change_sets s, JSON_TABLE(s.records, "
          "'$[*]' COLUMNS (row_key VARCHAR(191) CHARACTER SET utf8mb4 PATH '$[0]')) r WHERE "
          "s.id IN (%s)";
    while (total < max_sets) {
        int64_t want = max_sets - total < KEY_SETS_A_TX ? max_sets - total : KEY_SETS_A_TX;
        rc_value lim = rc_int(want);
        id_list ids = { STRBUF_INIT, 0 };
        char *sql = NULL;
        sb_printf(&ids.sb, "0");
        if (db_begin(d) != 0) {
            sb_free(&ids.sb);
            return -1;
        }
        /* SKIP LOCKED: two keyers (two instances) take different sets. */
        int rc = db_query(d, lite ? "SELECT id FROM reconciler_change_sets WHERE keyed = 0 "
                                    "ORDER BY id LIMIT ?"
                                  : "SELECT id FROM reconciler_change_sets WHERE keyed = 0 "
                                    "ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
                          &lim, 1, id_row, &ids);
        if (rc == 0 && ids.n) {
            sql = xasprintf(expand, ids.sb.s);
            rc = db_exec(d, sql, NULL, 0, NULL);
            free(sql);
        }
        if (rc == 0 && ids.n) {
            sql = xasprintf("UPDATE reconciler_change_sets SET keyed = 1 WHERE id IN (%s)",
                            ids.sb.s);
            rc = db_exec(d, sql, NULL, 0, NULL);
            free(sql);
        }
        if (rc == 0)
            rc = db_commit(d);
        else if (db_in_transaction(d))
            (void)db_rollback(d);
        sb_free(&ids.sb);
        if (rc != 0)
            return -1;
        total += ids.n;
        if (ids.n < want)
            break;
    }
    return total;
}

int64_t changes_prune(db *d, int64_t keep_s, int64_t limit)
{
    char ago[48];
    int lite = db_get_kind(d) == DB_SQLITE;
    rc_value p[] = { rc_int(keep_s), rc_int(limit) };
    set_rows x = { 0 };
    x.limit = limit;
    int64_t out = -1;
    snprintf(ago, sizeof ago, "-%lld seconds", (long long)keep_s);
    if (lite)
        p[0] = rc_text(ago);
    /*
     * The oldest sets first (the primary key's order), whole, in one short
     * transaction with their key rows: a key row never outlives its set.
     */
    if (db_begin(d) != 0)
        return -1;
    int rc = db_query(d, lite ? "SELECT " SET_COLUMNS("s.at") " FROM reconciler_change_sets s "
                                "WHERE s.at < strftime('%Y-%m-%d %H:%M:%f', 'now', ?) ORDER BY "
                                "s.id LIMIT ?"
                              : "SELECT " SET_COLUMNS(SET_AT_MYSQL) " FROM reconciler_change_sets "
                                "s WHERE s.at < NOW(3) - INTERVAL ? SECOND ORDER BY s.id LIMIT ? "
                                "FOR UPDATE",
                      p, 2, set_row_read, &x);
    for (size_t i = 0; rc == 0 && i < x.n; i++) {
        rc_value id = rc_int(x.v[i].id);
        rc = set_keys_delete(d, &x.v[i]);
        if (rc == 0)
            rc = db_exec(d, "DELETE FROM reconciler_change_sets WHERE id = ?", &id, 1, NULL);
    }
    if (rc == 0 && db_commit(d) == 0)
        out = x.records;
    else if (db_in_transaction(d))
        (void)db_rollback(d);
    set_rows_free(&x);
    return out;
}

/* Append set r's records (newest first) that f takes to out, until it holds limit. */
static void list_set(const set_row *r, const changes_filter *f, int64_t limit, json_t *out)
{
    json_t *recs = json_loads(r->records, 0, NULL);
    rc_value job = rc_text(r->job), step = rc_text(r->step), table = rc_text(r->table),
             at = rc_text(r->at);
    for (size_t k = json_array_size(recs); k-- > 0 && (int64_t)json_array_size(out) < limit;) {
        json_t *one = json_array_get(recs, k);
        const char *key = json_string_value(json_array_get(one, 0));
        int64_t id = r->id * CHANGES_ID_SPAN + (int64_t)k + 1;
        if (!key || (f->before > 0 && id >= f->before) || (f->key && strcmp(key, f->key) != 0))
            continue;
        json_t *ch = json_array_get(one, 1);
        ch = json_is_object(ch) ? json_incref(ch) : jx(json_object());
        json_array_append_new(out, jx(json_pack("{s:I, s:I, s:o, s:o, s:o, s:s, s:o, s:o}", "id",
                                                (json_int_t)id, "runId", (json_int_t)r->run_id,
                                                "job", value_json(&job), "step",
                                                value_json(&step), "table", value_json(&table),
                                                "key", key, "changes", ch, "at",
                                                value_json(&at))));
    }
    json_decref(recs);
}

/* Sets newest first whose id is at most upto (0: any), filtered as f says, limit of them. */
static int list_sets(db *d, const changes_filter *f, int keyed_path, int64_t upto, int64_t limit,
                     set_rows *out)
{
    strbuf sb = STRBUF_INIT;
    rc_value p[9];
    size_t n = 0;
    sb_printf(&sb, "SELECT " SET_COLUMNS("%s") " FROM ",
              db_get_kind(d) == DB_MYSQL ? SET_AT_MYSQL : "s.at");
    if (keyed_path) {
        /* One row's keyed sets through its key rows, in set order. */
        sb_printf(&sb, "reconciler_change_keys k JOIN reconciler_change_sets s ON s.id = "
                  "k.set_id WHERE k.table_name = ? AND k.row_key = ?");
        p[n++] = rc_text(f->table);
        p[n++] = rc_text(f->key);
    } else {
        sb_printf(&sb, "reconciler_change_sets s WHERE %s",
                  f->key && f->table ? "s.keyed = 0" : "1 = 1");
    }
    if (f->run_id) {
        sb_printf(&sb, " AND s.run_id = ?");
        p[n++] = rc_int(f->run_id);
    }
#define TEXT_FILTER(field, col)                                                          \
    if (f->field) {                                                                      \
        sb_printf(&sb, " AND " col " = ?");                                              \
        p[n++] = rc_text(f->field);                                                      \
    }
    TEXT_FILTER(table, "s.table_name")
    TEXT_FILTER(step, "s.step")
    TEXT_FILTER(job, "s.job")
#undef TEXT_FILTER
    if (f->since) {
        sb_printf(&sb, " AND s.at >= ?");
        p[n++] = rc_text(f->since);
    }
    if (upto > 0) {
        sb_printf(&sb, keyed_path ? " AND k.set_id <= ?" : " AND s.id <= ?");
        p[n++] = rc_int(upto);
    }
    sb_printf(&sb, keyed_path ? " ORDER BY k.set_id DESC LIMIT ?" : " ORDER BY s.id DESC LIMIT ?");
    p[n++] = rc_int(limit);
    int rc = db_query(d, sb.s, p, n, set_row_read, out);
    sb_free(&sb);
    return rc;
}

static int set_newer(const void *a, const void *b)
{
    const set_row *x = a, *y = b;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

json_t *changes_list(db *d, const changes_filter *f)
{
    json_t *out = jx(json_array());
    int64_t limit = f->limit < 1 ? 1 : f->limit > CHANGES_LIST_MAX ? CHANGES_LIST_MAX : f->limit;
    /* The set holding the record just below before, and those older. */
    int64_t upto = f->before > 0 ? (f->before - 1) / CHANGES_ID_SPAN : 0;
    int by_row = f->key && f->table, rc = 0;
    if (f->before > 0 && upto < 1)
        return out;
    /*
     * Sets newest first, a page of them at a time, until the list is full
     * or no set is left. One row's history reads two sources, its keyed
     * sets (through the key rows) and the sets not keyed yet, merged by id:
     * a page is sure only down to the last id of a source that filled its
     * page (past it, that source may hold more).
     */
    for (;;) {
        set_rows a = { 0 }, b = { 0 };
        rc = list_sets(d, f, 0, upto, limit, &a);
        if (rc == 0 && by_row)
            rc = list_sets(d, f, 1, upto, limit, &b);
        if (rc != 0) {
            set_rows_free(&a);
            set_rows_free(&b);
            break;
        }
        int64_t floor = 0; /* the lowest id this page is sure of */
        if ((int64_t)a.n == limit)
            floor = a.v[a.n - 1].id;
        if ((int64_t)b.n == limit && b.v[b.n - 1].id > floor)
            floor = b.v[b.n - 1].id;
        /* Both sources in one list, newest first, a set in both (keyed meanwhile) once. */
        for (size_t i = 0; i < b.n; i++) {
            if (a.n == a.cap) {
                a.cap = a.cap ? 2 * a.cap : 16;
                a.v = xrealloc(a.v, a.cap * sizeof *a.v);
            }
            a.v[a.n++] = b.v[i];
        }
        b.n = 0;
        if (a.n > 1) /* (a.v is NULL when no set came: qsort must not see it) */
            qsort(a.v, a.n, sizeof *a.v, set_newer);
        for (size_t i = 0; i < a.n && (int64_t)json_array_size(out) < limit; i++)
            if (a.v[i].id >= floor && (i == 0 || a.v[i].id != a.v[i - 1].id))
                list_set(&a.v[i], f, limit, out);
        set_rows_free(&a);
        set_rows_free(&b);
        if ((int64_t)json_array_size(out) >= limit || floor == 0)
            break;
        upto = floor - 1; /* every set down to floor was read */
        if (upto < 1)
            break;
    }
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
