/* SPDX-License-Identifier: MIT */
/*
 * test_console.c - the console page as the service serves it (headers, the
 * token rule, the embedded files) and the API it reads: /v1/service/state,
 * history paging and rowsChanged. The page itself is driven in a real
 * browser by tests/browser/console_test.py.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TOKEN_ENV "  token_env: RT_CONSOLE_TOKEN\n"
#define AUTH "Authorization: Bearer tok-console-5d1e\r\n"
static const char *const token_env[] = { "RT_CONSOLE_TOKEN=tok-console-5d1e", NULL };

static void get(svc *s, const char *path, const char *hdrs, th_response *r)
{
    cr_assert_eq(th_http(s->port, "GET", path, hdrs, NULL, r), 0, "GET %s: no answer", path);
}

static void assert_header(const th_response *r, const char *name, const char *want)
{
    char *v = th_header(r, name);
    cr_assert_not_null(v, "no %s header", name);
    cr_assert_str_eq(v, want, "%s: %s", name, v);
    free(v);
}

static void assert_header_has(const th_response *r, const char *name, const char *part)
{
    char *v = th_header(r, name);
    cr_assert_not_null(v, "no %s header", name);
    cr_assert_not_null(strstr(v, part), "%s lacks %s: %s", name, part, v);
    free(v);
}

static json_t *get_ok(svc *s, const char *path, const char *hdrs, int want)
{
    th_response r;
    get(s, path, hdrs, &r);
    cr_assert_eq(r.status, want, "GET %s: %d %s", path, r.status, r.body);
    json_t *j = parse(&r);
    th_response_free(&r);
    return j;
}

/*
 * The page and its files need no token, carry a strict CSP, nosniff and a
 * revalidating cache with an ETag; the API behind them still needs the token.
 */
