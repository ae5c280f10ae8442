/* SPDX-License-Identifier: MIT */
/* test_runner.c - the whole path with the fixture plugin, on both drivers:
 * load -> options -> run -> results -> history. */
#include "helpers.h"
#include "engine/runner.h"
#include "base/stop.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static json_t *step_at(json_t *res, size_t i)
{
    return json_array_get(json_object_get(res, "steps"), i);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

DB_TEST(runner, result_shape_and_history)
{
    rig r;
    rig_up(&r, kind, "tests/plugins",
           "  - plugin: fixture\n    options: { value: 11, label: first }\n"
           "  - plugin: fixture\n    name: second\n    options: { fail: true }\n"
           "  - plugin: fixture\n    name: third\n    options: { count_jobs: true, ratio: 2.25 }\n");
    cr_assert_eq(r.p->n, 3);
    cr_assert_eq(th_count(r.t.conn, "SELECT COUNT(*) FROM processing_jobs"), 0);
    cr_assert_eq(db_exec(r.t.conn, "INSERT INTO processing_jobs (job_type) VALUES ('a'), ('b')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(r.t.conn));

    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_PARTIAL);

    /* Pinned top-level fields and their types. */
    cr_assert_str_eq(str(res, "status"), "partial");
    cr_assert(json_is_false(json_object_get(res, "success")));
    cr_assert(json_is_integer(json_object_get(res, "runId")));
    cr_assert_str_eq(str(res, "trigger"), "startup");
    cr_assert(json_is_false(json_object_get(res, "dryRun")));
    const char *ts = str(res, "timestamp");
    cr_assert(ts && strlen(ts) == 24 && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z', "%s", ts);
    cr_assert(json_is_integer(json_object_get(res, "durationMs")));
    cr_assert(json_is_integer(json_object_get(res, "uptime")));
    cr_assert(json_is_object(json_object_get(res, "results")));
    cr_assert_eq(json_array_size(json_object_get(res, "steps")), 3);

    /* Steps in order with their own results; the failure named. */
    json_t *s0 = step_at(res, 0), *s1 = step_at(res, 1), *s2 = step_at(res, 2);
    cr_assert_str_eq(str(s0, "name"), "fixture");
    cr_assert_str_eq(str(s0, "plugin"), "fixture");
    cr_assert_str_eq(str(s0, "status"), "ok");
    cr_assert(json_is_null(json_object_get(s0, "error")));
    cr_assert(json_is_integer(json_object_get(s0, "durationMs")));
    json_t *f0 = json_object_get(json_object_get(s0, "results"), "fixture");
    cr_assert_eq(json_integer_value(json_object_get(f0, "value")), 11);
    cr_assert_str_eq(str(f0, "label"), "first");
    cr_assert_str_eq(str(f0, "driver"), kind == DB_MYSQL ? "mysql" : "sqlite");
    cr_assert_eq(strlen(str(f0, "now")), 19);
    cr_assert_str_eq(str(s1, "status"), "failed");
    cr_assert_str_eq(str(s1, "error"), "fixture asked to fail (value 7)");
    cr_assert_str_eq(str(s2, "status"), "ok", "a failing step does not stop the next");
    json_t *errors = json_object_get(res, "errors");
    cr_assert_eq(json_array_size(errors), 1);
    cr_assert_str_eq(json_string_value(json_array_get(errors, 0)),
                     "second: fixture asked to fail (value 7)");

    /* Merged results: nested, later steps win, the failed step adds nothing. */
    json_t *merged = json_object_get(json_object_get(res, "results"), "fixture");
    cr_assert_eq(json_integer_value(json_object_get(merged, "value")), 7);
    cr_assert_eq(json_integer_value(json_object_get(merged, "jobs")), 2);
    cr_assert_float_eq(json_real_value(json_object_get(merged, "ratio")), 2.25, 1e-9);
    cr_assert_str_eq(str(merged, "label"), "hello");
    /* ...and merging did not reach back into the first step's results. */
    cr_assert_null(json_object_get(f0, "jobs"));

    /* History holds the same run. */
    json_t *list = history_list(r.h, 10);
    cr_assert_eq(json_array_size(list), 1);
    json_t *run = json_array_get(list, 0);
    cr_assert_eq(json_integer_value(json_object_get(run, "runId")),
                 json_integer_value(json_object_get(res, "runId")));
    cr_assert_str_eq(str(run, "status"), "partial");
    cr_assert_eq(json_array_size(json_object_get(run, "steps")), 3);
    json_t *full = NULL;
    cr_assert_eq(history_get(r.h, json_integer_value(json_object_get(res, "runId")), &full), 1);
    /* ...with its webhook deliveries beside it (none here). */
    cr_assert_eq(json_array_size(json_object_get(full, "notifications")), 0);
    cr_assert(json_is_array(json_object_get(full, "notifications")));
    json_object_del(full, "notifications");
    cr_assert(json_equal(full, res), "history keeps the full result JSON");
    json_decref(full);
    json_decref(list);
    json_decref(res);
    rig_down(&r);
}

DB_TEST(runner, abort_skips_the_rest)
{
    rig r;
    rig_up(&r, kind, "tests/plugins",
           "  - plugin: fixture\n    name: one\n    options: { fail: true }\n    on_error: abort\n"
           "  - plugin: fixture\n    name: two\n");
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_FAILED);
    cr_assert_str_eq(str(res, "status"), "failed");
    cr_assert_str_eq(str(step_at(res, 0), "status"), "failed");
    cr_assert_str_eq(str(step_at(res, 1), "status"), "skipped");
    json_decref(res);
    rig_down(&r);
}

DB_TEST(runner, disabled_step_is_skipped_and_run_succeeds)
{
    rig r;
    rig_up(&r, kind, "tests/plugins",
           "  - plugin: fixture\n    name: on\n"
           "  - plugin: fixture\n    name: off\n    enabled: false\n    options: { fail: true }\n");
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_SUCCESS);
    cr_assert(json_is_true(json_object_get(res, "success")));
    cr_assert_str_eq(str(step_at(res, 1), "status"), "skipped");
    cr_assert_eq(json_array_size(json_object_get(res, "errors")), 0);
    json_decref(res);
    rig_down(&r);
}

DB_TEST(runner, dry_run_refuses_writes)
{
    rig r;
    rig_up(&r, kind, "tests/plugins", "  - plugin: fixture\n    options: { write: true }\n");
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, NULL, 1, &res), RUN_FAILED);
    cr_assert(json_is_true(json_object_get(res, "dryRun")));
    cr_assert(strstr(str(step_at(res, 0), "error"), "refused in a dry run"), "%s",
              str(step_at(res, 0), "error"));
    cr_assert_eq(th_count(r.t.conn, "SELECT COUNT(*) FROM processing_job_logs WHERE category = 'fixture'"), 0);
    json_decref(res);

    cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_count(r.t.conn, "SELECT COUNT(*) FROM processing_job_logs WHERE category = 'fixture'"), 1);
    json_decref(res);
    rig_down(&r);
}

