/* SPDX-License-Identifier: MIT */
/* run_state.c - see run_state.h. */
#include "service/run_state.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const rs_status_names[RS_N_STATUS] = { "success", "partial", "failed", "skipped" };
const char *const rs_step_status_names[RS_N_STEP_STATUS] = { "ok", "failed", "skipped",
                                                             "interrupted" };

void run_state_init(run_state *rs, history *h, int wake_fd)
{
    memset(rs, 0, sizeof *rs);
    pthread_mutex_init(&rs->mu, NULL);
    rs->h = h;
    rs->wake_fd = wake_fd;
}

void run_state_destroy(run_state *rs)
{
    json_decref(rs->last_result);
    for (size_t i = 0; i < rs->n_jobs; i++)
        json_decref(rs->jobs[i].last_result);
    free(rs->steps);
    pthread_mutex_destroy(&rs->mu);
}

void run_state_post(run_state *rs, int dry_run, run_post *out)
{
    int64_t id = 0;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&rs->mu);
    if (rs->stopping) {
        pthread_mutex_unlock(&rs->mu);
        out->status = 503;
        snprintf(out->error, sizeof out->error, "reconciler is stopping");
        return;
    }
    if (rs->running || rs->queued_id || rs->reserving) {
        out->status = 409;
        out->run_id = rs->queued_id ? rs->queued_id : rs->running_id;
        pthread_mutex_unlock(&rs->mu);
        return;
    }
    rs->reserving = 1;
    pthread_mutex_unlock(&rs->mu);

    /*
     * Recorded now, so that the answer carries the id the history will show.
     * A store that cannot be written (full, read-only, locked) does not stop
     * a manual run any more than a scheduled one: it gets an id from
     * history_fallback_id() and its row is written at its end if it can be.
     */
    if (history_begin(rs->h, "manual", dry_run, util_wall_ms(), &id) != 0) {
        id = history_fallback_id(rs->h);
        snprintf(out->error, sizeof out->error, "cannot record the run's start: %s",
                 history_error(rs->h));
        log_error("manual run %lld: %s", (long long)id, out->error);
    }

    pthread_mutex_lock(&rs->mu);
    rs->reserving = 0;
    rs->queued_id = id;
    rs->queued_dry = dry_run;
    pthread_mutex_unlock(&rs->mu);
    out->status = 202;
    out->run_id = id;
    int saved = errno;
    (void)!write(rs->wake_fd, "m", 1);
    errno = saved;
}

int run_state_take_queued(run_state *rs, int64_t *run_id, int *dry_run)
{
    pthread_mutex_lock(&rs->mu);
    *run_id = rs->queued_id;
    *dry_run = rs->queued_dry;
    rs->queued_id = 0;
    if (*run_id) {
        /* Running from this moment, so that no second POST slips in before the run. */
        rs->running = 1;
        rs->running_id = *run_id;
    }
    pthread_mutex_unlock(&rs->mu);
    return *run_id != 0;
}

void run_state_running(run_state *rs, int64_t run_id)
{
    pthread_mutex_lock(&rs->mu);
    rs->running = 1;
    rs->running_id = run_id;
    pthread_mutex_unlock(&rs->mu);
}

static int status_index(const char *status)
{
    for (int i = 0; i < RS_N_STATUS; i++)
        if (status && strcmp(status, rs_status_names[i]) == 0)
            return i;
    return RS_FAILED;
}

/* The stats of r's job (called with rs->mu held). */
static run_job_stats *job_stats_of(run_state *rs, const json_t *r)
{
    const char *job = json_string_value(json_object_get(r, "job"));
    if (!job)
        job = "reconcile"; /* a run of no job (tests): the one job there was */
    for (size_t i = 0; i < rs->n_jobs; i++)
        if (strcmp(rs->jobs[i].job, job) == 0)
            return &rs->jobs[i];
    if (rs->n_jobs == RS_MAX_JOBS)
        return &rs->jobs[RS_MAX_JOBS - 1];
    run_job_stats *j = &rs->jobs[rs->n_jobs++];
    snprintf(j->job, sizeof j->job, "%s", job);
    return j;
}

