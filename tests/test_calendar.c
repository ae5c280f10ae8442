/* SPDX-License-Identifier: MIT */
/*
 * test_calendar.c - the calendar layer (core/calendar/): cron expressions
 * parsed and refused with columns, every field form, the day rule, never-
 * firing expressions; zones from the system's tzdata (and planted TZif
 * files): spans, POSIX footer rules, fixed offsets, name checks; fire times
 * at real DST changes (Berlin, New York, Lord Howe, Chatham, Dublin's
 * negative DST, Kolkata, UTC, years past the tables), leap days, month
 * ends, boundaries on both sides; `reconciler calendar` itself.
 *
 * Every instant is fixed: nothing reads the clock or depends on TZ (one
 * test sets TZ to prove it). The random differential test against Python's
 * zoneinfo and croniter is tests/calendar/diff.py (make test's calendar stage).
 */
#include "helpers.h"
#include "calendar/civil.h"
#include "calendar/cron.h"
#include "calendar/tzposix.h"
#include "calendar/zone.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- helpers */

static cal_zone *zone(const char *name)
{
    char err[512];
    cal_zone *z = NULL;
    cr_assert_eq(cal_zone_open(name, NULL, &z, err, sizeof err), 0, "%s: %s", name, err);
    return z;
}

static int64_t instant(const char *iso)
{
    char err[512];
    int64_t t;
    cr_assert_eq(cal_parse_instant(iso, &t, err, sizeof err), 0, "%s", err);
    return t;
}

static cal_cron cron(const char *expr)
{
    cal_cron c;
    cal_err e;
    char text[400];
    cr_assert_eq(cal_cron_parse(expr, &c, &e), 0, "'%s': %s", expr, cal_err_text(&e, text, sizeof text));
    return c;
}

/* The next n fire times of expr in zone after from, as ISO text joined by spaces (static). */
static const char *nexts(const char *expr, const char *zname, const char *from, int n)
{
    static char out[4096];
    char iso[CAL_ISO_MAX];
    cal_cron c = cron(expr);
    cal_zone *z = zone(zname);
    int64_t at = instant(from), t;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (cal_next(&c, z, at, &t) != CAL_OK) {
            strcat(out, i ? " none" : "none");
            break;
        }
        if (i)
            strcat(out, " ");
        strcat(out, cal_format_iso(z, t, iso));
        at = t;
    }
    cal_zone_free(z);
    return out;
}

#define NEXTS(expr, zname, from, n, want)                                                 \
    do {                                                                                 \
        const char *got_ = nexts(expr, zname, from, n);                                  \
        cr_assert_str_eq(got_, want, "'%s' in %s after %s:\n got  %s\n want %s", expr,  \
                         zname, from, got_, want);                                       \
    } while (0)

/* The refusal of expr as "column N: field: message" (static). */
static const char *refusal(const char *expr)
{
    static char out[400];
    cal_cron c;
    cal_err e;
    cr_assert_eq(cal_cron_parse(expr, &c, &e), -1, "'%s' was accepted", expr);
    return cal_err_text(&e, out, sizeof out);
}

#define REFUSED(expr, want)                                                               \
    do {                                                                                 \
        const char *got_ = refusal(expr);                                                \
        cr_assert(strncmp(got_, want, strlen(want)) == 0, "'%s':\n got  %s\n want %s...", \
                  expr, got_, want);                                                     \
    } while (0)

/* -------------------------------------------------------------- civil */

Test(calendar, civil_round_trip_and_weekdays)
{
    /* Years -2000 to 10000, every day: the date comes back, and months are whole. */
    int64_t prev_y = 0;
    int prev_m = 0, prev_d = 0;
    for (int64_t days = -1450000; days <= 2933000; days++) {
        int64_t y;
        int m, d;
        cal_civil_from_days(days, &y, &m, &d);
        cr_assert_eq(cal_days_from_civil(y, m, d), days, "%lld", (long long)days);
        if (days > -1450000) {
            int next_ok = (d == prev_d + 1 && m == prev_m && y == prev_y) ||
                          (d == 1 && prev_d == cal_days_in_month(prev_y, prev_m) &&
                           (m == prev_m + 1 || (m == 1 && prev_m == 12 && y == prev_y + 1)));
            cr_assert(next_ok, "day %lld: %lld-%d-%d after %lld-%d-%d", (long long)days,
                      (long long)y, m, d, (long long)prev_y, prev_m, prev_d);
        }
        prev_y = y; prev_m = m; prev_d = d;
    }
    cr_assert_eq(cal_weekday(0), 4, "1970-01-01 was a Thursday");
    cr_assert_eq(cal_weekday(cal_days_from_civil(2000, 1, 1)), 6);
    cr_assert_eq(cal_weekday(cal_days_from_civil(2026, 3, 29)), 0);
    cr_assert_eq(cal_days_in_month(2000, 2), 29);
    cr_assert_eq(cal_days_in_month(2100, 2), 28);
    cr_assert_eq(cal_days_in_month(2024, 2), 29);
    cr_assert_eq(cal_days_in_month(2023, 2), 28);
}

/* ------------------------------------------------------------ parsing */

