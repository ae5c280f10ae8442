/* SPDX-License-Identifier: MIT */
/*
 * lock.h - the cross-instance run lock: one lease row of reconciler_locks in
 * the bot's database, on the database's own clock.
 *
 * Not GET_LOCK(): that lock lives in one session on one server, is lost on a
 * reconnect, is not replicated, is not cluster-wide on Galera, and pins
 * connections in proxies. A row taken with one conditional UPDATE survives
 * all of those, and works the same on SQLite. Every time is computed in SQL
 * (never on this host's clock), in UTC whatever the session's time zone, to
 * the millisecond: DATETIME(3) on MySQL (migration 003), "YYYY-MM-DD
 * HH:MM:SS.mmm" text on SQLite, which compares correctly as text.
 *
 * Every function takes an open connection, the lock's name (LOCK_NAME for the
 * service) and, on error, writes a message to err (errlen bytes, may be 0).
 * On a lost connection or a deadlock, db_lost()/db_retryable() still describe
 * the failed statement afterwards.
 */
#ifndef RC_LOCK_H
#define RC_LOCK_H

#include <stddef.h>
#include <stdint.h>
#include "db/db.h"

#define LOCK_NAME "reconciler" /* the one lock row the service uses */

/*
 * The database clock the lock runs on (UTC_TIMESTAMP) minus this host's
 * clock (CLOCK_REALTIME), in ms, measured around one query: *skew_ms is the
 * difference at the query's midpoint, *uncertainty_ms half its round trip.
 * SQLite shares this host's clock: 0, 0. Returns 0, or -1 with err.
 */
int lock_clock_skew(db *d, int64_t *skew_ms, int64_t *uncertainty_ms, char *err, size_t errlen);

/*
 * Is d's clock within max_ms of this host's? 1 yes (or max_ms is 0: no
 * check), 0 no: it is surely further off (|skew| - uncertainty > max_ms),
 * with err saying by how much and naming schedule.max_clock_skew; -1 when it
 * cannot be measured, with err. *skew_ms (may be NULL) gets the measure.
 */
int lock_check_skew(db *d, int64_t max_ms, int64_t *skew_ms, char *err, size_t errlen);

typedef struct lock_info {
    char holder[129]; /* who holds it */
    char until[32];   /* its lock_until as text, "YYYY-MM-DD HH:MM:SS.mmm" UTC */
} lock_info;

/*
 * A holder id unique to this process: "HOSTNAME:PID:XXXXXXXX" (8 hex chars
 * random, from getrandom), at most 128 chars; truncated to fit outlen.
 */
void lock_holder_id(char *out, size_t outlen);

/*
 * Take the lock `name` for `holder` until database-now + ttl_ms, when it is
 * free (lock_until <= now) or already ours. Makes sure the row exists first
 * (an insert that does nothing when the row is there), then one conditional
 * UPDATE ... WHERE name = ? AND (holder = ? OR lock_until <= now) decides:
 * 1 row matched means taken. Sets locked_at = now when taken or re-taken.
 * Returns 1 taken, 0 held by another (then *other, if non-NULL, is filled by
 * reading the row, for messages only: it may have changed since), -1 on a
 * database error with err (if the table does not exist, the message is
 * "table reconciler_locks is missing: run `reconciler migrate`").
 */
int lock_try(db *d, const char *name, const char *holder, int64_t ttl_ms, lock_info *other,
             char *err, size_t errlen);

/*
 * Extend our lease to now + ttl_ms. Only the holder can extend, and only a
 * live lease: 1 still ours, 0 not ours any more (it ended on the database
 * clock, or someone else took it after it ended; nothing changed), -1 error.
 * A lease that ended is not revived: the fence (lock_fence) relies on it.
 */
int lock_extend(db *d, const char *name, const char *holder, int64_t ttl_ms, char *err,
                size_t errlen);

/*
 * Let go. hold_ms = 0: free it now (lock_until = now). hold_ms > 0: keep it
 * until locked_at + hold_ms, but never earlier than now (so a scheduled run
 * keeps other instances off until about one interval after its start; its
 * holder may still re-take it at once). Only the holder's row is changed:
 * 1 done, 0 not ours (nothing changed), -1 error.
 */
int lock_release(db *d, const char *name, const char *holder, int64_t hold_ms, char *err,
                 size_t errlen);

/*
 * Read the row: 1 and *info (if non-NULL) when it exists and lock_until > now
 * (held), 0 when free or absent (*info then holds the last holder, or "" when
 * absent), -1 error.
 */
int lock_peek(db *d, const char *name, lock_info *info, char *err, size_t errlen);

/* Who holds a lease: what a step worker needs to fence its writes. */
typedef struct lock_ident {
    char name[65];
    char holder[129];
    int64_t ttl_ms; /* > 0: on SQLite the fence also renews the lease (below) */
} lock_ident;

/*
 * The fence (a db_fence_fn; arg is a lock_ident): in the caller's open
 * transaction, bump the lock row's fence counter only if ident still holds
 * its lease on the database clock (lock_until > now). 1 live, 0 not (the
 * caller rolls back), -1 on error. The UPDATE row-locks the lock row until
 * the transaction ends, so no take by another instance can come between the
 * check and the commit; on Galera it is a write to that row, which
 * certification orders against a competitor's take. Renewals only extend a
 * live lease (lock_extend), and no one else can take it back for this
 * holder: a lease live at the fence was live at every write before it.
 *
 * On SQLite, with ident->ttl_ms > 0, the same UPDATE also pushes the live
 * lease to at least now + ttl_ms. SQLite has one writer at a time and no
 * queue: a step writing chunk after chunk can starve the heartbeat's own
 * renewal (its busy handler sleeps, the next chunk's BEGIN wins), which then
 * stopped a healthy run. A write of the holder's run is as good a sign of
 * life as the heartbeat, and it is only made while the lease is live, so a
 * lease that ended still stays ended. The heartbeat reads the row when its
 * own renewal finds the file busy (runlock.c).
 */
int lock_fence(db *d, void *ident);

#endif
