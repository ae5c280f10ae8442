/* SPDX-License-Identifier: MIT */
/*
 * test_service.c - `reconciler run` as a service: the real binary in the
 * background, its HTTP API over loopback, its schedule, signals and the run
 * lock, on SQLite and on the harness's MariaDB.
 */
#include "helpers.h"
#include "db/lock.h"
#include "th_http.h"
#include "th_server.h"
#include "th_svc.h"
#include "th_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A job whose lease ends in secs seconds on the database clock. */
static void insert_leased_job(db *d, int secs)
{
    char mod[32];
    snprintf(mod, sizeof mod, "%+d seconds", secs);
    const char *sql = db_get_kind(d) == DB_MYSQL
        ? "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, locked_until) "
          "VALUES ('t', 'processing', 1, 'w1', NOW() + INTERVAL ? SECOND)"
        : "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, locked_until) "
          "VALUES ('t', 'processing', 1, 'w1', datetime('now', ?))";
    rc_value p[] = { db_get_kind(d) == DB_MYSQL ? rc_int(secs) : rc_text(mod) };
    cr_assert_eq(db_exec(d, sql, p, 1, NULL), 0, "%s", db_errmsg(d));
}

/* Did a stop request cut this run (a history entry) short? */
static int cut_by_stop(json_t *run)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(run, "steps"), i, st) {
        const char *e = json_string_value(json_object_get(st, "error"));
        if (e && (strstr(e, "reconciler is stopping") || strstr(e, "reconciler was stopping") ||
                  strncmp(e, "interrupted", 11) == 0))
            return 1;
    }
    return 0;
}

/*
 * A startup run, then interval runs at the configured pace; a lease that
 * expires while the service runs is freed and its job requeued by the next
 * interval run; each run writes its processing_job_logs row.
 */
DB_TEST(service, startup_then_interval_runs, .timeout = 40, SVC_FIXTURE)
{
    th_db *t = fx_db(kind);
    insert_leased_job(t->conn, 2);
    svc *s = fx_svc("schedule:\n  interval: 1s\n  jitter: 0s\n", "", REAL_STEPS);
    svc_start(s, NULL);
    json_t *first = wait_for(s, "/v1/reconciliation/status", 200, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(first, "trigger")), "startup");
    /* The lease was live at startup: left alone. */
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(first, "results"),
                                                    "jobsRequeued")), 0);
    json_decref(first);
    sleep_ms(3600);
    svc_term(s);

    json_t *runs = history_of(s);
    size_t i, scheduled = 0;
    json_t *run;
    int64_t prev = 0;
    /* Newest first: walk from the oldest. */
    for (i = json_array_size(runs); i-- > 0;) {
        run = json_array_get(runs, i);
        const char *trig = json_string_value(json_object_get(run, "trigger"));
        /* The newest run may be the one svc_term cut short (with a worker per step a
         * run is long enough to be caught): a step of it then says so. */
        if (!(i == 0 && cut_by_stop(run)))
            cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "success");
        if (strcmp(trig, "scheduled") == 0) {
            int64_t at = iso_ms(json_string_value(json_object_get(run, "startedAt")));
            if (scheduled++)
                cr_assert(at - prev > 700 && at - prev < 1400, "runs %lld ms apart",
                          (long long)(at - prev));
            prev = at;
        } else {
            cr_assert_str_eq(trig, "startup");
            cr_assert_eq(i, json_array_size(runs) - 1, "the startup run comes first");
        }
    }
    cr_assert(scheduled >= 2 && scheduled <= 4, "%zu scheduled runs in 3.6 s at 1 s", scheduled);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_job_logs "
                          "WHERE category = 'startup_reconciliation'"), 1);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_job_logs "
                          "WHERE category = 'scheduled_reconciliation'"), (int64_t)scheduled);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry' "
                          "AND locked_until IS NULL"), 1, "the expired lease's job was requeued");
    json_decref(runs);
}

/* Every endpoint's code and body, and live figures that follow the rows at once. */
DB_TEST(service, endpoints, .timeout = 40, SVC_FIXTURE)
{
    int st;
    th_db *t = fx_db(kind);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", "", REAL_STEPS);
    svc_start(s, NULL);
    json_t *j = wait_for(s, "/healthz", 200, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);

    /* Before the first run. */
    j = get_json(s, "/v1/reconciliation/status", &st);
    cr_assert_eq(st, 503);
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "error")), "no reconciliation"));
    json_decref(j);
    j = get_json(s, "/readyz", &st);
    cr_assert_eq(st, 503);
    json_decref(j);

    /* A manual dry run does not make it ready; a real one does. */
    int64_t dry = post_run(s, "?dryRun=true", 202);
    j = wait_run(s, dry, 10000);
    cr_assert(json_is_true(json_object_get(j, "dryRun")));
    json_decref(j);
    j = get_json(s, "/readyz", &st);
    cr_assert_eq(st, 503);
    json_decref(j);
    int64_t id = post_run(s, "", 202);
    cr_assert_gt(id, dry);
    j = wait_run(s, id, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(j, "trigger")), "manual");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "success");
    json_decref(j);
    j = wait_for(s, "/readyz", 200, 5000);
    json_decref(j);
    j = wait_for(s, "/v1/reconciliation/status", 200, 5000);
    cr_assert_eq(json_integer_value(json_object_get(j, "runId")), id);
    cr_assert(json_is_integer(json_object_get(j, "uptime")));
    cr_assert(json_is_object(json_object_get(j, "results")));
    json_decref(j);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_job_logs "
                          "WHERE category = 'manual_reconciliation'"), 1);

    /* History, newest first, limited. */
    j = get_json(s, "/v1/reconciliation/history?limit=1", &st);
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "runs")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "runs"), 0),
                                                    "runId")), id);
    json_decref(j);
    j = get_json(s, "/v1/reconciliation/history", &st);
    cr_assert_eq(json_array_size(json_object_get(j, "runs")), 2);
    json_decref(j);
    static const struct { const char *path; int status; } bad[] = {
        { "/v1/reconciliation/history?limit=0", 400 },
        { "/v1/reconciliation/history?limit=1001", 400 },
        { "/v1/reconciliation/history?limit=x", 400 },
        { "/v1/reconciliation/runs/999999", 404 },
        { "/v1/reconciliation/runs/abc", 400 },
        { "/v1/nothing", 404 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = get_json(s, bad[i].path, &st);
        cr_assert_eq(st, bad[i].status, "%s: %d", bad[i].path, st);
        cr_assert(json_is_string(json_object_get(j, "error")), "%s", bad[i].path);
        json_decref(j);
    }
    j = get_json(s, "/v1/reconciliation/history?limit=1000", &st);
    cr_assert_eq(st, 200);
    json_decref(j);
    post_run(s, "?dryRun=maybe", 400);
    th_response r;
    cr_assert_eq(th_http(s->port, "DELETE", "/metrics", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    th_response_free(&r);
    cr_assert_eq(th_http(s->port, "GET", "/v1/reconciliation/run", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    th_response_free(&r);

    /* The queue, live (?fresh=1: a refresh after the rows changed). */
    j = get_fresh(s, "/v1/processing/queue", 10000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "byStatus"), "pending")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "oldestPendingAgeSeconds")), 0);
    json_decref(j);
    cr_assert_eq(db_exec(t->conn, "INSERT INTO processing_jobs (job_type, status, created_at) "
                         "VALUES ('t', 'pending', '2020-01-01 00:00:00')", NULL, 0, NULL), 0);
    insert_leased_job(t->conn, 600);
    insert_leased_job(t->conn, -600);
    j = get_fresh(s, "/v1/processing/queue", 10000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "byStatus"), "pending")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "byStatus"), "processing")),
                 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "total")), 3);
    cr_assert_eq(json_integer_value(json_object_get(j, "leased")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "expiredLeases")), 1);
    cr_assert_gt(json_integer_value(json_object_get(j, "oldestPendingAgeSeconds")), 86400 * 300);
    json_decref(j);

    /* The dashboard, live. */
    j = get_fresh(s, "/api/admin/dashboard", 10000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "orders"), "total")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(j, "jobs"),
                                                                    "byStatus"), "processing")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "lastRun"), "runId")), id);
    json_decref(j);
    cr_assert_eq(db_exec(t->conn, "INSERT INTO orders (order_number, processing_status, "
                         "total_amount) VALUES ('A1', 'completed', 12.34), "
                         "('A2', 'pending', 5.00)", NULL, 0, NULL), 0);
    cr_assert_eq(db_exec(t->conn, "INSERT INTO user_sessions (user_id, contact_status, "
                         "last_activity) VALUES ('u1', 'ACTIVE', '2099-01-01 00:00:00')",
                         NULL, 0, NULL), 0);
    j = get_fresh(s, "/api/admin/dashboard", 10000);
    json_t *orders = json_object_get(j, "orders");
    cr_assert_eq(json_integer_value(json_object_get(orders, "total")), 2);
    cr_assert_eq(json_integer_value(json_object_get(orders, "pending")), 1);
    cr_assert_float_eq(json_number_value(json_object_get(orders, "revenue")), 12.34, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "followUps"),
                                                    "candidates")), 1);
    json_decref(j);

    /* Prometheus text. */
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    char *ct = th_header(&r, "Content-Type");
    cr_assert_not_null(strstr(ct, "text/plain; version=0.0.4"), "%s", ct);
    free(ct);
    static const char *const want[] = {
        "reconciler_runs_total{job=\"reconcile\",status=\"success\",dry_run=\"false\"} 1\n",
        "reconciler_runs_total{job=\"reconcile\",status=\"success\",dry_run=\"true\"} 1\n",
        "reconciler_runs_total{job=\"reconcile\",status=\"skipped\",dry_run=\"false\"} 0\n",
        "# TYPE reconciler_run_duration_seconds histogram\n",
        "reconciler_run_duration_seconds_bucket{job=\"reconcile\",le=\"+Inf\"} 2\n",
        "reconciler_run_duration_seconds_count{job=\"reconcile\"} 2\n",
        "reconciler_last_success_timestamp_seconds{job=\"reconcile\"} 1",
        "reconciler_step_duration_seconds{job=\"reconcile\",step=\"leases\"} ",
        "reconciler_result{step=\"leases\",key=\"leasesRepaired\"} 0\n",
        "reconciler_result{step=\"metrics\",key=\"database.ok\"} 1\n",
        "reconciler_lock_held 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_not_null(strstr(r.body, want[i]), "missing %s in:\n%s", want[i], r.body);
    th_response_free(&r);

    svc_term(s);
}