Test(calendar, parse_fields_and_forms)
{
    cal_cron c = cron("0 9 * * 1-5");
    cr_assert_not(c.seconds);
    cr_assert_eq(c.sec, 1);
    cr_assert_eq(c.min, 1);
    cr_assert_eq(c.hour, 1u << 9);
    cr_assert_eq(c.dom, 0xfffffffeu);
    cr_assert_eq(c.month, 0x1ffe);
    cr_assert_eq(c.dow, 0x3e);
    cr_assert(c.dom_star);
    cr_assert_not(c.dow_star);
    cr_assert_eq(c.dom_col, 5);
    cr_assert_eq(c.dow_col, 9);

    c = cron("*/20 0 9 * * 1-5");
    cr_assert(c.seconds);
    cr_assert_eq(c.sec, 1ULL << 0 | 1ULL << 20 | 1ULL << 40);
    c = cron("  1,2,5-7,10-20/5,50/4  *  *  *  *  ");
    cr_assert_eq(c.min, 1ULL << 1 | 1ULL << 2 | 1ULL << 5 | 1ULL << 6 | 1ULL << 7 | 1ULL << 10 |
                        1ULL << 15 | 1ULL << 20 | 1ULL << 50 | 1ULL << 54 | 1ULL << 58);
    c = cron("0 */7 * * *");
    cr_assert_eq(c.hour, 1u << 0 | 1u << 7 | 1u << 14 | 1u << 21);
    c = cron("0 0 * jan,Mar-MAY,oct/2 *");
    cr_assert_eq(c.month, 1u << 1 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 10 | 1u << 12);
    c = cron("0 0 * * sun,7");
    cr_assert_eq(c.dow, 1, "0 and 7 are Sunday");
    c = cron("0 0 * * SAT-SUN");
    cr_assert_eq(c.dow, 1u << 6 | 1u << 0, "SAT-SUN runs to the Sunday after");
    c = cron("0 0 * * 5-7");
    cr_assert_eq(c.dow, 1u << 5 | 1u << 6 | 1u << 0);
    c = cron("0 0 * * 1/2");
    cr_assert_eq(c.dow, 1u << 1 | 1u << 3 | 1u << 5, "a/n runs to Saturday");
    c = cron("0 0 * * */3");
    cr_assert_eq(c.dow, 1u << 0 | 1u << 3 | 1u << 6);
    c = cron("0 0 L,L-3,LW,15W,1 * FRI#2,5#3,0L,friL");
    cr_assert_eq(c.dom_last, 1u << 0 | 1u << 3);
    cr_assert(c.dom_last_wday);
    cr_assert_eq(c.dom_wday, 1u << 15);
    cr_assert_eq(c.dom, 1u << 1);
    cr_assert_eq(c.dow_nth[5], 1u << 2 | 1u << 3);
    cr_assert_eq(c.dow_last, 1u << 0 | 1u << 5);
    cr_assert_eq(c.dow, 0);
    c = cron("0 0 ? * MON");
    cr_assert(c.dom_star, "? is * in a day field");

    /* Macros. */
    const char *macros[][2] = { { "@yearly", "0 0 1 1 *" }, { "@ANNUALLY", "0 0 1 1 *" },
                                { "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
                                { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
                                { "  @hourly ", "0 * * * *" } };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        cal_cron a = cron(macros[i][0]), b = cron(macros[i][1]);
        b.dom_col = b.dow_col = b.month_col = 0;
        cr_assert(memcmp(&a, &b, sizeof a) == 0, "%s", macros[i][0]);
    }
}

Test(calendar, refusals_name_column_and_field)
{
    REFUSED("0 0 32 * *", "column 5: day-of-month: 32 is out of range 1-31");
    REFUSED("0 0 1 * 32", "column 9: day-of-week: 32 is out of range 0-7");
    REFUSED("60 * * * *", "column 1: minute: 60 is out of range 0-59");
    REFUSED("0 24 * * *", "column 3: hour: 24 is out of range 0-23");
    REFUSED("0 0 0 * *", "column 5: day-of-month: 0 is out of range 1-31");
    REFUSED("0 0 1 13 *", "column 7: month: 13 is out of range 1-12");
    REFUSED("0 0 1 0 *", "column 7: month: 0 is out of range 1-12");
    REFUSED("0 0 * * 8", "column 9: day-of-week: 8 is out of range 0-7");
    REFUSED("61 0 0 * * *", "column 1: second: 61 is out of range 0-59");
    REFUSED("   0 0 32 * *", "column 8: day-of-month: 32");
    REFUSED("0\t0\t32 * *", "column 5: day-of-month: 32");
    REFUSED("0 0 * JANUARY *", "column 7: month: 'JANUARY' is not a month (JAN-DEC or 1-12)");
    REFUSED("0 0 * * FRY", "column 9: day-of-week: 'FRY' is not a day of the week");
    REFUSED("0 0 * * L", "column 9: day-of-week: L needs a weekday before it");
    REFUSED("0 0 * * 5#6", "column 11: day-of-week: the n of d#n 6 is out of range 1-5");
    REFUSED("0 0 * * 5#", "column 11: day-of-week: the n of d#n is missing");
    REFUSED("0 0 * * 5L3", "column 11: day-of-week: nothing may follow dL");
    REFUSED("0 mon * * *", "column 3: hour: 'mon' is not a number (0-23)");
    REFUSED("*/0 * * * *", "column 3: minute: the step 0 is out of range 1-60");
    REFUSED("*/61 * * * *", "column 3: minute: the step 61 is out of range 1-60");
    REFUSED("1-5/ * * * *", "column 5: minute: the step is missing");
    REFUSED("5-2 * * * *", "column 1: minute: the range 5-2 goes backwards");
    REFUSED("0 0 * FRI-MON *", "column 7: month: 'FRI' is not a month");
    REFUSED("0 0 * * FRI-MON", "column 9: day-of-week: the range FRI-MON goes backwards");
    REFUSED("0 0 1,,2 * *", "column 7: day-of-month: empty item in the list");
    REFUSED("0 0 1, * *", "column 7: day-of-month: empty item");
    REFUSED("0 0 L-31 * *", "column 7: day-of-month: the n of L-n 31 is out of range 0-30");
    REFUSED("0 0 LX * *", "column 6: day-of-month: unexpected 'X' after L");
    REFUSED("0 0 W * *", "column 5: day-of-month: W needs a day before it");
    REFUSED("0 0 15W-20 * *", "column 8: day-of-month: nothing may follow nW");
    REFUSED("0 0 32W * *", "column 5: day-of-month: 32 is out of range 1-31");
    REFUSED("0 ? * * *", "column 3: hour: '?' is only for the day fields");
    REFUSED("0 0 * * 1-", "column 11: day-of-week: a value is missing");
    REFUSED("0 0 * * 1&2", "column 10: day-of-week: unexpected '&'");
    REFUSED("0 0 * * 1\x01", "column 10: day-of-week: unexpected '\\x01'");
    REFUSED("0 0 * *", "column 8: 4 fields: write 5");
    REFUSED("0", "column 2: 1 field: write 5");
    REFUSED("0 0 0 1 1 * 2026", "column 13: 7 fields: a year field (Quartz) is not supported");
    REFUSED("0 0 0 1 1 * 2026 x", "column 13: 8 fields");
    REFUSED("", "column 1: empty expression");
    REFUSED("   ", "column 4: empty expression");
    REFUSED("@reboot", "column 1: @reboot is not a calendar: use on_startup");
    REFUSED("@every 5m", "column 1: unknown '@every'");
    REFUSED("@daily 5", "column 1: unknown '@daily'");

    /* The boundaries, accepted. */
    cron("59 23 31 12 7");
    cron("0 0 1 1 0");
    cron("59 0 0 1 1 *");
    cron("*/60 * * * *");
    cron("0 0 L-30 * *");
    cron("0 0 31W * 5#5");

    /* The field name is given alone too (for FILE:LINE:COL messages). */
    cal_cron c;
    cal_err e;
    cr_assert_eq(cal_cron_parse("0 0 32 * *", &c, &e), -1);
    cr_assert_str_eq(e.field, "day-of-month");
    cr_assert_eq(e.column, 5);
    cr_assert_eq(cal_cron_parse("0 0 * *", &c, &e), -1);
    cr_assert_null(e.field);
}

Test(calendar, never_firing_expressions)
{
    const char *never[] = { "0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "0 0 0 30 2 *",
                            "0 0 L-29 2 *", "0 0 30W 2 *", "0 0 31 2 */2", "0 0 31 2 ?" };
    const char *fires[] = { "0 0 29 2 *", "0 0 30 2 MON", "0 0 31 4,5 *", "0 0 * 2 MON#5",
                            "0 0 L-28 2 *", "0 0 29W 2 *", "0 0 31 * *", "0 0 30 2 MON#1" };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        cal_cron c = cron(never[i]);
        cal_err e;
        cr_assert_eq(cal_cron_never(&c, &e), 1, "%s", never[i]);
        cr_assert_str_eq(e.field, "day-of-month");
        cr_assert(strstr(e.msg, "never fires"), "%s", e.msg);
        cr_assert_eq(e.column, c.seconds ? 7 : 5, "%s: %d", never[i], e.column);
        cal_zone *z = zone("UTC");
        int64_t t;
        cr_assert_eq(cal_next(&c, z, 0, &t), CAL_NONE, "%s", never[i]);
        cal_zone_free(z);
    }
    for (size_t i = 0; i < sizeof fires / sizeof fires[0]; i++) {
        cal_cron c = cron(fires[i]);
        cal_err e;
        cr_assert_eq(cal_cron_never(&c, &e), 0, "%s", fires[i]);
    }
    /* A rare one fires: February 29 on a Sunday (*[/]7 is 0 and 7), every 28 years. */
    NEXTS("0 0 29 2 */7", "UTC", "2016-03-01T00:00:00Z", 2,
          "2032-02-29T00:00:00+00:00 2060-02-29T00:00:00+00:00");
}

