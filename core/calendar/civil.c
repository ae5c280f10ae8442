/* SPDX-License-Identifier: MIT */
/* civil.c - Gregorian calendar arithmetic (civil.h). */
#include "calendar/civil.h"

int64_t cal_fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t cal_fmod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

int cal_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int cal_days_in_month(int64_t y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && cal_is_leap(y) ? 29 : len[m - 1];
}

/*
 * Counted from 0000-03-01 so that the leap day ends a year: a year of this
 * count is March..February, and 400 of them (an era) are 146097 days.
 */
#define ERA_DAYS 146097
#define EPOCH_SHIFT 719468 /* days from 0000-03-01 to 1970-01-01 */

int64_t cal_days_from_civil(int64_t y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = cal_fdiv(yy, 400);
    int64_t yoe = yy - era * 400;                       /* 0..399 */
    int64_t mp = m > 2 ? m - 3 : m + 9;                 /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;           /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * ERA_DAYS + doe - EPOCH_SHIFT;
}

void cal_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + EPOCH_SHIFT;
    int64_t era = cal_fdiv(z, ERA_DAYS);
    int64_t doe = z - era * ERA_DAYS;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (m <= 2);
    *month = m;
    *day = d;
}

int cal_weekday(int64_t days)
{
    return (int)cal_fmod(days + 4, 7); /* 1970-01-01 was a Thursday */
}

void cal_wall_to_tm(int64_t wall, cal_tm *tm)
{
    int64_t days = cal_fdiv(wall, 86400), sod = wall - days * 86400;
    cal_civil_from_days(days, &tm->year, &tm->month, &tm->day);
    tm->hour = (int)(sod / 3600);
    tm->min = (int)(sod / 60 % 60);
    tm->sec = (int)(sod % 60);
    tm->wday = cal_weekday(days);
}

int64_t cal_tm_to_wall(const cal_tm *tm)
{
    return cal_days_from_civil(tm->year, tm->month, tm->day) * 86400 + tm->hour * 3600 +
           tm->min * 60 + tm->sec;
}
