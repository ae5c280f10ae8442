/* SPDX-License-Identifier: MIT */
/* otlp_json.c - see otlp_json.h. */
#include "trace/otlp_json.h"
#include "base/json.h"
#include "base/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A 64-bit integer the way proto3 JSON writes int64 and fixed64: a decimal string. */
static json_t *int64_text(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return jx(json_string(buf));
}

/* AnyValue. Non-finite doubles as proto3 JSON spells them: jansson cannot write them. */
static json_t *any_value(const trace_attr *a)
{
    switch (a->type) {
    case TRACE_ATTR_STRING:
        return jx(json_pack("{s:o}", "stringValue", jx_text(a->s)));
    case TRACE_ATTR_INT:
        return jx(json_pack("{s:o}", "intValue", int64_text(a->i)));
    case TRACE_ATTR_BOOL:
        return jx(json_pack("{s:b}", "boolValue", (int)a->i));
    case TRACE_ATTR_DOUBLE:
        if (isnan(a->d))
            return jx(json_pack("{s:s}", "doubleValue", "NaN"));
        if (isinf(a->d))
            return jx(json_pack("{s:s}", "doubleValue", a->d > 0 ? "Infinity" : "-Infinity"));
        return jx(json_pack("{s:f}", "doubleValue", a->d));
    }
    return jx(json_object());
}

static json_t *attributes(const trace_attrs *l)
{
    json_t *arr = jx(json_array());
    for (size_t i = 0; l && i < l->n; i++)
        json_array_append_new(arr, jx(json_pack("{s:o, s:o}", "key", jx_text(l->a[i].key),
                                                "value", any_value(&l->a[i]))));
    return arr;
}

static json_t *span_json(const trace_span *s)
{
    json_t *events = jx(json_array());
    for (size_t i = 0; i < s->n_events; i++)
        json_array_append_new(events, jx(json_pack("{s:o, s:o, s:o}",
                                                   "timeUnixNano", int64_text(s->events[i].time_ns),
                                                   "name", jx_text(s->events[i].name),
                                                   "attributes",
                                                   attributes(&s->events[i].attrs))));
    json_t *status = jx(json_pack("{s:i}", "code", (int)s->status));
    if (s->status_msg)
        json_object_set_new(status, "message", jx_text(s->status_msg));
    json_t *o = jx(json_pack("{s:s, s:s, s:o, s:i, s:o, s:o, s:o, s:o, s:o}",
                             "traceId", s->trace_id, "spanId", s->span_id,
                             "name", jx_text(s->name), "kind", (int)s->kind,
                             "startTimeUnixNano", int64_text(s->start_ns),
                             "endTimeUnixNano", int64_text(s->end_ns),
                             "attributes", attributes(&s->attrs),
                             "events", events, "status", status));
    /* The root has none: the field is left out rather than sent empty. */
    if (s->parent_id[0])
        json_object_set_new(o, "parentSpanId", jx(json_string(s->parent_id)));
    if (s->dropped_events)
        json_object_set_new(o, "droppedEventsCount", jx(json_integer(s->dropped_events)));
    return o;
}

char *trace_otlp_json(const trace_attrs *resource, const trace_span *spans, size_t n)
{
    json_t *arr = jx(json_array());
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, span_json(&spans[i]));
    json_t *req = jx(json_pack("{s:[{s:{s:o}, s:[{s:{s:s}, s:o}]}]}",
                               "resourceSpans", "resource", "attributes", attributes(resource),
                               "scopeSpans", "scope", "name", TRACE_SCOPE_NAME, "spans", arr));
    char *text = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(req);
    if (!text) {
        fprintf(stderr, "reconciler: out of memory\n");
        abort();
    }
    return text;
}
