/* SPDX-License-Identifier: MIT */
/*
 * host.h - the core side of rc_ctx: the function table a plugin calls, bound
 * to one step of one run.
 */
#ifndef RC_HOST_H
#define RC_HOST_H

#include <jansson.h>
#include "db/db.h"
#include "engine/pipeline.h"
#include "trace/run_trace.h"

typedef struct step_run {
    const pipeline_step *ps;
    db *d;             /* NULL in check(): every database call is refused */
    const char *file;  /* the pipeline file, for fail_option's FILE:LINE:COL */
    int dry_run;
    db_clock clock;    /* the run's reference time T (database clock and zone) */
    json_t *results;   /* what the step reported (owned) */
    char *error;       /* why it failed (owned), or NULL */
    int error_set_by_plugin; /* fail() was called: a later db error does not replace it */
    int misused;       /* asked for an undeclared option: fails the step whatever it returns */
    char refusal[256]; /* why the core refused the last database call itself, or "" */
    char *result_refused; /* the first result the core refused (owned): fails the step */
    int64_t rows_changed; /* rows its db_exec and db_chunked calls changed: the core
                             counts them, so no plugin has to report them */
    int64_t retries;   /* chunks db_chunked ran again after a deadlock or conflict */

    /*
     * steps[].max_changes (see runner_step): the cap on the rows the step's
     * writes match, summed over statements; -1 (or any negative): none.
     * While a cap is set or in a rehearsal, every write is counted: a
     * db_exec outside a transaction runs in one of its own, and a write that
     * would take the sum past the cap is rolled back and refused.
     */
    int64_t cap;
    int rehearsal;     /* roll back every write instead of committing it */
    int64_t changes;   /* rows matched by writes committed (rehearsed) so far */
    int64_t pending;   /* rows matched in the plugin's own open transaction */
    int in_tx;         /* the plugin called db_begin and has not ended it */
    int over_cap;      /* a write passed the cap: the step fails whatever run() returns */
    int64_t found;     /* over_cap: the sum that passed the cap (a lower bound) */

    /* Change records (docs/internals.md "Change records"). */
    int record_changes;     /* steps[].record_changes, and not a dry run */
    int64_t run_id;         /* the run's history id (0: none), for the records */
    const char *job;        /* the job's name for the records ("" when none) */
    rc_change_decl *decls;       /* declare_changes()'s copy, for the next chunked call */
    size_t ndecls;
    int64_t changes_recorded;    /* records written with committed chunks */
    int64_t unrecorded;          /* rows changed that no record describes */
    int warned_no_table;         /* said once that reconciler_change_sets is missing */

    trace_chunks *chunks;        /* tracing: the chunks of its chunked calls (bounded), or NULL */
} step_run;

/* step_run's cap when steps[].max_changes is not set. */
#define HOST_NO_CAP (-1)

/*
 * Drop a declaration that no chunked call consumed (the plugin declared
 * and returned): called once its run() has returned.
 */
void host_forget_decls(step_run *sr);

/*
 * Bind ctx to sr. ctx and sr must outlive the plugin's calls. It also makes
 * sr's zone the one format_time() writes in on this thread (format_time has
 * no ctx to ask: the table entry is ABI 1.0).
 */
void host_ctx_init(rc_ctx *ctx, step_run *sr);

/*
 * Must the step stop at its next chunk? The worker was asked to stop (by its
 * supervisor: a stop request, a timeout, a lost run lock). What
 * interrupted() and the chunk loop ask.
 */
int host_should_stop(const step_run *sr);

/* Did the plugin ask for an option its table does not declare? */
int host_misused(const step_run *sr);

/* The longest step error kept, in bytes (cut at a character boundary). */
#define HOST_ERROR_MAX 4096

/* The table itself, for tests that check its layout. */
extern const rc_api host_api;

#endif
