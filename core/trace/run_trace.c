/* SPDX-License-Identifier: MIT */
/* run_trace.c - see run_trace.h. */
#include "trace/run_trace.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct trace_run {
    pthread_mutex_t mu; /* everything below: the heartbeat adds events from its thread */
    trace_context ctx;  /* the trace id, the root's span id, the flags */
    trace_batch spans;  /* [0] is the root */
};

/* ------------------------------------------------------------ chunks */

void trace_chunks_add(trace_chunks *c, const trace_chunk *ch)
{
    if (c->n < TRACE_CHUNK_SPANS_MAX) {
        c->first[c->n++] = *ch;
        return;
    }
    if (!c->rest_n++)
        c->rest_start_ns = ch->start_ns;
    c->rest_end_ns = ch->end_ns;
    c->rest_rows += ch->rows;
    c->rest_retries += ch->retries;
    c->rest_failed += ch->failed != 0;
}

void trace_chunks_add_list(trace_chunks *c, const trace_chunk *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        trace_chunks_add(c, &list[i]);
}

int64_t trace_chunks_count(const trace_chunks *c)
{
    return (int64_t)c->n + c->rest_n;
}

json_t *trace_chunks_json(const trace_chunks *c)
{
    json_t *first = jx(json_array());
    for (size_t i = 0; i < c->n; i++) {
        const trace_chunk *ch = &c->first[i];
        json_array_append_new(first, jx(json_pack("[I, I, I, I, b]", (json_int_t)ch->start_ns,
                                                  (json_int_t)ch->end_ns, (json_int_t)ch->rows,
                                                  (json_int_t)ch->retries, ch->failed != 0)));
    }
    return jx(json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "first", first, "rest",
                        "n", (json_int_t)c->rest_n, "rows", (json_int_t)c->rest_rows,
                        "retries", (json_int_t)c->rest_retries,
                        "failed", (json_int_t)c->rest_failed,
                        "startNs", (json_int_t)c->rest_start_ns,
                        "endNs", (json_int_t)c->rest_end_ns));
}