DB_TEST(runner, database_error_becomes_step_error)
{
    rig r;
    rig_up(&r, kind, "tests/plugins", "  - plugin: fixture\n    name: counter\n    options: { count_jobs: true }\n"
                     "  - plugin: fixture\n    name: after\n");
    cr_assert_eq(db_exec(r.t.conn, "DROP TABLE processing_jobs", NULL, 0, NULL), 0);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_PARTIAL);
    const char *e = str(step_at(res, 0), "error");
    cr_assert(e && strstr(e, "database: ") && strstr(e, "processing_jobs"), "%s", e);
    cr_assert_str_eq(str(step_at(res, 1), "status"), "ok");
    json_decref(res);
    rig_down(&r);
}

Test(runner, option_errors_name_the_step_and_position)
{
    char err[2048], plugdir[PATH_MAX], *rel = NULL;
    cr_assert_neq(asprintf(&rel, "%s/tests/plugins", th_build()), -1);
    cr_assert_not_null(realpath(rel, plugdir));
    free(rel);
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "database: { url: \"sqlite::memory:\" }\nplugin_dir: %s\n"
                           "steps:\n  - plugin: fixture\n    options:\n      value: lots\n", plugdir), -1);
    char *path = th_path(th_tmpdir(), "bad.yaml");
    th_write(path, text);
    config *cfg;
    pipeline *p;
    cr_assert_eq(config_load(path, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pipeline_build(cfg, &p, err, sizeof err), -1);
    char want[4200];
    snprintf(want, sizeof want, "%s:6:14: step 'fixture': option 'value' expects an integer", path);
    cr_assert(strstr(err, want), "got: %s\nwant: %s", err, want);
    config_free(cfg);

    /* An unknown plugin names the step's position. */
    free(text);
    cr_assert_neq(asprintf(&text, "database: { url: \"sqlite::memory:\" }\nplugin_dir: %s\n"
                           "steps:\n  - plugin: nosuch\n", plugdir), -1);
    th_write(path, text);
    cr_assert_eq(config_load(path, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pipeline_build(cfg, &p, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:4:5: step 'nosuch': plugin 'nosuch' not found", path);
    cr_assert(strstr(err, want), "got: %s\nwant: %s", err, want);
    config_free(cfg);
    free(text);
    free(path);
}

Test(runner, stop_request_makes_an_interrupted_run)
{
    rig r;
    rig_up(&r, DB_SQLITE, "tests/plugins", "  - plugin: fixture\n");
    stop_request();
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_FAILED);
    cr_assert(json_is_true(json_object_get(res, "interrupted")));
    cr_assert_str_eq(str(step_at(res, 0), "status"), "skipped");
    cr_assert_str_eq(str(step_at(res, 0), "error"), "not run: reconciler is stopping");
    json_decref(res);
    rig_down(&r);
}
