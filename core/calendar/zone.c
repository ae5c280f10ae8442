/* SPDX-License-Identifier: MIT */
/*
 * zone.c - looking up a zone's offset at an instant (its table of
 * transitions, then its POSIX rule), fixed-offset zones, and instants as
 * ISO 8601 text and back. Pure: zones are built from files in tzfile.c.
 */
#include "calendar/zone_impl.h"
#include "calendar/civil.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cal_zone *zone_new_fixed(char *name, int32_t utoff, const char *abbr)
{
    cal_zone *z = xcalloc(1, sizeof *z);
    z->name = name;
    z->ntypes = 1;
    z->types = xcalloc(1, sizeof *z->types);
    z->abbrs = xstrdup(abbr);
    z->types[0].utoff = utoff;
    z->types[0].abbr = z->abbrs;
    return z;
}

static void offset_text(int32_t off, char *out, size_t outlen, int seconds)
{
    int32_t a = off < 0 ? -off : off;
    if (seconds && a % 60)
        snprintf(out, outlen, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60, a % 60);
    else
        snprintf(out, outlen, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

cal_zone *cal_zone_fixed(int32_t utoff, const char *name)
{
    char text[16];
    offset_text(utoff, text, sizeof text, 1);
    return zone_new_fixed(xstrdup(name ? name : text), utoff, name ? name : text);
}

void cal_zone_free(cal_zone *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z->abbrs);
    free(z);
}

const char *cal_zone_name(const cal_zone *z)
{
    return z->name;
}

static void set_type(cal_span *s, const cal_ttype *t)
{
    s->utoff = t->utoff;
    s->isdst = t->isdst;
    s->abbr = t->abbr;
}

/*
 * The rule's span holding t, clipped to start no earlier than floor (the
 * last transition of the table). The changes of the years around t's are
 * merged in time order; at equal instants an end sorts before a start, so a
 * rule with daylight time all year round ("J1/0,J365/25") stays in DST.
 */
static void rule_span(const cal_zone *z, int64_t t, int64_t floor, cal_span *s)
{
    const cal_posix *p = &z->rule;
    s->start = floor;
    s->end = INT64_MAX;
    s->utoff = p->std_off;
    s->isdst = 0;
    s->abbr = p->std_abbr;
    if (!p->has_dst)
        return;

    /* Changes lie at most a day and 167 h from their year: two years each way suffice. */
    int64_t year, y0;
    int m, d;
    cal_civil_from_days(cal_fdiv(t, 86400), &year, &m, &d);
    struct { int64_t at; int dst; } ev[10];
    int n = 0;
    for (y0 = year - 2; y0 <= year + 2; y0++) {
        int64_t st, en;
        cal_posix_year(p, y0, &st, &en);
        ev[n].at = en; ev[n++].dst = 0;
        ev[n].at = st; ev[n++].dst = 1;
    }
    for (int i = 1; i < n; i++) { /* insertion sort by (at, end first) */
        for (int j = i; j > 0 && (ev[j].at < ev[j - 1].at ||
                                  (ev[j].at == ev[j - 1].at && ev[j].dst < ev[j - 1].dst)); j--) {
            int64_t a = ev[j].at; int b = ev[j].dst;
            ev[j] = ev[j - 1];
            ev[j - 1].at = a; ev[j - 1].dst = b;
        }
    }
    int last = -1;
    for (int i = 0; i < n && ev[i].at <= t; i++)
        last = i;
    int dst = last >= 0 ? ev[last].dst : !ev[0].dst;
    if (last >= 0 && ev[last].at > s->start)
        s->start = ev[last].at;
    for (int i = last + 1; i < n; i++) {
        if (ev[i].at > t) {
            s->end = ev[i].at;
            break;
        }
    }
    if (dst) {
        s->utoff = p->dst_off;
        s->isdst = 1;
        s->abbr = p->dst_abbr;
    }
}

void cal_zone_span(const cal_zone *z, int64_t t, cal_span *s)
{
    size_t n = z->ntrans;
    if (n == 0) {
        if (z->has_rule) {
            rule_span(z, t, INT64_MIN, s);
        } else {
            s->start = INT64_MIN;
            s->end = INT64_MAX;
            set_type(s, &z->types[0]);
        }
        return;
    }
    if (t < z->trans[0]) {
        s->start = INT64_MIN;
        s->end = z->trans[0];
        set_type(s, &z->types[0]);
        return;
    }
    if (t >= z->trans[n - 1]) {
        if (z->has_rule) {
            rule_span(z, t, z->trans[n - 1], s);
        } else {
            s->start = z->trans[n - 1];
            s->end = INT64_MAX;
            set_type(s, &z->types[z->trans_type[n - 1]]);
        }
        return;
    }
    size_t lo = 0, hi = n - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    s->start = z->trans[lo];
    s->end = z->trans[hi];
    set_type(s, &z->types[z->trans_type[lo]]);
}

int32_t cal_zone_offset(const cal_zone *z, int64_t t)
{
    cal_span s;
    cal_zone_span(z, t, &s);
    return s.utoff;
}

char *cal_format_iso(const cal_zone *z, int64_t t, char *out)
{
    cal_tm tm;
    char off[16];
    int32_t utoff = cal_zone_offset(z, t);
    cal_wall_to_tm(t + utoff, &tm);
    offset_text(utoff, off, sizeof off, 1);
    snprintf(out, CAL_ISO_MAX, "%04lld-%02d-%02dT%02d:%02d:%02d%s", (long long)tm.year, tm.month,
             tm.day, tm.hour, tm.min, tm.sec, off);
    return out;
}

/* Exactly n digits at *sp as a number. */
static int digits(const char **sp, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*sp)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *sp += n;
    *out = v;
    return 0;
}