#define SLOW_STEP "  - plugin: fixture\n    options:\n      pause: %s\n"

static void slow_steps(char *out, size_t n, const char *pause)
{
    snprintf(out, n, SLOW_STEP, pause);
}

/* A second manual run while one is going: 409 naming the first. */
Test(service, manual_run_conflict, .timeout = 30, SVC_FIXTURE)
{
    char steps[256];
    fx_db(DB_SQLITE);
    slow_steps(steps, sizeof steps, "1500ms");
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", "", steps);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    int64_t id = post_run(s, "", 202);
    th_response r;
    cr_assert_eq(th_http(s->port, "POST", "/v1/reconciliation/run", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 409, "%d %s", r.status, r.body);
    json_t *j = parse(&r);
    cr_assert_eq(json_integer_value(json_object_get(j, "runId")), id);
    json_decref(j);
    th_response_free(&r);
    json_decref(wait_run(s, id, 10000));
    /* Once it is over (the status shows it: history has it a moment sooner,
     * before the lock is released), another may start. */
    int64_t end = mono_ms() + 5000;
    for (;;) {
        int st;
        j = get_json(s, "/v1/reconciliation/status", &st);
        int64_t shown = st == 200 ? json_integer_value(json_object_get(j, "runId")) : 0;
        json_decref(j);
        if (shown == id)
            break;
        cr_assert_lt(mono_ms(), end, "the status never showed run %lld", (long long)id);
        sleep_ms(20);
    }
    cr_assert_gt(post_run(s, "", 202), id);
    svc_term(s);
}

/* With http.token_env set, everything but the health checks needs the bearer token. */
Test(service, token_required, .timeout = 30, SVC_FIXTURE)
{
    th_response r;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n",
              "  token_env: RT_API_TOKEN\n", REAL_STEPS);
    const char *const env[] = { "RT_API_TOKEN=tok-3f9a71c2", NULL };
    svc_start(s, env);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    json_decref(wait_for(s, "/readyz", 503, 1000));
    static const struct { const char *hdr; int status; } cases[] = {
        { NULL, 401 },
        { "Authorization: Bearer tok-3f9a71c3\r\n", 401 },
        { "Authorization: Bearer tok-3f9a71c\r\n", 401 },
        { "Authorization: Basic tok-3f9a71c2\r\n", 401 },
        { "Authorization: Bearer tok-3f9a71c2\r\n", 503 }, /* in: no run yet */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(th_http(s->port, "GET", "/v1/reconciliation/status", cases[i].hdr, NULL, &r), 0);
        cr_assert_eq(r.status, cases[i].status, "case %zu: %d", i, r.status);
        th_response_free(&r);
    }
    cr_assert_eq(th_http(s->port, "POST", "/v1/reconciliation/run", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 401);
    th_response_free(&r);
    cr_assert_eq(th_http(s->port, "GET", "/metrics", "Authorization: Bearer tok-3f9a71c2\r\n",
                         NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    th_response_free(&r);
    svc_term(s);
    char *log = th_read(s->errlog);
    cr_assert_null(strstr(log, "tok-3f9a71c2"), "the token is logged:\n%s", log);
    free(log);
}

/*
 * SIGTERM in the middle of a run: the step stops at its next chunk, the run
 * is recorded as interrupted, the lock is released, exit 0 within 5 s.
 */
DB_TEST(service, sigterm_mid_run, .timeout = 30, SVC_FIXTURE)
{
    char steps[256], err[512];
    th_db *t = fx_db(kind);
    slow_steps(steps, sizeof steps, "60s");
    svc *s = fx_svc("schedule:\n  interval: 1h\nlog:\n  level: debug\n", "", steps);
    svc_start(s, NULL);
    /* The startup run is going once the lock is taken. */
    lock_info li;
    int64_t end = mono_ms() + 10000;
    while (lock_peek(t->conn, LOCK_NAME, &li, err, sizeof err) != 1) {
        cr_assert_lt(mono_ms(), end, "the startup run never took the lock: %s", th_read(s->errlog));
        sleep_ms(50);
    }
    /* ... and its step has begun (the supervisor says so at debug level). */
    th_wait_log(s->errlog, "step fixture (fixture): start", 1, 5000);
    int64_t t0 = mono_ms();
    kill(s->pid, SIGTERM);
    cr_assert_eq(svc_wait_exit(s, 5000), 0, "no exit 0 within 5 s");
    cr_assert_lt(mono_ms() - t0, 5000);
    cr_assert_eq(lock_peek(t->conn, LOCK_NAME, &li, err, sizeof err), 0,
                 "the lock is still held by %s", li.holder);
    json_t *runs = history_of(s);
    cr_assert_eq(json_array_size(runs), 1);
    history *h;
    cr_assert_eq(history_open(s->hist, 10, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0);
    json_t *r = NULL;
    history_get(h, json_integer_value(json_object_get(json_array_get(runs, 0), "runId")), &r);
    cr_assert_not_null(r, "the interrupted run has no recorded result");
    cr_assert(json_is_true(json_object_get(r, "interrupted")));
    cr_assert_str_neq(json_string_value(json_object_get(r, "status")), "success");
    json_decref(r);
    history_close(h);
    json_decref(runs);
}

/* SIGHUP re-reads the file; a broken file is reported and the running pipeline kept. */
Test(service, sighup_reload, .timeout = 30, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    const char *schedule = "schedule:\n  on_startup: false\n  interval: 1h\n";
    svc *s = fx_svc(schedule, "", "  - plugin: fixture\n    options:\n      value: 1\n");
    char *good = th_read(s->yaml);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    th_write(s->yaml, "steps: [\n");
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "keeping the running pipeline", 1, 5000);
    cr_assert_eq(svc_wait_exit(s, 0), -1, "a bad file stopped the service");
    int64_t id = post_run(s, "", 202);
    json_t *j = wait_run(s, id, 10000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(j, "results"), "fixture"), "value")), 1,
                 "%s", json_dumps(j, 0));
    json_decref(j);
    cr_assert_eq(th_file_contains(s->errlog, "keeping the running pipeline"), 1);

    char *p = strstr(good, "value: 1");
    cr_assert_not_null(p);
    p[7] = '2';
    th_write(s->yaml, good);
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "1 step in force", 1, 5000);
    id = post_run(s, "", 202);
    j = wait_run(s, id, 10000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(j, "results"), "fixture"), "value")), 2);
    json_decref(j);
    svc_term(s);
    free(good);
}

