/* SPDX-License-Identifier: MIT */
/* run.c - see run.h. */
#include "engine/run.h"
#include "base/exitcode.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/jobstate.h"
#include "db/migrate.h"
#include "engine/runner.h"
#include "engine/supervisor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The log row is one small INSERT: a server that needs longer does not
 * answer. A stopping process waits less: it must exit within 5 s.
 */
#define JOB_LOG_TIMEOUT_MS 3000
#define JOB_LOG_STOPPING_MS 1000
/* The supervisor's own statements (T, the log row, KILL) are small: short timeouts. */
static const connect_timeouts supervisor_timeouts = { 0, 5, 5 };

/* A figure name declared by two plugins would be exported twice: refused, naming both. */
static int figures_unique(const pipeline *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n_probes; i++)
        for (const rc_figure *f = plugin_figures(p->probes[i].plugin); f && f->name; f++) {
            const plugin *by = NULL;
            pipeline_figure(p, f->name, &by);
            if (by != p->probes[i].plugin) {
                snprintf(err, errlen, "figure '%s' is declared by both plugin '%s' (%s) and "
                         "plugin '%s' (%s): rename one", f->name, by->name, by->path,
                         p->probes[i].plugin->name, p->probes[i].plugin->path);
                return -1;
            }
        }
    return 0;
}

/* Every member of map names a declared figure; one from the built-in defaults that does not is only logged (warn). */
static int map_declared(const pipeline *p, const char *key, const cfg_figure_map *map, int warn,
                        char *err, size_t errlen)
{
    for (size_t i = 0; i < map->n; i++) {
        const cfg_figure_ref *r = &map->items[i];
        if (pipeline_figure(p, r->figure, NULL))
            continue;
        if (map->from_file) {
            snprintf(err, errlen, "%s:%d:%d: %s: member '%s' names figure '%s', which no "
                     "plugin declares (`reconciler plugins` lists the figures; a plugin that "
                     "declares it must be a step or in http.figure_plugins)", p->cfg->path,
                     r->line, r->col, key, r->path, r->figure);
            return -1;
        }
        if (warn)
            log_warn("%s (built in): member '%s' names figure '%s', which no loaded plugin "
                     "declares; the endpoint answers 503 until one does", key, r->path,
                     r->figure);
    }
    return 0;
}

int run_figures(pipeline *p, int warn, char *err, size_t errlen)
{
    const config *cfg = p->cfg;
    char why[1024];
    for (size_t i = 0; i < cfg->n_http_figure_plugins; i++)
        if (pipeline_add_probe(p, cfg->http_figure_plugins[i], why, sizeof why) != 0 && warn)
            log_warn("http.figure_plugins: %s; its figures are not served", why);
    /* A step's plugin that declares figures (ABI 1.5) is a probe too: the service serves them. */
    for (size_t i = 0; i < p->n; i++)
        if (plugin_figures(p->steps[i].plugin) &&
            pipeline_add_probe(p, p->steps[i].plugin->name, why, sizeof why) != 0 && warn)
            log_warn("%s; its figures are not served", why);
    if (figures_unique(p, err, errlen) != 0 ||
        map_declared(p, "http.dashboard_figures", &cfg->http_dashboard_figures, warn, err,
                     errlen) != 0 ||
        map_declared(p, "http.queue_figures", &cfg->http_queue_figures, warn, err, errlen) != 0)
        return -1;
    return 0;
}

