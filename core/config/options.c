/* SPDX-License-Identifier: MIT */
/* options.c - see options.h. */
#include "config/options.h"
#include "base/text.h"
#include "base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* parse results that need different messages (the first three are text_int's) */
#define P_OK TEXT_OK
#define P_SYNTAX TEXT_SYNTAX
#define P_RANGE TEXT_RANGE
#define P_NEGATIVE (-3)

const char *opt_type_name(rc_opt_type t)
{
    switch (t) {
    case RC_OPT_STRING: return "string";
    case RC_OPT_INT: return "int";
    case RC_OPT_BOOL: return "bool";
    case RC_OPT_DOUBLE: return "double";
    case RC_OPT_DURATION: return "duration";
    }
    return "unknown";
}

/* What a value of type t looks like, for "expects ..." messages. */
static const char *expects(rc_opt_type t)
{
    switch (t) {
    case RC_OPT_STRING: return "a string";
    case RC_OPT_INT: return "an integer";
    case RC_OPT_BOOL: return "a boolean (true/false, yes/no, on/off)";
    case RC_OPT_DOUBLE: return "a number";
    case RC_OPT_DURATION:
        return "a duration (whole numbers with units d, h, m, s, ms, largest first, "
               "e.g. 30s or 1h30m)";
    }
    return "a value of a known type";
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Digits at *s into *v, advancing *s. Returns P_SYNTAX when there is none,
 * P_RANGE when the number exceeds limit (the digits are still consumed, so
 * that a syntax error later in the text wins over the range error).
 */
static int read_digits(const char **s, uint64_t limit, uint64_t *v)
{
    int rc = P_OK;
    *v = 0;
    if (!is_digit(**s))
        return P_SYNTAX;
    for (; is_digit(**s); (*s)++) {
        uint64_t d = (uint64_t)(**s - '0');
        if (rc == P_OK && *v > (limit - d) / 10)
            rc = P_RANGE;
        if (rc == P_OK)
            *v = *v * 10 + d;
    }
    return rc;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return P_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return P_OK;
        }
    }
    return P_SYNTAX;
}

/* strtod also reads hex, "inf", "nan" and leading spaces: allow decimal text only. */
static int parse_double(const char *s, double *out)
{
    char *end;
    if (!*s || s[strspn(s, "0123456789+-.eE")] != '\0')
        return P_SYNTAX;
    /* In the C locale: after a plugin's setlocale, "0.5" must still read as a half. */
    double d = util_strtod(s, &end);
    if (end == s || *end)
        return P_SYNTAX;
    if (!isfinite(d))
        return P_RANGE;
    *out = d;
    return P_OK;
}

static const struct {
    const char *unit;
    int64_t ms;
} duration_units[] = {
    /* largest first: a duration names them in this order, each at most once */
    { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};
#define N_UNITS (sizeof duration_units / sizeof duration_units[0])

/* The unit at *s (advancing past it), or -1. "ms" before "m": the longest match wins. */
static int read_unit(const char **s)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < N_UNITS; i++) {
        size_t len = strlen(duration_units[i].unit);
        if (len > best_len && strncmp(*s, duration_units[i].unit, len) == 0) {
            best = (int)i;
            best_len = len;
        }
    }
    *s += best_len;
    return best;
}

static int parse_duration(const char *s, int64_t *ms)
{
    uint64_t total = 0, v;
    int last = -1, rc = P_OK;

    if (*s == '-')
        return P_NEGATIVE;
    /* A bare integer is seconds. */
    if (*s && s[strspn(s, "0123456789")] == '\0') {
        int64_t sec;
        if (text_int(s, 0, INT64_MAX / 1000, &sec) != P_OK)
            return P_RANGE;
        *ms = sec * 1000;
        return P_OK;
    }
    do {
        int r = read_digits(&s, (uint64_t)INT64_MAX, &v);
        if (r == P_SYNTAX)
            return P_SYNTAX;
        int u = read_unit(&s);
        if (u < 0 || u <= last)
            return P_SYNTAX;
        last = u;
        uint64_t per = (uint64_t)duration_units[u].ms;
        /* Keep reading after an overflow: a syntax error further on says more. */
        if (r == P_RANGE || v > ((uint64_t)INT64_MAX - total) / per)
            rc = P_RANGE;
        else
            total += v * per;
    } while (*s);
    if (rc == P_OK)
        *ms = (int64_t)total;
    return rc;
}

