/* SPDX-License-Identifier: MIT */
/*
 * settings.h - where and how traces are sent, from the standard OpenTelemetry
 * variables and the pipeline file's tracing: keys (which win):
 *
 *   on/off       tracing.enabled; else off with OTEL_SDK_DISABLED=true or
 *                OTEL_TRACES_EXPORTER=none; else on when an endpoint is set
 *                (a program that was never told where to send sends nothing)
 *   endpoint     tracing.endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (both as
 *                given), OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces", or
 *                http://localhost:4318/v1/traces (tracing.enabled: true alone)
 *   headers      the variable tracing.headers_env names, else
 *                OTEL_EXPORTER_OTLP_TRACES_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS:
 *                "k=v,k2=v2", values URL-decoded; values are secrets
 *   service      tracing.service_name, OTEL_SERVICE_NAME, service.name in
 *                OTEL_RESOURCE_ATTRIBUTES, "reconciler"
 *   resource     OTEL_RESOURCE_ATTRIBUTES ("k=v,..." URL-decoded)
 *   protocol     OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL:
 *                http/json; http/protobuf is sent as http/json (with a warning:
 *                OTLP/HTTP receivers take both on the same endpoint); grpc and
 *                anything else turn tracing off with a warning
 *   timeout      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT, ms
 *                per attempt, default 10000
 *
 * Nothing here ever fails a run: a bad value is a warning (naming the
 * variable or key, never a header's value or the endpoint's secrets) and the
 * setting falls back, or tracing is off.
 */
#ifndef RC_TRACE_SETTINGS_H
#define RC_TRACE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include "trace/span.h"

/* The pipeline file's tracing: keys; NULL (-1 for enabled): not set. */
typedef struct trace_overrides {
    int enabled;
    const char *endpoint;
    const char *headers_env;
    const char *service_name;
} trace_overrides;
#define TRACE_OVERRIDES_NONE { -1, NULL, NULL, NULL }

typedef struct trace_header {
    char *name;
    char *value; /* a secret: never printed, logged or stored; wiped when freed */
} trace_header;

#define TRACE_DEFAULT_ENDPOINT "http://localhost:4318/v1/traces"
#define TRACE_SHOWN_MAX 300

typedef struct trace_settings {
    int enabled;
    char *endpoint;                 /* the traces URL; may hold secrets: show `shown` */
    char shown[TRACE_SHOWN_MAX];    /* scheme://host:port/ */
    trace_header *headers;
    size_t n_headers;
    trace_attrs resource;           /* service.name first */
    int64_t timeout_ms;             /* each attempt */
    /* The exporter's bounds: not from the environment (tests shorten them). */
    int64_t backoff_ms;             /* before the first retry, doubled each time; 1 s */
    int max_attempts;               /* per request, the first included; 5 */
    size_t queue_max_spans;         /* spans waiting to be sent; 8192 */
    size_t batch_max_spans;         /* spans per request; 512 */
} trace_settings;

/* Fill s from the environment and o (NULL: no keys). Warnings go to the log. */
void trace_settings_load(const trace_overrides *o, trace_settings *s);
/* Free what s holds (header values wiped). */
void trace_settings_free(trace_settings *s);

/*
 * Parse "k=v,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES):
 * spaces around keys and values trimmed, values URL-decoded (%XX), an
 * entry without '=' or with an empty key skipped with a warning naming
 * `what` and the entry's position, never its value. Each pair is handed to
 * add(user, key, value); value is wiped after the call.
 * headers: keys must be HTTP header names and values free of CR, LF and NUL.
 */
void trace_parse_pairs(const char *text, const char *what, int headers,
                       void (*add)(void *user, const char *key, const char *value), void *user);

/* tracing.link with {traceId} replaced by trace_id (malloc'd); NULL tmpl: NULL. */
char *trace_link(const char *tmpl, const char *trace_id);

#endif
