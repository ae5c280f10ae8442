/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - core/trace: W3C trace context (ids, strict traceparent
 * parsing, formatting back), the span model and its OTLP/JSON encoding, a
 * run's span tree (steps, chunks, the summary past 100 chunks), the
 * settings from the OTEL_* variables and the pipeline keys, and the
 * background exporter against a real loopback OTLP receiver (tests/th_otlp):
 * what it sends, that a receiver which hangs or fails costs the caller
 * nothing, that it retries on 429/502/503/504 and on nothing else, that a
 * full queue drops and counts, and that no header value or endpoint secret
 * is ever written anywhere.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_otlp.h"
#include "th_svc.h"
#include "base/log.h"
#include "base/util.h"
#include "trace/context.h"
#include "trace/exporter.h"
#include "trace/otlp_json.h"
#include "trace/run_trace.h"
#include "trace/settings.h"
#include "trace/span.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TP_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_SPAN "00f067aa0ba902b7"
#define TRACEPARENT_OK "00-" TP_TRACE "-" TP_SPAN "-01"

/* ------------------------------------------------------------ helpers */

static int is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Every variable the settings read, unset: the harness's own environment must not leak in. */
static void clear_env(void)
{
    static const char *const names[] = {
        "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "TRACEPARENT", NULL
    };
    for (size_t i = 0; names[i]; i++)
        unsetenv(names[i]);
}

/* stderr into a file from now on; returns the saved descriptor for capture_end. */
static int capture_begin(const char *path)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    return saved;
}

/* stderr back; what was written meanwhile (malloc'd). */
static char *capture_end(int saved, const char *path)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = th_read(path);
    cr_assert_not_null(text);
    return text;
}

/* Settings for the exporter tests: endpoint url, fast backoff, nothing from the environment. */
static void test_settings(trace_settings *s, const char *url)
{
    clear_env();
    trace_overrides o = TRACE_OVERRIDES_NONE;
    o.endpoint = url;
    trace_settings_load(&o, s);
    cr_assert(s->enabled);
    s->backoff_ms = 20;
}

/* A run's trace: two steps, the first with `chunks` chunks of 10 rows, the second skipped. */
static trace_run *sample_run(const trace_context *parent, int chunks)
{
    trace_run_info info = { "pipeline.yaml", "startup", "2026-11-29T03:00:00.000Z", 0, 42 };
    int64_t t0 = trace_now_ns();
    trace_run *r = trace_run_begin(parent, &info, t0);
    trace_attrs a = { 0 };
    trace_attrs_str(&a, "reconciler.lock.holder", "host:1234");
    trace_attrs_int(&a, "reconciler.lock.waited_ms", 0);
    trace_run_event(r, "lock taken", t0 + 1000, &a);
    char sid[SPAN_ID_HEX + 1];
    size_t s1 = trace_run_step_begin(r, "leases", "leases", t0 + 2000, sid);
    trace_chunks c = { 0 };
    for (int i = 0; i < chunks; i++) {
        trace_chunk ch = { t0 + 3000 + i * 100, t0 + 3050 + i * 100, 10, i == 2, 0 };
        trace_chunks_add(&c, &ch);
    }
    trace_step_facts f = { "ok", t0 + 3000 + chunks * 100, 10LL * chunks, chunks > 2, NULL };
    trace_run_step_end(r, s1, &f, &c);
    size_t s2 = trace_run_step_begin(r, "orders", "orders", f.end_ns, sid);
    trace_step_facts f2 = { "failed", f.end_ns + 10, 0, 0, "deadlock found \xff when trying" };
    trace_run_step_end(r, s2, &f2, NULL);
    trace_run_end(r, "partial", 10LL * chunks, "orders: deadlock", f2.end_ns + 10);
    return r;
}

/* ------------------------------------------------------------ ids and traceparent */

Test(trace, ids_are_lowercase_hex_of_the_right_length_and_differ)
{
    enum { N = 2000 };
    static char t[N][TRACE_ID_HEX + 1], s[N][SPAN_ID_HEX + 1];
    for (int i = 0; i < N; i++) {
        trace_new_trace_id(t[i]);
        trace_new_span_id(s[i]);
        cr_assert(is_hex(t[i], 32), "trace id '%s'", t[i]);
        cr_assert(is_hex(s[i], 16), "span id '%s'", s[i]);
        cr_assert(trace_id_valid(t[i], 32) && trace_id_valid(s[i], 16));
    }
    qsort(t, N, sizeof t[0], (int (*)(const void *, const void *))strcmp);
    qsort(s, N, sizeof s[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < N; i++) {
        cr_assert_str_neq(t[i], t[i - 1], "two trace ids alike");
        cr_assert_str_neq(s[i], s[i - 1], "two span ids alike");
    }
    cr_assert_not(trace_id_valid("00000000000000000000000000000000", 32), "all zeros");
    cr_assert(trace_id_valid("00000000000000000000000000000001", 32), "one bit is enough");
    cr_assert_not(trace_id_valid("0000000000000000000000000000000G", 32));
    cr_assert_not(trace_id_valid("0000000000000000000000000000001", 32), "31 digits");
}

Test(trace, traceparent_parses_and_formats_back)
{
    trace_context c;
    const char *why;
    char out[TRACEPARENT_LEN + 1];
    cr_assert_eq(trace_context_parse(TRACEPARENT_OK, &c, &why), 0, "%s", why);
    cr_assert_str_eq(c.trace_id, TP_TRACE);
    cr_assert_str_eq(c.span_id, TP_SPAN);
    cr_assert_eq(c.flags, 1u);
    trace_context_format(&c, out);
    cr_assert_str_eq(out, TRACEPARENT_OK);
    /* Not sampled, other flag bits: kept as they came. */
    cr_assert_eq(trace_context_parse("00-" TP_TRACE "-" TP_SPAN "-00", &c, &why), 0);
    cr_assert_eq(c.flags, 0u);
    cr_assert_eq(trace_context_parse("00-" TP_TRACE "-" TP_SPAN "-fe", &c, &why), 0);
    cr_assert_eq(c.flags, 0xfeu);
    trace_context_format(&c, out);
    cr_assert_str_eq(out, "00-" TP_TRACE "-" TP_SPAN "-fe");
    /* A later version: its first 55 characters as 00's, more fields after a '-'. */
    cr_assert_eq(trace_context_parse("01-" TP_TRACE "-" TP_SPAN "-01", &c, &why), 0, "%s", why);
    cr_assert_eq(trace_context_parse("cc-" TP_TRACE "-" TP_SPAN "-01-what-the-future", &c, &why),
                 0, "%s", why);
    cr_assert_str_eq(c.trace_id, TP_TRACE);
    /* We always propagate version 00. */
    trace_context_format(&c, out);
    cr_assert_str_eq(out, TRACEPARENT_OK);
}

Test(trace, traceparent_is_parsed_strictly)
{
    static const char *const bad[] = {
        "",
        "00",
        "ff-" TP_TRACE "-" TP_SPAN "-01",                       /* version ff */
        "00-00000000000000000000000000000000-" TP_SPAN "-01",    /* all-zero trace id */
        "00-" TP_TRACE "-0000000000000000-01",                   /* all-zero parent */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_SPAN "-01",    /* uppercase */
        "00-" TP_TRACE "-00F067AA0BA902B7-01",
        "00-" TP_TRACE "-" TP_SPAN "-0A",
        "0A-" TP_TRACE "-" TP_SPAN "-01",
        "00-" TP_TRACE "-" TP_SPAN "-1",                         /* 54 characters */
        "00-" TP_TRACE "-" TP_SPAN "-011",                       /* 56 */
        "00-" TP_TRACE "-" TP_SPAN "-01-",                       /* 00 has no more fields */
        "00-4bf92f3577b34da6a3ce929d0e0e473-" TP_SPAN "0-01",     /* a short trace id */
        "00-" TP_TRACE "-" TP_SPAN "_01",                        /* separators */
        "00_" TP_TRACE "-" TP_SPAN "-01",
        "00-" TP_TRACE "-00f067aa0ba902bg-01",                   /* not hex */
        "00-" TP_TRACE "-" TP_SPAN "-zz",
        "01-" TP_TRACE "-" TP_SPAN "-01x",                       /* later version, no '-' */
        " 00-" TP_TRACE "-" TP_SPAN "-01",
        "00-" TP_TRACE "-" TP_SPAN "-01 ",
        NULL
    };
    for (size_t i = 0; bad[i]; i++) {
        trace_context c;
        const char *why = NULL;
        cr_assert_eq(trace_context_parse(bad[i], &c, &why), -1, "'%s' was accepted", bad[i]);
        cr_assert_not_null(why, "'%s': no reason", bad[i]);
        /* The reason never quotes the value. */
        cr_assert_null(strstr(why, TP_TRACE), "%s", why);
    }
}

/* ------------------------------------------------------------ spans as OTLP/JSON */

Test(trace, otlp_json_follows_the_protobuf_json_mapping)
{
    trace_batch b = { 0 };
    trace_attrs res = { 0 };
    trace_attrs_str(&res, "service.name", "svc");
    trace_span *root = trace_batch_add(&b);
    trace_span_init(root, "root", TP_TRACE, NULL, INT64_C(1800000000123456789));
    root->end_ns = INT64_C(1800000000987654321); /* past 2^53: a double would round it */
    trace_attrs_str(&root->attrs, "s", "text");
    trace_attrs_int(&root->attrs, "i", INT64_C(-9007199254740993));
    trace_attrs_double(&root->attrs, "d", 0.25);
    trace_attrs_bool(&root->attrs, "b", 1);
    trace_attrs_str(&root->attrs, "s", "again"); /* set twice: replaced */
    trace_attrs ev = { 0 };
    trace_attrs_int(&ev, "n", 7);
    trace_span_event(root, "lock taken", INT64_C(1800000000200000000), &ev);
    cr_assert_eq(ev.n, 0, "moved into the event");
    trace_span_status(root, TRACE_STATUS_ERROR, "bad \xc3 byte");
    char root_id[SPAN_ID_HEX + 1];
    memcpy(root_id, root->span_id, sizeof root_id);
    trace_span *child = trace_batch_add(&b);
    trace_span_init(child, "child", TP_TRACE, root_id, INT64_C(1800000000300000000));

    char *text = trace_otlp_json(&res, b.spans, b.n);
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, text);
    json_t *rs = json_array_get(json_object_get(j, "resourceSpans"), 0);
    json_t *ra = json_array_get(json_object_get(json_object_get(rs, "resource"), "attributes"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(ra, "key")), "service.name");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ss, "scope"), "name")),
                     TRACE_SCOPE_NAME);
    json_t *spans = json_object_get(ss, "spans");
    cr_assert_eq(json_array_size(spans), 2);
    json_t *r = json_array_get(spans, 0), *c = json_array_get(spans, 1);
    cr_assert_str_eq(json_string_value(json_object_get(r, "traceId")), TP_TRACE);
    cr_assert_null(json_object_get(r, "parentSpanId"), "a root has no parentSpanId");
    cr_assert_str_eq(json_string_value(json_object_get(c, "parentSpanId")), root_id);
    cr_assert_str_eq(json_string_value(json_object_get(r, "startTimeUnixNano")),
                     "1800000000123456789");
    cr_assert_str_eq(json_string_value(json_object_get(r, "endTimeUnixNano")),
                     "1800000000987654321");
    cr_assert_eq(json_integer_value(json_object_get(r, "kind")), TRACE_KIND_INTERNAL);
    json_t *st = json_object_get(r, "status");
    cr_assert_eq(json_integer_value(json_object_get(st, "code")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(st, "message")), "bad \xef\xbf\xbd byte");
    cr_assert_str_eq(json_string_value(json_object_get(th_otlp_attr(r, "s"), "stringValue")), "again");
    cr_assert_str_eq(json_string_value(json_object_get(th_otlp_attr(r, "i"), "intValue")),
                     "-9007199254740993");
    cr_assert_eq(json_real_value(json_object_get(th_otlp_attr(r, "d"), "doubleValue")), 0.25);
    cr_assert(json_is_true(json_object_get(th_otlp_attr(r, "b"), "boolValue")));
    cr_assert_eq(json_array_size(json_object_get(r, "attributes")), 4, "s set twice is one");
    json_t *e0 = json_array_get(json_object_get(r, "events"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(e0, "timeUnixNano")), "1800000000200000000");
    cr_assert_str_eq(json_string_value(json_object_get(e0, "name")), "lock taken");
    cr_assert_eq(json_integer_value(json_object_get(c, "kind")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(c, "status"), "code")), 0);
    json_decref(j);
    free(text);
    trace_batch_clear(&b);
    trace_attrs_free(&res);
}

