/* SPDX-License-Identifier: MIT */
/*
 * orders - the pending-orders queue, counted fresh from the database:
 * pendingOrders (processing_status pending or processing) and
 * orders.pendingByStatus.<status> for both. Reads only.
 */
#include <reconciler.h>
#include <string.h>

static const rc_option options[] = { RC_OPTIONS_END };

typedef struct counts {
    int64_t pending, processing;
} counts;

static int row(void *user, const rc_value *cols, size_t n)
{
    counts *c = user;
    if (n < 2 || cols[0].type != RC_TEXT || cols[1].type != RC_INT)
        return 0;
    if (strcmp(cols[0].s, "pending") == 0)
        c->pending = cols[1].i;
    else if (strcmp(cols[0].s, "processing") == 0)
        c->processing = cols[1].i;
    return 0;
}

static int run(rc_ctx *ctx, void *state)
{
    counts c = { 0, 0 };
    (void)state;
    if (ctx->api->db_query(ctx, "SELECT processing_status, COUNT(*) FROM orders "
                           "WHERE processing_status IN ('pending', 'processing') "
                           "GROUP BY processing_status", NULL, 0, row, &c) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "pendingOrders", c.pending + c.processing);
    rc_result_int(ctx, "orders.pendingByStatus.pending", c.pending);
    rc_result_int(ctx, "orders.pendingByStatus.processing", c.processing);
    return RC_OK;
}

/* What the service serves and exports (ABI 1.5). */
static const rc_figure figures[] = {
    { "orders_pending", "pendingOrders", RC_FIGURE_GAUGE, "orders",
      "Orders waiting to be processed (pending or processing).", NULL },
    { "orders_pending_by_status", "orders.pendingByStatus", RC_FIGURE_GAUGE, "orders",
      "Orders waiting to be processed, per status.", "status" },
    RC_FIGURES_END
};

RC_PLUGIN_FIGURES("orders", "Count the pending-orders queue", "1.0.0", options, NULL, run, NULL,
                  NULL, NULL, figures)
