/* SPDX-License-Identifier: MIT */
/*
 * test_trace_service.c - tracing in the service (`reconciler run`), against
 * the real binary, a real MariaDB and a real loopback OTLP receiver
 * (tests/th_otlp): a scheduled run is one trace whose every span's parent
 * exists, whose root says job, trigger, scheduledFor, dry run, status and rows
 * changed, with the run lock's take, renewals and release as its events and
 * its chunks as spans of their step; its traceId reaches the history, the API
 * (with tracing.link's URL), the webhook body and the JSON log lines; the
 * exporter's counts are on /metrics; no header value and no database password
 * is in any span. And a receiver that hangs or answers 500 costs the service
 * nothing: its runs go on and succeed, and SIGTERM still ends it in time.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_otlp.h"
#include "th_svc.h"
#include "trace/run_trace.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "SVC-SECRET-7781"
#define LINK "https://tracing.example/trace/"

/* s's pipeline file (again), its log lines JSON: top-level keys top, then the jobs: body jobs. */
static void rewrite_jobs(svc *s, const char *top, const char *jobs)
{
    char *all = NULL;
    cr_assert_neq(asprintf(&all, "log:\n  format: json\n%s", top), -1);
    svc_write_jobs(s, all, jobs);
    free(all);
}

/* The fixture's service (fx_svc's paths and port) with top and jobs; after fx_db. */
static svc *write_jobs(const char *top, const char *jobs)
{
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    rewrite_jobs(s, top, jobs);
    return s;
}

/* The fixture's service with job tick every second, its traces to rx, started. */
static svc *tick_traced_to(const th_otlp *rx)
{
    char endpoint[160];
    svc *s = write_jobs("", "  tick:\n    schedule: { every: 1s }\n    steps:\n"
                            "      - plugin: fixture\n");
    snprintf(endpoint, sizeof endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s",
             th_otlp_url(rx));
    const char *const env[] = { endpoint, NULL };
    svc_start(s, env);
    return s;
}

static json_t *attr(json_t *span, const char *key)
{
    json_t *v = th_otlp_attr(span, key);
    cr_assert_not_null(v, "span %s has no attribute %s",
                       json_string_value(json_object_get(span, "name")), key);
    return v;
}

static const char *str_attr(json_t *span, const char *key)
{
    return json_string_value(json_object_get(attr(span, key), "stringValue"));
}

static long long int_attr(json_t *span, const char *key)
{
    return atoll(json_string_value(json_object_get(attr(span, key), "intValue")));
}

/* The spans of trace_id among spans (new reference). */
static json_t *of_trace(json_t *spans, const char *trace_id)
{
    json_t *out = json_array(), *sp;
    size_t i;
    json_array_foreach(spans, i, sp)
        if (strcmp(json_string_value(json_object_get(sp, "traceId")), trace_id) == 0)
            json_array_append(out, sp);
    return out;
}

/*
 * Wait up to ms for a root span with trigger `trigger` whose run changed `rows` rows; its
 * trace id into tid. Every span received so far in *spans (new reference).
 */
static void wait_root(th_otlp *rx, const char *trigger, long long rows, int ms, char tid[33],
                      json_t **spans, const svc *s)
{
    int64_t end = mono_ms() + th_ms(ms);
    for (;;) {
        if (th_otlp_count(rx) > 0) {
            *spans = th_otlp_spans(rx, NULL);
            json_t *sp;
            size_t i;
            json_array_foreach(*spans, i, sp) {
                if (strcmp(json_string_value(json_object_get(sp, "name")), TRACE_SPAN_RUN) != 0)
                    continue;
                json_t *t = th_otlp_attr(sp, "reconciler.trigger");
                json_t *r = th_otlp_attr(sp, "reconciler.rows_changed");
                if (t && r && strcmp(json_string_value(json_object_get(t, "stringValue")),
                                     trigger) == 0 &&
                    atoll(json_string_value(json_object_get(r, "intValue"))) == rows) {
                    snprintf(tid, 33, "%s", json_string_value(json_object_get(sp, "traceId")));
                    return;
                }
            }
            json_decref(*spans);
            *spans = NULL;
        }
        cr_assert_lt(mono_ms(), end, "no %s run changing %lld rows traced within %d ms; log:\n%s",
                     trigger, rows, ms, th_read(s->errlog));
        sleep_ms(50);
    }
}