int run_prepare(const config *cfg, int with_probes, pipeline **out, char *err, size_t errlen)
{
    if (pipeline_build(cfg, out, err, errlen) != 0)
        return EXIT_USAGE;
    if (with_probes && run_figures(*out, with_probes != RUN_PROBES_QUIET, err, errlen) != 0) {
        pipeline_free(*out);
        *out = NULL;
        return EXIT_USAGE;
    }
    if (runner_check(*out, err, errlen) != 0) {
        pipeline_free(*out);
        *out = NULL;
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int run_connect(const config *cfg, db **d, char *err, size_t errlen)
{
    return connect_check(cfg, &supervisor_timeouts, d, err, errlen);
}


/*
 * One processing_job_logs row: job_id 0 (system), the category of the
 * trigger, level info or warning, the summary, the full result as details.
 * A failure is added to the result's errors (and so to the details of no
 * row, since there is none). 0, -1, or -2 when the database did not answer
 * or the connection is gone (a database fault, not a failed statement).
 */
static int write_job_log(db **d, json_t *r)
{
    json_t *errors = json_object_get(r, "errors");
    char *summary = runner_summary(r);
    char *details = util_json_dump(r, 0);
    int rc = -1;

    rc_value p[] = { rc_text(json_array_size(errors) ? "warning" : "info"),
                     rc_text(runner_log_category(json_string_value(json_object_get(r, "trigger")))),
                     rc_text(summary),
                     details ? rc_text(details) : rc_null() };
    /* Bounded: a process stopping beside a hung server must still exit in time. */
    int got = *d ? supervise_bounded(d, "INSERT INTO processing_job_logs (job_id, level, "
                                     "category, message, details) VALUES (0, ?, ?, ?, ?)",
                                     p, 4, stop_requested() ? JOB_LOG_STOPPING_MS
                                                            : JOB_LOG_TIMEOUT_MS)
                 : -2;
    if (got == 0) {
        rc = 0;
    } else {
        char *msg = xasprintf("cannot write the run's processing_job_logs row: %s",
                              got == -2 ? "the database did not answer in time"
                                        : db_errmsg(*d));
        log_error("%s", msg);
        json_array_append_new(errors, jx_text(msg));
        free(msg);
        rc = got == -2 || !*d || db_lost(*d) ? -2 : -1;
    }
    free(summary);
    free(details);
    return rc;
}

/* The run's trace (if any) ends as the result says; the result names it (traceId). */
static void trace_end(const run_spec *spec, json_t *r)
{
    trace_context ctx;
    if (!spec->trace)
        return;
    trace_run_context(spec->trace, &ctx);
    trace_run_end(spec->trace, json_string_value(json_object_get(r, "status")),
                  json_integer_value(json_object_get(r, "rowsChanged")),
                  json_string_value(json_array_get(json_object_get(r, "errors"), 0)),
                  trace_now_ns());
    json_object_set_new(r, "traceId", jx(json_string(ctx.trace_id)));
}

void run_slot_text(int64_t slot, char *out, size_t outlen)
{
    char ms[40];
    util_iso_time(slot * 1000, ms, sizeof ms);
    /* Slots are whole seconds: no ".000". */
    char *dot = strchr(ms, '.');
    if (dot)
        snprintf(dot, sizeof ms - (size_t)(dot - ms), "Z");
    snprintf(out, outlen, "%s", ms);
}

/* The result names the job and the slot it ran for (null when none). */
static void tag_result(const run_spec *spec, json_t *r)
{
    char slot[40];
    if (spec->job)
        json_object_set_new(r, "job", jx_text(spec->job->name));
    if (spec->slot) {
        run_slot_text(spec->slot, slot, sizeof slot);
        json_object_set_new(r, "scheduledFor", jx_text(slot));
    } else if (spec->job) {
        json_object_set_new(r, "scheduledFor", json_null());
    }
}

static int finish_history(run_env *env, const run_spec *spec, int64_t run_id, int64_t at_ms,
                          json_t *r)
{
    /* The pipeline in force says how many runs to keep: a reload's value holds from now. */
    return history_finish_keep(env->h, run_id, at_ms, r, env->cfg->history_keep_runs,
                               spec->job ? spec->job->keep_runs : 0);
}

/* A wait for the run lock that ended without it, for the record of the run it held up. */
typedef struct lock_wait {
    const lock_info *other; /* the holder seen last */
    int64_t waited_ms;
    const char *outcome;    /* "timed out", "refused" (lock_busy gave up), "stopped" */
} lock_wait;

/*
 * The run did not happen: recorded as such, with why. A run that waited for
 * the lock (w non-NULL) is recorded as that wait: its duration is the wait,
 * and lockWait says on whom and for how long, so that history does not show
 * a 0 ms run.
 */
static int not_run(run_env *env, const run_spec *spec, int64_t run_id, const char *status,
                   const char *reason, int code, const lock_wait *w, json_t **result)
{
    *result = runner_not_run(spec->trigger, spec->dry_run, run_id, status, reason);
    tag_result(spec, *result);
    if (w) {
        json_object_set_new(*result, "durationMs", jx(json_integer(w->waited_ms)));
        json_object_set_new(*result, "lockWait",
                            jx(json_pack("{s:s, s:s, s:I, s:s}", "holder", w->other->holder,
                                         "until", w->other->until,
                                         "waitedMs", (json_int_t)w->waited_ms,
                                         "outcome", w->outcome)));
    }
    trace_end(spec, *result);
    if (env->h && run_id && finish_history(env, spec, run_id, util_wall_ms(), *result) != 0)
        log_error("%s", history_error(env->h));
    log_set_trace(NULL, NULL);
    log_set_run(0);
    log_set_job(NULL);
    return code;
}

/* One migration's name for the message (the first pending one). */
static void first_pending(void *user, const migration *m, const char *applied_at)
{
    const char **first = user;
    if (!applied_at && !*first)
        *first = m->name;
}

/*
 * 1 with why when the bot's database lacks migrations this binary has
 * (before the first `reconciler migrate`, or after an upgrade). A status that
 * cannot be read is no reason to refuse: the run's own statements will say.
 */
static int migrations_pending(db *d, char *why, size_t whylen)
{
    const char *first = NULL;
    char err[512];
    int pending = d ? migrate_status(d, first_pending, &first, err, sizeof err) : 0;
    if (pending <= 0)
        return 0;
    snprintf(why, whylen, "not run: the database lacks %d migration%s of this version (from "
             "%s on): run `reconciler migrate` first", pending, pending == 1 ? "" : "s",
             first ? first : "?");
    return 1;
}

/*
 * Try for the lock until spec->wait_ms ran out. With spec->lock_busy, in
 * slices of a second, asking it after each whether to give up (it also shows
 * progress); without, in one wait.
 */
#define LOCK_SLICE_MS 1000

static int acquire(run_env *env, const run_spec *spec, lock_info *other, int64_t *waited,
                   int *gave_up, char *why, size_t whylen, char *err, size_t errlen)
{
    int64_t t0 = util_mono_ms();
    int got, first = 1;
    *gave_up = 0;
    for (;;) {
        int64_t left = spec->wait_ms - (util_mono_ms() - t0);
        int64_t slice = !spec->lock_busy ? spec->wait_ms
                        : first ? 0 : left < LOCK_SLICE_MS ? left : LOCK_SLICE_MS;
        got = runlock_acquire(env->rl, slice < 0 ? 0 : slice, other, err, errlen);
        first = 0;
        *waited = util_mono_ms() - t0;
        if (got != RUNLOCK_BUSY || !spec->lock_busy)
            return got;
        if (spec->lock_busy(spec->user, other, *waited, spec->wait_ms, why, whylen)) {
            *gave_up = 1;
            return got;
        }
        if (*waited >= spec->wait_ms)
            return got;
    }
}

/* Take the lock; EXIT_OK, or the exit code of a run that could not happen (*result set). */
static int take_lock(run_env *env, const run_spec *spec, int64_t run_id, json_t **result)
{
    char err[1024], reason[1400], why[600] = "";
    lock_info other = { "", "" };
    int64_t waited = 0;
    int gave_up;
    int got = acquire(env, spec, &other, &waited, &gave_up, why, sizeof why, err, sizeof err);
    if (got == RUNLOCK_TAKEN) {
        if (spec->trace) {
            trace_attrs a = { 0 };
            trace_attrs_str(&a, "reconciler.lock.holder", runlock_holder(env->rl));
            trace_attrs_int(&a, "reconciler.lock.waited_ms", waited);
            trace_run_event(spec->trace, "run lock taken", trace_now_ns(), &a);
            runlock_set_trace(env->rl, spec->trace); /* its renewals and release: events */
        }
        return EXIT_OK;
    }
    if (got == RUNLOCK_STOPPED) {
        lock_wait w = { &other, waited, "stopped" };
        return not_run(env, spec, run_id, "skipped", other.holder[0]
                       ? "not run: reconciler was stopped while it waited for the run lock"
                       : "not run: reconciler is stopping", EXIT_STEP_FAILED,
                       other.holder[0] ? &w : NULL, result);
    }
    if (got == RUNLOCK_BUSY) {
        if (gave_up)
            snprintf(reason, sizeof reason, "skipped: %s", why);
        else
            snprintf(reason, sizeof reason, "skipped: another instance holds the run lock: %s "
                     "(until %s UTC); gave up after waiting %lld ms (schedule.lock_wait)",
                     other.holder, other.until, (long long)waited);
        /* A scheduled tick that finds another instance running is routine. */
        log_msg(spec->wait_ms ? RC_LOG_ERROR : RC_LOG_INFO, NULL, "%s run %s", spec->trigger,
                reason);
        lock_wait w = { &other, waited, gave_up ? "refused" : "timed out" };
        return not_run(env, spec, run_id, "skipped", reason, EXIT_LOCKED,
                       spec->wait_ms || gave_up ? &w : NULL, result);
    }
    snprintf(reason, sizeof reason, "not run: the run lock: %s", err);
    log_error("%s run %s", spec->trigger, reason);
    return not_run(env, spec, run_id, "failed", reason, EXIT_DATABASE, NULL, result);
}

/* Record a run's start: its history row, with its job and slot. */
static int begin_history(run_env *env, const run_spec *spec, int64_t *run_id)
{
    char slot[40];
    if (spec->slot)
        run_slot_text(spec->slot, slot, sizeof slot);
    return history_begin_job(env->h, spec->job ? spec->job->name : NULL,
                             spec->slot ? slot : NULL, spec->trigger, spec->dry_run,
                             util_wall_ms(), run_id);
}

void run_record_skipped(run_env *env, const run_spec *spec, const char *reason,
                        json_t **result)
{
    int64_t run_id = 0;
    if (env->h && begin_history(env, spec, &run_id) != 0) {
        log_error("%s", history_error(env->h));
        run_id = 0;
    }
    log_info("%s run of job %s %s", spec->trigger, spec->job ? spec->job->name : "-", reason);
    if (spec->trace)
        trace_run_set_id(spec->trace, run_id);
    not_run(env, spec, run_id, "skipped", reason, EXIT_OK, NULL, result);
}

/*
 * Claim the run's slot, under the lock just taken. EXIT_OK when it is ours; else the lock
 * is let go and the exit code of a run that did not happen (*result set).
 */
static int claim_slot(run_env *env, const run_spec *spec, int64_t run_id, json_t **result)
{
    char err[1024], by[JOBSTATE_CLAIM_MAX + 1], reason[1400], slot[40];
    int got = jobslot_claim(*env->d, spec->job->name, spec->slot, spec->claim, spec->trigger,
                            "claimed", NULL, by, sizeof by, err, sizeof err);
    if (got == 1)
        return EXIT_OK;
    runlock_release(env->rl, 0);
    run_slot_text(spec->slot, slot, sizeof slot);
    if (got == 0) {
        /* Another instance ran it between our look and our lock: routine, not an error. */
        snprintf(reason, sizeof reason, "skipped: the slot %s of job %s was already claimed "
                 "by %s", slot, spec->job->name, by);
        log_info("%s run %s", spec->trigger, reason);
        return not_run(env, spec, run_id, "skipped", reason, EXIT_LOCKED, NULL, result);
    }
    snprintf(reason, sizeof reason, "not run: the slot %s could not be claimed: %s", slot, err);
    log_error("%s run %s", spec->trigger, reason);
    return not_run(env, spec, run_id, "failed", reason, EXIT_DATABASE, NULL, result);
}

int run_execute(run_env *env, const run_spec *spec, json_t **result)
{
    char err[2048], reason[2100];
    int64_t run_id = spec->run_id;
    int rc;

    /* Recorded before anything else, so that every run is, and a 409 can name it. */
    int recorded = spec->run_id != 0;
    if (!run_id && env->h) {
        recorded = begin_history(env, spec, &run_id) == 0;
        if (!recorded) {
            /* The run goes on: a full or locked history disk must not stop the repairs. */
            run_id = history_fallback_id(env->h);
            log_error("%s (the run goes on as run %lld; its history row is written at its end "
                      "if the store can be written by then)", history_error(env->h),
                      (long long)run_id);
        }
    }
    log_set_run(run_id); /* this thread's JSON lines are the run's, and its job's */
    log_set_job(spec->job ? spec->job->name : NULL);
    if (spec->started)
        spec->started(spec->user, run_id);
    if (spec->trace) {
        trace_context ctx;
        trace_run_context(spec->trace, &ctx);
        trace_run_set_id(spec->trace, run_id);
        log_set_trace(ctx.trace_id, ctx.span_id); /* this thread's lines are the run's */
    }

    /* A server restarted since the last run closed our session: reopen it now. */
    if ((rc = run_connect(env->cfg, env->d, err, sizeof err)) != EXIT_OK) {
        snprintf(reason, sizeof reason, "not run: %s", err);
        log_error("%s run %s", spec->trigger, reason);
        return not_run(env, spec, run_id, "failed", reason, rc, NULL, result);
    }
    /* Tables not there yet: one message that says what to do, not an SQL error per step. */
    if (migrations_pending(*env->d, reason, sizeof reason)) {
        log_error("%s run %s", spec->trigger, reason);
        return not_run(env, spec, run_id, "failed", reason, EXIT_DATABASE, NULL, result);
    }
    int locked = env->rl && !spec->dry_run;
    if (locked && (rc = take_lock(env, spec, run_id, result)) != EXIT_OK)
        return rc;
    int slotted = locked && spec->job && spec->slot && spec->claim;
    if (slotted && (rc = claim_slot(env, spec, run_id, result)) != EXIT_OK)
        return rc;
    /* The run starts now, after any wait for the lock: history's start and
     * finish times are the run's own, so two instances' runs never seem to overlap. */
    if (env->h && run_id && recorded && history_started(env->h, run_id, util_wall_ms()) != 0)
        log_error("%s", history_error(env->h));

    run_request req = { .trigger = spec->trigger, .dry_run = spec->dry_run,
                        .reference_time = spec->reference_time, .run_id = run_id,
                        .trace = spec->trace };
    if (spec->job) {
        req.step_from = spec->job->first_step;
        req.step_to = spec->job->first_step + spec->job->n_steps;
        req.max_run_time_ms = spec->job->max_run_time_ms;
        req.job = spec->job->name;
    }
    run_status st = supervise_run(env->p, env->cfg, env->d, locked ? env->rl : NULL, &req,
                                  result);
    tag_result(spec, *result);
    /* The bot's own log table gets one row per real run; a dry run writes nothing. */
    int logged = spec->dry_run ? 0 : write_job_log(env->d, *result);
    if (logged != 0 && st == RUN_SUCCESS) {
        st = RUN_PARTIAL;
        json_object_set_new(*result, "status", jx(json_string(run_status_name(st))));
        json_object_set_new(*result, "success", jx(json_false()));
    }
    /* The database stopped answering or went away during the run (not a stop we were
     * asked for): a database fault, which `run --once` reports as such (exit 3). */
    int db_fault = logged == -2 && !stop_requested();
    if (db_fault)
        json_array_append_new(json_object_get(*result, "errors"),
                              jx_text("the database stopped answering or the connection was "
                                      "lost during the run; whole chunks stay applied, and the "
                                      "next run reconnects and converges"));
    /* The run ends before the lock is let go, as it starts after the lock is
     * taken: letting go may wait on a hung database for seconds, past the
     * lease, when another instance may already have taken the lock and begun. */
    int64_t finished_ms = util_wall_ms();
    if (slotted && *env->d &&
        jobslot_done(*env->d, spec->job->name, spec->slot, spec->claim,
                     json_string_value(json_object_get(*result, "status")), run_id, err,
                     sizeof err) != 0)
        log_warn("job %s: %s", spec->job->name, err);
    /* Without the supervisor's connection the server did not answer: the lease
     * frees itself; a stopping process does not wait on a hung server. */
    if (locked && (*env->d || !stop_requested()))
        runlock_release(env->rl, stop_requested() ? 0 : spec->hold_ms);
    if (locked)
        runlock_set_trace(env->rl, NULL); /* also when not let go: the trace ends here */
    trace_end(spec, *result);
    if (env->h && run_id && finish_history(env, spec, run_id, finished_ms, *result) != 0)
        log_error("%s", history_error(env->h));
    char *summary = runner_summary(*result);
    json_t *f = jx(json_pack("{s:s, s:s, s:b, s:I, s:I}",
                             "status", json_string_value(json_object_get(*result, "status")),
                             "trigger", spec->trigger, "dry_run", spec->dry_run,
                             "duration_ms", json_integer_value(json_object_get(*result,
                                                                                "durationMs")),
                             "rows_changed", json_integer_value(json_object_get(*result,
                                                                                 "rowsChanged"))));
    if (spec->job)
        json_object_set_new(f, "job", jx_text(spec->job->name));
    log_fields(RC_LOG_INFO, NULL, f, "%s", summary);
    json_decref(f);
    free(summary);
    log_set_trace(NULL, NULL);
    log_set_run(0);
    log_set_job(NULL);
    if (*env->d && db_lost(*env->d)) {
        /* Reconnect before the next run rather than fail it too. */
        db_close(*env->d);
        *env->d = NULL;
    }
    return st == RUN_SUCCESS ? EXIT_OK : db_fault ? EXIT_DATABASE : EXIT_STEP_FAILED;
}