Test(trace, events_past_the_cap_are_counted)
{
    trace_span s;
    trace_span_init(&s, "x", TP_TRACE, NULL, 1);
    for (int i = 0; i < TRACE_EVENTS_MAX + 5; i++) {
        trace_attrs a = { 0 };
        trace_attrs_int(&a, "i", i);
        trace_span_event(&s, "renewed", i, &a);
    }
    cr_assert_eq(s.n_events, TRACE_EVENTS_MAX);
    cr_assert_eq(s.dropped_events, 5);
    char *text = trace_otlp_json(NULL, &s, 1);
    cr_assert(strstr(text, "\"droppedEventsCount\":5"), "%s", text);
    free(text);
    trace_span_clear(&s);
}

/* ------------------------------------------------------------ a run's tree */

/* The spans of r (taken), encoded and decoded as a receiver would see them. */
static json_t *run_spans(trace_run *r)
{
    trace_batch b = { 0 };
    trace_run_take(r, &b);
    char *text = trace_otlp_json(NULL, b.spans, b.n);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j);
    json_t *spans = json_incref(json_object_get(json_array_get(json_object_get(
        json_array_get(json_object_get(j, "resourceSpans"), 0), "scopeSpans"), 0), "spans"));
    json_decref(j);
    free(text);
    trace_batch_clear(&b);
    return spans;
}

static size_t count_named(json_t *spans, const char *name)
{
    size_t i, n = 0;
    json_t *s;
    json_array_foreach(spans, i, s)
        n += strcmp(json_string_value(json_object_get(s, "name")), name) == 0;
    return n;
}

static int64_t int_attr(json_t *s, const char *key)
{
    json_t *v = th_otlp_attr(s, key);
    cr_assert_not_null(v, "no attribute %s", key);
    return atoll(json_string_value(json_object_get(v, "intValue")));
}

static const char *str_attr(json_t *s, const char *key)
{
    json_t *v = th_otlp_attr(s, key);
    cr_assert_not_null(v, "no attribute %s", key);
    return json_string_value(json_object_get(v, "stringValue"));
}

Test(trace, a_run_is_a_tree_of_steps_and_chunks)
{
    trace_run *r = sample_run(NULL, 3);
    trace_context ctx;
    trace_run_context(r, &ctx);
    cr_assert(trace_run_sampled(r));
    json_t *spans = run_spans(r);
    cr_assert_eq(json_array_size(spans), 1 + 2 + 3);
    th_otlp_check_tree(spans, ctx.trace_id, NULL);
    json_t *root = json_array_get(spans, 0);
    cr_assert_str_eq(json_string_value(json_object_get(root, "name")), TRACE_SPAN_RUN);
    cr_assert_str_eq(json_string_value(json_object_get(root, "spanId")), ctx.span_id);
    cr_assert_str_eq(str_attr(root, "reconciler.job"), "pipeline.yaml");
    cr_assert_str_eq(str_attr(root, "reconciler.trigger"), "startup");
    cr_assert_str_eq(str_attr(root, "reconciler.scheduled_for"), "2026-11-29T03:00:00.000Z");
    cr_assert(json_is_false(json_object_get(th_otlp_attr(root, "reconciler.dry_run"), "boolValue")));
    cr_assert_str_eq(str_attr(root, "reconciler.status"), "partial");
    cr_assert_eq(int_attr(root, "reconciler.rows_changed"), 30);
    cr_assert_eq(int_attr(root, "reconciler.run_id"), 42);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(root, "status"), "code")), 2);
    json_t *ev = json_array_get(json_object_get(root, "events"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "name")), "lock taken");

    json_t *s1 = th_otlp_find(spans, "step leases"), *s2 = th_otlp_find(spans, "step orders");
    cr_assert(s1 && s2);
    cr_assert_str_eq(json_string_value(json_object_get(s1, "parentSpanId")), ctx.span_id);
    cr_assert_str_eq(str_attr(s1, "reconciler.plugin"), "leases");
    cr_assert_str_eq(str_attr(s1, "reconciler.status"), "ok");
    cr_assert_eq(int_attr(s1, "reconciler.rows_changed"), 30);
    cr_assert_eq(int_attr(s1, "reconciler.retries"), 1);
    cr_assert_eq(int_attr(s1, "reconciler.chunks"), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(s1, "status"), "code")), 1);
    cr_assert_str_eq(str_attr(s2, "reconciler.status"), "failed");
    cr_assert(strstr(str_attr(s2, "reconciler.error"), "deadlock found"));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(s2, "status"), "code")), 2);

    size_t i;
    json_t *s;
    int64_t index = 0;
    json_array_foreach(spans, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), TRACE_SPAN_CHUNK) != 0)
            continue;
        cr_assert_str_eq(json_string_value(json_object_get(s, "parentSpanId")),
                         json_string_value(json_object_get(s1, "spanId")), "a chunk under its step");
        cr_assert_eq(int_attr(s, "reconciler.chunk.index"), ++index);
        cr_assert_eq(int_attr(s, "reconciler.chunk.rows"), 10);
        cr_assert_eq(int_attr(s, "reconciler.chunk.retries"), index == 3);
    }
    cr_assert_eq(index, 3);
    json_decref(spans);
    trace_run_free(r);
}