static void session(db *d, const char *id)
{
    rc_value p[] = { rc_text(id) };
    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, contact_status, last_activity) "
                         "VALUES (?, 'ACTIVE', '2020-01-01 00:00:00')", p, 1, NULL), 0, "%s",
                 db_errmsg(d));
}

Test(trace_service, a_scheduled_run_is_one_whole_trace, .timeout = 120, SVC_FIXTURE)
{
    char endpoint[128], headers[128], top[512], tid[33];
    th_db *t = fx_db(DB_MYSQL);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "u%d", i);
        session(t->conn, id);
    }
    th_otlp *rx = fx_otlp(200, 0);
    th_otlp *hook = fx_otlp(200, 0); /* a webhook receiver too: it keeps bodies */
    snprintf(top, sizeof top, "tracing:\n  link: \"" LINK "{traceId}\"\n"
             "notify:\n  - url: http://127.0.0.1:%d/hook\n    on: [success]\n", hook->port);
    /* lock_ttl 3 s: renewed every second while the fixture's pause holds the run. */
    svc *s = write_jobs(top,
                        "  tick:\n    schedule: { every: 1s }\n    lock_ttl: 3s\n    steps:\n"
                        "      - plugin: sql\n        name: stale\n        options:\n"
                        "          table: user_sessions\n          key: user_id\n"
                        "          where: \"contact_status = 'ACTIVE'\"\n"
                        "          set: \"contact_status = 'STALE'\"\n          batch_size: 1\n"
                        "          result: staleContacts\n"
                        "      - plugin: fixture\n        options: { pause: 1500ms }\n"
                        "  boot:\n    steps:\n      - plugin: fixture\n");
    snprintf(endpoint, sizeof endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d",
             rx->port);
    snprintf(headers, sizeof headers, "OTEL_EXPORTER_OTLP_HEADERS=x-api-key=" SECRET);
    const char *const env[] = { endpoint, headers, NULL };
    svc_start(s, env);

    json_t *all = NULL;
    wait_root(rx, "scheduled", 3, 60000, tid, &all, s);
    json_t *spans = of_trace(all, tid);
    th_otlp_check_tree(spans, tid, NULL); /* every span's parent is in the trace */

    json_t *root = th_otlp_find(spans, TRACE_SPAN_RUN);
    cr_assert_str_eq(str_attr(root, "reconciler.job"), "tick");
    cr_assert_str_eq(str_attr(root, "reconciler.trigger"), "scheduled");
    const char *slot = str_attr(root, "reconciler.scheduled_for");
    cr_assert(slot && strlen(slot) == 20 && slot[19] == 'Z', "%s", slot);
    cr_assert(json_is_false(json_object_get(attr(root, "reconciler.dry_run"), "boolValue")));
    cr_assert_str_eq(str_attr(root, "reconciler.status"), "success");
    cr_assert_eq(int_attr(root, "reconciler.rows_changed"), 3);
    long long run_id = int_attr(root, "reconciler.run_id");
    cr_assert_gt(run_id, 0);

    /* The lock: taken, renewed at least once (1 s of a 3 s lease, a 1.5 s step), released. */
    json_t *events = json_object_get(root, "events");
    cr_assert_not_null(th_otlp_find(events, "run lock taken"));
    json_t *renewed = th_otlp_find(events, "run lock renewed");
    cr_assert_not_null(renewed, "no renewal event: %s", json_dumps(events, 0));
    cr_assert_str_eq(str_attr(renewed, "reconciler.lock.outcome"), "renewed");
    cr_assert_not_null(th_otlp_find(events, "run lock released"));

    /* The steps, and the sql step's three chunks (batch_size 1) as its children. */
    json_t *stale = th_otlp_find(spans, "step stale");
    json_t *pause = th_otlp_find(spans, "step fixture");
    cr_assert(stale && pause);
    cr_assert_str_eq(str_attr(stale, "reconciler.plugin"), "sql");
    cr_assert_str_eq(str_attr(stale, "reconciler.status"), "ok");
    cr_assert_eq(int_attr(stale, "reconciler.rows_changed"), 3);
    cr_assert_eq(int_attr(stale, "reconciler.retries"), 0);
    cr_assert_eq(int_attr(stale, "reconciler.chunks"), 3);
    const char *stale_id = json_string_value(json_object_get(stale, "spanId"));
    size_t i, chunks = 0;
    long long rows = 0;
    json_t *sp;
    json_array_foreach(spans, i, sp) {
        if (strcmp(json_string_value(json_object_get(sp, "name")), TRACE_SPAN_CHUNK) != 0)
            continue;
        cr_assert_str_eq(json_string_value(json_object_get(sp, "parentSpanId")), stale_id);
        rows += int_attr(sp, "reconciler.chunk.rows");
        cr_assert_eq(int_attr(sp, "reconciler.chunk.retries"), 0);
        chunks++;
    }
    cr_assert_eq(chunks, 3);
    cr_assert_eq(rows, 3);
    cr_assert_eq(int_attr(pause, "reconciler.chunks"), 0);

    /* Nothing secret in any span: no header value, no database password. */
    for (int k = 0; k < th_otlp_count(rx); k++) {
        json_t *b = th_otlp_body(rx, k);
        char *text = json_dumps(b, 0);
        cr_assert_null(strstr(text, SECRET), "a header value in a span");
        if (t->password && *t->password)
            cr_assert_null(strstr(text, t->password), "the database password in a span");
        free(text);
        json_decref(b);
    }
    char *key = th_otlp_header(rx, 0, "x-api-key");
    cr_assert_str_eq(key, SECRET, "the header is sent");
    free(key);

    /* The history and the API name the trace, with tracing.link's URL. */
    char path[96], url[128];
    snprintf(url, sizeof url, LINK "%s", tid);
    snprintf(path, sizeof path, "/v1/reconciliation/runs/%lld", run_id);
    json_t *run = wait_for(s, path, 200, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(run, "traceId")), tid);
    cr_assert_str_eq(json_string_value(json_object_get(run, "traceUrl")), url);
    json_decref(run);
    json_t *page = wait_for(s, "/v1/reconciliation/history?job=tick&limit=1000", 200, 10000);
    int listed = 0;
    json_array_foreach(json_object_get(page, "runs"), i, sp)
        if (json_integer_value(json_object_get(sp, "runId")) == run_id) {
            cr_assert_str_eq(json_string_value(json_object_get(sp, "traceId")), tid);
            cr_assert_str_eq(json_string_value(json_object_get(sp, "traceUrl")), url);
            listed = 1;
        }
    cr_assert(listed, "run %lld is not in the history page", run_id);
    json_decref(page);

    /* The webhook body of that run names its trace. */
    int told = 0;
    for (int64_t end = mono_ms() + 10000; !told; sleep_ms(50)) {
        for (int k = 0; k < th_otlp_count(hook) && !told; k++) {
            json_t *b = th_otlp_body(hook, k);
            if (json_integer_value(json_object_get(b, "runId")) == run_id) {
                cr_assert_str_eq(json_string_value(json_object_get(b, "traceId")), tid,
                                 "%s", json_dumps(b, 0));
                told = 1;
            }
            json_decref(b);
        }
        cr_assert(told || mono_ms() < end, "no webhook for run %lld", run_id);
    }

    /* /metrics counts the spans exported (once the receiver's answer is in). */
    int counted = 0;
    for (int64_t end = mono_ms() + 10000; !counted; sleep_ms(50)) {
        th_response m;
        cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &m), 0);
        cr_assert(strstr(m.body, "reconciler_trace_spans_total{result=\"dropped\"} 0\n"), "%s",
                  m.body);
        counted = strstr(m.body, "reconciler_trace_spans_total{result=\"exported\"} ") &&
                  !strstr(m.body, "reconciler_trace_spans_total{result=\"exported\"} 0\n");
        cr_assert(counted || mono_ms() < end, "%s", m.body);
        th_response_free(&m);
    }

    /* The startup run (job boot) and a run-now of tick are traces too. */
    json_t *more = NULL;
    char other[33];
    wait_root(rx, "startup", 0, 30000, other, &more, s);
    json_t *boot = of_trace(more, other);
    cr_assert_str_eq(str_attr(th_otlp_find(boot, TRACE_SPAN_RUN), "reconciler.job"), "boot");
    cr_assert_null(th_otlp_attr(th_otlp_find(boot, TRACE_SPAN_RUN), "reconciler.scheduled_for"));
    json_decref(boot);
    json_decref(more);
    /* A run-now of boot (no schedule: never running when asked, where tick, every second
     * for 1.5 s, may leave no gap to ask in when runs are slow, as under make tsan). */
    th_response pr;
    cr_assert_eq(th_http(s->port, "POST", "/v1/jobs/boot/run", NULL, NULL, &pr), 0);
    cr_assert_lt(pr.status, 300, "%d %s", pr.status, pr.body);
    th_response_free(&pr);
    wait_root(rx, "manual", 0, 30000, other, &more, s);
    json_t *manual = of_trace(more, other);
    th_otlp_check_tree(manual, other, NULL);
    cr_assert_str_eq(str_attr(th_otlp_find(manual, TRACE_SPAN_RUN), "reconciler.job"), "boot");
    cr_assert_str_eq(str_attr(th_otlp_find(manual, TRACE_SPAN_RUN), "reconciler.status"),
                     "success");
    json_decref(manual);
    json_decref(more);

    /* The run's JSON log lines carry its trace; none carries a secret. */
    svc_term(s);
    char *log = th_read(s->errlog), *save = NULL;
    int traced = 0;
    cr_assert_null(strstr(log, SECRET), "a header value in the log");
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *lt = json_string_value(json_object_get(j, "trace_id"));
        if (lt && strcmp(lt, tid) == 0) {
            const char *ls = json_string_value(json_object_get(j, "span_id"));
            cr_assert(ls && strlen(ls) == 16, "%s", line);
            traced++;
        }
        json_decref(j);
    }
    cr_assert_gt(traced, 0, "no log line carries the run's trace_id");
    free(log);
    json_decref(spans);
    json_decref(all);
}

