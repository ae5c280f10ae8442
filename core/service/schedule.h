/*
 * schedule.h - the service's due times: a fixed grid on the monotonic clock
 * (due = grid point + jitter), as collectd's read loop keeps one, so that
 * runs do not drift and a wall-clock change does not move them. Pure
 * arithmetic on milliseconds, no clock of its own: the caller passes "now".
 */
#ifndef RC_SCHEDULE_H
#define RC_SCHEDULE_H

#include <stdint.h>

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

#endif
