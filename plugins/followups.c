/* SPDX-License-Identifier: MIT */
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
 *
 * Ended cooldowns are cleared in keyset chunks of batch_size rows, one short
 * transaction each. On MySQL the chunks follow the cooldown_until index in
 * (cooldown_until, user_id) order, so a run reads the sessions it changes
 * and not the whole table (chunking by user_id over the primary key read
 * every session twice per run, and locked each one it read).
 *
 * On SQLite a cooldown_until or last_activity that is not canonical time text
 * cannot be judged against T: such rows are neither changed nor counted, and
 * skippedTimes.user_sessions.<column> says how many there are.
 */
#include <reconciler.h>
#include <string.h>

/* 100 years: more is no staleness, and days * 86400 stays far from overflow. */
#define STALE_DAYS_MAX 36500
#define BATCH_MAX 1000000

static const rc_option options[] = {
    { "max_attempts", RC_OPT_INT, "3",
      "sessions with fewer follow-up attempts are candidates (0 or more)" },
    { "stale_after_days", RC_OPT_INT, "365",
      "sessions idle longer than this are not candidates (0 to 36500)" },
    { "active_status", RC_OPT_STRING, "ACTIVE", "contact_status of sessions that get follow-ups" },
    { "batch_size", RC_OPT_INT, "5000", "rows per chunk (one transaction each), 1 to 1000000" },
    RC_OPTIONS_END
};

typedef struct followup_sql {
    const char *count_ended, *find, *clear, *candidates;
    const char *unjudged_cooldown, *unjudged_activity; /* SQLite only; NULL on MySQL */
    const char *clear_where; /* clear's WHERE clause, for its change declaration (ABI 1.6) */
} followup_sql;

#define ENDED(OK) "(cooldown_until < ?" OK ")"
#define CLEAR_WHERE(OK) ENDED(OK) " AND user_id > ? AND user_id <= ?"
#define FOLLOWUP_SQL(OK_COOLDOWN, OK_ACTIVITY, UNJ_C, UNJ_A)                                  \
    {                                                                                         \
        "SELECT COUNT(*) FROM user_sessions WHERE " ENDED(OK_COOLDOWN),                       \
        "SELECT user_id FROM user_sessions WHERE " ENDED(OK_COOLDOWN)                         \
        " AND user_id > ? ORDER BY user_id LIMIT ?",                                          \
        "UPDATE user_sessions SET cooldown_until = NULL, follow_up_attempts = 0 "             \
        "WHERE " CLEAR_WHERE(OK_COOLDOWN),                                                    \
        "SELECT COUNT(*) FROM user_sessions WHERE contact_status = ? "                        \
        "AND (last_activity >= ?" OK_ACTIVITY ") AND ((cooldown_until IS NULL AND "           \
        "follow_up_attempts < ?) OR (" ENDED(OK_COOLDOWN) " AND ? > 0))",                     \
        UNJ_C, UNJ_A, CLEAR_WHERE(OK_COOLDOWN)                                                \
    }

static const followup_sql mysql_sql = FOLLOWUP_SQL("", "", NULL, NULL);
static const followup_sql sqlite_sql = FOLLOWUP_SQL(
    " AND " RC_SQLITE_TIME_OK("cooldown_until"), " AND " RC_SQLITE_TIME_OK("last_activity"),
    "SELECT COUNT(*) FROM user_sessions WHERE cooldown_until IS NOT NULL AND NOT "
    RC_SQLITE_TIME_OK("cooldown_until"),
    "SELECT COUNT(*) FROM user_sessions WHERE last_activity IS NOT NULL AND NOT "
    RC_SQLITE_TIME_OK("last_activity"));

/*
 * MySQL: ended cooldowns in chunks of the (cooldown_until, user_id) order the
 * cooldown_until index holds. A chunk runs from the last pair of the one
 * before (CD_AFTER) to its own last (CD_UPTO); the first starts after
 * (0000-00-00 00:00:00, ''), below every cooldown.
 */
#define CD_AFTER " AND (cooldown_until > ? OR (cooldown_until = ? AND user_id > ?))"
#define CD_UPTO " AND (cooldown_until < ? OR (cooldown_until = ? AND user_id <= ?))"
#define ENDED_FIND                                                                        \
    "SELECT cooldown_until, user_id FROM user_sessions WHERE cooldown_until < ?" CD_AFTER   \
    " ORDER BY cooldown_until, user_id LIMIT ?"
#define ENDED_CLEAR_WHERE "cooldown_until < ?" CD_AFTER CD_UPTO
#define ENDED_CLEAR                                                                       \
    "UPDATE user_sessions SET cooldown_until = NULL, follow_up_attempts = 0 "             \
    "WHERE " ENDED_CLEAR_WHERE

/* What clear changes (ABI 1.6), so that the core records each row; a 1.5 core cannot. */
static const char *const clear_cols[] = { "cooldown_until", "follow_up_attempts" };
static int declare_clear(rc_ctx *ctx, const char *where)
{
    rc_change_decl d = { "user_sessions", "user_id", clear_cols, 2, where, 0 };
    if (!RC_API_HAS(ctx, declare_changes))
        return RC_OK;
    return ctx->api->declare_changes(ctx, &d, 1);
}
static const unsigned char cd_bind[] = { 0, 0, 1 }; /* cooldown_until, cooldown_until, user_id */

