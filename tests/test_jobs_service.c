/* SPDX-License-Identifier: MIT */
/*
 * test_jobs_service.c - jobs in the service (issue 19), on the real binary with SQLite and
 * MariaDB: two jobs at once but never one with itself, exactly one run per slot across
 * three instances, missed slots caught up once (none with skip), pause obeyed by every
 * instance and across restarts, run-now on a paused job refused with 409.
 */
#include "th_fixture.h"
#include "th_svc.h"
#include "engine/history.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define QUICK "        options: { pause: 100ms }\n"

static int64_t wall_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Wait up to ms for sql's count to reach at least want; the count. */
static int64_t wait_count(db *d, const char *sql, int64_t want, int ms, const svc *s)
{
    int64_t n = 0, end = mono_ms() + ms;
    while ((n = th_count(d, sql)) < want) {
        cr_assert_lt(mono_ms(), end, "%s: %lld of %lld after %d ms; log:\n%s", sql,
                     (long long)n, (long long)want, ms, s ? th_read(s->errlog) : "");
        sleep_ms(50);
    }
    return n;
}

typedef struct span {
    int64_t start, end;
    char job[65], trigger[16], slot[40];
} span;

/* The runs that ran (not skipped) in s's history, appended to out. */
static size_t runs_of(svc *s, span *out, size_t n, size_t max)
{
    json_t *runs = history_of(s);
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run) {
        const char *st = json_string_value(json_object_get(run, "status"));
        if (!st || strcmp(st, "skipped") == 0 || strcmp(st, "running") == 0)
            continue;
        cr_assert_lt(n, max);
        span *p = &out[n++];
        p->start = iso_ms(json_string_value(json_object_get(run, "startedAt")));
        p->end = iso_ms(json_string_value(json_object_get(run, "finishedAt")));
        snprintf(p->job, sizeof p->job, "%s", json_string_value(json_object_get(run, "job")));
        snprintf(p->trigger, sizeof p->trigger, "%s",
                 json_string_value(json_object_get(run, "trigger")));
        const char *slot = json_string_value(json_object_get(run, "scheduledFor"));
        snprintf(p->slot, sizeof p->slot, "%s", slot ? slot : "");
    }
    json_decref(runs);
    return n;
}

static int overlap(const span *a, const span *b)
{
    return a->start < b->end && b->start < a->end;
}

/* Two jobs run side by side; neither ever overlaps itself. */
DB_TEST(jobs_service, two_jobs_at_once_never_one_with_itself, .timeout = 60, SVC_FIXTURE)
{
    span runs[200];
    th_db *t = fx_db(kind);
    svc *s = fx_svc_jobs("",
               "  a:\n    schedule: { cron: \"* * * * * *\" }\n    steps:\n"
               "      - plugin: fixture\n        options: { pause: 1500ms }\n"
               "  b:\n    schedule: { cron: \"* * * * * *\" }\n    steps:\n"
               "      - plugin: fixture\n        options: { pause: 1500ms }\n");
    svc_start(s, NULL);
    wait_count(t->conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE job = 'a' AND status "
               "= 'success'", 3, 20000, s);
    wait_count(t->conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE job = 'b' AND status "
               "= 'success'", 3, 20000, s);
    svc_term(s);
    size_t n = runs_of(s, runs, 0, 200), together = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++) {
            int same = strcmp(runs[i].job, runs[k].job) == 0;
            if (same)
                cr_assert(!overlap(&runs[i], &runs[k]), "job %s overlaps itself", runs[i].job);
            else
                together += overlap(&runs[i], &runs[k]);
        }
    cr_assert_gt(together, 0, "a and b never ran at the same time");
    /* The history filters by job. */
    svc_start(s, NULL);
    json_t *page = wait_for(s, "/v1/reconciliation/history?job=b&limit=1000", 200, 10000);
    size_t i;
    json_t *run;
    cr_assert_gt(json_array_size(json_object_get(page, "runs")), 2);
    json_array_foreach(json_object_get(page, "runs"), i, run)
        cr_assert_str_eq(json_string_value(json_object_get(run, "job")), "b");
    json_decref(page);
    svc_term(s);
}

/* A migrated MariaDB database t and three instances s on it, job tick every 2 s, started. */
static void three_instances(th_db *t, svc s[3])
{
    migrated(DB_MYSQL, t);
    for (int i = 0; i < 3; i++)
        svc_setup_jobs(&s[i], t, i + 1, "",
                       "  tick:\n    schedule: { cron: \"*/2 * * * * *\" }\n    steps:\n"
                       "      - plugin: fixture\n" QUICK);
    for (int i = 0; i < 3; i++)
        svc_start(&s[i], NULL);
}

