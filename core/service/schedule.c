/* SPDX-License-Identifier: MIT */
/* schedule.c - see schedule.h. */
#include "service/schedule.h"

void schedule_init(schedule *s, int64_t now, int64_t interval, int64_t jitter)
{
    s->interval = interval > 0 ? interval : 1;
    s->base = now + s->interval;
    s->jitter = jitter;
}

int64_t schedule_due(const schedule *s)
{
    return s->base + s->jitter;
}

int64_t schedule_after_run(schedule *s, int64_t took_ms, int64_t now, int64_t next_jitter)
{
    int64_t missed = 0;
    s->base += s->interval;
    s->jitter = next_jitter;
    if (took_ms >= s->interval && s->base + s->jitter <= now) {
        /* Arithmetic, not a loop: a run of hours at a 1 s interval is fine too. */
        missed = (now - (s->base + s->jitter)) / s->interval + 1;
        s->base += missed * s->interval;
    }
    return missed;
}

void schedule_set_interval(schedule *s, int64_t interval, int64_t next_jitter)
{
    if (interval <= 0 || interval == s->interval)
        return;
    s->base += interval - s->interval;
    s->interval = interval;
    s->jitter = next_jitter;
}

/* a - b's floor multiple of e, plus b: the grid point at or before a. */
static int64_t grid_floor(int64_t a, int64_t e, int64_t phase)
{
    int64_t d = a - phase;
    /* Floor division: a time before the phase still lands on the grid. */
    return (d / e - (d % e < 0)) * e + phase;
}

int64_t schedule_next_slot(const cfg_job *j, int64_t phase_ms, int64_t after_ms)
{
    if (j->every_ms > 0)
        return grid_floor(after_ms, j->every_ms, phase_ms) + j->every_ms;
    if (j->cron && j->zone) {
        int64_t next;
        int64_t after_s = after_ms / 1000 - (after_ms % 1000 < 0);
        return cal_next(&j->cron_parsed, j->zone, after_s, &next) == CAL_OK ? next * 1000 : -1;
    }
    return -1;
}

int64_t schedule_last_slot(const cfg_job *j, int64_t phase_ms, int64_t from_ms,
                           int64_t upto_ms)
{
    if (upto_ms < from_ms)
        return -1;
    if (j->every_ms > 0) {
        int64_t last = grid_floor(upto_ms, j->every_ms, phase_ms);
        return last >= from_ms ? last : -1;
    }
    /*
     * The calendar walks forward only: look in windows growing backwards from upto, so
     * that a job firing every second is found in the first, a yearly one in the last,
     * and each walk visits few fire times.
     */
    static const int64_t windows_s[] = { 60, 3600, 86400, 32 * 86400, 366 * 86400,
                                         5 * 366 * 86400 };
    for (size_t w = 0; w < sizeof windows_s / sizeof windows_s[0]; w++) {
        int64_t start = upto_ms - windows_s[w] * 1000;
        int last_window = start <= from_ms || w + 1 == sizeof windows_s / sizeof windows_s[0];
        if (start < from_ms)
            start = from_ms;
        int64_t found = -1, t = schedule_next_slot(j, 0, start - 1);
        while (t >= 0 && t <= upto_ms) {
            found = t;
            t = schedule_next_slot(j, 0, t);
        }
        if (found >= 0 || last_window)
            return found;
    }
    return -1;
}
