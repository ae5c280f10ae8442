/* SPDX-License-Identifier: MIT */
/* json.c - see json.h. */
#include "base/json.h"
#include "base/text.h"
#include "base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fewest digits (15..17) with which v reads back as itself; 15 for NaN and infinities. */
static int real_digits(double v)
{
    char buf[40];
    if (!isfinite(v))
        return 15;
    for (int p = 15; p < 17; p++) {
        util_format_double(buf, sizeof buf, p, v);
        if (util_strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

static int max_digits(const json_t *j)
{
    int most = 15;
    if (json_is_real(j))
        return real_digits(json_real_value(j));
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int d = max_digits(v);
            most = d > most ? d : most;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int d = max_digits(v);
            most = d > most ? d : most;
        }
    }
    return most;
}

size_t util_json_real_flags(const json_t *j)
{
    return JSON_REAL_PRECISION(max_digits(j));
}

char *util_json_dump(const json_t *j, int pretty)
{
    size_t flags = JSON_PRESERVE_ORDER | util_json_real_flags(j);
    return json_dumps(j, flags | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
}

/*
 * text with every number token that overflows a double turned into a string
 * of its text (malloc'd), *n how many; strings are copied as they are.
 */
static char *quote_overflows(const char *text, size_t *n)
{
    size_t len = strlen(text);
    char *out = xmalloc(len * 2 + 3), *o = out; /* each token gains two quotes at most */
    const char *p = text;
    *n = 0;
    while (*p) {
        if (*p == '"') { /* a string, escapes and all */
            *o++ = *p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    *o++ = *p++;
                *o++ = *p++;
            }
            if (*p)
                *o++ = *p++;
            continue;
        }
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t t = strspn(p, "+-0123456789.eE");
            char tok[64];
            if (t < sizeof tok) {
                memcpy(tok, p, t);
                tok[t] = '\0';
                if (isinf(util_strtod(tok, NULL))) {
                    *o++ = '"';
                    memcpy(o, tok, t);
                    o += t;
                    *o++ = '"';
                    p += t;
                    (*n)++;
                    continue;
                }
            }
            memcpy(o, p, t);
            o += t;
            p += t;
            continue;
        }
        *o++ = *p++;
    }
    *o = '\0';
    return out;
}

json_t *util_json_load_stored(const char *text, size_t *salvaged)
{
    size_t n = 0;
    json_t *j = json_loads(text, 0, NULL);
    if (!j) {
        char *fixed = quote_overflows(text, &n);
        j = json_loads(fixed, 0, NULL);
        free(fixed);
    }
    if (salvaged)
        *salvaged = j ? n : 0;
    return j;
}

json_t *jx(json_t *j)
{
    if (!j) {
        fprintf(stderr, "reconciler: cannot build a JSON value (out of memory)\n");
        abort();
    }
    return j;
}

json_t *jx_text(const char *s)
{
    if (!s)
        return json_null();
    if (text_valid(s, strlen(s)))
        return jx(json_string(s));
    char *fixed = text_repair(s, 0);
    json_t *j = jx(json_string(fixed));
    free(fixed);
    return j;
}

const char *jx_type_name(const json_t *j)
{
    switch (j ? json_typeof(j) : JSON_NULL) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return j ? "null" : "nothing";
    }
    return "something else";
}
