/* SPDX-License-Identifier: MIT */
/*
 * civil.h - the proleptic Gregorian calendar as arithmetic: days since
 * 1970-01-01 and back, month lengths, weekdays. No zone, no clock, no libc
 * time functions (whose results depend on the process's TZ).
 *
 * "Wall seconds" below are seconds since 1970-01-01T00:00:00 of a wall clock
 * (a local date and time read as if it were UTC): day = floor(w / 86400).
 */
#ifndef RC_CAL_CIVIL_H
#define RC_CAL_CIVIL_H

#include <stdint.h>

/* Floor division and the matching non-negative remainder (b > 0). */
int64_t cal_fdiv(int64_t a, int64_t b);
int64_t cal_fmod(int64_t a, int64_t b);

/* 1 in a Gregorian leap year. */
int cal_is_leap(int64_t year);

/* Days in month (1-12) of year. */
int cal_days_in_month(int64_t year, int month);

/* Days since 1970-01-01 of year-month-day (month 1-12, day 1-31; not checked). */
int64_t cal_days_from_civil(int64_t year, int month, int day);

/* The date of a day number (inverse of cal_days_from_civil). */
void cal_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

/* Weekday of a day number: 0 Sunday ... 6 Saturday. */
int cal_weekday(int64_t days);

/* A broken-down wall time. */
typedef struct cal_tm {
    int64_t year;
    int month, day;       /* 1-12, 1-31 */
    int hour, min, sec;   /* 0-23, 0-59, 0-59 */
    int wday;             /* 0 Sunday ... 6 Saturday */
} cal_tm;

/* Wall seconds <-> broken-down time (cal_tm_to_wall ignores wday). */
void cal_wall_to_tm(int64_t wall, cal_tm *tm);
int64_t cal_tm_to_wall(const cal_tm *tm);

#endif
