/* chunk.c - see chunk.h. */
#include "db/chunk.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TRIES 5
#define MAX_PARAMS 32
/* SQLite: the pause between chunks (see chunk_run). */
#define SQLITE_CHUNK_GAP_MS 2

/* A key that outlives the row callback: ints by value, text copied. */
typedef struct key {
    rc_value v;
    char *text;
    int64_t rows;
} key;

static void key_set(key *k, const rc_value *v)
{
    free(k->text);
    k->text = NULL;
    k->v = *v;
    if (v->type == RC_TEXT) {
        k->text = xstrdup(v->s);
        k->v.s = k->text;
    }
}

static int last_key_row(void *user, const rc_value *cols, size_t n)
{
    key *k = user;
    if (n >= 1) {
        key_set(k, &cols[0]);
        k->rows++;
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

/*
 * Apply every statement to (lo, hi] in one transaction: 0, -1 on a database
 * error (db_errmsg), -2 when the hook refused the chunk (err).
 */
static int apply_chunk(db *d, const rc_value *lo, const rc_value *hi, rc_chunk_stmt *stmts,
                       size_t nstmts, int64_t *counts, const chunk_hooks *hooks, char *err,
                       size_t errlen)
{
    rc_value params[MAX_PARAMS];
    int verdict = CHUNK_COMMIT;
    if (db_begin(d) != 0)
        return -1;
    for (size_t i = 0; i < nstmts; i++) {
        if (stmts[i].n)
            memcpy(params, stmts[i].params, stmts[i].n * sizeof *params);
        params[stmts[i].n] = *lo;
        params[stmts[i].n + 1] = *hi;
        if (db_exec(d, stmts[i].sql, params, stmts[i].n + 2, &counts[i]) != 0)
            goto rollback;
    }
    if (hooks && hooks->before_commit)
        verdict = hooks->before_commit(hooks->arg, counts, nstmts, err, errlen);
    if (verdict != CHUNK_COMMIT) {
        if (db_rollback(d) != 0)
            return -1;
        return verdict == CHUNK_ROLLBACK ? 0 : -2;
    }
    if (db_commit(d) != 0)
        goto rollback;
    return 0;
rollback:
    {
        /* Keep the error that made us roll back, not the rollback's own. */
        db_rollback(d);
        return -1;
    }
}

int chunk_run(db *d, const char *find_sql, const rc_value *find_params, size_t find_n,
              rc_value first, int64_t batch, rc_chunk_stmt *stmts, size_t nstmts,
              const chunk_hooks *hooks, int64_t *retries, char *err, size_t errlen)
{
    rc_value params[MAX_PARAMS];
    key lo = { 0 }, hi = { 0 };
    int64_t *counts = NULL;
    int rc = -1;

    if (find_n + 2 > MAX_PARAMS || batch < 1) {
        snprintf(err, errlen, "db_chunked: %s", batch < 1 ? "batch must be >= 1"
                                                         : "too many parameters");
        return -1;
    }
    for (size_t i = 0; i < nstmts; i++) {
        if (stmts[i].n + 2 > MAX_PARAMS) {
            snprintf(err, errlen, "db_chunked: statement %zu has too many parameters", i);
            return -1;
        }
    }
    counts = xcalloc(nstmts, sizeof *counts);
    key_set(&lo, &first);
    for (;;) {
        if (hooks && hooks->stop && hooks->stop(hooks->arg))
            break;
        if (find_n)
            memcpy(params, find_params, find_n * sizeof *params);
        params[find_n] = lo.v;
        params[find_n + 1] = rc_int(batch);
        hi.rows = 0;
        if (db_query(d, find_sql, params, find_n + 2, last_key_row, &hi) != 0)
            goto out;
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
        while ((applied = apply_chunk(d, &lo.v, &hi.v, stmts, nstmts, counts, hooks, err,
                                      errlen)) != 0) {
            if (applied == -2 || !db_retryable(d) || ++attempt >= MAX_TRIES)
                goto out;
            if (retries)
                (*retries)++;
            backoff(attempt);
        }
        for (size_t i = 0; i < nstmts; i++)
            stmts[i].affected += counts[i];
        key_set(&lo, &hi.v);
        /*
         * SQLite has one writer at a time, and its busy handler retries in
         * sleeps of up to 100 ms: a loop that begins its next chunk the
         * moment it commits would starve every other writer, the bot's own
         * and our run lock's renewal alike. A short pause lets them in.
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
    free(lo.text);
    free(hi.text);
    free(counts);
    return rc;
}
