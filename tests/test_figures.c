/* SPDX-License-Identifier: MIT */
/*
 * test_figures.c - the live figures served from a snapshot (issue 21): one
 * refresh for any number of requests (single flight), a failed refresh
 * keeps the last snapshot marked stale, ?fresh=1, the snapshot kept across
 * a restart, and a third-party plugin's declared figures (ABI 1.5) in
 * /metrics. The fixture plugin tests/fixtures/tally.c counts its probe
 * runs in a file and can be held at a gate file.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_svc.h"
#include "config/config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct tally_files {
    char *count, *gate, *fail;
} tally_files;

static tally_files g_tally;

/* The tally's files (under the test's folder), let go by the test's fini (TALLY_FIXTURE). */
static tally_files *tally_paths(void)
{
    g_tally.count = th_path(th_tmpdir(), "tally.count");
    g_tally.gate = th_path(th_tmpdir(), "tally.gate");
    g_tally.fail = th_path(th_tmpdir(), "tally.fail");
    return &g_tally;
}

/* The fixture's fini (th_fixture.h), and the tally's paths freed. */
static void tally_fini(void)
{
    fx_fini();
    free(g_tally.count);
    free(g_tally.gate);
    free(g_tally.fail);
}
#define TALLY_FIXTURE .fini = tally_fini

/* The tally's gate: none, shut (a refresh waits at it until it is opened), open. */
enum { NO_GATE, GATE_SHUT, GATE_OPEN };

/*
 * The fixture's service on SQLite with the tally step, started and answering; no run unless
 * asked, refreshes only when due or asked. *f: the tally's files.
 */
static svc *tally_service(int gate, tally_files **f)
{
    char steps[1024];
    *f = tally_paths();
    snprintf(steps, sizeof steps,
             "  - plugin: tally\n    options:\n      count_file: %s\n      gate: \"%s\"\n"
             "      fail_file: %s\n", (*f)->count, gate == NO_GATE ? "" : (*f)->gate, (*f)->fail);
    if (gate == GATE_OPEN)
        th_write((*f)->gate, "open\n");
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n",
                    "  figures_refresh: 1h\n  figures_wait: 60s\n", steps);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    return s;
}

/* Probe runs of the tally plugin so far (lines of its count file). */
static int probe_runs(const tally_files *f)
{
    return th_log_count(f->count, "probe\n");
}

static void wait_probe_runs(svc *s, const tally_files *f, int want, int ms)
{
    int64_t end = mono_ms() + ms;
    while (probe_runs(f) < want) {
        cr_assert_lt(mono_ms(), end, "%d probe runs, not %d, within %d ms; log:\n%s",
                     probe_runs(f), want, ms, th_read(s->errlog));
        sleep_ms(10);
    }
}

/* /v1/service/state's figures object (new reference). */
static json_t *figures_state(svc *s)
{
    int st;
    json_t *j = get_json(s, "/v1/service/state", &st);
    cr_assert_eq(st, 200);
    json_t *f = json_incref(json_object_get(j, "figures"));
    json_decref(j);
    cr_assert(json_is_object(f));
    return f;
}

static int64_t state_int(svc *s, const char *key)
{
    json_t *f = figures_state(s);
    int64_t v = json_integer_value(json_object_get(f, key));
    json_decref(f);
    return v;
}

/* The whole answer to th_send_get within ms (the server closes after it); malloc'd. */
static char *read_answer(int fd, int ms)
{
    size_t cap = 65536, have = 0;
    char *buf = malloc(cap);
    int64_t end = mono_ms() + ms;
    for (;;) {
        int64_t left = end - mono_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        cr_assert(left > 0 && poll(&p, 1, (int)left) > 0, "no whole answer within %d ms", ms);
        ssize_t n = read(fd, buf + have, cap - 1 - have);
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        have += (size_t)n;
        cr_assert_lt(have, cap - 1, "answer too long");
    }
    buf[have] = '\0';
    return buf;
}

