/* SPDX-License-Identifier: MIT */
/*
 * test_workers.c - steps run in supervised step workers: a plugin that
 * segfaults, aborts, exits, spins in C, blocks in the database or leaks
 * costs only its step. For each: the exit code, the history row, the
 * processing_job_logs row, the run lock released (a second instance runs at
 * once), SIGTERM within 5 s, the service's schedule and API going on; a
 * probe that crashes; the plugin contract (check(), ABI 1.0 plugins,
 * undeclared options, db_error in a dry run).
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_server.h"
#include "th_svc.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Under AddressSanitizer a segfault would be caught and turned into exit 1
 * with a report: let the signal be what it is, as in a plain build.
 */
#define AS_PLAIN "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0"

/* The fixture's pipeline run by the binary, its steps' plugins from tests/plugins. */
static th_pipe *pipe_of(db_kind kind, const char *steps)
{
    th_pipe *p = fx_pipe(kind, "tests/plugins", NULL, "", steps);
    p->env = AS_PLAIN;
    return p;
}

/* The last run was recorded: history (by the CLI) and processing_job_logs. */
static void assert_recorded(th_pipe *r, const char *status)
{
    th_pipe_assert_history(r, status);
    cr_assert_eq(th_count(r->t.conn, "SELECT COUNT(*) FROM processing_job_logs WHERE job_id = 0 "
                          "AND category = 'startup_reconciliation'"), 1);
}

/*
 * A worker that dies in init() or run() fails only its step, with what
 * happened; the next step runs in a fresh worker; the run is partial;
 * everything is recorded and the lock released.
 */
static void dies(db_kind kind, const char *how, const char *in, const char *want)
{
    char steps[256];
    snprintf(steps, sizeof steps, "  - plugin: misbehave\n    options: { how: %s, in: %s }\n"
             "  - plugin: fixture\n", how, in);
    th_pipe *r = pipe_of(kind, steps);
    int rc = th_pipe_once(r);
    cr_assert_eq(rc, 1, "%s in %s: exit %d\n%s", how, in, rc, r->err);
    json_t *s0 = th_step(r->res, 0), *s1 = th_step(r->res, 1);
    cr_assert_str_eq(th_str(s0, "status"), "failed");
    cr_assert_str_eq(th_str(s0, "error"), want, "%s in %s", how, in);
    cr_assert_str_eq(th_str(s1, "status"), "ok", "the next step ran in a fresh worker");
    cr_assert_str_eq(th_str(r->res, "status"), "partial");
    assert_recorded(r, "partial");
    /* The lock is free at once: a second run does not wait for a lease. */
    int64_t t0 = mono_ms();
    cr_assert_eq(th_pipe_once(r), 1);
    cr_assert_lt(mono_ms() - t0, 5000, "the second run waited for the lock");
}

DB_TEST(workers, segfault_costs_only_its_step, .timeout = 60, SVC_FIXTURE)
{
    dies(kind, "segv", "run", "crashed: signal 11 (Segmentation fault)");
    dies(kind, "segv", "init", "crashed: signal 11 (Segmentation fault)");
}

Test(workers, abort_and_exit_cost_only_their_step, .timeout = 60, SVC_FIXTURE)
{
    dies(DB_SQLITE, "abort", "run", "crashed: signal 6 (Aborted)");
    dies(DB_SQLITE, "exit0", "run", "exited with status 0 before reporting");
    dies(DB_SQLITE, "exit0", "init", "exited with status 0 before reporting");
}

/* on_error: abort after a crash skips the rest. */
Test(workers, crash_with_on_error_abort_skips_the_rest, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE,
                         "  - plugin: misbehave\n    options: { how: segv }\n    on_error: abort\n"
                         "  - plugin: fixture\n");
    cr_assert_eq(th_pipe_once(r), 1, "%s", r->err);
    cr_assert_str_eq(th_str(th_step(r->res, 1), "status"), "skipped");
    cr_assert_str_eq(th_str(r->res, "status"), "failed");
}