int duration_parse(const char *text, int64_t *ms)
{
    return parse_duration(text, ms) == P_OK ? 0 : -1;
}

void duration_format(int64_t ms, char *out, size_t outlen)
{
    size_t len = 0;
    if (!outlen)
        return;
    out[0] = '\0';
    if (ms <= 0) {
        snprintf(out, outlen, "%s", ms == 0 ? "0s" : "-");
        return;
    }
    for (size_t i = 0; i < N_UNITS && ms > 0 && len < outlen; i++) {
        int64_t n = ms / duration_units[i].ms;
        if (!n)
            continue;
        ms -= n * duration_units[i].ms;
        int w = snprintf(out + len, outlen - len, "%lld%s", (long long)n, duration_units[i].unit);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* The message for a failed parse of text as t. */
static void parse_error(rc_opt_type t, int why, const char *text, char *err, size_t errlen)
{
    if (why == P_NEGATIVE)
        snprintf(err, errlen, "expects a duration of 0 or more, got '%.128s'", text);
    else if (why == P_RANGE && t == RC_OPT_INT)
        snprintf(err, errlen, "expects an integer from %lld to %lld, got '%.128s'",
                 (long long)INT64_MIN, (long long)INT64_MAX, text);
    else if (why == P_RANGE && t == RC_OPT_DURATION)
        snprintf(err, errlen, "expects a duration, got '%.128s', which is too long to count "
                 "in milliseconds", text);
    else if (why == P_RANGE)
        snprintf(err, errlen, "expects a finite number, got '%.128s'", text);
    else
        snprintf(err, errlen, "expects %s, got '%.128s'", expects(t), text);
}

int opt_parse(rc_opt_type t, const char *text, opt_value *out, char *err, size_t errlen)
{
    int rc;

    memset(out, 0, sizeof *out);
    out->type = t;
    switch (t) {
    case RC_OPT_STRING:
        out->s = xstrdup(text);
        return 0;
    case RC_OPT_INT: rc = text_int(text, INT64_MIN, INT64_MAX, &out->i); break;
    case RC_OPT_BOOL: rc = parse_bool(text, &out->b); break;
    case RC_OPT_DOUBLE: rc = parse_double(text, &out->d); break;
    case RC_OPT_DURATION: rc = parse_duration(text, &out->i); break;
    default:
        snprintf(err, errlen, "has an unknown type (%d)", (int)t);
        return -1;
    }
    if (rc != P_OK) {
        parse_error(t, rc, text, err, errlen);
        return -1;
    }
    return 0;
}

void opt_value_free(opt_value *v)
{
    if (!v)
        return;
    free(v->s);
    v->s = NULL;
}

int opt_table_check(const rc_option *defs, char *err, size_t errlen)
{
    char why[256];
    size_t i;

    if (!defs)
        return 0;
    for (i = 0; defs[i].name; i++) {
        const rc_option *o = &defs[i];
        opt_value v;
        /* Option names are YAML keys and appear in messages: keep them plain. */
        if (!text_name_ok(o->name, TEXT_NAME_DOT)) {
            snprintf(err, errlen, "option %zu: name '%.128s' is not %s", i + 1, o->name,
                     text_name_rule(TEXT_NAME_DOT));
            return -1;
        }
        if (o->type < RC_OPT_STRING || o->type > RC_OPT_DURATION) {
            snprintf(err, errlen, "option '%s': unknown type %d", o->name, (int)o->type);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(defs[j].name, o->name) == 0) {
                snprintf(err, errlen, "option '%s' is declared twice", o->name);
                return -1;
            }
        if (!o->default_value)
            continue;
        if (opt_parse(o->type, o->default_value, &v, why, sizeof why) != 0) {
            snprintf(err, errlen, "option '%s': default %s", o->name, why);
            return -1;
        }
        opt_value_free(&v);
    }
    /* An entry with a type but no name would end every loop over the table early. */
    if (defs[i].type || defs[i].default_value || defs[i].description) {
        snprintf(err, errlen, "option %zu has no name (end the table with RC_OPTIONS_END)", i + 1);
        return -1;
    }
    return 0;
}

static size_t count_defs(const rc_option *defs)
{
    size_t n = 0;
    while (defs && defs[n].name)
        n++;
    return n;
}

/* Index of name in the table, or -1. */
static long find_def(const rc_option *defs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i].name, name) == 0)
            return (long)i;
    return -1;
}

