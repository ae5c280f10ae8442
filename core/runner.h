/*
 * runner.h - a pipeline (the config's steps bound to loaded plugins and
 * checked options) and one run of it: steps in order, each timed, a failing
 * step recorded while the next still runs (unless it says on_error: abort),
 * and the result JSON with the pinned field names.
 */
#ifndef RC_RUNNER_H
#define RC_RUNNER_H

#include <jansson.h>
#include <signal.h>
#include "config.h"
#include "db.h"
#include "history.h"
#include "options.h"
#include "plugin.h"

typedef struct pipeline_step {
    const cfg_step *cfg;
    plugin *plugin; /* owned by the registry */
    opt_set opts;
    cfg_step own_cfg; /* a probe no step uses: cfg points here (name = plugin) */
} pipeline_step;

#define PIPELINE_MAX_PROBES 8

typedef struct pipeline {
    const config *cfg;  /* not owned */
    plugin_registry reg;
    pipeline_step *steps;
    size_t n;
    /*
     * Probes: plugins run read-only on demand (the HTTP API's live queue and
     * dashboard), so that their SQL lives in one place, the plugin. A probe
     * takes the options of the pipeline step that uses the same plugin, else
     * the plugin's defaults. Loaded by pipeline_add_probe, never during a run.
     */
    pipeline_step probes[PIPELINE_MAX_PROBES];
    size_t n_probes;
} pipeline;

/*
 * Load every step's plugin and check its options against the plugin's
 * table. Returns 0 and *out, or -1 with err (config file positions, plugin
 * files). Nothing touches a database.
 */
int pipeline_build(const config *cfg, pipeline **out, char *err, size_t errlen);
void pipeline_free(pipeline *p); /* accepts NULL */

/* Load plugin name as a probe of p. 0, or -1 with err (the plugin is missing or refused). */
int pipeline_add_probe(pipeline *p, const char *name, char *err, size_t errlen);

/*
 * Run probe `name` once as a dry run (db_exec refused: it cannot write) with
 * T from d's clock. Safe to call from several threads at once, each with its
 * own d. Returns 0 with *results (new reference) and T in now_text, or -1
 * with err (unknown probe, the clock, or the step's own error).
 */
int runner_probe(const pipeline *p, const char *name, db *d, json_t **results, char now_text[20],
                 char *err, size_t errlen);

typedef struct run_request {
    const char *trigger; /* "startup", "scheduled", "manual" */
    int dry_run;
    /*
     * NULL: T is read from the database clock (always, in the product).
     * Tests set a fixed "YYYY-MM-DD HH:MM:SS" to hit boundaries exactly.
     */
    const char *reference_time;
    /* 0: runner_run records the start in history itself; else the id of a
     * run already recorded (a queued manual run), whose start is updated. */
    int64_t run_id;
} run_request;

/* The run's overall outcome, as in the result's "status". */
typedef enum run_status { RUN_SUCCESS = 0, RUN_PARTIAL = 1, RUN_FAILED = 2 } run_status;

/*
 * Run the pipeline once against d, recording it in h. Returns the status;
 * *result receives the result JSON (new reference). A run always produces a
 * result, even when the database clock cannot be read (then it is "failed").
 */
run_status runner_run(pipeline *p, db *d, history *h, const run_request *req, json_t **result);

/*
 * Ask running steps to stop at their next chunk: the process is stopping
 * (signal-safe), or only the current run must end (its run lock was lost).
 * runner_stop_requested() is either; runner_shutting_down() the first only.
 * The run-only request is cleared when the next run starts.
 */
void runner_request_stop(void);
void runner_abort_run(void);
int runner_stop_requested(void);
int runner_shutting_down(void);

/*
 * The result of a run that did not happen: status "skipped" (another
 * instance holds the run lock) or "failed" (the database cannot be reached),
 * no steps, the reason in errors. Recorded in history like any run (h may be
 * NULL; run_id 0: a new history row). New reference.
 */
json_t *runner_not_run(history *h, const char *trigger, int dry_run, int64_t run_id,
                       const char *status, const char *reason);

/* processing_job_logs.category for a trigger: startup_reconciliation, ... */
const char *runner_log_category(const char *trigger);

/* The one-line summary used in logs and processing_job_logs. */
char *runner_summary(const json_t *result);

#endif
