/* SPDX-License-Identifier: MIT */
/*
 * test_jobs.c - jobs in the pipeline file (issue 19): their keys and defaults, every
 * refusal with its FILE:LINE:COL, the legacy file as the one job reconcile, and the
 * slots a job's schedule gives (fixed instants: the machine's clock and TZ play no part).
 */
#include "helpers.h"
#include "config/config.h"
#include "service/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_STEP(q) "      - plugin: sql\n        options: { query: \"" q "\", result: r }\n"

static config *load(const char *text, char *err, size_t errlen)
{
    config *c = NULL;
    char *path = th_path(th_tmpdir(), "p.yaml");
    th_write(path, text);
    if (config_load(path, &c, err, errlen) != 0)
        c = NULL;
    free(path);
    return c;
}

static config *load_ok(const char *text)
{
    char err[2048];
    config *c = load(text, err, sizeof err);
    cr_assert_not_null(c, "%s\n--- for:\n%s", err, text);
    return c;
}

/* text is refused with a message that ends "p.yaml" + want. */
static void refuses(const char *text, const char *want)
{
    char err[2048];
    config *c = load(text, err, sizeof err);
    cr_assert_null(c, "accepted:\n%s", text);
    const char *at = strstr(err, "p.yaml");
    cr_assert_not_null(at, "%s", err);
    cr_assert_str_eq(at + strlen("p.yaml"), want, "got %s\n--- for:\n%s", at, text);
}

static const char two_jobs[] =
    "schedule:\n  lock_ttl: 9s\n  lock_wait: 5s\n"
    "history:\n  keep_runs: 50\n"
    "notify:\n  - url: http://127.0.0.1:9/a\n    name: ops\n"
    "  - url: http://127.0.0.1:9/b\n    name: chat\n"
    "jobs:\n"
    "  leases:\n"
    "    schedule: { every: 1m, jitter: 5s }\n"
    "    steps:\n" SQL_STEP("SELECT 1")
    "  followups:\n"
    "    schedule:\n      cron: \"0 9 * * MON-FRI\"\n      time_zone: Europe/Berlin\n"
    "      missed: skip\n      missed_within: 2h\n"
    "    notify: [chat]\n    lock_ttl: 20s\n    keep_runs: 7\n"
    "    steps:\n" SQL_STEP("SELECT 2")
    "      - plugin: sql\n        name: again\n        options: { query: \"SELECT 3\", result: r }\n"
    "  startup:\n"
    "    enabled: false\n"
    "    steps:\n      - plugin: sql\n        name: s\n        options: { query: \"SELECT 4\", result: r }\n";

Test(jobs, keys_and_defaults)
{
    config *c = load_ok(two_jobs);
    cr_assert_eq(c->n_jobs, 3);
    cr_assert_eq(c->n_steps, 4);
    const cfg_job *l = &c->jobs[0], *f = &c->jobs[1], *s = &c->jobs[2];
    cr_assert_str_eq(l->name, "leases");
    cr_assert_eq(l->every_ms, 60000);
    cr_assert_eq(l->jitter_ms, 5000);
    cr_assert_eq(l->missed, CFG_MISSED_RUN_ONCE);
    cr_assert_eq(l->missed_within_ms, 86400000);
    cr_assert_eq(l->on_startup, 0, "a scheduled job does not run at start unless asked");
    cr_assert_eq(l->lock_ttl_ms, 9000, "from schedule.lock_ttl");
    cr_assert_eq(l->lock_wait_ms, 5000);
    cr_assert_eq(l->max_run_time_ms, 3600000);
    cr_assert_eq(l->keep_runs, 50, "from history.keep_runs");
    cr_assert(cfg_job_notifies(l, 0) && cfg_job_notifies(l, 1), "default: every target");
    cr_assert_eq(l->first_step, 0);
    cr_assert_eq(l->n_steps, 1);
    cr_assert_eq(l->legacy, 0);

    cr_assert_str_eq(f->cron, "0 9 * * MON-FRI");
    cr_assert_str_eq(f->time_zone, "Europe/Berlin");
    cr_assert_not_null(f->zone);
    cr_assert_eq(f->missed, CFG_MISSED_SKIP);
    cr_assert_eq(f->missed_within_ms, 7200000);
    cr_assert_eq(f->lock_ttl_ms, 20000);
    cr_assert_eq(f->keep_runs, 7);
    cr_assert(!cfg_job_notifies(f, 0) && cfg_job_notifies(f, 1));
    cr_assert_eq(f->first_step, 1);
    cr_assert_eq(f->n_steps, 2);
    cr_assert_eq(c->steps[2].job, 1);

    cr_assert_eq(s->on_startup, 1, "a job without a schedule runs at start");
    cr_assert_eq(s->enabled, 0);
    cr_assert_eq(s->first_step, 3);
    /* Step names are a job's own: "sql" twice in followups would clash, across jobs not. */
    cr_assert_eq(cfg_job_find(c, "followups"), f);
    cr_assert_null(cfg_job_find(c, "nope"));
    config_free(c);
}