/* ---------------------------------------------------------- day rules */

Test(calendar, day_rule_or_and_and)
{
    /* Both restricted: OR (Fridays and the 13th). */
    NEXTS("0 0 13 * FRI", "UTC", "2026-02-01T00:00:00Z", 5,
          "2026-02-06T00:00:00+00:00 2026-02-13T00:00:00+00:00 2026-02-20T00:00:00+00:00 "
          "2026-02-27T00:00:00+00:00 2026-03-06T00:00:00+00:00");
    NEXTS("0 0 13 3 FRI", "UTC", "2026-02-01T00:00:00Z", 3,
          "2026-03-06T00:00:00+00:00 2026-03-13T00:00:00+00:00 2026-03-20T00:00:00+00:00");
    /* A leading '*' makes an AND, with a step too: odd days that are Fridays. */
    NEXTS("0 0 */2 * FRI", "UTC", "2026-02-01T00:00:00Z", 3,
          "2026-02-13T00:00:00+00:00 2026-02-27T00:00:00+00:00 2026-03-13T00:00:00+00:00");
    NEXTS("0 0 13 * */5", "UTC", "2026-02-01T00:00:00Z", 2,
          "2026-02-13T00:00:00+00:00 2026-03-13T00:00:00+00:00"); /* 13th on Sun or Fri */
    /* Written without '*', the full set is still a restriction (Vixie): OR, every day. */
    NEXTS("0 0 1-31 * MON", "UTC", "2026-02-01T00:00:00Z", 2,
          "2026-02-02T00:00:00+00:00 2026-02-03T00:00:00+00:00");
    NEXTS("0 0 * * MON", "UTC", "2026-02-01T00:00:00Z", 2,
          "2026-02-02T00:00:00+00:00 2026-02-09T00:00:00+00:00");
    NEXTS("0 0 ? * MON", "UTC", "2026-02-01T00:00:00Z", 1, "2026-02-02T00:00:00+00:00");
    NEXTS("0 0 1 * ?", "UTC", "2026-02-01T00:00:00Z", 1, "2026-03-01T00:00:00+00:00");
}

Test(calendar, last_days_weekdays_and_nth)
{
    NEXTS("0 0 L * *", "UTC", "2024-01-15T00:00:00Z", 5,
          "2024-01-31T00:00:00+00:00 2024-02-29T00:00:00+00:00 2024-03-31T00:00:00+00:00 "
          "2024-04-30T00:00:00+00:00 2024-05-31T00:00:00+00:00");
    NEXTS("0 0 L 2 *", "UTC", "2099-01-01T00:00:00Z", 2,
          "2099-02-28T00:00:00+00:00 2100-02-28T00:00:00+00:00"); /* 2100 is no leap year */
    NEXTS("0 0 L-3 * *", "UTC", "2024-01-15T00:00:00Z", 3,
          "2024-01-28T00:00:00+00:00 2024-02-26T00:00:00+00:00 2024-03-28T00:00:00+00:00");
    /* LW: Mar 31 2024 is a Sunday -> Fri 29; Aug 31 a Saturday -> Fri 30. */
    NEXTS("0 0 LW * *", "UTC", "2024-01-15T00:00:00Z", 3,
          "2024-01-31T00:00:00+00:00 2024-02-29T00:00:00+00:00 2024-03-29T00:00:00+00:00");
    NEXTS("0 0 LW 8 *", "UTC", "2024-01-15T00:00:00Z", 1, "2024-08-30T00:00:00+00:00");
    /* nW: the 15th of June 2024 is a Saturday -> Fri 14; of Sep 2024 a Sunday -> Mon 16. */
    NEXTS("0 0 15W 6,9 *", "UTC", "2024-01-01T00:00:00Z", 2,
          "2024-06-14T00:00:00+00:00 2024-09-16T00:00:00+00:00");
    /* 1W never leaves the month: Sat 1 June 2024 -> Mon 3. */
    NEXTS("0 0 1W 6 *", "UTC", "2024-01-01T00:00:00Z", 1, "2024-06-03T00:00:00+00:00");
    /* 30W in a 30-day month whose 30th is a Sunday (June 2024) -> Fri 28. */
    NEXTS("0 0 30W 6 *", "UTC", "2024-01-01T00:00:00Z", 1, "2024-06-28T00:00:00+00:00");
    /* 31W: only in months with a 31st (Feb-Apr skipped). */
    NEXTS("0 0 31W * *", "UTC", "2024-01-01T00:00:00Z", 3,
          "2024-01-31T00:00:00+00:00 2024-03-29T00:00:00+00:00 2024-05-31T00:00:00+00:00");
    /* d#n and dL. */
    NEXTS("0 0 * * FRI#2", "UTC", "2026-01-01T00:00:00Z", 3,
          "2026-01-09T00:00:00+00:00 2026-02-13T00:00:00+00:00 2026-03-13T00:00:00+00:00");
    NEXTS("0 0 * * 5#3,1#1", "UTC", "2026-01-01T00:00:00Z", 3,
          "2026-01-05T00:00:00+00:00 2026-01-16T00:00:00+00:00 2026-02-02T00:00:00+00:00");
    NEXTS("0 0 * * 0#5", "UTC", "2026-01-01T00:00:00Z", 2,
          "2026-03-29T00:00:00+00:00 2026-05-31T00:00:00+00:00");
    NEXTS("0 0 * * 7#5", "UTC", "2026-01-01T00:00:00Z", 1, "2026-03-29T00:00:00+00:00");
    NEXTS("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z", 3,
          "2026-01-30T00:00:00+00:00 2026-02-27T00:00:00+00:00 2026-03-27T00:00:00+00:00");
    NEXTS("0 0 * 2 MON#5", "UTC", "2000-01-01T00:00:00Z", 1, "2016-02-29T00:00:00+00:00");
}

Test(calendar, seconds_steps_and_boundaries)
{
    NEXTS("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 4,
          "2026-01-01T00:00:20+00:00 2026-01-01T00:00:40+00:00 2026-01-01T00:01:00+00:00 "
          "2026-01-01T00:01:20+00:00");
    /* Strictly after: from a fire time exactly, and from the second before it. */
    NEXTS("0 9 * * *", "UTC", "2026-01-01T09:00:00Z", 1, "2026-01-02T09:00:00+00:00");
    NEXTS("0 9 * * *", "UTC", "2026-01-01T08:59:59Z", 1, "2026-01-01T09:00:00+00:00");
    NEXTS("30 59 23 31 12 *", "UTC", "2026-12-31T23:59:29Z", 2,
          "2026-12-31T23:59:30+00:00 2027-12-31T23:59:30+00:00");
    /* Month ends and the leap day. */
    NEXTS("0 0 29 2 *", "UTC", "2024-02-29T00:00:00Z", 2,
          "2028-02-29T00:00:00+00:00 2032-02-29T00:00:00+00:00");
    NEXTS("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", 1, "2104-02-29T00:00:00+00:00");
    NEXTS("59 23 31 * *", "UTC", "2026-01-31T23:59:00Z", 2,
          "2026-03-31T23:59:00+00:00 2026-05-31T23:59:00+00:00");
    /* Fractions of a second in --from: strictly after still holds. */
    NEXTS("* * * * * *", "UTC", "2026-01-01T00:00:00.5Z", 1, "2026-01-01T00:00:01+00:00");
    /* The calendar's end. */
    NEXTS("0 0 1 1 *", "UTC", "9998-06-01T00:00:00Z", 2, "9999-01-01T00:00:00+00:00 none");
    cal_cron c = cron("* * * * *");
    cal_zone *z = zone("UTC");
    int64_t t;
    cr_assert_eq(cal_next(&c, z, CAL_T_MAX + 1, &t), CAL_RANGE);
    cr_assert_eq(cal_next(&c, z, CAL_T_MIN - 1, &t), CAL_RANGE);
    cr_assert_eq(cal_next(&c, z, CAL_T_MIN, &t), CAL_OK);
    cr_assert_eq(t, CAL_T_MIN + 60);
    cal_zone_free(z);
}

