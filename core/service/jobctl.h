/* SPDX-License-Identifier: MIT */
/*
 * jobctl.h - what the service's job threads and its HTTP threads share about
 * each job: a run-now request, whether a run goes on, and when the next is
 * due. Memory under one mutex per job, never held across I/O. Pause state is
 * not here: it lives in the database (db/jobstate.h), so that every instance
 * obeys it.
 */
#ifndef RC_JOBCTL_H
#define RC_JOBCTL_H

#include <pthread.h>
#include <stdint.h>

typedef struct jobctl {
    char name[65];
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* wakes the job's thread: a request, the stop (CLOCK_MONOTONIC) */
    int requested;        /* a run-now request waits for the job's thread */
    int requested_dry;    /* ... for a dry run */
    int running;          /* a run of the job goes on */
    int64_t running_id;   /* its history id once known */
    int64_t next_ms;      /* wall ms the next scheduled run is due at; 0: none */
    int64_t phase_ms;     /* the legacy job's grid phase (schedule.h), else 0 */
    int paused;           /* this instance knows the job paused (see jobctl_set_paused) */
    int stopping;
    /* POST /v1/reconciliation/run's queued run, handed over by the main thread (the first
     * job's thread runs it, on the job's own lock) */
    int has_manual, manual_dry;
    int64_t manual_id;
} jobctl;

void jobctl_init(jobctl *j, const char *name);
void jobctl_destroy(jobctl *j);

/* The job called name among n, or NULL. */
jobctl *jobctl_find(jobctl *jobs, size_t n, const char *name);

/*
 * HTTP thread: ask for a run now (a dry run: dry_run 1). 1 queued; 0 one is
 * already queued or running (*running_id: its id, 0 when not known yet);
 * -1 stopping.
 */
int jobctl_request(jobctl *j, int dry_run, int64_t *running_id);

/* Main thread: hand the queued run run_id over to the job's thread. */
void jobctl_hand_manual(jobctl *j, int64_t run_id, int dry_run);
/* The job's thread: take a handed-over run (1) or not (0). */
int jobctl_take_manual(jobctl *j, int64_t *run_id, int *dry_run);

/* The job's thread: take a waiting request (1, *dry_run: whether a dry run) or not (0). */
int jobctl_take_request(jobctl *j, int *dry_run);

/*
 * The job's thread: wait until the wall clock reads due_ms, a request comes
 * or the service stops, at most 1 s at a time (the wall clock may be set
 * meanwhile: the caller looks again).
 */
void jobctl_wait(jobctl *j, int64_t due_ms);

/* The service stops: every wait returns, requests are refused. */
void jobctl_stop(jobctl *j);

void jobctl_set_running(jobctl *j, int running, int64_t running_id);
void jobctl_set_next(jobctl *j, int64_t next_ms);
void jobctl_set_phase(jobctl *j, int64_t phase_ms);
/*
 * What this instance knows of the job's pause (the row in the database is the truth):
 * set when its API pauses or resumes the job, and by the job's thread when a slot is
 * skipped for a pause or the pause is seen over. /metrics reads it without I/O.
 */
void jobctl_set_paused(jobctl *j, int paused);

typedef struct jobctl_view {
    int requested, running, paused;
    int64_t running_id, next_ms, phase_ms;
} jobctl_view;
void jobctl_get(jobctl *j, jobctl_view *out);

#endif
