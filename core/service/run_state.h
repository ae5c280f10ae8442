/* SPDX-License-Identifier: MIT */
/*
 * run_state.h - what the service knows about its runs, shared by the main
 * thread (which makes them) and the HTTP threads (which read it and queue
 * manual runs): the running run, the queue of one manual run, the counters
 * and the last result. Everything is memory under one mutex that is never
 * held across I/O, so no reader can be held up by a database or a disk.
 */
#ifndef RC_RUN_STATE_H
#define RC_RUN_STATE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include "engine/history.h"

/* Run duration histogram buckets, in seconds (reconciler_run_duration_seconds). */
#define RS_DURATION_BUCKETS { 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600 }
#define RS_N_BUCKETS 11

enum { RS_SUCCESS, RS_PARTIAL, RS_FAILED, RS_SKIPPED, RS_N_STATUS };
/* The result's "status" for each of the above. */
extern const char *const rs_status_names[RS_N_STATUS];

typedef struct run_stats {
    uint64_t runs[2][RS_N_STATUS];        /* reconciler_runs_total{status,dry_run}: [dry][status] */
    uint64_t duration[RS_N_BUCKETS + 1];  /* per bucket, not cumulative */
    double duration_sum;
    uint64_t chunk_retries; /* chunks retried after a deadlock or certification conflict */
    double last_run_s, last_success_s;    /* Unix seconds; 0 = never */
} run_stats;

/* One job's counters (/metrics labels each run metric with its job). */
#define RS_MAX_JOBS 64
typedef struct run_job_stats {
    char job[65];
    run_stats stats;
    json_t *last_result; /* the job's last run that ran, or NULL */
} run_job_stats;

/* A step's counts in one job, by the step's status and dry run (reconciler_step_runs_total). */
enum { RS_STEP_OK, RS_STEP_FAILED, RS_STEP_SKIPPED, RS_STEP_INTERRUPTED, RS_N_STEP_STATUS };
/* The step's "status" for each of the above (runner.c's names). */
extern const char *const rs_step_status_names[RS_N_STEP_STATUS];
typedef struct run_step_stats {
    char job[65], step[65];
    uint64_t runs[2][RS_N_STEP_STATUS]; /* [dry][status] */
} run_step_stats;

typedef struct run_state {
    pthread_mutex_t mu;
    json_t *last_result;   /* the last run that ran (not skipped), or NULL */
    int succeeded;         /* a real (not dry) run succeeded at least once */
    int running;           /* a run (or its wait for the lock) is going on */
    int64_t running_id;    /* its history id once known, else 0 */
    int64_t queued_id;     /* a manual run queued by the API (its history id), or 0 */
    int queued_dry;
    int reserving;         /* a POST is recording its run in history right now */
    int stopping;
    int64_t next_run_ms;   /* wall-clock ms the next scheduled run is due at; 0: not known */
    run_stats stats;
    run_job_stats jobs[RS_MAX_JOBS]; /* by the result's "job"; a job past the end shares the last */
    size_t n_jobs;
    run_step_stats *steps; /* every (job, step) seen in a result, in the order first seen */
    size_t n_steps, cap_steps;
    history *h;            /* where a POST records the run it queues (not owned) */
    int wake_fd;           /* a byte written here wakes the main thread */
} run_state;

void run_state_init(run_state *rs, history *h, int wake_fd);
void run_state_destroy(run_state *rs);

/* What a POST /v1/reconciliation/run answers. */
typedef struct run_post {
    int status;       /* 202 queued, 409 one is running or queued, 503 stopping */
    int64_t run_id;   /* 202: the queued run; 409: the one in the way (0: not known yet) */
    char error[600];  /* 503: why; 202: "" or why the run's start is not in history */
} run_post;

/*
 * The POST protocol, in one place: refuse while stopping (503) or while a
 * run is running or queued (409, naming it); else record the run in history
 * (with the mutex released: the disk may be slow) and queue it (202), also
 * when history cannot record it (then under a fallback id, error says why).
 */
void run_state_post(run_state *rs, int dry_run, run_post *out);

/* Main thread: take the queued manual run, if any (it counts as running from now). */
int run_state_take_queued(run_state *rs, int64_t *run_id, int *dry_run);
/* Main thread: a run begins (run_id 0 until its history row exists), or learns its id. */
void run_state_running(run_state *rs, int64_t run_id);
/* Main thread: a run ended, ran or not; takes result. */
void run_state_finish(run_state *rs, json_t *result);
/* A job's thread: a run ended (counted, kept as the last result); the running flag stays
 * the main thread's. Takes result. */
void run_state_record(run_state *rs, json_t *result);
/* Count job from the start (its metrics read 0 until it runs). */
void run_state_know_job(run_state *rs, const char *job);
/*
 * Each job's counters and last result, in the order first seen: n filled (at
 * most max); each last_result (may be NULL) a copy the caller decrefs.
 *
 * Every result handed out is a deep copy made under the mutex, never a
 * shared reference: the job thread that records the next run frees the old
 * one, and jansson's reference counts do not order that free after another
 * thread's last read (their decrement is release, not acquire-release:
 * make tsan reported /v1/service/state's dump racing with it).
 */
size_t run_state_job_stats(run_state *rs, run_job_stats *out, size_t max);

/* Every (job, step) pair's counts, in the order first seen: a copy the caller frees, *n
 * set (NULL when none). */
run_step_stats *run_state_step_stats(run_state *rs, size_t *n);

/* The service is stopping: POSTs answer 503 from now on. */
void run_state_stop(run_state *rs);

/* A copy of the last result (NULL: none yet); *running says whether one goes on. */
json_t *run_state_last(run_state *rs, int *running);
/* The last result in brief ({runId, status, trigger, dryRun, timestamp, durationMs}) or null. */
json_t *run_state_last_brief(run_state *rs);
/* The counters, and a copy of the last result (may be NULL; caller decrefs). */
void run_state_stats(run_state *rs, run_stats *out, json_t **last);
/*
 * Main thread: the next scheduled run is due at wall_ms (Unix ms; the
 * schedule itself runs on the monotonic clock, so this is its estimate).
 */
void run_state_next(run_state *rs, int64_t wall_ms);
/*
 * What goes on now, for GET /v1/service/state: {running, runningId, queuedId,
 * queuedDryRun, nextRunAt (ISO UTC or null)}. New reference.
 */
json_t *run_state_activity(run_state *rs);
/* Has a real run succeeded since the start? */
int run_state_ready(run_state *rs);

#endif
