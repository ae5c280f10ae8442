/* SPDX-License-Identifier: MIT */
/*
 * cron.c - parsing cron expressions into cal_cron (cron.h). Every refusal
 * carries the 1-based column of the text it is about and names the field,
 * so that the pipeline file's loader can point at FILE:LINE:COL.
 */
#include "calendar/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };

static const struct fdef {
    const char *name;
    int lo, hi;
} FIELDS[6] = {
    { "second", 0, 59 }, { "minute", 0, 59 }, { "hour", 0, 23 },
    { "day-of-month", 1, 31 }, { "month", 1, 12 }, { "day-of-week", 0, 7 },
};

static const char *const MONTHS[12] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const WDAYS[7] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

static const struct macro {
    const char *name, *expr;
} MACROS[] = {
    { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
    { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
    { "@hourly", "0 * * * *" },
};

/* The parser's state: the whole expression (for columns) and the field at hand. */
typedef struct ps {
    const char *expr;
    int f;
    cal_err *err;
} ps;

static int up(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

__attribute__((format(printf, 3, 4))) static int fail(ps *p, const char *at, const char *fmt, ...)
{
    va_list ap;
    int n = 0;
    p->err->column = at ? (int)(at - p->expr) + 1 : 0;
    p->err->field = p->f >= 0 ? FIELDS[p->f].name : NULL;
    if (p->f >= 0)
        n = snprintf(p->err->msg, sizeof p->err->msg, "%s: ", FIELDS[p->f].name);
    va_start(ap, fmt);
    vsnprintf(p->err->msg + n, sizeof p->err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The character at s for a message: itself, or \xNN when not printable. */
static const char *show(char c, char buf[8])
{
    if (c > ' ' && c < 127)
        snprintf(buf, 8, "%c", c);
    else
        snprintf(buf, 8, "\\x%02X", (unsigned char)c);
    return buf;
}

/*
 * A value at *sp (before e): a number, or a month or weekday name where the
 * field has them. Checked against the field's range. *named: it was a name.
 */
static int value(ps *p, const char **sp, const char *e, int *out, int *named)
{
    const struct fdef *fd = &FIELDS[p->f];
    const char *s = *sp;
    char c[8];
    *named = 0;
    if (s < e && is_digit(*s)) {
        long v = 0;
        while (s < e && is_digit(*s)) {
            if (v < 100000)
                v = v * 10 + (*s - '0');
            s++;
        }
        if (v < fd->lo || v > fd->hi)
            return fail(p, *sp, "%.*s is out of range %d-%d", (int)(s - *sp), *sp, fd->lo, fd->hi);
        *out = (int)v;
        *sp = s;
        return 0;
    }
    if (s < e && is_alpha(*s)) {
        const char *const *names = p->f == F_MON ? MONTHS : p->f == F_DOW ? WDAYS : NULL;
        int nnames = p->f == F_MON ? 12 : 7;
        const char *w = s;
        while (w < e && is_alpha(*w))
            w++;
        /* Three letters make a name; "FRIL" is FRI and L, "FRI#2" FRI and #2. */
        if (names && w - s >= 3) {
            for (int i = 0; i < nnames; i++) {
                if (up(s[0]) == names[i][0] && up(s[1]) == names[i][1] &&
                    up(s[2]) == names[i][2] &&
                    (w - s == 3 || (p->f == F_DOW && w - s == 4 && up(s[3]) == 'L'))) {
                    *out = p->f == F_MON ? i + 1 : i;
                    *named = 1;
                    *sp = s + 3;
                    return 0;
                }
            }
        }
        if (p->f == F_MON)
            return fail(p, s, "'%.*s' is not a month (JAN-DEC or 1-12)", (int)(w - s), s);
        if (p->f == F_DOW) {
            if (w - s == 1 && up(*s) == 'L')
                return fail(p, s, "L needs a weekday before it (5L or FRIL: the month's last "
                                  "Friday)");
            return fail(p, s, "'%.*s' is not a day of the week (SUN-SAT or 0-7)", (int)(w - s), s);
        }
        if (p->f == F_DOM && up(*s) == 'W')
            return fail(p, s, "W needs a day before it (15W: the weekday nearest the 15th)");
        return fail(p, s, "'%.*s' is not a number (%d-%d)", (int)(w - s), s, fd->lo, fd->hi);
    }
    if (s >= e)
        return fail(p, s, "a value is missing");
    return fail(p, s, "unexpected '%s'", show(*s, c));
}

/* A plain number in [lo, hi] running to e, for the n of L-n and d#n. */
static int small(ps *p, const char *s, const char *e, int lo, int hi, const char *what, int *out)
{
    int v = 0;
    const char *b = s;
    if (s == e)
        return fail(p, s, "%s is missing", what);
    for (; s < e; s++) {
        if (!is_digit(*s)) {
            char c[8];
            return fail(p, s, "unexpected '%s' in %s", show(*s, c), what);
        }
        if (v < 1000)
            v = v * 10 + (*s - '0');
    }
    if (v < lo || v > hi)
        return fail(p, b, "%s %.*s is out of range %d-%d", what, (int)(e - b), b, lo, hi);
    *out = v;
    return 0;
}

static void set_bits(ps *p, cal_cron *c, int lo, int hi, int step)
{
    for (int v = lo; v <= hi; v += step) {
        switch (p->f) {
        case F_SEC: c->sec |= 1ULL << v; break;
        case F_MIN: c->min |= 1ULL << v; break;
        case F_HOUR: c->hour |= 1u << v; break;
        case F_DOM: c->dom |= 1u << v; break;
        case F_MON: c->month |= (uint16_t)(1u << v); break;
        default: c->dow |= (uint8_t)(1u << (v % 7)); break; /* 7 is Sunday */
        }
    }
}

/* One item of a list, [b, e). */
static int item(ps *p, const char *b, const char *e, cal_cron *c)
{
    const struct fdef *fd = &FIELDS[p->f];
    const char *s = b;
    int lo, hi, step = 1, named, star = 0, range = 0;
    char ch[8];

    if (b == e)
        return fail(p, b, "empty item in the list (two commas, or one at an end)");
    if (p->f == F_DOM && up(*s) == 'L') {
        s++;
        if (s == e) {
            c->dom_last |= 1;
            return 0;
        }
        if (up(*s) == 'W' && s + 1 == e) {
            c->dom_last_wday = 1;
            return 0;
        }
        if (*s == '-') {
            int n;
            if (small(p, s + 1, e, 0, 30, "the n of L-n", &n))
                return -1;
            c->dom_last |= 1u << n;
            return 0;
        }
        return fail(p, s, "unexpected '%s' after L (L, LW or L-n: the last day, its "
                          "weekday, n days before it)", show(*s, ch));
    }
    if (*s == '*' || *s == '?') {
        if (*s == '?' && p->f != F_DOM && p->f != F_DOW)
            return fail(p, s, "'?' is only for the day fields (it means '*' there)");
        star = 1;
        lo = fd->lo;
        hi = p->f == F_DOW ? 6 : fd->hi;
        s++;
    } else {
        if (value(p, &s, e, &lo, &named))
            return -1;
        if (p->f == F_DOM && s < e && up(*s) == 'W') {
            if (s + 1 != e)
                return fail(p, s + 1, "nothing may follow nW (15W)");
            c->dom_wday |= 1u << lo;
            return 0;
        }
        if (p->f == F_DOW && s < e && *s == '#') {
            int n;
            if (small(p, s + 1, e, 1, 5, "the n of d#n", &n))
                return -1;
            c->dow_nth[lo % 7] |= (uint8_t)(1u << n);
            return 0;
        }
        if (p->f == F_DOW && s < e && up(*s) == 'L') {
            if (s + 1 != e)
                return fail(p, s + 1, "nothing may follow dL (5L: the last Friday)");
            c->dow_last |= (uint8_t)(1u << (lo % 7));
            return 0;
        }
        hi = lo;
        if (s < e && *s == '-') {
            int hnamed;
            s++;
            if (value(p, &s, e, &hi, &hnamed))
                return -1;
            if (p->f == F_DOW && hnamed && hi == 0 && lo > 0)
                hi = 7; /* SAT-SUN: to the Sunday that ends the week */
            if (hi < lo)
                return fail(p, b, "the range %.*s goes backwards (write it as two ranges)",
                            (int)(s - b), b);
            range = 1;
        }
    }
    if (s < e && *s == '/') {
        const char *at = ++s;
        int width = (p->f == F_DOW ? 6 : fd->hi) - fd->lo + 1;
        if (small(p, at, e, 1, width, "the step", &step))
            return -1;
        s = e;
        if (!star && !range)
            hi = p->f == F_DOW ? 6 : fd->hi; /* a/n: from a to the field's end */
    }
    if (s != e)
        return fail(p, s, "unexpected '%s'", show(*s, ch));
    set_bits(p, c, lo, hi, step);
    return 0;
}

/* One field, [b, e): its comma-separated items. */
static int field(ps *p, const char *b, const char *e, cal_cron *c)
{
    const char *s = b;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(e - s));
        const char *ie = comma ? comma : e;
        if (item(p, s, ie, c))
            return -1;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

static int parse(const char *expr, const char *text, cal_cron *c, cal_err *err, int from_macro)
{
    ps p = { expr, -1, err };
    const char *fb[8], *fe[8];
    int n = 0;
    const char *s = text;

    memset(c, 0, sizeof *c);
    while (*s) {
        while (blank(*s))
            s++;
        if (!*s)
            break;
        const char *b = s;
        while (*s && !blank(*s))
            s++;
        if (n < 8) {
            fb[n] = b;
            fe[n] = s;
        }
        n++;
    }
    if (n == 0)
        return fail(&p, expr + strlen(expr), "empty expression");
    if (*fb[0] == '@' && !from_macro) {
        for (size_t i = 0; i < sizeof MACROS / sizeof MACROS[0]; i++) {
            if (n == 1 && (size_t)(fe[0] - fb[0]) == strlen(MACROS[i].name) &&
                strncasecmp(fb[0], MACROS[i].name, strlen(MACROS[i].name)) == 0)
                return parse(expr, MACROS[i].expr, c, err, 1);
        }
        if (n == 1 && fe[0] - fb[0] == 7 && strncasecmp(fb[0], "@reboot", 7) == 0)
            return fail(&p, fb[0], "@reboot is not a calendar: use on_startup");
        return fail(&p, fb[0], "unknown '%.*s' (valid: @yearly, @annually, @monthly, @weekly, "
                               "@daily, @midnight, @hourly)", (int)(fe[0] - fb[0]), fb[0]);
    }
    if (n == 7)
        return fail(&p, fb[6], "7 fields: a year field (Quartz) is not supported; write 5 fields "
                               "(minute hour day-of-month month day-of-week) or 6 (second first)");
    if (n != 5 && n != 6)
        return fail(&p, n > 6 ? fb[6] : expr + strlen(expr),
                    "%d field%s: write 5 (minute hour day-of-month month day-of-week) or 6 "
                    "(second first)", n, n == 1 ? "" : "s");
    c->seconds = n == 6;
    int first = n == 6 ? F_SEC : F_MIN;
    if (n == 5)
        c->sec = 1; /* second 0 */
    for (int i = 0; i < n; i++) {
        p.f = first + i;
        if (field(&p, fb[i], fe[i], c))
            return -1;
    }
    const char *domb = fb[F_DOM - first], *dowb = fb[F_DOW - first];
    c->dom_star = *domb == '*' || *domb == '?';
    c->dow_star = *dowb == '*' || *dowb == '?';
    if (!from_macro) {
        c->dom_col = (int)(domb - expr) + 1;
        c->dow_col = (int)(dowb - expr) + 1;
        c->month_col = (int)(fb[F_MON - first] - expr) + 1;
    }
    return 0;
}

int cal_cron_parse(const char *expr, cal_cron *out, cal_err *err)
{
    memset(err, 0, sizeof *err);
    return parse(expr, expr, out, err, 0);
}

char *cal_err_text(const cal_err *err, char *out, size_t outlen)
{
    if (err->column > 0)
        snprintf(out, outlen, "column %d: %s", err->column, err->msg);
    else
        snprintf(out, outlen, "%s", err->msg);
    return out;
}