Test(trace, past_100_chunks_the_rest_is_one_summary_span)
{
    /* 100: every chunk its own span, no summary. */
    trace_run *r = sample_run(NULL, 100);
    json_t *spans = run_spans(r);
    cr_assert_eq(count_named(spans, TRACE_SPAN_CHUNK), 100);
    cr_assert_eq(count_named(spans, TRACE_SPAN_CHUNKS_SUMMARY), 0);
    json_decref(spans);
    trace_run_free(r);

    /* 101: the 101st is summarised. */
    r = sample_run(NULL, 101);
    spans = run_spans(r);
    cr_assert_eq(count_named(spans, TRACE_SPAN_CHUNK), 100);
    json_t *sum = th_otlp_find(spans, TRACE_SPAN_CHUNKS_SUMMARY);
    cr_assert_not_null(sum);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.count"), 1);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.first_index"), 101);
    json_decref(spans);
    trace_run_free(r);

    /* 10,000 chunks (10M rows at 1000 a chunk): still 100 + 1 spans under the step. */
    r = sample_run(NULL, 10000);
    spans = run_spans(r);
    cr_assert_eq(json_array_size(spans), 1 + 2 + 100 + 1);
    sum = th_otlp_find(spans, TRACE_SPAN_CHUNKS_SUMMARY);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.count"), 9900);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.rows"), 99000);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.retries"), 0, "the one retry was chunk 3");
    cr_assert_eq(int_attr(th_otlp_find(spans, "step leases"), "reconciler.chunks"), 10000);
    /* It spans the 101st chunk's start to the last one's end. */
    long long st = atoll(json_string_value(json_object_get(sum, "startTimeUnixNano")));
    long long en = atoll(json_string_value(json_object_get(sum, "endTimeUnixNano")));
    cr_assert_eq(en - st, 9899LL * 100 + 50);
    th_otlp_check_tree(spans, json_string_value(json_object_get(json_array_get(spans, 0), "traceId")),
                       NULL);
    json_decref(spans);
    trace_run_free(r);
}

Test(trace, chunk_records_travel_as_json_and_back)
{
    trace_chunks c = { 0 }, back;
    trace_chunk list[130];
    for (int i = 0; i < 130; i++)
        list[i] = (trace_chunk){ 1000 + i, 1010 + i, i, i % 3, i == 120 };
    trace_chunks_add_list(&c, list, 130);
    cr_assert_eq(trace_chunks_count(&c), 130);
    json_t *j = trace_chunks_json(&c);
    cr_assert_eq(trace_chunks_from_json(j, &back), 0);
    cr_assert_eq(back.n, c.n);
    for (size_t i = 0; i < c.n; i++)
        cr_assert(back.first[i].start_ns == c.first[i].start_ns &&
                  back.first[i].end_ns == c.first[i].end_ns &&
                  back.first[i].rows == c.first[i].rows &&
                  back.first[i].retries == c.first[i].retries &&
                  back.first[i].failed == c.first[i].failed, "record %zu differs", i);
    cr_assert(back.rest_rows == c.rest_rows && back.rest_retries == c.rest_retries &&
              back.rest_start_ns == c.rest_start_ns && back.rest_end_ns == c.rest_end_ns);
    cr_assert_eq(back.rest_n, 30);
    cr_assert_eq(back.rest_failed, 1);
    json_decref(j);
    /* No chunks at all (a step that wrote nothing, or an old worker): empty, fine. */
    cr_assert_eq(trace_chunks_from_json(NULL, &back), 0);
    cr_assert_eq(trace_chunks_count(&back), 0);
    /* A confused peer's reply: refused, left empty. */
    static const char *const bad[] = {
        "[]", "{\"first\":[]}", "{\"first\":[[1,2,3,4]],\"rest\":{\"n\":0,\"rows\":0,\"retries\":0,"
        "\"failed\":0,\"startNs\":0,\"endNs\":0}}",
        "{\"first\":[[1,2,3,4,\"x\"]],\"rest\":{\"n\":0,\"rows\":0,\"retries\":0,\"failed\":0,"
        "\"startNs\":0,\"endNs\":0}}",
        /* a rest before the first 100 are full */
        "{\"first\":[[1,2,3,4,false]],\"rest\":{\"n\":5,\"rows\":0,\"retries\":0,\"failed\":0,"
        "\"startNs\":0,\"endNs\":0}}",
        NULL
    };
    for (size_t i = 0; bad[i]; i++) {
        json_t *b = json_loads(bad[i], 0, NULL);
        cr_assert_not_null(b, "%s", bad[i]);
        back.n = 7;
        cr_assert_eq(trace_chunks_from_json(b, &back), -1, "%s was accepted", bad[i]);
        cr_assert_eq(trace_chunks_count(&back), 0);
        json_decref(b);
    }
    /* 101 records in first[]: more than a worker may send. */
    json_t *big = trace_chunks_json(&c);
    json_array_append_new(json_object_get(big, "first"), json_pack("[I,I,I,I,b]", 1, 2, 3, 4, 0));
    cr_assert_eq(trace_chunks_from_json(big, &back), -1);
    json_decref(big);
}

Test(trace, a_traceparent_parent_is_honoured)
{
    trace_context parent, ctx;
    const char *why;
    cr_assert_eq(trace_context_parse(TRACEPARENT_OK, &parent, &why), 0);
    trace_run *r = sample_run(&parent, 2);
    trace_run_context(r, &ctx);
    cr_assert_str_eq(ctx.trace_id, TP_TRACE, "the trace id is the caller's");
    cr_assert_str_neq(ctx.span_id, TP_SPAN, "the root is a span of its own");
    cr_assert(trace_run_sampled(r));
    json_t *spans = run_spans(r);
    json_t *root = json_array_get(spans, 0);
    cr_assert_str_eq(json_string_value(json_object_get(root, "parentSpanId")), TP_SPAN);
    th_otlp_check_tree(spans, TP_TRACE, TP_SPAN);
    json_decref(spans);
    trace_run_free(r);

    /* Not sampled upstream: the run keeps the ids but is not exported. */
    cr_assert_eq(trace_context_parse("00-" TP_TRACE "-" TP_SPAN "-00", &parent, &why), 0);
    r = sample_run(&parent, 1);
    cr_assert_not(trace_run_sampled(r));
    trace_run_free(r);
}

typedef struct renewer {
    trace_run *r;
    int n;
} renewer;

static void *renew_thread(void *arg)
{
    renewer *w = arg;
    for (int i = 0; i < w->n; i++) {
        trace_attrs a = { 0 };
        trace_attrs_int(&a, "reconciler.lock.renewal", i);
        trace_run_event(w->r, "lock renewed", trace_now_ns(), &a);
    }
    return NULL;
}

