/* SPDX-License-Identifier: MIT */
/* span.c - see span.h. */
#include "trace/span.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

/* The entry for key, added (empty) when missing. */
static trace_attr *slot(trace_attrs *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->a[i].key, key) == 0) {
            free(l->a[i].s);
            l->a[i].s = NULL;
            return &l->a[i];
        }
    l->a = xrealloc(l->a, (l->n + 1) * sizeof *l->a);
    trace_attr *a = &l->a[l->n++];
    memset(a, 0, sizeof *a);
    a->key = xstrdup(key);
    return a;
}

void trace_attrs_str(trace_attrs *l, const char *key, const char *v)
{
    if (!v)
        return;
    trace_attr *a = slot(l, key);
    a->type = TRACE_ATTR_STRING;
    a->s = xstrdup(v);
}

void trace_attrs_int(trace_attrs *l, const char *key, int64_t v)
{
    trace_attr *a = slot(l, key);
    a->type = TRACE_ATTR_INT;
    a->i = v;
}

void trace_attrs_double(trace_attrs *l, const char *key, double v)
{
    trace_attr *a = slot(l, key);
    a->type = TRACE_ATTR_DOUBLE;
    a->d = v;
}

void trace_attrs_bool(trace_attrs *l, const char *key, int v)
{
    trace_attr *a = slot(l, key);
    a->type = TRACE_ATTR_BOOL;
    a->i = v != 0;
}

const trace_attr *trace_attrs_get(const trace_attrs *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->a[i].key, key) == 0)
            return &l->a[i];
    return NULL;
}

void trace_attrs_free(trace_attrs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].key);
        free(l->a[i].s);
    }
    free(l->a);
    l->a = NULL;
    l->n = 0;
}

void trace_span_init(trace_span *s, const char *name, const char *trace_id,
                     const char *parent_id, int64_t start_ns)
{
    memset(s, 0, sizeof *s);
    s->name = xstrdup(name);
    memcpy(s->trace_id, trace_id, TRACE_ID_HEX);
    trace_new_span_id(s->span_id);
    if (parent_id && *parent_id)
        memcpy(s->parent_id, parent_id, SPAN_ID_HEX);
    s->kind = TRACE_KIND_INTERNAL;
    s->start_ns = s->end_ns = start_ns;
}

void trace_span_event(trace_span *s, const char *name, int64_t t_ns, trace_attrs *attrs)
{
    if (s->n_events >= TRACE_EVENTS_MAX) {
        s->dropped_events++;
        if (attrs)
            trace_attrs_free(attrs);
        return;
    }
    s->events = xrealloc(s->events, (s->n_events + 1) * sizeof *s->events);
    trace_event *e = &s->events[s->n_events++];
    e->name = xstrdup(name);
    e->time_ns = t_ns;
    e->attrs = attrs ? *attrs : (trace_attrs){ 0 };
    if (attrs)
        *attrs = (trace_attrs){ 0 };
}

void trace_span_status(trace_span *s, trace_status st, const char *msg)
{
    free(s->status_msg);
    s->status = st;
    s->status_msg = msg ? xstrdup(msg) : NULL;
}

void trace_span_clear(trace_span *s)
{
    free(s->name);
    trace_attrs_free(&s->attrs);
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i].name);
        trace_attrs_free(&s->events[i].attrs);
    }
    free(s->events);
    free(s->status_msg);
    memset(s, 0, sizeof *s);
}

trace_span *trace_batch_add(trace_batch *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->spans = xrealloc(b->spans, b->cap * sizeof *b->spans);
    }
    trace_span *s = &b->spans[b->n++];
    memset(s, 0, sizeof *s);
    return s;
}

void trace_batch_move(trace_batch *to, trace_batch *from)
{
    if (to->n + from->n > to->cap) {
        to->cap = to->n + from->n;
        to->spans = xrealloc(to->spans, to->cap * sizeof *to->spans);
    }
    if (from->n)
        memcpy(to->spans + to->n, from->spans, from->n * sizeof *from->spans);
    to->n += from->n;
    free(from->spans);
    *from = (trace_batch){ 0 };
}

void trace_batch_clear(trace_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        trace_span_clear(&b->spans[i]);
    free(b->spans);
    *b = (trace_batch){ 0 };
}
