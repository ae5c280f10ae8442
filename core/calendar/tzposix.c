/* SPDX-License-Identifier: MIT */
/* tzposix.c - POSIX TZ strings of TZif footers (tzposix.h). */
#include "calendar/tzposix.h"
#include "calendar/civil.h"

#include <stdio.h>
#include <string.h>

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* An abbreviation: 3+ letters, or <3+ letters, digits, '+', '-'>. */
static int parse_abbr(const char **sp, char *out, char *err, size_t errlen)
{
    const char *s = *sp, *b, *e;
    if (*s == '<') {
        b = ++s;
        while (is_alpha(*s) || is_digit(*s) || *s == '+' || *s == '-')
            s++;
        if (*s != '>') {
            snprintf(err, errlen, "unterminated <abbreviation> at '%s'", b - 1);
            return -1;
        }
        e = s++;
    } else {
        b = s;
        while (is_alpha(*s))
            s++;
        e = s;
    }
    if (e - b < 3 || e - b >= CAL_ABBR_MAX) {
        snprintf(err, errlen, "a zone abbreviation needs 3 to %d characters at '%s'",
                 CAL_ABBR_MAX - 1, *sp);
        return -1;
    }
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
    *sp = s;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; seconds (sign applied). */
static int parse_hms(const char **sp, int maxh, int32_t *out, char *err, size_t errlen)
{
    const char *s = *sp;
    int sign = 1, part[3] = { 0, 0, 0 }, n = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    for (;;) {
        if (!is_digit(*s)) {
            snprintf(err, errlen, "expected a number at '%s'", s);
            return -1;
        }
        int v = 0, digits = 0;
        while (is_digit(*s) && digits < 4) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (is_digit(*s) || (n == 0 && v > maxh) || (n > 0 && (digits != 2 || v > 59))) {
            snprintf(err, errlen, "time or offset out of range at '%s'", *sp);
            return -1;
        }
        part[n++] = v;
        if (n == 3 || *s != ':')
            break;
        s++;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    *sp = s;
    return 0;
}

static int parse_num(const char **sp, int lo, int hi, int *out, char *err, size_t errlen)
{
    const char *s = *sp;
    int v = 0, digits = 0;
    while (is_digit(*s) && digits < 4) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits || is_digit(*s) || v < lo || v > hi) {
        snprintf(err, errlen, "expected a number from %d to %d at '%s'", lo, hi, *sp);
        return -1;
    }
    *out = v;
    *sp = s;
    return 0;
}

static int parse_date(const char **sp, cal_rule_date *r, char *err, size_t errlen)
{
    const char *s = *sp;
    memset(r, 0, sizeof *r);
    if (*s == 'J') {
        s++;
        r->kind = 'J';
        if (parse_num(&s, 1, 365, &r->day, err, errlen))
            return -1;
    } else if (*s == 'M') {
        s++;
        r->kind = 'M';
        if (parse_num(&s, 1, 12, &r->m, err, errlen))
            return -1;
        if (*s++ != '.' || parse_num(&s, 1, 5, &r->w, err, errlen))
            goto bad;
        if (*s++ != '.' || parse_num(&s, 0, 6, &r->d, err, errlen))
            goto bad;
    } else {
        r->kind = 'N';
        if (parse_num(&s, 0, 365, &r->day, err, errlen))
            return -1;
    }
    r->time = 2 * 3600;
    if (*s == '/') {
        s++;
        if (parse_hms(&s, 167, &r->time, err, errlen))
            return -1;
    }
    *sp = s;
    return 0;
bad:
    snprintf(err, errlen, "expected Mm.w.d at '%s'", *sp);
    return -1;
}

int cal_posix_parse(const char *s, cal_posix *p, char *err, size_t errlen)
{
    int32_t off;
    memset(p, 0, sizeof *p);
    if (parse_abbr(&s, p->std_abbr, err, errlen) || parse_hms(&s, 24, &off, err, errlen))
        return -1;
    p->std_off = -off;
    p->dst_off = p->std_off;
    if (*s == '\0')
        return 0;
    if (parse_abbr(&s, p->dst_abbr, err, errlen))
        return -1;
    p->has_dst = 1;
    p->dst_off = p->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (parse_hms(&s, 24, &off, err, errlen))
            return -1;
        p->dst_off = -off;
    }
    if (*s != ',') {
        snprintf(err, errlen, "daylight time %s without a rule (,start,end)", p->dst_abbr);
        return -1;
    }
    s++;
    if (parse_date(&s, &p->start, err, errlen))
        return -1;
    if (*s++ != ',') {
        snprintf(err, errlen, "expected ',' and the end of daylight time");
        return -1;
    }
    if (parse_date(&s, &p->end, err, errlen))
        return -1;
    if (*s) {
        snprintf(err, errlen, "unexpected '%s' after the rule", s);
        return -1;
    }
    return 0;
}

/* The day number (days since 1970-01-01) a rule date falls on in year. */
static int64_t rule_day(const cal_rule_date *r, int64_t year)
{
    int64_t jan1 = cal_days_from_civil(year, 1, 1);
    if (r->kind == 'J') /* February 29 is never counted: J60 is always March 1 */
        return jan1 + r->day - 1 + (cal_is_leap(year) && r->day >= 60);
    if (r->kind == 'N')
        return jan1 + r->day;
    int64_t first = cal_days_from_civil(year, r->m, 1);
    int64_t day = first + (r->d - cal_weekday(first) + 7) % 7 + 7 * (r->w - 1);
    while (day >= first + cal_days_in_month(year, r->m)) /* week 5: the last such weekday */
        day -= 7;
    return day;
}

void cal_posix_year(const cal_posix *p, int64_t year, int64_t *start, int64_t *end)
{
    /* The start is given in standard time, the end in daylight time. */
    *start = rule_day(&p->start, year) * 86400 + p->start.time - p->std_off;
    *end = rule_day(&p->end, year) * 86400 + p->end.time - p->dst_off;
}
