/* SPDX-License-Identifier: MIT */
/*
 * run.h - one whole run, the one way every caller makes it (`run --once`,
 * the service's startup and scheduled runs, manual runs from the API):
 *
 *   record the start in history -> make sure the connection works -> take
 *   the run lock (a dry run takes none) -> run the steps -> write the run's
 *   processing_job_logs row -> let go of the lock -> finish the history row.
 *
 * Whatever happens (the database is unreachable, another instance holds the
 * lock, the process is stopping), the run is recorded and a result returned.
 */
#ifndef RC_RUN_H
#define RC_RUN_H

#include <jansson.h>
#include <stdint.h>
#include "config/config.h"
#include "db/db.h"
#include "engine/runlock.h"
#include "engine/history.h"
#include "engine/pipeline.h"
#include "trace/run_trace.h"

/* What a run works with. Owned by the caller; *d is opened, checked and reopened here. */
typedef struct run_env {
    const config *cfg; /* the database settings, for (re)connecting */
    pipeline *p;
    history *h;        /* may be NULL: nothing recorded locally */
    runlock *rl;       /* NULL: no run lock (tests); dry runs never take it */
    db **d;            /* the run's connection */
} run_env;

/*
 * What run to make, as its caller asks for it (runner.h's run_request is the
 * part of it the result reports).
 */
typedef struct run_spec {
    const char *trigger;        /* "startup", "scheduled", "manual" */
    int dry_run;
    int64_t run_id;             /* recorded ahead (a queued manual run), or 0 */
    int64_t wait_ms;            /* wait this long for another instance's run */
    int64_t hold_ms;            /* keep the lock this long after the run's start (0: release) */
    const char *reference_time; /* tests: a fixed T; NULL in the product */
    /* Told the run's id as soon as it is recorded (may be NULL): the service's 409s name it. */
    void (*started)(void *user, int64_t run_id);
    void *user;
    /*
     * While the run lock is held by another (may be NULL: one quiet wait): called after the
     * first try and then about every second with the holder, the time waited and the bound
     * (wait_ms). It may show progress; it returns 1 to give up at once, with why (recorded
     * as the reason: "skipped: " + why, exit 4), or 0 to wait on. Gets user.
     */
    int (*lock_busy)(void *user, const lock_info *holder, int64_t waited_ms, int64_t wait_ms,
                     char *why, size_t whylen);
    /* The run's trace (trace/run_trace.h), or NULL: run_execute adds the lock's take, the
     * steps and the end to it, and the result's traceId; the caller exports it. */
    trace_run *trace;
    /* A job's run (NULL: every step of the pipeline, no job recorded: tests): its steps,
     * max_run_time and keep_runs, and "job" in the result. */
    const cfg_job *job;
    /* The slot the run is for (Unix s; 0: none, as for startup and manual runs): it is
     * claimed (db/jobstate.h) with claim, under the run lock, before the steps run; a slot
     * another instance has claimed is not run (status skipped). "scheduledFor" in the result. */
    int64_t slot;
    const char *claim;
} run_spec;

/*
 * Build cfg's pipeline (and, with_probes, the API's probes: run_figures) and call every
 * step's check(): what `validate` checks, a run starts with, and a step
 * worker rebuilds. EXIT_OK and *out, or EXIT_USAGE with err
 * (FILE:LINE:COL).
 */
#define RUN_PROBES_QUIET 2 /* with_probes, in a probe worker: the service already warned */
int run_prepare(const config *cfg, int with_probes, pipeline **out, char *err, size_t errlen);

/*
 * Make *d the supervisor's working connection (opened, or reopened after a
 * server restart), with the short timeouts its few small statements need.
 * EXIT_OK, or an exit code with err.
 */
int run_connect(const config *cfg, db **d, char *err, size_t errlen);

/*
 * Add p's probes: the plugins of http.figure_plugins and every step's
 * plugin that declares figures (ABI 1.5); refuse a figure name declared
 * twice, and a figure mapping (http.dashboard_figures, http.queue_figures)
 * written in the pipeline file that names a figure no probe declares
 * (FILE:LINE:COL). A plugin that cannot be loaded, or a built-in mapping's
 * undeclared figure, is logged when warn is set. 0, or -1 with err.
 */
int run_figures(pipeline *p, int warn, char *err, size_t errlen);

/*
 * Make the run. *result receives the result JSON (new reference): the run's,
 * or a "skipped"/"failed" one for a run that could not happen. Returns the
 * exit code `run --once` exits with: EXIT_OK (every step ok),
 * EXIT_STEP_FAILED (partial, failed, interrupted, or the log row could not
 * be written), EXIT_DATABASE (cannot connect, the lock cannot be read, or
 * the database stopped answering or went away during the run),
 * EXIT_LOCKED (another instance held the lock for all of wait_ms).
 */
int run_execute(run_env *env, const run_spec *spec, json_t **result);

/*
 * A slot of a job that is not run, recorded as such: a history row with
 * status "skipped" and reason (paused: "skipped: the job is paused ..."),
 * the result (new reference) in *result.
 */
void run_record_skipped(run_env *env, const run_spec *spec, const char *reason,
                        json_t **result);

/* The slot as the result's scheduledFor: "2026-03-29T01:00:00Z" (UTC). out: 32 bytes. */
void run_slot_text(int64_t slot, char *out, size_t outlen);

#endif
