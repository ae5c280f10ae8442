/* SPDX-License-Identifier: MIT */
/* context.c - see context.h. */
#include "trace/context.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* n random bytes: the kernel's, or util_random_u64's (its own fallback) when it has none. */
static void random_bytes(unsigned char *buf, size_t n)
{
    if (getrandom(buf, n, GRND_NONBLOCK) == (ssize_t)n)
        return;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = util_random_u64();
        memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
    }
}

static void new_id(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[16];
    int zero;
    do {
        random_bytes(buf, bytes);
        zero = 1;
        for (size_t i = 0; i < bytes; i++)
            zero &= buf[i] == 0;
    } while (zero); /* all zeros is the "invalid" id: draw again */
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * bytes] = '\0';
}

void trace_new_trace_id(char out[TRACE_ID_HEX + 1])
{
    new_id(out, TRACE_ID_HEX / 2);
}

void trace_new_span_id(char out[SPAN_ID_HEX + 1])
{
    new_id(out, SPAN_ID_HEX / 2);
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The first len characters of s are lowercase hex (s may go on). */
static int hex_run(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_lower_hex(s[i]))
            return 0;
    return 1;
}

static int all_zero(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != '0')
            return 0;
    return 1;
}

int trace_id_valid(const char *s, size_t len)
{
    return s && strlen(s) == len && hex_run(s, len) && !all_zero(s, len);
}

static unsigned hex_val(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

int trace_context_parse(const char *text, trace_context *out, const char **why)
{
    const char *s = text;
    size_t len = s ? strlen(s) : 0;
    *why = NULL;
    memset(out, 0, sizeof *out);
    if (len < 2 || !hex_run(s, 2))
        *why = "the version is not 2 lowercase hex digits";
    else if (strncmp(s, "ff", 2) == 0)
        *why = "version ff is invalid";
    else if (strncmp(s, "00", 2) == 0 && len != TRACEPARENT_LEN)
        *why = "a version 00 traceparent is exactly 55 characters (00-<32 hex>-<16 hex>-<2 hex>)";
    else if (len < TRACEPARENT_LEN)
        *why = "too short: it needs <version>-<32 hex>-<16 hex>-<2 hex>";
    else if (len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-')
        /* A later version may add fields, each after a '-'. */
        *why = "a later version's extra fields must follow a '-'";
    else if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        *why = "the fields must be separated by '-' (00-<32 hex>-<16 hex>-<2 hex>)";
    else if (!hex_run(s + 3, TRACE_ID_HEX))
        *why = "the trace id is not 32 lowercase hex digits";
    else if (all_zero(s + 3, TRACE_ID_HEX))
        *why = "the trace id is all zeros";
    else if (!hex_run(s + 36, SPAN_ID_HEX))
        *why = "the parent id is not 16 lowercase hex digits";
    else if (all_zero(s + 36, SPAN_ID_HEX))
        *why = "the parent id is all zeros";
    else if (!hex_run(s + 53, 2))
        *why = "the flags are not 2 lowercase hex digits";
    if (*why)
        return -1;
    memcpy(out->trace_id, s + 3, TRACE_ID_HEX);
    memcpy(out->span_id, s + 36, SPAN_ID_HEX);
    out->flags = hex_val(s[53]) << 4 | hex_val(s[54]);
    return 0;
}

void trace_context_format(const trace_context *ctx, char out[TRACEPARENT_LEN + 1])
{
    snprintf(out, TRACEPARENT_LEN + 1, "00-%.32s-%.16s-%02x", ctx->trace_id, ctx->span_id,
             ctx->flags & 0xffu);
}

int64_t trace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