void opt_names(const rc_option *defs, char *out, size_t outlen)
{
    size_t len = 0, n = count_defs(defs);
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < outlen; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", defs[i].name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* Parse the node given for option d into v. */
static int option_value(const rc_option *d, const yt_node *node, const char *file,
                        const char *step, opt_value *v, char *err, size_t errlen)
{
    char why[512];
    if (node->kind != YT_SCALAR) {
        snprintf(err, errlen, "%s:%d:%d: step '%s': option '%s' expects %s, got %s", file,
                 node->line, node->col, step, d->name, expects(d->type), yt_kind_name(node->kind));
        return -1;
    }
    if (opt_parse(d->type, node->scalar, v, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s:%d:%d: step '%s': option '%s' %s", file, node->line,
                 node->col, step, d->name, why);
        return -1;
    }
    v->line = node->line;
    v->col = node->col;
    return 0;
}

/* Every key of map must name an option; parse each one given. */
static int apply_given(const rc_option *defs, const yt_node *map, const char *file,
                       const char *step, opt_set *out, unsigned char *given, char *err,
                       size_t errlen)
{
    char names[1024];
    for (size_t k = 0; k < map->n; k++) {
        const yt_node *key = map->keys[k];
        long i = find_def(defs, out->n, key->scalar);
        if (i < 0) {
            if (out->n)
                opt_names(defs, names, sizeof names);
            snprintf(err, errlen, "%s:%d:%d: step '%s': unknown option '%.128s'; %s%s", file,
                     key->line, key->col, step, key->scalar,
                     out->n ? "valid options: " : "plugin takes no options", out->n ? names : "");
            return -1;
        }
        if (option_value(&defs[i], map->items[k], file, step, &out->values[i], err, errlen) != 0)
            return -1;
        given[i] = 1;
    }
    return 0;
}

/* Options not given take their default; one without a default is required. */
static int apply_defaults(const rc_option *defs, const yt_node *map, const char *file,
                          const char *step, opt_set *out, const unsigned char *given, char *err,
                          size_t errlen)
{
    char why[512];
    for (size_t i = 0; i < out->n; i++) {
        if (given[i])
            continue;
        if (!defs[i].default_value) {
            if (map)
                snprintf(err, errlen, "%s:%d:%d: step '%s': missing required option '%s' (%s)",
                         file, map->line, map->col, step, defs[i].name, expects(defs[i].type));
            else
                snprintf(err, errlen, "%s: step '%s': missing required option '%s' (%s)", file,
                         step, defs[i].name, expects(defs[i].type));
            return -1;
        }
        /* opt_table_check ran when the plugin loaded; this is belt and braces. */
        if (opt_parse(defs[i].type, defs[i].default_value, &out->values[i], why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: step '%s': option '%s': default %s", file, step,
                     defs[i].name, why);
            return -1;
        }
    }
    return 0;
}

int opt_set_build(const rc_option *defs, const yt_node *map, const char *file,
                  const char *step, opt_set *out, char *err, size_t errlen)
{
    unsigned char *given = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->defs = defs;
    out->n = count_defs(defs);
    out->values = xcalloc(out->n, sizeof *out->values);
    for (size_t i = 0; i < out->n; i++)
        out->values[i].type = defs[i].type;
    given = xcalloc(out->n, 1);

    if (map && map->kind != YT_MAP) {
        snprintf(err, errlen, "%s:%d:%d: step '%s': 'options' expects a mapping, got %s", file,
                 map->line, map->col, step, yt_kind_name(map->kind));
        goto out;
    }
    if (map && apply_given(defs, map, file, step, out, given, err, errlen) != 0)
        goto out;
    if (apply_defaults(defs, map, file, step, out, given, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    free(given);
    if (rc != 0)
        opt_set_free(out);
    return rc;
}

void opt_set_free(opt_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->values && i < s->n; i++)
        opt_value_free(&s->values[i]);
    free(s->values);
    s->values = NULL;
    s->n = 0;
}

const opt_value *opt_set_get(const opt_set *s, const char *name, rc_opt_type t)
{
    if (!s || !name)
        return NULL;
    long i = find_def(s->defs, s->n, name);
    if (i < 0 || s->defs[i].type != t)
        return NULL;
    return &s->values[i];
}
