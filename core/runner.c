/* runner.c - see runner.h. */
#include "runner.h"
#include "host.h"
#include "log.h"
#include "text.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;  /* the process is stopping */
static volatile sig_atomic_t g_abort; /* only the current run must end */

void runner_request_stop(void)
{
    g_stop = 1;
}

void runner_abort_run(void)
{
    g_abort = 1;
}

int runner_stop_requested(void)
{
    return g_stop != 0 || g_abort != 0;
}

int runner_shutting_down(void)
{
    return g_stop != 0;
}

int pipeline_build(const config *cfg, pipeline **out, char *err, size_t errlen)
{
    pipeline *p = xcalloc(1, sizeof *p);
    char why[1024];
    *out = NULL;

    p->cfg = cfg;
    registry_init(&p->reg, cfg->plugin_dirs, cfg->n_plugin_dirs);
    p->steps = xcalloc(cfg->n_steps, sizeof *p->steps);
    for (size_t i = 0; i < cfg->n_steps; i++) {
        const cfg_step *cs = &cfg->steps[i];
        pipeline_step *ps = &p->steps[i];
        ps->cfg = cs;
        if (registry_get(&p->reg, cs->plugin, &ps->plugin, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d:%d: step '%s': %s", cfg->path, cs->line, cs->col,
                     cs->name, why);
            goto fail;
        }
        /* p->n counts the steps whose opts need freeing. */
        if (opt_set_build(ps->plugin->desc->options, cs->options, cfg->path, cs->name,
                          &ps->opts, err, errlen) != 0)
            goto fail;
        p->n = i + 1;
    }
    *out = p;
    return 0;
fail:
    pipeline_free(p);
    return -1;
}

void pipeline_free(pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        opt_set_free(&p->steps[i].opts);
    free(p->steps);
    for (size_t i = 0; i < p->n_probes; i++)
        opt_set_free(&p->probes[i].opts);
    registry_free(&p->reg);
    free(p);
}

int pipeline_add_probe(pipeline *p, const char *name, char *err, size_t errlen)
{
    const cfg_step *cs = NULL;
    plugin *pl;
    char why[1024];

    if (p->n_probes == PIPELINE_MAX_PROBES) {
        snprintf(err, errlen, "probe '%s': too many probes", name);
        return -1;
    }
    if (registry_get(&p->reg, name, &pl, why, sizeof why) != 0) {
        snprintf(err, errlen, "probe '%s': %s", name, why);
        return -1;
    }
    /* The options of the step that runs this plugin, so that the probe
     * counts what the step counts (e.g. the same max_attempts). */
    for (size_t i = 0; i < p->n && !cs; i++)
        if (strcmp(p->steps[i].cfg->plugin, name) == 0)
            cs = p->steps[i].cfg;
    pipeline_step *ps = &p->probes[p->n_probes];
    memset(ps, 0, sizeof *ps);
    if (!cs) {
        ps->own_cfg.name = pl->name;
        ps->own_cfg.plugin = pl->name;
        ps->own_cfg.enabled = 1;
        cs = &ps->own_cfg;
    }
    ps->cfg = cs;
    ps->plugin = pl;
    if (opt_set_build(pl->desc->options, cs->options, p->cfg->path, name, &ps->opts,
                      err, errlen) != 0)
        return -1;
    p->n_probes++;
    return 0;
}

static const char *const step_status_names[] = { "ok", "failed", "skipped" };
enum { STEP_OK, STEP_FAILED, STEP_SKIPPED };

/* Run one step; fills sr (results, error) and returns STEP_OK or STEP_FAILED. */
static int run_step(step_run *sr)
{
    const rc_plugin *d = sr->ps->plugin->desc;
    rc_ctx ctx;
    void *state = NULL;
    int rc;

    host_ctx_init(&ctx, sr);
    if (d->init && d->init(&ctx, &state) != RC_OK) {
        if (!sr->error)
            sr->error = xstrdup("init failed");
        return STEP_FAILED;
    }
    rc = d->run(&ctx, state);
    if (d->fini)
        d->fini(state);
    if (rc != RC_OK) {
        if (!sr->error)
            sr->error = xstrdup("step failed without saying why");
        return STEP_FAILED;
    }
    /* A step that succeeded after a handled db error is fine: drop the note. */
    free(sr->error);
    sr->error = NULL;
    return STEP_OK;
}

