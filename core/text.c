/* text.c - see text.h. */
#include "text.h"

#include <stddef.h>

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