/* A step spinning in C, deaf to interrupted(): killed after its timeout. */
Test(workers, spinning_step_is_killed_after_its_timeout, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE,
                         "  - plugin: misbehave\n    options: { how: spin }\n    timeout: 1s\n"
                         "  - plugin: fixture\n");
    int64_t t0 = mono_ms();
    cr_assert_eq(th_pipe_once(r), 1, "%s", r->err);
    int64_t took = mono_ms() - t0;
    cr_assert_str_eq(th_str(th_step(r->res, 0), "error"),
                     "killed after timeout 1s (steps[].timeout)");
    cr_assert_str_eq(th_str(th_step(r->res, 1), "status"), "ok");
    cr_assert_lt(took, 6000, "took %lld ms", (long long)took);
    assert_recorded(r, "partial");
}

/* The processlist's queries of our test database other than our own (0 = none). */
static int64_t others_running(db *d, const char *like)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.processlist WHERE "
             "id <> CONNECTION_ID() AND info LIKE '%s'", like);
    return th_count(d, sql);
}

/*
 * Blocked in the database past its timeout (SLEEP; a row lock another
 * session holds): the worker is killed, and so is its statement on the
 * server, so nothing keeps running or holding locks after it.
 */
Test(workers, step_blocked_in_the_database_is_killed_there_too, .timeout = 60, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_MYSQL, "  - plugin: misbehave\n    options: { how: sleep_db }\n"
                         "    timeout: 1s\n");
    cr_assert_eq(th_pipe_once(r), 1, "%s", r->err);
    cr_assert_str_eq(th_str(th_step(r->res, 0), "error"),
                     "killed after timeout 1s (steps[].timeout)");
    /* The server ends the killed statement at once; a SLEEP left alone would go on 20 s. */
    TH_WAIT(others_running(r->t.conn, "SELECT SLEEP(20)%") == 0, 5000, "the SLEEP goes on");

    /* A row lock held by another session: the UPDATE waits, is killed, and lets go. */
    cr_assert_eq(db_exec(r->t.conn, "INSERT INTO processing_jobs (id, job_type) VALUES (1, 'x')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(r->t.conn));
    db_url u;
    db *holder = NULL;
    char e2[512];
    cr_assert_eq(db_url_parse(r->t.url, NULL, &u, e2, sizeof e2), 0);
    db_options o = { .password = r->t.password };
    cr_assert_eq(db_open(&u, &o, &holder, e2, sizeof e2), DB_OK, "%s", e2);
    db_url_free(&u);
    cr_assert_eq(db_begin(holder), 0);
    cr_assert_eq(db_exec(holder, "UPDATE processing_jobs SET attempts = 9 WHERE id = 1", NULL, 0,
                         NULL), 0);
    char *text = th_read(r->yaml), *at = strstr(text, "how: sleep_db");
    cr_assert_not_null(at);
    memcpy(at, "how: rowlock", 12);
    memmove(at + 12, at + 13, strlen(at + 13) + 1);
    th_write(r->yaml, text);
    free(text);
    cr_assert_eq(th_pipe_once(r), 1, "%s", r->err);
    cr_assert_str_eq(th_str(th_step(r->res, 0), "error"),
                     "killed after timeout 1s (steps[].timeout)");
    TH_WAIT(others_running(r->t.conn, "UPDATE processing_jobs SET attempts%") == 0, 5000,
            "the killed worker's UPDATE still waits on the server");
    db_rollback(holder);
    db_close(holder);
}

/* SIGTERM while a step spins in C: out within 5 s, interrupted, recorded, lock free. */
Test(workers, sigterm_during_a_deaf_step_exits_within_5s, .timeout = 40, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE, "  - plugin: misbehave\n    options: { how: spin }\n");
    svc s = { .t = &r->t, .yaml = r->yaml, .errlog = th_path(th_tmpdir(), "once.err") };
    char *out = th_path(th_tmpdir(), "once.json");
    s.pid = spawn(&s, NULL, out);
    sleep_ms(1000);
    int64_t t0 = mono_ms();
    kill(s.pid, SIGTERM);
    int rc = svc_wait_exit(&s, 5000);
    cr_assert_neq(rc, -1, "still running 5 s after SIGTERM:\n%s", th_read(s.errlog));
    cr_assert_eq(rc, 1, "exit %d", rc);
    cr_assert_lt(mono_ms() - t0, 5000);
    char *text = th_read(out);
    json_t *res = r->res = json_loads(text, 0, NULL); /* the pipe's last result */
    cr_assert_not_null(res, "%s", text);
    cr_assert(json_is_true(json_object_get(res, "interrupted")), "%s", text);
    cr_assert_str_neq(th_str(th_step(res, 0), "status"), "ok");
    assert_recorded(r, "failed");
    cr_assert_eq(th_count(r->t.conn, "SELECT COUNT(*) FROM reconciler_locks WHERE lock_until > "
                          "strftime('%Y-%m-%d %H:%M:%f', 'now')"), 0, "the lock is still held");
    free(text);
    free(out);
    free(s.errlog);
}

