/* SPDX-License-Identifier: MIT */
/* runner.c - see runner.h. */
#include "engine/runner.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "engine/host.h"
#include "engine/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const step_status_names[] = { "ok", "failed", "skipped", "interrupted" };

const char *step_status_name(int st)
{
    return st >= STEP_OK && st <= STEP_INTERRUPTED ? step_status_names[st] : "failed";
}

int step_status_parse(const char *name)
{
    for (int i = STEP_OK; i <= STEP_INTERRUPTED; i++)
        if (name && strcmp(name, step_status_names[i]) == 0)
            return i;
    return -1;
}

void step_outcome_clear(step_outcome *o)
{
    json_decref(o->results);
    free(o->error);
    free(o->chunks);
    memset(o, 0, sizeof *o);
}

/* init, run, fini; fills sr (results, error) and returns STEP_OK or STEP_FAILED. */
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
        host_forget_decls(sr);
        free(sr->result_refused);
        sr->result_refused = NULL;
        return STEP_FAILED;
    }
    rc = d->run(&ctx, state);
    if (d->fini)
        d->fini(state);
    host_forget_decls(sr);
    char *refused = sr->result_refused;
    sr->result_refused = NULL;
    if (host_misused(sr)) {
        free(refused);
        return STEP_FAILED; /* an undeclared option asked for: a plugin bug, loudly */
    }
    if (refused) {
        /* A figure it reported was refused: its results are not what it meant. */
        free(sr->error);
        sr->error = refused;
        return STEP_FAILED;
    }
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

/*
 * One step's check() (d NULL) or prepare() (d and T given): 0, or -1 with
 * err at the option's or the step's FILE:LINE:COL.
 */
static int hook_step(const char *file, const pipeline_step *ps, int (*hook)(rc_ctx *), db *d,
                     const db_clock *clock, char *err, size_t errlen)
{
    if (!hook)
        return 0;
    /* dry_run: in prepare() nothing can be written either. */
    step_run sr = { .ps = ps, .d = d, .file = file, .dry_run = 1, .cap = HOST_NO_CAP,
                    .results = jx(json_object()) };
    if (clock)
        sr.clock = *clock;
    rc_ctx ctx;
    host_ctx_init(&ctx, &sr);
    plugin_observe(ps->plugin, d ? "prepare()" : "check()", ps->cfg->name);
    int rc = hook(&ctx);
    int bad = rc != RC_OK || host_misused(&sr);
    if (bad) {
        const char *why = sr.error ? sr.error
                          : d ? "its prepare() refused the step without saying why"
                              : "its check() refused the options without saying why";
        /* fail_option's message is positioned already; fail()'s gets the step's place. */
        if (strncmp(why, file, strlen(file)) == 0)
            snprintf(err, errlen, "%s", why);
        else
            snprintf(err, errlen, "%s:%d:%d: step '%s': %s", file, ps->cfg->line, ps->cfg->col,
                     ps->cfg->name, why);
    }
    free(sr.error);
    free(sr.result_refused);
    json_decref(sr.results);
    return bad ? -1 : 0;
}

int runner_check(const pipeline *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n; i++)
        if (hook_step(p->cfg->path, &p->steps[i], plugin_check_fn(p->steps[i].plugin), NULL,
                      NULL, err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < p->n_probes; i++)
        if (hook_step(p->cfg->path, &p->probes[i], plugin_check_fn(p->probes[i].plugin), NULL,
                      NULL, err, errlen) != 0)
            return -1;
    return 0;
}

int runner_prepare(const pipeline *p, db *d, const db_clock *clock, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n; i++)
        if (hook_step(p->cfg->path, &p->steps[i], plugin_prepare_fn(p->steps[i].plugin), d,
                      clock, err, errlen) != 0)
            return -1;
    return 0;
}