int runner_probe(const pipeline *p, const char *name, db *d, json_t **results, char now_text[20],
                 char *err, size_t errlen)
{
    const pipeline_step *ps = NULL;
    db_clock clock;
    *results = NULL;

    for (size_t i = 0; i < p->n_probes && !ps; i++)
        if (strcmp(p->probes[i].plugin->name, name) == 0)
            ps = &p->probes[i];
    if (!ps) {
        snprintf(err, errlen, "plugin '%s' is not loaded (is it in plugin_dir?)", name);
        return -1;
    }
    if (db_now(d, &clock) != 0) {
        snprintf(err, errlen, "cannot read the database clock: %s", db_errmsg(d));
        return -1;
    }
    memcpy(now_text, clock.text, 20);
    step_run sr = { .ps = ps, .d = d, .dry_run = 1, .clock = clock, .results = jx(json_object()) };
    if (run_step(&sr) != STEP_OK) {
        snprintf(err, errlen, "%s: %s", name, sr.error);
        free(sr.error);
        json_decref(sr.results);
        return -1;
    }
    *results = sr.results;
    return 0;
}

/* Names are checked [A-Za-z0-9_-] names; the error is foreign text. */
static json_t *step_json(const pipeline_step *ps, int status, int64_t ms, json_t *results,
                         const char *error)
{
    return jx(json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "name", ps->cfg->name,
                        "plugin", ps->cfg->plugin, "status", step_status_names[status],
                        "durationMs", (json_int_t)ms, "results", results,
                        "error", jx_text(error)));
}

static void add_error(json_t *errors, const char *step, const char *msg)
{
    char *line = step ? xasprintf("%s: %s", step, msg) : xstrdup(msg);
    json_array_append_new(errors, jx_text(line));
    free(line);
}

const char *runner_log_category(const char *trigger)
{
    if (strcmp(trigger, "scheduled") == 0)
        return "scheduled_reconciliation";
    if (strcmp(trigger, "manual") == 0)
        return "manual_reconciliation";
    return "startup_reconciliation";
}

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
                     rc_text(summary ? summary : "reconciliation run"),
                     details ? rc_text(details) : rc_null() };
    if (db_exec(d, "INSERT INTO processing_job_logs (job_id, level, category, message, details) "
                "VALUES (0, ?, ?, ?, ?)", p, 4, NULL) == 0) {
        rc = 0;
    } else {
        char msg[1024];
        snprintf(msg, sizeof msg, "cannot write the run's processing_job_logs row: %s",
                 db_errmsg(d));
        log_error("%s", msg);
        add_error(errors, NULL, msg);
    }
    free(summary);
    free(details);
    return rc;
}