/* The three instances (killed if they still run) and the database let go. */
static void three_down(th_db *t, svc s[3])
{
    for (int i = 0; i < 3; i++)
        svc_free(&s[i]);
    th_db_destroy(t);
}

/*
 * Three instances on one MariaDB, a job on a 2-second seconds cron, for about 20 s:
 * every slot in the table was run once, by one instance, none overlapping, none
 * missed between the first and the last.
 */
Test(jobs_service, three_instances_one_run_per_slot, .timeout = 90)
{
    th_db t;
    svc s[3];
    span runs[300];
    three_instances(&t, s);
    /* The experiment is 20 s of slots; it ends on a fact: ten slots were run. */
    wait_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = 'success'",
               10, 40000, &s[0]);
    for (int i = 0; i < 3; i++)
        kill(s[i].pid, SIGTERM);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(svc_wait_exit(&s[i], 5000), 0, "instance %d", i + 1);
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        n = runs_of(&s[i], runs, n, 300);
    int64_t slots = th_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots");
    int64_t ran = th_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE run_id IS "
                                   "NOT NULL AND status IN ('success', 'partial', 'failed')");
    cr_assert_eq((int64_t)n, slots, "%zu runs for %lld slots", n, (long long)slots);
    cr_assert_eq(ran, slots, "every slot row is a run that ran");
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++) {
            cr_assert_str_neq(runs[i].slot, runs[k].slot, "slot %s ran twice", runs[i].slot);
            cr_assert(!overlap(&runs[i], &runs[k]), "runs overlap");
        }
    /* None missed: the slots are every 2 s from the first to the last. */
    int64_t first = th_count(t.conn, "SELECT MIN(scheduled_for) FROM reconciler_job_slots");
    int64_t last = th_count(t.conn, "SELECT MAX(scheduled_for) FROM reconciler_job_slots");
    cr_assert_eq((last - first) / 2 + 1, slots, "slots %lld..%lld: %lld rows", (long long)first,
                 (long long)last, (long long)slots);
    three_down(&t, s);
}

static size_t count_trigger(const span *runs, size_t n, const char *trigger)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += strcmp(runs[i].trigger, trigger) == 0;
    return k;
}

/*
 * Stopped across three slots and started again: with missed: run_once one catch-up run,
 * for the latest missed slot; with skip none, and the schedule goes on.
 */
static void stop_across_slots(db_kind kind, const char *missed)
{
    th_db t;
    svc s;
    span runs[100];
    char jobs[512];
    migrated(kind, &t);
    snprintf(jobs, sizeof jobs, "  tick:\n    schedule: { cron: \"*/2 * * * * *\", missed: %s }\n"
             "    steps:\n      - plugin: fixture\n" QUICK, missed);
    svc_setup_jobs(&s, &t, 1, "", jobs);
    svc_start(&s, NULL);
    wait_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = 'success'", 1,
               15000, &s);
    svc_term(&s);
    int64_t before = th_count(t.conn, "SELECT MAX(scheduled_for) FROM reconciler_job_slots");
    /* Down across three slots: the wall clock passes them. */
    while (wall_now_ms() < (before + 7) * 1000)
        sleep_ms(100);
    size_t n0 = runs_of(&s, runs, 0, 100);
    svc_start(&s, NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE scheduled_for > "
             "%lld AND status = 'success' AND kind = 'scheduled'", (long long)before + 7);
    wait_count(t.conn, sql, 2, 15000, &s);
    svc_term(&s);
    size_t n = runs_of(&s, runs, 0, 100);
    cr_assert_eq(count_trigger(runs, n0, "catch_up"), 0);
    if (strcmp(missed, "run_once") == 0) {
        cr_assert_eq(count_trigger(runs, n, "catch_up"), 1, "log:\n%s", th_read(s.errlog));
        snprintf(sql, sizeof sql, "SELECT scheduled_for FROM reconciler_job_slots WHERE kind = "
                 "'catch_up'");
        int64_t caught = th_count(t.conn, sql);
        cr_assert_geq(caught, before + 6, "the latest missed slot, not an older one");
    } else {
        cr_assert_eq(count_trigger(runs, n, "catch_up"), 0, "log:\n%s", th_read(s.errlog));
        cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE kind = "
                              "'catch_up'"), 0);
    }
    svc_free(&s);
    th_db_destroy(&t);
}

