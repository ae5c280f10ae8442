/* run.c - see run.h. */
#include "engine/run.h"
#include "base/exitcode.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"
#include "engine/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One processing_job_logs row: job_id 0 (system), the category of the
 * trigger, level info or warning, the summary, the full result as details.
 * A failure is added to the result's errors (and so to the details of no
 * row, since there is none).
 */
static int write_job_log(db *d, json_t *r)
{
    json_t *errors = json_object_get(r, "errors");
    char *summary = runner_summary(r);
    char *details = util_json_dump(r, 0);
    int rc = -1;

    rc_value p[] = { rc_text(json_array_size(errors) ? "warning" : "info"),
                     rc_text(runner_log_category(json_string_value(json_object_get(r, "trigger")))),
                     rc_text(summary),
                     details ? rc_text(details) : rc_null() };
    if (db_exec(d, "INSERT INTO processing_job_logs (job_id, level, category, message, details) "
                "VALUES (0, ?, ?, ?, ?)", p, 4, NULL) == 0) {
        rc = 0;
    } else {
        char *msg = xasprintf("cannot write the run's processing_job_logs row: %s", db_errmsg(d));
        log_error("%s", msg);
        json_array_append_new(errors, jx_text(msg));
        free(msg);
    }
    free(summary);
    free(details);
    return rc;
}

/* The run did not happen: recorded as such, with why. */
static int not_run(run_env *env, const run_plan *plan, int64_t run_id, const char *status,
                   const char *reason, int code, json_t **result)
{
    *result = runner_not_run(plan->trigger, plan->dry_run, run_id, status, reason);
    if (env->h && run_id && history_finish(env->h, run_id, util_wall_ms(), *result) != 0)
        log_error("%s", history_error(env->h));
    return code;
}

/* Take the lock; EXIT_OK, or the exit code of a run that could not happen (*result set). */
static int take_lock(run_env *env, const run_plan *plan, int64_t run_id, json_t **result)
{
    char err[1024], reason[1400];
    lock_info other = { "", "" };
    int got = guard_acquire(env->g, plan->wait_ms, &other, err, sizeof err);
    if (got == GUARD_TAKEN)
        return EXIT_OK;
    if (got == GUARD_STOPPED)
        return not_run(env, plan, run_id, "skipped", "not run: reconciler is stopping",
                       EXIT_STEP_FAILED, result);
    if (got == GUARD_BUSY) {
        snprintf(reason, sizeof reason, "skipped: another instance holds the run lock: %s "
                 "(until %s UTC); waited %lld ms (schedule.lock_wait)", other.holder, other.until,
                 (long long)plan->wait_ms);
        /* A scheduled tick that finds another instance running is routine. */
        log_msg(plan->wait_ms ? RC_LOG_ERROR : RC_LOG_INFO, NULL, "%s run %s", plan->trigger,
                reason);
        return not_run(env, plan, run_id, "skipped", reason, EXIT_LOCKED, result);
    }
    snprintf(reason, sizeof reason, "not run: the run lock: %s", err);
    log_error("%s run %s", plan->trigger, reason);
    return not_run(env, plan, run_id, "failed", reason, EXIT_DATABASE, result);
}

int run_guarded(run_env *env, const run_plan *plan, json_t **result)
{
    char err[2048], reason[2100];
    int64_t run_id = plan->run_id;
    int rc;

    /* Recorded before anything else, so that every run is, and a 409 can name it. */
    if (!run_id && env->h &&
        history_begin(env->h, plan->trigger, plan->dry_run, util_wall_ms(), &run_id) != 0) {
        log_error("%s (the run goes on without a history record)", history_error(env->h));
        run_id = 0;
    }
    if (plan->started)
        plan->started(plan->user, run_id);

    /* A server restarted since the last run closed our session: reopen it now. */
    if ((rc = connect_check(env->cfg, NULL, env->d, err, sizeof err)) != EXIT_OK) {
        snprintf(reason, sizeof reason, "not run: %s", err);
        log_error("%s run %s", plan->trigger, reason);
        return not_run(env, plan, run_id, "failed", reason, rc, result);
    }
    int locked = env->g && !plan->dry_run;
    if (locked && (rc = take_lock(env, plan, run_id, result)) != EXIT_OK)
        return rc;
    /* The run starts now, after any wait for the lock: history's start and
     * finish times are the run's own, so two instances' runs never seem to overlap. */
    if (env->h && run_id && history_started(env->h, run_id, util_wall_ms()) != 0)
        log_error("%s", history_error(env->h));

    run_request req = { .trigger = plan->trigger, .dry_run = plan->dry_run,
                        .reference_time = plan->reference_time, .run_id = run_id,
                        .g = locked ? env->g : NULL };
    run_status st = runner_run(env->p, *env->d, &req, result);
    /* The bot's own log table gets one row per real run; a dry run writes nothing. */
    if (!plan->dry_run && write_job_log(*env->d, *result) != 0 && st == RUN_SUCCESS) {
        st = RUN_PARTIAL;
        json_object_set_new(*result, "status", jx(json_string(run_status_name(st))));
        json_object_set_new(*result, "success", jx(json_false()));
    }
    /* The run ends before the lock is let go, as it starts after the lock is
     * taken: letting go may wait on a hung database for seconds, past the
     * lease, when another instance may already have taken the lock and begun. */
    int64_t finished_ms = util_wall_ms();
    if (locked)
        guard_release(env->g, stop_requested() ? 0 : plan->hold_ms);
    if (env->h && run_id && history_finish(env->h, run_id, finished_ms, *result) != 0)
        log_error("%s", history_error(env->h));
    char *summary = runner_summary(*result);
    log_info("%s", summary);
    free(summary);
    if (db_lost(*env->d)) {
        /* Reconnect before the next run rather than fail it too. */
        db_close(*env->d);
        *env->d = NULL;
    }
    return st == RUN_SUCCESS ? EXIT_OK : EXIT_STEP_FAILED;
}