/* Count r in st; 1 when it ran (not skipped). */
static int stats_add(run_stats *st, int status, int dry, double secs, double now,
                     uint64_t retries)
{
    static const double bounds[RS_N_BUCKETS] = RS_DURATION_BUCKETS;
    st->runs[dry][status]++;
    st->chunk_retries += retries;
    if (status == RS_SKIPPED)
        return 0;
    size_t b = 0;
    while (b < RS_N_BUCKETS && secs > bounds[b])
        b++;
    st->duration[b]++;
    st->duration_sum += secs;
    st->last_run_s = now;
    if (status == RS_SUCCESS)
        st->last_success_s = now;
    return 1;
}

/* The counts of job's step (called with rs->mu held); NULL when out of memory. */
static run_step_stats *step_stats_of(run_state *rs, const char *job, const char *step)
{
    for (size_t i = 0; i < rs->n_steps; i++)
        if (strcmp(rs->steps[i].job, job) == 0 && strcmp(rs->steps[i].step, step) == 0)
            return &rs->steps[i];
    if (rs->n_steps == rs->cap_steps) {
        size_t cap = rs->cap_steps ? rs->cap_steps * 2 : 16;
        run_step_stats *grown = realloc(rs->steps, cap * sizeof *grown);
        if (!grown)
            return NULL; /* a metric missed rather than the service stopped */
        rs->steps = grown;
        rs->cap_steps = cap;
    }
    run_step_stats *st = &rs->steps[rs->n_steps++];
    memset(st, 0, sizeof *st);
    snprintf(st->job, sizeof st->job, "%s", job);
    snprintf(st->step, sizeof st->step, "%s", step);
    return st;
}

/* Count each of r's steps by its status (called with rs->mu held). */
static void steps_add(run_state *rs, const char *job, json_t *r, int dry)
{
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(r, "steps"), i, step) {
        const char *name = json_string_value(json_object_get(step, "name"));
        const char *status = json_string_value(json_object_get(step, "status"));
        int k = 0;
        while (k < RS_N_STEP_STATUS && !(status && strcmp(status, rs_step_status_names[k]) == 0))
            k++;
        run_step_stats *st = name && k < RS_N_STEP_STATUS ? step_stats_of(rs, job, name) : NULL;
        if (st)
            st->runs[dry][k]++;
    }
}

/* Count r, globally and for its job; keep it as the last result when it ran. Takes r. */
static void record(run_state *rs, json_t *r, int finished)
{
    int st = status_index(json_string_value(json_object_get(r, "status")));
    double secs = (double)json_integer_value(json_object_get(r, "durationMs")) / 1000.0;
    double now = (double)util_wall_ms() / 1000.0;
    int dry = json_is_true(json_object_get(r, "dryRun"));

    uint64_t retries = 0;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(r, "steps"), i, step)
        retries += (uint64_t)json_integer_value(json_object_get(step, "retries"));

    pthread_mutex_lock(&rs->mu);
    run_job_stats *js = job_stats_of(rs, r);
    stats_add(&js->stats, st, dry, secs, now, retries);
    steps_add(rs, js->job, r, dry);
    if (stats_add(&rs->stats, st, dry, secs, now, retries)) {
        if (st == RS_SUCCESS && !dry)
            rs->succeeded = 1;
        json_decref(js->last_result);
        js->last_result = json_incref(r);
        json_decref(rs->last_result);
        rs->last_result = r;
        r = NULL;
    }
    if (finished) {
        rs->running = 0;
        rs->running_id = 0;
    }
    pthread_mutex_unlock(&rs->mu);
    json_decref(r);
}

void run_state_know_job(run_state *rs, const char *job)
{
    json_t *r = jx(json_pack("{s:s}", "job", job));
    pthread_mutex_lock(&rs->mu);
    job_stats_of(rs, r);
    pthread_mutex_unlock(&rs->mu);
    json_decref(r);
}

