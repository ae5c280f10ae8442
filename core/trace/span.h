/* SPDX-License-Identifier: MIT */
/*
 * span.h - the span model: what OTLP calls a Span, as this program makes
 * them. A span has ids (its trace's, its own, its parent's), a name, a kind,
 * start and end in Unix nanoseconds, attributes (string, int, double, bool),
 * events (a name, a time, attributes of their own) and a status (unset, ok,
 * or error with a message).
 *
 * Spans travel in a trace_batch (the spans of one run, say), which is what
 * the exporter takes (exporter.h) and the OTLP encoder writes
 * (otlp_json.h). Every string is copied in; text from outside (a database's
 * error, a plugin's message) is made valid UTF-8 when encoded.
 */
#ifndef RC_TRACE_SPAN_H
#define RC_TRACE_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include "trace/context.h"

/* OTLP's enums, as integers on the wire. */
typedef enum trace_kind {
    TRACE_KIND_UNSPECIFIED = 0, TRACE_KIND_INTERNAL = 1, TRACE_KIND_SERVER = 2,
    TRACE_KIND_CLIENT = 3, TRACE_KIND_PRODUCER = 4, TRACE_KIND_CONSUMER = 5
} trace_kind;
typedef enum trace_status { TRACE_STATUS_UNSET = 0, TRACE_STATUS_OK = 1, TRACE_STATUS_ERROR = 2 }
    trace_status;

typedef enum trace_attr_type { TRACE_ATTR_STRING, TRACE_ATTR_INT, TRACE_ATTR_DOUBLE,
                               TRACE_ATTR_BOOL } trace_attr_type;

typedef struct trace_attr {
    char *key;
    trace_attr_type type;
    char *s;     /* TRACE_ATTR_STRING */
    int64_t i;   /* TRACE_ATTR_INT; TRACE_ATTR_BOOL (0 or 1) */
    double d;    /* TRACE_ATTR_DOUBLE */
} trace_attr;

/* A list of attributes; start zeroed. Setting a key again replaces its value. */
typedef struct trace_attrs {
    trace_attr *a;
    size_t n;
} trace_attrs;

void trace_attrs_str(trace_attrs *l, const char *key, const char *v); /* v NULL: not set */
void trace_attrs_int(trace_attrs *l, const char *key, int64_t v);
void trace_attrs_double(trace_attrs *l, const char *key, double v);
void trace_attrs_bool(trace_attrs *l, const char *key, int v);
/* The attribute named key, or NULL. */
const trace_attr *trace_attrs_get(const trace_attrs *l, const char *key);
void trace_attrs_free(trace_attrs *l);

typedef struct trace_event {
    char *name;
    int64_t time_ns;
    trace_attrs attrs;
} trace_event;

/* At most this many events per span; the rest are counted (droppedEventsCount). */
#define TRACE_EVENTS_MAX 128

typedef struct trace_span {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[SPAN_ID_HEX + 1];
    char parent_id[SPAN_ID_HEX + 1]; /* "": a root span */
    char *name;
    trace_kind kind;
    int64_t start_ns, end_ns;
    trace_attrs attrs;
    trace_event *events;
    size_t n_events;
    uint32_t dropped_events;
    trace_status status;
    char *status_msg;                /* with TRACE_STATUS_ERROR, or NULL */
} trace_span;

/*
 * Start s (a zeroed or cleared span) in trace_id, under parent_id (NULL or
 * "": a root), with a new span id. Kind INTERNAL, status unset.
 */
void trace_span_init(trace_span *s, const char *name, const char *trace_id,
                     const char *parent_id, int64_t start_ns);
/* An event at t_ns; attrs (may be NULL) are moved into it and left empty. */
void trace_span_event(trace_span *s, const char *name, int64_t t_ns, trace_attrs *attrs);
/* Status; msg is copied (NULL: none). */
void trace_span_status(trace_span *s, trace_status st, const char *msg);
/* Free what s holds and zero it. */
void trace_span_clear(trace_span *s);

/* Spans to send together (one run's, or several runs'). */
typedef struct trace_batch {
    trace_span *spans;
    size_t n, cap;
} trace_batch;

/* A new span at the end of b (zeroed: trace_span_init it). The pointer lasts until b grows. */
trace_span *trace_batch_add(trace_batch *b);
/* Move every span of from to the end of to; from is left empty. */
void trace_batch_move(trace_batch *to, trace_batch *from);
/* Free b's spans and reset it to empty. Accepts an empty b. */
void trace_batch_clear(trace_batch *b);

#endif