/*
 * steps[].max_changes: the core must know how many rows a step would change
 * before it writes any, for any plugin, also one that knows nothing of the
 * cap. A dry run cannot tell: its figures are whatever the plugin reports
 * (candidates, counts that are not changes). So the step is rehearsed: run
 * for real, every write matched and counted by the database, and every
 * transaction rolled back instead of committed (host.c), chunk by chunk as
 * in a real run, so no long transaction holds rows a live worker wants. The
 * rehearsal stops at the first write that passes the cap. Within the cap,
 * the step runs for real, still capped: rows that appeared in between and
 * would pass the cap are rolled back and fail the step.
 */
static int rehearse(const pipeline_step *ps, const char *file, db *d, const db_clock *clock,
                    step_outcome *out)
{
    step_run sr = { .ps = ps, .d = d, .file = file, .clock = *clock, .cap = ps->cfg->max_changes,
                    .rehearsal = 1, .results = jx(json_object()) };
    int status = run_step(&sr);
    int ok = 0;
    if (sr.over_cap) {
        out->error = xasprintf("max_changes: the step would change more than %lld rows (its "
                               "writes matched at least %lld before the rehearsal stopped); "
                               "nothing was written. Look at the rows first (run --dry-run "
                               "for the step's figures), then raise steps[].max_changes or "
                               "remove it", (long long)sr.cap, (long long)sr.found);
        out->status = STEP_FAILED;
    } else if (status == STEP_OK && stop_requested()) {
        out->error = xstrdup("interrupted: stopped during the max_changes rehearsal; nothing "
                             "was written");
        out->status = STEP_INTERRUPTED;
    } else if (status != STEP_OK) {
        out->error = xasprintf("max_changes rehearsal (rolled back, nothing written): %s",
                               sr.error ? sr.error : "failed");
        out->status = STEP_FAILED;
    } else {
        log_info("step %s: max_changes rehearsal: its writes match %lld rows, within %lld; "
                 "running it for real", ps->cfg->name, (long long)sr.changes, (long long)sr.cap);
        ok = 1;
    }
    free(sr.error);
    json_decref(sr.results);
    return ok ? 0 : -1;
}

/* A worker runs the steps of one run: one owner per process. */
static int64_t owner_run_id;
static char owner_job[129];

void runner_set_change_owner(int64_t run_id, const char *job)
{
    owner_run_id = run_id;
    snprintf(owner_job, sizeof owner_job, "%s", job ? job : "");
}

/*
 * A dry run records nothing: the step says what a real run would record as
 * its result wouldRecordChanges (docs/plugins.md), which becomes the step's
 * own field rather than one of its figures. -1: the step did not say.
 */
static int64_t would_record(const pipeline_step *ps, json_t *results)
{
    json_t *v = json_object_get(results, WOULD_RECORD_KEY);
    int64_t n = json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
    if (v)
        json_object_del(results, WOULD_RECORD_KEY);
    return ps->cfg->record_changes || n < 0 ? n : 0;
}

