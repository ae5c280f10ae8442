/* SPDX-License-Identifier: MIT */
/*
 * metrics - the dashboard's numbers, fresh from the database (no cache):
 *   jobs.byStatus.<status>  for every job status (0 when none)
 *   jobs.avgDurationMs      mean finished_at - started_at of completed jobs
 *                           that have both (0 when none)
 *   orders.total, orders.byStatus.<status>, orders.revenue (sum of
 *   total_amount of completed orders, exact to the cent)
 *   database.ok, database.latencyMs (one SELECT 1 round trip)
 * Reads only.
 */
#define _POSIX_C_SOURCE 200809L
#include <reconciler.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const rc_option options[] = { RC_OPTIONS_END };

static const char *const job_statuses[] = { "pending", "processing", "retry", "completed",
                                            "failed", NULL };
static const char *const order_statuses[] = { "pending", "processing", "completed", "failed",
                                              "cancelled", NULL };

typedef struct by_status {
    rc_ctx *ctx;
    const char *prefix;
    int64_t total;
} by_status;

/* One (status, count) row: report it; statuses we do not know are reported too. */
static int status_row(void *user, const rc_value *cols, size_t n)
{
    by_status *b = user;
    char key[160];
    if (n < 2 || cols[0].type != RC_TEXT || cols[1].type != RC_INT)
        return 0;
    snprintf(key, sizeof key, "%s.%s", b->prefix, cols[0].s);
    rc_result_int(b->ctx, key, cols[1].i);
    b->total += cols[1].i;
    return 0;
}

static int count_by_status(rc_ctx *ctx, const char *sql, const char *prefix,
                           const char *const *known, int64_t *total)
{
    char key[160];
    by_status b = { ctx, prefix, 0 };
    for (const char *const *s = known; *s; s++) {
        snprintf(key, sizeof key, "%s.%s", prefix, *s);
        rc_result_int(ctx, key, 0);
    }
    if (ctx->api->db_query(ctx, sql, NULL, 0, status_row, &b) != RC_OK)
        return RC_ERROR;
    if (total)
        *total = b.total;
    return RC_OK;
}

static int number_row(void *user, const rc_value *cols, size_t n)
{
    double *out = user;
    if (n >= 1 && cols[0].type == RC_DOUBLE)
        *out = cols[0].d;
    else if (n >= 1 && cols[0].type == RC_INT)
        *out = (double)cols[0].i;
    return 1;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int run(rc_ctx *ctx, void *state)
{
    const rc_api *api = ctx->api;
    int mysql = strcmp(api->db_driver(ctx), "mysql") == 0;
    struct timespec t0;
    double avg = 0, cents = 0, one = 0;
    int64_t orders_total = 0;
    (void)state;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (api->db_query(ctx, "SELECT 1", NULL, 0, number_row, &one) != RC_OK)
        return RC_ERROR;
    double latency = ms_since(&t0);

    if (count_by_status(ctx, "SELECT status, COUNT(*) FROM processing_jobs GROUP BY status",
                        "jobs.byStatus", job_statuses, NULL) != RC_OK)
        return RC_ERROR;
    /* Date arithmetic is the one place the dialects differ. */
    if (api->db_query(ctx, mysql
                      ? "SELECT AVG(TIMESTAMPDIFF(MICROSECOND, started_at, finished_at)) / 1000 "
                        "FROM processing_jobs WHERE status = 'completed' "
                        "AND started_at IS NOT NULL AND finished_at IS NOT NULL"
                      : "SELECT AVG((julianday(finished_at) - julianday(started_at)) * 86400000.0) "
                        "FROM processing_jobs WHERE status = 'completed' "
                        "AND started_at IS NOT NULL AND finished_at IS NOT NULL",
                      NULL, 0, number_row, &avg) != RC_OK)
        return RC_ERROR;

    if (count_by_status(ctx, "SELECT processing_status, COUNT(*) FROM orders "
                        "GROUP BY processing_status", "orders.byStatus", order_statuses,
                        &orders_total) != RC_OK)
        return RC_ERROR;
    /* In whole cents, so that SQLite's floating point cannot drift the sum. */
    if (api->db_query(ctx, "SELECT SUM(ROUND(total_amount * 100)) FROM orders "
                      "WHERE processing_status = 'completed'", NULL, 0, number_row,
                      &cents) != RC_OK)
        return RC_ERROR;

    rc_result_int(ctx, "jobs.avgDurationMs", (int64_t)llround(avg));
    rc_result_int(ctx, "orders.total", orders_total);
    api->result_double(ctx, "orders.revenue", round(cents) / 100.0);
    api->result_bool(ctx, "database.ok", one == 1.0);
    api->result_double(ctx, "database.latencyMs", round(latency * 1000.0) / 1000.0);
    return RC_OK;
}

/* What the service serves and exports (ABI 1.5); the dashboard maps these names. */
static const rc_figure figures[] = {
    { "jobs_by_status", "jobs.byStatus", RC_FIGURE_GAUGE, "jobs", "Jobs per status.", "status" },
    { "jobs_avg_duration_ms", "jobs.avgDurationMs", RC_FIGURE_GAUGE, "milliseconds",
      "Mean duration of the completed jobs (finished_at - started_at).", NULL },
    { "orders_by_status", "orders.byStatus", RC_FIGURE_GAUGE, "orders",
      "Orders per processing status.", "status" },
    { "orders_total", "orders.total", RC_FIGURE_GAUGE, "orders", "Orders, all statuses.", NULL },
    { "orders_revenue", "orders.revenue", RC_FIGURE_GAUGE, "currency",
      "Sum of total_amount of the completed orders.", NULL },
    { "database_ok", "database.ok", RC_FIGURE_GAUGE, "", "1 when the database answered SELECT 1.",
      NULL },
    { "database_latency_ms", "database.latencyMs", RC_FIGURE_GAUGE, "milliseconds",
      "One SELECT 1 round trip.", NULL },
    RC_FIGURES_END
};

RC_PLUGIN_FIGURES("metrics", "Fresh dashboard numbers: jobs, orders, revenue, database health",
                  "1.0.0", options, NULL, run, NULL, NULL, NULL, figures)