Test(jobs, legacy_file_is_the_job_reconcile)
{
    config *c = load_ok("schedule:\n  interval: 10m\n  jitter: 7s\n  on_startup: false\n"
                        "  lock_ttl: 12s\nsteps:\n  - plugin: leases\n  - plugin: metrics\n");
    cr_assert_eq(c->n_jobs, 1);
    const cfg_job *j = &c->jobs[0];
    cr_assert_str_eq(j->name, "reconcile");
    cr_assert_eq(j->legacy, 1);
    cr_assert_eq(j->every_ms, 600000);
    cr_assert_eq(j->jitter_ms, 7000);
    cr_assert_eq(j->on_startup, 0);
    cr_assert_eq(j->lock_ttl_ms, 12000);
    cr_assert_eq(j->missed, CFG_MISSED_SKIP, "a restart makes its startup run, as before");
    cr_assert_eq(j->first_step, 0);
    cr_assert_eq(j->n_steps, 2);
    cr_assert_null(j->notify_to);
    config_free(c);
}

Test(jobs, refusals_name_file_line_col)
{
    refuses("jobs:\n  a:\n    schedule: { cron: \"0 9 * * *\", time_zone: Europe/Berln }\n"
            "    steps:\n" SQL_STEP("SELECT 1"),
            ":3:47: job 'a': schedule.time_zone: unknown time zone 'Europe/Berln' (no such zone "
            "file /usr/share/zoneinfo/Europe/Berln)");
    /* The column of the day-of-month field inside the quoted expression. */
    refuses("jobs:\n  a:\n    schedule:\n      cron: \"0 0 30 2 *\"\n    steps:\n"
            SQL_STEP("SELECT 1"),
            ":4:18: job 'a': schedule.cron '0 0 30 2 *': day-of-month: the expression never "
            "fires: no date has a matching day of the month, month and day of the week "
            "(checked over the whole 400-year cycle of the Gregorian calendar)");
    refuses("jobs:\n  a:\n    schedule:\n      cron: \"0 0 32 * *\"\n    steps:\n"
            SQL_STEP("SELECT 1"),
            ":4:18: job 'a': schedule.cron '0 0 32 * *': day-of-month: 32 is out of range 1-31");
    refuses("notify:\n  - url: http://127.0.0.1:9/\n    name: ops\n"
            "jobs:\n  a:\n    notify: [ops, pager]\n    steps:\n" SQL_STEP("SELECT 1"),
            ":6:19: job 'a': notify names 'pager', which is not a notify target; the targets "
            "are: ops");
    refuses("jobs:\n  a:\n    steps:\n" SQL_STEP("SELECT 1") "  a:\n    steps:\n"
            SQL_STEP("SELECT 2"),
            ":6:3: duplicate key 'a' (lines 2 and 6)");
    refuses("steps:\n  - plugin: leases\njobs:\n  a:\n    steps:\n" SQL_STEP("SELECT 1"),
            ":4:3: give either top-level 'steps' (one job named reconcile) or 'jobs', not both: "
            "move the steps into a job");
    refuses("jobs:\n  a:\n    schedule: { every: 1m, cron: \"* * * * *\" }\n    steps:\n"
            SQL_STEP("SELECT 1"),
            ":3:34: job 'a': give 'schedule.every' or 'schedule.cron', not both");
    refuses("jobs:\n  a:\n    schedule: { every: 10s, jitter: 10s }\n    steps:\n"
            SQL_STEP("SELECT 1"),
            ":3:37: job 'a': 'schedule.jitter' (10s) must be less than 'schedule.every' (10s)");
    refuses("jobs:\n  a:\n    schedule: { every: 10s, time_zone: UTC }\n    steps:\n"
            SQL_STEP("SELECT 1"),
            ":3:40: job 'a': 'schedule.time_zone' goes with 'schedule.cron' (an every: grid "
            "has no zone)");
    refuses("schedule:\n  interval: 5m\njobs:\n  a:\n    steps:\n" SQL_STEP("SELECT 1"),
            ":2:13: 'schedule.interval' is for top-level steps; with jobs, each job has its own "
            "(jobs.NAME.schedule.every, .jitter, jobs.NAME.on_startup)");
    refuses("jobs:\n  a:\n    schedule: { missed: later }\n    steps:\n" SQL_STEP("SELECT 1"),
            ":3:25: 'schedule.missed' must be one of run_once, skip; got 'later'");
}