int trace_chunks_from_json(const json_t *j, trace_chunks *out)
{
    json_error_t e;
    json_t *first = NULL;
    json_int_t n = 0, rows = 0, retries = 0, failed = 0, start = 0, end = 0;
    memset(out, 0, sizeof *out);
    if (!j)
        return 0;
    if (json_unpack_ex((json_t *)j, &e, JSON_STRICT, "{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
                       "first", &first, "rest", "n", &n, "rows", &rows, "retries", &retries,
                       "failed", &failed, "startNs", &start, "endNs", &end) != 0 ||
        !json_is_array(first) || json_array_size(first) > TRACE_CHUNK_SPANS_MAX || n < 0 ||
        (n > 0 && json_array_size(first) != TRACE_CHUNK_SPANS_MAX))
        return -1;
    size_t i;
    json_t *it;
    json_array_foreach(first, i, it) {
        json_int_t s, en, r, t;
        int f;
        if (json_unpack_ex(it, &e, JSON_STRICT, "[I, I, I, I, b]", &s, &en, &r, &t, &f) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        out->first[i] = (trace_chunk){ s, en, r, t, f };
    }
    out->n = json_array_size(first);
    out->rest_n = n;
    out->rest_rows = rows;
    out->rest_retries = retries;
    out->rest_failed = failed;
    out->rest_start_ns = start;
    out->rest_end_ns = end;
    return 0;
}

/* ------------------------------------------------------------ the run */

trace_run *trace_run_begin(const trace_context *parent, const trace_run_info *info,
                           int64_t start_ns)
{
    trace_run *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    if (parent) {
        memcpy(r->ctx.trace_id, parent->trace_id, sizeof r->ctx.trace_id);
        r->ctx.flags = parent->flags;
    } else {
        trace_new_trace_id(r->ctx.trace_id);
        r->ctx.flags = TRACE_FLAG_SAMPLED;
    }
    trace_span *root = trace_batch_add(&r->spans);
    trace_span_init(root, TRACE_SPAN_RUN, r->ctx.trace_id, parent ? parent->span_id : NULL,
                    start_ns);
    memcpy(r->ctx.span_id, root->span_id, sizeof r->ctx.span_id);
    trace_attrs_str(&root->attrs, "reconciler.job", info->job);
    trace_attrs_str(&root->attrs, "reconciler.trigger", info->trigger);
    trace_attrs_str(&root->attrs, "reconciler.scheduled_for", info->scheduled_for);
    trace_attrs_bool(&root->attrs, "reconciler.dry_run", info->dry_run);
    if (info->run_id)
        trace_attrs_int(&root->attrs, "reconciler.run_id", info->run_id);
    return r;
}

trace_run *trace_run_from_env(const trace_run_info *info, int64_t start_ns)
{
    const char *tp = getenv("TRACEPARENT"), *why;
    trace_context parent;
    if (!tp || !*tp)
        return trace_run_begin(NULL, info, start_ns);
    if (trace_context_parse(tp, &parent, &why) != 0) {
        log_warn("tracing: TRACEPARENT is not a W3C traceparent (%s); the run starts a trace "
                 "of its own", why);
        return trace_run_begin(NULL, info, start_ns);
    }
    return trace_run_begin(&parent, info, start_ns);
}

void trace_run_free(trace_run *r)
{
    if (!r)
        return;
    trace_batch_clear(&r->spans);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void trace_run_context(const trace_run *r, trace_context *out)
{
    *out = r->ctx; /* set once at the start: no lock needed */
}

int trace_run_sampled(const trace_run *r)
{
    return (r->ctx.flags & TRACE_FLAG_SAMPLED) != 0;
}

void trace_run_event(trace_run *r, const char *name, int64_t t_ns, trace_attrs *attrs)
{
    pthread_mutex_lock(&r->mu);
    if (r->spans.n)
        trace_span_event(&r->spans.spans[0], name, t_ns, attrs);
    else if (attrs)
        trace_attrs_free(attrs); /* taken already: too late to tell */
    pthread_mutex_unlock(&r->mu);
}

void trace_run_set_id(trace_run *r, int64_t run_id)
{
    pthread_mutex_lock(&r->mu);
    if (r->spans.n && run_id)
        trace_attrs_int(&r->spans.spans[0].attrs, "reconciler.run_id", run_id);
    pthread_mutex_unlock(&r->mu);
}

size_t trace_run_step_begin(trace_run *r, const char *name, const char *plugin,
                            int64_t start_ns, char span_id[SPAN_ID_HEX + 1])
{
    pthread_mutex_lock(&r->mu);
    size_t idx = r->spans.n;
    trace_span *s = trace_batch_add(&r->spans);
    char *span_name = xasprintf(TRACE_SPAN_STEP_PREFIX "%s", name);
    trace_span_init(s, span_name, r->ctx.trace_id, r->ctx.span_id, start_ns);
    free(span_name);
    trace_attrs_str(&s->attrs, "reconciler.step", name);
    trace_attrs_str(&s->attrs, "reconciler.plugin", plugin);
    memcpy(span_id, s->span_id, SPAN_ID_HEX + 1);
    pthread_mutex_unlock(&r->mu);
    return idx;
}

/* ok: OK; failed, interrupted: ERROR with why; skipped (or unknown): left unset. */
static void step_status(trace_span *s, const char *status, const char *error)
{
    if (!status)
        return;
    if (strcmp(status, "ok") == 0 || strcmp(status, "success") == 0)
        trace_span_status(s, TRACE_STATUS_OK, NULL);
    else if (strcmp(status, "failed") == 0 || strcmp(status, "interrupted") == 0 ||
             strcmp(status, "partial") == 0)
        trace_span_status(s, TRACE_STATUS_ERROR, error ? error : status);
}

static void chunk_span(trace_run *r, const char *parent, const trace_chunk *ch, size_t index)
{
    trace_span *s = trace_batch_add(&r->spans);
    trace_span_init(s, TRACE_SPAN_CHUNK, r->ctx.trace_id, parent, ch->start_ns);
    s->end_ns = ch->end_ns;
    trace_attrs_int(&s->attrs, "reconciler.chunk.index", (int64_t)index);
    trace_attrs_int(&s->attrs, "reconciler.chunk.rows", ch->rows);
    trace_attrs_int(&s->attrs, "reconciler.chunk.retries", ch->retries);
    trace_span_status(s, ch->failed ? TRACE_STATUS_ERROR : TRACE_STATUS_OK,
                      ch->failed ? "the chunk failed" : NULL);
}

static void summary_span(trace_run *r, const char *parent, const trace_chunks *c)
{
    trace_span *s = trace_batch_add(&r->spans);
    trace_span_init(s, TRACE_SPAN_CHUNKS_SUMMARY, r->ctx.trace_id, parent, c->rest_start_ns);
    s->end_ns = c->rest_end_ns;
    trace_attrs_int(&s->attrs, "reconciler.chunks.first_index", TRACE_CHUNK_SPANS_MAX + 1);
    trace_attrs_int(&s->attrs, "reconciler.chunks.count", c->rest_n);
    trace_attrs_int(&s->attrs, "reconciler.chunks.rows", c->rest_rows);
    trace_attrs_int(&s->attrs, "reconciler.chunks.retries", c->rest_retries);
    trace_attrs_int(&s->attrs, "reconciler.chunks.failed", c->rest_failed);
    trace_span_status(s, c->rest_failed ? TRACE_STATUS_ERROR : TRACE_STATUS_OK,
                      c->rest_failed ? "a chunk failed" : NULL);
}

void trace_run_step_end(trace_run *r, size_t step, const trace_step_facts *f,
                        const trace_chunks *chunks)
{
    char parent[SPAN_ID_HEX + 1];
    pthread_mutex_lock(&r->mu);
    if (step >= r->spans.n || step == 0) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    trace_span *s = &r->spans.spans[step];
    s->end_ns = f->end_ns;
    trace_attrs_str(&s->attrs, "reconciler.status", f->status);
    trace_attrs_int(&s->attrs, "reconciler.rows_changed", f->rows_changed);
    trace_attrs_int(&s->attrs, "reconciler.retries", f->retries);
    trace_attrs_str(&s->attrs, "reconciler.error", f->error);
    trace_attrs_int(&s->attrs, "reconciler.chunks", chunks ? trace_chunks_count(chunks) : 0);
    step_status(s, f->status, f->error);
    memcpy(parent, s->span_id, sizeof parent);
    /* s is not used below: adding spans may move the batch. */
    for (size_t i = 0; chunks && i < chunks->n; i++)
        chunk_span(r, parent, &chunks->first[i], i + 1);
    if (chunks && chunks->rest_n)
        summary_span(r, parent, chunks);
    pthread_mutex_unlock(&r->mu);
}

void trace_run_end(trace_run *r, const char *status, int64_t rows_changed, const char *error,
                   int64_t end_ns)
{
    pthread_mutex_lock(&r->mu);
    if (r->spans.n) {
        trace_span *root = &r->spans.spans[0];
        root->end_ns = end_ns;
        trace_attrs_str(&root->attrs, "reconciler.status", status);
        trace_attrs_int(&root->attrs, "reconciler.rows_changed", rows_changed);
        step_status(root, status, error);
    }
    pthread_mutex_unlock(&r->mu);
}

void trace_run_take(trace_run *r, trace_batch *out)
{
    pthread_mutex_lock(&r->mu);
    trace_batch_move(out, &r->spans);
    pthread_mutex_unlock(&r->mu);
}