/* Wait until s's step sleeps in the database, then freeze the server. */
static void freeze_under_the_step(th_server *srv, th_db *t, svc *s)
{
    int64_t end = mono_ms() + 10000;
    while (others_running(t->conn, "SELECT SLEEP(20)%") == 0) {
        cr_assert_lt(mono_ms(), end, "the step never reached the database:\n%s",
                     th_read(s->errlog));
        sleep_ms(50);
    }
    kill(srv->pid, SIGSTOP);
}

/*
 * SIGTERM s while srv is frozen, then thaw srv: s's exit code (the test fails when it
 * still runs 5 s later); *took the ms from the signal to the exit.
 */
static int term_while_frozen(th_server *srv, svc *s, int64_t *took)
{
    int64_t t0 = mono_ms();
    kill(s->pid, SIGTERM);
    int rc = svc_wait_exit(s, 5000);
    *took = mono_ms() - t0;
    kill(srv->pid, SIGCONT);
    cr_assert_neq(rc, -1, "still running 5 s after SIGTERM:\n%s", th_read(s->errlog));
    return rc;
}

/*
 * SIGTERM while the database hangs (SIGSTOP) under a step blocked in it: the
 * process still exits within 5 s (today's read_timeout was 300 s).
 */
Test(workers, sigterm_with_a_hung_database_exits_within_5s, .timeout = 60, SVC_FIXTURE)
{
    th_server *srv;
    th_db *t = fx_db_private(&srv, 1);
    svc s;
    svc_setup(&s, t, 1, "", "", "  - plugin: misbehave\n    options: { how: sleep_db }\n");
    char *out = th_path(th_tmpdir(), "once.json");
    s.pid = spawn(&s, NULL, out);
    freeze_under_the_step(srv, t, &s);
    sleep_ms(300);
    int64_t took;
    int rc = term_while_frozen(srv, &s, &took);
    cr_assert_lt(took, 5000);
    cr_assert_eq(rc, 1, "exit %d:\n%s", rc, th_read(s.errlog));
    free(out);
    svc_free(&s);
}

/*
 * A leak in a plugin dies with its worker: the run is fine, and the worker
 * ends cleanly. That is checked, so this test can fail: the supervisor says
 * when a worker's exit status is not 0 (test_worker_exit.c shows it does),
 * and under `make asan` LeakSanitizer runs in the worker, reports on its
 * stderr and exits 1 on any leak not marked as meant (the fixture marks its
 * own with __lsan_ignore_object; a suppression cannot name an unloaded
 * plugin), so a leak in the worker's own code fails here.
 */
