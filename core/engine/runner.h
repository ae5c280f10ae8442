/* SPDX-License-Identifier: MIT */
/*
 * runner.h - steps and the result of a run.
 *
 * A step runs in a step worker (engine/worker.c): runner_step calls the
 * plugin's init, run and fini there, and runner_probe runs a plugin
 * read-only for the API. The supervisor (engine/supervisor.c) assembles the
 * run's result from the outcomes the workers report, with the pinned field
 * names (run_result). The run lock, the history and the processing_job_logs
 * row are engine/run.c's.
 */
#ifndef RC_RUNNER_H
#define RC_RUNNER_H

#include <jansson.h>
#include "db/db.h"
#include "engine/pipeline.h"
#include "trace/run_trace.h"

/* A step's status, as in steps[].status. */
enum { STEP_OK, STEP_FAILED, STEP_SKIPPED, STEP_INTERRUPTED };
/* "ok", "failed", "skipped", "interrupted". */
const char *step_status_name(int status);
/* The status of a name, or -1. */
int step_status_parse(const char *name);

/* What one step did. */
typedef struct step_outcome {
    int status;       /* STEP_* */
    int64_t ms;       /* how long it took */
    json_t *results;  /* the figures it reported (owned), or NULL */
    char *error;      /* why it failed (owned), or NULL */
    int64_t rows_changed; /* rows its writes changed (the core counts them) */
    int64_t retries;  /* chunks retried after a deadlock or certification conflict */
    int64_t changes_recorded;   /* change records written with its committed chunks */
    int64_t unrecorded_changes; /* rows changed that no record describes */
    /*
     * A dry run: the change records a real run would write, as the step
     * reported them (its result wouldRecordChanges, taken out of results);
     * 0 when steps[].record_changes is false; -1 when the step did not say.
     */
    int64_t would_record;
    trace_chunks *chunks;       /* tracing: its chunks (owned, bounded), or NULL */
} step_outcome;

/*
 * Whose change records this process's steps write: the run's history id
 * (0: none) and job name (copied; NULL is ""). A worker sets it from its
 * assignment before its first step.
 */
/* The result key a step's dry run reports its would-be change records under. */
#define WOULD_RECORD_KEY "wouldRecordChanges"

void runner_set_change_owner(int64_t run_id, const char *job);
void step_outcome_clear(step_outcome *o);

/*
 * Every step's (and probe's) check() callback, in order, with no database:
 * 0, or -1 with err "FILE:LINE:COL: step 'S': option 'O' ..." (the option's
 * value, or the step) for the first refusal. Called before any step runs.
 */
int runner_check(const pipeline *p, char *err, size_t errlen);

/*
 * Run one step against d at T = clock (in the worker): prepare (ABI 1.2),
 * then init, run, fini; with steps[].max_changes in a real run, a rehearsal
 * first (rolled back; see runner.c). file is the pipeline file, for
 * FILE:LINE:COL messages. A step that returned ok after a stop request cut
 * it short is STEP_INTERRUPTED, never ok.
 */
void runner_step(const pipeline_step *ps, const char *file, db *d, const db_clock *clock,
                 int dry_run, step_outcome *out);

/*
 * Every step's prepare() callback (ABI 1.2), in order, against d at T =
 * clock, nothing written: 0, or -1 with err "FILE:LINE:COL: ..." for the
 * first refusal (`validate --db`).
 */
int runner_prepare(const pipeline *p, db *d, const db_clock *clock, char *err, size_t errlen);

/*
 * Run probe `name` once as a dry run (db_exec refused: it cannot write) with
 * T from d's clock. Returns 0 with *results (new reference) and T in
 * now_text, or -1 with err (unknown probe, the clock, or the step's own error).
 */
int runner_probe(const pipeline *p, const char *name, db *d, json_t **results,
                 char now_text[static RC_TIME_TEXT_SIZE],
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
    trace_run *trace; /* the run's trace: each step adds its span (NULL: not traced) */
    /* A job's run: its steps [step_from, step_to) of the pipeline (step_to 0: every step)
     * and its max_run_time (0: schedule.max_run_time). */
    size_t step_from, step_to;
    int64_t max_run_time_ms;
    const char *job; /* the job's name, for its change records (NULL: none) */
} run_request;

/* The run's overall outcome, as in the result's "status". */
typedef enum run_status { RUN_SUCCESS = 0, RUN_PARTIAL = 1, RUN_FAILED = 2 } run_status;

/* "success", "partial", "failed". */
const char *run_status_name(run_status st);

/* A run's result while its steps report in (the supervisor fills it). */
typedef struct run_result {
    run_request req;
    json_t *steps, *results, *errors;
    db_clock clock;
    int clock_ok;
    size_t n_ok, n_failed;
    int64_t rows_changed; /* every step's, for the result's rowsChanged */
    int64_t would_record; /* a dry run: every step's would_record that said one */
    int64_t started, mono0;
} run_result;

void run_result_init(run_result *rr, const run_request *req);
/* T was read: the result says it, and the run may succeed. */
void run_result_clock(run_result *rr, const db_clock *clock);
/* One step's outcome, in order (takes o's results and error). */
void run_result_step(run_result *rr, const pipeline_step *ps, step_outcome *o);
/* A line for errors[], prefixed by the step's name when step is set. */
void run_result_error(run_result *rr, const char *step, const char *msg);
/*
 * The result JSON (new reference) and its status. interrupted: why the run
 * was cut short (it is then never "success"), or NULL.
 */
json_t *run_result_finish(run_result *rr, const char *interrupted, run_status *status);

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

/*
 * A step's figures (its "results"), flattened and space-separated for a
 * person to scan ("leasesRepaired=5 jobs.byStatus.failed=2"): the non-zero
 * numbers and the true flags. The terminal summary and chat alerts print it.
 * malloc'd; "" when there is none.
 */
char *runner_figures_text(const json_t *results);

#endif
