/* SPDX-License-Identifier: MIT */
/*
 * test_metrics_more.c - the run metrics of issue 20 on the real service over
 * loopback HTTP: reconciler_runs_total's dry_run label (a dry run and a real
 * one counted apart), reconciler_step_runs_total (an ok step and a failed one)
 * and reconciler_job_next_run_timestamp_seconds (a scheduled job has it, a job
 * without a schedule and a paused job do not).
 */
#include "th_fixture.h"
#include "th_svc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* /metrics' body (malloc'd). */
static char *metrics(svc *s)
{
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    char *b = r.body;
    r.body = NULL;
    th_response_free(&r);
    return b;
}

/* 1 when /metrics has line (a whole line, its value included). */
static int has_line(svc *s, const char *line)
{
    char *m = metrics(s), want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    int got = strstr(m, want) != NULL;
    free(m);
    return got;
}

/* The value of the sample that starts with prefix ("name{labels} "), or NAN when absent. */
static double sample(svc *s, const char *prefix)
{
    char *m = metrics(s), want[512];
    snprintf(want, sizeof want, "\n%s", prefix);
    const char *p = strstr(m, want);
    double v = p ? strtod(p + strlen(want), NULL) : NAN;
    free(m);
    return v;
}

#define JOB_WORK                                                                   \
    "  work:\n    schedule: { every: 1h }\n    steps:\n"                          \
    "      - plugin: fixture\n        name: good\n"                                \
    "      - plugin: fixture\n        name: bad\n        options: { fail: true }\n"

/*
 * A dry run and a real run of a job with an ok step and a failed one: each is
 * counted under its dry_run, each step under its status; the other series read 0.
 */
Test(metrics_more, dry_run_label_and_step_runs, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc_jobs("", JOB_WORK);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    post_run(s, "?dryRun=true", 202);
    TH_WAIT(has_line(s, "reconciler_runs_total{job=\"work\",status=\"partial\","
                         "dry_run=\"true\"} 1"),
            20000, "the dry run is not counted; log:\n%s", th_read(s->errlog));
    cr_assert(has_line(s, "reconciler_runs_total{job=\"work\",status=\"partial\","
                           "dry_run=\"false\"} 0"));
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"good\","
                           "status=\"ok\",dry_run=\"true\"} 1"));
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"bad\","
                           "status=\"failed\",dry_run=\"true\"} 1"));
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"good\","
                           "status=\"failed\",dry_run=\"true\"} 0"));
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"good\","
                           "status=\"ok\",dry_run=\"false\"} 0"));

    post_run(s, "", 202);
    TH_WAIT(has_line(s, "reconciler_runs_total{job=\"work\",status=\"partial\","
                         "dry_run=\"false\"} 1"),
            20000, "the real run is not counted; log:\n%s", th_read(s->errlog));
    cr_assert(has_line(s, "reconciler_runs_total{job=\"work\",status=\"partial\","
                           "dry_run=\"true\"} 1"), "the dry run's count moved");
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"good\","
                           "status=\"ok\",dry_run=\"false\"} 1"));
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"bad\","
                           "status=\"failed\",dry_run=\"false\"} 1"));
    cr_assert(has_line(s, "reconciler_step_runs_total{job=\"work\",step=\"bad\","
                           "status=\"ok\",dry_run=\"false\"} 0"));
    cr_assert(has_line(s, "reconciler_runs_total{job=\"work\",status=\"success\","
                           "dry_run=\"false\"} 0"));
    char *m = metrics(s);
    cr_assert_not_null(strstr(m, "# TYPE reconciler_step_runs_total counter\n"), "%s", m);
    free(m);
    svc_term(s);
}

/*
 * The next-run gauge: the scheduled job's next slot, as GET /v1/jobs/work says; no sample
 * for the job without a schedule, none while the job is paused, back once resumed.
 */
Test(metrics_more, next_run_gauge, .timeout = 60, SVC_FIXTURE)
{
    th_response r;
    fx_db(DB_SQLITE);
    svc *s = fx_svc_jobs("", JOB_WORK "  idle:\n    on_startup: false\n    steps:\n"
                         "      - plugin: fixture\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    const char *work = "reconciler_job_next_run_timestamp_seconds{job=\"work\"} ";
    TH_WAIT(!isnan(sample(s, work)), 10000, "no next run for work; log:\n%s",
            th_read(s->errlog));
    json_t *j = wait_for(s, "/v1/jobs/work", 200, 5000);
    const char *next = json_string_value(json_object_get(j, "nextRunAt"));
    cr_assert_not_null(next);
    double want = (double)iso_ms(next) / 1000.0, got = sample(s, work);
    json_decref(j);
    cr_assert_float_eq(got, want, 0.0015, "gauge %.3f, nextRunAt %s", got, next);
    /* The slot is on the every: 1h grid (aligned to the epoch; no jitter). */
    cr_assert_eq(fmod(got, 3600.0), 0.0, "%.3f", got);
    char *m = metrics(s);
    cr_assert_not_null(strstr(m, "# TYPE reconciler_job_next_run_timestamp_seconds gauge\n"));
    cr_assert_null(strstr(m, "reconciler_job_next_run_timestamp_seconds{job=\"idle\"}"), "%s", m);
    cr_assert_null(strstr(m, "NaN"), "%s", m);
    free(m);

    cr_assert_eq(th_http(s->port, "POST", "/v1/jobs/work/pause", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    th_response_free(&r);
    cr_assert(isnan(sample(s, work)), "a paused job has a next run");
    cr_assert_eq(th_http(s->port, "POST", "/v1/jobs/work/resume", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    th_response_free(&r);
    cr_assert_float_eq(sample(s, work), want, 0.0015, "resumed: the next slot again");
    svc_term(s);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether GET /v1/jobs/work says a run of it goes on. */
static int work_running(svc *s)
{
    json_t *j = wait_for(s, "/v1/jobs/work", 200, 5000);
    int running = json_is_true(json_object_get(j, "running"));
    json_decref(j);
    return running;
}

/*
 * While a scheduled run goes on, the gauge is the slot after it, never a time that has
 * passed (an alert on "time() > next run" must not fire during a long run).
 */
Test(metrics_more, next_run_during_a_run_is_ahead, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc_jobs("", "  work:\n    schedule: { every: 5s }\n    steps:\n"
                         "      - plugin: fixture\n        options: { pause: 3s }\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    double next;
    int64_t now;
    /* Read within a run: the gauge and the clock, then the run is still going on (if it
     * ended meanwhile, on a loaded machine, the next run is looked at). */
    for (;;) {
        TH_WAIT(work_running(s), 20000, "no scheduled run began; log:\n%s", th_read(s->errlog));
        now = wall_ms();
        next = sample(s, "reconciler_job_next_run_timestamp_seconds{job=\"work\"} ");
        if (work_running(s))
            break;
    }
    cr_assert_gt(next * 1000.0, (double)now, "next run %.3f is behind now %.3f during a run",
                 next, (double)now / 1000.0);
    cr_assert_eq(fmod(next, 5.0), 0.0, "the next slot on the 5 s grid: %.3f", next);
    svc_term(s);
}