Test(trace, renewals_from_another_thread_while_steps_report)
{
    trace_run_info info = { "p", "scheduled", NULL, 0, 0 };
    trace_run *r = trace_run_begin(NULL, &info, trace_now_ns());
    renewer w = { r, 100 };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, renew_thread, &w), 0);
    for (int i = 0; i < 50; i++) {
        char sid[SPAN_ID_HEX + 1];
        size_t s = trace_run_step_begin(r, "s", "p", trace_now_ns(), sid);
        trace_chunks c = { 0 };
        trace_chunk ch = { trace_now_ns(), trace_now_ns(), 1, 0, 0 };
        trace_chunks_add(&c, &ch);
        trace_step_facts f = { "ok", trace_now_ns(), 1, 0, NULL };
        trace_run_step_end(r, s, &f, &c);
    }
    pthread_join(t, NULL);
    trace_run_set_id(r, 9);
    trace_run_end(r, "success", 50, NULL, trace_now_ns());
    json_t *spans = run_spans(r);
    cr_assert_eq(json_array_size(spans), 1 + 50 * 2);
    json_t *root = json_array_get(spans, 0);
    cr_assert_eq(json_array_size(json_object_get(root, "events")), 100);
    cr_assert_eq(int_attr(root, "reconciler.run_id"), 9);
    cr_assert_null(th_otlp_attr(root, "reconciler.scheduled_for"), "NULL: not set");
    json_decref(spans);
    trace_run_free(r);
}

/* ------------------------------------------------------------ settings */

Test(trace, nothing_set_means_no_tracing)
{
    trace_settings s;
    clear_env();
    trace_settings_load(NULL, &s);
    cr_assert_not(s.enabled, "a program never told where to send sends nothing");
    trace_settings_free(&s);
    cr_assert_null(trace_exporter_start(&s));
}

Test(trace, the_endpoint_comes_from_key_then_variables)
{
    trace_settings s;
    trace_overrides o = TRACE_OVERRIDES_NONE;
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    trace_settings_load(NULL, &s);
    cr_assert(s.enabled);
    cr_assert_str_eq(s.endpoint, "http://collector:4318/v1/traces");
    cr_assert_str_eq(s.shown, "http://collector:4318/");
    trace_settings_free(&s);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/", 1);
    trace_settings_load(NULL, &s);
    cr_assert_str_eq(s.endpoint, "http://collector:4318/base/v1/traces");
    trace_settings_free(&s);
    /* The signal's own variable is used as given. */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:1234/custom", 1);
    trace_settings_load(NULL, &s);
    cr_assert_str_eq(s.endpoint, "http://other:1234/custom");
    trace_settings_free(&s);
    /* The key beats both. */
    o.endpoint = "https://key.example/v1/traces";
    trace_settings_load(&o, &s);
    cr_assert_str_eq(s.endpoint, "https://key.example/v1/traces");
    trace_settings_free(&s);
    /* Off by the variables... */
    setenv("OTEL_SDK_DISABLED", "TRUE", 1);
    trace_settings_load(&o, &s);
    cr_assert_not(s.enabled);
    trace_settings_free(&s);
    setenv("OTEL_SDK_DISABLED", "false", 1);
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    trace_settings_load(&o, &s);
    cr_assert_not(s.enabled);
    trace_settings_free(&s);
    /* ...unless the file says on; and the file's off beats an endpoint. */
    setenv("OTEL_SDK_DISABLED", "true", 1);
    o.enabled = 1;
    trace_settings_load(&o, &s);
    cr_assert(s.enabled);
    trace_settings_free(&s);
    unsetenv("OTEL_SDK_DISABLED");
    unsetenv("OTEL_TRACES_EXPORTER");
    o.enabled = 0;
    trace_settings_load(&o, &s);
    cr_assert_not(s.enabled);
    trace_settings_free(&s);
    /* enabled alone: the specification's default endpoint. */
    clear_env();
    trace_overrides on = { 1, NULL, NULL, NULL };
    trace_settings_load(&on, &s);
    cr_assert(s.enabled);
    cr_assert_str_eq(s.endpoint, TRACE_DEFAULT_ENDPOINT);
    trace_settings_free(&s);
}

Test(trace, headers_are_parsed_and_url_decoded)
{
    trace_settings s;
    char path[512];
    snprintf(path, sizeof path, "%s/warn.txt", th_tmpdir());
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS",
           " Authorization = Bearer%20tok%3Den , x-a=1,novalue,=nokey,bad name=v,"
           "x-crlf=a%0D%0Ab,x-nul=a%00b,x-eq=a=b,,x-pct=100%", 1);
    int saved = capture_begin(path);
    trace_settings_load(NULL, &s);
    char *warned = capture_end(saved, path);
    cr_assert_eq(s.n_headers, 4, "%s", warned);
    cr_assert_str_eq(s.headers[0].name, "Authorization");
    cr_assert_str_eq(s.headers[0].value, "Bearer tok=en");
    cr_assert_str_eq(s.headers[1].name, "x-a");
    cr_assert_str_eq(s.headers[1].value, "1");
    cr_assert_str_eq(s.headers[2].value, "a=b", "split at the first '='");
    cr_assert_str_eq(s.headers[3].value, "100%", "a stray % stays");
    cr_assert(strstr(warned, "OTEL_EXPORTER_OTLP_HEADERS: entry 3 is not key=value"), "%s", warned);
    cr_assert(strstr(warned, "entry 4 is not key=value"), "%s", warned);
    cr_assert(strstr(warned, "entry 5: the key is not an HTTP header name"), "%s", warned);
    cr_assert(strstr(warned, "header x-crlf: its value holds a line break"), "%s", warned);
    cr_assert(strstr(warned, "entry 7: its value holds a NUL byte"), "%s", warned);
    cr_assert_null(strstr(warned, "tok"), "a value in a warning: %s", warned);
    free(warned);
    trace_settings_free(&s);
    /* The signal's variable beats the general one; headers_env beats both. */
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-t=traces", 1);
    trace_settings_load(NULL, &s);
    cr_assert_eq(s.n_headers, 1);
    cr_assert_str_eq(s.headers[0].value, "traces");
    trace_settings_free(&s);
    setenv("MY_TRACE_HEADERS", "x-k=key", 1);
    trace_overrides o = { -1, NULL, "MY_TRACE_HEADERS", NULL };
    trace_settings_load(&o, &s);
    cr_assert_eq(s.n_headers, 1);
    cr_assert_str_eq(s.headers[0].value, "key");
    trace_settings_free(&s);
    /* headers_env names a variable that is not set: no headers, said once. */
    unsetenv("MY_TRACE_HEADERS");
    saved = capture_begin(path);
    trace_settings_load(&o, &s);
    warned = capture_end(saved, path);
    cr_assert_eq(s.n_headers, 0);
    cr_assert(s.enabled, "tracing goes on without");
    cr_assert(strstr(warned, "MY_TRACE_HEADERS, which is not set"), "%s", warned);
    free(warned);
    trace_settings_free(&s);
}

Test(trace, service_name_and_resource)
{
    trace_settings s;
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
    trace_settings_load(NULL, &s);
    cr_assert_str_eq(s.resource.a[0].key, "service.name");
    cr_assert_str_eq(s.resource.a[0].s, "reconciler");
    trace_settings_free(&s);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=from-res,"
           "team=a%2Cb", 1);
    trace_settings_load(NULL, &s);
    cr_assert_str_eq(s.resource.a[0].s, "from-res");
    cr_assert_eq(s.resource.n, 3, "service.name once");
    cr_assert_str_eq(trace_attrs_get(&s.resource, "deployment.environment")->s, "prod");
    cr_assert_str_eq(trace_attrs_get(&s.resource, "team")->s, "a,b");
    trace_settings_free(&s);
    setenv("OTEL_SERVICE_NAME", "from-var", 1);
    trace_settings_load(NULL, &s);
    cr_assert_str_eq(s.resource.a[0].s, "from-var", "OTEL_SERVICE_NAME beats the resource's");
    cr_assert_eq(s.resource.n, 3);
    trace_settings_free(&s);
    trace_overrides o = { -1, NULL, NULL, "from-key" };
    trace_settings_load(&o, &s);
    cr_assert_str_eq(s.resource.a[0].s, "from-key", "the key beats the variable");
    trace_settings_free(&s);
}

