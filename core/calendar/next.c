/* SPDX-License-Identifier: MIT */
/*
 * next.c - when a cron expression fires (cron.h): which days of a month
 * match, the next matching wall time by jumping field by field, and the
 * mapping of wall times to instants through the zone's spans.
 *
 * The DST rules come from one definition: a matching wall time W fires at
 * g(W), the first instant at which the zone's clock shows W or later. In a
 * gap the clock jumps over W, so g(W) is the gap's end (every W of the gap
 * gives the same instant: one fire); a W shown twice is reached first at its
 * first showing. g never decreases as W grows, so the first fire strictly
 * after A is g(W*) with W* the first matching wall time above H(A), the
 * highest reading of the clock at or before A (after a fall-back the clock
 * reads less than it already did: those readings were reached before).
 */
#include "calendar/cron.h"
#include "calendar/civil.h"
#include "calendar/zone_impl.h"

#include <stdio.h>

/* More than twice the widest offset: beyond it a reading cannot matter. */
#define OFFSET_REACH ((int64_t)CAL_UTOFF_MAX + 1)
#define WINDOW (2 * OFFSET_REACH)

/* Day n's nearest weekday (Monday-Friday) within its month of dim days. */
static int nearest_weekday(int64_t y, int m, int n, int dim)
{
    int wd = cal_weekday(cal_days_from_civil(y, m, n));
    if (wd == 6)
        return n == 1 ? 3 : n - 1;
    if (wd == 0)
        return n == dim ? n - 2 : n + 1;
    return n;
}

/* Bits 1..31: the days of month m of year y that c's day fields match. */
static uint32_t day_mask(const cal_cron *c, int64_t y, int m)
{
    int dim = cal_days_in_month(y, m);
    uint32_t all = ((1u << dim) - 1) << 1, dom = c->dom & all, dow = 0;
    for (int n = 0; n < dim; n++)
        if (c->dom_last >> n & 1)
            dom |= 1u << (dim - n);
    if (c->dom_wday)
        for (int n = 1; n <= dim; n++)
            if (c->dom_wday >> n & 1)
                dom |= 1u << nearest_weekday(y, m, n, dim);
    if (c->dom_last_wday) {
        int wd = cal_weekday(cal_days_from_civil(y, m, dim));
        dom |= 1u << (wd == 6 ? dim - 1 : wd == 0 ? dim - 2 : dim);
    }
    int wd1 = cal_weekday(cal_days_from_civil(y, m, 1));
    for (int d = 1; d <= dim; d++) {
        int wd = (wd1 + d - 1) % 7;
        if ((c->dow >> wd & 1) || (c->dow_nth[wd] >> ((d - 1) / 7 + 1) & 1) ||
            ((c->dow_last >> wd & 1) && d + 7 > dim))
            dow |= 1u << d;
    }
    return c->dom_star || c->dow_star ? dom & dow : dom | dow;
}

/* The smallest v >= from in set with v <= max, else -1. */
static int next_bit(uint64_t set, int from, int max)
{
    if (from > max)
        return -1;
    uint64_t rest = set & (~0ULL << from);
    if (!rest)
        return -1;
    int v = __builtin_ctzll(rest);
    return v <= max ? v : -1;
}

/* The first (h, m, s) at or after the given one that c allows: 1, else 0. */
static int time_at_or_after(const cal_cron *c, int *h, int *m, int *s)
{
    for (;;) {
        int h2 = next_bit(c->hour, *h, 23);
        if (h2 < 0)
            return 0;
        if (h2 != *h) {
            *h = h2;
            *m = *s = 0;
        }
        int m2 = next_bit(c->min, *m, 59);
        if (m2 < 0) {
            ++*h;
            *m = *s = 0;
            continue;
        }
        if (m2 != *m) {
            *m = m2;
            *s = 0;
        }
        int s2 = next_bit(c->sec, *s, 59);
        if (s2 < 0) {
            ++*m;
            *s = 0;
            continue;
        }
        *s = s2;
        return 1;
    }
}

