/* SPDX-License-Identifier: MIT */
/* prom.c - see prom.h. */
#include "service/prom.h"
#include "base/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Escape \ and newline, and " too when quote is set (label values). */
static void put_escaped(strbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_printf(b, "\\\\");
        else if (*s == '\n')
            sb_printf(b, "\\n");
        else if (*s == '"' && quote)
            sb_printf(b, "\\\"");
        else
            sb_putc(b, *s);
    }
}

static void put_value(strbuf *b, double v)
{
    if (isnan(v)) {
        sb_printf(b, "NaN");
    } else if (isinf(v)) {
        sb_printf(b, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        sb_printf(b, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
    } else {
        char buf[32];
        for (int prec = 15; prec <= 17; prec++) {
            /* In the C locale: a plugin's setlocale must not turn 0.5 into "0,5". */
            util_format_double(buf, sizeof buf, prec, v);
            if (util_strtod(buf, NULL) == v)
                break;
        }
        sb_printf(b, "%s", buf);
    }
}

/* k="v",k2="v2" from a NULL-terminated k, v, ... list (no braces). */
static void put_label_list(strbuf *b, va_list ap)
{
    const char *k;
    int first = 1;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        sb_printf(b, "%s%s=\"", first ? "" : ",", k);
        put_escaped(b, v ? v : "", 1);
        sb_putc(b, '"');
        first = 0;
    }
}

/* name+suffix, then {labels} when there are any, then a space. */
static void put_name(strbuf *b, const char *name, const char *suffix, const strbuf *labels)
{
    if (labels->len)
        sb_printf(b, "%s%s{%s} ", name, suffix, labels->s);
    else
        sb_printf(b, "%s%s ", name, suffix);
}

void prom_family(strbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s ", name);
    put_escaped(b, help ? help : "", 0);
    sb_printf(b, "\n# TYPE %s %s\n", name, type);
}

void prom_sample(strbuf *b, const char *name, double value, ...)
{
    strbuf labels = STRBUF_INIT;
    va_list ap;
    va_start(ap, value);
    put_label_list(&labels, ap);
    va_end(ap);
    put_name(b, name, "", &labels);
    put_value(b, value);
    sb_putc(b, '\n');
    sb_free(&labels);
}

void prom_histogram(strbuf *b, const char *name, const double *bounds, const uint64_t *counts,
                    size_t n, double sum, ...)
{
    strbuf labels = STRBUF_INIT;
    va_list ap;
    va_start(ap, sum);
    put_label_list(&labels, ap);
    va_end(ap);
    const char *sep = labels.len ? "," : "";
    const char *ls = labels.len ? labels.s : "";

    uint64_t total = 0;
    for (size_t i = 0; i <= n; i++) {
        total += counts[i];
        sb_printf(b, "%s_bucket{%s%sle=\"", name, ls, sep);
        if (i < n)
            put_value(b, bounds[i]);
        else
            sb_printf(b, "+Inf");
        sb_printf(b, "\"} %llu\n", (unsigned long long)total);
    }
    put_name(b, name, "_sum", &labels);
    put_value(b, sum);
    sb_putc(b, '\n');
    put_name(b, name, "_count", &labels);
    sb_printf(b, "%llu\n", (unsigned long long)total);
    sb_free(&labels);
}