Test(console, page_open_api_closed, .timeout = 30, SVC_FIXTURE)
{
    th_response r;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", TOKEN_ENV,
                    REAL_STEPS);
    svc_start(s, token_env);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    static const struct { const char *path; const char *type; } files[] = {
        { "/", "text/html; charset=utf-8" },
        { "/ui/", "text/html; charset=utf-8" },
        { "/ui/app.js", "text/javascript; charset=utf-8" },
        { "/ui/app.css", "text/css; charset=utf-8" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        get(s, files[i].path, NULL, &r);
        cr_assert_eq(r.status, 200, "GET %s without a token: %d", files[i].path, r.status);
        assert_header(&r, "Content-Type", files[i].type);
        assert_header_has(&r, "Content-Security-Policy", "default-src 'none'");
        assert_header_has(&r, "Content-Security-Policy", "script-src 'self';");
        assert_header_has(&r, "Content-Security-Policy", "style-src 'self';");
        assert_header_has(&r, "Content-Security-Policy", "connect-src 'self';");
        assert_header_has(&r, "Content-Security-Policy", "frame-ancestors 'none'");
        assert_header(&r, "X-Content-Type-Options", "nosniff");
        assert_header(&r, "Cache-Control", "no-cache");
        cr_assert_gt(strlen(r.body), 100, "%s is empty", files[i].path);
        /* Nothing from another host: no CDN, no font service. */
        cr_assert_null(strstr(r.body, "https://"), "%s loads from elsewhere", files[i].path);
        cr_assert_null(strstr(r.body, "//cdn"), "%s loads from a CDN", files[i].path);

        /* The ETag revalidates: 304 and no body for the same, 200 for another. */
        char *etag = th_header(&r, "ETag"), hdr[128];
        cr_assert_not_null(etag);
        th_response_free(&r);
        snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
        get(s, files[i].path, hdr, &r);
        cr_assert_eq(r.status, 304, "%s with its ETag: %d", files[i].path, r.status);
        cr_assert(!r.body || !r.body[0], "a 304 with a body");
        th_response_free(&r);
        get(s, files[i].path, "If-None-Match: \"0000000000000000\"\r\n", &r);
        cr_assert_eq(r.status, 200);
        th_response_free(&r);
        free(etag);
    }

    /* The page has no inline script or style, which the CSP would block. */
    get(s, "/", NULL, &r);
    cr_assert_not_null(strstr(r.body, "<script src=\"/ui/app.js\""));
    cr_assert_not_null(strstr(r.body, "<link rel=\"stylesheet\" href=\"/ui/app.css\">"));
    cr_assert_null(strstr(r.body, "<style"), "inline <style> in the page");
    cr_assert_null(strstr(r.body, " style="), "a style attribute in the page");
    cr_assert_null(strstr(r.body, " onclick="), "an inline handler in the page");
    const char *p = r.body;
    while ((p = strstr(p, "<script"))) {
        cr_assert_eq(strncmp(p, "<script src=", 12), 0, "an inline script: %.60s", p);
        p++;
    }
    th_response_free(&r);

    /* Unknown files under /ui/ are 404 (the page is only at / and /ui/). */
    static const char *const missing[] = { "/ui/index.html", "/ui/app.jsx", "/ui/../Makefile",
                                           "/index.html" };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        get(s, missing[i], AUTH, &r);
        cr_assert_eq(r.status, 404, "GET %s: %d", missing[i], r.status);
        th_response_free(&r);
    }
    cr_assert_eq(th_http(s->port, "POST", "/", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    th_response_free(&r);

    /* The API the page reads still needs the token, and JSON gets nosniff too. */
    static const char *const closed[] = { "/v1/service/state", "/v1/reconciliation/history",
                                          "/v1/reconciliation/history?limit=5&before=3" };
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        get(s, closed[i], NULL, &r);
        cr_assert_eq(r.status, 401, "GET %s without a token: %d", closed[i], r.status);
        assert_header(&r, "X-Content-Type-Options", "nosniff");
        assert_header(&r, "Cache-Control", "no-store");
        th_response_free(&r);
        get(s, closed[i], AUTH, &r);
        cr_assert_eq(r.status, 200, "GET %s with the token: %d", closed[i], r.status);
        th_response_free(&r);
    }
    svc_term(s);
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * /v1/service/state: the last run, the next scheduled one, the run lock
 * (held only while a real run goes on), the database watch.
 */
DB_TEST(console, service_state, .timeout = 40, SVC_FIXTURE)
{
    fx_db(kind);
    svc *s = fx_svc("schedule:\n  interval: 1h\n  jitter: 0s\n", "",
                    "  - plugin: fixture\n    options: { pause: 2s }\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    /* After the startup run: no run now, the next one an interval away. */
    json_t *j = NULL;
    for (int64_t end = mono_ms() + 15000; mono_ms() < end; sleep_ms(100)) {
        json_decref(j);
        j = get_ok(s, "/v1/service/state", NULL, 200);
        if (json_is_object(json_object_get(j, "lastRun")) && !json_is_true(json_object_get(j, "running")))
            break;
    }
    json_t *last = json_object_get(j, "lastRun");
    cr_assert_str_eq(json_string_value(json_object_get(last, "status")), "success");
    cr_assert_str_eq(json_string_value(json_object_get(last, "trigger")), "startup");
    cr_assert_eq(json_integer_value(json_object_get(last, "runId")), 1);
    cr_assert(json_is_null(json_object_get(j, "runningId")));
    cr_assert(json_is_null(json_object_get(j, "queuedId")));
    const char *next = json_string_value(json_object_get(j, "nextRunAt"));
    cr_assert_not_null(next, "no nextRunAt");
    int64_t ahead = iso_ms(next) - wall_ms();
    cr_assert(ahead > 3600000 - 60000 && ahead <= 3600000, "next run %lld ms ahead",
              (long long)ahead);
    json_t *lock = json_object_get(j, "lock");
    cr_assert(json_is_false(json_object_get(lock, "held")), "the startup run let the lock go");
    const char *inst = json_string_value(json_object_get(lock, "instance"));
    cr_assert(inst && strchr(inst, ':'), "instance: %s", inst ? inst : "(none)");
    json_t *dbj = json_object_get(j, "database");
    cr_assert(json_is_true(json_object_get(dbj, "ok")));
    cr_assert(json_is_number(json_object_get(dbj, "latencyMs")));
    cr_assert_geq(json_number_value(json_object_get(dbj, "latencyMs")), 0);
    cr_assert(json_is_null(json_object_get(dbj, "error")));
    cr_assert_not_null(json_string_value(json_object_get(dbj, "checkedAt")));
    cr_assert(json_is_integer(json_object_get(j, "uptime")));
    json_decref(j);

    /* A manual run (2 s): running, with its id, and the lock held by this instance. */
    cr_assert_eq(post_run(s, "", 202), 2);
    int held = 0;
    for (int64_t end = mono_ms() + 5000; mono_ms() < end && !held; sleep_ms(50)) {
        j = get_ok(s, "/v1/service/state", NULL, 200);
        held = json_is_true(json_object_get(json_object_get(j, "lock"), "held"));
        if (held) {
            cr_assert(json_is_true(json_object_get(j, "running")));
            cr_assert_eq(json_integer_value(json_object_get(j, "runningId")), 2);
        }
        json_decref(j);
    }
    cr_assert(held, "the lock never showed as held during a real run");
    json_decref(wait_run(s, 2, 10000));
    j = get_ok(s, "/v1/service/state", NULL, 200);
    cr_assert(json_is_false(json_object_get(json_object_get(j, "lock"), "held")));
    cr_assert(json_is_false(json_object_get(j, "running")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "lastRun"), "runId")), 2);
    json_decref(j);
    svc_term(s);
}

