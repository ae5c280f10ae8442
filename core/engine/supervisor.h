/* SPDX-License-Identifier: MIT */
/*
 * supervisor.h - steps run in step workers (engine/worker.h), never in the
 * process that holds the run lock, the history and the HTTP API; this is the
 * side that starts them, hands them their assignment, reads each step's
 * outcome as it finishes, and decides what a worker that misbehaves costs: only its step.
 *
 * A worker that dies during a step (a signal, exit(), abort(), a closed
 * pipe) fails that step with what happened ("crashed: signal 11
 * (Segmentation fault)", "exited with status 0 before reporting"). Every
 * step has a worker of its own (started while the step before runs), so a
 * death, also after the step reported, is always that step's. A
 * step past its timeout (steps[].timeout), a run past schedule.max_run_time,
 * a stop request or a lost run lock: the worker is asked to stop (SIGTERM:
 * its step returns at the next chunk), then after a short grace killed
 * (SIGKILL), and on MySQL its connection is killed on the server, so no
 * statement keeps locks after its worker is gone.
 */
#ifndef RC_SUPERVISOR_H
#define RC_SUPERVISOR_H

#include <jansson.h>
#include "config/config.h"
#include "db/db.h"
#include "engine/runlock.h"
#include "engine/pipeline.h"
#include "engine/runner.h"

/* How long a worker asked to stop may take before it is killed. */
#define SUPERVISOR_GRACE_MS 1000
/* The same when the run lock may be lost: the lease's margin is short. */
#define SUPERVISOR_LOCK_GRACE_MS 500

/*
 * Run p's steps through workers. d is the supervisor's own connection (T is
 * read on it, and a killed worker's connection killed from it); rl the run
 * lock the run holds (NULL: none). Returns the status; *result the result
 * JSON (new reference). *d may be closed and set to NULL when the database
 * stopped answering the supervisor itself.
 */
run_status supervise_run(pipeline *p, const config *cfg, db **d, runlock *rl,
                         const run_request *req, json_t **result);

/*
 * Run probes (NULL-terminated plugin names) read-only in one worker, within
 * timeout_ms. 0 with results[i] (new references) and T in now, or -1 with
 * err (the worker crashed, timed out, could not connect, or a probe failed:
 * the message names the plugin).
 */
int supervise_probes(const config *cfg, const char *const *names, json_t **results,
                     char now[static RC_TIME_TEXT_SIZE], int64_t timeout_ms, char *err, size_t errlen);

/*
 * Run one statement on *d within timeout_ms, whatever the server does: 0
 * done, -1 failed (db_errmsg), -2 no answer in time: the statement goes on
 * in a thread that owns the connection from now on (*d becomes NULL). What a
 * stopping process uses so that a hung server cannot hold its exit.
 */
int supervise_bounded(db **d, const char *sql, const rc_value *params, size_t n,
                      int64_t timeout_ms);

/* How long inspecting the plugins may take (their constructors and check()s; with prepare,
 * a connection and every prepare() too). */
#define SUPERVISOR_INSPECT_MS 30000
#define SUPERVISOR_INSPECT_DB_MS 60000

/*
 * cfg's pipeline, its plugins loaded and every check() called in a worker,
 * never here: the pipeline returned holds their descriptors as data
 * (engine/plugin.h's described plugins), so nothing a plugin contains runs
 * in the caller (the service, `run --once`, `validate`). with_probes: the
 * API's probes too, as run_prepare takes it (1: one that fails to load is
 * logged and left out; RUN_PROBES_QUIET: not logged), and the figure
 * mappings checked against what they declare (engine/run.h, run_figures).
 * prepare: the worker also connects and calls every prepare() (`validate
 * --db`). EXIT_OK and *out, or an exit code with err: EXIT_USAGE for a
 * plugin or option refused, and for a worker that died in plugin code
 * (*crashed set; err names the plugin, the step and how it died: "...:
 * plugin 'x' could not be loaded: the worker loading it crashed: signal 11
 * (Segmentation fault) ..."), EXIT_DATABASE when prepare cannot connect.
 */
int supervise_inspect(const config *cfg, int with_probes, int prepare, pipeline **out,
                      int *crashed, char *err, size_t errlen);

/*
 * One plugin file, loaded in a worker: 0 and *out (a described plugin, see
 * engine/plugin.h), or -1 with err (refused, or the worker loading it died:
 * err names the file and how).
 */
int supervise_describe(const char *path, const char *name, plugin **out, char *err,
                       size_t errlen);

#endif
