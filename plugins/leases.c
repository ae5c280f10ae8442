/*
 * leases - free the leases of workers that died, and requeue their jobs.
 *
 * With T the run's reference time (database clock):
 *   - a job whose lease expired (locked_until < T) loses it (locked_by and
 *     locked_until NULL), whatever its status: leasesRepaired;
 *   - a job in 'processing' whose lease expired or that has none is orphaned:
 *     'retry' while attempts < max_attempts (jobsRequeued), else 'failed'
 *     (jobsFailed), with last_error set; attempts is left alone, since the
 *     worker counts an attempt when it claims the job;
 *   - a live lease (locked_until >= T) is never touched.
 * Writes go in keyset chunks of batch_size rows, one short transaction each,
 * and every UPDATE re-checks its own condition: a worker that renews a lease
 * or finishes a job between our read and our write is never overwritten.
 *
 * On MySQL the chunks follow the indexes, so a run reads the rows it changes
 * and not the whole table: expired leases in (locked_until, id) order over
 * the locked_until index (a chunk's orphaned jobs are requeued or failed in
 * the same transaction as their lease goes), then the jobs left in
 * 'processing' without any lease in id order over the (status, locked_until)
 * index. Chunking by id over the primary key instead read every row of the
 * table twice per run (the chunk's find and its UPDATE, which locks each row
 * it reads), which made a run at 1M jobs 1.35x to 2x the hand-written SQL.
 *
 * On SQLite a locked_until that is not canonical time text (an ISO "T" form,
 * an integer epoch) cannot be judged against T: such rows are left alone and
 * counted in skippedTimes.processing_jobs.locked_until, with a warning.
 */
#define _POSIX_C_SOURCE 200809L
#include <reconciler.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 1000000
/* A chunk that hit a deadlock or lock wait timeout is tried this often in all. */
#define MAX_TRIES 5

static const rc_option options[] = {
    { "max_attempts", RC_OPT_INT, "3",
      "an orphaned job with fewer attempts is retried, else failed (at least 1)" },
    { "batch_size", RC_OPT_INT, "5000", "rows per chunk (one transaction each), 1 to 1000000" },
    { "error_message", RC_OPT_STRING, "Lease expired - worker crashed or timed out",
      "last_error of a requeued or failed job" },
    RC_OPTIONS_END
};

/* The statements of one dialect: the conditions are written once, below. */
typedef struct lease_sql {
    const char *count_expired, *count_requeue, *count_fail;
    const char *find, *clear, *requeue, *fail;
    const char *count_unjudged; /* SQLite: rows whose time is not canonical; NULL on MySQL */
} lease_sql;

/*
 * OK is the extra condition that a time value must meet to be compared: ""
 * on MySQL (DATETIME is always canonical), RC_SQLITE_TIME_OK on SQLite.
 */
#define EXPIRED(OK) "(locked_until < ?" OK ")"
#define ORPHAN "status = 'processing' AND locked_until IS NULL"
#define ORPHAN_OR_EXPIRED(OK) "status = 'processing' AND (locked_until IS NULL OR " EXPIRED(OK) ")"
#define LEASE_SQL(OK, UNJUDGED)                                                            \
    {                                                                                      \
        "SELECT COUNT(*) FROM processing_jobs WHERE " EXPIRED(OK),                         \
        "SELECT COUNT(*) FROM processing_jobs WHERE " ORPHAN_OR_EXPIRED(OK) " AND attempts < ?", \
        "SELECT COUNT(*) FROM processing_jobs WHERE " ORPHAN_OR_EXPIRED(OK) " AND attempts >= ?", \
        "SELECT id FROM processing_jobs WHERE (" EXPIRED(OK) " OR " ORPHAN                  \
        ") AND id > ? ORDER BY id LIMIT ?",                                                \
        "UPDATE processing_jobs SET locked_by = NULL, locked_until = NULL, updated_at = ? " \
        "WHERE " EXPIRED(OK) " AND id > ? AND id <= ?",                                    \
        "UPDATE processing_jobs SET status = 'retry', last_error = ?, locked_by = NULL, "  \
        "updated_at = ? WHERE " ORPHAN " AND attempts < ? AND id > ? AND id <= ?",         \
        "UPDATE processing_jobs SET status = 'failed', last_error = ?, locked_by = NULL, " \
        "updated_at = ? WHERE " ORPHAN " AND attempts >= ? AND id > ? AND id <= ?",        \
        UNJUDGED                                                                           \
    }

