/*
 * service.h - `reconciler run` without --once: a startup run, then one run
 * per schedule.interval (plus jitter) on a monotonic grid, manual runs queued
 * through the HTTP API, the run lock shared with other instances (guard.h),
 * SIGHUP reloads, SIGTERM/SIGINT stops.
 *
 * The main thread runs the schedule and every run; the HTTP threads (api.c)
 * only read the state below and queue manual runs.
 */
#ifndef RC_SERVICE_H
#define RC_SERVICE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include "cli.h"
#include "config.h"
#include "db.h"
#include "guard.h"
#include "history.h"
#include "runner.h"

/* Run duration histogram buckets, in seconds (reconciler_run_duration_seconds). */
#define SVC_DURATION_BUCKETS { 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600 }
#define SVC_N_BUCKETS 11

enum { SVC_SUCCESS, SVC_PARTIAL, SVC_FAILED, SVC_SKIPPED, SVC_N_STATUS };
/* The result's "status" for each of the above. */
extern const char *const svc_status_names[SVC_N_STATUS];

typedef struct svc_stats {
    uint64_t runs[SVC_N_STATUS];              /* reconciler_runs_total{status} */
    uint64_t duration[SVC_N_BUCKETS + 1];     /* per bucket, not cumulative */
    double duration_sum;
    double last_run_s, last_success_s;        /* Unix seconds; 0 = never */
} svc_stats;

typedef struct service {
    const cli_common *common;

    /* The pipeline file in force and its pipeline: replaced on SIGHUP by the
     * main thread under the write lock; HTTP handlers hold the read lock
     * while they use them. */
    pthread_rwlock_t pl_lock;
    config *cfg;
    pipeline *p;

    /* Run state shared with the HTTP threads, under mu. */
    pthread_mutex_t mu;
    json_t *last_result;   /* the last run that ran (not skipped), or NULL */
    int succeeded;         /* a real (not dry) run succeeded at least once */
    int running;           /* a run (or its wait for the lock) is going on */
    int64_t running_id;    /* its history id once known, else 0 */
    int64_t queued_id;     /* a manual run queued by the API (its history id), or 0 */
    int queued_dry;
    int stopping;
    svc_stats stats;

    /* The API's own history connection, under hist_mu. */
    pthread_mutex_t hist_mu;
    history *api_hist;

    char *token;           /* the API's bearer token, or NULL */
    guard *g;              /* NULL until connected */
    int wake_w;            /* write a byte to wake the main thread */
} service;

/* Run the service until stopped; returns the process exit code. Takes cfg. */
int service_run(const cli_common *common, config *cfg);

/* Wake the main thread (a manual run was queued). */
void service_wake(service *s);

/* Open a connection to the configured database for an HTTP request (caller
 * holds pl_lock for reading). EXIT_OK, or an exit code with err. */
int service_db(service *s, db **out, char *err, size_t errlen);

/* api.c: start / stop the HTTP API. */
struct http_server;
int api_start(service *s, struct http_server **out, char *err, size_t errlen);

#endif
