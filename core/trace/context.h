/* SPDX-License-Identifier: MIT */
/*
 * context.h - W3C trace context: the ids a trace and its spans are known by,
 * and the `traceparent` text that carries them from one process to another
 * (the TRACEPARENT variable a deployment sets for `run --once`).
 *
 * Ids are kept as the lowercase hex OTLP/JSON and traceparent both use: a
 * trace id is 32 hex digits (16 bytes), a span id 16 (8 bytes); neither is
 * ever all zeros.
 */
#ifndef RC_TRACE_CONTEXT_H
#define RC_TRACE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_HEX 32
#define SPAN_ID_HEX 16
/* "00-" 32 "-" 16 "-" 2: the version 00 traceparent, without its NUL. */
#define TRACEPARENT_LEN 55

/* The sampled bit of trace-flags. */
#define TRACE_FLAG_SAMPLED 0x01u

typedef struct trace_context {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[SPAN_ID_HEX + 1];
    unsigned flags;                   /* trace-flags, 0..255 */
} trace_context;

/* A new random trace id / span id (getrandom), lowercase hex, never all zeros. */
void trace_new_trace_id(char out[TRACE_ID_HEX + 1]);
void trace_new_span_id(char out[SPAN_ID_HEX + 1]);

/* 1 when s is exactly len lowercase hex digits and not all zeros, else 0. */
int trace_id_valid(const char *s, size_t len);

/*
 * Parse a traceparent value strictly (W3C Trace Context, level 1): version
 * 2 lowercase hex digits other than ff; for version 00 exactly 55
 * characters; for a later version at least 55, and a '-' after them when
 * there is more; trace id and parent id lowercase hex of the right length,
 * not all zeros; flags 2 hex digits. 0 with *out, or -1 with why (a static
 * string that never quotes the value).
 */
int trace_context_parse(const char *text, trace_context *out, const char **why);

/* ctx as a version 00 traceparent into out (NUL-terminated). */
void trace_context_format(const trace_context *ctx, char out[TRACEPARENT_LEN + 1]);

/* Wall clock in Unix nanoseconds, what spans are timed in. */
int64_t trace_now_ns(void);

#endif