static const char *text_of(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/*
 * Single flight: requests that come while a refresh runs all share the next
 * one; plain requests never start one. The first refresh is held at the
 * gate while N requests with ?fresh=1 arrive; then the gate opens: two
 * probe runs in all, and every request gets the second, fresh.
 */
#define N_CLIENTS 8
Test(figures, single_flight, .timeout = 60, TALLY_FIXTURE)
{
    tally_files *f;
    svc *s = tally_service(GATE_SHUT, &f);
    wait_probe_runs(s, f, 1, 15000); /* the first refresh, held at the gate */

    /* Plain requests answer at once (no figures yet: 503) and start nothing. */
    for (int i = 0; i < N_CLIENTS; i++) {
        int st;
        json_t *j = get_json(s, "/api/admin/dashboard", &st);
        cr_assert_eq(st, 503, "%d", st);
        cr_assert(strstr(text_of(j, "error"), "no figures yet"), "%s", text_of(j, "error"));
        json_decref(j);
    }
    int fds[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++)
        fds[i] = th_send_get(s->port, i % 2 ? "/api/admin/dashboard?fresh=1"
                                             : "/v1/processing/queue?fresh=1");
    int64_t end = mono_ms() + 10000;
    while (state_int(s, "waiting") < N_CLIENTS) {
        cr_assert_lt(mono_ms(), end, "not all %d requests wait", N_CLIENTS);
        sleep_ms(10);
    }
    cr_assert_eq(probe_runs(f), 1);
    th_write(f->gate, "open\n");
    for (int i = 0; i < N_CLIENTS; i++) {
        char *a = read_answer(fds[i], 50000);
        close(fds[i]);
        cr_assert(strstr(a, "HTTP/1.1 200"), "%s", a);
        cr_assert(strstr(a, "\"fresh\":true"), "%s", a);
        free(a);
    }
    cr_assert_eq(probe_runs(f), 2, "%d probe runs for %d requests", probe_runs(f), N_CLIENTS);
    cr_assert_eq(state_int(s, "refreshes"), 2);
    /* Answered from the snapshot: plain requests again start no probe run. */
    for (int i = 0; i < N_CLIENTS; i++) {
        int st;
        json_t *j = get_json(s, "/api/admin/dashboard", &st);
        cr_assert_eq(st, 200);
        cr_assert(json_is_string(json_object_get(j, "asOf")));
        cr_assert(json_is_integer(json_object_get(j, "ageMs")));
        cr_assert(json_is_null(json_object_get(j, "lastError")));
        json_decref(j);
    }
    cr_assert_eq(probe_runs(f), 2);
    cr_log_info("single_flight: %d requests with ?fresh=1, %d probe runs", N_CLIENTS,
                probe_runs(f));
    svc_term(s);
}

/* ?fresh= takes 1, true, 0 or false; anything else is a 400 naming it. */
Test(figures, fresh_argument, .timeout = 30, TALLY_FIXTURE)
{
    tally_files *f;
    svc *s = tally_service(NO_GATE, &f);
    th_db *t = s->t;
    json_t *j = get_fresh(s, "/v1/processing/queue", 15000);
    cr_assert(json_is_false(json_object_get(j, "stale")));
    json_decref(j);
    int st;
    j = get_json(s, "/v1/processing/queue?fresh=maybe", &st);
    cr_assert_eq(st, 400);
    cr_assert(strstr(text_of(j, "error"), "'maybe'"), "%s", text_of(j, "error"));
    json_decref(j);
    int before = probe_runs(f);
    j = get_json(s, "/v1/processing/queue?fresh=0", &st);
    cr_assert_eq(st, 200);
    json_decref(j);
    /* A row added now is in the next fresh answer. */
    cr_assert_eq(db_exec(t->conn, "INSERT INTO processing_jobs (job_type, status, created_at) "
                         "VALUES ('t', 'pending', '2020-01-01 00:00:00')", NULL, 0, NULL), 0);
    j = get_fresh(s, "/v1/processing/queue", 15000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "byStatus"), "pending")), 1);
    json_decref(j);
    cr_assert_eq(probe_runs(f), before + 1, "?fresh=0 started a refresh");
    svc_term(s);
}

/*
 * A refresh that fails keeps the last snapshot, marked stale with the error
 * (also in /metrics); once the cause is gone the figures are fresh again.
 */
