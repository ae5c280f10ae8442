/* SPDX-License-Identifier: MIT */
/*
 * cron.h - cron expressions and their fire times in a time zone.
 *
 * The calendar layer (core/calendar/) sits above base/ and below config/,
 * db/, engine/ and service/: pure functions, no I/O (zone files are read in
 * tzfile.c only), no clock of their own: callers pass "now". Nothing here
 * keeps global state; a parsed cal_cron is a plain value and a cal_zone is
 * immutable (zone.h), so both may be shared between threads.
 *
 * Typical use (a scheduler):
 *
 *     cal_cron c; cal_err e; cal_zone *z;
 *     if (cal_cron_parse(text, &c, &e) != 0 || cal_cron_never(&c, &e))
 *         -> FILE:LINE:(expression column + e.column - 1): e.msg
 *     if (cal_zone_open("Europe/Berlin", NULL, &z, err, sizeof err) != 0) -> err
 *     int64_t slot;
 *     if (cal_next(&c, z, now, &slot) == CAL_OK) -> sleep until slot, claim it
 *     then the next slot is cal_next(&c, z, slot, &next): each slot once.
 *
 * Syntax (docs/scheduling.md has the full description):
 *   [second] minute hour day-of-month month day-of-week
 *   5 fields, or 6 with seconds first (Quartz, Sidekiq-cron, Fugit). Seven
 *   (Quartz's year) are refused.
 *   Each field: a comma list of items; an item is *, a value, a range a-b,
 *   any of those with a step /n (a/n means a to the field's end), or one of
 *   the special forms below. Months JAN-DEC and weekdays SUN-SAT by name
 *   (any case); weekday 0 and 7 are Sunday. '?' is '*' in the two day fields.
 *   Day of month: L (last day), L-n (n days before the last, n 0-30), nW
 *   (the weekday, Monday-Friday, nearest day n within the same month, as
 *   Quartz: 1W on a Saturday is Monday the 3rd; nothing in a month without
 *   day n), LW (the month's last weekday).
 *   Day of week: d#n (the month's n-th weekday d, n 1-5: FRI#2), dL (the
 *   month's last weekday d: 5L, FRIL).
 *   Macros: @yearly @annually @monthly @weekly @daily @midnight @hourly.
 *   Day rule (Vixie cron): when both day fields are restricted a day
 *   matches if either matches; when either field is written starting with
 *   '*' (so also "*" and "*[/]2"), both must match.
 *
 * DST (see cal_next): a slot whose wall time falls in a skipped hour fires
 * once, at the first instant after the gap (several slots in one gap fire
 * once); a slot whose wall time occurs twice fires once, at its first
 * occurrence. Evaluated on absolute time, so neither the host's clock zone
 * nor a change of it moves anything.
 */
#ifndef RC_CAL_CRON_H
#define RC_CAL_CRON_H

#include "calendar/zone.h"

#include <stdint.h>

/* A parsed expression: sets of allowed values as bit masks (bit v = value v). */
typedef struct cal_cron {
    uint64_t sec;        /* bits 0-59 ({0} for 5 fields) */
    uint64_t min;        /* bits 0-59 */
    uint32_t hour;       /* bits 0-23 */
    uint32_t dom;        /* bits 1-31: plain days of the month */
    uint32_t dom_last;   /* bit n: L-n (the last day minus n), n 0-30 */
    uint32_t dom_wday;   /* bit n: nW, n 1-31 */
    int dom_last_wday;   /* LW */
    uint16_t month;      /* bits 1-12 */
    uint8_t dow;         /* bits 0-6, 0 Sunday */
    uint8_t dow_nth[7];  /* per weekday: bit n for d#n, n 1-5 */
    uint8_t dow_last;    /* bits 0-6: dL */
    int dom_star, dow_star; /* the field was written starting with '*' or '?' */
    int seconds;         /* 6 fields */
    int dom_col, dow_col, month_col; /* 1-based columns of those fields (0: from a macro) */
} cal_cron;

/* A refusal: where and what. */
typedef struct cal_err {
    int column;        /* 1-based byte column in the expression (0: not about a place) */
    const char *field; /* "second", "minute", "hour", "day-of-month", "month",
                          "day-of-week", or NULL when about the whole expression */
    char msg[256];     /* "day-of-month: 32 is out of range 1-31" (field included) */
} cal_err;

/*
 * Parse expr (leading and trailing blanks allowed; fields separated by
 * spaces or tabs). Returns 0 and *out, or -1 and *err with the column of the
 * offending text and a message naming the field.
 */
int cal_cron_parse(const char *expr, cal_cron *out, cal_err *err);

/* "column 9: day-of-month: 32 is out of range 1-31" (or the message alone
 * when err has no column), for a command line. Returns out. */
char *cal_err_text(const cal_err *err, char *out, size_t outlen);

/*
 * 1 when c can never fire (0 0 30 2 *, 0 0 31 4,6,9,11 *, 0 0 L-29 2 *), with *err saying why and pointing at
 * the day-of-month field; else 0. Exhaustive over one 400-year Gregorian
 * cycle, after which dates and weekdays repeat exactly (146097 days are
 * 20871 weeks): what matches nowhere in it matches never. Every time-of-day
 * field has at least one value, and a wall time skipped by DST still fires,
 * so a matching day is enough: the answer does not depend on the zone.
 */
int cal_cron_never(const cal_cron *c, cal_err *err);

/* Results of cal_next. */
#define CAL_OK 0
#define CAL_NONE 1   /* no fire time within the years the calendar handles (up to 9999) */
#define CAL_RANGE 2  /* after is outside CAL_T_MIN..CAL_T_MAX */

/*
 * The first fire instant of c in zone z strictly after the instant after
 * (Unix seconds). Returns CAL_OK and *out, CAL_NONE or CAL_RANGE.
 *
 * Definition: a wall time W that c matches fires at the first instant at
 * which the zone's clock shows W or a later time. So a W inside a gap fires
 * at the gap's end, once however many slots the gap swallowed, and a W that
 * the clock shows twice fires at its first showing only. Computed by jumping
 * field by field (never minute by minute), in O(1) zone lookups: the
 * clock's highest reading up to after, the next matching wall time above
 * it, and the first instant reaching that.
 */
int cal_next(const cal_cron *c, const cal_zone *z, int64_t after, int64_t *out);

/*
 * 1 when c matches the wall date and time (a broken-down local time; wday is
 * recomputed), else 0: the matching rule without zones, for tests and
 * callers that show why a time matches.
 */
struct cal_tm;
int cal_cron_matches(const cal_cron *c, const struct cal_tm *tm);

#endif
