/* SPDX-License-Identifier: MIT */
/*
 * otlp_json.h - spans as an OTLP/HTTP JSON request body
 * (ExportTraceServiceRequest): resourceSpans[].scopeSpans[].spans[], in the
 * protobuf JSON mapping OTLP specifies: lowerCamelCase keys, trace and span
 * ids as lowercase hex (not base64), enums as integers, 64-bit integers
 * (times in Unix nanoseconds, int attribute values) as decimal strings.
 */
#ifndef RC_TRACE_OTLP_JSON_H
#define RC_TRACE_OTLP_JSON_H

#include <stddef.h>
#include "trace/span.h"

/* The instrumentation scope's name in every request. */
#define TRACE_SCOPE_NAME "reconciler"

/*
 * The request body for spans[0..n) under one resource (its attributes:
 * service.name and the rest). malloc'd, compact; text from outside is made
 * valid UTF-8.
 */
char *trace_otlp_json(const trace_attrs *resource, const trace_span *spans, size_t n);

#endif