static json_t *page(svc *s, const char *query, size_t n_want)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/reconciliation/history%s", query);
    json_t *j = get_ok(s, path, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "runs")), n_want, "%s: %zu runs", path,
                 json_array_size(json_object_get(j, "runs")));
    return j;
}

static int64_t run_at(json_t *pg, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(json_object_get(pg, "runs"), i),
                                              "runId"));
}

static int64_t next_before(json_t *pg)
{
    json_t *v = json_object_get(pg, "nextBefore");
    cr_assert(json_is_null(v) || json_is_integer(v));
    return json_is_null(v) ? 0 : json_integer_value(v);
}

/*
 * History pages by run id (before=ID, nextBefore), with the total, and each
 * run's rowsChanged as the core counted its writes: the fixture's write is
 * one row in a real run; a dry run writes nothing.
 */
DB_TEST(console, history_paging_and_rows_changed, .timeout = 40, SVC_FIXTURE)
{
    fx_db(kind);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", "",
                    "  - plugin: fixture\n    options: { write: true }\n"
                    "    on_error: continue\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    for (int i = 1; i <= 5; i++) {
        cr_assert_eq(post_run(s, i == 3 ? "?dryRun=true" : "", 202), i);
        json_decref(wait_run(s, i, 10000));
    }

    json_t *pg = page(s, "?limit=2", 2);
    cr_assert_eq(run_at(pg, 0), 5);
    cr_assert_eq(run_at(pg, 1), 4);
    cr_assert_eq(json_integer_value(json_object_get(pg, "total")), 5);
    cr_assert_eq(next_before(pg), 4);
    json_decref(pg);
    pg = page(s, "?limit=2&before=4", 2);
    cr_assert_eq(run_at(pg, 0), 3);
    cr_assert_eq(run_at(pg, 1), 2);
    cr_assert_eq(next_before(pg), 2);
    /* Run 3 was the dry run: the fixture's write was refused, nothing changed. */
    json_t *dry = json_array_get(json_object_get(pg, "runs"), 0);
    cr_assert(json_is_true(json_object_get(dry, "dryRun")));
    cr_assert_eq(json_integer_value(json_object_get(dry, "rowsChanged")), 0);
    json_t *real = json_array_get(json_object_get(pg, "runs"), 1);
    cr_assert(json_is_integer(json_object_get(real, "rowsChanged")));
    cr_assert_eq(json_integer_value(json_object_get(real, "rowsChanged")), 1);
    json_decref(pg);
    pg = page(s, "?limit=2&before=2", 1);
    cr_assert_eq(run_at(pg, 0), 1);
    cr_assert_eq(next_before(pg), 0, "the last page has no next one");
    json_decref(pg);
    /* A page exactly as long as what is left: run 1 is the last, no next page. */
    pg = page(s, "?limit=5", 5);
    cr_assert_eq(next_before(pg), 0);
    json_decref(pg);
    pg = page(s, "?limit=4", 4);
    cr_assert_eq(next_before(pg), 2);
    json_decref(pg);
    pg = page(s, "?before=1", 0);
    cr_assert_eq(json_integer_value(json_object_get(pg, "total")), 5);
    json_decref(pg);
    pg = page(s, "?before=6", 5);
    json_decref(pg);

    /* The full result says it too, run and step. */
    json_t *r = wait_run(s, 5, 1000);
    cr_assert_eq(json_integer_value(json_object_get(r, "rowsChanged")), 1);
    json_t *step = json_array_get(json_object_get(r, "steps"), 0);
    cr_assert_eq(json_integer_value(json_object_get(step, "rowsChanged")), 1);
    json_decref(r);

    static const char *const bad[] = { "?before=0", "?before=-1", "?before=x", "?before=",
                                       "?before=9223372036854775808" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/reconciliation/history%s", bad[i]);
        json_t *e = get_ok(s, path, NULL, 400);
        cr_assert_not_null(strstr(json_string_value(json_object_get(e, "error")), "before"));
        json_decref(e);
    }
    svc_term(s);
}
