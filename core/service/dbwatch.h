/* SPDX-License-Identifier: MIT */
/*
 * dbwatch.h - is the database answering right now? A thread of its own pings
 * it every second on a connection of its own, with short timeouts, and keeps
 * the answer in memory. /readyz and the dashboard read that memory, so they
 * answer at once even while the server hangs (a stopped server leaves a ping
 * unanswered: after DBWATCH_LATE_MS of that, the database counts as not
 * answering, whether or not the ping has given up yet).
 */
#ifndef RC_DBWATCH_H
#define RC_DBWATCH_H

#include <stdint.h>
#include "config/config.h"
#include "reconciler.h"

/* A ping unanswered for this long means the database does not answer. */
#define DBWATCH_LATE_MS 1000

typedef struct dbwatch dbwatch;

/* What the watch knows, at one instant. */
typedef struct dbwatch_state {
    int ok;               /* the database answers */
    double latency_ms;    /* of the last answered ping */
    int64_t checked_ms;   /* monotonic ms of the last ping's end (0: none yet) */
    char why[512];        /* when not ok: the reason */
    char db_time[RC_TIME_TEXT_SIZE]; /* the database clock at the last answer */
    /* The run lock's row as the last ping read it (whoever holds it: this instance or
     * another), for the state's lock holder; lock_holder "" when free or unread. */
    char lock_holder[129];
    char lock_until[32];  /* "YYYY-MM-DD HH:MM:SS.mmm" UTC */
} dbwatch_state;

/* Start watching cfg's database (cfg must outlive the watch). */
dbwatch *dbwatch_start(const config *cfg);
void dbwatch_stop(dbwatch *w); /* accepts NULL */

/* Copy what the watch knows now: never waits for the database. */
void dbwatch_read(dbwatch *w, dbwatch_state *out);

#endif