/* ----------------------------------------------------------------- DST */

Test(calendar, berlin_spring_gap_fires_once_at_its_end)
{
    /* 2026-03-29: 02:00 CET -> 03:00 CEST; 02:00-02:59 does not exist. */
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", 3,
          "2026-03-29T03:00:00+02:00 2026-03-30T02:30:00+02:00 2026-03-31T02:30:00+02:00");
    /* Four slots in the gap: one fire. */
    NEXTS("*/15 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", 3,
          "2026-03-29T03:00:00+02:00 2026-03-30T02:00:00+02:00 2026-03-30T02:15:00+02:00");
    /* A slot in the gap and one at 03:00 itself: still one fire, then 03:30. */
    NEXTS("0,30 2,3 29 3 *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", 3,
          "2026-03-29T03:00:00+02:00 2026-03-29T03:30:00+02:00 2027-03-29T02:00:00+02:00");
    /* Seconds in the gap too. */
    NEXTS("*/10 30 2 * * *", "Europe/Berlin", "2026-03-29T01:59:59+01:00", 2,
          "2026-03-29T03:00:00+02:00 2026-03-30T02:30:00+02:00");
    /* Boundaries: after the gap's fire itself, and the second before it. */
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-03-29T03:00:00+02:00", 1,
          "2026-03-30T02:30:00+02:00");
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-03-29T01:59:59+01:00", 1,
          "2026-03-29T03:00:00+02:00");
    /* Every minute across the gap: 01:59 then 03:00, nothing missing, nothing twice. */
    NEXTS("* * * * *", "Europe/Berlin", "2026-03-29T01:58:00+01:00", 3,
          "2026-03-29T01:59:00+01:00 2026-03-29T03:00:00+02:00 2026-03-29T03:01:00+02:00");
}

Test(calendar, berlin_autumn_repeat_fires_at_first_occurrence)
{
    /* 2026-10-25: 03:00 CEST -> 02:00 CET; 02:00-02:59 happens twice. */
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00", 3,
          "2026-10-25T02:30:00+02:00 2026-10-26T02:30:00+01:00 2026-10-27T02:30:00+01:00");
    NEXTS("*/30 * * * *", "Europe/Berlin", "2026-10-25T01:00:00+02:00", 5,
          "2026-10-25T01:30:00+02:00 2026-10-25T02:00:00+02:00 2026-10-25T02:30:00+02:00 "
          "2026-10-25T03:00:00+01:00 2026-10-25T03:30:00+01:00");
    /* From inside the repeated hour (second showing): its slots already fired. */
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-10-25T02:15:00+01:00", 1,
          "2026-10-26T02:30:00+01:00");
    NEXTS("*/30 * * * *", "Europe/Berlin", "2026-10-25T02:15:00+01:00", 2,
          "2026-10-25T03:00:00+01:00 2026-10-25T03:30:00+01:00");
    /* Boundaries: at the first showing exactly, one second before it. */
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-10-25T02:30:00+02:00", 1,
          "2026-10-26T02:30:00+01:00");
    NEXTS("30 2 * * *", "Europe/Berlin", "2026-10-25T02:29:59+02:00", 1,
          "2026-10-25T02:30:00+02:00");
    /* The last second before the change, and the change itself. */
    NEXTS("* * * * * *", "Europe/Berlin", "2026-10-25T02:59:58+02:00", 2,
          "2026-10-25T02:59:59+02:00 2026-10-25T03:00:00+01:00");
}

Test(calendar, new_york_both_changes)
{
    /* 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST. */
    NEXTS("30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 2,
          "2026-03-08T03:00:00-04:00 2026-03-09T02:30:00-04:00");
    NEXTS("30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", 2,
          "2026-11-01T01:30:00-04:00 2026-11-02T01:30:00-05:00");
    NEXTS("0 9 * * MON-FRI", "America/New_York", "2026-03-06T10:00:00-05:00", 2,
          "2026-03-09T09:00:00-04:00 2026-03-10T09:00:00-04:00");
}

Test(calendar, lord_howe_half_hour_dst)
{
    /* 2026-10-04 02:00 +10:30 -> 02:30 +11:00; 2026-04-05 02:00 +11:00 -> 01:30 +10:30. */
    NEXTS("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30", 2,
          "2026-10-04T02:30:00+11:00 2026-10-05T02:15:00+11:00");
    NEXTS("*/10 2 * * *", "Australia/Lord_Howe", "2026-10-04T01:55:00+10:30", 3,
          "2026-10-04T02:30:00+11:00 2026-10-04T02:40:00+11:00 2026-10-04T02:50:00+11:00");
    NEXTS("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00", 2,
          "2026-04-05T01:45:00+11:00 2026-04-06T01:45:00+10:30");
    NEXTS("*/15 1 5 4 *", "Australia/Lord_Howe", "2026-04-05T01:20:00+11:00", 3,
          "2026-04-05T01:30:00+11:00 2026-04-05T01:45:00+11:00 2027-04-05T01:00:00+10:30");
}

Test(calendar, chatham_quarter_hour_offsets)
{
    /* 2026-09-27 02:45 +12:45 -> 03:45 +13:45; 2026-04-05 03:45 +13:45 -> 02:45 +12:45. */
    NEXTS("0 3 * * *", "Pacific/Chatham", "2026-09-26T12:00:00+12:45", 2,
          "2026-09-27T03:45:00+13:45 2026-09-28T03:00:00+13:45");
    NEXTS("50 2 * * *", "Pacific/Chatham", "2026-09-26T12:00:00+12:45", 1,
          "2026-09-27T03:45:00+13:45");
    NEXTS("0 3 * * *", "Pacific/Chatham", "2026-04-04T12:00:00+13:45", 2,
          "2026-04-05T03:00:00+13:45 2026-04-06T03:00:00+12:45");
}

Test(calendar, dublin_negative_dst_kolkata_and_utc)
{
    /* tzdata gives Dublin winter time as the DST (GMT, isdst) and IST as standard. */
    NEXTS("30 1 * * *", "Europe/Dublin", "2026-03-28T12:00:00Z", 2,
          "2026-03-29T02:00:00+01:00 2026-03-30T01:30:00+01:00");
    NEXTS("30 1 * * *", "Europe/Dublin", "2026-10-24T12:00:00+01:00", 2,
          "2026-10-25T01:30:00+01:00 2026-10-26T01:30:00+00:00");
    NEXTS("30 1 * * *", "Europe/Dublin", "2040-03-24T12:00:00Z", 2,
          "2040-03-25T02:00:00+01:00 2040-03-26T01:30:00+01:00");
    NEXTS("0 9 * * *", "Asia/Kolkata", "2026-03-29T00:00:00Z", 2,
          "2026-03-29T09:00:00+05:30 2026-03-30T09:00:00+05:30");
    NEXTS("30 2 29 3 *", "UTC", "2026-03-01T00:00:00Z", 1, "2026-03-29T02:30:00+00:00");
    NEXTS("30 2 29 3 *", "+05:30", "2026-03-01T00:00:00Z", 1, "2026-03-29T02:30:00+05:30");
    NEXTS("30 2 29 3 *", "-03:00", "2026-03-01T00:00:00Z", 1, "2026-03-29T02:30:00-03:00");
}