/* Readiness reaches the notify socket after the startup run. */
Test(service, notifies_systemd, .timeout = 30, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  interval: 1h\n", "", REAL_STEPS);
    char *sock = th_path(th_tmpdir(), "notify.sock");
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    cr_assert_lt(strlen(abs) + 13, sizeof sa.sun_path, "the temp folder's path is too long");
    memcpy(sa.sun_path, abs, strlen(abs));
    memcpy(sa.sun_path + strlen(abs), "/notify.sock", 13);
    unlink(sa.sun_path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
    char *env0 = NULL;
    cr_assert_neq(asprintf(&env0, "NOTIFY_SOCKET=%s", sa.sun_path), -1);
    const char *const env[] = { env0, NULL };
    svc_start(s, env);
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256] = "";
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    cr_assert_gt(n, 0, "no notification");
    buf[n] = '\0';
    cr_assert_not_null(strstr(buf, "READY=1"), "%s", buf);
    /* Ready means the startup run is over. */
    int st;
    json_decref(get_json(s, "/v1/reconciliation/status", &st));
    cr_assert_eq(st, 200);
    svc_term(s);
    close(fd);
    free(env0);
    free(sock);
}

/* The database is not there at start: the service stays up and retries until it is. */
Test(service, waits_for_the_database, .timeout = 40)
{
    th_db t;
    svc s;
    char abs[PATH_MAX], *later = NULL;
    migrated(DB_SQLITE, &t);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    cr_assert_neq(asprintf(&later, "%s/later", abs), -1);
    th_db fake = t;
    cr_assert_neq(asprintf(&fake.url, "sqlite:%s/bot.db", later), -1);
    svc_setup(&s, &fake, 1, "schedule:\n  interval: 1h\n", "", REAL_STEPS);
    svc_start(&s, NULL);
    json_decref(wait_for(&s, "/healthz", 200, 10000));
    json_decref(wait_for(&s, "/readyz", 503, 1000));
    /* It tries, fails and tries again: two retries said, and still running. */
    th_wait_log(s.errlog, "retrying in", 2, 10000);
    cr_assert_eq(svc_wait_exit(&s, 0), -1, "it gave up");
    /* Now the database appears (a copy of the migrated one). */
    char *cmd = NULL;
    cr_assert_neq(asprintf(&cmd, "mkdir -p '%s' && cp '%s' '%s/bot.db'", later, t.url + 7, later),
                  -1);
    cr_assert_eq(system(cmd), 0);
    json_t *j = wait_for(&s, "/v1/reconciliation/status", 200, 15000);
    cr_assert_str_eq(json_string_value(json_object_get(j, "trigger")), "startup");
    json_decref(j);
    json_decref(wait_for(&s, "/readyz", 200, 5000));
    /* Ready only while the database answers. */
    free(cmd);
    cr_assert_neq(asprintf(&cmd, "mv '%s' '%s.gone'", later, later), -1);
    cr_assert_eq(system(cmd), 0);
    j = wait_for(&s, "/readyz", 503, 5000);
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "error")), "does not answer"));
    json_decref(j);
    svc_term(&s);
    free(cmd);
    free(fake.url);
    free(later);
    svc_free(&s);
    th_db_destroy(&t);
}

/* run --once waits for another holder up to schedule.lock_wait, then exits 4 naming it. */
DB_TEST(service, once_waits_for_the_lock, .timeout = 30, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL, why[512];
    th_db *t = fx_db(kind);
    svc *s = fx_svc("schedule:\n  lock_wait: 1s\n", "", REAL_STEPS);
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "otherhost:42:cafe0001", 3600000, NULL, why,
                          sizeof why), 1, "%s", why);
    int64_t t0 = mono_ms();
    int rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 4, "exit %d: %s", rc, err);
    cr_assert_geq(mono_ms() - t0, 1000, "it did not wait");
    cr_assert_not_null(strstr(err, "otherhost:42:cafe0001"), "%s", err);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_job_logs"), 0);
    free(out);
    free(err);
    /* A holder that lets go within the wait: the run goes ahead. */
    cr_assert_eq(lock_release(t->conn, LOCK_NAME, "otherhost:42:cafe0001", 0, why, sizeof why), 1);
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "otherhost:42:cafe0001", 3000, NULL, why,
                          sizeof why), 1, "%s", why);
    char *text = th_read(s->yaml);
    char *lw = strstr(text, "lock_wait: 1s");
    cr_assert_not_null(lw);
    lw[11] = '9';
    th_write(s->yaml, text);
    free(text);
    rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_job_logs"), 1);
    free(out);
    free(err);
}

/*
 * Three instances on one MariaDB database, 1 s interval, about 10 s: no two
 * runs overlap (from each run's recorded start and duration) and about one
 * run happens per interval in all, not three.
 */
Test(service, three_instances_one_database, .timeout = 60)
{
    th_db t;
    svc s[3];
    char err[512];
    migrated(DB_MYSQL, &t);
    const char *steps = "  - plugin: leases\n  - plugin: fixture\n    options:\n      pause: 150ms\n"
                        "  - plugin: metrics\n";
    for (int i = 0; i < 3; i++)
        svc_setup(&s[i], &t, i + 1, "schedule:\n  interval: 1s\n  jitter: 100ms\n", "", steps);
    for (int i = 0; i < 3; i++)
        svc_start(&s[i], NULL);
    int64_t t0 = mono_ms();
    sleep_ms(10000);
    for (int i = 0; i < 3; i++)
        kill(s[i].pid, SIGTERM);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(svc_wait_exit(&s[i], 5000), 0, "instance %d", i + 1);
    int64_t elapsed = mono_ms() - t0;

    int64_t start[400], end[400];
    size_t n = 0, scheduled = 0, skipped = 0, startup = 0;
    for (int i = 0; i < 3; i++) {
        json_t *runs = history_of(&s[i]);
        size_t k;
        json_t *run;
        json_array_foreach(runs, k, run) {
            const char *status = json_string_value(json_object_get(run, "status"));
            const char *trig = json_string_value(json_object_get(run, "trigger"));
            if (strcmp(status, "skipped") == 0) {
                skipped++;
                continue;
            }
            cr_assert_lt(n, 400);
            start[n] = iso_ms(json_string_value(json_object_get(run, "startedAt")));
            end[n] = start[n] + json_integer_value(json_object_get(run, "durationMs"));
            n++;
            if (strcmp(trig, "scheduled") == 0)
                scheduled++;
            else
                startup++;
        }
        json_decref(runs);
    }
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            cr_assert(end[a] <= start[b] || end[b] <= start[a],
                      "runs overlap: [%lld, %lld] and [%lld, %lld]", (long long)start[a],
                      (long long)end[a], (long long)start[b], (long long)end[b]);
    cr_assert_eq(startup, 3, "each instance makes its startup run, one after another");
    double per_interval = (double)scheduled / ((double)elapsed / 1000.0);
    cr_assert(per_interval > 0.6 && per_interval < 1.4,
              "%zu scheduled runs in %lld ms", scheduled, (long long)elapsed);
    cr_assert_gt(skipped, 0, "the other instances' ticks were skipped");
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM processing_job_logs "
                          "WHERE category = 'scheduled_reconciliation'"), (int64_t)scheduled);
    lock_info li;
    cr_assert_eq(lock_peek(t.conn, LOCK_NAME, &li, err, sizeof err), 0, "held by %s", li.holder);
    for (int i = 0; i < 3; i++)
        svc_free(&s[i]);
    th_db_destroy(&t);
}