Test(figures, failed_refresh_keeps_the_snapshot_stale, .timeout = 60, TALLY_FIXTURE)
{
    tally_files *f;
    svc *s = tally_service(NO_GATE, &f);
    json_t *good = get_fresh(s, "/api/admin/dashboard", 15000);
    char *as_of = strdup(text_of(good, "asOf"));
    json_decref(good);

    th_write(f->fail, "fail\n");
    int st;
    json_t *j = get_json(s, "/api/admin/dashboard?fresh=1", &st);
    cr_assert_eq(st, 200, "the last good figures are still served: %d", st);
    cr_assert(json_is_false(json_object_get(j, "fresh")));
    cr_assert(json_is_true(json_object_get(j, "stale")));
    cr_assert_str_eq(text_of(j, "asOf"), as_of);
    const char *e = text_of(j, "lastError");
    cr_assert(e && strstr(e, "told to fail"), "%s", e ? e : "(none)");
    cr_assert_geq(json_integer_value(json_object_get(j, "ageMs")), 0);
    json_decref(j);
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert(strstr(r.body, "\nreconciler_figures_stale 1\n"), "%s", r.body);
    cr_assert(strstr(r.body, "\nreconciler_figures_age_seconds "), "%s", r.body);
    th_response_free(&r);
    j = figures_state(s);
    cr_assert_geq(json_integer_value(json_object_get(j, "failedRefreshes")), 1);
    json_decref(j);

    /* Retried with backoff: fresh again once the cause is gone. */
    cr_assert_eq(unlink(f->fail), 0);
    j = get_fresh(s, "/api/admin/dashboard", 30000);
    cr_assert(json_is_false(json_object_get(j, "stale")));
    cr_assert(json_is_null(json_object_get(j, "lastError")));
    json_decref(j);
    free(as_of);
    svc_term(s);
}

/*
 * The snapshot survives a restart: while the new process's first refresh
 * is held at the gate, it already serves the old one, with its asOf and age.
 */
Test(figures, snapshot_survives_a_restart, .timeout = 60, TALLY_FIXTURE)
{
    tally_files *f;
    svc *s = tally_service(GATE_OPEN, &f);
    json_t *j = get_fresh(s, "/api/admin/dashboard", 15000);
    char *as_of = strdup(text_of(j, "asOf"));
    json_decref(j);
    svc_term(s);

    cr_assert_eq(unlink(f->gate), 0);
    int runs = probe_runs(f);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    wait_probe_runs(s, f, runs + 1, 15000); /* its first refresh, held */
    int st;
    j = get_json(s, "/api/admin/dashboard", &st);
    cr_assert_eq(st, 200, "no figures after the restart: %d", st);
    cr_assert_str_eq(text_of(j, "asOf"), as_of);
    cr_assert(json_is_false(json_object_get(j, "fresh")));
    cr_assert_geq(json_integer_value(json_object_get(j, "ageMs")),
                  wall_ms() - iso_ms(as_of) - 1000);
    json_decref(j);
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert(strstr(r.body, "\ntally_widgets 7\n"), "%s", r.body);
    th_response_free(&r);
    th_write(f->gate, "open\n");
    free(as_of);
    svc_term(s);
}

/* A third-party plugin's declared figures are on /metrics with their names and help. */
Test(figures, third_party_figures_on_metrics, .timeout = 30, TALLY_FIXTURE)
{
    tally_files *f;
    svc *s = tally_service(NO_GATE, &f);
    json_decref(get_fresh(s, "/api/admin/dashboard", 15000));
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    static const char *const want[] = {
        "# HELP tally_widgets Widgets the tally fixture counted.\n",
        "# TYPE tally_widgets gauge\n",
        "\ntally_widgets 7\n",
        "\ntally_widgets_by_colour{colour=\"red\"} 7\n",
        "\ntally_widgets_by_colour{colour=\"blue\"} 1\n",
        /* The bundled plugins' declared figures too. */
        "\nqueue_size 0\n",
        "\njobs_by_status{status=\"pending\"} 0\n",
        "\ndatabase_ok 1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(r.body, want[i]), "no %s in:\n%s", want[i], r.body);
    th_response_free(&r);
    svc_term(s);
}

/* The member names of object o, in order, joined by ',' (malloc'd). */
static char *members(json_t *o)
{
    char *out = calloc(1, 1024);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (*out)
            strcat(out, ",");
        strcat(out, k);
    }
    return out;
}

static void assert_members(json_t *o, const char *want)
{
    char *got = members(o);
    cr_assert_str_eq(got, want);
    free(got);
}

/*
 * The built-in mappings (conf/figures.yaml) reproduce the JSON the endpoints
 * gave before the figures were declared, member for member and in order,
 * and every figure they name is declared by a bundled plugin.
 */
