/* SPDX-License-Identifier: MIT */
/*
 * schedule.h - the service's due times: a fixed grid on the monotonic clock
 * (due = grid point + jitter), as collectd's read loop keeps one, so that
 * runs do not drift and a wall-clock change does not move them. Pure
 * arithmetic on milliseconds, no clock of its own: the caller passes "now".
 */
#ifndef RC_SCHEDULE_H
#define RC_SCHEDULE_H

#include <stdint.h>
#include "config/config.h"

typedef struct schedule {
    int64_t base;     /* the next grid point (monotonic ms) */
    int64_t interval; /* ms between grid points, > 0 */
    int64_t jitter;   /* this tick's random delay, 0 <= jitter < interval */
} schedule;

/* The first grid point one interval after now. */
void schedule_init(schedule *s, int64_t now, int64_t interval, int64_t jitter);

/* When the next scheduled run is due. */
int64_t schedule_due(const schedule *s);

/*
 * A run of the schedule took took_ms and ended at now: move to the next
 * grid point, with next_jitter. A run that lasted an interval or more skips
 * the ticks it covered (the next starts on the grid after it, never on its
 * heels), and the number skipped is returned. A shorter run never skips
 * one, even when its jitter and its own time together crossed the next grid
 * point: that tick is merely late, which is no overrun.
 */
int64_t schedule_after_run(schedule *s, int64_t took_ms, int64_t now, int64_t next_jitter);

/* A new interval (a reload): the next tick keeps the grid's phase, at the new pace. */
void schedule_set_interval(schedule *s, int64_t interval, int64_t next_jitter);

/*
 * A job's slots: the fire times it is scheduled for, as wall-clock ms since
 * the epoch (whole seconds for cron). every: the grid of its period aligned
 * to the epoch (so every instance computes the same slots); cron: the
 * calendar's fire times in the job's zone (calendar/cron.h). Pure: the caller
 * passes the times.
 */
/*
 * The first slot strictly after after_ms, or -1 (none: no schedule, or the calendar ends).
 * phase_ms moves an every: grid off the epoch (the legacy job's grid starts when its
 * service starts, as before jobs); 0 for every other job, and ignored by cron.
 */
int64_t schedule_next_slot(const cfg_job *j, int64_t phase_ms, int64_t after_ms);
/* The latest slot in [from_ms, upto_ms], or -1 when there is none. */
int64_t schedule_last_slot(const cfg_job *j, int64_t phase_ms, int64_t from_ms,
                           int64_t upto_ms);

#endif
