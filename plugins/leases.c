/* SPDX-License-Identifier: MIT */
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
#include <reconciler.h>
#include <string.h>

#define BATCH_MAX 1000000

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
    /* The WHERE clauses of clear, requeue and fail, for their change declarations (ABI 1.6). */
    const char *clear_where, *requeue_where, *fail_where;
    /* Dry run: jobs in 'processing' with no lease (with the expired ones: every row changed). */
    const char *count_orphan;
} lease_sql;

/*
 * OK is the extra condition that a time value must meet to be compared: ""
 * on MySQL (DATETIME is always canonical), RC_SQLITE_TIME_OK on SQLite.
 */
#define EXPIRED(OK) "(locked_until < ?" OK ")"
#define ORPHAN "status = 'processing' AND locked_until IS NULL"
#define ORPHAN_OR_EXPIRED(OK) "status = 'processing' AND (locked_until IS NULL OR " EXPIRED(OK) ")"
#define CLEAR_WHERE(OK) EXPIRED(OK) " AND id > ? AND id <= ?"
#define REQUEUE_WHERE ORPHAN " AND attempts < ? AND id > ? AND id <= ?"
#define FAIL_WHERE ORPHAN " AND attempts >= ? AND id > ? AND id <= ?"
#define LEASE_SQL(OK, UNJUDGED)                                                            \
    {                                                                                      \
        "SELECT COUNT(*) FROM processing_jobs WHERE " EXPIRED(OK),                         \
        "SELECT COUNT(*) FROM processing_jobs WHERE " ORPHAN_OR_EXPIRED(OK) " AND attempts < ?", \
        "SELECT COUNT(*) FROM processing_jobs WHERE " ORPHAN_OR_EXPIRED(OK) " AND attempts >= ?", \
        "SELECT id FROM processing_jobs WHERE (" EXPIRED(OK) " OR " ORPHAN                  \
        ") AND id > ? ORDER BY id LIMIT ?",                                                \
        "UPDATE processing_jobs SET locked_by = NULL, locked_until = NULL, updated_at = ? " \
        "WHERE " CLEAR_WHERE(OK),                                                          \
        "UPDATE processing_jobs SET status = 'retry', last_error = ?, locked_by = NULL, "  \
        "updated_at = ? WHERE " REQUEUE_WHERE,                                             \
        "UPDATE processing_jobs SET status = 'failed', last_error = ?, locked_by = NULL, " \
        "updated_at = ? WHERE " FAIL_WHERE,                                                \
        UNJUDGED, CLEAR_WHERE(OK), REQUEUE_WHERE, FAIL_WHERE,                              \
        "SELECT COUNT(*) FROM processing_jobs WHERE " ORPHAN                                \
    }

static const lease_sql mysql_sql = LEASE_SQL("", NULL);
static const lease_sql sqlite_sql = LEASE_SQL(
    " AND " RC_SQLITE_TIME_OK("locked_until"),
    "SELECT COUNT(*) FROM processing_jobs WHERE locked_until IS NOT NULL AND NOT "
    RC_SQLITE_TIME_OK("locked_until"));

/*
 * MySQL: expired leases in chunks of the (locked_until, id) order, which the
 * locked_until index holds (InnoDB appends the primary key to it). A chunk
 * runs from the last (locked_until, id) of the one before (LU_AFTER) to its
 * own last (LU_UPTO); both are ranges of the index. The first chunk starts
 * after (0000-00-00 00:00:00, 0), below every lease and every id.
 */
#define LU_AFTER " AND (locked_until > ? OR (locked_until = ? AND id > ?))"
#define LU_UPTO " AND (locked_until < ? OR (locked_until = ? AND id <= ?))"
#define EXPIRED_FIND                                                                     \
    "SELECT locked_until, id FROM processing_jobs WHERE locked_until < ?" LU_AFTER         \
    " ORDER BY locked_until, id LIMIT ?"
/* A chunk's orphans are requeued or failed in the same statement as their lease goes. */
#define EXPIRED_REQUEUE_WHERE                                                            \
    "status = 'processing' AND attempts < ? AND locked_until < ?" LU_AFTER LU_UPTO
#define EXPIRED_REQUEUE                                                                  \
    "UPDATE processing_jobs SET status = 'retry', last_error = ?, locked_by = NULL, "    \
    "locked_until = NULL, updated_at = ? WHERE " EXPIRED_REQUEUE_WHERE
#define EXPIRED_FAIL_WHERE                                                               \
    "status = 'processing' AND attempts >= ? AND locked_until < ?" LU_AFTER LU_UPTO
#define EXPIRED_FAIL                                                                     \
    "UPDATE processing_jobs SET status = 'failed', last_error = ?, locked_by = NULL, "   \
    "locked_until = NULL, updated_at = ? WHERE " EXPIRED_FAIL_WHERE
#define EXPIRED_CLEAR_WHERE "locked_until < ?" LU_AFTER LU_UPTO
#define EXPIRED_CLEAR                                                                    \
    "UPDATE processing_jobs SET locked_by = NULL, locked_until = NULL, updated_at = ? "  \
    "WHERE " EXPIRED_CLEAR_WHERE

/*
 * What each statement changes (ABI 1.6), so that the core records every row
 * it changes: the table, its key, the columns set and the WHERE clause.
 */