void runner_step(const pipeline_step *ps, const char *file, db *d, const db_clock *clock,
                 int dry_run, step_outcome *out)
{
    char err[2048];
    step_run sr = { .ps = ps, .d = d, .file = file, .dry_run = dry_run, .clock = *clock,
                    .cap = dry_run ? HOST_NO_CAP : ps->cfg->max_changes,
                    .results = jx(json_object()),
                    .record_changes = !dry_run && ps->cfg->record_changes,
                    .run_id = owner_run_id, .job = owner_job,
                    .chunks = xcalloc(1, sizeof(trace_chunks)) };
    int64_t t0 = util_mono_ms();
    int status;
    memset(out, 0, sizeof *out);
    out->chunks = sr.chunks; /* owned by out from here, on every way out */
    /*
     * Plugin SQL runs under the database's guard (db.h db_set_guard): a dry
     * run's session cannot write at all; a run's (and its max_changes
     * rehearsal's) writes only inside the core's transactions, each fenced
     * by the run lock when the worker has one. The previous guard is put
     * back after the step (a test may go on with the handle).
     */
    db_guard was = db_get_guard(d);
    if (db_set_guard(d, dry_run ? DB_GUARD_READ_ONLY : DB_GUARD_WRITE_TX) != 0) {
        out->status = STEP_FAILED;
        out->error = xasprintf("cannot make the step's database session read-only: %s",
                               db_errmsg(d));
        return;
    }
    if (hook_step(file, ps, plugin_prepare_fn(ps->plugin), d, clock, err, sizeof err) != 0) {
        status = STEP_FAILED; /* its SQL does not compile: nothing ran */
        sr.error = xstrdup(err);
    } else if (sr.cap >= 0 && rehearse(ps, file, d, clock, out) != 0) {
        status = out->status;
        sr.error = out->error;
    } else {
        status = run_step(&sr);
        if (sr.over_cap) {
            status = STEP_FAILED;
            free(sr.error);
            sr.error = xasprintf("max_changes: rows appeared between the rehearsal and the run, "
                                 "and the step's writes matched %lld rows, more than %lld; the "
                                 "write that passed the cap was rolled back, %lld rows stay "
                                 "changed", (long long)sr.found, (long long)sr.cap,
                                 (long long)sr.changes);
        }
    }
    /* Cut short by a stop (its chunk loop ended early): never "ok". */
    if (status == STEP_OK && stop_requested()) {
        status = STEP_INTERRUPTED;
        sr.error = xstrdup("interrupted: stopped at a chunk boundary before the step was done");
    }
    out->status = status;
    out->ms = util_mono_ms() - t0;
    out->results = sr.results;
    out->error = sr.error;
    out->rows_changed = sr.rows_changed;
    out->retries = sr.retries;
    out->changes_recorded = sr.changes_recorded;
    out->unrecorded_changes = sr.unrecorded;
    out->would_record = dry_run ? would_record(ps, sr.results) : 0;
    /* A transaction the plugin left open is not committed by the next one's
     * start (MySQL would, unfenced): it is rolled back here. */
    if (db_in_transaction(d)) {
        log_warn("step %s left a transaction open: rolled back", ps->cfg->name);
        db_rollback(d);
    }
    if (db_set_guard(d, was) != 0)
        log_warn("step %s: cannot restore the session's guard: %s", ps->cfg->name,
                 db_errmsg(d));
}

int runner_probe(const pipeline *p, const char *name, db *d, json_t **results,
                 char now_text[static RC_TIME_TEXT_SIZE],
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
    memcpy(now_text, clock.text, sizeof clock.text);
    step_run sr = { .ps = ps, .d = d, .dry_run = 1, .clock = clock, .cap = HOST_NO_CAP,
                    .results = jx(json_object()) };
    /* A probe is a dry run: its session cannot write (see runner_step). */
    db_guard was = db_get_guard(d);
    if (db_set_guard(d, DB_GUARD_READ_ONLY) != 0) {
        snprintf(err, errlen, "cannot make the probe's database session read-only: %s",
                 db_errmsg(d));
        json_decref(sr.results);
        return -1;
    }
    int status = run_step(&sr);
    db_set_guard(d, was);
    if (status != STEP_OK) {
        snprintf(err, errlen, "%s: %s", name, sr.error);
        free(sr.error);
        json_decref(sr.results);
        return -1;
    }
    *results = sr.results;
    return 0;
}

/* Names are checked [A-Za-z0-9_-] names; the error is foreign text. */
static json_t *step_json(const pipeline_step *ps, const step_outcome *o, json_t *results)
{
    return jx(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "name",
                        ps->cfg->name, "plugin", ps->cfg->plugin, "status",
                        step_status_name(o->status), "durationMs", (json_int_t)o->ms,
                        "rowsChanged", (json_int_t)o->rows_changed,
                        "retries", (json_int_t)o->retries,
                        "changesRecorded", (json_int_t)o->changes_recorded,
                        "unrecordedChanges", (json_int_t)o->unrecorded_changes,
                        "results", results, "error", jx_text(o->error)));
}

void run_result_error(run_result *rr, const char *step, const char *msg)
{
    char *line = step ? xasprintf("%s: %s", step, msg) : xstrdup(msg);
    json_array_append_new(rr->errors, jx_text(line));
    free(line);
}

