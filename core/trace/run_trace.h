/* SPDX-License-Identifier: MIT */
/*
 * run_trace.h - one run as one trace, assembled in the supervisor from what
 * it knows and what the step workers report:
 *
 *   reconciliation run           root: job, trigger, scheduledFor, dryRun,
 *   |                            status, rowsChanged; events: the run lock's
 *   |                            take and renewals
 *   +- step <name>               one per step: plugin, status, rowsChanged,
 *   |  |                         retries, error
 *   |  +- chunk                  the step's first 100 chunks: index, rows, retries
 *   |  +- chunks (summary)       the rest in one span: their count, rows, retries
 *   +- step <name> ...
 *
 * The root's parent is the TRACEPARENT's span when one is given (the trace
 * id is then the caller's), so a deployment's trace contains the run.
 *
 * Step workers are separate processes: a worker keeps its chunks in a
 * trace_chunks (bounded: 100 records and a running sum of the rest), sends it
 * in its step reply (trace_chunks_json), and the supervisor reads it back
 * (trace_chunks_from_json) for trace_run_step_end. A 10M-row run stays a
 * trace of at most 102 spans per step however many chunks it had.
 *
 * Every function of a trace_run may be called from any thread (the run
 * lock's heartbeat adds its renewals as events while steps report).
 */
#ifndef RC_TRACE_RUN_TRACE_H
#define RC_TRACE_RUN_TRACE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "trace/context.h"
#include "trace/span.h"

/* One chunk as the worker saw it: its statements and commit, with their retries. */
typedef struct trace_chunk {
    int64_t start_ns, end_ns;
    int64_t rows;    /* rows its writes changed */
    int64_t retries; /* times it was retried (deadlock, certification conflict) */
    int failed;      /* it ended the step with an error */
} trace_chunk;

/* Past this many chunks in a step, the rest are summed into one span. */
#define TRACE_CHUNK_SPANS_MAX 100

/* A step's chunks, bounded. Start zeroed. */
typedef struct trace_chunks {
    trace_chunk first[TRACE_CHUNK_SPANS_MAX];
    size_t n;                             /* kept in first[] */
    int64_t rest_n, rest_rows, rest_retries, rest_failed; /* the chunks after them, summed */
    int64_t rest_start_ns, rest_end_ns;   /* the first one's start, the last one's end */
} trace_chunks;

/* Add one chunk, in the order they ran. */
void trace_chunks_add(trace_chunks *c, const trace_chunk *ch);
/* The same for a list of n chunk records. */
void trace_chunks_add_list(trace_chunks *c, const trace_chunk *list, size_t n);
/* How many chunks were added in all. */
int64_t trace_chunks_count(const trace_chunks *c);

/*
 * c as JSON for a worker's step reply (new reference):
 * {"first":[[startNs,endNs,rows,retries,failed],...],
 *  "rest":{"n":..,"rows":..,"retries":..,"failed":..,"startNs":..,"endNs":..}}
 */
json_t *trace_chunks_json(const trace_chunks *c);
/*
 * The other way (j may be NULL: no chunks). 0, or -1 with *out empty when j
 * is not what trace_chunks_json writes (a confused peer's reply costs the
 * trace its chunk spans, never the run anything).
 */
int trace_chunks_from_json(const json_t *j, trace_chunks *out);

/* What the root span says about the run. Strings are copied. */
typedef struct trace_run_info {
    const char *job;           /* the pipeline (its file's name), or NULL */
    const char *trigger;       /* "startup", "scheduled", "manual" */
    const char *scheduled_for; /* when a scheduled run was due (ISO-8601 UTC), or NULL */
    int dry_run;
    int64_t run_id;            /* the history's id, 0: none */
} trace_run_info;

typedef struct trace_run trace_run;

/*
 * Start a run's trace at start_ns. parent: the caller's context (from
 * TRACEPARENT), or NULL for a trace of its own. The root span's id is new.
 */
trace_run *trace_run_begin(const trace_context *parent, const trace_run_info *info,
                           int64_t start_ns);
/*
 * trace_run_begin under the TRACEPARENT variable's context when it is set
 * and valid. A bad one is warned about (why, never its value) and the run
 * gets a trace of its own: a deployment's typo must not cost the run.
 */
trace_run *trace_run_from_env(const trace_run_info *info, int64_t start_ns);

/* Free r and every span it still holds. Accepts NULL. */
void trace_run_free(trace_run *r);

/*
 * The run's context (its trace id, the root span's id, the flags): what the
 * result's traceId, the log lines and a child process's TRACEPARENT say.
 */
void trace_run_context(const trace_run *r, trace_context *out);
/* Whether the trace is to be exported: the parent's sampled flag (a trace of its own: yes). */
int trace_run_sampled(const trace_run *r);

/* A root span event (the lock's take, a renewal); attrs (may be NULL) are moved in. */
void trace_run_event(trace_run *r, const char *name, int64_t t_ns, trace_attrs *attrs);
/* Set the run's id once history has given it one. */
void trace_run_set_id(trace_run *r, int64_t run_id);

/*
 * Open step span: returns its handle (an index) and its span id in
 * span_id (what the step's worker logs and passes on).
 */
size_t trace_run_step_begin(trace_run *r, const char *name, const char *plugin,
                            int64_t start_ns, char span_id[SPAN_ID_HEX + 1]);

/* How a step ended. */
typedef struct trace_step_facts {
    const char *status;    /* "ok", "failed", "skipped", "interrupted" */
    int64_t end_ns;
    int64_t rows_changed, retries;
    const char *error;     /* why it failed, or NULL */
} trace_step_facts;

/* Close step span `step` with its facts and its chunks' spans (chunks may be NULL). */
void trace_run_step_end(trace_run *r, size_t step, const trace_step_facts *f,
                        const trace_chunks *chunks);

/* How the run ended: "success", "partial", "failed", "skipped"; error: the first, or NULL. */
void trace_run_end(trace_run *r, const char *status, int64_t rows_changed, const char *error,
                   int64_t end_ns);

/* Move every span (the root first) to the end of out; r is left with none. */
void trace_run_take(trace_run *r, trace_batch *out);

/* Span names, for tests and docs. */
#define TRACE_SPAN_RUN "reconciliation run"
#define TRACE_SPAN_STEP_PREFIX "step "
#define TRACE_SPAN_CHUNK "chunk"
#define TRACE_SPAN_CHUNKS_SUMMARY "chunks (summary)"

#endif
