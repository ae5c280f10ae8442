/* SPDX-License-Identifier: MIT */
/* test_schedule.c - the service's grid of due times, as pure arithmetic. */
#include "helpers.h"
#include "service/schedule.h"

Test(schedule, grid_without_drift)
{
    schedule s;
    schedule_init(&s, 1000, 500, 0);
    cr_assert_eq(schedule_due(&s), 1500);
    /* A run of 30 ms that started on time: the next tick is on the grid, not 530 ms later. */
    cr_assert_eq(schedule_after_run(&s, 30, 1530, 0), 0);
    cr_assert_eq(schedule_due(&s), 2000);
    cr_assert_eq(schedule_after_run(&s, 40, 2040, 7), 0);
    cr_assert_eq(schedule_due(&s), 2507, "jitter on top of the grid point");
}

/*
 * A short run whose jitter pushed it close to the next grid point is no
 * overrun: its 4 ms must not skip ticks nor be called longer than the
 * interval (the old loop skipped whenever the grid point was past).
 */
Test(schedule, short_run_after_a_long_jitter_skips_nothing)
{
    schedule s;
    schedule_init(&s, 0, 1000, 999);
    cr_assert_eq(schedule_due(&s), 1999);
    /* Ran at 1999 for 4 ms: ends at 2003, past the next grid point 2000. */
    cr_assert_eq(schedule_after_run(&s, 4, 2003, 0), 0);
    cr_assert_eq(schedule_due(&s), 2000, "late by 3 ms, not skipped");
}

/* Both sides of the boundary: took = interval - 1 skips none, took = interval skips. */
Test(schedule, overrun_boundary)
{
    schedule s;
    schedule_init(&s, 0, 1000, 0);
    cr_assert_eq(schedule_after_run(&s, 999, 1000 + 999, 0), 0);
    cr_assert_eq(schedule_due(&s), 2000);
    schedule_init(&s, 0, 1000, 0);
    cr_assert_eq(schedule_after_run(&s, 1000, 1000 + 1000, 0), 1);
    cr_assert_eq(schedule_due(&s), 3000, "the tick at 2000 was covered by the run");
    schedule_init(&s, 0, 1000, 0);
    cr_assert_eq(schedule_after_run(&s, 1300, 1000 + 1300, 0), 1);
    cr_assert_eq(schedule_due(&s), 3000);
}

/* Hours of overrun at a 1 ms interval: arithmetic, no loop, no overflow. */
Test(schedule, long_overrun_counts_without_looping)
{
    schedule s;
    int64_t day = INT64_C(86400000);
    schedule_init(&s, 0, 1, 0);
    int64_t missed = schedule_after_run(&s, 365 * day, 1 + 365 * day, 0);
    cr_assert_eq(missed, 365 * day);
    cr_assert_gt(schedule_due(&s), 1 + 365 * day);
    /* The largest interval (365 d) from a monotonic clock of years: no overflow. */
    schedule_init(&s, 50 * 365 * day, 365 * day, 365 * day - 1);
    cr_assert_eq(schedule_due(&s), 51 * 365 * day + 365 * day - 1);
}

Test(schedule, new_interval_keeps_the_phase)
{
    schedule s;
    schedule_init(&s, 0, 1000, 0);
    schedule_set_interval(&s, 3000, 0);
    cr_assert_eq(schedule_due(&s), 3000);
    schedule_set_interval(&s, 3000, 5);
    cr_assert_eq(schedule_due(&s), 3000, "the same interval changes nothing");
}