DB_TEST(jobs_service, missed_slots_caught_up_once, .timeout = 60)
{
    stop_across_slots(kind, "run_once");
}

DB_TEST(jobs_service, missed_slots_skipped, .timeout = 60)
{
    stop_across_slots(kind, "skip");
}

static int http_status(svc *s, const char *method, const char *path, char **body)
{
    th_response r;
    cr_assert_eq(th_http(s->port, method, path, NULL, NULL, &r), 0, "%s %s", method, path);
    int st = r.status;
    if (body)
        *body = strdup(r.body ? r.body : "");
    th_response_free(&r);
    return st;
}

static int cli(svc *s, const char *cmd, const char *job, const char *reason)
{
    char *pw = password_env(s), *out = NULL, *err = NULL;
    const char *const env[] = { pw, NULL };
    const char *const args[] = { cmd, job, "-c", s->yaml, reason ? "--reason" : NULL, reason,
                                 NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "%s %s: %s", cmd, job, err);
    free(out);
    free(err);
    free(pw);
    return rc;
}

/*
 * Three instances. Paused on A (the CLI), B and C obey at once: the slots are recorded
 * skipped (paused), no run; run-now on B and on C answers 409 with why; after all three
 * restart, still paused; resumed through B's API, runs start again.
 */
Test(jobs_service, pause_obeyed_by_every_instance, .timeout = 90)
{
    th_db t;
    svc s[3];
    char *body = NULL, sql[256];
    three_instances(&t, s);
    wait_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = 'success'", 1,
               15000, &s[0]);
    cli(&s[0], "pause", "tick", "incident drill");
    int64_t paused_at = wall_now_ms() / 1000;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = "
             "'skipped' AND reason = 'paused' AND scheduled_for > %lld", (long long)paused_at);
    wait_count(t.conn, sql, 2, 15000, &s[0]);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status <> "
             "'skipped' AND scheduled_for > %lld", (long long)paused_at + 1);
    cr_assert_eq(th_count(t.conn, sql), 0, "a paused job ran");

    /* Paused on instance A (s[0]): refused on B and C at once. */
    for (int i = 1; i < 3; i++) {
        cr_assert_eq(http_status(&s[i], "POST", "/v1/jobs/tick/run", &body), 409, "%s", body);
        cr_assert(strstr(body, "paused") && strstr(body, "incident drill"), "%s", body);
        free(body);
    }

    for (int i = 0; i < 3; i++)
        svc_term(&s[i]);
    for (int i = 0; i < 3; i++)
        svc_start(&s[i], NULL);
    json_t *j = wait_for(&s[0], "/v1/jobs/tick", 200, 15000);
    json_t *p = json_object_get(j, "paused");
    cr_assert(json_is_true(json_object_get(p, "paused")), "not paused after a restart");
    cr_assert(strncmp(json_string_value(json_object_get(p, "by")), "cli ", 4) == 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "reason")), "incident drill");
    cr_assert_eq(json_array_size(json_object_get(j, "next")), 3);
    json_decref(j);
    int64_t restarted = wall_now_ms() / 1000;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = "
             "'skipped' AND scheduled_for > %lld", (long long)restarted);
    wait_count(t.conn, sql, 1, 15000, &s[0]);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status <> "
             "'skipped' AND scheduled_for > %lld", (long long)paused_at + 1);
    cr_assert_eq(th_count(t.conn, sql), 0, "a paused job ran after a restart");

    cr_assert_eq(http_status(&s[1], "POST", "/v1/jobs/tick/resume", &body), 200, "%s", body);
    free(body);
    int64_t resumed = wall_now_ms() / 1000;
    /* missed: run_once: the latest paused slot is run after all, once, as a catch-up. */
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE kind = "
             "'catch_up' AND status = 'success' AND scheduled_for > %lld AND scheduled_for <= "
             "%lld", (long long)restarted, (long long)resumed);
    wait_count(t.conn, sql, 1, 15000, &s[0]);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = "
             "'success' AND scheduled_for > %lld", (long long)resumed);
    wait_count(t.conn, sql, 1, 15000, &s[0]);
    /* Run now, not paused: queued (202), then it runs. */
    cr_assert_eq(http_status(&s[0], "POST", "/v1/jobs/tick/run", &body), 202, "%s", body);
    free(body);
    cr_assert_eq(http_status(&s[0], "POST", "/v1/jobs/nope/run", NULL), 404);
    for (int i = 0; i < 3; i++)
        svc_term(&s[i]);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE kind = "
                                  "'catch_up'"), 1, "one catch-up for the pause, no more");
    three_down(&t, s);
}