run_status runner_run(pipeline *p, db *d, history *h, const run_request *req, json_t **result)
{
    json_t *steps = jx(json_array()), *results = jx(json_object()), *errors = jx(json_array());
    int64_t started = util_wall_ms(), mono0 = util_mono_ms();
    int64_t run_id = 0;
    db_clock clock = { 0, 0, "", "" };
    char ts[32], why[1200];
    size_t n_ok = 0, n_failed = 0;
    int clock_ok, aborted = 0;

    g_abort = 0;
    if (req->run_id) {
        run_id = req->run_id;
        if (h && history_started(h, run_id, started) != 0)
            log_error("%s", history_error(h));
    } else if (h && history_begin(h, req->trigger, req->dry_run, started, &run_id) != 0) {
        log_error("%s (the run goes on without a history record)", history_error(h));
        run_id = 0;
    }
    if (req->reference_time)
        clock_ok = db_clock_from_text(req->reference_time, 0, &clock) == 0;
    else
        clock_ok = db_now(d, &clock) == 0;
    if (!clock_ok) {
        snprintf(why, sizeof why, "cannot read the database clock: %s", db_errmsg(d));
        add_error(errors, NULL, why);
        log_error("%s", why);
    }

    for (size_t i = 0; i < p->n; i++) {
        pipeline_step *ps = &p->steps[i];
        step_run sr = { .ps = ps, .d = d, .dry_run = req->dry_run, .clock = clock,
                        .results = jx(json_object()) };
        int status = STEP_SKIPPED;
        int64_t t0 = util_mono_ms();

        if (!ps->cfg->enabled) {
            log_debug("step %s: disabled", ps->cfg->name);
        } else if (!clock_ok || aborted) {
            sr.error = xstrdup(!clock_ok ? "not run: the database clock could not be read"
                                         : "not run: an earlier step failed with on_error: abort");
        } else if (runner_stop_requested()) {
            sr.error = xstrdup("not run: reconciler is stopping");
            add_error(errors, ps->cfg->name, sr.error);
        } else {
            log_debug("step %s (%s): start", ps->cfg->name, ps->cfg->plugin);
            status = run_step(&sr);
        }
        int64_t ms = util_mono_ms() - t0;

        if (status == STEP_OK) {
            n_ok++;
            /* A deep copy: merging shares nested objects, and the next
             * step's merge must not reach into this step's own results. */
            json_t *copy = jx(json_deep_copy(sr.results));
            json_object_update_recursive(results, copy);
            json_decref(copy);
            log_info("step %s: ok in %lld ms", ps->cfg->name, (long long)ms);
        } else if (status == STEP_FAILED) {
            n_failed++;
            add_error(errors, ps->cfg->name, sr.error);
            log_warn("step %s: failed in %lld ms: %s", ps->cfg->name, (long long)ms, sr.error);
            if (ps->cfg->on_error == CFG_ON_ERROR_ABORT)
                aborted = 1;
        }
        json_array_append_new(steps, step_json(ps, status, ms, sr.results, sr.error));
        free(sr.error);
    }

    /* A run cut short by a stop request did not do all its work: never "success". */
    int interrupted = runner_stop_requested();
    if (interrupted)
        add_error(errors, NULL, runner_shutting_down()
                  ? "interrupted: reconciler was asked to stop"
                  : "interrupted: the run lock was lost to another instance");
    run_status st = (n_failed == 0 && clock_ok && !interrupted) ? RUN_SUCCESS
                    : (n_ok > 0) ? RUN_PARTIAL : RUN_FAILED;
    static const char *const names[] = { "success", "partial", "failed" };
    int64_t duration = util_mono_ms() - mono0;
    util_iso_time(started, ts, sizeof ts);

    /* referenceTime is T as the database wrote it, in its zone; timestamp is UTC. */
    json_t *r = jx(json_pack("{s:s, s:b, s:o, s:s, s:b, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:I}",
                             "status", names[st], "success", st == RUN_SUCCESS,
                             "runId", run_id ? jx(json_integer(run_id)) : json_null(),
                             "trigger", req->trigger, "dryRun", req->dry_run,
                             "timestamp", ts, "referenceTime", clock.text,
                             "referenceTimeZone", clock.zone,
                             "durationMs", (json_int_t)duration, "results", results,
                             "steps", steps, "errors", errors,
                             "uptime", (json_int_t)util_uptime_s()));
    if (interrupted)
        json_object_set_new(r, "interrupted", jx(json_true()));
    /* The bot's own log table gets one row per real run; a dry run writes nothing. */
    if (!req->dry_run && write_job_log(d, r) != 0 && st == RUN_SUCCESS) {
        st = RUN_PARTIAL;
        json_object_set_new(r, "status", jx(json_string(names[st])));
        json_object_set_new(r, "success", jx(json_false()));
    }
    if (h && run_id && history_finish(h, run_id, util_wall_ms(), r) != 0)
        log_error("%s", history_error(h));
    *result = r;
    return st;
}

json_t *runner_not_run(history *h, const char *trigger, int dry_run, int64_t run_id,
                       const char *status, const char *reason)
{
    int64_t now = util_wall_ms();
    char ts[32];
    util_iso_time(now, ts, sizeof ts);
    if (h && !run_id && history_begin(h, trigger, dry_run, now, &run_id) != 0) {
        log_error("%s", history_error(h));
        run_id = 0;
    }
    json_t *r = jx(json_pack("{s:s, s:b, s:o, s:s, s:b, s:s, s:n, s:n, s:i, s:{}, s:[], s:[o], s:I}",
                             "status", status, "success", 0,
                             "runId", run_id ? jx(json_integer(run_id)) : json_null(),
                             "trigger", trigger, "dryRun", dry_run, "timestamp", ts,
                             "referenceTime", "referenceTimeZone", "durationMs", 0, "results",
                             "steps", "errors", jx_text(reason),
                             "uptime", (json_int_t)util_uptime_s()));
    if (h && run_id && history_finish(h, run_id, now, r) != 0)
        log_error("%s", history_error(h));
    return r;
}

char *runner_summary(const json_t *r)
{
    size_t i;
    json_t *s;
    int counts[3] = { 0, 0, 0 };
    char *out;

    json_array_foreach(json_object_get(r, "steps"), i, s) {
        const char *st = json_string_value(json_object_get(s, "status"));
        for (int k = 0; k < 3; k++)
            if (st && strcmp(st, step_status_names[k]) == 0)
                counts[k]++;
    }
    json_int_t id = json_integer_value(json_object_get(r, "runId"));
    out = xasprintf("reconciliation run %lld (%s%s): %s in %lld ms; steps: %d ok, %d failed, "
                    "%d skipped", (long long)id, json_string_value(json_object_get(r, "trigger")),
                    json_is_true(json_object_get(r, "dryRun")) ? ", dry run" : "",
                    json_string_value(json_object_get(r, "status")),
                    (long long)json_integer_value(json_object_get(r, "durationMs")),
                    counts[0], counts[1], counts[2]);
    return out;
}
