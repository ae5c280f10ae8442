/* SPDX-License-Identifier: MIT */
/*
 * test_history_filter.c - GET /v1/reconciliation/history's filters (the
 * console's runs list): ?status=, ?trigger=, ?job= and the time range
 * ?since= / ?until=, alone and together, with keyset pages and totals that
 * count what passes; each time bound on both sides of a run's start; bad
 * values refused with 400 naming what is allowed. The real service over
 * loopback, on a history store written beforehand.
 */
#include "th_fixture.h"
#include "th_svc.h"
#include "engine/history.h"
#include "service/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2026-01-01T10:00:00.000Z and the days after it. */
#define DAY0_MS INT64_C(1767261600000)
#define DAY_MS INT64_C(86400000)

static const struct {
    const char *job, *trigger, *status;
    int dry;
} runs[] = {
    { "a", "scheduled", "success", 0 }, /* 1: 2026-01-01T10:00 */
    { "a", "manual", "failed", 0 },     /* 2: 2026-01-02T10:00 */
    { "b", "scheduled", "partial", 0 }, /* 3: 2026-01-03T10:00 */
    { "b", "catch_up", "success", 0 },  /* 4: 2026-01-04T10:00 */
    { "a", "startup", "skipped", 1 },   /* 5: 2026-01-05T10:00 */
};

static void write_runs(const char *path)
{
    history *h;
    char err[1024];
    cr_assert_eq(history_open(path, 1000, 0, &h, err, sizeof err), 0, "%s", err);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        int64_t id, at = DAY0_MS + (int64_t)i * DAY_MS;
        cr_assert_eq(history_begin_job(h, runs[i].job, NULL, runs[i].trigger, runs[i].dry, at,
                                       &id), 0, "%s", history_error(h));
        cr_assert_eq(id, (int64_t)i + 1);
        json_t *r = json_pack("{s:s, s:s, s:s, s:b, s:i, s:[], s:I, s:b}", "status",
                              runs[i].status, "job", runs[i].job, "trigger", runs[i].trigger,
                              "dryRun", runs[i].dry, "durationMs", 5, "steps", "runId",
                              (json_int_t)id, "success", strcmp(runs[i].status, "success") == 0);
        cr_assert_eq(history_finish(h, id, at + 5, r), 0, "%s", history_error(h));
        json_decref(r);
    }
    history_close(h);
}

/* The ids of a history page ("4,1"), and its total and nextBefore (0: null). */
static void page(svc *s, const char *query, char *ids, size_t n, int64_t *total, int64_t *next)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/reconciliation/history?%s", query);
    json_t *j = wait_for(s, path, 200, 5000);
    size_t i, k = 0;
    json_t *run;
    ids[0] = '\0';
    json_array_foreach(json_object_get(j, "runs"), i, run)
        k += (size_t)snprintf(ids + k, k < n ? n - k : 0, "%s%lld", i ? "," : "",
                              (long long)json_integer_value(json_object_get(run, "runId")));
    *total = json_integer_value(json_object_get(j, "total"));
    *next = json_integer_value(json_object_get(j, "nextBefore"));
    json_decref(j);
}

static void expect(svc *s, const char *query, const char *want_ids, int64_t want_total)
{
    char ids[128];
    int64_t total, next;
    page(s, query, ids, sizeof ids, &total, &next);
    cr_assert_str_eq(ids, want_ids, "?%s", query);
    cr_assert_eq(total, want_total, "?%s: total %lld", query, (long long)total);
}