static void wait_for_holder(svc *s, lock_info *li)
{
    char err[512];
    int64_t end = mono_ms() + 10000;
    while (lock_peek(s->t->conn, LOCK_NAME, li, err, sizeof err) != 1) {
        cr_assert_lt(mono_ms(), end, "the run never took the lock: %s", th_read(s->errlog));
        sleep_ms(50);
    }
}

/*
 * A run longer than the lock's lease keeps the lock: the heartbeat renews it,
 * so no other instance can take it at any moment of the run.
 */
DB_TEST(service, heartbeat_keeps_a_long_run_locked, .timeout = 40, SVC_FIXTURE)
{
    char steps[256], err[512];
    th_db *t = fx_db(kind);
    slow_steps(steps, sizeof steps, "7s");
    svc *s = fx_svc("schedule:\n  lock_ttl: 3s\n", "", steps);
    char *out = th_path(th_tmpdir(), "once.json");
    s->pid = spawn(s, NULL, out);
    lock_info li;
    wait_for_holder(s, &li);
    int tries = 0;
    while (svc_wait_exit(s, 250) == -1) {
        int rc = lock_try(t->conn, LOCK_NAME, "intruder:1:00000000", 60000, NULL, err, sizeof err);
        cr_assert_geq(rc, 0, "%s", err);
        if (rc == 1) {
            /* Only fine in the moment between the release at the run's end and
             * the exit: then the process is gone at once and its run whole. */
            cr_assert_neq(svc_wait_exit(s, 1000), -1,
                          "another instance took the lock %d tries into the run", tries);
            cr_assert_gt(tries, 20, "taken %d tries into the run", tries);
            break;
        }
        tries++;
    }
    cr_assert_gt(tries, 20, "the run ended early (%d tries)", tries);
    char *text = th_read(out);
    json_t *r = json_loads(text, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success", "%s", text);
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "intruder:1:00000000", 1000, NULL, err, sizeof err),
                 1, "released at the end (or taken by the intruder then)");
    json_decref(r);
    free(text);
    free(out);
}

/* A run whose lock is taken from it stops at its next chunk instead of overlapping. */
DB_TEST(service, lost_lock_stops_the_run, .timeout = 40, SVC_FIXTURE)
{
    char steps[256];
    th_db *t = fx_db(kind);
    slow_steps(steps, sizeof steps, "30s");
    svc *s = fx_svc("schedule:\n  lock_ttl: 3s\n", "", steps);
    char *out = th_path(th_tmpdir(), "once.json");
    s->pid = spawn(s, NULL, out);
    lock_info li;
    wait_for_holder(s, &li);
    /* Another instance "takes" it (as after a lease that ran out). */
    cr_assert_eq(db_exec(t->conn, "UPDATE reconciler_locks SET holder = 'thief:1:00000000'",
                         NULL, 0, NULL), 0);
    int rc = svc_wait_exit(s, 6000);
    cr_assert_eq(rc, 1, "exit %d; log:\n%s", rc, th_read(s->errlog));
    char *text = th_read(out);
    json_t *r = json_loads(text, 0, NULL);
    cr_assert(json_is_true(json_object_get(r, "interrupted")), "%s", text);
    cr_assert_not_null(strstr(text, "the run lock was lost to another instance"), "%s", text);
    json_decref(r);
    free(text);
    free(out);
}

/*
 * Killed at any moment (SIGKILL, no cleanup), a run leaves whole chunks:
 * every job is either repaired or untouched, never a cleared lease on a job
 * still 'processing'; the next run (once the dead holder's lease ends)
 * finishes the work.
 */
DB_TEST(service, killed_mid_run_leaves_whole_chunks, .timeout = 60, SVC_FIXTURE)
{
    th_db *t = fx_db(kind);
    /* SQLite is quick: chunks of 2 keep the run long enough to be killed in the middle. */
    const char *steps = kind == DB_MYSQL ? "  - plugin: leases\n    options: { batch_size: 10 }\n"
                                         : "  - plugin: leases\n    options: { batch_size: 2 }\n";
    th_dead_leases(t, 20000);
    /* The lease is renewed beside the chunks (on SQLite after each one's commit): under make
     * tsan a chunk of 500 takes seconds, so the lease gets the deadlines' margin (th_ms). */
    char sched[64];
    snprintf(sched, sizeof sched, "schedule:\n  lock_ttl: %ds\n", th_ms(3000) / 1000);
    svc *s = fx_svc(sched, "", steps);
    char *out = th_path(th_tmpdir(), "once.json");
    s->pid = spawn(s, NULL, out);
    /* Kill it once some chunks are in, before all are. */
    svc_kill_at(s, t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'", 500,
                20000);
    int64_t done =
        th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'");
    cr_assert_lt(done, 20000, "the run finished before the kill: make it longer");
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs "
                          "WHERE status = 'processing' AND locked_until IS NULL"), 0,
                 "a half-applied job");
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry' "
                          "AND (locked_until IS NOT NULL OR locked_by IS NOT NULL)"), 0);
    /*
     * The dead run's lease ends within lock_ttl; the next run waits for it and
     * converges. In chunks of 500: what is tested here is the kill, and 10,000
     * chunks of 2 (one commit and fsync each) took most of the minute on a busy
     * machine.
     */
    svc_set_batch_size(s, 500);
    char *o = NULL, *e = NULL;
    int rc = run_once(s, 1, &o, &e);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, e);
    json_t *r = json_loads(o, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "results"), "jobsRequeued")),
                 20000 - done, "%s", o);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'"),
                 20000);
    json_decref(r);
    free(o);
    free(e);
    free(out);
}

/*
 * A run longer than the interval: logged, and the next one starts on the grid
 * after it (the ticks it covered are skipped), never on top of it.
 */
Test(service, overrun_skips_covered_ticks, .timeout = 40, SVC_FIXTURE)
{
    char steps[256];
    fx_db(DB_SQLITE);
    slow_steps(steps, sizeof steps, "1300ms");
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1s\n  jitter: 0s\n", "",
              steps);
    svc_start(s, NULL);
    sleep_ms(6500);
    svc_term(s);
    json_t *runs = history_of(s);
    size_t n = json_array_size(runs);
    cr_assert_geq(n, 2, "%zu runs", n);
    for (size_t i = 0; i + 1 < n; i++) {
        int64_t later = iso_ms(json_string_value(json_object_get(json_array_get(runs, i),
                                                                 "startedAt")));
        int64_t earlier = iso_ms(json_string_value(json_object_get(json_array_get(runs, i + 1),
                                                                   "startedAt")));
        cr_assert(later - earlier >= 1800 && later - earlier <= 2400,
                  "runs %lld ms apart: on the 1 s grid after the 1.3 s run, 2 s", (long long)(later - earlier));
    }
    cr_assert_eq(th_file_contains(s->errlog, "longer than schedule.interval"), 1);
    cr_assert_eq(th_file_contains(s->errlog, "skipping 1 tick"), 1);
    json_decref(runs);
}

/* The service's startup run waits schedule.lock_wait for another holder, then exits 4 naming it. */
Test(service, startup_gives_up_on_a_held_lock, .timeout = 30, SVC_FIXTURE)
{
    char why[512];
    th_db *t = fx_db(DB_SQLITE);
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "otherhost:7:feed0007", 3600000, NULL, why,
                          sizeof why), 1, "%s", why);
    svc *s = fx_svc("schedule:\n  lock_wait: 1s\n", "", REAL_STEPS);
    int64_t t0 = mono_ms();
    svc_start(s, NULL);
    int rc = svc_wait_exit(s, 10000);
    cr_assert_eq(rc, 4, "exit %d:\n%s", rc, th_read(s->errlog));
    cr_assert_geq(mono_ms() - t0, 1000, "it did not wait");
    cr_assert_eq(th_file_contains(s->errlog, "otherhost:7:feed0007"), 1);
    json_t *runs = history_of(s);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(runs, 0), "status")),
                     "skipped");
    json_decref(runs);
}

