/*
 * lock.h - the cross-instance run lock: one lease row of reconciler_locks in
 * the bot's database, on the database's own clock.
 *
 * Not GET_LOCK(): that lock lives in one session on one server, is lost on a
 * reconnect, is not replicated, and pins connections in proxies. A row taken
 * with one conditional UPDATE survives all of those, and works the same on
 * SQLite. Times are milliseconds: DATETIME(3) on MySQL (migration 003),
 * "YYYY-MM-DD HH:MM:SS.mmm" text on SQLite, which compares as text.
 */
#ifndef RC_LOCK_H
#define RC_LOCK_H

#include <stddef.h>
#include <stdint.h>
#include "db.h"

#define LOCK_NAME "reconciler" /* the one lock row the service uses */

typedef struct lock_info {
    char holder[129]; /* who holds it */
    char until[32];   /* its lock_until, "YYYY-MM-DD HH:MM:SS.mmm" UTC */
} lock_info;

/* A holder id unique to this process: "HOSTNAME:PID:XXXXXXXX" (random hex), at most 128 chars. */
void lock_holder_id(char *out, size_t outlen);

/*
 * Take lock `name` for holder until database-now + ttl_ms, when it is free
 * (lock_until <= now) or already ours; locked_at becomes now. 1 taken, 0 held
 * by another (*other filled when non-NULL), -1 on a database error with err.
 */
int lock_try(db *d, const char *name, const char *holder, int64_t ttl_ms, lock_info *other,
             char *err, size_t errlen);

/* Extend our lease to now + ttl_ms. 1 still ours, 0 not ours (any more), -1 error. */
int lock_extend(db *d, const char *name, const char *holder, int64_t ttl_ms, char *err,
                size_t errlen);

/*
 * Let go. hold_ms 0: free now (lock_until = now). hold_ms > 0: keep it until
 * locked_at + hold_ms, never earlier than now. Only the holder's row changes:
 * 1 done, 0 not ours (nothing changed), -1 error.
 */
int lock_release(db *d, const char *name, const char *holder, int64_t hold_ms, char *err,
                 size_t errlen);

/* 1 and *info when the row exists and lock_until > now (held), 0 when free or absent, -1 error. */
int lock_peek(db *d, const char *name, lock_info *info, char *err, size_t errlen);

#endif
