/*
 * guard.h - the run lock as a process holds it.
 *
 * The lock itself is a lease row in the bot's database (lock.h). The guard
 * owns a connection of its own for it, takes the lease before a run (waiting
 * if asked), renews it from a heartbeat thread every third of its ttl while
 * the run goes on (the run's own connection is busy with the steps), and lets
 * go after the run. If the lease is lost anyway (a renewal finds another
 * holder, or renewals fail for so long that it may have expired), the current
 * run is asked to stop at its next chunk: two runs must never overlap.
 */
#ifndef RC_GUARD_H
#define RC_GUARD_H

#include <stdint.h>
#include "config.h"
#include "lock.h"

typedef struct guard guard;

/*
 * Connect (cfg's database) and start the heartbeat thread. Returns EXIT_OK
 * and *out, or an exit code (cli.h) with err.
 */
int guard_open(const config *cfg, guard **out, char *err, size_t errlen);
/* Stop the heartbeat, let go of a held lock at once, disconnect. Accepts NULL. */
void guard_close(guard *g);

/* Reconnect with cfg from now on (after a reload; cfg must outlive g or the next call). */
void guard_set_config(guard *g, const config *cfg);

enum { GUARD_TAKEN = 1, GUARD_BUSY = 0, GUARD_ERROR = -1, GUARD_STOPPED = -2 };

/*
 * Take the lock for ttl (cfg schedule.lock_ttl), trying every 250 ms for up to
 * wait_ms (0: once). GUARD_TAKEN; GUARD_BUSY with *other (the holder) when
 * the wait ran out; GUARD_ERROR with err; GUARD_STOPPED when the process was
 * asked to stop while waiting.
 */
int guard_acquire(guard *g, int64_t wait_ms, lock_info *other, char *err, size_t errlen);

/* Let go; hold_ms as lock_release (0: at once). Failures are logged. */
void guard_release(guard *g, int64_t hold_ms);

/* Is the lock held right now (for /metrics)? Thread-safe. */
int guard_held(guard *g);

/* This process's holder id. */
const char *guard_holder(const guard *g);

#endif