Test(workers, leaking_plugin_runs, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE, "  - plugin: misbehave\n    options: { how: leak }\n");
    cr_assert_eq(th_pipe_once(r), 0, "%s", r->err);
    cr_assert_str_eq(th_str(th_step(r->res, 0), "status"), "ok");
    cr_assert_null(strstr(r->err, "after its last step"), "the worker did not end cleanly:\n%s",
                   r->err);
    cr_assert_null(strstr(r->err, "LeakSanitizer"), "%s", r->err);
}

/* In the service: a crashing step every run; the schedule and the API go on. */
Test(workers, service_keeps_its_schedule_beside_a_crashing_step, .timeout = 40, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  interval: 1s\n  jitter: 0s\n", "",
                    "  - plugin: misbehave\n    options: { how: segv }\n  - plugin: fixture\n");
    const char *env[] = { AS_PLAIN, NULL };
    svc_start(s, env);
    json_decref(wait_for(s, "/v1/reconciliation/status", 200, 10000));
    sleep_ms(2500);
    json_decref(wait_for(s, "/healthz", 200, 1000));
    json_t *runs = history_of(s);
    size_t n = json_array_size(runs), partial = 0;
    for (size_t i = 0; i < n; i++)
        partial += strcmp(th_str(json_array_get(runs, i), "status"), "partial") == 0;
    cr_assert_geq(partial, 3, "%zu partial runs of %zu:\n%s", partial, n, th_read(s->errlog));
    json_decref(runs);
    int64_t t0 = mono_ms();
    svc_term(s);
    cr_assert_lt(mono_ms() - t0, 5000);
}

/* A probe that crashes: the dashboard answers 503 naming it, the API stays up. */
Test(workers, crashing_probe_costs_its_request_only, .timeout = 30)
{
    th_db t;
    svc s;
    char *crash = abs_build("tests/crashprobe"), *plugins = abs_build("tests/plugins");
    char *dirs = NULL;
    migrated(DB_SQLITE, &t);
    svc_setup(&s, &t, 1, "schedule:\n  interval: 1h\n", "", "  - plugin: fixture\n");
    /* The crashing metrics plugin and the fixtures only. */
    cr_assert_neq(asprintf(&dirs, "plugin_dir: [%s, %s]\n", crash, plugins), -1);
    char *text = th_read(s.yaml), *pd = strstr(text, "plugin_dir:"), *eol = strchr(pd, '\n');
    char *fixed = NULL;
    cr_assert_neq(asprintf(&fixed, "%.*s%s%s", (int)(pd - text), text, dirs, eol + 1), -1);
    th_write(s.yaml, fixed);
    const char *env[] = { AS_PLAIN, NULL };
    svc_start(&s, env);
    json_decref(wait_for(&s, "/healthz", 200, 10000));
    int st;
    json_t *j = get_json(&s, "/api/admin/dashboard?fresh=1", &st);
    cr_assert_eq(st, 503);
    const char *e = th_str(j, "error");
    cr_assert(e && strstr(e, "metrics") && strstr(e, "crashed: signal 11"), "%s", e);
    json_decref(j);
    json_decref(wait_for(&s, "/healthz", 200, 1000));
    json_decref(wait_for(&s, "/v1/reconciliation/status", 200, 5000));
    svc_term(&s);
    svc_free(&s);
    free(crash);
    free(plugins);
    free(dirs);
    free(text);
    free(fixed);
    th_db_destroy(&t);
}

/* ------------------------------------------------------- the contract */

/* validate of v.yaml with steps of tests/plugins. */
static int validate(const char *steps, char **err)
{
    return th_validate("v.yaml", th_build_path("tests/plugins"), steps, err);
}

