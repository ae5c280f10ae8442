/* SPDX-License-Identifier: MIT */
/* chunk.c - see chunk.h. */
#include "db/chunk.h"
#include "db/changes.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TRIES 5
/* The public limits (include/reconciler.h), so that header and code agree. */
#define MAX_PARAMS RC_CHUNK_PARAMS_MAX
#define MAX_BIND RC_CHUNK_BIND_MAX
/* SQLite: the pause between chunks (see chunk_run). */
#define SQLITE_CHUNK_GAP_MS 1

/*
 * A chunk bound that outlives the row callback: the key's values, ints by
 * value, text copied into buffers reused from row to row (the find reads a
 * whole chunk of rows to keep the last one).
 */
typedef struct bound {
    size_t ncols;
    rc_value v[RC_CHUNK_KEY_MAX];
    char *text[RC_CHUNK_KEY_MAX];
    size_t cap[RC_CHUNK_KEY_MAX];
    int64_t rows;
    int short_row;    /* a row had fewer columns than the key */
    size_t got;       /* how many it had */
    int null_col;     /* 1 + the key column a row had NULL in; 0 none */
} bound;

static void bound_set(bound *b, const rc_value *cols)
{
    for (size_t i = 0; i < b->ncols; i++) {
        b->v[i] = cols[i];
        if (cols[i].type != RC_TEXT)
            continue;
        size_t len = strlen(cols[i].s) + 1;
        if (len > b->cap[i]) {
            b->text[i] = xrealloc(b->text[i], len);
            b->cap[i] = len;
        }
        memcpy(b->text[i], cols[i].s, len);
        b->v[i].s = b->text[i];
    }
}

static int last_key_row(void *user, const rc_value *cols, size_t n)
{
    bound *b = user;
    if (n < b->ncols) {
        b->short_row = 1;
        b->got = n;
        return 1;
    }
    for (size_t i = 0; i < b->ncols; i++) {
        if (cols[i].type == RC_NULL) {
            b->null_col = (int)i + 1;
            return 1;
        }
    }
    bound_set(b, cols);
    b->rows++;
    return 0;
}

/* Append bound b to p[n...] as the key binds it; the new count. */
static size_t bind_bound(rc_value *p, size_t n, const rc_chunk_key *key, const bound *b)
{
    for (size_t i = 0; i < key->nbind; i++)
        p[n++] = b->v[key->bind[i]];
    return n;
}

/* Is the key usable, and do the parameters fit? 0, or -1 with err. */
static int check_args(const rc_chunk_key *key, const rc_value *find_params, size_t find_n,
                      int64_t batch, const rc_chunk_stmt *stmts, size_t nstmts, char *err,
                      size_t errlen)
{
    unsigned used = 0;
    /* A count with no array would be copied from NULL: refused, as db_exec refuses it. */
    if (find_n && !find_params) {
        snprintf(err, errlen, "%zu find parameters announced but none given", find_n);
        return -1;
    }
    if (nstmts && !stmts) {
        snprintf(err, errlen, "%zu statements announced but none given", nstmts);
        return -1;
    }
    for (size_t i = 0; i < nstmts; i++) {
        if (stmts[i].n && !stmts[i].params) {
            snprintf(err, errlen, "statement %zu: %zu parameters announced but none given", i,
                     stmts[i].n);
            return -1;
        }
    }
    if (!key || key->ncols < 1 || key->ncols > RC_CHUNK_KEY_MAX || !key->first) {
        snprintf(err, errlen, "the key must have 1 to %d columns and first values",
                 RC_CHUNK_KEY_MAX);
        return -1;
    }
    if (!key->bind || key->nbind < 1 || key->nbind > MAX_BIND) {
        snprintf(err, errlen, "the key's bind must list 1 to %d columns", MAX_BIND);
        return -1;
    }
    for (size_t i = 0; i < key->nbind; i++) {
        if (key->bind[i] >= key->ncols) {
            snprintf(err, errlen, "bind[%zu] is %u, but the key has %zu columns", i,
                     key->bind[i], key->ncols);
            return -1;
        }
        used |= 1u << key->bind[i];
    }
    for (size_t c = 0; c < key->ncols; c++) {
        if (!(used & (1u << c))) {
            snprintf(err, errlen, "key column %zu is never bound", c);
            return -1;
        }
    }
    if (batch < 1) {
        snprintf(err, errlen, "batch must be >= 1");
        return -1;
    }
    if (find_n + key->nbind + 1 > MAX_PARAMS) {
        snprintf(err, errlen, "the find has too many parameters (%d at most, bounds included)",
                 MAX_PARAMS);
        return -1;
    }
    for (size_t i = 0; i < nstmts; i++) {
        if (stmts[i].n + 2 * key->nbind > MAX_PARAMS) {
            snprintf(err, errlen, "statement %zu has too many parameters (%d at most, bounds "
                     "included)", i, MAX_PARAMS);
            return -1;
        }
    }
    return 0;
}