void run_result_init(run_result *rr, const run_request *req)
{
    memset(rr, 0, sizeof *rr);
    rr->req = *req;
    rr->steps = jx(json_array());
    rr->results = jx(json_object());
    rr->errors = jx(json_array());
    rr->started = util_wall_ms();
    rr->mono0 = util_mono_ms();
}

void run_result_clock(run_result *rr, const db_clock *clock)
{
    rr->clock = *clock;
    rr->clock_ok = 1;
}

void run_result_step(run_result *rr, const pipeline_step *ps, step_outcome *o)
{
    if (o->status == STEP_OK) {
        rr->n_ok++;
        /* A deep copy: merging shares nested objects, and the next step's
         * merge must not reach into this step's own results. */
        json_t *copy = jx(json_deep_copy(o->results));
        json_object_update_recursive(rr->results, copy);
        json_decref(copy);
    }
    /* JSON logs carry the step's figures as fields, for a log pipeline to count. */
    json_t *f = jx(json_pack("{s:s, s:s, s:I, s:I}", "step", ps->cfg->name,
                             "status", step_status_name(o->status),
                             "duration_ms", (json_int_t)o->ms,
                             "rows_changed", (json_int_t)o->rows_changed));
    if (o->status == STEP_OK) {
        log_fields(RC_LOG_INFO, NULL, f, "step %s: ok in %lld ms", ps->cfg->name,
                   (long long)o->ms);
    } else if (o->status == STEP_FAILED || o->status == STEP_INTERRUPTED) {
        rr->n_failed++;
        run_result_error(rr, ps->cfg->name, o->error ? o->error : "failed");
        log_fields(RC_LOG_WARN, NULL, f, "step %s: %s in %lld ms: %s", ps->cfg->name,
                   step_status_name(o->status), (long long)o->ms, o->error ? o->error : "");
    }
    json_decref(f);
    rr->rows_changed += o->rows_changed;
    if (o->retries)
        log_info("step %s: %lld chunk(s) retried after a deadlock or certification conflict",
                 ps->cfg->name, (long long)o->retries);
    json_t *sj = step_json(ps, o, o->results ? o->results : jx(json_object()));
    /* Only a dry run says what it would record; null: the step did not say. */
    if (rr->req.dry_run) {
        json_object_set_new(sj, "wouldRecordChanges", o->would_record >= 0
                            ? jx(json_integer(o->would_record)) : json_null());
        if (o->would_record > 0)
            rr->would_record += o->would_record;
    }
    json_array_append_new(rr->steps, sj);
    o->results = NULL;
    step_outcome_clear(o);
}

json_t *run_result_finish(run_result *rr, const char *interrupted, run_status *status)
{
    char ts[32];
    if (interrupted)
        run_result_error(rr, NULL, interrupted);
    run_status st = (rr->n_failed == 0 && rr->clock_ok && !interrupted) ? RUN_SUCCESS
                    : (rr->n_ok > 0) ? RUN_PARTIAL : RUN_FAILED;
    util_iso_time(rr->started, ts, sizeof ts);
    /* referenceTime is T as the database wrote it, in its zone; timestamp is UTC. */
    json_t *r = jx(json_pack("{s:s, s:b, s:o, s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, "
                             "s:I}",
                             "status", run_status_name(st), "success", st == RUN_SUCCESS,
                             "runId", rr->req.run_id ? jx(json_integer(rr->req.run_id))
                                                     : json_null(),
                             "trigger", rr->req.trigger, "dryRun", rr->req.dry_run,
                             "timestamp", ts, "referenceTime", rr->clock.text,
                             "referenceTimeZone", rr->clock.zone,
                             "durationMs", (json_int_t)(util_mono_ms() - rr->mono0),
                             "rowsChanged", (json_int_t)rr->rows_changed,
                             "results", rr->results, "steps", rr->steps,
                             "errors", rr->errors, "uptime", (json_int_t)util_uptime_s()));
    if (interrupted)
        json_object_set_new(r, "interrupted", jx(json_true()));
    if (rr->req.dry_run)
        json_object_set_new(r, "wouldRecordChanges", jx(json_integer(rr->would_record)));
    rr->steps = rr->results = rr->errors = NULL;
    *status = st;
    return r;
}