/* Wait up to ms for sql's count to reach want. */
static void wait_count(db *d, const char *sql, int64_t want, int ms, const svc *s)
{
    int64_t end = mono_ms() + ms;
    while (th_count(d, sql) < want) {
        cr_assert_lt(mono_ms(), end, "%s: not %lld within %d ms; log:\n%s", sql,
                     (long long)want, ms, th_read(s->errlog));
        sleep_ms(50);
    }
}

/* The value of the metric line that starts with name (e.g. `x{result="failed"} `), or -1. */
static double metric(svc *s, const char *name)
{
    th_response m;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &m), 0);
    const char *at = strstr(m.body, name);
    double v = at ? atof(at + strlen(name)) : -1;
    th_response_free(&m);
    return v;
}

/*
 * A receiver that hangs (20 s without an answer) or answers 500: the service's scheduled
 * runs go on and succeed one after the other (the exporter never holds a run up), the
 * state endpoint answers, and SIGTERM still ends it with 0 within 5 s.
 */
Test(trace_service, a_hanging_or_failing_receiver_costs_the_service_nothing, .timeout = 120,
     SVC_FIXTURE)
{
    for (int hang = 1; hang >= 0; hang--) {
        th_db *t = fx_db(DB_SQLITE);
        th_otlp *rx = fx_otlp(hang ? 200 : 500, hang ? 20000 : 0);
        svc *s = tick_traced_to(rx);
        /* The receiver has the first trace (and holds or refuses it) ... */
        cr_assert(th_otlp_wait(rx, 1, 30000), "no export request; log:\n%s",
                  th_read(s->errlog));
        /* ... while runs go on: three more scheduled runs after it, every one a success. */
        wait_count(t->conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = "
                   "'success'", 4, 30000, s);
        cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE "
                              "status NOT IN ('success', 'claimed')"), 0,
                     "a run that did not succeed; log:\n%s", th_read(s->errlog));
        if (!hang) {
            /* Refused, not retried (500), counted as failed; the hanging one is still in flight. */
            for (int64_t end = mono_ms() + 10000;
                 metric(s, "reconciler_trace_spans_total{result=\"failed\"} ") <= 0;
                 sleep_ms(50))
                cr_assert_lt(mono_ms(), end, "no failed spans counted");
            cr_assert_eq(th_otlp_count(rx) > 0, 1);
        }
        int status = 0;
        json_t *st = get_json(s, "/v1/service/state", &status);
        cr_assert_eq(status, 200);
        json_decref(st);
        svc_term(s); /* exit 0 within 5 s, the hanging receiver notwithstanding */
        char *log = th_read(s->errlog);
        cr_assert_null(strstr(log, "\"level\":\"error\""), "%s", log);
        free(log);
        fx_fini(); /* the next round's set-up is a fresh one */
    }
}

