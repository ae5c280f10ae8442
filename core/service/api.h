/* SPDX-License-Identifier: MIT */
/*
 * api.h - the service's HTTP API (routes in api.c, transport in http.c).
 * The API gets only what it serves from, each behind its own small
 * interface: the run state (memory), the pipeline snapshots, the figure
 * snapshot, the API's own history handle, the run lock's "held" flag and
 * the database watch. No handler takes a lock that a run or the heartbeat
 * holds across I/O.
 */
#ifndef RC_API_H
#define RC_API_H

#include <stddef.h>
#include <stdint.h>
#include "engine/runlock.h"
#include "engine/history.h"
#include "service/dbwatch.h"
#include "service/figures.h"
#include "service/http.h"
#include "service/jobctl.h"
#include "service/reload_state.h"
#include "service/run_state.h"
#include "service/snapshot.h"
#include "service/webhook.h"
#include "trace/exporter.h"

typedef struct api_deps {
    run_state *rs;
    snapshots *snaps;
    history *h;          /* the API's own handle (short busy timeout) */
    runlock *rl;         /* read: runlock_state() only */
    dbwatch *watch;
    const config *boot;  /* the configuration the service started with */
    const char *listen;
    const char *token;   /* NULL: none */
    webhook *wh;         /* read: webhook_metrics() only; may be NULL */
    jobctl *jobs;        /* the jobs' run-now requests and state (/v1/jobs); may be NULL */
    size_t n_jobs;
    reload_state *cfgs;  /* the file in force, the last reload; may be NULL */
    void (*reload)(void); /* POST /v1/service/reload: ask the main thread to reload; may be NULL */
    figures *fig;        /* the figure snapshot the queue, dashboard and /metrics answer from */
    trace_exporter *tx;  /* read: trace_exporter_stats() only; NULL: tracing is off */
} api_deps;

/* The API's route table (static), for tests that route without a server. */
const http_route *api_routes(size_t *n);

/*
 * The request arguments the handlers read, parsed apart from any connection
 * (so that they are tested and fuzzed alone). Each returns 0 with the value,
 * or -1 with the 400 reply's message in why (it quotes the argument as given;
 * API_WHY_MAX holds any message that http_reply_error keeps whole).
 *   api_arg_limit: ?limit= of the history (NULL: absent, the default 20), 1 to 1000.
 *   api_arg_before: ?before= of the history (NULL: absent, 0), a run id 1 to INT64_MAX.
 *   api_arg_run_id: the tail of /v1/reconciliation/runs/{id}, 1 to INT64_MAX.
 *   api_arg_dry_run: ?dryRun= of POST /run: absent or "false" 0, "true" 1.
 */
#define API_WHY_MAX 512
int api_arg_limit(const char *arg, int64_t *limit, char *why, size_t whylen);
int api_arg_before(const char *arg, int64_t *before, char *why, size_t whylen);
int api_arg_run_id(const char *tail, int64_t *id, char *why, size_t whylen);
int api_arg_dry_run(const char *arg, int *dry, char *why, size_t whylen);
/*
 *   api_arg_choice: ?NAME= absent or empty (no filter), or one of choices ("a|b|c").
 *   api_arg_time: ?NAME= absent or empty, or a UTC time YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or
 *   YYYY-MM-DDTHH:MM:SS.mmmZ (the history's since= and until=).
 */
int api_arg_choice(const char *name, const char *arg, const char *choices, char *why,
                   size_t whylen);
int api_arg_time(const char *name, const char *arg, char *why, size_t whylen);
/* The values the history's ?status= and ?trigger= take (a run's status and trigger). */
#define API_RUN_STATUSES "success|partial|failed|skipped|running|abandoned"
#define API_RUN_TRIGGERS "startup|scheduled|catch_up|manual"

/* Start serving (deps must outlive the server). 0, or -1 with err. */
int api_start(const api_deps *deps, http_server **out, char *err, size_t errlen);

#endif