static const char *const cols_requeue[] = { "status", "last_error", "locked_by",
                                            "locked_until", "updated_at" };
static const char *const cols_orphan[] = { "status", "last_error", "locked_by", "updated_at" };
static const char *const cols_clear[] = { "locked_by", "locked_until", "updated_at" };
#define DECL(cols, where, from) { "processing_jobs", "id", cols, sizeof cols / sizeof *cols, where, from }

/* Declare them when the core can take it (a 1.5 core cannot: nothing is recorded there). */
static int declare(rc_ctx *ctx, const rc_change_decl *d, size_t n)
{
    if (!RC_API_HAS(ctx, declare_changes))
        return RC_OK;
    return ctx->api->declare_changes(ctx, d, n);
}
static const unsigned char lu_bind[] = { 0, 0, 1 }; /* locked_until, locked_until, id */

/* MySQL: jobs in 'processing' with no lease at all, over the (status, locked_until, id) index. */
#define ORPHAN_FIND "SELECT id FROM processing_jobs WHERE " ORPHAN " AND id > ? ORDER BY id LIMIT ?"

/* MySQL: expired leases, then the orphans that had no lease at all. */
static int repair_mysql(rc_ctx *ctx, const lease_sql *q, const char *t, const char *msg,
                        int64_t max_attempts, int64_t batch)
{
    const rc_api *api = ctx->api;
    rc_value find[] = { rc_text(t) };
    rc_value requeue[] = { rc_text(msg), rc_text(t), rc_int(max_attempts), rc_text(t) };
    rc_value clear[] = { rc_text(t), rc_text(t) };
    rc_chunk_stmt expired[] = {
        { EXPIRED_REQUEUE, requeue, 4, 0 },
        { EXPIRED_FAIL, requeue, 4, 0 },
        { EXPIRED_CLEAR, clear, 2, 0 },
    };
    rc_value first[] = { rc_text("0000-00-00 00:00:00"), rc_int(0) };
    rc_chunk_key key = { 2, first, lu_bind, 3 };
    const rc_change_decl expired_decl[] = {
        DECL(cols_requeue, EXPIRED_REQUEUE_WHERE, 2),
        DECL(cols_requeue, EXPIRED_FAIL_WHERE, 2),
        DECL(cols_clear, EXPIRED_CLEAR_WHERE, 1),
    };
    if (declare(ctx, expired_decl, 3) != RC_OK)
        return RC_ERROR;
    if (api->db_chunked_by(ctx, EXPIRED_FIND, find, 1, &key, batch, expired, 3) != RC_OK)
        return RC_ERROR;
    rc_chunk_stmt orphans[] = {
        { q->requeue, requeue, 3, 0 },
        { q->fail, requeue, 3, 0 },
    };
    const rc_change_decl orphan_decl[] = {
        DECL(cols_orphan, q->requeue_where, 2),
        DECL(cols_orphan, q->fail_where, 2),
    };
    if (!api->interrupted(ctx) && declare(ctx, orphan_decl, 2) != RC_OK)
        return RC_ERROR;
    if (!api->interrupted(ctx) &&
        api->db_chunked(ctx, ORPHAN_FIND, NULL, 0, rc_int(0), batch, orphans, 2) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "leasesRepaired",
                  expired[0].affected + expired[1].affected + expired[2].affected);
    rc_result_int(ctx, "jobsRequeued", expired[0].affected + orphans[0].affected);
    rc_result_int(ctx, "jobsFailed", expired[1].affected + orphans[1].affected);
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

/*
 * Dry run: the same numbers from COUNT(*)s, nothing written; and the change
 * records a real run would write: one per expired lease and one per
 * 'processing' job with none (each such row changes; the two are disjoint).
 */
static int count_only(rc_ctx *ctx, const lease_sql *q, const char *t, int64_t max_attempts)
{
    int64_t leases, requeue, fail, orphans;
    rc_value p1[] = { rc_text(t) };
    rc_value p2[] = { rc_text(t), rc_int(max_attempts) };
    if (rc_count(ctx, q->count_expired, p1, 1, &leases) ||
        rc_count(ctx, q->count_requeue, p2, 2, &requeue) ||
        rc_count(ctx, q->count_fail, p2, 2, &fail) ||
        rc_count(ctx, q->count_orphan, NULL, 0, &orphans))
        return RC_ERROR;
    rc_result_int(ctx, "leasesRepaired", leases);
    rc_result_int(ctx, "jobsRequeued", requeue);
    rc_result_int(ctx, "jobsFailed", fail);
    rc_result_int(ctx, "wouldRecordChanges", leases + orphans);
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
    const rc_change_decl decls[] = {
        DECL(cols_clear, q->clear_where, 1),
        DECL(cols_orphan, q->requeue_where, 2),
        DECL(cols_orphan, q->fail_where, 2),
    };
    if (declare(ctx, decls, 3) != RC_OK ||
        api->db_chunked(ctx, q->find, find, 1, rc_int(0), batch, stmts, 3) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "leasesRepaired", stmts[0].affected);
    rc_result_int(ctx, "jobsRequeued", stmts[1].affected);
    rc_result_int(ctx, "jobsFailed", stmts[2].affected);
    return report_unjudged(ctx, q);
}

RC_PLUGIN_CHECK("leases", "Free expired job leases and requeue or fail orphaned jobs", "1.2.0",
                options, NULL, run, NULL, check)
