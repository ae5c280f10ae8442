/* SPDX-License-Identifier: MIT */
/*
 * history.h - the local run-history store: an SQLite file (WAL) with one row
 * per run and one per step, pruned to the newest keep_runs runs. It goes
 * through db.h's SQLite driver like any other database. Nothing secret is
 * ever stored: rows hold the result JSON, which carries no URL or password.
 */
#ifndef RC_HISTORY_H
#define RC_HISTORY_H

#include <stdint.h>
#include <jansson.h>

typedef struct history history;

/*
 * Open (creating the file 0600, its parent folder 0700 and tables; a file
 * created by root in a folder of another user's is given to that user). A
 * store that cannot be written: err names its owner and the chown that fixes
 * it (exit 5 for the commands). busy_ms: how long
 * a write waits for another writer's lock (0: 10 s); the API's handle waits
 * briefly, so that a history file locked by another process cannot hold an
 * HTTP answer. One handle may be used from several threads: it owns a mutex.
 * 0 or -1 with err.
 */
#define HISTORY_BUSY_DEFAULT_MS 0
int history_open(const char *path, int64_t keep_runs, int busy_ms, history **out, char *err,
                 size_t errlen);
void history_close(history *h); /* accepts NULL */

/*
 * Open an existing store for reading only (`reconciler history`): nothing is
 * created or written, so it works on a read-only or full filesystem and
 * beside a writer that holds the write lock. 0 or -1 with err.
 */
int history_open_read(const char *path, history **out, char *err, size_t errlen);

/*
 * At start: close every run still "running" whose process has ended (it
 * was killed, or the machine stopped) as "abandoned", with why; a run of a
 * process that still runs (another instance on the same file) is left
 * alone. Each row is named in a warning. *closed: how many. 0 or -1.
 */
int history_abandon(history *h, int64_t *closed);

/*
 * An id for a run that the store could not record (full disk, read-only,
 * locked): above every id h (and the handles sharing its ids) has seen or
 * handed out, so never one the file holds or will give; the next recorded
 * run starts above it. If the store works again by the run's end,
 * history_finish records the whole run under this id.
 */
int64_t history_fallback_id(history *h);

/*
 * h and with are on the same file (the service's run handle and its API's):
 * from now on they share one run-id floor, the higher of the two, so that
 * an id either hands out is above every id the other has seen.
 */
void history_share_ids(history *h, history *with);

/* Failed writes since the process started, over every handle (/metrics). */
uint64_t history_write_errors(void);
/* 1 while the last write failed (why, and since when, wall ms), else 0 (/readyz). */
int history_write_failing(char *why, size_t whylen, int64_t *since_ms);

/*
 * Record that a run started (status "running", with this process as its
 * owner) and return its id: the run's runId. A run that never finishes (the
 * process was killed) stays "running" until the next start closes it
 * (history_abandon).
 */
int history_begin(history *h, const char *trigger, int dry_run, int64_t started_ms,
                  int64_t *run_id);

/*
 * The same for a job's run: job (NULL: none recorded; lists show it as
 * reconcile, the one job there was) and the slot it is for ("YYYY-MM-DDTHH:MM:SSZ",
 * NULL: none, as for a manual run). history_finish takes both from the
 * result ("job", "scheduledFor") too.
 */
int history_begin_job(history *h, const char *job, const char *scheduled_for,
                      const char *trigger, int dry_run, int64_t started_ms, int64_t *run_id);

/* A run recorded ahead (queued) starts now: update its startedAt. 0 or -1. */
int history_started(history *h, int64_t run_id, int64_t started_ms);

/*
 * Record the finished run from its result JSON (the pinned shape: status,
 * durationMs, steps[] ...), then prune to keep_runs. A run whose start was
 * not recorded (a fallback id) is inserted whole. 0 or -1.
 */
int history_finish(history *h, int64_t run_id, int64_t finished_ms, const json_t *result);
/*
 * The same, pruned to keep_runs (0: the handle's, from history_open) rather
 * than the handle's: the pipeline in force says it at each run, so that a
 * reload's history.keep_runs holds from the next run. Then the result's job
 * is pruned to its own job_keep_runs (0: no such pruning).
 */
