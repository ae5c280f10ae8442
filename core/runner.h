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
} pipeline_step;

typedef struct pipeline {
    const config *cfg;  /* not owned */
    plugin_registry reg;
    pipeline_step *steps;
    size_t n;
} pipeline;

/*
 * Load every step's plugin and check its options against the plugin's
 * table. Returns 0 and *out, or -1 with err (config file positions, plugin
 * files). Nothing touches a database.
 */
int pipeline_build(const config *cfg, pipeline **out, char *err, size_t errlen);
void pipeline_free(pipeline *p); /* accepts NULL */

typedef struct run_request {
    const char *trigger; /* "startup", "scheduled", "manual" */
    int dry_run;
    /*
     * NULL: T is read from the database clock (always, in the product).
     * Tests set a fixed "YYYY-MM-DD HH:MM:SS" to hit boundaries exactly.
     */
    const char *reference_time;
} run_request;

/* The run's overall outcome, as in the result's "status". */
typedef enum run_status { RUN_SUCCESS = 0, RUN_PARTIAL = 1, RUN_FAILED = 2 } run_status;

/*
 * Run the pipeline once against d, recording it in h. Returns the status;
 * *result receives the result JSON (new reference). A run always produces a
 * result, even when the database clock cannot be read (then it is "failed").
 */
run_status runner_run(pipeline *p, db *d, history *h, const run_request *req, json_t **result);

/* Ask running steps to stop at their next chunk (signal-safe). */
void runner_request_stop(void);
int runner_stop_requested(void);

/* processing_job_logs.category for a trigger: startup_reconciliation, ... */
const char *runner_log_category(const char *trigger);

/* The one-line summary used in logs and processing_job_logs. */
char *runner_summary(const json_t *result);

#endif
