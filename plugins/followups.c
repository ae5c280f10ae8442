/*
 * followups - rebuild the follow-up queue the bot lost when it stopped.
 *
 * With T the run's reference time (database clock):
 *   - every session whose cooldown ended (cooldown_until < T) gets
 *     cooldown_until = NULL and follow_up_attempts = 0: cooldownsCleared;
 *   - followUpCandidates counts sessions with contact_status = active_status,
 *     no cooldown or an ended one, follow_up_attempts < max_attempts and
 *     last_activity >= T - stale_after_days.
 * A cooldown ending exactly at T has not ended yet. The candidate count
 * treats an ended cooldown as the reset it gets, so a dry run reports what a
 * real run would.
 */
#include <reconciler.h>

static const rc_option options[] = {
    { "max_attempts", RC_OPT_INT, "3", "sessions with fewer follow-up attempts are candidates" },
    { "stale_after_days", RC_OPT_INT, "365", "sessions idle longer than this are not candidates" },
    { "active_status", RC_OPT_STRING, "ACTIVE", "contact_status of sessions that get follow-ups" },
    { "batch_size", RC_OPT_INT, "5000", "rows per chunk (one transaction each), >= 1" },
    RC_OPTIONS_END
};

static int run(rc_ctx *ctx, void *state)
{
    const rc_api *api = ctx->api;
    const char *t = api->now_text(ctx);
    int64_t max_attempts = api->opt_int(ctx, "max_attempts");
    int64_t days = api->opt_int(ctx, "stale_after_days");
    int64_t batch = api->opt_int(ctx, "batch_size");
    int64_t cleared = 0, candidates;
    char stale_edge[32];
    (void)state;

    if (batch < 1 || days < 0 || max_attempts < 0) {
        api->fail(ctx, "options: batch_size must be >= 1, stale_after_days and max_attempts >= 0");
        return RC_ERROR;
    }
    rc_value p_t[] = { rc_text(t) };
    if (api->dry_run(ctx)) {
        if (rc_count(ctx, "SELECT COUNT(*) FROM user_sessions WHERE cooldown_until < ?",
                     p_t, 1, &cleared) != RC_OK)
            return RC_ERROR;
    } else {
        rc_value p_clear[] = { rc_text(t) };
        rc_chunk_stmt clear = {
            "UPDATE user_sessions SET cooldown_until = NULL, follow_up_attempts = 0 "
            "WHERE cooldown_until < ? AND user_id > ? AND user_id <= ?", p_clear, 1, 0
        };
        if (api->db_chunked(ctx, "SELECT user_id FROM user_sessions WHERE cooldown_until < ? "
                            "AND user_id > ? ORDER BY user_id LIMIT ?", p_t, 1, rc_text(""),
                            batch, &clear, 1) != RC_OK)
            return RC_ERROR;
        cleared = clear.affected;
    }

    api->format_time(api->now(ctx) - days * 86400, stale_edge, sizeof stale_edge);
    rc_value p_cand[] = { rc_text(api->opt_string(ctx, "active_status")), rc_text(stale_edge),
                          rc_int(max_attempts), rc_text(t), rc_int(max_attempts) };
    if (rc_count(ctx, "SELECT COUNT(*) FROM user_sessions WHERE contact_status = ? "
                 "AND last_activity >= ? AND ((cooldown_until IS NULL AND follow_up_attempts < ?) "
                 "OR (cooldown_until < ? AND ? > 0))", p_cand, 5, &candidates) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "cooldownsCleared", cleared);
    rc_result_int(ctx, "followUpCandidates", candidates);
    return RC_OK;
}

RC_PLUGIN("followups", "Clear ended follow-up cooldowns and count follow-up candidates", "1.0.0",
          options, NULL, run, NULL)