Test(trace, protocol_and_timeout)
{
    trace_settings s;
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    trace_settings_load(NULL, &s);
    cr_assert(s.enabled);
    cr_assert_eq(s.timeout_ms, 10000);
    trace_settings_free(&s);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
    trace_settings_load(NULL, &s);
    cr_assert(s.enabled, "http/protobuf is sent as http/json");
    trace_settings_free(&s);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
    trace_settings_load(NULL, &s);
    cr_assert_not(s.enabled, "grpc is refused");
    trace_settings_free(&s);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", 1);
    trace_settings_load(NULL, &s);
    cr_assert(s.enabled, "the signal's variable wins");
    trace_settings_free(&s);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", 1);
    trace_settings_load(NULL, &s);
    cr_assert_not(s.enabled);
    trace_settings_free(&s);
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
    unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");

    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    trace_settings_load(NULL, &s);
    cr_assert_eq(s.timeout_ms, 2500);
    trace_settings_free(&s);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1", 1);
    trace_settings_load(NULL, &s);
    cr_assert_eq(s.timeout_ms, 1, "the smallest");
    trace_settings_free(&s);
    static const char *const bad[] = { "0", "-5", "1.5", "10s", "600001", NULL };
    for (size_t i = 0; bad[i]; i++) {
        setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", bad[i], 1);
        trace_settings_load(NULL, &s);
        cr_assert_eq(s.timeout_ms, 10000, "'%s' taken", bad[i]);
        trace_settings_free(&s);
    }
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "600000", 1);
    trace_settings_load(NULL, &s);
    cr_assert_eq(s.timeout_ms, 600000, "the largest");
    trace_settings_free(&s);
}

Test(trace, a_bad_endpoint_turns_tracing_off_without_quoting_it)
{
    trace_settings s;
    char path[512];
    snprintf(path, sizeof path, "%s/warn.txt", th_tmpdir());
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://user:PASSWORD1@host/TOKEN2", 1);
    int saved = capture_begin(path);
    trace_settings_load(NULL, &s);
    char *warned = capture_end(saved, path);
    cr_assert_not(s.enabled);
    cr_assert(strstr(warned, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:// or https://"),
              "%s", warned);
    cr_assert_null(strstr(warned, "PASSWORD1"), "%s", warned);
    cr_assert_null(strstr(warned, "TOKEN2"), "%s", warned);
    free(warned);
    trace_settings_free(&s);
}

Test(trace, link_template)
{
    char *l = trace_link("https://tracing.example/trace/{traceId}?x={traceId}", TP_TRACE);
    cr_assert_str_eq(l, "https://tracing.example/trace/" TP_TRACE "?x=" TP_TRACE);
    free(l);
    cr_assert_null(trace_link(NULL, TP_TRACE));
}

/* ------------------------------------------------------------ the exporter */

/*
 * The exporter tests' receiver and settings, let go by EXPORTER_FIXTURE's fini whatever
 * happens to the test. A script or Retry-After the test puts in g_rx before fx_rx is kept.
 */
static th_otlp g_rx;
static trace_settings g_set;
static int g_have_rx, g_have_set;

/* g_rx started, answering status (hanging hang_ms). */
static th_otlp *fx_rx(int status, int hang_ms)
{
    th_otlp_start(&g_rx, status, hang_ms);
    g_have_rx = 1;
    return &g_rx;
}

/* The test settings (test_settings) for rx. */
static trace_settings *fx_settings(const th_otlp *rx)
{
    test_settings(&g_set, th_otlp_url(rx));
    g_have_set = 1;
    return &g_set;
}

/* The settings from the environment alone. */
static trace_settings *fx_settings_env(void)
{
    trace_settings_load(NULL, &g_set);
    g_have_set = 1;
    return &g_set;
}

static void exporter_fini(void)
{
    if (g_have_set)
        trace_settings_free(&g_set);
    if (g_have_rx)
        th_otlp_stop(&g_rx);
    memset(&g_rx, 0, sizeof g_rx);
    g_have_rx = g_have_set = 0;
}
#define EXPORTER_FIXTURE .fini = exporter_fini

Test(trace, the_exporter_sends_a_runs_trace, .timeout = 30, EXPORTER_FIXTURE)
{
    trace_context parent;
    const char *why;
    th_otlp *rx = fx_rx(200, 0);
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", th_otlp_url(rx), 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,x-tenant=t1", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test", 1);
    setenv("OTEL_SERVICE_NAME", "bot-reconciler", 1);
    trace_settings *s = fx_settings_env();
    trace_exporter *e = trace_exporter_start(s);
    cr_assert_not_null(e);
    cr_assert_eq(trace_context_parse(TRACEPARENT_OK, &parent, &why), 0);
    trace_run *r = sample_run(&parent, 5);
    trace_batch b = { 0 };
    trace_run_take(r, &b);
    size_t n = b.n;
    cr_assert_eq(trace_exporter_enqueue(e, &b), 0);
    cr_assert_eq(b.n, 0, "the spans were taken");
    trace_export_stats st;
    trace_exporter_stop(e, util_mono_ms() + 5000, &st);
    cr_assert_eq(st.sent, n);
    cr_assert_eq(st.requests, 1);
    cr_assert_eq(th_otlp_count(rx), 1);

    char *ct = th_otlp_header(rx, 0, "Content-Type"), *auth = th_otlp_header(rx, 0, "Authorization");
    char *tenant = th_otlp_header(rx, 0, "x-tenant");
    cr_assert_str_eq(ct, "application/json");
    cr_assert_str_eq(auth, "Bearer abc");
    cr_assert_str_eq(tenant, "t1");
    cr_assert(strncmp(rx->heads[0], "POST /v1/traces HTTP/1.1", 24) == 0, "%s", rx->heads[0]);
    json_t *resource;
    json_t *spans = th_otlp_spans(rx, &resource);
    cr_assert_eq(json_array_size(spans), n);
    th_otlp_check_tree(spans, TP_TRACE, TP_SPAN);
    json_t *sn = json_array_get(resource, 0);
    cr_assert_str_eq(json_string_value(json_object_get(sn, "key")), "service.name");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(sn, "value"), "stringValue")),
                     "bot-reconciler");
    json_t *root = th_otlp_find(spans, TRACE_SPAN_RUN);
    static const char *const run_keys[] = { "reconciler.job", "reconciler.trigger",
                                            "reconciler.scheduled_for", "reconciler.dry_run",
                                            "reconciler.status", "reconciler.rows_changed", NULL };
    for (size_t i = 0; run_keys[i]; i++)
        cr_assert_not_null(th_otlp_attr(root, run_keys[i]), "the root has no %s", run_keys[i]);
    static const char *const step_keys[] = { "reconciler.plugin", "reconciler.status",
                                             "reconciler.rows_changed", "reconciler.retries", NULL };
    for (size_t i = 0; step_keys[i]; i++)
        cr_assert_not_null(th_otlp_attr(th_otlp_find(spans, "step leases"), step_keys[i]),
                           "a step has no %s", step_keys[i]);
    cr_assert_not_null(th_otlp_attr(th_otlp_find(spans, "step orders"), "reconciler.error"));
    cr_assert_not_null(th_otlp_attr(th_otlp_find(spans, "chunk"), "reconciler.chunk.rows"));
    free(ct); free(auth); free(tenant);
    json_decref(resource);
    json_decref(spans);
    trace_run_free(r);
}

Test(trace, big_batches_are_split_into_requests, .timeout = 30, EXPORTER_FIXTURE)
{
    th_otlp *rx = fx_rx(200, 0);
    trace_settings *s = fx_settings(rx);
    s->batch_max_spans = 512;
    trace_exporter *e = trace_exporter_start(s);
    trace_batch b = { 0 };
    char trace_id[TRACE_ID_HEX + 1];
    trace_new_trace_id(trace_id);
    for (int i = 0; i < 1300; i++)
        trace_span_init(trace_batch_add(&b), "x", trace_id, NULL, trace_now_ns());
    cr_assert_eq(trace_exporter_enqueue(e, &b), 0);
    trace_export_stats st;
    trace_exporter_stop(e, util_mono_ms() + 10000, &st);
    cr_assert_eq(st.sent, 1300);
    cr_assert_eq(th_otlp_count(rx), 3, "512 + 512 + 276");
    json_t *spans = th_otlp_spans(rx, NULL);
    cr_assert_eq(json_array_size(spans), 1300);
    json_decref(spans);
}