/* run --once runs the on_startup jobs in file order; --job one; the legacy lock row. */
DB_TEST(jobs_service, run_once_runs_startup_jobs_in_order, SVC_FIXTURE)
{
    th_db *t = fx_db(kind);
    svc *s = fx_svc_jobs("",
               "  first:\n    steps:\n      - plugin: fixture\n        options: { value: 1 }\n"
               "  scheduled:\n    schedule: { every: 1h }\n    steps:\n"
               "      - plugin: fixture\n        options: { value: 2 }\n"
               "  third:\n    steps:\n      - plugin: fixture\n        options: { value: 3 }\n");
    char *out = NULL, *err = NULL, *pw = password_env(s);
    const char *const env[] = { pw, NULL };
    const char *const args[] = { "run", "--once", "--json", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(args, env, &out, &err), 0, "%s", err);
    json_t *list = json_loads(out, 0, NULL);
    cr_assert(json_is_array(list), "%s", out);
    cr_assert_eq(json_array_size(list), 2, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "job")), "first");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "job")), "third");
    json_decref(list);
    free(out);
    free(err);
    const char *const one[] = { "run", "--once", "--json", "--job", "scheduled", "-c", s->yaml,
                                NULL };
    cr_assert_eq(th_run_cli(one, env, &out, &err), 0, "%s", err);
    json_t *r = json_loads(out, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r, "job")), "scheduled", "%s", out);
    cr_assert(json_is_null(json_object_get(r, "scheduledFor")));
    json_decref(r);
    free(out);
    free(err);
    const char *const bad[] = { "run", "--once", "--job", "nope", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(bad, env, &out, &err), 2);
    cr_assert(strstr(err, "no job 'nope'"), "%s", err);
    free(out);
    free(err);
    /* Each job took its own lock row. */
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_locks WHERE name IN "
                          "('first', 'scheduled', 'third')"), 3);
    free(pw);
}

/*
 * The legacy file keeps its lock row "reconciler" and says job reconcile; run --once runs
 * it whatever schedule.on_startup says (that key was always the service's only).
 */
DB_TEST(jobs_service, legacy_file_keeps_its_lock_row, SVC_FIXTURE)
{
    th_db *t = fx_db(kind);
    svc *s = fx_svc("schedule:\n  on_startup: false\n", "", "  - plugin: fixture\n");
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_once(s, 1, &out, &err), 0, "%s", err);
    json_t *r = json_loads(out, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r, "job")), "reconcile", "%s", out);
    json_decref(r);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_locks WHERE name = "
                          "'reconciler'"), 1);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_locks"), 1);
    free(out);
    free(err);
}

/* `reconciler jobs --json`: each job with its schedule, zone, next fire times and pause. */
DB_TEST(jobs_service, jobs_command_lists_the_jobs, SVC_FIXTURE)
{
    fx_db(kind);
    svc *s = fx_svc_jobs("",
               "  follow:\n    schedule: { cron: \"0 9 * * MON-FRI\", time_zone: Asia/Kolkata }\n"
               "    steps:\n      - plugin: fixture\n"
               "  grid:\n    schedule: { every: 5m }\n    steps:\n      - plugin: fixture\n");
    char *pw = password_env(s), *out = NULL, *err = NULL;
    const char *const env[] = { pw, NULL };
    const char *const pause[] = { "pause", "grid", "--reason", "why not", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(pause, env, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    const char *const nope[] = { "pause", "nope", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(nope, env, &out, &err), 2);
    cr_assert(strstr(err, "no job 'nope'; its jobs: follow, grid"), "%s", err);
    free(out);
    free(err);
    const char *const args[] = { "jobs", "--json", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(args, env, &out, &err), 0, "%s", err);
    json_t *list = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(list), 2, "%s", out);
    json_t *f = json_array_get(list, 0), *g = json_array_get(list, 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "schedule"),
                                                       "timeZone")), "Asia/Kolkata");
    const char *next = json_string_value(json_array_get(json_object_get(f, "next"), 0));
    cr_assert(next && strstr(next, "T09:00:00+05:30"), "%s", out);
    cr_assert_eq(json_array_size(json_object_get(g, "next")), 3);
    cr_assert(json_is_true(json_object_get(json_object_get(g, "paused"), "paused")), "%s", out);
    cr_assert(json_is_false(json_object_get(json_object_get(f, "paused"), "paused")), "%s", out);
    json_decref(list);
    free(out);
    free(err);
    free(pw);
}
