/* SPDX-License-Identifier: MIT */
/*
 * text.c - text at the core's edges (core/base/text.c): the UTF-8 check and
 * repair every foreign string passes before JSON, a log line or an HTTP
 * reply, the one integer parser (text_int: every number a user types, in
 * the file, on the command line, in ?limit= and run ids) and the name rule.
 *
 * Input: the first 16 bytes (when there are 17 or more) pick text_int's
 * bounds and the buffer sizes; the rest is the text.
 * Properties: text_valid agrees with jansson's own UTF-8 check; every
 * cleaned or repaired text is valid UTF-8, fits its buffer, leaves valid
 * text unchanged when it fits and is unchanged by a second pass; with
 * TEXT_CTL_VISIBLE no control character is left; text_int takes exactly the
 * plain decimals strtoll reads whole, in [lo, hi]; text_name_ok is its rule.
 */
#include "fuzz.h"
#include "base/json.h"
#include "base/text.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void assert_utf8(const char *s, const char *what)
{
    FZ_ASSERT(text_valid(s, strlen(s)), "%s is not valid UTF-8", what);
}

static int has_control(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
            return 1;
    return 0;
}

static void check_clean(const char *s, size_t outlen, int valid)
{
    char *out = malloc(outlen), *again = malloc(outlen);
    size_t n = strlen(s);
    for (unsigned flags = 0; flags <= TEXT_CTL_VISIBLE; flags++) {
        size_t len = text_clean(s, out, outlen, flags);
        FZ_ASSERT(len == strlen(out) && len < outlen, "length %zu in %zu", len, outlen);
        assert_utf8(out, "text_clean's output");
        if (flags)
            FZ_ASSERT(!has_control(out), "a control character is left");
        else if (valid && n < outlen)
            FZ_ASSERT(strcmp(out, s) == 0, "valid text changed");
        else if (valid)
            FZ_ASSERT(strncmp(out, s, len) == 0, "valid text cut elsewhere than at its end");
        text_clean(out, again, outlen, flags);
        FZ_ASSERT(strcmp(out, again) == 0, "a second pass changed it");
    }
    free(out);
    free(again);
}

static void check_repair(const char *s, size_t max, int valid)
{
    char *r = text_repair(s, max);
    assert_utf8(r, "text_repair's output");
    FZ_ASSERT(!max || strlen(r) <= max, "%zu bytes over %zu", strlen(r), max);
    if (valid && (!max || strlen(s) <= max))
        FZ_ASSERT(strcmp(r, s) == 0, "valid text changed");
    free(r);

    size_t bufsize = max + 1;
    char *buf = malloc(bufsize);
    snprintf(buf, bufsize, "%s", s); /* cut as any snprintf may cut */
    text_repair_buf(buf, bufsize);
    assert_utf8(buf, "text_repair_buf's output");
    FZ_ASSERT(strlen(buf) < bufsize, "text_repair_buf overflows");
    free(buf);

    json_t *j = jx_text(s);
    FZ_ASSERT(json_is_string(j), "jx_text");
    char *dumped = json_dumps(j, JSON_ENCODE_ANY);
    FZ_ASSERT(dumped, "a repaired string does not dump");
    free(dumped);
    json_decref(j);
}

/* text_int against strtoll on plain decimals ([+-]digits). */
static void check_int(const char *s, int64_t lo, int64_t hi)
{
    const char *d = s + (*s == '+' || *s == '-');
    int plain = *d && d[strspn(d, "0123456789")] == '\0';
    int64_t got = 12345;
    int rc = text_int(s, lo, hi, &got);
    if (!plain) {
        FZ_ASSERT(rc == TEXT_SYNTAX, "'%s' is not a plain decimal, got %d", s, rc);
        FZ_ASSERT(got == 12345, "*out changed on a refusal");
        return;
    }
    errno = 0;
    long long ref = strtoll(s, NULL, 10);
    int in = errno == 0 && ref >= lo && ref <= hi;
    FZ_ASSERT(rc == (in ? TEXT_OK : TEXT_RANGE), "'%s' in [%lld, %lld]: %d", s, (long long)lo,
              (long long)hi, rc);
    if (in)
        FZ_ASSERT(got == ref, "'%s' read as %lld", s, (long long)got);
    else
        FZ_ASSERT(got == 12345, "*out changed on a refusal");
}

static void check_name(const char *s)
{
    size_t n = strlen(s);
    for (unsigned flags = 0; flags <= TEXT_NAME_DOT; flags++) {
        const char *chars = flags ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_-."
                                  : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_-";
        int ref = n >= 1 && n <= TEXT_NAME_MAX && strspn(s, chars) == n;
        FZ_ASSERT(text_name_ok(s, flags) == ref, "name '%s' (flags %u)", s, flags);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    size_t outlen = 64, max = 0;
    if (size > 16) {
        memcpy(&lo, data, 8);
        memcpy(&hi, data + 8, 8);
        outlen = 1 + (size_t)(data[0] % 96);
        max = (size_t)(data[1] % 80);
        data += 16;
        size -= 16;
    }
    char *s = fz_cstr(data, size);
    int valid = text_valid(s, strlen(s));
    json_t *ref = json_string(s); /* jansson refuses text that is not UTF-8 */
    FZ_ASSERT(valid == (ref != NULL), "text_valid %d, jansson %s", valid, ref ? "takes it" : "not");
    json_decref(ref);

    check_clean(s, outlen, valid);
    check_clean(s, 3 * strlen(s) + 1, valid);
    check_repair(s, max, valid);
    check_repair(s, 0, valid);
    check_int(s, lo, hi);
    check_int(s, INT64_MIN, INT64_MAX);
    check_name(s);
    free(s);
    return 0;
}