/*
 * Past 100 chunks a step's chunks are summed in one span: a real sql step of 105 chunks
 * (batch_size 1) is the step, 100 chunk spans and a summary of the other 5, whose rows
 * add up to the step's.
 */
Test(trace_service, past_100_chunks_the_rest_is_one_summary_span, .timeout = 120, SVC_FIXTURE)
{
    char endpoint[160], *out = NULL, *err = NULL;
    th_db *t = fx_db(DB_SQLITE);
    cr_assert_eq(db_exec(t->conn, "BEGIN", NULL, 0, NULL), 0);
    for (int i = 0; i < 105; i++) {
        char id[16];
        snprintf(id, sizeof id, "u%03d", i);
        session(t->conn, id);
    }
    cr_assert_eq(db_exec(t->conn, "COMMIT", NULL, 0, NULL), 0);
    th_otlp *rx = fx_otlp(200, 0);
    svc *s = write_jobs("", "  many:\n    steps:\n"
                        "      - plugin: sql\n        name: stale\n        options:\n"
                        "          table: user_sessions\n          key: user_id\n"
                        "          where: \"contact_status = 'ACTIVE'\"\n"
                        "          set: \"contact_status = 'STALE'\"\n          batch_size: 1\n"
                        "          result: staleContacts\n");
    snprintf(endpoint, sizeof endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s",
             th_otlp_url(rx));
    const char *const env[] = { endpoint, NULL };
    const char *const args[] = { "run", "--once", "--json", "-c", s->yaml, NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    json_t *result = json_loads(out, 0, NULL);
    const char *tid = json_string_value(json_object_get(result, "traceId"));
    cr_assert_not_null(tid, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(result, "rowsChanged")), 105, "%s", out);
    json_t *spans = th_otlp_spans(rx, NULL);
    th_otlp_check_tree(spans, tid, NULL);
    /* The run, the step, 100 chunks, one summary. */
    cr_assert_eq(json_array_size(spans), 1 + 1 + 100 + 1, "%zu spans", json_array_size(spans));
    json_t *step = th_otlp_find(spans, "step stale");
    cr_assert_eq(int_attr(step, "reconciler.chunks"), 105);
    json_t *sum = th_otlp_find(spans, TRACE_SPAN_CHUNKS_SUMMARY);
    cr_assert_not_null(sum);
    cr_assert_str_eq(json_string_value(json_object_get(sum, "parentSpanId")),
                     json_string_value(json_object_get(step, "spanId")));
    cr_assert_eq(int_attr(sum, "reconciler.chunks.first_index"), 101);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.count"), 5);
    cr_assert_eq(int_attr(sum, "reconciler.chunks.rows"), 5);
    size_t i;
    json_t *sp;
    long long rows = 0, index_max = 0;
    json_array_foreach(spans, i, sp)
        if (strcmp(json_string_value(json_object_get(sp, "name")), TRACE_SPAN_CHUNK) == 0) {
            rows += int_attr(sp, "reconciler.chunk.rows");
            long long ix = int_attr(sp, "reconciler.chunk.index");
            index_max = ix > index_max ? ix : index_max;
        }
    cr_assert_eq(rows, 100);
    cr_assert_eq(index_max, 100);
    json_decref(spans);
    json_decref(result);
    free(out);
    free(err);
}