static const lease_sql mysql_sql = LEASE_SQL("", NULL);
static const lease_sql sqlite_sql = LEASE_SQL(
    " AND " RC_SQLITE_TIME_OK("locked_until"),
    "SELECT COUNT(*) FROM processing_jobs WHERE locked_until IS NOT NULL AND NOT "
    RC_SQLITE_TIME_OK("locked_until"));

/*
 * MySQL: expired leases in chunks of the (locked_until, id) order, which the
 * locked_until index holds (InnoDB appends the primary key to it). A chunk
 * runs from the last (locked_until, id) of the one before (AFTER; none for
 * the first) to its own last (UPTO); both are ranges of the index.
 */
#define LU_AFTER " AND (locked_until > ? OR (locked_until = ? AND id > ?))"
#define LU_UPTO " AND (locked_until < ? OR (locked_until = ? AND id <= ?))"
typedef struct expired_sql {
    const char *find, *requeue, *fail, *clear;
} expired_sql;
#define EXPIRED_SQL(LOWER)                                                                   \
    {                                                                                        \
        "SELECT locked_until, id FROM processing_jobs WHERE locked_until < ?" LOWER           \
        " ORDER BY locked_until, id LIMIT ?",                                                \
        "UPDATE processing_jobs SET status = 'retry', last_error = ?, locked_by = NULL, "    \
        "locked_until = NULL, updated_at = ? WHERE status = 'processing' AND attempts < ? "  \
        "AND locked_until < ?" LOWER LU_UPTO,                                                \
        "UPDATE processing_jobs SET status = 'failed', last_error = ?, locked_by = NULL, "   \
        "locked_until = NULL, updated_at = ? WHERE status = 'processing' AND attempts >= ? " \
        "AND locked_until < ?" LOWER LU_UPTO,                                                \
        "UPDATE processing_jobs SET locked_by = NULL, locked_until = NULL, updated_at = ? "  \
        "WHERE locked_until < ?" LOWER LU_UPTO                                               \
    }
static const expired_sql expired_first = EXPIRED_SQL("");
static const expired_sql expired_next = EXPIRED_SQL(LU_AFTER);

/* MySQL: jobs in 'processing' with no lease at all, over the (status, locked_until, id) index. */
#define ORPHAN_FIND "SELECT id FROM processing_jobs WHERE " ORPHAN " AND id > ? ORDER BY id LIMIT ?"

/* A chunk's bound in (locked_until, id) order: the last row a find read. */
typedef struct bound {
    char t[40];
    int64_t id;
    int64_t rows;
    int odd; /* a row that was not (time text, integer id) */
} bound;

static int bound_row(void *user, const rc_value *c, size_t n)
{
    bound *b = user;
    if (n < 2 || c[0].type != RC_TEXT || c[1].type != RC_INT) {
        b->odd = 1;
        return 1;
    }
    snprintf(b->t, sizeof b->t, "%s", c[0].s);
    b->id = c[1].i;
    b->rows++;
    return 0;
}

/* Append the three parameters of LU_AFTER or LU_UPTO for bound b. */
static size_t add_bound(rc_value *p, size_t n, const bound *b)
{
    p[n++] = rc_text(b->t);
    p[n++] = rc_text(b->t);
    p[n++] = rc_int(b->id);
    return n;
}