/* --log-format json: every line the service logs is one JSON object. */
Test(service, json_log_lines, .timeout = 30, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  interval: 1h\n", "", REAL_STEPS);
    s->extra_arg = "--log-format=json";
    svc_start(s, NULL);
    json_decref(wait_for(s, "/v1/reconciliation/status", 200, 10000));
    svc_term(s);
    char *log = th_read(s->errlog), *save = NULL;
    int lines = 0;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "not a JSON line: %s", line);
        cr_assert(json_is_string(json_object_get(o, "ts")) &&
                  json_is_string(json_object_get(o, "level")) &&
                  json_is_string(json_object_get(o, "msg")), "%s", line);
        json_decref(o);
        lines++;
    }
    cr_assert_geq(lines, 4, "%d lines", lines);
    free(log);
}

/* 1 when /v1/reconciliation/status says the first run is going (503, "is running"). */
static int status_says_running(svc *s)
{
    th_response r;
    if (th_http(s->port, "GET", "/v1/reconciliation/status", NULL, NULL, &r) != 0)
        return 0;
    int yes = r.status == 503 && r.body && strstr(r.body, "the first one is running");
    th_response_free(&r);
    return yes;
}

/* A conflict during a startup or scheduled run names that run's id, never null. */
Test(service, conflict_during_a_startup_run_names_it, .timeout = 30, SVC_FIXTURE)
{
    char steps[256];
    fx_db(DB_SQLITE);
    slow_steps(steps, sizeof steps, "2s");
    svc *s = fx_svc("schedule:\n  interval: 1h\n", "", steps);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    /* The startup run is going: the status endpoint says so. */
    TH_WAIT(status_says_running(s), 5000, "log:\n%s", th_read(s->errlog));
    th_response r;
    cr_assert_eq(th_http(s->port, "POST", "/v1/reconciliation/run", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 409, "%d %s", r.status, r.body);
    json_t *j = parse(&r);
    json_t *id = json_object_get(j, "runId");
    cr_assert(json_is_integer(id), "runId of the running startup run: %s", r.body);
    th_response_free(&r);
    json_t *done = wait_for(s, "/v1/reconciliation/status", 200, 10000);
    cr_assert_eq(json_integer_value(json_object_get(done, "runId")), json_integer_value(id));
    cr_assert_str_eq(json_string_value(json_object_get(done, "trigger")), "startup");
    json_decref(done);
    json_decref(j);
    svc_term(s);
}

/* Every run history recorded after `after` (its list position) has status want. */
static void assert_runs_since(svc *s, size_t before, const char *want)
{
    json_t *runs = history_of(s);
    size_t n = json_array_size(runs);
    cr_assert_gt(n, before, "no run after the restart");
    for (size_t i = 0; i + before < n; i++) {
        json_t *run = json_array_get(runs, i); /* newest first */
        cr_assert_str_eq(json_string_value(json_object_get(run, "status")), want,
                         "run %lld after the restart: %s; log:\n%s",
                         (long long)json_integer_value(json_object_get(run, "runId")),
                         json_string_value(json_object_get(run, "status")), th_read(s->errlog));
    }
    json_decref(runs);
}

/* Wait until history holds more than n finished runs. */
static void wait_runs(svc *s, size_t n, int ms)
{
    int64_t end = mono_ms() + ms;
    for (;;) {
        json_t *runs = history_of(s);
        size_t have = 0;
        for (size_t i = 0; i < json_array_size(runs); i++)
            have += json_string_value(json_object_get(json_array_get(runs, i), "finishedAt")) != NULL;
        json_decref(runs);
        if (have > n)
            return;
        cr_assert_lt(mono_ms(), end, "no new run within %d ms; log:\n%s", ms, th_read(s->errlog));
        sleep_ms(100);
    }
}

/*
 * The database restarts while the service idles: the connections it keeps
 * (the run's and the run lock's) are dead. The first scheduled run after
 * the restart succeeds, and so does a manual one after a second restart.
 */
Test(service, first_run_after_a_database_restart_succeeds, .timeout = 90)
{
    th_server srv;
    th_db t = { .kind = DB_MYSQL };
    svc s;
    char err[1024];
    th_server_start(&srv, NULL);
    t.url = th_server_db(&srv, "bot");
    db_url u;
    cr_assert_eq(db_url_parse(t.url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, NULL, &t.conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    th_db_migrate(&t);
    db_close(t.conn);
    t.conn = NULL;

    svc_setup(&s, &t, 1, "schedule:\n  interval: 5s\n  jitter: 0s\n", "", REAL_STEPS);
    svc_start(&s, NULL);
    json_decref(wait_for(&s, "/v1/reconciliation/status", 200, 15000));
    th_server_restart(&srv);
    wait_runs(&s, 1, 15000); /* the scheduled run, 5 s after the start */
    assert_runs_since(&s, 1, "success");

    th_server_restart(&srv);
    int64_t id = post_run(&s, "", 202);
    json_t *r = wait_run(&s, id, 15000);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success",
                     "manual run after a restart; log:\n%s", th_read(s.errlog));
    json_decref(r);
    svc_term(&s);
    svc_free(&s);
    free(t.url);
    th_server_destroy(&srv);
}

/* "LOCPATH=..." for the comma-decimal locale `make test` builds under BUILD/locale. */
static char *locpath_env(void)
{
    char *dir = abs_build("locale"), *env = NULL, *probe = NULL;
    cr_assert_neq(asprintf(&probe, "%s/de_DE.UTF-8/LC_NUMERIC", dir), -1);
    cr_assert_eq(access(probe, R_OK), 0, "%s is missing: run the tests through make test", probe);
    cr_assert_neq(asprintf(&env, "LOCPATH=%s", dir), -1);
    free(dir);
    free(probe);
    return env;
}

static double result_number(json_t *r, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(json_object_get(r, "results"), a), b);
    cr_assert(json_is_number(v), "results.%s.%s", a, b);
    return json_number_value(v);
}

/*
 * A plugin that calls setlocale(LC_ALL, "") under a comma-decimal locale must
 * change no number: DECIMAL columns read from MySQL, the result JSON and the
 * Prometheus text keep '.', and a reload still parses "0.75".
 */
Test(service, numbers_ignore_the_locale, .timeout = 40, SVC_FIXTURE)
{
    th_db *t = fx_db(DB_MYSQL);
    cr_assert_eq(db_exec(t->conn, "INSERT INTO orders (order_number, processing_status, "
                         "total_amount) VALUES ('o1', 'completed', 12.34)", NULL, 0, NULL), 0,
                 "%s", db_errmsg(t->conn));
    svc *s = fx_svc("schedule:\n  interval: 1h\n", "",
              "  - plugin: fixture\n    options: { set_locale: true, ratio: 0.25 }\n"
              "  - plugin: fixture\n    name: sums\n    options: { sum_amounts: true }\n"
              "  - plugin: metrics\n");
    char *loc = locpath_env();
    const char *env[] = { "LC_ALL=de_DE.UTF-8", loc, NULL };
    svc_start(s, env);
    json_t *st = wait_for(s, "/v1/reconciliation/status", 200, 15000);
    cr_assert_str_eq(json_string_value(json_object_get(st, "status")), "success");
    json_t *first = json_array_get(json_object_get(st, "steps"), 0);
    cr_assert_float_eq(result_number(first, "fixture", "ratio"), 0.25, 1e-12);
    cr_assert_float_eq(result_number(st, "orders", "revenue"), 12.34, 1e-9);
    /* The second fixture step runs after the first one's setlocale. */
    json_t *sums = json_array_get(json_object_get(st, "steps"), 1);
    json_t *amounts = json_object_get(json_object_get(json_object_get(sums, "results"),
                                                      "fixture"), "amounts");
    cr_assert_float_eq(json_number_value(amounts), 12.34, 1e-9, "DECIMAL 12.34 read as %f",
                       json_number_value(amounts));
    json_decref(st);

    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert(strstr(r.body, "{step=\"fixture\",key=\"fixture.ratio\"} 0.25\n"), "%s", r.body);
    cr_assert(strstr(r.body, "key=\"orders.revenue\"} 12.34\n"), "%s", r.body);
    cr_assert_null(strstr(r.body, "0,25"), "%s", r.body);
    th_response_free(&r);

    /* A reload after the plugin's setlocale still reads "0.75" as a number. */
    char *text = th_read(s->yaml), *at = strstr(text, "ratio: 0.25");
    cr_assert_not_null(at);
    memcpy(at, "ratio: 0.75", 11);
    th_write(s->yaml, text);
    free(text);
    kill(s->pid, SIGHUP);
    int64_t end = mono_ms() + 5000;
    while (th_file_contains(s->errlog, "steps in force") != 1) {
        cr_assert_eq(th_file_contains(s->errlog, "keeping the running pipeline"), 0,
                     "the reload was refused:\n%s", th_read(s->errlog));
        cr_assert_lt(mono_ms(), end, "no reload within 5 s:\n%s", th_read(s->errlog));
        sleep_ms(50);
    }
    json_t *run = wait_run(s, post_run(s, "", 202), 10000);
    first = json_array_get(json_object_get(run, "steps"), 0);
    cr_assert_float_eq(result_number(first, "fixture", "ratio"), 0.75, 1e-12);
    json_decref(run);
    svc_term(s);

    /* run --once --json under the same locale. */
    char *out = NULL;
    char *pw = password_env(s);
    const char *env2[] = { "LC_ALL=de_DE.UTF-8", loc, pw, NULL };
    const char *args[] = { "run", "--once", "--json", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(args, env2, &out, NULL), 0);
    cr_assert(strstr(out, "\"ratio\": 0.75"), "%s", out);
    cr_assert(strstr(out, "\"amounts\": 12.34"), "%s", out);
    cr_assert(strstr(out, "\"revenue\": 12.34"), "%s", out);
    free(out);
    free(pw);
    free(loc);
}

/*
 * Concurrency: no thread of the service waits on another's I/O. Each test
 * below makes one party slow or stuck (a dashboard blocked in the database,
 * a frozen server, a history file another process has write-locked, a run
 * lock row nobody can update) and measures, on the monotonic clock, that
 * what must not wait for it does not.
 */

/* What a test asserts about every request that must not wait: 1 s. */
#define PROMPT_MS 1000

/* The slowest of the requests a test timed, for its report line. */
typedef struct slowest {
    int64_t ms;
    char what[96];
} slowest;

/*
 * One request, timed: it must be answered within PROMPT_MS. r gets the
 * response (the caller frees it); the slowest so far goes to *worst.
 */
static void prompt(svc *s, const char *method, const char *path, th_response *r, slowest *worst)
{
    memset(r, 0, sizeof *r);
    int64_t t0 = mono_ms();
    int rc = th_http(s->port, method, path, NULL, NULL, r);
    int64_t ms = mono_ms() - t0;
    cr_assert_eq(rc, 0, "%s %s: no answer (after %lld ms)", method, path, (long long)ms);
    cr_assert_lt(ms, PROMPT_MS, "%s %s took %lld ms (status %d)", method, path, (long long)ms,
                 r->status);
    if (worst && ms >= worst->ms) {
        worst->ms = ms;
        snprintf(worst->what, sizeof worst->what, "%s %s -> %d", method, path, r->status);
    }
}

/* Another session on t's database: for the table locks a test takes. */
static db *session(const th_db *t)
{
    db_url u;
    db *d = NULL;
    char err[1024];
    cr_assert_eq(db_url_parse(t->url, NULL, &u, err, sizeof err), 0, "%s", err);
    db_options o = { .password = t->password };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    return d;
}

static void exec_ok(db *d, const char *sql)
{
    cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s: %s", sql, db_errmsg(d));
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Replace the first `from` in s's pipeline file by `to` (same length or not). */
static void edit_pipeline(svc *s, const char *from, const char *to)
{
    char *text = th_read(s->yaml), *out = NULL;
    char *at = strstr(text, from);
    cr_assert_not_null(at, "no %s in %s", from, text);
    *at = '\0';
    cr_assert_neq(asprintf(&out, "%s%s%s", text, to, at + strlen(from)), -1);
    th_write(s->yaml, out);
    free(out);
    free(text);
}

/* A number (or flag) of /v1/service/state's figures object. */
static int64_t figures_field(svc *s, const char *key)
{
    int st;
    json_t *j = get_json(s, "/v1/service/state", &st);
    cr_assert_eq(st, 200);
    json_t *v = json_object_get(json_object_get(j, "figures"), key);
    int64_t n = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
    json_decref(j);
    return n;
}

/* 1 when fd has something to read (an answer, or the end) within ms. */
static int answered_within(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) > 0;
}

/* Read the whole answer to th_send_get (the server closes after it) within ms: its status. */
static int read_answer(int fd, int ms)
{
    char buf[65536];
    size_t have = 0;
    int64_t end = mono_ms() + ms;
    for (;;) {
        int64_t left = end - mono_ms();
        cr_assert_gt(left, 0, "no whole answer within %d ms: %.*s", ms, (int)have, buf);
        cr_assert(answered_within(fd, (int)left), "no whole answer within %d ms", ms);
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        have += (size_t)n;
        cr_assert_lt(have, sizeof buf - 1, "answer too long");
    }
    buf[have] = '\0';
    int status = 0;
    cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &status), 1, "not HTTP: %s", buf);
    return status;
}