Test(figures, built_in_mappings_keep_the_json, .timeout = 30, TALLY_FIXTURE)
{
    tally_files *f;
    svc *s = tally_service(NO_GATE, &f);
    json_t *d = get_fresh(s, "/api/admin/dashboard", 15000);
    assert_members(d, "orders,jobs,followUps,database,lastRun,referenceTime,generatedAt,asOf,"
                      "ageMs,fresh,stale,lastError");
    assert_members(json_object_get(d, "orders"), "byStatus,total,revenue,pending");
    assert_members(json_object_get(json_object_get(d, "orders"), "byStatus"),
                   "pending,processing,completed,failed,cancelled");
    assert_members(json_object_get(d, "jobs"), "byStatus,avgDurationMs");
    assert_members(json_object_get(d, "followUps"), "candidates");
    assert_members(json_object_get(d, "database"), "ok,latencyMs");
    cr_assert(json_is_true(json_object_get(json_object_get(d, "database"), "ok")));
    json_decref(d);
    json_t *q = get_fresh(s, "/v1/processing/queue", 15000);
    assert_members(q, "byStatus,total,leased,expiredLeases,oldestPendingAgeSeconds,"
                      "referenceTime,generatedAt,asOf,ageMs,fresh,stale,lastError");
    json_decref(q);
    cr_assert_eq(th_file_contains(s->errlog, "which no loaded plugin declares"), 0, "%s",
                 th_read(s->errlog));
    svc_term(s);
}

/*
 * A third-party figure reaches the dashboard through a mapping in the
 * pipeline file (which replaces the built-in one), and the console draws
 * the members it does not know.
 */
Test(figures, third_party_figure_in_the_dashboard, .timeout = 30, TALLY_FIXTURE)
{
    tally_files *f = tally_paths();
    char steps[1024];
    fx_db(DB_SQLITE);
    snprintf(steps, sizeof steps, "  - plugin: tally\n    options:\n      count_file: %s\n",
             f->count);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n",
                    "  dashboard_figures:\n    orders.total: orders_total\n"
                    "    widgets.count: tally_widgets\n"
                    "    widgets.byColour: tally_widgets_by_colour\n",
                    steps);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    json_t *d = get_fresh(s, "/api/admin/dashboard", 15000);
    assert_members(d, "orders,widgets,lastRun,referenceTime,generatedAt,asOf,ageMs,fresh,stale,"
                      "lastError");
    json_t *w = json_object_get(d, "widgets");
    cr_assert_eq(json_integer_value(json_object_get(w, "count")), 7);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(w, "byColour"), "red")), 7);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(w, "byColour"), "blue")), 1);
    json_decref(d);
    /* The console's data is this JSON; its script draws members it does not know. */
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/ui/app.js", NULL, NULL, &r), 0);
    cr_assert(strstr(r.body, "function extraFigures"), "the console draws no extra figures");
    th_response_free(&r);
    svc_term(s);
}

/* validate: a mapping naming a figure no plugin declares, at its FILE:LINE:COL; then fixed. */
Test(figures, validate_reports_an_undeclared_figure, .timeout = 30)
{
    char *yaml = th_path(th_tmpdir(), "v.yaml"), *text = NULL, *err = NULL;
    const char *const args[] = { "validate", "-c", yaml, NULL };
    static const char fmt[] = "database: { url: \"sqlite:x.db\" }\n"
                              "plugin_dir: [%s, %s]\n"
                              "http:\n"
                              "  dashboard_figures:\n"
                              "    widgets.count: %s\n"
                              "steps:\n"
                              "  - plugin: tally\n";
    char *plugins = strdup(th_build_path("plugins")), *fixtures = strdup(th_build_path("tests/plugins"));
    cr_assert_neq(asprintf(&text, fmt, plugins, fixtures, "tally_widgetz"), -1);
    th_write(yaml, text);
    free(text);
    cr_assert_eq(th_run_cli(args, NULL, NULL, &err), 2, "%s", err);
    char want[1024];
    snprintf(want, sizeof want, "%s:5:20: http.dashboard_figures: member 'widgets.count' names "
             "figure 'tally_widgetz', which no plugin declares", yaml);
    cr_assert(strstr(err, want), "want %s in:\n%s", want, err);
    free(err);

    cr_assert_neq(asprintf(&text, fmt, plugins, fixtures, "tally_widgets"), -1);
    th_write(yaml, text);
    free(text);
    cr_assert_eq(th_run_cli(args, NULL, NULL, &err), 0, "%s", err);
    free(err);
    /* A figure of a plugin no step uses, run for http.figure_plugins (the built-in list). */
    cr_assert_neq(asprintf(&text, fmt, plugins, fixtures, "tally_widgets\n    orders: orders_total"),
                  -1);
    th_write(yaml, text);
    free(text);
    cr_assert_eq(th_run_cli(args, NULL, NULL, &err), 0, "%s", err);
    free(err);
    /* A member path that is not one is refused at its own position. */
    cr_assert_neq(asprintf(&text, fmt, plugins, fixtures, "tally_widgets\n    widgets..x: a"),
                  -1);
    th_write(yaml, text);
    free(text);
    cr_assert_eq(th_run_cli(args, NULL, NULL, &err), 2, "%s", err);
    snprintf(want, sizeof want, "%s:6:5: 'http.dashboard_figures': member 'widgets..x'", yaml);
    cr_assert(strstr(err, want), "want %s in:\n%s", want, err);
    free(err);
    free(plugins);
    free(fixtures);
    free(yaml);
}

