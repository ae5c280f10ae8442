/* runner.c - see runner.h. */
#include "engine/runner.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/text.h"
#include "base/util.h"
#include "engine/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

run_status runner_run(pipeline *p, db *d, const run_request *req, json_t **result)
{
    json_t *steps = jx(json_array()), *results = jx(json_object()), *errors = jx(json_array());
    int64_t started = util_wall_ms(), mono0 = util_mono_ms();
    db_clock clock = { 0, 0, "", "" };
    char ts[32], why[1200];
    size_t n_ok = 0, n_failed = 0;
    int clock_ok, aborted = 0;

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
                        .g = req->g, .results = jx(json_object()) };
        int status = STEP_SKIPPED;
        int64_t t0 = util_mono_ms();

        if (!ps->cfg->enabled) {
            log_debug("step %s: disabled", ps->cfg->name);
        } else if (!clock_ok || aborted) {
            sr.error = xstrdup(!clock_ok ? "not run: the database clock could not be read"
                                         : "not run: an earlier step failed with on_error: abort");
        } else if (host_should_stop(&sr)) {
            sr.error = xstrdup(stop_requested() ? "not run: reconciler is stopping"
                                                : "not run: the run lock may be lost");
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
    int shutting = stop_requested(), lost = req->g && guard_must_stop(req->g);
    int interrupted = shutting || lost;
    if (interrupted)
        add_error(errors, NULL, shutting ? "interrupted: reconciler was asked to stop"
                                         : guard_stop_reason(req->g));
    run_status st = (n_failed == 0 && clock_ok && !interrupted) ? RUN_SUCCESS
                    : (n_ok > 0) ? RUN_PARTIAL : RUN_FAILED;
    int64_t duration = util_mono_ms() - mono0;
    util_iso_time(started, ts, sizeof ts);

    /* referenceTime is T as the database wrote it, in its zone; timestamp is UTC. */
    json_t *r = jx(json_pack("{s:s, s:b, s:o, s:s, s:b, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:I}",
                             "status", run_status_name(st), "success", st == RUN_SUCCESS,
                             "runId", req->run_id ? jx(json_integer(req->run_id)) : json_null(),
                             "trigger", req->trigger, "dryRun", req->dry_run,
                             "timestamp", ts, "referenceTime", clock.text,
                             "referenceTimeZone", clock.zone,
                             "durationMs", (json_int_t)duration, "results", results,
                             "steps", steps, "errors", errors,
                             "uptime", (json_int_t)util_uptime_s()));
    if (interrupted)
        json_object_set_new(r, "interrupted", jx(json_true()));
    *result = r;
    return st;
}

const char *run_status_name(run_status st)
{
    static const char *const names[] = { "success", "partial", "failed" };
    return names[st];
}

json_t *runner_not_run(const char *trigger, int dry_run, int64_t run_id, const char *status,
                       const char *reason)
{
    char ts[32];
    util_iso_time(util_wall_ms(), ts, sizeof ts);
    return jx(json_pack("{s:s, s:b, s:o, s:s, s:b, s:s, s:n, s:n, s:i, s:{}, s:[], s:[o], s:I}",
                        "status", status, "success", 0,
                        "runId", run_id ? jx(json_integer(run_id)) : json_null(),
                        "trigger", trigger, "dryRun", dry_run, "timestamp", ts,
                        "referenceTime", "referenceTimeZone", "durationMs", 0, "results",
                        "steps", "errors", jx_text(reason),
                        "uptime", (json_int_t)util_uptime_s()));
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