/*
 * The first wall time after `after` that c matches: 0 and *out, or -1 when
 * there is none up to year 9999 (or within 401 years: the calendar repeats
 * every 400).
 */
static int next_wall(const cal_cron *c, int64_t after, int64_t *out)
{
    cal_tm tm;
    cal_wall_to_tm(after + 1, &tm);
    int64_t y = tm.year, ylimit = tm.year + 401;
    int mo = tm.month, d = tm.day, h = tm.hour, mi = tm.min, s = tm.sec;
    while (y <= 9999 && y <= ylimit) {
        if (c->month >> mo & 1) {
            uint32_t mask = day_mask(c, y, mo) & ~((1u << d) - 1);
            while (mask) {
                int d2 = __builtin_ctz(mask);
                if (d2 != d) {
                    d = d2;
                    h = mi = s = 0;
                }
                if (time_at_or_after(c, &h, &mi, &s)) {
                    *out = cal_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
                    return 0;
                }
                mask &= ~(1u << d);
                h = mi = s = 0;
            }
        }
        d = 1;
        h = mi = s = 0;
        if (++mo > 12) {
            mo = 1;
            y++;
        }
    }
    return -1;
}

/* H(a): the highest wall time z's clock shows at any instant <= a. */
static int64_t wall_high(const cal_zone *z, int64_t a)
{
    cal_span sp;
    cal_zone_span(z, a, &sp);
    int64_t high = a + sp.utoff, start = sp.start;
    /* An earlier span's last reading can only beat a + offset within WINDOW. */
    while (start != INT64_MIN && start > a - WINDOW) {
        cal_zone_span(z, start - 1, &sp);
        if (start - 1 + sp.utoff > high)
            high = start - 1 + sp.utoff;
        start = sp.start;
    }
    return high;
}

/* g(w): the first instant at which z's clock shows w or later. */
static int64_t first_reach(const cal_zone *z, int64_t w)
{
    int64_t t = w - OFFSET_REACH; /* every instant up to here reads less than w */
    for (;;) {
        cal_span sp;
        cal_zone_span(z, t, &sp);
        if (sp.end == INT64_MAX || sp.end - 1 + sp.utoff >= w)
            return w - sp.utoff > t ? w - sp.utoff : t;
        t = sp.end;
    }
}

int cal_next(const cal_cron *c, const cal_zone *z, int64_t after, int64_t *out)
{
    int64_t w, t;
    if (after < CAL_T_MIN || after > CAL_T_MAX)
        return CAL_RANGE;
    if (next_wall(c, wall_high(z, after), &w) != 0)
        return CAL_NONE;
    t = first_reach(z, w);
    if (t > CAL_T_MAX)
        return CAL_NONE;
    *out = t;
    return CAL_OK;
}

int cal_cron_matches(const cal_cron *c, const cal_tm *tm)
{
    if (tm->month < 1 || tm->month > 12 || tm->day < 1 ||
        tm->day > cal_days_in_month(tm->year, tm->month))
        return 0;
    return (c->month >> tm->month & 1) && (day_mask(c, tm->year, tm->month) >> tm->day & 1) &&
           (c->hour >> tm->hour & 1) && (c->min >> tm->min & 1) && (c->sec >> tm->sec & 1);
}

int cal_cron_never(const cal_cron *c, cal_err *err)
{
    for (int64_t y = 2000; y < 2400; y++)
        for (int m = 1; m <= 12; m++)
            if ((c->month >> m & 1) && day_mask(c, y, m))
                return 0;
    err->column = c->dom_col;
    err->field = "day-of-month";
    snprintf(err->msg, sizeof err->msg,
             "day-of-month: the expression never fires: no date has a matching day of the "
             "month, month and day of the week (checked over the whole 400-year cycle of "
             "the Gregorian calendar)");
    return 1;
}
