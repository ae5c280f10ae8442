/* SPDX-License-Identifier: MIT */
/* text.c - see text.h. */
#include "base/text.h"
#include "base/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/*
 * Length of the well-formed character at s (at most n bytes available), or 0
 * when the bytes there do not start one. The ranges are those of Unicode's
 * table of well-formed byte sequences: no overlong forms, no surrogates,
 * nothing above U+10FFFF.
 */
static size_t char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */

    if (c >= 0x01 && c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0; /* NUL, a continuation byte, C0/C1, F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

int text_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = char_len(p + i, n - i);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

size_t text_clean(const char *in, char *out, size_t outlen, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t n = strlen((const char *)s), o = 0;
    if (!outlen)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t len = char_len(s + i, n - i);
        const char *piece = len ? (const char *)s + i : REPLACEMENT;
        size_t plen = len ? len : sizeof REPLACEMENT - 1;
        int control = (len == 1 && (s[i] < 0x20 || s[i] == 0x7f)) ||
                      (len == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0);
        if ((flags & TEXT_CTL_VISIBLE) && control) {
            piece = "?";
            plen = 1;
        }
        if (o + plen >= outlen)
            break; /* the next character does not fit whole: cut before it */
        memcpy(out + o, piece, plen);
        o += plen;
        i += len ? len : 1;
    }
    out[o] = '\0';
    return o;
}

char *text_repair(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    /* Each bad byte grows to three: the worst case is 3n. */
    size_t cap = n > (SIZE_MAX - 1) / 3 ? SIZE_MAX - 1 : n * 3;
    if (max && cap > max)
        cap = max;
    char *out = xmalloc(cap + 1);
    text_clean(s, out, cap + 1, 0);
    return out;
}

void text_repair_buf(char *buf, size_t bufsize)
{
    if (!buf || !bufsize)
        return;
    size_t n = strnlen(buf, bufsize - 1);
    buf[n] = '\0';
    if (text_valid(buf, n))
        return;
    char *copy = text_repair(buf, bufsize - 1);
    memcpy(buf, copy, strlen(copy) + 1);
    free(copy);
}

int text_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    /* Accumulate the magnitude in uint64_t: INT64_MIN has no positive twin. */
    uint64_t v = 0, limit;
    int neg = 0, over = 0;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (*s < '0' || *s > '9')
        return TEXT_SYNTAX;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (over || v > (limit - d) / 10)
            over = 1; /* keep reading: trailing junk is the better message */
        else
            v = v * 10 + d;
    }
    if (*s)
        return TEXT_SYNTAX;
    if (over)
        return TEXT_RANGE;
    int64_t n = neg ? (v ? -(int64_t)(v - 1) - 1 : 0) : (int64_t)v;
    if (n < lo || n > hi)
        return TEXT_RANGE;
    *out = n;
    return TEXT_OK;
}

int text_name_ok(const char *s, unsigned flags)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || (c == '.' && (flags & TEXT_NAME_DOT));
        if (!ok || n >= TEXT_NAME_MAX)
            return 0;
    }
    return n >= 1;
}

const char *text_name_rule(unsigned flags)
{
    /* TEXT_NAME_MAX is 64: the figure is spelled out so the text is a constant. */
    _Static_assert(TEXT_NAME_MAX == 64, "the rule's text says 64");
    return flags & TEXT_NAME_DOT ? "1 to 64 letters, digits, '_', '.' or '-'"
                                 : "1 to 64 letters, digits, '_' or '-'";
}