/* check() refuses at the value's FILE:LINE:COL (exit 2), both sides of its bound. */
Test(workers, check_callback_refuses_in_validate)
{
    char *err = NULL;
    cr_assert_eq(validate("  - plugin: checked\n    options: { days: 100 }\n", &err), 0, "%s",
                 err);
    free(err);
    cr_assert_eq(validate("  - plugin: checked\n    options: { days: 101 }\n", &err), 2);
    cr_assert(strstr(err, "v.yaml:5:22: step 'checked': option 'days' must be from 0 to 100, "
                     "got 101"), "%s", err);
    free(err);
    /* fail() rather than fail_option(): the step's own position. */
    cr_assert_eq(validate("  - plugin: checked\n    options: { low: 9 }\n", &err), 2);
    cr_assert(strstr(err, "v.yaml:4:5: step 'checked': low (9) is above high (5)"), "%s", err);
    free(err);
}

/* A bad option stops a run before any step writes. */
Test(workers, check_callback_stops_a_run_before_any_step, .timeout = 30, SVC_FIXTURE)
{
    th_db *t = fx_db(DB_SQLITE);
    svc *s = fx_svc("", "", "  - plugin: fixture\n    options: { write: true }\n"
                    "  - plugin: checked\n    options: { days: -1 }\n");
    char *err = NULL;
    cr_assert_eq(run_once(s, 1, NULL, &err), 2, "%s", err);
    cr_assert(strstr(err, "option 'days' must be from 0 to 100, got -1"), "%s", err);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_job_logs"), 0,
                 "the first step wrote before the second was checked");
    free(err);
}

/* A 1.0 plugin (no check, a shorter descriptor) loads and runs. */
Test(workers, abi_1_0_plugin_still_runs, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE, "  - plugin: old10\n");
    cr_assert_eq(th_pipe_once(r), 0, "%s", r->err);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(r->res,
                 "results"), "old10"), "ran")), 1);
}

/* A plugin built for the next minor that needs only ours loads and runs (ABI 1.4). */
Test(workers, newer_minor_plugin_that_needs_ours_runs, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE, "  - plugin: newminor_fits\n");
    cr_assert_eq(th_pipe_once(r), 0, "%s", r->err);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(r->res,
                 "results"), "newminor_fits"), "ran")), 1);
}

/* Asking for an undeclared option fails the step loudly, even when run() says ok. */
Test(workers, undeclared_option_fails_the_step, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = pipe_of(DB_SQLITE, "  - plugin: checked\n    options: { misuse: true }\n");
    cr_assert_eq(th_pipe_once(r), 1, "%s", r->err);
    cr_assert_str_eq(th_str(th_step(r->res, 0), "error"),
                     "plugin bug: it asked for option 'no_such_option' as int, which its options "
                     "table does not declare");
}

/* In a dry run a refused write says why through db_error(). */
Test(workers, dry_run_refusal_sets_db_error, .timeout = 30)
{
    rig r;
    json_t *res = NULL;
    rig_up(&r, DB_SQLITE, "tests/plugins",
           "  - plugin: fixture\n    options: { write: true, report_db_error: true }\n");
    cr_assert_eq(rig_run(&r, NULL, 1, &res), RUN_FAILED);
    json_t *fx = json_object_get(json_object_get(th_step(res, 0), "results"), "fixture");
    cr_assert_str_eq(th_str(fx, "dbError"), "db_exec refused in a dry run: count with db_query "
                     "instead");
    json_decref(res);
    rig_down(&r);
}

/* The service too: SIGTERM in the middle of a run while the database is frozen. */
Test(workers, service_sigterm_with_a_hung_database_exits_within_5s, .timeout = 60,
     SVC_FIXTURE)
{
    th_server *srv;
    th_db *t = fx_db_private(&srv, 1);
    svc s;
    svc_setup(&s, t, 1, "schedule:\n  interval: 1h\n  lock_ttl: 6s\n", "",
              "  - plugin: misbehave\n    options: { how: sleep_db }\n");
    svc_start(&s, NULL);
    freeze_under_the_step(srv, t, &s);
    sleep_ms(1500); /* the heartbeat and the database watch meet the frozen server too */
    int64_t took;
    int rc = term_while_frozen(srv, &s, &took);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, th_read(s.errlog));
    cr_assert_lt(took, 5000);
    svc_free(&s);
}
