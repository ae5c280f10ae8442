/* SPDX-License-Identifier: MIT */
/* changes.c - see changes.h. */
#include "db/changes.h"
#include "base/json.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Keys read back per query, and records per INSERT: well under every driver's parameter cap. */
#define AFTER_KEYS 500
#define INSERT_ROWS 100

struct change_rows {
    size_t n, cap;
    rc_value *key;   /* as read (text copied into keytext) */
    char **keytext;  /* the key as text: the record's row_key */
    json_t **before; /* an array of the declared columns' values per row */
    json_t *index;   /* keytext -> row number */
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

static char *key_text(const rc_value *v)
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
        r->before = xrealloc(r->before, r->cap * sizeof *r->before);
    }
    r->keytext[r->n] = key_text(&cols[0]);
    r->key[r->n] = cols[0];
    if (cols[0].type == RC_TEXT)
        r->key[r->n].s = r->keytext[r->n];
    r->before[r->n] = jx(json_array());
    for (size_t i = 1; i <= b->ncols; i++)
        json_array_append_new(r->before[r->n], value_json(&cols[i]));
    json_object_set_new(r->index, r->keytext[r->n], jx(json_integer((json_int_t)r->n)));
    r->n++;
    return 0;
}

int changes_before(db *d, const rc_change_decl *decl, const rc_value *params, size_t n,
                   change_rows **out)
{
    strbuf sb = STRBUF_INIT;
    change_rows *r = xcalloc(1, sizeof *r);
    r->index = jx(json_object());
    select_head(&sb, decl);
    sb_printf(&sb, "(%s)%s", decl->where, db_get_kind(d) == DB_MYSQL ? " FOR UPDATE" : "");
    before_ctx b = { r, decl->ncolumns };
    int rc = db_query(d, sb.s, params + decl->where_param, n - decl->where_param,
                      before_row, &b);
    sb_free(&sb);
    if (rc != 0 || r->n == 0) {
        change_rows_free(r);
        *out = NULL;
        return rc == 0 ? 0 : -1;
    }
    *out = r;
    return 0;
}

typedef struct after_ctx {
    change_rows *r;
    size_t ncols;
    json_t **after; /* per row, NULL until read back */
} after_ctx;

static int after_row(void *user, const rc_value *cols, size_t n)
{
    after_ctx *a = user;
    if (n < a->ncols + 1)
        return 1;
    char *k = key_text(&cols[0]);
    json_t *at = json_object_get(a->r->index, k);
    free(k);
    if (!at)
        return 0; /* a key the update gave a row: not one it changed */
    size_t i = (size_t)json_integer_value(at);
    json_t *vals = jx(json_array());
    for (size_t c = 1; c <= a->ncols; c++)
        json_array_append_new(vals, value_json(&cols[c]));
    json_decref(a->after[i]);
    a->after[i] = vals;
    return 0;
}

/* Insert the records in rec (arrays of [table, row_key, changes text]) in batches. */
static int insert_records(db *d, const changes_meta *m, json_t *rec)
{
    size_t total = json_array_size(rec);
    const char *now = db_get_kind(d) == DB_MYSQL ? "NOW(3)"
                                                 : "strftime('%Y-%m-%d %H:%M:%f', 'now')";
    rc_value *p = xcalloc(INSERT_ROWS * 6, sizeof *p);
    int rc = 0;
    for (size_t at = 0; at < total && rc == 0; at += INSERT_ROWS) {
        size_t k = total - at < INSERT_ROWS ? total - at : INSERT_ROWS, np = 0;
        strbuf sb = STRBUF_INIT;
        sb_printf(&sb, "INSERT INTO reconciler_changes (run_id, job, step, table_name, row_key, "
                  "changes, at) VALUES ");
        for (size_t i = 0; i < k; i++) {
            json_t *one = json_array_get(rec, at + i);
            sb_printf(&sb, "%s(?, ?, ?, ?, ?, ?, %s)", i ? ", " : "", now);
            p[np++] = rc_int(m->run_id);
            p[np++] = rc_text(m->job ? m->job : "");
            p[np++] = rc_text(m->step ? m->step : "");
            p[np++] = rc_text(json_string_value(json_array_get(one, 0)));
            p[np++] = rc_text(json_string_value(json_array_get(one, 1)));
            p[np++] = rc_text(json_string_value(json_array_get(one, 2)));
        }
        rc = db_exec(d, sb.s, p, np, NULL);
        sb_free(&sb);
    }
    free(p);
    return rc;
}

