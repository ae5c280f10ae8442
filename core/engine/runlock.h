/* SPDX-License-Identifier: MIT */
/*
 * runlock.h - the run lock as a process holds it.
 *
 * The lock itself is a lease row in the bot's database (db/lock.h). This module
 * owns a connection of its own for it, with timeouts well under the lease
 * (max(1 s, lock_ttl / 6)), takes the lease before a run (waiting if asked),
 * renews it from a heartbeat thread on an absolute schedule (every third of
 * the ttl from the take), and lets go after the run.
 *
 * The run never trusts the heartbeat to return: runlock_must_stop() reads an
 * atomic deadline (the last successful renewal's send time + ttl - a safety
 * margin) and an atomic "lost" flag itself, so that a renewal stuck on a
 * hung server cannot let the lease run out under a run that goes on. Two
 * runs must never overlap.
 */
#ifndef RC_RUNLOCK_H
#define RC_RUNLOCK_H

#include <stdint.h>
#include "config/config.h"
#include "db/lock.h"
#include "trace/run_trace.h"

typedef struct runlock runlock;

/*
 * Start the heartbeat thread. No connection is opened yet: the first
 * acquire opens it (cfg's database). cfg must outlive rl (the database keys
 * never change while a process runs; see runlock_set_ttl for reloads).
 */
runlock *runlock_open(const config *cfg);
/* The same for the lock row name with lease ttl_ms (a job's lock: runlock_open_job). */
runlock *runlock_open_named(const config *cfg, const char *name, int64_t ttl_ms);
/* job's lock: the row named as the job (the legacy job: LOCK_NAME), its lock_ttl. */
runlock *runlock_open_job(const config *cfg, const cfg_job *job);
/* Stop the heartbeat, let go of a held lock at once, disconnect. Accepts NULL. */
void runlock_close(runlock *rl);

/* A reload changed schedule.lock_ttl: it applies from the next take. */
void runlock_set_ttl(runlock *rl, int64_t ttl_ms);
/* A reload changed schedule.max_clock_skew: it applies from the next take. */
void runlock_set_max_skew(runlock *rl, int64_t max_ms);

enum { RUNLOCK_TAKEN = 1, RUNLOCK_BUSY = 0, RUNLOCK_ERROR = -1, RUNLOCK_STOPPED = -2 };

/*
 * Take the lock, trying every 250 ms for up to wait_ms (0: once). RUNLOCK_TAKEN;
 * RUNLOCK_BUSY with *other (the holder) when the wait ran out; RUNLOCK_ERROR with
 * err (the database cannot be reached, is read-only, reconciler_locks is
 * missing, or its clock is further from this host's than
 * schedule.max_clock_skew: the lock is then let go at once);
 * RUNLOCK_STOPPED when the process was asked to stop while waiting.
 */
int runlock_acquire(runlock *rl, int64_t wait_ms, lock_info *other, char *err, size_t errlen);

/*
 * tracing: while the lock is held, each renewal (and the release) is an event of tr's root
 * span (NULL: none). The release forgets tr: the caller may free it once the lock is let go.
 */
void runlock_set_trace(runlock *rl, trace_run *tr);

/* Let go; hold_ms as lock_release (0: at once). Failures are logged. */
void runlock_release(runlock *rl, int64_t hold_ms);

/* Is a run holding the lock right now (from a take to its release)? An atomic read. */
int runlock_held(const runlock *rl);

/*
 * Does this process hold the lock, as other instances see it? RUNLOCK_RUNNING
 * while a run holds it; RUNLOCK_HOLDING after a scheduled run let it go with
 * a hold that has not ended yet (no other instance can take it until then);
 * RUNLOCK_FREE. *until_ms (may be NULL): the lease's or the hold's end, Unix
 * ms (0 when free). Atomic reads: for the state endpoint and /metrics.
 */
enum { RUNLOCK_FREE = 0, RUNLOCK_RUNNING = 1, RUNLOCK_HOLDING = 2 };
int runlock_state(const runlock *rl, int64_t *until_ms);

/*
 * Must the run that holds the lock stop now? Non-zero once a renewal found
 * another holder, or once the deadline passed without a successful renewal,
 * whether or not the renewal call has returned. Stays set until the next
 * take, so a loss between take and run start is not forgotten. An atomic
 * read: the run's stop check calls it between chunks.
 */
int runlock_must_stop(runlock *rl);

/* Why runlock_must_stop() says so, for the result: a static string. */
const char *runlock_stop_reason(const runlock *rl);

/* The lock row's name. */
const char *runlock_name(const runlock *rl);
/* The lease of the current (or last) take, ms: the job's lock_ttl, not schedule.lock_ttl. */
int64_t runlock_ttl(const runlock *rl);

/* This process's holder id. */
const char *runlock_holder(const runlock *rl);

#endif