Test(jobs, job_names_follow_the_name_rule)
{
    char err[2048];
    config *c = load("jobs:\n  a b:\n    steps:\n" SQL_STEP("SELECT 1"), err, sizeof err);
    cr_assert_null(c);
    cr_assert(strstr(err, "p.yaml:2:3: job name 'a b': "), "%s", err);
}

/* every: the epoch's grid, whatever the instant; the phase moves it (the legacy job). */
Test(jobs, every_slots_on_the_epoch_grid)
{
    cfg_job j = { .every_ms = 300000 };
    int64_t t = INT64_C(1796281234567); /* 2026-12-03T07:00:34.567Z */
    cr_assert_eq(schedule_next_slot(&j, 0, t), INT64_C(1796281500000));
    cr_assert_eq(schedule_next_slot(&j, 0, INT64_C(1796281500000)), INT64_C(1796281800000),
                 "strictly after");
    cr_assert_eq(schedule_last_slot(&j, 0, 0, t), INT64_C(1796281200000));
    cr_assert_eq(schedule_last_slot(&j, 0, INT64_C(1796281200001), t), -1);
    cr_assert_eq(schedule_next_slot(&j, 1234, t), INT64_C(1796281201234) + 300000);
}

/* cron: fire times in the job's zone, through the DST change (Europe/Berlin, 2026-03-29). */
Test(jobs, cron_slots_in_the_zone)
{
    char err[2048];
    config *c = load_ok("jobs:\n  a:\n    schedule:\n      cron: \"30 2 * * *\"\n"
                        "      time_zone: Europe/Berlin\n    steps:\n" SQL_STEP("SELECT 1"));
    const cfg_job *j = &c->jobs[0];
    (void)err;
    /* 2026-03-28T12:00:00Z: the next 02:30 is skipped by the clock on the 29th: it fires at
     * 03:00 CEST = 01:00Z, once. */
    int64_t from = INT64_C(1774699200000);
    int64_t first = schedule_next_slot(j, 0, from);
    cr_assert_eq(first, INT64_C(1774746000000), "%lld", (long long)first);
    int64_t second = schedule_next_slot(j, 0, first);
    cr_assert_eq(second, INT64_C(1774830600000), "02:30 CEST on the 30th: 00:30Z");
    cr_assert_eq(schedule_last_slot(j, 0, from, second), second);
    cr_assert_eq(schedule_last_slot(j, 0, from, second - 1), first);
    cr_assert_eq(schedule_last_slot(j, 0, first + 1, second - 1), -1);
    config_free(c);
}

/* A seconds cron: the latest slot is found however dense the calendar is. */
Test(jobs, last_slot_of_a_dense_cron)
{
    config *c = load_ok("jobs:\n  a:\n    schedule: { cron: \"*/2 * * * * *\" }\n    steps:\n"
                        SQL_STEP("SELECT 1"));
    const cfg_job *j = &c->jobs[0];
    int64_t t = INT64_C(1796281235500);
    cr_assert_eq(schedule_last_slot(j, 0, t - 86400000, t), INT64_C(1796281234000));
    cr_assert_eq(schedule_next_slot(j, 0, t), INT64_C(1796281236000));
    config_free(c);
}