Test(calendar, past_the_table_the_footer_rule_holds)
{
    /* Debian's zone files list transitions up to 2037; later ones come from the footer. */
    NEXTS("30 2 * * *", "Europe/Berlin", "2040-03-24T12:00:00+01:00", 2,
          "2040-03-25T03:00:00+02:00 2040-03-26T02:30:00+02:00");
    NEXTS("30 2 * * *", "Europe/Berlin", "2040-10-27T12:00:00+02:00", 2,
          "2040-10-28T02:30:00+02:00 2040-10-29T02:30:00+01:00");
    NEXTS("30 2 * * *", "America/New_York", "2099-03-07T12:00:00-05:00", 2,
          "2099-03-08T03:00:00-04:00 2099-03-09T02:30:00-04:00");
    NEXTS("15 2 * * *", "Australia/Lord_Howe", "2050-10-01T12:00:00+10:30", 2,
          "2050-10-02T02:30:00+11:00 2050-10-03T02:15:00+11:00");
    NEXTS("0 3 * * *", "Pacific/Chatham", "2045-09-23T12:00:00+12:45", 1,
          "2045-09-24T03:45:00+13:45");
}

Test(calendar, results_do_not_depend_on_the_process_tz)
{
    const char *want = "2026-03-29T03:00:00+02:00 2026-03-30T02:30:00+02:00";
    const char *tzs[] = { "Pacific/Chatham", "America/New_York", "UTC", "Europe/Berlin" };
    for (size_t i = 0; i < sizeof tzs / sizeof tzs[0]; i++) {
        setenv("TZ", tzs[i], 1);
        tzset();
        NEXTS("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", 2, want);
    }
}

/* --------------------------------------------------------------- zones */

Test(calendar, zone_spans_and_offsets)
{
    cal_zone *z = zone("Europe/Berlin");
    cal_span s;
    int64_t t = instant("2026-03-29T01:00:00Z"); /* the change itself */
    cal_zone_span(z, t, &s);
    cr_assert_eq(s.start, t);
    cr_assert_eq(s.utoff, 7200);
    cr_assert(s.isdst);
    cr_assert_str_eq(s.abbr, "CEST");
    cr_assert_eq(s.end, instant("2026-10-25T01:00:00Z"));
    cal_zone_span(z, t - 1, &s);
    cr_assert_eq(s.utoff, 3600);
    cr_assert_str_eq(s.abbr, "CET");
    cr_assert_eq(s.end, t);
    /* Past the table: the footer's spans, the same shape. */
    t = instant("2040-03-25T01:00:00Z");
    cal_zone_span(z, t, &s);
    cr_assert_eq(s.start, t);
    cr_assert_eq(s.end, instant("2040-10-28T01:00:00Z"));
    cr_assert_str_eq(s.abbr, "CEST");
    cal_zone_span(z, t - 1, &s);
    cr_assert_eq(s.utoff, 3600);
    cr_assert_eq(s.end, t);
    /* Before 1893: local mean time, printed with its seconds. */
    char iso[CAL_ISO_MAX];
    cr_assert_str_eq(cal_format_iso(z, instant("1880-01-01T00:00:00Z"), iso),
                     "1880-01-01T00:53:28+00:53:28");
    cr_assert_str_eq(cal_zone_name(z), "Europe/Berlin");
    cal_zone_free(z);

    z = zone("Europe/Dublin");
    cal_zone_span(z, instant("2030-01-15T00:00:00Z"), &s);
    cr_assert_eq(s.utoff, 0);
    cr_assert(s.isdst, "negative DST: winter is the daylight time");
    cr_assert_str_eq(s.abbr, "GMT");
    cal_zone_span(z, instant("2045-07-15T00:00:00Z"), &s);
    cr_assert_eq(s.utoff, 3600);
    cr_assert_not(s.isdst);
    cr_assert_str_eq(s.abbr, "IST");
    cal_zone_free(z);
    cal_zone_free(NULL);
}

Test(calendar, fixed_offsets_and_names)
{
    char err[512];
    cal_zone *z = NULL;
    const char *ok[][2] = { { "+05:30", "19800" }, { "-03:00", "-10800" }, { "+14", "50400" },
                            { "-00:00", "0" },     { "+23:59", "86340" },  { "UTC", "0" } };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(cal_zone_open(ok[i][0], "/nonexistent", &z, err, sizeof err), 0, "%s: %s",
                     ok[i][0], err);
        cr_assert_eq(cal_zone_offset(z, 0), atoi(ok[i][1]), "%s", ok[i][0]);
        cr_assert_str_eq(cal_zone_name(z), ok[i][0]);
        cal_zone_free(z);
    }
    const char *bad[][2] = {
        { "+24:00", "a fixed offset is +HH:MM" }, { "+5:30", "a fixed offset" },
        { "+05:60", "a fixed offset" },           { "+0530", "a fixed offset" },
        { "Z", "unknown time zone 'Z': write UTC" },
        { "../../etc/passwd", "unknown time zone '../../etc/passwd': a zone name is like" },
        { "/etc/localtime", "a zone name is like" },
        { "Europe/../Europe/Berlin", "a zone name is like" },
        { "Europe//Berlin", "a zone name is like" },
        { "Europe/Berlin/", "a zone name is like" },
        { ".hidden", "a zone name is like" },
        { "Europe/Ber lin", "a zone name is like" },
        { "", "a zone name is like" },
        { "Europe/Berln", "unknown time zone 'Europe/Berln' (no such zone file " },
        { "Europe", "unknown time zone 'Europe' (no such zone file" },
        { "zone.tab", "time zone 'zone.tab': /usr/share/zoneinfo/zone.tab: not a compiled zone file" },
        { "right/Europe/Berlin", "it counts leap seconds" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        z = (cal_zone *)1;
        cr_assert_eq(cal_zone_open(bad[i][0], "/usr/share/zoneinfo", &z, err, sizeof err), -1,
                     "%s", bad[i][0]);
        cr_assert_null(z);
        cr_assert(strstr(err, bad[i][1]), "%s:\n got  %s\n want %s", bad[i][0], err, bad[i][1]);
    }
    /* The name alone is long: 256 characters are refused before any lookup. */
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    cr_assert_eq(cal_zone_open(longname, NULL, &z, err, sizeof err), -1);
}

/* ---------------------------------------------- planted TZif files */

static void put32(unsigned char **p, uint32_t v)
{
    (*p)[0] = (unsigned char)(v >> 24); (*p)[1] = (unsigned char)(v >> 16);
    (*p)[2] = (unsigned char)(v >> 8);  (*p)[3] = (unsigned char)v;
    *p += 4;
}

static void put64(unsigned char **p, int64_t v)
{
    put32(p, (uint32_t)((uint64_t)v >> 32));
    put32(p, (uint32_t)v);
}

/*
 * A version 2 TZif file in buf: transitions trans (ntrans, each to type
 * idx[i]) and types (utoff, isdst, abbreviation), then footer. The version 1
 * block carries nothing (as zic -b slim writes it). Returns its length.
 */