/*
 * The exporter starts with the service: a reload that changes tracing.endpoint is warned
 * about (by key, never quoting the URL, which may hold a token) and the traces keep going
 * where they went; tracing.link, read per request, follows the file at once.
 */
Test(trace_service, a_reload_keeps_the_exporter_and_follows_the_link, .timeout = 120, SVC_FIXTURE)
{
    char top[512];
    fx_db(DB_SQLITE);
    th_otlp *rx = fx_otlp(200, 0);
    th_otlp *other = fx_otlp(200, 0);
    const char *jobs = "  tick:\n    schedule: { every: 1s }\n    steps:\n"
                       "      - plugin: fixture\n";
    snprintf(top, sizeof top, "tracing:\n  endpoint: %s\n", th_otlp_url(rx));
    svc *s = write_jobs(top, jobs);
    svc_start(s, NULL);
    cr_assert(th_otlp_wait(rx, 1, 30000), "no export; log:\n%s", th_read(s->errlog));
    snprintf(top, sizeof top, "tracing:\n  endpoint: http://u:RELOAD-TOKEN-5150@127.0.0.1:%d"
             "/v1/traces\n  link: \"" LINK "{traceId}\"\n", other->port);
    rewrite_jobs(s, top, jobs);
    kill(s->pid, SIGHUP);
    for (int64_t end = mono_ms() + 15000;
         !th_file_contains(s->errlog, "reload: tracing.endpoint changed"); sleep_ms(50))
        cr_assert_lt(mono_ms(), end, "no warning; log:\n%s", th_read(s->errlog));
    int before = th_otlp_count(rx);
    cr_assert_gt(th_otlp_wait(rx, before + 2, 30000), before + 1,
                 "the traces stopped after the reload");
    cr_assert_eq(th_otlp_count(other), 0, "the reload moved the exporter");
    /* The link follows the file in force: the newest run's detail has it. */
    for (int64_t end = mono_ms() + 15000;; sleep_ms(100)) {
        json_t *page = wait_for(s, "/v1/reconciliation/history?limit=1", 200, 10000);
        json_t *run = json_array_get(json_object_get(page, "runs"), 0);
        const char *url = json_string_value(json_object_get(run, "traceUrl"));
        int ok = url && strncmp(url, LINK, strlen(LINK)) == 0;
        json_decref(page);
        if (ok)
            break;
        cr_assert_lt(mono_ms(), end, "no traceUrl after the reload");
    }
    svc_term(s);
    cr_assert_eq(th_file_contains(s->errlog, "RELOAD-TOKEN"), 0, "the endpoint's token logged");
}