int cal_parse_instant(const char *text, int64_t *t, char *err, size_t errlen)
{
    const char *s = text;
    int y, mo, d, h, mi, sec = 0;
    int64_t v;

    if (*s == '@') {
        char *end;
        long long n = strtoll(s + 1, &end, 10);
        if (end == s + 1 || *end || n < CAL_T_MIN || n > CAL_T_MAX) {
            snprintf(err, errlen, "'%s': expected @ and Unix seconds from %lld to %lld", text,
                     (long long)CAL_T_MIN, (long long)CAL_T_MAX);
            return -1;
        }
        *t = n;
        return 0;
    }
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' ') || (s++, digits(&s, 2, &h)) ||
        *s++ != ':' || digits(&s, 2, &mi))
        goto syntax;
    if (*s == ':') {
        s++;
        if (digits(&s, 2, &sec))
            goto syntax;
        if (*s == '.' || *s == ',') {
            s++;
            if (*s < '0' || *s > '9')
                goto syntax;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > cal_days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 59) {
        snprintf(err, errlen, "'%s': no such date or time", text);
        return -1;
    }
    int32_t off = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&s, 2, &oh))
            goto syntax;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &om))
                goto syntax;
        } else if (*s >= '0' && *s <= '9' && digits(&s, 2, &om)) {
            goto syntax;
        }
        if (oh > 23 || om > 59) {
            snprintf(err, errlen, "'%s': offset out of range (-23:59 to +23:59)", text);
            return -1;
        }
        off = sign * (oh * 3600 + om * 60);
    } else if (*s == '\0') {
        snprintf(err, errlen, "'%s' has no offset: add Z or one like +02:00 "
                              "(a local time can be ambiguous when clocks change)", text);
        return -1;
    } else {
        goto syntax;
    }
    if (*s)
        goto syntax;
    v = cal_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (v < CAL_T_MIN || v > CAL_T_MAX) {
        snprintf(err, errlen, "'%s' is outside the years the calendar handles (0001-9999)", text);
        return -1;
    }
    *t = v;
    return 0;
syntax:
    snprintf(err, errlen, "'%s': expected an ISO 8601 time with offset, such as "
                          "2026-03-29T01:30:00+01:00 or 2026-03-29T00:30:00Z, or @UNIXSECONDS", text);
    return -1;
}