int history_finish_keep(history *h, int64_t run_id, int64_t finished_ms, const json_t *result,
                        int64_t keep_runs, int64_t job_keep_runs);

/*
 * Newest first, at most limit runs: an array of
 * {runId, trigger, dryRun, status, startedAt, finishedAt, durationMs, steps:[{name,plugin,status,durationMs,error}],
 *  notifications:[{target,event,status,httpCode,attempts,error}]}.
 * Returns a new reference or NULL on error.
 */
json_t *history_list(history *h, int64_t limit);
/* Only job's runs (NULL: all); each run also has "job" and "scheduledFor". */
json_t *history_list_job(history *h, const char *job, int64_t limit);

/*
 * A page of history_list: the runs older than before_id (0: from the
 * newest), each also with rowsChanged (from its result; null while running
 * or for a run recorded before the core counted them), and in *total how
 * many runs the store holds. New reference or NULL on error.
 */
json_t *history_page(history *h, int64_t limit, int64_t before_id, int64_t *total);
/* Only job's runs (NULL: all), *total counting those. */
json_t *history_page_job(history *h, const char *job, int64_t limit, int64_t before_id,
                         int64_t *total);

/*
 * Which runs a page holds; every member NULL: all. since and until are UTC
 * times as the store writes them ("2026-05-04T12:00:00.000Z") or a prefix of
 * one ("2026-05-04"): started_at >= since and started_at < until, compared as
 * text (the caller checks the form).
 */
typedef struct history_filter {
    const char *job, *status, *trigger, *since, *until;
} history_filter;
/* history_page with f's filters (NULL: none), *total counting the runs that pass them. */
json_t *history_page_filter(history *h, const history_filter *f, int64_t limit,
                            int64_t before_id, int64_t *total);

/*
 * One run's full result JSON with its "notifications" (as in history_list):
 * 1 and *out (new reference); 0 when the store has no finished run run_id
 * (*out NULL); -1 when the store cannot be read (a disk error, a damaged
 * file: history_error says why, *out NULL). Absent is not failed: the API
 * answers 404 for the one and 500 for the other.
 */
int history_get(history *h, int64_t run_id, json_t **out);

/* One webhook delivery's outcome (service/webhook.c). No URL: it may hold secrets. */
typedef struct history_notification {
    const char *target;  /* the target's name */
    const char *event;   /* "failed", "recovered" ... */
    const char *status;  /* "delivered", "failed", "dropped" */
    int http_code;       /* the last answer's status, 0: none came */
    int attempts;        /* requests made */
    const char *error;   /* why it failed, or NULL */
} history_notification;

/* Record a delivery for run_id (a run pruned meanwhile: -1). 0 or -1. */
int history_notified(history *h, int64_t run_id, const history_notification *n);

/*
 * The status of the newest real (not dry) run that ran (success, partial or
 * failed; not skipped, not still running) with an id below before_id (0:
 * any): 1 and out, 0 when there is none, -1 on error.
 */
#define HISTORY_STATUS_MAX 16
int history_last_status(history *h, int64_t before_id, char out[HISTORY_STATUS_MAX]);
/* The same among job's runs (NULL: any job's). */
int history_last_status_job(history *h, const char *job, int64_t before_id,
                            char out[HISTORY_STATUS_MAX]);

/*
 * The service's figure snapshot (service/figures.c), one kept at a time:
 * save replaces it (0 or -1); load returns it (new reference) with when it
 * was taken (wall ms) and its reference time T, or NULL when there is none
 * (or it cannot be read: the store is not the figures' source of truth).
 */
int history_figures_save(history *h, int64_t as_of_ms, const char *reference_time,
                         const json_t *figures);
json_t *history_figures_load(history *h, int64_t *as_of_ms, char *reference_time,
                             size_t reflen);

/* The calling thread's last history error, for messages. */
const char *history_error(const history *h);

#endif