/* A slot skipped while the job is paused is a trace of one span: status skipped, no steps. */
Test(trace_service, a_paused_slot_is_a_skipped_trace, .timeout = 90, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    th_otlp *rx = fx_otlp(200, 0);
    svc *s = tick_traced_to(rx);
    json_t *st = wait_for(s, "/v1/service/state", 200, 15000);
    json_decref(st);
    th_response pr;
    cr_assert_eq(th_http(s->port, "POST", "/v1/jobs/tick/pause", NULL, NULL, &pr), 0);
    cr_assert_lt(pr.status, 300, "%d %s", pr.status, pr.body);
    th_response_free(&pr);
    for (int64_t end = mono_ms() + 30000, found = 0; !found; sleep_ms(50)) {
        json_t *all = th_otlp_count(rx) ? th_otlp_spans(rx, NULL) : json_array(), *sp;
        size_t i;
        json_array_foreach(all, i, sp) {
            json_t *status = th_otlp_attr(sp, "reconciler.status");
            if (found || strcmp(json_string_value(json_object_get(sp, "name")),
                                TRACE_SPAN_RUN) != 0 || !status ||
                strcmp(json_string_value(json_object_get(status, "stringValue")), "skipped"))
                continue;
            json_t *spans = of_trace(all, json_string_value(json_object_get(sp, "traceId")));
            cr_assert_eq(json_array_size(spans), 1, "a skipped run has no step spans");
            cr_assert_str_eq(str_attr(sp, "reconciler.job"), "tick");
            cr_assert_str_eq(str_attr(sp, "reconciler.trigger"), "scheduled");
            cr_assert_not_null(th_otlp_attr(sp, "reconciler.scheduled_for"));
            cr_assert_gt(int_attr(sp, "reconciler.run_id"), 0);
            json_decref(spans);
            found = 1;
        }
        json_decref(all);
        cr_assert(found || mono_ms() < end, "no skipped trace; log:\n%s", th_read(s->errlog));
    }
    svc_term(s);
}
