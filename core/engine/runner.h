/*
 * runner.h - one run of a pipeline's steps: in order, each timed, a failing
 * step recorded while the next still runs (unless it says on_error: abort),
 * and the result JSON with the pinned field names. The run lock, the history
 * and the processing_job_logs row are engine/run.c's: this file only runs
 * steps, so that a probe and a run share one step loop.
 */
#ifndef RC_RUNNER_H
#define RC_RUNNER_H

#include <jansson.h>
#include "db/db.h"
#include "engine/guard.h"
#include "engine/pipeline.h"

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
    int64_t run_id; /* the history id, for the result's runId (0: none) */
    guard *g;       /* the run lock the run holds (its loss stops the run), or NULL */
} run_request;

/* The run's overall outcome, as in the result's "status". */
typedef enum run_status { RUN_SUCCESS = 0, RUN_PARTIAL = 1, RUN_FAILED = 2 } run_status;

/* "success", "partial", "failed". */
const char *run_status_name(run_status st);

/*
 * Run the pipeline's steps once against d. Returns the status; *result
 * receives the result JSON (new reference). A run always produces a result,
 * even when the database clock cannot be read (then it is "failed"). A run
 * cut short by a stop request or a lost run lock is "interrupted" and never
 * "success".
 */
run_status runner_run(pipeline *p, db *d, const run_request *req, json_t **result);

/*
 * The result of a run that did not happen: status "skipped" (another
 * instance holds the run lock) or "failed" (the database cannot be reached),
 * no steps, the reason in errors. New reference.
 */
json_t *runner_not_run(const char *trigger, int dry_run, int64_t run_id, const char *status,
                       const char *reason);

/* processing_job_logs.category for a trigger: startup_reconciliation, ... */
const char *runner_log_category(const char *trigger);

/* The one-line summary used in logs and processing_job_logs (malloc'd). */
char *runner_summary(const json_t *result);

#endif