const char *run_status_name(run_status st)
{
    static const char *const names[] = { "success", "partial", "failed" };
    return names[st];
}

const char *runner_log_category(const char *trigger)
{
    if (strcmp(trigger, "scheduled") == 0)
        return "scheduled_reconciliation";
    if (strcmp(trigger, "manual") == 0)
        return "manual_reconciliation";
    if (strcmp(trigger, "catch_up") == 0) /* a scheduled run, late */
        return "scheduled_reconciliation";
    return "startup_reconciliation";
}

json_t *runner_not_run(const char *trigger, int dry_run, int64_t run_id, const char *status,
                       const char *reason)
{
    char ts[32];
    util_iso_time(util_wall_ms(), ts, sizeof ts);
    return jx(json_pack("{s:s, s:b, s:o, s:s, s:b, s:s, s:n, s:n, s:i, s:i, s:{}, s:[], s:[o], "
                        "s:I}",
                        "status", status, "success", 0,
                        "runId", run_id ? jx(json_integer(run_id)) : json_null(),
                        "trigger", trigger, "dryRun", dry_run, "timestamp", ts,
                        "referenceTime", "referenceTimeZone", "durationMs", 0,
                        "rowsChanged", 0, "results",
                        "steps", "errors", jx_text(reason),
                        "uptime", (json_int_t)util_uptime_s()));
}

static void figures_into(strbuf *b, const char *prefix, const json_t *obj)
{
    const char *k;
    json_t *v;
    char key[256];
    json_object_foreach((json_t *)obj, k, v) {
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (json_is_object(v))
            figures_into(b, key, v);
        else if (json_is_integer(v) && json_integer_value(v) != 0)
            sb_printf(b, "%s%s=%lld", b->len ? " " : "", key, (long long)json_integer_value(v));
        else if (json_is_real(v) && json_real_value(v) != 0)
            sb_printf(b, "%s%s=%.15g", b->len ? " " : "", key, json_real_value(v));
        else if (json_is_true(v))
            sb_printf(b, "%s%s=true", b->len ? " " : "", key);
    }
}

char *runner_figures_text(const json_t *results)
{
    strbuf b = STRBUF_INIT;
    figures_into(&b, "", results);
    return sb_take(&b);
}

char *runner_summary(const json_t *r)
{
    size_t i;
    json_t *s;
    int counts[STEP_INTERRUPTED + 1] = { 0 };
    char more[48] = "";

    json_array_foreach(json_object_get(r, "steps"), i, s) {
        int st = step_status_parse(json_string_value(json_object_get(s, "status")));
        if (st >= 0)
            counts[st]++;
    }
    if (counts[STEP_INTERRUPTED])
        snprintf(more, sizeof more, ", %d interrupted", counts[STEP_INTERRUPTED]);
    json_int_t id = json_integer_value(json_object_get(r, "runId"));
    /* A job's run names its job and slot: "(job leases, scheduled for 2026-...Z)". */
    const char *job = json_string_value(json_object_get(r, "job"));
    const char *slot = json_string_value(json_object_get(r, "scheduledFor"));
    char *what = xasprintf("%s%s%s%s%s", job ? "job " : "", job ? job : "", job ? ", " : "",
                           json_string_value(json_object_get(r, "trigger")),
                           slot ? " for " : "");
    char *line = xasprintf("reconciliation run %lld (%s%s%s): %s in %lld ms; steps: %d ok, "
                     "%d failed, %d skipped%s", (long long)id, what, slot ? slot : "",
                     json_is_true(json_object_get(r, "dryRun")) ? ", dry run" : "",
                     json_string_value(json_object_get(r, "status")),
                     (long long)json_integer_value(json_object_get(r, "durationMs")),
                     counts[STEP_OK], counts[STEP_FAILED], counts[STEP_SKIPPED], more);
    free(what);
    return line;
}