/* The scheduled runs in s's history that started at or after wall time since, oldest first. */
static size_t scheduled_since(svc *s, int64_t since, int64_t *starts, size_t max)
{
    json_t *runs = history_of(s);
    size_t n = 0;
    for (size_t i = json_array_size(runs); i-- > 0;) {
        json_t *run = json_array_get(runs, i);
        if (strcmp(json_string_value(json_object_get(run, "trigger")), "scheduled") != 0)
            continue;
        int64_t at = iso_ms(json_string_value(json_object_get(run, "startedAt")));
        if (at >= since && n < max)
            starts[n++] = at;
    }
    json_decref(runs);
    return n;
}

/*
 * The dashboard blocked in the database (another session write-locks
 * user_sessions, which its followups probe reads) holds up neither a reload
 * nor the schedule: SIGHUP is in force within 1 s, scheduled runs keep their
 * 2 s grid, and the dashboard answers once the table is free.
 */
Test(service, busy_dashboard_holds_up_nothing, .timeout = 40, SVC_FIXTURE)
{
    th_db *t = fx_db(DB_MYSQL);
    /* The pipeline's own step never touches user_sessions. */
    /* ?fresh=1 with a long wait: the request waits for the refresh that hangs. */
    svc *s = fx_svc("schedule:\n  interval: 2s\n  jitter: 0s\n", "  figures_wait: 60s\n",
              "  - plugin: fixture\n    options:\n      value: 1\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/v1/reconciliation/status", 200, 15000));

    /*
     * Right after a refresh ends no other starts for 19 times its duration
     * (the figures' budget): lock and ask then, so that the refresh that
     * hangs is the one the request waits for, and not one already under
     * way (after which the request would wait for the next, well past the
     * budget of a refresh that hung).
     */
    int64_t r0 = figures_field(s, "refreshes"), until_refresh = mono_ms() + 15000;
    while (figures_field(s, "refreshes") <= r0 || figures_field(s, "refreshing")) {
        cr_assert_lt(mono_ms(), until_refresh, "no refresh ended within 15 s");
        sleep_ms(5);
    }
    db *locker = session(t);
    exec_ok(locker, "LOCK TABLES user_sessions WRITE");
    int64_t hang_wall = wall_ms();
    int fd = th_send_get(s->port, "/api/admin/dashboard?fresh=1");
    /* Blocked in the database: its query waits for the table lock. */
    static const char waiting[] = "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                  "WHERE DB = DATABASE() AND STATE LIKE 'Waiting for table%'";
    int64_t end = mono_ms() + 10000;
    while (th_count(t->conn, waiting) < 1) {
        cr_assert_lt(mono_ms(), end, "the dashboard's query never waited for the table lock");
        cr_assert_not(answered_within(fd, 0), "the dashboard answered through the table lock");
        sleep_ms(20);
    }

    /* A reload, in force within 1 s. */
    edit_pipeline(s, "value: 1", "value: 2");
    cr_assert_eq(th_file_contains(s->errlog, "step in force"), 0);
    int64_t t0 = mono_ms();
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "1 step in force", 1, 5000);
    int64_t reload_ms = mono_ms() - t0, reload_wall = wall_ms();
    cr_assert_lt(reload_ms, PROMPT_MS, "the reload took %lld ms while the dashboard hung",
                 (long long)reload_ms);
    cr_assert_eq(th_file_contains(s->errlog, "keeping the running pipeline"), 0);

    /* Scheduled runs on their 2 s grid, while the dashboard still hangs. */
    int64_t starts[16];
    size_t n;
    end = mono_ms() + 10000;
    while ((n = scheduled_since(s, hang_wall, starts, 16)) < 3) {
        cr_assert_lt(mono_ms(), end, "%zu scheduled runs in 10 s at a 2 s interval; log:\n%s", n,
                     th_read(s->errlog));
        sleep_ms(100);
    }
    cr_assert_lt(starts[0] - hang_wall, 2600, "the first scheduled run came %lld ms after the "
                 "dashboard began to hang", (long long)(starts[0] - hang_wall));
    int64_t widest = 0;
    for (size_t i = 1; i < n; i++) {
        int64_t gap = starts[i] - starts[i - 1];
        cr_assert(gap >= 1700 && gap <= 2500, "scheduled runs %lld ms apart (interval 2 s)",
                  (long long)gap);
        if (gap > widest)
            widest = gap;
    }
    cr_assert_not(answered_within(fd, 0), "the dashboard answered through the table lock");
    cr_assert_geq(th_count(t->conn, waiting), 1, "the dashboard no longer waits in the database");
    /* The runs since the reload use the new pipeline: the last to finish may have started
     * before it (make tsan: slower runs), so wait for one that started after it. */
    int st;
    json_t *last;
    int64_t until = mono_ms() + th_ms(10000);
    for (;;) {
        last = get_json(s, "/v1/reconciliation/status", &st);
        const char *at = json_string_value(json_object_get(last, "timestamp")); /* its start */
        if (st == 200 && at && iso_ms(at) >= reload_wall)
            break;
        cr_assert_lt(mono_ms(), until, "no run that started after the reload finished: %s",
                     json_dumps(last, 0));
        json_decref(last);
        sleep_ms(100);
    }
    cr_assert_eq(result_number(json_array_get(json_object_get(last, "steps"), 0), "fixture",
                               "value"), 2, "the reloaded pipeline is not in force");
    json_decref(last);

    /* Free the table: the dashboard answers. */
    exec_ok(locker, "UNLOCK TABLES");
    cr_assert_eq(read_answer(fd, 5000), 200);
    close(fd);
    cr_log_info("busy_dashboard_holds_up_nothing: reload in force after %lld ms; %zu scheduled "
                "runs while the dashboard hung, at most %lld ms apart", (long long)reload_ms, n,
                (long long)widest);
    svc_term(s);
    db_close(locker);
}

