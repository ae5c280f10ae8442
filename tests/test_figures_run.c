/* SPDX-License-Identifier: MIT */
/*
 * test_figures_run.c - a run of the service holds its figures' refresh off
 * on MariaDB too (issue 21: a refresh beside a run slowed the 1M repair by
 * 44% on a shared machine, and figures taken half-way through a repair
 * describe neither state), for at most two refresh periods: both sides of
 * that bound. The tally fixture counts its probe runs in a file; the
 * fixture step's pause makes the run last.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fixture's service on MariaDB, started, whose startup run lasts pause; refresh period
 * refresh. */
static svc *start_paused(const char *count, const char *pause, const char *refresh)
{
    char steps[1024], http[128];
    snprintf(steps, sizeof steps,
             "  - plugin: tally\n    options:\n      count_file: %s\n"
             "  - plugin: fixture\n    options:\n      pause: %s\n", count, pause);
    snprintf(http, sizeof http, "  figures_refresh: %s\n", refresh);
    fx_db(DB_MYSQL);
    svc *s = fx_svc("schedule:\n  on_startup: true\n  interval: 1h\n", http, steps);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 15000));
    return s;
}

/* Probe runs of the tally plugin so far (lines of its count file). */
static int probe_runs(const char *count)
{
    return th_log_count(count, "probe\n");
}

/* Has the startup run ended (the newest run in the history is not running)? */
static int run_ended(svc *s)
{
    int st;
    json_t *j = get_json(s, "/v1/reconciliation/history?limit=1", &st);
    cr_assert_eq(st, 200);
    json_t *run = json_array_get(json_object_get(j, "runs"), 0);
    const char *status = json_string_value(json_object_get(run, "status"));
    int ended = run && status && strcmp(status, "running") != 0;
    json_decref(j);
    return ended;
}

/*
 * Period 5 s, run 3 s: no probe runs while the run goes (on MariaDB the
 * service used to refresh at once beside it); the run's end brings one.
 */
Test(figures_run, a_run_holds_the_refresh_off, .timeout = 60, SVC_FIXTURE)
{
    char *count = th_path(th_tmpdir(), "tally.count");
    svc *s = start_paused(count, "3s", "5s");
    int64_t end = mono_ms() + 30000;
    for (;;) {
        /* Counted before asking: a probe counted while the run still went is a refresh beside it. */
        int n = probe_runs(count);
        if (run_ended(s))
            break;
        cr_assert_eq(n, 0, "a refresh ran beside the run; log:\n%s", th_read(s->errlog));
        cr_assert_lt(mono_ms(), end, "the run never ended; log:\n%s", th_read(s->errlog));
        sleep_ms(50);
    }
    end = mono_ms() + 15000;
    while (probe_runs(count) < 1) {
        cr_assert_lt(mono_ms(), end, "no refresh after the run; log:\n%s", th_read(s->errlog));
        sleep_ms(20);
    }
    svc_term(s);
    free(count);
}

/* Period 1 s, run 8 s: past two periods the figures' age wins, and a refresh runs beside it. */
Test(figures_run, a_long_run_holds_it_off_two_periods_at_most, .timeout = 60, SVC_FIXTURE)
{
    char *count = th_path(th_tmpdir(), "tally.count");
    svc *s = start_paused(count, "8s", "1s");
    int64_t end = mono_ms() + 30000;
    while (probe_runs(count) < 1) {
        cr_assert_lt(mono_ms(), end, "no refresh at all; log:\n%s", th_read(s->errlog));
        sleep_ms(20);
    }
    cr_assert_not(run_ended(s), "the run ended before any refresh: none ran beside it");
    svc_term(s);
    free(count);
}