int64_t chunk_backoff_ms(int attempt)
{
    /*
     * 20 ms, 40 ms, ... plus as much again at random, so that two instances
     * that deadlocked on the same rows retry apart. The randomness comes from
     * the kernel: an unseeded rand() gave every process the same sequence,
     * and they kept colliding in step.
     */
    int64_t base = INT64_C(20) << (attempt < 10 ? attempt : 10);
    return base + (int64_t)(util_random_u64() % (uint64_t)base);
}

static void backoff(int attempt)
{
    int64_t ms = chunk_backoff_ms(attempt);
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The change declaration of statement i, or NULL: nothing to record for it. */
static const rc_change_decl *chunk_decl(const chunk_hooks *hooks, size_t i)
{
    if (!hooks || !hooks->changes || i >= hooks->changes->ndecls ||
        !hooks->changes->decls[i].table)
        return NULL;
    return &hooks->changes->decls[i];
}

/*
 * Apply every statement to (lo, hi] in one transaction: 0, -1 on a database
 * error (db_errmsg), -2 when the hook refused the chunk (err).
 */
static int apply_chunk(db *d, const rc_chunk_key *key, const bound *lo, const bound *hi,
                       rc_chunk_stmt *stmts, size_t nstmts, int64_t *counts,
                       const chunk_hooks *hooks, char *err, size_t errlen)
{
    rc_value params[MAX_PARAMS];
    int verdict = CHUNK_COMMIT;
    changes_meta *cm = hooks ? hooks->changes : NULL;
    int64_t missed_before = cm ? cm->missed : 0;
    if (cm)
        cm->pending = 0;
    if (db_begin(d) != 0)
        return -1;
    for (size_t i = 0; i < nstmts; i++) {
        const rc_change_decl *decl = chunk_decl(hooks, i);
        change_rows *rows = NULL;
        if (stmts[i].n)
            memcpy(params, stmts[i].params, stmts[i].n * sizeof *params);
        size_t n = bind_bound(params, stmts[i].n, key, lo);
        n = bind_bound(params, n, key, hi);
        /* MySQL: the statement notes its rows' values before and after itself. */
        int noted = decl ? changes_noted(d, i, decl, stmts[i].sql, params, n, hi->rows, cm,
                                         &counts[i]) : 0;
        if (noted < 0)
            goto rollback;
        if (noted)
            continue;
        /* The rows' values before, read (and on MySQL locked) in this transaction. */
        char *captured = decl ? changes_capture_sql(d, decl, stmts[i].sql) : NULL;
        if (decl && changes_before(d, decl, params, n, &rows) != 0) {
            free(captured);
            goto rollback;
        }
        /*
         * SQLite: the after-values come back from the statement itself
         * (RETURNING), not from a second read of the rows.
         */
        if (rows && changes_returning_ok(d, decl, stmts[i].sql)) {
            free(captured);
            if (changes_returning(d, decl, stmts[i].sql, params, n, rows, cm, &counts[i]) != 0)
                goto rollback;
            continue;
        }
        /*
         * MySQL: the statement notes the keys it matched, so that a row the
         * before-read saw but another writer took first gets no record.
         */
        int bad = (captured && changes_capture_reset(d) != 0) ||
                  db_exec(d, captured ? captured : stmts[i].sql, params, n, &counts[i]) != 0 ||
                  (captured && changes_capture_keep(d, rows, &cm->missed) != 0);
        free(captured);
        if (bad) {
            change_rows_free(rows);
            goto rollback;
        }
        if (decl && changes_after(d, decl, rows, cm) != 0)
            goto rollback;
    }
    /* The records go in this transaction, before its (fenced) commit. */
    if (cm && changes_flush(d, cm) != 0)
        goto rollback;
    if (hooks && hooks->before_commit)
        verdict = hooks->before_commit(hooks->arg, counts, nstmts, err, errlen);
    if (verdict != CHUNK_COMMIT) {
        if (cm)
            cm->missed = missed_before;
        if (db_rollback(d) != 0)
            return -1;
        return verdict == CHUNK_ROLLBACK ? 0 : -2;
    }
    if (db_commit(d) != 0)
        goto rollback;
    if (cm)
        cm->written += cm->pending;
    return 0;
rollback:
    {
        /* Keep the error that made us roll back, not the rollback's own. */
        db_rollback(d);
        if (cm) {
            changes_discard(cm);
            cm->missed = missed_before; /* what a rolled-back chunk changed is undone */
        }
        return -1;
    }
}

/* Wall clock in Unix ns: what a chunk's span is timed in. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void tell_chunk(const chunk_hooks *hooks, int64_t start_ns, const int64_t *counts,
                       size_t n, int64_t retried, int failed)
{
    int64_t rows = 0;
    if (!hooks || !hooks->chunk_done)
        return;
    for (size_t i = 0; !failed && i < n; i++)
        rows += counts[i];
    hooks->chunk_done(hooks->arg, start_ns, now_ns(), rows, retried, failed);
}

int chunk_run(db *d, const char *find_sql, const rc_value *find_params, size_t find_n,
              const rc_chunk_key *key, int64_t batch, rc_chunk_stmt *stmts, size_t nstmts,
              const chunk_hooks *hooks, int64_t *retries, char *err, size_t errlen)
{
    rc_value params[MAX_PARAMS];
    bound lo = { 0 }, hi = { 0 };
    int64_t *counts = NULL;
    int rc = -1;

    if (check_args(key, find_params, find_n, batch, stmts, nstmts, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < nstmts; i++) {
        const rc_change_decl *decl = chunk_decl(hooks, i);
        if (decl && changes_check(decl, stmts[i].n + 2 * key->nbind, err, errlen) != 0)
            return -1;
    }
    counts = xcalloc(nstmts ? nstmts : 1, sizeof *counts);
    lo.ncols = hi.ncols = key->ncols;
    bound_set(&lo, key->first);
    for (;;) {
        if (hooks && hooks->stop && hooks->stop(hooks->arg))
            break;
        int64_t chunk_start = now_ns();
        if (find_n)
            memcpy(params, find_params, find_n * sizeof *params);
        size_t n = bind_bound(params, find_n, key, &lo);
        params[n++] = rc_int(batch);
        hi.rows = 0;
        if (db_query(d, find_sql, params, n, last_key_row, &hi) != 0)
            goto out;
        if (hi.short_row || hi.null_col) {
            if (hi.null_col)
                snprintf(err, errlen, "the find returned NULL in key column %d; a chunk key "
                         "must not be NULL", hi.null_col - 1);
            else
                snprintf(err, errlen, "the find selected %zu columns, but the key has %zu",
                         hi.got, key->ncols);
            goto out;
        }
        if (hi.rows == 0)
            break;
        /*
         * A deadlock, a lock wait timeout, or on Galera a certification
         * conflict (1213 at COMMIT: another node committed a write to one
         * of these rows first) rolled the whole chunk back: run it again.
         * The statements re-check their conditions, so a row the winner
         * changed is left alone the second time. Counted, so that a step
         * that succeeded after retries says so.
         */
        int attempt = 0, applied;
        int64_t retried = 0;
        while ((applied = apply_chunk(d, key, &lo, &hi, stmts, nstmts, counts, hooks, err,
                                      errlen)) != 0) {
            if (applied == -2 || !db_retryable(d) || ++attempt >= MAX_TRIES) {
                tell_chunk(hooks, chunk_start, counts, nstmts, retried, 1);
                goto out;
            }
            if (retries)
                (*retries)++;
            retried++;
            backoff(attempt);
        }
        tell_chunk(hooks, chunk_start, counts, nstmts, retried, 0);
        for (size_t i = 0; i < nstmts; i++)
            stmts[i].affected += counts[i];
        bound_set(&lo, hi.v);
        /*
         * SQLite has one writer at a time: a loop that begins its next chunk
         * the moment it commits would starve every other writer, the bot's
         * own and our run lock's renewal alike. A short pause lets them in:
         * 1 ms, since our busy handler tries every 1 ms (db_sqlite.c; SQLite's
         * own sleeps up to 100 ms, which needed a longer gap and still lost).
         */
        if (db_get_kind(d) == DB_SQLITE) {
            struct timespec gap = { 0, SQLITE_CHUNK_GAP_MS * 1000000L };
            nanosleep(&gap, NULL);
        }
        if (hi.rows < batch)
            break; /* the find returned the tail: nothing beyond hi matched */
    }
    rc = 0;
out:
    for (size_t i = 0; i < RC_CHUNK_KEY_MAX; i++) {
        free(lo.text[i]);
        free(hi.text[i]);
    }
    free(counts);
    return rc;
}
