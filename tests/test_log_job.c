/* SPDX-License-Identifier: MIT */
/*
 * test_log_job.c - with --log-format json every line of a run carries its
 * run_id and job, the step's own lines too (a plugin's log lines, written
 * in the step worker), not only the core's step and summary lines. The
 * real binary on SQLite, a jobs file with a named job.
 */
#include "helpers.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(log_job, every_line_of_a_run_names_its_run_and_job, .timeout = 30)
{
    th_db t;
    char *out = NULL, *err = NULL;
    migrated(DB_SQLITE, &t);
    char *yaml = th_path(th_tmpdir(), "jobs.yaml"), *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: h.db\n"
                           "plugin_dir: %s\njobs:\n  nightly:\n    on_startup: true\n"
                           "    steps:\n      - plugin: fixture\n        name: tidy\n",
                           t.url, th_build_path("tests/plugins")), -1);
    th_write(yaml, text);
    free(text);
    const char *const args[] = { "run", "--once", "--log-format", "json", "-c", yaml, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);

    int plugin_lines = 0, step_lines = 0, run_lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "not a JSON line: %s", line);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        int of_run = strstr(msg, "fixture ran with") || strstr(msg, "step tidy: ") ||
                     strstr(msg, "reconciliation run 1 ");
        if (of_run) {
            cr_assert_eq(json_integer_value(json_object_get(o, "run_id")), 1, "%s", line);
            cr_assert_str_eq(json_string_value(json_object_get(o, "job")), "nightly", "%s",
                             line);
            plugin_lines += strstr(msg, "fixture ran with") != NULL;
            step_lines += strstr(msg, "step tidy: ") != NULL;
            run_lines += strstr(msg, "reconciliation run 1 ") != NULL;
        }
        json_decref(o);
    }
    cr_assert_eq(plugin_lines, 1, "the plugin's own line: %d", plugin_lines);
    cr_assert_eq(step_lines, 1, "the step's line: %d", step_lines);
    cr_assert_eq(run_lines, 1, "the run's line: %d", run_lines);
    free(out);
    free(err);
    free(yaml);
    th_db_destroy(&t);
}
