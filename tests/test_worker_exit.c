/* SPDX-License-Identifier: MIT */
/*
 * test_worker_exit.c - a step worker that ends uncleanly after its last
 * reply (what a heap it corrupted, or LeakSanitizer's exit 1 under `make
 * asan`, looks like) changes no outcome, but the supervisor says so: the
 * check that lets workers/leaking_plugin_runs fail.
 */
#include "helpers.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* `run --once --json` of r: the result (parsed); *err its stderr; the exit code in *rc. */
static json_t *run_once_json(rig *r, int *rc, char **err)
{
    char *out = NULL;
    const char *args[] = { "run", "--once", "--json", "-c", r->yaml, NULL };
    *rc = th_run_cli(args, NULL, &out, err);
    json_t *res = json_loads(out, 0, NULL);
    cr_assert_not_null(res, "no result JSON (exit %d): %s\n%s", *rc, out, *err);
    free(out);
    return res;
}

static const char *step_status(json_t *res, size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(res, "steps"), i),
                                             "status"));
}

Test(worker_exit, unclean_exit_after_the_last_reply_is_said, .timeout = 30)
{
    rig r;
    int rc;
    char *err = NULL;
    rig_up(&r, DB_SQLITE, "tests/plugins",
           "  - plugin: misbehave\n    options: { how: exit3_at_end }\n  - plugin: fixture\n");
    json_t *res = run_once_json(&r, &rc, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(step_status(res, 0), "ok");
    cr_assert_str_eq(step_status(res, 1), "ok");
    cr_assert(strstr(err, "step worker") && strstr(err, "exited with status 3 after its last step"),
              "nothing said of the worker's exit 3:\n%s", err);
    json_decref(res);
    free(err);
    rig_down(&r);
}

/* The other side: a worker that ends cleanly is not mentioned. */
Test(worker_exit, clean_exit_is_not_mentioned, .timeout = 30)
{
    rig r;
    int rc;
    char *err = NULL;
    rig_up(&r, DB_SQLITE, "tests/plugins",
           "  - plugin: misbehave\n    options: { how: none }\n  - plugin: fixture\n");
    json_t *res = run_once_json(&r, &rc, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_null(strstr(err, "after its last step"), "%s", err);
    json_decref(res);
    free(err);
    rig_down(&r);
}