void run_state_finish(run_state *rs, json_t *r)
{
    record(rs, r, 1);
}

void run_state_record(run_state *rs, json_t *r)
{
    record(rs, r, 0);
}

size_t run_state_job_stats(run_state *rs, run_job_stats *out, size_t max)
{
    pthread_mutex_lock(&rs->mu);
    size_t n = rs->n_jobs < max ? rs->n_jobs : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = rs->jobs[i];
        if (out[i].last_result)
            out[i].last_result = jx(json_deep_copy(out[i].last_result));
    }
    pthread_mutex_unlock(&rs->mu);
    return n;
}

run_step_stats *run_state_step_stats(run_state *rs, size_t *n)
{
    run_step_stats *out = NULL;
    pthread_mutex_lock(&rs->mu);
    *n = rs->n_steps;
    if (rs->n_steps) {
        out = xcalloc(rs->n_steps, sizeof *out);
        memcpy(out, rs->steps, rs->n_steps * sizeof *out);
    }
    pthread_mutex_unlock(&rs->mu);
    return out;
}

void run_state_stop(run_state *rs)
{
    pthread_mutex_lock(&rs->mu);
    rs->stopping = 1;
    pthread_mutex_unlock(&rs->mu);
}

json_t *run_state_last(run_state *rs, int *running)
{
    pthread_mutex_lock(&rs->mu);
    json_t *r = rs->last_result ? jx(json_deep_copy(rs->last_result)) : NULL;
    *running = rs->running;
    pthread_mutex_unlock(&rs->mu);
    return r;
}

json_t *run_state_last_brief(run_state *rs)
{
    static const char *const keys[] = { "runId", "status", "trigger", "dryRun", "timestamp",
                                        "durationMs" };
    json_t *brief = json_null();
    pthread_mutex_lock(&rs->mu);
    json_t *r = rs->last_result;
    if (r) {
        /* Copies, not references into r (see run_state_job_stats in run_state.h). */
        brief = jx(json_object());
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            json_t *v = json_object_get(r, keys[i]);
            json_object_set_new(brief, keys[i], v ? jx(json_deep_copy(v)) : json_null());
        }
    }
    pthread_mutex_unlock(&rs->mu);
    return brief;
}

void run_state_stats(run_state *rs, run_stats *out, json_t **last)
{
    pthread_mutex_lock(&rs->mu);
    *out = rs->stats;
    *last = rs->last_result ? jx(json_deep_copy(rs->last_result)) : NULL;
    pthread_mutex_unlock(&rs->mu);
}

void run_state_next(run_state *rs, int64_t wall_ms)
{
    pthread_mutex_lock(&rs->mu);
    rs->next_run_ms = wall_ms;
    pthread_mutex_unlock(&rs->mu);
}

static json_t *id_or_null(int64_t id)
{
    return id ? jx(json_integer(id)) : json_null();
}

json_t *run_state_activity(run_state *rs)
{
    char ts[32] = "";
    pthread_mutex_lock(&rs->mu);
    int running = rs->running, dry = rs->queued_dry;
    int64_t running_id = rs->running_id, queued_id = rs->queued_id, next = rs->next_run_ms;
    pthread_mutex_unlock(&rs->mu);
    if (next > 0)
        util_iso_time(next, ts, sizeof ts);
    return jx(json_pack("{s:b, s:o, s:o, s:b, s:o}", "running", running,
                        "runningId", id_or_null(running ? running_id : 0),
                        "queuedId", id_or_null(queued_id), "queuedDryRun", queued_id && dry,
                        "nextRunAt", next > 0 ? jx(json_string(ts)) : json_null()));
}

int run_state_ready(run_state *rs)
{
    pthread_mutex_lock(&rs->mu);
    int ready = rs->succeeded;
    pthread_mutex_unlock(&rs->mu);
    return ready;
}