/*
 * The database stops answering (SIGSTOP) in the middle of a run that holds
 * the lock: every endpoint that does not query it answers within 1 s,
 * /readyz turns 503 ("does not answer") within about 2 s, a POST names the
 * running run, and after SIGCONT the service recovers and stops on SIGTERM.
 */
Test(service, frozen_database_every_endpoint_answers, .timeout = 60, SVC_FIXTURE)
{
    svc s;
    th_server *srv;
    th_db *t = fx_db_private(&srv, 0);
    svc_setup(&s, t, 1, "schedule:\n  interval: 1h\n  lock_ttl: 6s\nlog:\n  level: debug\n", "",
              "  - plugin: fixture\n    options:\n      pause: 0s\n");
    svc_start(&s, NULL);
    json_decref(wait_for(&s, "/readyz", 200, 15000));
    int st;
    json_t *j = get_json(&s, "/v1/reconciliation/status", &st);
    int64_t startup_id = json_integer_value(json_object_get(j, "runId"));
    json_decref(j);

    /* The next run lasts 8 s, with a heartbeat every 2 s on its own connection. */
    edit_pipeline(&s, "pause: 0s", "pause: 8s");
    kill(s.pid, SIGHUP);
    th_wait_log(s.errlog, "1 step in force", 1, 5000);
    int64_t id = post_run(&s, "", 202);
    int64_t end = mono_ms() + 10000;
    for (;;) {
        th_response r;
        cr_assert_eq(th_http(s.port, "GET", "/metrics", NULL, NULL, &r), 0);
        int held = strstr(r.body, "\nreconciler_lock_held 1\n") != NULL;
        th_response_free(&r);
        if (held)
            break;
        cr_assert_lt(mono_ms(), end, "the run never took the lock:\n%s", th_read(s.errlog));
        sleep_ms(20);
    }
    /* Its step has begun (the startup run's was the first). */
    th_wait_log(s.errlog, "step fixture (fixture): start", 2, 5000);

    cr_assert_eq(kill(srv->pid, SIGSTOP), 0);
    int64_t stopped = mono_ms(), unready_after = -1;
    slowest worst = { 0, "" };
    size_t rounds = 0;
    /* Past the lease's deadline (take + 6 s - 1 s), whatever the run does then. */
    while (mono_ms() - stopped < 5600 || unready_after < 0) {
        th_response r;
        prompt(&s, "GET", "/healthz", &r, &worst);
        cr_assert_eq(r.status, 200);
        th_response_free(&r);

        prompt(&s, "GET", "/metrics", &r, &worst);
        cr_assert_eq(r.status, 200);
        cr_assert_not_null(strstr(r.body, "reconciler_lock_held "));
        th_response_free(&r);

        prompt(&s, "GET", "/v1/reconciliation/status", &r, &worst);
        cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
        j = parse(&r);
        cr_assert_eq(json_integer_value(json_object_get(j, "runId")), startup_id);
        json_decref(j);
        th_response_free(&r);

        prompt(&s, "GET", "/readyz", &r, &worst);
        if (r.status == 503) {
            j = parse(&r);
            const char *why = json_string_value(json_object_get(j, "error"));
            cr_assert(why && strstr(why, "does not answer"), "/readyz 503: %s", r.body);
            json_decref(j);
            if (unready_after < 0)
                unready_after = mono_ms() - stopped;
        } else {
            cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
            cr_assert_lt(unready_after, 0, "/readyz was ready again while the database was "
                         "still stopped");
            cr_assert_lt(mono_ms() - stopped, 2500, "/readyz still 200 %lld ms after the "
                         "database stopped", (long long)(mono_ms() - stopped));
        }
        th_response_free(&r);

        prompt(&s, "GET", "/v1/reconciliation/history", &r, &worst);
        cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
        th_response_free(&r);

        prompt(&s, "POST", "/v1/reconciliation/run", &r, &worst);
        cr_assert_eq(r.status, 409, "%d %s", r.status, r.body);
        j = parse(&r);
        cr_assert_eq(json_integer_value(json_object_get(j, "runId")), id, "%s", r.body);
        json_decref(j);
        th_response_free(&r);
        rounds++;
        sleep_ms(50);
    }
    int64_t frozen_for = mono_ms() - stopped;
    /* SIGTERM comes after SIGCONT: the run's own connection (its
     * processing_job_logs row, after the deadline stopped it) waits out
     * database.read_timeout on a stopped server, and so would the exit. */
    cr_assert_eq(kill(srv->pid, SIGCONT), 0);

    /* It recovers: the run is recorded, and it is ready again. */
    j = wait_run(&s, id, 15000);
    cr_assert(json_is_true(json_object_get(j, "interrupted")),
              "the run went on past its lease's deadline: %s", json_dumps(j, 0));
    char *text = json_dumps(j, 0);
    cr_assert_not_null(strstr(text, "could not be renewed before its lease could end"), "%s",
                       text);
    free(text);
    json_decref(j);
    json_decref(wait_for(&s, "/readyz", 200, 5000));
    cr_log_info("frozen_database_every_endpoint_answers: %zu rounds of 6 requests in %lld ms of "
                "freeze; slowest %lld ms (%s); /readyz 503 after %lld ms", rounds,
                (long long)frozen_for, (long long)worst.ms, worst.what, (long long)unready_after);
    svc_term(&s);
    svc_free(&s);
}