static size_t tzif(unsigned char *buf, const int64_t *trans, const uint8_t *idx, int ntrans,
                   const int32_t *utoff, const uint8_t *isdst, const char *const *abbr, int ntypes,
                   const char *footer)
{
    unsigned char *p = buf;
    char chars[64];
    size_t nchars = 0, ai[8];
    for (int i = 0; i < ntypes; i++) {
        ai[i] = nchars;
        strcpy(chars + nchars, abbr[i]);
        nchars += strlen(abbr[i]) + 1;
    }
    /* v1 header: one type, one char (minimal valid block). */
    memcpy(p, "TZif2", 5); memset(p + 5, 0, 15); p += 20;
    put32(&p, 0); put32(&p, 0); put32(&p, 0); put32(&p, 0); put32(&p, 1); put32(&p, 1);
    put32(&p, 0); *p++ = 0; *p++ = 0; *p++ = 0;   /* ttinfo: 0, not dst, abbr 0 */
    /* v2 */
    memcpy(p, "TZif2", 5); memset(p + 5, 0, 15); p += 20;
    put32(&p, 0); put32(&p, 0); put32(&p, 0); put32(&p, (uint32_t)ntrans);
    put32(&p, (uint32_t)ntypes); put32(&p, (uint32_t)nchars);
    for (int i = 0; i < ntrans; i++)
        put64(&p, trans[i]);
    for (int i = 0; i < ntrans; i++)
        *p++ = idx[i];
    for (int i = 0; i < ntypes; i++) {
        put32(&p, (uint32_t)utoff[i]);
        *p++ = isdst[i];
        *p++ = (unsigned char)ai[i];
    }
    memcpy(p, chars, nchars);
    p += nchars;
    *p++ = '\n';
    memcpy(p, footer, strlen(footer));
    p += strlen(footer);
    *p++ = '\n';
    return (size_t)(p - buf);
}