static void refused(svc *s, const char *query, const char *needle)
{
    th_response r;
    char path[512];
    snprintf(path, sizeof path, "/v1/reconciliation/history?%s", query);
    cr_assert_eq(th_http(s->port, "GET", path, NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 400, "?%s: %d %s", query, r.status, r.body);
    cr_assert_not_null(strstr(r.body, needle), "?%s: %s", query, r.body);
    th_response_free(&r);
}

Test(history_filter, status_trigger_job_and_time_range, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", "",
                    "  - plugin: fixture\n");
    write_runs(s->hist);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    expect(s, "limit=10", "5,4,3,2,1", 5);
    expect(s, "status=success", "4,1", 2);
    expect(s, "status=skipped", "5", 1);
    expect(s, "trigger=scheduled", "3,1", 2);
    expect(s, "trigger=scheduled&job=b", "3", 1);
    expect(s, "job=a&status=failed", "2", 1);
    expect(s, "status=running", "", 0);
    /* A form's empty fields filter nothing. */
    expect(s, "status=&trigger=&job=&since=&until=", "5,4,3,2,1", 5);

    /* Days: since is inclusive, until exclusive. */
    expect(s, "since=2026-01-02&until=2026-01-04", "3,2", 2);
    /* Each bound on both sides of run 2's start (2026-01-02T10:00:00.000Z). */
    expect(s, "since=2026-01-02T10:00:00.000Z", "5,4,3,2", 4);
    expect(s, "since=2026-01-02T10:00:00.001Z", "5,4,3", 3);
    expect(s, "until=2026-01-02T10:00:00.000Z", "1", 1);
    expect(s, "until=2026-01-02T10:00:00.001Z", "2,1", 2);
    expect(s, "since=2026-01-02T09:59:59Z&until=2026-01-02T10:00:01Z", "2", 1);
    expect(s, "status=success&since=2026-01-02", "4", 1);

    /* Pages of a filtered list: nextBefore, and the total of the filter, on each. */
    char ids[64];
    int64_t total, next;
    page(s, "status=success&limit=1", ids, sizeof ids, &total, &next);
    cr_assert_str_eq(ids, "4");
    cr_assert_eq(total, 2);
    cr_assert_eq(next, 4);
    page(s, "status=success&limit=1&before=4", ids, sizeof ids, &total, &next);
    cr_assert_str_eq(ids, "1");
    cr_assert_eq(total, 2);

    refused(s, "status=bogus", "status must be one of success|partial|failed");
    refused(s, "trigger=cron", "trigger must be one of startup|scheduled|catch_up|manual");
    refused(s, "since=yesterday", "since must be a UTC time");
    refused(s, "until=2026-01-02T10:00", "until must be a UTC time");
    refused(s, "until=2026-01-02T10:00:00+01:00", "until must be a UTC time");
    svc_term(s);
}

/* The filters' argument parsers alone: absent and empty filter nothing; each form of a
 * time on both sides of its shape; a choice exactly, never a prefix. */
Test(history_filter, argument_parsers)
{
    char why[API_WHY_MAX];
    cr_assert_eq(api_arg_time("since", NULL, why, sizeof why), 0);
    cr_assert_eq(api_arg_time("since", "", why, sizeof why), 0);
    cr_assert_eq(api_arg_time("since", "2026-01-02", why, sizeof why), 0);
    cr_assert_eq(api_arg_time("since", "2026-01-02T10:00:00Z", why, sizeof why), 0);
    cr_assert_eq(api_arg_time("since", "2026-01-02T10:00:00.123Z", why, sizeof why), 0);
    static const char *const bad[] = { "2026-1-02", "2026-01-02T", "2026-01-02T10:00:00",
                                       "2026-01-02T10:00:00.12Z", "2026-01-02T10:00:00.1234Z",
                                       "2026-01-02 10:00:00Z", "2026-01-0a", "x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(api_arg_time("until", bad[i], why, sizeof why), -1, "%s", bad[i]);
        cr_assert_not_null(strstr(why, bad[i]), "%s", why);
        cr_assert_not_null(strstr(why, "until must be"), "%s", why);
    }
    cr_assert_eq(api_arg_choice("status", NULL, "ok|failed", why, sizeof why), 0);
    cr_assert_eq(api_arg_choice("status", "", "ok|failed", why, sizeof why), 0);
    cr_assert_eq(api_arg_choice("status", "ok", "ok|failed", why, sizeof why), 0);
    cr_assert_eq(api_arg_choice("status", "failed", "ok|failed", why, sizeof why), 0);
    cr_assert_eq(api_arg_choice("status", "fail", "ok|failed", why, sizeof why), -1);
    cr_assert_eq(api_arg_choice("status", "oks", "ok|failed", why, sizeof why), -1);
    cr_assert_eq(api_arg_choice("status", "ok|failed", "ok|failed", why, sizeof why), -1);
    cr_assert_str_eq(why, "status must be one of ok|failed, got 'ok|failed'");
}

/* `reconciler history` takes the same filters, with the same checks, and its --json is the
 * API's page of them. */
Test(history_filter, cli_history_filters, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    write_runs(s->hist);
    const char *const a1[] = { "history", "-c", s->yaml, "--status", "success", "--since",
                               "2026-01-02", "--json", NULL };
    int rc = th_run_cli(a1, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(json_array_size(json_object_get(j, "runs")), 1, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "runs"),
                                                                   0), "runId")), 4);
    cr_assert_eq(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    free(out);
    free(err);

    const char *const a2[] = { "history", "-c", s->yaml, "--trigger", "scheduled", "--job", "b",
                               NULL };
    rc = th_run_cli(a2, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "     3  "), "%s", out);
    cr_assert_null(strstr(out, "     1  "), "%s", out);
    free(out);
    free(err);

    const char *const a3[] = { "history", "-c", s->yaml, "--status", "done", NULL };
    rc = th_run_cli(a3, NULL, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "--status must be one of success|partial"), "%s", err);
    free(out);
    free(err);
}