/*
 * The refresh period stretches so that refreshes take at most 5% of the
 * time: after a refresh held at the gate, the period in force is at least
 * 20 times that refresh's duration (and never below http.figures_refresh).
 */
Test(figures, period_stretches_with_the_refresh, .timeout = 60, TALLY_FIXTURE)
{
    tally_files *f = tally_paths();
    char steps[1024];
    fx_db(DB_SQLITE);
    snprintf(steps, sizeof steps, "  - plugin: tally\n    options:\n      count_file: %s\n"
             "      gate: %s\n", f->count, f->gate);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n",
                    "  figures_refresh: 1s\n", steps);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    wait_probe_runs(s, f, 1, 15000);
    /* Held at the gate 300 ms at least: a refresh of a known least length (the wait
     * only sets that length; nothing waits on it for an event). */
    sleep_ms(300);
    th_write(f->gate, "open\n");
    int64_t end = mono_ms() + 10000;
    json_t *j;
    while (j = figures_state(s), json_is_null(json_object_get(j, "lastRefreshMs"))) {
        json_decref(j);
        cr_assert_lt(mono_ms(), end, "the first refresh never ended");
        sleep_ms(10);
    }
    int64_t took = json_integer_value(json_object_get(j, "lastRefreshMs"));
    int64_t period = json_integer_value(json_object_get(j, "periodMs"));
    json_decref(j);
    cr_assert_geq(took, 300, "%lld ms", (long long)took);
    cr_assert_geq(period, 20 * took, "period %lld ms for a refresh of %lld ms",
                  (long long)period, (long long)took);
    cr_log_info("period_stretches_with_the_refresh: a refresh of %lld ms, period %lld ms",
                (long long)took, (long long)period);
    svc_term(s);
}

/* The figure keys' own checks, each at its FILE:LINE:COL; the built-in defaults load. */
Test(figures, mapping_errors_name_their_place)
{
    static const struct { const char *http, *want; } bad[] = {
        { "  dashboard_figures: [a, b]\n", "f.yaml:3:22: 'http.dashboard_figures' expects a mapping" },
        { "  queue_figures:\n    total: Queue-Size\n", "f.yaml:4:12: 'http.queue_figures': total: expects a figure's name" },
        { "  queue_figures:\n    a: x\n    a.b: y\n", "f.yaml:5:5: 'http.queue_figures': member 'a.b' overlaps member 'a'" },
        { "  figure_plugins: [queue, \"no/such\"]\n", "f.yaml:3:27: 'http.figure_plugins' item" },
        { "  figure_plugins: queue\n", "f.yaml:3:19: 'http.figure_plugins' expects a list" },
    };
    char err[1024], text[512];
    config *c = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "database: { url: \"sqlite:x.db\" }\nhttp:\n%s"
                 "steps:\n  - plugin: tally\n", bad[i].http);
        cr_assert_neq(config_load_text("f.yaml", text, &c, err, sizeof err), 0, "%s", text);
        cr_assert(strstr(err, bad[i].want), "want %s in: %s", bad[i].want, err);
    }
    cr_assert_eq(config_load_text("f.yaml", "database: { url: \"sqlite:x.db\" }\n"
                                  "steps:\n  - plugin: tally\n", &c, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(c->n_http_figure_plugins, 4);
    cr_assert_eq(c->http_dashboard_figures.n, 9);
    cr_assert_eq(c->http_dashboard_figures.from_file, 0);
    cr_assert_str_eq(c->http_queue_figures.items[0].path, "byStatus");
    cr_assert_str_eq(c->http_queue_figures.items[0].figure, "queue_jobs");
    config_free(c);
}