/* Note row i's values: the first before of a column stays, its after is the latest. */
static void note_row(changes_meta *m, const rc_change_decl *decl, const char *key,
                     json_t *before, json_t *after)
{
    if (!m->rows)
        m->rows = jx(json_object());
    char *id = xasprintf("%s\x1f%s", decl->table, key);
    json_t *row = json_object_get(m->rows, id);
    if (!row) {
        row = jx(json_pack("[ss{}]", decl->table, key));
        json_object_set_new(m->rows, id, row);
    }
    free(id);
    json_t *cols = json_array_get(row, 2);
    for (size_t c = 0; c < decl->ncolumns; c++) {
        json_t *b = json_array_get(before, c);
        json_t *v = after ? json_incref(json_array_get(after, c)) : json_null();
        json_t *had = json_object_get(cols, decl->columns[c]);
        if (had)
            json_array_set_new(had, 1, v);
        else if (!json_equal(b, v))
            json_object_set_new(cols, decl->columns[c], jx(json_pack("[Oo]", b, v)));
        else
            json_decref(v);
    }
}

int changes_after(db *d, const rc_change_decl *decl, change_rows *r, changes_meta *m)
{
    if (!r)
        return 0;
    after_ctx a = { r, decl->ncolumns, xcalloc(r->n, sizeof(json_t *)) };
    rc_value *p = xcalloc(AFTER_KEYS, sizeof *p);
    int rc = 0;
    for (size_t at = 0; at < r->n && rc == 0; at += AFTER_KEYS) {
        size_t k = r->n - at < AFTER_KEYS ? r->n - at : AFTER_KEYS;
        strbuf sb = STRBUF_INIT;
        select_head(&sb, decl);
        sb_printf(&sb, "`%s` IN (", decl->key_column);
        for (size_t i = 0; i < k; i++) {
            sb_printf(&sb, "%s?", i ? ", " : "");
            p[i] = r->key[at + i];
        }
        sb_printf(&sb, ")");
        rc = db_query(d, sb.s, p, k, after_row, &a);
        sb_free(&sb);
    }
    /* A row the statement deleted has no after-values: each is null. */
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        if (r->before[i])
            note_row(m, decl, r->keytext[i], r->before[i], a.after[i]);
    for (size_t i = 0; i < r->n; i++)
        json_decref(a.after[i]);
    free(a.after);
    free(p);
    change_rows_free(r);
    return rc;
}

int changes_flush(db *d, changes_meta *m)
{
    json_t *rec = jx(json_array());
    const char *id;
    json_t *row;
    int rc = 0;
    json_object_foreach(m->rows, id, row) {
        json_t *cols = json_array_get(row, 2), *pair;
        const char *col;
        void *tmp;
        /* A column set back to its first value is no change. */
        json_object_foreach_safe(cols, tmp, col, pair) {
            if (json_equal(json_array_get(pair, 0), json_array_get(pair, 1)))
                json_object_del(cols, col);
        }
        if (!json_object_size(cols))
            continue;
        char *text = util_json_dump(cols, 0);
        json_array_append_new(rec, jx(json_pack("[OOs]", json_array_get(row, 0),
                                                json_array_get(row, 1), text)));
        free(text);
    }
    (void)id;
    if (json_array_size(rec)) {
        rc = insert_records(d, m, rec);
        if (rc == 0)
            m->pending += (int64_t)json_array_size(rec);
    }
    json_decref(rec);
    changes_discard(m);
    return rc;
}

void changes_discard(changes_meta *m)
{
    json_decref(m->rows);
    m->rows = NULL;
}

char *changes_capture_sql(db *d, const rc_change_decl *decl, const char *stmt)
{
    size_t ls = strlen(stmt), lw = strlen(decl->where), lk = strlen(" WHERE ");
    if (db_get_kind(d) != DB_MYSQL || ls < lw + lk || strcmp(stmt + ls - lw, decl->where) != 0 ||
        strncasecmp(stmt + ls - lw - lk, " WHERE ", lk) != 0)
        return NULL;
    /* No placeholder is added: the statement's parameters keep their places. */
    return xasprintf("%.*s, `%s` = IF((@rc_changed := JSON_ARRAY_APPEND(COALESCE(@rc_changed, "
                     "'[]'), '$', `%s`)) IS NULL, `%s`, `%s`)%s", (int)(ls - lw - lk), stmt,
                     decl->key_column, decl->key_column, decl->key_column, decl->key_column,
                     stmt + ls - lw - lk);
}

static int ignore_row(void *user, const rc_value *cols, size_t n)
{
    (void)user;
    (void)cols;
    (void)n;
    return 0;
}

int changes_capture_reset(db *d)
{
    return db_query(d, "SELECT @rc_changed := NULL", NULL, 0, ignore_row, NULL);
}