static char *plant(const char *dir, const char *name, const unsigned char *buf, size_t len)
{
    char *root = th_path(th_tmpdir(), dir), *cmd = NULL;
    cr_assert_neq(asprintf(&cmd, "mkdir -p '%s/Test'", root), -1);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
    char *path = th_path(root, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(path);
    return root;
}

Test(calendar, planted_zone_with_quoted_names_and_julian_rules)
{
    /*
     * A zone like Tehran before 2022: one transition (1979, to +03:30), then
     * the rule <+0330>-3:30<+0430>,J79/24,J263/24: DST from the end of
     * March 20 (J79 at 24:00 = March 21 00:00) to the end of September 21,
     * February 29 never counted.
     */
    unsigned char buf[1024];
    int64_t trans[] = { 283996800 }; /* 1979-01-01T00:00Z */
    uint8_t idx[] = { 1 };
    int32_t off[] = { 12344, 12600 };
    uint8_t dst[] = { 0, 0 };
    const char *ab[] = { "LMT", "+0330" };
    size_t len = tzif(buf, trans, idx, 1, off, dst, ab, 2, "<+0330>-3:30<+0430>,J79/24,J263/24");
    char *root = plant("tzplant", "Test/Tehran", buf, len);

    char err[512];
    cal_zone *z;
    cr_assert_eq(cal_zone_open("Test/Tehran", root, &z, err, sizeof err), 0, "%s", err);
    char iso[CAL_ISO_MAX];
    cr_assert_str_eq(cal_format_iso(z, 0, iso), "1970-01-01T03:25:44+03:25:44");
    /* 2024 (leap): J79 is still March 20; the change at its 24:00, i.e. March 21 00:00. */
    cr_assert_str_eq(cal_format_iso(z, instant("2024-03-20T20:29:59Z"), iso),
                     "2024-03-20T23:59:59+03:30");
    cr_assert_str_eq(cal_format_iso(z, instant("2024-03-20T20:30:00Z"), iso),
                     "2024-03-21T01:00:00+04:30");
    cal_span s;
    cal_zone_span(z, instant("2024-06-01T00:00:00Z"), &s);
    cr_assert_str_eq(s.abbr, "+0430");
    cr_assert(s.isdst);
    /* The end: J263 is September 20 (leap year or not), 24:00 in daylight time. */
    cr_assert_eq(s.end, instant("2024-09-21T00:00:00+04:30"));
    cal_zone_free(z);

    /* The same through $TZDIR (tzdir NULL), as glibc reads it. */
    setenv("TZDIR", root, 1);
    cr_assert_eq(cal_zone_open("Test/Tehran", NULL, &z, err, sizeof err), 0, "%s", err);
    NEXTS("30 0 21 3 *", "Test/Tehran", "2024-03-01T00:00:00Z", 1, "2024-03-21T01:00:00+04:30");
    cal_zone_free(z);
    unsetenv("TZDIR");
    free(root);
}

Test(calendar, planted_zone_all_year_dst_and_negative_times)
{
    /* RFC 8536's example of DST all year: EST5EDT,0/0,J365/25 stays EDT. */
    unsigned char buf[1024];
    int32_t off[] = { -18000 };
    uint8_t dst[] = { 0 };
    const char *ab[] = { "EST" };
    size_t len = tzif(buf, NULL, NULL, 0, off, dst, ab, 1, "EST5EDT,0/0,J365/25");
    char *root = plant("tzplant2", "Test/AllDST", buf, len);
    char err[512];
    cal_zone *z;
    cr_assert_eq(cal_zone_open("Test/AllDST", root, &z, err, sizeof err), 0, "%s", err);
    for (int64_t t = instant("2023-12-30T00:00:00Z"); t < instant("2025-01-03T00:00:00Z"); t += 3 * 3600 + 7)
        cr_assert_eq(cal_zone_offset(z, t), -14400, "at %lld", (long long)t);
    cal_zone_free(z);
    free(root);

    /* Greenland's current rule: changes at -01:00 and 00:00 local time. */
    len = tzif(buf, NULL, NULL, 0, (int32_t[]){ -7200 }, (uint8_t[]){ 0 },
               (const char *const[]){ "-02" }, 1, "<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    root = plant("tzplant3", "Test/Nuuk", buf, len);
    cr_assert_eq(cal_zone_open("Test/Nuuk", root, &z, err, sizeof err), 0, "%s", err);
    char iso[CAL_ISO_MAX];
    /* Last Sunday of March 2026 is the 29th: at -01:00 that day = Sat 28th 23:00 -02 = 01:00Z. */
    cr_assert_str_eq(cal_format_iso(z, instant("2026-03-29T00:59:59Z"), iso),
                     "2026-03-28T22:59:59-02:00");
    cr_assert_str_eq(cal_format_iso(z, instant("2026-03-29T01:00:00Z"), iso),
                     "2026-03-29T00:00:00-01:00");
    cal_zone_free(z);
    free(root);
}

Test(calendar, planted_version_1_zone)
{
    /* Version 1 only (no 64-bit data, no footer): 32-bit transitions, the last type holds. */
    unsigned char buf[256], *p = buf;
    memcpy(p, "TZif", 4); memset(p + 4, 0, 16); p += 20;
    put32(&p, 0); put32(&p, 0); put32(&p, 0); put32(&p, 1); put32(&p, 2); put32(&p, 8);
    put32(&p, (uint32_t)-86400);                 /* 1969-12-31: to type 1 */
    *p++ = 1;
    put32(&p, 3600); *p++ = 0; *p++ = 0;         /* type 0: +01:00 "ONE" */
    put32(&p, 7200); *p++ = 1; *p++ = 4;         /* type 1: +02:00 "TWO", DST */
    memcpy(p, "ONE\0TWO\0", 8); p += 8;
    char *root = plant("tzv1", "Test/V1", buf, (size_t)(p - buf)), err[512];
    cal_zone *z;
    cr_assert_eq(cal_zone_open("Test/V1", root, &z, err, sizeof err), 0, "%s", err);
    cal_span s;
    cal_zone_span(z, -86401, &s);
    cr_assert_eq(s.utoff, 3600);
    cr_assert_str_eq(s.abbr, "ONE");
    cal_zone_span(z, 4000000000LL, &s);
    cr_assert_eq(s.utoff, 7200);
    cr_assert_str_eq(s.abbr, "TWO");
    cr_assert_eq(s.start, -86400);
    cr_assert_eq(s.end, INT64_MAX);
    cal_zone_free(z);
    free(root);
}

Test(calendar, corrupt_zone_files_are_refused)
{
    unsigned char buf[1024];
    int64_t trans[] = { 0, 100 };
    uint8_t idx[] = { 0, 1 };
    int32_t off[] = { 0, 3600 };
    uint8_t dst[] = { 0, 1 };
    const char *ab[] = { "AAA", "BBB" };
    char err[512];
    cal_zone *z;
    size_t len = tzif(buf, trans, idx, 2, off, dst, ab, 2, "AAA0");
    char *root = plant("tzbad", "Test/Good", buf, len);
    cr_assert_eq(cal_zone_open("Test/Good", root, &z, err, sizeof err), 0, "%s", err);
    cal_zone_free(z);
    free(root);

    /* Every truncation of a valid file is refused, none crashes. */
    for (size_t cut = 0; cut < len - 1; cut++) {
        root = plant("tzbad", "Test/Cut", buf, cut);
        cr_assert_eq(cal_zone_open("Test/Cut", root, &z, err, sizeof err), -1, "cut at %zu", cut);
        cr_assert(strstr(err, "time zone 'Test/Cut'"), "%s", err);
        free(root);
    }
    /* Transitions out of order, a type index out of range, an absurd offset, a bad footer. */
    struct { const char *what; int64_t t1; uint8_t i1; int32_t o1; const char *footer; } bad[] = {
        { "out of order", -5, 1, 3600, "AAA0" },
        { "type index", 100, 7, 3600, "AAA0" },
        { "type 1 out of range", 100, 1, 100000, "AAA0" },
        { "cannot be read", 100, 1, 3600, "AAA0BBB" },
        { "cannot be read", 100, 1, 3600, "A0" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t tr[] = { 0, bad[i].t1 };
        uint8_t ix[] = { 0, bad[i].i1 };
        int32_t of[] = { 0, bad[i].o1 };
        len = tzif(buf, tr, ix, 2, of, dst, ab, 2, bad[i].footer);
        root = plant("tzbad", "Test/Bad", buf, len);
        cr_assert_eq(cal_zone_open("Test/Bad", root, &z, err, sizeof err), -1, "%s", bad[i].what);
        cr_assert(strstr(err, bad[i].what), "%s: %s", bad[i].what, err);
        free(root);
    }
}

/* ---------------------------------------------------- POSIX TZ strings */

Test(calendar, posix_rules)
{
    cal_posix p;
    char err[256];
    cr_assert_eq(cal_posix_parse("CET-1CEST,M3.5.0,M10.5.0/3", &p, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(p.std_abbr, "CET");
    cr_assert_str_eq(p.dst_abbr, "CEST");
    cr_assert_eq(p.std_off, 3600);
    cr_assert_eq(p.dst_off, 7200);
    cr_assert_eq(p.start.kind, 'M');
    cr_assert_eq(p.start.time, 7200);
    cr_assert_eq(p.end.time, 3 * 3600);
    int64_t st, en;
    cal_posix_year(&p, 2040, &st, &en);
    cr_assert_eq(st, instant("2040-03-25T01:00:00Z"));
    cr_assert_eq(en, instant("2040-10-28T01:00:00Z"));

    cr_assert_eq(cal_posix_parse("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", &p, err, sizeof err), 0,
                 "%s", err);
    cr_assert_str_eq(p.std_abbr, "+1030");
    cr_assert_eq(p.std_off, 37800);
    cr_assert_eq(p.dst_off, 39600);
    cal_posix_year(&p, 2026, &st, &en);
    cr_assert_eq(st, instant("2026-10-04T02:00:00+10:30"));
    cr_assert_eq(en, instant("2026-04-05T02:00:00+11:00"));

    /* Hours past 24 and negative (RFC 8536 version 3), seconds, J and n days. */
    cr_assert_eq(cal_posix_parse("XXX3:30:15YYY,J60/26,59/-167:59:59", &p, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(p.std_off, -(3 * 3600 + 30 * 60 + 15));
    cr_assert_eq(p.dst_off, p.std_off + 3600);
    cr_assert_eq(p.start.time, 26 * 3600);
    cr_assert_eq(p.end.time, -(167 * 3600 + 59 * 60 + 59));
    cal_posix_year(&p, 2024, &st, &en); /* J60 = March 1 even in a leap year */
    cr_assert_eq(st, cal_days_from_civil(2024, 3, 1) * 86400 + 26 * 3600 - p.std_off);
    cal_posix_year(&p, 2024, &st, &en); /* n 59 = February 29 in a leap year */
    cr_assert_eq(en, cal_days_from_civil(2024, 2, 29) * 86400 - (167 * 3600 + 59 * 60 + 59) -
                     p.dst_off);
    cal_posix_year(&p, 2023, &st, &en);
    cr_assert_eq(en, cal_days_from_civil(2023, 3, 1) * 86400 - (167 * 3600 + 59 * 60 + 59) -
                     p.dst_off);
    /* M.5: the last such weekday; M.w with fewer weeks still inside the month. */
    cr_assert_eq(cal_posix_parse("AAA0BBB,M2.5.1,M12.5.6/0", &p, err, sizeof err), 0, "%s", err);
    cal_posix_year(&p, 2026, &st, &en);
    cr_assert_eq(st, instant("2026-02-23T02:00:00Z"));
    cr_assert_eq(en, instant("2026-12-26T00:00:00+01:00"));

    const char *bad[] = { "EST5EDT", "E5", "<+03", "<+3>-3", "EST25", "EST5EDT,M3.2.0",
                          "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0",
                          "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365", "EST5EDT,366,0",
                          "EST5EDT,M3.2.0/168,M11.1.0", "EST5EDT,M3.2.0,M11.1.0x", "EST5:60",
                          "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(cal_posix_parse(bad[i], &p, err, sizeof err), -1, "'%s' accepted", bad[i]);
}

/* ------------------------------------------------------- instants */

Test(calendar, instants_parse_and_format)
{
    char err[512];
    int64_t t;
    cr_assert_eq(instant("2026-03-29T01:30:00+01:00"), 1774744200);
    cr_assert_eq(instant("2026-03-29T00:30:00Z"), 1774744200);
    cr_assert_eq(instant("2026-03-29 00:30:00z"), 1774744200);
    cr_assert_eq(instant("2026-03-29T05:00:00+0430"), 1774744200);
    cr_assert_eq(instant("2026-03-28T22:30:00-02"), 1774744200);
    cr_assert_eq(instant("2026-03-29T00:30Z"), 1774744200);
    cr_assert_eq(instant("2026-03-29T00:30:00.999999Z"), 1774744200);
    cr_assert_eq(instant("@1774744200"), 1774744200);
    cr_assert_eq(instant("@-1"), -1);
    const char *bad[][2] = {
        { "2026-03-29T01:30:00", "has no offset" },
        { "2026-02-29T00:00:00Z", "no such date" },
        { "2026-13-01T00:00:00Z", "no such date" },
        { "2026-01-01T24:00:00Z", "no such date" },
        { "2026-01-01T00:00:60Z", "no such date" },
        { "2026-01-01T00:00:00+24:00", "offset out of range" },
        { "2026-1-01T00:00:00Z", "expected an ISO 8601 time" },
        { "2026-01-01T00:00:00Zjunk", "expected an ISO 8601 time" },
        { "2026-01-01T00:00:00.Z", "expected an ISO 8601 time" },
        { "@", "expected @ and Unix seconds" },
        { "@12x", "expected @ and Unix seconds" },
        { "@999999999999999", "expected @ and Unix seconds" },
        { "0000-06-01T00:00:00Z", "no such date" },
        { "tomorrow", "expected an ISO 8601 time" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cal_parse_instant(bad[i][0], &t, err, sizeof err), -1, "%s", bad[i][0]);
        cr_assert(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
    }
    cal_zone *z = zone("-03:00");
    char iso[CAL_ISO_MAX];
    cr_assert_str_eq(cal_format_iso(z, 1774744200, iso), "2026-03-28T21:30:00-03:00");
    cal_zone_free(z);
}

/* ------------------------------------------------------------- the CLI */

Test(calendar, cli_prints_the_next_fire_times)
{
    char *out, *err;
    const char *env[] = { "TZ=Pacific/Chatham", NULL };
    int rc = th_run_cli((const char *const[]){ "calendar", "30 2 * * *", "--zone", "Europe/Berlin",
                                               "--from", "2026-03-28T12:00:00+01:00", "-n", "3",
                                               NULL },
                        env, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(out, "2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n"
                          "2026-03-31T02:30:00+02:00\n");
    cr_assert_str_eq(err, "");
    free(out); free(err);

    /* Defaults: UTC, five lines, from now. */
    rc = th_run_cli((const char *const[]){ "calendar", "@hourly", NULL }, NULL, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    int lines = 0;
    for (char *s = out; (s = strchr(s, '\n')); s++)
        lines++;
    cr_assert_eq(lines, 5, "%s", out);
    cr_assert(strstr(out, ":00:00+00:00\n"), "%s", out);
    free(out); free(err);

    rc = th_run_cli((const char *const[]){ "calendar", "0 9 * * MON#1", "-z", "Asia/Kolkata", "-f",
                                           "@0", "-n", "1", "--json", NULL },
                    NULL, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "\"expression\": \"0 9 * * MON#1\""), "%s", out);
    cr_assert(strstr(out, "\"zone\": \"Asia/Kolkata\""), "%s", out);
    cr_assert(strstr(out, "\"at\": \"1970-01-05T09:00:00+05:30\""), "%s", out);
    cr_assert(strstr(out, "\"unix\": 358200"), "%s", out);
    cr_assert(strstr(out, "\"offset\": 19800"), "%s", out);
    free(out); free(err);
}

Test(calendar, cli_refusals_exit_2)
{
    struct { const char *args[8]; const char *want; } cases[] = {
        { { "calendar", "0 0 32 * *", NULL },
          "reconciler: calendar: column 5: day-of-month: 32 is out of range 1-31\n"
          "  0 0 32 * *\n      ^\n" },
        { { "calendar", "0 0 30 2 *", NULL }, "column 5: day-of-month: the expression never fires" },
        { { "calendar", "* * * * *", "--zone", "Mars/Olympus", NULL },
          "reconciler: calendar: --zone: unknown time zone 'Mars/Olympus'" },
        { { "calendar", "* * * * *", "--from", "2026-03-29T01:30:00", NULL },
          "reconciler: calendar: --from '2026-03-29T01:30:00' has no offset" },
        { { "calendar", "* * * * *", "-n", "0", NULL }, "-n '0': out of range 1-1000" },
        { { "calendar", "* * * * *", "-n", "1001", NULL }, "-n '1001': out of range 1-1000" },
        { { "calendar", "0", "9", "*", "*", "*", NULL }, "give the expression as one argument" },
        { { "calendar", NULL }, "the cron expression is missing" },
        { { "calendar", "* * * * *", "--bogus", NULL }, "Usage: reconciler calendar" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = th_run_cli(cases[i].args, NULL, &out, &err);
        cr_assert_eq(rc, 2, "case %zu: rc %d, %s", i, rc, err);
        cr_assert(strstr(err, cases[i].want), "case %zu:\n got  %s\n want %s", i, err, cases[i].want);
        cr_assert_str_eq(out, "");
        free(out); free(err);
    }
    /* The boundaries of -n, accepted. */
    const char *n1[] = { "calendar", "@daily", "-f", "@0", "-n", "1", NULL };
    const char *n1000[] = { "calendar", "@daily", "-f", "@0", "-n", "1000", NULL };
    char *out, *err;
    cr_assert_eq(th_run_cli(n1, NULL, &out, &err), 0, "%s", err);
    cr_assert_str_eq(out, "1970-01-02T00:00:00+00:00\n");
    free(out); free(err);
    cr_assert_eq(th_run_cli(n1000, NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "1972-09-27T00:00:00+00:00\n"), "the 1000th day");
    free(out); free(err);
    /* Help on stdout, exit 0; the command is in reconciler --help. */
    cr_assert_eq(th_run_cli((const char *const[]){ "calendar", "--help", NULL }, NULL, &out, &err), 0);
    cr_assert(strstr(out, "Usage: reconciler calendar EXPR"), "%s", out);
    free(out); free(err);
    cr_assert_eq(th_run_cli((const char *const[]){ "--help", NULL }, NULL, &out, &err), 0);
    cr_assert(strstr(out, "  calendar "), "%s", out);
    free(out); free(err);
}

Test(calendar, batch_mode_answers_each_line)
{
    char *in = th_path(th_tmpdir(), "batch.in"), *cmd = NULL, *outp = th_path(th_tmpdir(), "batch.out");
    th_write(in, "Europe/Berlin\t1774695600\t2\t30 2 * * *\n"
                 "UTC\t0\t1\t0 0 32 * *\n"
                 "UTC\t0\t1\t0 0 30 2 *\n"
                 "Nowhere/Zone\t0\t1\t* * * * *\n"
                 "UTC\tx\t1\t* * * * *\n"
                 "garbage\n"
                 "UTC\t253402041599\t3\t0 0 1 1 *\n");
    cr_assert_neq(asprintf(&cmd, "%s/reconciler __calendar-batch < '%s' > '%s'", th_build(), in, outp), -1);
    cr_assert_eq(system(cmd), 0);
    char *out = th_read(outp);
    cr_assert_str_eq(out, "ok 1774746000 1774830600\n"
                          "error 5 day-of-month: 32 is out of range 1-31\n"
                          "never 5 day-of-month: the expression never fires: no date has a matching "
                          "day of the month, month and day of the week (checked over the whole "
                          "400-year cycle of the Gregorian calendar)\n"
                          "fail unknown time zone 'Nowhere/Zone' (no such zone file "
                          "/usr/share/zoneinfo/Nowhere/Zone)\n"
                          "fail bad AFTER or N\n"
                          "fail expected ZONE<TAB>AFTER<TAB>N<TAB>EXPR\n"
                          "ok\n");
    free(out); free(cmd); free(in); free(outp);
}