/* Enqueue one small batch; how long it took (ms). */
static int64_t enqueue_one(trace_exporter *e, int *rc)
{
    trace_batch b = { 0 };
    char trace_id[TRACE_ID_HEX + 1];
    trace_new_trace_id(trace_id);
    for (int i = 0; i < 3; i++)
        trace_span_init(trace_batch_add(&b), "x", trace_id, NULL, trace_now_ns());
    int64_t t0 = util_mono_ms();
    *rc = trace_exporter_enqueue(e, &b);
    return util_mono_ms() - t0;
}

Test(trace, a_hanging_receiver_costs_the_caller_nothing, .timeout = 30, EXPORTER_FIXTURE)
{
    int rc;
    th_otlp *rx = fx_rx(200, 20000); /* reads the request, answers nothing for 20 s */
    trace_settings *s = fx_settings(rx);
    trace_exporter *e = trace_exporter_start(s);
    int64_t took = enqueue_one(e, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(th_otlp_wait(rx, 1, 5000), 1, "the request went out");
    /* The exporter is stuck in its transfer: more runs' spans still queue at once. */
    for (int i = 0; i < 5; i++) {
        int64_t t = enqueue_one(e, &rc);
        cr_assert_eq(rc, 0);
        took = t > took ? t : took;
    }
    cr_assert_lt(took, 500, "an enqueue waited %lld ms on the network", (long long)took);
    int64_t t0 = util_mono_ms();
    trace_export_stats st;
    trace_exporter_stop(e, util_mono_ms() + 1000, &st);
    int64_t stopped = util_mono_ms() - t0;
    /* Bounded: the deadline, plus the grace; never the receiver's 20 s or the 10 s timeout. */
    cr_assert_lt(stopped, 1000 + TRACE_STOP_GRACE_MS + 700, "stop took %lld ms", (long long)stopped);
    cr_assert_eq(st.sent, 0);
    cr_assert_eq(st.failed + st.dropped, 18, "every span is accounted for: %llu failed, %llu dropped",
                 (unsigned long long)st.failed, (unsigned long long)st.dropped);
}

Test(trace, a_500_is_not_retried_and_costs_nothing, .timeout = 30, EXPORTER_FIXTURE)
{
    int rc;
    th_otlp *rx = fx_rx(500, 0);
    trace_settings *s = fx_settings(rx);
    trace_exporter *e = trace_exporter_start(s);
    enqueue_one(e, &rc);
    cr_assert_eq(rc, 0);
    trace_export_stats st;
    int64_t t0 = util_mono_ms();
    trace_exporter_stop(e, util_mono_ms() + 2000, &st);
    cr_assert_lt(util_mono_ms() - t0, 2000 + TRACE_STOP_GRACE_MS);
    cr_assert_eq(th_otlp_count(rx), 1, "500 is not retried");
    cr_assert_eq(st.failed, 3);
    cr_assert_eq(st.retries, 0);
}

Test(trace, retries_on_429_502_503_504_and_on_nothing_else, .timeout = 60, EXPORTER_FIXTURE)
{
    static const int retried[] = { 429, 502, 503, 504 };
    static const int final[] = { 400, 401, 403, 404, 408, 413, 500, 501 };
    for (size_t i = 0; i < sizeof retried / sizeof retried[0]; i++) {
        g_rx = (th_otlp){ .script = { retried[i], retried[i] } };
        int rc;
        th_otlp *rx = fx_rx(200, 0);
        trace_settings *s = fx_settings(rx);
        trace_exporter *e = trace_exporter_start(s);
        enqueue_one(e, &rc);
        trace_export_stats st;
        trace_exporter_stop(e, util_mono_ms() + 10000, &st);
        cr_assert_eq(th_otlp_count(rx), 3, "%d: two retries, then 200", retried[i]);
        cr_assert_eq(st.sent, 3, "%d", retried[i]);
        cr_assert_eq(st.retries, 2, "%d", retried[i]);
        exporter_fini(); /* the next round: a fresh receiver */
    }
    for (size_t i = 0; i < sizeof final / sizeof final[0]; i++) {
        g_rx = (th_otlp){ .script = { final[i] } };
        int rc;
        th_otlp *rx = fx_rx(200, 0);
        trace_settings *s = fx_settings(rx);
        trace_exporter *e = trace_exporter_start(s);
        enqueue_one(e, &rc);
        trace_export_stats st;
        trace_exporter_stop(e, util_mono_ms() + 10000, &st);
        cr_assert_eq(th_otlp_count(rx), 1, "%d was retried", final[i]);
        cr_assert_eq(st.failed, 3, "%d", final[i]);
        exporter_fini(); /* the next round: a fresh receiver */
    }
}

Test(trace, retries_stop_at_max_attempts, .timeout = 30, EXPORTER_FIXTURE)
{
    int rc;
    th_otlp *rx = fx_rx(503, 0);
    trace_settings *s = fx_settings(rx);
    s->max_attempts = 3;
    trace_exporter *e = trace_exporter_start(s);
    enqueue_one(e, &rc);
    trace_export_stats st;
    trace_exporter_stop(e, util_mono_ms() + 10000, &st);
    cr_assert_eq(th_otlp_count(rx), 3);
    cr_assert_eq(st.requests, 3);
    cr_assert_eq(st.failed, 3);
}

Test(trace, retry_after_is_honoured, .timeout = 30, EXPORTER_FIXTURE)
{
    g_rx = (th_otlp){ .script = { 429 }, .retry_after = "1" };
    int rc;
    th_otlp *rx = fx_rx(200, 0);
    trace_settings *s = fx_settings(rx); /* backoff 20 ms: only Retry-After makes it wait 1 s */
    trace_exporter *e = trace_exporter_start(s);
    enqueue_one(e, &rc);
    cr_assert_eq(th_otlp_wait(rx, 2, 10000), 2);
    long long gap = rx->at_ms[1] - rx->at_ms[0];
    cr_assert_geq(gap, 900, "retried after %lld ms, not after Retry-After: 1", gap);
    trace_exporter_stop(e, util_mono_ms() + 5000, NULL);
}

Test(trace, stopping_cuts_a_long_backoff_short, .timeout = 30, EXPORTER_FIXTURE)
{
    int rc;
    th_otlp *rx = fx_rx(503, 0);
    trace_settings *s = fx_settings(rx);
    s->backoff_ms = 60000;
    trace_exporter *e = trace_exporter_start(s);
    enqueue_one(e, &rc);
    cr_assert_eq(th_otlp_wait(rx, 1, 5000), 1);
    int64_t t0 = util_mono_ms();
    trace_export_stats st;
    trace_exporter_stop(e, util_mono_ms() + 500, &st);
    cr_assert_lt(util_mono_ms() - t0, 500 + TRACE_STOP_GRACE_MS + 500);
    cr_assert_eq(st.failed, 3);
    cr_assert_eq(th_otlp_count(rx), 1);
}

Test(trace, a_full_queue_drops_whole_batches_and_counts, .timeout = 30, EXPORTER_FIXTURE)
{
    int rc;
    th_otlp *rx = fx_rx(200, 20000);
    trace_settings *s = fx_settings(rx);
    s->queue_max_spans = 10;
    trace_exporter *e = trace_exporter_start(s);
    enqueue_one(e, &rc);   /* 3 spans: taken by the thread, which hangs on the receiver */
    cr_assert_eq(rc, 0);
    cr_assert_eq(th_otlp_wait(rx, 1, 5000), 1);
    enqueue_one(e, &rc);   /* 3 queued */
    cr_assert_eq(rc, 0);
    enqueue_one(e, &rc);   /* 6 */
    cr_assert_eq(rc, 0);
    enqueue_one(e, &rc);   /* 9: still within 10 */
    cr_assert_eq(rc, 0);
    enqueue_one(e, &rc);   /* 12 would pass 10: the whole batch is dropped */
    cr_assert_eq(rc, -1);
    trace_export_stats st;
    trace_exporter_stats(e, &st);
    cr_assert_eq(st.queued, 9);
    cr_assert_eq(st.dropped, 3);
    /* A batch that exactly fills the queue is taken. */
    trace_batch b = { 0 };
    char trace_id[TRACE_ID_HEX + 1];
    trace_new_trace_id(trace_id);
    trace_span_init(trace_batch_add(&b), "x", trace_id, NULL, trace_now_ns());
    cr_assert_eq(trace_exporter_enqueue(e, &b), 0);
    trace_exporter_stats(e, &st);
    cr_assert_eq(st.queued, 10);
    trace_exporter_stop(e, util_mono_ms() + 300, &st);
    cr_assert_eq(st.dropped, 3 + 10, "what was left queued is dropped at the deadline");
}

Test(trace, enqueue_without_an_exporter_drops)
{
    trace_batch b = { 0 };
    trace_span_init(trace_batch_add(&b), "x", TP_TRACE, NULL, 1);
    cr_assert_eq(trace_exporter_enqueue(NULL, &b), -1);
    cr_assert_eq(b.n, 0);
    trace_exporter_stop(NULL, 0, NULL);
}

Test(trace, secrets_appear_nowhere, .timeout = 30, EXPORTER_FIXTURE)
{
    g_rx = (th_otlp){ .script = { 503, 500 } };
    char path[512], url[256];
    int rc;
    snprintf(path, sizeof path, "%s/all-stderr.txt", th_tmpdir());
    th_otlp *rx = fx_rx(200, 0);
    clear_env();
    snprintf(url, sizeof url, "http://user:EPASS-7f3a@127.0.0.1:%d/v1/traces?token=EQUERY-91c2",
             rx->port);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20HSECRET-5d1e,"
           "x-broken=HSECRET2-%0Aab,x bad=HSECRET3-77", 1);
    log_setup(RC_LOG_DEBUG, LOG_JSON);
    int saved = capture_begin(path);
    trace_settings *s = fx_settings_env();
    s->backoff_ms = 20;
    trace_exporter *e = trace_exporter_start(s);
    enqueue_one(e, &rc);
    trace_export_stats st;
    trace_exporter_stop(e, util_mono_ms() + 5000, &st);
    char *all = capture_end(saved, path);
    /* It did go, with its header: the test would see a secret if one leaked. */
    cr_assert_eq(th_otlp_count(rx), 2, "503 retried, 500 not");
    char *auth = th_otlp_header(rx, 0, "Authorization");
    cr_assert_str_eq(auth, "Bearer HSECRET-5d1e");
    free(auth);
    cr_assert(strstr(all, "http://127.0.0.1:"), "the endpoint is shown redacted: %s", all);
    cr_assert(strstr(all, "not sent"), "the failure is told: %s", all);
    static const char *const secrets[] = { "EPASS-7f3a", "EQUERY-91c2", "HSECRET-5d1e",
                                           "HSECRET2", "HSECRET3", NULL };
    for (size_t i = 0; secrets[i]; i++) {
        cr_assert_null(strstr(all, secrets[i]), "%s in stderr:\n%s", secrets[i], all);
        /* Nor in any span (the bodies) or anywhere but that one header. */
        pthread_mutex_lock(&rx->mu);
        for (int r = 0; r < rx->n; r++)
            cr_assert_null(strstr(rx->bodies[r], secrets[i]), "%s in a body", secrets[i]);
        pthread_mutex_unlock(&rx->mu);
    }
    free(all);
}

