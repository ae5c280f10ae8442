/* SPDX-License-Identifier: MIT */
/*
 * queue - the job queue as it stands, fresh from the database (reads only):
 *   queue.byStatus.<status>   jobs per status (0 when none)
 *   queue.total               all jobs
 *   queue.leased              jobs with a live lease (locked_until >= T)
 *   queue.expiredLeases       jobs whose lease ran out (locked_until < T):
 *                             what the leases step frees next
 *   queue.oldestPendingAgeSeconds
 *                             T - created_at of the oldest 'pending' job
 *                             (0 when none is pending; one entry of the
 *                             (status, created_at, ...) index)
 * The service's GET /v1/processing/queue runs this plugin as a probe, so the
 * SQL lives here and nowhere else. It can also run as a pipeline step, to
 * record the queue after the repairs.
 */
#include <reconciler.h>
#include <stdio.h>
#include <string.h>

static const rc_option options[] = { RC_OPTIONS_END };

static const char *const statuses[] = { "pending", "processing", "retry", "completed", "failed",
                                        NULL };

typedef struct tally {
    rc_ctx *ctx;
    int64_t total, leased, expired;
} tally;

/* MySQL's SUM() is DECIMAL (a double here), SQLite's an integer; NULL (no row) is 0. */
static int64_t whole(const rc_value *v)
{
    return v->type == RC_INT ? v->i : v->type == RC_DOUBLE ? (int64_t)v->d : 0;
}

/* (status, count) per status; unknown statuses are reported too. */
static int status_row(void *user, const rc_value *c, size_t n)
{
    tally *t = user;
    char key[160];
    if (n < 2 || c[0].type != RC_TEXT || c[1].type != RC_INT)
        return 0;
    snprintf(key, sizeof key, "queue.byStatus.%s", c[0].s);
    rc_result_int(t->ctx, key, c[1].i);
    t->total += c[1].i;
    return 0;
}

/* (leased, expired): one row. */
static int lease_row(void *user, const rc_value *c, size_t n)
{
    tally *t = user;
    if (n >= 2) {
        t->leased = whole(&c[0]);
        t->expired = whole(&c[1]);
    }
    return 1;
}

static int run(rc_ctx *ctx, void *state)
{
    const rc_api *api = ctx->api;
    const char *t = api->now_text(ctx);
    int mysql = strcmp(api->db_driver(ctx), "mysql") == 0;
    tally tl = { ctx, 0, 0, 0 };
    int64_t age = 0;
    char key[160];
    (void)state;

    for (const char *const *s = statuses; *s; s++) {
        snprintf(key, sizeof key, "queue.byStatus.%s", *s);
        rc_result_int(ctx, key, 0);
    }
    /*
     * Counting per status reads the narrowest status index whole; the lease
     * figures read only the leased rows, a range of the locked_until index
     * (a CASE over every row in the same pass cost more than both together).
     * SQLite: only canonical time text is compared with T (see
     * RC_SQLITE_TIME_OK); a lease in another form counts as neither.
     */
    if (api->db_query(ctx, "SELECT status, COUNT(*) FROM processing_jobs GROUP BY status", NULL,
                      0, status_row, &tl) != RC_OK)
        return RC_ERROR;
    rc_value p2[] = { rc_text(t), rc_text(t) };
    if (api->db_query(ctx, mysql
                      ? "SELECT SUM(CASE WHEN locked_until >= ? THEN 1 ELSE 0 END), "
                        "SUM(CASE WHEN locked_until < ? THEN 1 ELSE 0 END) "
                        "FROM processing_jobs WHERE locked_until IS NOT NULL"
                      : "SELECT SUM(CASE WHEN locked_until >= ? AND " RC_SQLITE_TIME_OK("locked_until")
                        " THEN 1 ELSE 0 END), "
                        "SUM(CASE WHEN locked_until < ? AND " RC_SQLITE_TIME_OK("locked_until")
                        " THEN 1 ELSE 0 END) "
                        "FROM processing_jobs WHERE locked_until IS NOT NULL", p2, 2, lease_row,
                      &tl) != RC_OK)
        return RC_ERROR;
    /* Date arithmetic is where the dialects differ. NULL (no pending job) reads as 0. */
    rc_value p1[] = { rc_text(t) };
    if (rc_count(ctx, mysql
                 ? "SELECT COALESCE(TIMESTAMPDIFF(SECOND, MIN(created_at), ?), 0) "
                   "FROM processing_jobs WHERE status = 'pending'"
                 : "SELECT COALESCE(CAST(ROUND((julianday(?) - julianday(MIN(created_at))) "
                   "* 86400) AS INTEGER), 0) FROM processing_jobs WHERE status = 'pending' "
                   "AND " RC_SQLITE_TIME_OK("created_at"),
                 p1, 1, &age) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "queue.total", tl.total);
    rc_result_int(ctx, "queue.leased", tl.leased);
    rc_result_int(ctx, "queue.expiredLeases", tl.expired);
    /* A job created after T (clock skew between bot hosts) is not negative age. */
    rc_result_int(ctx, "queue.oldestPendingAgeSeconds", age > 0 ? age : 0);
    return RC_OK;
}

/* What the service serves and exports (ABI 1.5); the queue endpoint maps these names. */
static const rc_figure figures[] = {
    { "queue_jobs", "queue.byStatus", RC_FIGURE_GAUGE, "jobs", "Jobs in the queue per status.",
      "status" },
    { "queue_size", "queue.total", RC_FIGURE_GAUGE, "jobs", "Jobs in the queue, all statuses.",
      NULL },
    { "queue_leased_jobs", "queue.leased", RC_FIGURE_GAUGE, "jobs",
      "Jobs with a live lease (locked_until at or after T).", NULL },
    { "queue_expired_leases", "queue.expiredLeases", RC_FIGURE_GAUGE, "jobs",
      "Jobs whose lease ran out (locked_until before T): what the leases step frees next.",
      NULL },
    { "queue_oldest_pending_age_seconds", "queue.oldestPendingAgeSeconds", RC_FIGURE_GAUGE,
      "seconds", "Age of the oldest pending job at T; 0 when none is pending.", NULL },
    RC_FIGURES_END
};

RC_PLUGIN_FIGURES("queue", "The job queue as it stands: jobs per status, live and expired "
                  "leases, oldest pending job's age", "1.0.0", options, NULL, run, NULL, NULL,
                  NULL, figures)