/*
 * Another process write-locks the history file for a few seconds: every
 * endpoint that reads it or memory answers within 1 s; a POST, which cannot
 * record the run's start, still queues it within 1 s (202 with
 * historyError, under a fallback id) and the POSTs after it name it (409);
 * once the lock is gone the run is made and recorded under that id.
 */
Test(service, locked_history_file, .timeout = 40, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  interval: 1h\n", "", "  - plugin: fixture\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/v1/reconciliation/status", 200, 15000));

    /* The other process: BEGIN IMMEDIATE and a row, kept until told (or 20 s). */
    int ready[2], release[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(release), 0);
    pid_t holder = fork();
    cr_assert_neq(holder, -1);
    if (holder == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(ready[0]);
        close(release[1]);
        db_url u = { .kind = DB_SQLITE, .path = s->hist };
        db *d = NULL;
        char err[512];
        if (db_open(&u, NULL, &d, err, sizeof err) != DB_OK ||
            db_exec(d, "BEGIN IMMEDIATE", NULL, 0, NULL) != 0 ||
            db_exec(d, "INSERT INTO runs (started_at, trigger, status) "
                    "VALUES ('2020-01-01T00:00:00.000Z', 'other', 'running')", NULL, 0, NULL) != 0)
            _exit(1);
        (void)!write(ready[1], "1", 1);
        struct pollfd p = { .fd = release[0], .events = POLLIN };
        poll(&p, 1, 20000);
        db_exec(d, "ROLLBACK", NULL, 0, NULL);
        db_close(d);
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the other process could not lock the history file");
    int64_t locked = mono_ms();

    slowest worst = { 0, "" };
    size_t rounds = 0;
    int64_t queued = 0;
    while (mono_ms() - locked < 4000) {
        th_response r;
        prompt(s, "GET", "/metrics", &r, &worst);
        cr_assert_eq(r.status, 200);
        th_response_free(&r);
        prompt(s, "GET", "/v1/reconciliation/status", &r, &worst);
        cr_assert_eq(r.status, 200);
        th_response_free(&r);
        prompt(s, "GET", "/v1/reconciliation/history", &r, &worst);
        cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
        th_response_free(&r);
        prompt(s, "POST", "/v1/reconciliation/run", &r, &worst);
        json_t *j = parse(&r);
        if (!queued) {
            cr_assert_eq(r.status, 202, "POST with the history file locked: %d %s", r.status,
                         r.body);
            const char *why = json_string_value(json_object_get(j, "historyError"));
            cr_assert(why && strstr(why, "cannot record the run's start"), "%s", r.body);
            queued = json_integer_value(json_object_get(j, "runId"));
        } else {
            cr_assert_eq(r.status, 409, "POST with a run queued: %d %s", r.status, r.body);
            cr_assert_eq(json_integer_value(json_object_get(j, "runId")), queued, "%s", r.body);
        }
        json_decref(j);
        th_response_free(&r);
        rounds++;
    }
    cr_assert_lt(mono_ms() - locked, 6000, "the lock was gone before the last round ended");
    close(release[1]);
    int hst;
    cr_assert_eq(waitpid(holder, &hst, 0), holder);
    cr_assert(WIFEXITED(hst) && WEXITSTATUS(hst) == 0, "the other process failed");
    close(ready[0]);

    json_t *j = wait_run(s, queued, 20000);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "success");
    json_decref(j);
    int64_t id = post_run(s, "", 202);
    cr_assert_gt(id, queued);
    j = wait_run(s, id, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "success");
    json_decref(j);
    cr_log_info("locked_history_file: %zu rounds of 4 requests while locked; slowest %lld ms "
                "(%s)", rounds, (long long)worst.ms, worst.what);
    svc_term(s);
}

/*
 * Nobody can renew the run lock (another session write-locks
 * reconciler_locks): the run stops before its lease could end, recorded as
 * interrupted with why, and finishes before the lease end the lock row
 * holds; the next instance's run starts after it, never overlapping.
 */
Test(service, run_never_outlives_its_lock, .timeout = 40)
{
    th_db t;
    svc a, b;
    char err[512];
    migrated(DB_MYSQL, &t);
    svc_setup(&a, &t, 1, "schedule:\n  interval: 1h\n  lock_ttl: 3s\n", "",
              "  - plugin: fixture\n    options:\n      pause: 20s\n");
    svc_start(&a, NULL);
    lock_info li;
    int64_t end = mono_ms() + 15000;
    while (lock_peek(t.conn, LOCK_NAME, &li, err, sizeof err) != 1) {
        cr_assert_lt(mono_ms(), end, "the startup run never took the lock: %s",
                     th_read(a.errlog));
        sleep_ms(20);
    }

    /* From here no renewal can succeed: the lease the row holds now is the last. */
    db *locker = session(&t);
    exec_ok(locker, "LOCK TABLES reconciler_locks WRITE");
    int64_t locked = mono_ms();
    int64_t lease_end = th_count(locker, "SELECT TIMESTAMPDIFF(MICROSECOND, "
                                 "'1970-01-01 00:00:00', lock_until) DIV 1000 "
                                 "FROM reconciler_locks WHERE name = '" LOCK_NAME "'");
    cr_assert_gt(lease_end, wall_ms() - 1000, "the lease had already ended");

    /* Over once its release has given up on the locked table too. */
    json_t *r = wait_for(&a, "/v1/reconciliation/status", 200, 10000);
    int64_t over_after = mono_ms() - locked;
    int64_t id = json_integer_value(json_object_get(r, "runId"));
    json_decref(r);
    r = wait_run(&a, id, 5000);
    cr_assert(json_is_true(json_object_get(r, "interrupted")), "%s", json_dumps(r, 0));
    cr_assert_str_neq(json_string_value(json_object_get(r, "status")), "success");
    char *text = json_dumps(r, 0);
    cr_assert_not_null(strstr(text, "\"interrupted: the run lock could not be renewed before its "
                              "lease could end\""), "%s", text);
    free(text);
    json_decref(r);
    json_t *runs = history_of(&a);
    json_t *run = json_array_get(runs, 0);
    cr_assert_eq(json_integer_value(json_object_get(run, "runId")), id);
    int64_t a_finished = iso_ms(json_string_value(json_object_get(run, "finishedAt")));
    json_decref(runs);
    cr_assert_lt(a_finished, lease_end, "run %lld finished %lld ms after its lease could end",
                 (long long)id, (long long)(a_finished - lease_end));

    exec_ok(locker, "UNLOCK TABLES");
    db_close(locker);

    /* The next instance takes the lock and runs, after A's run. */
    svc_setup(&b, &t, 2, "schedule:\n  lock_ttl: 3s\n", "", "  - plugin: fixture\n");
    char *out = NULL, *e = NULL;
    int rc = run_once(&b, 1, &out, &e);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, e);
    runs = history_of(&b);
    int64_t b_started = iso_ms(json_string_value(json_object_get(json_array_get(runs, 0),
                                                                 "startedAt")));
    json_decref(runs);
    cr_assert_gt(b_started, a_finished, "B started %lld ms before A finished",
                 (long long)(a_finished - b_started));
    cr_log_info("run_never_outlives_its_lock: finished %lld ms before the lease end (the "
                "status showed it over %lld ms after the table was locked); B started %lld ms "
                "after A finished", (long long)(lease_end - a_finished), (long long)over_after,
                (long long)(b_started - a_finished));
    free(out);
    free(e);
    svc_term(&a);
    svc_free(&a);
    svc_free(&b);
    th_db_destroy(&t);
}
