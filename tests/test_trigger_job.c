/* SPDX-License-Identifier: MIT */
/*
 * test_trigger_job.c - `reconciler trigger --job J [--dry-run] [--wait]`
 * and `reconciler status` on a jobs file: the job's run through the running
 * service, waited for and printed, its exit code as `run --once`'s; a dry
 * run of a job (POST /v1/jobs/J/run?dryRun=true); an unknown or paused job
 * refused; status lists each job with its schedule, next and last run. The
 * real binary, SQLite and MariaDB, loopback HTTP.
 */
#include "helpers.h"
#include "th_http.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two jobs: hourly (scheduled, not on start) and fails (on demand, one failing step). */
static void setup(svc *s, th_db *t)
{
    svc_setup_jobs(s, t, 1, "",
                   "  hourly:\n    schedule: { every: 1h }\n    steps:\n"
                   "      - plugin: fixture\n        name: tidy\n"
                   "  fails:\n    on_startup: false\n    steps:\n"
                   "      - plugin: fixture\n        options: { fail: true }\n");
}

DB_TEST(trigger_job, a_jobs_run_through_the_service, .timeout = 90)
{
    th_db t;
    svc s;
    char *out = NULL, *err = NULL;
    migrated(kind, &t);
    setup(&s, &t);
    svc_start(&s, NULL);
    json_decref(wait_for(&s, "/healthz", 200, 10000));

    /* A job's run, waited for: its result, job and trigger; exit 0. */
    int rc = svc_cli(&s, (const char *const[]){ "trigger", "--job", "hourly", "--wait", "--json",
                                            NULL }, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_t *r = json_loads(out, 0, NULL);
    cr_assert_not_null(r, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(r, "job")), "hourly", "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(r, "trigger")), "manual", "%s", out);
    cr_assert(json_is_false(json_object_get(r, "dryRun")), "%s", out);
    int64_t first = json_integer_value(json_object_get(r, "runId"));
    json_decref(r);
    free(out);
    free(err);

    /* A dry run of the job, printed for a person. */
    rc = svc_cli(&s, (const char *const[]){ "trigger", "--job", "hourly", "--dry-run", "--wait",
                                        NULL }, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "dry run"), "%s", out);
    cr_assert_not_null(strstr(out, "would change"), "%s", out);
    cr_assert_not_null(strstr(out, "tidy"), "%s", out);
    free(out);
    free(err);
    json_t *page = wait_for(&s, "/v1/reconciliation/history?job=hourly&limit=1", 200, 5000);
    json_t *dry = json_array_get(json_object_get(page, "runs"), 0);
    cr_assert_gt(json_integer_value(json_object_get(dry, "runId")), first);
    cr_assert(json_is_true(json_object_get(dry, "dryRun")), "%s", json_dumps(page, 0));
    json_decref(page);

    /* A failing job's run exits 1, as run --once would. */
    rc = svc_cli(&s, (const char *const[]){ "trigger", "--job", "fails", "--wait", NULL }, &out,
             &err);
    cr_assert_eq(rc, 1, "exit %d: %s%s", rc, out, err);
    free(out);
    free(err);

    /* No such job: 2, named. Without --wait: queued, exit 0. */
    rc = svc_cli(&s, (const char *const[]){ "trigger", "--job", "nope", NULL }, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "no job 'nope'"), "%s", err);
    free(out);
    free(err);

    /* A bad dryRun value on the job's endpoint: 400. */
    th_response resp;
    cr_assert_eq(th_http(s.port, "POST", "/v1/jobs/hourly/run?dryRun=maybe", NULL, NULL, &resp),
                 0);
    cr_assert_eq(resp.status, 400, "%d %s", resp.status, resp.body);
    th_response_free(&resp);

    /* status: a line per job, its schedule, next run and last run. */
    rc = svc_cli(&s, (const char *const[]){ "status", NULL }, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "jobs:      hourly  every 1h; next run "), "%s", out);
    cr_assert_not_null(strstr(out, "(in "), "%s", out);
    cr_assert_not_null(strstr(out, "          fails   on start / on demand; next run -; "
                                   "last run "), "%s", out);
    cr_assert_not_null(strstr(out, " failed (manual) at "), "%s", out);
    free(out);
    free(err);

    /* A paused job is refused, saying who paused it. */
    rc = svc_cli(&s, (const char *const[]){ "pause", "fails", NULL }, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    rc = svc_cli(&s, (const char *const[]){ "trigger", "--job", "fails", NULL }, &out, &err);
    cr_assert_eq(rc, 6, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "paused"), "%s", err);
    free(out);
    free(err);
    rc = svc_cli(&s, (const char *const[]){ "status", NULL }, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "; paused by "), "%s", out);
    free(out);
    free(err);

    svc_term(&s);
    svc_free(&s);
    th_db_destroy(&t);
}