/* MySQL: every ended cooldown, chunk by chunk, added to *total. */
static int clear_mysql(rc_ctx *ctx, const char *t, int64_t batch, int64_t *total)
{
    rc_value p_t[] = { rc_text(t) };
    rc_value first[] = { rc_text("0000-00-00 00:00:00"), rc_text("") };
    rc_chunk_key key = { 2, first, cd_bind, 3 };
    rc_chunk_stmt clear = { ENDED_CLEAR, p_t, 1, 0 };
    if (declare_clear(ctx, ENDED_CLEAR_WHERE) != RC_OK ||
        ctx->api->db_chunked_by(ctx, ENDED_FIND, p_t, 1, &key, batch, &clear, 1) != RC_OK)
        return RC_ERROR;
    *total += clear.affected;
    return RC_OK;
}

/* SQLite: the rows of column whose time no comparison can judge. */
static int report_unjudged(rc_ctx *ctx, const char *sql, const char *column)
{
    int64_t n = 0;
    char key[96];
    if (!sql)
        return RC_OK;
    if (rc_count(ctx, sql, NULL, 0, &n) != RC_OK)
        return RC_ERROR;
    if (n > 0)
        ctx->api->log(ctx, RC_LOG_WARN, "%lld rows of user_sessions.%s hold a time not in the "
                      "form YYYY-MM-DD HH:MM:SS; they were left alone", (long long)n, column);
    strcpy(key, "skippedTimes.user_sessions.");
    strcat(key, column);
    return rc_result_int(ctx, key, n);
}

/* Before any run, and in `validate`: the ranges of the options. */
static int check(rc_ctx *ctx)
{
    const rc_api *api = ctx->api;
    int64_t max_attempts = api->opt_int(ctx, "max_attempts");
    int64_t days = api->opt_int(ctx, "stale_after_days");
    int64_t batch = api->opt_int(ctx, "batch_size");
    if (max_attempts < 0) {
        api->fail_option(ctx, "max_attempts", "must be 0 or more, got %lld",
                         (long long)max_attempts);
        return RC_ERROR;
    }
    if (days < 0 || days > STALE_DAYS_MAX) {
        api->fail_option(ctx, "stale_after_days", "must be from 0 to %d, got %lld",
                         STALE_DAYS_MAX, (long long)days);
        return RC_ERROR;
    }
    if (batch < 1 || batch > BATCH_MAX) {
        api->fail_option(ctx, "batch_size", "must be from 1 to %d, got %lld", BATCH_MAX,
                         (long long)batch);
        return RC_ERROR;
    }
    return RC_OK;
}

static int run(rc_ctx *ctx, void *state)
{
    const rc_api *api = ctx->api;
    const followup_sql *q = strcmp(api->db_driver(ctx), "sqlite") == 0 ? &sqlite_sql : &mysql_sql;
    const char *t = api->now_text(ctx);
    int64_t max_attempts = api->opt_int(ctx, "max_attempts");
    int64_t days = api->opt_int(ctx, "stale_after_days");
    int64_t batch = api->opt_int(ctx, "batch_size");
    int64_t cleared = 0, candidates;
    char stale_edge[RC_TIME_TEXT_SIZE];
    (void)state;

    rc_value p_t[] = { rc_text(t) };
    if (api->dry_run(ctx)) {
        if (rc_count(ctx, q->count_ended, p_t, 1, &cleared) != RC_OK)
            return RC_ERROR;
    } else if (q == &mysql_sql) {
        if (clear_mysql(ctx, t, batch, &cleared) != RC_OK)
            return RC_ERROR;
    } else {
        rc_chunk_stmt clear = { q->clear, p_t, 1, 0 };
        if (declare_clear(ctx, q->clear_where) != RC_OK ||
            api->db_chunked(ctx, q->find, p_t, 1, rc_text(""), batch, &clear, 1) != RC_OK)
            return RC_ERROR;
        cleared = clear.affected;
    }

    /* Written in the session's zone: T - n days as DATE_SUB(NOW(), INTERVAL n DAY) is. */
    api->format_time(api->now(ctx) - days * 86400, stale_edge, sizeof stale_edge);
    rc_value p_cand[] = { rc_text(api->opt_string(ctx, "active_status")), rc_text(stale_edge),
                          rc_int(max_attempts), rc_text(t), rc_int(max_attempts) };
    if (rc_count(ctx, q->candidates, p_cand, 5, &candidates) != RC_OK)
        return RC_ERROR;
    rc_result_int(ctx, "cooldownsCleared", cleared);
    /* A dry run records nothing: each ended cooldown would get one change record. */
    if (api->dry_run(ctx))
        rc_result_int(ctx, "wouldRecordChanges", cleared);
    rc_result_int(ctx, "followUpCandidates", candidates);
    if (report_unjudged(ctx, q->unjudged_cooldown, "cooldown_until") != RC_OK ||
        report_unjudged(ctx, q->unjudged_activity, "last_activity") != RC_OK)
        return RC_ERROR;
    return RC_OK;
}

/* What the service serves and exports (ABI 1.5). */
static const rc_figure figures[] = {
    { "followup_candidates", "followUpCandidates", RC_FIGURE_GAUGE, "sessions",
      "Active sessions a follow-up may be sent to now.", NULL },
    RC_FIGURES_END
};

RC_PLUGIN_FIGURES("followups", "Clear ended follow-up cooldowns and count follow-up candidates",
                  "1.2.0", options, NULL, run, NULL, check, NULL, figures)