/* Apply one chunk in one transaction: counts[] get requeued, failed, cleared. */
static int expired_chunk(rc_ctx *ctx, const expired_sql *q, const bound *lo, const bound *hi,
                         const char *t, const char *msg, int64_t max_attempts, int64_t counts[3])
{
    const rc_api *api = ctx->api;
    rc_value p[16];
    size_t n;
    if (api->db_begin(ctx) != RC_OK)
        return RC_ERROR;
    for (int k = 0; k < 3; k++) {
        n = 0;
        if (k < 2) {
            p[n++] = rc_text(msg);
            p[n++] = rc_text(t);
            p[n++] = rc_int(max_attempts);
        } else {
            p[n++] = rc_text(t);
        }
        p[n++] = rc_text(t);
        if (lo)
            n = add_bound(p, n, lo);
        n = add_bound(p, n, hi);
        const char *sql = k == 0 ? q->requeue : k == 1 ? q->fail : q->clear;
        if (api->db_exec(ctx, sql, p, n, &counts[k]) != RC_OK) {
            api->db_rollback(ctx);
            return RC_ERROR;
        }
    }
    if (api->db_commit(ctx) != RC_OK) {
        api->db_rollback(ctx);
        return RC_ERROR;
    }
    return RC_OK;
}

/* 20 ms << attempt plus up to as much again, so two instances retry apart. */
static void backoff(int attempt)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long base = 20L << attempt;
    long ms = base + (long)((unsigned long)now.tv_nsec % (unsigned long)base);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/*
 * MySQL: every expired lease, chunk by chunk. totals[] add requeued, failed
 * (their lease goes in the same statement) and other leases cleared.
 */
static int expired_leases(rc_ctx *ctx, const char *t, const char *msg, int64_t max_attempts,
                          int64_t batch, int64_t totals[3])
{
    const rc_api *api = ctx->api;
    bound lo = { "", 0, 0, 0 }, hi = { "", 0, 0, 0 };
    int first = 1;
    for (;;) {
        if (api->interrupted(ctx))
            return RC_OK;
        const expired_sql *q = first ? &expired_first : &expired_next;
        rc_value p[8];
        size_t n = 0;
        p[n++] = rc_text(t);
        if (!first)
            n = add_bound(p, n, &lo);
        p[n++] = rc_int(batch);
        hi.rows = 0;
        if (api->db_query(ctx, q->find, p, n, bound_row, &hi) != RC_OK)
            return RC_ERROR;
        if (hi.odd) {
            api->fail(ctx, "processing_jobs: locked_until and id did not read as a time and an "
                      "integer");
            return RC_ERROR;
        }
        if (hi.rows == 0)
            return RC_OK;
        int64_t counts[3] = { 0, 0, 0 };
        for (int attempt = 1;
             expired_chunk(ctx, q, first ? NULL : &lo, &hi, t, msg, max_attempts, counts) != RC_OK;
             attempt++) {
            if (!api->db_retryable(ctx) || attempt >= MAX_TRIES)
                return RC_ERROR;
            backoff(attempt);
        }
        for (int k = 0; k < 3; k++)
            totals[k] += counts[k];
        lo = hi;
        first = 0;
        if (hi.rows < batch)
            return RC_OK; /* the find read the tail */
    }
}

/* MySQL: expired leases, then the orphans that had no lease at all. */
static int repair_mysql(rc_ctx *ctx, const lease_sql *q, const char *t, const char *msg,
                        int64_t max_attempts, int64_t batch)
{
    const rc_api *api = ctx->api;
    int64_t expired[3] = { 0, 0, 0 };
    if (expired_leases(ctx, t, msg, max_attempts, batch, expired) != RC_OK)
        return RC_ERROR;
    rc_value requeue[] = { rc_text(msg), rc_text(t), rc_int(max_attempts) };
    rc_chunk_stmt stmts[] = {
        { q->requeue, requeue, 3, 0 },
        { q->fail, requeue, 3, 0 },
    };
    if (!api->interrupted(ctx) &&
        api->db_chunked(ctx, ORPHAN_FIND, NULL, 0, rc_int(0), batch, stmts, 2) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "leasesRepaired", expired[0] + expired[1] + expired[2]);
    rc_result_int(ctx, "jobsRequeued", expired[0] + stmts[0].affected);
    rc_result_int(ctx, "jobsFailed", expired[1] + stmts[1].affected);
    return RC_OK;
}