/* ------------------------------------------------------------ log lines */

static void *log_other(void *arg)
{
    (void)arg;
    log_info("from another thread");
    return NULL;
}

Test(trace, json_log_lines_carry_the_threads_trace)
{
    char path[512];
    pthread_t t;
    snprintf(path, sizeof path, "%s/log.txt", th_tmpdir());
    log_setup(RC_LOG_INFO, LOG_JSON);
    int saved = capture_begin(path);
    log_info("before");
    log_set_trace(TP_TRACE, TP_SPAN);
    log_info("during");
    pthread_create(&t, NULL, log_other, NULL);
    pthread_join(t, NULL);
    log_set_trace(NULL, NULL);
    log_info("after");
    log_setup(RC_LOG_INFO, LOG_TEXT);
    log_set_trace(TP_TRACE, TP_SPAN);
    log_info("text");
    char *all = capture_end(saved, path);
    char *line = strtok(all, "\n");
    int n = 0;
    while (line) {
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = j ? json_string_value(json_object_get(j, "msg")) : NULL;
        int with = j && json_object_get(j, "trace_id") != NULL;
        if (msg && strcmp(msg, "during") == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(j, "trace_id")), TP_TRACE);
            cr_assert_str_eq(json_string_value(json_object_get(j, "span_id")), TP_SPAN);
        } else if (j) {
            cr_assert_not(with, "'%s' carries a trace id", msg);
        } else {
            cr_assert(strstr(line, "text") && !strstr(line, TP_TRACE), "%s", line);
        }
        n++;
        json_decref(j);
        line = strtok(NULL, "\n");
    }
    cr_assert_eq(n, 5);
    free(all);
}

/* ------------------------------------------------------------ the pipeline keys */

#include "config/config.h"

static int load_keys(const char *tracing, config **c, char *err, size_t errlen)
{
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "steps:\n  - plugin: leases\n%s", tracing), -1);
    int rc = config_load_text("p.yaml", text, c, err, errlen);
    free(text);
    return rc;
}