static int text_row(void *user, const rc_value *cols, size_t n)
{
    char **out = user;
    if (n >= 1 && cols[0].type == RC_TEXT)
        *out = xstrdup(cols[0].s);
    return 0;
}

int changes_capture_keep(db *d, change_rows *r, int64_t *missed)
{
    char *text = NULL;
    if (db_query(d, "SELECT @rc_changed", NULL, 0, text_row, &text) != 0)
        return -1;
    json_t *keys = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *hit = jx(json_object());
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        char *kt = json_is_integer(k) ? xasprintf("%lld", (long long)json_integer_value(k))
                   : json_is_string(k) ? xstrdup(json_string_value(k)) : NULL;
        if (!kt)
            continue;
        if (!r || !json_object_get(r->index, kt))
            (*missed)++;
        json_object_set_new(hit, kt, json_true());
        free(kt);
    }
    /* Rows read before that the statement did not match: another writer won them. */
    for (size_t j = 0; r && j < r->n; j++) {
        if (!json_object_get(hit, r->keytext[j])) {
            json_decref(r->before[j]);
            r->before[j] = NULL;
        }
    }
    json_decref(hit);
    json_decref(keys);
    return 0;
}

void change_rows_free(change_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->keytext[i]);
        json_decref(r->before[i]);
    }
    free(r->key);
    free(r->keytext);
    free(r->before);
    json_decref(r->index);
    free(r);
}

int64_t changes_prune(db *d, int64_t keep_s, int64_t limit)
{
    char ago[48];
    rc_value p[] = { rc_int(keep_s), rc_int(limit) };
    int64_t n = 0;
    snprintf(ago, sizeof ago, "-%lld seconds", (long long)keep_s);
    /* The oldest ids first: the delete walks the primary key, one small chunk at a time. */
    if (db_get_kind(d) == DB_MYSQL)
        return db_exec(d, "DELETE FROM reconciler_changes WHERE at < NOW(3) - INTERVAL ? SECOND "
                       "ORDER BY id LIMIT ?", p, 2, &n) != 0 ? -1 : n;
    p[0] = rc_text(ago);
    return db_exec(d, "DELETE FROM reconciler_changes WHERE id IN (SELECT id FROM "
                   "reconciler_changes WHERE at < strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
                   "ORDER BY id LIMIT ?)", p, 2, &n) != 0 ? -1 : n;
}

static int list_row(void *user, const rc_value *c, size_t n)
{
    json_t *out = user;
    if (n < 8)
        return 1;
    json_t *ch = c[6].type == RC_TEXT ? json_loads(c[6].s, 0, NULL) : NULL;
    json_array_append_new(out, jx(json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
                                            "id", (json_int_t)c[0].i, "runId",
                                            (json_int_t)c[1].i, "job", value_json(&c[2]),
                                            "step", value_json(&c[3]), "table",
                                            value_json(&c[4]), "key", value_json(&c[5]),
                                            "changes", ch ? ch : json_object(), "at",
                                            value_json(&c[7]))));
    return 0;
}

json_t *changes_list(db *d, const changes_filter *f)
{
    strbuf sb = STRBUF_INIT;
    rc_value p[8];
    size_t n = 0;
    sb_printf(&sb, "SELECT id, run_id, job, step, table_name, row_key, changes, %s FROM "
              "reconciler_changes WHERE 1 = 1",
              db_get_kind(d) == DB_MYSQL ? "DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f')" : "at");
    if (f->run_id) {
        sb_printf(&sb, " AND run_id = ?");
        p[n++] = rc_int(f->run_id);
    }
#define TEXT_FILTER(field, col)                                                          \
    if (f->field) {                                                                      \
        sb_printf(&sb, " AND " col " = ?");                                              \
        p[n++] = rc_text(f->field);                                                      \
    }
    TEXT_FILTER(table, "table_name")
    TEXT_FILTER(key, "row_key")
    TEXT_FILTER(step, "step")
    TEXT_FILTER(job, "job")
#undef TEXT_FILTER
    if (f->since) {
        sb_printf(&sb, " AND at >= ?");
        p[n++] = rc_text(f->since);
    }
    if (f->before > 0) {
        sb_printf(&sb, " AND id < ?");
        p[n++] = rc_int(f->before);
    }
    sb_printf(&sb, " ORDER BY id DESC LIMIT ?");
    p[n++] = rc_int(f->limit < 1 ? 1 : f->limit > CHANGES_LIST_MAX ? CHANGES_LIST_MAX : f->limit);
    json_t *out = jx(json_array());
    int rc = db_query(d, sb.s, p, n, list_row, out);
    sb_free(&sb);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