/* Before any run, and in `validate`: the ranges of the options. */
static int check(rc_ctx *ctx)
{
    int64_t max_attempts = ctx->api->opt_int(ctx, "max_attempts");
    int64_t batch = ctx->api->opt_int(ctx, "batch_size");
    if (max_attempts < 1) {
        ctx->api->fail_option(ctx, "max_attempts", "must be at least 1, got %lld",
                              (long long)max_attempts);
        return RC_ERROR;
    }
    if (batch < 1 || batch > BATCH_MAX) {
        ctx->api->fail_option(ctx, "batch_size", "must be from 1 to %d, got %lld", BATCH_MAX,
                              (long long)batch);
        return RC_ERROR;
    }
    return RC_OK;
}

/* SQLite: report (and warn about) the rows no comparison with T can judge. */
static int report_unjudged(rc_ctx *ctx, const lease_sql *q)
{
    int64_t n = 0;
    if (!q->count_unjudged)
        return RC_OK;
    if (rc_count(ctx, q->count_unjudged, NULL, 0, &n) != RC_OK)
        return RC_ERROR;
    if (n > 0)
        ctx->api->log(ctx, RC_LOG_WARN, "%lld rows of processing_jobs.locked_until hold a time "
                      "not in the form YYYY-MM-DD HH:MM:SS; they were left alone",
                      (long long)n);
    return rc_result_int(ctx, "skippedTimes.processing_jobs.locked_until", n);
}

/* Dry run: the same numbers from COUNT(*)s, nothing written. */
static int count_only(rc_ctx *ctx, const lease_sql *q, const char *t, int64_t max_attempts)
{
    int64_t leases, requeue, fail;
    rc_value p1[] = { rc_text(t) };
    rc_value p2[] = { rc_text(t), rc_int(max_attempts) };
    if (rc_count(ctx, q->count_expired, p1, 1, &leases) ||
        rc_count(ctx, q->count_requeue, p2, 2, &requeue) ||
        rc_count(ctx, q->count_fail, p2, 2, &fail))
        return RC_ERROR;
    rc_result_int(ctx, "leasesRepaired", leases);
    rc_result_int(ctx, "jobsRequeued", requeue);
    rc_result_int(ctx, "jobsFailed", fail);
    return report_unjudged(ctx, q);
}

static int run(rc_ctx *ctx, void *state)
{
    const rc_api *api = ctx->api;
    const lease_sql *q = strcmp(api->db_driver(ctx), "sqlite") == 0 ? &sqlite_sql : &mysql_sql;
    int64_t max_attempts = api->opt_int(ctx, "max_attempts");
    int64_t batch = api->opt_int(ctx, "batch_size");
    const char *t = api->now_text(ctx);
    (void)state;

    if (api->dry_run(ctx))
        return count_only(ctx, q, t, max_attempts);

    const char *msg = api->opt_string(ctx, "error_message");
    if (q == &mysql_sql)
        return repair_mysql(ctx, q, t, msg, max_attempts, batch);
    rc_value find[] = { rc_text(t) };
    rc_value clear[] = { rc_text(t), rc_text(t) };
    rc_value requeue[] = { rc_text(msg), rc_text(t), rc_int(max_attempts) };
    /*
     * In one chunk's transaction: first expired leases go (which turns an
     * expired 'processing' job into one without a lease), then every
     * 'processing' job without a lease is requeued or failed.
     */
    rc_chunk_stmt stmts[] = {
        { q->clear, clear, 2, 0 },
        { q->requeue, requeue, 3, 0 },
        { q->fail, requeue, 3, 0 },
    };
    if (api->db_chunked(ctx, q->find, find, 1, rc_int(0), batch, stmts, 3) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "leasesRepaired", stmts[0].affected);
    rc_result_int(ctx, "jobsRequeued", stmts[1].affected);
    rc_result_int(ctx, "jobsFailed", stmts[2].affected);
    return report_unjudged(ctx, q);
}

RC_PLUGIN_CHECK("leases", "Free expired job leases and requeue or fail orphaned jobs", "1.1.0",
                options, NULL, run, NULL, check)