Test(trace, the_tracing_keys)
{
    config *c = NULL;
    char err[2048];
    cr_assert_eq(load_keys("", &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c->tracing_enabled, -1, "unset: the variables decide");
    cr_assert_null(c->tracing_endpoint);
    config_free(c);
    cr_assert_eq(load_keys("tracing:\n  enabled: false\n  endpoint: https://otel.example:4318/v1/traces\n"
                           "  headers_env: OTLP_HEADERS\n  service_name: bot-a\n"
                           "  link: https://tracing.example/trace/{traceId}\n", &c, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(c->tracing_enabled, 0);
    cr_assert_str_eq(c->tracing_endpoint, "https://otel.example:4318/v1/traces");
    cr_assert_str_eq(c->tracing_headers_env, "OTLP_HEADERS");
    cr_assert_str_eq(c->tracing_service_name, "bot-a");
    cr_assert_str_eq(c->tracing_link, "https://tracing.example/trace/{traceId}");
    config_free(c);
    cr_assert_eq(load_keys("tracing:\n  enabled: true\n", &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c->tracing_enabled, 1);
    config_free(c);

    /* A bad endpoint is refused without quoting it: it may hold a token. */
    cr_assert_eq(load_keys("tracing:\n  endpoint: ftp://u:TOKEN9@h/x\n", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "p.yaml:4:13: 'tracing.endpoint' must be an http:// or https:// URL with a host"), "%s", err);
    cr_assert_null(strstr(err, "TOKEN9"), "%s", err);
    cr_assert_eq(load_keys("tracing:\n  link: https://tracing.example/trace/\n", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "'tracing.link' must be an http:// or https:// URL holding {traceId}"), "%s", err);
    cr_assert_eq(load_keys("tracing:\n  headers_env: Bearer abc\n", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "'tracing.headers_env' must be the name of an environment variable"), "%s", err);
    cr_assert_eq(load_keys("tracing:\n  sampler: always\n", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "unknown key 'sampler' in 'tracing'"), "%s", err);
}

Test(trace, the_keys_map_onto_the_settings)
{
    config *c = NULL;
    char err[2048];
    trace_settings s;
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318", 1);
    setenv("OTEL_SERVICE_NAME", "env-name", 1);
    cr_assert_eq(load_keys("tracing:\n  endpoint: http://from-key:4318/v1/traces\n"
                           "  service_name: key-name\n", &c, err, sizeof err), 0, "%s", err);
    trace_overrides o = { c->tracing_enabled, c->tracing_endpoint, c->tracing_headers_env,
                          c->tracing_service_name };
    trace_settings_load(&o, &s);
    cr_assert_str_eq(s.endpoint, "http://from-key:4318/v1/traces");
    cr_assert_str_eq(s.resource.a[0].s, "key-name");
    trace_settings_free(&s);
    config_free(c);
}

/* ------------------------------------------------------------ run --once */

#define TWO_STEPS "  - plugin: fixture\n  - plugin: fixture\n    name: second\n" \
                  "    options: { fail: true }\n"

/* `run --once --json --log-format json` on s with env (NULL-terminated); exit code. */
static int once_json(svc *s, const char *const *env, char **out, char **err, int64_t *ms)
{
    const char *const args[] = { "run", "--once", "--json", "--log-format", "json", "-c", s->yaml,
                                 NULL };
    int64_t t0 = mono_ms();
    int rc = th_run_cli(args, env, out, err);
    if (ms)
        *ms = mono_ms() - t0;
    return rc;
}

Test(trace, run_once_is_one_trace_under_traceparent, .timeout = 60, SVC_FIXTURE)
{
    char endpoint[128], extra[256], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *rx = fx_otlp(200, 0);
    th_otlp *hook = fx_otlp(200, 0); /* a webhook receiver too: it keeps bodies */
    snprintf(extra, sizeof extra, "tracing:\n  service_name: once-test\n"
             "notify:\n  - url: http://127.0.0.1:%d/hook\n    on: [partial]\n", hook->port);
    svc *s = fx_svc(extra, "", TWO_STEPS);
    snprintf(endpoint, sizeof endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d",
             rx->port);
    const char *const env[] = { endpoint, "TRACEPARENT=" TRACEPARENT_OK,
                                "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20ONCE-SECRET-4411",
                                NULL };
    int rc = once_json(s, env, &out, &err, NULL);
    cr_assert_eq(rc, 1, "a failed step exits 1, traced or not: %d\n%s", rc, err);
    json_t *result = json_loads(out, 0, NULL);
    cr_assert_not_null(result, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(result, "traceId")), TP_TRACE,
                     "the result names the caller's trace");
    cr_assert_eq(th_otlp_count(rx), 1, "one request before exit: %s", err);
    cr_assert_eq(th_otlp_count(hook), 1, "%s", err);
    json_t *hb = th_otlp_body(hook, 0);
    cr_assert_str_eq(json_string_value(json_object_get(hb, "traceId")), TP_TRACE,
                     "the webhook body names the trace");
    json_decref(hb);
    th_otlp_stop(hook);
    char *auth = th_otlp_header(rx, 0, "Authorization");
    cr_assert_str_eq(auth, "Bearer ONCE-SECRET-4411");
    free(auth);

    json_t *resource;
    json_t *spans = th_otlp_spans(rx, &resource);
    cr_assert_eq(json_array_size(spans), 3, "the run and its two steps");
    th_otlp_check_tree(spans, TP_TRACE, TP_SPAN);
    json_t *root = th_otlp_find(spans, TRACE_SPAN_RUN);
    cr_assert_str_eq(json_string_value(json_object_get(root, "parentSpanId")), TP_SPAN);
    cr_assert_str_eq(str_attr(root, "reconciler.status"), "partial");
    cr_assert_str_eq(str_attr(root, "reconciler.trigger"), "startup");
    cr_assert_eq(int_attr(root, "reconciler.run_id"),
                 json_integer_value(json_object_get(result, "runId")));
    cr_assert_not_null(th_otlp_attr(root, "reconciler.rows_changed"));
    cr_assert_not_null(th_otlp_attr(root, "reconciler.job"));
    cr_assert_not_null(th_otlp_find(json_object_get(root, "events"), "run lock taken"),
                       "the lock's take is an event");
    json_t *first = th_otlp_find(spans, "step fixture"), *second = th_otlp_find(spans, "step second");
    cr_assert(first && second);
    cr_assert_str_eq(str_attr(first, "reconciler.status"), "ok");
    cr_assert_str_eq(str_attr(second, "reconciler.status"), "failed");
    cr_assert(strstr(str_attr(second, "reconciler.error"), "fixture asked to fail"));
    cr_assert_str_eq(str_attr(second, "reconciler.plugin"), "fixture");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(resource, 0),
                                                                       "value"), "stringValue")),
                     "once-test", "tracing.service_name");

    /* The run's JSON log lines carry its trace; the step's lines its step's span. */
    char *line = strtok(err, "\n");
    int with_root = 0, with_step = 0;
    const char *root_id = json_string_value(json_object_get(root, "spanId"));
    const char *second_id = json_string_value(json_object_get(second, "spanId"));
    while (line) {
        json_t *j = json_loads(line, 0, NULL);
        const char *tid = json_string_value(json_object_get(j, "trace_id"));
        const char *sid = json_string_value(json_object_get(j, "span_id"));
        if (tid) {
            cr_assert_str_eq(tid, TP_TRACE, "%s", line);
            with_root += strcmp(sid, root_id) == 0;
            with_step += strcmp(sid, second_id) == 0;
        }
        cr_assert_null(strstr(line, "ONCE-SECRET"), "%s", line);
        json_decref(j);
        line = strtok(NULL, "\n");
    }
    cr_assert_gt(with_root, 0, "no line carries the run's span");
    cr_assert_gt(with_step, 0, "no line carries the failed step's span");
    cr_assert_null(strstr(out, "ONCE-SECRET"));
    cr_assert_eq(th_file_contains(s->hist, "ONCE-SECRET"), 0, "a header value in the history");
    cr_assert_eq(th_file_contains(s->hist, TP_TRACE), 1, "the history keeps the traceId");
    json_decref(resource);
    json_decref(spans);
    json_decref(result);
    free(out);
    free(err);
}

Test(trace, run_once_without_traceparent_starts_its_own_trace, .timeout = 60, SVC_FIXTURE)
{
    char endpoint[128], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *rx = fx_otlp(200, 0);
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    snprintf(endpoint, sizeof endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", th_otlp_url(rx));
    /* A bad TRACEPARENT costs nothing but a warning: the run gets a trace of its own. */
    const char *const env[] = { endpoint, "TRACEPARENT=00-" TP_TRACE "-0000000000000000-01", NULL };
    int rc = once_json(s, env, &out, &err, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(err, "TRACEPARENT is not a W3C traceparent (the parent id is all zeros)"),
              "%s", err);
    json_t *result = json_loads(out, 0, NULL);
    const char *tid = json_string_value(json_object_get(result, "traceId"));
    cr_assert(tid && is_hex(tid, 32) && strcmp(tid, TP_TRACE) != 0, "%s", out);
    json_t *spans = th_otlp_spans(rx, NULL);
    th_otlp_check_tree(spans, tid, NULL);
    cr_assert_eq(json_array_size(spans), 2);
    cr_assert_str_eq(str_attr(th_otlp_find(spans, TRACE_SPAN_RUN), "reconciler.status"), "success");
    json_decref(spans);
    json_decref(result);
    free(out);
    free(err);
}

/*
 * A receiver that hangs, one that answers 500, or none at all: the run's exit
 * code and result are the same as without tracing, and run --once exits
 * within the flush bound (the hanging one would hold it 20 s).
 */
Test(trace, run_once_whatever_the_receiver_does, .timeout = 90, SVC_FIXTURE)
{
    char url[3][160], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *hang = fx_otlp(200, 20000);
    th_otlp *e500 = fx_otlp(500, 0);
    svc *s = fx_svc("", "", TWO_STEPS);
    snprintf(url[0], sizeof url[0], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", th_otlp_url(hang));
    snprintf(url[1], sizeof url[1], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", th_otlp_url(e500));
    snprintf(url[2], sizeof url[2], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:%d/v1/traces",
             th_free_port());
    const char *const none[] = { NULL };
    int64_t base_ms;
    int base = once_json(s, none, &out, &err, &base_ms);
    cr_assert_eq(base, 1, "%s", err);
    free(out);
    free(err);
    for (int i = 0; i < 3; i++) {
        const char *const env[] = { url[i], NULL };
        int64_t ms;
        int rc = once_json(s, env, &out, &err, &ms);
        cr_assert_eq(rc, base, "receiver %d changed the exit code: %d\n%s", i, rc, err);
        json_t *r = json_loads(out, 0, NULL);
        cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "partial");
        cr_assert(json_is_string(json_object_get(r, "traceId")));
        /* Bounded: the 2 s flush and the grace, on top of the run itself. */
        cr_assert_lt(ms, base_ms + TRACE_ONCE_BUDGET_MS + TRACE_STOP_GRACE_MS + 3000,
                     "receiver %d: %lld ms (without tracing %lld ms)", i, (long long)ms,
                     (long long)base_ms);
        json_decref(r);
        free(out);
        free(err);
    }
    cr_assert_eq(th_otlp_count(hang), 1);
    cr_assert_eq(th_otlp_count(e500), 1, "500 is not retried");
}
