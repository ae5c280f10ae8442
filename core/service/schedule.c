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
